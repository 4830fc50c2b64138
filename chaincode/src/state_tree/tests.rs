//! The in-memory tree against jmt, the oracle: identical roots at every version and
//! identical proofs for present and absent keys, on random workloads with inserts,
//! updates, deletes and empty versions, over random keys and over key hashes crafted to
//! share long prefixes (deep one-sided chains).

use super::*;
use crate::commitment::{Blake3Hasher, EMPTY_STATE_ROOT, MemTreeStore, verify_state_proof_hashed};
use crate::ids::TxId;
use crate::state::{StateKey, StateValue};
use crate::testkit::reachable_nodes;
use jmt::{JellyfishMerkleTree, KeyHash};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Key `i` of a 64-key universe: even keys are random hashes, odd keys share long
/// prefixes (all zero bytes but one bit at a position that depends on `i`), so splits
/// happen deep in the tree and one-sided runs are long.
fn universe_key(i: u64) -> Hash32 {
    if i.is_multiple_of(2) {
        return Hash32(*blake3::hash(&i.to_le_bytes()).as_bytes());
    }
    let mut k = [0u8; 32];
    let pos = ((i * 37) % 256) as usize;
    k[pos / 8] |= 0x80 >> (pos % 8);
    k[31] ^= (i as u8) & 0x03;
    Hash32(k)
}

fn value_bytes(seed: u64) -> Vec<u8> {
    seed.to_le_bytes().to_vec()
}

/// One version: the key numbers written, `Some(seed)` = put, `None` = delete; the last
/// write of a key wins.
type Block = BTreeMap<u64, Option<u64>>;

fn blocks() -> impl Strategy<Value = Vec<Block>> {
    prop::collection::vec(
        prop::collection::btree_map(0u64..64, prop::option::weighted(0.65, 0u64..1_000), 0..24),
        1..16,
    )
}

/// Commits `block` as `version` with jmt's own per-key update into `store`.
fn jmt_commit(store: &MemTreeStore, version: u64, block: &Block) -> Hash32 {
    let set: Vec<(KeyHash, Option<Vec<u8>>)> = block
        .iter()
        .map(|(i, v)| (KeyHash(universe_key(*i).0), v.map(value_bytes)))
        .collect();
    let (root, batch) = JellyfishMerkleTree::<_, Blake3Hasher>::new(store)
        .put_value_set(set, version)
        .unwrap();
    store.write_jmt_batch(&batch);
    Hash32(root.0)
}

fn tree_commit(tree: &mut StateTree, block: &Block) -> Hash32 {
    tree.apply(block.iter().map(|(i, v)| {
        let value = v.map(|s| Hash32(*blake3::hash(&value_bytes(s)).as_bytes()));
        (universe_key(*i), value)
    }))
}

fn jmt_proof(store: &MemTreeStore, key: &Hash32, version: u64) -> StateProof {
    let (_, proof) = JellyfishMerkleTree::<_, Blake3Hasher>::new(store)
        .get_with_proof(KeyHash(key.0), version)
        .unwrap();
    StateProof::from_jmt(&proof).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roots_and_proofs_are_jmts(blocks in blocks(), absent in prop::collection::vec(any::<[u8; 32]>(), 4)) {
        let store = MemTreeStore::new();
        let mut tree = StateTree::new();
        for (version, block) in blocks.iter().enumerate() {
            let version = version as u64;
            let expected = jmt_commit(&store, version, block);
            prop_assert_eq!(tree_commit(&mut tree, block), expected, "root at version {}", version);
            prop_assert_eq!(tree.root_hash(), expected);
            let keys = (0..64).map(universe_key).chain(absent.iter().map(|a| Hash32(*a)));
            for key in keys {
                let proof = tree.prove(&key);
                prop_assert_eq!(&proof, &jmt_proof(&store, &key, version), "proof of {:?}", key);
                let value = tree.get(&key);
                prop_assert_eq!(verify_state_proof_hashed(&expected, &key, value.as_ref(), &proof), Ok(()));
            }
        }
    }
}

/// A tree key (`SeenTx` keys are node-local, outside the tree).
fn tree_key(i: u64) -> StateKey {
    StateKey::Redemption(TxId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
}

/// The chaincode's own path: a block's `WriteSet` gives the root `commit_writes` gives.
#[test]
fn write_sets_give_commit_writes_roots() {
    let store = MemTreeStore::new();
    let mut tree = StateTree::new();
    for version in 0..12u64 {
        let mut w = WriteSet::default();
        for i in 0..300 {
            let n = (i * 7 + version * 13) % 500;
            match (n + version) % 5 {
                0 if version > 0 => w.delete(tree_key(n)),
                _ => w.put(tree_key(n), StateValue::SeenTx(version * 1_000 + i)),
            }
        }
        let expected = store.commit(version, &w).unwrap();
        assert_eq!(tree.apply_writes(&w), expected, "version {version}");
    }
}

/// A few thousand random keys, then a block of updates and deletes: roots and a sample of
/// proofs still match jmt.
#[test]
fn a_larger_tree_matches_jmt() {
    let store = MemTreeStore::new();
    let mut tree = StateTree::new();
    let key = |i: u64| Hash32(*blake3::hash(&(i ^ 0x5eed).to_le_bytes()).as_bytes());
    let value = |s: u64| Some(Hash32(*blake3::hash(&value_bytes(s)).as_bytes()));
    let first: Vec<(KeyHash, Option<Vec<u8>>)> = (0..3_000)
        .map(|i| (KeyHash(key(i).0), Some(value_bytes(i))))
        .collect();
    let jmt = JellyfishMerkleTree::<_, Blake3Hasher>::new(&store);
    let (root, batch) = jmt.put_value_set(first, 0).unwrap();
    store.write_jmt_batch(&batch);
    assert_eq!(
        tree.apply((0..3_000).map(|i| (key(i), value(i)))),
        Hash32(root.0)
    );
    let second: Vec<(u64, Option<u64>)> = (0..600)
        .map(|i| (i * 5, (i % 3 != 0).then_some(i + 10_000)))
        .collect();
    let set: Vec<_> = second
        .iter()
        .map(|(i, v)| (KeyHash(key(*i).0), v.map(value_bytes)))
        .collect();
    let (root, batch) = jmt.put_value_set(set, 1).unwrap();
    store.write_jmt_batch(&batch);
    let got = tree.apply(second.iter().map(|(i, v)| (key(*i), v.and_then(value))));
    assert_eq!(got, Hash32(root.0));
    assert_eq!(tree.len(), 3_000 - 200);
    for i in (0..3_100).step_by(31) {
        assert_eq!(
            tree.prove(&key(i)),
            jmt_proof(&store, &key(i), 1),
            "key {i}"
        );
    }
}

#[test]
fn emptied_tree_has_the_empty_root_and_reuses_its_slots() {
    let mut tree = StateTree::new();
    assert_eq!(tree.root_hash(), EMPTY_STATE_ROOT);
    assert_eq!(tree.prove(&universe_key(1)), StateProof::default());
    for round in 0..5u64 {
        let root = tree.apply((0..64).map(|i| (universe_key(i), Some(universe_key(i + round)))));
        assert_ne!(root, EMPTY_STATE_ROOT);
        assert_eq!(tree.len(), 64);
        assert_eq!(
            tree.apply((0..64).map(|i| (universe_key(i), None))),
            EMPTY_STATE_ROOT
        );
        assert!(tree.is_empty());
    }
    // 64 leaves and 63 internal nodes at most, whatever the number of rounds.
    assert!(
        tree.arena_len() <= 127,
        "arena grew to {}",
        tree.arena_len()
    );
}

#[test]
fn deleting_an_absent_key_changes_nothing() {
    let mut tree = StateTree::new();
    let root = tree.apply((0..10).map(|i| (universe_key(i), Some(universe_key(100 + i)))));
    assert_eq!(
        tree.apply([(universe_key(50), None), (universe_key(51), None)]),
        root
    );
    assert_eq!(tree.len(), 10);
}

// ---- Persistence: the jmt nodes `StateTree::commit` writes (persist.rs) ----

use crate::commitment::{CommitmentError, walk};
use jmt::storage::{NodeKey, TreeReader};
use std::collections::BTreeSet;

fn hashed(block: &Block) -> Vec<(Hash32, Option<Vec<u8>>)> {
    block
        .iter()
        .map(|(i, v)| (universe_key(*i), v.map(value_bytes)))
        .collect()
}

/// One store written by the in-memory tree, checked against the oracle after each version.
struct Persisted {
    tree: StateTree,
    store: MemTreeStore,
    reach: Vec<BTreeSet<NodeKey>>,
    /// Resident nodes kept after each commit (`evict_from` nibble depth 1): `None` keeps
    /// the whole tree.
    budget: Option<usize>,
}

impl Persisted {
    fn new(budget: Option<usize>) -> Persisted {
        Persisted {
            tree: StateTree::new(),
            store: MemTreeStore::new(),
            reach: vec![],
            budget,
        }
    }

    fn commit(&mut self, version: u64, block: &Block) -> Result<(), TestCaseError> {
        let update = self
            .tree
            .commit_hashed(&self.store, version, hashed(block))
            .unwrap();
        self.store.write_update(&update);
        if let Some(budget) = self.budget {
            self.tree.evict_from(budget, 1);
            // What stays: the root's 16-way node (at most 15 binary nodes) and 16 children.
            prop_assert!(
                self.tree.resident() <= budget.max(31),
                "{} resident",
                self.tree.resident()
            );
        }
        let now = reachable_nodes(&self.store, version);
        for k in update.nodes.keys() {
            prop_assert!(now.contains(k), "unreachable node {:?} written", k);
        }
        let stale: BTreeSet<NodeKey> = update.stale.iter().map(|s| s.node_key.clone()).collect();
        if version > 0 {
            let before = &self.reach[version as usize - 1];
            let gone: BTreeSet<NodeKey> = before.difference(&now).cloned().collect();
            prop_assert_eq!(stale, gone, "stale index at version {}", version);
        }
        self.reach.truncate(version as usize);
        self.reach.push(now);
        Ok(())
    }
}

/// Proofs at every version so far, from the tree's store, are the oracle's.
fn same_proofs(
    store: &MemTreeStore,
    oracle: &MemTreeStore,
    last: u64,
) -> Result<(), TestCaseError> {
    for version in 0..=last {
        for key in (0..64).map(universe_key) {
            let ours = walk(store, &key, version).unwrap();
            let theirs = jmt_proof(oracle, &key, version);
            prop_assert_eq!(
                &StateProof {
                    leaf: ours.0,
                    siblings: ours.1
                },
                &theirs
            );
            prop_assert_eq!(
                &jmt_proof(store, &key, version),
                &theirs,
                "jmt's walk over our nodes"
            );
            prop_assert_eq!(
                store.get_value_option(version, KeyHash(key.0)).unwrap(),
                oracle.get_value_option(version, KeyHash(key.0)).unwrap()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// What `commit` writes is a jmt tree with the oracle's roots, proofs and values at
    /// every version, writes no unreachable node and marks stale exactly the nodes that
    /// stop being reachable; a tree loaded from its own store, or from jmt's (whose
    /// one-sided chains can mix versions), continues the same way; and so does a tree that
    /// evicts subtrees after every commit (down to `budget` resident nodes) and reads them
    /// back as commits and proofs reach them.
    #[test]
    fn commits_persist_jmts_tree(
        blocks in blocks(),
        reload in 0usize..16,
        budget in prop::option::of(0usize..48),
    ) {
        let oracle = MemTreeStore::new();
        let mut ours = Persisted::new(budget);
        let mut from_jmt: Option<Persisted> = None;
        for (version, block) in blocks.iter().enumerate() {
            let v = version as u64;
            if version == reload && version > 0 {
                ours.tree = StateTree::load(&ours.store, v - 1).unwrap();
                let tree = StateTree::load(&oracle, v - 1).unwrap();
                prop_assert_eq!(tree.root_hash(), ours.tree.root_hash());
                let reach = (0..v).map(|u| reachable_nodes(&oracle, u)).collect();
                // jmt's store up to `v - 1`, continued by the tree loaded from it.
                from_jmt = Some(Persisted { tree, store: oracle.clone(), reach, budget });
            }
            let root = jmt_commit(&oracle, v, block);
            ours.commit(v, block)?;
            prop_assert_eq!(ours.tree.root_hash(), root);
            if let Some(p) = from_jmt.as_mut() {
                p.commit(v, block)?;
                prop_assert_eq!(p.tree.root_hash(), root);
            }
        }
        let last = blocks.len() as u64 - 1;
        for key in (0..64).map(universe_key) {
            prop_assert_eq!(
                ours.tree.prove_from(&ours.store, &key).unwrap(),
                jmt_proof(&oracle, &key, last)
            );
            prop_assert_eq!(
                ours.tree.get_from(&ours.store, &key).unwrap(),
                oracle.get_value_option(last, KeyHash(key.0)).unwrap().map(|v| Hash32(*blake3::hash(&v).as_bytes()))
            );
        }
        same_proofs(&ours.store, &oracle, last)?;
        if let Some(p) = from_jmt {
            same_proofs(&p.store, &oracle, last)?;
        }
    }
}

/// Genesis on an empty tree: the nodes are byte for byte the ones jmt's batched insert
/// writes (which pins the hand-built borsh layout of jmt's internal nodes).
#[test]
fn genesis_nodes_are_jmts_own() {
    let mut w = WriteSet::default();
    for i in 0..2_000 {
        w.put(tree_key(i), StateValue::SeenTx(i));
    }
    let jmt = crate::commitment::commit_writes(&MemTreeStore::new(), 0, &w).unwrap();
    let ours = StateTree::new()
        .commit(&MemTreeStore::new(), 0, &w)
        .unwrap();
    assert_eq!(ours.root, jmt.root);
    // Byte for byte: jmt's nodes are encoded by borsh, ours built as bytes.
    assert_eq!(ours.nodes, jmt.nodes);
    assert_eq!(ours.values, jmt.values);
    assert_eq!(ours.node_batch(), jmt.node_batch());
}

/// The empty tree's root is jmt's `Node::Null`, byte for byte.
#[test]
fn an_empty_genesis_writes_jmts_null_root() {
    let w = WriteSet::default();
    let jmt = crate::commitment::commit_writes(&MemTreeStore::new(), 0, &w).unwrap();
    let ours = StateTree::new()
        .commit(&MemTreeStore::new(), 0, &w)
        .unwrap();
    assert_eq!((ours.root, &ours.nodes), (jmt.root, &jmt.nodes));
    assert_eq!(ours.nodes.len(), 1);
}

/// Versions must follow each other: a gap or a repeat is refused and changes nothing.
#[test]
fn commits_refuse_gaps_and_repeats() {
    let store = MemTreeStore::new();
    let mut tree = StateTree::new();
    let block: Block = [(1, Some(1))].into_iter().collect();
    assert!(matches!(
        tree.commit_hashed(&store, 1, hashed(&block)),
        Err(CommitmentError::MissingVersion(0))
    ));
    tree.commit_hashed(&store, 0, hashed(&block)).unwrap();
    let root = tree.root_hash();
    assert!(matches!(
        tree.commit_hashed(&store, 0, hashed(&block)),
        Err(CommitmentError::AlreadyCommitted(0))
    ));
    assert!(matches!(
        tree.commit_hashed(&store, 2, hashed(&block)),
        Err(CommitmentError::MissingVersion(1))
    ));
    assert_eq!(tree.root_hash(), root);
    assert!(matches!(
        StateTree::load(&store, 3),
        Err(CommitmentError::MissingVersion(3))
    ));
}

// ---- Eviction (evict.rs): a bounded resident tree over its store ----

/// Key `i` of the eviction tests' workload.
fn many(i: u64) -> Hash32 {
    Hash32(*blake3::hash(&(i ^ 0xe71c).to_le_bytes()).as_bytes())
}

/// 20,000 keys (~40,000 nodes), then blocks of inserts, updates and deletes with eviction
/// to 12,000 resident nodes after each: roots and stale indices are the oracle's (jmt over the same
/// store history), memory stays within the budget, and proofs read back what was evicted.
#[test]
fn an_evicting_tree_matches_jmt_within_its_budget() {
    let oracle = MemTreeStore::new();
    let mut ours = Persisted::new(None);
    let budget = 12_000;
    let mut next = 0u64;
    for version in 0..30u64 {
        let block: Vec<(Hash32, Option<Vec<u8>>)> = if version == 0 {
            next = 20_000;
            (0..next).map(|i| (many(i), Some(value_bytes(i)))).collect()
        } else {
            let mut w: BTreeMap<Hash32, Option<Vec<u8>>> = BTreeMap::new();
            for j in 0..200 {
                let seed = version * 1_000 + j;
                match j % 4 {
                    0 => {
                        w.insert(many(next), Some(value_bytes(seed)));
                        next += 1;
                    }
                    1 => {
                        w.insert(many((seed * 7_919) % next), None);
                    }
                    _ => {
                        w.insert(many((seed * 104_729) % next), Some(value_bytes(seed)));
                    }
                }
            }
            w.into_iter().collect()
        };
        let set: Vec<_> = block
            .iter()
            .map(|(k, v)| (KeyHash(k.0), v.clone()))
            .collect();
        let (root, batch) = JellyfishMerkleTree::<_, Blake3Hasher>::new(&oracle)
            .put_value_set(set, version)
            .unwrap();
        oracle.write_jmt_batch(&batch);
        let update = ours
            .tree
            .commit_hashed(&ours.store, version, block)
            .unwrap();
        assert_eq!(update.root, Hash32(root.0), "root at version {version}");
        ours.store.write_update(&update);
        // The arena grows by an eighth, so it never holds much more than its largest size.
        let (len, capacity) = (ours.tree.nodes.len(), ours.tree.nodes.capacity());
        assert!(
            capacity <= len + len / 8 + ARENA_MIN_GROWTH,
            "{capacity} slots for {len}"
        );
        ours.tree.evict(budget);
        assert!(
            ours.tree.resident() <= budget,
            "{} resident",
            ours.tree.resident()
        );
    }
    let stats = ours.tree.resident();
    for i in (0..next).step_by(97) {
        assert_eq!(
            ours.tree.prove_from(&ours.store, &many(i)).unwrap(),
            jmt_proof(&oracle, &many(i), 29),
            "key {i}"
        );
    }
    assert!(
        ours.tree.resident() > stats,
        "proofs read evicted subtrees back"
    );
    assert_eq!(ours.tree.len(), oracle_len(&oracle, 29));
}

fn oracle_len(store: &MemTreeStore, version: u64) -> usize {
    let root = store
        .get_node_option(&NodeKey::new(
            version,
            std::iter::empty::<u8>().map(Into::into).collect(),
        ))
        .unwrap()
        .unwrap();
    match root {
        jmt::storage::Node::Internal(n) => n.leaf_count(),
        jmt::storage::Node::Leaf(_) => 1,
        jmt::storage::Node::Null => 0,
    }
}

/// A store that lost a node an evicted subtree stands for: the commit that reaches it
/// fails with a clear error, the tree says it is broken and refuses further commits, and
/// a tree loaded again from a whole store goes on.
#[test]
fn a_missing_evicted_node_breaks_the_commit_clearly() {
    let store = MemTreeStore::new();
    let mut tree = StateTree::new();
    let first: Vec<_> = (0..5_000)
        .map(|i| (many(i), Some(value_bytes(i))))
        .collect();
    let update = tree.commit_hashed(&store, 0, first).unwrap();
    store.write_update(&update);
    assert!(tree.evict(0) > 0);
    let empty = MemTreeStore::new();
    let err = tree
        .commit_hashed(&empty, 1, vec![(many(3), Some(value_bytes(9)))])
        .unwrap_err();
    assert!(
        err.to_string().contains("evicted subtree is missing"),
        "{err}"
    );
    assert!(tree.is_broken());
    let err = tree
        .commit_hashed(&store, 1, vec![(many(3), Some(value_bytes(9)))])
        .unwrap_err();
    assert!(err.to_string().contains("load the tree again"), "{err}");
    let mut tree = StateTree::load(&store, 0).unwrap();
    let update = tree
        .commit_hashed(&store, 1, vec![(many(3), Some(value_bytes(9)))])
        .unwrap();
    assert_eq!(update.version, 1);
}

/// Loading reads the root's node only: a tree of 20,000 keys opens with a few dozen
/// resident nodes and has the same root.
#[test]
fn loading_is_lazy() {
    let store = MemTreeStore::new();
    let mut tree = StateTree::new();
    let first: Vec<_> = (0..20_000)
        .map(|i| (many(i), Some(value_bytes(i))))
        .collect();
    let update = tree.commit_hashed(&store, 0, first).unwrap();
    store.write_update(&update);
    let loaded = StateTree::load(&store, 0).unwrap();
    assert_eq!(loaded.root_hash(), tree.root_hash());
    assert_eq!(loaded.len(), 20_000);
    assert!(loaded.resident() <= 31, "{} resident", loaded.resident());
}
