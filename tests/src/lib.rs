//! End-to-end test harness: starts real `cactusd --dev` processes and talks to them over
//! HTTP, the way a terminal, an issuer or an auditor would.
//!
//! ```no_run
//! use couponcactus_tests::{DevNode, fixtures};
//!
//! let mut node = DevNode::start(); // cactusd --dev on a temp dir and a free port, leader
//! let pool = node.create_active_pool("spring", 3); // create, issue 3 codes, activate
//! let redeem = node.redeem_code(&pool.codes[0], fixtures::order(10_000));
//! assert_eq!(redeem.status, "applied");
//! node.crash(); // kill -9
//! node.restart(); // same data dir and port
//! assert_eq!(node.status().height, redeem.height.unwrap());
//! ```
//!
//! The node's stdout and stderr go to `cactusd.log` in its data directory; when a test
//! panics, [`DevNode`]'s `Drop` prints that log, so the failure shows what the node did.
//! Child processes are killed on drop.
//!
//! The harness runs the `cactusd` built next to the test executable
//! (`target/<profile>/cactusd`, or `$CACTUSD_BIN`). `scripts/test.sh` builds it; when you
//! run the tests with cargo directly, build it first (`cargo build -p couponcactus-node
//! --bin cactusd`): cargo does not build another package's binaries for tests, and the
//! harness refuses a binary older than its sources.

pub mod browser;
pub mod client;
pub mod cluster;
pub mod cluster_cli;
pub mod console;
pub mod fixtures;
pub mod localnet;
pub mod netem;
pub mod node;
pub mod postgres;
pub mod python;
pub mod receiver;
pub mod scan;
pub mod views;

pub use client::{Client, Reply};
pub use cluster::{Cluster, ClusterBuilder, ClusterNode, OrgKeys};
pub use node::{Dev, DevKeys, DevNode, cactusd_binary};
pub use views::*;

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch by the local clock (the node runs on the same host).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub mod audit;
pub mod tamper;
