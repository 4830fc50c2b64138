//! The node runtime: the Raft Ready loop that orders blocks, applies them and answers
//! submitters, and the [`NodeHandle`] the HTTP API talks to.
//!
//! One consensus thread owns the `RawNode`. Each turn it ticks Raft, cuts a block from the
//! mempool when it leads (by size or time), and runs the Ready loop in raft-rs's documented
//! order: send messages, persist entries and hard state with one fsync, apply committed
//! entries, advance. Applying a block runs the chaincode's pure `apply_block` and persists
//! its effects with the Raft index in one fsynced batch; only then are the txs' submitters
//! told. A crash at any instant loses nothing acknowledged: on restart Raft replays the
//! committed entries after the stored applied index.

use crate::mempool::{AdmissionError, Mempool, MempoolLimits, check_admission};
use crate::raft_log::RaftStore;
use crate::storage::{StorageError, Store, TxLocation};
use bincode::{Decode, Encode};
use couponcactus_chaincode::block::{BlockHeader, Certificate, sign_checkpoint};
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::ids::{ChainId, Hash32, TxId};
use couponcactus_chaincode::initial::InitialState;
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{BlockContext, ChainParams};
use ed25519_dalek::SigningKey;
use raft::StateRole;
use raft::eraftpb::{Entry, EntryType};
use raft::prelude::{Config, RawNode};
use std::collections::HashMap;
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
    /// Longest a tx waits in the mempool before a block is cut.
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
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            node_id: 1,
            block_max_txs: 5_000,
            block_max_bytes: 16 * 1024 * 1024,
            block_interval: Duration::from_millis(5),
            tick: Duration::from_millis(100),
            election_ticks: 10,
            mempool: MempoolLimits::default(),
            keep_log_entries: 1_000,
            commit_timeout: Duration::from_secs(30),
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

enum Command {
    Wake,
    Shutdown,
}

struct Shared {
    store: Store,
    chain_id: ChainId,
    options: NodeOptions,
    mempool: Mutex<Mempool>,
    waiters: Mutex<HashMap<TxId, Vec<oneshot::Sender<Committed>>>>,
    status: RwLock<NodeStatus>,
    params: RwLock<ChainParams>,
    commands: Mutex<Sender<Command>>,
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

impl NodeHandle {
    /// The store (read side for queries).
    pub fn store(&self) -> &Store {
        &self.shared.store
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
        s
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
        check_admission(
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
            pool.push(id, tx)
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
}

/// Opens the store, initialises or checks genesis, and starts the consensus thread.
/// Returns the handle and the thread, which ends after [`NodeHandle::shutdown`].
pub fn start(
    store: Store,
    genesis: &InitialState,
    genesis_hash: Hash32,
    node_key: SigningKey,
    options: NodeOptions,
) -> Result<(NodeHandle, std::thread::JoinHandle<Result<(), String>>), StartError> {
    let tip = store.init_genesis(genesis, genesis_hash)?;
    let voters: Vec<u64> = genesis
        .nodes
        .iter()
        .filter(|n| n.voter)
        .map(|n| n.node_id)
        .collect();
    let raft_store = RaftStore::open(store.clone(), &voters)?;
    let applied = store.applied_index()?;
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
    if voters == [options.node_id] {
        // Alone in the group: no one to wait for.
        raw.campaign()?;
    }
    let (commands, inbox) = mpsc::channel();
    let params = read_params(&store)?;
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
        }),
        params: RwLock::new(params),
        options,
        commands: Mutex::new(commands),
    });
    let handle = NodeHandle {
        shared: shared.clone(),
    };
    let mut replica = Replica {
        raw,
        raft_store,
        shared,
        node_key,
        last_proposal: Instant::now(),
        last_block_time: tip.time_ms,
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

/// Why the consensus loop stopped.
#[derive(Debug, thiserror::Error)]
enum LoopError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("applying block: {0}")]
    Apply(String),
}

struct Replica {
    raw: RawNode<RaftStore>,
    raft_store: RaftStore,
    shared: Arc<Shared>,
    node_key: SigningKey,
    last_proposal: Instant,
    /// Time of the last block proposed or applied, so proposals carry increasing times.
    last_block_time: u64,
}

impl Replica {
    fn run(&mut self, inbox: Receiver<Command>) -> Result<(), LoopError> {
        let mut last_tick = Instant::now();
        let result = loop {
            let tick = self.shared.options.tick;
            let wait = tick
                .saturating_sub(last_tick.elapsed())
                .min(self.shared.options.block_interval);
            match inbox.recv_timeout(wait) {
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break Ok(()),
                Ok(Command::Wake) | Err(RecvTimeoutError::Timeout) => {}
            }
            if last_tick.elapsed() >= tick {
                self.raw.tick();
                last_tick = Instant::now();
            }
            if let Err(e) = self.propose_block().and_then(|()| self.on_ready()) {
                tracing::error!(error = %e, "consensus loop stopped");
                break Err(e);
            }
        };
        // Whoever still waits learns that no answer will come from this node.
        lock(&self.shared.waiters).clear();
        result
    }

    /// As leader, cuts a block from the mempool when it is full enough or old enough.
    fn propose_block(&mut self) -> Result<(), LoopError> {
        if self.raw.raft.state != StateRole::Leader {
            // Proposals of an earlier term may never commit: let resubmissions requeue.
            lock(&self.shared.mempool).forget_in_flight();
            return Ok(());
        }
        let opts = &self.shared.options;
        let txs = {
            let mut pool = lock(&self.shared.mempool);
            if pool.is_empty()
                || (pool.len() < opts.block_max_txs
                    && self.last_proposal.elapsed() < opts.block_interval)
            {
                return Ok(());
            }
            let txs = pool.take(opts.block_max_txs, opts.block_max_bytes);
            metrics::gauge!("cactus_mempool_txs").set(pool.len() as f64);
            txs
        };
        let time_ms = now_ms().max(self.last_block_time + 1);
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
        metrics::histogram!("cactus_block_txs").record(count as f64);
        Ok(())
    }

    /// The Ready loop, in raft-rs's order.
    fn on_ready(&mut self) -> Result<(), LoopError> {
        if !self.raw.has_ready() {
            self.publish_role();
            return Ok(());
        }
        let mut ready = self.raw.ready();
        // 1. Messages a leader may send before persisting (none while alone; the
        //    consortium transport sends them).
        let _early = ready.take_messages();
        // 2. Snapshots arrive with state sync (consortium); a lone voter never gets one.
        // 3. Entries committed earlier: apply them.
        self.apply_committed(ready.take_committed_entries())?;
        // 4+5. Persist new entries and the hard state, with one fsync, before anything
        //      that depends on them is acknowledged or sent.
        self.raft_store.persist(ready.entries(), ready.hs())?;
        // 6. Messages that must follow persistence (votes, appends responses).
        let _persisted = ready.take_persisted_messages();
        // 7. Advance; the light ready carries what became committed by that persistence.
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            // Synced with the next block's write (same WAL); a lower commit on disk is safe.
            self.raft_store.set_commit(commit)?;
        }
        let _ = light.take_messages();
        self.apply_committed(light.take_committed_entries())?;
        self.raw.advance_apply();
        self.publish_role();
        Ok(())
    }

    fn publish_role(&self) {
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
    }

    fn apply_committed(&mut self, entries: Vec<Entry>) -> Result<(), LoopError> {
        let store = self.shared.store.clone();
        let mut last = 0;
        for entry in entries {
            last = entry.index;
            if entry.index <= store.applied_index()? {
                continue; // applied before a restart
            }
            if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
                // Election no-ops; membership changes arrive with the consortium.
                store.set_applied_index(entry.index)?;
                continue;
            }
            let proposal: BlockProposal = decode(&entry.data)
                .map_err(|e| LoopError::Apply(format!("entry {}: {e}", entry.index)))?;
            self.apply_block(entry.index, proposal)?;
        }
        // Keep `keep_log_entries` applied entries; compact in steps of 256 entries.
        let keep = self.shared.options.keep_log_entries;
        if last > keep && self.raft_store.first_index() + keep + 256 <= last {
            self.raft_store.compact(last - keep)?;
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
        // A lone voter certifies its own blocks; the consortium gathers quorum signatures.
        let block_hash = header.hash();
        self.certify(&header, block_hash)?;
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
        let first_log_index = header.log_size - applied.results.len() as u64;
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
        metrics::histogram!("cactus_block_apply_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("cactus_height").set(header.height as f64);
        Ok(())
    }

    fn certify(&self, header: &BlockHeader, block_hash: Hash32) -> Result<(), LoopError> {
        let voters: Vec<u64> = self.raw.raft.prs().conf().voters().ids().iter().collect();
        if voters != [self.shared.options.node_id] {
            return Ok(());
        }
        let signature = sign_checkpoint(
            &self.node_key,
            self.shared.options.node_id,
            &header.chain_id,
            header.height,
            &block_hash,
        );
        let cert = Certificate {
            chain_id: header.chain_id.clone(),
            height: header.height,
            block_hash,
            signatures: vec![signature],
        };
        self.shared.store.put_certificate(&cert)?;
        self.shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .certified_height = header.height;
        Ok(())
    }
}
