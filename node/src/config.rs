//! Node configuration: a TOML file, overridable by environment variables and flags.
//!
//! Every field has a sane default except where a consortium node must be told (its id,
//! genesis and key). `cactusd --dev` builds a complete configuration itself.

use crate::mempool::MempoolLimits;
use crate::node::NodeOptions;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("{path}: {why}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// `cactusd --config FILE`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Raft id of this node (as listed in genesis).
    pub node_id: u64,
    /// Where RocksDB keeps the node's data.
    pub data_dir: PathBuf,
    /// The genesis file (relative paths are relative to the config file).
    pub genesis: PathBuf,
    /// The node's key file (signs checkpoints; its libp2p identity).
    pub node_key: PathBuf,
    /// HTTP API address.
    #[serde(default = "default_http")]
    pub http_addr: SocketAddr,
    /// libp2p listen address (used by the consortium transport).
    #[serde(default)]
    pub p2p_addr: Option<String>,
    /// Block cutting.
    #[serde(default)]
    pub block: BlockConfig,
    /// Mempool limits.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// Raft timing.
    #[serde(default)]
    pub raft: RaftConfig,
}

fn default_http() -> SocketAddr {
    "127.0.0.1:7101".parse().expect("valid address")
}

/// How blocks are cut.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockConfig {
    /// Most txs per block.
    pub max_txs: usize,
    /// Most tx bytes per block.
    pub max_bytes: usize,
    /// With one of this leader's blocks in flight, longest a tx waits for the next block, ms
    /// (with none in flight a block is cut at once; see `NodeOptions::block_interval`).
    pub interval_ms: u64,
}

impl Default for BlockConfig {
    fn default() -> Self {
        let d = NodeOptions::default();
        BlockConfig {
            max_txs: d.block_max_txs,
            max_bytes: d.block_max_bytes,
            interval_ms: d.block_interval.as_millis() as u64,
        }
    }
}

/// Mempool limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// Most queued txs.
    pub max_txs: usize,
    /// Largest tx, bytes.
    pub max_tx_bytes: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        let d = MempoolLimits::default();
        MempoolConfig {
            max_txs: d.max_txs,
            max_tx_bytes: d.max_tx_bytes,
        }
    }
}

/// Raft timing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    /// Tick, ms.
    pub tick_ms: u64,
    /// Election timeout, ticks.
    pub election_ticks: usize,
    /// Applied entries kept before log compaction.
    pub keep_log_entries: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        let d = NodeOptions::default();
        RaftConfig {
            tick_ms: d.tick.as_millis() as u64,
            election_ticks: d.election_ticks,
            keep_log_entries: d.keep_log_entries,
        }
    }
}

impl NodeConfig {
    /// Reads a config file; relative paths in it are resolved against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            why: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.data_dir,
            &mut config.genesis,
            &mut config.node_key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The runtime options this configuration describes.
    pub fn options(&self) -> NodeOptions {
        NodeOptions {
            node_id: self.node_id,
            block_max_txs: self.block.max_txs,
            block_max_bytes: self.block.max_bytes,
            block_interval: Duration::from_millis(self.block.interval_ms),
            tick: Duration::from_millis(self.raft.tick_ms),
            election_ticks: self.raft.election_ticks,
            mempool: MempoolLimits {
                max_txs: self.mempool.max_txs,
                max_tx_bytes: self.mempool.max_tx_bytes,
            },
            keep_log_entries: self.raft.keep_log_entries,
            ..NodeOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "node_id = 2\ndata_dir = \"data\"\ngenesis = \"genesis.toml\"\nnode_key = \"/abs/node.key\"\n").unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.data_dir, dir.path().join("data"));
        assert_eq!(c.node_key, PathBuf::from("/abs/node.key"));
        assert_eq!(c.options().node_id, 2);
        assert_eq!(c.block.max_txs, NodeOptions::default().block_max_txs);
        std::fs::write(&path, "node_id = 2\nbogus = 1\n").unwrap();
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::Parse { .. })
        ));
    }
}
