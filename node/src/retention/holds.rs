//! The retention store: `<data_dir>/retention.sqlite`, SQLite in WAL mode, node-local.
//!
//! `holds`: legal holds (class or `all`, optionally one member, reason, who placed it and
//! when); a removed hold keeps its row with who removed it and when, so the store is its
//! own record of what was held. `runs`: per class, the last pass, what it deleted and the
//! running total. `meta`: the time of the last pass.

use super::{ALL_CLASSES, CLASSES, RetentionError};
use couponcactus_chaincode::ids::MemberId;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use utoipa::ToSchema;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS holds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  class TEXT NOT NULL,
  member TEXT,
  reason TEXT NOT NULL,
  placed_by TEXT NOT NULL,
  placed_ms INTEGER NOT NULL,
  removed_by TEXT,
  removed_ms INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
  class TEXT PRIMARY KEY,
  last_run_ms INTEGER NOT NULL,
  last_deleted INTEGER NOT NULL,
  deleted_total INTEGER NOT NULL,
  last_error TEXT
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
";

/// Longest hold reason, characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Most holds in force at once (each is a condition on every purge).
pub const MAX_HOLDS: u64 = 1_000;
const WHAT: &str = "retention store";

/// A legal hold in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Hold {
    /// Its id.
    pub id: u64,
    /// The class it keeps (`webhook_deliveries`, `access_log`, `analytics_detail`,
    /// `directory_inactive`) or `all`.
    pub class: String,
    /// Only this member's rows (lowercase hex id); `null`: the whole class.
    pub member: Option<String>,
    /// Why (a case or request reference).
    pub reason: String,
    /// Who placed it (a key's hex, or `cli` for the operator on the node).
    pub placed_by: String,
    /// When, ms since the Unix epoch.
    pub placed_ms: u64,
}

/// The last pass over one class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    /// When, ms since the Unix epoch.
    pub last_run_ms: u64,
    /// Rows it deleted.
    pub last_deleted: u64,
    /// Rows deleted over every pass.
    pub deleted_total: u64,
    /// Why it failed, if it did.
    pub last_error: Option<String>,
}

/// A new hold after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHold {
    /// Class or `all`.
    pub class: String,
    /// A member's lowercase hex id.
    pub member: Option<String>,
    /// Why.
    pub reason: String,
}

impl NewHold {
    /// Checks a hold request: a known class or `all`, a member id of 64 hex digits, a
    /// reason of 1 to [`MAX_REASON_CHARS`] characters.
    pub fn new(class: &str, member: Option<&str>, reason: &str) -> Result<NewHold, RetentionError> {
        let class = class.trim();
        if class != ALL_CLASSES && !CLASSES.contains(&class) {
            return Err(RetentionError::InvalidInput(format!(
                "unknown class {:?}: use {} or {ALL_CLASSES}",
                class.chars().take(40).collect::<String>(),
                CLASSES.join(", ")
            )));
        }
        let member = match member {
            None => None,
            Some(m) => Some(
                m.trim()
                    .parse::<MemberId>()
                    .map_err(|e| RetentionError::InvalidInput(format!("member: {e}")))?
                    .to_hex(),
            ),
        };
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(RetentionError::InvalidInput(format!(
                "a hold needs a reason of 1 to {MAX_REASON_CHARS} characters"
            )));
        }
        Ok(NewHold {
            class: class.to_string(),
            member,
            reason: reason.to_string(),
        })
    }
}

/// The retention store.
#[derive(Debug)]
pub struct HoldStore {
    conn: Mutex<Connection>,
}

fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn hold_of(row: &Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        id: row.get::<_, i64>("id")?.max(0) as u64,
        class: row.get("class")?,
        member: row.get("member")?,
        reason: row.get("reason")?,
        placed_by: row.get("placed_by")?,
        placed_ms: row.get::<_, i64>("placed_ms")?.max(0) as u64,
    })
}

impl HoldStore {
    /// Opens (creating) the store at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<HoldStore, RetentionError> {
        let sql = RetentionError::sql(WHAT);
        let conn = Connection::open(path).map_err(RetentionError::sql(WHAT))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(sql)?;
        Ok(HoldStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Places `hold`, placed by `by` at `now_ms`.
    pub fn place(&self, hold: &NewHold, by: &str, now_ms: u64) -> Result<Hold, RetentionError> {
        let conn = self.conn();
        let in_force: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM holds WHERE removed_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(RetentionError::sql(WHAT))?;
        if in_force.max(0) as u64 >= MAX_HOLDS {
            return Err(RetentionError::InvalidInput(format!(
                "{MAX_HOLDS} holds are in force: remove one first"
            )));
        }
        conn.execute(
            "INSERT INTO holds (class, member, reason, placed_by, placed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hold.class, hold.member, hold.reason, by, to_sql(now_ms)],
        )
        .map_err(RetentionError::sql(WHAT))?;
        Ok(Hold {
            id: conn.last_insert_rowid().max(0) as u64,
            class: hold.class.clone(),
            member: hold.member.clone(),
            reason: hold.reason.clone(),
            placed_by: by.to_string(),
            placed_ms: now_ms,
        })
    }

    /// The holds in force, oldest first.
    pub fn list(&self) -> Result<Vec<Hold>, RetentionError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT * FROM holds WHERE removed_ms IS NULL ORDER BY id")
            .map_err(RetentionError::sql(WHAT))?;
        let rows = stmt
            .query_map([], hold_of)
            .map_err(RetentionError::sql(WHAT))?;
        rows.collect::<Result<_, _>>()
            .map_err(RetentionError::sql(WHAT))
    }

    /// Lifts hold `id` (its row stays, marked removed by `by`); the hold as it was.
    pub fn remove(&self, id: u64, by: &str, now_ms: u64) -> Result<Hold, RetentionError> {
        let conn = self.conn();
        let hold = conn
            .query_row(
                "SELECT * FROM holds WHERE id = ?1 AND removed_ms IS NULL",
                params![to_sql(id)],
                hold_of,
            )
            .optional()
            .map_err(RetentionError::sql(WHAT))?
            .ok_or_else(|| RetentionError::NotFound(format!("no hold {id} in force")))?;
        conn.execute(
            "UPDATE holds SET removed_by = ?2, removed_ms = ?3 WHERE id = ?1",
            params![to_sql(id), by, to_sql(now_ms)],
        )
        .map_err(RetentionError::sql(WHAT))?;
        Ok(hold)
    }

    /// Records a pass over `class` that deleted `deleted` rows (or failed with `error`).
    pub fn record_run(
        &self,
        class: &str,
        now_ms: u64,
        deleted: u64,
        error: Option<&str>,
    ) -> Result<(), RetentionError> {
        self.conn()
            .execute(
                "INSERT INTO runs (class, last_run_ms, last_deleted, deleted_total, last_error) \
                 VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT(class) DO UPDATE SET \
                 last_run_ms = ?2, last_deleted = ?3, deleted_total = deleted_total + ?3, last_error = ?4",
                params![class, to_sql(now_ms), to_sql(deleted), error],
            )
            .map_err(RetentionError::sql(WHAT))?;
        Ok(())
    }

    /// The last pass over `class`, if any.
    pub fn run(&self, class: &str) -> Result<Option<Run>, RetentionError> {
        self.conn()
            .query_row("SELECT * FROM runs WHERE class = ?1", params![class], |r| {
                Ok(Run {
                    last_run_ms: r.get::<_, i64>("last_run_ms")?.max(0) as u64,
                    last_deleted: r.get::<_, i64>("last_deleted")?.max(0) as u64,
                    deleted_total: r.get::<_, i64>("deleted_total")?.max(0) as u64,
                    last_error: r.get("last_error")?,
                })
            })
            .optional()
            .map_err(RetentionError::sql(WHAT))
    }

    /// Records the time of a pass.
    pub fn record_pass(&self, now_ms: u64) -> Result<(), RetentionError> {
        self.conn()
            .execute(
                "INSERT INTO meta (k, v) VALUES ('last_pass_ms', ?1) ON CONFLICT(k) DO UPDATE SET v = ?1",
                params![to_sql(now_ms)],
            )
            .map_err(RetentionError::sql(WHAT))?;
        Ok(())
    }

    /// The time of the last pass.
    pub fn last_pass(&self) -> Result<Option<u64>, RetentionError> {
        self.conn()
            .query_row("SELECT v FROM meta WHERE k = 'last_pass_ms'", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|v| v.map(|v| v.max(0) as u64))
            .map_err(RetentionError::sql(WHAT))
    }
}
