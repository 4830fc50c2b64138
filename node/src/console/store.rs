//! The console's SQLite store (`console.sqlite`): staff users and their sessions.
//!
//! WAL mode and a busy timeout, so `cactusd users …` works beside a running node. Sessions
//! are kept by the BLAKE3 hash of their token (a stolen database holds no usable cookie),
//! with the CSRF token of the session, its creation time and its last use; a session past
//! its idle or absolute expiry, or of a disabled user, is deleted when seen.

use super::{ConsoleError, Role};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Longest a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest user name, bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most sessions one user may hold; a login beyond it ends the oldest.
pub const MAX_SESSIONS_PER_USER: i64 = 20;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, created_ms);
";

/// A staff account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Its stable id (what console writes will record in the tx memo).
    pub id: i64,
    /// Its login name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Whether it may no longer log in.
    pub disabled: bool,
    /// When it was added, ms since the Unix epoch.
    pub created_ms: u64,
}

/// A live session: its user and its CSRF token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The user.
    pub user: User,
    /// The session's synchronizer CSRF token.
    pub csrf: String,
}

/// Session lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct Expiry {
    /// Unused this long: ended.
    pub idle: Duration,
    /// This long after login: ended.
    pub absolute: Duration,
}

/// The store: one connection behind a lock (console traffic is light).
#[derive(Debug)]
pub struct ConsoleStore {
    conn: Mutex<Connection>,
}

/// Checks a user name: 1 to 64 of `a-z A-Z 0-9 . _ @ -`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), ConsoleError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ConsoleError::Invalid(format!(
            "user name {:?}: use 1 to {MAX_NAME_LEN} letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
            name.chars().take(80).collect::<String>()
        )))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn user_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(2)?;
    let role = Role::parse(&role).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        role,
        disabled: row.get::<_, i64>(3)? != 0,
        created_ms: row.get::<_, i64>(4)?.max(0) as u64,
    })
}

impl ConsoleStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<ConsoleStore, ConsoleError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ConsoleError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(ConsoleStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a user with an already hashed password.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        now_ms: u64,
    ) -> Result<User, ConsoleError> {
        check_name(name)?;
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT INTO users (name, role, password, created_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO NOTHING",
            params![name, role.name(), password_hash, now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(ConsoleError::UserExists(name.into()));
        }
        Ok(User {
            id: conn.last_insert_rowid(),
            name: name.into(),
            role,
            disabled: false,
            created_ms: now_ms,
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, ConsoleError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, role, disabled, created_ms FROM users ORDER BY name LIMIT 100000",
        )?;
        let rows = stmt.query_map([], user_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The user `name` and its password hash.
    pub fn credentials(&self, name: &str) -> Result<Option<(User, String)>, ConsoleError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, name, role, disabled, created_ms, password FROM users WHERE name = ?1",
                params![name],
                |row| Ok((user_of(row)?, row.get::<_, String>(5)?)),
            )
            .optional()?)
    }

    /// Disables `name` and ends its sessions; `false` if it was disabled already.
    pub fn disable_user(&self, name: &str) -> Result<bool, ConsoleError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id: Option<(i64, i64)> = tx
            .query_row(
                "SELECT id, disabled FROM users WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, disabled)) = id else {
            return Err(ConsoleError::NoSuchUser(name.into()));
        };
        tx.execute("UPDATE users SET disabled = 1 WHERE id = ?1", params![id])?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![id])?;
        tx.commit()?;
        Ok(disabled == 0)
    }

    /// Starts a session of `user_id`; ends the user's oldest sessions beyond
    /// [`MAX_SESSIONS_PER_USER`].
    pub fn create_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        csrf: &str,
        now_ms: u64,
    ) -> Result<(), ConsoleError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![&token_hash[..], user_id, csrf, now_ms as i64],
        )?;
        tx.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND token_hash NOT IN
             (SELECT token_hash FROM sessions WHERE user_id = ?1
              ORDER BY created_ms DESC LIMIT ?2)",
            params![user_id, MAX_SESSIONS_PER_USER],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The live session of `token_hash`, its last use set to `now_ms` when `touch`;
    /// `None` (and the session deleted) when unknown, expired or of a disabled user.
    pub fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
        expiry: Expiry,
        touch: bool,
    ) -> Result<Option<SessionRecord>, ConsoleError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                "SELECT u.id, u.name, u.role, u.disabled, u.created_ms,
                        s.csrf, s.created_ms, s.last_seen_ms
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
                params![&token_hash[..]],
                |row| {
                    Ok((
                        user_of(row)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, i64>(6)?,
                        row.get::<_, i64>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((user, csrf, created, last_seen)) = found else {
            return Ok(None);
        };
        let now = now_ms as i64;
        let expired = now.saturating_sub(last_seen) >= ms(expiry.idle)
            || now.saturating_sub(created) >= ms(expiry.absolute);
        if expired || user.disabled {
            conn.execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                params![&token_hash[..]],
            )?;
            return Ok(None);
        }
        if touch {
            conn.execute(
                "UPDATE sessions SET last_seen_ms = ?2 WHERE token_hash = ?1",
                params![&token_hash[..], now],
            )?;
        }
        Ok(Some(SessionRecord { user, csrf }))
    }

    /// Ends a session (logout); `false` if there was none.
    pub fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, ConsoleError> {
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![&token_hash[..]],
        )? > 0)
    }

    /// Deletes every expired session; how many.
    pub fn purge_expired(&self, now_ms: u64, expiry: Expiry) -> Result<usize, ConsoleError> {
        let now = now_ms as i64;
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE ?1 - last_seen_ms >= ?2 OR ?1 - created_ms >= ?3",
            params![now, ms(expiry.idle), ms(expiry.absolute)],
        )?)
    }

    /// Number of live-or-expired sessions stored (tests and diagnostics).
    pub fn session_count(&self) -> Result<u64, ConsoleError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }
}
