//! Public reads: blocks, checkpoints, the history log, status, health and metrics. No
//! signature needed: this is what auditors replay and verify.

use super::extract::{ApiPath, ApiQuery, parse};
use super::{ApiError, AppState, MAX_LOG_ENTRIES, blocking};
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::block::{BlockHeader, Certificate};
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::history::{HistoryLeaf, consistency_proof, root_at};
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::tx::SignedTx;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A block with its results.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BlockView {
    /// Its height.
    pub height: u64,
    /// Its hash: `blake3("couponcactus/block/v1" ‖ encode(header))`.
    #[schema(value_type = String)]
    pub hash: Hash32,
    /// The header.
    #[schema(value_type = Object)]
    pub header: BlockHeader,
    /// The signed txs, in order.
    #[schema(value_type = Vec<Object>)]
    pub txs: Vec<SignedTx>,
    /// One result per tx.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<TxResult>,
}

fn block_view(store: &Store, height: u64) -> Result<BlockView, ApiError> {
    let Block { header, txs } = store
        .block(height)?
        .ok_or_else(|| ApiError::NotFound(format!("no block at height {height}")))?;
    let results = store.block_results(height)?;
    Ok(BlockView {
        height,
        hash: header.hash(),
        header,
        txs,
        results,
    })
}

/// Reads the latest block.
#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "chain",
    responses(
        (status = 200, description = "The latest applied block", body = BlockView),
        (status = 404, description = "No block yet", body = super::ErrorResponse),
    )
)]
pub(crate) async fn latest_block(
    State(state): State<AppState>,
) -> Result<Json<BlockView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let height = node.store().tip()?.height;
        if height == 0 {
            return Err(ApiError::NotFound(
                "no block yet (the chain is at genesis)".into(),
            ));
        }
        Ok(Json(block_view(node.store(), height)?))
    })
    .await
}

/// Reads a block by height.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}",
    tag = "chain",
    params(("height" = u64, Path, description = "Block height (the first block is 1)")),
    responses(
        (status = 200, description = "The block, its hash and its results", body = BlockView),
        (status = 404, description = "No block at that height", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_block(
    State(state): State<AppState>,
    ApiPath(height): ApiPath<String>,
) -> Result<Json<BlockView>, ApiError> {
    let height: u64 = parse("height", &height)?;
    let node = state.node.clone();
    blocking(move || Ok(Json(block_view(node.store(), height)?))).await
}

/// The latest certificate and the header it certifies.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Signatures of a quorum of voters over the block hash.
    #[schema(value_type = Object)]
    pub certificate: Certificate,
    /// The certified block's header (its hash is `certificate.block_hash`).
    #[schema(value_type = Object)]
    pub header: BlockHeader,
}

/// Reads the latest checkpoint certificate.
#[utoipa::path(
    get,
    path = "/v1/checkpoints/latest",
    tag = "chain",
    responses(
        (status = 200, description = "The highest certified block: certificate and header", body = CheckpointView),
        (status = 404, description = "Nothing certified yet", body = super::ErrorResponse),
    )
)]
pub(crate) async fn latest_checkpoint(
    State(state): State<AppState>,
) -> Result<Json<CheckpointView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let certificate = store
            .latest_certificate()?
            .ok_or_else(|| ApiError::NotFound("no certified block yet".into()))?;
        let header = store
            .block(certificate.height)?
            .ok_or_else(|| {
                ApiError::Internal(format!("certified block {} missing", certificate.height))
            })?
            .header;
        Ok(Json(CheckpointView {
            certificate,
            header,
        }))
    })
    .await
}

/// `?from=M&to=N` log sizes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyQuery {
    /// The older log size.
    from: u64,
    /// The newer log size (default: the current size).
    to: Option<u64>,
}

/// A consistency proof between two log sizes.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConsistencyView {
    /// Older size.
    pub from: u64,
    /// Newer size.
    pub to: u64,
    /// Root at the older size (check it against a header you trust).
    #[schema(value_type = String)]
    pub from_root: Hash32,
    /// Root at the newer size.
    #[schema(value_type = String)]
    pub to_root: Hash32,
    /// RFC 9162 consistency proof (hex hashes).
    #[schema(value_type = Vec<String>)]
    pub proof: Vec<Hash32>,
}

/// Proves that the log of `from` entries is a prefix of the log of `to` entries.
#[utoipa::path(
    get,
    path = "/v1/log/consistency",
    tag = "chain",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof and both roots", body = ConsistencyView),
        (status = 400, description = "Sizes out of range", body = super::ErrorResponse),
    )
)]
pub(crate) async fn log_consistency(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let size = store.tip()?.log.size;
        let (from, to) = (query.from, query.to.unwrap_or(size));
        if from > to || to > size {
            return Err(ApiError::InvalidInput(format!(
                "need from <= to <= {size} (the log's size), got from={from} to={to}"
            )));
        }
        Ok(Json(ConsistencyView {
            from,
            to,
            from_root: root_at(store, from)?,
            to_root: root_at(store, to)?,
            proof: consistency_proof(store, from, to)?,
        }))
    })
    .await
}

/// `?from=A&to=B` log indexes (`to` exclusive).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntriesQuery {
    /// First log index (default 0).
    from: Option<u64>,
    /// End, exclusive (default and at most `from + 1000`, and at most the log size).
    to: Option<u64>,
}

/// One history-log entry with its tx.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogEntry {
    /// Position in the log.
    pub log_index: u64,
    /// The log leaf (`{tx_id, height, index, outcome}`).
    #[schema(value_type = Object)]
    pub leaf: HistoryLeaf,
    /// The signed tx.
    #[schema(value_type = Object)]
    pub tx: SignedTx,
}

/// A range of history-log entries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogEntriesView {
    /// First index returned.
    pub from: u64,
    /// End of the range returned (exclusive).
    pub to: u64,
    /// The log's current size.
    pub log_size: u64,
    /// The entries `from..to`.
    pub entries: Vec<LogEntry>,
    /// Where the next page starts, if the range asked for went further.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// Reads up to 1,000 history-log entries with their txs (for replay).
#[utoipa::path(
    get,
    path = "/v1/log/entries",
    tag = "chain",
    params(EntriesQuery),
    responses(
        (status = 200, description = "Entries `from..to` (at most 1,000)", body = LogEntriesView),
        (status = 400, description = "Range out of the log", body = super::ErrorResponse),
    )
)]
pub(crate) async fn log_entries(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<LogEntriesView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let tip = store.tip()?;
        let size = tip.log.size;
        let from = query.from.unwrap_or(0);
        let asked = query
            .to
            .unwrap_or(from.saturating_add(MAX_LOG_ENTRIES))
            .min(size);
        if from > asked {
            return Err(ApiError::InvalidInput(format!(
                "need from <= to, and from <= {size} (the log's size), got from={from}"
            )));
        }
        let to = asked.min(from + MAX_LOG_ENTRIES);
        let mut entries = Vec::with_capacity((to - from) as usize);
        if from < to {
            let mut height = first_block_with(store, from, tip.height)?;
            while (entries.len() as u64) < to - from {
                let block = store
                    .block(height)?
                    .ok_or_else(|| ApiError::Internal(format!("block {height} missing")))?;
                let results = store.block_results(height)?;
                let first = block.header.log_size - block.header.tx_count;
                for (i, (tx, result)) in block.txs.into_iter().zip(results).enumerate() {
                    let log_index = first + i as u64;
                    if log_index < from || log_index >= to {
                        continue;
                    }
                    let leaf = HistoryLeaf {
                        tx_id: result.tx_id,
                        height,
                        index: i as u32,
                        outcome: result.outcome,
                    };
                    entries.push(LogEntry {
                        log_index,
                        leaf,
                        tx,
                    });
                }
                height += 1;
                if height > tip.height {
                    break;
                }
            }
        }
        let next = (to < asked).then_some(to);
        Ok(Json(LogEntriesView {
            from,
            to,
            log_size: size,
            entries,
            next,
        }))
    })
    .await
}

/// The lowest height whose block holds log index `index` (binary search on log sizes).
fn first_block_with(store: &Store, index: u64, tip: u64) -> Result<u64, ApiError> {
    let (mut lo, mut hi) = (1, tip);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let header = store
            .block(mid)?
            .ok_or_else(|| ApiError::Internal(format!("block {mid} missing")))?
            .header;
        if header.log_size > index {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// The node's status: `node_id`, `role`, `leader_id`, `term`, `height`, `block_hash`,
/// `state_root`, `log_size`, `certified_height`, `mempool`, `chain_id`, `genesis_hash`.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    responses((status = 200, description = "NodeStatus: node_id, role, leader_id, term, height, block_hash, state_root, log_size, certified_height, mempool, chain_id, genesis_hash", body = Object))
)]
pub(crate) async fn status(State(state): State<AppState>) -> Response {
    Json(state.node.status()).into_response()
}

/// Liveness and readiness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "node",
    responses(
        (status = 200, description = "`{\"status\":\"ok\",\"height\":…}`", body = Object),
        (status = 500, description = "Storage cannot be read", body = super::ErrorResponse),
    )
)]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let node = state.node.clone();
    let height = blocking(move || Ok(node.store().tip()?.height)).await?;
    Ok(Json(serde_json::json!({ "status": "ok", "height": height })).into_response())
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    responses((status = 200, description = "Prometheus text exposition (`cactus_*`)", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
