//! Retention of node-local data (issue 21; docs/compliance-retention.md): each data class
//! keeps its rows for a window (`[retention]`, [`RetentionConfig`]), and a background job
//! ([`job`]) deletes what is past it, except what a legal hold keeps.
//!
//! A data class is a [`RetentionClass`]: a name and a `purge(cutoff, holds, limit)` that
//! deletes at most `limit` rows older than the cutoff and none a hold covers. The classes
//! that exist now are in [`classes`] (webhook delivery logs, the access log, analytics
//! detail rows); the member directory plugs its own in with [`Retention::add_class`]
//! under [`DIRECTORY_INACTIVE`] ([`crate::directory::retention`]). Legal holds (a class or `all`, optionally one member id,
//! with a reason, who placed it and when) and the job's runs are kept in
//! `<data_dir>/retention.sqlite` ([`holds`]), node-local like the data they protect.
//! [`api`] serves `/v1/retention` and `/v1/retention/holds` to org admins.

pub mod api;
pub mod classes;
pub mod holds;
pub mod job;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// File name of the retention store inside the node's data directory.
pub const STORE_FILE: &str = "retention.sqlite";
/// Webhook delivery-log rows (`webhooks.sqlite`, table `deliveries`).
pub const WEBHOOK_DELIVERIES: &str = "webhook_deliveries";
/// Access-log entries (`access-log.sqlite`).
pub const ACCESS_LOG: &str = "access_log";
/// Analytics detail rows naming a member or one redemption (`analytics.sqlite`:
/// `redemptions`, `member_days`, `checkouts`; the aggregate rollups stay).
pub const ANALYTICS_DETAIL: &str = "analytics_detail";
/// Directory records of members inactive for the window (the member directory's class).
pub const DIRECTORY_INACTIVE: &str = "directory_inactive";
/// Every data class with a window, in the order they are reported.
pub const CLASSES: [&str; 4] = [
    WEBHOOK_DELIVERIES,
    ACCESS_LOG,
    ANALYTICS_DETAIL,
    DIRECTORY_INACTIVE,
];
/// A hold of this class covers every class.
pub const ALL_CLASSES: &str = "all";
/// One day, ms.
pub const DAY_MS: u64 = 86_400_000;
/// The longest window accepted, days (100 years: anything longer is a typo).
pub const MAX_WINDOW_DAYS: u64 = 36_500;
/// The longest interval between passes accepted, ms (7 days).
pub const MAX_INTERVAL_MS: u64 = 7 * DAY_MS;
/// Most rows one class may delete in a pass, at most.
pub const MAX_ROWS_PER_PASS: u64 = 1_000_000;

/// Why a retention operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A SQLite store failed.
    #[error("{what}: {source}")]
    Store {
        /// Which store.
        what: &'static str,
        /// Why.
        source: rusqlite::Error,
    },
    /// The access log failed.
    #[error("{0}")]
    AccessLog(#[from] crate::access_log::AccessLogError),
    /// A request value is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// No such hold.
    #[error("{0}")]
    NotFound(String),
    /// The key may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The node runs without the retention service.
    #[error("this node runs no retention service")]
    Off,
    /// A blocking task failed.
    #[error("background task: {0}")]
    Task(String),
    /// A class cannot tell what is due now (its store failed or is not ready).
    #[error("{0}")]
    Unavailable(String),
}

impl RetentionError {
    /// A SQLite error of the store `what`.
    pub fn sql(what: &'static str) -> impl FnOnce(rusqlite::Error) -> RetentionError {
        move |source| RetentionError::Store { what, source }
    }
}

/// `[retention]` of the node configuration (docs/operations.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Run the background job (default on; off keeps everything, and the routes still
    /// answer).
    pub enabled: bool,
    /// Time between passes, ms (default 1 h; 1 s to 7 days).
    pub interval_ms: u64,
    /// Most rows one class deletes per pass (default 10,000); a class with more due is
    /// passed again a second later, so a backlog drains without a long transaction.
    pub max_rows_per_pass: u64,
    /// Webhook delivery-log rows, days (default 30).
    pub webhook_deliveries_days: u64,
    /// Access-log entries, days (default 365).
    pub access_log_days: u64,
    /// Analytics detail rows, days (default 730).
    pub analytics_detail_days: u64,
    /// Directory records of members inactive this long, days (default 1095).
    pub directory_inactive_days: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            interval_ms: 3_600_000,
            max_rows_per_pass: 10_000,
            webhook_deliveries_days: 30,
            access_log_days: 365,
            analytics_detail_days: 730,
            directory_inactive_days: 1_095,
        }
    }
}

impl RetentionConfig {
    /// The window of `class`, days.
    pub fn window_days(&self, class: &str) -> Option<u64> {
        match class {
            WEBHOOK_DELIVERIES => Some(self.webhook_deliveries_days),
            ACCESS_LOG => Some(self.access_log_days),
            ANALYTICS_DETAIL => Some(self.analytics_detail_days),
            DIRECTORY_INACTIVE => Some(self.directory_inactive_days),
            _ => None,
        }
    }

    /// Why the section is unusable (a zero or absurd window, interval or limit).
    pub fn check(&self) -> Result<(), String> {
        for class in CLASSES {
            let days = self.window_days(class).unwrap_or_default();
            if !(1..=MAX_WINDOW_DAYS).contains(&days) {
                return Err(format!(
                    "[retention] {class}_days = {days}: a window must be 1 to {MAX_WINDOW_DAYS} days \
                     (0 would delete every row at once; use a legal hold to keep data longer)"
                ));
            }
        }
        if !(1_000..=MAX_INTERVAL_MS).contains(&self.interval_ms) {
            return Err(format!(
                "[retention] interval_ms = {}: must be 1000 (1 s) to {MAX_INTERVAL_MS} (7 days)",
                self.interval_ms
            ));
        }
        if !(1..=MAX_ROWS_PER_PASS).contains(&self.max_rows_per_pass) {
            return Err(format!(
                "[retention] max_rows_per_pass = {}: must be 1 to {MAX_ROWS_PER_PASS}",
                self.max_rows_per_pass
            ));
        }
        Ok(())
    }

    /// The interval between passes.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

/// What the legal holds in force keep of one class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassHolds {
    /// A hold of the whole class (or of `all`): delete nothing.
    pub all: bool,
    /// Members (lowercase hex ids) whose rows are kept.
    pub members: Vec<String>,
}

impl ClassHolds {
    /// What `holds` keep of `class`.
    pub fn of(class: &str, holds: &[holds::Hold]) -> ClassHolds {
        let mut out = ClassHolds::default();
        for h in holds
            .iter()
            .filter(|h| h.class == class || h.class == ALL_CLASSES)
        {
            match &h.member {
                None => out.all = true,
                Some(m) if !out.members.contains(m) => out.members.push(m.clone()),
                Some(_) => {}
            }
        }
        out
    }
}

/// A kind of node-local data with a retention window.
pub trait RetentionClass: Send + Sync + std::fmt::Debug {
    /// Its name in `[retention]` (`<name>_days`), holds and reports.
    fn name(&self) -> &'static str;

    /// Deletes at most `limit` rows older than `cutoff_ms` (ms since the Unix epoch),
    /// keeping every row `holds` covers; how many it deleted.
    fn purge(&self, cutoff_ms: u64, holds: &ClassHolds, limit: u64) -> Result<u64, RetentionError>;
}

/// The retention service: the configuration, the hold store and the classes enforced.
#[derive(Debug)]
pub struct Retention {
    config: RetentionConfig,
    store: holds::HoldStore,
    classes: RwLock<Vec<Arc<dyn RetentionClass>>>,
}

impl Retention {
    /// Opens `<data_dir>/retention.sqlite`, with no class yet.
    pub fn open(data_dir: &Path, config: RetentionConfig) -> Result<Retention, RetentionError> {
        Ok(Retention {
            config,
            store: holds::HoldStore::open(&data_dir.join(STORE_FILE))?,
            classes: RwLock::new(Vec::new()),
        })
    }

    /// Enforces `class` from the next pass on (a class of the same name is replaced).
    pub fn add_class(&self, class: Arc<dyn RetentionClass>) {
        let mut classes = self.classes.write().unwrap_or_else(|p| p.into_inner());
        classes.retain(|c| c.name() != class.name());
        classes.push(class);
    }

    /// The classes enforced.
    pub fn classes(&self) -> Vec<Arc<dyn RetentionClass>> {
        self.classes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The configuration.
    pub fn config(&self) -> &RetentionConfig {
        &self.config
    }

    /// The hold store.
    pub fn store(&self) -> &holds::HoldStore {
        &self.store
    }
}
