//! Writes and tx lookups: submit one tx or a batch, dry-run a tx, look a tx up with proofs.

use super::auth::Reader;
use super::error::{ErrorBody, rejection_status};
use super::extract::{ApiPath, ApiQuery, body_bytes, decode_batch, decode_tx, is_binary, parse};
use super::visibility::Audience;
use super::{ApiError, AppState, blocking};
use crate::node::{Committed, SubmitOutcome};
use crate::storage::Store;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use couponcactus_chaincode::block::{BlockHeader, BlockInclusionProof, block_inclusion_proof};
use couponcactus_chaincode::execute::{Event, ExecError, TxOutcome, dry_run};
use couponcactus_chaincode::history::{HistoryLeaf, inclusion_proof};
use couponcactus_chaincode::ids::{Hash32, TxId};
use couponcactus_chaincode::tx::SignedTx;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use utoipa::{IntoParams, ToSchema};

/// `?wait=`: whether to wait for the commit (default true).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// Wait until the tx's block is applied (default `true`); `false` answers 202 with
    /// `pending` as soon as the tx is admitted.
    wait: Option<bool>,
}

/// Where a tx stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// In a block, applied.
    Applied,
    /// In a block, rejected (the reason is in `error`).
    Rejected,
    /// Admitted, waiting in the mempool (or not committed in time).
    Pending,
    /// Refused at admission; never queued (the reason is in `error`).
    Refused,
}

/// A tx's status and result.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TxView {
    /// The tx id (hex).
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// Where it stands.
    pub status: TxStatus,
    /// Height of its block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Position in the block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Position in the history log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// `TxOutcome`: `{"status":"applied","events":[…]}` or `{"status":"rejected","rejection":{…}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<TxOutcome>,
    /// Why it was rejected or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl TxView {
    fn pending(tx_id: TxId) -> Self {
        TxView {
            tx_id,
            status: TxStatus::Pending,
            height: None,
            index: None,
            log_index: None,
            result: None,
            error: None,
        }
    }

    fn refused(tx_id: TxId, error: &ApiError) -> Self {
        TxView {
            status: TxStatus::Refused,
            error: Some(error.body()),
            ..TxView::pending(tx_id)
        }
    }

    fn committed(c: &Committed) -> Self {
        let error = c
            .result
            .outcome
            .rejection()
            .map(|r| ErrorBody::new(r.reason.code(), r.message.clone()));
        TxView {
            tx_id: c.result.tx_id,
            status: if error.is_some() {
                TxStatus::Rejected
            } else {
                TxStatus::Applied
            },
            height: Some(c.location.height),
            index: Some(c.location.index),
            log_index: Some(c.location.log_index),
            result: Some(c.result.outcome.clone()),
            error,
        }
    }

    /// 200 for applied, the rejection's status (422, or 409 for `duplicate`) for rejected.
    fn http_status(&self) -> StatusCode {
        match &self.result {
            Some(outcome) => outcome
                .rejection()
                .map_or(StatusCode::OK, |r| rejection_status(r.reason)),
            None => StatusCode::ACCEPTED,
        }
    }
}

/// Submits one signed tx.
#[utoipa::path(
    post,
    path = "/v1/txs",
    tag = "txs",
    params(WaitQuery),
    request_body(
        description = "A SignedTx as JSON, or its canonical bincode with `Content-Type: application/octet-stream` (docs/encoding.md); `body.memo` is an optional memo (1 to 128 bytes of UTF-8, no control characters, not only whitespace)",
        content((Object = "application/json"), (super::extract::Bincode = "application/octet-stream"))
    ),
    responses(
        (status = 200, description = "Committed and applied (or committed before: the original result)", body = TxView),
        (status = 202, description = "Admitted (`wait=false`); poll `GET /v1/txs/{id}`", body = TxView),
        (status = 422, description = "Committed and rejected: `error.code` is the rejection reason; the body also carries the tx's place", body = TxView),
        (status = 400, description = "Malformed body (a malformed memo included: `invalid memo: …`), bad signature, wrong chain, stale or too long validity", body = super::ErrorResponse),
        (status = 401, description = "Signer unknown or revoked", body = super::ErrorResponse),
        (status = 413, description = "Body or tx too large", body = super::ErrorResponse),
        (status = 503, description = "Mempool full or node shutting down", body = super::ErrorResponse),
        (status = 504, description = "Not committed within the commit timeout (it may still commit; resubmitting is idempotent)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn submit(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WaitQuery>,
    noter: crate::access_log::Noter,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TxView>), ApiError> {
    let tx = decode_tx(is_binary(&headers), &body_bytes(body)?)?;
    // The access log names the signer once admission checked its signature.
    let signer = tx.signer.to_hex();
    let outcome = state.node.submit(tx, query.wait.unwrap_or(true)).await?;
    noter.signer(signer);
    let view = match outcome {
        SubmitOutcome::Committed(c) => TxView::committed(&c),
        SubmitOutcome::Accepted(id) => TxView::pending(id),
    };
    Ok((view.http_status(), Json(view)))
}

/// The per-tx results of a batch.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// Txs in the batch.
    pub count: usize,
    /// How many were applied.
    pub applied: usize,
    /// How many were rejected in their block.
    pub rejected: usize,
    /// How many are admitted but not (yet) committed.
    pub pending: usize,
    /// How many were refused at admission.
    pub refused: usize,
    /// One result per tx, in batch order.
    pub results: Vec<TxView>,
}

/// Submits up to 10,000 signed txs, admitted in batch order.
#[utoipa::path(
    post,
    path = "/v1/txs/batch",
    tag = "txs",
    params(WaitQuery),
    request_body(
        description = "A JSON array of SignedTx, or the canonical bincode of `Vec<SignedTx>` with `Content-Type: application/octet-stream`; at most 10,000 txs",
        content((Vec<Object> = "application/json"), (super::extract::Bincode = "application/octet-stream"))
    ),
    responses(
        (status = 200, description = "Per-tx results in batch order (applied, rejected, pending or refused)", body = BatchView),
        (status = 400, description = "Malformed body", body = super::ErrorResponse),
        (status = 413, description = "More than 10,000 txs, or body too large", body = super::ErrorResponse),
    )
)]
pub(crate) async fn submit_batch(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WaitQuery>,
    noter: crate::access_log::Noter,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchView>, ApiError> {
    let bytes = body_bytes(body)?;
    let binary = is_binary(&headers);
    let node = state.node.clone();
    // Decoding and admission (a signature check per tx) are CPU work: run them on a
    // blocking thread, admitting in batch order so the txs reach blocks in that order.
    let admitted = blocking(move || {
        let txs = decode_batch(binary, &bytes)?;
        let runtime = tokio::runtime::Handle::current();
        Ok(txs
            .into_iter()
            .map(|tx| {
                let (id, signer) = (tx.id(), tx.signer);
                let outcome = runtime.block_on(node.submit(tx, false));
                // The access log names the first admitted tx's signer (a batch is
                // usually one signer's).
                if outcome.is_ok() {
                    noter.signer(signer.to_hex());
                }
                (id, outcome)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    let mut results: Vec<TxView> = admitted
        .into_iter()
        .map(|(id, outcome)| match outcome {
            Ok(SubmitOutcome::Committed(c)) => TxView::committed(&c),
            Ok(SubmitOutcome::Accepted(id)) => TxView::pending(id),
            Err(e) => TxView::refused(id, &ApiError::from(e)),
        })
        .collect();
    if query.wait.unwrap_or(true) {
        wait_for_commits(&state, &mut results).await?;
    }
    let count_of = |s: TxStatus| results.iter().filter(|r| r.status == s).count();
    Ok(Json(BatchView {
        count: results.len(),
        applied: count_of(TxStatus::Applied),
        rejected: count_of(TxStatus::Rejected),
        pending: count_of(TxStatus::Pending),
        refused: count_of(TxStatus::Refused),
        results,
    }))
}

/// Polls until every pending result is committed or the batch commit timeout passes.
async fn wait_for_commits(state: &AppState, results: &mut [TxView]) -> Result<(), ApiError> {
    let deadline = Instant::now() + state.options.batch_commit_timeout;
    let mut delay = Duration::from_millis(2);
    loop {
        let pending: Vec<(usize, TxId)> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == TxStatus::Pending)
            .map(|(i, r)| (i, r.tx_id))
            .collect();
        if pending.is_empty() || Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_millis(100));
        let node = state.node.clone();
        let done = blocking(move || {
            let mut done = Vec::new();
            for (i, id) in pending {
                if let Some(c) = node.committed(&id)? {
                    done.push((i, c));
                }
            }
            Ok(done)
        })
        .await?;
        for (i, c) in done {
            results[i] = TxView::committed(&c);
        }
    }
}

/// History-log proof of one tx result against a header's log root.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogProofView {
    /// The log entry: `{tx_id, height, index, outcome}`; its hash is `blake3(0x00 ‖ encode(leaf))`.
    #[schema(value_type = Object)]
    pub leaf: HistoryLeaf,
    /// Its position in the log.
    pub log_index: u64,
    /// Size of the log the proof is against (`header.log_size`).
    pub log_size: u64,
    /// Root of that log (`header.log_root`).
    #[schema(value_type = String)]
    pub log_root: Hash32,
    /// RFC 9162 audit path, leaf side first (hex hashes).
    #[schema(value_type = Vec<String>)]
    pub proof: Vec<Hash32>,
    /// Height of the header whose log root the proof is against (the latest block).
    pub at_height: u64,
}

/// A tx with its result and proofs.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TxDetailView {
    /// Status and result.
    #[serde(flatten)]
    pub view: TxView,
    /// The signed tx `{body, signer, signature}`; `body.memo` is the signer's memo (who or
    /// why, e.g. the console's staff user id) or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tx: Option<SignedTx>,
    /// The header of its block.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub header: Option<BlockHeader>,
    /// Proof of the tx under `header.tx_root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tx_proof: Option<BlockInclusionProof>,
    /// Proof of the result (`{tx_id, outcome}`) under `header.result_root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result_proof: Option<BlockInclusionProof>,
    /// Proof of the history-log entry under the latest header's log root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogProofView>,
}

/// Looks a tx up: status, result, the tx, and proofs.
#[utoipa::path(
    get,
    path = "/v1/txs/{id}",
    tag = "txs",
    params(("id" = String, Path, description = "Tx id (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Applied, rejected (with `error`) or pending", body = TxDetailView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read this tx", body = super::ErrorResponse),
        (status = 404, description = "Unknown tx id", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_tx(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TxDetailView>, ApiError> {
    let id: TxId = parse("tx id", &id)?;
    let node = state.node.clone();
    let detail = blocking(move || {
        let store = node.store();
        let committed = if let Some(committed) = node.committed(&id)? {
            committed
        } else {
            if node.is_pending(&id) {
                let view = TxView::pending(id);
                return Ok(TxDetailView {
                    view,
                    tx: None,
                    header: None,
                    tx_proof: None,
                    result_proof: None,
                    log: None,
                });
            }
            // Not pending: its block may have been applied since the first look (a block
            // is stored before its txs leave the mempool), so look once more.
            match node.committed(&id)? {
                Some(committed) => committed,
                None => return Err(ApiError::NotFound(format!("no tx {id} on this node"))),
            }
        };
        let loc = committed.location;
        let block = store
            .block(loc.height)?
            .ok_or_else(|| ApiError::Internal(format!("block {} missing", loc.height)))?;
        let tx = block.txs.get(loc.index as usize).cloned().ok_or_else(|| {
            ApiError::Internal(format!("block {} has no tx {}", loc.height, loc.index))
        })?;
        Audience::new(store, Some(&reader)).check(&tx)?;
        let results = store.block_results(loc.height)?;
        let tx_proof = block_inclusion_proof(&block.txs, u64::from(loc.index))?;
        let result_proof = block_inclusion_proof(&results, u64::from(loc.index))?;
        let log = log_proof(
            store,
            HistoryLeaf {
                tx_id: id,
                height: loc.height,
                index: loc.index,
                outcome: committed.result.outcome.clone(),
            },
            loc.log_index,
        )?;
        Ok(TxDetailView {
            view: TxView::committed(&committed),
            tx: Some(tx),
            header: Some(block.header),
            tx_proof: Some(tx_proof),
            result_proof: Some(result_proof),
            log: Some(log),
        })
    })
    .await?;
    Ok(Json(detail))
}

/// The latest block header (`None` before the first block).
pub(crate) fn latest_header(store: &Store) -> Result<Option<BlockHeader>, ApiError> {
    let tip = store.tip()?;
    if tip.height == 0 {
        return Ok(None);
    }
    let header = store
        .block_header(tip.height)?
        .ok_or_else(|| ApiError::Internal(format!("tip block {} missing", tip.height)))?;
    Ok(Some(header))
}

/// The inclusion proof of `leaf` at `log_index` against the latest header's log root.
pub(crate) fn log_proof(
    store: &Store,
    leaf: HistoryLeaf,
    log_index: u64,
) -> Result<LogProofView, ApiError> {
    let header = latest_header(store)?.ok_or_else(|| ApiError::Internal("no block yet".into()))?;
    let proof = inclusion_proof(store, log_index, header.log_size)?;
    Ok(LogProofView {
        leaf,
        log_index,
        log_size: header.log_size,
        log_root: header.log_root,
        proof,
        at_height: header.height,
    })
}

/// Auditors read every tx; other keys the txs their org signed and the txs on pools they
/// may read.
/// The outcome of a dry run.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ValidateView {
    /// The tx id (hex).
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// `valid` or `rejected`.
    pub status: String,
    /// Height of the block context it was checked in (the next block).
    pub height: u64,
    /// Block time it was checked at (ms).
    pub time_ms: u64,
    /// What it would do (a redeem: the `redeemed` event with the discount).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub events: Option<Vec<Event>>,
    /// Why it would be rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Runs every check of a signed tx as the next block would, writing nothing.
#[utoipa::path(
    post,
    path = "/v1/validate",
    tag = "txs",
    request_body(
        description = "A SignedTx as JSON, or its canonical bincode with `Content-Type: application/octet-stream`",
        content((Object = "application/json"), (super::extract::Bincode = "application/octet-stream"))
    ),
    responses(
        (status = 200, description = "It would apply, with these events", body = ValidateView),
        (status = 422, description = "It would be rejected: `error.code` is the reason", body = ValidateView),
        (status = 409, description = "The tx id was executed already (`duplicate`)", body = ValidateView),
        (status = 400, description = "Malformed body", body = super::ErrorResponse),
    )
)]
pub(crate) async fn validate(
    State(state): State<AppState>,
    noter: crate::access_log::Noter,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ValidateView>), ApiError> {
    let tx = decode_tx(is_binary(&headers), &body_bytes(body)?)?;
    let signer = tx.signer.to_hex();
    let node = state.node.clone();
    let answer = blocking(move || {
        let ctx = node.next_block_context()?;
        let tx_id = tx.id();
        let view = ValidateView {
            tx_id,
            status: "valid".into(),
            height: ctx.height,
            time_ms: ctx.time_ms,
            events: None,
            error: None,
        };
        match dry_run(node.store(), &ctx, &tx) {
            Ok(events) => Ok((
                StatusCode::OK,
                Json(ValidateView {
                    events: Some(events),
                    ..view
                }),
            )),
            Err(ExecError::Rejected(r)) => {
                let status = rejection_status(r.reason);
                let error = ErrorBody::new(r.reason.code(), r.message);
                Ok((
                    status,
                    Json(ValidateView {
                        status: "rejected".into(),
                        error: Some(error),
                        ..view
                    }),
                ))
            }
            Err(ExecError::State(e)) => Err(e.into()),
        }
    })
    .await;
    // The access log names the signer of a tx that would apply (its signature checked).
    if matches!(&answer, Ok((StatusCode::OK, _))) {
        noter.signer(signer);
    }
    answer
}
