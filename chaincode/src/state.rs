//! Chaincode state: typed keys and values, the read trait storage implements, and write sets.
//!
//! State is a map from [`StateKey`] to [`StateValue`]. The chaincode only reads through
//! [`StateReader`] and never writes: executing a block returns a [`WriteSet`] (sorted puts
//! and deletes) that the caller persists atomically. Keys and values are stored, hashed and
//! proven by their canonical encodings ([`StateKey::to_bytes`], [`StateValue::to_bytes`]).
//! [`MemState`] is the in-memory implementation used by tests, examples and auditors.

use crate::encoding::{EncodingError, decode, encode};
use crate::ids::{ClaimKey, CodeHash, MemberId, OrgId, PoolId, PublicKey, TokenId, TxId};
use crate::types::{
    ChainParams, CodeIndexEntry, Consortium, KeyRecord, OrgRecord, PoolRecord, ProposalRecord,
    RedemptionRecord, TokenRecord,
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
    SeenTx(TxId),
    /// The `index`-th applied tx whose validity ends within second `second`.
    TxExpiry(u64, u32),
    /// How many applied txs end within second `second`.
    TxExpiryCount(u64),
    /// How far forgotten tx ids have been pruned.
    PruneCursor,
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
    /// For [`StateKey::TxExpiry`].
    TxRef(TxId),
    /// For [`StateKey::TxExpiryCount`].
    ExpiryCount(u32),
    /// For [`StateKey::PruneCursor`]: next (second, index) to forget.
    PruneCursor(u64, u32),
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
    /// Whether the key belongs to replay protection (tx ids and their expiry index), the
    /// only state a rejected tx writes.
    pub fn is_replay_protection(&self) -> bool {
        matches!(
            self,
            StateKey::SeenTx(_)
                | StateKey::TxExpiry(..)
                | StateKey::TxExpiryCount(_)
                | StateKey::PruneCursor
        )
    }
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
    tx_expiry, put_tx_expiry: (u64, u32) => |k| StateKey::TxExpiry(k.0, k.1), TxRef(TxId);
    tx_expiry_count, put_tx_expiry_count: u64 => |k| StateKey::TxExpiryCount(k), ExpiryCount(u32);
}

impl<S: StateReader + ?Sized> Overlay<'_, S> {
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
            StateKey::TxExpiry(5, 6),
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
            .insert(StateKey::TxExpiryCount(1), StateValue::ExpiryCount(1));
        let mut block = WriteSet::default();
        block.put(StateKey::TxExpiryCount(1), StateValue::ExpiryCount(2));
        let mut o = Overlay {
            base: &base,
            block: &block,
            tx: WriteSet::default(),
        };
        assert_eq!(o.tx_expiry_count(1).unwrap(), Some(2));
        o.put_tx_expiry_count(1, 3);
        assert_eq!(o.tx_expiry_count(1).unwrap(), Some(3));
        o.delete(StateKey::TxExpiryCount(1));
        assert_eq!(o.tx_expiry_count(1).unwrap(), None);
        assert!(matches!(o.consortium(()), Err(StateError::Corrupt { .. })));
    }
}
