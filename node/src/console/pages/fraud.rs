//! `GET /console/fraud`: the org's fraud work (issue 20), from two sources.
//!
//! - **Holds**, from the chain's state (`StateKey::Hold(org, _)`, a bounded scan of the
//!   org's prefix): those pending review (placed by the org's `risk` key, the node's
//!   scorer), with **Confirm** and **Lift** buttons for writers, and those confirmed (in
//!   force), with **Lift**. A decision is `POST /console/fraud/holds` (`kind`, `id`,
//!   `decision`, `note`): the target, the decision and the note are checked here as the
//!   chain checks them before a `review_hold` tx is signed with the console's key; the
//!   chain decides (an org admin key only, a confirmed hold is not confirmed again) and
//!   its refusal is shown in its words. Each decision is a label the models read.
//! - **Flags**, from the scorer's file (`risk.sqlite` in the node's data directory,
//!   [`crate::risk::store`]): the newest [`MAX_FLAGS`] with their reasons and what the
//!   node did; without the file, that scoring is off and how to turn it on.
//!
//! Every staff role reads the page; only writers get buttons.

use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, write};
use super::Layout;
use super::balances::{key_problem, read_state, short};
use crate::reports::scan::visit;
use crate::risk::engine::Verdict;
use crate::risk::store::{FlagRow, LabelTotals, RISK_FILE, RiskStore};
use crate::storage::Store;
use axum::extract::{Query, State};
use axum::response::Response;
use couponcactus_chaincode::ids::{CodeHash, MemberId, OrgId, PublicKey};
use couponcactus_chaincode::risk::{HoldRecord, HoldStatus, HoldTarget, MAX_HOLD_NOTE_BYTES};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{HoldDecision, ReviewHoldTx, TxKind};
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most hold records of the org read (as `GET /v1/holds` reads at most).
pub const MAX_HOLDS: usize = 10_000;
/// Most holds listed per section (the newest).
pub const MAX_HOLDS_SHOWN: usize = 500;
/// Flags listed (the newest).
pub const MAX_FLAGS: usize = 200;

/// A hold with what it stops.
type Held = (HoldTarget, HoldRecord);

/// The bytes every `StateKey::Hold(org, _)` starts with: what two holds of `org` on
/// targets of different kinds share (the target's variant tag comes right after).
pub(super) fn hold_prefix(org: &OrgId) -> Vec<u8> {
    let a = StateKey::Hold(org.clone(), HoldTarget::Member(MemberId([0; 32]))).to_bytes();
    let b = StateKey::Hold(org.clone(), HoldTarget::Code(CodeHash([0; 32]))).to_bytes();
    let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    a[..shared].to_vec()
}

/// The org's holds (reading at most `max`): pending review and confirmed, each newest
/// first, and whether holds were left unread.
pub(super) fn holds_of(
    store: &Store,
    org: &OrgId,
    max: usize,
) -> Result<(Vec<Held>, Vec<Held>, bool), PageError> {
    let (mut pending, mut confirmed) = (Vec::new(), Vec::new());
    let (_, more) = visit(store, &hold_prefix(org), max, |key, value| {
        if let (StateKey::Hold(o, target), StateValue::Hold(record)) = (key, value)
            && o == *org
        {
            match record.status {
                HoldStatus::PendingReview => pending.push((target, record)),
                HoldStatus::Confirmed => confirmed.push((target, record)),
            }
        }
    })?;
    for list in [&mut pending, &mut confirmed] {
        list.sort_by(|(ta, a), (tb, b)| {
            (b.placed_ms, b.placed_tx, tb).cmp(&(a.placed_ms, a.placed_tx, ta))
        });
    }
    Ok((pending, confirmed, more))
}

/// The target a form names: `kind` member, terminal or code, `id` 64 hex digits.
pub(super) fn target_of(kind: &str, id: &str) -> Result<HoldTarget, PageError> {
    let id = id.trim();
    let parsed = match kind {
        "member" => id.parse().map(HoldTarget::Member),
        "terminal" => id.parse().map(HoldTarget::Terminal),
        "code" => id.parse().map(HoldTarget::Code),
        other => {
            return Err(PageError::BadRequest(format!(
                "unknown kind {:?}: member, terminal or code",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    parsed.map_err(|_| {
        PageError::BadRequest(format!(
            "a {kind} is named by 64 hex digits, not {:?}",
            id.chars().take(80).collect::<String>()
        ))
    })
}

/// A decision's note as the chain takes it: 1 to [`MAX_HOLD_NOTE_BYTES`] bytes, not
/// blank, no control characters (line breaks); whitespace around it is dropped. Checked
/// before anything is signed.
pub(super) fn hold_note(text: &str) -> Result<String, PageError> {
    let note = text.trim();
    if note.is_empty() {
        return Err(PageError::BadRequest(
            "a decision needs a note saying why (the chain keeps it with the decision): nothing was submitted"
                .into(),
        ));
    }
    if note.len() > MAX_HOLD_NOTE_BYTES || note.chars().any(char::is_control) {
        return Err(PageError::BadRequest(format!(
            "the note must be 1 to {MAX_HOLD_NOTE_BYTES} bytes on one line, as the chain requires: nothing was submitted"
        )));
    }
    Ok(note.to_string())
}

/// The decision a form asks for, and the `?done=` word of its notice.
pub(super) fn decision_of(text: &str) -> Result<(HoldDecision, &'static str), PageError> {
    match text {
        "confirm" => Ok((HoldDecision::Confirm, "confirmed")),
        "lift" => Ok((HoldDecision::Lift, "lifted")),
        other => Err(PageError::BadRequest(format!(
            "unknown decision {:?}: confirm or lift",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// `ms` since the Unix epoch in ISO 8601 (`2026-12-03T14:05:09Z`).
pub(super) fn iso(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Review => "review",
        Verdict::Hold => "hold",
    }
}

/// A target's id as hex.
fn target_hex(target: &HoldTarget) -> String {
    match target {
        HoldTarget::Member(m) => m.to_hex(),
        HoldTarget::Terminal(k) => k.to_hex(),
        HoldTarget::Code(h) => h.to_hex(),
    }
}

/// A reason as the alerts quote it: `rule observed > threshold (+weight)`.
pub(super) fn reason_text(r: &crate::risk::engine::Reason) -> String {
    format!(
        "{} {} > {} (+{})",
        r.rule, r.observed, r.threshold, r.weight
    )
}

#[derive(Debug, Serialize)]
struct HoldRow {
    kind: &'static str,
    id: String,
    short_id: String,
    /// Where it is: a terminal's store, a code's pool.
    place: Option<String>,
    reason: &'static str,
    note: String,
    placed: String,
    placed_by: String,
    placed_by_short: String,
    /// Who that key is (`the org's fraud engine (risk key)`, `org admin`, …).
    placed_by_role: String,
    placed_tx: String,
    placed_tx_short: String,
    confirmed_by: Option<String>,
}

#[derive(Debug, Serialize)]
struct FlagView {
    event_id: String,
    time: String,
    height: u64,
    tx_id: String,
    tx_short: String,
    event_type: String,
    store: Option<String>,
    pool: Option<String>,
    score: u8,
    verdict: &'static str,
    reasons: Vec<String>,
    /// What to stop and why (`terminal 9b1c… (enumeration)`).
    subject: Option<String>,
    /// The subject's member id, for a link to the member page.
    subject_member: Option<String>,
    action: Option<String>,
}

/// The scorer's side of the page.
#[derive(Debug, Serialize)]
struct Flags {
    /// `off` (no `risk.sqlite`), `on`, or `stopped` (a file, but scoring is off now).
    scoring: &'static str,
    rows: Vec<FlagView>,
    /// Labels the scorer saved from hold reviews (the anomaly model learns from them).
    labels: LabelTotals,
    /// Why the file could not be read.
    error: Option<String>,
}

/// One list of holds: `pending` (review) or `confirmed` (in force).
#[derive(Debug, Serialize)]
struct Section {
    key: &'static str,
    rows: Vec<HoldRow>,
    /// Holds of the kind, listed or not.
    total: usize,
}

#[derive(Debug, Serialize)]
struct FraudPage {
    layout: Layout,
    now: String,
    /// Pending review, then confirmed.
    sections: [Section; 2],
    any_holds: bool,
    capped: bool,
    max_holds: usize,
    max_note: usize,
    /// Why there are no buttons for this user (read-only role or console).
    read_only: Option<String>,
    /// Why the chain will refuse the console's decisions whoever presses.
    key_hint: Option<String>,
    notice: Option<&'static str>,
    flags: Flags,
    max_flags: usize,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "confirmed" => Some(
            "Hold confirmed: it stays in force, and the chain records that the suspicion was right.",
        ),
        "lifted" => Some("Hold lifted: what it stopped may go on; the chain keeps the decision."),
        _ => None,
    }
}

/// Who `key` is on the chain, for the "placed by" column.
fn role_of(store: &Store, key: &PublicKey) -> Result<String, PageError> {
    Ok(match store.get(&StateKey::Key(*key))? {
        Some(StateValue::Key(k)) => match k.role {
            Role::Risk => "the org's fraud engine (risk key)".into(),
            Role::OrgAdmin => "an org admin".into(),
            ref other => format!("a {} key", other.name()),
        },
        _ => "an unknown key".into(),
    })
}

/// Where the target is: a terminal's store, a code's pool.
fn place_of(store: &Store, target: &HoldTarget) -> Result<Option<String>, PageError> {
    Ok(match target {
        HoldTarget::Member(_) => None,
        HoldTarget::Terminal(k) => match store.get(&StateKey::Key(*k))? {
            Some(StateValue::Key(r)) => match r.role {
                Role::Terminal { store, channel } => Some(format!("store {store} ({channel})")),
                _ => None,
            },
            _ => None,
        },
        HoldTarget::Code(h) => match store.get(&StateKey::Code(*h))? {
            Some(StateValue::Code(entry)) => Some(format!("pool {}", entry.pool)),
            _ => None,
        },
    })
}

fn hold_rows(
    store: &Store,
    holds: &[Held],
    roles: &mut BTreeMap<PublicKey, String>,
) -> Result<Vec<HoldRow>, PageError> {
    let mut rows = Vec::new();
    for (target, r) in holds.iter().take(MAX_HOLDS_SHOWN) {
        let role = match roles.get(&r.placed_by) {
            Some(role) => role.clone(),
            None => {
                let role = role_of(store, &r.placed_by)?;
                roles.insert(r.placed_by, role.clone());
                role
            }
        };
        let (id, by, tx) = (
            target_hex(target),
            r.placed_by.to_hex(),
            r.placed_tx.to_hex(),
        );
        rows.push(HoldRow {
            kind: target.kind_name(),
            short_id: short(&id),
            placed_by_short: short(&by),
            placed_tx_short: short(&tx),
            id,
            placed_by: by,
            placed_tx: tx,
            place: place_of(store, target)?,
            reason: r.reason.name(),
            note: r.note.clone(),
            placed: iso(r.placed_ms),
            placed_by_role: role,
            confirmed_by: r.confirmed_by.map(|k| short(&k.to_hex())),
        });
    }
    Ok(rows)
}

fn flag_view(row: FlagRow) -> FlagView {
    let (f, action) = (row.flag, row.action);
    let a = f.assessment;
    let subject_member = match &a.subject {
        Some((HoldTarget::Member(m), _)) => Some(m.to_hex()),
        _ => None,
    };
    let subject = a.subject.as_ref().map(|(target, why)| {
        format!(
            "{} {} ({})",
            target.kind_name(),
            short(&target_hex(target)),
            why.name()
        )
    });
    FlagView {
        tx_short: short(&f.tx_id),
        event_id: f.event_id,
        time: iso(f.time_ms),
        height: f.height,
        tx_id: f.tx_id,
        event_type: f.event_type,
        store: f.store,
        pool: f.pool,
        score: a.score,
        verdict: verdict_name(a.verdict),
        reasons: a.reasons.iter().map(reason_text).collect(),
        subject,
        subject_member,
        action,
    }
}

/// The scorer's flags in the console's data directory: none and `off` without its file.
fn flags_of(console: &Console) -> Flags {
    let path = console.data_dir.join(RISK_FILE);
    if !path.exists() {
        return Flags {
            scoring: "off",
            rows: Vec::new(),
            labels: LabelTotals::default(),
            error: None,
        };
    }
    let scoring = if console.config.fraud_scoring {
        "on"
    } else {
        "stopped"
    };
    let read = RiskStore::open(&path).and_then(|s| Ok((s.recent(MAX_FLAGS)?, s.label_totals()?)));
    match read {
        Ok((rows, labels)) => Flags {
            scoring,
            rows: rows.into_iter().map(flag_view).collect(),
            labels,
            error: None,
        },
        Err(e) => Flags {
            scoring,
            rows: Vec::new(),
            labels: LabelTotals::default(),
            error: Some(format!("{}: {e}", path.display())),
        },
    }
}

/// Why the chain will refuse review decisions signed with the console's key, if it will.
fn key_hint(console: &Console) -> Result<Option<String>, PageError> {
    let Some(key) = console
        .signer()
        .map(|k| PublicKey(k.verifying_key().to_bytes()))
    else {
        return Ok(None);
    };
    Ok(key_problem(console, key)?.map(|(why, _)| {
        format!(
            "The console's key {why}: confirming or lifting a hold needs an org admin key of {}, so the chain will refuse a decision made here. Decide with `cactus hold confirm|lift --key <org admin key> … --note …`.",
            console.org
        )
    }))
}

fn render(console: &Console, staff: &Staff, done: Option<&str>) -> Result<Response, PageError> {
    let store = console.node.store();
    let tip = store.tip()?;
    let read_only = write::may_write(console, staff)
        .err()
        .map(|e| e.to_string());
    let (pending, confirmed, capped) = holds_of(store, &console.org, MAX_HOLDS)?;
    let mut roles = BTreeMap::new();
    let any_holds = !pending.is_empty() || !confirmed.is_empty();
    let key_hint = match read_only {
        None if any_holds => key_hint(console)?,
        _ => None,
    };
    let sections = [
        Section {
            key: "pending",
            rows: hold_rows(store, &pending, &mut roles)?,
            total: pending.len(),
        },
        Section {
            key: "confirmed",
            rows: hold_rows(store, &confirmed, &mut roles)?,
            total: confirmed.len(),
        },
    ];
    let page = FraudPage {
        layout: Layout::new(console, staff, "fraud", "Fraud".into(), tip.height),
        now: iso(tip.time_ms),
        sections,
        any_holds,
        capped,
        max_holds: MAX_HOLDS,
        max_note: MAX_HOLD_NOTE_BYTES,
        read_only,
        key_hint,
        notice: notice(done),
        flags: flags_of(console),
        max_flags: MAX_FLAGS,
    };
    view::page("fraud.html", &page, tip.height)
}

/// `GET /console/fraud`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(q): Query<super::Done>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || render(&console, &staff, q.done.as_deref()))
        .await
        .map_err(|e| PageError::Internal(format!("fraud: {e}")))?
}

/// The review form: what is held (`kind`, `id`), `confirm` or `lift`, and why.
#[derive(Debug, Deserialize)]
pub(super) struct ReviewForm {
    kind: String,
    id: String,
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/fraud/holds`: confirm or lift one of the org's holds with a signed
/// `review_hold` tx. The form is checked first (nothing is signed for an unknown target, a
/// hold the org does not have, or a blank note); the chain's refusal (not an org admin
/// key, confirmed already) is shown as it worded it.
pub(super) async fn decide(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<ReviewForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let (decision, done) = decision_of(&form.decision)?;
    let target = target_of(&form.kind, &form.id)?;
    let note = hold_note(&form.note)?;
    let key = StateKey::Hold(console.org.clone(), target.clone());
    if !matches!(read_state(&console, key).await?, Some(StateValue::Hold(_))) {
        return Err(PageError::NotFound(format!(
            "{} holds no {target}",
            console.org
        )));
    }
    let kind = TxKind::ReviewHold(ReviewHoldTx {
        target,
        decision,
        note,
    });
    write::submit(&console, &staff, kind).await?;
    Ok(super::pool_new::see_other(&format!(
        "/console/fraud?done={done}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::ids::TxId;
    use couponcactus_chaincode::risk::HoldReason;
    use couponcactus_chaincode::testkit;

    fn hold(placed_ms: u64, status: HoldStatus) -> HoldRecord {
        HoldRecord {
            reason: HoldReason::Velocity,
            note: "n".into(),
            placed_by: testkit::public(3),
            placed_tx: TxId([placed_ms as u8; 32]),
            placed_ms,
            status,
            confirmed_by: None,
        }
    }

    #[test]
    fn console_fraud_reads_only_the_orgs_holds_newest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let put = |org: &str, target: HoldTarget, record: HoldRecord| {
            let key = StateKey::Hold(testkit::org(org), target);
            let value = StateValue::Hold(record);
            store
                .put_raw(
                    crate::storage::cf::STATE,
                    &key.to_bytes(),
                    &value.to_bytes(),
                )
                .unwrap();
        };
        let member = |n| HoldTarget::Member(testkit::member(n));
        put("acme", member(1), hold(5, HoldStatus::PendingReview));
        put("acme", member(2), hold(9, HoldStatus::PendingReview));
        put(
            "acme",
            HoldTarget::Code(CodeHash([4; 32])),
            hold(7, HoldStatus::Confirmed),
        );
        put(
            "acme",
            HoldTarget::Terminal(testkit::public(8)),
            hold(3, HoldStatus::PendingReview),
        );
        put("acmex", member(3), hold(20, HoldStatus::PendingReview));
        put("acm", member(4), hold(21, HoldStatus::PendingReview));
        let acme = testkit::org("acme");
        let (pending, confirmed, more) = holds_of(&store, &acme, 100).unwrap();
        let times: Vec<u64> = pending.iter().map(|(_, r)| r.placed_ms).collect();
        assert_eq!(times, [9, 5, 3], "acme's only, newest first");
        assert_eq!(confirmed.len(), 1);
        assert!(!more);
        let (pending, confirmed, more) = holds_of(&store, &acme, 2).unwrap();
        assert_eq!(pending.len() + confirmed.len(), 2);
        assert!(more, "the bound is said");
        let (_, _, more) = holds_of(&store, &acme, 4).unwrap();
        assert!(!more, "exactly the bound: nothing left");
    }

    #[test]
    fn console_fraud_forms_are_checked_as_the_chain_checks_them() {
        let hex = "ab".repeat(32);
        assert_eq!(
            target_of("member", &hex).unwrap(),
            HoldTarget::Member(MemberId([0xab; 32]))
        );
        assert_eq!(
            target_of("terminal", &format!(" {hex} ")).unwrap(),
            HoldTarget::Terminal(PublicKey([0xab; 32]))
        );
        assert_eq!(
            target_of("code", &hex).unwrap(),
            HoldTarget::Code(CodeHash([0xab; 32]))
        );
        let err = target_of("store", &hex).unwrap_err().to_string();
        assert!(err.contains("member, terminal or code"), "{err}");
        let err = target_of("member", "abc").unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
        assert_eq!(hold_note("  seen on CCTV ").unwrap(), "seen on CCTV");
        let max = "é".repeat(MAX_HOLD_NOTE_BYTES / 2);
        assert_eq!(hold_note(&max).unwrap(), max, "280 bytes");
        for bad in ["", "   ", "\t\n", "two\nlines", &format!("{max}x")] {
            let err = hold_note(bad).unwrap_err().to_string();
            assert!(err.contains("nothing was submitted"), "{bad:?}: {err}");
        }
        assert_eq!(
            decision_of("confirm").unwrap(),
            (HoldDecision::Confirm, "confirmed")
        );
        assert_eq!(decision_of("lift").unwrap(), (HoldDecision::Lift, "lifted"));
        assert!(decision_of("approve").is_err());
        assert_eq!(iso(1_764_000_000_123), "2025-11-24T16:00:00Z");
        assert!(notice(Some("lifted")).unwrap().starts_with("Hold lifted"));
        assert_eq!(notice(Some("other")), None);
    }
}
