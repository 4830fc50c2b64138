//! Proofs: state (Jellyfish Merkle tree), history log (RFC 9162) and block tx/result
//! inclusion, plus the test vectors of `docs/proofs.md`.
//!
//! Property tests: every proof produced verifies; flipping any byte of a proof, key, value
//! or root makes verification fail; non-inclusion proofs verify for absent keys and fail for
//! present ones; proofs keep verifying at older retained versions; consistency proofs hold
//! for every pair of sizes of a random log. Each state proof is also checked against jmt's
//! own verifier, and every kind of proof against a second verifier written in this file from
//! `docs/proofs.md` alone (module `doc`), working on raw bytes.
//!
//! The generated section of `docs/proofs.md` is rebuilt by [`vectors`] and must match; when
//! a change is intended, `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test
//! proofs` rewrites it (review the diff: other implementations check themselves against
//! these bytes).

use couponcactus_chaincode::block::{
    BLOCK_HASH_TAG, BlockHeader, BlockInclusionProof, CHECKPOINT_TAG, block_inclusion_proof,
    checkpoint_message, result_root, sign_checkpoint, tx_root, verify_block_inclusion,
};
use couponcactus_chaincode::commitment::{
    EMPTY_STATE_ROOT, INTERNAL_DOMAIN, LEAF_DOMAIN, MemTreeStore, PLACEHOLDER_HASH, StateJmt,
    StateProof, StateProofError, internal_node_hash, key_hash, leaf_node_hash, prove,
    prove_with_jmt, state_root, value_hash, verify_state_proof,
};
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::history::{
    HistoryLeaf, HistoryLog, NodeIndex, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    merkle_proof, merkle_root, node_hash, root_at, verify_consistency, verify_inclusion,
};
use couponcactus_chaincode::ids::{Hash32, TxId};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit;
use jmt::{KeyHash, RootHash};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

// ---- a key universe with values of every shape -------------------------------------

fn pool() -> PoolId {
    PoolId::new("spring").unwrap()
}

fn h(tag: &str, i: u64) -> [u8; 32] {
    *blake3::hash(format!("{tag}-{i}").as_bytes()).as_bytes()
}

/// Key number `i` of the universe: five kinds of keys.
fn ukey(i: u64) -> StateKey {
    match i % 5 {
        0 => StateKey::Remembered(i),
        1 => StateKey::Claim(pool(), ClaimKey(h("claim", i))),
        2 => StateKey::Token(TokenId {
            pool: pool(),
            serial: i,
        }),
        3 => StateKey::MemberRedemptions(pool(), testkit::member(i)),
        _ => StateKey::Code(CodeHash(h("code", i))),
    }
}

/// Value `seed` for key number `i` (of the type that key holds).
fn uvalue(i: u64, seed: u64) -> StateValue {
    match i % 5 {
        0 => StateValue::Remembered(vec![(TxId(h("tx", seed)), seed)]),
        1 => StateValue::Claim(seed),
        2 => StateValue::Token(TokenRecord {
            code_hash: CodeHash(h("code", i)),
            sealed: SealedCode(h("sealed", seed).repeat(2)[..60].to_vec()),
            status: if seed.is_multiple_of(2) {
                TokenStatus::Available
            } else {
                TokenStatus::Allocated
            },
            owner: (seed % 2 == 1).then(|| testkit::member(seed)),
            claim: (seed % 2 == 1).then(|| testkit::claim(seed)),
        }),
        3 => StateValue::Count(seed as u32),
        _ => StateValue::Code(CodeIndexEntry {
            pool: pool(),
            serial: Some(seed),
        }),
    }
}

/// Blocks of writes: (key number, Some(value seed) = put, None = delete).
type Blocks = Vec<Vec<(u64, Option<u64>)>>;

fn blocks_strategy(
    keys: u64,
    max_blocks: usize,
    max_writes: usize,
) -> impl Strategy<Value = Blocks> {
    prop::collection::vec(
        prop::collection::vec(
            (0..keys, prop::option::weighted(0.7, 0u64..1_000)),
            0..max_writes,
        ),
        1..max_blocks,
    )
}

fn write_set(block: &[(u64, Option<u64>)]) -> WriteSet {
    let mut w = WriteSet::default();
    for &(i, v) in block {
        match v {
            Some(seed) => w.put(ukey(i), uvalue(i, seed)),
            None => w.delete(ukey(i)),
        }
    }
    w
}

/// Commits every block (block i = version i) and returns the store, the roots and the state
/// after each version.
fn build(blocks: &Blocks) -> (MemTreeStore, Vec<Hash32>, Vec<MemState>) {
    let store = MemTreeStore::new();
    let mut roots = Vec::new();
    let mut states = Vec::new();
    let mut state = MemState::default();
    for (version, block) in blocks.iter().enumerate() {
        let w = write_set(block);
        roots.push(store.commit(version as u64, &w).unwrap());
        state.apply(&w);
        states.push(state.clone());
    }
    (store, roots, states)
}

/// Flips `mask` into byte `at` of a copy of `bytes`.
fn flipped(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= mask;
    b
}

fn flip_hash(hash: &Hash32, at: usize, mask: u8) -> Hash32 {
    let mut h = *hash;
    h.0[at % 32] ^= mask;
    h
}

/// Checks one state proof thoroughly: it verifies (also for jmt and the document's
/// verifier), and every single-byte change of proof, key, value or root is caught.
fn check_state_proof(
    store: &MemTreeStore,
    state: &MemState,
    version: u64,
    root: &Hash32,
    key: &StateKey,
    mask: u8,
) -> Result<(), TestCaseError> {
    let p = prove(store, key, version).unwrap();
    let truth = state.0.get(key);
    prop_assert_eq!(p.value.as_ref(), truth, "value of {:?} at {}", key, version);
    verify_state_proof(root, key, p.value.as_ref(), &p.proof).unwrap();
    prop_assert_eq!(&p, &prove_with_jmt(store, key, version).unwrap());

    // jmt's own verifier agrees.
    let kh = KeyHash(key_hash(key).0);
    let (_, jproof) = StateJmt::new(store).get_with_proof(kh, version).unwrap();
    let vbytes = p.value.as_ref().map(StateValue::to_bytes);
    prop_assert!(jproof.verify(RootHash(root.0), kh, vbytes.as_ref()).is_ok());

    // The document's verifier agrees, on raw bytes.
    let key_bytes = key.to_bytes();
    let proof_bytes = p.proof.to_bytes();
    prop_assert!(doc::verify_state(
        &root.0,
        &key_bytes,
        vbytes.as_deref(),
        &proof_bytes
    ));

    // Claiming the opposite fails: a present key's proof does not prove absence, an absent
    // key's proof does not prove any value.
    match &p.value {
        Some(v) => {
            prop_assert_eq!(
                verify_state_proof(root, key, None, &p.proof),
                Err(StateProofError::KeyPresent)
            );
            prop_assert!(jproof.verify(RootHash(root.0), kh, None::<&[u8]>).is_err());
            let other = match v {
                StateValue::Count(x) => StateValue::Count(x + 1),
                _ => StateValue::Count(7),
            };
            prop_assert_eq!(
                verify_state_proof(root, key, Some(&other), &p.proof),
                Err(StateProofError::ValueMismatch)
            );
        }
        None => {
            let any = StateValue::Count(1);
            prop_assert!(verify_state_proof(root, key, Some(&any), &p.proof).is_err());
            prop_assert!(
                jproof
                    .verify(RootHash(root.0), kh, Some(any.to_bytes()))
                    .is_err()
            );
        }
    }

    // Every byte of the proof's encoding.
    for at in 0..proof_bytes.len() {
        let bad = flipped(&proof_bytes, at, mask);
        prop_assert!(!doc::verify_state(
            &root.0,
            &key_bytes,
            vbytes.as_deref(),
            &bad
        ));
        if let Ok(bad) = StateProof::from_bytes(&bad) {
            prop_assert!(
                verify_state_proof(root, key, p.value.as_ref(), &bad).is_err(),
                "proof byte {} of {:?}",
                at,
                key
            );
        }
    }
    // Every byte of the root.
    for at in 0..32 {
        let bad = flip_hash(root, at, mask);
        prop_assert!(verify_state_proof(&bad, key, p.value.as_ref(), &p.proof).is_err());
    }
    // Every byte of the key: a changed key is refused, unless it is a key that is truly
    // absent and absence was claimed (a non-inclusion proof covers every key whose path
    // ends in the same empty subtree or at the same other leaf).
    for at in 0..key_bytes.len() {
        let bad = flipped(&key_bytes, at, mask);
        prop_assert!(
            !doc::verify_state(&root.0, &bad, vbytes.as_deref(), &proof_bytes)
                || (vbytes.is_none() && doc_key_absent(state, &bad))
        );
        if let Ok(bad) = StateKey::from_bytes(&bad) {
            let ok = verify_state_proof(root, &bad, p.value.as_ref(), &p.proof).is_ok();
            prop_assert!(
                !ok || (p.value.is_none() && !state.0.contains_key(&bad)),
                "key byte {} of {:?}",
                at,
                key
            );
        }
    }
    // Every byte of the value.
    if let Some(vb) = &vbytes {
        for at in 0..vb.len() {
            let bad = flipped(vb, at, mask);
            prop_assert!(!doc::verify_state(
                &root.0,
                &key_bytes,
                Some(&bad),
                &proof_bytes
            ));
            if let Ok(bad) = StateValue::from_bytes(&bad) {
                prop_assert!(verify_state_proof(root, key, Some(&bad), &p.proof).is_err());
            }
        }
    }
    Ok(())
}

fn doc_key_absent(state: &MemState, key_bytes: &[u8]) -> bool {
    match StateKey::from_bytes(key_bytes) {
        Ok(k) => !state.0.contains_key(&k),
        // Bytes that are no key are absent from the tree.
        Err(_) => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every proof at every version, present and absent keys, with tampering.
    #[test]
    fn state_proofs_verify_and_tampering_fails(
        blocks in blocks_strategy(120, 6, 50),
        mask in 1u8..=255,
        sample in prop::collection::vec(0u64..140, 4),
    ) {
        let (store, roots, states) = build(&blocks);
        for (version, root) in roots.iter().enumerate() {
            let version = version as u64;
            prop_assert_eq!(state_root(&store, version).unwrap(), Some(*root));
            let state = &states[version as usize];
            if state.is_empty() {
                prop_assert_eq!(*root, EMPTY_STATE_ROOT);
            }
            // Every key of the universe (and some beyond it) verifies as present or absent.
            for i in 0..140 {
                let key = ukey(i);
                let p = prove(&store, &key, version).unwrap();
                prop_assert_eq!(p.value.as_ref(), state.0.get(&key));
                p.verify(root).unwrap();
            }
            // A few keys get the full tampering treatment.
            for &i in &sample {
                check_state_proof(&store, state, version, root, &ukey(i), mask)?;
            }
        }
    }

    /// Proofs at older versions keep verifying against their own roots (and not against
    /// other versions' roots when the value differs), also after pruning what only older
    /// versions need.
    #[test]
    fn proofs_at_older_retained_versions(
        blocks in blocks_strategy(60, 10, 30),
        keep_from in 0u64..10,
    ) {
        let (store, roots, states) = build(&blocks);
        let last = roots.len() as u64 - 1;
        let keep_from = keep_from.min(last);
        store.prune(keep_from);
        for version in 0..=last {
            if version < keep_from {
                // The root node of a pruned version is gone.
                prop_assert_eq!(state_root(&store, version).unwrap(), None);
                continue;
            }
            let root = roots[version as usize];
            let state = &states[version as usize];
            for i in 0..60 {
                let key = ukey(i);
                let p = prove(&store, &key, version).unwrap();
                prop_assert_eq!(p.value.as_ref(), state.0.get(&key));
                p.verify(&root).unwrap();
                for (other, other_root) in roots.iter().enumerate() {
                    if states[other].0.get(&key) != state.0.get(&key) {
                        prop_assert!(p.verify(other_root).is_err());
                    }
                }
            }
        }
    }

    /// A bigger tree (deep paths, every sibling kind) against jmt's proofs and verifier.
    #[test]
    fn large_tree_proofs_match_jmt(seed in 0u64..1_000, mask in 1u8..=255) {
        let store = MemTreeStore::new();
        let mut state = MemState::default();
        let mut w = WriteSet::default();
        for i in 0..3_000u64 {
            w.put(ukey(i * 7 + seed), uvalue(i * 7 + seed, i));
        }
        let root0 = store.commit(0, &w).unwrap();
        state.apply(&w);
        let mut w = WriteSet::default();
        for i in 0..500u64 {
            let k = i * 7 * 3 + seed;
            if i % 2 == 0 { w.delete(ukey(k)) } else { w.put(ukey(k), uvalue(k, 9)) }
        }
        let root1 = store.commit(1, &w).unwrap();
        let state0 = state.clone();
        state.apply(&w);
        for i in 0..40u64 {
            let k = ukey(mix(seed, i) % 30_000);
            check_state_proof(&store, &state, 1, &root1, &k, mask)?;
            check_state_proof(&store, &state0, 0, &root0, &k, mask)?;
        }
    }

    /// Inclusion proofs of a random log: every one verifies; any change of a proof byte, the
    /// leaf, the index, the size or the root fails.
    #[test]
    fn history_inclusion_proofs(n in 1u64..300, picks in prop::collection::vec(0u64..300, 8), mask in 1u8..=255) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| encode(&history_leaf(i))).collect();
        let (store, root) = log_of(&leaves);
        for &pick in picks.iter().chain([0, n - 1].iter()) {
            let i = pick % n;
            let leaf = leaf_hash(&leaves[i as usize]);
            prop_assert_eq!(leaf, history_leaf(i).hash());
            let proof = inclusion_proof(&store, i, n).unwrap();
            verify_inclusion(&leaf, i, n, &proof, &root).unwrap();
            prop_assert!(doc::verify_inclusion(&leaves[i as usize], i, n, &proof, &root));
            for j in 0..proof.len() {
                for at in 0..32 {
                    let mut bad = proof.clone();
                    bad[j] = flip_hash(&bad[j], at, mask);
                    prop_assert!(verify_inclusion(&leaf, i, n, &bad, &root).is_err());
                    prop_assert!(!doc::verify_inclusion(&leaves[i as usize], i, n, &bad, &root));
                }
            }
            for at in 0..32 {
                prop_assert!(verify_inclusion(&flip_hash(&leaf, at, mask), i, n, &proof, &root).is_err());
                prop_assert!(verify_inclusion(&leaf, i, n, &proof, &flip_hash(&root, at, mask)).is_err());
            }
            for at in 0..leaves[i as usize].len() {
                let bad = flipped(&leaves[i as usize], at, mask);
                prop_assert!(verify_inclusion(&leaf_hash(&bad), i, n, &proof, &root).is_err());
                prop_assert!(!doc::verify_inclusion(&bad, i, n, &proof, &root));
            }
            if n > 1 {
                prop_assert!(verify_inclusion(&leaf, (i + 1) % n, n, &proof, &root).is_err());
            }
            // (The size is not authenticated by the root alone: a verifier takes it from the
            // header, next to the root. See `tx_count_from_the_header_binds_the_position`.)
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(verify_inclusion(&leaf, i, n, &longer, &root).is_err());
            if !proof.is_empty() {
                prop_assert!(verify_inclusion(&leaf, i, n, &proof[..proof.len() - 1], &root).is_err());
            }
        }
    }

    /// Consistency proofs between every pair of sizes of a random log verify; tampering with
    /// any proof byte or either root fails.
    #[test]
    fn history_consistency_every_pair(n in 1u64..70, salt in any::<u64>(), mask in 1u8..=255) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| mix(salt, i).to_le_bytes().to_vec()).collect();
        let (store, _) = log_of(&leaves);
        let roots: Vec<Hash32> = (0..=n).map(|m| root_at(&store, m).unwrap()).collect();
        for new in 0..=n {
            for old in 0..=new {
                let proof = consistency_proof(&store, old, new).unwrap();
                let (r_old, r_new) = (roots[old as usize], roots[new as usize]);
                verify_consistency(old, new, &r_old, &r_new, &proof).unwrap();
                prop_assert!(doc::verify_consistency(old, new, &r_old, &r_new, &proof));
                if old == new {
                    continue;
                }
                let at = (mix(salt, old * 1_000 + new) % 32) as usize;
                prop_assert!(verify_consistency(old, new, &flip_hash(&r_old, at, mask), &r_new, &proof).is_err());
                if old > 0 {
                    // (The empty log is a prefix of any log: its proof says nothing of the new root.)
                    prop_assert!(verify_consistency(old, new, &r_old, &flip_hash(&r_new, at, mask), &proof).is_err());
                }
                for j in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[j] = flip_hash(&bad[j], at, mask);
                    prop_assert!(verify_consistency(old, new, &r_old, &r_new, &bad).is_err());
                    prop_assert!(!doc::verify_consistency(old, new, &r_old, &r_new, &bad));
                }
            }
        }
    }

    /// Every byte of every consistency proof of a smaller random log.
    #[test]
    fn history_consistency_every_byte(n in 2u64..24, mask in 1u8..=255) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 3]).collect();
        let (store, _) = log_of(&leaves);
        for new in 1..=n {
            for old in 1..new {
                let proof = consistency_proof(&store, old, new).unwrap();
                let (r_old, r_new) = (root_at(&store, old).unwrap(), root_at(&store, new).unwrap());
                for j in 0..proof.len() {
                    for at in 0..32 {
                        let mut bad = proof.clone();
                        bad[j] = flip_hash(&bad[j], at, mask);
                        prop_assert!(verify_consistency(old, new, &r_old, &r_new, &bad).is_err());
                    }
                }
                for at in 0..32 {
                    prop_assert!(verify_consistency(old, new, &flip_hash(&r_old, at, mask), &r_new, &proof).is_err());
                    prop_assert!(verify_consistency(old, new, &r_old, &flip_hash(&r_new, at, mask), &proof).is_err());
                }
            }
        }
    }

    /// Tx and result inclusion proofs of a block: each verifies; changing any byte of the
    /// item, the proof or the root fails.
    #[test]
    fn block_inclusion_proofs(count in 1usize..40, pick in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let txs: Vec<SignedTx> = (0..count).map(|i| signed_tx(i as u64)).collect();
        let results: Vec<TxResult> = txs.iter().enumerate().map(|(i, tx)| tx_result(tx, i)).collect();
        let (troot, rroot) = (tx_root(&txs), result_root(&results));
        let i = pick.index(count);
        let tproof = block_inclusion_proof(&txs, i as u64).unwrap();
        let rproof = block_inclusion_proof(&results, i as u64).unwrap();
        verify_block_inclusion(&txs[i], &tproof, &troot, count as u64).unwrap();
        verify_block_inclusion(&results[i], &rproof, &rroot, count as u64).unwrap();
        prop_assert!(doc::verify_inclusion(&encode(&txs[i]), i as u64, count as u64, &tproof.path, &troot));
        prop_assert!(verify_block_inclusion(&txs[i], &tproof, &rroot, count as u64).is_err());
        if count > 1 {
            let j = (i + 1) % count;
            prop_assert!(verify_block_inclusion(&txs[j], &tproof, &troot, count as u64).is_err());
            prop_assert!(verify_block_inclusion(&results[j], &rproof, &rroot, count as u64).is_err());
        }
        check_block_proof(&txs[i], &tproof, &troot, mask)?;
        check_block_proof(&results[i], &rproof, &rroot, mask)?;
    }
}

fn check_block_proof<T>(
    item: &T,
    proof: &BlockInclusionProof,
    root: &Hash32,
    mask: u8,
) -> Result<(), TestCaseError>
where
    T: bincode::Encode + bincode::Decode<()> + PartialEq,
{
    let bytes = encode(item);
    for at in 0..bytes.len() {
        if let Ok(bad) = decode::<T>(&flipped(&bytes, at, mask)) {
            prop_assert!(
                verify_block_inclusion(&bad, proof, root, proof.count).is_err(),
                "item byte {}",
                at
            );
        }
    }
    let proof_bytes = encode(proof);
    // The count (bytes 8..16) is checked against the header's tx_count.
    for at in 0..proof_bytes.len() {
        if let Ok(bad) = decode::<BlockInclusionProof>(&flipped(&proof_bytes, at, mask)) {
            prop_assert!(
                verify_block_inclusion(item, &bad, root, proof.count).is_err(),
                "proof byte {}",
                at
            );
        }
    }
    for at in 0..32 {
        prop_assert!(
            verify_block_inclusion(item, proof, &flip_hash(root, at, mask), proof.count).is_err()
        );
    }
    Ok(())
}

fn mix(a: u64, b: u64) -> u64 {
    let h = blake3::hash(&[a.to_le_bytes(), b.to_le_bytes()].concat());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap())
}

fn log_of(leaves: &[Vec<u8>]) -> (BTreeMap<NodeIndex, Hash32>, Hash32) {
    let mut log = HistoryLog::default();
    let mut writes = Vec::new();
    for l in leaves {
        log.append(leaf_hash(l), &mut writes);
    }
    (writes.into_iter().collect(), log.root())
}

fn history_leaf(i: u64) -> HistoryLeaf {
    HistoryLeaf {
        tx_id: TxId(h("tx", i)),
        height: 1 + i / 3,
        index: (i % 3) as u32,
        outcome: TxOutcome::Applied { events: vec![] },
    }
}

fn signed_tx(nonce: u64) -> SignedTx {
    TxBody {
        chain_id: ChainId::new("testchain").unwrap(),
        nonce,
        valid_until_ms: testkit::GENESIS_MS + 60_000,
        kind: TxKind::RevokeKey(RevokeKeyTx {
            key: testkit::public(20),
        }),
        memo: None,
    }
    .sign(&testkit::key(1))
}

fn tx_result(tx: &SignedTx, i: usize) -> TxResult {
    TxResult {
        tx_id: tx.id(),
        outcome: if i.is_multiple_of(2) {
            TxOutcome::Applied { events: vec![] }
        } else {
            TxOutcome::Rejected {
                rejection: Rejection::new(RejectReason::NotFound, format!("key {i} not found")),
            }
        },
    }
}

/// The header's `tx_count` binds the leaf count: a path re-read as a proof for a smaller
/// block (index 1 of 2) verifies against the bare root, so the verifier must take the
/// count from the header, and `verify_block_inclusion` refuses any other count.
#[test]
fn tx_count_from_the_header_binds_the_position() {
    let txs: Vec<SignedTx> = (0..17).map(signed_tx).collect();
    let root = tx_root(&txs);
    let proof = block_inclusion_proof(&txs, 16).unwrap();
    verify_block_inclusion(&txs[16], &proof, &root, 17).unwrap();
    let reinterpreted = BlockInclusionProof {
        index: 1,
        count: 2,
        path: proof.path.clone(),
    };
    assert!(verify_block_inclusion(&txs[16], &reinterpreted, &root, 17).is_err());
    assert!(verify_block_inclusion(&txs[16], &proof, &root, 2).is_err());
    for index in (0..17).filter(|&i| i != 16) {
        let p = BlockInclusionProof {
            index,
            ..proof.clone()
        };
        assert!(verify_block_inclusion(&txs[16], &p, &root, 17).is_err());
    }
}

#[test]
fn empty_log_and_empty_tree() {
    assert_eq!(empty_root(), Hash32(*blake3::hash(b"").as_bytes()));
    assert!(verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).is_ok());
    let store = MemTreeStore::new();
    let root = store.commit(0, &WriteSet::default()).unwrap();
    assert_eq!(root, EMPTY_STATE_ROOT);
    let p = prove(&store, &ukey(1), 0).unwrap();
    assert_eq!(p.proof, StateProof::default());
    p.verify(&root).unwrap();
    assert!(doc::verify_state(
        &root.0,
        &ukey(1).to_bytes(),
        None,
        &p.proof.to_bytes()
    ));
    // A proof with too many siblings is refused before any hashing.
    let long = StateProof {
        leaf: None,
        siblings: vec![PLACEHOLDER_HASH; 257],
    };
    assert_eq!(
        verify_state_proof(&root, &ukey(1), None, &long),
        Err(StateProofError::TooManySiblings(257))
    );
}

#[test]
fn a_non_inclusion_leaf_must_lie_on_the_key_path() {
    // Two keys whose hashes differ in the first bit: a proof for one cannot, with a sibling
    // list that claims a deeper path, show the absence of the other.
    let store = MemTreeStore::new();
    let (mut a, mut b) = (None, None);
    for i in 0..100 {
        let kh = key_hash(&ukey(i));
        if kh.0[0] & 0x80 == 0 && a.is_none() {
            a = Some(i);
        } else if kh.0[0] & 0x80 != 0 && b.is_none() {
            b = Some(i);
        }
    }
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut w = WriteSet::default();
    w.put(ukey(a), uvalue(a, 1));
    let root = store.commit(0, &w).unwrap();
    // The tree is a single leaf at the root: it proves b absent with no siblings.
    let p = prove(&store, &ukey(b), 0).unwrap();
    assert_eq!(p.proof.siblings.len(), 0);
    p.verify(&root).unwrap();
    // Claiming that leaf one level down (a placeholder sibling) is refused: the two keys
    // part at the first bit, so the leaf cannot lie in b's subtree.
    let forged = StateProof {
        leaf: p.proof.leaf,
        siblings: vec![PLACEHOLDER_HASH],
    };
    assert_eq!(
        verify_state_proof(&root, &ukey(b), None, &forged),
        Err(StateProofError::LeafOffPath)
    );
}

// ---- the document's verifier ------------------------------------------------------

/// Verifiers written from `docs/proofs.md` alone, on raw bytes, with nothing from the crate
/// but blake3.
mod doc {
    use couponcactus_chaincode::ids::Hash32;

    fn b3(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(p);
        }
        *h.finalize().as_bytes()
    }

    const PLACEHOLDER: &[u8; 32] = b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

    /// State proof: `proof` is the proof's canonical bytes.
    pub fn verify_state(root: &[u8; 32], key: &[u8], value: Option<&[u8]>, proof: &[u8]) -> bool {
        // Parse: leaf option, then u64le count and 32-byte siblings, nothing after.
        let (leaf, rest) = match proof.first() {
            Some(0) => (None, &proof[1..]),
            Some(1) if proof.len() >= 65 => {
                let k: [u8; 32] = proof[1..33].try_into().unwrap();
                let v: [u8; 32] = proof[33..65].try_into().unwrap();
                (Some((k, v)), &proof[65..])
            }
            _ => return false,
        };
        if rest.len() < 8 {
            return false;
        }
        let n = u64::from_le_bytes(rest[..8].try_into().unwrap());
        let body = &rest[8..];
        if n > 256 || body.len() as u64 != 32 * n {
            return false;
        }
        let n = n as usize;
        let siblings: Vec<&[u8]> = body.chunks(32).collect();
        let kh = b3(&[key]);
        let bit = |i: usize| (kh[i / 8] >> (7 - i % 8)) & 1 == 1;
        match (value, leaf) {
            (Some(_), None) => return false,
            (Some(v), Some((lk, lv))) => {
                if lk != kh || lv != b3(&[v]) {
                    return false;
                }
            }
            (None, Some((lk, _))) => {
                if lk == kh {
                    return false;
                }
                let lbit = |i: usize| (lk[i / 8] >> (7 - i % 8)) & 1 == 1;
                if (0..n).any(|i| bit(i) != lbit(i)) {
                    return false;
                }
            }
            (None, None) => {}
        }
        let mut acc = match leaf {
            Some((lk, lv)) => b3(&[b"JMT::LeafNode", &lk, &lv]),
            None => *PLACEHOLDER,
        };
        for (i, s) in siblings.iter().enumerate() {
            acc = if bit(n - 1 - i) {
                b3(&[b"JMT::IntrnalNode", s, &acc])
            } else {
                b3(&[b"JMT::IntrnalNode", &acc, s])
            };
        }
        acc == *root
    }

    fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
        b3(&[&[1], l, r])
    }

    /// RFC 9162 §2.1.3.2, with the leaf's bytes.
    pub fn verify_inclusion(
        leaf: &[u8],
        index: u64,
        size: u64,
        path: &[Hash32],
        root: &Hash32,
    ) -> bool {
        if index >= size {
            return false;
        }
        let (mut fn_, mut sn) = (index, size - 1);
        let mut r = b3(&[&[0], leaf]);
        for p in path {
            if sn == 0 {
                return false;
            }
            if fn_ & 1 == 1 || fn_ == sn {
                r = node(&p.0, &r);
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                r = node(&r, &p.0);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        sn == 0 && r == root.0
    }

    /// RFC 9162 §2.1.4.2, plus the trivial cases (equal sizes, old size 0).
    pub fn verify_consistency(
        m: u64,
        n: u64,
        old: &Hash32,
        new: &Hash32,
        proof: &[Hash32],
    ) -> bool {
        if m > n {
            return false;
        }
        if m == n {
            return proof.is_empty() && old == new;
        }
        if m == 0 {
            return proof.is_empty() && old.0 == b3(&[]);
        }
        let mut path: Vec<[u8; 32]> = proof.iter().map(|h| h.0).collect();
        if m.is_power_of_two() {
            path.insert(0, old.0);
        }
        if path.is_empty() {
            return false;
        }
        let (mut fn_, mut sn) = (m - 1, n - 1);
        while fn_ & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
        }
        let (mut fr, mut sr) = (path[0], path[0]);
        for c in &path[1..] {
            if sn == 0 {
                return false;
            }
            if fn_ & 1 == 1 || fn_ == sn {
                fr = node(c, &fr);
                sr = node(c, &sr);
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = node(&sr, c);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        sn == 0 && fr == old.0 && sr == new.0
    }
}

// ---- test vectors of docs/proofs.md ----------------------------------------------------

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/proofs.md");
const BEGIN: &str = "<!-- BEGIN GENERATED VECTORS: written by `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test proofs`; do not edit by hand -->";
const END: &str = "<!-- END GENERATED VECTORS -->";

fn hx(b: impl AsRef<[u8]>) -> String {
    hex::encode(b)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// The vector tree's keys and values (version 0).
fn vector_entries() -> Vec<(StateKey, StateValue)> {
    vec![
        (StateKey::PruneCursor, StateValue::PruneCursor(1, 0)),
        (
            StateKey::MemberRedemptions(pool(), testkit::member(2)),
            StateValue::Count(2),
        ),
        (
            StateKey::Remembered(1),
            StateValue::Remembered(vec![
                (TxId(h("tx", 1)), 1_767_225_660_000),
                (TxId(h("tx", 2)), 1_767_225_660_000),
            ]),
        ),
        (
            StateKey::Claim(pool(), ClaimKey(h("claim", 2))),
            StateValue::Claim(1),
        ),
        (
            StateKey::Claim(pool(), ClaimKey(h("claim", 1))),
            StateValue::Claim(0),
        ),
        (
            StateKey::MemberAllocations(pool(), testkit::member(1)),
            StateValue::Count(1),
        ),
    ]
}

/// The verification of a state proof, step by step, as a markdown table.
fn state_steps(out: &mut String, key: &StateKey, proof: &StateProof) {
    let kh = key_hash(key);
    let n = proof.siblings.len();
    let mut acc = proof.leaf.map_or(PLACEHOLDER_HASH, |l| {
        leaf_node_hash(&l.key_hash, &l.value_hash)
    });
    writeln!(
        out,
        "\nstart: `{}` ({})\n",
        hx(acc.0),
        if proof.leaf.is_some() {
            "leaf hash"
        } else {
            "placeholder"
        }
    )
    .unwrap();
    writeln!(out, "| i | bit index | bit | sibling | hash after step |").unwrap();
    writeln!(out, "| - | - | - | - | - |").unwrap();
    for (i, s) in proof.siblings.iter().enumerate() {
        let d = n - 1 - i;
        let bit = (kh.0[d / 8] >> (7 - d % 8)) & 1;
        acc = if bit == 1 {
            internal_node_hash(s, &acc)
        } else {
            internal_node_hash(&acc, s)
        };
        writeln!(
            out,
            "| {i} | {d} | {bit} | `{}` | `{}` |",
            hx(s.0),
            hx(acc.0)
        )
        .unwrap();
    }
}

fn state_vector(out: &mut String, title: &str, store: &MemTreeStore, key: &StateKey, version: u64) {
    let p = prove(store, key, version).unwrap();
    let root = state_root(store, version).unwrap().unwrap();
    p.verify(&root).unwrap();
    writeln!(out, "\n#### {title}\n").unwrap();
    writeln!(out, "- version: {version}, root: `{}`", hx(root.0)).unwrap();
    writeln!(out, "- key: `{}`", json(key)).unwrap();
    writeln!(out, "- key bytes: `{}`", hx(key.to_bytes())).unwrap();
    writeln!(out, "- key hash: `{}`", hx(key_hash(key).0)).unwrap();
    match &p.value {
        Some(v) => writeln!(
            out,
            "- value: `{}`, value bytes: `{}`, value hash: `{}`",
            json(v),
            hx(v.to_bytes()),
            hx(value_hash(v).0)
        )
        .unwrap(),
        None => writeln!(out, "- value: absent").unwrap(),
    }
    writeln!(out, "- proof (JSON): `{}`", json(&p.proof)).unwrap();
    writeln!(out, "- proof bytes: `{}`", hx(p.proof.to_bytes())).unwrap();
    state_steps(out, key, &p.proof);
}

/// Builds the generated section of the document.
fn vectors() -> String {
    let mut out = String::new();
    let o = &mut out;
    writeln!(o, "### Primitives\n").unwrap();
    writeln!(
        o,
        "- `blake3(\"\")` (empty history log root): `{}`",
        hx(empty_root().0)
    )
    .unwrap();
    writeln!(
        o,
        "- placeholder hash (empty state root): `{}`",
        hx(PLACEHOLDER_HASH.0)
    )
    .unwrap();
    writeln!(o, "- leaf domain `JMT::LeafNode`: `{}`", hx(LEAF_DOMAIN)).unwrap();
    writeln!(
        o,
        "- internal domain `JMT::IntrnalNode`: `{}`",
        hx(INTERNAL_DOMAIN)
    )
    .unwrap();
    let (a, b) = (Hash32([0x11; 32]), Hash32([0x22; 32]));
    writeln!(
        o,
        "- JMT leaf hash of key hash `11…11`, value hash `22…22`: `{}`",
        hx(leaf_node_hash(&a, &b).0)
    )
    .unwrap();
    writeln!(
        o,
        "- JMT internal hash of left `11…11`, right `22…22`: `{}`",
        hx(internal_node_hash(&a, &b).0)
    )
    .unwrap();
    writeln!(
        o,
        "- RFC 9162 leaf hash of bytes `616263` (\"abc\"): `{}`",
        hx(leaf_hash(b"abc").0)
    )
    .unwrap();
    writeln!(
        o,
        "- RFC 9162 interior hash of left `11…11`, right `22…22`: `{}`",
        hx(node_hash(&a, &b).0)
    )
    .unwrap();

    // ---- state
    writeln!(o, "\n### State tree\n").unwrap();
    writeln!(o, "Version 0 commits these six entries (genesis):\n").unwrap();
    writeln!(
        o,
        "| # | key (JSON) | key bytes | key hash | value (JSON) | value bytes | value hash |"
    )
    .unwrap();
    writeln!(o, "| - | - | - | - | - | - | - |").unwrap();
    let entries = vector_entries();
    let mut w0 = WriteSet::default();
    for (i, (k, v)) in entries.iter().enumerate() {
        writeln!(
            o,
            "| {i} | `{}` | `{}` | `{}` | `{}` | `{}` | `{}` |",
            json(k),
            hx(k.to_bytes()),
            hx(key_hash(k).0),
            json(v),
            hx(v.to_bytes()),
            hx(value_hash(v).0)
        )
        .unwrap();
        w0.put(k.clone(), v.clone());
    }
    let store = MemTreeStore::new();
    let r0 = store.commit(0, &w0).unwrap();
    // Version 1: entry 1 changes, entry 3 is deleted. Version 2: no writes.
    let mut w1 = WriteSet::default();
    w1.put(entries[1].0.clone(), StateValue::Count(3));
    w1.delete(entries[3].0.clone());
    let r1 = store.commit(1, &w1).unwrap();
    let r2 = store.commit(2, &WriteSet::default()).unwrap();
    assert_eq!(r1, r2);
    writeln!(o, "\nRoots:\n").unwrap();
    writeln!(o, "- version 0: `{}`", hx(r0.0)).unwrap();
    writeln!(
        o,
        "- version 1 (entry 1 set to `{}`, entry 3 deleted): `{}`",
        json(&StateValue::Count(3)),
        hx(r1.0)
    )
    .unwrap();
    writeln!(
        o,
        "- version 2 (no writes; the root carries over): `{}`",
        hx(r2.0)
    )
    .unwrap();
    state_vector(
        o,
        "Inclusion: entry 4 at version 0",
        &store,
        &entries[4].0,
        0,
    );
    state_vector(
        o,
        "Inclusion: entry 1 at version 1 (updated value)",
        &store,
        &entries[1].0,
        1,
    );
    state_vector(
        o,
        "Non-inclusion: entry 3 at version 1 (deleted)",
        &store,
        &entries[3].0,
        1,
    );
    // Absent keys whose proofs end at an empty subtree and at another key's leaf.
    let absent = |want_leaf: bool| {
        (0..)
            .map(|i| StateKey::Redemption(TxId(h("absent", i))))
            .find(|k| prove(&store, k, 0).unwrap().proof.leaf.is_some() == want_leaf)
            .unwrap()
    };
    state_vector(
        o,
        "Non-inclusion ending at an empty subtree",
        &store,
        &absent(false),
        0,
    );
    state_vector(
        o,
        "Non-inclusion ending at another key's leaf",
        &store,
        &absent(true),
        0,
    );

    // ---- history
    writeln!(o, "\n### History log\n").unwrap();
    writeln!(o, "Leaves 0–6 are `HistoryLeaf`s with `tx_id = blake3(\"tx-<i>\")`, `height = 1 + i / 3`, `index = i % 3`, outcome applied with no events:\n").unwrap();
    writeln!(o, "| i | leaf (JSON) | leaf bytes | leaf hash |").unwrap();
    writeln!(o, "| - | - | - | - |").unwrap();
    let leaves: Vec<HistoryLeaf> = (0..7).map(history_leaf).collect();
    let bytes: Vec<Vec<u8>> = leaves.iter().map(encode).collect();
    for (i, l) in leaves.iter().enumerate() {
        writeln!(
            o,
            "| {i} | `{}` | `{}` | `{}` |",
            json(l),
            hx(&bytes[i]),
            hx(l.hash().0)
        )
        .unwrap();
    }
    let (store, _) = log_of(&bytes);
    writeln!(o, "\nRoots by size:\n").unwrap();
    for m in 0..=7 {
        writeln!(o, "- size {m}: `{}`", hx(root_at(&store, m).unwrap().0)).unwrap();
    }
    let list = |p: &[Hash32]| {
        p.iter()
            .map(|h| format!("`{}`", hx(h.0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, n) in [(5u64, 7u64), (0, 1), (6, 7), (3, 4)] {
        let p = inclusion_proof(&store, i, n).unwrap();
        writeln!(
            o,
            "- inclusion proof of leaf {i} in size {n}: [{}]",
            list(&p)
        )
        .unwrap();
    }
    for (m, n) in [(3u64, 7u64), (4, 7), (1, 2), (6, 7)] {
        let p = consistency_proof(&store, m, n).unwrap();
        writeln!(
            o,
            "- consistency proof from size {m} to size {n}: [{}]",
            list(&p)
        )
        .unwrap();
    }

    // ---- blocks
    writeln!(o, "\n### Blocks\n").unwrap();
    let items: Vec<&[u8]> = vec![b"tx-a", b"tx-b", b"tx-c"];
    let troot = merkle_root(&items);
    writeln!(o, "- root over the three leaves `74782d61`, `74782d62`, `74782d63` (\"tx-a\", \"tx-b\", \"tx-c\"; in a block each leaf is the canonical bytes of a `SignedTx` or a `TxResult`): `{}`", hx(troot.0)).unwrap();
    let p = merkle_proof(&items, 2).unwrap();
    writeln!(
        o,
        "- its inclusion proof of leaf 2 (`{{\"index\":2,\"count\":3,\"path\":[…]}}`): [{}]",
        list(&p)
    )
    .unwrap();
    writeln!(
        o,
        "- root of a block without txs: `{}` (the empty log's)",
        hx(merkle_root::<&[u8]>(&[]).0)
    )
    .unwrap();
    let header = BlockHeader {
        chain_id: ChainId::new("testchain").unwrap(),
        height: 7,
        time_ms: testkit::GENESIS_MS + 7_000,
        prev_hash: Hash32([0x01; 32]),
        tx_count: 3,
        tx_root: troot,
        result_root: Hash32([0x03; 32]),
        state_root: r0,
        log_root: root_at(&store, 7).unwrap(),
        log_size: 7,
        proposer: 2,
    };
    writeln!(o, "- header (JSON): `{}`", json(&header)).unwrap();
    writeln!(o, "- header bytes: `{}`", hx(encode(&header))).unwrap();
    writeln!(
        o,
        "- block hash `blake3(\"{}\" ‖ header bytes)`: `{}`",
        String::from_utf8_lossy(BLOCK_HASH_TAG),
        hx(header.hash().0)
    )
    .unwrap();
    let msg = checkpoint_message(&header.chain_id, header.height, &header.hash());
    writeln!(o, "- checkpoint message: `{}`", hx(&msg)).unwrap();
    let node_key = testkit::key(2);
    let sig = sign_checkpoint(
        &node_key,
        2,
        &header.chain_id,
        header.height,
        &header.hash(),
    );
    writeln!(
        o,
        "- node 2's key (ed25519 seed `02` × 32): public `{}`, signature `{}`",
        hx(node_key.verifying_key().to_bytes()),
        hx(sig.signature.0)
    )
    .unwrap();
    assert!(msg.starts_with(CHECKPOINT_TAG));
    out
}

#[test]
fn document_vectors_match() {
    let doc = std::fs::read_to_string(DOC_PATH).expect("docs/proofs.md");
    let generated = vectors();
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/proofs.md lacks the generated-vectors markers");
    };
    let current = doc[b + BEGIN.len()..e].trim();
    if std::env::var_os("UPDATE_VECTORS").is_some_and(|v| !v.is_empty() && v != "0") {
        let new = format!(
            "{}{BEGIN}\n\n{}\n\n{}",
            &doc[..b],
            generated.trim(),
            &doc[e..]
        );
        std::fs::write(DOC_PATH, new).unwrap();
        return;
    }
    if current != generated.trim() {
        let line = current
            .lines()
            .zip(generated.trim().lines())
            .position(|(a, b)| a != b)
            .unwrap_or(current.lines().count().min(generated.lines().count()));
        panic!(
            "the test vectors of docs/proofs.md no longer match the code (first difference at \
             generated line {}):\n  document: {:?}\n  code:     {:?}\nif the change is intended, run \
             `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test proofs` and review the diff",
            line + 1,
            current.lines().nth(line),
            generated.trim().lines().nth(line)
        );
    }
    // The hand-written parts quote these constants.
    for needle in [
        hx(PLACEHOLDER_HASH.0),
        hx(LEAF_DOMAIN),
        hx(INTERNAL_DOMAIN),
        String::from_utf8_lossy(BLOCK_HASH_TAG).into_owned(),
        String::from_utf8_lossy(CHECKPOINT_TAG).into_owned(),
    ] {
        assert!(
            doc[..b].contains(&needle),
            "docs/proofs.md should mention {needle}"
        );
    }
}

/// The variant tables of `docs/proofs.md` for state keys and values match the encoding.
#[test]
fn documented_state_variant_indices_match() {
    let doc = std::fs::read_to_string(DOC_PATH).expect("docs/proofs.md");
    let keys: Vec<(u32, StateKey)> = vec![
        (0, StateKey::Params),
        (
            6,
            StateKey::Token(TokenId {
                pool: pool(),
                serial: 1,
            }),
        ),
        (7, StateKey::Code(CodeHash([0; 32]))),
        (8, StateKey::Claim(pool(), ClaimKey([0; 32]))),
        (12, StateKey::SeenTx(TxId([0; 32]))),
        (13, StateKey::Remembered(1)),
        (14, StateKey::PruneCursor),
        (
            26,
            StateKey::Member(testkit::org("acme"), testkit::member(1)),
        ),
    ];
    for (index, k) in keys {
        assert_eq!(k.to_bytes()[..4], index.to_le_bytes(), "{k:?}");
        let name = serde_json::to_value(&k).unwrap();
        let name = match &name {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(m) => m.keys().next().unwrap().clone(),
            _ => unreachable!(),
        };
        assert!(
            doc.contains(&format!("| {index} | `{name}` |")),
            "key variant {index} `{name}` in the table"
        );
    }
    let values: Vec<(u32, StateValue)> = vec![
        (8, StateValue::Claim(0)),
        (9, StateValue::Count(0)),
        (11, StateValue::SeenTx(0)),
        (12, StateValue::Remembered(vec![])),
        (13, StateValue::PruneCursor(0, 0)),
        (25, StateValue::Member(MemberRecord { first_seen: 1 })),
    ];
    for (index, v) in values {
        assert_eq!(v.to_bytes()[..4], index.to_le_bytes(), "{v:?}");
    }
}
