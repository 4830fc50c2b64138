//! `GET /v1/advice` (the coupon advisor) and `GET /v1/segments` (member segments, one
//! page of members): signed reads computed from the analytics store and the chain state
//! at one position ([`crate::intelligence`]), stamped with the height, block hash, state
//! root and certificate they were computed at.
//!
//! Who may ask: the org's admins and issuers for their own org, consortium auditors and
//! nodes for any org (`?org=`); everyone else gets 403. Both are computed per request
//! (the models train in well under a second at tens of thousands of members; see
//! docs/performance.md) on a blocking thread.

use super::auth::Reader;
use super::extract::ApiQuery;
use super::{ApiError, AppState, blocking};
use crate::analytics::members::DAY_MS;
use crate::intelligence::IntelError;
use crate::intelligence::advisor::{self, AdviseRequest};
use crate::intelligence::budget::Objective;
use crate::intelligence::segments::{self, Group, MemberSegment, SegmentConfig};
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most members one segments page returns.
pub const MAX_SEGMENT_PAGE: usize = 10_000;

impl From<IntelError> for ApiError {
    fn from(e: IntelError) -> ApiError {
        match e {
            IntelError::Invalid(m) => ApiError::InvalidInput(m),
            IntelError::Analytics(a) => a.into(),
        }
    }
}

/// `?org=&period_days=&proposals=&budget_minor=&objective=&margin_bps=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AdviceQuery {
    /// The org (default: the signer's; auditors may name any).
    org: Option<String>,
    /// Days of the period reviewed: 7–365 (default 30).
    period_days: Option<u64>,
    /// Proposals wanted: 3–5 (default 5).
    proposals: Option<u64>,
    /// A budget to split across the proposals' segments, minor units.
    budget_minor: Option<u64>,
    /// `redemptions` (default) or `margin`.
    objective: Option<String>,
    /// Merchant margin on an order, basis points (default 3000).
    margin_bps: Option<u64>,
}

/// The org `reader` may read intelligence of.
fn intel_org(reader: &Reader, asked: Option<&str>) -> Result<String, ApiError> {
    let own = reader.record.org.to_string();
    if reader.is_auditor() {
        return Ok(asked.map_or(own, str::to_string));
    }
    if !matches!(reader.record.role, Role::OrgAdmin | Role::Issuer) {
        return Err(ApiError::Forbidden(format!(
            "key {} is a {} key of {own}: advice and segments are read with an org admin or issuer key, or by auditors",
            reader.key,
            reader.record.role.name()
        )));
    }
    match asked {
        Some(o) if o != own => Err(ApiError::Forbidden(format!(
            "key {} of {own} may not read the advice or segments of org {o}",
            reader.key
        ))),
        _ => Ok(own),
    }
}

/// `v` in a narrower integer type, or that type's largest value.
fn saturate<T: TryFrom<u64> + num_max::Max>(v: u64) -> T {
    T::try_from(v).unwrap_or(T::MAX)
}

mod num_max {
    /// The largest value of an integer type.
    pub trait Max {
        const MAX: Self;
    }
    impl Max for u32 {
        const MAX: Self = u32::MAX;
    }
    impl Max for usize {
        const MAX: Self = usize::MAX;
    }
}

fn request(org: String, q: &AdviceQuery) -> Result<AdviseRequest, ApiError> {
    let mut req = AdviseRequest::new(&org);
    // Query integers are u64 on the wire (the API's convention); a value past the field's
    // type is out of range, and the range check below names it.
    req.period_days = q.period_days.map_or(req.period_days, saturate);
    req.proposals = q.proposals.map_or(req.proposals, saturate);
    req.budget_minor = q.budget_minor;
    req.margin_bps = q.margin_bps.map_or(req.margin_bps, saturate);
    req.objective = match q.objective.as_deref() {
        None | Some("redemptions") => Objective::Redemptions,
        Some("margin") => Objective::Margin,
        Some(o) => {
            return Err(ApiError::InvalidInput(format!(
                "objective must be redemptions or margin, not {o:?}"
            )));
        }
    };
    req.validate()?;
    Ok(req)
}

/// The advisor's review of an org's pools, its segments and proposed offers.
#[utoipa::path(
    get,
    path = "/v1/advice",
    tag = "intelligence",
    params(AdviceQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Per pool: redemption rate, discount cost, order value, growth, BCG quadrant and action; segments; how the models answered; 3–5 proposed offers, each a complete pool spec with the numbers it rests on; the budget split when a budget was given; stamped with the height it was computed at (deterministic per height)", body = Object),
        (status = 400, description = "A parameter out of range, or an org without pools (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "The key may not read this org's advice", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn advice(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(q): ApiQuery<AdviceQuery>,
) -> Result<Json<advisor::Advice>, ApiError> {
    let org = intel_org(&reader, q.org.as_deref())?;
    let req = request(org, &q)?;
    let analytics = state.options.analytics.clone().ok_or_else(|| {
        ApiError::NotFound("the analytics store is not enabled on this node".into())
    })?;
    let store = state.node.store().clone();
    let model = state.options.advisor_model.clone();
    let (req, inputs) = blocking(move || {
        let inputs = advisor::gather(&analytics, &store, &req)?;
        Ok((req, inputs))
    })
    .await?;
    Ok(Json(
        advisor::advise_reviewed(&req, &inputs, model.as_ref()).await?,
    ))
}

/// `?org=&window_days=&limit=&after=&segment=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SegmentsQuery {
    /// The org (default: the signer's; auditors may name any).
    org: Option<String>,
    /// Days frequency and monetary count (1–3650, default 365).
    window_days: Option<u64>,
    /// Only members of this segment (e.g. `at_risk`).
    segment: Option<String>,
    /// Most members returned (default and at most 10,000).
    limit: Option<u64>,
    /// Continue after this member id.
    after: Option<String>,
}

/// One page of an org's member segments.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentsView {
    /// The org.
    pub org: String,
    /// Where it was computed.
    #[schema(value_type = Object)]
    pub stamp: crate::analytics::report::Stamp,
    /// `kmeans` or `rfm`.
    #[schema(value_type = String)]
    pub method: segments::Method,
    /// Totals per group.
    #[schema(value_type = Object)]
    pub groups: std::collections::BTreeMap<Group, segments::GroupSummary>,
    /// The k-means clusters.
    #[schema(value_type = Vec<Object>)]
    pub clusters: Vec<segments::Cluster>,
    /// Members of this page, by member id.
    #[schema(value_type = Vec<Object>)]
    pub members: Vec<MemberSegment>,
    /// Pass as `after` for the next page (`None`: the last page).
    pub next: Option<String>,
}

/// Member segments: RFM scores, group, churn risk, lifetime value, home store, cluster.
#[utoipa::path(
    get,
    path = "/v1/segments",
    tag = "intelligence",
    params(SegmentsQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Per pseudonymous member: recency, frequency, monetary and their scores 1–5, the named group, churn risk, lifetime value, home store and k-means cluster; totals per group; stamped with the height", body = SegmentsView),
        (status = 400, description = "A parameter out of range (`invalid_input`)", body = crate::api::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = crate::api::ErrorResponse),
        (status = 403, description = "The key may not read this org's segments", body = crate::api::ErrorResponse),
    )
)]
pub(crate) async fn segments(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(q): ApiQuery<SegmentsQuery>,
) -> Result<Json<SegmentsView>, ApiError> {
    let org = intel_org(&reader, q.org.as_deref())?;
    let cfg = SegmentConfig {
        window_days: q.window_days.map_or(365, saturate),
        ..SegmentConfig::default()
    };
    cfg.validate()?;
    let only = q.segment.as_deref().map(Group::parse).transpose()?;
    let limit: usize = q.limit.map_or(MAX_SEGMENT_PAGE, saturate);
    if !(1..=MAX_SEGMENT_PAGE).contains(&limit) {
        return Err(ApiError::InvalidInput(format!(
            "limit must be 1 to {MAX_SEGMENT_PAGE}, not {limit}"
        )));
    }
    let analytics = state.options.analytics.clone().ok_or_else(|| {
        ApiError::NotFound("the analytics store is not enabled on this node".into())
    })?;
    let store = state.node.store().clone();
    blocking(move || {
        let data = analytics.member_data(&org)?;
        let stamp = crate::analytics::http::stamp(&store, &data.at)?;
        let as_of = u32::try_from(stamp.time_ms / DAY_MS).unwrap_or(u32::MAX);
        let segs = segments::compute(&data, as_of, &cfg)?;
        let mut members: Vec<MemberSegment> = segs
            .members
            .into_iter()
            .filter(|m| q.after.as_ref().is_none_or(|a| m.member > *a))
            .filter(|m| only.is_none_or(|g| m.group == g))
            .take(limit + 1)
            .collect();
        let next = (members.len() > limit).then(|| {
            members.truncate(limit);
            members.last().map(|m| m.member.clone()).unwrap_or_default()
        });
        Ok(Json(SegmentsView {
            org,
            stamp,
            method: segs.method,
            groups: segs.groups,
            clusters: segs.clusters,
            members,
            next,
        }))
    })
    .await
}
