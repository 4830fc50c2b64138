//! The analytics store: a disposable SQLite read model of the ledger events, for KPIs,
//! redemption listings and rejection reports (`GET /v1/analytics/…`).
//!
//! It owns the file `analytics.sqlite` next to the node's database ([`analytics_path`]),
//! opened in WAL mode. The [`ingest`] follower reads the node's event log
//! ([`crate::storage::Store::events_after`]) after applied blocks (at most every 200 ms) and writes whole
//! blocks in one SQL transaction together with the height and event cursor they reach, so
//! re-ingesting a height changes nothing. Nothing in it is authoritative: `cactusd reindex`
//! ([`ingest::reindex`]) drops it and rebuilds it from the chain.
//!
//! Layout ([`schema`]): `rollup`, hourly pre-aggregated counts and sums per org, pool,
//! store, channel, terminal, signing org, event type, rejection reason and currency (what
//! keeps KPI queries fast at millions of redemptions), and `redemptions`, one row per
//! redemption, for listings. Money is integer minor units; rates are basis points with
//! their exact fraction ([`report::Rate`]). [`query`] turns validated requests into SQL,
//! [`report`] holds the answers, and [`http`] serves them with the chain position they
//! were computed at ([`report::Stamp`]).

pub mod activity;
pub mod consent;
pub mod finance;
pub mod http;
pub mod ingest;
pub mod members;
pub mod query;
pub mod report;
pub mod schema;

#[cfg(test)]
pub(crate) mod tests;

use crate::storage::StorageError;
use couponcactus_chaincode::state::StateError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The analytics file's name inside the node's data directory.
pub const ANALYTICS_FILE: &str = "analytics.sqlite";

/// Where the analytics store of a node whose data directory is `data_dir` lives.
pub fn analytics_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ANALYTICS_FILE)
}

/// What can go wrong in the analytics store.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// SQLite failed.
    #[error("analytics database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The node's database failed.
    #[error("node database: {0}")]
    Storage(#[from] StorageError),
    /// Reading the chain state failed.
    #[error("chain state: {0}")]
    State(#[from] StateError),
    /// A request parameter is not acceptable (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The reader may not see this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// A number does not fit SQLite's signed 64-bit integers.
    #[error("{0} does not fit a signed 64-bit integer")]
    Overflow(&'static str),
    /// The node's database is in use by a running cactusd.
    #[error(
        "the node's database in {0} is locked by a running cactusd: stop the node first (reindex rebuilds the analytics store of a stopped node)"
    )]
    NodeRunning(PathBuf),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// The analytics store: one writer connection (the ingester) and one reader connection
/// (queries); WAL lets them work at the same time.
#[derive(Debug)]
pub struct Analytics {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Which members [`Analytics::member_data`] shows ([`consent::ProfilingBasis`]).
    profiling: Mutex<consent::ProfilingBasis>,
}

impl Analytics {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Analytics, AnalyticsError> {
        let writer = schema::open(path)?;
        let reader = schema::open(path)?;
        Ok(Analytics {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            profiling: Mutex::new(consent::ProfilingBasis::default()),
        })
    }

    /// Sets on what basis the org's members are profiled (`[intelligence]
    /// profiling_basis`): what [`Analytics::member_data`] leaves out from then on.
    pub fn set_profiling_basis(&self, basis: consent::ProfilingBasis) {
        *self.profiling.lock().unwrap_or_else(|p| p.into_inner()) = basis;
    }

    /// The basis members are profiled on.
    pub fn profiling_basis(&self) -> consent::ProfilingBasis {
        *self.profiling.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where ingestion stands.
    pub fn position(&self) -> Result<schema::Position, AnalyticsError> {
        schema::position(&self.reader())
    }
}

/// `u64` into SQLite's `i64`, or [`AnalyticsError::Overflow`].
pub(crate) fn sql_int(v: u64, what: &'static str) -> Result<i64, AnalyticsError> {
    i64::try_from(v).map_err(|_| AnalyticsError::Overflow(what))
}
