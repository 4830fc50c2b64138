//! The HTTP API of a node (axum): signed txs in, proven reads out.
//!
//! Everything lives under `/v1` and speaks JSON, byte ids as lowercase hex; the OpenAPI
//! document at `/openapi.json` is the reference and `docs/api.md` the short guide.
//!
//! - **Writes** are signed txs: `POST /v1/txs` (one, JSON or canonical bincode with
//!   `Content-Type: application/octet-stream`), `POST /v1/txs/batch` (up to
//!   [`MAX_BATCH_TXS`]), `POST /v1/validate` (a dry run that writes nothing). A submission
//!   waits until its block is applied unless `?wait=false`; resubmitting a tx id answers
//!   with the original result.
//! - **Non-public reads** (pools, tokens, codes, wallets, token history, tx details, loyalty
//!   balances, an org's fraud holds: [`holds`]) are signed requests ([`auth`]): the
//!   caller's registered key signs
//!   [`read_signing_message`](couponcactus_chaincode::tx::read_signing_message) and its role
//!   decides what it sees. Token and pool reads carry a state proof and the block header it
//!   verifies against; tx and history reads carry history-log inclusion proofs.
//! - **Reads with an optional signature** (blocks, log entries, the key registry, and
//!   resolving a hex prefix of a tx id or key, [`lookup`]) answer anyone with headers,
//!   certificates and governance txs, and show other txs and key records only to the keys
//!   that may read them ([`visibility`]: the confidentiality model); withheld txs appear as
//!   leaf hashes, so the roots stay checkable. Checkpoints, the consortium, log consistency
//!   and status are public.
//! - **The member directory** ([`directory`]): an org's personal data about its members on
//!   its own node (org admins and issuers of the node's org; signed POST bodies).
//! - `/healthz`, `/metrics` (Prometheus) and `/openapi.json`. `/v1` stays backward
//!   compatible: [`compat`] compares the document with the committed baseline
//!   `docs/openapi/v1.json`, and [`deprecation`] announces operations to be retired.
//! - The node's compliance routes: `GET /v1/access-log` ([`crate::access_log`]) and
//!   `/v1/retention…` ([`crate::retention`]).
//!
//! Every error is `{"error":{"code":"…","message":"…"}}` ([`ApiError`]); a tx the chain
//! rejected answers 422 with the rejection code and the tx's place in its block.
//!
//! [`serve`] takes its listener and a shutdown future, so tests and `cactusd` bind the
//! address themselves (port 0 in tests).

mod advice;
mod auth;
mod balances;
mod chain;
pub mod compat;
mod consent;
pub mod deprecation;
pub mod directory;
mod error;
mod events;
mod extract;
mod holds;
mod limits;
mod lookup;
mod reads;
mod redemptions;
mod server;
mod txs;
mod visibility;

#[cfg(test)]
mod tests;

pub use auth::{KEY_HEADER, MAX_CLOCK_SKEW_MS, Reader, SIGNATURE_HEADER, TIME_HEADER};
pub use chain::{BLOCK_RANGE_BYTES, BlockRecord, MAX_BLOCK_RANGE};
pub use error::{ApiError, ErrorBody, ErrorResponse};
pub use events::{EventProofView, MAX_EVENTS_WAIT_SECS};
pub use lookup::MIN_PREFIX_HEX;
pub use server::{
    HttpLimits, LISTEN_BACKLOG, OTHER_FDS, OVERFLOW_CONNECTIONS, ensure_fd_limit, listen,
};

use crate::node::NodeHandle;
use auth::SecurityAddon;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

/// Most txs in one `POST /v1/txs/batch`.
pub const MAX_BATCH_TXS: usize = 10_000;
/// Most history-log entries one `GET /v1/log/entries` returns.
pub const MAX_LOG_ENTRIES: u64 = 1_000;

/// Limits of the HTTP API.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Largest body of `POST /v1/txs` and `POST /v1/validate`, bytes.
    pub max_tx_body: usize,
    /// Largest body of `POST /v1/txs/batch`, bytes.
    pub max_batch_body: usize,
    /// Longest any request may take; answered 504 after it. Keep it above the node's
    /// commit timeout, so a waiting submission gets the node's own answer.
    pub request_timeout: Duration,
    /// How long a waiting batch waits for its txs to commit; txs not committed by then are
    /// reported `pending`.
    pub batch_commit_timeout: Duration,
    /// Connection and request-head limits of the server (`[http]` in the config file).
    pub http: HttpLimits,
    /// The analytics store `GET /v1/analytics/…` reads (`None`: those routes answer 404).
    pub analytics: Option<Arc<crate::analytics::Analytics>>,
    /// The webhook service behind `/v1/webhooks` (empty: those routes answer 503
    /// `webhooks_off`; cactusd fills it once the node knows its org).
    pub webhooks: crate::webhooks::WebhookSlot,
    /// The merchant console served under `/console` (`None`: not served).
    /// Its slot is empty until the node knows its org.
    pub console: Option<crate::console::ConsoleSlot>,
    /// The operator's language model `GET /v1/advice` asks to reword its proposals
    /// (`[advisor.model]`; `None`: the deterministic advisor answers alone).
    pub advisor_model: Option<crate::intelligence::llm::ModelConfig>,
    /// The member directory behind `/v1/directory` (`None`: those routes answer 503
    /// `directory_off`).
    pub directory: Option<Arc<crate::directory::Directory>>,
    /// The access log every API and console request is written to
    /// ([`crate::access_log`]; `None`: none kept, `GET /v1/access-log` answers 404).
    pub access_log: Option<crate::access_log::AccessLog>,
    /// The retention service behind `/v1/retention` ([`crate::retention`]; `None`: those
    /// routes answer 404).
    pub retention: Option<Arc<crate::retention::Retention>>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            max_tx_body: 8 * 1024 * 1024,
            max_batch_body: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            batch_commit_timeout: Duration::from_secs(30),
            http: HttpLimits::default(),
            analytics: None,
            webhooks: crate::webhooks::WebhookSlot::default(),
            console: None,
            advisor_model: None,
            directory: None,
            access_log: None,
            retention: None,
        }
    }
}

/// What every handler gets.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) node: NodeHandle,
    pub(crate) metrics: PrometheusHandle,
    pub(crate) options: Arc<ApiOptions>,
}

/// The API's router with default [`ApiOptions`].
pub fn router(node: NodeHandle, metrics: PrometheusHandle) -> Router {
    router_with(node, metrics, ApiOptions::default())
}

/// The API's router.
pub fn router_with(node: NodeHandle, metrics: PrometheusHandle, options: ApiOptions) -> Router {
    let tx_limit = options.max_tx_body;
    let batch_limit = options.max_batch_body;
    let timeout = options.request_timeout;
    let http = options.http.clone();
    let console = options.console.clone();
    let access_log = options.access_log.clone();
    let state = AppState {
        node,
        metrics,
        options: Arc::new(options),
    };
    // Bodies are read whole, within their route's limit and the read timeout, by
    // `limits::read_body` (axum's own limit is off): 413 `oversize` after a bounded drain,
    // 408 `request_timeout`.
    let limited = |router: Router<AppState>, limit: usize| {
        let policy = limits::BodyLimit::new(limit, &http);
        router
            .layer(middleware::from_fn_with_state(policy, limits::read_body))
            .layer(DefaultBodyLimit::disable())
    };
    let writes = Router::new()
        .route("/v1/txs", post(txs::submit))
        .route("/v1/validate", post(txs::validate));
    let batches = Router::new().route("/v1/txs/batch", post(txs::submit_batch));
    let api = Router::new()
        .merge(limited(writes, tx_limit))
        .merge(limited(batches, batch_limit))
        .merge(limited(directory::routes(), directory::MAX_DIRECTORY_BODY))
        .route("/v1/txs/{id}", get(txs::get_tx))
        .route("/v1/txs/prefix/{prefix}", get(lookup::tx_prefix))
        .route("/v1/keys/prefix/{prefix}", get(lookup::key_prefix))
        .route("/v1/keys/{key}", get(lookup::get_key))
        .route("/v1/pools/{id}", get(reads::get_pool))
        .route("/v1/orgs/{org}/pools", get(reads::org_pools))
        .route(
            "/v1/orgs/{org}/stores/{store}/redemptions",
            get(reads::store_redemptions),
        )
        .route("/v1/tokens/{pool}/{serial}", get(reads::get_token))
        .route(
            "/v1/tokens/{pool}/{serial}/history",
            get(reads::token_history),
        )
        .route(
            "/v1/tokens/{pool}/{serial}/redemption",
            get(redemptions::token_redemption),
        )
        .route("/v1/codes/{code_hash}/token", get(reads::code_token))
        .route(
            "/v1/codes/{code_hash}/redemption",
            get(redemptions::code_redemption),
        )
        .route("/v1/members/{member}/wallet", get(reads::wallet))
        .route("/v1/members/{member}/consent", get(consent::show))
        .route("/v1/programs/{org}", get(balances::get_program))
        .route(
            "/v1/programs/{org}/members/{member}",
            get(balances::member_balance),
        )
        .route("/v1/programs/{org}/liability", get(balances::liability))
        .route(
            "/v1/programs/{org}/settlements/{partner}",
            get(balances::settlement),
        )
        .route("/v1/advice", get(advice::advice))
        .route("/v1/segments", get(advice::segments))
        .route("/v1/holds", get(holds::list))
        .route("/v1/holds/{kind}/{id}", get(holds::show))
        .route("/v1/blocks", get(chain::block_range))
        .route("/v1/blocks/latest", get(chain::latest_block))
        .route("/v1/blocks/{height}", get(chain::get_block))
        .route("/v1/checkpoints/latest", get(chain::latest_checkpoint))
        .route("/v1/consortium", get(chain::consortium))
        .route("/v1/log/consistency", get(chain::log_consistency))
        .route("/v1/log/entries", get(chain::log_entries))
        .route("/v1/events", get(events::list))
        .route("/v1/events/stream", get(events::stream))
        .route("/v1/events/{id}", get(events::get_event))
        .route("/v1/analytics/kpis", get(crate::analytics::http::kpis))
        .route(
            "/v1/analytics/rejections",
            get(crate::analytics::http::rejections),
        )
        .route(
            "/v1/analytics/redemptions",
            get(crate::analytics::http::redemptions),
        )
        .route("/v1/reports/finance", get(crate::reports::http::finance))
        .route("/v1/reports/privacy", get(crate::reports::http::privacy))
        .route("/v1/access-log", get(crate::access_log::api::list))
        .merge(crate::retention::api::routes())
        .route("/v1/status", get(chain::status))
        .route("/healthz", get(chain::healthz))
        .route("/metrics", get(chain::metrics))
        .route("/openapi.json", get(openapi_json))
        .merge(crate::webhooks::api::routes())
        .fallback(fallback)
        .with_state(state)
        // Innermost first: the timeout, then JSON-shaped errors for everything below
        // (timeouts, unknown routes, wrong methods), deprecation headers
        // ([`deprecation`]), the URI and header limits, per-route
        // metrics, tracing, and a caught panic becomes a JSON 500.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            deprecation::DEPRECATIONS,
            deprecation::announce,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(http.clone()),
            limits::check_head,
        ))
        .layer(middleware::from_fn(record_metrics))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panic_response));
    // Outermost: the access log sees the final status (crate::access_log).
    let logged = |router: Router| match &access_log {
        Some(log) => router.layer(middleware::from_fn_with_state(
            log.clone(),
            crate::access_log::layer::record,
        )),
        None => router,
    };
    let api = logged(api);
    // The console answers HTML pages, not the API's JSON errors: merged after the API's
    // layers, with its own (crate::console), and the same URI and header limits.
    match console {
        Some(console) => api.merge(logged(crate::console::slot_router(console).layer(
            middleware::from_fn_with_state(Arc::new(http), limits::check_head),
        ))),
        None => api,
    }
}

/// Serves the API on `listener` with default [`ApiOptions`] until `shutdown` completes,
/// then closes idle connections, finishes the requests in flight and returns once every
/// connection is closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    metrics: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, node, metrics, ApiOptions::default(), shutdown).await
}

/// [`serve`] with explicit options; connections within `options.http` ([`server`]: a
/// connection cap with eviction of idle connections, head and idle timeouts).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    metrics: PrometheusHandle,
    options: ApiOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        let max_connections = options.http.max_connections;
        tracing::info!(%addr, max_connections, "HTTP API listening");
    }
    let limits = options.http.clone();
    server::serve(
        listener,
        router_with(node, metrics, options),
        limits,
        shutdown,
    )
    .await
}

/// The OpenAPI document.
#[derive(OpenApi, Debug)]
#[openapi(
    info(
        title = "Couponcactus node API",
        description = "Signed coupon transactions in, proven reads out. Errors are \
            `{\"error\":{\"code\",\"message\"}}`; rejection codes are the chaincode's taxonomy. \
            Non-public reads are signed requests (security scheme `signed_read`, see docs/api.md)."
    ),
    paths(
        txs::submit,
        txs::submit_batch,
        txs::get_tx,
        txs::validate,
        lookup::tx_prefix,
        lookup::key_prefix,
        lookup::get_key,
        reads::get_pool,
        reads::org_pools,
        reads::store_redemptions,
        reads::get_token,
        reads::token_history,
        reads::code_token,
        redemptions::token_redemption,
        redemptions::code_redemption,
        reads::wallet,
        consent::show,
        balances::get_program,
        balances::member_balance,
        balances::liability,
        balances::settlement,
        holds::list,
        holds::show,
        advice::advice,
        advice::segments,
        chain::latest_block,
        chain::get_block,
        chain::block_range,
        chain::latest_checkpoint,
        chain::consortium,
        chain::log_consistency,
        chain::log_entries,
        chain::status,
        chain::healthz,
        chain::metrics,
        crate::webhooks::api::create,
        crate::webhooks::api::list,
        crate::webhooks::api::show,
        crate::webhooks::api::rotate_secret,
        crate::webhooks::api::disable,
        crate::webhooks::api::enable,
        crate::webhooks::api::replay,
        crate::webhooks::api::deliveries,
        directory::upsert,
        directory::find,
        directory::show,
        directory::erase,
        directory::export,
        directory::wallet_link,
        crate::analytics::http::kpis,
        crate::analytics::http::rejections,
        crate::analytics::http::redemptions,
        crate::reports::http::finance,
        crate::reports::http::privacy,
        events::list,
        events::get_event,
        events::stream,
        crate::access_log::api::list,
        crate::retention::api::status,
        crate::retention::api::list_holds,
        crate::retention::api::place_hold,
        crate::retention::api::remove_hold,
    ),
    components(schemas(ErrorResponse, ErrorBody)),
    modifiers(&SecurityAddon, &LimitsAddon),
    tags(
        (name = "txs", description = "Submit, validate and look up signed transactions"),
        (name = "state", description = "Signed, proven reads of pools, tokens and wallets"),
        (name = "loyalty", description = "Signed, proven reads of loyalty programs, member balances, liability and partner settlement"),
        (name = "intelligence", description = "The coupon advisor and member segments of an org (its admins and issuers, and auditors), computed from the analytics store at one height"),
        (name = "holds", description = "An org's fraud holds on members, terminals and codes (its admins, issuers and risk key, and auditors): the holds in force, and one target's hold proven"),
        (name = "keys", description = "The key registry: who signs, by org, role and store (org-admin keys public; others to their org, auditors and nodes)"),
        (name = "chain", description = "Blocks, checkpoints and the history log: headers and certificates public, other orgs' txs withheld as leaf hashes"),
        (name = "node", description = "Status, health and metrics"),
        (name = "webhooks", description = "Webhook endpoints of the node's org (org admins; node-local, never on the chain): register, rotate, disable, replay, delivery log"),
        (name = "directory", description = "The member directory of the node's org (org admins and issuers; node-local, never on the chain): personal data sealed per subject, the three-way match, erasure (crypto-shredding) and the data-subject export"),
        (name = "analytics", description = "KPIs, redemptions and rejections from the node's analytics store, stamped with the chain position they were computed at"),
        (name = "reports", description = "Finance reports of an org (its admins and issuers, and auditors): coupon and loyalty liability, expiring amounts, breakage, partner settlement, stamped with the height they were read at"),
        (name = "events", description = "Ledger events in log order: pages by cursor, one event with its proof, a resumable server-sent-events stream"),
        (name = "compliance", description = "The node's access log (who read or changed what), retention windows and legal holds (node-local, never on the chain)"),
    )
)]
pub struct ApiDoc;

async fn openapi_json() -> Response {
    match openapi_document() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::Internal(format!("OpenAPI document: {e}")).into_response(),
    }
}

/// Adds the answers the server gives on every route, before any handler runs
/// ([`server`]: timeouts, size limits, overload), to every operation of the document.
#[derive(Debug)]
struct LimitsAddon;

impl utoipa::Modify for LimitsAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Response};
        let answers = [
            (
                "408",
                "`request_timeout`: the request head or body did not arrive in time",
            ),
            (
                "414",
                "`uri_too_long`: the request target is over the node's limit",
            ),
            (
                "431",
                "`headers_too_large`: too many headers, or too many bytes of them",
            ),
            (
                "503",
                "`overloaded` (every connection busy; `Retry-After`), `shutting_down`",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten();
            for op in ops {
                let responses = &mut op.responses.responses;
                for (status, text) in answers {
                    responses.entry(status.to_string()).or_insert_with(|| {
                        let r = utoipa::openapi::ResponseBuilder::new()
                            .description(text)
                            .content(
                                "application/json",
                                utoipa::openapi::ContentBuilder::new()
                                    .schema(Some(utoipa::openapi::Ref::from_schema_name(
                                        "ErrorResponse",
                                    )))
                                    .build(),
                            )
                            .build();
                        RefOr::<Response>::T(r)
                    });
                }
            }
        }
    }
}

/// The OpenAPI document as served. u64 and u32 fields are declared with the unsigned
/// formats of the OpenAPI format registry (`uint64`, `uint32`): utoipa 5.5 names them by
/// kebab-casing its enum (`u-int64`), which no client generator knows, so those format
/// names are rewritten here.
pub fn openapi_document() -> Result<String, serde_json::Error> {
    fn fix_formats(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    match child {
                        serde_json::Value::String(f) if k == "format" && f.starts_with("u-int") => {
                            *f = f.replacen("u-int", "uint", 1);
                        }
                        _ => fix_formats(child),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(fix_formats),
            _ => {}
        }
    }
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    fix_formats(&mut doc);
    deprecation::mark_deprecated(&mut doc, deprecation::DEPRECATIONS);
    serde_json::to_string(&doc)
}

async fn fallback(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// Counts requests and their latency per route and status.
async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "cactus_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!("cactus_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Rewrites error responses that are not already JSON (from axum's router, tower-http's
/// body limit and timeout) into the API's error shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "oversize",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => "timeout",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "malformed",
        _ => "internal",
    };
    let mut rewritten = error::error_response(status, code, text);
    // Keep headers such as `Allow` on a 405.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = what, "request handler panicked");
    let mut response = error::error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request handler failed".to_owned(),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Runs blocking store work (RocksDB reads, proofs) off the async workers.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))?
}
