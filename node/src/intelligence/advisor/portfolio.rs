//! The portfolio review: per pool, its redemption rate, discount cost, order value with
//! coupons and growth against the previous period, and its BCG quadrant with the action
//! it suggests.
//!
//! The quadrant's axes, adapted from market share and market growth: **share** is the
//! pool's redemption rate (redeemed ÷ allocated for unique codes, ÷ the cap for a shared
//! code) against the median rate of the org's pools that allocated anything this period;
//! **growth** is the change of its redemptions against the previous period of equal
//! length (at least [`GROWTH_BP`], or redemptions where there were none). All figures are
//! integers: basis points and minor units.

use crate::analytics::report::KpiRow;
use couponcactus_chaincode::types::{PoolKind, PoolRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Growth counted as growing: 10 %.
pub const GROWTH_BP: i64 = 1_000;

/// A BCG quadrant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    /// High rate, growing.
    Star,
    /// High rate, not growing.
    CashCow,
    /// Low rate, growing.
    QuestionMark,
    /// Low rate, not growing.
    Dog,
}

impl Quadrant {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Quadrant::Star => "star",
            Quadrant::CashCow => "cash_cow",
            Quadrant::QuestionMark => "question_mark",
            Quadrant::Dog => "dog",
        }
    }

    /// What the quadrant suggests doing.
    pub fn action(self) -> &'static str {
        match self {
            Quadrant::Star => {
                "invest: raise its cap or extend its validity; it redeems well and is growing"
            }
            Quadrant::CashCow => {
                "keep it and try a shallower discount: it redeems well but stopped growing"
            }
            Quadrant::QuestionMark => {
                "target it: allocate it to the segments likeliest to redeem; it grows but few redeem"
            }
            Quadrant::Dog => "retire or rework it: few redeem it and it is not growing",
        }
    }
}

/// One pool's review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolReview {
    /// The pool id.
    pub pool: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// ISO currency of its amounts.
    pub currency: String,
    /// Coupons allocated this period.
    pub allocated: u64,
    /// Redemptions this period (net of rollbacks in it).
    pub redeemed: u64,
    /// Redemptions in the previous period.
    pub redeemed_previous: u64,
    /// Redemption rate, basis points (`None`: nothing to divide by).
    pub redemption_rate_bp: Option<u64>,
    /// Discount granted this period (net of rollbacks), minor units.
    pub discount_minor: i64,
    /// Order totals of its redemptions this period, minor units.
    pub gross_minor: i64,
    /// Average order with the coupon, minor units.
    pub average_order_minor: Option<i64>,
    /// Discount ÷ order totals, basis points.
    pub discount_share_bp: Option<i64>,
    /// Redemptions against the previous period, basis points (`None`: none before).
    pub growth_bp: Option<i64>,
    /// The quadrant.
    pub quadrant: Quadrant,
    /// What it suggests.
    pub action: String,
}

/// The KPI row of each pool (grouped by pool).
fn by_pool(rows: &[KpiRow]) -> BTreeMap<&str, &KpiRow> {
    rows.iter()
        .filter_map(|r| r.group.get("pool").map(|p| (p.as_str(), r)))
        .collect()
}

/// Reviews `pools` from this period's and the previous period's KPI rows (grouped by
/// pool).
pub fn review(pools: &[PoolRecord], current: &[KpiRow], previous: &[KpiRow]) -> Vec<PoolReview> {
    let (cur, prev) = (by_pool(current), by_pool(previous));
    let mut out: Vec<PoolReview> = pools
        .iter()
        .map(|p| {
            figures(
                p,
                cur.get(p.id.as_str()).copied(),
                prev.get(p.id.as_str()).copied(),
            )
        })
        .collect();
    let mut rates: Vec<u64> = out
        .iter()
        .filter(|r| r.allocated > 0 || r.redeemed > 0)
        .filter_map(|r| r.redemption_rate_bp)
        .collect();
    rates.sort_unstable();
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0);
    for r in &mut out {
        let high = r.redemption_rate_bp.is_some_and(|x| x > 0 && x >= median);
        let growing = match r.growth_bp {
            Some(g) => g >= GROWTH_BP,
            None => r.redeemed > 0,
        };
        r.quadrant = match (high, growing) {
            (true, true) => Quadrant::Star,
            (true, false) => Quadrant::CashCow,
            (false, true) => Quadrant::QuestionMark,
            (false, false) => Quadrant::Dog,
        };
        r.action = r.quadrant.action().to_string();
    }
    out
}

fn figures(p: &PoolRecord, cur: Option<&KpiRow>, prev: Option<&KpiRow>) -> PoolReview {
    let allocated = cur.map_or(0, |r| r.allocated);
    let redeemed = cur.map_or(0, |r| r.redeemed.saturating_sub(r.rolled_back));
    let redeemed_previous = prev.map_or(0, |r| r.redeemed.saturating_sub(r.rolled_back));
    let currency = p.spec.currency.to_string();
    let money = cur.and_then(|r| r.money.iter().find(|m| m.currency == currency));
    let discount_minor = money.map_or(0, |m| m.net_discount_minor);
    let gross_minor = money.map_or(0, |m| m.gross_order_minor);
    let base = match p.spec.kind {
        PoolKind::UniqueCodes => allocated,
        PoolKind::SharedCode => p.spec.total_cap,
    };
    PoolReview {
        pool: p.id.to_string(),
        name: p.spec.name.clone(),
        status: p.status.name().to_string(),
        currency,
        allocated,
        redeemed,
        redeemed_previous,
        redemption_rate_bp: (base > 0).then(|| (redeemed.min(base) * 10_000) / base),
        discount_minor,
        gross_minor,
        average_order_minor: money.and_then(|m| m.average_basket_minor),
        discount_share_bp: (gross_minor > 0).then(|| discount_minor * 10_000 / gross_minor),
        growth_bp: (redeemed_previous > 0).then(|| {
            let delta = i128::from(redeemed) - i128::from(redeemed_previous);
            i64::try_from(delta * 10_000 / i128::from(redeemed_previous)).unwrap_or(i64::MAX)
        }),
        quadrant: Quadrant::Dog,
        action: String::new(),
    }
}
