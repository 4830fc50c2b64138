//! Execution of consent records and erasure receipts (issue 21; the values are in
//! [`crate::consent`]): `record_consent`, `record_erasure`, and the checks that the txs
//! giving a member something new make ([`admit`]).
//!
//! Roles: consent is captured where the member is (sign-up online, the app, the till), so
//! an org admin, an issuer or a terminal of the org records it, always for the signer's
//! own org; an erasure receipt is an org admin's. A partner-sharing purpose names another
//! existing org (`not_found` otherwise, `invalid_input` for the signer's own). After an
//! erasure receipt the org records no consent for the member and a second receipt is
//! refused (`member_erased`), which a client reads as "recorded already".
//!
//! What [`admit`] refuses, for the pool's or program's org: a member it erased
//! (`member_erased`), then, when the pool or program requires a purpose, a member whose
//! latest decision for it (recorded by that org; for partner sharing, the one naming the
//! partner) is not a grant (`consent_required`). Allocation, a token transfer to a member,
//! earning (an earn, or a checkout that earns), loading, engagement points and a balance
//! transfer to a member call it. Redemption does not: a coupon allocated while consent
//! stood was given lawfully, and refusing it at the till after a withdrawal would take
//! back what the member holds (withdrawal stops new processing, it does not undo the
//! past); a spend of a balance does not either, for the same reason.

use super::{Event, Exec, fail};
use crate::consent::{ConsentDecision, ConsentRecord, ErasureRecord, Purpose};
use crate::ids::{MemberId, OrgId};
use crate::reject::RejectReason;
use crate::state::{Overlay, StateReader};
use crate::tx::{RecordConsentTx, RecordErasureTx};
use crate::types::{BlockContext, KeyRecord, Role};

pub(super) fn record<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &RecordConsentTx,
) -> Exec<Vec<Event>> {
    if !matches!(
        signer.role,
        Role::OrgAdmin | Role::Issuer | Role::Terminal { .. }
    ) {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "needs an org_admin, issuer or terminal key, signer is {}",
                signer.role.name()
            ),
        );
    }
    if tx.text_hash.0 == [0; 32] {
        return fail(
            RejectReason::InvalidInput,
            "text_hash must be the blake3 hash of the consent text shown, not zeros",
        );
    }
    let org = &signer.org;
    check_purpose(view, org, &tx.purpose)?;
    require_not_erased(view, org, tx.member)?;
    let record = ConsentRecord {
        granted: tx.decision == ConsentDecision::Granted,
        text_hash: tx.text_hash,
        at_ms: ctx.time_ms,
        height: view.height,
    };
    view.put_consent((org, &tx.member, &tx.purpose), record);
    Ok(vec![Event::ConsentRecorded {
        org: org.clone(),
        member: tx.member,
        purpose: tx.purpose.clone(),
        decision: tx.decision,
        text_hash: tx.text_hash,
    }])
}

pub(super) fn erase<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &RecordErasureTx,
) -> Exec<Vec<Event>> {
    super::require_admin(signer)?;
    let org = &signer.org;
    require_not_erased(view, org, tx.member)?;
    let record = ErasureRecord {
        at_ms: ctx.time_ms,
        height: view.height,
    };
    view.put_erasure((org, &tx.member), record);
    Ok(vec![Event::MemberErased {
        org: org.clone(),
        member: tx.member,
    }])
}

/// A purpose as `org` may record or require it: a partner-sharing purpose names another
/// org that exists.
pub(super) fn check_purpose<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    purpose: &Purpose,
) -> Exec<()> {
    let Purpose::PartnerSharing(partner) = purpose else {
        return Ok(());
    };
    super::check_slug("partner org of a consent purpose", partner.as_str())?;
    if partner == org {
        return fail(
            RejectReason::InvalidInput,
            "partner sharing names another org than the one that shares",
        );
    }
    if view.org(partner)?.is_none() {
        return fail(
            RejectReason::NotFound,
            format!("org {partner} does not exist"),
        );
    }
    Ok(())
}

/// Refuses with `member_erased` when `org` recorded `member`'s erasure.
pub(super) fn require_not_erased<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    member: MemberId,
) -> Exec<()> {
    if let Some(r) = view.erasure((org, &member))? {
        return fail(
            RejectReason::MemberErased,
            format!(
                "{org} recorded the erasure of member {} at height {}",
                member.to_hex(),
                r.height
            ),
        );
    }
    Ok(())
}

/// What `org` (a pool's owner or a program's org) checks before it gives `member`
/// something new: not erased, and the latest consent to `requires` (if any) a grant.
pub(super) fn admit<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    member: MemberId,
    requires: Option<&Purpose>,
) -> Exec<()> {
    require_not_erased(view, org, member)?;
    let Some(purpose) = requires else {
        return Ok(());
    };
    let latest = view.consent((org, &member, purpose))?;
    let state = match latest {
        Some(r) if r.granted => return Ok(()),
        Some(r) => format!("withdrawn at height {}", r.height),
        None => "none recorded".to_owned(),
    };
    fail(
        RejectReason::ConsentRequired,
        format!(
            "{org} requires member {}'s consent to {purpose}: their latest decision is {state}",
            member.to_hex()
        ),
    )
}
