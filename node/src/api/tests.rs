//! End-to-end tests of the API against a real one-node chain on a temporary directory.

use super::*;
use crate::node::{NodeOptions, now_ms, start};
use crate::storage::Store;
use couponcactus_chaincode::block::{
    BlockHeader, BlockInclusionProof, Certificate, WithheldTx, verify_block_inclusion,
};
use couponcactus_chaincode::commitment::{ProvenValue, verify_state_proof};
use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::history::{
    HistoryLeaf, merkle_root, verify_consistency, verify_inclusion,
};
use couponcactus_chaincode::ids::{ChainId, Channel, Hash32, PoolId, StoreId, TokenId, TxId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit::{self, claim, key, member, public};
use couponcactus_chaincode::tx::{
    AllocateTx, ApproveGovernanceTx, CreatePoolTx, IssueCodesTx, ProposeGovernanceTx, RedeemTarget,
    RedeemTx, RegisterKeyTx, SignedTx, TransitionPoolTx, TxBody, TxKind, sign_read,
};
use couponcactus_chaincode::types::{
    Consortium, GovernanceChange, PoolAction, PoolKind, PoolSpec, Role, TokenRecord, TokenStatus,
};
use ed25519_dalek::SigningKey;
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

mod compliance;
mod confidentiality;
mod consent;
mod directory;
mod events;
mod holds;
mod loyalty;
mod retention;

const ADMIN_ACME: u8 = 1;
const ADMIN_GLOBEX: u8 = 2;
const ADMIN_INITECH: u8 = 3;
const ISSUER: u8 = 10;
const TERMINAL: u8 = 11;
const AUDITOR: u8 = 12;
const PARTNER: u8 = 20;
const OTHER_ISSUER: u8 = 30;

/// One recorder per test process, so `/metrics` shows what the code records.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone()
}

/// A node serving the API on 127.0.0.1:0.
pub(crate) struct TestNode {
    pub(crate) url: String,
    http: reqwest::Client,
    node: NodeHandle,
    chain_id: ChainId,
    nonce: AtomicU64,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The node's thread, joined on drop: a test process that exits while the thread
    /// still holds RocksDB aborts in RocksDB's static destructors ("pthread lock: Invalid
    /// argument").
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.node.shutdown();
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TestNode {
    async fn start() -> TestNode {
        TestNode::start_with(ApiOptions::default()).await
    }

    pub(crate) async fn start_with(options: ApiOptions) -> TestNode {
        TestNode::start_with_node(options, NodeOptions::default()).await
    }

    pub(crate) async fn start_with_node(options: ApiOptions, node: NodeOptions) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let genesis = testkit::genesis();
        let genesis_hash = couponcactus_genesis::Genesis::new(genesis.clone())
            .unwrap()
            .hash();
        let (node, thread) = start(store, &genesis, genesis_hash, key(200), node, None).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_with(
            listener,
            node.clone(),
            metrics_handle(),
            options,
            async {
                let _ = stopped.await;
            },
        ));
        TestNode {
            url,
            http: reqwest::Client::new(),
            chain_id: genesis.chain_id,
            node,
            nonce: AtomicU64::new(1),
            shutdown: Some(shutdown),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn tx(&self, signer: &SigningKey, kind: TxKind) -> SignedTx {
        TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
            valid_until_ms: now_ms() + 60_000,
            kind,
            memo: None,
        }
        .sign(signer)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn post(&self, path: &str, body: &impl serde::Serialize) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.url)).json(body))
            .await
    }

    async fn submit(&self, tx: &SignedTx) -> (u16, Value) {
        self.post("/v1/txs", tx).await
    }

    /// Submits and expects 200 `applied`.
    async fn applied(&self, signer: &SigningKey, kind: TxKind) -> Value {
        let (status, body) = self.submit(&self.tx(signer, kind)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "applied", "{body}");
        body
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.url)))
            .await
    }

    /// A GET signed by `signer`.
    async fn signed_get(&self, signer: &SigningKey, path: &str) -> (u16, Value) {
        let time = now_ms();
        let signature = sign_read(signer, &self.chain_id, time, "GET", path);
        let request = self
            .http
            .get(format!("{}{path}", self.url))
            .header(KEY_HEADER, hex::encode(signer.verifying_key().to_bytes()))
            .header(TIME_HEADER, time.to_string())
            .header(SIGNATURE_HEADER, signature.to_hex());
        self.send(request).await
    }

    async fn height(&self) -> u64 {
        let (status, body) = self.get("/v1/status").await;
        assert_eq!(status, 200);
        body["height"].as_u64().unwrap()
    }

    /// Registers `key(seed)` as a consortium auditor of acme: acme proposes, globex
    /// approves (2 of the 3 orgs).
    async fn register_auditor(&self, seed: u8) {
        let change = GovernanceChange::AddAuditor {
            org: testkit::org("acme"),
            key: public(seed),
        };
        let proposal = self.tx(
            &key(ADMIN_ACME),
            TxKind::ProposeGovernance(ProposeGovernanceTx { change }),
        );
        let (status, body) = self.submit(&proposal).await;
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("applied")),
            "{body}"
        );
        self.applied(
            &key(ADMIN_GLOBEX),
            TxKind::ApproveGovernance(ApproveGovernanceTx {
                proposal: proposal.id(),
            }),
        )
        .await;
    }

    /// Keys for every role, and pool `spring` (3 codes, active, partner globex) with token 0
    /// allocated to member 1.
    async fn setup(&self) -> PoolId {
        let register = |admin: u8, seed: u8, role: Role| {
            self.tx(
                &key(admin),
                TxKind::RegisterKey(RegisterKeyTx {
                    key: public(seed),
                    role,
                }),
            )
        };
        let terminal = Role::Terminal {
            store: StoreId::new("berlin-1").unwrap(),
            channel: Channel::new("pos").unwrap(),
        };
        let batch = vec![
            register(ADMIN_ACME, ISSUER, Role::Issuer),
            register(ADMIN_ACME, TERMINAL, terminal),
            register(ADMIN_GLOBEX, PARTNER, Role::Partner),
            register(ADMIN_INITECH, OTHER_ISSUER, Role::Issuer),
        ];
        let (status, body) = self.post("/v1/txs/batch", &batch).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["applied"], 4, "{body}");
        self.register_auditor(AUDITOR).await;
        let pool = testkit::pool_id("spring");
        let issuer = key(ISSUER);
        self.applied(
            &issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: pool.clone(),
                spec: spec(),
            }),
        )
        .await;
        let codes = (0..3)
            .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
            .collect();
        self.applied(
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: pool.clone(),
                codes,
            }),
        )
        .await;
        self.applied(&issuer, activate(&pool)).await;
        let allocated = self
            .applied(
                &issuer,
                TxKind::Allocate(AllocateTx {
                    pool: pool.clone(),
                    member: member(1),
                    claim: claim(1),
                }),
            )
            .await;
        assert_eq!(
            allocated["result"]["events"][0]["token"]["serial"], 0,
            "{allocated}"
        );
        pool
    }
}

fn spec() -> PoolSpec {
    let now = now_ms();
    PoolSpec {
        valid_from_ms: now - 3_600_000,
        valid_until_ms: now + 24 * 3_600_000,
        partner_orgs: vec![testkit::org("globex")],
        ..testkit::spec(PoolKind::UniqueCodes)
    }
}

fn activate(pool: &PoolId) -> TxKind {
    TxKind::TransitionPool(TransitionPoolTx {
        pool: pool.clone(),
        action: PoolAction::Activate,
    })
}

fn redeem(pool: &PoolId, serial: u64, who: u64) -> TxKind {
    TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Token(TokenId {
            pool: pool.clone(),
            serial,
        }),
        member: Some(member(who)),
        order: testkit::order(10_000),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeem_applies_once_and_resubmission_is_idempotent() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let terminal = key(TERMINAL);

    let first = t.tx(&terminal, redeem(&pool, 0, 1));
    let (status, body) = t.submit(&first).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied");
    assert_eq!(body["tx_id"], first.id().to_hex());
    assert_eq!(body["result"]["events"][0]["event"], "redeemed");
    assert_eq!(body["result"]["events"][0]["discount_minor"], 1_000);
    let (height, index) = (body["height"].clone(), body["index"].clone());

    // A second redemption of the same token is rejected in its block: 422 with the code.
    let (status, again) = t.submit(&t.tx(&terminal, redeem(&pool, 0, 1))).await;
    assert_eq!(status, 422, "{again}");
    assert_eq!(again["error"]["code"], "already_redeemed");
    assert_eq!(again["status"], "rejected");
    assert!(again["height"].as_u64().unwrap() > height.as_u64().unwrap());

    // Resubmitting the first tx answers with its original result, executing nothing.
    let before = t.height().await;
    let (status, replay) = t.submit(&first).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(
        (replay["height"].clone(), replay["index"].clone()),
        (height, index)
    );
    assert_eq!(replay["result"], body["result"]);
    assert_eq!(t.height().await, before);

    // An illegal lifecycle step: the pool is active already.
    let (status, body) = t.submit(&t.tx(&key(ISSUER), activate(&pool))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_transition");

    // The same tx in canonical bincode is accepted too.
    let rollback = t.tx(
        &terminal,
        TxKind::Rollback(couponcactus_chaincode::tx::RollbackTx {
            redemption: first.id(),
        }),
    );
    let response = t
        .http
        .post(format!("{}/v1/txs", t.url))
        .header("content-type", "application/octet-stream")
        .body(encode(&rollback))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["result"]["events"][0]["event"], "rolled_back",
        "{body}"
    );

    // The store's redemptions: the first (now rolled back) is listed for the org and
    // auditors, not for another org's key.
    let path = "/v1/orgs/acme/stores/berlin-1/redemptions";
    let (status, listed) = t.signed_get(&key(AUDITOR), path).await;
    assert_eq!(status, 200, "{listed}");
    let entries = listed["redemptions"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0][0], first.id().to_hex());
    assert!(entries[0][1]["rolled_back_at"].is_u64(), "{listed}");
    let (status, _) = t.signed_get(&key(ADMIN_GLOBEX), path).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_are_refused_and_change_nothing() {
    let options = ApiOptions {
        max_tx_body: 16 * 1024,
        ..ApiOptions::default()
    };
    let t = TestNode::start_with(options).await;
    let pool = t.setup().await;
    let height = t.height().await;

    // Not JSON at all / not a SignedTx.
    let response = t
        .http
        .post(format!("{}/v1/txs", t.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed");
    let (status, body) = t.post("/v1/txs", &json!({"body": 1})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed"))
    );
    let response = t
        .http
        .post(format!("{}/v1/txs", t.url))
        .header("content-type", "application/octet-stream")
        .body(vec![1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // A tampered signature.
    let mut bad = t.tx(&key(TERMINAL), redeem(&pool, 0, 1));
    bad.signature.0[5] ^= 0x40;
    let (status, body) = t.submit(&bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_signature");

    // A signer nobody registered.
    let (status, body) = t.submit(&t.tx(&key(99), redeem(&pool, 0, 1))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unknown_key");

    // A tx for another chain.
    let other = TxBody {
        chain_id: ChainId::new("elsewhere").unwrap(),
        nonce: 1,
        valid_until_ms: now_ms() + 1_000,
        kind: activate(&pool),
        memo: None,
    };
    let (status, body) = t.submit(&other.sign(&key(ISSUER))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("wrong_chain"))
    );

    // More than 10,000 txs in a batch, as JSON and as bincode.
    let one = t.tx(&key(ISSUER), activate(&pool));
    let many = vec![one; MAX_BATCH_TXS + 1];
    let (status, body) = t.post("/v1/txs/batch", &many).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "oversize");
    let response = t
        .http
        .post(format!("{}/v1/txs/batch", t.url))
        .header("content-type", "application/octet-stream")
        .body(encode(&many))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    // A body above the limit is refused (its rest read and discarded first, so the client
    // reads the 413; see api::limits).
    let response = t
        .http
        .post(format!("{}/v1/txs", t.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 16 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "oversize");

    // Unknown routes and wrong methods answer in the error shape too.
    let (status, body) = t.get("/v1/nothing").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = t.get("/v1/txs").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    assert_eq!(t.height().await, height, "nothing was committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_reads_are_proven_and_follow_roles() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let path = "/v1/tokens/spring/0";

    // The auditor reads it, with a proof that verifies against the header's state root.
    let (status, body) = t.signed_get(&key(AUDITOR), path).await;
    assert_eq!(status, 200, "{body}");
    let token: TokenRecord = from_json(&body["token"]);
    assert_eq!(token.owner, Some(member(1)));
    assert_eq!(token.status, TokenStatus::Allocated);
    let header: BlockHeader = from_json(&body["at"]["header"]);
    let proven: ProvenValue = from_json(&body["proof"]);
    assert_eq!(proven.version, header.height);
    assert_eq!(body["at"]["state_root"], header.state_root.to_hex());
    verify_state_proof(
        &header.state_root,
        &proven.key,
        proven.value.as_ref(),
        &proven.proof,
    )
    .unwrap();
    assert_eq!(proven.value, Some(StateValue::Token(token.clone())));
    assert_eq!(
        proven.key,
        StateKey::Token(TokenId {
            pool: pool.clone(),
            serial: 0
        })
    );
    // A tampered value does not verify.
    let mut forged = token.clone();
    forged.owner = Some(member(2));
    assert!(
        verify_state_proof(
            &header.state_root,
            &proven.key,
            Some(&StateValue::Token(forged)),
            &proven.proof
        )
        .is_err()
    );

    // At an earlier height (before the allocation) the token was still available.
    let earlier = header.height - 1;
    let (status, body) = t
        .signed_get(&key(AUDITOR), &format!("{path}?height={earlier}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let old: TokenRecord = from_json(&body["token"]);
    assert_eq!(old.status, TokenStatus::Available);
    let old_header: BlockHeader = from_json(&body["at"]["header"]);
    let proven: ProvenValue = from_json(&body["proof"]);
    proven.verify(&old_header.state_root).unwrap();
    let (status, _) = t
        .signed_get(&key(AUDITOR), &format!("{path}?height=999999"))
        .await;
    assert_eq!(status, 400);

    // Owner org keys and the listed partner read it; another org's key does not.
    for seed in [ISSUER, TERMINAL, ADMIN_ACME, PARTNER] {
        let (status, body) = t.signed_get(&key(seed), path).await;
        assert_eq!(status, 200, "key {seed}: {body}");
    }
    for seed in [OTHER_ISSUER, ADMIN_GLOBEX] {
        let (status, body) = t.signed_get(&key(seed), path).await;
        assert_eq!(status, 403, "key {seed}: {body}");
        assert_eq!(body["error"]["code"], "not_authorized");
    }

    // Unsigned, unknown, badly signed, replayed for another path, or stale requests: 401.
    let (status, body) = t.get(path).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, body) = t.signed_get(&key(98), path).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unknown_key"))
    );
    let time = now_ms();
    let signature = sign_read(
        &key(AUDITOR),
        &t.chain_id,
        time,
        "GET",
        "/v1/tokens/spring/1",
    );
    let request = t
        .http
        .get(format!("{}{path}", t.url))
        .header(KEY_HEADER, public(AUDITOR).to_hex())
        .header(TIME_HEADER, time.to_string())
        .header(SIGNATURE_HEADER, signature.to_hex());
    let (status, body) = t.send(request).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_signature"))
    );
    let old_time = time - 2 * MAX_CLOCK_SKEW_MS;
    let signature = sign_read(&key(AUDITOR), &t.chain_id, old_time, "GET", path);
    let request = t
        .http
        .get(format!("{}{path}", t.url))
        .header(KEY_HEADER, public(AUDITOR).to_hex())
        .header(TIME_HEADER, old_time.to_string())
        .header(SIGNATURE_HEADER, signature.to_hex());
    let (status, body) = t.send(request).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("stale"))
    );

    // Pools, org listings, codes and wallets follow the same rules.
    let (status, body) = t.signed_get(&key(PARTNER), "/v1/pools/spring").await;
    assert_eq!(status, 200, "{body}");
    let proven: ProvenValue = from_json(&body["proof"]);
    let header: BlockHeader = from_json(&body["at"]["header"]);
    proven.verify(&header.state_root).unwrap();
    assert_eq!(body["pool"]["owner"], "acme");
    let (status, _) = t.signed_get(&key(OTHER_ISSUER), "/v1/pools/spring").await;
    assert_eq!(status, 403);
    let (status, _) = t.signed_get(&key(AUDITOR), "/v1/pools/nope").await;
    assert_eq!(status, 404);
    let (status, body) = t.signed_get(&key(PARTNER), "/v1/orgs/acme/pools").await;
    assert_eq!(status, 200);
    assert_eq!(body["pools"].as_array().unwrap().len(), 1, "{body}");
    let (status, _) = t
        .signed_get(&key(OTHER_ISSUER), "/v1/orgs/acme/pools")
        .await;
    assert_eq!(status, 403);

    let code = testkit::issued_code(&pool, &testkit::code_text(&pool, 2), 2).code_hash;
    let (status, body) = t
        .signed_get(&key(TERMINAL), &format!("/v1/codes/{code}/token"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entry"]["serial"], 2);
    let code_proof: ProvenValue = from_json(&body["code_proof"]);
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    code_proof.verify(&root).unwrap();
    let token_proof: ProvenValue = from_json(&body["token"]["proof"]);
    token_proof.verify(&root).unwrap();
    let (status, _) = t
        .signed_get(&key(OTHER_ISSUER), &format!("/v1/codes/{code}/token"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = t
        .signed_get(
            &key(AUDITOR),
            &format!("/v1/codes/{}/token", Hash32([7; 32])),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = t.signed_get(&key(AUDITOR), "/v1/codes/xyz/token").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_input"))
    );

    let wallet = format!("/v1/members/{}/wallet", member(1));
    let (status, body) = t.signed_get(&key(ISSUER), &wallet).await;
    assert_eq!(status, 200, "{body}");
    let tokens = body["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{body}");
    assert_eq!(tokens[0]["token_id"]["serial"], 0);
    let (status, body) = t.signed_get(&key(OTHER_ISSUER), &wallet).await;
    assert_eq!(status, 200);
    assert!(
        body["tokens"].as_array().unwrap().is_empty(),
        "other orgs see none: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_lookup_history_and_log_carry_verifiable_proofs() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let redeem_tx = t.tx(&key(TERMINAL), redeem(&pool, 0, 1));
    let (status, _) = t.submit(&redeem_tx).await;
    assert_eq!(status, 200);

    // The tx with proofs into its block and into the history log.
    let path = format!("/v1/txs/{}", redeem_tx.id());
    let (status, body) = t.signed_get(&key(TERMINAL), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied");
    let tx: SignedTx = from_json(&body["tx"]);
    assert_eq!(tx, redeem_tx);
    let header: BlockHeader = from_json(&body["header"]);
    let tx_proof: BlockInclusionProof = from_json(&body["tx_proof"]);
    verify_block_inclusion(&tx, &tx_proof, &header.tx_root, header.tx_count).unwrap();
    let leaf: HistoryLeaf = from_json(&body["log"]["leaf"]);
    assert_eq!(leaf.tx_id, redeem_tx.id());
    let log_proof: Vec<Hash32> = from_json(&body["log"]["proof"]);
    let log_root: Hash32 = from_json(&body["log"]["log_root"]);
    let log_size = body["log"]["log_size"].as_u64().unwrap();
    let log_index = body["log_index"].as_u64().unwrap();
    verify_inclusion(&leaf.hash(), log_index, log_size, &log_proof, &log_root).unwrap();
    let (_, latest) = t.get("/v1/blocks/latest").await;
    assert_eq!(latest["header"]["log_root"], log_root.to_hex());

    // Others' access: the consortium auditor yes; the partner (the pool lists it, but the
    // terminal is acme's) and another org no.
    assert_eq!(t.signed_get(&key(AUDITOR), &path).await.0, 200);
    assert_eq!(t.signed_get(&key(PARTNER), &path).await.0, 403);
    assert_eq!(t.signed_get(&key(OTHER_ISSUER), &path).await.0, 403);
    assert_eq!(t.get(&path).await.0, 401);
    let unknown = format!("/v1/txs/{}", TxId([9; 32]));
    assert_eq!(t.signed_get(&key(AUDITOR), &unknown).await.0, 404);

    // Token history: issue, allocate, redeem — each with a verifying log proof.
    let (status, body) = t
        .signed_get(&key(AUDITOR), "/v1/tokens/spring/0/history")
        .await;
    assert_eq!(status, 200, "{body}");
    let entries = body["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["tx"]["body"]["kind"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["issue_codes", "allocate", "redeem"]);
    for e in entries {
        let leaf: HistoryLeaf = from_json(&e["log"]["leaf"]);
        let proof: Vec<Hash32> = from_json(&e["log"]["proof"]);
        let root: Hash32 = from_json(&e["log"]["log_root"]);
        verify_inclusion(
            &leaf.hash(),
            e["log_index"].as_u64().unwrap(),
            e["log"]["log_size"].as_u64().unwrap(),
            &proof,
            &root,
        )
        .unwrap();
    }
    assert_eq!(
        t.signed_get(&key(OTHER_ISSUER), "/v1/tokens/spring/0/history")
            .await
            .0,
        403
    );

    // Public chain data: blocks, checkpoint, consistency and entries all agree.
    let (status, block) = t.get(&format!("/v1/blocks/{}", header.height)).await;
    assert_eq!(status, 200);
    let block_header: BlockHeader = from_json(&block["header"]);
    assert_eq!(block_header, header);
    assert_eq!(block["hash"], header.hash().to_hex());
    assert_eq!(t.get("/v1/blocks/0").await.0, 404);
    assert_eq!(t.get("/v1/blocks/abc").await.0, 400);

    let (status, cp) = t.get("/v1/checkpoints/latest").await;
    assert_eq!(status, 200, "{cp}");
    let cert: Certificate = from_json(&cp["certificate"]);
    let cert_header: BlockHeader = from_json(&cp["header"]);
    assert_eq!(cert_header.hash(), cert.block_hash);
    let genesis = testkit::genesis();
    let consortium = Consortium {
        orgs: vec![],
        nodes: genesis.nodes.clone(),
        retired_node_ids: vec![],
    };
    cert.verify(&t.chain_id, &consortium).unwrap();

    let latest_header: BlockHeader = from_json(&latest["header"]);
    let size = latest_header.log_size;
    let (status, c) = t
        .get(&format!("/v1/log/consistency?from=3&to={size}"))
        .await;
    assert_eq!(status, 200, "{c}");
    let from_root: Hash32 = from_json(&c["from_root"]);
    let to_root: Hash32 = from_json(&c["to_root"]);
    assert_eq!(to_root, latest_header.log_root);
    let proof: Vec<Hash32> = from_json(&c["proof"]);
    verify_consistency(3, size, &from_root, &to_root, &proof).unwrap();
    assert_eq!(
        t.get(&format!("/v1/log/consistency?from=3&to={}", size + 1))
            .await
            .0,
        400
    );

    let (status, page) = t.signed_get(&key(AUDITOR), "/v1/log/entries?from=0").await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, size);
    let leaves: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| encode(&from_json::<HistoryLeaf>(&e["leaf"])))
        .collect();
    assert_eq!(
        merkle_root(&leaves),
        latest_header.log_root,
        "the entries rebuild the log root"
    );
    let (status, page) = t
        .signed_get(&key(AUDITOR), "/v1/log/entries?from=2&to=4")
        .await;
    assert_eq!(status, 200);
    let indexes: Vec<u64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_async_submission_and_dry_runs() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let issuer = key(ISSUER);

    // A batch keeps its order: allocation 2 then 3, a refusal and a rejection in between.
    let mut unsigned = t.tx(&issuer, activate(&pool));
    unsigned.signature.0[0] ^= 1;
    let batch = vec![
        t.tx(
            &issuer,
            TxKind::Allocate(AllocateTx {
                pool: pool.clone(),
                member: member(2),
                claim: claim(2),
            }),
        ),
        unsigned,
        t.tx(&issuer, activate(&pool)),
        t.tx(
            &issuer,
            TxKind::Allocate(AllocateTx {
                pool: pool.clone(),
                member: member(3),
                claim: claim(3),
            }),
        ),
    ];
    let (status, body) = t.post("/v1/txs/batch", &batch).await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["applied", "refused", "rejected", "applied"],
        "{body}"
    );
    assert_eq!(body["results"][1]["error"]["code"], "bad_signature");
    assert_eq!(body["results"][2]["error"]["code"], "invalid_transition");
    assert_eq!(
        body["results"][0]["result"]["events"][0]["token"]["serial"],
        1
    );
    assert_eq!(
        body["results"][3]["result"]["events"][0]["token"]["serial"],
        2
    );
    assert_eq!(
        (body["applied"].as_u64(), body["refused"].as_u64()),
        (Some(2), Some(1))
    );

    // wait=false answers 202 pending; the tx then commits.
    let tx = t.tx(&key(TERMINAL), redeem(&pool, 1, 2));
    let (status, body) = t.post("/v1/txs?wait=false", &tx).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    let path = format!("/v1/txs/{}", tx.id());
    let mut last = Value::Null;
    for _ in 0..200 {
        let (_, body) = t.signed_get(&key(TERMINAL), &path).await;
        if body["status"] == "applied" {
            last = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(last["status"], "applied", "never committed");
    let (status, _) = t.post("/v1/txs?wait=maybe", &tx).await;
    assert_eq!(status, 400);

    // A dry run prices a redemption and writes nothing; a doomed one says why. The status
    // height follows the stored block a moment later, so wait until it shows the tx's block.
    let committed_at = last["height"].as_u64().expect("an applied tx has a height");
    let mut height = t.height().await;
    for _ in 0..200 {
        if height >= committed_at {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        height = t.height().await;
    }
    assert!(
        height >= committed_at,
        "status never reached the tx's block"
    );
    let dry = t.tx(&key(TERMINAL), redeem(&pool, 2, 3));
    let (status, body) = t.post("/v1/validate", &dry).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "valid");
    assert_eq!(body["events"][0]["discount_minor"], 1_000);
    let (status, body) = t
        .post("/v1/validate", &t.tx(&key(TERMINAL), redeem(&pool, 1, 2)))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "already_redeemed");
    let (status, body) = t
        .post("/v1/validate", &t.tx(&key(TERMINAL), redeem(&pool, 2, 9)))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "wrong_member");
    let (status, body) = t.post("/v1/validate", &tx).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "duplicate");
    assert_eq!(t.height().await, height, "dry runs commit nothing");
    let (_, token) = t.signed_get(&key(AUDITOR), "/v1/tokens/spring/2").await;
    assert_eq!(token["token"]["status"]["status"], "allocated");
    // The validated tx itself can be submitted afterwards.
    let (status, _) = t.submit(&dry).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_health_openapi_and_metrics() {
    let t = TestNode::start().await;
    t.setup().await;

    // The tip's certificate follows its block (one voter): under load it may lag a moment.
    let mut answer = t.get("/v1/status").await;
    for _ in 0..500 {
        if answer.1["certified_height"] == answer.1["height"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        answer = t.get("/v1/status").await;
    }
    let (status, body) = answer;
    assert_eq!(status, 200);
    for field in [
        "node_id",
        "role",
        "leader_id",
        "height",
        "block_hash",
        "state_root",
        "log_size",
        "certified_height",
    ] {
        assert!(body.get(field).is_some(), "status lacks {field}: {body}");
    }
    assert_eq!(body["node_id"], 1);
    assert_eq!(body["role"], "leader");
    assert_eq!(body["leader_id"], 1);
    assert!(body["height"].as_u64().unwrap() >= 5);
    assert_eq!(body["certified_height"], body["height"]);
    let (_, latest) = t.get("/v1/blocks/latest").await;
    assert_eq!(body["block_hash"], latest["hash"]);
    assert_eq!(body["state_root"], latest["header"]["state_root"]);

    let (status, body) = t.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, doc) = t.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/txs",
        "/v1/txs/batch",
        "/v1/txs/{id}",
        "/v1/validate",
        "/v1/pools/{id}",
        "/v1/orgs/{org}/pools",
        "/v1/tokens/{pool}/{serial}",
        "/v1/tokens/{pool}/{serial}/history",
        "/v1/codes/{code_hash}/token",
        "/v1/members/{member}/wallet",
        "/v1/txs/prefix/{prefix}",
        "/v1/keys/prefix/{prefix}",
        "/v1/keys/{key}",
        "/v1/tokens/{pool}/{serial}/redemption",
        "/v1/codes/{code_hash}/redemption",
        "/v1/blocks/{height}",
        "/v1/blocks/latest",
        "/v1/checkpoints/latest",
        "/v1/log/consistency",
        "/v1/log/entries",
        "/v1/status",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    assert!(doc["components"]["securitySchemes"]["signed_read"].is_object());

    let response = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("cactus_http_requests_total"), "{text}");
    assert!(text.contains("cactus_tx_results_total"), "{text}");
    // RocksDB's memory, read from the open database: the block cache holds at least the
    // memtables' reservations, so it is never zero on a node that has written blocks.
    let gauge = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(gauge("cactus_rocksdb_memtable_bytes") > 0.0, "{text}");
    assert!(gauge("cactus_rocksdb_block_cache_bytes") > 0.0, "{text}");
    assert!(gauge("cactus_rocksdb_table_readers_bytes") >= 0.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_ranges_carry_results_and_certificates_in_bincode_and_json() {
    use couponcactus_chaincode::encoding::decode;
    use couponcactus_chaincode::execute::TxResult;
    use couponcactus_chaincode::ledger::{Block, Ledger};
    let t = TestNode::start().await;
    t.setup().await;
    let tip = t.height().await;
    assert!(tip >= 5);
    // Every block gets its certificate right after it is applied (one voter): wait for the
    // tip's.
    for _ in 0..200 {
        let (_, status) = t.get("/v1/status").await;
        if status["certified_height"].as_u64() == Some(tip) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let genesis = testkit::genesis();
    let consortium = Consortium {
        orgs: vec![],
        nodes: genesis.nodes.clone(),
        retired_node_ids: vec![],
    };

    // The single-block view carries the certificate.
    let (status, one) = t.get(&format!("/v1/blocks/{tip}")).await;
    assert_eq!(status, 200, "{one}");
    let cert: Certificate = from_json(&one["certificate"]);
    assert_eq!(cert.height, tip);
    assert_eq!(cert.block_hash.to_hex(), one["hash"]);
    cert.verify(&t.chain_id, &consortium).unwrap();

    // Bincode by default: encode(Vec<BlockRecord>), which replays from genesis (signed by
    // the consortium auditor, who sees every tx).
    let bytes = |path: String| {
        let http = t.http.clone();
        let url = format!("{}{path}", t.url);
        let time = now_ms();
        let signature = sign_read(&key(AUDITOR), &t.chain_id, time, "GET", &path);
        async move {
            let response = http
                .get(url)
                .header(KEY_HEADER, public(AUDITOR).to_hex())
                .header(TIME_HEADER, time.to_string())
                .header(SIGNATURE_HEADER, signature.to_hex())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(
                response.headers()["content-type"],
                "application/octet-stream"
            );
            response.bytes().await.unwrap()
        }
    };
    let body = bytes("/v1/blocks?from=1".into()).await;
    let records: Vec<BlockRecord> = decode(&body).unwrap();
    assert_eq!(records.len() as u64, tip);
    let genesis_hash = couponcactus_genesis::Genesis::new(genesis.clone())
        .unwrap()
        .hash();
    let mut ledger = Ledger::from_genesis(&genesis, genesis_hash).unwrap();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.block.header.height, i as u64 + 1);
        let results = ledger.replay(&r.block).unwrap();
        assert_eq!(results, r.results);
        let cert = r.certificate.as_ref().expect("every block is certified");
        assert_eq!(cert.block_hash, r.block.header.hash());
        cert.verify(&t.chain_id, &consortium).unwrap();
    }
    // The field order is the documented one: the same bytes as a tuple.
    type Tuple = (Block, Vec<TxResult>, Option<Certificate>, Vec<WithheldTx>);
    let tuples: Vec<Tuple> = decode(&body).unwrap();
    assert!(
        tuples.iter().all(|t| t.3.is_empty()),
        "nothing is withheld from an auditor"
    );
    assert_eq!(tuples.len(), records.len());

    // Limits, the end of the chain, and bad ranges.
    let two: Vec<BlockRecord> = decode(&bytes("/v1/blocks?from=2&limit=2".into()).await).unwrap();
    assert_eq!(two, records[1..3].to_vec());
    let last: Vec<BlockRecord> =
        decode(&bytes(format!("/v1/blocks?from={tip}&limit=50")).await).unwrap();
    assert_eq!(last.len(), 1);
    let beyond: Vec<BlockRecord> =
        decode(&bytes(format!("/v1/blocks?from={}", tip + 1)).await).unwrap();
    assert!(beyond.is_empty());
    assert_eq!(t.get("/v1/blocks?from=0").await.0, 400);
    assert_eq!(t.get("/v1/blocks?from=1&limit=0").await.0, 400);
    assert_eq!(t.get("/v1/blocks").await.0, 400);

    // JSON when asked: BlockViews with certificates.
    let (status, page) = t
        .send(
            t.http
                .get(format!("{}/v1/blocks?from=1&limit=3", t.url))
                .header("accept", "application/json"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["from"], 1);
    assert_eq!(page["tip"], tip);
    let blocks = page["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[1]["height"], 2);
    assert_eq!(blocks[1]["hash"], records[1].block.header.hash().to_hex());
    assert_eq!(blocks[1]["certificate"]["height"], 2);

    // The consortium, proven at a height.
    let (status, c) = t.get(&format!("/v1/consortium?height={tip}")).await;
    assert_eq!(status, 200, "{c}");
    let proof: ProvenValue = from_json(&c["proof"]);
    let header: BlockHeader = from_json(&c["header"]);
    assert_eq!(header, records.last().unwrap().block.header);
    proof.verify(&header.state_root).unwrap();
    let proven: Consortium = from_json(&c["consortium"]);
    assert_eq!(proof.value, Some(StateValue::Consortium(proven.clone())));
    assert_eq!(proven.nodes, genesis.nodes);
    let (status, g) = t.get("/v1/consortium?height=0").await;
    assert_eq!(status, 200, "{g}");
    assert!(g["header"].is_null());
    assert_eq!(
        t.get(&format!("/v1/consortium?height={}", tip + 5)).await.0,
        400
    );

    let (_, doc) = t.get("/openapi.json").await;
    for p in ["/v1/blocks", "/v1/consortium"] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
}

/// Two values of `make(n)`, for n counting from `from`, whose `id` starts with the same 8
/// hex digits (a birthday search: about 80,000 tries).
fn sharing_eight_digits<T>(
    from: u64,
    make: impl Fn(u64) -> T,
    id: impl Fn(&T) -> String,
) -> (T, T) {
    let mut seen = std::collections::HashMap::new();
    for n in from.. {
        let value = make(n);
        let prefix = id(&value)[..8].to_string();
        if let Some(m) = seen.insert(prefix, n)
            && id(&make(m)) != id(&value)
        {
            return (make(m), value);
        }
    }
    unreachable!("the counter is unbounded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_resolve_by_prefix_and_an_ambiguous_prefix_lists_its_candidates() {
    let t = TestNode::start().await;
    t.setup().await;
    // Two committed txs whose ids share their first 8 hex digits (redemptions of an
    // unknown code: rejected, but committed and findable).
    let valid_until = now_ms() + 60_000;
    let body = |nonce| TxBody {
        chain_id: t.chain_id.clone(),
        nonce: 1_000_000 + nonce,
        valid_until_ms: valid_until,
        kind: TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Code(couponcactus_chaincode::codes::code_hash("NO-SUCH")),
            member: None,
            order: testkit::order(1_000),
        }),
        memo: None,
    };
    let terminal = key(TERMINAL);
    let id_of =
        |b: &TxBody| couponcactus_chaincode::tx::tx_id(&encode(b), &public(TERMINAL)).to_hex();
    let (a, b) = sharing_eight_digits(0, body, id_of);
    let (a, b) = (a.sign(&terminal), b.sign(&terminal));
    for tx in [&a, &b] {
        assert_eq!(t.submit(tx).await.0, 422);
    }
    let (ha, hb) = (a.id().to_hex(), b.id().to_hex());
    let (status, body) = t
        .signed_get(&key(AUDITOR), &format!("/v1/txs/prefix/{}", &ha[..8]))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "ambiguous_id");
    let mut expected = vec![ha.clone(), hb.clone()];
    expected.sort();
    assert_eq!(body["error"]["candidates"], json!(expected));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&ha) && message.contains(&hb), "{message}");
    // Enough digits to tell them apart name one; the full id and upper case too.
    let common = ha
        .chars()
        .zip(hb.chars())
        .take_while(|(x, y)| x == y)
        .count();
    for prefix in [ha[..=common].to_string(), ha.to_uppercase()] {
        let (status, body) = t
            .signed_get(&key(AUDITOR), &format!("/v1/txs/prefix/{prefix}"))
            .await;
        assert_eq!(
            (status, body["id"].as_str()),
            (200, Some(ha.as_str())),
            "{body}"
        );
    }
    // Too short, not hex, unknown.
    for (prefix, code) in [("abc1234", 400), ("abcdefgz", 400), (&"0".repeat(65), 400)] {
        let (status, body) = t
            .signed_get(&key(AUDITOR), &format!("/v1/txs/prefix/{prefix}"))
            .await;
        assert_eq!(status, code, "{prefix}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
    }
    let unknown = if ha.starts_with("ffffffff") {
        "eeeeeeee"
    } else {
        "ffffffff"
    };
    let (status, body) = t
        .signed_get(&key(AUDITOR), &format!("/v1/txs/prefix/{unknown}"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    // Keys: two registered keys that share 8 digits are ambiguous; one is found.
    let signing = |n: u64| {
        let mut seed = [7u8; 32];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        SigningKey::from_bytes(&seed)
    };
    let key_hex = |k: &SigningKey| hex::encode(k.verifying_key().to_bytes());
    let (k1, k2) = sharing_eight_digits(0, signing, key_hex);
    for k in [&k1, &k2] {
        t.applied(
            &key(ADMIN_ACME),
            TxKind::RegisterKey(RegisterKeyTx {
                key: couponcactus_chaincode::ids::PublicKey(k.verifying_key().to_bytes()),
                role: Role::Issuer,
            }),
        )
        .await;
    }
    let (status, body) = t
        .signed_get(
            &key(AUDITOR),
            &format!("/v1/keys/prefix/{}", &key_hex(&k1)[..8]),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("ambiguous_id")),
        "{body}"
    );
    assert_eq!(
        body["error"]["candidates"].as_array().map(Vec::len),
        Some(2)
    );
    let terminal_hex = public(TERMINAL).to_hex();
    let (status, body) = t
        .signed_get(
            &key(AUDITOR),
            &format!("/v1/keys/prefix/{}", &terminal_hex[..10]),
        )
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(terminal_hex.as_str())),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_read_with_proofs_and_redemptions_in_force_follow_roles() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let terminal_hex = public(TERMINAL).to_hex();

    // The key registry names a terminal by org, store and channel, with a proof.
    let (status, body) = t
        .signed_get(&key(AUDITOR), &format!("/v1/keys/{terminal_hex}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["org"], "acme");
    assert_eq!(body["record"]["role"]["store"], "berlin-1", "{body}");
    let proven: ProvenValue = from_json(&body["proof"]);
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    proven.verify(&root).unwrap();
    assert_eq!(
        proven.value,
        Some(StateValue::Key(from_json(&body["record"])))
    );
    assert_eq!(
        t.get(&format!("/v1/keys/{}", public(99).to_hex())).await.0,
        404
    );
    assert_eq!(t.get("/v1/keys/nothex").await.0, 400);

    // Not redeemed yet: no redemption in force.
    let (status, body) = t
        .signed_get(&key(ISSUER), "/v1/tokens/spring/0/redemption")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"]["status"], "allocated", "{body}");
    assert!(body["redemption"].is_null(), "{body}");

    // Redeemed by the terminal: the redemption, by token and by code.
    let redeem_tx = t.tx(&key(TERMINAL), redeem(&pool, 0, 1));
    assert_eq!(t.submit(&redeem_tx).await.0, 200);
    let hash = couponcactus_chaincode::codes::code_hash(&testkit::code_text(&pool, 0));
    for path in [
        "/v1/tokens/spring/0/redemption".to_string(),
        format!("/v1/codes/{hash}/redemption"),
    ] {
        let (status, body) = t.signed_get(&key(ISSUER), &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["redemption"]["id"], redeem_tx.id().to_hex(), "{body}");
        assert_eq!(body["redemption"]["record"]["store"], "berlin-1");
        // What is shown is proven under the state root read.
        let root: Hash32 = from_json(&body["at"]["state_root"]);
        let token: ProvenValue = from_json(&body["token_proof"]);
        token.verify(&root).unwrap();
        let redemption: ProvenValue = from_json(&body["redemption_proof"]);
        redemption.verify(&root).unwrap();
        assert_eq!(
            redemption.value,
            Some(StateValue::Redemption(from_json(
                &body["redemption"]["record"]
            )))
        );
        assert_eq!(body["token_id"]["serial"], 0);
    }
    // Another org's key may not see it; unknown tokens and codes are 404.
    let (status, body) = t
        .signed_get(&key(OTHER_ISSUER), "/v1/tokens/spring/0/redemption")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_authorized"))
    );
    assert_eq!(
        t.signed_get(&key(ISSUER), "/v1/tokens/spring/99/redemption")
            .await
            .0,
        404
    );
    let unknown = couponcactus_chaincode::codes::code_hash("NO-SUCH");
    assert_eq!(
        t.signed_get(&key(ISSUER), &format!("/v1/codes/{unknown}/redemption"))
            .await
            .0,
        404
    );
    assert_eq!(t.get("/v1/tokens/spring/0/redemption").await.0, 401);

    // A second redemption is rejected, and shows in the token's history as an attempt.
    let again = t.tx(&key(TERMINAL), redeem(&pool, 0, 1));
    assert_eq!(t.submit(&again).await.0, 422);
    let (status, body) = t
        .signed_get(&key(AUDITOR), "/v1/tokens/spring/0/history")
        .await;
    assert_eq!(status, 200, "{body}");
    let entries = body["entries"].as_array().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(entries.len(), 4, "{body}");
    assert_eq!(last["result"]["status"], "rejected", "{last}");
    assert_eq!(last["result"]["rejection"]["reason"], "already_redeemed");
    assert_eq!(last["log"]["leaf"]["tx_id"], again.id().to_hex());

    // A revoked key still reads back, with its revocation height.
    t.applied(
        &key(ADMIN_ACME),
        TxKind::RevokeKey(couponcactus_chaincode::tx::RevokeKeyTx {
            key: public(TERMINAL),
        }),
    )
    .await;
    let (status, body) = t
        .signed_get(&key(ISSUER), &format!("/v1/keys/{terminal_hex}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["record"]["revoked_at"].as_u64().is_some(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallets_carry_proofs_of_their_tokens_and_pools() {
    let t = TestNode::start().await;
    t.setup().await;
    let path = format!("/v1/members/{}/wallet", member(1));
    let (status, body) = t.signed_get(&key(ISSUER), &path).await;
    assert_eq!(status, 200, "{body}");
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    assert_eq!(body["height"], body["at"]["height"]);
    let tokens = body["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{body}");
    let proven: ProvenValue = from_json(&tokens[0]["proof"]);
    proven.verify(&root).unwrap();
    assert_eq!(
        proven.value,
        Some(StateValue::Token(from_json(&tokens[0]["token"])))
    );
    let pools = body["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 1, "{body}");
    assert_eq!(pools[0]["pool"]["spec"]["name"], spec().name);
    let proven: ProvenValue = from_json(&pools[0]["proof"]);
    proven.verify(&root).unwrap();
    // Another org sees neither the token nor the pool.
    let (status, body) = t.signed_get(&key(OTHER_ISSUER), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tokens"], json!([]));
    assert_eq!(body["pools"], json!([]));
}

// ---- issue 14: every keyed read of an absent key proves the absence -------------------------

/// Checks a 404 of a keyed read: `not_found` with `at` and a proof that `key` holds no value
/// at `at.height`, verifying against `at.state_root` (the header's); returns the height.
fn assert_proven_absent(status: u16, body: &Value, key: &StateKey) -> u64 {
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let height = body["at"]["height"]
        .as_u64()
        .unwrap_or_else(|| panic!("no at: {body}"));
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    let header: BlockHeader = from_json(&body["at"]["header"]);
    assert_eq!((header.height, header.state_root), (height, root), "{body}");
    assert!(body["proof"]["value"].is_null(), "{body}");
    let proven: ProvenValue = from_json(&body["proof"]);
    assert_eq!(&proven.key, key, "{body}");
    assert_eq!(proven.version, height);
    verify_state_proof(&root, key, None, &proven.proof)
        .unwrap_or_else(|e| panic!("the absence proof does not verify: {e}: {body}"));
    proven.verify(&root).unwrap();
    height
}

fn token_key(pool: &str, serial: u64) -> StateKey {
    StateKey::Token(TokenId {
        pool: testkit::pool_id(pool),
        serial,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_tokens_pools_and_codes_answer_404_with_a_proof_of_absence() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let tip = t.height().await;

    // An unknown serial of a pool the reader may read.
    let (status, body) = t.signed_get(&key(ISSUER), "/v1/tokens/spring/99").await;
    assert_eq!(
        assert_proven_absent(status, &body, &token_key("spring", 99)),
        tip
    );
    // An unknown pool, and a token of it: anyone authenticated gets the proof.
    for seed in [ISSUER, OTHER_ISSUER, PARTNER] {
        let (status, body) = t.signed_get(&key(seed), "/v1/pools/nope").await;
        assert_proven_absent(status, &body, &StateKey::Pool(testkit::pool_id("nope")));
        let (status, body) = t.signed_get(&key(seed), "/v1/tokens/nope/0").await;
        assert_proven_absent(status, &body, &token_key("nope", 0));
    }
    // An unknown code hash.
    let unknown = couponcactus_chaincode::codes::code_hash("NO-SUCH-CODE");
    let (status, body) = t
        .signed_get(&key(TERMINAL), &format!("/v1/codes/{unknown}/token"))
        .await;
    assert_proven_absent(status, &body, &StateKey::Code(unknown));

    // Height 1 holds the key registrations only: the pool and its tokens came later.
    let (status, body) = t
        .signed_get(&key(ISSUER), "/v1/tokens/spring/0?height=1")
        .await;
    assert_eq!(
        assert_proven_absent(status, &body, &token_key("spring", 0)),
        1
    );
    let (status, body) = t
        .signed_get(&key(ISSUER), "/v1/pools/spring?height=1")
        .await;
    assert_eq!(
        assert_proven_absent(status, &body, &StateKey::Pool(pool.clone())),
        1
    );
    let code = testkit::issued_code(&pool, &testkit::code_text(&pool, 0), 0).code_hash;
    let (status, body) = t
        .signed_get(&key(ISSUER), &format!("/v1/codes/{code}/token?height=1"))
        .await;
    assert_proven_absent(status, &body, &StateKey::Code(code));
    // The same token exists at the tip: the absence proof at height 1 is not one at the tip.
    let (status, present) = t.signed_get(&key(ISSUER), "/v1/tokens/spring/0").await;
    assert_eq!(status, 200, "{present}");
    let proof: ProvenValue = from_json(&body["proof"]);
    let tip_root: Hash32 = from_json(&present["at"]["state_root"]);
    assert!(verify_state_proof(&tip_root, &proof.key, None, &proof.proof).is_err());

    // A pool the reader may not read stays 403, without a proof, whatever is asked of it.
    for path in ["/v1/tokens/spring/99", "/v1/pools/spring?height=1"] {
        let (status, body) = t.signed_get(&key(OTHER_ISSUER), path).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body.get("proof").is_none() && body.get("at").is_none(),
            "{body}"
        );
    }
    // Unsigned: 401 before anything is looked up.
    assert_eq!(t.get("/v1/tokens/nope/0").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_keys_and_redemption_targets_answer_404_with_a_proof_of_absence() {
    let t = TestNode::start().await;
    let pool = t.setup().await;

    // The key registry (public).
    let (status, body) = t.get(&format!("/v1/keys/{}", public(99).to_hex())).await;
    assert_proven_absent(status, &body, &StateKey::Key(public(99)));
    // The issuer's key was registered in the first block, not at genesis.
    let (status, body) = t
        .get(&format!("/v1/keys/{}?height=0", public(ISSUER).to_hex()))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["at"]["header"].is_null(),
        "genesis has no header: {body}"
    );
    let root: Hash32 = from_json(&body["at"]["state_root"]);
    let proven: ProvenValue = from_json(&body["proof"]);
    assert_eq!(proven.key, StateKey::Key(public(ISSUER)));
    assert_eq!(proven.value, None);
    proven.verify(&root).unwrap();

    // Redemptions in force of a token or code that does not exist.
    let (status, body) = t
        .signed_get(&key(TERMINAL), "/v1/tokens/spring/99/redemption")
        .await;
    assert_proven_absent(status, &body, &token_key("spring", 99));
    let (status, body) = t
        .signed_get(&key(PARTNER), "/v1/tokens/nope/3/redemption")
        .await;
    assert_proven_absent(status, &body, &token_key("nope", 3));
    let unknown = couponcactus_chaincode::codes::code_hash("NO-SUCH-CODE");
    let (status, body) = t
        .signed_get(&key(TERMINAL), &format!("/v1/codes/{unknown}/redemption"))
        .await;
    assert_proven_absent(status, &body, &StateKey::Code(unknown));
    // Another org's key is still refused for an existing pool's token.
    let (status, body) = t
        .signed_get(&key(OTHER_ISSUER), "/v1/tokens/spring/99/redemption")
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.get("proof").is_none(), "{body}");
    // A present token still answers 200.
    let (status, body) = t
        .signed_get(&key(ISSUER), "/v1/tokens/spring/0/redemption")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_id"]["pool"], pool.to_string());

    // The OpenAPI document says so: the 404s of keyed reads carry the proof.
    let (_, doc) = t.get("/openapi.json").await;
    for path in [
        "/v1/pools/{id}",
        "/v1/tokens/{pool}/{serial}",
        "/v1/codes/{code_hash}/token",
        "/v1/keys/{key}",
        "/v1/tokens/{pool}/{serial}/redemption",
        "/v1/codes/{code_hash}/redemption",
    ] {
        let schema = &doc["paths"][path]["get"]["responses"]["404"]["content"]["application/json"]
            ["schema"]["$ref"];
        assert_eq!(
            schema, "#/components/schemas/NotFoundProof",
            "{path}: {}",
            doc["paths"][path]["get"]["responses"]["404"]
        );
    }
    let schema = &doc["components"]["schemas"]["NotFoundProof"]["properties"];
    for field in ["error", "at", "proof"] {
        assert!(
            schema.get(field).is_some(),
            "NotFoundProof lacks {field}: {schema}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_declares_every_bad_input_and_id_shape() {
    let t = TestNode::start().await;
    let (status, doc) = t.get("/openapi.json").await;
    assert_eq!(status, 200);
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let responses = op["responses"].as_object().unwrap();
            let at = format!("{method} {path}");
            // Any parameter can be malformed: 400 must be declared.
            if !params.is_empty() && !responses.contains_key("400") {
                problems.push(format!("{at}: parameters but no 400"));
            }
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let schema = &p["schema"];
                let ty = schema["type"]
                    .as_str()
                    .or_else(|| schema["type"].as_array().and_then(|a| a[0].as_str()));
                if ty == Some("integer") && schema["format"] != "uint64" {
                    problems.push(format!("{at}: {name} is {} not uint64", schema["format"]));
                }
                if p["in"] == "path" && ty == Some("string") && !schema["pattern"].is_string() {
                    problems.push(format!("{at}: path parameter {name} has no pattern"));
                }
            }
            // What the server answers before any handler runs is declared everywhere.
            for status in ["408", "414", "431", "503"] {
                if !responses.contains_key(status) {
                    problems.push(format!("{at}: no {status}"));
                }
            }
            // Signed reads, required or optional, declare what a bad signature gets.
            if op.get("security").is_some() && !responses.contains_key("401") {
                problems.push(format!("{at}: signed but no 401"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advice_and_segments_are_for_the_orgs_staff_and_auditors_and_name_bad_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let analytics =
        Arc::new(crate::analytics::Analytics::open(&dir.path().join("a.sqlite")).unwrap());
    let options = ApiOptions {
        analytics: Some(analytics.clone()),
        ..ApiOptions::default()
    };
    let t = TestNode::start_with(options).await;
    t.setup().await;
    analytics.catch_up(t.node.store()).unwrap();
    let height = t.height().await;

    let (status, advice) = t.signed_get(&key(ADMIN_ACME), "/v1/advice").await;
    assert_eq!(status, 200, "{advice}");
    assert_eq!(advice["org"], "acme");
    assert_eq!(advice["stamp"]["height"], height);
    assert_eq!(advice["pools"][0]["pool"], "spring", "{advice}");
    let (status, same) = t.signed_get(&key(ISSUER), "/v1/advice").await;
    assert_eq!((status, &same), (200, &advice), "one height, one answer");
    let (status, segments) = t.signed_get(&key(ADMIN_ACME), "/v1/segments").await;
    assert_eq!(status, 200, "{segments}");
    assert_eq!(segments["members"][0]["group"], "prospect", "{segments}");
    assert_eq!(segments["members"][0]["member"], member(1).to_hex());
    // Auditors read any org's; nobody else reads another org's, terminals none.
    let (status, _) = t.signed_get(&key(AUDITOR), "/v1/advice?org=acme").await;
    assert_eq!(status, 200);
    for (signer, path) in [
        (TERMINAL, "/v1/advice"),
        (TERMINAL, "/v1/segments"),
        (PARTNER, "/v1/advice?org=acme"),
        (ADMIN_GLOBEX, "/v1/advice?org=acme"),
        (ADMIN_GLOBEX, "/v1/segments?org=acme"),
    ] {
        let (status, body) = t.signed_get(&key(signer), path).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, _) = t.get("/v1/advice").await;
    assert_eq!(status, 401);
    for (path, words) in [
        (
            "/v1/advice?period_days=3",
            "period_days must be 7 to 365, not 3",
        ),
        (
            "/v1/advice?period_days=99999999999",
            "period_days must be 7 to 365",
        ),
        ("/v1/advice?proposals=9", "proposals must be 3 to 5"),
        (
            "/v1/advice?objective=most",
            "objective must be redemptions or margin",
        ),
        ("/v1/advice?budget_minor=0", "budget must be more than 0"),
        ("/v1/segments?segment=vips", "unknown segment \"vips\""),
        ("/v1/segments?limit=0", "limit must be 1 to 10000"),
        (
            "/v1/segments?window_days=0",
            "window_days must be 1 to 3650",
        ),
    ] {
        let (status, body) = t.signed_get(&key(ADMIN_ACME), path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{path}: {body}");
    }
    // globex has no pools: the advisor says so.
    let (status, body) = t.signed_get(&key(ADMIN_GLOBEX), "/v1/advice").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has no pools yet")
    );
}
