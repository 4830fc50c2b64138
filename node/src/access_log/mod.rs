//! The access log: who read or changed what on this node (issue 21; docs/compliance-retention.md,
//! "Access log").
//!
//! Every API and console request passes [`layer::record`]. The actor is what the request
//! proved: a signed read's key with its org and role ([`crate::api::Reader`]), a submitted
//! tx's signer (its org and role looked up by the writer), or a console user with the
//! console's role; otherwise `anonymous`. An entry holds the method, the route *template*
//! (`/v1/tokens/{pool}/{serial}`) and the ids the path put in its placeholders, the status,
//! the time and the duration: never the query string, a header or a body, so no personal
//! data lands in it. Public unsigned reads (`/healthz`, `/metrics`, blocks, the console's
//! login page) are not logged; an anonymous write, and an anonymous request refused with
//! 401 or 403, are.
//!
//! Entries go to a bounded queue ([`QUEUE_CAPACITY`]) and one writer task ([`writer`])
//! stores them in batches in `<data_dir>/access-log.sqlite` ([`store`]); a full queue
//! drops the entry and counts it in `cactus_access_log_dropped_total`, so a request never
//! waits for the log. [`api`] serves `GET /v1/access-log` to org admins (their org's
//! entries) and auditors (all). The retention job ([`crate::retention`]) deletes entries
//! past their window (365 days by default).

pub mod api;
pub mod layer;
pub mod store;
pub mod writer;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;
use utoipa::ToSchema;

pub use layer::{AccessSlot, Noter};

/// File name of the access log inside the node's data directory.
pub const STORE_FILE: &str = "access-log.sqlite";
/// Entries waiting for the writer at most; beyond, entries are dropped and counted.
pub const QUEUE_CAPACITY: usize = 4_096;
/// Entries the writer stores in one transaction at most.
pub const WRITE_BATCH: usize = 512;
/// The metric counting entries dropped because the queue was full.
pub const DROPPED_METRIC: &str = "cactus_access_log_dropped_total";

/// Why an access-log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The SQLite store failed.
    #[error("access log store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A request value is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// The key may not read the access log.
    #[error("{0}")]
    Forbidden(String),
    /// The node runs without an access log.
    #[error("this node keeps no access log")]
    Off,
    /// A blocking task failed.
    #[error("background task: {0}")]
    Task(String),
}

/// Who made a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    /// `key` (a signed request or a submitted tx's signer), `console` (a console user) or
    /// `anonymous`.
    pub kind: String,
    /// The signing key (hex), for `key`.
    pub key: Option<String>,
    /// The console user's login name, for `console`.
    pub user: Option<String>,
    /// The actor's org (a key's registered org; the console's org).
    pub org: Option<String>,
    /// Its role (`org_admin`, `issuer`, …; a console role for `console`).
    pub role: Option<String>,
}

impl Actor {
    /// An anonymous request.
    pub fn anonymous() -> Actor {
        Actor {
            kind: "anonymous".into(),
            ..Actor::default()
        }
    }

    /// A key, with its org and role when known (a tx signer's are looked up later).
    pub fn key(key: String, org: Option<String>, role: Option<String>) -> Actor {
        Actor {
            kind: "key".into(),
            key: Some(key),
            org,
            role,
            ..Actor::default()
        }
    }

    /// A console user of `org`.
    pub fn console(user: String, org: String, role: String) -> Actor {
        Actor {
            kind: "console".into(),
            user: Some(user),
            org: Some(org),
            role: Some(role),
            ..Actor::default()
        }
    }

    /// Whether the request proved no identity.
    pub fn is_anonymous(&self) -> bool {
        self.kind == "anonymous"
    }
}

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// Row id (ascending in time; page with `after`).
    pub id: u64,
    /// When the request arrived, ms since the Unix epoch.
    pub time_ms: u64,
    /// Who.
    pub actor: Actor,
    /// The HTTP method.
    pub method: String,
    /// The route template (`/v1/tokens/{pool}/{serial}`); `(unmatched)` for no route.
    pub route: String,
    /// The ids the path gave the route's placeholders (`{"pool": "spring", "serial": "3"}`).
    pub targets: BTreeMap<String, String>,
    /// The answer's status.
    pub status: u16,
    /// Until the answer's head, ms.
    pub duration_ms: u64,
}

/// The node's access log: the queue's sending side and the store (cheap to clone).
#[derive(Clone, Debug)]
pub struct AccessLog {
    queue: mpsc::Sender<Entry>,
    store: Arc<store::AccessLogStore>,
}

impl AccessLog {
    /// Opens `<data_dir>/access-log.sqlite`; the writer must run for entries to be stored.
    /// `chain` (the node's store) names the org and role of tx signers.
    pub fn open(
        data_dir: &Path,
        chain: Option<crate::storage::Store>,
    ) -> Result<(AccessLog, writer::Writer), AccessLogError> {
        let store = Arc::new(store::AccessLogStore::open(&data_dir.join(STORE_FILE))?);
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let writer = writer::Writer::new(receiver, store.clone(), chain);
        Ok((AccessLog { queue, store }, writer))
    }

    /// The store.
    pub fn store(&self) -> &Arc<store::AccessLogStore> {
        &self.store
    }

    /// Queues `entry`, or drops and counts it when the queue is full (never waits).
    pub fn push(&self, entry: Entry) {
        if self.queue.try_send(entry).is_err() {
            metrics::counter!(DROPPED_METRIC).increment(1);
        }
    }

    /// Runs store work off the async workers.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, AccessLogError>
    where
        T: Send + 'static,
        F: FnOnce(&store::AccessLogStore) -> Result<T, AccessLogError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| AccessLogError::Task(e.to_string()))?
    }
}
