//! The scoring engine: a pure function of the redemptions, attempts, allocations and
//! rollbacks it is shown, in log order, and of the org's [`RiskConfig`].
//!
//! Each redemption and each refused redemption attempt gets a score from 0 to 100: the
//! sum of the weights of the rules it trips (capped at 100), each tripped rule a
//! [`Reason`] `{rule, observed, threshold, weight}` an analyst can check against the
//! ledger, and the hold it suggests (what to stop and why: the tripped rule of largest
//! weight decides). Time is the block time of what it is shown, never the clock; the same
//! observations in the same order give the same assessments, which is what makes a
//! backtest over past blocks equal to live scoring.
//!
//! Memory is bounded: every window keeps at most what its rule needs, and subjects idle
//! for longer than the longest window ([`HORIZON_MS`]) are forgotten at most every
//! minute of block time ([`Engine::prune`]); [`MAX_SUBJECTS`] caps each map, the least
//! recently seen going first.

use super::anomaly::{Anomaly, Signals, Subjects};
use super::config::{RiskConfig, Rule};
use bincode::{Decode, Encode};
use couponcactus_chaincode::ids::{CodeHash, MemberId, PublicKey, StoreId, TokenId};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::risk::{HoldReason, HoldTarget};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;
/// The longest window a rule looks back: a day.
pub const HORIZON_MS: u64 = DAY_MS;
/// Most subjects (members, terminals, stores, codes, tokens) each map keeps.
pub const MAX_SUBJECTS: usize = 200_000;
const CODE_WINDOW_MS: u64 = 10 * MINUTE_MS;
const FAILURE_WINDOW_MS: u64 = 5 * MINUTE_MS;
/// Redemptions of one member at one terminal this close together are one visit.
const VISIT_MS: u64 = 5 * MINUTE_MS;

/// What the engine is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seen {
    /// A coupon redeemed (a redemption or a checkout's coupon).
    Redeemed,
    /// A redemption refused, with the chain's reason.
    Refused(RejectReason),
    /// A coupon allocated to `member`.
    Allocated,
    /// A redemption rolled back.
    RolledBack,
    /// An org admin confirmed a hold on this subject: a label, fraud.
    HoldConfirmed(HoldTarget),
    /// An org admin lifted a hold on this subject while it was pending review: a label,
    /// not fraud.
    HoldLifted(HoldTarget),
}

/// One thing that happened, reduced to what scoring reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Block time.
    pub time_ms: u64,
    /// What.
    pub seen: Seen,
    /// The coupon, when the chain knows it.
    pub token: Option<TokenId>,
    /// The code tried, when the attempt named one (by its hash).
    pub code: Option<CodeHash>,
    /// The member.
    pub member: Option<MemberId>,
    /// The signing key (the terminal, for redemptions).
    pub terminal: PublicKey,
    /// The terminal's store.
    pub store: Option<StoreId>,
}

/// One tripped rule: what was seen against what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule's name (as in the configuration).
    pub rule: String,
    /// What was observed (a count, ms, km/h).
    pub observed: u64,
    /// The rule's limit.
    pub threshold: u64,
    /// Points it added.
    pub weight: u8,
}

/// What the org does with an assessment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Below the review threshold.
    Pass,
    /// To the review queue.
    Review,
    /// Hold the subject (pending review); in shadow mode, review only.
    Hold,
}

/// A scored redemption or attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// 0 to 100.
    pub score: u8,
    /// The tripped rules, largest weight first.
    pub reasons: Vec<Reason>,
    /// What to hold, and why (from the largest-weight reason).
    pub subject: Option<(HoldTarget, HoldReason)>,
    /// Pass, review or hold.
    pub verdict: Verdict,
}

/// Times of one subject, oldest first, at most `cap`.
#[derive(Clone, Debug, Default, Encode, Decode)]
struct Times(VecDeque<u64>);

impl Times {
    fn push(&mut self, t: u64, window_ms: u64, cap: usize) {
        while self.0.front().is_some_and(|f| f + window_ms <= t) || self.0.len() >= cap.max(1) {
            self.0.pop_front();
        }
        self.0.push_back(t);
    }

    fn within(&self, t: u64, window_ms: u64) -> u64 {
        self.0.iter().filter(|x| *x + window_ms > t).count() as u64
    }

    fn last(&self) -> Option<u64> {
        self.0.back().copied()
    }
}

/// A map of subjects to what the engine remembers of them, bounded.
#[derive(Clone, Debug, Encode, Decode)]
struct Memory<K: Ord, V> {
    entries: BTreeMap<K, (u64, V)>,
}

impl<K: Ord + Clone, V: Default> Memory<K, V> {
    fn new() -> Self {
        Memory {
            entries: BTreeMap::new(),
        }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.entries.get(k).map(|(_, v)| v)
    }

    fn touch(&mut self, k: &K, now: u64) -> &mut V {
        if !self.entries.contains_key(k) && self.entries.len() >= MAX_SUBJECTS {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (seen, _))| *seen)
                .map(|(k, _)| k.clone());
            if let Some(o) = oldest {
                self.entries.remove(&o);
            }
        }
        let entry = self.entries.entry(k.clone()).or_insert((now, V::default()));
        entry.0 = now;
        &mut entry.1
    }

    fn prune(&mut self, now: u64) {
        self.entries.retain(|_, (seen, _)| *seen + HORIZON_MS > now);
    }
}

/// A member's recent redemptions and where the last one was.
#[derive(Clone, Debug, Default, Encode, Decode)]
struct MemberMemory {
    redeemed: Times,
    last_at: Option<(u64, StoreId)>,
}

/// A terminal's recent redemptions, failures and members served today.
#[derive(Clone, Debug, Default, Encode, Decode)]
struct TerminalMemory {
    redeemed: Times,
    failed: Times,
    by_member: BTreeMap<MemberId, Times>,
}

/// A code's recent attempts and refusals that point to a leak (in the last day).
#[derive(Clone, Debug, Default, Encode, Decode)]
struct CodeMemory {
    attempts: Times,
    leaks: Times,
}

/// The engine's memory, saved with the node's scoring cursor (bincode: its keys are
/// not all strings). Shown the last [`HORIZON_MS`] of the log again, a fresh engine
/// rebuilds the same rule windows (tested); the anomaly model's memory ([`Anomaly`]:
/// its reservoir, model and labels) depends on more of the log, so a backtest starts
/// from the log's start, and a restarted node from its saved engine.
#[derive(Clone, Debug, Encode, Decode)]
pub struct Engine {
    members: Memory<MemberId, MemberMemory>,
    terminals: Memory<PublicKey, TerminalMemory>,
    stores: Memory<StoreId, Times>,
    codes: Memory<String, CodeMemory>,
    allocated: Memory<TokenId, u64>,
    pruned_at: u64,
    anomaly: Anomaly,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            members: Memory::new(),
            terminals: Memory::new(),
            stores: Memory::new(),
            codes: Memory::new(),
            allocated: Memory::new(),
            pruned_at: 0,
            anomaly: Anomaly::default(),
        }
    }
}

/// Most times one window keeps.
const MAX_KEPT: usize = 4_096;

/// How many times a window keeps for `rule`: enough to report a burst of up to four times
/// its limit as observed (one keeping `limit + 1` would report every burst as `limit + 1`),
/// at most [`MAX_KEPT`]; a rule fires on `limit + 1`, which any of these keeps.
fn keep(rule: Rule) -> usize {
    (rule.limit as usize)
        .saturating_add(1)
        .saturating_mul(4)
        .min(MAX_KEPT)
}

/// Refusals that are failed validations (a guess, a stolen or spent code).
fn is_failed_validation(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::NotFound
            | RejectReason::WrongMember
            | RejectReason::TokenRevoked
            | RejectReason::AlreadyRedeemed
            | RejectReason::Expired
    )
}

/// Refusals that say a code travelled to someone or somewhere it was not meant for.
fn is_leak(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::WrongMember | RejectReason::StoreNotAllowed | RejectReason::ChannelNotAllowed
    )
}

/// The key a code's memory is kept under: its token, else its hash.
fn code_key(o: &Observation) -> Option<String> {
    match (&o.token, &o.code) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(h)) => Some(h.to_hex()),
        (None, None) => None,
    }
}

impl Engine {
    /// Shows the engine one observation; returns the assessment of a redemption or an
    /// attempt (nothing for allocations and rollbacks, which it only remembers).
    pub fn observe(&mut self, config: &RiskConfig, o: &Observation) -> Option<Assessment> {
        if o.time_ms >= self.pruned_at + MINUTE_MS {
            self.prune(o.time_ms);
        }
        match &o.seen {
            Seen::Allocated => {
                if let Some(t) = &o.token {
                    *self.allocated.touch(t, o.time_ms) = o.time_ms;
                }
                None
            }
            Seen::RolledBack => None,
            Seen::HoldConfirmed(target) => {
                self.anomaly.label(target, true);
                None
            }
            Seen::HoldLifted(target) => {
                self.anomaly.label(target, false);
                None
            }
            Seen::Redeemed | Seen::Refused(_) => {
                let mut reasons = Vec::new();
                self.score_code(config, o, &mut reasons);
                self.score_terminal(config, o, &mut reasons);
                self.score_member(config, o, &mut reasons);
                self.score_store(config, o, &mut reasons);
                self.score_anomaly(config, o, &mut reasons);
                Some(assess(config, reasons))
            }
        }
    }

    /// The anomaly model's memory (its labels, whether it is trained).
    pub fn anomaly(&self) -> &Anomaly {
        &self.anomaly
    }

    /// The anomaly model's reason: its score above the threshold in force. Off (and no
    /// model kept) when the rule's weight is 0.
    fn score_anomaly(&mut self, c: &RiskConfig, o: &Observation, out: &mut Vec<Found>) {
        let rule = c.rules.anomaly;
        if rule.weight == 0 {
            return;
        }
        let signals = self.signals(c, o);
        let subjects = Subjects::new(
            o.member.as_ref().map(|m| &m.0),
            &o.terminal.0,
            o.code.as_ref().map(|h| &h.0),
        );
        let limit = rule.limit.min(100) as u8;
        let Some(s) = self.anomaly.observe(limit, signals, subjects) else {
            return;
        };
        if s.score > s.threshold {
            let target = match o.member {
                Some(m) => HoldTarget::Member(m),
                None => HoldTarget::Terminal(o.terminal),
            };
            let (score, threshold) = (u64::from(s.score), u64::from(s.threshold));
            out.push(found(
                ANOMALY,
                score,
                threshold,
                rule,
                target,
                HoldReason::Other,
            ));
        }
    }

    /// What the windows hold about `o` after the rules updated them: the model's input.
    fn signals(&self, c: &RiskConfig, o: &Observation) -> Signals {
        let t = o.time_ms;
        let n = |x: u64| x.min(u64::from(u16::MAX)) as u16;
        let member = o.member.and_then(|m| self.members.get(&m));
        let terminal = self.terminals.get(&o.terminal);
        let code = code_key(o).and_then(|k| self.codes.get(&k));
        let visits = terminal
            .zip(o.member)
            .and_then(|(tm, m)| tm.by_member.get(&m))
            .map_or(0, |v| v.within(t, DAY_MS));
        let store = o.store.as_ref().and_then(|s| c.stores.get(s));
        let offset = store.map_or(0, |s| i64::from(s.utc_offset_min));
        let latency = match &o.token {
            Some(token) => self.allocated.get(token).map(|at| t.saturating_sub(*at)),
            None => None,
        };
        Signals {
            member_hour: n(member.map_or(0, |m| m.redeemed.within(t, HOUR_MS))),
            code_attempts: n(code.map_or(0, |m| m.attempts.within(t, CODE_WINDOW_MS))),
            failures: n(terminal.map_or(0, |m| m.failed.within(t, FAILURE_WINDOW_MS))),
            visits: n(visits),
            leaks: n(code.map_or(0, |m| m.leaks.within(t, DAY_MS))),
            latency_ms: latency.map(|l| l.min(u64::from(u32::MAX)) as u32),
            minute_of_day: ((t / MINUTE_MS) as i64 + offset).rem_euclid(1_440) as u16,
            refused: matches!(o.seen, Seen::Refused(_)),
            closed: store.is_some_and(|s| super::geo::closed_at(s, t)),
        }
    }

    /// Forgets subjects idle past the horizon.
    pub fn prune(&mut self, now: u64) {
        self.members.prune(now);
        self.terminals.prune(now);
        self.stores.prune(now);
        self.codes.prune(now);
        self.allocated.prune(now);
        self.pruned_at = now;
    }

    fn score_code(&mut self, c: &RiskConfig, o: &Observation, out: &mut Vec<Found>) {
        let r = &c.rules;
        if let Some(h) = &o.code
            && c.canaries.contains(h)
        {
            out.push(found(
                "canary",
                1,
                0,
                r.canary,
                HoldTarget::Code(*h),
                HoldReason::Canary,
            ));
        }
        let Some(key) = code_key(o) else { return };
        let target = code_target(o);
        let memory = self.codes.touch(&key, o.time_ms);
        let cap = keep(r.code_attempts);
        memory.attempts.push(o.time_ms, CODE_WINDOW_MS, cap);
        let attempts = memory.attempts.within(o.time_ms, CODE_WINDOW_MS);
        if let Some(t) = &target {
            fire_above(
                out,
                "code_attempts",
                attempts,
                r.code_attempts,
                t,
                HoldReason::Velocity,
            );
        }
        let leaks = memory.leaks.within(o.time_ms, DAY_MS);
        if let Seen::Refused(reason) = o.seen
            && is_leak(reason)
        {
            let cap = keep(r.leaked_attempts);
            memory.leaks.push(o.time_ms, DAY_MS, cap);
        }
        if let (Seen::Redeemed, Some(t)) = (&o.seen, &target)
            && leaks > r.leaked_attempts.limit
        {
            let rule = r.leaked_attempts;
            out.push(found(
                "leaked_attempts",
                leaks,
                rule.limit,
                rule,
                t.clone(),
                HoldReason::Leakage,
            ));
        }
        if let (Seen::Redeemed, Some(token)) = (&o.seen, &o.token)
            && let Some(at) = self.allocated.get(token)
        {
            let latency = o.time_ms.saturating_sub(*at);
            let rule = r.bot_latency_ms;
            if rule.weight > 0
                && latency < rule.limit
                && let Some(m) = o.member
            {
                out.push(found(
                    "bot_latency_ms",
                    latency,
                    rule.limit,
                    rule,
                    HoldTarget::Member(m),
                    HoldReason::Bot,
                ));
            }
        }
    }

    fn score_terminal(&mut self, c: &RiskConfig, o: &Observation, out: &mut Vec<Found>) {
        let r = &c.rules;
        let target = HoldTarget::Terminal(o.terminal);
        let memory = self.terminals.touch(&o.terminal, o.time_ms);
        match o.seen {
            Seen::Refused(reason) if is_failed_validation(reason) => {
                let cap = keep(r.failed_validations);
                memory.failed.push(o.time_ms, FAILURE_WINDOW_MS, cap);
                let failed = memory.failed.within(o.time_ms, FAILURE_WINDOW_MS);
                fire_above(
                    out,
                    "failed_validations",
                    failed,
                    r.failed_validations,
                    &target,
                    HoldReason::Enumeration,
                );
            }
            Seen::Redeemed => {
                let cap = keep(r.terminal_per_minute);
                memory.redeemed.push(o.time_ms, MINUTE_MS, cap);
                let n = memory.redeemed.within(o.time_ms, MINUTE_MS);
                fire_above(
                    out,
                    "terminal_per_minute",
                    n,
                    r.terminal_per_minute,
                    &target,
                    HoldReason::Velocity,
                );
                if let Some(m) = o.member {
                    // Visits, not coupons: redemptions within VISIT_MS of the last one are
                    // one visit (a family's coupons at one till).
                    let cap = keep(r.same_member_at_terminal);
                    let times = memory.by_member.entry(m).or_default();
                    if times.last().is_none_or(|l| l + VISIT_MS <= o.time_ms) {
                        times.push(o.time_ms, DAY_MS, cap);
                    }
                    let n = times.within(o.time_ms, DAY_MS);
                    fire_above(
                        out,
                        "same_member_at_terminal",
                        n,
                        r.same_member_at_terminal,
                        &target,
                        HoldReason::Collusion,
                    );
                    memory
                        .by_member
                        .retain(|_, t| t.last().is_some_and(|l| l + DAY_MS > o.time_ms));
                }
                if let Some(store) = &o.store
                    && let Some(info) = c.stores.get(store)
                    && r.off_hours.weight > 0
                    && super::geo::closed_at(info, o.time_ms)
                {
                    out.push(found(
                        "off_hours",
                        1,
                        0,
                        r.off_hours,
                        target,
                        HoldReason::Collusion,
                    ));
                }
            }
            _ => {}
        }
    }

    fn score_member(&mut self, c: &RiskConfig, o: &Observation, out: &mut Vec<Found>) {
        let (Seen::Redeemed, Some(m)) = (&o.seen, o.member) else {
            return;
        };
        let r = &c.rules;
        let target = HoldTarget::Member(m);
        let memory = self.members.touch(&m, o.time_ms);
        let cap = keep(r.member_per_hour);
        memory.redeemed.push(o.time_ms, HOUR_MS, cap);
        let n = memory.redeemed.within(o.time_ms, HOUR_MS);
        fire_above(
            out,
            "member_per_hour",
            n,
            r.member_per_hour,
            &target,
            HoldReason::Velocity,
        );
        if let Some(store) = &o.store {
            if let Some((then, from)) = &memory.last_at
                && then + DAY_MS > o.time_ms
                && let Some(kmh) = super::geo::speed_kmh(c, (from, *then), (store, o.time_ms))
            {
                fire_above(
                    out,
                    "travel_kmh",
                    kmh,
                    r.travel_kmh,
                    &target,
                    HoldReason::ImpossibleTravel,
                );
            }
            memory.last_at = Some((o.time_ms, store.clone()));
        }
    }

    fn score_store(&mut self, c: &RiskConfig, o: &Observation, out: &mut Vec<Found>) {
        let (Seen::Redeemed, Some(store)) = (&o.seen, &o.store) else {
            return;
        };
        let r = &c.rules;
        let cap = keep(r.store_per_minute);
        let times = self.stores.touch(store, o.time_ms);
        times.push(o.time_ms, MINUTE_MS, cap);
        let n = times.within(o.time_ms, MINUTE_MS);
        let target = HoldTarget::Terminal(o.terminal);
        fire_above(
            out,
            "store_per_minute",
            n,
            r.store_per_minute,
            &target,
            HoldReason::Velocity,
        );
    }
}

/// What a code's hold stops: its hash when the attempt named one (a token's code hash is
/// not in the event; a token-only attempt has no code target).
fn code_target(o: &Observation) -> Option<HoldTarget> {
    o.code.map(HoldTarget::Code)
}

/// A tripped rule with what it suggests holding.
struct Found {
    reason: Reason,
    target: HoldTarget,
    why: HoldReason,
}

fn found(
    rule: &str,
    observed: u64,
    threshold: u64,
    r: Rule,
    target: HoldTarget,
    why: HoldReason,
) -> Found {
    Found {
        reason: Reason {
            rule: rule.to_string(),
            observed,
            threshold,
            weight: r.weight,
        },
        target,
        why,
    }
}

/// Fires `rule` when `observed` is above its limit (and its weight is not 0).
fn fire_above(
    out: &mut Vec<Found>,
    name: &str,
    observed: u64,
    rule: Rule,
    target: &HoldTarget,
    why: HoldReason,
) {
    if rule.weight > 0 && observed > rule.limit {
        out.push(found(name, observed, rule.limit, rule, target.clone(), why));
    }
}

/// The anomaly model's rule name.
pub const ANOMALY: &str = "anomaly";

/// The score, verdict and subject of the tripped rules. **The anomaly never holds
/// alone**: the score counts its weight, but `hold` needs the other rules' weights alone
/// to reach `hold_at`; a score that reaches it only with the anomaly is capped at
/// `review`. The subject is the largest-weight rule's other than the anomaly (the
/// anomaly's only when it tripped alone).
fn assess(config: &RiskConfig, mut found: Vec<Found>) -> Assessment {
    found.retain(|f| f.reason.weight > 0);
    // Largest weight first; ties by rule name, so the order is a function of the input.
    found.sort_by(|a, b| {
        b.reason
            .weight
            .cmp(&a.reason.weight)
            .then_with(|| a.reason.rule.cmp(&b.reason.rule))
    });
    let sum = |rules: &mut dyn Iterator<Item = &Found>| -> u8 {
        let total: u32 = rules.map(|f| u32::from(f.reason.weight)).sum();
        total.min(100) as u8
    };
    let score = sum(&mut found.iter());
    let without_anomaly = sum(&mut found.iter().filter(|f| f.reason.rule != ANOMALY));
    let verdict = if without_anomaly >= config.hold_at && !config.shadow {
        Verdict::Hold
    } else if score >= config.review_at {
        Verdict::Review
    } else {
        Verdict::Pass
    };
    let subject = found
        .iter()
        .find(|f| f.reason.rule != ANOMALY)
        .or(found.first())
        .map(|f| (f.target.clone(), f.why));
    Assessment {
        score,
        reasons: found.into_iter().map(|f| f.reason).collect(),
        subject,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scenario::generate;
    use super::*;

    /// Shown the last [`HORIZON_MS`] of the log again, a fresh engine's rules assess what
    /// follows exactly as one that saw everything. (The anomaly model's memory is longer:
    /// it is saved with the engine, see the `anomaly` tests.)
    #[test]
    fn replaying_the_last_day_rebuilds_the_same_judgement() {
        let mut s = generate(11);
        s.config.rules.anomaly.weight = 0;
        let mut full = Engine::default();
        let all: Vec<_> = s
            .events
            .iter()
            .map(|l| full.observe(&s.config, &l.observation))
            .collect();
        for restart in [s.events.len() / 3, s.events.len() * 2 / 3] {
            let at = s.events[restart].observation.time_ms;
            let mut fresh = Engine::default();
            for l in &s.events[..restart] {
                if l.observation.time_ms + HORIZON_MS > at {
                    fresh.observe(&s.config, &l.observation);
                }
            }
            for (i, l) in s.events.iter().enumerate().skip(restart) {
                assert_eq!(
                    fresh.observe(&s.config, &l.observation),
                    all[i],
                    "event {i}"
                );
            }
        }
    }

    #[test]
    fn a_canary_alone_holds_its_code_and_reasons_say_why() {
        let s = generate(2);
        let mut config = s.config.clone();
        let code = code_of(&s);
        config.canaries.insert(code);
        let o = Observation {
            time_ms: 1_767_600_000_000,
            seen: Seen::Refused(RejectReason::NotFound),
            token: None,
            code: Some(code),
            member: None,
            terminal: PublicKey([9; 32]),
            store: None,
        };
        let a = Engine::default()
            .observe(&config, &o)
            .expect("an attempt is scored");
        assert_eq!(a.score, 100);
        assert_eq!(a.verdict, Verdict::Hold);
        assert_eq!(
            a.subject,
            Some((HoldTarget::Code(code), HoldReason::Canary))
        );
        assert_eq!(a.reasons[0].rule, "canary");
        config.shadow = true;
        let a = Engine::default().observe(&config, &o).unwrap();
        assert_eq!(a.verdict, Verdict::Review, "shadow mode never holds");
    }

    /// The anomaly never holds alone: tripped alone it sends to review, with rules below
    /// `hold_at` it is capped at review (and the subject is the rule's), and rules that
    /// reach `hold_at` without it still hold. Over a scenario, every hold is the rules'.
    #[test]
    fn the_anomaly_never_holds_alone() {
        let config = RiskConfig::default();
        let m = HoldTarget::Member(MemberId([3; 32]));
        let anomaly = || {
            let rule = Rule {
                limit: 90,
                weight: 100,
            };
            found(ANOMALY, 100, 90, rule, m.clone(), HoldReason::Other)
        };
        let velocity = |weight| {
            let rule = Rule { limit: 6, weight };
            found(
                "member_per_hour",
                7,
                6,
                rule,
                m.clone(),
                HoldReason::Velocity,
            )
        };
        let alone = assess(&config, vec![anomaly()]);
        assert_eq!((alone.score, alone.verdict), (100, Verdict::Review));
        assert_eq!(alone.subject, Some((m.clone(), HoldReason::Other)));
        let with_rule = assess(&config, vec![anomaly(), velocity(40)]);
        assert_eq!((with_rule.score, with_rule.verdict), (100, Verdict::Review));
        assert_eq!(with_rule.subject, Some((m.clone(), HoldReason::Velocity)));
        let rules_hold = assess(&config, vec![anomaly(), velocity(75)]);
        assert_eq!(rules_hold.verdict, Verdict::Hold);
        // Four scenarios back to back on one engine (days apart), with their stores.
        let config = super::super::scenario::scenario_config();
        let mut engine = Engine::default();
        let mut reviews = 0;
        let days = |seed: u64| (seed - 100) * 4 * DAY_MS;
        for (seed, l) in
            (100..104).flat_map(|n| generate(n).events.into_iter().map(move |l| (n, l)))
        {
            let mut o = l.observation;
            o.time_ms += days(seed);
            let Some(a) = engine.observe(&config, &o) else {
                continue;
            };
            let rules: u32 = a
                .reasons
                .iter()
                .filter(|r| r.rule != ANOMALY)
                .map(|r| u32::from(r.weight))
                .sum();
            if a.verdict == Verdict::Hold {
                assert!(rules >= u32::from(config.hold_at), "{a:?}");
            }
            reviews += u32::from(a.verdict == Verdict::Review && rules < 65);
        }
        assert!(reviews > 0, "the anomaly alone sent something to review");
    }

    #[test]
    fn a_burst_is_reported_as_it_was_not_as_the_limit() {
        let config = RiskConfig::default();
        let mut engine = Engine::default();
        let mut last = None;
        for i in 0..20u64 {
            let o = Observation {
                time_ms: 1_767_600_000_000 + i * 1_000,
                seen: Seen::Refused(RejectReason::NotFound),
                token: None,
                code: None,
                member: None,
                terminal: PublicKey([7; 32]),
                store: None,
            };
            last = engine.observe(&config, &o);
        }
        let a = last.expect("scored");
        assert_eq!(a.reasons[0].rule, "failed_validations");
        assert_eq!((a.reasons[0].observed, a.reasons[0].threshold), (20, 8));
    }

    fn code_of(s: &super::super::scenario::Scenario) -> CodeHash {
        s.events
            .iter()
            .find_map(|l| l.observation.code)
            .expect("a code")
    }
}
