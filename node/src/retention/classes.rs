//! The data classes that exist now, each deleting its own rows past a cutoff:
//!
//! - [`WebhookDeliveries`]: `webhooks.sqlite`, table `deliveries` (by `time_ms`). Rows
//!   name an endpoint and an event, never a member: a member hold keeps none of them, a
//!   hold of the class (or `all`) keeps them all.
//! - [`AccessLogEntries`]: `access-log.sqlite` (by `time_ms`; a member hold keeps the
//!   entries whose path named that member).
//! - [`AnalyticsDetail`]: `analytics.sqlite`, the rows that name a member or one
//!   redemption: `redemptions` (by `time_ms`), `member_days` and `checkouts` (by day,
//!   whole days before the cutoff's day). The hourly and daily rollups are sums without
//!   members and stay. A `cactusd reindex` rebuilds the detail from the chain; the next
//!   pass deletes it again.
//!
//! Each opens its own connection to the store's file (WAL: the store's own writer goes on)
//! and never creates a file that is not there.

use super::{
    ACCESS_LOG, ANALYTICS_DETAIL, ClassHolds, DAY_MS, RetentionClass, RetentionError,
    WEBHOOK_DELIVERIES,
};
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The file's connection, or `None` when there is no such file yet.
fn open_existing(path: &Path, what: &'static str) -> Result<Option<Connection>, RetentionError> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(RetentionError::sql(what))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(RetentionError::sql(what))?;
    Ok(Some(conn))
}

/// The held members as a JSON array, for `json_each`.
fn held_json(holds: &ClassHolds) -> String {
    serde_json::to_string(&holds.members).unwrap_or_else(|_| "[]".into())
}

/// Webhook delivery-log rows.
#[derive(Debug)]
pub struct WebhookDeliveries {
    path: PathBuf,
}

impl WebhookDeliveries {
    /// The class over `<data_dir>/webhooks.sqlite`.
    pub fn new(data_dir: &Path) -> WebhookDeliveries {
        WebhookDeliveries {
            path: data_dir.join(crate::webhooks::STORE_FILE),
        }
    }
}

impl RetentionClass for WebhookDeliveries {
    fn name(&self) -> &'static str {
        WEBHOOK_DELIVERIES
    }

    fn purge(&self, cutoff_ms: u64, holds: &ClassHolds, limit: u64) -> Result<u64, RetentionError> {
        const WHAT: &str = "webhook store";
        if holds.all {
            return Ok(0);
        }
        let Some(conn) = open_existing(&self.path, WHAT)? else {
            return Ok(0);
        };
        let n = conn
            .execute(
                "DELETE FROM deliveries WHERE id IN \
                 (SELECT id FROM deliveries WHERE time_ms < ?1 ORDER BY id LIMIT ?2)",
                params![to_sql(cutoff_ms), to_sql(limit)],
            )
            .map_err(RetentionError::sql(WHAT))?;
        Ok(n as u64)
    }
}

/// Access-log entries.
#[derive(Debug)]
pub struct AccessLogEntries {
    store: Arc<crate::access_log::store::AccessLogStore>,
}

impl AccessLogEntries {
    /// The class over the node's access log.
    pub fn new(store: Arc<crate::access_log::store::AccessLogStore>) -> AccessLogEntries {
        AccessLogEntries { store }
    }
}

impl RetentionClass for AccessLogEntries {
    fn name(&self) -> &'static str {
        ACCESS_LOG
    }

    fn purge(&self, cutoff_ms: u64, holds: &ClassHolds, limit: u64) -> Result<u64, RetentionError> {
        Ok(self.store.purge(cutoff_ms, holds, limit)?)
    }
}

/// Analytics detail rows.
#[derive(Debug)]
pub struct AnalyticsDetail {
    path: PathBuf,
}

impl AnalyticsDetail {
    /// The class over the analytics store at `path` ([`crate::analytics::analytics_path`]).
    pub fn new(path: PathBuf) -> AnalyticsDetail {
        AnalyticsDetail { path }
    }
}

/// The detail tables: name, the condition that a row is past the cutoff (`?1` ms, `?2`
/// the cutoff's day), and its key columns.
const DETAIL_TABLES: [(&str, &str, &str); 3] = [
    ("redemptions", "time_ms < ?1", "log_index, idx"),
    (
        "member_days",
        "day < ?2",
        "org, member, day, kind, pool, store",
    ),
    ("checkouts", "day < ?2", "tx_key, tx_id"),
];

impl RetentionClass for AnalyticsDetail {
    fn name(&self) -> &'static str {
        ANALYTICS_DETAIL
    }

    fn purge(&self, cutoff_ms: u64, holds: &ClassHolds, limit: u64) -> Result<u64, RetentionError> {
        const WHAT: &str = "analytics store";
        if holds.all {
            return Ok(0);
        }
        let Some(mut conn) = open_existing(&self.path, WHAT)? else {
            return Ok(0);
        };
        let tx = conn.transaction().map_err(RetentionError::sql(WHAT))?;
        let held = held_json(holds);
        let mut deleted = 0u64;
        for (table, due, key) in DETAIL_TABLES {
            let left = limit.saturating_sub(deleted);
            if left == 0 {
                break;
            }
            let sql = format!(
                "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {due} \
                 AND (member IS NULL OR member NOT IN (SELECT value FROM json_each(?3))) LIMIT ?4)"
            );
            let n = tx
                .execute(
                    &sql,
                    params![
                        to_sql(cutoff_ms),
                        to_sql(cutoff_ms / DAY_MS),
                        held,
                        to_sql(left)
                    ],
                )
                .map_err(RetentionError::sql(WHAT))?;
            deleted += n as u64;
        }
        tx.commit().map_err(RetentionError::sql(WHAT))?;
        Ok(deleted)
    }
}
