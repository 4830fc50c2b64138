//! `GET /console/pools`: the org's pools in status tabs (all, draft, active, paused,
//! archived) with their counts.

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use axum::extract::{Query, State};
use axum::response::Response;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{PoolKind, PoolRecord, PoolStatus};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Most pools listed on one page.
pub const MAX_LISTED: usize = 500;
/// The tabs, in order.
const TABS: [Option<PoolStatus>; 5] = [
    None,
    Some(PoolStatus::Draft),
    Some(PoolStatus::Active),
    Some(PoolStatus::Paused),
    Some(PoolStatus::Archived),
];

/// Query of `GET /console/pools`.
#[derive(Debug, Deserialize)]
pub(super) struct PoolsQuery {
    status: Option<String>,
}

#[derive(Debug, Serialize)]
struct Tab {
    label: &'static str,
    href: String,
    count: usize,
    current: bool,
}

/// One pool's row.
#[derive(Debug, Serialize)]
pub(super) struct PoolRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) status: &'static str,
    pub(super) kind: &'static str,
    pub(super) issued: u64,
    pub(super) allocated: u64,
    pub(super) redeemed: u64,
    pub(super) valid_until: String,
}

/// A pool kind's label.
pub(super) fn kind_name(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::UniqueCodes => "unique codes",
        PoolKind::SharedCode => "shared code",
    }
}

impl PoolRow {
    pub(super) fn of(p: &PoolRecord) -> PoolRow {
        PoolRow {
            id: p.id.to_string(),
            name: p.spec.name.clone(),
            status: p.status.name(),
            kind: kind_name(p.spec.kind),
            issued: p.issued,
            allocated: p.allocated,
            redeemed: p.redeemed,
            valid_until: view::date(p.spec.valid_until_ms),
        }
    }
}

#[derive(Debug, Serialize)]
struct PoolsPage {
    layout: Layout,
    tabs: Vec<Tab>,
    pools: Vec<PoolRow>,
    shown: usize,
    total: usize,
    status: String,
    /// Whether the user may create pools here (a writer role, a console key).
    can_create: bool,
}

/// The org's pools (every one: the counts need them all).
pub(super) fn org_pools(console: &Console) -> Result<Vec<PoolRecord>, PageError> {
    let store = console.node.store();
    let mut pools = Vec::new();
    for id in store.pools_of(&console.org)? {
        if let Some(StateValue::Pool(p)) = store.get(&StateKey::Pool(id))? {
            pools.push(p);
        }
    }
    Ok(pools)
}

fn parse_status(text: Option<&str>) -> Result<Option<PoolStatus>, PageError> {
    match text.map(str::trim) {
        None | Some("") | Some("all") => Ok(None),
        Some(t) => TABS
            .into_iter()
            .flatten()
            .find(|s| s.name() == t)
            .map(Some)
            .ok_or_else(|| {
                PageError::BadRequest(format!(
                    "unknown status {:?}: use draft, active, paused or archived",
                    t.chars().take(40).collect::<String>()
                ))
            }),
    }
}

fn render(
    console: &Console,
    staff: &Staff,
    status: Option<PoolStatus>,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let pools = org_pools(console)?;
    let tabs = TABS
        .into_iter()
        .map(|tab| Tab {
            label: tab.map(|s| s.name()).unwrap_or("all"),
            href: match tab {
                None => "/console/pools".into(),
                Some(s) => format!("/console/pools?status={}", s.name()),
            },
            count: pools
                .iter()
                .filter(|p| tab.is_none_or(|s| p.status == s))
                .count(),
            current: tab == status,
        })
        .collect();
    let mut selected: Vec<&PoolRecord> = pools
        .iter()
        .filter(|p| status.is_none_or(|s| p.status == s))
        .collect();
    selected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let total = selected.len();
    let rows: Vec<PoolRow> = selected
        .into_iter()
        .take(MAX_LISTED)
        .map(PoolRow::of)
        .collect();
    let page = PoolsPage {
        layout: Layout::new(console, staff, "pools", "Pools".into(), height),
        tabs,
        shown: rows.len(),
        pools: rows,
        total,
        status: status.map(|s| s.name()).unwrap_or("all").into(),
        can_create: super::super::write::may_write(console, staff).is_ok(),
    };
    view::page("pools.html", &page, height)
}

/// `GET /console/pools`.
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(query): Query<PoolsQuery>,
) -> Result<Response, PageError> {
    let status = parse_status(query.status.as_deref())?;
    let c = console.clone();
    tokio::task::spawn_blocking(move || render(&c, &staff, status))
        .await
        .map_err(|e| PageError::Internal(format!("pools: {e}")))?
}
