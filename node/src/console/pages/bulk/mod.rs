//! Bulk writes from a CSV: revoke ([`revoke`], `/console/bulk`) and grant ([`grant`],
//! `/console/bulk/grant`), both in three steps.
//!
//! 1. **Upload** (`GET`): paste the CSV, or pick a file (a line of script copies it into
//!    the form; without script, paste). A header line names the columns; at most
//!    [`MAX_ROWS`] rows and [`MAX_CSV_BYTES`] bytes.
//! 2. **Dry run** (`POST …/preview`): every row is checked against the chain as it
//!    stands: counts, per-pool impact and each row's problem, and nothing is signed. The
//!    confirm form carries the CSV back with an **idempotency key** and the preview's
//!    time ([`Confirmation`]), so the txs the confirmation signs are fixed by them.
//! 3. **Confirm** (`POST …/confirm`): the rows that pass are signed (memo: the staff
//!    user) with nonces derived from the key and the row, valid from the preview's time:
//!    posting the same confirmation again (a double click, a retry after a timeout) makes
//!    the very same txs, found committed and answered with their first results, so
//!    nothing is done twice and the result file is the same. Rows with a problem now are
//!    skipped, never sent ([`execute`]). The answer is the per-row result file (CSV).
//!
//! This module owns what both share: the form, reading the CSV within its limits, the
//! confirmation's key and time and what is derived from them, submitting a batch with a
//! bounded number in flight, and the result-file answer. The two kinds own their rows'
//! checks and their pages.

mod grant;
mod revoke;

pub(super) use grant::Grant;
pub(super) use revoke::Revoke;

use super::super::Console;
use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::write;
use super::Layout;
use axum::extract::State;
use axum::response::Response;
use couponcactus_chaincode::execute::{Event, TxOutcome};
use couponcactus_chaincode::ids::TxId;
use couponcactus_chaincode::tx::{SignedTx, TxBody, TxKind};
use couponcactus_client::tx_builder::{TxBuilder, now_ms};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Most rows one upload holds.
pub const MAX_ROWS: usize = 10_000;
/// Largest CSV text, bytes (within the console's form limit).
pub const MAX_CSV_BYTES: usize = 60 * 1024;
/// Txs in flight at once during a confirmation.
const IN_FLIGHT: usize = 64;
/// How long a confirmation stays valid after its preview, ms (the txs' validity).
const CONFIRM_WITHIN_MS: u64 = 10 * 60 * 1000;
/// Longest text of a cell shown back in a page or a result file.
const MAX_CELL_CHARS: usize = 120;

/// The upload form and the confirmation form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct BulkForm {
    csv: String,
    key: String,
    at_ms: String,
}

/// `text` cut to [`MAX_CELL_CHARS`] characters, for showing back.
fn cell(text: &str) -> String {
    text.chars().take(MAX_CELL_CHARS).collect()
}

/// Rows of a CSV: each with its line, typed or why it is not a row.
type Typed<T> = Vec<(usize, Result<T, String>)>;

/// The CSV's rows typed as `T`, each with its 1-based line (the header is line 1) or why
/// it is not a row of this CSV. `Err`: the file as a whole is refused (too large, no
/// header naming `columns`, no rows, too many rows), with `help` saying what it needs.
fn read_csv<T: DeserializeOwned>(
    text: &str,
    columns: &[&str],
    help: &str,
) -> Result<Typed<T>, String> {
    if text.len() > MAX_CSV_BYTES {
        return Err(format!("the CSV is over {MAX_CSV_BYTES} bytes: split it"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let named = reader
        .headers()
        .map(|h| columns.iter().all(|c| h.iter().any(|x| x == *c)))
        .unwrap_or(false);
    if !named {
        return Err(format!("the first line must name the columns: {help}"));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.deserialize::<T>().enumerate() {
        if i >= MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows: split the file"));
        }
        let row = record.map_err(|e| format!("not a row of this CSV: {e}"));
        rows.push((i + 2, row));
    }
    if rows.is_empty() {
        return Err("the CSV has no rows under its header".into());
    }
    Ok(rows)
}

/// A dry run's idempotency key and time: what the confirmation's txs are derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Confirmation {
    key: [u8; 16],
    at_ms: u64,
}

impl Confirmation {
    /// A new key, now (a dry run).
    fn fresh() -> Confirmation {
        Confirmation {
            key: rand::random(),
            at_ms: now_ms(),
        }
    }

    /// The key as the confirm form carries it.
    fn key_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// The key and time a confirm form carries, checked: well formed and at most
    /// [`CONFIRM_WITHIN_MS`] before `now`.
    fn from_form(form: &BulkForm, now: u64) -> Result<Confirmation, PageError> {
        let mut key = [0u8; 16];
        hex::decode_to_slice(form.key.trim(), &mut key).map_err(|_| {
            PageError::BadRequest("the confirmation has no valid key: run the dry run again".into())
        })?;
        let at_ms: u64 = form.at_ms.trim().parse().map_err(|_| {
            PageError::BadRequest("the confirmation has no time: run the dry run again".into())
        })?;
        if at_ms > now + 60_000 || now.saturating_sub(at_ms) > CONFIRM_WITHIN_MS {
            return Err(PageError::BadRequest(
                "this dry run is over 10 minutes old: run it again".into(),
            ));
        }
        Ok(Confirmation { key, at_ms })
    }

    /// 32 bytes fixed by the key, `purpose` and the CSV line.
    fn derive(&self, purpose: &str, line: usize) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(format!("couponcactus console bulk {purpose} v1").as_bytes());
        h.update(&self.key);
        h.update(&(line as u64).to_le_bytes());
        *h.finalize().as_bytes()
    }

    /// The tx of CSV line `line` doing `kind` as `staff`: its nonce is derived from the
    /// key, `purpose` and the line, its time is the dry run's, so the same confirmation
    /// always signs the same tx.
    fn sign(
        &self,
        console: &Console,
        staff: &Staff,
        purpose: &str,
        line: usize,
        kind: TxKind,
    ) -> Result<SignedTx, PageError> {
        let signer = console
            .signer()
            .ok_or_else(|| PageError::Internal("no console key".into()))?;
        let nonce_bytes = self.derive(purpose, line);
        let nonce = u64::from_le_bytes(nonce_bytes[..8].try_into().expect("8 bytes"));
        // Valid past the confirmation window, so a confirmation made late in it commits.
        let body = TxBuilder::new(console.node.chain_id().clone())
            .validity_ms(CONFIRM_WITHIN_MS + 5 * 60 * 1000)
            .body_at(kind, self.at_ms)
            .with_memo(Some(write::memo_of(staff)?));
        Ok(TxBody { nonce, ..body }.sign(signer))
    }
}

/// A confirmed row: its tx (`None`: there is nothing to send) and its problem now.
struct Planned {
    tx: Option<SignedTx>,
    problem: Option<String>,
}

/// What became of a confirmed row.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Not sent, for this problem.
    Skipped(String),
    /// The ledger applied it (now, or when this confirmation was first posted).
    Applied { events: Vec<Event>, tx: TxId },
    /// The ledger rejected it: `code: message`.
    Rejected { why: String, tx: TxId },
    /// Accepted but not committed yet.
    Pending(TxId),
    /// The node refused to take it.
    NotSent(String),
}

impl Outcome {
    /// `(result, detail, tx id)` of the result file; `applied` names an applied row.
    fn cells(&self, applied: &str) -> [String; 3] {
        match self {
            Outcome::Skipped(why) => ["skipped".into(), why.clone(), String::new()],
            Outcome::Applied { tx, .. } => [applied.into(), String::new(), tx.to_hex()],
            Outcome::Rejected { why, tx } => ["rejected".into(), why.clone(), tx.to_hex()],
            Outcome::Pending(tx) => ["pending".into(), String::new(), tx.to_hex()],
            Outcome::NotSent(why) => ["not sent".into(), why.clone(), String::new()],
        }
    }

    fn of_committed(done: crate::node::Committed) -> Outcome {
        let tx = done.result.tx_id;
        match done.result.outcome {
            TxOutcome::Applied { events } => Outcome::Applied { events, tx },
            TxOutcome::Rejected { rejection } => Outcome::Rejected {
                why: format!("{}: {}", rejection.reason.code(), rejection.message),
                tx,
            },
        }
    }

    fn of_submission(
        result: Result<crate::node::SubmitOutcome, crate::node::SubmitError>,
    ) -> Outcome {
        match result {
            Ok(crate::node::SubmitOutcome::Committed(done)) => Outcome::of_committed(done),
            Ok(crate::node::SubmitOutcome::Accepted(id)) => Outcome::Pending(id),
            Err(e) => Outcome::NotSent(e.to_string()),
        }
    }
}

/// Runs a confirmation: a row whose tx was committed before (this confirmation, posted
/// again) is answered from the chain, a row with a problem now is skipped, the rest are
/// submitted, at most [`IN_FLIGHT`] at once, and waited for. One outcome per row, in order.
async fn execute(console: &Console, rows: Vec<Planned>) -> Result<Vec<Outcome>, PageError> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(rows.len());
    let mut sends = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let done = match &row.tx {
            Some(tx) => console.node.committed(&tx.id())?,
            None => None,
        };
        outcomes.push(match (done, row.tx, row.problem) {
            (Some(done), _, _) => Some(Outcome::of_committed(done)),
            (None, _, Some(problem)) => Some(Outcome::Skipped(problem)),
            (None, None, None) => Some(Outcome::Skipped("nothing to send".into())),
            (None, Some(tx), None) => {
                sends.push((i, tx));
                None
            }
        });
    }
    use futures::StreamExt as _;
    let node = console.node.clone();
    let results: Vec<(usize, Outcome)> = futures::stream::iter(sends)
        .map(|(i, tx)| {
            let node = node.clone();
            async move { (i, Outcome::of_submission(node.submit(tx, true).await)) }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    for (i, outcome) in results {
        outcomes[i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| PageError::Internal("a submission result is missing".into())))
        .collect()
}

/// Signs the rows of a confirmation as `staff` (`(line, what it does, its problem now)`)
/// and [`execute`]s them; logs how many of `what` the ledger applied.
async fn run(
    console: &Console,
    staff: &Staff,
    confirmation: &Confirmation,
    what: &'static str,
    rows: Vec<(usize, Option<TxKind>, Option<String>)>,
) -> Result<Vec<Outcome>, PageError> {
    let mut planned = Vec::with_capacity(rows.len());
    for (line, kind, problem) in rows {
        let tx = match kind {
            Some(kind) => Some(confirmation.sign(console, staff, what, line, kind)?),
            None => None,
        };
        planned.push(Planned { tx, problem });
    }
    let outcomes = execute(console, planned).await?;
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Applied { .. }))
        .count();
    let rows = outcomes.len();
    tracing::info!(user = %staff.user.name, what, rows, applied, "console bulk write");
    Ok(outcomes)
}

/// The result file `name`: `header`, then a line per CSV row.
fn result_file(
    console: &Console,
    header: &[&str],
    lines: &[Vec<String>],
    name: &str,
) -> Result<Response, PageError> {
    let fail = |e: String| PageError::Internal(format!("result file: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| fail(e.to_string()))?;
    for line in lines {
        w.write_record(line).map_err(|e| fail(e.to_string()))?;
    }
    let body = w.into_inner().map_err(|e| fail(e.to_string()))?;
    let height = console.node.store().tip()?.height;
    Ok(view::attachment(
        body,
        "text/csv; charset=utf-8",
        name,
        height,
    ))
}

/// What a bulk page shows: the upload form, and after a dry run its rows (`R`), counts,
/// per-pool impact (`P`) and the confirm form's key and time.
#[derive(Debug, Serialize)]
struct BulkPage<R, P> {
    layout: Layout,
    csv: String,
    error: Option<String>,
    rows: Vec<R>,
    ok: usize,
    problems: usize,
    per_pool: Vec<P>,
    key: String,
    at_ms: u64,
    previewed: bool,
}

/// A kind of bulk write: its rows' checks, its page and its result file.
pub(super) trait Kind: 'static {
    /// A checked row.
    type Row: Serialize + Send + 'static;
    /// The dry run's impact on one pool.
    type Impact: Serialize;
    /// The page's template.
    const TEMPLATE: &'static str;
    /// The page's title.
    const TITLE: &'static str;
    /// What its txs and claims are derived for ([`Confirmation::derive`]).
    const WHAT: &'static str;
    /// The result file's columns.
    const HEADER: &'static [&'static str];
    /// The result file's name.
    const FILE: &'static str;

    /// Parses and checks the CSV against the node's chain now (`Err`: the file as a whole).
    fn check(
        console: &Console,
        confirmation: &Confirmation,
        text: &str,
    ) -> Result<Result<Vec<Self::Row>, String>, PageError>;
    /// Whether a row passes.
    fn passes(row: &Self::Row) -> bool;
    /// The per-pool impact of the rows.
    fn per_pool(console: &Console, rows: &[Self::Row]) -> Result<Vec<Self::Impact>, PageError>;
    /// A row's line, its tx (`None`: nothing to send) and its problem now.
    fn plan(row: &Self::Row) -> (usize, Option<TxKind>, Option<String>);
    /// A row's line of the result file.
    fn result_line(row: Self::Row, outcome: &Outcome) -> Vec<String>;
}

/// Renders `K`'s page: the empty form (`checked` `None`), a refused file or a dry run.
fn render<K: Kind>(
    console: &Console,
    staff: &Staff,
    csv: String,
    checked: Option<Result<Vec<K::Row>, String>>,
    confirmation: Confirmation,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let (rows, error) = match checked {
        None => (Vec::new(), None),
        Some(Ok(rows)) => (rows, None),
        Some(Err(e)) => (Vec::new(), Some(e)),
    };
    let ok = rows.iter().filter(|r| K::passes(r)).count();
    let page = BulkPage {
        layout: Layout::new(console, staff, "bulk", K::TITLE.into(), height),
        csv,
        error,
        problems: rows.len() - ok,
        previewed: !rows.is_empty(),
        per_pool: K::per_pool(console, &rows)?,
        rows,
        ok,
        key: confirmation.key_hex(),
        at_ms: confirmation.at_ms,
    };
    view::page(K::TEMPLATE, &page, height)
}

/// `GET` of `K`'s page: the upload form.
pub(super) async fn form<K: Kind>(
    State(console): State<Arc<Console>>,
    staff: Staff,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let fresh = Confirmation::fresh();
    render::<K>(&console, &staff, String::new(), None, fresh)
}

/// `POST …/preview`: the dry run; nothing is signed.
pub(super) async fn preview<K: Kind>(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<BulkForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    blocking("bulk preview", move || {
        let confirmation = Confirmation::fresh();
        let checked = K::check(&console, &confirmation, &form.csv)?;
        render::<K>(&console, &staff, form.csv, Some(checked), confirmation)
    })
    .await
}

/// `POST …/confirm`: signs and submits the rows that pass; answers the per-row result
/// file.
pub(super) async fn confirm<K: Kind>(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<BulkForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let confirmation = Confirmation::from_form(&form, now_ms())?;
    let c = console.clone();
    let rows = blocking("bulk confirm", move || {
        K::check(&c, &confirmation, &form.csv)
    })
    .await?
    .map_err(PageError::BadRequest)?;
    let plan = rows.iter().map(K::plan).collect();
    let outcomes = run(&console, &staff, &confirmation, K::WHAT, plan).await?;
    let lines: Vec<Vec<String>> = rows
        .into_iter()
        .zip(&outcomes)
        .map(|(row, outcome)| K::result_line(row, outcome))
        .collect();
    result_file(&console, K::HEADER, &lines, K::FILE)
}

/// Runs `work` (reads of the chain) off the async threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PageError::Internal(format!("{what}: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Row {
        a: String,
        #[serde(default)]
        b: Option<String>,
    }

    fn read(text: &str) -> Result<Typed<Row>, String> {
        read_csv(text, &["a"], "a, and optionally b")
    }

    #[test]
    fn the_csv_needs_a_header_rows_and_stays_within_its_limits() {
        assert!(read("b\nx\n").unwrap_err().contains("name the columns: a"));
        assert!(read("").unwrap_err().contains("name the columns"));
        assert!(read("a,b\n").unwrap_err().contains("no rows"));
        let big = format!("a\n{}", "x\n".repeat(MAX_CSV_BYTES / 2));
        assert!(read(&big).unwrap_err().contains("bytes: split it"));
        let many = format!("a\n{}", "1\n".repeat(MAX_ROWS + 1));
        assert!(many.len() <= MAX_CSV_BYTES);
        assert!(read(&many).unwrap_err().contains("more than 10000 rows"));
        let most = format!("a\n{}", "1\n".repeat(MAX_ROWS));
        assert_eq!(read(&most).unwrap().len(), MAX_ROWS);
    }

    #[test]
    fn rows_carry_their_line_and_short_rows_are_allowed() {
        let rows = read("a,b\n x , y \nz\n\"unclosed\n").unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        let (line, first) = &rows[0];
        let first = first.as_ref().unwrap();
        assert_eq!(
            (*line, first.a.as_str(), first.b.as_deref()),
            (2, "x", Some("y"))
        );
        let (line, second) = &rows[1];
        assert_eq!((*line, second.as_ref().unwrap().b.as_deref()), (3, None));
        assert_eq!(rows[2].0, 4);
    }

    #[test]
    fn a_confirmation_is_checked_and_fixes_what_is_derived() {
        let now = 1_000_000_000;
        let form = |key: &str, at: &str| BulkForm {
            csv: String::new(),
            key: key.into(),
            at_ms: at.into(),
        };
        let key = "00112233445566778899aabbccddeeff";
        let c = Confirmation::from_form(&form(key, "999999000"), now).unwrap();
        assert_eq!(c.key_hex(), key);
        assert_eq!(c.derive("grant", 2), c.derive("grant", 2));
        assert_ne!(c.derive("grant", 2), c.derive("grant", 3));
        assert_ne!(c.derive("grant", 2), c.derive("revoke", 2));
        let other = Confirmation::fresh();
        assert_ne!(other.derive("grant", 2), c.derive("grant", 2));
        for (k, at, why) in [
            ("zz", "999999000", "no valid key"),
            (&key[..30], "999999000", "no valid key"),
            (key, "soon", "no time"),
            (key, "1000", "over 10 minutes old"),
            (key, "1000070000", "over 10 minutes old"),
        ] {
            let e = Confirmation::from_form(&form(k, at), now).unwrap_err();
            assert!(e.to_string().contains(why), "{k} {at}: {e}");
        }
    }
}
