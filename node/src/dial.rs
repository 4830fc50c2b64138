//! When to dial each consortium member that has no connection: a pure schedule the
//! transport ([`crate::network`]) asks on every dial tick.
//!
//! A member with no connection is dialed at once (at start, or when it is first seen
//! missing). A failed dial is retried after [`FIRST_RETRY`], then after twice as long each
//! time, up to [`MAX_RETRY`]; a connection resets the member's schedule. So nodes of a
//! consortium that start together (after a power cut, say: each opens its database before
//! it listens) find each other within a fraction of a second, while a member that stays
//! down is dialed once every [`MAX_RETRY`]. No I/O and no clock of its own: the caller
//! passes `now`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Delay before the first retry of a failed dial.
pub const FIRST_RETRY: Duration = Duration::from_millis(50);
/// Longest delay between two dials of a member that stays unreachable.
pub const MAX_RETRY: Duration = Duration::from_secs(1);
/// How often the transport asks which members are due (the resolution of the schedule).
pub const DIAL_TICK: Duration = Duration::from_millis(25);

/// Per-member dial backoff, keyed by the caller's peer ids.
#[derive(Debug)]
pub struct DialSchedule<P> {
    /// For each member whose last dial failed or is under way: when it may be dialed
    /// again, and the delay the next failure waits. A member absent is due at once.
    next: HashMap<P, (Instant, Duration)>,
}

impl<P: Eq + Hash + Copy> Default for DialSchedule<P> {
    fn default() -> Self {
        DialSchedule {
            next: HashMap::new(),
        }
    }
}

impl<P: Eq + Hash + Copy> DialSchedule<P> {
    /// Whether `peer` (not connected) may be dialed at `now`.
    pub fn due(&self, peer: &P, now: Instant) -> bool {
        self.next.get(peer).is_none_or(|(at, _)| now >= *at)
    }

    /// A dial of `peer` started at `now`: it is not due again until it fails (or until
    /// [`MAX_RETRY`] passes without an answer).
    pub fn dialing(&mut self, peer: P, now: Instant) {
        let delay = self.next.get(&peer).map_or(FIRST_RETRY, |(_, d)| *d);
        self.next.insert(peer, (now + MAX_RETRY, delay));
    }

    /// A dial of `peer` failed at `now`: it is due again after the current delay, and the
    /// delay doubles (up to [`MAX_RETRY`]).
    pub fn failed(&mut self, peer: P, now: Instant) {
        let delay = self.next.get(&peer).map_or(FIRST_RETRY, |(_, d)| *d);
        self.next
            .insert(peer, (now + delay, (delay * 2).min(MAX_RETRY)));
    }

    /// `peer` is connected: a later loss of the connection dials it again at once.
    pub fn connected(&mut self, peer: &P) {
        self.next.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_dial_is_retried_soon_then_less_and_less_often() {
        let t0 = Instant::now();
        let mut s = DialSchedule::default();
        assert!(s.due(&1, t0), "a member never dialed is due at once");
        s.dialing(1, t0);
        assert!(!s.due(&1, t0 + Duration::from_millis(10)));
        let mut now = t0 + Duration::from_millis(5);
        let mut waits = Vec::new();
        for _ in 0..8 {
            s.failed(1, now);
            let mut wait = Duration::ZERO;
            while !s.due(&1, now + wait) {
                wait += Duration::from_millis(5);
            }
            waits.push(wait.as_millis() as u64);
            now += wait;
            s.dialing(1, now);
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn a_dial_without_an_answer_is_due_again_after_the_longest_delay() {
        let t0 = Instant::now();
        let mut s = DialSchedule::default();
        s.dialing(7, t0);
        assert!(!s.due(&7, t0 + MAX_RETRY - Duration::from_millis(1)));
        assert!(s.due(&7, t0 + MAX_RETRY));
    }

    #[test]
    fn a_connection_resets_the_schedule() {
        let t0 = Instant::now();
        let mut s = DialSchedule::default();
        for _ in 0..5 {
            s.dialing(2, t0);
            s.failed(2, t0);
        }
        s.connected(&2);
        assert!(s.due(&2, t0));
        s.dialing(2, t0);
        s.failed(2, t0);
        assert!(s.due(&2, t0 + FIRST_RETRY));
    }
}
