//! The member directory: the personal data an org keeps about its members (email, phone,
//! name, campaign recipient ids, an external customer reference), on the org's own node,
//! never on the chain (docs/compliance-directory.md).
//!
//! - [`keys`]: the master key file `directory.key` (32 random bytes, mode 0600, created on
//!   first use; `[directory] key_file` in the node config) and what is derived from it:
//!   the key that wraps each subject's own key, and the blind-index key (both
//!   domain-separated HMAC-SHA256 of the master key). AES-256-GCM seals.
//! - [`record`]: a subject's record and the rules its fields follow (limits, the
//!   normalization of emails and phone numbers).
//! - [`store`]: `directory.sqlite` in the node's data directory: one row per subject with
//!   its member id (in clear: it is public on the ledger), its wrapped key and its record
//!   sealed under that key; blind-index rows (HMAC of a normalized email, phone or
//!   recipient id → member id); the erasure log. Only ciphertext and MACs reach the disk.
//! - [`matching`]: the three-way match of `find`.
//! - [`retention`]: the retention class `directory_inactive`, which deletes the records of
//!   members inactive (record and ledger alike) for the window, the erasure's way.
//!
//! **Match rule.** `find` takes any of an email, a phone number, a recipient id and a
//! member id. Each input given resolves to one subject or to nothing (an email, phone or
//! recipient id through its blind index, a member id when the directory has it). If every
//! input that resolves names the same subject, that subject is the answer (inputs that
//! resolve to nothing are listed as `unmatched`); if they name different subjects the
//! answer is the error `match_conflict`, which names the inputs that disagree, grouped by
//! subject, and nothing of any subject; if none resolves the answer is `not_found`.
//!
//! **Erasure** ([`Directory::erase`], crypto-shredding): one SQLite transaction deletes
//! the subject's row (record and wrapped key) and its blind-index rows and appends
//! `(member, time)` to the erasure log, with `PRAGMA secure_delete = ON` (freed bytes are
//! overwritten) and `PRAGMA wal_checkpoint(TRUNCATE)` after it (the WAL holds no old
//! page). [`purge_member`] is the whole erasure of node-local data (the directory and the
//! analytics detail rows); the API calls it, and so can a follower of `member.erased`
//! chain events.
//!
//! Nothing here logs personal data: log lines name member ids at most.

pub mod keys;
pub mod matching;
pub mod record;
pub mod retention;
pub mod store;

#[cfg(test)]
mod tests;

use couponcactus_chaincode::ids::MemberId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use keys::MasterKey;
pub use matching::{MatchInputs, Matched};
pub use record::{SubjectInput, SubjectRecord};
pub use store::{Erased, Subject};

/// The directory's file name inside the node's data directory.
pub const DIRECTORY_FILE: &str = "directory.sqlite";
/// The master key's default file name inside the node's data directory.
pub const KEY_FILE: &str = "directory.key";

/// What can go wrong in the directory.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// SQLite failed.
    #[error("directory database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The master key file is not 32 bytes.
    #[error("{0}")]
    BadKeyFile(String),
    /// The master key is not the one the directory was created with.
    #[error(
        "the directory key {key} does not open {db}: it is another key than the one the directory was created with (restore the right directory.key; without it the directory cannot be read)"
    )]
    WrongKey {
        /// The key file.
        key: PathBuf,
        /// The database.
        db: PathBuf,
    },
    /// A sealed record or key does not open (tampered with, or another key).
    #[error("the sealed {0} of a subject does not open")]
    Unseal(&'static str),
    /// A request value is not acceptable (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// No such subject (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// An email, phone or recipient id already belongs to another subject (HTTP 409).
    #[error("{0}")]
    AlreadyLinked(String),
    /// The inputs of a match name different subjects (HTTP 409 `match_conflict`).
    #[error("{message}")]
    MatchConflict {
        /// Which inputs disagree, for people.
        message: String,
        /// The inputs grouped by the subject they name (input names only).
        groups: Vec<Vec<String>>,
    },
    /// The analytics store failed while purging a member.
    #[error("analytics: {0}")]
    Analytics(#[from] crate::analytics::AnalyticsError),
}

/// `[directory]` of the node configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Open the directory and serve `/v1/directory` (default on).
    pub enabled: bool,
    /// The master key file (default `directory.key` in the node's data directory; created
    /// on first use; relative to the config file's folder). Back it up: losing it loses
    /// the directory.
    pub key_file: Option<PathBuf>,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            enabled: true,
            key_file: None,
        }
    }
}

/// The directory: the store and the master key it is sealed under.
#[derive(Debug)]
pub struct Directory {
    store: store::DirectoryStore,
}

impl Directory {
    /// Opens `<data_dir>/directory.sqlite` with the master key at `key_file` (default
    /// `<data_dir>/directory.key`), creating either when missing. A directory created under
    /// another key is refused ([`DirectoryError::WrongKey`]).
    pub fn open(data_dir: &Path, key_file: Option<&Path>) -> Result<Directory, DirectoryError> {
        std::fs::create_dir_all(data_dir).map_err(|source| DirectoryError::Io {
            what: format!("creating {}", data_dir.display()),
            source,
        })?;
        let key_path = key_file.map_or_else(|| data_dir.join(KEY_FILE), Path::to_path_buf);
        let key = MasterKey::load_or_create(&key_path)?;
        let db = data_dir.join(DIRECTORY_FILE);
        let store = store::DirectoryStore::open(&db, &key_path, key)?;
        Ok(Directory { store })
    }

    /// The store.
    pub fn store(&self) -> &store::DirectoryStore {
        &self.store
    }

    /// Adds a subject or updates one ([`store::DirectoryStore::upsert`]).
    pub fn upsert(&self, input: SubjectInput, now_ms: u64) -> Result<Subject, DirectoryError> {
        self.store.upsert(input, now_ms)
    }

    /// The three-way match ([`matching`]).
    pub fn find(&self, inputs: &MatchInputs) -> Result<Matched, DirectoryError> {
        matching::find(&self.store, inputs)
    }

    /// One subject by member id.
    pub fn get(&self, member: &MemberId) -> Result<Subject, DirectoryError> {
        self.store.get(member)?.ok_or_else(|| not_found(member))
    }

    /// Crypto-shreds the subject of `member` from the directory (see the module doc).
    pub fn erase(&self, member: &MemberId, now_ms: u64) -> Result<Erased, DirectoryError> {
        self.store.erase(member, now_ms)
    }

    /// The erasure log, oldest first (at most `limit` rows).
    pub fn erasures(&self, limit: u64) -> Result<Vec<Erased>, DirectoryError> {
        self.store.erasures(limit)
    }
}

/// The 404 of a member the directory does not hold.
pub(crate) fn not_found(member: &MemberId) -> DirectoryError {
    DirectoryError::NotFound(format!("member {member} is not in the directory"))
}

/// What [`purge_member`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Purged {
    /// The directory's erasure, when it held the subject (`None`: it did not).
    pub directory: Option<Erased>,
    /// Analytics detail rows deleted or unlinked from the member.
    pub analytics_rows: u64,
}

/// Erases `member` from every node-local store: the directory (record, key, blind
/// indexes; an erasure-log row) when it holds the subject, and the analytics detail rows
/// keyed by the member ([`crate::analytics::Analytics::purge_member`]). Idempotent: a
/// second call finds nothing and removes nothing. Call it for a `member.erased` chain
/// event too (another node of the org may have done the erasure).
pub fn purge_member(
    directory: Option<&Directory>,
    analytics: Option<&crate::analytics::Analytics>,
    member: &MemberId,
    now_ms: u64,
) -> Result<Purged, DirectoryError> {
    let erased = match directory {
        Some(d) => match d.erase(member, now_ms) {
            Ok(e) => Some(e),
            Err(DirectoryError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let analytics_rows = match analytics {
        Some(a) => a.purge_member(member)?,
        None => 0,
    };
    tracing::info!(
        %member,
        directory = erased.is_some(),
        analytics_rows,
        "member purged from node-local data"
    );
    Ok(Purged {
        directory: erased,
        analytics_rows,
    })
}
