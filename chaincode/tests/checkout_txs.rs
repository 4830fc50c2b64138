//! The checkout tx through `execute_block` (issue 19): coupons in order, the stacking
//! rules, the balance spend and points on what is left, all or nothing; its void undoes
//! everything once; its coupons cannot be rolled back alone. Every refusal changes
//! nothing (`TestChain::rejected` checks that).

use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{
    TestChain, code_text, key, member, order, org, program_spec, spec,
};

const ACME: u8 = 1;
const ISSUER: u8 = 41;
/// Store `berlin-1`.
const POS: u8 = 42;
/// Store `hamburg-1`.
const POS2: u8 = 43;

/// Acme's program; pools `ten` (10 %, shared code), `five` (5 EUR off, unique codes,
/// group `food`), `food2` (3 EUR off, group `food`) and `solo` (20 %, not combinable with
/// a balance); member 1 holds 30.00 EUR of gift and 1,000 spendable points.
fn chain() -> TestChain {
    let mut c = TestChain::new();
    c.register(&key(ACME), ISSUER, Role::Issuer);
    for (seed, store) in [(POS, "berlin-1"), (POS2, "hamburg-1")] {
        c.register(
            &key(ACME),
            seed,
            Role::Terminal {
                store: StoreId::new(store).unwrap(),
                channel: Channel::new("pos").unwrap(),
            },
        );
    }
    let shared = spec(PoolKind::SharedCode);
    c.pool(&key(ISSUER), "ten", shared, 1, true);
    let fixed = |minor: u64, group: &str| PoolSpec {
        discount: Discount::Fixed {
            amount_minor: minor,
        },
        stacking_group: Some(group.into()),
        ..spec(PoolKind::UniqueCodes)
    };
    c.pool(&key(ISSUER), "five", fixed(500, "food"), 3, true);
    c.pool(&key(ISSUER), "food2", fixed(300, "food"), 3, true);
    let solo = PoolSpec {
        discount: Discount::Percent { bps: 2_000 },
        ..spec(PoolKind::UniqueCodes)
    };
    c.pool(&key(ISSUER), "solo", solo, 3, true);
    let mut program = program_spec();
    program.checkout.not_combinable_pools = vec![PoolId::new("solo").unwrap()];
    c.applied(
        &key(ACME),
        TxKind::SetProgram(SetProgramTx { spec: program }),
    );
    c.applied(
        &key(ISSUER),
        TxKind::Load(LoadTx {
            program: org("acme"),
            member: member(1),
            segment: Segment::Gift,
            amount: 3_000,
            reference: "card".into(),
        }),
    );
    c.applied(
        &key(ACME),
        TxKind::Adjust(AdjustTx {
            program: org("acme"),
            member: member(1),
            segment: Segment::Mileage,
            direction: Direction::Credit,
            amount: 1_000,
            reason: AdjustReason::Migration,
            note: "opening balance".into(),
        }),
    );
    c
}

fn code(pool: &str, i: u64) -> RedeemTarget {
    RedeemTarget::Code(code_hash(&code_text(&PoolId::new(pool).unwrap(), i)))
}

fn checkout(
    order_ref: &str,
    total: u64,
    coupons: Vec<RedeemTarget>,
    pay: Option<(Vec<Segment>, u64)>,
    earn: bool,
) -> TxKind {
    TxKind::Checkout(CheckoutTx {
        program: org("acme"),
        member: member(1),
        order_ref: order_ref.into(),
        order: order(total),
        coupons,
        pay: pay.map(|(segments, amount)| BalanceSpend { segments, amount }),
        earn,
    })
}

fn account(c: &TestChain) -> Account {
    match c.state.0.get(&StateKey::Account(org("acme"), member(1))) {
        Some(StateValue::Account(a)) => a.clone(),
        other => panic!("{other:?}"),
    }
}

fn summary(events: &[Event]) -> Event {
    events.last().expect("a summary").clone()
}

#[test]
fn coupons_then_the_balance_then_points_on_the_rest_in_one_tx() {
    let mut c = chain();
    // 100.00 EUR: 10 % (10.00), then 5.00, then 20.00 of gift; 65.00 left earns 65
    // points, doubled by the launch promotion.
    let tx = c.sign(
        &key(POS),
        checkout(
            "A-1",
            10_000,
            vec![code("ten", 0), code("five", 0)],
            Some((vec![Segment::Gift], 2_000)),
            true,
        ),
    );
    let id = tx.id();
    let events = c.execute(&[tx]).remove(0).outcome;
    let events = events.events().expect("applied").to_vec();
    assert_eq!(
        summary(&events),
        Event::CheckedOut {
            checkout: id,
            program: org("acme"),
            member: member(1),
            currency: Currency(*b"EUR"),
            total_minor: 10_000,
            discount_minor: 1_500,
            balance_minor: 2_000,
            net_minor: 6_500,
            points: 130,
        }
    );
    let redeemed: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Redeemed { discount_minor, .. } => Some(*discount_minor),
            _ => None,
        })
        .collect();
    assert_eq!(redeemed, vec![1_000, 500]);
    let balances = account(&c).balances();
    assert_eq!(balances[&Segment::Gift], 1_000);
    assert_eq!(balances[&Segment::Mileage], 1_130);
    // The order checked out: it neither checks out nor earns again.
    assert_eq!(
        c.rejected(
            &key(POS),
            checkout("A-1", 100, vec![], Some((vec![Segment::Gift], 1)), false)
        ),
        RejectReason::AlreadyEarned
    );
}

#[test]
fn the_stacking_rules_refuse_the_whole_checkout() {
    let mut c = chain();
    let same_group = checkout(
        "B-1",
        10_000,
        vec![code("five", 1), code("food2", 0)],
        None,
        true,
    );
    assert_eq!(
        c.rejected(&key(POS), same_group),
        RejectReason::StackingConflict
    );
    let solo_and_gift = checkout(
        "B-2",
        10_000,
        vec![code("solo", 0)],
        Some((vec![Segment::Gift], 100)),
        false,
    );
    assert_eq!(
        c.rejected(&key(POS), solo_and_gift),
        RejectReason::NotCombinable
    );
    // The program caps coupons at 50.00 per order: 20 % of 300.00 is 60.00, so 10 % of
    // it (30.00) fits and the next coupon adds 20.00 only; a third adds nothing.
    let capped = checkout(
        "B-3",
        30_000,
        vec![code("ten", 0), code("solo", 1), code("five", 2)],
        None,
        false,
    );
    assert_eq!(
        c.rejected(&key(POS), capped),
        RejectReason::DiscountCapReached
    );
    let capped = checkout(
        "B-4",
        30_000,
        vec![code("ten", 0), code("solo", 1)],
        None,
        false,
    );
    let events = c.applied(&key(POS), capped);
    assert!(matches!(
        summary(&events),
        Event::CheckedOut {
            discount_minor: 5_000,
            ..
        }
    ));
    // The balance may not pay more than the coupons leave.
    let over = checkout(
        "B-5",
        1_000,
        vec![code("five", 0)],
        Some((vec![Segment::Gift], 600)),
        false,
    );
    assert_eq!(c.rejected(&key(POS), over), RejectReason::Overpaid);
    // Nor more than the member holds; a used coupon refuses the checkout too.
    let broke = checkout(
        "B-6",
        10_000,
        vec![],
        Some((vec![Segment::Gift], 3_001)),
        false,
    );
    assert_eq!(
        c.rejected(&key(POS), broke),
        RejectReason::InsufficientBalance
    );
    let used = checkout("B-7", 10_000, vec![code("solo", 1)], None, false);
    assert_eq!(c.rejected(&key(POS), used), RejectReason::AlreadyRedeemed);
    let empty = checkout("B-8", 10_000, vec![], None, true);
    assert_eq!(c.rejected(&key(POS), empty), RejectReason::InvalidInput);
    let twice = checkout(
        "B-9",
        10_000,
        vec![code("five", 1), code("five", 1)],
        None,
        false,
    );
    assert_eq!(c.rejected(&key(POS), twice), RejectReason::InvalidInput);
    assert_eq!(
        c.rejected(
            &key(ISSUER),
            checkout("B-10", 10_000, vec![code("five", 1)], None, false)
        ),
        RejectReason::NotAuthorized
    );
}

#[test]
fn points_pay_at_the_programs_value() {
    let mut c = chain();
    // A point pays 0.01 EUR: 500 points pay 5.00.
    let events = c.applied(
        &key(POS),
        checkout(
            "P-1",
            2_000,
            vec![],
            Some((vec![Segment::Mileage], 500)),
            false,
        ),
    );
    assert!(matches!(
        summary(&events),
        Event::CheckedOut {
            balance_minor: 500,
            net_minor: 1_500,
            ..
        }
    ));
    assert_eq!(account(&c).balances()[&Segment::Mileage], 500);
    let mixed = checkout(
        "P-2",
        2_000,
        vec![],
        Some((vec![Segment::Gift, Segment::Mileage], 1)),
        false,
    );
    assert_eq!(c.rejected(&key(POS), mixed), RejectReason::InvalidInput);
}

#[test]
fn a_void_undoes_the_whole_checkout_once_and_its_coupons_never_alone() {
    let mut c = chain();
    let before_account = account(&c);
    let before_pools: Vec<PoolRecord> = ["ten", "five"]
        .iter()
        .map(|p| c.pool_record(&PoolId::new(*p).unwrap()))
        .collect();
    let tx = c.sign(
        &key(POS),
        checkout(
            "V-1",
            10_000,
            vec![code("ten", 0), code("five", 0)],
            Some((vec![Segment::Gift], 2_000)),
            true,
        ),
    );
    let id = tx.id();
    c.execute(&[tx]);
    let part = checkout_redemption_id(id, 1);
    assert_eq!(
        c.rejected(&key(POS), TxKind::Rollback(RollbackTx { redemption: part })),
        RejectReason::PartOfCheckout
    );
    assert_eq!(
        c.rejected(&key(POS2), TxKind::Void(VoidTx { tx: id })),
        RejectReason::NotAuthorized,
        "another store's terminal"
    );
    let events = c.applied(&key(POS), TxKind::Void(VoidTx { tx: id }));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::RolledBack { .. }))
            .count(),
        2
    );
    assert_eq!(
        summary(&events),
        Event::CheckoutVoided {
            checkout: id,
            program: org("acme"),
            member: member(1)
        }
    );
    let mut after = account(&c);
    after.last_activity_ms = before_account.last_activity_ms;
    after.earned_by_day.retain(|_, p| *p > 0);
    assert_eq!(after, before_account, "the account as before the checkout");
    for (p, before) in ["ten", "five"].iter().zip(&before_pools) {
        assert_eq!(
            c.pool_record(&PoolId::new(*p).unwrap()).redeemed,
            before.redeemed
        );
    }
    assert_eq!(
        c.rejected(&key(ACME), TxKind::Void(VoidTx { tx: id })),
        RejectReason::AlreadyVoided
    );
    // The coupons are usable again, in a new order.
    c.applied(
        &key(POS),
        checkout(
            "V-2",
            10_000,
            vec![code("ten", 0), code("five", 0)],
            None,
            false,
        ),
    );
}

#[test]
fn a_void_is_refused_once_the_points_it_earned_were_spent() {
    let mut c = chain();
    let mut program = program_spec();
    program.earn.pending_days = 0;
    c.applied(
        &key(ACME),
        TxKind::SetProgram(SetProgramTx { spec: program }),
    );
    let tx = c.sign(
        &key(POS),
        checkout("S-1", 10_000, vec![code("ten", 0)], None, true),
    );
    let id = tx.id();
    c.execute(&[tx]);
    // Spend everything: the 1,000 points first (older), then the checkout's 180.
    let all = account(&c).balances()[&Segment::Mileage];
    c.applied(
        &key(POS),
        TxKind::Spend(SpendTx {
            program: org("acme"),
            member: member(1),
            segments: vec![Segment::Mileage],
            amount: all,
            order_ref: "S-2".into(),
        }),
    );
    assert_eq!(
        c.rejected(&key(ACME), TxKind::Void(VoidTx { tx: id })),
        RejectReason::AlreadySpent
    );
}
