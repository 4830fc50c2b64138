//! The mempool: admission checks for incoming txs and the queue blocks are cut from.
//!
//! Admission refuses at once what can never succeed: a tx that does not decode, is for
//! another chain, has a bad signature, is stale or valid for too long, is too large, or is
//! signed by an unknown or revoked key. Everything else is queued in arrival order, once
//! per tx id; rule checks (caps, pool status, …) happen in the chaincode, and their
//! rejections are recorded in the block as audit evidence.

use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::ids::{ChainId, TxId};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::ChainParams;
use std::collections::{HashMap, HashSet, VecDeque};

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
/// accepted by any node is not lost by a leader crash.
#[derive(Debug, Default)]
pub struct Mempool {
    /// Queued txs in arrival order; entries whose id left `ids` (settled) are skipped.
    queue: VecDeque<(TxId, SignedTx, usize)>,
    /// Ids of the txs queued.
    ids: HashSet<TxId>,
    /// Txs taken for a proposal or forwarded, with their size and when they were taken
    /// (ms by the caller's clock: the node's, or the simulator's virtual one).
    in_flight: HashMap<TxId, (SignedTx, usize, u64)>,
    limits: MempoolLimits,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(limits: MempoolLimits) -> Self {
        Mempool {
            queue: VecDeque::new(),
            ids: HashSet::new(),
            in_flight: HashMap::new(),
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

    /// Whether `id` is queued, or in flight (taken for a block not applied yet).
    pub fn contains(&self, id: &TxId) -> bool {
        self.ids.contains(id) || self.in_flight.contains_key(id)
    }

    /// Queues an admitted tx (a tx already queued or in flight is not queued twice).
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
        if self.contains(&id) {
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

    /// Puts taken txs whose proposal was dropped back at the front of the queue, in order.
    pub fn requeue(&mut self, txs: Vec<SignedTx>) {
        for tx in txs.into_iter().rev() {
            let id = tx.id();
            self.in_flight.remove(&id);
            if self.ids.insert(id) {
                let size = encode(&tx).len();
                self.queue.push_front((id, tx, size));
            }
        }
    }

    /// Puts back at the front of the queue, oldest first, every in-flight tx taken at least
    /// `older_than_ms` before `now_ms`: its proposal or the leader it was forwarded to may
    /// be gone. A copy that did commit meanwhile is harmless: the next leader's chaincode
    /// records it as a duplicate and never executes it twice. Returns how many were
    /// requeued. The order is deterministic (newest last taken first, then by id), so a
    /// seeded simulation replays the same blocks.
    pub fn requeue_in_flight(&mut self, older_than_ms: u64, now_ms: u64) -> usize {
        let mut stale: Vec<(TxId, u64)> = self
            .in_flight
            .iter()
            .filter(|(_, (_, _, since))| now_ms.saturating_sub(*since) >= older_than_ms)
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
}
