//! The core's side of asynchronous apply: committed entries queued in log order, handed
//! out to the applier ([`Output::Apply`]) at most [`MAX_APPLY_IN_FLIGHT`] at a time, and
//! the applier's reports turned into votes, answers, and Raft's applied index.
//!
//! A configuration change is applied here, on Raft's node, once every entry before it is
//! reported: the stored applied index (which the change writes) never passes a block that
//! is not stored, and raft-rs sees configurations in log order. A snapshot waits for the
//! same barrier before its fetch is handed out ([`Core::hand_out_snapshot`]).

use super::lock;
use super::{Core, CoreError, Output};
use crate::applier::{ApplyDone, ApplyError, ApplyJob, BlockApplied, MAX_APPLY_IN_FLIGHT};
use crate::node::{BlockProposal, executed_in, read_consortium};
use crate::raft_log::RaftStore;
use couponcactus_chaincode::encoding::decode;
use couponcactus_chaincode::ids::TxId;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType};

/// Most committed entries queued for the applier. While this many (or
/// [`MAX_QUEUED_BYTES`]) wait, the core takes no new Ready, so no new entries are
/// acknowledged (Raft sees a slow node), and a leader proposes nothing: memory stays
/// bounded however far apply falls behind.
pub const MAX_QUEUED_ENTRIES: usize = 256;

/// Most bytes of entries queued for the applier (see [`MAX_QUEUED_ENTRIES`]).
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Raft log entries compacted at once, at least (fewer, larger compactions).
const COMPACT_STEP: u64 = 256;

impl Core {
    /// Whether every entry handed to the applier is reported.
    pub(super) fn apply_drained(&self) -> bool {
        self.dispatched == self.applied_index()
    }

    /// Whether the queue for the applier is full: the Ready loop waits.
    pub(super) fn apply_backlogged(&self) -> bool {
        self.queued.len() >= MAX_QUEUED_ENTRIES || self.queued_bytes >= MAX_QUEUED_BYTES
    }

    /// Queues committed entries (those not handed out before, after a restart or a
    /// snapshot) and hands out what the pipeline takes.
    pub(super) fn queue_committed(&mut self, entries: Vec<Entry>) -> Result<(), CoreError> {
        let from = self
            .dispatched
            .max(self.queued.back().map_or(0, |e| e.index));
        for entry in entries.into_iter().filter(|e| e.index > from) {
            self.queued_bytes += entry.data.len();
            self.queued.push_back(entry);
        }
        self.dispatch()
    }

    /// Hands the applier queued entries in order while it has room; applies a
    /// configuration change at the head once the applier has drained.
    pub(super) fn dispatch(&mut self) -> Result<(), CoreError> {
        while let Some(entry) = self.queued.front() {
            debug_assert_eq!(entry.index, self.dispatched + 1, "entries queue in order");
            let conf_change = matches!(
                entry.get_entry_type(),
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2
            );
            if conf_change && !self.apply_drained()
                || self.dispatched - self.applied_index() >= MAX_APPLY_IN_FLIGHT as u64
            {
                break;
            }
            let entry = self.queued.pop_front().expect("front seen");
            self.queued_bytes -= entry.data.len();
            self.dispatched = entry.index;
            if conf_change {
                self.apply_conf_change(&entry)?;
                self.advance_applied(entry.index);
                continue;
            }
            self.outputs.push(Output::Apply(ApplyJob { entry }));
        }
        let in_flight = self.dispatched.saturating_sub(self.applied_index());
        let backlog = self.queued.len() as u64 + in_flight;
        metrics::gauge!("cactus_apply_backlog_entries").set(backlog as f64);
        self.hand_out_snapshot();
        Ok(())
    }

    /// The applier's report on the oldest job handed out: a block is voted for and its
    /// submitters answered; Raft's applied index moves; the next jobs go out.
    pub(super) fn on_applied(
        &mut self,
        result: Result<ApplyDone, ApplyError>,
    ) -> Result<(), CoreError> {
        let done = result.map_err(|e| match e {
            ApplyError::Storage(e) => CoreError::Storage(e),
            e => CoreError::Apply(e.to_string()),
        })?;
        let expected = self.applied_index() + 1;
        if done.index != expected || done.index > self.dispatched {
            return Err(CoreError::ApplyOrder {
                got: done.index,
                expected,
            });
        }
        self.advance_applied(done.index);
        if let Some(block) = done.block {
            self.block_applied(block)?;
        }
        self.compact_log()?;
        self.dispatch()
    }

    /// Raft's applied index moves to `index` (entries before it all applied); their txs
    /// leave the mempool's log index (the applier settled them once stored).
    fn advance_applied(&mut self, index: u64) {
        assert!(index > self.applied_index() && index <= self.dispatched);
        self.raw.advance_apply_to(index);
        lock(&self.mempool).log_applied(index);
    }

    /// Records the txs of Raft entries just persisted in the mempool's log index. An
    /// entry this node proposed is logged already ([`Core::log_proposed`]); the others are
    /// decoded for their tx ids.
    pub(super) fn log_persisted(&mut self, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        let known: Vec<bool> = {
            let pool = lock(&self.mempool);
            entries
                .iter()
                .map(|e| pool.logged_term(e.index) == Some(e.term))
                .collect()
        };
        let batch = entries
            .iter()
            .zip(known)
            .map(|(e, known)| (e.index, e.term, (!known).then(|| entry_tx_ids(e))))
            .collect();
        lock(&self.mempool).log_entries(batch);
    }

    /// Drops from the mempool every tx already in storage, for the moments the applier's
    /// settling does not cover (a snapshot install, this node becoming the leader); with
    /// `log_replaced` the log index is emptied first (a snapshot replaced the log).
    pub(super) fn forget_executed(&mut self, log_replaced: bool) {
        let store = &self.store;
        let mut pool = lock(&self.mempool);
        if log_replaced {
            pool.log_reset();
        }
        let dropped = pool.forget_executed(|id| executed_in(store, id));
        if dropped > 0 {
            tracing::info!(txs = dropped, "executed txs dropped from the mempool");
        }
    }

    /// A stored block: publish what it changed, answer its submitters, sign it and share
    /// the vote (a lone voter's certifies it at once, in the same batch of outputs, so its
    /// status never shows an uncertified height).
    fn block_applied(&mut self, applied: BlockApplied) -> Result<(), CoreError> {
        let BlockApplied {
            block,
            params,
            consortium_changed,
        } = applied;
        let header = &block.header;
        assert_eq!(
            header.height,
            self.tip_height + 1,
            "blocks apply in height order"
        );
        self.tip_height = header.height;
        self.last_block_time = self.last_block_time.max(header.time_ms);
        if let Some(p) = params {
            self.outputs.push(Output::Params(p));
        }
        if consortium_changed {
            self.consortium_changed()?;
        }
        let (height, hash) = (header.height, block.hash);
        self.outputs.push(Output::Applied(Box::new(block)));
        metrics::gauge!("cactus_height").set(height as f64);
        self.vote(height, hash)
    }

    /// Keeps `keep_log_entries` applied entries; compacts in steps (of at most as many
    /// entries as are kept).
    fn compact_log(&mut self) -> Result<(), CoreError> {
        let keep = self.options.keep_log_entries;
        let step = COMPACT_STEP.min(keep.max(1));
        let last = self.applied_index();
        if last > keep && self.raft_store.first_index() + keep + step <= last {
            self.raft_store.compact(last - keep)?;
        }
        Ok(())
    }

    fn apply_conf_change(&mut self, entry: &Entry) -> Result<(), CoreError> {
        let cs: ConfState = if entry.get_entry_type() == EntryType::EntryConfChangeV2 {
            let cc = ConfChangeV2::parse_from_bytes(&entry.data)
                .map_err(|e| CoreError::Apply(format!("conf change {}: {e}", entry.index)))?;
            self.raw.apply_conf_change(&cc)?
        } else {
            let cc = ConfChange::parse_from_bytes(&entry.data)
                .map_err(|e| CoreError::Apply(format!("conf change {}: {e}", entry.index)))?;
            self.raw.apply_conf_change(&cc)?
        };
        self.raft_store.apply_conf_state(entry.index, &cs)?;
        let me = self.options.node_id;
        tracing::info!(voters = ?cs.voters, learners = ?cs.learners, outgoing = ?cs.voters_outgoing, "raft configuration changed");
        if !cs.voters.contains(&me)
            && !cs.learners.contains(&me)
            && !cs.voters_outgoing.contains(&me)
        {
            tracing::warn!("this node is no longer in the raft configuration");
        }
        Ok(())
    }

    /// Reloads the consortium from state.
    pub(super) fn consortium_changed(&mut self) -> Result<(), CoreError> {
        self.consortium = read_consortium(&self.store)?;
        tracing::info!(nodes = ?self.consortium.nodes.iter().map(|n| (n.node_id, n.voter)).collect::<Vec<_>>(), "consortium membership");
        self.outputs
            .push(Output::Consortium(self.consortium.clone()));
        Ok(())
    }

    /// Hands out the parked snapshot's fetch once the applier has drained.
    pub(super) fn hand_out_snapshot(&mut self) {
        if self.apply_drained()
            && let Some(descriptor) = self.snapshot_due.take()
        {
            self.outputs.push(Output::FetchSnapshot(descriptor));
        }
    }

    /// Drops the queued entries: a snapshot from the leader covers them (raft-rs takes a
    /// snapshot only above its commit index). Jobs already handed out still report.
    pub(super) fn drop_queued(&mut self) {
        if !self.queued.is_empty() {
            tracing::debug!(
                entries = self.queued.len(),
                "queued entries covered by a snapshot"
            );
            self.queued.clear();
            self.queued_bytes = 0;
        }
    }
}

/// The ids of the txs in a Raft entry (none for an election or configuration entry; a
/// corrupt entry fails when it is applied, and logs nothing here).
fn entry_tx_ids(entry: &Entry) -> Vec<TxId> {
    if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
        return Vec::new();
    }
    decode::<BlockProposal>(&entry.data)
        .map(|p| p.txs.iter().map(|tx| tx.id()).collect())
        .unwrap_or_default()
}

/// Most entries read from the log at once when the log index is rebuilt at start.
const REBUILD_BATCH: u64 = 256;

/// Rebuilds the mempool's log index from the stored Raft log at start: the entries from
/// `applied + 1` to the last one, persisted before the restart and not applied (committed
/// ones are replayed, the others commit or are overwritten), read in batches of
/// [`REBUILD_BATCH`].
pub(super) fn rebuild_log_index(
    raft_store: &RaftStore,
    mempool: &std::sync::Mutex<crate::mempool::Mempool>,
    applied: u64,
) -> Result<usize, CoreError> {
    use raft::Storage as _;
    let last = raft_store.last_index()?;
    let mut pool = lock(mempool);
    pool.log_reset();
    let mut low = applied.max(raft_store.first_index() - 1) + 1;
    while low <= last {
        let high = (low + REBUILD_BATCH).min(last + 1);
        let entries = raft_store.entries(low, high, None, raft::GetEntriesContext::empty(false))?;
        let batch = entries
            .iter()
            .map(|e| (e.index, e.term, Some(entry_tx_ids(e))))
            .collect();
        pool.log_entries(batch);
        low = high;
    }
    Ok(pool.logged_len())
}
