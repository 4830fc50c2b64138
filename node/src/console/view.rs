//! What every page shares: the error pages ([`PageError`]), the HTML response with the
//! console's security headers ([`html`]), and the formatting of times, amounts and rates.

use super::ConsoleError;
use super::templates;
use crate::analytics::AnalyticsError;
use crate::analytics::report::Rate;
use crate::storage::StorageError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

/// Content-Security-Policy of every console answer: only the console's own script and
/// stylesheet; inline SVG attributes are styles, so inline styles are allowed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No live session: redirect to the login page.
    #[error("sign in first")]
    SignIn,
    /// The form's CSRF token is missing or wrong.
    #[error("your form expired or came from another site; reload and try again")]
    Csrf,
    /// The user's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// A malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed logins.
    #[error("too many failed logins: try again in {0} seconds")]
    RateLimited(u64),
    /// Something failed on the node.
    #[error("{0}")]
    Internal(String),
    /// The console is not running yet (the node has no org).
    #[error("{0}")]
    Unavailable(String),
}

impl From<ConsoleError> for PageError {
    fn from(e: ConsoleError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl From<StorageError> for PageError {
    fn from(e: StorageError) -> PageError {
        PageError::Internal(format!("node database: {e}"))
    }
}

impl From<AnalyticsError> for PageError {
    fn from(e: AnalyticsError) -> PageError {
        match e {
            AnalyticsError::Invalid(m) => PageError::BadRequest(m),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<couponcactus_chaincode::state::StateError> for PageError {
    fn from(e: couponcactus_chaincode::state::StateError) -> PageError {
        PageError::Internal(format!("chain state: {e}"))
    }
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Csrf | PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            PageError::SignIn => "Sign in",
            PageError::Csrf => "Form expired",
            PageError::Forbidden(_) => "Not allowed",
            PageError::NotFound(_) => "Not found",
            PageError::BadRequest(_) => "Bad request",
            PageError::RateLimited(_) => "Too many attempts",
            PageError::Internal(_) => "Something went wrong",
            PageError::Unavailable(_) => "Not available yet",
        }
    }
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
    status: u16,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::SignIn = self {
            return Redirect::to("/console/login").into_response();
        }
        if let PageError::Internal(m) = &self {
            tracing::error!(error = %m, "console page failed");
        }
        let status = self.status();
        let page = ErrorPage {
            title: self.title(),
            message: self.to_string(),
            status: status.as_u16(),
        };
        let mut response = match templates::render("error.html", &page) {
            Ok(body) => (status, html(body)).into_response(),
            Err(_) => (status, self.to_string()).into_response(),
        };
        if let PageError::RateLimited(secs) = self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// An HTML page with the console's headers (CSP, no caching, no framing, no sniffing).
pub fn html(body: String) -> Response {
    let mut response = axum::response::Html(body).into_response();
    secure_headers(response.headers_mut());
    response
}

/// Adds the console's security headers.
pub fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Renders `template` with `context` as a page that reflects chain height `height` (also
/// answered in the `X-Cactus-Height` header).
pub fn page<T: Serialize>(template: &str, context: &T, height: u64) -> Result<Response, PageError> {
    let body = templates::render(template, context)?;
    let mut response = html(body);
    if let Ok(v) = HeaderValue::from_str(&height.to_string()) {
        response.headers_mut().insert("x-cactus-height", v);
    }
    Ok(response)
}

/// A download: `body` of type `kind` as attachment `name`, with the console's headers and
/// the chain height it reflects (`X-Cactus-Height`).
pub fn attachment(body: Vec<u8>, kind: &'static str, name: &str, height: u64) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    secure_headers(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&height.to_string()) {
        headers.insert("x-cactus-height", v);
    }
    response
}

/// `ms` since the Unix epoch as `2026-12-03 14:05:09 UTC`.
pub fn time(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `ms` since the Unix epoch as `2026-12-03`.
pub fn date(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Decimals of a currency's minor unit: ISO 4217's, or 2 for a code outside it.
fn decimals(currency: &str) -> u32 {
    iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .map(u32::from)
        .unwrap_or(2)
}

/// `1234`, `EUR` → `12.34 EUR` (negative amounts keep their sign).
pub fn money(minor: i64, currency: &str) -> String {
    let d = decimals(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if d == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let scale = 10u64.pow(d);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / scale,
        abs % scale,
        width = d as usize
    )
}

/// A rate as `12.34 %`, or `—` when it has no denominator.
pub fn rate(r: &Rate) -> String {
    match r.bp {
        Some(bp) => format!("{}.{:02} %", bp / 100, bp % 100),
        None => "—".into(),
    }
}

/// `part / whole` as a rate.
pub fn rate_of(part: u64, whole: u64) -> String {
    rate(&Rate::of(part, whole))
}
