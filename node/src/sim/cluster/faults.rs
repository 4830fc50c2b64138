//! Faults a scenario applies to the cluster, and the end of a run: the network's faults
//! go to [`SimNet`]; crashes, restarts, full disks, crash points and load are the nodes'.

use super::*;

impl Cluster {
    /// Applies a fault now: network faults to the network, crashes and restarts to the
    /// nodes (a restart of a node whose disk is full waits until space is freed).
    pub fn apply(&mut self, fault: Fault) -> Result<&mut Self, SimFailure> {
        self.fault(fault);
        self.verdict()?;
        Ok(self)
    }

    /// Applies a scenario's faults in order, `gap_ms` of virtual time apart.
    pub fn play(
        &mut self,
        scenario: super::super::net::Scenario,
        gap_ms: u64,
    ) -> Result<&mut Self, SimFailure> {
        for fault in scenario.0 {
            self.fault(fault);
            self.run_for(gap_ms)?;
        }
        Ok(self)
    }

    /// Schedules faults at virtual times relative to now (a random schedule, say).
    pub fn schedule(&mut self, faults: Vec<(u64, Fault)>) -> &mut Self {
        let now = self.now;
        self.schedule
            .extend(faults.into_iter().map(|(at, f)| (now + at, f)));
        self.schedule.sort_by_key(|(at, _)| *at);
        self
    }

    pub(super) fn fault(&mut self, fault: Fault) {
        match fault {
            Fault::Crash(id) => {
                self.counters.crashes += 1;
                self.crash(id);
            }
            Fault::Restart(id) => self.restart(id),
            other => {
                let _ = self.net.apply(other);
            }
        }
    }

    /// Kills node `id` as kill -9 would: its core, mempool and store handles are dropped
    /// (RocksDB keeps what was written; nothing in memory survives).
    pub(super) fn crash(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.running.take().is_some() {
            let _ = self.net.apply(Fault::Crash(id));
        }
    }

    /// Starts node `id` again from its directory (no-op if it runs, or if its disk is
    /// still full: then it restarts when [`Self::free_disk`] is called).
    pub fn restart(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.running.is_some() || node.stopped_full {
            return;
        }
        node.disk.reset_crash();
        let _ = self.net.apply(Fault::Restart(id));
        self.counters.restarts += 1;
        if let Err(e) = self.start_node(id) {
            self.check.failed(id, e.report);
        }
    }

    /// Fills node `id`'s disk: its next write fails and it must stop cleanly.
    pub fn fill_disk(&mut self, id: NodeId) -> Result<&mut Self, SimFailure> {
        self.nodes[&id].disk.set_full(true);
        Ok(self)
    }

    /// Frees node `id`'s disk and restarts it if the full disk stopped it.
    pub fn free_disk(&mut self, id: NodeId) -> Result<&mut Self, SimFailure> {
        let node = self.nodes.get_mut(&id).expect("known node");
        node.disk.set_full(false);
        if node.stopped_full {
            node.stopped_full = false;
            self.restart(id);
        }
        self.verdict()?;
        Ok(self)
    }

    /// Arms a crash of node `id` at its `writes`-th write from now (0: the next one):
    /// between applying a block and persisting Raft's state, or anywhere else.
    pub fn crash_at_write(&mut self, id: NodeId, writes: u64) -> Result<&mut Self, SimFailure> {
        self.nodes[&id].disk.crash_after(writes);
        Ok(self)
    }

    /// Stalls node `id`'s applier for `ms` of virtual time from now: the jobs its core
    /// hands out wait, as behind a huge block or a slow disk.
    pub fn stall_apply(&mut self, id: NodeId, ms: u64) -> &mut Self {
        self.nodes.get_mut(&id).expect("a node").apply_stalled_until = self.now + ms;
        self
    }

    /// Shapes every link to and from node `id` to `bytes_per_s` (0: unlimited), keeping
    /// the links' other faults, as `tc` on the node's interface would.
    pub fn shape_node(&mut self, id: NodeId, bytes_per_s: u64) -> Result<&mut Self, SimFailure> {
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|&n| n != id).collect();
        for other in others {
            for (from, to) in [(id, other), (other, id)] {
                let mut faults = self.net.link_faults(from, to);
                faults.rate_bytes_per_s = bytes_per_s;
                self.net
                    .set_link(from, to, Some(faults))
                    .map_err(|e| self.fail(format!("shaping node {id}: {e}")))?;
            }
        }
        Ok(self)
    }

    /// Starts measuring commit progress now (see [`Self::commit_figures`]).
    pub fn mark_commits(&mut self) -> &mut Self {
        self.commits.mark(self.now);
        self
    }

    /// Blocks and txs first applied since [`Self::mark_commits`], and the longest gap.
    pub fn commit_figures(&self) -> super::CommitFigures {
        self.commits.figures(self.now)
    }

    /// Txs submitted and not acknowledged yet.
    pub fn unanswered(&self) -> usize {
        self.unanswered.len()
    }

    /// Virtual time now (ms).
    pub fn now_ms(&self) -> u64 {
        self.now
    }

    /// Node `id`'s Raft term (`None`: not running).
    pub fn term(&self, id: NodeId) -> Option<u64> {
        self.nodes[&id]
            .running
            .as_ref()
            .map(|r| r.core.raft_state().1)
    }

    /// Whether node `id` runs.
    pub fn is_running(&self, id: NodeId) -> bool {
        self.nodes[&id].running.is_some()
    }

    /// Whether node `id` is fetching a snapshot's state.
    pub fn is_fetching(&self, id: NodeId) -> bool {
        self.nodes[&id]
            .running
            .as_ref()
            .is_some_and(|r| r.fetch.is_some())
    }

    /// The current leader, if exactly one running node leads in the highest term.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.running.as_ref().map(|r| (n.id, r.core.raft_state())))
            .filter(|(_, (role, _, _))| *role == raft::StateRole::Leader)
            .max_by_key(|(_, (_, term, _))| *term)
            .map(|(id, _)| id)
    }

    /// Submits one redemption every `every_ms` of virtual time (0: stop).
    pub fn load(&mut self, every_ms: u64) -> &mut Self {
        self.load_every_ms = every_ms;
        self
    }

    /// Submits the next `n` redemptions now, to running nodes at random.
    pub fn submit(&mut self, n: usize) -> &mut Self {
        for _ in 0..n {
            if self.next_redemption >= self.workload.redemptions.len() {
                break;
            }
            let tx = self.workload.redemptions[self.next_redemption].clone();
            self.next_redemption += 1;
            self.submit_to_any(tx);
        }
        self
    }

    /// Ends the run: heals the network, frees every disk, restarts every node, stops the
    /// load after what was submitted, and waits until everything submitted is answered
    /// and every node holds the same tip; then checks every store.
    pub fn finish(&mut self) -> Result<&mut Self, SimFailure> {
        self.load_every_ms = 0;
        self.schedule.clear();
        let _ = self.net.apply(Fault::Heal);
        let ids: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.joined)
            .map(|n| n.id)
            .collect();
        for &id in &ids {
            self.nodes[&id].disk.reset_crash();
            self.nodes[&id].disk.set_full(false);
            self.nodes.get_mut(&id).expect("known").stopped_full = false;
            self.restart(id);
        }
        self.wait_until(Until::Settled)?;
        for &id in &ids {
            let store = self.nodes[&id].running.as_ref().map(|r| r.store.clone());
            if let Some(store) = store {
                self.check.final_store(id, &store);
            }
        }
        self.verdict()?;
        Ok(self)
    }

    /// A one-line summary of the run.
    pub fn summary(&self) -> String {
        let c = &self.counters;
        format!(
            "seed {}: {} s virtual, height {}, {} submissions, {} acknowledged, {} certificates; \
             crashes {} (at a write {}), restarts {}, full-disk stops {}, snapshots {} \
             (resumed {}); net: {}",
            self.seed,
            c.virtual_ms / 1_000,
            self.check.top(),
            c.submissions,
            self.check.acked().len(),
            self.check.certificates,
            c.crashes + c.crashes_at_write,
            c.crashes_at_write,
            c.restarts,
            c.disk_full_stops,
            c.snapshots,
            c.snapshot_resumes,
            self.net.counters(),
        )
    }

    /// The network's counters.
    pub fn net_counters(&self) -> &super::super::net::NetCounters {
        self.net.counters()
    }
}
