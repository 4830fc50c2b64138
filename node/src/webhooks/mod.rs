//! Webhooks: the node pushes the ledger events its org may see to HTTP endpoints the org's
//! admins register (issue 15, section 3; docs/events.md, "Webhooks").
//!
//! - [`store`]: the node-local SQLite file `<data_dir>/webhooks.sqlite` (WAL): endpoints,
//!   their secrets (rotation keeps the old one valid 24 h), per-endpoint delivery cursor
//!   and retry state, pending replays and a bounded delivery log. Never on the chain.
//! - [`dispatch`]: one task per endpoint follows the node's event log (the durable outbox)
//!   from its cursor, in log order, at least once; a failing event holds back that
//!   endpoint only. Retries follow [`schedule`]; `410 Gone` disables; five days of
//!   failures disable with an operational event.
//! - [`signature`]: Standard Webhooks signing (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`), secrets `whsec_<base64>`.
//! - [`ssrf`]: endpoint URLs resolving to private, loopback, link-local and other
//!   non-public addresses are refused, at registration and at every connection.
//! - [`api`]: the org-admin HTTP routes under `/v1/webhooks`.

pub mod api;
pub mod dispatch;
pub mod schedule;
pub mod signature;
pub mod ssrf;
pub mod store;

use crate::node::NodeHandle;
use couponcactus_chaincode::ids::OrgId;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The webhook type of the console's alerts (not a ledger event: raised by the node's
/// alert rules, see [`crate::console::alerts`]).
pub const ALERT_TYPE: &str = "alert.triggered";

/// File name of the webhook store inside the node's data directory.
pub const STORE_FILE: &str = "webhooks.sqlite";

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The SQLite store failed.
    #[error("webhook store: {0}")]
    Store(#[from] rusqlite::Error),
    /// The node's event log failed.
    #[error("event log: {0}")]
    Events(#[from] crate::storage::StorageError),
    /// A request value is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// The endpoint URL is refused by the SSRF guard.
    #[error("{0}")]
    UnsafeUrl(String),
    /// No such endpoint (of this org).
    #[error("{0}")]
    NotFound(String),
    /// The key may not manage this node's webhooks.
    #[error("{0}")]
    Forbidden(String),
    /// The body does not match the signed `body_sha256`.
    #[error("{0}")]
    BodyMismatch(String),
    /// The node runs without webhooks (`[webhooks] enabled = false`).
    #[error("webhooks are not enabled on this node ([webhooks] enabled = false)")]
    Off,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// A blocking task failed.
    #[error("background task: {0}")]
    Task(String),
}

/// `[webhooks]` of the node configuration (docs/operations.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Run the dispatcher and serve `/v1/webhooks` (default on).
    pub enabled: bool,
    /// Allow endpoint URLs on private, loopback and link-local addresses (default off:
    /// only for tests and closed networks).
    pub allow_private_targets: bool,
    /// Delay before each attempt after the first failure, ms (about 5 s, 5 min, 30 min,
    /// 2 h, 5 h, 10 h, 14 h, 20 h, 24 h); after the last, attempts repeat at the last delay.
    pub retry_delays_ms: Vec<u64>,
    /// Random spread added to each delay, percent (0 to 100).
    pub jitter_percent: u64,
    /// Longest one delivery may take, ms.
    pub timeout_ms: u64,
    /// An endpoint failing continuously this long is disabled, ms (default 5 days).
    pub disable_after_ms: u64,
    /// How long a rotated-out secret stays valid, ms (default 24 h).
    pub old_secret_ttl_ms: u64,
    /// Delivery-log rows kept per endpoint (older rows are pruned).
    pub delivery_log_rows: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            enabled: true,
            allow_private_targets: false,
            retry_delays_ms: schedule::DEFAULT_DELAYS_MS.to_vec(),
            jitter_percent: 10,
            timeout_ms: 15_000,
            disable_after_ms: 5 * 24 * 3_600_000,
            old_secret_ttl_ms: 24 * 3_600_000,
            delivery_log_rows: 10_000,
        }
    }
}

impl WebhookConfig {
    /// Why the section is unusable.
    pub fn check(&self) -> Result<(), String> {
        if self.timeout_ms == 0 {
            return Err("[webhooks] timeout_ms must be above 0".into());
        }
        if self.jitter_percent > 100 {
            return Err("[webhooks] jitter_percent must be 0 to 100".into());
        }
        if self.delivery_log_rows == 0 {
            return Err("[webhooks] delivery_log_rows must be above 0".into());
        }
        Ok(())
    }

    /// The delivery timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The running webhook service: the store, the configuration and the dispatcher's wake-up.
/// Cheap to clone; the API handlers and the dispatcher share it.
#[derive(Clone, Debug)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: store::WebhookStore,
    config: WebhookConfig,
    node: NodeHandle,
    org: OrgId,
    /// Bumped when endpoints change (created, enabled, rotated, replay asked).
    changed: watch::Sender<u64>,
}

impl Webhooks {
    /// Opens `<data_dir>/webhooks.sqlite` for the node's org `org`.
    pub fn open(
        data_dir: &Path,
        node: NodeHandle,
        org: OrgId,
        config: WebhookConfig,
    ) -> Result<Webhooks, WebhookError> {
        let store = store::WebhookStore::open(&data_dir.join(STORE_FILE))?;
        Ok(Webhooks {
            inner: Arc::new(Inner {
                store,
                config,
                node,
                org,
                changed: watch::Sender::new(0),
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &store::WebhookStore {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.inner.config
    }

    /// The node.
    pub fn node(&self) -> &NodeHandle {
        &self.inner.node
    }

    /// The org whose endpoints these are (the node's own org).
    pub fn org(&self) -> &OrgId {
        &self.inner.org
    }

    /// Wakes the dispatcher: endpoints changed.
    pub fn poke(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later [`Webhooks::poke`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Runs store work off the async workers.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, WebhookError>
    where
        T: Send + 'static,
        F: FnOnce(&store::WebhookStore) -> Result<T, WebhookError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(this.store()))
            .await
            .map_err(|e| WebhookError::Task(e.to_string()))?
    }
}

/// Where the API finds the webhook service: empty while webhooks are off, or until a node
/// that joined the consortium after it started learns its org (see [`wait_for_org`]).
pub type WebhookSlot = std::sync::Arc<std::sync::OnceLock<Webhooks>>;

/// Waits until node `node_id` is in the node's consortium and returns its org, checking
/// again after every applied block (and at least every second); `None` once `shutdown`
/// completes first.
pub async fn wait_for_org(
    node: &NodeHandle,
    node_id: u64,
    shutdown: impl std::future::Future<Output = ()>,
) -> Option<OrgId> {
    tokio::pin!(shutdown);
    let mut tip = node.events_tip().subscribe();
    loop {
        if let Some(org) = node_org(node, node_id) {
            return Some(org);
        }
        tokio::select! {
            _ = &mut shutdown => return None,
            _ = tip.changed() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// The org of node `node_id` in the node's current consortium.
pub fn node_org(node: &NodeHandle, node_id: u64) -> Option<OrgId> {
    node.consortium()
        .nodes
        .into_iter()
        .find(|n| n.node_id == node_id)
        .map(|n| n.org)
}
