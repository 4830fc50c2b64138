//! Raft and peer-request timing: the `lan` and `wan` profiles, how explicit keys of
//! `[raft]` and `[p2p]` override them, and the check at start that refuses timings that
//! cannot work (at the expected round-trip time, when one is given). Pure: `crate::config`
//! parses the file, this module resolves the numbers and judges them; docs/operations.md
//! ("Raft timing on a WAN") explains how to size them from a measured RTT.
//!
//! The rules, with `H` the heartbeat interval (`tick_ms × heartbeat_ticks`), `E` the
//! election timeout (`tick_ms × election_ticks`; raft-rs randomizes each follower's in
//! `[E, 2E)`), `T` the p2p request timeout and `R` the expected RTT:
//!
//! - `10 ≤ tick_ms ≤ 1000`: below 10 ms the consensus thread wakes more often than the
//!   scheduler serves it; above 1 s a timeout cannot be finer than seconds.
//! - `heartbeat_ticks ≥ 1` (raft-rs sends heartbeats on tick boundaries).
//! - `election_ticks ≥ 3 × heartbeat_ticks`: a follower must be able to miss two
//!   heartbeats (lost, or late behind a TCP retransmission) before its timer runs out;
//!   with fewer, one slow heartbeat starts a (pre-)vote, and a leader with check-quorum on
//!   steps down after one quiet interval.
//! - `T ≥ E`: a forwarded tx's request that gives up before an election could even move
//!   leadership abandons a leader that is merely slow, and the retry goes to the same
//!   leader over the same slow link.
//! - with `rtt_ms`: `H ≥ R` (a heartbeat every round trip at most: faster ones only queue
//!   behind each other and behind retransmissions, and etcd sizes its heartbeat the same
//!   way); `E ≥ 5 × R` (a heartbeat that is late by one retransmission timeout — at least
//!   `max(200 ms, R)` — plus its trip, twice in a row, still fits). With `T ≥ E` this also
//!   gives a request five round trips, room for the request and its answer to each wait
//!   out a retransmission.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Shortest tick, ms.
pub const MIN_TICK_MS: u64 = 10;
/// Longest tick, ms.
pub const MAX_TICK_MS: u64 = 1_000;
/// Least election timeout, in heartbeat intervals.
pub const MIN_ELECTION_HEARTBEATS: usize = 3;
/// Least election timeout, in expected round trips (with `rtt_ms`).
pub const MIN_ELECTION_RTTS: u64 = 5;
/// Most attempts of one idempotent request.
pub const MAX_REQUEST_ATTEMPTS: u32 = 10;
/// Shortest pause before a request is retried (the pause doubles per attempt).
pub const MIN_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Why a timing cannot work: the key, its value and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// A key's value breaks a rule of this module's documentation.
    #[error("[{section}] {key} = {value}: {rule}")]
    Rule {
        /// `raft` or `p2p`.
        section: &'static str,
        /// The key (as resolved from the profile when it was not set).
        key: &'static str,
        /// Its value.
        value: u64,
        /// The rule, with the numbers it was checked against.
        rule: String,
    },
}

/// A set of defaults: `lan` (one data centre, RTT up to a few ms) or `wan` (members a
/// continent apart, RTT up to 300 ms with loss).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// tick 100 ms, heartbeat 2 ticks, election 10 ticks, requests 5 s.
    #[default]
    Lan,
    /// tick 100 ms, heartbeat 3 ticks, election 20 ticks, requests 10 s.
    Wan,
}

/// The resolved timing a node runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Raft tick, ms.
    pub tick_ms: u64,
    /// Leader heartbeat, ticks.
    pub heartbeat_ticks: usize,
    /// Election timeout, ticks.
    pub election_ticks: usize,
    /// Timeout of one p2p request (tx forwarding, checkpoint votes), ms.
    pub request_timeout_ms: u64,
    /// Attempts of an idempotent request before its caller sees the failure.
    pub request_attempts: u32,
}

impl Profile {
    /// The profile's timing.
    pub fn defaults(self) -> Timing {
        match self {
            Profile::Lan => Timing {
                tick_ms: 100,
                heartbeat_ticks: 2,
                election_ticks: 10,
                request_timeout_ms: 5_000,
                request_attempts: 3,
            },
            Profile::Wan => Timing {
                tick_ms: 100,
                heartbeat_ticks: 3,
                election_ticks: 20,
                request_timeout_ms: 10_000,
                request_attempts: 3,
            },
        }
    }
}

/// The keys an operator may set; `None` takes the profile's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `[raft] tick_ms`.
    pub tick_ms: Option<u64>,
    /// `[raft] heartbeat_ticks`.
    pub heartbeat_ticks: Option<usize>,
    /// `[raft] election_ticks`.
    pub election_ticks: Option<usize>,
    /// `[p2p] request_timeout_ms`.
    pub request_timeout_ms: Option<u64>,
    /// `[p2p] request_attempts`.
    pub request_attempts: Option<u32>,
}

impl Timing {
    /// The profile's timing with the keys that were set. A config that sets
    /// `election_ticks` but not `heartbeat_ticks` keeps the older rule (a heartbeat every
    /// fifth of the election timeout), so its timing does not change under it.
    pub fn resolve(profile: Profile, keys: Overrides) -> Timing {
        let d = profile.defaults();
        let election_ticks = keys.election_ticks.unwrap_or(d.election_ticks);
        let heartbeat_ticks = match (keys.heartbeat_ticks, keys.election_ticks) {
            (Some(h), _) => h,
            (None, Some(e)) => (e / 5).max(1),
            (None, None) => d.heartbeat_ticks,
        };
        Timing {
            tick_ms: keys.tick_ms.unwrap_or(d.tick_ms),
            heartbeat_ticks,
            election_ticks,
            request_timeout_ms: keys.request_timeout_ms.unwrap_or(d.request_timeout_ms),
            request_attempts: keys.request_attempts.unwrap_or(d.request_attempts),
        }
    }

    /// Heartbeat interval, ms.
    pub fn heartbeat_ms(&self) -> u64 {
        self.tick_ms.saturating_mul(self.heartbeat_ticks as u64)
    }

    /// Election timeout (the shortest of raft-rs's randomized range), ms.
    pub fn election_ms(&self) -> u64 {
        self.tick_ms.saturating_mul(self.election_ticks as u64)
    }

    /// Pause before the first retry of a failed request: a round trip (or 100 ms without
    /// an expected RTT, or below it); it doubles per attempt.
    pub fn retry_backoff(rtt_ms: Option<u64>) -> Duration {
        Duration::from_millis(rtt_ms.unwrap_or(0)).max(MIN_RETRY_BACKOFF)
    }

    /// Refuses a timing that cannot work (see the module documentation for each rule).
    pub fn check(&self, rtt_ms: Option<u64>) -> Result<(), TimingError> {
        let raft = |key, value: u64, rule: String| {
            Err(TimingError::Rule {
                section: "raft",
                key,
                value,
                rule,
            })
        };
        let (h, e) = (self.heartbeat_ms(), self.election_ms());
        if !(MIN_TICK_MS..=MAX_TICK_MS).contains(&self.tick_ms) {
            return raft(
                "tick_ms",
                self.tick_ms,
                format!("must be between {MIN_TICK_MS} and {MAX_TICK_MS}"),
            );
        }
        if self.heartbeat_ticks == 0 {
            return raft("heartbeat_ticks", 0, "must be at least 1".into());
        }
        let least = MIN_ELECTION_HEARTBEATS * self.heartbeat_ticks;
        if self.election_ticks < least {
            return raft(
                "election_ticks",
                self.election_ticks as u64,
                format!(
                    "must be at least {MIN_ELECTION_HEARTBEATS} × heartbeat_ticks = {least}, so \
                     that a follower can miss two heartbeats before it campaigns"
                ),
            );
        }
        self.check_requests(e)?;
        let Some(rtt) = rtt_ms else { return Ok(()) };
        if h < rtt {
            return raft(
                "heartbeat_ticks",
                self.heartbeat_ticks as u64,
                format!(
                    "the heartbeat interval tick_ms × heartbeat_ticks = {h} ms must be at least \
                     rtt_ms = {rtt} ms"
                ),
            );
        }
        if e < MIN_ELECTION_RTTS * rtt {
            return raft(
                "election_ticks",
                self.election_ticks as u64,
                format!(
                    "the election timeout tick_ms × election_ticks = {e} ms must be at least \
                     {MIN_ELECTION_RTTS} × rtt_ms = {} ms",
                    MIN_ELECTION_RTTS * rtt
                ),
            );
        }
        Ok(())
    }

    /// The `[p2p]` rules: attempts within bounds, requests outlast an election.
    fn check_requests(&self, election_ms: u64) -> Result<(), TimingError> {
        let p2p = |key, value: u64, rule: String| {
            Err(TimingError::Rule {
                section: "p2p",
                key,
                value,
                rule,
            })
        };
        if !(1..=MAX_REQUEST_ATTEMPTS).contains(&self.request_attempts) {
            return p2p(
                "request_attempts",
                self.request_attempts.into(),
                format!("must be between 1 and {MAX_REQUEST_ATTEMPTS}"),
            );
        }
        if self.request_timeout_ms < election_ms {
            return p2p(
                "request_timeout_ms",
                self.request_timeout_ms,
                format!(
                    "must be at least the election timeout tick_ms × election_ticks = \
                     {election_ms} ms, so a request does not give up on a leader that is \
                     merely slow"
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(tick: u64, heartbeat: usize, election: usize) -> Overrides {
        Overrides {
            tick_ms: Some(tick),
            heartbeat_ticks: Some(heartbeat),
            election_ticks: Some(election),
            ..Overrides::default()
        }
    }

    fn rule_of(timing: Timing, rtt: Option<u64>) -> (&'static str, &'static str) {
        match timing.check(rtt) {
            Err(TimingError::Rule { section, key, .. }) => (section, key),
            Ok(()) => panic!("{timing:?} at rtt {rtt:?} was accepted"),
        }
    }

    #[test]
    fn timing_profiles_pass_their_own_checks() {
        Timing::resolve(Profile::Lan, Overrides::default())
            .check(Some(100))
            .unwrap();
        Timing::resolve(Profile::Wan, Overrides::default())
            .check(Some(300))
            .unwrap();
        // The LAN profile is what a node ran with before profiles existed.
        let lan = Profile::Lan.defaults();
        assert_eq!(
            (lan.tick_ms, lan.heartbeat_ticks, lan.election_ticks),
            (100, 2, 10)
        );
    }

    #[test]
    fn timing_explicit_keys_override_the_profile() {
        let t = Timing::resolve(
            Profile::Wan,
            Overrides {
                election_ticks: Some(40),
                request_attempts: Some(5),
                ..Overrides::default()
            },
        );
        assert_eq!(t.election_ticks, 40);
        assert_eq!(
            t.heartbeat_ticks, 8,
            "a fifth of an explicit election timeout"
        );
        assert_eq!(t.request_attempts, 5);
        assert_eq!(t.tick_ms, 100);
        let t = Timing::resolve(Profile::Wan, keys(50, 4, 30));
        assert_eq!(
            (t.tick_ms, t.heartbeat_ticks, t.election_ticks),
            (50, 4, 30)
        );
        assert_eq!(t.request_timeout_ms, 10_000);
    }

    #[test]
    fn timing_rejects_each_rule_naming_the_key() {
        let at = |k: Overrides| Timing::resolve(Profile::Lan, k);
        assert_eq!(rule_of(at(keys(5, 2, 10)), None), ("raft", "tick_ms"));
        assert_eq!(rule_of(at(keys(2_000, 2, 10)), None), ("raft", "tick_ms"));
        assert_eq!(
            rule_of(at(keys(100, 0, 10)), None),
            ("raft", "heartbeat_ticks")
        );
        assert_eq!(
            rule_of(at(keys(100, 4, 11)), None),
            ("raft", "election_ticks")
        );
        at(keys(100, 4, 12)).check(None).unwrap();
        let slow_requests = Overrides {
            request_timeout_ms: Some(900),
            ..keys(100, 2, 10)
        };
        assert_eq!(
            rule_of(at(slow_requests), None),
            ("p2p", "request_timeout_ms")
        );
        let no_attempts = Overrides {
            request_attempts: Some(0),
            ..Overrides::default()
        };
        assert_eq!(rule_of(at(no_attempts), None), ("p2p", "request_attempts"));
    }

    #[test]
    fn timing_rejects_lan_timing_at_wan_round_trips() {
        let lan = Timing::resolve(Profile::Lan, Overrides::default());
        // 200 ms heartbeats are faster than a 300 ms round trip.
        assert_eq!(rule_of(lan, Some(300)), ("raft", "heartbeat_ticks"));
        // Heartbeats slow enough, but a 1 s election is not 5 round trips of 300 ms.
        let slow_heartbeat = Timing::resolve(Profile::Lan, keys(100, 3, 10));
        assert_eq!(
            rule_of(slow_heartbeat, Some(300)),
            ("raft", "election_ticks")
        );
        // The WAN profile is sized for up to 300 ms; at 600 ms it needs longer timers.
        let wan = Timing::resolve(Profile::Wan, Overrides::default());
        assert_eq!(rule_of(wan, Some(600)), ("raft", "heartbeat_ticks"));
        Timing::resolve(Profile::Wan, keys(100, 6, 30))
            .check(Some(600))
            .unwrap();
        let message = lan.check(Some(300)).unwrap_err().to_string();
        assert!(message.contains("rtt_ms = 300"), "{message}");
        assert!(
            message.starts_with("[raft] heartbeat_ticks = 2"),
            "{message}"
        );
    }

    #[test]
    fn timing_retry_backoff_is_a_round_trip_at_least_100_ms() {
        assert_eq!(Timing::retry_backoff(None), Duration::from_millis(100));
        assert_eq!(Timing::retry_backoff(Some(20)), Duration::from_millis(100));
        assert_eq!(Timing::retry_backoff(Some(300)), Duration::from_millis(300));
    }
}
