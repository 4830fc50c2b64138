//! From the node's event log to what the scoring engine reads: the redemptions,
//! allocations and rollbacks of an org's pools, the redemption attempts refused on them,
//! and the org's hold reviews (labels for the anomaly model: a hold confirmed is fraud, a
//! hold lifted while pending review is not), each reduced to an [`Observation`]. The code a refused attempt named is not in
//! its event (the chain never learns an unknown code's pool): it is read from the tx in
//! its block.

use super::engine::{Observation, Seen};
use couponcactus_chaincode::events::{EventDetail, EventType, LedgerEvent};
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::{CodeHash, OrgId};
use couponcactus_chaincode::tx::{RedeemTarget, SignedTx, TxKind};

/// Whether scoring for `org` reads `e`: an event of one of its pools (a redemption, an
/// allocation, a rollback), a refused redemption at one of its terminals or on one of
/// its pools, or a review of one of its holds.
pub fn relevant(org: &OrgId, e: &LedgerEvent) -> bool {
    let ours = e.org.as_ref() == Some(org);
    match (&e.kind, &e.detail) {
        (
            EventType::CouponRedeemed
            | EventType::CouponAllocated
            | EventType::CouponRolledBack
            | EventType::HoldConfirmed
            | EventType::HoldLifted,
            _,
        ) => ours,
        (EventType::TxRejected, EventDetail::Rejected { tx_kind, .. }) => {
            let attempt = tx_kind == "redeem" || tx_kind == "checkout";
            attempt && (ours || e.signer_org.as_ref() == Some(org))
        }
        _ => false,
    }
}

/// The code a redeem tx named, if it named one.
pub fn code_of(tx: &SignedTx) -> Option<CodeHash> {
    match &tx.body.kind {
        TxKind::Redeem(r) => match r.target {
            RedeemTarget::Code(h) => Some(h),
            RedeemTarget::Token(_) => None,
        },
        TxKind::Checkout(c) if c.coupons.len() == 1 => match c.coupons[0] {
            RedeemTarget::Code(h) => Some(h),
            RedeemTarget::Token(_) => None,
        },
        _ => None,
    }
}

/// The observation `e` makes (`None` for events scoring does not read); `tx` is its tx.
pub fn observation(e: &LedgerEvent, tx: Option<&SignedTx>) -> Option<Observation> {
    let seen = match (&e.kind, &e.detail) {
        (EventType::CouponRedeemed, _) => Seen::Redeemed,
        (EventType::CouponAllocated, _) => Seen::Allocated,
        (EventType::CouponRolledBack, _) => Seen::RolledBack,
        (EventType::TxRejected, EventDetail::Rejected { rejection, .. }) => {
            Seen::Refused(rejection.reason)
        }
        (
            EventType::HoldConfirmed,
            EventDetail::Applied {
                event: Event::HoldConfirmed { target, .. },
            },
        ) => Seen::HoldConfirmed(target.clone()),
        // A hold lifted after it was confirmed ends a fraud hold: not a label.
        (
            EventType::HoldLifted,
            EventDetail::Applied {
                event:
                    Event::HoldLifted {
                        target,
                        was_pending: true,
                        ..
                    },
            },
        ) => Seen::HoldLifted(target.clone()),
        _ => return None,
    };
    let code = match seen {
        Seen::Redeemed | Seen::Refused(_) => tx.and_then(code_of),
        _ => None,
    };
    Some(Observation {
        time_ms: e.time_ms,
        seen,
        token: e.token.clone(),
        code,
        member: e.member,
        terminal: e.signer,
        store: e.store.clone(),
    })
}
