//! The fraud-scoring engine: observations scored per second, and the memory it keeps.
//!
//! `cargo bench -p couponcactus-node --bench risk_engine`
//!
//! The labelled scenarios of `risk::scenario` (three days of honest traffic at eight
//! stores with five kinds of abuse injected, about 3,700 observations each), seeds 1 to
//! 20 back to back on one engine with the default rules and the scenario's stores, timed
//! after one warm-up pass; then the engine's saved size (bincode), which a node writes
//! every 10 s. Figures are in docs/performance.md ("Fraud scoring").

// Floats only to print rates.
#![allow(clippy::float_arithmetic)]

use couponcactus_chaincode::encoding::encode;
use couponcactus_node::risk::engine::Engine;
use couponcactus_node::risk::scenario::{generate, scenario_config};
use std::time::Instant;

fn main() {
    let config = scenario_config();
    let scenarios: Vec<_> = (1..=20).map(generate).collect();
    let total: usize = scenarios.iter().map(|s| s.events.len()).sum();
    for pass in ["warm-up", "measured"] {
        let mut engine = Engine::default();
        let started = Instant::now();
        let mut flagged = 0usize;
        for (i, s) in scenarios.iter().enumerate() {
            // Each scenario starts 4 days after the last, so the days follow each other.
            let shift = i as u64 * 4 * 86_400_000;
            for l in &s.events {
                let mut o = l.observation.clone();
                o.time_ms += shift;
                if engine
                    .observe(&config, &o)
                    .is_some_and(|a| a.score >= config.review_at)
                {
                    flagged += 1;
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{pass}: {total} observations in {secs:.3} s = {:.0} observations/s ({flagged} flagged)",
            total as f64 / secs
        );
        if pass == "measured" {
            println!(
                "engine saved size after the run: {} bytes",
                encode(&engine).len()
            );
        }
    }
}
