//! The loyalty rules on their own: examples for each rule, and properties over random
//! sequences of credits, spends, debits, refunds and expiries.

use super::*;
use crate::testkit::org;
use proptest::prelude::*;

const USD: Currency = Currency(*b"USD");
/// 2026-01-15T12:00:00Z.
const JAN_15: u64 = 1_768_478_400_000;

fn segment(segment: Segment, priority: u8, expiry: ExpiryPolicy) -> SegmentRule {
    let unit = match segment {
        Segment::Mileage => Unit::Points,
        _ => Unit::Money { currency: USD },
    };
    SegmentRule {
        segment,
        unit,
        spend_priority: priority,
        expiry,
    }
}

fn program() -> ProgramSpec {
    ProgramSpec {
        name: "Cactus Club".into(),
        currency: USD,
        segments: vec![
            segment(Segment::CashDeposit, 2, ExpiryPolicy::Never),
            segment(
                Segment::Gift,
                1,
                ExpiryPolicy::MonthsAfterEarning { months: 12 },
            ),
            segment(
                Segment::Mileage,
                0,
                ExpiryPolicy::MonthsAfterEarning { months: 24 },
            ),
            segment(
                Segment::RefundCredit,
                0,
                ExpiryPolicy::Inactivity { days: 365 },
            ),
        ],
        earn: EarnRule {
            points: 1,
            per_minor: 100,
            excluded_categories: vec![Category::new("tobacco").unwrap()],
            promotions: vec![],
            per_tx_cap: None,
            period_cap: None,
            max_balance: None,
            pending_days: 0,
            release_on_event: false,
        },
        tiers: TierPolicy {
            tiers: vec![],
            basis: TierBasis::PointsCollected,
            window_days: 365,
            grace_days: 30,
            keep_on_rule_change: false,
        },
        adjust_approval_above: 10_000,
        transfers: false,
        partner_orgs: vec![],
        checkout: Default::default(),
        engagement: vec![],
        requires_consent: None,
    }
}

fn lot_id(n: u64) -> LotId {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    LotId {
        source: TxId(id),
        index: 0,
    }
}

fn new_lot(n: u64, segment: Segment, amount: u64, pending_ms: u64) -> NewLot {
    NewLot {
        id: lot_id(n),
        segment,
        amount,
        pending_ms,
        credited_by: org("acme"),
    }
}

fn ms_of(y: i16, m: i8, d: i8) -> u64 {
    let date = jiff::civil::Date::new(y, m, d).unwrap();
    let t = jiff::tz::Offset::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .unwrap();
    t.as_millisecond() as u64
}

#[test]
fn months_after_earning_end_with_the_month() {
    assert_eq!(JAN_15, ms_of(2026, 1, 15) + 12 * 3_600_000);
    let rule = ExpiryPolicy::MonthsAfterEarning { months: 12 };
    // Earned in January 2026: expires when January 2027 ends.
    assert_eq!(expiry_of(&rule, JAN_15), Some(ms_of(2027, 2, 1)));
    // The last instant of December rolls over the year.
    let dec_31 = ms_of(2027, 1, 1) - 1;
    let one = ExpiryPolicy::MonthsAfterEarning { months: 1 };
    assert_eq!(expiry_of(&one, dec_31), Some(ms_of(2027, 2, 1)));
    // January 31st plus one month: the end of February (a short month), not "March 3rd".
    assert_eq!(expiry_of(&one, ms_of(2028, 1, 31)), Some(ms_of(2028, 3, 1)));
    let fixed = ExpiryPolicy::FixedDates {
        dates_ms: vec![ms_of(2026, 6, 30), ms_of(2026, 12, 31)],
    };
    assert_eq!(expiry_of(&fixed, JAN_15), Some(ms_of(2026, 6, 30)));
    assert_eq!(
        expiry_of(&fixed, ms_of(2026, 7, 1)),
        Some(ms_of(2026, 12, 31))
    );
    assert_eq!(expiry_of(&fixed, ms_of(2027, 1, 1)), None);
    assert_eq!(expiry_of(&ExpiryPolicy::Never, JAN_15), None);
}

/// A change that breaks a program.
type Breaker = Box<dyn Fn(&mut ProgramSpec)>;

#[test]
fn programs_that_break_a_rule_are_refused_with_the_rule() {
    assert_eq!(validate_program(&program()), Ok(()));
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "mileage counts points",
            Box::new(|p| p.segments[2].unit = Unit::Money { currency: USD }),
        ),
        (
            "gift counts money",
            Box::new(|p| p.segments[1].unit = Unit::Points),
        ),
        (
            "gift counts EUR, the program USD",
            Box::new(|p| {
                p.segments[1].unit = Unit::Money {
                    currency: Currency(*b"EUR"),
                }
            }),
        ),
        (
            "three uppercase letters",
            Box::new(|p| p.currency = Currency(*b"usd")),
        ),
        (
            "listed twice",
            Box::new(|p| p.segments[0].segment = Segment::Gift),
        ),
        ("per_minor", Box::new(|p| p.earn.per_minor = 0)),
        (
            "months after earning",
            Box::new(|p| p.segments[1].expiry = ExpiryPolicy::MonthsAfterEarning { months: 0 }),
        ),
        (
            "fixed dates",
            Box::new(|p| {
                p.segments[1].expiry = ExpiryPolicy::FixedDates {
                    dates_ms: vec![5, 5],
                }
            }),
        ),
        (
            "promotion ends after",
            Box::new(|p| {
                p.earn.promotions = vec![Promotion {
                    from_ms: 9,
                    until_ms: 9,
                    multiplier_permille: 2_000,
                }]
            }),
        ),
        (
            "multipliers",
            Box::new(|p| {
                p.earn.promotions = vec![Promotion {
                    from_ms: 1,
                    until_ms: 9,
                    multiplier_permille: 0,
                }]
            }),
        ),
        (
            "strictly increasing thresholds",
            Box::new(|p| p.tiers.tiers = vec![tier("base", 0, 1_000), tier("gold", 0, 1_500)]),
        ),
        (
            "slugs",
            Box::new(|p| p.tiers.tiers = vec![tier("Gold!", 0, 1_000)]),
        ),
        (
            "excluded categories",
            Box::new(|p| {
                p.earn.excluded_categories =
                    vec![Category::new("b").unwrap(), Category::new("a").unwrap()]
            }),
        ),
    ];
    for (expected, break_it) in cases {
        let mut p = program();
        break_it(&mut p);
        let err = validate_program(&p).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

fn tier(name: &str, min_points: u64, multiplier_permille: u32) -> Tier {
    Tier {
        name: name.into(),
        min_points,
        multiplier_permille,
    }
}

#[test]
fn a_spend_draws_by_priority_then_soonest_expiry_and_a_refund_restores_the_lots() {
    let p = program();
    let mut a = Account::default();
    // Gift (priority 1) twice, months apart; cash (priority 2).
    a.credit(&p, new_lot(1, Segment::CashDeposit, 5_000, 0), JAN_15)
        .unwrap();
    a.credit(
        &p,
        new_lot(2, Segment::Gift, 1_000, 0),
        JAN_15 + 60 * DAY_MS,
    )
    .unwrap();
    a.credit(&p, new_lot(3, Segment::Gift, 1_000, 0), JAN_15)
        .unwrap();
    let before = a.lots.clone();
    let money = [Segment::CashDeposit, Segment::Gift];
    let (alloc, deltas) = a.spend(&p, &money, 2_500, JAN_15 + 61 * DAY_MS).unwrap();
    let drawn: Vec<(LotId, u64)> = alloc.0.iter().map(|d| (d.lot.id, d.amount)).collect();
    // The gift that expires first, the other gift, then cash.
    assert_eq!(
        drawn,
        vec![(lot_id(3), 1_000), (lot_id(2), 1_000), (lot_id(1), 500)]
    );
    assert_eq!(deltas.0[&Segment::Gift], -2_000);
    assert_eq!(deltas.0[&Segment::CashDeposit], -500);
    assert_eq!(a.lots.len(), 1, "used-up lots are dropped");
    let back = a.refund(&alloc).unwrap();
    assert_eq!(a.lots, before, "the same lots, with their terms, are back");
    assert_eq!(back.0[&Segment::Gift], 2_000);
    // Points and money never mix in one spend.
    assert_eq!(
        a.spend(&p, &[Segment::Mileage, Segment::Gift], 1, JAN_15),
        Err(LoyaltyError::MixedUnits)
    );
}

#[test]
fn pending_and_expired_lots_are_not_spendable_and_expire_at_block_time() {
    let p = program();
    let mut a = Account::default();
    a.credit(&p, new_lot(1, Segment::Mileage, 300, 14 * DAY_MS), JAN_15)
        .unwrap();
    assert_eq!(
        a.spend(&p, &[Segment::Mileage], 100, JAN_15 + DAY_MS),
        Err(LoyaltyError::Insufficient {
            available: 0,
            requested: 100
        })
    );
    // A negative adjustment may take pending points.
    a.debit(&p, Segment::Mileage, 100, JAN_15 + DAY_MS).unwrap();
    a.spend(&p, &[Segment::Mileage], 100, JAN_15 + 14 * DAY_MS)
        .unwrap();
    // Mileage expires 24 months after the month it was earned in.
    let end = ms_of(2028, 2, 1);
    assert_eq!(a.spendable(end - 1)[&Segment::Mileage], 100);
    assert!(a.spend(&p, &[Segment::Mileage], 1, end).is_err());
    let (expired, deltas) = a.expire(&p, end);
    assert_eq!(expired.len(), 1);
    assert_eq!(deltas.0[&Segment::Mileage], -100);
    assert!(a.lots.is_empty());
}

#[test]
fn inactivity_expires_the_whole_segment_and_activity_resets_the_clock() {
    let p = program();
    let mut a = Account::default();
    a.credit(&p, new_lot(1, Segment::RefundCredit, 700, 0), JAN_15)
        .unwrap();
    a.credit(
        &p,
        new_lot(2, Segment::CashDeposit, 50, 0),
        JAN_15 + 200 * DAY_MS,
    )
    .unwrap();
    // Activity 200 days in: a year from there, not from the first lot.
    let (expired, _) = a.expire(&p, JAN_15 + 365 * DAY_MS);
    assert!(expired.is_empty());
    let (expired, _) = a.expire(&p, JAN_15 + 565 * DAY_MS);
    assert_eq!(
        expired.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![lot_id(1)]
    );
    assert_eq!(
        a.balances()[&Segment::CashDeposit],
        50,
        "cash never expires"
    );
}

#[test]
fn earning_applies_rate_multipliers_and_caps_in_order() {
    let mut p = program();
    p.tiers.tiers = vec![tier("base", 0, 1_000), tier("gold", 500, 1_500)];
    p.earn.promotions = vec![Promotion {
        from_ms: JAN_15,
        until_ms: JAN_15 + DAY_MS,
        multiplier_permille: 2_000,
    }];
    let mut a = Account::default();
    a.tier.index = 1;
    // $123.45 eligible: 123 points, ×1.5 = 184 (floored), ×2 = 368.
    let q = quote_earn(&p, &a, 12_345, JAN_15).unwrap();
    assert_eq!(q.award, 368);
    // Outside the promotion: 184.
    assert_eq!(
        quote_earn(&p, &a, 12_345, JAN_15 + DAY_MS).unwrap().award,
        184
    );
    // The per-transaction cap refuses; the period cap and the maximum balance reduce.
    p.earn.per_tx_cap = Some(300);
    assert_eq!(
        quote_earn(&p, &a, 12_345, JAN_15),
        Err(LoyaltyError::PerTxCap {
            award: 368,
            cap: 300
        })
    );
    p.earn.per_tx_cap = None;
    p.earn.period_cap = Some(PeriodCap { days: 30, cap: 400 });
    a.log_earned(&p, 100, JAN_15 - 10 * DAY_MS);
    assert_eq!(quote_earn(&p, &a, 12_345, JAN_15).unwrap().award, 300);
    p.earn.max_balance = Some(250);
    a.credit(&p, new_lot(1, Segment::Mileage, 100, 0), JAN_15)
        .unwrap();
    let q = quote_earn(&p, &a, 12_345, JAN_15).unwrap();
    assert_eq!((q.award, q.before_caps), (150, 368));
    // Excluded categories earn nothing (the coupons' rule, with the program's list).
    let line = |c: &str, amount_minor| crate::types::OrderLine {
        category: Category::new(c).unwrap(),
        amount_minor,
    };
    let order = crate::types::Order {
        currency: USD,
        total_minor: 10_000,
        lines: vec![line("tobacco", 2_000), line("food", 500)],
    };
    let eligible = crate::discount::eligible_amount(&order, &p.earn.excluded_categories).unwrap();
    assert_eq!(eligible, 8_000);
}

#[test]
fn tiers_rise_at_once_and_fall_only_after_the_grace_period() {
    let mut p = program();
    p.tiers.tiers = vec![
        tier("base", 0, 1_000),
        tier("silver", 100, 1_200),
        tier("gold", 1_000, 1_500),
    ];
    p.tiers.window_days = 30;
    let mut a = Account::default();
    a.log_earned(&p, 1_200, JAN_15);
    assert_eq!(
        evaluate_tier(&p, &mut a, JAN_15),
        TierChange::Moved { from: 0, to: 2 }
    );
    // 40 days later the window is empty: below gold, grace runs for 30 days.
    let later = JAN_15 + 40 * DAY_MS;
    assert_eq!(evaluate_tier(&p, &mut a, later), TierChange::Same);
    assert_eq!(a.tier.below_since_ms, Some(later));
    assert_eq!(
        evaluate_tier(&p, &mut a, later + 29 * DAY_MS),
        TierChange::Same
    );
    assert_eq!(
        evaluate_tier(&p, &mut a, later + 30 * DAY_MS),
        TierChange::Moved { from: 2, to: 0 }
    );
    // The earn log keeps only the longest window.
    assert!(a.earned_by_day.len() <= 31);
}

#[test]
fn a_kept_tier_holds_to_the_threshold_it_was_reached_with() {
    let mut p = program();
    p.tiers.tiers = vec![tier("base", 0, 1_000), tier("silver", 100, 1_200)];
    p.tiers.basis = TierBasis::Balance;
    p.tiers.keep_on_rule_change = true;
    let mut a = Account::default();
    a.credit(&p, new_lot(1, Segment::Mileage, 150, 0), JAN_15)
        .unwrap();
    assert_eq!(
        evaluate_tier(&p, &mut a, JAN_15),
        TierChange::Moved { from: 0, to: 1 }
    );
    assert_eq!(a.tier.held_min_points, 100);
    // Silver now needs 200: the member still meets the 100 they reached it with.
    p.tiers.tiers[1].min_points = 200;
    let later = JAN_15 + 90 * DAY_MS;
    assert_eq!(evaluate_tier(&p, &mut a, later), TierChange::Same);
    assert_eq!(a.tier.below_since_ms, None);
    // Below the old threshold too: the grace period runs, then the member goes down.
    a.debit(&p, Segment::Mileage, 100, later).unwrap();
    assert_eq!(evaluate_tier(&p, &mut a, later), TierChange::Same);
    assert_eq!(
        evaluate_tier(&p, &mut a, later + 30 * DAY_MS),
        TierChange::Moved { from: 1, to: 0 }
    );
    // Without the option the rule change alone starts the grace period.
    p.tiers.keep_on_rule_change = false;
    let mut b = Account::default();
    b.credit(&p, new_lot(2, Segment::Mileage, 150, 0), JAN_15)
        .unwrap();
    b.tier = TierState {
        index: 1,
        below_since_ms: None,
        held_min_points: 100,
    };
    assert_eq!(evaluate_tier(&p, &mut b, later), TierChange::Same);
    assert_eq!(b.tier.below_since_ms, Some(later));
}

#[test]
fn an_engagement_rule_counts_awards_in_its_window() {
    let rule = EngagementRule {
        action: "review".into(),
        points: 10,
        referred_points: None,
        limit: 2,
        window_days: 7,
    };
    let mut a = Account::default();
    a.log_engagement(&rule, JAN_15).unwrap();
    a.log_engagement(&rule, JAN_15 + DAY_MS).unwrap();
    assert!(matches!(
        a.log_engagement(&rule, JAN_15 + 6 * DAY_MS),
        Err(LoyaltyError::EngagementLimit { limit: 2, .. })
    ));
    // The first award leaves the window after 7 days.
    a.log_engagement(&rule, JAN_15 + 7 * DAY_MS).unwrap();
    assert_eq!(
        a.engagements["review"],
        vec![JAN_15 + DAY_MS, JAN_15 + 7 * DAY_MS]
    );
    a.unlog_engagement("review", JAN_15 + DAY_MS);
    a.unlog_engagement("review", JAN_15 + 7 * DAY_MS);
    assert!(a.engagements.is_empty());
    // No limit: nothing is counted.
    let free = EngagementRule { limit: 0, ..rule };
    a.log_engagement(&free, JAN_15).unwrap();
    assert!(a.is_vacant());
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Op {
    Credit {
        segment: usize,
        amount: u64,
        pending_days: u64,
    },
    Spend {
        money: bool,
        amount: u64,
    },
    Debit {
        segment: usize,
        amount: u64,
    },
    Refund {
        which: usize,
    },
    Expire,
}

const SEGMENTS: [Segment; 4] = [
    Segment::CashDeposit,
    Segment::Gift,
    Segment::Mileage,
    Segment::RefundCredit,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize, 1..5_000u64, 0..3u64)
            .prop_map(|(segment, amount, pending_days)| Op::Credit { segment, amount, pending_days }),
        3 => (any::<bool>(), 1..8_000u64).prop_map(|(money, amount)| Op::Spend { money, amount }),
        1 => (0..4usize, 1..3_000u64).prop_map(|(segment, amount)| Op::Debit { segment, amount }),
        2 => (0..64usize).prop_map(|which| Op::Refund { which }),
        1 => Just(Op::Expire),
    ]
}

/// The account's invariants: no empty or overdrawn lot; the liability (sum of every
/// delta returned) equals the balances.
fn check(
    a: &Account,
    liability: &BTreeMap<Segment, i128>,
) -> std::result::Result<(), TestCaseError> {
    for lot in a.lots.values() {
        prop_assert!(lot.remaining > 0 && lot.remaining <= lot.amount, "{lot:?}");
    }
    for s in SEGMENTS {
        let held = i128::from(a.balances().get(&s).copied().unwrap_or(0));
        prop_assert_eq!(held, liability.get(&s).copied().unwrap_or(0), "{:?}", s);
        prop_assert!(held >= 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Over any history: balances equal the sum of their lots and the running liability,
    /// never go negative; a refused operation changes nothing; each spend draws exactly
    /// what it asked; refunding every open allocation and undoing every credit in reverse
    /// restores an empty account.
    #[test]
    fn balances_equal_their_lots_and_the_liability_over_any_history(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        let p = program();
        let mut a = Account::default();
        let mut liability: BTreeMap<Segment, i128> = BTreeMap::new();
        let mut allocations: Vec<Option<Allocation>> = Vec::new();
        let mut now = JAN_15;
        let mut next = 0u64;
        let add = |l: &mut BTreeMap<Segment, i128>, d: &Deltas| {
            for (s, v) in &d.0 { *l.entry(*s).or_default() += v; }
        };
        for op in ops {
            now += DAY_MS;
            let before = a.clone();
            let result = match op {
                Op::Credit { segment, amount, pending_days } => {
                    next += 1;
                    a.credit(&p, new_lot(next, SEGMENTS[segment], amount, pending_days * DAY_MS), now)
                }
                Op::Spend { money, amount } => {
                    let segs: &[Segment] = if money {
                        &[Segment::CashDeposit, Segment::Gift, Segment::RefundCredit]
                    } else {
                        &[Segment::Mileage]
                    };
                    a.spend(&p, segs, amount, now).map(|(alloc, d)| {
                        assert_eq!(alloc.total(), amount);
                        allocations.push(Some(alloc));
                        d
                    })
                }
                Op::Debit { segment, amount } => {
                    a.debit(&p, SEGMENTS[segment], amount, now).map(|(alloc, d)| {
                        allocations.push(Some(alloc));
                        d
                    })
                }
                Op::Refund { which } => match allocations.get_mut(which).and_then(Option::take) {
                    Some(alloc) => a.refund(&alloc),
                    None => Ok(Deltas::default()),
                },
                Op::Expire => Ok(a.expire(&p, now).1),
            };
            match result {
                Ok(d) => add(&mut liability, &d),
                Err(_) => prop_assert_eq!(&a, &before, "a refused operation changed the account"),
            }
            check(&a, &liability)?;
        }
    }

    /// A spend followed by its refund leaves the lots exactly as they were.
    #[test]
    fn a_spend_then_its_refund_restores_the_lots_exactly(
        credits in prop::collection::vec((0..4usize, 1..2_000u64, 0..400u64), 1..20),
        amount in 1..10_000u64,
        at_day in 0..800u64,
    ) {
        let p = program();
        let mut a = Account::default();
        for (i, (segment, value, day)) in credits.into_iter().enumerate() {
            let _ = a.credit(&p, new_lot(i as u64, SEGMENTS[segment], value, 0), JAN_15 + day * DAY_MS);
        }
        let now = JAN_15 + at_day * DAY_MS;
        let lots = a.lots.clone();
        if let Ok((alloc, _)) = a.spend(&p, &[Segment::CashDeposit, Segment::Gift], amount, now) {
            a.refund(&alloc).unwrap();
        }
        prop_assert_eq!(a.lots, lots);
    }

    /// Whatever the order of earns, the points earned in the cap's window never pass the
    /// cap, and no award passes the maximum balance.
    #[test]
    fn caps_hold_under_any_sequence_of_earns(
        earns in prop::collection::vec((0..20_000u64, 0..3u64), 1..80),
        cap in 1..5_000u64,
        max_balance in 1..20_000u64,
    ) {
        let mut p = program();
        p.earn.period_cap = Some(PeriodCap { days: 7, cap });
        p.earn.max_balance = Some(max_balance);
        let mut a = Account::default();
        let mut now = JAN_15;
        for (i, (eligible, days)) in earns.into_iter().enumerate() {
            now += days * DAY_MS;
            let q = quote_earn(&p, &a, eligible, now).unwrap();
            if q.award > 0 {
                a.credit(&p, new_lot(i as u64, Segment::Mileage, q.award, 0), now).unwrap();
                a.log_earned(&p, q.award, now);
            }
            prop_assert!(a.earned_in_window(now, 7) <= cap);
            prop_assert!(a.balances().get(&Segment::Mileage).copied().unwrap_or(0) <= max_balance);
        }
    }
}
