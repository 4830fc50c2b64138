//! Ingestion: the node's event log into the analytics store, whole blocks at a time.
//!
//! [`Analytics::ingest_events`] writes the events of complete blocks (rollup upserts
//! aggregated in memory first, redemption rows, rollbacks marked) and the position they
//! reach in one SQL transaction; events at or below the stored height are skipped, so
//! ingesting a height twice changes nothing. [`Analytics::catch_up`] pages through
//! [`Store::events_after`] from the stored cursor and never commits part of a block;
//! [`run_ingester`] calls it after applied blocks ([`crate::events::EventsTip`]), at most
//! every [`crate::events::FOLLOW_COALESCE`]; [`reindex`] rebuilds the store of a stopped
//! node.

use super::members;
use super::schema::{self, Position};
use super::{Analytics, AnalyticsError, sql_int};
use crate::events::{MAX_EVENTS_PAGE, rest_after_pass};
use crate::storage::Store;
use couponcactus_chaincode::events::{EventDetail, EventType, LedgerEvent};
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::TxId;
use rusqlite::{Transaction, params};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// Most events one catch-up transaction takes (more when one block alone is larger).
pub const INGEST_BATCH_EVENTS: usize = 50_000;

/// Milliseconds in a rollup bucket.
pub const HOUR_MS: u64 = 3_600_000;

/// The dimensions of a rollup row, in the order of the tables' primary key: rows are
/// upserted in key order, so consecutive upserts touch neighbouring B-tree pages.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RollupKey {
    org: String,
    pool: String,
    hour: u64,
    store: String,
    channel: String,
    terminal: String,
    signer_org: String,
    kind: &'static str,
    reason: String,
    currency: String,
}

/// The measures of a rollup row.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    n: u64,
    gross: u64,
    eligible: u64,
    discount: u64,
}

fn text<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// The terminal dimension: the signing key, for events that happened at a store.
pub(crate) fn terminal_of(e: &LedgerEvent) -> String {
    if e.store.is_some() {
        e.signer.to_hex()
    } else {
        String::new()
    }
}

fn rollup_of(e: &LedgerEvent) -> (RollupKey, Sums) {
    let reason = match &e.detail {
        EventDetail::Rejected { rejection, .. } => rejection.reason.code().to_string(),
        EventDetail::Applied { .. } => String::new(),
    };
    let n = match &e.detail {
        EventDetail::Applied {
            event: Event::CodesIssued { count, .. },
        } => *count,
        _ => 1,
    };
    let amounts = e.amounts.as_ref();
    let key = RollupKey {
        hour: e.time_ms / HOUR_MS,
        org: text(&e.org),
        pool: text(&e.pool),
        store: text(&e.store),
        channel: text(&e.channel),
        terminal: terminal_of(e),
        signer_org: text(&e.signer_org),
        kind: e.kind.name(),
        reason,
        currency: amounts.map(|a| a.currency.to_string()).unwrap_or_default(),
    };
    let sums = Sums {
        n,
        gross: amounts.and_then(|a| a.order_total_minor).unwrap_or(0),
        eligible: amounts.and_then(|a| a.eligible_minor).unwrap_or(0),
        discount: amounts.and_then(|a| a.discount_minor).unwrap_or(0),
    };
    (key, sums)
}

fn add(into: &mut Sums, s: Sums) {
    into.n = into.n.saturating_add(s.n);
    into.gross = into.gross.saturating_add(s.gross);
    into.eligible = into.eligible.saturating_add(s.eligible);
    into.discount = into.discount.saturating_add(s.discount);
}

/// The upsert of one row into rollup table `table` (`rollup` or `rollup_day`).
fn upsert_rollup(table: &str) -> String {
    format!(
        "INSERT INTO {table} (hour, org, pool, store, channel, terminal, \
         signer_org, kind, reason, currency, n, gross, eligible, discount) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (org, pool, hour, store, channel, terminal, signer_org, kind, reason, \
         currency) DO UPDATE SET n = n + excluded.n, gross = gross + excluded.gross, \
         eligible = eligible + excluded.eligible, discount = discount + excluded.discount"
    )
}

/// The daily rollup's key of an hourly row: its day's first hour, without store, channel
/// and terminal. Queries that need none of those (and no hours) read `rollup_day`, which
/// holds a row per org, pool, day and kind however many terminals the traffic spreads over.
fn daily(k: &RollupKey) -> RollupKey {
    RollupKey {
        hour: k.hour - k.hour % 24,
        store: String::new(),
        channel: String::new(),
        terminal: String::new(),
        ..k.clone()
    }
}

/// The org-level daily key of a daily row: without the pool.
fn org_daily(day: &RollupKey) -> RollupKey {
    RollupKey {
        pool: String::new(),
        ..day.clone()
    }
}

fn write_rollups(
    tx: &Transaction<'_>,
    table: &str,
    rows: BTreeMap<RollupKey, Sums>,
) -> Result<(), AnalyticsError> {
    let mut stmt = tx.prepare_cached(&upsert_rollup(table))?;
    for (k, s) in rows {
        stmt.execute(params![
            sql_int(k.hour, "hour")?,
            k.org,
            k.pool,
            k.store,
            k.channel,
            k.terminal,
            k.signer_org,
            k.kind,
            k.reason,
            k.currency,
            sql_int(s.n, "count")?,
            sql_int(s.gross, "order total")?,
            sql_int(s.eligible, "eligible amount")?,
            sql_int(s.discount, "discount")?,
        ])?;
    }
    Ok(())
}

const INSERT_REDEMPTION: &str = "INSERT OR IGNORE INTO redemptions (log_index, idx, height, \
    time_ms, tx_id, tx_key, org, pool, token, store, channel, terminal, signer_org, currency, \
    order_total, eligible, discount, member, in_checkout) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

const MARK_ROLLBACK: &str = "UPDATE redemptions SET rolled_back_height = ?1 \
    WHERE tx_key = ?2 AND tx_id = ?3 AND rolled_back_height IS NULL";

/// The first redemption of an hour (rows arrive in log order, so the first insert wins).
const FIRST_OF_HOUR: &str =
    "INSERT INTO redemption_hours (hour, log_index) VALUES (?1, ?2) ON CONFLICT (hour) DO NOTHING";

/// The `tx_key` column: the tx id's first 8 bytes as a (signed) integer.
pub(crate) fn tx_key(id: &couponcactus_chaincode::ids::TxId) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    i64::from_le_bytes(b)
}

/// Redemption rows and rollback marks, in event order.
fn write_facts(
    tx: &Transaction<'_>,
    events: &[&LedgerEvent],
    checkouts: &BTreeSet<TxId>,
) -> Result<(), AnalyticsError> {
    let mut insert = tx.prepare_cached(INSERT_REDEMPTION)?;
    let mut mark = tx.prepare_cached(MARK_ROLLBACK)?;
    let mut first = tx.prepare_cached(FIRST_OF_HOUR)?;
    let mut hour = None;
    for e in events {
        let EventDetail::Applied { event } = &e.detail else {
            continue;
        };
        match event {
            Event::Redeemed { redemption, .. } => {
                let a = e.amounts.as_ref();
                if hour != Some(e.time_ms / HOUR_MS) {
                    hour = Some(e.time_ms / HOUR_MS);
                    first.execute(params![
                        sql_int(e.time_ms / HOUR_MS, "hour")?,
                        sql_int(e.log_index, "log index")?
                    ])?;
                }
                insert.execute(params![
                    sql_int(e.log_index, "log index")?,
                    i64::from(e.id.index),
                    sql_int(e.height, "height")?,
                    sql_int(e.time_ms, "time")?,
                    redemption.to_hex(),
                    tx_key(redemption),
                    text(&e.org),
                    text(&e.pool),
                    e.token.as_ref().map(ToString::to_string),
                    text(&e.store),
                    text(&e.channel),
                    terminal_of(e),
                    text(&e.signer_org),
                    a.map(|a| a.currency.to_string()).unwrap_or_default(),
                    a.and_then(|a| a.order_total_minor)
                        .map(|v| sql_int(v, "order total"))
                        .transpose()?,
                    sql_int(a.and_then(|a| a.eligible_minor).unwrap_or(0), "eligible")?,
                    sql_int(a.and_then(|a| a.discount_minor).unwrap_or(0), "discount")?,
                    e.member.as_ref().map(ToString::to_string),
                    i64::from(checkouts.contains(&e.tx_id)),
                ])?;
            }
            Event::RolledBack { redemption, .. } => {
                mark.execute(params![
                    sql_int(e.height, "height")?,
                    tx_key(redemption),
                    redemption.to_hex()
                ])?;
            }
            _ => {}
        }
    }
    Ok(())
}

impl Analytics {
    /// Ingests the events of complete blocks (in log order) and records that the store
    /// covers `covered_height` (at least the last event's height). Events at or below the
    /// stored height are skipped: ingesting a height again changes nothing. Returns how
    /// many events were new.
    pub fn ingest_events(
        &self,
        events: &[LedgerEvent],
        covered_height: u64,
    ) -> Result<usize, AnalyticsError> {
        let mut conn = self.writer();
        let at = schema::position(&conn)?;
        let fresh: Vec<&LedgerEvent> = events
            .iter()
            .filter(|e| e.height > at.height && at.cursor.is_none_or(|c| e.id > c))
            .collect();
        let last = fresh.last().map(|e| (e.height, e.id));
        let height = covered_height.max(last.map_or(0, |l| l.0));
        if fresh.is_empty() && height <= at.height {
            return Ok(0);
        }
        let mut rows: BTreeMap<RollupKey, Sums> = BTreeMap::new();
        for e in &fresh {
            let (k, s) = rollup_of(e);
            add(rows.entry(k).or_default(), s);
        }
        let mut days: BTreeMap<RollupKey, Sums> = BTreeMap::new();
        let mut org_days: BTreeMap<RollupKey, Sums> = BTreeMap::new();
        for (k, s) in &rows {
            let day = daily(k);
            add(org_days.entry(org_daily(&day)).or_default(), *s);
            add(days.entry(day).or_default(), *s);
        }
        let tx = conn.transaction()?;
        write_rollups(&tx, "rollup", rows)?;
        write_rollups(&tx, "rollup_day", days)?;
        write_rollups(&tx, "rollup_org_day", org_days)?;
        let checkouts = members::checkout_txs(&fresh);
        write_facts(&tx, &fresh, &checkouts)?;
        members::write_member_facts(&tx, &fresh, &checkouts)?;
        super::consent::write_consent_facts(&tx, &fresh)?;
        super::activity::write_activity(&tx, &fresh)?;
        let to = Position {
            height: height.max(at.height),
            cursor: last.map(|l| l.1).or(at.cursor),
        };
        schema::set_position(&tx, &to)?;
        tx.commit()?;
        Ok(fresh.len())
    }

    /// Ingests every stored event after the cursor, whole blocks per transaction, until
    /// the event log is drained; then records the chain tip read before the last pass as
    /// covered. Returns how many events were ingested.
    pub fn catch_up(&self, store: &Store) -> Result<u64, AnalyticsError> {
        self.catch_up_with(store, MAX_EVENTS_PAGE, INGEST_BATCH_EVENTS)
    }

    /// [`Analytics::catch_up`] reading pages of `page` events and committing once a
    /// batch holds `batch` events and more than one block.
    pub fn catch_up_with(
        &self,
        store: &Store,
        page: usize,
        batch_events: usize,
    ) -> Result<u64, AnalyticsError> {
        let mut total = 0u64;
        loop {
            let tip = store.tip()?.height;
            let mut cursor = self.position()?.cursor;
            let mut batch: Vec<LedgerEvent> = Vec::new();
            let drained = loop {
                let scan = store.events_after(cursor, page, |_| true)?;
                cursor = scan.next;
                batch.extend(scan.events);
                if scan.exhausted {
                    break true;
                }
                let spans_blocks =
                    batch.first().map(|e| e.height) != batch.last().map(|e| e.height);
                if batch.len() >= batch_events && spans_blocks {
                    break false;
                }
            };
            if drained {
                total += self.ingest_events(&batch, tip)? as u64;
                return Ok(total);
            }
            // Hold back the last (maybe partial) block: the next pass starts with it.
            let last_height = batch.last().map_or(0, |e| e.height);
            batch.retain(|e| e.height < last_height);
            let complete = batch.last().map_or(0, |e| e.height);
            total += self.ingest_events(&batch, complete)? as u64;
        }
    }
}

/// Follows the chain: catches up now and after applied blocks (`tip` is
/// [`crate::events::EventsTip::subscribe`]), at most every
/// [`crate::events::FOLLOW_COALESCE`], until `shutdown` completes. Errors are logged and
/// retried after a second; the store is a read model and may always be rebuilt.
pub async fn run_ingester(
    analytics: Arc<Analytics>,
    store: Store,
    mut tip: watch::Receiver<u64>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (a, s) = (analytics.clone(), store.clone());
        let pass = tokio::task::spawn_blocking(move || a.catch_up(&s)).await;
        let failed = match pass {
            Ok(Ok(n)) => {
                if n > 0 {
                    tracing::debug!(events = n, "analytics ingested");
                }
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "analytics ingestion failed; retrying");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "analytics ingestion task failed; retrying");
                true
            }
        };
        if !failed && rest_after_pass(&mut shutdown).await {
            return;
        }
        let pause = tokio::time::sleep(std::time::Duration::from_secs(if failed {
            1
        } else {
            3600
        }));
        tokio::select! {
            _ = &mut shutdown => return,
            changed = tip.changed(), if !failed => if changed.is_err() { return },
            _ = pause => {}
        }
    }
}

/// What [`reindex`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReindexSummary {
    /// The height the rebuilt store covers.
    pub height: u64,
    /// Events ingested.
    pub events: u64,
}

/// Drops the analytics store at `analytics` and rebuilds it from the event log of the
/// stopped node whose RocksDB is `db_dir`. Refuses while a cactusd holds the database.
pub fn reindex(db_dir: &Path, analytics: &Path) -> Result<ReindexSummary, AnalyticsError> {
    if !db_dir.is_dir() {
        return Err(AnalyticsError::Invalid(format!(
            "no node database in {}",
            db_dir.display()
        )));
    }
    let store = match Store::open(db_dir) {
        Ok(s) => s,
        Err(e) if e.to_string().to_ascii_lowercase().contains("lock") => {
            return Err(AnalyticsError::NodeRunning(db_dir.to_path_buf()));
        }
        Err(e) => return Err(e.into()),
    };
    for suffix in ["", "-wal", "-shm"] {
        let mut name = analytics.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(AnalyticsError::Io {
                    what: format!("removing {}", Path::new(&name).display()),
                    source,
                });
            }
        }
    }
    let fresh = Analytics::open(analytics)?;
    let events = fresh.catch_up(&store)?;
    Ok(ReindexSummary {
        height: fresh.position()?.height,
        events,
    })
}

/// Event types the rollup answers KPIs from.
pub(crate) const KPI_TYPES: [EventType; 7] = [
    EventType::CodesIssued,
    EventType::CouponAllocated,
    EventType::CouponRedeemed,
    EventType::CouponRolledBack,
    EventType::CouponRevoked,
    EventType::CouponTransferred,
    EventType::TxRejected,
];
