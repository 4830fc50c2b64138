//! Bulk revoke (`/console/bulk`): a CSV of tokens becomes one batch of signed
//! `revoke_token` txs (the steps and the idempotency are the parent module's).
//!
//! Columns: `token` (`POOL/SERIAL`), `reason` (`fraud`, `customer_request`,
//! `issued_in_error`, `expired_campaign`, `other`; default `issued_in_error`), `note`
//! (required with `other`). A row passes when it names a token of the org's pools that is
//! not redeemed or revoked already, with a known reason, once in the file. This module
//! owns those checks, the page's per-pool counts and the result file's lines ([`Revoke`]).

use super::super::super::Console;
use super::super::super::view::PageError;
use super::{Confirmation, Outcome, cell};
use couponcactus_chaincode::ids::TokenId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{RevokeReason, RevokeTokenTx, TxKind};
use couponcactus_chaincode::types::TokenStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One checked row.
#[derive(Clone, Debug, Serialize)]
pub(in super::super) struct Row {
    /// 1-based line in the CSV (the header is line 1).
    line: usize,
    token: String,
    reason: String,
    /// Why it will not be revoked (`None`: it will).
    problem: Option<String>,
    #[serde(skip)]
    tx: Option<RevokeTokenTx>,
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
        token: cell(token),
        reason: reason.chars().take(40).collect(),
        problem: Some(why),
        tx: None,
    }
}

/// Why the token cannot be revoked now, if it cannot.
fn token_problem(console: &Console, id: &TokenId) -> Result<Option<String>, PageError> {
    Ok(
        match console.node.store().get(&StateKey::Token(id.clone()))? {
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
    if super::super::pool::the_pool(console, token.pool.as_str()).is_err() {
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
    let help = "token (POOL/SERIAL), and optionally reason and note";
    let typed = match super::read_csv::<CsvRow>(text, &["token"], help) {
        Ok(typed) => typed,
        Err(e) => return Ok(Err(e)),
    };
    let mut rows = Vec::with_capacity(typed.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (line, record) in typed {
        let mut row = match record {
            Ok(r) => check_row(console, line, r)?,
            Err(e) => problem(line, "", "", e),
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
    Ok(Ok(rows))
}

/// Tokens to revoke per pool.
fn per_pool(_: &Console, rows: &[Row]) -> Result<Vec<(String, usize)>, PageError> {
    let mut per_pool: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.problem.is_none()) {
        if let Some(tx) = &r.tx {
            *per_pool.entry(tx.token.pool.to_string()).or_default() += 1;
        }
    }
    Ok(per_pool.into_iter().collect())
}

/// Bulk revoke.
pub(in super::super) struct Revoke;

impl super::Kind for Revoke {
    type Row = Row;
    type Impact = (String, usize);
    const TEMPLATE: &'static str = "bulk.html";
    const TITLE: &'static str = "Bulk revoke";
    const WHAT: &'static str = "revoke";
    const HEADER: &'static [&'static str] = &["line", "token", "result", "detail", "tx_id"];
    const FILE: &'static str = "bulk-revoke-result.csv";

    fn check(
        console: &Console,
        _: &Confirmation,
        text: &str,
    ) -> Result<Result<Vec<Row>, String>, PageError> {
        check(console, text)
    }

    fn passes(row: &Row) -> bool {
        row.problem.is_none()
    }

    fn per_pool(console: &Console, rows: &[Row]) -> Result<Vec<(String, usize)>, PageError> {
        per_pool(console, rows)
    }

    fn plan(row: &Row) -> (usize, Option<TxKind>, Option<String>) {
        let kind = row.tx.clone().map(TxKind::RevokeToken);
        (row.line, kind, row.problem.clone())
    }

    fn result_line(row: Row, outcome: &Outcome) -> Vec<String> {
        let [result, detail, tx] = outcome.cells("revoked");
        vec![row.line.to_string(), row.token, result, detail, tx]
    }
}
