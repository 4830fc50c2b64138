//! The advisor on a real chain: deterministic per height, its specs accepted by the chain
//! as drafts, bad requests refused by name.

use super::{AdviseRequest, advise, gather};
use crate::analytics::Analytics;
use crate::analytics::tests::workload;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::testkit;
use couponcactus_chaincode::tx::{CreatePoolTx, TxKind};
use couponcactus_chaincode::types::PoolStatus;

#[test]
fn advice_is_the_same_at_one_height_and_its_proposals_become_draft_pools() {
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let mut c = workload(7, 80, Some(&a));
    let req = AdviseRequest::new("acme");
    let first = advise(&req, &gather(&a, &c.store, &req).unwrap()).unwrap();
    let again = advise(&req, &gather(&a, &c.store, &req).unwrap()).unwrap();
    assert_eq!(first, again);
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    assert_eq!(first.stamp.height, c.store.tip().unwrap().height);
    // Every acme pool is reviewed; globex's are not.
    let pools: Vec<&str> = first.pools.iter().map(|p| p.pool.as_str()).collect();
    assert_eq!(pools, ["spring", "summer"]);
    assert!(first.pools.iter().all(|p| !p.action.is_empty()));
    assert!(!first.segments.is_empty());
    assert!(
        (1..=5).contains(&first.proposals.len()),
        "{:#?}",
        first.segments
    );
    for p in &first.proposals {
        assert!(
            p.rationale
                .contains(&format!("height {}", first.stamp.height))
        );
        assert!(p.grounding.members >= super::proposals::MIN_SEGMENT_MEMBERS);
        assert!(p.spec.valid_from_ms > first.stamp.time_ms);
    }
    // Adopting: a proposal's spec, signed by an issuer, becomes a draft pool.
    let spec = first.proposals[0].spec.clone();
    let pool = testkit::pool_id("adopted");
    let issuer = testkit::key(10);
    let events = c.block(vec![(
        &issuer,
        TxKind::CreatePool(CreatePoolTx {
            pool: pool.clone(),
            spec,
        }),
    )]);
    assert_eq!(events.len(), 1, "the chain refused the proposal's spec");
    let Some(StateValue::Pool(record)) = c.store.get(&StateKey::Pool(pool)).unwrap() else {
        panic!("the adopted pool is not in state");
    };
    assert_eq!(record.status, PoolStatus::Draft);
}

#[test]
fn bad_advice_requests_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let c = workload(8, 10, Some(&a));
    let cases = [
        (
            AdviseRequest {
                period_days: 3,
                ..AdviseRequest::new("acme")
            },
            "period_days",
        ),
        (
            AdviseRequest {
                proposals: 9,
                ..AdviseRequest::new("acme")
            },
            "proposals",
        ),
        (
            AdviseRequest {
                margin_bps: 20_000,
                ..AdviseRequest::new("acme")
            },
            "margin",
        ),
        (AdviseRequest::new("Not An Org"), "org"),
    ];
    for (req, want) in cases {
        let err = gather(&a, &c.store, &req).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}");
    }
    let req = AdviseRequest::new("initech");
    let inputs = gather(&a, &c.store, &req).unwrap();
    let err = advise(&req, &inputs).unwrap_err().to_string();
    assert!(err.contains("has no pools yet"), "{err}");
}
