//! The simulator's invariant checkers: what every node's outputs must agree on, checked
//! as the outputs happen (after every step), and what the stores must hold at the end.
//!
//! - At most one leader per term.
//! - One block hash per height across all nodes (and a snapshot's tip agrees with it).
//! - Every tx result the same at its place on every node; a tx id applied (not rejected)
//!   at most once in the chain; every acknowledged tx in the chain with the result its
//!   submitter was told.
//! - No tx id included in two blocks (or twice in one), whatever its outcome: a committed
//!   tx is never proposed again, so the chaincode never records a `duplicate` rejection.
//! - A certificate only for a block a quorum of voters applied, with that block's hash.
//! - No code redeemed twice: at most one applied redemption per code.
//! - No divergence reported by any node's vote keeper.

use crate::replica::{AppliedBlock, RoleView};
use crate::storage::Store;
use couponcactus_chaincode::block::Certificate;
use couponcactus_chaincode::execute::{TxOutcome, TxResult};
use couponcactus_chaincode::ids::{CodeHash, Hash32, TxId};
use couponcactus_chaincode::ledger::ChainTip;
use couponcactus_chaincode::reject::RejectReason;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Most violations kept (the first ones tell the story; the rest are counted).
const MAX_VIOLATIONS: usize = 32;

/// The invariants' state across the nodes of one run.
#[derive(Debug, Default)]
pub struct Checker {
    /// Voters needed for a quorum.
    quorum: usize,
    /// The leader of each term seen.
    leaders: BTreeMap<u64, u64>,
    /// The hash of each height applied by any node.
    blocks: BTreeMap<u64, Hash32>,
    /// The nodes that applied each height.
    applied_by: BTreeMap<u64, BTreeSet<u64>>,
    /// Each (height, index)'s result.
    results: BTreeMap<(u64, u32), TxResult>,
    /// Where each tx id took effect (applied, not rejected).
    took_effect: BTreeMap<TxId, (u64, u32)>,
    /// Where each tx id was first included in a block, whatever its outcome.
    included: BTreeMap<TxId, (u64, u32)>,
    /// The redemption that took effect for each code.
    redeemed: BTreeMap<CodeHash, TxId>,
    /// What submitters were told: each acknowledged tx's result.
    acked: BTreeMap<TxId, TxResult>,
    /// Violations found, in order (at most [`MAX_VIOLATIONS`]).
    violations: Vec<String>,
    /// Violations beyond the ones kept.
    more: usize,
    /// Certificates checked.
    pub certificates: u64,
}

impl Checker {
    /// A checker for a consortium of `voters` voters.
    pub fn new(voters: usize) -> Self {
        Checker {
            quorum: voters / 2 + 1,
            ..Default::default()
        }
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(what);
        } else {
            self.more += 1;
        }
    }

    /// Acknowledged txs so far.
    pub fn acked(&self) -> &BTreeMap<TxId, TxResult> {
        &self.acked
    }

    /// Highest height any node applied.
    pub fn top(&self) -> u64 {
        self.blocks.keys().next_back().copied().unwrap_or(0)
    }

    /// A report of the violations, or `None`.
    pub fn report(&self) -> Option<String> {
        if self.violations.is_empty() {
            return None;
        }
        let mut out = String::new();
        for v in &self.violations {
            let _ = writeln!(out, "  - {v}");
        }
        if self.more > 0 {
            let _ = writeln!(out, "  … and {} more", self.more);
        }
        Some(out)
    }

    /// A node published its role.
    pub fn role(&mut self, node: u64, view: &RoleView) {
        if view.role != "leader" {
            return;
        }
        match self.leaders.insert(view.term, node) {
            Some(other) if other != node => self.violation(format!(
                "two leaders in term {}: node {other} and node {node}",
                view.term
            )),
            _ => {}
        }
    }

    /// A node applied a block.
    pub fn applied(&mut self, node: u64, block: &AppliedBlock, code_of: &BTreeMap<TxId, CodeHash>) {
        let height = block.header.height;
        self.block_hash(node, height, block.hash);
        self.applied_by.entry(height).or_default().insert(node);
        for tx in &block.txs {
            let at = (height, tx.location.index);
            match self.results.get(&at) {
                Some(known) if *known != tx.result => self.violation(format!(
                    "node {node}: tx {} at {height}/{} has another result than on other nodes",
                    tx.result.tx_id, at.1
                )),
                Some(_) => continue,
                None => {
                    self.results.insert(at, tx.result.clone());
                }
            }
            self.included_at(tx.result.tx_id, at, &tx.result.outcome);
            if matches!(tx.result.outcome, TxOutcome::Applied { .. }) {
                self.took_effect_at(tx.result.tx_id, at, code_of);
            }
        }
    }

    /// A tx id seen at a new place: it must not have been included anywhere else, nor be
    /// recorded as a `duplicate` (which only a re-proposed committed tx can be).
    fn included_at(&mut self, id: TxId, at: (u64, u32), outcome: &TxOutcome) {
        if let Some(first) = self.included.insert(id, at)
            && first != at
        {
            self.included.insert(id, first);
            self.violation(format!(
                "tx {id} included twice: at {}/{} and again at {}/{}",
                first.0, first.1, at.0, at.1
            ));
        }
        if outcome
            .rejection()
            .is_some_and(|r| r.reason == RejectReason::Duplicate)
        {
            self.violation(format!(
                "tx {id} at {}/{} was recorded as a duplicate: a committed tx was proposed again",
                at.0, at.1
            ));
        }
    }

    fn took_effect_at(&mut self, id: TxId, at: (u64, u32), code_of: &BTreeMap<TxId, CodeHash>) {
        if let Some(first) = self.took_effect.insert(id, at)
            && first != at
        {
            self.violation(format!(
                "tx {id} took effect twice: at {}/{} and {}/{}",
                first.0, first.1, at.0, at.1
            ));
        }
        if let Some(code) = code_of.get(&id) {
            match self.redeemed.insert(*code, id) {
                Some(other) if other != id => {
                    self.violation(format!("code redeemed twice: by tx {other} and tx {id}"))
                }
                _ => {}
            }
        }
    }

    fn block_hash(&mut self, node: u64, height: u64, hash: Hash32) {
        match self.blocks.get(&height) {
            Some(known) if *known != hash => self.violation(format!(
                "node {node} has block {hash} at height {height}, another node {known}"
            )),
            Some(_) => {}
            None => {
                self.blocks.insert(height, hash);
            }
        }
    }

    /// A node installed a snapshot's state.
    pub fn installed(&mut self, node: u64, tip: &ChainTip) {
        self.block_hash(node, tip.height, tip.block_hash);
    }

    /// A node assembled a certificate.
    pub fn certified(&mut self, node: u64, cert: &Certificate) {
        self.certificates += 1;
        let h = cert.height;
        if self.blocks.get(&h) != Some(&cert.block_hash) {
            self.violation(format!(
                "node {node} certified {} at height {h}, not the block applied there",
                cert.block_hash
            ));
        }
        let applied = self.applied_by.get(&h).map_or(0, BTreeSet::len);
        if applied < self.quorum {
            self.violation(format!(
                "node {node} certified height {h}, which only {applied} node(s) applied \
                 (quorum {})",
                self.quorum
            ));
        }
    }

    /// A node's vote keeper saw another node sign a different block.
    pub fn diverged(&mut self, node: u64, what: String) {
        self.violation(format!("node {node} reports a divergence: {what}"));
    }

    /// A submitter was told this result.
    pub fn acknowledged(&mut self, node: u64, result: &TxResult) {
        match self.acked.get(&result.tx_id) {
            Some(known) if known != result => self.violation(format!(
                "node {node} told a submitter another result for tx {} than before",
                result.tx_id
            )),
            Some(_) => {}
            None => {
                self.acked.insert(result.tx_id, result.clone());
            }
        }
    }

    /// A node stopped in a way it must not (not a full disk, not an injected crash).
    pub fn failed(&mut self, node: u64, why: String) {
        self.violation(format!("node {node} stopped: {why}"));
    }

    /// The simulator gave up waiting for a condition.
    pub fn stalled(&mut self, what: String) {
        self.violation(what);
    }

    /// At the end: every block `store` holds (from its sync base on) has the hash every
    /// node agreed on, and every acknowledged tx it indexes has the acknowledged result.
    pub fn final_store(&mut self, node: u64, store: &Store) {
        let problems = self.store_problems(store);
        for p in problems {
            self.violation(format!("node {node} at the end: {p}"));
        }
    }

    fn store_problems(&self, store: &Store) -> Vec<String> {
        let mut out = Vec::new();
        let tip = match store.tip() {
            Ok(tip) => tip,
            Err(e) => return vec![format!("tip unreadable: {e}")],
        };
        let base = store.sync_base().ok().flatten().map_or(0, |b| b.height);
        for height in (base + 1)..=tip.height {
            match store.block(height) {
                Ok(Some(b)) if self.blocks.get(&height) == Some(&b.header.hash()) => {}
                Ok(Some(b)) => out.push(format!("block {height} is {}", b.header.hash())),
                Ok(None) => out.push(format!("block {height} is missing")),
                Err(e) => out.push(format!("block {height} unreadable: {e}")),
            }
        }
        for (id, result) in &self.acked {
            match crate::node::committed_in(store, id) {
                Ok(Some(done)) if done.result == *result => {}
                Ok(Some(_)) => out.push(format!("tx {id} has another result than acknowledged")),
                Ok(None) if tip.height >= self.top() && base == 0 => {
                    out.push(format!("acknowledged tx {id} is not in the chain"))
                }
                Ok(None) => {}
                Err(e) => out.push(format!("tx {id} unreadable: {e}")),
            }
        }
        out
    }
}
