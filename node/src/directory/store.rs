//! `directory.sqlite`: the directory's SQLite file (WAL, `secure_delete` on).
//!
//! - `meta(k, v)`: `key_check`, the master key's check value ([`MasterKey::check_value`]);
//!   a directory opened with another key is refused.
//! - `subjects(member, wrapped_key, record, updated_at_ms)`: the member id in clear (64
//!   hex, public on the ledger anyway), the subject's own random key sealed under the wrap
//!   key, its [`SubjectRecord`] as JSON sealed under its own key (both bound to the member
//!   id), and in clear when the record last changed (the sealed record's `updated_ms`), so
//!   retention finds records not updated for its window without opening any
//!   ([`DirectoryStore::inactive_page`]). A store created before that column is migrated
//!   when opened: the column is added and filled from each sealed record.
//! - `blind_index(mac, kind, member)`: HMAC-SHA256 under the index key of the kind and
//!   the normalized value (email, phone, recipient id) → member. Unique: one email,
//!   phone or recipient id belongs to one subject.
//! - `erasures(seq, member, time_ms)`: the erasure log (member ids and times only).
//!
//! Only ciphertext, MACs and member ids are written; nothing here logs a record's fields.

use super::keys::{self, KEY_LEN, MasterKey};
use super::record::{self, IndexKind, SubjectInput, SubjectRecord};
use super::{DirectoryError, not_found};
use couponcactus_chaincode::ids::MemberId;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use utoipa::ToSchema;

/// Longest a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most erasure-log rows one read returns.
pub const MAX_ERASURES_PAGE: u64 = 10_000;
/// Most rows one [`DirectoryStore::inactive_page`] returns.
pub const MAX_INACTIVE_PAGE: u64 = 10_000;

/// Created once `subjects` has its `updated_at_ms` column (new or migrated).
const UPDATED_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS subjects_updated ON subjects (updated_at_ms, member);";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    member TEXT PRIMARY KEY,
    wrapped_key BLOB NOT NULL,
    record BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS blind_index (
    mac BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    member TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS blind_index_member ON blind_index (member);
CREATE TABLE IF NOT EXISTS erasures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    member TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);
";

/// A subject: its member id and its record (opened).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Subject {
    /// The member id (64 hex), as on the ledger.
    #[schema(value_type = String)]
    pub member: MemberId,
    /// What the directory holds on the subject.
    pub record: SubjectRecord,
}

/// One erasure-log row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Erased {
    /// The member id erased.
    #[schema(value_type = String)]
    pub member: MemberId,
    /// When, ms since the Unix epoch.
    pub time_ms: u64,
}

/// The store: one connection behind a lock (directory traffic is light).
pub struct DirectoryStore {
    conn: Mutex<Connection>,
    wrap_key: [u8; KEY_LEN],
    index_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for DirectoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("DirectoryStore").finish_non_exhaustive()
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> DirectoryError {
    move |source| DirectoryError::Io { what, source }
}

fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn member_of(text: &str) -> Result<MemberId, DirectoryError> {
    text.parse()
        .map_err(|_| DirectoryError::Invalid(format!("a stored member id is not 64 hex: {text}")))
}

impl DirectoryStore {
    /// Opens (creating if needed) the store at `path` under `key` (read from `key_path`,
    /// named in errors).
    pub fn open(
        path: &Path,
        key_path: &Path,
        key: MasterKey,
    ) -> Result<DirectoryStore, DirectoryError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        restrict_mode(path)?;
        let check = key.check_value();
        let stored: Option<Vec<u8>> = conn
            .query_row("SELECT v FROM meta WHERE k = 'key_check'", [], |r| r.get(0))
            .optional()?;
        match stored {
            Some(v) if v == check => {}
            Some(_) => {
                return Err(DirectoryError::WrongKey {
                    key: key_path.to_path_buf(),
                    db: PathBuf::from(path),
                });
            }
            None => {
                conn.execute(
                    "INSERT INTO meta (k, v) VALUES ('key_check', ?1)",
                    [check.as_slice()],
                )?;
            }
        }
        let store = DirectoryStore {
            conn: Mutex::new(conn),
            wrap_key: key.wrap_key(),
            index_key: key.index_key(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Adds `subjects.updated_at_ms` to a store created without it, filled from each
    /// sealed record's `updated_ms` (one transaction), and its index.
    fn migrate(&self) -> Result<(), DirectoryError> {
        let mut conn = self.conn();
        let has: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('subjects') WHERE name = 'updated_at_ms'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)?;
        if !has {
            let tx = conn.transaction()?;
            tx.execute_batch(
                "ALTER TABLE subjects ADD COLUMN updated_at_ms INTEGER NOT NULL DEFAULT 0",
            )?;
            let members: Vec<String> = tx
                .prepare("SELECT member FROM subjects")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for m in &members {
                let member = member_of(m)?;
                if let Some((_, record)) = self.load(&tx, &member)? {
                    tx.execute(
                        "UPDATE subjects SET updated_at_ms = ?2 WHERE member = ?1",
                        params![m, sql_ms(record.updated_ms)],
                    )?;
                }
            }
            tx.commit()?;
            tracing::info!(
                subjects = members.len(),
                "directory store migrated: subjects.updated_at_ms added"
            );
        }
        conn.execute_batch(UPDATED_INDEX)?;
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The blind index of `value` (normalized) of `kind`.
    pub fn blind(&self, kind: IndexKind, value: &str) -> [u8; 32] {
        keys::hmac(&self.index_key, &[kind.name().as_bytes(), value.as_bytes()])
    }

    /// The member whose `kind` is `value` (already normalized), if any.
    pub fn lookup(&self, kind: IndexKind, value: &str) -> Result<Option<MemberId>, DirectoryError> {
        let mac = self.blind(kind, value);
        let found: Option<String> = self
            .conn()
            .query_row(
                "SELECT member FROM blind_index WHERE mac = ?1",
                [mac.as_slice()],
                |r| r.get(0),
            )
            .optional()?;
        found.as_deref().map(member_of).transpose()
    }

    /// Whether the directory holds `member`.
    pub fn contains(&self, member: &MemberId) -> Result<bool, DirectoryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM subjects WHERE member = ?1",
                [member.to_hex()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The subject of `member`, opened.
    pub fn get(&self, member: &MemberId) -> Result<Option<Subject>, DirectoryError> {
        let conn = self.conn();
        Ok(self.load(&conn, member)?.map(|(_, record)| Subject {
            member: *member,
            record,
        }))
    }

    /// The subject's key and record, opened.
    fn load(
        &self,
        conn: &Connection,
        member: &MemberId,
    ) -> Result<Option<([u8; KEY_LEN], SubjectRecord)>, DirectoryError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = conn
            .query_row(
                "SELECT wrapped_key, record FROM subjects WHERE member = ?1",
                [member.to_hex()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((wrapped, sealed)) = row else {
            return Ok(None);
        };
        let key: [u8; KEY_LEN] = keys::open(&self.wrap_key, &member.0, &wrapped, "key")?
            .try_into()
            .map_err(|_| DirectoryError::Unseal("key"))?;
        let plain = keys::open(&key, &member.0, &sealed, "record")?;
        let record =
            serde_json::from_slice(&plain).map_err(|_| DirectoryError::Unseal("record"))?;
        Ok(Some((key, record)))
    }

    /// Adds a subject, or updates the one `input.member` names (an id the directory does
    /// not hold yet is imported). Fields given replace the stored ones; recipient ids are
    /// added. An email, phone or recipient id of another subject is refused
    /// ([`DirectoryError::AlreadyLinked`]), and so is a new subject (no member id) whose
    /// email, phone or recipient id the directory already has.
    pub fn upsert(&self, input: SubjectInput, now_ms: u64) -> Result<Subject, DirectoryError> {
        let input = record::normalize(&input)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (member, old) = match input.member {
            Some(m) => (m, self.load(&tx, &m)?),
            None => (self.fresh_member(&tx)?, None),
        };
        let (key, old_record) = match old {
            Some((k, r)) => (k, Some(r)),
            None => (keys::random_key(), None),
        };
        let record = SubjectRecord::apply(old_record, &input, now_ms)?;
        self.write(&tx, &member, &key, &record)?;
        tx.commit()?;
        Ok(Subject { member, record })
    }

    /// A random member id no subject has.
    fn fresh_member(&self, tx: &Transaction<'_>) -> Result<MemberId, DirectoryError> {
        for _ in 0..8 {
            let m = MemberId(keys::random_key());
            if self.load(tx, &m)?.is_none() {
                return Ok(m);
            }
        }
        Err(DirectoryError::Invalid(
            "no free random member id after 8 draws".into(),
        ))
    }

    /// Writes the subject's row and its blind-index rows (replacing the old ones).
    fn write(
        &self,
        tx: &Transaction<'_>,
        member: &MemberId,
        key: &[u8; KEY_LEN],
        record: &SubjectRecord,
    ) -> Result<(), DirectoryError> {
        let hex = member.to_hex();
        let entries = record.index_entries();
        for (kind, value) in &entries {
            let mac = self.blind(*kind, value);
            let owner: Option<String> = tx
                .query_row(
                    "SELECT member FROM blind_index WHERE mac = ?1",
                    [mac.as_slice()],
                    |r| r.get(0),
                )
                .optional()?;
            if owner.is_some_and(|o| o != hex) {
                return Err(DirectoryError::AlreadyLinked(format!(
                    "this {} already belongs to another member of the directory: find it and update that member",
                    kind.name()
                )));
            }
        }
        tx.execute("DELETE FROM blind_index WHERE member = ?1", [&hex])?;
        for (kind, value) in &entries {
            let mac = self.blind(*kind, value);
            tx.execute(
                "INSERT INTO blind_index (mac, kind, member) VALUES (?1, ?2, ?3)",
                params![mac.as_slice(), kind.name(), hex],
            )?;
        }
        let json = serde_json::to_vec(record).expect("a record serializes");
        let sealed = keys::seal(key, &member.0, &json);
        let wrapped = keys::seal(&self.wrap_key, &member.0, key);
        tx.execute(
            "INSERT INTO subjects (member, wrapped_key, record, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (member) DO UPDATE SET \
             wrapped_key = excluded.wrapped_key, record = excluded.record, \
             updated_at_ms = excluded.updated_at_ms",
            params![hex, wrapped, sealed, sql_ms(record.updated_ms)],
        )?;
        Ok(())
    }

    /// Crypto-shreds `member`: deletes its row (record and wrapped key) and its
    /// blind-index rows and logs the erasure, in one transaction; then truncates the WAL.
    pub fn erase(&self, member: &MemberId, now_ms: u64) -> Result<Erased, DirectoryError> {
        let hex = member.to_hex();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !shred(&tx, &hex, None)? {
            return Err(not_found(member));
        }
        tx.execute(
            "INSERT INTO erasures (member, time_ms) VALUES (?1, ?2)",
            params![hex, sql_ms(now_ms)],
        )?;
        tx.commit()?;
        checkpoint(&conn)?;
        Ok(Erased {
            member: *member,
            time_ms: now_ms,
        })
    }

    /// Up to `limit` (at most [`MAX_INACTIVE_PAGE`]) subjects whose record last changed
    /// before `cutoff_ms`, by `(updated_at_ms, member)` after `after` (the last row of the
    /// previous page), oldest first.
    pub fn inactive_page(
        &self,
        cutoff_ms: u64,
        after: Option<&(u64, MemberId)>,
        limit: u64,
    ) -> Result<Vec<(u64, MemberId)>, DirectoryError> {
        let (t, m) = after.map_or((-1, String::new()), |(t, m)| (sql_ms(*t), m.to_hex()));
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT updated_at_ms, member FROM subjects WHERE updated_at_ms < ?1 \
             AND (updated_at_ms, member) > (?2, ?3) ORDER BY updated_at_ms, member LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                sql_ms(cutoff_ms),
                t,
                m,
                sql_ms(limit.min(MAX_INACTIVE_PAGE))
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (t, m) = row?;
            out.push((u64::try_from(t).unwrap_or(0), member_of(&m)?));
        }
        Ok(out)
    }

    /// Deletes the subjects of `members` whose record still last changed before
    /// `cutoff_ms` (a record updated since is kept) the way [`DirectoryStore::erase`] does
    /// (row with its wrapped key, blind indexes, `secure_delete`, WAL truncated), in one
    /// transaction, but logs no erasure: a retention deletion is not a data subject's
    /// request ([`super::retention`]). Returns the members deleted.
    pub fn delete_inactive(
        &self,
        members: &[MemberId],
        cutoff_ms: u64,
    ) -> Result<Vec<MemberId>, DirectoryError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut deleted = Vec::new();
        for member in members {
            if shred(&tx, &member.to_hex(), Some(cutoff_ms))? {
                deleted.push(*member);
            }
        }
        tx.commit()?;
        if !deleted.is_empty() {
            checkpoint(&conn)?;
        }
        Ok(deleted)
    }

    /// The erasure log, oldest first, at most `limit` (and [`MAX_ERASURES_PAGE`]) rows.
    pub fn erasures(&self, limit: u64) -> Result<Vec<Erased>, DirectoryError> {
        let limit = sql_ms(limit.min(MAX_ERASURES_PAGE));
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT member, time_ms FROM erasures ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (m, t) = row?;
            out.push(Erased {
                member: member_of(&m)?,
                time_ms: u64::try_from(t).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// How many subjects the directory holds.
    pub fn count(&self) -> Result<u64, DirectoryError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM subjects", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Crypto-shreds one subject inside `tx`: deletes its row (the sealed record and the
/// wrapped key, the only copy of the subject's own key: with `secure_delete` on, the freed
/// bytes are overwritten) and its blind-index rows. With `before_ms`, only a subject whose
/// record last changed before it. Whether there was such a subject.
fn shred(tx: &Transaction<'_>, hex: &str, before_ms: Option<u64>) -> Result<bool, DirectoryError> {
    let deleted = tx.execute(
        "DELETE FROM subjects WHERE member = ?1 AND (?2 IS NULL OR updated_at_ms < ?2)",
        params![hex, before_ms.map(sql_ms)],
    )?;
    if deleted == 0 {
        return Ok(false);
    }
    tx.execute("DELETE FROM blind_index WHERE member = ?1", [hex])?;
    Ok(true)
}

/// Copies the WAL into the database and truncates it to zero bytes, so no old page (a
/// deleted record's ciphertext) stays in the WAL file.
fn checkpoint(conn: &Connection) -> Result<(), DirectoryError> {
    let (busy, _, _): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 {
        tracing::warn!(
            "directory WAL checkpoint was blocked by a reader: it runs again on the next erasure"
        );
    }
    Ok(())
}

/// The database file readable by its owner only.
fn restrict_mode(path: &Path) -> Result<(), DirectoryError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("restricting {}", path.display())))
}
