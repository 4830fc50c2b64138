//! The consent read (`api::consent`): every purpose's latest record and the erasure
//! receipt, each proven present or absent at one height, and who may read them (the org's
//! admins, issuers and terminals, auditors; never a partner key or another org's staff).

use super::*;
use couponcactus_chaincode::consent::{ConsentDecision, ConsentRecord, ErasureRecord, Purpose};
use couponcactus_chaincode::tx::{RecordConsentTx, RecordErasureTx};

/// Checks one proof of the answer against `at.state_root` (the header's) for `key`.
fn proven_at(body: &Value, proof: &Value, key: &StateKey) -> ProvenValue {
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    let header: BlockHeader = from_json(&body["at"]["header"]);
    assert_eq!(header.state_root, root);
    let proof: ProvenValue = from_json(proof);
    assert_eq!(&proof.key, key);
    assert_eq!(proof.version, header.height);
    verify_state_proof(&root, key, proof.value.as_ref(), &proof.proof).unwrap();
    proof
}

/// The terminal records member 1's marketing consent; the admin erases member 2.
async fn with_records(t: &TestNode) {
    t.setup().await;
    let grant = TxKind::RecordConsent(RecordConsentTx {
        member: member(1),
        purpose: Purpose::Marketing,
        decision: ConsentDecision::Granted,
        text_hash: Hash32([5; 32]),
    });
    let applied = t.applied(&key(TERMINAL), grant).await;
    assert_eq!(
        applied["result"]["events"][0]["event"], "consent_recorded",
        "{applied}"
    );
    let erase = TxKind::RecordErasure(RecordErasureTx { member: member(2) });
    t.applied(&key(ADMIN_ACME), erase).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_purpose_and_the_erasure_are_proven_present_or_absent() {
    let t = TestNode::start().await;
    with_records(&t).await;
    let acme = testkit::org("acme");
    let path = format!("/v1/members/{}/consent", member(1).to_hex());
    let (status, body) = t.signed_get(&key(ISSUER), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["org"], "acme");
    let consents = body["consents"].as_array().unwrap();
    let purposes: Vec<Purpose> = consents.iter().map(|c| from_json(&c["purpose"])).collect();
    assert_eq!(
        purposes,
        vec![
            Purpose::Marketing,
            Purpose::Profiling,
            Purpose::PartnerSharing(testkit::org("globex")),
            Purpose::PartnerSharing(testkit::org("initech")),
        ]
    );
    for (entry, purpose) in consents.iter().zip(purposes) {
        let key = StateKey::Consent(acme.clone(), member(1), purpose.clone());
        let proof = proven_at(&body, &entry["proof"], &key);
        let record: Option<ConsentRecord> = from_json(&entry["record"]);
        assert_eq!(proof.value, record.clone().map(StateValue::Consent));
        assert_eq!(record.is_some(), purpose == Purpose::Marketing, "{entry}");
    }
    assert_eq!(consents[0]["record"]["granted"], true);
    assert!(body["erasure"].is_null(), "{body}");
    let erasure_key = StateKey::Erasure(acme.clone(), member(1));
    assert_eq!(
        proven_at(&body, &body["erasure_proof"], &erasure_key).value,
        None
    );

    // Member 2's erasure receipt, read by the terminal and by an auditor naming the org.
    let path = format!("/v1/members/{}/consent", member(2).to_hex());
    for (reader, path) in [
        (TERMINAL, path.clone()),
        (AUDITOR, format!("{path}?org=acme")),
    ] {
        let (status, body) = t.signed_get(&key(reader), &path).await;
        assert_eq!(status, 200, "{body}");
        let erasure: ErasureRecord = from_json(&body["erasure"]);
        let key = StateKey::Erasure(acme.clone(), member(2));
        let proof = proven_at(&body, &body["erasure_proof"], &key);
        assert_eq!(proof.value, Some(StateValue::Erasure(erasure)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_and_other_orgs_may_not_read_consent() {
    let t = TestNode::start().await;
    with_records(&t).await;
    let path = format!("/v1/members/{}/consent", member(1).to_hex());
    for (reader, path) in [
        (PARTNER, path.clone()),
        (PARTNER, format!("{path}?org=acme")),
        (OTHER_ISSUER, format!("{path}?org=acme")),
        (ISSUER, format!("{path}?org=initech")),
    ] {
        let (status, body) = t.signed_get(&key(reader), &path).await;
        assert_eq!(status, 403, "{path} by {reader}: {body}");
        assert_eq!(body["error"]["code"], "not_authorized", "{body}");
    }
    let (status, _) = t.get(&path).await;
    assert_eq!(status, 401);
    for bad in [
        "/v1/members/abcd/consent".to_string(),
        format!("{path}?org=Not%20An%20Org"),
    ] {
        let (status, body) = t.signed_get(&key(ADMIN_ACME), &bad).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("invalid_input")),
            "{bad}: {body}"
        );
    }
    let (_, doc) = t.get("/openapi.json").await;
    assert!(doc["paths"].get("/v1/members/{member}/consent").is_some());
}
