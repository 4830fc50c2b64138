//! Block execution throughput.
//!
//! `cargo bench -p couponcactus-chaincode --bench execute_block`
//!
//! - `execute_block/redeem_by_code_10000`: one block of 10,000 redemptions by code of an
//!   active unique-code pool with 10,000 unallocated tokens, signed by 16 terminal keys;
//!   signatures are verified as part of the block (what a node does when it applies it).
//! - `verify_signatures/redeem_10000`: the batch signature check of the same txs alone.
//! - `execute_block/issue_codes_5000`: one block holding one `IssueCodes` tx of 5,000 codes
//!   into a draft pool.
//! - `derive_events/redeem_by_code_10000`: the ledger events of the redemption block
//!   (`events::derive_block_events` against the state after it, then the per-pool and
//!   per-token sequence numbers): what a node adds to each block's commit for its event
//!   log.
//!
//! Signing and state set-up happen outside the measurement; `execute_block` only reads
//! state, so each iteration runs on the same input.

use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use couponcactus_chaincode::tx::{PreparedTx, verify_signatures};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Redemptions in the measured block.
const REDEMPTIONS: u64 = 10_000;
/// Codes per issue batch (the chain's default `max_batch_codes`).
const BATCH: u64 = 5_000;
/// Distinct terminal keys signing the redemptions.
const TERMINALS: u8 = 16;
/// First key seed of the terminals.
const TERMINAL_SEED: u8 = 100;

/// `n` testkit codes of `pool` starting at serial `first`.
fn codes(pool: &PoolId, first: u64, n: u64) -> Vec<IssuedCode> {
    (first..first + n)
        .map(|i| testkit::issued_code(pool, &testkit::code_text(pool, i), i))
        .collect()
}

/// A chain with an active unique-code pool of [`REDEMPTIONS`] codes and [`TERMINALS`]
/// terminal keys, plus the signed block redeeming every code once.
fn redemption_block() -> (TestChain, BlockContext, Vec<SignedTx>) {
    let mut chain = TestChain::new();
    let admin = testkit::key(1);
    let issuer = chain.register(&admin, 10, Role::Issuer);
    let terminals: Vec<_> = (0..TERMINALS)
        .map(|i| {
            chain.register(
                &admin,
                TERMINAL_SEED + i,
                Role::Terminal {
                    store: StoreId::new(format!("store-{i}")).unwrap(),
                    channel: Channel::new("pos").unwrap(),
                },
            )
        })
        .collect();
    let pool = chain.pool(
        &issuer,
        "bench",
        testkit::spec(PoolKind::UniqueCodes),
        0,
        false,
    );
    for first in (0..REDEMPTIONS).step_by(BATCH as usize) {
        chain.applied(
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: pool.clone(),
                codes: codes(&pool, first, BATCH),
            }),
        );
    }
    chain.applied(
        &issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Activate,
        }),
    );
    let txs: Vec<SignedTx> = (0..REDEMPTIONS)
        .map(|i| {
            let kind = TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Code(code_hash(&testkit::code_text(&pool, i))),
                member: None,
                order: testkit::order(10_000),
            });
            chain.sign(&terminals[(i % u64::from(TERMINALS)) as usize], kind)
        })
        .collect();
    let ctx = chain.next_ctx();
    (chain, ctx, txs)
}

/// A chain with an empty draft pool and a signed batch of [`BATCH`] codes for it.
fn issue_block() -> (TestChain, BlockContext, Vec<SignedTx>) {
    let mut chain = TestChain::new();
    let admin = testkit::key(1);
    let issuer = chain.register(&admin, 10, Role::Issuer);
    let pool = chain.pool(
        &issuer,
        "bench-issue",
        testkit::spec(PoolKind::UniqueCodes),
        0,
        false,
    );
    let tx = chain.sign(
        &issuer,
        TxKind::IssueCodes(IssueCodesTx {
            pool: pool.clone(),
            codes: codes(&pool, 0, BATCH),
        }),
    );
    let ctx = chain.next_ctx();
    (chain, ctx, vec![tx])
}

/// Panics unless every tx of the block applies (a benchmark of rejections would be
/// meaningless).
fn assert_all_applied(chain: &TestChain, ctx: &BlockContext, txs: &[SignedTx]) {
    let out = execute_block(&chain.state, ctx, txs).expect("memory state");
    for (i, r) in out.results.iter().enumerate() {
        if let Some(rejection) = r.outcome.rejection() {
            panic!("bench tx {i} rejected: {rejection}");
        }
    }
}

fn bench_redemptions(c: &mut Criterion) {
    let (chain, ctx, txs) = redemption_block();
    assert_all_applied(&chain, &ctx, &txs);

    let mut group = c.benchmark_group("execute_block");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REDEMPTIONS));
    group.bench_function("redeem_by_code_10000", |b| {
        b.iter(|| execute_block(black_box(&chain.state), black_box(&ctx), black_box(&txs)))
    });
    group.finish();

    let prepared: Vec<PreparedTx<'_>> = txs.iter().map(PreparedTx::new).collect();
    let mut group = c.benchmark_group("verify_signatures");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REDEMPTIONS));
    group.bench_function("redeem_10000", |b| {
        b.iter(|| verify_signatures(black_box(&prepared)))
    });
    group.finish();
}

fn bench_events(c: &mut Criterion) {
    use couponcactus_chaincode::events::{
        AfterBlock, BlockPosition, Sequences, derive_block_events,
    };
    let (chain, ctx, txs) = redemption_block();
    let out = execute_block(&chain.state, &ctx, &txs).expect("memory state");
    let after = AfterBlock {
        base: &chain.state,
        writes: &out.writes,
    };
    let at = BlockPosition {
        height: ctx.height,
        time_ms: ctx.time_ms,
        first_log_index: 1_000_000,
    };
    let mut group = c.benchmark_group("derive_events");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REDEMPTIONS));
    group.bench_function("redeem_by_code_10000", |b| {
        b.iter(|| {
            let mut events =
                derive_block_events(black_box(&after), at, black_box(&txs), &out.results)
                    .expect("memory state");
            Sequences::default().assign(&mut events);
            events
        })
    });
    group.finish();
}

fn bench_issue(c: &mut Criterion) {
    let (chain, ctx, txs) = issue_block();
    assert_all_applied(&chain, &ctx, &txs);

    let mut group = c.benchmark_group("execute_block");
    group.sample_size(20);
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("issue_codes_5000", |b| {
        b.iter(|| execute_block(black_box(&chain.state), black_box(&ctx), black_box(&txs)))
    });
    group.finish();
}

criterion_group!(benches, bench_redemptions, bench_issue, bench_events);
criterion_main!(benches);
