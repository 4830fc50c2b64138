//! `GET|POST /console/login` and `POST /console/logout`.
//!
//! A login checks the rate limit (per name and per client address) first, then the
//! password (against a dummy hash for unknown users, so they cost the same), then that
//! the user is enabled; every refusal says the same thing and creates no session.

use super::super::csrf::{self, CheckedForm, form_body};
use super::super::limiter::LoginLimiter;
use super::super::session::{
    ClientIp, LOGIN_COOKIE, SESSION_COOKIE, Staff, cookie, new_token, secrets_equal, set_cookie,
};
use super::super::view::{PageError, html};
use super::super::{Console, password, templates};
use crate::node::now_ms;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The refusal of a wrong name, password or disabled user (one message for all).
pub const REFUSED: &str = "wrong user name or password, or the account is disabled";
/// Lifetime of the login form's cookie, seconds.
const LOGIN_FORM_SECS: u64 = 3600;

#[derive(Debug, Serialize)]
struct LoginPage {
    csrf: String,
    name: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// The login page, with a fresh double-submit token (or a redirect when signed in).
fn login_page(
    console: &Console,
    name: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let token = password::random_secret(32);
    let body = templates::render(
        "login.html",
        &LoginPage {
            csrf: token.clone(),
            name,
            error,
        },
    )?;
    let mut response = (status, html(body)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &token,
            LOGIN_FORM_SECS,
            console.config.secure_cookies,
        ),
    );
    Ok(response)
}

/// `GET /console/login`.
pub(super) async fn form(
    State(console): State<Arc<Console>>,
    staff: Option<Staff>,
) -> Result<Response, PageError> {
    if staff.is_some() {
        return Ok(Redirect::to("/console").into_response());
    }
    login_page(&console, String::new(), None, StatusCode::OK)
}

/// `POST /console/login`.
pub(super) async fn submit(
    State(console): State<Arc<Console>>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Result<Response, PageError> {
    let expected = cookie(request.headers(), LOGIN_COOKIE);
    let body = form_body(request).await?;
    let given = csrf::token_in(&body);
    match (expected, given) {
        (Some(e), Some(g)) if secrets_equal(&e, &g) => {}
        _ => return Err(PageError::Csrf),
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| PageError::BadRequest(format!("the login form is not complete: {e}")))?;
    let name = form.name.trim().chars().take(200).collect::<String>();
    let keys = LoginLimiter::keys(&name, ip);
    if let Err(secs) = console.limiter.check(&keys, now_ms()) {
        return Err(PageError::RateLimited(secs));
    }
    let c = console.clone();
    let (user_name, password) = (name.clone(), form.password);
    let user = tokio::task::spawn_blocking(move || c.authenticate(&user_name, &password))
        .await
        .map_err(|e| PageError::Internal(format!("login: {e}")))??;
    let Some(user_id) = user else {
        console.limiter.record_failure(&keys, now_ms());
        tracing::info!(user = %name, ip = ?ip, "console login refused");
        return login_page(
            &console,
            name,
            Some(REFUSED.into()),
            StatusCode::UNAUTHORIZED,
        );
    };
    console.limiter.clear(&keys[0]);
    let (token, hash) = new_token();
    let csrf = password::random_secret(32);
    let c = console.clone();
    tokio::task::spawn_blocking(move || {
        c.store.purge_expired(now_ms(), c.expiry())?;
        c.store.create_session(&hash, user_id, &csrf, now_ms())
    })
    .await
    .map_err(|e| PageError::Internal(format!("login: {e}")))??;
    tracing::info!(user = %name, "console login");
    let mut response = Redirect::to("/console").into_response();
    let secure = console.config.secure_cookies;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &token,
            console.config.absolute_timeout_secs,
            secure,
        ),
    );
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, secure));
    Ok(response)
}

impl Console {
    /// The id of the enabled user `name` whose password is `password`; `None` otherwise.
    /// An unknown name is verified against the dummy hash, so it takes as long.
    fn authenticate(&self, name: &str, password: &str) -> Result<Option<i64>, PageError> {
        let found = self.store.credentials(name)?;
        let phc = found
            .as_ref()
            .map(|(_, hash)| hash.as_str())
            .unwrap_or(&self.dummy_hash);
        let matches = password::verify(password, phc);
        Ok(match found {
            Some((user, _)) if matches && !user.disabled => Some(user.id),
            _ => None,
        })
    }
}

/// A form with no field but its CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct NoFields {}

/// `POST /console/logout`: checks the CSRF token, ends the session, clears the cookie.
pub(super) async fn logout(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, NoFields {}): CheckedForm<NoFields>,
) -> Result<Response, PageError> {
    let c = console.clone();
    let hash = staff.token_hash;
    tokio::task::spawn_blocking(move || c.store.delete_session(&hash))
        .await
        .map_err(|e| PageError::Internal(format!("logout: {e}")))??;
    tracing::info!(user = %staff.user.name, "console logout");
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, console.config.secure_cookies),
    );
    Ok(response)
}
