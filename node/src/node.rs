//! The node runtime: the Raft Ready loop that orders blocks, applies them and answers
//! submitters, and the [`NodeHandle`] the HTTP API talks to.
//!
//! One consensus thread owns the `RawNode`. Each turn it ticks Raft, cuts a block from the
//! mempool when it leads (by size or time), and runs the Ready loop in raft-rs's documented
//! order: send messages, persist entries and hard state with one fsync, apply committed
//! entries, advance. Applying a block runs the chaincode's pure `apply_block` and persists
//! its effects with the Raft index in one atomic batch (durable with the next Raft fsync;
//! the entries it came from already are); only then are the txs' submitters
//! told. A crash at any instant loses nothing acknowledged: on restart Raft replays the
//! committed entries after the stored applied index.
//!
//! In a consortium ([`Peering`]) the loop also talks to the other nodes through
//! [`crate::network`]: Raft messages go out in the loop's documented order (leader appends
//! before persisting, votes and responses after); a follower forwards the txs it admitted
//! to the leader and keeps them *in flight* until a block carrying them is applied, so a
//! leader crash loses nothing a node accepted; after each block every node signs its hash
//! and broadcasts the vote, and a quorum of voters' votes makes the block's
//! [`Certificate`]; a vote for another hash at the same height is a divergence, logged
//! loudly and shown in status and metrics. The leader keeps Raft's configuration equal to
//! the consortium in chaincode state: a node admitted by governance joins as a learner, is
//! promoted to voter through joint consensus once caught up, and a removed node is
//! removed (a leader that must go hands leadership over first). A follower too far behind
//! gets a snapshot: a descriptor whose state it streams and verifies ([`crate::state_sync`]).

use crate::certify::{self, DropReason, VoteKeeper};
pub use crate::certify::{CheckpointVote, Divergence};
use crate::events::EventsTip;
use crate::forward::{self, ForwardOutcome};
use crate::membership::{self, MembershipStep, MembershipView};
use crate::mempool::{
    AdmissionError, Mempool, MempoolLimits, check_admission, check_forwarded_admission,
};
use crate::network::{Inbound, NetworkHandle, PeerInfo, Protocol};
use crate::proposer;
use crate::raft_log::RaftStore;
use crate::state_sync::{
    ChunkRequest, ChunkResponse, SnapshotDescriptor, SnapshotExporter, SyncError, install_snapshot,
};
use crate::storage::{StorageError, Store, TxLocation};
use bincode::{Decode, Encode};
use couponcactus_chaincode::block::{BlockHeader, Certificate};
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::ids::{ChainId, Hash32, TxId};
use couponcactus_chaincode::initial::InitialState;
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{BlockContext, ChainParams, Consortium};
use ed25519_dalek::SigningKey;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeType, ConfChangeV2, ConfState, Entry, EntryType, Message, MessageType,
    Snapshot,
};
use raft::prelude::{Config, RawNode};
use raft::{SnapshotStatus, StateRole};
use std::collections::{BTreeMap, HashMap};
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
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            node_id: 1,
            block_max_txs: 5_000,
            block_max_bytes: 16 * 1024 * 1024,
            block_interval: Duration::from_millis(50),
            tick: Duration::from_millis(100),
            election_ticks: 10,
            mempool: MempoolLimits::default(),
            keep_log_entries: 1_000,
            commit_timeout: Duration::from_secs(30),
            forward_retry: Duration::from_secs(3),
        }
    }
}

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
}

struct Shared {
    store: Store,
    chain_id: ChainId,
    options: NodeOptions,
    mempool: Mutex<Mempool>,
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
        if status.role != "leader" {
            return vec![
                ForwardVerdict::NotLeader {
                    leader_id: status.leader_id
                };
                request.txs.len()
            ];
        }
        let params = self
            .shared
            .params
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let now = now_ms();
        let verdicts = request
            .txs
            .into_iter()
            .map(|tx| {
                let id = tx.id();
                match self.committed(&id) {
                    Ok(Some(done)) => return ForwardVerdict::Committed(done),
                    Ok(None) => {}
                    Err(e) => {
                        return ForwardVerdict::Refused {
                            code: "internal".into(),
                            message: e.to_string(),
                        };
                    }
                }
                let admitted = check_forwarded_admission(
                    &self.shared.store,
                    &self.shared.chain_id,
                    &params,
                    &self.shared.options.mempool,
                    now,
                    &tx,
                )
                .and_then(|size| {
                    lock(&self.shared.mempool)
                        .push_sized(id, tx, size)
                        .map(|_| ())
                });
                match admitted {
                    Ok(()) => ForwardVerdict::Accepted,
                    Err(e) => ForwardVerdict::Refused {
                        code: e.code().into(),
                        message: e.to_string(),
                    },
                }
            })
            .collect();
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
        let Some(location) = self.shared.store.tx_location(id)? else {
            return Ok(None);
        };
        let result = self
            .shared
            .store
            .result_at(location.height, location.index)?
            .ok_or(StorageError::Corrupt {
                what: "tx result",
                why: format!("indexed tx {id} has no result"),
            })?;
        Ok(Some(Committed { location, result }))
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
    let mut raft_store = RaftStore::open(store.clone(), &voters)?;
    if let Some(exporter) = &exporter {
        raft_store = raft_store.with_exporter(exporter.clone());
    }
    let applied = store.applied_index()?;
    // The Ready loop applies committed entries (one synced write per block) before it
    // persists that Ready's hard state, so a crash in between leaves the stored commit
    // index below the applied one. Those entries were committed: raise the stored commit
    // (raft-rs refuses to start with applied > commit).
    raft_store.set_commit(applied)?;
    let config = Config {
        id: options.node_id,
        election_tick: options.election_ticks,
        heartbeat_tick: (options.election_ticks / 5).max(1),
        applied,
        max_size_per_msg: 4 * 1024 * 1024,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Default::default()
    };
    config.validate()?;
    let logger = raft_logger();
    let mut raw = RawNode::new(&config, raft_store.clone(), &logger)?;
    if raw
        .raft
        .prs()
        .conf()
        .voters()
        .ids()
        .iter()
        .collect::<Vec<_>>()
        == [options.node_id]
    {
        // Alone in the group: no one to wait for.
        raw.campaign()?;
    }
    let (commands, inbox) = mpsc::channel();
    let params = read_params(&store)?;
    let consortium = read_consortium(&store)?;
    let certified_height = store.latest_certificate()?.map(|c| c.height).unwrap_or(0);
    let shared = Arc::new(Shared {
        store: store.clone(),
        chain_id: genesis.chain_id.clone(),
        mempool: Mutex::new(Mempool::new(options.mempool.clone())),
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
    let mut replica = Replica {
        raw,
        raft_store,
        certify: VoteKeeper::new(shared.options.node_id, node_key, shared.chain_id.clone()),
        shared,
        last_proposal: Instant::now(),
        last_proposed_index: 0,
        last_block_time: tip.time_ms,
        seen_leader: (0, 0),
        last_reconcile: Instant::now(),
    };
    let thread = std::thread::Builder::new()
        .name("consensus".into())
        .spawn(move || replica.run(inbox).map_err(|e| e.to_string()))
        .expect("spawning the consensus thread");
    Ok((handle, thread))
}

fn read_params(store: &Store) -> Result<ChainParams, StorageError> {
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

fn raft_logger() -> slog::Logger {
    use slog::Drain;
    let drain = slog_stdlog::StdLog.fuse();
    slog::Logger::root(drain, slog::o!())
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

/// Why the consensus loop stopped.
#[derive(Debug, thiserror::Error)]
enum LoopError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("applying block: {0}")]
    Apply(String),
    #[error("installing a snapshot: {0}")]
    Snapshot(#[from] SyncError),
}

struct Replica {
    raw: RawNode<RaftStore>,
    raft_store: RaftStore,
    shared: Arc<Shared>,
    /// Checkpoint votes and certificates (pure; this driver does the I/O).
    certify: VoteKeeper,
    last_proposal: Instant,
    /// Raft index of the last block this node proposed: while it is above the applied
    /// index, a block is in flight and the next one waits to fill (see
    /// [`NodeOptions::block_interval`]).
    last_proposed_index: u64,
    /// Time of the last block proposed or applied, so proposals carry increasing times.
    last_block_time: u64,
    /// (term, leader) last seen: a change requeues in-flight txs.
    seen_leader: (u64, u64),
    /// When the leader last compared Raft's configuration with the consortium.
    last_reconcile: Instant,
}

impl Replica {
    fn run(&mut self, inbox: Receiver<Command>) -> Result<(), LoopError> {
        let mut last_tick = Instant::now();
        let result = 'outer: loop {
            let tick = self.shared.options.tick;
            let wait = tick
                .saturating_sub(last_tick.elapsed())
                .min(self.shared.options.block_interval);
            let mut next = inbox.recv_timeout(wait);
            // Take everything that is waiting, so one Ready covers it.
            for _ in 0..4_096 {
                let command = match next {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => break 'outer Ok(()),
                };
                if let Err(e) = self.handle(command) {
                    match e {
                        Handled::Shutdown => break 'outer Ok(()),
                        Handled::Failed(e) => {
                            tracing::error!(error = %e, "consensus loop stopped");
                            break 'outer Err(e);
                        }
                    }
                }
                next = inbox.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                });
            }
            if last_tick.elapsed() >= tick {
                self.raw.tick();
                last_tick = Instant::now();
            }
            let turn = self
                .follow_leader_changes()
                .and_then(|()| self.propose_block())
                .and_then(|()| self.forward_pending())
                .and_then(|()| self.reconcile_membership())
                .and_then(|()| self.on_ready());
            if let Err(e) = turn {
                tracing::error!(error = %e, "consensus loop stopped");
                break Err(e);
            }
        };
        // Whoever still waits learns that no answer will come from this node.
        lock(&self.shared.waiters).clear();
        result
    }

    fn handle(&mut self, command: Command) -> Result<(), Handled> {
        match command {
            Command::Wake => {}
            Command::Shutdown => return Err(Handled::Shutdown),
            Command::Raft(messages) => {
                for m in messages {
                    let from = m.from;
                    if let Err(e) = self.raw.step(m) {
                        tracing::debug!(from, error = %e, "raft message not stepped");
                    }
                }
            }
            Command::Vote(vote) => self.on_vote(vote).map_err(Handled::Failed)?,
            Command::Requeue(txs) => lock(&self.shared.mempool).requeue(txs),
        }
        Ok(())
    }

    /// On a new term or leader, txs in flight may belong to proposals that never commit
    /// or to a leader that is gone: offer them again (duplicates are harmless).
    fn follow_leader_changes(&mut self) -> Result<(), LoopError> {
        let now = (self.raw.raft.term, self.raw.raft.leader_id);
        let mut pool = lock(&self.shared.mempool);
        if now != self.seen_leader {
            let had_leader = self.seen_leader.1 != 0;
            self.seen_leader = now;
            log_leader(self.raw.raft.id, now, had_leader);
            let n = pool.requeue_in_flight(Duration::ZERO);
            if n > 0 {
                tracing::info!(txs = n, term = now.0, "in-flight txs offered again");
            }
        } else if self.raw.raft.state != StateRole::Leader {
            pool.requeue_in_flight(self.shared.options.forward_retry);
        }
        Ok(())
    }

    /// As leader, cuts a block from the mempool when it is full enough or old enough (the
    /// rules: [`proposer::decide`]); Raft refusing it puts the txs back.
    fn propose_block(&mut self) -> Result<(), LoopError> {
        let opts = &self.shared.options;
        let limits = proposer::BlockLimits {
            max_txs: opts.block_max_txs,
            interval: opts.block_interval,
        };
        let is_leader = self.raw.raft.state == StateRole::Leader;
        if !is_leader {
            // Followers never propose: return before taking the mempool lock, which the
            // API and forwarding tasks contend for on every consensus turn.
            return Ok(());
        }
        let txs = {
            let mut pool = lock(&self.shared.mempool);
            let view = proposer::ProposerView {
                is_leader,
                pool_len: pool.len(),
                last_proposed_index: self.last_proposed_index,
                applied_index: self.raw.raft.raft_log.applied,
                since_last_proposal: self.last_proposal.elapsed(),
            };
            if proposer::decide(&view, &limits) == proposer::ProposalDecision::Wait {
                return Ok(());
            }
            let txs = pool.take(opts.block_max_txs, opts.block_max_bytes);
            metrics::gauge!("cactus_mempool_txs").set(pool.len() as f64);
            txs
        };
        if txs.is_empty() {
            return Ok(());
        }
        let time_ms = proposer::block_time(now_ms(), self.last_block_time);
        self.last_block_time = time_ms;
        self.last_proposal = Instant::now();
        let count = txs.len();
        let proposal = BlockProposal {
            proposer: opts.node_id,
            time_ms,
            txs,
        };
        if let Err(e) = self.raw.propose(vec![], encode(&proposal)) {
            // Lost leadership meanwhile: put the txs back for the next leader turn.
            tracing::warn!(error = %e, txs = count, "proposal dropped; txs requeued");
            lock(&self.shared.mempool).requeue(proposal.txs);
            return Ok(());
        }
        self.last_proposed_index = self.raw.raft.raft_log.last_index();
        metrics::histogram!("cactus_block_txs").record(count as f64);
        Ok(())
    }

    /// As a follower that knows the leader, sends it the txs this node admitted. They stay
    /// in flight here until a block carrying them is applied; what the leader cannot take
    /// now comes back to the queue.
    fn forward_pending(&mut self) -> Result<(), LoopError> {
        let leader = self.raw.raft.leader_id;
        if self.raw.raft.state == StateRole::Leader || leader == 0 {
            return Ok(());
        }
        let (Some(network), Some(runtime)) = (&self.shared.network, &self.shared.runtime) else {
            return Ok(());
        };
        let opts = &self.shared.options;
        let txs = {
            let mut pool = lock(&self.shared.mempool);
            if pool.is_empty() {
                return Ok(());
            }
            pool.take(opts.block_max_txs, opts.block_max_bytes)
        };
        if txs.is_empty() {
            return Ok(());
        }
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
        Ok(())
    }

    /// As leader, at most once per tick, moves Raft's configuration one step towards the
    /// consortium in state (the rules: [`membership::next_change`]). Voter changes go
    /// through a joint configuration that raft-rs leaves by itself.
    fn reconcile_membership(&mut self) -> Result<(), LoopError> {
        if self.raw.raft.state != StateRole::Leader
            || self.last_reconcile.elapsed() < self.shared.options.tick
            || self.raw.raft.has_pending_conf()
        {
            return Ok(());
        }
        self.last_reconcile = Instant::now();
        let (kind, id) = match membership::next_change(&self.membership_view()) {
            None => return Ok(()),
            Some(MembershipStep::AddLearner(id)) => (ConfChangeType::AddLearnerNode, id),
            Some(MembershipStep::Promote(id)) => (ConfChangeType::AddNode, id),
            Some(MembershipStep::Remove(id)) => (ConfChangeType::RemoveNode, id),
            Some(MembershipStep::TransferLeader(to)) => {
                // The target removes this node once it leads.
                tracing::info!(
                    to,
                    "this node was removed from the consortium; transferring leadership"
                );
                self.raw.transfer_leader(to);
                return Ok(());
            }
        };
        tracing::info!(?kind, node = id, "proposing a raft configuration change");
        let cc = membership::conf_change(kind, id);
        if let Err(e) = self.raw.propose_conf_change(vec![], cc) {
            tracing::warn!(error = %e, "configuration change not proposed");
        }
        Ok(())
    }

    /// What the leader knows of Raft's configuration and the consortium, for
    /// [`membership::next_change`].
    fn membership_view(&self) -> MembershipView {
        let raft = &self.raw.raft;
        let conf = raft.prs().conf().to_conf_state();
        let consortium = self
            .shared
            .consortium
            .read()
            .unwrap_or_else(|e| e.into_inner());
        MembershipView {
            me: self.shared.options.node_id,
            voters: conf.voters.iter().copied().collect(),
            learners: conf.learners.iter().copied().collect(),
            voters_outgoing: conf.voters_outgoing.iter().copied().collect(),
            pending_conf_change: raft.has_pending_conf(),
            matched: raft.prs().iter().map(|(id, p)| (*id, p.matched)).collect(),
            last_index: raft.raft_log.last_index(),
            consortium: consortium
                .nodes
                .iter()
                .map(|n| (n.node_id, n.voter))
                .collect(),
        }
    }

    /// Sends raft messages, batched per peer; an unreachable peer or a refused snapshot is
    /// reported to Raft so it probes again later.
    fn send(&mut self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let Some(network) = self.shared.network.clone() else {
            return;
        };
        let mut by_peer: BTreeMap<u64, (Vec<Vec<u8>>, bool)> = BTreeMap::new();
        for m in messages {
            let entry = by_peer.entry(m.to).or_default();
            entry.1 |= m.get_msg_type() == MessageType::MsgSnapshot;
            entry.0.push(m.write_to_bytes().expect("protobuf encodes"));
        }
        for (to, (batch, has_snapshot)) in by_peer {
            let sent = network.send_raft(to, batch);
            if sent.is_err() {
                self.raw.report_unreachable(to);
            }
            if has_snapshot {
                let status = if sent.is_ok() {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.raw.report_snapshot(to, status);
            }
        }
    }

    /// The Ready loop, in raft-rs's order.
    fn on_ready(&mut self) -> Result<(), LoopError> {
        if !self.raw.has_ready() {
            self.publish_role();
            return Ok(());
        }
        let mut ready = self.raw.ready();
        // 1. Messages a leader may send before persisting (appends, heartbeats).
        let early = ready.take_messages();
        self.send(early);
        // 2. A snapshot from the leader: stream, verify and install its state first.
        if *ready.snapshot() != Snapshot::default() {
            let snapshot = ready.snapshot().clone();
            self.install(&snapshot)?;
        }
        // 3. Entries committed earlier: apply them.
        self.apply_committed(ready.take_committed_entries())?;
        // 4+5. Persist new entries and the hard state, with one fsync, before anything
        //      that depends on them is acknowledged or sent.
        self.raft_store.persist(ready.entries(), ready.hs())?;
        // 6. Messages that must follow persistence (votes, append responses).
        let persisted = ready.take_persisted_messages();
        self.send(persisted);
        // 7. Advance; the light ready carries what became committed by that persistence.
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            // Durable with the next synced Raft write (same WAL); a lower commit on disk is safe.
            self.raft_store.set_commit(commit)?;
        }
        let messages = light.take_messages();
        self.send(messages);
        self.apply_committed(light.take_committed_entries())?;
        self.raw.advance_apply();
        self.publish_role();
        Ok(())
    }

    /// Streams the snapshot's state from the node that made it, verifies it against the
    /// block's roots, installs it, then records the snapshot in the Raft log.
    fn install(&mut self, snapshot: &Snapshot) -> Result<(), LoopError> {
        let descriptor: SnapshotDescriptor = decode(&snapshot.data)
            .map_err(|e| SyncError::Invalid(format!("snapshot descriptor: {e}")))?;
        let (Some(network), Some(runtime)) = (&self.shared.network, &self.shared.runtime) else {
            return Err(
                SyncError::Invalid("a snapshot arrived at a node without peers".into()).into(),
            );
        };
        tracing::info!(
            height = descriptor.height,
            index = descriptor.raft_index,
            source = descriptor.source,
            entries = descriptor.total_entries,
            "installing a state snapshot"
        );
        let started = Instant::now();
        let mut attempt = 0;
        let tip = loop {
            attempt += 1;
            let fetch = |req: &ChunkRequest| -> Result<ChunkResponse, SyncError> {
                let bytes = runtime
                    .block_on(network.request(descriptor.source, Protocol::Snapshot, encode(req)))
                    .map_err(|e| SyncError::Fetch(e.to_string()))?;
                decode::<Result<ChunkResponse, String>>(&bytes)
                    .map_err(|e| SyncError::Fetch(format!("undecodable chunk: {e}")))?
                    .map_err(SyncError::Fetch)
            };
            match install_snapshot(
                &self.shared.store,
                &self.shared.chain_id,
                &descriptor,
                fetch,
            ) {
                Ok(tip) => break tip,
                Err(e @ SyncError::Fetch(_)) if attempt < 5 => {
                    tracing::warn!(error = %e, attempt, "snapshot fetch failed; retrying");
                    std::thread::sleep(Duration::from_millis(500 * attempt));
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.raft_store.apply_snapshot(snapshot.get_metadata())?;
        self.last_block_time = self.last_block_time.max(tip.time_ms);
        *self
            .shared
            .params
            .write()
            .unwrap_or_else(|e| e.into_inner()) = read_params(&self.shared.store)?;
        self.consortium_changed()?;
        self.certify.forget_through(tip.height);
        {
            let mut s = self
                .shared
                .status
                .write()
                .unwrap_or_else(|e| e.into_inner());
            s.height = tip.height;
            s.block_hash = tip.block_hash;
            s.state_root = tip.state_root;
            s.log_size = tip.log.size;
            self.shared.events_tip.advance(tip.log.size);
            if let Some(c) = &descriptor.certificate {
                s.certified_height = s.certified_height.max(c.height);
            }
        }
        tracing::info!(
            height = tip.height,
            secs = started.elapsed().as_secs_f64(),
            "state snapshot installed"
        );
        Ok(())
    }

    fn publish_role(&self) {
        let conf = self.raw.raft.prs().conf().to_conf_state();
        let mut s = self
            .shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner());
        s.role = match self.raw.raft.state {
            StateRole::Leader => "leader",
            StateRole::Follower => "follower",
            StateRole::Candidate => "candidate",
            StateRole::PreCandidate => "pre_candidate",
        };
        s.leader_id = self.raw.raft.leader_id;
        s.term = self.raw.raft.term;
        s.voters = conf.voters;
        s.learners = conf.learners;
        metrics::gauge!("cactus_raft_term").set(s.term as f64);
        metrics::gauge!("cactus_is_leader").set(if s.role == "leader" { 1.0 } else { 0.0 });
    }

    fn apply_committed(&mut self, entries: Vec<Entry>) -> Result<(), LoopError> {
        let store = self.shared.store.clone();
        let mut last = 0;
        for entry in entries {
            last = entry.index;
            if entry.index <= store.applied_index()? {
                continue; // applied before a restart, or covered by an installed snapshot
            }
            match entry.get_entry_type() {
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change(&entry)?;
                }
                EntryType::EntryNormal if entry.data.is_empty() => {
                    // Election no-op.
                    store.set_applied_index(entry.index)?;
                }
                EntryType::EntryNormal => {
                    let proposal: BlockProposal = decode(&entry.data)
                        .map_err(|e| LoopError::Apply(format!("entry {}: {e}", entry.index)))?;
                    self.apply_block(entry.index, proposal)?;
                }
            }
        }
        // Keep `keep_log_entries` applied entries; compact in steps of 256 entries.
        let keep = self.shared.options.keep_log_entries;
        if last > keep && self.raft_store.first_index() + keep + 256 <= last {
            self.raft_store.compact(last - keep)?;
        }
        Ok(())
    }

    fn apply_conf_change(&mut self, entry: &Entry) -> Result<(), LoopError> {
        let cs: ConfState = if entry.get_entry_type() == EntryType::EntryConfChangeV2 {
            let cc = ConfChangeV2::parse_from_bytes(&entry.data)
                .map_err(|e| LoopError::Apply(format!("conf change {}: {e}", entry.index)))?;
            self.raw.apply_conf_change(&cc)?
        } else {
            let cc = ConfChange::parse_from_bytes(&entry.data)
                .map_err(|e| LoopError::Apply(format!("conf change {}: {e}", entry.index)))?;
            self.raw.apply_conf_change(&cc)?
        };
        self.raft_store.apply_conf_state(entry.index, &cs)?;
        let me = self.shared.options.node_id;
        tracing::info!(voters = ?cs.voters, learners = ?cs.learners, outgoing = ?cs.voters_outgoing, "raft configuration changed");
        if !cs.voters.contains(&me)
            && !cs.learners.contains(&me)
            && !cs.voters_outgoing.contains(&me)
        {
            tracing::warn!("this node is no longer in the raft configuration");
        }
        Ok(())
    }

    fn apply_block(&mut self, index: u64, proposal: BlockProposal) -> Result<(), LoopError> {
        let started = Instant::now();
        let store = &self.shared.store;
        let tip: ChainTip = store.tip()?;
        let time_ms = proposal.time_ms.max(tip.time_ms + 1);
        let applied = apply_block(
            store,
            store,
            &tip,
            proposal.proposer,
            time_ms,
            &proposal.txs,
        )
        .map_err(|e| LoopError::Apply(e.to_string()))?;
        let header: BlockHeader = applied.header.clone();
        let block = Block {
            header: header.clone(),
            txs: proposal.txs,
        };
        store.commit_block(index, &block, &applied)?;
        // Stored: the block's txs are no longer in flight (queries find them committed).
        lock(&self.shared.mempool).settle(applied.results.iter().map(|r| r.tx_id));
        self.last_block_time = self.last_block_time.max(time_ms);
        let block_hash = header.hash();
        if let Some(StateValue::Params(p)) = applied
            .state_writes
            .0
            .get(&StateKey::Params)
            .cloned()
            .flatten()
        {
            *self
                .shared
                .params
                .write()
                .unwrap_or_else(|e| e.into_inner()) = p;
        }
        if applied.state_writes.0.contains_key(&StateKey::Consortium) {
            self.consortium_changed()?;
        }
        // Sign the block and share the vote; a quorum of voters' votes certifies it (a
        // lone voter's at once, so its status never shows an uncertified height).
        self.vote(header.height, block_hash)?;
        {
            let mut s = self
                .shared
                .status
                .write()
                .unwrap_or_else(|e| e.into_inner());
            s.height = header.height;
            s.block_hash = block_hash;
            s.state_root = header.state_root;
            s.log_size = header.log_size;
        }
        self.shared.events_tip.advance(header.log_size);
        let first_log_index = header.log_size - applied.results.len() as u64;
        {
            let mut waiters = lock(&self.shared.waiters);
            for (i, result) in applied.results.into_iter().enumerate() {
                let reason = result
                    .outcome
                    .rejection()
                    .map(|r| r.reason.code())
                    .unwrap_or("applied");
                metrics::counter!("cactus_tx_results_total", "result" => reason).increment(1);
                if let Some(senders) = waiters.remove(&result.tx_id) {
                    let done = Committed {
                        location: TxLocation {
                            height: header.height,
                            index: i as u32,
                            log_index: first_log_index + i as u64,
                        },
                        result,
                    };
                    for s in senders {
                        let _ = s.send(done.clone());
                    }
                }
            }
        }
        metrics::histogram!("cactus_block_apply_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("cactus_height").set(header.height as f64);
        Ok(())
    }

    /// Reloads the consortium from state and tells the transport who may connect.
    fn consortium_changed(&mut self) -> Result<(), LoopError> {
        let consortium = read_consortium(&self.shared.store)?;
        if let Some(network) = &self.shared.network {
            network.set_peers(peers_of(&consortium));
        }
        tracing::info!(nodes = ?consortium.nodes.iter().map(|n| (n.node_id, n.voter)).collect::<Vec<_>>(), "consortium membership");
        *self
            .shared
            .consortium
            .write()
            .unwrap_or_else(|e| e.into_inner()) = consortium;
        Ok(())
    }

    /// Signs the block just applied, broadcasts the vote and counts it.
    fn vote(&mut self, height: u64, block_hash: Hash32) -> Result<(), LoopError> {
        let effects = {
            let consortium = self
                .shared
                .consortium
                .read()
                .unwrap_or_else(|e| e.into_inner());
            self.certify.applied(height, block_hash, &consortium)
        };
        self.carry_out(effects)
    }

    /// A peer's vote: checked against this node's hash at that height and the signer's key.
    fn on_vote(&mut self, vote: CheckpointVote) -> Result<(), LoopError> {
        let tip_height = self
            .shared
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .height;
        let effects = {
            let consortium = self
                .shared
                .consortium
                .read()
                .unwrap_or_else(|e| e.into_inner());
            let store = &self.shared.store;
            self.certify
                .on_vote(vote, tip_height, &consortium, |height| {
                    Ok::<_, StorageError>(store.block(height)?.map(|b| b.header.hash()))
                })?
        };
        self.carry_out(effects)
    }

    /// Does what the vote keeper asks, in order.
    fn carry_out(&mut self, effects: Vec<certify::Effect>) -> Result<(), LoopError> {
        for effect in effects {
            match effect {
                certify::Effect::Broadcast(vote) => {
                    if let Some(network) = &self.shared.network {
                        network.broadcast_checkpoint(encode(&vote));
                    }
                }
                certify::Effect::Certified(cert) => self.certified(&cert)?,
                certify::Effect::Diverged(d) => self.diverged(d),
                certify::Effect::Dropped {
                    height,
                    signer,
                    reason: DropReason::BadSignature,
                } => tracing::warn!(
                    signer,
                    height,
                    "checkpoint vote with a bad signature dropped"
                ),
                certify::Effect::Dropped {
                    height,
                    signer,
                    reason,
                } => tracing::debug!(signer, height, ?reason, "checkpoint vote dropped"),
                certify::Effect::Unverified { height, error } => {
                    tracing::error!(height, error = %error, "assembled certificate does not verify")
                }
            }
        }
        Ok(())
    }

    fn diverged(&mut self, d: Divergence) {
        tracing::error!(height = d.height, node = d.node_id, ours = %d.ours, theirs = %d.theirs, "DIVERGENCE: another node signed a different block at this height");
        metrics::counter!("cactus_divergence_total").increment(1);
        metrics::gauge!("cactus_divergence_detected").set(1.0);
        let mut s = self
            .shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if s.divergence.is_none() {
            s.divergence = Some(d);
        }
    }

    /// Stores a certificate the vote keeper assembled and raises the certified height.
    fn certified(&mut self, cert: &Certificate) -> Result<(), LoopError> {
        self.shared.store.put_certificate(cert)?;
        let mut s = self
            .shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner());
        s.certified_height = s.certified_height.max(cert.height);
        metrics::gauge!("cactus_certified_height").set(s.certified_height as f64);
        Ok(())
    }
}

/// Why handling a command ended the loop.
enum Handled {
    Shutdown,
    Failed(LoopError),
}

/// Says who leads, once per change of (term, leader): `node 2 is the leader (term 5)`, or
/// that an election is under way after a leader was lost.
fn log_leader(me: u64, (term, leader): (u64, u64), had_leader: bool) {
    match leader {
        0 if had_leader => tracing::warn!(term, "no leader: an election is under way"),
        0 => {}
        l if l == me => tracing::info!(term, "this node (node {me}) is the leader"),
        l => tracing::info!(term, leader = l, "node {l} is the leader"),
    }
}
