//! Analytics requests: parsing and checking the query string, and the SQL behind each
//! answer. Every answer is read inside one SQLite read transaction together with the
//! ingestion position, so the numbers and the height they are stamped with agree.

use super::ingest::{HOUR_MS, KPI_TYPES};
use super::report::{BudgetRow, KpiRow, PartnerRow, Rate, RawKpi, RedemptionRow, RejectionRow};
use super::schema::{self, Position};
use super::{Analytics, AnalyticsError, sql_int};
use couponcactus_chaincode::events::EventId;
use couponcactus_chaincode::ids::PoolId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::PoolKind;
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::IntoParams;

/// Most rows one answer holds; narrow the range or coarsen the period beyond it.
pub const MAX_ROWS: usize = 10_000;
/// Most redemptions one listing page holds.
pub const MAX_LISTING: usize = 1_000;

/// The query string of `GET /v1/analytics/…` (all optional; text so that a bad value gets
/// a clear 400).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// Range start, ms since the Unix epoch, inclusive, on a whole hour (UTC).
    pub from: Option<String>,
    /// Range end, ms since the Unix epoch, exclusive, on a whole hour (UTC).
    pub to: Option<String>,
    /// Only pools of this org (the pool owner).
    pub org: Option<String>,
    /// Only this pool.
    pub pool: Option<String>,
    /// Only this store.
    pub store: Option<String>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this terminal key (hex).
    pub terminal: Option<String>,
    /// Comma list of `org`, `pool`, `store`, `channel`, `terminal`, `signer_org`.
    pub group_by: Option<String>,
    /// `total` (default), `hour`, `day`, `week` (from Monday, UTC) or `month`.
    pub period: Option<String>,
    /// Listing: most rows (default and at most 1000).
    pub limit: Option<String>,
    /// Listing: continue after this event id (`evt_…`).
    pub after: Option<String>,
}

/// How rows are bucketed in time (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// One bucket for the whole range.
    Total,
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// ISO weeks, labelled by their Monday.
    Week,
    /// Calendar months.
    Month,
}

impl Period {
    /// Every period.
    pub const ALL: [Period; 5] = [
        Period::Total,
        Period::Hour,
        Period::Day,
        Period::Week,
        Period::Month,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Period::Total => "total",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    fn bucket_sql(self) -> &'static str {
        match self {
            Period::Total => "NULL",
            Period::Hour => "strftime('%Y-%m-%dT%H:00Z', hour * 3600, 'unixepoch')",
            Period::Day => "strftime('%Y-%m-%d', hour * 3600, 'unixepoch')",
            Period::Week => "date(hour * 3600, 'unixepoch', 'weekday 0', '-6 days')",
            Period::Month => "strftime('%Y-%m', hour * 3600, 'unixepoch')",
        }
    }
}

/// A grouping dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// The pool's owner.
    Org,
    /// The pool.
    Pool,
    /// The store.
    Store,
    /// The channel.
    Channel,
    /// The terminal key.
    Terminal,
    /// The signing key's org (the redeeming org of a partner redemption).
    SignerOrg,
}

impl Dim {
    /// Every dimension.
    pub const ALL: [Dim; 6] = [
        Dim::Org,
        Dim::Pool,
        Dim::Store,
        Dim::Channel,
        Dim::Terminal,
        Dim::SignerOrg,
    ];

    /// Its name (and column).
    pub fn name(self) -> &'static str {
        match self {
            Dim::Org => "org",
            Dim::Pool => "pool",
            Dim::Store => "store",
            Dim::Channel => "channel",
            Dim::Terminal => "terminal",
            Dim::SignerOrg => "signer_org",
        }
    }
}

/// Whose data a reader sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Auditors and nodes: everything.
    All,
    /// An org's keys: its pools, and the partner redemptions it made or received.
    Org(String),
}

/// A checked request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Range start, ms (on a whole hour).
    pub from_ms: Option<u64>,
    /// Range end, ms, exclusive (on a whole hour).
    pub to_ms: Option<u64>,
    /// Equality filters: (dimension, value).
    pub filters: Vec<(Dim, String)>,
    /// Grouping.
    pub group_by: Vec<Dim>,
    /// Bucketing.
    pub period: Period,
    /// Listing page size.
    pub limit: usize,
    /// Listing cursor.
    pub after: Option<EventId>,
}

fn bad(msg: String) -> AnalyticsError {
    AnalyticsError::Invalid(msg)
}

fn instant(name: &str, text: &Option<String>) -> Result<Option<u64>, AnalyticsError> {
    let Some(t) = text else { return Ok(None) };
    let ms: u64 = t.trim().parse().map_err(|_| {
        bad(format!(
            "{name}={t:?} is not a time: give ms since the Unix epoch on a whole hour, e.g. 1767225600000"
        ))
    })?;
    if !ms.is_multiple_of(HOUR_MS) {
        return Err(bad(format!(
            "{name}={ms} is not on a whole hour (UTC): analytics are kept per hour, so ranges start and end on hours (multiples of 3600000 ms)"
        )));
    }
    sql_int(ms, "time").map_err(|e| bad(format!("{name}: {e}")))?;
    Ok(Some(ms))
}

fn period(text: &Option<String>) -> Result<Period, AnalyticsError> {
    let Some(t) = text else {
        return Ok(Period::Total);
    };
    Period::ALL
        .into_iter()
        .find(|p| p.name() == t.trim())
        .ok_or_else(|| {
            bad(format!(
                "unknown period {t:?}: use total, hour, day, week or month"
            ))
        })
}

fn dims(text: &Option<String>) -> Result<Vec<Dim>, AnalyticsError> {
    let mut out = Vec::new();
    for part in text.iter().flat_map(|t| t.split(',')).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let d = Dim::ALL.into_iter().find(|d| d.name() == part).ok_or_else(|| {
            bad(format!(
                "unknown group-by {part:?}: use org, pool, store, channel, terminal or signer_org"
            ))
        })?;
        if out.contains(&d) {
            return Err(bad(format!("group-by {part:?} is repeated")));
        }
        out.push(d);
    }
    Ok(out)
}

impl Request {
    /// Checks a query string.
    pub fn parse(p: &AnalyticsParams) -> Result<Request, AnalyticsError> {
        let from_ms = instant("from", &p.from)?;
        let to_ms = instant("to", &p.to)?;
        if let (Some(f), Some(t)) = (from_ms, to_ms)
            && f >= t
        {
            return Err(bad(format!(
                "empty range: from={f} is not before to={t} (the range is [from, to))"
            )));
        }
        let mut filters = Vec::new();
        for (dim, v) in [
            (Dim::Org, &p.org),
            (Dim::Pool, &p.pool),
            (Dim::Store, &p.store),
            (Dim::Channel, &p.channel),
            (Dim::Terminal, &p.terminal),
        ] {
            if let Some(v) = v {
                if v.trim().is_empty() || v.len() > 200 {
                    return Err(bad(format!("{} must be 1 to 200 characters", dim.name())));
                }
                filters.push((dim, v.trim().to_string()));
            }
        }
        let limit = match &p.limit {
            None => MAX_LISTING,
            Some(l) => match l.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LISTING).contains(&n) => n,
                _ => return Err(bad(format!("limit={l:?}: give 1 to {MAX_LISTING}"))),
            },
        };
        let after = p
            .after
            .as_ref()
            .map(|a| a.trim().parse::<EventId>())
            .transpose()
            .map_err(|e| bad(format!("after: {e}")))?;
        Ok(Request {
            from_ms,
            to_ms,
            filters,
            group_by: dims(&p.group_by)?,
            period: period(&p.period)?,
            limit,
            after,
        })
    }

    /// The value of a filter.
    pub fn filter(&self, dim: Dim) -> Option<&str> {
        self.filters
            .iter()
            .find(|(d, _)| *d == dim)
            .map(|(_, v)| v.as_str())
    }
}

/// A WHERE clause under construction.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Where {
    fn push(&mut self, clause: &str, values: impl IntoIterator<Item = Value>) {
        self.clauses.push(clause.to_string());
        self.values.extend(values);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// Scope: `own` only the org's pools, else also rows its keys signed.
    fn scope(&mut self, scope: &Scope, own: bool) {
        if let Scope::Org(org) = scope {
            if own {
                self.push("org = ?", [Value::Text(org.clone())]);
            } else {
                self.push(
                    "(org = ? OR signer_org = ?)",
                    [Value::Text(org.clone()), Value::Text(org.clone())],
                );
            }
        }
    }

    fn filters(&mut self, req: &Request, dims: &[Dim]) {
        for (d, v) in &req.filters {
            if dims.contains(d) {
                self.push(&format!("{} = ?", d.name()), [Value::Text(v.clone())]);
            }
        }
    }

    /// Hourly range on `rollup.hour`.
    fn hours(&mut self, req: &Request) {
        if let Some(f) = req.from_ms {
            self.push("hour >= ?", [Value::Integer((f / HOUR_MS) as i64)]);
        }
        if let Some(t) = req.to_ms {
            self.push("hour < ?", [Value::Integer((t / HOUR_MS) as i64)]);
        }
    }
}

const ALL_FILTERS: [Dim; 5] = [Dim::Org, Dim::Pool, Dim::Store, Dim::Channel, Dim::Terminal];

fn too_many() -> AnalyticsError {
    bad(format!(
        "more than {MAX_ROWS} rows: narrow the range, coarsen the period or group by less"
    ))
}

fn group_of(req: &Request, row: &rusqlite::Row<'_>) -> rusqlite::Result<Vec<String>> {
    (0..req.group_by.len()).map(|i| row.get(i)).collect()
}

fn named(req: &Request, values: Vec<String>) -> BTreeMap<String, String> {
    req.group_by
        .iter()
        .map(|d| d.name().to_string())
        .zip(values)
        .collect()
}

fn group_cols(req: &Request) -> String {
    let mut cols: Vec<&str> = req.group_by.iter().map(|d| d.name()).collect();
    cols.push("bucket");
    cols.join(", ")
}

fn select_cols(req: &Request) -> String {
    let mut cols: Vec<String> = req.group_by.iter().map(|d| d.name().to_string()).collect();
    cols.push(format!("{} AS bucket", req.period.bucket_sql()));
    cols.join(", ")
}

type GroupKey = (Vec<String>, Option<String>);

/// One day, ms.
const DAY_MS: u64 = 24 * HOUR_MS;

/// The coarsest rollup that answers `req`: when it needs no hours (period, range ends on
/// whole days) and no store, channel or terminal (filter or grouping), `rollup_org_day`
/// if it needs no pool either, else `rollup_day`; otherwise the hourly `rollup`. All hold
/// the same sums (`ingest::daily`, `ingest::org_daily`).
fn rollup_table(req: &Request) -> &'static str {
    const FINE: [Dim; 3] = [Dim::Store, Dim::Channel, Dim::Terminal];
    let mut dims = req
        .group_by
        .iter()
        .chain(req.filters.iter().map(|(d, _)| d));
    let needs_fine = dims.clone().any(|d| FINE.contains(d));
    let needs_pool = dims.any(|d| *d == Dim::Pool);
    let on_days = |t: Option<u64>| t.is_none_or(|ms| ms.is_multiple_of(DAY_MS));
    if req.period == Period::Hour || needs_fine || !on_days(req.from_ms) || !on_days(req.to_ms) {
        "rollup"
    } else if needs_pool {
        "rollup_day"
    } else {
        "rollup_org_day"
    }
}

/// The KPI rows of `req` in `scope`.
fn kpi_rows(
    conn: &Connection,
    req: &Request,
    scope: &Scope,
) -> Result<Vec<KpiRow>, AnalyticsError> {
    let mut w = Where::default();
    let kinds: Vec<String> = KPI_TYPES
        .iter()
        .map(|t| format!("'{}'", t.name()))
        .collect();
    w.push(&format!("kind IN ({})", kinds.join(", ")), []);
    w.scope(scope, true);
    w.filters(req, &ALL_FILTERS);
    w.hours(req);
    let sql = format!(
        "SELECT {}, kind, currency, SUM(n), SUM(gross), SUM(discount), \
         SUM(CASE WHEN signer_org <> org THEN n ELSE 0 END) \
         FROM {} WHERE {} GROUP BY {}, kind, currency",
        select_cols(req),
        rollup_table(req),
        w.sql(),
        group_cols(req)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let k = req.group_by.len();
    let mut raw: BTreeMap<GroupKey, RawKpi> = BTreeMap::new();
    let mut rows = stmt.query(params_from_iter(w.values.iter()))?;
    while let Some(row) = rows.next()? {
        let key = (group_of(req, row)?, row.get::<_, Option<String>>(k)?);
        let kind: String = row.get(k + 1)?;
        let currency: String = row.get(k + 2)?;
        let [n, gross, discount, partner]: [i64; 4] = [
            row.get(k + 3)?,
            row.get(k + 4)?,
            row.get(k + 5)?,
            row.get(k + 6)?,
        ];
        if !raw.contains_key(&key) && raw.len() >= MAX_ROWS {
            return Err(too_many());
        }
        let r = raw.entry(key).or_default();
        *r.counts.entry(kind.clone()).or_default() += u64::try_from(n).unwrap_or(0);
        if kind == "coupon.redeemed" {
            let m = r.money.entry(currency).or_default();
            m[0] += n;
            m[1] += gross;
            m[2] += discount;
            r.partner_redemptions += u64::try_from(partner).unwrap_or(0);
        } else if kind == "coupon.rolled_back" {
            r.money.entry(currency).or_default()[3] += discount;
        }
    }
    Ok(raw
        .into_iter()
        .map(|((g, b), r)| r.finish(named(req, g), b))
        .collect())
}

/// Cross-brand redemptions made or received in `scope`.
fn partner_rows(
    conn: &Connection,
    req: &Request,
    scope: &Scope,
) -> Result<Vec<PartnerRow>, AnalyticsError> {
    let mut w = Where::default();
    w.push("kind = 'coupon.redeemed' AND signer_org <> org", []);
    w.scope(scope, false);
    w.filters(req, &ALL_FILTERS);
    w.hours(req);
    let sql = format!(
        "SELECT org, signer_org, currency, SUM(n), SUM(discount), SUM(gross) FROM {} \
         WHERE {} GROUP BY org, signer_org, currency ORDER BY org, signer_org, currency",
        rollup_table(req),
        w.sql()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(w.values.iter()), |r| {
        Ok(PartnerRow {
            pool_org: r.get(0)?,
            redeeming_org: r.get(1)?,
            currency: r.get(2)?,
            redemptions: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            discount_minor: r.get(4)?,
            gross_order_minor: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Cumulative use of each pool's cap up to the end of the range.
fn budget_rows(
    conn: &Connection,
    req: &Request,
    scope: &Scope,
    state: &dyn StateReader,
) -> Result<Vec<BudgetRow>, AnalyticsError> {
    let mut w = Where::default();
    w.push(
        "pool <> '' AND kind IN ('codes.issued', 'coupon.redeemed', 'coupon.rolled_back')",
        [],
    );
    w.scope(scope, true);
    w.filters(req, &[Dim::Org, Dim::Pool]);
    if let Some(t) = req.to_ms {
        w.push("hour < ?", [Value::Integer((t / HOUR_MS) as i64)]);
    }
    let sql = format!(
        "SELECT pool, kind, SUM(n) FROM {} WHERE {} GROUP BY pool, kind LIMIT {}",
        if req.to_ms.is_none_or(|t| t.is_multiple_of(DAY_MS)) {
            "rollup_day"
        } else {
            "rollup"
        },
        w.sql(),
        3 * MAX_ROWS + 1
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut used: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut rows = stmt.query(params_from_iter(w.values.iter()))?;
    while let Some(row) = rows.next()? {
        let (pool, kind, n): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let slot = match kind.as_str() {
            "codes.issued" => 0,
            "coupon.redeemed" => 1,
            _ => 2,
        };
        used.entry(pool).or_default()[slot] += u64::try_from(n).unwrap_or(0);
    }
    if used.len() > MAX_ROWS {
        return Err(too_many());
    }
    let mut out = Vec::new();
    for (pool, [issued, redeemed, rolled]) in used {
        let Ok(id) = PoolId::new(pool.clone()) else {
            continue;
        };
        let Some(StateValue::Pool(p)) = state.get(&StateKey::Pool(id))? else {
            continue;
        };
        let (kind, used) = match p.spec.kind {
            PoolKind::UniqueCodes => ("unique_codes", issued),
            PoolKind::SharedCode => ("shared_code", redeemed.saturating_sub(rolled)),
        };
        out.push(BudgetRow {
            pool,
            kind: kind.into(),
            total_cap: p.spec.total_cap,
            used,
            burn: Rate::of(used, p.spec.total_cap),
        });
    }
    Ok(out)
}

/// The rejection rows of `req` in `scope`.
fn rejection_rows(
    conn: &Connection,
    req: &Request,
    scope: &Scope,
) -> Result<Vec<RejectionRow>, AnalyticsError> {
    let mut w = Where::default();
    w.push("kind = 'tx.rejected'", []);
    w.scope(scope, false);
    w.filters(req, &ALL_FILTERS);
    w.hours(req);
    let sql = format!(
        "SELECT {}, reason, SUM(n) FROM {} WHERE {} GROUP BY {}, reason LIMIT {}",
        select_cols(req),
        rollup_table(req),
        w.sql(),
        group_cols(req),
        MAX_ROWS + 1
    );
    let k = req.group_by.len();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::new();
    let mut rows = stmt.query(params_from_iter(w.values.iter()))?;
    while let Some(row) = rows.next()? {
        out.push(RejectionRow {
            group: named(req, group_of(req, row)?),
            bucket: row.get(k)?,
            reason: row.get(k + 1)?,
            count: u64::try_from(row.get::<_, i64>(k + 2)?).unwrap_or(0),
        });
    }
    if out.len() > MAX_ROWS {
        return Err(too_many());
    }
    Ok(out)
}

fn redemption_rows(
    conn: &Connection,
    req: &Request,
    scope: &Scope,
) -> Result<Vec<RedemptionRow>, AnalyticsError> {
    let mut w = Where::default();
    w.filters(req, &ALL_FILTERS);
    if let Some(f) = req.from_ms {
        // Block time never decreases along the log, so the range's first redemption (one
        // seek in `redemption_hours`; ranges start on whole hours) bounds `log_index`, and
        // each org half starts its index walk there instead of at the org's first row.
        w.push(
            "time_ms >= ? AND log_index >= coalesce((SELECT log_index FROM redemption_hours \
             WHERE hour >= ? ORDER BY hour LIMIT 1), 9223372036854775807)",
            [
                Value::Integer(f as i64),
                Value::Integer((f / HOUR_MS) as i64),
            ],
        );
    }
    if let Some(t) = req.to_ms {
        w.push("time_ms < ?", [Value::Integer(t as i64)]);
    }
    if let Some(a) = req.after {
        w.push(
            "(log_index, idx) > (?, ?)",
            [
                Value::Integer(sql_int(a.log_index, "cursor")?),
                Value::Integer(i64::from(a.index)),
            ],
        );
    }
    let columns = "log_index, idx, height, time_ms, tx_id, org, pool, token, store, channel, \
         terminal, signer_org, currency, order_total, eligible, discount, rolled_back_height";
    // An org's rows are those of its pools plus the partner redemptions its keys made: two
    // halves, each walked in log order along its own index (`org, log_index` and
    // `signer_org, log_index`), merged; an `org = ? OR signer_org = ?` filter would scan.
    let sql = match scope {
        Scope::All => format!(
            "SELECT {columns} FROM redemptions WHERE {} ORDER BY log_index, idx LIMIT {}",
            w.sql(),
            req.limit
        ),
        Scope::Org(org) => {
            let rest = w.sql();
            let mut values = vec![Value::Text(org.clone())];
            values.extend(w.values.iter().cloned());
            values.extend([Value::Text(org.clone()), Value::Text(org.clone())]);
            values.extend(w.values.iter().cloned());
            w.values = values;
            format!(
                "SELECT {columns} FROM (\
                 SELECT * FROM (SELECT {columns} FROM redemptions WHERE org = ? AND {rest} \
                 ORDER BY log_index, idx LIMIT {n}) \
                 UNION ALL \
                 SELECT * FROM (SELECT {columns} FROM redemptions \
                 WHERE signer_org = ? AND org <> ? AND {rest} ORDER BY log_index, idx LIMIT {n})\
                 ) ORDER BY log_index, idx LIMIT {n}",
                n = req.limit
            )
        }
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(w.values.iter()), |r| {
        let id = EventId {
            log_index: r.get::<_, i64>(0)? as u64,
            index: r.get::<_, i64>(1)? as u16,
        };
        let (org, signer_org): (String, String) = (r.get(5)?, r.get(11)?);
        Ok(RedemptionRow {
            id: id.to_string(),
            height: r.get::<_, i64>(2)? as u64,
            time_ms: r.get::<_, i64>(3)? as u64,
            tx_id: r.get(4)?,
            partner: org != signer_org,
            org,
            pool: r.get(6)?,
            token: r.get(7)?,
            store: r.get(8)?,
            channel: r.get(9)?,
            terminal: r.get(10)?,
            signer_org,
            currency: r.get(12)?,
            order_total_minor: r.get(13)?,
            eligible_minor: r.get(14)?,
            discount_minor: r.get(15)?,
            rolled_back_height: r.get::<_, Option<i64>>(16)?.map(|h| h as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// KPI rows, partner rows and budget rows, at one position.
pub type KpiData = (Vec<KpiRow>, Vec<PartnerRow>, Vec<BudgetRow>);

impl Analytics {
    /// KPIs of `req` in `scope`; pool specs (caps) are read from `state`.
    pub fn kpis(
        &self,
        req: &Request,
        scope: &Scope,
        state: &dyn StateReader,
    ) -> Result<(Position, KpiData), AnalyticsError> {
        let mut conn = self.reader();
        let tx = conn.transaction()?;
        let at = schema::position(&tx)?;
        let rows = kpi_rows(&tx, req, scope)?;
        let partner = partner_rows(&tx, req, scope)?;
        let budget = budget_rows(&tx, req, scope, state)?;
        tx.commit()?;
        Ok((at, (rows, partner, budget)))
    }

    /// Only the KPI rows of [`Analytics::kpis`]: for a caller that shows no partner or
    /// budget rows (the console's charts), which then cost nothing (the partner query
    /// walks every row the org signed).
    pub fn kpi_rows(
        &self,
        req: &Request,
        scope: &Scope,
    ) -> Result<(Position, Vec<KpiRow>), AnalyticsError> {
        let mut conn = self.reader();
        let tx = conn.transaction()?;
        let at = schema::position(&tx)?;
        let rows = kpi_rows(&tx, req, scope)?;
        tx.commit()?;
        Ok((at, rows))
    }

    /// Rejections of `req` in `scope`, by reason.
    pub fn rejections(
        &self,
        req: &Request,
        scope: &Scope,
    ) -> Result<(Position, Vec<RejectionRow>), AnalyticsError> {
        let mut conn = self.reader();
        let tx = conn.transaction()?;
        let at = schema::position(&tx)?;
        let rows = rejection_rows(&tx, req, scope)?;
        tx.commit()?;
        Ok((at, rows))
    }

    /// One page of redemptions of `req` in `scope`, in log order.
    pub fn redemptions(
        &self,
        req: &Request,
        scope: &Scope,
    ) -> Result<(Position, Vec<RedemptionRow>), AnalyticsError> {
        let mut conn = self.reader();
        let tx = conn.transaction()?;
        let at = schema::position(&tx)?;
        let rows = redemption_rows(&tx, req, scope)?;
        tx.commit()?;
        Ok((at, rows))
    }
}
