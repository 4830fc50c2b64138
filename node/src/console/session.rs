//! Sessions: a random 256-bit token in an `HttpOnly`, `SameSite=Strict`, `Path=/console`
//! cookie (`Secure` with `[console] secure_cookies`), kept hashed in the store; the
//! [`Staff`] extractor that every page after login takes.

use super::store::{Expiry, SessionRecord};
use super::view::PageError;
use super::{Console, Role, User};
use crate::node::now_ms;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use std::sync::Arc;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cactus_session";
/// The login form's double-submit cookie (login CSRF: the form's hidden field must match).
pub const LOGIN_COOKIE: &str = "cactus_login";
/// Longest cookie value read, bytes.
const MAX_COOKIE_VALUE: usize = 128;

/// A new session token (64 hex characters) and its hash.
pub fn new_token() -> (String, [u8; 32]) {
    let token = super::password::random_secret(32);
    let hash = token_hash(&token);
    (token, hash)
}

/// The hash a token is stored under.
pub fn token_hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// Whether two secrets are equal, in time independent of where they differ (BLAKE3
/// hashes compare in constant time).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes())
}

/// The value of cookie `name` in `headers`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE_VALUE)
}

/// A `Set-Cookie` value for the console's path; `max_age_secs` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

impl Console {
    pub(super) fn expiry(&self) -> Expiry {
        Expiry {
            idle: self.config.idle(),
            absolute: self.config.absolute(),
        }
    }

    /// The live session of the request's cookie, if any.
    pub(super) async fn session_of(
        self: &Arc<Self>,
        headers: &HeaderMap,
    ) -> Result<Option<(SessionRecord, [u8; 32])>, PageError> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = token_hash(&token);
        let console = self.clone();
        let found = tokio::task::spawn_blocking(move || {
            console
                .store
                .session(&hash, now_ms(), console.expiry(), true)
        })
        .await
        .map_err(|e| PageError::Internal(format!("session lookup: {e}")))??;
        Ok(found.map(|s| (s, hash)))
    }

    /// Whether the session of `hash` is still live (without counting this as a use: the
    /// live feed checks its session before each batch).
    pub(super) async fn still_live(self: &Arc<Self>, hash: [u8; 32]) -> bool {
        let console = self.clone();
        tokio::task::spawn_blocking(move || {
            console
                .store
                .session(&hash, now_ms(), console.expiry(), false)
        })
        .await
        .is_ok_and(|r| matches!(r, Ok(Some(_))))
    }
}

/// The signed-in staff member of a request. Without a live session a page answers a
/// redirect to the login page.
#[derive(Clone, Debug)]
pub struct Staff {
    /// The user.
    pub user: User,
    /// The session's CSRF token (every form carries it).
    pub csrf: String,
    /// The session's token hash (logout deletes it).
    pub token_hash: [u8; 32],
}

impl Staff {
    /// `Ok` when the user's role is one of `roles`, else a 403 page saying who may.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), PageError> {
        if roles.contains(&self.user.role) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        Err(PageError::Forbidden(format!(
            "{} is a {} user: this needs the {} role",
            self.user.name,
            self.user.role.name(),
            names.join(" or ")
        )))
    }
}

impl FromRequestParts<Arc<Console>> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        match console.session_of(&parts.headers).await? {
            Some((record, token_hash)) => {
                crate::access_log::layer::note_actor(parts, || {
                    crate::access_log::Actor::console(
                        record.user.name.clone(),
                        console.org().to_string(),
                        record.user.role.name().to_string(),
                    )
                });
                Ok(Staff {
                    user: record.user,
                    csrf: record.csrf,
                    token_hash,
                })
            }
            None => Err(PageError::SignIn),
        }
    }
}

impl OptionalFromRequestParts<Arc<Console>> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <Staff as FromRequestParts<Arc<Console>>>::from_request_parts(parts, console).await {
            Ok(staff) => Ok(Some(staff)),
            Err(PageError::SignIn) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The client's address (from the connection), for the per-address login limit.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
