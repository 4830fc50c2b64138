use super::super::node_key_bytes;
use super::*;
use couponcactus_chaincode::commitment::StateJmt;
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::state_tree::StateTree;
use couponcactus_chaincode::testkit::reachable_nodes;
use jmt::KeyHash;
use jmt::storage::{NibblePath, NodeKey, TreeReader};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn state(floor: u64, checkpoints: &[u64]) -> PruneState {
    PruneState {
        floor,
        checkpoints: checkpoints.to_vec(),
        ..PruneState::default()
    }
}

#[test]
fn the_window_moves_up_and_checkpoints_join_and_expire_oldest_first() {
    let r = Retention {
        window: 10,
        checkpoint_every: 5,
        checkpoints_kept: 2,
    };
    let s = r.advance(&PruneState::default(), 8);
    assert_eq!(
        s,
        PruneState::default(),
        "tip inside the window: nothing moves"
    );
    let s = r.advance(&s, 13);
    assert_eq!((s.floor, s.checkpoints.clone()), (3, vec![0]));
    let s = r.advance(&s, 22);
    assert_eq!((s.floor, s.checkpoints.clone()), (12, vec![0, 5, 10]));
    let s = r.advance(&s, 40);
    assert_eq!(
        (s.floor, s.checkpoints.clone()),
        (30, vec![0, 20, 25]),
        "genesis stays, 5..15 expire"
    );
    assert_eq!(r.advance(&s, 35), s, "the floor never moves down");
    let off = Retention {
        window: 0,
        ..Retention::default()
    };
    assert_eq!(off.advance(&s, 1_000), s, "window 0 prunes nothing");
    let none = Retention {
        checkpoint_every: 0,
        ..r
    };
    assert_eq!(
        none.advance(&PruneState::default(), 40).checkpoints,
        vec![0]
    );
}

#[test]
fn a_pruned_height_names_the_nearest_retained_one() {
    let s = state(100, &[0, 20, 40]);
    assert_eq!(s.retained(100), Retained::Yes);
    assert_eq!(s.retained(40), Retained::Yes);
    assert_eq!(s.retained(0), Retained::Yes);
    assert_eq!(s.retained(29), Retained::Pruned { nearest: 20 });
    assert_eq!(
        s.retained(30),
        Retained::Pruned { nearest: 40 },
        "ties go up"
    );
    assert_eq!(s.retained(80), Retained::Pruned { nearest: 100 });
    assert_eq!(s.retained(3), Retained::Pruned { nearest: 0 });
    assert_eq!(state(7, &[0]).retained(5), Retained::Pruned { nearest: 7 });
}

#[test]
fn a_node_is_held_by_the_newest_checkpoint_that_reads_it() {
    let s = state(100, &[0, 20, 40]);
    assert_eq!(s.protector(10, 50), Some(40));
    assert_eq!(
        s.protector(10, 40),
        Some(20),
        "stale since 40: version 40 has its successor"
    );
    assert_eq!(s.protector(21, 40), None);
    assert_eq!(s.protector(0, 5), Some(0));
}

#[test]
fn values_keep_the_newest_per_retained_height_and_tombstones_only_over_kept_values() {
    let s = state(100, &[0, 20]);
    let plan = |v: &[(u64, bool)]| plan_values(&s, v);
    // Updated at 5, 30, 90: 5 is read at checkpoint 20, 90 at the floor.
    assert_eq!(
        plan(&[(5, true), (30, true), (90, true)]),
        ValuePlan {
            delete: vec![30],
            hold: Some(20)
        }
    );
    // Written at 30, deleted at 60: nothing retained reads either.
    assert_eq!(
        plan(&[(30, true), (60, false)]),
        ValuePlan {
            delete: vec![30, 60],
            hold: None
        }
    );
    // Written at 5, deleted at 60: the tombstone stays over the checkpoint's value.
    assert_eq!(
        plan(&[(5, true), (60, false)]),
        ValuePlan {
            delete: vec![],
            hold: Some(20)
        }
    );
    // A tombstone a checkpoint reads, over nothing kept.
    assert_eq!(
        plan(&[(3, false), (40, true)]),
        ValuePlan {
            delete: vec![3],
            hold: None
        }
    );
}

/// One block of the random workload: writes by key index (`None` deletes).
type Block = Vec<(u8, Option<u8>)>;

fn key(i: u8) -> Hash32 {
    Hash32(*blake3::hash(&[i]).as_bytes())
}

fn commit(tree: &mut StateTree, stores: &[&Store], version: u64, block: &Block) {
    let writes: BTreeMap<Hash32, Option<Vec<u8>>> = block
        .iter()
        .map(|(k, v)| (key(*k), v.map(|v| vec![v, *k, 7])))
        .collect();
    let update = tree
        .commit_hashed(stores[0], version, writes.into_iter().collect())
        .unwrap();
    for store in stores {
        let mut batch = WriteBatch::default();
        store.put_tree_update(&mut batch, &update);
        store.write_unsynced(batch).unwrap();
    }
}

fn all_keys(store: &Store, name: &str) -> Vec<Vec<u8>> {
    store
        .db
        .iterator_cf(store.handle(name), IteratorMode::Start)
        .map(|item| item.unwrap().0.to_vec())
        .collect()
}

/// Checks the pruned store against the unpruned one: every retained version reads alike
/// (roots and proofs of every key), and nothing is left that no retained version reads.
fn check(pruned: &Store, full: &Store, tip: u64, keys: u8) {
    let state = pruned.prune_state().unwrap();
    let retained: Vec<u64> = (0..=tip)
        .filter(|&v| state.retained(v) == Retained::Yes)
        .collect();
    let mut live = BTreeSet::new();
    for &v in &retained {
        let (a, b) = (StateJmt::new(pruned), StateJmt::new(full));
        assert_eq!(a.get_root_hash(v).unwrap(), b.get_root_hash(v).unwrap());
        for k in 0..keys {
            let kh = KeyHash(key(k).0);
            let (pv, pp) = a.get_with_proof(kh, v).unwrap();
            let (fv, fp) = b.get_with_proof(kh, v).unwrap();
            assert_eq!(
                (pv, format!("{pp:?}")),
                (fv, format!("{fp:?}")),
                "key {k} at {v}"
            );
        }
        live.extend(reachable_nodes(pruned, v).iter().map(node_key_bytes));
    }
    for v in (0..=tip).filter(|v| !retained.contains(v)) {
        let root = NodeKey::new(v, NibblePath::from_iter(std::iter::empty()));
        assert!(
            pruned.get_node_option(&root).unwrap().is_none(),
            "root of pruned version {v} still stored"
        );
    }
    for stored in all_keys(pruned, cf::JMT_NODES) {
        assert!(
            live.contains(&stored),
            "node {stored:?} is read by no retained version"
        );
    }
    // Values at or below the floor: each one left is the newest at or below some retained
    // version where its key is present, or a tombstone over such a value.
    let mut by_key: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for stored in all_keys(pruned, cf::JMT_VALUES) {
        let version = u64::from_be_bytes(stored[32..].try_into().unwrap());
        by_key
            .entry(stored[..32].to_vec())
            .or_default()
            .push(version);
    }
    for (kh, versions) in by_key {
        let kh = KeyHash(kh.try_into().unwrap());
        let mut read = BTreeSet::new();
        for &v in &retained {
            if full.get_value_option(v, kh).unwrap().is_some() {
                read.insert(versions.iter().copied().rfind(|&n| n <= v).unwrap());
            }
        }
        for (i, n) in versions.iter().enumerate() {
            if *n > state.floor {
                // The window's own writes: a deletion's tombstone there waits for the floor.
                continue;
            }
            let present = full.get_value_option(*n, kh).unwrap().is_some();
            let over_kept = versions[..i].iter().any(|o| read.contains(o));
            assert!(
                read.contains(n) || (!present && over_kept),
                "value {kh:?}@{n} is read by no retained version"
            );
        }
    }
}

fn blocks() -> impl Strategy<Value = Vec<Block>> {
    let write = (0u8..24, prop::option::weighted(0.8, any::<u8>()));
    prop::collection::vec(prop::collection::vec(write, 0..6), 20..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Pruning after every block, in steps of a small budget, keeps every retained version
    /// whole and identical to an unpruned store, and leaves nothing no retained version
    /// reads; held nodes and values go once their checkpoint expires.
    #[test]
    fn pruning_keeps_retained_versions_whole_and_nothing_else(
        blocks in blocks(),
        window in 1u64..8,
        every in 0u64..6,
        kept in 0usize..3,
        budget in 1usize..20,
    ) {
        let retention = Retention { window, checkpoint_every: every, checkpoints_kept: kept };
        let (dp, df) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (pruned, full) = (Store::open(dp.path()).unwrap(), Store::open(df.path()).unwrap());
        let mut tree = StateTree::new();
        commit(&mut tree, &[&pruned, &full], 0, &vec![(0, Some(1)), (1, Some(2))]);
        for (i, block) in blocks.iter().enumerate() {
            let tip = i as u64 + 1;
            commit(&mut tree, &[&pruned, &full], tip, block);
            let mut steps = 0;
            while !pruned.prune_step(&retention, tip, budget).unwrap().done {
                steps += 1;
                prop_assert!(steps < 10_000, "pruning does not finish");
            }
            check(&pruned, &full, tip, 24);
        }
        let state = pruned.prune_state().unwrap();
        prop_assert_eq!(state.floor, (blocks.len() as u64).saturating_sub(window));
        // Only what kept checkpoints hold is left in the held list.
        for held in all_keys(&pruned, cf::JMT_HELD) {
            let c = u64::from_be_bytes(held[..8].try_into().unwrap());
            prop_assert!(state.checkpoints.contains(&c), "held by expired checkpoint {}", c);
        }
    }
}
