//! The core on its own, without a driver: a lone voter on a real store in a temporary
//! directory, fed inputs and turns by hand, with its applier run inline.

use super::*;
use crate::applier::Applier;
use crate::storage::Store;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::testkit::{self, GENESIS_MS};
use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
use couponcactus_chaincode::types::Role;

struct Lone {
    _dir: tempfile::TempDir,
    core: Core,
    applier: Applier,
    mempool: Arc<Mutex<Mempool>>,
}

impl Lone {
    /// One turn, with every job it hands out applied (inline) and reported; the other
    /// outputs. What the reports make the core do comes with the next turn.
    fn turn(&mut self, now: u64) -> Result<Vec<Output>, CoreError> {
        let outputs = self.core.turn(now)?;
        self.apply_jobs(outputs)
    }

    /// Applies the jobs among `outputs` in order and reports each; the other outputs.
    fn apply_jobs(&mut self, outputs: Vec<Output>) -> Result<Vec<Output>, CoreError> {
        let mut rest = Vec::new();
        for output in outputs {
            match output {
                Output::Apply(job) => {
                    let result = self.applier.apply(job);
                    self.core.handle(Input::Applied(result))?;
                }
                other => rest.push(other),
            }
        }
        Ok(rest)
    }
}

fn lone() -> Lone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    lone_on(dir, store, NodeOptions::default().block_max_txs)
}

/// A lone voter on `store` (in `dir`), initialised with the testkit genesis, cutting
/// blocks of at most `block_max_txs`.
fn lone_on(dir: tempfile::TempDir, store: Store, block_max_txs: usize) -> Lone {
    let genesis = testkit::genesis();
    store.init_genesis(&genesis, Hash32([9; 32])).unwrap();
    let mempool = Arc::new(Mutex::new(Mempool::new(Default::default())));
    let options = NodeOptions {
        block_max_txs,
        ..NodeOptions::default()
    };
    let applier =
        Applier::open(store.clone(), mempool.clone(), options.tree_resident_nodes).unwrap();
    let core = Core::open(CoreSetup {
        store,
        chain_id: genesis.chain_id.clone(),
        genesis_voters: vec![1],
        node_key: testkit::key(200),
        options,
        mempool: mempool.clone(),
        exporter: None,
        election_range: None,
    })
    .unwrap();
    Lone {
        _dir: dir,
        core,
        applier,
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
fn turn_until_applied(n: &mut Lone, now: u64) -> Vec<Output> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let outputs = n.turn(now).unwrap();
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
        // The jobs left through the sink: the applier takes them from there.
        let jobs: Vec<Output> = batches
            .lock()
            .unwrap()
            .iter_mut()
            .flat_map(|b| b.extract_if(.., |o| matches!(o, Output::Apply(_))))
            .collect();
        assert!(n.apply_jobs(jobs).unwrap().is_empty());
        if n.core.height() == 1 {
            break;
        }
    }
    n.core.turn(GENESIS_MS + 1_000).unwrap();
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
    let outputs = turn_until_applied(&mut n, GENESIS_MS + 1_000);
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
        let outputs = turn_until_applied(&mut n, now);
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
    let mut lone = lone_on(dir, store.clone(), NodeOptions::default().block_max_txs);
    lone.turn(GENESIS_MS).unwrap();
    (lone, store, faults)
}

#[test]
fn a_full_disk_stops_the_core_with_a_storage_error_and_nothing_applied() {
    let (mut n, store, faults) = lone_with_faults();
    faults.set_full(true);
    let tx = register(1, 10);
    n.mempool.lock().unwrap().push(tx.id(), tx.clone()).unwrap();
    let err = (0..10)
        .find_map(|_| n.turn(GENESIS_MS + 1_000).err())
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

/// A block's write that fails after the in-memory state tree took the block: the applier
/// drops the tree (it holds a block the store does not) and the core stops with the
/// error; the restarted node loads the tree from the store and applies the same block
/// again with the same root. Tried at each write of the first block; those that fail
/// earlier, in the Raft log, are the simulator's restart scenarios and are skipped here.
#[test]
fn a_failed_block_write_drops_the_state_tree_and_a_restart_reapplies() {
    use couponcactus_chaincode::commitment::state_root;
    let mut hit_apply = false;
    for crash_in in 0..6 {
        let (mut n, store, faults) = lone_with_faults();
        let tx = register(1, 10);
        n.mempool.lock().unwrap().push(tx.id(), tx.clone()).unwrap();
        faults.crash_after(crash_in);
        let failed = (0..10).find_map(|_| n.turn(GENESIS_MS + 1_000).err());
        if failed.is_none() || n.applier.tree_at().is_some() {
            continue;
        }
        hit_apply = true;
        assert_eq!(
            store.tip().unwrap().height,
            0,
            "nothing of the block stored"
        );
        faults.reset_crash();
        n.core = Core::open(n.core.setup.clone()).unwrap();
        n.applier = Applier::open(store.clone(), n.mempool.clone(), 1_000).unwrap();
        for _ in 0..10 {
            if store.tip().unwrap().height > 0 {
                break;
            }
            n.turn(GENESIS_MS + 2_000).unwrap();
        }
        let tip = store.tip().unwrap();
        assert!(tip.height >= 1, "crash point {crash_in}");
        let first = store.block_header(1).unwrap().unwrap();
        assert_eq!(state_root(&store, 1).unwrap(), Some(first.state_root));
        let loaded =
            couponcactus_chaincode::state_tree::StateTree::load(&store, tip.height).unwrap();
        assert_eq!(loaded.root_hash(), tip.state_root);
        assert_eq!(n.applier.tree_at(), Some((tip.height, tip.state_root)));
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

/// A lone voter with one-tx blocks and `txs` register txs in its mempool.
fn lone_with_txs(txs: u64) -> Lone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let n = lone_on(dir, store, 1);
    for i in 0..txs {
        let tx = register(i + 1, 10 + (i % 200) as u8);
        n.mempool.lock().unwrap().push(tx.id(), tx).unwrap();
    }
    n
}

/// Turns at `from_ms`, `from_ms + 1`, … `turns` times without applying anything; the jobs
/// handed out, in order.
fn jobs_from_turns(n: &mut Lone, turns: u64, from_ms: u64) -> Vec<crate::applier::ApplyJob> {
    (0..turns)
        .flat_map(|i| n.core.turn(from_ms + i).unwrap())
        .filter_map(|o| match o {
            Output::Apply(job) => Some(job),
            _ => None,
        })
        .collect()
}

/// An applier that falls far behind bounds what waits for it: past
/// [`apply::MAX_QUEUED_ENTRIES`] queued entries the core takes no new Ready and the leader
/// proposes nothing, and both resume as the applier catches up.
#[test]
fn a_backlogged_applier_holds_the_ready_loop_and_the_proposer() {
    let limit = apply::MAX_QUEUED_ENTRIES as u64 + MAX_APPLY_IN_FLIGHT as u64;
    let mut n = lone_with_txs(limit + 40);
    let mut jobs = jobs_from_turns(&mut n, limit + 80, GENESIS_MS + 1_000);
    assert_eq!(jobs.len(), MAX_APPLY_IN_FLIGHT);
    let raft = &n.core.raw.raft.raft_log;
    assert_eq!(raft.committed, limit, "the Ready loop stopped at the bound");
    assert!(raft.last_index() <= limit + 1, "the proposer stopped too");
    assert!(
        n.mempool.lock().unwrap().len() >= 30,
        "txs wait in the mempool"
    );
    // Apply catches up: everything commits and applies.
    for i in 0..20 * limit {
        for job in std::mem::take(&mut jobs) {
            let result = n.applier.apply(job);
            n.core.handle(Input::Applied(result)).unwrap();
        }
        jobs = jobs_from_turns(&mut n, 1, GENESIS_MS + 2_000 + i);
        if n.core.height() == limit + 40 {
            break;
        }
    }
    assert_eq!(n.core.height(), limit + 40);
}

/// Jobs handed out and not reported are bounded, and they go out in log order: blocks
/// keep committing while the applier is behind, and each report lets the next job out.
#[test]
fn apply_jobs_go_out_in_order_and_at_most_the_pipelines_depth_at_once() {
    let mut n = lone_with_txs(20);
    let mut jobs = jobs_from_turns(&mut n, 40, GENESIS_MS + 1_000);
    // 20 blocks and the election entry committed; the pipeline's depth handed out.
    assert_eq!(jobs.len(), MAX_APPLY_IN_FLIGHT);
    assert_eq!(n.core.height(), 0, "nothing reported, nothing applied");
    assert!(n.core.raw.raft.raft_log.committed >= 21);
    let mut next = n.core.applied_index() + 1;
    let mut heights = Vec::new();
    while !jobs.is_empty() {
        for job in std::mem::take(&mut jobs) {
            assert_eq!(job.index(), next, "jobs go out in log order");
            let result = n.applier.apply(job);
            n.core.handle(Input::Applied(result)).unwrap();
            assert_eq!(
                n.core.applied_index(),
                next,
                "the report moved Raft's applied index"
            );
            next += 1;
        }
        for output in n.core.turn(GENESIS_MS + 2_000).unwrap() {
            match output {
                Output::Apply(job) => jobs.push(job),
                Output::Applied(block) => heights.push(block.header.height),
                _ => {}
            }
        }
        assert!(jobs.len() <= MAX_APPLY_IN_FLIGHT);
    }
    assert_eq!(heights, (1..=20).collect::<Vec<u64>>());
    assert_eq!(n.core.height(), 20);
    assert_eq!(n.core.store().tip().unwrap().height, 20);
}

/// A report for an entry that is not the oldest handed out is a driver's bug: the core
/// stops rather than move Raft's applied index past a block that is not stored.
#[test]
fn an_apply_report_out_of_order_stops_the_core() {
    let mut n = lone_with_txs(2);
    let mut jobs = jobs_from_turns(&mut n, 10, GENESIS_MS + 1_000);
    assert!(jobs.len() >= 2, "{jobs:?}");
    let second = jobs.remove(1);
    let result = n.applier.apply(second);
    let err = n.core.handle(Input::Applied(result)).unwrap_err();
    assert!(
        matches!(err, CoreError::ApplyOrder { got, expected } if got == expected + 1),
        "{err}"
    );
    // A failed job stops it too, with the applier's error.
    let mut n = lone_with_txs(1);
    let err = n
        .core
        .handle(Input::Applied(Err(crate::applier::ApplyError::Stopped)))
        .unwrap_err();
    assert!(matches!(err, CoreError::Apply(_)), "{err}");
}

/// The applier keeps no stale tree: when the store moved on under it (a snapshot's state
/// installed, another applier's blocks), it loads the tree of the stored tip before its
/// next block, and the block's root is the one a fresh load gives.
#[test]
fn the_applier_loads_the_stored_tip_when_the_store_moved_on_under_its_tree() {
    let mut n = lone_with_txs(3);
    let store = n.core.store().clone();
    let mut stale = Applier::open(store.clone(), n.mempool.clone(), 1_000).unwrap();
    for i in 0..20 {
        n.turn(GENESIS_MS + 1_000 + i).unwrap();
        if n.core.height() == 2 {
            break;
        }
    }
    assert_eq!(n.core.height(), 2);
    assert_eq!(stale.tree_at().map(|t| t.0), Some(0));
    // The third block goes to the applier whose tree is at genesis.
    let job = jobs_from_turns(&mut n, 20, GENESIS_MS + 2_000)
        .into_iter()
        .next()
        .expect("the third block's job");
    let result = stale.apply(job);
    n.core.handle(Input::Applied(result)).unwrap();
    let tip = store.tip().unwrap();
    assert_eq!(tip.height, 3);
    assert_eq!(stale.tree_at(), Some((3, tip.state_root)));
    let fresh = Applier::open(store, n.mempool.clone(), 1_000).unwrap();
    assert_eq!(fresh.tree_at(), Some((3, tip.state_root)));
}
