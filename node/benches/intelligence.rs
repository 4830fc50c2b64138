//! Segments, propensity and the advisor's proposals: how long one org's answer takes at
//! 10,000, 50,000 and 100,000 members, and the member activity it holds in memory.
//!
//! `cargo bench -p couponcactus-node --bench intelligence`
//!
//! The seeded population of `intelligence::population` (a fifth each of regulars,
//! occasional visitors, lapsed regulars, newcomers and prospects; a coupon every 60 days)
//! built straight as the analytics store's `MemberData`, so what is timed is the
//! computation `GET /v1/advice` does after its SQL read. Figures are in
//! docs/performance.md ("Segments and the advisor").

// Floats only to print times.
#![allow(clippy::float_arithmetic)]

use couponcactus_chaincode::types::Currency;
use couponcactus_node::analytics::members::{AllocationOutcome, MemberDay};
use couponcactus_node::intelligence::advisor::proposals::{Basis, propose};
use couponcactus_node::intelligence::population::{AS_OF, offers, population};
use couponcactus_node::intelligence::propensity::{self, PropensityConfig};
use couponcactus_node::intelligence::segments::{self, SegmentConfig};
use std::time::Instant;

fn main() {
    for n in [10_000, 50_000, 100_000] {
        let (data, _) = population(1, n / 5);
        let bytes = data.days.len() * std::mem::size_of::<MemberDay>()
            + data.outcomes.len() * (std::mem::size_of::<AllocationOutcome>() + 8)
            + data.members.len() * (std::mem::size_of::<String>() + 64);
        let started = Instant::now();
        let segs = segments::compute(&data, AS_OF, &SegmentConfig::default()).expect("segments");
        let t_seg = started.elapsed();
        let started = Instant::now();
        let offers = offers();
        let model =
            propensity::train(&data, &offers, AS_OF, &PropensityConfig::default()).expect("model");
        let t_prop = started.elapsed();
        let started = Instant::now();
        let basis = Basis {
            segments: &segs,
            data: &data,
            model: &model,
            offers: &offers,
            currency: "EUR".parse::<Currency>().expect("currency"),
            as_of_ms: u64::from(AS_OF) * 86_400_000,
            period_days: 30,
            height: 1,
        };
        let proposals = propose(&basis, 5);
        let t_adv = started.elapsed();
        println!(
            "{n} members ({} visit days, {} allocations, ~{} MiB of activity): segments {:.2} s ({:?}), propensity {:.2} s ({:?}, {} samples), proposals {:.2} s ({})",
            data.days.len(),
            data.outcomes.len(),
            bytes / (1 << 20),
            t_seg.as_secs_f64(),
            segs.method,
            t_prop.as_secs_f64(),
            model.method,
            model.samples,
            t_adv.as_secs_f64(),
            proposals.len()
        );
    }
}
