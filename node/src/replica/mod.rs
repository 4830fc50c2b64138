//! The replica core: one node's consensus as a state machine over its storage, with no
//! network, thread or clock of its own.
//!
//! raft-rs style, [`Core`] takes inputs ([`Input`]: Raft messages, ticks, checkpoint
//! votes, requeued txs, delivery reports, a fetched snapshot) and a turn at an explicit
//! time ([`Core::turn`]), and returns what the world must do, in order ([`Output`]: send
//! these messages, broadcast this vote, forward these txs, fetch this snapshot, answer the
//! submitters of this applied block, publish this role). Its parts each have one job and
//! are pure on their own: [`crate::proposer`] decides when to cut a block and its time,
//! [`crate::membership`] the leader's next configuration step, [`crate::certify`] the
//! votes and certificates, [`crate::forward`] the leader's verdicts on forwarded txs. The
//! core wires them to raft-rs's `RawNode` and runs the Ready loop.
//!
//! Storage is the one seam the core crosses itself, as raft-rs's `Storage` is: the Raft
//! log ([`RaftStore`]) and the chain state ([`Store`]) on RocksDB. The Ready loop writes
//! in raft-rs's documented order (a snapshot's metadata, applied blocks, new entries and
//! hard state with one fsync, then the commit index), and every output of a turn is
//! carried out by the driver *after* the turn, so no message leaves and no submitter hears
//! of a commit before the writes it depends on are done. The drivers: cactusd's consensus
//! thread ([`crate::node`]), which adds threads, the libp2p transport and the wall clock;
//! and the deterministic simulator ([`crate::sim`]), which adds virtual time, a simulated
//! network and injected disk faults, over the same real storage on temporary directories.
//!
//! Apply is asynchronous, as raft-rs allows: committed entries are handed out in log order
//! ([`Output::Apply`], at most [`MAX_APPLY_IN_FLIGHT`] at a time) to an
//! [`Applier`](crate::applier::Applier) that owns the state tree, and its reports
//! ([`Input::Applied`]) make the core vote, answer submitters and advance Raft's applied
//! index; meanwhile the core keeps persisting, acknowledging and heartbeating. A
//! configuration change and a snapshot install wait until every job before them is
//! reported, so the stored applied index never passes a block that is not stored.
//!
//! A snapshot from the leader does not block the core: its Ready is parked, the driver
//! fetches and installs the state elsewhere ([`Output::FetchSnapshot`], answered by
//! [`Input::SnapshotFetched`]), and meanwhile the core keeps stepping messages, ticking and
//! counting votes; the rest of that Ready runs when the state is in.

mod apply;
mod progress;
mod ready;
#[cfg(test)]
mod tests;
pub mod watchdog;

use crate::applier::{ApplyDone, ApplyError, ApplyJob};
use crate::certify::{self, CheckpointVote, DropReason, VoteKeeper};
use crate::membership::{self, MembershipStep, MembershipView};
use crate::mempool::Mempool;
use crate::node::{Committed, NodeOptions, read_consortium};
use crate::proposer;
use crate::raft_log::RaftStore;
use crate::state_sync::{SnapshotDescriptor, SnapshotExporter, SyncError};
use crate::storage::{StorageError, Store};
use couponcactus_chaincode::block::{BlockHeader, Certificate};
use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::ids::{ChainId, Hash32, TxId};
use couponcactus_chaincode::ledger::ChainTip;
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{ChainParams, Consortium};
use ed25519_dalek::SigningKey;
use raft::eraftpb::{ConfChangeType, Entry, Message};
use raft::prelude::{Config, RawNode};
use raft::{SnapshotStatus, StateRole};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::applier::MAX_APPLY_IN_FLIGHT;
pub use crate::certify::Divergence;

/// Most Raft messages one [`Input::Raft`] may carry: a bound on one step's work.
pub const MAX_MESSAGES_PER_INPUT: usize = 4_096;

/// Most Raft messages held while a snapshot is fetched.
pub const MAX_HELD_MESSAGES: usize = 4_096;
/// How often a node sends its uncertified checkpoint votes again (ms).
pub const VOTE_RESEND_MS: u64 = 1_000;
/// Most votes sent again at a time.
pub const MAX_RESENT_VOTES: usize = 8;

/// Why the core stopped. Every one is fatal for this run of the node: the driver stops,
/// and a restart resumes from what is stored.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Storage failed (a full disk among others): nothing half-written is kept.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// raft-rs refused its state or an operation.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// A committed entry could not be applied.
    #[error("applying block: {0}")]
    Apply(String),
    /// The applier reported a job out of order (a driver's bug).
    #[error("apply report for raft index {got}, expected {expected}")]
    ApplyOrder {
        /// The index reported.
        got: u64,
        /// The next index handed out.
        expected: u64,
    },
    /// The snapshot from the leader could not be fetched or installed.
    #[error("installing a snapshot: {0}")]
    Snapshot(#[from] SyncError),
    /// An input the core cannot take in its state.
    #[error("unexpected input: {0}")]
    Unexpected(&'static str),
    /// The progress watchdog refused the Raft timing.
    #[error(transparent)]
    Watchdog(#[from] watchdog::WatchdogError),
}

/// What the driver hands the core between turns.
#[derive(Debug)]
pub enum Input {
    /// One Raft tick of the driver's clock has passed.
    Tick,
    /// Raft messages from peers (each one's sender already checked by the transport), at
    /// most [`MAX_MESSAGES_PER_INPUT`].
    Raft(Vec<Message>),
    /// A peer's checkpoint vote (its signer already matched to the sender).
    Vote(CheckpointVote),
    /// Forwarded txs the leader could not take now: queue them again.
    Requeue(Vec<SignedTx>),
    /// Sending to this peer failed: Raft probes it again later.
    Unreachable(u64),
    /// A Raft snapshot message to `to` was handed to the transport (`ok`) or not.
    SnapshotSent {
        /// The peer.
        to: u64,
        /// Whether it went out.
        ok: bool,
    },
    /// The state of the snapshot asked for by [`Output::FetchSnapshot`] is installed in the
    /// store (its tip), or could not be fetched or verified.
    SnapshotFetched(Result<ChainTip, SyncError>),
    /// The applier finished the oldest job handed out with [`Output::Apply`] (or failed
    /// it, which stops the core).
    Applied(Result<ApplyDone, ApplyError>),
}

/// What the core asks of the world, in the order it must happen.
#[derive(Debug)]
pub enum Output {
    /// Send Raft messages to one peer, in this order.
    Send {
        /// The peer.
        to: u64,
        /// The messages.
        messages: Vec<Message>,
        /// Whether a snapshot message is among them (report [`Input::SnapshotSent`]).
        snapshot: bool,
    },
    /// Broadcast this node's checkpoint vote.
    Broadcast(CheckpointVote),
    /// As a follower, offer the leader these admitted txs (they are in flight here);
    /// report what it could not take with [`Input::Requeue`].
    Forward {
        /// The leader.
        leader: u64,
        /// The txs.
        txs: Vec<SignedTx>,
    },
    /// Apply this committed entry after the ones handed out before it, then report it
    /// with [`Input::Applied`].
    Apply(ApplyJob),
    /// Fetch and install this snapshot's state off the consensus path, then report it
    /// with [`Input::SnapshotFetched`]. The core parks until then.
    FetchSnapshot(Box<SnapshotDescriptor>),
    /// A block was applied and stored: answer its submitters, publish the new tip.
    Applied(Box<AppliedBlock>),
    /// A snapshot's state was installed: the tip jumped to it.
    Installed {
        /// The new tip.
        tip: ChainTip,
        /// The snapshot's certified height, if it carried a certificate.
        certified: Option<u64>,
    },
    /// A certificate was assembled, verified and stored.
    Certified(Certificate),
    /// Another node signed a different block at a height this node applied.
    Diverged(Divergence),
    /// This node's Raft role, leader, term or configuration changed.
    Role(RoleView),
    /// The consortium in state changed (tell the transport who may connect).
    Consortium(Consortium),
    /// The chain parameters in state changed (admission uses them).
    Params(ChainParams),
}

/// One applied block, for the driver's answers and status.
#[derive(Clone, Debug)]
pub struct AppliedBlock {
    /// The Raft entry it came from.
    pub raft_index: u64,
    /// Its header.
    pub header: BlockHeader,
    /// Its hash.
    pub hash: Hash32,
    /// Each tx's place and result, in block order.
    pub txs: Vec<Committed>,
}

/// This node's place in Raft, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleView {
    /// `leader`, `follower`, `candidate` or `pre_candidate`.
    pub role: &'static str,
    /// The leader known (0: none).
    pub leader_id: u64,
    /// The term.
    pub term: u64,
    /// Voters of the configuration.
    pub voters: Vec<u64>,
    /// Learners of the configuration.
    pub learners: Vec<u64>,
}

/// Everything [`Core::open`] needs (kept by the core to reopen Raft from storage).
#[derive(Clone, Debug)]
pub struct CoreSetup {
    /// The node's store, initialised with the genesis.
    pub store: Store,
    /// The chain.
    pub chain_id: ChainId,
    /// Voters of the genesis (the first Raft configuration of a new store).
    pub genesis_voters: Vec<u64>,
    /// The node's key, which signs checkpoint votes.
    pub node_key: SigningKey,
    /// Block and Raft settings.
    pub options: NodeOptions,
    /// The mempool the API admits into and the proposer takes from.
    pub mempool: Arc<Mutex<Mempool>>,
    /// Serves this node's state to peers that need a snapshot (none for a lone node).
    pub exporter: Option<Arc<SnapshotExporter>>,
    /// Randomised election timeout range in ticks, `[min, max)`; `None`: raft-rs's default
    /// of `[election, 2 × election)`. The simulator gives each node a range of one, so a
    /// seed fixes every timeout (raft-rs draws from an unseeded generator otherwise).
    pub election_range: Option<(usize, usize)>,
}

/// One node's consensus: see the module docs.
pub struct Core {
    /// What the core was opened with, to reopen it from storage.
    setup: CoreSetup,
    raw: RawNode<RaftStore>,
    raft_store: RaftStore,
    store: Store,
    mempool: Arc<Mutex<Mempool>>,
    options: NodeOptions,
    /// Checkpoint votes and certificates.
    certify: VoteKeeper,
    /// The consortium as of the last applied block.
    consortium: Consortium,
    /// Whether this node has peers (a lone `--dev` node forwards and fetches nothing).
    peered: bool,
    /// The driver's clock at the current turn (ms).
    now_ms: u64,
    /// When this node last proposed a block (ms).
    last_proposal_ms: u64,
    /// Raft index of the last block this node proposed: while it is above the applied
    /// index, a block is in flight and the next one waits to fill
    /// ([`NodeOptions::block_interval`]).
    last_proposed_index: u64,
    /// Time of the last block proposed or applied, so proposals carry increasing times.
    last_block_time: u64,
    /// (term, leader) last seen: a change requeues in-flight txs.
    seen_leader: (u64, u64),
    /// When the leader last compared Raft's configuration with the consortium (ms).
    last_reconcile_ms: u64,
    /// When this node last sent its uncertified checkpoint votes again (ms).
    last_vote_resend_ms: u64,
    /// Height of the last applied block.
    tip_height: u64,
    /// Committed entries not yet handed to the applier, in log order (while
    /// [`apply::MAX_QUEUED_ENTRIES`] wait, no new Ready is taken).
    queued: std::collections::VecDeque<Entry>,
    /// Bytes of the entries in `queued` (bounded by [`apply::MAX_QUEUED_BYTES`]).
    queued_bytes: usize,
    /// Raft index of the last entry handed to the applier (or applied here); entries
    /// above Raft's applied index up to this one are with the applier.
    dispatched: u64,
    /// A Ready holding a snapshot whose state the driver is fetching, or will fetch once
    /// the applier has drained (`snapshot_due`).
    parked: Option<raft::Ready>,
    /// The parked snapshot, to hand out ([`Output::FetchSnapshot`]) once every job before
    /// it is reported: the install replaces the state under the applier's tree.
    snapshot_due: Option<Box<SnapshotDescriptor>>,
    /// Raft messages that arrived while a Ready was parked, stepped once it is finished
    /// (at most [`MAX_HELD_MESSAGES`]; the oldest beyond are dropped, which Raft recovers
    /// from as from any lost message).
    held: std::collections::VecDeque<Message>,
    /// The role last published.
    role: Option<RoleView>,
    /// Outputs of the current turn, in order.
    outputs: Vec<Output>,
    /// Where outputs go as soon as they are safe to carry out ([`Core::set_sink`]).
    sink: Option<Sink>,
    /// Replaces a leader whose entries do not commit ([`watchdog`]).
    watchdog: watchdog::Watchdog,
}

/// A driver's receiver of outputs during a turn, a batch at a time (in order; a block's
/// `Applied` comes in the same batch as the certificate its own vote completes).
pub type Sink = Box<dyn FnMut(Vec<Output>) + Send>;

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (role, term, leader) = self.raft_state();
        write!(
            f,
            "Core(node {}, {role:?} in term {term}, leader {leader}, height {})",
            self.options.node_id, self.tip_height
        )
    }
}

impl Core {
    /// Opens Raft over the store (at its applied index) and the parts around it.
    pub fn open(setup: CoreSetup) -> Result<Core, CoreError> {
        let kept = setup.clone();
        let CoreSetup {
            store,
            chain_id,
            genesis_voters,
            node_key,
            options,
            mempool,
            exporter,
            election_range,
        } = setup;
        let tip = store.tip()?;
        let mut raft_store = RaftStore::open(store.clone(), &genesis_voters)?;
        let peered = exporter.is_some();
        if let Some(exporter) = exporter {
            raft_store = raft_store.with_exporter(exporter);
        }
        let applied = store.applied_index()?;
        // The Ready loop applies committed entries (one write per block) before it persists
        // that Ready's hard state, so a crash in between leaves the stored commit index
        // below the applied one. Those entries were committed: raise the stored commit
        // (raft-rs refuses to start with applied > commit).
        raft_store.set_commit(applied)?;
        let logged = apply::rebuild_log_index(&raft_store, &mempool, applied)?;
        if logged > 0 {
            tracing::info!(
                entries = logged,
                "txs of unapplied raft entries are pending"
            );
        }
        let config = raft_config(&options, applied, election_range);
        config.validate()?;
        let mut raw = RawNode::new(&config, raft_store.clone(), &raft_logger())?;
        if peered && raw.raft.term > 0 {
            restart_head_start(&mut raw, options.election_ticks);
        }
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
        let consortium = read_consortium(&store)?;
        let election_ms = options.tick.as_millis() as u64 * options.election_ticks as u64;
        let watchdog =
            watchdog::Watchdog::new(watchdog::WatchdogConfig::from_election(election_ms)?);
        Ok(Core {
            setup: kept,
            certify: VoteKeeper::new(options.node_id, node_key, chain_id),
            raw,
            raft_store,
            store,
            mempool,
            options,
            consortium,
            peered,
            now_ms: 0,
            last_proposal_ms: 0,
            last_proposed_index: 0,
            last_block_time: tip.time_ms,
            seen_leader: (0, 0),
            last_reconcile_ms: 0,
            last_vote_resend_ms: 0,
            tip_height: tip.height,
            queued: std::collections::VecDeque::new(),
            queued_bytes: 0,
            dispatched: applied,
            parked: None,
            snapshot_due: None,
            held: std::collections::VecDeque::new(),
            role: None,
            outputs: Vec::new(),
            sink: None,
            watchdog,
        })
    }

    /// Hands every output to `sink` as soon as it is safe to carry out, within the turn:
    /// a leader's early messages before its own fsync (so followers persist in parallel),
    /// an applied block's results right after the block is stored. Without a sink, the
    /// outputs come back from [`Core::turn`] (the simulator's way: same order, later).
    pub fn set_sink(&mut self, sink: Sink) {
        self.sink = Some(sink);
    }

    /// Passes the outputs so far to the sink, if there is one.
    pub(super) fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut()
            && !self.outputs.is_empty()
        {
            sink(std::mem::take(&mut self.outputs));
        }
    }

    /// Takes one input. Its outputs come with the next [`Core::turn`].
    pub fn handle(&mut self, input: Input) -> Result<(), CoreError> {
        match input {
            // While a snapshot Ready is parked, raft-rs must not make new messages (a
            // follower's would have to wait for that Ready's persistence, which is not
            // done yet): ticks are skipped (a node installing a snapshot does not
            // campaign) and Raft messages held until the Ready is finished.
            Input::Tick if self.parked.is_some() => {}
            Input::Tick => {
                self.raw.tick();
                self.watch();
            }
            Input::Raft(messages) if self.parked.is_some() => self.hold(messages),
            Input::Raft(messages) => {
                for m in messages.into_iter().take(MAX_MESSAGES_PER_INPUT) {
                    let from = m.from;
                    if !self.admits(&m) {
                        continue;
                    }
                    if let Err(e) = self.raw.step(m) {
                        tracing::debug!(from, error = %e, "raft message not stepped");
                    }
                }
            }
            Input::Vote(vote) => self.on_vote(vote)?,
            Input::Requeue(txs) => lock(&self.mempool).requeue(txs),
            Input::Unreachable(to) => self.raw.report_unreachable(to),
            Input::SnapshotSent { to, ok } => {
                let status = if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.raw.report_snapshot(to, status);
            }
            Input::SnapshotFetched(result) => self.snapshot_fetched(result)?,
            Input::Applied(result) => self.on_applied(result)?,
        }
        Ok(())
    }

    fn hold(&mut self, messages: Vec<Message>) {
        for m in messages.into_iter().take(MAX_MESSAGES_PER_INPUT) {
            if self.held.len() == MAX_HELD_MESSAGES {
                self.held.pop_front();
            }
            self.held.push_back(m);
        }
    }

    /// One turn at `now_ms` (the driver's clock; earlier times are taken as the latest
    /// seen): follow leader changes, propose or forward, reconcile membership, run the
    /// Ready loop. Returns the outputs, in the order they must be carried out.
    pub fn turn(&mut self, now_ms: u64) -> Result<Vec<Output>, CoreError> {
        self.now_ms = self.now_ms.max(now_ms);
        self.follow_leader_changes();
        self.propose_block()?;
        self.forward_pending();
        self.reconcile_membership();
        self.resend_votes();
        self.on_ready()?;
        self.flush();
        Ok(std::mem::take(&mut self.outputs))
    }

    /// Raft's view of this node: (role, term, leader).
    pub fn raft_state(&self) -> (StateRole, u64, u64) {
        (
            self.raw.raft.state,
            self.raw.raft.term,
            self.raw.raft.leader_id,
        )
    }

    /// Raft's configuration: (voters, learners, outgoing voters of a joint configuration).
    pub fn configuration(&self) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
        let conf = self.raw.raft.prs().conf().to_conf_state();
        (conf.voters, conf.learners, conf.voters_outgoing)
    }

    /// Height of the last applied block.
    pub fn height(&self) -> u64 {
        self.tip_height
    }

    /// Whether a snapshot's state is being fetched.
    pub fn fetching_snapshot(&self) -> bool {
        self.parked.is_some()
    }

    /// Raft index of the last entry applied (reported by the applier): Raft's own.
    pub fn applied_index(&self) -> u64 {
        self.raw.raft.raft_log.applied
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// On a new term or leader, txs in flight may belong to proposals that never commit
    /// or to a leader that is gone: offer them again, but not those in this node's log
    /// (they commit with it, or come back once overwritten), and, on becoming the leader,
    /// none already in storage.
    fn follow_leader_changes(&mut self) {
        let now = (self.raw.raft.term, self.raw.raft.leader_id);
        if now != self.seen_leader && now.1 == self.raw.raft.id {
            self.forget_executed(false);
        }
        let mut pool = lock(&self.mempool);
        if now != self.seen_leader {
            let had_leader = self.seen_leader.1 != 0;
            self.seen_leader = now;
            log_leader(self.raw.raft.id, now, had_leader);
            let n = pool.requeue_in_flight(0, self.now_ms);
            if n > 0 {
                tracing::info!(txs = n, term = now.0, "in-flight txs offered again");
            }
        } else if self.raw.raft.state != StateRole::Leader {
            let retry_ms = self.options.forward_retry.as_millis() as u64;
            pool.requeue_in_flight(retry_ms, self.now_ms);
        }
    }

    /// As leader, cuts a block from the mempool when it is full enough or old enough (the
    /// rules: [`proposer::decide`]); Raft refusing it puts the txs back.
    fn propose_block(&mut self) -> Result<(), CoreError> {
        let is_leader = self.raw.raft.state == StateRole::Leader;
        if !is_leader || self.apply_backlogged() {
            // Followers never propose: return before taking the mempool lock, which the
            // API and forwarding tasks contend for on every turn. Nor does a leader whose
            // applier is far behind (its Ready loop waits, so the block would sit in
            // memory).
            return Ok(());
        }
        let opts = &self.options;
        let limits = proposer::BlockLimits {
            max_txs: opts.block_max_txs,
            interval: opts.block_interval,
        };
        let txs = {
            let mut pool = lock(&self.mempool);
            let view = proposer::ProposerView {
                is_leader,
                pool_len: pool.len(),
                last_proposed_index: self.last_proposed_index,
                applied_index: self.raw.raft.raft_log.applied,
                since_last_proposal: Duration::from_millis(
                    self.now_ms.saturating_sub(self.last_proposal_ms),
                ),
            };
            if proposer::decide(&view, &limits) == proposer::ProposalDecision::Wait {
                return Ok(());
            }
            let txs = pool.take(opts.block_max_txs, opts.block_max_bytes, self.now_ms);
            metrics::gauge!("cactus_mempool_txs").set(pool.len() as f64);
            txs
        };
        if txs.is_empty() {
            return Ok(());
        }
        let time_ms = proposer::block_time(self.now_ms, self.last_block_time);
        self.last_block_time = time_ms;
        self.last_proposal_ms = self.now_ms;
        let count = txs.len();
        let ids: Vec<TxId> = txs.iter().map(SignedTx::id).collect();
        let proposal = crate::node::BlockProposal {
            proposer: self.options.node_id,
            time_ms,
            txs,
        };
        if let Err(e) = self.raw.propose(vec![], encode(&proposal)) {
            // Lost leadership meanwhile: put the txs back for the next leader turn.
            tracing::warn!(error = %e, txs = count, "proposal dropped; txs requeued");
            lock(&self.mempool).requeue(proposal.txs);
            return Ok(());
        }
        self.last_proposed_index = self.raw.raft.raft_log.last_index();
        self.log_proposed(self.last_proposed_index, ids);
        metrics::histogram!("cactus_block_txs").record(count as f64);
        Ok(())
    }

    /// Logs the txs of the entry this leader just proposed at `index` in the mempool's log
    /// index at once (its persistence in this turn's Ready finds it there and needs no
    /// decoding).
    fn log_proposed(&mut self, index: u64, ids: Vec<TxId>) {
        let term = self.raw.raft.term;
        lock(&self.mempool).log_entries(vec![(index, term, Some(ids))]);
    }

    /// As a follower that knows the leader, hands the driver the txs this node admitted.
    /// They stay in flight here until a block carrying them is applied; what the leader
    /// cannot take now comes back with [`Input::Requeue`].
    fn forward_pending(&mut self) {
        let leader = self.raw.raft.leader_id;
        if !self.peered || self.raw.raft.state == StateRole::Leader || leader == 0 {
            return;
        }
        let txs = {
            let mut pool = lock(&self.mempool);
            if pool.is_empty() {
                return;
            }
            let opts = &self.options;
            pool.take(opts.block_max_txs, opts.block_max_bytes, self.now_ms)
        };
        if !txs.is_empty() {
            self.outputs.push(Output::Forward { leader, txs });
        }
    }

    /// Every [`VOTE_RESEND_MS`], sends this node's votes for heights not certified yet
    /// again (at most [`MAX_RESENT_VOTES`], oldest first): see [`VoteKeeper::unanswered`].
    fn resend_votes(&mut self) {
        if !self.peered || self.now_ms.saturating_sub(self.last_vote_resend_ms) < VOTE_RESEND_MS {
            return;
        }
        self.last_vote_resend_ms = self.now_ms;
        for vote in self.certify.unanswered(MAX_RESENT_VOTES) {
            self.outputs.push(Output::Broadcast(vote));
        }
    }

    /// As leader, at most once per tick, moves Raft's configuration one step towards the
    /// consortium in state (the rules: [`membership::next_change`]). Voter changes go
    /// through a joint configuration that raft-rs leaves by itself.
    fn reconcile_membership(&mut self) {
        let tick_ms = self.options.tick.as_millis() as u64;
        if self.raw.raft.state != StateRole::Leader
            || self.now_ms.saturating_sub(self.last_reconcile_ms) < tick_ms
            || self.raw.raft.has_pending_conf()
        {
            return;
        }
        self.last_reconcile_ms = self.now_ms;
        let (kind, id) = match membership::next_change(&self.membership_view()) {
            None => return,
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
                return;
            }
        };
        tracing::info!(?kind, node = id, "proposing a raft configuration change");
        let cc = membership::conf_change(kind, id);
        if let Err(e) = self.raw.propose_conf_change(vec![], cc) {
            tracing::warn!(error = %e, "configuration change not proposed");
        }
    }

    /// What the leader knows of Raft's configuration and the consortium, for
    /// [`membership::next_change`].
    fn membership_view(&self) -> MembershipView {
        let raft = &self.raw.raft;
        let conf = raft.prs().conf().to_conf_state();
        MembershipView {
            me: self.options.node_id,
            voters: conf.voters.iter().copied().collect(),
            learners: conf.learners.iter().copied().collect(),
            voters_outgoing: conf.voters_outgoing.iter().copied().collect(),
            pending_conf_change: raft.has_pending_conf(),
            matched: raft.prs().iter().map(|(id, p)| (*id, p.matched)).collect(),
            last_index: raft.raft_log.last_index(),
            consortium: self
                .consortium
                .nodes
                .iter()
                .map(|n| (n.node_id, n.voter))
                .collect(),
        }
    }

    /// A peer's vote: checked against this node's hash at that height and the signer's key.
    fn on_vote(&mut self, vote: CheckpointVote) -> Result<(), CoreError> {
        let store = &self.store;
        let effects = self
            .certify
            .on_vote(vote, self.tip_height, &self.consortium, |height| {
                Ok::<_, StorageError>(store.block_header(height)?.map(|h| h.hash()))
            })?;
        self.carry_out(effects)
    }

    /// Signs the block just applied, broadcasts the vote and counts it.
    fn vote(&mut self, height: u64, block_hash: Hash32) -> Result<(), CoreError> {
        let effects = self.certify.applied(height, block_hash, &self.consortium);
        self.carry_out(effects)
    }

    /// Turns the vote keeper's effects into stored certificates and outputs, in order.
    fn carry_out(&mut self, effects: Vec<certify::Effect>) -> Result<(), CoreError> {
        for effect in effects {
            match effect {
                certify::Effect::Broadcast(vote) => {
                    if self.peered {
                        self.outputs.push(Output::Broadcast(vote));
                    }
                }
                certify::Effect::Certified(cert) => {
                    self.store.put_certificate(&cert)?;
                    self.outputs.push(Output::Certified(cert));
                }
                certify::Effect::Diverged(d) => self.outputs.push(Output::Diverged(d)),
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
            }
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// raft-rs's settings: pre-vote and check-quorum on, the configured heartbeat and
/// election timeout (`crate::timing`), 4 MiB messages, 256 in flight.
fn raft_config(
    options: &NodeOptions,
    applied: u64,
    election_range: Option<(usize, usize)>,
) -> Config {
    let mut config = Config {
        id: options.node_id,
        election_tick: options.election_ticks,
        heartbeat_tick: options.heartbeat_ticks.max(1),
        applied,
        max_size_per_msg: 4 * 1024 * 1024,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Default::default()
    };
    if let Some((min, max)) = election_range {
        config.min_election_tick = min;
        config.max_election_tick = max;
    }
    config
}

/// A node restarting knows no leader; when every node restarts at once (a power cut, a
/// redeploy) all of them would wait a whole randomized election timeout (`[election,
/// 2 × election)` ticks) before the first pre-vote. A restarted node starts its first
/// timeout three quarters elapsed instead: the spread that keeps candidates apart is the
/// same, the first election comes `3/4 × election` ticks sooner. Harmless to a running
/// consortium: pre-vote with check-quorum is refused by followers that hear a leader.
fn restart_head_start(raw: &mut RawNode<RaftStore>, election_ticks: usize) {
    let timeout = raw.raft.randomized_election_timeout();
    raw.raft.election_elapsed = (election_ticks * 3 / 4).min(timeout.saturating_sub(1));
}

fn raft_logger() -> slog::Logger {
    use slog::Drain;
    let drain = slog_stdlog::StdLog.fuse();
    slog::Logger::root(drain, slog::o!())
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
