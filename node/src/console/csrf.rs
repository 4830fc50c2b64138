//! CSRF: every form carries its session's synchronizer token in a hidden `csrf` field,
//! checked on every POST before anything else is read or done ([`CheckedForm`]); a
//! missing or wrong token answers a 403 page and changes nothing. The login form, which
//! has no session yet, uses a double-submit cookie instead ([`super::session::LOGIN_COOKIE`]).

use super::Console;
use super::session::{Staff, secrets_equal};
use super::view::PageError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Largest form body, bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The CSRF field of any form.
#[derive(Debug, Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// Checks a form's CSRF token against the session's.
pub fn check(expected: &str, given: Option<&str>) -> Result<(), PageError> {
    match given {
        Some(g) if !g.is_empty() && secrets_equal(expected, g) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// A POSTed form of a signed-in user whose CSRF token matched: `(staff, form)`. A write
/// handler takes this and calls [`Staff::require_role`].
#[derive(Debug)]
pub struct CheckedForm<T>(pub Staff, pub T);

/// Reads a urlencoded body of at most [`MAX_FORM_BYTES`].
pub async fn form_body(request: Request) -> Result<Bytes, PageError> {
    axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest(format!("the form is over {MAX_FORM_BYTES} bytes")))
}

/// The token field of a urlencoded body (`None` when missing or unparsable).
pub fn token_in(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<CsrfField>(body)
        .ok()
        .and_then(|f| f.csrf)
}

impl<T: DeserializeOwned + Send> FromRequest<Arc<Console>> for CheckedForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, console: &Arc<Console>) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let staff =
            <Staff as FromRequestParts<Arc<Console>>>::from_request_parts(&mut parts, console)
                .await?;
        let body = form_body(Request::from_parts(parts, body)).await?;
        check(&staff.csrf, token_in(&body).as_deref())?;
        let form = serde_urlencoded::from_bytes::<T>(&body)
            .map_err(|e| PageError::BadRequest(format!("the form is not complete: {e}")))?;
        Ok(CheckedForm(staff, form))
    }
}
