//! The progress watchdog: replaces a leader that holds its office but cannot replicate
//! (a thin or congested link, a stuck disk), which Raft's own timers do not.
//!
//! # Why pre-vote and check-quorum are not enough
//!
//! A follower restarts its election timer, and with check-quorum renews the leader's
//! lease (during which it ignores pre-votes and votes), on *every* append or heartbeat
//! of the current leader. A leader behind a 256 kbit/s link still trickles old appends
//! and heartbeats out of its queue, so no follower ever times out, and the leader's
//! check-quorum keeps passing on the trickle of old responses. Entries then commit
//! seconds after they are appended while the office stays put.
//!
//! # The signal: entries that do not commit
//!
//! What marks a stalled leader is that entries *already in the log* stay uncommitted: a
//! healthy leader, however saturated, commits an entry about one round trip (plus a
//! fsync) after appending it; txs merely waiting in its mempool are load, not a stall.
//! So each node tracks when it first held each uncommitted entry ([`AppendMarks`]) and
//! measures the age of the oldest one. A second, weaker signal covers a leader whose
//! appends never arrive: txs this follower forwarded are waiting and the commit index has
//! not moved.
//!
//! # The rules
//!
//! With `W` = one election timeout ([`WatchdogConfig::from_election`]):
//!
//! - **Follower.** When the oldest uncommitted entry it holds (or its forwarded txs,
//!   with no commit since) has waited `W`, it *suspects* the leader ([`Effect::Suspect`]):
//!   for `2W` it stops taking that leader's appends, heartbeats and snapshots in that
//!   term ([`Watchdog::admits`]), and its driver expires the leader lease at once by
//!   moving Raft's election clock to the election timeout. From then on it grants other
//!   suspecting nodes' pre-votes, and its own randomized election timer (the rest of it:
//!   somewhere in the next election timeout) makes it campaign with pre-vote. Campaigning
//!   at the moment of suspicion instead would make every follower that saw the same
//!   stall campaign in the same tick and split the vote; Raft's randomized remainder
//!   staggers them.
//! - **A follower's own bad link does not depose a healthy leader**: its pre-votes reach
//!   followers that still see progress and are therefore still in the leader's lease,
//!   which ignore them, and the leader ignores them too. After `2W` it listens to the
//!   leader again for at least `W` before it may suspect again (and catches up meanwhile).
//! - **Leader.** When its own oldest uncommitted entry has waited `2W` it steps down
//!   ([`Effect::StepDown`]: Raft's follower state in the same term, as check-quorum does
//!   when it loses its quorum). It stops proposing into a log that does not commit, stops
//!   heartbeating (which ends the followers' leases even when its appends never reach
//!   them), and stops ignoring pre-votes. It acts later than the followers on purpose:
//!   they see the same stall a moment later and elect among themselves, and the step-down
//!   is the backstop for a leader whose appends do not arrive at all. Transferring
//!   leadership is no remedy: `MsgTimeoutNow` queues behind the same backlog, and raft-rs
//!   sends it only to a transferee whose log is caught up, which across a stalled link it
//!   is not.
//! - **Nothing fires before the term has committed something.** A new leader whose
//!   followers must first catch up (log replay, a snapshot) holds uncommitted entries for
//!   as long as that takes; until an entry of the current term is committed the watchdog
//!   stays quiet (a dead quorum is check-quorum's business). Likewise each change of role,
//!   term or leader restarts the window: a new leader gets a full `W`.
//!
//! The module is pure: [`Watchdog::observe`] takes an [`Observation`] (role, term,
//! leader, commit and last index, forwarded txs waiting, the time) and returns what to
//! do; the replica core carries it out against raft-rs.

use std::collections::VecDeque;

/// Most runs of uncommitted entries tracked; past this, newer entries are dated with the
/// newest run (they look older, never younger, than they are).
pub const MAX_MARKS: usize = 1_024;

/// What the watchdog refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchdogError {
    /// An election timeout of zero gives no window to measure a stall against.
    #[error("the election timeout must be above zero")]
    ZeroElectionTimeout,
}

/// The node's Raft role, as the watchdog tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The leader.
    Leader,
    /// A follower (with or without a known leader).
    Follower,
    /// A candidate or pre-candidate: an election is under way.
    Candidate,
}

/// What the node sees at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The node's role.
    pub role: Role,
    /// Its term.
    pub term: u64,
    /// The leader it knows (0: none).
    pub leader: u64,
    /// Raft's commit index here.
    pub commit: u64,
    /// The last index of the Raft log here.
    pub last_index: u64,
    /// Whether an entry of the current term is committed (the leader has proved it can
    /// commit in this term; before that a slow catch-up is not a stall).
    pub committed_in_term: bool,
    /// Whether txs this follower forwarded wait for a block, and none of them can be in a
    /// block it has committed but not yet applied.
    pub forwarded_waiting: bool,
    /// The node's clock (ms).
    pub now_ms: u64,
}

/// What the node must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The leader is stalled: expire its lease now (Raft's election clock to the election
    /// timeout, so pre-votes are granted and a pre-vote campaign follows within the
    /// randomized rest of the timeout). [`Watchdog::admits`] refuses the leader's appends,
    /// heartbeats and snapshots of `term` until `until_ms`.
    Suspect {
        /// The leader suspected.
        leader: u64,
        /// Its term.
        term: u64,
        /// When the node listens to it again (ms).
        until_ms: u64,
    },
    /// This leader cannot commit: become a follower in the same term.
    StepDown {
        /// The term it leaves.
        term: u64,
    },
}

/// The watchdog's windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// How long a follower's oldest uncommitted entry may wait before it suspects the
    /// leader (ms).
    pub stall_ms: u64,
    /// How long the leader's oldest uncommitted entry may wait before it steps down (ms).
    pub leader_stall_ms: u64,
    /// How long a suspecting follower refuses the leader's appends and heartbeats (ms).
    pub ignore_ms: u64,
}

impl WatchdogConfig {
    /// The windows from the election timeout `E` (ms): a follower suspects after `E`,
    /// ignores the leader for `2E`, and a leader steps down after `2E` (see the module
    /// docs for why).
    pub fn from_election(election_ms: u64) -> Result<Self, WatchdogError> {
        if election_ms == 0 {
            return Err(WatchdogError::ZeroElectionTimeout);
        }
        Ok(WatchdogConfig {
            stall_ms: election_ms,
            leader_stall_ms: election_ms.saturating_mul(2),
            ignore_ms: election_ms.saturating_mul(2),
        })
    }
}

/// When this node first held its uncommitted entries: runs of entries `(last index of
/// the run, first seen at ms)`, oldest first, at most [`MAX_MARKS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendMarks {
    marks: VecDeque<(u64, u64)>,
}

impl AppendMarks {
    /// Updates the runs from the commit and last index seen at `now_ms`: committed runs
    /// leave, truncated ones are cut back, new entries start a run dated `now_ms`.
    pub fn update(&mut self, commit: u64, last_index: u64, now_ms: u64) {
        while self
            .marks
            .front()
            .is_some_and(|&(index, _)| index <= commit)
        {
            self.marks.pop_front();
        }
        // A new leader overwrote entries: runs past the new end are gone; the entries
        // that replaced them are dated now.
        while self
            .marks
            .back()
            .is_some_and(|&(index, _)| index > last_index)
        {
            self.marks.pop_back();
        }
        let top = self.marks.back().map_or(commit, |&(index, _)| index);
        if last_index <= top {
            return;
        }
        if self.marks.len() == MAX_MARKS {
            if let Some(last) = self.marks.back_mut() {
                last.0 = last_index;
            }
        } else {
            self.marks.push_back((last_index, now_ms));
        }
    }

    /// When the oldest uncommitted entry was first held (`None`: all committed).
    pub fn oldest(&self) -> Option<u64> {
        self.marks.front().map(|&(_, at)| at)
    }

    /// Runs tracked.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// Whether no uncommitted entry is tracked.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

/// A suspicion in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Suspicion {
    leader: u64,
    term: u64,
    until_ms: u64,
}

/// One node's progress watchdog: see the module docs.
#[derive(Clone, Debug)]
pub struct Watchdog {
    config: WatchdogConfig,
    marks: AppendMarks,
    /// (role, term, leader) last observed.
    seen: Option<(Role, u64, u64)>,
    /// No stall is measured from before this time (ms): the last change of role, term or
    /// leader, the end of a suspicion, a step-down.
    listen_from: u64,
    /// Commit index last observed, and since when it has held (ms).
    commit: (u64, u64),
    /// Since when forwarded txs have been waiting (ms).
    forwarded_since: Option<u64>,
    suspicion: Option<Suspicion>,
}

impl Watchdog {
    /// A watchdog with these windows.
    pub fn new(config: WatchdogConfig) -> Self {
        Watchdog {
            config,
            marks: AppendMarks::default(),
            seen: None,
            listen_from: 0,
            commit: (0, 0),
            forwarded_since: None,
            suspicion: None,
        }
    }

    /// The windows.
    pub fn config(&self) -> WatchdogConfig {
        self.config
    }

    /// Takes what the node sees now and says what to do, if anything (at most one effect
    /// per call; observing again at the same moment gives none).
    pub fn observe(&mut self, obs: Observation) -> Option<Effect> {
        let now = obs.now_ms;
        self.marks.update(obs.commit, obs.last_index, now);
        self.follow(&obs);
        if let Some(s) = self.suspicion {
            if now < s.until_ms && s.term == obs.term && obs.role != Role::Leader {
                return None;
            }
            self.suspicion = None;
            self.listen_from = self.listen_from.max(now);
        }
        if !obs.committed_in_term {
            return None;
        }
        match obs.role {
            Role::Follower if obs.leader != 0 => self.follower_rule(&obs),
            Role::Leader => self.leader_rule(&obs),
            _ => None,
        }
    }

    /// Whether to step a message from `from` in `term`; `leader_traffic` says it is an
    /// append, a heartbeat or a snapshot. Refused: the suspected leader's, in its term,
    /// until the suspicion ends.
    pub fn admits(&self, from: u64, term: u64, leader_traffic: bool, now_ms: u64) -> bool {
        match self.suspicion {
            Some(s) => {
                !(leader_traffic && from == s.leader && term == s.term && now_ms < s.until_ms)
            }
            None => true,
        }
    }

    /// Whether a suspicion is in force at `now_ms`.
    pub fn suspecting(&self, now_ms: u64) -> bool {
        self.suspicion.is_some_and(|s| now_ms < s.until_ms)
    }

    /// When the oldest uncommitted entry here was first held (`None`: none).
    pub fn oldest_uncommitted(&self) -> Option<u64> {
        self.marks.oldest()
    }

    /// Restarts the window on a change of role, term or leader; tracks commit movement
    /// and forwarded txs.
    fn follow(&mut self, obs: &Observation) {
        let now = obs.now_ms;
        let seen = (obs.role, obs.term, obs.leader);
        if self.seen != Some(seen) {
            self.seen = Some(seen);
            self.listen_from = self.listen_from.max(now);
        }
        if obs.commit != self.commit.0 {
            self.commit = (obs.commit, now);
        }
        self.forwarded_since = match (obs.forwarded_waiting, self.forwarded_since) {
            (false, _) => None,
            (true, None) => Some(now),
            (true, since) => since,
        };
    }

    /// Since when this follower has evidence of a stall, if it has any.
    fn stalled_since(&self) -> Option<u64> {
        let entries = self.marks.oldest();
        let forwarded = self.forwarded_since.map(|since| since.max(self.commit.1));
        let since = match (entries, forwarded) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(since.max(self.listen_from))
    }

    fn follower_rule(&mut self, obs: &Observation) -> Option<Effect> {
        let since = self.stalled_since()?;
        if obs.now_ms.saturating_sub(since) < self.config.stall_ms {
            return None;
        }
        let until_ms = obs.now_ms.saturating_add(self.config.ignore_ms);
        self.suspicion = Some(Suspicion {
            leader: obs.leader,
            term: obs.term,
            until_ms,
        });
        Some(Effect::Suspect {
            leader: obs.leader,
            term: obs.term,
            until_ms,
        })
    }

    fn leader_rule(&mut self, obs: &Observation) -> Option<Effect> {
        let since = self.marks.oldest()?.max(self.listen_from);
        if obs.now_ms.saturating_sub(since) < self.config.leader_stall_ms {
            return None;
        }
        self.listen_from = obs.now_ms;
        Some(Effect::StepDown { term: obs.term })
    }
}

#[cfg(test)]
mod tests;
