//! The member directory's routes, `/v1/directory/…` ([`crate::directory`],
//! docs/compliance-directory.md): add or update a subject, the three-way match, one
//! subject, its erasure and its data-subject export.
//!
//! Every route is a signed request ([`Reader`]) of an org admin or an issuer of the
//! node's own org; other roles (terminals, partners, auditors, risk keys), other orgs'
//! keys and consortium node keys get 403. Personal data travels only in POST bodies and
//! answers, never in a URL: the request target carries the member id (public on the
//! ledger) and `?body_sha256=`, the hex SHA-256 of the body, which the signature covers
//! (as for webhooks); clients add a random `nonce` to each body so that hash cannot be
//! guessed from the data in it. A node opened without a directory answers 503
//! `directory_off`.

use super::auth::Reader;
use super::extract::ApiPath;
use super::{ApiError, AppState, ErrorBody, ErrorResponse};
use crate::directory::{
    Directory, DirectoryError, Erased, MatchInputs, Matched, Purged, Subject, SubjectInput,
    SubjectRecord, purge_member,
};
use crate::node::now_ms;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use couponcactus_chaincode::ids::MemberId;
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Largest body of a directory request, bytes.
pub const MAX_DIRECTORY_BODY: usize = 16 * 1024;

/// Why a directory request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirectoryApiError {
    /// Authentication, authorization or a malformed request.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The directory refused or failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The node runs without a directory.
    #[error("this node has no member directory open")]
    Off,
}

/// `409 match_conflict`: the error and the inputs by the member they name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchConflictResponse {
    /// `code` is `match_conflict`.
    pub error: ErrorBody,
    /// The inputs given, grouped by the member each group names (input names only).
    pub groups: Vec<Vec<String>>,
}

impl IntoResponse for DirectoryApiError {
    fn into_response(self) -> Response {
        let d = match self {
            DirectoryApiError::Api(e) => return e.into_response(),
            DirectoryApiError::Off => {
                return super::error::error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "directory_off",
                    DirectoryApiError::Off.to_string(),
                );
            }
            DirectoryApiError::Directory(d) => d,
        };
        let (status, code) = match &d {
            DirectoryError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            DirectoryError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            DirectoryError::AlreadyLinked(_) => (StatusCode::CONFLICT, "already_linked"),
            DirectoryError::MatchConflict { message, groups } => {
                let body = MatchConflictResponse {
                    error: ErrorBody::new("match_conflict", message.clone()),
                    groups: groups.clone(),
                };
                return (StatusCode::CONFLICT, Json(body)).into_response();
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            // Directory errors name files, fields and member ids, never a record's values.
            tracing::error!(error = %d, "directory request failed");
        }
        super::error::error_response(status, code, d.to_string())
    }
}

type Result<T> = std::result::Result<T, DirectoryApiError>;

/// The routes (merged into the API router under a body limit).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/directory/members", post(upsert))
        .route("/v1/directory/match", post(find))
        .route("/v1/directory/members/{member}", get(show))
        .route("/v1/directory/members/{member}/erase", post(erase))
        .route("/v1/directory/members/{member}/export", get(export))
        .route(
            "/v1/directory/members/{member}/wallet-link",
            post(wallet_link),
        )
}

/// `?body_sha256=`: the hex SHA-256 of the POST body, inside the signed target.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BodyHash {
    /// Hex SHA-256 of the body (required when there is a body).
    body_sha256: Option<String>,
}

/// The directory, once `reader` is an org admin or issuer of the node's org.
fn authorize(state: &AppState, reader: &Reader) -> Result<Arc<Directory>> {
    let directory = state
        .options
        .directory
        .clone()
        .ok_or(DirectoryApiError::Off)?;
    let forbidden = |why: String| DirectoryApiError::Api(ApiError::Forbidden(why));
    if reader.node.is_some() || !matches!(reader.record.role, Role::OrgAdmin | Role::Issuer) {
        let role = if reader.node.is_some() {
            "node"
        } else {
            reader.record.role.name()
        };
        return Err(forbidden(format!(
            "key {} has the role {role}: only org admins and issuers of this node's org use its member directory",
            reader.key
        )));
    }
    let node_id = state.node.status().node_id;
    let org = crate::webhooks::node_org(&state.node, node_id)
        .ok_or_else(|| forbidden("this node is not in the consortium: it has no org".into()))?;
    if reader.record.org != org {
        return Err(forbidden(format!(
            "key {} belongs to {}: this node's member directory is {org}'s",
            reader.key, reader.record.org
        )));
    }
    Ok(directory)
}

/// The JSON body, once it hashes to the signed `body_sha256`. An empty body is `{}`.
fn signed_body<T: serde::de::DeserializeOwned>(hash: &BodyHash, body: &Bytes) -> Result<T> {
    let bad = |message: String| {
        DirectoryApiError::Api(ApiError::Unauthenticated {
            code: "bad_signature",
            message,
        })
    };
    let actual = hex::encode(Sha256::digest(body));
    match &hash.body_sha256 {
        Some(given) if given.eq_ignore_ascii_case(&actual) => {}
        Some(given) => {
            return Err(bad(format!(
                "the body hashes to {actual}, the signed body_sha256 is {given}: refused"
            )));
        }
        None if body.is_empty() => {}
        None => {
            return Err(bad(
                "a request body needs ?body_sha256=<hex SHA-256 of the body> in the signed target"
                    .into(),
            ));
        }
    }
    let text: &[u8] = if body.is_empty() { b"{}" } else { body };
    // serde's message may quote a value: name the position only.
    serde_json::from_slice(text).map_err(|e| {
        let text = e.to_string();
        // Unknown and missing fields name field names only; other messages may quote a
        // value (personal data), so they name the position only.
        let why = if text.starts_with("unknown field") || text.starts_with("missing field") {
            text
        } else {
            format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
        };
        DirectoryApiError::Api(ApiError::Malformed(format!(
            "the body is not the expected JSON: {why} (see the OpenAPI schema)"
        )))
    })
}

fn parse_member(text: &str) -> Result<MemberId> {
    text.parse().map_err(|_| {
        DirectoryApiError::Api(ApiError::InvalidInput(
            "member: expected 64 hex digits".into(),
        ))
    })
}

/// Runs directory work off the async workers.
async fn blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::result::Result<T, DirectoryError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("directory task failed: {e}")))?
        .map_err(DirectoryApiError::from)
}

/// Adds a subject or updates one.
#[utoipa::path(
    post, path = "/v1/directory/members", tag = "directory",
    params(BodyHash), request_body = SubjectInput, security(("signed_read" = [])),
    responses(
        (status = 200, description = "The subject as stored (a new one has a random member id unless `member` was given)", body = Subject),
        (status = 400, description = "`invalid_input` (a field breaks its rule: email, phone, name ≤ 200, recipient ids ≤ 64 of ≤ 128 bytes, external_ref ≤ 128), `malformed` (not the JSON of the schema)", body = ErrorResponse),
        (status = 401, description = "Unsigned, badly signed, or a body that does not match `body_sha256` (`bad_signature`)", body = ErrorResponse),
        (status = 403, description = "Not an org admin or issuer of the node's org (`not_authorized`)", body = ErrorResponse),
        (status = 409, description = "`already_linked`: the email, phone or a recipient id belongs to another member", body = ErrorResponse),
        (status = 413, description = "`oversize`: body over 16 KiB", body = ErrorResponse),
        (status = 503, description = "`directory_off`", body = ErrorResponse),
    )
)]
pub(crate) async fn upsert(
    State(state): State<AppState>,
    reader: Reader,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Json<Subject>> {
    let directory = authorize(&state, &reader)?;
    let input: SubjectInput = signed_body(&hash, &body)?;
    let subject = blocking(move || directory.upsert(input, now_ms())).await?;
    tracing::info!(member = %subject.member, key = %reader.key, "directory subject saved");
    Ok(Json(subject))
}

/// The three-way match.
#[utoipa::path(
    post, path = "/v1/directory/match", tag = "directory",
    params(BodyHash), request_body = MatchInputs, security(("signed_read" = [])),
    responses(
        (status = 200, description = "Every input that resolves names this member", body = Matched),
        (status = 400, description = "`invalid_input`: no input, or a malformed one", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin or issuer of the node's org", body = ErrorResponse),
        (status = 404, description = "`not_found`: no input resolves", body = ErrorResponse),
        (status = 409, description = "`match_conflict`: the inputs name different members (`groups`: input names by member)", body = MatchConflictResponse),
        (status = 503, description = "`directory_off`", body = ErrorResponse),
    )
)]
pub(crate) async fn find(
    State(state): State<AppState>,
    reader: Reader,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Json<Matched>> {
    let directory = authorize(&state, &reader)?;
    let inputs: MatchInputs = signed_body(&hash, &body)?;
    Ok(Json(blocking(move || directory.find(&inputs)).await?))
}

/// One subject.
#[utoipa::path(
    get, path = "/v1/directory/members/{member}", tag = "directory",
    params(("member" = String, Path, description = "Member id (64 hex)", pattern = r"^[0-9a-fA-F]{64}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "What the directory holds on the subject", body = Subject),
        (status = 400, description = "`invalid_input`: not a member id", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin or issuer of the node's org", body = ErrorResponse),
        (status = 404, description = "`not_found`: not in the directory (never added, or erased)", body = ErrorResponse),
        (status = 503, description = "`directory_off`", body = ErrorResponse),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(member): ApiPath<String>,
) -> Result<Json<Subject>> {
    let directory = authorize(&state, &reader)?;
    let member = parse_member(&member)?;
    Ok(Json(blocking(move || directory.get(&member)).await?))
}

/// What an erasure did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErasureView {
    /// The member erased and when (the erasure-log row): what the ledger's erasure receipt
    /// records.
    pub erased: Erased,
    /// Analytics detail rows deleted or unlinked.
    pub analytics_rows: u64,
}

/// Crypto-shreds a subject and purges the member from node-local data.
#[utoipa::path(
    post, path = "/v1/directory/members/{member}/erase", tag = "directory",
    params(("member" = String, Path, description = "Member id (64 hex)", pattern = r"^[0-9a-fA-F]{64}$"), BodyHash),
    request_body = EmptyBody, security(("signed_read" = [])),
    responses(
        (status = 200, description = "Erased: record, key and blind indexes deleted, analytics rows purged, the erasure logged", body = ErasureView),
        (status = 400, description = "`invalid_input`: not a member id", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin or issuer of the node's org", body = ErrorResponse),
        (status = 404, description = "`not_found`: not in the directory (never added, or already erased)", body = ErrorResponse),
        (status = 503, description = "`directory_off`", body = ErrorResponse),
    )
)]
pub(crate) async fn erase(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(member): ApiPath<String>,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Json<ErasureView>> {
    let directory = authorize(&state, &reader)?;
    let member = parse_member(&member)?;
    let _: EmptyBody = signed_body(&hash, &body)?;
    let analytics = state.options.analytics.clone();
    let purged: Purged = blocking(move || {
        if !directory.store().contains(&member)? {
            return Err(crate::directory::not_found(&member));
        }
        purge_member(Some(&directory), analytics.as_deref(), &member, now_ms())
    })
    .await?;
    let erased = purged
        .directory
        .ok_or_else(|| ApiError::Internal("the erasure found no subject".into()))?;
    if let Some(wallet) = wallet_of(&state) {
        let ended = tokio::task::spawn_blocking(move || wallet.store().end_member(&member)).await;
        if !matches!(ended, Ok(Ok(_))) {
            tracing::warn!(%member, "the erased member's wallet sessions could not be ended");
        }
    }
    tracing::info!(%member, key = %reader.key, "directory subject erased");
    Ok(Json(ErasureView {
        erased,
        analytics_rows: purged.analytics_rows,
    }))
}

/// The body of `erase`: empty, `{}`, or a nonce.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {
    /// Ignored.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// Everything the node holds on one subject (a data-subject access request).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubjectExport {
    /// The member id (on the ledger: its coupons, balances and consent records are read
    /// there, e.g. `GET /v1/members/{member}/wallet`).
    #[schema(value_type = String)]
    pub member: MemberId,
    /// The directory's record.
    pub record: SubjectRecord,
    /// The blind indexes the directory keeps for it (kinds: `email`, `phone`,
    /// `recipient_id`; HMACs, not the values).
    pub indexed_by: Vec<String>,
    /// Analytics detail rows of the node that name the member id.
    pub analytics_rows: u64,
    /// When the export was made, ms since the Unix epoch.
    pub generated_ms: u64,
}

/// The data-subject export of one subject.
#[utoipa::path(
    get, path = "/v1/directory/members/{member}/export", tag = "directory",
    params(("member" = String, Path, description = "Member id (64 hex)", pattern = r"^[0-9a-fA-F]{64}$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Everything the directory holds on the subject, and what else of the node names the member id", body = SubjectExport),
        (status = 400, description = "`invalid_input`: not a member id", body = ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = ErrorResponse),
        (status = 403, description = "Not an org admin or issuer of the node's org", body = ErrorResponse),
        (status = 404, description = "`not_found`: not in the directory", body = ErrorResponse),
        (status = 503, description = "`directory_off`", body = ErrorResponse),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(member): ApiPath<String>,
) -> Result<Json<SubjectExport>> {
    let directory = authorize(&state, &reader)?;
    let member = parse_member(&member)?;
    let analytics = state.options.analytics.clone();
    let export = blocking(move || {
        let subject = directory.get(&member)?;
        let indexed_by = subject
            .record
            .index_entries()
            .into_iter()
            .map(|(kind, _)| kind.name().to_string())
            .collect();
        let analytics_rows = match analytics {
            Some(a) => a.member_rows(&member)?,
            None => 0,
        };
        Ok(SubjectExport {
            member,
            record: subject.record,
            indexed_by,
            analytics_rows,
            generated_ms: now_ms(),
        })
    })
    .await?;
    tracing::info!(%member, key = %reader.key, "directory subject exported");
    Ok(Json(export))
}

/// The customer wallet of the node's console, if on.
fn wallet_of(state: &AppState) -> Option<Arc<crate::wallet::Wallet>> {
    let console = state.options.console.as_ref()?.get()?;
    console.wallet().cloned()
}

/// How a wallet link reaches the member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// E-mailed to the address on file (`[wallet.smtp]`).
    #[default]
    Email,
    /// Returned to the caller, who hands it over (at the counter, as a QR code).
    None,
}

/// The body of `wallet_link`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalletLinkBody {
    /// How the link reaches the member (default `email`).
    #[serde(default)]
    pub deliver: Delivery,
    /// Ignored (keeps the body hash unguessable).
    #[serde(default)]
    pub nonce: Option<String>,
}

/// A wallet link made for a member.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WalletLinkView {
    /// The member.
    #[schema(value_type = String)]
    pub member: MemberId,
    /// How it was delivered.
    pub delivered: Delivery,
    /// The address it was mailed to, masked (`a***@example.org`).
    pub sent_to: Option<String>,
    /// The link itself, only when not mailed.
    pub url: Option<String>,
    /// When it stops working, ms since the epoch.
    pub expires_ms: u64,
}

/// `a***@example.org`: enough for staff to recognise the address, not to read it out.
fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((user, domain)) => {
            let first: String = user.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// Makes a link to a member's customer wallet and e-mails it to the address on file, or
/// returns it.
#[utoipa::path(
    post,
    path = "/v1/directory/members/{member}/wallet-link",
    tag = "directory",
    params(("member" = String, Path, description = "Member id (64 hex)", pattern = r"^[0-9a-fA-F]{64}$"), BodyHash),
    request_body = WalletLinkBody,
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The link was mailed (masked address) or is returned", body = WalletLinkView),
        (status = 400, description = "No e-mail address on file, or a malformed request (`invalid_input`)", body = ErrorResponse),
        (status = 401, description = "Unsigned, badly signed, or a body that does not hash to body_sha256", body = ErrorResponse),
        (status = 403, description = "Not an org admin's or issuer's key of the node's org", body = ErrorResponse),
        (status = 404, description = "No such member in the directory (`not_found`)", body = ErrorResponse),
        (status = 502, description = "The SMTP server refused or could not be reached (`mail_failed`): no link was sent", body = ErrorResponse),
        (status = 503, description = "No directory (`directory_off`) or no customer wallet (`wallet_off`) on this node", body = ErrorResponse),
    )
)]
pub(crate) async fn wallet_link(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(member): ApiPath<String>,
    Query(hash): Query<BodyHash>,
    body: Bytes,
) -> Result<Response> {
    let directory = authorize(&state, &reader)?;
    let member = parse_member(&member)?;
    let body: WalletLinkBody = signed_body(&hash, &body)?;
    let Some(wallet) = wallet_of(&state) else {
        return Ok(super::error::error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "wallet_off",
            "this node serves no customer wallet ([wallet] enabled)".into(),
        ));
    };
    let subject = blocking(move || directory.get(&member)).await?;
    let now = now_ms();
    let view = match body.deliver {
        Delivery::None => {
            let link = wallet.link(member, now);
            WalletLinkView {
                member,
                delivered: Delivery::None,
                sent_to: None,
                url: Some(link.url),
                expires_ms: link.expires_ms,
            }
        }
        Delivery::Email => {
            let Some(email) = subject.record.email.clone() else {
                return Err(ApiError::InvalidInput(format!(
                    "member {member} has no e-mail address on file: add one with `cactus member add`, or ask for the link with deliver=none"
                ))
                .into());
            };
            match wallet.email_link(member, &email, now).await {
                Ok(link) => WalletLinkView {
                    member,
                    delivered: Delivery::Email,
                    sent_to: Some(masked(&email)),
                    url: None,
                    expires_ms: link.expires_ms,
                },
                Err(crate::wallet::WalletError::Config(why)) => {
                    return Ok(super::error::error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "wallet_off",
                        why,
                    ));
                }
                Err(e) => {
                    tracing::warn!(%member, "a wallet link could not be mailed");
                    return Ok(super::error::error_response(
                        StatusCode::BAD_GATEWAY,
                        "mail_failed",
                        e.to_string(),
                    ));
                }
            }
        }
    };
    tracing::info!(%member, key = %reader.key, "wallet link made");
    Ok(Json(view).into_response())
}
