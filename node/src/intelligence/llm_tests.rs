//! The model exchange against real HTTP stub servers on 127.0.0.1: a valid reordering,
//! garbage, a hanging endpoint, a lying model, HTTP errors, oversized answers, the bearer
//! token, and the config checks.

use super::*;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Serves `app` on 127.0.0.1:0; the base URL to configure.
async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}/v1")
}

fn config(url: String) -> ModelConfig {
    ModelConfig {
        url,
        model: "stub-model".into(),
        api_key_env: None,
        timeout_ms: 5_000,
    }
}

/// A chat-completions answer carrying `content`.
fn chat(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    })
}

/// A stub answering every request with `status` and `body` (as given, JSON or not).
fn raw(status: StatusCode, body: String) -> Router {
    Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let body = body.clone();
            async move { (status, body) }
        }),
    )
}

/// A stub answering with the chat content `content`.
fn answering(content: Value) -> Router {
    raw(StatusCode::OK, chat(&content.to_string()).to_string())
}

fn suggestion(id: &str, title: &str, rationale: &str, facts: &[(&str, &str)]) -> Suggestion {
    Suggestion {
        id: id.into(),
        title: title.into(),
        rationale: rationale.into(),
        facts: facts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn suggestions() -> Vec<Suggestion> {
    vec![
        suggestion(
            "s1",
            "Win back lapsed members",
            "Members who stopped visiting respond to a discount.",
            &[
                ("lapsed_members", "120"),
                ("days_away", "90"),
                ("discount_pct", "15"),
            ],
        ),
        suggestion(
            "s2",
            "Reward your champions",
            "Your best members redeem often.",
            &[("champions", "45"), ("redemption_rate_pct", "12.5")],
        ),
        suggestion(
            "s3",
            "Top up the spring pool",
            "The spring pool runs out of codes soon.",
            &[("codes_left", "300")],
        ),
    ]
}

fn item(id: &str, title: &str, rationale: &str) -> Value {
    json!({"id": id, "title": title, "rationale": rationale})
}

fn deterministic_all(s: &[Suggestion]) -> Vec<Rewrite> {
    s.iter().map(deterministic).collect()
}

#[tokio::test]
async fn llm_valid_reordering_is_applied() {
    let seen: Arc<Mutex<Option<Value>>> = Arc::default();
    let record = seen.clone();
    let content = json!({"suggestions": [
        item("s3", "Refill the spring pool", "Only 300 codes are left in the spring pool."),
        item("s1", "Bring back 120 lapsed members", "They have been away 90 days; offer 15 % off."),
    ]});
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: axum::Json<Value>| {
            let content = content.clone();
            *record.lock().expect("lock") = Some(body.0);
            async move { axum::Json(chat(&content.to_string())) }
        }),
    );
    let cfg = config(serve(app).await);
    let s = suggestions();
    let reviewed = review(&cfg, "Org: Cactus Cafe, 3 stores", &s)
        .await
        .expect("review");
    assert!(reviewed.dropped.is_empty(), "{:?}", reviewed.dropped);
    let ids: Vec<_> = reviewed.rewrites.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["s3", "s1"]);

    let shown = apply(&s, &reviewed);
    let ids: Vec<_> = shown.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["s3", "s1", "s2"]);
    assert_eq!(shown[0].title, "Refill the spring pool");
    assert_eq!(
        shown[1].rationale,
        "They have been away 90 days; offer 15 % off."
    );
    assert_eq!(shown[2], deterministic(&s[1]));

    let request = seen.lock().expect("lock").take().expect("a request");
    assert_eq!(request["model"], "stub-model");
    assert_eq!(request["temperature"], 0);
    assert_eq!(request["response_format"]["type"], "json_object");
    assert_eq!(request["messages"][0]["role"], "system");
    let system = request["messages"][0]["content"].as_str().expect("system");
    assert!(system.contains(r#"{"suggestions":[{"id":"#), "{system}");
    let user: Value =
        serde_json::from_str(request["messages"][1]["content"].as_str().expect("user"))
            .expect("user message is JSON");
    assert_eq!(user["org_context"], "Org: Cactus Cafe, 3 stores");
    assert_eq!(user["suggestions"][1]["facts"]["champions"], "45");
}

#[tokio::test]
async fn llm_sends_at_most_ten_suggestions() {
    let seen: Arc<Mutex<Option<Value>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: axum::Json<Value>| {
            *record.lock().expect("lock") = Some(body.0);
            async move {
                let content =
                    json!({"suggestions": [item("s11", "Eleventh", "Last of the sent.")]});
                axum::Json(chat(&content.to_string()))
            }
        }),
    );
    let s: Vec<Suggestion> = (1..=12)
        .map(|i| suggestion(&format!("s{i}"), "Title", "Rationale.", &[]))
        .collect();
    let err = review(&config(serve(app).await), "", &s)
        .await
        .expect_err("s11 not sent");
    assert!(
        err.to_string().contains("unknown suggestion id \"s11\""),
        "{err}"
    );
    let request = seen.lock().expect("lock").take().expect("a request");
    let user: Value =
        serde_json::from_str(request["messages"][1]["content"].as_str().expect("user"))
            .expect("JSON");
    assert_eq!(
        user["suggestions"].as_array().expect("list").len(),
        MAX_SUGGESTIONS
    );

    let reviewed = Reviewed {
        rewrites: vec![Rewrite {
            id: "s10".into(),
            title: "Tenth".into(),
            rationale: "Now first.".into(),
        }],
        dropped: vec![],
    };
    let shown = apply(&s, &reviewed);
    assert_eq!(shown.len(), 12);
    assert_eq!(shown[0].title, "Tenth");
    assert_eq!(shown[1].id, "s1");
    assert_eq!(shown[11].id, "s12");
}

#[tokio::test]
async fn llm_no_suggestions_sends_nothing() {
    // Nothing listens at this address: a request would fail.
    let cfg = config("http://127.0.0.1:9/v1".into());
    let reviewed = review(&cfg, "ctx", &[]).await.expect("no request");
    assert_eq!(reviewed, Reviewed::default());
}

#[tokio::test]
async fn llm_garbage_is_an_error_and_the_advisor_answers() {
    let garbage: Vec<(&str, String)> = vec![
        ("not JSON", "<html>Bad Gateway</html>".into()),
        (
            "content not JSON",
            chat("Sure! Here are your suggestions: 1. ...").to_string(),
        ),
        (
            "content of the wrong shape",
            chat(r#"{"foo": 1}"#).to_string(),
        ),
        ("content a list", chat(r#"[{"id":"s1"}]"#).to_string()),
        (
            "missing rationale",
            chat(r#"{"suggestions":[{"id":"s1","title":"T"}]}"#).to_string(),
        ),
        (
            "extra field",
            chat(r#"{"suggestions":[{"id":"s1","title":"T","rationale":"R","score":9}]}"#)
                .to_string(),
        ),
        ("empty choices", json!({"choices": []}).to_string()),
        ("no choices", json!({"id": "x"}).to_string()),
        (
            "content not a string",
            json!({"choices": [{"message": {"content": 7}}]}).to_string(),
        ),
    ];
    let s = suggestions();
    for (what, body) in garbage {
        let cfg = config(serve(raw(StatusCode::OK, body)).await);
        let err = review(&cfg, "ctx", &s).await.expect_err(what);
        assert!(matches!(err, LlmError::Malformed(_)), "{what}: {err}");
        assert!(
            err.to_string()
                .starts_with("the model's answer is malformed"),
            "{err}"
        );
    }
    assert_eq!(apply(&s, &Reviewed::default()), deterministic_all(&s));
}

#[tokio::test]
async fn llm_hanging_endpoint_times_out() {
    let hang_head = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            std::future::pending::<()>().await;
            ""
        }),
    );
    // Headers arrive, the body never ends: the deadline covers the body too.
    let hang_body = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let stream = futures::stream::pending::<Result<Vec<u8>, std::io::Error>>();
            Response::new(Body::from_stream(stream))
        }),
    );
    for app in [hang_head, hang_body] {
        let mut cfg = config(serve(app).await);
        cfg.timeout_ms = 300;
        let outcome =
            tokio::time::timeout(Duration::from_secs(30), review(&cfg, "ctx", &suggestions()))
                .await
                .expect("review returns");
        let err = outcome.expect_err("hangs");
        assert!(matches!(err, LlmError::Timeout(300)), "{err}");
        assert_eq!(
            err.to_string(),
            "the model endpoint did not answer within 300 ms"
        );
    }
}

#[tokio::test]
async fn llm_unknown_or_duplicate_id_refuses_the_review() {
    let s = suggestions();
    let unknown = json!({"suggestions": [
        item("s1", "Win back lapsed members", "They respond to a discount."),
        item("s9", "Made up", "Not a suggestion."),
    ]});
    let cfg = config(serve(answering(unknown)).await);
    let err = review(&cfg, "ctx", &s).await.expect_err("unknown id");
    assert!(matches!(err, LlmError::Lied(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "the model lied: unknown suggestion id \"s9\""
    );

    let duplicate = json!({"suggestions": [
        item("s2", "Reward champions", "They redeem often."),
        item("s2", "Reward champions again", "They redeem often."),
    ]});
    let cfg = config(serve(answering(duplicate)).await);
    let err = review(&cfg, "ctx", &s).await.expect_err("duplicate id");
    assert!(
        err.to_string().contains("\"s2\" appears more than once"),
        "{err}"
    );
}

#[tokio::test]
async fn llm_invented_number_drops_that_rewrite_only() {
    let s = suggestions();
    let content = json!({"suggestions": [
        item("s2", "Reward your 45 champions", "They redeem 30 % of their coupons."),
        item("s1", "Bring back\nlapsed members\u{202e}", "120 members, away 90 days.\u{7}"),
        item("s3", "   ", "The pool runs low."),
    ]});
    let cfg = config(serve(answering(content)).await);
    let reviewed = review(&cfg, "ctx", &s).await.expect("review");
    assert_eq!(
        reviewed.dropped,
        [
            "s2: rationale names 30, not among its facts",
            "s3: title is empty",
        ]
    );
    assert_eq!(reviewed.rewrites.len(), 1);
    assert_eq!(reviewed.rewrites[0].title, "Bring back lapsed members");
    assert_eq!(reviewed.rewrites[0].rationale, "120 members, away 90 days.");

    let shown = apply(&s, &reviewed);
    let ids: Vec<_> = shown.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s3"]);
    assert_eq!(shown[1], deterministic(&s[1]));
    assert_eq!(shown[2], deterministic(&s[2]));
}

#[test]
fn llm_apply_rechecks_what_it_is_given() {
    let s = suggestions();
    let long = "x".repeat(MAX_TITLE_CHARS + 1);
    let reviewed = Reviewed {
        rewrites: vec![
            Rewrite {
                id: "s3".into(),
                title: "Refill 999 codes".into(),
                rationale: "Soon.".into(),
            },
            Rewrite {
                id: "nope".into(),
                title: "T".into(),
                rationale: "R".into(),
            },
            Rewrite {
                id: "s2".into(),
                title: long,
                rationale: "R".into(),
            },
            Rewrite {
                id: "s3".into(),
                title: "Again".into(),
                rationale: "R".into(),
            },
        ],
        dropped: vec![],
    };
    let shown = apply(&s, &reviewed);
    let ids: Vec<_> = shown.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["s3", "s2", "s1"]);
    assert_eq!(
        shown,
        vec![
            deterministic(&s[2]),
            deterministic(&s[1]),
            deterministic(&s[0])
        ]
    );
}

#[test]
fn llm_numbers_and_cleaning() {
    let found: Vec<String> = numbers("45 % of 1,200 members; 12.5. Then 7,a and ٣")
        .into_iter()
        .collect();
    assert_eq!(found, ["1,200", "12.5", "45", "7", "٣"]);
    assert!(numbers("no figures here.").is_empty());
    assert_eq!(clean("\u{feff} a\tb\u{0}c\r\n "), "a bc");
    let s = &suggestions()[1];
    assert!(check_rewrite(s, "Reward 45 champions", "12.5 % redeem.").is_ok());
    assert_eq!(
        check_rewrite(s, "Reward 46 champions", "R").expect_err("46"),
        "title names 46, not among its facts"
    );
    let long = "r".repeat(MAX_RATIONALE_CHARS + 1);
    assert_eq!(
        check_rewrite(s, "T", &long).expect_err("long"),
        format!(
            "rationale is {} characters, over {MAX_RATIONALE_CHARS}",
            MAX_RATIONALE_CHARS + 1
        )
    );
}

#[tokio::test]
async fn llm_http_error_quotes_status_and_body() {
    let body = format!("upstream exploded: model overloaded\n{}", "z".repeat(1_000));
    let cfg = config(serve(raw(StatusCode::INTERNAL_SERVER_ERROR, body)).await);
    let err = review(&cfg, "ctx", &suggestions()).await.expect_err("500");
    let LlmError::Status { status, body } = &err else {
        panic!("not a status error: {err}");
    };
    assert_eq!(*status, 500);
    assert_eq!(body.chars().count(), ERROR_BODY_CHARS);
    assert!(
        err.to_string().starts_with(
            "the model endpoint answered HTTP 500: upstream exploded: model overloaded zzz"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn llm_refused_connection_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = review(&config(format!("http://{addr}/v1")), "ctx", &suggestions())
        .await
        .expect_err("refused");
    assert!(matches!(err, LlmError::Unreachable(_)), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn llm_oversized_answer_is_refused() {
    // Declared by Content-Length.
    let padding = "x".repeat(MAX_RESPONSE_BYTES);
    let big = chat(&json!({"suggestions": [], "pad": padding}).to_string()).to_string();
    let declared = raw(StatusCode::OK, big);
    // Streamed without a length.
    let streamed = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let chunks = (0..5).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024]));
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }),
    );
    for app in [declared, streamed] {
        let cfg = config(serve(app).await);
        let err = review(&cfg, "ctx", &suggestions())
            .await
            .expect_err("too big");
        assert!(matches!(err, LlmError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("262144-byte limit"), "{err}");
    }
}

#[tokio::test]
async fn llm_sends_the_bearer_token_from_the_environment() {
    // Cargo and nextest set CARGO_PKG_NAME for the test process; setting a variable here
    // would need `unsafe` (edition 2024).
    let expected = format!("Bearer {}", env!("CARGO_PKG_NAME"));
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap| {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            record.lock().expect("lock").push(auth.clone());
            let ok = auth.as_deref() == Some(expected.as_str());
            async move {
                if !ok {
                    return (StatusCode::UNAUTHORIZED, "bad token".to_owned());
                }
                let content =
                    json!({"suggestions": [item("s2", "Reward champions", "They redeem often.")]});
                (StatusCode::OK, chat(&content.to_string()).to_string())
            }
        }),
    );
    let url = serve(app).await;
    let mut cfg = config(url.clone());
    cfg.api_key_env = Some("CARGO_PKG_NAME".into());
    let reviewed = review(&cfg, "ctx", &suggestions())
        .await
        .expect("authorised");
    assert_eq!(reviewed.rewrites[0].id, "s2");

    let err = review(&config(url), "ctx", &suggestions())
        .await
        .expect_err("no token");
    assert!(err.to_string().contains("HTTP 401: bad token"), "{err}");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [Some(format!("Bearer {}", env!("CARGO_PKG_NAME"))), None]
    );

    let mut cfg = config("http://127.0.0.1:9/v1".into());
    cfg.api_key_env = Some("COUPONCACTUS_TEST_UNSET_KEY_7F3A".into());
    let err = review(&cfg, "ctx", &suggestions())
        .await
        .expect_err("unset");
    assert!(
        err.to_string()
            .contains("COUPONCACTUS_TEST_UNSET_KEY_7F3A is not set"),
        "{err}"
    );
}

#[test]
fn llm_config_validation() {
    let ok = config("https://models.example.com/v1".into());
    ok.validate().expect("valid");
    let refused = |f: &dyn Fn(&mut ModelConfig), needle: &str| {
        let mut cfg = ok.clone();
        f(&mut cfg);
        let err = cfg.validate().expect_err(needle);
        assert!(matches!(err, LlmError::Config(_)), "{err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    };
    refused(
        &|c| c.url = "ftp://models.example.com/v1".into(),
        "url must start with http",
    );
    refused(
        &|c| c.url = "file:///etc/passwd".into(),
        "url must start with http",
    );
    refused(&|c| c.url = "not a url".into(), "is not a URL");
    refused(
        &|c| c.url = "https://user:pw@models.example.com".into(),
        "credentials",
    );
    refused(&|c| c.model = "  ".into(), "model must not be empty");
    refused(
        &|c| c.model = "m".repeat(MAX_MODEL_CHARS + 1),
        "model is over 200",
    );
    refused(
        &|c| c.timeout_ms = MIN_TIMEOUT_MS - 1,
        "timeout_ms must be 100..=60000 (got 99)",
    );
    refused(&|c| c.timeout_ms = MAX_TIMEOUT_MS + 1, "timeout_ms must be");
    refused(
        &|c| c.api_key_env = Some("sk-live-abc123".into()),
        "api_key_env must name",
    );

    let parsed: ModelConfig =
        serde_json::from_str(r#"{"url":"http://127.0.0.1:8080/v1","model":"m"}"#).expect("parse");
    assert_eq!(parsed.timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(parsed.api_key_env, None);
    assert!(serde_json::from_str::<ModelConfig>(r#"{"url":"u","model":"m","key":"k"}"#).is_err());
}
