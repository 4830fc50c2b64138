//! A backtest: the scoring of a configuration over past blocks, with the engine live
//! scoring uses ([`super::follow::score_events`]), so over the same events from the same
//! start it flags exactly what live scoring flagged (tested). `cactusd risk-backtest`
//! runs it on a stopped node's database (or a copy) to try a `risk.toml` before using it.
//!
//! Events before `from_height` are shown to the engine without being reported, so the
//! first reported blocks are scored with the memory live scoring would have had (the
//! anomaly model included: its reservoir, training points and labels are those of live
//! scoring over the same events).

use super::config::RiskConfig;
use super::engine::Engine;
use super::follow::score_events;
use super::observe::relevant;
use super::store::{Flag, Label};
use crate::storage::{StorageError, Store};
use couponcactus_chaincode::ids::OrgId;
use serde::Serialize;

/// Events read per scan.
const BATCH: usize = 1_000;

/// What a backtest found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Backtest {
    /// First height reported.
    pub from_height: u64,
    /// Last height reported.
    pub to_height: u64,
    /// Relevant events in the reported blocks.
    pub events: u64,
    /// The flags, in log order.
    pub flags: Vec<Flag>,
    /// The reviews of the org's holds in the reported blocks (labels), in log order.
    pub labels: Vec<Label>,
}

/// Scores `org`'s events of blocks `from_height..=to_height` with `config`.
pub fn backtest(
    store: &Store,
    org: &OrgId,
    config: &RiskConfig,
    (from_height, to_height): (u64, u64),
) -> Result<Backtest, StorageError> {
    let mut engine = Engine::default();
    let mut out = Backtest {
        from_height,
        to_height,
        ..Backtest::default()
    };
    let mut cursor = None;
    loop {
        let scan =
            store.events_after(cursor, BATCH, |e| relevant(org, e) && e.height <= to_height)?;
        let (warm, report): (Vec<_>, Vec<_>) = scan
            .events
            .into_iter()
            .partition(|e| e.height < from_height);
        score_events(store, config, &mut engine, &warm)?;
        out.events += report.len() as u64;
        let scored = score_events(store, config, &mut engine, &report)?;
        out.flags.extend(scored.flags);
        out.labels.extend(scored.labels);
        let past_end = scan.next.is_some_and(|id| {
            store
                .event(id)
                .ok()
                .flatten()
                .is_some_and(|e| e.height > to_height)
        });
        if scan.exhausted || past_end || scan.next == cursor {
            return Ok(out);
        }
        cursor = scan.next;
    }
}
