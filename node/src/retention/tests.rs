//! Retention over real stores: rows just past the window go, rows just inside stay, and
//! nothing a legal hold covers (a hold of one class, of one member, of everything) goes;
//! bad configuration and bad holds are refused.

use super::classes::{AccessLogEntries, AnalyticsDetail, WebhookDeliveries};
use super::holds::NewHold;
use super::*;
use crate::access_log::{AccessLog, Actor, Entry};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// A pass's time.
const NOW: u64 = 1_800_000_000_000;
const ALICE: &str = "aa00000000000000000000000000000000000000000000000000000000000001";
const BOB: &str = "bb00000000000000000000000000000000000000000000000000000000000002";

fn cutoff(class: &str) -> u64 {
    NOW - RetentionConfig::default().window_days(class).unwrap() * DAY_MS
}

/// The three stores of a node's data directory, with rows around each class's cutoff.
struct Fixture {
    dir: tempfile::TempDir,
    retention: Retention,
    log: AccessLog,
}

fn entry(time_ms: u64, member: Option<&str>) -> Entry {
    let mut targets = BTreeMap::new();
    if let Some(m) = member {
        targets.insert("member".to_string(), m.to_string());
    }
    Entry {
        id: 0,
        time_ms,
        actor: Actor::key(
            "ab".repeat(32),
            Some("acme".into()),
            Some("org_admin".into()),
        ),
        method: "GET".into(),
        route: "/v1/members/{member}/wallet".into(),
        targets,
        status: 200,
        duration_ms: 1,
    }
}

fn fixture(config: RetentionConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    // Access log: outside, at and inside the cutoff; outside for Alice and for Bob.
    let (log, _writer) = AccessLog::open(dir.path(), None).unwrap();
    let c = cutoff(ACCESS_LOG);
    let entries = [
        entry(c - 1, None),
        entry(c, None),
        entry(c + 1, None),
        entry(c - 5, Some(ALICE)),
        entry(c - 5, Some(BOB)),
    ];
    log.store().insert(&entries).unwrap();
    // Webhook delivery log: one row just outside, one just inside.
    crate::webhooks::store::WebhookStore::open(&dir.path().join(crate::webhooks::STORE_FILE))
        .unwrap();
    let hooks = Connection::open(dir.path().join(crate::webhooks::STORE_FILE)).unwrap();
    let c = cutoff(WEBHOOK_DELIVERIES) as i64;
    for t in [c - 1, c] {
        hooks
            .execute(
                "INSERT INTO deliveries (endpoint, event_id, attempt, replay, status, error, latency_ms, time_ms) \
                 VALUES ('ep_0000000000000001', '1.0', 1, 0, 200, NULL, 3, ?1)",
                params![t],
            )
            .unwrap();
    }
    analytics_rows(&dir.path().join(crate::analytics::ANALYTICS_FILE));
    let retention = Retention::open(dir.path(), config).unwrap();
    retention.add_class(Arc::new(WebhookDeliveries::new(dir.path())));
    retention.add_class(Arc::new(AccessLogEntries::new(log.store().clone())));
    retention.add_class(Arc::new(AnalyticsDetail::new(
        dir.path().join(crate::analytics::ANALYTICS_FILE),
    )));
    Fixture {
        dir,
        retention,
        log,
    }
}

/// Redemptions just outside and inside the cutoff (Alice's and Bob's outside), and member
/// days and checkouts the day before the cutoff's day and on it.
fn analytics_rows(path: &std::path::Path) {
    crate::analytics::Analytics::open(path).unwrap();
    let db = Connection::open(path).unwrap();
    let c = cutoff(ANALYTICS_DETAIL) as i64;
    let rows: [(i64, Option<&str>); 4] = [
        (c - 1, None),
        (c, None),
        (c - 1, Some(ALICE)),
        (c - 1, Some(BOB)),
    ];
    for (i, (t, member)) in rows.iter().enumerate() {
        db.execute(
            "INSERT INTO redemptions (log_index, idx, height, time_ms, tx_id, tx_key, org, pool, token, \
             store, channel, terminal, signer_org, currency, order_total, eligible, discount, member) \
             VALUES (?1, 0, 1, ?2, 'tx', ?1, 'acme', 'spring', NULL, 's', 'pos', 't', 'acme', 'EUR', 100, 100, 10, ?3)",
            params![i as i64, t, member],
        )
        .unwrap();
    }
    let day = c / DAY_MS as i64;
    for (d, member) in [(day - 1, ALICE), (day - 1, BOB), (day, BOB)] {
        db.execute(
            "INSERT INTO member_days (org, member, day, kind, pool, store, n, gross, discount, points) \
             VALUES ('acme', ?1, ?2, 'redeemed', 'spring', 's', 1, 100, 10, 0)",
            params![member, d],
        )
        .unwrap();
        db.execute(
            "INSERT INTO checkouts (tx_key, tx_id, org, member, day, store, gross, discount) \
             VALUES (?1, ?2, 'acme', ?2, ?1, 's', 100, 10)",
            params![d, member],
        )
        .unwrap();
    }
}

fn count(fx: &Fixture, file: &str, table: &str) -> i64 {
    let db = Connection::open(fx.dir.path().join(file)).unwrap();
    db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn hold(fx: &Fixture, class: &str, member: Option<&str>) -> u64 {
    let new = NewHold::new(class, member, "case 2026-17").unwrap();
    fx.retention.store().place(&new, "cli", NOW).unwrap().id
}

#[test]
fn a_pass_deletes_exactly_what_is_past_each_window() {
    let fx = fixture(RetentionConfig::default());
    let report = fx.retention.pass(NOW).unwrap();
    // Access log: the one just outside and Alice's and Bob's; at and inside the cutoff stay.
    assert_eq!(report.deleted[ACCESS_LOG], 3);
    let left: Vec<u64> = fx
        .log
        .store()
        .list(&crate::access_log::store::ListQuery {
            to_ms: u64::MAX,
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|e| e.time_ms)
        .collect();
    assert_eq!(left, [cutoff(ACCESS_LOG), cutoff(ACCESS_LOG) + 1]);
    assert_eq!(report.deleted[WEBHOOK_DELIVERIES], 1);
    assert_eq!(count(&fx, crate::webhooks::STORE_FILE, "deliveries"), 1);
    // Analytics: 3 redemptions, 2 member days and 2 checkouts of the day before.
    assert_eq!(report.deleted[ANALYTICS_DETAIL], 7);
    let a = crate::analytics::ANALYTICS_FILE;
    assert_eq!(
        (
            count(&fx, a, "redemptions"),
            count(&fx, a, "member_days"),
            count(&fx, a, "checkouts")
        ),
        (1, 1, 1)
    );
    assert!(!report.more_due);
    // Recorded, and a second pass finds nothing left.
    let run = fx.retention.store().run(ACCESS_LOG).unwrap().unwrap();
    assert_eq!(
        (run.last_run_ms, run.last_deleted, run.deleted_total),
        (NOW, 3, 3)
    );
    let again = fx.retention.pass(NOW).unwrap();
    assert!(again.deleted.values().all(|n| *n == 0), "{again:?}");
    assert_eq!(
        fx.retention
            .store()
            .run(ACCESS_LOG)
            .unwrap()
            .unwrap()
            .deleted_total,
        3
    );
    assert_eq!(fx.retention.store().last_pass().unwrap(), Some(NOW));
}

#[test]
fn a_hold_on_one_class_keeps_that_class_only() {
    let fx = fixture(RetentionConfig::default());
    hold(&fx, ACCESS_LOG, None);
    let report = fx.retention.pass(NOW).unwrap();
    assert_eq!(report.deleted[ACCESS_LOG], 0);
    assert_eq!(fx.log.store().count().unwrap(), 5);
    assert_eq!(report.deleted[WEBHOOK_DELIVERIES], 1);
    assert_eq!(report.deleted[ANALYTICS_DETAIL], 7);
}

#[test]
fn a_hold_on_one_member_keeps_that_members_rows_only() {
    let fx = fixture(RetentionConfig::default());
    hold(&fx, ACCESS_LOG, Some(ALICE));
    // Upper case is the same member.
    hold(&fx, ANALYTICS_DETAIL, Some(&ALICE.to_uppercase()));
    let report = fx.retention.pass(NOW).unwrap();
    assert_eq!(report.deleted[ACCESS_LOG], 2, "Bob's and the anonymous one");
    let kept = fx
        .log
        .store()
        .list(&crate::access_log::store::ListQuery {
            to_ms: cutoff(ACCESS_LOG) - 1,
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].targets["member"], ALICE);
    // Alice's redemption, member day and checkout stay; Bob's old ones go.
    assert_eq!(report.deleted[ANALYTICS_DETAIL], 4);
    let db = Connection::open(fx.dir.path().join(crate::analytics::ANALYTICS_FILE)).unwrap();
    let alice: i64 = db
        .query_row(
            "SELECT (SELECT COUNT(*) FROM redemptions WHERE member = ?1) + \
             (SELECT COUNT(*) FROM member_days WHERE member = ?1) + (SELECT COUNT(*) FROM checkouts WHERE member = ?1)",
            params![ALICE],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(alice, 3);
    // A member hold cannot pick rows that name no member: the webhook log goes as due.
    assert_eq!(report.deleted[WEBHOOK_DELIVERIES], 1);
}

#[test]
fn a_hold_on_all_keeps_everything_until_lifted() {
    let fx = fixture(RetentionConfig::default());
    let id = hold(&fx, ALL_CLASSES, None);
    let report = fx.retention.pass(NOW).unwrap();
    assert!(report.deleted.values().all(|n| *n == 0), "{report:?}");
    let lifted = fx.retention.store().remove(id, "cli", NOW).unwrap();
    assert_eq!(lifted.class, ALL_CLASSES);
    assert!(matches!(
        fx.retention.store().remove(id, "cli", NOW),
        Err(RetentionError::NotFound(_))
    ));
    assert_eq!(fx.retention.pass(NOW).unwrap().deleted[ACCESS_LOG], 3);
}

#[test]
fn a_pass_deletes_at_most_its_limit_and_says_more_is_due() {
    let fx = fixture(RetentionConfig {
        max_rows_per_pass: 2,
        ..RetentionConfig::default()
    });
    let first = fx.retention.pass(NOW).unwrap();
    assert_eq!(first.deleted[ACCESS_LOG], 2);
    assert_eq!(first.deleted[ANALYTICS_DETAIL], 2);
    assert!(first.more_due);
    let second = fx.retention.pass(NOW).unwrap();
    assert_eq!(second.deleted[ACCESS_LOG], 1);
    assert_eq!(
        fx.retention
            .store()
            .run(ACCESS_LOG)
            .unwrap()
            .unwrap()
            .deleted_total,
        3
    );
}

#[test]
fn missing_stores_are_skipped_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::open(dir.path(), RetentionConfig::default()).unwrap();
    retention.add_class(Arc::new(WebhookDeliveries::new(dir.path())));
    retention.add_class(Arc::new(AnalyticsDetail::new(
        dir.path().join("analytics.sqlite"),
    )));
    let report = retention.pass(NOW).unwrap();
    assert_eq!(report.deleted.values().sum::<u64>(), 0);
    assert!(!dir.path().join(crate::webhooks::STORE_FILE).exists());
    assert!(!dir.path().join("analytics.sqlite").exists());
}

#[test]
fn zero_or_absurd_windows_and_intervals_are_refused_with_the_key_named() {
    assert_eq!(RetentionConfig::default().check(), Ok(()));
    let cases: [(RetentionConfig, &str); 5] = [
        (
            RetentionConfig {
                access_log_days: 0,
                ..Default::default()
            },
            "access_log_days = 0",
        ),
        (
            RetentionConfig {
                webhook_deliveries_days: 100_000,
                ..Default::default()
            },
            "webhook_deliveries_days = 100000",
        ),
        (
            RetentionConfig {
                directory_inactive_days: 0,
                ..Default::default()
            },
            "directory_inactive_days",
        ),
        (
            RetentionConfig {
                interval_ms: 0,
                ..Default::default()
            },
            "interval_ms = 0",
        ),
        (
            RetentionConfig {
                max_rows_per_pass: 0,
                ..Default::default()
            },
            "max_rows_per_pass = 0",
        ),
    ];
    for (config, named) in cases {
        let why = config.check().unwrap_err();
        assert!(
            why.contains(named) && why.starts_with("[retention]"),
            "{why}"
        );
    }
    // At start: the config file refuses it with the file and the key named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let base = "node_id = 1\ndata_dir = \"d\"\ngenesis = \"g\"\nnode_key = \"k\"\n";
    std::fs::write(
        &path,
        format!("{base}[retention]\nanalytics_detail_days = 0\n"),
    )
    .unwrap();
    let err = crate::config::NodeConfig::load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("analytics_detail_days = 0") && err.contains("node.toml"),
        "{err}"
    );
    std::fs::write(&path, format!("{base}[retention]\naccess_log_days = 90\n")).unwrap();
    let loaded = crate::config::NodeConfig::load(&path).unwrap();
    assert_eq!(loaded.retention.access_log_days, 90);
    assert_eq!(loaded.retention.webhook_deliveries_days, 30);
}

#[test]
fn bad_holds_are_refused() {
    for (class, member, reason, named) in [
        ("tokens", None, "case", "unknown class"),
        (ACCESS_LOG, Some("xyz"), "case", "member"),
        (ACCESS_LOG, None, "  ", "reason"),
        (ACCESS_LOG, None, &"x".repeat(501)[..], "reason"),
    ] {
        let err = NewHold::new(class, member, reason).unwrap_err();
        assert!(matches!(err, RetentionError::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains(named), "{err}");
    }
    let ok = NewHold::new(" all ", Some(&BOB.to_uppercase()), " legal case ").unwrap();
    assert_eq!(
        (ok.class.as_str(), ok.member.as_deref(), ok.reason.as_str()),
        ("all", Some(BOB), "legal case")
    );
}
