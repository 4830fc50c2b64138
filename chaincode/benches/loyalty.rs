//! Loyalty execution throughput (issue 19; target ≥ 30,000 txs/s per core).
//!
//! `cargo bench -p couponcactus-chaincode --bench loyalty`
//!
//! - `execute_block/earn_10000`: one block of 10,000 `earn` txs (each a distinct order of
//!   80.00 EUR) by 16 terminal keys over 1,000 members who hold points already, so every
//!   earn reads and writes an account with lots, the earn log and the tier.
//! - `execute_block/checkout_2_coupons_points_5000`: one block of 5,000 `checkout` txs, each
//!   with two coupons (codes of two unique-code pools in different stacking groups), a
//!   points pay and points earned on the rest, over 1,000 members.
//!
//! Signatures are verified as part of the block, as a node does. Set-up and signing happen
//! outside the measurement; `execute_block` only reads state, so each iteration runs on
//! the same input.

use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const EARNS: u64 = 10_000;
const CHECKOUTS: u64 = 5_000;
const MEMBERS: u64 = 1_000;
const TERMINALS: u8 = 16;
const TERMINAL_SEED: u8 = 100;
/// Codes per issue batch (the chain's default `max_batch_codes`).
const BATCH: u64 = 5_000;

fn acme() -> OrgId {
    testkit::org("acme")
}

/// Acme's program (no pending days: points pay at once), terminals, and every member
/// holding 4,000 points.
fn loyalty_chain() -> (TestChain, Vec<ed25519_dalek::SigningKey>) {
    let mut chain = TestChain::new();
    let admin = testkit::key(1);
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
    let mut spec = testkit::program_spec();
    spec.earn.pending_days = 0;
    spec.earn.period_cap = None;
    chain.applied(&admin, TxKind::SetProgram(SetProgramTx { spec }));
    let opening: Vec<SignedTx> = (0..MEMBERS)
        .map(|m| {
            let kind = TxKind::Adjust(AdjustTx {
                program: acme(),
                member: testkit::member(m),
                segment: Segment::Mileage,
                direction: Direction::Credit,
                amount: 4_000,
                reason: AdjustReason::Migration,
                note: "opening balance".into(),
            });
            chain.sign(&admin, kind)
        })
        .collect();
    assert_applied(&chain.execute(&opening));
    (chain, terminals)
}

fn assert_applied(results: &[TxResult]) {
    for (i, r) in results.iter().enumerate() {
        if let Some(rejection) = r.outcome.rejection() {
            panic!("bench tx {i} rejected: {rejection}");
        }
    }
}

fn earn_block() -> (TestChain, BlockContext, Vec<SignedTx>) {
    let (mut chain, terminals) = loyalty_chain();
    let txs = (0..EARNS)
        .map(|i| {
            let kind = TxKind::Earn(EarnTx {
                program: acme(),
                member: testkit::member(i % MEMBERS),
                order_ref: format!("order-{i}"),
                order: testkit::order(8_000),
            });
            chain.sign(&terminals[(i % u64::from(TERMINALS)) as usize], kind)
        })
        .collect();
    let ctx = chain.next_ctx();
    (chain, ctx, txs)
}

/// An active unique-code pool of `n` codes in stacking group `group`.
fn pool(chain: &mut TestChain, id: &str, group: &str, n: u64) -> PoolId {
    let issuer = testkit::key(1);
    let spec = PoolSpec {
        stacking_group: Some(group.into()),
        ..testkit::spec(PoolKind::UniqueCodes)
    };
    let pool = chain.pool(&issuer, id, spec, 0, false);
    for first in (0..n).step_by(BATCH as usize) {
        let codes = (first..first + BATCH.min(n - first))
            .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
            .collect();
        chain.applied(
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: pool.clone(),
                codes,
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
    pool
}

fn checkout_block() -> (TestChain, BlockContext, Vec<SignedTx>) {
    let (mut chain, terminals) = loyalty_chain();
    let a = pool(&mut chain, "spring", "seasonal", CHECKOUTS);
    let b = pool(&mut chain, "welcome", "welcome", CHECKOUTS);
    let txs = (0..CHECKOUTS)
        .map(|i| {
            let code = |p: &PoolId| RedeemTarget::Code(code_hash(&testkit::code_text(p, i)));
            let kind = TxKind::Checkout(CheckoutTx {
                program: acme(),
                member: testkit::member(i % MEMBERS),
                order_ref: format!("order-{i}"),
                order: testkit::order(10_000),
                coupons: vec![code(&a), code(&b)],
                pay: Some(BalanceSpend {
                    segments: vec![Segment::Mileage],
                    amount: 500,
                }),
                earn: true,
            });
            chain.sign(&terminals[(i % u64::from(TERMINALS)) as usize], kind)
        })
        .collect();
    let ctx = chain.next_ctx();
    (chain, ctx, txs)
}

fn bench(
    c: &mut Criterion,
    name: &str,
    n: u64,
    (chain, ctx, txs): (TestChain, BlockContext, Vec<SignedTx>),
) {
    let out = execute_block(&chain.state, &ctx, &txs).expect("memory state");
    assert_applied(&out.results);
    let mut group = c.benchmark_group("execute_block");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function(name, |b| {
        b.iter(|| execute_block(black_box(&chain.state), black_box(&ctx), black_box(&txs)))
    });
    group.finish();
}

fn bench_loyalty(c: &mut Criterion) {
    bench(c, "earn_10000", EARNS, earn_block());
    bench(
        c,
        "checkout_2_coupons_points_5000",
        CHECKOUTS,
        checkout_block(),
    );
}

criterion_group!(benches, bench_loyalty);
criterion_main!(benches);
