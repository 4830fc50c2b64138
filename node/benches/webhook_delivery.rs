//! Webhook delivery benchmark (issue 15, section 3): an in-process node, its webhook
//! dispatcher and a receiver on 127.0.0.1 that checks nothing and answers 200.
//!
//! - **throughput**: `WEBHOOK_BENCH_EVENTS` events (default 5,000; one `key.registered`
//!   per tx) are committed while the endpoint is disabled; enabling it starts the clock,
//!   the last delivery stops it: events delivered per second, in order, signed.
//! - **latency**: one tx every 10 ms (100 events/s) for `WEBHOOK_BENCH_SECS` seconds
//!   (default 10); each event's latency is its receipt at the receiver minus the moment
//!   the node published its block's events (the events tip advancing past it): p50, p99.
//!
//! Runs from the workspace build (no separate release build of RocksDB):
//! `cargo build --workspace --all-targets --profile test && $(ls -t
//! $CARGO_TARGET_DIR/debug/deps/webhook_delivery-* | grep -v '\.d$' | head -1) --bench`, or
//! `cargo bench -p couponcactus-node --bench webhook_delivery` with an optimised build.

// Rates and milliseconds for the report.
#![allow(clippy::float_arithmetic)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use couponcactus_chaincode::ids::PublicKey;
use couponcactus_chaincode::testkit::{self, key};
use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
use couponcactus_chaincode::types::Role;
use couponcactus_node::node::{NodeHandle, NodeOptions, now_ms, start};
use couponcactus_node::storage::Store;
use couponcactus_node::webhooks::{WebhookConfig, Webhooks, dispatch, node_org};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The org admin of the testkit genesis's first org (the node's org).
const ADMIN: u8 = 1;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(State(log): State<Arrivals>, headers: HeaderMap, _body: Bytes) -> &'static str {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    log.lock()
        .unwrap()
        .entry(id.to_string())
        .or_insert_with(Instant::now);
    "ok"
}

async fn receiver() -> (String, Arrivals) {
    let log: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().fallback(receive).with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

/// A `RegisterKey` tx of a fresh issuer key `n` by the org admin: one event.
fn tx(node: &NodeHandle, n: u64) -> couponcactus_chaincode::tx::SignedTx {
    let seed = key_seed(n);
    let public = PublicKey(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
    TxBody {
        chain_id: node.chain_id().clone(),
        nonce: n,
        valid_until_ms: now_ms() + 600_000,
        kind: TxKind::RegisterKey(RegisterKeyTx {
            key: public,
            role: Role::Issuer,
        }),
        memo: None,
    }
    .sign(&key(ADMIN))
}

/// 32 distinct bytes per `n` (a key seed only has to differ).
fn key_seed(n: u64) -> [u8; 32] {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed
}

async fn wait_for(log: &Arrivals, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while log.lock().unwrap().len() < n {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

async fn throughput(node: &NodeHandle, hooks: &Webhooks, events: u64) {
    let (url, log) = receiver().await;
    let org = hooks.org().clone();
    let cursor =
        node.events_tip()
            .get()
            .checked_sub(1)
            .map(|l| couponcactus_chaincode::events::EventId {
                log_index: l,
                index: u16::MAX,
            });
    let (endpoint, _) = hooks
        .store()
        .create(&org, &url, &[], "bench", cursor, now_ms())
        .unwrap();
    hooks
        .store()
        .set_enabled(&org, &endpoint.id, false, Some("loading"), now_ms())
        .unwrap();
    hooks.poke();
    let before = node.events_tip().get();
    for chunk in (0..events).collect::<Vec<_>>().chunks(1_000) {
        let pending: Vec<_> = chunk
            .iter()
            .map(|n| node.submit(tx(node, 1_000_000 + n), false))
            .collect();
        for p in futures_join(pending).await {
            p.expect("admitted");
        }
    }
    // Every tx is one history-log entry: wait until all are committed.
    while node.events_tip().get() < before + events {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    hooks
        .store()
        .set_enabled(&org, &endpoint.id, true, None, now_ms())
        .unwrap();
    hooks.poke();
    let complete = wait_for(&log, events as usize, Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    let got = log.lock().unwrap().len();
    println!(
        "throughput: {got} of {events} events delivered in {:.2} s = {:.0} events/s{}",
        elapsed.as_secs_f64(),
        got as f64 / elapsed.as_secs_f64(),
        if complete { "" } else { " (INCOMPLETE)" }
    );
    hooks
        .store()
        .set_enabled(&org, &endpoint.id, false, Some("done"), now_ms())
        .unwrap();
}

async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    for f in futures {
        out.push(f.await);
    }
    out
}

async fn latency(node: &NodeHandle, hooks: &Webhooks, secs: u64) {
    let (url, log) = receiver().await;
    let org = hooks.org().clone();
    let cursor =
        node.events_tip()
            .get()
            .checked_sub(1)
            .map(|l| couponcactus_chaincode::events::EventId {
                log_index: l,
                index: u16::MAX,
            });
    hooks
        .store()
        .create(&org, &url, &[], "bench", cursor, now_ms())
        .unwrap();
    hooks.poke();
    // When each log size was published.
    let published: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let mut tip = node.events_tip().subscribe();
    let watcher = {
        let published = published.clone();
        tokio::spawn(async move {
            while tip.changed().await.is_ok() {
                let size = *tip.borrow_and_update();
                published.lock().unwrap().push((size, Instant::now()));
            }
        })
    };
    let first_log = node.events_tip().get();
    let count = secs * 100;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    for n in 0..count {
        ticker.tick().await;
        node.submit(tx(node, 2_000_000 + n), false)
            .await
            .expect("admitted");
    }
    wait_for(&log, count as usize, Duration::from_secs(60)).await;
    watcher.abort();
    let published = published.lock().unwrap().clone();
    let log = log.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = log
        .iter()
        .filter_map(|(id, at)| {
            let index: u64 = id.strip_prefix("evt_")?.split('_').next()?.parse().ok()?;
            let (_, commit) = published.iter().find(|(size, _)| *size > index)?;
            (index >= first_log).then(|| at.saturating_duration_since(*commit))
        })
        .collect();
    latencies.sort();
    let pick = |q: usize| {
        latencies
            .get(latencies.len() * q / 100)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "latency at 100 events/s: {} events, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms after commit",
        latencies.len(),
        pick(50).as_secs_f64() * 1e3,
        pick(90).as_secs_f64() * 1e3,
        pick(99).as_secs_f64() * 1e3
    );
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let genesis = testkit::genesis();
        let hash = couponcactus_genesis::Genesis::new(genesis.clone())
            .unwrap()
            .hash();
        let (node, thread) = start(
            store,
            &genesis,
            hash,
            key(200),
            NodeOptions::default(),
            None,
        )
        .unwrap();
        while node.status().leader_id == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let org = node_org(&node, node.status().node_id).expect("the node's org");
        let config = WebhookConfig {
            allow_private_targets: true,
            ..WebhookConfig::default()
        };
        let hooks = Webhooks::open(dir.path(), node.clone(), org, config).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dispatcher = tokio::spawn(dispatch::run(hooks.clone(), async move {
            let _ = stopped.await;
        }));
        throughput(&node, &hooks, env("WEBHOOK_BENCH_EVENTS", 5_000)).await;
        latency(&node, &hooks, env("WEBHOOK_BENCH_SECS", 10)).await;
        let _ = stop.send(());
        let _ = dispatcher.await;
        node.shutdown();
        let _ = thread.join();
    });
}
