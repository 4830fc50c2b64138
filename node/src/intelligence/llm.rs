//! The coupon advisor's optional language model: an OpenAI-compatible chat-completions
//! endpoint, configured by the operator (none by default), may rephrase and re-rank the
//! deterministic advisor's suggestions. It never decides anything: on any failure the
//! advisor shows its own text in its own order, so the advisor's answer stays a function
//! of the height without a model and stays valid with a model that returns garbage.
//!
//! This module owns the configuration ([`ModelConfig`]), the one HTTP exchange
//! ([`review`]), the validation of the model's answer, and its application to the
//! suggestions ([`apply`]). It is hand-written on reqwest: the exchange is a small,
//! bounded JSON POST, and no maintained OpenAI client crate adds what matters here —
//! validation and clamping — so we keep the dependency surface small.
//!
//! Rules:
//! - Request: `POST {url}/chat/completions` with `model`, a system message stating the task
//!   and the exact JSON schema to answer with, a user message holding the org context and
//!   the suggestions as JSON, `temperature: 0` and `response_format: json_object`; a bearer
//!   token read from the environment variable named by `api_key_env` (the key itself is
//!   never in the config). No redirects, no proxy, no retries (the advisor answers anyway).
//! - Bounds: at most [`MAX_SUGGESTIONS`] suggestions are sent (the rest keep their place
//!   after), the org context is cut to [`MAX_CONTEXT_CHARS`], the request body is at most
//!   [`MAX_REQUEST_BYTES`], the response body at most [`MAX_RESPONSE_BYTES`] (bigger is an
//!   error), and `timeout_ms` is the deadline of the whole exchange, body included.
//! - Response: `choices[0].message.content` must be the JSON object
//!   `{"suggestions":[{"id","title","rationale"}, ...]}` and nothing else. An unknown or
//!   repeated id refuses the whole review ([`LlmError::Lied`]). Each rewrite's text has
//!   control and invisible format characters removed and is trimmed; a title must then be
//!   1–[`MAX_TITLE_CHARS`] characters, a rationale 1–[`MAX_RATIONALE_CHARS`], and every
//!   number in it (a run of digits, with `.` or `,` between digits: `45`, `12.5`) must occur
//!   in that suggestion's fact values or original title or rationale — a model must not
//!   invent figures. A rewrite failing these is refused on its own: it is listed in
//!   [`Reviewed::dropped`] and its suggestion keeps its deterministic text and goes after
//!   the accepted ones, as if the model had left it out.
//! - Non-JSON content, a wrong shape, an HTTP status other than 2xx (quoted with the first
//!   200 characters of the body), a refused connection and the deadline are each an
//!   [`LlmError`] with a message an operator can act on.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The whole-exchange deadline when the config names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;
/// Shortest allowed deadline.
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Longest allowed deadline.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Longest model name.
pub const MAX_MODEL_CHARS: usize = 200;
/// Longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest name of the API key's environment variable.
pub const MAX_KEY_ENV_CHARS: usize = 128;
/// Most suggestions sent to the model.
pub const MAX_SUGGESTIONS: usize = 10;
/// Longest org context sent (characters; longer is cut).
pub const MAX_CONTEXT_CHARS: usize = 8 * 1024;
/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest response body read; a bigger answer is an error.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Longest rewritten title (characters, after cleaning).
pub const MAX_TITLE_CHARS: usize = 80;
/// Longest rewritten rationale (characters, after cleaning).
pub const MAX_RATIONALE_CHARS: usize = 400;
/// Bytes of an error response's body read to quote it.
const ERROR_BODY_BYTES: usize = 4 * 1024;
/// Characters of an error response's body quoted.
const ERROR_BODY_CHARS: usize = 200;
/// Characters of a model-supplied id quoted in an error.
const QUOTED_ID_CHARS: usize = 64;
/// Invisible format characters removed with the control characters: zero-width
/// characters, bidirectional marks, embeddings, overrides and isolates, the BOM.
const INVISIBLE: &[char] = &[
    '\u{200b}', '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
    '\u{202d}', '\u{202e}', '\u{2060}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{feff}',
];

/// What can go wrong asking the model; the advisor then answers on its own.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model configuration is invalid (names the field).
    #[error("model config: {0}")]
    Config(String),
    /// The request could not be built (too big, bad header, client setup).
    #[error("model request: {0}")]
    Request(String),
    /// The endpoint could not be reached (connection refused, DNS, TLS, reset).
    #[error("the model endpoint could not be reached: {0}")]
    Unreachable(String),
    /// The exchange did not finish within the configured deadline.
    #[error("the model endpoint did not answer within {0} ms")]
    Timeout(u64),
    /// The endpoint answered a status other than 2xx.
    #[error("the model endpoint answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, control characters removed.
        body: String,
    },
    /// The response body is over [`MAX_RESPONSE_BYTES`].
    #[error("the model endpoint's answer is over the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The answer is not the JSON asked for.
    #[error("the model's answer is malformed: {0}")]
    Malformed(String),
    /// The answer names suggestions that were not sent, or one twice.
    #[error("the model lied: {0}")]
    Lied(String),
}

/// The operator's model endpoint (none by default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1`; requests go to `{url}/chat/completions`.
    pub url: String,
    /// Model name sent in the request.
    pub model: String,
    /// Name of the environment variable holding a bearer token (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Whole-exchange deadline, [`MIN_TIMEOUT_MS`]..=[`MAX_TIMEOUT_MS`].
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl ModelConfig {
    /// Checks the fields; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<(), LlmError> {
        let bad = |m: String| Err(LlmError::Config(m));
        if self.url.chars().count() > MAX_URL_CHARS {
            return bad(format!("url is over {MAX_URL_CHARS} characters"));
        }
        let url = match reqwest::Url::parse(&self.url) {
            Ok(url) => url,
            Err(e) => return bad(format!("url {:?} is not a URL ({e})", self.url)),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return bad(format!(
                "url must start with http:// or https:// (got {}:)",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return bad(format!("url {:?} names no host", self.url));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad(
                "url must not carry credentials; name an environment variable in api_key_env"
                    .into(),
            );
        }
        let model = self.model.trim();
        if model.is_empty() {
            return bad("model must not be empty".into());
        }
        if model.chars().count() > MAX_MODEL_CHARS {
            return bad(format!("model is over {MAX_MODEL_CHARS} characters"));
        }
        if let Some(var) = &self.api_key_env {
            let name_like = var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if var.is_empty() || var.len() > MAX_KEY_ENV_CHARS || !name_like {
                return bad(format!(
                    "api_key_env must name an environment variable (1–{MAX_KEY_ENV_CHARS} \
                     letters, digits or _), not hold the key itself"
                ));
            }
        }
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return bad(format!(
                "timeout_ms must be {MIN_TIMEOUT_MS}..={MAX_TIMEOUT_MS} (got {})",
                self.timeout_ms
            ));
        }
        Ok(())
    }
}

/// One deterministic suggestion as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The advisor's id of the suggestion.
    pub id: String,
    /// The deterministic title.
    pub title: String,
    /// The deterministic rationale.
    pub rationale: String,
    /// Grounding numbers, name → value as text: the only figures a rewrite may use
    /// besides those in the title and rationale.
    pub facts: Vec<(String, String)>,
}

/// What the model may change: order, title, rationale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rewrite {
    /// The suggestion's id.
    pub id: String,
    /// The title to show.
    pub title: String,
    /// The rationale to show.
    pub rationale: String,
}

/// A validated review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    /// The accepted rewrites in the model's rank order: a permutation of a subset of the
    /// ids; suggestions it left out (or whose rewrite was refused) keep their order after.
    pub rewrites: Vec<Rewrite>,
    /// Why individual rewrites were refused, e.g. "s2: title names 45, not among its facts".
    pub dropped: Vec<String>,
}

/// Asks the model to rephrase and rank `suggestions` (the first [`MAX_SUGGESTIONS`]) and
/// validates its answer. No suggestions: no request, an empty review.
pub async fn review(
    cfg: &ModelConfig,
    org_context: &str,
    suggestions: &[Suggestion],
) -> Result<Reviewed, LlmError> {
    cfg.validate()?;
    let sent = &suggestions[..suggestions.len().min(MAX_SUGGESTIONS)];
    if sent.is_empty() {
        return Ok(Reviewed::default());
    }
    let key = api_key(cfg)?;
    let body = request_body(cfg, org_context, sent)?;
    let deadline = Duration::from_millis(cfg.timeout_ms);
    let content = tokio::time::timeout(deadline, exchange(cfg, key.as_deref(), body))
        .await
        .map_err(|_| LlmError::Timeout(cfg.timeout_ms))??;
    let reviewed = check_answer(sent, &content)?;
    tracing::debug!(
        accepted = reviewed.rewrites.len(),
        dropped = reviewed.dropped.len(),
        "model review"
    );
    Ok(reviewed)
}

/// Applies a review: the new order (the accepted rewrites first, in the model's order,
/// then the other suggestions in their own order) and per id the text to show. Anything
/// refused — an unknown or repeated id, a text failing the checks of [`review`] — falls
/// back to the deterministic text; every suggestion appears exactly once.
pub fn apply(suggestions: &[Suggestion], reviewed: &Reviewed) -> Vec<Rewrite> {
    let mut placed = vec![false; suggestions.len()];
    let mut out = Vec::with_capacity(suggestions.len());
    for rewrite in &reviewed.rewrites {
        let Some(i) = suggestions.iter().position(|s| s.id == rewrite.id) else {
            continue;
        };
        if placed[i] {
            continue;
        }
        placed[i] = true;
        let s = &suggestions[i];
        out.push(
            check_rewrite(s, &rewrite.title, &rewrite.rationale)
                .unwrap_or_else(|_| deterministic(s)),
        );
    }
    for (s, done) in suggestions.iter().zip(placed) {
        if !done {
            out.push(deterministic(s));
        }
    }
    out
}

fn deterministic(s: &Suggestion) -> Rewrite {
    Rewrite {
        id: s.id.clone(),
        title: s.title.clone(),
        rationale: s.rationale.clone(),
    }
}

/// The bearer token from the configured environment variable, if any.
fn api_key(cfg: &ModelConfig) -> Result<Option<String>, LlmError> {
    let Some(var) = &cfg.api_key_env else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_owned())),
        _ => Err(LlmError::Config(format!(
            "api_key_env: the environment variable {var} is not set (or empty or not UTF-8)"
        ))),
    }
}

/// The system prompt: the task and the exact schema to answer with.
fn system_prompt() -> String {
    format!(
        "You review a coupon advisor's suggestions for a merchant. Rank them, most useful \
         for this organisation first, and reword each title and rationale to be clear and \
         concrete. Keep every figure exactly as given: use only numbers that appear in that \
         suggestion's facts, title or rationale, and invent none. A title is at most \
         {MAX_TITLE_CHARS} characters, a rationale at most {MAX_RATIONALE_CHARS}. Answer \
         with one JSON object and nothing else, exactly of this schema: \
         {{\"suggestions\":[{{\"id\":\"<an id from the input>\",\"title\":\"<text>\",\
         \"rationale\":\"<text>\"}}]}} — each id at most once, no other fields."
    )
}

/// The chat-completions request body, at most [`MAX_REQUEST_BYTES`].
fn request_body(
    cfg: &ModelConfig,
    org_context: &str,
    sent: &[Suggestion],
) -> Result<Vec<u8>, LlmError> {
    let context: String = org_context.chars().take(MAX_CONTEXT_CHARS).collect();
    let items: Vec<Value> = sent
        .iter()
        .map(|s| {
            let facts: serde_json::Map<String, Value> = s
                .facts
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({"id": s.id, "title": s.title, "rationale": s.rationale, "facts": facts})
        })
        .collect();
    let user = json!({"org_context": context, "suggestions": items}).to_string();
    let body = json!({
        "model": cfg.model.trim(),
        "messages": [
            {"role": "system", "content": system_prompt()},
            {"role": "user", "content": user},
        ],
        "temperature": 0,
        "response_format": {"type": "json_object"},
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| LlmError::Request(e.to_string()))?;
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(LlmError::Request(format!(
            "the request would be {} bytes, over the {MAX_REQUEST_BYTES}-byte limit; \
             shorten the suggestions",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// POSTs the request and returns `choices[0].message.content` (no deadline: the caller
/// puts one around the whole exchange).
async fn exchange(cfg: &ModelConfig, key: Option<&str>, body: Vec<u8>) -> Result<String, LlmError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("Couponcactus-Advisor/1")
        .build()
        .map_err(|e| LlmError::Request(format!("HTTP client: {e}")))?;
    let url = format!("{}/chat/completions", cfg.url.trim_end_matches('/'));
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let mut response = request.send().await.map_err(|e| unreachable(e, cfg))?;
    let status = response.status();
    if !status.is_success() {
        let (body, _) = read_bounded(&mut response, ERROR_BODY_BYTES, cfg).await?;
        let quoted: String = clean(&String::from_utf8_lossy(&body))
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        return Err(LlmError::Status {
            status: status.as_u16(),
            body: quoted,
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(LlmError::TooLarge {
            limit: MAX_RESPONSE_BYTES,
        });
    }
    let (body, over) = read_bounded(&mut response, MAX_RESPONSE_BYTES, cfg).await?;
    if over {
        return Err(LlmError::TooLarge {
            limit: MAX_RESPONSE_BYTES,
        });
    }
    content_of(&body)
}

/// Reads at most `limit` bytes of the body; `true` when there was more.
async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
    cfg: &ModelConfig,
) -> Result<(Vec<u8>, bool), LlmError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(e, cfg))? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// A transport error as an operator reads it: the innermost cause.
fn unreachable(e: reqwest::Error, cfg: &ModelConfig) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout(cfg.timeout_ms);
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    LlmError::Unreachable(format!("{} ({cause})", cfg.url))
}

/// `choices[0].message.content` of a chat-completions answer.
fn content_of(body: &[u8]) -> Result<String, LlmError> {
    let bad = |m: &str| LlmError::Malformed(m.to_owned());
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::Malformed(format!("the endpoint's body is not JSON ({e})")))?;
    let choices = answer
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the endpoint's answer has no \"choices\" list"))?;
    let first = choices
        .first()
        .ok_or_else(|| bad("the endpoint's \"choices\" list is empty"))?;
    first
        .pointer("/message/content")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad("choices[0].message.content is missing or not a string"))
}

/// The JSON the model must answer with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    suggestions: Vec<AnswerItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerItem {
    id: String,
    title: String,
    rationale: String,
}

/// Validates the model's content against the suggestions sent.
fn check_answer(sent: &[Suggestion], content: &str) -> Result<Reviewed, LlmError> {
    let answer: Answer = serde_json::from_str(content).map_err(|e| {
        LlmError::Malformed(format!(
            "the content is not {{\"suggestions\":[{{\"id\",\"title\",\"rationale\"}}]}} ({e})"
        ))
    })?;
    let mut seen = BTreeSet::new();
    let mut reviewed = Reviewed::default();
    for item in &answer.suggestions {
        let quoted: String = clean(&item.id).chars().take(QUOTED_ID_CHARS).collect();
        let Some(s) = sent.iter().find(|s| s.id == item.id) else {
            return Err(LlmError::Lied(format!("unknown suggestion id {quoted:?}")));
        };
        if !seen.insert(item.id.as_str()) {
            return Err(LlmError::Lied(format!(
                "suggestion id {quoted:?} appears more than once"
            )));
        }
        match check_rewrite(s, &item.title, &item.rationale) {
            Ok(rewrite) => reviewed.rewrites.push(rewrite),
            Err(why) => reviewed.dropped.push(format!("{}: {why}", s.id)),
        }
    }
    Ok(reviewed)
}

/// One rewrite, cleaned and checked against its suggestion; the reason when refused.
fn check_rewrite(s: &Suggestion, title: &str, rationale: &str) -> Result<Rewrite, String> {
    let title = clean(title);
    let rationale = clean(rationale);
    for (field, text, max) in [
        ("title", &title, MAX_TITLE_CHARS),
        ("rationale", &rationale, MAX_RATIONALE_CHARS),
    ] {
        let n = text.chars().count();
        if n == 0 {
            return Err(format!("{field} is empty"));
        }
        if n > max {
            return Err(format!("{field} is {n} characters, over {max}"));
        }
    }
    let mut grounded = numbers(&s.title);
    grounded.extend(numbers(&s.rationale));
    for (_, value) in &s.facts {
        grounded.extend(numbers(value));
    }
    for (field, text) in [("title", &title), ("rationale", &rationale)] {
        if let Some(n) = numbers(text).into_iter().find(|n| !grounded.contains(n)) {
            return Err(format!("{field} names {n}, not among its facts"));
        }
    }
    Ok(Rewrite {
        id: s.id.clone(),
        title,
        rationale,
    })
}

/// Control characters become spaces (line breaks, tabs) or go; invisible format
/// characters go; the result is trimmed.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !INVISIBLE.contains(c))
        .filter_map(|c| match c {
            c if c.is_control() && c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The numbers in a text: runs of numeric characters (any script, so a model cannot
/// slip figures past in other digits), with `.` or `,` between two of them: "45", "12.5",
/// "1,200".
fn numbers(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_numeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() {
            let inner = matches!(chars[i], '.' | ',')
                && chars.get(i + 1).is_some_and(|c| c.is_numeric())
                && i > start;
            if !(chars[i].is_numeric() || inner) {
                break;
            }
            i += 1;
        }
        found.insert(chars[start..i].iter().collect());
    }
    found
}

#[cfg(test)]
#[path = "llm_tests.rs"]
mod tests;
