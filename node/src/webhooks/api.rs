//! The webhook routes, `/v1/webhooks/endpoints…`: an org admin of the node's own org
//! registers, lists, rotates, disables, enables and replays endpoints, and reads their
//! delivery log (docs/api.md, "Webhooks").
//!
//! Every route is a signed request ([`Reader`]). A POST with a body also carries
//! `?body_sha256=<hex SHA-256 of the body>` in its target: the signature covers the
//! target, so it covers the body too; a body that does not hash to it is refused
//! (`401 bad_signature`).

use super::store::{Delivery, Endpoint};
use super::{WebhookError, Webhooks, dispatch, ssrf};
use crate::api::{AppState, ErrorBody, ErrorResponse, Reader};
use crate::node::now_ms;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use couponcactus_chaincode::events::EventType;
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

/// Most types one endpoint lists.
const MAX_TYPES: usize = 64;

/// The types an endpoint asks for, each a ledger event type or [`super::ALERT_TYPE`],
/// without repeats, in the order given.
pub fn check_types(types: &[String]) -> Result<Vec<String>, WebhookError> {
    if types.len() > MAX_TYPES {
        return Err(WebhookError::InvalidInput(format!(
            "at most {MAX_TYPES} types"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        let t = t.trim();
        if t != super::ALERT_TYPE && t.parse::<EventType>().is_err() {
            let known: Vec<&str> = EventType::ALL.iter().map(|k| k.name()).collect();
            return Err(WebhookError::InvalidInput(format!(
                "unknown type {:?}: use {} or {}",
                t.chars().take(64).collect::<String>(),
                known.join(", "),
                super::ALERT_TYPE
            )));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Most delivery-log rows one page returns.
pub const MAX_DELIVERIES_PAGE: u64 = 1_000;

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            WebhookError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            WebhookError::UnsafeUrl(_) => (StatusCode::BAD_REQUEST, "unsafe_url"),
            WebhookError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            WebhookError::Forbidden(_) => (StatusCode::FORBIDDEN, "not_authorized"),
            WebhookError::BodyMismatch(_) => (StatusCode::UNAUTHORIZED, "bad_signature"),
            WebhookError::Off => (StatusCode::SERVICE_UNAVAILABLE, "webhooks_off"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "webhook request failed");
        }
        let body = ErrorResponse {
            error: ErrorBody::new(code, self.to_string()),
        };
        (status, Json(body)).into_response()
    }
}

/// The routes (merged into the API router).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/endpoints", post(create).get(list))
        .route("/v1/webhooks/endpoints/{id}", get(show))
        .route(
            "/v1/webhooks/endpoints/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/v1/webhooks/endpoints/{id}/disable", post(disable))
        .route("/v1/webhooks/endpoints/{id}/enable", post(enable))
        .route("/v1/webhooks/endpoints/{id}/replay", post(replay))
        .route("/v1/webhooks/endpoints/{id}/deliveries", get(deliveries))
}

/// `?body_sha256=`: the hex SHA-256 of the POST body, inside the signed target.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BodyHash {
    /// Hex SHA-256 of the body (required when there is a body).
    body_sha256: Option<String>,
}

/// `Ok` when `id` has the shape of an endpoint id (`ep_` and 16 hex digits).
fn check_id(id: &str) -> Result<(), WebhookError> {
    let hex = id.strip_prefix("ep_").unwrap_or_default();
    if hex.len() == 16
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(WebhookError::InvalidInput(format!(
            "{:?} is not an endpoint id (ep_ and 16 hex digits)",
            id.chars().take(40).collect::<String>()
        )))
    }
}

/// The service, after checking the reader is an org admin of the node's org.
fn admin(state: &AppState, reader: &Reader) -> Result<Webhooks, WebhookError> {
    let hooks = state
        .options
        .webhooks
        .get()
        .cloned()
        .ok_or(WebhookError::Off)?;
    if reader.record.role != Role::OrgAdmin || reader.node.is_some() {
        return Err(WebhookError::Forbidden(format!(
            "key {} has the role {}: only an org admin of {} manages this node's webhooks",
            reader.key,
            reader.record.role.name(),
            hooks.org()
        )));
    }
    if &reader.record.org != hooks.org() {
        return Err(WebhookError::Forbidden(format!(
            "key {} is an admin of {}: this node's webhooks belong to {}",
            reader.key,
            reader.record.org,
            hooks.org()
        )));
    }
    Ok(hooks)
}

/// The JSON body, once it hashes to the signed `body_sha256`. An empty body is `{}`.
fn signed_body<T: serde::de::DeserializeOwned>(
    hash: &BodyHash,
    body: &Bytes,
) -> Result<T, WebhookError> {
    let actual = hex::encode(Sha256::digest(body));
    match &hash.body_sha256 {
        Some(given) if given.eq_ignore_ascii_case(&actual) => {}
        Some(given) => {
            return Err(WebhookError::BodyMismatch(format!(
                "the body hashes to {actual}, the signed body_sha256 is {given}: refused"
            )));
        }
        None if body.is_empty() => {}
        None => {
            return Err(WebhookError::BodyMismatch(
                "a request body needs ?body_sha256=<hex SHA-256 of the body> in the signed target"
                    .into(),
            ));
        }
    }
    let text: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(text)
        .map_err(|e| WebhookError::InvalidInput(format!("the body is not the expected JSON: {e}")))
}

/// `POST /v1/webhooks/endpoints`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `http(s)://…`; refused when it resolves to a private address (SSRF guard).
    pub url: String,
    /// Types to deliver: ledger event types (`coupon.redeemed`, …) and `alert.triggered`
    /// (the console's alert rules); empty or absent: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A new endpoint and its secret (shown once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedEndpoint {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `whsec_…`: verifies the `webhook-signature` of its deliveries. Shown only now.
    pub secret: String,
}

/// The endpoints of the node's org.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointList {
    /// Oldest first.
    pub endpoints: Vec<Endpoint>,
}

/// A new secret after a rotation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedSecret {
    /// The endpoint after the rotation.
    pub endpoint: Endpoint,
    /// The new `whsec_…` secret (shown only now); the old one stays valid until
    /// `endpoint.old_secret_expires_ms`.
    pub secret: String,
}

/// The body of `rotate-secret` and `enable`: empty or `{}`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

/// `POST …/disable`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableEndpoint {
    /// Why (shown in the list).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST …/replay`: a height range or a time range (block times, ms), inclusive.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// First height.
    pub from_height: Option<u64>,
    /// Last height (default: the tip).
    pub to_height: Option<u64>,
    /// First block time, ms since the Unix epoch.
    pub from_ms: Option<u64>,
    /// Last block time, ms.
    pub to_ms: Option<u64>,
}

/// A queued replay.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplayQueued {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// First height replayed.
    pub from_height: u64,
    /// Last height replayed.
    pub to_height: u64,
}

/// The delivery log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    /// Rows, newest first.
    pub deliveries: Vec<Delivery>,
}

/// `?limit=&before=` of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// Rows (default 100, at most 1000).
    limit: Option<u64>,
    /// Rows with an id below this (paging).
    before: Option<u64>,
}

#[utoipa::path(
    post, path = "/v1/webhooks/endpoints", tag = "webhooks",
    params(BodyHash), request_body = CreateEndpoint, security(("signed_read" = [])),
    responses(
        (status = 201, description = "Registered; the secret is shown only now", body = CreatedEndpoint),
        (status = 400, description = "`invalid_input` (bad URL or type), `unsafe_url` (private or loopback target: SSRF guard)", body = ErrorResponse),
        (status = 401, description = "Unsigned, badly signed, or a body that does not match `body_sha256` (`bad_signature`)", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org (`not_authorized`)", body = ErrorResponse),
        (status = 503, description = "`webhooks_off`", body = ErrorResponse),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    reader: Reader,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedEndpoint>), WebhookError> {
    let hooks = admin(&state, &reader)?;
    let mut request: CreateEndpoint = signed_body(&hash, &body)?;
    request.types = check_types(&request.types)?;
    let url = ssrf::parse_url(&request.url)?;
    ssrf::check_url(&url, hooks.config().allow_private_targets).await?;
    // New endpoints start at the tip: they receive the events committed from now on
    // (earlier ones by replay).
    let tip = hooks.node().events_tip().get();
    let cursor = tip
        .checked_sub(1)
        .map(|last| couponcactus_chaincode::events::EventId {
            log_index: last,
            index: u16::MAX,
        });
    let org = hooks.org().clone();
    let (endpoint, secret) = hooks
        .blocking(move |s| {
            s.create(
                &org,
                url.as_str(),
                &request.types,
                &request.description,
                cursor,
                now_ms(),
            )
        })
        .await?;
    tracing::info!(endpoint = %endpoint.id, url = %endpoint.url, "webhook endpoint registered");
    hooks.poke();
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint { endpoint, secret }),
    ))
}

#[utoipa::path(
    get, path = "/v1/webhooks/endpoints", tag = "webhooks", security(("signed_read" = [])),
    responses(
        (status = 200, description = "The endpoints of the node's org (no secrets)", body = EndpointList),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<EndpointList>, WebhookError> {
    let hooks = admin(&state, &reader)?;
    let org = hooks.org().clone();
    let endpoints = hooks
        .blocking(move |s| s.list(Some(&org), now_ms()))
        .await?;
    Ok(Json(EndpointList { endpoints }))
}

#[utoipa::path(
    get, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", security(("signed_read" = [])),
    params(("id" = String, Path, description = "Endpoint id", pattern = r"^ep_[0-9a-f]{16}$")),
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        (status = 400, description = "A malformed endpoint id or query (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, WebhookError> {
    let hooks = admin(&state, &reader)?;
    check_id(&id)?;
    let org = hooks.org().clone();
    let found = hooks.blocking(move |s| s.get(&org, &id, now_ms())).await?;
    found
        .map(Json)
        .ok_or_else(|| WebhookError::NotFound("no such webhook endpoint".into()))
}

#[utoipa::path(
    post, path = "/v1/webhooks/endpoints/{id}/rotate-secret", tag = "webhooks", security(("signed_read" = [])),
    params(("id" = String, Path, description = "Endpoint id", pattern = r"^ep_[0-9a-f]{16}$"), BodyHash), request_body = EmptyBody,
    responses(
        (status = 200, description = "A new secret; the previous one stays valid 24 h (`[webhooks] old_secret_ttl_ms`)", body = RotatedSecret),
        (status = 400, description = "A malformed endpoint id or query (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Json<RotatedSecret>, WebhookError> {
    let hooks = admin(&state, &reader)?;
    check_id(&id)?;
    let _: EmptyBody = signed_body(&hash, &body)?;
    let (org, ttl) = (hooks.org().clone(), hooks.config().old_secret_ttl_ms);
    let (endpoint, secret) = hooks
        .blocking(move |s| {
            let secret = s.rotate(&org, &id, ttl, now_ms())?;
            let endpoint = s
                .get(&org, &id, now_ms())?
                .ok_or_else(|| WebhookError::NotFound(id.clone()))?;
            Ok((endpoint, secret))
        })
        .await?;
    hooks.poke();
    Ok(Json(RotatedSecret { endpoint, secret }))
}

#[utoipa::path(
    post, path = "/v1/webhooks/endpoints/{id}/disable", tag = "webhooks", security(("signed_read" = [])),
    params(("id" = String, Path, description = "Endpoint id", pattern = r"^ep_[0-9a-f]{16}$"), BodyHash), request_body = DisableEndpoint,
    responses(
        (status = 200, description = "Disabled: deliveries stop; the cursor is kept", body = Endpoint),
        (status = 400, description = "A malformed endpoint id or query (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned, badly signed, or body not matching `body_sha256`", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn disable(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Json<Endpoint>, WebhookError> {
    let hooks = admin(&state, &reader)?;
    check_id(&id)?;
    let request: DisableEndpoint = signed_body(&hash, &body)?;
    let org = hooks.org().clone();
    let reason = request
        .reason
        .unwrap_or_else(|| format!("disabled by org admin {}", reader.key));
    let endpoint = hooks
        .blocking(move |s| s.set_enabled(&org, &id, false, Some(&reason), now_ms()))
        .await?;
    hooks.poke();
    Ok(Json(endpoint))
}

#[utoipa::path(
    post, path = "/v1/webhooks/endpoints/{id}/enable", tag = "webhooks", security(("signed_read" = [])),
    params(("id" = String, Path, description = "Endpoint id", pattern = r"^ep_[0-9a-f]{16}$"), BodyHash), request_body = EmptyBody,
    responses(
        (status = 200, description = "Enabled: deliveries resume from the cursor, the held event first, at once", body = Endpoint),
        (status = 400, description = "A malformed endpoint id or query (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn enable(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Json<Endpoint>, WebhookError> {
    let hooks = admin(&state, &reader)?;
    check_id(&id)?;
    let _: EmptyBody = signed_body(&hash, &body)?;
    let org = hooks.org().clone();
    let endpoint = hooks
        .blocking(move |s| s.set_enabled(&org, &id, true, None, now_ms()))
        .await?;
    hooks.poke();
    Ok(Json(endpoint))
}

#[utoipa::path(
    post, path = "/v1/webhooks/endpoints/{id}/replay", tag = "webhooks", security(("signed_read" = [])),
    params(("id" = String, Path, description = "Endpoint id", pattern = r"^ep_[0-9a-f]{16}$"), BodyHash), request_body = ReplayRequest,
    responses(
        (status = 202, description = "Queued: the range's events are delivered again, in order, before new ones, with their own `webhook-id`, `x-cactus-replay: true` and `\"replay\": true`", body = ReplayQueued),
        (status = 400, description = "`invalid_input`: no range, both kinds, or an empty range", body = ErrorResponse),
        (status = 401, description = "Unsigned, badly signed, or body not matching `body_sha256`", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn replay(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<(StatusCode, Json<ReplayQueued>), WebhookError> {
    let hooks = admin(&state, &reader)?;
    check_id(&id)?;
    let request: ReplayRequest = signed_body(&hash, &body)?;
    let store = hooks.node().store().clone();
    let (from, to) = tokio::task::spawn_blocking(move || heights_of(&store, &request))
        .await
        .map_err(|e| WebhookError::Task(e.to_string()))??;
    let org = hooks.org().clone();
    let endpoint = hooks
        .blocking(move |s| s.add_replay(&org, &id, from, to, now_ms()))
        .await?;
    hooks.poke();
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayQueued {
            endpoint,
            from_height: from,
            to_height: to,
        }),
    ))
}

/// The height range a replay request names (times map to the blocks whose time is in
/// range; the end is clamped to the tip).
fn heights_of(
    store: &crate::storage::Store,
    r: &ReplayRequest,
) -> Result<(u64, u64), WebhookError> {
    let tip = store.tip()?.height;
    let by_height = r.from_height.is_some() || r.to_height.is_some();
    let by_time = r.from_ms.is_some() || r.to_ms.is_some();
    let (from, to) = match (by_height, by_time) {
        (true, false) => (r.from_height.unwrap_or(1), r.to_height.unwrap_or(tip).min(tip)),
        (false, true) => {
            let from = first_height_at(store, r.from_ms.unwrap_or(0), tip)?;
            let to = match r.to_ms {
                Some(t) => first_height_at(store, t.saturating_add(1), tip)?.saturating_sub(1),
                None => tip,
            };
            (from, to)
        }
        _ => return Err(WebhookError::InvalidInput("give a height range (from_height, to_height) or a time range (from_ms, to_ms), not both".into())),
    };
    if from == 0 || from > to {
        return Err(WebhookError::InvalidInput(format!(
            "the range holds no block (heights {from}..={to}, tip {tip})"
        )));
    }
    Ok((from, to))
}

/// The first height (1..=tip+1) whose block time is at least `ms` (binary search: block
/// times never decrease).
fn first_height_at(store: &crate::storage::Store, ms: u64, tip: u64) -> Result<u64, WebhookError> {
    let (mut lo, mut hi) = (1u64, tip + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let time = store.block_header(mid)?.map_or(u64::MAX, |h| h.time_ms);
        if time >= ms {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

#[utoipa::path(
    get, path = "/v1/webhooks/endpoints/{id}/deliveries", tag = "webhooks", security(("signed_read" = [])),
    params(("id" = String, Path, description = "Endpoint id", pattern = r"^ep_[0-9a-f]{16}$"), DeliveriesQuery),
    responses(
        (status = 200, description = "The delivery log (attempt, event, status or error, latency), newest first", body = DeliveryList),
        (status = 400, description = "A malformed endpoint id or query (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<DeliveryList>, WebhookError> {
    let hooks = admin(&state, &reader)?;
    check_id(&id)?;
    let org = hooks.org().clone();
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_DELIVERIES_PAGE);
    let deliveries = hooks
        .blocking(move |s| s.deliveries(&org, &id, limit, q.before, now_ms()))
        .await?;
    Ok(Json(DeliveryList { deliveries }))
}

/// Re-exported for the docs: the header marking a replay.
pub const REPLAY_HEADER: &str = dispatch::REPLAY_HEADER;
