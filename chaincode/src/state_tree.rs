//! An in-memory state tree that computes jmt's exact roots and proofs (issue 18, step 3).
//!
//! This module owns the *latest* version of the state commitment held in memory: a binary
//! Patricia trie over key hashes whose root is, bit for bit, the root jmt computes for the
//! same key/value hashes ([`crate::commitment`]), and whose proofs are jmt's
//! [`StateProof`]s, so `verify_state_proof` and `docs/proofs.md` stay as they are. jmt stays
//! the oracle: the tests build both trees from random workloads (inserts, updates, deletes,
//! empty versions) and require identical roots and proofs.
//!
//! **Why jmt's tree is a binary sparse Merkle tree.** jmt hashes each 16-way internal node
//! as a virtual 4-level binary tree in which an empty range is [`PLACEHOLDER_HASH`], a range
//! holding one *leaf* is that leaf's hash, and anything else is
//! `internal_node_hash(left half, right half)`; it never keeps an internal node whose
//! subtree holds a single leaf. Seen across nibble levels, that is the binary sparse Merkle
//! tree over the 256 bits of each key hash in which (a) an empty subtree hashes to the
//! placeholder, (b) a subtree holding exactly one leaf hashes to that leaf's
//! `leaf_node_hash`, wherever it sits, and (c) every other subtree is the internal hash of
//! its two halves, including a chain of one-sided levels above a split (each such level
//! pairs the child with a placeholder). A proof is the sibling hashes along a key's path
//! from the root down to the first subtree holding at most one leaf.
//!
//! **How it is stored.** Nodes live in an arena (`Vec`, `u32` indices, freed slots reused).
//! A leaf keeps its key hash and value hash (its leaf hash is recomputed where needed).
//! An internal node sits where its two children's keys first differ (`split`, a bit
//! index), so runs of one-sided levels are not stored; they are re-derived when hashing
//! ([`extend`]). Each internal node keeps the hash
//! of its subtree at its split level, one key hash from below it (the bits above `split`
//! are shared by every key below), and a dirty flag.
//!
//! **Updates.** [`StateTree::apply`] makes all of a block's structural changes first
//! (marking the internal nodes on each changed path dirty), then rehashes each dirty node
//! once, children first: a block of B changes in a tree of N keys costs about
//! B·log2(N) internal hashes, with no reads from storage and no node encoding.
//!
//! **Persistence** ([`persist`]): [`StateTree::commit`] returns, for each version, the jmt
//! nodes, values and stale indices `commit_writes` would (the same tree of jmt nodes, so
//! stored proofs at any height read them as before), built from the nodes the version
//! touched without reading storage; [`StateTree::load`] opens the tree from them.
//!
//! **Residency** ([`evict`]): once a version is stored, [`StateTree::evict`] replaces the
//! least recently changed subtrees by *stubs* (the stored jmt node's position, hash and
//! leaf count) to keep the resident nodes within a budget; a commit, lookup or proof that
//! reaches a stub reads that one stored node back through jmt's `TreeReader` and checks
//! it against the stub's hash ([`StateTree::resolve`]). Loading reads the root's node only.
//! The tree does no I/O of its own (the caller passes the reader) and iterates no hash map,
//! like the rest of the chaincode.
//!
//! Written by hand: no maintained crate computes jmt's hashes with an in-memory binary
//! trie (jmt itself reads and writes 16-way nodes through its storage traits, which is the
//! cost this module removes).

use crate::commitment::CommitmentError;
use crate::commitment::{
    PLACEHOLDER_HASH, ProofLeaf, StateProof, bit, common_prefix_bits, internal_node_hash, key_hash,
    leaf_node_hash, value_hash,
};
use crate::ids::Hash32;
use crate::state::WriteSet;
use jmt::storage::{LeafNode, Node as JmtNode, NodeKey, TreeReader};

/// An index into the arena.
type Index = u32;

/// Bits in a key hash; the deepest split is bit 255.
const KEY_BITS: usize = 256;

#[derive(Clone, Debug)]
enum Node {
    /// One key: its key hash and value hash (its hash, `leaf_node_hash(key, value)`, is
    /// recomputed where needed: 32 bytes less per leaf for one hash per use).
    Leaf {
        key: Hash32,
        value: Hash32,
        /// The version of its persisted jmt leaf ([`persist`]): when it last changed or moved.
        version: u64,
    },
    /// Two non-empty subtrees whose keys first differ at bit `split`.
    Internal {
        /// The bit that sends a key left (0) or right (1).
        split: u16,
        /// A key hash from below: its bits `0..split` are every key's below.
        key: Hash32,
        left: Index,
        right: Index,
        /// The subtree's hash at depth `split` (stale while `dirty`).
        hash: Hash32,
        dirty: bool,
        /// Keys below (jmt's `leaf_count`).
        leaves: u32,
        /// The version of the persisted jmt nodes it stands for ([`persist`]).
        version: u64,
    },
    /// A subtree that is not in memory ([`StateTree::evict`]): the stored jmt node at the
    /// first `depth` nibbles of `key`, written at `version`. It is read back
    /// ([`StateTree::resolve`]) before anything changes, moves or is looked up below it.
    Stub {
        /// Its first `4 * depth` bits are every key's below (the rest may be zero).
        key: Hash32,
        /// The subtree's hash at bit `4 * depth` (jmt's child hash in the parent node).
        hash: Hash32,
        version: u64,
        /// Keys below; 1 for a single leaf.
        leaves: u32,
        /// The nibble depth of its stored node (at least 1: the root is never a stub).
        depth: u8,
    },
    /// A slot on the free list.
    Free,
}

/// What removing a key did to a subtree.
enum Removed {
    /// The key was not there.
    Absent,
    /// The subtree is now empty.
    Empty,
    /// The subtree is now rooted at this node.
    Root(Index),
}

/// Slots the arena grows by at least when it is full (see [`StateTree::arena_bytes`]).
const ARENA_MIN_GROWTH: usize = 1024;

/// The latest version of the state tree, in memory. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct StateTree {
    nodes: Vec<Node>,
    free: Vec<Index>,
    root: Option<Index>,
    /// The version the writes being applied belong to: nodes they change or move take it.
    version: u64,
    /// The last version committed ([`StateTree::commit`]) or loaded ([`StateTree::load`]).
    committed: Option<u64>,
    /// Whether to record the persisted positions that changes replace (only while
    /// committing; [`StateTree::apply`] alone persists nothing).
    record: bool,
    /// Set while a commit changes the tree and cleared when it completes: a commit that
    /// failed reading an evicted subtree left the tree half changed, and it refuses to go on
    /// ([`StateTree::is_broken`]).
    broken: bool,
    /// The persisted jmt nodes the writes being applied replace or drop (the stale index).
    stale: Vec<persist::Position>,
    /// Nodes loaded from a tree whose one-sided chain of jmt nodes has mixed versions (jmt
    /// writes those; this tree never does): their exact positions, for the stale index.
    mixed: std::collections::BTreeMap<Index, Vec<persist::Position>>,
}

/// The storage of a tree that never evicts: [`StateTree::apply`] reads nothing.
struct NoStorage;

impl TreeReader for NoStorage {
    fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<JmtNode>> {
        anyhow::bail!("node {key:?} is evicted and this tree has no storage to read it from")
    }

    fn get_value_option(
        &self,
        _max_version: jmt::Version,
        _key_hash: jmt::KeyHash,
    ) -> anyhow::Result<Option<jmt::OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// Nibble depth from which subtrees may be evicted: the levels above (at most 17 jmt
/// nodes, 527 tree nodes) stay resident; below, a million keys make 256 candidates of
/// about 8,000 keys each.
const RESIDENT_DEPTH: usize = 2;

impl StateTree {
    /// An empty tree (root [`crate::commitment::EMPTY_STATE_ROOT`]).
    pub fn new() -> StateTree {
        StateTree::default()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.root.map_or(0, |r| self.leaf_count(r) as usize)
    }

    /// Whether the tree holds no key.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Bytes of one arena slot.
    pub const NODE_BYTES: usize = std::mem::size_of::<Node>();

    /// Nodes in the arena (live and free): the tree costs about this many times
    /// [`StateTree::NODE_BYTES`] in memory.
    pub fn arena_len(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes the arena and its free list hold (capacity, not length: what the tree costs
    /// in memory; the arena grows by an eighth at a time, so this stays within about
    /// 1/8 of [`StateTree::arena_len`] × [`StateTree::NODE_BYTES`]).
    pub fn arena_bytes(&self) -> usize {
        self.nodes.capacity() * Self::NODE_BYTES
            + self.free.capacity() * std::mem::size_of::<Index>()
    }

    /// Nodes in memory (the arena without its free slots).
    pub fn resident(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Whether a commit failed half way (reading an evicted subtree failed): the tree no
    /// longer matches any version and must be loaded again.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Applies a block's writes (chaincode keys and values; node-local keys are skipped, see
    /// [`crate::state::StateKey::is_node_local`]) and returns the new root.
    /// For trees that are never evicted (see [`StateTree::apply`]).
    pub fn apply_writes(&mut self, writes: &WriteSet) -> Hash32 {
        self.apply(
            writes
                .0
                .iter()
                .filter(|(k, _)| !k.is_node_local())
                .map(|(k, v)| (key_hash(k), v.as_ref().map(value_hash))),
        )
    }

    /// Applies puts (`Some(value hash)`) and deletes (`None`) by key hash, then rehashes
    /// what changed once, and returns the new root. Deleting an absent key changes nothing.
    ///
    /// For trees kept whole in memory (audit replay, tests): it reads no storage, so it
    /// panics on a tree that [`StateTree::evict`]ed a subtree it reaches; commits
    /// ([`StateTree::commit`]) read evicted subtrees back.
    pub fn apply(&mut self, writes: impl IntoIterator<Item = (Hash32, Option<Hash32>)>) -> Hash32 {
        self.version += 1;
        self.apply_from(&NoStorage, writes)
            .expect("a tree that was never evicted reads no storage")
    }

    fn apply_from<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        writes: impl IntoIterator<Item = (Hash32, Option<Hash32>)>,
    ) -> Result<Hash32, CommitmentError> {
        for (key, value) in writes {
            match value {
                Some(value) => self.put(reader, key, value)?,
                None => self.delete(reader, &key)?,
            }
        }
        if let Some(root) = self.root {
            self.rehash(root);
        }
        Ok(self.root_hash())
    }

    /// The root (all writes applied so far are hashed: `apply` rehashes before returning).
    pub fn root_hash(&self) -> Hash32 {
        self.root.map_or(PLACEHOLDER_HASH, |r| self.seen_from(r, 0))
    }

    /// The value hash of `key`, if present. Panics if `key`'s path is evicted (see
    /// [`StateTree::get_from`]).
    pub fn get(&self, key: &Hash32) -> Option<Hash32> {
        let mut at = self.root?;
        loop {
            match &self.nodes[at as usize] {
                Node::Leaf { key: k, value, .. } => return (k == key).then_some(*value),
                Node::Internal {
                    split, left, right, ..
                } => {
                    at = if bit(key, usize::from(*split)) {
                        *right
                    } else {
                        *left
                    }
                }
                Node::Stub { .. } => panic!("the path of {key} is evicted: use get_from"),
                Node::Free => unreachable!("a free slot is linked from the tree"),
            }
        }
    }

    /// [`StateTree::get`], reading what is evicted on `key`'s path from `reader`.
    pub fn get_from<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        key: &Hash32,
    ) -> Result<Option<Hash32>, CommitmentError> {
        self.resolve_path(reader, key)?;
        Ok(self.get(key))
    }

    /// [`StateTree::prove`], reading what is evicted on `key`'s path from `reader`.
    pub fn prove_from<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        key: &Hash32,
    ) -> Result<StateProof, CommitmentError> {
        self.resolve_path(reader, key)?;
        Ok(self.prove(key))
    }

    /// Reads back every evicted subtree on `key`'s path.
    fn resolve_path<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        key: &Hash32,
    ) -> Result<(), CommitmentError> {
        let mut next = self.root;
        while let Some(at) = next.take() {
            self.resolve(reader, at)?;
            if let Node::Internal {
                split, left, right, ..
            } = self.nodes[at as usize]
            {
                next = Some(if bit(key, usize::from(split)) {
                    right
                } else {
                    left
                });
            }
        }
        Ok(())
    }

    /// The proof of `key`'s value or absence under [`StateTree::root_hash`]: the proof jmt
    /// gives at the same version (same leaf, same siblings). Panics if `key`'s path is
    /// evicted (see [`StateTree::prove_from`]).
    pub fn prove(&self, key: &Hash32) -> StateProof {
        let mut siblings = Vec::with_capacity(64);
        let mut leaf = None;
        let mut next = self.root;
        let mut top = 0usize;
        while let Some(at) = next.take() {
            match &self.nodes[at as usize] {
                Node::Leaf { key, value, .. } => {
                    leaf = Some(ProofLeaf {
                        key_hash: *key,
                        value_hash: *value,
                    });
                }
                Node::Internal {
                    split,
                    key: below,
                    left,
                    right,
                    ..
                } => {
                    let split = usize::from(*split);
                    let shared = common_prefix_bits(key, below);
                    if shared < split {
                        // The key leaves this subtree's path at bit `shared`: its side is
                        // empty, the other side is the whole subtree.
                        siblings.extend(std::iter::repeat_n(PLACEHOLDER_HASH, shared - top));
                        siblings.push(self.seen_from(at, shared + 1));
                        break;
                    }
                    siblings.extend(std::iter::repeat_n(PLACEHOLDER_HASH, split - top));
                    let (near, far) = if bit(key, split) {
                        (*right, *left)
                    } else {
                        (*left, *right)
                    };
                    siblings.push(self.seen_from(far, split + 1));
                    next = Some(near);
                    top = split + 1;
                }
                Node::Stub { .. } => panic!("the path of {key} is evicted: use prove_from"),
                Node::Free => unreachable!("a free slot is linked from the tree"),
            }
        }
        siblings.reverse();
        StateProof { leaf, siblings }
    }

    fn put<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        key: Hash32,
        value: Hash32,
    ) -> Result<(), CommitmentError> {
        let root = match self.root {
            None => self.new_leaf(key, value),
            Some(root) => self.insert(reader, root, 0, key, value)?,
        };
        self.root = Some(root);
        Ok(())
    }

    fn delete<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        key: &Hash32,
    ) -> Result<(), CommitmentError> {
        let Some(root) = self.root else {
            return Ok(());
        };
        match self.remove(reader, root, 0, key)? {
            Removed::Absent => {}
            Removed::Empty => self.root = None,
            Removed::Root(r) => self.root = Some(r),
        }
        Ok(())
    }

    /// Puts `key` into the subtree at `at`, whose parent splits at `top - 1` (the root's
    /// `top` is 0); returns the subtree's (possibly new) root.
    fn insert<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        at: Index,
        top: usize,
        key: Hash32,
        value: Hash32,
    ) -> Result<Index, CommitmentError> {
        self.resolve(reader, at)?;
        let (split, below) = match &self.nodes[at as usize] {
            Node::Leaf { key: k, .. } if *k == key => {
                self.touch(at, top);
                if let Node::Leaf { value: v, .. } = &mut self.nodes[at as usize] {
                    *v = value;
                }
                return Ok(at);
            }
            Node::Leaf { key: k, .. } => (KEY_BITS, *k),
            Node::Internal { split, key: k, .. } => (usize::from(*split), *k),
            Node::Stub { .. } | Node::Free => unreachable!("resolved above"),
        };
        let shared = common_prefix_bits(&key, &below);
        if shared < split {
            // The new key leaves this subtree's path above its split (or differs from the
            // leaf): a new internal node at `shared` joins the two, and `at` moves down.
            self.touch(at, top);
            let leaf = self.new_leaf(key, value);
            return Ok(self.join(at, leaf, key, shared));
        }
        let right = bit(&key, split);
        let child = self.child(at, right);
        let before = self.leaf_count(child);
        let child = self.insert(reader, child, split + 1, key, value)?;
        self.set_child(at, right, child);
        self.touch(at, top);
        if self.leaf_count(child) > before {
            self.add_leaves(at, 1);
        }
        Ok(at)
    }

    /// Removes `key` from the subtree at `at` (whose parent splits at `top - 1`).
    fn remove<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        at: Index,
        top: usize,
        key: &Hash32,
    ) -> Result<Removed, CommitmentError> {
        self.resolve(reader, at)?;
        let (split, below) = match &self.nodes[at as usize] {
            Node::Leaf { key: k, .. } if k == key => {
                self.release(at, top);
                return Ok(Removed::Empty);
            }
            Node::Leaf { .. } => return Ok(Removed::Absent),
            Node::Internal { split, key: k, .. } => (usize::from(*split), *k),
            Node::Stub { .. } | Node::Free => unreachable!("resolved above"),
        };
        if common_prefix_bits(key, &below) < split {
            return Ok(Removed::Absent);
        }
        let right = bit(key, split);
        Ok(
            match self.remove(reader, self.child(at, right), split + 1, key)? {
                Removed::Absent => Removed::Absent,
                Removed::Empty => {
                    // One child left: it takes this node's place (and moves up).
                    let survivor = self.child(at, !right);
                    self.resolve(reader, survivor)?;
                    self.touch(survivor, split + 1);
                    self.release(at, top);
                    Removed::Root(survivor)
                }
                Removed::Root(child) => {
                    self.set_child(at, right, child);
                    self.touch(at, top);
                    self.add_leaves(at, -1);
                    Removed::Root(at)
                }
            },
        )
    }

    /// Gives `at` (whose parent splits at `top - 1`) the version being applied: its
    /// persisted nodes are rewritten at that version, so (when recording) the ones it had
    /// go to the stale index. A node already at this version was touched or made by it.
    fn touch(&mut self, at: Index, top: usize) {
        let now = self.version;
        let (version, key, split) = match &mut self.nodes[at as usize] {
            Node::Leaf { version, key, .. } => (version, *key, None),
            Node::Internal {
                version,
                key,
                split,
                ..
            } => (version, *key, Some(usize::from(*split))),
            Node::Stub { .. } | Node::Free => unreachable!("only resident nodes are touched"),
        };
        if *version >= now {
            return;
        }
        let old = std::mem::replace(version, now);
        self.forget(at, old, key, top, split);
    }

    /// Records the persisted positions of node `at` (at `version`, below `top`, splitting
    /// at `split` or a leaf) as stale, when recording.
    fn forget(&mut self, at: Index, version: u64, key: Hash32, top: usize, split: Option<usize>) {
        let mixed = self.mixed.remove(&at);
        if !self.record {
            return;
        }
        match mixed {
            Some(positions) => self.stale.extend(positions),
            None => self
                .stale
                .extend(persist::depths(top, split).map(|depth| persist::Position {
                    version,
                    key,
                    depth: depth as u8,
                })),
        }
    }

    fn add_leaves(&mut self, at: Index, delta: i32) {
        if let Node::Internal { leaves, .. } = &mut self.nodes[at as usize] {
            *leaves = leaves.wrapping_add_signed(delta);
        }
    }

    fn leaf_count(&self, at: Index) -> u32 {
        match &self.nodes[at as usize] {
            Node::Internal { leaves, .. } | Node::Stub { leaves, .. } => *leaves,
            _ => 1,
        }
    }

    /// Rehashes the dirty internal nodes below and at `at`, children first.
    fn rehash(&mut self, at: Index) {
        let Node::Internal {
            split,
            left,
            right,
            dirty: true,
            ..
        } = self.nodes[at as usize]
        else {
            return;
        };
        self.rehash(left);
        self.rehash(right);
        let below = usize::from(split) + 1;
        let hash = internal_node_hash(&self.seen_from(left, below), &self.seen_from(right, below));
        if let Node::Internal {
            hash: h, dirty: d, ..
        } = &mut self.nodes[at as usize]
        {
            *h = hash;
            *d = false;
        }
    }

    /// The hash of the subtree at `at` as seen from depth `top` (its parent's split + 1,
    /// or 0 for the root): a leaf is its own hash at any depth; an internal node's hash is
    /// carried up through the one-sided levels between `top` and its split.
    fn seen_from(&self, at: Index, top: usize) -> Hash32 {
        match &self.nodes[at as usize] {
            Node::Leaf { key, value, .. } => leaf_node_hash(key, value),
            Node::Internal {
                split, key, hash, ..
            } => {
                debug_assert!(usize::from(*split) >= top, "a child sits below its parent");
                extend(*hash, key, usize::from(*split), top)
            }
            Node::Stub {
                hash, leaves: 1, ..
            } => *hash,
            Node::Stub {
                key, hash, depth, ..
            } => extend(*hash, key, 4 * usize::from(*depth), top),
            Node::Free => unreachable!("a free slot is linked from the tree"),
        }
    }

    fn child(&self, at: Index, right: bool) -> Index {
        match &self.nodes[at as usize] {
            Node::Internal { left, right: r, .. } => {
                if right {
                    *r
                } else {
                    *left
                }
            }
            _ => unreachable!("only internal nodes have children"),
        }
    }

    fn set_child(&mut self, at: Index, right: bool, child: Index) {
        if let Node::Internal {
            left,
            right: r,
            dirty,
            ..
        } = &mut self.nodes[at as usize]
        {
            if right {
                *r = child;
            } else {
                *left = child;
            }
            *dirty = true;
        }
    }

    /// A new internal node at bit `split` over `old` and the new leaf `leaf` (of `key`).
    fn join(&mut self, old: Index, leaf: Index, key: Hash32, split: usize) -> Index {
        debug_assert!(split < KEY_BITS, "distinct keys differ in some bit");
        let (left, right) = if bit(&key, split) {
            (old, leaf)
        } else {
            (leaf, old)
        };
        let leaves = self.leaf_count(old) + 1;
        self.alloc(Node::Internal {
            split: split as u16,
            key,
            left,
            right,
            hash: PLACEHOLDER_HASH,
            dirty: true,
            leaves,
            version: self.version,
        })
    }

    fn new_leaf(&mut self, key: Hash32, value: Hash32) -> Index {
        let version = self.version;
        self.alloc(Node::Leaf {
            key,
            value,
            version,
        })
    }

    fn alloc(&mut self, node: Node) -> Index {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = Index::try_from(self.nodes.len()).expect("at most 2^32 tree nodes");
                if self.nodes.len() == self.nodes.capacity() {
                    // Grow by an eighth, not the doubling `push` would do: the arena is the
                    // largest allocation of a node (a million nodes is ~90 MiB), and doubling
                    // just past the resident budget would hold twice the budget.
                    let more = (self.nodes.len() / 8).max(ARENA_MIN_GROWTH);
                    self.nodes.reserve_exact(more);
                }
                self.nodes.push(node);
                i
            }
        }
    }

    /// Frees `at` (whose parent splits at `top - 1`); its persisted nodes, if it had any
    /// before the version being applied, go to the stale index.
    fn release(&mut self, at: Index, top: usize) {
        let (version, key, split) = match &self.nodes[at as usize] {
            Node::Leaf { version, key, .. } => (*version, *key, None),
            Node::Internal {
                version,
                key,
                split,
                ..
            } => (*version, *key, Some(usize::from(*split))),
            Node::Stub { .. } | Node::Free => unreachable!("only resident nodes are released"),
        };
        if version < self.version {
            self.forget(at, version, key, top, split);
        } else {
            self.mixed.remove(&at);
        }
        self.free_slot(at);
    }

    fn free_slot(&mut self, at: Index) {
        self.nodes[at as usize] = Node::Free;
        self.free.push(at);
    }
}

/// Carries `hash`, the hash of a subtree at depth `from`, up to depth `top` through
/// one-sided levels: at each level the other side is empty (a placeholder), the side is
/// given by the bit of `key` at that level.
fn extend(mut hash: Hash32, key: &Hash32, from: usize, top: usize) -> Hash32 {
    for depth in (top..from).rev() {
        hash = if bit(key, depth) {
            internal_node_hash(&PLACEHOLDER_HASH, &hash)
        } else {
            internal_node_hash(&hash, &PLACEHOLDER_HASH)
        };
    }
    hash
}

mod evict;
mod persist;
#[cfg(test)]
mod tests;
