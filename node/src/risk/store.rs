//! The scorer's file, `risk.sqlite` in the node's data directory: the flagged
//! redemptions and attempts (the review queue's source and what a backtest is compared
//! with) and the engine's memory with the event-log cursor it has read up to.
//!
//! - `flags`: one row per flagged event (score at or above the review threshold), by
//!   event id, with the assessment as JSON and what the node did about it (`action`);
//!   the newest [`KEEP_FLAGS`] are kept.
//! - `labels`: one row per review of one of the org's holds the scorer saw (a hold
//!   confirmed: fraud; lifted while pending review: not fraud), by event id, with its
//!   subject; the newest [`KEEP_LABELS`] are kept. The same labels reach the engine's
//!   anomaly model ([`super::anomaly`]) in log order, live and in a backtest alike.
//! - `scorer`: one row, the cursor and the engine (bincode), saved at most every
//!   [`super::follow::SAVE_EVERY`]; after a restart the scorer reads again from that
//!   cursor, and the flags it finds again are already there (an event id once), so
//!   nothing is raised or held twice.

use super::engine::{Assessment, Engine};
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::events::EventId;
use couponcactus_chaincode::risk::HoldTarget;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Flags kept.
pub const KEEP_FLAGS: i64 = 100_000;
/// Labels kept.
pub const KEEP_LABELS: i64 = 100_000;
/// The scorer's file's name.
pub const RISK_FILE: &str = "risk.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS flags (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    time_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    action TEXT
);
CREATE TABLE IF NOT EXISTS labels (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    time_ms INTEGER NOT NULL,
    height INTEGER NOT NULL,
    subject TEXT NOT NULL,
    fraud INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scorer (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    cursor TEXT,
    state BLOB NOT NULL
);
";

/// What can go wrong in the scorer's file.
#[derive(Debug, thiserror::Error)]
pub enum RiskStoreError {
    /// SQLite failed.
    #[error("risk store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A saved value does not read back.
    #[error("risk store: {0}")]
    Corrupt(String),
}

/// A flagged event: where and what, and its assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// The event (`log_index:index`).
    pub event_id: String,
    /// Block time.
    pub time_ms: u64,
    /// Block height.
    pub height: u64,
    /// The tx (hex).
    pub tx_id: String,
    /// `coupon.redeemed` or `tx.rejected`.
    pub event_type: String,
    /// The pool, when known.
    pub pool: Option<String>,
    /// The store, when known.
    pub store: Option<String>,
    /// The score, reasons, subject and verdict.
    pub assessment: Assessment,
}

/// A review of one of the org's holds, as a label for the anomaly model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The `hold.confirmed` or `hold.lifted` event (`log_index:index`).
    pub event_id: String,
    /// Block time.
    pub time_ms: u64,
    /// Block height.
    pub height: u64,
    /// The member, terminal or code held.
    pub subject: HoldTarget,
    /// Confirmed (fraud) or lifted while pending review (not fraud).
    pub fraud: bool,
}

/// How many labels of each kind the file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LabelTotals {
    /// Holds confirmed.
    pub fraud: u64,
    /// Holds lifted while pending review.
    pub honest: u64,
}

/// A flag and what was done about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRow {
    /// The flag.
    pub flag: Flag,
    /// `hold requested (tx …)`, `shadow`, `no risk key`, or why a hold was not sent.
    pub action: Option<String>,
}

/// The scorer's file.
#[derive(Debug)]
pub struct RiskStore {
    conn: Mutex<Connection>,
}

fn corrupt(e: impl std::fmt::Display) -> RiskStoreError {
    RiskStoreError::Corrupt(e.to_string())
}

impl RiskStore {
    /// Opens (creating) the scorer's file at `path`.
    pub fn open(path: &Path) -> Result<RiskStore, RiskStoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(RiskStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The saved cursor and engine (`None`: the scorer never saved).
    pub fn progress(&self) -> Result<Option<(Option<EventId>, Engine)>, RiskStoreError> {
        let row: Option<(Option<String>, Vec<u8>)> = self
            .conn()
            .query_row("SELECT cursor, state FROM scorer WHERE one = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((cursor, state)) = row else {
            return Ok(None);
        };
        let cursor = cursor.map(|c| c.parse().map_err(corrupt)).transpose()?;
        let engine = decode(&state).map_err(corrupt)?;
        Ok(Some((cursor, engine)))
    }

    /// Saves the cursor and the engine that read up to it.
    pub fn save(&self, cursor: Option<EventId>, engine: &Engine) -> Result<(), RiskStoreError> {
        self.conn().execute(
            "INSERT INTO scorer (one, cursor, state) VALUES (1, ?1, ?2) \
             ON CONFLICT(one) DO UPDATE SET cursor = ?1, state = ?2",
            params![cursor.map(|c| c.to_string()), encode(engine)],
        )?;
        Ok(())
    }

    /// Saves flags; returns those not saved before.
    pub fn add(&self, flags: &[Flag]) -> Result<Vec<Flag>, RiskStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut fresh = Vec::new();
        for f in flags {
            let body = serde_json::to_string(f).map_err(corrupt)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO flags (event_id, time_ms, body) VALUES (?1, ?2, ?3)",
                params![f.event_id, f.time_ms as i64, body],
            )?;
            if n == 1 {
                fresh.push(f.clone());
            }
        }
        tx.execute(
            "DELETE FROM flags WHERE seq <= (SELECT MAX(seq) FROM flags) - ?1",
            params![KEEP_FLAGS],
        )?;
        tx.commit()?;
        Ok(fresh)
    }

    /// Saves labels (an event id once); returns how many were new.
    pub fn add_labels(&self, labels: &[Label]) -> Result<usize, RiskStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut fresh = 0;
        for l in labels {
            let subject = serde_json::to_string(&l.subject).map_err(corrupt)?;
            fresh += tx.execute(
                "INSERT OR IGNORE INTO labels (event_id, time_ms, height, subject, fraud) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    l.event_id,
                    l.time_ms as i64,
                    l.height as i64,
                    subject,
                    l.fraud
                ],
            )?;
        }
        tx.execute(
            "DELETE FROM labels WHERE seq <= (SELECT MAX(seq) FROM labels) - ?1",
            params![KEEP_LABELS],
        )?;
        tx.commit()?;
        Ok(fresh)
    }

    /// The newest `limit` labels, newest first.
    pub fn labels(&self, limit: usize) -> Result<Vec<Label>, RiskStoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT event_id, time_ms, height, subject, fraud FROM labels \
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (event_id, time_ms, height, subject, fraud) = row?;
            out.push(Label {
                event_id,
                time_ms: time_ms as u64,
                height: height as u64,
                subject: serde_json::from_str(&subject).map_err(corrupt)?,
                fraud,
            });
        }
        Ok(out)
    }

    /// Labels of each kind in the file.
    pub fn label_totals(&self) -> Result<LabelTotals, RiskStoreError> {
        let (fraud, honest): (i64, i64) = self.conn().query_row(
            "SELECT COALESCE(SUM(fraud), 0), COALESCE(SUM(1 - fraud), 0) FROM labels",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(LabelTotals {
            fraud: fraud as u64,
            honest: honest as u64,
        })
    }

    /// Records what was done about the flag of `event_id`.
    pub fn set_action(&self, event_id: &str, action: &str) -> Result<(), RiskStoreError> {
        self.conn().execute(
            "UPDATE flags SET action = ?2 WHERE event_id = ?1",
            params![event_id, action],
        )?;
        Ok(())
    }

    /// The newest `limit` flags, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<FlagRow>, RiskStoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT body, action FROM flags ORDER BY seq DESC LIMIT ?1")?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (body, action) = row?;
            let flag = serde_json::from_str(&body).map_err(corrupt)?;
            out.push(FlagRow { flag, action });
        }
        Ok(out)
    }
}
