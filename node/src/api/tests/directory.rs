//! The member directory's routes (`api::directory`): add, match (conflicts included),
//! show, export and erase (with the analytics purge), who may use them (org admins and
//! issuers of the node's org only) and malformed or oversize input.

use super::*;
use crate::analytics::Analytics;
use crate::directory::Directory;
use sha2::{Digest, Sha256};

const EMAIL: &str = "Marisol.Qwertyuiop@Example.COM";

/// A node with a directory (and an analytics store) in their own temporary folder.
struct DirNode {
    t: TestNode,
    analytics: Arc<Analytics>,
    _dir: tempfile::TempDir,
}

async fn start() -> DirNode {
    let dir = tempfile::tempdir().unwrap();
    let directory = Arc::new(Directory::open(dir.path(), None).unwrap());
    let analytics = Arc::new(Analytics::open(&dir.path().join("analytics.sqlite")).unwrap());
    let options = ApiOptions {
        directory: Some(directory),
        analytics: Some(analytics.clone()),
        ..ApiOptions::default()
    };
    DirNode {
        t: TestNode::start_with(options).await,
        analytics,
        _dir: dir,
    }
}

impl TestNode {
    /// A POST of `body` (raw bytes) signed by `signer`, the body's hash in the target.
    async fn signed_post_raw(
        &self,
        signer: &SigningKey,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let target = format!(
            "{path}{sep}body_sha256={}",
            hex::encode(Sha256::digest(&body))
        );
        let time = now_ms();
        let signature = sign_read(signer, &self.chain_id, time, "POST", &target);
        let request = self
            .http
            .post(format!("{}{target}", self.url))
            .header(KEY_HEADER, hex::encode(signer.verifying_key().to_bytes()))
            .header(TIME_HEADER, time.to_string())
            .header(SIGNATURE_HEADER, signature.to_hex())
            .header("content-type", "application/json")
            .body(body);
        self.send(request).await
    }

    /// A JSON POST signed by `signer`.
    async fn signed_post(&self, signer: &SigningKey, path: &str, body: &Value) -> (u16, Value) {
        self.signed_post_raw(signer, path, serde_json::to_vec(body).unwrap())
            .await
    }
}

fn marisol() -> Value {
    json!({
        "email": EMAIL,
        "phone": "+44 20 7946 0958",
        "name": "Marisol Qwertyuiop",
        "recipient_ids": ["rcpt-marisol-1"],
        "member": member(1).to_hex(),
        "nonce": "3f9a0c",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_match_show_export_and_erase_with_the_analytics_purge() {
    let d = start().await;
    let t = &d.t;
    t.setup().await; // allocates spring/0 to member 1
    d.analytics.catch_up(t.node.store()).unwrap();
    let rows = d.analytics.member_rows(&member(1)).unwrap();
    assert!(rows > 0, "member 1's allocation is in the analytics store");

    // Import member 1 (a member the org already has on the ledger).
    let admin = key(ADMIN_ACME);
    let (status, added) = t
        .signed_post(&admin, "/v1/directory/members", &marisol())
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["member"], member(1).to_hex());
    assert_eq!(added["record"]["email"], "marisol.qwertyuiop@example.com");
    assert_eq!(added["record"]["phone"], "+442079460958");
    // A new subject (no member id): a random id; an issuer may add too.
    let other = json!({"email": "other.person@example.net", "recipient_ids": ["rcpt-other"]});
    let (status, second) = t
        .signed_post(&key(ISSUER), "/v1/directory/members", &other)
        .await;
    assert_eq!(status, 200, "{second}");
    let second_member = second["member"].as_str().unwrap().to_string();
    assert_ne!(second_member, member(1).to_hex());

    // The three inputs, alone and together, find member 1.
    for inputs in [
        json!({"email": EMAIL.to_lowercase()}),
        json!({"recipient_id": "rcpt-marisol-1"}),
        json!({"member": member(1).to_hex()}),
        json!({"email": EMAIL, "recipient_id": "rcpt-marisol-1", "member": member(1).to_hex()}),
    ] {
        let (status, m) = t.signed_post(&admin, "/v1/directory/match", &inputs).await;
        assert_eq!(status, 200, "{inputs}: {m}");
        assert_eq!(m["member"], member(1).to_hex());
    }
    // An unknown recipient id beside a known email: matched, listed as unmatched.
    let (_, m) = t
        .signed_post(
            &admin,
            "/v1/directory/match",
            &json!({"email": EMAIL, "recipient_id": "nope"}),
        )
        .await;
    assert_eq!(m["unmatched"], json!(["recipient_id"]), "{m}");
    // Conflicting inputs: 409 match_conflict naming the inputs, nothing of the subjects.
    let conflict = json!({"email": EMAIL, "recipient_id": "rcpt-other"});
    let (status, body) = t
        .signed_post(&admin, "/v1/directory/match", &conflict)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "match_conflict");
    assert_eq!(body["groups"], json!([["email"], ["recipient_id"]]));
    let text = body.to_string();
    assert!(
        !text.contains("marisol") && !text.contains(&second_member),
        "{text}"
    );
    // Nothing resolves: 404.
    let (status, _) = t
        .signed_post(
            &admin,
            "/v1/directory/match",
            &json!({"email": "ghost@example.org"}),
        )
        .await;
    assert_eq!(status, 404);

    let one = format!("/v1/directory/members/{}", member(1).to_hex());
    let (status, shown) = t.signed_get(&admin, &one).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["record"]["name"], "Marisol Qwertyuiop");
    let (status, export) = t.signed_get(&key(ISSUER), &format!("{one}/export")).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["record"], shown["record"]);
    assert_eq!(
        export["indexed_by"],
        json!(["email", "phone", "recipient_id"])
    );
    assert_eq!(export["analytics_rows"], rows);

    // Erase: the record, its indexes and the analytics rows go; the erasure is logged.
    let (status, erased) = t
        .signed_post(&admin, &format!("{one}/erase"), &json!({}))
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["erased"]["member"], member(1).to_hex());
    assert!(erased["erased"]["time_ms"].as_u64().unwrap() > 0);
    assert_eq!(erased["analytics_rows"], rows);
    assert_eq!(d.analytics.member_rows(&member(1)).unwrap(), 0);
    let (status, body) = t.signed_get(&admin, &one).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    let (status, _) = t.signed_get(&admin, &format!("{one}/export")).await;
    assert_eq!(status, 404);
    let (status, _) = t
        .signed_post(&admin, "/v1/directory/match", &json!({"email": EMAIL}))
        .await;
    assert_eq!(status, 404, "the email no longer resolves");
    let (status, body) = t
        .signed_post(&admin, &format!("{one}/erase"), &json!({}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "twice"
    );
    // The other subject is still there.
    let (status, _) = t
        .signed_get(&admin, &format!("/v1/directory/members/{second_member}"))
        .await;
    assert_eq!(status, 200);
    // The routes are in the OpenAPI document.
    let (_, doc) = t.get("/openapi.json").await;
    for p in [
        "/v1/directory/members",
        "/v1/directory/match",
        "/v1/directory/members/{member}",
        "/v1/directory/members/{member}/erase",
        "/v1/directory/members/{member}/export",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_and_issuers_of_the_nodes_org_use_the_directory() {
    let d = start().await;
    let t = &d.t;
    t.setup().await;
    let (status, _) = t
        .signed_post(&key(ADMIN_ACME), "/v1/directory/members", &marisol())
        .await;
    assert_eq!(status, 200);
    let one = format!("/v1/directory/members/{}", member(1).to_hex());
    // Terminals, auditors, partners, other orgs' admins and issuers, the node's own key.
    for reader in [TERMINAL, AUDITOR, PARTNER, ADMIN_GLOBEX, OTHER_ISSUER, 200] {
        let signer = key(reader);
        let answers = [
            t.signed_post(
                &signer,
                "/v1/directory/members",
                &json!({"email": "x@example.com"}),
            )
            .await,
            t.signed_post(&signer, "/v1/directory/match", &json!({"email": EMAIL}))
                .await,
            t.signed_get(&signer, &one).await,
            t.signed_get(&signer, &format!("{one}/export")).await,
            t.signed_post(&signer, &format!("{one}/erase"), &json!({}))
                .await,
        ];
        for (status, body) in answers {
            assert_eq!(status, 403, "key {reader}: {body}");
            assert_eq!(body["error"]["code"], "not_authorized", "{body}");
            assert!(!body.to_string().contains("Marisol"), "{body}");
        }
    }
    // Unsigned: 401. The subject is untouched by all of the above.
    let (status, _) = t.get(&one).await;
    assert_eq!(status, 401);
    let (status, body) = t.signed_get(&key(ADMIN_ACME), &one).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["recipient_ids"], json!(["rcpt-marisol-1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversize_and_unsigned_bodies_are_refused() {
    let d = start().await;
    let t = &d.t;
    let admin = key(ADMIN_ACME);
    let add = "/v1/directory/members";
    let invalid = [
        json!({"email": "not-an-email"}),
        json!({"email": format!("{}@example.com", "a".repeat(250))}),
        json!({"phone": "call me maybe"}),
        json!({"name": "n".repeat(201)}),
        json!({"external_ref": "r".repeat(129)}),
        json!({"recipient_ids": ["with space"]}),
        json!({"recipient_ids": ["r".repeat(129)]}),
        json!({"recipient_ids": (0..65).map(|i| format!("r{i}")).collect::<Vec<_>>()}),
    ];
    for body in invalid {
        let (status, answer) = t.signed_post(&admin, add, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_input", "{answer}");
    }
    // Not the schema: an unknown field, a wrong type (its value not echoed).
    let (status, answer) = t
        .signed_post(&admin, add, &json!({"emial": "a@b.cd"}))
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("malformed")),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("emial")
    );
    let (status, answer) = t
        .signed_post(&admin, add, &json!({"member": "secret.person@example.com"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(!answer.to_string().contains("secret.person"), "{answer}");
    // Oversize (16 KiB limit).
    let big = json!({"name": "x".repeat(20_000)});
    let (status, answer) = t.signed_post(&admin, add, &big).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (413, &json!("oversize")),
        "{answer}"
    );
    // A body that is not the signed one.
    let time = now_ms();
    let target = format!("{add}?body_sha256={}", "00".repeat(32));
    let signature = sign_read(&admin, &t.chain_id, time, "POST", &target);
    let request = t
        .http
        .post(format!("{}{target}", t.url))
        .header(KEY_HEADER, hex::encode(admin.verifying_key().to_bytes()))
        .header(TIME_HEADER, time.to_string())
        .header(SIGNATURE_HEADER, signature.to_hex())
        .body(r#"{"email":"a@b.cd"}"#);
    let (status, answer) = t.send(request).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (401, &json!("bad_signature"))
    );
    // A match without input, a malformed member id in the path.
    let (status, answer) = t
        .signed_post(&admin, "/v1/directory/match", &json!({}))
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("invalid_input"))
    );
    let (status, _) = t.signed_get(&admin, "/v1/directory/members/abcd").await;
    assert_eq!(status, 400);
    // Nothing was stored.
    let (status, _) = t
        .signed_post(&admin, "/v1/directory/match", &json!({"email": "a@b.cd"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_directory_answers_directory_off() {
    let t = TestNode::start().await;
    let (status, body) = t
        .signed_post(
            &key(ADMIN_ACME),
            "/v1/directory/match",
            &json!({"email": EMAIL}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("directory_off")),
        "{body}"
    );
}
