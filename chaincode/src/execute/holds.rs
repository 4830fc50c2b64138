//! Execution of holds and velocity limits (issue 20; the rules are in [`crate::risk`]):
//! `place_hold` and `review_hold`, the checks every stopped tx makes, and the counting of
//! a pool's redemptions for its velocity limits.
//!
//! Roles: an org admin places a hold in force at once (`confirmed`); the org's `risk` key
//! (its fraud engine) places one `pending_review`, which stops just the same; an org admin
//! confirms it or lifts it. A hold names a member the org knows (one a coupon of its pools
//! or a balance of its program was ever theirs: [`super::members`]), a terminal key of the
//! org, or a code of one of the org's pools; a member the org never met is `not_found`
//! (members are pseudonymous: an org holds only ids its own pools or program met, never
//! guessed or mistyped ones), and another org's terminal or code is `not_found`, as an
//! unknown one is, so no org learns another's codes by trying.

use super::{Event, Exec, fail};
use crate::ids::{MemberId, OrgId, PoolId, PublicKey, TxId};
use crate::reject::RejectReason;
use crate::risk::{self, HoldRecord, HoldStatus, HoldTarget, VelocityKey, VelocityScope};
use crate::state::{Overlay, StateKey, StateReader};
use crate::tx::{HoldDecision, PlaceHoldTx, ReviewHoldTx};
use crate::types::{BlockContext, KeyRecord, PoolSpec, Role};

pub(super) fn place<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    id: TxId,
    tx: &PlaceHoldTx,
) -> Exec<Vec<Event>> {
    let status = match signer.role {
        Role::OrgAdmin => HoldStatus::Confirmed,
        Role::Risk => HoldStatus::PendingReview,
        ref role => {
            return fail(
                RejectReason::NotAuthorized,
                format!("needs an org_admin or risk key, signer is {}", role.name()),
            );
        }
    };
    check_note(&tx.note)?;
    let org = &signer.org;
    check_target(view, org, &tx.target)?;
    if view.hold((org, &tx.target))?.is_some() {
        return fail(
            RejectReason::AlreadyExists,
            format!("{org} holds {} already", tx.target),
        );
    }
    let record = HoldRecord {
        reason: tx.reason,
        note: tx.note.clone(),
        placed_by: key,
        placed_tx: id,
        placed_ms: ctx.time_ms,
        status,
        confirmed_by: None,
    };
    view.put_hold((org, &tx.target), record);
    Ok(vec![Event::HoldPlaced {
        org: org.clone(),
        target: tx.target.clone(),
        reason: tx.reason,
        pending_review: status == HoldStatus::PendingReview,
    }])
}

pub(super) fn review<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    (signer, key): (&KeyRecord, PublicKey),
    tx: &ReviewHoldTx,
) -> Exec<Vec<Event>> {
    if signer.role != Role::OrgAdmin {
        return fail(
            RejectReason::NotAuthorized,
            format!("needs an org_admin key, signer is {}", signer.role.name()),
        );
    }
    check_note(&tx.note)?;
    let org = &signer.org;
    let Some(mut record) = view.hold((org, &tx.target))? else {
        return fail(
            RejectReason::NotFound,
            format!("{org} holds no {}", tx.target),
        );
    };
    let event = match tx.decision {
        HoldDecision::Confirm if record.status == HoldStatus::Confirmed => {
            return fail(
                RejectReason::InvalidTransition,
                format!("the hold on {} is confirmed already", tx.target),
            );
        }
        HoldDecision::Confirm => {
            record.status = HoldStatus::Confirmed;
            record.confirmed_by = Some(key);
            view.put_hold((org, &tx.target), record);
            Event::HoldConfirmed {
                org: org.clone(),
                target: tx.target.clone(),
            }
        }
        HoldDecision::Lift => {
            view.tx
                .delete(StateKey::Hold(org.clone(), tx.target.clone()));
            Event::HoldLifted {
                org: org.clone(),
                target: tx.target.clone(),
                reason: record.reason,
                was_pending: record.status == HoldStatus::PendingReview,
            }
        }
    };
    Ok(vec![event])
}

fn check_note(note: &str) -> Exec<()> {
    let ok = !note.trim().is_empty()
        && note.len() <= risk::MAX_HOLD_NOTE_BYTES
        && !note.chars().any(char::is_control);
    if !ok {
        return fail(
            RejectReason::InvalidInput,
            format!(
                "a hold note says why: 1 to {} bytes, without control characters",
                risk::MAX_HOLD_NOTE_BYTES
            ),
        );
    }
    Ok(())
}

/// A member must be one `org` knows, a terminal a terminal key of `org`, a code one of
/// `org`'s pools' codes.
fn check_target<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    target: &HoldTarget,
) -> Exec<()> {
    let found = match target {
        HoldTarget::Member(m) => return super::members::require_known(view, org, *m),
        HoldTarget::Terminal(key) => view.key(key)?.is_some_and(|k| {
            &k.org == org && matches!(k.role, Role::Terminal { .. }) && k.revoked_at.is_none()
        }),
        HoldTarget::Code(hash) => match view.code(hash)? {
            Some(entry) => view.pool(&entry.pool)?.is_some_and(|p| &p.owner == org),
            None => false,
        },
    };
    if !found {
        return fail(RejectReason::NotFound, format!("{org} has no {}", target));
    }
    Ok(())
}

/// Refuses with `on_hold` when `org` holds `target`. The message names what is held but
/// not why: the reason and the review are the org's (the terminal that reads the refusal
/// may be a partner's).
pub(super) fn require_free<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    target: &HoldTarget,
) -> Exec<()> {
    match view.hold((org, target))? {
        Some(_) => fail(
            RejectReason::OnHold,
            format!(
                "{org} holds this {}: {org}'s staff can say more",
                target.kind_name()
            ),
        ),
        None => Ok(()),
    }
}

/// Refuses with `on_hold` when `org` holds `member`.
pub(super) fn require_member_free<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
    member: MemberId,
) -> Exec<()> {
    require_free(view, org, &HoldTarget::Member(member))
}

/// Who redeems: the terminal's key, its org and store, and the member.
pub(super) type Redeemer<'a> = (
    PublicKey,
    &'a OrgId,
    &'a crate::ids::StoreId,
    Option<MemberId>,
);

/// The velocity counters a redemption by this terminal for this member touches, each with
/// its scope.
fn velocity_keys((key, org, store, member): Redeemer<'_>) -> Vec<(VelocityScope, VelocityKey)> {
    let mut keys = vec![
        (VelocityScope::Terminal, VelocityKey::Terminal(key)),
        (
            VelocityScope::Store,
            VelocityKey::Store(org.clone(), store.clone()),
        ),
    ];
    if let Some(m) = member {
        keys.push((VelocityScope::Member, VelocityKey::Member(m)));
    }
    keys
}

/// Refuses with `velocity_exceeded` when a redemption now would pass one of the pool's
/// limits.
pub(super) fn check_velocity<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    now_ms: u64,
    (pool, spec): (&PoolId, &PoolSpec),
    redeemer: Redeemer<'_>,
) -> Exec<()> {
    if spec.velocity.is_empty() {
        return Ok(());
    }
    for (scope, counter) in velocity_keys(redeemer) {
        let times = view.velocity((pool, &counter))?.unwrap_or_default();
        for limit in spec.velocity.iter().filter(|l| l.per == scope) {
            let seen = risk::recent(&times, limit.window_ms, now_ms);
            if seen >= limit.max as usize {
                return fail(
                    RejectReason::VelocityExceeded,
                    format!(
                        "pool {pool}: {seen} redemptions per {} in {} s, at most {}",
                        scope_name(scope),
                        limit.window_ms / 1_000,
                        limit.max
                    ),
                );
            }
        }
    }
    Ok(())
}

fn scope_name(scope: VelocityScope) -> &'static str {
    match scope {
        VelocityScope::Member => "member",
        VelocityScope::Terminal => "terminal",
        VelocityScope::Store => "store",
    }
}

/// Counts a redemption now against the pool's limits.
pub(super) fn count_velocity<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    now_ms: u64,
    (pool, spec): (&PoolId, &PoolSpec),
    redeemer: Redeemer<'_>,
) -> Exec<()> {
    for (scope, counter) in velocity_keys(redeemer) {
        let limits: Vec<_> = spec.velocity.iter().filter(|l| l.per == scope).collect();
        if limits.is_empty() {
            continue;
        }
        let mut times = view.velocity((pool, &counter))?.unwrap_or_default();
        risk::count(&mut times, &limits, now_ms);
        view.put_velocity((pool, &counter), times);
    }
    Ok(())
}
