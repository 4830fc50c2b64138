//! The fraud scorer on a real one-node chain: a terminal guessing codes is flagged, the
//! console raises a `fraud_score` alert quoting the rule, the scorer holds the terminal
//! with the org's risk key (pending review), the chain then refuses the terminal; a
//! scorer without a risk key only flags, a second flag on a held subject sends no
//! second hold, and a backtest over the same blocks flags what live scoring flagged (the
//! anomaly model on, as by default); an org admin's review of the hold is a label the
//! scorer saves, and the backtest finds the same.

use super::config::RiskConfig;
use super::follow::{Progress, Scorer, step};
use super::store::{LabelTotals, RiskStore};
use crate::node::SubmitOutcome;
use crate::testchain::Chain;
use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::{Channel, StoreId};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::risk::{HoldReason, HoldStatus, HoldTarget};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit::{key, order, public};
use couponcactus_chaincode::tx::{
    HoldDecision, RedeemTarget, RedeemTx, RegisterKeyTx, ReviewHoldTx, TxKind,
};
use couponcactus_chaincode::types::Role;
use std::sync::Arc;
use std::time::Duration;

const ADMIN: u8 = 1;
const TERMINAL: u8 = 11;
const RISK: u8 = 30;

async fn register(chain: &Chain, seed: u8, role: Role) {
    let kind = TxKind::RegisterKey(RegisterKeyTx {
        key: public(seed),
        role,
    });
    chain.applied(&key(ADMIN), kind).await;
}

/// A redeem of an unknown code by the terminal: its rejection reason.
async fn guess(chain: &Chain, n: u32) -> RejectReason {
    let kind = TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Code(code_hash(&format!("GUESS-{n}"))),
        member: None,
        order: order(5_000),
    });
    let tx = chain.builder.sign(&key(TERMINAL), kind);
    match chain.node.submit(tx, true).await.unwrap() {
        SubmitOutcome::Committed(done) => match done.result.outcome {
            TxOutcome::Rejected { rejection } => rejection.reason,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

async fn run_until_idle(
    console: &Arc<crate::console::Console>,
    scorer: &Arc<Scorer>,
    p: &mut Option<Progress>,
) {
    while step(console, scorer, p).await.unwrap() {}
}

fn scorer(chain: &Chain, name: &str, signer: Option<u8>) -> Arc<Scorer> {
    let store = RiskStore::open(&chain.dir.path().join(name)).unwrap();
    Arc::new(Scorer {
        config: RiskConfig::default(),
        store,
        signer: signer.map(key),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_guessing_codes_is_flagged_and_held_pending_review() {
    let chain = Chain::start();
    let terminal = Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel::new("pos").unwrap(),
    };
    register(&chain, TERMINAL, terminal).await;
    register(&chain, RISK, Role::Risk).await;
    let console = chain.console("acme", "console");
    let (holding, flagging) = (
        scorer(&chain, "risk.sqlite", Some(RISK)),
        scorer(&chain, "shadow.sqlite", None),
    );
    let (mut p1, mut p2) = (None, None);
    // A first start begins at the log's end.
    run_until_idle(&console, &holding, &mut p1).await;
    run_until_idle(&console, &flagging, &mut p2).await;
    for n in 0..10 {
        assert_eq!(guess(&chain, n).await, RejectReason::NotFound);
    }
    // Without a risk key the events are flagged, and only flagged.
    run_until_idle(&console, &flagging, &mut p2).await;
    let only = flagging.store.recent(10).unwrap();
    assert_eq!(only.len(), 2);
    assert!(
        only.iter()
            .all(|f| f.action.as_deref() == Some("no risk key: flagged for review only")),
        "{only:?}"
    );
    run_until_idle(&console, &holding, &mut p1).await;
    let flags = holding.store.recent(10).unwrap();
    assert_eq!(flags.len(), 2, "the 9th and 10th guesses: {flags:#?}");
    let ninth = &flags[1];
    let reason = &ninth.flag.assessment.reasons[0];
    assert_eq!(
        (reason.rule.as_str(), reason.observed, reason.threshold),
        ("failed_validations", 9, 8)
    );
    assert!(
        ninth
            .action
            .as_deref()
            .unwrap()
            .starts_with("hold requested (tx "),
        "{ninth:?}"
    );
    assert!(
        flags[0]
            .action
            .as_deref()
            .unwrap()
            .ends_with("is held already"),
        "{flags:?}"
    );
    // The console raised an alert quoting the rule.
    let alerts = console.alerts().store().recent(10).unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "fraud_score" && a.message.contains("failed_validations 9 > 8")),
        "{alerts:#?}"
    );
    // The hold lands, pending review, placed by the risk key; the terminal is stopped.
    let target = HoldTarget::Terminal(public(TERMINAL));
    let mut record = None;
    for _ in 0..100 {
        if let Some(StateValue::Hold(h)) = chain.get(StateKey::Hold(
            crate::console::Console::org(&console).clone(),
            target.clone(),
        )) {
            record = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hold = record.expect("the hold was placed");
    assert_eq!(
        (hold.status, hold.reason, hold.placed_by),
        (
            HoldStatus::PendingReview,
            HoldReason::Enumeration,
            public(RISK)
        )
    );
    assert_eq!(guess(&chain, 99).await, RejectReason::OnHold);
    // A backtest over the same blocks flags exactly what live scoring flagged.
    run_until_idle(&console, &holding, &mut p1).await;
    let mut live: Vec<_> = holding
        .store
        .recent(100)
        .unwrap()
        .into_iter()
        .map(|r| r.flag)
        .collect();
    live.reverse();
    let tip = chain.node.status().height;
    let org = couponcactus_chaincode::testkit::org("acme");
    let past =
        super::backtest::backtest(chain.node.store(), &org, &RiskConfig::default(), (0, tip))
            .unwrap();
    assert_eq!(past.flags, live);
    assert_eq!(past.events, 11, "the eleven refused redemptions");
    assert!(
        RiskConfig::default().rules.anomaly.weight > 0,
        "the model is on"
    );
    // An org admin confirms the hold: a label (fraud), saved by the scorer; a backtest
    // over the same blocks finds the same labels and flags.
    let review = TxKind::ReviewHold(ReviewHoldTx {
        target: target.clone(),
        decision: HoldDecision::Confirm,
        note: "guessing codes".into(),
    });
    chain.applied(&key(ADMIN), review).await;
    run_until_idle(&console, &holding, &mut p1).await;
    let labels = holding.store.labels(10).unwrap();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!((&labels[0].subject, labels[0].fraud), (&target, true));
    assert_eq!(
        holding.store.label_totals().unwrap(),
        LabelTotals {
            fraud: 1,
            honest: 0
        }
    );
    let tip = chain.node.status().height;
    let past =
        super::backtest::backtest(chain.node.store(), &org, &RiskConfig::default(), (0, tip))
            .unwrap();
    assert_eq!(past.labels, labels);
    assert_eq!(past.flags, live);
}
