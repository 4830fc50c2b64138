//! The balances page (`/console/balances`) against a real one-node chain: acme runs the
//! testkit program, a terminal earns and an issuer loads, a second org admin asks for
//! adjustments above the approval threshold; the console (signing with acme's genesis
//! admin key) shows the liability, what expires within 30/60/90 days and the pending
//! adjustments, and approves and rejects them; it decides withdrawals (approve, paid with
//! a payment reference, reject) the same way. CSRF, roles, the payment reference and the
//! chain's refusals (maker-checker, a decided withdrawal) are checked through the console's
//! router in process.

use crate::console::session::new_token;
use crate::console::{Console, Role as StaffRole};
use crate::testchain::{CONSOLE_KEY, Chain};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use couponcactus_chaincode::ids::{Channel, StoreId, TxId};
use couponcactus_chaincode::loyalty::{
    AdjustReason, AdjustmentStatus, DAY_MS, Direction, ExpiryPolicy, Segment, WithdrawalStatus,
};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit::{self, key, member, public};
use couponcactus_chaincode::tx::{
    AdjustTx, DecideWithdrawalTx, EarnTx, LoadTx, RegisterKeyTx, RequestWithdrawalTx, SetProgramTx,
    TxKind, WithdrawalDecision,
};
use couponcactus_chaincode::types::Role;
use couponcactus_client::tx_builder::now_ms;
use tower_service::Service as _;

/// A second acme admin: the maker of the adjustments the console decides.
const MAKER: u8 = 5;
const ISSUER: u8 = 10;
const TERMINAL: u8 = 11;

/// A signed-in staff member: the session cookie and the CSRF token.
pub(super) struct Session {
    pub(super) cookie: String,
    pub(super) csrf: String,
}

pub(super) fn sign_in(console: &Console, name: &str, role: StaffRole) -> Session {
    let user = console.store().add_user(name, role, "x", now_ms()).unwrap();
    let (token, hash) = new_token();
    let csrf = format!("csrf-of-{name}");
    console
        .store()
        .create_session(&hash, user.id, &csrf, now_ms())
        .unwrap();
    Session {
        cookie: format!("cactus_session={token}"),
        csrf,
    }
}

/// One request through the console's router: (status, Location, body).
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router.clone().call(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, location, String::from_utf8(body.to_vec()).unwrap())
}

pub(super) async fn page(router: &Router, s: &Session, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::COOKIE, &s.cookie)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(router, request).await;
    (status, body)
}

/// POSTs `form` (urlencoded) to `path` as `s`.
pub(super) async fn post(
    router: &Router,
    s: &Session,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let body = serde_urlencoded::to_string(form).unwrap();
    let request = Request::post(path)
        .header(header::COOKIE, &s.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(router, request).await
}

/// A decision on `adjustment` as `s`, with its CSRF token.
async fn decide(
    router: &Router,
    s: &Session,
    adjustment: &TxId,
    decision: &str,
) -> (StatusCode, String, String) {
    let path = format!("/console/balances/adjustments/{adjustment}");
    post(
        router,
        s,
        &path,
        &[("csrf", s.csrf.as_str()), ("decision", decision)],
    )
    .await
}

/// The text of the element with id `id` (`<… id="id">text<`).
/// The balances page as `staff` sees it now.
async fn html_now(router: &Router, staff: &Session) -> String {
    page(router, staff, "/console/balances").await.1
}

pub(super) fn cell(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + marker.len();
    let end = html[start..].find('<').unwrap();
    html[start..start + end].to_string()
}

/// The pending adjustments listed, in page order.
fn listed(html: &str) -> Vec<String> {
    html.split("data-adjustment=\"")
        .skip(1)
        .map(|rest| rest[..64].to_string())
        .collect()
}

fn adjust(member_n: u64, segment: Segment, direction: Direction, amount: u64) -> TxKind {
    TxKind::Adjust(AdjustTx {
        program: testkit::org("acme"),
        member: member(member_n),
        segment,
        direction,
        amount,
        reason: AdjustReason::Goodwill,
        note: "<b>late</b> delivery".into(),
    })
}

fn adjustment(chain: &Chain, id: &TxId) -> (AdjustmentStatus, Option<String>) {
    match chain.get(StateKey::Adjustment(*id)) {
        Some(StateValue::Adjustment(r)) => (r.status, r.checker.map(|k| k.to_hex())),
        other => panic!("no adjustment: {other:?}"),
    }
}

fn balance(chain: &Chain, n: u64, segment: Segment) -> u64 {
    match chain.get(StateKey::Account(testkit::org("acme"), member(n))) {
        Some(StateValue::Account(a)) => a.balances().get(&segment).copied().unwrap_or(0),
        other => panic!("no account: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_balances_page_shows_liability_expiry_and_decides_adjustments() {
    let chain = Chain::start();
    let admin = key(CONSOLE_KEY);
    let terminal = Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel::new("pos").unwrap(),
    };
    for (seed, role) in [
        (MAKER, Role::OrgAdmin),
        (ISSUER, Role::Issuer),
        (TERMINAL, terminal),
    ] {
        let register = TxKind::RegisterKey(RegisterKeyTx {
            key: public(seed),
            role,
        });
        chain.applied(&admin, register).await;
    }
    // Gift lots expire on a date 20 days out; cash deposits after 45 days without
    // activity; points 24 months after earning (past every horizon).
    let t0 = now_ms();
    let mut spec = testkit::program_spec();
    for rule in &mut spec.segments {
        match rule.segment {
            Segment::Gift => {
                rule.expiry = ExpiryPolicy::FixedDates {
                    dates_ms: vec![t0 + 20 * DAY_MS],
                }
            }
            Segment::CashDeposit => rule.expiry = ExpiryPolicy::Inactivity { days: 45 },
            _ => {}
        }
    }
    assert_eq!(spec.adjust_approval_above, 5_000);
    chain
        .applied(&admin, TxKind::SetProgram(SetProgramTx { spec }))
        .await;
    let acme = testkit::org("acme");
    let earn = TxKind::Earn(EarnTx {
        program: acme.clone(),
        member: member(1),
        order_ref: "order-1".into(),
        order: testkit::order(10_000),
    });
    chain.applied(&key(TERMINAL), earn).await;
    for (n, segment, amount) in [(1, Segment::Gift, 2_000), (2, Segment::CashDeposit, 3_000)] {
        let load = TxKind::Load(LoadTx {
            program: acme.clone(),
            member: member(n),
            segment,
            amount,
            reference: format!("load-{n}"),
        });
        chain.applied(&key(ISSUER), load).await;
    }
    // Above the threshold: pending. Two by the second admin, one by the console's key.
    let gift = adjust(1, Segment::Gift, Direction::Credit, 6_000);
    let by_maker = chain.applied(&key(MAKER), gift).await;
    let cash = adjust(2, Segment::CashDeposit, Direction::Debit, 5_500);
    let to_reject = chain.applied(&key(MAKER), cash).await;
    let points = adjust(2, Segment::Mileage, Direction::Credit, 7_000);
    let by_console = chain.applied(&admin, points).await;
    assert_eq!(
        adjustment(&chain, &by_maker),
        (AdjustmentStatus::Pending, None)
    );

    let console = chain.console("acme", "console-acme");
    let router = console.router();
    let ada = sign_in(&console, "ada", StaffRole::Admin);
    let (status, html) = page(&router, &ada, "/console/balances").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(">Balances</a>"), "the nav lists the page");
    let tip = chain.node.store().tip().unwrap();
    assert!(
        html.contains(&format!("as of block {}", tip.height)),
        "{html}"
    );
    assert_eq!(cell(&html, "now"), crate::console::view::time(tip.time_ms));
    // The liability, in the program's currency and in points.
    for (segment, owed) in [
        ("cash_deposit", "30.00 EUR"),
        ("gift", "20.00 EUR"),
        ("mileage", "100 points"),
    ] {
        assert_eq!(cell(&html, &format!("liability-{segment}")), owed);
    }
    // Expiring: the gift lot within every horizon, the cash by inactivity after 30 days.
    for (segment, amounts) in [
        ("gift", ["20.00 EUR", "20.00 EUR", "20.00 EUR"]),
        ("cash_deposit", ["0.00 EUR", "30.00 EUR", "30.00 EUR"]),
        ("mileage", ["0 points", "0 points", "0 points"]),
    ] {
        for (days, amount) in [30, 60, 90].into_iter().zip(amounts) {
            assert_eq!(
                cell(&html, &format!("expiring-{segment}-{days}")),
                amount,
                "{segment} within {days} days"
            );
        }
        assert!(cell(&html, &format!("due-{segment}")).starts_with('0'));
    }
    assert_eq!(cell(&html, "accounts"), "2");
    assert!(!html.contains("accounts-capped"));
    // The pending adjustments, newest first, the note escaped, with buttons.
    assert_eq!(
        listed(&html),
        [by_console, to_reject, by_maker].map(|id| id.to_hex())
    );
    assert_eq!(cell(&html, "pending-count"), "3");
    assert!(html.contains("credit 60.00 EUR") && html.contains("credit 7000 points"));
    assert!(html.contains("debit 55.00 EUR"));
    assert!(html.contains("&lt;b&gt;late&lt;") && !html.contains("<b>late"));
    assert!(html.contains(&format!("?member={}", member(1))));
    assert!(html.contains(&public(MAKER).to_hex()[..12]));
    assert_eq!(html.matches("value=\"approve\"").count(), 3);
    assert_eq!(html.matches("value=\"reject\"").count(), 3);
    assert_eq!(
        html.matches("class=\"sub by-console\"").count(),
        1,
        "the console's own request is marked"
    );
    assert!(html.contains("refuses an approval or a rejection signed by the key that asked"));
    assert!(!html.contains("key-hint"), "the console key is an admin's");

    // A missing or wrong CSRF token: refused, nothing signed.
    let path = format!("/console/balances/adjustments/{by_maker}");
    for form in [
        vec![("decision", "approve")],
        vec![("csrf", "0000"), ("decision", "approve")],
    ] {
        let (status, _, body) = post(&router, &ada, &path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(body.contains("your form expired"), "{body}");
    }
    assert_eq!(adjustment(&chain, &by_maker).0, AdjustmentStatus::Pending);

    // A read-only role sees no buttons, and its forged POST is refused.
    let ann = sign_in(&console, "ann", StaffRole::Analyst);
    let (_, html) = page(&router, &ann, "/console/balances").await;
    assert_eq!(listed(&html).len(), 3);
    assert!(
        !html.contains("value=\"approve\""),
        "no buttons for an analyst"
    );
    assert!(cell(&html, "read-only").contains("needs the admin or issuer role"));
    let (status, _, body) = decide(&router, &ann, &by_maker, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("analyst user"), "{body}");
    assert_eq!(adjustment(&chain, &by_maker).0, AdjustmentStatus::Pending);

    // Approve: the balance and the liability change, the row goes.
    let (status, location, body) = decide(&router, &ada, &by_maker, "approve").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/balances?done=approved");
    let (status, checker) = adjustment(&chain, &by_maker);
    assert_eq!(status, AdjustmentStatus::Applied);
    assert_eq!(checker, Some(public(CONSOLE_KEY).to_hex()));
    assert_eq!(balance(&chain, 1, Segment::Gift), 8_000);
    let (_, html) = page(&router, &ada, &location).await;
    assert!(cell(&html, "notice").contains("Adjustment approved"));
    assert_eq!(cell(&html, "liability-gift"), "80.00 EUR");
    assert_eq!(listed(&html), [by_console, to_reject].map(|id| id.to_hex()));

    // Reject: nothing changes but the record.
    let (status, location, _) = decide(&router, &ada, &to_reject, "reject").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/balances?done=rejected")
    );
    assert_eq!(adjustment(&chain, &to_reject).0, AdjustmentStatus::Rejected);
    assert_eq!(balance(&chain, 2, Segment::CashDeposit), 3_000);
    let (_, html) = page(&router, &ada, &location).await;
    assert!(cell(&html, "notice").contains("Adjustment rejected"));
    assert_eq!(cell(&html, "liability-cash_deposit"), "30.00 EUR");
    assert_eq!(listed(&html), [by_console.to_hex()]);

    // The console's key asked for this one: the chain refuses its decision, in its words.
    let (status, _, body) = decide(&router, &ada, &by_console, "approve").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("self_approval"), "{body}");
    assert!(
        body.contains("the admin who asked for an adjustment cannot decide it"),
        "{body}"
    );
    assert_eq!(adjustment(&chain, &by_console).0, AdjustmentStatus::Pending);
    assert_eq!(balance(&chain, 2, Segment::Mileage), 0);

    // A decided adjustment: the ledger says it is not pending; unknown ones are 404.
    let (status, _, body) = decide(&router, &ada, &by_maker, "reject").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("is not pending"), "{body}");
    let (status, _, _) = decide(&router, &ada, &TxId([9; 32]), "approve").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = post(
        &router,
        &ada,
        "/console/balances/adjustments/nope",
        &[("csrf", ada.csrf.as_str()), ("decision", "approve")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = decide(&router, &ada, &by_console, "maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("approve or reject"), "{body}");

    // A withdrawal in progress is listed (held, out of the liability) until paid.
    assert!(cell(&html_now(&router, &ada).await, "no-withdrawals").contains("No withdrawal"));
    let ask = TxKind::RequestWithdrawal(RequestWithdrawalTx {
        program: acme.clone(),
        member: member(2),
        segment: Segment::CashDeposit,
        amount: 1_000,
        reference: "ticket-7".into(),
    });
    let asked = chain.applied(&key(ISSUER), ask).await;
    let html = html_now(&router, &ada).await;
    assert_eq!(cell(&html, "withdrawals-count"), "1");
    assert!(html.contains(&format!("data-withdrawal=\"{}\"", asked.to_hex())));
    assert!(html.contains("ticket-7") && html.contains("10.00 EUR"));
    assert!(html.contains("class=\"status-requested\""));
    assert_eq!(cell(&html, "liability-cash_deposit"), "20.00 EUR");
    let approve = TxKind::DecideWithdrawal(DecideWithdrawalTx {
        withdrawal: asked,
        decision: WithdrawalDecision::Approve,
    });
    chain.applied(&key(MAKER), approve).await;
    let paid = TxKind::DecideWithdrawal(DecideWithdrawalTx {
        withdrawal: asked,
        decision: WithdrawalDecision::Paid {
            payment: "sepa-7".into(),
        },
    });
    chain.applied(&key(ISSUER), paid).await;
    let html = html_now(&router, &ada).await;
    assert_eq!(cell(&html, "withdrawals-count"), "0");

    // Another org's console does not see acme's adjustments, and globex runs no program.
    let globex = chain.console("globex", "console-globex");
    let gus = sign_in(&globex, "gus", StaffRole::Admin);
    let (status, html) = page(&globex.router(), &gus, "/console/balances").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(cell(&html, "no-program").contains("runs no loyalty program"));
    assert!(html.contains("cactus program set --key &lt;org admin key&gt; --file examples"));
    assert!(listed(&html).is_empty());
    let (status, _, _) = decide(&globex.router(), &gus, &by_console, "reject").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "acme's adjustment is not globex's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_balances_say_when_the_console_key_cannot_decide() {
    let chain = Chain::start();
    let admin = key(CONSOLE_KEY);
    let register = TxKind::RegisterKey(RegisterKeyTx {
        key: public(MAKER),
        role: Role::OrgAdmin,
    });
    chain.applied(&admin, register).await;
    let spec = testkit::program_spec();
    chain
        .applied(&admin, TxKind::SetProgram(SetProgramTx { spec }))
        .await;
    let ask = adjust(3, Segment::Gift, Direction::Credit, 9_000);
    let asked = chain.applied(&key(MAKER), ask).await;
    // The console signs with an issuer key of acme.
    let issuer = TxKind::RegisterKey(RegisterKeyTx {
        key: public(ISSUER),
        role: Role::Issuer,
    });
    chain.applied(&admin, issuer).await;
    let console = chain.console_signing("acme", "console-issuer", ISSUER);
    let router = console.router();
    let ivy = sign_in(&console, "ivy", StaffRole::Issuer);
    let (_, html) = page(&router, &ivy, "/console/balances").await;
    assert_eq!(listed(&html), [asked.to_hex()]);
    assert_eq!(cell(&html, "accounts"), "0");
    assert_eq!(cell(&html, "liability-gift"), "0.00 EUR");
    assert!(
        cell(&html, "key-hint").contains("has the issuer role"),
        "{html}"
    );
    let (status, _, body) = decide(&router, &ivy, &asked, "approve").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("needs an org_admin key"), "{body}");
    assert_eq!(adjustment(&chain, &asked).0, AdjustmentStatus::Pending);
}

/// A decision on withdrawal `id` as `s`, with its CSRF token and `payment` if given.
async fn decide_withdrawal(
    router: &Router,
    s: &Session,
    id: &TxId,
    decision: &str,
    payment: Option<&str>,
) -> (StatusCode, String, String) {
    let path = format!("/console/balances/withdrawals/{id}");
    let mut form = vec![("csrf", s.csrf.as_str()), ("decision", decision)];
    form.extend(payment.map(|p| ("payment", p)));
    post(router, s, &path, &form).await
}

/// The row of withdrawal `id` in the page (its cells and forms).
fn withdrawal_row<'a>(html: &'a str, id: &TxId) -> &'a str {
    let start = html
        .find(&format!("data-withdrawal=\"{id}\""))
        .unwrap_or_else(|| panic!("no row of withdrawal {id}"));
    let end = html[start..].find("</tr>").unwrap();
    &html[start..start + end]
}

/// The decisions the row offers, in page order (the hidden `decision` values).
fn offered(row: &str) -> Vec<&str> {
    row.split("name=\"decision\" value=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

fn withdrawal_status(chain: &Chain, id: &TxId) -> WithdrawalStatus {
    match chain.get(StateKey::Withdrawal(*id)) {
        Some(StateValue::Withdrawal(r)) => r.status,
        other => panic!("no withdrawal: {other:?}"),
    }
}

pub(super) fn height(chain: &Chain) -> u64 {
    chain.node.store().tip().unwrap().height
}

/// A chain where acme runs the testkit program with a second admin (`MAKER`) and an
/// issuer; members 1 and 2 hold 50.00 and 30.00 EUR of cash deposits.
async fn withdrawals_chain() -> Chain {
    let chain = Chain::start();
    let admin = key(CONSOLE_KEY);
    for (seed, role) in [(MAKER, Role::OrgAdmin), (ISSUER, Role::Issuer)] {
        let register = TxKind::RegisterKey(RegisterKeyTx {
            key: public(seed),
            role,
        });
        chain.applied(&admin, register).await;
    }
    let spec = testkit::program_spec();
    chain
        .applied(&admin, TxKind::SetProgram(SetProgramTx { spec }))
        .await;
    for (n, amount) in [(1, 5_000), (2, 3_000)] {
        let load = TxKind::Load(LoadTx {
            program: testkit::org("acme"),
            member: member(n),
            segment: Segment::CashDeposit,
            amount,
            reference: format!("load-{n}"),
        });
        chain.applied(&key(ISSUER), load).await;
    }
    chain
}

/// Asks for a withdrawal of `amount` of member `n`'s cash deposit, signed by `seed`.
async fn ask_withdrawal(chain: &Chain, seed: u8, n: u64, amount: u64) -> TxId {
    let ask = TxKind::RequestWithdrawal(RequestWithdrawalTx {
        program: testkit::org("acme"),
        member: member(n),
        segment: Segment::CashDeposit,
        amount,
        reference: format!("ticket-{n}"),
    });
    chain.applied(&key(seed), ask).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_balances_approve_then_pay_a_withdrawal() {
    let chain = withdrawals_chain().await;
    let asked = ask_withdrawal(&chain, ISSUER, 1, 1_000).await;
    let console = chain.console("acme", "console-acme");
    let router = console.router();
    let ada = sign_in(&console, "ada", StaffRole::Admin);
    let html = html_now(&router, &ada).await;
    assert_eq!(cell(&html, "liability-cash_deposit"), "70.00 EUR", "held");
    let row = withdrawal_row(&html, &asked);
    assert_eq!(offered(row), ["approve", "reject"], "{row}");
    assert!(row.contains("class=\"status-requested\"") && !row.contains("by-console"));
    assert!(
        !html.contains("withdrawals-key-hint"),
        "the console key is an admin's"
    );

    // Approve, signed with the console's key: a second key after the issuer's.
    let (status, location, body) = decide_withdrawal(&router, &ada, &asked, "approve", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/balances?done=withdrawal-approved");
    let by = public(CONSOLE_KEY);
    assert_eq!(
        withdrawal_status(&chain, &asked),
        WithdrawalStatus::Approved { by }
    );
    let (_, html) = page(&router, &ada, &location).await;
    assert!(cell(&html, "notice").starts_with("Withdrawal approved"));
    let row = withdrawal_row(&html, &asked);
    assert_eq!(offered(row), ["paid", "reject"], "{row}");
    assert!(row.contains("name=\"payment\"") && row.contains("class=\"status-approved\""));

    // Paid, with the payout's reference: settled and out of the list.
    let paid = decide_withdrawal(&router, &ada, &asked, "paid", Some("sepa-42")).await;
    assert_eq!(paid.0, StatusCode::SEE_OTHER, "{}", paid.2);
    assert_eq!(paid.1, "/console/balances?done=withdrawal-paid");
    match withdrawal_status(&chain, &asked) {
        WithdrawalStatus::Paid {
            approved_by,
            payment,
            ..
        } => assert_eq!((approved_by, payment.as_str()), (by, "sepa-42")),
        other => panic!("not paid: {other:?}"),
    }
    assert_eq!(balance(&chain, 1, Segment::CashDeposit), 4_000);
    let (_, html) = page(&router, &ada, &paid.1).await;
    assert!(cell(&html, "notice").starts_with("Withdrawal recorded as paid"));
    assert_eq!(cell(&html, "withdrawals-count"), "0");
    assert_eq!(cell(&html, "liability-cash_deposit"), "70.00 EUR");

    // Paid is final: the chain refuses a rejection now, in its words.
    let (status, _, body) = decide_withdrawal(&router, &ada, &asked, "reject", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("invalid_transition"), "{body}");
    assert!(
        body.contains(&format!("cannot reject withdrawal {asked}: it is paid")),
        "{body}"
    );
    assert!(matches!(
        withdrawal_status(&chain, &asked),
        WithdrawalStatus::Paid { .. }
    ));
    assert_eq!(balance(&chain, 1, Segment::CashDeposit), 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_balances_reject_a_withdrawal_only_for_a_writer_with_the_token() {
    let chain = withdrawals_chain().await;
    let asked = ask_withdrawal(&chain, ISSUER, 2, 2_000).await;
    assert_eq!(balance(&chain, 2, Segment::CashDeposit), 1_000);
    let console = chain.console("acme", "console-acme");
    let router = console.router();
    let ada = sign_in(&console, "ada", StaffRole::Admin);
    let before = height(&chain);

    // No or a wrong CSRF token: refused, nothing submitted.
    let path = format!("/console/balances/withdrawals/{asked}");
    for form in [
        vec![("decision", "reject")],
        vec![("csrf", "0000"), ("decision", "reject")],
    ] {
        let (status, _, body) = post(&router, &ada, &path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(body.contains("your form expired"), "{body}");
    }

    // A read-only role sees the list without buttons, and its POST is refused.
    let ann = sign_in(&console, "ann", StaffRole::Analyst);
    let html = html_now(&router, &ann).await;
    let row = withdrawal_row(&html, &asked);
    assert!(offered(row).is_empty(), "{row}");
    assert!(!html.contains("action=\"/console/balances/withdrawals/"));
    assert!(cell(&html, "withdrawals-read-only").contains("needs the admin or issuer role"));
    let (status, _, body) = decide_withdrawal(&router, &ann, &asked, "reject", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("analyst user"), "{body}");
    assert_eq!(height(&chain), before, "nothing was submitted");
    assert_eq!(
        withdrawal_status(&chain, &asked),
        WithdrawalStatus::Requested
    );

    // Rejected by a writer: the amount goes back to the member and to the liability.
    let (status, location, body) = decide_withdrawal(&router, &ada, &asked, "reject", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/balances?done=withdrawal-rejected");
    assert_eq!(
        withdrawal_status(&chain, &asked),
        WithdrawalStatus::Rejected {
            by: public(CONSOLE_KEY)
        }
    );
    assert_eq!(balance(&chain, 2, Segment::CashDeposit), 3_000);
    let (_, html) = page(&router, &ada, &location).await;
    assert!(cell(&html, "notice").starts_with("Withdrawal rejected"));
    assert_eq!(cell(&html, "liability-cash_deposit"), "80.00 EUR");
    assert!(cell(&html, "no-withdrawals").contains("No withdrawal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_balances_show_why_a_withdrawal_decision_is_refused() {
    let chain = withdrawals_chain().await;
    // Asked with the console's own key: the chain refuses the console's approval.
    let own = ask_withdrawal(&chain, CONSOLE_KEY, 1, 500).await;
    let console = chain.console("acme", "console-acme");
    let router = console.router();
    let ada = sign_in(&console, "ada", StaffRole::Admin);
    let html = html_now(&router, &ada).await;
    assert!(withdrawal_row(&html, &own).contains("class=\"sub by-console\""));
    let (status, _, body) = decide_withdrawal(&router, &ada, &own, "approve", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("self_approval"), "{body}");
    assert!(
        body.contains("the key that asked for a withdrawal cannot approve it"),
        "{body}"
    );
    assert_eq!(withdrawal_status(&chain, &own), WithdrawalStatus::Requested);

    // Paid without a (valid) payment reference: a clear error, nothing submitted.
    let approve = TxKind::DecideWithdrawal(DecideWithdrawalTx {
        withdrawal: own,
        decision: WithdrawalDecision::Approve,
    });
    chain.applied(&key(MAKER), approve).await;
    let before = height(&chain);
    for (payment, says) in [
        (None, "(the bank transfer or payout id)"),
        (Some(""), "(the bank transfer or payout id)"),
        (Some("  "), "(the bank transfer or payout id)"),
        (Some("sepa 42"), "printable ASCII characters without spaces"),
    ] {
        let (status, _, body) = decide_withdrawal(&router, &ada, &own, "paid", payment).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{payment:?}: {body}");
        assert!(
            body.contains(says) && body.contains("nothing was submitted"),
            "{body}"
        );
        assert!(!body.contains("the ledger refused"), "{body}");
    }
    assert_eq!(height(&chain), before, "nothing was submitted");
    let by = public(MAKER);
    assert_eq!(
        withdrawal_status(&chain, &own),
        WithdrawalStatus::Approved { by }
    );

    // An approved one cannot be approved again; unknown decisions and ids, another org's.
    let (status, _, body) = decide_withdrawal(&router, &ada, &own, "approve", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(&format!("cannot approve withdrawal {own}: it is approved")));
    let (status, _, body) = decide_withdrawal(&router, &ada, &own, "maybe", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("approve, paid or reject"), "{body}");
    let (status, _, _) = decide_withdrawal(&router, &ada, &TxId([9; 32]), "reject", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let globex = chain.console("globex", "console-globex");
    let gus = sign_in(&globex, "gus", StaffRole::Admin);
    let (status, _, _) = decide_withdrawal(&globex.router(), &gus, &own, "reject", None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "acme's withdrawal is not globex's"
    );
    assert_eq!(
        withdrawal_status(&chain, &own),
        WithdrawalStatus::Approved { by }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_balances_with_an_issuer_key_record_payouts_only() {
    let chain = withdrawals_chain().await;
    let console = chain.console_signing("acme", "console-issuer", ISSUER);
    let router = console.router();
    let ivy = sign_in(&console, "ivy", StaffRole::Issuer);
    // The chain refuses an issuer key's approval, and takes its record of the payout.
    let out = ask_withdrawal(&chain, MAKER, 1, 1_000).await;
    let html = html_now(&router, &ivy).await;
    let hint = cell(&html, "withdrawals-key-hint");
    assert!(hint.contains("has the issuer role") && hint.contains("recording a payout works"));
    let (status, _, body) = decide_withdrawal(&router, &ivy, &out, "approve", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("needs an org_admin key"), "{body}");
    let approve = TxKind::DecideWithdrawal(DecideWithdrawalTx {
        withdrawal: out,
        decision: WithdrawalDecision::Approve,
    });
    chain.applied(&key(CONSOLE_KEY), approve).await;
    let (status, _, body) = decide_withdrawal(&router, &ivy, &out, "paid", Some("sepa-9")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(matches!(
        withdrawal_status(&chain, &out),
        WithdrawalStatus::Paid { payment, .. } if payment == "sepa-9"
    ));
}
