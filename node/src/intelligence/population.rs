//! A seeded member population whose behaviour is known, as the analytics store returns
//! member activity: a fifth each of regulars, occasional visitors, lapsed regulars,
//! newcomers and prospects, a coupon of alternating percent and fixed pools every 60
//! days, redeemed with each kind's own chance. The intelligence tests check segments and
//! propensity against it, and `node/benches/intelligence.rs` times them on it (as
//! [`crate::risk::scenario`] serves the fraud tests and bench).
#![allow(clippy::float_arithmetic)] // redemption chances are drawn as fractions

use super::propensity::{Incentive, Offer};
use crate::analytics::members::{AllocationOutcome, MemberData, MemberDay};
use std::collections::BTreeMap;

/// xorshift64*: seeded populations without a dependency.
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
    fn chance(&mut self, p: f64) -> bool {
        (self.below(1_000_000) as f64) < p * 1_000_000.0
    }
}

/// What a member of the population does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Visits every few days, spends more.
    Regular,
    /// Visits every month or two.
    Occasional,
    /// Came often, stopped 200 days ago.
    Lapsed,
    /// First came in the last days.
    Newcomer,
    /// Allocated coupons, never came.
    Prospect,
}

/// The day the population is seen on.
pub const AS_OF: u32 = 20_000;

/// Visit days of a member of `kind` (ascending, ≤ AS_OF).
fn visits(rng: &mut Rng, kind: Kind) -> Vec<u32> {
    let (from, to, gap) = match kind {
        Kind::Regular => (AS_OF - 360, AS_OF, 4u32),
        Kind::Occasional => (AS_OF - 360, AS_OF, 45),
        Kind::Lapsed => (AS_OF - 360, AS_OF - 200, 5),
        Kind::Newcomer => (AS_OF - 2, AS_OF, 2),
        Kind::Prospect => return Vec::new(),
    };
    let mut days = Vec::new();
    let mut d = from + rng.below(u64::from(gap)) as u32;
    while d <= to {
        days.push(d);
        d += 1 + rng.below(u64::from(gap) * 2) as u32;
    }
    days
}

/// The chance a member of `kind` redeems an offer (percent offers a little more often).
fn redeem_chance(kind: Kind, incentive: Incentive) -> f64 {
    let base = match kind {
        Kind::Regular => 0.7,
        Kind::Occasional => 0.35,
        Kind::Lapsed => 0.05,
        Kind::Newcomer => 0.4,
        Kind::Prospect => 0.1,
    };
    base + if incentive == Incentive::Percent {
        0.1
    } else {
        0.0
    }
}

/// A population: `per_kind` members of each kind, with allocations of `percent` and
/// `fixed` pools every 60 days and their outcomes.
pub fn population(seed: u64, per_kind: usize) -> (MemberData, Vec<Kind>) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let kinds = [
        Kind::Regular,
        Kind::Occasional,
        Kind::Lapsed,
        Kind::Newcomer,
        Kind::Prospect,
    ];
    let mut data = MemberData::default();
    let mut who = Vec::new();
    for i in 0..per_kind * kinds.len() {
        let kind = kinds[i % kinds.len()];
        let m = u32::try_from(data.members.len()).unwrap();
        data.members.push(format!("{:064x}", i + 1));
        who.push(kind);
        for d in visits(&mut rng, kind) {
            let gross = 2_000 + rng.below(8_000) as i64 * if kind == Kind::Regular { 3 } else { 1 };
            data.days.push(MemberDay {
                member: m,
                day: d,
                visits: 1,
                allocated: 0,
                gross,
                discount: gross / 10,
                points: 0,
            });
        }
        data.stores
            .push((m, format!("store-{}", i % 3), 1 + i as i64 % 4));
        allocate(&mut rng, &mut data, m, kind);
    }
    data.days.sort_by_key(|d| (d.member, d.day));
    (data, who)
}

fn allocate(rng: &mut Rng, data: &mut MemberData, m: u32, kind: Kind) {
    for (k, day) in (AS_OF - 330..AS_OF).step_by(60).enumerate() {
        let (pool, incentive) = if k % 2 == 0 {
            ("percent", Incentive::Percent)
        } else {
            ("fixed", Incentive::Fixed)
        };
        let active = kind != Kind::Newcomer || day >= AS_OF - 6;
        if !active {
            continue;
        }
        let p = if kind == Kind::Lapsed && day < AS_OF - 200 {
            0.6
        } else {
            redeem_chance(kind, incentive)
        };
        let redeemed_day = rng.chance(p).then(|| day + rng.below(20) as u32);
        data.outcomes.push(AllocationOutcome {
            member: m,
            pool: format!("{pool}-{k}"),
            day,
            redeemed_day,
        });
    }
}

/// The pools' offers: `percent-0`, `fixed-1`, … `fixed-5`.
pub fn offers() -> BTreeMap<String, Offer> {
    (0..6)
        .map(|k| {
            let offer = if k % 2 == 0 {
                Offer {
                    incentive: Incentive::Percent,
                    depth_bps: 1_500,
                    min_spend: false,
                }
            } else {
                Offer {
                    incentive: Incentive::Fixed,
                    depth_bps: 800,
                    min_spend: true,
                }
            };
            (format!("{}-{k}", offer.incentive.name()), offer)
        })
        .collect()
}
