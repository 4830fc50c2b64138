//! Checkout planning (issue 19): how one order's coupons and a balance spend apply
//! together, and the stacking rules that decide whether they may.
//!
//! This module owns the order and the rules, as a pure function over values ([`plan`]):
//! each coupon arrives already priced on the order by its pool
//! ([`crate::discount::quote`]), and the plan says what each one takes, what the balance
//! pays and what is left to pay. Execution checks each coupon and the account, calls
//! [`plan`], and applies the plan's parts in one tx, all or nothing.
//!
//! **The documented order.** Coupons apply in the order the tx lists them, each taking
//! its quoted discount but never more than what is left of the order; the per-order
//! maximum discount stops the sum (a coupon that would add nothing past it is refused, so
//! no coupon is spent for nothing); then the balance pays at most what is left. What is
//! left after both is paid by other means and is the amount points are earned on.
//!
//! **Stacking.** Two coupons of one stacking group never apply together; a coupon whose
//! pool is not combinable with balances refuses a checkout that also spends a balance;
//! at most [`MAX_COUPONS`] coupons.

use crate::ids::PoolId;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Most coupons in one checkout.
pub const MAX_COUPONS: usize = 8;

/// A coupon as its pool priced it on the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouponLine {
    /// Its pool.
    pub pool: PoolId,
    /// The pool's stacking group (coupons of one group exclude each other).
    pub stacking_group: Option<String>,
    /// The discount its pool quoted on the order, minor units.
    pub discount_minor: u64,
    /// Whether the pool allows a balance spend in the same checkout.
    pub combinable_with_balance: bool,
}

/// Most pools in [`CheckoutRules::not_combinable_pools`].
pub const MAX_NOT_COMBINABLE: usize = 64;

/// What one checkout may do: part of an org's program, so the org that runs the program
/// sets the rules of the checkouts that spend its balances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CheckoutRules {
    /// Most discount from coupons on one order, minor units (`None`: no cap).
    pub max_order_discount_minor: Option<u64>,
    /// Minor units one point pays at checkout (0: points do not pay).
    pub point_value_minor: u64,
    /// Pools whose coupons never combine with a balance spend in one checkout (sorted,
    /// at most [`MAX_NOT_COMBINABLE`]).
    pub not_combinable_pools: Vec<PoolId>,
}

impl CheckoutRules {
    /// Checks the lists' bounds and order.
    pub fn validate(&self) -> Result<(), String> {
        let pools = &self.not_combinable_pools;
        if pools.len() > MAX_NOT_COMBINABLE || !pools.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!(
                "checkout: at most {MAX_NOT_COMBINABLE} not-combinable pools, sorted, no duplicates"
            ));
        }
        Ok(())
    }

    /// Whether coupons of `pool` may go with a balance spend.
    pub fn combinable(&self, pool: &PoolId) -> bool {
        self.not_combinable_pools.binary_search(pool).is_err()
    }
}

/// The plan of one checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What each coupon takes, in the tx's order.
    pub coupons: Vec<u64>,
    /// What the balance pays.
    pub balance_minor: u64,
    /// What is left to pay by other means (points are earned on it).
    pub net_minor: u64,
}

impl Plan {
    /// The coupons' total discount.
    pub fn discount_minor(&self) -> u64 {
        self.coupons.iter().sum()
    }
}

/// Why a checkout is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// More coupons than [`MAX_COUPONS`], or none and no balance spend.
    #[error("a checkout applies 1 to {MAX_COUPONS} coupons or a balance spend, got {0} coupons")]
    Shape(usize),
    /// Two coupons of one stacking group.
    #[error("coupons of pools {first} and {second} share stacking group {group:?}")]
    StackingConflict {
        /// The group.
        group: String,
        /// The earlier coupon's pool.
        first: PoolId,
        /// The later coupon's pool.
        second: PoolId,
    },
    /// A coupon whose pool does not combine with a balance spend.
    #[error("pool {0} is not combinable with a balance spend")]
    NotCombinable(PoolId),
    /// A coupon that adds nothing: the order is paid, or the order's maximum discount
    /// is reached.
    #[error("coupon of pool {pool} would add nothing ({why})")]
    AddsNothing {
        /// Its pool.
        pool: PoolId,
        /// Why.
        why: &'static str,
    },
    /// The balance spend is above what is left to pay.
    #[error("balance spend {requested} is more than the {left} left to pay")]
    Overpaid {
        /// Asked for.
        requested: u64,
        /// Left after the coupons.
        left: u64,
    },
}

/// Plans a checkout of an order of `total_minor`: see the module docs for the order and
/// the rules.
pub fn plan(
    total_minor: u64,
    coupons: &[CouponLine],
    rules: &CheckoutRules,
    balance_minor: u64,
) -> Result<Plan, CheckoutError> {
    if coupons.len() > MAX_COUPONS || (coupons.is_empty() && balance_minor == 0) {
        return Err(CheckoutError::Shape(coupons.len()));
    }
    check_stacking(coupons, balance_minor)?;
    let mut left = total_minor;
    let mut room = rules.max_order_discount_minor.unwrap_or(u64::MAX);
    let mut taken = Vec::with_capacity(coupons.len());
    for c in coupons {
        let take = c.discount_minor.min(left).min(room);
        if take == 0 {
            let why = if left == 0 || c.discount_minor == 0 {
                "the order is paid"
            } else {
                "the order's maximum discount is reached"
            };
            return Err(CheckoutError::AddsNothing {
                pool: c.pool.clone(),
                why,
            });
        }
        left -= take;
        room -= take;
        taken.push(take);
    }
    if balance_minor > left {
        return Err(CheckoutError::Overpaid {
            requested: balance_minor,
            left,
        });
    }
    Ok(Plan {
        coupons: taken,
        balance_minor,
        net_minor: left - balance_minor,
    })
}

fn check_stacking(coupons: &[CouponLine], balance_minor: u64) -> Result<(), CheckoutError> {
    for (i, c) in coupons.iter().enumerate() {
        if balance_minor > 0 && !c.combinable_with_balance {
            return Err(CheckoutError::NotCombinable(c.pool.clone()));
        }
        let Some(group) = &c.stacking_group else {
            continue;
        };
        if let Some(first) = coupons[..i]
            .iter()
            .find(|e| e.stacking_group.as_ref() == Some(group))
        {
            return Err(CheckoutError::StackingConflict {
                group: group.clone(),
                first: first.pool.clone(),
                second: c.pool.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn coupon(pool: &str, group: Option<&str>, discount_minor: u64) -> CouponLine {
        CouponLine {
            pool: PoolId::new(pool).unwrap(),
            stacking_group: group.map(String::from),
            discount_minor,
            combinable_with_balance: true,
        }
    }

    const NO_CAP: CheckoutRules = CheckoutRules {
        max_order_discount_minor: None,
        point_value_minor: 0,
        not_combinable_pools: Vec::new(),
    };

    #[test]
    fn coupons_apply_in_order_then_the_balance_pays_part_of_the_rest() {
        let coupons = [
            coupon("ten", None, 1_000),
            coupon("five", Some("food"), 500),
        ];
        let p = plan(10_000, &coupons, &NO_CAP, 3_000).unwrap();
        assert_eq!(p.coupons, vec![1_000, 500]);
        assert_eq!((p.balance_minor, p.net_minor), (3_000, 5_500));
        // A coupon never takes more than is left.
        let p = plan(1_200, &coupons, &NO_CAP, 0).unwrap();
        assert_eq!((p.coupons.clone(), p.net_minor), (vec![1_000, 200], 0));
    }

    #[test]
    fn stacking_rules_refuse_with_what_conflicts() {
        let same_group = [
            coupon("a", Some("food"), 100),
            coupon("b", Some("food"), 100),
        ];
        assert!(matches!(
            plan(1_000, &same_group, &NO_CAP, 0),
            Err(CheckoutError::StackingConflict { group, .. }) if group == "food"
        ));
        let mut solo = coupon("solo", None, 100);
        solo.combinable_with_balance = false;
        assert_eq!(
            plan(1_000, std::slice::from_ref(&solo), &NO_CAP, 0).map(|p| p.net_minor),
            Ok(900)
        );
        assert_eq!(
            plan(1_000, &[solo], &NO_CAP, 1),
            Err(CheckoutError::NotCombinable(PoolId::new("solo").unwrap()))
        );
        let cap = CheckoutRules {
            max_order_discount_minor: Some(150),
            ..CheckoutRules::default()
        };
        let two = [
            coupon("a", None, 100),
            coupon("b", None, 100),
            coupon("c", None, 100),
        ];
        assert!(matches!(
            plan(1_000, &two, &cap, 0),
            Err(CheckoutError::AddsNothing { why, .. }) if why.contains("maximum")
        ));
        assert_eq!(
            plan(1_000, &two[..2], &cap, 0).unwrap().coupons,
            vec![100, 50]
        );
        assert_eq!(
            plan(500, &[coupon("a", None, 100)], &NO_CAP, 401),
            Err(CheckoutError::Overpaid {
                requested: 401,
                left: 400
            })
        );
        assert_eq!(plan(500, &[], &NO_CAP, 0), Err(CheckoutError::Shape(0)));
        let nine: Vec<CouponLine> = (0..9).map(|i| coupon(&format!("p{i}"), None, 1)).collect();
        assert_eq!(plan(500, &nine, &NO_CAP, 0), Err(CheckoutError::Shape(9)));
    }

    proptest! {
        /// Any accepted plan pays the order exactly: discounts, balance and the rest add up
        /// to the total; no coupon takes more than quoted or nothing; the cap holds.
        #[test]
        fn an_accepted_plan_adds_up_and_keeps_the_rules(
            total in 0..100_000u64,
            quotes in prop::collection::vec((1..20_000u64, proptest::option::of(0..3u8)), 0..6),
            cap in proptest::option::of(0..30_000u64),
            balance in 0..50_000u64,
        ) {
            let coupons: Vec<CouponLine> = quotes
                .iter()
                .enumerate()
                .map(|(i, (d, g))| {
                    coupon(&format!("p{i}"), g.map(|g| format!("g{g}")).as_deref(), *d)
                })
                .collect();
            let rules = CheckoutRules { max_order_discount_minor: cap, ..CheckoutRules::default() };
            if let Ok(p) = plan(total, &coupons, &rules, balance) {
                prop_assert_eq!(p.discount_minor() + p.balance_minor + p.net_minor, total);
                for (take, c) in p.coupons.iter().zip(&coupons) {
                    prop_assert!(*take > 0 && *take <= c.discount_minor);
                }
                prop_assert!(p.discount_minor() <= cap.unwrap_or(u64::MAX));
                let groups: Vec<&String> = coupons.iter().filter_map(|c| c.stacking_group.as_ref()).collect();
                let unique: std::collections::BTreeSet<&&String> = groups.iter().collect();
                prop_assert_eq!(groups.len(), unique.len());
            }
        }
    }
}
