//! Chain reads: blocks, checkpoints, the history log, the consortium, status, health and
//! metrics. No signature needed: headers, roots, certificates, consistency proofs and the
//! consortium are public. Tx bodies, results and log leaves are not: a block or log page
//! shows the ones the reader may see ([`super::visibility`]; a signature is optional here
//! and widens what is shown) and lists the others as withheld leaf hashes, which keep the
//! roots checkable.
//!
//! Auditors download the chain with `GET /v1/blocks?from=H&limit=N`, signed with a
//! consortium auditor's key: up to [`MAX_BLOCK_RANGE`] blocks per call, each with its
//! results and its certificate, as the canonical bincode of `Vec<`[`BlockRecord`]`>` (or
//! JSON with `Accept: application/json`).

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery, parse};
use super::visibility::{Audience, WithheldEntry};
use super::{ApiError, AppState, MAX_LOG_ENTRIES, blocking};
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bincode::{Decode, Encode};
use couponcactus_chaincode::block::{BlockHeader, Certificate, WithheldTx};
use couponcactus_chaincode::commitment::{ProvenValue, prove};
use couponcactus_chaincode::encoding::encode_into;
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::history::{HistoryLeaf, consistency_proof, root_at};
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::Consortium;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most blocks one `GET /v1/blocks?from=&limit=` returns.
pub const MAX_BLOCK_RANGE: u64 = 1_000;
/// A range response stops adding blocks once its encoding reaches this many bytes (it
/// always carries at least one block), so a client's decoder stays within the chaincode's
/// 16 MiB decode limit.
pub const BLOCK_RANGE_BYTES: usize = 8 * 1024 * 1024;

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
    /// The signed txs the reader may see, in block order.
    #[schema(value_type = Vec<Object>)]
    pub txs: Vec<SignedTx>,
    /// One result per tx shown.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<TxResult>,
    /// The block's checkpoint certificate (signatures of a quorum of the voters of the
    /// consortium after this block over its hash); `null` while not (yet) certified.
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<Certificate>,
    /// The txs the reader may not see, ascending by position: `{index, tx_leaf,
    /// result_leaf}`. The shown txs fill the other positions in order; with these leaves
    /// they hash to the header's `tx_root` and `result_root`. Empty for an auditor.
    #[schema(value_type = Vec<Object>)]
    pub withheld: Vec<WithheldTx>,
}

impl From<BlockRecord> for BlockView {
    fn from(r: BlockRecord) -> Self {
        let Block { header, txs } = r.block;
        BlockView {
            height: header.height,
            hash: header.hash(),
            header,
            txs,
            results: r.results,
            certificate: r.certificate,
            withheld: r.withheld,
        }
    }
}

/// One block of `GET /v1/blocks?from=&limit=` in canonical bincode: the block (header and
/// the txs the reader may see), one result per tx shown, its certificate if it has one, and
/// the withheld txs' leaves. The response body is `encode(Vec<BlockRecord>)`: a `u64` LE
/// count, then each record's fields in this order (`docs/api.md`). Clients mirror it field
/// for field.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct BlockRecord {
    /// The block.
    pub block: Block,
    /// One result per tx, in order.
    pub results: Vec<TxResult>,
    /// Its certificate, if stored.
    pub certificate: Option<Certificate>,
    /// The txs the reader may not see (see [`BlockView::withheld`]).
    pub withheld: Vec<WithheldTx>,
}

/// The 404 for a block this node does not have: on a node installed from a snapshot, it
/// names the first block the node has.
pub(super) fn missing_block(store: &Store, height: u64) -> ApiError {
    match store.sync_base() {
        Ok(Some(base)) if height <= base.height => ApiError::NotFound(format!(
            "no block at height {height}: this node was installed from a state snapshot at \
             height {} and has blocks from {} on; ask a full node for older ones",
            base.height,
            base.height + 1
        )),
        _ => ApiError::NotFound(format!("no block at height {height}")),
    }
}

fn block_record(
    store: &Store,
    audience: &mut Audience<'_>,
    height: u64,
) -> Result<BlockRecord, ApiError> {
    let Block { header, txs } = store
        .block(height)?
        .ok_or_else(|| missing_block(store, height))?;
    let (txs, results, withheld) = audience.redact(txs, store.block_results(height)?)?;
    Ok(BlockRecord {
        block: Block { header, txs },
        results,
        certificate: store.certificate(height)?,
        withheld,
    })
}

fn block_view(store: &Store, reader: Option<&Reader>, height: u64) -> Result<BlockView, ApiError> {
    Ok(block_record(store, &mut Audience::new(store, reader), height)?.into())
}

/// Reads the latest block.
#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "chain",
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "The latest applied block", body = BlockView),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 404, description = "No block yet", body = super::ErrorResponse),
    )
)]
pub(crate) async fn latest_block(
    State(state): State<AppState>,
    reader: Option<Reader>,
) -> Result<Json<BlockView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let height = node.store().tip()?.height;
        if height == 0 {
            return Err(ApiError::NotFound(
                "no block yet (the chain is at genesis)".into(),
            ));
        }
        Ok(Json(block_view(node.store(), reader.as_ref(), height)?))
    })
    .await
}

/// Reads a block by height.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}",
    tag = "chain",
    params(("height" = u64, Path, description = "Block height (the first block is 1)")),
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "The block, its hash and its results", body = BlockView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 404, description = "No block at that height", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_block(
    State(state): State<AppState>,
    reader: Option<Reader>,
    ApiPath(height): ApiPath<String>,
) -> Result<Json<BlockView>, ApiError> {
    let height: u64 = parse("height", &height)?;
    let node = state.node.clone();
    blocking(move || Ok(Json(block_view(node.store(), reader.as_ref(), height)?))).await
}

/// `?from=H&limit=N`: a range of blocks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BlockRangeQuery {
    /// First height (at least 1).
    from: u64,
    /// Most blocks to return (default and at most 1,000; fewer when the response would
    /// exceed 8 MiB, but always at least one block when `from` is at or below the tip).
    limit: Option<u64>,
}

/// A range of blocks as JSON.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BlockRangeView {
    /// First height returned.
    pub from: u64,
    /// The node's latest height when the range was read.
    pub tip: u64,
    /// Blocks `from..from + blocks.len()`, each with results and certificate.
    pub blocks: Vec<BlockView>,
}

/// Reads blocks `from..` in one call (for auditors): canonical bincode by default, JSON
/// with `Accept: application/json`.
#[utoipa::path(
    get,
    path = "/v1/blocks",
    tag = "chain",
    params(BlockRangeQuery),
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "Up to `limit` consecutive blocks from `from` (none when `from` is above the tip), each with the txs the reader may see, their results, the certificate and the withheld txs' leaves: `encode(Vec<BlockRecord { block: Block, results: Vec<TxResult>, certificate: Option<Certificate>, withheld: Vec<WithheldTx> }>)`, or JSON `{from, tip, blocks: [BlockView]}` when asked with `Accept: application/json`",
            content((super::extract::Bincode = "application/octet-stream"), (BlockRangeView = "application/json"))),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 400, description = "`from` is 0 or `limit` is 0", body = super::ErrorResponse),
        (status = 404, description = "The node was installed from a snapshot and has no blocks at or below its sync height (the message names its first block)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn block_range(
    State(state): State<AppState>,
    reader: Option<Reader>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<BlockRangeQuery>,
) -> Result<Response, ApiError> {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if query.from == 0 {
        return Err(ApiError::InvalidInput(
            "from must be at least 1 (the first block)".into(),
        ));
    }
    let limit = query.limit.unwrap_or(MAX_BLOCK_RANGE).min(MAX_BLOCK_RANGE);
    if limit == 0 {
        return Err(ApiError::InvalidInput("limit must be at least 1".into()));
    }
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let mut audience = Audience::new(store, reader.as_ref());
        let tip = store.tip()?.height;
        let from = query.from;
        let end = from.saturating_add(limit).min(tip.saturating_add(1));
        // The bincode body is `encode(Vec<BlockRecord>)`, written record by record: the
        // count goes into the first 8 bytes at the end.
        let mut bytes = vec![0u8; 8];
        let mut records = Vec::new();
        let mut height = from;
        while height < end && (records.is_empty() || bytes.len() < BLOCK_RANGE_BYTES) {
            let record = block_record(store, &mut audience, height)?;
            let before = bytes.len();
            encode_into(&record, &mut bytes);
            if !records.is_empty() && bytes.len() > BLOCK_RANGE_BYTES {
                bytes.truncate(before);
                break;
            }
            records.push(record);
            height += 1;
        }
        bytes[..8].copy_from_slice(&(records.len() as u64).to_le_bytes());
        if json {
            let blocks = records.into_iter().map(BlockView::from).collect();
            Ok(Json(BlockRangeView { from, tip, blocks }).into_response())
        } else {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
    })
    .await
}

/// `?height=H`: the height to read at (default: the latest).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsortiumQuery {
    /// A retained height (default: the latest applied block; 0 is genesis).
    height: Option<u64>,
}

/// The consortium at a height, proven under that height's state root.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConsortiumView {
    /// The height read.
    pub height: u64,
    /// The state root at that height (the header's, or genesis's at height 0).
    #[schema(value_type = String)]
    pub state_root: Hash32,
    /// The header of the block at that height (none at height 0).
    #[schema(value_type = Option<Object>)]
    pub header: Option<BlockHeader>,
    /// Orgs and nodes (with node keys and voter flags): the voter set whose quorum
    /// certifies the block at this height.
    #[schema(value_type = Object)]
    pub consortium: Consortium,
    /// `{version, key: "consortium", value, proof}`: verify with
    /// `verify_state_proof(state_root, key, value, proof)`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Reads the consortium (orgs, nodes, voters) at a height with a state proof: what a
/// certificate of that height is checked against.
#[utoipa::path(
    get,
    path = "/v1/consortium",
    tag = "chain",
    params(ConsortiumQuery),
    responses(
        (status = 200, description = "The consortium, proven at the height read", body = ConsortiumView),
        (status = 400, description = "Height above the tip", body = super::ErrorResponse),
        (status = 404, description = "Block not stored by this node", body = super::ErrorResponse),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn consortium(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConsortiumQuery>,
) -> Result<Json<ConsortiumView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = super::reads::read_at(store, query.height)?;
        let (height, state_root, header) = (at.height, at.state_root, at.header);
        let proof = prove(store, &StateKey::Consortium, height)?;
        let Some(StateValue::Consortium(consortium)) = proof.value.clone() else {
            return Err(ApiError::Internal(format!(
                "no consortium in state at height {height}"
            )));
        };
        Ok(Json(ConsortiumView {
            height,
            state_root,
            header,
            consortium,
            proof,
        }))
    })
    .await
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
        let header = store.header(certificate.height)?.ok_or_else(|| {
            ApiError::Internal(format!("certified block {} missing", certificate.height))
        })?;
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

/// One history-log entry the reader may see, with its tx.
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
    /// The entries of `from..to` the reader may see, ascending.
    pub entries: Vec<LogEntry>,
    /// The entries of `from..to` the reader may not see: position and leaf hash only.
    /// With `entries` they cover `from..to` exactly, so the log's root stays checkable.
    pub withheld: Vec<WithheldEntry>,
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
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "Entries `from..to` (at most 1,000)", body = LogEntriesView),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 400, description = "Range out of the log", body = super::ErrorResponse),
    )
)]
pub(crate) async fn log_entries(
    State(state): State<AppState>,
    reader: Option<Reader>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<LogEntriesView>, ApiError> {
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let mut audience = Audience::new(store, reader.as_ref());
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
        let (mut entries, mut withheld) = (Vec::new(), Vec::new());
        if from < to {
            let mut height = first_block_with(store, from, tip.height)?;
            while ((entries.len() + withheld.len()) as u64) < to - from {
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
                    if audience.can_read(&tx)? {
                        entries.push(LogEntry {
                            log_index,
                            leaf,
                            tx,
                        });
                    } else {
                        withheld.push(WithheldEntry {
                            log_index,
                            leaf_hash: leaf.hash(),
                        });
                    }
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
            withheld,
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
            .block_header(mid)?
            .ok_or_else(|| ApiError::Internal(format!("block {mid} missing")))?;
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
    let node = state.node.clone();
    let sizes = tokio::task::spawn_blocking(move || {
        let store = node.store();
        (store.memory(), store.disk_by_column_family())
    })
    .await;
    if let Ok((memory, disk)) = sizes {
        if let Ok(memory) = memory {
            metrics::gauge!("cactus_rocksdb_memtable_bytes").set(memory.memtables as f64);
            metrics::gauge!("cactus_rocksdb_table_readers_bytes").set(memory.table_readers as f64);
            metrics::gauge!("cactus_rocksdb_block_cache_bytes").set(memory.block_cache as f64);
        }
        for cf in disk.into_iter().flatten() {
            metrics::gauge!("cactus_rocksdb_sst_bytes", "cf" => cf.name).set(cf.sst as f64);
            metrics::gauge!("cactus_rocksdb_live_data_bytes", "cf" => cf.name).set(cf.live as f64);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
