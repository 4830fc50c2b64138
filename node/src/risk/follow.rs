//! The scorer task of an org's node: it follows the event log after applied blocks,
//! scores what [`super::observe::relevant`] keeps for the console's org, saves the flags
//! (score at or above the review threshold) in `risk.sqlite`, raises each new one as a
//! console alert of kind `fraud_score` (live on the Alerts page and, through the alert
//! outbox, to the org's webhooks as `alert.triggered`, quoting its reasons), and for a
//! `hold` verdict signs a `place_hold` with the org's risk key (pending an org admin's
//! review) — without a key, or in shadow mode, it only flags. The reviews of the org's
//! holds it reads are labels: saved in `risk.sqlite` and shown to the engine's anomaly
//! model ([`super::anomaly`]).
//!
//! Order of a step: scan a batch after the cursor, score it, save the new flags (an event
//! id once), then raise and act on the fresh ones; the cursor and engine are saved at most
//! every [`SAVE_EVERY`]. After a crash the scorer reads again from the saved cursor: the
//! flags it finds again are not fresh, so nothing is raised or held twice. A first start
//! begins at the log's end (live scoring; `cactusd risk-backtest` scores the past).

use super::config::RiskConfig;
use super::engine::{Engine, Seen, Verdict};
use super::observe::{observation, relevant};
use super::store::{Flag, Label, RiskStore, RiskStoreError};
use crate::console::alerts::rules::Alert;
use crate::console::{Console, ConsoleError};
use crate::events::rest_after_pass;
use crate::storage::{StorageError, Store};
use couponcactus_chaincode::events::{EventId, LedgerEvent};
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::risk::HoldTarget;
use couponcactus_chaincode::state::{StateKey, StateReader};
use couponcactus_chaincode::tx::{PlaceHoldTx, TxKind};
use couponcactus_client::tx_builder::TxBuilder;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The engine and cursor are saved at most this often.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);
/// Events one step reads.
const BATCH: usize = 1_000;
/// The scorer looks at the log at least this often.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// Longest hold note the chain takes, bytes.
const NOTE_BYTES: usize = couponcactus_chaincode::risk::MAX_HOLD_NOTE_BYTES;

/// What can stop a step.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The scorer's file.
    #[error(transparent)]
    Store(#[from] RiskStoreError),
    /// The node's database.
    #[error("node database: {0}")]
    Storage(#[from] StorageError),
    /// The console's alerts.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// Reading the chain state.
    #[error("chain state: {0}")]
    State(#[from] couponcactus_chaincode::state::StateError),
}

/// The scorer of one org: its settings, its file and its risk key.
pub struct Scorer {
    /// Thresholds, rules, stores, canaries.
    pub config: RiskConfig,
    /// `risk.sqlite`.
    pub store: RiskStore,
    /// A key of the org with the `risk` role, to hold what scores `hold`.
    pub signer: Option<ed25519_dalek::SigningKey>,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("config", &self.config)
            .field("signer", &self.signer.as_ref().map(|k| k.verifying_key()))
            .finish_non_exhaustive()
    }
}

impl Scorer {
    /// Opens the scorer of the node whose data directory is `dir`: `risk.toml` at
    /// `risk_file` (the defaults without one), checked; the risk key at `key_file`.
    pub fn open(
        dir: &std::path::Path,
        risk_file: Option<&std::path::Path>,
        signer: Option<ed25519_dalek::SigningKey>,
    ) -> Result<Scorer, String> {
        let config = match risk_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let config: RiskConfig =
                    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                config
                    .validate()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                config
            }
            None => RiskConfig::default(),
        };
        let path = dir.join(super::store::RISK_FILE);
        let store = RiskStore::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Scorer {
            config,
            store,
            signer,
        })
    }
}

/// The engine and where it stands, between steps.
pub(super) struct Progress {
    cursor: Option<EventId>,
    engine: Engine,
    saved: Instant,
}

fn load(console: &Console, scorer: &Scorer) -> Result<Progress, FollowError> {
    let (cursor, engine) = match scorer.store.progress()? {
        Some(saved) => saved,
        None => {
            let size = console.node().events_tip().get();
            let end = size.checked_sub(1).map(|last| EventId {
                log_index: last,
                index: u16::MAX,
            });
            scorer.store.save(end, &Engine::default())?;
            (end, Engine::default())
        }
    };
    Ok(Progress {
        cursor,
        engine,
        saved: Instant::now(),
    })
}

/// The flag of an assessed event.
fn flag_of(e: &LedgerEvent, assessment: super::engine::Assessment) -> Flag {
    Flag {
        event_id: e.id.to_string(),
        time_ms: e.time_ms,
        height: e.height,
        tx_id: e.tx_id.to_string(),
        event_type: e.kind.name().to_string(),
        pool: e.pool.as_ref().map(|p| p.to_string()),
        store: e.store.as_ref().map(|s| s.to_string()),
        assessment,
    }
}

/// What a run of events gave: the flags and the labels, in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scored {
    /// Assessments at or above the review threshold.
    pub flags: Vec<Flag>,
    /// Reviews of the org's holds.
    pub labels: Vec<Label>,
}

/// The label a hold review's observation makes.
fn label_of(e: &LedgerEvent, seen: &Seen) -> Option<Label> {
    let (subject, fraud) = match seen {
        Seen::HoldConfirmed(t) => (t.clone(), true),
        Seen::HoldLifted(t) => (t.clone(), false),
        _ => return None,
    };
    Some(Label {
        event_id: e.id.to_string(),
        time_ms: e.time_ms,
        height: e.height,
        subject,
        fraud,
    })
}

/// Shows `engine` the events (relevant ones, in log order; the code an attempt named is
/// read from its block) and returns the flags and labels: what live scoring and a
/// backtest share.
pub fn score_events(
    store: &Store,
    config: &RiskConfig,
    engine: &mut Engine,
    events: &[LedgerEvent],
) -> Result<Scored, StorageError> {
    let mut block: Option<Block> = None;
    let mut out = Scored::default();
    for e in events {
        if block.as_ref().is_none_or(|b| b.header.height != e.height) {
            block = store.block(e.height)?;
        }
        let tx = block.as_ref().and_then(|b| b.txs.get(e.tx_index as usize));
        let Some(o) = observation(e, tx) else {
            continue;
        };
        out.labels.extend(label_of(e, &o.seen));
        if let Some(a) = engine.observe(config, &o)
            && a.verdict != Verdict::Pass
        {
            out.flags.push(flag_of(e, a));
        }
    }
    Ok(out)
}

/// Scores the next batch: the fresh flags and whether more of the log waits.
fn score_batch(
    console: &Console,
    scorer: &Scorer,
    progress: &mut Progress,
) -> Result<(Vec<Flag>, bool), FollowError> {
    let org = console.org().clone();
    let store = console.node().store();
    let scan = store.events_after(progress.cursor, BATCH, |e| relevant(&org, e))?;
    if scan.next == progress.cursor {
        return Ok((Vec::new(), false));
    }
    let scored = score_events(store, &scorer.config, &mut progress.engine, &scan.events)?;
    let fresh = scorer.store.add(&scored.flags)?;
    scorer.store.add_labels(&scored.labels)?;
    progress.cursor = scan.next;
    if progress.saved.elapsed() >= SAVE_EVERY {
        scorer.store.save(progress.cursor, &progress.engine)?;
        progress.saved = Instant::now();
    }
    Ok((fresh, !scan.exhausted))
}

/// The console alert of a flag.
pub fn alert_of(flag: &Flag, config: &RiskConfig) -> Alert {
    let a = &flag.assessment;
    let what = if flag.event_type == "tx.rejected" {
        "a refused redemption"
    } else {
        "a redemption"
    };
    let at = flag.store.as_deref().unwrap_or("an unknown store");
    let reasons: Vec<String> = a
        .reasons
        .iter()
        .map(|r| {
            format!(
                "{} {} > {} (+{})",
                r.rule, r.observed, r.threshold, r.weight
            )
        })
        .collect();
    let subject = match (&a.subject, a.verdict) {
        (Some((target, why)), Verdict::Hold) => format!("; holding {target} ({})", why.name()),
        (Some((target, why)), _) => format!("; suspect {target} ({})", why.name()),
        (None, _) => String::new(),
    };
    Alert {
        id: format!("fr_{}", flag.event_id.replace(':', "_")),
        rule_id: 0,
        rule_name: "fraud score".into(),
        kind: "fraud_score".into(),
        time_ms: flag.time_ms,
        height: flag.height,
        event_id: flag.event_id.clone(),
        tx_id: flag.tx_id.clone(),
        pool: flag.pool.clone(),
        store: flag.store.clone(),
        observed: u64::from(a.score),
        threshold: u64::from(config.review_at),
        currency: None,
        baseline_tenths: None,
        webhooks: true,
        message: format!(
            "Fraud score {} on {what} at {at}: {}{subject}",
            a.score,
            reasons.join(", ")
        ),
        reasons: a.reasons.clone(),
    }
}

/// The note a hold carries: the score and the reasons, cut to what the chain takes.
fn hold_note(flag: &Flag) -> String {
    let a = &flag.assessment;
    let mut note = format!("score {} on event {}:", a.score, flag.event_id);
    for r in &a.reasons {
        note.push_str(&format!(" {} {}>{};", r.rule, r.observed, r.threshold));
    }
    while note.len() > NOTE_BYTES {
        note.pop();
    }
    note
}

/// Whether the chain would let the org hold `target`: a terminal or a code always (the
/// chain checks them), a member only if the org knows them (`StateKey::Member`).
fn known(console: &Console, target: &HoldTarget) -> Result<bool, FollowError> {
    let HoldTarget::Member(m) = target else {
        return Ok(true);
    };
    let key = StateKey::Member(console.org().clone(), *m);
    Ok(console.node().store().get(&key)?.is_some())
}

/// Raises the fresh flags and sends a hold for each `hold` verdict.
async fn act(console: &Console, scorer: &Scorer, fresh: &[Flag]) -> Result<(), FollowError> {
    let alerts: Vec<Alert> = fresh.iter().map(|f| alert_of(f, &scorer.config)).collect();
    console.alerts().raise(&alerts)?;
    let mut sent = std::collections::BTreeSet::new();
    for flag in fresh {
        let a = &flag.assessment;
        let (Verdict::Hold, Some((target, reason))) = (a.verdict, &a.subject) else {
            continue;
        };
        let key = StateKey::Hold(console.org().clone(), target.clone());
        let held = console.node().store().get(&key)?.is_some();
        let action = match &scorer.signer {
            _ if held || sent.contains(target) => format!("{target} is held already"),
            None => "no risk key: flagged for review only".to_string(),
            Some(_) if !known(console, target)? => {
                "a member the org never met (seen in refused attempts only): the chain holds \
                 no such member; flagged for review only"
                    .to_string()
            }
            Some(key) => {
                let kind = TxKind::PlaceHold(PlaceHoldTx {
                    target: target.clone(),
                    reason: *reason,
                    note: hold_note(flag),
                });
                let tx = TxBuilder::new(console.node().chain_id().clone()).sign(key, kind);
                let id = tx.id();
                sent.insert(target.clone());
                match console.node().submit(tx, false).await {
                    Ok(_) => format!("hold requested (tx {id})"),
                    Err(e) => format!("hold not sent: {e}"),
                }
            }
        };
        tracing::warn!(event = %flag.event_id, score = a.score, %action, "fraud score: hold");
        scorer.store.set_action(&flag.event_id, &action)?;
    }
    Ok(())
}

/// One step: score a batch off the async workers, then act on it.
pub(super) async fn step(
    console: &Arc<Console>,
    scorer: &Arc<Scorer>,
    progress: &mut Option<Progress>,
) -> Result<bool, FollowError> {
    let (c, s, held) = (console.clone(), scorer.clone(), progress.take());
    let (out, held) = tokio::task::spawn_blocking(move || {
        let mut held = match held {
            Some(p) => p,
            None => match load(&c, &s) {
                Ok(p) => p,
                Err(e) => return (Err(e), None),
            },
        };
        let out = score_batch(&c, &s, &mut held);
        let keep = out.is_ok().then_some(held);
        (out, keep)
    })
    .await
    .map_err(|e| ConsoleError::Invalid(format!("risk task: {e}")))?;
    *progress = held;
    let (fresh, more) = out?;
    metrics::counter!("cactus_risk_flags_total").increment(fresh.len() as u64);
    act(console, scorer, &fresh).await?;
    Ok(more)
}

/// Runs the scorer until `shutdown` completes: a step after applied blocks (at once while
/// behind), and at least every second; the engine is saved on the way out.
pub async fn run(console: Arc<Console>, scorer: Arc<Scorer>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tip = console.node().events_tip().subscribe();
    let mut progress = None;
    loop {
        let wait = match step(&console, &scorer, &mut progress).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => IDLE_WAKE,
            Err(e) => {
                tracing::error!(error = %e, "fraud scoring failed; retrying in 1 s");
                IDLE_WAKE
            }
        };
        if !wait.is_zero() && rest_after_pass(&mut shutdown).await {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tip.changed(), if !wait.is_zero() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if let Some(p) = progress
        && let Err(e) = scorer.store.save(p.cursor, &p.engine)
    {
        tracing::error!(error = %e, "fraud scoring: saving the engine failed");
    }
}
