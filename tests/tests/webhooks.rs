//! Webhooks end to end: real `cactusd` processes deliver the ledger's events to receivers
//! on 127.0.0.1 that check every Standard Webhooks signature; receivers that fail, time
//! out and answer 410; a node killed -9 mid-delivery loses no event; and the management
//! API refuses wrong roles, other orgs, unsigned and tampered requests and private URLs.

use couponcactus_chaincode::events::EventId;
use couponcactus_chaincode::ids::{ChainId, PoolId, PublicKey};
use couponcactus_chaincode::tx::{CreatePoolTx, TxKind, sign_read};
use couponcactus_node::webhooks::signature;
use couponcactus_tests::client::Reply;
use couponcactus_tests::cluster::{Cluster, ClusterNode};
use couponcactus_tests::fixtures::spec;
use couponcactus_tests::now_ms;
use couponcactus_tests::receiver::{Mode, Received, Receiver};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Short retries so failures heal within a test; private targets allowed (the receivers
/// are on 127.0.0.1).
const FAST_RETRIES: &str = "\n[webhooks]\nallow_private_targets = true\nretry_delays_ms = [200, 300, 400]\njitter_percent = 0\ntimeout_ms = 1000\n";
/// Longest any wait of these tests.
const WAIT: Duration = Duration::from_secs(60);

/// Pool ids of the `pool.created` events answered 2xx, in delivery order.
fn created_pools(log: &[Received]) -> Vec<String> {
    log.iter()
        .filter(|r| r.answered == 200 && !r.replay)
        .map(Received::json)
        .filter(|v| v["type"] == "pool.created")
        .filter_map(|v| v["data"]["pool"].as_str().map(str::to_string))
        .collect()
}

// ---- signed admin requests ----------------------------------------------------------------

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn reply(response: reqwest::blocking::Response) -> Reply {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// `method target` signed by `key` (target exactly as sent), with `body` if any.
fn signed(
    node: &str,
    chain: &ChainId,
    key: &SigningKey,
    method: &str,
    target: &str,
    body: Option<Vec<u8>>,
) -> Reply {
    let time = now_ms();
    let sig = sign_read(key, chain, time, method, target);
    let url = format!("{node}{target}");
    let mut request = match method {
        "GET" => http().get(url),
        _ => http().post(url),
    };
    request = request
        .header(
            "x-cactus-key",
            PublicKey(key.verifying_key().to_bytes()).to_hex(),
        )
        .header("x-cactus-time", time.to_string())
        .header("x-cactus-signature", sig.to_hex());
    if let Some(b) = body {
        request = request.header("content-type", "application/json").body(b);
    }
    reply(request.send().unwrap())
}

/// A POST whose signed target carries the body's SHA-256.
fn post(node: &str, chain: &ChainId, key: &SigningKey, path: &str, body: &Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap();
    let target = format!("{path}?body_sha256={}", hex::encode(Sha256::digest(&bytes)));
    signed(node, chain, key, "POST", &target, Some(bytes))
}

fn get(node: &str, chain: &ChainId, key: &SigningKey, path: &str) -> Reply {
    signed(node, chain, key, "GET", path, None)
}

struct Admin<'a> {
    node: String,
    chain: &'a ChainId,
    key: &'a SigningKey,
}

impl Admin<'_> {
    fn create(&self, url: &str, types: &[&str]) -> (String, String) {
        let r = post(
            &self.node,
            self.chain,
            self.key,
            "/v1/webhooks/endpoints",
            &json!({"url": url, "types": types}),
        )
        .expect(201);
        (
            r.body["endpoint"]["id"].as_str().unwrap().to_string(),
            r.body["secret"].as_str().unwrap().to_string(),
        )
    }

    fn post(&self, path: &str, body: Value) -> Reply {
        post(&self.node, self.chain, self.key, path, &body)
    }

    fn endpoint(&self, id: &str) -> Value {
        get(
            &self.node,
            self.chain,
            self.key,
            &format!("/v1/webhooks/endpoints/{id}"),
        )
        .expect(200)
        .body
    }

    fn deliveries(&self, id: &str) -> Vec<Value> {
        let r = get(
            &self.node,
            self.chain,
            self.key,
            &format!("/v1/webhooks/endpoints/{id}/deliveries?limit=1000"),
        )
        .expect(200);
        r.body["deliveries"].as_array().unwrap().clone()
    }

    fn wait_endpoint(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let e = self.endpoint(id);
            if check(&e) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "endpoint {id}: {what} not reached: {e:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Creates `n` pools named `{prefix}-{i}` by org 1's issuer (one `pool.created` event
/// each), in one batch; returns their ids in submission order.
fn create_pools(cluster: &Cluster, node: &ClusterNode, prefix: &str, n: usize) -> Vec<String> {
    let client = node.client();
    let issuer = &cluster.org(1).issuer;
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let txs: Vec<_> = ids
        .iter()
        .map(|id| {
            client.tx(
                issuer,
                TxKind::CreatePool(CreatePoolTx {
                    pool: PoolId::new(id).unwrap(),
                    spec: spec(id),
                }),
            )
        })
        .collect();
    let batch = client.batch(&txs);
    assert_eq!(batch.applied, n, "creating pools: {batch:#?}");
    ids
}

/// Every delivery's signature verifies with one of `secrets`, its timestamp is within
/// five minutes, and its body's `data.id` is its `webhook-id`.
fn check_signed(log: &[Received], secrets: &[String]) {
    let now = now_ms() / 1000;
    for r in log {
        assert!(
            secrets
                .iter()
                .any(|s| signature::verify(s, &r.id, r.timestamp, &r.body, &r.signature)),
            "delivery {} does not verify: {}",
            r.id,
            r.signature
        );
        assert!(
            r.timestamp.abs_diff(now) < 300,
            "timestamp {} is stale",
            r.timestamp
        );
        let v = r.json();
        assert_eq!(v["data"]["id"], r.id.as_str());
        assert!(v["type"].is_string() && v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}

/// First deliveries (2xx or not) of each event come in strictly increasing event order.
fn check_ordered(log: &[Received]) {
    let mut seen = BTreeSet::new();
    let mut last: Option<EventId> = None;
    for r in log.iter().filter(|r| !r.replay) {
        let id = r.event_id();
        if seen.insert(id) {
            assert!(
                last.is_none_or(|l| id > l),
                "{id} delivered after {last:?}: out of log order"
            );
            last = Some(id);
        }
    }
}

// ---- the tests ----------------------------------------------------------------------------

#[test]
fn events_are_delivered_signed_in_order_and_failures_hold_back_and_heal() {
    let cluster = Cluster::builder()
        .nodes(1)
        .extra_config(FAST_RETRIES)
        .start();
    let node = cluster.node(1);
    let admin = Admin {
        node: node.url(),
        chain: cluster.chain_id(),
        key: &cluster.org(1).admin,
    };
    let rx = Receiver::start();
    let (id, secret) = admin.create(&rx.url(), &[]);
    let only_rejections = Receiver::start();
    let (filtered, _) = admin.create(&only_rejections.url(), &["tx.rejected"]);

    // Happy path: every event, signed, in order.
    let first = create_pools(&cluster, node, "wh-a", 20);
    let log = rx.wait("20 pools", |l| created_pools(l).len() >= 20);
    assert_eq!(created_pools(&log), first);
    check_signed(&log, std::slice::from_ref(&secret));
    check_ordered(&log);
    assert!(
        only_rejections
            .log()
            .iter()
            .all(|r| r.json()["type"] == "tx.rejected")
    );
    let _ = filtered;

    // A failing receiver holds the event back (same webhook-id retried), nothing later
    // passes it; when it heals, everything arrives in order.
    rx.set(Mode::Fail);
    let second = create_pools(&cluster, node, "wh-b", 5);
    let failing = admin.wait_endpoint(&id, "3 failed attempts", |e| {
        e["attempts"].as_u64() >= Some(3)
    });
    assert!(
        failing["last_error"].as_str().unwrap().contains("500"),
        "{failing:#}"
    );
    let held: Vec<_> = rx.log().into_iter().filter(|r| r.answered == 500).collect();
    assert!(
        held.len() >= 3 && held.iter().all(|r| r.id == held[0].id),
        "retries carry the same webhook-id: {held:?}"
    );
    rx.set(Mode::Ok);
    let log = rx.wait("the held pools", |l| created_pools(l).len() >= 25);
    assert_eq!(created_pools(&log), [first.clone(), second].concat());
    check_ordered(&log);
    let attempts = admin.deliveries(&id);
    assert!(
        attempts.iter().any(|d| d["status"] == 500) && attempts.iter().any(|d| d["status"] == 200)
    );

    // A receiver slower than the 1 s timeout: logged as a timeout, then retried.
    rx.set(Mode::Hang(Duration::from_millis(2_500)));
    create_pools(&cluster, node, "wh-c", 1);
    admin.wait_endpoint(&id, "a timeout", |e| {
        e["last_error"]
            .as_str()
            .is_some_and(|x| x.contains("timeout") || x.contains("timed out"))
    });
    rx.set(Mode::Ok);
    rx.wait("the slow pool", |l| created_pools(l).len() >= 26);

    // Rotation: both secrets sign while the old one is valid.
    let rotated = admin
        .post(
            &format!("/v1/webhooks/endpoints/{id}/rotate-secret"),
            json!({}),
        )
        .expect(200);
    let new_secret = rotated.body["secret"].as_str().unwrap().to_string();
    let before = rx.log().len();
    create_pools(&cluster, node, "wh-d", 2);
    let log = rx.wait("pools after rotation", |l| created_pools(l).len() >= 28);
    for r in &log[before..] {
        assert_eq!(
            r.signature.split(' ').count(),
            2,
            "two signatures during rotation"
        );
        assert!(signature::verify(
            &secret,
            &r.id,
            r.timestamp,
            &r.body,
            &r.signature
        ));
        assert!(signature::verify(
            &new_secret,
            &r.id,
            r.timestamp,
            &r.body,
            &r.signature
        ));
    }

    // Replay by height: the same events again, same webhook-ids, marked as replays.
    let originals: Vec<Received> = rx.log().into_iter().filter(|r| r.answered == 200).collect();
    let height = node.status().height;
    admin
        .post(
            &format!("/v1/webhooks/endpoints/{id}/replay"),
            json!({"from_height": 1, "to_height": height}),
        )
        .expect(202);
    let log = rx.wait("the replay", |l| {
        let replayed: BTreeSet<&str> = l
            .iter()
            .filter(|r| r.replay && r.answered == 200)
            .map(|r| r.id.as_str())
            .collect();
        originals.iter().all(|o| replayed.contains(o.id.as_str()))
    });
    let replayed: Vec<&Received> = log.iter().filter(|r| r.replay).collect();
    let replayed_ids: Vec<EventId> = replayed.iter().map(|r| r.event_id()).collect();
    assert!(
        replayed_ids.windows(2).all(|w| w[0] < w[1]),
        "a replay is in log order"
    );
    for o in &originals {
        let again = replayed
            .iter()
            .find(|r| r.id == o.id)
            .unwrap_or_else(|| panic!("{} not replayed", o.id));
        assert_eq!(again.json()["data"], o.json()["data"]);
        assert_eq!(again.json()["replay"], true);
    }

    // 410 Gone disables the endpoint, with the reason in the list; enabling resumes.
    rx.set(Mode::Gone);
    create_pools(&cluster, node, "wh-e", 1);
    let off = admin.wait_endpoint(&id, "disabled by 410", |e| e["enabled"] == false);
    assert!(
        off["disabled_reason"].as_str().unwrap().contains("410"),
        "{off:#}"
    );
    let listed = get(
        &admin.node,
        admin.chain,
        admin.key,
        "/v1/webhooks/endpoints",
    )
    .expect(200);
    let entry = listed.body["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["enabled"], false);
    assert!(
        entry.get("secret").is_none() && !listed.body.to_string().contains("whsec_"),
        "list shows no secrets"
    );
    rx.set(Mode::Ok);
    admin
        .post(&format!("/v1/webhooks/endpoints/{id}/enable"), json!({}))
        .expect(200);
    let log = rx.wait("the pool held while disabled", |l| {
        created_pools(l).iter().any(|p| p == "wh-e-0")
    });
    check_ordered(&log);

    // Disabling by an admin stops deliveries.
    let off = admin
        .post(
            &format!("/v1/webhooks/endpoints/{id}/disable"),
            json!({"reason": "maintenance"}),
        )
        .expect(200);
    assert_eq!(off.body["disabled_reason"], "maintenance");
    let count = rx.log().len();
    create_pools(&cluster, node, "wh-f", 1);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        rx.log().len(),
        count,
        "a disabled endpoint receives nothing"
    );

    verify_python_snippet(&log, &[secret, new_secret]);
}

/// Runs the Python verification code of docs/events.md against a real delivery.
fn verify_python_snippet(log: &[Received], secrets: &[String]) {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md"))
        .expect("docs/events.md");
    let section = docs
        .split("## Webhooks")
        .nth(1)
        .expect("a Webhooks section");
    let code = section
        .split("```python\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a python block");
    let r = log
        .iter()
        .rev()
        .find(|r| r.answered == 200)
        .expect("a delivery");
    let secret = secrets
        .iter()
        .find(|s| signature::verify(s, &r.id, r.timestamp, &r.body, &r.signature))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, &r.body).unwrap();
    let script = format!(
        "{code}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\nok = verify({secret:?}, {{'webhook-id': {id:?}, 'webhook-timestamp': {ts:?}, 'webhook-signature': {sig:?}}}, body)\nbad = verify({secret:?}, {{'webhook-id': {id:?}, 'webhook-timestamp': {ts:?}, 'webhook-signature': {sig:?}}}, body + b' ')\nprint(ok, bad)\n",
        id = r.id,
        ts = r.timestamp.to_string(),
        sig = r.signature,
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(&body)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "True False",
        "python: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_killed_mid_delivery_delivers_every_event_in_order() {
    let cluster = Cluster::builder()
        .nodes(1)
        .extra_config(FAST_RETRIES)
        .start();
    let node = cluster.node(1);
    let admin = Admin {
        node: node.url(),
        chain: cluster.chain_id(),
        key: &cluster.org(1).admin,
    };
    let rx = Receiver::start();
    rx.set(Mode::Slow(Duration::from_millis(15)));
    let (_id, secret) = admin.create(&rx.url(), &["pool.created"]);
    let mut pools = create_pools(&cluster, node, "kill-a", 150);
    rx.wait("some deliveries", |l| l.len() >= 30);
    node.crash();
    let delivered_before = created_pools(&rx.log()).len();
    assert!(
        delivered_before < 150,
        "the kill came mid-delivery ({delivered_before} of 150 delivered)"
    );
    node.restart();
    cluster.wait_for_leader();
    pools.extend(create_pools(&cluster, node, "kill-b", 20));
    let log = rx.wait("every pool after the restart", |l| {
        created_pools(l).iter().collect::<BTreeSet<_>>().len() >= 170
    });
    check_signed(&log, std::slice::from_ref(&secret));
    check_ordered(&log);
    let mut firsts = Vec::new();
    for p in created_pools(&log) {
        if !firsts.contains(&p) {
            firsts.push(p);
        }
    }
    assert_eq!(firsts, pools, "every event once at least, in log order");
    // Duplicates (at least once) carry the same webhook-id and the same event.
    for r in &log {
        let same: Vec<&Received> = log.iter().filter(|o| o.id == r.id).collect();
        assert!(same.iter().all(|o| o.json()["data"] == r.json()["data"]));
    }
}

#[test]
fn only_the_node_orgs_admins_manage_endpoints_and_private_urls_are_refused() {
    let cluster = Cluster::builder().nodes(2).start();
    let node = cluster.node(1);
    let url = node.url();
    let chain = cluster.chain_id();
    let (acme, globex) = (cluster.org(1), cluster.org(2));
    let path = "/v1/webhooks/endpoints";
    let body = json!({"url": "http://127.0.0.1:9/hook"});

    // Unsigned, wrong role, another org's admin.
    reply(http().get(format!("{url}{path}")).send().unwrap()).expect_error(401, "unauthenticated");
    post(&url, chain, &acme.issuer, path, &body).expect_error(403, "not_authorized");
    get(&url, chain, &acme.auditor, path).expect_error(403, "not_authorized");
    post(&url, chain, &globex.admin, path, &body).expect_error(403, "not_authorized");
    get(&url, chain, &globex.admin, path).expect_error(403, "not_authorized");

    // Tampered body: signed for one body, sent with another; or no body hash at all.
    let signed_bytes = serde_json::to_vec(&json!({"url": "http://example.com/a"})).unwrap();
    let target = format!(
        "{path}?body_sha256={}",
        hex::encode(Sha256::digest(&signed_bytes))
    );
    let evil = serde_json::to_vec(&json!({"url": "http://example.com/evil"})).unwrap();
    signed(
        &url,
        chain,
        &acme.admin,
        "POST",
        &target,
        Some(evil.clone()),
    )
    .expect_error(401, "bad_signature");
    signed(&url, chain, &acme.admin, "POST", path, Some(evil)).expect_error(401, "bad_signature");
    // A signature over another target (the hash swapped after signing) fails too.
    let time = now_ms();
    let sig = sign_read(&acme.admin, chain, time, "POST", &target);
    let other = serde_json::to_vec(&json!({"url": "http://example.com/b"})).unwrap();
    let swapped = format!("{path}?body_sha256={}", hex::encode(Sha256::digest(&other)));
    reply(
        http()
            .post(format!("{url}{swapped}"))
            .header(
                "x-cactus-key",
                PublicKey(acme.admin.verifying_key().to_bytes()).to_hex(),
            )
            .header("x-cactus-time", time.to_string())
            .header("x-cactus-signature", sig.to_hex())
            .body(other)
            .send()
            .unwrap(),
    )
    .expect_error(401, "bad_signature");

    // The SSRF guard is on by default: private, loopback, link-local and metadata targets.
    for target in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://[fd00::1]/hook",
    ] {
        let r = post(&url, chain, &acme.admin, path, &json!({"url": target}))
            .expect_error(400, "unsafe_url");
        assert!(
            r.body.to_string().contains("allow_private_targets"),
            "{r:#?}"
        );
    }
    post(
        &url,
        chain,
        &acme.admin,
        path,
        &json!({"url": "ftp://example.com/"}),
    )
    .expect_error(400, "invalid_input");
    post(
        &url,
        chain,
        &acme.admin,
        path,
        &json!({"url": "http://example.com/", "types": ["coupon.nope"]}),
    )
    .expect_error(400, "invalid_input");
    get(&url, chain, &acme.admin, path).expect(200);
    get(
        &url,
        chain,
        &acme.admin,
        "/v1/webhooks/endpoints/ep_0000000000000000",
    )
    .expect_error(404, "not_found");
    get(&url, chain, &acme.admin, "/v1/webhooks/endpoints/nope").expect_error(400, "invalid_input");
    post(
        &url,
        chain,
        &acme.admin,
        "/v1/webhooks/endpoints/ep_0000000000000000/enable",
        &json!({}),
    )
    .expect_error(404, "not_found");
    // The node of globex serves globex's admins, not acme's.
    get(&cluster.node(2).url(), chain, &acme.admin, path).expect_error(403, "not_authorized");
    get(&cluster.node(2).url(), chain, &globex.admin, path).expect(200);

    // The routes are in the OpenAPI document.
    let doc = reply(http().get(format!("{url}/openapi.json")).send().unwrap()).expect(200);
    for p in [
        "/v1/webhooks/endpoints",
        "/v1/webhooks/endpoints/{id}/replay",
        "/v1/webhooks/endpoints/{id}/deliveries",
    ] {
        assert!(
            doc.body["paths"].get(p).is_some(),
            "{p} missing from /openapi.json"
        );
    }
}

/// Runs `cactus --json ARGS` against `node`; the JSON output or the failure.
fn cactus(node: &str, args: &[&str]) -> couponcactus_tests::node::CactusRun {
    let mut command = std::process::Command::new(couponcactus_tests::node::cactus_binary());
    command.args(["--node", node, "--json"]).args(args);
    couponcactus_tests::node::run_cactus(command, Duration::from_secs(60))
}

#[test]
fn the_cli_manages_endpoints_and_an_endpoint_failing_too_long_is_disabled() {
    let config = format!("{FAST_RETRIES}disable_after_ms = 1500\n");
    let cluster = Cluster::builder().nodes(1).extra_config(&config).start();
    let node = cluster.node(1);
    let url = node.url();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("admin.key");
    couponcactus_genesis::KeyFile::from_seed(cluster.org(1).admin.to_bytes())
        .save(&key_file)
        .unwrap();
    let issuer_file = dir.path().join("issuer.key");
    couponcactus_genesis::KeyFile::from_seed(cluster.org(1).issuer.to_bytes())
        .save(&issuer_file)
        .unwrap();
    let key = key_file.to_str().unwrap();
    let rx = Receiver::start();

    let added = cactus(
        &url,
        &[
            "webhooks",
            "add",
            "--key",
            key,
            "--url",
            &rx.url(),
            "--type",
            "pool.created",
        ],
    )
    .ok()
    .json();
    let id = added["endpoint"]["id"].as_str().unwrap().to_string();
    let secret = added["secret"].as_str().unwrap().to_string();
    assert_eq!(added["endpoint"]["types"], json!(["pool.created"]));
    let refused = cactus(
        &url,
        &["webhooks", "list", "--key", issuer_file.to_str().unwrap()],
    );
    assert_ne!(refused.code, 0, "an issuer may not list: {refused:?}");
    assert!(
        format!("{}{}", refused.stdout, refused.stderr).contains("not_authorized"),
        "{refused:?}"
    );

    create_pools(&cluster, node, "cli", 2);
    let log = rx.wait("2 pools", |l| created_pools(l).len() >= 2);
    // `cactus webhooks verify` checks a real delivery, and refuses a changed body.
    let r = &log[0];
    let verify = |body: &[u8]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(couponcactus_tests::node::cactus_binary())
            .args([
                "webhooks",
                "verify",
                "--secret",
                &secret,
                "--id",
                &r.id,
                "--timestamp",
                &r.timestamp.to_string(),
                "--signature",
                &r.signature,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(body).unwrap();
        child.wait_with_output().unwrap().status.success()
    };
    assert!(verify(&r.body));
    assert!(!verify(b"{\"type\":\"pool.created\"}"));

    let rows = cactus(&url, &["webhooks", "deliveries", &id, "--key", key])
        .ok()
        .json();
    assert!(rows["deliveries"].as_array().unwrap().len() >= 2);
    let rotated = cactus(&url, &["webhooks", "rotate-secret", &id, "--key", key])
        .ok()
        .json();
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    let height = node.status().height.to_string();
    let replay = cactus(
        &url,
        &[
            "webhooks",
            "replay",
            &id,
            "--from-height",
            "1",
            "--to-height",
            &height,
            "--key",
            key,
        ],
    )
    .ok()
    .json();
    assert_eq!(replay["to_height"].as_u64().unwrap().to_string(), height);
    rx.wait("the replay", |l| l.iter().filter(|r| r.replay).count() >= 2);
    cactus(
        &url,
        &[
            "webhooks", "disable", &id, "--reason", "cli test", "--key", key,
        ],
    )
    .ok();
    let listed = cactus(&url, &["webhooks", "list", "--key", key])
        .ok()
        .json();
    assert_eq!(listed["endpoints"][0]["disabled_reason"], "cli test");
    cactus(&url, &["webhooks", "enable", &id, "--key", key]).ok();

    // Failing for longer than disable_after_ms (1.5 s here; 5 days by default): disabled,
    // with the reason in the list and the operational metric.
    rx.set(Mode::Fail);
    create_pools(&cluster, node, "cli-fail", 1);
    let admin = Admin {
        node: url.clone(),
        chain: cluster.chain_id(),
        key: &cluster.org(1).admin,
    };
    let off = admin.wait_endpoint(&id, "disabled after failing too long", |e| {
        e["enabled"] == false
    });
    assert!(
        off["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failing continuously"),
        "{off:#}"
    );
    let listed = cactus(&url, &["webhooks", "list", "--key", key])
        .ok()
        .json();
    assert_eq!(listed["endpoints"][0]["enabled"], false);
    let metrics = reply(http().get(format!("{url}/metrics")).send().unwrap()).expect(200);
    assert!(
        metrics
            .body
            .as_str()
            .unwrap()
            .contains("cactus_webhook_endpoints_disabled_total")
    );
}
