//! The event API: `GET /v1/events` (pages by cursor, long poll), `GET /v1/events/{id}`
//! (one event with its history-log inclusion proof) and `GET /v1/events/stream`
//! (server-sent events, resumable with `Last-Event-ID`).
//!
//! Every route is a signed read, scoped like the tx reads ([`super::visibility`]):
//! auditors and node keys see every event; org admins and issuers the events of txs their
//! org signed or on its pools; terminals and partner keys the events of the txs they
//! signed; everyone signed sees governance events. Order is the history log's: by
//! `(log_index, index)`, the same on every node. A cursor is an event id
//! (`evt_<log_index>_<index>`); a page answers `next`, the last event it *scanned* (not
//! only returned), so a filtered follower never rescans what it skipped.

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery};
use super::txs::{LogProofView, log_proof};
use super::{ApiError, AppState, blocking};
use crate::events::{EventScan, MAX_ENTRIES_SCANNED, MAX_EVENTS_PAGE};
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use couponcactus_chaincode::events::{EventId, EventType, EventsPage, LedgerEvent};
use couponcactus_chaincode::history::HistoryLeaf;
use couponcactus_chaincode::ids::{MemberId, PoolId};
use couponcactus_chaincode::types::Role;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Longest `wait` a page may ask for, seconds (below the 60 s request timeout).
pub const MAX_EVENTS_WAIT_SECS: u64 = 30;
/// Interval of the SSE keep-alive comments (proxies drop silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events one SSE read takes from the store before yielding them.
const STREAM_BATCH: usize = 256;

/// Query of `GET /v1/events` and `GET /v1/events/stream`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Return events after this one (an event id, `evt_<log_index>_<index>`); from the
    /// first event without. On the stream, `Last-Event-ID` takes precedence.
    #[param(pattern = "^evt_(0|[1-9][0-9]*)_[0-9]+$")]
    pub after: Option<String>,
    /// Only these types, comma-separated (e.g. `coupon.redeemed,tx.rejected`).
    pub types: Option<String>,
    /// Only events of this pool (its id).
    pub pool: Option<String>,
    /// Only events of this member (64 hex digits): coupon and balance events, and
    /// rejections that name the member.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    pub member: Option<String>,
    /// Most events to return (1–1,000, default 100).
    pub limit: Option<u64>,
    /// When no event follows the cursor, wait up to this many seconds (≤ 30) for one
    /// (long poll); default 0: answer at once, possibly empty.
    pub wait: Option<u64>,
}

/// One event with the proof of the log entry it comes from.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventProofView {
    /// The event (docs/events.md; `memo` is its tx's memo or null).
    #[schema(value_type = Object)]
    pub event: LedgerEvent,
    /// The history-log entry (`proof.leaf`) and its inclusion proof against the latest
    /// header's log root; `event.detail` is `proof.leaf.outcome`'s event number
    /// `event.id.index` (or its rejection).
    pub proof: LogProofView,
}

/// What a reader asked for and may see.
#[derive(Clone, Debug)]
struct Filter {
    types: Option<BTreeSet<EventType>>,
    pool: Option<PoolId>,
    member: Option<MemberId>,
    reader: Reader,
}

impl Filter {
    fn parse(query: &EventsQuery, reader: Reader) -> Result<Filter, ApiError> {
        let types = match query.types.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(list) => Some(
                list.split(',')
                    .map(|t| t.trim().parse::<EventType>())
                    .collect::<Result<BTreeSet<_>, _>>()
                    .map_err(ApiError::InvalidInput)?,
            ),
        };
        let pool = match &query.pool {
            None => None,
            Some(p) => Some(
                p.parse::<PoolId>()
                    .map_err(|e| ApiError::InvalidInput(format!("pool {p:?}: {e}")))?,
            ),
        };
        let member = match &query.member {
            None => None,
            Some(m) => Some(
                m.parse::<MemberId>()
                    .map_err(|e| ApiError::InvalidInput(format!("member {m:?}: {e}")))?,
            ),
        };
        Ok(Filter {
            types,
            pool,
            member,
            reader,
        })
    }

    fn keep(&self, e: &LedgerEvent) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(&e.kind))
            && self
                .pool
                .as_ref()
                .is_none_or(|p| e.pool.as_ref() == Some(p))
            && self.member.is_none_or(|m| e.member == Some(m))
            && reader_sees(&self.reader, e)
    }
}

/// Whether `reader` may see `e` (the confidentiality model of docs/api.md).
pub(crate) fn reader_sees(reader: &Reader, e: &LedgerEvent) -> bool {
    if reader.is_auditor() || e.is_public() || e.signer == reader.key {
        return true;
    }
    matches!(reader.record.role, Role::OrgAdmin | Role::Issuer) && e.org_sees(&reader.record.org)
}

fn parse_cursor(text: Option<&str>) -> Result<Option<EventId>, ApiError> {
    text.map(|t| t.trim().parse::<EventId>())
        .transpose()
        .map_err(|e| ApiError::InvalidInput(e.to_string()))
}

fn page(
    store: &Store,
    after: Option<EventId>,
    limit: usize,
    filter: &Filter,
) -> Result<EventScan, ApiError> {
    Ok(store.events_after(after, limit, |e| filter.keep(e))?)
}

/// Lists events after a cursor, filtered by type and pool; waits up to `wait` seconds
/// when none follows.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(EventsQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "A page of events, in log order: `{\"events\": [LedgerEvent…], \"next\": \"evt_…\" | null, \"log_size\": N}` (docs/events.md)", body = Object),
        (status = 400, description = "Malformed cursor, unknown type, bad pool id, limit out of 1–1,000 or wait over 30 s (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Missing or failing signature (`bad_signature`, `stale`, `unknown_key`, `key_revoked`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let after = parse_cursor(query.after.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_EVENTS_PAGE as u64).contains(&limit) {
        return Err(ApiError::InvalidInput(format!(
            "limit must be 1 to {MAX_EVENTS_PAGE}, got {limit}"
        )));
    }
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_EVENTS_WAIT_SECS {
        return Err(ApiError::InvalidInput(format!(
            "wait must be at most {MAX_EVENTS_WAIT_SECS} seconds, got {wait}"
        )));
    }
    let limit = limit as usize;
    let filter = Filter::parse(&query, reader)?;
    let mut rx = state.node.events_tip().subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut cursor = after;
    loop {
        let log_size = *rx.borrow_and_update();
        let (node, f) = (state.node.clone(), filter.clone());
        let scan = blocking(move || page(node.store(), cursor, limit, &f)).await?;
        cursor = scan.next;
        let answer = || {
            Json(EventsPage {
                events: scan.events.clone(),
                next: scan.next,
                log_size,
            })
        };
        if !scan.events.is_empty() || !scan.exhausted {
            return Ok(answer());
        }
        let changed = tokio::time::timeout_at(deadline, rx.changed()).await;
        if !matches!(changed, Ok(Ok(()))) {
            return Ok(answer());
        }
    }
}

/// One event, with the inclusion proof of its history-log entry.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    params(("id" = String, Path, description = "Event id, `evt_<log_index>_<index>`", pattern = "^evt_(0|[1-9][0-9]*)_[0-9]+$")),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The event and its proof", body = EventProofView),
        (status = 400, description = "Malformed event id (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Missing or failing signature", body = super::ErrorResponse),
        (status = 403, description = "The key may not see this event (`not_authorized`)", body = super::ErrorResponse),
        (status = 404, description = "No such event (`not_found`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EventProofView>, ApiError> {
    let id: EventId = id
        .parse()
        .map_err(|e: couponcactus_chaincode::events::EventIdError| {
            ApiError::InvalidInput(e.to_string())
        })?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let event = store
            .event(id)?
            .ok_or_else(|| ApiError::NotFound(format!("no event {id}")))?;
        if !reader_sees(&reader, &event) {
            return Err(ApiError::Forbidden(format!(
                "key {} ({} of {}) may not read event {id}",
                reader.key,
                reader.record.role.name(),
                reader.record.org
            )));
        }
        let result = store
            .result_at(event.height, event.tx_index)?
            .ok_or_else(|| ApiError::Internal(format!("event {id}: no result at its position")))?;
        let leaf = HistoryLeaf {
            tx_id: result.tx_id,
            height: event.height,
            index: event.tx_index,
            outcome: result.outcome,
        };
        let proof = log_proof(store, leaf, event.log_index)?;
        Ok(Json(EventProofView { event, proof }))
    })
    .await
}

/// Streams events as server-sent events (`id:` the event id, `event:` its type, `data:`
/// its JSON), from `Last-Event-ID` or `after`, then live; a comment every 15 s keeps
/// idle connections open.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    params(EventsQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "`text/event-stream`: one message per event, in log order", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed cursor (query or `Last-Event-ID`), unknown type or bad pool id", body = super::ErrorResponse),
        (status = 401, description = "Missing or failing signature", body = super::ErrorResponse),
    )
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let last = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::InvalidInput("Last-Event-ID is not text".into()))
        })
        .transpose()?;
    let after = parse_cursor(last.or(query.after.as_deref()))?;
    let filter = Filter::parse(&query, reader)?;
    let follower = Follower {
        state,
        filter,
        cursor: after,
    };
    Ok(Sse::new(follower.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One SSE stream's position.
struct Follower {
    state: AppState,
    filter: Filter,
    cursor: Option<EventId>,
}

impl Follower {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures::stream::unfold(self, |mut f| async move {
            let batch = f.next_batch().await;
            Some((futures::stream::iter(batch), f))
        })
        .flatten()
    }

    /// The next events to send; waits for new blocks when caught up. A store error ends
    /// nothing: it is sent as an `error` message and retried after a pause.
    async fn next_batch(&mut self) -> Vec<Result<SseEvent, Infallible>> {
        let mut rx = self.state.node.events_tip().subscribe();
        loop {
            rx.borrow_and_update();
            let (node, filter, cursor) =
                (self.state.node.clone(), self.filter.clone(), self.cursor);
            let got = blocking(move || page(node.store(), cursor, STREAM_BATCH, &filter)).await;
            match got {
                Ok(scan) => {
                    self.cursor = scan.next;
                    if !scan.events.is_empty() {
                        return scan.events.iter().map(to_sse).collect();
                    }
                    if scan.exhausted && rx.changed().await.is_err() {
                        tokio::time::sleep(KEEP_ALIVE).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return vec![Ok(SseEvent::default().event("error").data(e.to_string()))];
                }
            }
        }
    }
}

fn to_sse(e: &LedgerEvent) -> Result<SseEvent, Infallible> {
    let data = serde_json::to_string(e).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"));
    Ok(SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.name())
        .data(data))
}

const _: () = assert!(MAX_ENTRIES_SCANNED >= MAX_EVENTS_PAGE);
