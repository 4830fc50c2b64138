//! The one taxonomy of rejection reasons.
//!
//! Every rejected tx carries a [`RejectReason`] plus a human message. The reason's
//! snake_case name ([`RejectReason::code`]) is stable: the HTTP API returns it as the error
//! code, metrics count by it, and terminals branch on it. Adding a reason appends a variant
//! at the end (the encoding is the variant index), never reorders.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Why a tx was rejected.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum RejectReason {
            $($(#[$doc])* $variant,)*
        }

        impl RejectReason {
            /// Every reason, in encoding order.
            pub const ALL: &'static [RejectReason] = &[$(RejectReason::$variant,)*];

            /// The stable snake_case name.
            pub fn code(self) -> &'static str {
                match self {
                    $(RejectReason::$variant => $code,)*
                }
            }
        }
    };
}

reasons! {
    /// The thing named (pool, token, code, key, redemption, proposal, org) does not exist.
    NotFound => "not_found",
    /// The pool's validity ended before the block time.
    Expired => "expired",
    /// The pool is not valid yet at the block time.
    NotYetValid => "not_yet_valid",
    /// The pool is not active (draft, paused or archived).
    PoolNotActive => "pool_not_active",
    /// The token was redeemed already and not rolled back.
    AlreadyRedeemed => "already_redeemed",
    /// A total cap would be exceeded.
    QuantityExceeded => "quantity_exceeded",
    /// A per-member cap would be exceeded.
    MemberLimitExceeded => "member_limit_exceeded",
    /// The eligible order amount is below the pool's minimum spend.
    MinSpendNotMet => "min_spend_not_met",
    /// The terminal's channel is not allowed by the pool.
    ChannelNotAllowed => "channel_not_allowed",
    /// The terminal's store is not allowed by the pool.
    StoreNotAllowed => "store_not_allowed",
    /// Nothing in the order is eligible: every amount is in an excluded category.
    CategoryExcluded => "category_excluded",
    /// The signer's role or org does not allow this tx.
    NotAuthorized => "not_authorized",
    /// The requested status change is not allowed from the current status.
    InvalidTransition => "invalid_transition",
    /// A code hash repeats in the batch or already exists on the ledger.
    DuplicateCode => "duplicate_code",
    /// The tx's `valid_until_ms` is before the block time.
    Stale => "stale",
    /// The signature does not verify.
    BadSignature => "bad_signature",
    /// The tx was built for another chain.
    WrongChain => "wrong_chain",
    /// This tx id was executed before, applied or rejected (replay).
    Duplicate => "duplicate",
    /// The signer is not a registered key.
    UnknownKey => "unknown_key",
    /// The signer's key was revoked.
    KeyRevoked => "key_revoked",
    /// A field is out of range or malformed (names, amounts, lists, times).
    InvalidInput => "invalid_input",
    /// The thing to create exists already (pool id, key, org, node).
    AlreadyExists => "already_exists",
    /// The token was revoked by its org.
    TokenRevoked => "token_revoked",
    /// The token belongs to another member.
    WrongMember => "wrong_member",
    /// The order's currency is not the pool's.
    CurrencyMismatch => "currency_mismatch",
    /// The operation does not apply to this kind of pool.
    WrongPoolKind => "wrong_pool_kind",
    /// The claim key was used for another member.
    ClaimConflict => "claim_conflict",
    /// The redemption was rolled back already.
    AlreadyRolledBack => "already_rolled_back",
    /// The pool's tokens are not transferable.
    NotTransferable => "not_transferable",
    /// The org approved this proposal already.
    AlreadyApproved => "already_approved",
    /// An amount computation would overflow.
    Overflow => "overflow",
    /// The member's spendable balance is less than the amount (pending and expired lots
    /// do not count).
    InsufficientBalance => "insufficient_balance",
    /// The points an order would earn are above the program's per-transaction cap.
    PerTxCapExceeded => "per_tx_cap_exceeded",
    /// The order earned points already.
    AlreadyEarned => "already_earned",
    /// The balance movement was voided already.
    AlreadyVoided => "already_voided",
    /// Something was spent from the lot to take back (or it is gone): adjust instead.
    AlreadySpent => "already_spent",
    /// The member's account holds as many lots as it may.
    TooManyLots => "too_many_lots",
    /// The admin who asked for an adjustment tried to decide it (maker-checker).
    SelfApproval => "self_approval",
    /// Two coupons of one stacking group in one checkout.
    StackingConflict => "stacking_conflict",
    /// A coupon whose pool does not combine with a balance spend, in a checkout that
    /// spends one.
    NotCombinable => "not_combinable",
    /// A coupon in a checkout would add nothing: the order is paid or the order's maximum
    /// discount is reached.
    DiscountCapReached => "discount_cap_reached",
    /// A checkout's balance spend is more than the coupons leave to pay.
    Overpaid => "overpaid",
    /// The redemption is part of a checkout: only a void of the whole checkout undoes it.
    PartOfCheckout => "part_of_checkout",
    /// The member reached the engagement rule's limit of awards in its window.
    EngagementLimit => "engagement_limit",
    /// A release of points that are not pending (spendable already).
    NotPending => "not_pending",
    /// The org holds the member, terminal or code (fraud suspected or confirmed).
    OnHold => "on_hold",
    /// A redemption now would pass one of the pool's velocity limits.
    VelocityExceeded => "velocity_exceeded",
    /// The pool or program requires a purpose the member's latest consent (recorded by
    /// its org) does not grant.
    ConsentRequired => "consent_required",
    /// The org recorded the member's erasure: it gives them nothing new.
    MemberErased => "member_erased",
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejection: the reason and a deterministic human message (it is part of the block's
/// results, so it depends only on the tx and the state).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Rejection {
    /// The reason, from the taxonomy.
    pub reason: RejectReason,
    /// What exactly was wrong.
    pub message: String,
}

impl Rejection {
    /// A rejection with a message.
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.message)
    }
}

/// Shorthand for building an `Err(Rejection)`.
pub(crate) fn reject<T>(reason: RejectReason, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(reason, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_match_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for r in RejectReason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert!(
                r.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert_eq!(
                serde_json::to_string(r).unwrap(),
                format!("\"{}\"", r.code())
            );
        }
    }

    #[test]
    fn encoding_is_the_variant_index() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(
                crate::encoding::encode(r),
                (i as u32).to_le_bytes().to_vec()
            );
        }
    }
}
