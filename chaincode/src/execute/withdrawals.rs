//! Execution of withdrawals (issue 19): paying a member's stored value out of a program
//! through a workflow, request → approval → paid, or rejected.
//!
//! A request draws the amount from the member's spendable lots of a cash segment at once
//! (`balance.withdrawn`), so it cannot be spent meanwhile, and records the draws in a
//! [`WithdrawalRecord`] under the request's tx id. A second key approves it (maker-checker,
//! as adjustments: the requesting key gets `self_approval`), then the payment is recorded
//! with its reference; a rejection, from requested or approved, credits the draws back to
//! their lots. The org's liability counts balances: a requested or approved withdrawal has
//! left it and is owed as its record says until paid.

use super::points::{Book, OrRefused, check_positive, check_reference, require_program_staff};
use super::{Event, Exec, fail, require_admin};
use crate::ids::{PublicKey, TxId};
use crate::loyalty::{Segment, WithdrawalRecord, WithdrawalStatus};
use crate::reject::RejectReason;
use crate::state::{Overlay, StateReader};
use crate::tx::{DecideWithdrawalTx, RequestWithdrawalTx, WithdrawalDecision};
use crate::types::{BlockContext, KeyRecord};

use super::BalanceOp;

fn changed(id: TxId, record: &WithdrawalRecord) -> Event {
    Event::WithdrawalChanged {
        withdrawal: id,
        program: record.program.clone(),
        member: record.member,
        amount: record.amount,
        status: record.status.name().to_string(),
    }
}

pub(super) fn request<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    id: TxId,
    tx: &RequestWithdrawalTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    require_program_staff(&tx.program, signer)?;
    if !matches!(tx.segment, Segment::CashDeposit | Segment::RefundCredit) {
        return fail(
            RejectReason::InvalidInput,
            format!(
                "{} is not paid out: only cash_deposit and refund_credit are",
                tx.segment.name()
            ),
        );
    }
    check_positive(tx.amount)?;
    check_reference("reference", &tx.reference)?;
    let mut book = Book::open_free(view, signer, &tx.program, tx.member, now)?;
    let spec = book.program.spec.clone();
    let (allocation, deltas) = book
        .account
        .spend(&spec, &[tx.segment], tx.amount, now)
        .or_refused()?;
    book.record(BalanceOp::Withdrawn, &deltas);
    let record = WithdrawalRecord {
        program: tx.program.clone(),
        member: tx.member,
        segment: tx.segment,
        amount: tx.amount,
        reference: tx.reference.clone(),
        requested_by: key,
        requested_ms: now,
        allocation,
        status: WithdrawalStatus::Requested,
    };
    let mut events = book.close(view, now)?;
    events.push(changed(id, &record));
    view.put_withdrawal(&id, record);
    Ok(events)
}

pub(super) fn decide<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    tx: &DecideWithdrawalTx,
) -> Exec<Vec<Event>> {
    let Some(mut record) = view.withdrawal(&tx.withdrawal)? else {
        return fail(
            RejectReason::NotFound,
            format!("no withdrawal {}", tx.withdrawal),
        );
    };
    require_program_staff(&record.program, signer)?;
    if !matches!(tx.decision, WithdrawalDecision::Reject) {
        // A hold stops a payout asked for before it; a rejection gives the amount back.
        super::holds::require_member_free(view, &record.program, record.member)?;
    }
    let mut events = Vec::new();
    record.status = match (&tx.decision, &record.status) {
        (WithdrawalDecision::Approve, WithdrawalStatus::Requested) => {
            require_admin(signer)?;
            if key == record.requested_by {
                return fail(
                    RejectReason::SelfApproval,
                    "the key that asked for a withdrawal cannot approve it",
                );
            }
            WithdrawalStatus::Approved { by: key }
        }
        (WithdrawalDecision::Paid { payment }, WithdrawalStatus::Approved { by }) => {
            let payment: &str = payment;
            check_reference("payment", payment)?;
            WithdrawalStatus::Paid {
                approved_by: *by,
                payment: payment.to_string(),
                paid_ms: ctx.time_ms,
            }
        }
        (
            WithdrawalDecision::Reject,
            WithdrawalStatus::Requested | WithdrawalStatus::Approved { .. },
        ) => {
            require_admin(signer)?;
            events = give_back(view, ctx, &record)?;
            WithdrawalStatus::Rejected { by: key }
        }
        (decision, status) => {
            let asked = match decision {
                WithdrawalDecision::Approve => "approve",
                WithdrawalDecision::Paid { .. } => "record as paid",
                WithdrawalDecision::Reject => "reject",
            };
            return fail(
                RejectReason::InvalidTransition,
                format!(
                    "cannot {asked} withdrawal {}: it is {}",
                    tx.withdrawal,
                    status.name()
                ),
            );
        }
    };
    events.push(changed(tx.withdrawal, &record));
    view.put_withdrawal(&tx.withdrawal, record);
    Ok(events)
}

/// Credits a rejected withdrawal's draws back to their lots.
fn give_back<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    record: &WithdrawalRecord,
) -> Exec<Vec<Event>> {
    let mut book = Book::open(view, &record.program, record.member, ctx.time_ms)?;
    let deltas = book.account.refund(&record.allocation).or_refused()?;
    book.record(BalanceOp::Refunded, &deltas);
    book.close(view, ctx.time_ms)
}
