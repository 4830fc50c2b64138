//! Signed, proven reads of non-public state: pools, tokens, codes, wallets, token history,
//! and the redemption in force of a token (what `cactus rollback --code/--token` undoes).
//!
//! Point reads and wallets carry a [`ProvenValue`] per value and the block header at the
//! height read, so a client checks `proof.verify(&header.state_root)` (and the header
//! against a checkpoint certificate) instead of trusting the node. A point read of a key
//! absent at the height read answers 404 `not_found` with the same `at` and the key's
//! proof with `value: null` ([`ApiError::absent`]): a node cannot hide a coupon by
//! answering "not found". The authorization check comes first (a pool the reader may not
//! read answers 403 whatever is asked of it); proving a key absent reveals nothing, so
//! any authenticated reader gets that proof. A token's history lists
//! every tx that touched it, rejected attempts included (see [`crate::storage`]).

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery, parse};
use super::txs::{LogProofView, latest_header, log_proof};
use super::{ApiError, AppState, blocking};
use crate::storage::{Retained, Store};
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::block::BlockHeader;
use couponcactus_chaincode::commitment::{ProvenValue, prove, state_root};
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::history::HistoryLeaf;
use couponcactus_chaincode::ids::{
    CodeHash, Hash32, MemberId, OrgId, PoolId, StoreId, TokenId, TxId,
};
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{CodeIndexEntry, PoolRecord, RedemptionRecord, TokenRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// `?height=`: the height to read at (default: the latest).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HeightQuery {
    /// A retained block height (default: the latest applied block).
    pub(super) height: Option<u64>,
}

/// The height a proven read is at, and the root it verifies against.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReadAt {
    /// The height read.
    pub height: u64,
    /// The state root at that height (`header.state_root`, or genesis's at height 0).
    #[schema(value_type = String)]
    pub state_root: Hash32,
    /// The header of the block at that height (none at height 0).
    #[schema(value_type = Option<Object>)]
    pub header: Option<BlockHeader>,
}

/// A pool with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PoolView {
    /// The pool.
    #[schema(value_type = Object)]
    pub pool: PoolRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// `{version, key, value, proof}`: verify with `verify_state_proof(at.state_root, key, value, proof)`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Reads a pool with a state proof.
#[utoipa::path(
    get,
    path = "/v1/pools/{id}",
    tag = "state",
    params(("id" = String, Path, description = "Pool id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"), HeightQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The pool, proven at the height read", body = PoolView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read this pool", body = super::ErrorResponse),
        (status = 404, description = "No such pool at that height: `at` and `proof` (value null) prove its absence (a 404 without them: block not stored, as below a state-sync base)", body = super::error::NotFoundProof),
        (status = 410, description = "Height pruned by this node: `not_retained` with `error.nearest_retained_height`", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_pool(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<PoolView>, ApiError> {
    let id: PoolId = parse("pool id", &id)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        check_pool_if_any(store, &reader, &id)?;
        let at = read_at(store, query.height)?;
        let proof = prove(store, &StateKey::Pool(id.clone()), at.height)?;
        let Some(StateValue::Pool(pool)) = proof.value.clone() else {
            let message = format!("no pool {id} at height {}", at.height);
            return Err(ApiError::absent(message, at, proof));
        };
        Ok(Json(PoolView { pool, at, proof }))
    })
    .await
}

/// Pools of an org that the key may read.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrgPoolsView {
    /// The org.
    #[schema(value_type = String)]
    pub org: OrgId,
    /// Its pools the key may read, by id (current state, no proofs: read one pool for a proof).
    #[schema(value_type = Vec<Object>)]
    pub pools: Vec<PoolRecord>,
}

/// Lists an org's pools the key may read.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/pools",
    tag = "state",
    params(("org" = String, Path, description = "Org id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The org's pools visible to the key (a partner key sees those listing its org)", body = OrgPoolsView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key is not the org's, an auditor's or a partner key", body = super::ErrorResponse),
    )
)]
pub(crate) async fn org_pools(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<OrgPoolsView>, ApiError> {
    let org: OrgId = parse("org id", &org)?;
    if !reader.can_list_org(&org) {
        return Err(ApiError::Forbidden(format!(
            "key {} ({} of {}) may not list the pools of {org}",
            reader.key,
            reader.record.role.name(),
            reader.record.org
        )));
    }
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let mut pools = Vec::new();
        for id in store.pools_of(&org)? {
            if let Some(StateValue::Pool(p)) = store.get(&StateKey::Pool(id))?
                && reader.can_read_pool(&p)
            {
                pools.push(p);
            }
        }
        Ok(Json(OrgPoolsView { org, pools }))
    })
    .await
}

/// Redemptions made at one store of an org.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoreRedemptionsView {
    /// The org whose terminals redeemed.
    #[schema(value_type = String)]
    pub org: OrgId,
    /// The store.
    #[schema(value_type = String)]
    pub store: StoreId,
    /// Redemptions, oldest first: the redeem tx id and the current record (rolled back or
    /// not). Prove one with `GET /v1/txs/{id}`.
    #[schema(value_type = Vec<Object>)]
    pub redemptions: Vec<(TxId, RedemptionRecord)>,
}

/// Lists the redemptions made at a store (the org's own keys and auditors only).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/stores/{store}/redemptions",
    tag = "reads",
    params(("org" = String, Path, description = "Org id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"), ("store" = String, Path, description = "Store id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Redemptions at the store, oldest first", body = StoreRedemptionsView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key is neither the org's nor an auditor's", body = super::ErrorResponse),
    )
)]
pub(crate) async fn store_redemptions(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((org, store)): ApiPath<(String, String)>,
) -> Result<Json<StoreRedemptionsView>, ApiError> {
    let org: OrgId = parse("org id", &org)?;
    let store: StoreId = parse("store id", &store)?;
    if !(reader.is_auditor() || reader.record.org == org) {
        return Err(ApiError::Forbidden(format!(
            "key {} ({} of {}) may not list the redemptions of {org}",
            reader.key,
            reader.record.role.name(),
            reader.record.org
        )));
    }
    let node = state.node.clone();
    blocking(move || {
        let db = node.store();
        let mut redemptions = Vec::new();
        for id in db.redemptions_at(&org, &store)? {
            if let Some(StateValue::Redemption(r)) = db.get(&StateKey::Redemption(id))? {
                redemptions.push((id, r));
            }
        }
        Ok(Json(StoreRedemptionsView {
            org,
            store,
            redemptions,
        }))
    })
    .await
}

/// A token with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// `{"pool": …, "serial": …}`.
    #[schema(value_type = Object)]
    pub token_id: TokenId,
    /// The token.
    #[schema(value_type = Object)]
    pub token: TokenRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// `{version, key, value, proof}`: verify with `verify_state_proof(at.state_root, key, value, proof)`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Reads a token with a state proof.
#[utoipa::path(
    get,
    path = "/v1/tokens/{pool}/{serial}",
    tag = "state",
    params(
        ("pool" = String, Path, description = "Pool id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        ("serial" = u64, Path, description = "Token serial"),
        HeightQuery,
    ),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The token, proven at the height read", body = TokenView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read this pool", body = super::ErrorResponse),
        (status = 404, description = "No such token at that height: `at` and `proof` (value null) prove its absence (a 404 without them: block not stored, as below a state-sync base)", body = super::error::NotFoundProof),
        (status = 410, description = "Height pruned by this node: `not_retained` with `error.nearest_retained_height`", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_token(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((pool, serial)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<TokenView>, ApiError> {
    let token = token_id(&pool, &serial)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        check_pool_if_any(store, &reader, &token.pool)?;
        let at = read_at(store, query.height)?;
        Ok(Json(proven_token(store, token, at)?))
    })
    .await
}

/// A code's index entry and, for unique codes, its token, with proofs.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CodeView {
    /// The code hash (hex).
    #[schema(value_type = String)]
    pub code_hash: CodeHash,
    /// The pool and serial it points at (no serial: a pool's shared code).
    #[schema(value_type = Object)]
    pub entry: CodeIndexEntry,
    /// Proof of the code index entry.
    #[schema(value_type = Object)]
    pub code_proof: ProvenValue,
    /// The token (unique codes), with its own proof, at the same height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenView>,
    /// Where it was read.
    pub at: ReadAt,
}

/// Finds the token of a code hash, with proofs.
#[utoipa::path(
    get,
    path = "/v1/codes/{code_hash}/token",
    tag = "state",
    params(("code_hash" = String, Path, description = "Code hash (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$"), HeightQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The code's entry and token, proven", body = CodeView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read the code's pool", body = super::ErrorResponse),
        (status = 404, description = "Unknown code at that height: `at` and `proof` (value null) prove the code hash's absence (a 404 without them: block not stored, as below a state-sync base)", body = super::error::NotFoundProof),
        (status = 410, description = "Height pruned by this node: `not_retained` with `error.nearest_retained_height`", body = super::ErrorResponse),
    )
)]
pub(crate) async fn code_token(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(code_hash): ApiPath<String>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<CodeView>, ApiError> {
    let code_hash: CodeHash = parse("code hash", &code_hash)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, query.height)?;
        let code_proof = prove(store, &StateKey::Code(code_hash), at.height)?;
        let Some(StateValue::Code(entry)) = code_proof.value.clone() else {
            let message = format!("no code {code_hash} at height {}", at.height);
            return Err(ApiError::absent(message, at, code_proof));
        };
        reader.check_pool(&current_pool(store, &entry.pool)?)?;
        let token = match entry.serial {
            Some(serial) => Some(proven_token(
                store,
                TokenId {
                    pool: entry.pool.clone(),
                    serial,
                },
                at.clone(),
            )?),
            None => None,
        };
        Ok(Json(CodeView {
            code_hash,
            entry,
            code_proof,
            token,
            at,
        }))
    })
    .await
}

/// One token of a wallet.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WalletToken {
    /// `{"pool": …, "serial": …}`.
    #[schema(value_type = Object)]
    pub token_id: TokenId,
    /// The token at the wallet's height (`at`).
    #[schema(value_type = Object)]
    pub token: TokenRecord,
    /// `{version, key, value, proof}` of the token under `at.state_root`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// A pool of a wallet's tokens: its name, discount and validity, proven.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WalletPool {
    /// The pool at the wallet's height.
    #[schema(value_type = Object)]
    pub pool: PoolRecord,
    /// `{version, key, value, proof}` of the pool under `at.state_root`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// The tokens a member holds, in pools the key may read.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WalletView {
    /// The member id (hex).
    #[schema(value_type = String)]
    pub member: MemberId,
    /// The height the wallet was read at (`at.height`).
    pub height: u64,
    /// Where it was read: every proof below verifies against `at.state_root`.
    pub at: ReadAt,
    /// Tokens whose owner is the member at that height (any status: allocated or
    /// redeemed).
    pub tokens: Vec<WalletToken>,
    /// The pools of those tokens.
    pub pools: Vec<WalletPool>,
}

/// Lists the tokens a member owns, and their pools, with state proofs.
#[utoipa::path(
    get,
    path = "/v1/members/{member}/wallet",
    tag = "state",
    params(("member" = String, Path, description = "Member id (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Tokens owned by the member in pools the key may read, with their pools, each proven at the height read", body = WalletView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
    )
)]
pub(crate) async fn wallet(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(member): ApiPath<String>,
) -> Result<Json<WalletView>, ApiError> {
    let member: MemberId = parse("member id", &member)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, None)?;
        let mut pools: BTreeMap<PoolId, Option<WalletPool>> = BTreeMap::new();
        let mut tokens = Vec::new();
        for token_id in store.wallet(&member)? {
            if !pools.contains_key(&token_id.pool) {
                let pool = readable_pool(store, &reader, &token_id.pool, at.height)?;
                pools.insert(token_id.pool.clone(), pool);
            }
            if pools.get(&token_id.pool).is_none_or(Option::is_none) {
                continue;
            }
            let proof = prove(store, &StateKey::Token(token_id.clone()), at.height)?;
            if let Some(StateValue::Token(token)) = proof.value.clone()
                && token.owner == Some(member)
            {
                tokens.push(WalletToken {
                    token_id,
                    token,
                    proof,
                });
            }
        }
        let pools = pools
            .into_values()
            .flatten()
            .filter(|p| tokens.iter().any(|t| t.token_id.pool == p.pool.id))
            .collect();
        Ok(Json(WalletView {
            member,
            height: at.height,
            at,
            tokens,
            pools,
        }))
    })
    .await
}

/// A pool proven at `height`, if the reader may read it.
fn readable_pool(
    store: &Store,
    reader: &Reader,
    id: &PoolId,
    height: u64,
) -> Result<Option<WalletPool>, ApiError> {
    let proof = prove(store, &StateKey::Pool(id.clone()), height)?;
    Ok(match proof.value.clone() {
        Some(StateValue::Pool(pool)) if reader.can_read_pool(&pool) => {
            Some(WalletPool { pool, proof })
        }
        _ => None,
    })
}

/// One tx in a token's history.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Height of its block.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Position in the history log.
    pub log_index: u64,
    /// The signed tx.
    #[schema(value_type = Object)]
    pub tx: SignedTx,
    /// Its result.
    #[schema(value_type = Object)]
    pub result: TxOutcome,
    /// Proof of its history-log entry under the latest header's log root.
    pub log: LogProofView,
}

/// A token's history.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenHistoryView {
    /// `{"pool": …, "serial": …}`.
    #[schema(value_type = Object)]
    pub token_id: TokenId,
    /// The header the log proofs are against (the latest block).
    #[schema(value_type = Option<Object>)]
    pub header: Option<BlockHeader>,
    /// Every tx that touched the token, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// Lists every tx that touched a token, with history-log proofs.
#[utoipa::path(
    get,
    path = "/v1/tokens/{pool}/{serial}/history",
    tag = "state",
    params(("pool" = String, Path, description = "Pool id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"), ("serial" = u64, Path, description = "Token serial")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The token's txs, oldest first, each with its result and a log inclusion proof", body = TokenHistoryView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read this pool", body = super::ErrorResponse),
        (status = 404, description = "No such pool", body = super::ErrorResponse),
    )
)]
pub(crate) async fn token_history(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((pool, serial)): ApiPath<(String, String)>,
) -> Result<Json<TokenHistoryView>, ApiError> {
    let token = token_id(&pool, &serial)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        reader.check_pool(&current_pool(store, &token.pool)?)?;
        let header = latest_header(store)?;
        let mut entries = Vec::new();
        let mut cached: Option<(u64, Block)> = None;
        for (height, index) in store.token_history(&token)? {
            if cached.as_ref().is_none_or(|(h, _)| *h != height) {
                let block = store
                    .block(height)?
                    .ok_or_else(|| ApiError::Internal(format!("block {height} missing")))?;
                cached = Some((height, block));
            }
            let block = cached
                .as_ref()
                .map(|(_, b)| b)
                .ok_or_else(|| ApiError::Internal(format!("block {height} missing")))?;
            let tx =
                block.txs.get(index as usize).cloned().ok_or_else(|| {
                    ApiError::Internal(format!("block {height} has no tx {index}"))
                })?;
            let result = store
                .result_at(height, index)?
                .ok_or_else(|| ApiError::Internal(format!("result {height}/{index} missing")))?;
            let log_index = block.header.log_size - block.header.tx_count + u64::from(index);
            let leaf = HistoryLeaf {
                tx_id: result.tx_id,
                height,
                index,
                outcome: result.outcome.clone(),
            };
            let log = log_proof(store, leaf, log_index)?;
            entries.push(HistoryEntry {
                height,
                index,
                log_index,
                tx,
                result: result.outcome,
                log,
            });
        }
        Ok(Json(TokenHistoryView {
            token_id: token,
            header,
            entries,
        }))
    })
    .await
}

pub(super) fn token_id(pool: &str, serial: &str) -> Result<TokenId, ApiError> {
    Ok(TokenId {
        pool: parse("pool id", pool)?,
        serial: parse("token serial", serial)?,
    })
}

/// The pool as of the latest state (owner and partners never change once it is active).
pub(super) fn current_pool(store: &Store, id: &PoolId) -> Result<PoolRecord, ApiError> {
    existing_pool(store, id)?.ok_or_else(|| ApiError::NotFound(format!("no pool {id}")))
}

/// The pool as of the latest state, if it exists.
pub(super) fn existing_pool(store: &Store, id: &PoolId) -> Result<Option<PoolRecord>, ApiError> {
    match store.get(&StateKey::Pool(id.clone()))? {
        Some(StateValue::Pool(p)) => Ok(Some(p)),
        _ => Ok(None),
    }
}

/// 403 unless `reader` may read pool `id`, when the pool exists (in the latest state).
/// A pool that does not exist hides nothing: its keys' absence may be proven to anyone.
fn check_pool_if_any(store: &Store, reader: &Reader, id: &PoolId) -> Result<(), ApiError> {
    match existing_pool(store, id)? {
        Some(pool) => reader.check_pool(&pool),
        None => Ok(()),
    }
}

/// Resolves `?height=` (default: the tip) to a retained height, its root and header.
pub(super) fn read_at(store: &Store, height: Option<u64>) -> Result<ReadAt, ApiError> {
    let tip = store.tip()?;
    let height = height.unwrap_or(tip.height);
    if height > tip.height {
        return Err(ApiError::InvalidInput(format!(
            "height {height} is above the latest height {}",
            tip.height
        )));
    }
    if let Retained::Pruned { nearest } = store.retention(height)? {
        return Err(ApiError::NotRetained { height, nearest });
    }
    if height == 0 {
        let root = state_root(store, 0)?.ok_or_else(|| {
            ApiError::NotFound("genesis state is not retained by this node".into())
        })?;
        return Ok(ReadAt {
            height,
            state_root: root,
            header: None,
        });
    }
    let header = store
        .block_header(height)?
        .ok_or_else(|| super::chain::missing_block(store, height))?;
    Ok(ReadAt {
        height,
        state_root: header.state_root,
        header: Some(header),
    })
}

fn proven_token(store: &Store, token: TokenId, at: ReadAt) -> Result<TokenView, ApiError> {
    let proof = prove(store, &StateKey::Token(token.clone()), at.height)?;
    let Some(StateValue::Token(record)) = proof.value.clone() else {
        let message = format!("no token {token} at height {}", at.height);
        return Err(ApiError::absent(message, at, proof));
    };
    Ok(TokenView {
        token_id: token,
        token: record,
        at,
        proof,
    })
}
