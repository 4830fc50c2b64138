//! `GET /console/pools/{id}`: one of the org's pools. Its spec, the funnel issued →
//! allocated → redeemed, redemptions per day (30 days), top stores and channels, budget
//! burn and partner redemptions; for writers, the lifecycle buttons the pool's status
//! allows (`POST /console/pools/{id}/transition`, a signed tx).

use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, charts, write};
use super::Layout;
use super::overview::daily;
use super::pools::kind_name;
use crate::analytics::query::{Dim, Period, Request, Scope};
use crate::analytics::report::{BudgetRow, KpiRow, PartnerRow};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use couponcactus_chaincode::ids::PoolId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{TransitionPoolTx, TxKind};
use couponcactus_chaincode::types::{Discount, PoolAction, PoolKind, PoolRecord, PoolStatus};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Stores and channels listed.
pub const TOP: usize = 10;

#[derive(Debug, Serialize)]
struct Field {
    label: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct Step {
    label: &'static str,
    count: u64,
    /// Share of the previous step (or of the cap), as text.
    share: String,
    /// The same share in percent, 0 to 100, for the `<progress>` bar.
    percent: u64,
}

#[derive(Debug, Serialize)]
struct Ranked {
    name: String,
    redeemed: u64,
    discount: String,
}

#[derive(Debug, Serialize)]
struct Budget {
    kind: String,
    total_cap: u64,
    used: u64,
    burn: String,
    percent: u64,
}

#[derive(Debug, Serialize)]
struct Partner {
    pool_org: String,
    redeeming_org: String,
    redemptions: u64,
    discount: String,
}

#[derive(Debug, Serialize)]
struct PoolPage {
    layout: Layout,
    id: String,
    name: String,
    status: &'static str,
    spec: Vec<Field>,
    funnel: Vec<Step>,
    per_day: String,
    per_day_total: u64,
    first_day: String,
    stores: Vec<Ranked>,
    channels: Vec<Ranked>,
    budget: Vec<Budget>,
    partners: Vec<Partner>,
    /// Lifecycle buttons the user may press: (action, label).
    actions: Vec<(&'static str, &'static str)>,
    /// Why there are no buttons for this user (read-only role or console).
    read_only: Option<String>,
    /// What the last write did (`?done=`).
    notice: Option<&'static str>,
    /// Whether the user may issue codes here (unique codes, not archived, a data key),
    /// and how many one request may issue.
    issue_max: Option<usize>,
}

/// The lifecycle actions: (form value, button label, action).
const ACTIONS: [(&str, &str, PoolAction); 4] = [
    ("activate", "Activate", PoolAction::Activate),
    ("pause", "Pause", PoolAction::Pause),
    ("resume", "Resume", PoolAction::Resume),
    ("archive", "Archive", PoolAction::Archive),
];

/// The buttons a pool in `status` offers.
fn actions(status: PoolStatus) -> Vec<(&'static str, &'static str)> {
    ACTIONS
        .iter()
        .filter(|(_, _, a)| a.apply(status).is_some())
        .map(|&(value, label, _)| (value, label))
        .collect()
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "created" => Some("Pool created in draft."),
        "activate" => Some("Pool activated."),
        "pause" => Some("Pool paused."),
        "resume" => Some("Pool resumed."),
        "archive" => Some("Pool archived."),
        _ => None,
    }
}

fn list<T: ToString>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        return empty.into();
    }
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn spec_fields(p: &PoolRecord) -> Vec<Field> {
    let s = &p.spec;
    let currency = s.currency.to_string();
    let amount = |v: u64| view::money(i64::try_from(v).unwrap_or(i64::MAX), &currency);
    let discount = match s.discount {
        Discount::Percent { bps } => format!("{}.{:02} % off", bps / 100, bps % 100),
        Discount::Fixed { amount_minor } => format!("{} off", amount(amount_minor)),
    };
    let f = |label, value| Field { label, value };
    vec![
        f("Kind", kind_name(s.kind).into()),
        f("Currency", currency.clone()),
        f("Discount", discount),
        f(
            "Largest discount",
            s.max_discount_minor
                .map(amount)
                .unwrap_or_else(|| "no limit".into()),
        ),
        f("Minimum spend", amount(s.min_spend_minor)),
        f("Valid from", view::time(s.valid_from_ms)),
        f("Valid until", view::time(s.valid_until_ms)),
        f("Total cap", s.total_cap.to_string()),
        f("Per member cap", s.per_member_cap.to_string()),
        f("Channels", list(&s.allowed_channels, "all")),
        f("Stores", list(&s.allowed_stores, "all")),
        f("Excluded categories", list(&s.excluded_categories, "none")),
        f(
            "Stacking group",
            s.stacking_group.clone().unwrap_or_else(|| "none".into()),
        ),
        f("Partner orgs", list(&s.partner_orgs, "none")),
        f(
            "Transferable",
            if s.transferable { "yes" } else { "no" }.into(),
        ),
        f("Created at height", p.created_at.to_string()),
    ]
}

fn step(label: &'static str, count: u64, of: u64) -> Step {
    let bp = crate::analytics::report::Rate::of(count, of).bp;
    Step {
        label,
        count,
        share: view::rate_of(count, of),
        percent: bp.map(|b| (b / 100).min(100)).unwrap_or(0),
    }
}

fn funnel(p: &PoolRecord) -> Vec<Step> {
    match p.spec.kind {
        PoolKind::UniqueCodes => vec![
            step("Issued", p.issued, p.spec.total_cap),
            step("Allocated", p.allocated, p.issued),
            step("Redeemed", p.redeemed, p.allocated),
        ],
        PoolKind::SharedCode => vec![step("Redeemed", p.redeemed, p.spec.total_cap)],
    }
}

fn ranked(rows: &[KpiRow], dim: Dim) -> Vec<Ranked> {
    let mut out: Vec<(u64, Ranked)> = rows
        .iter()
        .map(|r| {
            let discount: Vec<String> = r
                .money
                .iter()
                .map(|m| view::money(m.net_discount_minor, &m.currency))
                .collect();
            let name = r.group.get(dim.name()).cloned().unwrap_or_default();
            (
                r.redeemed,
                Ranked {
                    name,
                    redeemed: r.redeemed,
                    discount: discount.join(" + "),
                },
            )
        })
        .filter(|(n, _)| *n > 0)
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
    out.into_iter().take(TOP).map(|(_, r)| r).collect()
}

fn budget(rows: Vec<BudgetRow>) -> Vec<Budget> {
    rows.into_iter()
        .map(|b| Budget {
            kind: b.kind.replace('_', " "),
            total_cap: b.total_cap,
            used: b.used,
            burn: view::rate(&b.burn),
            percent: b.burn.bp.map(|x| (x / 100).min(100)).unwrap_or(0),
        })
        .collect()
}

fn partners(rows: Vec<PartnerRow>) -> Vec<Partner> {
    rows.into_iter()
        .map(|p| Partner {
            discount: view::money(p.discount_minor, &p.currency),
            pool_org: p.pool_org,
            redeeming_org: p.redeeming_org,
            redemptions: p.redemptions,
        })
        .collect()
}

/// Whole-life KPIs of `pool` grouped by `group_by`.
fn totals(
    console: &Console,
    pool: &PoolId,
    group_by: Vec<Dim>,
) -> Result<crate::analytics::query::KpiData, PageError> {
    let analytics = console.analytics.as_ref().ok_or_else(|| {
        PageError::Internal("the analytics store is not enabled on this node".into())
    })?;
    let req = Request {
        from_ms: None,
        to_ms: None,
        filters: vec![(Dim::Pool, pool.to_string())],
        group_by,
        period: Period::Total,
        limit: crate::analytics::query::MAX_LISTING,
        after: None,
    };
    let scope = Scope::Org(console.org.to_string());
    Ok(analytics.kpis(&req, &scope, console.node.store())?.1)
}

/// Whole-life KPI rows of `pool` per `dim` (no partner or budget rows: those are
/// [`totals`]'s, and the partner query walks every row the org signed).
fn totals_by(console: &Console, pool: &PoolId, dim: Dim) -> Result<Vec<KpiRow>, PageError> {
    let analytics = console.analytics.as_ref().ok_or_else(|| {
        PageError::Internal("the analytics store is not enabled on this node".into())
    })?;
    let req = Request {
        from_ms: None,
        to_ms: None,
        filters: vec![(Dim::Pool, pool.to_string())],
        group_by: vec![dim],
        period: Period::Total,
        limit: crate::analytics::query::MAX_LISTING,
        after: None,
    };
    let scope = Scope::Org(console.org.to_string());
    Ok(analytics.kpi_rows(&req, &scope)?.1)
}

pub(super) fn the_pool(console: &Console, id: &str) -> Result<PoolRecord, PageError> {
    let missing = || {
        PageError::NotFound(format!(
            "the org has no pool {:?}",
            id.chars().take(80).collect::<String>()
        ))
    };
    let id: PoolId = id.parse().map_err(|_| missing())?;
    match console.node.store().get(&StateKey::Pool(id))? {
        Some(StateValue::Pool(p)) if p.owner == console.org => Ok(p),
        _ => Err(missing()),
    }
}

fn render(
    console: &Console,
    staff: &Staff,
    id: &str,
    done: Option<&str>,
) -> Result<Response, PageError> {
    let pool = the_pool(console, id)?;
    let (days, height) = daily(console, vec![(Dim::Pool, pool.id.to_string())], 30)?;
    let bars: Vec<(String, u64)> = days
        .iter()
        .map(|(d, sums)| (d.get(5..).unwrap_or(d).to_string(), sums.redeemed))
        .collect();
    let (_, partner_rows, budget_rows) = totals(console, &pool.id, Vec::new())?;
    let store_rows = totals_by(console, &pool.id, Dim::Store)?;
    let channel_rows = totals_by(console, &pool.id, Dim::Channel)?;
    let read_only = write::may_write(console, staff)
        .err()
        .map(|e| e.to_string());
    let page = PoolPage {
        layout: Layout::new(console, staff, "pools", pool.spec.name.clone(), height),
        id: pool.id.to_string(),
        name: pool.spec.name.clone(),
        status: pool.status.name(),
        spec: spec_fields(&pool),
        funnel: funnel(&pool),
        per_day: charts::bars(&bars, 960, 260).map_err(PageError::Internal)?,
        per_day_total: bars.iter().map(|(_, v)| v).sum(),
        first_day: days.first().map(|(d, _)| d.clone()).unwrap_or_default(),
        stores: ranked(&store_rows, Dim::Store),
        channels: ranked(&channel_rows, Dim::Channel),
        budget: budget(budget_rows),
        partners: partners(partner_rows),
        issue_max: (read_only.is_none()
            && console.data_key().is_some()
            && pool.spec.kind == PoolKind::UniqueCodes
            && pool.status != PoolStatus::Archived)
            .then_some(super::codes::MAX_CODES),
        read_only,
        actions: actions(pool.status),
        notice: notice(done),
    };
    view::page("pool.html", &page, height)
}

/// `GET /console/pools/{id}`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<super::Done>,
) -> Result<Response, PageError> {
    let c = console.clone();
    tokio::task::spawn_blocking(move || render(&c, &staff, &id, q.done.as_deref()))
        .await
        .map_err(|e| PageError::Internal(format!("pool: {e}")))?
}

/// The lifecycle form.
#[derive(Debug, Deserialize)]
pub(super) struct Transition {
    action: String,
}

/// `POST /console/pools/{id}/transition`: activate, pause, resume or archive the pool
/// with a signed tx; the ledger refuses an illegal transition (shown as it worded it).
pub(super) async fn transition(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    CheckedForm(staff, form): CheckedForm<Transition>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let pool = the_pool(&console, &id)?;
    let &(value, _, action) = ACTIONS
        .iter()
        .find(|(v, _, _)| *v == form.action)
        .ok_or_else(|| {
            PageError::BadRequest(format!(
                "unknown action {:?}: activate, pause, resume or archive",
                form.action.chars().take(40).collect::<String>()
            ))
        })?;
    let kind = TxKind::TransitionPool(TransitionPoolTx {
        pool: pool.id.clone(),
        action,
    });
    write::submit(&console, &staff, kind).await?;
    Ok(super::pool_new::see_other(&format!(
        "/console/pools/{}?done={value}",
        pool.id
    )))
}
