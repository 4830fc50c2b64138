//! Alerts: the org's rules ("redemption discount > X", "redemptions per minute > N ×
//! baseline"), evaluated on the node's event log as blocks apply, shown live in the
//! console and sent to the org's webhooks as `alert.triggered` (docs/console.md,
//! "Alerts").
//!
//! - [`rules`]: the rule model and the pure engine (block time, integers, no I/O).
//! - [`store`]: the rules, the alerts raised and the evaluator's cursor and memory in
//!   `console.sqlite`.
//! - here: [`Alerts`], what the console holds (the store, the live channel the pages
//!   subscribe to, the rules' change signal), and [`run`], the evaluator task: it reads
//!   the org's redemptions after its cursor, saves the alerts they raise with the new
//!   cursor in one transaction, then publishes them live and hands those for webhooks to
//!   the webhook outbox ([`crate::webhooks::store::WebhookStore::enqueue_alerts`]), where
//!   the dispatcher delivers them like events (signed, retried, logged). A crash between
//!   saving and handing over hands them over at the next start (the outbox keeps an id
//!   once).
//!
//! Alerts are live: a first start, and a start with no rule, begin at the log's end, and
//! a new rule sees the redemptions committed after it.

pub mod rules;
pub mod store;

use super::{Console, ConsoleError};
use crate::events::rest_after_pass;
use crate::webhooks::WebhookSlot;
use couponcactus_chaincode::events::{EventId, EventType};
use rules::Alert;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use store::{AlertStore, Progress};
use tokio::sync::{broadcast, watch};

/// Events one evaluation step reads.
const BATCH: usize = 1_000;
/// Alerts handed to the webhook outbox per step.
const FORWARD_BATCH: usize = 500;
/// Alerts the live channel buffers for a slow page (older ones are skipped for it).
const LIVE_BUFFER: usize = 256;
/// The evaluator looks at the log at least this often.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// The console's alerts: the store, the live channel and the rules' change signal.
#[derive(Debug)]
pub struct Alerts {
    store: AlertStore,
    live: broadcast::Sender<Alert>,
    rules_changed: watch::Sender<u64>,
}

impl Alerts {
    /// Opens the alert tables of the console store at `path`.
    pub fn open(path: &std::path::Path) -> Result<Alerts, ConsoleError> {
        Ok(Alerts {
            store: AlertStore::open(path)?,
            live: broadcast::channel(LIVE_BUFFER).0,
            rules_changed: watch::Sender::new(0),
        })
    }

    /// The store.
    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    /// Alerts as they are raised.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.live.subscribe()
    }

    /// Saves alerts raised outside the rules (the fraud scorer's) and shows the new ones
    /// live; the evaluator hands those for webhooks to the outbox at its next step.
    pub fn raise(&self, alerts: &[Alert]) -> Result<usize, ConsoleError> {
        let fresh = self.store.raise(alerts)?;
        for alert in &fresh {
            metrics::counter!("cactus_console_alerts_total", "kind" => alert.kind.clone())
                .increment(1);
            // No page listening is fine.
            let _ = self.live.send(alert.clone());
        }
        Ok(fresh.len())
    }

    /// Tells the evaluator the rules changed.
    pub fn rules_changed(&self) {
        self.rules_changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The cursor at the end of a log of `log_size` entries.
fn log_end(log_size: u64) -> Option<EventId> {
    log_size.checked_sub(1).map(|last| EventId {
        log_index: last,
        index: u16::MAX,
    })
}

/// One evaluation step on `progress` (the store's, held in memory between steps): the
/// alerts newly raised and whether more of the log waits. On an error the caller drops
/// `progress` (the engine may have counted events the store did not save) and reloads it.
fn evaluate(
    console: &Console,
    progress: &mut Progress,
) -> Result<(Vec<Alert>, bool), ConsoleError> {
    let alerts = &console.alerts;
    let rules = alerts.store.rules()?;
    let live_only = !progress.started || !rules.iter().any(|r| r.enabled);
    progress.engine.set_rules(rules);
    if live_only {
        // Nothing to evaluate: keep the cursor at the log's end.
        let end = log_end(console.node.events_tip().get());
        if !progress.started || progress.cursor != end {
            alerts.store.record(&[], end, &progress.engine)?;
            (progress.started, progress.cursor) = (true, end);
        }
        return Ok((Vec::new(), false));
    }
    let org = console.org.clone();
    let scan = console
        .node
        .store()
        .events_after(progress.cursor, BATCH, |e| {
            e.kind == EventType::CouponRedeemed && e.org_sees(&org)
        })?;
    if scan.next == progress.cursor {
        return Ok((Vec::new(), false));
    }
    let mut raised = Vec::new();
    for e in &scan.events {
        raised.extend(progress.engine.observe(&org, e));
    }
    let fresh = alerts.store.record(&raised, scan.next, &progress.engine)?;
    progress.cursor = scan.next;
    Ok((fresh, !scan.exhausted))
}

/// Hands the alerts for webhooks not yet handed over to the webhook outbox.
fn forward(console: &Console, hooks: &WebhookSlot) -> Result<usize, ConsoleError> {
    let Some(hooks) = hooks.get() else {
        return Ok(0);
    };
    let pending = console.alerts.store.unforwarded(FORWARD_BATCH)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let rows: Vec<(String, u64, String)> = pending
        .iter()
        .map(|a| {
            let body = serde_json::to_string(a).expect("alerts serialize");
            (a.id.clone(), a.time_ms, body)
        })
        .collect();
    hooks
        .store()
        .enqueue_alerts(&rows)
        .map_err(|e| ConsoleError::Invalid(format!("webhook outbox: {e}")))?;
    let ids: Vec<String> = pending.into_iter().map(|a| a.id).collect();
    console.alerts.store.mark_forwarded(&ids)?;
    hooks.poke();
    Ok(ids.len())
}

/// One step off the async workers: evaluate, publish, hand over. `progress` is loaded
/// from the store when `None`, and left `None` after an error.
async fn step(
    console: &Arc<Console>,
    hooks: &WebhookSlot,
    progress: &mut Option<Progress>,
) -> Result<bool, ConsoleError> {
    let (c, h, held) = (console.clone(), hooks.clone(), progress.take());
    let (out, held) = tokio::task::spawn_blocking(move || {
        let mut held = match held {
            Some(p) => p,
            None => match c.alerts.store.progress() {
                Ok(p) => p,
                Err(e) => return (Err(e), None),
            },
        };
        let out = evaluate(&c, &mut held).and_then(|o| forward(&c, &h).map(|_| o));
        let keep = out.is_ok().then_some(held);
        (out, keep)
    })
    .await
    .map_err(|e| ConsoleError::Invalid(format!("alert task: {e}")))?;
    *progress = held;
    let (fresh, more) = out?;
    for alert in fresh {
        tracing::info!(alert = %alert.id, rule = %alert.rule_name, kind = %alert.kind, "alert raised");
        metrics::counter!("cactus_console_alerts_total", "kind" => alert.kind.clone()).increment(1);
        // No page listening is fine.
        let _ = console.alerts.live.send(alert);
    }
    Ok(more)
}

/// Runs the evaluator until `shutdown` completes: a step after applied blocks and rule
/// changes (at most every [`crate::events::FOLLOW_COALESCE`] once caught up), and at least
/// every second.
pub async fn run(console: Arc<Console>, hooks: WebhookSlot, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tip = console.node.events_tip().subscribe();
    let mut rules = console.alerts.rules_changed.subscribe();
    let mut progress = None;
    loop {
        let wait = match step(&console, &hooks, &mut progress).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => IDLE_WAKE,
            Err(e) => {
                tracing::error!(error = %e, "alert evaluation failed; retrying in 1 s");
                IDLE_WAKE
            }
        };
        if !wait.is_zero() && rest_after_pass(&mut shutdown).await {
            return;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tip.changed(), if !wait.is_zero() => {}
            _ = rules.changed(), if !wait.is_zero() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
