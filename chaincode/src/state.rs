//! Chaincode state: typed keys and values, the read trait storage implements, and write sets.
//!
//! State is a map from [`StateKey`] to [`StateValue`]. The chaincode only reads through
//! [`StateReader`] and never writes: executing a block returns a [`WriteSet`] (sorted puts
//! and deletes) that the caller persists atomically. Keys and values are stored, hashed and
//! proven by their canonical encodings ([`StateKey::to_bytes`], [`StateValue::to_bytes`]).
//! [`MemState`] is the in-memory implementation used by tests, examples and auditors.

use crate::consent::{ConsentRecord, ErasureRecord, Purpose};
use crate::encoding::{EncodingError, decode, encode};
use crate::ids::{ClaimKey, CodeHash, MemberId, OrgId, PoolId, PublicKey, TokenId, TxId};
use crate::loyalty::{
    Account, AdjustmentRecord, Liability, Movement, ProgramRecord, Settlement, WithdrawalRecord,
};
use crate::risk::{HoldRecord, HoldTarget, VelocityKey};
use crate::types::{
    ChainParams, CodeIndexEntry, Consortium, KeyRecord, MemberRecord, OrgRecord, PoolRecord,
    ProposalRecord, RedemptionRecord, TokenRecord,
};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a value lives.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StateKey {
    /// The chain parameters.
    Params,
    /// An org.
    Org(OrgId),
    /// A registered key.
    Key(PublicKey),
    /// The consortium: orgs and consensus nodes.
    Consortium,
    /// A governance proposal, by the proposing tx's id.
    Proposal(TxId),
    /// A pool.
    Pool(PoolId),
    /// A token.
    Token(TokenId),
    /// The code-hash index (ledger-wide code uniqueness and redemption by code).
    Code(CodeHash),
    /// An allocation's claim key → token serial.
    Claim(PoolId, ClaimKey),
    /// Allocations a member holds in a pool.
    MemberAllocations(PoolId, MemberId),
    /// Redemptions in force of a member in a pool.
    MemberRedemptions(PoolId, MemberId),
    /// A redemption, by the redeem tx's id.
    Redemption(TxId),
    /// An executed (applied or rejected) tx id → its `valid_until_ms` (replay protection).
    /// Node-local ([`StateKey::is_node_local`]): the lookup index of the ids that the
    /// `Remembered` entries list, kept beside the state but outside the state tree.
    SeenTx(TxId),
    /// The ids a block remembered (by its height), with their `valid_until_ms`: the
    /// committed record of replay protection, one tree key per block.
    Remembered(u64),
    /// How far remembered ids have been forgotten: the next block height and the index
    /// within its `Remembered` entry.
    PruneCursor,
    /// An org's loyalty program.
    Program(OrgId),
    /// A member's balances in an org's program.
    Account(OrgId, MemberId),
    /// What an org's program owes its members, per segment.
    Liability(OrgId),
    /// What a partner org (second) and a program's org (first) owe each other.
    Settlement(OrgId, OrgId),
    /// A balance movement, by the id of the tx that made it.
    Movement(TxId),
    /// An adjustment, by the id of the adjust tx.
    Adjustment(TxId),
    /// An order that earned points: the selling org and its order reference.
    EarnedOrder(OrgId, String),
    /// A withdrawal, by the id of the request tx.
    Withdrawal(TxId),
    /// An engagement awarded: the program's org, the rule's action and the reference.
    Engagement(OrgId, String, String),
    /// An org's hold on a member, terminal or code.
    Hold(OrgId, HoldTarget),
    /// The recent redemption times of a pool by one member, terminal or store (for its
    /// velocity limits).
    Velocity(PoolId, VelocityKey),
    /// A member an org knows (a coupon of its pools or a balance of its program was
    /// theirs): what lets the org hold them.
    Member(OrgId, MemberId),
    /// An org's latest record of a member's consent decision on a purpose.
    Consent(OrgId, MemberId, Purpose),
    /// An org's receipt that it erased a member's personal data.
    Erasure(OrgId, MemberId),
}

/// What a key holds. Each key variant holds exactly one value variant.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateValue {
    /// For [`StateKey::Params`].
    Params(ChainParams),
    /// For [`StateKey::Org`].
    Org(OrgRecord),
    /// For [`StateKey::Key`].
    Key(KeyRecord),
    /// For [`StateKey::Consortium`].
    Consortium(Consortium),
    /// For [`StateKey::Proposal`].
    Proposal(ProposalRecord),
    /// For [`StateKey::Pool`].
    Pool(PoolRecord),
    /// For [`StateKey::Token`].
    Token(TokenRecord),
    /// For [`StateKey::Code`].
    Code(CodeIndexEntry),
    /// For [`StateKey::Claim`]: the token serial.
    Claim(u64),
    /// For [`StateKey::MemberAllocations`] and [`StateKey::MemberRedemptions`].
    Count(u32),
    /// For [`StateKey::Redemption`].
    Redemption(RedemptionRecord),
    /// For [`StateKey::SeenTx`]: the tx's `valid_until_ms`.
    SeenTx(u64),
    /// For [`StateKey::Remembered`]: `(tx id, valid_until_ms)` in block order.
    Remembered(Vec<(TxId, u64)>),
    /// For [`StateKey::PruneCursor`]: the next (height, index) to forget.
    PruneCursor(u64, u32),
    /// For [`StateKey::Program`].
    Program(ProgramRecord),
    /// For [`StateKey::Account`].
    Account(Account),
    /// For [`StateKey::Liability`].
    Liability(Liability),
    /// For [`StateKey::Settlement`].
    Settlement(Settlement),
    /// For [`StateKey::Movement`].
    Movement(Movement),
    /// For [`StateKey::Adjustment`].
    Adjustment(AdjustmentRecord),
    /// For [`StateKey::EarnedOrder`]: the earn tx's id.
    EarnedOrder(TxId),
    /// For [`StateKey::Withdrawal`].
    Withdrawal(WithdrawalRecord),
    /// For [`StateKey::Engagement`]: the engage tx's id.
    Engagement(TxId),
    /// For [`StateKey::Hold`].
    Hold(HoldRecord),
    /// For [`StateKey::Velocity`]: block times, oldest first.
    Velocity(Vec<u64>),
    /// For [`StateKey::Member`].
    Member(MemberRecord),
    /// For [`StateKey::Consent`].
    Consent(ConsentRecord),
    /// For [`StateKey::Erasure`].
    Erasure(ErasureRecord),
}

impl StateKey {
    /// Canonical bytes (what storage and the state tree key by).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        decode(bytes)
    }
}

impl StateKey {
    /// Whether the key belongs to replay protection (tx ids and the blocks that remembered
    /// them), the only state a rejected tx writes.
    pub fn is_replay_protection(&self) -> bool {
        matches!(
            self,
            StateKey::SeenTx(_) | StateKey::Remembered(_) | StateKey::PruneCursor
        )
    }

    /// Whether the key is node-local: kept with the state and read by execution, but not
    /// in the state tree, its root or its proofs. Only `SeenTx`, the per-id lookup index
    /// of replay protection: each id is committed once, in its block's `Remembered` entry
    /// (one tree key per block instead of two per tx), and a node that installs a
    /// snapshot derives the index from those entries ([`seen_txs_of`]).
    pub fn is_node_local(&self) -> bool {
        matches!(self, StateKey::SeenTx(_))
    }
}

/// The `SeenTx` entries that the `Remembered` entries and the `PruneCursor` of a state
/// determine (the ids the cursor has passed are forgotten already): what a node writes
/// beside an installed snapshot, which carries no node-local keys.
pub fn seen_txs_of<'a>(
    entries: impl IntoIterator<Item = (&'a StateKey, &'a StateValue)>,
) -> WriteSet {
    let mut cursor = None;
    let mut remembered = Vec::new();
    for (key, value) in entries {
        match (key, value) {
            (StateKey::PruneCursor, StateValue::PruneCursor(h, i)) => cursor = Some((*h, *i)),
            (StateKey::Remembered(h), StateValue::Remembered(txs)) => remembered.push((*h, txs)),
            _ => {}
        }
    }
    let mut seen = WriteSet::default();
    for (height, txs) in remembered {
        let skip = match cursor {
            Some((h, i)) if h == height => i as usize,
            Some((h, _)) if h > height => txs.len(),
            _ => 0,
        };
        for (id, until) in txs.iter().skip(skip) {
            seen.put(StateKey::SeenTx(*id), StateValue::SeenTx(*until));
        }
    }
    seen
}

impl StateValue {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        decode(bytes)
    }
}

/// Why state could not be read. Not a tx rejection: execution stops and the block is not
/// applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// The storage backend failed.
    #[error("state backend: {0}")]
    Backend(String),
    /// A stored value does not decode or is of the wrong type for its key.
    #[error("corrupt state at {key:?}: {why}")]
    Corrupt {
        /// The key.
        key: StateKey,
        /// What is wrong.
        why: String,
    },
}

/// Read access to state as of the last applied block.
pub trait StateReader {
    /// The value at `key`, if any.
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StateError>;
}

impl<T: StateReader + ?Sized> StateReader for &T {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StateError> {
        (**self).get(key)
    }
}

/// Puts (`Some`) and deletes (`None`) of one block, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct WriteSet(pub BTreeMap<StateKey, Option<StateValue>>);

impl WriteSet {
    /// Records a put.
    pub fn put(&mut self, key: StateKey, value: StateValue) {
        self.0.insert(key, Some(value));
    }

    /// Records a delete.
    pub fn delete(&mut self, key: StateKey) {
        self.0.insert(key, None);
    }

    /// What this write set says about `key`: `None` if untouched, `Some(None)` if deleted.
    pub fn lookup(&self, key: &StateKey) -> Option<Option<&StateValue>> {
        self.0.get(key).map(Option::as_ref)
    }

    /// Adds every write of `later` over this one.
    pub fn merge(&mut self, later: WriteSet) {
        self.0.extend(later.0);
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no writes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The writes outside replay protection ([`StateKey::is_replay_protection`]).
    pub fn without_replay_protection(&self) -> WriteSet {
        WriteSet(
            self.0
                .iter()
                .filter(|(k, _)| !k.is_replay_protection())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Canonical bytes (two executions of the same block must give identical bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
}

/// State in memory, for tests, examples and offline replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState(pub BTreeMap<StateKey, StateValue>);

impl MemState {
    /// Applies a write set.
    pub fn apply(&mut self, writes: &WriteSet) {
        for (k, v) in &writes.0 {
            match v {
                Some(v) => {
                    self.0.insert(k.clone(), v.clone());
                }
                None => {
                    self.0.remove(k);
                }
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether state is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl StateReader for MemState {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StateError> {
        Ok(self.0.get(key).cloned())
    }
}

/// Reads through pending writes to a base state: what a tx sees while its block executes.
#[derive(Debug)]
pub(crate) struct Overlay<'a, S: ?Sized> {
    pub base: &'a S,
    pub block: &'a WriteSet,
    pub tx: WriteSet,
    /// Height of the block the tx executes in (what a first write notes as when, as
    /// [`MemberRecord::first_seen`] does).
    pub height: u64,
}

impl<S: StateReader + ?Sized> Overlay<'_, S> {
    pub fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StateError> {
        if let Some(v) = self.tx.lookup(key) {
            return Ok(v.cloned());
        }
        if let Some(v) = self.block.lookup(key) {
            return Ok(v.cloned());
        }
        self.base.get(key)
    }
}

macro_rules! typed_access {
    ($($get:ident, $put:ident: $key_ty:ty => |$k:ident| $key:expr, $variant:ident($val:ty);)*) => {
        impl<S: StateReader + ?Sized> Overlay<'_, S> {
            $(
                pub fn $get(&self, $k: $key_ty) -> Result<Option<$val>, StateError> {
                    let key = $key;
                    match self.get(&key)? {
                        None => Ok(None),
                        Some(StateValue::$variant(v)) => Ok(Some(v)),
                        Some(other) => Err(StateError::Corrupt {
                            key,
                            why: format!("expected {}, found {other:?}", stringify!($variant)),
                        }),
                    }
                }

                pub fn $put(&mut self, $k: $key_ty, value: $val) {
                    self.tx.put($key, StateValue::$variant(value));
                }
            )*
        }
    };
}

typed_access! {
    params, put_params: () => |_k| StateKey::Params, Params(ChainParams);
    org, put_org: &OrgId => |k| StateKey::Org(k.clone()), Org(OrgRecord);
    key, put_key: &PublicKey => |k| StateKey::Key(*k), Key(KeyRecord);
    consortium, put_consortium: () => |_k| StateKey::Consortium, Consortium(Consortium);
    proposal, put_proposal: &TxId => |k| StateKey::Proposal(*k), Proposal(ProposalRecord);
    pool, put_pool: &PoolId => |k| StateKey::Pool(k.clone()), Pool(PoolRecord);
    token, put_token: &TokenId => |k| StateKey::Token(k.clone()), Token(TokenRecord);
    code, put_code: &CodeHash => |k| StateKey::Code(*k), Code(CodeIndexEntry);
    claim, put_claim: (&PoolId, &ClaimKey) => |k| StateKey::Claim(k.0.clone(), *k.1), Claim(u64);
    member_allocations, put_member_allocations: (&PoolId, &MemberId) => |k| StateKey::MemberAllocations(k.0.clone(), *k.1), Count(u32);
    member_redemptions, put_member_redemptions: (&PoolId, &MemberId) => |k| StateKey::MemberRedemptions(k.0.clone(), *k.1), Count(u32);
    redemption, put_redemption: &TxId => |k| StateKey::Redemption(*k), Redemption(RedemptionRecord);
    seen_tx, put_seen_tx: &TxId => |k| StateKey::SeenTx(*k), SeenTx(u64);
    program, put_program: &OrgId => |k| StateKey::Program(k.clone()), Program(ProgramRecord);
    account, put_account: (&OrgId, &MemberId) => |k| StateKey::Account(k.0.clone(), *k.1), Account(Account);
    liability, put_liability: &OrgId => |k| StateKey::Liability(k.clone()), Liability(Liability);
    settlement, put_settlement: (&OrgId, &OrgId) => |k| StateKey::Settlement(k.0.clone(), k.1.clone()), Settlement(Settlement);
    movement, put_movement: &TxId => |k| StateKey::Movement(*k), Movement(Movement);
    adjustment, put_adjustment: &TxId => |k| StateKey::Adjustment(*k), Adjustment(AdjustmentRecord);
    earned_order, put_earned_order: (&OrgId, &str) => |k| StateKey::EarnedOrder(k.0.clone(), k.1.to_owned()), EarnedOrder(TxId);
    withdrawal, put_withdrawal: &TxId => |k| StateKey::Withdrawal(*k), Withdrawal(WithdrawalRecord);
    engagement, put_engagement: (&OrgId, &str, &str) => |k| StateKey::Engagement(k.0.clone(), k.1.to_owned(), k.2.to_owned()), Engagement(TxId);
    hold, put_hold: (&OrgId, &HoldTarget) => |k| StateKey::Hold(k.0.clone(), k.1.clone()), Hold(HoldRecord);
    velocity, put_velocity: (&PoolId, &VelocityKey) => |k| StateKey::Velocity(k.0.clone(), k.1.clone()), Velocity(Vec<u64>);
    member, put_member: (&OrgId, &MemberId) => |k| StateKey::Member(k.0.clone(), *k.1), Member(MemberRecord);
    consent, put_consent: (&OrgId, &MemberId, &Purpose) => |k| StateKey::Consent(k.0.clone(), *k.1, k.2.clone()), Consent(ConsentRecord);
    erasure, put_erasure: (&OrgId, &MemberId) => |k| StateKey::Erasure(k.0.clone(), *k.1), Erasure(ErasureRecord);
}

impl<S: StateReader + ?Sized> Overlay<'_, S> {
    /// The ids block `height` remembered (written by `execute_block` on the block's write
    /// set directly, so there is no `put_` here).
    pub fn remembered(&self, height: u64) -> Result<Option<Vec<(TxId, u64)>>, StateError> {
        let key = StateKey::Remembered(height);
        match self.get(&key)? {
            None => Ok(None),
            Some(StateValue::Remembered(txs)) => Ok(Some(txs)),
            Some(other) => Err(StateError::Corrupt {
                key,
                why: format!("expected Remembered, found {other:?}"),
            }),
        }
    }

    pub fn prune_cursor(&self) -> Result<Option<(u64, u32)>, StateError> {
        match self.get(&StateKey::PruneCursor)? {
            None => Ok(None),
            Some(StateValue::PruneCursor(s, i)) => Ok(Some((s, i))),
            Some(other) => Err(StateError::Corrupt {
                key: StateKey::PruneCursor,
                why: format!("expected PruneCursor, found {other:?}"),
            }),
        }
    }

    pub fn put_prune_cursor(&mut self, second: u64, index: u32) {
        self.tx.put(
            StateKey::PruneCursor,
            StateValue::PruneCursor(second, index),
        );
    }

    pub fn delete(&mut self, key: StateKey) {
        self.tx.delete(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_bytes() {
        let keys = [
            StateKey::Params,
            StateKey::Consortium,
            StateKey::Token(TokenId {
                pool: PoolId::new("p").unwrap(),
                serial: 3,
            }),
            StateKey::Remembered(5),
        ];
        for k in keys {
            assert_eq!(StateKey::from_bytes(&k.to_bytes()).unwrap(), k);
        }
    }

    #[test]
    fn overlay_reads_tx_then_block_then_base_and_reports_corruption() {
        let mut base = MemState::default();
        base.0.insert(StateKey::Consortium, StateValue::Count(1));
        base.0
            .insert(StateKey::SeenTx(TxId([1; 32])), StateValue::SeenTx(1));
        let mut block = WriteSet::default();
        block.put(StateKey::SeenTx(TxId([1; 32])), StateValue::SeenTx(2));
        let mut o = Overlay {
            base: &base,
            block: &block,
            tx: WriteSet::default(),
            height: 1,
        };
        assert_eq!(o.seen_tx(&TxId([1; 32])).unwrap(), Some(2));
        o.put_seen_tx(&TxId([1; 32]), 3);
        assert_eq!(o.seen_tx(&TxId([1; 32])).unwrap(), Some(3));
        o.delete(StateKey::SeenTx(TxId([1; 32])));
        assert_eq!(o.seen_tx(&TxId([1; 32])).unwrap(), None);
        assert!(matches!(o.consortium(()), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn the_seen_index_is_what_the_remembered_entries_list_past_the_cursor() {
        let id = |n: u8| TxId([n; 32]);
        let mut state = MemState::default();
        state.0.insert(
            StateKey::Remembered(3),
            StateValue::Remembered(vec![(id(1), 10), (id(2), 11), (id(3), 12)]),
        );
        state.0.insert(
            StateKey::Remembered(5),
            StateValue::Remembered(vec![(id(4), 20)]),
        );
        // Stale entries a node still holds are not copied: only `Remembered` counts.
        state
            .0
            .insert(StateKey::SeenTx(id(9)), StateValue::SeenTx(1));
        state
            .0
            .insert(StateKey::PruneCursor, StateValue::PruneCursor(3, 2));
        let seen = seen_txs_of(&state.0);
        let ids: Vec<_> = seen.0.keys().cloned().collect();
        assert_eq!(ids, [StateKey::SeenTx(id(3)), StateKey::SeenTx(id(4))]);
        assert_eq!(
            seen.lookup(&StateKey::SeenTx(id(3))),
            Some(Some(&StateValue::SeenTx(12)))
        );
        assert!(StateKey::SeenTx(id(1)).is_node_local());
        assert!(!StateKey::Remembered(3).is_node_local());
    }
}
