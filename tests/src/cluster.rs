//! [`Cluster`]: a consortium of real `cactusd --config` processes on 127.0.0.1, for
//! scenario tests in the style of malachite's cluster tests.
//!
//! ```no_run
//! use couponcactus_tests::cluster::Cluster;
//! use couponcactus_tests::fixtures::order;
//!
//! let cluster = Cluster::builder().nodes(3).keep_log_entries(50).start();
//! let leader = cluster.wait_for_leader(); // all running members agree on it
//! let pool = cluster.create_active_pool(1, "spring", 10); // org 1's issuer
//! let tx = cluster.redeem_code_tx(1, &pool.codes[0], order(10_000)); // org 1's terminal
//! let view = cluster.node(2).submit(&tx); // a follower forwards it to the leader
//! assert_eq!(view.status, "applied");
//! cluster.node(leader).crash(); // kill -9
//! cluster.wait_for_leader(); // a new one among the others
//! cluster.node(leader).restart();
//! cluster.assert_converged(); // same chain point, same blocks, no divergence
//! ```
//!
//! [`Cluster::start`] writes into a temp dir the keys of n orgs (acme, globex, initech,
//! `org4`, …; an org admin in genesis, and an issuer, a terminal and an auditor each org
//! admin registers once the cluster runs), a genesis of chain [`CHAIN_ID`] with n voting
//! nodes (node i run by org i, libp2p and HTTP on free ports), and one `cactusd.toml` per
//! node with fast Raft timing. Each node logs to `node<i>/cactusd.log`; when a test panics
//! the cluster prints every node's status and the end of every node's log, and keeps the
//! temp dir. All processes are killed on drop.
//!
//! Every wait has a deadline (30 s by default, [`ClusterBuilder::deadline`]) and polls
//! every 50 ms; a missed deadline panics with what was awaited and every node's status. A
//! node process that exits while the harness expects it to run fails the wait at once.

use crate::client::Client;
use crate::fixtures::{self, PoolFixture, claim, member};
use crate::netem::{LinkSpec, Netem};
use crate::node::{cactusd_binary, spawn_cactusd};
use crate::now_ms;
use crate::views::{BatchView, BlockView, CheckpointView, Status, TxView};
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::{
    ChainId, Channel, Hash32, MemberId, OrgId, PoolId, PublicKey, StoreId, TokenId, TxId,
};
use couponcactus_chaincode::initial::{InitialOrg, InitialState};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::tx::{
    AllocateTx, ApproveGovernanceTx, CreatePoolTx, IssueCodesTx, ProposeGovernanceTx, RedeemTarget,
    RedeemTx, RegisterKeyTx, SignedTx, TransitionPoolTx, TxKind,
};
use couponcactus_chaincode::types::{
    ChainParams, Consortium, GovernanceChange, NodeRecord, Order, PoolAction, Role,
};
use couponcactus_genesis::{Genesis, KeyFile};
use ed25519_dalek::SigningKey;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The chain id of every test cluster.
pub const CHAIN_ID: &str = "cactus-test";
/// Default deadline of every wait.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// How often waits poll.
pub const POLL: Duration = Duration::from_millis(50);
/// Longest a node may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of each node's log printed when a test panics.
pub const LOG_LINES_ON_PANIC: usize = 300;

/// How to build a [`Cluster`]: node count and timing.
#[derive(Clone, Debug)]
pub struct ClusterBuilder {
    nodes: usize,
    keep_log_entries: u64,
    tick_ms: u64,
    election_ticks: usize,
    block_interval_ms: u64,
    block_max_txs: usize,
    deadline: Duration,
    extra_config: String,
    netem: Option<LinkSpec>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            nodes: 3,
            keep_log_entries: 1_000,
            tick_ms: 50,
            election_ticks: 10,
            block_interval_ms: 5,
            block_max_txs: 5_000,
            deadline: DEFAULT_DEADLINE,
            extra_config: String::new(),
            netem: None,
        }
    }
}

impl ClusterBuilder {
    /// Number of nodes at genesis, one org each (default 3).
    pub fn nodes(mut self, n: usize) -> Self {
        assert!((1..=9).contains(&n), "a test cluster has 1 to 9 nodes");
        self.nodes = n;
        self
    }

    /// `[raft] keep_log_entries` (default 1,000).
    pub fn keep_log_entries(mut self, n: u64) -> Self {
        self.keep_log_entries = n;
        self
    }

    /// `[raft] tick_ms` (default 50).
    pub fn tick_ms(mut self, ms: u64) -> Self {
        self.tick_ms = ms;
        self
    }

    /// `[raft] election_ticks` (default 10).
    pub fn election_ticks(mut self, ticks: usize) -> Self {
        self.election_ticks = ticks;
        self
    }

    /// `[block] interval_ms` (default 5).
    pub fn block_interval_ms(mut self, ms: u64) -> Self {
        self.block_interval_ms = ms;
        self
    }

    /// `[block] max_txs` (default 5,000).
    pub fn block_max_txs(mut self, n: usize) -> Self {
        self.block_max_txs = n;
        self
    }

    /// Deadline of every wait (default [`DEFAULT_DEADLINE`]).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// TOML appended to every node's `cactusd.toml`, e.g. an `[http]` section (default
    /// none).
    pub fn extra_config(mut self, toml: &str) -> Self {
        self.extra_config.push_str(toml);
        self
    }

    /// Routes every connection between the genesis nodes through a delaying proxy on
    /// loopback ([`crate::netem`]), each link shaped by `spec` (reshape them while the
    /// cluster runs with [`Cluster::netem`]); each node's `[p2p] dial` names the proxies.
    /// Nodes added later ([`Cluster::add_node`]) are dialed directly.
    pub fn netem(mut self, spec: LinkSpec) -> Self {
        self.netem = Some(spec);
        self
    }

    /// The election timeout the nodes run with (tick × election ticks).
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.tick_ms * self.election_ticks as u64)
    }

    /// Writes keys, genesis and configs, starts every node, waits for a leader and registers
    /// each org's issuer, terminal and auditor.
    pub fn start(self) -> Cluster {
        Cluster::launch(self)
    }
}

/// A proxy for every directed pair of the genesis nodes, to their p2p ports.
fn start_netem(nodes: &[ClusterNode], spec: LinkSpec) -> Netem {
    let targets = nodes
        .iter()
        .map(|n| {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], n.p2p_port));
            (n.id, addr)
        })
        .collect();
    Netem::mesh(&targets, spec)
}

/// The keys of one org of the cluster.
#[derive(Clone, Debug)]
pub struct OrgKeys {
    /// 1-based.
    pub index: usize,
    /// `acme`, `globex`, `initech`, then `org4`, …
    pub id: OrgId,
    /// Org admin (in genesis).
    pub admin: SigningKey,
    /// Issuer (registered by the admin at start).
    pub issuer: SigningKey,
    /// Terminal at [`OrgKeys::store`] on channel `pos` (registered at start).
    pub terminal: SigningKey,
    /// Auditor (registered at start).
    pub auditor: SigningKey,
    /// The org's code-sealing key.
    pub data_key: [u8; 32],
    /// The terminal's store: `<org>-store-1`.
    pub store: StoreId,
}

impl OrgKeys {
    fn new(index: usize) -> OrgKeys {
        let id = match index {
            1 => "acme".to_string(),
            2 => "globex".to_string(),
            3 => "initech".to_string(),
            i => format!("org{i}"),
        };
        let key = |role: &str| signing_key(&format!("org{index}/{role}"));
        OrgKeys {
            index,
            store: StoreId(format!("{id}-store-1")),
            id: OrgId(id),
            admin: key("admin"),
            issuer: key("issuer"),
            terminal: key("terminal"),
            auditor: key("auditor"),
            data_key: seed(&format!("org{index}/data")),
        }
    }

    /// The keys the admin registers, with their roles.
    fn registrations(&self) -> Vec<(PublicKey, Role)> {
        vec![
            (public(&self.issuer), Role::Issuer),
            (
                public(&self.terminal),
                Role::Terminal {
                    store: self.store.clone(),
                    channel: Channel("pos".into()),
                },
            ),
        ]
    }
}

/// A fixed 32-byte seed for `label` (reproducible keys).
fn seed(label: &str) -> [u8; 32] {
    *blake3::hash(format!("couponcactus-tests/cluster/{label}").as_bytes()).as_bytes()
}

fn signing_key(label: &str) -> SigningKey {
    KeyFile::from_seed(seed(label)).signing_key()
}

/// The public key of `key`.
pub fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// A port on 127.0.0.1 that was free a moment ago, below the ephemeral range (32768+), so
/// outgoing connections of other nodes do not take it while its node is down.
fn pick_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..10_000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let h = blake3::hash(format!("{}-{}-{n}", std::process::id(), crate::now_ms()).as_bytes());
        let r = u16::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1]]);
        let port = 20_000 + r % 12_000;
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port found in 20000..32000");
}

/// A TOML basic string (JSON string escapes are valid TOML).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// One `cactusd --config` process of a [`Cluster`] (or a node not admitted yet).
#[derive(Debug)]
pub struct ClusterNode {
    id: u64,
    org: usize,
    dir: PathBuf,
    config: PathBuf,
    http_port: u16,
    p2p_port: u16,
    key: SigningKey,
    binary: PathBuf,
    client: Client,
    probe: reqwest::blocking::Client,
    child: Mutex<Option<Child>>,
    starts: AtomicU32,
    member: AtomicBool,
}

impl ClusterNode {
    /// Its raft id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The org that runs it (1-based).
    pub fn org(&self) -> usize {
        self.org
    }

    /// Its folder (`cactusd.toml`, `node.key`, `db/`, `cactusd.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its config file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// `/ip4/127.0.0.1/tcp/PORT`.
    pub fn p2p_addr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.p2p_port)
    }

    /// Its node key (signs checkpoints; its libp2p identity).
    pub fn node_key(&self) -> &SigningKey {
        &self.key
    }

    /// Its consortium record.
    pub fn record(&self, org: &OrgId, voter: bool) -> NodeRecord {
        NodeRecord {
            node_id: self.id,
            org: org.clone(),
            node_key: public(&self.key),
            p2p_addr: self.p2p_addr(),
            voter,
        }
    }

    /// The client of its HTTP API (clone it for other threads).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the harness counts it as a consortium member (in genesis, or admitted by
    /// governance through the harness and not removed).
    pub fn is_member(&self) -> bool {
        self.member.load(Ordering::SeqCst)
    }

    /// Sets whether the harness counts it as a member, for a test that admits or removes
    /// it by governance outside the harness (e.g. through the `cactus` CLI).
    pub fn set_member(&self, member: bool) {
        self.member.store(member, Ordering::SeqCst);
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether its process runs (started by the harness and not exited).
    pub fn is_running(&self) -> bool {
        match self.child().as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id, while started.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// `Err` if the harness started the process and it exited on its own.
    fn check_alive(&self) -> Result<(), String> {
        if let Some(child) = self.child().as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!(
                "node {} exited unexpectedly with {status}",
                self.id
            ));
        }
        Ok(())
    }

    /// `GET /v1/status` with a 2 s timeout, or why not.
    pub fn try_status(&self) -> Result<Status, String> {
        let response = self
            .probe
            .get(format!("{}/v1/status", self.url()))
            .send()
            .map_err(|e| format!("GET /v1/status: {e}"))?;
        let code = response.status();
        let text = response.text().map_err(|e| e.to_string())?;
        if !code.is_success() {
            return Err(format!("GET /v1/status: {code}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("status does not parse: {e}: {text}"))
    }

    /// `GET /v1/status` (panics if the node does not answer).
    #[track_caller]
    pub fn status(&self) -> Status {
        self.try_status()
            .unwrap_or_else(|e| panic!("node {}: {e}", self.id))
    }

    /// Submits `tx` to this node and waits; asserts a committed answer (200 or 422) and
    /// returns its view.
    #[track_caller]
    pub fn submit(&self, tx: &SignedTx) -> TxView {
        let reply = self.client.submit(tx);
        assert!(
            matches!(reply.status, 200 | 422),
            "node {}: unexpected reply to tx {}: {reply:#?}",
            self.id,
            tx.id()
        );
        let view: TxView = reply.json();
        assert_eq!(view.tx_id, tx.id());
        view
    }

    /// Submits `tx` to this node, waits, and asserts it was applied.
    #[track_caller]
    pub fn apply(&self, tx: &SignedTx) -> TxView {
        let view = self.submit(tx);
        assert_eq!(view.status, "applied", "node {}: {view:#?}", self.id);
        view
    }

    /// `GET /v1/checkpoints/latest`.
    pub fn checkpoint(&self) -> CheckpointView {
        self.client.checkpoint()
    }

    /// `GET /v1/blocks/{height}`: the block's hash, `None` on 404 (panics otherwise).
    pub fn block_hash(&self, height: u64) -> Option<Hash32> {
        let reply = self
            .client
            .try_get(&format!("/v1/blocks/{height}"))
            .unwrap_or_else(|e| panic!("node {}: GET /v1/blocks/{height}: {e}", self.id));
        match reply.status {
            200 => Some(reply.json::<crate::views::BlockView>().hash),
            404 => None,
            _ => panic!("node {}: GET /v1/blocks/{height}: {reply:#?}", self.id),
        }
    }

    /// The node's log so far (all starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("cactusd.log")
    }

    /// kill -9: the process dies at once, mid-whatever.
    pub fn crash(&self) {
        let mut child = self
            .child()
            .take()
            .unwrap_or_else(|| panic!("crash: node {} is not running", self.id));
        child.kill().expect("sending SIGKILL");
        let status = child.wait().expect("waiting for the killed node");
        assert!(!status.success(), "a killed node exits unsuccessfully");
        self.note(&format!("crashed (kill -9): {status}"));
    }

    /// SIGTERM, then waits for the exit; panics unless it is clean (status 0) within
    /// [`STOP_TIMEOUT`].
    pub fn stop(&self) {
        let mut child = self
            .child()
            .take()
            .unwrap_or_else(|| panic!("stop: node {} is not running", self.id));
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("polling the node") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {} did not exit within {STOP_TIMEOUT:?} of SIGTERM",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.note(&format!("stopped (SIGTERM): {status}"));
        assert!(
            status.success(),
            "node {} exited with {status} after SIGTERM",
            self.id
        );
    }

    /// Starts the process again on the same data, config and ports; waits until its HTTP
    /// API answers (not until it caught up).
    pub fn restart(&self) {
        assert!(
            self.child().is_none(),
            "restart: node {} is still running",
            self.id
        );
        self.spawn();
        self.wait_http(DEFAULT_DEADLINE);
    }

    fn note(&self, what: &str) {
        if let Ok(mut log) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
        {
            let _ = writeln!(log, "===== harness: node {} {what} =====", self.id);
        }
    }

    fn spawn(&self) {
        let start = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("opening the node log");
        let args = ["--config".to_string(), self.config.display().to_string()];
        writeln!(
            log,
            "===== harness: node {} start {start}: {} {} =====",
            self.id,
            self.binary.display(),
            args.join(" ")
        )
        .expect("writing the node log");
        let child = spawn_cactusd(
            Command::new(&self.binary)
                .args(&args)
                .current_dir(&self.dir),
            log,
        );
        *self.child() = Some(child);
    }

    /// Waits until `/v1/status` answers; panics (with the log) if the process exits first.
    fn wait_http(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        loop {
            if let Err(e) = self.check_alive() {
                panic!("{e} while starting:\n{}", tail(&self.log(), 60));
            }
            let last = match self.try_status() {
                Ok(_) => return,
                Err(e) => e,
            };
            if Instant::now() >= until {
                panic!(
                    "node {} did not answer /v1/status within {deadline:?}: {last}",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn kill(&self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A consortium of `cactusd` processes; see the [module docs](self).
#[derive(Debug)]
pub struct Cluster {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    binary: PathBuf,
    settings: ClusterBuilder,
    genesis: Genesis,
    orgs: Vec<OrgKeys>,
    nodes: Vec<ClusterNode>,
    /// Builds every tx of the test, so nonces never repeat across nodes' clients.
    txs: Client,
    /// The delaying proxies between the nodes, when the builder asked for them.
    netem: Option<Netem>,
}

impl Cluster {
    /// `n` nodes with the default settings (see [`ClusterBuilder`]).
    pub fn start(n: usize) -> Cluster {
        Cluster::builder().nodes(n).start()
    }

    /// Settings for a cluster.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn launch(settings: ClusterBuilder) -> Cluster {
        let binary = cactusd_binary();
        let dir = tempfile::Builder::new()
            .prefix("cactus-cluster-")
            .tempdir()
            .expect("creating a temp dir");
        let root = dir.path().to_path_buf();
        let orgs: Vec<OrgKeys> = (1..=settings.nodes).map(OrgKeys::new).collect();
        let chain_id = ChainId::new(CHAIN_ID).expect("valid chain id");
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("building the probe client");
        let mut nodes: Vec<ClusterNode> = Vec::new();
        for i in 1..=settings.nodes {
            nodes.push(new_node(
                &root, &binary, &chain_id, &probe, i as u64, i, true,
            ));
        }
        let genesis = Genesis::new(InitialState {
            chain_id: chain_id.clone(),
            genesis_time_ms: now_ms(),
            params: ChainParams::default(),
            orgs: orgs
                .iter()
                .map(|o| InitialOrg {
                    id: o.id.clone(),
                    name: o.id.as_str().to_uppercase(),
                    admin_keys: vec![public(&o.admin)],
                })
                .collect(),
            nodes: nodes
                .iter()
                .map(|n| n.record(&orgs[n.org - 1].id, true))
                .collect(),
        })
        .expect("the cluster genesis is valid");
        let genesis_path = root.join("genesis.toml");
        genesis.save(&genesis_path).expect("writing the genesis");
        let txs = Client::new(nodes[0].url(), chain_id);
        let netem = settings.netem.map(|spec| start_netem(&nodes, spec));
        let cluster = Cluster {
            dir: Some(dir),
            root,
            binary,
            settings,
            genesis,
            orgs,
            nodes,
            txs,
            netem,
        };
        for node in &cluster.nodes {
            cluster.write_config(node);
            node.spawn();
        }
        for node in &cluster.nodes {
            node.wait_http(cluster.settings.deadline);
        }
        let leader = cluster.wait_for_leader();
        eprintln!(
            "cluster of {} nodes in {}: leader {leader}",
            cluster.nodes.len(),
            cluster.root.display()
        );
        cluster.register_keys();
        cluster
    }

    fn write_config(&self, node: &ClusterNode) {
        let s = &self.settings;
        let text = format!(
            "node_id = {id}\n\
             data_dir = {db}\n\
             genesis = {genesis}\n\
             node_key = {key}\n\
             http_addr = {http}\n\
             p2p_addr = {p2p}\n\
             \n\
             [block]\n\
             max_txs = {max_txs}\n\
             interval_ms = {interval}\n\
             \n\
             [raft]\n\
             tick_ms = {tick}\n\
             election_ticks = {ticks}\n\
             keep_log_entries = {keep}\n\
             {extra}{dial}",
            id = node.id,
            db = toml_str(&node.dir.join("db").display().to_string()),
            genesis = toml_str(&self.root.join("genesis.toml").display().to_string()),
            key = toml_str(&node.dir.join("node.key").display().to_string()),
            http = toml_str(&format!("127.0.0.1:{}", node.http_port)),
            p2p = toml_str(&node.p2p_addr()),
            max_txs = s.block_max_txs,
            interval = s.block_interval_ms,
            tick = s.tick_ms,
            ticks = s.election_ticks,
            keep = s.keep_log_entries,
            extra = s.extra_config,
            dial = self.dial_section(node),
        );
        std::fs::write(&node.config, text).expect("writing the node config");
    }

    /// Each org admin registers its org's issuer and terminal, and each org's consortium
    /// auditor is granted by governance: its admin proposes, the next orgs approve up to a
    /// quorum. Two batches, because a batch sent to a follower reaches the leader's blocks
    /// in no promised order: the approvals go once their proposals are committed.
    fn register_keys(&self) {
        let mut first: Vec<SignedTx> = self
            .orgs
            .iter()
            .flat_map(|o| {
                o.registrations().into_iter().map(|(key, role)| {
                    self.tx(&o.admin, TxKind::RegisterKey(RegisterKeyTx { key, role }))
                })
            })
            .collect();
        let quorum = self.orgs.len() / 2 + 1;
        let mut approvals = Vec::new();
        for (i, o) in self.orgs.iter().enumerate() {
            let change = GovernanceChange::AddAuditor {
                org: o.id.clone(),
                key: public(&o.auditor),
            };
            let proposal = self.tx(
                &o.admin,
                TxKind::ProposeGovernance(ProposeGovernanceTx { change }),
            );
            let id = proposal.id();
            first.push(proposal);
            for j in 1..quorum {
                let approver = &self.orgs[(i + j) % self.orgs.len()].admin;
                approvals.push(self.tx(
                    approver,
                    TxKind::ApproveGovernance(ApproveGovernanceTx { proposal: id }),
                ));
            }
        }
        for txs in [first, approvals] {
            if txs.is_empty() {
                continue;
            }
            let batch: BatchView = self.nodes[0].client().batch(&txs);
            assert_eq!(
                batch.applied,
                txs.len(),
                "registering the orgs' keys: {batch:#?}"
            );
        }
    }

    /// `[p2p] dial`: where `node` dials the others through the proxies (empty without).
    fn dial_section(&self, node: &ClusterNode) -> String {
        let Some(netem) = &self.netem else {
            return String::new();
        };
        let entries: Vec<String> = netem
            .dial_map(node.id)
            .into_iter()
            .map(|(to, addr)| format!("\"{to}\" = \"/ip4/{}/tcp/{}\"", addr.ip(), addr.port()))
            .collect();
        format!("\n[p2p]\ndial = {{ {} }}\n", entries.join(", "))
    }

    /// The delaying proxies between the nodes ([`ClusterBuilder::netem`]).
    #[track_caller]
    pub fn netem(&self) -> &Netem {
        self.netem
            .as_ref()
            .expect("the cluster was built without ClusterBuilder::netem")
    }

    // ---- what the cluster is ------------------------------------------------------------

    /// The temp dir with everything (`genesis.toml`, `node<i>/`).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ClusterBuilder {
        &self.settings
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.genesis.initial.chain_id
    }

    /// The consortium at genesis (orgs and voters), for checking certificates.
    pub fn genesis_consortium(&self) -> Consortium {
        match self.genesis.state_writes().0.get(&StateKey::Consortium) {
            Some(Some(StateValue::Consortium(c))) => c.clone(),
            other => panic!("genesis writes no consortium: {other:?}"),
        }
    }

    /// Org `i` (1-based).
    pub fn org(&self, i: usize) -> &OrgKeys {
        assert!(
            (1..=self.orgs.len()).contains(&i),
            "no org {i} (1..={})",
            self.orgs.len()
        );
        &self.orgs[i - 1]
    }

    /// Node `id` (1-based raft id).
    #[track_caller]
    pub fn node(&self, id: u64) -> &ClusterNode {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Every node the harness started, members or not.
    pub fn nodes(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter()
    }

    /// Starts every stopped member's process again at once (as after a power cut: all
    /// spawned before any is waited for), then waits until each HTTP API answers (not
    /// until they elect or catch up). Returns when the first was spawned.
    pub fn restart_all(&self) -> Instant {
        let down: Vec<&ClusterNode> = self
            .nodes
            .iter()
            .filter(|n| n.is_member() && !n.is_running())
            .collect();
        let spawned = Instant::now();
        for n in &down {
            n.spawn();
        }
        for n in &down {
            n.wait_http(DEFAULT_DEADLINE);
        }
        spawned
    }

    /// Members whose process runs: what waits and convergence checks look at.
    pub fn running_members(&self) -> Vec<&ClusterNode> {
        self.nodes
            .iter()
            .filter(|n| n.is_member() && n.is_running())
            .collect()
    }

    /// A running member (the first), to submit to when any will do.
    pub fn any_member(&self) -> &ClusterNode {
        self.running_members()
            .into_iter()
            .next()
            .expect("no member is running")
    }

    // ---- waiting --------------------------------------------------------------------------

    /// Every node's status, one line each, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let state = match (n.child().is_some(), n.is_member()) {
                (true, true) => "member",
                (true, false) => "non-member",
                (false, true) => "member, down",
                (false, false) => "non-member, down",
            };
            let _ = write!(out, "  node {} ({state}): ", n.id);
            if n.child().is_none() {
                out.push_str("not running\n");
                continue;
            }
            if let Err(e) = n.check_alive() {
                let _ = writeln!(out, "{e}");
                continue;
            }
            match n.try_status() {
                Ok(s) => {
                    let _ = writeln!(
                        out,
                        "{} leader {} term {} height {} hash {} root {} log {} certified {} \
                         mempool {} voters {:?} learners {:?} peers {:?} divergence {}",
                        s.role,
                        s.leader_id,
                        s.term,
                        s.height,
                        s.block_hash,
                        s.state_root,
                        s.log_size,
                        s.certified_height,
                        s.mempool,
                        s.voters,
                        s.learners,
                        s.peers_connected,
                        s.divergence
                            .as_ref()
                            .map_or("none".into(), |d| d.to_string()),
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "{e}");
                }
            }
        }
        out
    }

    /// Panics if a node the harness started has exited on its own.
    fn check_processes(&self) {
        for n in &self.nodes {
            if let Err(e) = n.check_alive() {
                panic!("{e}\n{}", self.describe());
            }
        }
    }

    /// Polls `check` every [`POLL`] until it returns `Ok`, for at most the cluster's
    /// deadline; then panics with `what`, the last reason and every node's status.
    #[track_caller]
    pub fn wait_for<T>(&self, what: &str, check: impl FnMut() -> Result<T, String>) -> T {
        self.wait_for_within(what, self.settings.deadline, check)
    }

    /// [`Self::wait_for`] with its own deadline.
    #[track_caller]
    pub fn wait_for_within<T>(
        &self,
        what: &str,
        deadline: Duration,
        mut check: impl FnMut() -> Result<T, String>,
    ) -> T {
        let until = Instant::now() + deadline;
        loop {
            self.check_processes();
            let why = match check() {
                Ok(t) => return t,
                Err(why) => why,
            };
            if Instant::now() >= until {
                panic!(
                    "{what}: not reached within {deadline:?} (last: {why})\nnodes:\n{}",
                    self.describe()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The statuses of all running members, or the first failure.
    pub fn member_statuses(&self) -> Result<Vec<Status>, String> {
        self.running_members()
            .into_iter()
            .map(|n| n.try_status().map_err(|e| format!("node {}: {e}", n.id)))
            .collect()
    }

    /// Waits until every running member names the same leader (not 0), and that leader
    /// runs and says it leads; returns its id.
    pub fn wait_for_leader(&self) -> u64 {
        self.wait_for("a leader all running members agree on", || {
            let statuses = self.member_statuses()?;
            let leaders: BTreeSet<u64> = statuses.iter().map(|s| s.leader_id).collect();
            let leader = match leaders.iter().collect::<Vec<_>>().as_slice() {
                [l] if **l != 0 => **l,
                _ => return Err(format!("leaders seen: {leaders:?}")),
            };
            match statuses.iter().find(|s| s.node_id == leader) {
                Some(s) if s.role == "leader" => Ok(leader),
                Some(s) => Err(format!("node {leader} is named leader but is {}", s.role)),
                None => Err(format!("leader {leader} is not a running member")),
            }
        })
    }

    /// The leader (waits for one).
    pub fn leader(&self) -> &ClusterNode {
        self.node(self.wait_for_leader())
    }

    /// The running members other than the leader (waits for a leader).
    pub fn followers(&self) -> Vec<&ClusterNode> {
        let leader = self.wait_for_leader();
        self.running_members()
            .into_iter()
            .filter(|n| n.id != leader)
            .collect()
    }

    /// Waits until every running member has applied height `height`.
    pub fn wait_until_height(&self, height: u64) -> Vec<Status> {
        self.wait_for(&format!("height {height} on every running member"), || {
            let statuses = self.member_statuses()?;
            match statuses.iter().find(|s| s.height < height) {
                Some(s) => Err(format!("node {} at height {}", s.node_id, s.height)),
                None => Ok(statuses),
            }
        })
    }

    /// Waits until every running member has certified height `height`.
    pub fn wait_until_certified(&self, height: u64) -> Vec<Status> {
        self.wait_for(
            &format!("certified height {height} on every running member"),
            || {
                let statuses = self.member_statuses()?;
                match statuses.iter().find(|s| s.certified_height < height) {
                    Some(s) => Err(format!(
                        "node {} certified {} (height {})",
                        s.node_id, s.certified_height, s.height
                    )),
                    None => Ok(statuses),
                }
            },
        )
    }

    /// Waits until every running member's Raft configuration has exactly `voters` as
    /// voters and no learners.
    pub fn wait_for_voters(&self, voters: &[u64]) -> Vec<Status> {
        let mut want = voters.to_vec();
        want.sort_unstable();
        self.wait_for(
            &format!("voters {want:?} (no learners) on every running member"),
            || {
                let statuses = self.member_statuses()?;
                for s in &statuses {
                    let mut have = s.voters.clone();
                    have.sort_unstable();
                    if have != want || !s.learners.is_empty() {
                        return Err(format!(
                            "node {}: voters {:?} learners {:?}",
                            s.node_id, s.voters, s.learners
                        ));
                    }
                }
                Ok(statuses)
            },
        )
    }

    /// Waits until every running member reports the same chain point (height, block
    /// hash, state root, log size), then asserts that no running node reports a
    /// divergence and that the members hold the same block at every height they all
    /// have (the tip included). Returns the common status (of the first member).
    pub fn assert_converged(&self) -> Status {
        let statuses = self.wait_for("every running member at the same chain point", || {
            let statuses = self.member_statuses()?;
            let points: BTreeSet<_> = statuses.iter().map(Status::chain_point).collect();
            if points.len() == 1 {
                Ok(statuses)
            } else {
                Err(statuses
                    .iter()
                    .map(|s| format!("node {} at {}/{}", s.node_id, s.height, s.block_hash))
                    .collect::<Vec<_>>()
                    .join(", "))
            }
        });
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            if let Ok(s) = n.try_status() {
                assert!(
                    s.divergence.is_none(),
                    "node {} reports a divergence: {}\nnodes:\n{}",
                    n.id,
                    s.divergence
                        .as_ref()
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    self.describe()
                );
            }
        }
        let members = self.running_members();
        let tip = statuses[0].height;
        let mut compared = 0;
        for h in 1..=tip {
            let hashes: Vec<(u64, Option<Hash32>)> =
                members.iter().map(|n| (n.id, n.block_hash(h))).collect();
            if hashes.iter().any(|(_, hash)| hash.is_none()) {
                continue;
            }
            let distinct: BTreeSet<Hash32> = hashes.iter().filter_map(|(_, h)| *h).collect();
            assert_eq!(
                distinct.len(),
                1,
                "the members hold different blocks at height {h}: {hashes:?}"
            );
            compared += 1;
        }
        if tip > 0 {
            for n in &members {
                // A node installed from a snapshot at exactly the tip has the tip's header
                // (it serves the tip's checkpoint) but not its txs: it says so.
                let reply = n.client().get(&format!("/v1/blocks/{tip}"));
                if reply.status == 404
                    && reply
                        .body
                        .to_string()
                        .contains(&format!("state snapshot at height {tip}"))
                {
                    continue;
                }
                assert_eq!(
                    n.block_hash(tip),
                    Some(statuses[0].block_hash),
                    "node {} does not serve its tip block {tip} with its status's hash",
                    n.id
                );
            }
        }
        eprintln!(
            "converged: {} members at height {tip} ({}), {compared} blocks compared",
            members.len(),
            statuses[0].block_hash
        );
        self.assert_no_tx_twice(tip);
        statuses[0].clone()
    }

    /// Walks every block from 1 to `tip` (each from the first running member that serves
    /// it: a snapshot-synced node lacks the blocks below its sync base) and asserts that
    /// no tx id is included in two blocks, or twice in one, and that no result is the
    /// chaincode's `duplicate` rejection: a committed tx is never proposed again (issue
    /// 22). Returns the number of txs walked.
    pub fn assert_no_tx_twice(&self, tip: u64) -> usize {
        let members = self.running_members();
        let auditor = &self.org(1).auditor;
        let mut seen: BTreeMap<TxId, (u64, usize)> = BTreeMap::new();
        let mut problems = Vec::new();
        for h in 1..=tip {
            let Some(block) = members.iter().find_map(|n| {
                let reply = n.client().get_signed(auditor, &format!("/v1/blocks/{h}"));
                (reply.status == 200).then(|| reply.json::<BlockView>())
            }) else {
                panic!(
                    "no running member serves block {h}\nnodes:\n{}",
                    self.describe()
                );
            };
            for (i, result) in block.results.iter().enumerate() {
                if let Some(first) = seen.insert(result.tx_id, (h, i)) {
                    problems.push(format!(
                        "tx {} at {h}/{i} was included before, at {}/{}",
                        result.tx_id, first.0, first.1
                    ));
                }
                if result
                    .outcome
                    .rejection()
                    .is_some_and(|r| r.reason == RejectReason::Duplicate)
                {
                    problems.push(format!(
                        "tx {} at {h}/{i} is recorded as a duplicate",
                        result.tx_id
                    ));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{} committed tx(s) included again in blocks 1..={tip}:\n{}",
            problems.len(),
            problems.join("\n")
        );
        eprintln!("no tx twice: {} txs in blocks 1..={tip}", seen.len());
        seen.len()
    }

    // ---- txs ------------------------------------------------------------------------------

    /// `kind` signed by `key`, with a nonce unique across the whole test.
    pub fn tx(&self, key: &SigningKey, kind: TxKind) -> SignedTx {
        self.txs.tx(key, kind)
    }

    /// Signs `kind`, submits it to a running member, waits, and asserts it was applied.
    #[track_caller]
    pub fn apply(&self, key: &SigningKey, kind: TxKind) -> TxView {
        let tx = self.tx(key, kind);
        self.any_member().apply(&tx)
    }

    /// Creates pool `name` as org `org`'s issuer, issues `n` codes sealed with the org's
    /// data key, and activates it.
    pub fn create_active_pool(&self, org: usize, name: &str, n: usize) -> PoolFixture {
        let keys = self.org(org);
        let id = PoolId::new(name).expect("valid pool id");
        self.apply(
            &keys.issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: id.clone(),
                spec: fixtures::spec(name),
            }),
        );
        let codes = fixtures::codes(&id, n);
        if n > 0 {
            self.apply(
                &keys.issuer,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: id.clone(),
                    codes: fixtures::issue(&keys.data_key, &id, &codes),
                }),
            );
        }
        self.apply(
            &keys.issuer,
            TxKind::TransitionPool(TransitionPoolTx {
                pool: id.clone(),
                action: PoolAction::Activate,
            }),
        );
        PoolFixture { id, codes }
    }

    /// An allocation (org `org`'s issuer) of `pool`'s next free token to member `m` with
    /// claim `m`.
    pub fn allocate_tx(&self, org: usize, pool: &PoolId, m: u64) -> SignedTx {
        self.tx(
            &self.org(org).issuer,
            TxKind::Allocate(AllocateTx {
                pool: pool.clone(),
                member: member(m),
                claim: claim(m),
            }),
        )
    }

    /// Allocates members `members` of `pool` (one waiting batch to a running member);
    /// returns `(member, token)` per allocation, in order.
    pub fn allocate(
        &self,
        org: usize,
        pool: &PoolId,
        members: std::ops::Range<u64>,
    ) -> Vec<(MemberId, TokenId)> {
        let txs: Vec<SignedTx> = members
            .clone()
            .map(|m| self.allocate_tx(org, pool, m))
            .collect();
        let batch: BatchView = self.any_member().client().batch(&txs);
        assert_eq!(batch.applied, txs.len(), "allocations: {batch:#?}");
        batch
            .results
            .iter()
            .map(|v| match v.events() {
                [Event::Allocated { token, member, .. }] => (*member, token.clone()),
                other => panic!("unexpected allocation events {other:?}"),
            })
            .collect()
    }

    /// A redemption (org `org`'s terminal) of `code` for `order`.
    pub fn redeem_code_tx(&self, org: usize, code: &str, order: Order) -> SignedTx {
        self.tx(
            &self.org(org).terminal,
            TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Code(couponcactus_chaincode::codes::code_hash(code)),
                member: None,
                order,
            }),
        )
    }

    /// A redemption (org `org`'s terminal) of allocated `token` held by `member`.
    pub fn redeem_token_tx(
        &self,
        org: usize,
        token: &TokenId,
        member: MemberId,
        order: Order,
    ) -> SignedTx {
        self.tx(
            &self.org(org).terminal,
            TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Token(token.clone()),
                member: Some(member),
                order,
            }),
        )
    }

    // ---- membership -------------------------------------------------------------------

    /// Prepares node `n+1` (a new key, free ports, a config with the cluster's genesis),
    /// starts it and waits until its HTTP API answers. It is not a member: admit it with
    /// [`Self::propose_add_node`]. Returns its id.
    pub fn add_node(&mut self) -> u64 {
        let id = self.nodes.len() as u64 + 1;
        let org = (id as usize - 1) % self.orgs.len() + 1;
        let probe = self.nodes[0].probe.clone();
        let node = new_node(
            &self.root,
            &self.binary,
            self.chain_id(),
            &probe,
            id,
            org,
            false,
        );
        self.write_config(&node);
        node.spawn();
        node.wait_http(self.settings.deadline);
        self.nodes.push(node);
        id
    }

    /// Submits governance `change`: proposed by org 1's admin, approved by the other orgs'
    /// admins in turn until it applies; returns the view of the tx that applied it.
    pub fn govern(&self, change: GovernanceChange) -> TxView {
        let proposal = self.apply(
            &self.org(1).admin,
            TxKind::ProposeGovernance(ProposeGovernanceTx {
                change: change.clone(),
            }),
        );
        let applied = |view: &TxView| {
            view.events()
                .iter()
                .any(|e| matches!(e, Event::GovernanceApplied { .. }))
        };
        if applied(&proposal) {
            return proposal;
        }
        for org in &self.orgs[1..] {
            let approval = self.apply(
                &org.admin,
                TxKind::ApproveGovernance(ApproveGovernanceTx {
                    proposal: proposal.tx_id,
                }),
            );
            if applied(&approval) {
                return approval;
            }
        }
        panic!("governance change {change:?} did not reach its quorum")
    }

    /// Governance `AddNode` of node `id` (as a voter, run by its org); once applied the
    /// harness counts it as a member.
    pub fn propose_add_node(&self, id: u64) -> TxView {
        let node = self.node(id);
        let record = node.record(&self.org(node.org).id, true);
        let view = self.govern(GovernanceChange::AddNode { node: record });
        node.member.store(true, Ordering::SeqCst);
        eprintln!("governance: node {id} added at height {:?}", view.height);
        view
    }

    /// Governance `RemoveNode` of node `id`; once applied the harness no longer counts it
    /// as a member (its process keeps running).
    pub fn propose_remove_node(&self, id: u64) -> TxView {
        let view = self.govern(GovernanceChange::RemoveNode { node_id: id });
        self.node(id).member.store(false, Ordering::SeqCst);
        eprintln!("governance: node {id} removed at height {:?}", view.height);
        view
    }
}

/// A node's folder, key file and client (not started, config not written).
fn new_node(
    root: &Path,
    binary: &Path,
    chain_id: &ChainId,
    probe: &reqwest::blocking::Client,
    id: u64,
    org: usize,
    member: bool,
) -> ClusterNode {
    let dir = root.join(format!("node{id}"));
    std::fs::create_dir_all(&dir).expect("creating the node folder");
    let key_file = KeyFile::from_seed(seed(&format!("node{id}")));
    key_file
        .save(&dir.join("node.key"))
        .expect("writing the node key");
    let http_port = pick_port();
    let p2p_port = pick_port();
    ClusterNode {
        id,
        org,
        config: dir.join("cactusd.toml"),
        dir,
        http_port,
        p2p_port,
        key: key_file.signing_key(),
        binary: binary.to_path_buf(),
        client: Client::new(format!("http://127.0.0.1:{http_port}"), chain_id.clone()),
        probe: probe.clone(),
        child: Mutex::new(None),
        starts: AtomicU32::new(0),
        member: AtomicBool::new(member),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("\n===== cluster at the failure =====\n{}", self.describe());
        }
        for n in &self.nodes {
            n.kill();
        }
        if panicking {
            for n in &self.nodes {
                let log = n.log();
                let total = log.lines().count();
                eprintln!(
                    "\n----- node {} log ({}, last {} of {total} lines) -----\n{}\n----- end of node {} log -----",
                    n.id,
                    n.log_path().display(),
                    total.min(LOG_LINES_ON_PANIC),
                    tail(&log, LOG_LINES_ON_PANIC),
                    n.id
                );
            }
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("cluster files kept in {}", kept.display());
            }
        }
    }
}
