//! The console's pages, one module each, and the layout they share ([`Layout`]: the
//! signed-in user, the CSRF token of the logout form, the nav, the chain height).
//!
//! The nav lists only pages that exist; later phases add theirs here and in [`NAV`].

mod advisor;
mod alerts;
mod audit;
mod balances;
mod bulk;
mod codes;
mod feed;
mod fraud;
mod login;
mod member;
mod overview;
mod pool;
mod pool_new;
mod pools;
mod redemptions;
mod token;
pub(crate) use token::verified as token_verified;

use super::session::Staff;
use super::{Console, assets};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde::Serialize;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// The nav: (key, label, path).
const NAV: &[(&str, &str, &str)] = &[
    ("overview", "Overview", "/console"),
    ("pools", "Pools", "/console/pools"),
    ("redemptions", "Redemptions", "/console/redemptions"),
    ("members", "Members", "/console/members"),
    ("balances", "Balances", "/console/balances"),
    ("bulk", "Bulk grant/revoke", "/console/bulk"),
    ("alerts", "Alerts", "/console/alerts"),
    ("fraud", "Fraud", "/console/fraud"),
    ("advisor", "Advisor", "/console/advisor"),
    ("audit", "Audit", "/console/audit"),
];

/// Every route of the console, with its state.
pub fn routes(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(overview::show))
        .route("/console/", get(overview::show))
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route("/console/feed", get(feed::stream))
        .route("/console/pools", get(pools::list))
        .route(
            "/console/pools/new",
            get(pool_new::form).post(pool_new::submit),
        )
        .route("/console/pools/{id}", get(pool::show))
        .route("/console/pools/{id}/transition", post(pool::transition))
        .route("/console/pools/{id}/codes", post(codes::issue))
        .route("/console/bulk", get(bulk::form::<bulk::Revoke>))
        .route("/console/bulk/preview", post(bulk::preview::<bulk::Revoke>))
        .route("/console/bulk/confirm", post(bulk::confirm::<bulk::Revoke>))
        .route("/console/bulk/grant", get(bulk::form::<bulk::Grant>))
        .route(
            "/console/bulk/grant/preview",
            post(bulk::preview::<bulk::Grant>),
        )
        .route(
            "/console/bulk/grant/confirm",
            post(bulk::confirm::<bulk::Grant>),
        )
        .route("/console/redemptions", get(redemptions::list))
        .route("/console/redemptions/search", post(redemptions::search))
        .route("/console/redemptions.csv", get(redemptions::csv_export))
        .route("/console/redemptions.pdf", get(redemptions::pdf_export))
        .route("/console/members", get(member::show))
        .route("/console/balances", get(balances::show))
        .route("/console/balances/adjustments/{id}", post(balances::decide))
        .route(
            "/console/balances/withdrawals/{id}",
            post(balances::decide_withdrawal),
        )
        .route("/console/tokens/{pool}/{serial}", get(token::show))
        .route(
            "/console/tokens/{pool}/{serial}/proof.json",
            get(token::proof),
        )
        .route("/console/audit", get(audit::show))
        .route("/console/fraud", get(fraud::show))
        .route("/console/advisor", get(advisor::show))
        .route("/console/fraud/holds", post(fraud::decide))
        .route("/console/alerts", get(alerts::show))
        .route("/console/alerts/stream", get(alerts::stream))
        .route("/console/alerts/rules", post(alerts::add))
        .route("/console/alerts/rules/{id}", post(alerts::change))
        .route("/console/static/console.css", get(assets::css))
        .route("/console/static/console.js", get(assets::js))
        .route("/console/{*rest}", get(not_found))
        .layer(DefaultBodyLimit::max(super::csrf::MAX_FORM_BYTES))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .with_state(console)
}

async fn not_found() -> super::view::PageError {
    super::view::PageError::NotFound("no such console page".into())
}

/// `?done=` on a page a write redirected to: what the page confirms.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Done {
    pub(super) done: Option<String>,
}

/// One nav entry.
#[derive(Debug, Serialize)]
struct NavItem {
    label: &'static str,
    path: &'static str,
    current: bool,
}

/// What the base template needs.
#[derive(Debug, Serialize)]
pub(super) struct Layout {
    title: String,
    user: String,
    role: &'static str,
    csrf: String,
    org: String,
    nav: Vec<NavItem>,
    height: u64,
}

impl Layout {
    /// The layout of page `current` (a [`NAV`] key) at chain height `height`.
    pub(super) fn new(
        console: &Console,
        staff: &Staff,
        current: &str,
        title: String,
        height: u64,
    ) -> Layout {
        Layout {
            title,
            user: staff.user.name.clone(),
            role: staff.user.role.name(),
            csrf: staff.csrf.clone(),
            org: console.org.to_string(),
            nav: NAV
                .iter()
                .map(|&(key, label, path)| NavItem {
                    label,
                    path,
                    current: key == current,
                })
                .collect(),
            height,
        }
    }
}
