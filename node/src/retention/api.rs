//! `/v1/retention` (windows, last pass, rows deleted per class) and
//! `/v1/retention/holds` (list, place, lift legal holds): an org admin of the node's own
//! org; consortium auditors may read, not change. Every route is a signed request; a POST
//! body is covered by `?body_sha256=` in the signed target, as for webhooks.

use super::holds::{Hold, NewHold, Run};
use super::{CLASSES, ClassHolds, DAY_MS, Retention, RetentionError};
use crate::api::{AppState, ErrorBody, ErrorResponse, Reader};
use crate::node::now_ms;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

impl IntoResponse for RetentionError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            RetentionError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            RetentionError::NotFound(_) | RetentionError::Off => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            RetentionError::Forbidden(_) => (StatusCode::FORBIDDEN, "not_authorized"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "retention request failed");
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
        .route("/v1/retention", get(status))
        .route("/v1/retention/holds", get(list_holds).post(place_hold))
        .route("/v1/retention/holds/{id}", delete(remove_hold))
}

/// The service, once `reader` may read it (`change`: and change it).
fn authorize(
    state: &AppState,
    reader: &Reader,
    change: bool,
) -> Result<Arc<Retention>, RetentionError> {
    let retention = state.options.retention.clone().ok_or(RetentionError::Off)?;
    if !change && reader.is_auditor() {
        return Ok(retention);
    }
    let node_org = crate::webhooks::node_org(&state.node, state.node.status().node_id);
    let admin = reader.record.role == Role::OrgAdmin && reader.node.is_none();
    if admin && node_org.as_ref() == Some(&reader.record.org) {
        return Ok(retention);
    }
    let org = node_org.map_or_else(|| "(not yet known)".to_string(), |o| o.to_string());
    let may = if change { "change" } else { "read" };
    Err(RetentionError::Forbidden(format!(
        "key {} ({} of {}) may not {may} this node's retention: org admins of {org} only{}",
        reader.key,
        reader.record.role.name(),
        reader.record.org,
        if change { "" } else { ", and auditors" }
    )))
}

async fn blocking<T, F>(retention: Arc<Retention>, work: F) -> Result<T, RetentionError>
where
    T: Send + 'static,
    F: FnOnce(&Retention) -> Result<T, RetentionError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || work(&retention))
        .await
        .map_err(|e| RetentionError::Task(e.to_string()))?
}

/// One class's window and its last pass.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClassStatus {
    /// The class.
    pub class: String,
    /// Its window, days.
    pub window_days: u64,
    /// Rows older than this are due, ms since the Unix epoch.
    pub cutoff_ms: u64,
    /// Whether this node enforces it (a class whose store is not part of this node is not).
    pub enforced: bool,
    /// Whether a hold of the whole class (or `all`) stops every deletion.
    pub held: bool,
    /// Members whose rows holds keep.
    pub held_members: u64,
    /// The last pass (`null`: none yet).
    pub last_run: Option<Run>,
}

/// `GET /v1/retention`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetentionStatus {
    /// Whether the background job runs (`[retention] enabled`).
    pub enabled: bool,
    /// Time between passes, ms.
    pub interval_ms: u64,
    /// Most rows one class deletes per pass.
    pub max_rows_per_pass: u64,
    /// When the last pass ran, ms (`null`: none yet).
    pub last_pass_ms: Option<u64>,
    /// Every class.
    pub classes: Vec<ClassStatus>,
    /// Holds in force.
    pub holds: u64,
}

/// The status of `retention` at `now`.
pub fn status_of(retention: &Retention, now: u64) -> Result<RetentionStatus, RetentionError> {
    let holds = retention.store().list()?;
    let enforced: Vec<&str> = retention.classes().iter().map(|c| c.name()).collect();
    let config = retention.config();
    let mut classes = Vec::new();
    for class in CLASSES {
        let days = config.window_days(class).unwrap_or_default();
        let kept = ClassHolds::of(class, &holds);
        classes.push(ClassStatus {
            class: class.to_string(),
            window_days: days,
            cutoff_ms: now.saturating_sub(days.saturating_mul(DAY_MS)),
            enforced: enforced.contains(&class),
            held: kept.all,
            held_members: kept.members.len() as u64,
            last_run: retention.store().run(class)?,
        });
    }
    Ok(RetentionStatus {
        enabled: config.enabled,
        interval_ms: config.interval_ms,
        max_rows_per_pass: config.max_rows_per_pass,
        last_pass_ms: retention.store().last_pass()?,
        classes,
        holds: holds.len() as u64,
    })
}

#[utoipa::path(
    get, path = "/v1/retention", tag = "compliance", security(("signed_read" = [])),
    responses(
        (status = 200, description = "Windows per data class, the last pass and rows deleted per class", body = RetentionStatus),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org, nor an auditor (`not_authorized`)", body = ErrorResponse),
        (status = 404, description = "The node runs no retention service", body = ErrorResponse),
    )
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<RetentionStatus>, RetentionError> {
    let retention = authorize(&state, &reader, false)?;
    Ok(Json(blocking(retention, |r| status_of(r, now_ms())).await?))
}

/// The legal holds in force.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldList {
    /// Oldest first.
    pub holds: Vec<Hold>,
}

#[utoipa::path(
    get, path = "/v1/retention/holds", tag = "compliance", security(("signed_read" = [])),
    responses(
        (status = 200, description = "The legal holds in force", body = HoldList),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org, nor an auditor", body = ErrorResponse),
        (status = 404, description = "The node runs no retention service", body = ErrorResponse),
    )
)]
pub(crate) async fn list_holds(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<HoldList>, RetentionError> {
    let retention = authorize(&state, &reader, false)?;
    let holds = blocking(retention, |r| r.store().list()).await?;
    Ok(Json(HoldList { holds }))
}

/// `POST /v1/retention/holds`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceHold {
    /// `webhook_deliveries`, `access_log`, `analytics_detail`, `directory_inactive` or `all`.
    pub class: String,
    /// Only this member's rows (64 hex digits); absent: the whole class.
    #[serde(default)]
    pub member: Option<String>,
    /// Why (a case or request reference; 1 to 500 characters).
    pub reason: String,
}

/// `?body_sha256=`: the hex SHA-256 of the POST body, inside the signed target.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BodyHash {
    /// Hex SHA-256 of the body.
    body_sha256: Option<String>,
}

/// The body, once it hashes to the signed `body_sha256`.
fn signed_body(hash: &BodyHash, body: &Bytes) -> Result<PlaceHold, RetentionError> {
    let actual = hex::encode(Sha256::digest(body));
    match &hash.body_sha256 {
        Some(given) if given.eq_ignore_ascii_case(&actual) => {}
        _ => {
            return Err(RetentionError::Forbidden(format!(
                "the body hashes to {actual}: the signed target needs ?body_sha256={actual}"
            )));
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| RetentionError::InvalidInput(format!("the body is not a hold: {e}")))
}

#[utoipa::path(
    post, path = "/v1/retention/holds", tag = "compliance",
    params(BodyHash), request_body = PlaceHold, security(("signed_read" = [])),
    responses(
        (status = 201, description = "Placed: the retention job deletes nothing it covers until it is lifted", body = Hold),
        (status = 400, description = "`invalid_input`: unknown class, malformed member id, no reason, too many holds", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org, or a body not matching `body_sha256`", body = ErrorResponse),
        (status = 404, description = "The node runs no retention service", body = ErrorResponse),
    )
)]
pub(crate) async fn place_hold(
    State(state): State<AppState>,
    reader: Reader,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<(StatusCode, Json<Hold>), RetentionError> {
    let retention = authorize(&state, &reader, true)?;
    let request = signed_body(&hash, &body)?;
    let hold = NewHold::new(&request.class, request.member.as_deref(), &request.reason)?;
    let by = reader.key.to_hex();
    let placed = blocking(retention, move |r| r.store().place(&hold, &by, now_ms())).await?;
    tracing::info!(hold = placed.id, class = %placed.class, by = %placed.placed_by, "retention: legal hold placed");
    Ok((StatusCode::CREATED, Json(placed)))
}

#[utoipa::path(
    delete, path = "/v1/retention/holds/{id}", tag = "compliance", security(("signed_read" = [])),
    params(("id" = u64, Path, description = "The hold's id")),
    responses(
        (status = 200, description = "Lifted (the hold as it was); its rows are due again at the next pass", body = Hold),
        (status = 400, description = "A malformed id (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin of the node's org", body = ErrorResponse),
        (status = 404, description = "No such hold in force", body = ErrorResponse),
    )
)]
pub(crate) async fn remove_hold(
    State(state): State<AppState>,
    reader: Reader,
    id: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Hold>, RetentionError> {
    let retention = authorize(&state, &reader, true)?;
    let Path(id) = id.map_err(|e| RetentionError::InvalidInput(e.body_text()))?;
    let by = reader.key.to_hex();
    let who = by.clone();
    let lifted = blocking(retention, move |r| r.store().remove(id, &by, now_ms())).await?;
    tracing::info!(hold = lifted.id, class = %lifted.class, by = %who, "retention: legal hold lifted");
    Ok(Json(lifted))
}
