//! The middleware that writes the access log, and the slot through which the parts that
//! authenticate a request (signed reads, tx submission, console sessions) and the console's
//! own router tell it who asked and which route answered.

use super::{AccessLog, Actor, Entry};
use crate::node::now_ms;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most path ids kept per entry.
const MAX_TARGETS: usize = 8;
/// Longest id kept, characters.
const MAX_TARGET_CHARS: usize = 128;

/// What the inner parts noted about a request.
#[derive(Clone, Debug, Default)]
struct Noted {
    actor: Option<Actor>,
    route: Option<String>,
}

/// A request extension the middleware inserts and reads back after the answer.
#[derive(Clone, Debug, Default)]
pub struct AccessSlot(Arc<Mutex<Noted>>);

impl AccessSlot {
    fn with<T>(&self, f: impl FnOnce(&mut Noted) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records who made the request (the first actor noted wins).
    pub fn note_actor(&self, actor: Actor) {
        self.with(|n| {
            n.actor.get_or_insert(actor);
        });
    }

    /// Records the route template that answered (a nested router's own).
    pub fn note_route(&self, route: &str) {
        self.with(|n| n.route = Some(route.to_string()));
    }

    fn take(&self) -> Noted {
        self.with(std::mem::take)
    }
}

/// Notes the actor of `parts`' request, if it passes the access log.
pub fn note_actor(parts: &Parts, actor: impl FnOnce() -> Actor) {
    if let Some(slot) = parts.extensions.get::<AccessSlot>() {
        slot.note_actor(actor());
    }
}

/// A handler's view of the slot (empty when the access log is off).
#[derive(Clone, Debug, Default)]
pub struct Noter(Option<AccessSlot>);

impl Noter {
    /// Records that `key` (hex) signed what the request submits.
    pub fn signer(&self, key: String) {
        if let Some(slot) = &self.0 {
            slot.note_actor(Actor::key(key, None, None));
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Noter {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Noter(parts.extensions.get::<AccessSlot>().cloned()))
    }
}

/// Whether a request is logged: every request with an actor; an anonymous one only when
/// it writes (not GET, HEAD or OPTIONS) or was refused (401, 403).
pub fn should_log(actor: &Actor, method: &Method, status: u16) -> bool {
    let read = [Method::GET, Method::HEAD, Method::OPTIONS].contains(method);
    !actor.is_anonymous() || !read || matches!(status, 401 | 403)
}

/// The ids `path` gives the `{placeholders}` of `route` (none when they do not line up;
/// wildcards are skipped).
pub fn targets_of(route: &str, path: &str) -> BTreeMap<String, String> {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    if r.len() != p.len() {
        return BTreeMap::new();
    }
    r.iter()
        .zip(p.iter())
        .filter_map(|(t, v)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            (!name.starts_with('*'))
                .then(|| (name.to_string(), v.chars().take(MAX_TARGET_CHARS).collect()))
        })
        .take(MAX_TARGETS)
        .collect()
}

/// The access-log middleware (`from_fn_with_state` with the node's [`AccessLog`]).
pub async fn record(State(log): State<AccessLog>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let time_ms = now_ms();
    let slot = AccessSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let noted = slot.take();
    let actor = noted.actor.unwrap_or_else(Actor::anonymous);
    let status = response.status().as_u16();
    if should_log(&actor, &method, status) {
        let route = noted.route.or(matched);
        let targets = route
            .as_deref()
            .map(|r| targets_of(r, &path))
            .unwrap_or_default();
        log.push(Entry {
            id: 0,
            time_ms,
            actor,
            method: method.to_string(),
            route: route.unwrap_or_else(|| "(unmatched)".into()),
            targets,
            status,
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }
    response
}

/// For a nested router (the console's): tells the middleware the route template that
/// matched inside it.
pub async fn note_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(route)) = (
        request.extensions().get::<AccessSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        slot.note_route(route.as_str());
    }
    next.run(request).await
}
