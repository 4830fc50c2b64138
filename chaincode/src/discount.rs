//! Discount arithmetic, in integer minor units.
//!
//! The one rounding rule: a percentage discount is `floor(eligible × bps / 10,000)`, i.e.
//! rounded down to the minor unit (in the merchant's favour, never more than the
//! advertised rate). The result is then capped by the pool's `max_discount_minor` and by
//! the eligible amount itself, so a discount never exceeds what is being paid for. All
//! intermediate products are computed in `u128`, so no input can overflow.

use crate::ids::Category;
use crate::reject::{RejectReason, Rejection, reject};
use crate::types::{Discount, Order, PoolSpec};

/// Basis points in 100 %.
pub const BPS_PER_UNIT: u32 = 10_000;

/// What a coupon is worth on an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The order amount the discount applies to, minor units.
    pub eligible_minor: u64,
    /// The discount, minor units.
    pub discount_minor: u64,
}

/// The discount for an eligible amount: percent rounded down, then the caps.
pub fn discount_for(
    discount: &Discount,
    max_discount_minor: Option<u64>,
    eligible_minor: u64,
) -> u64 {
    let raw = match *discount {
        Discount::Percent { bps } => {
            let product = u128::from(eligible_minor) * u128::from(bps.min(BPS_PER_UNIT));
            // ≤ eligible_minor because bps ≤ 10,000, so the narrowing cannot fail.
            u64::try_from(product / u128::from(BPS_PER_UNIT)).unwrap_or(eligible_minor)
        }
        Discount::Fixed { amount_minor } => amount_minor,
    };
    raw.min(max_discount_minor.unwrap_or(u64::MAX))
        .min(eligible_minor)
}

/// The eligible amount of `order` under `excluded` categories, checked for consistency.
pub fn eligible_amount(order: &Order, excluded: &[Category]) -> Result<u64, Rejection> {
    let mut lines_total: u64 = 0;
    let mut excluded_total: u64 = 0;
    for line in &order.lines {
        lines_total = lines_total
            .checked_add(line.amount_minor)
            .ok_or_else(|| Rejection::new(RejectReason::Overflow, "order line amounts overflow"))?;
        if excluded.contains(&line.category) {
            excluded_total += line.amount_minor; // ≤ lines_total, which did not overflow
        }
    }
    if lines_total > order.total_minor {
        return reject(
            RejectReason::InvalidInput,
            format!(
                "order lines sum to {lines_total}, more than the order total {}",
                order.total_minor
            ),
        );
    }
    Ok(order.total_minor - excluded_total)
}

/// Checks the order against the pool's amount rules and prices the coupon.
pub fn quote(spec: &PoolSpec, order: &Order) -> Result<Quote, Rejection> {
    if order.currency != spec.currency {
        return reject(
            RejectReason::CurrencyMismatch,
            format!(
                "order is in {}, the pool in {}",
                order.currency, spec.currency
            ),
        );
    }
    let eligible_minor = eligible_amount(order, &spec.excluded_categories)?;
    if eligible_minor == 0 && order.total_minor > 0 {
        return reject(
            RejectReason::CategoryExcluded,
            "every amount of the order is in an excluded category",
        );
    }
    if eligible_minor < spec.min_spend_minor {
        return reject(
            RejectReason::MinSpendNotMet,
            format!(
                "eligible amount {eligible_minor} is below the minimum spend {}",
                spec.min_spend_minor
            ),
        );
    }
    Ok(Quote {
        eligible_minor,
        discount_minor: discount_for(&spec.discount, spec.max_discount_minor, eligible_minor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percent_rounds_down_then_caps() {
        let ten_pct = Discount::Percent { bps: 1_000 };
        assert_eq!(discount_for(&ten_pct, None, 1_999), 199); // 199.9 → 199
        assert_eq!(discount_for(&ten_pct, Some(150), 1_999), 150);
        assert_eq!(discount_for(&Discount::Percent { bps: 1 }, None, 9_999), 0);
        assert_eq!(
            discount_for(&Discount::Percent { bps: 10_000 }, None, 123),
            123
        );
        assert_eq!(
            discount_for(&Discount::Fixed { amount_minor: 500 }, None, 300),
            300
        );
        assert_eq!(
            discount_for(&Discount::Fixed { amount_minor: 500 }, Some(400), 1_000),
            400
        );
        assert_eq!(
            discount_for(&Discount::Percent { bps: 9_999 }, None, u64::MAX),
            u64::try_from(u128::from(u64::MAX) * 9_999 / 10_000).unwrap()
        );
    }

    proptest! {
        #[test]
        fn discount_never_exceeds_eligible_or_cap(
            eligible in any::<u64>(), bps in 0u32..=20_000, fixed in any::<u64>(),
            cap in proptest::option::of(any::<u64>()),
        ) {
            for d in [Discount::Percent { bps }, Discount::Fixed { amount_minor: fixed }] {
                let got = discount_for(&d, cap, eligible);
                prop_assert!(got <= eligible);
                prop_assert!(got <= cap.unwrap_or(u64::MAX));
                if let Discount::Percent { bps } = d {
                    // Rounded down: got × 10,000 ≤ eligible × bps < (got + 1) × 10,000.
                    let exact = u128::from(eligible) * u128::from(bps.min(10_000));
                    prop_assert!(u128::from(got) * 10_000 <= exact);
                }
            }
        }
    }
}
