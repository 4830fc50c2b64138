//! The in-memory tree's persisted form: jmt's own nodes, so everything that reads the
//! stored tree (proofs at any retained height, `state_root`, state sync, jmt itself) works
//! unchanged on what the tree writes.
//!
//! **Positions.** jmt stores 16-way nodes at nibble paths. In the binary trie, the jmt node
//! at nibble depth `d` on a key's path belongs to the binary node whose subtree is exactly
//! the keys under that path: a leaf sits at the shallowest depth where it is alone,
//! `⌈top/4⌉` (`top` = its parent's split + 1); an internal node splitting at `s` stands for
//! depths `⌈top/4⌉ ..= ⌊s/4⌋` (none when both fall inside one nibble: it is then inside
//! an ancestor's 16-way node). Depth `d < ⌊s/4⌋` is a one-child node (jmt's chains over a
//! shared prefix); depth `⌊s/4⌋` holds the subtrees met at bit `4(d+1)`.
//!
//! **Versions.** Every binary node keeps one version for all the jmt nodes it stands for:
//! a change below it, a move (its parent changed) or a value update gives it the version
//! being committed ([`StateTree::touch`]), and its old positions go to the stale index.
//! The root (depth 0) is written at every version, as `commit_writes` does. So a commit
//! writes each touched node's positions once, reads nothing, and hashes nothing beyond
//! what [`StateTree::apply`] already did.
//!
//! **Encoding.** Nodes are built as their borsh bytes (the layout jmt derives, pinned by a
//! test against jmt's own nodes), which is what the store keeps: jmt does not export its
//! internal-node type, and bytes need no decoding here nor encoding again in the store.
//!
//! **Loading** ([`StateTree::load`]) walks the stored nodes of one version depth-first and
//! rebuilds the binary trie with their versions, so the next commit continues the same
//! stored tree.

use super::{Index, KEY_BITS, Node as TreeNode, StateTree};
use crate::commitment::{CommitmentError, StateUpdate, key_hash, proof_leaf};
use crate::ids::Hash32;
use crate::state::WriteSet;
use jmt::storage::{NibblePath, Node, NodeKey, StaleNodeIndex, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use std::collections::{BTreeMap, BTreeSet};

/// A persisted jmt node of the tree: the version it was written at and the first `depth`
/// nibbles of `key` (any key below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Position {
    pub(super) version: u64,
    pub(super) key: Hash32,
    pub(super) depth: u8,
}

impl Position {
    fn node_key(&self) -> NodeKey {
        node_key(self.version, &self.key, usize::from(self.depth))
    }
}

/// The nibble depths (other than the root's 0, written at every version) a node below
/// `top` stands for: a leaf (`split` none) one, an internal node splitting at `split` a
/// range that may be empty.
pub(super) fn depths(top: usize, split: Option<usize>) -> std::ops::RangeInclusive<usize> {
    let first = top.div_ceil(4).max(1);
    match split {
        // The root leaf: only the root position, at every version.
        #[allow(clippy::reversed_empty_ranges)]
        None if top == 0 => 1..=0,
        None => first..=first,
        Some(s) => first..=s / 4,
    }
}

fn nibble(key: &Hash32, depth: usize) -> u8 {
    let b = key.0[depth / 2];
    if depth.is_multiple_of(2) {
        b >> 4
    } else {
        b & 0x0f
    }
}

fn node_key(version: u64, key: &Hash32, depth: usize) -> NodeKey {
    // jmt does not export its nibble type; `NibblePath` collects it from `u8::into`.
    let path: NibblePath = (0..depth).map(|d| nibble(key, d).into()).collect();
    NodeKey::new(version, path)
}

/// A stored child of a 16-way node being loaded.
#[derive(Clone, Copy)]
struct Slot {
    nib: u8,
    version: u64,
    /// jmt's child hash: the subtree's hash at the nibble boundary below the node.
    hash: Hash32,
    /// Keys below (1: a leaf).
    leaves: u32,
}

/// The key hash whose first nibbles are `path` then `nib`, zero after them.
fn prefix_key(path: &[u8], nib: u8) -> Hash32 {
    let mut key = [0u8; 32];
    for (depth, n) in path.iter().chain(std::iter::once(&nib)).enumerate() {
        key[depth / 2] |= if depth.is_multiple_of(2) { n << 4 } else { *n };
    }
    Hash32(key)
}

/// One child of a 16-way node: nibble, hash, version and `None` for a leaf or the
/// internal child's leaf count.
type ChildRef = (u8, Hash32, u64, Option<u32>);

/// The borsh bytes of jmt's `Node::Internal` with these children (sorted by nibble).
fn encode_internal(children: &[ChildRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 16 + children.len() * 50 + 16);
    out.push(1); // Node::Internal
    let mut next = children.iter().peekable();
    let mut total = 0u64;
    for n in 0..16u8 {
        match next.next_if(|c| c.0 == n) {
            None => out.push(0),
            Some((_, hash, version, count)) => {
                out.push(1);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&version.to_le_bytes());
                match count {
                    None => {
                        out.push(0);
                        total += 1;
                    }
                    Some(c) => {
                        out.push(1);
                        out.extend_from_slice(&u64::from(*c).to_le_bytes());
                        total += u64::from(*c);
                    }
                }
            }
        }
    }
    out.extend_from_slice(&(children.len() as u64).to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out
}

/// The borsh bytes of jmt's `Node::Null` (the empty tree's root).
const NULL_NODE: [u8; 1] = [0];

/// The borsh bytes of jmt's `Node::Leaf` for this key and value hash.
fn encode_leaf(key: &Hash32, value: &Hash32) -> Vec<u8> {
    let mut out = Vec::with_capacity(65);
    out.push(2); // Node::Leaf
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&value.0);
    out
}

impl StateTree {
    /// Commits `writes` as `version` (genesis: 0 on an empty tree; then one after the last
    /// committed or loaded version; node-local keys are skipped) and returns the root with the jmt nodes, values and
    /// stale indices to persist: what `commit_writes` returns, computed in memory.
    /// `reader` is the store the tree was persisted to: evicted subtrees that the writes
    /// reach are read back from it.
    pub fn commit<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        version: Version,
        writes: &WriteSet,
    ) -> Result<StateUpdate, CommitmentError> {
        let writes = writes
            .0
            .iter()
            .filter(|(k, _)| !k.is_node_local())
            .map(|(k, v)| (key_hash(k), v.as_ref().map(|v| v.to_bytes())))
            .collect();
        self.commit_hashed(reader, version, writes)
    }

    /// [`StateTree::commit`] by key hash, with each value's bytes (`None` deletes).
    pub fn commit_hashed<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        version: Version,
        writes: Vec<(Hash32, Option<Vec<u8>>)>,
    ) -> Result<StateUpdate, CommitmentError> {
        if self.broken {
            return Err(CommitmentError::Corrupt(
                "an earlier commit failed half way: load the tree again".into(),
            ));
        }
        match self.committed {
            Some(last) if version == last + 1 => {}
            None if version == 0 && self.root.is_none() => {}
            Some(last) if version <= last => {
                return Err(CommitmentError::AlreadyCommitted(version));
            }
            _ => return Err(CommitmentError::MissingVersion(version.saturating_sub(1))),
        }
        self.version = version;
        self.record = true;
        self.broken = true;
        let root = self.apply_from(
            reader,
            writes.iter().map(|(k, v)| {
                let hash = v.as_ref().map(|b| Hash32(*blake3::hash(b).as_bytes()));
                (*k, hash)
            }),
        );
        self.record = false;
        let root = root?;
        self.broken = false;
        self.committed = Some(version);
        let mut nodes = BTreeMap::new();
        self.emit(version, &mut nodes);
        let mut stale: BTreeSet<StaleNodeIndex> = self
            .stale
            .drain(..)
            .map(|p| StaleNodeIndex {
                stale_since_version: version,
                node_key: p.node_key(),
            })
            .collect();
        if version > 0 {
            stale.insert(StaleNodeIndex {
                stale_since_version: version,
                node_key: node_key(version - 1, &Hash32([0; 32]), 0),
            });
        }
        // Nothing exists before genesis: its deletes write no value.
        let values: BTreeMap<(Version, KeyHash), Option<OwnedValue>> = writes
            .into_iter()
            .filter(|(_, v)| v.is_some() || version > 0)
            .map(|(k, v)| ((version, KeyHash(k.0)), v))
            .collect();
        Ok(StateUpdate {
            version,
            root,
            nodes,
            values,
            stale,
        })
    }

    /// Writes the root at `version` and every position of the nodes touched at it.
    fn emit(&self, version: u64, out: &mut BTreeMap<NodeKey, Vec<u8>>) {
        let root_key = node_key(version, &Hash32([0; 32]), 0);
        let Some(root) = self.root else {
            out.insert(root_key, NULL_NODE.to_vec());
            return;
        };
        match &self.nodes[root as usize] {
            TreeNode::Leaf { key, value, .. } => {
                out.insert(root_key, encode_leaf(key, value));
            }
            TreeNode::Internal { .. } => {
                out.insert(root_key, encode_internal(&self.children_at(root, 0)));
                self.emit_below(root, 0, version, out);
            }
            TreeNode::Stub { .. } | TreeNode::Free => {
                unreachable!("the root is resident and linked")
            }
        }
    }

    /// Writes the positions of `at` (below `top`) and of its touched descendants, if `at`
    /// was touched at `version`.
    fn emit_below(
        &self,
        at: Index,
        top: usize,
        version: u64,
        out: &mut BTreeMap<NodeKey, Vec<u8>>,
    ) {
        match &self.nodes[at as usize] {
            TreeNode::Leaf {
                key,
                value,
                version: v,
                ..
            } => {
                if *v == version && top > 0 {
                    out.insert(
                        node_key(version, key, top.div_ceil(4)),
                        encode_leaf(key, value),
                    );
                }
            }
            TreeNode::Internal {
                split,
                key,
                left,
                right,
                version: v,
                ..
            } => {
                if *v != version {
                    return;
                }
                let split = usize::from(*split);
                for depth in depths(top, Some(split)) {
                    let node = encode_internal(&self.children_at(at, depth));
                    out.insert(node_key(version, key, depth), node);
                }
                self.emit_below(*left, split + 1, version, out);
                self.emit_below(*right, split + 1, version, out);
            }
            TreeNode::Stub { version: v, .. } => {
                debug_assert!(*v < version, "an evicted subtree is never touched");
            }
            TreeNode::Free => unreachable!("a free slot is linked from the tree"),
        }
    }

    /// The children of the 16-way node at depth `depth` that internal node `at` stands for.
    fn children_at(&self, at: Index, depth: usize) -> Vec<ChildRef> {
        let TreeNode::Internal {
            split,
            key,
            leaves,
            version,
            ..
        } = &self.nodes[at as usize]
        else {
            unreachable!("only internal nodes have 16-way nodes")
        };
        let boundary = 4 * (depth + 1);
        if usize::from(*split) >= boundary {
            let hash = self.seen_from(at, boundary);
            return vec![(nibble(key, depth), hash, *version, Some(*leaves))];
        }
        let mut out = Vec::with_capacity(16);
        self.collect(at, depth, &mut out);
        out
    }

    /// The subtrees met at bit `4(depth + 1)` below `at`, left to right.
    ///
    /// Breadth-first, one binary level of the nibble at a time: most of the (up to 31)
    /// nodes read here are cold siblings of the changed path, and reading a whole level in
    /// one loop lets their independent loads overlap, where a depth-first walk waited for
    /// each miss before the next (this was the largest cost of a commit,
    /// docs/performance.md "The commit path's tree: reading a nibble level by level").
    fn collect(&self, at: Index, depth: usize, out: &mut Vec<ChildRef>) {
        let boundary = 4 * (depth + 1);
        // Nodes of the frontier, left to right: at most 16 (one per nibble value).
        let mut frontier = [0 as Index; 16];
        let mut len = 1;
        frontier[0] = at;
        // Each pass replaces every internal node above the boundary by its two children;
        // a split grows by at least one per pass, so four passes reach the boundary.
        for _ in 0..4 {
            // First every node's split, in a loop without branches, so the loads are in
            // flight together; then the branching pass finds them in the cache.
            let mut splits = [KEY_BITS as u16; 16];
            for (s, &i) in splits.iter_mut().zip(&frontier[..len]) {
                *s = self.split_of(i);
            }
            let mut next = [0 as Index; 16];
            let mut grown = 0;
            for (&i, &s) in frontier[..len].iter().zip(&splits) {
                match &self.nodes[i as usize] {
                    TreeNode::Internal { left, right, .. } if usize::from(s) < boundary => {
                        next[grown] = *left;
                        next[grown + 1] = *right;
                        grown += 2;
                    }
                    _ => {
                        next[grown] = i;
                        grown += 1;
                    }
                }
            }
            // Nothing split: the frontier is the boundary.
            let done = grown == len;
            frontier = next;
            len = grown;
            if done {
                break;
            }
        }
        out.extend(frontier[..len].iter().map(|&i| self.child_ref(i, depth)));
    }

    /// An internal node's split; `KEY_BITS` for any other node.
    fn split_of(&self, i: Index) -> u16 {
        match &self.nodes[i as usize] {
            TreeNode::Internal { split, .. } => *split,
            _ => KEY_BITS as u16,
        }
    }

    /// Node `i` as a child of the 16-way node at nibble depth `depth` (it sits at that
    /// node's boundary).
    fn child_ref(&self, i: Index, depth: usize) -> ChildRef {
        let boundary = 4 * (depth + 1);
        match &self.nodes[i as usize] {
            TreeNode::Internal {
                key,
                leaves,
                version,
                ..
            } => (
                nibble(key, depth),
                self.seen_from(i, boundary),
                *version,
                Some(*leaves),
            ),
            TreeNode::Leaf {
                key,
                value,
                version,
                ..
            } => (
                nibble(key, depth),
                crate::commitment::leaf_node_hash(key, value),
                *version,
                None,
            ),
            TreeNode::Stub {
                key,
                version,
                leaves,
                ..
            } => (
                nibble(key, depth),
                self.seen_from(i, boundary),
                *version,
                (*leaves > 1).then_some(*leaves),
            ),
            TreeNode::Free => unreachable!("a free slot is linked from the tree"),
        }
    }

    /// Opens the tree of `version` from its stored jmt nodes (written by jmt or by
    /// [`StateTree::commit`]); the next commit must be `version + 1`. Reads the root's node
    /// (and a one-sided chain below it) only: its children are stubs, read back as commits
    /// reach them ([`StateTree::resolve`]). The caller checks [`StateTree::root_hash`]
    /// against the header.
    pub fn load<R: TreeReader + ?Sized>(
        reader: &R,
        version: Version,
    ) -> Result<StateTree, CommitmentError> {
        let mut tree = StateTree {
            version,
            ..StateTree::default()
        };
        let root_key = node_key(version, &Hash32([0; 32]), 0);
        let root = reader
            .get_node_option(&root_key)?
            .ok_or(CommitmentError::MissingVersion(version))?;
        tree.root = match root {
            Node::Null => None,
            node => {
                let (at, positions) = tree.load_position(reader, node, root_key, 0)?;
                tree.settle(at, positions, version);
                Some(at)
            }
        };
        if let Some(root) = tree.root {
            tree.rehash(root);
        }
        tree.committed = Some(version);
        Ok(tree)
    }

    /// Reads the evicted subtree at `at` back in place (nothing if `at` is resident): its
    /// stored node, with stubs for that node's children. Checks the node against the hash
    /// and leaf count its parent recorded.
    pub(super) fn resolve<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        at: Index,
    ) -> Result<(), CommitmentError> {
        let TreeNode::Stub {
            key,
            hash,
            version,
            leaves,
            depth,
        } = self.nodes[at as usize]
        else {
            return Ok(());
        };
        let depth = usize::from(depth);
        let stored = node_key(version, &key, depth);
        let node = reader.get_node_option(&stored)?.ok_or_else(|| {
            CommitmentError::Corrupt(format!(
                "node {stored:?} of an evicted subtree is missing from storage"
            ))
        })?;
        let (loaded, positions) = self.load_position(reader, node, stored.clone(), depth)?;
        self.settle(loaded, positions, version);
        self.rehash(loaded);
        if self.seen_from(loaded, 4 * depth) != hash || self.leaf_count(loaded) != leaves {
            return Err(CommitmentError::Corrupt(format!(
                "node {stored:?} does not have the hash and leaf count its parent records"
            )));
        }
        self.nodes.swap(at as usize, loaded as usize);
        self.free_slot(loaded);
        if let Some(positions) = self.mixed.remove(&loaded) {
            self.mixed.insert(at, positions);
        }
        Ok(())
    }

    /// Builds the binary nodes of the stored node `node` at `key` (nibble depth `depth`),
    /// with stubs for its children (a one-sided chain of internal nodes is followed down to
    /// the node that splits); returns the top one with the positions it stands for
    /// (unsettled).
    fn load_position<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        node: Node,
        key: NodeKey,
        depth: usize,
    ) -> Result<(Index, Vec<Position>), CommitmentError> {
        let corrupt = |why: &str| CommitmentError::Corrupt(format!("node {key:?}: {why}"));
        let path: Vec<u8> = key.nibble_path().nibbles().map(u8::from).collect();
        let here = |key_hash: &Hash32| Position {
            version: key.version(),
            key: *key_hash,
            depth: depth as u8,
        };
        match node {
            Node::Null => Err(corrupt("an empty node below the root")),
            Node::Leaf(l) => {
                let l = proof_leaf(&l)?;
                let at = self.alloc(TreeNode::Leaf {
                    key: l.key_hash,
                    value: l.value_hash,
                    version: key.version(),
                });
                Ok((at, vec![here(&l.key_hash)]))
            }
            Node::Internal(n) => {
                let mut children = Vec::with_capacity(16);
                for (nib, c) in n.children_sorted() {
                    let leaves = u32::try_from(c.leaf_count())
                        .ok()
                        .filter(|&l| c.is_leaf() || l > 1)
                        .ok_or_else(|| corrupt("a child with a wrong leaf count"))?;
                    children.push(Slot {
                        nib: u8::from(nib),
                        version: c.version,
                        hash: Hash32(c.hash),
                        leaves,
                    });
                }
                if let [one] = children[..]
                    && one.leaves > 1
                {
                    let (at, mut positions) =
                        self.load_child(reader, &path, one.nib, one.version, depth)?;
                    let below = self.any_key(at);
                    positions.insert(0, here(&below));
                    return Ok((at, positions));
                }
                if children.len() < 2 {
                    return Err(corrupt("an internal node over a single leaf"));
                }
                let at = self.load_group(&path, &children, depth, 0);
                let below = self.any_key(at);
                Ok((at, vec![here(&below)]))
            }
        }
    }

    /// Builds the binary nodes inside one 16-way node for `children` (all sharing the
    /// nibble's bits above `from`), each child a stub.
    fn load_group(&mut self, path: &[u8], children: &[Slot], depth: usize, from: usize) -> Index {
        if let [slot] = children[..] {
            return self.alloc(TreeNode::Stub {
                key: prefix_key(path, slot.nib),
                hash: slot.hash,
                version: slot.version,
                leaves: slot.leaves,
                depth: (depth + 1) as u8,
            });
        }
        let first = children[0].nib;
        let last = children[children.len() - 1].nib;
        let b = (first ^ last).leading_zeros() as usize - 4;
        debug_assert!(
            b >= from && b < 4,
            "children sorted by nibble differ below `from`"
        );
        let cut = children.partition_point(|c| c.nib & (0x08 >> b) == 0);
        let left = self.load_group(path, &children[..cut], depth, b + 1);
        let right = self.load_group(path, &children[cut..], depth, b + 1);
        let leaves = self.leaf_count(left) + self.leaf_count(right);
        let key = self.any_key(left);
        self.alloc(TreeNode::Internal {
            split: (4 * depth + b) as u16,
            key,
            left,
            right,
            hash: super::PLACEHOLDER_HASH,
            dirty: true,
            leaves,
            // It stands for no 16-way node (its split is inside one).
            version: 0,
        })
    }

    fn load_child<R: TreeReader + ?Sized>(
        &mut self,
        reader: &R,
        path: &[u8],
        nib: u8,
        version: u64,
        depth: usize,
    ) -> Result<(Index, Vec<Position>), CommitmentError> {
        let child_path: NibblePath = path
            .iter()
            .chain(std::iter::once(&nib))
            .map(|n| (*n).into())
            .collect();
        let key = NodeKey::new(version, child_path);
        let node = reader.get_node_option(&key)?.ok_or_else(|| {
            CommitmentError::Corrupt(format!("node {key:?} is missing from storage"))
        })?;
        if depth + 1 > KEY_BITS / 4 {
            return Err(CommitmentError::Corrupt(format!(
                "node {key:?} is too deep"
            )));
        }
        self.load_position(reader, node, key, depth + 1)
    }

    /// Gives node `at` the version of the first of the (non-root) positions it stands
    /// for, and remembers them all when their versions differ.
    fn settle(&mut self, at: Index, positions: Vec<Position>, fallback: u64) {
        let stored: Vec<Position> = positions.into_iter().filter(|p| p.depth > 0).collect();
        let first = stored.first().map_or(fallback, |p| p.version);
        match &mut self.nodes[at as usize] {
            TreeNode::Leaf { version, .. } | TreeNode::Internal { version, .. } => {
                *version = first;
            }
            TreeNode::Stub { .. } | TreeNode::Free => unreachable!("just loaded"),
        }
        if stored.iter().any(|p| p.version != first) {
            self.mixed.insert(at, stored);
        }
    }

    fn any_key(&self, at: Index) -> Hash32 {
        match &self.nodes[at as usize] {
            TreeNode::Leaf { key, .. }
            | TreeNode::Internal { key, .. }
            | TreeNode::Stub { key, .. } => *key,
            TreeNode::Free => unreachable!("a free slot is linked from the tree"),
        }
    }
}
