//! Fraud rules the consortium enforces (issue 20): **holds** and **velocity limits**.
//!
//! A hold is an org's stop on a member, one of its terminals or one of its codes, with a
//! reason code: while it stands, the chaincode refuses what it stops (`on_hold`) on every
//! node alike. An org admin places one at once; the org's fraud engine (a key with the
//! `risk` role, the node's scorer) places one *pending review*, and an org admin confirms
//! it (the suspicion was right) or lifts it (it was not): each decision is a signed tx,
//! which the node's models read back as a label.
//!
//! A velocity limit is part of a pool's spec: at most `max` redemptions per member, per
//! terminal or per store within a rolling window, counted at block time. The redemption
//! times of each (pool, member | terminal | store) are kept in state, at most `max` of
//! them (older ones than the window are dropped when the next redemption is counted), so
//! the check reads one bounded record. A rolled-back redemption keeps counting: a burst of
//! redeem-and-refund is what the limit is for.
//!
//! Pure values and functions: execution reads the records, calls these and writes them.

use crate::ids::{CodeHash, MemberId, OrgId, PublicKey, StoreId, TxId};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Most velocity limits in one pool.
pub const MAX_VELOCITY_LIMITS: usize = 6;
/// Largest `max` of a velocity limit (so a counter record stays small).
pub const MAX_VELOCITY_COUNT: u32 = 1_000;
/// Longest velocity window: 366 days.
pub const MAX_VELOCITY_WINDOW_MS: u64 = 366 * 86_400_000;
/// Longest hold note, bytes.
pub const MAX_HOLD_NOTE_BYTES: usize = 280;

/// What a hold stops.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum HoldTarget {
    /// A member: no allocation, redemption, checkout, earn, spend, load, engagement,
    /// transfer or withdrawal for them in the org's pools and program.
    Member(MemberId),
    /// One of the org's terminal keys: it signs nothing that applies.
    Terminal(PublicKey),
    /// One of the org's codes (by its hash): it redeems nowhere.
    Code(CodeHash),
}

impl HoldTarget {
    /// `member`, `terminal` or `code`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            HoldTarget::Member(_) => "member",
            HoldTarget::Terminal(_) => "terminal",
            HoldTarget::Code(_) => "code",
        }
    }
}

impl std::fmt::Display for HoldTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldTarget::Member(m) => write!(f, "member {m}"),
            HoldTarget::Terminal(k) => write!(f, "terminal {k}"),
            HoldTarget::Code(h) => write!(f, "code {h}"),
        }
    }
}

/// Why a hold was placed: a fixed set the models and auditors count by. Adding a reason
/// appends a variant (the encoding is the variant index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// Too many redemptions or attempts too fast.
    Velocity,
    /// Many failed validations: someone guessing codes.
    Enumeration,
    /// Machine-like timing (allocation to redemption in moments).
    Bot,
    /// A code used by someone it was not meant for, or where it was not meant to be.
    Leakage,
    /// Redemptions at stores too far apart for the time between them.
    ImpossibleTravel,
    /// A terminal redeeming for others (staff fraud).
    Collusion,
    /// A canary code, which must never be redeemed, was tried.
    Canary,
    /// Asked by the customer (a lost card, a stolen account).
    CustomerRequest,
    /// Anything else; the note says what.
    Other,
}

impl HoldReason {
    /// The reason's stable name.
    pub fn name(self) -> &'static str {
        match self {
            HoldReason::Velocity => "velocity",
            HoldReason::Enumeration => "enumeration",
            HoldReason::Bot => "bot",
            HoldReason::Leakage => "leakage",
            HoldReason::ImpossibleTravel => "impossible_travel",
            HoldReason::Collusion => "collusion",
            HoldReason::Canary => "canary",
            HoldReason::CustomerRequest => "customer_request",
            HoldReason::Other => "other",
        }
    }
}

/// Where a hold stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Placed by the fraud engine; an org admin confirms or lifts it. It stops already.
    PendingReview,
    /// Placed by an org admin, or confirmed by one.
    Confirmed,
}

/// A hold in force (lifting one deletes it; its txs and events keep the history).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct HoldRecord {
    /// Why.
    pub reason: HoldReason,
    /// What the reviewer reads (up to [`MAX_HOLD_NOTE_BYTES`]).
    pub note: String,
    /// The key that placed it.
    pub placed_by: PublicKey,
    /// The placing tx.
    pub placed_tx: TxId,
    /// Block time it was placed.
    pub placed_ms: u64,
    /// Pending review or confirmed.
    pub status: HoldStatus,
    /// The org admin who confirmed it, once confirmed by review.
    pub confirmed_by: Option<PublicKey>,
}

/// What a velocity limit counts per.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VelocityScope {
    /// The redeeming member (a code redeemed without one is not counted here).
    Member,
    /// The redeeming terminal key.
    Terminal,
    /// The terminal's store.
    Store,
}

/// At most `max` redemptions of the pool per `per` within `window_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct VelocityLimit {
    /// What it counts per.
    pub per: VelocityScope,
    /// Most redemptions in the window (1 to [`MAX_VELOCITY_COUNT`]).
    pub max: u32,
    /// The rolling window, ms (1 to [`MAX_VELOCITY_WINDOW_MS`]).
    pub window_ms: u64,
}

/// Whom a velocity counter counts.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum VelocityKey {
    /// A member.
    Member(MemberId),
    /// A terminal key.
    Terminal(PublicKey),
    /// A store: its org (a partner's store may share an owner's store's name) and id.
    Store(OrgId, StoreId),
}

/// Checks a pool's velocity limits: at most [`MAX_VELOCITY_LIMITS`], each with a count and
/// a window in range, at most one per scope and window.
pub fn validate_limits(limits: &[VelocityLimit]) -> Result<(), String> {
    if limits.len() > MAX_VELOCITY_LIMITS {
        return Err(format!("at most {MAX_VELOCITY_LIMITS} velocity limits"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for l in limits {
        if !(1..=MAX_VELOCITY_COUNT).contains(&l.max) {
            return Err(format!(
                "a velocity limit's max is 1 to {MAX_VELOCITY_COUNT}"
            ));
        }
        if !(1..=MAX_VELOCITY_WINDOW_MS).contains(&l.window_ms) {
            return Err("a velocity window is 1 ms to 366 days".into());
        }
        if !seen.insert((l.per, l.window_ms)) {
            return Err("two velocity limits with the same scope and window".into());
        }
    }
    Ok(())
}

/// The redemption times within `window_ms` before `now_ms` (the window is `(now −
/// window, now]`).
pub fn recent(times: &[u64], window_ms: u64, now_ms: u64) -> usize {
    times
        .iter()
        .filter(|t| t.saturating_add(window_ms) > now_ms)
        .count()
}

/// Counts a redemption at `now_ms` in `times` for every limit of `scope`: drops times
/// outside the longest of their windows and keeps at most the largest `max` of them.
pub fn count(times: &mut Vec<u64>, limits: &[&VelocityLimit], now_ms: u64) {
    let window = limits.iter().map(|l| l.window_ms).max().unwrap_or(0);
    let keep = limits.iter().map(|l| l.max).max().unwrap_or(0) as usize;
    times.retain(|t| t.saturating_add(window) > now_ms);
    times.push(now_ms);
    if times.len() > keep {
        let extra = times.len() - keep;
        times.drain(..extra);
    }
    debug_assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times in block order"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per: VelocityScope, max: u32, window_ms: u64) -> VelocityLimit {
        VelocityLimit {
            per,
            max,
            window_ms,
        }
    }

    #[test]
    fn limits_are_checked_for_range_and_repeats() {
        let ok = limit(VelocityScope::Member, 3, 60_000);
        assert_eq!(validate_limits(std::slice::from_ref(&ok)), Ok(()));
        for bad in [
            vec![limit(VelocityScope::Member, 0, 60_000)],
            vec![limit(VelocityScope::Member, 1_001, 60_000)],
            vec![limit(VelocityScope::Store, 3, 0)],
            vec![limit(VelocityScope::Store, 3, MAX_VELOCITY_WINDOW_MS + 1)],
            vec![ok.clone(), ok.clone()],
            vec![ok.clone(); 7],
        ] {
            assert!(validate_limits(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_counter_keeps_what_its_largest_limit_needs() {
        let minute = limit(VelocityScope::Terminal, 2, 60_000);
        let hour = limit(VelocityScope::Terminal, 5, 3_600_000);
        let mut times = Vec::new();
        for t in [0, 10_000, 20_000, 30_000, 40_000, 50_000] {
            count(&mut times, &[&minute, &hour], t);
        }
        assert_eq!(times, vec![10_000, 20_000, 30_000, 40_000, 50_000]);
        assert_eq!(recent(&times, 60_000, 65_000), 5);
        assert_eq!(recent(&times, 60_000, 75_000), 4);
        assert_eq!(recent(&times, 60_000, 100_000), 1);
        // An hour on, everything before falls out at the next count.
        count(&mut times, &[&minute, &hour], 3_700_000);
        assert_eq!(times, vec![3_700_000]);
    }
}
