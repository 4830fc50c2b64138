//! Unit tests of the progress watchdog.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The LAN default: 10 ticks of 100 ms.
const E: u64 = 1_000;
const TICK: u64 = 100;

fn dog() -> Watchdog {
    Watchdog::new(WatchdogConfig::from_election(E).expect("valid"))
}

fn obs(role: Role, commit: u64, last_index: u64, now_ms: u64) -> Observation {
    Observation {
        role,
        term: 3,
        leader: if role == Role::Leader { 1 } else { 2 },
        commit,
        last_index,
        committed_in_term: true,
        forwarded_waiting: false,
        now_ms,
    }
}

fn follower(commit: u64, last_index: u64, now_ms: u64) -> Observation {
    obs(Role::Follower, commit, last_index, now_ms)
}

/// Ticks a watchdog through `observations`, returning each effect with its time.
fn run(
    dog: &mut Watchdog,
    observations: impl IntoIterator<Item = Observation>,
) -> Vec<(u64, Effect)> {
    observations
        .into_iter()
        .filter_map(|o| dog.observe(o).map(|e| (o.now_ms, e)))
        .collect()
}

#[test]
fn a_zero_election_timeout_is_refused() {
    assert_eq!(
        WatchdogConfig::from_election(0),
        Err(WatchdogError::ZeroElectionTimeout)
    );
    let c = WatchdogConfig::from_election(E).unwrap();
    assert_eq!(
        (c.stall_ms, c.leader_stall_ms, c.ignore_ms),
        (E, 2 * E, 2 * E)
    );
}

#[test]
fn marks_date_each_run_of_entries_and_forget_committed_ones() {
    let mut m = AppendMarks::default();
    m.update(0, 0, 0);
    assert_eq!(m.oldest(), None);
    m.update(0, 3, 100); // 1..=3 first held at 100
    m.update(0, 5, 200); // 4..=5 at 200
    m.update(1, 5, 250);
    assert_eq!(m.oldest(), Some(100), "entries 2 and 3 still wait");
    m.update(3, 5, 300);
    assert_eq!(m.oldest(), Some(200));
    m.update(5, 5, 400);
    assert_eq!(m.oldest(), None);
    assert!(m.is_empty());
}

#[test]
fn a_truncated_log_drops_the_runs_past_its_end_and_dates_replacements_now() {
    let mut m = AppendMarks::default();
    m.update(0, 4, 100);
    m.update(0, 8, 200);
    m.update(0, 6, 300); // a new leader cut the log back to 6
    assert_eq!(m.len(), 2, "1..=4 at 100, 5..=6 now");
    m.update(4, 6, 400);
    assert_eq!(
        m.oldest(),
        Some(300),
        "replacement entries are dated when seen"
    );
}

#[test]
fn past_the_mark_bound_newer_entries_join_the_newest_run() {
    let mut m = AppendMarks::default();
    for i in 1..=MAX_MARKS as u64 + 10 {
        m.update(0, i, i);
    }
    assert_eq!(m.len(), MAX_MARKS);
    m.update(MAX_MARKS as u64 - 1, MAX_MARKS as u64 + 10, 5_000);
    // The last run holds everything from MAX_MARKS on, dated at its start: older, never
    // younger, than the truth.
    assert_eq!(m.oldest(), Some(MAX_MARKS as u64));
}

#[test]
fn a_follower_suspects_a_leader_whose_entries_wait_one_election_timeout() {
    let mut d = dog();
    // Entry 11 arrives at 0 and never commits; commit stays at 10.
    let mut effects = run(&mut d, (0..=E / TICK).map(|t| follower(10, 11, t * TICK)));
    assert_eq!(
        effects.pop(),
        Some((
            E,
            Effect::Suspect {
                leader: 2,
                term: 3,
                until_ms: 3 * E
            }
        ))
    );
    assert!(effects.is_empty(), "nothing before the window: {effects:?}");
    assert!(d.suspecting(E));
    assert!(
        !d.admits(2, 3, true, E + 1),
        "the leader's appends are refused"
    );
    assert!(d.admits(2, 3, false, E + 1), "its vote traffic is not");
    assert!(
        d.admits(2, 4, true, E + 1),
        "nor a new term of the same node"
    );
    assert!(d.admits(3, 3, true, E + 1), "nor another node");
    assert!(d.admits(2, 3, true, 3 * E), "the suspicion ends");
}

#[test]
fn a_follower_whose_entries_commit_within_a_round_trip_never_suspects() {
    let mut d = dog();
    // One entry every tick, each committed a tick later: a busy, healthy leader.
    let effects = run(
        &mut d,
        (1..600).map(|t| follower(10 + t - 1, 10 + t, t * TICK)),
    );
    assert!(effects.is_empty(), "{effects:?}");
}

#[test]
fn nothing_fires_before_the_term_has_committed_an_entry() {
    let mut d = dog();
    let effects = run(
        &mut d,
        (0..100).map(|t| Observation {
            committed_in_term: false,
            ..follower(10, 11, t * TICK)
        }),
    );
    assert!(
        effects.is_empty(),
        "a catching-up term is not a stall: {effects:?}"
    );
    let mut d = dog();
    let effects = run(
        &mut d,
        (0..100).map(|t| Observation {
            committed_in_term: false,
            ..obs(Role::Leader, 10, 11, t * TICK)
        }),
    );
    assert!(effects.is_empty(), "{effects:?}");
}

#[test]
fn a_new_leader_or_term_gets_a_whole_window() {
    let mut d = dog();
    // Entry 11 waits since 0; at 900 the node follows a new leader in a new term.
    run(&mut d, (0..9).map(|t| follower(10, 11, t * TICK)));
    let new_term = |now| Observation {
        term: 4,
        leader: 3,
        ..follower(10, 11, now)
    };
    assert_eq!(d.observe(new_term(900)), None);
    assert_eq!(d.observe(new_term(1_899)), None);
    assert!(matches!(
        d.observe(new_term(1_900)),
        Some(Effect::Suspect {
            leader: 3,
            term: 4,
            ..
        })
    ));
}

#[test]
fn after_a_suspicion_the_follower_listens_a_whole_window_before_the_next() {
    let mut d = dog();
    run(&mut d, (0..=10).map(|t| follower(10, 11, t * TICK)));
    assert!(d.suspecting(E));
    // While suspecting (2E), nothing more, even as a pre-candidate.
    let during = run(
        &mut d,
        (11..30).map(|t| Observation {
            role: Role::Candidate,
            leader: 0,
            ..follower(10, 11, t * TICK)
        }),
    );
    assert!(during.is_empty(), "{during:?}");
    // Back with the leader at 3E, still stalled: the next suspicion comes at 4E, not before.
    let after = run(&mut d, (30..=40).map(|t| follower(10, 11, t * TICK)));
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, 4 * E);
}

#[test]
fn a_new_term_ends_the_suspicion() {
    let mut d = dog();
    run(&mut d, (0..=10).map(|t| follower(10, 11, t * TICK)));
    assert!(!d.admits(2, 3, true, E + 1));
    let elected = Observation {
        term: 4,
        leader: 3,
        ..follower(10, 11, E + TICK)
    };
    assert_eq!(d.observe(elected), None);
    assert!(
        d.admits(2, 3, true, E + TICK + 1),
        "old-term traffic goes to Raft again"
    );
    assert!(!d.suspecting(E + TICK + 1));
}

#[test]
fn forwarded_txs_waiting_without_any_commit_raise_a_suspicion() {
    let mut d = dog();
    let waiting = |commit, now| Observation {
        forwarded_waiting: true,
        ..follower(commit, commit, now)
    };
    // Commits keep coming (an overloaded leader answers later but commits): no suspicion.
    let busy = run(&mut d, (0..50).map(|t| waiting(10 + t, t * TICK)));
    assert!(busy.is_empty(), "{busy:?}");
    // The commit index stops: one window later the leader is suspected.
    let stalled = run(&mut d, (50..70).map(|t| waiting(59, t * TICK)));
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!(stalled[0].0, 4_900 + E, "one window after the last commit");
}

#[test]
fn no_forwarded_txs_and_nothing_uncommitted_is_an_idle_cluster() {
    let mut d = dog();
    let effects = run(&mut d, (0..200).map(|t| follower(10, 10, t * TICK)));
    assert!(effects.is_empty());
}

#[test]
fn a_leader_whose_entries_do_not_commit_steps_down_after_two_windows() {
    let mut d = dog();
    // The log grows by one entry a tick; nothing commits past 10.
    let effects = run(
        &mut d,
        (1..=30).map(|t| obs(Role::Leader, 10, 10 + t, t * TICK)),
    );
    assert_eq!(effects, vec![(TICK + 2 * E, Effect::StepDown { term: 3 })]);
}

#[test]
fn a_saturated_leader_that_commits_each_entry_within_a_round_trip_is_never_deposed() {
    let mut d = dog();
    // Ten entries a tick (a log that grows fast); each commits three ticks after it is
    // appended: far more load than progress, but progress.
    let effects = run(
        &mut d,
        (3..2_000).map(|t| obs(Role::Leader, 10 * (t - 3), 10 * t, t * TICK)),
    );
    assert!(effects.is_empty(), "{effects:?}");
}

#[test]
fn candidates_and_leaderless_followers_do_nothing() {
    let mut d = dog();
    let effects = run(
        &mut d,
        (0..100).map(|t| Observation {
            leader: 0,
            ..obs(Role::Candidate, 10, 11, t * TICK)
        }),
    );
    assert!(effects.is_empty());
    let effects = run(
        &mut d,
        (100..200).map(|t| Observation {
            leader: 0,
            ..follower(10, 11, t * TICK)
        }),
    );
    assert!(effects.is_empty());
}

proptest! {
    /// Whatever the load and however late within the window entries commit, no effect:
    /// progress is never taken for a stall, on a follower or a leader.
    #[test]
    fn commit_latency_below_the_window_never_fires(
        steps in proptest::collection::vec((0u64..20, 0u64..(E / TICK)), 1..300),
        leader in any::<bool>(),
    ) {
        let role = if leader { Role::Leader } else { Role::Follower };
        // Entries appended each tick (0..20 of them), each committed `lag` ticks later
        // (lag below the follower's window).
        let mut d = dog();
        let mut appended: Vec<(u64, u64)> = Vec::new(); // (tick, last index then)
        let (mut last, mut commit) = (0, 0);
        for (t, &(grow, lag)) in steps.iter().enumerate() {
            let t = t as u64;
            last += grow;
            appended.push((t, last));
            let reached = appended
                .iter()
                .rev()
                .find(|(at, _)| at + lag <= t)
                .map_or(0, |&(_, index)| index);
            commit = commit.max(reached);
            let effect = d.observe(obs(role, commit, last, t * TICK));
            prop_assert_eq!(effect, None, "tick {}", t);
        }
    }

    /// An entry left uncommitted is acted on within its window plus one observation.
    #[test]
    fn a_stall_is_always_acted_on(
        commit in 0u64..1_000,
        extra in 1u64..50,
        start in 0u64..100_000,
        leader in any::<bool>(),
    ) {
        let role = if leader { Role::Leader } else { Role::Follower };
        let window = if leader { 2 * E } else { E };
        let mut d = dog();
        let mut fired = None;
        for t in 0..=(window / TICK + 1) {
            let now = start + t * TICK;
            if let Some(effect) = d.observe(obs(role, commit, commit + extra, now)) {
                fired = Some((now - start, effect));
                break;
            }
        }
        let (after, effect) = fired.expect("the stall is acted on");
        prop_assert_eq!(after, window);
        prop_assert_eq!(leader, matches!(effect, Effect::StepDown { .. }));
    }

    /// The marks never date the oldest uncommitted entry earlier than it was first held
    /// (no premature suspicion), and exactly when the log was never cut back.
    #[test]
    fn marks_never_make_an_entry_older_than_it_is(
        moves in proptest::collection::vec((0u64..5, 0u64..5, 0u64..8), 1..400),
    ) {
        let mut m = AppendMarks::default();
        let mut first_held: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut commit, mut last, mut cut) = (0u64, 0u64, false);
        for (now, &(grow, advance, shrink)) in moves.iter().enumerate() {
            let now = now as u64;
            // Sometimes the log is cut back (never below the commit index; a cut is seen
            // on its own, as a new leader's first append is).
            if shrink == 0 && last > commit {
                last -= 1 + (last - commit - 1) / 2;
                first_held.retain(|&i, _| i <= last);
                cut = true;
            } else {
                for i in last + 1..=last + grow {
                    first_held.insert(i, now);
                }
                last += grow;
            }
            commit = (commit + advance).min(last);
            m.update(commit, last, now);
            let truth = first_held.get(&(commit + 1)).copied();
            match (m.oldest(), truth) {
                (Some(got), Some(truth)) if cut => prop_assert!(got >= truth),
                (got, truth) => prop_assert_eq!(got, truth),
            }
        }
    }
}
