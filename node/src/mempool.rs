//! The mempool: admission checks for incoming txs and the queue blocks are cut from.
//!
//! Admission refuses at once what can never succeed: a tx that does not decode, is for
//! another chain, has a bad signature, is stale or valid for too long, is too large, or is
//! signed by an unknown or revoked key. Everything else is queued in arrival order, once
//! per tx id; rule checks (caps, pool status, …) happen in the chaincode, and their
//! rejections are recorded in the block as audit evidence.
//!
//! The mempool also knows the ids of the txs in this node's Raft log that are persisted
//! but not applied yet (the *log index*, by Raft index): a tx there is pending, never new.
//! It is never handed out for a proposal or a forward, never requeued, and a copy pushed
//! meanwhile is dropped quietly; once its entry is applied the block is in storage and
//! the applier settles it. So a committed tx is never proposed again, whether it was
//! committed under an old leader, is replayed after a restart, or arrives again from a
//! client or a follower (issue 22).

use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::ids::{ChainId, TxId};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::ChainParams;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Why a tx was refused at admission.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AdmissionError {
    /// The tx is for another chain.
    #[error("tx is for chain {got}, this node serves {expected}")]
    WrongChain {
        /// This node's chain.
        expected: ChainId,
        /// The tx's chain.
        got: ChainId,
    },
    /// The signature does not verify (`verify_strict`).
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// `valid_until_ms` has passed.
    #[error("tx expired at {valid_until_ms} ms (now {now_ms} ms)")]
    Stale {
        /// The tx's bound.
        valid_until_ms: u64,
        /// The node's clock.
        now_ms: u64,
    },
    /// `valid_until_ms` is further ahead than the chain allows.
    #[error("valid_until_ms is more than {max_ms} ms ahead")]
    ValidityTooLong {
        /// The chain's bound.
        max_ms: u64,
    },
    /// The encoded tx is larger than the node accepts.
    #[error("tx of {size} bytes exceeds the {max} byte limit")]
    Oversize {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The signer is not a registered key.
    #[error("signer {0} is not a registered key")]
    UnknownKey(String),
    /// The signer's key was revoked.
    #[error("signer {0} was revoked")]
    KeyRevoked(String),
    /// The mempool is full; retry later.
    #[error("mempool is full ({0} txs); retry later")]
    Full(usize),
    /// State could not be read.
    #[error("state: {0}")]
    State(String),
}

impl AdmissionError {
    /// Stable snake_case code for the API, aligned with the chaincode taxonomy.
    pub fn code(&self) -> &'static str {
        match self {
            AdmissionError::WrongChain { .. } => "wrong_chain",
            AdmissionError::BadSignature(_) => "bad_signature",
            AdmissionError::Stale { .. } => "stale",
            AdmissionError::ValidityTooLong { .. } => "invalid_input",
            AdmissionError::Oversize { .. } => "oversize",
            AdmissionError::UnknownKey(_) => "unknown_key",
            AdmissionError::KeyRevoked(_) => "key_revoked",
            AdmissionError::Full(_) => "mempool_full",
            AdmissionError::State(_) => "internal",
        }
    }
}

/// Limits of the mempool.
#[derive(Clone, Debug)]
pub struct MempoolLimits {
    /// Most queued txs.
    pub max_txs: usize,
    /// Largest encoded tx, bytes.
    pub max_tx_bytes: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_txs: 200_000,
            max_tx_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Pending txs, in arrival order, each id once.
///
/// A tx taken for a block (by the leader) or forwarded to the leader (by a follower) stays
/// *in flight*, with its bytes, until a block that carries it is applied
/// ([`Mempool::settle`]). In between it is still pending to queries, a copy submitted
/// meanwhile is not queued a second time, and if the proposal or the leader is lost it can
/// be put back ([`Mempool::requeue_in_flight`]) and offered to the next leader: a tx
/// accepted by any node is not lost by a leader crash. A tx whose entry sits in this
/// node's Raft log ([`Mempool::log_entries`]) is not put back: that entry commits (and
/// is applied here) or a new leader overwrites it, and only then may the tx be offered
/// again.
#[derive(Debug, Default)]
pub struct Mempool {
    /// Queued txs in arrival order; entries whose id left `ids` (settled) are skipped.
    queue: VecDeque<(TxId, SignedTx, usize)>,
    /// Ids of the txs queued.
    ids: HashSet<TxId>,
    /// Txs taken for a proposal or forwarded, with their size and when they were taken
    /// (ms by the caller's clock: the node's, or the simulator's virtual one).
    in_flight: HashMap<TxId, (SignedTx, usize, u64)>,
    /// The log index: the tx ids of each Raft entry persisted in this node's log and not
    /// yet applied, with the entry's term, by Raft index. Bounded by Raft's window of
    /// persisted, unapplied entries (the core takes no new entries while its apply queue
    /// is full, and a leader keeps a bounded number of appends in flight).
    logged: BTreeMap<u64, LoggedEntry>,
    /// How many entries of `logged` carry each id (a tx proposed twice before this index
    /// existed is in two).
    logged_ids: HashMap<TxId, u32>,
    limits: MempoolLimits,
}

/// One Raft entry of the log index.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LoggedEntry {
    term: u64,
    ids: Vec<TxId>,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(limits: MempoolLimits) -> Self {
        Mempool {
            queue: VecDeque::new(),
            ids: HashSet::new(),
            in_flight: HashMap::new(),
            logged: BTreeMap::new(),
            logged_ids: HashMap::new(),
            limits,
        }
    }

    /// Number of queued txs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of txs in flight.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether `id` is queued, in flight (taken for a block not applied yet), or in an
    /// entry of this node's Raft log not applied yet.
    pub fn contains(&self, id: &TxId) -> bool {
        self.ids.contains(id) || self.in_flight.contains_key(id) || self.is_logged(id)
    }

    /// Whether `id` is in an entry of this node's Raft log not applied yet.
    pub fn is_logged(&self, id: &TxId) -> bool {
        self.logged_ids.contains_key(id)
    }

    /// Queues an admitted tx (a tx already queued or in flight is not queued twice; one in
    /// this node's log is held, never taken, until its entry is applied or overwritten).
    /// Returns whether it was newly queued.
    pub fn push(&mut self, id: TxId, tx: SignedTx) -> Result<bool, AdmissionError> {
        let size = encode(&tx).len();
        self.push_sized(id, tx, size)
    }

    /// [`Mempool::push`] of a tx whose encoded size admission measured already (so the hot
    /// path encodes a tx once, not once per step).
    pub fn push_sized(
        &mut self,
        id: TxId,
        tx: SignedTx,
        size: usize,
    ) -> Result<bool, AdmissionError> {
        // A tx in this node's log is queued all the same (it stays pending to queries
        // either way): `take` never hands it out while its entry is logged, and if a new
        // leader overwrites that entry this copy is what offers it again.
        if self.ids.contains(&id) || self.in_flight.contains_key(&id) {
            return Ok(false);
        }
        if self.ids.len() >= self.limits.max_txs {
            return Err(AdmissionError::Full(self.ids.len()));
        }
        self.ids.insert(id);
        self.queue.push_back((id, tx, size));
        Ok(true)
    }

    /// Takes up to `max_txs` txs (and at most `max_bytes` of them) for the next block; they
    /// are in flight from `now_ms` until [`Mempool::settle`]d or [`Mempool::requeue`]d.
    pub fn take(&mut self, max_txs: usize, max_bytes: usize, now_ms: u64) -> Vec<SignedTx> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let now = now_ms;
        while out.len() < max_txs {
            let Some((id, _, size)) = self.queue.front() else {
                break;
            };
            if !self.ids.contains(id) {
                self.queue.pop_front(); // settled while queued
                continue;
            }
            if self.logged_ids.contains_key(id) {
                // An entry of this node's log holds it: it waits in flight for that
                // entry's apply (or its overwrite), never in a second block.
                let (id, tx, size) = self.queue.pop_front().expect("front exists");
                self.ids.remove(&id);
                self.in_flight.entry(id).or_insert((tx, size, now));
                continue;
            }
            let size = *size;
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            let (id, tx, size) = self.queue.pop_front().expect("front exists");
            self.ids.remove(&id);
            self.in_flight.insert(id, (tx.clone(), size, now));
            out.push(tx);
        }
        out
    }

    /// Forgets in-flight txs whose block was applied (ids of other txs are ignored).
    /// Also drops queued copies: a tx applied in a block another node proposed must not
    /// be proposed again.
    pub fn settle(&mut self, applied: impl IntoIterator<Item = TxId>) {
        for id in applied {
            self.in_flight.remove(&id);
            self.ids.remove(&id);
        }
        if self.ids.is_empty() {
            self.queue.clear();
        }
    }

    /// Puts taken txs whose proposal was dropped, or whose forward came back, at the front
    /// of the queue, in order. Only txs still in flight go back: one settled meanwhile
    /// (its block applied) or already requeued is not queued again, and one whose entry
    /// is in this node's log stays in flight until that entry is applied or overwritten.
    pub fn requeue(&mut self, txs: Vec<SignedTx>) {
        for tx in txs.into_iter().rev() {
            let id = tx.id();
            if self.is_logged(&id) {
                continue;
            }
            if let Some((_, size, _)) = self.in_flight.remove(&id)
                && self.ids.insert(id)
            {
                self.queue.push_front((id, tx, size));
            }
        }
    }

    /// Puts back at the front of the queue, oldest first, every in-flight tx taken at least
    /// `older_than_ms` before `now_ms` whose entry is not in this node's Raft log: its
    /// proposal or the leader it was forwarded to may be gone. (One in the log commits with
    /// that entry or is overwritten by a new leader, and only then comes back.) Returns how
    /// many were requeued. The order is deterministic (newest last taken first, then by
    /// id), so a seeded simulation replays the same blocks.
    pub fn requeue_in_flight(&mut self, older_than_ms: u64, now_ms: u64) -> usize {
        let mut stale: Vec<(TxId, u64)> = self
            .in_flight
            .iter()
            .filter(|(id, (_, _, since))| {
                now_ms.saturating_sub(*since) >= older_than_ms && !self.logged_ids.contains_key(id)
            })
            .map(|(id, (_, _, since))| (*id, *since))
            .collect();
        stale.sort_by_key(|(id, since)| (std::cmp::Reverse(*since), std::cmp::Reverse(*id)));
        let count = stale.len();
        for (id, _) in stale {
            let (tx, size, _) = self.in_flight.remove(&id).expect("listed above");
            if self.ids.insert(id) {
                self.queue.push_front((id, tx, size));
            }
        }
        count
    }

    /// Drops every queued or in-flight tx for which `executed` says yes (it is in storage:
    /// a block holding it was applied, or a snapshot installed its effects), and returns
    /// how many. For the moments the applier's [`Mempool::settle`] does not cover: after a
    /// snapshot install, and when this node becomes the leader. At most one call of
    /// `executed` per tx held (bounded by [`MempoolLimits::max_txs`] plus those in flight).
    pub fn forget_executed(&mut self, mut executed: impl FnMut(&TxId) -> bool) -> usize {
        let before = self.ids.len() + self.in_flight.len();
        self.ids.retain(|id| !executed(id));
        self.in_flight.retain(|id, _| !executed(id));
        if self.ids.is_empty() {
            self.queue.clear();
        }
        before - self.ids.len() - self.in_flight.len()
    }

    /// Records Raft entries just persisted in this node's log (or proposed by it), in
    /// index order, each as (index, term, its txs' ids, or `None` for an entry the caller
    /// found logged already with that term: Raft entries with the same index and term are
    /// the same). Entries logged before at or above the first index and not in `entries`
    /// with their term are overwritten (a new leader replaced the tail). Queued copies of
    /// logged ids stay known but are never taken: [`Mempool::take`] moves them in flight,
    /// where they wait for the entry's apply, or, if it is overwritten, to be offered
    /// again.
    pub fn log_entries(&mut self, entries: Vec<(u64, u64, Option<Vec<TxId>>)>) {
        let Some(&(first, _, _)) = entries.first() else {
            return;
        };
        let mut tail = self.logged.split_off(&first);
        for (index, term, ids) in entries {
            let Some(ids) = ids else {
                match tail.remove(&index) {
                    Some(kept) if kept.term == term => {
                        self.logged.insert(index, kept);
                    }
                    Some(other) => self.unlog(&other.ids),
                    None => {}
                }
                continue;
            };
            if ids.is_empty() {
                continue;
            }
            for id in &ids {
                *self.logged_ids.entry(*id).or_insert(0) += 1;
            }
            self.logged.insert(index, LoggedEntry { term, ids });
        }
        for overwritten in tail.into_values() {
            self.unlog(&overwritten.ids);
        }
    }

    /// The term of the logged entry at `index`, if one with txs is logged there.
    pub fn logged_term(&self, index: u64) -> Option<u64> {
        self.logged.get(&index).map(|e| e.term)
    }

    /// Entries up to `index` are applied: they leave the log index (their txs are in
    /// storage, and the applier settled them).
    pub fn log_applied(&mut self, index: u64) {
        while let Some(entry) = self.logged.first_entry() {
            if *entry.key() > index {
                break;
            }
            let entry = entry.remove();
            self.unlog(&entry.ids);
        }
    }

    /// Forgets the whole log index (a snapshot replaced the log, or the log is read again
    /// from storage). Txs of entries the snapshot covers are in storage: drop them with
    /// [`Mempool::forget_executed`]; the others may be offered again.
    pub fn log_reset(&mut self) {
        self.logged.clear();
        self.logged_ids.clear();
    }

    /// Number of Raft entries in the log index.
    pub fn logged_len(&self) -> usize {
        self.logged.len()
    }

    fn unlog(&mut self, ids: &[TxId]) {
        for id in ids {
            if let Some(n) = self.logged_ids.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    self.logged_ids.remove(id);
                }
            }
        }
    }
}

/// The stateless and key checks of admission, against `state` at wall-clock `now_ms`.
/// Returns the tx's encoded size.
pub fn check_admission<S: StateReader + ?Sized>(
    state: &S,
    chain_id: &ChainId,
    params: &ChainParams,
    limits: &MempoolLimits,
    now_ms: u64,
    tx: &SignedTx,
) -> Result<usize, AdmissionError> {
    admit(state, chain_id, params, limits, now_ms, tx, true)
}

/// Admission of a tx a consortium peer forwarded: every check of [`check_admission`] but
/// the signature, which the peer (an authenticated member) checked when it admitted the
/// tx, and which every node's chaincode checks again when it executes the block. Saves one
/// ed25519 verification per forwarded tx on the leader, the busiest node.
pub fn check_forwarded_admission<S: StateReader + ?Sized>(
    state: &S,
    chain_id: &ChainId,
    params: &ChainParams,
    limits: &MempoolLimits,
    now_ms: u64,
    tx: &SignedTx,
) -> Result<usize, AdmissionError> {
    admit(state, chain_id, params, limits, now_ms, tx, false)
}

fn admit<S: StateReader + ?Sized>(
    state: &S,
    chain_id: &ChainId,
    params: &ChainParams,
    limits: &MempoolLimits,
    now_ms: u64,
    tx: &SignedTx,
    verify_signature: bool,
) -> Result<usize, AdmissionError> {
    if &tx.body.chain_id != chain_id {
        return Err(AdmissionError::WrongChain {
            expected: chain_id.clone(),
            got: tx.body.chain_id.clone(),
        });
    }
    let size = encode(tx).len();
    if size > limits.max_tx_bytes {
        return Err(AdmissionError::Oversize {
            size,
            max: limits.max_tx_bytes,
        });
    }
    if tx.body.valid_until_ms < now_ms {
        return Err(AdmissionError::Stale {
            valid_until_ms: tx.body.valid_until_ms,
            now_ms,
        });
    }
    if tx.body.valid_until_ms.saturating_sub(now_ms) > params.max_tx_validity_ms {
        return Err(AdmissionError::ValidityTooLong {
            max_ms: params.max_tx_validity_ms,
        });
    }
    if verify_signature {
        tx.verify()
            .map_err(|e| AdmissionError::BadSignature(e.to_string()))?;
    }
    match state
        .get(&StateKey::Key(tx.signer))
        .map_err(|e| AdmissionError::State(e.to_string()))?
    {
        Some(StateValue::Key(k)) if k.revoked_at.is_none() => Ok(size),
        Some(StateValue::Key(_)) => Err(AdmissionError::KeyRevoked(tx.signer.to_hex())),
        _ => Err(AdmissionError::UnknownKey(tx.signer.to_hex())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::testkit::{self, TestChain};
    use couponcactus_chaincode::tx::{RevokeKeyTx, TxKind};

    fn tx(c: &mut TestChain, seed: u8) -> SignedTx {
        c.sign(
            &testkit::key(seed),
            TxKind::RevokeKey(RevokeKeyTx {
                key: testkit::public(50),
            }),
        )
    }

    #[test]
    fn admission_refuses_each_kind_of_bad_tx() {
        let mut c = TestChain::new();
        let limits = MempoolLimits::default();
        let params = ChainParams::default();
        let now = c.time_ms;
        let revoke = TxKind::RevokeKey(RevokeKeyTx {
            key: testkit::public(50),
        });
        let good = tx(&mut c, 1);
        let unknown = tx(&mut c, 77);
        let mut stale = c.body(revoke.clone());
        stale.valid_until_ms = now - 1;
        let mut long = c.body(revoke.clone());
        long.valid_until_ms = now + params.max_tx_validity_ms + 1;
        let mut other = c.body(revoke);
        other.chain_id = ChainId::new("other").unwrap();
        let check = |t: &SignedTx, l: &MempoolLimits| {
            check_admission(&c.state, &c.chain_id, &params, l, now, t)
                .map(|_| ())
                .map_err(|e| e.code())
        };
        assert_eq!(check(&good, &limits), Ok(()));
        let mut bad = good.clone();
        bad.signature.0[0] ^= 1;
        assert_eq!(check(&bad, &limits), Err("bad_signature"));
        assert_eq!(check(&unknown, &limits), Err("unknown_key"));
        assert_eq!(check(&stale.sign(&testkit::key(1)), &limits), Err("stale"));
        assert_eq!(
            check(&long.sign(&testkit::key(1)), &limits),
            Err("invalid_input")
        );
        let small = MempoolLimits {
            max_txs: 1,
            max_tx_bytes: 10,
        };
        assert_eq!(check(&good, &small), Err("oversize"));
        assert_eq!(
            check(&other.sign(&testkit::key(1)), &limits),
            Err("wrong_chain")
        );
    }

    #[test]
    fn queue_is_fifo_deduplicated_and_bounded() {
        let mut c = TestChain::new();
        let mut pool = Mempool::new(MempoolLimits {
            max_txs: 2,
            max_tx_bytes: 1 << 20,
        });
        let (a, b, d) = (tx(&mut c, 1), tx(&mut c, 1), tx(&mut c, 1));
        assert!(pool.push(a.id(), a.clone()).unwrap());
        assert!(!pool.push(a.id(), a.clone()).unwrap());
        assert!(pool.push(b.id(), b.clone()).unwrap());
        assert_eq!(pool.push(d.id(), d).unwrap_err().code(), "mempool_full");
        assert_eq!(pool.take(1, usize::MAX, 0), vec![a]);
        assert_eq!(pool.take(10, usize::MAX, 0), vec![b]);
        assert!(pool.is_empty());
    }

    #[test]
    fn taken_txs_stay_known_until_settled_or_requeued() {
        let mut c = TestChain::new();
        let mut pool = Mempool::new(MempoolLimits::default());
        let (a, b, d) = (tx(&mut c, 1), tx(&mut c, 1), tx(&mut c, 1));
        for t in [&a, &b, &d] {
            pool.push(t.id(), t.clone()).unwrap();
        }
        assert_eq!(pool.take(2, usize::MAX, 0), vec![a.clone(), b.clone()]);
        // In flight: still known, and a copy is not queued again.
        assert!(pool.contains(&a.id()) && pool.contains(&b.id()));
        assert!(!pool.push(a.id(), a.clone()).unwrap());
        assert_eq!(pool.len(), 1);
        pool.settle([a.id()]);
        assert!(!pool.contains(&a.id()));
        // A dropped proposal goes back to the front, in order.
        pool.requeue(vec![b.clone()]);
        assert_eq!(pool.take(10, usize::MAX, 0), vec![b.clone(), d.clone()]);
        // Leadership lost: in-flight txs go back to the queue, oldest first, and are
        // offered to the next leader; a young one stays in flight.
        assert_eq!(pool.requeue_in_flight(60_000, 0), 0);
        assert_eq!(pool.requeue_in_flight(0, 0), 2);
        assert_eq!(pool.in_flight_len(), 0);
        assert!(!pool.push(b.id(), b.clone()).unwrap());
        // A tx applied from another node's block is dropped from the queue too.
        pool.settle([d.id()]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.take(10, usize::MAX, 0), vec![b]);
    }

    fn txs(n: usize) -> Vec<SignedTx> {
        let mut c = TestChain::new();
        (0..n).map(|_| tx(&mut c, 1)).collect()
    }

    #[test]
    fn a_tx_in_the_log_is_pending_and_never_taken_requeued_or_queued_again() {
        let t = txs(3);
        let (a, b, d) = (&t[0], &t[1], &t[2]);
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.push(a.id(), a.clone()).unwrap();
        pool.push(b.id(), b.clone()).unwrap();
        assert_eq!(pool.take(10, usize::MAX, 0), vec![a.clone(), b.clone()]);
        // The entry carrying `a` is persisted in this node's log (an old term's, say).
        pool.log_entries(vec![(5, 1, Some(vec![a.id()]))]);
        // A leader change offers `b` again, not `a`: its entry commits with the log.
        assert_eq!(pool.requeue_in_flight(0, 10), 1);
        pool.requeue(vec![a.clone()]);
        assert!(!pool.push(a.id(), a.clone()).unwrap(), "a copy is pending");
        assert!(pool.contains(&a.id()));
        assert_eq!(pool.take(10, usize::MAX, 20), vec![b.clone()]);
        // An entry that is not this node's proposal, with a tx queued here: the queued
        // copy waits in flight, it is not taken.
        pool.push(d.id(), d.clone()).unwrap();
        pool.log_entries(vec![(6, 1, Some(vec![d.id()]))]);
        assert!(pool.take(10, usize::MAX, 30).is_empty());
        assert_eq!(
            pool.requeue_in_flight(0, 40),
            1,
            "b (in flight, not logged), not d"
        );
        assert_eq!(pool.take(10, usize::MAX, 50), vec![b.clone()]);
        // Applied: settled by the applier, then out of the log index.
        pool.settle([a.id(), b.id(), d.id()]);
        pool.log_applied(6);
        assert!(!pool.contains(&a.id()) && !pool.contains(&d.id()));
        assert_eq!(pool.logged_len(), 0);
        assert_eq!((pool.len(), pool.in_flight_len()), (0, 0));
    }

    #[test]
    fn an_overwritten_entry_gives_its_txs_back() {
        let t = txs(2);
        let (a, b) = (&t[0], &t[1]);
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.push(a.id(), a.clone()).unwrap();
        pool.push(b.id(), b.clone()).unwrap();
        assert_eq!(pool.take(10, usize::MAX, 0).len(), 2);
        pool.log_entries(vec![(7, 2, Some(vec![a.id()])), (8, 2, Some(vec![b.id()]))]);
        assert_eq!(pool.logged_term(7), Some(2));
        // Persisting the same entry again (same index and term) keeps it; a new leader's
        // entry at 8 overwrites that one and everything after it.
        pool.log_entries(vec![(7, 2, None), (8, 3, Some(vec![]))]);
        assert!(pool.is_logged(&a.id()) && !pool.is_logged(&b.id()));
        assert_eq!(pool.requeue_in_flight(0, 1), 1);
        assert_eq!(pool.take(10, usize::MAX, 2), vec![b.clone()]);
        // A snapshot replaces the log: `a` committed (the snapshot covers it) and goes.
        pool.log_reset();
        assert_eq!(pool.forget_executed(|id| *id == a.id()), 1);
        assert!(!pool.contains(&a.id()) && pool.contains(&b.id()));
    }

    #[test]
    fn forgetting_executed_txs_drops_queued_and_in_flight_copies() {
        let t = txs(3);
        let mut pool = Mempool::new(MempoolLimits::default());
        for x in &t {
            pool.push(x.id(), x.clone()).unwrap();
        }
        pool.take(1, usize::MAX, 0);
        let gone = [t[0].id(), t[2].id()];
        assert_eq!(pool.forget_executed(|id| gone.contains(id)), 2);
        assert_eq!(pool.take(10, usize::MAX, 0), vec![t[1].clone()]);
        assert_eq!(pool.in_flight_len(), 1);
    }

    /// What a proptest run does to the mempool, as Raft and the drivers would.
    #[derive(Clone, Debug)]
    enum Op {
        /// A client or a follower's forward pushes tx `k`.
        Push(usize),
        /// The proposer or the forwarder takes up to `n` txs.
        Take(usize),
        /// Entries persisted from `first` on (overwriting the tail there), each with the
        /// txs of the mask's bits, in `term`.
        Log {
            skip: u64,
            term: u64,
            masks: Vec<u8>,
        },
        /// Entries up to `n` past the applied index are applied (their txs settled).
        Apply(u64),
        /// In-flight txs older than `older` are offered again (a leader change: 0).
        RequeueInFlight(u64),
        /// The last txs taken come back (a forward refused for now, a dropped proposal).
        Requeue,
        /// A snapshot replaced the log: everything applied is executed, the rest offered.
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..8).prop_map(Op::Push),
            (1usize..5).prop_map(Op::Take),
            (
                0u64..3,
                1u64..4,
                proptest::collection::vec(any::<u8>(), 1..4)
            )
                .prop_map(|(skip, term, masks)| Op::Log { skip, term, masks }),
            (1u64..4).prop_map(Op::Apply),
            prop_oneof![Just(0u64), Just(50u64)].prop_map(Op::RequeueInFlight),
            Just(Op::Requeue),
            Just(Op::Snapshot),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        /// Any interleaving of appends, overwrites, applies, takes, requeues and snapshots:
        /// a tx in a persisted, unapplied entry is never handed out, a tx executed is never
        /// handed out again, and a pushed tx not executed is never lost.
        #[test]
        fn a_logged_or_executed_tx_is_never_handed_out(ops in proptest::collection::vec(op(), 1..60)) {
            let t = txs(8);
            let mut pool = Mempool::new(MempoolLimits::default());
            // The model: the log tail above `applied` (index -> ids), what executed.
            let mut log: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            let mut applied = 0u64;
            let mut executed: HashSet<usize> = HashSet::new();
            let mut pushed: HashSet<usize> = HashSet::new();
            let mut last_taken: Vec<SignedTx> = Vec::new();
            let index_of = |x: &SignedTx| t.iter().position(|y| y == x).expect("a known tx");
            for (now, op) in ops.into_iter().enumerate() {
                let now = now as u64 * 10;
                match op {
                    Op::Push(k) => {
                        if !executed.contains(&k) {
                            pool.push(t[k].id(), t[k].clone()).unwrap();
                            pushed.insert(k);
                        }
                    }
                    Op::Take(n) => {
                        last_taken = pool.take(n, usize::MAX, now);
                        for x in &last_taken {
                            let k = index_of(x);
                            prop_assert!(!log.values().any(|ids| ids.contains(&k)), "logged tx {k} taken");
                            prop_assert!(!executed.contains(&k), "executed tx {k} taken");
                        }
                    }
                    Op::Log { skip, term, masks } => {
                        let last = log.keys().next_back().copied().unwrap_or(applied);
                        let first = (applied + 1).max(last + 1 - skip.min(last - applied));
                        log.split_off(&first);
                        let mut batch = Vec::new();
                        for (i, mask) in masks.into_iter().enumerate() {
                            let ids: Vec<usize> = (0..8).filter(|b| mask & (1 << b) != 0).collect();
                            let index = first + i as u64;
                            batch.push((index, term, Some(ids.iter().map(|&k| t[k].id()).collect())));
                            log.insert(index, ids);
                        }
                        pool.log_entries(batch);
                    }
                    Op::Apply(n) => {
                        let last = log.keys().next_back().copied().unwrap_or(applied);
                        let to = (applied + n).min(last);
                        let rest = log.split_off(&(to + 1));
                        for ids in std::mem::replace(&mut log, rest).into_values() {
                            pool.settle(ids.iter().map(|&k| t[k].id()));
                            executed.extend(ids);
                        }
                        applied = applied.max(to);
                        pool.log_applied(applied);
                    }
                    Op::RequeueInFlight(older) => {
                        pool.requeue_in_flight(older, now);
                    }
                    Op::Requeue => pool.requeue(std::mem::take(&mut last_taken)),
                    Op::Snapshot => {
                        // The snapshot covers the committed entries: take the first half.
                        let keep = log.len() / 2;
                        let covered: Vec<u64> = log.keys().copied().take(keep).collect();
                        for i in covered {
                            executed.extend(log.remove(&i).expect("listed"));
                            applied = i;
                        }
                        log.clear();
                        pool.log_reset();
                        pool.forget_executed(|id| executed.iter().any(|&k| t[k].id() == *id));
                    }
                }
                for &k in &pushed {
                    if !executed.contains(&k) {
                        prop_assert!(pool.contains(&t[k].id()), "pending tx {k} lost");
                    }
                }
            }
        }
    }
}
