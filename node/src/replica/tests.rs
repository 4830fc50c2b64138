//! The core on its own, without a driver: a lone voter on a real store in a temporary
//! directory, fed inputs and turns by hand.

use super::*;
use crate::storage::Store;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::testkit::{self, GENESIS_MS};
use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
use couponcactus_chaincode::types::Role;

struct Lone {
    _dir: tempfile::TempDir,
    core: Core,
    mempool: Arc<Mutex<Mempool>>,
}

fn lone() -> Lone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    lone_on(dir, store)
}

/// A lone voter on `store` (in `dir`), initialised with the testkit genesis.
fn lone_on(dir: tempfile::TempDir, store: Store) -> Lone {
    let genesis = testkit::genesis();
    store.init_genesis(&genesis, Hash32([9; 32])).unwrap();
    let mempool = Arc::new(Mutex::new(Mempool::new(Default::default())));
    let core = Core::open(CoreSetup {
        store,
        chain_id: genesis.chain_id.clone(),
        genesis_voters: vec![1],
        node_key: testkit::key(200),
        options: NodeOptions::default(),
        mempool: mempool.clone(),
        exporter: None,
        election_range: None,
    })
    .unwrap();
    Lone {
        _dir: dir,
        core,
        mempool,
    }
}

fn register(nonce: u64, seed: u8) -> SignedTx {
    TxBody {
        chain_id: testkit::genesis().chain_id,
        nonce,
        valid_until_ms: GENESIS_MS + 600_000,
        kind: TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(seed),
            role: Role::Issuer,
        }),
        memo: None,
    }
    .sign(&testkit::key(1))
}

/// Turns until a block is applied (bounded), returning every output on the way.
fn turn_until_applied(core: &mut Core, now: u64) -> Vec<Output> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let outputs = core.turn(now).unwrap();
        let done = outputs.iter().any(|o| matches!(o, Output::Applied(_)));
        all.extend(outputs);
        if done {
            return all;
        }
    }
    panic!("no block applied in 10 turns: {all:?}");
}

fn applied(outputs: &[Output]) -> Vec<&AppliedBlock> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Applied(b) => Some(&**b),
            _ => None,
        })
        .collect()
}

/// With a sink, outputs leave during the turn a batch at a time: a block and the
/// certificate its own vote completes travel together, so the driver can publish them at
/// once (a client answered for the block never reads it uncertified).
#[test]
fn a_lone_voters_block_reaches_the_sink_with_its_certificate() {
    let mut n = lone();
    let batches: Arc<Mutex<Vec<Vec<Output>>>> = Arc::default();
    let sink = batches.clone();
    n.core
        .set_sink(Box::new(move |outputs| sink.lock().unwrap().push(outputs)));
    let tx = register(1, 10);
    n.mempool.lock().unwrap().push(tx.id(), tx.clone()).unwrap();
    for _ in 0..10 {
        n.core.turn(GENESIS_MS + 1_000).unwrap();
        if n.core.height() == 1 {
            break;
        }
    }
    assert_eq!(n.core.height(), 1);
    let batches = batches.lock().unwrap();
    let with_block: Vec<&Vec<Output>> = batches
        .iter()
        .filter(|b| b.iter().any(|o| matches!(o, Output::Applied(_))))
        .collect();
    assert_eq!(with_block.len(), 1, "{batches:?}");
    assert!(
        with_block[0]
            .iter()
            .any(|o| matches!(o, Output::Certified(c) if c.height == 1)),
        "{batches:?}"
    );
}

#[test]
fn a_lone_voter_leads_applies_certifies_and_sends_nothing() {
    let mut n = lone();
    let tx = register(1, 10);
    n.mempool.lock().unwrap().push(tx.id(), tx.clone()).unwrap();
    let outputs = turn_until_applied(&mut n.core, GENESIS_MS + 1_000);
    let blocks = applied(&outputs);
    let block = blocks.last().unwrap();
    assert_eq!(block.header.height, 1);
    assert_eq!(block.txs.len(), 1);
    assert_eq!(block.txs[0].result.tx_id, tx.id());
    assert!(matches!(
        block.txs[0].result.outcome,
        TxOutcome::Applied { .. }
    ));
    assert_eq!(n.core.height(), 1);
    // Leader of its own group, its block certified at once, and no peer to talk to.
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Role(v) if v.role == "leader"))
    );
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Certified(c) if c.height == 1))
    );
    assert!(!outputs.iter().any(|o| matches!(
        o,
        Output::Send { .. } | Output::Broadcast(_) | Output::Forward { .. }
    )));
    // The tx left the mempool when its block was stored.
    assert!(!n.mempool.lock().unwrap().contains(&tx.id()));
}

#[test]
fn block_times_increase_even_when_the_clock_goes_back() {
    let mut n = lone();
    let mut times = Vec::new();
    for (i, now) in [
        GENESIS_MS + 50_000,
        GENESIS_MS + 10_000,
        GENESIS_MS + 10_000,
    ]
    .into_iter()
    .enumerate()
    {
        let tx = register(i as u64 + 1, 10 + i as u8);
        n.mempool.lock().unwrap().push(tx.id(), tx).unwrap();
        let outputs = turn_until_applied(&mut n.core, now);
        times.push(applied(&outputs).last().unwrap().header.time_ms);
    }
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
}

#[test]
fn a_snapshot_state_no_one_asked_for_is_refused() {
    let mut n = lone();
    let tip = n.core.store().tip().unwrap();
    let err = n.core.handle(Input::SnapshotFetched(Ok(tip))).unwrap_err();
    assert!(matches!(err, CoreError::Unexpected(_)), "{err}");
}

/// A lone voter past its first turn on a store whose writes can be made to fail.
fn lone_with_faults() -> (Lone, Store, Arc<crate::storage::DiskFaults>) {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(crate::storage::DiskFaults::new(true));
    let store = Store::open_with_faults(dir.path(), faults.clone()).unwrap();
    let mut lone = lone_on(dir, store.clone());
    lone.core.turn(GENESIS_MS).unwrap();
    (lone, store, faults)
}

#[test]
fn a_full_disk_stops_the_core_with_a_storage_error_and_nothing_applied() {
    let (
        Lone {
            _dir,
            mut core,
            mempool,
        },
        store,
        faults,
    ) = lone_with_faults();
    faults.set_full(true);
    let tx = register(1, 10);
    mempool.lock().unwrap().push(tx.id(), tx.clone()).unwrap();
    let err = (0..10)
        .find_map(|_| core.turn(GENESIS_MS + 1_000).err())
        .expect("a write fails");
    assert!(
        matches!(
            err,
            CoreError::Storage(crate::storage::StorageError::DiskFull)
        ),
        "{err}"
    );
    assert_eq!(store.tip().unwrap().height, 0);
    assert!(
        crate::node::committed_in(&store, &tx.id())
            .unwrap()
            .is_none()
    );
}

/// A block's write that fails after the in-memory state tree took the block: the core
/// drops the tree (it holds a block the store does not) and stops with the error; the
/// restarted core loads the tree from the store and applies the same block again with the
/// same root. Tried at each write of the first block; those that fail earlier, in the Raft
/// log, are the simulator's restart scenarios and are skipped here.
#[test]
fn a_failed_block_write_drops_the_state_tree_and_a_restart_reapplies() {
    use couponcactus_chaincode::commitment::state_root;
    let mut hit_apply = false;
    for crash_in in 0..6 {
        let (
            Lone {
                _dir,
                mut core,
                mempool,
            },
            store,
            faults,
        ) = lone_with_faults();
        let tx = register(1, 10);
        mempool.lock().unwrap().push(tx.id(), tx.clone()).unwrap();
        faults.crash_after(crash_in);
        let failed = (0..10).find_map(|_| core.turn(GENESIS_MS + 1_000).err());
        if failed.is_none() || core.tree.is_some() {
            continue;
        }
        hit_apply = true;
        assert_eq!(
            store.tip().unwrap().height,
            0,
            "nothing of the block stored"
        );
        faults.reset_crash();
        let mut core = Core::open(core.setup.clone()).unwrap();
        for _ in 0..10 {
            if store.tip().unwrap().height > 0 {
                break;
            }
            core.turn(GENESIS_MS + 2_000).unwrap();
        }
        let tip = store.tip().unwrap();
        assert!(tip.height >= 1, "crash point {crash_in}");
        let first = store.block_header(1).unwrap().unwrap();
        assert_eq!(state_root(&store, 1).unwrap(), Some(first.state_root));
        let loaded = StateTree::load(&store, tip.height).unwrap();
        assert_eq!(loaded.root_hash(), tip.state_root);
        assert_eq!(
            core.tree.as_ref().map(StateTree::root_hash),
            Some(tip.state_root)
        );
        assert!(
            crate::node::committed_in(&store, &tx.id())
                .unwrap()
                .is_some()
        );
    }
    assert!(
        hit_apply,
        "no crash point fell between the tree and the block's write"
    );
}
