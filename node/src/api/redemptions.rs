//! The redemption in force of a token, by token id or by code: what a refund at the till
//! rolls back when the clerk has the coupon, not the receipt (`cactus rollback --code`,
//! `--token`).
//!
//! Signed reads. A key that may read the token's pool sees its status and redemption; so
//! does any key of the org whose terminal made the redemption in force, since that org may
//! roll it back (a partner's terminal honours another org's coupon but may not read its
//! pool). Everything shown is proven at the latest height: the token record
//! (`token_proof`) and, when redeemed, the redemption record (`redemption_proof`), both
//! against `at.state_root`. A token or code that does not exist answers 404 with the proof
//! of its absence at the latest height ([`ApiError::absent`]), as every keyed read does.

use super::auth::Reader;
use super::extract::{ApiPath, parse};
use super::reads::{ReadAt, existing_pool, read_at, token_id};
use super::{ApiError, AppState, blocking};
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::commitment::{ProvenValue, prove};
use couponcactus_chaincode::ids::{CodeHash, TokenId, TxId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::types::{RedemptionRecord, TokenStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// A redemption: the redeem tx's id and its record.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RedemptionEntry {
    /// The redemption id: the redeem tx's id (hex).
    #[schema(value_type = String)]
    pub id: TxId,
    /// The record: pool, token, member, redeeming org, store and channel, amounts, height.
    #[schema(value_type = Object)]
    pub record: RedemptionRecord,
}

/// A token's status and its redemption in force, if redeemed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenRedemptionView {
    /// `{"pool": …, "serial": …}`.
    #[schema(value_type = Object)]
    pub token_id: TokenId,
    /// Its status in the latest state.
    #[schema(value_type = Object)]
    pub status: TokenStatus,
    /// The redemption in force (not rolled back); `null` when the token is not redeemed.
    pub redemption: Option<RedemptionEntry>,
    /// The height read (the latest).
    pub height: u64,
    /// Where it was read: height, state root and header, to check the proofs against.
    pub at: ReadAt,
    /// The token record at that height: `{version, key: {"token": …}, value, proof}`.
    #[schema(value_type = Object)]
    pub token_proof: ProvenValue,
    /// The redemption record in force, when redeemed: `{version, key: {"redemption": …},
    /// value, proof}`.
    #[schema(value_type = Option<Object>)]
    pub redemption_proof: Option<ProvenValue>,
}

/// The redemption in force of a token.
#[utoipa::path(
    get,
    path = "/v1/tokens/{pool}/{serial}/redemption",
    tag = "state",
    params(("pool" = String, Path, description = "Pool id", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"), ("serial" = u64, Path, description = "Token serial")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The token's status and redemption in force (`null` if not redeemed), each proven under `at.state_root`", body = TokenRedemptionView),
        (status = 400, description = "A malformed id, serial or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read the pool, and its org did not make the redemption in force", body = super::ErrorResponse),
        (status = 404, description = "No such token: `at` and `proof` (value null) prove its absence at the latest height", body = super::error::NotFoundProof),
    )
)]
pub(crate) async fn token_redemption(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((pool, serial)): ApiPath<(String, String)>,
) -> Result<Json<TokenRedemptionView>, ApiError> {
    let token = token_id(&pool, &serial)?;
    let node = state.node.clone();
    blocking(move || Ok(Json(redemption_of(node.store(), &reader, token)?))).await
}

/// The redemption in force of the token a unique code names.
#[utoipa::path(
    get,
    path = "/v1/codes/{code_hash}/redemption",
    tag = "state",
    params(("code_hash" = String, Path, description = "Code hash (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The code's token, its status and redemption in force (`null` if not redeemed), each proven under `at.state_root`", body = TokenRedemptionView),
        (status = 400, description = "A pool's shared code: it has many redemptions, roll one back by its id", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "The key may not read the pool, and its org did not make the redemption in force", body = super::ErrorResponse),
        (status = 404, description = "Unknown code: `at` and `proof` (value null) prove the code hash's absence at the latest height", body = super::error::NotFoundProof),
    )
)]
pub(crate) async fn code_redemption(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(code_hash): ApiPath<String>,
) -> Result<Json<TokenRedemptionView>, ApiError> {
    let code_hash: CodeHash = parse("code hash", &code_hash)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, None)?;
        let proof = prove(store, &StateKey::Code(code_hash), at.height)?;
        let Some(StateValue::Code(entry)) = proof.value.clone() else {
            let message = format!("no code {code_hash} at height {}", at.height);
            return Err(ApiError::absent(message, at, proof));
        };
        let Some(serial) = entry.serial else {
            return Err(ApiError::InvalidInput(format!(
                "code {code_hash} is the shared code of pool {}: many customers redeem it, so \
                 roll back one redemption by its id (the redeem tx's id)",
                entry.pool
            )));
        };
        let token = TokenId {
            pool: entry.pool,
            serial,
        };
        Ok(Json(redemption_of(store, &reader, token)?))
    })
    .await
}

/// The token's status and redemption in force, if `reader` may see them.
fn redemption_of(
    store: &Store,
    reader: &Reader,
    token: TokenId,
) -> Result<TokenRedemptionView, ApiError> {
    let at = read_at(store, None)?;
    let height = at.height;
    let pool = existing_pool(store, &token.pool)?;
    let proof = prove(store, &StateKey::Token(token.clone()), height)?;
    let Some(StateValue::Token(record)) = proof.value.clone() else {
        if let Some(pool) = &pool {
            reader.check_pool(pool)?;
        }
        let message = format!("no token {token} at height {height}");
        return Err(ApiError::absent(message, at, proof));
    };
    let pool = pool.ok_or_else(|| ApiError::Internal(format!("token {token} has no pool")))?;
    let (redemption, redemption_proof) = match record.status {
        TokenStatus::Redeemed { redemption } => {
            let proven = prove(store, &StateKey::Redemption(redemption), height)?;
            match proven.value.clone() {
                Some(StateValue::Redemption(r)) => (
                    Some(RedemptionEntry {
                        id: redemption,
                        record: r,
                    }),
                    Some(proven),
                ),
                _ => {
                    return Err(ApiError::Internal(format!(
                        "token {token} is redeemed by {redemption}, which has no record"
                    )));
                }
            }
        }
        _ => (None, None),
    };
    let own = redemption
        .as_ref()
        .is_some_and(|r| r.record.redeemer_org == reader.record.org);
    if !own {
        reader.check_pool(&pool)?;
    }
    Ok(TokenRedemptionView {
        token_id: token,
        status: record.status,
        redemption,
        height,
        at,
        token_proof: proof,
        redemption_proof,
    })
}
