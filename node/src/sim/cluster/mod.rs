//! The deterministic cluster: replica cores ([`crate::replica::Core`]) over real RocksDB
//! stores in a temporary directory, joined by the simulated network ([`super::net`]), run
//! in virtual time by one thread.
//!
//! This module is the simulator's driver: what cactusd's consensus thread does with
//! threads, sockets and the wall clock, it does in steps of [`STEP_MS`] virtual
//! milliseconds. Each step: the faults due, the messages that arrived (Raft, checkpoint
//! votes, forwarded txs and their answers, snapshot chunks), the ticks due (each node
//! ticks at its own phase), the client load, then a turn of every running node, whose
//! outputs are carried out in order and shown to the [`Checker`]. Committed entries the
//! core hands out are applied a seeded number of steps later (cactusd applies them on a
//! thread of its own), so heartbeats, votes and appends interleave with pending applies
//! as they do there. Node faults besides
//! the network's: a crash (the core and its store are dropped, as a killed process), a
//! crash at the n-th write to come (between applying a block and persisting Raft's state
//! among others), a full disk (the node must stop cleanly and resume once space is
//! freed), and clock skew. The same seed gives the same run: every choice is drawn from
//! seeded generators, raft-rs's election timeouts are fixed per node, and snapshot exports
//! are built inline.

mod faults;
mod step;

use super::check::Checker;
use super::net::{Fault, NetConfig, NodeId, SimNet, SimRng, WireSize};
use super::workload::{Workload, genesis, node_key_seed};
use crate::applier::{Applier, ApplyJob};
use crate::forward::sort_verdicts;
use crate::mempool::{Mempool, check_admission};
use crate::node::{ForwardJudge, ForwardVerdict, NodeOptions, committed_in, read_params};
use crate::replica::{Core, CoreError, CoreSetup, Input, Output};
use crate::state_sync::{
    ChunkRequest, ChunkResponse, SnapshotDescriptor, SnapshotExporter, SyncError, install_snapshot,
};
use crate::storage::{DiskFaults, StorageError, Store};
use couponcactus_chaincode::ids::{ChainId, Hash32, TxId};
use couponcactus_chaincode::testkit::{self, GENESIS_MS};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::ChainParams;
use raft::eraftpb::Message;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Virtual milliseconds per simulator step.
pub const STEP_MS: u64 = 5;

/// Most virtual time one wait may take before the run counts as stalled.
pub const MAX_WAIT_MS: u64 = 120_000;

/// Bytes per snapshot chunk asked for (small, so a snapshot takes many messages and can
/// be interrupted between them).
const SIM_CHUNK_BYTES: u32 = 2_048;

/// After this long without an answer, a snapshot chunk is asked for again (the fetch
/// resumes from the last chunk received).
const CHUNK_TIMEOUT_MS: u64 = 400;

/// Chunk requests that may time out in a row before the fetch is given up (the core
/// then reopens Raft from storage and the leader sends a new snapshot).
const MAX_CHUNK_TIMEOUTS: u32 = 20;

/// A client resubmits a tx it has no answer for after this long (idempotent).
const RESUBMIT_MS: u64 = 3_000;

/// What travels between simulated nodes.
#[derive(Clone, Debug)]
pub enum Wire {
    /// A Raft message.
    Raft(Message),
    /// A checkpoint vote.
    Vote(crate::certify::CheckpointVote),
    /// Txs a follower forwards to the leader.
    Forward(Vec<SignedTx>),
    /// The leader's answer to a forward.
    ForwardReply {
        /// The txs forwarded.
        txs: Vec<SignedTx>,
        /// Its verdicts.
        verdicts: Result<Vec<ForwardVerdict>, String>,
    },
    /// A snapshot chunk request.
    ChunkReq(ChunkRequest),
    /// Its answer.
    ChunkResp {
        /// The request answered.
        req: ChunkRequest,
        /// The chunk, or why not.
        resp: Result<ChunkResponse, String>,
    },
}

/// Bytes of framing around every simulated message (TCP/IP and the p2p stream's headers),
/// added to its encoded size on a shaped link.
const FRAME_BYTES: u64 = 64;

impl WireSize for Wire {
    /// The encoded size of what cactusd would send, plus [`FRAME_BYTES`] (a forward's
    /// answer carries verdicts, not the txs the simulator keeps with it).
    fn wire_bytes(&self) -> u64 {
        use couponcactus_chaincode::encoding::encode;
        use protobuf::Message as _;
        let either = |r: Result<usize, &String>| r.unwrap_or_else(|e| e.len());
        let bytes = match self {
            Wire::Raft(m) => m.compute_size() as usize,
            Wire::Vote(vote) => encode(vote).len(),
            Wire::Forward(txs) => encode(txs).len(),
            Wire::ForwardReply { verdicts, .. } => {
                either(verdicts.as_ref().map(|v| encode(v).len()))
            }
            Wire::ChunkReq(req) => encode(req).len(),
            Wire::ChunkResp { resp, .. } => either(resp.as_ref().map(|c| encode(c).len())),
        };
        bytes as u64 + FRAME_BYTES
    }
}

/// How a simulated cluster runs.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Nodes of the genesis (1 to 3), all voters.
    pub nodes: u64,
    /// Nodes beyond the genesis, not started until [`Cluster::start_spare`] (they join
    /// through governance).
    pub spares: u64,
    /// Codes in the workload (each redeemed twice, competing).
    pub codes: u64,
    /// The network's baseline.
    pub net: NetConfig,
    /// Largest clock skew drawn per node, in ms (either way).
    pub max_skew_ms: u64,
    /// Raft entries kept before compaction (small, so lagging nodes need snapshots).
    pub keep_log_entries: u64,
    /// Raft tick in virtual ms (a multiple of [`STEP_MS`]).
    pub tick_ms: u64,
    /// Election timeout in ticks; each node's is fixed by the seed in `[E, 2E)`.
    pub election_ticks: usize,
    /// Most txs per block.
    pub block_max_txs: usize,
    /// Whether the progress watchdog runs (off only to show what it does).
    pub watchdog: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            nodes: 3,
            spares: 0,
            codes: 500,
            net: NetConfig::default(),
            max_skew_ms: 0,
            keep_log_entries: 40,
            tick_ms: 100,
            election_ticks: 10,
            block_max_txs: NodeOptions::default().block_max_txs,
            watchdog: true,
        }
    }
}

/// A snapshot fetch under way (the simulator's counterpart of cactusd's fetch thread).
struct Fetch {
    descriptor: SnapshotDescriptor,
    /// Chunks received, by the key they follow.
    cache: BTreeMap<Option<Vec<u8>>, ChunkResponse>,
    /// The chunk asked for now.
    after: Option<Vec<u8>>,
    asked_at: u64,
    /// Chunk requests that timed out in a row.
    timeouts: u32,
}

/// A node that runs: what a cactusd process holds in memory.
struct Running {
    core: Core,
    /// Applies what the core hands out, inline at a seeded later step.
    applier: Applier,
    /// Jobs handed out and not yet applied, in order (cactusd's applier mailbox).
    apply_jobs: VecDeque<ApplyJob>,
    store: Store,
    mempool: Arc<Mutex<Mempool>>,
    exporter: Arc<SnapshotExporter>,
    params: ChainParams,
    fetch: Option<Fetch>,
    /// Txs submitted here whose submitter waits for the commit.
    waiting: BTreeMap<TxId, ()>,
}

/// One simulated node: its directory and faults survive crashes; `running` does not.
struct SimNode {
    id: NodeId,
    dir: PathBuf,
    disk: Arc<DiskFaults>,
    skew_ms: i64,
    tick_phase: u64,
    election: (usize, usize),
    running: Option<Running>,
    /// A member from genesis, or a spare started to join: waits and finishing include it.
    joined: bool,
    /// Stopped by a full disk (restarted once space is freed).
    stopped_full: bool,
    /// Its applier takes no job before this virtual time (a huge block, a slow disk).
    apply_stalled_until: u64,
}

/// Counts of what the simulator did, for reports.
#[derive(Clone, Debug, Default)]
pub struct SimCounters {
    /// Node crashes (by fault or by an armed crash point).
    pub crashes: u64,
    /// Crashes that struck at an armed write.
    pub crashes_at_write: u64,
    /// Restarts.
    pub restarts: u64,
    /// Clean stops on a full disk.
    pub disk_full_stops: u64,
    /// Snapshots installed.
    pub snapshots: u64,
    /// Snapshot fetches resumed after a chunk timed out.
    pub snapshot_resumes: u64,
    /// Txs submitted (resubmissions included).
    pub submissions: u64,
    /// Virtual time run, in ms.
    pub virtual_ms: u64,
    /// Times a node became leader (setup's first election included).
    pub leaderships: u64,
}

/// When the cluster's top height grew, from a mark ([`Cluster::mark_commits`]): for
/// liveness figures.
#[derive(Clone, Debug, Default)]
pub struct CommitClock {
    /// The highest height applied by any node.
    top: u64,
    /// When it was first applied (or the mark, if later).
    last_ms: u64,
    /// The mark.
    since_ms: u64,
    /// Blocks and txs first applied since the mark.
    blocks: u64,
    txs: u64,
    /// The longest time between the mark or a new top height and the next.
    worst_gap_ms: u64,
}

/// What [`CommitClock`] measured, up to a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitFigures {
    /// Virtual time measured (ms).
    pub elapsed_ms: u64,
    /// Blocks first applied.
    pub blocks: u64,
    /// Txs in them.
    pub txs: u64,
    /// Longest gap between consecutive new heights, the open one included (ms).
    pub worst_gap_ms: u64,
}

impl CommitClock {
    fn mark(&mut self, now: u64) {
        *self = CommitClock {
            top: self.top,
            last_ms: now,
            since_ms: now,
            ..CommitClock::default()
        };
    }

    fn applied(&mut self, height: u64, txs: usize, now: u64) {
        if height <= self.top {
            return;
        }
        self.top = height;
        self.blocks += 1;
        self.txs += txs as u64;
        self.worst_gap_ms = self.worst_gap_ms.max(now - self.last_ms);
        self.last_ms = now;
    }

    fn figures(&self, now: u64) -> CommitFigures {
        CommitFigures {
            elapsed_ms: now - self.since_ms,
            blocks: self.blocks,
            txs: self.txs,
            worst_gap_ms: self.worst_gap_ms.max(now - self.last_ms),
        }
    }
}

impl std::fmt::Display for CommitFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tenths, in integers (the crate keeps floats out).
        let ms = self.elapsed_ms.max(1);
        let per_s = |n: u64| {
            let tenths = n * 10_000 / ms;
            format!("{}.{}", tenths / 10, tenths % 10)
        };
        write!(
            f,
            "{}.{} s: {} blocks ({}/s), {} txs ({}/s), worst gap between commits {} ms",
            ms / 1_000,
            ms % 1_000 / 100,
            self.blocks,
            per_s(self.blocks),
            self.txs,
            per_s(self.txs),
            self.worst_gap_ms
        )
    }
}

/// A condition to wait for.
pub enum Until {
    /// Every running node applied at least this height.
    Height(u64),
    /// Every node runs, agrees on the tip, and every submitted tx is acknowledged.
    Settled,
    /// Some node leads.
    Leader,
    /// Every submitted tx is acknowledged.
    Answered,
}

/// Every running node at `h` or above.
pub fn height(h: u64) -> Until {
    Until::Height(h)
}

/// Everything submitted acknowledged, every node up and at the same tip.
pub fn settled() -> Until {
    Until::Settled
}

/// A simulated cluster.
pub struct Cluster {
    seed: u64,
    _dir: tempfile::TempDir,
    options: SimOptions,
    chain_id: ChainId,
    nodes: BTreeMap<NodeId, SimNode>,
    net: SimNet<Wire>,
    rng: SimRng,
    now: u64,
    /// The checkers.
    pub check: Checker,
    /// What the simulator did.
    pub counters: SimCounters,
    workload: Workload,
    /// Redemptions submitted so far (a prefix of the workload's).
    next_redemption: usize,
    /// Submit one redemption every this many ms (0: no load).
    load_every_ms: u64,
    /// Txs submitted and not acknowledged: when last submitted.
    unanswered: BTreeMap<TxId, (u64, SignedTx)>,
    /// Faults scheduled at virtual times.
    schedule: Vec<(u64, Fault)>,
    /// When the top height grew.
    commits: CommitClock,
}

/// A run that broke an invariant or stalled.
#[derive(Debug)]
pub struct SimFailure {
    /// The seed that replays it.
    pub seed: u64,
    /// What went wrong.
    pub report: String,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "simulation seed {} failed (replay a swarm seed with CACTUS_SIM_SEED={} scripts/sim.sh; a scenario's seed is its test):\n{}",
            self.seed, self.seed, self.report
        )
    }
}

impl Cluster {
    /// A cluster of `options.nodes` nodes from `seed`, started, with the workload's setup
    /// committed (keys, the pool and its codes).
    pub fn new(seed: u64, options: SimOptions) -> Result<Cluster, SimFailure> {
        let dir = tempfile::tempdir().expect("temporary directory");
        assert!(
            options.tick_ms >= STEP_MS && options.tick_ms.is_multiple_of(STEP_MS),
            "the tick must be a multiple of the step"
        );
        let mut rng = SimRng::new(seed ^ 0x5eed_c0de);
        let g = genesis(options.nodes);
        let election = options.election_ticks;
        let mut nodes = BTreeMap::new();
        for id in 1..=options.nodes + options.spares {
            let first = election + rng.below(election as u64) as usize;
            let skew = if options.max_skew_ms == 0 {
                0
            } else {
                rng.below(2 * options.max_skew_ms + 1) as i64 - options.max_skew_ms as i64
            };
            nodes.insert(
                id,
                SimNode {
                    id,
                    dir: dir.path().join(format!("node{id}")),
                    disk: Arc::new(DiskFaults::new(true)),
                    skew_ms: skew,
                    tick_phase: rng.below(options.tick_ms / STEP_MS) * STEP_MS,
                    election: (first, first + 1),
                    running: None,
                    stopped_full: false,
                    apply_stalled_until: 0,
                    joined: id <= options.nodes,
                },
            );
        }
        let net = SimNet::new(seed, options.net).expect("valid network config");
        let mut cluster = Cluster {
            seed,
            chain_id: g.chain_id.clone(),
            _dir: dir,
            check: Checker::new(options.nodes as usize),
            workload: Workload::new(options.codes),
            options,
            nodes,
            net,
            rng,
            now: 0,
            counters: SimCounters::default(),
            next_redemption: 0,
            load_every_ms: 0,
            unanswered: BTreeMap::new(),
            schedule: Vec::new(),
            commits: CommitClock::default(),
        };
        for id in 1..=cluster.options.nodes {
            cluster.start_node(id)?;
        }
        cluster.wait_until(Until::Leader)?;
        let setup = cluster.workload.setup.clone();
        for tx in setup {
            cluster.submit_to_any(tx);
            cluster.wait_until(Until::Settled)?;
        }
        Ok(cluster)
    }

    /// Starts spare node `id` (empty store, same genesis): it follows once the consortium
    /// admits it.
    pub fn start_spare(&mut self, id: NodeId) -> Result<&mut Self, SimFailure> {
        self.nodes.get_mut(&id).expect("a spare node").joined = true;
        self.start_node(id)?;
        Ok(self)
    }

    /// Submits the governance txs that admit node `id` as a voter, each committed before
    /// the next.
    pub fn admit(&mut self, id: NodeId) -> Result<&mut Self, SimFailure> {
        for tx in self.workload.add_node(id) {
            self.submit_to_any(tx);
            self.wait_until(Until::Answered)?;
        }
        Ok(self)
    }

    /// Raft's configuration on node `id`: (voters, learners, outgoing voters).
    pub fn configuration(&self, id: NodeId) -> Option<(Vec<u64>, Vec<u64>, Vec<u64>)> {
        self.nodes[&id]
            .running
            .as_ref()
            .map(|r| r.core.configuration())
    }

    fn fail(&self, report: String) -> SimFailure {
        SimFailure {
            seed: self.seed,
            report,
        }
    }

    /// Fails when any invariant broke so far.
    pub fn verdict(&self) -> Result<(), SimFailure> {
        match self.check.report() {
            Some(report) => Err(self.fail(report)),
            None => Ok(()),
        }
    }

    fn start_node(&mut self, id: NodeId) -> Result<(), SimFailure> {
        let genesis = genesis(self.options.nodes);
        let keep_log_entries = self.options.keep_log_entries;
        let sim = self.options.clone();
        let node = self.nodes.get_mut(&id).expect("known node");
        let open = || -> Result<Running, String> {
            let store = Store::open_with_faults(&node.dir.join("db"), node.disk.clone())
                .map_err(|e| e.to_string())?;
            store
                .init_genesis(&genesis, Hash32([7; 32]))
                .map_err(|e| e.to_string())?;
            let exporter = Arc::new(
                SnapshotExporter::new(store.clone(), node.dir.join("snapshots"), id)
                    .map_err(|e| e.to_string())?
                    .building_inline(),
            );
            let mempool = Arc::new(Mutex::new(Mempool::new(Default::default())));
            let options = NodeOptions {
                node_id: id,
                block_interval: Duration::from_millis(50),
                block_max_txs: sim.block_max_txs,
                tick: Duration::from_millis(sim.tick_ms),
                election_ticks: sim.election_ticks,
                progress_watchdog: sim.watchdog,
                keep_log_entries,
                forward_retry: Duration::from_millis(1_000),
                // Odd nodes keep almost none of their state tree in memory, so every
                // scenario commits through evictions and reads back, and the checks
                // compare them with even nodes that keep it all.
                tree_resident_nodes: if id % 2 == 1 {
                    64
                } else {
                    NodeOptions::default().tree_resident_nodes
                },
                ..NodeOptions::default()
            };
            let applier =
                Applier::open(store.clone(), mempool.clone(), options.tree_resident_nodes)
                    .map_err(|e| e.to_string())?;
            let core = Core::open(CoreSetup {
                store: store.clone(),
                chain_id: genesis.chain_id.clone(),
                genesis_voters: genesis.nodes.iter().map(|n| n.node_id).collect(),
                node_key: testkit::key(node_key_seed(id)),
                options,
                mempool: mempool.clone(),
                exporter: Some(exporter.clone()),
                election_range: Some(node.election),
            })
            .map_err(|e| e.to_string())?;
            let params = read_params(&store).map_err(|e| e.to_string())?;
            Ok(Running {
                core,
                applier,
                apply_jobs: VecDeque::new(),
                store,
                mempool,
                exporter,
                params,
                fetch: None,
                waiting: BTreeMap::new(),
            })
        };
        match open() {
            Ok(running) => {
                node.running = Some(running);
                node.stopped_full = false;
                Ok(())
            }
            Err(e) => Err(self.fail(format!("node {id} does not start: {e}"))),
        }
    }
}
