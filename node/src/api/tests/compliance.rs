//! The access log and the retention routes on a running node: who reads them (org admins
//! of the node's org, auditors) and who is refused (issuers, terminals, partners, other
//! orgs' admins, unsigned requests), what an entry names, bad input.

use super::*;
use crate::access_log::{AccessLog, store::ListQuery};
use crate::retention::{Retention, RetentionConfig};
use reqwest::Method;
use sha2::{Digest, Sha256};
use std::sync::Arc;

const ALICE: &str = "aa00000000000000000000000000000000000000000000000000000000000001";

impl TestNode {
    /// A request signed by `signer`; a body adds `body_sha256` to the signed target.
    async fn signed(
        &self,
        signer: &SigningKey,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let target = match &bytes {
            Some(b) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{path}{sep}body_sha256={}", hex::encode(Sha256::digest(b)))
            }
            None => path.to_string(),
        };
        let time = now_ms();
        let signature = sign_read(signer, &self.chain_id, time, method.as_str(), &target);
        let mut request = self
            .http
            .request(method, format!("{}{target}", self.url))
            .header(KEY_HEADER, hex::encode(signer.verifying_key().to_bytes()))
            .header(TIME_HEADER, time.to_string())
            .header(SIGNATURE_HEADER, signature.to_hex());
        if let Some(b) = bytes {
            request = request.header("content-type", "application/json").body(b);
        }
        self.send(request).await
    }
}

fn status_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_holds_are_for_the_nodes_org_admins() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Arc::new(Retention::open(dir.path(), RetentionConfig::default()).unwrap());
    let t = TestNode::start_with(ApiOptions {
        retention: Some(retention.clone()),
        ..ApiOptions::default()
    })
    .await;
    t.setup().await;
    let admin = key(ADMIN_ACME);
    let (status, body) = t.signed(&admin, Method::GET, "/v1/retention", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["classes"].as_array().unwrap().len(), 4, "{body}");
    assert_eq!(body["classes"][1]["class"], "access_log");
    assert_eq!(body["classes"][1]["window_days"], 365);
    // Auditors read; issuers, terminals, partners and other orgs' admins do not.
    assert_eq!(
        t.signed(&key(AUDITOR), Method::GET, "/v1/retention/holds", None)
            .await
            .0,
        200
    );
    for who in [ISSUER, TERMINAL, PARTNER, ADMIN_GLOBEX] {
        let (status, body) = t
            .signed(&key(who), Method::GET, "/v1/retention", None)
            .await;
        assert_eq!(
            (status, status_code(&body)),
            (403, "not_authorized"),
            "key {who}: {body}"
        );
    }
    assert_eq!(t.get("/v1/retention").await.0, 401);
    // Placing a hold: org admins of the node's org only (not auditors).
    let hold = json!({"class": "access_log", "member": ALICE, "reason": "case 2026-17"});
    for who in [AUDITOR, ISSUER, ADMIN_GLOBEX] {
        let (status, body) = t
            .signed(
                &key(who),
                Method::POST,
                "/v1/retention/holds",
                Some(hold.clone()),
            )
            .await;
        assert_eq!(status, 403, "key {who}: {body}");
    }
    let (status, placed) = t
        .signed(
            &admin,
            Method::POST,
            "/v1/retention/holds",
            Some(hold.clone()),
        )
        .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["member"], ALICE);
    assert_eq!(placed["placed_by"], public(ADMIN_ACME).to_hex());
    let id = placed["id"].as_u64().unwrap();
    // Bad holds: unknown class, malformed member, no reason, a body the signature does not cover.
    for bad in [
        json!({"class": "tokens", "reason": "x"}),
        json!({"class": "all", "member": "jane@example.com", "reason": "x"}),
        json!({"class": "all", "reason": ""}),
        json!({"class": "all", "reason": "x", "extra": 1}),
    ] {
        let (status, body) = t
            .signed(
                &admin,
                Method::POST,
                "/v1/retention/holds",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (status, status_code(&body)),
            (400, "invalid_input"),
            "{bad}: {body}"
        );
    }
    let unsigned_body = t
        .signed(&admin, Method::POST, "/v1/retention/holds", None)
        .await;
    assert_eq!(unsigned_body.0, 403, "{}", unsigned_body.1);
    let (_, list) = t
        .signed(&admin, Method::GET, "/v1/retention/holds", None)
        .await;
    assert_eq!(list["holds"].as_array().unwrap().len(), 1, "{list}");
    let (_, body) = t.signed(&admin, Method::GET, "/v1/retention", None).await;
    assert_eq!(body["classes"][1]["held_members"], 1, "{body}");
    // Lifting: not by an issuer; once; an unknown id is 404, a malformed one 400.
    let path = format!("/v1/retention/holds/{id}");
    assert_eq!(
        t.signed(&key(ISSUER), Method::DELETE, &path, None).await.0,
        403
    );
    assert_eq!(t.signed(&admin, Method::DELETE, &path, None).await.0, 200);
    assert_eq!(t.signed(&admin, Method::DELETE, &path, None).await.0, 404);
    assert_eq!(
        t.signed(&admin, Method::DELETE, "/v1/retention/holds/x", None)
            .await
            .0,
        400
    );
    assert!(retention.store().list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_names_who_did_what_to_org_admins_and_auditors() {
    let dir = tempfile::tempdir().unwrap();
    let (log, writer) = AccessLog::open(dir.path(), None).unwrap();
    let t = TestNode::start_with(ApiOptions {
        access_log: Some(log.clone()),
        ..ApiOptions::default()
    })
    .await;
    let writer = writer.with_chain(t.node.store().clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(writer.run(async move {
        let _ = stopped.await;
    }));
    let pool = t.setup().await;
    let read = format!("/v1/pools/{pool}");
    assert_eq!(
        t.signed(&key(ISSUER), Method::GET, &read, None).await.0,
        200
    );
    // A partner of globex reads (logged whatever the answer).
    t.signed(&key(PARTNER), Method::GET, "/v1/orgs/globex/pools", None)
        .await;
    assert_eq!(t.get("/healthz").await.0, 200);
    assert_eq!(t.get("/v1/status").await.0, 200);
    // Let the writer store everything queued.
    let _ = stop.send(());
    task.await.unwrap();
    let all = log
        .store()
        .list(&ListQuery {
            to_ms: u64::MAX,
            limit: 1_000,
            ..ListQuery::default()
        })
        .unwrap();
    assert!(
        all.iter()
            .all(|e| e.route != "/healthz" && e.route != "/v1/status")
    );
    let issuer_read = all
        .iter()
        .find(|e| e.route == "/v1/pools/{id}")
        .expect("the issuer's read is logged");
    assert_eq!(
        issuer_read.actor.key.as_deref(),
        Some(public(ISSUER).to_hex().as_str())
    );
    assert_eq!(
        (
            issuer_read.actor.org.as_deref(),
            issuer_read.actor.role.as_deref()
        ),
        (Some("acme"), Some("issuer"))
    );
    assert_eq!(issuer_read.targets["id"], pool.to_string());
    // A submitted tx names its signer, org and role from the registry.
    let submit = all
        .iter()
        .find(|e| {
            e.route == "/v1/txs" && e.actor.key.as_deref() == Some(public(ISSUER).to_hex().as_str())
        })
        .expect("the issuer's txs are logged");
    assert_eq!(
        (submit.method.as_str(), submit.actor.role.as_deref()),
        ("POST", Some("issuer"))
    );

    // The same log through the API (its writer is stopped: later reads are not stored).
    let admin = key(ADMIN_ACME);
    let (status, page) = t.signed(&admin, Method::GET, "/v1/access-log", None).await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["actor"]["org"] == "acme"),
        "an admin reads their org's entries only"
    );
    let (_, page) = t
        .signed(&key(AUDITOR), Method::GET, "/v1/access-log", None)
        .await;
    let orgs: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["actor"]["org"].as_str())
        .collect();
    assert!(
        orgs.contains(&"acme") && orgs.contains(&"globex"),
        "an auditor reads all: {orgs:?}"
    );
    // Pages, time ranges, refusals.
    let (_, first) = t
        .signed(&key(AUDITOR), Method::GET, "/v1/access-log?limit=1", None)
        .await;
    let after = first["next_after"].as_u64().expect("more than one entry");
    let (_, second) = t
        .signed(
            &key(AUDITOR),
            Method::GET,
            &format!("/v1/access-log?limit=1&after={after}"),
            None,
        )
        .await;
    assert!(second["entries"][0]["id"].as_u64().unwrap() > after);
    let (_, none) = t
        .signed(
            &key(AUDITOR),
            Method::GET,
            "/v1/access-log?from=1&to=2",
            None,
        )
        .await;
    assert_eq!(none["entries"], json!([]));
    let (status, body) = t
        .signed(&admin, Method::GET, "/v1/access-log?from=5&to=4", None)
        .await;
    assert_eq!(
        (status, status_code(&body)),
        (400, "invalid_input"),
        "{body}"
    );
    let (status, _) = t
        .signed(&admin, Method::GET, "/v1/access-log?limit=-1", None)
        .await;
    assert_eq!(status, 400);
    for who in [ISSUER, TERMINAL, PARTNER] {
        let (status, body) = t
            .signed(&key(who), Method::GET, "/v1/access-log", None)
            .await;
        assert_eq!(
            (status, status_code(&body)),
            (403, "not_authorized"),
            "key {who}: {body}"
        );
    }
    assert_eq!(t.get("/v1/access-log").await.0, 401);
}
