//! The customer wallet (issue 21): a page the org's node serves its own customers at
//! `/wallet`, reached by a magic link instead of a password. It shows the member's coupons
//! with their codes as QR codes (when the node holds the org's code-sealing key), each with
//! whether its state proof verified against a certified checkpoint; their balances in the
//! org's loyalty program; the history of each coupon on the ledger; and the org's public
//! coupons they may claim: a claim is an allocation signed with the console's org key
//! whose claim key is derived from the member and the pool, so a double tap claims once.
//!
//! It owns the magic links ([`links`]), its node-local store of used links and customer
//! sessions ([`store`], `wallet.sqlite`), the link key (`wallet.key`, 32 random bytes,
//! 0600, in the data directory: replacing it voids every link and session), the delivery
//! of links by e-mail through SMTP ([`mail`]) and the pages ([`pages`]). Configured in
//! `[wallet]` (docs/wallet.md); it runs with the console, whose org, keys and node it
//! uses.

pub mod links;
pub mod mail;
pub mod pages;
pub mod store;

use crate::console::Console;
use crate::node::NodeHandle;
use couponcactus_chaincode::ids::{MemberId, OrgId};
use links::Link;
use mail::{Mailer, SmtpConfig};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use store::WalletStore;

/// The link key's file inside the node's data directory.
pub const KEY_FILE: &str = "wallet.key";
/// Shortest and longest link lifetime accepted in the config, seconds.
pub const LINK_TTL_BOUNDS: (u64, u64) = (60, 7 * 24 * 3600);
/// Shortest and longest session lifetime accepted, seconds.
pub const SESSION_TTL_BOUNDS: (u64, u64) = (60, 30 * 24 * 3600);

/// What can go wrong in the wallet.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// SQLite failed.
    #[error("wallet database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The `[wallet]` configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// A request or input is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The mail could not be sent.
    #[error("{0}")]
    Mail(String),
}

/// `[wallet]`: the customer wallet of the node's org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    /// Serve `/wallet` (off unless set; on in the localnet and `--dev`).
    pub enabled: bool,
    /// The address customers reach this node at, for the links (e.g.
    /// `https://wallet.acme.example`); default: the node's HTTP address.
    pub public_url: Option<String>,
    /// How long a link works, seconds (60 to 7 days; default 15 minutes).
    pub link_ttl_secs: u64,
    /// How long a session lasts after the link, seconds (60 to 30 days; default 1 hour).
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// The org's pools offered for claiming in the wallet (`"*"`: every active
    /// unique-code pool of the org); default none.
    pub public_pools: Vec<String>,
    /// The SMTP server links are e-mailed through; without it links are only returned to
    /// the org staff who asked (`cactus wallet send-link --print`).
    pub smtp: Option<SmtpConfig>,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig {
            enabled: false,
            public_url: None,
            link_ttl_secs: 15 * 60,
            session_ttl_secs: 3600,
            secure_cookies: false,
            public_pools: vec![],
            smtp: None,
        }
    }
}

impl WalletConfig {
    /// The configuration of a local chain (`--dev`, the localnet): on, every active pool
    /// of the org offered.
    pub fn local() -> WalletConfig {
        WalletConfig {
            enabled: true,
            public_pools: vec!["*".into()],
            ..WalletConfig::default()
        }
    }

    /// Why the section is unusable.
    pub fn check(&self) -> Result<(), String> {
        let within = |v: u64, (lo, hi): (u64, u64)| (lo..=hi).contains(&v);
        if !within(self.link_ttl_secs, LINK_TTL_BOUNDS) {
            return Err(format!(
                "[wallet] link_ttl_secs must be between {} and {}",
                LINK_TTL_BOUNDS.0, LINK_TTL_BOUNDS.1
            ));
        }
        if !within(self.session_ttl_secs, SESSION_TTL_BOUNDS) {
            return Err(format!(
                "[wallet] session_ttl_secs must be between {} and {}",
                SESSION_TTL_BOUNDS.0, SESSION_TTL_BOUNDS.1
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "[wallet] public_url {url:?} must start with http:// or https://"
            ));
        }
        Ok(())
    }
}

/// The wallet of one node's org.
pub struct Wallet {
    /// The console whose org, node and keys it uses.
    console: Arc<Console>,
    /// Used links and sessions.
    store: WalletStore,
    /// The link key.
    key: [u8; 32],
    /// Its configuration.
    config: WalletConfig,
    /// The base URL of links (no trailing slash).
    base_url: String,
    /// The e-mail sender, when `[wallet.smtp]` is set.
    mailer: Option<Mailer>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("org", self.console.org())
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// A link made for a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedLink {
    /// The URL the customer follows.
    pub url: String,
    /// When it stops working, ms.
    pub expires_ms: u64,
}

impl Wallet {
    /// Opens the wallet of `console` with its store and key in `data_dir`; links point at
    /// `config.public_url` or else `default_url`.
    pub fn open(
        data_dir: &Path,
        console: Arc<Console>,
        config: WalletConfig,
        default_url: &str,
    ) -> Result<Arc<Wallet>, WalletError> {
        config.check().map_err(WalletError::Config)?;
        let mailer = config.smtp.as_ref().map(Mailer::new).transpose()?;
        let base_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| default_url.to_string())
            .trim_end_matches('/')
            .to_string();
        Ok(Arc::new(Wallet {
            console,
            store: WalletStore::open(data_dir)?,
            key: load_or_create_key(&data_dir.join(KEY_FILE))?,
            config,
            base_url,
            mailer,
        }))
    }

    /// The org it serves.
    pub fn org(&self) -> &OrgId {
        self.console.org()
    }

    /// The node it reads.
    pub fn node(&self) -> &NodeHandle {
        self.console.node()
    }

    /// Its store.
    pub fn store(&self) -> &WalletStore {
        &self.store
    }

    /// A new link to `member`'s wallet, valid from `now_ms` for the configured time.
    pub fn link(&self, member: MemberId, now_ms: u64) -> IssuedLink {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let expires_ms = now_ms.saturating_add(self.config.link_ttl_secs * 1000);
        let token = Link {
            member,
            expires_ms,
            nonce,
        }
        .token(&self.key);
        IssuedLink {
            url: format!("{}/wallet/open?t={token}", self.base_url),
            expires_ms,
        }
    }

    /// Makes a link to `member`'s wallet and e-mails it to `email`.
    pub async fn email_link(
        &self,
        member: MemberId,
        email: &str,
        now_ms: u64,
    ) -> Result<IssuedLink, WalletError> {
        let mailer = self.mailer.as_ref().ok_or_else(|| {
            WalletError::Config("no [wallet.smtp] server is configured on this node".into())
        })?;
        let link = self.link(member, now_ms);
        let expires = crate::console::view::time(link.expires_ms);
        mailer
            .send_link(email, self.org().as_str(), &link.url, &expires)
            .await?;
        Ok(link)
    }

    /// Whether `pool` is offered for claiming.
    pub fn offered(&self, pool: &couponcactus_chaincode::ids::PoolId) -> bool {
        self.config
            .public_pools
            .iter()
            .any(|p| p == "*" || p == pool.as_str())
    }

    /// Whether links can be e-mailed.
    pub fn can_email(&self) -> bool {
        self.mailer.is_some()
    }
}

/// Reads the 32-byte link key at `path`, or creates it (0600) when missing.
fn load_or_create_key(path: &Path) -> Result<[u8; 32], WalletError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| WalletError::Io { what, source }
    };
    match std::fs::read(path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            WalletError::Config(format!(
                "{} is not a 32-byte wallet key: remove it to make a new one (every link and session ends)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io("creating"))?;
            file.write_all(&key).map_err(io("writing"))?;
            file.sync_all().map_err(io("syncing"))?;
            Ok(key)
        }
        Err(e) => Err(io("reading")(e)),
    }
}

#[cfg(test)]
mod tests;
