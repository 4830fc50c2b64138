//! One simulator step, and what it does for each node: deliveries, ticks, turns and the
//! outputs of a turn, carried out the way cactusd's driver does with sockets and threads.

use super::*;

impl Cluster {
    /// Runs `ms` of virtual time.
    pub fn run_for(&mut self, ms: u64) -> Result<&mut Self, SimFailure> {
        let until = self.now + ms;
        while self.now < until {
            self.step();
        }
        self.verdict()?;
        Ok(self)
    }

    /// Runs until `until` holds; a wait longer than [`MAX_WAIT_MS`] is a stall.
    pub fn wait_until(&mut self, until: Until) -> Result<&mut Self, SimFailure> {
        let deadline = self.now + MAX_WAIT_MS;
        while !self.holds(&until) {
            if self.now >= deadline {
                let what = format!(
                    "stalled: {} not reached within {} s of virtual time (heights {:?}, \
                     unanswered txs {}, roles {:?}, configurations {:?})",
                    until.describe(),
                    MAX_WAIT_MS / 1_000,
                    self.heights(),
                    self.unanswered.len(),
                    self.roles(),
                    self.nodes
                        .keys()
                        .map(|&id| self.configuration(id))
                        .collect::<Vec<_>>(),
                );
                self.check.stalled(what);
                break;
            }
            self.step();
        }
        self.verdict()?;
        Ok(self)
    }

    fn holds(&self, until: &Until) -> bool {
        match until {
            Until::Height(h) => self
                .nodes
                .values()
                .filter(|n| n.joined)
                .filter_map(|n| n.running.as_ref())
                .all(|r| r.core.height() >= *h),
            Until::Leader => self.nodes.values().any(|n| {
                n.running
                    .as_ref()
                    .is_some_and(|r| r.core.raft_state().0 == raft::StateRole::Leader)
            }),
            Until::Answered => self.unanswered.is_empty(),
            Until::Settled => {
                let heights = self.heights();
                self.unanswered.is_empty()
                    && heights.iter().all(|h| h.is_some())
                    && heights.windows(2).all(|w| w[0] == w[1])
                    && self.nodes.values().filter(|n| n.joined).all(|n| {
                        n.running.as_ref().is_some_and(|r| {
                            r.fetch.is_none()
                                && r.apply_jobs.is_empty()
                                && lock(&r.mempool).in_flight_len() == 0
                        })
                    })
            }
        }
    }

    /// Each node's applied height (`None`: not running).
    pub fn heights(&self) -> Vec<Option<u64>> {
        self.nodes
            .values()
            .filter(|n| n.joined)
            .map(|n| n.running.as_ref().map(|r| r.core.height()))
            .collect()
    }

    fn roles(&self) -> Vec<Option<(raft::StateRole, u64, u64)>> {
        self.nodes
            .values()
            .map(|n| n.running.as_ref().map(|r| r.core.raft_state()))
            .collect()
    }

    /// One step of [`STEP_MS`]: faults due, deliveries, ticks, load, applies, turns.
    pub(super) fn step(&mut self) {
        self.now += STEP_MS;
        self.counters.virtual_ms = self.now;
        while self.schedule.first().is_some_and(|(at, _)| *at <= self.now) {
            let (_, fault) = self.schedule.remove(0);
            self.fault(fault);
        }
        for (from, to, wire) in self.net.deliveries(self.now) {
            self.deliver(from, to, wire);
        }
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &id in &ids {
            let node = &self.nodes[&id];
            if (self.now + node.tick_phase).is_multiple_of(self.options.tick_ms) {
                self.input(id, Input::Tick);
            }
        }
        self.client_load();
        for &id in &ids {
            self.fetch_timeouts(id);
            self.apply_some(id);
            self.turn(id);
        }
    }

    /// Runs a seeded number (none to all) of the node's pending apply jobs and reports
    /// each, as cactusd's applier thread does between the consensus thread's turns.
    fn apply_some(&mut self, id: NodeId) {
        let pending = self.running_mut(id).map_or(0, |r| r.apply_jobs.len());
        if pending == 0 || self.now < self.nodes[&id].apply_stalled_until {
            return;
        }
        let take = self.rng.below(pending as u64 + 1);
        for _ in 0..take {
            let Some(r) = self.running_mut(id) else {
                return; // stopped by the last report
            };
            let job = r.apply_jobs.pop_front().expect("counted above");
            let result = r.applier.apply(job);
            self.input(id, Input::Applied(result));
        }
    }

    /// This node's clock: virtual time from genesis, plus its skew.
    fn clock(&self, id: NodeId) -> u64 {
        let skew = self.nodes[&id].skew_ms;
        (GENESIS_MS + self.now).saturating_add_signed(skew)
    }

    /// Hands the node an input; a failure stops it.
    pub(super) fn input(&mut self, id: NodeId, input: Input) {
        let Some(running) = self.nodes.get_mut(&id).and_then(|n| n.running.as_mut()) else {
            return;
        };
        if let Err(e) = running.core.handle(input) {
            self.stopped(id, e);
        }
    }

    fn turn(&mut self, id: NodeId) {
        let now = self.clock(id);
        let Some(running) = self.nodes.get_mut(&id).and_then(|n| n.running.as_mut()) else {
            return;
        };
        match running.core.turn(now) {
            Ok(outputs) => {
                for output in outputs {
                    self.output(id, output);
                }
            }
            Err(e) => self.stopped(id, e),
        }
    }

    /// The node's core stopped with `error`: a crash point or a full disk are expected
    /// (the node goes down as cactusd's process would); anything else is a violation.
    fn stopped(&mut self, id: NodeId, error: CoreError) {
        match &error {
            CoreError::Storage(StorageError::Crashed) => {
                self.counters.crashes_at_write += 1;
                self.crash(id);
            }
            CoreError::Storage(StorageError::DiskFull) => {
                self.counters.disk_full_stops += 1;
                self.crash(id);
                self.nodes.get_mut(&id).expect("known").stopped_full = true;
            }
            _ => {
                self.check.failed(id, error.to_string());
                self.crash(id);
            }
        }
    }

    fn output(&mut self, id: NodeId, output: Output) {
        match output {
            Output::Send {
                to,
                messages,
                snapshot,
            } => {
                for m in messages {
                    self.net.send(id, to, Wire::Raft(m), self.now);
                }
                if snapshot {
                    self.input(id, Input::SnapshotSent { to, ok: true });
                }
            }
            Output::Broadcast(vote) => {
                let peers: Vec<NodeId> = self
                    .nodes
                    .values()
                    .filter(|n| n.id != id && n.joined)
                    .map(|n| n.id)
                    .collect();
                for p in peers {
                    self.net.send(id, p, Wire::Vote(vote.clone()), self.now);
                }
            }
            Output::Forward { leader, txs } => {
                self.net.send(id, leader, Wire::Forward(txs), self.now)
            }
            Output::Apply(job) => {
                if let Some(r) = self.running_mut(id) {
                    r.apply_jobs.push_back(job);
                }
            }
            Output::FetchSnapshot(descriptor) => self.start_fetch(id, *descriptor),
            Output::Applied(block) => {
                self.check.applied(id, &block, &self.workload.code_of);
                self.commits
                    .applied(block.header.height, block.txs.len(), self.now);
                for done in &block.txs {
                    self.answered(id, &done.result);
                }
            }
            Output::Installed { tip, .. } => {
                self.counters.snapshots += 1;
                self.check.installed(id, &tip);
            }
            Output::Certified(cert) => self.check.certified(id, &cert),
            Output::Diverged(d) => self.check.diverged(id, format!("{d:?}")),
            Output::Role(view) => {
                if view.role == "leader" {
                    self.counters.leaderships += 1;
                }
                self.check.role(id, &view);
            }
            Output::Consortium(_) => {}
            Output::Params(params) => {
                if let Some(r) = self.running_mut(id) {
                    r.params = params;
                }
            }
        }
    }

    fn running_mut(&mut self, id: NodeId) -> Option<&mut Running> {
        self.nodes.get_mut(&id).and_then(|n| n.running.as_mut())
    }

    /// A tx's result reached node `id`: its submitter there, if any, is answered.
    fn answered(&mut self, id: NodeId, result: &couponcactus_chaincode::execute::TxResult) {
        let Some(r) = self.running_mut(id) else {
            return;
        };
        if r.waiting.remove(&result.tx_id).is_some() {
            self.check.acknowledged(id, result);
            self.unanswered.remove(&result.tx_id);
        }
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, wire: Wire) {
        match wire {
            Wire::Raft(m) if m.from == from => self.input(to, Input::Raft(vec![m])),
            Wire::Raft(_) => {}
            Wire::Vote(vote) => {
                if vote.signature.node_id == from {
                    self.input(to, Input::Vote(vote));
                }
            }
            Wire::Forward(txs) => {
                let now = self.clock(to);
                let Some(r) = self.nodes.get_mut(&to).and_then(|n| n.running.as_mut()) else {
                    return;
                };
                let (role, _, leader) = r.core.raft_state();
                let judge = ForwardJudge {
                    store: &r.store,
                    chain_id: &self.chain_id,
                    params: &r.params,
                    limits: &Default::default(),
                    mempool: &r.mempool,
                };
                let verdicts =
                    judge.judge(role == raft::StateRole::Leader, leader, now, txs.clone());
                self.net.send(
                    to,
                    from,
                    Wire::ForwardReply {
                        txs,
                        verdicts: Ok(verdicts),
                    },
                    self.now,
                );
            }
            Wire::ForwardReply { txs, verdicts } => self.forward_answered(to, txs, verdicts),
            Wire::ChunkReq(req) => {
                let Some(r) = self.running_mut(to) else {
                    return;
                };
                let resp = r.exporter.read_chunk(&req).map_err(|e| e.to_string());
                self.net
                    .send(to, from, Wire::ChunkResp { req, resp }, self.now);
            }
            Wire::ChunkResp { req, resp } => self.chunk_arrived(to, req, resp),
        }
    }

    /// Settles a forward's answer at the follower, as cactusd's forwarding task does.
    fn forward_answered(
        &mut self,
        id: NodeId,
        txs: Vec<SignedTx>,
        verdicts: Result<Vec<ForwardVerdict>, String>,
    ) {
        let outcome = sort_verdicts(txs, verdicts);
        let Some(r) = self.running_mut(id) else {
            return;
        };
        lock(&r.mempool).settle(outcome.settle.iter().copied());
        for (_, done) in &outcome.committed {
            self.answered(id, &done.result);
        }
        if !outcome.retry.is_empty() {
            self.input(id, Input::Requeue(outcome.retry));
        }
    }

    fn start_fetch(&mut self, id: NodeId, descriptor: SnapshotDescriptor) {
        let now = self.now;
        let source = descriptor.source;
        let req = ChunkRequest {
            export_id: descriptor.export_id,
            after: None,
            max_bytes: SIM_CHUNK_BYTES,
        };
        let Some(r) = self.running_mut(id) else {
            return;
        };
        r.fetch = Some(Fetch {
            descriptor,
            cache: BTreeMap::new(),
            after: None,
            asked_at: now,
            timeouts: 0,
        });
        self.net.send(id, source, Wire::ChunkReq(req), now);
    }

    /// Asks again for a chunk whose answer is overdue: the fetch resumes where it stopped.
    fn fetch_timeouts(&mut self, id: NodeId) {
        let now = self.now;
        let Some(fetch) = self.running_mut(id).and_then(|r| r.fetch.as_mut()) else {
            return;
        };
        if now < fetch.asked_at + CHUNK_TIMEOUT_MS {
            return;
        }
        fetch.timeouts += 1;
        if fetch.timeouts > MAX_CHUNK_TIMEOUTS {
            self.give_up_fetch(id, "chunk requests timed out".into());
            return;
        }
        fetch.asked_at = now;
        let source = fetch.descriptor.source;
        let req = ChunkRequest {
            export_id: fetch.descriptor.export_id,
            after: fetch.after.clone(),
            max_bytes: SIM_CHUNK_BYTES,
        };
        self.counters.snapshot_resumes += 1;
        self.net.send(id, source, Wire::ChunkReq(req), now);
    }

    fn chunk_arrived(
        &mut self,
        id: NodeId,
        req: ChunkRequest,
        resp: Result<ChunkResponse, String>,
    ) {
        let now = self.now;
        let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.running.as_mut()) else {
            return;
        };
        let Some(fetch) = r.fetch.as_mut() else {
            return;
        };
        if req.export_id != fetch.descriptor.export_id || req.after != fetch.after {
            return; // a duplicate or a late answer
        }
        let chunk = match resp {
            Ok(chunk) => chunk,
            Err(e) => return self.give_up_fetch(id, e), // the source lost its export
        };
        fetch.timeouts = 0;
        let next = chunk.entries.last().map(|(k, _)| k.clone());
        let done = chunk.done;
        fetch.cache.insert(req.after, chunk);
        if !done {
            fetch.after = next;
            fetch.asked_at = now;
            let req = ChunkRequest {
                export_id: fetch.descriptor.export_id,
                after: fetch.after.clone(),
                max_bytes: SIM_CHUNK_BYTES,
            };
            let source = fetch.descriptor.source;
            self.net.send(id, source, Wire::ChunkReq(req), now);
            return;
        }
        let fetch = r.fetch.take().expect("checked above");
        let result = install_snapshot(&r.store, &self.chain_id, &fetch.descriptor, |req| {
            fetch
                .cache
                .get(&req.after)
                .cloned()
                .ok_or_else(|| SyncError::Fetch("chunk not fetched".into()))
        });
        self.input(id, Input::SnapshotFetched(result));
    }

    /// Ends a fetch that cannot finish, as cactusd's fetch thread does after its attempts.
    fn give_up_fetch(&mut self, id: NodeId, why: String) {
        if let Some(r) = self.running_mut(id) {
            r.fetch = None;
        }
        self.input(id, Input::SnapshotFetched(Err(SyncError::Fetch(why))));
    }

    /// Submits the next redemptions due, and resubmits unanswered txs.
    fn client_load(&mut self) {
        if self.load_every_ms > 0
            && self.now.is_multiple_of(self.load_every_ms)
            && self.next_redemption < self.workload.redemptions.len()
        {
            let tx = self.workload.redemptions[self.next_redemption].clone();
            self.next_redemption += 1;
            self.submit_to_any(tx);
        }
        let due: Vec<SignedTx> = self
            .unanswered
            .values()
            .filter(|(at, _)| self.now >= at + RESUBMIT_MS)
            .map(|(_, tx)| tx.clone())
            .collect();
        for tx in due {
            self.submit_to_any(tx);
        }
    }

    /// Submits `tx` to a running node drawn at random, as a client would; the node admits
    /// it (or answers from its store) exactly as cactusd's API does.
    pub(super) fn submit_to_any(&mut self, tx: SignedTx) {
        let id = tx.id();
        self.unanswered.insert(id, (self.now, tx.clone()));
        let up: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.running.is_some() && n.joined)
            .map(|(id, _)| *id)
            .collect();
        if up.is_empty() {
            return;
        }
        let node = up[self.rng.below(up.len() as u64) as usize];
        self.counters.submissions += 1;
        let now = self.clock(node);
        let r = self
            .nodes
            .get_mut(&node)
            .and_then(|n| n.running.as_mut())
            .expect("running");
        match committed_in(&r.store, &id) {
            Ok(Some(done)) => {
                let result = done.result;
                r.waiting.insert(id, ());
                self.answered(node, &result);
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
        let admitted = check_admission(
            &r.store,
            &self.chain_id,
            &r.params,
            &Default::default(),
            now,
            &tx,
        );
        if let Ok(size) = admitted
            && lock(&r.mempool).push_sized(id, tx, size).is_ok()
        {
            r.waiting.insert(id, ());
        }
    }
}

impl Until {
    fn describe(&self) -> String {
        match self {
            Until::Height(h) => format!("height {h} on every running node"),
            Until::Settled => "every tx answered and every node at one tip".into(),
            Until::Leader => "a leader".into(),
            Until::Answered => "every tx answered".into(),
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
