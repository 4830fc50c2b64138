//! The finance report's answer (`GET /v1/reports/finance`), one definition for the node
//! that serves it (its OpenAPI schema included) and the clients that read it: coupon
//! liability per pool and currency with what ends within 30/60/90 days and a breakage
//! estimate, the loyalty program's liability per segment with what expires within
//! 30/60/90 days, and settlement with each partner org. Money is integer minor units of
//! the row's currency; rates are exact fractions ([`Rate`]). How each figure is computed:
//! docs/compliance.md, "Reports", and the node's `reports` module.

use crate::analytics::{Rate, Stamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One pool's coupons and what they may cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolLiability {
    /// The pool's id.
    pub pool: String,
    /// Its display name.
    pub name: String,
    /// `draft`, `active`, `paused` or `archived`.
    pub status: String,
    /// `unique_codes` or `shared_code`.
    pub kind: String,
    /// ISO 4217 code of its amounts.
    pub currency: String,
    /// End of validity (exclusive), ms since the Unix epoch.
    pub valid_until_ms: u64,
    /// Whether it can still be redeemed (active or paused, validity not ended).
    pub open: bool,
    /// Tokens issued (unique codes) or the redemption cap (shared code).
    pub issued: u64,
    /// Issued, never allocated (unique codes).
    pub available: u64,
    /// Redeemed, in force.
    pub redeemed: u64,
    /// Revoked (unique codes).
    pub revoked: u64,
    /// Held by members and redeemable: allocated tokens, or a shared code's uses left.
    pub outstanding: u64,
    /// Face value per coupon, minor units (see the module doc).
    pub face_value: Option<u64>,
    /// How the face value was found: `fixed`, `cap`, `average` or `unknown`.
    pub face_basis: String,
    /// `outstanding × face_value` for an open pool with a face value, else 0.
    pub liability: u64,
}

/// The totals of one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyLiability {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of the open pools' liability, minor units.
    pub liability: u64,
    /// Of it, in pools whose validity ends within 30 days of the report's time.
    pub ending_within_30_days: u64,
    /// …within 60 days (cumulative).
    pub ending_within_60_days: u64,
    /// …within 90 days (cumulative).
    pub ending_within_90_days: u64,
    /// Open pools with outstanding coupons but no face value (left out of the sums).
    pub unvalued_pools: u64,
    /// `liability × breakage rate`, rounded down; `None` without a closed pool to learn
    /// the rate from.
    pub estimated_breakage: Option<u64>,
}

/// The breakage rate learnt from closed unique-code pools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Breakage {
    /// Closed unique-code pools with allocations.
    pub closed_pools: u64,
    /// Their coupons allocated (held or redeemed at the end).
    pub allocated: u64,
    /// Of those, never redeemed.
    pub unredeemed: u64,
    /// `unredeemed / allocated`.
    pub rate: Rate,
}

/// The org's coupon liability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CouponLiability {
    /// One row per pool, in id order.
    pub pools: Vec<PoolLiability>,
    /// One row per currency.
    pub totals: Vec<CurrencyLiability>,
    /// The breakage rate and what it was learnt from.
    pub breakage: Breakage,
    /// Tokens read.
    pub tokens_scanned: u64,
    /// More tokens than the node's token limit (5,000,000): the pools after the limit count none.
    pub truncated: bool,
}

/// One segment of a program's liability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SegmentLiability {
    /// `cash_deposit`, `gift`, `mileage` or `refund_credit`.
    pub segment: String,
    /// `points`, or the ISO 4217 code of the money it counts (amounts in minor units).
    pub unit: String,
    /// Owed to members (the ledger's `Liability` record at the report's height).
    pub outstanding: u64,
    /// Past its date or inactivity deadline, not yet expired by a tx.
    pub due: u64,
    /// Expiring within 30 days of the report's time (cumulative).
    pub within_30_days: u64,
    /// Expiring within 60 days (cumulative: includes the 30-day figure).
    pub within_60_days: u64,
    /// Expiring within 90 days (cumulative).
    pub within_90_days: u64,
}

/// A program's liability per segment and what of it expires soon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PointsLiability {
    /// The program's name.
    pub program: String,
    /// Its version (one more at each change).
    pub version: u32,
    /// One row per segment owed or kept.
    pub segments: Vec<SegmentLiability>,
    /// Accounts the expiry figures cover.
    pub accounts_scanned: u64,
    /// More accounts than the node's account limit (100,000): the expiry figures cover only the first.
    pub truncated: bool,
}

/// What a program and one partner org owe each other, per segment (the ledger's
/// `Settlement` record): credited by the partner's terminals, spent at them, and the net
/// (positive: the partner owes the program).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PointsSettlement {
    /// The partner org.
    pub partner: String,
    /// Per segment name: credited by the partner.
    pub credited: BTreeMap<String, u64>,
    /// Per segment name: spent at the partner.
    pub spent: BTreeMap<String, u64>,
    /// Per segment name: credited − spent.
    pub net: BTreeMap<String, i64>,
}

/// The finance report of one org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FinanceReport {
    /// The org.
    pub org: String,
    /// Where the state figures were read: height, block hash, state root, block time
    /// (the report's "now" for every horizon) and the latest certificate at or above it.
    pub stamp: Stamp,
    /// The height the analytics figures (average discounts, coupon flows) cover.
    pub analytics_height: u64,
    /// Coupon liability.
    pub coupons: CouponLiability,
    /// The loyalty program's liability (`None`: the org runs no program).
    pub points: Option<PointsLiability>,
    /// Loyalty settlement per partner org.
    pub points_settlements: Vec<PointsSettlement>,
    /// Coupon discounts between the org and each partner, per currency.
    pub coupon_flows: Vec<CouponFlow>,
}

/// Coupon redemptions between the org and one partner, in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CouponFlow {
    /// The other org.
    pub partner: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The partner's terminals redeemed the org's coupons this often (in force)…
    pub honoured_by_partner: u64,
    /// …giving this much discount (minor units), which the org owes the partner.
    pub discount_by_partner: u64,
    /// The org's terminals redeemed the partner's coupons this often…
    pub honoured_for_partner: u64,
    /// …giving this much discount, which the partner owes the org.
    pub discount_for_partner: u64,
}
