//! Segments, propensity and the budget split on seeded member populations whose
//! behaviour is known: regulars, occasional visitors, lapsed regulars, newcomers and
//! prospects, each redeeming coupons with its own chance.
#![allow(clippy::float_arithmetic)] // the checks compare statistics

use super::budget::{self, Candidate, Limits, Objective};
use super::population::{AS_OF, Kind, offers, population};
use super::propensity::{self, PropensityConfig, PropensityMethod};
use super::segments::{self, ChurnLevel, Group, Method, SegmentConfig};
use crate::analytics::members::{MemberData, MemberDay};

fn share_of(seg: &segments::Segments, who: &[Kind], kind: Kind, groups: &[Group]) -> f64 {
    let of_kind: Vec<_> = seg
        .members
        .iter()
        .zip(who)
        .filter(|(_, k)| **k == kind)
        .collect();
    let hits = of_kind
        .iter()
        .filter(|(m, _)| groups.contains(&m.group))
        .count();
    hits as f64 / of_kind.len() as f64
}

#[test]
fn rfm_groups_find_regulars_lapsed_newcomers_and_prospects() {
    let (data, who) = population(1, 60);
    let seg = segments::compute(&data, AS_OF, &SegmentConfig::default()).unwrap();
    assert_eq!(seg.members.len(), 300);
    assert!(share_of(&seg, &who, Kind::Regular, &[Group::Champions, Group::Loyal]) >= 0.9);
    let gone = [
        Group::AtRisk,
        Group::CannotLose,
        Group::Hibernating,
        Group::Dormant,
    ];
    assert!(share_of(&seg, &who, Kind::Lapsed, &gone) >= 0.9);
    assert!(
        share_of(
            &seg,
            &who,
            Kind::Newcomer,
            &[Group::New, Group::Promising, Group::PotentialLoyalist]
        ) >= 0.9,
        "{:?}",
        seg.members
            .iter()
            .zip(&who)
            .filter(|(_, k)| **k == Kind::Newcomer)
            .map(|(m, _)| (m.group, m.r, m.f, m.recency_days))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        share_of(&seg, &who, Kind::Prospect, &[Group::Prospect]),
        1.0
    );
    for (m, k) in seg.members.iter().zip(&who) {
        match k {
            Kind::Lapsed => assert_eq!(m.churn, Some(ChurnLevel::High), "{m:?}"),
            Kind::Regular => assert_ne!(m.churn, Some(ChurnLevel::High), "{m:?}"),
            Kind::Prospect => assert!(m.recency_days.is_none() && m.r == 0 && m.churn.is_none()),
            _ => {}
        }
        assert!(m.ltv_minor >= 0 && (1..=5).contains(&m.f) == (m.r > 0));
    }
    // Home stores come from the store counts.
    assert_eq!(seg.members[4].home_store.as_deref(), Some("store-1"));
    let total: u64 = seg.groups.values().map(|g| g.members).sum();
    assert_eq!(total, 300);
}

#[test]
fn kmeans_clusters_are_deterministic_and_fall_back_to_rfm_with_few_members() {
    let (data, _) = population(2, 40);
    let cfg = SegmentConfig::default();
    let a = segments::compute(&data, AS_OF, &cfg).unwrap();
    let b = segments::compute(&data, AS_OF, &cfg).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.method, Method::Kmeans);
    assert_eq!(a.clusters.len(), cfg.clusters);
    let clustered = a.members.iter().filter(|m| m.cluster.is_some()).count() as u64;
    assert_eq!(clustered, a.clusters.iter().map(|c| c.members).sum::<u64>());
    // The regulars' cluster is named for its scores.
    assert!(
        a.clusters
            .iter()
            .any(|c| matches!(c.group, Group::Champions | Group::Loyal)),
        "{:?}",
        a.clusters
    );
    let (few, _) = population(3, 5);
    let f = segments::compute(&few, AS_OF, &cfg).unwrap();
    assert_eq!(f.method, Method::Rfm);
    assert!(f.clusters.is_empty() && f.members.iter().all(|m| m.cluster.is_none()));
}

#[test]
fn equal_values_share_a_score_whatever_the_member_ids() {
    let mut data = MemberData::default();
    for i in 0..20u32 {
        data.members.push(format!("{i:064x}"));
        data.days.push(MemberDay {
            member: i,
            day: AS_OF - 10,
            visits: 1,
            allocated: 0,
            gross: 1_000,
            discount: 0,
            points: 0,
        });
    }
    let seg = segments::compute(&data, AS_OF, &SegmentConfig::default()).unwrap();
    let first = (seg.members[0].r, seg.members[0].f, seg.members[0].m);
    assert!(seg.members.iter().all(|m| (m.r, m.f, m.m) == first));
}

#[test]
fn malformed_segment_settings_are_refused_by_name() {
    let bad = [
        SegmentConfig {
            window_days: 0,
            ..SegmentConfig::default()
        },
        SegmentConfig {
            clusters: 1,
            ..SegmentConfig::default()
        },
        SegmentConfig {
            clusters: 13,
            ..SegmentConfig::default()
        },
        SegmentConfig {
            min_cluster_members: 10,
            ..SegmentConfig::default()
        },
    ];
    let want = ["window_days", "clusters", "clusters", "min_cluster_members"];
    for (cfg, field) in bad.iter().zip(want) {
        let err = segments::compute(&MemberData::default(), AS_OF, cfg)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(field), "{err}");
    }
    assert!(Group::parse("champions").is_ok());
    assert!(
        Group::parse("vips")
            .unwrap_err()
            .to_string()
            .contains("known: champions")
    );
}

#[test]
fn the_propensity_model_beats_the_base_rate_and_is_calibrated_on_held_out_allocations() {
    let (data, who) = population(4, 120);
    let model = propensity::train(&data, &offers(), AS_OF, &PropensityConfig::default()).unwrap();
    assert_eq!(
        model.method,
        PropensityMethod::Logistic,
        "{:?}",
        model.fallback_reason
    );
    let q = model.quality.clone().unwrap();
    assert!(q.holdout > 100, "{q:?}");
    assert!(q.brier < q.brier_base_rate * 0.9, "{q:?}");
    // Calibrated: across the held-out allocations, predicted and observed agree per bin
    // with enough samples.
    for (p, y, n) in &q.reliability {
        if *n >= 40 {
            assert!(
                (p - y).abs() < 0.12,
                "bin {p:.2} observed {y:.2} of {n}: {q:?}"
            );
        }
    }
    // A regular is likelier to redeem than a lapsed member, and percent beats fixed.
    let days = propensity::days_by_member(&data);
    let outs = propensity::outcomes_by_member(&data);
    let h = |m: u32| {
        propensity::history(
            days.get(&m).copied().unwrap_or(&[]),
            outs.get(&m).map(Vec::as_slice).unwrap_or(&[]),
            AS_OF,
        )
    };
    let (regular, lapsed) = (
        who.iter().position(|k| *k == Kind::Regular).unwrap(),
        who.iter().position(|k| *k == Kind::Lapsed).unwrap(),
    );
    let pct = offers()["percent-0"];
    let fixed = offers()["fixed-1"];
    let (pr, pl) = (
        model.predict(&h(regular as u32), &pct),
        model.predict(&h(lapsed as u32), &pct),
    );
    assert!(pr > pl + 0.3, "regular {pr:.2}, lapsed {pl:.2}");
    assert!(model.predict(&h(regular as u32), &pct) > model.predict(&h(regular as u32), &fixed));
    // Deterministic.
    assert_eq!(
        model,
        propensity::train(&data, &offers(), AS_OF, &PropensityConfig::default()).unwrap()
    );
}

#[test]
fn propensity_falls_back_to_the_rule_with_little_or_one_sided_history() {
    let (small, _) = population(5, 4);
    let m = propensity::train(&small, &offers(), AS_OF, &PropensityConfig::default()).unwrap();
    assert_eq!(m.method, PropensityMethod::Rule);
    assert!(
        m.fallback_reason
            .as_deref()
            .unwrap()
            .contains("fewer than 200"),
        "{m:?}"
    );
    let (mut all, _) = population(6, 60);
    for o in &mut all.outcomes {
        o.redeemed_day = None;
    }
    let m = propensity::train(&all, &offers(), AS_OF, &PropensityConfig::default()).unwrap();
    assert_eq!(m.method, PropensityMethod::Rule);
    assert!(
        m.fallback_reason
            .as_deref()
            .unwrap()
            .contains("fewer than 10 of one outcome"),
        "{m:?}"
    );
    // The rule: the member's own rate shrunk to the base rate.
    let h = propensity::History {
        allocated: 8,
        redeemed: 0,
        ..propensity::History::default()
    };
    let p = m.predict(&h, &offers()["percent-0"]);
    assert!(p < 0.05, "{p}");
    let bad = PropensityConfig {
        horizon_days: 0,
        ..PropensityConfig::default()
    };
    assert!(
        propensity::train(&all, &offers(), AS_OF, &bad)
            .unwrap_err()
            .to_string()
            .starts_with("horizon_days")
    );
}

fn candidate(segment: &str, members: u64, propensity: f64, discount: u64, order: u64) -> Candidate {
    Candidate {
        segment: segment.into(),
        members,
        propensity,
        discount_minor: discount,
        order_minor: order,
    }
}

fn limits(budget: u64, stock: Option<u64>, objective: Objective) -> Limits {
    Limits {
        budget_minor: budget,
        stock,
        max_share_bps: 10_000,
        margin_bps: 3_000,
        objective,
    }
}

#[test]
fn the_budget_split_respects_every_limit_and_beats_greedy_when_two_limits_bind() {
    // Greedy by redemptions per unit of cost picks the cheap segment first and runs out of
    // codes; the program spends the codes where they redeem most.
    let cands = [
        candidate("cheap", 1_000, 0.2, 100, 5_000),
        candidate("keen", 1_000, 0.8, 500, 5_000),
    ];
    let l = limits(100_000, Some(600), Objective::Redemptions);
    let s = budget::split(&cands, &l).unwrap();
    assert_eq!(s.method, budget::Method::Lp);
    assert!(s.redemptions > s.greedy_objective + 50.0, "{s:?}");
    check_limits(&cands, &l, &s);
    // Margin: a segment whose discount exceeds its margin gets nothing.
    let cands = [
        candidate("thin", 500, 0.9, 2_000, 4_000),
        candidate("rich", 500, 0.5, 500, 20_000),
    ];
    let l = limits(1_000_000, None, Objective::Margin);
    let s = budget::split(&cands, &l).unwrap();
    assert_eq!(s.shares[0].coupons, 0, "{s:?}");
    assert_eq!(s.shares[1].coupons, 500);
    check_limits(&cands, &l, &s);
    // The share cap keeps one segment from taking it all.
    let l = Limits {
        max_share_bps: 2_500,
        ..limits(10_000, None, Objective::Redemptions)
    };
    let cands = [
        candidate("a", 10_000, 0.5, 100, 1_000),
        candidate("b", 10_000, 0.4, 100, 1_000),
    ];
    let s = budget::split(&cands, &l).unwrap();
    check_limits(&cands, &l, &s);
    assert!(s.shares.iter().all(|x| x.cost_minor <= 2_500), "{s:?}");
}

fn check_limits(cands: &[Candidate], l: &Limits, s: &budget::Split) {
    let cost: f64 = cands
        .iter()
        .zip(&s.shares)
        .map(|(c, x)| c.propensity * c.discount_minor as f64 * x.coupons as f64)
        .sum();
    assert!(
        cost <= l.budget_minor as f64 + 1e-6,
        "cost {cost} over {}",
        l.budget_minor
    );
    if let Some(stock) = l.stock {
        assert!(s.shares.iter().map(|x| x.coupons).sum::<u64>() <= stock);
    }
    for (c, x) in cands.iter().zip(&s.shares) {
        assert!(x.coupons <= c.members);
    }
}

#[test]
fn bad_budget_limits_are_refused() {
    let cands = [candidate("a", 10, 0.5, 100, 1_000)];
    for (l, want) in [
        (limits(0, None, Objective::Redemptions), "budget"),
        (
            Limits {
                max_share_bps: 0,
                ..limits(1, None, Objective::Redemptions)
            },
            "max share",
        ),
        (
            Limits {
                margin_bps: 10_001,
                ..limits(1, None, Objective::Margin)
            },
            "margin",
        ),
    ] {
        let err = budget::split(&cands, &l).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    let nan = [candidate("a", 10, f64::NAN, 100, 1_000)];
    assert!(budget::split(&nan, &limits(1, None, Objective::Redemptions)).is_err());
}
