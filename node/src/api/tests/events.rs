//! The event API against a real one-node chain: pages by cursor and their filters, what
//! each role sees, the long poll, one event with its proof, the SSE stream resumed with
//! `Last-Event-ID`, bad cursors and unsigned requests, the event log written again at
//! open for a database from before it (same events), and tx memos on txs and events.

use super::*;
use couponcactus_chaincode::events::{EventDetail, EventId, EventType, EventsPage, LedgerEvent};

async fn page(t: &TestNode, signer: &SigningKey, query: &str) -> EventsPage {
    let (status, body) = t.signed_get(signer, &format!("/v1/events{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    from_json(&body)
}

/// Every event `signer` sees, page by page (`limit` per page).
async fn all(t: &TestNode, signer: &SigningKey, filter: &str, limit: usize) -> Vec<LedgerEvent> {
    let mut out = Vec::new();
    let mut after: Option<EventId> = None;
    for _ in 0..1_000 {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let p = page(t, signer, &format!("?limit={limit}{filter}{cursor}")).await;
        if p.next == after {
            return out;
        }
        out.extend(p.events);
        after = p.next;
    }
    panic!("paging did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_log_and_each_role_sees_its_own() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    t.applied(&key(TERMINAL), redeem(&pool, 0, 1)).await;
    let (status, _) = t.submit(&t.tx(&key(TERMINAL), redeem(&pool, 0, 1))).await;
    assert_eq!(status, 422, "a second redemption is rejected");

    let everything = all(&t, &key(AUDITOR), "", 1_000).await;
    let paged = all(&t, &key(AUDITOR), "", 3).await;
    assert_eq!(
        everything, paged,
        "pages of 3 give the same log as one page"
    );
    for pair in everything.windows(2) {
        assert!(pair[0].id < pair[1].id);
    }
    let log_size = t.get("/v1/status").await.1["log_size"].as_u64().unwrap();
    assert_eq!(everything.last().unwrap().log_index, log_size - 1);
    let kinds: Vec<EventType> = everything.iter().map(|e| e.kind).collect();
    for k in [
        EventType::KeyRegistered,
        EventType::GovernanceApplied,
        EventType::PoolCreated,
        EventType::CodesIssued,
        EventType::CouponAllocated,
        EventType::CouponRedeemed,
        EventType::TxRejected,
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    // Filters: by type and pool; `next` moves past what was filtered out.
    let redeemed = all(
        &t,
        &key(AUDITOR),
        "&types=coupon.redeemed,tx.rejected",
        1_000,
    )
    .await;
    assert_eq!(redeemed.len(), 2, "{redeemed:#?}");
    assert!(
        matches!(&redeemed[1].detail, EventDetail::Rejected { rejection, .. } if rejection.reason == couponcactus_chaincode::reject::RejectReason::AlreadyRedeemed)
    );
    let p = page(&t, &key(AUDITOR), "?types=pool.created").await;
    assert_eq!(p.events.len(), 1);
    assert_eq!(
        p.next,
        everything.last().map(|e| e.id),
        "scanned to the end"
    );
    // One member's events: the allocation to member 1 and what followed, nothing else.
    let of_member = all(&t, &key(AUDITOR), &format!("&member={}", member(1)), 1_000).await;
    assert!(!of_member.is_empty());
    assert!(of_member.iter().all(|e| e.member == Some(member(1))));
    let expected = everything
        .iter()
        .filter(|e| e.member == Some(member(1)))
        .count();
    assert_eq!(of_member.len(), expected);
    let of_pool = all(&t, &key(AUDITOR), &format!("&pool={pool}"), 1_000).await;
    assert!(of_pool.iter().all(|e| e.pool.as_ref() == Some(&pool)));
    let seqs: Vec<u64> = of_pool.iter().map(|e| e.pool_seq.unwrap()).collect();
    assert_eq!(seqs, (1..=of_pool.len() as u64).collect::<Vec<_>>());

    // Roles: acme's issuer sees acme's and governance events; initech's issuer not acme's
    // pool; the terminal its own txs; globex's partner key only what it signed (nothing).
    let acme = all(&t, &key(ISSUER), "", 1_000).await;
    assert!(acme.iter().any(|e| e.kind == EventType::CouponRedeemed));
    let initech = all(&t, &key(OTHER_ISSUER), "", 1_000).await;
    assert!(
        initech.iter().all(|e| e.pool.is_none() || e.is_public()),
        "{initech:#?}"
    );
    assert!(
        initech
            .iter()
            .any(|e| e.kind == EventType::GovernanceApplied)
    );
    let terminal = all(&t, &key(TERMINAL), "", 1_000).await;
    assert_eq!(
        terminal.len(),
        2 + 3,
        "its redemption, its rejection and the governance events: {terminal:#?}"
    );
    assert!(
        terminal
            .iter()
            .filter(|e| !e.is_public())
            .all(|e| e.signer == public(TERMINAL))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_told_why() {
    let t = TestNode::start().await;
    t.setup().await;
    let (status, body) = t.get("/v1/events").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    for (query, needle) in [
        ("?after=12", "malformed event id"),
        ("?after=evt_01_0", "malformed event id"),
        ("?types=coupon.eaten", "unknown event type"),
        ("?limit=0", "limit must be 1 to 1000"),
        ("?limit=1001", "limit must be 1 to 1000"),
        ("?wait=31", "wait must be at most 30"),
        ("?pool=Not%20A%20Pool", "pool"),
        ("?member=abc", "member"),
    ] {
        let (status, body) = t
            .signed_get(&key(AUDITOR), &format!("/v1/events{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let (status, _) = t.signed_get(&key(AUDITOR), "/v1/events/evt_999999_0").await;
    assert_eq!(status, 404);
    let (status, body) = t.signed_get(&key(AUDITOR), "/v1/events/nope").await;
    assert_eq!(status, 400, "{body}");
    // A cursor past the tip: an empty page that keeps the cursor.
    let p = page(&t, &key(AUDITOR), "?after=evt_999999_0").await;
    assert!(p.events.is_empty());
    assert_eq!(
        p.next,
        Some(EventId {
            log_index: 999_999,
            index: 0
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_comes_with_the_proof_of_its_log_entry() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    t.applied(&key(TERMINAL), redeem(&pool, 0, 1)).await;
    let redeemed = all(&t, &key(AUDITOR), "&types=coupon.redeemed", 1_000).await;
    let id = redeemed[0].id;
    let (status, body) = t
        .signed_get(&key(ISSUER), &format!("/v1/events/{id}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let event: LedgerEvent = from_json(&body["event"]);
    assert_eq!(event, redeemed[0]);
    let leaf: HistoryLeaf = from_json(&body["proof"]["leaf"]);
    let proof: Vec<Hash32> = from_json(&body["proof"]["proof"]);
    let root: Hash32 = from_json(&body["proof"]["log_root"]);
    let size = body["proof"]["log_size"].as_u64().unwrap();
    verify_inclusion(&leaf.hash(), event.log_index, size, &proof, &root).unwrap();
    let EventDetail::Applied { event: recorded } = &event.detail else {
        panic!("{event:?}")
    };
    assert_eq!(
        leaf.outcome.events().unwrap()[usize::from(id.index)],
        *recorded
    );
    // initech may not see acme's redemption.
    let (status, body) = t
        .signed_get(&key(OTHER_ISSUER), &format!("/v1/events/{id}"))
        .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_answers_when_a_block_lands() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let last = all(&t, &key(AUDITOR), "", 1_000).await.last().unwrap().id;
    let path = format!("/v1/events?after={last}&wait=20");
    let auditor = key(AUDITOR);
    let waiting = t.signed_get(&auditor, &path);
    let redeem_later = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        t.applied(&key(TERMINAL), redeem(&pool, 0, 1)).await
    };
    let ((status, body), _) = tokio::join!(waiting, redeem_later);
    assert_eq!(status, 200, "{body}");
    let p: EventsPage = from_json(&body);
    assert_eq!(p.events.len(), 1, "{body}");
    assert_eq!(p.events[0].kind, EventType::CouponRedeemed);
    // Nothing follows: a short wait ends empty with the same cursor.
    let p = page(
        &t,
        &key(AUDITOR),
        &format!("?after={}&wait=1", p.events[0].id),
    )
    .await;
    assert!(p.events.is_empty());
}

/// Reads SSE messages from `response` until `n` events arrived: (id, type, data).
async fn sse_events(
    mut response: reqwest::Response,
    n: usize,
) -> Vec<(String, String, LedgerEvent)> {
    let (mut text, mut out) = (String::new(), Vec::new());
    while out.len() < n {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), response.chunk())
            .await
            .expect("an SSE message within 30 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                message
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_string)
            };
            if let (Some(id), Some(kind), Some(data)) =
                (field("id: "), field("event: "), field("data: "))
            {
                out.push((id, kind, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_resumes_after_the_last_event_id() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let everything = all(&t, &key(AUDITOR), "", 1_000).await;
    let signed = |path: &str, last: Option<&str>| {
        let time = now_ms();
        let signature = sign_read(&key(AUDITOR), &t.chain_id, time, "GET", path);
        let mut request = t
            .http
            .get(format!("{}{path}", t.url))
            .header(
                KEY_HEADER,
                hex::encode(key(AUDITOR).verifying_key().to_bytes()),
            )
            .header(TIME_HEADER, time.to_string())
            .header(SIGNATURE_HEADER, signature.to_hex());
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    let response = signed("/v1/events/stream", None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = sse_events(response, 3).await;
    for ((id, kind, event), expected) in first.iter().zip(&everything) {
        assert_eq!(
            (id, kind.as_str()),
            (&expected.id.to_string(), expected.kind.name())
        );
        assert_eq!(event, expected);
    }
    // Reconnect with Last-Event-ID: the stream goes on from the next event, then live.
    let resume = first[2].0.clone();
    let response = signed("/v1/events/stream?types=coupon.redeemed", Some(&resume))
        .await
        .unwrap();
    let live = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        t.applied(&key(TERMINAL), redeem(&pool, 0, 1)).await
    };
    let (got, _) = tokio::join!(sse_events(response, 1), live);
    assert_eq!(got[0].2.kind, EventType::CouponRedeemed);
    assert!(got[0].2.id > everything[2].id);
    let bad = signed("/v1/events/stream", Some("evt_x")).await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_the_event_log_gets_the_same_events_at_open() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    t.applied(&key(TERMINAL), redeem(&pool, 0, 1)).await;
    let before = all(&t, &key(AUDITOR), "", 1_000).await;
    let store = t.node.store().clone();
    // Forget the event log as an older cactusd would not have written it, then index again.
    let mut batch = rocksdb::WriteBatch::default();
    for item in store.db().iterator_cf(
        store.handle(crate::storage::cf::EVENTS),
        rocksdb::IteratorMode::Start,
    ) {
        let (k, _) = item.unwrap();
        batch.delete_cf(store.handle(crate::storage::cf::EVENTS), k);
    }
    batch.delete_cf(
        store.handle(crate::storage::cf::META),
        crate::events::META_EVENTS_INDEXED,
    );
    store.write_synced(batch).unwrap();
    assert!(all(&t, &key(AUDITOR), "", 1_000).await.is_empty());
    store.index_events().unwrap();
    assert_eq!(all(&t, &key(AUDITOR), "", 1_000).await, before);
}

/// `tx` as JSON with its memo set to `memo` (valid or not: the JSON is built by hand).
fn with_memo_json(tx: &SignedTx, memo: &str) -> Value {
    let mut value = serde_json::to_value(tx).unwrap();
    value["body"]["memo"] = Value::String(memo.to_string());
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memo_is_kept_on_the_tx_and_its_events_and_a_malformed_one_is_refused() {
    use couponcactus_chaincode::memo::Memo;
    let t = TestNode::start().await;
    let pool = t.setup().await;
    let memo = Memo::new("staff:u-42 (Zoë)").unwrap();
    let pause = TxKind::TransitionPool(TransitionPoolTx {
        pool: pool.clone(),
        action: PoolAction::Pause,
    });
    let paused = t
        .tx(&key(ISSUER), pause.clone())
        .body
        .with_memo(Some(memo.clone()))
        .sign(&key(ISSUER));
    let (status, body) = t.submit(&paused).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("applied")),
        "{body}"
    );
    // A rejected tx's event carries its memo too (the pool is paused: pausing again fails).
    let again = t
        .tx(&key(ISSUER), pause)
        .body
        .with_memo(Some(memo.clone()))
        .sign(&key(ISSUER));
    let (status, body) = t.submit(&again).await;
    assert_eq!(status, 422, "{body}");

    // The tx view shows the memo in the signed body.
    let (status, body) = t
        .signed_get(&key(ISSUER), &format!("/v1/txs/{}", paused.id()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tx"]["body"]["memo"], memo.as_str(), "{body}");
    // Its events, and the rejected tx's, carry it; events of txs without one show null.
    let events = all(&t, &key(ISSUER), "", 1_000).await;
    for tx in [&paused, &again] {
        let of_tx: Vec<&LedgerEvent> = events.iter().filter(|e| e.tx_id == tx.id()).collect();
        assert_eq!(of_tx.len(), 1, "{events:#?}");
        assert_eq!(of_tx[0].memo.as_ref(), Some(&memo));
    }
    assert_eq!(events.iter().filter(|e| e.memo.is_some()).count(), 2);
    let p = page(&t, &key(ISSUER), "?types=pool.transitioned").await;
    let (_, raw) = t
        .signed_get(&key(ISSUER), "/v1/events?types=pool.transitioned")
        .await;
    assert_eq!(raw["events"][0]["memo"], Value::Null, "{raw}");
    assert_eq!(p.events.last().unwrap().memo.as_ref(), Some(&memo));

    // Malformed memos: refused before anything else, with what is wrong; nothing changes.
    let height = t.height().await;
    let base = t.tx(&key(ISSUER), activate(&pool));
    for (memo, why) in [
        ("x".repeat(129), "at most 128 bytes"),
        ("line\nbreak".to_string(), "control character U+000A"),
        (String::new(), "must not be empty"),
        ("   ".to_string(), "only whitespace"),
    ] {
        let (status, body) = t.post("/v1/txs", &with_memo_json(&base, &memo)).await;
        assert_eq!(status, 400, "{memo:?}: {body}");
        assert_eq!(body["error"]["code"], "malformed", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("invalid memo") && message.contains(why),
            "{message}"
        );
    }
    // The same in canonical bytes: a memo "ok" turned into "o\n" does not decode.
    let ok = base
        .body
        .clone()
        .with_memo(Some(Memo::new("ok").unwrap()))
        .sign(&key(ISSUER));
    let mut bytes = encode(&ok);
    let at = bytes.len() - 96 - 1; // the memo's last byte, before signer and signature
    assert_eq!(bytes[at], b'k');
    bytes[at] = b'\n';
    let response = t
        .http
        .post(format!("{}/v1/txs", t.url))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("invalid memo: control character U+000A"),
        "{message}"
    );
    assert_eq!(t.height().await, height, "nothing was committed");
}
