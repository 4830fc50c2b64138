//! The live feed of the org's redemptions: `GET /console/feed` (server-sent events,
//! session-authenticated) follows the node's event log from a cursor, keeping the
//! `coupon.redeemed` events the org sees ([`LedgerEvent::org_sees`]); [`recent`] gives the
//! latest ones for the page itself (what a browser without JS shows).

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use crate::events::MAX_EVENTS_PAGE;
use crate::storage::Store;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use couponcactus_chaincode::events::{EventId, EventType, LedgerEvent};
use couponcactus_chaincode::ids::OrgId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Log entries [`recent`] looks back over.
pub const RECENT_ENTRIES: u64 = 5_000;
/// Events one feed read takes from the store.
const BATCH: usize = 256;
/// Interval of the keep-alive comments.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One redemption as the feed shows it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct FeedItem {
    id: String,
    height: u64,
    time: String,
    pool: String,
    pool_name: String,
    store: String,
    channel: String,
    discount: String,
    partner: bool,
}

fn is_feed_event(org: &OrgId, e: &LedgerEvent) -> bool {
    e.kind == EventType::CouponRedeemed && e.org_sees(org)
}

fn item(store: &Store, e: &LedgerEvent) -> FeedItem {
    let pool_name = e
        .pool
        .as_ref()
        .and_then(|p| store.get(&StateKey::Pool(p.clone())).ok().flatten())
        .and_then(|v| match v {
            StateValue::Pool(p) => Some(p.spec.name),
            _ => None,
        })
        .unwrap_or_default();
    let discount = e
        .amounts
        .as_ref()
        .and_then(|a| {
            let d = i64::try_from(a.discount_minor?).ok()?;
            Some(view::money(d, &a.currency.to_string()))
        })
        .unwrap_or_default();
    FeedItem {
        id: e.id.to_string(),
        height: e.height,
        time: view::time(e.time_ms),
        pool: e.pool.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        pool_name,
        store: e.store.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        channel: e
            .channel
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        discount,
        partner: e.is_partner_redemption(),
    }
}

/// The latest `n` redemptions of `org` (newest first) among the last [`RECENT_ENTRIES`]
/// log entries, and the cursor of the log's end (where the live feed starts).
pub(super) fn recent(
    store: &Store,
    org: &OrgId,
    log_size: u64,
    n: usize,
) -> Result<(Vec<FeedItem>, Option<EventId>), PageError> {
    let start = log_size.saturating_sub(RECENT_ENTRIES);
    let mut cursor = start.checked_sub(1).map(|l| EventId {
        log_index: l,
        index: u16::MAX,
    });
    let mut kept: std::collections::VecDeque<LedgerEvent> = Default::default();
    // Each page scans at least one entry; the window bounds the pages.
    for _ in 0..=RECENT_ENTRIES {
        let scan = store.events_after(cursor, MAX_EVENTS_PAGE, |e| is_feed_event(org, e))?;
        for e in scan.events.into_iter().filter(|_| n > 0) {
            if kept.len() == n {
                kept.pop_front();
            }
            kept.push_back(e);
        }
        cursor = scan.next;
        if scan.exhausted {
            break;
        }
    }
    let items = kept.iter().rev().map(|e| item(store, e)).collect();
    Ok((items, cursor))
}

/// Query of `GET /console/feed`.
#[derive(Debug, Deserialize)]
pub(super) struct FeedQuery {
    after: Option<String>,
}

fn parse_cursor(text: Option<&str>) -> Result<Option<EventId>, PageError> {
    text.filter(|t| !t.is_empty())
        .map(|t| t.trim().parse::<EventId>())
        .transpose()
        .map_err(|e| PageError::BadRequest(e.to_string()))
}

/// `GET /console/feed`: the org's redemptions after `Last-Event-ID` or `after` (from the
/// log's end without), as they are applied; ends when the session does.
pub(super) async fn stream(
    State(console): State<Arc<Console>>,
    staff: Staff,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, PageError> {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let mut cursor = parse_cursor(last.or(query.after.as_deref()))?;
    if cursor.is_none() {
        let (c, org) = (console.clone(), console.org.clone());
        let size = console.node.events_tip().get();
        cursor = tokio::task::spawn_blocking(move || recent(c.node.store(), &org, size, 0))
            .await
            .map_err(|e| PageError::Internal(format!("feed: {e}")))??
            .1;
    }
    let follower = Follower {
        console,
        session: staff.token_hash,
        cursor,
        ended: false,
    };
    Ok(Sse::new(follower.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One feed's position.
struct Follower {
    console: Arc<Console>,
    session: [u8; 32],
    cursor: Option<EventId>,
    ended: bool,
}

impl Follower {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures::stream::unfold(self, |mut f| async move {
            if f.ended {
                return None;
            }
            let batch = f.next_batch().await;
            Some((futures::stream::iter(batch), f))
        })
        .flatten()
    }

    /// The next messages: redemptions, an `error`, or `signed-out` (then the stream ends).
    async fn next_batch(&mut self) -> Vec<Result<SseEvent, Infallible>> {
        let mut rx = self.console.node.events_tip().subscribe();
        loop {
            if !self.console.still_live(self.session).await {
                self.ended = true;
                return vec![Ok(SseEvent::default().event("signed-out").data("{}"))];
            }
            rx.borrow_and_update();
            let (c, cursor) = (self.console.clone(), self.cursor);
            let got = tokio::task::spawn_blocking(move || {
                let store = c.node.store();
                let scan = store.events_after(cursor, BATCH, |e| is_feed_event(&c.org, e))?;
                let items: Vec<FeedItem> = scan.events.iter().map(|e| item(store, e)).collect();
                Ok::<_, PageError>((scan.next, scan.exhausted, items))
            })
            .await;
            match got {
                Ok(Ok((next, exhausted, items))) => {
                    self.cursor = next;
                    if !items.is_empty() {
                        return items.iter().map(message).collect();
                    }
                    if exhausted && rx.changed().await.is_err() {
                        tokio::time::sleep(KEEP_ALIVE).await;
                    }
                }
                Ok(Err(e)) => return self.failed(e.to_string()).await,
                Err(e) => return self.failed(e.to_string()).await,
            }
        }
    }

    async fn failed(&mut self, why: String) -> Vec<Result<SseEvent, Infallible>> {
        tracing::warn!(error = %why, "console feed read failed; retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
        vec![Ok(SseEvent::default().event("error").data("{}"))]
    }
}

fn message(item: &FeedItem) -> Result<SseEvent, Infallible> {
    let data = serde_json::to_string(item).unwrap_or_else(|_| "{}".into());
    Ok(SseEvent::default()
        .id(item.id.clone())
        .event("redeemed")
        .data(data))
}
