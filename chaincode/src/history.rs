//! The history log: an append-only Merkle log over every tx result, RFC 9162 structure.
//!
//! Leaf hash `H(0x00 ‖ leaf)`, interior hash `H(0x01 ‖ left ‖ right)`, H = blake3, the
//! empty tree's root is `H()`. A tree of `n` leaves splits at the largest power of two
//! below `n` (RFC 9162 §2.1.1). Leaves are [`HistoryLeaf`]s: tx id, height, position in
//! the block and result.
//!
//! Storage is compact: [`HistoryLog`] keeps only the roots of the perfect subtrees along
//! the right edge (the frontier, at most 64 hashes) to append in O(log n), and emits every
//! perfect-subtree hash it completes as [`HistoryNode`] writes (about two per leaf).
//! Proofs for any size are built from those stored nodes through [`HistoryReader`] in
//! O(log n) reads. The verifiers ([`verify_inclusion`], [`verify_consistency`]) are the
//! RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms and need nothing but hashes.

use crate::execute::TxOutcome;
use crate::ids::{Hash32, TxId};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// One entry of the history log: what happened to one tx.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct HistoryLeaf {
    /// The tx.
    pub tx_id: TxId,
    /// Height of its block.
    pub height: u64,
    /// Position in the block, from 0.
    pub index: u32,
    /// Applied with events, or rejected with a reason.
    pub outcome: TxOutcome,
}

impl HistoryLeaf {
    /// The leaf hash `H(0x00 ‖ encode(leaf))`.
    pub fn hash(&self) -> Hash32 {
        leaf_hash(&crate::encoding::encode(self))
    }
}

/// `H(0x00 ‖ bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(bytes);
    Hash32(*h.finalize().as_bytes())
}

/// `H(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(&left.0);
    h.update(&right.0);
    Hash32(*h.finalize().as_bytes())
}

/// The root of the empty log, `H()`.
pub fn empty_root() -> Hash32 {
    Hash32(*blake3::hash(&[]).as_bytes())
}

/// Root of the perfect subtree of height `level` covering leaves
/// `index·2^level .. (index+1)·2^level` (level 0: leaf hashes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
pub struct NodeIndex {
    /// Height of the subtree (0 = a leaf).
    pub level: u8,
    /// Position among subtrees of that height.
    pub index: u64,
}

/// A stored subtree hash.
pub type HistoryNode = (NodeIndex, Hash32);

/// Why a history proof could not be built or does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    /// A requested index or size is outside the log.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// A node the proof needs is missing from storage.
    #[error("history node {0:?} missing from storage")]
    MissingNode(NodeIndex),
    /// Storage failed.
    #[error("history storage: {0}")]
    Storage(String),
    /// The proof has the wrong number of hashes for its sizes.
    #[error("proof has the wrong length")]
    WrongLength,
    /// The proof does not lead to the expected root.
    #[error("root mismatch: the proof does not lead to the expected root")]
    RootMismatch,
}

/// Reads stored subtree hashes.
pub trait HistoryReader {
    /// The hash of a perfect subtree, if stored.
    fn node(&self, at: NodeIndex) -> Result<Option<Hash32>, HistoryError>;
}

impl HistoryReader for std::collections::BTreeMap<NodeIndex, Hash32> {
    fn node(&self, at: NodeIndex) -> Result<Option<Hash32>, HistoryError> {
        Ok(self.get(&at).copied())
    }
}

/// The append side of the log: its size and frontier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct HistoryLog {
    /// Number of leaves.
    pub size: u64,
    /// Roots of the perfect subtrees that make up the log, largest (leftmost) first: one
    /// per set bit of `size`.
    pub frontier: Vec<Hash32>,
}

impl HistoryLog {
    /// Appends a leaf hash; pushes every completed subtree hash to `writes`.
    pub fn append(&mut self, leaf: Hash32, writes: &mut Vec<HistoryNode>) {
        let index = self.size;
        writes.push((NodeIndex { level: 0, index }, leaf));
        let mut hash = leaf;
        let mut level = 0u8;
        // Each trailing one bit of the old size is a perfect subtree that now merges.
        while (self.size >> level) & 1 == 1 {
            let left = self.frontier.pop().expect("one frontier hash per set bit");
            hash = node_hash(&left, &hash);
            level += 1;
            writes.push((
                NodeIndex {
                    level,
                    index: index >> level,
                },
                hash,
            ));
        }
        self.frontier.push(hash);
        self.size += 1;
    }

    /// The root (RFC 9162 MTH over all leaves).
    pub fn root(&self) -> Hash32 {
        let mut iter = self.frontier.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// MTH of leaves `start..end` where the range is one the RFC recursion produces (its
/// start is a multiple of the largest power of two not above its length).
fn range_hash<R: HistoryReader + ?Sized>(
    reader: &R,
    start: u64,
    end: u64,
) -> Result<Hash32, HistoryError> {
    let len = end - start;
    if len.is_power_of_two() && start.is_multiple_of(len) {
        let at = NodeIndex {
            level: len.trailing_zeros() as u8,
            index: start >> len.trailing_zeros(),
        };
        return reader.node(at)?.ok_or(HistoryError::MissingNode(at));
    }
    let k = split(len);
    Ok(node_hash(
        &range_hash(reader, start, start + k)?,
        &range_hash(reader, start + k, end)?,
    ))
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of the log's first `size` leaves.
pub fn root_at<R: HistoryReader + ?Sized>(reader: &R, size: u64) -> Result<Hash32, HistoryError> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_hash(reader, 0, size)
    }
}

/// Audit path of leaf `index` in the log of `size` leaves (RFC 9162 §2.1.3.1), leaf side
/// first.
pub fn inclusion_proof<R: HistoryReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash32>, HistoryError> {
    if index >= size {
        return Err(HistoryError::OutOfRange(format!(
            "leaf {index} of a log of {size}"
        )));
    }
    let mut proof = Vec::new();
    path(reader, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<R: HistoryReader + ?Sized>(
    reader: &R,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash32>,
) -> Result<(), HistoryError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(reader, m, start, start + k, out)?;
        out.push(range_hash(reader, start + k, end)?);
    } else {
        path(reader, m - k, start + k, end, out)?;
        out.push(range_hash(reader, start, start + k)?);
    }
    Ok(())
}

/// Proof that the log of `old_size` leaves is a prefix of the log of `new_size` leaves
/// (RFC 9162 §2.1.4.1).
pub fn consistency_proof<R: HistoryReader + ?Sized>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash32>, HistoryError> {
    if old_size > new_size {
        return Err(HistoryError::OutOfRange(format!(
            "old size {old_size} above new size {new_size}"
        )));
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(reader, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<R: HistoryReader + ?Sized>(
    reader: &R,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash32>,
) -> Result<(), HistoryError> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(range_hash(reader, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(reader, m, start, start + k, complete, out)?;
        out.push(range_hash(reader, start + k, end)?);
    } else {
        subproof(reader, m - k, start + k, end, false, out)?;
        out.push(range_hash(reader, start, start + k)?);
    }
    Ok(())
}

/// Verifies that `leaf` is leaf `index` of the log of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    proof: &[Hash32],
    root: &Hash32,
) -> Result<(), HistoryError> {
    if index >= size {
        return Err(HistoryError::OutOfRange(format!(
            "leaf {index} of a log of {size}"
        )));
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(HistoryError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(HistoryError::WrongLength);
    }
    if r != *root {
        return Err(HistoryError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the log with root `old_root` and `old_size` leaves is a prefix of the log
/// with root `new_root` and `new_size` leaves (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash32,
    new_root: &Hash32,
    proof: &[Hash32],
) -> Result<(), HistoryError> {
    if old_size > new_size {
        return Err(HistoryError::OutOfRange(format!(
            "old size {old_size} above new size {new_size}"
        )));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(HistoryError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(HistoryError::RootMismatch)
        };
    }
    if old_size == 0 {
        // The empty log is a prefix of every log; its root is fixed.
        if !proof.is_empty() {
            return Err(HistoryError::WrongLength);
        }
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(HistoryError::RootMismatch)
        };
    }
    let mut path: Vec<Hash32> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(HistoryError::WrongLength);
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return Err(HistoryError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(HistoryError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(HistoryError::RootMismatch);
    }
    Ok(())
}

/// The RFC 9162 root of a list of leaf byte strings held in memory (tx and result roots of
/// one block).
pub fn merkle_root<T: AsRef<[u8]>>(leaves: &[T]) -> Hash32 {
    let mut log = HistoryLog::default();
    let mut sink = Vec::new();
    for leaf in leaves {
        log.append(leaf_hash(leaf.as_ref()), &mut sink);
        sink.clear();
    }
    log.root()
}

/// Inclusion proof of leaf `index` among in-memory `leaves` (for tx and result roots).
pub fn merkle_proof<T: AsRef<[u8]>>(leaves: &[T], index: u64) -> Result<Vec<Hash32>, HistoryError> {
    let mut log = HistoryLog::default();
    let mut nodes = Vec::new();
    for leaf in leaves {
        log.append(leaf_hash(leaf.as_ref()), &mut nodes);
    }
    let store: std::collections::BTreeMap<NodeIndex, Hash32> = nodes.into_iter().collect();
    inclusion_proof(&store, index, log.size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The RFC's recursive definition, computed naively.
    fn mth(leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn build(n: u64) -> (HistoryLog, BTreeMap<NodeIndex, Hash32>, Vec<Hash32>) {
        let mut log = HistoryLog::default();
        let mut writes = Vec::new();
        let leaves: Vec<Hash32> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for l in &leaves {
            log.append(*l, &mut writes);
        }
        (log, writes.into_iter().collect(), leaves)
    }

    #[test]
    fn roots_match_the_rfc_definition_at_every_size() {
        let (_, store, leaves) = build(70);
        for n in 0..=70u64 {
            assert_eq!(
                root_at(&store, n).unwrap(),
                mth(&leaves[..n as usize]),
                "size {n}"
            );
        }
        let (log, store, _) = build(70);
        assert_eq!(log.root(), root_at(&store, 70).unwrap());
        assert!(store.len() < 2 * 70, "about two stored nodes per leaf");
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_tampering_fails() {
        let (_, store, leaves) = build(33);
        for size in 1..=33u64 {
            let root = root_at(&store, size).unwrap();
            for i in 0..size {
                let proof = inclusion_proof(&store, i, size).unwrap();
                verify_inclusion(&leaves[i as usize], i, size, &proof, &root).unwrap();
                let wrong_leaf = leaf_hash(b"x");
                assert!(verify_inclusion(&wrong_leaf, i, size, &proof, &root).is_err());
                if size > 1 {
                    assert!(
                        verify_inclusion(&leaves[i as usize], (i + 1) % size, size, &proof, &root)
                            .is_err()
                    );
                }
            }
            for old in 0..=size {
                let proof = consistency_proof(&store, old, size).unwrap();
                let old_root = root_at(&store, old).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof).unwrap();
                if old > 0 && old < size {
                    let mut bad = proof.clone();
                    bad[0].0[0] ^= 1;
                    assert!(verify_consistency(old, size, &old_root, &root, &bad).is_err());
                    assert!(
                        verify_consistency(old, size, &leaf_hash(b"x"), &root, &proof).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn out_of_range_requests_fail() {
        let (_, store, _) = build(4);
        assert!(inclusion_proof(&store, 4, 4).is_err());
        assert!(consistency_proof(&store, 5, 4).is_err());
        assert!(matches!(
            root_at(&store, 5),
            Err(HistoryError::MissingNode(_))
        ));
    }
}
