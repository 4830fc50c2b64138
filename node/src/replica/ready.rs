//! The core's Ready loop and apply path: what raft-rs hands out after each turn, written
//! and applied in its documented order, and the snapshot install that parks a Ready.

use super::{Core, CoreError, Output, RoleView};
use crate::certify::VoteKeeper;
use crate::node::read_params;
use crate::state_sync::{SnapshotDescriptor, SyncError};
use couponcactus_chaincode::encoding::decode;
use couponcactus_chaincode::ledger::ChainTip;
use raft::StateRole;
use raft::eraftpb::{Message, MessageType, Snapshot};
use std::collections::BTreeMap;

impl Core {
    /// The Ready loop, in raft-rs's order. A Ready with a snapshot parks until the driver
    /// reports its state installed ([`Core::snapshot_fetched`]); none is taken while the
    /// applier's queue is full.
    pub(super) fn on_ready(&mut self) -> Result<(), CoreError> {
        if self.parked.is_some() || self.apply_backlogged() || !self.raw.has_ready() {
            self.publish_role();
            return Ok(());
        }
        let mut ready = self.raw.ready();
        // 1. Messages a leader may send before persisting (appends, heartbeats).
        let early = ready.take_messages();
        self.send(early);
        self.flush();
        // 2. A snapshot from the leader: its state is fetched, verified and installed
        //    off this path; the rest of this Ready waits for it.
        if *ready.snapshot() != Snapshot::default() {
            if !self.peered {
                return Err(SyncError::Invalid(
                    "a snapshot arrived at a node without peers".into(),
                )
                .into());
            }
            let descriptor: SnapshotDescriptor = decode(&ready.snapshot().data)
                .map_err(|e| SyncError::Invalid(format!("snapshot descriptor: {e}")))?;
            tracing::info!(
                height = descriptor.height,
                index = descriptor.raft_index,
                source = descriptor.source,
                entries = descriptor.total_entries,
                "fetching a state snapshot"
            );
            self.drop_queued();
            self.snapshot_due = Some(Box::new(descriptor));
            self.parked = Some(ready);
            self.hand_out_snapshot();
            return Ok(());
        }
        self.finish_ready(ready, None)
    }

    /// Steps 3–7 of the Ready loop. New entries are persisted and acknowledged before the
    /// committed ones are handed to the applier: committed entries are always already
    /// persisted (raft-rs hands out at most its persisted index), so the order is free.
    /// Apply itself runs elsewhere ([`super::apply`]): Raft's applied index moves as the
    /// applier reports, and meanwhile the leader commits the next block.
    /// With `snapshot`, the Ready installs a snapshot at that index: Raft's applied index
    /// jumps there once it is persisted.
    fn finish_ready(
        &mut self,
        mut ready: raft::Ready,
        snapshot: Option<u64>,
    ) -> Result<(), CoreError> {
        // 4+5. Persist new entries and the hard state, with one fsync, before anything
        //      that depends on them is acknowledged or sent.
        self.raft_store.persist(ready.entries(), ready.hs())?;
        //      Their txs are pending from now on: never proposed or forwarded again.
        self.log_persisted(ready.entries());
        // 6. Messages that must follow persistence (votes, append responses).
        let persisted = ready.take_persisted_messages();
        self.send(persisted);
        self.flush();
        // 3. Entries committed earlier: to the applier.
        self.queue_committed(ready.take_committed_entries())?;
        self.flush();
        // 7. Advance; the light ready carries what became committed by that persistence.
        let mut light = self.raw.advance_append(ready);
        if let Some(index) = snapshot {
            self.raw.advance_apply_to(index);
        }
        if let Some(commit) = light.commit_index() {
            // Durable with the next synced Raft write (same WAL); a lower commit on disk is safe.
            self.raft_store.set_commit(commit)?;
        }
        let messages = light.take_messages();
        self.send(messages);
        self.queue_committed(light.take_committed_entries())?;
        self.publish_role();
        Ok(())
    }

    /// The driver fetched (or failed to fetch) the parked snapshot's state: record the
    /// snapshot in the Raft log, reload what state determines, and finish the Ready.
    pub(super) fn snapshot_fetched(
        &mut self,
        result: Result<ChainTip, SyncError>,
    ) -> Result<(), CoreError> {
        let Some(ready) = self.parked.take() else {
            return Err(CoreError::Unexpected("a snapshot state no one asked for"));
        };
        let tip = match result {
            Ok(tip) => tip,
            Err(e) if !e.is_invalid_snapshot() => return self.reopen(e),
            Err(e) => return Err(e.into()),
        };
        let index = ready.snapshot().get_metadata().index;
        self.raft_store
            .apply_snapshot(ready.snapshot().get_metadata())?;
        // The log is replaced: what the snapshot covers is in storage now (drop its
        // queued and forwarded copies); the rest of the old log may be offered again.
        self.forget_executed(true);
        self.last_block_time = self.last_block_time.max(tip.time_ms);
        self.tip_height = tip.height;
        self.outputs.push(Output::Params(read_params(&self.store)?));
        self.consortium_changed()?;
        self.certify.forget_through(tip.height);
        let descriptor: Option<SnapshotDescriptor> = decode(&ready.snapshot().data).ok();
        let certified = descriptor.and_then(|d| d.certificate).map(|c| c.height);
        self.outputs.push(Output::Installed { tip, certified });
        // The applier is drained, and its tree is loaded from the installed state before
        // its next job: the pipeline restarts at the snapshot (Raft's applied index jumps
        // there once the Ready is persisted).
        self.dispatched = index;
        self.finish_ready(ready, Some(index))?;
        // What arrived meanwhile goes to Raft now; the next turn's Ready carries the answers.
        let held: Vec<Message> = self.held.drain(..).collect();
        for m in held {
            let from = m.from;
            if let Err(e) = self.raw.step(m) {
                tracing::debug!(from, error = %e, "held raft message not stepped");
            }
        }
        Ok(())
    }

    /// The parked snapshot's state could not be fetched (its source is gone, say): nothing
    /// of that Ready was written, so Raft is reopened from storage as after a restart, and
    /// the leader, finding this node still behind, sends a new snapshot. A snapshot that
    /// fails verification is not retried this way: that stops the node (see
    /// [`SyncError::is_invalid_snapshot`]).
    fn reopen(&mut self, error: SyncError) -> Result<(), CoreError> {
        tracing::warn!(error = %error, "snapshot state not fetched; reopening raft from storage to ask again");
        let outputs = std::mem::take(&mut self.outputs);
        let certify = std::mem::replace(
            &mut self.certify,
            VoteKeeper::new(0, self.setup.node_key.clone(), self.setup.chain_id.clone()),
        );
        let sink = self.sink.take();
        *self = Core::open(self.setup.clone())?;
        self.sink = sink;
        self.certify = certify;
        self.outputs = outputs;
        Ok(())
    }

    /// Hands out Raft messages, batched per peer in their order.
    fn send(&mut self, messages: Vec<Message>) {
        if messages.is_empty() || !self.peered {
            return;
        }
        let mut by_peer: BTreeMap<u64, (Vec<Message>, bool)> = BTreeMap::new();
        for m in messages {
            let entry = by_peer.entry(m.to).or_default();
            entry.1 |= m.get_msg_type() == MessageType::MsgSnapshot;
            entry.0.push(m);
        }
        for (to, (messages, snapshot)) in by_peer {
            self.outputs.push(Output::Send {
                to,
                messages,
                snapshot,
            });
        }
    }

    /// Publishes the role when it changed.
    fn publish_role(&mut self) {
        let conf = self.raw.raft.prs().conf().to_conf_state();
        let view = RoleView {
            role: match self.raw.raft.state {
                StateRole::Leader => "leader",
                StateRole::Follower => "follower",
                StateRole::Candidate => "candidate",
                StateRole::PreCandidate => "pre_candidate",
            },
            leader_id: self.raw.raft.leader_id,
            term: self.raw.raft.term,
            voters: conf.voters,
            learners: conf.learners,
        };
        if self.role.as_ref() != Some(&view) {
            self.role = Some(view.clone());
            self.outputs.push(Output::Role(view));
        }
    }
}
