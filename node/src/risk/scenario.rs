//! A labelled scenario generator and the evaluation of a scoring configuration on it
//! (issue 20, "Done when"): three days of honest traffic at eight stores in five cities,
//! with injected abuse of five kinds, every observation labelled with the incident it
//! belongs to, if any; then the precision and recall of the engine's flags.
//!
//! **Honest traffic.** Members allocate coupons and redeem them minutes to days later at
//! their home store or another in their city, during opening hours; a few mistype a code
//! first (a `not_found` attempt); families redeem two or three coupons in one visit; one
//! store has a lunchtime rush (dozens of redemptions in minutes over its terminals).
//!
//! **Abuse.** *Enumeration*: a terminal tries 25 unknown codes in three minutes. *Bot*: a
//! member allocates coupons and redeems each within two seconds. *Leaked code*: a coupon
//! allocated to one member is tried by others (`wrong_member`) and then redeemed.
//! *Impossible travel*: a member redeems in Berlin and half an hour later in Paris.
//! *Colluding terminal*: a terminal redeems six to eight coupons for one member within two
//! hours, some after closing.
//!
//! **Measures.** A flag is an assessment at or above the review threshold. *Recall* per
//! kind: the share of its incidents with at least one flagged observation. *Precision*
//! per kind: the share of flags attributed to the kind (by the hold reason of their
//! largest-weight rule) that fall on an observation of an incident of that kind; overall,
//! the share of all flags that fall on any incident. Seeds are independent: the defaults
//! were set on seeds 1 to 10, and the figures in docs/intelligence.md are from the
//! held-out seeds 100 to 119.

use super::config::{RiskConfig, StoreInfo};
use super::engine::{ANOMALY, Assessment, Engine, Observation, Seen, Verdict};
use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::ids::{MemberId, PoolId, PublicKey, StoreId, TokenId};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::risk::HoldReason;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// The scenario's first instant: 2026-01-05 00:00 UTC, a Monday.
const START: u64 = 1_767_571_200_000;
const DAYS: u64 = 3;
const MEMBERS: u64 = 600;
const TERMINALS_PER_STORE: usize = 3;
/// Incidents of each kind per scenario.
const INCIDENTS: u32 = 3;

/// The kinds of abuse the generator injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Abuse {
    /// Code enumeration at a terminal.
    Enumeration,
    /// A bot redeeming as soon as it allocates.
    Bot,
    /// A code used by people it was not meant for.
    LeakedCode,
    /// One member at two distant stores too quickly.
    ImpossibleTravel,
    /// A terminal redeeming for one member again and again.
    ColludingTerminal,
}

impl Abuse {
    /// Every kind.
    pub const ALL: [Abuse; 5] = [
        Abuse::Enumeration,
        Abuse::Bot,
        Abuse::LeakedCode,
        Abuse::ImpossibleTravel,
        Abuse::ColludingTerminal,
    ];

    /// The kind a flag is attributed to, from its hold reason.
    fn of(reason: HoldReason) -> Option<Abuse> {
        match reason {
            HoldReason::Enumeration => Some(Abuse::Enumeration),
            HoldReason::Bot => Some(Abuse::Bot),
            HoldReason::Leakage => Some(Abuse::LeakedCode),
            HoldReason::ImpossibleTravel => Some(Abuse::ImpossibleTravel),
            HoldReason::Collusion => Some(Abuse::ColludingTerminal),
            _ => None,
        }
    }
}

/// An observation and the incident it belongs to (`None`: honest).
#[derive(Clone, Debug)]
pub struct Labelled {
    /// What the engine is shown.
    pub observation: Observation,
    /// The abuse kind and incident number.
    pub incident: Option<(Abuse, u32)>,
}

/// A generated scenario: the stores' configuration and the observations in log order.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The default configuration with the scenario's stores.
    pub config: RiskConfig,
    /// In time order.
    pub events: Vec<Labelled>,
}

/// The figures of one abuse kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindScore {
    /// Incidents injected.
    pub incidents: u32,
    /// Incidents with a flagged observation.
    pub detected: u32,
    /// Flags attributed to the kind.
    pub flags: u32,
    /// Of those, on an observation of an incident of the kind.
    pub correct: u32,
}

/// Precision and recall of a configuration on scenarios.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// Per kind.
    pub kinds: BTreeMap<Abuse, KindScore>,
    /// Every flag.
    pub flags: u32,
    /// Flags on an honest observation.
    pub false_flags: u32,
    /// Observations scored.
    pub scored: u32,
    /// Flags the anomaly model alone raised (the other rules' weights below `review_at`)
    /// on honest observations.
    pub anomaly_only_false: u32,
    /// Flags the anomaly model alone raised on observations of an incident.
    pub anomaly_only_true: u32,
}

impl Evaluation {
    /// Adds another scenario's figures.
    pub fn merge(&mut self, other: &Evaluation) {
        for (k, s) in &other.kinds {
            let e = self.kinds.entry(*k).or_default();
            e.incidents += s.incidents;
            e.detected += s.detected;
            e.flags += s.flags;
            e.correct += s.correct;
        }
        self.flags += other.flags;
        self.false_flags += other.false_flags;
        self.scored += other.scored;
        self.anomaly_only_false += other.anomaly_only_false;
        self.anomaly_only_true += other.anomaly_only_true;
    }

    /// Share of all flags that fall on an incident, per mille.
    pub fn precision(&self) -> u32 {
        permille(self.flags - self.false_flags, self.flags)
    }

    /// The same, for the flags the rules raise (leaving out those of the anomaly alone).
    pub fn rules_precision(&self) -> u32 {
        let alone = self.anomaly_only_false + self.anomaly_only_true;
        let false_flags = self.false_flags - self.anomaly_only_false;
        permille(self.flags - alone - false_flags, self.flags - alone)
    }
}

impl KindScore {
    /// Share of incidents detected, per mille.
    pub fn recall(&self) -> u32 {
        permille(self.detected, self.incidents)
    }

    /// Share of the kind's flags that are right, per mille.
    pub fn precision(&self) -> u32 {
        permille(self.correct, self.flags)
    }
}

/// `a / b` in thousandths, rounded down (1,000 when there is nothing to divide).
fn permille(a: u32, b: u32) -> u32 {
    if b == 0 {
        1_000
    } else {
        (u64::from(a) * 1_000 / u64::from(b)) as u32
    }
}

/// Whether only the anomaly model's reason brought `a` to review: the other rules'
/// weights stay below `review_at`.
fn anomaly_alone(config: &RiskConfig, a: &Assessment) -> bool {
    let others: u32 = a
        .reasons
        .iter()
        .filter(|r| r.rule != ANOMALY)
        .map(|r| u32::from(r.weight))
        .sum();
    others < u32::from(config.review_at)
}

/// Scores `scenario` with `config` and measures the flags.
pub fn evaluate(scenario: &Scenario, config: &RiskConfig) -> Evaluation {
    let mut engine = Engine::default();
    let mut eval = Evaluation::default();
    let mut detected = BTreeSet::new();
    for l in &scenario.events {
        let Some(a) = engine.observe(config, &l.observation) else {
            continue;
        };
        eval.scored += 1;
        if a.verdict == Verdict::Pass {
            continue;
        }
        eval.flags += 1;
        if anomaly_alone(config, &a) {
            if l.incident.is_some() {
                eval.anomaly_only_true += 1;
            } else {
                eval.anomaly_only_false += 1;
            }
        }
        if let Some(incident) = l.incident {
            detected.insert(incident);
        } else {
            eval.false_flags += 1;
        }
        if let Some(kind) = a.subject.and_then(|(_, why)| Abuse::of(why)) {
            let k = eval.kinds.entry(kind).or_default();
            k.flags += 1;
            k.correct += u32::from(l.incident.is_some_and(|(t, _)| t == kind));
        }
    }
    let incidents: BTreeSet<_> = scenario.events.iter().filter_map(|l| l.incident).collect();
    for (kind, n) in incidents {
        let k = eval.kinds.entry(kind).or_default();
        k.incidents += 1;
        k.detected += u32::from(detected.contains(&(kind, n)));
    }
    eval
}

/// The stores: (id, latitude, longitude, UTC offset) in five cities.
const STORES: [(&str, i32, i32, i16); 8] = [
    ("berlin-1", 52_520_000, 13_405_000, 60),
    ("berlin-2", 52_500_000, 13_300_000, 60),
    ("hamburg-1", 53_551_000, 9_993_000, 60),
    ("munich-1", 48_137_000, 11_575_000, 60),
    ("paris-1", 48_856_600, 2_352_200, 60),
    ("paris-2", 48_870_000, 2_330_000, 60),
    ("vienna-1", 48_208_000, 16_373_000, 60),
    ("amsterdam-1", 52_370_000, 4_895_000, 60),
];

fn store(i: usize) -> StoreId {
    StoreId::new(STORES[i].0).expect("a store id")
}

/// Stores in the same city as store `i` (itself included).
fn city_of(i: usize) -> Vec<usize> {
    let city = STORES[i].0.split('-').next();
    (0..STORES.len())
        .filter(|j| STORES[*j].0.split('-').next() == city)
        .collect()
}

fn terminal(store: usize, n: usize) -> PublicKey {
    let mut key = [0u8; 32];
    key[0] = 0x7e;
    key[1] = store as u8;
    key[2] = n as u8;
    PublicKey(key)
}

fn member(n: u64) -> MemberId {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    MemberId(id)
}

/// The default configuration with the scenario's stores, open 08:00 to 21:00.
pub fn scenario_config() -> RiskConfig {
    let mut config = RiskConfig::default();
    for (i, (_, lat, lon, offset)) in STORES.iter().enumerate() {
        config.stores.insert(
            store(i),
            StoreInfo {
                lat_e6: *lat,
                lon_e6: *lon,
                opens_min: Some(8 * 60),
                closes_min: Some(21 * 60),
                utc_offset_min: *offset,
            },
        );
    }
    config
}

/// Builds observations; keeps the coupon counter and the issuer key.
struct Builder {
    rng: StdRng,
    events: Vec<(u64, u64, Labelled)>,
    serial: u64,
    seq: u64,
}

impl Builder {
    fn push(&mut self, observation: Observation, incident: Option<(Abuse, u32)>) {
        self.seq += 1;
        let key = (observation.time_ms, self.seq);
        self.events.push((
            key.0,
            key.1,
            Labelled {
                observation,
                incident,
            },
        ));
    }

    /// A new coupon: its token and code hash.
    fn coupon(&mut self) -> (TokenId, couponcactus_chaincode::ids::CodeHash) {
        self.serial += 1;
        let token = TokenId {
            pool: PoolId::new("spring").expect("a pool id"),
            serial: self.serial,
        };
        (token, code_hash(&format!("SPRING-{:08}", self.serial)))
    }

    fn allocate(
        &mut self,
        time_ms: u64,
        m: MemberId,
        incident: Option<(Abuse, u32)>,
    ) -> (TokenId, couponcactus_chaincode::ids::CodeHash) {
        let (token, code) = self.coupon();
        let o = Observation {
            time_ms,
            seen: Seen::Allocated,
            token: Some(token.clone()),
            code: None,
            member: Some(m),
            terminal: PublicKey([0x15; 32]),
            store: None,
        };
        self.push(o, incident);
        (token, code)
    }

    #[allow(clippy::too_many_arguments)]
    fn redeem(
        &mut self,
        time_ms: u64,
        (token, code): (&TokenId, couponcactus_chaincode::ids::CodeHash),
        m: MemberId,
        (s, t): (usize, usize),
        seen: Seen,
        incident: Option<(Abuse, u32)>,
    ) {
        let o = Observation {
            time_ms,
            seen,
            token: Some(token.clone()),
            code: Some(code),
            member: Some(m),
            terminal: terminal(s, t),
            store: Some(store(s)),
        };
        self.push(o, incident);
    }

    /// A time during opening hours on a day of the scenario.
    fn any_open_time(&mut self) -> u64 {
        let day = self.rng.gen_range(0..DAYS);
        self.open_time(day)
    }

    /// A time during opening hours (09:00–20:00 local) on `day`.
    fn open_time(&mut self, day: u64) -> u64 {
        START + day * DAY + 8 * HOUR + self.rng.gen_range(0..11 * HOUR)
    }
}

/// A scenario for `seed`.
pub fn generate(seed: u64) -> Scenario {
    let mut b = Builder {
        rng: StdRng::seed_from_u64(seed),
        events: Vec::new(),
        serial: 0,
        seq: 0,
    };
    honest(&mut b);
    rush(&mut b);
    for n in 0..INCIDENTS {
        enumeration(&mut b, n);
        bot(&mut b, n);
        leaked(&mut b, n);
        travel(&mut b, n);
        collusion(&mut b, n);
    }
    b.events.sort_by_key(|(t, s, _)| (*t, *s));
    Scenario {
        config: scenario_config(),
        events: b.events.into_iter().map(|(_, _, l)| l).collect(),
    }
}

fn honest(b: &mut Builder) {
    for n in 0..MEMBERS {
        let m = member(n);
        let home = b.rng.gen_range(0..STORES.len());
        let visits = b.rng.gen_range(0..6);
        for _ in 0..visits {
            let day = b.rng.gen_range(0..DAYS);
            let at = b.open_time(day);
            let city = city_of(home);
            let s = if b.rng.gen_bool(0.9) {
                home
            } else {
                city[b.rng.gen_range(0..city.len())]
            };
            let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
            let coupons = if b.rng.gen_bool(0.1) {
                b.rng.gen_range(2..4)
            } else {
                1
            };
            for c in 0..coupons {
                let allocated = at.saturating_sub(b.rng.gen_range(10 * MINUTE..2 * DAY));
                let coupon = b.allocate(allocated, m, None);
                let when = at + c * 20_000;
                if b.rng.gen_bool(0.03) {
                    let typo = code_hash(&format!("TYPO-{n}-{when}"));
                    let o = Observation {
                        time_ms: when - 15_000,
                        seen: Seen::Refused(RejectReason::NotFound),
                        token: None,
                        code: Some(typo),
                        member: Some(m),
                        terminal: terminal(s, t),
                        store: Some(store(s)),
                    };
                    b.push(o, None);
                }
                b.redeem(when, (&coupon.0, coupon.1), m, (s, t), Seen::Redeemed, None);
            }
        }
    }
}

/// A lunchtime rush at berlin-1: 45 honest redemptions in five minutes.
fn rush(b: &mut Builder) {
    let at = START + DAY + 11 * HOUR;
    for i in 0..45 {
        let m = member(10_000 + i);
        let coupon = b.allocate(at - DAY, m, None);
        let when = at + b.rng.gen_range(0..5 * MINUTE);
        let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
        b.redeem(when, (&coupon.0, coupon.1), m, (0, t), Seen::Redeemed, None);
    }
}

fn enumeration(b: &mut Builder, n: u32) {
    let label = Some((Abuse::Enumeration, n));
    let s = b.rng.gen_range(0..STORES.len());
    let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
    let at = b.any_open_time();
    for i in 0..25u64 {
        let o = Observation {
            time_ms: at + i * 7_000,
            seen: Seen::Refused(RejectReason::NotFound),
            token: None,
            code: Some(code_hash(&format!("GUESS-{n}-{i}-{at}"))),
            member: None,
            terminal: terminal(s, t),
            store: Some(store(s)),
        };
        b.push(o, label);
    }
}

fn bot(b: &mut Builder, n: u32) {
    let label = Some((Abuse::Bot, n));
    let m = member(20_000 + u64::from(n));
    let s = b.rng.gen_range(0..STORES.len());
    let at = b.any_open_time();
    for i in 0..5u64 {
        let t0 = at + i * 10 * MINUTE;
        let coupon = b.allocate(t0, m, label);
        let latency = b.rng.gen_range(500..2_000);
        let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
        b.redeem(
            t0 + latency,
            (&coupon.0, coupon.1),
            m,
            (s, t),
            Seen::Redeemed,
            label,
        );
    }
}

fn leaked(b: &mut Builder, n: u32) {
    let label = Some((Abuse::LeakedCode, n));
    let owner = member(30_000 + u64::from(n));
    let at = b.any_open_time();
    let coupon = b.allocate(at - DAY, owner, None);
    let s = b.rng.gen_range(0..STORES.len());
    for i in 0..b.rng.gen_range(2..4u64) {
        let other = member(31_000 + u64::from(n) * 10 + i);
        let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
        let when = at + i * 4 * MINUTE;
        let seen = Seen::Refused(RejectReason::WrongMember);
        b.redeem(when, (&coupon.0, coupon.1), other, (s, t), seen, label);
    }
    let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
    b.redeem(
        at + 20 * MINUTE,
        (&coupon.0, coupon.1),
        owner,
        (s, t),
        Seen::Redeemed,
        label,
    );
}

fn travel(b: &mut Builder, n: u32) {
    let m = member(40_000 + u64::from(n));
    let at = b.any_open_time().min(START + 19 * HOUR + 2 * DAY);
    let first = b.allocate(at - DAY, m, None);
    b.redeem(at, (&first.0, first.1), m, (0, 0), Seen::Redeemed, None);
    let second = b.allocate(at - DAY, m, None);
    let later = at + b.rng.gen_range(30 * MINUTE..90 * MINUTE);
    let label = Some((Abuse::ImpossibleTravel, n));
    b.redeem(
        later,
        (&second.0, second.1),
        m,
        (4, 1),
        Seen::Redeemed,
        label,
    );
}

fn collusion(b: &mut Builder, n: u32) {
    let label = Some((Abuse::ColludingTerminal, n));
    let m = member(50_000 + u64::from(n));
    let s = b.rng.gen_range(0..STORES.len());
    let t = b.rng.gen_range(0..TERMINALS_PER_STORE);
    // From an hour before closing (20:00 UTC is 21:00 local) into the closed hours.
    let at = START + b.rng.gen_range(0..DAYS) * DAY + 19 * HOUR;
    for i in 0..b.rng.gen_range(6..9u64) {
        let coupon = b.allocate(at - DAY, m, None);
        let when = at + i * 15 * MINUTE;
        b.redeem(
            when,
            (&coupon.0, coupon.1),
            m,
            (s, t),
            Seen::Redeemed,
            label,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures over `seeds`, with the anomaly model or without it.
    fn figures(seeds: std::ops::Range<u64>, anomaly: bool) -> Evaluation {
        let mut total = Evaluation::default();
        for seed in seeds {
            let s = generate(seed);
            let mut config = s.config.clone();
            if !anomaly {
                config.rules.anomaly.weight = 0;
            }
            total.merge(&evaluate(&s, &config));
        }
        total
    }

    fn print(title: &str, total: &Evaluation) {
        println!("{title}");
        println!("kind                incidents detected recall‰ flags precision‰");
        for (kind, k) in &total.kinds {
            println!(
                "{:<19} {:>9} {:>8} {:>7} {:>5} {:>10}",
                format!("{kind:?}"),
                k.incidents,
                k.detected,
                k.recall(),
                k.flags,
                k.precision()
            );
        }
        println!(
            "all flags {} (false {}), precision {}‰ (the rules' flags: {}‰), scored {}; \
             by the anomaly alone: {} honest, {} on incidents",
            total.flags,
            total.false_flags,
            total.precision(),
            total.rules_precision(),
            total.scored,
            total.anomaly_only_false,
            total.anomaly_only_true
        );
    }

    /// Every kind found every time, and the rules' flags' precision at least 0.95.
    fn assert_targets(total: &Evaluation) {
        for kind in Abuse::ALL {
            let k = &total.kinds[&kind];
            assert_eq!(k.incidents, 60, "{kind:?}");
            assert_eq!(k.recall(), 1_000, "{kind:?}: recall {}‰", k.recall());
            assert!(
                k.precision() >= 800,
                "{kind:?}: precision {}‰",
                k.precision()
            );
        }
        let p = total.rules_precision();
        assert!(p >= 950, "precision {p}‰");
    }

    #[test]
    fn a_scenario_is_a_function_of_its_seed() {
        let (a, b) = (generate(7), generate(7));
        assert_eq!(a.events.len(), b.events.len());
        let same = a
            .events
            .iter()
            .zip(&b.events)
            .all(|(x, y)| x.observation == y.observation && x.incident == y.incident);
        assert!(same);
        assert!(generate(8).events.len() != a.events.len() || !same);
        assert_eq!(evaluate(&a, &a.config), evaluate(&b, &b.config));
    }

    /// The figures docs/intelligence.md reports (held-out seeds 100 to 119); prints the
    /// table with `--no-capture`.
    #[test]
    fn held_out_seeds_meet_the_recall_and_precision_targets() {
        let rules = figures(100..120, false);
        let with = figures(100..120, true);
        print("rules alone (rules.anomaly.weight = 0):", &rules);
        print("rules and the anomaly model (the defaults):", &with);
        assert_targets(&rules);
        assert_targets(&with);
        assert_eq!(rules.anomaly_only_false + rules.anomaly_only_true, 0);
        // The model only adds flags: whatever the rules flag alone is still flagged.
        assert_eq!(rules.rules_precision(), with.rules_precision());
        assert_eq!(
            with.flags - with.anomaly_only_false - with.anomaly_only_true,
            rules.flags
        );
        // What it adds on honest traffic stays under 0.2 % of the observations scored.
        assert!(with.anomaly_only_false * 500 <= with.scored, "{with:?}");
        for kind in Abuse::ALL {
            assert!(with.kinds[&kind].detected >= rules.kinds[&kind].detected);
        }
    }

    #[test]
    fn with_every_rule_off_nothing_is_flagged() {
        let s = generate(3);
        let mut config = s.config.clone();
        for rule in [
            &mut config.rules.member_per_hour,
            &mut config.rules.terminal_per_minute,
            &mut config.rules.store_per_minute,
            &mut config.rules.code_attempts,
            &mut config.rules.failed_validations,
            &mut config.rules.bot_latency_ms,
            &mut config.rules.travel_kmh,
            &mut config.rules.leaked_attempts,
            &mut config.rules.same_member_at_terminal,
            &mut config.rules.off_hours,
            &mut config.rules.canary,
            &mut config.rules.anomaly,
        ] {
            rule.weight = 0;
        }
        let e = evaluate(&s, &config);
        assert_eq!(e.flags, 0);
        assert!(Abuse::ALL.iter().all(|k| e.kinds[k].detected == 0));
    }
}
