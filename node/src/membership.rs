//! Membership reconciliation, as a pure decision: which single Raft configuration change
//! the leader makes next so that Raft's configuration converges to the consortium in
//! chaincode state.
//!
//! This module owns the rules only. It is pure: [`next_change`] reads a
//! [`MembershipView`] (what the leader knows: the current configuration, progress, the
//! consortium) and returns at most one [`MembershipStep`]; no I/O, no locks, no clock.
//! The replica core ([`crate::replica::Core`]) builds the view from raft-rs, throttles
//! the calls (once per tick) and turns the step into a `ConfChangeV2` or a leadership
//! transfer.
//!
//! The rules, in order, one change at a time and none while a change is pending or the
//! configuration is joint:
//! 1. a consortium node missing from Raft joins as a learner (lowest id first);
//! 2. a learner the consortium marks voter is promoted once caught up (its matched index
//!    within [`CATCH_UP_SLACK`] entries of the leader's last index);
//! 3. a node the consortium dropped is removed (lowest id first); when that node is this
//!    leader, it hands leadership to the most up-to-date voter that stays, which then
//!    removes it.
//!
//! A Raft voter the consortium keeps as a learner is not demoted.

use raft::eraftpb::{ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2};
use std::collections::{BTreeMap, BTreeSet};

/// How many entries a learner may lag the leader's last index and still be promoted.
pub const CATCH_UP_SLACK: u64 = 16;

/// What the leader knows when it reconciles membership.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipView {
    /// This node's Raft id (the leader).
    pub me: u64,
    /// Voters of the (incoming) configuration.
    pub voters: BTreeSet<u64>,
    /// Learners of the configuration.
    pub learners: BTreeSet<u64>,
    /// Outgoing voters: non-empty while the configuration is joint.
    pub voters_outgoing: BTreeSet<u64>,
    /// Whether a configuration change is proposed and not yet applied.
    pub pending_conf_change: bool,
    /// Highest log index known replicated on each node (absent: unknown).
    pub matched: BTreeMap<u64, u64>,
    /// The leader's last log index.
    pub last_index: u64,
    /// The consortium's nodes: id → whether it should vote.
    pub consortium: BTreeMap<u64, bool>,
}

/// One step towards the consortium's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipStep {
    /// Add this node as a learner.
    AddLearner(u64),
    /// Make this learner a voter (through a joint configuration).
    Promote(u64),
    /// Remove this node (another than the leader).
    Remove(u64),
    /// This leader was removed: hand leadership over to this voter first.
    TransferLeader(u64),
}

impl MembershipView {
    /// Voters and learners.
    fn in_raft(&self) -> BTreeSet<u64> {
        self.voters.union(&self.learners).copied().collect()
    }

    /// Whether `id`'s matched index is within [`CATCH_UP_SLACK`] of the last index.
    pub fn caught_up(&self, id: u64) -> bool {
        self.matched
            .get(&id)
            .is_some_and(|m| m.saturating_add(CATCH_UP_SLACK) >= self.last_index)
    }
}

/// The next configuration change the leader should make, if any.
pub fn next_change(view: &MembershipView) -> Option<MembershipStep> {
    if view.pending_conf_change || !view.voters_outgoing.is_empty() {
        // One change at a time; raft-rs leaves a joint configuration by itself.
        return None;
    }
    let in_raft = view.in_raft();
    if let Some(id) = view.consortium.keys().find(|id| !in_raft.contains(id)) {
        return Some(MembershipStep::AddLearner(*id));
    }
    let promote = view
        .consortium
        .iter()
        .find(|(id, voter)| **voter && view.learners.contains(id) && view.caught_up(**id));
    if let Some((id, _)) = promote {
        return Some(MembershipStep::Promote(*id));
    }
    let removed = in_raft
        .into_iter()
        .find(|id| !view.consortium.contains_key(id))?;
    if removed != view.me {
        return Some(MembershipStep::Remove(removed));
    }
    transfer_target(view).map(MembershipStep::TransferLeader)
}

/// The raft-rs change that makes one step of `kind` on `node`: adding a learner is a
/// simple change; voter changes go through a joint configuration that raft-rs leaves by
/// itself (implicit transition).
pub fn conf_change(kind: ConfChangeType, node: u64) -> ConfChangeV2 {
    let mut single = ConfChangeSingle::default();
    single.set_change_type(kind);
    single.node_id = node;
    let mut cc = ConfChangeV2::default();
    cc.set_changes(vec![single].into());
    if kind != ConfChangeType::AddLearnerNode {
        cc.set_transition(ConfChangeTransition::Implicit);
    }
    cc
}

/// The most up-to-date voter that stays in the consortium, other than this node (on a
/// tie, the highest id); `None` when no such voter exists.
fn transfer_target(view: &MembershipView) -> Option<u64> {
    view.voters
        .iter()
        .filter(|v| **v != view.me && view.consortium.contains_key(v))
        .max_by_key(|v| view.matched.get(v))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipStep::*;
    use proptest::prelude::*;

    /// A leader `me` with these voters and learners, every node at `last_index`.
    fn view(
        me: u64,
        voters: &[u64],
        learners: &[u64],
        consortium: &[(u64, bool)],
    ) -> MembershipView {
        let last_index = 100;
        MembershipView {
            me,
            voters: voters.iter().copied().collect(),
            learners: learners.iter().copied().collect(),
            voters_outgoing: BTreeSet::new(),
            pending_conf_change: false,
            matched: voters
                .iter()
                .chain(learners)
                .map(|id| (*id, last_index))
                .collect(),
            last_index,
            consortium: consortium.iter().copied().collect(),
        }
    }

    /// Applies a step the way Raft would once it commits, from `view.me`'s point of view.
    fn apply(view: &mut MembershipView, step: MembershipStep) {
        match step {
            AddLearner(id) => {
                view.learners.insert(id);
                view.matched.insert(id, 0);
            }
            Promote(id) => {
                assert!(view.learners.remove(&id), "promoted a non-learner {id}");
                view.voters.insert(id);
            }
            Remove(id) => {
                assert_ne!(id, view.me, "the leader removed itself");
                assert!(view.voters.remove(&id) || view.learners.remove(&id));
                view.matched.remove(&id);
            }
            TransferLeader(to) => {
                assert!(view.voters.contains(&to), "transfer to a non-voter {to}");
                view.me = to;
            }
        }
        view.last_index += 1;
    }

    /// Every node catches up with the leader.
    fn catch_up(view: &mut MembershipView) {
        let last = view.last_index;
        for m in view.matched.values_mut() {
            *m = last;
        }
    }

    /// Runs steps (with catch-up after each) until none; returns them.
    fn converge(view: &mut MembershipView, bound: usize) -> Vec<MembershipStep> {
        let mut steps = Vec::new();
        while let Some(step) = next_change(view) {
            assert!(steps.len() < bound, "no convergence after {steps:?}");
            apply(view, step);
            catch_up(view);
            steps.push(step);
        }
        steps
    }

    #[test]
    fn in_sync_needs_nothing() {
        let v = view(1, &[1, 2, 3], &[], &[(1, true), (2, true), (3, true)]);
        assert_eq!(next_change(&v), None);
        let v = view(1, &[1, 2], &[3], &[(1, true), (2, true), (3, false)]);
        assert_eq!(next_change(&v), None);
    }

    #[test]
    fn a_missing_node_joins_as_a_learner_first() {
        let v = view(
            1,
            &[1, 2, 3],
            &[],
            &[(1, true), (2, true), (3, true), (4, true)],
        );
        assert_eq!(next_change(&v), Some(AddLearner(4)));
        // Lowest missing id first, even when it should vote and another should not.
        let v = view(1, &[1], &[], &[(1, true), (5, false), (7, true)]);
        assert_eq!(next_change(&v), Some(AddLearner(5)));
    }

    #[test]
    fn only_a_caught_up_learner_marked_voter_is_promoted() {
        let mut v = view(
            1,
            &[1, 2, 3],
            &[4],
            &[(1, true), (2, true), (3, true), (4, true)],
        );
        v.matched.insert(4, v.last_index - CATCH_UP_SLACK);
        assert_eq!(next_change(&v), Some(Promote(4)));
        v.matched.insert(4, v.last_index - CATCH_UP_SLACK - 1); // 17 entries behind
        assert_eq!(next_change(&v), None);
        v.matched.remove(&4); // no progress known
        assert_eq!(next_change(&v), None);
        // Caught up, but the consortium keeps it a learner.
        let v = view(
            1,
            &[1, 2, 3],
            &[4],
            &[(1, true), (2, true), (3, true), (4, false)],
        );
        assert_eq!(next_change(&v), None);
    }

    #[test]
    fn promotion_goes_before_removal() {
        let v = view(1, &[1, 2, 3], &[4], &[(1, true), (2, true), (4, true)]);
        assert_eq!(next_change(&v), Some(Promote(4)));
    }

    #[test]
    fn a_dropped_node_is_removed() {
        let v = view(1, &[1, 2, 3], &[], &[(1, true), (2, true)]);
        assert_eq!(next_change(&v), Some(Remove(3)));
        let v = view(1, &[1, 2], &[3], &[(1, true), (2, true)]);
        assert_eq!(next_change(&v), Some(Remove(3)));
    }

    #[test]
    fn a_removed_leader_transfers_to_the_most_up_to_date_remaining_voter() {
        let mut v = view(1, &[1, 2, 3, 4], &[5], &[(2, true), (3, true), (5, false)]);
        v.matched.insert(2, 90);
        v.matched.insert(3, 95);
        v.matched.insert(4, 100); // most up to date, but removed too
        v.matched.insert(5, 100); // a learner
        assert_eq!(next_change(&v), Some(TransferLeader(3)));
        v.matched.insert(2, 99);
        assert_eq!(next_change(&v), Some(TransferLeader(2)));
        v.matched.remove(&2); // unknown progress ranks last
        assert_eq!(next_change(&v), Some(TransferLeader(3)));
    }

    #[test]
    fn a_removed_leader_with_no_voter_left_does_nothing() {
        let v = view(1, &[1, 2], &[3], &[(3, false)]);
        // 1 (this leader) goes first, but 2 is removed too and 3 does not vote.
        assert_eq!(next_change(&v), None);
    }

    #[test]
    fn nothing_while_joint_or_pending() {
        let base = view(1, &[1, 2, 3], &[], &[(1, true), (2, true), (4, true)]);
        let mut v = base.clone();
        v.pending_conf_change = true;
        assert_eq!(next_change(&v), None);
        let mut v = base.clone();
        v.voters_outgoing = [1, 2, 3].into();
        assert_eq!(next_change(&v), None);
        assert_eq!(next_change(&base), Some(AddLearner(4)));
    }

    #[test]
    fn a_fourth_voter_joins_in_two_steps() {
        let mut v = view(
            1,
            &[1, 2, 3],
            &[],
            &[(1, true), (2, true), (3, true), (4, true)],
        );
        // Without catching up, the new learner is not promoted.
        let first = next_change(&v);
        assert_eq!(first, Some(AddLearner(4)));
        apply(&mut v, AddLearner(4));
        assert_eq!(next_change(&v), None);
        catch_up(&mut v);
        let steps = converge(&mut v, 10);
        assert_eq!(steps, vec![Promote(4)]);
        assert_eq!(v.voters, [1, 2, 3, 4].into());
        assert!(v.learners.is_empty());
    }

    #[test]
    fn a_leader_leaving_hands_over_then_is_removed() {
        let mut v = view(1, &[1, 2, 3], &[], &[(2, true), (3, true)]);
        v.matched.insert(2, 99);
        let steps = converge(&mut v, 10);
        assert_eq!(steps, vec![TransferLeader(3), Remove(1)]);
        assert_eq!((v.me, v.voters.clone()), (3, [2, 3].into()));
    }

    /// A leader, voters, learners and the consortium (id, voter).
    type Universe = (u64, Vec<u64>, Vec<u64>, Vec<(u64, bool)>);

    #[test]
    fn voter_changes_go_through_an_implicit_joint_configuration() {
        let cc = conf_change(ConfChangeType::AddLearnerNode, 4);
        assert_eq!(cc.get_transition(), ConfChangeTransition::Auto);
        assert_eq!(cc.changes.len(), 1);
        assert_eq!(cc.changes[0].node_id, 4);
        assert_eq!(
            cc.changes[0].get_change_type(),
            ConfChangeType::AddLearnerNode
        );
        for kind in [ConfChangeType::AddNode, ConfChangeType::RemoveNode] {
            let cc = conf_change(kind, 7);
            assert_eq!(cc.get_transition(), ConfChangeTransition::Implicit);
            assert_eq!(
                (cc.changes[0].node_id, cc.changes[0].get_change_type()),
                (7, kind)
            );
        }
    }

    fn universe() -> impl Strategy<Value = Universe> {
        // Ids 1..=7: which are voters, learners, in the consortium (and voting).
        let roles = proptest::collection::vec((0u8..3, any::<bool>(), any::<bool>()), 7);
        (roles, 0usize..7).prop_filter_map("needs voters", |(roles, leader)| {
            let ids = (1..=7u64).zip(roles);
            let (mut voters, mut learners, mut consortium) = (vec![], vec![], vec![]);
            for (id, (raft, wanted, votes)) in ids {
                match raft {
                    1 => voters.push(id),
                    2 => learners.push(id),
                    _ => {}
                }
                if wanted {
                    consortium.push((id, votes));
                }
            }
            let me = *voters.get(leader % voters.len().max(1))?;
            consortium
                .iter()
                .any(|(_, v)| *v)
                .then_some((me, voters, learners, consortium))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn reconciliation_converges_to_the_consortium(
            (me, voters, learners, consortium) in universe()
        ) {
            let mut v = view(me, &voters, &learners, &consortium);
            // At most: every id added, promoted, removed, plus one hand-over.
            let steps = converge(&mut v, 3 * 7 + 1);
            let wanted: BTreeSet<u64> = consortium.iter().map(|(id, _)| *id).collect();
            prop_assert_eq!(v.in_raft(), wanted);
            prop_assert!(v.voters.contains(&v.me));
            for (id, votes) in &consortium {
                // Voters stay voters (no demotion); consortium voters all vote.
                prop_assert!(!votes || v.voters.contains(id), "{} not voting", id);
            }
            prop_assert!(steps.iter().filter(|s| matches!(s, TransferLeader(_))).count() <= 1);
        }
    }
}
