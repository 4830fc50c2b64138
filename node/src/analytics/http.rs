//! `GET /v1/analytics/kpis`, `/v1/analytics/redemptions` and `/v1/analytics/rejections`:
//! signed reads of the analytics store, each stamped with the chain position it was
//! computed at ([`Stamp`]).
//!
//! Who sees what: auditors and consortium nodes everything; an org's admin and issuer keys
//! their org's pools, plus the partner redemptions (and rejections) their org's terminals
//! made on other orgs' pools; other keys (terminals, partner keys) are refused with 403.

use super::query::{AnalyticsParams, Dim, Request, Scope};
use super::report::{KpiReport, RedemptionsReport, RejectionReport, Stamp};
use super::schema::Position;
use super::{Analytics, AnalyticsError};
use crate::api::{ApiError, AppState, Reader, blocking};
use crate::storage::Store;
use axum::Json;
use axum::extract::{Query, State};
use couponcactus_chaincode::ids::PoolId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::Role;
use std::sync::Arc;

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> ApiError {
        match e {
            AnalyticsError::Invalid(m) => ApiError::InvalidInput(m),
            AnalyticsError::Forbidden(m) => ApiError::Forbidden(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn store_of(state: &AppState) -> Result<(Arc<Analytics>, Store), ApiError> {
    let analytics = state.options.analytics.clone().ok_or_else(|| {
        ApiError::NotFound("the analytics store is not enabled on this node".into())
    })?;
    Ok((analytics, state.node.store().clone()))
}

/// What `reader` may see of `req`.
pub fn scope_of(
    reader: &Reader,
    req: &Request,
    state: &dyn StateReader,
) -> Result<Scope, AnalyticsError> {
    if reader.is_auditor() {
        return Ok(Scope::All);
    }
    let org = reader.record.org.to_string();
    if !matches!(reader.record.role, Role::OrgAdmin | Role::Issuer) {
        return Err(AnalyticsError::Forbidden(format!(
            "key {} is a {} key of {org}: analytics are read with an org admin or issuer key, or by auditors",
            reader.key,
            reader.record.role.name()
        )));
    }
    if let Some(o) = req.filter(Dim::Org)
        && o != org
    {
        return Err(AnalyticsError::Forbidden(format!(
            "key {} of {org} may not read the analytics of org {o}",
            reader.key
        )));
    }
    if let Some(p) = req.filter(Dim::Pool)
        && let Ok(id) = PoolId::new(p.to_string())
        && let Some(StateValue::Pool(pool)) = state.get(&StateKey::Pool(id))?
        && pool.owner.as_str() != org
        && !pool.spec.partner_orgs.contains(&reader.record.org)
    {
        return Err(AnalyticsError::Forbidden(format!(
            "key {} of {org} may not read pool {p} of {}",
            reader.key, pool.owner
        )));
    }
    Ok(Scope::Org(org))
}

/// The stamp of position `at`: that block's hash and state root, and the latest
/// certificate at or above it.
pub fn stamp(store: &Store, at: &Position) -> Result<Stamp, ApiError> {
    let tip = store.tip()?;
    let (block_hash, state_root, time_ms) = match store.header(at.height)? {
        Some(h) => (h.hash(), h.state_root, h.time_ms),
        None if at.height == tip.height => (tip.block_hash, tip.state_root, tip.time_ms),
        // Nothing ingested yet while blocks already commit (the ingester runs at most
        // every 200 ms): the store covers genesis.
        None if at.height == 0
            && let Some(g) = store.genesis_tip()? =>
        {
            (g.block_hash, g.state_root, g.time_ms)
        }
        None => {
            return Err(ApiError::Internal(format!(
                "block {} of the analytics store is not stored",
                at.height
            )));
        }
    };
    let certificate = store
        .latest_certificate()?
        .filter(|c| c.height >= at.height);
    Ok(Stamp {
        chain_id: tip.chain_id.to_string(),
        height: at.height,
        block_hash: block_hash.to_string(),
        state_root: state_root.to_string(),
        time_ms,
        cursor: at.cursor.map(|c| c.to_string()),
        certificate,
    })
}

/// KPIs per group and period.
#[utoipa::path(
    get,
    path = "/v1/analytics/kpis",
    tag = "analytics",
    params(AnalyticsParams),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "KPI rows per group and period bucket, partner redemptions made and received, budget burn of the pools, stamped with the height, block hash, state root and certificate they were computed at", body = KpiReport),
        (status = 400, description = "A malformed range, period, group-by or filter (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "The key may not read these analytics", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn kpis(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<KpiReport>, ApiError> {
    let (analytics, store) = store_of(&state)?;
    let req = Request::parse(&params)?;
    blocking(move || {
        let scope = scope_of(&reader, &req, &store)?;
        let (at, (rows, partner, budget)) = analytics.kpis(&req, &scope, &store)?;
        Ok(Json(KpiReport {
            stamp: stamp(&store, &at)?,
            from_ms: req.from_ms,
            to_ms: req.to_ms,
            period: req.period.name().into(),
            group_by: req.group_by.iter().map(|d| d.name().to_string()).collect(),
            rows,
            partner,
            budget,
        }))
    })
    .await
}

/// Rejections by reason, per group and period.
#[utoipa::path(
    get,
    path = "/v1/analytics/rejections",
    tag = "analytics",
    params(AnalyticsParams),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Refused txs by rejection code, per group and period bucket, stamped", body = RejectionReport),
        (status = 400, description = "A malformed range, period, group-by or filter (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "The key may not read these analytics", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn rejections(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<RejectionReport>, ApiError> {
    let (analytics, store) = store_of(&state)?;
    let req = Request::parse(&params)?;
    blocking(move || {
        let scope = scope_of(&reader, &req, &store)?;
        let (at, rows) = analytics.rejections(&req, &scope)?;
        Ok(Json(RejectionReport {
            stamp: stamp(&store, &at)?,
            from_ms: req.from_ms,
            to_ms: req.to_ms,
            period: req.period.name().into(),
            group_by: req.group_by.iter().map(|d| d.name().to_string()).collect(),
            rows,
        }))
    })
    .await
}

/// Redemptions, one page in log order.
#[utoipa::path(
    get,
    path = "/v1/analytics/redemptions",
    tag = "analytics",
    params(AnalyticsParams),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Up to `limit` redemptions after `after`, in log order, with `next` to continue, stamped", body = RedemptionsReport),
        (status = 400, description = "A malformed range, cursor, limit or filter (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "The key may not read these analytics", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn redemptions(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<AnalyticsParams>,
) -> Result<Json<RedemptionsReport>, ApiError> {
    let (analytics, store) = store_of(&state)?;
    let req = Request::parse(&params)?;
    blocking(move || {
        let scope = scope_of(&reader, &req, &store)?;
        let (at, rows) = analytics.redemptions(&req, &scope)?;
        let next = (rows.len() == req.limit)
            .then(|| rows.last().map(|r| r.id.clone()))
            .flatten();
        Ok(Json(RedemptionsReport {
            stamp: stamp(&store, &at)?,
            from_ms: req.from_ms,
            to_ms: req.to_ms,
            rows,
            next,
        }))
    })
    .await
}
