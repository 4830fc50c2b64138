//! Segments, propensity and the advisor's proposals: how long one org's answer takes at
//! 10,000, 50,000 and 100,000 members, and the member activity it holds in memory.
//!
//! `cargo bench -p couponcactus-node --bench intelligence`
//!
//! A seeded population (a fifth each of regulars visiting every few days, occasional
//! visitors, lapsed regulars, newcomers and prospects; a coupon of alternating percent and
//! fixed pools every 60 days; redemption chances by kind) built straight as the analytics
//! store's `MemberData`, so what is timed is the computation `GET /v1/advice` does after
//! its SQL read. Figures are in docs/performance.md ("Segments and the advisor").

// Floats only to draw chances and print times.
#![allow(clippy::float_arithmetic)]

use couponcactus_chaincode::types::Currency;
use couponcactus_node::analytics::members::{AllocationOutcome, MemberData, MemberDay};
use couponcactus_node::intelligence::advisor::proposals::{Basis, propose};
use couponcactus_node::intelligence::propensity::{self, Incentive, Offer, PropensityConfig};
use couponcactus_node::intelligence::segments::{self, SegmentConfig};
use std::collections::BTreeMap;
use std::time::Instant;

const AS_OF: u32 = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// (first day, last day, mean gap, redemption chance ‰) of each kind.
const KINDS: [(u32, u32, u32, u64); 5] = [
    (AS_OF - 360, AS_OF, 4, 700),
    (AS_OF - 360, AS_OF, 45, 350),
    (AS_OF - 360, AS_OF - 200, 5, 100),
    (AS_OF - 5, AS_OF, 3, 400),
    (AS_OF, AS_OF, 0, 100),
];

fn population(n: usize) -> MemberData {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut data = MemberData::default();
    for i in 0..n {
        let (from, to, gap, chance) = KINDS[i % KINDS.len()];
        let m = u32::try_from(i).expect("fits");
        data.members.push(format!("{:064x}", i + 1));
        let mut d = from + rng.below(u64::from(gap.max(1))) as u32;
        while gap > 0 && d <= to {
            let gross = 2_000 + rng.below(8_000) as i64;
            let day = MemberDay { member: m, day: d, visits: 1, allocated: 0, gross, discount: gross / 10, points: 0 };
            data.days.push(day);
            d += 1 + rng.below(u64::from(gap) * 2) as u32;
        }
        data.stores.push((m, format!("store-{}", i % 20), 1));
        for (k, day) in (AS_OF - 330..AS_OF).step_by(60).enumerate() {
            let redeemed_day = (rng.below(1_000) < chance).then(|| day + rng.below(20) as u32);
            data.outcomes.push(AllocationOutcome { member: m, pool: format!("pool-{k}"), day, redeemed_day });
        }
    }
    data
}

fn offers() -> BTreeMap<String, Offer> {
    (0..6)
        .map(|k| {
            let incentive = if k % 2 == 0 { Incentive::Percent } else { Incentive::Fixed };
            (format!("pool-{k}"), Offer { incentive, depth_bps: 1_500, min_spend: k % 2 == 1 })
        })
        .collect()
}

fn main() {
    for n in [10_000, 50_000, 100_000] {
        let data = population(n);
        let bytes = data.days.len() * std::mem::size_of::<MemberDay>()
            + data.outcomes.len() * (std::mem::size_of::<AllocationOutcome>() + 8)
            + data.members.len() * (std::mem::size_of::<String>() + 64);
        let started = Instant::now();
        let segs = segments::compute(&data, AS_OF, &SegmentConfig::default()).expect("segments");
        let t_seg = started.elapsed();
        let started = Instant::now();
        let model = propensity::train(&data, &offers(), AS_OF, &PropensityConfig::default()).expect("propensity");
        let t_prop = started.elapsed();
        let started = Instant::now();
        let basis = Basis {
            segments: &segs,
            data: &data,
            model: &model,
            offers: &offers(),
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
