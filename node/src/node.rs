//! The node runtime: cactusd's driver of the replica core, and the [`NodeHandle`] the HTTP
//! API talks to.
//!
//! The consensus itself is [`crate::replica::Core`], which takes inputs and returns
//! outputs with no thread, clock or network of its own. This module runs it: one
//! consensus thread ([`Driver`]) takes peers' traffic and wake-ups from an inbox, ticks
//! Raft by the wall clock, runs a turn of the core, and carries out its outputs in order:
//! Raft messages and checkpoint votes to the transport, forwarded txs to the leader (on
//! the tokio runtime), committed entries to the applier thread ([`crate::applier`], whose
//! reports come back through the inbox), a snapshot's state fetched and installed on a
//! thread of its own (the core keeps running meanwhile), and each applied block's results
//! to the submitters waiting for them, after the block is stored. A crash at any instant loses
//! nothing acknowledged: on restart Raft replays the committed entries after the stored
//! applied index.
//!
//! In a consortium ([`Peering`]) a follower forwards the txs it admitted to the leader and
//! keeps them *in flight* until a block carrying them is applied, so a leader crash loses
//! nothing a node accepted; after each block every node signs its hash and broadcasts the
//! vote, and a quorum of voters' votes makes the block's certificate; a vote for another
//! hash at the same height is a divergence, logged loudly and shown in status and
//! metrics. The leader keeps Raft's configuration equal to the consortium in chaincode
//! state (learner, then voter through joint consensus; removal after a leadership
//! hand-over). A follower too far behind gets a snapshot: a descriptor whose state it
//! streams, verifies and installs ([`crate::state_sync`]); an interrupted fetch resumes
//! from the chunks it already has.

use crate::applier::{self, Applier, ApplyDone, ApplyError, ApplyJob};
pub use crate::certify::{CheckpointVote, Divergence};
use crate::events::EventsTip;
use crate::forward::{self, ForwardOutcome};
use crate::mempool::{
    AdmissionError, Mempool, MempoolLimits, check_admission, check_forwarded_admission,
};
use crate::network::{Inbound, Lane, NetworkHandle, PeerInfo, Protocol};
use crate::pruner::Pruner;
use crate::replica::{AppliedBlock, Core, CoreError, CoreSetup, Input, Output, RoleView};
use crate::state_sync::{
    ChunkRequest, ChunkResponse, SnapshotDescriptor, SnapshotExporter, SyncError, install_snapshot,
};
use crate::storage::{Retention, StorageError, Store, TxLocation};
use crate::worker::Worker;
use bincode::{Decode, Encode};
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::ids::{ChainId, Hash32, TxId};
use couponcactus_chaincode::initial::InitialState;
use couponcactus_chaincode::ledger::ChainTip;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{BlockContext, ChainParams, Consortium};
use ed25519_dalek::SigningKey;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// How the node cuts blocks and runs Raft.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Raft id of this node.
    pub node_id: u64,
    /// Most txs in one block.
    pub block_max_txs: usize,
    /// Most encoded tx bytes in one block.
    pub block_max_bytes: usize,
    /// Longest a tx waits in the mempool for a block while this leader's previous block
    /// is still in flight (proposed, not yet applied). With nothing in flight a block is
    /// cut at once, so a lone tx never waits; under load, txs gather while a block
    /// commits, which makes blocks larger and their fixed costs (fsync, votes, the tree's
    /// upper levels) rarer.
    pub block_interval: Duration,
    /// Raft tick.
    pub tick: Duration,
    /// Leader heartbeat interval in ticks (`crate::timing` checks it against the election
    /// timeout and the expected RTT).
    pub heartbeat_ticks: usize,
    /// Election timeout in ticks.
    pub election_ticks: usize,
    /// Mempool limits.
    pub mempool: MempoolLimits,
    /// How many applied Raft entries to keep before compacting the log.
    pub keep_log_entries: u64,
    /// How long a waiting submitter waits for its commit.
    pub commit_timeout: Duration,
    /// How long a follower waits for a forwarded tx to commit before offering it again.
    pub forward_retry: Duration,
    /// Which state-tree versions stay on disk (`crate::pruner`).
    pub retention: Retention,
    /// State-tree nodes kept in memory: past this, the least recently changed subtrees are
    /// evicted and read back from the stored tree when a block reaches them
    /// (`StateTree::evict`).
    pub tree_resident_nodes: usize,
    /// Whether the progress watchdog (`crate::replica::watchdog`) replaces a leader whose
    /// entries stop committing. Always on in cactusd; the simulator turns it off to show
    /// what it is for.
    pub progress_watchdog: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            node_id: 1,
            block_max_txs: 5_000,
            block_max_bytes: 16 * 1024 * 1024,
            block_interval: Duration::from_millis(50),
            tick: Duration::from_millis(100),
            heartbeat_ticks: 2,
            election_ticks: 10,
            mempool: MempoolLimits::default(),
            keep_log_entries: 1_000,
            commit_timeout: Duration::from_secs(30),
            forward_retry: Duration::from_secs(3),
            retention: Retention::default(),
            tree_resident_nodes: DEFAULT_TREE_RESIDENT_NODES,
            progress_watchdog: true,
        }
    }
}

/// About 90 MiB of state-tree nodes (`StateTree::NODE_BYTES` each): what a node keeps of
/// its tree in memory by default.
pub const DEFAULT_TREE_RESIDENT_NODES: usize = 1_000_000;

/// What a Raft entry carries: the txs of one block, with the proposer and its clock.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlockProposal {
    /// Raft id of the proposer.
    pub proposer: u64,
    /// Proposer's clock (ms); the block time is this, or the previous block time + 1 ms if
    /// that is later, so block time is strictly increasing on every node alike.
    pub time_ms: u64,
    /// The txs, admitted by the proposer's mempool.
    pub txs: Vec<SignedTx>,
}

/// A tx's place and result once its block is applied.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Committed {
    /// Where it landed.
    pub location: TxLocation,
    /// Applied or rejected.
    pub result: TxResult,
}

/// The answer to a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Committed and applied (or committed before: the original result).
    Committed(Committed),
    /// Queued; poll the tx id.
    Accepted(TxId),
}

/// Why a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Refused at admission.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// Not committed within the commit timeout; the tx may still commit.
    #[error(
        "tx {0} was not committed in time; query its status or resubmit it (resubmission is idempotent)"
    )]
    Timeout(TxId),
    /// The node is shutting down or its consensus loop stopped.
    #[error("node is shutting down")]
    ShuttingDown,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A point-in-time view of the node for `/v1/status`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeStatus {
    /// This node's Raft id.
    pub node_id: u64,
    /// `leader`, `follower`, `candidate` or `pre_candidate`.
    pub role: &'static str,
    /// The leader's Raft id (0 if none is known).
    pub leader_id: u64,
    /// Raft term.
    pub term: u64,
    /// Height of the last applied block.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash32,
    /// State root after it.
    pub state_root: Hash32,
    /// History-log size after it.
    pub log_size: u64,
    /// Highest certified height.
    pub certified_height: u64,
    /// Txs waiting in the mempool.
    pub mempool: usize,
    /// The chain.
    pub chain_id: ChainId,
    /// Genesis hash.
    pub genesis_hash: Hash32,
    /// Raft voters, as this node's Raft configuration has them.
    pub voters: Vec<u64>,
    /// Raft learners (nodes catching up before they vote).
    pub learners: Vec<u64>,
    /// Members this node has a connection to.
    pub peers_connected: Vec<u64>,
    /// The first divergence seen: another node signed a different block hash at a height.
    pub divergence: Option<Divergence>,
}

impl NodeStatus {
    /// Shows `block` as the last applied one, and `certified_in_batch` (the highest height
    /// certified in the same batch of the core's outputs) as certified if the block
    /// reaches it.
    fn publish_applied(&mut self, block: &AppliedBlock, certified_in_batch: Option<u64>) {
        self.height = block.header.height;
        self.block_hash = block.hash;
        self.state_root = block.header.state_root;
        self.log_size = block.header.log_size;
        if let Some(c) = certified_in_batch.filter(|c| *c <= block.header.height) {
            self.certified_height = self.certified_height.max(c);
        }
    }
}

/// Txs a follower forwards to the leader.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ForwardRequest {
    /// The txs, admitted by the follower.
    pub txs: Vec<SignedTx>,
}

/// The leader's answer for one forwarded tx.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ForwardVerdict {
    /// Queued for a block.
    Accepted,
    /// Committed already: its place and result on the leader (a follower installed from a
    /// snapshot after it committed has no record of it and answers with this).
    Committed(Committed),
    /// This node does not lead (any more); the follower retries with `leader_id`.
    NotLeader {
        /// The leader this node knows of (0: none).
        leader_id: u64,
    },
    /// Refused at admission.
    Refused {
        /// Stable error code.
        code: String,
        /// Why.
        message: String,
    },
}

/// What the network hands the node besides Raft: the consortium side of [`start`].
#[derive(Debug)]
pub struct Peering {
    /// The running transport.
    pub network: NetworkHandle,
    /// Its inbound traffic.
    pub inbound: tokio::sync::mpsc::Receiver<Inbound>,
    /// Where state exports for snapshots are written.
    pub snapshot_dir: PathBuf,
}

enum Command {
    Wake,
    Shutdown,
    /// Raft messages from peers (sender already checked).
    Raft(Vec<Message>),
    /// A checkpoint vote from a peer (sender already checked).
    Vote(CheckpointVote),
    /// A forwarded batch came back: put the refused-for-now txs back in the queue.
    Requeue(Vec<SignedTx>),
    /// The snapshot fetch thread finished.
    SnapshotFetched(Result<ChainTip, SyncError>),
    /// The applier thread finished (or failed) its oldest job.
    Applied(Result<ApplyDone, ApplyError>),
}

struct Shared {
    store: Store,
    chain_id: ChainId,
    options: NodeOptions,
    /// Shared with the replica core, which takes blocks from it.
    mempool: Arc<Mutex<Mempool>>,
    waiters: Mutex<HashMap<TxId, Vec<oneshot::Sender<Committed>>>>,
    status: RwLock<NodeStatus>,
    params: RwLock<ChainParams>,
    /// The consortium as of the last applied block (membership, voters, node keys).
    consortium: RwLock<Consortium>,
    commands: Mutex<Sender<Command>>,
    /// The transport (none for a lone `--dev` node).
    network: Option<NetworkHandle>,
    /// Serves snapshot state exports to peers.
    exporter: Option<Arc<SnapshotExporter>>,
    /// The tokio runtime (network calls from the consensus thread).
    runtime: Option<tokio::runtime::Handle>,
    /// The log size whose events are stored; followers of the event log wait on it.
    events_tip: EventsTip,
}

/// A cheap, cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeHandle(node {})", self.shared.options.node_id)
    }
}

/// Milliseconds since the Unix epoch by the local clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Carries out the sorted answer to a forward (the rules: [`forward::sort_verdicts`]):
/// logs, drops the settled txs from the mempool, answers the waiters of txs committed
/// already with the leader's record, and returns the txs to retry.
fn settle_forwarded(shared: &Shared, leader: u64, outcome: ForwardOutcome) -> Vec<SignedTx> {
    if outcome.failed {
        tracing::debug!(leader, "forwarding failed; txs will be offered again");
    }
    for r in &outcome.refused {
        // The leader's state refuses it (e.g. a key revoked since): it can never commit;
        // a waiting submitter times out.
        tracing::warn!(tx = %r.tx, code = r.code.as_str(), message = r.message.as_str(), "leader refused a forwarded tx");
    }
    if !outcome.settle.is_empty() {
        lock(&shared.mempool).settle(outcome.settle);
    }
    if !outcome.committed.is_empty() {
        // Committed before this node's history begins (or while it was away).
        let mut waiters = lock(&shared.waiters);
        for (id, done) in outcome.committed {
            for s in waiters.remove(&id).into_iter().flatten() {
                let _ = s.send(done.clone());
            }
        }
    }
    outcome.retry
}

impl NodeHandle {
    /// The store (read side for queries).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The log size whose events are stored ([`crate::events`]), advanced after every
    /// applied block: subscribe to follow the event log.
    pub fn events_tip(&self) -> &EventsTip {
        &self.shared.events_tip
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.shared.chain_id
    }

    /// The current status.
    pub fn status(&self) -> NodeStatus {
        let mut s = self
            .shared
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        s.mempool = lock(&self.shared.mempool).len();
        if let Some(net) = &self.shared.network {
            s.peers_connected = net.connected();
        }
        s
    }

    /// The consortium as of the last applied block.
    pub fn consortium(&self) -> Consortium {
        self.shared
            .consortium
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The leader's side of forwarding: admits txs a follower forwarded.
    pub fn accept_forwarded(&self, request: ForwardRequest) -> Vec<ForwardVerdict> {
        let status = self.status();
        let params = self
            .shared
            .params
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let leader = ForwardJudge {
            store: &self.shared.store,
            chain_id: &self.shared.chain_id,
            params: &params,
            limits: &self.shared.options.mempool,
            mempool: &self.shared.mempool,
        };
        let verdicts = leader.judge(
            status.role == "leader",
            status.leader_id,
            now_ms(),
            request.txs,
        );
        let _ = lock(&self.shared.commands).send(Command::Wake);
        verdicts
    }

    /// The context the next block would execute in (for dry runs).
    pub fn next_block_context(&self) -> Result<BlockContext, StorageError> {
        let tip = self.shared.store.tip()?;
        Ok(BlockContext {
            chain_id: tip.chain_id,
            height: tip.height + 1,
            time_ms: now_ms().max(tip.time_ms + 1),
        })
    }

    /// The result of a tx already executed.
    pub fn committed(&self, id: &TxId) -> Result<Option<Committed>, StorageError> {
        committed_in(&self.shared.store, id)
    }

    /// Whether `id` waits in the mempool, or in a block not applied yet.
    pub fn is_pending(&self, id: &TxId) -> bool {
        lock(&self.shared.mempool).contains(id)
    }

    /// Submits a tx. With `wait`, returns once it is committed and applied; without, once
    /// it is admitted. A tx id executed before gets its original result.
    pub async fn submit(&self, tx: SignedTx, wait: bool) -> Result<SubmitOutcome, SubmitError> {
        let id = tx.id();
        if let Some(done) = self.committed(&id)? {
            return Ok(SubmitOutcome::Committed(done));
        }
        let params = self
            .shared
            .params
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let size = check_admission(
            &self.shared.store,
            &self.shared.chain_id,
            &params,
            &self.shared.options.mempool,
            now_ms(),
            &tx,
        )?;
        let receiver = if wait {
            let (sender, receiver) = oneshot::channel();
            lock(&self.shared.waiters)
                .entry(id)
                .or_default()
                .push(sender);
            Some(receiver)
        } else {
            None
        };
        // Committed meanwhile (a resubmission racing the first copy)? Answer from storage.
        // Checked under the mempool lock: a block is stored before its txs leave the
        // mempool (`settle`), so the tx is found in storage or the mempool, never queued
        // again once it is in a block.
        let pushed = {
            let mut pool = lock(&self.shared.mempool);
            if let Some(done) = self.committed(&id)? {
                return Ok(SubmitOutcome::Committed(done));
            }
            pool.push_sized(id, tx, size)
        };
        if let Err(e) = pushed {
            lock(&self.shared.waiters).remove(&id);
            return Err(e.into());
        }
        let _ = lock(&self.shared.commands).send(Command::Wake);
        let Some(receiver) = receiver else {
            return Ok(SubmitOutcome::Accepted(id));
        };
        let started = Instant::now();
        match tokio::time::timeout(self.shared.options.commit_timeout, receiver).await {
            Ok(Ok(done)) => {
                metrics::histogram!("cactus_commit_latency_seconds")
                    .record(started.elapsed().as_secs_f64());
                Ok(SubmitOutcome::Committed(done))
            }
            Ok(Err(_)) => Err(SubmitError::ShuttingDown),
            Err(_) => Err(SubmitError::Timeout(id)),
        }
    }

    /// Stops the consensus loop (pending waiters get `ShuttingDown`).
    pub fn shutdown(&self) {
        let _ = lock(&self.shared.commands).send(Command::Shutdown);
    }
}

/// The result of a tx already executed in `store`.
pub fn committed_in(store: &Store, id: &TxId) -> Result<Option<Committed>, StorageError> {
    let Some(location) = store.tx_location(id)? else {
        return Ok(None);
    };
    let result =
        store
            .result_at(location.height, location.index)?
            .ok_or(StorageError::Corrupt {
                what: "tx result",
                why: format!("indexed tx {id} has no result"),
            })?;
    Ok(Some(Committed { location, result }))
}

/// Whether tx `id` is in `store`: a block holding it was applied here, or a snapshot
/// installed its effects (its id is in the replay-protection index). A read error counts
/// as no (the chaincode's replay check still holds).
pub fn executed_in(store: &Store, id: &TxId) -> bool {
    matches!(store.tx_location(id), Ok(Some(_)))
        || matches!(store.get(&StateKey::SeenTx(*id)), Ok(Some(_)))
}

/// What the leader's side of forwarding reads and admits into (cactusd's and the
/// simulator's nodes alike).
#[derive(Debug)]
pub struct ForwardJudge<'a> {
    /// The leader's store (txs committed already, admission's key checks).
    pub store: &'a Store,
    /// The chain.
    pub chain_id: &'a ChainId,
    /// Chain parameters in force.
    pub params: &'a ChainParams,
    /// Mempool limits.
    pub limits: &'a MempoolLimits,
    /// The mempool the accepted txs join.
    pub mempool: &'a Mutex<Mempool>,
}

impl ForwardJudge<'_> {
    /// One verdict per forwarded tx, in order: committed already (with its record), not
    /// the leader, refused at admission, or accepted into the mempool.
    pub fn judge(
        &self,
        is_leader: bool,
        leader_id: u64,
        now_ms: u64,
        txs: Vec<SignedTx>,
    ) -> Vec<ForwardVerdict> {
        if !is_leader {
            return vec![ForwardVerdict::NotLeader { leader_id }; txs.len()];
        }
        txs.into_iter()
            .map(|tx| self.judge_one(now_ms, tx))
            .collect()
    }

    /// The verdict on one forwarded tx. Storage is read under the mempool lock: a block is
    /// stored before its txs leave the mempool and its log index, so the tx is found in
    /// storage, or pending here (queued, in flight, or in an entry of this leader's log not
    /// applied yet: accepted, and not queued twice), never queued again once in a block.
    fn judge_one(&self, now_ms: u64, tx: SignedTx) -> ForwardVerdict {
        let id = tx.id();
        // Committed already: its record, whatever admission would say of it now.
        if let Some(verdict) = self.committed_verdict(&id) {
            return verdict;
        }
        let size = match check_forwarded_admission(
            self.store,
            self.chain_id,
            self.params,
            self.limits,
            now_ms,
            &tx,
        ) {
            Ok(size) => size,
            Err(e) => return refused(&e),
        };
        let mut pool = lock(self.mempool);
        if let Some(verdict) = self.committed_verdict(&id) {
            return verdict;
        }
        if !pool.contains(&id) && executed_in(self.store, &id) {
            // Executed in a block before this leader's snapshot: it has no record to
            // answer with, and the tx can never execute again.
            return ForwardVerdict::Refused {
                code: "duplicate".into(),
                message: format!("tx {id} was executed already (before this node's snapshot)"),
            };
        }
        match pool.push_sized(id, tx, size) {
            Ok(_) => ForwardVerdict::Accepted,
            Err(e) => refused(&e),
        }
    }
}

impl ForwardJudge<'_> {
    fn committed_verdict(&self, id: &TxId) -> Option<ForwardVerdict> {
        match committed_in(self.store, id) {
            Ok(Some(done)) => Some(ForwardVerdict::Committed(done)),
            Ok(None) => None,
            Err(e) => Some(ForwardVerdict::Refused {
                code: "internal".into(),
                message: e.to_string(),
            }),
        }
    }
}

fn refused(e: &AdmissionError) -> ForwardVerdict {
    ForwardVerdict::Refused {
        code: e.code().into(),
        message: e.to_string(),
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Raft refused its configuration or state.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// State sync could not be set up.
    #[error("state sync: {0}")]
    Sync(String),
    /// The stored state tree could not be loaded, or the applier thread not started.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// The peers of `consortium` as the transport needs them.
pub fn peers_of(consortium: &Consortium) -> Vec<PeerInfo> {
    consortium
        .nodes
        .iter()
        .map(|n| PeerInfo {
            node_id: n.node_id,
            public_key: n.node_key,
            addr: n.p2p_addr.clone(),
        })
        .collect()
}

/// The consortium in `store`'s latest state.
pub fn read_consortium(store: &Store) -> Result<Consortium, StorageError> {
    match store
        .get(&StateKey::Consortium)
        .map_err(|e| StorageError::Corrupt {
            what: "consortium",
            why: e.to_string(),
        })? {
        Some(StateValue::Consortium(c)) => Ok(c),
        _ => Err(StorageError::Corrupt {
            what: "consortium",
            why: "no consortium in state".into(),
        }),
    }
}

/// Opens the store, initialises or checks genesis, and starts the consensus thread (and,
/// with `peering`, the task that hands peers' traffic to it; then this must run inside a
/// tokio runtime). Returns the handle and the thread, which ends after
/// [`NodeHandle::shutdown`].
pub fn start(
    store: Store,
    genesis: &InitialState,
    genesis_hash: Hash32,
    node_key: SigningKey,
    options: NodeOptions,
    peering: Option<Peering>,
) -> Result<(NodeHandle, std::thread::JoinHandle<Result<(), String>>), StartError> {
    let tip = store.init_genesis(genesis, genesis_hash)?;
    let voters: Vec<u64> = genesis
        .nodes
        .iter()
        .filter(|n| n.voter)
        .map(|n| n.node_id)
        .collect();
    let (network, inbound, exporter) = match peering {
        Some(p) => {
            let exporter = Arc::new(
                SnapshotExporter::new(store.clone(), p.snapshot_dir, options.node_id)
                    .map_err(|e| StartError::Sync(e.to_string()))?,
            );
            (Some(p.network), Some(p.inbound), Some(exporter))
        }
        None => (None, None, None),
    };
    let mempool = Arc::new(Mutex::new(Mempool::new(options.mempool.clone())));
    let applier = Applier::open(store.clone(), mempool.clone(), options.tree_resident_nodes)?;
    let core = Core::open(CoreSetup {
        store: store.clone(),
        chain_id: genesis.chain_id.clone(),
        genesis_voters: voters,
        node_key,
        options: options.clone(),
        mempool: mempool.clone(),
        exporter: exporter.clone(),
        election_range: None,
    })
    .map_err(|e| match e {
        CoreError::Storage(e) => StartError::Storage(e),
        CoreError::Raft(e) => StartError::Raft(e),
        e => StartError::Sync(e.to_string()),
    })?;
    let (commands, inbox) = mpsc::channel();
    let reports = commands.clone();
    let applier = applier::spawn(applier, move |result| {
        let _ = reports.send(Command::Applied(result));
    })
    .map_err(|e| StartError::Sync(format!("spawning the applier thread: {e}")))?;
    let params = read_params(&store)?;
    let consortium = read_consortium(&store)?;
    let certified_height = store.latest_certificate()?.map(|c| c.height).unwrap_or(0);
    let shared = Arc::new(Shared {
        store: store.clone(),
        chain_id: genesis.chain_id.clone(),
        mempool,
        waiters: Mutex::new(HashMap::new()),
        status: RwLock::new(NodeStatus {
            node_id: options.node_id,
            role: "follower",
            leader_id: 0,
            term: 0,
            height: tip.height,
            block_hash: tip.block_hash,
            state_root: tip.state_root,
            log_size: tip.log.size,
            certified_height,
            mempool: 0,
            chain_id: genesis.chain_id.clone(),
            genesis_hash,
            voters: Vec::new(),
            learners: Vec::new(),
            peers_connected: Vec::new(),
            divergence: None,
        }),
        params: RwLock::new(params),
        consortium: RwLock::new(consortium),
        options,
        commands: Mutex::new(commands),
        network,
        exporter,
        runtime: tokio::runtime::Handle::try_current().ok(),
        events_tip: EventsTip::new(tip.log.size),
    });
    let handle = NodeHandle {
        shared: shared.clone(),
    };
    if let Some(inbound) = inbound {
        let runtime = shared
            .runtime
            .clone()
            .ok_or_else(|| StartError::Sync("peering needs a tokio runtime".into()))?;
        runtime.spawn(dispatch_inbound(handle.clone(), inbound));
    }
    let outlet = Outlet {
        shared: shared.clone(),
        reports: Arc::new(Mutex::new(Vec::new())),
        applier: Arc::new(applier),
    };
    let mut core = core;
    let sink = outlet.clone();
    core.set_sink(Box::new(move |outputs| sink.carry_out(outputs)));
    let pruner = Pruner::start(shared.store.clone(), shared.options.retention);
    let mut driver = Driver {
        core,
        shared,
        outlet,
        pruner,
    };
    let thread = std::thread::Builder::new()
        .name("consensus".into())
        .spawn(move || driver.run(inbox).map_err(|e| e.to_string()))
        .expect("spawning the consensus thread");
    Ok((handle, thread))
}

pub(crate) fn read_params(store: &Store) -> Result<ChainParams, StorageError> {
    match store
        .get(&StateKey::Params)
        .map_err(|e| StorageError::Corrupt {
            what: "params",
            why: e.to_string(),
        })? {
        Some(StateValue::Params(p)) => Ok(p),
        _ => Ok(ChainParams::default()),
    }
}

/// Hands the network's inbound traffic to the node: Raft messages and votes to the
/// consensus thread (after checking that each claims the sender the transport
/// authenticated), forwarded txs to the leader's admission, snapshot chunk requests to
/// the exporter.
async fn dispatch_inbound(node: NodeHandle, mut inbound: tokio::sync::mpsc::Receiver<Inbound>) {
    let send = |c: Command| {
        let _ = lock(&node.shared.commands).send(c);
    };
    while let Some(item) = inbound.recv().await {
        match item {
            Inbound::Raft { from, messages } => {
                let mut batch = Vec::with_capacity(messages.len());
                for bytes in messages {
                    match Message::parse_from_bytes(&bytes) {
                        Ok(m) if m.from == from => batch.push(m),
                        Ok(m) => {
                            tracing::warn!(
                                from,
                                claimed = m.from,
                                "raft message with a forged sender dropped"
                            );
                            metrics::counter!("cactus_p2p_refused_total").increment(1);
                        }
                        Err(e) => {
                            tracing::warn!(from, error = %e, "undecodable raft message dropped")
                        }
                    }
                }
                if !batch.is_empty() {
                    send(Command::Raft(batch));
                }
            }
            Inbound::Checkpoint { from, payload } => match decode::<CheckpointVote>(&payload) {
                Ok(v) if v.signature.node_id == from => send(Command::Vote(v)),
                Ok(v) => tracing::warn!(
                    from,
                    claimed = v.signature.node_id,
                    "checkpoint vote with a forged signer dropped"
                ),
                Err(e) => tracing::warn!(from, error = %e, "undecodable checkpoint vote dropped"),
            },
            Inbound::Request {
                protocol: Protocol::Forward,
                from,
                payload,
                reply,
            } => {
                let node = node.clone();
                tokio::task::spawn_blocking(move || {
                    let answer: Result<Vec<ForwardVerdict>, String> =
                        match decode::<ForwardRequest>(&payload) {
                            Ok(request) => Ok(node.accept_forwarded(request)),
                            Err(e) => {
                                tracing::warn!(from, error = %e, "undecodable forwarded txs");
                                Err(format!("undecodable forward request: {e}"))
                            }
                        };
                    let _ = reply.send(encode(&answer));
                });
            }
            Inbound::Request {
                protocol: Protocol::Snapshot,
                from,
                payload,
                reply,
            } => {
                let Some(exporter) = node.shared.exporter.clone() else {
                    continue;
                };
                tokio::task::spawn_blocking(move || {
                    let answer: Result<ChunkResponse, String> = decode::<ChunkRequest>(&payload)
                        .map_err(|e| format!("undecodable chunk request: {e}"))
                        .and_then(|req| exporter.read_chunk(&req).map_err(|e| e.to_string()));
                    if let Err(e) = &answer {
                        tracing::warn!(from, error = %e, "snapshot chunk request failed");
                    }
                    let _ = reply.send(encode(&answer));
                });
            }
            Inbound::Request { protocol, from, .. } => {
                tracing::warn!(from, ?protocol, "unexpected request dropped");
            }
        }
    }
}

/// Chunks of a snapshot fetched so far, kept across attempts so an interrupted fetch
/// resumes where it stopped instead of starting over (bounded by the snapshot's size,
/// which the install holds in memory anyway).
type ChunkCache = HashMap<(u64, Option<Vec<u8>>), ChunkResponse>;

/// Attempts to fetch one snapshot before giving up on it: the core then reopens Raft from
/// storage and the leader sends a new snapshot (from a source that is up).
const SNAPSHOT_ATTEMPTS: u64 = 8;

/// cactusd's driver of the replica core: the consensus thread. It owns the wall clock
/// (ticks, proposal times), the inbox of peers' traffic, and carries out the core's
/// outputs on the libp2p transport, the node's status and the submitters' waiters.
struct Driver {
    core: Core,
    shared: Arc<Shared>,
    /// Carries out the core's outputs as the core emits them (its sink); what it learns
    /// for the core (unreachable peers, snapshot sends) waits in `reports`.
    outlet: Outlet,
    /// Told the tip after each turn; stopped and joined when the driver goes.
    pruner: Option<Pruner>,
}

/// The driver's side of the core's outputs, owned by the core's sink so that early
/// messages leave before the leader's fsync and submitters are answered as soon as their
/// block is stored, as raft-rs's Ready order allows.
#[derive(Clone)]
struct Outlet {
    shared: Arc<Shared>,
    reports: Arc<Mutex<Vec<Input>>>,
    /// The applier thread; it ends when the last clone goes (with the driver and the
    /// core's sink), after the jobs in its mailbox.
    applier: Arc<Worker<ApplyJob>>,
}

impl Driver {
    fn run(&mut self, inbox: Receiver<Command>) -> Result<(), CoreError> {
        let mut last_tick = Instant::now();
        let result = loop {
            match self.step(&inbox, &mut last_tick) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, "consensus loop stopped");
                    break Err(e);
                }
            }
        };
        // Whoever still waits learns that no answer will come from this node.
        lock(&self.shared.waiters).clear();
        result
    }

    /// Takes what waits in the inbox (up to a bound, so one Ready covers it), ticks when a
    /// tick is due, runs a turn of the core and carries out its outputs. `Ok(false)`: shut
    /// down.
    fn step(
        &mut self,
        inbox: &Receiver<Command>,
        last_tick: &mut Instant,
    ) -> Result<bool, CoreError> {
        let tick = self.shared.options.tick;
        let wait = tick
            .saturating_sub(last_tick.elapsed())
            .min(self.shared.options.block_interval);
        let mut next = inbox.recv_timeout(wait);
        for _ in 0..4_096 {
            let command = match next {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Ok(false),
            };
            let input = match command {
                Command::Wake => None,
                Command::Shutdown => return Ok(false),
                Command::Raft(messages) => Some(Input::Raft(messages)),
                Command::Vote(vote) => Some(Input::Vote(vote)),
                Command::Requeue(txs) => Some(Input::Requeue(txs)),
                Command::SnapshotFetched(result) => Some(Input::SnapshotFetched(result)),
                Command::Applied(result) => Some(Input::Applied(result)),
            };
            if let Some(input) = input {
                self.core.handle(input)?;
            }
            next = inbox.try_recv().map_err(|e| match e {
                mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            });
        }
        if last_tick.elapsed() >= tick {
            self.core.handle(Input::Tick)?;
            *last_tick = Instant::now();
        }
        let outputs = self.core.turn(now_ms())?;
        self.outlet.carry_out(outputs);
        if let Some(pruner) = &self.pruner {
            pruner.notify(read(&self.shared.status).height);
        }
        let reports: Vec<Input> = std::mem::take(&mut *lock(&self.outlet.reports));
        for report in reports {
            self.core.handle(report)?;
        }
        Ok(true)
    }
}

impl Outlet {
    /// Carries out a batch of the core's outputs, in order. A certificate in the same batch
    /// is published with the block it certifies, before that block's waiters wake: a
    /// client answered for a lone voter's block never reads it uncertified.
    fn carry_out(&self, outputs: Vec<Output>) {
        let certified_in_batch = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Certified(cert) => Some(cert.height),
                _ => None,
            })
            .max();
        for output in outputs {
            match output {
                Output::Send {
                    to,
                    messages,
                    snapshot,
                } => self.send(to, messages, snapshot),
                Output::Broadcast(vote) => {
                    if let Some(network) = &self.shared.network {
                        network.broadcast_checkpoint(encode(&vote));
                    }
                }
                Output::Forward { leader, txs } => self.forward(leader, txs),
                Output::Apply(job) => self.apply(job),
                Output::FetchSnapshot(descriptor) => self.fetch_snapshot(*descriptor),
                Output::Applied(block) => self.applied(*block, certified_in_batch),
                Output::Installed { tip, certified } => {
                    let mut s = write(&self.shared.status);
                    s.height = tip.height;
                    s.block_hash = tip.block_hash;
                    s.state_root = tip.state_root;
                    s.log_size = tip.log.size;
                    self.shared.events_tip.advance(tip.log.size);
                    if let Some(c) = certified {
                        s.certified_height = s.certified_height.max(c);
                    }
                }
                Output::Certified(cert) => {
                    let mut s = write(&self.shared.status);
                    s.certified_height = s.certified_height.max(cert.height);
                    metrics::gauge!("cactus_certified_height").set(s.certified_height as f64);
                }
                Output::Diverged(d) => self.diverged(d),
                Output::Role(view) => self.publish_role(view),
                Output::Consortium(consortium) => {
                    if let Some(network) = &self.shared.network {
                        network.set_peers(peers_of(&consortium));
                    }
                    *write(&self.shared.consortium) = consortium;
                }
                Output::Params(params) => *write(&self.shared.params) = params,
            }
        }
    }

    /// Sends raft messages to one peer, appends and snapshots on their own lane so that
    /// heartbeats, votes and responses never wait behind them; an unreachable peer or a
    /// refused snapshot is reported to Raft so it probes again later.
    fn send(&self, to: u64, messages: Vec<Message>, snapshot: bool) {
        let Some(network) = &self.shared.network else {
            return;
        };
        let (mut append, mut control) = (Vec::new(), Vec::new());
        for m in &messages {
            let bytes = m.write_to_bytes().expect("protobuf encodes");
            match m.get_msg_type() {
                MessageType::MsgAppend | MessageType::MsgSnapshot => append.push(bytes),
                _ => control.push(bytes),
            }
        }
        let ok = network.send_raft(to, Lane::Append, append).is_ok()
            & network.send_raft(to, Lane::Control, control).is_ok();
        let mut reports = lock(&self.reports);
        if !ok {
            reports.push(Input::Unreachable(to));
        }
        if snapshot {
            reports.push(Input::SnapshotSent { to, ok });
        }
    }

    /// Hands a committed entry to the applier thread. The core hands out at most as many
    /// jobs as its mailbox holds, so a refusal means the thread is gone (after a failure it
    /// reported, or a panic): the core learns it and stops.
    fn apply(&self, job: ApplyJob) {
        if !self.applier.offer(job) {
            lock(&self.reports).push(Input::Applied(Err(ApplyError::Stopped)));
        }
    }

    /// Offers the leader txs this node admitted, on the runtime; what it cannot take now
    /// comes back to the queue.
    fn forward(&self, leader: u64, txs: Vec<SignedTx>) {
        let (Some(network), Some(runtime)) = (&self.shared.network, &self.shared.runtime) else {
            lock(&self.shared.mempool).requeue(txs);
            return;
        };
        let network = network.clone();
        let shared = self.shared.clone();
        runtime.spawn(async move {
            let count = txs.len();
            let request = encode(&ForwardRequest { txs: txs.clone() });
            let answer = network.request(leader, Protocol::Forward, request).await;
            let verdicts: Result<Vec<ForwardVerdict>, String> = match answer {
                Ok(bytes) => decode::<Result<Vec<ForwardVerdict>, String>>(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|r| r),
                Err(e) => Err(e.to_string()),
            };
            metrics::counter!("cactus_txs_forwarded_total").increment(count as u64);
            let retry = settle_forwarded(&shared, leader, forward::sort_verdicts(txs, verdicts));
            if !retry.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = lock(&shared.commands).send(Command::Requeue(retry));
            }
        });
    }

    /// Streams the snapshot's state from the node that made it on a thread of its own,
    /// verifies and installs it, and reports back through the inbox. Interrupted fetches
    /// resume from the chunks already received.
    fn fetch_snapshot(&self, descriptor: SnapshotDescriptor) {
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("snapshot-fetch".into())
            .spawn(move || {
                let result = fetch_and_install(&shared, &descriptor);
                let _ = lock(&shared.commands).send(Command::SnapshotFetched(result));
            });
        if let Err(e) = spawned {
            let error = SyncError::Fetch(format!("spawning the snapshot fetch thread: {e}"));
            let _ = lock(&self.shared.commands).send(Command::SnapshotFetched(Err(error)));
        }
    }

    /// Publishes an applied block: status, event followers, waiting submitters.
    fn applied(&self, block: AppliedBlock, certified_in_batch: Option<u64>) {
        write(&self.shared.status).publish_applied(&block, certified_in_batch);
        self.shared.events_tip.advance(block.header.log_size);
        let mut waiters = lock(&self.shared.waiters);
        for done in block.txs {
            let reason = done
                .result
                .outcome
                .rejection()
                .map(|r| r.reason.code())
                .unwrap_or("applied");
            metrics::counter!("cactus_tx_results_total", "result" => reason).increment(1);
            if let Some(senders) = waiters.remove(&done.result.tx_id) {
                for s in senders {
                    let _ = s.send(done.clone());
                }
            }
        }
    }

    fn publish_role(&self, view: RoleView) {
        let mut s = write(&self.shared.status);
        s.role = view.role;
        s.leader_id = view.leader_id;
        s.term = view.term;
        s.voters = view.voters;
        s.learners = view.learners;
        metrics::gauge!("cactus_raft_term").set(s.term as f64);
        metrics::gauge!("cactus_is_leader").set(if s.role == "leader" { 1.0 } else { 0.0 });
    }

    fn diverged(&self, d: Divergence) {
        tracing::error!(height = d.height, node = d.node_id, ours = %d.ours, theirs = %d.theirs, "DIVERGENCE: another node signed a different block at this height");
        metrics::counter!("cactus_divergence_total").increment(1);
        metrics::gauge!("cactus_divergence_detected").set(1.0);
        let mut s = write(&self.shared.status);
        if s.divergence.is_none() {
            s.divergence = Some(d);
        }
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Fetches the snapshot's chunks from its source over the transport (retrying with a
/// growing pause, resuming from the chunks received) and installs them
/// ([`install_snapshot`] verifies before it writes).
fn fetch_and_install(
    shared: &Shared,
    descriptor: &SnapshotDescriptor,
) -> Result<ChainTip, SyncError> {
    let (Some(network), Some(runtime)) = (&shared.network, &shared.runtime) else {
        return Err(SyncError::Invalid(
            "a snapshot arrived at a node without peers".into(),
        ));
    };
    let started = Instant::now();
    let mut cache = ChunkCache::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let fetch = |req: &ChunkRequest| -> Result<ChunkResponse, SyncError> {
            let key = (req.export_id, req.after.clone());
            if let Some(chunk) = cache.get(&key) {
                return Ok(chunk.clone());
            }
            let bytes = runtime
                .block_on(network.request(descriptor.source, Protocol::Snapshot, encode(req)))
                .map_err(|e| SyncError::Fetch(e.to_string()))?;
            let chunk = decode::<Result<ChunkResponse, String>>(&bytes)
                .map_err(|e| SyncError::Fetch(format!("undecodable chunk: {e}")))?
                .map_err(SyncError::Fetch)?;
            cache.insert(key, chunk.clone());
            Ok(chunk)
        };
        match install_snapshot(&shared.store, &shared.chain_id, descriptor, fetch) {
            Ok(tip) => {
                tracing::info!(
                    height = tip.height,
                    secs = started.elapsed().as_secs_f64(),
                    attempts = attempt,
                    "state snapshot installed"
                );
                return Ok(tip);
            }
            Err(e @ SyncError::Fetch(_)) if attempt < SNAPSHOT_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, chunks = cache.len(), "snapshot fetch interrupted; resuming");
                std::thread::sleep(Duration::from_millis(250 * attempt));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::block::BlockHeader;

    fn status(certified_height: u64) -> NodeStatus {
        NodeStatus {
            node_id: 1,
            role: "leader",
            leader_id: 1,
            term: 1,
            height: 7,
            block_hash: Hash32([7; 32]),
            state_root: Hash32([0; 32]),
            log_size: 7,
            certified_height,
            mempool: 0,
            chain_id: ChainId::new("testchain").unwrap(),
            genesis_hash: Hash32([0; 32]),
            voters: vec![1],
            learners: Vec::new(),
            peers_connected: Vec::new(),
            divergence: None,
        }
    }

    fn block(height: u64) -> AppliedBlock {
        AppliedBlock {
            raft_index: height + 1,
            header: BlockHeader {
                chain_id: ChainId::new("testchain").unwrap(),
                height,
                time_ms: height,
                prev_hash: Hash32([height as u8 - 1; 32]),
                tx_count: 0,
                tx_root: Hash32([0; 32]),
                result_root: Hash32([0; 32]),
                state_root: Hash32([height as u8; 32]),
                log_root: Hash32([0; 32]),
                log_size: height * 10,
                proposer: 1,
            },
            hash: Hash32([height as u8; 32]),
            txs: Vec::new(),
        }
    }

    #[test]
    fn a_block_certified_in_the_same_batch_is_never_shown_uncertified() {
        let mut s = status(7);
        s.publish_applied(&block(8), Some(8));
        assert_eq!((s.height, s.certified_height), (8, 8));
        assert_eq!((s.block_hash, s.log_size), (Hash32([8; 32]), 80));
    }

    #[test]
    fn a_certificate_above_the_block_waits_for_its_own_block() {
        // Blocks 8 and 9 applied in one batch, 9 certified: block 8 shows 7 certified.
        let mut s = status(7);
        s.publish_applied(&block(8), Some(9));
        assert_eq!((s.height, s.certified_height), (8, 7));
        s.publish_applied(&block(9), Some(9));
        assert_eq!((s.height, s.certified_height), (9, 9));
        // Without a certificate in the batch (a quorum not reached yet) nothing moves back.
        s.publish_applied(&block(10), None);
        assert_eq!((s.height, s.certified_height), (10, 9));
    }
}
