//! Unit tests of the console's users, sessions, CSRF checks, login limiter and templates.

use super::session::{cookie, new_token, set_cookie, token_hash};
use super::store::{ConsoleStore, Expiry};
use super::view::PageError;
use super::*;
use axum::http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

fn store() -> (tempfile::TempDir, ConsoleStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ConsoleStore::open(&store_path(dir.path())).unwrap();
    (dir, store)
}

const EXPIRY: Expiry = Expiry {
    idle: Duration::from_secs(1800),
    absolute: Duration::from_secs(12 * 3600),
};

#[test]
fn users_are_added_listed_and_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let alice = cli::add(dir.path(), "alice", Role::Admin, "correct horse battery").unwrap();
    assert_eq!(alice.role, Role::Admin);
    cli::add(
        dir.path(),
        "bob.s@acme",
        Role::Analyst,
        "another long secret",
    )
    .unwrap();
    let again = cli::add(dir.path(), "alice", Role::Issuer, "correct horse battery");
    assert!(
        matches!(again, Err(ConsoleError::UserExists(_))),
        "{again:?}"
    );
    let users = cli::list(dir.path()).unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob.s@acme"]);
    assert!(cli::disable(dir.path(), "alice").unwrap());
    assert!(!cli::disable(dir.path(), "alice").unwrap());
    assert!(matches!(
        cli::disable(dir.path(), "nobody"),
        Err(ConsoleError::NoSuchUser(_))
    ));
    let table = cli::table(&cli::list(dir.path()).unwrap());
    assert!(
        table.contains("disabled") && table.contains("analyst"),
        "{table}"
    );
}

#[test]
fn bad_names_roles_and_short_passwords_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "-x", "a b", "<script>", &"x".repeat(65)] {
        let r = cli::add(dir.path(), name, Role::Analyst, "long enough password");
        assert!(
            matches!(r, Err(ConsoleError::Invalid(_))),
            "{name:?}: {r:?}"
        );
    }
    let short = cli::add(dir.path(), "carol", Role::Analyst, "elevenchars");
    assert!(matches!(short, Err(ConsoleError::Invalid(_))), "{short:?}");
    let long = cli::add(dir.path(), "carol", Role::Analyst, &"x".repeat(1025));
    assert!(matches!(long, Err(ConsoleError::Invalid(_))), "{long:?}");
    assert!(Role::parse("root").is_err());
    assert_eq!(Role::parse("auditor").unwrap(), Role::Auditor);
    assert!(Role::Issuer.can_write() && !Role::Analyst.can_write() && !Role::Auditor.can_write());
    assert!(cli::list(dir.path()).unwrap().is_empty());
}

#[test]
fn passwords_are_argon2id_phc_strings() {
    let hash = password::hash("correct horse battery").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(password::verify("correct horse battery", &hash));
    assert!(!password::verify("correct horse batterY", &hash));
    assert!(!password::verify(
        "correct horse battery",
        "not a phc string"
    ));
    assert_ne!(
        hash,
        password::hash("correct horse battery").unwrap(),
        "salted"
    );
}

#[test]
fn sessions_expire_when_idle_or_old_and_end_with_the_user() {
    let (_dir, store) = store();
    let hash = password::hash("correct horse battery").unwrap();
    let user = store.add_user("alice", Role::Issuer, &hash, 0).unwrap();
    let (token, th) = new_token();
    assert_eq!(token.len(), 64);
    assert_eq!(th, token_hash(&token));
    let t0 = 1_000_000;
    store.create_session(&th, user.id, "csrf-1", t0).unwrap();
    let live = store
        .session(&th, t0 + 1000, EXPIRY, true)
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.user.name.as_str(), live.csrf.as_str()),
        ("alice", "csrf-1")
    );
    // Used every 20 minutes: live until the absolute expiry.
    let mut t = t0;
    while t + 1_200_000 < t0 + 12 * 3_600_000 {
        t += 1_200_000;
        assert!(
            store.session(&th, t, EXPIRY, true).unwrap().is_some(),
            "at {t}"
        );
    }
    assert!(
        store
            .session(&th, t0 + 12 * 3_600_000, EXPIRY, true)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.session_count().unwrap(),
        0,
        "deleted when seen expired"
    );
    // Idle: 30 minutes without use.
    store.create_session(&th, user.id, "csrf-2", t0).unwrap();
    assert!(
        store
            .session(&th, t0 + 1_799_000, EXPIRY, false)
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session(&th, t0 + 1_800_000, EXPIRY, true)
            .unwrap()
            .is_none()
    );
    // Disabling ends sessions; logout deletes.
    store.create_session(&th, user.id, "csrf-3", t0).unwrap();
    store.disable_user("alice").unwrap();
    assert!(store.session(&th, t0 + 1, EXPIRY, true).unwrap().is_none());
    assert!(!store.delete_session(&th).unwrap());
    assert!(store.session(&[7; 32], t0, EXPIRY, true).unwrap().is_none());
}

#[test]
fn sessions_per_user_are_bounded_and_purged() {
    let (_dir, store) = store();
    let user = store.add_user("alice", Role::Analyst, "x", 0).unwrap();
    for i in 0..(store::MAX_SESSIONS_PER_USER + 5) {
        let (_, th) = new_token();
        store.create_session(&th, user.id, "c", i as u64).unwrap();
    }
    assert_eq!(
        store.session_count().unwrap(),
        store::MAX_SESSIONS_PER_USER as u64
    );
    assert_eq!(
        store.purge_expired(10_000_000_000, EXPIRY).unwrap(),
        store::MAX_SESSIONS_PER_USER as usize
    );
}

#[test]
fn csrf_tokens_must_match_exactly() {
    assert!(csrf::check("abc123", Some("abc123")).is_ok());
    for given in [
        None,
        Some(""),
        Some("abc12"),
        Some("abc1234"),
        Some("ABC123"),
    ] {
        assert!(
            matches!(csrf::check("abc123", given), Err(PageError::Csrf)),
            "{given:?}"
        );
    }
    assert_eq!(csrf::token_in(b"a=1&csrf=xyz&b=2").as_deref(), Some("xyz"));
    assert_eq!(csrf::token_in(b"a=1"), None);
    assert_eq!(csrf::token_in(b"\xff\xfe=%%"), None);
}

#[test]
fn cookies_are_strict_http_only_and_scoped() {
    let v = set_cookie("cactus_session", "abc", 60, false);
    let v = v.to_str().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=60"] {
        assert!(v.contains(part), "{v}");
    }
    assert!(!v.contains("Secure"));
    assert!(
        set_cookie("a", "b", 0, true)
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        HeaderValue::from_static("other=1; cactus_session=tok; x=2"),
    );
    assert_eq!(cookie(&headers, "cactus_session").as_deref(), Some("tok"));
    assert_eq!(cookie(&headers, "missing"), None);
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("cactus_session={}", "a".repeat(500))).unwrap(),
    );
    assert_eq!(
        cookie(&headers, "cactus_session"),
        None,
        "oversize values ignored"
    );
}

#[test]
fn the_login_limiter_counts_per_name_and_address_in_a_window() {
    let limiter = LoginLimiter::new(5, Duration::from_secs(900));
    let ip = Some("127.0.0.9".parse().unwrap());
    let keys = LoginLimiter::keys("Alice", ip);
    for i in 0..5 {
        assert!(limiter.check(&keys, 1000 + i).is_ok(), "attempt {i}");
        limiter.record_failure(&keys, 1000 + i);
    }
    let wait = limiter.check(&keys, 2000).unwrap_err();
    assert!((890..=900).contains(&wait), "{wait}");
    // Another name from the same address is limited too; the same name elsewhere too.
    assert!(limiter.check(&LoginLimiter::keys("bob", ip), 2000).is_err());
    assert!(
        limiter
            .check(&LoginLimiter::keys("alice", None), 2000)
            .is_err()
    );
    assert!(
        limiter
            .check(&LoginLimiter::keys("bob", None), 2000)
            .is_ok()
    );
    // The window slides.
    assert!(limiter.check(&keys, 1000 + 900_000).is_ok());
    // A success clears the name, not the address.
    limiter.clear(&keys[0]);
    assert!(
        limiter
            .check(&LoginLimiter::keys("alice", None), 2000)
            .is_ok()
    );
    assert!(limiter.check(&keys, 2000).is_err());
}

#[test]
fn the_limiter_stays_bounded() {
    let limiter = LoginLimiter::new(2, Duration::from_secs(60));
    for i in 0..(limiter::MAX_TRACKED_KEYS + 50) {
        limiter.record_failure(&[format!("user:{i}")], i as u64);
    }
    let newest = format!("user:{}", limiter::MAX_TRACKED_KEYS + 49);
    let newest = [newest];
    limiter.record_failure(&newest, 100_000);
    limiter.record_failure(&newest, 100_000);
    assert!(limiter.check(&newest, 100_001).is_err());
}

#[test]
fn templates_escape_ledger_strings() {
    #[derive(serde::Serialize)]
    struct Ctx {
        title: &'static str,
        message: &'static str,
        status: u16,
    }
    let html = templates::render(
        "error.html",
        &Ctx {
            title: "t",
            message: "<script>alert(1)</script>",
            status: 404,
        },
    )
    .unwrap();
    // minijinja escapes `/` too (`&#x2f;`).
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
    assert!(!html.contains("<script>alert"));
}

#[test]
fn charts_are_svg() {
    let svg = charts::sparkline(&[1, 5, 2, 8], 160, 36).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("viewBox"), "{svg}");
    let empty = charts::sparkline(&[], 160, 36).unwrap();
    assert!(empty.starts_with("<svg"));
    let bars = charts::bars(&[("12-01".into(), 3), ("12-02".into(), 0)], 640, 220).unwrap();
    assert!(bars.contains("12-01") && bars.contains("<rect"), "{bars}");
}

#[test]
fn amounts_and_rates_read_like_money() {
    assert_eq!(view::money(1234, "EUR"), "12.34 EUR");
    assert_eq!(view::money(-5, "EUR"), "-0.05 EUR");
    assert_eq!(view::money(1234, "JPY"), "1234 JPY");
    assert_eq!(view::rate_of(1, 3), "33.33 %");
    assert_eq!(view::rate_of(1, 0), "—");
}

#[test]
fn the_first_admin_is_made_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = cli::bootstrap_admin(dir.path()).unwrap().unwrap();
    let password = std::fs::read_to_string(&file).unwrap();
    let password = password.trim_end();
    assert!(password.len() >= password::MIN_PASSWORD_LEN);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (user, hash) = ConsoleStore::open(&store_path(dir.path()))
        .unwrap()
        .credentials(FIRST_ADMIN)
        .unwrap()
        .unwrap();
    assert_eq!(user.role, Role::Admin);
    assert!(password::verify(password, &hash));
    assert_eq!(
        cli::bootstrap_admin(dir.path()).unwrap(),
        Some(file.clone())
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim_end(), password);
    assert_eq!(cli::list(dir.path()).unwrap().len(), 1);
}

mod advisor;
mod balances;
mod fraud;
