//! Store behaviour: endpoints, secrets and rotation, cursors, retry state, replays,
//! delivery log and pruning, and durability across reopen.

use super::*;

fn org() -> OrgId {
    OrgId("acme".into())
}

fn open(dir: &tempfile::TempDir) -> WebhookStore {
    WebhookStore::open(&dir.path().join("webhooks.sqlite")).unwrap()
}

fn attempt(log_index: u64, n: u32, status: Option<u16>, time_ms: u64) -> Attempt {
    Attempt {
        event: EventId {
            log_index,
            index: 0,
        },
        alert: None,
        attempt: n,
        replay: None,
        status,
        error: status.filter(|s| *s >= 300).map(|s| format!("HTTP {s}")),
        latency_ms: 3,
        time_ms,
    }
}

#[test]
fn create_list_and_org_scoping() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let types = [
        EventType::CouponRedeemed.name().to_string(),
        EventType::TxRejected.name().to_string(),
    ];
    let (e, secret) = s
        .create(&org(), "http://h.example/x", &types, "bi", None, 1_000)
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(e.id.starts_with("ep_") && e.enabled && e.cursor.is_none());
    assert_eq!(e.types, types);
    assert_eq!(s.list(Some(&org()), 1_000).unwrap(), vec![e.clone()]);
    let other = OrgId("globex".into());
    assert!(s.list(Some(&other), 1_000).unwrap().is_empty());
    assert!(s.get(&other, &e.id, 1_000).unwrap().is_none());
    assert!(matches!(
        s.rotate(&other, &e.id, 10, 1_000),
        Err(WebhookError::NotFound(_))
    ));
    assert!(matches!(
        s.set_enabled(&other, &e.id, false, None, 1),
        Err(WebhookError::NotFound(_))
    ));
    assert!(matches!(
        s.deliveries(&other, &e.id, 10, None, 1),
        Err(WebhookError::NotFound(_))
    ));
    assert_eq!(s.valid_secrets(&e.id, 1_000).unwrap(), vec![secret]);
}

#[test]
fn rotation_keeps_the_old_secret_until_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (e, old) = s
        .create(&org(), "http://h.example/", &[], "", None, 0)
        .unwrap();
    let new = s.rotate(&org(), &e.id, 86_400_000, 1_000).unwrap();
    assert_ne!(old, new);
    assert_eq!(
        s.valid_secrets(&e.id, 1_000).unwrap(),
        vec![new.clone(), old.clone()]
    );
    assert_eq!(
        s.get(&org(), &e.id, 1_000)
            .unwrap()
            .unwrap()
            .old_secret_expires_ms,
        Some(86_401_000)
    );
    assert_eq!(s.valid_secrets(&e.id, 86_400_999).unwrap().len(), 2);
    assert_eq!(
        s.valid_secrets(&e.id, 86_401_000).unwrap(),
        vec![new.clone()]
    );
    // Rotating twice: the first secret keeps its (earlier) expiry, the second gets one.
    let newest = s.rotate(&org(), &e.id, 86_400_000, 2_000).unwrap();
    let valid = s.valid_secrets(&e.id, 2_000).unwrap();
    assert_eq!(valid, vec![newest.clone(), new.clone(), old]);
    assert_eq!(
        s.valid_secrets(&e.id, 86_401_500).unwrap(),
        vec![newest, new]
    );
}

#[test]
fn success_moves_the_cursor_failure_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (e, _) = s
        .create(&org(), "http://h.example/", &[], "", None, 0)
        .unwrap();
    s.record_failure(&e.id, &attempt(5, 1, Some(500), 100), 5_100, 100)
        .unwrap();
    let got = s.endpoint(&e.id, 100).unwrap().unwrap();
    assert_eq!(
        (
            got.cursor,
            got.attempts,
            got.failing_since_ms,
            got.next_attempt_ms
        ),
        (None, 1, Some(100), Some(5_100))
    );
    s.record_failure(&e.id, &attempt(5, 2, None, 5_200), 300_000, 100)
        .unwrap();
    let got = s.endpoint(&e.id, 5_200).unwrap().unwrap();
    assert_eq!((got.attempts, got.failing_since_ms), (2, Some(100)));
    s.record_success(&e.id, &attempt(5, 3, Some(204), 300_000), 100)
        .unwrap();
    let got = s.endpoint(&e.id, 300_000).unwrap().unwrap();
    assert_eq!(
        got.cursor,
        Some(EventId {
            log_index: 5,
            index: 0
        })
    );
    assert_eq!(
        (
            got.attempts,
            got.failing_since_ms,
            got.next_attempt_ms,
            got.delivered
        ),
        (0, None, None, 1)
    );
    let log = s.deliveries(&org(), &e.id, 10, None, 0).unwrap();
    let statuses: Vec<_> = log.iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(statuses, vec![(3, Some(204)), (2, None), (1, Some(500))]);
    assert_eq!(
        s.deliveries(&org(), &e.id, 10, Some(log[1].id), 0)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn disable_and_enable_clear_the_retry_state() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (e, _) = s
        .create(&org(), "http://h.example/", &[], "", None, 0)
        .unwrap();
    s.record_failure(&e.id, &attempt(1, 1, Some(500), 10), 99_999, 100)
        .unwrap();
    let off = s
        .set_enabled(&org(), &e.id, false, Some("maintenance"), 20)
        .unwrap();
    assert!(!off.enabled);
    assert_eq!(off.disabled_reason.as_deref(), Some("maintenance"));
    let on = s.set_enabled(&org(), &e.id, true, None, 30).unwrap();
    assert!(on.enabled && on.disabled_reason.is_none());
    assert_eq!((on.attempts, on.next_attempt_ms), (0, None));
}

#[test]
fn replays_queue_in_order_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (e, _) = s
        .create(&org(), "http://h.example/", &[], "", None, 0)
        .unwrap();
    assert!(s.next_replay(&e.id).unwrap().is_none());
    s.add_replay(&org(), &e.id, 2, 5, 1).unwrap();
    s.add_replay(&org(), &e.id, 7, 9, 2).unwrap();
    let r = s.next_replay(&e.id).unwrap().unwrap();
    assert_eq!((r.from_height, r.to_height, r.cursor), (2, 5, None));
    let mut a = attempt(3, 1, Some(200), 5);
    a.replay = Some(r.id);
    s.record_success(&e.id, &a, 100).unwrap();
    assert_eq!(s.next_replay(&e.id).unwrap().unwrap().cursor, Some(a.event));
    // A replay's success moves the replay's cursor, not the live one.
    assert_eq!(s.endpoint(&e.id, 5).unwrap().unwrap().cursor, None);
    assert!(s.get(&org(), &e.id, 5).unwrap().unwrap().pending_replays == 2);
    s.advance_replay(r.id, None).unwrap();
    assert_eq!(s.next_replay(&e.id).unwrap().unwrap().from_height, 7);
}

#[test]
fn the_delivery_log_is_pruned_to_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (e, _) = s
        .create(&org(), "http://h.example/", &[], "", None, 0)
        .unwrap();
    for i in 0..(PRUNE_EVERY + 10) {
        s.record_success(&e.id, &attempt(i, 1, Some(200), i), 50)
            .unwrap();
    }
    let rows = s.deliveries(&org(), &e.id, 1_000, None, 0).unwrap();
    assert!(rows.len() <= 50 + 10, "{} rows kept", rows.len());
    assert_eq!(rows[0].event_id, format!("evt_{}_0", PRUNE_EVERY + 9));
    assert_eq!(s.prune(&e.id, 5).unwrap(), rows.len() - 5);
    assert_eq!(
        s.deliveries(&org(), &e.id, 1_000, None, 0).unwrap().len(),
        5
    );
}

#[test]
fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let s = open(&dir);
        let (e, _) = s
            .create(
                &org(),
                "http://h.example/",
                &[],
                "",
                Some(EventId {
                    log_index: 9,
                    index: 65_535,
                }),
                0,
            )
            .unwrap();
        s.record_success(&e.id, &attempt(12, 1, Some(200), 1), 100)
            .unwrap();
        e.id
    };
    let s = open(&dir);
    let e = s.endpoint(&id, 0).unwrap().unwrap();
    assert_eq!(
        e.cursor,
        Some(EventId {
            log_index: 12,
            index: 0
        })
    );
    assert_eq!(e.delivered, 1);
}

fn alert_attempt(seq: i64, id: &str) -> Attempt {
    Attempt {
        alert: Some((seq, id.to_string())),
        ..attempt(0, 1, Some(200), 5)
    }
}

#[test]
fn alerts_reach_endpoints_registered_before_them_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let row = |id: &str| (id.to_string(), 7, format!("{{\"id\":\"{id}\"}}"));
    assert_eq!(s.enqueue_alerts(&[row("al_old")]).unwrap(), 1);
    let (all, _) = s
        .create(&org(), "http://h.example/", &[], "", None, 0)
        .unwrap();
    let only = [crate::webhooks::ALERT_TYPE.to_string()];
    let (alerts, _) = s
        .create(&org(), "http://h.example/a", &only, "", None, 0)
        .unwrap();
    let redeemed = [EventType::CouponRedeemed.name().to_string()];
    let (none, _) = s
        .create(&org(), "http://h.example/r", &redeemed, "", None, 0)
        .unwrap();
    assert!(all.wants_alerts() && alerts.wants_alerts() && !none.wants_alerts());
    assert!(all.wants(EventType::CouponRedeemed) && !alerts.wants(EventType::CouponRedeemed));
    assert!(
        s.alerts_after(&all.id, 10).unwrap().is_empty(),
        "older alerts are not sent"
    );
    // The same id twice is one alert.
    assert_eq!(
        s.enqueue_alerts(&[row("al_1"), row("al_2"), row("al_1")])
            .unwrap(),
        2
    );
    let pending = s.alerts_after(&alerts.id, 10).unwrap();
    assert_eq!(
        pending.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["al_1", "al_2"]
    );
    s.record_success(&alerts.id, &alert_attempt(pending[0].seq, "al_1"), 100)
        .unwrap();
    let left = s.alerts_after(&alerts.id, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "al_2");
    // The other endpoint's cursor did not move; the log shows the alert id.
    assert_eq!(s.alerts_after(&all.id, 10).unwrap().len(), 2);
    let log = s.deliveries(&org(), &alerts.id, 10, None, 0).unwrap();
    assert_eq!(log[0].event_id, "al_1");
    // The event cursor did not move either.
    assert_eq!(s.get(&org(), &alerts.id, 0).unwrap().unwrap().cursor, None);
}
