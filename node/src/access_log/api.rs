//! `GET /v1/access-log?from=&to=&limit=&after=`: an org admin reads the entries of their
//! org's actors, a consortium auditor (or node key) every entry; any other key gets 403.

use super::store::ListQuery;
use super::{AccessLog, AccessLogError, Entry};
use crate::api::{AppState, ErrorBody, ErrorResponse, Reader};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most entries one page returns.
pub const MAX_PAGE: u64 = 10_000;
/// Entries per page by default.
pub const DEFAULT_PAGE: u64 = 1_000;

impl IntoResponse for AccessLogError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AccessLogError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            AccessLogError::Forbidden(_) => (StatusCode::FORBIDDEN, "not_authorized"),
            AccessLogError::Off => (StatusCode::NOT_FOUND, "not_found"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "access log request failed");
        }
        let body = ErrorResponse {
            error: ErrorBody::new(code, self.to_string()),
        };
        (status, Json(body)).into_response()
    }
}

/// `?from=&to=&limit=&after=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccessLogQuery {
    /// Earliest request time, ms since the Unix epoch (default 0).
    from: Option<u64>,
    /// Latest request time, ms (default: now).
    to: Option<u64>,
    /// Entries per page (default 1,000, at most 10,000).
    limit: Option<u64>,
    /// Entries with an id above this (the previous page's `next_after`).
    after: Option<u64>,
}

/// One page of the access log, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessLogPage {
    /// The entries.
    pub entries: Vec<Entry>,
    /// Pass as `after` for the next page (`null`: this is the last).
    pub next_after: Option<u64>,
}

/// The org whose entries `reader` may read (`None`: all), or 403.
fn scope(reader: &Reader) -> Result<Option<String>, AccessLogError> {
    if reader.is_auditor() {
        return Ok(None);
    }
    if reader.record.role == Role::OrgAdmin {
        return Ok(Some(reader.record.org.to_string()));
    }
    Err(AccessLogError::Forbidden(format!(
        "key {} has the role {}: the access log is for org admins (their org's entries) and auditors",
        reader.key,
        reader.record.role.name()
    )))
}

/// Reads the node's access log.
#[utoipa::path(
    get, path = "/v1/access-log", tag = "compliance",
    params(AccessLogQuery), security(("signed_read" = [])),
    responses(
        (status = 200, description = "Entries in the time range, oldest first: who (key, org, role; console user; anonymous), method, route template, path ids, status, time", body = AccessLogPage),
        (status = 400, description = "`invalid_input`: a malformed query or `from` after `to`", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin's or auditor's key (`not_authorized`)", body = ErrorResponse),
        (status = 404, description = "The node keeps no access log", body = ErrorResponse),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    reader: Reader,
    query: Result<Query<AccessLogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccessLogPage>, AccessLogError> {
    let Query(q) = query.map_err(|e| AccessLogError::InvalidInput(e.body_text()))?;
    let org = scope(&reader)?;
    let log: AccessLog = state
        .options
        .access_log
        .clone()
        .ok_or(AccessLogError::Off)?;
    let (from_ms, to_ms) = (
        q.from.unwrap_or(0),
        q.to.unwrap_or_else(crate::node::now_ms),
    );
    if from_ms > to_ms {
        return Err(AccessLogError::InvalidInput(format!(
            "from ({from_ms}) is after to ({to_ms})"
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let query = ListQuery {
        from_ms,
        to_ms,
        org,
        after: q.after.unwrap_or(0),
        limit,
    };
    let entries = log.blocking(move |s| s.list(&query)).await?;
    let next_after = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AccessLogPage {
        entries,
        next_after,
    }))
}
