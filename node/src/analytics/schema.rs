//! The analytics database's tables, its connection settings and the ingestion position.
//!
//! - `meta(k, v)`: `height` (the chain height the store covers), `cursor_log` and
//!   `cursor_index` (the last event ingested), `version`.
//! - `rollup`: one row per hour (`hour` = ms / 3,600,000, UTC) and dimensions (`org` the
//!   pool owner, `pool`, `store`, `channel`, `terminal` the signing key's hex when the event
//!   has a store, `signer_org`, `kind` the event type, `reason` the rejection code,
//!   `currency`; absent values are `''`): `n` events (codes for `codes.issued`), sums of
//!   order totals (`gross`), eligible amounts and discounts, minor units.
//! - `rollup_day` and `rollup_org_day`: the same sums per day (`hour` is the day's first
//!   hour) without store, channel and terminal, and for `rollup_org_day` without pool
//!   too (`pool` is `''`): a query reads the coarsest table that answers it
//!   (`query::rollup_table`), so an org-level report over 30 days reads a row per org, day
//!   and kind, not one per pool or terminal. The three tables keep one column layout so
//!   one query text serves them all.
//! - `redemptions`: one row per redemption (by event id), with its rollback height.
//!   `tx_key` is the first 8 bytes of the redemption's tx id as an integer: rollbacks find
//!   their redemption through a small integer index, not one on the 64-character hex id.
//! - `redemption_hours(hour, log_index)`: the log index of each hour's first redemption.
//!   Block time never decreases along the log, so a listing's range start becomes a bound
//!   on `log_index` with one lookup here, and `redemptions` needs no index on time.
//! - `member_days`: each member's activity per org, day (`time_ms / 86,400,000`), kind,
//!   pool and store, what segments, propensity and the advisor read
//!   ([`crate::intelligence`]): `allocated` (n), `redeemed` (n, order totals of
//!   redemptions outside a checkout as `gross`, discounts), `checkout` (n, basket totals,
//!   discounts) and `earned` (points). A rollback or a checkout void subtracts from the
//!   day and row it undoes (found through `redemptions.member` / `checkouts`); a voided
//!   earn subtracts its points on the void's own day. `org` is the pool's owner, or the
//!   program's org for checkouts and points.
//! - `checkouts`: one row per checkout, so a void finds what to subtract.
//! - `member_consent`: each org's latest consent decision per member and purpose, and its
//!   erasure receipts ([`super::consent`]): which members segments, propensity and the
//!   advisor may see (version 6).
//! - `member_seen`: each member's last ledger activity, whatever org's ([`super::activity`];
//!   version 7), what the directory's retention reads.
//!
//! Every index costs each ingested row a B-tree insert (on a `WITHOUT ROWID` table each
//! secondary index entry also carries the whole primary key), so `redemptions` keeps only
//! the four its queries walk: by org, by signing org, by pool (each in log order) and by
//! `tx_key`.

use super::AnalyticsError;
use couponcactus_chaincode::events::EventId;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::Path;

/// Page cache of each connection, KiB (bounds the store's memory: two connections).
pub const CACHE_KIB: i64 = 64 * 1024;

/// Schema version; a store of another version is rebuilt (`cactusd reindex`).
pub const SCHEMA_VERSION: i64 = 7;

/// The tables every store has, besides the rollups ([`rollup_ddl`]).
const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS redemptions (
    log_index INTEGER NOT NULL, idx INTEGER NOT NULL, height INTEGER NOT NULL,
    time_ms INTEGER NOT NULL, tx_id TEXT NOT NULL, tx_key INTEGER NOT NULL,
    org TEXT NOT NULL, pool TEXT NOT NULL,
    token TEXT, store TEXT NOT NULL, channel TEXT NOT NULL, terminal TEXT NOT NULL,
    signer_org TEXT NOT NULL, currency TEXT NOT NULL, order_total INTEGER,
    eligible INTEGER NOT NULL, discount INTEGER NOT NULL, rolled_back_height INTEGER,
    member TEXT, in_checkout INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (log_index, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS redemptions_org ON redemptions (org, log_index, idx);
CREATE INDEX IF NOT EXISTS redemptions_signer ON redemptions (signer_org, log_index, idx);
CREATE INDEX IF NOT EXISTS redemptions_pool ON redemptions (pool, log_index, idx);
CREATE INDEX IF NOT EXISTS redemptions_tx ON redemptions (tx_key);
CREATE TABLE IF NOT EXISTS redemption_hours (
    hour INTEGER PRIMARY KEY, log_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS member_days (
    org TEXT NOT NULL, member TEXT NOT NULL, day INTEGER NOT NULL, kind TEXT NOT NULL,
    pool TEXT NOT NULL, store TEXT NOT NULL,
    n INTEGER NOT NULL, gross INTEGER NOT NULL, discount INTEGER NOT NULL,
    points INTEGER NOT NULL,
    PRIMARY KEY (org, member, day, kind, pool, store)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkouts (
    tx_key INTEGER NOT NULL, tx_id TEXT NOT NULL, org TEXT NOT NULL, member TEXT NOT NULL,
    day INTEGER NOT NULL, store TEXT NOT NULL, gross INTEGER NOT NULL,
    discount INTEGER NOT NULL, voided INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tx_key, tx_id)
) WITHOUT ROWID;
";

/// The rollup tables: one layout, three granularities (see the module doc).
const ROLLUPS: [&str; 3] = ["rollup", "rollup_day", "rollup_org_day"];

/// The table `name` of the rollup layout and its indexes: by signing org (partner
/// reports), and for the hourly table by hour (time-ranged reports of every org).
fn rollup_ddl(name: &str) -> String {
    let by_hour = if name == "rollup" {
        format!("CREATE INDEX IF NOT EXISTS {name}_hour ON {name} (hour);")
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
            hour INTEGER NOT NULL, org TEXT NOT NULL, pool TEXT NOT NULL, store TEXT NOT NULL,
            channel TEXT NOT NULL, terminal TEXT NOT NULL, signer_org TEXT NOT NULL,
            kind TEXT NOT NULL, reason TEXT NOT NULL, currency TEXT NOT NULL,
            n INTEGER NOT NULL, gross INTEGER NOT NULL, eligible INTEGER NOT NULL,
            discount INTEGER NOT NULL,
            PRIMARY KEY (org, pool, hour, store, channel, terminal, signer_org, kind, reason,
                currency)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS {name}_signer ON {name} (signer_org, hour);
        {by_hour}"
    )
}

/// Creates every table that is missing.
fn create_tables(conn: &Connection) -> Result<(), AnalyticsError> {
    conn.execute_batch(DDL)?;
    conn.execute_batch(super::consent::DDL)?;
    conn.execute_batch(super::activity::DDL)?;
    for name in ROLLUPS {
        conn.execute_batch(&rollup_ddl(name))?;
    }
    Ok(())
}

/// Opens `path` in WAL mode and creates the tables.
pub fn open(path: &Path) -> Result<Connection, AnalyticsError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    // SQLite's default page cache is 2 MiB; the indexes ingestion inserts into at random
    // (`redemptions_tx`) and the rollups a report scans are tens of MiB at a million
    // redemptions. Each of the store's two connections may cache up to CACHE_KIB.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    create_tables(&conn)?;
    let version = meta(&conn, "version")?;
    match version {
        None => {
            conn.execute(
                "INSERT OR IGNORE INTO meta (k, v) VALUES ('version', ?1)",
                [SCHEMA_VERSION],
            )?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            // The store is derived data: one of another layout is rebuilt from the event
            // log (the ingester starts again from the first event).
            tracing::warn!(
                store = %path.display(),
                found = other,
                expected = SCHEMA_VERSION,
                "analytics store has another schema version: rebuilding it from the event log"
            );
            conn.execute_batch(
                "DROP TABLE IF EXISTS rollup; DROP TABLE IF EXISTS rollup_day; \
                 DROP TABLE IF EXISTS rollup_org_day; \
                 DROP TABLE IF EXISTS redemptions; DROP TABLE IF EXISTS redemption_hours; \
                 DROP TABLE IF EXISTS member_days; DROP TABLE IF EXISTS checkouts; \
                 DROP TABLE IF EXISTS member_consent; DROP TABLE IF EXISTS member_seen; \
                 DELETE FROM meta;",
            )?;
            create_tables(&conn)?;
            conn.execute(
                "INSERT INTO meta (k, v) VALUES ('version', ?1)",
                [SCHEMA_VERSION],
            )?;
        }
    }
    Ok(conn)
}

fn meta(conn: &Connection, k: &str) -> Result<Option<i64>, AnalyticsError> {
    Ok(conn
        .prepare_cached("SELECT v FROM meta WHERE k = ?1")?
        .query_row([k], |r| r.get(0))
        .optional()?)
}

/// How far ingestion got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    /// The chain height the store covers (every event up to it is in).
    pub height: u64,
    /// The last event ingested.
    pub cursor: Option<EventId>,
}

/// Reads the position.
pub fn position(conn: &Connection) -> Result<Position, AnalyticsError> {
    let height = meta(conn, "height")?.unwrap_or(0);
    let log = meta(conn, "cursor_log")?;
    let index = meta(conn, "cursor_index")?;
    let cursor = match (log, index) {
        (Some(l), Some(i)) => Some(EventId {
            log_index: u64::try_from(l).unwrap_or(0),
            index: u16::try_from(i).unwrap_or(0),
        }),
        _ => None,
    };
    Ok(Position {
        height: u64::try_from(height).unwrap_or(0),
        cursor,
    })
}

/// Writes the position inside the ingesting transaction.
pub fn set_position(tx: &Transaction<'_>, at: &Position) -> Result<(), AnalyticsError> {
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)")?;
    put.execute(params!["height", super::sql_int(at.height, "height")?])?;
    if let Some(c) = at.cursor {
        put.execute(params![
            "cursor_log",
            super::sql_int(c.log_index, "log index")?
        ])?;
        put.execute(params!["cursor_index", i64::from(c.index)])?;
    }
    Ok(())
}
