//! The merchant console: a server-rendered web dashboard for the staff of the node's org,
//! served by `cactusd` under `/console` when `[console] enabled` (docs/console.md).
//!
//! It owns the staff accounts and their sessions (`<data dir>/console.sqlite`, [`store`]),
//! the login rate limit ([`limiter`]), the session cookie and CSRF checks ([`session`],
//! [`csrf`]), the embedded templates, stylesheet and script ([`templates`], [`assets`]),
//! the SVG charts ([`charts`]) and one module per page ([`pages`]). Pages read the ledger
//! through the node's store and the analytics store, scoped to the node's org
//! ([`crate::webhooks::node_org`]); every page says the chain height it reflects.
//!
//! Staff roles: `admin` and `issuer` may write (a later phase: a write handler takes
//! [`csrf::CheckedForm`] and calls [`session::Staff::require_role`] with
//! [`Role::WRITERS`]); `analyst` and `auditor` read only.

pub mod alerts;
mod assets;
mod charts;
pub mod cli;
pub mod csrf;
pub mod limiter;
mod pages;
pub mod password;
pub mod session;
pub mod store;
mod templates;
pub mod view;
pub mod write;

#[cfg(test)]
mod tests;

use crate::analytics::Analytics;
use crate::node::NodeHandle;
use axum::Router;
use couponcactus_chaincode::ids::OrgId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use limiter::LoginLimiter;
pub(crate) use pages::token_verified;
pub use store::{ConsoleStore, User};

/// The console's file inside the node's data directory.
pub const STORE_FILE: &str = "console.sqlite";
/// The file a bootstrapped first admin's password is written to (0600), next to the store.
pub const FIRST_ADMIN_FILE: &str = "console-admin.password";
/// The name of a bootstrapped first admin.
pub const FIRST_ADMIN: &str = "admin";

/// Where the console store of a node whose data directory is `data_dir` lives.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STORE_FILE)
}

/// What can go wrong in the console.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// SQLite failed.
    #[error("console database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A user name, role or password is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// `users add` of a name that exists.
    #[error("user {0:?} exists already")]
    UserExists(String),
    /// No user of that name.
    #[error("no user {0:?}")]
    NoSuchUser(String),
    /// Hashing a password failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The node's database failed.
    #[error("node database: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// A template failed to render.
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// A staff role of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users (CLI) and may write: the org admin's ledger role.
    Admin,
    /// May write pools and codes: the issuer's ledger role.
    Issuer,
    /// Reads KPIs and pools.
    Analyst,
    /// Reads everything the org sees.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Issuer, Role::Analyst, Role::Auditor];
    /// The roles that may write (console writes are a later phase).
    pub const WRITERS: &'static [Role] = &[Role::Admin, Role::Issuer];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Issuer => "issuer",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Result<Role, ConsoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == name.trim())
            .ok_or_else(|| {
                ConsoleError::Invalid(format!(
                    "unknown role {name:?}: use admin, issuer, analyst or auditor"
                ))
            })
    }

    /// Whether the role may write.
    pub fn can_write(self) -> bool {
        Role::WRITERS.contains(&self)
    }
}

/// `[console]` of the node's configuration (docs/console.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console at `/console` (off unless set; on in the localnet and `--dev`).
    pub enabled: bool,
    /// Mark the session cookie `Secure` (set it when the console is reached over HTTPS,
    /// e.g. behind a TLS proxy).
    pub secure_cookies: bool,
    /// A session unused this long ends, seconds.
    pub idle_timeout_secs: u64,
    /// A session ends this long after login whatever its use, seconds.
    pub absolute_timeout_secs: u64,
    /// Failed logins per user name, and per client address, within the window before
    /// logins are refused (429).
    pub login_max_failures: u32,
    /// The login rate limit's window, seconds.
    pub login_window_secs: u64,
    /// With no user yet, create `admin` with a random password written to
    /// `<data dir>/console-admin.password` (0600): the localnet's and `--dev`'s first login.
    pub bootstrap_admin: bool,
    /// The key file (genesis `KeyFile` JSON) of the org key the console signs its writes
    /// with (an issuer or org-admin key of the node's org; relative to the config file).
    /// Without it the console is read-only for everyone.
    pub key_file: Option<PathBuf>,
    /// The org's code-sealing key file (`data.key`; relative to the config file): codes
    /// issued from the console are sealed with it. Without it the console issues none.
    pub data_key_file: Option<PathBuf>,
    /// Score the org's redemptions for fraud as blocks apply (docs/intelligence.md):
    /// flags go to the Alerts page and the webhooks; on in the localnet and `--dev`.
    pub fraud_scoring: bool,
    /// The scoring settings (`risk.toml`: thresholds, rules, stores, canaries; relative
    /// to the config file); without it the defaults.
    pub risk_file: Option<PathBuf>,
    /// The key file of a key of the org with the `risk` role: with it, what scores
    /// `hold` is held pending review; without it, only flagged.
    pub risk_key_file: Option<PathBuf>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: false,
            secure_cookies: false,
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 3600,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            bootstrap_admin: false,
            key_file: None,
            data_key_file: None,
            fraud_scoring: false,
            risk_file: None,
            risk_key_file: None,
        }
    }
}

impl ConsoleConfig {
    /// The configuration of a local chain (`--dev`, the localnet): on, with a first admin.
    pub fn local() -> ConsoleConfig {
        ConsoleConfig {
            enabled: true,
            bootstrap_admin: true,
            fraud_scoring: true,
            ..ConsoleConfig::default()
        }
    }

    /// Why the section is unusable.
    pub fn check(&self) -> Result<(), String> {
        if self.idle_timeout_secs == 0 || self.absolute_timeout_secs == 0 {
            return Err("[console] session timeouts must be above 0".into());
        }
        if self.login_max_failures == 0 || self.login_window_secs == 0 {
            return Err(
                "[console] login_max_failures and login_window_secs must be above 0".into(),
            );
        }
        Ok(())
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    fn absolute(&self) -> Duration {
        Duration::from_secs(self.absolute_timeout_secs)
    }
}

/// The console of one node: its store, limiter and the node it reads.
#[derive(Debug)]
pub struct Console {
    node: NodeHandle,
    org: OrgId,
    analytics: Option<Arc<Analytics>>,
    store: ConsoleStore,
    limiter: LoginLimiter,
    config: ConsoleConfig,
    /// Verified against for unknown users, so they take as long as known ones.
    dummy_hash: String,
    /// The keys console writes use.
    keys: WriteKeys,
    /// The alert rules, the alerts raised and their live channel.
    alerts: alerts::Alerts,
    /// The node's data directory (the console's store, and the fraud scorer's
    /// `risk.sqlite` the Fraud page reads).
    data_dir: PathBuf,
    /// The operator's language model the Advisor page asks to reword its proposals
    /// (`[advisor.model]`; unset: the deterministic advisor answers alone).
    advisor_model: std::sync::OnceLock<crate::intelligence::llm::ModelConfig>,
    /// The customer wallet served next to it (`[wallet]`; unset: `/wallet` answers 404).
    wallet: std::sync::OnceLock<Arc<crate::wallet::Wallet>>,
}

/// Where the API finds the console: empty until the node knows its org (a node that joins
/// the consortium later gets its console then, without a restart).
pub type ConsoleSlot = Arc<std::sync::OnceLock<Arc<Console>>>;

/// The console's routes for the console in `slot`: its own while the slot is filled;
/// until then every console path answers 503 with a page saying why.
pub fn slot_router(slot: ConsoleSlot) -> Router {
    use axum::extract::Request;
    use axum::response::IntoResponse;
    use tower_service::Service as _;
    let routes: Arc<std::sync::OnceLock<Router>> = Arc::default();
    let wallet_routes: Arc<std::sync::OnceLock<Router>> = Arc::default();
    let serve = move |request: Request| {
        let (slot, routes, wallet_routes) = (slot.clone(), routes.clone(), wallet_routes.clone());
        async move {
            let Some(console) = slot.get() else {
                return view::PageError::Unavailable(
                    "The console starts when this node joins the consortium: its org is not known yet."
                        .into(),
                )
                .into_response();
            };
            // The outer route's path parameters (`rest`) would reach the pages' `Path`
            // extractors: the request goes on with the client address only.
            let (mut parts, body) = request.into_parts();
            let peer = parts
                .extensions
                .remove::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
            let access = parts.extensions.remove::<crate::access_log::AccessSlot>();
            parts.extensions = axum::http::Extensions::new();
            if let Some(peer) = peer {
                parts.extensions.insert(peer);
            }
            // The access log's slot: the session and the matched page route are noted in it.
            if let Some(access) = access {
                parts.extensions.insert(access);
            }
            let request = Request::from_parts(parts, body);
            let wallet_path = parts_is_wallet(&request);
            let mut router = if wallet_path {
                match console.wallet() {
                    Some(w) => wallet_routes
                        .get_or_init(|| crate::wallet::pages::routes(w.clone()))
                        .clone(),
                    None => {
                        return view::PageError::NotFound(
                            "There is no customer wallet on this node.".into(),
                        )
                        .into_response();
                    }
                }
            } else {
                routes.get_or_init(|| console.router()).clone()
            };
            let ready = std::future::poll_fn(|cx| {
                tower_service::Service::<Request>::poll_ready(&mut router, cx)
            })
            .await;
            let result = match ready {
                Ok(()) => router.call(request).await,
                Err(never) => match never {},
            };
            match result {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    };
    Router::new()
        .route("/console", axum::routing::any(serve.clone()))
        .route("/console/{*rest}", axum::routing::any(serve.clone()))
        .route("/wallet", axum::routing::any(serve.clone()))
        .route("/wallet/{*rest}", axum::routing::any(serve))
}

/// Whether `request` is for the customer wallet (`/wallet…`) rather than the console.
fn parts_is_wallet(request: &axum::extract::Request) -> bool {
    let path = request.uri().path();
    path == "/wallet" || path.starts_with("/wallet/")
}

/// The keys the console writes with (both optional: without a signer the console only
/// reads; without a data key it issues no codes).
#[derive(Default)]
pub struct WriteKeys {
    /// The org key txs are signed with (an issuer or org-admin key of the node's org: the
    /// ledger checks its role on every write).
    pub signer: Option<ed25519_dalek::SigningKey>,
    /// The org's 32-byte code-sealing key.
    pub data_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for WriteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteKeys")
            .field("signer", &self.signer.as_ref().map(|k| k.verifying_key()))
            .field("data_key", &self.data_key.map(|_| "<secret>"))
            .finish()
    }
}

impl Console {
    /// Opens the console of `node` (org `org`) with its store in `data_dir`; it writes
    /// with `keys`.
    pub fn open(
        data_dir: &Path,
        node: NodeHandle,
        org: OrgId,
        analytics: Option<Arc<Analytics>>,
        config: ConsoleConfig,
        keys: WriteKeys,
    ) -> Result<Arc<Console>, ConsoleError> {
        let store = ConsoleStore::open(&store_path(data_dir))?;
        let alerts = alerts::Alerts::open(&store_path(data_dir))?;
        let limiter = LoginLimiter::new(
            config.login_max_failures,
            Duration::from_secs(config.login_window_secs),
        );
        Ok(Arc::new(Console {
            node,
            org,
            analytics,
            store,
            limiter,
            config,
            dummy_hash: password::dummy_hash()?,
            keys,
            alerts,
            data_dir: data_dir.to_path_buf(),
            advisor_model: std::sync::OnceLock::new(),
            wallet: std::sync::OnceLock::new(),
        }))
    }

    /// Sets the language model the Advisor page uses (once; later calls change nothing).
    pub fn set_advisor_model(&self, model: crate::intelligence::llm::ModelConfig) {
        let _ = self.advisor_model.set(model);
    }

    /// The language model the Advisor page uses, if any.
    pub fn advisor_model(&self) -> Option<&crate::intelligence::llm::ModelConfig> {
        self.advisor_model.get()
    }

    /// Sets the customer wallet served at `/wallet` (once).
    pub fn set_wallet(&self, wallet: Arc<crate::wallet::Wallet>) {
        let _ = self.wallet.set(wallet);
    }

    /// The customer wallet, if on.
    pub fn wallet(&self) -> Option<&Arc<crate::wallet::Wallet>> {
        self.wallet.get()
    }

    /// The node's data directory it was opened in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The key console writes are signed with, if any.
    pub fn signer(&self) -> Option<&ed25519_dalek::SigningKey> {
        self.keys.signer.as_ref()
    }

    /// The org's code-sealing key, if the console has it.
    pub fn data_key(&self) -> Option<&[u8; 32]> {
        self.keys.data_key.as_ref()
    }

    /// The org whose data it shows.
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// Its store.
    pub fn store(&self) -> &ConsoleStore {
        &self.store
    }

    /// The node it runs on.
    pub fn node(&self) -> &NodeHandle {
        &self.node
    }

    /// Its alerts.
    pub fn alerts(&self) -> &alerts::Alerts {
        &self.alerts
    }

    /// Its routes, all under `/console`.
    pub fn router(self: &Arc<Self>) -> Router {
        pages::routes(self.clone()).layer(axum::middleware::from_fn(
            crate::access_log::layer::note_route,
        ))
    }
}
