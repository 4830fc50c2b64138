//! The core's side of the progress watchdog ([`super::watchdog`]): what raft-rs shows of
//! this node each tick, and the watchdog's effects carried out on raft-rs. Off when
//! [`NodeOptions::progress_watchdog`](crate::node::NodeOptions::progress_watchdog) is.

use super::watchdog::{Effect, Observation, Role};
use super::{Core, lock};
use raft::StateRole;
use raft::eraftpb::{Message, MessageType};

impl Core {
    /// After a tick: shows the watchdog this node's Raft state and carries out its verdict.
    pub(super) fn watch(&mut self) {
        if !self.options.progress_watchdog {
            return;
        }
        let raft = &self.raw.raft;
        let role = match raft.state {
            StateRole::Leader => Role::Leader,
            StateRole::Follower => Role::Follower,
            StateRole::Candidate | StateRole::PreCandidate => Role::Candidate,
        };
        let commit = raft.raft_log.committed;
        // Txs in flight on a follower are forwarded ones; while blocks are committed here
        // but not yet applied they may be in one of them, so they count only once apply
        // has caught up.
        let forwarded_waiting = role == Role::Follower
            && raft.raft_log.applied >= commit
            && lock(&self.mempool).in_flight_len() > 0;
        let observation = Observation {
            role,
            term: raft.term,
            leader: raft.leader_id,
            commit,
            last_index: raft.raft_log.last_index(),
            committed_in_term: raft.commit_to_current_term(),
            forwarded_waiting,
            now_ms: self.now_ms,
        };
        let raft = &self.raw.raft;
        let (leading, term_now) = (raft.state == StateRole::Leader, raft.term);
        match self.watchdog.observe(observation) {
            Some(Effect::Suspect { leader, term, .. }) => {
                tracing::warn!(
                    leader,
                    term,
                    "the leader's entries are not committing: ignoring it and letting \
                     the lease expire"
                );
                metrics::counter!("cactus_watchdog_total", "effect" => "suspect").increment(1);
                let raft = &mut self.raw.raft;
                raft.election_elapsed = raft.election_elapsed.max(raft.election_timeout());
            }
            Some(Effect::StepDown { term }) if leading && term == term_now => {
                tracing::warn!(
                    term,
                    "this leader's entries are not committing: stepping down"
                );
                metrics::counter!("cactus_watchdog_total", "effect" => "step_down").increment(1);
                self.raw.raft.become_follower(term, raft::INVALID_ID);
            }
            Some(Effect::StepDown { .. }) | None => {}
        }
    }

    /// Whether Raft should step `m`: not while the watchdog suspects its sender of
    /// leading without progress (see [`super::watchdog::Watchdog::admits`]).
    pub(super) fn admits(&self, m: &Message) -> bool {
        let leader_traffic = matches!(
            m.get_msg_type(),
            MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot
        );
        let admitted = self
            .watchdog
            .admits(m.from, m.term, leader_traffic, self.now_ms);
        if !admitted {
            metrics::counter!("cactus_watchdog_refused_total").increment(1);
        }
        admitted
    }
}
