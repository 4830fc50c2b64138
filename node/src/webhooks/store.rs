//! The webhook store: `<data_dir>/webhooks.sqlite`, SQLite in WAL mode, node-local.
//!
//! Tables: `endpoints` (URL, type filter, enabled or disabled with a reason, the delivery
//! cursor: the last event delivered, and the retry state of the event at the head),
//! `secrets` (a rotated-out secret keeps an expiry), `replays` (height ranges to deliver
//! again, with their own cursor) and `deliveries` (the delivery log, pruned to a number of
//! rows per endpoint). The node's event log is the outbox: a cursor only moves after the
//! receiver answered 2xx, in the same transaction as the log row, so a crash at any point
//! delivers again (at least once) and never skips.

use super::WebhookError;
use super::signature::new_secret;
use couponcactus_chaincode::events::{EventId, EventType};
use couponcactus_chaincode::ids::OrgId;
use rand::RngCore as _;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use utoipa::ToSchema;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS endpoints (
  id TEXT PRIMARY KEY,
  org TEXT NOT NULL,
  url TEXT NOT NULL,
  types TEXT NOT NULL,
  description TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  disabled_reason TEXT,
  disabled_at_ms INTEGER,
  created_ms INTEGER NOT NULL,
  cursor_log INTEGER,
  cursor_idx INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  failing_since_ms INTEGER,
  next_attempt_ms INTEGER,
  last_error TEXT,
  delivered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS secrets (
  endpoint TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER
);
CREATE INDEX IF NOT EXISTS secrets_by_endpoint ON secrets(endpoint);
CREATE TABLE IF NOT EXISTS replays (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint TEXT NOT NULL,
  from_height INTEGER NOT NULL,
  to_height INTEGER NOT NULL,
  cursor_log INTEGER,
  cursor_idx INTEGER,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint TEXT NOT NULL,
  event_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  replay INTEGER NOT NULL,
  status INTEGER,
  error TEXT,
  latency_ms INTEGER NOT NULL,
  time_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint ON deliveries(endpoint, id);
CREATE TABLE IF NOT EXISTS alert_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id TEXT NOT NULL UNIQUE,
  time_ms INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_cursors (
  endpoint TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
);
";

/// Alerts kept in the outbox (an endpoint further behind misses the oldest).
pub const KEEP_OUTBOX_ALERTS: i64 = 10_000;

/// Prune the delivery log every this many rows written.
const PRUNE_EVERY: u64 = 512;

/// An endpoint as the API lists it (never its secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    /// `ep_` and 16 hex digits.
    pub id: String,
    /// The org it belongs to (the node's org).
    #[schema(value_type = String)]
    pub org: OrgId,
    /// Where events are POSTed.
    pub url: String,
    /// Types delivered: ledger event types (`coupon.redeemed`, …) and
    /// [`super::ALERT_TYPE`] for the console's alerts; empty: every type.
    pub types: Vec<String>,
    /// Free text.
    pub description: String,
    /// Whether deliveries run.
    pub enabled: bool,
    /// Why it is disabled (by an admin, `410 Gone`, or five days of failures).
    pub disabled_reason: Option<String>,
    /// When it was disabled, ms since the Unix epoch.
    pub disabled_at_ms: Option<u64>,
    /// When it was registered, ms.
    pub created_ms: u64,
    /// The last event delivered (or skipped as not for this endpoint): deliveries resume
    /// after it. `None`: from the start of the log.
    #[schema(value_type = Option<String>)]
    pub cursor: Option<EventId>,
    /// Failed attempts of the event at the head.
    pub attempts: u32,
    /// Since when deliveries have been failing without a success, ms.
    pub failing_since_ms: Option<u64>,
    /// When the next attempt is due, ms.
    pub next_attempt_ms: Option<u64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Events delivered so far.
    pub delivered: u64,
    /// When the rotated-out secret stops being valid, ms (while one is).
    pub old_secret_expires_ms: Option<u64>,
    /// Replays waiting or running.
    pub pending_replays: u64,
}

/// One row of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// Row id (ascending with time; page with `before`).
    pub id: u64,
    /// The event (its `webhook-id`).
    pub event_id: String,
    /// Attempt number for this event, from 1.
    pub attempt: u32,
    /// Whether it was a replay.
    pub replay: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// What failed (connection, timeout, refused address, non-2xx).
    pub error: Option<String>,
    /// How long the attempt took, ms.
    pub latency_ms: u64,
    /// When it was made, ms since the Unix epoch.
    pub time_ms: u64,
}

/// A pending replay: heights `from_height..=to_height`, resumed after `cursor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// Row id.
    pub id: i64,
    /// First height.
    pub from_height: u64,
    /// Last height.
    pub to_height: u64,
    /// The last event re-delivered.
    pub cursor: Option<EventId>,
}

/// An alert waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxAlert {
    /// Its place in the outbox (an endpoint's alert cursor).
    pub seq: i64,
    /// The alert's id (its `webhook-id`).
    pub id: String,
    /// When the rule fired (block time), ms.
    pub time_ms: u64,
    /// The alert, JSON.
    pub body: String,
}

impl Endpoint {
    /// Whether it receives ledger events of `kind`.
    pub fn wants(&self, kind: EventType) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == kind.name())
    }

    /// Whether it receives the console's alerts.
    pub fn wants_alerts(&self) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == super::ALERT_TYPE)
    }
}

/// What a delivery attempt gave, for the log.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The event (unused when `alert` is set).
    pub event: EventId,
    /// The outbox alert delivered instead of the event: its place and id.
    pub alert: Option<(i64, String)>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The replay it belongs to.
    pub replay: Option<i64>,
    /// HTTP status, if any.
    pub status: Option<u16>,
    /// Error text, if it failed.
    pub error: Option<String>,
    /// Duration, ms.
    pub latency_ms: u64,
    /// When, ms.
    pub time_ms: u64,
}

/// The SQLite store (one connection; statements are short).
#[derive(Debug)]
pub struct WebhookStore {
    conn: Mutex<Connection>,
    written: AtomicU64,
}

fn cursor_of(log: Option<i64>, idx: Option<i64>) -> Option<EventId> {
    Some(EventId {
        log_index: log? as u64,
        index: idx? as u16,
    })
}

fn types_text(types: &[String]) -> String {
    types.join(",")
}

fn endpoint_of(row: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let types: String = row.get("types")?;
    Ok(Endpoint {
        id: row.get("id")?,
        org: OrgId(row.get("org")?),
        url: row.get("url")?,
        types: types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        description: row.get("description")?,
        enabled: row.get("enabled")?,
        disabled_reason: row.get("disabled_reason")?,
        disabled_at_ms: row
            .get::<_, Option<i64>>("disabled_at_ms")?
            .map(|v| v as u64),
        created_ms: row.get::<_, i64>("created_ms")? as u64,
        cursor: cursor_of(row.get("cursor_log")?, row.get("cursor_idx")?),
        attempts: row.get::<_, i64>("attempts")? as u32,
        failing_since_ms: row
            .get::<_, Option<i64>>("failing_since_ms")?
            .map(|v| v as u64),
        next_attempt_ms: row
            .get::<_, Option<i64>>("next_attempt_ms")?
            .map(|v| v as u64),
        last_error: row.get("last_error")?,
        delivered: row.get::<_, i64>("delivered")? as u64,
        old_secret_expires_ms: row.get::<_, Option<i64>>("old_expires")?.map(|v| v as u64),
        pending_replays: row.get::<_, i64>("pending_replays")? as u64,
    })
}

const SELECT_ENDPOINT: &str = "SELECT e.*, \
  (SELECT MAX(expires_ms) FROM secrets s WHERE s.endpoint = e.id AND s.expires_ms > ?1) AS old_expires, \
  (SELECT COUNT(*) FROM replays r WHERE r.endpoint = e.id) AS pending_replays \
  FROM endpoints e";

impl WebhookStore {
    /// Opens (creating) the store at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<WebhookStore, WebhookError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(WebhookStore {
            conn: Mutex::new(conn),
            written: AtomicU64::new(0),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an endpoint of `org` that starts after `cursor`; returns it and its secret
    /// (the only time the secret is shown).
    pub fn create(
        &self,
        org: &OrgId,
        url: &str,
        types: &[String],
        description: &str,
        cursor: Option<EventId>,
        now_ms: u64,
    ) -> Result<(Endpoint, String), WebhookError> {
        let mut raw = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id = format!("ep_{}", hex::encode(raw));
        let secret = new_secret();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO endpoints (id, org, url, types, description, enabled, created_ms, cursor_log, cursor_idx) \
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)",
            params![
                id,
                org.as_str(),
                url,
                types_text(types),
                description,
                now_ms as i64,
                cursor.map(|c| c.log_index as i64),
                cursor.map(|c| c.index as i64)
            ],
        )?;
        tx.execute(
            "INSERT INTO secrets (endpoint, secret, created_ms) VALUES (?1, ?2, ?3)",
            params![id, secret, now_ms as i64],
        )?;
        // Alerts raised from now on (alerts are live: none from before registration).
        tx.execute(
            "INSERT INTO alert_cursors (endpoint, seq) \
             SELECT ?1, COALESCE(MAX(seq), 0) FROM alert_outbox",
            params![id],
        )?;
        tx.commit()?;
        drop(conn);
        let endpoint = self
            .get(org, &id, now_ms)?
            .ok_or_else(|| WebhookError::NotFound(format!("endpoint {id} vanished")))?;
        Ok((endpoint, secret))
    }

    /// The endpoints of `org` (all orgs when `None`), oldest first.
    pub fn list(&self, org: Option<&OrgId>, now_ms: u64) -> Result<Vec<Endpoint>, WebhookError> {
        let conn = self.conn();
        let sql =
            format!("{SELECT_ENDPOINT} WHERE ?2 IS NULL OR e.org = ?2 ORDER BY e.created_ms, e.id");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now_ms as i64, org.map(|o| o.as_str())], endpoint_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One endpoint of `org`.
    pub fn get(
        &self,
        org: &OrgId,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Endpoint>, WebhookError> {
        let conn = self.conn();
        let sql = format!("{SELECT_ENDPOINT} WHERE e.org = ?2 AND e.id = ?3");
        let mut stmt = conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(params![now_ms as i64, org.as_str(), id], endpoint_of)
            .optional()?)
    }

    /// One endpoint by id, whatever its org (the dispatcher's read).
    pub fn endpoint(&self, id: &str, now_ms: u64) -> Result<Option<Endpoint>, WebhookError> {
        let conn = self.conn();
        let sql = format!("{SELECT_ENDPOINT} WHERE e.id = ?2");
        let mut stmt = conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(params![now_ms as i64, id], endpoint_of)
            .optional()?)
    }

    fn require(&self, org: &OrgId, id: &str, now_ms: u64) -> Result<Endpoint, WebhookError> {
        self.get(org, id, now_ms)?
            .ok_or_else(|| WebhookError::NotFound(format!("no webhook endpoint {id} in org {org}")))
    }

    /// The secrets valid at `now_ms`, newest first.
    pub fn valid_secrets(&self, id: &str, now_ms: u64) -> Result<Vec<String>, WebhookError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT secret FROM secrets WHERE endpoint = ?1 AND (expires_ms IS NULL OR expires_ms > ?2) \
             ORDER BY created_ms DESC, rowid DESC",
        )?;
        let rows = stmt.query_map(params![id, now_ms as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A new secret for the endpoint; the current ones stay valid `old_ttl_ms` more
    /// (shortened, never lengthened), expired ones are dropped. Returns the new secret.
    pub fn rotate(
        &self,
        org: &OrgId,
        id: &str,
        old_ttl_ms: u64,
        now_ms: u64,
    ) -> Result<String, WebhookError> {
        self.require(org, id, now_ms)?;
        let secret = new_secret();
        let expires = now_ms.saturating_add(old_ttl_ms) as i64;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM secrets WHERE endpoint = ?1 AND expires_ms IS NOT NULL AND expires_ms <= ?2",
            params![id, now_ms as i64],
        )?;
        tx.execute(
            "UPDATE secrets SET expires_ms = MIN(COALESCE(expires_ms, ?2), ?2) WHERE endpoint = ?1",
            params![id, expires],
        )?;
        tx.execute(
            "INSERT INTO secrets (endpoint, secret, created_ms) VALUES (?1, ?2, ?3)",
            params![id, secret, now_ms as i64],
        )?;
        tx.commit()?;
        Ok(secret)
    }

    /// Enables (clearing the retry state: the head event is tried at once) or disables an
    /// endpoint of `org`.
    pub fn set_enabled(
        &self,
        org: &OrgId,
        id: &str,
        enabled: bool,
        reason: Option<&str>,
        now_ms: u64,
    ) -> Result<Endpoint, WebhookError> {
        self.require(org, id, now_ms)?;
        if enabled {
            self.conn().execute(
                "UPDATE endpoints SET enabled = 1, disabled_reason = NULL, disabled_at_ms = NULL, \
                 attempts = 0, failing_since_ms = NULL, next_attempt_ms = NULL WHERE id = ?1",
                params![id],
            )?;
        } else {
            self.disable(id, reason.unwrap_or("disabled by an org admin"), now_ms)?;
        }
        self.require(org, id, now_ms)
    }

    /// Disables an endpoint with `reason` (an admin, `410 Gone`, five days of failures).
    pub fn disable(&self, id: &str, reason: &str, now_ms: u64) -> Result<(), WebhookError> {
        self.conn().execute(
            "UPDATE endpoints SET enabled = 0, disabled_reason = ?2, disabled_at_ms = ?3 WHERE id = ?1",
            params![id, reason, now_ms as i64],
        )?;
        Ok(())
    }

    /// Queues a replay of heights `from..=to` for an endpoint of `org`.
    pub fn add_replay(
        &self,
        org: &OrgId,
        id: &str,
        from: u64,
        to: u64,
        now_ms: u64,
    ) -> Result<Endpoint, WebhookError> {
        self.require(org, id, now_ms)?;
        self.conn().execute(
            "INSERT INTO replays (endpoint, from_height, to_height, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![id, from as i64, to as i64, now_ms as i64],
        )?;
        self.require(org, id, now_ms)
    }

    /// The oldest pending replay of an endpoint.
    pub fn next_replay(&self, id: &str) -> Result<Option<Replay>, WebhookError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, from_height, to_height, cursor_log, cursor_idx FROM replays \
             WHERE endpoint = ?1 ORDER BY id LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![id], |r| {
                Ok(Replay {
                    id: r.get(0)?,
                    from_height: r.get::<_, i64>(1)? as u64,
                    to_height: r.get::<_, i64>(2)? as u64,
                    cursor: cursor_of(r.get(3)?, r.get(4)?),
                })
            })
            .optional()?)
    }

    /// Moves a replay's cursor (events skipped by the filter), or ends it (`None`).
    pub fn advance_replay(&self, replay: i64, cursor: Option<EventId>) -> Result<(), WebhookError> {
        let conn = self.conn();
        match cursor {
            Some(c) => conn.execute(
                "UPDATE replays SET cursor_log = ?2, cursor_idx = ?3 WHERE id = ?1",
                params![replay, c.log_index as i64, c.index as i64],
            )?,
            None => conn.execute("DELETE FROM replays WHERE id = ?1", params![replay])?,
        };
        Ok(())
    }

    /// Moves the live cursor past events not for this endpoint.
    pub fn skip_to(&self, id: &str, cursor: EventId) -> Result<(), WebhookError> {
        self.conn().execute(
            "UPDATE endpoints SET cursor_log = ?2, cursor_idx = ?3 WHERE id = ?1",
            params![id, cursor.log_index as i64, cursor.index as i64],
        )?;
        Ok(())
    }

    /// Records a 2xx: the log row, the cursor (live or the replay's) past the event and a
    /// clear retry state, in one transaction.
    pub fn record_success(
        &self,
        id: &str,
        a: &Attempt,
        keep_rows: u64,
    ) -> Result<(), WebhookError> {
        self.record_successes(id, std::slice::from_ref(a), keep_rows)
    }

    /// Records consecutive 2xx answers (in delivery order, of one replay or none) in one
    /// transaction: their log rows, the cursor past the last, a clear retry state.
    pub fn record_successes(
        &self,
        id: &str,
        done: &[Attempt],
        keep_rows: u64,
    ) -> Result<(), WebhookError> {
        let Some(a) = done.last() else {
            return Ok(());
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for row in done {
            insert_delivery(&tx, id, row)?;
        }
        let (log, idx) = (a.event.log_index as i64, a.event.index as i64);
        match (&a.alert, a.replay) {
            (Some((seq, _)), _) => tx.execute(
                "UPDATE alert_cursors SET seq = ?2 WHERE endpoint = ?1",
                params![id, seq],
            )?,
            (None, Some(r)) => tx.execute(
                "UPDATE replays SET cursor_log = ?2, cursor_idx = ?3 WHERE id = ?1",
                params![r, log, idx],
            )?,
            (None, None) => tx.execute(
                "UPDATE endpoints SET cursor_log = ?2, cursor_idx = ?3 WHERE id = ?1",
                params![id, log, idx],
            )?,
        };
        tx.execute(
            "UPDATE endpoints SET attempts = 0, failing_since_ms = NULL, next_attempt_ms = NULL, \
             last_error = NULL, delivered = delivered + ?2 WHERE id = ?1",
            params![id, done.len() as i64],
        )?;
        tx.commit()?;
        drop(conn);
        self.maybe_prune(id, keep_rows, done.len() as u64)
    }

    /// Records a failed attempt and when to try again.
    pub fn record_failure(
        &self,
        id: &str,
        a: &Attempt,
        next_ms: u64,
        keep_rows: u64,
    ) -> Result<(), WebhookError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_delivery(&tx, id, a)?;
        tx.execute(
            "UPDATE endpoints SET attempts = ?2, failing_since_ms = COALESCE(failing_since_ms, ?3), \
             next_attempt_ms = ?4, last_error = ?5 WHERE id = ?1",
            params![id, a.attempt as i64, a.time_ms as i64, next_ms as i64, a.error],
        )?;
        tx.commit()?;
        drop(conn);
        self.maybe_prune(id, keep_rows, 1)
    }

    /// The delivery log of an endpoint of `org`, newest first, `limit` rows before row
    /// `before` (from the newest when `None`).
    pub fn deliveries(
        &self,
        org: &OrgId,
        id: &str,
        limit: u64,
        before: Option<u64>,
        now_ms: u64,
    ) -> Result<Vec<Delivery>, WebhookError> {
        self.require(org, id, now_ms)?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, event_id, attempt, replay, status, error, latency_ms, time_ms FROM deliveries \
             WHERE endpoint = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
        )?;
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let rows = stmt.query_map(params![id, before, limit as i64], |r| {
            Ok(Delivery {
                id: r.get::<_, i64>(0)? as u64,
                event_id: r.get(1)?,
                attempt: r.get::<_, i64>(2)? as u32,
                replay: r.get(3)?,
                status: r.get::<_, Option<i64>>(4)?.map(|s| s as u16),
                error: r.get(5)?,
                latency_ms: r.get::<_, i64>(6)? as u64,
                time_ms: r.get::<_, i64>(7)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn maybe_prune(&self, id: &str, keep_rows: u64, rows: u64) -> Result<(), WebhookError> {
        let before = self.written.fetch_add(rows, Ordering::Relaxed);
        if before / PRUNE_EVERY != (before + rows) / PRUNE_EVERY {
            self.prune(id, keep_rows)?;
        }
        Ok(())
    }

    /// Keeps the newest `keep_rows` delivery-log rows of an endpoint.
    pub fn prune(&self, id: &str, keep_rows: u64) -> Result<usize, WebhookError> {
        Ok(self.conn().execute(
            "DELETE FROM deliveries WHERE endpoint = ?1 AND id <= \
             (SELECT id FROM deliveries WHERE endpoint = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![id, keep_rows as i64],
        )?)
    }
}

impl WebhookStore {
    /// Puts alerts in the outbox (`(id, time_ms, body)`; an id already there is kept
    /// once), keeping the newest [`KEEP_OUTBOX_ALERTS`]; how many were new.
    pub fn enqueue_alerts(&self, alerts: &[(String, u64, String)]) -> Result<usize, WebhookError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut added = 0;
        for (id, time_ms, body) in alerts {
            added += tx.execute(
                "INSERT OR IGNORE INTO alert_outbox (alert_id, time_ms, body) VALUES (?1, ?2, ?3)",
                params![id, *time_ms as i64, body],
            )?;
        }
        tx.execute(
            "DELETE FROM alert_outbox WHERE seq <= (SELECT MAX(seq) FROM alert_outbox) - ?1",
            params![KEEP_OUTBOX_ALERTS],
        )?;
        tx.commit()?;
        Ok(added)
    }

    /// The next `limit` outbox alerts endpoint `id` has not received, oldest first.
    pub fn alerts_after(&self, id: &str, limit: usize) -> Result<Vec<OutboxAlert>, WebhookError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.seq, o.alert_id, o.time_ms, o.body FROM alert_outbox o \
             JOIN alert_cursors c ON c.endpoint = ?1 WHERE o.seq > c.seq ORDER BY o.seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![id, limit as i64], |r| {
            Ok(OutboxAlert {
                seq: r.get(0)?,
                id: r.get(1)?,
                time_ms: r.get::<_, i64>(2)?.max(0) as u64,
                body: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn insert_delivery(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    a: &Attempt,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO deliveries (endpoint, event_id, attempt, replay, status, error, latency_ms, time_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            match &a.alert {
                Some((_, alert)) => alert.clone(),
                None => a.event.to_string(),
            },
            a.attempt as i64,
            a.replay.is_some(),
            a.status.map(i64::from),
            a.error,
            a.latency_ms as i64,
            a.time_ms as i64
        ],
    )
}

#[cfg(test)]
mod tests;
