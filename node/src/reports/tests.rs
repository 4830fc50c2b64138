//! The finance report's figures on hand-made state: face values by basis, what is
//! outstanding per pool kind and status, the 30/60/90-day horizons, breakage learnt from
//! closed pools, the token limit, and the points liability with its expiry.

use super::coupons::liability_of;
use super::points::points_liability;
use crate::analytics::finance::PoolDiscount;
use crate::storage::{Store, cf};
use couponcactus_chaincode::ids::{CodeHash, MemberId, PoolId, TokenId, TxId};
use couponcactus_chaincode::loyalty::{
    Account, DAY_MS, Liability, Lot, LotId, ProgramRecord, Segment,
};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit;
use couponcactus_chaincode::types::{
    Discount, IssuedCode, PoolKind, PoolRecord, PoolStatus, SealedCode, TokenRecord, TokenStatus,
};
use std::collections::BTreeMap;

const NOW: u64 = 2_000 * DAY_MS;

fn put(store: &Store, key: StateKey, value: StateValue) {
    store
        .put_raw(cf::STATE, &key.to_bytes(), &value.to_bytes())
        .unwrap();
}

fn pool(
    id: &str,
    kind: PoolKind,
    status: PoolStatus,
    discount: &Discount,
    cap: Option<u64>,
    until: u64,
) -> PoolRecord {
    let mut spec = testkit::spec(kind);
    spec.discount = discount.clone();
    spec.max_discount_minor = cap;
    spec.valid_until_ms = until;
    PoolRecord {
        id: PoolId::new(id).unwrap(),
        owner: testkit::org("acme"),
        spec,
        status,
        created_at: 1,
        issued: 0,
        allocated: 0,
        redeemed: 0,
        next_free: 0,
        shared_code: None,
    }
}

/// Puts tokens of `pool` with these statuses, serials from 0.
fn tokens(store: &Store, pool: &mut PoolRecord, statuses: &[TokenStatus]) {
    for (serial, status) in statuses.iter().enumerate() {
        let id = TokenId {
            pool: pool.id.clone(),
            serial: serial as u64,
        };
        let held = !matches!(status, TokenStatus::Available);
        let record = TokenRecord {
            code_hash: CodeHash([serial as u8; 32]),
            sealed: SealedCode(vec![0; 8]),
            status: status.clone(),
            owner: held.then(|| testkit::member(serial as u64)),
            claim: None,
        };
        put(store, StateKey::Token(id), StateValue::Token(record));
    }
    pool.issued = statuses.len() as u64;
}

fn statuses(
    allocated: usize,
    redeemed: usize,
    available: usize,
    revoked: usize,
) -> Vec<TokenStatus> {
    let redeemed_status = TokenStatus::Redeemed {
        redemption: TxId([1; 32]),
    };
    let mut v = vec![TokenStatus::Allocated; allocated];
    v.extend(vec![redeemed_status; redeemed]);
    v.extend(vec![TokenStatus::Available; available]);
    v.extend(vec![TokenStatus::Revoked; revoked]);
    v
}

#[test]
fn coupon_liability_values_counts_and_horizons_per_pool_and_currency() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fixed = Discount::Fixed { amount_minor: 500 };
    let pct = Discount::Percent { bps: 1_000 };
    let mut pools = vec![
        // Ends in 20 days: 3 held × 5.00 = 15.00, in every horizon.
        pool(
            "fixed",
            PoolKind::UniqueCodes,
            PoolStatus::Active,
            &fixed,
            None,
            NOW + 20 * DAY_MS,
        ),
        // Ends in 45 days: 2 held × the 10.00 cap.
        pool(
            "capped",
            PoolKind::UniqueCodes,
            PoolStatus::Paused,
            &pct,
            Some(1_000),
            NOW + 45 * DAY_MS,
        ),
        // Ends in 200 days: 4 held × the 2.50 average of its redemptions.
        pool(
            "average",
            PoolKind::UniqueCodes,
            PoolStatus::Active,
            &pct,
            None,
            NOW + 200 * DAY_MS,
        ),
        // No cap, no history: unvalued.
        pool(
            "unknown",
            PoolKind::UniqueCodes,
            PoolStatus::Active,
            &pct,
            None,
            NOW + 200 * DAY_MS,
        ),
        // Closed: archived (2 of 8 allocated never redeemed) and ended (0 of 2).
        pool(
            "archived",
            PoolKind::UniqueCodes,
            PoolStatus::Archived,
            &fixed,
            None,
            NOW + DAY_MS,
        ),
        pool(
            "ended",
            PoolKind::UniqueCodes,
            PoolStatus::Active,
            &fixed,
            None,
            NOW,
        ),
        // A draft owes nothing and teaches nothing.
        pool(
            "draft",
            PoolKind::UniqueCodes,
            PoolStatus::Draft,
            &fixed,
            None,
            NOW + DAY_MS,
        ),
        // Shared code: 60 uses left of 100 × 2.00, ends in 80 days.
        pool(
            "shared",
            PoolKind::SharedCode,
            PoolStatus::Active,
            &Discount::Fixed { amount_minor: 200 },
            None,
            NOW + 80 * DAY_MS,
        ),
    ];
    let plan = [
        statuses(3, 2, 1, 1),
        statuses(2, 0, 0, 0),
        statuses(4, 3, 0, 0),
        statuses(1, 0, 0, 0),
        statuses(2, 6, 5, 0),
        statuses(0, 2, 0, 0),
        statuses(0, 0, 9, 0),
    ];
    for (p, s) in pools.iter_mut().zip(&plan) {
        tokens(&store, p, s);
    }
    let shared = pools.last_mut().unwrap();
    shared.spec.total_cap = 100;
    shared.redeemed = 40;
    shared.shared_code = Some(IssuedCode {
        code_hash: CodeHash([9; 32]),
        sealed: SealedCode(vec![1]),
    });
    let history = BTreeMap::from([(
        "average".to_string(),
        PoolDiscount {
            redemptions: 3,
            discount: 750,
        },
    )]);
    let r = liability_of(&store, &pools, NOW, &history, 1_000).unwrap();
    let row = |id: &str| r.pools.iter().find(|p| p.pool == id).unwrap().clone();
    let f = row("fixed");
    assert_eq!(
        (f.outstanding, f.available, f.redeemed, f.revoked),
        (3, 1, 2, 1)
    );
    assert_eq!(
        (f.face_value, f.face_basis.as_str(), f.liability),
        (Some(500), "fixed", 1_500)
    );
    assert_eq!(
        (row("capped").face_basis.as_str(), row("capped").liability),
        ("cap", 2_000)
    );
    assert_eq!(
        (row("average").face_value, row("average").liability),
        (Some(250), 1_000)
    );
    assert_eq!(
        (row("unknown").face_basis.as_str(), row("unknown").liability),
        ("unknown", 0)
    );
    assert!(!row("archived").open && !row("ended").open && !row("draft").open);
    assert_eq!(row("archived").liability, 0, "a closed pool owes nothing");
    assert_eq!(
        (row("shared").outstanding, row("shared").liability),
        (60, 12_000)
    );
    // Breakage: archived 2 of 8, ended 0 of 2: 2 of 10.
    assert_eq!(
        (
            r.breakage.closed_pools,
            r.breakage.allocated,
            r.breakage.unredeemed
        ),
        (2, 10, 2)
    );
    assert_eq!(r.breakage.rate.bp, Some(2_000));
    assert_eq!(r.totals.len(), 1);
    let t = &r.totals[0];
    assert_eq!(t.currency, "EUR");
    assert_eq!(t.liability, 1_500 + 2_000 + 1_000 + 12_000);
    assert_eq!(t.ending_within_30_days, 1_500);
    assert_eq!(t.ending_within_60_days, 3_500);
    assert_eq!(t.ending_within_90_days, 15_500);
    assert_eq!(t.unvalued_pools, 1);
    assert_eq!(t.estimated_breakage, Some(16_500 / 5));
    let scanned: usize = plan.iter().map(Vec::len).sum();
    assert_eq!((r.tokens_scanned, r.truncated), (scanned as u64, false));
}

#[test]
fn the_token_limit_truncates_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fixed = Discount::Fixed { amount_minor: 100 };
    let mut a = pool(
        "a",
        PoolKind::UniqueCodes,
        PoolStatus::Active,
        &fixed,
        None,
        NOW + DAY_MS,
    );
    let mut b = pool(
        "b",
        PoolKind::UniqueCodes,
        PoolStatus::Active,
        &fixed,
        None,
        NOW + DAY_MS,
    );
    tokens(&store, &mut a, &statuses(5, 0, 0, 0));
    tokens(&store, &mut b, &statuses(5, 0, 0, 0));
    let pools = [a, b];
    let r = liability_of(&store, &pools, NOW, &BTreeMap::new(), 7).unwrap();
    assert!(r.truncated);
    assert_eq!(r.tokens_scanned, 7);
    assert_eq!(r.totals[0].liability, 700, "5 of a, then 2 of b");
    let r = liability_of(&store, &pools, NOW, &BTreeMap::new(), 10).unwrap();
    assert!(!r.truncated, "exactly the limit: nothing left");
    assert_eq!(r.totals[0].liability, 1_000);
    // No closed pool: no rate to learn, no estimate.
    assert_eq!(r.breakage.rate.bp, None);
    assert_eq!(r.totals[0].estimated_breakage, None);
}

#[test]
fn points_liability_is_the_ledgers_record_with_expiry_from_the_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let acme = testkit::org("acme");
    assert_eq!(
        points_liability(&store, &acme, NOW, 100).unwrap(),
        None,
        "no program"
    );
    let spec = testkit::program_spec();
    let program = ProgramRecord {
        org: acme.clone(),
        spec,
        version: 3,
        updated_ms: 0,
    };
    put(
        &store,
        StateKey::Program(acme.clone()),
        StateValue::Program(program),
    );
    let liability = Liability {
        by_segment: BTreeMap::from([(Segment::Gift, 900), (Segment::Mileage, 40)]),
    };
    put(
        &store,
        StateKey::Liability(acme.clone()),
        StateValue::Liability(liability),
    );
    let lot = |i: u16, segment, remaining, expires: Option<u64>| Lot {
        id: LotId {
            source: TxId([i as u8; 32]),
            index: i,
        },
        segment,
        amount: remaining,
        remaining,
        earned_ms: NOW - DAY_MS,
        spendable_from_ms: NOW - DAY_MS,
        expires_ms: expires,
        credited_by: acme.clone(),
    };
    let account = Account {
        lots: [
            lot(0, Segment::Gift, 400, Some(NOW + 10 * DAY_MS)),
            lot(1, Segment::Gift, 500, Some(NOW + 75 * DAY_MS)),
            lot(2, Segment::Mileage, 40, Some(NOW - DAY_MS)),
        ]
        .into_iter()
        .map(|l| (l.id, l))
        .collect(),
        last_activity_ms: NOW,
        ..Account::default()
    };
    put(
        &store,
        StateKey::Account(acme.clone(), MemberId([1; 32])),
        StateValue::Account(account),
    );
    let p = points_liability(&store, &acme, NOW, 100).unwrap().unwrap();
    assert_eq!((p.version, p.accounts_scanned, p.truncated), (3, 1, false));
    let seg = |name: &str| {
        p.segments
            .iter()
            .find(|s| s.segment == name)
            .unwrap()
            .clone()
    };
    let gift = seg("gift");
    assert_eq!((gift.unit.as_str(), gift.outstanding), ("EUR", 900));
    assert_eq!(
        (
            gift.within_30_days,
            gift.within_60_days,
            gift.within_90_days
        ),
        (400, 400, 900)
    );
    let miles = seg("mileage");
    assert_eq!(
        (miles.unit.as_str(), miles.outstanding, miles.due),
        ("points", 40, 40)
    );
}

#[test]
fn privacy_counts_the_latest_decisions_of_known_members_and_lists_erasures() {
    use couponcactus_chaincode::consent::{ConsentRecord, ErasureRecord, Purpose};
    use couponcactus_chaincode::ids::Hash32;
    use couponcactus_chaincode::types::MemberRecord;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (acme, globex) = (testkit::org("acme"), testkit::org("globex"));
    for n in 1..=4 {
        let record = MemberRecord { first_seen: n };
        put(
            &store,
            StateKey::Member(acme.clone(), testkit::member(n)),
            StateValue::Member(record),
        );
    }
    let record = MemberRecord { first_seen: 1 };
    put(
        &store,
        StateKey::Member(globex.clone(), testkit::member(9)),
        StateValue::Member(record),
    );
    let decision = |granted| {
        StateValue::Consent(ConsentRecord {
            granted,
            text_hash: Hash32([1; 32]),
            at_ms: 5,
            height: 5,
        })
    };
    let consent = |org: &couponcactus_chaincode::ids::OrgId, n, p| {
        StateKey::Consent(org.clone(), testkit::member(n), p)
    };
    put(
        &store,
        consent(&acme, 1, Purpose::Marketing),
        decision(true),
    );
    put(
        &store,
        consent(&acme, 2, Purpose::Marketing),
        decision(true),
    );
    put(
        &store,
        consent(&acme, 3, Purpose::Marketing),
        decision(false),
    );
    put(
        &store,
        consent(&acme, 1, Purpose::PartnerSharing(globex.clone())),
        decision(true),
    );
    put(
        &store,
        consent(&globex, 9, Purpose::Marketing),
        decision(true),
    );
    let erased = StateValue::Erasure(ErasureRecord {
        at_ms: 7,
        height: 7,
    });
    put(
        &store,
        StateKey::Erasure(acme.clone(), testkit::member(4)),
        erased,
    );
    let p = super::privacy::privacy(&store, &acme, 100).unwrap();
    assert_eq!((p.known, p.truncated), (4, false), "acme's members only");
    let row = |name: &str| {
        p.consent
            .iter()
            .find(|c| c.purpose == name)
            .unwrap()
            .clone()
    };
    let m = row("marketing");
    assert_eq!((m.granted, m.withdrawn, m.no_record), (2, 1, 1));
    assert_eq!(m.coverage.bp, Some(5_000));
    let prof = row("profiling");
    assert_eq!(
        (prof.granted, prof.no_record),
        (0, 4),
        "listed with no decision"
    );
    assert_eq!(row("partner:globex").granted, 1);
    assert_eq!(p.erasures.len(), 1);
    assert_eq!(
        (p.erasures[0].height, p.erasures[0].member.clone()),
        (7, testkit::member(4).to_string())
    );
    let capped = super::privacy::privacy(&store, &acme, 2).unwrap();
    assert!(capped.truncated, "a scan at its limit says so");
}
