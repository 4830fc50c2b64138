//! The `directory_inactive` class over a real directory, a real chain and the analytics
//! store ingesting it: exactly the records that are old *and* whose member the ledger has
//! not named within the window go, crypto-shredded with no erasure logged; a recently
//! active member, a recently updated record and a held member stay; a lagging analytics
//! store deletes nothing; an old store is migrated.

use super::*;
use crate::analytics::Analytics;
use crate::analytics::tests::{Chain, setup};
use crate::directory::record::IndexKind;
use crate::directory::{Directory, SubjectInput};
use crate::retention::holds::NewHold;
use crate::retention::{DAY_MS, Retention, RetentionConfig};
use couponcactus_chaincode::consent::{ConsentDecision, Purpose};
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::testkit;
use couponcactus_chaincode::tx::{AllocateTx, RecordConsentTx, TxKind};

/// The window of these tests, days.
const WINDOW_DAYS: u64 = 5;

/// A directory, an analytics store and a chain where members 1, 2, 4 and 5 got a coupon
/// (time `old`) and, ten days later, member 2 recorded a consent (time `recent`). Members
/// 1 to 5 are in the directory, each record last changed at `old`, except member 5's,
/// changed at `recent`. Member 3 never appears on the ledger.
struct Fixture {
    dir: tempfile::TempDir,
    directory: Arc<Directory>,
    analytics: Arc<Analytics>,
    chain: Chain,
    old: u64,
    recent: u64,
}

fn input(m: u64) -> SubjectInput {
    SubjectInput {
        member: Some(testkit::member(m)),
        email: Some(format!("member{m}@example.org")),
        name: Some(format!("Member Number {m}")),
        ..SubjectInput::default()
    }
}

fn fixture() -> Fixture {
    let mut chain = Chain::new();
    setup(&mut chain);
    let issuer = testkit::key(10);
    let allocate = |m: u64| {
        TxKind::Allocate(AllocateTx {
            pool: testkit::pool_id("spring"),
            member: testkit::member(m),
            claim: testkit::claim(m),
        })
    };
    chain.block([1, 2, 4, 5].map(|m| (&issuer, allocate(m))).to_vec());
    let old = chain.chain.time_ms;
    chain.chain.advance(10 * DAY_MS);
    chain.block(vec![(
        &issuer,
        TxKind::RecordConsent(RecordConsentTx {
            member: testkit::member(2),
            purpose: Purpose::Marketing,
            decision: ConsentDecision::Granted,
            text_hash: Hash32([7; 32]),
        }),
    )]);
    let recent = chain.chain.time_ms;
    let dir = tempfile::tempdir().unwrap();
    let analytics = Arc::new(Analytics::open(&dir.path().join("analytics.sqlite")).unwrap());
    analytics.catch_up(&chain.store).unwrap();
    let directory = Arc::new(Directory::open(dir.path(), None).unwrap());
    for m in 1..=4 {
        directory.upsert(input(m), old).unwrap();
    }
    directory.upsert(input(5), recent).unwrap();
    Fixture {
        dir,
        directory,
        analytics,
        chain,
        old,
        recent,
    }
}

impl Fixture {
    /// The retention service with this class only, the chain at `height`.
    fn retention(&self, height: u64, max_rows_per_pass: u64) -> Retention {
        let config = RetentionConfig {
            directory_inactive_days: WINDOW_DAYS,
            max_rows_per_pass,
            ..RetentionConfig::default()
        };
        let retention = Retention::open(self.dir.path(), config).unwrap();
        retention.add_class(Arc::new(InactiveMembers::new(
            self.directory.clone(),
            self.analytics.clone(),
            Box::new(move || Ok(height)),
        )));
        retention
    }

    fn height(&self) -> u64 {
        self.chain.store.tip().unwrap().height
    }

    /// A pass one day after the consent: the cutoff is four days before it.
    fn now(&self) -> u64 {
        self.recent + DAY_MS
    }

    fn members(&self) -> Vec<u64> {
        (1..=5)
            .filter(|m| {
                self.directory
                    .store()
                    .contains(&testkit::member(*m))
                    .unwrap()
            })
            .collect()
    }
}

#[test]
fn exactly_the_old_and_ledger_inactive_records_go_and_a_held_one_stays() {
    let fx = fixture();
    let retention = fx.retention(fx.height(), 10_000);
    let hold = NewHold::new(
        DIRECTORY_INACTIVE,
        Some(&testkit::member(4).to_hex()),
        "case 7",
    )
    .unwrap();
    retention.store().place(&hold, "cli", fx.now()).unwrap();
    let report = retention.pass(fx.now()).unwrap();
    // 1: old record, old activity; 3: old record, never on the ledger. 2 was active
    // recently, 4 is held, 5's record changed recently.
    assert_eq!(report.deleted[DIRECTORY_INACTIVE], 2);
    assert_eq!(fx.members(), [2, 4, 5]);
    // The erasure's way: the blind indexes go too; but no erasure is logged.
    let store = fx.directory.store();
    assert_eq!(
        store
            .lookup(IndexKind::Email, "member1@example.org")
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .lookup(IndexKind::Email, "member2@example.org")
            .unwrap(),
        Some(testkit::member(2))
    );
    assert!(fx.directory.erasures(10).unwrap().is_empty());
    let run = retention.store().run(DIRECTORY_INACTIVE).unwrap().unwrap();
    assert_eq!((run.last_deleted, run.last_error), (2, None));
    // Nothing left due; the hold lifted, member 4 goes at the next pass.
    assert_eq!(
        retention.pass(fx.now()).unwrap().deleted[DIRECTORY_INACTIVE],
        0
    );
    let id = retention.store().list().unwrap()[0].id;
    retention.store().remove(id, "cli", fx.now()).unwrap();
    assert_eq!(
        retention.pass(fx.now()).unwrap().deleted[DIRECTORY_INACTIVE],
        1
    );
    assert_eq!(fx.members(), [2, 5]);
    // A member deleted by retention may be added again (no erasure refuses it).
    fx.directory.upsert(input(1), fx.now()).unwrap();
}

#[test]
fn a_hold_of_the_class_or_all_keeps_every_record() {
    let fx = fixture();
    let retention = fx.retention(fx.height(), 10_000);
    for class in [DIRECTORY_INACTIVE, crate::retention::ALL_CLASSES] {
        let hold = NewHold::new(class, None, "litigation").unwrap();
        let placed = retention.store().place(&hold, "cli", fx.now()).unwrap();
        let report = retention.pass(fx.now()).unwrap();
        assert_eq!(report.deleted.get(DIRECTORY_INACTIVE), Some(&0), "{class}");
        assert_eq!(fx.members(), [1, 2, 3, 4, 5]);
        retention
            .store()
            .remove(placed.id, "cli", fx.now())
            .unwrap();
    }
}

#[test]
fn within_the_window_nothing_goes_and_a_pass_stops_at_its_limit() {
    let fx = fixture();
    // Exactly a window after `old` (the cutoff is `old`): nothing is older than it yet.
    let early = fx.retention(fx.height(), 10_000);
    let at_window = fx.old + WINDOW_DAYS * DAY_MS;
    assert_eq!(
        early.pass(at_window).unwrap().deleted[DIRECTORY_INACTIVE],
        0
    );
    assert_eq!(fx.members(), [1, 2, 3, 4, 5]);
    let one = fx.retention(fx.height(), 1);
    let first = one.pass(fx.now()).unwrap();
    assert_eq!(first.deleted[DIRECTORY_INACTIVE], 1);
    assert!(first.more_due);
    assert_eq!(one.pass(fx.now()).unwrap().deleted[DIRECTORY_INACTIVE], 1);
    assert_eq!(one.pass(fx.now()).unwrap().deleted[DIRECTORY_INACTIVE], 1);
    assert_eq!(fx.members(), [2, 5]);
}

#[test]
fn a_lagging_analytics_store_deletes_nothing_and_says_why() {
    let fx = fixture();
    let retention = fx.retention(fx.height() + 1, 10_000);
    let report = retention.pass(fx.now()).unwrap();
    assert!(
        !report.deleted.contains_key(DIRECTORY_INACTIVE),
        "{report:?}"
    );
    assert_eq!(fx.members(), [1, 2, 3, 4, 5]);
    let run = retention.store().run(DIRECTORY_INACTIVE).unwrap().unwrap();
    assert!(
        run.last_error
            .as_deref()
            .is_some_and(|e| e.contains("analytics store covers height")),
        "{run:?}"
    );
}

#[test]
fn an_erasure_receipt_forgets_the_members_activity() {
    use couponcactus_chaincode::tx::RecordErasureTx;
    let mut fx = fixture();
    let seen = |a: &Analytics| a.last_seen(&[testkit::member(2).to_hex()]).unwrap();
    assert_eq!(
        seen(&fx.analytics).values().copied().collect::<Vec<_>>(),
        [fx.recent]
    );
    fx.chain.block(vec![(
        &testkit::key(1),
        TxKind::RecordErasure(RecordErasureTx {
            member: testkit::member(2),
        }),
    )]);
    fx.analytics.catch_up(&fx.chain.store).unwrap();
    assert!(seen(&fx.analytics).is_empty());
}

#[test]
fn a_store_without_updated_at_is_migrated_from_its_sealed_records() {
    let fx = fixture();
    let path = fx.dir.path().join(crate::directory::DIRECTORY_FILE);
    drop(fx.directory);
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "DROP INDEX subjects_updated; ALTER TABLE subjects DROP COLUMN updated_at_ms;",
        )
        .unwrap();
    }
    let directory = Directory::open(fx.dir.path(), None).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    let times: Vec<i64> = db
        .prepare("SELECT updated_at_ms FROM subjects ORDER BY updated_at_ms")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let old = directory
        .get(&testkit::member(1))
        .unwrap()
        .record
        .updated_ms;
    assert_eq!(times.len(), 5);
    assert!(times[..4].iter().all(|t| *t as u64 == old), "{times:?}");
    assert_eq!(times[4] as u64, fx.recent);
}
