//! Holds and velocity limits through `execute_block` (issue 20): what a hold on a member,
//! a terminal or a code stops, who places, confirms and lifts one, and a pool's
//! redemptions per member, terminal and store in rolling windows. Every refusal changes
//! nothing (`TestChain::rejected` checks that).

use couponcactus_chaincode::commitment::MemTreeStore;
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{
    TestChain, claim, code_text, key, member, order, org, program_spec, public, spec,
};

const ACME: u8 = 1;
const GLOBEX: u8 = 2;
const ISSUER: u8 = 41;
/// Store `berlin-1`.
const POS: u8 = 42;
/// Store `berlin-1` too.
const POS2: u8 = 43;
/// Store `hamburg-1`.
const POS3: u8 = 44;
/// Acme's fraud engine.
const RISK: u8 = 45;
const GLOBEX_POS: u8 = 46;
const MINUTE: u64 = 60_000;

fn terminal(store: &str) -> Role {
    Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new("pos").unwrap(),
    }
}

/// Acme with pools `shared` (one shared code, 100 redemptions per member) and `unique`
/// (10 codes), its program, and keys of every role.
fn chain(velocity: Vec<VelocityLimit>) -> TestChain {
    let mut c = TestChain::new();
    c.register(&key(ACME), ISSUER, Role::Issuer);
    c.register(&key(ACME), POS, terminal("berlin-1"));
    c.register(&key(ACME), POS2, terminal("berlin-1"));
    c.register(&key(ACME), POS3, terminal("hamburg-1"));
    c.register(&key(ACME), RISK, Role::Risk);
    c.register(&key(GLOBEX), GLOBEX_POS, terminal("paris-1"));
    let shared = PoolSpec {
        per_member_cap: 100,
        velocity,
        ..spec(PoolKind::SharedCode)
    };
    c.pool(&key(ISSUER), "shared", shared, 1, true);
    c.pool(
        &key(ISSUER),
        "unique",
        spec(PoolKind::UniqueCodes),
        10,
        true,
    );
    c.applied(
        &key(ACME),
        TxKind::SetProgram(SetProgramTx {
            spec: program_spec(),
        }),
    );
    c
}

fn shared_code() -> CodeHash {
    code_hash(&code_text(&PoolId::new("shared").unwrap(), 0))
}

fn redeem_shared(m: u64) -> TxKind {
    TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Code(shared_code()),
        member: Some(member(m)),
        order: order(5_000),
    })
}

fn allocate(m: u64) -> TxKind {
    TxKind::Allocate(AllocateTx {
        pool: PoolId::new("unique").unwrap(),
        member: member(m),
        claim: claim(m),
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

fn place(target: HoldTarget, reason: HoldReason) -> TxKind {
    TxKind::PlaceHold(PlaceHoldTx {
        target,
        reason,
        note: "score 81: 14 redemptions in 3 minutes".into(),
    })
}

fn review(target: HoldTarget, decision: HoldDecision) -> TxKind {
    TxKind::ReviewHold(ReviewHoldTx {
        target,
        decision,
        note: "checked the receipts".into(),
    })
}

#[test]
fn a_hold_on_a_member_stops_them_until_it_is_lifted() {
    let mut c = chain(vec![]);
    let alice = HoldTarget::Member(member(1));
    // acme knows member 1 from an earn in its program.
    c.applied(&key(POS), earn(1, "o-0"));
    let events = c.applied(&key(ACME), place(alice.clone(), HoldReason::Leakage));
    assert_eq!(
        events,
        vec![Event::HoldPlaced {
            org: org("acme"),
            target: alice.clone(),
            reason: HoldReason::Leakage,
            pending_review: false,
        }]
    );
    for (seed, kind) in [
        (ISSUER, allocate(1)),
        (POS, redeem_shared(1)),
        (POS, earn(1, "o-1")),
    ] {
        assert_eq!(c.rejected(&key(seed), kind), RejectReason::OnHold);
    }
    // Another member is not stopped; another org's pools would not be either.
    c.applied(&key(POS), redeem_shared(2));
    // Another org never learns of the hold by trying: it is refused for what it is.
    assert_eq!(
        c.rejected(&key(GLOBEX_POS), earn(1, "o-2")),
        RejectReason::NotAuthorized
    );
    let empty = TxKind::PlaceHold(PlaceHoldTx {
        target: HoldTarget::Member(member(7)),
        reason: HoldReason::Other,
        note: " ".into(),
    });
    assert_eq!(c.rejected(&key(ACME), empty), RejectReason::InvalidInput);
    assert_eq!(
        c.rejected(&key(ACME), place(alice.clone(), HoldReason::Other)),
        RejectReason::AlreadyExists
    );
    let lifted = c.applied(&key(ACME), review(alice.clone(), HoldDecision::Lift));
    assert_eq!(
        lifted,
        vec![Event::HoldLifted {
            org: org("acme"),
            target: alice.clone(),
            reason: HoldReason::Leakage,
            was_pending: false,
        }]
    );
    c.applied(&key(ISSUER), allocate(1));
    c.applied(&key(POS), redeem_shared(1));
    assert_eq!(
        c.rejected(&key(ACME), review(alice, HoldDecision::Lift)),
        RejectReason::NotFound
    );
}

#[test]
fn the_fraud_engine_holds_pending_review_and_an_admin_decides() {
    let mut c = chain(vec![]);
    let bob = HoldTarget::Member(member(2));
    c.applied(&key(ISSUER), allocate(2));
    let events = c.applied(&key(RISK), place(bob.clone(), HoldReason::Bot));
    assert!(matches!(
        events[0],
        Event::HoldPlaced {
            pending_review: true,
            ..
        }
    ));
    // Pending review already stops.
    assert_eq!(
        c.rejected(&key(POS), redeem_shared(2)),
        RejectReason::OnHold
    );
    // Only an org admin of the org reviews; the engine and the issuer may not.
    for seed in [RISK, ISSUER, POS] {
        assert_eq!(
            c.rejected(&key(seed), review(bob.clone(), HoldDecision::Confirm)),
            RejectReason::NotAuthorized
        );
    }
    assert_eq!(
        c.rejected(&key(GLOBEX), review(bob.clone(), HoldDecision::Confirm)),
        RejectReason::NotFound,
        "globex holds nothing"
    );
    let confirmed = c.applied(&key(ACME), review(bob.clone(), HoldDecision::Confirm));
    assert_eq!(
        confirmed,
        vec![Event::HoldConfirmed {
            org: org("acme"),
            target: bob.clone(),
        }]
    );
    assert_eq!(
        c.rejected(&key(ACME), review(bob.clone(), HoldDecision::Confirm)),
        RejectReason::InvalidTransition
    );
    match c.state.0.get(&StateKey::Hold(org("acme"), bob)) {
        Some(StateValue::Hold(h)) => {
            assert_eq!(h.status, HoldStatus::Confirmed);
            assert_eq!(h.placed_by, public(RISK));
            assert_eq!(h.confirmed_by, Some(public(ACME)));
        }
        other => panic!("{other:?}"),
    }
    // Neither an issuer nor a terminal places holds; notes are bounded.
    for seed in [ISSUER, POS] {
        assert_eq!(
            c.rejected(
                &key(seed),
                place(HoldTarget::Member(member(3)), HoldReason::Other)
            ),
            RejectReason::NotAuthorized
        );
    }
    let long = TxKind::PlaceHold(PlaceHoldTx {
        target: HoldTarget::Member(member(3)),
        reason: HoldReason::Other,
        note: "x".repeat(281),
    });
    assert_eq!(c.rejected(&key(ACME), long), RejectReason::InvalidInput);
}

#[test]
fn a_held_terminal_signs_nothing_and_a_held_code_redeems_nowhere() {
    let mut c = chain(vec![]);
    c.applied(
        &key(ACME),
        place(HoldTarget::Terminal(public(POS)), HoldReason::Collusion),
    );
    assert_eq!(
        c.rejected(&key(POS), redeem_shared(1)),
        RejectReason::OnHold
    );
    assert_eq!(c.rejected(&key(POS), earn(1, "o-9")), RejectReason::OnHold);
    let quote = RedeemTx {
        target: RedeemTarget::Code(shared_code()),
        member: Some(member(1)),
        order: order(5_000),
    };
    let dry = quote_redemption(&c.state, &c.next_ctx(), &public(POS), &quote);
    assert!(
        matches!(&dry, Err(ExecError::Rejected(r)) if r.reason == RejectReason::OnHold),
        "{dry:?}"
    );
    c.applied(&key(POS2), redeem_shared(1));
    // Only the org's own terminals and codes: another org's, or unknown ones, are not
    // found (no org learns another's codes by trying).
    for target in [
        HoldTarget::Terminal(public(GLOBEX_POS)),
        HoldTarget::Terminal(public(ISSUER)),
        HoldTarget::Code(code_hash("NO-SUCH-CODE")),
    ] {
        assert_eq!(
            c.rejected(&key(ACME), place(target, HoldReason::Other)),
            RejectReason::NotFound
        );
    }
    assert_eq!(
        c.rejected(
            &key(GLOBEX),
            place(HoldTarget::Code(shared_code()), HoldReason::Canary)
        ),
        RejectReason::NotFound
    );
    // A code hold stops it by code and, for a unique code, by token too.
    c.applied(
        &key(ACME),
        place(HoldTarget::Code(shared_code()), HoldReason::Canary),
    );
    assert_eq!(
        c.rejected(&key(POS2), redeem_shared(3)),
        RejectReason::OnHold
    );
    let unique = PoolId::new("unique").unwrap();
    c.applied(&key(ISSUER), allocate(4));
    let held = code_hash(&code_text(&unique, 0));
    c.applied(
        &key(ACME),
        place(HoldTarget::Code(held), HoldReason::Leakage),
    );
    let by_token = TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Token(TokenId {
            pool: unique,
            serial: 0,
        }),
        member: Some(member(4)),
        order: order(5_000),
    });
    assert_eq!(c.rejected(&key(POS2), by_token), RejectReason::OnHold);
}

#[test]
fn velocity_limits_count_per_member_terminal_and_store_in_rolling_windows() {
    let limit = |per, max, window_ms| VelocityLimit {
        per,
        max,
        window_ms,
    };
    let mut c = chain(vec![
        limit(VelocityScope::Member, 2, 60 * MINUTE),
        limit(VelocityScope::Terminal, 3, MINUTE),
        limit(VelocityScope::Store, 4, MINUTE),
    ]);
    // Member 1: twice an hour.
    c.applied(&key(POS), redeem_shared(1));
    c.applied(&key(POS3), redeem_shared(1));
    assert_eq!(
        c.rejected(&key(POS3), redeem_shared(1)),
        RejectReason::VelocityExceeded
    );
    // Terminal POS: three a minute (POS has done one).
    c.advance(MINUTE);
    for m in [2, 3, 4] {
        c.applied(&key(POS), redeem_shared(m));
    }
    assert_eq!(
        c.rejected(&key(POS), redeem_shared(5)),
        RejectReason::VelocityExceeded
    );
    // Store berlin-1: four a minute, whichever terminal (POS2 stands there too).
    c.applied(&key(POS2), redeem_shared(5));
    assert_eq!(
        c.rejected(&key(POS2), redeem_shared(6)),
        RejectReason::VelocityExceeded
    );
    c.applied(&key(POS3), redeem_shared(6));
    // The windows roll: a minute on, berlin-1 redeems again; member 1 after the hour.
    c.advance(MINUTE);
    c.applied(&key(POS2), redeem_shared(7));
    assert_eq!(
        c.rejected(&key(POS2), redeem_shared(1)),
        RejectReason::VelocityExceeded
    );
    c.advance(60 * MINUTE);
    c.applied(&key(POS2), redeem_shared(1));
    // A counter keeps what its largest limit needs, no more.
    match c.state.0.get(&StateKey::Velocity(
        PoolId::new("shared").unwrap(),
        VelocityKey::Member(member(1)),
    )) {
        Some(StateValue::Velocity(times)) => assert!(times.len() <= 2, "{times:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_velocity_limits_are_refused() {
    let mut c = chain(vec![]);
    let bad = |velocity| {
        TxKind::CreatePool(CreatePoolTx {
            pool: PoolId::new("bad").unwrap(),
            spec: PoolSpec {
                velocity,
                ..spec(PoolKind::SharedCode)
            },
        })
    };
    for velocity in [
        vec![VelocityLimit {
            per: VelocityScope::Member,
            max: 0,
            window_ms: MINUTE,
        }],
        vec![VelocityLimit {
            per: VelocityScope::Store,
            max: 5,
            window_ms: 0,
        }],
    ] {
        assert_eq!(
            c.rejected(&key(ISSUER), bad(velocity)),
            RejectReason::InvalidInput
        );
    }
}

fn member_known(c: &TestChain, o: &str, m: u64) -> Option<MemberRecord> {
    match c.state.0.get(&StateKey::Member(org(o), member(m))) {
        None => None,
        Some(StateValue::Member(r)) => Some(r.clone()),
        Some(other) => panic!("{other:?}"),
    }
}

/// The rejection of `kind` signed by `key(seed)`, in a block that is not applied.
fn rejection(c: &mut TestChain, seed: u8, kind: TxKind) -> Rejection {
    let tx = c.sign(&key(seed), kind);
    let out = execute_block(&c.state, &c.next_ctx(), &[tx]).unwrap();
    match out.results.into_iter().next().unwrap().outcome {
        TxOutcome::Rejected { rejection } => rejection,
        other => panic!("{other:?}"),
    }
}

/// The state root of everything outside replay protection (which every tx, rejected or
/// not, writes).
fn root_outside_replay_protection(state: &MemState) -> Hash32 {
    let mut writes = WriteSet::default();
    for (k, v) in state.0.iter().filter(|(k, _)| !k.is_replay_protection()) {
        writes.put(k.clone(), v.clone());
    }
    MemTreeStore::new().commit(0, &writes).unwrap()
}

#[test]
fn a_hold_on_a_member_the_org_never_met_is_refused_and_changes_nothing() {
    let mut c = chain(vec![]);
    let stranger = HoldTarget::Member(member(5));
    let before = root_outside_replay_protection(&c.state);
    for seed in [ACME, RISK] {
        assert_eq!(
            c.rejected(&key(seed), place(stranger.clone(), HoldReason::Bot)),
            RejectReason::NotFound
        );
    }
    assert_eq!(
        root_outside_replay_protection(&c.state),
        before,
        "nothing changed"
    );
    assert!(
        !c.state
            .0
            .contains_key(&StateKey::Hold(org("acme"), stranger.clone()))
    );
    let r = rejection(&mut c, ACME, place(stranger.clone(), HoldReason::Bot));
    assert_eq!(r.reason, RejectReason::NotFound);
    assert_eq!(
        r.message,
        format!(
            "member {} is unknown to org acme: no coupon or balance of acme was ever theirs; \
             nothing was held",
            member(5).to_hex()
        )
    );
    // Once a coupon of acme's is allocated to them, acme knows them and may hold them.
    c.applied(&key(ISSUER), allocate(5));
    let seen = member_known(&c, "acme", 5).expect("registered by the allocation");
    assert_eq!(seen.first_seen, c.height);
    // Written once: later value of acme's leaves the first height.
    c.applied(&key(POS), earn(5, "o-5"));
    assert_eq!(member_known(&c, "acme", 5), Some(seen));
    c.applied(&key(ACME), place(stranger, HoldReason::Bot));
}

#[test]
fn a_member_known_through_the_program_alone_can_be_held() {
    let mut c = chain(vec![]);
    c.applied(&key(POS), earn(6, "o-6"));
    assert_eq!(
        member_known(&c, "acme", 6).map(|r| r.first_seen),
        Some(c.height)
    );
    c.applied(
        &key(RISK),
        place(HoldTarget::Member(member(6)), HoldReason::Velocity),
    );
    assert_eq!(c.rejected(&key(POS), earn(6, "o-7")), RejectReason::OnHold);
}

#[test]
fn a_member_an_org_knows_is_unknown_to_another_org() {
    let mut c = chain(vec![]);
    c.applied(&key(ISSUER), allocate(8));
    // A shared code's redemption naming a member makes them known to the pool's owner too.
    c.applied(&key(POS), redeem_shared(9));
    assert!(member_known(&c, "acme", 9).is_some());
    for m in [8, 9] {
        assert!(member_known(&c, "globex", m).is_none());
        let held = place(HoldTarget::Member(member(m)), HoldReason::Collusion);
        let r = rejection(&mut c, GLOBEX, held.clone());
        assert_eq!(r.reason, RejectReason::NotFound);
        assert!(r.message.contains("unknown to org globex"), "{}", r.message);
        c.applied(&key(ACME), held);
    }
}
