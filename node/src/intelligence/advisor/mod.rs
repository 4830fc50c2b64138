//! The coupon advisor: reads one org's portfolio and members at one height and answers
//! with a review of every pool (redemption rate, discount cost, order value, growth,
//! BCG quadrant and action), the member segments, and 3–5 proposed offers that fill the
//! gaps (segment × incentive the pools do not reach), each a complete, validated pool
//! spec with the numbers it rests on, plus an optional budget split across them.
//!
//! [`gather`] does the I/O (analytics store, chain state, block headers) and [`advise`]
//! is a pure function of what it gathered, so the same height gives the same advice.
//! Nothing is issued here: adopting a proposal prefills a draft pool for a person to
//! sign (`cactus pool create`, the console's new-pool form). An operator's language model
//! may rephrase and re-rank the proposals afterwards ([`super::llm`]); the figures and
//! specs are never its.

pub mod portfolio;
pub mod proposals;

use super::IntelError;
use super::budget::{self, Candidate, Limits, Objective, Split};
use super::llm;
use super::propensity::{self, Model, Offer, PropensityConfig};
use super::segments::{self, Group, SegmentConfig, Segments};
use crate::analytics::members::{DAY_MS, MemberData};
use crate::analytics::query::{AnalyticsParams, Request, Scope};
use crate::analytics::report::{KpiRow, Stamp};
use crate::analytics::{Analytics, AnalyticsError};
use crate::storage::Store;
use couponcactus_chaincode::ids::OrgId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{Currency, PoolRecord};
use portfolio::PoolReview;
use proposals::{Basis, Proposal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the advisor is asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdviseRequest {
    /// The org.
    pub org: String,
    /// Days of the period reviewed (and of the previous one growth compares with): 7–365.
    pub period_days: u32,
    /// Proposals wanted: 3–5.
    pub proposals: usize,
    /// A budget to split across the proposals' segments, minor units.
    pub budget_minor: Option<u64>,
    /// What the split maximises.
    pub objective: Objective,
    /// Merchant margin on an order, basis points (margin objective).
    pub margin_bps: u32,
    /// Segments.
    pub segments: SegmentConfig,
    /// Propensity.
    pub propensity: PropensityConfig,
}

impl AdviseRequest {
    /// The defaults for `org`: 30 days, 5 proposals, no budget.
    pub fn new(org: &str) -> AdviseRequest {
        AdviseRequest {
            org: org.to_string(),
            period_days: 30,
            proposals: 5,
            budget_minor: None,
            objective: Objective::Redemptions,
            margin_bps: 3_000,
            segments: SegmentConfig::default(),
            propensity: PropensityConfig::default(),
        }
    }

    /// Refuses values out of range, naming the field.
    pub fn validate(&self) -> Result<(), IntelError> {
        OrgId::new(self.org.clone()).map_err(|e| IntelError::Invalid(format!("org: {e}")))?;
        if !(7..=365).contains(&self.period_days) {
            return Err(IntelError::Invalid(format!(
                "period_days must be 7 to 365, not {}",
                self.period_days
            )));
        }
        if !(3..=5).contains(&self.proposals) {
            return Err(IntelError::Invalid(format!(
                "proposals must be 3 to 5, not {}",
                self.proposals
            )));
        }
        if self.margin_bps > 10_000 {
            return Err(IntelError::Invalid(format!(
                "margin must be at most 10000 basis points, not {}",
                self.margin_bps
            )));
        }
        self.segments.validate()?;
        self.propensity.validate()
    }
}

/// What [`advise`] reads, gathered at one analytics position.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The chain position (height, block, root, certificate).
    pub stamp: Stamp,
    /// The org's pools created at or below the height.
    pub pools: Vec<PoolRecord>,
    /// KPI rows per pool, this period.
    pub current: Vec<KpiRow>,
    /// KPI rows per pool, the previous period.
    pub previous: Vec<KpiRow>,
    /// Member activity.
    pub members: MemberData,
}

/// One segment's line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentLine {
    /// The group.
    pub segment: Group,
    /// Members.
    pub members: u64,
    /// Share of the org's members, basis points.
    pub share_bp: u64,
    /// Of them, at high churn risk.
    pub high_churn: u64,
    /// Lifetime value, minor units.
    pub ltv_minor: i64,
    /// Redeemed ÷ allocated of their coupons, basis points.
    pub redemption_rate_bp: Option<u64>,
}

/// How the models answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Models {
    /// Segments: k-means or RFM.
    pub segments: segments::Method,
    /// Propensity: logistic or rule.
    pub propensity: propensity::PropensityMethod,
    /// Why the rule answered.
    pub propensity_fallback: Option<String>,
    /// Allocations it learnt from.
    pub propensity_samples: usize,
    /// Held-out Brier score ×10,000 (logistic only), and the base rate's.
    pub brier_x10000: Option<(u32, u32)>,
}

/// The advice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// The org.
    pub org: String,
    /// Where the figures were computed.
    pub stamp: Stamp,
    /// Period length, days.
    pub period_days: u32,
    /// Every pool's review.
    pub pools: Vec<PoolReview>,
    /// Segments, largest first.
    pub segments: Vec<SegmentLine>,
    /// How the models answered.
    pub models: Models,
    /// Proposed offers, best first.
    pub proposals: Vec<Proposal>,
    /// The budget split across the proposals, when a budget was given.
    pub budget: Option<Split>,
    /// Whether (and how) a language model reworded the proposals.
    pub model: ModelNote,
}

/// What the operator's language model did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelNote {
    /// A model endpoint is configured.
    pub configured: bool,
    /// Its review was applied.
    pub applied: bool,
    /// Why it was not, or what of it was refused.
    pub notes: Vec<String>,
}

/// The org's currency: the most common among its pools (ties: the smaller code).
fn currency_of(pools: &[PoolRecord]) -> Option<Currency> {
    let mut n: BTreeMap<Currency, usize> = BTreeMap::new();
    for p in pools {
        *n.entry(p.spec.currency).or_default() += 1;
    }
    n.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(c, _)| c)
}

/// The typical order: the median average basket of the pools that had one, else 50.00.
fn typical_order(reviews: &[PoolReview]) -> u64 {
    let mut v: Vec<u64> = reviews
        .iter()
        .filter_map(|r| r.average_order_minor)
        .filter_map(|v| u64::try_from(v).ok())
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(5_000)
}

/// The advice for `req` from `inputs`.
pub fn advise(req: &AdviseRequest, inputs: &Inputs) -> Result<Advice, IntelError> {
    req.validate()?;
    let currency = currency_of(&inputs.pools).ok_or_else(|| {
        IntelError::Invalid(format!(
            "org {} has no pools yet: the advisor proposes offers in the currency of the org's pools",
            req.org
        ))
    })?;
    let as_of_day = u32::try_from(inputs.stamp.time_ms / DAY_MS).unwrap_or(u32::MAX);
    let pools = portfolio::review(&inputs.pools, &inputs.current, &inputs.previous);
    let typical = typical_order(&pools);
    let offers: BTreeMap<String, Offer> = inputs
        .pools
        .iter()
        .map(|p| (p.id.to_string(), Offer::of(&p.spec, typical)))
        .collect();
    let segs = segments::compute(&inputs.members, as_of_day, &req.segments)?;
    let model = propensity::train(&inputs.members, &offers, as_of_day, &req.propensity)?;
    let basis = Basis {
        segments: &segs,
        data: &inputs.members,
        model: &model,
        offers: &offers,
        currency,
        as_of_ms: inputs.stamp.time_ms,
        period_days: req.period_days,
        height: inputs.stamp.height,
    };
    let proposals = proposals::validated(proposals::propose(&basis, req.proposals));
    let budget = match req.budget_minor {
        Some(b) => Some(split(&proposals, b, req)?),
        None => None,
    };
    Ok(Advice {
        org: req.org.clone(),
        stamp: inputs.stamp.clone(),
        period_days: req.period_days,
        pools,
        segments: segment_lines(&segs),
        models: models(&segs, &model),
        proposals,
        budget,
        model: ModelNote::default(),
    })
}

fn segment_lines(segs: &Segments) -> Vec<SegmentLine> {
    let total = segs.members.len().max(1) as u64;
    let mut lines: Vec<SegmentLine> = segs
        .groups
        .iter()
        .map(|(g, s)| SegmentLine {
            segment: *g,
            members: s.members,
            share_bp: s.members * 10_000 / total,
            high_churn: s.high_churn,
            ltv_minor: s.ltv_minor,
            redemption_rate_bp: (s.allocated > 0).then(|| s.redeemed * 10_000 / s.allocated),
        })
        .collect();
    lines.sort_by(|a, b| b.members.cmp(&a.members).then(a.segment.cmp(&b.segment)));
    lines
}

#[allow(clippy::float_arithmetic)] // Brier scores shown as integers ×10,000
fn models(segs: &Segments, model: &Model) -> Models {
    Models {
        segments: segs.method,
        propensity: model.method,
        propensity_fallback: model.fallback_reason.clone(),
        propensity_samples: model.samples,
        brier_x10000: model.quality.as_ref().map(|q| {
            (
                (q.brier * 10_000.0).round() as u32,
                (q.brier_base_rate * 10_000.0).round() as u32,
            )
        }),
    }
}

#[allow(clippy::float_arithmetic)] // propensities back from basis points
fn split(
    proposals: &[Proposal],
    budget_minor: u64,
    req: &AdviseRequest,
) -> Result<Split, IntelError> {
    let candidates: Vec<Candidate> = proposals
        .iter()
        .map(|p| {
            let g = &p.grounding;
            let per = g
                .expected_cost_minor
                .checked_div(g.expected_redemptions)
                .unwrap_or(0);
            Candidate {
                segment: format!("{} ({})", p.segment.name(), p.id),
                members: g.members,
                propensity: f64::from(g.propensity_bp) / 10_000.0,
                discount_minor: per,
                order_minor: u64::try_from(g.average_order_minor).unwrap_or(0),
            }
        })
        .collect();
    let limits = Limits {
        budget_minor,
        stock: None,
        max_share_bps: 10_000,
        margin_bps: req.margin_bps,
        objective: req.objective,
    };
    budget::split(&candidates, &limits)
}

/// [`advise`], then the operator's language model (if one is configured) may reword and
/// re-rank the proposals ([`super::llm`]): ids, specs and figures stay the advisor's; on
/// any failure the deterministic advice answers, and [`Advice::model`] says what happened.
pub async fn advise_reviewed(
    req: &AdviseRequest,
    inputs: &Inputs,
    model: Option<&llm::ModelConfig>,
) -> Result<Advice, IntelError> {
    let mut advice = advise(req, inputs)?;
    let Some(cfg) = model else {
        return Ok(advice);
    };
    advice.model.configured = true;
    let suggestions: Vec<llm::Suggestion> = advice.proposals.iter().map(suggestion).collect();
    let context = format!(
        "Coupon advisor for org {} at block height {}: {} pools reviewed, {} member segments.",
        advice.org,
        advice.stamp.height,
        advice.pools.len(),
        advice.segments.len()
    );
    match llm::review(cfg, &context, &suggestions).await {
        Ok(reviewed) => {
            let rewrites = llm::apply(&suggestions, &reviewed);
            let mut by_id: BTreeMap<String, Proposal> = std::mem::take(&mut advice.proposals)
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
            for r in rewrites {
                if let Some(mut p) = by_id.remove(&r.id) {
                    p.title = r.title;
                    p.rationale = r.rationale;
                    advice.proposals.push(p);
                }
            }
            advice.proposals.extend(by_id.into_values());
            advice.model.applied = true;
            advice.model.notes = reviewed.dropped;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the advisor's language model failed: answering without it");
            advice.model.notes.push(e.to_string());
        }
    }
    Ok(advice)
}

/// A proposal as the language model sees it, with every figure it may quote.
fn suggestion(p: &Proposal) -> llm::Suggestion {
    let g = &p.grounding;
    let facts = [
        ("members", g.members.to_string()),
        ("covered", g.covered.to_string()),
        ("propensity_bp", g.propensity_bp.to_string()),
        ("average_order_minor", g.average_order_minor.to_string()),
        ("expected_redemptions", g.expected_redemptions.to_string()),
        ("expected_cost_minor", g.expected_cost_minor.to_string()),
        ("expected_net_minor", g.expected_net_minor.to_string()),
        ("valid_days", proposals::VALID_DAYS.to_string()),
    ];
    llm::Suggestion {
        id: p.id.clone(),
        title: p.title.clone(),
        rationale: p.rationale.clone(),
        facts: facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// Most attempts [`gather`] makes to read everything at one analytics position while the
/// ingester moves it.
const GATHER_ATTEMPTS: usize = 5;

/// Reads what [`advise`] needs from the analytics store and the chain, at one analytics
/// position.
pub fn gather(
    analytics: &Analytics,
    store: &Store,
    req: &AdviseRequest,
) -> Result<Inputs, IntelError> {
    req.validate()?;
    for _ in 0..GATHER_ATTEMPTS {
        let members = analytics.member_data(&req.org)?;
        let at = members.at;
        let stamp = crate::analytics::http::stamp(store, &at)
            .map_err(|e| IntelError::Analytics(AnalyticsError::Invalid(e.to_string())))?;
        let (cur_at, current) = kpis(analytics, req, stamp.time_ms, 0)?;
        let (prev_at, previous) = kpis(analytics, req, stamp.time_ms, 1)?;
        if cur_at != at || prev_at != at {
            continue;
        }
        let pools = org_pools(store, &req.org, at.height)?;
        return Ok(Inputs {
            stamp,
            pools,
            current,
            previous,
            members,
        });
    }
    Err(IntelError::Analytics(AnalyticsError::Invalid(format!(
        "the analytics store moved during {GATHER_ATTEMPTS} reads: try again"
    ))))
}

/// KPI rows per pool of the period `back` periods before the one ending at the hour
/// of `as_of_ms`.
fn kpis(
    analytics: &Analytics,
    req: &AdviseRequest,
    as_of_ms: u64,
    back: u64,
) -> Result<(crate::analytics::schema::Position, Vec<KpiRow>), IntelError> {
    const HOUR_MS: u64 = 3_600_000;
    let len = u64::from(req.period_days) * DAY_MS;
    let to = (as_of_ms / HOUR_MS + 1) * HOUR_MS - back * len;
    let from = to.saturating_sub(len);
    let params = AnalyticsParams {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        org: Some(req.org.clone()),
        group_by: Some("pool".into()),
        ..AnalyticsParams::default()
    };
    let request = Request::parse(&params)?;
    Ok(analytics.kpi_rows(&request, &Scope::Org(req.org.clone()))?)
}

fn org_pools(store: &Store, org: &str, height: u64) -> Result<Vec<PoolRecord>, IntelError> {
    let org = OrgId::new(org.to_string()).map_err(|e| IntelError::Invalid(format!("org: {e}")))?;
    let mut pools = Vec::new();
    let ids = store
        .pools_of(&org)
        .map_err(|e| IntelError::Analytics(AnalyticsError::Storage(e)))?;
    for id in ids {
        let value = store
            .get(&StateKey::Pool(id))
            .map_err(|e| IntelError::Analytics(AnalyticsError::State(e)))?;
        if let Some(StateValue::Pool(p)) = value
            && p.created_at <= height
        {
            pools.push(p);
        }
    }
    Ok(pools)
}

#[cfg(test)]
mod tests;
