//! Block proposal, as a pure decision: whether the leader cuts a block from the mempool
//! now or lets txs gather, and the time the block carries.
//!
//! This module owns the rules only. It is pure: [`decide`] reads a [`ProposerView`] and
//! the [`BlockLimits`] and returns a [`ProposalDecision`]; [`block_time`] takes the clock
//! reading as an input. No I/O, no locks, no clock. The replica core
//! ([`crate::replica::Core`]) reads the mempool and Raft, takes the txs, proposes the
//! block, puts the txs back if Raft refuses it, and records the metrics.
//!
//! The rules: only the leader proposes, and never from an empty mempool. With no block of
//! its own in flight (proposed, not yet applied) it proposes at once, so a lone tx never
//! waits; with one in flight it waits until the mempool holds a full block or
//! [`BlockLimits::interval`] has passed since its last proposal, so blocks under load are
//! larger and their fixed costs rarer.

use std::time::Duration;

/// The limits that shape blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimits {
    /// Most txs in one block: a mempool this full proposes at once.
    pub max_txs: usize,
    /// Longest txs wait for a block while the previous one is in flight.
    pub interval: Duration,
}

/// What the proposer knows when it decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposerView {
    /// Whether this node leads.
    pub is_leader: bool,
    /// Txs waiting in the mempool.
    pub pool_len: usize,
    /// Raft index of the last block this node proposed (0: none).
    pub last_proposed_index: u64,
    /// Raft's applied index.
    pub applied_index: u64,
    /// Time since this node's last proposal.
    pub since_last_proposal: Duration,
}

/// What the leader does this turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalDecision {
    /// Cut a block from the mempool now.
    Propose,
    /// Propose nothing this turn.
    Wait,
}

impl ProposerView {
    /// Whether a block this node proposed is not applied yet.
    pub fn block_in_flight(&self) -> bool {
        self.last_proposed_index > self.applied_index
    }
}

/// Whether to cut a block now.
pub fn decide(view: &ProposerView, limits: &BlockLimits) -> ProposalDecision {
    let gather = view.block_in_flight()
        && view.pool_len < limits.max_txs
        && view.since_last_proposal < limits.interval;
    if !view.is_leader || view.pool_len == 0 || gather {
        ProposalDecision::Wait
    } else {
        ProposalDecision::Propose
    }
}

/// The time a new block carries: the clock, but strictly after the last block's time even
/// when the clock went back.
pub fn block_time(now_ms: u64, last_block_time: u64) -> u64 {
    now_ms.max(last_block_time.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProposalDecision::*;
    use proptest::prelude::*;

    const LIMITS: BlockLimits = BlockLimits {
        max_txs: 10,
        interval: Duration::from_millis(50),
    };

    fn leader(pool_len: usize, in_flight: bool, since_ms: u64) -> ProposerView {
        ProposerView {
            is_leader: true,
            pool_len,
            last_proposed_index: if in_flight { 8 } else { 7 },
            applied_index: 7,
            since_last_proposal: Duration::from_millis(since_ms),
        }
    }

    #[test]
    fn an_empty_pool_never_proposes() {
        for in_flight in [false, true] {
            for since in [0, 49, 50, 10_000] {
                assert_eq!(decide(&leader(0, in_flight, since), &LIMITS), Wait);
            }
        }
    }

    #[test]
    fn a_follower_never_proposes() {
        let mut v = leader(LIMITS.max_txs, false, 10_000);
        v.is_leader = false;
        assert_eq!(decide(&v, &LIMITS), Wait);
    }

    #[test]
    fn with_nothing_in_flight_a_lone_tx_goes_at_once() {
        assert_eq!(decide(&leader(1, false, 0), &LIMITS), Propose);
        // Applied beyond the last proposal (e.g. another leader's blocks): not in flight.
        let mut v = leader(1, false, 0);
        v.applied_index = 20;
        assert!(!v.block_in_flight());
        assert_eq!(decide(&v, &LIMITS), Propose);
    }

    #[test]
    fn a_full_pool_proposes_even_with_a_block_in_flight() {
        assert_eq!(decide(&leader(10, true, 0), &LIMITS), Propose);
        assert_eq!(decide(&leader(500, true, 0), &LIMITS), Propose);
    }

    #[test]
    fn a_partial_pool_waits_for_the_interval_while_a_block_is_in_flight() {
        assert_eq!(decide(&leader(9, true, 0), &LIMITS), Wait);
        assert_eq!(decide(&leader(1, true, 49), &LIMITS), Wait);
        assert_eq!(decide(&leader(1, true, 50), &LIMITS), Propose);
        assert_eq!(decide(&leader(9, true, 51), &LIMITS), Propose);
    }

    #[test]
    fn block_time_follows_the_clock_and_never_goes_back() {
        assert_eq!(block_time(1_000, 500), 1_000);
        assert_eq!(block_time(1_000, 1_000), 1_001);
        assert_eq!(block_time(900, 1_000), 1_001); // clock went back
        assert_eq!(block_time(0, u64::MAX), u64::MAX); // saturates, no overflow
    }

    proptest! {
        #[test]
        fn block_times_strictly_increase_whatever_the_clock(
            start in 0u64..1_000_000,
            clock in proptest::collection::vec(0u64..2_000_000, 1..64),
        ) {
            let mut last = start;
            for now in clock {
                let t = block_time(now, last);
                prop_assert!(t > last && t >= now);
                last = t;
            }
        }

        #[test]
        fn decide_matches_the_rules(
            is_leader: bool,
            pool_len in 0usize..30,
            last_proposed_index in 0u64..5,
            applied_index in 0u64..5,
            since in 0u64..120,
        ) {
            let v = ProposerView {
                is_leader,
                pool_len,
                last_proposed_index,
                applied_index,
                since_last_proposal: Duration::from_millis(since),
            };
            let ready = !v.block_in_flight() || pool_len >= LIMITS.max_txs || since >= 50;
            let expected = if is_leader && pool_len > 0 && ready { Propose } else { Wait };
            prop_assert_eq!(decide(&v, &LIMITS), expected);
        }
    }
}
