//! `/console/alerts`: the org's alert rules and the alerts they raised.
//!
//! - `GET /console/alerts`: the rules (condition, pool, webhooks, on or off, who added
//!   them), a form to add one, and the newest alerts; the list stays live through
//!   `GET /console/alerts/stream` (server-sent `alert` events, session-authenticated).
//! - `POST /console/alerts/rules`: adds a rule (admins and issuers).
//! - `POST /console/alerts/rules/{id}`: `action` = `enable`, `disable` or `delete`.
//!
//! Rules are the node's, not the ledger's: changing one signs no tx. The evaluator
//! ([`crate::console::alerts::run`]) sees a change at once.

use super::super::alerts::rules::{Alert, Rule, RuleKind};
use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, Role};
use super::Layout;
use crate::node::now_ms;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use couponcactus_chaincode::types::Currency;
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Alerts the page lists.
pub const SHOWN_ALERTS: usize = 100;
/// How often a live stream checks its session is still valid.
const SESSION_CHECK: Duration = Duration::from_secs(15);

/// One alert as pages show it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct AlertView {
    id: String,
    time: String,
    rule: String,
    kind: &'static str,
    message: String,
    pool: String,
    tx_id: String,
    webhooks: bool,
}

impl AlertView {
    pub(super) fn of(a: &Alert) -> AlertView {
        AlertView {
            id: a.id.clone(),
            time: view::time(a.time_ms),
            rule: a.rule_name.clone(),
            kind: if a.kind == "rate_spike" {
                "Rate spike"
            } else {
                "Large discount"
            },
            message: a.message.clone(),
            pool: a.pool.clone().unwrap_or_default(),
            tx_id: a.tx_id.clone(),
            webhooks: a.webhooks,
        }
    }
}

#[derive(Debug, Serialize)]
struct RuleView {
    id: i64,
    name: String,
    condition: String,
    pool: String,
    webhooks: bool,
    enabled: bool,
    created_by: String,
    created: String,
}

fn condition(kind: &RuleKind) -> String {
    match kind {
        RuleKind::LargeDiscount {
            above_minor,
            currency,
        } => match currency {
            Some(c) => format!(
                "discount > {}",
                view::money(*above_minor as i64, &c.to_string())
            ),
            None => format!("discount > {above_minor} minor units (any currency)"),
        },
        RuleKind::RateSpike {
            factor_tenths,
            baseline_minutes,
            min_per_minute,
        } => format!(
            "redemptions per minute > {}.{}× the mean of the previous {baseline_minutes} min (and ≥ {min_per_minute})",
            factor_tenths / 10,
            factor_tenths % 10
        ),
    }
}

fn rule_view(r: &Rule) -> RuleView {
    RuleView {
        id: r.id,
        name: r.name.clone(),
        condition: condition(&r.kind),
        pool: r.pool.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        webhooks: r.webhooks,
        enabled: r.enabled,
        created_by: r.created_by.clone(),
        created: view::time(r.created_ms),
    }
}

/// The add-rule form (also what the page shows back after a refused add).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RuleForm {
    name: String,
    kind: String,
    amount: String,
    currency: String,
    factor: String,
    baseline_minutes: String,
    min_per_minute: String,
    pool: String,
    webhooks: Option<String>,
}

impl Default for RuleForm {
    fn default() -> Self {
        RuleForm {
            name: String::new(),
            kind: "large_discount".into(),
            amount: String::new(),
            currency: "EUR".into(),
            factor: "3".into(),
            baseline_minutes: "60".into(),
            min_per_minute: "10".into(),
            pool: String::new(),
            webhooks: Some("on".into()),
        }
    }
}

#[derive(Debug, Serialize)]
struct AlertsPage {
    layout: Layout,
    rules: Vec<RuleView>,
    alerts: Vec<AlertView>,
    can_write: bool,
    form: RuleForm,
    error: Option<String>,
    done: Option<String>,
}

/// `"2.5"` → 25 tenths.
fn parse_tenths(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, "0"));
    let bad = || {
        format!(
            "factor {:?}: a number like 3 or 2.5",
            t.chars().take(20).collect::<String>()
        )
    };
    if whole.is_empty() || frac.len() != 1 {
        return Err(bad());
    }
    let w: u32 = whole.parse().map_err(|_| bad())?;
    let f: u32 = frac.parse().map_err(|_| bad())?;
    w.checked_mul(10)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(bad)
}

fn parse_count(text: &str, what: &str) -> Result<u32, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{what} {:?}: a whole number",
            text.chars().take(20).collect::<String>()
        )
    })
}

/// The rule a form describes (id and times are set by the store).
fn rule_of(console: &Console, staff: &Staff, form: &RuleForm) -> Result<Rule, String> {
    let kind = match form.kind.as_str() {
        "large_discount" => {
            let currency: Currency = form
                .currency
                .trim()
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| format!("currency {:?}: an ISO 4217 code like EUR", form.currency))?;
            let above_minor = couponcactus_client::amounts::parse_amount(&form.amount, currency)
                .map_err(|e| format!("amount: {e}"))?;
            RuleKind::LargeDiscount {
                above_minor,
                currency: Some(currency),
            }
        }
        "rate_spike" => RuleKind::RateSpike {
            factor_tenths: parse_tenths(&form.factor)?,
            baseline_minutes: parse_count(&form.baseline_minutes, "baseline minutes")?,
            min_per_minute: parse_count(&form.min_per_minute, "minimum per minute")?,
        },
        other => {
            return Err(format!(
                "rule kind {:?}: large_discount or rate_spike",
                other.chars().take(30).collect::<String>()
            ));
        }
    };
    kind.check()?;
    let pool = match form.pool.trim() {
        "" => None,
        id => Some(
            super::pool::the_pool(console, id)
                .map_err(|e| e.to_string())?
                .id,
        ),
    };
    Ok(Rule {
        id: 0,
        name: form.name.clone(),
        kind,
        pool,
        enabled: true,
        webhooks: form.webhooks.is_some(),
        created_by: staff.user.name.clone(),
        created_ms: 0,
    })
}

fn render(
    console: &Console,
    staff: &Staff,
    form: RuleForm,
    error: Option<String>,
    done: Option<String>,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let store = console.alerts().store();
    let page = AlertsPage {
        layout: Layout::new(console, staff, "alerts", "Alerts".into(), height),
        rules: store.rules()?.iter().map(rule_view).collect(),
        alerts: store
            .recent(SHOWN_ALERTS)?
            .iter()
            .map(AlertView::of)
            .collect(),
        can_write: staff.user.role.can_write(),
        form,
        error,
        done,
    };
    let mut response = view::page("alerts.html", &page, height)?;
    if page.error.is_some() {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PageError::Internal(format!("alerts: {e}")))?
}

/// `GET /console/alerts`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(q): Query<super::Done>,
) -> Result<Response, PageError> {
    let done = q.done.map(|d| d.chars().take(40).collect());
    blocking(move || render(&console, &staff, RuleForm::default(), None, done)).await
}

/// `POST /console/alerts/rules`: adds a rule; a refused one shows the form again with why.
pub(super) async fn add(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<RuleForm>,
) -> Result<Response, PageError> {
    staff.require_role(Role::WRITERS)?;
    blocking(move || {
        let added = rule_of(&console, &staff, &form).and_then(|rule| {
            console
                .alerts()
                .store()
                .add_rule(rule, now_ms())
                .map_err(|e| e.to_string())
        });
        match added {
            Ok(rule) => {
                tracing::info!(rule = rule.id, user = %staff.user.name, "alert rule added");
                console.alerts().rules_changed();
                Ok(super::pool_new::see_other("/console/alerts?done=added"))
            }
            Err(why) => render(&console, &staff, form, Some(why), None),
        }
    })
    .await
}

/// The form of `POST /console/alerts/rules/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RuleAction {
    action: String,
}

/// `POST /console/alerts/rules/{id}`: enable, disable or delete a rule.
pub(super) async fn change(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    CheckedForm(staff, form): CheckedForm<RuleAction>,
) -> Result<Response, PageError> {
    staff.require_role(Role::WRITERS)?;
    let id: i64 = id
        .parse()
        .map_err(|_| PageError::NotFound("no such alert rule".into()))?;
    blocking(move || {
        let store = console.alerts().store();
        let found = match form.action.as_str() {
            "enable" => store.set_enabled(id, true)?,
            "disable" => store.set_enabled(id, false)?,
            "delete" => store.delete_rule(id)?,
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown action {:?}: enable, disable or delete",
                    other.chars().take(30).collect::<String>()
                )));
            }
        };
        if !found {
            return Err(PageError::NotFound(format!("no alert rule {id}")));
        }
        tracing::info!(rule = id, action = %form.action, user = %staff.user.name, "alert rule changed");
        console.alerts().rules_changed();
        let done = match form.action.as_str() {
            "enable" => "turned-on",
            "disable" => "turned-off",
            _ => "deleted",
        };
        Ok(super::pool_new::see_other(&format!(
            "/console/alerts?done={done}"
        )))
    })
    .await
}

/// `GET /console/alerts/stream`: alerts as they are raised, as `alert` events (JSON of
/// the page's alert row); `signed-out` then the end when the session ends.
pub(super) async fn stream(
    State(console): State<Arc<Console>>,
    staff: Staff,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = console.alerts().subscribe();
    let state = (console, staff.token_hash, rx, false);
    let events = futures::stream::unfold(state, |(console, hash, mut rx, ended)| async move {
        if ended {
            return None;
        }
        loop {
            let got = tokio::time::timeout(SESSION_CHECK, rx.recv()).await;
            if !console.still_live(hash).await {
                let out = SseEvent::default().event("signed-out").data("{}");
                return Some((Ok(out), (console, hash, rx, true)));
            }
            let alert = match got {
                Ok(Ok(alert)) => alert,
                Ok(Err(RecvError::Lagged(_))) | Err(_) => continue,
                Ok(Err(RecvError::Closed)) => return None,
            };
            let data =
                serde_json::to_string(&AlertView::of(&alert)).unwrap_or_else(|_| "{}".into());
            let out = SseEvent::default().id(alert.id).event("alert").data(data);
            return Some((Ok(out), (console, hash, rx, false)));
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(SESSION_CHECK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_read_as_tenths() {
        assert_eq!(parse_tenths("3"), Ok(30));
        assert_eq!(parse_tenths("2.5"), Ok(25));
        assert_eq!(parse_tenths(" 10.0 "), Ok(100));
        for bad in ["", "x", "2.55", ".5", "-1", "1e3", "99999999999"] {
            assert!(parse_tenths(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_read_like_the_rule() {
        let spike = RuleKind::RateSpike {
            factor_tenths: 25,
            baseline_minutes: 60,
            min_per_minute: 10,
        };
        assert_eq!(
            condition(&spike),
            "redemptions per minute > 2.5× the mean of the previous 60 min (and ≥ 10)"
        );
        let large = RuleKind::LargeDiscount {
            above_minor: 5_000,
            currency: Some("EUR".parse().unwrap()),
        };
        assert_eq!(condition(&large), "discount > 50.00 EUR");
    }
}
