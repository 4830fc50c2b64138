//! The loyalty balance txs through `execute_block` (issue 19): load, earn, spend, void,
//! adjust with maker-checker, transfer, expiry and tiers; each refusal changes nothing
//! (`TestChain::rejected` checks that), and after every block the org's liability equals
//! the sum of its members' balances, each the sum of its lots.

use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{
    GENESIS_MS, TestChain, key, member, order, org, program_spec,
};

/// Genesis org admins.
const ACME: u8 = 1;
const GLOBEX: u8 = 2;
const INITECH: u8 = 3;
/// Registered by [`chain`].
const ACME_ADMIN2: u8 = 40;
const ACME_ISSUER: u8 = 41;
/// Store `berlin-1`.
const ACME_POS: u8 = 42;
/// Store `hamburg-1`.
const ACME_POS2: u8 = 43;
/// Store `paris-1` (globex is acme's partner).
const GLOBEX_POS: u8 = 44;
/// Store `rome-1` (initech is not).
const INITECH_POS: u8 = 45;

const DAY_MS: u64 = 86_400_000;

fn terminal(store: &str) -> Role {
    Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new("pos").unwrap(),
    }
}

/// Acme runs [`program_spec`] with globex as partner; keys of every role.
fn chain() -> TestChain {
    let mut c = TestChain::new();
    c.register(&key(ACME), ACME_ADMIN2, Role::OrgAdmin);
    c.register(&key(ACME), ACME_ISSUER, Role::Issuer);
    c.register(&key(ACME), ACME_POS, terminal("berlin-1"));
    c.register(&key(ACME), ACME_POS2, terminal("hamburg-1"));
    c.register(&key(GLOBEX), GLOBEX_POS, terminal("paris-1"));
    c.register(&key(INITECH), INITECH_POS, terminal("rome-1"));
    let mut spec = program_spec();
    spec.partner_orgs = vec![org("globex")];
    c.applied(&key(ACME), TxKind::SetProgram(SetProgramTx { spec }));
    c
}

fn acme() -> OrgId {
    org("acme")
}

fn earn(m: u64, order_ref: &str, total_minor: u64) -> TxKind {
    TxKind::Earn(EarnTx {
        program: acme(),
        member: member(m),
        order_ref: order_ref.into(),
        order: order(total_minor),
    })
}

fn load(m: u64, segment: Segment, amount: u64) -> TxKind {
    TxKind::Load(LoadTx {
        program: acme(),
        member: member(m),
        segment,
        amount,
        reference: "pay-1".into(),
    })
}

fn spend(m: u64, segments: &[Segment], amount: u64) -> TxKind {
    TxKind::Spend(SpendTx {
        program: acme(),
        member: member(m),
        segments: segments.to_vec(),
        amount,
        order_ref: "order-9".into(),
    })
}

fn void(tx: TxId) -> TxKind {
    TxKind::Void(VoidTx { tx })
}

fn adjust(m: u64, direction: Direction, amount: u64) -> TxKind {
    TxKind::Adjust(AdjustTx {
        program: acme(),
        member: member(m),
        segment: Segment::Mileage,
        direction,
        amount,
        reason: AdjustReason::Goodwill,
        note: "late delivery".into(),
    })
}

fn decide(adjustment: TxId, approve: bool) -> TxKind {
    TxKind::DecideAdjustment(DecideAdjustmentTx {
        adjustment,
        approve,
    })
}

/// Signs, executes alone and returns the tx's id with its events (panics unless applied).
#[track_caller]
fn run(c: &mut TestChain, seed: u8, kind: TxKind) -> (TxId, Vec<Event>) {
    let tx = c.sign(&key(seed), kind);
    let id = tx.id();
    let result = c.execute(&[tx]).remove(0);
    match result.outcome {
        TxOutcome::Applied { events } => {
            check_books(c);
            (id, events)
        }
        TxOutcome::Rejected { rejection } => panic!("expected applied, got {rejection}"),
    }
}

fn account(c: &TestChain, m: u64) -> Account {
    match c.state.0.get(&StateKey::Account(acme(), member(m))) {
        Some(StateValue::Account(a)) => a.clone(),
        None => Account::default(),
        other => panic!("{other:?}"),
    }
}

fn balance(c: &TestChain, m: u64, segment: Segment) -> u64 {
    account(c, m).balances().get(&segment).copied().unwrap_or(0)
}

fn liability(c: &TestChain) -> Liability {
    match c.state.0.get(&StateKey::Liability(acme())) {
        Some(StateValue::Liability(l)) => l.clone(),
        None => Liability::default(),
        other => panic!("{other:?}"),
    }
}

/// Every account's lots sum to its balances, none is empty, and each program's liability
/// is the sum of its accounts.
#[track_caller]
fn check_books(c: &TestChain) {
    let mut sums: std::collections::BTreeMap<OrgId, Liability> = Default::default();
    for (k, v) in &c.state.0 {
        if let (StateKey::Account(program, _), StateValue::Account(a)) = (k, v) {
            let entry = sums.entry(program.clone()).or_default();
            for lot in a.lots.values() {
                assert!(lot.remaining > 0 && lot.remaining <= lot.amount, "{lot:?}");
                *entry.by_segment.entry(lot.segment).or_default() += lot.remaining;
            }
        }
    }
    for (k, v) in &c.state.0 {
        if let (StateKey::Liability(program), StateValue::Liability(l)) = (k, v) {
            assert_eq!(
                sums.remove(program).unwrap_or_default(),
                *l,
                "{program}: liability is the sum of balances"
            );
        }
    }
    assert!(
        sums.values().all(|l| l.by_segment.is_empty()),
        "balances without a liability record: {sums:?}"
    );
}

fn balance_event(m: u64, op: BalanceOp, segment: Segment, credit: bool, amount: u64) -> Event {
    Event::BalanceChanged {
        program: acme(),
        member: member(m),
        op,
        segment,
        credit,
        amount,
    }
}

#[test]
fn an_order_earns_pending_points_once_and_they_become_spendable() {
    let mut c = chain();
    // 100.00 EUR at a point per euro, doubled by the launch promotion.
    let (earn_id, events) = run(&mut c, ACME_POS, earn(1, "order-1", 10_000));
    assert_eq!(
        events,
        vec![balance_event(
            1,
            BalanceOp::Earned,
            Segment::Mileage,
            true,
            200
        )]
    );
    assert_eq!(balance(&c, 1, Segment::Mileage), 200);
    assert_eq!(liability(&c).by_segment[&Segment::Mileage], 200);
    // Once per order, from any terminal of the org.
    assert_eq!(
        c.rejected(&key(ACME_POS2), earn(1, "order-1", 10_000)),
        RejectReason::AlreadyEarned
    );
    // Pending for 14 days: not spendable, then spendable.
    assert_eq!(
        c.rejected(&key(ACME_POS), spend(1, &[Segment::Mileage], 1)),
        RejectReason::InsufficientBalance
    );
    c.advance(14 * DAY_MS);
    run(&mut c, ACME_POS, spend(1, &[Segment::Mileage], 150));
    assert_eq!(balance(&c, 1, Segment::Mileage), 50);
    let movement = match c.state.0.get(&StateKey::Movement(earn_id)) {
        Some(StateValue::Movement(m)) => m.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        movement.kind,
        MovementKind::Earn { points: 200, .. }
    ));
}

#[test]
fn earning_is_refused_to_the_wrong_signer_currency_or_amount() {
    let mut c = chain();
    // Not a partner; not a terminal.
    assert_eq!(
        c.rejected(&key(INITECH_POS), earn(1, "o-1", 10_000)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), earn(1, "o-1", 10_000)),
        RejectReason::NotAuthorized
    );
    let mut usd = order(10_000);
    usd.currency = Currency(*b"USD");
    let kind = TxKind::Earn(EarnTx {
        program: acme(),
        member: member(1),
        order_ref: "o-2".into(),
        order: usd,
    });
    assert_eq!(
        c.rejected(&key(ACME_POS), kind),
        RejectReason::CurrencyMismatch
    );
    // 10,000 points cap per tx: 6,000 EUR would earn 12,000 with the promotion.
    assert_eq!(
        c.rejected(&key(ACME_POS), earn(1, "o-3", 600_000)),
        RejectReason::PerTxCapExceeded
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), earn(1, "has space", 100)),
        RejectReason::InvalidInput
    );
    // No program.
    let kind = TxKind::Earn(EarnTx {
        program: org("globex"),
        member: member(1),
        order_ref: "o-4".into(),
        order: order(100),
    });
    assert_eq!(c.rejected(&key(GLOBEX_POS), kind), RejectReason::NotFound);
    // The order ref is free again for a tx that is not refused.
    run(&mut c, ACME_POS, earn(1, "o-3", 10_000));
}

#[test]
fn a_spend_draws_by_priority_and_its_void_refunds_the_same_lots_once() {
    let mut c = chain();
    run(&mut c, ACME_ISSUER, load(1, Segment::CashDeposit, 3_000));
    run(&mut c, ACME_POS, load(1, Segment::Gift, 2_000));
    let before = account(&c, 1);
    // Gift (priority 1) before cash (priority 2).
    let (spent, events) = run(
        &mut c,
        ACME_POS,
        spend(1, &[Segment::CashDeposit, Segment::Gift], 4_500),
    );
    assert_eq!(
        events,
        vec![
            balance_event(1, BalanceOp::Spent, Segment::CashDeposit, false, 2_500),
            balance_event(1, BalanceOp::Spent, Segment::Gift, false, 2_000),
        ]
    );
    assert_eq!(balance(&c, 1, Segment::Gift), 0);
    assert_eq!(balance(&c, 1, Segment::CashDeposit), 500);
    assert_eq!(
        c.rejected(
            &key(ACME_POS),
            spend(1, &[Segment::CashDeposit, Segment::Gift], 501)
        ),
        RejectReason::InsufficientBalance
    );
    // Mixed units in one spend.
    assert_eq!(
        c.rejected(
            &key(ACME_POS),
            spend(1, &[Segment::CashDeposit, Segment::Mileage], 1)
        ),
        RejectReason::InvalidInput
    );
    // Another store's terminal may not void; the org's admin or the same store may.
    assert_eq!(
        c.rejected(&key(ACME_POS2), void(spent)),
        RejectReason::NotAuthorized
    );
    let (_, events) = run(&mut c, ACME_POS, void(spent));
    assert_eq!(events.len(), 2);
    let mut after = account(&c, 1);
    after.last_activity_ms = before.last_activity_ms;
    assert_eq!(after, before, "the refund restores the lots exactly");
    assert_eq!(
        c.rejected(&key(ACME), void(spent)),
        RejectReason::AlreadyVoided
    );
}

#[test]
fn a_void_takes_back_only_lots_nothing_was_spent_from() {
    let mut c = chain();
    let (loaded, _) = run(&mut c, ACME_POS, load(1, Segment::Gift, 2_000));
    let (earned, _) = run(&mut c, ACME_POS, earn(1, "o-1", 10_000));
    run(&mut c, ACME_POS, spend(1, &[Segment::Gift], 1));
    assert_eq!(
        c.rejected(&key(ACME), void(loaded)),
        RejectReason::AlreadySpent
    );
    let (_, events) = run(&mut c, ACME, void(earned));
    assert_eq!(
        events,
        vec![balance_event(
            1,
            BalanceOp::Voided,
            Segment::Mileage,
            false,
            200
        )]
    );
    assert_eq!(account(&c, 1).earned_in_window(c.time_ms, 30), 0);
    // The order stays earned: a voided order does not earn again.
    assert_eq!(
        c.rejected(&key(ACME_POS), earn(1, "o-1", 10_000)),
        RejectReason::AlreadyEarned
    );
    let unknown = TxId([7; 32]);
    assert_eq!(
        c.rejected(&key(ACME), void(unknown)),
        RejectReason::NotFound
    );
}

#[test]
fn a_partner_earns_and_spends_and_the_pair_settles() {
    let mut c = chain();
    let (earned, _) = run(&mut c, GLOBEX_POS, earn(1, "g-1", 10_000));
    run(&mut c, ACME_POS, earn(1, "a-1", 5_000));
    c.advance(14 * DAY_MS);
    let (spent, _) = run(&mut c, GLOBEX_POS, spend(1, &[Segment::Mileage], 250));
    let settlement =
        |c: &TestChain| match c.state.0.get(&StateKey::Settlement(acme(), org("globex"))) {
            Some(StateValue::Settlement(s)) => s.clone(),
            None => Settlement::default(),
            other => panic!("{other:?}"),
        };
    let s = settlement(&c);
    assert_eq!(s.credited[&Segment::Mileage], 200, "globex credited 200");
    assert_eq!(s.spent[&Segment::Mileage], 250, "250 spent at globex");
    // The same order reference at another org is another order.
    run(&mut c, GLOBEX_POS, earn(2, "a-1", 100));
    // Voids net out what they undo.
    run(&mut c, GLOBEX, void(spent));
    assert!(!settlement(&c).spent.contains_key(&Segment::Mileage));
    assert_eq!(
        c.rejected(&key(ACME), void(earned)),
        RejectReason::NotAuthorized,
        "acme did not make globex's earn"
    );
}

#[test]
fn an_adjustment_above_the_threshold_needs_a_second_admin() {
    let mut c = chain();
    // At or below 5,000: applied at once.
    let (_, events) = run(&mut c, ACME, adjust(1, Direction::Credit, 5_000));
    assert_eq!(
        events[0],
        balance_event(1, BalanceOp::Adjusted, Segment::Mileage, true, 5_000)
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), adjust(1, Direction::Credit, 1)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(GLOBEX), adjust(1, Direction::Credit, 1)),
        RejectReason::NotAuthorized
    );
    // Above: pending, the balance unchanged.
    let (asked, events) = run(&mut c, ACME, adjust(1, Direction::Debit, 6_000));
    assert_eq!(
        events,
        vec![Event::AdjustmentRequested {
            adjustment: asked,
            program: acme(),
            member: member(1)
        }]
    );
    assert_eq!(balance(&c, 1, Segment::Mileage), 5_000);
    assert_eq!(
        c.rejected(&key(ACME), decide(asked, true)),
        RejectReason::SelfApproval
    );
    // Approval cannot apply a debit above the balance; it stays pending.
    assert_eq!(
        c.rejected(&key(ACME_ADMIN2), decide(asked, true)),
        RejectReason::InsufficientBalance
    );
    let (_, events) = run(&mut c, ACME_ADMIN2, decide(asked, false));
    assert!(matches!(events[0], Event::AdjustmentRejected { .. }));
    assert_eq!(
        c.rejected(&key(ACME_ADMIN2), decide(asked, true)),
        RejectReason::InvalidTransition
    );
    let (asked, _) = run(&mut c, ACME_ADMIN2, adjust(1, Direction::Debit, 5_001));
    run(&mut c, ACME_ADMIN2, adjust(1, Direction::Credit, 1));
    run(&mut c, ACME, decide(asked, true));
    assert_eq!(balance(&c, 1, Segment::Mileage), 0);
    match c.state.0.get(&StateKey::Adjustment(asked)) {
        Some(StateValue::Adjustment(a)) => {
            assert_eq!(a.status, AdjustmentStatus::Applied);
            assert_eq!(
                a.checker,
                Some(couponcactus_chaincode::testkit::public(ACME))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn transfers_keep_expiry_and_a_void_takes_them_back() {
    let mut c = chain();
    let transfer = |amount| {
        TxKind::TransferBalance(TransferBalanceTx {
            program: acme(),
            from: member(1),
            to: member(2),
            segment: Segment::Gift,
            amount,
        })
    };
    run(&mut c, ACME_POS, load(1, Segment::Gift, 1_000));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(400)),
        RejectReason::NotTransferable
    );
    let mut spec = program_spec();
    spec.partner_orgs = vec![org("globex")];
    spec.transfers = true;
    run(&mut c, ACME, TxKind::SetProgram(SetProgramTx { spec }));
    assert_eq!(
        c.rejected(&key(ACME_POS), transfer(400)),
        RejectReason::NotAuthorized
    );
    let (moved, events) = run(&mut c, ACME_ISSUER, transfer(400));
    assert_eq!(
        events,
        vec![
            balance_event(1, BalanceOp::TransferredOut, Segment::Gift, false, 400),
            balance_event(2, BalanceOp::TransferredIn, Segment::Gift, true, 400),
        ]
    );
    let given = account(&c, 1).lots.values().next().unwrap().expires_ms;
    let received = account(&c, 2).lots.values().next().unwrap().expires_ms;
    assert_eq!(given, received, "a transfer never extends validity");
    run(&mut c, ACME, void(moved));
    assert_eq!(balance(&c, 1, Segment::Gift), 1_000);
    assert!(account(&c, 2).lots.is_empty());
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(1_001)),
        RejectReason::InsufficientBalance
    );
}

#[test]
fn due_lots_expire_at_block_time_on_touch_or_by_the_housekeeping_tx() {
    let mut c = chain();
    run(&mut c, ACME_POS, load(1, Segment::Gift, 700));
    run(&mut c, ACME_POS, load(2, Segment::Gift, 300));
    run(&mut c, ACME_POS, load(2, Segment::CashDeposit, 50));
    // Gift expires at the end of the 12th month after earning (January 2026 → end of
    // January 2027).
    let end = 1_801_439_999_999; // 2027-01-31T23:59:59.999Z
    advance_to(&mut c, end);
    assert_eq!(liability(&c).by_segment[&Segment::Gift], 1_000);
    c.advance(1);
    // Touching member 2 expires its gift first: the cash spend still works.
    let (_, events) = run(&mut c, ACME_POS, spend(2, &[Segment::CashDeposit], 50));
    assert_eq!(
        events,
        vec![
            balance_event(2, BalanceOp::Expired, Segment::Gift, false, 300),
            balance_event(2, BalanceOp::Spent, Segment::CashDeposit, false, 50),
        ]
    );
    let expire = TxKind::ExpireBalances(ExpireBalancesTx {
        program: acme(),
        members: vec![member(1), member(2)],
    });
    assert_eq!(
        c.rejected(&key(ACME_POS), expire.clone()),
        RejectReason::NotAuthorized
    );
    let (_, events) = run(&mut c, ACME_ISSUER, expire);
    assert_eq!(
        events,
        vec![balance_event(
            1,
            BalanceOp::Expired,
            Segment::Gift,
            false,
            700
        )]
    );
    assert!(liability(&c).by_segment.is_empty());
    let unsorted = TxKind::ExpireBalances(ExpireBalancesTx {
        program: acme(),
        members: vec![member(2), member(1)],
    });
    assert_eq!(c.rejected(&key(ACME), unsorted), RejectReason::InvalidInput);
}

#[test]
fn collecting_points_moves_a_member_up_a_tier() {
    let mut c = chain();
    // 600.00 EUR ×2 = 1,200 points: silver (1,000).
    let (_, events) = run(&mut c, ACME_POS, earn(1, "big", 60_000));
    assert_eq!(
        events[1],
        Event::TierChanged {
            program: acme(),
            member: member(1),
            from: "base".into(),
            to: "silver".into()
        }
    );
    // Silver earns ×1.25 (after the promotion ended): 100 EUR → 125 points.
    advance_to(&mut c, GENESIS_MS + 3 * DAY_MS);
    let (_, events) = run(&mut c, ACME_POS, earn(1, "next", 10_000));
    assert_eq!(
        events,
        vec![balance_event(
            1,
            BalanceOp::Earned,
            Segment::Mileage,
            true,
            125
        )]
    );
}

#[test]
fn loads_are_money_and_need_a_serving_org() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_POS), load(1, Segment::Mileage, 10)),
        RejectReason::InvalidInput
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), load(1, Segment::RefundCredit, 10)),
        RejectReason::InvalidInput,
        "the program keeps no refund_credit segment"
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), load(1, Segment::Gift, 0)),
        RejectReason::InvalidInput
    );
    assert_eq!(
        c.rejected(&key(INITECH_POS), load(1, Segment::Gift, 10)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(GLOBEX), load(1, Segment::Gift, 10)),
        RejectReason::NotAuthorized,
        "a partner's admin is not acme's staff"
    );
    run(&mut c, ACME_ISSUER, load(1, Segment::Gift, u64::MAX - 1));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), load(1, Segment::Gift, 2)),
        RejectReason::InvalidInput,
        "the balance would overflow"
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), load(2, Segment::Gift, 2)),
        RejectReason::InvalidInput,
        "the liability would overflow"
    );
}

fn advance_to(c: &mut TestChain, time_ms: u64) {
    let next = c.next_ctx().time_ms;
    assert!(time_ms >= next, "cannot go back in time");
    c.advance(time_ms - next);
}

fn withdraw(m: u64, segment: Segment, amount: u64) -> TxKind {
    TxKind::RequestWithdrawal(RequestWithdrawalTx {
        program: acme(),
        member: member(m),
        segment,
        amount,
        reference: "ticket-4".into(),
    })
}

fn decide_withdrawal(withdrawal: TxId, decision: WithdrawalDecision) -> TxKind {
    TxKind::DecideWithdrawal(DecideWithdrawalTx {
        withdrawal,
        decision,
    })
}

fn withdrawal_record(c: &TestChain, id: TxId) -> WithdrawalRecord {
    match c.state.0.get(&StateKey::Withdrawal(id)) {
        Some(StateValue::Withdrawal(w)) => w.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_withdrawal_is_held_then_approved_by_a_second_key_and_paid() {
    let mut c = chain();
    run(&mut c, ACME_ISSUER, load(1, Segment::CashDeposit, 5_000));
    run(&mut c, ACME_ISSUER, load(1, Segment::Gift, 5_000));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), withdraw(1, Segment::Gift, 100)),
        RejectReason::InvalidInput,
        "gift balances are not cash"
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), withdraw(1, Segment::CashDeposit, 100)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), withdraw(1, Segment::CashDeposit, 5_001)),
        RejectReason::InsufficientBalance
    );
    let (id, events) = run(
        &mut c,
        ACME_ISSUER,
        withdraw(1, Segment::CashDeposit, 3_000),
    );
    assert_eq!(
        events[0],
        balance_event(1, BalanceOp::Withdrawn, Segment::CashDeposit, false, 3_000)
    );
    assert!(matches!(&events[1], Event::WithdrawalChanged { status, .. } if status == "requested"));
    // Held: it cannot be spent meanwhile, and the liability no longer counts it.
    assert_eq!(balance(&c, 1, Segment::CashDeposit), 2_000);
    assert_eq!(liability(&c).by_segment[&Segment::CashDeposit], 2_000);
    // Paid needs an approval first; the approval needs an admin other than the requester.
    let paid = || WithdrawalDecision::Paid {
        payment: "sepa-991".into(),
    };
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), decide_withdrawal(id, paid())),
        RejectReason::InvalidTransition
    );
    assert_eq!(
        c.rejected(
            &key(ACME_ISSUER),
            decide_withdrawal(id, WithdrawalDecision::Approve)
        ),
        RejectReason::NotAuthorized,
        "an issuer does not approve"
    );
    run(
        &mut c,
        ACME,
        decide_withdrawal(id, WithdrawalDecision::Approve),
    );
    let (_, events) = run(&mut c, ACME_ISSUER, decide_withdrawal(id, paid()));
    assert!(matches!(&events[0], Event::WithdrawalChanged { status, .. } if status == "paid"));
    match withdrawal_record(&c, id).status {
        WithdrawalStatus::Paid {
            approved_by,
            payment,
            ..
        } => {
            assert_eq!(approved_by, couponcactus_chaincode::testkit::public(ACME));
            assert_eq!(payment, "sepa-991");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.rejected(
            &key(ACME),
            decide_withdrawal(id, WithdrawalDecision::Reject)
        ),
        RejectReason::InvalidTransition,
        "paid is final"
    );
    assert_eq!(balance(&c, 1, Segment::CashDeposit), 2_000);
}

#[test]
fn a_rejected_withdrawal_gives_the_same_lots_back_and_the_requester_cannot_approve() {
    let mut c = chain();
    run(&mut c, ACME_ISSUER, load(1, Segment::CashDeposit, 5_000));
    let before = account(&c, 1);
    let (id, _) = run(&mut c, ACME, withdraw(1, Segment::CashDeposit, 1_500));
    assert_eq!(
        c.rejected(
            &key(ACME),
            decide_withdrawal(id, WithdrawalDecision::Approve)
        ),
        RejectReason::SelfApproval
    );
    assert_eq!(
        c.rejected(
            &key(GLOBEX),
            decide_withdrawal(id, WithdrawalDecision::Reject)
        ),
        RejectReason::NotAuthorized
    );
    run(
        &mut c,
        ACME_ADMIN2,
        decide_withdrawal(id, WithdrawalDecision::Approve),
    );
    let (_, events) = run(
        &mut c,
        ACME_ADMIN2,
        decide_withdrawal(id, WithdrawalDecision::Reject),
    );
    assert_eq!(
        events[0],
        balance_event(1, BalanceOp::Refunded, Segment::CashDeposit, true, 1_500)
    );
    let mut after = account(&c, 1);
    after.last_activity_ms = before.last_activity_ms;
    assert_eq!(after, before);
    assert_eq!(
        c.rejected(
            &key(ACME),
            decide_withdrawal(TxId([3; 32]), WithdrawalDecision::Reject)
        ),
        RejectReason::NotFound
    );
}

fn engage(m: u64, action: &str, reference: &str, referred: Option<u64>) -> TxKind {
    TxKind::Engage(EngageTx {
        program: acme(),
        member: member(m),
        action: action.into(),
        reference: reference.into(),
        referred: referred.map(member),
    })
}

fn movement(c: &TestChain, id: TxId) -> Movement {
    match c.state.0.get(&StateKey::Movement(id)) {
        Some(StateValue::Movement(m)) => m.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_engagement_is_awarded_once_per_reference_and_within_its_limit() {
    let mut c = chain();
    // The program's review rule: 50 points, at most 3 per member in 30 days.
    let (first, events) = run(&mut c, ACME_ISSUER, engage(1, "review", "rev-1", None));
    assert_eq!(
        events,
        vec![balance_event(
            1,
            BalanceOp::Earned,
            Segment::Mileage,
            true,
            50
        )]
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), engage(1, "review", "rev-1", None)),
        RejectReason::AlreadyEarned,
        "a review id is awarded once, whoever asks"
    );
    run(&mut c, ACME_POS, engage(1, "review", "rev-2", None));
    run(&mut c, GLOBEX_POS, engage(1, "review", "rev-3", None));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), engage(1, "review", "rev-4", None)),
        RejectReason::EngagementLimit
    );
    // Another member has their own limit; the window rolls.
    run(&mut c, ACME_ISSUER, engage(2, "review", "rev-4", None));
    c.advance(30 * DAY_MS);
    run(&mut c, ACME_ISSUER, engage(1, "review", "rev-5", None));
    assert_eq!(balance(&c, 1, Segment::Mileage), 200);
    // The points count as earned (pending like an earn's) and the movement says what.
    let moved = movement(&c, first);
    assert!(matches!(
        moved.kind,
        MovementKind::Engagement {
            points: 50,
            referred: None,
            ..
        }
    ));
    // Who and what may not.
    for (seed, kind, reason) in [
        (
            INITECH_POS,
            engage(1, "review", "x-1", None),
            RejectReason::NotAuthorized,
        ),
        (
            GLOBEX,
            engage(1, "review", "x-2", None),
            RejectReason::NotAuthorized,
        ),
        (
            ACME,
            engage(1, "unboxing", "x-3", None),
            RejectReason::NotFound,
        ),
        (
            ACME,
            engage(1, "review", "", None),
            RejectReason::InvalidInput,
        ),
        (
            ACME,
            engage(1, "review", "x-4", Some(2)),
            RejectReason::InvalidInput,
        ),
    ] {
        assert_eq!(c.rejected(&key(seed), kind), reason);
    }
}

#[test]
fn a_referral_credits_both_members_once_and_its_void_takes_both_back() {
    let mut c = chain();
    let before = c.state.clone();
    let (id, events) = run(&mut c, ACME_ISSUER, engage(1, "referral", "", Some(2)));
    assert_eq!(
        events,
        vec![
            balance_event(1, BalanceOp::Earned, Segment::Mileage, true, 500),
            balance_event(2, BalanceOp::Earned, Segment::Mileage, true, 250),
        ]
    );
    assert_eq!(balance(&c, 1, Segment::Mileage), 500);
    assert_eq!(balance(&c, 2, Segment::Mileage), 250);
    // Each member is referred once, by whoever.
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), engage(3, "referral", "", Some(2))),
        RejectReason::AlreadyEarned
    );
    for kind in [
        engage(1, "referral", "", None),
        engage(1, "referral", "", Some(1)),
        engage(1, "referral", "ref-9", Some(3)),
    ] {
        assert_eq!(c.rejected(&key(ACME), kind), RejectReason::InvalidInput);
    }
    // A void takes both lots back; only the award record stays (the member was referred).
    let (_, events) = run(&mut c, ACME, void(id));
    assert_eq!(events.len(), 2);
    assert_eq!(
        c.rejected(&key(ACME), void(id)),
        RejectReason::AlreadyVoided
    );
    for m in [1, 2] {
        assert_eq!(account(&c, m), Account::default());
    }
    let accounts = |s: &MemState| -> Vec<(StateKey, StateValue)> {
        s.0.iter()
            .filter(|(k, _)| matches!(k, StateKey::Account(..)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        accounts(&c.state),
        accounts(&before),
        "no account left behind"
    );
    assert!(liability(&c).by_segment.is_empty());
}

#[test]
fn points_pending_on_an_event_are_spendable_once_released() {
    let mut c = chain();
    let mut spec = program_spec();
    spec.partner_orgs = vec![org("globex")];
    spec.earn.pending_days = 0;
    spec.earn.release_on_event = true;
    c.applied(&key(ACME), TxKind::SetProgram(SetProgramTx { spec }));
    let (earned, _) = run(&mut c, ACME_POS, earn(1, "order-1", 10_000));
    let (loaded, _) = run(&mut c, ACME_ISSUER, load(1, Segment::Gift, 500));
    // Pending with no date: a year later still not spendable.
    c.advance(365 * DAY_MS);
    assert_eq!(
        c.rejected(&key(ACME_POS), spend(1, &[Segment::Mileage], 1)),
        RejectReason::InsufficientBalance
    );
    let release = |tx| TxKind::ReleasePoints(ReleasePointsTx { tx });
    for (seed, tx, reason) in [
        (GLOBEX_POS, earned, RejectReason::NotAuthorized),
        (ACME_POS2, earned, RejectReason::NotAuthorized),
        (ACME, loaded, RejectReason::InvalidInput),
        (ACME, TxId([9; 32]), RejectReason::NotFound),
    ] {
        assert_eq!(c.rejected(&key(seed), release(tx)), reason);
    }
    let (_, events) = run(&mut c, ACME_POS, release(earned));
    assert_eq!(
        events,
        vec![Event::PointsReleased {
            source: earned,
            program: acme(),
            member: member(1),
            points: 200,
        }]
    );
    assert_eq!(
        c.rejected(&key(ACME), release(earned)),
        RejectReason::NotPending
    );
    run(&mut c, ACME_POS, spend(1, &[Segment::Mileage], 200));
    let (waiting, _) = run(&mut c, ACME_POS, earn(3, "order-3", 10_000));
    // A program that does not wait for events refuses a release, but for points that
    // were left waiting for one when it stopped.
    let (other, _) = {
        let mut spec = program_spec();
        spec.partner_orgs = vec![org("globex")];
        c.applied(&key(ACME), TxKind::SetProgram(SetProgramTx { spec }));
        run(&mut c, ACME_POS, earn(2, "order-2", 10_000))
    };
    assert_eq!(
        c.rejected(&key(ACME), release(other)),
        RejectReason::InvalidInput
    );
    run(&mut c, ACME, release(waiting));
}

#[test]
fn a_tier_is_kept_through_a_rule_change_when_the_program_says_so() {
    for keep in [false, true] {
        let mut c = chain();
        // 1,200 points: silver (1,000).
        run(&mut c, ACME_POS, earn(1, "big", 60_000));
        // Silver now needs 1,500 points.
        let mut spec = program_spec();
        spec.partner_orgs = vec![org("globex")];
        spec.tiers.tiers[1].min_points = 1_500;
        spec.tiers.keep_on_rule_change = keep;
        c.applied(&key(ACME), TxKind::SetProgram(SetProgramTx { spec }));
        c.advance(31 * DAY_MS);
        run(&mut c, ACME_ISSUER, load(1, Segment::Gift, 1));
        c.advance(31 * DAY_MS);
        let (_, events) = run(&mut c, ACME_ISSUER, load(1, Segment::Gift, 1));
        let downgraded = events
            .iter()
            .any(|e| matches!(e, Event::TierChanged { .. }));
        assert_eq!(downgraded, !keep, "keep_on_rule_change = {keep}");
        assert_eq!(account(&c, 1).tier.index, if keep { 1 } else { 0 });
    }
}
