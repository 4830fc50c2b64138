//! Node configuration: a TOML file, overridable by environment variables and flags.
//!
//! Every field has a sane default except where a consortium node must be told (its id,
//! genesis and key). `cactusd --dev` builds a complete configuration itself.

use crate::api::{ApiOptions, HttpLimits};
use crate::mempool::MempoolLimits;
use crate::node::NodeOptions;
use crate::timing::{Overrides, Profile, Timing};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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
    /// Peer requests and dial overrides (`[p2p]`, docs/operations.md); not written when
    /// empty, so a generated config can have a section appended.
    #[serde(default, skip_serializing_if = "P2pConfig::is_empty")]
    pub p2p: P2pConfig,
    /// Which state-tree versions stay on disk (`[storage]`, docs/operations.md).
    #[serde(default)]
    pub storage: StorageConfig,
    /// Limits of the HTTP API server.
    #[serde(default)]
    pub http: HttpConfig,
    /// Webhook delivery (`[webhooks]`, docs/operations.md).
    #[serde(default)]
    pub webhooks: crate::webhooks::WebhookConfig,
    /// The merchant console (`[console]`, docs/console.md); off unless enabled.
    #[serde(default)]
    pub console: crate::console::ConsoleConfig,
    /// The customer wallet (`[wallet]`, docs/wallet.md); off unless enabled, and only
    /// with the console.
    #[serde(default)]
    pub wallet: crate::wallet::WalletConfig,
    /// Returning freed memory to the system (`[memory]`, docs/operations.md "Memory").
    #[serde(default)]
    pub memory: crate::memory::MemoryConfig,
    /// The coupon advisor (`[advisor]`, docs/intelligence.md "Advisor").
    #[serde(default)]
    pub advisor: AdvisorConfig,
    /// Retention windows of node-local data and the job that enforces them
    /// (`[retention]`, docs/operations.md and docs/compliance-retention.md).
    #[serde(default)]
    pub retention: crate::retention::RetentionConfig,
    /// The member directory (`[directory]`, docs/compliance-directory.md).
    #[serde(default)]
    pub directory: crate::directory::DirectoryConfig,
    /// Segments, propensity and the advisor (`[intelligence]`,
    /// docs/compliance-consent.md "Intelligence").
    #[serde(default)]
    pub intelligence: IntelligenceConfig,
}

/// `[intelligence]`: on what legal basis the org's members are profiled.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelligenceConfig {
    /// `legitimate_interest` (default: everyone except members who withdrew profiling) or
    /// `consent` (only members who granted profiling); erased members never.
    #[serde(default)]
    pub profiling_basis: crate::analytics::consent::ProfilingBasis,
}

/// `[advisor]`: the operator's optional language model that may rephrase and re-rank the
/// advisor's proposals (none by default: the deterministic advisor answers alone).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisorConfig {
    /// An OpenAI-compatible chat-completions endpoint (`[advisor.model]`: `url`, `model`,
    /// `api_key_env`, `timeout_ms`).
    #[serde(default)]
    pub model: Option<crate::intelligence::llm::ModelConfig>,
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

/// Which state-tree versions stay on disk: proofs can be read at the last `retain_blocks`
/// heights, at the last `checkpoints_kept` multiples of `checkpoint_every` below them, and
/// at genesis; older versions are pruned (`crate::pruner`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Heights below the tip whose state stays provable (0 keeps every height).
    pub retain_blocks: u64,
    /// Heights that are multiples of this are kept longer (0: none).
    pub checkpoint_every: u64,
    /// How many such checkpoints are kept below the window.
    pub checkpoints_kept: usize,
    /// State-tree nodes kept in memory (about 96 bytes each); colder subtrees are read
    /// from disk when a block reaches them.
    pub tree_resident_nodes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let d = crate::storage::Retention::default();
        StorageConfig {
            retain_blocks: d.window,
            checkpoint_every: d.checkpoint_every,
            checkpoints_kept: d.checkpoints_kept,
            tree_resident_nodes: crate::node::DEFAULT_TREE_RESIDENT_NODES,
        }
    }
}

/// `[raft]`: Raft timing. `profile` picks the defaults ([`Profile`]); each key set here
/// overrides its profile value; the result is checked at load ([`Timing::check`],
/// docs/operations.md "Raft timing on a WAN").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    /// `lan` (default) or `wan`: the defaults of the timing keys below.
    pub profile: Profile,
    /// Tick, ms (both profiles: 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick_ms: Option<u64>,
    /// Leader heartbeat, ticks (lan 2, wan 3; a fifth of `election_ticks` when only that
    /// is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ticks: Option<usize>,
    /// Election timeout, ticks (lan 10, wan 20); raft-rs randomizes it up to twice this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_ticks: Option<usize>,
    /// The round-trip time expected between members, ms: when set, timings too short for
    /// it are refused at start, and failed requests are retried after this long (doubling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u64>,
    /// Applied entries kept before log compaction.
    pub keep_log_entries: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            profile: Profile::default(),
            tick_ms: None,
            heartbeat_ticks: None,
            election_ticks: None,
            rtt_ms: None,
            keep_log_entries: NodeOptions::default().keep_log_entries,
        }
    }
}

/// `[p2p]`: requests between members and where to dial them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// Timeout of one tx-forwarding or checkpoint-vote request, ms (lan 5,000, wan
    /// 10,000); snapshot chunks get at least 60 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Attempts of an idempotent request (tx forwarding, checkpoint votes) that timed out
    /// or lost its connection (both profiles: 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_attempts: Option<u32>,
    /// Where this node dials a member instead of the address in the consortium's state,
    /// by node id: `dial = { "2" = "/ip4/10.0.0.2/tcp/7202" }` (a member behind NAT, a
    /// tunnel, or a test's delaying proxy). The member's identity is still checked
    /// against its node key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dial: BTreeMap<String, String>,
}

impl P2pConfig {
    /// Nothing set: every value is the profile's, no dial override.
    pub fn is_empty(&self) -> bool {
        self.request_timeout_ms.is_none() && self.request_attempts.is_none() && self.dial.is_empty()
    }

    /// The dial overrides by node id; a key that is not a node id is refused.
    pub fn dial_overrides(&self) -> Result<HashMap<u64, String>, String> {
        self.dial
            .iter()
            .map(|(id, addr)| match id.parse::<u64>() {
                Ok(id) if id > 0 => Ok((id, addr.clone())),
                _ => Err(format!("[p2p] dial: {id:?} is not a node id")),
            })
            .collect()
    }
}

/// `[http]`: limits of the HTTP API server (docs/operations.md, "HTTP limits"); the
/// defaults and their reasons are [`HttpLimits`]'.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Most connections open at once; at the cap the connection idle longest is closed.
    pub max_connections: usize,
    /// Longest a request head may take to arrive, ms.
    pub header_read_timeout_ms: u64,
    /// Longest a kept-alive connection stays open with no request, ms.
    pub idle_timeout_ms: u64,
    /// Longest a request body may take to arrive, ms (then 408).
    pub body_read_timeout_ms: u64,
    /// Longest request target, bytes (then 414).
    pub max_uri_bytes: usize,
    /// Most request headers (then 431).
    pub max_headers: usize,
    /// Most bytes of request headers (then 431).
    pub max_header_bytes: usize,
    /// Most bytes of an oversize body read and discarded before its 413.
    pub max_drain_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let d = HttpLimits::default();
        HttpConfig {
            max_connections: d.max_connections,
            header_read_timeout_ms: d.header_read_timeout.as_millis() as u64,
            idle_timeout_ms: d.idle_timeout.as_millis() as u64,
            body_read_timeout_ms: d.body_read_timeout.as_millis() as u64,
            max_uri_bytes: d.max_uri_bytes,
            max_headers: d.max_headers,
            max_header_bytes: d.max_header_bytes,
            max_drain_bytes: d.max_drain_bytes,
        }
    }
}

impl HttpConfig {
    /// The limits this section describes.
    pub fn limits(&self) -> HttpLimits {
        HttpLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            max_uri_bytes: self.max_uri_bytes,
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
            max_drain_bytes: self.max_drain_bytes,
        }
    }

    /// Why the section is unusable: a zero cap or timeout would refuse every request.
    fn check(&self) -> Result<(), String> {
        let zero = [
            ("max_connections", self.max_connections as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("max_uri_bytes", self.max_uri_bytes as u64),
            ("max_headers", self.max_headers as u64),
            ("max_header_bytes", self.max_header_bytes as u64),
        ]
        .into_iter()
        .find(|(_, value)| *value == 0);
        match zero {
            Some((key, _)) => Err(format!("[http] {key} must be above 0")),
            None => Ok(()),
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
        config.check_timing().map_err(|why| ConfigError::Parse {
            path: path.into(),
            why,
        })?;
        config.http.check().map_err(|why| ConfigError::Parse {
            path: path.into(),
            why,
        })?;
        config.webhooks.check().map_err(|why| ConfigError::Parse {
            path: path.into(),
            why,
        })?;
        config.console.check().map_err(|why| ConfigError::Parse {
            path: path.into(),
            why,
        })?;
        config.retention.check().map_err(|why| ConfigError::Parse {
            path: path.into(),
            why,
        })?;
        config.wallet.check().map_err(|why| ConfigError::Parse {
            path: path.into(),
            why,
        })?;
        if let Some(model) = &config.advisor.model {
            model.validate().map_err(|e| ConfigError::Parse {
                path: path.into(),
                why: format!("[advisor.model]: {e}"),
            })?;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.data_dir,
            &mut config.genesis,
            &mut config.node_key,
        ]
        .into_iter()
        .chain(config.console.key_file.as_mut())
        .chain(config.console.data_key_file.as_mut())
        .chain(config.console.risk_file.as_mut())
        .chain(config.console.risk_key_file.as_mut())
        .chain(config.directory.key_file.as_mut())
        .chain(
            config
                .wallet
                .smtp
                .as_mut()
                .and_then(|m| m.password_file.as_mut()),
        ) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The Raft and request timing: the profile's, with the keys set.
    pub fn timing(&self) -> Timing {
        Timing::resolve(
            self.raft.profile,
            Overrides {
                tick_ms: self.raft.tick_ms,
                heartbeat_ticks: self.raft.heartbeat_ticks,
                election_ticks: self.raft.election_ticks,
                request_timeout_ms: self.p2p.request_timeout_ms,
                request_attempts: self.p2p.request_attempts,
            },
        )
    }

    /// Why the timing cannot work, or the dial overrides do not parse.
    fn check_timing(&self) -> Result<(), String> {
        self.timing()
            .check(self.raft.rtt_ms)
            .map_err(|e| e.to_string())?;
        self.p2p.dial_overrides().map(|_| ())
    }

    /// The HTTP API options this configuration describes.
    pub fn api_options(&self) -> ApiOptions {
        ApiOptions {
            http: self.http.limits(),
            advisor_model: self.advisor.model.clone(),
            ..ApiOptions::default()
        }
    }

    /// The runtime options this configuration describes.
    pub fn options(&self) -> NodeOptions {
        let timing = self.timing();
        NodeOptions {
            node_id: self.node_id,
            block_max_txs: self.block.max_txs,
            block_max_bytes: self.block.max_bytes,
            block_interval: Duration::from_millis(self.block.interval_ms),
            tick: Duration::from_millis(timing.tick_ms),
            heartbeat_ticks: timing.heartbeat_ticks,
            election_ticks: timing.election_ticks,
            mempool: MempoolLimits {
                max_txs: self.mempool.max_txs,
                max_tx_bytes: self.mempool.max_tx_bytes,
            },
            keep_log_entries: self.raft.keep_log_entries,
            retention: crate::storage::Retention {
                window: self.storage.retain_blocks,
                checkpoint_every: self.storage.checkpoint_every,
                checkpoints_kept: self.storage.checkpoints_kept,
            },
            tree_resident_nodes: self.storage.tree_resident_nodes,
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

    #[test]
    fn memory_section_sets_the_trim_policy_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "node_id = 1\ndata_dir = \"d\"\ngenesis = \"g\"\nnode_key = \"k\"\n";
        std::fs::write(&path, base).unwrap();
        let memory = NodeConfig::load(&path).unwrap().memory;
        assert_eq!(
            (
                memory.trim_interval_ms,
                memory.idle_cpu_percent,
                memory.busy_trim_interval_ms
            ),
            (1_000, 20, 2_000)
        );
        std::fs::write(
            &path,
            format!("{base}[memory]\ntrim_interval_ms = 0\nbusy_trim_interval_ms = 5000\n"),
        )
        .unwrap();
        let memory = NodeConfig::load(&path).unwrap().memory;
        assert_eq!(memory.trim_interval_ms, 0);
        assert_eq!(memory.busy_trim_interval_ms, 5_000);
        assert_eq!(memory.idle_cpu_percent, 20, "unset keys keep their default");
        std::fs::write(&path, format!("{base}[memory]\ntrim_ms = 5\n")).unwrap();
        let err = NodeConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("trim_ms"), "{err}");
    }

    #[test]
    fn intelligence_section_sets_the_profiling_basis() {
        use crate::analytics::consent::ProfilingBasis;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "node_id = 1\ndata_dir = \"d\"\ngenesis = \"g\"\nnode_key = \"k\"\n";
        std::fs::write(&path, base).unwrap();
        let basis = NodeConfig::load(&path)
            .unwrap()
            .intelligence
            .profiling_basis;
        assert_eq!(basis, ProfilingBasis::LegitimateInterest);
        std::fs::write(
            &path,
            format!("{base}[intelligence]\nprofiling_basis = \"consent\"\n"),
        )
        .unwrap();
        let basis = NodeConfig::load(&path)
            .unwrap()
            .intelligence
            .profiling_basis;
        assert_eq!(basis, ProfilingBasis::Consent);
        std::fs::write(
            &path,
            format!("{base}[intelligence]\nprofiling_basis = \"opt_out\"\n"),
        )
        .unwrap();
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn http_section_sets_the_server_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "node_id = 1\ndata_dir = \"d\"\ngenesis = \"g\"\nnode_key = \"k\"\n";
        std::fs::write(&path, base).unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.api_options().http, HttpLimits::default());
        let section =
            "[http]\nmax_connections = 256\nidle_timeout_ms = 5000\nmax_uri_bytes = 100\n";
        std::fs::write(&path, format!("{base}{section}")).unwrap();
        let limits = NodeConfig::load(&path).unwrap().api_options().http;
        assert_eq!(limits.max_connections, 256);
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_uri_bytes, 100);
        assert_eq!(
            limits.header_read_timeout,
            HttpLimits::default().header_read_timeout
        );
        for bad in ["[http]\nmax_connections = 0\n", "[http]\nmax_conns = 5\n"] {
            std::fs::write(&path, format!("{base}{bad}")).unwrap();
            let error = NodeConfig::load(&path).unwrap_err();
            assert!(matches!(error, ConfigError::Parse { .. }), "{error}");
        }
    }

    #[test]
    fn raft_profile_and_keys_resolve_and_bad_timing_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "node_id = 1\ndata_dir = \"d\"\ngenesis = \"g\"\nnode_key = \"k\"\n";
        let load = |extra: &str| {
            std::fs::write(&path, format!("{base}{extra}")).unwrap();
            NodeConfig::load(&path)
        };
        let lan = load("").unwrap().options();
        assert_eq!(
            (lan.tick, lan.heartbeat_ticks, lan.election_ticks),
            (Duration::from_millis(100), 2, 10)
        );
        let wan = load("[raft]\nprofile = \"wan\"\nrtt_ms = 300\n").unwrap();
        let options = wan.options();
        assert_eq!((options.heartbeat_ticks, options.election_ticks), (3, 20));
        assert_eq!(wan.timing().request_timeout_ms, 10_000);
        let tuned = load("[raft]\nprofile = \"wan\"\nelection_ticks = 30\nheartbeat_ticks = 5\n")
            .unwrap()
            .options();
        assert_eq!((tuned.heartbeat_ticks, tuned.election_ticks), (5, 30));
        // Each rule, refused with the key named.
        for (extra, key) in [
            ("[raft]\ntick_ms = 1\n", "[raft] tick_ms = 1"),
            (
                "[raft]\nheartbeat_ticks = 0\n",
                "[raft] heartbeat_ticks = 0",
            ),
            (
                "[raft]\nheartbeat_ticks = 4\nelection_ticks = 10\n",
                "[raft] election_ticks = 10",
            ),
            (
                "[p2p]\nrequest_timeout_ms = 500\n",
                "[p2p] request_timeout_ms = 500",
            ),
            (
                "[p2p]\nrequest_attempts = 0\n",
                "[p2p] request_attempts = 0",
            ),
            ("[raft]\nrtt_ms = 300\n", "[raft] heartbeat_ticks = 2"),
            (
                "[raft]\nrtt_ms = 300\nheartbeat_ticks = 3\n",
                "[raft] election_ticks = 10",
            ),
            ("[raft]\nprofile = \"moon\"\n", "moon"),
            (
                "[p2p]\ndial = { \"two\" = \"/ip4/127.0.0.1/tcp/1\" }\n",
                "\"two\"",
            ),
        ] {
            let error = load(extra).unwrap_err().to_string();
            assert!(error.contains(key), "{extra}: {error}");
        }
    }

    #[test]
    fn p2p_dial_overrides_parse_by_node_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "node_id = 1\ndata_dir = \"d\"\ngenesis = \"g\"\nnode_key = \"k\"\n\
             [p2p]\ndial = { \"2\" = \"/ip4/127.0.0.1/tcp/9\" }\n",
        )
        .unwrap();
        let dial = NodeConfig::load(&path)
            .unwrap()
            .p2p
            .dial_overrides()
            .unwrap();
        assert_eq!(
            dial,
            HashMap::from([(2, "/ip4/127.0.0.1/tcp/9".to_owned())])
        );
    }
}
