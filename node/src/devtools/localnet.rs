//! `cactusd localnet-init`: a local N-node consortium in one directory, for
//! `scripts/localnet.sh` and `scripts/dev.sh`.
//!
//! This module owns the localnet's files and their layout: for N nodes (1 to 9) it makes N
//! orgs (`acme`, `globex`, `initech`, then `org4`…), one voting node per org (node i is run
//! by org i), the key files of every org (org admin, issuer, a terminal at store
//! `<org>-store-1` on channel `pos`, auditor, partner, and the org's code-sealing data
//! key), a node key per node, the genesis of chain `cactus-localnet`, and one `cactusd.toml`
//! per node. Node i serves HTTP on `127.0.0.1:{base+i}` and libp2p on
//! `/ip4/127.0.0.1/tcp/{base+100+i}` (base port 7100 by default).
//!
//! ```text
//! DIR/genesis.toml                      the chain (written last: its presence means complete)
//! DIR/README.txt                        what is where
//! DIR/orgs/<org>/keys/<name>.key        org-admin, issuer, terminal, auditor, partner (0600)
//! DIR/orgs/<org>/keys/data.key          the org's code-sealing key (0600)
//! DIR/node<i>/cactusd.toml              node i's configuration (paths relative to it)
//! DIR/node<i>/node.key                  node i's key (0600)
//! DIR/node<i>/db/, snapshots/            node i's RocksDB and state-sync snapshots (made by it)
//! ```
//!
//! [`init`] is idempotent and crash-safe like `cactusd --dev` ([`crate::devtools::dev::prepare`]):
//! everything is built in `DIR/.init` and renamed into place, `genesis.toml` last; an existing
//! `genesis.toml` means the localnet is complete and is reused as it is.

use couponcactus_chaincode::ids::{ChainId, Channel, OrgId, StoreId};
use couponcactus_chaincode::initial::{InitialOrg, InitialState};
use couponcactus_chaincode::types::{ChainParams, NodeRecord, Role};
use couponcactus_genesis::{Genesis, GenesisError, KeyFile};
use couponcactus_node::config::{ConfigError, NodeConfig};
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The chain id of every localnet.
pub const CHAIN_ID: &str = "cactus-localnet";
/// Default base port: node i serves HTTP on `base + i` and libp2p on `base + 100 + i`.
pub const DEFAULT_BASE_PORT: u16 = 7100;
/// Most nodes of a localnet (so node i's ports read `710i` / `720i`).
pub const MAX_NODES: usize = 9;
/// The channel every localnet terminal sells through.
pub const TERMINAL_CHANNEL: &str = "pos";
/// File stem of an org's code-sealing data key (`keys/data.key`).
pub const DATA_KEY: &str = "data";

/// The first orgs' ids and display names; org 4 onwards is `org<i>`.
const NAMED_ORGS: [(&str, &str); 3] = [
    ("acme", "Acme Corp"),
    ("globex", "Globex Corporation"),
    ("initech", "Initech"),
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct LocalnetSpec {
    /// The localnet's directory (`.localnet` for the scripts).
    pub dir: PathBuf,
    /// Number of nodes, and of orgs: 1 to [`MAX_NODES`].
    pub nodes: usize,
    /// Node i serves HTTP on `127.0.0.1:{base_port+i}` and libp2p on
    /// `/ip4/127.0.0.1/tcp/{base_port+100+i}`.
    pub base_port: u16,
    /// Genesis time (ms since the Unix epoch).
    pub now_ms: u64,
    /// For nodes on separate hosts (containers): node i's host name, with `{i}` replaced by
    /// i (e.g. `node{i}`). Peers then dial `/dns4/<host>/tcp/{base_port+100+i}` (or
    /// `/ip4/…` for an IPv4 address) and the nodes listen on all interfaces. `None`: all on
    /// 127.0.0.1.
    pub host_template: Option<String>,
}

#[cfg(test)]
impl LocalnetSpec {
    /// `nodes` nodes in `dir` on the default base port, genesis time now.
    pub fn new(dir: impl Into<PathBuf>, nodes: usize) -> Self {
        LocalnetSpec {
            dir: dir.into(),
            nodes,
            base_port: DEFAULT_BASE_PORT,
            now_ms: couponcactus_node::node::now_ms(),
            host_template: None,
        }
    }
}

/// Why a localnet could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    /// The node count is out of range.
    #[error("a localnet has 1 to {MAX_NODES} nodes, not {0}")]
    BadNodeCount(usize),
    /// The ports would not fit below 65536.
    #[error("base port {0} is too high: node ports go up to base + {max}", max = 100 + MAX_NODES)]
    BadBasePort(u16),
    /// The directory holds a localnet of another shape than asked for.
    #[error(
        "{dir} holds a localnet with {what} {existing}, not {requested}; use it as it is, or \
         wipe it (`scripts/localnet.sh down --wipe`) to make a new one"
    )]
    Mismatch {
        /// The localnet's directory.
        dir: PathBuf,
        /// What differs.
        what: &'static str,
        /// What the directory holds.
        existing: String,
        /// What was asked for.
        requested: String,
    },
    /// The directory's files do not form a localnet.
    #[error("{path}: not a localnet file: {why}")]
    NotALocalnet {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A genesis or key file could not be read or written.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A node configuration could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// One node of a localnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalnetNode {
    /// Its Raft id, `i` for node i.
    pub node_id: u64,
    /// The org that runs it (org i).
    pub org: OrgId,
    /// Its HTTP API address.
    pub http_addr: SocketAddr,
    /// Its libp2p address, as in genesis.
    pub p2p_addr: String,
}

/// Where a localnet's files are, and what it consists of. Nodes and orgs are numbered from
/// 1: node i is run by org i.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalnetLayout {
    /// The localnet's directory.
    pub dir: PathBuf,
    /// The chain id.
    pub chain_id: ChainId,
    /// The orgs; org i is `orgs[i - 1]`.
    pub orgs: Vec<OrgId>,
    /// The nodes; node i is `nodes[i - 1]`.
    pub nodes: Vec<LocalnetNode>,
}

/// The key files of an org, by file stem, with their on-chain roles; `org-admin` is in
/// genesis, the others are registered by the org admin (see [`crate::devtools::demo::seed`]).
pub fn org_roles(org: &OrgId) -> Vec<(&'static str, Role)> {
    vec![
        ("org-admin", Role::OrgAdmin),
        ("issuer", Role::Issuer),
        (
            "terminal",
            Role::Terminal {
                store: terminal_store(org),
                channel: Channel(TERMINAL_CHANNEL.into()),
            },
        ),
        ("auditor", Role::Auditor),
        ("partner", Role::Partner),
    ]
}

/// The store of `org`'s localnet terminal: `<org>-store-1`.
pub fn terminal_store(org: &OrgId) -> StoreId {
    StoreId(format!("{org}-store-1"))
}

/// Org i (1-based) of a localnet: its id and display name.
pub fn org_name(i: usize) -> (OrgId, String) {
    match NAMED_ORGS.get(i.wrapping_sub(1)) {
        Some((id, name)) => (OrgId((*id).into()), (*name).into()),
        None => (OrgId(format!("org{i}")), format!("Org {i}")),
    }
}

/// Node i's HTTP address for `spec` (all interfaces when nodes are on separate hosts).
fn http_addr(spec: &LocalnetSpec, i: usize) -> SocketAddr {
    let ip = match spec.host_template {
        None => Ipv4Addr::LOCALHOST,
        Some(_) => Ipv4Addr::UNSPECIFIED,
    };
    SocketAddr::from((ip, spec.base_port + i as u16))
}

/// The libp2p address peers dial to reach node i (the one in genesis).
fn p2p_addr(spec: &LocalnetSpec, i: usize) -> String {
    let port = spec.base_port + 100 + i as u16;
    match &spec.host_template {
        None => format!("/ip4/127.0.0.1/tcp/{port}"),
        Some(template) => {
            let host = template.replace("{i}", &i.to_string());
            if host.parse::<Ipv4Addr>().is_ok() {
                format!("/ip4/{host}/tcp/{port}")
            } else {
                format!("/dns4/{host}/tcp/{port}")
            }
        }
    }
}

/// Where a node listens for peers, given the address peers dial: a `/dns4/` name is
/// served on all interfaces.
fn p2p_listen_addr(dial: &str) -> String {
    match dial
        .strip_prefix("/dns4/")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((_, tail)) => format!("/ip4/0.0.0.0/{tail}"),
        None => dial.to_string(),
    }
}

impl LocalnetLayout {
    /// `DIR/genesis.toml`.
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.toml")
    }

    /// `DIR/README.txt`.
    pub fn readme(&self) -> PathBuf {
        self.dir.join("README.txt")
    }

    /// `DIR/demo.json`: the summary [`crate::devtools::demo::seed`] writes.
    pub fn demo_summary(&self) -> PathBuf {
        self.dir.join("demo.json")
    }

    /// `DIR/node<i>`.
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}"))
    }

    /// `DIR/node<i>/cactusd.toml`.
    pub fn config(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("cactusd.toml")
    }

    /// `DIR/node<i>/node.key`.
    pub fn node_key(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("node.key")
    }

    /// Node i. Panics unless `1 <= i <= nodes`.
    pub fn node(&self, i: usize) -> &LocalnetNode {
        &self.nodes[i - 1]
    }

    /// Node i's HTTP address. Panics unless `1 <= i <= nodes`.
    pub fn http_addr(&self, i: usize) -> SocketAddr {
        self.node(i).http_addr
    }

    /// Node i's API URL, `http://127.0.0.1:PORT`. Panics unless `1 <= i <= nodes`.
    pub fn http_url(&self, i: usize) -> String {
        format!("http://{}", self.http_addr(i))
    }

    /// Org i. Panics unless `1 <= i <= orgs`.
    pub fn org(&self, i: usize) -> &OrgId {
        &self.orgs[i - 1]
    }

    /// `DIR/orgs/<org i>`. Panics unless `1 <= i <= orgs`.
    pub fn org_dir(&self, i: usize) -> PathBuf {
        self.dir.join("orgs").join(self.org(i).as_str())
    }

    /// `DIR/orgs/<org i>/keys/<name>.key` (names: see [`org_roles`]). Panics unless
    /// `1 <= i <= orgs`.
    pub fn org_key(&self, i: usize, name: &str) -> PathBuf {
        self.org_dir(i).join("keys").join(format!("{name}.key"))
    }

    /// `DIR/orgs/<org i>/keys/data.key`: the org's 32-byte code-sealing key, stored as a
    /// key file (its secret seed is the key). Panics unless `1 <= i <= orgs`.
    pub fn data_key(&self, i: usize) -> PathBuf {
        self.org_key(i, DATA_KEY)
    }

    /// `DIR/orgs/<org i>/codes-<pool>.csv`: plaintext demo codes (0600). Panics unless
    /// `1 <= i <= orgs`.
    pub fn codes_csv(&self, i: usize, pool: &str) -> PathBuf {
        self.org_dir(i).join(format!("codes-{pool}.csv"))
    }

    /// Opens an existing localnet: `DIR/genesis.toml` and every node's `cactusd.toml`.
    pub fn open(dir: &Path) -> Result<LocalnetLayout, LocalnetError> {
        let mut layout = LocalnetLayout {
            dir: dir.to_path_buf(),
            chain_id: ChainId(CHAIN_ID.into()),
            orgs: vec![],
            nodes: vec![],
        };
        let genesis = Genesis::load(&layout.genesis())?;
        let not_a_localnet = |path: PathBuf, why: String| LocalnetError::NotALocalnet { path, why };
        layout.chain_id = genesis.initial.chain_id.clone();
        layout.orgs = genesis.initial.orgs.iter().map(|o| o.id.clone()).collect();
        let mut nodes = genesis.initial.nodes.clone();
        nodes.sort_by_key(|n| n.node_id);
        for (index, record) in nodes.iter().enumerate() {
            let i = index + 1;
            if record.node_id != i as u64 {
                return Err(not_a_localnet(
                    layout.genesis(),
                    format!("nodes are not numbered 1 to {}", nodes.len()),
                ));
            }
            let path = layout.config(i);
            let config = NodeConfig::load(&path)?;
            if config.node_id != record.node_id {
                return Err(not_a_localnet(
                    path,
                    format!("node_id is {}, expected {i}", config.node_id),
                ));
            }
            layout.nodes.push(LocalnetNode {
                node_id: record.node_id,
                org: record.org.clone(),
                http_addr: config.http_addr,
                p2p_addr: record.p2p_addr.clone(),
            });
        }
        Ok(layout)
    }
}

/// Creates the localnet of `spec` if `spec.dir` holds none; returns its layout.
///
/// Idempotent and crash-safe: an existing `DIR/genesis.toml` means a complete localnet,
/// which is reused (an error if it has another node count or base port than `spec`);
/// otherwise everything is written into `DIR/.init` and renamed into place, `genesis.toml`
/// last. Files of an interrupted first run (no genesis, so no node ever used them) are
/// replaced.
pub fn init(spec: &LocalnetSpec) -> Result<LocalnetLayout, LocalnetError> {
    if !(1..=MAX_NODES).contains(&spec.nodes) {
        return Err(LocalnetError::BadNodeCount(spec.nodes));
    }
    if spec.base_port.checked_add(100 + MAX_NODES as u16).is_none() {
        return Err(LocalnetError::BadBasePort(spec.base_port));
    }
    if spec.dir.join("genesis.toml").exists() {
        let layout = LocalnetLayout::open(&spec.dir)?;
        let mismatch = |what, existing: String, requested: String| LocalnetError::Mismatch {
            dir: spec.dir.clone(),
            what,
            existing,
            requested,
        };
        if layout.nodes.len() != spec.nodes {
            return Err(mismatch(
                "node count",
                layout.nodes.len().to_string(),
                spec.nodes.to_string(),
            ));
        }
        let wanted = http_addr(spec, 1);
        if layout.http_addr(1) != wanted {
            return Err(mismatch(
                "node 1 HTTP address",
                layout.http_addr(1).to_string(),
                format!("{wanted} (base port {})", spec.base_port),
            ));
        }
        return Ok(layout);
    }
    create(spec)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LocalnetError + '_ {
    move |source| LocalnetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to a new file at `path` and syncs it.
fn write_file(path: &Path, text: &str) -> Result<(), LocalnetError> {
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Removes a file or folder if it exists.
fn remove(path: &Path) -> Result<(), LocalnetError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(io(path)),
        Ok(_) => std::fs::remove_file(path).map_err(io(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

fn create(spec: &LocalnetSpec) -> Result<LocalnetLayout, LocalnetError> {
    let n = spec.nodes;
    let target = LocalnetLayout {
        dir: spec.dir.clone(),
        chain_id: ChainId(CHAIN_ID.into()),
        orgs: (1..=n).map(|i| org_name(i).0).collect(),
        nodes: (1..=n)
            .map(|i| LocalnetNode {
                node_id: i as u64,
                org: org_name(i).0,
                http_addr: http_addr(spec, i),
                p2p_addr: p2p_addr(spec, i),
            })
            .collect(),
    };
    let staging = LocalnetLayout {
        dir: spec.dir.join(".init"),
        ..target.clone()
    };
    remove(&staging.dir)?;
    std::fs::create_dir_all(&staging.dir).map_err(io(&staging.dir))?;

    let mut orgs = Vec::with_capacity(n);
    for i in 1..=n {
        let keys_dir = staging.org_dir(i).join("keys");
        std::fs::create_dir_all(&keys_dir).map_err(io(&keys_dir))?;
        let mut admin = None;
        for (name, role) in org_roles(staging.org(i)) {
            let key = KeyFile::generate();
            key.save(&staging.org_key(i, name))?;
            if role == Role::OrgAdmin {
                admin = Some(key.public_key());
            }
        }
        // 32 random bytes, stored like a key file (as `cactusd --dev` does).
        KeyFile::generate().save(&staging.data_key(i))?;
        let (id, name) = org_name(i);
        orgs.push(InitialOrg {
            id,
            name,
            admin_keys: admin.into_iter().collect(),
        });
    }

    let mut nodes = Vec::with_capacity(n);
    for i in 1..=n {
        let dir = staging.node_dir(i);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let key = KeyFile::generate();
        key.save(&staging.node_key(i))?;
        let node = staging.node(i);
        nodes.push(NodeRecord {
            node_id: node.node_id,
            org: node.org.clone(),
            node_key: key.public_key(),
            p2p_addr: node.p2p_addr.clone(),
            voter: true,
        });
        write_file(&staging.config(i), &config_text(&staging, i))?;
    }

    let genesis = Genesis::new(InitialState {
        chain_id: target.chain_id.clone(),
        genesis_time_ms: spec.now_ms,
        params: ChainParams::default(),
        orgs,
        nodes,
    })?;
    write_file(&staging.genesis(), &genesis.to_toml())?;
    write_file(&staging.readme(), &readme_text(&target))?;

    // Into place: everything but the genesis first, then the genesis.
    let mut parts = vec![PathBuf::from("orgs"), PathBuf::from("README.txt")];
    parts.extend((1..=n).map(|i| PathBuf::from(format!("node{i}"))));
    for i in 1..=MAX_NODES {
        // Node folders of an interrupted run with more nodes.
        remove(&target.node_dir(i))?;
    }
    for part in &parts {
        let to = spec.dir.join(part);
        remove(&to)?;
        std::fs::rename(staging.dir.join(part), &to).map_err(io(&to))?;
    }
    sync_dir(&spec.dir)?;
    std::fs::rename(staging.genesis(), target.genesis()).map_err(io(&target.genesis()))?;
    sync_dir(&spec.dir)?;
    remove(&staging.dir)?;
    Ok(target)
}

/// Makes renames in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), LocalnetError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Node i's `cactusd.toml`: paths relative to its folder, defaults spelt out.
fn config_text(layout: &LocalnetLayout, i: usize) -> String {
    let node = layout.node(i);
    let config = NodeConfig {
        node_id: node.node_id,
        data_dir: "db".into(),
        genesis: "../genesis.toml".into(),
        node_key: "node.key".into(),
        http_addr: node.http_addr,
        p2p_addr: Some(p2p_listen_addr(&node.p2p_addr)),
        block: Default::default(),
        mempool: Default::default(),
        raft: Default::default(),
        p2p: Default::default(),
        storage: Default::default(),
        http: Default::default(),
        memory: Default::default(),
        advisor: Default::default(),
        intelligence: Default::default(),
        directory: Default::default(),
        retention: Default::default(),
        // A local consortium's webhook receivers run on this machine (the quick start's
        // receiver listens on 127.0.0.1): the SSRF guard would refuse them.
        webhooks: couponcactus_node::webhooks::WebhookConfig {
            allow_private_targets: true,
            ..Default::default()
        },
        // The console on, with a first admin whose password is written next to the
        // node's database (scripts/localnet.sh prints it).
        // Its writes are signed with the org's issuer key.
        console: couponcactus_node::console::ConsoleConfig {
            key_file: Some(format!("../orgs/{}/keys/issuer.key", node.org).into()),
            data_key_file: Some(format!("../orgs/{}/keys/data.key", node.org).into()),
            ..couponcactus_node::console::ConsoleConfig::local()
        },
        // The customer wallet on, offering every active pool of the org; links point at
        // the node's own address (no SMTP server: `cactus wallet send-link --print`).
        wallet: couponcactus_node::wallet::WalletConfig::local(),
    };
    let body = toml::to_string_pretty(&config).expect("a node configuration serializes to TOML");
    format!(
        "# Localnet node {i}, run by org {org}: `cactusd --config node{i}/cactusd.toml` in the\n\
         # localnet's folder. Relative paths are relative to this file's folder.\n\n{body}",
        org = node.org,
    )
}

fn readme_text(layout: &LocalnetLayout) -> String {
    let n = layout.nodes.len();
    let mut text = format!(
        "Couponcactus localnet: {n} node(s), one per org, chain `{chain}`.\n\
         Generated by `cactusd localnet-init`; run it with `scripts/localnet.sh up|down|status`.\n\
         Paths are relative to this folder. Key files are secrets (mode 0600).\n\n",
        chain = layout.chain_id,
    );
    let mut line = |path: &str, what: &str| {
        let line = format!("{path:<32} {what}");
        text.push_str(line.trim_end());
        text.push('\n');
    };
    line(
        "genesis.toml",
        "the chain's genesis: orgs, their admin keys, the nodes",
    );
    line(
        "demo.json",
        "the demo data node 1 seeded (`cactusd --seed-demo`)",
    );
    for i in 1..=n {
        let node = layout.node(i);
        line("", "");
        line(
            &format!("node{i}/"),
            &format!(
                "node {i}, run by {}: HTTP http://{}, libp2p {}",
                node.org, node.http_addr, node.p2p_addr
            ),
        );
        line(
            &format!("node{i}/cactusd.toml"),
            &format!("its configuration: `cactusd --config node{i}/cactusd.toml`"),
        );
        line(
            &format!("node{i}/node.key"),
            "its node key (signs checkpoints; its libp2p identity)",
        );
        line(&format!("node{i}/db/"), "its database");
        line(&format!("node{i}/snapshots/"), "its state-sync snapshots");
        line(
            &format!("node{i}/cactusd.log, .pid"),
            "its log and process id (scripts/localnet.sh)",
        );
    }
    for i in 1..=layout.orgs.len() {
        let org = layout.org(i);
        line("", "");
        for (name, role) in org_roles(org) {
            let what = match role {
                Role::OrgAdmin => "org admin (in genesis; registers the org's other keys)".into(),
                Role::Terminal { store, channel } => {
                    format!("POS terminal at store {store}, channel {channel}")
                }
                Role::Partner => format!("partner key (reads pools that list {org} as partner)"),
                other => other.name().replace('_', " "),
            };
            line(
                &format!("orgs/{org}/keys/{name}.key"),
                &format!("{org}'s {what}"),
            );
        }
        line(
            &format!("orgs/{org}/keys/{DATA_KEY}.key"),
            &format!("{org}'s code-sealing key (AES-256-GCM; the key file's secret)"),
        );
        line(
            &format!("orgs/{org}/codes-<pool>.csv"),
            "plaintext demo codes of a pool (the only clear copy)",
        );
    }
    text
}

impl fmt::Display for LocalnetLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nodes.len();
        writeln!(
            f,
            "localnet {} ({n} node(s), chain {})",
            self.dir.display(),
            self.chain_id
        )?;
        writeln!(f, "  genesis      {}", self.genesis().display())?;
        for i in 1..=n {
            let node = self.node(i);
            writeln!(
                f,
                "  node {i}       {} ({}), p2p {}, config {}",
                self.http_url(i),
                node.org,
                node.p2p_addr,
                self.config(i).display()
            )?;
        }
        for i in 1..=self.orgs.len() {
            writeln!(
                f,
                "  org {:<8} keys in {}",
                self.org(i).as_str(),
                self.org_dir(i).join("keys").display()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, nodes: usize) -> LocalnetSpec {
        LocalnetSpec {
            dir: dir.to_path_buf(),
            nodes,
            base_port: DEFAULT_BASE_PORT,
            now_ms: 1_767_225_600_000,
            host_template: None,
        }
    }

    #[test]
    fn init_writes_a_consortium_whose_configs_load_and_match_genesis() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("localnet");
        let layout = init(&spec(&dir, 3)).unwrap();
        assert!(!dir.join(".init").exists());
        assert!(layout.readme().exists());
        assert_eq!(
            layout.orgs,
            ["acme", "globex", "initech"].map(|o| OrgId(o.into()))
        );
        let genesis = Genesis::load(&layout.genesis()).unwrap();
        assert_eq!(genesis.initial.chain_id.as_str(), CHAIN_ID);
        assert_eq!(genesis.initial.nodes.len(), 3);
        for i in 1..=3 {
            let config = NodeConfig::load(&layout.config(i)).unwrap();
            assert_eq!(config.node_id, i as u64);
            assert_eq!(config.data_dir, layout.node_dir(i).join("db"));
            let record = &genesis.initial.nodes[i - 1];
            assert_eq!(record.node_id, i as u64);
            assert!(record.voter);
            assert_eq!(&record.org, layout.org(i));
            assert_eq!(
                KeyFile::load(&config.node_key).unwrap().public_key(),
                record.node_key
            );
            assert_eq!(
                Genesis::load(&config.genesis).unwrap().hash(),
                genesis.hash()
            );
            // Ports: HTTP 710i, libp2p 720i.
            assert_eq!(
                config.http_addr,
                format!("127.0.0.1:710{i}").parse().unwrap()
            );
            assert_eq!(layout.http_url(i), format!("http://127.0.0.1:710{i}"));
            assert_eq!(
                config.p2p_addr.as_deref(),
                Some(format!("/ip4/127.0.0.1/tcp/720{i}").as_str())
            );
            assert_eq!(record.p2p_addr, format!("/ip4/127.0.0.1/tcp/720{i}"));
            // The org admin in genesis is the org's key file.
            let admin = KeyFile::load(&layout.org_key(i, "org-admin")).unwrap();
            assert_eq!(genesis.initial.orgs[i - 1].admin_keys, [admin.public_key()]);
            for (name, _) in org_roles(layout.org(i)) {
                KeyFile::load(&layout.org_key(i, name)).unwrap();
            }
            KeyFile::load(&layout.data_key(i)).unwrap();
        }
        assert_eq!(LocalnetLayout::open(&dir).unwrap(), layout);
        assert!(layout.to_string().contains("http://127.0.0.1:7103"));
    }

    #[test]
    fn init_twice_reuses_and_refuses_another_shape() {
        let tmp = tempfile::tempdir().unwrap();
        let first = init(&spec(tmp.path(), 2)).unwrap();
        let genesis = Genesis::load(&first.genesis()).unwrap();
        let admin = KeyFile::load(&first.org_key(1, "org-admin")).unwrap();
        let again = init(&LocalnetSpec {
            now_ms: 5,
            ..spec(tmp.path(), 2)
        })
        .unwrap();
        assert_eq!(again, first);
        assert_eq!(
            Genesis::load(&again.genesis()).unwrap().hash(),
            genesis.hash()
        );
        assert_eq!(
            KeyFile::load(&again.org_key(1, "org-admin"))
                .unwrap()
                .public_key(),
            admin.public_key()
        );
        assert!(matches!(
            init(&spec(tmp.path(), 3)),
            Err(LocalnetError::Mismatch { .. })
        ));
        let err = init(&LocalnetSpec {
            base_port: 8000,
            ..spec(tmp.path(), 2)
        })
        .unwrap_err();
        assert!(err.to_string().contains("base port 8000"), "{err}");
    }

    #[test]
    fn an_interrupted_init_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        // Leftovers of a crash: staging, keys and node folders but no genesis.
        std::fs::create_dir_all(tmp.path().join(".init/orgs/acme/keys")).unwrap();
        std::fs::write(tmp.path().join(".init/orgs/acme/keys/issuer.key"), "{").unwrap();
        std::fs::create_dir_all(tmp.path().join("orgs/acme/keys")).unwrap();
        std::fs::write(tmp.path().join("orgs/acme/keys/issuer.key"), "{").unwrap();
        std::fs::create_dir_all(tmp.path().join("node4")).unwrap();
        let layout = init(&spec(tmp.path(), 1)).unwrap();
        KeyFile::load(&layout.org_key(1, "issuer")).unwrap();
        assert!(!tmp.path().join("node4").exists());
        assert!(!tmp.path().join(".init").exists());
        assert_eq!(layout.nodes.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let layout = init(&spec(tmp.path(), 2)).unwrap();
        let mut keys = vec![layout.node_key(1), layout.node_key(2)];
        for i in 1..=2 {
            keys.extend(
                org_roles(layout.org(i))
                    .into_iter()
                    .map(|(name, _)| layout.org_key(i, name)),
            );
            keys.push(layout.data_key(i));
        }
        for key in keys {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
    }

    #[test]
    fn specs_out_of_range_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            init(&spec(tmp.path(), 0)),
            Err(LocalnetError::BadNodeCount(0))
        ));
        assert!(matches!(
            init(&spec(tmp.path(), 10)),
            Err(LocalnetError::BadNodeCount(10))
        ));
        assert!(matches!(
            init(&LocalnetSpec {
                base_port: 65_500,
                ..spec(tmp.path(), 1)
            }),
            Err(LocalnetError::BadBasePort(65_500))
        ));
        assert!(!tmp.path().join("genesis.toml").exists());
    }

    #[test]
    fn org_names_continue_after_the_named_ones() {
        assert_eq!(org_name(1).0.as_str(), "acme");
        assert_eq!(org_name(3).0.as_str(), "initech");
        assert_eq!(org_name(4), (OrgId("org4".into()), "Org 4".into()));
        for i in 1..=MAX_NODES {
            org_name(i).0.validate().unwrap();
            terminal_store(&org_name(i).0).validate().unwrap();
        }
    }
}
