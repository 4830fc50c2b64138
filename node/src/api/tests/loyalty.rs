//! The loyalty reads (issue 19): a program, a member's balances and lots, the liability
//! and a partner settlement, each proven against the header's state root, with the
//! confidentiality rules of `api::balances`.

use super::*;
use couponcactus_chaincode::loyalty::{Account, Segment};
use couponcactus_chaincode::tx::{EarnTx, LoadTx, SetProgramTx};

/// Acme runs the testkit program with globex as partner; member 1 earned 100 points
/// (pending) on a 100 EUR order and got a 20 EUR gift.
async fn with_balances(t: &TestNode) {
    t.setup().await;
    let mut spec = testkit::program_spec();
    spec.partner_orgs = vec![testkit::org("globex")];
    t.applied(&key(ADMIN_ACME), TxKind::SetProgram(SetProgramTx { spec }))
        .await;
    let earn = TxKind::Earn(EarnTx {
        program: testkit::org("acme"),
        member: member(1),
        order_ref: "order-1".into(),
        order: testkit::order(10_000),
    });
    let body = t.applied(&key(TERMINAL), earn).await;
    assert_eq!(body["result"]["events"][0]["op"], "earned", "{body}");
    let load = TxKind::Load(LoadTx {
        program: testkit::org("acme"),
        member: member(1),
        segment: Segment::Gift,
        amount: 2_000,
        reference: "gift-card-7".into(),
    });
    t.applied(&key(ISSUER), load).await;
}

/// The body's proof verifies against `at.state_root`, which is the header's.
fn proven(body: &Value) -> ProvenValue {
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    let header: BlockHeader = from_json(&body["at"]["header"]);
    assert_eq!(header.state_root, root);
    let proof: ProvenValue = from_json(&body["proof"]);
    proof.verify(&root).unwrap();
    proof
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_are_proven_and_read_by_the_org_its_partners_and_auditors() {
    let t = TestNode::start().await;
    with_balances(&t).await;
    let path = format!("/v1/programs/acme/members/{}", member(1));
    let (status, body) = t.signed_get(&key(TERMINAL), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balances"], json!({"gift": 2_000, "mileage": 100}));
    assert_eq!(body["spendable"], json!({"gift": 2_000}), "points pending");
    assert_eq!(body["tier"], "base");
    let proof = proven(&body);
    let account: Account = from_json(&body["account"]);
    assert_eq!(proof.value, Some(StateValue::Account(account)));
    assert_eq!(
        proof.key,
        StateKey::Account(testkit::org("acme"), member(1))
    );
    // A partner's key reads it; another org's does not.
    let (status, _) = t.signed_get(&key(PARTNER), &path).await;
    assert_eq!(status, 200);
    let (status, body) = t.signed_get(&key(OTHER_ISSUER), &path).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = t.get(&path).await;
    assert_eq!(status, 401);
    // No account: zero balances, and its absence proven.
    let none = format!("/v1/programs/acme/members/{}", member(9));
    let (status, body) = t.signed_get(&key(TERMINAL), &none).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balances"], json!({}));
    assert!(body["account"].is_null());
    assert_eq!(proven(&body).value, None);
    // The program itself, and an org without one (its absence proven).
    let (status, body) = t.signed_get(&key(PARTNER), "/v1/programs/acme").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["program"]["version"], 1);
    proven(&body);
    let (status, body) = t
        .signed_get(&key(ADMIN_INITECH), "/v1/programs/initech")
        .await;
    assert_proven_absent(status, &body, &StateKey::Program(testkit::org("initech")));
    let (status, body) = t
        .signed_get(&key(TERMINAL), "/v1/programs/not%20an%20org")
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_input"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liability_and_settlement_are_the_staffs_and_auditors() {
    let t = TestNode::start().await;
    with_balances(&t).await;
    let (status, body) = t
        .signed_get(&key(ISSUER), "/v1/programs/acme/liability")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["liability"]["by_segment"],
        json!({"gift": 2_000, "mileage": 100})
    );
    proven(&body);
    let (status, _) = t
        .signed_get(&key(AUDITOR), "/v1/programs/acme/liability")
        .await;
    assert_eq!(status, 200);
    let (status, body) = t
        .signed_get(&key(TERMINAL), "/v1/programs/acme/liability")
        .await;
    assert_eq!(status, 403, "{body}");
    // Nothing between acme and globex yet: empty, and its absence proven.
    let path = "/v1/programs/acme/settlements/globex";
    let (status, body) = t.signed_get(&key(ADMIN_GLOBEX), path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["net"], json!({}));
    assert_eq!(proven(&body).value, None);
    let (status, _) = t.signed_get(&key(OTHER_ISSUER), path).await;
    assert_eq!(status, 403);
    let (_, doc) = t.get("/openapi.json").await;
    for p in [
        "/v1/programs/{org}",
        "/v1/programs/{org}/members/{member}",
        "/v1/programs/{org}/liability",
        "/v1/programs/{org}/settlements/{partner}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
}
