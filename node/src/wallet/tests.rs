//! The wallet's pages against a real one-node chain, through its router in process: acme
//! runs pool `spring` (a coupon allocated to member 1) and pool `autumn` (offered in the
//! wallet). A magic link asks before it opens, opens once, and never when forged or
//! expired; the wallet shows the coupon's code and QR code, its history and proof, and
//! the offer; a claim needs the session's CSRF token, lands on the ledger once however
//! often it is tapped, and then leaves the offers; a pool not offered is refused;
//! closing the wallet ends the session.

use super::pages::{self, COOKIE};
use super::{Wallet, WalletConfig};
use crate::console::{Console, ConsoleConfig, WriteKeys};
use crate::testchain::{CONSOLE_KEY, Chain};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use couponcactus_chaincode::ids::{ClaimKey, PoolId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit::{self, key, member};
use couponcactus_chaincode::tx::{
    AllocateTx, CreatePoolTx, IssueCodesTx, TransitionPoolTx, TxKind,
};
use couponcactus_chaincode::types::{PoolAction, PoolKind};
use couponcactus_client::tx_builder::now_ms;
use std::sync::Arc;
use tower_service::Service as _;

struct Answer {
    status: StatusCode,
    location: String,
    cookie: String,
    csp: bool,
    body: String,
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().call(request).await.unwrap();
    let header_of = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (location, cookie) = (header_of(header::LOCATION), header_of(header::SET_COOKIE));
    let csp = response
        .headers()
        .contains_key(header::CONTENT_SECURITY_POLICY);
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        location,
        cookie,
        csp,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(router: &Router, path: &str, cookie: &str) -> Answer {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    send(router, request).await
}

async fn post(router: &Router, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
    let request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(form).unwrap()))
        .unwrap();
    send(router, request).await
}

/// Creates, issues `n` codes of and activates pool `name`.
async fn pool(chain: &Chain, name: &str, n: u64) -> PoolId {
    let admin = key(CONSOLE_KEY);
    let id = PoolId::new(name).unwrap();
    let mut spec = testkit::spec(PoolKind::UniqueCodes);
    spec.name = format!("{name} sale");
    let create = TxKind::CreatePool(CreatePoolTx {
        pool: id.clone(),
        spec,
    });
    chain.applied(&admin, create).await;
    let codes = (0..n)
        .map(|i| testkit::issued_code(&id, &testkit::code_text(&id, i), i))
        .collect();
    let issue = TxKind::IssueCodes(IssueCodesTx {
        pool: id.clone(),
        codes,
    });
    chain.applied(&admin, issue).await;
    let activate = TxKind::TransitionPool(TransitionPoolTx {
        pool: id.clone(),
        action: PoolAction::Activate,
    });
    chain.applied(&admin, activate).await;
    id
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..start + 32].to_string()
}

fn allocations(chain: &Chain, pool: &PoolId) -> u32 {
    match chain.get(StateKey::MemberAllocations(pool.clone(), member(1))) {
        Some(StateValue::Count(n)) => n,
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magic_link_opens_the_wallet_once_and_a_claim_lands_once() {
    let chain = Chain::start();
    let spring = pool(&chain, "spring", 3).await;
    let autumn = pool(&chain, "autumn", 3).await;
    let allocate = TxKind::Allocate(AllocateTx {
        pool: spring.clone(),
        member: member(1),
        claim: ClaimKey([1; 32]),
    });
    chain.applied(&key(CONSOLE_KEY), allocate).await;
    let dir = chain.dir.path().join("wallet-node");
    std::fs::create_dir_all(&dir).unwrap();
    let keys = WriteKeys {
        signer: Some(key(CONSOLE_KEY)),
        data_key: Some(testkit::DATA_KEY),
    };
    let console = Console::open(
        &dir,
        chain.node.clone(),
        testkit::org("acme"),
        None,
        ConsoleConfig::default(),
        keys,
    )
    .unwrap();
    let config = WalletConfig {
        enabled: true,
        public_pools: vec!["autumn".into()],
        ..WalletConfig::default()
    };
    let wallet: Arc<Wallet> = Wallet::open(&dir, console, config, "http://wallet.test/").unwrap();
    let router = pages::routes(wallet.clone());

    // Closed without a session; a forged or expired link does not open it.
    let closed = get(&router, "/wallet", "").await;
    assert_eq!(closed.status, StatusCode::UNAUTHORIZED);
    let link = wallet.link(member(1), now_ms());
    assert!(
        link.url.starts_with("http://wallet.test/wallet/open?t="),
        "{}",
        link.url
    );
    let token = link.url.split("t=").nth(1).unwrap().to_string();
    let mut forged = token.clone().into_bytes();
    forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let refused = get(&router, &format!("/wallet/open?t={forged}"), "").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("not valid"), "{}", refused.body);
    let old = wallet.link(member(1), now_ms() - 3_600_000);
    let old_token = old.url.split("t=").nth(1).unwrap();
    let expired = post(&router, "/wallet/open", "", &[("t", old_token)]).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert!(expired.body.contains("expired"), "{}", expired.body);

    // The link asks first (a prefetch uses nothing), then opens once.
    let asked = get(&router, &format!("/wallet/open?t={token}"), "").await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(
        asked.body.contains("Open my wallet") && asked.csp,
        "{}",
        asked.body
    );
    let opened = post(&router, "/wallet/open", "", &[("t", &token)]).await;
    assert_eq!(
        (opened.status, opened.location.as_str()),
        (StatusCode::SEE_OTHER, "/wallet")
    );
    assert!(opened.cookie.contains("HttpOnly") && opened.cookie.contains("Path=/wallet"));
    let cookie = opened.cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with(&format!("{COOKIE}=")));
    let again = post(&router, "/wallet/open", "", &[("t", &token)]).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(again.body.contains("already used"), "{}", again.body);

    // The wallet: the coupon with its code and QR code, its history; the offer.
    let page = get(&router, "/wallet", &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.csp);
    assert!(page.body.contains("spring sale"), "{}", page.body);
    assert!(
        page.body.contains(&testkit::code_text(&spring, 0)),
        "the code, opened"
    );
    assert!(page.body.contains("<svg"), "a QR code");
    assert!(page.body.contains("Received"), "history: {}", page.body);
    assert!(page.body.contains("autumn sale") && page.body.contains("Claim"));

    // A claim without the CSRF token changes nothing; with it, it lands once.
    let forged_claim = post(&router, "/wallet/claim", &cookie, &[("pool", "autumn")]).await;
    assert_eq!(forged_claim.status, StatusCode::FORBIDDEN);
    assert_eq!(allocations(&chain, &autumn), 0);
    let csrf = csrf_of(&page.body);
    for _ in 0..2 {
        let claimed = post(
            &router,
            "/wallet/claim",
            &cookie,
            &[("csrf", &csrf), ("pool", "autumn")],
        )
        .await;
        assert_eq!(claimed.status, StatusCode::SEE_OTHER);
        assert_eq!(claimed.location, "/wallet?claimed=autumn");
    }
    assert_eq!(allocations(&chain, &autumn), 1, "a double tap claims once");
    let after = get(&router, "/wallet?claimed=autumn", &cookie).await;
    assert!(after.body.contains("Claimed"), "{}", after.body);
    assert!(after.body.contains(&testkit::code_text(&autumn, 0)));
    assert!(
        after.body.contains("No offers right now"),
        "the per-member cap is reached"
    );
    let not_offered = post(
        &router,
        "/wallet/claim",
        &cookie,
        &[("csrf", &csrf), ("pool", "spring")],
    )
    .await;
    assert_eq!(not_offered.location, "/wallet?refused=not_offered");

    // Closing ends the session.
    let out = post(&router, "/wallet/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        get(&router, "/wallet", &cookie).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A real SMTP server for the test: Python's aiosmtpd (scripts/test.sh installs it),
/// storing what it receives in a Maildir; killed on drop.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(dir: &std::path::Path) -> SmtpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = dir.join("maildir");
        let child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd; scripts/test.sh does)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The messages received, as text.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return vec![];
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

/// The wallet link in a mail (quoted-printable soft breaks and `=3D` undone).
fn link_in(mail: &str) -> String {
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text
        .find("http://wallet.test/wallet/open?t=")
        .expect("a link");
    text[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_mailed_through_a_real_smtp_server_and_a_dead_one_fails_clearly() {
    use super::mail::{SmtpConfig, SmtpTls};
    let chain = Chain::start();
    let dir = chain.dir.path().join("mail-node");
    std::fs::create_dir_all(&dir).unwrap();
    let server = SmtpServer::start(&dir);
    let console = chain.console("acme", "mail-console");
    let config = WalletConfig {
        enabled: true,
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: server.port,
            tls: SmtpTls::None,
            from: "Acme <wallet@acme.example>".into(),
            username: None,
            password_file: None,
            timeout_secs: 5,
        }),
        ..WalletConfig::default()
    };
    let wallet = Wallet::open(&dir, console, config, "http://wallet.test").unwrap();
    let sent = wallet
        .email_link(member(1), "alice@example.org", now_ms())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mail = loop {
        if let Some(m) = server.messages().pop() {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no mail arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(mail.contains("To: alice@example.org"), "{mail}");
    assert!(mail.contains("Subject: Your acme wallet"), "{mail}");
    assert_eq!(link_in(&mail), sent.url, "the mailed link is the one made");
    // The mailed link opens the wallet.
    let router = pages::routes(wallet.clone());
    let token = sent.url.split("t=").nth(1).unwrap().to_string();
    let opened = post(&router, "/wallet/open", "", &[("t", &token)]).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    // A bad address is refused before anything is sent; a dead server says so.
    let bad = wallet
        .email_link(member(1), "not an address", now_ms())
        .await;
    assert!(bad.unwrap_err().to_string().contains("not valid"));
    drop(server);
    let err = wallet
        .email_link(member(1), "alice@example.org", now_ms())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SMTP"), "{err}");
}
