//! Forwarded txs: what a follower does with the leader's answer, as a pure decision.
//!
//! A follower forwards the txs it admitted to the leader (the replica core hands them out
//! as `Output::Forward`, [`crate::replica`]) and gets back one [`ForwardVerdict`] per tx,
//! or an error. This module owns the rules that sort that answer into what the follower
//! must do; it is pure: [`sort_verdicts`] takes the txs sent and the answer and returns a
//! [`ForwardOutcome`]. No I/O, no locks, no clock, no log. The driver (cactusd's
//! forwarding task in [`crate::node`], or the simulator) makes the network call, logs,
//! settles the mempool, answers the waiters and requeues the txs to retry.
//!
//! The rules, per tx: `Accepted` needs nothing (the tx stays in flight until its block
//! is applied); `Committed` settles it and answers its waiters with the leader's record
//! (it committed before this node's history begins, or while it was away); `NotLeader`
//! and a `Refused` with code [`RETRY_CODE`] (the leader's mempool is full) retry it; any
//! other refusal settles it (the leader's state refuses it: it can never commit) and is
//! reported for a warning. A failed answer, or one whose length differs from the txs
//! sent, retries every tx. The input is bounded by the caller: one forward carries at
//! most a block's worth of txs.

use crate::node::{Committed, ForwardVerdict};
use couponcactus_chaincode::ids::TxId;
use couponcactus_chaincode::tx::SignedTx;

/// The refusal code of a leader whose mempool is full: the tx is offered again later.
pub const RETRY_CODE: &str = "mempool_full";

/// A forwarded tx the leader refused for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The tx.
    pub tx: TxId,
    /// The leader's stable error code.
    pub code: String,
    /// The leader's explanation.
    pub message: String,
}

/// What the follower does with the leader's answer, each list in the order the txs were
/// sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardOutcome {
    /// The answer failed or did not match the txs sent: every tx is in `retry`.
    pub failed: bool,
    /// Txs to requeue and forward again.
    pub retry: Vec<SignedTx>,
    /// Txs to drop from the mempool (committed elsewhere, or refused for good).
    pub settle: Vec<TxId>,
    /// Txs committed already, with the leader's record for their waiters.
    pub committed: Vec<(TxId, Committed)>,
    /// Txs refused for good, to log (they are in `settle` too).
    pub refused: Vec<Refusal>,
}

/// Sorts the leader's answer for `txs` (the txs sent, in order) into a [`ForwardOutcome`].
pub fn sort_verdicts(
    txs: Vec<SignedTx>,
    answer: Result<Vec<ForwardVerdict>, String>,
) -> ForwardOutcome {
    let verdicts = match answer {
        Ok(verdicts) if verdicts.len() == txs.len() => verdicts,
        Ok(_) | Err(_) => {
            return ForwardOutcome {
                failed: true,
                retry: txs,
                ..ForwardOutcome::default()
            };
        }
    };
    let mut out = ForwardOutcome::default();
    for (tx, verdict) in txs.into_iter().zip(verdicts) {
        match verdict {
            ForwardVerdict::Accepted => {}
            ForwardVerdict::Committed(done) => {
                let id = tx.id();
                out.settle.push(id);
                out.committed.push((id, done));
            }
            ForwardVerdict::NotLeader { .. } => out.retry.push(tx),
            ForwardVerdict::Refused { code, .. } if code == RETRY_CODE => out.retry.push(tx),
            ForwardVerdict::Refused { code, message } => {
                let id = tx.id();
                out.settle.push(id);
                out.refused.push(Refusal {
                    tx: id,
                    code,
                    message,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::TxLocation;
    use couponcactus_chaincode::execute::{TxOutcome, TxResult};
    use couponcactus_chaincode::testkit;
    use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
    use couponcactus_chaincode::types::Role;
    use proptest::prelude::*;

    fn tx(nonce: u64) -> SignedTx {
        let g = testkit::genesis();
        TxBody {
            chain_id: g.chain_id,
            nonce,
            valid_until_ms: g.genesis_time_ms + 600_000,
            kind: TxKind::RegisterKey(RegisterKeyTx {
                key: testkit::public(2),
                role: Role::Issuer,
            }),
            memo: None,
        }
        .sign(&testkit::key(1))
    }

    fn txs(n: u64) -> Vec<SignedTx> {
        (1..=n).map(tx).collect()
    }

    fn committed(tx: &SignedTx, height: u64) -> Committed {
        Committed {
            location: TxLocation {
                height,
                index: 0,
                log_index: height,
            },
            result: TxResult {
                tx_id: tx.id(),
                outcome: TxOutcome::Applied { events: vec![] },
            },
        }
    }

    fn refused(code: &str) -> ForwardVerdict {
        ForwardVerdict::Refused {
            code: code.into(),
            message: format!("because {code}"),
        }
    }

    fn retry_all(sent: Vec<SignedTx>) -> ForwardOutcome {
        ForwardOutcome {
            failed: true,
            retry: sent,
            ..ForwardOutcome::default()
        }
    }

    #[test]
    fn a_failed_answer_retries_every_tx() {
        let sent = txs(3);
        let out = sort_verdicts(sent.clone(), Err("connection reset".into()));
        assert_eq!(out, retry_all(sent));
    }

    #[test]
    fn an_answer_of_the_wrong_length_retries_every_tx() {
        let sent = txs(2);
        let short = sort_verdicts(sent.clone(), Ok(vec![ForwardVerdict::Accepted]));
        assert_eq!(short, retry_all(sent.clone()));
        let long = sort_verdicts(sent.clone(), Ok(vec![ForwardVerdict::Accepted; 3]));
        assert_eq!(long, retry_all(sent.clone()));
        // Even verdicts that would settle are ignored when the lengths differ.
        let done = ForwardVerdict::Committed(committed(&sent[0], 4));
        assert_eq!(sort_verdicts(sent.clone(), Ok(vec![done])), retry_all(sent));
    }

    #[test]
    fn nothing_sent_and_nothing_answered_does_nothing() {
        assert_eq!(sort_verdicts(vec![], Ok(vec![])), ForwardOutcome::default());
    }

    #[test]
    fn an_accepted_tx_needs_nothing() {
        let out = sort_verdicts(txs(2), Ok(vec![ForwardVerdict::Accepted; 2]));
        assert_eq!(out, ForwardOutcome::default());
    }

    #[test]
    fn a_committed_tx_is_settled_and_its_waiters_get_the_leaders_record() {
        let sent = txs(1);
        let record = committed(&sent[0], 7);
        let out = sort_verdicts(
            sent.clone(),
            Ok(vec![ForwardVerdict::Committed(record.clone())]),
        );
        let id = sent[0].id();
        assert!(!out.failed);
        assert!(out.retry.is_empty());
        assert_eq!(out.settle, vec![id]);
        assert_eq!(out.committed, vec![(id, record)]);
        assert!(out.refused.is_empty());
    }

    #[test]
    fn a_tx_sent_to_a_former_leader_is_retried() {
        let sent = txs(1);
        let out = sort_verdicts(
            sent.clone(),
            Ok(vec![ForwardVerdict::NotLeader { leader_id: 3 }]),
        );
        assert_eq!(
            out,
            ForwardOutcome {
                retry: sent,
                ..ForwardOutcome::default()
            }
        );
    }

    #[test]
    fn a_tx_refused_by_a_full_mempool_is_retried_not_settled() {
        let sent = txs(1);
        let out = sort_verdicts(sent.clone(), Ok(vec![refused(RETRY_CODE)]));
        assert_eq!(
            out,
            ForwardOutcome {
                retry: sent,
                ..ForwardOutcome::default()
            }
        );
    }

    #[test]
    fn a_tx_refused_for_any_other_reason_is_settled_and_reported() {
        for code in [
            "key_revoked",
            "internal",
            "",
            "MEMPOOL_FULL",
            "mempool_full ",
        ] {
            let sent = txs(1);
            let id = sent[0].id();
            let out = sort_verdicts(sent, Ok(vec![refused(code)]));
            assert!(!out.failed, "{code}");
            assert!(out.retry.is_empty(), "{code}");
            assert_eq!(out.settle, vec![id], "{code}");
            assert!(out.committed.is_empty(), "{code}");
            let expected = Refusal {
                tx: id,
                code: code.into(),
                message: format!("because {code}"),
            };
            assert_eq!(out.refused, vec![expected], "{code}");
        }
    }

    #[test]
    fn a_mixed_answer_pairs_verdicts_with_txs_by_position() {
        let sent = txs(6);
        let record = committed(&sent[1], 9);
        let verdicts = vec![
            ForwardVerdict::Accepted,
            ForwardVerdict::Committed(record.clone()),
            ForwardVerdict::NotLeader { leader_id: 0 },
            refused("key_revoked"),
            refused(RETRY_CODE),
            ForwardVerdict::Committed(committed(&sent[5], 10)),
        ];
        let out = sort_verdicts(sent.clone(), Ok(verdicts));
        assert!(!out.failed);
        assert_eq!(out.retry, vec![sent[2].clone(), sent[4].clone()]);
        assert_eq!(out.settle, vec![sent[1].id(), sent[3].id(), sent[5].id()]);
        assert_eq!(out.committed[0], (sent[1].id(), record));
        assert_eq!(out.committed[1].0, sent[5].id());
        assert_eq!(out.refused.len(), 1);
        assert_eq!(out.refused[0].tx, sent[3].id());
    }

    fn verdict_for(kind: u8, tx: &SignedTx) -> ForwardVerdict {
        match kind % 5 {
            0 => ForwardVerdict::Accepted,
            1 => ForwardVerdict::Committed(committed(tx, 1)),
            2 => ForwardVerdict::NotLeader { leader_id: 2 },
            3 => refused(RETRY_CODE),
            _ => refused("unauthorized"),
        }
    }

    proptest! {
        /// With a matching answer every tx ends up in exactly one place: nowhere
        /// (accepted), retried, or settled; committed and refused txs are settled ones.
        #[test]
        fn every_tx_is_sorted_exactly_once(kinds in prop::collection::vec(any::<u8>(), 0..24)) {
            let sent = txs(kinds.len() as u64);
            let verdicts = kinds.iter().zip(&sent).map(|(k, tx)| verdict_for(*k, tx)).collect();
            let out = sort_verdicts(sent.clone(), Ok(verdicts));
            prop_assert!(!out.failed);
            let accepted = kinds.iter().filter(|k| *k % 5 == 0).count();
            prop_assert_eq!(accepted + out.retry.len() + out.settle.len(), sent.len());
            prop_assert_eq!(out.committed.len() + out.refused.len(), out.settle.len());
            for (id, _) in &out.committed {
                prop_assert!(out.settle.contains(id));
            }
            for r in &out.refused {
                prop_assert!(out.settle.contains(&r.tx));
            }
            for tx in &out.retry {
                prop_assert!(!out.settle.contains(&tx.id()));
            }
        }
    }
}
