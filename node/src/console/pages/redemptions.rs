//! `GET /console/redemptions`: the redemption log of the org's pools (and the partner
//! redemptions its terminals made), with filters, its CSV and PDF exports, and the search
//! by typed code.
//!
//! Filters: day range (`from`, `to`: `YYYY-MM-DD`, UTC, both inclusive), `pool`, `store`,
//! `terminal`, `channel` (answered by the analytics store's SQL), and `result`
//! (`redeemed`, `rolled_back`, `rejected`), `member` (64 hex digits: the tokens ever
//! allocated to the member) and `code_hash` (the token or shared-code pool of a code),
//! applied to the rows the analytics store returns, over at most [`MAX_SCAN`] rows per
//! page. Rejected redemptions are not rows of the analytics store: it keeps them as hourly
//! counts per reason, so `result=rejected` shows those counts for the other filters.
//!
//! A typed code never goes into a URL or a log: the search form POSTs it (with the
//! session's CSRF token) to `/console/redemptions/search`, whose handler hashes it at once
//! with the chaincode's `code_hash` and redirects to the log with only the hash.
//! The exports use the same filters: CSV up to [`MAX_CSV_ROWS`] rows, PDF (a table, by
//! the client library's report renderer) up to [`MAX_PDF_ROWS`]; a truncated export says
//! so in the `X-Cactus-Truncated` header (and the PDF's subtitle).

use super::super::Console;
use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use crate::analytics::query::{AnalyticsParams, MAX_LISTING, Period, Request, Scope};
use crate::analytics::report::{RedemptionRow, RejectionRow};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::events::EventId;
use couponcactus_chaincode::ids::{CodeHash, MemberId};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Rows on one page of the log.
pub const PAGE_ROWS: usize = 50;
/// Most analytics rows read to fill one page when a row filter (result, member, code)
/// applies; the page then ends early with a "continue" link.
pub const MAX_SCAN: usize = 20 * MAX_LISTING;
/// Most rows in a CSV export.
pub const MAX_CSV_ROWS: usize = 100_000;
/// Most rows in a PDF export.
pub const MAX_PDF_ROWS: usize = 2_000;
/// Longest typed code accepted by the search, characters.
const MAX_CODE_CHARS: usize = 200;
/// Day length, ms.
const DAY_MS: u64 = 86_400_000;

/// The filters of the log and its exports (all optional text, so a bad value gets a
/// clear message).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct LogQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    terminal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

impl LogQuery {
    /// Drops empty fields (an empty form field means "any").
    fn trimmed(mut self) -> LogQuery {
        for f in [
            &mut self.from,
            &mut self.to,
            &mut self.pool,
            &mut self.store,
            &mut self.terminal,
            &mut self.channel,
            &mut self.result,
            &mut self.member,
            &mut self.code_hash,
            &mut self.after,
        ] {
            *f = f
                .take()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
        }
        self
    }

    /// The query string of these filters (without the cursor).
    fn href(&self, path: &str) -> String {
        let mut q = self.clone();
        q.after = None;
        match serde_urlencoded::to_string(&q) {
            Ok(s) if !s.is_empty() => format!("{path}?{s}"),
            _ => path.to_string(),
        }
    }
}

/// `result=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Any,
    Redeemed,
    RolledBack,
    Rejected,
}

/// Checked filters.
struct Filter {
    req: Request,
    outcome: Outcome,
    /// Only rows of these tokens (`pool/serial`) or these shared-code pools.
    tokens: Option<BTreeSet<String>>,
    shared_pool: Option<String>,
    /// Why nothing can match (an unknown code): shown instead of rows.
    none_because: Option<String>,
}

impl Filter {
    fn row_filtered(&self) -> bool {
        self.outcome != Outcome::Any || self.tokens.is_some() || self.shared_pool.is_some()
    }

    fn keeps(&self, row: &RedemptionRow) -> bool {
        let outcome = match self.outcome {
            Outcome::Any | Outcome::Rejected => true,
            Outcome::Redeemed => row.rolled_back_height.is_none(),
            Outcome::RolledBack => row.rolled_back_height.is_some(),
        };
        let token = match (&self.tokens, &self.shared_pool) {
            (None, None) => true,
            (tokens, pool) => {
                tokens
                    .as_ref()
                    .is_some_and(|t| row.token.as_ref().is_some_and(|id| t.contains(id)))
                    || pool
                        .as_ref()
                        .is_some_and(|p| row.token.is_none() && &row.pool == p)
            }
        };
        outcome && token
    }
}

fn bad(msg: String) -> PageError {
    PageError::BadRequest(msg)
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// `YYYY-MM-DD` → ms at its start (UTC).
fn day_start(name: &str, text: &str) -> Result<u64, PageError> {
    let date: jiff::civil::Date = text.parse().map_err(|_| {
        bad(format!(
            "{name}={:?} is not a day: use YYYY-MM-DD",
            short(text)
        ))
    })?;
    let ms = format!("{date}T00:00:00Z")
        .parse::<jiff::Timestamp>()
        .map_err(|e| bad(format!("{name}: {e}")))?
        .as_millisecond();
    u64::try_from(ms).map_err(|_| bad(format!("{name}={text} is before 1970")))
}

fn outcome(text: Option<&str>) -> Result<Outcome, PageError> {
    match text {
        None | Some("any") => Ok(Outcome::Any),
        Some("redeemed") => Ok(Outcome::Redeemed),
        Some("rolled_back") => Ok(Outcome::RolledBack),
        Some("rejected") => Ok(Outcome::Rejected),
        Some(t) => Err(bad(format!(
            "unknown result {:?}: use redeemed, rolled_back or rejected",
            short(t)
        ))),
    }
}

/// The analytics request of the SQL filters.
fn request(q: &LogQuery) -> Result<Request, PageError> {
    let from = q
        .from
        .as_deref()
        .map(|t| day_start("from", t))
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|t| day_start("to", t).map(|ms| ms + DAY_MS))
            .transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(bad("the range is empty: \"from\" is after \"to\"".into()));
    }
    let params = AnalyticsParams {
        from: from.map(|v| v.to_string()),
        to: to.map(|v| v.to_string()),
        pool: q.pool.clone(),
        store: q.store.clone(),
        channel: q.channel.clone(),
        terminal: q.terminal.clone(),
        after: q.after.clone(),
        ..AnalyticsParams::default()
    };
    Ok(Request::parse(&params)?)
}

/// The org's tokens and shared-code pool a code hash names (`None`: no coupon of the org
/// has that code).
fn code_target(
    console: &Console,
    hash: &CodeHash,
) -> Result<Option<(Option<String>, String)>, PageError> {
    let store = console.node.store();
    let Some(StateValue::Code(entry)) = store.get(&StateKey::Code(*hash))? else {
        return Ok(None);
    };
    let owned = matches!(store.get(&StateKey::Pool(entry.pool.clone()))?,
        Some(StateValue::Pool(p)) if p.owner == console.org);
    if !owned {
        return Ok(None);
    }
    Ok(Some((
        entry.serial.map(|s| format!("{}/{s}", entry.pool)),
        entry.pool.to_string(),
    )))
}

/// Checks the filters and resolves member and code to tokens.
fn filter(console: &Console, q: &LogQuery) -> Result<Filter, PageError> {
    let mut f = Filter {
        req: request(q)?,
        outcome: outcome(q.result.as_deref())?,
        tokens: None,
        shared_pool: None,
        none_because: None,
    };
    if let Some(m) = &q.member {
        let member: MemberId = m.parse().map_err(|_| {
            bad(format!(
                "member {:?} is not a member id (64 hex digits)",
                short(m)
            ))
        })?;
        let tokens = console.node.store().wallet(&member)?;
        f.tokens = Some(tokens.iter().map(|t| t.to_string()).collect());
    }
    if let Some(h) = &q.code_hash {
        let hash: CodeHash = h.parse().map_err(|_| {
            bad(format!(
                "code_hash {:?} is not a code hash (64 hex digits)",
                short(h)
            ))
        })?;
        match code_target(console, &hash)? {
            None => f.none_because = Some("No coupon with that code in the org's pools.".into()),
            Some((Some(token), _)) => {
                let keep = f.tokens.as_ref().is_none_or(|t| t.contains(&token));
                f.tokens = Some(if keep {
                    BTreeSet::from([token])
                } else {
                    BTreeSet::new()
                });
            }
            Some((None, pool)) => {
                f.shared_pool = Some(pool);
                if f.tokens.is_none() {
                    f.tokens = Some(BTreeSet::new());
                }
            }
        }
    }
    Ok(f)
}

/// Up to `want` rows from the cursor on, reading at most `scan` analytics rows: (rows,
/// the cursor to continue from if there may be more, analytics height).
fn scan(
    console: &Console,
    f: &Filter,
    want: usize,
    scan: usize,
) -> Result<(Vec<RedemptionRow>, Option<String>, u64), PageError> {
    let analytics = console.analytics.as_ref().ok_or_else(|| {
        PageError::Internal("the analytics store is not enabled on this node".into())
    })?;
    let scope = Scope::Org(console.org.to_string());
    let mut req = f.req.clone();
    req.limit = if f.row_filtered() {
        MAX_LISTING
    } else {
        want.clamp(1, MAX_LISTING)
    };
    let (mut out, mut read, mut height) = (Vec::new(), 0usize, 0u64);
    loop {
        let (at, rows) = analytics.redemptions(&req, &scope)?;
        height = height.max(at.height);
        let full = rows.len() == req.limit;
        read += rows.len();
        let mut last = None;
        for row in rows {
            last = Some(row.id.clone());
            if f.keeps(&row) {
                out.push(row);
                if out.len() == want {
                    return Ok((out, last, height));
                }
            }
        }
        let Some(last) = last.filter(|_| full) else {
            return Ok((out, None, height));
        };
        if read >= scan {
            return Ok((out, Some(last), height));
        }
        req.after = Some(
            last.parse::<EventId>()
                .map_err(|e| PageError::Internal(e.to_string()))?,
        );
        req.limit = if f.row_filtered() {
            MAX_LISTING
        } else {
            (want - out.len()).clamp(1, MAX_LISTING)
        };
    }
}

/// One row as shown.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    time: String,
    height: u64,
    pool: String,
    token: Option<String>,
    token_href: Option<String>,
    store: String,
    channel: String,
    terminal: String,
    discount: String,
    order_total: String,
    result: String,
    rolled_back: bool,
    partner: bool,
}

impl Row {
    fn of(r: &RedemptionRow) -> Row {
        Row {
            id: r.id.clone(),
            time: view::time(r.time_ms),
            height: r.height,
            pool: r.pool.clone(),
            token_href: r.token.as_ref().map(|t| format!("/console/tokens/{t}")),
            token: r.token.clone(),
            store: r.store.clone(),
            channel: r.channel.clone(),
            terminal: r.terminal.chars().take(12).collect(),
            discount: view::money(r.discount_minor, &r.currency),
            order_total: r
                .order_total_minor
                .map(|m| view::money(m, &r.currency))
                .unwrap_or_else(|| "—".into()),
            result: match r.rolled_back_height {
                Some(h) => format!("rolled back at {h}"),
                None => "redeemed".into(),
            },
            rolled_back: r.rolled_back_height.is_some(),
            partner: r.partner,
        }
    }
}

#[derive(Debug, Serialize)]
struct Rejected {
    reason: String,
    count: u64,
}

#[derive(Debug, Serialize)]
struct LogPage {
    layout: Layout,
    q: LogQuery,
    pools: Vec<(String, String)>,
    rows: Vec<Row>,
    rejected: Option<Vec<Rejected>>,
    next: Option<String>,
    first_page: Option<String>,
    csv: String,
    pdf: String,
    problem: Option<String>,
    searched_code: bool,
    page_rows: usize,
    max_scan: usize,
}

fn rejections(console: &Console, f: &Filter) -> Result<Vec<Rejected>, PageError> {
    let analytics = console.analytics.as_ref().ok_or_else(|| {
        PageError::Internal("the analytics store is not enabled on this node".into())
    })?;
    let mut req = f.req.clone();
    req.group_by = Vec::new();
    req.period = Period::Total;
    let (_, rows) = analytics.rejections(&req, &Scope::Org(console.org.to_string()))?;
    let mut out: Vec<Rejected> = rows
        .into_iter()
        .map(|r: RejectionRow| Rejected {
            reason: r.reason,
            count: r.count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    Ok(out)
}

fn render(console: &Console, staff: &Staff, q: LogQuery) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let f = filter(console, &q)?;
    let (mut rows, mut next, mut rejected) = (Vec::new(), None, None);
    if f.none_because.is_none() {
        if f.outcome == Outcome::Rejected {
            rejected = Some(rejections(console, &f)?);
        } else {
            let (found, cursor, _) = scan(console, &f, PAGE_ROWS, MAX_SCAN)?;
            rows = found.iter().map(Row::of).collect();
            next = cursor.map(|c| {
                let mut n = q.clone();
                n.after = Some(c);
                format!(
                    "/console/redemptions?{}",
                    serde_urlencoded::to_string(&n).unwrap_or_default()
                )
            });
        }
    }
    let pools = super::pools::org_pools(console)?
        .into_iter()
        .map(|p| (p.id.to_string(), p.spec.name))
        .collect();
    let page = LogPage {
        layout: Layout::new(console, staff, "redemptions", "Redemptions".into(), height),
        first_page: q.after.as_ref().map(|_| q.href("/console/redemptions")),
        csv: q.href("/console/redemptions.csv"),
        pdf: q.href("/console/redemptions.pdf"),
        searched_code: q.code_hash.is_some(),
        problem: f.none_because.clone(),
        q,
        pools,
        rows,
        rejected,
        next,
        page_rows: PAGE_ROWS,
        max_scan: MAX_SCAN,
    };
    let status = if page.problem.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let mut response = view::page("redemptions.html", &page, height)?;
    *response.status_mut() = status;
    Ok(response)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::Internal(format!("redemptions: {e}")))?
}

/// `GET /console/redemptions`.
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(q): Query<LogQuery>,
) -> Result<Response, PageError> {
    blocking(move || render(&console, &staff, q.trimmed())).await
}

/// The search form: a typed code (never put in a URL) and the filters it keeps.
#[derive(Debug, Deserialize)]
pub(super) struct SearchForm {
    #[serde(default)]
    code: String,
    #[serde(flatten)]
    filters: LogQuery,
}

/// `POST /console/redemptions/search`: hashes the typed code at once and redirects to the
/// log with only its hash.
pub(super) async fn search(
    CheckedForm(_staff, form): CheckedForm<SearchForm>,
) -> Result<Response, PageError> {
    let code = form.code.trim();
    if code.is_empty() || code.chars().count() > MAX_CODE_CHARS {
        return Err(bad(format!(
            "type a code of 1 to {MAX_CODE_CHARS} characters"
        )));
    }
    let mut q = form.filters.trimmed();
    q.after = None;
    q.code_hash = Some(code_hash(code).to_string());
    Ok(Redirect::to(&q.href("/console/redemptions")).into_response())
}

/// The rows of an export: (rows, truncated, height).
fn export_rows(
    console: &Console,
    q: &LogQuery,
    max: usize,
) -> Result<(Vec<RedemptionRow>, bool, u64), PageError> {
    let f = filter(console, q)?;
    if f.outcome == Outcome::Rejected {
        return Err(bad(
            "rejected redemptions are counts, not rows: export redeemed or rolled_back ones".into(),
        ));
    }
    if let Some(why) = &f.none_because {
        return Err(PageError::NotFound(why.clone()));
    }
    let (rows, cursor, height) = scan(console, &f, max, MAX_CSV_ROWS.max(max) * 2)?;
    Ok((rows, cursor.is_some(), height))
}

/// The CSV columns (the fields of `GET /v1/analytics/redemptions`' rows).
pub const CSV_COLUMNS: [&str; 17] = [
    "id",
    "height",
    "time_ms",
    "tx_id",
    "org",
    "pool",
    "token",
    "store",
    "channel",
    "terminal",
    "signer_org",
    "partner",
    "currency",
    "order_total_minor",
    "eligible_minor",
    "discount_minor",
    "rolled_back_height",
];

fn csv_bytes(rows: &[RedemptionRow]) -> Result<Vec<u8>, PageError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| PageError::Internal(format!("csv: {e}"));
    w.write_record(CSV_COLUMNS).map_err(fail)?;
    for r in rows {
        w.write_record([
            r.id.clone(),
            r.height.to_string(),
            r.time_ms.to_string(),
            r.tx_id.clone(),
            r.org.clone(),
            r.pool.clone(),
            r.token.clone().unwrap_or_default(),
            r.store.clone(),
            r.channel.clone(),
            r.terminal.clone(),
            r.signer_org.clone(),
            r.partner.to_string(),
            r.currency.clone(),
            r.order_total_minor
                .map(|v| v.to_string())
                .unwrap_or_default(),
            r.eligible_minor.to_string(),
            r.discount_minor.to_string(),
            r.rolled_back_height
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| PageError::Internal(format!("csv: {e}")))
}

/// An export: [`view::attachment`], marked `X-Cactus-Truncated` when capped.
fn download(
    body: Vec<u8>,
    kind: &'static str,
    name: &str,
    truncated: bool,
    height: u64,
) -> Response {
    let mut response = view::attachment(body, kind, name, height);
    if truncated {
        response
            .headers_mut()
            .insert("x-cactus-truncated", HeaderValue::from_static("true"));
    }
    response
}

/// `GET /console/redemptions.csv`: the log's rows for the filters, oldest first.
pub(super) async fn csv_export(
    State(console): State<Arc<Console>>,
    _staff: Staff,
    Query(q): Query<LogQuery>,
) -> Result<Response, PageError> {
    blocking(move || {
        let mut q = q.trimmed();
        q.after = None;
        let (rows, truncated, height) = export_rows(&console, &q, MAX_CSV_ROWS)?;
        Ok(download(
            csv_bytes(&rows)?,
            "text/csv; charset=utf-8",
            "redemptions.csv",
            truncated,
            height,
        ))
    })
    .await
}

fn pdf_bytes(
    console: &Console,
    q: &LogQuery,
    rows: &[RedemptionRow],
    truncated: bool,
    height: u64,
) -> Result<Vec<u8>, PageError> {
    use couponcactus_client::report_pdf::{ReportDocument, ReportSection, ReportStamp, render};
    let store = console.node.store();
    let header = store.header(height)?;
    let filters = serde_urlencoded::to_string(q).unwrap_or_default();
    let mut subtitle = format!(
        "Org {}; filters: {}",
        console.org,
        if filters.is_empty() {
            "none".into()
        } else {
            filters
        }
    );
    if truncated {
        subtitle.push_str(&format!("; first {} rows only", rows.len()));
    }
    let doc = ReportDocument {
        title: "Redemption log".into(),
        subtitle,
        stamp: ReportStamp {
            chain_id: console.node.chain_id().to_string(),
            height,
            block_hash: header
                .as_ref()
                .map(|h| h.hash().to_string())
                .unwrap_or_default(),
            state_root: header
                .as_ref()
                .map(|h| h.state_root.to_string())
                .unwrap_or_default(),
            certificate: store
                .certificate(height)?
                .map(|c| format!("certified at height {}", c.height)),
            generated_at: view::time(crate::node::now_ms()),
        },
        sections: vec![ReportSection::Table {
            heading: format!("{} redemptions", rows.len()),
            columns: [
                "Time", "Pool", "Token", "Store", "Channel", "Discount", "Result",
            ]
            .map(String::from)
            .to_vec(),
            rows: rows
                .iter()
                .map(|r| {
                    let shown = Row::of(r);
                    vec![
                        shown.time,
                        shown.pool,
                        shown.token.unwrap_or_else(|| "shared".into()),
                        shown.store,
                        shown.channel,
                        shown.discount,
                        shown.result,
                    ]
                })
                .collect(),
        }],
    };
    render(&doc).map_err(|e| PageError::Internal(format!("pdf: {e}")))
}

/// `GET /console/redemptions.pdf`: the same rows as a PDF table.
pub(super) async fn pdf_export(
    State(console): State<Arc<Console>>,
    _staff: Staff,
    Query(q): Query<LogQuery>,
) -> Result<Response, PageError> {
    blocking(move || {
        let mut q = q.trimmed();
        q.after = None;
        let (rows, truncated, _) = export_rows(&console, &q, MAX_PDF_ROWS)?;
        let height = console.node.store().tip()?.height;
        let body = pdf_bytes(&console, &q, &rows, truncated, height)?;
        Ok(download(
            body,
            "application/pdf",
            "redemptions.pdf",
            truncated,
            height,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights_and_bad_days_are_refused() {
        assert_eq!(day_start("from", "2026-12-03").unwrap(), 1_796_256_000_000);
        for bad in ["yesterday", "2026-13-01", "2026-12-3x", "", "1969-12-31"] {
            assert!(
                matches!(day_start("from", bad), Err(PageError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ranges_include_the_last_day_and_refuse_empty_ones() {
        let q = LogQuery {
            from: Some("2026-12-03".into()),
            to: Some("2026-12-03".into()),
            ..LogQuery::default()
        };
        let req = request(&q).unwrap();
        assert_eq!(req.to_ms.unwrap() - req.from_ms.unwrap(), DAY_MS);
        let empty = LogQuery {
            from: Some("2026-12-04".into()),
            to: Some("2026-12-03".into()),
            ..LogQuery::default()
        };
        assert!(matches!(request(&empty), Err(PageError::BadRequest(_))));
    }

    #[test]
    fn results_parse_and_unknown_ones_are_refused() {
        assert_eq!(outcome(None).unwrap(), Outcome::Any);
        assert_eq!(outcome(Some("rolled_back")).unwrap(), Outcome::RolledBack);
        assert!(outcome(Some("<b>")).is_err());
    }

    #[test]
    fn links_keep_filters_drop_the_cursor_and_empty_fields() {
        let q = LogQuery {
            pool: Some(" spring ".into()),
            store: Some("  ".into()),
            after: Some("evt_1".into()),
            ..LogQuery::default()
        }
        .trimmed();
        assert_eq!(q.store, None);
        assert_eq!(
            q.href("/console/redemptions.csv"),
            "/console/redemptions.csv?pool=spring"
        );
        assert_eq!(LogQuery::default().href("/x"), "/x");
    }
}
