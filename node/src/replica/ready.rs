//! The core's Ready loop and apply path: what raft-rs hands out after each turn, written
//! and applied in its documented order, and the snapshot install that parks a Ready.

use super::{AppliedBlock, Core, CoreError, Output, RoleView, lock};
use crate::certify::VoteKeeper;
use crate::node::{BlockProposal, Committed, read_consortium, read_params};
use crate::state_sync::{SnapshotDescriptor, SyncError};
use crate::storage::TxLocation;
use couponcactus_chaincode::encoding::decode;
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block_in_memory};
use couponcactus_chaincode::state::{StateKey, StateValue};
use protobuf::Message as _;
use raft::StateRole;
use raft::eraftpb::{
    ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message, MessageType, Snapshot,
};
use std::collections::BTreeMap;

/// Raft log entries compacted at once, at least (fewer, larger compactions).
const COMPACT_STEP: u64 = 256;

impl Core {
    /// The Ready loop, in raft-rs's order. A Ready with a snapshot parks until the driver
    /// reports its state installed ([`Core::snapshot_fetched`]).
    pub(super) fn on_ready(&mut self) -> Result<(), CoreError> {
        if self.parked.is_some() || !self.raw.has_ready() {
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
            self.outputs
                .push(Output::FetchSnapshot(Box::new(descriptor)));
            self.parked = Some(ready);
            return Ok(());
        }
        self.finish_ready(ready)
    }

    /// Steps 3–7 of the Ready loop. New entries are persisted and acknowledged before the
    /// committed ones are applied: committed entries are always already persisted
    /// (raft-rs hands out at most its persisted index), so the order is free, and this
    /// way a follower's append response (and a candidate's vote) does not wait behind a
    /// large block's apply; the leader commits the next block while this one applies.
    fn finish_ready(&mut self, mut ready: raft::Ready) -> Result<(), CoreError> {
        // 4+5. Persist new entries and the hard state, with one fsync, before anything
        //      that depends on them is acknowledged or sent.
        self.raft_store.persist(ready.entries(), ready.hs())?;
        // 6. Messages that must follow persistence (votes, append responses).
        let persisted = ready.take_persisted_messages();
        self.send(persisted);
        self.flush();
        // 3. Entries committed earlier: apply them.
        self.apply_committed(ready.take_committed_entries())?;
        self.flush();
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
        self.raft_store
            .apply_snapshot(ready.snapshot().get_metadata())?;
        self.last_block_time = self.last_block_time.max(tip.time_ms);
        self.tip_height = tip.height;
        self.tree = Some(super::load_tree(&self.store, &tip)?);
        self.outputs.push(Output::Params(read_params(&self.store)?));
        self.consortium_changed()?;
        self.certify.forget_through(tip.height);
        let descriptor: Option<SnapshotDescriptor> = decode(&ready.snapshot().data).ok();
        let certified = descriptor.and_then(|d| d.certificate).map(|c| c.height);
        self.outputs.push(Output::Installed { tip, certified });
        self.finish_ready(ready)?;
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

    fn apply_committed(&mut self, entries: Vec<Entry>) -> Result<(), CoreError> {
        let mut last = 0;
        let mut applied = self.store.applied_index()?;
        for entry in entries {
            last = entry.index;
            if entry.index <= applied {
                continue; // applied before a restart, or covered by an installed snapshot
            }
            match entry.get_entry_type() {
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change(&entry)?;
                }
                EntryType::EntryNormal if entry.data.is_empty() => {
                    // Election no-op.
                    self.store.set_applied_index(entry.index)?;
                }
                EntryType::EntryNormal => {
                    let proposal: BlockProposal = decode(&entry.data)
                        .map_err(|e| CoreError::Apply(format!("entry {}: {e}", entry.index)))?;
                    self.apply_block(entry.index, proposal)?;
                }
            }
            applied = entry.index;
        }
        // Keep `keep_log_entries` applied entries; compact in steps (of at most as many
        // entries as are kept).
        let keep = self.options.keep_log_entries;
        let step = COMPACT_STEP.min(keep.max(1));
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

    /// Executes one block through the chaincode, stores it with its Raft index in one
    /// write, settles its txs in the mempool and votes for it.
    fn apply_block(&mut self, index: u64, proposal: BlockProposal) -> Result<(), CoreError> {
        // The one clock read of the core: how long apply takes, for a metric only.
        let started = std::time::Instant::now();
        let tip: ChainTip = self.store.tip()?;
        let time_ms = proposal.time_ms.max(tip.time_ms + 1);
        let mut tree = match self.tree.take() {
            Some(tree) => tree,
            None => super::load_tree(&self.store, &tip)?,
        };
        let applied = apply_block_in_memory(
            &self.store,
            &mut tree,
            &tip,
            proposal.proposer,
            time_ms,
            &proposal.txs,
        );
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) => {
                // Nothing of a block that failed to execute reached the tree; one whose
                // commit failed reading an evicted subtree is loaded again.
                if !tree.is_broken() {
                    self.tree = Some(tree);
                }
                return Err(CoreError::Apply(e.to_string()));
            }
        };
        let header = applied.header.clone();
        let block = Block {
            header: header.clone(),
            txs: proposal.txs,
        };
        // Not stored: the tree holds a block the store does not, so it is dropped here and
        // loaded again from the store before the next block.
        self.store.commit_block(index, &block, &applied)?;
        // Stored: what the tree evicts now can be read back.
        let evicted = tree.evict(self.options.tree_resident_nodes);
        if evicted > 0 {
            metrics::counter!("cactus_state_tree_evicted_nodes_total").increment(evicted as u64);
        }
        metrics::gauge!("cactus_state_tree_resident_nodes").set(tree.resident() as f64);
        metrics::gauge!("cactus_state_tree_bytes").set(tree.arena_bytes() as f64);
        self.tree = Some(tree);
        assert_eq!(
            header.height,
            self.tip_height + 1,
            "blocks apply in height order"
        );
        self.tip_height = header.height;
        // Stored: the block's txs are no longer in flight (queries find them committed).
        lock(&self.mempool).settle(applied.results.iter().map(|r| r.tx_id));
        self.last_block_time = self.last_block_time.max(time_ms);
        let hash = header.hash();
        if let Some(StateValue::Params(p)) = applied
            .state_writes
            .0
            .get(&StateKey::Params)
            .cloned()
            .flatten()
        {
            self.outputs.push(Output::Params(p));
        }
        if applied.state_writes.0.contains_key(&StateKey::Consortium) {
            self.consortium_changed()?;
        }
        let first_log_index = header.log_size - applied.results.len() as u64;
        let txs = applied
            .results
            .into_iter()
            .enumerate()
            .map(|(i, result)| Committed {
                location: TxLocation {
                    height: header.height,
                    index: i as u32,
                    log_index: first_log_index + i as u64,
                },
                result,
            })
            .collect();
        self.outputs.push(Output::Applied(Box::new(AppliedBlock {
            raft_index: index,
            header: header.clone(),
            hash,
            txs,
        })));
        metrics::histogram!("cactus_block_apply_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("cactus_height").set(header.height as f64);
        // Sign the block and share the vote; a quorum of voters' votes certifies it (a
        // lone voter's at once, so its status never shows an uncertified height).
        self.vote(header.height, hash)
    }

    /// Reloads the consortium from state.
    fn consortium_changed(&mut self) -> Result<(), CoreError> {
        self.consortium = read_consortium(&self.store)?;
        tracing::info!(nodes = ?self.consortium.nodes.iter().map(|n| (n.node_id, n.voter)).collect::<Vec<_>>(), "consortium membership");
        self.outputs
            .push(Output::Consortium(self.consortium.clone()));
        Ok(())
    }
}
