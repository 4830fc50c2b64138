//! The hold reads (`api::holds`): an org's holds in force after place, confirm and lift,
//! one target's hold proven present or absent, and who may read them (the org's admins,
//! issuers and risk key, auditors; never a terminal, a partner or another org's staff).

use super::*;
use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::risk::{HoldReason, HoldRecord, HoldStatus, HoldTarget};
use couponcactus_chaincode::tx::{HoldDecision, PlaceHoldTx, ReviewHoldTx};

/// Acme's fraud engine key.
const RISK: u8 = 40;

fn place(target: HoldTarget, reason: HoldReason, note: &str) -> TxKind {
    TxKind::PlaceHold(PlaceHoldTx {
        target,
        reason,
        note: note.into(),
    })
}

fn review(target: HoldTarget, decision: HoldDecision) -> TxKind {
    TxKind::ReviewHold(ReviewHoldTx {
        target,
        decision,
        note: "reviewed".into(),
    })
}

/// `GET /v1/holds/{kind}/{id}` of `target`.
fn path_of(target: &HoldTarget) -> String {
    let id = match target {
        HoldTarget::Member(m) => m.to_hex(),
        HoldTarget::Terminal(k) => k.to_hex(),
        HoldTarget::Code(h) => h.to_hex(),
    };
    format!("/v1/holds/{}/{id}", target.kind_name())
}

/// The setup's keys and pool, acme's risk key, and: the admin holds member 1 (in force);
/// the risk key holds the terminal and spring's code 0 (pending review); the admin
/// confirms the terminal's and lifts the code's.
/// Returns the three targets and the height of the lift.
async fn with_holds(t: &TestNode) -> ([HoldTarget; 3], u64) {
    let pool = t.setup().await;
    let register = TxKind::RegisterKey(RegisterKeyTx {
        key: public(RISK),
        role: Role::Risk,
    });
    t.applied(&key(ADMIN_ACME), register).await;
    let held = HoldTarget::Member(member(1));
    let terminal = HoldTarget::Terminal(public(TERMINAL));
    let code = HoldTarget::Code(code_hash(&testkit::code_text(&pool, 0)));
    let placed = t
        .applied(
            &key(ADMIN_ACME),
            place(
                held.clone(),
                HoldReason::Velocity,
                "6 redemptions in 10 min",
            ),
        )
        .await;
    assert_eq!(
        placed["result"]["events"][0]["event"], "hold_placed",
        "{placed}"
    );
    for target in [&terminal, &code] {
        let kind = place(target.clone(), HoldReason::Collusion, "score 0.93");
        t.applied(&key(RISK), kind).await;
    }
    let confirm = review(terminal.clone(), HoldDecision::Confirm);
    t.applied(&key(ADMIN_ACME), confirm).await;
    let lifted = t
        .applied(&key(ADMIN_ACME), review(code.clone(), HoldDecision::Lift))
        .await;
    ([held, terminal, code], lifted["height"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_shows_the_holds_in_force_after_place_confirm_and_lift() {
    let t = TestNode::start().await;
    let ([held, terminal, code], lifted) = with_holds(&t).await;
    let (status, body) = t.signed_get(&key(ISSUER), "/v1/holds").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["org"], "acme");
    assert_eq!(body["truncated"], false);
    assert!(body["height"].as_u64().unwrap() >= lifted, "{body}");
    assert!(body["time_ms"].as_u64().unwrap() > 0, "{body}");
    let holds = body["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 2, "the lifted code's hold is gone: {body}");
    let m = &holds[0];
    assert_eq!(
        m["target"],
        json!({"kind": "member", "id": member(1).to_hex()})
    );
    assert_eq!(from_json::<HoldTarget>(&m["target"]), held);
    assert_eq!(m["reason"], "velocity");
    assert_eq!(m["status"], "confirmed");
    assert_eq!(m["note"], "6 redemptions in 10 min");
    assert_eq!(m["placed_by"], public(ADMIN_ACME).to_hex());
    assert!(m["confirmed_by"].is_null(), "placed in force: {m}");
    assert!(m["placed_ms"].as_u64().unwrap() > 0);
    assert_eq!(m["placed_tx"].as_str().unwrap().len(), 64);
    let k = &holds[1];
    assert_eq!(k["target"]["kind"], "terminal");
    assert_eq!(k["reason"], "collusion");
    assert_eq!(k["status"], "confirmed");
    assert_eq!(k["placed_by"], public(RISK).to_hex());
    assert_eq!(k["confirmed_by"], public(ADMIN_ACME).to_hex());
    assert!(
        !holds
            .iter()
            .any(|h| from_json::<HoldTarget>(&h["target"]) == code)
    );
    assert_eq!(from_json::<HoldTarget>(&k["target"]), terminal);
    // The risk key and an auditor (naming the org) read the same list.
    for (reader, path) in [(RISK, "/v1/holds"), (AUDITOR, "/v1/holds?org=acme")] {
        let (status, other) = t.signed_get(&key(reader), path).await;
        assert_eq!(status, 200, "{other}");
        assert_eq!(other["holds"], body["holds"]);
    }
    // A hold pending review is listed as such (of a member acme knows: a coupon of its
    // pool was allocated to them).
    let allocate = TxKind::Allocate(AllocateTx {
        pool: testkit::pool_id("spring"),
        member: member(2),
        claim: claim(2),
    });
    t.applied(&key(ISSUER), allocate).await;
    let pending = HoldTarget::Member(member(2));
    t.applied(
        &key(RISK),
        place(pending, HoldReason::Bot, "machine timing"),
    )
    .await;
    let (_, body) = t.signed_get(&key(ADMIN_ACME), "/v1/holds").await;
    let statuses: Vec<&str> = body["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["confirmed", "pending_review", "confirmed"],
        "{body}"
    );
    // Initech's staff read their own org's (none), and not acme's.
    let (status, body) = t.signed_get(&key(OTHER_ISSUER), "/v1/holds").await;
    assert_eq!((status, &body["org"]), (200, &json!("initech")), "{body}");
    assert_eq!(body["holds"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_partners_and_other_orgs_may_not_read_holds() {
    let t = TestNode::start().await;
    let ([held, ..], _) = with_holds(&t).await;
    let one = path_of(&held);
    let reads = [
        (TERMINAL, "/v1/holds".to_string()),
        (TERMINAL, one.clone()),
        (PARTNER, "/v1/holds".to_string()),
        (PARTNER, "/v1/holds?org=acme".to_string()),
        (PARTNER, format!("{one}?org=acme")),
        (OTHER_ISSUER, "/v1/holds?org=acme".to_string()),
        (OTHER_ISSUER, format!("{one}?org=acme")),
        (ISSUER, "/v1/holds?org=initech".to_string()),
    ];
    for (reader, path) in reads {
        let (status, body) = t.signed_get(&key(reader), &path).await;
        assert_eq!(status, 403, "{path} by {reader}: {body}");
        assert_eq!(body["error"]["code"], "not_authorized", "{body}");
    }
    let (status, _) = t.get("/v1/holds").await;
    assert_eq!(status, 401);
    for path in [
        "/v1/holds?org=Not%20An%20Org".to_string(),
        format!("/v1/holds/token/{}", member(1).to_hex()),
        "/v1/holds/member/abcd".to_string(),
    ] {
        let (status, body) = t.signed_get(&key(ADMIN_ACME), &path).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("invalid_input")),
            "{path}: {body}"
        );
    }
    let (_, doc) = t.get("/openapi.json").await;
    for p in ["/v1/holds", "/v1/holds/{kind}/{id}"] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
}

/// The body's proof verifies against `at.state_root`, the header's, for `key`.
fn proven(body: &Value, key: &StateKey) -> ProvenValue {
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    let header: BlockHeader = from_json(&body["at"]["header"]);
    assert_eq!(header.state_root, root);
    let proof: ProvenValue = from_json(&body["proof"]);
    assert_eq!(&proof.key, key);
    assert_eq!(proof.version, header.height);
    proof.verify(&root).unwrap();
    verify_state_proof(&root, key, proof.value.as_ref(), &proof.proof).unwrap();
    proof
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hold_is_proven_present_or_absent() {
    let t = TestNode::start().await;
    let ([held, terminal, code], lifted) = with_holds(&t).await;
    let acme = testkit::org("acme");
    let (status, body) = t.signed_get(&key(RISK), &path_of(&terminal)).await;
    assert_eq!(status, 200, "{body}");
    let proof = proven(&body, &StateKey::Hold(acme.clone(), terminal.clone()));
    let hold: HoldRecord = from_json(&body["hold"]);
    assert_eq!(proof.value, Some(StateValue::Hold(hold.clone())));
    assert_eq!(
        (hold.status, hold.reason, hold.confirmed_by),
        (
            HoldStatus::Confirmed,
            HoldReason::Collusion,
            Some(public(ADMIN_ACME))
        )
    );
    assert_eq!(from_json::<HoldTarget>(&body["target"]), terminal);
    // The lifted code: no hold, its absence proven; and held at the height before the lift.
    let (status, body) = t.signed_get(&key(ISSUER), &path_of(&code)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["hold"].is_null(), "{body}");
    let key_of_code = StateKey::Hold(acme.clone(), code.clone());
    assert_eq!(proven(&body, &key_of_code).value, None);
    let path = format!("{}?org=acme&height={}", path_of(&code), lifted - 1);
    let (status, body) = t.signed_get(&key(AUDITOR), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hold"]["status"], "pending_review", "{body}");
    assert!(proven(&body, &key_of_code).value.is_some());
    // A member nobody holds; the held member, read by an auditor for acme.
    let free = HoldTarget::Member(member(9));
    let (status, body) = t.signed_get(&key(ADMIN_ACME), &path_of(&free)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        proven(&body, &StateKey::Hold(acme.clone(), free)).value,
        None
    );
    let path = format!("{}?org=acme", path_of(&held));
    let (status, body) = t.signed_get(&key(AUDITOR), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hold"]["reason"], "velocity");
    proven(&body, &StateKey::Hold(acme, held));
}
