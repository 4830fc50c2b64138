//! The budget split: how many coupons of one offer to send to each segment so that the
//! expected redemptions (or the expected margin) are largest while the expected discount
//! cost stays within a budget, the coupons within a code stock, and no segment takes more
//! than a share of the budget.
//!
//! With `x_s` coupons for segment `s` of `n_s` members, each redeemed with chance `p_s`
//! (the segment's mean propensity) at a discount `d_s` on an order of `v_s`:
//!
//! ```text
//! maximise   Σ x_s·p_s                      (redemptions)
//!        or  Σ x_s·p_s·(v_s·margin − d_s)   (margin)
//! subject to Σ x_s·p_s·d_s ≤ budget,   Σ x_s ≤ stock,
//!            x_s·p_s·d_s ≤ max_share·budget,   0 ≤ x_s ≤ n_s
//! ```
//!
//! Two resource rows make greedy by ratio not optimal in general, so the linear program is
//! solved with microlp (a maintained pure-Rust simplex: no time limit, so the answer does
//! not depend on the machine's speed), rounded down to whole coupons, and what rounding
//! freed is spent greedily. When the solver fails the greedy split answers
//! ([`Method::Greedy`]); both are reported so the gain of the program is visible.
#![allow(clippy::float_arithmetic)] // the linear program is solved in floating point

use super::IntelError;
use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
use serde::{Deserialize, Serialize};

/// Most segments one split takes.
pub const MAX_SEGMENTS: usize = 64;

/// What the split maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Expected redemptions.
    Redemptions,
    /// Expected margin: order value × margin minus the discount, per redemption.
    Margin,
}

/// One segment the budget may go to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The segment's name.
    pub segment: String,
    /// Members who can get a coupon.
    pub members: u64,
    /// Chance a coupon is redeemed (0–1).
    pub propensity: f64,
    /// Discount per redemption, minor units.
    pub discount_minor: u64,
    /// Order total per redemption, minor units.
    pub order_minor: u64,
}

/// The split's limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Expected discount cost allowed, minor units (> 0).
    pub budget_minor: u64,
    /// Most coupons (codes in stock; `None`: no limit).
    pub stock: Option<u64>,
    /// Most of the budget one segment may take, basis points (1–10,000).
    pub max_share_bps: u32,
    /// The merchant's margin on an order, basis points (margin objective).
    pub margin_bps: u32,
    /// What to maximise.
    pub objective: Objective,
}

impl Limits {
    /// Refuses values out of range, naming the field.
    pub fn validate(&self) -> Result<(), IntelError> {
        if self.budget_minor == 0 {
            return Err(IntelError::Invalid("budget must be more than 0".into()));
        }
        if !(1..=10_000).contains(&self.max_share_bps) {
            return Err(IntelError::Invalid(format!(
                "max share must be 1 to 10000 basis points, not {}",
                self.max_share_bps
            )));
        }
        if self.margin_bps > 10_000 {
            return Err(IntelError::Invalid(format!(
                "margin must be at most 10000 basis points, not {}",
                self.margin_bps
            )));
        }
        Ok(())
    }
}

/// Which way the split was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The linear program.
    Lp,
    /// Greedy by value per unit of cost (the solver failed).
    Greedy,
}

/// Coupons for one segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// The segment.
    pub segment: String,
    /// Coupons to send.
    pub coupons: u64,
    /// Expected redemptions.
    pub redemptions: f64,
    /// Expected discount cost, minor units.
    pub cost_minor: u64,
    /// Expected margin, minor units (may be negative).
    pub margin_minor: i64,
}

/// A split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// LP or greedy.
    pub method: Method,
    /// Why greedy answered, when it did.
    pub fallback_reason: Option<String>,
    /// Per segment, in the candidates' order.
    pub shares: Vec<Share>,
    /// Sum of expected redemptions.
    pub redemptions: f64,
    /// Sum of expected costs, minor units.
    pub cost_minor: u64,
    /// Sum of expected margins, minor units.
    pub margin_minor: i64,
    /// The greedy split's objective value, for comparison.
    pub greedy_objective: f64,
}

/// Per-coupon figures of a candidate: (value, cost).
fn per_coupon(c: &Candidate, l: &Limits) -> (f64, f64) {
    let p = c.propensity.clamp(0.0, 1.0);
    let cost = p * c.discount_minor as f64;
    let value = match l.objective {
        Objective::Redemptions => p,
        Objective::Margin => {
            p * (c.order_minor as f64 * f64::from(l.margin_bps) / 10_000.0
                - c.discount_minor as f64)
        }
    };
    (value, cost)
}

/// Most coupons of `c` the per-segment limits allow.
fn cap(c: &Candidate, l: &Limits) -> f64 {
    let (_, cost) = per_coupon(c, l);
    let share = l.budget_minor as f64 * f64::from(l.max_share_bps) / 10_000.0;
    let by_share = if cost > 0.0 {
        (share / cost).floor()
    } else {
        f64::INFINITY
    };
    (c.members as f64).min(by_share)
}

/// Splits `limits.budget_minor` across `candidates`.
pub fn split(candidates: &[Candidate], limits: &Limits) -> Result<Split, IntelError> {
    limits.validate()?;
    if candidates.len() > MAX_SEGMENTS {
        return Err(IntelError::Invalid(format!(
            "{} segments: at most {MAX_SEGMENTS}",
            candidates.len()
        )));
    }
    if candidates.iter().any(|c| !c.propensity.is_finite()) {
        return Err(IntelError::Invalid(
            "a segment's propensity is not a number".into(),
        ));
    }
    let greedy = greedy(candidates, limits, vec![0; candidates.len()]);
    let greedy_objective = objective(candidates, limits, &greedy);
    let (method, why, coupons) = match lp(candidates, limits) {
        Ok(x) => (Method::Lp, None, greedy_fill(candidates, limits, x)),
        Err(e) => (Method::Greedy, Some(e), greedy),
    };
    Ok(finish(
        candidates,
        limits,
        method,
        why,
        coupons,
        greedy_objective,
    ))
}

fn objective(candidates: &[Candidate], l: &Limits, x: &[u64]) -> f64 {
    candidates
        .iter()
        .zip(x)
        .map(|(c, &n)| per_coupon(c, l).0 * n as f64)
        .sum()
}

/// The LP's answer rounded down to whole coupons.
fn lp(candidates: &[Candidate], l: &Limits) -> Result<Vec<u64>, String> {
    let mut p = Problem::new(OptimizationDirection::Maximize);
    let vars: Vec<_> = candidates
        .iter()
        .map(|c| p.add_var(per_coupon(c, l).0, (0.0, cap(c, l))))
        .collect();
    let mut budget = LinearExpr::empty();
    let mut stock = LinearExpr::empty();
    for (v, c) in vars.iter().zip(candidates) {
        budget.add(*v, per_coupon(c, l).1);
        stock.add(*v, 1.0);
    }
    p.add_constraint(budget, ComparisonOp::Le, l.budget_minor as f64);
    if let Some(s) = l.stock {
        p.add_constraint(stock, ComparisonOp::Le, s as f64);
    }
    let outcome = p
        .solve()
        .map_err(|e| format!("the linear program failed: {e}"))?;
    let solution = outcome
        .solution()
        .ok_or("the linear program stopped without a solution")?;
    Ok(vars
        .iter()
        .map(|v| solution.var_value(*v).max(0.0).floor() as u64)
        .collect())
}

/// Adds coupons to `x` greedily by value per unit of cost while the limits allow.
fn greedy(candidates: &[Candidate], l: &Limits, mut x: Vec<u64>) -> Vec<u64> {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| per_coupon(&candidates[i], l).0 > 0.0)
        .collect();
    let ratio = |i: usize| {
        let (v, c) = per_coupon(&candidates[i], l);
        if c > 0.0 { v / c } else { f64::INFINITY }
    };
    order.sort_by(|&a, &b| ratio(b).total_cmp(&ratio(a)).then(a.cmp(&b)));
    let mut spent: f64 = candidates
        .iter()
        .zip(&x)
        .map(|(c, &n)| per_coupon(c, l).1 * n as f64)
        .sum();
    let mut used: u64 = x.iter().sum();
    for i in order {
        let (_, cost) = per_coupon(&candidates[i], l);
        let room_budget = if cost > 0.0 {
            ((l.budget_minor as f64 - spent) / cost).floor().max(0.0)
        } else {
            f64::INFINITY
        };
        let room_stock = l
            .stock
            .map_or(f64::INFINITY, |s| s.saturating_sub(used) as f64);
        let room_cap = (cap(&candidates[i], l) - x[i] as f64).max(0.0);
        let add = room_budget.min(room_stock).min(room_cap).max(0.0) as u64;
        x[i] += add;
        spent += cost * add as f64;
        used += add;
    }
    x
}

/// What rounding the LP down left is spent greedily.
fn greedy_fill(candidates: &[Candidate], l: &Limits, x: Vec<u64>) -> Vec<u64> {
    greedy(candidates, l, x)
}

fn finish(
    candidates: &[Candidate],
    l: &Limits,
    method: Method,
    fallback_reason: Option<String>,
    coupons: Vec<u64>,
    greedy_objective: f64,
) -> Split {
    let shares: Vec<Share> = candidates
        .iter()
        .zip(&coupons)
        .map(|(c, &n)| {
            let p = c.propensity.clamp(0.0, 1.0);
            let redemptions = p * n as f64;
            let order = redemptions * c.order_minor as f64 * f64::from(l.margin_bps) / 10_000.0;
            let cost = redemptions * c.discount_minor as f64;
            Share {
                segment: c.segment.clone(),
                coupons: n,
                redemptions,
                cost_minor: cost.round() as u64,
                margin_minor: (order - cost).round() as i64,
            }
        })
        .collect();
    Split {
        method,
        fallback_reason,
        redemptions: shares.iter().map(|s| s.redemptions).sum(),
        cost_minor: shares.iter().map(|s| s.cost_minor).sum(),
        margin_minor: shares.iter().map(|s| s.margin_minor).sum(),
        shares,
        greedy_objective,
    }
}
