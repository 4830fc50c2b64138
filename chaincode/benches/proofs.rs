//! State (JMT) and history-log proof throughput.
//!
//! `cargo bench -p couponcactus-chaincode --bench proofs -- --warm-up-time 2 --measurement-time 8`
//!
//! State tree (all on one thread, over the in-memory [`MemTreeStore`]):
//!
//! - `jmt_update/commit_10000_into_100000`: compute version N+1 of a tree holding
//!   100,000 token records: 10,000 writes (5,000 updates of existing tokens, 5,000 new
//!   tokens). Measures [`commit_writes`] (key hashing, value encoding and hashing, new nodes,
//!   stale indices); the store is read, not written, so each iteration is the same work.
//! - `jmt_update/commit_10000_with_deletes`: the same with 1,000 of the updates replaced by
//!   deletes.
//! - `jmt_update/commit_10000_half_deletes`: 5,000 deletes of existing tokens and 5,000 new
//!   tokens (the shape of a block in steady state, where expired tx ids are pruned).
//! - `jmt_update/commit_and_persist_10000`: [`MemTreeStore::commit`] of the first case
//!   (compute, then write nodes, values and stale indices into the in-memory store), each
//!   iteration on a fresh copy of the 100,000-key store (copying is not measured).
//! - `jmt_update/genesis_10000`: version 0 of 10,000 tokens into an empty tree.
//! - `state_proof/prove_present` / `prove_absent`: [`prove`] of 1,000 keys (present
//!   tokens / absent keys) at the latest version of the 100,000-key tree.
//! - `state_proof/prove_present_via_jmt` / `prove_absent_via_jmt`: the same proofs through
//!   jmt's `get_with_proof` and conversion ([`prove_with_jmt`]), for comparison.
//! - `state_proof/verify_present` / `verify_absent`: [`verify_state_proof`] of those proofs
//!   from the typed key and value (includes key and value encoding and hashing).
//!
//! - `state_tree_commit/block_300_into_1000000`: [`StateTree::commit_hashed`] of one
//!   block on the node's commit path — 150 updated and 150 new keys with 150-byte values
//!   (the shape of ~150 redemptions) into a tree of 1,000,000 committed keys: apply, rehash
//!   and the jmt nodes, values and stale index the block persists. Each iteration commits
//!   the next version (consecutive blocks, no copies), timing the commit only.
//!
//! History log:
//!
//! - `history/append_10000`: append 10,000 leaf hashes (collecting the node writes).
//! - `history/leaf_hash_10000`: hash 10,000 encoded `HistoryLeaf`s.
//! - `history/inclusion_prove` / `inclusion_verify`: 1,000 inclusion proofs in a log of
//!   1,000,000 leaves (nodes in a `BTreeMap`).
//! - `history/consistency_prove` / `consistency_verify`: 1,000 consistency proofs between
//!   pseudo-random sizes of that log.

use couponcactus_chaincode::commitment::{
    MemTreeStore, StateProof, commit_writes, prove, prove_with_jmt, verify_state_proof,
};
use couponcactus_chaincode::history::{
    HistoryLeaf, HistoryLog, NodeIndex, consistency_proof, inclusion_proof, leaf_hash, root_at,
    verify_consistency, verify_inclusion,
};
use couponcactus_chaincode::ids::{Hash32, TxId};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::state_tree::StateTree;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;

const BASE_KEYS: u64 = 100_000;
const BLOCK_KEYS: u64 = 10_000;
const PROOFS: u64 = 1_000;
const LOG_SIZE: u64 = 1_000_000;

/// Deterministic pseudo-random u64 (no rand in the chaincode's benches).
fn mix(i: u64, salt: u64) -> u64 {
    let h = blake3::hash(&[i.to_le_bytes(), salt.to_le_bytes()].concat());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap())
}

fn pool() -> PoolId {
    PoolId::new("spring-sale").unwrap()
}

fn token_key(serial: u64) -> StateKey {
    StateKey::Token(TokenId {
        pool: pool(),
        serial,
    })
}

/// A token record of realistic size (a 60-byte sealed code, an owner and a claim key).
fn token_value(serial: u64, version: u64) -> StateValue {
    let h = blake3::hash(&[serial.to_le_bytes(), version.to_le_bytes()].concat());
    StateValue::Token(TokenRecord {
        code_hash: CodeHash(*h.as_bytes()),
        sealed: SealedCode(h.as_bytes().repeat(2)[..60].to_vec()),
        status: if version == 0 {
            TokenStatus::Available
        } else {
            TokenStatus::Allocated
        },
        owner: (version > 0).then(|| MemberId(*h.as_bytes())),
        claim: (version > 0).then(|| ClaimKey(*h.as_bytes())),
    })
}

fn base_store() -> MemTreeStore {
    let store = MemTreeStore::new();
    let mut w = WriteSet::default();
    for s in 0..BASE_KEYS {
        w.put(token_key(s), token_value(s, 0));
    }
    store.commit(0, &w).unwrap();
    store
}

/// 5,000 updates of existing tokens and 5,000 new tokens; `deletes` of the updates become
/// deletes.
fn block_writes(version: u64, deletes: u64) -> WriteSet {
    let mut w = WriteSet::default();
    for i in 0..BLOCK_KEYS / 2 {
        let s = mix(i, version) % BASE_KEYS;
        if i < deletes {
            w.delete(token_key(s));
        } else {
            w.put(token_key(s), token_value(s, version));
        }
    }
    let first_new = BASE_KEYS + version * BLOCK_KEYS;
    for s in first_new..first_new + (BLOCK_KEYS - w.len() as u64) {
        w.put(token_key(s), token_value(s, version));
    }
    w
}

fn jmt_update(c: &mut Criterion) {
    let store = base_store();
    let writes = block_writes(1, 0);
    let with_deletes = block_writes(1, 1_000);
    let half_deletes = block_writes(1, BLOCK_KEYS / 2);
    let mut g = c.benchmark_group("jmt_update");
    g.sample_size(20);
    g.throughput(Throughput::Elements(writes.len() as u64));
    g.bench_function("commit_10000_into_100000", |b| {
        b.iter(|| black_box(commit_writes(&store, 1, black_box(&writes)).unwrap().root))
    });
    g.bench_function("commit_10000_with_deletes", |b| {
        b.iter(|| {
            black_box(
                commit_writes(&store, 1, black_box(&with_deletes))
                    .unwrap()
                    .root,
            )
        })
    });
    g.bench_function("commit_10000_half_deletes", |b| {
        b.iter(|| {
            black_box(
                commit_writes(&store, 1, black_box(&half_deletes))
                    .unwrap()
                    .root,
            )
        })
    });
    g.bench_function("commit_and_persist_10000", |b| {
        b.iter_batched(
            || store.clone(),
            // Returning the copy keeps its drop out of the measurement.
            |copy| {
                let root = copy.commit(1, &writes).unwrap();
                (copy, black_box(root))
            },
            BatchSize::PerIteration,
        )
    });
    let mut genesis = WriteSet::default();
    for s in 0..BLOCK_KEYS {
        genesis.put(token_key(s), token_value(s, 0));
    }
    let empty = MemTreeStore::new();
    g.bench_function("genesis_10000", |b| {
        b.iter(|| black_box(commit_writes(&empty, 0, black_box(&genesis)).unwrap().root))
    });
    g.finish();
}

/// The in-memory tree (`state_tree`) on the same blocks as `jmt_update`, and on a tree of
/// 1,000,000 keys with a block of 1,000 writes (about a block of 250 redemptions).
fn state_tree(c: &mut Criterion) {
    let mut base = StateTree::new();
    let mut w = WriteSet::default();
    for s in 0..BASE_KEYS {
        w.put(token_key(s), token_value(s, 0));
    }
    let base_root = base.apply_writes(&w);
    assert_eq!(
        Some(base_root),
        couponcactus_chaincode::commitment::state_root(&base_store(), 0).unwrap()
    );
    let mut g = c.benchmark_group("state_tree");
    g.sample_size(20);
    g.throughput(Throughput::Elements(BLOCK_KEYS));
    for (name, deletes) in [
        ("apply_10000_into_100000", 0),
        ("apply_10000_with_deletes", 1_000),
        ("apply_10000_half_deletes", BLOCK_KEYS / 2),
    ] {
        let writes = block_writes(1, deletes);
        g.bench_function(name, |b| {
            b.iter_batched(
                || base.clone(),
                |mut tree| {
                    let root = tree.apply_writes(black_box(&writes));
                    (tree, black_box(root))
                },
                BatchSize::LargeInput,
            )
        });
    }
    let mut big = StateTree::new();
    let key = |i: u64| Hash32(*blake3::hash(&i.to_le_bytes()).as_bytes());
    big.apply((0..1_000_000).map(|i| (key(i), Some(key(i + 7)))));
    let block: Vec<(Hash32, Option<Hash32>)> = (0..1_000u64)
        .map(|i| {
            let k = key(mix(i, 5) % 1_300_000);
            (k, (i % 4 != 0).then(|| key(i + 3)))
        })
        .collect();
    g.throughput(Throughput::Elements(block.len() as u64));
    g.bench_function("apply_hashed_1000_into_1000000", |b| {
        b.iter_batched(
            || big.clone(),
            |mut tree| {
                let root = tree.apply(black_box(block.iter().copied()));
                (tree, black_box(root))
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(PROOFS));
    g.bench_function("prove_1000_of_1000000", |b| {
        b.iter(|| {
            for i in 0..PROOFS {
                black_box(big.prove(&key(mix(i, 9) % 1_300_000)));
            }
        })
    });
    g.finish();
    eprintln!(
        "state_tree: 1,000,000 keys use {} arena slots of {} bytes ({} MiB)",
        big.arena_len(),
        StateTree::NODE_BYTES,
        (big.arena_len() * StateTree::NODE_BYTES) >> 20
    );
}

/// Consecutive blocks committed into one tree of 1,000,000 keys (see the module docs).
fn state_tree_commit(c: &mut Criterion) {
    const KEYS: u64 = 1_000_000;
    const UPDATES: u64 = 150;
    let key = |i: u64| Hash32(*blake3::hash(&i.to_le_bytes()).as_bytes());
    let value = |i: u64, v: u64| {
        blake3::hash(&[i, v].map(u64::to_le_bytes).concat())
            .as_bytes()
            .repeat(5)[..150]
            .to_vec()
    };
    let reader = MemTreeStore::new();
    let mut tree = StateTree::new();
    tree.commit_hashed(
        &reader,
        0,
        (0..KEYS).map(|i| (key(i), Some(value(i, 0)))).collect(),
    )
    .unwrap();
    let mut version = 0u64;
    let mut g = c.benchmark_group("state_tree_commit");
    g.sample_size(20);
    g.throughput(Throughput::Elements(2 * UPDATES));
    g.bench_function("block_300_into_1000000", |b| {
        b.iter_custom(|iterations| {
            let mut spent = std::time::Duration::ZERO;
            for _ in 0..iterations {
                version += 1;
                let first_new = KEYS + version * UPDATES;
                let writes: Vec<(Hash32, Option<Vec<u8>>)> = (0..UPDATES)
                    .map(|i| mix(i, version) % KEYS)
                    .chain(first_new..first_new + UPDATES)
                    .map(|i| (key(i), Some(value(i, version))))
                    .collect();
                let started = std::time::Instant::now();
                let update = tree.commit_hashed(&reader, version, writes).unwrap();
                spent += started.elapsed();
                black_box(update);
            }
            spent
        })
    });
    g.finish();
}

fn state_proofs(c: &mut Criterion) {
    let store = base_store();
    let root = store.commit(1, &block_writes(1, 0)).unwrap();
    let present: Vec<StateKey> = (0..PROOFS)
        .map(|i| token_key(mix(i, 99) % BASE_KEYS))
        .collect();
    let absent: Vec<StateKey> = (0..PROOFS)
        .map(|i| token_key(10 * BASE_KEYS + mix(i, 98) % BASE_KEYS))
        .collect();
    let mut g = c.benchmark_group("state_proof");
    g.throughput(Throughput::Elements(PROOFS));
    for (name, keys) in [("present", &present), ("absent", &absent)] {
        g.bench_function(format!("prove_{name}"), |b| {
            b.iter(|| {
                for k in keys.iter() {
                    black_box(prove(&store, k, 1).unwrap());
                }
            })
        });
        g.bench_function(format!("prove_{name}_via_jmt"), |b| {
            b.iter(|| {
                for k in keys.iter() {
                    black_box(prove_with_jmt(&store, k, 1).unwrap());
                }
            })
        });
        let proofs: Vec<(StateKey, Option<StateValue>, StateProof)> = keys
            .iter()
            .map(|k| {
                let p = prove(&store, k, 1).unwrap();
                (p.key, p.value, p.proof)
            })
            .collect();
        assert_eq!(
            proofs.iter().all(|p| p.1.is_some()),
            name == "present",
            "{name} keys"
        );
        g.bench_function(format!("verify_{name}"), |b| {
            b.iter(|| {
                for (k, v, p) in &proofs {
                    verify_state_proof(&root, k, v.as_ref(), p).unwrap();
                }
            })
        });
    }
    g.finish();
}

fn history(c: &mut Criterion) {
    let leaves: Vec<Hash32> = (0..BLOCK_KEYS)
        .map(|i| leaf_hash(&i.to_le_bytes()))
        .collect();
    let mut g = c.benchmark_group("history");
    g.throughput(Throughput::Elements(BLOCK_KEYS));
    g.bench_function("append_10000", |b| {
        b.iter(|| {
            let mut log = HistoryLog::default();
            let mut writes = Vec::with_capacity(2 * BLOCK_KEYS as usize);
            for l in &leaves {
                log.append(*l, &mut writes);
            }
            black_box((log.root(), writes.len()))
        })
    });
    let entries: Vec<HistoryLeaf> = (0..BLOCK_KEYS)
        .map(|i| HistoryLeaf {
            tx_id: TxId(*blake3::hash(&i.to_le_bytes()).as_bytes()),
            height: 7,
            index: i as u32,
            outcome: TxOutcome::Rejected {
                rejection: Rejection {
                    reason: RejectReason::AlreadyRedeemed,
                    message: "token spring-sale/12 was redeemed at height 5".into(),
                },
            },
        })
        .collect();
    g.bench_function("leaf_hash_10000", |b| {
        b.iter(|| {
            for e in &entries {
                black_box(e.hash());
            }
        })
    });

    let mut log = HistoryLog::default();
    let mut writes = Vec::new();
    for i in 0..LOG_SIZE {
        log.append(leaf_hash(&i.to_le_bytes()), &mut writes);
    }
    let store: BTreeMap<NodeIndex, Hash32> = writes.into_iter().collect();
    let root = log.root();
    let indices: Vec<u64> = (0..PROOFS).map(|i| mix(i, 7) % LOG_SIZE).collect();
    g.throughput(Throughput::Elements(PROOFS));
    g.bench_function("inclusion_prove", |b| {
        b.iter(|| {
            for &i in &indices {
                black_box(inclusion_proof(&store, i, LOG_SIZE).unwrap());
            }
        })
    });
    let proofs: Vec<(Hash32, u64, Vec<Hash32>)> = indices
        .iter()
        .map(|&i| {
            (
                leaf_hash(&i.to_le_bytes()),
                i,
                inclusion_proof(&store, i, LOG_SIZE).unwrap(),
            )
        })
        .collect();
    g.bench_function("inclusion_verify", |b| {
        b.iter(|| {
            for (leaf, i, p) in &proofs {
                verify_inclusion(leaf, *i, LOG_SIZE, p, &root).unwrap();
            }
        })
    });
    let pairs: Vec<(u64, u64)> = (0..PROOFS)
        .map(|i| {
            let a = 1 + mix(i, 5) % LOG_SIZE;
            let b = 1 + mix(i, 6) % LOG_SIZE;
            (a.min(b), a.max(b))
        })
        .collect();
    g.bench_function("consistency_prove", |b| {
        b.iter(|| {
            for &(old, new) in &pairs {
                black_box(consistency_proof(&store, old, new).unwrap());
            }
        })
    });
    let cproofs: Vec<(u64, u64, Hash32, Hash32, Vec<Hash32>)> = pairs
        .iter()
        .map(|&(old, new)| {
            (
                old,
                new,
                root_at(&store, old).unwrap(),
                root_at(&store, new).unwrap(),
                consistency_proof(&store, old, new).unwrap(),
            )
        })
        .collect();
    g.bench_function("consistency_verify", |b| {
        b.iter(|| {
            for (old, new, old_root, new_root, p) in &cproofs {
                verify_consistency(*old, *new, old_root, new_root, p).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    jmt_update,
    state_tree,
    state_tree_commit,
    state_proofs,
    history
);
criterion_main!(benches);
