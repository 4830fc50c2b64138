//! `GET /console/balances`: the org's loyalty balances (issue 19). What its program owes
//! its members per segment (the ledger's `Liability` record), what of it expires within
//! 30, 60 and 90 days of the latest block (a bounded scan of the org's accounts: lots by
//! their date, and whole segments by their inactivity deadline), and the adjustments
//! waiting for a second admin, with approve and reject buttons for writers
//! (`POST /console/balances/adjustments/{id}`, a signed `decide_adjustment` tx; the
//! chain refuses a decision by the key that asked, and says so). It also lists the
//! withdrawals in progress and decides them (`POST /console/balances/withdrawals/{id}`, a
//! signed `decide_withdrawal` tx): approve or reject a requested one, record an approved
//! one as paid with its payment reference (checked here as the chain checks references,
//! before anything is signed) or reject it. The chain decides who may and from which
//! status (maker-checker: the key that asked cannot approve), and its refusal is shown in
//! its words.

use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, write};
use super::Layout;
use crate::reports::points::{Expiring, HORIZONS_DAYS, MAX_ACCOUNTS, expiring, unit_of};
use crate::reports::scan::{prefix_of, visit};
use crate::storage::Store;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use couponcactus_chaincode::ids::{OrgId, PublicKey, TxId};
use couponcactus_chaincode::loyalty::{
    AdjustmentRecord, AdjustmentStatus, Direction, ExpiryPolicy, ProgramRecord, ProgramSpec,
    Segment, Unit, WithdrawalRecord, WithdrawalStatus,
};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{
    DecideAdjustmentTx, DecideWithdrawalTx, MAX_REFERENCE_BYTES, TxKind, WithdrawalDecision,
};
use couponcactus_chaincode::types::Role;
use couponcactus_client::amounts::format_minor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most adjustment records (of every org) read for the pending list.
pub const MAX_ADJUSTMENTS: usize = 100_000;
/// Most pending adjustments listed (the newest).
pub const MAX_PENDING_SHOWN: usize = 500;

/// How to set a program, for an org without one.
const SET_PROGRAM: &str =
    "cactus program set --key <org admin key> --file examples/loyalty/program.toml";

/// The org's pending adjustments, newest first (reading at most `max` adjustment records
/// of every org), and whether records were left unread.
pub(super) fn pending(
    store: &Store,
    org: &OrgId,
    max: usize,
) -> Result<(Vec<(TxId, AdjustmentRecord)>, bool), PageError> {
    let prefix = prefix_of(StateKey::Adjustment(TxId([0; 32])));
    let mut out = Vec::new();
    let (_, more) = visit(store, &prefix, max, |key, value| {
        if let (StateKey::Adjustment(id), StateValue::Adjustment(record)) = (key, value)
            && record.program == *org
            && record.status == AdjustmentStatus::Pending
        {
            out.push((id, record));
        }
    })?;
    out.sort_by_key(|(id, r)| std::cmp::Reverse((r.requested_ms, *id)));
    Ok((out, more))
}

/// The org's withdrawals not settled yet (requested or approved), newest first (reading at
/// most `max` withdrawal records of every org), and whether records were left unread.
pub(super) fn open_withdrawals(
    store: &Store,
    org: &OrgId,
    max: usize,
) -> Result<(Vec<(TxId, WithdrawalRecord)>, bool), PageError> {
    let prefix = prefix_of(StateKey::Withdrawal(TxId([0; 32])));
    let mut out = Vec::new();
    let (_, more) = visit(store, &prefix, max, |key, value| {
        if let (StateKey::Withdrawal(id), StateValue::Withdrawal(record)) = (key, value)
            && record.program == *org
            && matches!(
                record.status,
                WithdrawalStatus::Requested | WithdrawalStatus::Approved { .. }
            )
        {
            out.push((id, record));
        }
    })?;
    out.sort_by_key(|(id, r)| std::cmp::Reverse((r.requested_ms, *id)));
    Ok((out, more))
}

/// A segment's display name.
fn segment_label(segment: Segment) -> &'static str {
    match segment {
        Segment::CashDeposit => "Cash deposit",
        Segment::Gift => "Gift",
        Segment::Mileage => "Mileage",
        Segment::RefundCredit => "Refund credit",
    }
}

/// `amount` in `unit`: money in its currency (`12.34 EUR`), points as points.
pub(super) fn amount_in(unit: Unit, amount: u64) -> String {
    match unit {
        Unit::Money { currency } => format_minor(amount, currency),
        Unit::Points if amount == 1 => "1 point".into(),
        Unit::Points => format!("{amount} points"),
    }
}

fn policy_text(policy: Option<&ExpiryPolicy>) -> String {
    match policy {
        None => "no longer in the program".into(),
        Some(ExpiryPolicy::Never) => "never expires".into(),
        Some(ExpiryPolicy::MonthsAfterEarning { months }) => {
            format!("{months} months after earning (at that month's end)")
        }
        Some(ExpiryPolicy::FixedDates { dates_ms }) => match dates_ms.as_slice() {
            [] => "never expires (no dates)".into(),
            [one] => format!("on {}", view::date(*one)),
            [first, .., last] => format!(
                "on fixed dates ({} from {} to {})",
                dates_ms.len(),
                view::date(*first),
                view::date(*last)
            ),
        },
        Some(ExpiryPolicy::Inactivity { days }) => {
            format!("all of it after {days} days without activity")
        }
    }
}

/// A first few hex digits of an id.
pub(super) fn short(hex: &str) -> String {
    format!("{}…", hex.get(..12).unwrap_or(hex))
}

#[derive(Debug, Serialize)]
struct Bucket {
    days: u64,
    amount: String,
}

#[derive(Debug, Serialize)]
struct SegmentRow {
    segment: &'static str,
    label: &'static str,
    unit: String,
    expiry: String,
    liability: String,
    due: String,
    has_due: bool,
    expiring: Vec<Bucket>,
}

#[derive(Debug, Serialize)]
struct PendingRow {
    id: String,
    short_id: String,
    member: String,
    member_short: String,
    segment: &'static str,
    direction: &'static str,
    amount: String,
    reason: &'static str,
    note: String,
    maker: String,
    maker_short: String,
    /// Asked with the console's own key: the chain refuses the console's decision.
    by_console: bool,
    requested: String,
}

#[derive(Debug, Serialize)]
struct WithdrawalRow {
    id: String,
    short_id: String,
    member: String,
    member_short: String,
    segment: &'static str,
    amount: String,
    reference: String,
    status: &'static str,
    requested: String,
    asked_by: String,
    asked_by_short: String,
    /// Asked with the console's own key: the chain refuses the console's approval.
    by_console: bool,
    /// The approving key, once approved.
    approved_by: Option<String>,
}

#[derive(Debug, Serialize)]
struct Program {
    name: String,
    version: u32,
    currency: String,
    approval_above: u64,
}

#[derive(Debug, Serialize)]
struct BalancesPage {
    layout: Layout,
    now: String,
    height: u64,
    program: Option<Program>,
    set_program: &'static str,
    segments: Vec<SegmentRow>,
    horizons: [u64; 3],
    accounts: usize,
    accounts_capped: bool,
    pending: Vec<PendingRow>,
    pending_total: usize,
    pending_capped: bool,
    max_adjustments: usize,
    /// Withdrawals requested or approved, not paid or rejected yet.
    withdrawals: Vec<WithdrawalRow>,
    withdrawals_capped: bool,
    /// The longest payment reference the chain takes, bytes.
    max_reference: usize,
    /// Why there are no buttons for this user (read-only role or console).
    read_only: Option<String>,
    /// Why the chain will refuse the console's decisions whoever presses (its key is not
    /// one of the org's active admin keys).
    key_hint: Option<KeyHint>,
    /// What the last write did (`?done=`).
    notice: Option<&'static str>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "approved" => Some("Adjustment approved: the member's balance changed."),
        "rejected" => Some("Adjustment rejected: nothing changed."),
        "withdrawal-approved" => Some(
            "Withdrawal approved: record it as paid, with the payment's reference, once the payout is made.",
        ),
        "withdrawal-paid" => Some("Withdrawal recorded as paid: it is settled."),
        "withdrawal-rejected" => {
            Some("Withdrawal rejected: the amount went back to the member's balance.")
        }
        _ => None,
    }
}

/// The console key's public half.
fn console_key(console: &Console) -> Option<PublicKey> {
    console
        .signer()
        .map(|k| PublicKey(k.verifying_key().to_bytes()))
}

/// Why the chain will refuse decisions signed with the console's key, worded for each list.
#[derive(Debug, Serialize)]
struct KeyHint {
    adjustments: String,
    withdrawals: String,
}

/// What keeps the console's key from deciding, if anything: why, and whether it is an
/// active issuer key of the org (which may still record a payout).
pub(super) fn key_problem(
    console: &Console,
    key: PublicKey,
) -> Result<Option<(String, bool)>, PageError> {
    let record = match console.node.store().get(&StateKey::Key(key))? {
        Some(StateValue::Key(r)) => r,
        _ => return Ok(Some(("is not registered on the chain".into(), false))),
    };
    Ok(if record.org != console.org {
        Some((format!("belongs to {}", record.org), false))
    } else if record.revoked_at.is_some() {
        Some(("is revoked".into(), false))
    } else if record.role == Role::OrgAdmin {
        None
    } else {
        let why = format!("has the {} role", record.role.name());
        Some((why, record.role == Role::Issuer))
    })
}

/// Why the chain would refuse decisions signed with the console's key, if it would.
fn key_hint(console: &Console, key: Option<PublicKey>) -> Result<Option<KeyHint>, PageError> {
    let Some((why, issuer)) = key.map(|k| key_problem(console, k)).transpose()?.flatten() else {
        return Ok(None);
    };
    let org = &console.org;
    let adjustments = format!(
        "The console's key {why}: deciding an adjustment needs an org admin key of {org}, so the chain will refuse a decision made here. Decide with `cactus points approve|reject` and an org admin key."
    );
    let withdrawals = if issuer {
        format!(
            "The console's key {why}: approving or rejecting a withdrawal needs an org admin key of {org}, so the chain will refuse those made here (recording a payout works). Approve or reject with `cactus points withdrawal --id ID approve|reject` and an org admin key."
        )
    } else {
        format!(
            "The console's key {why}: deciding a withdrawal needs an org admin key of {org} (recording a payout, an org admin or issuer key), so the chain will refuse a decision made here. Decide with `cactus points withdrawal --id ID approve|paid|reject` and such a key."
        )
    };
    Ok(Some(KeyHint {
        adjustments,
        withdrawals,
    }))
}

fn program_of(console: &Console) -> Result<Option<ProgramRecord>, PageError> {
    match console
        .node
        .store()
        .get(&StateKey::Program(console.org.clone()))?
    {
        Some(StateValue::Program(p)) => Ok(Some(p)),
        _ => Ok(None),
    }
}

fn segment_rows(
    spec: &ProgramSpec,
    liability: &BTreeMap<Segment, u64>,
    expiring: &BTreeMap<Segment, Expiring>,
) -> Vec<SegmentRow> {
    let mut order: Vec<Segment> = spec.segments.iter().map(|s| s.segment).collect();
    let extra: Vec<Segment> = liability
        .keys()
        .filter(|s| !order.contains(s))
        .copied()
        .collect();
    order.extend(extra);
    order
        .into_iter()
        .map(|segment| {
            let unit = unit_of(spec, segment);
            let soon = expiring.get(&segment).copied().unwrap_or_default();
            SegmentRow {
                segment: segment.name(),
                label: segment_label(segment),
                unit: match unit {
                    Unit::Money { currency } => currency.to_string(),
                    Unit::Points => "points".into(),
                },
                expiry: policy_text(spec.segment(segment).ok().map(|r| &r.expiry)),
                liability: amount_in(unit, liability.get(&segment).copied().unwrap_or(0)),
                due: amount_in(unit, soon.due),
                has_due: soon.due > 0,
                expiring: HORIZONS_DAYS
                    .iter()
                    .zip(soon.within)
                    .map(|(&days, sum)| Bucket {
                        days,
                        amount: amount_in(unit, sum),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn pending_row(
    spec: &ProgramSpec,
    id: &TxId,
    r: &AdjustmentRecord,
    console_key: Option<&PublicKey>,
) -> PendingRow {
    let (id, member, maker) = (id.to_hex(), r.member.to_hex(), r.maker.to_hex());
    PendingRow {
        short_id: short(&id),
        member_short: short(&member),
        maker_short: short(&maker),
        id,
        member,
        maker,
        segment: segment_label(r.segment),
        direction: match r.direction {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        },
        amount: amount_in(unit_of(spec, r.segment), r.amount),
        reason: r.reason.name(),
        note: r.note.clone(),
        by_console: console_key == Some(&r.maker),
        requested: view::time(r.requested_ms),
    }
}

fn withdrawal_row(
    spec: &ProgramSpec,
    id: &TxId,
    r: &WithdrawalRecord,
    console_key: Option<&PublicKey>,
) -> WithdrawalRow {
    let (id, member, asked_by) = (id.to_hex(), r.member.to_hex(), r.requested_by.to_hex());
    WithdrawalRow {
        short_id: short(&id),
        member_short: short(&member),
        asked_by_short: short(&asked_by),
        id,
        member,
        asked_by,
        by_console: console_key == Some(&r.requested_by),
        approved_by: match &r.status {
            WithdrawalStatus::Approved { by } => Some(short(&by.to_hex())),
            _ => None,
        },
        segment: segment_label(r.segment),
        amount: amount_in(unit_of(spec, r.segment), r.amount),
        reference: r.reference.clone(),
        status: r.status.name(),
        requested: view::time(r.requested_ms),
    }
}

fn render(console: &Console, staff: &Staff, done: Option<&str>) -> Result<Response, PageError> {
    let store = console.node.store();
    let tip = store.tip()?;
    let read_only = write::may_write(console, staff)
        .err()
        .map(|e| e.to_string());
    let mut page = BalancesPage {
        layout: Layout::new(console, staff, "balances", "Balances".into(), tip.height),
        now: view::time(tip.time_ms),
        height: tip.height,
        program: None,
        set_program: SET_PROGRAM,
        segments: Vec::new(),
        horizons: HORIZONS_DAYS,
        accounts: 0,
        accounts_capped: false,
        pending: Vec::new(),
        pending_total: 0,
        pending_capped: false,
        max_adjustments: MAX_ADJUSTMENTS,
        withdrawals: Vec::new(),
        withdrawals_capped: false,
        max_reference: MAX_REFERENCE_BYTES,
        read_only,
        key_hint: None,
        notice: notice(done),
    };
    if let Some(program) = program_of(console)? {
        let spec = &program.spec;
        let liability = match store.get(&StateKey::Liability(console.org.clone()))? {
            Some(StateValue::Liability(l)) => l.by_segment,
            _ => BTreeMap::new(),
        };
        let (soon, accounts, capped) =
            expiring(store, &console.org, spec, tip.time_ms, MAX_ACCOUNTS)?;
        let (waiting, pending_capped) = pending(store, &console.org, MAX_ADJUSTMENTS)?;
        let key = console_key(console);
        page.program = Some(Program {
            name: spec.name.clone(),
            version: program.version,
            currency: spec.currency.to_string(),
            approval_above: spec.adjust_approval_above,
        });
        page.segments = segment_rows(spec, &liability, &soon);
        page.accounts = accounts;
        page.accounts_capped = capped;
        page.pending_total = waiting.len();
        page.pending_capped = pending_capped;
        page.pending = waiting
            .iter()
            .take(MAX_PENDING_SHOWN)
            .map(|(id, r)| pending_row(spec, id, r, key.as_ref()))
            .collect();
        let (open, withdrawals_capped) = open_withdrawals(store, &console.org, MAX_ADJUSTMENTS)?;
        page.withdrawals_capped = withdrawals_capped;
        page.withdrawals = open
            .iter()
            .take(MAX_PENDING_SHOWN)
            .map(|(id, r)| withdrawal_row(spec, id, r, key.as_ref()))
            .collect();
        let undecided = !page.pending.is_empty() || !page.withdrawals.is_empty();
        if page.read_only.is_none() && undecided {
            page.key_hint = key_hint(console, key)?;
        }
    }
    view::page("balances.html", &page, tip.height)
}

/// `GET /console/balances`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(q): Query<super::Done>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || render(&console, &staff, q.done.as_deref()))
        .await
        .map_err(|e| PageError::Internal(format!("balances: {e}")))?
}

/// The decision form.
#[derive(Debug, Deserialize)]
pub(super) struct Decision {
    decision: String,
}

/// A 404 for an `id` the org has no `what` under.
fn unknown(what: &str, id: &str) -> PageError {
    PageError::NotFound(format!(
        "the org has no {what} {:?}",
        id.chars().take(80).collect::<String>()
    ))
}

/// The state value under `key`, read off the async runtime.
pub(super) async fn read_state(
    console: &Arc<Console>,
    key: StateKey,
) -> Result<Option<StateValue>, PageError> {
    let c = console.clone();
    Ok(
        tokio::task::spawn_blocking(move || c.node.store().get(&key))
            .await
            .map_err(|e| PageError::Internal(format!("balances: {e}")))??,
    )
}

/// `POST /console/balances/adjustments/{id}`: approve or reject one of the org's
/// adjustments with a signed `decide_adjustment` tx; the ledger's refusal (the key that
/// asked cannot decide, not pending any more, not an admin key) is shown as it worded it.
pub(super) async fn decide(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    CheckedForm(staff, form): CheckedForm<Decision>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(PageError::BadRequest(format!(
                "unknown decision {:?}: approve or reject",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let adjustment: TxId = id.parse().map_err(|_| unknown("adjustment", &id))?;
    match read_state(&console, StateKey::Adjustment(adjustment)).await? {
        Some(StateValue::Adjustment(r)) if r.program == console.org => {}
        _ => return Err(unknown("adjustment", &id)),
    }
    let kind = TxKind::DecideAdjustment(DecideAdjustmentTx {
        adjustment,
        approve,
    });
    write::submit(&console, &staff, kind).await?;
    let done = if approve { "approved" } else { "rejected" };
    Ok(super::pool_new::see_other(&format!(
        "/console/balances?done={done}"
    )))
}

/// The withdrawal decision form: `payment` is the payout's reference (for `paid` only).
#[derive(Debug, Deserialize)]
pub(super) struct WithdrawalForm {
    decision: String,
    #[serde(default)]
    payment: String,
}

/// A payout's payment reference as the chain will take it: 1 to [`MAX_REFERENCE_BYTES`]
/// printable ASCII characters, no spaces (the chaincode's `check_reference`), checked
/// before anything is signed. Whitespace around it (a pasted reference) is dropped.
pub(super) fn payment_reference(text: &str) -> Result<String, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PageError::BadRequest(
            "recording a withdrawal as paid needs the payment's reference (the bank transfer or payout id): nothing was submitted"
                .into(),
        ));
    }
    if text.len() > MAX_REFERENCE_BYTES || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PageError::BadRequest(format!(
            "the payment reference must be 1 to {MAX_REFERENCE_BYTES} printable ASCII characters without spaces, as the chain requires: nothing was submitted"
        )));
    }
    Ok(text.to_string())
}

/// The decision `form` asks for, and the `?done=` word of its notice.
fn withdrawal_decision(
    form: &WithdrawalForm,
) -> Result<(WithdrawalDecision, &'static str), PageError> {
    match form.decision.as_str() {
        "approve" => Ok((WithdrawalDecision::Approve, "withdrawal-approved")),
        "paid" => {
            let payment = payment_reference(&form.payment)?;
            Ok((WithdrawalDecision::Paid { payment }, "withdrawal-paid"))
        }
        "reject" => Ok((WithdrawalDecision::Reject, "withdrawal-rejected")),
        other => Err(PageError::BadRequest(format!(
            "unknown decision {:?}: approve, paid or reject",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// `POST /console/balances/withdrawals/{id}`: approve, record as paid (with `payment`) or
/// reject one of the org's withdrawals with a signed `decide_withdrawal` tx. The ledger
/// decides (the key that asked cannot approve, approve and reject need an org admin key,
/// only a requested one is approved and only an approved one paid) and its refusal is
/// shown as it worded it.
pub(super) async fn decide_withdrawal(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    CheckedForm(staff, form): CheckedForm<WithdrawalForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let (decision, done) = withdrawal_decision(&form)?;
    let withdrawal: TxId = id.parse().map_err(|_| unknown("withdrawal", &id))?;
    match read_state(&console, StateKey::Withdrawal(withdrawal)).await? {
        Some(StateValue::Withdrawal(r)) if r.program == console.org => {}
        _ => return Err(unknown("withdrawal", &id)),
    }
    let kind = TxKind::DecideWithdrawal(DecideWithdrawalTx {
        withdrawal,
        decision,
    });
    write::submit(&console, &staff, kind).await?;
    Ok(super::pool_new::see_other(&format!(
        "/console/balances?done={done}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::points::{add_account, deadline};
    use couponcactus_chaincode::loyalty::{Account, DAY_MS, Lot, LotId};
    use couponcactus_chaincode::testkit;

    const NOW: u64 = 1_000 * DAY_MS;

    fn lot(index: u16, segment: Segment, remaining: u64, expires_ms: Option<u64>) -> Lot {
        Lot {
            id: LotId {
                source: TxId([7; 32]),
                index,
            },
            segment,
            amount: remaining,
            remaining,
            earned_ms: NOW - DAY_MS,
            spendable_from_ms: NOW - DAY_MS,
            expires_ms,
            credited_by: testkit::org("acme"),
        }
    }

    fn account(last_activity_ms: u64, lots: Vec<Lot>) -> Account {
        Account {
            lots: lots.into_iter().map(|l| (l.id, l)).collect(),
            last_activity_ms,
            ..Account::default()
        }
    }

    #[test]
    fn console_balances_bucket_lots_by_date_and_inactivity() {
        let mut program = testkit::program_spec();
        for rule in &mut program.segments {
            if rule.segment == Segment::CashDeposit {
                rule.expiry = ExpiryPolicy::Inactivity { days: 60 };
            }
        }
        let gift = |i, left, at| lot(i, Segment::Gift, left, at);
        let first = account(
            NOW,
            vec![
                gift(0, 1, Some(NOW)),                       // due now: past due
                gift(1, 10, Some(NOW + 1)),                  // within every horizon
                gift(2, 100, Some(NOW + 30 * DAY_MS)),       // exactly 30 days: within 30
                gift(3, 1_000, Some(NOW + 30 * DAY_MS + 1)), // just after: within 60
                gift(4, 10_000, Some(NOW + 91 * DAY_MS)),    // past every horizon
                gift(5, 100_000, None),                      // never
                lot(6, Segment::Mileage, 7, Some(NOW + 90 * DAY_MS)),
                // The whole segment at last activity + 60 days (now: within 60).
                lot(7, Segment::CashDeposit, 5, None),
                // Its own date comes first.
                lot(8, Segment::CashDeposit, 50, Some(NOW + DAY_MS)),
            ],
        );
        // Inactive for 70 days already: past due.
        let second = account(
            NOW - 70 * DAY_MS,
            vec![lot(0, Segment::CashDeposit, 500, None)],
        );
        let mut sums = BTreeMap::new();
        add_account(&mut sums, &program, &first, NOW);
        add_account(&mut sums, &program, &second, NOW);
        let get = |s| sums.get(&s).copied().unwrap_or_default();
        assert_eq!(
            get(Segment::Gift),
            Expiring {
                due: 1,
                within: [110, 1_110, 1_110]
            }
        );
        assert_eq!(
            get(Segment::Mileage),
            Expiring {
                due: 0,
                within: [0, 0, 7]
            }
        );
        assert_eq!(
            get(Segment::CashDeposit),
            Expiring {
                due: 500,
                within: [50, 55, 55]
            }
        );
        assert_eq!(
            deadline(&lot(0, Segment::Gift, 1, Some(9)), Some(1), 5 * DAY_MS),
            Some(9)
        );
        assert_eq!(deadline(&lot(0, Segment::Gift, 1, None), None, 5), None);
        assert_eq!(
            deadline(&lot(0, Segment::Gift, 1, None), Some(2), u64::MAX),
            Some(u64::MAX),
            "saturates"
        );
    }

    fn record(program: &str, requested_ms: u64, status: AdjustmentStatus) -> AdjustmentRecord {
        AdjustmentRecord {
            program: testkit::org(program),
            member: testkit::member(1),
            segment: Segment::Gift,
            direction: Direction::Credit,
            amount: 9_000,
            reason: couponcactus_chaincode::loyalty::AdjustReason::Goodwill,
            note: "n".into(),
            maker: testkit::public(5),
            requested_ms,
            status,
            checker: None,
        }
    }

    #[test]
    fn console_balances_scans_stop_at_their_bound_and_their_org() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let put = |key: StateKey, value: StateValue| {
            store
                .put_raw(
                    crate::storage::cf::STATE,
                    &key.to_bytes(),
                    &value.to_bytes(),
                )
                .unwrap();
        };
        let gift = |n| account(NOW, vec![lot(0, Segment::Gift, n, Some(NOW + DAY_MS))]);
        for (org, n) in [
            ("acme", 1),
            ("acme", 2),
            ("acme", 3),
            ("acmex", 4),
            ("globex", 5),
        ] {
            let key = StateKey::Account(testkit::org(org), testkit::member(n));
            put(key, StateValue::Account(gift(10u64.pow(n as u32))));
        }
        let program = testkit::program_spec();
        let acme = testkit::org("acme");
        let (sums, accounts, capped) = expiring(&store, &acme, &program, NOW, 10).unwrap();
        assert_eq!((accounts, capped), (3, false));
        assert_eq!(sums[&Segment::Gift].within, [1_110; 3], "acme's only");
        let (sums, accounts, capped) = expiring(&store, &acme, &program, NOW, 2).unwrap();
        assert_eq!((accounts, capped), (2, true));
        assert_eq!(
            sums[&Segment::Gift].within[0],
            110,
            "the first two, in key order"
        );
        let (_, accounts, capped) = expiring(&store, &acme, &program, NOW, 3).unwrap();
        assert_eq!(
            (accounts, capped),
            (3, false),
            "exactly the bound: nothing left"
        );
        let id = |b| TxId([b; 32]);
        put(
            StateKey::Adjustment(id(1)),
            StateValue::Adjustment(record("acme", 5, AdjustmentStatus::Pending)),
        );
        put(
            StateKey::Adjustment(id(2)),
            StateValue::Adjustment(record("acme", 9, AdjustmentStatus::Pending)),
        );
        put(
            StateKey::Adjustment(id(3)),
            StateValue::Adjustment(record("acme", 12, AdjustmentStatus::Applied)),
        );
        put(
            StateKey::Adjustment(id(4)),
            StateValue::Adjustment(record("globex", 20, AdjustmentStatus::Pending)),
        );
        put(
            StateKey::Adjustment(id(5)),
            StateValue::Adjustment(record("acme", 9, AdjustmentStatus::Pending)),
        );
        let (waiting, capped) = pending(&store, &acme, 100).unwrap();
        let ids: Vec<TxId> = waiting.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            (ids, capped),
            (vec![id(5), id(2), id(1)], false),
            "newest first"
        );
        let (waiting, capped) = pending(&store, &acme, 2).unwrap();
        assert_eq!((waiting.len(), capped), (2, true));
    }

    #[test]
    fn console_balances_amounts_read_in_their_unit() {
        let eur = Unit::Money {
            currency: couponcactus_chaincode::types::Currency(*b"EUR"),
        };
        let jpy = Unit::Money {
            currency: couponcactus_chaincode::types::Currency(*b"JPY"),
        };
        assert_eq!(amount_in(eur, 123_456), "1234.56 EUR");
        assert_eq!(amount_in(jpy, 500), "500 JPY");
        assert_eq!(amount_in(Unit::Points, 1), "1 point");
        assert_eq!(amount_in(Unit::Points, 0), "0 points");
        let program = testkit::program_spec();
        assert_eq!(unit_of(&program, Segment::Mileage), Unit::Points);
        assert_eq!(
            unit_of(&program, Segment::RefundCredit),
            eur,
            "not kept: money"
        );
        assert_eq!(
            policy_text(Some(&ExpiryPolicy::Inactivity { days: 45 })),
            "all of it after 45 days without activity"
        );
        assert_eq!(short(&"ab".repeat(32)), "abababababab…");
    }

    #[test]
    fn console_balances_withdrawal_forms_check_the_payment_reference() {
        assert_eq!(payment_reference("sepa-42").unwrap(), "sepa-42");
        assert_eq!(
            payment_reference("  sepa-42\n").unwrap(),
            "sepa-42",
            "trimmed"
        );
        let max = "x".repeat(MAX_REFERENCE_BYTES);
        assert_eq!(payment_reference(&max).unwrap(), max);
        for bad in [
            "",
            "   ",
            "sepa 42",
            "sépa",
            "tab\there",
            &format!("{max}x"),
        ] {
            let err = payment_reference(bad).unwrap_err().to_string();
            assert!(err.contains("nothing was submitted"), "{bad:?}: {err}");
        }
        let empty = payment_reference("").unwrap_err().to_string();
        assert!(empty.contains("needs the payment's reference"), "{empty}");
        let form = |decision: &str, payment: &str| WithdrawalForm {
            decision: decision.into(),
            payment: payment.into(),
        };
        let (decision, done) = withdrawal_decision(&form("paid", " ref-1 ")).unwrap();
        assert_eq!(
            (decision, done),
            (
                WithdrawalDecision::Paid {
                    payment: "ref-1".into()
                },
                "withdrawal-paid"
            )
        );
        let (decision, _) = withdrawal_decision(&form("approve", "ignored")).unwrap();
        assert_eq!(decision, WithdrawalDecision::Approve);
        let (decision, _) = withdrawal_decision(&form("reject", "")).unwrap();
        assert_eq!(decision, WithdrawalDecision::Reject);
        assert!(withdrawal_decision(&form("paid", "")).is_err());
        let err = withdrawal_decision(&form("pay", "x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("approve, paid or reject"), "{err}");
        for done in [
            "withdrawal-approved",
            "withdrawal-paid",
            "withdrawal-rejected",
        ] {
            assert!(notice(Some(done)).unwrap().starts_with("Withdrawal "));
        }
    }
}
