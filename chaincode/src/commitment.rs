//! The state commitment: a Jellyfish Merkle tree over all chaincode state, versioned by
//! block height, with inclusion and non-inclusion proofs and their verifier.
//!
//! This module owns everything that turns state into the header's `state_root` and back
//! into proofs:
//!
//! - [`Blake3Hasher`], the [`SimpleHasher`] the tree uses: plain (unkeyed) blake3, 32 bytes.
//! - The tree's key and value hashes: a [`StateKey`] lives at [`key_hash`] =
//!   `blake3(StateKey::to_bytes())`, its [`StateValue`] is committed as [`value_hash`] =
//!   `blake3(StateValue::to_bytes())`. Node hashes are jmt's: [`leaf_node_hash`] =
//!   `blake3("JMT::LeafNode" ‖ key_hash ‖ value_hash)`, [`internal_node_hash`] =
//!   `blake3("JMT::IntrnalNode" ‖ left ‖ right)`, an empty subtree is
//!   [`PLACEHOLDER_HASH`] (the 32 ASCII bytes `SPARSE_MERKLE_PLACEHOLDER_HASH__`).
//! - Committing a block's [`WriteSet`] at version = height ([`commit_writes`]) through jmt's
//!   [`TreeReader`], returning a [`StateUpdate`]: the new root with the new nodes (in their
//!   stored encoding), values and stale-node indices for the caller to persist with the
//!   block. Genesis is version 0.
//!   Versions must be committed in order, one per height, with no gaps.
//! - Proofs: [`prove`] reads a key at any retained version and returns the value (or its
//!   absence) with a [`StateProof`], our own serializable form of jmt's sparse Merkle proof.
//! - The verifier: [`verify_state_proof`] is pure and written here from the algorithm of
//!   `docs/proofs.md` (it does not call jmt); tests cross-check it against jmt's own.
//! - [`MemTreeStore`], an in-memory [`TreeReader`] + [`TreeWriter`] for tests, benches and
//!   auditors (the node implements the same traits on RocksDB).
//!
//! **Versions without writes.** Every height has a root even when its block wrote nothing:
//! jmt 0.12, when a version changes nothing (an empty write set, or only deletes of absent
//! keys), stores a copy of the previous version's root node under the new version, so the
//! root is carried forward unchanged. Version 0 with no writes is the empty tree, whose root
//! is [`PLACEHOLDER_HASH`] ([`EMPTY_STATE_ROOT`]). A tree from which every key is deleted
//! also has that root.

use crate::encoding::{EncodingError, decode, encode};
use crate::ids::Hash32;
use crate::state::{StateKey, StateValue, WriteSet};
use bincode::{Decode, Encode};
use jmt::storage::{
    LeafNode, NibblePath, Node, NodeBatch, NodeKey, StaleNodeIndex, TreeReader, TreeUpdateBatch,
    TreeWriter,
};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, SimpleHasher, Version};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

/// Domain prefix of a leaf node's hash (jmt's `LEAF_DOMAIN_SEPARATOR`, 13 bytes).
pub const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
/// Domain prefix of an internal node's hash (jmt's `INTERNAL_DOMAIN_SEPARATOR`, 16 bytes;
/// the missing `e` is jmt's).
pub const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree: the 32 ASCII bytes `SPARSE_MERKLE_PLACEHOLDER_HASH__`, not
/// a digest.
pub const PLACEHOLDER_HASH: Hash32 = Hash32(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
/// The state root of an empty state.
pub const EMPTY_STATE_ROOT: Hash32 = PLACEHOLDER_HASH;
/// The most siblings a proof can have (one per bit of a key hash).
pub const MAX_SIBLINGS: usize = 256;

/// blake3 as jmt's [`SimpleHasher`]: unkeyed, 32-byte output.
#[derive(Clone, Debug, Default)]
pub struct Blake3Hasher(blake3::Hasher);

impl SimpleHasher for Blake3Hasher {
    fn new() -> Self {
        Self(blake3::Hasher::new())
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finalize(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The Jellyfish Merkle tree of chaincode state over a storage `R`.
pub type StateJmt<'a, R> = JellyfishMerkleTree<'a, R, Blake3Hasher>;

/// Where `key` sits in the tree: `blake3(key.to_bytes())`.
pub fn key_hash(key: &StateKey) -> Hash32 {
    Hash32(*blake3::hash(&key.to_bytes()).as_bytes())
}

/// What the tree commits to for `value`: `blake3(value.to_bytes())`.
pub fn value_hash(value: &StateValue) -> Hash32 {
    Hash32(*blake3::hash(&value.to_bytes()).as_bytes())
}

/// `blake3(LEAF_DOMAIN ‖ key_hash ‖ value_hash)`.
pub fn leaf_node_hash(key_hash: &Hash32, value_hash: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(LEAF_DOMAIN);
    h.update(&key_hash.0);
    h.update(&value_hash.0);
    Hash32(*h.finalize().as_bytes())
}

/// `blake3(INTERNAL_DOMAIN ‖ left ‖ right)`.
pub fn internal_node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(INTERNAL_DOMAIN);
    h.update(&left.0);
    h.update(&right.0);
    Hash32(*h.finalize().as_bytes())
}

/// Why the state tree could not be updated or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommitmentError {
    /// The version has no root in storage: not committed yet, or pruned.
    #[error("no state root at version {0} (not committed, or pruned)")]
    MissingVersion(Version),
    /// The version is already committed; versions are written once.
    #[error("state version {0} is already committed")]
    AlreadyCommitted(Version),
    /// The tree's storage failed or misses a node.
    #[error("state tree storage: {0}")]
    Storage(String),
    /// A stored value or proof does not have the expected form.
    #[error("corrupt state tree: {0}")]
    Corrupt(String),
}

impl From<anyhow::Error> for CommitmentError {
    fn from(e: anyhow::Error) -> Self {
        CommitmentError::Storage(format!("{e:#}"))
    }
}

/// The result of committing one version: its root, and what to persist atomically with
/// the block.
///
/// The nodes are kept in jmt's stored encoding (the borsh bytes of [`Node`], what every
/// [`TreeReader`] here decodes): the in-memory tree builds those bytes directly and the
/// node's store writes them as they are, so a block's nodes are neither decoded into jmt's
/// types nor encoded again on the commit path. [`StateUpdate::node_batch`] decodes them
/// for writers that take jmt's [`NodeBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateUpdate {
    /// The version (block height) committed.
    pub version: Version,
    /// The state root at that version (the header's `state_root`).
    pub root: Hash32,
    /// New nodes, each as its borsh bytes, by key.
    pub nodes: BTreeMap<NodeKey, Vec<u8>>,
    /// New values by version and key hash (`None`: deleted at that version).
    pub values: BTreeMap<(Version, KeyHash), Option<OwnedValue>>,
    /// The nodes that stop being reachable at this version (for pruning).
    pub stale: BTreeSet<StaleNodeIndex>,
}

impl StateUpdate {
    /// The update of jmt's own batch (its nodes encoded).
    fn from_jmt(version: Version, root: Hash32, batch: TreeUpdateBatch) -> Self {
        StateUpdate {
            version,
            root,
            nodes: batch
                .node_batch
                .nodes()
                .iter()
                .map(|(k, n)| (k.clone(), borsh::to_vec(n).expect("borsh to vec")))
                .collect(),
            values: batch.node_batch.values().clone(),
            stale: batch.stale_node_index_batch,
        }
    }

    /// The nodes decoded, with the values, as jmt's [`TreeWriter`] takes them.
    pub fn node_batch(&self) -> NodeBatch {
        let nodes = self
            .nodes
            .iter()
            .map(|(k, b)| {
                (
                    k.clone(),
                    borsh::from_slice(b).expect("a node this tree encoded"),
                )
            })
            .collect();
        NodeBatch::new(nodes, self.values.clone())
    }
}

/// Commits `writes` as `version` on top of `version - 1` (genesis: version 0 on the empty
/// tree) and returns the new root with the batch to persist. Nothing is written: the caller
/// persists `batch`. Node-local keys ([`StateKey::is_node_local`]) are not in the tree and
/// are skipped. A version with no effective writes gets the previous root (see the
/// module docs).
///
/// How: jmt offers a fast batched insert (each new node hashed once) that cannot delete,
/// and a per-key update that can. Deletes go through the per-key update first; the puts
/// are then inserted in one batch on top of that intermediate tree (read through a layer
/// that serves the intermediate nodes and presents its root as the previous version's),
/// and the two batches are merged: nodes the second step replaced or dropped leave the
/// batch, stale indices keep only nodes of earlier versions. The tree is the one jmt's
/// per-key update alone gives (same root, same proofs); tests check that, and that the
/// batch writes no unreachable node and marks stale exactly the nodes that stop being
/// reachable. The previous version's root node is always marked stale at `version`, also
/// when jmt copies an unchanged root forward (jmt itself leaves that one unmarked).
pub fn commit_writes<R: TreeReader>(
    reader: &R,
    version: Version,
    writes: &WriteSet,
) -> Result<StateUpdate, CommitmentError> {
    if reader.get_node_option(&root_key(version))?.is_some() {
        return Err(CommitmentError::AlreadyCommitted(version));
    }
    if version > 0 && reader.get_node_option(&root_key(version - 1))?.is_none() {
        return Err(CommitmentError::MissingVersion(version - 1));
    }
    let mut puts: Vec<(KeyHash, OwnedValue)> = Vec::with_capacity(writes.len());
    let mut deletes: Vec<(KeyHash, Option<OwnedValue>)> = Vec::new();
    for (k, v) in writes.0.iter().filter(|(k, _)| !k.is_node_local()) {
        let kh = KeyHash(key_hash(k).0);
        match v {
            Some(v) => puts.push((kh, v.to_bytes())),
            // Nothing exists before genesis.
            None if version > 0 => deletes.push((kh, None)),
            None => {}
        }
    }
    let tree = StateJmt::new(reader);
    let (root, mut batch) = if puts.is_empty() {
        // Also the empty write set: jmt copies the previous root forward.
        tree.put_value_set(deletes, version)?
    } else if deletes.is_empty() {
        batch_put(&tree, puts, version)?
    } else {
        let (_, first) = tree.put_value_set(deletes, version)?;
        let layered = Layered {
            base: reader,
            top: &first.node_batch,
            version,
        };
        let (root, second) = batch_put(&StateJmt::new(&layered), puts, version)?;
        (root, merge_batches(first, second, version))
    };
    if version > 0 {
        batch.stale_node_index_batch.insert(StaleNodeIndex {
            stale_since_version: version,
            node_key: root_key(version - 1),
        });
    }
    Ok(StateUpdate::from_jmt(version, Hash32(root.0), batch))
}

fn batch_put<R: TreeReader>(
    tree: &StateJmt<'_, R>,
    puts: Vec<(KeyHash, OwnedValue)>,
    version: Version,
) -> Result<(jmt::RootHash, TreeUpdateBatch), CommitmentError> {
    let (roots, batch) = tree.batch_put_value_sets(vec![puts], None, version)?;
    let root = roots
        .first()
        .copied()
        .ok_or_else(|| CommitmentError::Storage("jmt returned no root".into()))?;
    Ok((root, batch))
}

/// Merges the batch of a first step at `version` with the batch of a second step at the
/// same version computed on top of it.
fn merge_batches(
    first: TreeUpdateBatch,
    second: TreeUpdateBatch,
    version: Version,
) -> TreeUpdateBatch {
    let mut nodes = first.node_batch.nodes().clone();
    let mut values = first.node_batch.values().clone();
    for (k, n) in second.node_batch.nodes() {
        nodes.insert(k.clone(), n.clone());
    }
    for (k, v) in second.node_batch.values() {
        values.insert(*k, v.clone());
    }
    let mut stale = first.stale_node_index_batch;
    for s in second.stale_node_index_batch {
        if s.node_key.version() < version {
            stale.insert(s);
        } else if !second.node_batch.nodes().contains_key(&s.node_key) {
            // A node of the first step that the second step replaced or made unreachable.
            nodes.remove(&s.node_key);
        }
    }
    let mut node_stats = first.node_stats;
    node_stats.extend(second.node_stats);
    TreeUpdateBatch {
        node_batch: NodeBatch::new(nodes, values),
        stale_node_index_batch: stale,
        node_stats,
    }
}

/// Storage seen through an uncommitted batch of `version`, whose root stands in for the
/// root of `version - 1` (so jmt builds the next step on top of it).
struct Layered<'a, R> {
    base: &'a R,
    top: &'a NodeBatch,
    version: Version,
}

impl<R: TreeReader> TreeReader for Layered<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if self.version > 0 && *node_key == root_key(self.version - 1) {
            return Ok(self.top.get_node(&root_key(self.version)).cloned());
        }
        match self.top.get_node(node_key) {
            Some(n) => Ok(Some(n.clone())),
            None => self.base.get_node_option(node_key),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        if let Some(v) = self
            .top
            .values()
            .get(&(self.version, key_hash))
            .filter(|_| max_version >= self.version)
        {
            return Ok(v.clone());
        }
        self.base.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("not used while committing")
    }
}

/// The key of the root node of `version` (empty nibble path).
fn root_key(version: Version) -> NodeKey {
    NodeKey::new(version, NibblePath::from_iter(std::iter::empty()))
}

/// The state root at `version`, or `None` if that version is not in storage.
pub fn state_root<R: TreeReader>(
    reader: &R,
    version: Version,
) -> Result<Option<Hash32>, CommitmentError> {
    Ok(StateJmt::new(reader)
        .get_root_hash_option(version)?
        .map(|r| Hash32(r.0)))
}

/// The value of `key` at `version`, without a proof.
pub fn get<R: TreeReader>(
    reader: &R,
    key: &StateKey,
    version: Version,
) -> Result<Option<StateValue>, CommitmentError> {
    if reader.get_node_option(&root_key(version))?.is_none() {
        return Err(CommitmentError::MissingVersion(version));
    }
    let bytes = StateJmt::new(reader).get(KeyHash(key_hash(key).0), version)?;
    bytes.map(|b| decode_value(key, &b)).transpose()
}

fn decode_value(key: &StateKey, bytes: &[u8]) -> Result<StateValue, CommitmentError> {
    StateValue::from_bytes(bytes)
        .map_err(|e| CommitmentError::Corrupt(format!("value of {key:?} does not decode: {e}")))
}

/// The leaf a proof ends at: the key hash and value hash of a leaf node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct ProofLeaf {
    /// The leaf's key hash.
    pub key_hash: Hash32,
    /// The hash of the leaf's value.
    pub value_hash: Hash32,
}

/// A sparse Merkle proof of the value (or absence) of one key under a state root.
///
/// `leaf` is the leaf the key's path ends at, if any: the key's own leaf (inclusion), or
/// another key's leaf that occupies the subtree the key would be in (non-inclusion);
/// `None` means the key's path ends at an empty subtree (non-inclusion). `siblings` are the
/// hashes of the sibling subtrees along the path, from the leaf's level up to the root's
/// children: `siblings[i]` is the sibling at depth `n - 1 - i` (n = number of siblings),
/// whose side is given by bit `n - 1 - i` of the key hash (bit 0 = most significant bit of
/// byte 0). Canonical bytes: `encode(self)` (see `docs/proofs.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct StateProof {
    /// The leaf the path ends at, if any.
    pub leaf: Option<ProofLeaf>,
    /// Sibling hashes, leaf side first.
    pub siblings: Vec<Hash32>,
}

impl StateProof {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        decode(bytes)
    }

    /// Converts jmt's proof. Sibling nodes are reduced to their hashes: the node types jmt
    /// keeps (for update proofs) play no part in verification.
    pub fn from_jmt(
        proof: &jmt::proof::SparseMerkleProof<Blake3Hasher>,
    ) -> Result<Self, CommitmentError> {
        // jmt keeps the proof's fields private; its borsh encoding is the stable way out:
        // leaf: u8 tag (0 none, 1 some) [+ key_hash 32 + value_hash 32];
        // siblings: u32le count, then per node a u8 tag: 0 null, 1 internal (left 32,
        // right 32), 2 leaf (key_hash 32, value_hash 32).
        let bytes = borsh::to_vec(proof)
            .map_err(|e| CommitmentError::Corrupt(format!("jmt proof does not encode: {e}")))?;
        let mut r = ByteReader(&bytes);
        let bad = |what: &str| CommitmentError::Corrupt(format!("jmt proof: {what}"));
        let leaf = match r.u8().ok_or_else(|| bad("leaf tag"))? {
            0 => None,
            1 => Some(ProofLeaf {
                key_hash: r.hash().ok_or_else(|| bad("leaf key"))?,
                value_hash: r.hash().ok_or_else(|| bad("leaf value"))?,
            }),
            t => return Err(bad(&format!("leaf tag {t}"))),
        };
        let count = r.u32().ok_or_else(|| bad("sibling count"))? as usize;
        if count > MAX_SIBLINGS {
            return Err(bad("too many siblings"));
        }
        let mut siblings = Vec::with_capacity(count);
        for _ in 0..count {
            let hash = match r.u8().ok_or_else(|| bad("sibling tag"))? {
                0 => PLACEHOLDER_HASH,
                1 => {
                    let (l, rt) = (r.hash(), r.hash());
                    internal_node_hash(
                        &l.ok_or_else(|| bad("left"))?,
                        &rt.ok_or_else(|| bad("right"))?,
                    )
                }
                2 => {
                    let (k, v) = (r.hash(), r.hash());
                    leaf_node_hash(
                        &k.ok_or_else(|| bad("key"))?,
                        &v.ok_or_else(|| bad("value"))?,
                    )
                }
                t => return Err(bad(&format!("sibling tag {t}"))),
            };
            siblings.push(hash);
        }
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(StateProof { leaf, siblings })
    }

    /// The root this proof leads to for `key_hash` (no checks of the leaf against a key or
    /// value: use [`verify_state_proof`]).
    pub fn root_for(&self, key_hash: &Hash32) -> Hash32 {
        let n = self.siblings.len();
        let start = self.leaf.map_or(PLACEHOLDER_HASH, |l| {
            leaf_node_hash(&l.key_hash, &l.value_hash)
        });
        self.siblings
            .iter()
            .enumerate()
            .fold(start, |acc, (i, sibling)| {
                if bit(key_hash, n - 1 - i) {
                    internal_node_hash(sibling, &acc)
                } else {
                    internal_node_hash(&acc, sibling)
                }
            })
    }
}

struct ByteReader<'a>(&'a [u8]);

impl ByteReader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn hash(&mut self) -> Option<Hash32> {
        self.take::<32>().map(Hash32)
    }
}

/// Bit `i` of a hash, bit 0 being the most significant bit of byte 0.
pub(crate) fn bit(hash: &Hash32, i: usize) -> bool {
    (hash.0[i / 8] >> (7 - i % 8)) & 1 == 1
}

/// Number of leading bits two hashes share (256 if equal).
pub(crate) fn common_prefix_bits(a: &Hash32, b: &Hash32) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return i * 8 + d.leading_zeros() as usize;
        }
    }
    256
}

/// A value (or its absence) at a version, with its proof. Verify it against the
/// `state_root` of a certified header at that height ([`ProvenValue::verify`]).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProvenValue {
    /// The version (height) read.
    pub version: Version,
    /// The key.
    pub key: StateKey,
    /// Its value, or `None` if absent.
    pub value: Option<StateValue>,
    /// The proof.
    pub proof: StateProof,
}

impl ProvenValue {
    /// Checks the value (or absence) against a trusted state root.
    pub fn verify(&self, trusted_root: &Hash32) -> Result<(), StateProofError> {
        verify_state_proof(trusted_root, &self.key, self.value.as_ref(), &self.proof)
    }
}

/// Reads `key` at `version` with a proof against that version's root (the `state_root` of
/// the header at that height).
///
/// The proof is the one jmt's `get_with_proof` gives (tests check they are equal), built
/// here by walking the same nodes through the [`TreeReader`]: the sibling hashes come
/// straight from the child hashes stored in each internal node, where jmt re-reads the
/// sibling nodes and re-hashes sibling internal nodes, which made proofs about twice as
/// slow.
pub fn prove<R: TreeReader>(
    reader: &R,
    key: &StateKey,
    version: Version,
) -> Result<ProvenValue, CommitmentError> {
    let kh = key_hash(key);
    let (leaf, siblings) = walk(reader, &kh, version)?;
    let value = match &leaf {
        Some(l) if l.key_hash == kh => {
            let bytes = reader
                .get_value_option(version, KeyHash(kh.0))?
                .ok_or_else(|| CommitmentError::Storage(format!("value of {key:?} missing")))?;
            Some(decode_value(key, &bytes)?)
        }
        _ => None,
    };
    Ok(ProvenValue {
        version,
        key: key.clone(),
        value,
        proof: StateProof { leaf, siblings },
    })
}

/// Reads `key` at `version` with jmt's own proof generation, converted. Same result as
/// [`prove`] (slower); kept as the reference the tests compare against.
pub fn prove_with_jmt<R: TreeReader>(
    reader: &R,
    key: &StateKey,
    version: Version,
) -> Result<ProvenValue, CommitmentError> {
    let (bytes, proof) = StateJmt::new(reader)
        .get_with_proof(KeyHash(key_hash(key).0), version)
        .map_err(|e| match e.downcast_ref::<jmt::MissingRootError>() {
            Some(_) => CommitmentError::MissingVersion(version),
            None => e.into(),
        })?;
    let value = bytes.map(|b| decode_value(key, &b)).transpose()?;
    Ok(ProvenValue {
        version,
        key: key.clone(),
        value,
        proof: StateProof::from_jmt(&proof)?,
    })
}

/// The nibble of `hash` at `depth` (0 = high half of byte 0).
fn nibble_at(hash: &Hash32, depth: usize) -> u8 {
    let b = hash.0[depth / 2];
    if depth.is_multiple_of(2) {
        b >> 4
    } else {
        b & 0x0f
    }
}

/// One child slot of an internal node: its hash and whether it is a leaf.
type Slot = Option<([u8; 32], bool)>;

/// The hash of the subtree of an internal node's virtual 4-level binary tree covering
/// children `start .. start + width` (jmt's `InternalNode::merkle_hash`): the placeholder if
/// empty, the child's hash if it is the only one and a leaf (or `width` is 1), else the
/// internal hash of the two halves.
fn range_hash(slots: &[Slot; 16], start: usize, width: usize) -> Hash32 {
    let range = &slots[start..start + width];
    let mut present = range.iter().flatten();
    match (present.next(), present.next()) {
        (None, _) => PLACEHOLDER_HASH,
        (Some((hash, is_leaf)), None) if width == 1 || *is_leaf => Hash32(*hash),
        _ => internal_node_hash(
            &range_hash(slots, start, width / 2),
            &range_hash(slots, start + width / 2, width / 2),
        ),
    }
}

/// Walks from the root of `version` towards `kh`; returns the leaf the path ends at (if
/// any) and the sibling hashes, leaf side first.
pub(crate) fn walk<R: TreeReader>(
    reader: &R,
    kh: &Hash32,
    version: Version,
) -> Result<(Option<ProofLeaf>, Vec<Hash32>), CommitmentError> {
    let corrupt = |what: String| CommitmentError::Corrupt(what);
    let mut key = root_key(version);
    let mut node = reader
        .get_node_option(&key)?
        .ok_or(CommitmentError::MissingVersion(version))?;
    let mut siblings = Vec::with_capacity(64);
    for depth in 0..=64usize {
        let internal = match node {
            Node::Null if depth == 0 => return Ok((None, siblings)),
            Node::Null => return Err(corrupt(format!("null node at {key:?}"))),
            Node::Leaf(leaf) => {
                siblings.reverse();
                return Ok((Some(proof_leaf(&leaf)?), siblings));
            }
            Node::Internal(internal) => internal,
        };
        if depth == 64 {
            break;
        }
        let mut slots: [Slot; 16] = [None; 16];
        let mut versions = [0u64; 16];
        for (nibble, child) in internal.children_sorted() {
            let i = usize::from(u8::from(nibble));
            slots[i] = Some((child.hash, child.is_leaf()));
            versions[i] = child.version;
        }
        let n = usize::from(nibble_at(kh, depth));
        let mut next = None;
        for h in (0..4).rev() {
            let width = 1usize << h;
            let child_start = n & !(width - 1);
            siblings.push(range_hash(&slots, child_start ^ width, width));
            let range = &slots[child_start..child_start + width];
            let mut present = range.iter().enumerate().filter(|(_, s)| s.is_some());
            match (present.next(), present.next()) {
                (None, _) => {
                    // The key's subtree is empty.
                    siblings.reverse();
                    return Ok((None, siblings));
                }
                (Some((i, Some((_, is_leaf)))), None) if width == 1 || *is_leaf => {
                    next = Some(child_start + i);
                    break;
                }
                _ => {}
            }
        }
        let i = next.ok_or_else(|| corrupt(format!("no child on the path at {key:?}")))?;
        let path: NibblePath = key
            .nibble_path()
            .nibbles()
            .chain(
                internal
                    .children_sorted()
                    .map(|(nibble, _)| nibble)
                    .filter(|nibble| usize::from(u8::from(*nibble)) == i),
            )
            .collect();
        key = NodeKey::new(versions[i], path);
        node = reader
            .get_node_option(&key)?
            .ok_or_else(|| corrupt(format!("node {key:?} missing")))?;
    }
    Err(corrupt("path deeper than 64 nibbles".into()))
}

/// A leaf node's key hash and value hash (jmt keeps the value hash crate-private; its borsh
/// encoding is the two hashes).
pub(crate) fn proof_leaf(leaf: &LeafNode) -> Result<ProofLeaf, CommitmentError> {
    let bytes = borsh::to_vec(leaf)
        .map_err(|e| CommitmentError::Corrupt(format!("leaf does not encode: {e}")))?;
    let mut r = ByteReader(&bytes);
    match (r.hash(), r.hash(), r.0.is_empty()) {
        (Some(key_hash), Some(value_hash), true) => Ok(ProofLeaf {
            key_hash,
            value_hash,
        }),
        _ => Err(CommitmentError::Corrupt("leaf node encoding".into())),
    }
}

/// Why a state proof does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateProofError {
    /// More than [`MAX_SIBLINGS`] siblings.
    #[error("proof has {0} siblings, at most 256 are possible")]
    TooManySiblings(usize),
    /// A value was claimed but the proof ends at an empty subtree.
    #[error("a value was claimed but the proof is a non-inclusion proof")]
    NotAnInclusionProof,
    /// A value was claimed but the proof's leaf is another key's.
    #[error("the proof's leaf is for another key")]
    KeyMismatch,
    /// A value was claimed but the proof's leaf holds another value.
    #[error("the proof's leaf holds another value")]
    ValueMismatch,
    /// Absence was claimed but the proof's leaf is the key's own.
    #[error("absence was claimed but the proof shows the key present")]
    KeyPresent,
    /// Absence was claimed with another key's leaf that does not lie on the key's path.
    #[error("the proof's leaf does not lie on the key's path")]
    LeafOffPath,
    /// The proof leads to another root.
    #[error("root mismatch: the proof does not lead to the expected root")]
    RootMismatch,
}

/// Verifies that under state root `root`, `key` holds `value` (`Some`) or is absent
/// (`None`), by the algorithm of `docs/proofs.md`. Pure: needs nothing but the arguments.
pub fn verify_state_proof(
    root: &Hash32,
    key: &StateKey,
    value: Option<&StateValue>,
    proof: &StateProof,
) -> Result<(), StateProofError> {
    verify_state_proof_hashed(root, &key_hash(key), value.map(value_hash).as_ref(), proof)
}

/// [`verify_state_proof`] on a key hash and value hash.
pub fn verify_state_proof_hashed(
    root: &Hash32,
    key_hash: &Hash32,
    value_hash: Option<&Hash32>,
    proof: &StateProof,
) -> Result<(), StateProofError> {
    let n = proof.siblings.len();
    if n > MAX_SIBLINGS {
        return Err(StateProofError::TooManySiblings(n));
    }
    match (value_hash, &proof.leaf) {
        (Some(_), None) => return Err(StateProofError::NotAnInclusionProof),
        (Some(value_hash), Some(leaf)) => {
            if leaf.key_hash != *key_hash {
                return Err(StateProofError::KeyMismatch);
            }
            if leaf.value_hash != *value_hash {
                return Err(StateProofError::ValueMismatch);
            }
        }
        (None, Some(leaf)) => {
            if leaf.key_hash == *key_hash {
                return Err(StateProofError::KeyPresent);
            }
            // The other key's leaf must sit in the subtree our key would be in: both keys
            // share the n bits of the path.
            if common_prefix_bits(&leaf.key_hash, key_hash) < n {
                return Err(StateProofError::LeafOffPath);
            }
        }
        (None, None) => {}
    }
    if proof.root_for(key_hash) != *root {
        return Err(StateProofError::RootMismatch);
    }
    Ok(())
}

/// An in-memory tree store: nodes by key, values by (key hash, version), and the stale-node
/// index for pruning. Implements [`TreeReader`] and [`TreeWriter`].
#[derive(Debug, Default)]
pub struct MemTreeStore {
    inner: RwLock<MemTreeInner>,
}

impl Clone for MemTreeStore {
    fn clone(&self) -> Self {
        Self {
            inner: RwLock::new(self.read().clone()),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct MemTreeInner {
    nodes: BTreeMap<NodeKey, Node>,
    /// Keyed by key hash first, so the newest version at or below a bound is one range
    /// lookup.
    values: BTreeMap<(KeyHash, Version), Option<OwnedValue>>,
    stale: BTreeSet<StaleNodeIndex>,
}

impl MemTreeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemTreeInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, MemTreeInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Persists a whole update: nodes, values and stale-node indices.
    pub fn write_update(&self, update: &StateUpdate) {
        self.write_nodes(&update.node_batch());
        self.write().stale.extend(update.stale.iter().cloned());
    }

    /// Persists a batch as jmt returns it (tests that drive jmt directly).
    pub fn write_jmt_batch(&self, batch: &TreeUpdateBatch) {
        self.write_nodes(&batch.node_batch);
        self.write()
            .stale
            .extend(batch.stale_node_index_batch.iter().cloned());
    }

    fn write_nodes(&self, batch: &NodeBatch) {
        let mut inner = self.write();
        for (k, n) in batch.nodes() {
            inner.nodes.insert(k.clone(), n.clone());
        }
        for ((version, key), v) in batch.values() {
            inner.values.insert((*key, *version), v.clone());
        }
    }

    /// Commits `writes` as `version` and persists the result; returns the new root.
    pub fn commit(&self, version: Version, writes: &WriteSet) -> Result<Hash32, CommitmentError> {
        let update = commit_writes(self, version, writes)?;
        self.write_update(&update);
        Ok(update.root)
    }

    /// Forgets what only versions below `keep_from` need: nodes that became stale at or
    /// before `keep_from`, and values superseded at or before it. Versions from `keep_from`
    /// on stay fully provable; older ones may lose their root or nodes.
    pub fn prune(&self, keep_from: Version) {
        let mut inner = self.write();
        let boundary = StaleNodeIndex {
            stale_since_version: keep_from + 1,
            node_key: root_key(0),
        };
        let pruned: Vec<StaleNodeIndex> = inner
            .stale
            .range(..boundary)
            .filter(|s| s.stale_since_version <= keep_from)
            .cloned()
            .collect();
        for s in &pruned {
            inner.nodes.remove(&s.node_key);
            inner.stale.remove(s);
        }
        // For each key keep the newest value at or below keep_from and everything above.
        let mut drop = Vec::new();
        let mut prev: Option<(KeyHash, Version)> = None;
        for &(key, version) in inner.values.keys() {
            if let Some((pk, pv)) = prev
                && pk == key
                && version <= keep_from
            {
                drop.push((pk, pv));
            }
            prev = Some((key, version));
        }
        for k in drop {
            inner.values.remove(&k);
        }
    }

    /// Number of stored nodes.
    pub fn node_count(&self) -> usize {
        self.read().nodes.len()
    }

    /// Number of stored value versions.
    pub fn value_count(&self) -> usize {
        self.read().values.len()
    }
}

impl TreeReader for MemTreeStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.read().nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .read()
            .values
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .and_then(|(_, v)| v.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let inner = self.read();
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (k, n) in &inner.nodes {
            if let Node::Leaf(leaf) = n
                && best
                    .as_ref()
                    .is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
            {
                best = Some((k.clone(), leaf.clone()));
            }
        }
        Ok(best)
    }
}

impl TreeWriter for MemTreeStore {
    fn write_node_batch(&self, node_batch: &NodeBatch) -> anyhow::Result<()> {
        self.write_nodes(node_batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TxId;

    /// A tree key (the tree hashes any value bytes; these are small ones).
    fn k(i: u64) -> StateKey {
        StateKey::Redemption(TxId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
    }

    fn v(i: u64) -> StateValue {
        StateValue::SeenTx(i)
    }

    #[test]
    fn node_local_keys_are_not_in_the_tree() {
        let store = MemTreeStore::new();
        let mut w = writes([(1, Some(1))]);
        let without = store.commit(0, &w).unwrap();
        w.put(StateKey::SeenTx(TxId([7; 32])), StateValue::SeenTx(9));
        let store = MemTreeStore::new();
        assert_eq!(store.commit(0, &w).unwrap(), without);
        let mut tree = crate::state_tree::StateTree::default();
        assert_eq!(tree.apply_writes(&w), without);
    }

    fn writes(items: impl IntoIterator<Item = (u64, Option<u64>)>) -> WriteSet {
        let mut w = WriteSet::default();
        for (key, val) in items {
            match val {
                Some(x) => w.put(k(key), v(x)),
                None => w.delete(k(key)),
            }
        }
        w
    }

    /// The reference: jmt's per-key update alone, as the store would apply it.
    fn commit_per_key(store: &MemTreeStore, version: Version, w: &WriteSet) -> Hash32 {
        let vs: Vec<(KeyHash, Option<OwnedValue>)> =
            w.0.iter()
                .map(|(k, v)| (KeyHash(key_hash(k).0), v.as_ref().map(StateValue::to_bytes)))
                .collect();
        let (root, batch) = StateJmt::new(store).put_value_set(vs, version).unwrap();
        store.write_jmt_batch(&batch);
        Hash32(root.0)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// The combined update (per-key deletes, then batched puts) gives the roots and
        /// proofs of jmt's per-key update (and `prove` gives jmt's own proofs), writes no unreachable node, and marks stale
        /// exactly the nodes that stop being reachable; pruning keeps later versions whole.
        #[test]
        fn combined_update_matches_per_key_update(
            blocks in proptest::collection::vec(
                proptest::collection::vec((0u64..60, proptest::option::weighted(0.6, 0u64..4)), 0..25),
                1..8,
            ),
            keep_from in 0u64..8,
        ) {
            let fast = MemTreeStore::new();
            let slow = MemTreeStore::new();
            let mut reach = Vec::new();
            for (version, block) in blocks.iter().enumerate() {
                let version = version as u64;
                let w = writes(block.iter().copied());
                let update = commit_writes(&fast, version, &w).unwrap();
                fast.write_update(&update);
                let root = commit_per_key(&slow, version, &w);
                proptest::prop_assert_eq!(update.root, root);
                proptest::prop_assert_eq!(state_root(&fast, version).unwrap(), Some(root));
                let now = crate::testkit::reachable_nodes(&fast, version);
                for k in update.nodes.keys() {
                    proptest::prop_assert!(now.contains(k), "unreachable node {:?} written", k);
                }
                let stale: BTreeSet<NodeKey> = update.stale
                    .iter()
                    .map(|s| {
                        assert_eq!(s.stale_since_version, version);
                        s.node_key.clone()
                    })
                    .collect();
                if version > 0 {
                    let before: &BTreeSet<NodeKey> = &reach[version as usize - 1];
                    let gone: BTreeSet<NodeKey> = before.difference(&now).cloned().collect();
                    proptest::prop_assert_eq!(stale, gone);
                }
                reach.push(now);
                for key in 0..60 {
                    let a = prove(&fast, &k(key), version).unwrap();
                    let b = prove_with_jmt(&slow, &k(key), version).unwrap();
                    proptest::prop_assert_eq!(&a, &b);
                    proptest::prop_assert_eq!(&a, &prove_with_jmt(&fast, &k(key), version).unwrap());
                    a.verify(&root).unwrap();
                }
            }
            let last = blocks.len() as u64 - 1;
            let keep_from = keep_from.min(last);
            fast.prune(keep_from);
            for version in keep_from..=last {
                crate::testkit::reachable_nodes(&fast, version);
                let root = state_root(&fast, version).unwrap().unwrap();
                for key in 0..60 {
                    let p = prove(&fast, &k(key), version).unwrap();
                    proptest::prop_assert_eq!(&p, &prove(&slow, &k(key), version).unwrap());
                    p.verify(&root).unwrap();
                }
            }
            for version in 0..keep_from {
                proptest::prop_assert_eq!(state_root(&fast, version).unwrap(), None);
            }
        }
    }

    #[test]
    fn hasher_is_plain_blake3_and_constants_match_jmt() {
        assert_eq!(Blake3Hasher::hash(b"abc"), *blake3::hash(b"abc").as_bytes());
        assert_eq!(LEAF_DOMAIN, jmt::proof::LEAF_DOMAIN_SEPARATOR);
        assert_eq!(INTERNAL_DOMAIN, jmt::proof::INTERNAL_DOMAIN_SEPARATOR);
        assert_eq!(EMPTY_STATE_ROOT.0, StateJmt::<MemTreeStore>::EMPTY_ROOT.0);
    }

    #[test]
    fn empty_versions_carry_the_root_forward() {
        let store = MemTreeStore::new();
        assert_eq!(
            store.commit(0, &WriteSet::default()).unwrap(),
            EMPTY_STATE_ROOT
        );
        let r1 = store.commit(1, &writes([(1, Some(1))])).unwrap();
        assert_ne!(r1, EMPTY_STATE_ROOT);
        assert_eq!(store.commit(2, &WriteSet::default()).unwrap(), r1);
        // Deleting an absent key changes nothing either.
        assert_eq!(store.commit(3, &writes([(9, None)])).unwrap(), r1);
        let r4 = store
            .commit(4, &writes([(2, Some(2)), (3, Some(3))]))
            .unwrap();
        assert_eq!(store.commit(5, &WriteSet::default()).unwrap(), r4);
        assert_eq!(
            store
                .commit(6, &writes([(1, None), (2, None), (3, None)]))
                .unwrap(),
            EMPTY_STATE_ROOT
        );
        assert_eq!(
            store.commit(7, &WriteSet::default()).unwrap(),
            EMPTY_STATE_ROOT
        );
        for (version, root) in [
            (0, EMPTY_STATE_ROOT),
            (1, r1),
            (2, r1),
            (3, r1),
            (4, r4),
            (5, r4),
        ] {
            assert_eq!(state_root(&store, version).unwrap(), Some(root));
        }
        // Proofs work at a carried-forward version.
        let p = prove(&store, &k(1), 2).unwrap();
        assert_eq!(p.value, Some(v(1)));
        p.verify(&r1).unwrap();
        let p = prove(&store, &k(2), 5).unwrap();
        assert_eq!(p.value, Some(v(2)));
        p.verify(&r4).unwrap();
        let p = prove(&store, &k(2), 7).unwrap();
        assert_eq!(p.value, None);
        p.verify(&EMPTY_STATE_ROOT).unwrap();
    }

    #[test]
    fn versions_are_committed_once_and_in_order() {
        let store = MemTreeStore::new();
        assert_eq!(
            store.commit(1, &writes([(1, Some(1))])),
            Err(CommitmentError::MissingVersion(0))
        );
        store.commit(0, &writes([(1, Some(1))])).unwrap();
        assert_eq!(
            store.commit(0, &writes([(1, Some(2))])),
            Err(CommitmentError::AlreadyCommitted(0))
        );
        assert_eq!(
            prove(&store, &k(1), 1).unwrap_err(),
            CommitmentError::MissingVersion(1)
        );
    }

    #[test]
    fn values_and_proofs_at_old_versions_and_pruning() {
        let store = MemTreeStore::new();
        let mut roots = vec![];
        for version in 0..6u64 {
            roots.push(
                store
                    .commit(
                        version,
                        &writes([(1, Some(version)), (version + 10, Some(version))]),
                    )
                    .unwrap(),
            );
        }
        for version in 0..6u64 {
            assert_eq!(get(&store, &k(1), version).unwrap(), Some(v(version)));
            let p = prove(&store, &k(1), version).unwrap();
            assert_eq!(p.value, Some(v(version)));
            p.verify(&roots[version as usize]).unwrap();
            assert!(p.verify(&roots[(version as usize + 1) % 6]).is_err());
        }
        store.prune(3);
        for version in 3..6u64 {
            let p = prove(&store, &k(1), version).unwrap();
            assert_eq!(p.value, Some(v(version)));
            p.verify(&roots[version as usize]).unwrap();
            for other in 10..16 {
                let p = prove(&store, &k(other), version).unwrap();
                assert_eq!(p.value.is_some(), other - 10 <= version);
                p.verify(&roots[version as usize]).unwrap();
            }
        }
        assert_eq!(state_root(&store, 0).unwrap(), None);
        assert!(matches!(
            prove(&store, &k(1), 0),
            Err(CommitmentError::MissingVersion(0))
        ));
    }
}
