//! The analytics store: ingest rate, query latency at 1,000,000 redemptions, and how far
//! the ingester lags behind a committing chain.
//!
//! `cargo bench --bench analytics` (quick check: `ANALYTICS_BENCH_EVENTS=100000`)
//!
//! 1. **Ingest**: `ANALYTICS_BENCH_EVENTS` (default 1,000,000) synthetic `coupon.redeemed`
//!    events (10 orgs, 200 pools, 500 stores, 200 terminals, 1 in 17 a partner redemption,
//!    spread over 30 days) plus one `tx.rejected` per 20, ingested in blocks of 1,000 events
//!    through [`Analytics::ingest_events`]: events/s.
//! 2. **Queries**: 600 queries over the result (KPIs for the whole chain, per org per day,
//!    one org's pools per day, one pool per store per hour over a week, rejections per org
//!    and reason, a redemption listing page), latencies in an HDR histogram: p50/p99/max.
//! 3. **Lag**: a real node store committing blocks of 100 redemptions by code (16
//!    terminals) at 10 blocks/s for 10 s while [`run_ingester`] follows it; lag = time from
//!    a block's commit to the analytics store covering its height: p50/p99/max.
//!
//! Bounded: the whole run takes a few minutes; temporary directories are deleted after.
//! Figures are in docs/performance.md ("Analytics store").

// Floats only to print rates and milliseconds; nothing measured is stored.
#![allow(clippy::float_arithmetic)]

use couponcactus_chaincode::events::{EventAmounts, EventDetail, EventId, EventType, LedgerEvent};
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use couponcactus_node::analytics::Analytics;
use couponcactus_node::analytics::ingest::run_ingester;
use couponcactus_node::analytics::query::{AnalyticsParams, Request, Scope};
use couponcactus_node::events::EventsTip;
use couponcactus_node::storage::Store;
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BLOCK_EVENTS: u64 = 1_000;
const T0: u64 = testkit::GENESIS_MS;
const DAYS: u64 = 30;

fn org(i: u64) -> String {
    format!("org{}", i % 10)
}

fn redeemed(i: u64, spacing: u64) -> LedgerEvent {
    let org_i = i % 10;
    let pool = PoolId::new(format!("org{org_i}-pool{}", (i / 10) % 20)).unwrap();
    let token = TokenId {
        pool: pool.clone(),
        serial: i,
    };
    let signer_org = if i.is_multiple_of(17) {
        org(org_i + 1)
    } else {
        org(org_i)
    };
    let mut tx = [0u8; 32];
    tx[..8].copy_from_slice(&i.to_le_bytes());
    let total = 1_000 + i % 9_000;
    let discount = total / 10;
    let currency = Currency(*b"EUR");
    LedgerEvent {
        id: EventId::first_of(i),
        kind: EventType::CouponRedeemed,
        log_index: i,
        height: i / BLOCK_EVENTS + 1,
        time_ms: T0 + i * spacing,
        tx_id: TxId(tx),
        tx_index: (i % BLOCK_EVENTS) as u32,
        signer: PublicKey([(i % 200) as u8; 32]),
        signer_org: Some(OrgId::new(signer_org).unwrap()),
        memo: None,
        org: Some(OrgId::new(org(org_i)).unwrap()),
        pool: Some(pool.clone()),
        token: Some(token.clone()),
        member: None,
        store: Some(StoreId::new(format!("org{org_i}-store{}", i % 50)).unwrap()),
        channel: Some(Channel::new(if i.is_multiple_of(3) { "web" } else { "pos" }).unwrap()),
        amounts: Some(EventAmounts {
            currency,
            order_total_minor: Some(total),
            eligible_minor: Some(total),
            discount_minor: Some(discount),
        }),
        pool_seq: None,
        token_seq: None,
        detail: EventDetail::Applied {
            event: Event::Redeemed {
                redemption: TxId(tx),
                pool,
                token: Some(token),
                member: None,
                eligible_minor: total,
                discount_minor: discount,
                currency,
            },
        },
    }
}

fn rejected(mut e: LedgerEvent, i: u64) -> LedgerEvent {
    e.kind = EventType::TxRejected;
    e.detail = EventDetail::Rejected {
        tx_kind: "redeem".into(),
        rejection: Rejection::new(
            [
                RejectReason::AlreadyRedeemed,
                RejectReason::NotFound,
                RejectReason::Expired,
            ][(i % 3) as usize],
            "bench",
        ),
    };
    e
}

/// Ingests `n` redemptions (and a rejection per 20) in blocks; returns events/s.
fn ingest(a: &Analytics, n: u64) -> (u64, f64) {
    let spacing = DAYS * 86_400_000 / n;
    let started = Instant::now();
    let mut total = 0u64;
    for block in 0..n.div_ceil(BLOCK_EVENTS) {
        let events: Vec<LedgerEvent> = (block * BLOCK_EVENTS..((block + 1) * BLOCK_EVENTS).min(n))
            .map(|i| {
                let e = redeemed(i, spacing);
                if i % 20 == 19 { rejected(e, i) } else { e }
            })
            .collect();
        total += a.ingest_events(&events, block + 1).expect("ingest") as u64;
    }
    (total, total as f64 / started.elapsed().as_secs_f64())
}

fn request(pairs: &[(&str, String)]) -> Request {
    let mut p = AnalyticsParams::default();
    for (k, v) in pairs {
        let v = Some(v.clone());
        match *k {
            "from" => p.from = v,
            "to" => p.to = v,
            "org" => p.org = v,
            "pool" => p.pool = v,
            "group_by" => p.group_by = v,
            "period" => p.period = v,
            "limit" => p.limit = v,
            _ => unreachable!(),
        }
    }
    Request::parse(&p).expect("valid request")
}

/// 600 queries of six shapes; prints p50/p99/max in ms.
fn queries(a: &Analytics) {
    let state = MemState::default();
    let week = 7 * 86_400_000;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut per_shape = vec![Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(); 6];
    for i in 0..600u64 {
        let o = org(i);
        let all = Scope::All;
        let mine = Scope::Org(o.clone());
        let from = (T0 + (i % 20) * 86_400_000).to_string();
        let to = (T0 + (i % 20) * 86_400_000 + week).to_string();
        let started = Instant::now();
        match i % 6 {
            0 => drop(a.kpis(&request(&[]), &all, &state).unwrap()),
            1 => drop(
                a.kpis(
                    &request(&[("group_by", "org".into()), ("period", "day".into())]),
                    &all,
                    &state,
                )
                .unwrap(),
            ),
            2 => drop(
                a.kpis(
                    &request(&[("group_by", "pool".into()), ("period", "day".into())]),
                    &mine,
                    &state,
                )
                .unwrap(),
            ),
            3 => drop(
                a.kpis(
                    &request(&[
                        ("pool", format!("{o}-pool{}", i % 20)),
                        ("group_by", "store".into()),
                        ("period", "hour".into()),
                        ("from", from),
                        ("to", to),
                    ]),
                    &mine,
                    &state,
                )
                .unwrap(),
            ),
            4 => drop(
                a.rejections(&request(&[("group_by", "org".into())]), &all)
                    .unwrap(),
            ),
            _ => drop(
                a.redemptions(&request(&[("from", from), ("limit", "100".into())]), &mine)
                    .unwrap(),
            ),
        }
        let us = started.elapsed().as_micros() as u64;
        hist.record(us.max(1)).unwrap();
        per_shape[(i % 6) as usize].record(us.max(1)).unwrap();
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "queries: n=600 p50={:.2} ms p99={:.2} ms max={:.2} ms",
        ms(&hist, 0.5),
        ms(&hist, 0.99),
        hist.max() as f64 / 1000.0
    );
    let names = [
        "kpis total",
        "kpis org/day",
        "kpis own pools/day",
        "kpis pool store/hour week",
        "rejections org",
        "listing page",
    ];
    for (name, h) in names.iter().zip(&per_shape) {
        println!(
            "  {name:<28} p50={:.2} ms p99={:.2} ms",
            ms(h, 0.5),
            ms(h, 0.99)
        );
    }
}

/// A node store with an active pool of `codes` codes and 16 terminals.
struct Chain {
    store: Store,
    tip: ChainTip,
    signer: TestChain,
    raft_index: u64,
}

impl Chain {
    fn commit(&mut self, txs: Vec<SignedTx>) {
        let applied = apply_block(
            &self.store,
            &self.store,
            &self.tip,
            1,
            self.tip.time_ms + 1,
            &txs,
        )
        .expect("apply");
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

    fn one(&mut self, key: &SigningKey, kind: TxKind) {
        let tx = self.signer.sign(key, kind);
        self.commit(vec![tx]);
    }
}

fn chain(dir: &std::path::Path, codes: u64) -> (Chain, Vec<SigningKey>, PoolId) {
    let store = Store::open(dir).expect("store");
    let tip = store
        .init_genesis(&testkit::genesis(), Hash32([7; 32]))
        .expect("genesis");
    let mut signer = TestChain::new();
    signer.advance(3_600_000);
    let mut c = Chain {
        store,
        tip,
        signer,
        raft_index: 0,
    };
    let admin = testkit::key(1);
    c.one(
        &admin,
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(10),
            role: Role::Issuer,
        }),
    );
    let terminals: Vec<SigningKey> = (0..16u8)
        .map(|i| {
            let role = Role::Terminal {
                store: StoreId::new(format!("store-{i}")).unwrap(),
                channel: Channel::new("pos").unwrap(),
            };
            c.one(
                &admin,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(100 + i),
                    role,
                }),
            );
            testkit::key(100 + i)
        })
        .collect();
    let issuer = testkit::key(10);
    let pool = testkit::pool_id("bench-lag");
    c.one(
        &issuer,
        TxKind::CreatePool(CreatePoolTx {
            pool: pool.clone(),
            spec: testkit::spec(PoolKind::UniqueCodes),
        }),
    );
    for first in (0..codes).step_by(5_000) {
        let batch = (first..(first + 5_000).min(codes))
            .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
            .collect();
        c.one(
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: pool.clone(),
                codes: batch,
            }),
        );
    }
    c.one(
        &issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Activate,
        }),
    );
    (c, terminals, pool)
}

/// Blocks of 100 redemptions at 10 blocks/s for 10 s, the ingester following.
fn lag() {
    const BLOCKS: u64 = 100;
    const PER_BLOCK: u64 = 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut c, terminals, pool) = chain(&dir.path().join("db"), BLOCKS * PER_BLOCK);
    let analytics = Arc::new(Analytics::open(&dir.path().join("analytics.sqlite")).unwrap());
    analytics.catch_up(&c.store).unwrap();
    let tip = EventsTip::new(c.tip.log.size);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follower = runtime.spawn(run_ingester(
        analytics.clone(),
        c.store.clone(),
        tip.subscribe(),
        async move {
            let _ = stopped.await;
        },
    ));
    let blocks: Vec<Vec<SignedTx>> = (0..BLOCKS)
        .map(|b| {
            (0..PER_BLOCK)
                .map(|k| {
                    let i = b * PER_BLOCK + k;
                    let kind = TxKind::Redeem(RedeemTx {
                        target: RedeemTarget::Code(code_hash(&testkit::code_text(&pool, i))),
                        member: None,
                        order: testkit::order(10_000),
                    });
                    c.signer.sign(&terminals[(i % 16) as usize], kind)
                })
                .collect()
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let started = Instant::now();
    for (b, txs) in blocks.into_iter().enumerate() {
        let due = started + Duration::from_millis(100 * b as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        c.commit(txs);
        let committed = Instant::now();
        tip.advance(c.tip.log.size);
        let height = c.tip.height;
        while analytics.position().unwrap().height < height {
            std::thread::sleep(Duration::from_micros(200));
            assert!(
                committed.elapsed() < Duration::from_secs(30),
                "ingester stuck"
            );
        }
        hist.record(committed.elapsed().as_micros().max(1) as u64)
            .unwrap();
    }
    let _ = stop.send(());
    runtime.block_on(follower).unwrap();
    println!(
        "lag: {BLOCKS} blocks of {PER_BLOCK} redemptions at 10 blocks/s: p50={:.2} ms p99={:.2} ms max={:.2} ms",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run
    // a tiny version there so the bench stays compiled and working.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: u64 = std::env::var("ANALYTICS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let a = Analytics::open(&dir.path().join("analytics.sqlite")).expect("open");
    let (events, rate) = ingest(&a, n);
    println!("ingest: {events} events in blocks of {BLOCK_EVENTS}: {rate:.0} events/s");
    queries(&a);
    drop(a);
    drop(dir);
    if !quick {
        lag();
    }
}
