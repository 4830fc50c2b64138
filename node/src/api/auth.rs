//! Signed reads: who is asking, and what their key may see.
//!
//! A non-public read carries three headers: [`KEY_HEADER`] (hex ed25519 public key),
//! [`TIME_HEADER`] (ms since the Unix epoch) and [`SIGNATURE_HEADER`] (hex ed25519
//! signature over [`read_signing_message`]`(chain_id, time, method, path_and_query)`). The
//! node accepts it when the signature passes `verify_strict`, the time is within
//! [`MAX_CLOCK_SKEW_MS`] of its clock, and the key is registered and not revoked.
//!
//! What a key sees follows its role: a consortium auditor (registered by a governance
//! quorum) and a consortium node's own key see everything; any other key sees the pools its
//! org owns (and their tokens), and a partner key or terminal also the pools that list its
//! org in `partner_orgs` (a partner's terminal reads the rules before it charges). Which txs
//! a key reads is [`super::visibility`]'s.
//!
//! Routes that are public with a signature optional (blocks, the history log) take an
//! `Option<Reader>`: no signature headers at all is an anonymous reader, but headers that
//! are present must verify.

use super::{ApiError, AppState};
use crate::node::now_ms;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::http::request::Parts;
use couponcactus_chaincode::ids::{OrgId, PublicKey, SignatureBytes};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::read_signing_message;
use couponcactus_chaincode::types::{KeyRecord, PoolRecord, Role};
use ed25519_dalek::{Signature, VerifyingKey};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

/// Header carrying the reader's public key (hex).
pub const KEY_HEADER: &str = "x-cactus-key";
/// Header carrying the request time (ms since the Unix epoch, decimal).
pub const TIME_HEADER: &str = "x-cactus-time";
/// Header carrying the signature (hex).
pub const SIGNATURE_HEADER: &str = "x-cactus-signature";
/// Largest accepted difference between the request time and the node's clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// An authenticated reader: a registered, unrevoked key and its record, or a consortium
/// node's key.
#[derive(Clone, Debug)]
pub struct Reader {
    /// The key that signed the request.
    pub key: PublicKey,
    /// Its registration (org and role); for a node's key, the node's org with the auditor's
    /// read right (a node holds every block anyway).
    pub record: KeyRecord,
    /// The raft id when the key is a current consortium node's key.
    pub node: Option<u64>,
}

impl Reader {
    /// Who this is, for the access log: the key, its org and its role (`node` for a
    /// consortium node's key).
    pub fn actor(&self) -> crate::access_log::Actor {
        let role = match self.node {
            Some(_) => "node".to_string(),
            None => self.record.role.name().to_string(),
        };
        crate::access_log::Actor::key(
            self.key.to_hex(),
            Some(self.record.org.to_string()),
            Some(role),
        )
    }

    /// Whether the key may read everything: a consortium auditor or a consortium node.
    pub fn is_auditor(&self) -> bool {
        self.record.role == Role::Auditor || self.node.is_some()
    }

    /// Whether the key may read `pool` and its tokens.
    pub fn can_read_pool(&self, pool: &PoolRecord) -> bool {
        self.is_auditor()
            || pool.owner == self.record.org
            || (matches!(self.record.role, Role::Partner | Role::Terminal { .. })
                && pool.spec.partner_orgs.contains(&self.record.org))
    }

    /// Whether the key may list pools of `org` (auditors, the org's keys, partner keys).
    pub fn can_list_org(&self, org: &OrgId) -> bool {
        self.is_auditor() || &self.record.org == org || self.record.role == Role::Partner
    }

    /// `Ok` if the key may read `pool`, else `not_authorized`.
    pub fn check_pool(&self, pool: &PoolRecord) -> Result<(), ApiError> {
        if self.can_read_pool(pool) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "key {} ({} of {}) may not read pool {}",
                self.key,
                self.record.role.name(),
                self.record.org,
                pool.id
            )))
        }
    }
}

fn unauthenticated(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated {
        code,
        message: message.into(),
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Result<&'a str, ApiError> {
    parts
        .headers
        .get(name)
        .ok_or_else(|| {
            unauthenticated(
                "unauthenticated",
                format!(
                    "this read needs a signed request: headers {KEY_HEADER}, {TIME_HEADER} and {SIGNATURE_HEADER} (see docs/api.md)"
                ),
            )
        })?
        .to_str()
        .map_err(|_| unauthenticated("unauthenticated", format!("header {name} is not ASCII")))
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let reader = authenticate(parts, state).await?;
        crate::access_log::layer::note_actor(parts, || reader.actor());
        Ok(reader)
    }
}

/// The reader a signed request proves, or why it proves none.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Reader, ApiError> {
    let key: PublicKey = header(parts, KEY_HEADER)?
        .parse()
        .map_err(|e| unauthenticated("bad_signature", format!("{KEY_HEADER}: {e}")))?;
    let time_ms: u64 = header(parts, TIME_HEADER)?.parse().map_err(|_| {
        unauthenticated(
            "unauthenticated",
            format!("{TIME_HEADER} is not a number of ms"),
        )
    })?;
    let signature: SignatureBytes = header(parts, SIGNATURE_HEADER)?
        .parse()
        .map_err(|e| unauthenticated("bad_signature", format!("{SIGNATURE_HEADER}: {e}")))?;
    let now = now_ms();
    if time_ms.abs_diff(now) > MAX_CLOCK_SKEW_MS {
        return Err(unauthenticated(
            "stale",
            format!(
                "request time {time_ms} ms is more than {MAX_CLOCK_SKEW_MS} ms from the node's clock ({now} ms)"
            ),
        ));
    }
    // The request target as the client sent it (before any nesting rewrote the URI).
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let msg = read_signing_message(
        state.node.chain_id(),
        time_ms,
        parts.method.as_str(),
        target,
    );
    let verifying = VerifyingKey::from_bytes(&key.0)
        .map_err(|_| unauthenticated("bad_signature", "the key is not a valid ed25519 point"))?;
    verifying
        .verify_strict(&msg, &Signature::from_bytes(&signature.0))
        .map_err(|_| {
            unauthenticated(
                "bad_signature",
                format!(
                    "the signature does not verify for {} {target}",
                    parts.method
                ),
            )
        })?;
    let store = state.node.store().clone();
    let record = super::blocking(move || Ok(store.get(&StateKey::Key(key))?)).await?;
    match record {
        Some(StateValue::Key(record)) if record.revoked_at.is_none() => Ok(Reader {
            key,
            record,
            node: None,
        }),
        Some(StateValue::Key(_)) => Err(unauthenticated(
            "key_revoked",
            format!("key {key} was revoked"),
        )),
        _ => node_reader(state, key)
            .ok_or_else(|| unauthenticated("unknown_key", format!("key {key} is not registered"))),
    }
}

/// A current consortium node's key reads as the node: everything (its operator holds every
/// block on disk anyway).
fn node_reader(state: &AppState, key: PublicKey) -> Option<Reader> {
    let node = state
        .node
        .consortium()
        .nodes
        .into_iter()
        .find(|n| n.node_key == key)?;
    Some(Reader {
        key,
        record: KeyRecord {
            org: node.org,
            role: Role::Auditor,
            registered_at: 0,
            revoked_at: None,
        },
        node: Some(node.node_id),
    })
}

impl OptionalFromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    /// No signature header at all: an anonymous reader. Any of them present: the request
    /// must verify like every signed read.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        let signed = [KEY_HEADER, TIME_HEADER, SIGNATURE_HEADER]
            .iter()
            .any(|h| parts.headers.contains_key(*h));
        if !signed {
            return Ok(None);
        }
        <Reader as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// Adds the `signed_read` security scheme to the OpenAPI document.
#[derive(Debug)]
pub(crate) struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "signed_read",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                SIGNATURE_HEADER,
                "Signed read: send x-cactus-key (hex ed25519 public key), x-cactus-time (ms) and \
                 x-cactus-signature (hex ed25519 over \"couponcactus/read/v1\" ‖ u64le(len(chain_id)) \
                 ‖ chain_id ‖ u64le(time) ‖ METHOD ‖ \" \" ‖ path-and-query). The key must be \
                 registered and unrevoked; time within 60 s of the node's clock.",
            ))),
        );
    }
}
