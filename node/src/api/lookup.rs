//! Ids typed shortened, like git: a hex prefix of a tx id or of a public key resolves to
//! the one full id it names (`GET /v1/txs/prefix/{prefix}`, `GET /v1/keys/prefix/{prefix}`),
//! and the key registry read that names who signed a tx (`GET /v1/keys/{key}`).
//!
//! A signature is optional and widens what is found, like on blocks
//! ([`super::visibility`]): a tx id prefix finds only txs the reader may see; a key's
//! registration is shown to the keys of its org, to consortium auditors and nodes, and to
//! everyone for org-admin keys (they sign the public governance txs). A prefix has at
//! least [`MIN_PREFIX_HEX`] hex digits; the lookup is a
//! bounded scan that stops after [`MAX_PREFIX_MATCHES`] ids: one match answers 200, none
//! 404 `not_found`, several 409 `ambiguous_id` with the candidates in `error.candidates`.
//! Only committed txs are found by prefix (a pending tx by its full id, `GET /v1/txs/{id}`).
//! A key read of a key never registered (at the height read) answers 404 with the proof of
//! its absence ([`ApiError::absent`]); the prefix lookups are searches, not keyed reads,
//! and prove nothing.

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery, parse};
use super::reads::{HeightQuery, ReadAt, read_at};
use super::visibility::Audience;
use super::{ApiError, AppState, blocking};
use crate::storage::MAX_PREFIX_MATCHES;
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::commitment::{ProvenValue, prove};
use couponcactus_chaincode::ids::PublicKey;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{KeyRecord, Role};
use serde::Serialize;
use utoipa::ToSchema;

/// Fewest hex digits a prefix has (32 bits: a collision among a million ids is rare, and
/// answered `ambiguous_id`, never a wrong id).
pub const MIN_PREFIX_HEX: usize = 8;
/// Hex digits of a full id (tx id, public key).
const FULL_HEX: usize = 64;

/// The one id a prefix names.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IdMatchView {
    /// The prefix asked for (lowercase).
    pub prefix: String,
    /// The full id it names (64 hex digits).
    pub id: String,
}

/// A prefix as typed: lowercase hex, [`MIN_PREFIX_HEX`] to 64 digits.
fn parse_prefix(what: &str, text: &str) -> Result<String, ApiError> {
    let prefix = text.to_ascii_lowercase();
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::InvalidInput(format!(
            "{what} prefix {text:?} is not hexadecimal"
        )));
    }
    if !(MIN_PREFIX_HEX..=FULL_HEX).contains(&prefix.len()) {
        return Err(ApiError::InvalidInput(format!(
            "{what} prefix {text:?} has {} hex digits: give {MIN_PREFIX_HEX} to {FULL_HEX}",
            prefix.len()
        )));
    }
    Ok(prefix)
}

/// The answer for the ids a prefix matched.
fn one_match(what: &str, prefix: String, found: Vec<String>) -> Result<IdMatchView, ApiError> {
    match found.as_slice() {
        [] => Err(ApiError::NotFound(format!(
            "no {what} starts with {prefix} on this node"
        ))),
        [id] => Ok(IdMatchView {
            prefix,
            id: id.clone(),
        }),
        many => {
            let more = if many.len() >= MAX_PREFIX_MATCHES {
                " (and maybe more)"
            } else {
                ""
            };
            Err(ApiError::Ambiguous {
                message: format!(
                    "{what} prefix {prefix} is ambiguous: it matches {}{more}; give more digits",
                    many.join(", ")
                ),
                candidates: found,
            })
        }
    }
}

/// Resolves a prefix of a committed tx's id.
#[utoipa::path(
    get,
    path = "/v1/txs/prefix/{prefix}",
    tag = "txs",
    params(("prefix" = String, Path, description = "8 to 64 hex digits of a tx id", pattern = r"^[0-9a-fA-F]{8,64}$")),
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "The one committed tx id with this prefix", body = IdMatchView),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 400, description = "Not hex, or fewer than 8 digits", body = super::ErrorResponse),
        (status = 404, description = "No committed tx id starts with it", body = super::ErrorResponse),
        (status = 409, description = "`ambiguous_id`: several do; `error.candidates` lists them", body = super::ErrorResponse),
    )
)]
pub(crate) async fn tx_prefix(
    State(state): State<AppState>,
    reader: Option<Reader>,
    ApiPath(prefix): ApiPath<String>,
) -> Result<Json<IdMatchView>, ApiError> {
    let prefix = parse_prefix("tx id", &prefix)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let mut audience = Audience::new(store, reader.as_ref());
        let mut found = Vec::new();
        for id in store.tx_ids_with_prefix(&prefix, MAX_PREFIX_MATCHES)? {
            let Some(committed) = node.committed(&id)? else {
                continue;
            };
            let loc = committed.location;
            let tx = store
                .block(loc.height)?
                .and_then(|b| b.txs.into_iter().nth(loc.index as usize))
                .ok_or_else(|| ApiError::Internal(format!("tx {id} missing from its block")))?;
            if audience.can_read(&tx)? {
                found.push(id.to_hex());
            }
        }
        Ok(Json(one_match("tx id", prefix, found)?))
    })
    .await
}

/// Whether `reader` may see `record`: org-admin keys are public (they sign the public
/// governance txs); others are shown to their org, consortium auditors and nodes.
fn can_read_key(reader: Option<&Reader>, record: &KeyRecord) -> bool {
    record.role == Role::OrgAdmin
        || reader.is_some_and(|r| r.is_auditor() || r.record.org == record.org)
}

/// Resolves a prefix of a registered (or revoked) public key.
#[utoipa::path(
    get,
    path = "/v1/keys/prefix/{prefix}",
    tag = "keys",
    params(("prefix" = String, Path, description = "8 to 64 hex digits of a public key", pattern = r"^[0-9a-fA-F]{8,64}$")),
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "The one registered key with this prefix", body = IdMatchView),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 400, description = "Not hex, or fewer than 8 digits", body = super::ErrorResponse),
        (status = 404, description = "No registered key starts with it", body = super::ErrorResponse),
        (status = 409, description = "`ambiguous_id`: several do; `error.candidates` lists them", body = super::ErrorResponse),
    )
)]
pub(crate) async fn key_prefix(
    State(state): State<AppState>,
    reader: Option<Reader>,
    ApiPath(prefix): ApiPath<String>,
) -> Result<Json<IdMatchView>, ApiError> {
    let prefix = parse_prefix("key", &prefix)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let mut found = Vec::new();
        for key in store.keys_with_prefix(&prefix, MAX_PREFIX_MATCHES)? {
            if let Some(StateValue::Key(record)) = store.get(&StateKey::Key(key))?
                && can_read_key(reader.as_ref(), &record)
            {
                found.push(key.to_hex());
            }
        }
        Ok(Json(one_match("key", prefix, found)?))
    })
    .await
}

/// A registered key with its state proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The public key (hex).
    #[schema(value_type = String)]
    pub key: PublicKey,
    /// Its registration: `{org, role, registered_at, revoked_at}`; a terminal's role
    /// carries its store and channel.
    #[schema(value_type = Object)]
    pub record: KeyRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// `{version, key, value, proof}`: verify with `verify_state_proof(at.state_root, key, value, proof)`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Reads a key's registration (org, role, store and channel, revocation) with a state proof.
#[utoipa::path(
    get,
    path = "/v1/keys/{key}",
    tag = "keys",
    params(("key" = String, Path, description = "Public key (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$"), HeightQuery),
    security((), ("signed_read" = [])),
    responses(
        (status = 200, description = "The key's registration, proven at the height read", body = KeyView),
        (status = 401, description = "Signature headers present but the signed read fails (`bad_signature`, `stale`, `unknown_key`, `key_revoked`); without them the reader is anonymous", body = super::ErrorResponse),
        (status = 403, description = "A key of another org: its record is shown to that org's keys, consortium auditors and nodes", body = super::ErrorResponse),
        (status = 400, description = "Not a public key, or a height above the tip", body = super::ErrorResponse),
        (status = 404, description = "Not registered at that height: `at` and `proof` (value null) prove its absence (a 404 without them: block not stored, as below a state-sync base)", body = super::error::NotFoundProof),
        (status = 410, description = "Height pruned by this node: `not_retained` with `error.nearest_retained_height`", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_key(
    State(state): State<AppState>,
    reader: Option<Reader>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<KeyView>, ApiError> {
    let key: PublicKey = parse("public key", &key)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, query.height)?;
        let proof = prove(store, &StateKey::Key(key), at.height)?;
        let Some(StateValue::Key(record)) = proof.value.clone() else {
            let message = format!("key {key} is not registered at height {}", at.height);
            return Err(ApiError::absent(message, at, proof));
        };
        if !can_read_key(reader.as_ref(), &record) {
            return Err(ApiError::Forbidden(format!(
                "key {key} is registered to another org; its record is shown to that org's \
                 keys and to consortium auditors"
            )));
        }
        Ok(Json(KeyView {
            key,
            record,
            at,
            proof,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_hex_of_eight_to_sixty_four_digits() {
        assert_eq!(parse_prefix("tx id", "ABCDEF12").unwrap(), "abcdef12");
        assert_eq!(parse_prefix("tx id", &"0".repeat(64)).unwrap().len(), 64);
        for bad in ["abcdef1", "", "abcdefgh", "abcd-ef12", &"0".repeat(65)] {
            let err = parse_prefix("tx id", bad).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{bad:?}");
        }
    }

    #[test]
    fn matches_answer_one_id_none_or_the_candidates() {
        let id = "ab".repeat(32);
        assert_eq!(
            one_match("tx id", "abababab".into(), vec![id.clone()])
                .unwrap()
                .id,
            id
        );
        let none = one_match("tx id", "abababab".into(), vec![]).unwrap_err();
        assert_eq!(none.code(), "not_found");
        let other = format!("abababab{}", "0".repeat(56));
        let both =
            one_match("key", "abababab".into(), vec![id.clone(), other.clone()]).unwrap_err();
        assert_eq!(both.code(), "ambiguous_id");
        assert_eq!(both.status(), axum::http::StatusCode::CONFLICT);
        assert_eq!(both.body().candidates, [id.clone(), other.clone()]);
        assert!(both.to_string().contains(&id) && both.to_string().contains(&other));
    }
}
