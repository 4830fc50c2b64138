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

/// Serves `app` on 127.0.0.1:0; the base URL a model config names.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}/v1")
}

fn model(url: String, timeout_ms: u64) -> crate::intelligence::llm::ModelConfig {
    crate::intelligence::llm::ModelConfig {
        url,
        model: "stub".into(),
        api_key_env: None,
        timeout_ms,
    }
}

fn chat(content: String) -> serde_json::Value {
    serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
}

#[tokio::test]
async fn a_model_that_returns_garbage_or_hangs_leaves_the_deterministic_advice() {
    use axum::routing::post;
    let dir = tempfile::tempdir().unwrap();
    let a = Analytics::open(&dir.path().join("a.sqlite")).unwrap();
    let c = workload(7, 80, Some(&a));
    let req = AdviseRequest::new("acme");
    let inputs = gather(&a, &c.store, &req).unwrap();
    let plain = advise(&req, &inputs).unwrap();
    assert!(plain.proposals.len() >= 2, "{:?}", plain.proposals);

    let garbage = serve(axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async { axum::Json(chat("certainly! here are my thoughts".into())) }),
    ))
    .await;
    let hang = serve(axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "late"
        }),
    ))
    .await;
    for (url, timeout, want) in [
        (garbage, 5_000, "malformed"),
        (hang, 300, "did not answer within 300 ms"),
    ] {
        let got = super::advise_reviewed(&req, &inputs, Some(&model(url, timeout)))
            .await
            .unwrap();
        assert!(got.model.configured && !got.model.applied);
        assert!(
            got.model.notes.iter().any(|n| n.contains(want)),
            "{:?}",
            got.model.notes
        );
        assert_eq!(got.proposals, plain.proposals);
        assert_eq!(got.pools, plain.pools);
    }

    // A model that reorders and rewords: ids, specs and figures stay the advisor's.
    let (first, second) = (plain.proposals[0].clone(), plain.proposals[1].clone());
    let answer = serde_json::json!({"suggestions": [
        {"id": second.id, "title": "Reach them again", "rationale": "A gentle reminder for this group."},
        {"id": first.id, "title": "Our best bet", "rationale": "Invented 97 percent uplift."},
    ]})
    .to_string();
    let rewording = serve(axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let answer = answer.clone();
            async move { axum::Json(chat(answer)) }
        }),
    ))
    .await;
    let got = super::advise_reviewed(&req, &inputs, Some(&model(rewording, 5_000)))
        .await
        .unwrap();
    assert!(got.model.applied, "{:?}", got.model);
    assert_eq!(got.proposals[0].id, second.id);
    assert_eq!(got.proposals[0].title, "Reach them again");
    assert_eq!(got.proposals[0].spec, second.spec);
    assert_eq!(got.proposals[0].grounding, second.grounding);
    // The invented figure is refused: that proposal keeps the advisor's words.
    let kept = got.proposals.iter().find(|p| p.id == first.id).unwrap();
    assert_eq!(
        (kept.title.as_str(), kept.rationale.as_str()),
        (first.title.as_str(), first.rationale.as_str())
    );
    assert!(
        got.model.notes.iter().any(|n| n.contains("97")),
        "{:?}",
        got.model.notes
    );
}
