//! The alert tables of `console.sqlite`, on a connection of their own (the evaluator
//! writes while pages read sessions).
//!
//! - `alert_rules`: the org's rules (at most [`MAX_RULES`]).
//! - `alerts`: the alerts raised, newest [`KEEP_ALERTS`] kept; `forwarded` says whether an
//!   alert for webhooks was handed to the webhook outbox (handed again after a crash
//!   before it was marked: the outbox keeps an alert id once).
//! - `alert_engine`: one row, the event-log cursor the evaluator has read up to and the
//!   engine's memory, written in the same transaction as the alerts they produced, so a
//!   restart neither loses nor repeats an alert.

use super::rules::{Alert, Engine, MAX_RULES, Rule, RuleKind};
use crate::console::ConsoleError;
use couponcactus_chaincode::events::EventId;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Alerts kept (older ones are deleted as new ones come).
pub const KEEP_ALERTS: i64 = 10_000;
/// Longest rule name, characters.
pub const MAX_RULE_NAME: usize = 80;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_rules (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    pool TEXT,
    enabled INTEGER NOT NULL,
    webhooks INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    time_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    forwarded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS alert_engine (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    cursor TEXT,
    state TEXT NOT NULL
);
";

/// Where the evaluator stands: the last event read and the engine's memory.
#[derive(Debug, Default)]
pub struct Progress {
    /// The last event read (`None`: none yet).
    pub cursor: Option<EventId>,
    /// The engine (its rules are loaded separately).
    pub engine: Engine,
    /// Whether the evaluator ever ran (a first run starts at the log's end).
    pub started: bool,
}

/// The alert tables.
#[derive(Debug)]
pub struct AlertStore {
    conn: Mutex<Connection>,
}

fn sql_err(e: impl std::fmt::Display) -> ConsoleError {
    ConsoleError::Invalid(format!("alert store: {e}"))
}

fn rule_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Rule, String)> {
    let kind: String = row.get(2)?;
    let pool: Option<String> = row.get(3)?;
    let rule = Rule {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: RuleKind::LargeDiscount {
            above_minor: 0,
            currency: None,
        },
        pool: pool.and_then(|p| p.parse().ok()),
        enabled: row.get::<_, i64>(4)? != 0,
        webhooks: row.get::<_, i64>(5)? != 0,
        created_by: row.get(6)?,
        created_ms: row.get::<_, i64>(7)?.max(0) as u64,
    };
    Ok((rule, kind))
}

impl AlertStore {
    /// Opens the alert tables of the console store at `path` (creating them).
    pub fn open(path: &Path) -> Result<AlertStore, ConsoleError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(AlertStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves alerts raised outside the rules (fraud scores), without moving the
    /// evaluator's cursor; returns those not saved before.
    pub fn raise(&self, alerts: &[Alert]) -> Result<Vec<Alert>, ConsoleError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut fresh = Vec::new();
        for a in alerts {
            let body = serde_json::to_string(a).map_err(sql_err)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO alerts (id, time_ms, body, forwarded) VALUES (?1, ?2, ?3, ?4)",
                params![a.id, a.time_ms as i64, body, (!a.webhooks) as i64],
            )?;
            if n == 1 {
                fresh.push(a.clone());
            }
        }
        tx.execute(
            "DELETE FROM alerts WHERE seq <= (SELECT MAX(seq) FROM alerts) - ?1",
            params![KEEP_ALERTS],
        )?;
        tx.commit()?;
        Ok(fresh)
    }

    /// Every rule, oldest first.
    pub fn rules(&self) -> Result<Vec<Rule>, ConsoleError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, kind, pool, enabled, webhooks, created_by, created_ms \
             FROM alert_rules ORDER BY id",
        )?;
        let rows = stmt.query_map([], rule_of)?;
        let mut rules = Vec::new();
        for row in rows {
            let (mut rule, kind) = row?;
            rule.kind = serde_json::from_str(&kind).map_err(sql_err)?;
            rules.push(rule);
        }
        Ok(rules)
    }

    /// Adds a rule (its id and creation time are set here); the rule as stored.
    pub fn add_rule(&self, mut rule: Rule, now_ms: u64) -> Result<Rule, ConsoleError> {
        rule.kind.check().map_err(ConsoleError::Invalid)?;
        let name = rule.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_RULE_NAME {
            return Err(ConsoleError::Invalid(format!(
                "a rule needs a name of 1 to {MAX_RULE_NAME} characters"
            )));
        }
        let conn = self.conn();
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM alert_rules", [], |r| r.get(0))?;
        if count >= MAX_RULES as i64 {
            return Err(ConsoleError::Invalid(format!(
                "the org has {MAX_RULES} rules already: delete one first"
            )));
        }
        let kind = serde_json::to_string(&rule.kind).map_err(sql_err)?;
        conn.execute(
            "INSERT INTO alert_rules (name, kind, pool, enabled, webhooks, created_by, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                kind,
                rule.pool.as_ref().map(|p| p.to_string()),
                rule.enabled as i64,
                rule.webhooks as i64,
                rule.created_by,
                now_ms as i64
            ],
        )?;
        rule.id = conn.last_insert_rowid();
        rule.name = name;
        rule.created_ms = now_ms;
        Ok(rule)
    }

    /// Turns rule `id` on or off; whether it exists.
    pub fn set_enabled(&self, id: i64, enabled: bool) -> Result<bool, ConsoleError> {
        let n = self.conn().execute(
            "UPDATE alert_rules SET enabled = ?2 WHERE id = ?1",
            params![id, enabled as i64],
        )?;
        Ok(n == 1)
    }

    /// Deletes rule `id` (its past alerts stay); whether it existed.
    pub fn delete_rule(&self, id: i64) -> Result<bool, ConsoleError> {
        let n = self
            .conn()
            .execute("DELETE FROM alert_rules WHERE id = ?1", params![id])?;
        Ok(n == 1)
    }

    /// Where the evaluator stands.
    pub fn progress(&self) -> Result<Progress, ConsoleError> {
        let row: Option<(Option<String>, String)> = self
            .conn()
            .query_row(
                "SELECT cursor, state FROM alert_engine WHERE one = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((cursor, state)) = row else {
            return Ok(Progress::default());
        };
        Ok(Progress {
            cursor: cursor
                .map(|c| c.parse::<EventId>())
                .transpose()
                .map_err(sql_err)?,
            engine: serde_json::from_str(&state).map_err(sql_err)?,
            started: true,
        })
    }

    /// Saves `alerts` (an id seen before is kept once) with the cursor and the engine
    /// memory, in one transaction; the alerts that are new.
    pub fn record(
        &self,
        alerts: &[Alert],
        cursor: Option<EventId>,
        engine: &Engine,
    ) -> Result<Vec<Alert>, ConsoleError> {
        let state = serde_json::to_string(engine).map_err(sql_err)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut fresh = Vec::new();
        for a in alerts {
            let body = serde_json::to_string(a).map_err(sql_err)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO alerts (id, time_ms, body, forwarded) VALUES (?1, ?2, ?3, ?4)",
                params![a.id, a.time_ms as i64, body, (!a.webhooks) as i64],
            )?;
            if n == 1 {
                fresh.push(a.clone());
            }
        }
        if !fresh.is_empty() {
            tx.execute(
                "DELETE FROM alerts WHERE seq <= (SELECT MAX(seq) FROM alerts) - ?1",
                params![KEEP_ALERTS],
            )?;
        }
        tx.execute(
            "INSERT INTO alert_engine (one, cursor, state) VALUES (1, ?1, ?2) \
             ON CONFLICT(one) DO UPDATE SET cursor = ?1, state = ?2",
            params![cursor.map(|c| c.to_string()), state],
        )?;
        tx.commit()?;
        Ok(fresh)
    }

    /// The newest `limit` alerts, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Alert>, ConsoleError> {
        self.bodies("SELECT body FROM alerts ORDER BY seq DESC LIMIT ?1", limit)
    }

    /// Alerts for webhooks not yet handed to the outbox, oldest first (at most `limit`).
    pub fn unforwarded(&self, limit: usize) -> Result<Vec<Alert>, ConsoleError> {
        self.bodies(
            "SELECT body FROM alerts WHERE forwarded = 0 ORDER BY seq LIMIT ?1",
            limit,
        )
    }

    fn bodies(&self, sql: &str, limit: usize) -> Result<Vec<Alert>, ConsoleError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?).map_err(sql_err)?);
        }
        Ok(out)
    }

    /// Marks alerts as handed to the webhook outbox.
    pub fn mark_forwarded(&self, ids: &[String]) -> Result<(), ConsoleError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for id in ids {
            tx.execute("UPDATE alerts SET forwarded = 1 WHERE id = ?1", params![id])?;
        }
        tx.commit()?;
        Ok(())
    }
}
