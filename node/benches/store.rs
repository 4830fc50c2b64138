//! Applying blocks to the node's RocksDB store: the chaincode's `apply_block` (execute,
//! state tree, history log) followed by `Store::commit_block`, which is what a node's
//! consensus thread does for every committed block, without Raft or the network.
//!
//! `cargo bench -p couponcactus-node --bench store`
//!
//! - `store/issue_codes_5000`: one block holding one `IssueCodes` tx of 5,000 codes, into a
//!   store that already holds [`PREFILL`] tokens (and gains 5,000 per iteration).
//! - `store/redeem_by_code_100`: one block of 100 redemptions by code of unallocated tokens
//!   of an active pool, signed by 16 terminal keys, in the same store.
//!
//! Signing and code sealing happen outside the measurement (`iter_custom` prepares the
//! blocks of a sample first). Every tx must apply: the driver panics on a rejection.

use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use couponcactus_node::storage::Store;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use std::time::{Duration, Instant};

/// Tokens issued before anything is measured.
const PREFILL: u64 = 200_000;
/// Codes per `IssueCodes` tx (the chain's default `max_batch_codes`).
const BATCH: u64 = 5_000;
/// Redemptions per measured block.
const REDEEM_BLOCK: u64 = 100;
/// Terminal keys signing the redemptions.
const TERMINALS: u8 = 16;

/// A store on a temporary directory, its tip, and a [`TestChain`] used only to sign
/// (nonces, validity) — the state lives in RocksDB.
struct StoreChain {
    store: Store,
    tip: ChainTip,
    signer: TestChain,
    raft_index: u64,
    _dir: tempfile::TempDir,
}

impl StoreChain {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(dir.path()).expect("open store");
        let tip = store
            .init_genesis(&testkit::genesis(), Hash32([7; 32]))
            .expect("genesis");
        let mut signer = TestChain::new();
        // Valid long enough for every block this bench makes (1 ms apart).
        signer.advance(3_600_000);
        StoreChain {
            store,
            tip,
            signer,
            raft_index: 0,
            _dir: dir,
        }
    }

    fn sign(&mut self, key: &SigningKey, kind: TxKind) -> SignedTx {
        self.signer.sign(key, kind)
    }

    /// Applies and commits one block of `txs`, panicking unless every tx applies.
    fn apply(&mut self, txs: Vec<SignedTx>) {
        let applied = apply_block(
            &self.store,
            &self.store,
            &self.tip,
            1,
            self.tip.time_ms + 1,
            &txs,
        )
        .expect("apply");
        for (i, r) in applied.results.iter().enumerate() {
            if let Some(rejection) = r.outcome.rejection() {
                panic!("bench tx {i} rejected: {rejection}");
            }
        }
        self.raft_index += 1;
        let block = Block {
            header: applied.header.clone(),
            txs,
        };
        self.store
            .commit_block(self.raft_index, &block, &applied)
            .expect("commit");
        self.tip = applied.tip;
    }

    fn applied(&mut self, key: &SigningKey, kind: TxKind) {
        let tx = self.sign(key, kind);
        self.apply(vec![tx]);
    }
}

/// `n` testkit codes of `pool` from serial `first`.
fn codes(pool: &PoolId, first: u64, n: u64) -> Vec<IssuedCode> {
    (first..first + n)
        .map(|i| testkit::issued_code(pool, &testkit::code_text(pool, i), i))
        .collect()
}

/// The issue bench's state: a draft pool to issue into, and the next serial.
struct Issuing {
    chain: StoreChain,
    issuer: SigningKey,
    pool: PoolId,
    next: u64,
}

impl Issuing {
    fn new() -> Self {
        let mut chain = StoreChain::new();
        let admin = testkit::key(1);
        let issuer_pub = testkit::public(10);
        chain.applied(
            &admin,
            TxKind::RegisterKey(RegisterKeyTx {
                key: issuer_pub,
                role: Role::Issuer,
            }),
        );
        let issuer = testkit::key(10);
        let pool = testkit::pool_id("bench-issue");
        chain.applied(
            &issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: pool.clone(),
                spec: testkit::spec(PoolKind::UniqueCodes),
            }),
        );
        let mut issuing = Issuing {
            chain,
            issuer,
            pool,
            next: 0,
        };
        while issuing.next < PREFILL {
            let tx = issuing.batch();
            issuing.chain.apply(vec![tx]);
        }
        issuing
    }

    /// The next signed batch of [`BATCH`] codes.
    fn batch(&mut self) -> SignedTx {
        let codes = codes(&self.pool, self.next, BATCH);
        self.next += BATCH;
        let issuer = self.issuer.clone();
        self.chain.sign(
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: self.pool.clone(),
                codes,
            }),
        )
    }
}

fn bench_issue(c: &mut Criterion) {
    let mut issuing = Issuing::new();
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("issue_codes_5000", |b| {
        b.iter_custom(|iters| {
            let txs: Vec<SignedTx> = (0..iters).map(|_| issuing.batch()).collect();
            let started = Instant::now();
            for tx in txs {
                issuing.chain.apply(vec![tx]);
            }
            started.elapsed()
        })
    });
    group.finish();
}

/// The redeem bench's state: an active pool and its next unredeemed code.
struct Redeeming {
    chain: StoreChain,
    terminals: Vec<SigningKey>,
    pool: PoolId,
    issued: u64,
    next: u64,
}

impl Redeeming {
    fn new() -> Self {
        let mut issuing = Issuing::new();
        let admin = testkit::key(1);
        let terminals = (0..TERMINALS)
            .map(|i| {
                let seed = 100 + i;
                issuing.chain.applied(
                    &admin,
                    TxKind::RegisterKey(RegisterKeyTx {
                        key: testkit::public(seed),
                        role: Role::Terminal {
                            store: StoreId::new(format!("store-{i}")).expect("store id"),
                            channel: Channel::new("pos").expect("channel"),
                        },
                    }),
                );
                testkit::key(seed)
            })
            .collect();
        let issuer = issuing.issuer.clone();
        let pool = issuing.pool.clone();
        issuing.chain.applied(
            &issuer,
            TxKind::TransitionPool(TransitionPoolTx {
                pool: pool.clone(),
                action: PoolAction::Activate,
            }),
        );
        Redeeming {
            chain: issuing.chain,
            terminals,
            pool,
            issued: issuing.next,
            next: 0,
        }
    }

    /// The next block of [`REDEEM_BLOCK`] signed redemptions.
    fn block(&mut self) -> Vec<SignedTx> {
        assert!(
            self.next + REDEEM_BLOCK <= self.issued,
            "the bench ran out of issued codes"
        );
        (self.next..self.next + REDEEM_BLOCK)
            .map(|i| {
                self.next += 1;
                let kind = TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Code(code_hash(&testkit::code_text(&self.pool, i))),
                    member: None,
                    order: testkit::order(10_000),
                });
                let terminal = self.terminals[(i % u64::from(TERMINALS)) as usize].clone();
                self.chain.sign(&terminal, kind)
            })
            .collect()
    }
}

fn bench_redeem(c: &mut Criterion) {
    let mut redeeming = Redeeming::new();
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(REDEEM_BLOCK));
    group.bench_function("redeem_by_code_100", |b| {
        b.iter_custom(|iters| {
            let blocks: Vec<Vec<SignedTx>> = (0..iters).map(|_| redeeming.block()).collect();
            let started = Instant::now();
            for txs in blocks {
                redeeming.chain.apply(txs);
            }
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_issue, bench_redeem);
criterion_main!(benches);
