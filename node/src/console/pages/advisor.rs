//! `GET /console/advisor`: the coupon advisor ([`crate::intelligence::advisor`]) for the
//! node's org, at the chain's current analytics position: the stamp it was computed at,
//! every pool's review (redemption rate, discount cost, average order, growth, BCG
//! quadrant and action), the member segments, how the models answered, 3–5 proposed
//! offers (each with an **Adopt as draft** link to the new-pool form, prefilled) and,
//! with a budget, the split of it across the proposals.
//!
//! Query: `period` (days reviewed, 7–365, default 30) and `budget` (an amount in the
//! org's currency, `500.00`, read by the client library's amount parser); a bad value
//! shows the page with the reason (400). Every staff role reads the page; only writers
//! get the adopt links (creating a pool is a write).
//!
//! The advice is made in one place, [`advice_for`]: a reviewer that rewords and re-ranks
//! the proposals with a language model replaces that call, nothing else.

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use crate::intelligence::IntelError;
use crate::intelligence::advisor::{self, Advice, AdviseRequest};
use crate::intelligence::budget::Method as SplitMethod;
use crate::intelligence::propensity::PropensityMethod;
use crate::intelligence::segments::Method as SegmentMethod;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{Currency, Discount, PoolKind};
use couponcactus_client::amounts::{format_minor, parse_amount};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The period reviewed when none is asked for, days.
pub const DEFAULT_PERIOD_DAYS: u32 = 30;

/// Query of `GET /console/advisor` (and the `period` of an adopt link).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct AdvisorQuery {
    pub(super) period: String,
    pub(super) budget: String,
}

/// The advice for `req`: gathered from the analytics store and the chain (blocking I/O,
/// on a blocking thread) and computed at one height. **The one call site** that makes
/// advice for the console: a language-model reviewing version goes here.
pub(super) async fn advice_for(
    console: &Arc<Console>,
    req: AdviseRequest,
) -> Result<Advice, PageError> {
    let analytics = console.analytics.clone().ok_or_else(|| {
        PageError::Internal("the analytics store is not enabled on this node".into())
    })?;
    let store = console.node.store().clone();
    let gathered = tokio::task::spawn_blocking(move || {
        let inputs = advisor::gather(&analytics, &store, &req)?;
        Ok::<_, IntelError>((req, inputs))
    })
    .await
    .map_err(|e| PageError::Internal(format!("the advisor stopped: {e}")))?;
    let advice = match gathered {
        Ok((req, inputs)) => advisor::advise_reviewed(&req, &inputs, console.advisor_model()).await,
        Err(e) => Err(e),
    };
    advice.map_err(|e| match e {
        IntelError::Invalid(m) => PageError::BadRequest(m),
        other => PageError::Internal(format!("advisor: {other}")),
    })
}

/// The period of a query: days, default [`DEFAULT_PERIOD_DAYS`]; the range is checked by
/// [`AdviseRequest::validate`].
pub(super) fn period_of(text: &str) -> Result<u32, PageError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(DEFAULT_PERIOD_DAYS);
    }
    let days: u32 = t.parse().map_err(|_| {
        PageError::BadRequest(format!(
            "period must be a whole number of days from 7 to 365, not {:?}",
            t.chars().take(40).collect::<String>()
        ))
    })?;
    if !(7..=365).contains(&days) {
        return Err(PageError::BadRequest(format!(
            "period must be 7 to 365 days, not {days}"
        )));
    }
    Ok(days)
}

/// The org's currency as the advisor picks it: the most common among its pools (ties: the
/// smaller code); `None` without pools.
fn org_currency(console: &Console) -> Result<Option<Currency>, PageError> {
    let store = console.node.store();
    let mut n: BTreeMap<Currency, usize> = BTreeMap::new();
    for id in store.pools_of(&console.org)? {
        if let Some(StateValue::Pool(p)) = store.get(&StateKey::Pool(id))? {
            *n.entry(p.spec.currency).or_default() += 1;
        }
    }
    Ok(n.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(c, _)| c))
}

/// The budget of a query in the org's currency's minor units (`None`: none asked for).
fn budget_of(text: &str, currency: Option<Currency>) -> Result<Option<u64>, PageError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let Some(currency) = currency else {
        return Err(PageError::BadRequest(
            "a budget needs the org's currency, and the org has no pools yet".into(),
        ));
    };
    let minor =
        parse_amount(t, currency).map_err(|e| PageError::BadRequest(format!("budget: {e}")))?;
    if minor == 0 {
        return Err(PageError::BadRequest(
            "budget must be above 0 (leave it empty for no split)".into(),
        ));
    }
    Ok(Some(minor))
}

/// `bp` basis points as `12.34 %`.
fn percent(bp: i64) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let a = bp.unsigned_abs();
    format!("{sign}{}.{:02} %", a / 100, a % 100)
}

fn opt_percent(bp: Option<i64>) -> String {
    bp.map_or_else(|| "—".into(), percent)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A pool suggested id for an adopted proposal: the slug of its name's purpose and
/// segment (`win-back-at-risk`), the height, and the incentive when two proposals of the
/// advice share the rest.
pub(super) fn suggested_id(advice: &Advice, proposal: &advisor::proposals::Proposal) -> String {
    let base = |p: &advisor::proposals::Proposal| {
        let head = p.spec.name.split(" — ").next().unwrap_or(&p.spec.name);
        let mut slug = String::new();
        for c in head.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug: String = slug.chars().take(40).collect();
        format!("{}-{}", slug.trim_end_matches('-'), advice.stamp.height)
    };
    let id = base(proposal);
    let shared = advice.proposals.iter().filter(|p| base(p) == id).count() > 1;
    if shared {
        format!("{id}-{}", proposal.incentive.name())
    } else {
        id
    }
}

#[derive(Debug, Serialize)]
struct StampView {
    height: u64,
    block_hash: String,
    state_root: String,
    time: String,
    certified: bool,
}

#[derive(Debug, Serialize)]
struct PoolLine {
    pool: String,
    name: String,
    status: String,
    rate: String,
    allocated: u64,
    redeemed: u64,
    discount: String,
    average_order: String,
    discount_share: String,
    growth: String,
    quadrant: &'static str,
    quadrant_label: &'static str,
    action: String,
}

#[derive(Debug, Serialize)]
struct SegmentView {
    segment: String,
    members: u64,
    share: String,
    high_churn: u64,
    ltv: String,
    rate: String,
}

#[derive(Debug, Serialize)]
struct Field {
    label: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct ProposalCard {
    id: String,
    title: String,
    rationale: String,
    segment: String,
    incentive: &'static str,
    grounding: Vec<Field>,
    spec: Vec<Field>,
}

#[derive(Debug, Serialize)]
struct ShareView {
    segment: String,
    coupons: u64,
    redemptions: String,
    cost: String,
}

#[derive(Debug, Serialize)]
struct BudgetView {
    method: &'static str,
    fallback: Option<String>,
    budget: String,
    shares: Vec<ShareView>,
    coupons: u64,
    redemptions: String,
    cost: String,
}

#[derive(Debug, Serialize)]
struct AdviceView {
    stamp: StampView,
    period_days: u32,
    currency: String,
    pools: Vec<PoolLine>,
    segments: Vec<SegmentView>,
    segments_method: String,
    propensity: String,
    proposals: Vec<ProposalCard>,
    /// The period an adopt link asks for (the one asked for here, if any).
    adopt_period: Option<u32>,
    budget: Option<BudgetView>,
    model_notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AdvisorPage {
    layout: Layout,
    query: AdvisorQuery,
    error: Option<String>,
    advice: Option<AdviceView>,
    can_write: bool,
}

fn quadrant_label(q: advisor::portfolio::Quadrant) -> &'static str {
    use advisor::portfolio::Quadrant;
    match q {
        Quadrant::Star => "Star",
        Quadrant::CashCow => "Cash cow",
        Quadrant::QuestionMark => "Question mark",
        Quadrant::Dog => "Dog",
    }
}

fn group_title(name: &str) -> String {
    name.replace('_', " ")
}

/// Expected redemptions (a real number) with one decimal.
fn one_decimal(x: f64) -> String {
    format!("{x:.1}")
}

fn brier(x10000: u32) -> String {
    format!("{}.{:04}", x10000 / 10_000, x10000 % 10_000)
}

fn spec_fields(spec: &couponcactus_chaincode::types::PoolSpec) -> Vec<Field> {
    let c = spec.currency;
    let cur = c.to_string();
    let mut out = vec![
        Field {
            label: "Kind",
            value: match spec.kind {
                PoolKind::UniqueCodes => "unique codes".into(),
                PoolKind::SharedCode => "shared code".into(),
            },
        },
        Field {
            label: "Discount",
            value: match spec.discount {
                Discount::Percent { bps } => percent(i64::from(bps)) + " off",
                Discount::Fixed { amount_minor } => format_minor(amount_minor, c) + " off",
            },
        },
    ];
    if let Some(m) = spec.max_discount_minor {
        out.push(Field {
            label: "Largest discount",
            value: view::money(to_i64(m), &cur),
        });
    }
    if spec.min_spend_minor > 0 {
        out.push(Field {
            label: "Minimum spend",
            value: view::money(to_i64(spec.min_spend_minor), &cur),
        });
    }
    out.push(Field {
        label: "Valid",
        value: format!(
            "{} to {}",
            view::time(spec.valid_from_ms),
            view::time(spec.valid_until_ms)
        ),
    });
    out.push(Field {
        label: "Total cap",
        value: spec.total_cap.to_string(),
    });
    out.push(Field {
        label: "Per member",
        value: spec.per_member_cap.to_string(),
    });
    out
}

fn advice_view(advice: &Advice, query: &AdvisorQuery) -> AdviceView {
    let currency = advice
        .pools
        .first()
        .map(|p| p.currency.clone())
        .unwrap_or_default();
    let currency = advice
        .proposals
        .first()
        .map(|p| p.spec.currency.to_string())
        .unwrap_or(currency);
    let s = &advice.stamp;
    let pools = advice
        .pools
        .iter()
        .map(|p| PoolLine {
            pool: p.pool.clone(),
            name: p.name.clone(),
            status: p.status.clone(),
            rate: opt_percent(p.redemption_rate_bp.map(to_i64)),
            allocated: p.allocated,
            redeemed: p.redeemed,
            discount: view::money(p.discount_minor, &p.currency),
            average_order: p
                .average_order_minor
                .map_or_else(|| "—".into(), |m| view::money(m, &p.currency)),
            discount_share: opt_percent(p.discount_share_bp),
            growth: p.growth_bp.map_or_else(
                || {
                    if p.redeemed > 0 {
                        "new".into()
                    } else {
                        "—".into()
                    }
                },
                percent,
            ),
            quadrant: p.quadrant.name(),
            quadrant_label: quadrant_label(p.quadrant),
            action: p.action.clone(),
        })
        .collect();
    let segments = advice
        .segments
        .iter()
        .map(|l| SegmentView {
            segment: group_title(l.segment.name()),
            members: l.members,
            share: percent(to_i64(l.share_bp)),
            high_churn: l.high_churn,
            ltv: view::money(l.ltv_minor, &currency),
            rate: opt_percent(l.redemption_rate_bp.map(to_i64)),
        })
        .collect();
    let m = &advice.models;
    let segments_method = match m.segments {
        SegmentMethod::Kmeans => {
            "k-means clusters over recency, frequency and monetary scores".into()
        }
        SegmentMethod::Rfm => {
            "RFM groups (the k-means fallback: too few members, or the fit failed)".into()
        }
    };
    let propensity = match (m.propensity, m.brier_x10000) {
        (PropensityMethod::Logistic, Some((model, base))) => format!(
            "logistic regression on {} allocations: held-out Brier score {} against {} for the base rate (lower is better)",
            m.propensity_samples,
            brier(model),
            brier(base)
        ),
        (PropensityMethod::Logistic, None) => format!(
            "logistic regression on {} allocations",
            m.propensity_samples
        ),
        (PropensityMethod::Rule, _) => format!(
            "the rule ({})",
            m.propensity_fallback
                .as_deref()
                .unwrap_or("no reason given")
        ),
    };
    let proposals = advice
        .proposals
        .iter()
        .map(|p| {
            let g = &p.grounding;
            let c = p.spec.currency.to_string();
            let grounding = vec![
                Field {
                    label: "Members",
                    value: g.members.to_string(),
                },
                Field {
                    label: "Already reached",
                    value: g.covered.to_string(),
                },
                Field {
                    label: "Chance to redeem",
                    value: percent(i64::from(g.propensity_bp)),
                },
                Field {
                    label: "Average order",
                    value: view::money(g.average_order_minor, &c),
                },
                Field {
                    label: "Last visit (median)",
                    value: g
                        .median_recency_days
                        .map_or_else(|| "never".into(), |d| format!("{d} days ago")),
                },
                Field {
                    label: "Expected redemptions",
                    value: g.expected_redemptions.to_string(),
                },
                Field {
                    label: "Expected cost",
                    value: view::money(to_i64(g.expected_cost_minor), &c),
                },
                Field {
                    label: "Expected net orders",
                    value: view::money(to_i64(g.expected_net_minor), &c),
                },
            ];
            ProposalCard {
                id: p.id.clone(),
                title: p.title.clone(),
                rationale: p.rationale.clone(),
                segment: group_title(p.segment.name()),
                incentive: p.incentive.name(),
                grounding,
                spec: spec_fields(&p.spec),
            }
        })
        .collect();
    let budget = advice.budget.as_ref().map(|b| BudgetView {
        method: match b.method {
            SplitMethod::Lp => "lp",
            SplitMethod::Greedy => "greedy",
        },
        fallback: b.fallback_reason.clone(),
        budget: query.budget.trim().to_string(),
        coupons: b.shares.iter().map(|s| s.coupons).sum(),
        shares: b
            .shares
            .iter()
            .map(|s| ShareView {
                segment: group_title(&s.segment),
                coupons: s.coupons,
                redemptions: one_decimal(s.redemptions),
                cost: view::money(to_i64(s.cost_minor), &currency),
            })
            .collect(),
        redemptions: one_decimal(b.redemptions),
        cost: view::money(to_i64(b.cost_minor), &currency),
    });
    AdviceView {
        stamp: StampView {
            height: s.height,
            block_hash: s.block_hash.clone(),
            state_root: s.state_root.clone(),
            time: view::time(s.time_ms),
            certified: s.certificate.is_some(),
        },
        period_days: advice.period_days,
        currency,
        pools,
        segments,
        segments_method,
        propensity,
        proposals,
        adopt_period: (!query.period.trim().is_empty()).then_some(advice.period_days),
        budget,
        model_notes: advice.model.notes.clone(),
    }
}

/// The request a query asks for, checked.
fn request_of(console: &Console, query: &AdvisorQuery) -> Result<AdviseRequest, PageError> {
    let period_days = period_of(&query.period)?;
    let budget_minor = budget_of(&query.budget, org_currency(console)?)?;
    let req = AdviseRequest {
        period_days,
        budget_minor,
        ..AdviseRequest::new(console.org.as_str())
    };
    req.validate().map_err(|e| match e {
        IntelError::Invalid(m) => PageError::BadRequest(m),
        other => PageError::Internal(other.to_string()),
    })?;
    Ok(req)
}

/// `GET /console/advisor`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(query): Query<AdvisorQuery>,
) -> Result<Response, PageError> {
    let result = match request_of(&console, &query) {
        Ok(req) => advice_for(&console, req).await,
        Err(e) => Err(e),
    };
    let (advice, error) = match result {
        Ok(advice) => (Some(advice), None),
        Err(PageError::BadRequest(m)) => (None, Some(m)),
        Err(e) => return Err(e),
    };
    let height = match &advice {
        Some(a) => a.stamp.height,
        None => console.node.store().tip()?.height,
    };
    let failed = error.is_some();
    let page = AdvisorPage {
        layout: Layout::new(&console, &staff, "advisor", "Advisor".into(), height),
        advice: advice.as_ref().map(|a| advice_view(a, &query)),
        query,
        error,
        can_write: staff.user.role.can_write(),
    };
    let mut response = view::page("advisor.html", &page, height)?;
    if failed {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_percentages_read_and_print_exactly() {
        assert_eq!(period_of("").unwrap(), 30);
        assert_eq!(period_of(" 90 ").unwrap(), 90);
        for bad in ["6", "366", "thirty", "-7", "7.5"] {
            let e = period_of(bad).unwrap_err().to_string();
            assert!(e.starts_with("period must be"), "{bad}: {e}");
        }
        assert_eq!(percent(1_234), "12.34 %");
        assert_eq!(percent(-50), "-0.50 %");
        assert_eq!(brier(1_875), "0.1875");
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(budget_of("500.00", Some(eur)).unwrap(), Some(50_000));
        assert_eq!(budget_of("  ", Some(eur)).unwrap(), None);
        for bad in ["5.001", "-3", "lots", "0"] {
            let e = budget_of(bad, Some(eur)).unwrap_err().to_string();
            assert!(e.contains("budget"), "{bad}: {e}");
        }
        assert!(budget_of("5", None).is_err());
    }
}
