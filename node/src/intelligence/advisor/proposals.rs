//! Proposed offers: the segment × incentive pairs the org's pools do not reach, each
//! turned into a complete pool spec, validated by the chaincode's own spec checks.
//!
//! A pair is **covered** when at least half the segment's members were allocated a pool
//! of that incentive in the period. Each gap gets the depth the segment's playbook gives
//! ([`depth_bps`]: deeper for members slipping away, shallower for the ones who come
//! anyway) and is scored by its expected net order value: members × mean propensity ×
//! (average order − discount). The best gaps become proposals, one per segment first;
//! every field of the spec is clamped to a sane range before the chain's checks run, and
//! a spec the checks refuse is left out (and logged), never shown.
#![allow(clippy::float_arithmetic)] // propensities are floating point; money stays integer

use super::super::propensity::{
    History, Incentive, Model, Offer, days_by_member, history, outcomes_by_member,
};
use super::super::segments::{Group, Segments};
use crate::analytics::members::MemberData;
use couponcactus_chaincode::execute::check_spec_fields;
use couponcactus_chaincode::types::{Currency, Discount, PoolKind, PoolSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Fewest members a segment needs for a proposal.
pub const MIN_SEGMENT_MEMBERS: u64 = 5;
/// Days a proposed pool runs.
pub const VALID_DAYS: u64 = 30;
/// Most coupons a proposed pool caps at.
pub const MAX_CAP: u64 = 1_000_000;
const DAY_MS: u64 = 86_400_000;

/// The discount depth the playbook gives a segment, basis points.
pub fn depth_bps(group: Group) -> u32 {
    match group {
        Group::Champions | Group::Loyal => 1_000,
        Group::PotentialLoyalist | Group::New | Group::Promising | Group::NeedAttention => 1_500,
        Group::AboutToSleep | Group::AtRisk | Group::Prospect => 2_000,
        Group::CannotLose | Group::Hibernating => 2_500,
        Group::Dormant => 3_000,
    }
}

/// What the playbook calls the offer.
fn purpose(group: Group) -> &'static str {
    match group {
        Group::Champions | Group::Loyal => "Thank",
        Group::PotentialLoyalist | Group::Promising | Group::NeedAttention => "Bring back sooner",
        Group::New => "Win a second visit from",
        Group::Prospect => "Win a first visit from",
        _ => "Win back",
    }
}

/// The numbers a proposal rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grounding {
    /// Members in the segment.
    pub members: u64,
    /// Of them, allocated a pool of this incentive in the period.
    pub covered: u64,
    /// Mean chance a member redeems the offer, basis points.
    pub propensity_bp: u32,
    /// Average order of the segment's visits, minor units.
    pub average_order_minor: i64,
    /// Median days since the segment's last visit.
    pub median_recency_days: Option<u32>,
    /// Expected redemptions if every member gets one.
    pub expected_redemptions: u64,
    /// Expected discount cost, minor units.
    pub expected_cost_minor: u64,
    /// Expected order value net of the discount, minor units.
    pub expected_net_minor: u64,
}

/// A proposed offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// `p1`, `p2`, … in rank order.
    pub id: String,
    /// The segment it is for.
    pub segment: Group,
    /// Percent or fixed.
    pub incentive: Incentive,
    /// One line.
    pub title: String,
    /// Why, with the numbers.
    pub rationale: String,
    /// The complete pool spec a person may adopt as a draft.
    pub spec: PoolSpec,
    /// The numbers behind it.
    pub grounding: Grounding,
}

/// What proposals are made from.
#[derive(Debug)]
pub struct Basis<'a> {
    /// The org's segments.
    pub segments: &'a Segments,
    /// Its member activity.
    pub data: &'a MemberData,
    /// The propensity model.
    pub model: &'a Model,
    /// Each pool's offer (by pool id).
    pub offers: &'a BTreeMap<String, Offer>,
    /// The currency of the proposed pools.
    pub currency: Currency,
    /// Block time "as of", ms.
    pub as_of_ms: u64,
    /// Period length, days.
    pub period_days: u32,
    /// The height the figures are at.
    pub height: u64,
}

/// One segment's members and their figures.
struct SegmentStats {
    members: Vec<u32>,
    average_order: i64,
    median_recency: Option<u32>,
}

fn stats(basis: &Basis<'_>) -> BTreeMap<Group, SegmentStats> {
    let mut by: BTreeMap<Group, (Vec<u32>, i64, i64, Vec<u32>)> = BTreeMap::new();
    let days = days_by_member(basis.data);
    for (i, m) in basis.segments.members.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let e = by.entry(m.group).or_default();
        e.0.push(i);
        for d in days
            .get(&i)
            .copied()
            .unwrap_or(&[])
            .iter()
            .filter(|d| d.visits > 0)
        {
            e.1 += d.gross;
            e.2 += d.visits;
        }
        e.3.extend(m.recency_days);
    }
    by.into_iter()
        .map(|(g, (members, gross, visits, mut rec))| {
            rec.sort_unstable();
            let average_order = if visits > 0 { gross / visits } else { 0 };
            (
                g,
                SegmentStats {
                    members,
                    average_order,
                    median_recency: rec.get(rec.len() / 2).copied(),
                },
            )
        })
        .collect()
}

/// The org's average order over every visit (the fallback for a segment without one).
fn org_average_order(data: &MemberData) -> i64 {
    let (g, v) = data.days.iter().fold((0i64, 0i64), |(g, v), d| {
        (g + d.gross.max(0), v + d.visits.max(0))
    });
    if v > 0 { g / v } else { 0 }
}

/// Members of each segment allocated a pool of each incentive in the period.
fn coverage(basis: &Basis<'_>) -> BTreeMap<(Group, Incentive), BTreeSet<u32>> {
    let from_day = u32::try_from(basis.as_of_ms / DAY_MS)
        .unwrap_or(u32::MAX)
        .saturating_sub(basis.period_days);
    let mut out: BTreeMap<(Group, Incentive), BTreeSet<u32>> = BTreeMap::new();
    for o in basis.data.outcomes.iter().filter(|o| o.day >= from_day) {
        let (Some(offer), Some(m)) = (
            basis.offers.get(&o.pool),
            basis.segments.members.get(o.member as usize),
        ) else {
            continue;
        };
        out.entry((m.group, offer.incentive))
            .or_default()
            .insert(o.member);
    }
    out
}

/// The proposals, best first, at most `limit` (one per segment before a second).
pub fn propose(basis: &Basis<'_>, limit: usize) -> Vec<Proposal> {
    let stats = stats(basis);
    let covered = coverage(basis);
    let org_order = org_average_order(basis.data).max(100);
    let (days, outs) = (days_by_member(basis.data), outcomes_by_member(basis.data));
    let as_of_day = u32::try_from(basis.as_of_ms / DAY_MS).unwrap_or(u32::MAX);
    // Each member's history as of the day after "as of" (everything known counts).
    let history_of = |m: &u32| {
        let mine = outs.get(m).map(Vec::as_slice).unwrap_or(&[]);
        history(days.get(m).copied().unwrap_or(&[]), mine, as_of_day + 1)
    };
    let mut gaps = Vec::new();
    for (group, s) in &stats {
        let n = s.members.len() as u64;
        if n < MIN_SEGMENT_MEMBERS {
            continue;
        }
        for incentive in [Incentive::Percent, Incentive::Fixed] {
            let reached = covered
                .get(&(*group, incentive))
                .map_or(0, |c| c.len() as u64);
            if reached * 2 >= n {
                continue;
            }
            let order = if s.average_order > 0 {
                s.average_order
            } else {
                org_order
            };
            gaps.push(gap(
                basis,
                &history_of,
                *group,
                s,
                incentive,
                order,
                reached,
            ));
        }
    }
    gaps.sort_by(|a, b| {
        b.grounding
            .expected_net_minor
            .cmp(&a.grounding.expected_net_minor)
            .then(a.segment.cmp(&b.segment))
            .then(a.incentive.cmp(&b.incentive))
    });
    pick(gaps, limit)
}

fn pick(gaps: Vec<Proposal>, limit: usize) -> Vec<Proposal> {
    let mut chosen: Vec<Proposal> = Vec::new();
    let mut rest = Vec::new();
    let mut seen = BTreeSet::new();
    for g in gaps {
        if seen.insert(g.segment) {
            chosen.push(g);
        } else {
            rest.push(g);
        }
    }
    chosen.truncate(limit);
    chosen.extend(rest.into_iter().take(limit.saturating_sub(chosen.len())));
    for (i, p) in chosen.iter_mut().enumerate() {
        p.id = format!("p{}", i + 1);
    }
    chosen
}

#[allow(clippy::too_many_arguments)] // one gap's inputs, each different
fn gap(
    basis: &Basis<'_>,
    history_of: &dyn Fn(&u32) -> History,
    group: Group,
    s: &SegmentStats,
    incentive: Incentive,
    order: i64,
    covered: u64,
) -> Proposal {
    let depth = depth_bps(group);
    let offer = Offer {
        incentive,
        depth_bps: depth,
        min_spend: incentive == Incentive::Fixed,
    };
    let p_sum: f64 = s
        .members
        .iter()
        .map(|m| basis.model.predict(&history_of(m), &offer))
        .sum();
    let n = s.members.len() as u64;
    let p = p_sum / n.max(1) as f64;
    let discount = (order.max(0) as u64) * u64::from(depth) / 10_000;
    let redemptions = (p * n as f64).round() as u64;
    let grounding = Grounding {
        members: n,
        covered,
        propensity_bp: (p * 10_000.0).round() as u32,
        average_order_minor: order,
        median_recency_days: s.median_recency,
        expected_redemptions: redemptions,
        expected_cost_minor: redemptions * discount,
        expected_net_minor: redemptions * (order.max(0) as u64).saturating_sub(discount),
    };
    let spec = spec_for(basis, group, incentive, depth, order, n);
    let (title, rationale) = texts(basis, group, incentive, &spec, &grounding);
    Proposal {
        id: String::new(),
        segment: group,
        incentive,
        title,
        rationale,
        spec,
        grounding,
    }
}

/// Minor units rounded to a whole 100 (a whole unit of two-decimal currencies), at least
/// 100.
fn round_unit(v: u64) -> u64 {
    (v.saturating_add(50) / 100 * 100).max(100)
}

fn spec_for(
    basis: &Basis<'_>,
    group: Group,
    incentive: Incentive,
    depth: u32,
    order: i64,
    members: u64,
) -> PoolSpec {
    let order = order.max(100) as u64;
    let (discount, max_discount, min_spend) = match incentive {
        Incentive::Percent => (
            Discount::Percent {
                bps: depth.clamp(100, 5_000),
            },
            Some(round_unit(order * u64::from(depth) * 2 / 10_000)),
            0,
        ),
        Incentive::Fixed => {
            let amount = round_unit(order * u64::from(depth) / 10_000).min(round_unit(order / 2));
            (
                Discount::Fixed {
                    amount_minor: amount,
                },
                None,
                round_unit(order),
            )
        }
    };
    let start = (basis.as_of_ms / DAY_MS + 1) * DAY_MS;
    let name = format!(
        "{} {} — {}",
        purpose(group),
        group_title(group),
        offer_text(&discount, basis.currency)
    );
    PoolSpec {
        name: name.chars().take(200).collect(),
        kind: PoolKind::UniqueCodes,
        currency: basis.currency,
        discount,
        max_discount_minor: max_discount,
        min_spend_minor: min_spend,
        valid_from_ms: start,
        valid_until_ms: start + VALID_DAYS * DAY_MS,
        total_cap: members.clamp(1, MAX_CAP),
        per_member_cap: 1,
        allowed_channels: Vec::new(),
        allowed_stores: Vec::new(),
        excluded_categories: Vec::new(),
        stacking_group: None,
        partner_orgs: Vec::new(),
        transferable: false,
        velocity: Vec::new(),
        requires_consent: None,
    }
}

fn group_title(g: Group) -> String {
    g.name().replace('_', " ")
}

fn money(v: u64, c: Currency) -> String {
    format!("{}.{:02} {c}", v / 100, v % 100)
}

fn offer_text(d: &Discount, c: Currency) -> String {
    match d {
        Discount::Percent { bps } => format!("{}.{:02} % off", bps / 100, bps % 100),
        Discount::Fixed { amount_minor } => format!("{} off", money(*amount_minor, c)),
    }
}

fn texts(
    basis: &Basis<'_>,
    g: Group,
    incentive: Incentive,
    spec: &PoolSpec,
    x: &Grounding,
) -> (String, String) {
    let title = format!(
        "{} {} {} members with {}",
        purpose(g),
        x.members,
        group_title(g),
        offer_text(&spec.discount, basis.currency)
    );
    let recency = match x.median_recency_days {
        None => "have not visited yet".to_string(),
        Some(0) => "visited today (median)".to_string(),
        Some(1) => "last visited yesterday (median)".to_string(),
        Some(d) => format!("last visited {d} days ago (median)"),
    };
    let plural = if x.expected_redemptions == 1 { "" } else { "s" };
    let rationale = format!(
        "{} {} members {}; {} of them got a {} coupon in the last {} days. Expected {} redemption{plural} (a {}.{:02} % chance per member) on orders of {}, costing {} (height {}).",
        x.members,
        group_title(g),
        recency,
        x.covered,
        incentive.name(),
        basis.period_days,
        x.expected_redemptions,
        x.propensity_bp / 100,
        x.propensity_bp % 100,
        money(x.average_order_minor.max(0) as u64, basis.currency),
        money(x.expected_cost_minor, basis.currency),
        basis.height,
    );
    (title, rationale)
}

/// Keeps the proposals whose spec the chaincode's checks accept.
pub fn validated(proposals: Vec<Proposal>) -> Vec<Proposal> {
    proposals
        .into_iter()
        .filter(|p| match check_spec_fields(&p.spec) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(proposal = %p.title, error = %e, "advisor proposal left out: its spec fails the chain's checks");
                false
            }
        })
        .collect()
}
