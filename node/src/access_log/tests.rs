//! The access-log middleware on a small router with the real store and writer: what is
//! logged and what is not, what an entry holds (and never holds), the bounded queue.

use super::layer::{record, should_log, targets_of};
use super::store::ListQuery;
use super::*;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use tower_service::Service as _;

#[test]
fn targets_are_the_ids_in_the_routes_placeholders() {
    let t = targets_of("/v1/tokens/{pool}/{serial}", "/v1/tokens/spring/3");
    assert_eq!(t.len(), 2);
    assert_eq!((t["pool"].as_str(), t["serial"].as_str()), ("spring", "3"));
    assert!(targets_of("/v1/tokens/{pool}", "/v1/tokens/spring/3").is_empty());
    assert!(targets_of("/console/{*rest}", "/console/pools").is_empty());
    let long = "x".repeat(500);
    assert_eq!(
        targets_of("/v1/pools/{id}", &format!("/v1/pools/{long}"))["id"].len(),
        128
    );
}

#[test]
fn anonymous_reads_are_not_logged_writes_refusals_and_actors_are() {
    let anonymous = Actor::anonymous();
    let key = Actor::key("ab".into(), None, None);
    assert!(!should_log(&anonymous, &Method::GET, 200));
    assert!(!should_log(&anonymous, &Method::HEAD, 404));
    assert!(should_log(&anonymous, &Method::GET, 401));
    assert!(should_log(&anonymous, &Method::GET, 403));
    assert!(should_log(&anonymous, &Method::POST, 400));
    assert!(should_log(&key, &Method::GET, 200));
}

/// A router like the API's: a signed-looking read that notes its actor, a public read, a
/// write, and a refusal.
fn router(log: AccessLog) -> Router {
    async fn wallet(noter: Noter) -> &'static str {
        noter.signer("cd".repeat(32));
        "wallet"
    }
    Router::new()
        .route("/v1/members/{member}/wallet", get(wallet))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/v1/txs",
            axum::routing::post(|| async { StatusCode::BAD_REQUEST }),
        )
        .route("/v1/holds", get(|| async { StatusCode::UNAUTHORIZED }))
        .layer(axum::middleware::from_fn_with_state(log, record))
}

async fn call(router: &mut Router, method: &str, uri: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from("{\"email\":\"jane@example.com\"}"))
        .unwrap();
    router.call(request).await.unwrap().status()
}

#[tokio::test]
async fn entries_hold_the_route_template_and_ids_never_the_query_or_body() {
    let dir = tempfile::tempdir().unwrap();
    let (log, writer) = AccessLog::open(dir.path(), None).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(writer.run(async move {
        let _ = stopped.await;
    }));
    let mut app = router(log.clone());
    let member = "ab".repeat(32);
    let wallet = format!("/v1/members/{member}/wallet?email=jane@example.com");
    assert_eq!(call(&mut app, "GET", &wallet).await, StatusCode::OK);
    assert_eq!(call(&mut app, "GET", "/healthz").await, StatusCode::OK);
    assert_eq!(
        call(&mut app, "POST", "/v1/txs").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&mut app, "GET", "/v1/holds?org=acme").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&mut app, "GET", "/nowhere/jane@example.com").await,
        StatusCode::NOT_FOUND
    );
    // The writer stores what is queued before it ends.
    let _ = stop.send(());
    task.await.unwrap();
    let all = log
        .store()
        .list(&ListQuery {
            to_ms: u64::MAX,
            limit: 100,
            ..ListQuery::default()
        })
        .unwrap();
    let routes: Vec<(&str, &str, u16)> = all
        .iter()
        .map(|e| (e.method.as_str(), e.route.as_str(), e.status))
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "/v1/members/{member}/wallet", 200),
            ("POST", "/v1/txs", 400),
            ("GET", "/v1/holds", 401),
        ],
        "public reads and unmatched anonymous reads are not logged"
    );
    assert_eq!(all[0].targets["member"], member);
    assert_eq!(all[0].actor, Actor::key("cd".repeat(32), None, None));
    assert!(all[1].actor.is_anonymous());
    let mut everything = format!("{all:?}");
    for file in [STORE_FILE.to_string(), format!("{STORE_FILE}-wal")] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        everything.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(
        everything.contains("/v1/members/{member}/wallet"),
        "the files were read"
    );
    assert!(
        !everything.contains("jane"),
        "no query string or body is kept"
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_and_never_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (log, writer) = AccessLog::open(dir.path(), None).unwrap();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let entry = Entry {
        id: 0,
        time_ms: 1,
        actor: Actor::anonymous(),
        method: "POST".into(),
        route: "/v1/txs".into(),
        targets: Default::default(),
        status: 400,
        duration_ms: 0,
    };
    let started = std::time::Instant::now();
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..QUEUE_CAPACITY + 5 {
            log.push(entry.clone());
        }
    });
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let text = handle.render();
    assert!(text.contains(&format!("{DROPPED_METRIC} 5")), "{text}");
    // The writer, stopped at once, still stores every queued entry.
    writer.run(async {}).await;
    assert_eq!(log.store().count().unwrap(), QUEUE_CAPACITY as u64);
}
