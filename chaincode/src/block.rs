//! Blocks and checkpoint certificates.
//!
//! A [`BlockHeader`] commits to everything a block did: its txs (tx root), their results
//! (result root), the state after it (state root), and the history log after it (root and
//! size). Block hash = `blake3(BLOCK_HASH_TAG ‖ encode(header))`. Tx and result roots are
//! RFC 9162 Merkle roots (see [`crate::history`]) over the canonical bytes of each
//! [`SignedTx`] and each [`TxResult`], in block order.
//!
//! A [`Certificate`] is a block hash signed by consensus nodes; it is valid when
//! signatures of more than half of the voters of the consortium at that height verify.

use crate::encoding::encode;
use crate::execute::TxResult;
use crate::history::{HistoryError, leaf_hash, merkle_proof, merkle_root, verify_inclusion};
use crate::ids::{ChainId, Hash32, PublicKey, SignatureBytes};
use crate::tx::SignedTx;
use crate::types::Consortium;
use bincode::{Decode, Encode};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain tag of block hashes.
pub const BLOCK_HASH_TAG: &[u8] = b"couponcactus/block/v1";
/// Domain tag of checkpoint signatures.
pub const CHECKPOINT_TAG: &[u8] = b"couponcactus/checkpoint/v1";

/// What a block commits to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: ChainId,
    /// Height (first block: 1).
    pub height: u64,
    /// Block time, ms; strictly above the previous block's.
    pub time_ms: u64,
    /// Hash of the previous header (height 1: the genesis hash).
    pub prev_hash: Hash32,
    /// Number of txs (and results) in the block; authenticates the leaf count of tx and
    /// result inclusion proofs.
    pub tx_count: u64,
    /// Merkle root over the block's signed txs.
    pub tx_root: Hash32,
    /// Merkle root over the block's tx results.
    pub result_root: Hash32,
    /// State root after the block.
    pub state_root: Hash32,
    /// History-log root after the block.
    pub log_root: Hash32,
    /// History-log size after the block.
    pub log_size: u64,
    /// Raft id of the node that proposed it.
    pub proposer: u64,
}

impl BlockHeader {
    /// `blake3(BLOCK_HASH_TAG ‖ encode(header))`.
    pub fn hash(&self) -> Hash32 {
        let mut h = blake3::Hasher::new();
        h.update(BLOCK_HASH_TAG);
        h.update(&encode(self));
        Hash32(*h.finalize().as_bytes())
    }
}

/// Tx root of a block.
pub fn tx_root(txs: &[SignedTx]) -> Hash32 {
    merkle_root(&txs.iter().map(encode).collect::<Vec<_>>())
}

/// Result root of a block.
pub fn result_root(results: &[TxResult]) -> Hash32 {
    merkle_root(&results.iter().map(encode).collect::<Vec<_>>())
}

/// A tx of a block that the reader may not see, as the node shows it instead of the tx: its
/// position and the leaf hashes it contributes to the block's tx and result roots, so the
/// roots (and so the header) stay checkable without revealing it (`docs/api.md`,
/// "Confidentiality").
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct WithheldTx {
    /// Position in the block.
    pub index: u32,
    /// `LH(encode(tx))`: the tx's leaf hash under `tx_root`.
    pub tx_leaf: Hash32,
    /// `LH(encode(result))`: its result's leaf hash under `result_root`.
    pub result_leaf: Hash32,
}

impl WithheldTx {
    /// What a reader who may not see the `index`-th tx of a block is shown instead.
    pub fn of(index: u32, tx: &SignedTx, result: &TxResult) -> WithheldTx {
        WithheldTx {
            index,
            tx_leaf: leaf_hash(&encode(tx)),
            result_leaf: leaf_hash(&encode(result)),
        }
    }
}

/// Why a block shown with some txs withheld does not match its header.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedactedBlockError {
    /// The txs shown, the results shown and the withheld ones do not add up.
    #[error("redacted block does not add up: {0}")]
    Shape(String),
    /// The recomputed tx root differs from the header's.
    #[error("the txs shown and the withheld leaves do not hash to the header's tx_root")]
    TxRoot,
    /// The recomputed result root differs from the header's.
    #[error("the results shown and the withheld leaves do not hash to the header's result_root")]
    ResultRoot,
}

/// Checks a block shown with some txs withheld against its header: the visible txs and
/// results fill, in order, every position not listed in `withheld` (ascending, distinct),
/// and together with the withheld leaves they hash to the header's `tx_root` and
/// `result_root`. With nothing withheld this is the full check of a block's body.
pub fn verify_redacted_body(
    header: &BlockHeader,
    txs: &[SignedTx],
    results: &[TxResult],
    withheld: &[WithheldTx],
) -> Result<(), RedactedBlockError> {
    let shape = |m: String| Err(RedactedBlockError::Shape(m));
    if txs.len() != results.len() {
        return shape(format!("{} txs but {} results", txs.len(), results.len()));
    }
    let count = (txs.len() + withheld.len()) as u64;
    if count != header.tx_count {
        return shape(format!(
            "{count} txs in all, the header says {}",
            header.tx_count
        ));
    }
    if !withheld.windows(2).all(|w| w[0].index < w[1].index)
        || withheld.last().is_some_and(|w| u64::from(w.index) >= count)
    {
        return shape("withheld positions must ascend within the block".into());
    }
    let (mut tx_leaves, mut result_leaves) = (Vec::new(), Vec::new());
    let (mut shown, mut hidden) = (txs.iter().zip(results), withheld.iter().peekable());
    for i in 0..count {
        if let Some(w) = hidden.next_if(|w| u64::from(w.index) == i) {
            tx_leaves.push(w.tx_leaf);
            result_leaves.push(w.result_leaf);
        } else if let Some((tx, result)) = shown.next() {
            tx_leaves.push(leaf_hash(&encode(tx)));
            result_leaves.push(leaf_hash(&encode(result)));
        }
    }
    if root_of_leaf_hashes(&tx_leaves) != header.tx_root {
        return Err(RedactedBlockError::TxRoot);
    }
    if root_of_leaf_hashes(&result_leaves) != header.result_root {
        return Err(RedactedBlockError::ResultRoot);
    }
    Ok(())
}

fn root_of_leaf_hashes(leaves: &[Hash32]) -> Hash32 {
    let mut log = crate::history::HistoryLog::default();
    let mut sink = Vec::new();
    for leaf in leaves {
        log.append(*leaf, &mut sink);
        sink.clear();
    }
    log.root()
}

/// Proof that a tx (or result) is the `index`-th of its block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockInclusionProof {
    /// Position in the block.
    pub index: u64,
    /// Number of txs in the block.
    pub count: u64,
    /// Audit path, leaf side first.
    pub path: Vec<Hash32>,
}

/// Builds the proof that `items[index]` is in the root over `items` (txs or results).
pub fn block_inclusion_proof<T: Encode>(
    items: &[T],
    index: u64,
) -> Result<BlockInclusionProof, HistoryError> {
    let leaves: Vec<Vec<u8>> = items.iter().map(encode).collect();
    Ok(BlockInclusionProof {
        index,
        count: items.len() as u64,
        path: merkle_proof(&leaves, index)?,
    })
}

/// Checks that `item` is at `proof.index` under `root`, in a block of `tx_count` txs (both
/// taken from the block header: `tx_root` or `result_root`, and `tx_count`).
pub fn verify_block_inclusion<T: Encode>(
    item: &T,
    proof: &BlockInclusionProof,
    root: &Hash32,
    tx_count: u64,
) -> Result<(), HistoryError> {
    if proof.count != tx_count {
        return Err(HistoryError::OutOfRange(format!(
            "proof is for a block of {} txs, the header says {tx_count}",
            proof.count
        )));
    }
    verify_inclusion(
        &leaf_hash(&encode(item)),
        proof.index,
        proof.count,
        &proof.path,
        root,
    )
}

/// One node's signature of a block hash.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CheckpointSignature {
    /// The signing node's raft id.
    pub node_id: u64,
    /// ed25519 by its node key over [`checkpoint_message`].
    pub signature: SignatureBytes,
}

/// The bytes a checkpoint signature covers: `CHECKPOINT_TAG ‖ encode(chain_id) ‖
/// u64le(height) ‖ block_hash`.
pub fn checkpoint_message(chain_id: &ChainId, height: u64, block_hash: &Hash32) -> Vec<u8> {
    let mut msg = CHECKPOINT_TAG.to_vec();
    crate::encoding::encode_into(chain_id, &mut msg);
    msg.extend_from_slice(&height.to_le_bytes());
    msg.extend_from_slice(&block_hash.0);
    msg
}

/// Signs a checkpoint with a node key.
pub fn sign_checkpoint(
    key: &SigningKey,
    node_id: u64,
    chain_id: &ChainId,
    height: u64,
    block_hash: &Hash32,
) -> CheckpointSignature {
    let sig = key.sign(&checkpoint_message(chain_id, height, block_hash));
    CheckpointSignature {
        node_id,
        signature: SignatureBytes(sig.to_bytes()),
    }
}

/// A block hash certified by a quorum of voters.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Certificate {
    /// The chain.
    pub chain_id: ChainId,
    /// Height of the block.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash32,
    /// Signatures, strictly ascending by node id (one canonical form per signer set).
    pub signatures: Vec<CheckpointSignature>,
}

/// Why a certificate is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// A signature is by a node that is not a voter at that height.
    #[error("node {0} is not a voter")]
    NotAVoter(u64),
    /// A node signed twice, or signatures are not in ascending node-id order.
    #[error("signature of node {0} is repeated or out of ascending order")]
    DuplicateSigner(u64),
    /// A signature does not verify.
    #[error("signature of node {0} does not verify")]
    BadSignature(u64),
    /// Fewer valid voter signatures than the quorum.
    #[error("{have} voter signatures, quorum is {need}")]
    NoQuorum {
        /// Valid signatures.
        have: usize,
        /// Needed.
        need: usize,
    },
    /// The certificate is for another chain.
    #[error("certificate is for chain {0}")]
    WrongChain(ChainId),
}

impl Certificate {
    /// Checks the certificate against the consortium (voter set) in force at its height:
    /// signatures strictly ascending by node id, each a voter's and verifying strictly,
    /// and more than half of the voters signing.
    pub fn verify(
        &self,
        chain_id: &ChainId,
        consortium: &Consortium,
    ) -> Result<(), CertificateError> {
        if &self.chain_id != chain_id {
            return Err(CertificateError::WrongChain(self.chain_id.clone()));
        }
        let voters: Vec<_> = consortium.voters().collect();
        let msg = checkpoint_message(&self.chain_id, self.height, &self.block_hash);
        let mut seen: Vec<u64> = Vec::with_capacity(self.signatures.len());
        for s in &self.signatures {
            let voter = voters
                .iter()
                .find(|v| v.node_id == s.node_id)
                .ok_or(CertificateError::NotAVoter(s.node_id))?;
            if seen.last().is_some_and(|last| *last >= s.node_id) {
                return Err(CertificateError::DuplicateSigner(s.node_id));
            }
            seen.push(s.node_id);
            verify_node_signature(&voter.node_key, &msg, &s.signature)
                .map_err(|_| CertificateError::BadSignature(s.node_id))?;
        }
        let need = voters.len() / 2 + 1;
        if seen.len() < need {
            return Err(CertificateError::NoQuorum {
                have: seen.len(),
                need,
            });
        }
        Ok(())
    }
}

fn verify_node_signature(key: &PublicKey, msg: &[u8], sig: &SignatureBytes) -> Result<(), ()> {
    let key = VerifyingKey::from_bytes(&key.0).map_err(|_| ())?;
    key.verify_strict(msg, &Signature::from_bytes(&sig.0))
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;
    use crate::types::NodeRecord;

    fn consortium(n: u8) -> (Consortium, Vec<SigningKey>) {
        let keys: Vec<SigningKey> = (1..=n).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let nodes = keys
            .iter()
            .enumerate()
            .map(|(i, k)| NodeRecord {
                node_id: i as u64 + 1,
                org: OrgId::new("acme").unwrap(),
                node_key: PublicKey(k.verifying_key().to_bytes()),
                p2p_addr: "/ip4/127.0.0.1/tcp/1".into(),
                voter: true,
            })
            .collect();
        (
            Consortium {
                orgs: vec![OrgId::new("acme").unwrap()],
                nodes,
                retired_node_ids: vec![],
            },
            keys,
        )
    }

    /// Five txs (three applied, two rejected) and the header committing to them.
    fn block_of_five() -> (BlockHeader, Vec<SignedTx>, Vec<TxResult>) {
        use crate::execute::TxOutcome;
        use crate::reject::{RejectReason, Rejection};
        use crate::tx::{RevokeKeyTx, TxBody, TxKind};
        let key = SigningKey::from_bytes(&[7; 32]);
        let txs: Vec<SignedTx> = (0..5)
            .map(|nonce| {
                TxBody {
                    chain_id: ChainId::new("c").unwrap(),
                    nonce,
                    valid_until_ms: 1,
                    kind: TxKind::RevokeKey(RevokeKeyTx {
                        key: PublicKey([nonce as u8; 32]),
                    }),
                    memo: None,
                }
                .sign(&key)
            })
            .collect();
        let results: Vec<TxResult> = txs
            .iter()
            .enumerate()
            .map(|(i, tx)| TxResult {
                tx_id: tx.id(),
                outcome: if i % 2 == 0 {
                    TxOutcome::Applied { events: vec![] }
                } else {
                    TxOutcome::Rejected {
                        rejection: Rejection::new(RejectReason::NotFound, "no such key"),
                    }
                },
            })
            .collect();
        let header = BlockHeader {
            chain_id: ChainId::new("c").unwrap(),
            height: 1,
            time_ms: 1,
            prev_hash: Hash32([0; 32]),
            tx_count: 5,
            tx_root: tx_root(&txs),
            result_root: result_root(&results),
            state_root: Hash32([0; 32]),
            log_root: Hash32([0; 32]),
            log_size: 5,
            proposer: 1,
        };
        (header, txs, results)
    }

    #[test]
    fn a_block_with_withheld_txs_still_checks_against_its_header() {
        let (header, txs, results) = block_of_five();
        assert_eq!(verify_redacted_body(&header, &txs, &results, &[]), Ok(()));
        // Positions 1 and 3 withheld: the others shown in order.
        let withheld = [1, 3].map(|i| WithheldTx::of(i, &txs[i as usize], &results[i as usize]));
        let shown_txs: Vec<SignedTx> = [0, 2, 4].iter().map(|&i| txs[i].clone()).collect();
        let shown_results: Vec<TxResult> = [0, 2, 4].iter().map(|&i| results[i].clone()).collect();
        assert_eq!(
            verify_redacted_body(&header, &shown_txs, &shown_results, &withheld),
            Ok(())
        );
        // Everything withheld still checks; nothing of a tx is needed but its leaves.
        let all: Vec<WithheldTx> = (0..5)
            .map(|i| WithheldTx::of(i, &txs[i as usize], &results[i as usize]))
            .collect();
        assert_eq!(verify_redacted_body(&header, &[], &[], &all), Ok(()));
        // A tampered visible tx, a wrong leaf, a swapped order, a missing tx: refused.
        let mut tampered = shown_txs.clone();
        tampered[1].body.nonce = 99;
        assert_eq!(
            verify_redacted_body(&header, &tampered, &shown_results, &withheld),
            Err(RedactedBlockError::TxRoot)
        );
        let mut wrong_leaf = withheld.clone();
        wrong_leaf[0].result_leaf.0[0] ^= 1;
        assert_eq!(
            verify_redacted_body(&header, &shown_txs, &shown_results, &wrong_leaf),
            Err(RedactedBlockError::ResultRoot)
        );
        let swapped = [withheld[1].clone(), withheld[0].clone()];
        assert!(matches!(
            verify_redacted_body(&header, &shown_txs, &shown_results, &swapped),
            Err(RedactedBlockError::Shape(_))
        ));
        assert!(matches!(
            verify_redacted_body(&header, &shown_txs[..2], &shown_results[..2], &withheld),
            Err(RedactedBlockError::Shape(_))
        ));
        let moved = [1, 4].map(|i| WithheldTx::of(i, &txs[i as usize], &results[i as usize]));
        assert_eq!(
            verify_redacted_body(&header, &shown_txs, &shown_results, &moved),
            Err(RedactedBlockError::TxRoot)
        );
    }

    #[test]
    fn certificates_need_a_quorum_of_distinct_valid_voters() {
        let chain = ChainId::new("c").unwrap();
        let (members, keys) = consortium(3);
        let hash = Hash32([9; 32]);
        let sig = |i: usize| sign_checkpoint(&keys[i], i as u64 + 1, &chain, 5, &hash);
        let cert = |sigs| Certificate {
            chain_id: chain.clone(),
            height: 5,
            block_hash: hash,
            signatures: sigs,
        };
        assert_eq!(cert(vec![sig(0), sig(1)]).verify(&chain, &members), Ok(()));
        assert_eq!(
            cert(vec![sig(0)]).verify(&chain, &members),
            Err(CertificateError::NoQuorum { have: 1, need: 2 })
        );
        assert_eq!(
            cert(vec![sig(0), sig(0)]).verify(&chain, &members),
            Err(CertificateError::DuplicateSigner(1))
        );
        assert_eq!(
            cert(vec![sig(1), sig(0)]).verify(&chain, &members),
            Err(CertificateError::DuplicateSigner(1))
        );
        let mut bad = sig(1);
        bad.signature.0[0] ^= 1;
        assert_eq!(
            cert(vec![sig(0), bad]).verify(&chain, &members),
            Err(CertificateError::BadSignature(2))
        );
        let stranger = CheckpointSignature {
            node_id: 9,
            ..sig(0)
        };
        assert_eq!(
            cert(vec![sig(0), stranger]).verify(&chain, &members),
            Err(CertificateError::NotAVoter(9))
        );
        // A signature over another height does not count for this one.
        let other_height = sign_checkpoint(&keys[1], 2, &chain, 6, &hash);
        assert_eq!(
            cert(vec![sig(0), other_height]).verify(&chain, &members),
            Err(CertificateError::BadSignature(2))
        );
        let mut learners = members.clone();
        learners.nodes[2].voter = false;
        assert_eq!(
            cert(vec![sig(0), sig(2)]).verify(&chain, &learners),
            Err(CertificateError::NotAVoter(3))
        );
    }

    #[test]
    fn header_hash_covers_every_field() {
        let h = BlockHeader {
            chain_id: ChainId::new("c").unwrap(),
            height: 1,
            time_ms: 2,
            prev_hash: Hash32([1; 32]),
            tx_count: 8,
            tx_root: Hash32([2; 32]),
            result_root: Hash32([3; 32]),
            state_root: Hash32([4; 32]),
            log_root: Hash32([5; 32]),
            log_size: 6,
            proposer: 7,
        };
        let base = h.hash();
        let mut variants = vec![];
        let mut x = h.clone();
        x.height += 1;
        variants.push(x);
        let mut x = h.clone();
        x.time_ms += 1;
        variants.push(x);
        let mut x = h.clone();
        x.prev_hash.0[0] ^= 1;
        variants.push(x);
        let mut x = h.clone();
        x.tx_root.0[0] ^= 1;
        variants.push(x);
        let mut x = h.clone();
        x.result_root.0[0] ^= 1;
        variants.push(x);
        let mut x = h.clone();
        x.state_root.0[0] ^= 1;
        variants.push(x);
        let mut x = h.clone();
        x.log_root.0[0] ^= 1;
        variants.push(x);
        let mut x = h.clone();
        x.log_size += 1;
        variants.push(x);
        let mut x = h.clone();
        x.proposer += 1;
        variants.push(x);
        let mut x = h.clone();
        x.tx_count += 1;
        variants.push(x);
        for v in variants {
            assert_ne!(v.hash(), base);
        }
    }
}
