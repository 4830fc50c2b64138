//! `GET /v1/reports/finance?org=` (the finance report, [`super::finance`]) and `GET
//! /v1/reports/privacy?org=` (consent coverage and the erasure log, [`super::privacy`]), for
//! the org's admins and issuers and for auditors (signed reads); everyone else 403.

use super::{Limits, ReportsError};
use crate::analytics::http::stamp;
use crate::analytics::schema::Position;
use crate::api::{ApiError, AppState, Reader, blocking};
use axum::Json;
use axum::extract::{Query, State};
use couponcactus_chaincode::ids::OrgId;
use couponcactus_chaincode::types::Role;
use couponcactus_client::analytics::Stamp;
use couponcactus_client::finance::FinanceReport;
use couponcactus_client::privacy_report::PrivacyReport;
use serde::Deserialize;
use utoipa::IntoParams;

/// `?org=`: whose report (default: the signer's org).
#[derive(Debug, Deserialize, IntoParams)]
pub struct FinanceQuery {
    /// The org (an auditor may name any org; staff only their own).
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub org: Option<String>,
}

impl From<ReportsError> for ApiError {
    fn from(e: ReportsError) -> ApiError {
        match e {
            ReportsError::Storage(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The finance report of an org.
#[utoipa::path(
    get,
    path = "/v1/reports/finance",
    tag = "reports",
    params(FinanceQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Coupon liability (per pool and currency, ending within 30/60/90 days, breakage estimate), the loyalty program's liability per segment (expiring within 30/60/90 days), and settlement per partner org, stamped with the height, block hash, state root and certificate the state figures were read at", body = FinanceReport),
        (status = 400, description = "A malformed org (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "Not an org admin's or issuer's key of the org, nor an auditor's", body = crate::api::ErrorResponse),
        (status = 404, description = "The analytics store is not enabled on this node (`not_found`)", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn finance(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<FinanceQuery>,
) -> Result<Json<FinanceReport>, ApiError> {
    let org = report_org(&reader, query.org.as_deref(), "finance")?;
    let analytics = state.options.analytics.clone().ok_or_else(|| {
        ApiError::NotFound("the analytics store is not enabled on this node".into())
    })?;
    let store = state.node.store().clone();
    blocking(move || {
        let figures = analytics
            .finance_figures(org.as_str())
            .map_err(ReportsError::from)?;
        Ok(Json(super::finance(
            &store,
            &org,
            figures,
            Limits::default(),
            stamp_at,
        )?))
    })
    .await
}

/// The org a report is asked for (default: the signer's), if the signer may read it: its
/// org admins and issuers, and auditors.
fn report_org(reader: &Reader, org: Option<&str>, what: &str) -> Result<OrgId, ApiError> {
    let org: OrgId = match org {
        Some(o) => OrgId::new(o).map_err(|e| ApiError::InvalidInput(format!("org: {e}")))?,
        None => reader.record.org.clone(),
    };
    let staff =
        matches!(reader.record.role, Role::OrgAdmin | Role::Issuer) && reader.record.org == org;
    if !staff && !reader.is_auditor() {
        return Err(ApiError::Forbidden(format!(
            "key {} ({} of {}) may not read the {what} report of {org}: its org admins and issuers and auditors may",
            reader.key,
            reader.record.role.name(),
            reader.record.org,
        )));
    }
    Ok(org)
}

/// The stamp of `height`: its block hash, state root, time and the latest certificate.
fn stamp_at(store: &crate::storage::Store, height: u64) -> Result<Stamp, ReportsError> {
    let at = Position {
        height,
        cursor: None,
    };
    let s = stamp(store, &at).map_err(|e| ReportsError::Stamp(e.to_string()))?;
    Ok(Stamp {
        chain_id: s.chain_id,
        height: s.height,
        block_hash: s.block_hash,
        state_root: s.state_root,
        time_ms: s.time_ms,
        cursor: s.cursor,
        certificate: s.certificate,
    })
}

/// The privacy report of an org.
#[utoipa::path(
    get,
    path = "/v1/reports/privacy",
    tag = "reports",
    params(FinanceQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Consent coverage per purpose among the members the org knows, and its erasure receipts, stamped with the height, block hash, state root and certificate they were read at", body = PrivacyReport),
        (status = 400, description = "A malformed org (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "Not an org admin's or issuer's key of the org, nor an auditor's", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn privacy(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<FinanceQuery>,
) -> Result<Json<PrivacyReport>, ApiError> {
    let org = report_org(&reader, query.org.as_deref(), "privacy")?;
    let store = state.node.store().clone();
    blocking(move || {
        let max = super::privacy::MAX_ENTRIES;
        Ok(Json(super::privacy_report(&store, &org, max, stamp_at)?))
    })
    .await
}
