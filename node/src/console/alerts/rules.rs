//! The alert rules and the pure engine that evaluates them over the org's redemptions.
//!
//! Two kinds of rule, each optionally limited to one pool:
//! - **large discount**: a redemption whose discount is above an amount (in one currency,
//!   or in the minor units of any currency when the rule names none);
//! - **rate spike**: more redemptions in one minute of block time than `factor` × the
//!   baseline, the mean per minute over the `baseline_minutes` before it, and at least
//!   `min_per_minute` (so that 3 against a baseline of 0.5 does not page anyone). The
//!   baseline spans only minutes the engine has watched (a rule seen for 5 minutes has a
//!   5-minute baseline; none in its first minute), and a rule that fired stays quiet for
//!   [`SPIKE_COOLDOWN_MINUTES`].
//!
//! The engine is pure: it takes ledger events in log order and returns the alerts they
//! trigger, with ids derived from the rule and the event, so evaluating the same events
//! again (after a crash before the cursor was saved) gives the same alerts, which the
//! store keeps once. Time is the block time of the events, never the clock; amounts and
//! ratios are integers. Its state (per-minute counts) is serializable and saved with the
//! cursor.

use couponcactus_chaincode::events::{EventType, LedgerEvent};
use couponcactus_chaincode::ids::{OrgId, PoolId};
use couponcactus_chaincode::types::Currency;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A rate-spike rule that fired is quiet for this many minutes.
pub const SPIKE_COOLDOWN_MINUTES: u64 = 10;
/// Longest baseline, minutes (a day).
pub const MAX_BASELINE_MINUTES: u32 = 1_440;
/// Largest spike factor, tenths (1000×).
pub const MAX_FACTOR_TENTHS: u32 = 10_000;
/// Most alerts one event can raise (one per rule).
pub const MAX_RULES: usize = 50;

const MINUTE_MS: u64 = 60_000;

/// What a rule watches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RuleKind {
    /// A redemption's discount above `above_minor`.
    LargeDiscount {
        /// The threshold, minor units (strictly above fires).
        above_minor: u64,
        /// The currency the threshold is in; `None`: compare minor units of any currency.
        currency: Option<Currency>,
    },
    /// Redemptions in a minute above `factor_tenths / 10` × the baseline mean per minute.
    RateSpike {
        /// The factor in tenths (`30`: 3×), 10 to [`MAX_FACTOR_TENTHS`].
        factor_tenths: u32,
        /// Minutes the baseline averages over, 1 to [`MAX_BASELINE_MINUTES`].
        baseline_minutes: u32,
        /// Fewest redemptions in the minute for the rule to fire.
        min_per_minute: u32,
    },
}

impl RuleKind {
    /// Its name in alerts and the API: `large_discount` or `rate_spike`.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::LargeDiscount { .. } => "large_discount",
            RuleKind::RateSpike { .. } => "rate_spike",
        }
    }

    /// Why its numbers are unusable.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            RuleKind::LargeDiscount { above_minor, .. } if above_minor > i64::MAX as u64 => {
                Err("the discount threshold is too large".into())
            }
            RuleKind::RateSpike {
                factor_tenths,
                baseline_minutes,
                min_per_minute,
            } => {
                if !(10..=MAX_FACTOR_TENTHS).contains(&factor_tenths) {
                    return Err("the factor must be 1.0 to 1000.0".into());
                }
                if !(1..=MAX_BASELINE_MINUTES).contains(&baseline_minutes) {
                    return Err(format!(
                        "the baseline must be 1 to {MAX_BASELINE_MINUTES} minutes"
                    ));
                }
                if min_per_minute == 0 {
                    return Err("the minimum per minute must be at least 1".into());
                }
                Ok(())
            }
            RuleKind::LargeDiscount { .. } => Ok(()),
        }
    }
}

/// An alert rule of the org (stored in `console.sqlite`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id.
    pub id: i64,
    /// A name staff chose (shown in alerts).
    pub name: String,
    /// What it watches.
    pub kind: RuleKind,
    /// Only this pool's redemptions (`None`: every redemption the org sees).
    pub pool: Option<PoolId>,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// Whether its alerts are also sent to the org's webhooks (`alert.triggered`).
    pub webhooks: bool,
    /// The staff user who added it.
    pub created_by: String,
    /// When, ms since the Unix epoch.
    pub created_ms: u64,
}

/// An alert: a rule fired on a redemption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// `al_<rule>_<log index>_<index>`: the same rule on the same event is the same alert.
    pub id: String,
    /// The rule.
    pub rule_id: i64,
    /// The rule's name.
    pub rule_name: String,
    /// `large_discount` or `rate_spike`.
    pub kind: String,
    /// Block time of the redemption that fired it, ms since the Unix epoch.
    pub time_ms: u64,
    /// Its block.
    pub height: u64,
    /// The redemption's event id (`coupon.redeemed`).
    pub event_id: String,
    /// The redemption's tx id (hex).
    pub tx_id: String,
    /// The pool redeemed.
    pub pool: Option<String>,
    /// The store that redeemed.
    pub store: Option<String>,
    /// What was seen: the discount (minor units) or the redemptions in the minute.
    pub observed: u64,
    /// The threshold it passed: the amount (minor units) or the count the factor gives
    /// (rounded up).
    pub threshold: u64,
    /// The currency of `observed` and `threshold` for a large discount.
    pub currency: Option<String>,
    /// The rate spike's baseline, tenths of a redemption per minute.
    pub baseline_tenths: Option<u64>,
    /// Whether it goes to the org's webhooks.
    pub webhooks: bool,
    /// What happened, in a sentence (the page and the webhook show it).
    pub message: String,
    /// For a fraud score (`kind` `fraud_score`): the rules it tripped, largest weight
    /// first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<crate::risk::engine::Reason>,
}

impl Alert {
    /// Sets [`Alert::message`] from the numbers.
    fn explained(mut self) -> Alert {
        let at = self.store.as_deref().unwrap_or("an unknown store");
        let pool = self.pool.as_deref().unwrap_or("?");
        self.message = match (&self.currency, self.baseline_tenths) {
            (_, Some(b)) => format!(
                "{} redemptions in one minute (pool {pool}, last at {at}): above {} for a baseline of {}.{} per minute",
                self.observed,
                self.threshold,
                b / 10,
                b % 10
            ),
            (currency, None) => {
                let c = currency.as_deref().unwrap_or("");
                let money = |m: u64| crate::console::view::money(m.min(i64::MAX as u64) as i64, c);
                format!(
                    "Discount of {} at {at} (pool {pool}) above {}",
                    money(self.observed),
                    money(self.threshold)
                )
            }
        };
        self
    }
}

/// A rate-spike rule's memory: redemptions per minute of block time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RateState {
    /// Redemptions per minute (minute = block time / 60 s), the baseline window and now.
    minutes: BTreeMap<u64, u32>,
    /// The first minute the rule watched.
    since: Option<u64>,
    /// The minute it last fired.
    fired: Option<u64>,
}

/// The engine: the enabled rules and their memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engine {
    #[serde(skip)]
    rules: Vec<Rule>,
    rates: BTreeMap<i64, RateState>,
}

impl Engine {
    /// Replaces the rules (at most [`MAX_RULES`]; disabled ones are dropped), keeping the
    /// memory of the rate rules that remain.
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.rules = rules
            .into_iter()
            .filter(|r| r.enabled)
            .take(MAX_RULES)
            .collect();
        let spikes: Vec<i64> = self
            .rules
            .iter()
            .filter(|r| matches!(r.kind, RuleKind::RateSpike { .. }))
            .map(|r| r.id)
            .collect();
        self.rates.retain(|id, _| spikes.contains(id));
    }

    /// The rules evaluated.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The alerts `event` raises for `org` (only `coupon.redeemed` events the org sees are
    /// evaluated; every other event is ignored).
    pub fn observe(&mut self, org: &OrgId, event: &LedgerEvent) -> Vec<Alert> {
        if event.kind != EventType::CouponRedeemed || !event.org_sees(org) {
            return Vec::new();
        }
        let mut alerts = Vec::new();
        for rule in &self.rules {
            if rule.pool.is_some() && rule.pool != event.pool {
                continue;
            }
            let fired = match rule.kind {
                RuleKind::LargeDiscount {
                    above_minor,
                    currency,
                } => large_discount(rule, above_minor, currency, event),
                RuleKind::RateSpike {
                    factor_tenths,
                    baseline_minutes,
                    min_per_minute,
                } => {
                    let spike = Spike {
                        factor_tenths,
                        baseline_minutes,
                        min_per_minute,
                    };
                    let state = self.rates.entry(rule.id).or_default();
                    spike.observe(state, event.time_ms / MINUTE_MS).map(|f| {
                        let mut a = alert(rule, event, f.observed, f.threshold);
                        a.baseline_tenths = Some(f.baseline_tenths);
                        a.explained()
                    })
                }
            };
            alerts.extend(fired);
        }
        alerts
    }
}

fn large_discount(
    rule: &Rule,
    above_minor: u64,
    currency: Option<Currency>,
    event: &LedgerEvent,
) -> Option<Alert> {
    let amounts = event.amounts.as_ref()?;
    let discount = amounts.discount_minor?;
    if currency.is_some_and(|c| c != amounts.currency) || discount <= above_minor {
        return None;
    }
    let mut a = alert(rule, event, discount, above_minor);
    a.currency = Some(amounts.currency.to_string());
    Some(a.explained())
}

fn alert(rule: &Rule, event: &LedgerEvent, observed: u64, threshold: u64) -> Alert {
    Alert {
        id: format!("al_{}_{}_{}", rule.id, event.id.log_index, event.id.index),
        rule_id: rule.id,
        rule_name: rule.name.clone(),
        kind: rule.kind.name().to_string(),
        time_ms: event.time_ms,
        height: event.height,
        event_id: event.id.to_string(),
        tx_id: event.tx_id.to_string(),
        pool: event.pool.as_ref().map(|p| p.to_string()),
        store: event.store.as_ref().map(|s| s.to_string()),
        observed,
        threshold,
        currency: None,
        baseline_tenths: None,
        webhooks: rule.webhooks,
        message: String::new(),
        reasons: Vec::new(),
    }
}

/// A rate-spike rule's numbers.
#[derive(Clone, Copy, Debug)]
struct Spike {
    factor_tenths: u32,
    baseline_minutes: u32,
    min_per_minute: u32,
}

/// What a spike that fired saw.
#[derive(Debug, PartialEq, Eq)]
struct Fired {
    observed: u64,
    threshold: u64,
    baseline_tenths: u64,
}

impl Spike {
    /// Counts one redemption in `minute`; what fired, if the minute is now a spike.
    fn observe(self, state: &mut RateState, minute: u64) -> Option<Fired> {
        let since = *state.since.get_or_insert(minute);
        let window = u64::from(self.baseline_minutes);
        // Minutes before the window are forgotten (bounded memory: window + 1 entries).
        let oldest = minute.saturating_sub(window);
        state.minutes.retain(|m, _| *m >= oldest);
        let count = state.minutes.entry(minute).or_insert(0);
        *count = count.saturating_add(1);
        let observed = u64::from(*count);
        let start = oldest.max(since);
        let span = minute.saturating_sub(start);
        let cooling = state
            .fired
            .is_some_and(|f| minute < f.saturating_add(SPIKE_COOLDOWN_MINUTES));
        if span == 0 || cooling || observed < u64::from(self.min_per_minute) {
            return None;
        }
        let base: u64 = state
            .minutes
            .range(start..minute)
            .map(|(_, c)| u64::from(*c))
            .sum();
        // observed / 1 > factor/10 × base/span  ⇔  observed × 10 × span > factor × base.
        let factor = u64::from(self.factor_tenths);
        if observed * 10 * span <= factor * base {
            return None;
        }
        state.fired = Some(minute);
        let threshold = (factor * base).div_ceil(10 * span).max(1);
        Some(Fired {
            observed,
            threshold,
            baseline_tenths: (base * 10) / span,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::events::{EventAmounts, EventDetail, EventId};
    use couponcactus_chaincode::ids::{PublicKey, StoreId, TxId};
    use couponcactus_chaincode::prelude::Event;
    use proptest::prelude::*;

    fn org() -> OrgId {
        OrgId("acme".into())
    }

    fn redeemed(i: u64, time_ms: u64, pool: &str, discount: u64) -> LedgerEvent {
        let pool: PoolId = pool.parse().unwrap();
        let currency: Currency = "EUR".parse().unwrap();
        let mut tx = [0u8; 32];
        tx[..8].copy_from_slice(&i.to_le_bytes());
        LedgerEvent {
            id: EventId::first_of(i),
            kind: EventType::CouponRedeemed,
            log_index: i,
            height: i + 1,
            time_ms,
            tx_id: TxId(tx),
            tx_index: 0,
            signer: PublicKey([1; 32]),
            signer_org: Some(org()),
            memo: None,
            org: Some(org()),
            pool: Some(pool.clone()),
            token: None,
            member: None,
            store: Some(StoreId::new("store-1").unwrap()),
            channel: None,
            amounts: Some(EventAmounts {
                currency,
                order_total_minor: Some(discount * 4),
                eligible_minor: Some(discount * 4),
                discount_minor: Some(discount),
            }),
            pool_seq: None,
            token_seq: None,
            detail: EventDetail::Applied {
                event: Event::Redeemed {
                    redemption: TxId(tx),
                    pool,
                    token: None,
                    member: None,
                    eligible_minor: discount * 4,
                    discount_minor: discount,
                    currency,
                },
            },
        }
    }

    fn rule(id: i64, kind: RuleKind) -> Rule {
        Rule {
            id,
            name: format!("rule {id}"),
            kind,
            pool: None,
            enabled: true,
            webhooks: true,
            created_by: "alice".into(),
            created_ms: 0,
        }
    }

    fn spike(factor_tenths: u32, baseline_minutes: u32, min_per_minute: u32) -> RuleKind {
        RuleKind::RateSpike {
            factor_tenths,
            baseline_minutes,
            min_per_minute,
        }
    }

    fn engine(rules: Vec<Rule>) -> Engine {
        let mut e = Engine::default();
        e.set_rules(rules);
        e
    }

    #[test]
    fn a_discount_above_the_threshold_fires_once_per_rule_and_event() {
        let large = RuleKind::LargeDiscount {
            above_minor: 5_000,
            currency: Some("EUR".parse().unwrap()),
        };
        let mut e = engine(vec![rule(1, large)]);
        assert!(e.observe(&org(), &redeemed(1, 0, "p1", 5_000)).is_empty());
        let a = e.observe(&org(), &redeemed(2, 0, "p1", 5_001));
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].observed, a[0].threshold), (5_001, 5_000));
        assert_eq!(a[0].currency.as_deref(), Some("EUR"));
        assert_eq!(a[0].id, "al_1_2_0");
        assert_eq!(
            a[0].message,
            "Discount of 50.01 EUR at store-1 (pool p1) above 50.00 EUR"
        );
        // The same event again: the same alert (the store keeps it once).
        assert_eq!(e.observe(&org(), &redeemed(2, 0, "p1", 5_001)), a);
    }

    #[test]
    fn other_currencies_pools_orgs_and_event_kinds_do_not_fire() {
        let mut r = rule(
            1,
            RuleKind::LargeDiscount {
                above_minor: 10,
                currency: Some("USD".parse().unwrap()),
            },
        );
        let mut e = engine(vec![r.clone()]);
        assert!(e.observe(&org(), &redeemed(1, 0, "p1", 900)).is_empty());
        r.currency_any();
        r.pool = Some("p2".parse().unwrap());
        let mut e2 = engine(vec![r.clone()]);
        assert!(e2.observe(&org(), &redeemed(1, 0, "p1", 900)).is_empty());
        assert_eq!(e2.observe(&org(), &redeemed(2, 0, "p2", 900)).len(), 1);
        let mut other = redeemed(3, 0, "p2", 900);
        other.org = Some(OrgId("globex".into()));
        other.signer_org = Some(OrgId("globex".into()));
        assert!(e2.observe(&org(), &other).is_empty());
        let mut allocated = redeemed(4, 0, "p2", 900);
        allocated.kind = EventType::CouponAllocated;
        assert!(e2.observe(&org(), &allocated).is_empty());
        let mut rejected = redeemed(5, 0, "p2", 900);
        rejected.amounts.as_mut().unwrap().discount_minor = None;
        assert!(e2.observe(&org(), &rejected).is_empty());
    }

    impl Rule {
        fn currency_any(&mut self) {
            if let RuleKind::LargeDiscount { currency, .. } = &mut self.kind {
                *currency = None;
            }
        }
    }

    /// Feeds `per_minute[i]` redemptions in minute `i`; the minutes where alerts fired.
    fn run(e: &mut Engine, per_minute: &[u32]) -> Vec<(u64, Alert)> {
        let mut fired = Vec::new();
        let mut i = 0;
        for (m, n) in per_minute.iter().enumerate() {
            for k in 0..*n {
                i += 1;
                let t = m as u64 * MINUTE_MS + u64::from(k);
                for a in e.observe(&org(), &redeemed(i, t, "p1", 1)) {
                    fired.push((m as u64, a));
                }
            }
        }
        fired
    }

    #[test]
    fn a_spike_over_the_baseline_fires_in_its_minute_then_cools_down() {
        let mut e = engine(vec![rule(7, spike(30, 5, 10))]);
        // Five quiet minutes of 4/min, then 13 (> 3 × 4 = 12) in minute 5.
        let fired = run(&mut e, &[4, 4, 4, 4, 4, 13, 40, 4]);
        assert_eq!(fired.len(), 1, "{fired:?}");
        let (minute, a) = &fired[0];
        assert_eq!(*minute, 5);
        assert_eq!((a.observed, a.threshold), (13, 12));
        assert_eq!(a.baseline_tenths, Some(40));
        assert!(
            a.message
                .starts_with("13 redemptions in one minute (pool p1"),
            "{}",
            a.message
        );
        assert!(
            a.message
                .ends_with("above 12 for a baseline of 4.0 per minute")
        );
        assert_eq!(a.kind, "rate_spike");
    }

    #[test]
    fn no_spike_in_the_first_minute_or_below_the_minimum() {
        let mut e = engine(vec![rule(7, spike(20, 5, 10))]);
        assert!(run(&mut e, &[50]).is_empty(), "no baseline yet");
        let mut e = engine(vec![rule(7, spike(20, 5, 10))]);
        assert!(run(&mut e, &[1, 9]).is_empty(), "9 < the minimum of 10");
        let mut e = engine(vec![rule(7, spike(20, 5, 10))]);
        assert_eq!(run(&mut e, &[1, 10]).len(), 1);
    }

    #[test]
    fn rules_replaced_keep_the_memory_of_those_that_remain() {
        let mut e = engine(vec![rule(1, spike(30, 5, 1)), rule(2, spike(30, 5, 1))]);
        run(&mut e, &[2, 2]);
        e.set_rules(vec![rule(2, spike(30, 5, 1))]);
        assert_eq!(e.rates.keys().collect::<Vec<_>>(), vec![&2]);
        let mut disabled = rule(2, spike(30, 5, 1));
        disabled.enabled = false;
        e.set_rules(vec![disabled]);
        assert!(e.rules().is_empty() && e.rates.is_empty());
    }

    #[test]
    fn the_state_survives_serialization() {
        let rules = vec![rule(7, spike(30, 5, 10))];
        let mut a = engine(rules.clone());
        run(&mut a, &[4, 4, 4]);
        let mut b: Engine = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        b.set_rules(rules);
        assert_eq!(a, b);
    }

    #[test]
    fn kinds_check_their_numbers() {
        assert!(spike(9, 5, 1).check().is_err());
        assert!(spike(30, 0, 1).check().is_err());
        assert!(spike(30, MAX_BASELINE_MINUTES + 1, 1).check().is_err());
        assert!(spike(30, 5, 0).check().is_err());
        assert!(spike(30, 5, 1).check().is_ok());
        let huge = RuleKind::LargeDiscount {
            above_minor: u64::MAX,
            currency: None,
        };
        assert!(huge.check().is_err());
    }

    /// The count and mean per minute a spike compares, computed naively.
    fn naive(per_minute: &[u32], m: usize, window: usize) -> (u64, u64, u64) {
        let first = per_minute.iter().position(|n| *n > 0).unwrap_or(0);
        let start = m.saturating_sub(window).max(first);
        if start >= m {
            return (u64::from(per_minute[m]), 0, 0);
        }
        let base: u64 = per_minute[start..m].iter().map(|n| u64::from(*n)).sum();
        (u64::from(per_minute[m]), base, (m - start) as u64)
    }

    proptest! {
        #[test]
        fn spikes_fire_exactly_when_the_minute_passes_the_factor(
            per_minute in proptest::collection::vec(0u32..30, 1..40),
            factor in 10u32..60,
            window in 1u32..10,
            min in 1u32..8,
        ) {
            let mut e = engine(vec![rule(1, spike(factor, window, min))]);
            let fired = run(&mut e, &per_minute);
            let mut last: Option<u64> = None;
            for (m, a) in &fired {
                let (count, base, span) = naive(&per_minute, *m as usize, window as usize);
                // It fired on the redemption that crossed the line, within the minute.
                prop_assert!(a.observed <= count && a.observed >= u64::from(min));
                prop_assert!(span > 0);
                prop_assert!(a.observed * 10 * span > u64::from(factor) * base);
                prop_assert!((a.observed - 1) * 10 * span <= u64::from(factor) * base
                    || a.observed == u64::from(min));
                prop_assert!(last.is_none_or(|l| *m >= l + SPIKE_COOLDOWN_MINUTES));
                last = Some(*m);
            }
            // A minute past the factor and the minimum, outside a cooldown, always fired.
            for m in 0..per_minute.len() {
                let (count, base, span) = naive(&per_minute, m, window as usize);
                let cooling = fired.iter().any(|(f, _)| (m as u64) > *f
                    && (m as u64) < f + SPIKE_COOLDOWN_MINUTES);
                if span > 0 && count >= u64::from(min) && count * 10 * span > u64::from(factor) * base && !cooling {
                    prop_assert!(fired.iter().any(|(f, _)| *f == m as u64), "minute {m} missed");
                }
            }
        }
    }
}
