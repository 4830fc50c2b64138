//! Merchant console page speed at 1,000,000 tokens: every page's server time, through the
//! real console router, against a node store and an analytics store holding a month of an
//! org's activity.
//!
//! `cargo bench -p couponcactus-node --bench console_pages`
//! (quick check: `CONSOLE_BENCH_TOKENS=100000`)
//!
//! 1. **Chain**: a RocksDB node store (testkit genesis, org `acme`) where acme's issuer
//!    issues `CONSOLE_BENCH_TOKENS` (default 1,000,000) tokens in `IssueCodes` txs of 5,000
//!    into 20 pools (`pool-00` 24 %, 19 pools 4 % each), activates them, then over 30 days
//!    of hourly blocks (ending now, so the overview's today/7/30-day windows have data)
//!    allocates a tenth of the tokens to members, redeems about half of those a day
//!    later at 16 terminals, and retries every 20th redemption (rejected: already
//!    redeemed). Blocks are applied with the chaincode's `apply_block` and committed with
//!    `Store::commit_block`, as the consensus thread does; the last block is certified.
//! 2. **Analytics**: the analytics store catches up with the chain's events
//!    ([`Analytics::catch_up`], what the node's ingester runs).
//! 3. **Pages**: a single-node [`couponcactus_node::node::start`] on that store, a
//!    [`Console`] on the node and the analytics store, a user logged in through
//!    `GET`/`POST /console/login` (CSRF field and cookie) and each page requested
//!    [`RUNS`] times (after one warm-up) through the console's axum router in process. The
//!    time of a request is from the call to the last byte of its body: p50/p99/max,
//!    against the [`BUDGET_MS`] budget.
//!
//! Bounded: the chain has a fixed number of blocks and txs, each page is requested
//! [`RUNS`] + 1 times; the temporary directory is deleted at the end (unless
//! `CONSOLE_BENCH_KEEP` is set, to inspect the stores). Figures are in
//! docs/performance.md ("Console pages at 1,000,000 tokens").

// Floats only to print milliseconds; nothing measured is stored.
#![allow(clippy::float_arithmetic)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use couponcactus_chaincode::block::{Certificate, sign_checkpoint};
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use couponcactus_node::analytics::Analytics;
use couponcactus_node::console::{self, Console, ConsoleConfig, WriteKeys};
use couponcactus_node::node::{NodeOptions, start};
use couponcactus_node::storage::Store;
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tower_service::Service;

/// Requests per page (after one warm-up).
const RUNS: usize = 20;
/// The server-time budget of a page, ms.
const BUDGET_MS: f64 = 300.0;
/// Codes per `IssueCodes` tx (the chain's default `max_batch_codes`).
const BATCH: u64 = 5_000;
const POOLS: u64 = 20;
const TERMINALS: u64 = 16;
const DAYS: u64 = 30;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// Every this many redemptions, one is retried (and rejected).
const RETRY_EVERY: u64 = 20;
/// Largest page body read, bytes.
const MAX_BODY: usize = 64 * 1024 * 1024;
const GENESIS_HASH: Hash32 = Hash32([7; 32]);
const PASSWORD: &str = "bench-password-1234";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn pool(p: u64) -> PoolId {
    testkit::pool_id(&format!("pool-{p:02}"))
}

/// Tokens of pool `p` out of `tokens`.
fn pool_size(p: u64, tokens: u64) -> u64 {
    if p == 0 {
        tokens * 24 / 100
    } else {
        tokens * 4 / 100
    }
}

/// The node store being built, its tip and a [`TestChain`] used only to sign.
struct Chain {
    store: Store,
    tip: ChainTip,
    signer: TestChain,
    rejected: u64,
    txs: u64,
}

impl Chain {
    /// Signs `txs` valid at `time_ms`, applies them as one block at that time and commits
    /// it (Raft index 0: the node starts a fresh Raft log on this store).
    fn block(&mut self, time_ms: u64, txs: Vec<(SigningKey, TxKind)>) {
        let time_ms = time_ms.max(self.tip.time_ms + 1);
        self.signer.time_ms = time_ms;
        let txs: Vec<SignedTx> = txs
            .into_iter()
            .map(|(key, kind)| self.signer.sign(&key, kind))
            .collect();
        let applied =
            apply_block(&self.store, &self.store, &self.tip, 1, time_ms, &txs).expect("apply");
        self.rejected += applied
            .results
            .iter()
            .filter(|r| r.outcome.rejection().is_some())
            .count() as u64;
        self.txs += txs.len() as u64;
        let block = Block {
            header: applied.header.clone(),
            txs,
        };
        self.store
            .commit_block(0, &block, &applied)
            .expect("commit");
        self.tip = applied.tip;
    }

    /// Certifies the tip with node 1's key (the testkit genesis's one voter).
    fn certify(&self) {
        let header = self
            .store
            .header(self.tip.height)
            .expect("read")
            .expect("tip header");
        let hash = header.hash();
        let cert = Certificate {
            chain_id: self.tip.chain_id.clone(),
            height: self.tip.height,
            block_hash: hash,
            signatures: vec![sign_checkpoint(
                &testkit::key(200),
                1,
                &self.tip.chain_id,
                self.tip.height,
                &hash,
            )],
        };
        self.store.put_certificate(&cert).expect("certificate");
    }
}

/// Keys, pools, `tokens` codes and activation, in blocks just before `start_ms`.
fn setup(chain: &mut Chain, tokens: u64, start_ms: u64) {
    let admin = testkit::key(1);
    let issuer = testkit::key(10);
    let mut t = start_ms - DAY_MS;
    let mut keys = vec![(
        admin.clone(),
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(10),
            role: Role::Issuer,
        }),
    )];
    for i in 0..TERMINALS {
        keys.push((
            admin.clone(),
            TxKind::RegisterKey(RegisterKeyTx {
                key: testkit::public(100 + i as u8),
                role: Role::Terminal {
                    store: StoreId::new(format!("store-{i}")).expect("store id"),
                    channel: Channel::new(if i % 4 == 0 { "web" } else { "pos" }).expect("channel"),
                },
            }),
        ));
    }
    chain.block(t, keys);
    let pools = (0..POOLS)
        .map(|p| {
            let mut spec = testkit::spec(PoolKind::UniqueCodes);
            spec.name = format!("Bench pool {p:02}");
            spec.valid_until_ms = start_ms + 400 * DAY_MS;
            (
                issuer.clone(),
                TxKind::CreatePool(CreatePoolTx {
                    pool: pool(p),
                    spec,
                }),
            )
        })
        .collect();
    t += 1_000;
    chain.block(t, pools);
    let mut issued = 0u64;
    for p in 0..POOLS {
        let id = pool(p);
        let size = pool_size(p, tokens);
        for first in (0..size).step_by(BATCH as usize) {
            let codes = (first..(first + BATCH).min(size))
                .map(|i| testkit::issued_code(&id, &testkit::code_text(&id, i), i))
                .collect();
            t += 1_000;
            chain.block(
                t,
                vec![(
                    issuer.clone(),
                    TxKind::IssueCodes(IssueCodesTx {
                        pool: id.clone(),
                        codes,
                    }),
                )],
            );
            issued += (first + BATCH).min(size) - first;
            if issued.is_multiple_of(100_000) {
                println!("  issued {issued} tokens");
            }
        }
    }
    let activate = (0..POOLS)
        .map(|p| {
            (
                issuer.clone(),
                TxKind::TransitionPool(TransitionPoolTx {
                    pool: pool(p),
                    action: PoolAction::Activate,
                }),
            )
        })
        .collect();
    chain.block(t + 1_000, activate);
}

/// Allocation `a`: pool `a % POOLS`, serial `a / POOLS` (pools allocate in serial order),
/// member `a`.
fn allocation(a: u64) -> (TokenId, MemberId) {
    (
        TokenId {
            pool: pool(a % POOLS),
            serial: a / POOLS,
        },
        testkit::member(a),
    )
}

/// 30 days of hourly blocks from `start_ms`: `allocations` allocations spread evenly, half
/// of every pool's (even serials) redeemed 24 blocks (a day) later, every
/// [`RETRY_EVERY`]th redemption retried.
fn activity(chain: &mut Chain, allocations: u64, start_ms: u64) {
    let issuer = testkit::key(10);
    let blocks = DAYS * 24;
    let range = |h: u64| (h * allocations / blocks)..((h + 1) * allocations / blocks);
    for h in 0..blocks {
        let mut txs = Vec::new();
        for a in range(h) {
            let (token, member) = allocation(a);
            txs.push((
                issuer.clone(),
                TxKind::Allocate(AllocateTx {
                    pool: token.pool,
                    member,
                    claim: testkit::claim(a),
                }),
            ));
        }
        if h >= 24 {
            for a in range(h - 24).filter(|a| (a / POOLS).is_multiple_of(2)) {
                let (token, member) = allocation(a);
                let redeem = TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Token(token),
                    member: Some(member),
                    order: testkit::order(1_000 + a % 9_000),
                });
                let terminal = testkit::key(100 + (a % TERMINALS) as u8);
                txs.push((terminal.clone(), redeem.clone()));
                if (a / POOLS).is_multiple_of(2 * RETRY_EVERY) {
                    txs.push((terminal, redeem));
                }
            }
        }
        chain.block(start_ms + h * HOUR_MS, txs);
        if h % 120 == 119 {
            println!("  day {} of {DAYS}", (h + 1) / 24);
        }
    }
}

/// The store and analytics store of `tokens` tokens in `dir`.
fn build(dir: &std::path::Path, tokens: u64) -> (Store, Arc<Analytics>) {
    let started = Instant::now();
    let store = Store::open(&dir.join("db")).expect("open store");
    let tip = store
        .init_genesis(&testkit::genesis(), GENESIS_HASH)
        .expect("genesis");
    let mut chain = Chain {
        store,
        tip,
        signer: TestChain::new(),
        rejected: 0,
        txs: 0,
    };
    // The activity's last block is an hour ago.
    let start_ms = now_ms() - DAYS * DAY_MS;
    println!("building the chain: {tokens} tokens in {POOLS} pools");
    setup(&mut chain, tokens, start_ms);
    println!("  issued in {:.0} s", started.elapsed().as_secs_f64());
    activity(&mut chain, tokens / 10, start_ms);
    chain.certify();
    println!(
        "chain: height {}, {} txs ({} rejected), built in {:.0} s",
        chain.tip.height,
        chain.txs,
        chain.rejected,
        started.elapsed().as_secs_f64()
    );
    let ingest = Instant::now();
    let analytics = Arc::new(Analytics::open(&dir.join("analytics.sqlite")).expect("analytics"));
    let events = analytics.catch_up(&chain.store).expect("catch up");
    println!(
        "analytics: {events} events ingested in {:.0} s",
        ingest.elapsed().as_secs_f64()
    );
    (chain.store, analytics)
}

/// The console's router, driven in process.
struct Client {
    router: axum::Router,
    cookie: String,
}

/// The value of cookie `name` a response sets.
fn set_cookie(response: &axum::response::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

/// The value of `<input name="csrf" value="…">`.
fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

impl Client {
    async fn call(&self, request: Request<Body>) -> (StatusCode, axum::response::Response) {
        let mut request = request;
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        let response = self.router.clone().call(request).await.expect("infallible");
        (response.status(), response)
    }

    async fn text(response: axum::response::Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY)
            .await
            .expect("body");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Logs in as `name` (GET the form, POST it with its CSRF field and cookie).
    async fn login(router: axum::Router, name: &str) -> Client {
        let mut client = Client {
            router,
            cookie: String::new(),
        };
        let form = Request::get("/console/login").body(Body::empty()).unwrap();
        let (status, response) = client.call(form).await;
        assert_eq!(status, StatusCode::OK, "login form");
        let login = set_cookie(&response, "cactus_login").expect("login cookie");
        let csrf = csrf_field(&Client::text(response).await);
        let body = serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("name", name),
            ("password", PASSWORD),
        ])
        .unwrap();
        let post = Request::builder()
            .method(Method::POST)
            .uri("/console/login")
            .header(header::COOKIE, format!("cactus_login={login}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let (status, response) = client.call(post).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "login");
        let session = set_cookie(&response, "cactus_session").expect("a session");
        client.cookie = format!("cactus_session={session}");
        client
    }

    /// GETs `path`: its body and how long it took (ms), panicking unless 200.
    async fn get(&self, path: &str) -> (String, f64) {
        let request = Request::get(path)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        let started = Instant::now();
        let (status, response) = self.call(request).await;
        let body = Client::text(response).await;
        let ms = started.elapsed().as_secs_f64() * 1_000.0;
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            body.chars().take(500).collect::<String>()
        );
        (body, ms)
    }
}

/// `YYYY-MM-DD` of `ms`.
fn day(ms: u64) -> String {
    // A timestamp prints as RFC 3339 in UTC.
    jiff::Timestamp::from_millisecond(ms as i64)
        .expect("time")
        .to_string()[..10]
        .to_string()
}

/// The href of the page's `rel="next"` link.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let before = &html[..at];
    let start = before.rfind("href=\"")? + "href=\"".len();
    let href = before[start..].split('"').next()?;
    Some(href.replace("&amp;", "&").replace("&#x2f;", "/"))
}

/// One page's timings.
struct Row {
    page: &'static str,
    path: String,
    ms: Vec<f64>,
    /// Bytes of the page's body.
    bytes: usize,
    /// Whether the page said nothing matched (`id="empty"`).
    empty: bool,
}

impl Row {
    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    }
}

async fn time_page(client: &Client, page: &'static str, path: String) -> Row {
    let (body, _) = client.get(&path).await;
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        ms.push(client.get(&path).await.1);
    }
    Row {
        page,
        path,
        ms,
        bytes: body.len(),
        empty: body.contains("id=\"empty\""),
    }
}

/// Every page, timed.
async fn pages(client: &Client) -> Vec<Row> {
    let now = now_ms();
    let yesterday = day(now - DAY_MS);
    let week_ago = day(now - 7 * DAY_MS);
    let (first, _) = client.get("/console/redemptions").await;
    let page2 = next_link(&first).expect("the log has a second page");
    let (_, member) = allocation(0);
    let (token, _) = allocation(0);
    let token_path = format!("/console/tokens/{}/{}", token.pool, token.serial);
    let (page, _) = client.get(&token_path).await;
    assert!(
        page.contains("State proof verified") && page.contains("anchored to genesis 07070707"),
        "the token page's proof badge did not verify"
    );
    let paths: Vec<(&'static str, String)> = vec![
        ("overview", "/console".into()),
        ("pools", "/console/pools".into()),
        (
            "pool detail (largest)",
            format!("/console/pools/{}", pool(0)),
        ),
        ("redemptions", "/console/redemptions".into()),
        (
            "redemptions filtered",
            format!(
                "/console/redemptions?from={week_ago}&to={yesterday}&pool={}&store=store-4&channel=web",
                pool(4)
            ),
        ),
        (
            "redemptions rejected",
            "/console/redemptions?result=rejected".into(),
        ),
        ("redemptions page 2", page2),
        (
            "redemptions.csv (a day)",
            format!("/console/redemptions.csv?from={yesterday}&to={yesterday}"),
        ),
        (
            "redemptions.pdf (a day)",
            format!("/console/redemptions.pdf?from={yesterday}&to={yesterday}"),
        ),
        ("member lookup", format!("/console/members?member={member}")),
        ("token + proof check", token_path),
        ("audit", "/console/audit".into()),
        ("bulk", "/console/bulk".into()),
    ];
    let mut rows = Vec::new();
    for (page, path) in paths {
        let row = time_page(client, page, path).await;
        println!("  {page}: p50 {:.1} ms", row.quantile(0.5));
        rows.push(row);
    }
    rows
}

fn print(rows: &[Row]) {
    println!(
        "\n| page | body KiB | p50 ms | p99 ms | max ms | <= {BUDGET_MS:.0} ms |\n\
         |---|---:|---:|---:|---:|:---:|"
    );
    for r in rows {
        let max = r.quantile(1.0);
        println!(
            "| {}{} | {} | {:.1} | {:.1} | {:.1} | {} |",
            r.page,
            if r.empty { " (no rows)" } else { "" },
            r.bytes / 1024,
            r.quantile(0.5),
            r.quantile(0.99),
            max,
            if max <= BUDGET_MS { "yes" } else { "NO" }
        );
    }
    println!("\npaths:");
    for r in rows {
        println!("  {}: {}", r.page, r.path);
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let tokens: u64 = std::env::var("CONSOLE_BENCH_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
        .clamp(100_000, 2_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let (store, analytics) = build(dir.path(), tokens);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let (node, consensus) = start(
        store,
        &testkit::genesis(),
        GENESIS_HASH,
        testkit::key(200),
        NodeOptions::default(),
        None,
    )
    .expect("node");
    let console = Console::open(
        dir.path(),
        node.clone(),
        testkit::org("acme"),
        Some(analytics),
        ConsoleConfig::default(),
        // The issuer's key (the bulk page is for writers) and the testkit's sealing key.
        WriteKeys {
            signer: Some(testkit::key(10)),
            data_key: Some(testkit::DATA_KEY),
        },
    )
    .expect("console");
    let hash = console::password::hash(PASSWORD).expect("hash");
    console
        .store()
        .add_user("bench", console::Role::Admin, &hash, now_ms())
        .expect("user");
    println!("load average before the pages: {}", load());
    let rows = runtime.block_on(async {
        let client = Client::login(console.router(), "bench").await;
        pages(&client).await
    });
    println!("load average after the pages: {}", load());
    print(&rows);
    node.shutdown();
    drop(console);
    let _ = consensus.join();
    drop(runtime);
    // `CONSOLE_BENCH_KEEP=1` keeps the stores to inspect (the path is printed).
    if std::env::var_os("CONSOLE_BENCH_KEEP").is_some() {
        println!("kept {}", dir.keep().display());
    }
}
