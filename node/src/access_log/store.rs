//! The access log's store: `<data_dir>/access-log.sqlite`, SQLite in WAL mode, node-local.
//!
//! One table, `entries`: time, the actor (kind, key, console user, org, role), method,
//! route template, the path's ids as a JSON object and the `member` id among them (what a
//! legal hold on one member keeps), status and duration. Indexed by time (listings and
//! retention) and by org.

use super::{AccessLogError, Actor, Entry};
use crate::retention::ClassHolds;
use rusqlite::{Connection, Row, params};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  actor_kind TEXT NOT NULL,
  actor_key TEXT,
  actor_user TEXT,
  org TEXT,
  role TEXT,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  targets TEXT NOT NULL,
  member TEXT,
  status INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries(time_ms);
CREATE INDEX IF NOT EXISTS entries_by_org ON entries(org, id);
";

/// A listing: entries with `from_ms <= time_ms <= to_ms` and an id above `after`, of
/// `org` only when set, oldest first, at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Earliest time, ms.
    pub from_ms: u64,
    /// Latest time, ms.
    pub to_ms: u64,
    /// Only this org's entries (`None`: every entry).
    pub org: Option<String>,
    /// Entries with a larger id (paging).
    pub after: u64,
    /// Most entries.
    pub limit: u64,
}

/// The access log's SQLite file.
#[derive(Debug)]
pub struct AccessLogStore {
    conn: Mutex<Connection>,
}

fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn entry_of(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let targets: String = row.get("targets")?;
    Ok(Entry {
        id: row.get::<_, i64>("id")?.max(0) as u64,
        time_ms: row.get::<_, i64>("time_ms")?.max(0) as u64,
        actor: Actor {
            kind: row.get("actor_kind")?,
            key: row.get("actor_key")?,
            user: row.get("actor_user")?,
            org: row.get("org")?,
            role: row.get("role")?,
        },
        method: row.get("method")?,
        route: row.get("route")?,
        targets: serde_json::from_str(&targets).unwrap_or_default(),
        status: row.get::<_, i64>("status")?.clamp(0, 999) as u16,
        duration_ms: row.get::<_, i64>("duration_ms")?.max(0) as u64,
    })
}

impl AccessLogStore {
    /// Opens (creating) the store at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<AccessLogStore, AccessLogError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(AccessLogStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `entries` in one transaction (their ids are assigned here).
    pub fn insert(&self, entries: &[Entry]) -> Result<usize, AccessLogError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO entries (time_ms, actor_kind, actor_key, actor_user, org, role, \
                 method, route, targets, member, status, duration_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for e in entries {
                let targets = serde_json::to_string(&e.targets).unwrap_or_else(|_| "{}".into());
                stmt.execute(params![
                    to_sql(e.time_ms),
                    e.actor.kind,
                    e.actor.key,
                    e.actor.user,
                    e.actor.org,
                    e.actor.role,
                    e.method,
                    e.route,
                    targets,
                    e.targets.get("member").map(|m| m.to_ascii_lowercase()),
                    i64::from(e.status),
                    to_sql(e.duration_ms),
                ])?;
            }
        }
        tx.commit()?;
        Ok(entries.len())
    }

    /// The entries `q` asks for, oldest first.
    pub fn list(&self, q: &ListQuery) -> Result<Vec<Entry>, AccessLogError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM entries WHERE time_ms >= ?1 AND time_ms <= ?2 AND id > ?3 \
             AND (?4 IS NULL OR org = ?4) ORDER BY id LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                to_sql(q.from_ms),
                to_sql(q.to_ms),
                to_sql(q.after),
                q.org,
                to_sql(q.limit)
            ],
            entry_of,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Entries stored.
    pub fn count(&self) -> Result<u64, AccessLogError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Deletes at most `limit` entries older than `cutoff_ms`, except those of a member
    /// under a legal hold (none at all under a hold of the whole class); how many.
    pub fn purge(
        &self,
        cutoff_ms: u64,
        holds: &ClassHolds,
        limit: u64,
    ) -> Result<u64, AccessLogError> {
        if holds.all {
            return Ok(0);
        }
        let held = serde_json::to_string(&holds.members).unwrap_or_else(|_| "[]".into());
        let deleted = self.conn().execute(
            "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE time_ms < ?1 \
             AND (member IS NULL OR member NOT IN (SELECT value FROM json_each(?2))) \
             ORDER BY time_ms LIMIT ?3)",
            params![to_sql(cutoff_ms), held, to_sql(limit)],
        )?;
        Ok(deleted as u64)
    }
}
