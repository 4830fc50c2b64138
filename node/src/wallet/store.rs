//! The wallet's node-local state, `wallet.sqlite` in the node's data directory: the nonces
//! of links already followed (kept until the link would have expired, so each link opens
//! once) and the customers' sessions (the blake3 hash of the cookie's random token, the
//! member, when it ends). Expired rows are deleted as new ones are written. It holds no
//! personal data: members appear by their pseudonymous id only, and an erased member's
//! sessions are ended by [`WalletStore::end_member`].

use super::WalletError;
use couponcactus_chaincode::ids::MemberId;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The file inside the node's data directory.
pub const STORE_FILE: &str = "wallet.sqlite";
/// How long a writer waits for SQLite's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most expired rows deleted per write (each write cleans a little).
const PURGE_BATCH: i64 = 1_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS used_links (
    nonce BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    hash BLOB PRIMARY KEY, member BLOB NOT NULL, created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_member ON sessions (member);
";

/// The wallet's store.
#[derive(Debug)]
pub struct WalletStore {
    conn: Mutex<Connection>,
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl WalletStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<WalletStore, WalletError> {
        let conn = Connection::open(data_dir.join(STORE_FILE))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(WalletStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the link with `nonce` was followed; `false` when it was before.
    pub fn use_link(
        &self,
        nonce: &[u8; 16],
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<bool, WalletError> {
        let conn = self.conn();
        purge(&conn, now_ms)?;
        let added = conn.execute(
            "INSERT OR IGNORE INTO used_links (nonce, expires_ms) VALUES (?1, ?2)",
            params![&nonce[..], ms(expires_ms)],
        )?;
        Ok(added == 1)
    }

    /// Starts a session of `member` under the token hash `hash` until `expires_ms`.
    pub fn start_session(
        &self,
        hash: &[u8; 32],
        member: &MemberId,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<(), WalletError> {
        let conn = self.conn();
        purge(&conn, now_ms)?;
        conn.execute(
            "INSERT INTO sessions (hash, member, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![&hash[..], &member.0[..], ms(now_ms), ms(expires_ms)],
        )?;
        Ok(())
    }

    /// The member of the live session `hash`, if any.
    pub fn session(&self, hash: &[u8; 32], now_ms: u64) -> Result<Option<MemberId>, WalletError> {
        let row: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT member FROM sessions WHERE hash = ?1 AND expires_ms > ?2",
                params![&hash[..], ms(now_ms)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(row
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(MemberId))
    }

    /// Ends the session `hash`.
    pub fn end_session(&self, hash: &[u8; 32]) -> Result<(), WalletError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", params![&hash[..]])?;
        Ok(())
    }

    /// Ends every session of `member` (on erasure): how many.
    pub fn end_member(&self, member: &MemberId) -> Result<usize, WalletError> {
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE member = ?1",
            params![&member.0[..]],
        )?)
    }
}

/// Deletes up to [`PURGE_BATCH`] expired links and sessions of each kind.
fn purge(conn: &Connection, now_ms: u64) -> Result<(), WalletError> {
    for (table, key) in [("used_links", "nonce"), ("sessions", "hash")] {
        conn.execute(
            &format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
                 WHERE expires_ms <= ?1 LIMIT ?2)"
            ),
            params![ms(now_ms), PURGE_BATCH],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_used_once_and_sessions_end_when_due_or_asked() {
        let dir = tempfile::tempdir().unwrap();
        let s = WalletStore::open(dir.path()).unwrap();
        assert!(s.use_link(&[1; 16], 100, 0).unwrap());
        assert!(!s.use_link(&[1; 16], 100, 1).unwrap(), "a second time");
        let m = MemberId([5; 32]);
        s.start_session(&[9; 32], &m, 0, 50).unwrap();
        assert_eq!(s.session(&[9; 32], 49).unwrap(), Some(m));
        assert_eq!(s.session(&[9; 32], 50).unwrap(), None, "expired");
        assert_eq!(s.session(&[8; 32], 0).unwrap(), None, "unknown");
        s.start_session(&[7; 32], &m, 0, 500).unwrap();
        assert_eq!(s.end_member(&m).unwrap(), 2);
        assert_eq!(s.session(&[7; 32], 1).unwrap(), None, "ended on erasure");
    }
}
