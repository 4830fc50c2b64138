//! The analytics database's tables, its connection settings and the ingestion position.
//!
//! - `meta(k, v)`: `height` (the chain height the store covers), `cursor_log` and
//!   `cursor_index` (the last event ingested), `version`.
//! - `rollup`: one row per hour (`hour` = ms / 3,600,000, UTC) and dimensions (`org` the
//!   pool owner, `pool`, `store`, `channel`, `terminal` the signing key's hex when the event
//!   has a store, `signer_org`, `kind` the event type, `reason` the rejection code,
//!   `currency`; absent values are `''`): `n` events (codes for `codes.issued`), sums of
//!   order totals (`gross`), eligible amounts and discounts, minor units.
//! - `redemptions`: one row per redemption (by event id), with its rollback height.

use super::AnalyticsError;
use couponcactus_chaincode::events::EventId;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::Path;

/// Schema version; a store of another version is rebuilt (`cactusd reindex`).
pub const SCHEMA_VERSION: i64 = 3;

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup (
    hour INTEGER NOT NULL, org TEXT NOT NULL, pool TEXT NOT NULL, store TEXT NOT NULL,
    channel TEXT NOT NULL, terminal TEXT NOT NULL, signer_org TEXT NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, currency TEXT NOT NULL,
    n INTEGER NOT NULL, gross INTEGER NOT NULL, eligible INTEGER NOT NULL,
    discount INTEGER NOT NULL,
    PRIMARY KEY (org, pool, hour, store, channel, terminal, signer_org, kind, reason, currency)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_signer ON rollup (signer_org, hour);
CREATE INDEX IF NOT EXISTS rollup_hour ON rollup (hour);
CREATE TABLE IF NOT EXISTS rollup_day (
    hour INTEGER NOT NULL, org TEXT NOT NULL, pool TEXT NOT NULL, store TEXT NOT NULL,
    channel TEXT NOT NULL, terminal TEXT NOT NULL, signer_org TEXT NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, currency TEXT NOT NULL,
    n INTEGER NOT NULL, gross INTEGER NOT NULL, eligible INTEGER NOT NULL,
    discount INTEGER NOT NULL,
    PRIMARY KEY (org, pool, hour, store, channel, terminal, signer_org, kind, reason, currency)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_day_signer ON rollup_day (signer_org, hour);
CREATE INDEX IF NOT EXISTS rollup_day_hour ON rollup_day (hour);
CREATE TABLE IF NOT EXISTS redemptions (
    log_index INTEGER NOT NULL, idx INTEGER NOT NULL, height INTEGER NOT NULL,
    time_ms INTEGER NOT NULL, tx_id TEXT NOT NULL, org TEXT NOT NULL, pool TEXT NOT NULL,
    token TEXT, store TEXT NOT NULL, channel TEXT NOT NULL, terminal TEXT NOT NULL,
    signer_org TEXT NOT NULL, currency TEXT NOT NULL, order_total INTEGER,
    eligible INTEGER NOT NULL, discount INTEGER NOT NULL, rolled_back_height INTEGER,
    PRIMARY KEY (log_index, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS redemptions_org ON redemptions (org, log_index, idx);
CREATE INDEX IF NOT EXISTS redemptions_signer ON redemptions (signer_org, log_index, idx);
CREATE INDEX IF NOT EXISTS redemptions_pool ON redemptions (pool, time_ms);
CREATE INDEX IF NOT EXISTS redemptions_time ON redemptions (time_ms);
CREATE INDEX IF NOT EXISTS redemptions_tx ON redemptions (tx_id);
";

/// Opens `path` in WAL mode and creates the tables.
pub fn open(path: &Path) -> Result<Connection, AnalyticsError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(DDL)?;
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
                 DROP TABLE IF EXISTS redemptions; DELETE FROM meta;",
            )?;
            conn.execute_batch(DDL)?;
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
