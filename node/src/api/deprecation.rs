//! Deprecation announcements: routes listed in [`DEPRECATIONS`] answer with
//! `Deprecation: @<unix seconds>` (RFC 9745), `Sunset: <HTTP date>` (RFC 8594) and
//! `Link: <…>; rel="deprecation"` headers, and their operations are marked
//! `deprecated: true` in the OpenAPI document (docs/api.md, "Versioning and deprecation").
//!
//! The table is empty while nothing in `/v1` is deprecated; an entry names a route as the
//! router declares it (`/v1/pools/{id}`), so one entry covers every id.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// One deprecated operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// The HTTP method (`GET`, `POST`, …).
    pub method: &'static str,
    /// The route template as the router declares it (`/v1/pools/{id}`).
    pub route: &'static str,
    /// When it was (or will be) deprecated, seconds since the Unix epoch.
    pub deprecated_at: i64,
    /// When it stops answering, seconds since the Unix epoch (`None`: not decided).
    pub sunset_at: Option<i64>,
    /// Where the deprecation and its replacement are explained (a URL).
    pub link: &'static str,
}

/// The deprecated operations of the API (empty: nothing deprecated).
pub const DEPRECATIONS: &[Deprecation] = &[];

/// The `Deprecation` header.
pub const DEPRECATION_HEADER: HeaderName = HeaderName::from_static("deprecation");
/// The `Sunset` header.
pub const SUNSET_HEADER: HeaderName = HeaderName::from_static("sunset");

impl Deprecation {
    /// The RFC 9745 value: `@` and the Unix time in seconds.
    pub fn deprecation_value(&self) -> String {
        format!("@{}", self.deprecated_at)
    }

    /// The RFC 8594 value, an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn sunset_value(&self) -> Option<String> {
        let at = jiff::Timestamp::from_second(self.sunset_at?).ok()?;
        Some(at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
    }

    /// The `Link` value.
    pub fn link_value(&self) -> String {
        format!("<{}>; rel=\"deprecation\"; type=\"text/html\"", self.link)
    }
}

/// The entry of `table` for `method route`.
pub fn find<'t>(table: &'t [Deprecation], method: &str, route: &str) -> Option<&'t Deprecation> {
    table
        .iter()
        .find(|d| d.route == route && d.method.eq_ignore_ascii_case(method))
}

/// The middleware: adds the headers to answers of the routes in `table`.
pub async fn announce(
    State(table): State<&'static [Deprecation]>,
    request: Request,
    next: Next,
) -> Response {
    let entry = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| find(table, request.method().as_str(), route.as_str()))
        .copied();
    let mut response = next.run(request).await;
    if let Some(entry) = entry {
        let headers = response.headers_mut();
        let mut put = |name: HeaderName, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        };
        put(DEPRECATION_HEADER, entry.deprecation_value());
        if let Some(sunset) = entry.sunset_value() {
            put(SUNSET_HEADER, sunset);
        }
        put(header::LINK, entry.link_value());
    }
    response
}

/// Marks the operations of `table` `deprecated: true` in an OpenAPI document.
pub fn mark_deprecated(doc: &mut serde_json::Value, table: &[Deprecation]) {
    for entry in table {
        let method = entry.method.to_ascii_lowercase();
        if let Some(op) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(entry.route))
            .and_then(|item| item.get_mut(&method))
            .and_then(serde_json::Value::as_object_mut)
        {
            op.insert("deprecated".into(), serde_json::Value::Bool(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower_service::Service as _;

    static TABLE: &[Deprecation] = &[Deprecation {
        method: "GET",
        route: "/v1/old/{id}",
        deprecated_at: 1_767_225_600,
        sunset_at: Some(1_798_761_600),
        link: "https://example.invalid/docs/api.md#versioning-and-deprecation",
    }];

    async fn call(router: &mut Router, method: &str, uri: &str) -> Response {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        router.call(request).await.unwrap()
    }

    #[tokio::test]
    async fn listed_routes_carry_the_headers_others_do_not() {
        let mut router = Router::new()
            .route(
                "/v1/old/{id}",
                get(|| async { "old" }).post(|| async { "posted" }),
            )
            .route("/v1/new/{id}", get(|| async { "new" }))
            .layer(axum::middleware::from_fn_with_state(TABLE, announce));
        let old = call(&mut router, "GET", "/v1/old/7?x=1").await;
        let h = old.headers();
        assert_eq!(h[DEPRECATION_HEADER.as_str()], "@1767225600");
        assert_eq!(h[SUNSET_HEADER.as_str()], "Fri, 01 Jan 2027 00:00:00 GMT");
        assert_eq!(
            h[header::LINK],
            "<https://example.invalid/docs/api.md#versioning-and-deprecation>; rel=\"deprecation\"; type=\"text/html\""
        );
        for (method, uri) in [("POST", "/v1/old/7"), ("GET", "/v1/new/7")] {
            let other = call(&mut router, method, uri).await;
            assert!(
                other.headers().get(DEPRECATION_HEADER.as_str()).is_none(),
                "{method} {uri}"
            );
            assert!(other.headers().get(SUNSET_HEADER.as_str()).is_none());
        }
    }

    #[test]
    fn the_document_marks_listed_operations() {
        let mut doc = serde_json::json!({"paths": {"/v1/old/{id}": {"get": {}, "post": {}}}});
        mark_deprecated(&mut doc, TABLE);
        assert_eq!(doc["paths"]["/v1/old/{id}"]["get"]["deprecated"], true);
        assert!(
            doc["paths"]["/v1/old/{id}"]["post"]
                .get("deprecated")
                .is_none()
        );
    }
}
