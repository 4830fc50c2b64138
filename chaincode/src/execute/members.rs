//! The member registry (issue 20): which members each org knows, kept by consensus under
//! [`StateKey::Member`](crate::state::StateKey::Member).
//!
//! Members are pseudonymous ids; the chain learns of one only when value of an org
//! becomes theirs. An org knows a member from the first block in which a token of one of
//! its pools is allocated or transferred to them, a coupon of one of its pools is redeemed
//! for them (the token's holder, or the member a shared code's redemption names), or they
//! hold a balance in its loyalty program (a [`super::points::Book`] writes their account):
//! the registry is written then, once, and never changed or deleted (a rollback, a void or
//! an emptied account leaves it). Only what the org's own pools and
//! program did counts: a partner's terminal that earns in the org's program makes the
//! member known to the program's org, not to the partner's.
//!
//! What reads it: a hold on a member ([`super::holds`]) names a member the org knows, so
//! that no org holds ids it never met (and a typo is refused, not kept).

use super::{Exec, fail};
use crate::ids::{MemberId, OrgId};
use crate::reject::RejectReason;
use crate::state::{Overlay, StateReader};
use crate::types::MemberRecord;

/// Registers `member` with `org` at the executing block's height, unless the org knows
/// them already.
pub(super) fn register<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    org: &OrgId,
    member: MemberId,
) -> Exec<()> {
    if view.member((org, &member))?.is_none() {
        let first_seen = view.height;
        view.put_member((org, &member), MemberRecord { first_seen });
    }
    Ok(())
}

/// Refuses with `not_found` unless `org` knows `member`.
pub(super) fn require_known<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    member: MemberId,
) -> Exec<()> {
    if view.member((org, &member))?.is_none() {
        return fail(
            RejectReason::NotFound,
            format!(
                "member {} is unknown to org {org}: no coupon or balance of {org} was ever \
                 theirs; nothing was held",
                member.to_hex()
            ),
        );
    }
    Ok(())
}
