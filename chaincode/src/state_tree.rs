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
//! A leaf keeps its key hash, value hash and leaf hash. An internal node sits where its two
//! children's keys first differ (`split`, a bit index), so runs of one-sided levels are not
//! stored; they are re-derived when hashing ([`extend`]). Each internal node keeps the hash
//! of its subtree at its split level, one key hash from below it (the bits above `split`
//! are shared by every key below), and a dirty flag.
//!
//! **Updates.** [`StateTree::apply`] makes all of a block's structural changes first
//! (marking the internal nodes on each changed path dirty), then rehashes each dirty node
//! once, children first: a block of B changes in a tree of N keys costs about
//! B·log2(N) internal hashes, with no reads from storage and no node encoding.
//!
//! **What it does not do yet.** It holds one version; proofs at older heights, persistence
//! and a bounded resident set are later steps of issue 18. It is pure (no I/O, no hash-map
//! iteration) like the rest of the chaincode.
//!
//! Written by hand: no maintained crate computes jmt's hashes with an in-memory binary
//! trie (jmt itself reads and writes 16-way nodes through its storage traits, which is the
//! cost this module removes).

use crate::commitment::{
    PLACEHOLDER_HASH, ProofLeaf, StateProof, bit, common_prefix_bits, internal_node_hash, key_hash,
    leaf_node_hash, value_hash,
};
use crate::ids::Hash32;
use crate::state::WriteSet;

/// An index into the arena.
type Index = u32;

/// Bits in a key hash; the deepest split is bit 255.
const KEY_BITS: usize = 256;

#[derive(Clone, Debug)]
enum Node {
    /// One key: its key hash, value hash and `leaf_node_hash(key, value)`.
    Leaf {
        key: Hash32,
        value: Hash32,
        hash: Hash32,
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

/// The latest version of the state tree, in memory. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct StateTree {
    nodes: Vec<Node>,
    free: Vec<Index>,
    root: Option<Index>,
    leaves: usize,
}

impl StateTree {
    /// An empty tree (root [`crate::commitment::EMPTY_STATE_ROOT`]).
    pub fn new() -> StateTree {
        StateTree::default()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.leaves
    }

    /// Whether the tree holds no key.
    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Bytes of one arena slot.
    pub const NODE_BYTES: usize = std::mem::size_of::<Node>();

    /// Nodes in the arena (live and free): the tree costs about this many times
    /// [`StateTree::NODE_BYTES`] in memory.
    pub fn arena_len(&self) -> usize {
        self.nodes.len()
    }

    /// Applies a block's writes (chaincode keys and values) and returns the new root.
    pub fn apply_writes(&mut self, writes: &WriteSet) -> Hash32 {
        self.apply(
            writes
                .0
                .iter()
                .map(|(k, v)| (key_hash(k), v.as_ref().map(value_hash))),
        )
    }

    /// Applies puts (`Some(value hash)`) and deletes (`None`) by key hash, then rehashes
    /// what changed once, and returns the new root. Deleting an absent key changes nothing.
    pub fn apply(&mut self, writes: impl IntoIterator<Item = (Hash32, Option<Hash32>)>) -> Hash32 {
        for (key, value) in writes {
            match value {
                Some(value) => self.put(key, value),
                None => self.delete(&key),
            }
        }
        if let Some(root) = self.root {
            self.rehash(root);
        }
        self.root_hash()
    }

    /// The root (all writes applied so far are hashed: `apply` rehashes before returning).
    pub fn root_hash(&self) -> Hash32 {
        self.root.map_or(PLACEHOLDER_HASH, |r| self.seen_from(r, 0))
    }

    /// The value hash of `key`, if present.
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
                Node::Free => unreachable!("a free slot is linked from the tree"),
            }
        }
    }

    /// The proof of `key`'s value or absence under [`StateTree::root_hash`]: the proof jmt
    /// gives at the same version (same leaf, same siblings).
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
                Node::Free => unreachable!("a free slot is linked from the tree"),
            }
        }
        siblings.reverse();
        StateProof { leaf, siblings }
    }

    fn put(&mut self, key: Hash32, value: Hash32) {
        let root = match self.root {
            None => {
                self.leaves += 1;
                self.new_leaf(key, value)
            }
            Some(root) => self.insert(root, key, value),
        };
        self.root = Some(root);
    }

    fn delete(&mut self, key: &Hash32) {
        let Some(root) = self.root else { return };
        match self.remove(root, key) {
            Removed::Absent => {}
            Removed::Empty => self.root = None,
            Removed::Root(r) => self.root = Some(r),
        }
    }

    /// Puts `key` into the subtree at `at`; returns the subtree's (possibly new) root.
    fn insert(&mut self, at: Index, key: Hash32, value: Hash32) -> Index {
        let (split, below) = match &mut self.nodes[at as usize] {
            Node::Leaf {
                key: k,
                value: v,
                hash,
            } if *k == key => {
                if *v != value {
                    *v = value;
                    *hash = leaf_node_hash(&key, &value);
                }
                return at;
            }
            Node::Leaf { key: k, .. } => (KEY_BITS, *k),
            Node::Internal { split, key: k, .. } => (usize::from(*split), *k),
            Node::Free => unreachable!("a free slot is linked from the tree"),
        };
        let shared = common_prefix_bits(&key, &below);
        if shared < split {
            // The new key leaves this subtree's path above its split (or differs from the
            // leaf): a new internal node at `shared` joins the two.
            self.leaves += 1;
            let leaf = self.new_leaf(key, value);
            return self.join(at, leaf, key, shared);
        }
        let right = bit(&key, split);
        let child = self.child(at, right);
        let child = self.insert(child, key, value);
        self.set_child(at, right, child);
        at
    }

    /// Removes `key` from the subtree at `at`.
    fn remove(&mut self, at: Index, key: &Hash32) -> Removed {
        let (split, below) = match &self.nodes[at as usize] {
            Node::Leaf { key: k, .. } if k == key => {
                self.release(at);
                self.leaves -= 1;
                return Removed::Empty;
            }
            Node::Leaf { .. } => return Removed::Absent,
            Node::Internal { split, key: k, .. } => (usize::from(*split), *k),
            Node::Free => unreachable!("a free slot is linked from the tree"),
        };
        if common_prefix_bits(key, &below) < split {
            return Removed::Absent;
        }
        let right = bit(key, split);
        match self.remove(self.child(at, right), key) {
            Removed::Absent => Removed::Absent,
            Removed::Empty => {
                // One child left: it takes this node's place.
                let survivor = self.child(at, !right);
                self.release(at);
                Removed::Root(survivor)
            }
            Removed::Root(child) => {
                self.set_child(at, right, child);
                Removed::Root(at)
            }
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
            Node::Leaf { hash, .. } => *hash,
            Node::Internal {
                split, key, hash, ..
            } => {
                debug_assert!(usize::from(*split) >= top, "a child sits below its parent");
                extend(*hash, key, usize::from(*split), top)
            }
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
        self.alloc(Node::Internal {
            split: split as u16,
            key,
            left,
            right,
            hash: PLACEHOLDER_HASH,
            dirty: true,
        })
    }

    fn new_leaf(&mut self, key: Hash32, value: Hash32) -> Index {
        let hash = leaf_node_hash(&key, &value);
        self.alloc(Node::Leaf { key, value, hash })
    }

    fn alloc(&mut self, node: Node) -> Index {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = Index::try_from(self.nodes.len()).expect("at most 2^32 tree nodes");
                self.nodes.push(node);
                i
            }
        }
    }

    fn release(&mut self, at: Index) {
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

#[cfg(test)]
mod tests;
