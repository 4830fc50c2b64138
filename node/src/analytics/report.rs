//! The answers of the analytics API: KPI rows, partner redemptions, budget burn,
//! rejections, redemption listings, and the chain position ([`Stamp`]) they were computed at.
//!
//! Counts are whole numbers; money is integer minor units of the row's currency (one
//! [`Money`] per currency); rates are exact fractions with basis points rounded down
//! ([`Rate`]); an average basket is rounded down to the minor unit.

use couponcactus_chaincode::block::Certificate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where an answer was computed: the chain position the analytics store covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stamp {
    /// The chain.
    pub chain_id: String,
    /// The height every counted event is at or below.
    pub height: u64,
    /// That block's hash (hex).
    pub block_hash: String,
    /// The state root after that block (hex).
    pub state_root: String,
    /// That block's time, ms since the Unix epoch.
    pub time_ms: u64,
    /// The last event counted (`evt_…`), if any.
    pub cursor: Option<String>,
    /// The latest checkpoint certificate at or above `height`, if one exists: its block's
    /// header chain leads back to `block_hash`.
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<Certificate>,
}

/// A rate as an exact fraction and in basis points (1/100 %), rounded down; `bp` is
/// absent when the denominator is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rate {
    /// Numerator.
    pub num: u64,
    /// Denominator.
    pub den: u64,
    /// `floor(num * 10000 / den)`.
    pub bp: Option<u64>,
}

impl Rate {
    /// `num / den`.
    pub fn of(num: u64, den: u64) -> Rate {
        let bp = (den > 0).then(|| {
            let v = u128::from(num) * 10_000 / u128::from(den);
            u64::try_from(v).unwrap_or(u64::MAX)
        });
        Rate { num, den, bp }
    }
}

/// Money KPIs of one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Redemptions in this currency.
    pub redemptions: u64,
    /// Sum of the order totals of those redemptions (before discount).
    pub gross_order_minor: i64,
    /// `gross_order_minor - discount_minor`: what customers paid.
    pub net_order_minor: i64,
    /// `floor(gross_order_minor / redemptions)`; absent without redemptions.
    pub average_basket_minor: Option<i64>,
    /// Discount granted by those redemptions.
    pub discount_minor: i64,
    /// Discount of the redemptions rolled back in the period.
    pub rolled_back_discount_minor: i64,
    /// `discount_minor - rolled_back_discount_minor`.
    pub net_discount_minor: i64,
}

/// KPIs of one group and period bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KpiRow {
    /// The group's values, by dimension name (`org`, `pool`, `store`, …; `""`: none).
    pub group: BTreeMap<String, String>,
    /// The period bucket (`2026-12-03T10:00Z`, `2026-12-03`, week's Monday `2026-11-30`,
    /// `2026-12`), absent for `period=total`.
    pub bucket: Option<String>,
    /// Codes issued.
    pub issued: u64,
    /// Coupons allocated.
    pub allocated: u64,
    /// Redemptions.
    pub redeemed: u64,
    /// Redemptions rolled back.
    pub rolled_back: u64,
    /// Coupons revoked.
    pub revoked: u64,
    /// Coupons transferred.
    pub transferred: u64,
    /// Txs refused on these pools.
    pub rejected: u64,
    /// Redemptions of these pools made by other orgs' terminals.
    pub partner_redemptions: u64,
    /// `redeemed / allocated`.
    pub redemption_rate_allocated: Rate,
    /// `redeemed / issued`.
    pub redemption_rate_issued: Rate,
    /// Money, per currency.
    pub money: Vec<Money>,
}

/// Cross-brand redemptions: `redeeming_org`'s terminals redeemed coupons of `pool_org`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartnerRow {
    /// The pool's owner.
    pub pool_org: String,
    /// The org whose terminal redeemed.
    pub redeeming_org: String,
    /// Currency of the amounts.
    pub currency: String,
    /// Redemptions.
    pub redemptions: u64,
    /// Discount granted.
    pub discount_minor: i64,
    /// Order totals.
    pub gross_order_minor: i64,
}

/// A pool's use of its `total_cap` up to the end of the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BudgetRow {
    /// The pool.
    pub pool: String,
    /// `unique_codes` (cap on codes issued) or `shared_code` (cap on redemptions in force).
    pub kind: String,
    /// The pool's `total_cap`.
    pub total_cap: u64,
    /// Codes issued (unique codes) or redemptions minus rollbacks (shared code).
    pub used: u64,
    /// `used / total_cap`.
    pub burn: Rate,
}

/// `GET /v1/analytics/kpis`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KpiReport {
    /// Where it was computed.
    pub stamp: Stamp,
    /// Range start (inclusive), ms.
    pub from_ms: Option<u64>,
    /// Range end (exclusive), ms.
    pub to_ms: Option<u64>,
    /// `total`, `hour`, `day`, `week` or `month`.
    pub period: String,
    /// The grouping dimensions.
    pub group_by: Vec<String>,
    /// One row per group and bucket.
    pub rows: Vec<KpiRow>,
    /// Cross-brand redemptions the scope made or received.
    pub partner: Vec<PartnerRow>,
    /// Budget burn of the pools in the rows.
    pub budget: Vec<BudgetRow>,
}

/// Rejections of one group, bucket and reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectionRow {
    /// The group's values.
    pub group: BTreeMap<String, String>,
    /// The period bucket.
    pub bucket: Option<String>,
    /// The rejection code (e.g. `already_redeemed`).
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// `GET /v1/analytics/rejections`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectionReport {
    /// Where it was computed.
    pub stamp: Stamp,
    /// Range start, ms.
    pub from_ms: Option<u64>,
    /// Range end (exclusive), ms.
    pub to_ms: Option<u64>,
    /// The period.
    pub period: String,
    /// The grouping dimensions.
    pub group_by: Vec<String>,
    /// Rows, by group, bucket and reason.
    pub rows: Vec<RejectionRow>,
}

/// One redemption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RedemptionRow {
    /// The event id (`evt_…`): also the listing cursor.
    pub id: String,
    /// Block height.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: u64,
    /// The redeem tx (hex).
    pub tx_id: String,
    /// The pool's owner.
    pub org: String,
    /// The pool.
    pub pool: String,
    /// The token (unique codes).
    pub token: Option<String>,
    /// The store.
    pub store: String,
    /// The channel.
    pub channel: String,
    /// The terminal key (hex).
    pub terminal: String,
    /// The terminal's org.
    pub signer_org: String,
    /// Currency.
    pub currency: String,
    /// Order total, minor units.
    pub order_total_minor: Option<i64>,
    /// Eligible amount.
    pub eligible_minor: i64,
    /// Discount.
    pub discount_minor: i64,
    /// Height of the rollback, if rolled back.
    pub rolled_back_height: Option<u64>,
    /// Whether another org's terminal redeemed it.
    pub partner: bool,
}

/// `GET /v1/analytics/redemptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RedemptionsReport {
    /// Where it was computed.
    pub stamp: Stamp,
    /// Range start, ms.
    pub from_ms: Option<u64>,
    /// Range end (exclusive), ms.
    pub to_ms: Option<u64>,
    /// Redemptions in log order.
    pub rows: Vec<RedemptionRow>,
    /// Cursor for the next page (`after=`), when there may be more.
    pub next: Option<String>,
}

/// Raw sums of one group and bucket, before rates and averages ([`KpiRow`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawKpi {
    /// Count per event type name.
    pub counts: BTreeMap<String, u64>,
    /// Redemptions of the group by other orgs.
    pub partner_redemptions: u64,
    /// Per currency: redemptions, gross, discount, rolled-back discount.
    pub money: BTreeMap<String, [i64; 4]>,
}

impl RawKpi {
    /// The finished row.
    pub fn finish(self, group: BTreeMap<String, String>, bucket: Option<String>) -> KpiRow {
        let c = |t: &str| self.counts.get(t).copied().unwrap_or(0);
        let (issued, allocated, redeemed) = (
            c("codes.issued"),
            c("coupon.allocated"),
            c("coupon.redeemed"),
        );
        let money = self
            .money
            .into_iter()
            .filter(|(cur, _)| !cur.is_empty())
            .map(|(currency, [n, gross, discount, rolled])| Money {
                currency,
                redemptions: u64::try_from(n).unwrap_or(0),
                gross_order_minor: gross,
                net_order_minor: gross - discount,
                average_basket_minor: (n > 0).then(|| gross.div_euclid(n)),
                discount_minor: discount,
                rolled_back_discount_minor: rolled,
                net_discount_minor: discount - rolled,
            })
            .collect();
        KpiRow {
            group,
            bucket,
            issued,
            allocated,
            redeemed,
            rolled_back: c("coupon.rolled_back"),
            revoked: c("coupon.revoked"),
            transferred: c("coupon.transferred"),
            rejected: c("tx.rejected"),
            partner_redemptions: self.partner_redemptions,
            redemption_rate_allocated: Rate::of(redeemed, allocated),
            redemption_rate_issued: Rate::of(redeemed, issued),
            money,
        }
    }
}
