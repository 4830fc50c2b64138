//! Tests of the analytics store: random workloads through the chaincode testkit, committed
//! the way the node commits blocks, then every KPI recounted directly from the event log
//! and compared; reindex equality; idempotence per height; bad requests; who sees what.

use super::ingest::reindex;
use super::query::{AnalyticsParams, Dim, Period, Request, Scope};
use super::report::{KpiRow, PartnerRow, RawKpi, RejectionRow};
use super::{Analytics, AnalyticsError};
use crate::api::Reader;
use crate::storage::Store;
use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::events::{EventDetail, EventType, LedgerEvent};
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::{Channel, Hash32, MemberId, StoreId, TokenId, TxId};
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block};
use couponcactus_chaincode::testkit::{self, TestChain};
use couponcactus_chaincode::tx::{
    AllocateTx, CreatePoolTx, IssueCodesTx, RedeemTarget, RedeemTx, RegisterKeyTx, RevokeReason,
    RevokeTokenTx, RollbackTx, SignedTx, TransitionPoolTx, TxKind,
};
use couponcactus_chaincode::types::{KeyRecord, PoolAction, PoolKind, Role};
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;

const GENESIS_HASH: Hash32 = Hash32([3; 32]);

/// A small deterministic generator (xorshift64*): seeded workloads without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A node's store with blocks applied and committed as the node does it.
pub(crate) struct Chain {
    pub(crate) store: Store,
    pub(crate) chain: TestChain,
    tip: ChainTip,
    raft_index: u64,
    dir: tempfile::TempDir,
}

impl Chain {
    pub(crate) fn new() -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let tip = store
            .init_genesis(&testkit::genesis(), GENESIS_HASH)
            .unwrap();
        Chain {
            store,
            chain: TestChain::new(),
            tip,
            raft_index: 0,
            dir,
        }
    }

    /// Signs and commits one block; returns the chaincode events of its applied txs.
    pub(crate) fn block(&mut self, txs: Vec<(&SigningKey, TxKind)>) -> Vec<Event> {
        let txs: Vec<SignedTx> = txs
            .into_iter()
            .map(|(k, kind)| self.chain.sign(k, kind))
            .collect();
        let time = self.chain.next_ctx().time_ms;
        let applied = apply_block(&self.store, &self.store, &self.tip, 1, time, &txs).unwrap();
        let events = applied
            .results
            .iter()
            .filter_map(|r| r.outcome.events())
            .flat_map(|e| e.iter().cloned())
            .collect();
        let block = Block {
            header: applied.header.clone(),
            txs,
        };
        self.raft_index += 1;
        self.store
            .commit_block(self.raft_index, &block, &applied)
            .unwrap();
        self.tip = applied.tip;
        self.chain.height += 1;
        self.chain.time_ms = time;
        events
    }
}

fn terminal(store: &str, channel: &str) -> Role {
    Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new(channel).unwrap(),
    }
}

/// acme (admin 1: issuer 10, terminals 11 and 12) and globex (admin 2: issuer 20,
/// terminal 21); acme's unique pool `spring` (globex a partner), acme's shared `summer`
/// (cap 40), globex's unique `winter`.
pub(crate) fn setup(c: &mut Chain) {
    let (acme, globex) = (testkit::key(1), testkit::key(2));
    let reg = |seed: u8, role: Role| {
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(seed),
            role,
        })
    };
    c.block(vec![
        (&acme, reg(10, Role::Issuer)),
        (&acme, reg(11, terminal("berlin-1", "pos"))),
        (&acme, reg(12, terminal("paris-1", "web"))),
        (&globex, reg(20, Role::Issuer)),
        (&globex, reg(21, terminal("globex-1", "pos"))),
    ]);
    let (ai, gi) = (testkit::key(10), testkit::key(20));
    let mut spring = testkit::spec(PoolKind::UniqueCodes);
    spring.partner_orgs = vec![testkit::org("globex")];
    let mut summer = testkit::spec(PoolKind::SharedCode);
    summer.total_cap = 40;
    summer.per_member_cap = 100;
    let winter = testkit::spec(PoolKind::UniqueCodes);
    let pools = [
        ("spring", spring, &ai, 60),
        ("summer", summer, &ai, 1),
        ("winter", winter, &gi, 40),
    ];
    for (name, spec, key, codes) in pools {
        let pool = testkit::pool_id(name);
        let codes = (0..codes)
            .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
            .collect();
        c.block(vec![
            (
                key,
                TxKind::CreatePool(CreatePoolTx {
                    pool: pool.clone(),
                    spec,
                }),
            ),
            (
                key,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: pool.clone(),
                    codes,
                }),
            ),
            (
                key,
                TxKind::TransitionPool(TransitionPoolTx {
                    pool,
                    action: PoolAction::Activate,
                }),
            ),
        ]);
    }
}

/// Tokens allocated and redemptions made so far.
#[derive(Default)]
struct Seen {
    tokens: Vec<(TokenId, MemberId)>,
    redemptions: Vec<TxId>,
}

impl Seen {
    fn note(&mut self, events: &[Event]) {
        for e in events {
            match e {
                Event::Allocated { token, member, .. } => {
                    self.tokens.push((token.clone(), *member))
                }
                Event::Redeemed { redemption, .. } => self.redemptions.push(*redemption),
                _ => {}
            }
        }
    }
}

/// One random tx: allocations, redemptions (some refused, some by the partner's
/// terminal), shared-code redemptions, rollbacks, revocations, unknown codes.
fn random_tx(rng: &mut Rng, seen: &Seen, member: &mut u64) -> (u8, TxKind) {
    let terminals = [11u8, 12, 21];
    let pick =
        |rng: &mut Rng, v: &[(TokenId, MemberId)]| v[rng.below(v.len() as u64) as usize].clone();
    let order = |rng: &mut Rng| testkit::order(500 + rng.below(20_000));
    match rng.below(10) {
        0..=2 => {
            *member += 1;
            let (pool, issuer) = if rng.below(3) == 0 {
                ("winter", 20)
            } else {
                ("spring", 10)
            };
            let kind = TxKind::Allocate(AllocateTx {
                pool: testkit::pool_id(pool),
                member: testkit::member(*member),
                claim: testkit::claim(*member),
            });
            (issuer, kind)
        }
        3..=5 if !seen.tokens.is_empty() => {
            let (token, holder) = pick(rng, &seen.tokens);
            let kind = TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Token(token),
                member: Some(holder),
                order: order(rng),
            });
            (terminals[rng.below(3) as usize], kind)
        }
        6 => {
            let pool = testkit::pool_id("summer");
            let code = testkit::code_text(&pool, 0);
            let kind = TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Code(code_hash(&code)),
                member: Some(testkit::member(rng.below(5))),
                order: order(rng),
            });
            (terminals[rng.below(2) as usize], kind)
        }
        7 if !seen.redemptions.is_empty() => {
            let r = seen.redemptions[rng.below(seen.redemptions.len() as u64) as usize];
            (
                terminals[rng.below(3) as usize],
                TxKind::Rollback(RollbackTx { redemption: r }),
            )
        }
        8 if !seen.tokens.is_empty() => {
            let kind = TxKind::RevokeToken(RevokeTokenTx {
                token: pick(rng, &seen.tokens).0,
                reason: RevokeReason::CustomerRequest,
                note: None,
            });
            (10, kind)
        }
        _ => {
            let kind = TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Code(code_hash("NO-SUCH-CODE")),
                member: None,
                order: order(rng),
            });
            (11, kind)
        }
    }
}

/// A chain with a random workload of `blocks` blocks; `analytics` (if any) ingests after
/// every block.
pub(crate) fn workload(seed: u64, blocks: usize, analytics: Option<&Analytics>) -> Chain {
    let mut c = Chain::new();
    setup(&mut c);
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut seen, mut member) = (Seen::default(), 0u64);
    for _ in 0..blocks {
        c.chain.advance(rng.below(3 * 3_600_000));
        let n = 1 + rng.below(8);
        let txs: Vec<(u8, TxKind)> = (0..n)
            .map(|_| random_tx(&mut rng, &seen, &mut member))
            .collect();
        let keys: BTreeMap<u8, SigningKey> =
            txs.iter().map(|(s, _)| (*s, testkit::key(*s))).collect();
        let events = c.block(txs.into_iter().map(|(s, k)| (&keys[&s], k)).collect());
        seen.note(&events);
        if let Some(a) = analytics {
            a.catch_up(&c.store).unwrap();
        }
    }
    c
}

fn all_events(store: &Store) -> Vec<LedgerEvent> {
    let (mut out, mut cursor) = (Vec::new(), None);
    loop {
        let scan = store.events_after(cursor, 1000, |_| true).unwrap();
        cursor = scan.next;
        out.extend(scan.events);
        if scan.exhausted {
            return out;
        }
    }
}

// ---- the recount: KPIs straight from the events, without SQL -------------------------

fn text<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

fn dim_value(e: &LedgerEvent, d: Dim) -> String {
    match d {
        Dim::Org => text(&e.org),
        Dim::Pool => text(&e.pool),
        Dim::Store => text(&e.store),
        Dim::Channel => text(&e.channel),
        Dim::Terminal if e.store.is_some() => e.signer.to_hex(),
        Dim::Terminal => String::new(),
        Dim::SignerOrg => text(&e.signer_org),
    }
}

/// Civil date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn bucket(period: Period, time_ms: u64) -> Option<String> {
    let hour = (time_ms / 3_600_000) as i64;
    let day = hour.div_euclid(24);
    let date = |d: i64| {
        let (y, m, dd) = civil(d);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    match period {
        Period::Total => None,
        Period::Hour => Some(format!("{}T{:02}:00Z", date(day), hour.rem_euclid(24))),
        Period::Day => Some(date(day)),
        // 1970-01-01 was a Thursday: Monday-based weeks start 3 days before day 0.
        Period::Week => Some(date(day - (day + 3).rem_euclid(7))),
        Period::Month => {
            let (y, m, _) = civil(day);
            Some(format!("{y:04}-{m:02}"))
        }
    }
}

fn in_request(e: &LedgerEvent, req: &Request) -> bool {
    req.from_ms.is_none_or(|f| e.time_ms >= f)
        && req.to_ms.is_none_or(|t| e.time_ms < t)
        && req.filters.iter().all(|(d, v)| dim_value(e, *d) == *v)
}

fn sees(e: &LedgerEvent, scope: &Scope, own: bool) -> bool {
    match scope {
        Scope::All => true,
        Scope::Org(o) => text(&e.org) == *o || (!own && text(&e.signer_org) == *o),
    }
}

fn recount_kpis(events: &[LedgerEvent], req: &Request, scope: &Scope) -> Vec<KpiRow> {
    let mut raw: BTreeMap<(Vec<String>, Option<String>), RawKpi> = BTreeMap::new();
    for e in events {
        let counted = matches!(
            e.kind,
            EventType::CodesIssued
                | EventType::CouponAllocated
                | EventType::CouponRedeemed
                | EventType::CouponRolledBack
                | EventType::CouponRevoked
                | EventType::CouponTransferred
                | EventType::TxRejected
        );
        if !counted || !sees(e, scope, true) || !in_request(e, req) {
            continue;
        }
        let group = req.group_by.iter().map(|d| dim_value(e, *d)).collect();
        let r = raw
            .entry((group, bucket(req.period, e.time_ms)))
            .or_default();
        let n = match &e.detail {
            EventDetail::Applied {
                event: Event::CodesIssued { count, .. },
            } => *count,
            _ => 1,
        };
        *r.counts.entry(e.kind.name().to_string()).or_default() += n;
        let a = e.amounts.as_ref();
        let cur = a.map(|a| a.currency.to_string()).unwrap_or_default();
        let disc = a.and_then(|a| a.discount_minor).unwrap_or(0) as i64;
        if e.kind == EventType::CouponRedeemed {
            let m = r.money.entry(cur).or_default();
            m[0] += 1;
            m[1] += a.and_then(|a| a.order_total_minor).unwrap_or(0) as i64;
            m[2] += disc;
            if e.is_partner_redemption() {
                r.partner_redemptions += 1;
            }
        } else if e.kind == EventType::CouponRolledBack {
            r.money.entry(cur).or_default()[3] += disc;
        }
    }
    let names = |g: Vec<String>| {
        req.group_by
            .iter()
            .map(|d| d.name().to_string())
            .zip(g)
            .collect()
    };
    raw.into_iter()
        .map(|((g, b), r)| r.finish(names(g), b))
        .collect()
}

fn recount_partner(events: &[LedgerEvent], req: &Request, scope: &Scope) -> Vec<PartnerRow> {
    let mut rows: BTreeMap<(String, String, String), PartnerRow> = BTreeMap::new();
    for e in events {
        if !e.is_partner_redemption() || !sees(e, scope, false) || !in_request(e, req) {
            continue;
        }
        let a = e.amounts.as_ref().unwrap();
        let key = (text(&e.org), text(&e.signer_org), a.currency.to_string());
        let row = rows.entry(key.clone()).or_insert(PartnerRow {
            pool_org: key.0,
            redeeming_org: key.1,
            currency: key.2,
            redemptions: 0,
            discount_minor: 0,
            gross_order_minor: 0,
        });
        row.redemptions += 1;
        row.discount_minor += a.discount_minor.unwrap_or(0) as i64;
        row.gross_order_minor += a.order_total_minor.unwrap_or(0) as i64;
    }
    rows.into_values().collect()
}

fn recount_rejections(events: &[LedgerEvent], req: &Request, scope: &Scope) -> Vec<RejectionRow> {
    let mut rows: BTreeMap<(Vec<String>, Option<String>, String), u64> = BTreeMap::new();
    for e in events {
        let EventDetail::Rejected { rejection, .. } = &e.detail else {
            continue;
        };
        if !sees(e, scope, false) || !in_request(e, req) {
            continue;
        }
        let group = req.group_by.iter().map(|d| dim_value(e, *d)).collect();
        let key = (
            group,
            bucket(req.period, e.time_ms),
            rejection.reason.code().to_string(),
        );
        *rows.entry(key).or_default() += 1;
    }
    rows.into_iter()
        .map(|((g, bucket, reason), count)| RejectionRow {
            group: req
                .group_by
                .iter()
                .map(|d| d.name().to_string())
                .zip(g)
                .collect(),
            bucket,
            reason,
            count,
        })
        .collect()
}

fn request(query: &str) -> Request {
    let mut p = AnalyticsParams::default();
    for pair in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap();
        let v = Some(v.to_string());
        match k {
            "from" => p.from = v,
            "to" => p.to = v,
            "org" => p.org = v,
            "pool" => p.pool = v,
            "store" => p.store = v,
            "channel" => p.channel = v,
            "terminal" => p.terminal = v,
            "group_by" => p.group_by = v,
            "period" => p.period = v,
            "limit" => p.limit = v,
            "after" => p.after = v,
            other => panic!("unknown parameter {other}"),
        }
    }
    Request::parse(&p).unwrap()
}

/// Requests covering every dimension, period and scope.
fn requests() -> Vec<(Request, Scope)> {
    let from = testkit::GENESIS_MS + 24 * 3_600_000;
    let to = from + 3 * 24 * 3_600_000;
    let acme = || Scope::Org("acme".into());
    let globex = || Scope::Org("globex".into());
    vec![
        (request(""), Scope::All),
        (request("group_by=org,pool&period=day"), Scope::All),
        (request("group_by=store,terminal&period=hour"), acme()),
        (request("group_by=channel,signer_org&period=week"), globex()),
        (
            request(&format!("from={from}&to={to}&group_by=pool&period=month")),
            acme(),
        ),
        (request("pool=spring&group_by=store"), globex()),
        (request("store=berlin-1&channel=pos&period=day"), acme()),
    ]
}

/// Compares every KPI, partner and rejection row with the recount.
fn assert_matches_recount(a: &Analytics, store: &Store) {
    let events = all_events(store);
    assert!(events.len() > 20, "the workload made events");
    for (req, scope) in requests() {
        let (at, (rows, partner, _)) = a.kpis(&req, &scope, store).unwrap();
        assert_eq!(at.height, store.tip().unwrap().height);
        assert_eq!(
            rows,
            recount_kpis(&events, &req, &scope),
            "{req:?} {scope:?}"
        );
        assert_eq!(partner, recount_partner(&events, &req, &scope), "{req:?}");
        let (_, mut rejections) = a.rejections(&req, &scope).unwrap();
        rejections.sort_by(|x, y| {
            (&x.group, &x.bucket, &x.reason).cmp(&(&y.group, &y.bucket, &y.reason))
        });
        assert_eq!(
            rejections,
            recount_rejections(&events, &req, &scope),
            "{req:?}"
        );
    }
}

#[test]
fn analytics_equal_a_recount_from_the_chain_after_random_workloads() {
    let mut partner_seen = 0;
    for seed in 1..=4 {
        let dir = tempfile::tempdir().unwrap();
        let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
        let c = workload(seed, 40, Some(&a));
        assert_matches_recount(&a, &c.store);
        // Something of each kind happened, so the comparison covers them.
        let (_, (rows, partner, budget)) = a.kpis(&request(""), &Scope::All, &c.store).unwrap();
        let total = &rows[0];
        assert!(
            total.redeemed > 0 && total.rejected > 0 && total.allocated > 0,
            "{total:?}"
        );
        assert_eq!(total.issued, 60 + 1 + 40);
        partner_seen += partner.len();
        if seed == 4 {
            let (_, why) = a.rejections(&request(""), &Scope::All).unwrap();
            assert!(
                partner_seen > 0,
                "no partner redemptions in any workload: {why:?}"
            );
        }
        let spring = budget.iter().find(|b| b.pool == "spring").unwrap();
        assert_eq!((spring.used, spring.total_cap), (60, 1_000_000));
        assert_eq!(spring.burn.bp, Some(0));
        let summer = budget.iter().find(|b| b.pool == "summer").unwrap();
        assert_eq!(summer.kind, "shared_code");
        assert_eq!(summer.burn.den, 40);
    }
}

#[test]
fn reindex_gives_identical_results_and_refuses_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let live = Analytics::open(&dir.path().join("live.sqlite")).unwrap();
    let c = workload(7, 30, Some(&live));
    let db = c.dir.path().join("db");
    let rebuilt_path = dir.path().join("rebuilt.sqlite");
    let err = reindex(&db, &rebuilt_path).unwrap_err();
    assert!(matches!(err, AnalyticsError::NodeRunning(_)), "{err}");
    assert!(err.to_string().contains("stop the node"), "{err}");
    let tip = c.store.tip().unwrap().height;
    let Chain {
        store,
        dir: chain_dir,
        ..
    } = c;
    drop(store);
    let summary = reindex(&chain_dir.path().join("db"), &rebuilt_path).unwrap();
    assert_eq!(summary.height, tip);
    // Again over an existing file: dropped and rebuilt, same result.
    assert_eq!(
        reindex(&chain_dir.path().join("db"), &rebuilt_path).unwrap(),
        summary
    );
    let store = Store::open(&chain_dir.path().join("db")).unwrap();
    let rebuilt = Analytics::open(&rebuilt_path).unwrap();
    assert_eq!(rebuilt.position().unwrap(), live.position().unwrap());
    for (req, scope) in requests() {
        assert_eq!(
            rebuilt.kpis(&req, &scope, &store).unwrap(),
            live.kpis(&req, &scope, &store).unwrap()
        );
        assert_eq!(
            rebuilt.rejections(&req, &scope).unwrap(),
            live.rejections(&req, &scope).unwrap()
        );
        assert_eq!(
            rebuilt.redemptions(&req, &scope).unwrap(),
            live.redemptions(&req, &scope).unwrap()
        );
    }
    assert!(matches!(
        reindex(&chain_dir.path().join("nothing"), &rebuilt_path),
        Err(AnalyticsError::Invalid(_))
    ));
}

#[test]
fn ingesting_a_height_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let c = workload(3, 20, Some(&a));
    let events = all_events(&c.store);
    let before = a
        .kpis(
            &request("group_by=pool,store&period=hour"),
            &Scope::All,
            &c.store,
        )
        .unwrap();
    let listing = a.redemptions(&request(""), &Scope::All).unwrap();
    assert_eq!(a.ingest_events(&events, 0).unwrap(), 0, "everything again");
    let last = events.last().unwrap().height;
    let last_block: Vec<_> = events
        .iter()
        .filter(|e| e.height == last)
        .cloned()
        .collect();
    assert_eq!(
        a.ingest_events(&last_block, last).unwrap(),
        0,
        "the last height again"
    );
    assert_eq!(a.catch_up(&c.store).unwrap(), 0);
    assert_eq!(
        a.kpis(
            &request("group_by=pool,store&period=hour"),
            &Scope::All,
            &c.store
        )
        .unwrap(),
        before
    );
    assert_eq!(a.redemptions(&request(""), &Scope::All).unwrap(), listing);

    // Ingested in one go from scratch, height by height from scratch: the same store.
    let once = Analytics::open(&dir.path().join("once.sqlite")).unwrap();
    assert_eq!(
        once.ingest_events(&events, c.store.tip().unwrap().height)
            .unwrap(),
        events.len()
    );
    let stepwise = Analytics::open(&dir.path().join("steps.sqlite")).unwrap();
    for h in 0..=last {
        let block: Vec<_> = events.iter().filter(|e| e.height == h).cloned().collect();
        stepwise.ingest_events(&block, h).unwrap();
        stepwise.ingest_events(&block, h).unwrap();
    }
    for x in [&once, &stepwise] {
        assert_eq!(
            x.kpis(
                &request("group_by=pool,store&period=hour"),
                &Scope::All,
                &c.store
            )
            .unwrap()
            .1,
            before.1
        );
        assert_eq!(
            x.redemptions(&request(""), &Scope::All).unwrap().1,
            listing.1
        );
    }
}

#[test]
fn redemption_listings_page_in_log_order_and_mark_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let c = workload(5, 40, Some(&a));
    let events = all_events(&c.store);
    let redeemed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventType::CouponRedeemed)
        .collect();
    let (mut got, mut after) = (Vec::new(), String::new());
    loop {
        let q = if after.is_empty() {
            "limit=3".to_string()
        } else {
            format!("limit=3&after={after}")
        };
        let (_, page) = a.redemptions(&request(&q), &Scope::All).unwrap();
        let done = page.len() < 3;
        after = page.last().map(|r| r.id.clone()).unwrap_or_default();
        got.extend(page);
        if done {
            break;
        }
    }
    let ids: Vec<String> = redeemed.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(got.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
    let rolled: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.detail {
            EventDetail::Applied {
                event: Event::RolledBack { redemption, .. },
            } => Some(redemption.to_hex()),
            _ => None,
        })
        .collect();
    for r in &got {
        assert_eq!(
            r.rolled_back_height.is_some(),
            rolled.contains(&r.tx_id),
            "{r:?}"
        );
        assert_eq!(r.partner, r.org != r.signer_org);
    }
    // globex sees its pool's redemptions and those its terminal made on acme's pools.
    let (_, mine) = a
        .redemptions(&request(""), &Scope::Org("globex".into()))
        .unwrap();
    assert!(
        mine.iter()
            .all(|r| r.org == "globex" || r.signer_org == "globex")
    );
    assert_eq!(
        mine.len(),
        got.iter()
            .filter(|r| r.org == "globex" || r.signer_org == "globex")
            .count()
    );
}

#[test]
fn malformed_requests_are_refused_with_a_clear_message() {
    let parse = |q: &[(&str, &str)]| {
        let mut p = AnalyticsParams::default();
        for (k, v) in q {
            let v = Some(v.to_string());
            match *k {
                "from" => p.from = v,
                "to" => p.to = v,
                "group_by" => p.group_by = v,
                "period" => p.period = v,
                "limit" => p.limit = v,
                "after" => p.after = v,
                "pool" => p.pool = v,
                _ => unreachable!(),
            }
        }
        match Request::parse(&p) {
            Err(AnalyticsError::Invalid(m)) => m,
            other => panic!("{q:?} accepted: {other:?}"),
        }
    };
    assert!(parse(&[("from", "yesterday")]).contains("not a time"));
    assert!(parse(&[("from", "2026-12-01")]).contains("not a time"));
    assert!(parse(&[("from", "1767225600001")]).contains("whole hour"));
    assert!(parse(&[("from", "1767232800000"), ("to", "1767225600000")]).contains("empty range"));
    assert!(parse(&[("from", "1767225600000"), ("to", "1767225600000")]).contains("empty range"));
    assert!(parse(&[("to", "99999999999999999999")]).contains("not a time"));
    assert!(parse(&[("period", "fortnight")]).contains("unknown period"));
    assert!(parse(&[("group_by", "pool,colour")]).contains("unknown group-by \"colour\""));
    assert!(parse(&[("group_by", "pool,pool")]).contains("repeated"));
    assert!(parse(&[("limit", "0")]).contains("limit"));
    assert!(parse(&[("limit", "1001")]).contains("limit"));
    assert!(parse(&[("after", "evt_x")]).contains("malformed event id"));
    assert!(parse(&[("pool", "")]).contains("pool must be"));
    let ok = request("from=1767225600000&to=1767232800000&group_by=org,terminal&period=week");
    assert_eq!(ok.group_by, vec![Dim::Org, Dim::Terminal]);
    assert_eq!(ok.period, Period::Week);
}

#[test]
fn readers_see_their_org_and_auditors_everything() {
    let mut c = Chain::new();
    setup(&mut c);
    let reader = |org: &str, role: Role| Reader {
        key: testkit::public(99),
        record: KeyRecord {
            org: testkit::org(org),
            role,
            registered_at: 0,
            revoked_at: None,
        },
        node: None,
    };
    let scope = |r: &Reader, q: &str| super::http::scope_of(r, &request(q), &c.store);
    assert_eq!(
        scope(&reader("acme", Role::Auditor), "org=globex").unwrap(),
        Scope::All
    );
    assert_eq!(
        scope(&reader("acme", Role::Issuer), "").unwrap(),
        Scope::Org("acme".into())
    );
    assert_eq!(
        scope(&reader("acme", Role::OrgAdmin), "pool=spring").unwrap(),
        Scope::Org("acme".into())
    );
    // globex is a partner of spring, not of summer.
    assert!(scope(&reader("globex", Role::Issuer), "pool=spring").is_ok());
    let forbidden =
        |r: Result<Scope, AnalyticsError>| matches!(r, Err(AnalyticsError::Forbidden(_)));
    assert!(forbidden(scope(
        &reader("globex", Role::Issuer),
        "pool=summer"
    )));
    assert!(forbidden(scope(
        &reader("acme", Role::Issuer),
        "org=globex"
    )));
    assert!(forbidden(scope(
        &reader("acme", terminal("berlin-1", "pos")),
        ""
    )));
    assert!(forbidden(scope(&reader("acme", Role::Partner), "")));
}

#[test]
fn a_catch_up_never_commits_part_of_a_block() {
    // Pages of 2 events and batches of 3: blocks are held back until whole.
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let c = workload(11, 25, None);
    a.catch_up_with(&c.store, 2, 3).unwrap();
    let whole = Analytics::open(&dir.path().join("b.sqlite")).unwrap();
    whole.catch_up(&c.store).unwrap();
    assert_eq!(a.position().unwrap(), whole.position().unwrap());
    for (req, scope) in requests() {
        assert_eq!(
            a.kpis(&req, &scope, &c.store).unwrap(),
            whole.kpis(&req, &scope, &c.store).unwrap()
        );
    }
}

/// Before its first pass the store covers genesis, which has no stored header: the stamp is
/// the genesis tip's, not an internal error, even once blocks committed.
#[test]
fn a_store_that_ingested_nothing_is_stamped_at_genesis() {
    let c = workload(3, 4, None);
    let genesis = c.store.genesis_tip().unwrap().expect("recorded at init");
    assert_eq!(genesis.height, 0);
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let at = a.position().unwrap();
    assert_eq!(at.height, 0);
    assert!(c.store.tip().unwrap().height > 0);
    let stamp = super::http::stamp(&c.store, &at).unwrap();
    assert_eq!(stamp.height, 0);
    assert_eq!(stamp.block_hash, genesis.block_hash.to_string());
    assert_eq!(stamp.state_root, genesis.state_root.to_string());
    assert_eq!(stamp.time_ms, genesis.time_ms);
}

// ---- member activity: `member_days` against a recount from the events ------------------

type MemberKey = (String, String, i64, String, String, String);

/// `member_days` recounted from the events: redemptions by their member, day, pool and
/// store; a rollback subtracts its redemption from that redemption's row; allocations
/// (not repeats) count per pool.
fn recount_members(events: &[LedgerEvent]) -> BTreeMap<MemberKey, (i64, i64, i64)> {
    let day = |t: u64| (t / super::members::DAY_MS) as i64;
    let mut rows: BTreeMap<MemberKey, (i64, i64, i64)> = BTreeMap::new();
    let mut redemptions: BTreeMap<TxId, (MemberKey, i64, i64)> = BTreeMap::new();
    for e in events {
        let EventDetail::Applied { event } = &e.detail else {
            continue;
        };
        let key = |kind: &str, store: String| {
            (
                text(&e.org),
                text(&e.member),
                day(e.time_ms),
                kind.to_string(),
                text(&e.pool),
                store,
            )
        };
        match event {
            Event::Allocated { repeat: false, .. } => {
                rows.entry(key("allocated", String::new())).or_default().0 += 1;
            }
            Event::Redeemed {
                redemption,
                member: Some(_),
                ..
            } => {
                let a = e.amounts.as_ref().unwrap();
                let (g, d) = (
                    a.order_total_minor.unwrap() as i64,
                    a.discount_minor.unwrap() as i64,
                );
                let k = key("redeemed", text(&e.store));
                let r = rows.entry(k.clone()).or_default();
                *r = (r.0 + 1, r.1 + g, r.2 + d);
                redemptions.insert(*redemption, (k, g, d));
            }
            Event::RolledBack { redemption, .. } => {
                if let Some((k, g, d)) = redemptions.get(redemption) {
                    let r = rows.get_mut(k).unwrap();
                    *r = (r.0 - 1, r.1 - g, r.2 - d);
                }
            }
            _ => {}
        }
    }
    rows
}

fn member_rows(a: &Analytics) -> BTreeMap<MemberKey, (i64, i64, i64)> {
    let conn = a.reader();
    let mut stmt = conn
        .prepare("SELECT org, member, day, kind, pool, store, n, gross, discount FROM member_days")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            (
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ),
            (r.get(6)?, r.get(7)?, r.get(8)?),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn member_activity_equals_a_recount_with_rollbacks_subtracted_from_their_redemption() {
    let mut rolled_back = 0;
    for seed in 1..=4 {
        let dir = tempfile::tempdir().unwrap();
        let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
        let c = workload(seed, 40, Some(&a));
        let events = all_events(&c.store);
        rolled_back += events
            .iter()
            .filter(|e| e.kind == EventType::CouponRolledBack)
            .count();
        assert_eq!(member_rows(&a), recount_members(&events), "seed {seed}");
        // Read back per org: every member's days, each member whole.
        let data = a.member_data("acme").unwrap();
        assert_eq!(data.at, a.position().unwrap());
        assert!(!data.truncated && !data.members.is_empty() && !data.outcomes.is_empty());
        assert!(data.members.windows(2).all(|w| w[0] < w[1]));
        for o in &data.outcomes {
            assert!(o.redeemed_day.is_none_or(|r| r >= o.day), "{o:?}");
        }
    }
    assert!(rolled_back > 0, "no rollback in any workload");
}

/// acme's pool `spring` allocated to members 1 to 4; member 1 granted profiling, member 2
/// withdrew it, member 3 said nothing, member 4 granted it and was erased; globex recorded
/// a withdrawal for member 3 (another org's record: it does not count for acme).
fn consenting_chain(a: &Analytics) -> Chain {
    use couponcactus_chaincode::consent::{ConsentDecision, Purpose};
    use couponcactus_chaincode::tx::{RecordConsentTx, RecordErasureTx};
    let mut c = Chain::new();
    setup(&mut c);
    let (admin, issuer, globex) = (testkit::key(1), testkit::key(10), testkit::key(20));
    let consent = |m: u64, decision| {
        TxKind::RecordConsent(RecordConsentTx {
            member: testkit::member(m),
            purpose: Purpose::Profiling,
            decision,
            text_hash: Hash32([7; 32]),
        })
    };
    let allocate = |m: u64| {
        TxKind::Allocate(AllocateTx {
            pool: testkit::pool_id("spring"),
            member: testkit::member(m),
            claim: testkit::claim(m),
        })
    };
    c.block((1..=4).map(|m| (&issuer, allocate(m))).collect());
    c.block(vec![
        (&issuer, consent(1, ConsentDecision::Granted)),
        (&issuer, consent(2, ConsentDecision::Granted)),
        (&issuer, consent(4, ConsentDecision::Granted)),
        (&globex, consent(3, ConsentDecision::Withdrawn)),
    ]);
    c.block(vec![
        (&issuer, consent(2, ConsentDecision::Withdrawn)),
        (
            &admin,
            TxKind::RecordErasure(RecordErasureTx {
                member: testkit::member(4),
            }),
        ),
    ]);
    a.catch_up(&c.store).unwrap();
    c
}

fn members_of(a: &Analytics) -> Vec<String> {
    a.member_data("acme").unwrap().members
}

#[test]
fn intelligence_sees_only_members_the_org_may_profile() {
    use super::consent::ProfilingBasis;
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let chain = consenting_chain(&a);
    let hex = |m: u64| testkit::member(m).to_hex();
    // Legitimate interest (the default): everyone but the objector and the erased member.
    assert_eq!(a.profiling_basis(), ProfilingBasis::LegitimateInterest);
    let data = a.member_data("acme").unwrap();
    assert_eq!(data.members, vec![hex(1), hex(3)]);
    // The objector; the erased member's rows are purged by its receipt, so it is not even
    // counted.
    assert_eq!(data.not_profiled, 1);
    assert!(
        data.outcomes.iter().all(|o| o.member < 2),
        "{:?}",
        data.outcomes
    );
    // Consent: only those whose latest decision is a grant, never the erased one.
    a.set_profiling_basis(ProfilingBasis::Consent);
    let data = a.member_data("acme").unwrap();
    assert_eq!(data.members, vec![hex(1)]);
    assert_eq!(data.not_profiled, 2);
    // Segments follow: nobody left out shows up.
    let as_of = u32::try_from(chain.chain.time_ms / super::members::DAY_MS).unwrap();
    let segs = crate::intelligence::segments::compute(
        &data,
        as_of,
        &crate::intelligence::segments::SegmentConfig::default(),
    )
    .unwrap();
    let seen: Vec<&str> = segs.members.iter().map(|m| m.member.as_str()).collect();
    assert_eq!(seen, vec![hex(1).as_str()]);
    // A rebuilt store (the rows come from the chain's events) says the same.
    drop(a);
    let b = Analytics::open(&dir.path().join("b.sqlite")).unwrap();
    b.catch_up(&chain.store).unwrap();
    b.set_profiling_basis(ProfilingBasis::Consent);
    assert_eq!(members_of(&b), vec![hex(1)]);
}

#[test]
fn purging_a_member_removes_its_detail_rows_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let c = workload(5, 40, Some(&a));
    let (gone, kept) = (testkit::member(1), testkit::member(2));
    let kept_rows = a.member_rows(&kept).unwrap();
    assert!(
        a.member_rows(&gone).unwrap() > 0,
        "the workload touches member 1"
    );
    assert!(kept_rows > 0, "and member 2");
    let kpis = request("group_by=pool,store&period=hour");
    let before = a.kpis(&kpis, &Scope::All, &c.store).unwrap();
    let listing = a.redemptions(&request(""), &Scope::All).unwrap();

    let purged = a.purge_member(&gone).unwrap();
    assert!(purged > 0);
    assert_eq!(a.member_rows(&gone).unwrap(), 0);
    assert_eq!(
        a.member_rows(&kept).unwrap(),
        kept_rows,
        "other members untouched"
    );
    // The KPIs and the redemption listing keep every row (unlinked from the member).
    assert_eq!(a.kpis(&kpis, &Scope::All, &c.store).unwrap(), before);
    assert_eq!(
        a.redemptions(&request(""), &Scope::All).unwrap().1.len(),
        listing.1.len()
    );
    // Idempotent.
    assert_eq!(a.purge_member(&gone).unwrap(), 0);
}

#[test]
fn an_erasure_receipt_purges_the_members_rows_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let _chain = consenting_chain(&a);
    // Member 4 was allocated, then erased by acme: no day rows name it any more; member 1,
    // allocated alike, keeps its rows.
    assert_eq!(a.member_rows(&testkit::member(4)).unwrap(), 0);
    assert!(a.member_rows(&testkit::member(1)).unwrap() > 0);
}
