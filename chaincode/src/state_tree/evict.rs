//! Eviction: keeps the tree's memory bounded by replacing cold subtrees with stubs
//! (issue 18, step 3: only the upper levels and recently changed nodes stay resident).
//!
//! A subtree whose every node is persisted is exactly the stored jmt node at its first
//! position, so it can be dropped from memory and read back by [`StateTree::resolve`] when
//! a commit, a lookup or a proof reaches it. Candidates are the subtrees that begin a
//! stored node at nibble depth [`RESIDENT_DEPTH`] or deeper (the first such on each path);
//! the least recently changed go first (an internal node's version is the last version
//! that changed or moved anything below it) until the resident nodes are three quarters of
//! the budget, so a pass runs once per quarter budget of growth, not after every block.

use super::{Index, Node, RESIDENT_DEPTH, StateTree};

impl StateTree {
    /// Evicts the least recently changed subtrees when more than `budget` nodes are
    /// resident, down to three quarters of it; returns how many nodes it freed. Call it
    /// only once the last commit's nodes are stored: evicted subtrees are read back from
    /// storage.
    pub fn evict(&mut self, budget: usize) -> usize {
        self.evict_from(budget, RESIDENT_DEPTH)
    }

    /// [`StateTree::evict`] with candidates from nibble depth `from` (at least 1).
    pub(super) fn evict_from(&mut self, budget: usize, from: usize) -> usize {
        if self.resident() <= budget || self.broken {
            return 0;
        }
        let target = budget - budget / 4;
        let mut candidates = Vec::new();
        if let Some(root) = self.root {
            self.candidates(root, 0, from.max(1), &mut candidates);
        }
        candidates.sort_unstable_by_key(|&(version, _, _)| version);
        let before = self.resident();
        for (_, at, depth) in candidates {
            if self.resident() <= target {
                break;
            }
            self.stub(at, depth);
        }
        before - self.resident()
    }

    /// The candidates below `at` (whose parent splits at `top - 1`): `(version, node,
    /// nibble depth of its first stored position)`.
    fn candidates(&self, at: Index, top: usize, from: usize, out: &mut Vec<(u64, Index, u8)>) {
        let Node::Internal {
            split,
            left,
            right,
            version,
            ..
        } = self.nodes[at as usize]
        else {
            return;
        };
        let split = usize::from(split);
        let first = top.div_ceil(4);
        if top > 0 && first <= split / 4 && first >= from {
            out.push((version, at, first as u8));
            return;
        }
        self.candidates(left, split + 1, from, out);
        self.candidates(right, split + 1, from, out);
    }

    /// Replaces internal node `at`, whose first stored position is at nibble `depth`, and
    /// everything below it by a stub.
    fn stub(&mut self, at: Index, depth: u8) {
        let Node::Internal {
            key,
            version,
            leaves,
            left,
            right,
            dirty,
            ..
        } = self.nodes[at as usize]
        else {
            unreachable!("only internal nodes are evicted")
        };
        assert!(!dirty, "only hashed subtrees are evicted");
        let hash = self.seen_from(at, 4 * usize::from(depth));
        self.drop_subtree(left);
        self.drop_subtree(right);
        self.mixed.remove(&at);
        self.nodes[at as usize] = Node::Stub {
            key,
            hash,
            version,
            leaves,
            depth,
        };
    }

    /// Frees `at` and everything below it (no stale entries: they stay stored).
    fn drop_subtree(&mut self, at: Index) {
        if let Node::Internal { left, right, .. } = self.nodes[at as usize] {
            self.drop_subtree(left);
            self.drop_subtree(right);
        }
        self.mixed.remove(&at);
        self.free_slot(at);
    }
}
