//! The dispatcher: one task per enabled endpoint follows the node's event log.
//!
//! A worker takes the event at its endpoint's head (a pending replay first, then the live
//! log after the cursor), POSTs it, and moves the cursor only on a 2xx: events reach an
//! endpoint in log order, at least once, and a failing event holds back the later ones of
//! that endpoint only. A failure schedules the next attempt ([`super::schedule`]); `410
//! Gone` disables the endpoint; an endpoint failing for `disable_after_ms` is disabled with
//! an operational event (warning log, metric `cactus_webhook_endpoints_disabled_total`,
//! and the reason in `cactus webhooks list`).
//!
//! The console's alerts (type [`super::ALERT_TYPE`]) wait in the store's alert outbox
//! with a cursor per endpoint; an endpoint that takes them receives pending alerts before
//! the next events, with the same signing, retries and log.

use super::store::{Attempt, Endpoint, OutboxAlert, Replay};
use super::{WebhookError, Webhooks, schedule, signature, ssrf};
use crate::node::now_ms;
use couponcactus_chaincode::events::{EventId, LedgerEvent};
use reqwest::Url;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Events fetched per step.
const BATCH: usize = 200;
/// How often the manager re-reads the endpoints even without a poke.
const RESCAN: Duration = Duration::from_secs(30);
/// Most acknowledged deliveries written together (one transaction that also moves the
/// cursor): after a crash, at most this many acknowledged events are delivered again.
pub const FLUSH_EVERY: usize = 64;
/// Longest acknowledged deliveries wait to be written.
const FLUSH_AFTER: Duration = Duration::from_millis(100);

/// Header marking a replayed delivery (`true`); the body also carries `"replay": true`.
pub const REPLAY_HEADER: &str = "x-cactus-replay";

/// The delivery HTTP client: the configured timeout, no redirects, no proxy, and the SSRF
/// guard on every name resolution unless private targets are allowed.
pub fn client(hooks: &Webhooks) -> Result<reqwest::Client, WebhookError> {
    let config = hooks.config();
    let mut builder = reqwest::Client::builder()
        .timeout(config.timeout())
        .connect_timeout(config.timeout())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("Couponcactus-Webhooks/1")
        .pool_max_idle_per_host(4);
    if !config.allow_private_targets {
        builder = builder.dns_resolver(Arc::new(ssrf::GuardedResolver));
    }
    builder
        .build()
        .map_err(|e| WebhookError::Client(e.to_string()))
}

/// Runs the dispatcher until `shutdown` completes, then stops the workers.
pub async fn run(hooks: Webhooks, shutdown: impl Future<Output = ()>) -> Result<(), WebhookError> {
    let http = client(&hooks)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut changed = hooks.subscribe();
    tokio::pin!(shutdown);
    loop {
        match hooks.blocking(|s| s.list(None, now_ms())).await {
            Ok(endpoints) => {
                workers.retain(|_, w| !w.is_finished());
                for e in endpoints.into_iter().filter(|e| e.enabled) {
                    if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(e.id) {
                        let worker = Worker {
                            hooks: hooks.clone(),
                            http: http.clone(),
                            id: slot.key().clone(),
                            stop: stop_rx.clone(),
                        };
                        slot.insert(tokio::spawn(worker.run()));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "webhooks: reading the endpoints failed"),
        }
        metrics::gauge!("cactus_webhook_workers").set(workers.len() as f64);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = changed.changed() => {}
            _ = tokio::time::sleep(RESCAN) => {}
        }
    }
    let _ = stop_tx.send(true);
    for (_, w) in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    Ok(())
}

/// One POST to make: a ledger event or an outbox alert.
struct Outgoing {
    /// `webhook-id`.
    webhook_id: String,
    /// The JSON body.
    body: Vec<u8>,
    /// When it happened (block time), ms: for the lag metric.
    time_ms: u64,
    /// The event (the cursor moves past it).
    event: EventId,
    /// The outbox alert (its cursor moves instead).
    alert: Option<(i64, String)>,
}

impl Outgoing {
    fn event(event: &LedgerEvent, replay: bool) -> Outgoing {
        Outgoing {
            webhook_id: event.id.to_string(),
            body: payload(event, replay),
            time_ms: event.time_ms,
            event: event.id,
            alert: None,
        }
    }

    fn alert(alert: OutboxAlert) -> Outgoing {
        Outgoing {
            webhook_id: alert.id.clone(),
            body: alert_payload(&alert),
            time_ms: alert.time_ms,
            event: EventId::first_of(0),
            alert: Some((alert.seq, alert.id)),
        }
    }
}

/// What a worker does next.
enum Step {
    /// Deliver these (in order), belonging to this replay if any.
    Deliver(Vec<Outgoing>, Option<i64>),
    /// Nothing to deliver: wait for the log to grow.
    Idle,
    /// Loop again at once (a replay ended or a cursor moved).
    Again,
}

struct Worker {
    hooks: Webhooks,
    http: reqwest::Client,
    id: String,
    stop: watch::Receiver<bool>,
}

impl Worker {
    async fn run(mut self) {
        let mut tip = self.hooks.node().events_tip().subscribe();
        let mut changed = self.hooks.subscribe();
        loop {
            if *self.stop.borrow() {
                return;
            }
            match self.step().await {
                Ok(Some(wait)) => {
                    tokio::select! {
                        _ = self.stop.changed() => return,
                        _ = changed.changed() => {}
                        _ = tip.changed(), if wait.is_none() => {}
                        _ = tokio::time::sleep(wait.unwrap_or(RESCAN)) => {}
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(endpoint = %self.id, error = %e, "webhook worker failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One step: `None` to stop (endpoint gone or disabled), `Some(Some(d))` to wait `d`
    /// (a retry is due then), `Some(None)` to wait for the log or a change.
    async fn step(&mut self) -> Result<Option<Option<Duration>>, WebhookError> {
        let id = self.id.clone();
        let Some(endpoint) = self
            .hooks
            .blocking(move |s| s.endpoint(&id, now_ms()))
            .await?
        else {
            return Ok(None);
        };
        if !endpoint.enabled {
            return Ok(None);
        }
        let now = now_ms();
        if let Some(due) = endpoint.next_attempt_ms.filter(|d| *d > now) {
            return Ok(Some(Some(Duration::from_millis(due - now))));
        }
        match self.next_step(&endpoint).await? {
            Step::Idle => Ok(Some(None)),
            Step::Again => Ok(Some(Some(Duration::ZERO))),
            Step::Deliver(events, replay) => {
                self.deliver_all(endpoint, events, replay).await?;
                Ok(Some(Some(Duration::ZERO)))
            }
        }
    }

    async fn next_step(&self, endpoint: &Endpoint) -> Result<Step, WebhookError> {
        if endpoint.wants_alerts() {
            let id = self.id.clone();
            let alerts = self
                .hooks
                .blocking(move |s| s.alerts_after(&id, BATCH))
                .await?;
            if !alerts.is_empty() {
                let out = alerts.into_iter().map(Outgoing::alert).collect();
                return Ok(Step::Deliver(out, None));
            }
        }
        let id = self.id.clone();
        if let Some(replay) = self.hooks.blocking(move |s| s.next_replay(&id)).await? {
            return self.replay_step(endpoint, replay).await;
        }
        let (org, wanted, after) = (self.hooks.org().clone(), endpoint.clone(), endpoint.cursor);
        let store = self.hooks.node().store().clone();
        let scan = tokio::task::spawn_blocking(move || {
            store.events_after(after, BATCH, |e| e.org_sees(&org) && wanted.wants(e.kind))
        })
        .await
        .map_err(|e| WebhookError::Task(e.to_string()))??;
        if !scan.events.is_empty() {
            let out = scan.events.iter().map(|e| Outgoing::event(e, false));
            return Ok(Step::Deliver(out.collect(), None));
        }
        match scan.next {
            Some(c) if Some(c) != after => {
                let id = self.id.clone();
                self.hooks.blocking(move |s| s.skip_to(&id, c)).await?;
                Ok(Step::Again)
            }
            _ => Ok(Step::Idle),
        }
    }

    async fn replay_step(&self, endpoint: &Endpoint, replay: Replay) -> Result<Step, WebhookError> {
        let (org, wanted) = (self.hooks.org().clone(), endpoint.clone());
        let store = self.hooks.node().store().clone();
        let (from, to) = (replay.from_height, replay.to_height);
        let (events, scanned) = tokio::task::spawn_blocking(move || {
            let start = match replay.cursor {
                Some(c) => Some(c),
                None => start_of_height(&store, from)?,
            };
            let scan = store.events_after(start, BATCH, |e| {
                e.height >= from && e.height <= to && e.org_sees(&org) && wanted.wants(e.kind)
            })?;
            let (events, scanned) = (scan.events, scan.next);
            let past_end = match scanned {
                None => true,
                Some(c) if Some(c) == start => true,
                Some(c) => scan.exhausted || store.event(c)?.is_none_or(|e| e.height > to),
            };
            Ok::<_, WebhookError>((events, if past_end { None } else { scanned }))
        })
        .await
        .map_err(|e| WebhookError::Task(e.to_string()))??;
        if !events.is_empty() {
            let out = events.iter().map(|e| Outgoing::event(e, true));
            return Ok(Step::Deliver(out.collect(), Some(replay.id)));
        }
        let id = replay.id;
        self.hooks
            .blocking(move |s| s.advance_replay(id, scanned))
            .await?;
        Ok(Step::Again)
    }

    async fn deliver_all(
        &self,
        endpoint: Endpoint,
        items: Vec<Outgoing>,
        replay: Option<i64>,
    ) -> Result<(), WebhookError> {
        let url =
            Url::parse(&endpoint.url).map_err(|e| WebhookError::InvalidInput(e.to_string()))?;
        let mut attempt = endpoint.attempts + 1;
        let mut failing_since = endpoint.failing_since_ms;
        let id = self.id.clone();
        let secrets = self
            .hooks
            .blocking(move |s| s.valid_secrets(&id, now_ms()))
            .await?;
        let (mut done, mut flushed) = (Vec::new(), Instant::now());
        for item in items {
            if *self.stop.borrow() {
                break;
            }
            let a = self.attempt(&url, &secrets, &item, replay, attempt).await?;
            if a.status.is_some_and(|s| (200..300).contains(&s)) {
                metrics::counter!("cactus_webhook_deliveries_total", "result" => "ok").increment(1);
                let lag = Duration::from_millis(now_ms().saturating_sub(item.time_ms));
                metrics::histogram!("cactus_webhook_lag_seconds").record(lag.as_secs_f64());
                done.push(a);
                (attempt, failing_since) = (1, None);
                if done.len() >= FLUSH_EVERY || flushed.elapsed() >= FLUSH_AFTER {
                    self.flush(&mut done).await?;
                    flushed = Instant::now();
                }
                continue;
            }
            metrics::counter!("cactus_webhook_deliveries_total", "result" => "failed").increment(1);
            self.flush(&mut done).await?;
            return self.failed(a, failing_since).await;
        }
        self.flush(&mut done).await
    }

    /// Writes the acknowledged deliveries and moves the cursor past them.
    async fn flush(&self, done: &mut Vec<Attempt>) -> Result<(), WebhookError> {
        if done.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(done);
        let (id, keep) = (self.id.clone(), self.hooks.config().delivery_log_rows);
        self.hooks
            .blocking(move |s| s.record_successes(&id, &rows, keep))
            .await
    }

    async fn failed(&self, a: Attempt, failing_since: Option<u64>) -> Result<(), WebhookError> {
        let config = self.hooks.config();
        let id = self.id.clone();
        let keep = config.delivery_log_rows;
        let since = failing_since.unwrap_or(a.time_ms);
        let reason = if a.status == Some(410) {
            Some("the endpoint answered 410 Gone".to_string())
        } else if a.time_ms.saturating_sub(since) >= config.disable_after_ms {
            Some(format!(
                "failing continuously since {} ms (over {} ms): {}",
                since,
                config.disable_after_ms,
                a.error.clone().unwrap_or_default()
            ))
        } else {
            None
        };
        let next = a.time_ms
            + schedule::delay_ms(&config.retry_delays_ms, a.attempt, config.jitter_percent);
        let time = a.time_ms;
        self.hooks
            .blocking(move |s| s.record_failure(&id, &a, next, keep))
            .await?;
        if let Some(reason) = reason {
            tracing::warn!(endpoint = %self.id, %reason, "webhook endpoint disabled");
            metrics::counter!("cactus_webhook_endpoints_disabled_total").increment(1);
            let id = self.id.clone();
            self.hooks
                .blocking(move |s| s.disable(&id, &reason, time))
                .await?;
        }
        Ok(())
    }

    /// POSTs one event or alert; the outcome for the log.
    async fn attempt(
        &self,
        url: &Url,
        secrets: &[String],
        item: &Outgoing,
        replay: Option<i64>,
        attempt: u32,
    ) -> Result<Attempt, WebhookError> {
        let now = now_ms();
        let timestamp = now / 1000;
        let webhook_id = &item.webhook_id;
        let signature = signature::header(secrets, webhook_id, timestamp, &item.body);
        let started = Instant::now();
        let outcome = match guard_literal(url, self.hooks.config().allow_private_targets) {
            Err(e) => Err(e),
            Ok(()) => {
                let mut request = self
                    .http
                    .post(url.clone())
                    .header("content-type", "application/json")
                    .header("webhook-id", webhook_id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature);
                if replay.is_some() {
                    request = request.header(REPLAY_HEADER, "true");
                }
                request
                    .body(item.body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(describe)
            }
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        metrics::histogram!("cactus_webhook_delivery_seconds")
            .record(Duration::from_millis(latency_ms).as_secs_f64());
        let (status, error) = match outcome {
            Ok(s) if (200..300).contains(&s) => (Some(s), None),
            Ok(s) => (Some(s), Some(format!("the endpoint answered HTTP {s}"))),
            Err(e) => (None, Some(e)),
        };
        Ok(Attempt {
            event: item.event,
            alert: item.alert.clone(),
            attempt,
            replay,
            status,
            error,
            latency_ms,
            time_ms: now,
        })
    }
}

/// Refuses a URL whose host is a forbidden IP literal (names are checked by the resolver).
fn guard_literal(url: &Url, allow_private: bool) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return Ok(());
    };
    match ssrf::forbidden(ip) {
        Some(why) if !allow_private => Err(format!("refused address {ip} ({why}): SSRF guard")),
        _ => Ok(()),
    }
}

/// The innermost cause of a request error, e.g. "operation timed out".
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout: "
    } else if e.is_connect() {
        "connect: "
    } else {
        ""
    };
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("{kind}{cause}")
}

/// The Standard Webhooks payload: `{"type", "timestamp" (RFC 3339 block time), "data"}`,
/// plus `"replay": true` on a replay.
pub fn payload(event: &LedgerEvent, replay: bool) -> Vec<u8> {
    let timestamp = jiff::Timestamp::from_millisecond(event.time_ms as i64)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut body = serde_json::json!({
        "type": event.kind.name(),
        "timestamp": timestamp,
        "data": event,
    });
    if replay {
        body["replay"] = serde_json::Value::Bool(true);
    }
    serde_json::to_vec(&body).expect("events serialize")
}

/// An alert's payload: `{"type": "alert.triggered", "timestamp" (RFC 3339 block time of
/// the redemption that raised it), "data": the alert}`.
pub fn alert_payload(alert: &OutboxAlert) -> Vec<u8> {
    let timestamp = jiff::Timestamp::from_millisecond(alert.time_ms as i64)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let data: serde_json::Value =
        serde_json::from_str(&alert.body).unwrap_or(serde_json::Value::String(alert.body.clone()));
    let body = serde_json::json!({
        "type": super::ALERT_TYPE,
        "timestamp": timestamp,
        "data": data,
    });
    serde_json::to_vec(&body).expect("alerts serialize")
}

/// The cursor just before the first event of block `height` (`None`: the log's start).
pub fn start_of_height(
    store: &crate::storage::Store,
    height: u64,
) -> Result<Option<EventId>, WebhookError> {
    if height <= 1 {
        return Ok(None);
    }
    let log_size = store
        .block_header(height - 1)?
        .map(|h| h.log_size)
        .unwrap_or(0);
    Ok(log_size.checked_sub(1).map(|last| EventId {
        log_index: last,
        index: u16::MAX,
    }))
}
