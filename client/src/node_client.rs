//! [`NodeClient`]: typed async requests for every call of a node's HTTP API.
//!
//! One method per endpoint (`docs/api.md`, `/openapi.json`): submitting txs one by one or
//! in batches (waiting for the commit, or not), dry runs, tx lookups, pools, an org's
//! pools, tokens, code lookups, wallets, token history, a store's redemptions, loyalty
//! programs and balances, an org's fraud holds, blocks, checkpoints, the history log,
//! status, health, metrics and the OpenAPI document. Reads of non-public data are signed
//! ([`crate::signed_read`]) with the reader key given to [`NodeClient::with_reader`].
//! Answers are the types of [`crate::views`]; proofs in them are checked with
//! [`crate::verify`], never taken on the node's word.
//!
//! A committed tx answers with its [`TxView`] whether the chaincode applied or rejected it
//! (check [`TxView::status`]); only what never reached a block is an error: the API's
//! `{"error":{"code","message"}}` becomes [`NodeClientError::Api`] with its code.
//!
//! Keyed reads (a pool, a token, a code, a key, a redemption in force) are answered for the
//! key asked, or not at all: a node's "not found" (404) must carry the proof that this very
//! key holds no value at the height read, which is checked here
//! ([`crate::verify::verify_absence`]) and becomes [`NodeClientError::Absent`] (tie its
//! header to a certificate with [`crate::ProofVerifier::absence`]); a 404 without that
//! proof, with one that does not verify or with the proof of another key is
//! [`NodeClientError::UnprovenAbsence`]. A present answer for another key than the one
//! asked is [`NodeClientError::UnexpectedResponse`].
//!
//! A client may know several nodes of the chain (`http://a:7101,http://b:7101`): each
//! request goes to the node that answered last, and when that node cannot be reached, the
//! request fails on the way, or the node answers 502, 503 or 504, the same request (the
//! same signed tx bytes: never re-signed, so never a second tx) goes to the next node,
//! each node at most once per request. Resubmitting a signed tx is safe: its id makes it
//! idempotent, a node answers a known tx with its original result.

use crate::signed_read::ReadSignature;
use crate::tx_builder::{TxBuilder, now_ms};
use crate::verify::{ProvenAbsence, verify_absence};
use crate::views::{BalanceView, LiabilityView, ProgramView, SettlementView};
use crate::views::{
    BatchView, BlockRangeView, BlockView, CheckpointView, CodeView, ConsistencyView,
    ConsortiumView, ErrorResponse, Health, KeyView, LogEntriesView, NotFoundView, OrgPoolsView,
    PoolView, Status, StoreRedemptionsView, TokenHistoryView, TokenRedemptionView, TokenView,
    TxDetail, TxStatus, TxView, ValidateView, WalletView,
};
use crate::views::{HoldView, HoldsView};
use couponcactus_chaincode::events::{EventId, EventType, EventsPage};
use couponcactus_chaincode::ids::{
    ChainId, CodeHash, MemberId, OrgId, PoolId, PublicKey, StoreId, TokenId, TxId,
};
use couponcactus_chaincode::memo::Memo;
use couponcactus_chaincode::risk::HoldTarget;
use couponcactus_chaincode::state::StateKey;
use couponcactus_chaincode::tx::SignedTx;
use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long one request may take by default: above the node's 30 s commit wait and its
/// 60 s request timeout, so a waiting submission gets the node's own answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(75);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Answers after which a request goes to the next node: a proxy's bad gateway and gateway
/// timeout, and the node's own 503 (`mempool_full`, `shutting_down`).
const FAILOVER_STATUSES: [StatusCode; 3] = [
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

/// Why a request to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeClientError {
    /// The node URL does not parse.
    #[error("invalid node URL {url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// Nothing answers at the node's address (with several nodes: at any of them).
    #[error("cannot reach {}: {source}", unreachable_where(url))]
    Unreachable {
        /// The node's base URL; with several nodes, every URL tried, joined by `, `.
        url: String,
        /// The connection error.
        #[source]
        source: reqwest::Error,
    },
    /// The request failed on the way (timeout, connection reset, …).
    #[error("{method} {url} failed: {source}")]
    Transport {
        /// HTTP method.
        method: Method,
        /// The full URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with the API's error shape.
    #[error("{method} {path}: {code}: {message} (HTTP {status})")]
    Api {
        /// HTTP method.
        method: Method,
        /// The request target.
        path: String,
        /// HTTP status.
        status: u16,
        /// Stable snake_case code (`unknown_key`, `not_found`, `already_redeemed`, …).
        code: String,
        /// The node's explanation.
        message: String,
    },
    /// The node proved that the key read holds no value: a keyed read's 404 whose
    /// non-inclusion proof is for the key asked and verified against the answer's state
    /// root. Tie its header to a certificate with [`crate::ProofVerifier::absence`].
    #[error("{method} {path}: not_found: {message} (proven absent at height {})", absence.at.height)]
    Absent {
        /// HTTP method.
        method: Method,
        /// The request target.
        path: String,
        /// The node's explanation.
        message: String,
        /// The key, the height and the proof.
        absence: Box<ProvenAbsence>,
    },
    /// A keyed read answered 404 without proving the key absent: no proof, a proof that does
    /// not verify, or the proof of another key or height. Do not believe the "not found".
    #[error("{method} {path}: the node did not prove that {what} is absent: {why}")]
    UnprovenAbsence {
        /// HTTP method.
        method: Method,
        /// The request target.
        path: String,
        /// What was looked up (`token spring/7`, …).
        what: String,
        /// What is missing or wrong.
        why: String,
    },
    /// The node's answer is not what the API promises.
    #[error("{method} {path}: unexpected answer (HTTP {status}): {why}")]
    UnexpectedResponse {
        /// HTTP method.
        method: Method,
        /// The request target.
        path: String,
        /// HTTP status.
        status: u16,
        /// What is wrong with it.
        why: String,
    },
    /// A signed read was asked of a client without a reader key.
    #[error("{path} is a signed read: the client needs a registered key (NodeClient::with_reader)")]
    NoReaderKey {
        /// The request target.
        path: String,
    },
    /// A tx was still pending when the wait ended.
    #[error(
        "tx {tx_id} was not committed within {waited:?}; it may still be (resubmitting it is safe)"
    )]
    StillPending {
        /// The tx.
        tx_id: TxId,
        /// How long we waited.
        waited: Duration,
    },
    /// The HTTP client could not be set up.
    #[error("setting up the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
}

impl NodeClientError {
    /// The API error code, when the node answered with one (`not_found` for a proven
    /// absence; none for an unproven one, which is not believed).
    pub fn api_code(&self) -> Option<&str> {
        match self {
            NodeClientError::Api { code, .. } => Some(code),
            NodeClientError::Absent { .. } => Some("not_found"),
            _ => None,
        }
    }

    /// The HTTP status, when the node answered (404 for a proven absence only).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            NodeClientError::Api { status, .. }
            | NodeClientError::UnexpectedResponse { status, .. } => Some(*status),
            NodeClientError::Absent { .. } => Some(404),
            _ => None,
        }
    }

    /// The proof that the key read is absent, when the node gave one that verified.
    pub fn absence(&self) -> Option<&ProvenAbsence> {
        match self {
            NodeClientError::Absent { absence, .. } => Some(absence),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, NodeClientError>;

/// The innermost cause of an error (e.g. "Connection refused (os error 111)" rather than
/// reqwest's "error sending request").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// How [`NodeClientError::Unreachable`] names the node(s).
fn unreachable_where(url: &str) -> String {
    if url.contains(", ") {
        format!("any node ({url})")
    } else {
        format!("node at {url}")
    }
}

/// Whether a submission waits for the tx's block to be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Answer once the tx's block is applied on the node asked (the default of the API).
    ForCommit,
    /// Answer `pending` as soon as the tx is admitted (`?wait=false`).
    Admitted,
}

impl Wait {
    fn query(self) -> &'static str {
        match self {
            Wait::ForCommit => "",
            Wait::Admitted => "?wait=false",
        }
    }
}

/// A client of one node's HTTP API. Cheap to clone; usable from many tasks at once.
///
/// ```no_run
/// use couponcactus_client::NodeClient;
/// use couponcactus_client::chaincode::prelude::*;
/// use couponcactus_client::genesis::KeyFile;
/// use couponcactus_client::views::TxStatus;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Learn the chain from the node, and read with the terminal's registered key.
/// let terminal = KeyFile::load(".localnet/orgs/acme/keys/terminal.key".as_ref())?.signing_key();
/// let node = NodeClient::connect("http://127.0.0.1:7101")
///     .await?
///     .with_reader(terminal.clone());
///
/// // A POS terminal redeems a code the customer typed in.
/// let order = Order { currency: "EUR".parse()?, total_minor: 10_000, lines: vec![] };
/// let tx = node.tx_builder().redeem(&terminal, RedeemTarget::Code(code_hash("ABCD-EFGH-JKMN")), None, order);
/// let check = node.validate(&tx).await?; // dry run before charging the customer
/// if check.is_valid() {
///     let done = node.submit(&tx).await?; // waits for the block
///     match done.status {
///         TxStatus::Applied => println!("redeemed in block {:?}", done.height),
///         _ => println!("refused: {:?}", done.error),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NodeClient {
    /// Base URLs of the nodes, in the order given.
    nodes: Arc<[String]>,
    /// The node that answered last: the first one asked next (shared by clones).
    current: Arc<AtomicUsize>,
    http: reqwest::Client,
    chain_id: ChainId,
    reader: Option<SigningKey>,
    /// The memo every tx of [`NodeClient::tx_builder`] carries.
    memo: Option<Memo>,
}

impl fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClient")
            .field("nodes", &self.nodes)
            .field("chain_id", &self.chain_id)
            .field("reader", &self.reader_key())
            .finish()
    }
}

/// Which events [`NodeClient::events`] asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// Events after this one (from the first without).
    pub after: Option<EventId>,
    /// Only these types (all when empty).
    pub types: Vec<EventType>,
    /// Only this pool's events.
    pub pool: Option<PoolId>,
    /// Only this member's events.
    pub member: Option<MemberId>,
    /// Most events per page (the node's default 100 when unset; at most 1,000).
    pub limit: Option<usize>,
    /// Long poll: wait up to this many seconds (≤ 30) when no event follows `after`.
    pub wait_secs: Option<u64>,
}

impl EventsQuery {
    fn path(&self) -> String {
        let mut query = Vec::new();
        if let Some(after) = self.after {
            query.push(format!("after={after}"));
        }
        if !self.types.is_empty() {
            let names: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
            query.push(format!("types={}", names.join(",")));
        }
        if let Some(pool) = &self.pool {
            query.push(format!("pool={pool}"));
        }
        if let Some(member) = &self.member {
            query.push(format!("member={member}"));
        }
        if let Some(limit) = self.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(wait) = self.wait_secs {
            query.push(format!("wait={wait}"));
        }
        match query.is_empty() {
            true => "/v1/events".into(),
            false => format!("/v1/events?{}", query.join("&")),
        }
    }
}

/// Normalises a node URL: adds `http://` when no scheme is given, drops a trailing `/`,
/// and checks it parses as an http(s) URL.
pub fn normalize_node_url(url: &str) -> Result<String> {
    let trimmed = url.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let parsed = reqwest::Url::parse(&with_scheme).map_err(|e| NodeClientError::BadUrl {
        url: url.into(),
        why: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(NodeClientError::BadUrl {
            url: url.into(),
            why: "the scheme must be http or https".into(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(NodeClientError::BadUrl {
            url: url.into(),
            why: "a node URL has no query or fragment".into(),
        });
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// Normalises a list of node URLs separated by commas (`http://a:7101,http://b:7101`),
/// each as [`normalize_node_url`]; empty entries are skipped, repeated ones dropped.
pub fn normalize_node_urls(urls: &str) -> Result<Vec<String>> {
    let mut nodes: Vec<String> = Vec::new();
    for url in urls.split(',').filter(|u| !u.trim().is_empty()) {
        let url = normalize_node_url(url)?;
        if !nodes.contains(&url) {
            nodes.push(url);
        }
    }
    if nodes.is_empty() {
        return Err(NodeClientError::BadUrl {
            url: urls.into(),
            why: "no node URL given".into(),
        });
    }
    Ok(nodes)
}

impl NodeClient {
    /// A client of the node at `base_url` on chain `chain_id`, without asking the node.
    /// `base_url` may list several nodes separated by commas ([`normalize_node_urls`]).
    pub fn new(base_url: &str, chain_id: ChainId) -> Result<NodeClient> {
        Self::with_timeout(base_url, chain_id, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client of several nodes of chain `chain_id`, failing over from one to the next
    /// (module doc), without asking them.
    pub fn with_nodes<S: AsRef<str>>(urls: &[S], chain_id: ChainId) -> Result<NodeClient> {
        let joined: Vec<&str> = urls.iter().map(AsRef::as_ref).collect();
        Self::new(&joined.join(","), chain_id)
    }

    /// A client of several nodes, on the chain the first node that answers reports.
    pub async fn connect_any<S: AsRef<str>>(urls: &[S]) -> Result<NodeClient> {
        let mut client = Self::with_nodes(urls, ChainId("unknown".into()))?;
        let status = client.status().await?;
        client.chain_id = status.chain_id;
        Ok(client)
    }

    fn from_parts(nodes: Vec<String>, chain_id: ChainId, http: reqwest::Client) -> NodeClient {
        NodeClient {
            nodes: nodes.into(),
            current: Arc::new(AtomicUsize::new(0)),
            http,
            chain_id,
            reader: None,
            memo: None,
        }
    }

    /// [`NodeClient::new`] with another per-request timeout.
    pub fn with_timeout(
        base_url: &str,
        chain_id: ChainId,
        timeout: Duration,
    ) -> Result<NodeClient> {
        let nodes = normalize_node_urls(base_url)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(NodeClientError::Setup)?;
        Ok(Self::from_parts(nodes, chain_id, http))
    }

    /// A client of the node at `base_url` on chain `chain_id` that sends its requests with
    /// `http`: e.g. one [`load_http_client`] shared by the clients of several nodes.
    pub fn with_http_client(
        base_url: &str,
        chain_id: ChainId,
        http: reqwest::Client,
    ) -> Result<NodeClient> {
        Ok(Self::from_parts(
            normalize_node_urls(base_url)?,
            chain_id,
            http,
        ))
    }

    /// A client of the node at `base_url` (or of several, comma-separated), on the chain
    /// the node reports (`GET /v1/status`).
    pub async fn connect(base_url: &str) -> Result<NodeClient> {
        Self::connect_any(&[base_url]).await
    }

    /// The same client, signing non-public reads with `key` (a registered key; its role
    /// decides what the node shows).
    pub fn with_reader(mut self, key: SigningKey) -> NodeClient {
        self.reader = Some(key);
        self
    }

    /// Whether reads where a signature is optional (blocks, the history log, the key
    /// registry, id prefixes) are signed: when there is a reader key, which widens what
    /// the node shows.
    fn signs(&self) -> bool {
        self.reader.is_some()
    }

    /// The reader key's public key, if any.
    pub fn reader_key(&self) -> Option<PublicKey> {
        self.reader
            .as_ref()
            .map(|k| PublicKey(k.verifying_key().to_bytes()))
    }

    /// The base URL (`http://host:port`) of the node asked first: the one that answered
    /// last.
    pub fn base_url(&self) -> &str {
        &self.nodes[self.current.load(Ordering::Relaxed) % self.nodes.len()]
    }

    /// The base URLs of every node this client may ask, in the order given.
    pub fn node_urls(&self) -> &[String] {
        &self.nodes
    }

    /// The chain txs and signed reads are made for.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The same client, with every tx its [`NodeClient::tx_builder`] builds carrying `memo`
    /// (`cactus --memo`).
    pub fn with_memo(mut self, memo: Option<Memo>) -> NodeClient {
        self.memo = memo;
        self
    }

    /// A tx builder for this client's chain (with the client's memo, if any).
    pub fn tx_builder(&self) -> TxBuilder {
        TxBuilder::new(self.chain_id.clone()).memo(self.memo.clone())
    }

    // ---- transport ------------------------------------------------------------------------

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        signed: bool,
    ) -> Result<(StatusCode, Vec<u8>)> {
        self.request_with(method, path, body, signed, None).await
    }

    /// Sends a request to the node that answered last, failing over to the next nodes
    /// (each at most once) while the node cannot be reached, the request fails on the way,
    /// or the node answers 502, 503 or 504. The same bytes go to every node. When every
    /// node failed: the last answer or transport error, or, if no node could be reached at
    /// all, [`NodeClientError::Unreachable`] naming every node.
    async fn request_with(
        &self,
        method: Method,
        path: &str,
        mut body: Option<(&'static str, Vec<u8>)>,
        signed: bool,
        accept: Option<&'static str>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let count = self.nodes.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut failed: Option<Result<(StatusCode, Vec<u8>)>> = None;
        let mut unreachable: Option<reqwest::Error> = None;
        for step in 0..count {
            let index = (first + step) % count;
            let node = &self.nodes[index];
            let payload = if step + 1 == count {
                body.take()
            } else {
                body.clone()
            };
            let outcome = self
                .request_once(node, method.clone(), path, payload, signed, accept)
                .await;
            let why = match outcome {
                Err(NodeClientError::Unreachable { source, .. }) => {
                    let why = innermost(&source);
                    unreachable = Some(source);
                    why
                }
                Err(e @ NodeClientError::Transport { .. }) => {
                    let why = innermost(&e);
                    failed = Some(Err(e));
                    why
                }
                Ok((status, bytes)) if FAILOVER_STATUSES.contains(&status) => {
                    failed = Some(Ok((status, bytes)));
                    format!("HTTP {status}")
                }
                other => {
                    if other.is_ok() {
                        self.current.store(index, Ordering::Relaxed);
                    }
                    return other;
                }
            };
            if step + 1 < count {
                let next = &self.nodes[(index + 1) % count];
                tracing::warn!("node {node} failed ({why}); asking {next}");
            }
        }
        match (failed, unreachable) {
            (Some(last), _) => last,
            (None, Some(source)) => Err(NodeClientError::Unreachable {
                url: self.nodes.join(", "),
                source,
            }),
            (None, None) => Err(NodeClientError::BadUrl {
                url: String::new(),
                why: "no node URL given".into(),
            }),
        }
    }

    /// One request to the node at `base`.
    async fn request_once(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        signed: bool,
        accept: Option<&'static str>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let url = format!("{base}{path}");
        let parsed = reqwest::Url::parse(&url).map_err(|e| NodeClientError::BadUrl {
            url: url.clone(),
            why: e.to_string(),
        })?;
        let mut request = self.http.request(method.clone(), parsed.clone());
        if signed {
            let key = self
                .reader
                .as_ref()
                .ok_or_else(|| NodeClientError::NoReaderKey {
                    path: path.to_string(),
                })?;
            // The request target exactly as sent (with any path prefix of the base URL).
            let mut target = parsed.path().to_string();
            if let Some(query) = parsed.query() {
                target.push('?');
                target.push_str(query);
            }
            let signature =
                ReadSignature::sign(key, &self.chain_id, now_ms(), method.as_str(), &target);
            for (name, value) in signature.headers() {
                request = request.header(name, value);
            }
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let transport = |source: reqwest::Error| {
            if source.is_connect() {
                NodeClientError::Unreachable {
                    url: base.to_string(),
                    source,
                }
            } else {
                NodeClientError::Transport {
                    method: method.clone(),
                    url: url.clone(),
                    source,
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    /// Turns an answer into `T` when its status is one of `ok`, else into the API error.
    fn decode<T: DeserializeOwned>(
        method: Method,
        path: &str,
        status: StatusCode,
        bytes: &[u8],
        ok: &[StatusCode],
    ) -> Result<T> {
        if ok.contains(&status) {
            return serde_json::from_slice(bytes).map_err(|e| {
                NodeClientError::UnexpectedResponse {
                    method,
                    path: path.to_string(),
                    status: status.as_u16(),
                    why: format!("the body does not parse: {e}"),
                }
            });
        }
        Err(Self::error_of(method, path, status, bytes))
    }

    fn error_of(method: Method, path: &str, status: StatusCode, bytes: &[u8]) -> NodeClientError {
        match serde_json::from_slice::<ErrorResponse>(bytes) {
            Ok(e) => NodeClientError::Api {
                method,
                path: path.to_string(),
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
            },
            Err(_) => NodeClientError::UnexpectedResponse {
                method,
                path: path.to_string(),
                status: status.as_u16(),
                why: format!(
                    "not the API's error shape: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            },
        }
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str, signed: bool) -> Result<T> {
        let (status, bytes) = self.request(Method::GET, path, None, signed).await?;
        Self::decode(Method::GET, path, status, &bytes, &[StatusCode::OK])
    }

    /// A keyed read of `read.key`: the answer `T` (whose key [`Keyed::state_key`] must be
    /// the one asked), or a 404 that proves the key absent ([`Self::absence_of`]).
    async fn get_keyed<T: DeserializeOwned + Keyed>(
        &self,
        path: &str,
        signed: bool,
        read: KeyedRead,
    ) -> Result<T> {
        let (status, bytes) = self.request(Method::GET, path, None, signed).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(Self::absence_of(Method::GET, path, &bytes, &read));
        }
        let view: T = Self::decode(Method::GET, path, status, &bytes, &[StatusCode::OK])?;
        if view.state_key() != read.key {
            return Err(NodeClientError::UnexpectedResponse {
                method: Method::GET,
                path: path.to_string(),
                status: status.as_u16(),
                why: format!(
                    "asked for {}, the node answered for {:?}",
                    read.what,
                    view.state_key()
                ),
            });
        }
        view.check_proofs()
            .map_err(|why| NodeClientError::UnexpectedResponse {
                method: Method::GET,
                path: path.to_string(),
                status: status.as_u16(),
                why,
            })?;
        Ok(view)
    }

    /// What a keyed read's 404 proves: [`NodeClientError::Absent`] when it carries a proof
    /// that `read.key` is absent at the height read (checked against the answer's state
    /// root), else [`NodeClientError::UnprovenAbsence`].
    fn absence_of(method: Method, path: &str, bytes: &[u8], read: &KeyedRead) -> NodeClientError {
        let unproven = |why: String| NodeClientError::UnprovenAbsence {
            method: method.clone(),
            path: path.to_string(),
            what: read.what.clone(),
            why,
        };
        let view = match serde_json::from_slice::<NotFoundView>(bytes) {
            Ok(view) => view,
            Err(_) => {
                return unproven(match serde_json::from_slice::<ErrorResponse>(bytes) {
                    Ok(e) => format!(
                        "it answered 404 {}: {} with no proof",
                        e.error.code, e.error.message
                    ),
                    Err(_) => "it answered 404 with no proof".into(),
                });
            }
        };
        if view.error.code != "not_found" {
            return unproven(format!("it answered 404 with code {}", view.error.code));
        }
        match verify_absence(&read.what, &read.key, read.height, &view.at, &view.proof) {
            Ok(absence) => NodeClientError::Absent {
                method,
                path: path.to_string(),
                message: view.error.message,
                absence: Box::new(absence),
            },
            Err(e) => unproven(e.to_string()),
        }
    }

    async fn post_json<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let bytes = serde_json::to_vec(body).expect("request bodies serialize");
        self.request(Method::POST, path, Some(("application/json", bytes)), false)
            .await
    }

    // ---- writes ---------------------------------------------------------------------------

    /// Submits a tx and waits until its block is applied (`POST /v1/txs`). An applied and a
    /// rejected tx both answer `Ok` with their place in the chain; see [`TxView::status`].
    /// Resubmitting the same signed tx is always safe: the node answers with the original
    /// result.
    pub async fn submit(&self, tx: &SignedTx) -> Result<TxView> {
        self.submit_with(tx, Wait::ForCommit).await
    }

    /// Submits a tx, waiting for its commit or only for its admission.
    pub async fn submit_with(&self, tx: &SignedTx, wait: Wait) -> Result<TxView> {
        let path = format!("/v1/txs{}", wait.query());
        let (status, bytes) = self.post_json(&path, tx).await?;
        Self::tx_view(Method::POST, &path, status, &bytes)
    }

    /// A tx's view from an answer: 200 (applied), 202 (pending), 409 or 422 (rejected in a
    /// block) carry a [`TxView`]; anything else is the API's error.
    fn tx_view(method: Method, path: &str, status: StatusCode, bytes: &[u8]) -> Result<TxView> {
        let committed_or_pending = [
            StatusCode::OK,
            StatusCode::ACCEPTED,
            StatusCode::CONFLICT,
            StatusCode::UNPROCESSABLE_ENTITY,
        ];
        if committed_or_pending.contains(&status)
            && let Ok(view) = serde_json::from_slice::<TxView>(bytes)
        {
            return Ok(view);
        }
        Self::decode(method, path, status, bytes, &[])
    }

    /// Submits one tx given as its canonical bincode bytes (`encode(&signed_tx)`, sent as
    /// `application/octet-stream`): what a terminal that signed ahead of time sends, with
    /// no JSON encoding on the way. Answers as [`NodeClient::submit_with`].
    pub async fn submit_encoded(&self, tx: Vec<u8>, wait: Wait) -> Result<TxView> {
        let path = format!("/v1/txs{}", wait.query());
        let (status, bytes) = self
            .request(
                Method::POST,
                &path,
                Some(("application/octet-stream", tx)),
                false,
            )
            .await?;
        Self::tx_view(Method::POST, &path, status, &bytes)
    }

    /// Submits a batch given as the canonical bincode bytes of `Vec<SignedTx>` (at most
    /// 10,000 txs). Answers as [`NodeClient::submit_batch`].
    pub async fn submit_batch_encoded(&self, txs: Vec<u8>, wait: Wait) -> Result<BatchView> {
        let path = format!("/v1/txs/batch{}", wait.query());
        let (status, bytes) = self
            .request(
                Method::POST,
                &path,
                Some(("application/octet-stream", txs)),
                false,
            )
            .await?;
        Self::decode(Method::POST, &path, status, &bytes, &[StatusCode::OK])
    }

    /// Submits up to 10,000 txs, admitted in order (`POST /v1/txs/batch`); with
    /// [`Wait::ForCommit`] the node waits up to its batch timeout for them to commit.
    pub async fn submit_batch(&self, txs: &[SignedTx], wait: Wait) -> Result<BatchView> {
        let path = format!("/v1/txs/batch{}", wait.query());
        let (status, bytes) = self.post_json(&path, txs).await?;
        Self::decode(Method::POST, &path, status, &bytes, &[StatusCode::OK])
    }

    /// Runs every check of a signed tx as the next block would, writing nothing
    /// (`POST /v1/validate`). A tx that would be rejected answers `Ok` with the reason in
    /// [`ValidateView::error`].
    pub async fn validate(&self, tx: &SignedTx) -> Result<ValidateView> {
        let path = "/v1/validate";
        let (status, bytes) = self.post_json(path, tx).await?;
        let answered = [
            StatusCode::OK,
            StatusCode::CONFLICT,
            StatusCode::UNPROCESSABLE_ENTITY,
        ];
        if answered.contains(&status)
            && let Ok(view) = serde_json::from_slice::<ValidateView>(&bytes)
        {
            return Ok(view);
        }
        Self::decode(Method::POST, path, status, &bytes, &[])
    }

    // ---- signed reads ---------------------------------------------------------------------

    /// A tx's status, result and proofs (`GET /v1/txs/{id}`, signed).
    pub async fn tx(&self, id: &TxId) -> Result<TxDetail> {
        self.get(&format!("/v1/txs/{id}"), true).await
    }

    /// Polls [`NodeClient::tx`] until the tx is no longer pending, for at most `timeout`.
    pub async fn wait_for_tx(&self, id: &TxId, timeout: Duration) -> Result<TxDetail> {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            match self.tx(id).await {
                Ok(detail) if detail.view.status != TxStatus::Pending => return Ok(detail),
                Ok(_) => {}
                // Not admitted on this node (yet): keep asking until the deadline.
                Err(NodeClientError::Api { status: 404, .. }) if started.elapsed() < timeout => {}
                Err(e) => return Err(e),
            }
            if started.elapsed() >= timeout {
                return Err(NodeClientError::StillPending {
                    tx_id: *id,
                    waited: timeout,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    /// A pool with its state proof (`GET /v1/pools/{id}`, signed), at the latest height or
    /// at `height`.
    pub async fn pool(&self, id: &PoolId, height: Option<u64>) -> Result<PoolView> {
        let read = KeyedRead::new(StateKey::Pool(id.clone()), format!("pool {id}"), height);
        self.get_keyed(
            &format!("/v1/pools/{id}{}", height_query(height)),
            true,
            read,
        )
        .await
    }

    /// The pools of `org` the reader may see (`GET /v1/orgs/{org}/pools`, signed).
    pub async fn org_pools(&self, org: &OrgId) -> Result<OrgPoolsView> {
        self.get(&format!("/v1/orgs/{org}/pools"), true).await
    }

    /// The redemptions made at a store of an org, oldest first
    /// (`GET /v1/orgs/{org}/stores/{store}/redemptions`, signed; the org's keys and auditors).
    pub async fn store_redemptions(
        &self,
        org: &OrgId,
        store: &StoreId,
    ) -> Result<StoreRedemptionsView> {
        self.get(&format!("/v1/orgs/{org}/stores/{store}/redemptions"), true)
            .await
    }

    /// A token with its state proof (`GET /v1/tokens/{pool}/{serial}`, signed).
    pub async fn token(&self, id: &TokenId, height: Option<u64>) -> Result<TokenView> {
        let read = KeyedRead::new(StateKey::Token(id.clone()), format!("token {id}"), height);
        self.get_keyed(
            &format!(
                "/v1/tokens/{}/{}{}",
                id.pool,
                id.serial,
                height_query(height)
            ),
            true,
            read,
        )
        .await
    }

    /// Every tx that touched a token, with history-log proofs
    /// (`GET /v1/tokens/{pool}/{serial}/history`, signed).
    pub async fn token_history(&self, id: &TokenId) -> Result<TokenHistoryView> {
        self.get(
            &format!("/v1/tokens/{}/{}/history", id.pool, id.serial),
            true,
        )
        .await
    }

    /// The pool and token a code hash points at, with proofs
    /// (`GET /v1/codes/{code_hash}/token`, signed).
    pub async fn code_token(&self, code_hash: &CodeHash, height: Option<u64>) -> Result<CodeView> {
        let read = KeyedRead::new(
            StateKey::Code(*code_hash),
            format!("code {code_hash}"),
            height,
        );
        self.get_keyed(
            &format!("/v1/codes/{code_hash}/token{}", height_query(height)),
            true,
            read,
        )
        .await
    }

    /// The tokens a member owns in pools the reader may see
    /// (`GET /v1/members/{member}/wallet`, signed).
    pub async fn wallet(&self, member: &MemberId) -> Result<WalletView> {
        self.get(&format!("/v1/members/{member}/wallet"), true)
            .await
    }

    /// An org's loyalty program with its state proof (`GET /v1/programs/{org}`, signed).
    pub async fn program(&self, org: &OrgId, height: Option<u64>) -> Result<ProgramView> {
        let read = KeyedRead::new(
            StateKey::Program(org.clone()),
            format!("{org}'s loyalty program"),
            height,
        );
        let path = format!("/v1/programs/{org}{}", height_query(height));
        self.get_keyed(&path, true, read).await
    }

    /// A member's balances in `org`'s program with the account's proof
    /// (`GET /v1/programs/{org}/members/{member}`, signed).
    pub async fn balance(
        &self,
        org: &OrgId,
        member: &MemberId,
        height: Option<u64>,
    ) -> Result<BalanceView> {
        let read = KeyedRead::new(
            StateKey::Account(org.clone(), *member),
            format!("member {member} in {org}'s program"),
            height,
        );
        let path = format!(
            "/v1/programs/{org}/members/{member}{}",
            height_query(height)
        );
        self.get_keyed(&path, true, read).await
    }

    /// What `org`'s program owes its members per segment
    /// (`GET /v1/programs/{org}/liability`, signed).
    pub async fn liability(&self, org: &OrgId, height: Option<u64>) -> Result<LiabilityView> {
        let read = KeyedRead::new(
            StateKey::Liability(org.clone()),
            format!("{org}'s liability"),
            height,
        );
        let path = format!("/v1/programs/{org}/liability{}", height_query(height));
        self.get_keyed(&path, true, read).await
    }

    /// What `partner` and `org`'s program owe each other
    /// (`GET /v1/programs/{org}/settlements/{partner}`, signed).
    pub async fn settlement(
        &self,
        org: &OrgId,
        partner: &OrgId,
        height: Option<u64>,
    ) -> Result<SettlementView> {
        let read = KeyedRead::new(
            StateKey::Settlement(org.clone(), partner.clone()),
            format!("the settlement of {partner} with {org}"),
            height,
        );
        let path = format!(
            "/v1/programs/{org}/settlements/{partner}{}",
            height_query(height)
        );
        self.get_keyed(&path, true, read).await
    }

    /// An org's holds in force (`GET /v1/holds[?org=]`, signed; default the reader's org,
    /// another org for auditors only). Unproven: prove one with [`Self::hold`].
    pub async fn holds(&self, org: Option<&OrgId>) -> Result<HoldsView> {
        let query = org.map(|o| format!("?org={o}")).unwrap_or_default();
        self.get(&format!("/v1/holds{query}"), true).await
    }

    /// The coupon advisor's answer (`GET /v1/advice?…`, signed): read as JSON, its types
    /// are the node's.
    pub async fn advice(&self, query: &str) -> Result<serde_json::Value> {
        self.get(&format!("/v1/advice?{query}"), true).await
    }

    /// `org`'s hold on `target` (or none) with its state proof
    /// (`GET /v1/holds/{kind}/{id}?org=`, signed).
    pub async fn hold(
        &self,
        org: &OrgId,
        target: &HoldTarget,
        height: Option<u64>,
    ) -> Result<HoldView> {
        let read = KeyedRead::new(
            StateKey::Hold(org.clone(), target.clone()),
            format!("{org}'s hold on {target}"),
            height,
        );
        let id = match target {
            HoldTarget::Member(m) => m.to_hex(),
            HoldTarget::Terminal(k) => k.to_hex(),
            HoldTarget::Code(h) => h.to_hex(),
        };
        let height = height.map(|h| format!("&height={h}")).unwrap_or_default();
        let path = format!("/v1/holds/{}/{id}?org={org}{height}", target.kind_name());
        self.get_keyed(&path, true, read).await
    }

    // ---- public reads ---------------------------------------------------------------------

    /// A block with its results (`GET /v1/blocks/{height}`).
    pub async fn block(&self, height: u64) -> Result<BlockView> {
        self.get(&format!("/v1/blocks/{height}"), self.signs())
            .await
    }

    /// The latest block (`GET /v1/blocks/latest`; 404 `not_found` at genesis).
    pub async fn latest_block(&self) -> Result<BlockView> {
        self.get("/v1/blocks/latest", self.signs()).await
    }

    /// Up to `limit` consecutive blocks from `from`, each with its results and certificate
    /// (`GET /v1/blocks?from=&limit=`, as JSON; the node caps a page at 1,000 blocks or
    /// 8 MiB).
    pub async fn block_range(&self, from: u64, limit: Option<u64>) -> Result<BlockRangeView> {
        let limit = limit.map(|l| format!("&limit={l}")).unwrap_or_default();
        let path = format!("/v1/blocks?from={from}{limit}");
        let (status, bytes) = self
            .request_with(
                Method::GET,
                &path,
                None,
                self.signs(),
                Some("application/json"),
            )
            .await?;
        Self::decode(Method::GET, &path, status, &bytes, &[StatusCode::OK])
    }

    /// The consortium (orgs, nodes, voters) at `height` (default: the latest) with its state
    /// proof (`GET /v1/consortium`).
    pub async fn consortium(&self, height: Option<u64>) -> Result<ConsortiumView> {
        self.get(&format!("/v1/consortium{}", height_query(height)), false)
            .await
    }

    /// The highest certified block: certificate and header (`GET /v1/checkpoints/latest`).
    pub async fn latest_checkpoint(&self) -> Result<CheckpointView> {
        self.get("/v1/checkpoints/latest", false).await
    }

    /// An RFC 9162 consistency proof between log sizes `from` and `to` (default: the
    /// current size) (`GET /v1/log/consistency`).
    pub async fn log_consistency(&self, from: u64, to: Option<u64>) -> Result<ConsistencyView> {
        let to = to.map(|t| format!("&to={t}")).unwrap_or_default();
        self.get(&format!("/v1/log/consistency?from={from}{to}"), false)
            .await
    }

    /// History-log entries `from..to` with their txs, at most 1,000 per call
    /// (`GET /v1/log/entries`; `next` says where the following page starts).
    pub async fn log_entries(&self, from: u64, to: Option<u64>) -> Result<LogEntriesView> {
        let to = to.map(|t| format!("&to={t}")).unwrap_or_default();
        self.get(&format!("/v1/log/entries?from={from}{to}"), self.signs())
            .await
    }

    /// A page of ledger events after a cursor (`GET /v1/events`, a signed read).
    pub async fn events(&self, query: &EventsQuery) -> Result<EventsPage> {
        self.get(&query.path(), true).await
    }

    /// One event with its history-log proof (`GET /v1/events/{id}`, a signed read); check
    /// it with [`crate::verify::ProofVerifier::event`].
    pub async fn event(&self, id: EventId) -> Result<crate::views::EventProof> {
        self.get(&format!("/v1/events/{id}"), true).await
    }

    /// The node's status (`GET /v1/status`).
    pub async fn status(&self) -> Result<Status> {
        self.get("/v1/status", false).await
    }

    /// Liveness (`GET /healthz`).
    pub async fn health(&self) -> Result<Health> {
        self.get("/healthz", false).await
    }

    /// Prometheus metrics, as text (`GET /metrics`).
    pub async fn metrics(&self) -> Result<String> {
        let (status, bytes) = self.request(Method::GET, "/metrics", None, false).await?;
        if status != StatusCode::OK {
            return Err(Self::error_of(Method::GET, "/metrics", status, &bytes));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The OpenAPI document (`GET /openapi.json`).
    pub async fn openapi(&self) -> Result<serde_json::Value> {
        self.get("/openapi.json", false).await
    }
}

/// An HTTP client for many concurrent requests to a few nodes (load generators, busy
/// back offices): keeps up to `connections` idle connections per node so that `connections`
/// requests in flight never wait for a new TCP connection, and sends small requests at once
/// (`TCP_NODELAY`). Share it between the [`NodeClient`]s of several nodes with
/// [`NodeClient::with_http_client`].
pub fn load_http_client(
    connections: usize,
    timeout: Duration,
) -> std::result::Result<reqwest::Client, NodeClientError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(connections.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .map_err(NodeClientError::Setup)
}

fn height_query(height: Option<u64>) -> String {
    height.map(|h| format!("?height={h}")).unwrap_or_default()
}

/// What a keyed read asks for: the state key, how people call it, and the height asked.
struct KeyedRead {
    key: StateKey,
    what: String,
    height: Option<u64>,
}

impl KeyedRead {
    fn new(key: StateKey, what: String, height: Option<u64>) -> KeyedRead {
        KeyedRead { key, what, height }
    }
}

/// An answer of a keyed read, by the state key it answers for.
trait Keyed {
    fn state_key(&self) -> StateKey;

    /// Checks the answer's own proofs beyond the key (views that carry several).
    fn check_proofs(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl Keyed for ProgramView {
    fn state_key(&self) -> StateKey {
        StateKey::Program(self.program.org.clone())
    }
}

impl Keyed for BalanceView {
    fn state_key(&self) -> StateKey {
        StateKey::Account(self.program.clone(), self.member)
    }
}

impl Keyed for LiabilityView {
    fn state_key(&self) -> StateKey {
        StateKey::Liability(self.program.clone())
    }
}

impl Keyed for SettlementView {
    fn state_key(&self) -> StateKey {
        StateKey::Settlement(self.program.clone(), self.partner.clone())
    }
}

impl Keyed for HoldView {
    fn state_key(&self) -> StateKey {
        StateKey::Hold(self.org.clone(), self.target.clone())
    }
}

impl Keyed for PoolView {
    fn state_key(&self) -> StateKey {
        StateKey::Pool(self.pool.id.clone())
    }
}

impl Keyed for TokenView {
    fn state_key(&self) -> StateKey {
        StateKey::Token(self.token_id.clone())
    }
}

impl Keyed for CodeView {
    fn state_key(&self) -> StateKey {
        StateKey::Code(self.code_hash)
    }
}

impl Keyed for KeyView {
    fn state_key(&self) -> StateKey {
        StateKey::Key(self.key)
    }
}

impl Keyed for TokenRedemptionView {
    fn state_key(&self) -> StateKey {
        StateKey::Token(self.token_id.clone())
    }

    fn check_proofs(&self) -> std::result::Result<(), String> {
        TokenRedemptionView::check_proofs(self)
    }
}

// ---- ids typed shortened, the key registry, redemptions in force (issue 13) -------------

impl NodeClient {
    /// The one committed tx id that starts with `prefix` (8 to 64 hex digits)
    /// (`GET /v1/txs/prefix/{prefix}`). Several: [`NodeClientError::Api`] `ambiguous_id`
    /// (HTTP 409) naming them; none: `not_found`. [`crate::id_prefix`] resolves what a
    /// person typed.
    pub async fn tx_id_by_prefix(&self, prefix: &str) -> Result<crate::views::IdMatch> {
        self.get(&format!("/v1/txs/prefix/{prefix}"), self.signs())
            .await
    }

    /// The one registered (or revoked) key that starts with `prefix`
    /// (`GET /v1/keys/prefix/{prefix}`); answers as [`NodeClient::tx_id_by_prefix`].
    pub async fn key_by_prefix(&self, prefix: &str) -> Result<crate::views::IdMatch> {
        self.get(&format!("/v1/keys/prefix/{prefix}"), self.signs())
            .await
    }

    /// A key's registration (org, role, store and channel, revocation) with its state
    /// proof, at the latest height or at `height` (`GET /v1/keys/{key}`, public).
    pub async fn key(&self, key: &PublicKey, height: Option<u64>) -> Result<KeyView> {
        let read = KeyedRead::new(StateKey::Key(*key), format!("key {key}"), height);
        self.get_keyed(
            &format!("/v1/keys/{key}{}", height_query(height)),
            self.signs(),
            read,
        )
        .await
    }

    /// A token's status and its redemption in force
    /// (`GET /v1/tokens/{pool}/{serial}/redemption`, signed).
    pub async fn token_redemption(&self, id: &TokenId) -> Result<TokenRedemptionView> {
        let read = KeyedRead::new(StateKey::Token(id.clone()), format!("token {id}"), None);
        self.get_keyed(
            &format!("/v1/tokens/{}/{}/redemption", id.pool, id.serial),
            true,
            read,
        )
        .await
    }

    /// The token of a unique code, its status and its redemption in force
    /// (`GET /v1/codes/{code_hash}/redemption`, signed; a shared code answers 400).
    pub async fn code_redemption(&self, code_hash: &CodeHash) -> Result<TokenRedemptionView> {
        // Present, the answer names the code's token (not the code): its key is not checked.
        let read = KeyedRead::new(
            StateKey::Code(*code_hash),
            format!("code {code_hash}"),
            None,
        );
        let path = format!("/v1/codes/{code_hash}/redemption");
        let (status, bytes) = self.request(Method::GET, &path, None, true).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(Self::absence_of(Method::GET, &path, &bytes, &read));
        }
        let view: TokenRedemptionView =
            Self::decode(Method::GET, &path, status, &bytes, &[StatusCode::OK])?;
        view.check_proofs()
            .map_err(|why| NodeClientError::UnexpectedResponse {
                method: Method::GET,
                path,
                status: status.as_u16(),
                why,
            })?;
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_are_normalised_and_checked() {
        assert_eq!(
            normalize_node_url("127.0.0.1:7101").unwrap(),
            "http://127.0.0.1:7101"
        );
        assert_eq!(
            normalize_node_url(" http://node-a:7101/ ").unwrap(),
            "http://node-a:7101"
        );
        assert!(normalize_node_url("ftp://x").is_err());
        assert!(normalize_node_url("http://x:7101/?a=1").is_err());
        assert!(normalize_node_url("http://").is_err());
    }

    #[test]
    fn committed_rejections_are_views_and_refusals_are_api_errors() {
        let rejected = br#"{"tx_id":"0000000000000000000000000000000000000000000000000000000000000000",
            "status":"rejected","height":7,"index":0,"log_index":12,
            "result":{"status":"rejected","rejection":{"reason":"already_redeemed","message":"token spring/0 was redeemed"}},
            "error":{"code":"already_redeemed","message":"token spring/0 was redeemed"}}"#;
        let view = NodeClient::tx_view(
            Method::POST,
            "/v1/txs",
            StatusCode::UNPROCESSABLE_ENTITY,
            rejected,
        )
        .unwrap();
        assert_eq!(view.status, TxStatus::Rejected);
        assert_eq!(view.error_code(), Some("already_redeemed"));
        assert_eq!(view.height, Some(7));

        let refused = br#"{"error":{"code":"unknown_key","message":"key ab is not registered"}}"#;
        let err = NodeClient::tx_view(Method::POST, "/v1/txs", StatusCode::UNAUTHORIZED, refused)
            .unwrap_err();
        assert_eq!(err.api_code(), Some("unknown_key"));
        assert_eq!(err.http_status(), Some(401));

        let garbage = NodeClient::tx_view(
            Method::POST,
            "/v1/txs",
            StatusCode::BAD_GATEWAY,
            b"<html>proxy error</html>",
        )
        .unwrap_err();
        assert!(matches!(
            garbage,
            NodeClientError::UnexpectedResponse { status: 502, .. }
        ));
    }

    #[test]
    fn signed_reads_need_a_reader_key() {
        let client = NodeClient::new("127.0.0.1:1", ChainId::new("c").unwrap()).unwrap();
        assert_eq!(client.reader_key(), None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime
            .block_on(client.wallet(&MemberId([1; 32])))
            .unwrap_err();
        assert!(matches!(err, NodeClientError::NoReaderKey { .. }), "{err}");
        let key = SigningKey::from_bytes(&[3; 32]);
        let reader = client.with_reader(key.clone());
        assert_eq!(
            reader.reader_key(),
            Some(PublicKey(key.verifying_key().to_bytes()))
        );
        // Nothing listens on port 1: a clear "cannot reach".
        let err = runtime.block_on(reader.status()).unwrap_err();
        assert!(matches!(err, NodeClientError::Unreachable { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot reach node at http://127.0.0.1:1")
        );
    }

    // ---- several nodes: failover ----------------------------------------------------------

    use std::io::{Read, Write};
    use std::sync::Mutex;

    /// What a stand-in node received: (request line, body).
    type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// A stand-in node on 127.0.0.1 answering its requests, one connection each, with
    /// `answers` in turn: `Some((status, json))`, or `None` to hang up without answering.
    fn mock_node(answers: Vec<Option<(u16, &'static str)>>) -> (String, Seen) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for (answer, stream) in answers.into_iter().zip(listener.incoming()) {
                let mut stream = stream.unwrap();
                log.lock().unwrap().push(read_request(&mut stream));
                if let Some((status, json)) = answer {
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        json.len()
                    );
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(json.as_bytes()).unwrap();
                }
            }
        });
        (url, seen)
    }

    fn read_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let l = l.to_ascii_lowercase();
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    let n = stream.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let line = head.lines().next().unwrap_or_default().to_string();
                return (line, buf[end + 4..end + 4 + len].to_vec());
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the client hung up mid-request");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A URL where nothing listens (a port just freed).
    fn dead_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }

    const APPLIED: &str = r#"{"tx_id":"0101010101010101010101010101010101010101010101010101010101010101","status":"applied","height":5}"#;
    const BUSY: &str = r#"{"error":{"code":"mempool_full","message":"the mempool is full"}}"#;
    const UNKNOWN_KEY: &str =
        r#"{"error":{"code":"unknown_key","message":"key ab is not registered"}}"#;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn chain() -> ChainId {
        ChainId::new("c").unwrap()
    }

    #[test]
    fn node_lists_are_comma_separated_and_checked() {
        assert_eq!(
            normalize_node_urls(" 127.0.0.1:1, http://b:2/,,127.0.0.1:1").unwrap(),
            vec!["http://127.0.0.1:1".to_string(), "http://b:2".to_string()]
        );
        assert!(normalize_node_urls("").is_err());
        assert!(normalize_node_urls(" , ").is_err());
        assert!(normalize_node_urls("127.0.0.1:1,ftp://x").is_err());
        let client = NodeClient::with_nodes(&["a:1", "b:2"], chain()).unwrap();
        assert_eq!(client.node_urls(), ["http://a:1", "http://b:2"]);
        assert_eq!(client.base_url(), "http://a:1");
    }

    #[test]
    fn a_dead_node_first_and_a_live_one_second_succeeds() {
        let dead = dead_url();
        let (live, seen) = mock_node(vec![Some((200, APPLIED)), Some((200, APPLIED))]);
        let client = NodeClient::with_nodes(&[dead.as_str(), live.as_str()], chain()).unwrap();
        let view = block_on(client.submit_encoded(b"signed tx".to_vec(), Wait::ForCommit)).unwrap();
        assert_eq!(view.status, TxStatus::Applied);
        assert_eq!(view.height, Some(5));
        // The live node answers next without the dead one being asked first.
        assert_eq!(client.base_url(), live);
        let again = client.clone();
        block_on(again.submit_encoded(b"signed tx".to_vec(), Wait::ForCommit)).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "POST /v1/txs HTTP/1.1");
        assert_eq!(seen[0].1, b"signed tx");
    }

    #[test]
    fn busy_or_broken_nodes_pass_the_same_bytes_on() {
        // 503 from the first, a hang-up from the second, the third applies: all three got
        // exactly the same signed bytes (never re-signed, so at most one tx).
        let (busy, busy_seen) = mock_node(vec![Some((503, BUSY))]);
        let (broken, broken_seen) = mock_node(vec![None]);
        let (good, good_seen) = mock_node(vec![Some((200, APPLIED))]);
        let client = NodeClient::with_nodes(&[&busy, &broken, &good], chain()).unwrap();
        let tx = vec![7u8; 300];
        let view = block_on(client.submit_encoded(tx.clone(), Wait::ForCommit)).unwrap();
        assert_eq!(view.status, TxStatus::Applied);
        for seen in [&busy_seen, &broken_seen, &good_seen] {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].1, tx);
        }
    }

    #[test]
    fn a_refusal_is_an_answer_and_is_not_retried_elsewhere() {
        let (first, _) = mock_node(vec![Some((401, UNKNOWN_KEY))]);
        let (second, second_seen) = mock_node(vec![Some((200, APPLIED))]);
        let client = NodeClient::with_nodes(&[&first, &second], chain()).unwrap();
        let err = block_on(client.submit_encoded(vec![1], Wait::ForCommit)).unwrap_err();
        assert_eq!(err.api_code(), Some("unknown_key"));
        assert!(second_seen.lock().unwrap().is_empty());
    }

    #[test]
    fn every_node_failing_gives_the_last_answer_or_unreachable_naming_all() {
        let (a, b) = (dead_url(), dead_url());
        let client = NodeClient::with_nodes(&[&a, &b], chain()).unwrap();
        let err = block_on(client.health()).unwrap_err();
        let NodeClientError::Unreachable { url, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*url, format!("{a}, {b}"));
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach any node ({a}, {b}): ")),
            "{err}"
        );
        // A busy node among dead ones: its answer is the error.
        let (busy, _) = mock_node(vec![Some((503, BUSY))]);
        let client = NodeClient::with_nodes(&[&a, &busy, &b], chain()).unwrap();
        let err = block_on(client.submit_encoded(vec![1], Wait::ForCommit)).unwrap_err();
        assert_eq!(err.api_code(), Some("mempool_full"));
        assert_eq!(err.http_status(), Some(503));
    }

    // ---- keyed reads: a "not found" is believed only when proven (issue 14) ---------------

    /// The body of a node's 404 for a read of `key` at height 1 of a one-block testkit
    /// chain: the error, `at`, and the key's proof (value null), as the API sends it.
    fn absent_answer(key: &StateKey) -> serde_json::Value {
        use couponcactus_chaincode::commitment::prove;
        use couponcactus_chaincode::ids::Hash32;
        use couponcactus_chaincode::ledger::Ledger;
        let genesis = couponcactus_chaincode::testkit::genesis();
        let mut ledger = Ledger::from_genesis(&genesis, Hash32([0; 32])).unwrap();
        let block = ledger
            .propose(1, genesis.genesis_time_ms + 1_000, vec![])
            .unwrap();
        let proof = prove(&ledger.tree, key, 1).unwrap();
        assert_eq!(proof.value, None);
        assert!(
            !proof.proof.siblings.is_empty(),
            "a proof with siblings to tamper with"
        );
        serde_json::json!({
            "error": {"code": "not_found", "message": "not here"},
            "at": {"height": 1, "state_root": block.header.state_root, "header": block.header},
            "proof": proof,
        })
    }

    /// What `read` makes of a node answering 404 with `body`.
    fn read_absent<T: std::fmt::Debug>(
        body: serde_json::Value,
        read: impl AsyncFnOnce(&NodeClient) -> Result<T>,
    ) -> NodeClientError {
        let json: &'static str = Box::leak(body.to_string().into_boxed_str());
        let (url, _) = mock_node(vec![Some((404, json))]);
        let client = NodeClient::new(&url, chain())
            .unwrap()
            .with_reader(SigningKey::from_bytes(&[3; 32]));
        block_on(read(&client)).unwrap_err()
    }

    fn spring(serial: u64) -> TokenId {
        TokenId {
            pool: "spring".parse().unwrap(),
            serial,
        }
    }

    #[test]
    fn a_proven_absence_is_a_verified_not_found() {
        let key = StateKey::Token(spring(7));
        let err = read_absent(absent_answer(&key), async |c| {
            c.token(&spring(7), None).await
        });
        let absence = err.absence().unwrap_or_else(|| panic!("{err}"));
        assert_eq!((absence.key(), absence.height()), (&key, 1));
        assert_eq!(
            (err.api_code(), err.http_status()),
            (Some("not_found"), Some(404))
        );
        assert!(
            err.to_string().contains("proven absent at height 1"),
            "{err}"
        );
        // At the height asked, too.
        let err = read_absent(absent_answer(&key), async |c| {
            c.token(&spring(7), Some(1)).await
        });
        assert!(err.absence().is_some(), "{err}");
        // Every keyed read: pools, codes, keys, redemptions in force.
        let pool: PoolId = "spring".parse().unwrap();
        let pool_key = StateKey::Pool(pool.clone());
        let err = read_absent(absent_answer(&pool_key), async |c| {
            c.pool(&pool, None).await
        });
        assert_eq!(err.absence().map(|a| a.key()), Some(&pool_key), "{err}");
        let code = CodeHash([9; 32]);
        let code_key = StateKey::Code(code);
        let err = read_absent(absent_answer(&code_key), async |c| {
            c.code_token(&code, None).await
        });
        assert_eq!(err.absence().map(|a| a.key()), Some(&code_key), "{err}");
        let err = read_absent(absent_answer(&code_key), async |c| {
            c.code_redemption(&code).await
        });
        assert_eq!(err.absence().map(|a| a.key()), Some(&code_key), "{err}");
        let err = read_absent(absent_answer(&key), async |c| {
            c.token_redemption(&spring(7)).await
        });
        assert_eq!(err.absence().map(|a| a.key()), Some(&key), "{err}");
        let public = PublicKey([7; 32]);
        let key_key = StateKey::Key(public);
        let err = read_absent(absent_answer(&key_key), async |c| {
            c.key(&public, None).await
        });
        assert_eq!(err.absence().map(|a| a.key()), Some(&key_key), "{err}");
    }

    #[track_caller]
    fn assert_unproven(err: NodeClientError, why: &str) {
        assert!(
            matches!(err, NodeClientError::UnprovenAbsence { .. }),
            "{why}: {err}"
        );
        assert_eq!(err.absence(), None);
        assert_eq!(err.api_code(), None, "{why}: not believed, so no not_found");
        assert!(
            err.to_string()
                .contains("did not prove that token spring/7 is absent"),
            "{why}: {err}"
        );
    }

    #[test]
    fn a_not_found_without_a_valid_proof_of_the_key_asked_is_refused() {
        let key = StateKey::Token(spring(7));
        let token = async |c: &NodeClient| c.token(&spring(7), None).await;
        // No proof at all: the plain error shape, or no JSON.
        let plain = serde_json::json!({"error": {"code": "not_found", "message": "no token"}});
        assert_unproven(read_absent(plain, token), "no proof");
        assert_unproven(read_absent(serde_json::json!("gone"), token), "not JSON");
        // A sibling flipped.
        let mut flipped = absent_answer(&key);
        let first = flipped["proof"]["proof"]["siblings"][0]
            .as_str()
            .unwrap()
            .to_string();
        let changed = if first.starts_with('0') { "1" } else { "0" };
        flipped["proof"]["proof"]["siblings"][0] = format!("{changed}{}", &first[1..]).into();
        assert_unproven(read_absent(flipped, token), "a sibling flipped");
        // The (valid) proof of another key: token 8, or the pool.
        let other = absent_answer(&StateKey::Token(spring(8)));
        assert_unproven(read_absent(other, token), "another token's proof");
        let pool = absent_answer(&StateKey::Pool("spring".parse().unwrap()));
        assert_unproven(read_absent(pool, token), "the pool's proof");
        // A root that is not the header's.
        let mut root = absent_answer(&key);
        root["at"]["state_root"] = serde_json::json!("00".repeat(32));
        assert_unproven(read_absent(root, token), "another root");
        // Asked at height 2, answered at height 1.
        let at_two = async |c: &NodeClient| c.token(&spring(7), Some(2)).await;
        assert_unproven(read_absent(absent_answer(&key), at_two), "another height");
        // Another error code on a 404.
        let mut code = absent_answer(&key);
        code["error"]["code"] = "gone".into();
        assert_unproven(read_absent(code, token), "another code");
    }
}
