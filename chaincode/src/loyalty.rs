//! Loyalty balances (issue 19): an org's program (stored-value and points segments, earn
//! rules, tiers) and a member's account as *lots*, with the arithmetic of earning,
//! loading, spending, refunding, adjusting and expiring them.
//!
//! This module owns the rules and nothing else: pure functions over values, no state
//! access, no clock (every time is a block time passed in), integer amounts only, and
//! `BTreeMap`s so every node iterates alike. Execution reads a program and an account
//! from state, calls these, writes them back and adds the returned [`Deltas`] to the
//! org's liability.
//!
//! **Lots, not one number.** Each earn, load or positive adjustment creates a [`Lot`]
//! (amount, remaining, segment, when it was earned, when it becomes spendable, when it
//! expires, the tx that made it). A balance is the sum of the remaining amounts of its
//! lots, so expiry, pending points and refunds are exact: a spend records which lots it
//! drew ([`Allocation`]), and a refund credits those same lots back (recreating one that
//! was used up and dropped, with its original terms).
//!
//! **The spend order** is one total order, so every node draws the same lots: segments by
//! the program's spend priority (lower first), then soonest-expiring first (lots that
//! never expire last), then earliest earned, then by the lot's id.
//!
//! **Earning.** The eligible amount of an order (its total minus the lines of excluded
//! categories) times the program's rate, floored; then the member's tier multiplier and
//! every promotional multiplier active at block time, each in permille and floored in
//! turn. A per-transaction cap rejects an award above it; the per-period cap (points
//! earned in a rolling window of days) and the maximum balance reduce it.
//!
//! Why the month arithmetic uses `jiff`: "N months after earning, rounded to month end"
//! needs the civil calendar in UTC; `jiff` is pure computation (no I/O, no local time
//! zone is read: only `Offset::UTC`).

use crate::checkout::CheckoutRules;
use crate::ids::{Category, OrgId, TxId};
use crate::types::Currency;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod records;
#[cfg(test)]
mod tests;

pub use records::{
    AdjustReason, AdjustmentRecord, AdjustmentStatus, Direction, Liability, Movement, MovementKind,
    Settlement, WithdrawalRecord, WithdrawalStatus,
};

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;
/// Most segments in a program (one of each kind).
pub const MAX_SEGMENTS: usize = 4;
/// Most tiers in a program.
pub const MAX_TIERS: usize = 16;
/// Most promotions, excluded categories or fixed expiry dates in a program.
pub const MAX_RULE_LIST: usize = 64;
/// Longest rolling window (tier period, period cap), days: about ten years.
pub const MAX_WINDOW_DAYS: u32 = 3_660;
/// Most lots one account holds; an earn or load past it is refused (the member must
/// spend or the lots expire first), so an account's record stays bounded.
pub const MAX_LOTS: usize = 1_024;
/// Largest multiplier, permille (×100).
pub const MAX_MULTIPLIER_PERMILLE: u32 = 100_000;
/// Most engagement rules in a program.
pub const MAX_ENGAGEMENT_RULES: usize = 16;
/// Largest limit of an engagement rule (awards per member per window), so the times an
/// account keeps for it stay bounded.
pub const MAX_ENGAGEMENT_LIMIT: u32 = 366;
/// Largest fixed award of an engagement rule, points.
pub const MAX_ENGAGEMENT_POINTS: u64 = 1_000_000_000;

/// A kind of balance a program keeps. The order is the encoding's.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Money the member paid in (stored value).
    CashDeposit,
    /// A gift balance loaded for the member.
    Gift,
    /// Points (mileage) earned on purchases, engagement and referrals.
    Mileage,
    /// Credit from refunds.
    RefundCredit,
}

impl Segment {
    /// The segment's stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Segment::CashDeposit => "cash_deposit",
            Segment::Gift => "gift",
            Segment::Mileage => "mileage",
            Segment::RefundCredit => "refund_credit",
        }
    }
}

/// What a segment's amounts count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "unit")]
pub enum Unit {
    /// Minor units of a currency.
    Money {
        /// The currency.
        currency: Currency,
    },
    /// Points.
    Points,
}

/// When a segment's lots expire.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum ExpiryPolicy {
    /// Never.
    Never,
    /// At the end (UTC) of the month `months` after the month it was earned in: earned
    /// on 15 January with 12 months, it expires when 31 January of the next year ends.
    MonthsAfterEarning {
        /// Months, 1 to 600.
        months: u16,
    },
    /// At the first of these dates (ms, increasing) after it was earned; never if none.
    FixedDates {
        /// The dates.
        dates_ms: Vec<u64>,
    },
    /// All of the segment's lots, once the member has had no activity for `days`.
    Inactivity {
        /// Days, 1 to [`MAX_WINDOW_DAYS`].
        days: u32,
    },
}

/// One segment of a program.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SegmentRule {
    /// Which segment.
    pub segment: Segment,
    /// What its amounts count (`mileage` counts points; the others money).
    pub unit: Unit,
    /// Spend order across segments: lower first.
    pub spend_priority: u8,
    /// When its lots expire.
    pub expiry: ExpiryPolicy,
}

/// A multiplier for earning between two block times.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Promotion {
    /// From (inclusive, ms).
    pub from_ms: u64,
    /// Until (exclusive, ms).
    pub until_ms: u64,
    /// The multiplier, permille (2,000: double points).
    pub multiplier_permille: u32,
}

/// How points are earned on an order.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EarnRule {
    /// Points for every `per_minor` minor units of the eligible amount (1 and 100: a point
    /// per dollar).
    pub points: u64,
    /// See `points`; at least 1.
    pub per_minor: u64,
    /// Order lines of these categories earn nothing.
    pub excluded_categories: Vec<Category>,
    /// Multipliers by time window, applied one after another.
    pub promotions: Vec<Promotion>,
    /// An award above this is refused (not reduced).
    pub per_tx_cap: Option<u64>,
    /// Points one member may earn in a rolling window; the award is reduced to fit.
    pub period_cap: Option<PeriodCap>,
    /// The member's points balance (spendable and pending) may not pass this; the award
    /// is reduced to fit.
    pub max_balance: Option<u64>,
    /// Days before earned points become spendable (0: at once).
    pub pending_days: u32,
    /// Points earned on an order stay pending until a `release_points` tx for the order
    /// (the order was delivered, its return window closed); `pending_days`, if not 0, is
    /// then the longest wait: at that age they become spendable anyway.
    #[serde(default)]
    pub release_on_event: bool,
}

/// A cap on points earned in a rolling window of days.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PeriodCap {
    /// Window, days (the day of the earn and the `days - 1` before it).
    pub days: u32,
    /// Most points in the window.
    pub cap: u64,
}

/// One tier: reached with at least `min_points` (of the basis), earning with `multiplier`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Tier {
    /// Its name (a slug).
    pub name: String,
    /// Threshold of the basis.
    pub min_points: u64,
    /// Earn multiplier, permille (1,000: none).
    pub multiplier_permille: u32,
}

/// What a tier is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierBasis {
    /// Points earned in the rolling window.
    PointsCollected,
    /// The points balance now.
    Balance,
}

/// How members move between tiers.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TierPolicy {
    /// The tiers, by increasing `min_points` (the first is where everyone starts and
    /// should have 0).
    pub tiers: Vec<Tier>,
    /// What the thresholds measure.
    pub basis: TierBasis,
    /// Rolling window for [`TierBasis::PointsCollected`], days.
    pub window_days: u32,
    /// How long a member stays in a tier after falling below it, days.
    pub grace_days: u32,
    /// Never downgrade on rule changes: a member keeps a tier while meeting the threshold
    /// it had when they reached it (or last met it), even if the program raised it since.
    #[serde(default)]
    pub keep_on_rule_change: bool,
}

/// An org's loyalty program.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProgramSpec {
    /// Display name.
    pub name: String,
    /// The currency of the orders it earns on and of its money segments.
    pub currency: Currency,
    /// The segments kept, each at most once.
    pub segments: Vec<SegmentRule>,
    /// How points are earned (into `mileage`).
    pub earn: EarnRule,
    /// Tiers (may be empty: no tiers).
    pub tiers: TierPolicy,
    /// Adjustments above this amount need a second admin's approval.
    pub adjust_approval_above: u64,
    /// Whether members may transfer balances to each other.
    pub transfers: bool,
    /// Other orgs whose terminals may earn and spend in this program.
    pub partner_orgs: Vec<OrgId>,
    /// How coupons and balances combine in one checkout.
    pub checkout: CheckoutRules,
    /// Points for engagement (a review, an app sign-up) and referrals, by action.
    #[serde(default)]
    pub engagement: Vec<EngagementRule>,
    /// A purpose the member must have consented to (their latest decision, recorded by
    /// the program's org, a grant) before they earn, are loaded or awarded engagement
    /// points or receive a balance transfer (`None`: no consent needed).
    #[serde(default)]
    pub requires_consent: Option<crate::consent::Purpose>,
}

/// Points a member earns for an action other than an order (an `engage` tx): a review,
/// a sign-up, a referral. A fixed award, no tier or promotional multiplier; the earn
/// rule's period cap and maximum balance reduce it and its pending days delay it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EngagementRule {
    /// The action's name (a slug, e.g. `review`, `referral`).
    pub action: String,
    /// Points to the member who acted (the referrer, for a referral).
    pub points: u64,
    /// For a referral: points to the referred member too (the tx names them, and each
    /// member is referred once per action). `None`: not a referral.
    pub referred_points: Option<u64>,
    /// Most awards per member within `window_days` (0: no limit).
    pub limit: u32,
    /// The limit's rolling window, days (0: ever).
    pub window_days: u32,
}

/// An org's program in state.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProgramRecord {
    /// The org that runs it.
    pub org: OrgId,
    /// The rules in force.
    pub spec: ProgramSpec,
    /// 1 for the first program, one more at each change.
    pub version: u32,
    /// Block time of the last change.
    pub updated_ms: u64,
}

/// Why an operation is refused. Execution maps each to a rejection code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoyaltyError {
    /// The program breaks a rule (the text says which).
    #[error("invalid program: {0}")]
    InvalidProgram(String),
    /// An amount is zero or overflows.
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// The program has no such segment.
    #[error("the program has no {0} segment")]
    NoSuchSegment(&'static str),
    /// The segments of one spend count different units.
    #[error("segments of one spend must count the same unit")]
    MixedUnits,
    /// Not enough spendable balance.
    #[error("insufficient balance: {available} available, {requested} requested")]
    Insufficient {
        /// Spendable now in the segments asked for.
        available: u64,
        /// Asked for.
        requested: u64,
    },
    /// The award is above the per-transaction cap.
    #[error("award of {award} points is above the per-transaction cap of {cap}")]
    PerTxCap {
        /// The award computed.
        award: u64,
        /// The cap.
        cap: u64,
    },
    /// A lot to take back is no longer held (used up, or expired and dropped).
    #[error("lot {0} is no longer held (used up or expired)")]
    LotGone(String),
    /// A lot to take back was partly spent.
    #[error("lot {lot} was partly spent: {remaining} of {amount} left")]
    AlreadySpent {
        /// The lot.
        lot: String,
        /// What is left of it.
        remaining: u64,
        /// What it was credited with.
        amount: u64,
    },
    /// The account holds [`MAX_LOTS`] lots.
    #[error("the account holds {MAX_LOTS} lots; spend or let some expire first")]
    TooManyLots,
    /// A release of points that are spendable already.
    #[error("lot {lot} is spendable already (since {since_ms} ms)")]
    NotPending {
        /// The lot.
        lot: String,
        /// Since when.
        since_ms: u64,
    },
    /// An engagement past its rule's limit.
    #[error("engagement {action}: the member reached its limit of {limit} awards {window}")]
    EngagementLimit {
        /// The action.
        action: String,
        /// The limit.
        limit: u32,
        /// The window, in words.
        window: String,
    },
}

type Result<T> = std::result::Result<T, LoyaltyError>;

fn invalid(message: impl Into<String>) -> LoyaltyError {
    LoyaltyError::InvalidProgram(message.into())
}

/// Checks a program's rules (limits, orders, units, ranges).
pub fn validate_program(p: &ProgramSpec) -> Result<()> {
    if p.name.is_empty() || p.name.len() > 200 {
        return Err(invalid("name must be 1 to 200 bytes"));
    }
    if !p.currency.is_valid() {
        return Err(invalid("currency must be three uppercase letters"));
    }
    if p.segments.is_empty() || p.segments.len() > MAX_SEGMENTS {
        return Err(invalid("a program keeps 1 to 4 segments"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &p.segments {
        if !seen.insert(s.segment) {
            return Err(invalid(format!(
                "segment {} listed twice",
                s.segment.name()
            )));
        }
        validate_segment(s, p.currency)?;
    }
    validate_earn(&p.earn)?;
    validate_tiers(&p.tiers)?;
    validate_engagement(&p.engagement)?;
    if p.partner_orgs.len() > MAX_RULE_LIST || !strictly_increasing(&p.partner_orgs) {
        return Err(invalid("partner orgs: at most 64, sorted, no duplicates"));
    }
    p.checkout.validate().map_err(invalid)
}

fn strictly_increasing<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|w| w[0] < w[1])
}

fn validate_segment(s: &SegmentRule, program_currency: Currency) -> Result<()> {
    match (s.segment, s.unit) {
        (Segment::Mileage, Unit::Points) => {}
        (Segment::Mileage, _) => return Err(invalid("mileage counts points")),
        (_, Unit::Points) => {
            return Err(invalid(format!("{} counts money", s.segment.name())));
        }
        (_, Unit::Money { currency }) if currency != program_currency => {
            return Err(invalid(format!(
                "{} counts {}, the program {}",
                s.segment.name(),
                currency,
                program_currency
            )));
        }
        _ => {}
    }
    match &s.expiry {
        ExpiryPolicy::Never => Ok(()),
        ExpiryPolicy::MonthsAfterEarning { months } if (1..=600).contains(months) => Ok(()),
        ExpiryPolicy::MonthsAfterEarning { .. } => Err(invalid("months after earning: 1 to 600")),
        ExpiryPolicy::FixedDates { dates_ms }
            if dates_ms.len() <= MAX_RULE_LIST && strictly_increasing(dates_ms) =>
        {
            Ok(())
        }
        ExpiryPolicy::FixedDates { .. } => Err(invalid("fixed dates: at most 64, increasing")),
        ExpiryPolicy::Inactivity { days } if (1..=MAX_WINDOW_DAYS).contains(days) => Ok(()),
        ExpiryPolicy::Inactivity { .. } => Err(invalid("inactivity: 1 to 3,660 days")),
    }
}

fn validate_earn(e: &EarnRule) -> Result<()> {
    if e.per_minor == 0 {
        return Err(invalid("earn rate: per_minor must be at least 1"));
    }
    if e.excluded_categories.len() > MAX_RULE_LIST || !strictly_increasing(&e.excluded_categories) {
        return Err(invalid(
            "excluded categories: at most 64, sorted, no duplicates",
        ));
    }
    if e.promotions.len() > MAX_RULE_LIST {
        return Err(invalid("at most 64 promotions"));
    }
    for promo in &e.promotions {
        if promo.from_ms >= promo.until_ms {
            return Err(invalid("a promotion ends after it starts"));
        }
        check_multiplier(promo.multiplier_permille)?;
    }
    if let Some(cap) = &e.period_cap
        && !(1..=MAX_WINDOW_DAYS).contains(&cap.days)
    {
        return Err(invalid("period cap window: 1 to 3,660 days"));
    }
    if e.pending_days > MAX_WINDOW_DAYS {
        return Err(invalid("pending period: at most 3,660 days"));
    }
    Ok(())
}

fn validate_engagement(rules: &[EngagementRule]) -> Result<()> {
    if rules.len() > MAX_ENGAGEMENT_RULES {
        return Err(invalid("at most 16 engagement rules"));
    }
    if !rules.windows(2).all(|w| w[0].action < w[1].action) {
        return Err(invalid("engagement rules sorted by action, no duplicates"));
    }
    for r in rules {
        if !is_slug(&r.action) {
            return Err(invalid("engagement actions are slugs of 1 to 64 bytes"));
        }
        let points_ok = |p: u64| (1..=MAX_ENGAGEMENT_POINTS).contains(&p);
        if !points_ok(r.points) || !r.referred_points.is_none_or(points_ok) {
            return Err(invalid(format!(
                "engagement {}: points 1 to 1,000,000,000",
                r.action
            )));
        }
        if r.limit > MAX_ENGAGEMENT_LIMIT || r.window_days > MAX_WINDOW_DAYS {
            return Err(invalid(format!(
                "engagement {}: limit at most 366, window at most 3,660 days",
                r.action
            )));
        }
    }
    Ok(())
}

/// 1 to 64 bytes of lowercase letters, digits and `-`.
fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_multiplier(permille: u32) -> Result<()> {
    if (1..=MAX_MULTIPLIER_PERMILLE).contains(&permille) {
        Ok(())
    } else {
        Err(invalid("multipliers: 1 to 100,000 permille"))
    }
}

fn validate_tiers(t: &TierPolicy) -> Result<()> {
    if t.tiers.len() > MAX_TIERS {
        return Err(invalid("at most 16 tiers"));
    }
    if !t
        .tiers
        .windows(2)
        .all(|w| w[0].min_points < w[1].min_points)
    {
        return Err(invalid("tiers by strictly increasing thresholds"));
    }
    for tier in &t.tiers {
        if !is_slug(&tier.name) {
            return Err(invalid("tier names are slugs of 1 to 64 bytes"));
        }
        check_multiplier(tier.multiplier_permille)?;
    }
    if t.window_days > MAX_WINDOW_DAYS || t.grace_days > MAX_WINDOW_DAYS {
        return Err(invalid("tier window and grace: at most 3,660 days"));
    }
    if t.basis == TierBasis::PointsCollected && !t.tiers.is_empty() && t.window_days == 0 {
        return Err(invalid("tiers by points collected need a window"));
    }
    Ok(())
}

impl ProgramSpec {
    /// The rule of `segment`.
    pub fn segment(&self, segment: Segment) -> Result<&SegmentRule> {
        self.segments
            .iter()
            .find(|s| s.segment == segment)
            .ok_or(LoyaltyError::NoSuchSegment(segment.name()))
    }

    /// The engagement rule of `action`.
    pub fn engagement_rule(&self, action: &str) -> Option<&EngagementRule> {
        self.engagement.iter().find(|r| r.action == action)
    }

    /// The longest window the account's earn log must cover.
    fn log_days(&self) -> u32 {
        let cap = self.earn.period_cap.as_ref().map_or(0, |c| c.days);
        cap.max(self.tiers.window_days)
    }
}

/// When a lot of `rule`'s segment earned at `earned_ms` expires (`None`: not by date).
pub fn expiry_of(rule: &ExpiryPolicy, earned_ms: u64) -> Option<u64> {
    match rule {
        ExpiryPolicy::Never | ExpiryPolicy::Inactivity { .. } => None,
        ExpiryPolicy::FixedDates { dates_ms } => dates_ms.iter().copied().find(|d| *d > earned_ms),
        ExpiryPolicy::MonthsAfterEarning { months } => Some(month_end_after(earned_ms, *months)),
    }
}

/// The first instant (UTC, ms) after the month `months` after the one `ms` falls in.
fn month_end_after(ms: u64, months: u16) -> u64 {
    use jiff::civil::{Date, Time};
    use jiff::tz::Offset;
    let Some(ts) = i64::try_from(ms)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
    else {
        return u64::MAX; // beyond the calendar: in effect never
    };
    let date = Offset::UTC.to_datetime(ts).date();
    // Months since year 0 of the first month *after* the target month.
    let index = i64::from(date.year()) * 12 + i64::from(date.month() - 1) + i64::from(months) + 1;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let Some(first) = i16::try_from(year)
        .ok()
        .and_then(|y| Date::new(y, month as i8, 1).ok())
    else {
        return u64::MAX;
    };
    Offset::UTC
        .to_timestamp(first.to_datetime(Time::midnight()))
        .ok()
        .and_then(|t| u64::try_from(t.as_millisecond()).ok())
        .unwrap_or(u64::MAX)
}

/// A lot's identity: the tx that made it and its place among that tx's lots.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
pub struct LotId {
    /// The tx.
    pub source: TxId,
    /// Its place.
    pub index: u16,
}

/// An amount credited once, drawn down over time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Lot {
    /// Its identity.
    pub id: LotId,
    /// Its segment.
    pub segment: Segment,
    /// The amount credited.
    pub amount: u64,
    /// What is left (at most `amount`; a lot at 0 is dropped).
    pub remaining: u64,
    /// When it was credited (block time).
    pub earned_ms: u64,
    /// Not spendable before this.
    pub spendable_from_ms: u64,
    /// Expires at this time (`None`: not by date).
    pub expires_ms: Option<u64>,
    /// The org whose terminal or admin credited it (a partner's, in a shared program).
    pub credited_by: OrgId,
}

/// A member's balances in one program.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Account {
    /// The lots with something left, by id (in JSON a list in id order: each lot carries
    /// its id).
    #[serde(with = "lots_as_list")]
    pub lots: BTreeMap<LotId, Lot>,
    /// Points earned per day (days since the epoch), for the period cap and tiers; days
    /// older than the program's longest window are dropped.
    pub earned_by_day: BTreeMap<u32, u64>,
    /// Last earn, load or spend (block time), for inactivity expiry.
    pub last_activity_ms: u64,
    /// The member's tier (index into the program's tiers) and, while below it, since when.
    pub tier: TierState,
    /// Block times of the engagement awards that count against a rule's limit, by action
    /// (only for rules with a limit; older than the rule's window dropped).
    #[serde(default)]
    pub engagements: BTreeMap<String, Vec<u64>>,
}

/// JSON has no struct keys: an account's lots are written as the list of its lots (in id
/// order), and read back keyed by each lot's id (a repeated id is refused).
mod lots_as_list {
    use super::{Lot, LotId};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(lots: &BTreeMap<LotId, Lot>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(lots.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<LotId, Lot>, D::Error> {
        let list = Vec::<Lot>::deserialize(d)?;
        let mut lots = BTreeMap::new();
        for lot in list {
            if lots.insert(lot.id, lot).is_some() {
                return Err(D::Error::custom("a lot id is listed twice"));
            }
        }
        Ok(lots)
    }
}

/// Where a member stands in the tiers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TierState {
    /// Index of the tier held.
    pub index: u8,
    /// When the member fell below it (the grace period runs from here).
    pub below_since_ms: Option<u64>,
    /// The tier's threshold when the member reached it or last met it (what
    /// [`TierPolicy::keep_on_rule_change`] holds them to).
    #[serde(default)]
    pub held_min_points: u64,
}

/// One draw of a spend: how much of which lot, with the lot's terms so a refund can credit
/// it back even after it was used up and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Draw {
    /// The lot as it was before the draw (its `remaining` then).
    pub lot: Lot,
    /// Amount drawn.
    pub amount: u64,
}

/// The lots a spend drew, in the order drawn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Allocation(pub Vec<Draw>);

impl Allocation {
    /// Total drawn.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|d| d.amount).sum()
    }
}

/// Changes to balances by segment (for the org's liability), signed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deltas(pub BTreeMap<Segment, i128>);

impl Deltas {
    fn add(&mut self, segment: Segment, amount: i128) {
        *self.0.entry(segment).or_default() += amount;
    }

    /// Adds `other` to these.
    pub fn merge(&mut self, other: &Deltas) {
        for (s, a) in &other.0 {
            self.add(*s, *a);
        }
    }
}

/// What one earn awards, and what reduced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarnQuote {
    /// Points awarded.
    pub award: u64,
    /// Points before the period cap and the maximum balance.
    pub before_caps: u64,
}

fn day_of(ms: u64) -> u32 {
    u32::try_from(ms / DAY_MS).unwrap_or(u32::MAX)
}

fn overflow(what: &str) -> LoyaltyError {
    LoyaltyError::InvalidAmount(format!("{what} overflows"))
}

impl Account {
    /// Spendable now, per segment (lots past their pending time and not expired).
    pub fn spendable(&self, now_ms: u64) -> BTreeMap<Segment, u64> {
        let mut out = BTreeMap::new();
        for lot in self.lots.values().filter(|l| is_spendable(l, now_ms)) {
            *out.entry(lot.segment).or_default() += lot.remaining;
        }
        out
    }

    /// Everything held, per segment (pending and not yet expired included).
    pub fn balances(&self) -> BTreeMap<Segment, u64> {
        let mut out = BTreeMap::new();
        for lot in self.lots.values() {
            *out.entry(lot.segment).or_default() += lot.remaining;
        }
        out
    }

    /// Points earned in the `days` ending with the day of `now_ms`.
    pub fn earned_in_window(&self, now_ms: u64, days: u32) -> u64 {
        let today = day_of(now_ms);
        let first = today.saturating_sub(days.saturating_sub(1));
        self.earned_by_day
            .range(first..=today)
            .map(|(_, p)| p)
            .sum()
    }

    /// Credits a new lot of `amount` to `segment` (an earn, load or positive adjustment):
    /// its expiry from the segment's policy, spendable after `pending_ms`.
    pub fn credit(&mut self, program: &ProgramSpec, new: NewLot, now_ms: u64) -> Result<Deltas> {
        let rule = program.segment(new.segment)?;
        if new.amount == 0 {
            return Err(LoyaltyError::InvalidAmount("a credit is positive".into()));
        }
        if self.lots.len() >= MAX_LOTS {
            return Err(LoyaltyError::TooManyLots);
        }
        if self.lots.contains_key(&new.id) {
            return Err(LoyaltyError::InvalidAmount(
                "a lot with this id exists".into(),
            ));
        }
        self.balances()
            .get(&new.segment)
            .copied()
            .unwrap_or(0)
            .checked_add(new.amount)
            .ok_or_else(|| overflow("the balance"))?;
        let lot = Lot {
            id: new.id,
            segment: new.segment,
            amount: new.amount,
            remaining: new.amount,
            earned_ms: now_ms,
            spendable_from_ms: now_ms.saturating_add(new.pending_ms),
            expires_ms: expiry_of(&rule.expiry, now_ms),
            credited_by: new.credited_by,
        };
        self.lots.insert(lot.id, lot);
        self.last_activity_ms = self.last_activity_ms.max(now_ms);
        let mut deltas = Deltas::default();
        deltas.add(new.segment, i128::from(new.amount));
        Ok(deltas)
    }

    /// Draws `amount` from the spendable lots of `segments` in the spend order (see the
    /// module docs); all or nothing.
    pub fn spend(
        &mut self,
        program: &ProgramSpec,
        segments: &[Segment],
        amount: u64,
        now_ms: u64,
    ) -> Result<(Allocation, Deltas)> {
        self.draw(program, segments, amount, now_ms, true)
    }

    /// Draws `amount` from `segment` regardless of pending times (a negative adjustment),
    /// in the spend order; all or nothing.
    pub fn debit(
        &mut self,
        program: &ProgramSpec,
        segment: Segment,
        amount: u64,
        now_ms: u64,
    ) -> Result<(Allocation, Deltas)> {
        self.draw(program, &[segment], amount, now_ms, false)
    }

    fn draw(
        &mut self,
        program: &ProgramSpec,
        segments: &[Segment],
        amount: u64,
        now_ms: u64,
        spendable_only: bool,
    ) -> Result<(Allocation, Deltas)> {
        if amount == 0 {
            return Err(LoyaltyError::InvalidAmount("a spend is positive".into()));
        }
        let rules = segments
            .iter()
            .map(|s| program.segment(*s))
            .collect::<Result<Vec<_>>>()?;
        if rules.windows(2).any(|w| w[0].unit != w[1].unit) {
            return Err(LoyaltyError::MixedUnits);
        }
        let priority = |s: Segment| {
            rules
                .iter()
                .find(|r| r.segment == s)
                .map(|r| r.spend_priority)
        };
        let mut order: Vec<&Lot> = self
            .lots
            .values()
            .filter(|l| priority(l.segment).is_some() && !is_expired(l, now_ms))
            .filter(|l| !spendable_only || l.spendable_from_ms <= now_ms)
            .collect();
        let available: u64 = order.iter().map(|l| l.remaining).sum();
        if available < amount {
            return Err(LoyaltyError::Insufficient {
                available,
                requested: amount,
            });
        }
        order.sort_by_key(|l| {
            (
                priority(l.segment),
                l.expires_ms.unwrap_or(u64::MAX),
                l.earned_ms,
                l.id,
            )
        });
        let mut left = amount;
        let mut draws = Vec::new();
        for lot in order {
            if left == 0 {
                break;
            }
            let take = lot.remaining.min(left);
            draws.push(Draw {
                lot: lot.clone(),
                amount: take,
            });
            left -= take;
        }
        let mut deltas = Deltas::default();
        for d in &draws {
            let lot = self
                .lots
                .get_mut(&d.lot.id)
                .expect("drawn from the account");
            lot.remaining -= d.amount;
            if lot.remaining == 0 {
                self.lots.remove(&d.lot.id);
            }
            deltas.add(d.lot.segment, -i128::from(d.amount));
        }
        self.last_activity_ms = self.last_activity_ms.max(now_ms);
        Ok((Allocation(draws), deltas))
    }

    /// Credits a spend's draws back to the lots they came from (recreating a lot that was
    /// used up, with its original terms): a refund, or the rollback of a checkout.
    ///
    /// All or nothing: a draw that would take a lot above its original amount (the same
    /// allocation refunded twice) refuses the whole refund.
    pub fn refund(&mut self, allocation: &Allocation) -> Result<Deltas> {
        let mut recreated = 0;
        for d in &allocation.0 {
            let held = self.lots.get(&d.lot.id).map_or(0, |l| l.remaining);
            recreated += usize::from(!self.lots.contains_key(&d.lot.id));
            if held.checked_add(d.amount).is_none_or(|r| r > d.lot.amount) {
                return Err(overflow("a refunded lot"));
            }
        }
        if self.lots.len() + recreated > MAX_LOTS {
            return Err(LoyaltyError::TooManyLots);
        }
        let mut deltas = Deltas::default();
        for d in &allocation.0 {
            self.lots
                .entry(d.lot.id)
                .and_modify(|lot| lot.remaining += d.amount)
                .or_insert_with(|| Lot {
                    remaining: d.amount,
                    ..d.lot.clone()
                });
            deltas.add(d.lot.segment, i128::from(d.amount));
        }
        Ok(deltas)
    }

    /// Expires what is due at `now_ms`: lots past their date, and every lot of a segment
    /// with an inactivity policy once the member has been inactive that long. Returns the
    /// lots expired (with what they had left).
    pub fn expire(&mut self, program: &ProgramSpec, now_ms: u64) -> (Vec<Lot>, Deltas) {
        let inactive: Vec<Segment> = program
            .segments
            .iter()
            .filter_map(|r| match r.expiry {
                ExpiryPolicy::Inactivity { days } => {
                    let idle = now_ms.saturating_sub(self.last_activity_ms);
                    (idle >= u64::from(days) * DAY_MS).then_some(r.segment)
                }
                _ => None,
            })
            .collect();
        let due: Vec<LotId> = self
            .lots
            .values()
            .filter(|l| is_expired(l, now_ms) || inactive.contains(&l.segment))
            .map(|l| l.id)
            .collect();
        let mut deltas = Deltas::default();
        let mut expired = Vec::with_capacity(due.len());
        for id in due {
            let lot = self.lots.remove(&id).expect("listed above");
            deltas.add(lot.segment, -i128::from(lot.remaining));
            expired.push(lot);
        }
        (expired, deltas)
    }

    /// Records `points` earned at `now_ms` in the earn log and drops days older than the
    /// program's longest window.
    pub fn log_earned(&mut self, program: &ProgramSpec, points: u64, now_ms: u64) {
        let today = day_of(now_ms);
        let entry = self.earned_by_day.entry(today).or_default();
        *entry = entry.saturating_add(points);
        let keep_from = today.saturating_sub(program.log_days());
        self.earned_by_day = self.earned_by_day.split_off(&keep_from);
    }
}

impl Account {
    /// Credits a transfer's draws to this account as new lots (`source` is the transfer
    /// tx, one lot per draw in order) keeping each drawn lot's segment, expiry and
    /// crediting org, so a transfer never extends a validity. Returns the new lots' ids.
    pub fn receive(
        &mut self,
        allocation: &Allocation,
        source: TxId,
        now_ms: u64,
    ) -> Result<(Vec<LotId>, Deltas)> {
        if self.lots.len() + allocation.0.len() > MAX_LOTS {
            return Err(LoyaltyError::TooManyLots);
        }
        let mut ids = Vec::with_capacity(allocation.0.len());
        let mut deltas = Deltas::default();
        for (i, d) in allocation.0.iter().enumerate() {
            let index = u16::try_from(i).map_err(|_| LoyaltyError::TooManyLots)?;
            let id = LotId { source, index };
            self.lots.insert(
                id,
                Lot {
                    id,
                    segment: d.lot.segment,
                    amount: d.amount,
                    remaining: d.amount,
                    earned_ms: now_ms,
                    spendable_from_ms: now_ms,
                    expires_ms: d.lot.expires_ms,
                    credited_by: d.lot.credited_by.clone(),
                },
            );
            deltas.add(d.lot.segment, i128::from(d.amount));
            ids.push(id);
        }
        self.last_activity_ms = self.last_activity_ms.max(now_ms);
        Ok((ids, deltas))
    }

    /// Takes back whole lots (a void of the earn, load or transfer that credited them):
    /// all or nothing, and only lots nothing was spent from.
    pub fn take_back(&mut self, ids: &[LotId]) -> Result<(Vec<Lot>, Deltas)> {
        for id in ids {
            let lot = self
                .lots
                .get(id)
                .ok_or_else(|| LoyaltyError::LotGone(id.to_string()))?;
            if lot.remaining != lot.amount {
                return Err(LoyaltyError::AlreadySpent {
                    lot: id.to_string(),
                    remaining: lot.remaining,
                    amount: lot.amount,
                });
            }
        }
        let mut deltas = Deltas::default();
        let lots: Vec<Lot> = ids
            .iter()
            .map(|id| self.lots.remove(id).expect("checked above"))
            .collect();
        for lot in &lots {
            deltas.add(lot.segment, -i128::from(lot.amount));
        }
        Ok((lots, deltas))
    }

    /// Takes `points` earned at `earned_ms` out of the earn log (a voided earn), so caps
    /// and tiers count what stands.
    pub fn unlog_earned(&mut self, points: u64, earned_ms: u64) {
        let day = day_of(earned_ms);
        if let Some(p) = self.earned_by_day.get_mut(&day) {
            *p = p.saturating_sub(points);
            if *p == 0 {
                self.earned_by_day.remove(&day);
            }
        }
    }

    /// Whether the account holds nothing worth keeping: no lots, no earn log, no
    /// engagement counts, the first tier (its last activity then matters to nothing).
    pub fn is_vacant(&self) -> bool {
        self.lots.is_empty()
            && self.earned_by_day.is_empty()
            && self.engagements.is_empty()
            && self.tier.index == 0
            && self.tier.below_since_ms.is_none()
    }

    /// Makes lot `id`, pending, spendable from `now_ms` (its order's event came); returns
    /// what it holds.
    pub fn release(&mut self, id: &LotId, now_ms: u64) -> Result<u64> {
        let lot = self
            .lots
            .get_mut(id)
            .ok_or_else(|| LoyaltyError::LotGone(id.to_string()))?;
        if lot.spendable_from_ms <= now_ms {
            return Err(LoyaltyError::NotPending {
                lot: id.to_string(),
                since_ms: lot.spendable_from_ms,
            });
        }
        lot.spendable_from_ms = now_ms;
        Ok(lot.remaining)
    }

    /// Counts an award of `rule` at `now_ms` against its limit (refused past it); awards
    /// older than the rule's window are forgotten.
    pub fn log_engagement(&mut self, rule: &EngagementRule, now_ms: u64) -> Result<()> {
        if rule.limit == 0 {
            return Ok(());
        }
        let window_ms = u64::from(rule.window_days) * DAY_MS;
        let times = self.engagements.entry(rule.action.clone()).or_default();
        if rule.window_days > 0 {
            times.retain(|t| t.saturating_add(window_ms) > now_ms);
        }
        if times.len() >= rule.limit as usize {
            let window = match rule.window_days {
                0 => "ever".to_owned(),
                days => format!("in {days} days"),
            };
            return Err(LoyaltyError::EngagementLimit {
                action: rule.action.clone(),
                limit: rule.limit,
                window,
            });
        }
        times.push(now_ms);
        Ok(())
    }

    /// Forgets counted awards no rule limits any more: of actions the program dropped or
    /// stopped limiting, and older than their rule's window.
    pub fn prune_engagements(&mut self, program: &ProgramSpec, now_ms: u64) {
        self.engagements.retain(|action, times| {
            let Some(rule) = program.engagement_rule(action).filter(|r| r.limit > 0) else {
                return false;
            };
            if rule.window_days > 0 {
                let window_ms = u64::from(rule.window_days) * DAY_MS;
                times.retain(|t| t.saturating_add(window_ms) > now_ms);
            }
            !times.is_empty()
        });
    }

    /// Takes back an award of `action` counted at `at_ms` (a voided engagement).
    pub fn unlog_engagement(&mut self, action: &str, at_ms: u64) {
        let Some(times) = self.engagements.get_mut(action) else {
            return;
        };
        if let Some(i) = times.iter().position(|t| *t == at_ms) {
            times.remove(i);
        }
        if times.is_empty() {
            self.engagements.remove(action);
        }
    }
}

impl std::fmt::Display for LotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.source, self.index)
    }
}

/// A lot to credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLot {
    /// Its identity (the crediting tx and a place).
    pub id: LotId,
    /// Its segment.
    pub segment: Segment,
    /// Amount.
    pub amount: u64,
    /// Not spendable until this long after now (ms).
    pub pending_ms: u64,
    /// The org crediting it.
    pub credited_by: OrgId,
}

fn is_expired(lot: &Lot, now_ms: u64) -> bool {
    lot.expires_ms.is_some_and(|e| e <= now_ms)
}

fn is_spendable(lot: &Lot, now_ms: u64) -> bool {
    lot.spendable_from_ms <= now_ms && !is_expired(lot, now_ms)
}

/// The points an order earns for a member at `now_ms` (see the module docs): the rate
/// on the eligible amount, the tier's and active promotions' multipliers, then the caps.
/// `eligible_minor` is the order's amount after the program's excluded categories
/// ([`crate::discount::eligible_amount`] with `earn.excluded_categories`, the rule coupons
/// use too).
pub fn quote_earn(
    program: &ProgramSpec,
    account: &Account,
    eligible_minor: u64,
    now_ms: u64,
) -> Result<EarnQuote> {
    let earn = &program.earn;
    program.segment(Segment::Mileage)?;
    let mut points =
        u128::from(eligible_minor) * u128::from(earn.points) / u128::from(earn.per_minor);
    let tier = program.tiers.tiers.get(usize::from(account.tier.index));
    if let Some(t) = tier {
        points = points * u128::from(t.multiplier_permille) / 1_000;
    }
    for promo in &earn.promotions {
        if promo.from_ms <= now_ms && now_ms < promo.until_ms {
            points = points * u128::from(promo.multiplier_permille) / 1_000;
        }
    }
    let before_caps = u64::try_from(points).map_err(|_| overflow("the award"))?;
    if let Some(cap) = earn.per_tx_cap
        && before_caps > cap
    {
        return Err(LoyaltyError::PerTxCap {
            award: before_caps,
            cap,
        });
    }
    Ok(within_caps(program, account, before_caps, now_ms))
}

/// A fixed award of `points` (an engagement) reduced by the period cap and the maximum
/// balance, as an earn's is.
pub fn quote_fixed(
    program: &ProgramSpec,
    account: &Account,
    points: u64,
    now_ms: u64,
) -> Result<EarnQuote> {
    program.segment(Segment::Mileage)?;
    Ok(within_caps(program, account, points, now_ms))
}

fn within_caps(
    program: &ProgramSpec,
    account: &Account,
    before_caps: u64,
    now_ms: u64,
) -> EarnQuote {
    let earn = &program.earn;
    let mut award = before_caps;
    if let Some(cap) = &earn.period_cap {
        let room = cap
            .cap
            .saturating_sub(account.earned_in_window(now_ms, cap.days));
        award = award.min(room);
    }
    if let Some(max) = earn.max_balance {
        let held = account
            .balances()
            .get(&Segment::Mileage)
            .copied()
            .unwrap_or(0);
        award = award.min(max.saturating_sub(held));
    }
    EarnQuote { award, before_caps }
}

impl EarnRule {
    /// How long points earned on an order stay pending (ms; `u64::MAX`: until released).
    pub fn order_pending_ms(&self) -> u64 {
        match (self.release_on_event, self.pending_days) {
            (true, 0) => u64::MAX,
            (_, days) => u64::from(days) * DAY_MS,
        }
    }

    /// How long points earned by an engagement stay pending (ms): the pending days.
    pub fn engagement_pending_ms(&self) -> u64 {
        u64::from(self.pending_days) * DAY_MS
    }
}

/// What the tier evaluation decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierChange {
    /// No change.
    Same,
    /// Moved to the tier at this index.
    Moved {
        /// From.
        from: u8,
        /// To.
        to: u8,
    },
}

/// Re-evaluates the member's tier at `now_ms`: up at once when the basis reaches a higher
/// threshold; down only after the grace period has run since the member fell below. With
/// [`TierPolicy::keep_on_rule_change`], a member who still meets the threshold their tier
/// had when they reached it (or last met it) is not below it, whatever the rules say now.
pub fn evaluate_tier(program: &ProgramSpec, account: &mut Account, now_ms: u64) -> TierChange {
    let policy = &program.tiers;
    if policy.tiers.is_empty() {
        return TierChange::Same;
    }
    let value = match policy.basis {
        TierBasis::PointsCollected => account.earned_in_window(now_ms, policy.window_days),
        TierBasis::Balance => account
            .balances()
            .get(&Segment::Mileage)
            .copied()
            .unwrap_or(0),
    };
    let target = policy
        .tiers
        .iter()
        .rposition(|t| t.min_points <= value)
        .unwrap_or(0) as u8;
    let current = account.tier.index.min(policy.tiers.len() as u8 - 1);
    let threshold = |i: u8| policy.tiers[usize::from(i)].min_points;
    let grandfathered = policy.keep_on_rule_change && value >= account.tier.held_min_points;
    if target >= current || grandfathered {
        let to = target.max(current);
        // Reaching or meeting a tier under the rules in force records their threshold.
        let held = if to == target {
            threshold(to)
        } else {
            account.tier.held_min_points
        };
        account.tier = TierState {
            index: to,
            below_since_ms: None,
            held_min_points: held,
        };
        return if to == current {
            TierChange::Same
        } else {
            TierChange::Moved { from: current, to }
        };
    }
    let since = *account.tier.below_since_ms.get_or_insert(now_ms);
    if now_ms.saturating_sub(since) < u64::from(policy.grace_days) * DAY_MS {
        return TierChange::Same;
    }
    account.tier = TierState {
        index: target,
        below_since_ms: None,
        held_min_points: threshold(target),
    };
    TierChange::Moved {
        from: current,
        to: target,
    }
}
