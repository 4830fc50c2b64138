//! Bulk revoke (`/console/bulk`): a CSV of tokens becomes one batch of signed
//! `revoke_token` txs, in three steps.
//!
//! 1. **Upload** (`GET`): paste the CSV, or pick a file (a line of script copies it into
//!    the form; without script, paste). Columns: `token` (`POOL/SERIAL`), `reason`
//!    (`fraud`, `customer_request`, `issued_in_error`, `expired_campaign`, `other`; default
//!    `issued_in_error`), `note` (required with `other`). At most [`MAX_ROWS`] rows.
//! 2. **Dry run** (`POST /console/bulk/preview`): every row is checked against the chain
//!    as it stands (a token of the org's pools, not redeemed or revoked already, a known
//!    reason): counts, per-pool impact and each row's problem, and nothing is signed. The
//!    confirm form carries the CSV back with an **idempotency key** and the preview's
//!    time, so the txs the confirmation signs are fixed by them.
//! 3. **Confirm** (`POST /console/bulk/confirm`): the rows that passed are signed (memo:
//!    the staff user) with nonces derived from the key and the row, and valid from the
//!    preview's time: posting the same confirmation again (a double click, a retry after
//!    a timeout) makes the very same txs, found committed and answered with their first
//!    results, so nothing is revoked twice and the result file is the same. Rows with a
//!    problem now are skipped, never sent. The answer is the per-row result file (CSV).

use super::super::csrf::CheckedForm;
use super::super::view::{self, PageError};
use super::super::{Console, write};
use super::Layout;
use axum::extract::State;
use axum::response::Response;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::TokenId;
use couponcactus_chaincode::state::{StateReader, StateValue};
use couponcactus_chaincode::tx::{RevokeReason, RevokeTokenTx, TxKind};
use couponcactus_chaincode::types::TokenStatus;
use couponcactus_client::tx_builder::TxBuilder;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most rows one upload holds.
pub const MAX_ROWS: usize = 10_000;
/// Largest CSV text, bytes (within the console's form limit).
pub const MAX_CSV_BYTES: usize = 60 * 1024;
/// Txs in flight at once during a confirmation.
const IN_FLIGHT: usize = 64;
/// How long a confirmation stays valid after its preview, ms (the txs' validity).
const CONFIRM_WITHIN_MS: u64 = 10 * 60 * 1000;

/// One checked row.
#[derive(Clone, Debug, Serialize)]
struct Row {
    /// 1-based line in the CSV (the header is line 1).
    line: usize,
    token: String,
    reason: String,
    /// Why it will not be revoked (`None`: it will).
    problem: Option<String>,
    #[serde(skip)]
    tx: Option<RevokeTokenTx>,
}

/// The upload form and the confirmation form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct BulkForm {
    csv: String,
    key: String,
    at_ms: String,
}

#[derive(Debug, Serialize)]
struct BulkPage {
    layout: Layout,
    csv: String,
    error: Option<String>,
    rows: Vec<Row>,
    ok: usize,
    problems: usize,
    per_pool: Vec<(String, usize)>,
    key: String,
    at_ms: u64,
    previewed: bool,
}

/// A CSV line as typed.
#[derive(Debug, Deserialize)]
struct CsvRow {
    token: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

fn problem(line: usize, token: &str, reason: &str, why: String) -> Row {
    Row {
        line,
        token: token.chars().take(120).collect(),
        reason: reason.chars().take(40).collect(),
        problem: Some(why),
        tx: None,
    }
}

/// Why the token cannot be revoked now, if it cannot.
fn token_problem(console: &Console, id: &TokenId) -> Result<Option<String>, PageError> {
    if super::pool::the_pool(console, id.pool.as_str()).is_err() {
        return Ok(Some(format!("the org has no pool {}", id.pool)));
    }
    Ok(
        match console
            .node
            .store()
            .get(&couponcactus_chaincode::state::StateKey::Token(id.clone()))?
        {
            Some(StateValue::Token(t)) => match t.status {
                TokenStatus::Redeemed { .. } => {
                    Some("redeemed already: it cannot be revoked".into())
                }
                TokenStatus::Revoked => Some("revoked already".into()),
                TokenStatus::Available | TokenStatus::Allocated => None,
            },
            _ => Some(format!("no token {id}")),
        },
    )
}

/// Checks one typed row. A row that names a revocable-looking token of the org keeps its
/// tx even when the chain refuses it now (`problem`): a confirmation posted again finds
/// that tx committed and reports its first result.
fn check_row(console: &Console, line: usize, r: CsvRow) -> Result<Row, PageError> {
    let reason_text = r.reason.clone().unwrap_or_default();
    let reason = match reason_text.trim() {
        "" => RevokeReason::IssuedInError,
        t => match t.parse::<RevokeReason>() {
            Ok(x) => x,
            Err(e) => return Ok(problem(line, &r.token, t, e.to_string())),
        },
    };
    let note = r.note.filter(|n| !n.trim().is_empty());
    if reason == RevokeReason::Other && note.is_none() {
        let why = "reason other needs a note".to_string();
        return Ok(problem(line, &r.token, reason.name(), why));
    }
    let Ok(token) = r.token.trim().parse::<TokenId>() else {
        let why = "not a token id: give POOL/SERIAL, e.g. spring/17".to_string();
        return Ok(problem(line, &r.token, reason.name(), why));
    };
    if super::pool::the_pool(console, token.pool.as_str()).is_err() {
        let why = format!("the org has no pool {}", token.pool);
        return Ok(problem(line, &r.token, reason.name(), why));
    }
    Ok(Row {
        line,
        token: token.to_string(),
        reason: reason.name().into(),
        problem: token_problem(console, &token)?,
        tx: Some(RevokeTokenTx {
            token,
            reason,
            note,
        }),
    })
}

/// Parses and checks the CSV: every row, good or not (`Err`: the file as a whole).
fn check(console: &Console, text: &str) -> Result<Result<Vec<Row>, String>, PageError> {
    if text.len() > MAX_CSV_BYTES {
        return Ok(Err(format!(
            "the CSV is over {MAX_CSV_BYTES} bytes: split it"
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let has_token = reader
        .headers()
        .map(|h| h.iter().any(|c| c == "token"))
        .unwrap_or(false);
    if !has_token {
        return Ok(Err(
            "the first line must name the columns: token (POOL/SERIAL), and optionally reason and note".into(),
        ));
    }
    let mut rows = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, record) in reader.deserialize::<CsvRow>().enumerate() {
        let line = i + 2;
        if i >= MAX_ROWS {
            return Ok(Err(format!("more than {MAX_ROWS} rows: split the file")));
        }
        let mut row = match record {
            Ok(r) => check_row(console, line, r)?,
            Err(e) => problem(line, "", "", format!("not a row of this CSV: {e}")),
        };
        if row.tx.is_some() {
            if let Some(first) = seen.get(&row.token) {
                row.problem = Some(format!("repeats line {first}"));
                row.tx = None;
            } else {
                seen.insert(row.token.clone(), line);
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Ok(Err("the CSV has no rows under its header".into()));
    }
    Ok(Ok(rows))
}

fn page(
    console: &Console,
    staff: &super::super::session::Staff,
    csv: String,
    checked: Option<Result<Vec<Row>, String>>,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let (rows, error) = match checked {
        None => (Vec::new(), None),
        Some(Ok(rows)) => (rows, None),
        Some(Err(e)) => (Vec::new(), Some(e)),
    };
    let ok = rows.iter().filter(|r| r.problem.is_none()).count();
    let mut per_pool: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.problem.is_none()) {
        if let Some(tx) = &r.tx {
            *per_pool.entry(tx.token.pool.to_string()).or_default() += 1;
        }
    }
    let page = BulkPage {
        layout: Layout::new(console, staff, "bulk", "Bulk revoke".into(), height),
        csv,
        error,
        problems: rows.len() - ok,
        previewed: !rows.is_empty(),
        rows,
        ok,
        per_pool: per_pool.into_iter().collect(),
        key: hex::encode(rand::random::<[u8; 16]>()),
        at_ms: couponcactus_client::tx_builder::now_ms(),
    };
    view::page("bulk.html", &page, height)
}

/// `GET /console/bulk`.
pub(super) async fn form(
    State(console): State<Arc<Console>>,
    staff: super::super::session::Staff,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    page(&console, &staff, String::new(), None)
}

/// `POST /console/bulk/preview`: the dry run; nothing is signed.
pub(super) async fn preview(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<BulkForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let c = console.clone();
    tokio::task::spawn_blocking(move || {
        let checked = check(&c, &form.csv)?;
        page(&c, &staff, form.csv, Some(checked))
    })
    .await
    .map_err(|e| PageError::Internal(format!("bulk preview: {e}")))?
}

/// The confirmation's key and time, checked.
fn confirmation(form: &BulkForm) -> Result<([u8; 16], u64), PageError> {
    let mut key = [0u8; 16];
    hex::decode_to_slice(form.key.trim(), &mut key).map_err(|_| {
        PageError::BadRequest("the confirmation has no valid key: run the dry run again".into())
    })?;
    let at: u64 = form.at_ms.trim().parse().map_err(|_| {
        PageError::BadRequest("the confirmation has no time: run the dry run again".into())
    })?;
    let now = couponcactus_client::tx_builder::now_ms();
    if at > now + 60_000 || now.saturating_sub(at) > CONFIRM_WITHIN_MS {
        return Err(PageError::BadRequest(
            "this dry run is over 10 minutes old: run it again".into(),
        ));
    }
    Ok((key, at))
}

/// The tx of `row`, fixed by the confirmation's key and time.
fn signed(
    console: &Console,
    staff: &super::super::session::Staff,
    key: &[u8; 16],
    at_ms: u64,
    row: &Row,
    revoke: RevokeTokenTx,
) -> Result<couponcactus_chaincode::tx::SignedTx, PageError> {
    let signer = console
        .signer()
        .ok_or_else(|| PageError::Internal("no console key".into()))?;
    let mut h = blake3::Hasher::new();
    h.update(b"couponcactus console bulk revoke v1");
    h.update(key);
    h.update(&(row.line as u64).to_le_bytes());
    let nonce = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"));
    // Valid past the confirmation window, so a confirmation made late in it still commits.
    let body = TxBuilder::new(console.node.chain_id().clone())
        .validity_ms(CONFIRM_WITHIN_MS + 5 * 60 * 1000)
        .body_at(TxKind::RevokeToken(revoke), at_ms)
        .with_memo(Some(write::memo_of(staff)?));
    Ok(couponcactus_chaincode::tx::TxBody { nonce, ..body }.sign(signer))
}

/// What a confirmation does with a row.
enum Plan {
    /// Not sent: its problem goes in the result file.
    Skip,
    /// Committed before (the same confirmation, posted again): its first result.
    Done(Box<crate::node::Committed>),
    /// Signed and submitted now.
    Send,
}

/// One row's outcome, for the result file.
fn outcome(
    result: Result<crate::node::SubmitOutcome, crate::node::SubmitError>,
) -> (String, String, String) {
    use crate::node::SubmitOutcome;
    match result {
        Ok(SubmitOutcome::Committed(done)) => {
            let id = done.result.tx_id.to_hex();
            match done.result.outcome {
                TxOutcome::Applied { .. } => ("revoked".into(), String::new(), id),
                TxOutcome::Rejected { rejection } => (
                    "rejected".into(),
                    format!("{}: {}", rejection.reason.code(), rejection.message),
                    id,
                ),
            }
        }
        Ok(SubmitOutcome::Accepted(id)) => ("pending".into(), String::new(), id.to_hex()),
        Err(e) => ("not sent".into(), e.to_string(), String::new()),
    }
}

/// The result file: a line per CSV row.
fn result_csv(rows: &[(usize, String, (String, String, String))]) -> Result<Vec<u8>, PageError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| PageError::Internal(format!("result file: {e}"));
    w.write_record(["line", "token", "result", "detail", "tx_id"])
        .map_err(fail)?;
    for (line, token, (result, detail, tx)) in rows {
        w.write_record([line.to_string().as_str(), token, result, detail, tx])
            .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| PageError::Internal(format!("result file: {e}")))
}

/// `POST /console/bulk/confirm`: signs and submits the rows that pass; answers the
/// per-row result file.
pub(super) async fn confirm(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<BulkForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let (key, at_ms) = confirmation(&form)?;
    let c = console.clone();
    let text = form.csv.clone();
    let rows = tokio::task::spawn_blocking(move || check(&c, &text))
        .await
        .map_err(|e| PageError::Internal(format!("bulk confirm: {e}")))??
        .map_err(PageError::BadRequest)?;
    // Each row's tx is fixed by the key: one committed before (this confirmation posted
    // again) is answered from the chain, a row with a problem now is skipped, the rest
    // are submitted.
    let mut plan = Vec::with_capacity(rows.len());
    let mut txs = Vec::new();
    for row in &rows {
        let Some(revoke) = row.tx.clone() else {
            plan.push(Plan::Skip);
            continue;
        };
        let tx = signed(&console, &staff, &key, at_ms, row, revoke)?;
        if let Some(done) = console.node.committed(&tx.id())? {
            plan.push(Plan::Done(Box::new(done)));
        } else if row.problem.is_some() {
            plan.push(Plan::Skip);
        } else {
            plan.push(Plan::Send);
            txs.push(tx);
        }
    }
    use futures::StreamExt as _;
    let node = console.node.clone();
    let mut results = futures::stream::iter(txs)
        .map(|tx| {
            let node = node.clone();
            async move { node.submit(tx, true).await }
        })
        .buffered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter();
    let mut lines = Vec::with_capacity(rows.len());
    for (row, plan) in rows.into_iter().zip(plan) {
        let out = match plan {
            Plan::Skip => (
                "skipped".into(),
                row.problem.clone().unwrap_or_default(),
                String::new(),
            ),
            Plan::Done(done) => outcome(Ok(crate::node::SubmitOutcome::Committed(*done))),
            Plan::Send => outcome(
                results
                    .next()
                    .ok_or_else(|| PageError::Internal("a submission result is missing".into()))?,
            ),
        };
        lines.push((row.line, row.token, out));
    }
    let revoked = lines.iter().filter(|l| l.2.0 == "revoked").count();
    tracing::info!(user = %staff.user.name, rows = lines.len(), revoked, "console bulk revoke");
    let height = console.node.store().tip()?.height;
    Ok(view::attachment(
        result_csv(&lines)?,
        "text/csv; charset=utf-8",
        "bulk-revoke-result.csv",
        height,
    ))
}
