//! Execution of points earned without an order (issue 19): `engage` awards an engagement
//! rule's fixed points (a review, a sign-up, a referral), and `release_points` makes the
//! points an earn or a checkout left pending spendable when the event their program waits
//! for comes (the order delivered, its return window closed).
//!
//! An engagement is awarded once per reference: [`StateKey::Engagement`] (program, action,
//! reference) names the tx that awarded it, and stays when the award is voided (a voided
//! review does not free its id). For a referral the referred member is the reference, so
//! each member is referred once per action, and both members are credited in the one tx.
//! If the referred member's caps leave them nothing, the referrer is still credited and
//! the referral is used: a member is referred once, whatever they got for it.
//! A rule's limit per member and window is counted in the member's account
//! ([`Account::log_engagement`]). The points count as earned (the period cap, the tiers'
//! points collected) and the earn rule's caps reduce them; no multiplier applies.
//!
//! Roles: an engagement comes from the program's org (org admin or issuer: the app's
//! back end) or a terminal of it or of a partner org; a release, like a void, from the org
//! that made the earn (a terminal of the same store, or an org admin).
//!
//! [`StateKey::Engagement`]: crate::state::StateKey::Engagement
//! [`Account::log_engagement`]: crate::loyalty::Account::log_engagement

use super::points::{
    BalanceOp, Book, OrRefused, check_reference, check_voider, credit_points, movement,
    require_staff_or_terminal,
};
use super::{Event, Exec, fail};
use crate::ids::{MemberId, TxId};
use crate::loyalty::{self, Deltas, EngagementRule, LotId, MovementKind};
use crate::reject::RejectReason;
use crate::state::{Overlay, StateReader};
use crate::tx::{EngageTx, ReleasePointsTx};
use crate::types::{BlockContext, KeyRecord};

pub(super) fn engage<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    id: TxId,
    tx: &EngageTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let mut book = Book::open_free(view, signer, &tx.program, tx.member, now)?;
    require_staff_or_terminal(&tx.program, signer)?;
    book.admit_credit(view)?;
    let Some(rule) = book.program.spec.engagement_rule(&tx.action).cloned() else {
        return fail(
            RejectReason::NotFound,
            format!("{}'s program has no engagement {:?}", tx.program, tx.action),
        );
    };
    let reference = reference_of(&rule, tx)?;
    if let Some(earlier) = view.engagement((&tx.program, &tx.action, &reference))? {
        return fail(
            RejectReason::AlreadyEarned,
            format!(
                "engagement {} {reference} was awarded already in tx {earlier}",
                tx.action
            ),
        );
    }
    book.account.log_engagement(&rule, now).or_refused()?;
    let lot = LotId {
        source: id,
        index: 0,
    };
    let Some(points) = credit(view, &mut book, signer, lot, rule.points, now)? else {
        return fail(
            RejectReason::QuantityExceeded,
            format!(
                "engagement {} earns nothing: the member's caps leave no room for {} points",
                tx.action, rule.points
            ),
        );
    };
    let referred = match (rule.referred_points, tx.referred) {
        (Some(award), Some(other)) => {
            credit_referred(view, (&mut book, now), signer, id, other, award)?
        }
        _ => None,
    };
    let kind = MovementKind::Engagement {
        action: tx.action.clone(),
        reference: reference.clone(),
        lot,
        points,
        referred,
    };
    view.put_movement(&id, movement(&book, signer, kind));
    view.put_engagement((&tx.program, &tx.action, &reference), id);
    book.close(view, now)
}

/// The once-only reference of an engagement: the tx's reference, or for a referral the
/// referred member (the tx's reference then empty).
fn reference_of(rule: &EngagementRule, tx: &EngageTx) -> Exec<String> {
    match (rule.referred_points, tx.referred) {
        (None, None) => {
            check_reference("reference", &tx.reference)?;
            Ok(tx.reference.clone())
        }
        (None, Some(_)) => fail(
            RejectReason::InvalidInput,
            format!(
                "engagement {} is not a referral: name no referred member",
                rule.action
            ),
        ),
        (Some(_), None) => fail(
            RejectReason::InvalidInput,
            format!(
                "engagement {} is a referral: name the referred member",
                rule.action
            ),
        ),
        (Some(_), Some(other)) if other == tx.member => {
            fail(RejectReason::InvalidInput, "a member cannot refer themself")
        }
        (Some(_), Some(_)) if !tx.reference.is_empty() => fail(
            RejectReason::InvalidInput,
            "a referral's reference is the referred member: leave the reference empty",
        ),
        (Some(_), Some(other)) => Ok(other.to_hex()),
    }
}

/// Credits up to `points` (reduced by the caps) to `book`'s member as lot `lot`, earned
/// now and pending as the program says for engagements ([`credit_points`]). `None` when
/// the caps leave nothing.
fn credit<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    book: &mut Book,
    signer: &KeyRecord,
    lot: LotId,
    points: u64,
    now: u64,
) -> Exec<Option<u64>> {
    let spec = &book.program.spec;
    let award = loyalty::quote_fixed(spec, &book.account, points, now)
        .or_refused()?
        .award;
    if award == 0 {
        return Ok(None);
    }
    let pending_ms = spec.earn.engagement_pending_ms();
    credit_points(view, book, signer, (lot, award, pending_ms), now)?;
    Ok(Some(award))
}

/// Credits a referral's referred member (lot 1 of the tx); their events join the
/// referrer's. `None` when their caps leave nothing.
fn credit_referred<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    (referrer, now): (&mut Book, u64),
    signer: &KeyRecord,
    id: TxId,
    member: MemberId,
    points: u64,
) -> Exec<Option<(MemberId, LotId, u64)>> {
    let mut book = Book::open_free(view, signer, &referrer.program.org, member, now)?;
    book.admit_credit(view)?;
    let lot = LotId {
        source: id,
        index: 1,
    };
    let Some(award) = credit(view, &mut book, signer, lot, points, now)? else {
        return Ok(None);
    };
    let events = book.close(view, now)?;
    referrer.events.extend(events);
    Ok(Some((member, lot, award)))
}

/// Voids an engagement (from `void`): takes the lots back whole and unspent, out of the
/// earn log and the rule's count. Returns what was credited back, negated, for the
/// settlement.
pub(super) fn undo<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    (book, now): (&mut Book, u64),
    action: &str,
    (lot, points): (LotId, u64),
    referred: &Option<(MemberId, LotId, u64)>,
) -> Exec<Deltas> {
    let mut taken = take_back(book, action, lot, points)?;
    if let Some((member, lot, points)) = referred {
        let mut other = Book::open(view, &book.program.org, *member, now)?;
        taken.merge(&take_back(&mut other, action, *lot, *points)?);
        let events = other.close(view, now)?;
        book.events.extend(events);
    }
    Ok(taken)
}

fn take_back(book: &mut Book, action: &str, lot: LotId, points: u64) -> Exec<Deltas> {
    let (lots, deltas) = book.account.take_back(&[lot]).or_refused()?;
    let earned_ms = lots[0].earned_ms;
    book.account.unlog_earned(points, earned_ms);
    if lot.index == 0 {
        book.account.unlog_engagement(action, earned_ms);
    }
    book.record(BalanceOp::Voided, &deltas);
    Ok(deltas)
}

pub(super) fn release<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &ReleasePointsTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let Some(moved) = view.movement(&tx.tx)? else {
        return fail(
            RejectReason::NotFound,
            format!("tx {} moved no balance", tx.tx),
        );
    };
    check_voider(&moved, signer)?;
    if moved.voided {
        return fail(
            RejectReason::AlreadyVoided,
            format!("tx {} was voided", tx.tx),
        );
    }
    let lot = match &moved.kind {
        MovementKind::Earn { lot, .. }
        | MovementKind::Checkout {
            earned: Some((lot, _)),
            ..
        } => *lot,
        _ => {
            return fail(
                RejectReason::InvalidInput,
                format!("tx {} earned no points on an order", tx.tx),
            );
        }
    };
    let mut book = Book::open(view, &moved.program, moved.member, now)?;
    // Points that wait for a release stay releasable after the program stops waiting for
    // events; otherwise a release is for programs that wait.
    let waits = book.account.lots.get(&lot).map(|l| l.spendable_from_ms) == Some(u64::MAX);
    if !book.program.spec.earn.release_on_event && !waits {
        return fail(
            RejectReason::InvalidInput,
            format!(
                "{}'s program does not release points on an event",
                moved.program
            ),
        );
    }
    let points = book.account.release(&lot, now).or_refused()?;
    book.events.push(Event::PointsReleased {
        source: tx.tx,
        program: moved.program.clone(),
        member: moved.member,
        points,
    });
    book.close(view, now)
}
