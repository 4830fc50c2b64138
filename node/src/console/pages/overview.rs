//! `GET /console`: the overview. KPIs of the org (redeemed, discount given, redemption
//! rate, partner redemptions) for today, 7 and 30 days with 30-day sparklines, and the
//! latest redemptions, which the page's script keeps live from `/console/feed`.

use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, charts};
use super::Layout;
use super::feed::{self, FeedItem};
use crate::analytics::query::{Period, Request, Scope};
use crate::analytics::report::KpiRow;
use crate::node::now_ms;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// Days the overview covers.
pub const DAYS: u64 = 30;
/// Redemptions listed on the page.
pub const LATEST: usize = 15;

/// Daily sums of one day.
#[derive(Clone, Debug, Default)]
pub(super) struct Day {
    pub(super) redeemed: u64,
    pub(super) allocated: u64,
    pub(super) partner: u64,
    /// Net discount per currency.
    pub(super) discount: BTreeMap<String, i64>,
}

impl Day {
    fn add(&mut self, row: &KpiRow) {
        self.redeemed += row.redeemed;
        self.allocated += row.allocated;
        self.partner += row.partner_redemptions;
        for m in &row.money {
            *self.discount.entry(m.currency.clone()).or_default() += m.net_discount_minor;
        }
    }
}

/// `DAYS` days ending today (UTC), oldest first: (date, start ms); and the range end, the
/// end of today: a range of whole days is read from the daily rollups, not the hourly one
/// (at 1,000,000 tokens that took the overview from ~170 ms to a few ms).
pub(super) fn days(now: u64, count: u64) -> (Vec<(String, u64)>, u64) {
    let today = now - now % DAY_MS;
    let first = today.saturating_sub((count - 1) * DAY_MS);
    let list = (0..count)
        .map(|i| first + i * DAY_MS)
        .map(|ms| (view::date(ms), ms))
        .collect();
    (list, today + DAY_MS)
}

/// Daily KPI sums of `filters` over the last `count` days, oldest first, and the height.
pub(super) fn daily(
    console: &Console,
    filters: Vec<(crate::analytics::query::Dim, String)>,
    count: u64,
) -> Result<(Vec<(String, Day)>, u64), PageError> {
    let analytics = console.analytics.as_ref().ok_or_else(|| {
        PageError::Internal("the analytics store is not enabled on this node".into())
    })?;
    let (list, to) = days(now_ms(), count);
    let req = Request {
        from_ms: list.first().map(|(_, ms)| *ms),
        to_ms: Some(to),
        filters,
        group_by: Vec::new(),
        period: Period::Day,
        limit: crate::analytics::query::MAX_LISTING,
        after: None,
    };
    let scope = Scope::Org(console.org.to_string());
    let (at, rows) = analytics.kpi_rows(&req, &scope)?;
    let mut by_day: BTreeMap<String, Day> = BTreeMap::new();
    for row in &rows {
        if let Some(b) = &row.bucket {
            by_day.entry(b.clone()).or_default().add(row);
        }
    }
    let out = list
        .into_iter()
        .map(|(d, _)| {
            let sums = by_day.remove(&d).unwrap_or_default();
            (d, sums)
        })
        .collect();
    Ok((out, at.height))
}

/// One KPI card: its values for today, 7 and 30 days, and its sparkline.
#[derive(Debug, Serialize)]
struct Kpi {
    label: &'static str,
    today: String,
    week: String,
    month: String,
    chart: String,
}

fn window(days: &[(String, Day)], n: usize) -> Day {
    let mut sum = Day::default();
    for (_, d) in &days[days.len().saturating_sub(n)..] {
        sum.redeemed += d.redeemed;
        sum.allocated += d.allocated;
        sum.partner += d.partner;
        for (c, v) in &d.discount {
            *sum.discount.entry(c.clone()).or_default() += v;
        }
    }
    sum
}

fn discount_text(d: &Day) -> String {
    if d.discount.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = d.discount.iter().map(|(c, v)| view::money(*v, c)).collect();
    parts.join(" + ")
}

fn kpi(
    label: &'static str,
    days: &[(String, Day)],
    text: impl Fn(&Day) -> String,
    series: impl Fn(&Day) -> u64,
) -> Result<Kpi, PageError> {
    let values: Vec<u64> = days.iter().map(|(_, d)| series(d)).collect();
    Ok(Kpi {
        label,
        today: text(&window(days, 1)),
        week: text(&window(days, 7)),
        month: text(&window(days, 30)),
        chart: charts::sparkline(&values, 160, 36).map_err(PageError::Internal)?,
    })
}

fn kpis(days: &[(String, Day)]) -> Result<Vec<Kpi>, PageError> {
    // The sparkline of discounts follows the currency with the most discount.
    let main = window(days, days.len())
        .discount
        .into_iter()
        .max_by_key(|(_, v)| *v)
        .map(|(c, _)| c);
    Ok(vec![
        kpi("Redeemed", days, |d| d.redeemed.to_string(), |d| d.redeemed)?,
        kpi("Discount given", days, discount_text, |d| {
            main.as_ref()
                .and_then(|c| d.discount.get(c))
                .map(|v| (*v).max(0) as u64)
                .unwrap_or(0)
        })?,
        kpi(
            "Redemption rate",
            days,
            |d| view::rate_of(d.redeemed, d.allocated),
            |d| {
                crate::analytics::report::Rate::of(d.redeemed, d.allocated)
                    .bp
                    .unwrap_or(0)
            },
        )?,
        kpi(
            "Partner redemptions",
            days,
            |d| d.partner.to_string(),
            |d| d.partner,
        )?,
    ])
}

/// Alerts the overview lists (the alerts page has more).
const OVERVIEW_ALERTS: usize = 5;

#[derive(Debug, Serialize)]
struct OverviewPage {
    layout: Layout,
    kpis: Vec<Kpi>,
    latest: Vec<FeedItem>,
    cursor: String,
    first_day: String,
    alerts: Vec<super::alerts::AlertView>,
}

/// `GET /console`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
) -> Result<Response, PageError> {
    let c = console.clone();
    tokio::task::spawn_blocking(move || render(&c, &staff))
        .await
        .map_err(|e| PageError::Internal(format!("overview: {e}")))?
}

fn render(console: &Console, staff: &Staff) -> Result<Response, PageError> {
    let log_size = console.node.events_tip().get();
    let (days, height) = daily(console, Vec::new(), DAYS)?;
    let (latest, cursor) = feed::recent(console.node.store(), &console.org, log_size, LATEST)?;
    let page = OverviewPage {
        layout: Layout::new(console, staff, "overview", "Overview".into(), height),
        kpis: kpis(&days)?,
        latest,
        cursor: cursor.map(|c| c.to_string()).unwrap_or_default(),
        first_day: days.first().map(|(d, _)| d.clone()).unwrap_or_default(),
        alerts: console
            .alerts()
            .store()
            .recent(OVERVIEW_ALERTS)?
            .iter()
            .map(super::alerts::AlertView::of)
            .collect(),
    };
    view::page("overview.html", &page, height)
}
