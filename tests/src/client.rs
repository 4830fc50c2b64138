//! A small blocking HTTP client for the node's API: builds and signs txs, submits them,
//! makes signed reads, and parses replies.

use crate::now_ms;
use crate::views::{
    BatchView, BlockView, CheckpointView, ErrorBody, PoolView, Status, TokenView, TxDetail, TxView,
};
use couponcactus_chaincode::ids::{ChainId, PublicKey, TokenId, TxId};
use couponcactus_chaincode::tx::{SignedTx, TxBody, TxKind, sign_read};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a tx stays valid by default (the node refuses stale txs).
pub const TX_VALIDITY_MS: u64 = 120_000;
/// Longest any request may take (above the node's 30 s commit timeout).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// An HTTP reply: status and JSON body (`Value::Null` if the body is not JSON).
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
}

impl Reply {
    /// `error.code`, if the body has one.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }

    /// Parses the body (panics with the reply on failure).
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone()).unwrap_or_else(|e| {
            panic!(
                "reply does not parse as {}: {e}\n{self:#?}",
                std::any::type_name::<T>()
            )
        })
    }

    /// Asserts the status, returning the reply.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "unexpected status: {self:#?}");
        self
    }

    /// Asserts the status and `error.code`, and that the body is the API's error shape
    /// (`{"error":{"code","message"}}` with a non-empty message).
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Reply {
        assert_eq!(
            (self.status, self.error_code()),
            (status, Some(code)),
            "unexpected reply: {self:#?}"
        );
        let error: ErrorBody = serde_json::from_value(self.body["error"].clone())
            .unwrap_or_else(|e| panic!("error body does not parse: {e}: {self:#?}"));
        assert!(!error.message.is_empty(), "empty error message: {self:#?}");
        self
    }
}

/// A client of one node; cheap to clone and usable from several threads.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
    chain_id: ChainId,
    nonce: Arc<AtomicU64>,
}

impl Client {
    /// A client of the node at `base` (`http://127.0.0.1:PORT`) on chain `chain_id`.
    pub fn new(base: String, chain_id: ChainId) -> Client {
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("building the HTTP client");
        // Nonces start from the clock, so txs built after a restart of the test's node
        // never repeat an earlier body.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Client {
            base,
            http,
            chain_id,
            nonce: Arc::new(AtomicU64::new(seed)),
        }
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The chain id txs are built for.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    // ---- building txs ---------------------------------------------------------------------

    /// A body with a fresh nonce, valid for [`TX_VALIDITY_MS`].
    pub fn body(&self, kind: TxKind) -> TxBody {
        TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
            valid_until_ms: now_ms() + TX_VALIDITY_MS,
            kind,
            memo: None,
        }
    }

    /// A signed tx with a fresh nonce.
    pub fn tx(&self, key: &SigningKey, kind: TxKind) -> SignedTx {
        self.body(kind).sign(key)
    }

    // ---- raw requests -----------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn reply(response: reqwest::blocking::Response) -> Result<Reply, reqwest::Error> {
        let status = response.status().as_u16();
        let text = response.text()?;
        let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        });
        Ok(Reply { status, body })
    }

    /// `GET path`, or the transport error.
    pub fn try_get(&self, path: &str) -> Result<Reply, reqwest::Error> {
        Self::reply(self.http.get(self.url(path)).send()?)
    }

    /// `GET path` (panics on transport errors).
    pub fn get(&self, path: &str) -> Reply {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A signed read: `GET path` with the `x-cactus-*` headers signed by `key` at `time_ms`.
    pub fn get_signed_at(&self, key: &SigningKey, time_ms: u64, path: &str) -> Reply {
        let signature = sign_read(key, &self.chain_id, time_ms, "GET", path);
        let public = PublicKey(key.verifying_key().to_bytes());
        self.http
            .get(self.url(path))
            .header("x-cactus-key", public.to_hex())
            .header("x-cactus-time", time_ms.to_string())
            .header("x-cactus-signature", signature.to_hex())
            .send()
            .and_then(Self::reply)
            .unwrap_or_else(|e| panic!("signed GET {path}: {e}"))
    }

    /// A signed read by `key`, now.
    pub fn get_signed(&self, key: &SigningKey, path: &str) -> Reply {
        self.get_signed_at(key, now_ms(), path)
    }

    /// `GET path` with the given `x-cactus-*` header values as they are (for testing what
    /// the node makes of wrong ones).
    pub fn get_with_read_headers(
        &self,
        path: &str,
        key: &str,
        time: &str,
        signature: &str,
    ) -> Reply {
        self.http
            .get(self.url(path))
            .header("x-cactus-key", key)
            .header("x-cactus-time", time)
            .header("x-cactus-signature", signature)
            .send()
            .and_then(Self::reply)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `POST path` with raw bytes and a content type, or the transport error.
    pub fn try_post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply, reqwest::Error> {
        Self::reply(
            self.http
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body)
                .send()?,
        )
    }

    /// `POST path` with raw bytes (panics on transport errors).
    pub fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        self.try_post_bytes(path, content_type, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `POST path` with a JSON body, or the transport error.
    pub fn try_post_json<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Reply, reqwest::Error> {
        let bytes = serde_json::to_vec(body).expect("request serializes");
        self.try_post_bytes(path, "application/json", bytes)
    }

    /// `POST path` with a JSON body (panics on transport errors).
    pub fn post_json<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Reply {
        self.try_post_json(path, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    // ---- txs ------------------------------------------------------------------------------

    /// Submits a tx and waits for its commit, or the transport error.
    pub fn try_submit(&self, tx: &SignedTx) -> Result<Reply, reqwest::Error> {
        self.try_post_json("/v1/txs", tx)
    }

    /// Submits a tx and waits for its commit (`POST /v1/txs`).
    pub fn submit(&self, tx: &SignedTx) -> Reply {
        self.post_json("/v1/txs", tx)
    }

    /// Submits a tx without waiting (`POST /v1/txs?wait=false`).
    pub fn submit_async(&self, tx: &SignedTx) -> Reply {
        self.post_json("/v1/txs?wait=false", tx)
    }

    /// Submits a batch (`POST /v1/txs/batch`, waiting unless `wait` is false).
    pub fn submit_batch(&self, txs: &[SignedTx], wait: bool) -> Reply {
        let path = if wait {
            "/v1/txs/batch"
        } else {
            "/v1/txs/batch?wait=false"
        };
        self.post_json(path, txs)
    }

    /// Submits a batch, waits, and returns its parsed results (asserting 200).
    pub fn batch(&self, txs: &[SignedTx]) -> BatchView {
        self.submit_batch(txs, true).expect(200).json()
    }

    /// Signs, submits and asserts the tx was applied (200); returns its view.
    #[track_caller]
    pub fn apply(&self, key: &SigningKey, kind: TxKind) -> TxView {
        let tx = self.tx(key, kind);
        let view: TxView = self.submit(&tx).expect(200).json();
        assert_eq!(view.status, "applied", "{view:#?}");
        assert_eq!(view.tx_id, tx.id());
        view
    }

    /// Signs, submits and asserts the chain rejected the tx with `code` (422, in a block);
    /// returns its view.
    #[track_caller]
    pub fn reject(&self, key: &SigningKey, kind: TxKind, code: &str) -> TxView {
        let tx = self.tx(key, kind);
        let reply = self.submit(&tx).expect_error(422, code);
        let view: TxView = reply.json();
        assert_eq!(view.status, "rejected", "{view:#?}");
        assert_eq!(view.tx_id, tx.id());
        assert!(
            view.height.is_some(),
            "a rejected tx has its place: {view:#?}"
        );
        let rejection = view
            .result
            .as_ref()
            .and_then(|r| r.rejection())
            .expect("a rejected view carries the rejection");
        assert_eq!(rejection.reason.code(), code);
        view
    }

    // ---- reads ----------------------------------------------------------------------------

    /// `GET /v1/status`.
    pub fn status(&self) -> Status {
        self.get("/v1/status").expect(200).json()
    }

    /// `GET /v1/blocks/{height}`.
    pub fn block(&self, height: u64) -> BlockView {
        let block: BlockView = self.get(&format!("/v1/blocks/{height}")).expect(200).json();
        assert_eq!(block.height, height);
        block
    }

    /// Every block from 1 to `to`, unsigned: headers, certificates and governance txs;
    /// other txs withheld.
    pub fn blocks(&self, to: u64) -> Vec<BlockView> {
        (1..=to).map(|h| self.block(h)).collect()
    }

    /// `GET /v1/blocks/{height}` signed by `reader` (a consortium auditor sees every tx).
    pub fn block_as(&self, reader: &SigningKey, height: u64) -> BlockView {
        let block: BlockView = self
            .get_signed(reader, &format!("/v1/blocks/{height}"))
            .expect(200)
            .json();
        assert_eq!(block.height, height);
        block
    }

    /// Every block from 1 to `to`, signed by `reader`.
    pub fn blocks_as(&self, reader: &SigningKey, to: u64) -> Vec<BlockView> {
        (1..=to).map(|h| self.block_as(reader, h)).collect()
    }

    /// `GET /v1/checkpoints/latest`.
    pub fn checkpoint(&self) -> CheckpointView {
        self.get("/v1/checkpoints/latest").expect(200).json()
    }

    /// `GET /v1/txs/{id}`, signed by `reader`.
    pub fn tx_detail(&self, reader: &SigningKey, id: &TxId) -> TxDetail {
        self.get_signed(reader, &format!("/v1/txs/{id}"))
            .expect(200)
            .json()
    }

    /// `GET /v1/tokens/{pool}/{serial}`, signed by `reader`.
    pub fn token(&self, reader: &SigningKey, id: &TokenId) -> TokenView {
        self.get_signed(reader, &format!("/v1/tokens/{}/{}", id.pool, id.serial))
            .expect(200)
            .json()
    }

    /// `GET /v1/pools/{id}`, signed by `reader`.
    pub fn pool(&self, reader: &SigningKey, id: &str) -> PoolView {
        self.get_signed(reader, &format!("/v1/pools/{id}"))
            .expect(200)
            .json()
    }
}
