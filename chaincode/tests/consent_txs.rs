//! Consent records and erasure receipts through `execute_block` (issue 21): who records a
//! member's consent, what a pool's or a program's required purpose refuses without it
//! (`consent_required`), partner sharing per partner org, and what an erasure receipt
//! stops (`member_erased`). Every refusal changes nothing (`TestChain::rejected` checks
//! that).

use couponcactus_chaincode::events::EventType;
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{
    TestChain, claim, key, member, order, org, program_spec, spec,
};
use proptest::prelude::*;

const ACME: u8 = 1;
const GLOBEX: u8 = 2;
const ISSUER: u8 = 41;
const POS: u8 = 42;
const RISK: u8 = 45;
const PARTNER: u8 = 47;
const GLOBEX_ISSUER: u8 = 48;

fn terminal() -> Role {
    Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel::new("pos").unwrap(),
    }
}

fn text_hash(version: u8) -> Hash32 {
    Hash32(*blake3::hash(&[b'v', version]).as_bytes())
}

/// Acme with keys of every role, pool `unique` (10 codes, up to 10 per member) requiring
/// `requires`, and its program requiring `program_requires`.
fn chain(requires: Option<Purpose>, program_requires: Option<Purpose>) -> TestChain {
    let mut c = TestChain::new();
    c.register(&key(ACME), ISSUER, Role::Issuer);
    c.register(&key(ACME), POS, terminal());
    c.register(&key(ACME), RISK, Role::Risk);
    c.register(&key(ACME), PARTNER, Role::Partner);
    c.register(&key(GLOBEX), GLOBEX_ISSUER, Role::Issuer);
    let pool = PoolSpec {
        per_member_cap: 10,
        requires_consent: requires,
        ..spec(PoolKind::UniqueCodes)
    };
    c.pool(&key(ISSUER), "unique", pool, 10, true);
    let program = ProgramSpec {
        requires_consent: program_requires,
        ..program_spec()
    };
    c.applied(
        &key(ACME),
        TxKind::SetProgram(SetProgramTx { spec: program }),
    );
    c
}

fn consent(m: u64, purpose: Purpose, decision: ConsentDecision) -> TxKind {
    TxKind::RecordConsent(RecordConsentTx {
        member: member(m),
        purpose,
        decision,
        text_hash: text_hash(1),
    })
}

fn grant(m: u64, purpose: Purpose) -> TxKind {
    consent(m, purpose, ConsentDecision::Granted)
}

fn withdraw(m: u64, purpose: Purpose) -> TxKind {
    consent(m, purpose, ConsentDecision::Withdrawn)
}

fn erase(m: u64) -> TxKind {
    TxKind::RecordErasure(RecordErasureTx { member: member(m) })
}

/// An allocation of pool `unique` to member `m` with claim key `n`.
fn allocate(m: u64, n: u64) -> TxKind {
    TxKind::Allocate(AllocateTx {
        pool: PoolId::new("unique").unwrap(),
        member: member(m),
        claim: claim(n),
    })
}

fn earn(m: u64, order_ref: &str) -> TxKind {
    TxKind::Earn(EarnTx {
        program: org("acme"),
        member: member(m),
        order_ref: order_ref.into(),
        order: order(5_000),
    })
}

fn load(m: u64) -> TxKind {
    TxKind::Load(LoadTx {
        program: org("acme"),
        member: member(m),
        segment: Segment::Gift,
        amount: 1_000,
        reference: "gift-1".into(),
    })
}

fn review(m: u64, reference: &str) -> TxKind {
    TxKind::Engage(EngageTx {
        program: org("acme"),
        member: member(m),
        action: "review".into(),
        reference: reference.into(),
        referred: None,
    })
}

fn partner(name: &str) -> Purpose {
    Purpose::PartnerSharing(org(name))
}

fn consent_record(c: &TestChain, o: &str, m: u64, p: Purpose) -> Option<ConsentRecord> {
    match c.state.0.get(&StateKey::Consent(org(o), member(m), p)) {
        None => None,
        Some(StateValue::Consent(r)) => Some(r.clone()),
        Some(other) => panic!("{other:?}"),
    }
}

fn token_of(events: &[Event]) -> TokenId {
    match &events[0] {
        Event::Allocated { token, .. } => token.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn allocation_needs_the_pools_consent_and_stops_again_on_withdrawal() {
    let mut c = chain(Some(Purpose::Marketing), None);
    assert_eq!(
        c.rejected(&key(ISSUER), allocate(1, 1)),
        RejectReason::ConsentRequired
    );
    // Consent captured at the till.
    let events = c.applied(&key(POS), grant(1, Purpose::Marketing));
    assert_eq!(
        events,
        vec![Event::ConsentRecorded {
            org: org("acme"),
            member: member(1),
            purpose: Purpose::Marketing,
            decision: ConsentDecision::Granted,
            text_hash: text_hash(1),
        }]
    );
    assert_eq!(
        EventType::of(&events[0]).name(),
        "consent.granted",
        "{events:?}"
    );
    let record = consent_record(&c, "acme", 1, Purpose::Marketing).unwrap();
    assert!(record.granted);
    assert_eq!((record.height, record.at_ms), (c.height, c.time_ms));
    let token = token_of(&c.applied(&key(ISSUER), allocate(1, 1)));
    // Another member's grant does not count for member 2; profiling is not marketing.
    c.applied(&key(ISSUER), grant(2, Purpose::Profiling));
    assert_eq!(
        c.rejected(&key(ISSUER), allocate(2, 2)),
        RejectReason::ConsentRequired
    );

    let events = c.applied(&key(ACME), withdraw(1, Purpose::Marketing));
    assert_eq!(EventType::of(&events[0]).name(), "consent.withdrawn");
    assert!(
        !consent_record(&c, "acme", 1, Purpose::Marketing)
            .unwrap()
            .granted
    );
    assert_eq!(
        c.rejected(&key(ISSUER), allocate(1, 3)),
        RejectReason::ConsentRequired
    );
    // The same claim key still answers with the token given while consent stood.
    let repeat = c.applied(&key(ISSUER), allocate(1, 1));
    assert!(matches!(repeat[0], Event::Allocated { repeat: true, .. }));
    // The coupon the member holds still redeems: withdrawal stops new processing only.
    let redeemed = c.applied(
        &key(POS),
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Token(token),
            member: Some(member(1)),
            order: order(5_000),
        }),
    );
    assert!(matches!(redeemed[0], Event::Redeemed { .. }));
    // Granted again (a new text version): allocated again.
    c.applied(&key(ISSUER), grant(1, Purpose::Marketing));
    c.applied(&key(ISSUER), allocate(1, 4));
}

#[test]
fn a_transfer_to_a_member_needs_their_consent() {
    let mut c = chain(Some(Purpose::Marketing), None);
    // Pool `unique` is not transferable; make a transferable one with the requirement.
    let pool = PoolSpec {
        transferable: true,
        requires_consent: Some(Purpose::Marketing),
        ..spec(PoolKind::UniqueCodes)
    };
    let id = c.pool(&key(ISSUER), "gifts", pool, 2, true);
    c.applied(&key(ISSUER), grant(1, Purpose::Marketing));
    let events = c.applied(
        &key(ISSUER),
        TxKind::Allocate(AllocateTx {
            pool: id.clone(),
            member: member(1),
            claim: claim(1),
        }),
    );
    let token = token_of(&events);
    let transfer = |to: u64| {
        TxKind::TransferToken(TransferTokenTx {
            token: token.clone(),
            from: member(1),
            to: member(to),
        })
    };
    assert_eq!(
        c.rejected(&key(ISSUER), transfer(2)),
        RejectReason::ConsentRequired
    );
    c.applied(&key(ISSUER), grant(2, Purpose::Marketing));
    c.applied(&key(ISSUER), transfer(2));
}

#[test]
fn partner_sharing_is_consented_per_partner_org() {
    let mut c = chain(Some(partner("globex")), None);
    c.applied(&key(ISSUER), grant(1, partner("initech")));
    assert_eq!(
        c.rejected(&key(ISSUER), allocate(1, 1)),
        RejectReason::ConsentRequired
    );
    // Globex's own records do not count for acme's pool: acme shares, acme records.
    c.applied(&key(GLOBEX_ISSUER), grant(1, partner("acme")));
    c.applied(&key(GLOBEX_ISSUER), grant(1, Purpose::Marketing));
    assert_eq!(
        c.rejected(&key(ISSUER), allocate(1, 1)),
        RejectReason::ConsentRequired
    );
    c.applied(&key(ISSUER), grant(1, partner("globex")));
    c.applied(&key(ISSUER), allocate(1, 1));
    c.applied(&key(POS), withdraw(1, partner("globex")));
    assert_eq!(
        c.rejected(&key(ISSUER), allocate(1, 2)),
        RejectReason::ConsentRequired
    );
}

#[test]
fn only_an_orgs_staff_and_terminals_record_well_formed_consent() {
    let mut c = chain(None, None);
    for seed in [RISK, PARTNER] {
        assert_eq!(
            c.rejected(&key(seed), grant(1, Purpose::Marketing)),
            RejectReason::NotAuthorized,
            "seed {seed}"
        );
    }
    let auditor = c.register_auditor("initech", 60);
    assert_eq!(
        c.rejected(&auditor, grant(1, Purpose::Marketing)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(ISSUER), grant(1, partner("acme"))),
        RejectReason::InvalidInput,
        "an org does not share with itself"
    );
    assert_eq!(
        c.rejected(&key(ISSUER), grant(1, partner("nobody"))),
        RejectReason::NotFound
    );
    assert_eq!(
        c.rejected(
            &key(ISSUER),
            grant(1, Purpose::PartnerSharing(OrgId("Bad Org".into())))
        ),
        RejectReason::InvalidInput
    );
    let zeros = TxKind::RecordConsent(RecordConsentTx {
        member: member(1),
        purpose: Purpose::Marketing,
        decision: ConsentDecision::Granted,
        text_hash: Hash32([0; 32]),
    });
    assert_eq!(c.rejected(&key(ISSUER), zeros), RejectReason::InvalidInput);
    // A withdrawal with no grant before is recorded (an objection).
    c.applied(&key(ISSUER), withdraw(3, Purpose::Profiling));
    assert!(
        !consent_record(&c, "acme", 3, Purpose::Profiling)
            .unwrap()
            .granted
    );
}

#[test]
fn specs_name_an_existing_other_org_for_partner_sharing() {
    let mut c = chain(None, None);
    for (purpose, reason) in [
        (partner("acme"), RejectReason::InvalidInput),
        (partner("nobody"), RejectReason::NotFound),
        (
            Purpose::PartnerSharing(OrgId("No Slug".into())),
            RejectReason::InvalidInput,
        ),
    ] {
        let pool = PoolSpec {
            requires_consent: Some(purpose.clone()),
            ..spec(PoolKind::UniqueCodes)
        };
        let create = TxKind::CreatePool(CreatePoolTx {
            pool: PoolId::new("p2").unwrap(),
            spec: pool,
        });
        assert_eq!(c.rejected(&key(ISSUER), create), reason, "{purpose:?}");
        let program = ProgramSpec {
            requires_consent: Some(purpose.clone()),
            ..program_spec()
        };
        let set = TxKind::SetProgram(SetProgramTx { spec: program });
        assert_eq!(c.rejected(&key(ACME), set), reason, "{purpose:?}");
    }
}

#[test]
fn a_program_requiring_consent_refuses_earning_loading_and_engagement_without_it() {
    let mut c = chain(None, Some(Purpose::Profiling));
    for kind in [earn(1, "o-1"), load(1), review(1, "r-1")] {
        assert_eq!(
            c.rejected(&key(POS), kind.clone()),
            RejectReason::ConsentRequired,
            "{kind:?}"
        );
    }
    c.applied(&key(POS), grant(1, Purpose::Profiling));
    c.applied(&key(POS), earn(1, "o-1"));
    c.applied(&key(POS), load(1));
    c.applied(&key(ISSUER), review(1, "r-1"));
    c.applied(&key(POS), withdraw(1, Purpose::Profiling));
    assert_eq!(
        c.rejected(&key(POS), earn(1, "o-2")),
        RejectReason::ConsentRequired
    );
    // A checkout that earns is refused; one that does not earn only spends: allowed.
    let checkout = |earn: bool, order_ref: &str| {
        TxKind::Checkout(CheckoutTx {
            program: org("acme"),
            member: member(1),
            order_ref: order_ref.into(),
            order: order(5_000),
            coupons: vec![],
            pay: Some(BalanceSpend {
                segments: vec![Segment::Gift],
                amount: 100,
            }),
            earn,
        })
    };
    assert_eq!(
        c.rejected(&key(POS), checkout(true, "o-3")),
        RejectReason::ConsentRequired
    );
    c.applied(&key(POS), checkout(false, "o-3"));
    // What the member holds they still spend.
    c.applied(
        &key(POS),
        TxKind::Spend(SpendTx {
            program: org("acme"),
            member: member(1),
            segments: vec![Segment::Gift],
            amount: 100,
            order_ref: "o-4".into(),
        }),
    );
}

#[test]
fn only_an_org_admin_records_an_erasure_once_and_it_stops_new_value() {
    let mut c = chain(None, None);
    c.applied(&key(ISSUER), allocate(1, 1));
    for seed in [ISSUER, POS, RISK] {
        assert_eq!(
            c.rejected(&key(seed), erase(1)),
            RejectReason::NotAuthorized,
            "seed {seed}"
        );
    }
    let events = c.applied(&key(ACME), erase(1));
    assert_eq!(
        events,
        vec![Event::MemberErased {
            org: org("acme"),
            member: member(1),
        }]
    );
    assert_eq!(EventType::of(&events[0]).name(), "member.erased");
    match c.state.0.get(&StateKey::Erasure(org("acme"), member(1))) {
        Some(StateValue::Erasure(r)) => assert_eq!((r.height, r.at_ms), (c.height, c.time_ms)),
        other => panic!("{other:?}"),
    }
    for (seed, kind) in [
        (ISSUER, allocate(1, 2)),
        (POS, earn(1, "o-1")),
        (POS, load(1)),
        (ISSUER, review(1, "r-1")),
        (POS, grant(1, Purpose::Marketing)),
        (ACME, erase(1)),
    ] {
        assert_eq!(
            c.rejected(&key(seed), kind.clone()),
            RejectReason::MemberErased,
            "{kind:?}"
        );
    }
    // What is on the ledger stays: the allocation is still there, another member is
    // unaffected, and another org's records of the same id are its own.
    assert_eq!(
        c.token(&TokenId {
            pool: PoolId::new("unique").unwrap(),
            serial: 0
        })
        .owner,
        Some(member(1))
    );
    c.applied(&key(ISSUER), allocate(2, 2));
    c.applied(&key(GLOBEX_ISSUER), grant(1, Purpose::Marketing));
}

#[derive(Clone, Debug)]
enum Op {
    Grant(u64),
    Withdraw(u64),
    Allocate(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3u64).prop_map(Op::Grant),
        (0..3u64).prop_map(Op::Withdraw),
        (0..3u64).prop_map(Op::Allocate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Against a model: an allocation applies exactly when the member's latest decision
    /// is a grant (the pool has tokens and caps to spare), and is refused with
    /// `consent_required` otherwise.
    #[test]
    fn allocation_follows_the_latest_decision(ops in proptest::collection::vec(op(), 1..24)) {
        let mut c = chain(Some(Purpose::Marketing), None);
        let mut latest = [None::<bool>; 3];
        let mut allocated = 0u64;
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Grant(m) => {
                    c.applied(&key(ISSUER), grant(m, Purpose::Marketing));
                    latest[m as usize] = Some(true);
                }
                Op::Withdraw(m) => {
                    c.applied(&key(POS), withdraw(m, Purpose::Marketing));
                    latest[m as usize] = Some(false);
                }
                Op::Allocate(m) => {
                    let kind = allocate(m, 100 + i as u64);
                    if latest[m as usize] == Some(true) && allocated < 10 {
                        c.applied(&key(ISSUER), kind);
                        allocated += 1;
                    } else if latest[m as usize] != Some(true) {
                        prop_assert_eq!(c.rejected(&key(ISSUER), kind), RejectReason::ConsentRequired);
                    }
                }
            }
        }
    }
}
