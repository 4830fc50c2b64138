//! Execution of a checkout (issue 19): up to [`MAX_COUPONS`] coupons, a balance spend and
//! points earned on one order, in one tx, all or nothing; and its undoing by a void,
//! exactly once.
//!
//! The documented order: (1) each coupon is checked and priced on the whole order as a
//! redeem of it would be ([`plan_redemption`]), in the tx's order, each seeing the ones
//! before it (a shared code's per-member cap counts them); (2) [`checkout::plan`] applies
//! the stacking rules and the program's checkout rules (stacking groups exclusive, pools
//! not combinable with a balance, the per-order maximum discount) and says what each
//! coupon takes, what the balance pays and what is left; (3) the balance spend draws its
//! lots; (4) points are earned on what is left, less the order's excluded categories
//! (the discounts and the balance counting against the eligible amount first, so nothing
//! excluded earns). The redemptions are recorded under ids derived from the checkout's
//! ([`redemption_id`]) and point at it, so a rollback of one alone is refused: only a
//! void of the checkout undoes them, with the spend and the points.

use super::points::{
    Book, OrRefused, check_segments, credit_earned, movement, negated, open_order, settle,
};
use super::{Event, Exec, apply_redemption, fail, plan_redemption, undo_redemption};
use crate::checkout::{self, CheckoutError, CouponLine, MAX_COUPONS};
use crate::discount::eligible_amount;
use crate::execute::BalanceOp;
use crate::ids::{PublicKey, TxId};
use crate::loyalty::{self, Allocation, Deltas, LotId, MovementKind, ProgramSpec, Segment};
use crate::reject::RejectReason;
use crate::state::{Overlay, StateReader};
use crate::tx::{BalanceSpend, CheckoutTx, RedeemTx};
use crate::types::{BlockContext, KeyRecord};

/// The id of the `index`-th redemption of checkout `checkout`:
/// `blake3("couponcactus/checkout-redemption/v1" ‖ checkout ‖ index)`.
pub fn redemption_id(checkout: TxId, index: u8) -> TxId {
    let mut h = blake3::Hasher::new();
    h.update(b"couponcactus/checkout-redemption/v1");
    h.update(&checkout.0);
    h.update(&[index]);
    TxId(*h.finalize().as_bytes())
}

fn rejected<T>(e: CheckoutError) -> Exec<T> {
    let reason = match &e {
        CheckoutError::Shape(_) => RejectReason::InvalidInput,
        CheckoutError::StackingConflict { .. } => RejectReason::StackingConflict,
        CheckoutError::NotCombinable(_) => RejectReason::NotCombinable,
        CheckoutError::AddsNothing { .. } => RejectReason::DiscountCapReached,
        CheckoutError::Overpaid { .. } => RejectReason::Overpaid,
    };
    fail(reason, e.to_string())
}

/// What the balance spend pays, in minor units of the program's currency.
fn pay_value(spec: &ProgramSpec, pay: &BalanceSpend) -> Exec<u64> {
    check_segments(&pay.segments)?;
    if pay.amount == 0 {
        return fail(
            RejectReason::InvalidInput,
            "the balance spend must be positive",
        );
    }
    if pay.segments.contains(&Segment::Mileage) {
        let value = spec.checkout.point_value_minor;
        if value == 0 {
            return fail(
                RejectReason::InvalidInput,
                "points do not pay at checkout in this program",
            );
        }
        return match pay.amount.checked_mul(value) {
            Some(v) => Ok(v),
            None => fail(RejectReason::Overflow, "the points' value overflows"),
        };
    }
    Ok(pay.amount)
}

fn check_coupons(coupons: &[crate::tx::RedeemTarget]) -> Exec<()> {
    if coupons.len() > MAX_COUPONS {
        return fail(
            RejectReason::InvalidInput,
            format!("a checkout applies at most {MAX_COUPONS} coupons"),
        );
    }
    for (i, c) in coupons.iter().enumerate() {
        if coupons[..i].contains(c) {
            return fail(RejectReason::InvalidInput, "a coupon is listed twice");
        }
    }
    Ok(())
}

/// Checks and redeems the coupons in order (each sees the ones before); returns their
/// priced lines and events.
fn redeem_coupons<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    id: TxId,
    tx: &CheckoutTx,
    spec: &ProgramSpec,
) -> Exec<(Vec<CouponLine>, Vec<Event>)> {
    let mut lines = Vec::with_capacity(tx.coupons.len());
    let mut events = Vec::with_capacity(tx.coupons.len());
    for (i, target) in tx.coupons.iter().enumerate() {
        let redeem = RedeemTx {
            target: target.clone(),
            member: Some(tx.member),
            order: tx.order.clone(),
        };
        let plan = plan_redemption(view, ctx, (signer, key), &redeem)?;
        lines.push(CouponLine {
            pool: plan.pool.id.clone(),
            stacking_group: plan.pool.spec.stacking_group.clone(),
            discount_minor: plan.quote.discount_minor,
            combinable_with_balance: spec.checkout.combinable(&plan.pool.id),
        });
        let rid = redemption_id(id, i as u8); // at most MAX_COUPONS
        let discount = plan.quote.discount_minor; // capped below once planned
        events.push(apply_redemption(
            view,
            ctx,
            signer,
            rid,
            plan,
            discount,
            Some(id),
        )?);
    }
    Ok((lines, events))
}

/// Sets each redemption's discount to what the plan gave it.
fn cap_discounts<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    events: &mut [Event],
    takes: &[u64],
) -> Exec<()> {
    for (event, take) in events.iter_mut().zip(takes) {
        let Event::Redeemed {
            redemption,
            discount_minor,
            ..
        } = event
        else {
            unreachable!("redeem_coupons makes Redeemed events");
        };
        *discount_minor = *take;
        let mut record = view
            .redemption(redemption)?
            .expect("written by redeem_coupons");
        record.discount_minor = *take;
        view.put_redemption(redemption, record);
    }
    Ok(())
}

pub(super) fn checkout<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    id: TxId,
    tx: &CheckoutTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let member = (&tx.program, tx.member);
    let mut book = open_order(view, now, signer, member, &tx.order_ref, &tx.order)?;
    if tx.earn {
        // Earning needs what an earn needs; a checkout without earning only redeems and
        // spends, which stay allowed (see `super::consent`).
        book.admit_credit(view)?;
    }
    let spec = book.program.spec.clone();
    check_coupons(&tx.coupons)?;
    let pay_minor = tx.pay.as_ref().map(|p| pay_value(&spec, p)).transpose()?;
    let (lines, mut events) = redeem_coupons(view, ctx, (signer, key), id, tx, &spec)?;
    let plan = checkout::plan(
        tx.order.total_minor,
        &lines,
        &spec.checkout,
        pay_minor.unwrap_or(0),
    )
    .or_else(rejected)?;
    cap_discounts(view, &mut events, &plan.coupons)?;
    let allocation = match &tx.pay {
        None => Allocation::default(),
        Some(pay) => {
            let (allocation, deltas) = book
                .account
                .spend(&spec, &pay.segments, pay.amount, now)
                .or_refused()?;
            book.record(BalanceOp::Spent, &deltas);
            settle(
                view,
                &tx.program,
                &signer.org,
                &Deltas::default(),
                &negated(&deltas),
            )?;
            allocation
        }
    };
    let earned = if tx.earn {
        earn_on(view, &mut book, signer, id, tx, plan.net_minor, now)?
    } else {
        None
    };
    let redemptions = (0..tx.coupons.len())
        .map(|i| redemption_id(id, i as u8))
        .collect();
    let kind = MovementKind::Checkout {
        redemptions,
        allocation,
        earned,
        order_ref: tx.order_ref.clone(),
    };
    view.put_movement(&id, movement(&book, signer, kind));
    view.put_earned_order((&signer.org, &tx.order_ref), id);
    let summary = Event::CheckedOut {
        checkout: id,
        program: tx.program.clone(),
        member: tx.member,
        currency: spec.currency,
        total_minor: tx.order.total_minor,
        discount_minor: plan.discount_minor(),
        balance_minor: plan.balance_minor,
        net_minor: plan.net_minor,
        points: earned.map_or(0, |(_, p)| p),
    };
    events.extend(book.close(view, now)?);
    events.push(summary);
    Ok(events)
}

/// Earns on `net_minor` less what of the order is excluded: the lot and its points.
fn earn_on<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    book: &mut Book,
    signer: &KeyRecord,
    id: TxId,
    tx: &CheckoutTx,
    net_minor: u64,
    now: u64,
) -> Exec<Option<(LotId, u64)>> {
    let spec = book.program.spec.clone();
    let eligible = eligible_amount(&tx.order, &spec.earn.excluded_categories)?;
    let paid_otherwise = tx.order.total_minor - net_minor;
    let base = eligible.saturating_sub(paid_otherwise);
    let quote = loyalty::quote_earn(&spec, &book.account, base, now).or_refused()?;
    if quote.award == 0 {
        return Ok(None);
    }
    let lot = credit_earned(view, book, signer, id, quote.award, now)?;
    Ok(Some((lot, quote.award)))
}

/// Undoes checkout `checkout` for a void: its redemptions, its spend and its points (the
/// points' lot must be unspent). Returns what the pair's settlement must take back
/// (credited, spent).
pub(super) fn undo<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    book: &mut Book,
    checkout: TxId,
    redemptions: &[TxId],
    allocation: &Allocation,
    earned: Option<(LotId, u64)>,
) -> Exec<(Deltas, Deltas)> {
    for rid in redemptions {
        let record = view.redemption(rid)?.ok_or_else(|| {
            super::ExecError::State(crate::state::StateError::Corrupt {
                key: crate::state::StateKey::Redemption(*rid),
                why: format!("checkout {checkout} lists it, state lacks it"),
            })
        })?;
        let event = undo_redemption(view, ctx, *rid, record)?;
        book.events.push(event);
    }
    let mut credited = Deltas::default();
    if let Some((lot, points)) = earned {
        let (lots, deltas) = book.account.take_back(&[lot]).or_refused()?;
        book.account.unlog_earned(points, lots[0].earned_ms);
        book.record(BalanceOp::Voided, &deltas);
        credited = deltas;
    }
    let mut spent = Deltas::default();
    if !allocation.0.is_empty() {
        let deltas = book.account.refund(allocation).or_refused()?;
        book.record(BalanceOp::Refunded, &deltas);
        spent = negated(&deltas);
    }
    book.events.push(Event::CheckoutVoided {
        checkout,
        program: book.program.org.clone(),
        member: book.member,
    });
    Ok((credited, spent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redemption_ids_differ_by_checkout_and_index() {
        let a = TxId([1; 32]);
        let b = TxId([2; 32]);
        let ids = [
            redemption_id(a, 0),
            redemption_id(a, 1),
            redemption_id(b, 0),
        ];
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[0], a);
        assert_eq!(redemption_id(a, 1), ids[1]);
    }
}
