//! Every tx kind of the state machine, through `execute_block` on a [`TestChain`]: the happy
//! path and each rejection reason it can produce, plus the envelope checks every tx passes
//! first, the redemption arithmetic end to end, and `dry_run` / `quote_redemption` agreeing
//! with execution.
//!
//! `TestChain::rejected` (and [`last_rejected`] here) also assert that a rejected tx wrote
//! nothing, so every rejection test checks "changes no state" too.

use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{
    GENESIS_MS, TestChain, claim, code_text, issued_code, key, member, order, org, pool_id, public,
    spec,
};

// ---- keys (seeds) --------------------------------------------------------------------------

/// Genesis org admins.
const ACME: u8 = 1;
const GLOBEX: u8 = 2;
const INITECH: u8 = 3;
/// Keys [`chain`] registers.
const ACME_ISSUER: u8 = 10;
/// Store `berlin-1`, channel `pos`.
const ACME_POS: u8 = 11;
/// Store `online`, channel `web`.
const ACME_WEB: u8 = 12;
const ACME_AUDITOR: u8 = 13;
const GLOBEX_ISSUER: u8 = 20;
/// Store `paris-1`, channel `pos`.
const GLOBEX_POS: u8 = 21;
/// Store `rome-1`, channel `pos`.
const INITECH_POS: u8 = 31;
/// Never registered.
const STRANGER: u8 = 99;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

// ---- helpers: chain and state --------------------------------------------------------------

fn terminal(store: &str, channel: &str) -> Role {
    Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new(channel).unwrap(),
    }
}

/// The testkit chain plus an issuer, terminals and an auditor, registered in block 1.
fn chain() -> TestChain {
    let mut c = TestChain::new();
    let regs = [
        (ACME, ACME_ISSUER, Role::Issuer),
        (ACME, ACME_POS, terminal("berlin-1", "pos")),
        (ACME, ACME_WEB, terminal("online", "web")),
        (GLOBEX, GLOBEX_ISSUER, Role::Issuer),
        (GLOBEX, GLOBEX_POS, terminal("paris-1", "pos")),
        (INITECH, INITECH_POS, terminal("rome-1", "pos")),
    ];
    let txs: Vec<SignedTx> = regs
        .into_iter()
        .map(|(admin, seed, role)| c.sign(&key(admin), register(seed, role)))
        .collect();
    for r in c.execute(&txs) {
        assert!(r.outcome.events().is_some(), "setup: {:?}", r.outcome);
    }
    // A consortium auditor needs a governance quorum (acme proposes, globex approves).
    c.register_auditor("acme", ACME_AUDITOR);
    c
}

/// Lets time pass so that the next block's time is exactly `time_ms`.
fn advance_to(c: &mut TestChain, time_ms: u64) {
    let next = c.next_ctx().time_ms;
    assert!(time_ms >= next, "cannot go back in time");
    c.advance(time_ms - next);
}

/// Executes `txs` as one block and returns the last tx's rejection reason, asserting the
/// block writes exactly what it writes without that last tx.
#[track_caller]
fn last_rejected(c: &mut TestChain, txs: &[SignedTx]) -> RejectReason {
    let ctx = c.next_ctx();
    let (_, before) = txs.split_last().expect("at least one tx");
    let without = execute_block(&c.state, &ctx, before).unwrap();
    let with = execute_block(&c.state, &ctx, txs).unwrap();
    assert_eq!(
        with.writes.without_replay_protection(),
        without.writes.without_replay_protection(),
        "a rejected tx must not change state"
    );
    assert_eq!(with.results[..before.len()], without.results[..]);
    c.state.apply(&with.writes);
    c.height = ctx.height;
    c.time_ms = ctx.time_ms;
    match &with.results.last().unwrap().outcome {
        TxOutcome::Rejected { rejection } => rejection.reason,
        TxOutcome::Applied { events } => panic!("expected rejected, got applied: {events:?}"),
    }
}

fn state_value(c: &TestChain, k: StateKey) -> Option<StateValue> {
    c.state.0.get(&k).cloned()
}

fn key_record(c: &TestChain, seed: u8) -> Option<KeyRecord> {
    match state_value(c, StateKey::Key(public(seed))) {
        Some(StateValue::Key(k)) => Some(k),
        None => None,
        other => panic!("{other:?}"),
    }
}

fn org_record(c: &TestChain, name: &str) -> Option<OrgRecord> {
    match state_value(c, StateKey::Org(org(name))) {
        Some(StateValue::Org(o)) => Some(o),
        None => None,
        other => panic!("{other:?}"),
    }
}

fn consortium(c: &TestChain) -> Consortium {
    match state_value(c, StateKey::Consortium) {
        Some(StateValue::Consortium(x)) => x,
        other => panic!("{other:?}"),
    }
}

fn chain_params(c: &TestChain) -> ChainParams {
    match state_value(c, StateKey::Params) {
        Some(StateValue::Params(p)) => p,
        other => panic!("{other:?}"),
    }
}

fn proposal_record(c: &TestChain, id: TxId) -> ProposalRecord {
    match state_value(c, StateKey::Proposal(id)) {
        Some(StateValue::Proposal(p)) => p,
        other => panic!("{other:?}"),
    }
}

fn redemption_record(c: &TestChain, id: TxId) -> RedemptionRecord {
    match state_value(c, StateKey::Redemption(id)) {
        Some(StateValue::Redemption(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn count(c: &TestChain, k: StateKey) -> u32 {
    match state_value(c, k) {
        Some(StateValue::Count(n)) => n,
        None => 0,
        other => panic!("{other:?}"),
    }
}

fn member_redemptions(c: &TestChain, pool: &PoolId, m: u64) -> u32 {
    count(c, StateKey::MemberRedemptions(pool.clone(), member(m)))
}

fn member_allocations(c: &TestChain, pool: &PoolId, m: u64) -> u32 {
    count(c, StateKey::MemberAllocations(pool.clone(), member(m)))
}

// ---- helpers: tx kinds ---------------------------------------------------------------------

fn register(seed: u8, role: Role) -> TxKind {
    register_raw(public(seed), role)
}

fn register_raw(key: PublicKey, role: Role) -> TxKind {
    TxKind::RegisterKey(RegisterKeyTx { key, role })
}

fn revoke_key(seed: u8) -> TxKind {
    TxKind::RevokeKey(RevokeKeyTx { key: public(seed) })
}

fn propose(change: GovernanceChange) -> TxKind {
    TxKind::ProposeGovernance(ProposeGovernanceTx { change })
}

fn approve(proposal: TxId) -> TxKind {
    TxKind::ApproveGovernance(ApproveGovernanceTx { proposal })
}

fn create(pool: &str, spec: PoolSpec) -> TxKind {
    TxKind::CreatePool(CreatePoolTx {
        pool: pool_id(pool),
        spec,
    })
}

fn update(pool: &PoolId, spec: PoolSpec) -> TxKind {
    TxKind::UpdatePool(UpdatePoolTx {
        pool: pool.clone(),
        spec,
    })
}

fn transition(pool: &PoolId, action: PoolAction) -> TxKind {
    TxKind::TransitionPool(TransitionPoolTx {
        pool: pool.clone(),
        action,
    })
}

/// The testkit code `i` of `pool` (hash and sealed form).
fn code(pool: &PoolId, i: u64) -> IssuedCode {
    issued_code(pool, &code_text(pool, i), i)
}

fn issue(pool: &PoolId, codes: Vec<IssuedCode>) -> TxKind {
    TxKind::IssueCodes(IssueCodesTx {
        pool: pool.clone(),
        codes,
    })
}

/// Testkit codes `range` of `pool`.
fn issue_range(pool: &PoolId, range: std::ops::Range<u64>) -> TxKind {
    issue(pool, range.map(|i| code(pool, i)).collect())
}

/// A code whose sealed bytes are `sealed_len` filler bytes (the chaincode cannot open it).
fn fake_code(i: u64, sealed_len: usize) -> IssuedCode {
    IssuedCode {
        code_hash: code_hash(&format!("FAKE-{i}")),
        sealed: SealedCode(vec![7; sealed_len]),
    }
}

fn allocate(pool: &PoolId, m: u64, claim_n: u64) -> TxKind {
    TxKind::Allocate(AllocateTx {
        pool: pool.clone(),
        member: member(m),
        claim: claim(claim_n),
    })
}

fn redeem_token(token: &TokenId, m: Option<u64>, order: Order) -> TxKind {
    TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Token(token.clone()),
        member: m.map(member),
        order,
    })
}

fn redeem_tx_code(pool: &PoolId, i: u64, m: Option<u64>, order: Order) -> RedeemTx {
    RedeemTx {
        target: RedeemTarget::Code(code_hash(&code_text(pool, i))),
        member: m.map(member),
        order,
    }
}

/// Redeem the testkit code `i` of `pool` (a shared pool's code is `i = 0`).
fn redeem_code(pool: &PoolId, i: u64, m: Option<u64>, order: Order) -> TxKind {
    TxKind::Redeem(redeem_tx_code(pool, i, m, order))
}

fn rollback(redemption: TxId) -> TxKind {
    TxKind::Rollback(RollbackTx { redemption })
}

fn revoke_token(token: &TokenId) -> TxKind {
    revoke_token_for(token, RevokeReason::IssuedInError, None)
}

fn revoke_token_for(token: &TokenId, reason: RevokeReason, note: Option<&str>) -> TxKind {
    TxKind::RevokeToken(RevokeTokenTx {
        token: token.clone(),
        reason,
        note: note.map(str::to_string),
    })
}

fn transfer(token: &TokenId, from: u64, to: u64) -> TxKind {
    TxKind::TransferToken(TransferTokenTx {
        token: token.clone(),
        from: member(from),
        to: member(to),
    })
}

fn tok(pool: &PoolId, serial: u64) -> TokenId {
    TokenId {
        pool: pool.clone(),
        serial,
    }
}

/// An EUR order of `total` with category lines.
fn order_with(total: u64, lines: &[(&str, u64)]) -> Order {
    Order {
        currency: Currency(*b"EUR"),
        total_minor: total,
        lines: lines
            .iter()
            .map(|(c, a)| OrderLine {
                category: Category::new(*c).unwrap(),
                amount_minor: *a,
            })
            .collect(),
    }
}

// ---- helpers: setup steps ------------------------------------------------------------------

fn unique_spec() -> PoolSpec {
    spec(PoolKind::UniqueCodes)
}

fn shared_spec(total_cap: u64, per_member_cap: u32) -> PoolSpec {
    PoolSpec {
        total_cap,
        per_member_cap,
        ..spec(PoolKind::SharedCode)
    }
}

/// An active acme pool with `codes` codes (shared pools: their one code), made by the issuer.
fn active_pool(c: &mut TestChain, name: &str, spec: PoolSpec, codes: u64) -> PoolId {
    c.pool(&key(ACME_ISSUER), name, spec, codes, true)
}

/// Allocates the next token of `pool` to member `m` under claim key `m`.
#[track_caller]
fn allocate_to(c: &mut TestChain, pool: &PoolId, m: u64) -> TokenId {
    allocate_with_claim(c, pool, m, m)
}

#[track_caller]
fn allocate_with_claim(c: &mut TestChain, pool: &PoolId, m: u64, claim_n: u64) -> TokenId {
    match c
        .applied(&key(ACME_ISSUER), allocate(pool, m, claim_n))
        .as_slice()
    {
        [
            Event::Allocated {
                token,
                member: got,
                repeat: false,
            },
        ] if *got == member(m) => token.clone(),
        other => panic!("unexpected events {other:?}"),
    }
}

/// Applies a redeem and returns (redemption id, eligible, discount).
#[track_caller]
fn redeem_ok(c: &mut TestChain, terminal: u8, kind: TxKind) -> (TxId, u64, u64) {
    match c.applied(&key(terminal), kind).as_slice() {
        [
            Event::Redeemed {
                redemption,
                eligible_minor,
                discount_minor,
                currency,
                ..
            },
        ] => {
            assert_eq!(*currency, Currency(*b"EUR"));
            (*redemption, *eligible_minor, *discount_minor)
        }
        other => panic!("unexpected events {other:?}"),
    }
}

/// The discount a fresh acme pool with `spec` grants on `order` (or why it refuses).
fn discount_on(spec: PoolSpec, order: Order) -> Result<(u64, u64), RejectReason> {
    let mut c = chain();
    let pool = active_pool(&mut c, "arith", spec, 1);
    let tx = c.sign(&key(ACME_POS), redeem_code(&pool, 0, None, order));
    match c.execute(&[tx]).remove(0).outcome {
        TxOutcome::Applied { events } => match events.as_slice() {
            [
                Event::Redeemed {
                    eligible_minor,
                    discount_minor,
                    ..
                },
            ] => Ok((*eligible_minor, *discount_minor)),
            other => panic!("{other:?}"),
        },
        TxOutcome::Rejected { rejection } => Err(rejection.reason),
    }
}

fn proposal_id(events: &[Event]) -> TxId {
    match events.first() {
        Some(Event::ProposalOpened { proposal, .. }) => *proposal,
        other => panic!("no proposal opened: {other:?}"),
    }
}

/// Proposes `change` as acme and returns the proposal id (not yet applied: 3 orgs).
#[track_caller]
fn open_proposal(c: &mut TestChain, change: GovernanceChange) -> TxId {
    let events = c.applied(&key(ACME), propose(change));
    let id = proposal_id(&events);
    assert_eq!(
        events,
        vec![Event::ProposalOpened {
            proposal: id,
            approvals: 1,
            needed: 2
        }]
    );
    id
}

/// Proposes `change` as acme and approves it as globex.
#[track_caller]
fn govern(c: &mut TestChain, change: GovernanceChange) {
    let id = open_proposal(c, change.clone());
    let events = c.applied(&key(GLOBEX), approve(id));
    assert_eq!(
        events.last(),
        Some(&Event::GovernanceApplied {
            proposal: id,
            change
        })
    );
}

fn node(node_id: u64, seed: u8, voter: bool) -> NodeRecord {
    NodeRecord {
        node_id,
        org: org("globex"),
        node_key: public(seed),
        p2p_addr: format!("/ip4/127.0.0.1/tcp/{}", 7200 + node_id),
        voter,
    }
}

fn add_org(name: &str, admin_seed: u8) -> GovernanceChange {
    GovernanceChange::AddOrg {
        org: org(name),
        name: name.to_uppercase(),
        admin_key: public(admin_seed),
    }
}

fn outcome_of(r: Result<Vec<Event>, ExecError>) -> TxOutcome {
    match r {
        Ok(events) => TxOutcome::Applied { events },
        Err(ExecError::Rejected(rejection)) => TxOutcome::Rejected { rejection },
        Err(e) => panic!("state error {e}"),
    }
}

fn reason_of<T: std::fmt::Debug>(r: Result<T, ExecError>) -> RejectReason {
    match r {
        Err(ExecError::Rejected(rejection)) => rejection.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ==== envelope ==============================================================================

#[test]
fn a_tampered_signature_is_bad_signature() {
    let mut c = chain();
    let mut tx = c.sign(&key(ACME), register(50, Role::Issuer));
    tx.signature.0[5] ^= 1;
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::BadSignature);
    assert_eq!(key_record(&c, 50), None);
}

#[test]
fn a_signature_by_another_key_is_bad_signature() {
    let mut c = chain();
    let mut tx = c.sign(&key(GLOBEX), register(50, Role::Issuer));
    tx.signer = public(ACME);
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::BadSignature);
}

#[test]
fn a_signer_that_is_not_a_curve_point_is_bad_signature() {
    let mut c = chain();
    let mut tx = c.sign(&key(ACME), register(50, Role::Issuer));
    tx.signer = PublicKey([0xff; 32]);
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::BadSignature);
}

#[test]
fn a_tx_for_another_chain_is_wrong_chain() {
    let mut c = chain();
    let mut body = c.body(register(50, Role::Issuer));
    body.chain_id = ChainId::new("otherchain").unwrap();
    let tx = body.sign(&key(ACME));
    assert_eq!(tx.verify(), Ok(()));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::WrongChain);
}

#[test]
fn a_tx_valid_until_before_the_block_time_is_stale() {
    let mut c = chain();
    let next = c.next_ctx().time_ms;
    let mut body = c.body(register(50, Role::Issuer));
    body.valid_until_ms = next - 1;
    let tx = body.sign(&key(ACME));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::Stale);

    // Valid until exactly the block time is still fresh.
    let next = c.next_ctx().time_ms;
    let mut body = c.body(register(50, Role::Issuer));
    body.valid_until_ms = next;
    let tx = body.sign(&key(ACME));
    assert!(c.execute(&[tx])[0].outcome.events().is_some());
}

#[test]
fn a_validity_beyond_max_tx_validity_is_invalid_input() {
    let mut c = chain();
    let max = chain_params(&c).max_tx_validity_ms;
    let next = c.next_ctx().time_ms;
    let mut body = c.body(register(50, Role::Issuer));
    body.valid_until_ms = next + max + 1;
    let tx = body.sign(&key(ACME));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::InvalidInput);

    let next = c.next_ctx().time_ms;
    let mut body = c.body(register(50, Role::Issuer));
    body.valid_until_ms = next + max;
    let tx = body.sign(&key(ACME));
    assert!(c.execute(&[tx])[0].outcome.events().is_some());
}

#[test]
fn replaying_an_seen_tx_is_duplicate() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let tx = c.sign(&key(ACME_ISSUER), allocate(&pool, 1, 1));
    assert!(
        c.execute(std::slice::from_ref(&tx))[0]
            .outcome
            .events()
            .is_some()
    );
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::Duplicate);
    assert_eq!(c.pool_record(&pool).allocated, 1);
}

#[test]
fn the_same_tx_twice_in_one_block_applies_once() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let tx = c.sign(&key(ACME_POS), redeem_token(&t, Some(1), order(1_000)));
    assert_eq!(
        last_rejected(&mut c, &[tx.clone(), tx]),
        RejectReason::Duplicate
    );
    assert_eq!(c.pool_record(&pool).redeemed, 1);
}

#[test]
fn a_replay_after_the_validity_passed_is_stale_and_the_id_is_forgotten() {
    let mut c = chain();
    let tx = c.sign(&key(ACME), register(50, Role::Issuer));
    let valid_until = tx.body.valid_until_ms;
    assert!(
        c.execute(std::slice::from_ref(&tx))[0]
            .outcome
            .events()
            .is_some()
    );
    let applied = StateKey::SeenTx(tx.id());
    assert_eq!(
        state_value(&c, applied.clone()),
        Some(StateValue::SeenTx(valid_until))
    );
    // Still remembered at the last instant it could be replayed.
    advance_to(&mut c, valid_until);
    assert_eq!(
        last_rejected(&mut c, std::slice::from_ref(&tx)),
        RejectReason::Duplicate
    );
    assert!(state_value(&c, applied.clone()).is_some());
    // Once a block starts in a later second, it is stale and forgotten.
    let next_second = (valid_until / 1_000 + 1) * 1_000;
    let target = next_second.max(c.next_ctx().time_ms);
    advance_to(&mut c, target);
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::Stale);
    assert_eq!(state_value(&c, applied), None);
}

#[test]
fn a_tx_re_signed_with_another_nonce_is_not_a_duplicate() {
    let mut c = chain();
    let a = c.sign(&key(ACME), register(50, Role::Issuer));
    let b = c.sign(&key(ACME), revoke_key(50));
    let results = c.execute(&[a, b]);
    assert!(results.iter().all(|r| r.outcome.events().is_some()));
    assert_eq!(key_record(&c, 50).unwrap().revoked_at, Some(c.height));
}

#[test]
fn an_unregistered_signer_is_unknown_key() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(STRANGER), register(50, Role::Issuer)),
        RejectReason::UnknownKey
    );
}

#[test]
fn a_revoked_signer_is_key_revoked() {
    let mut c = chain();
    c.applied(&key(ACME), revoke_key(ACME_ISSUER));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), create("spring", unique_spec())),
        RejectReason::KeyRevoked
    );
}

// ==== register_key ==========================================================================

#[test]
fn registering_a_key_records_org_role_and_height() {
    let mut c = chain();
    let role = terminal("hamburg-2", "app");
    let events = c.applied(&key(ACME), register(50, role.clone()));
    assert_eq!(
        events,
        vec![Event::KeyRegistered {
            key: public(50),
            org: org("acme"),
            role: role.clone()
        }]
    );
    assert_eq!(
        key_record(&c, 50),
        Some(KeyRecord {
            org: org("acme"),
            role,
            registered_at: c.height,
            revoked_at: None
        })
    );
}

#[test]
fn registering_an_org_admin_counts_it_as_active_admin() {
    let mut c = chain();
    assert_eq!(org_record(&c, "acme").unwrap().active_admins, 1);
    c.applied(&key(ACME), register(50, Role::OrgAdmin));
    assert_eq!(org_record(&c, "acme").unwrap().active_admins, 2);
    // The new admin acts for acme.
    c.applied(&key(50), register(51, Role::Issuer));
    assert_eq!(key_record(&c, 51).unwrap().org, org("acme"));
}

#[test]
fn registering_by_a_non_admin_is_not_authorized() {
    let mut c = chain();
    for signer in [ACME_ISSUER, ACME_POS, ACME_AUDITOR] {
        assert_eq!(
            c.rejected(&key(signer), register(50, Role::Issuer)),
            RejectReason::NotAuthorized,
            "signer {signer}"
        );
    }
}

#[test]
fn an_auditor_needs_a_governance_quorum() {
    let mut c = chain();
    // An org admin alone may not grant a consortium-wide read right.
    assert_eq!(
        c.rejected(&key(ACME), register(50, Role::Auditor)),
        RejectReason::NotAuthorized
    );
    assert_eq!(key_record(&c, 50), None);
    // Proposed by acme: pending until a quorum (2 of 3 orgs) approves.
    let change = GovernanceChange::AddAuditor {
        org: org("acme"),
        key: public(50),
    };
    let proposal = c.sign(&key(ACME), propose(change.clone()));
    c.execute(std::slice::from_ref(&proposal));
    assert_eq!(
        key_record(&c, 50),
        None,
        "one org's approval is not a quorum"
    );
    c.applied(&key(GLOBEX), approve(proposal.id()));
    let record = key_record(&c, 50).expect("registered once approved");
    assert_eq!((record.role, record.org), (Role::Auditor, org("acme")));
    // A registered key cannot be proposed again, nor an auditor for an unknown org.
    assert_eq!(
        c.rejected(&key(ACME), propose(change)),
        RejectReason::AlreadyExists
    );
    assert_eq!(
        c.rejected(
            &key(ACME),
            propose(GovernanceChange::AddAuditor {
                org: org("nowhere"),
                key: public(51),
            })
        ),
        RejectReason::NotFound
    );
    // Its own org may revoke it alone (narrowing a read right needs no quorum).
    c.applied(&key(ACME), revoke_key(50));
}

#[test]
fn registering_a_registered_key_is_already_exists() {
    let mut c = chain();
    // Own org's key, and another org's key: keys are unique ledger-wide.
    assert_eq!(
        c.rejected(&key(ACME), register(ACME_POS, Role::Issuer)),
        RejectReason::AlreadyExists
    );
    assert_eq!(
        c.rejected(&key(ACME), register(GLOBEX, Role::Partner)),
        RejectReason::AlreadyExists
    );
}

#[test]
fn registering_a_revoked_key_again_is_already_exists() {
    let mut c = chain();
    c.applied(&key(ACME), revoke_key(ACME_POS));
    assert_eq!(
        c.rejected(&key(ACME), register(ACME_POS, terminal("berlin-1", "pos"))),
        RejectReason::AlreadyExists
    );
}

#[test]
fn registering_a_malformed_key_is_invalid_input() {
    let mut c = chain();
    let mut identity = [0u8; 32];
    identity[0] = 1; // small order
    for bad in [PublicKey([0xff; 32]), PublicKey(identity)] {
        assert_eq!(
            c.rejected(&key(ACME), register_raw(bad, Role::Issuer)),
            RejectReason::InvalidInput
        );
    }
}

#[test]
fn registering_a_terminal_with_malformed_store_or_channel_is_invalid_input() {
    let mut c = chain();
    let bad_store = Role::Terminal {
        store: StoreId("Berlin 1".into()),
        channel: Channel::new("pos").unwrap(),
    };
    let bad_channel = Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel(String::new()),
    };
    for role in [bad_store, bad_channel] {
        assert_eq!(
            c.rejected(&key(ACME), register(50, role)),
            RejectReason::InvalidInput
        );
    }
}

// ==== revoke_key ============================================================================

#[test]
fn revoking_a_key_stops_it_signing() {
    let mut c = chain();
    let events = c.applied(&key(ACME), revoke_key(ACME_POS));
    assert_eq!(
        events,
        vec![Event::KeyRevoked {
            key: public(ACME_POS)
        }]
    );
    assert_eq!(key_record(&c, ACME_POS).unwrap().revoked_at, Some(c.height));
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::KeyRevoked
    );
}

#[test]
fn revoking_by_a_non_admin_is_not_authorized() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), revoke_key(ACME_POS)),
        RejectReason::NotAuthorized
    );
}

#[test]
fn revoking_another_orgs_key_is_not_authorized() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME), revoke_key(GLOBEX_POS)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(ACME), revoke_key(GLOBEX)),
        RejectReason::NotAuthorized
    );
}

#[test]
fn revoking_an_unknown_key_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME), revoke_key(STRANGER)),
        RejectReason::NotFound
    );
}

#[test]
fn revoking_a_key_twice_is_invalid_transition() {
    let mut c = chain();
    c.applied(&key(ACME), revoke_key(ACME_POS));
    assert_eq!(
        c.rejected(&key(ACME), revoke_key(ACME_POS)),
        RejectReason::InvalidTransition
    );
}

#[test]
fn the_last_org_admin_cannot_be_revoked() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME), revoke_key(ACME)),
        RejectReason::InvalidTransition
    );
    c.applied(&key(ACME), register(50, Role::OrgAdmin));
    // With two admins one may go, then the other is the last again.
    c.applied(&key(50), revoke_key(ACME));
    assert_eq!(org_record(&c, "acme").unwrap().active_admins, 1);
    assert_eq!(
        c.rejected(&key(50), revoke_key(50)),
        RejectReason::InvalidTransition
    );
    assert_eq!(
        c.rejected(&key(ACME), register(51, Role::Issuer)),
        RejectReason::KeyRevoked
    );
}

// ==== propose_governance / approve_governance ===============================================

#[test]
fn a_single_proposer_is_not_a_quorum_of_three_orgs() {
    let mut c = chain();
    let change = add_org("hooli", 4);
    let id = open_proposal(&mut c, change.clone());
    assert_eq!(
        proposal_record(&c, id),
        ProposalRecord {
            change,
            approvals: vec![org("acme")],
            expires_at_ms: c.time_ms + chain_params(&c).proposal_ttl_ms,
            executed_at: None,
        }
    );
    assert_eq!(org_record(&c, "hooli"), None);
    assert_eq!(key_record(&c, 4), None);
    assert_eq!(
        consortium(&c).orgs,
        vec![org("acme"), org("globex"), org("initech")]
    );
}

#[test]
fn add_org_applies_when_a_second_org_approves() {
    let mut c = chain();
    let change = add_org("hooli", 4);
    let id = open_proposal(&mut c, change.clone());
    let events = c.applied(&key(INITECH), approve(id));
    assert_eq!(
        events,
        vec![
            Event::ProposalApproved {
                proposal: id,
                approvals: 2,
                needed: 2
            },
            Event::GovernanceApplied {
                proposal: id,
                change
            }
        ]
    );
    assert_eq!(
        consortium(&c).orgs,
        vec![org("acme"), org("globex"), org("hooli"), org("initech")]
    );
    assert_eq!(
        org_record(&c, "hooli"),
        Some(OrgRecord {
            name: "HOOLI".into(),
            active_admins: 1,
            joined_at: c.height
        })
    );
    let record = proposal_record(&c, id);
    assert_eq!(record.executed_at, Some(c.height));
    assert_eq!(record.approvals, vec![org("acme"), org("initech")]);
    // The new org's admin acts, and the quorum is now 3 of 4.
    c.applied(&key(4), register(40, Role::Issuer));
    assert_eq!(key_record(&c, 40).unwrap().org, org("hooli"));
    let events = c.applied(&key(ACME), propose(add_org("umbrella", 5)));
    let id = proposal_id(&events);
    assert_eq!(
        events,
        vec![Event::ProposalOpened {
            proposal: id,
            approvals: 1,
            needed: 3
        }]
    );
    let events = c.applied(&key(GLOBEX), approve(id));
    assert_eq!(
        events,
        vec![Event::ProposalApproved {
            proposal: id,
            approvals: 2,
            needed: 3
        }]
    );
    assert_eq!(org_record(&c, "umbrella"), None);
    c.applied(&key(4), approve(id));
    assert!(org_record(&c, "umbrella").is_some());
}

#[test]
fn add_node_applies_with_quorum() {
    let mut c = chain();
    govern(
        &mut c,
        GovernanceChange::AddNode {
            node: node(2, 201, true),
        },
    );
    let nodes = consortium(&c).nodes;
    assert_eq!(nodes.iter().map(|n| n.node_id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(nodes[1], node(2, 201, true));
}

#[test]
fn remove_node_applies_with_quorum_and_retires_the_id() {
    let mut c = chain();
    govern(
        &mut c,
        GovernanceChange::AddNode {
            node: node(2, 201, true),
        },
    );
    govern(&mut c, GovernanceChange::RemoveNode { node_id: 1 });
    let cons = consortium(&c);
    assert_eq!(cons.nodes, vec![node(2, 201, true)]);
    assert_eq!(cons.retired_node_ids, vec![1]);
    // A retired id is never reused.
    assert_eq!(
        c.rejected(
            &key(ACME),
            propose(GovernanceChange::AddNode {
                node: node(1, 202, true)
            })
        ),
        RejectReason::AlreadyExists
    );
}

#[test]
fn update_params_applies_with_quorum_and_takes_effect() {
    let mut c = chain();
    let params = ChainParams {
        max_batch_codes: 3,
        ..ChainParams::default()
    };
    govern(
        &mut c,
        GovernanceChange::UpdateParams {
            params: params.clone(),
        },
    );
    assert_eq!(chain_params(&c), params);
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&pool, 0..4)),
        RejectReason::InvalidInput
    );
    c.applied(&key(ACME_ISSUER), issue_range(&pool, 0..3));
    assert_eq!(c.pool_record(&pool).issued, 3);
}

#[test]
fn proposing_or_approving_by_a_non_admin_is_not_authorized() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), propose(add_org("hooli", 4))),
        RejectReason::NotAuthorized
    );
    let id = open_proposal(&mut c, add_org("hooli", 4));
    assert_eq!(
        c.rejected(&key(GLOBEX_ISSUER), approve(id)),
        RejectReason::NotAuthorized
    );
    assert_eq!(
        c.rejected(&key(GLOBEX_POS), approve(id)),
        RejectReason::NotAuthorized
    );
}

#[test]
fn approving_an_unknown_proposal_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(GLOBEX), approve(TxId([9; 32]))),
        RejectReason::NotFound
    );
}

#[test]
fn approving_twice_from_one_org_is_already_approved() {
    let mut c = chain();
    c.applied(&key(ACME), register(50, Role::OrgAdmin));
    let id = open_proposal(&mut c, add_org("hooli", 4));
    // The proposer's org approved by proposing; another admin of it adds nothing.
    assert_eq!(
        c.rejected(&key(ACME), approve(id)),
        RejectReason::AlreadyApproved
    );
    assert_eq!(
        c.rejected(&key(50), approve(id)),
        RejectReason::AlreadyApproved
    );
    assert_eq!(org_record(&c, "hooli"), None);
}

#[test]
fn approving_an_applied_proposal_is_invalid_transition() {
    let mut c = chain();
    let id = open_proposal(&mut c, add_org("hooli", 4));
    c.applied(&key(GLOBEX), approve(id));
    assert_eq!(
        c.rejected(&key(INITECH), approve(id)),
        RejectReason::InvalidTransition
    );
}

#[test]
fn approving_after_the_proposal_ttl_is_expired() {
    let mut c = chain();
    let id = open_proposal(&mut c, add_org("hooli", 4));
    let expires = proposal_record(&c, id).expires_at_ms;
    assert_eq!(expires, c.time_ms + 7 * DAY_MS);
    // At the expiry instant it can still be approved ...
    let mut at_expiry = c.clone();
    advance_to(&mut at_expiry, expires);
    at_expiry.applied(&key(GLOBEX), approve(id));
    assert!(org_record(&at_expiry, "hooli").is_some());
    // ... one millisecond later it cannot.
    advance_to(&mut c, expires + 1);
    assert_eq!(c.rejected(&key(GLOBEX), approve(id)), RejectReason::Expired);
    assert_eq!(org_record(&c, "hooli"), None);
}

#[test]
fn an_approval_rechecks_the_change_against_current_state() {
    let mut c = chain();
    // Two proposals for node id 2 (with different keys): only the first can apply.
    let first = open_proposal(
        &mut c,
        GovernanceChange::AddNode {
            node: node(2, 201, true),
        },
    );
    let second = open_proposal(
        &mut c,
        GovernanceChange::AddNode {
            node: node(2, 202, true),
        },
    );
    c.applied(&key(GLOBEX), approve(first));
    assert_eq!(
        c.rejected(&key(INITECH), approve(second)),
        RejectReason::AlreadyExists
    );
    assert_eq!(consortium(&c).nodes[1], node(2, 201, true));
    assert_eq!(proposal_record(&c, second).approvals, vec![org("acme")]);
}

#[test]
fn the_last_voter_cannot_be_removed() {
    let mut c = chain();
    assert_eq!(
        c.rejected(
            &key(ACME),
            propose(GovernanceChange::RemoveNode { node_id: 1 })
        ),
        RejectReason::InvalidTransition
    );
    // A learner does not count as a voter ...
    govern(
        &mut c,
        GovernanceChange::AddNode {
            node: node(2, 201, false),
        },
    );
    assert_eq!(
        c.rejected(
            &key(ACME),
            propose(GovernanceChange::RemoveNode { node_id: 1 })
        ),
        RejectReason::InvalidTransition
    );
    // ... and may itself be removed.
    govern(&mut c, GovernanceChange::RemoveNode { node_id: 2 });
    assert_eq!(consortium(&c).nodes.len(), 1);
}

#[test]
fn removing_the_last_voter_is_refused_at_approval_too() {
    let mut c = chain();
    govern(
        &mut c,
        GovernanceChange::AddNode {
            node: node(2, 201, true),
        },
    );
    let remove_1 = open_proposal(&mut c, GovernanceChange::RemoveNode { node_id: 1 });
    let remove_2 = open_proposal(&mut c, GovernanceChange::RemoveNode { node_id: 2 });
    c.applied(&key(GLOBEX), approve(remove_1));
    assert_eq!(
        c.rejected(&key(GLOBEX), approve(remove_2)),
        RejectReason::InvalidTransition
    );
    assert_eq!(consortium(&c).nodes, vec![node(2, 201, true)]);
}

#[test]
fn invalid_governance_changes_are_refused_at_proposal() {
    let mut c = chain();
    let n = |f: fn(&mut NodeRecord)| {
        let mut rec = node(5, 205, true);
        f(&mut rec);
        GovernanceChange::AddNode { node: rec }
    };
    let params = |f: fn(&mut ChainParams)| {
        let mut p = ChainParams::default();
        f(&mut p);
        GovernanceChange::UpdateParams { params: p }
    };
    let cases = vec![
        // AddOrg
        (
            "malformed org id",
            GovernanceChange::AddOrg {
                org: OrgId("Hooli Inc".into()),
                name: "Hooli".into(),
                admin_key: public(4),
            },
            RejectReason::InvalidInput,
        ),
        (
            "empty org name",
            GovernanceChange::AddOrg {
                org: org("hooli"),
                name: String::new(),
                admin_key: public(4),
            },
            RejectReason::InvalidInput,
        ),
        (
            "existing org",
            add_org("globex", 4),
            RejectReason::AlreadyExists,
        ),
        (
            "registered admin key",
            add_org("hooli", ACME_POS),
            RejectReason::AlreadyExists,
        ),
        (
            "malformed admin key",
            GovernanceChange::AddOrg {
                org: org("hooli"),
                name: "Hooli".into(),
                admin_key: PublicKey([0xff; 32]),
            },
            RejectReason::InvalidInput,
        ),
        // AddNode
        (
            "node id 0",
            n(|r| r.node_id = 0),
            RejectReason::InvalidInput,
        ),
        (
            "node id in use",
            n(|r| r.node_id = 1),
            RejectReason::AlreadyExists,
        ),
        (
            "node key in use",
            n(|r| r.node_key = public(200)),
            RejectReason::AlreadyExists,
        ),
        (
            "unknown node org",
            n(|r| r.org = org("hooli")),
            RejectReason::NotFound,
        ),
        (
            "malformed node key",
            n(|r| r.node_key = PublicKey([0xff; 32])),
            RejectReason::InvalidInput,
        ),
        (
            "empty p2p address",
            n(|r| r.p2p_addr.clear()),
            RejectReason::InvalidInput,
        ),
        // RemoveNode
        (
            "unknown node",
            GovernanceChange::RemoveNode { node_id: 7 },
            RejectReason::NotFound,
        ),
        // UpdateParams
        (
            "zero batch",
            params(|p| p.max_batch_codes = 0),
            RejectReason::InvalidInput,
        ),
        (
            "batch too large",
            params(|p| p.max_batch_codes = 100_001),
            RejectReason::InvalidInput,
        ),
        (
            "validity under 1 s",
            params(|p| p.max_tx_validity_ms = 999),
            RejectReason::InvalidInput,
        ),
        (
            "validity over 30 days",
            params(|p| p.max_tx_validity_ms = 30 * DAY_MS + 1),
            RejectReason::InvalidInput,
        ),
        (
            "ttl under 60 s",
            params(|p| p.proposal_ttl_ms = 59_999),
            RejectReason::InvalidInput,
        ),
        (
            "sealed codes too small",
            params(|p| p.max_sealed_code_bytes = 28),
            RejectReason::InvalidInput,
        ),
        (
            "sealed codes too large",
            params(|p| p.max_sealed_code_bytes = 4_097),
            RejectReason::InvalidInput,
        ),
    ];
    for (what, change, reason) in cases {
        assert_eq!(c.rejected(&key(ACME), propose(change)), reason, "{what}");
    }
}

// ==== create_pool ===========================================================================

#[test]
fn creating_a_pool_puts_it_in_draft_owned_by_the_signers_org() {
    let mut c = chain();
    let events = c.applied(&key(ACME_ISSUER), create("spring", unique_spec()));
    assert_eq!(
        events,
        vec![Event::PoolCreated {
            pool: pool_id("spring")
        }]
    );
    let record = c.pool_record(&pool_id("spring"));
    assert_eq!(
        record,
        PoolRecord {
            id: pool_id("spring"),
            owner: org("acme"),
            spec: unique_spec(),
            status: PoolStatus::Draft,
            created_at: c.height,
            issued: 0,
            allocated: 0,
            redeemed: 0,
            next_free: 0,
            shared_code: None,
        }
    );
    // Org admins may create pools too.
    c.applied(&key(GLOBEX), create("autumn", unique_spec()));
    assert_eq!(c.pool_record(&pool_id("autumn")).owner, org("globex"));
}

#[test]
fn creating_a_pool_without_admin_or_issuer_role_is_not_authorized() {
    let mut c = chain();
    for signer in [ACME_POS, ACME_AUDITOR] {
        assert_eq!(
            c.rejected(&key(signer), create("spring", unique_spec())),
            RejectReason::NotAuthorized
        );
    }
}

#[test]
fn creating_an_existing_pool_id_is_already_exists() {
    let mut c = chain();
    c.applied(&key(ACME_ISSUER), create("spring", unique_spec()));
    assert_eq!(
        c.rejected(&key(GLOBEX_ISSUER), create("spring", unique_spec())),
        RejectReason::AlreadyExists
    );
    assert_eq!(c.pool_record(&pool_id("spring")).owner, org("acme"));
}

#[test]
fn creating_a_pool_with_an_unknown_partner_is_not_found() {
    let mut c = chain();
    let s = PoolSpec {
        partner_orgs: vec![org("hooli")],
        ..unique_spec()
    };
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), create("spring", s)),
        RejectReason::NotFound
    );
}

fn invalid_specs() -> Vec<(&'static str, PoolSpec)> {
    let base = unique_spec();
    let with = |f: &dyn Fn(&mut PoolSpec)| {
        let mut s = base.clone();
        f(&mut s);
        s
    };
    vec![
        ("empty name", with(&|s| s.name.clear())),
        ("control character", with(&|s| s.name = "a\nb".into())),
        ("name too long", with(&|s| s.name = "x".repeat(201))),
        (
            "lowercase currency",
            with(&|s| s.currency = Currency(*b"eur")),
        ),
        (
            "zero percent",
            with(&|s| s.discount = Discount::Percent { bps: 0 }),
        ),
        (
            "over 100 percent",
            with(&|s| s.discount = Discount::Percent { bps: 10_001 }),
        ),
        (
            "zero fixed",
            with(&|s| s.discount = Discount::Fixed { amount_minor: 0 }),
        ),
        (
            "zero max discount",
            with(&|s| s.max_discount_minor = Some(0)),
        ),
        (
            "empty validity",
            with(&|s| s.valid_until_ms = s.valid_from_ms),
        ),
        ("zero total cap", with(&|s| s.total_cap = 0)),
        ("zero per-member cap", with(&|s| s.per_member_cap = 0)),
        (
            "channel listed twice",
            with(&|s| s.allowed_channels = vec![Channel::new("pos").unwrap(); 2]),
        ),
        (
            "malformed store",
            with(&|s| s.allowed_stores = vec![StoreId("Berlin".into())]),
        ),
        (
            "too many categories",
            with(&|s| {
                s.excluded_categories = (0..65)
                    .map(|i| Category::new(format!("c{i}")).unwrap())
                    .collect()
            }),
        ),
        (
            "owner as partner",
            with(&|s| s.partner_orgs = vec![org("acme")]),
        ),
        (
            "malformed stacking group",
            with(&|s| s.stacking_group = Some("Summer Sale".into())),
        ),
    ]
}

#[test]
fn creating_a_pool_with_an_invalid_spec_is_invalid_input() {
    let mut c = chain();
    for (what, s) in invalid_specs() {
        assert_eq!(
            c.rejected(&key(ACME_ISSUER), create("spring", s)),
            RejectReason::InvalidInput,
            "{what}"
        );
    }
    let tx = TxKind::CreatePool(CreatePoolTx {
        pool: PoolId("Spring Sale".into()),
        spec: unique_spec(),
    });
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), tx),
        RejectReason::InvalidInput
    );
}

// ==== update_pool ===========================================================================

#[test]
fn updating_a_draft_pool_replaces_its_spec() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 2, false);
    let new = PoolSpec {
        name: "Spring, revised".into(),
        discount: Discount::Fixed { amount_minor: 500 },
        total_cap: 2,
        partner_orgs: vec![org("globex")],
        ..unique_spec()
    };
    let events = c.applied(&key(ACME), update(&pool, new.clone()));
    assert_eq!(events, vec![Event::PoolUpdated { pool: pool.clone() }]);
    let record = c.pool_record(&pool);
    assert_eq!(record.spec, new);
    assert_eq!(record.issued, 2);
    assert_eq!(record.status, PoolStatus::Draft);
}

#[test]
fn updating_a_pool_that_left_draft_is_invalid_transition() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), update(&pool, unique_spec())),
        RejectReason::InvalidTransition
    );
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), update(&pool, unique_spec())),
        RejectReason::InvalidTransition
    );
}

#[test]
fn changing_the_pool_kind_after_issuing_is_invalid_transition() {
    let mut c = chain();
    let empty = c.pool(&key(ACME_ISSUER), "empty", unique_spec(), 0, false);
    c.applied(
        &key(ACME_ISSUER),
        update(&empty, spec(PoolKind::SharedCode)),
    );
    let issued = c.pool(&key(ACME_ISSUER), "issued", unique_spec(), 1, false);
    assert_eq!(
        c.rejected(
            &key(ACME_ISSUER),
            update(&issued, spec(PoolKind::SharedCode))
        ),
        RejectReason::InvalidTransition
    );
    let shared = c.pool(
        &key(ACME_ISSUER),
        "shared",
        spec(PoolKind::SharedCode),
        1,
        false,
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), update(&shared, unique_spec())),
        RejectReason::InvalidTransition
    );
}

#[test]
fn lowering_the_cap_below_issued_is_quantity_exceeded() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 3, false);
    let cap = |total_cap| PoolSpec {
        total_cap,
        ..unique_spec()
    };
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), update(&pool, cap(2))),
        RejectReason::QuantityExceeded
    );
    c.applied(&key(ACME_ISSUER), update(&pool, cap(3)));
    assert_eq!(c.pool_record(&pool).spec.total_cap, 3);
}

#[test]
fn updating_another_orgs_pool_or_without_role_is_not_authorized() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    for signer in [GLOBEX, GLOBEX_ISSUER, ACME_POS, ACME_AUDITOR] {
        assert_eq!(
            c.rejected(&key(signer), update(&pool, unique_spec())),
            RejectReason::NotAuthorized,
            "signer {signer}"
        );
    }
}

#[test]
fn updating_an_unknown_pool_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), update(&pool_id("nope"), unique_spec())),
        RejectReason::NotFound
    );
}

#[test]
fn updating_with_an_invalid_spec_is_invalid_input() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    for (what, s) in invalid_specs() {
        assert_eq!(
            c.rejected(&key(ACME_ISSUER), update(&pool, s)),
            RejectReason::InvalidInput,
            "{what}"
        );
    }
    assert_eq!(c.pool_record(&pool).spec, unique_spec());
}

// ==== transition_pool =======================================================================

#[test]
fn pools_move_draft_active_paused_active_archived() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 1, false);
    use PoolAction::*;
    use PoolStatus::*;
    for (action, from, to) in [
        (Activate, Draft, Active),
        (Pause, Active, Paused),
        (Resume, Paused, Active),
        (Pause, Active, Paused),
        (Archive, Paused, Archived),
    ] {
        let events = c.applied(&key(ACME_ISSUER), transition(&pool, action));
        assert_eq!(
            events,
            vec![Event::PoolStatusChanged {
                pool: pool.clone(),
                from,
                to
            }]
        );
        assert_eq!(c.pool_record(&pool).status, to);
    }
}

#[test]
fn draft_and_active_pools_can_be_archived() {
    let mut c = chain();
    let draft = c.pool(&key(ACME_ISSUER), "draft", unique_spec(), 0, false);
    c.applied(&key(ACME), transition(&draft, PoolAction::Archive));
    assert_eq!(c.pool_record(&draft).status, PoolStatus::Archived);
    let active = active_pool(&mut c, "active", unique_spec(), 1);
    c.applied(&key(ACME), transition(&active, PoolAction::Archive));
    assert_eq!(c.pool_record(&active).status, PoolStatus::Archived);
}

/// A pool of acme in `status` (with one code).
fn pool_in(c: &mut TestChain, name: &str, status: PoolStatus) -> PoolId {
    let pool = c.pool(
        &key(ACME_ISSUER),
        name,
        unique_spec(),
        1,
        status != PoolStatus::Draft,
    );
    match status {
        PoolStatus::Draft | PoolStatus::Active => {}
        PoolStatus::Paused => {
            c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
        }
        PoolStatus::Archived => {
            c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Archive));
        }
    }
    assert_eq!(c.pool_record(&pool).status, status);
    pool
}

#[test]
fn every_illegal_pool_transition_is_invalid_transition() {
    use PoolAction::*;
    use PoolStatus::*;
    let illegal = [
        (Draft, Pause),
        (Draft, Resume),
        (Active, Activate),
        (Active, Resume),
        (Paused, Activate),
        (Paused, Pause),
        (Archived, Activate),
        (Archived, Pause),
        (Archived, Resume),
        (Archived, Archive),
    ];
    let mut c = chain();
    for (i, (status, action)) in illegal.into_iter().enumerate() {
        let pool = pool_in(&mut c, &format!("p{i}"), status);
        assert_eq!(
            c.rejected(&key(ACME_ISSUER), transition(&pool, action)),
            RejectReason::InvalidTransition,
            "{action:?} from {status:?}"
        );
        assert_eq!(c.pool_record(&pool).status, status);
    }
}

#[test]
fn activating_a_pool_without_codes_is_invalid_transition() {
    let mut c = chain();
    for kind in [PoolKind::UniqueCodes, PoolKind::SharedCode] {
        let name = format!("{kind:?}").to_lowercase();
        let pool = c.pool(&key(ACME_ISSUER), &name, spec(kind), 0, false);
        assert_eq!(
            c.rejected(&key(ACME_ISSUER), transition(&pool, PoolAction::Activate)),
            RejectReason::InvalidTransition
        );
    }
}

#[test]
fn transitioning_another_orgs_pool_is_not_authorized() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 1, false);
    for signer in [GLOBEX, GLOBEX_ISSUER, ACME_POS] {
        assert_eq!(
            c.rejected(&key(signer), transition(&pool, PoolAction::Activate)),
            RejectReason::NotAuthorized
        );
    }
}

#[test]
fn transitioning_an_unknown_pool_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(
            &key(ACME_ISSUER),
            transition(&pool_id("nope"), PoolAction::Activate)
        ),
        RejectReason::NotFound
    );
}

// ==== issue_codes ===========================================================================

#[test]
fn issuing_creates_available_tokens_with_consecutive_serials() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    let events = c.applied(&key(ACME_ISSUER), issue_range(&pool, 0..3));
    assert_eq!(
        events,
        vec![Event::CodesIssued {
            pool: pool.clone(),
            first_serial: 0,
            count: 3
        }]
    );
    let events = c.applied(&key(ACME_ISSUER), issue_range(&pool, 3..5));
    assert_eq!(
        events,
        vec![Event::CodesIssued {
            pool: pool.clone(),
            first_serial: 3,
            count: 2
        }]
    );
    assert_eq!(c.pool_record(&pool).issued, 5);
    for i in 0..5 {
        assert_eq!(
            c.token(&tok(&pool, i)),
            TokenRecord {
                code_hash: code(&pool, i).code_hash,
                sealed: code(&pool, i).sealed,
                status: TokenStatus::Available,
                owner: None,
                claim: None,
            }
        );
        assert_eq!(
            state_value(&c, StateKey::Code(code(&pool, i).code_hash)),
            Some(StateValue::Code(CodeIndexEntry {
                pool: pool.clone(),
                serial: Some(i)
            }))
        );
    }
}

#[test]
fn issuing_the_shared_code_records_it_on_the_pool() {
    let mut c = chain();
    let pool = c.pool(
        &key(ACME_ISSUER),
        "summer10",
        spec(PoolKind::SharedCode),
        0,
        false,
    );
    let events = c.applied(&key(ACME_ISSUER), issue_range(&pool, 0..1));
    assert_eq!(
        events,
        vec![Event::CodesIssued {
            pool: pool.clone(),
            first_serial: 0,
            count: 1
        }]
    );
    let record = c.pool_record(&pool);
    assert_eq!(record.shared_code, Some(code(&pool, 0)));
    assert_eq!(record.issued, 0);
    assert_eq!(
        state_value(&c, StateKey::Code(code(&pool, 0).code_hash)),
        Some(StateValue::Code(CodeIndexEntry {
            pool: pool.clone(),
            serial: None
        }))
    );
}

#[test]
fn a_code_repeated_within_a_batch_rejects_the_whole_batch() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    let batch = vec![code(&pool, 0), code(&pool, 1), code(&pool, 0)];
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue(&pool, batch)),
        RejectReason::DuplicateCode
    );
    assert_eq!(c.pool_record(&pool).issued, 0);
}

#[test]
fn a_code_already_on_the_ledger_rejects_the_whole_batch() {
    let mut c = chain();
    let first = c.pool(&key(ACME_ISSUER), "first", unique_spec(), 2, false);
    let second = c.pool(&key(ACME_ISSUER), "second", unique_spec(), 0, false);
    // A fresh code followed by one of the first pool's codes.
    let batch = vec![code(&second, 0), code(&first, 1)];
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue(&second, batch)),
        RejectReason::DuplicateCode
    );
    // Re-issuing into the same pool, and as another pool's shared code, too.
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue(&first, vec![code(&first, 0)])),
        RejectReason::DuplicateCode
    );
    let shared = c.pool(
        &key(ACME_ISSUER),
        "shared",
        spec(PoolKind::SharedCode),
        0,
        false,
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue(&shared, vec![code(&first, 0)])),
        RejectReason::DuplicateCode
    );
    assert_eq!(c.pool_record(&second).issued, 0);
    assert_eq!(c.pool_record(&shared).shared_code, None);
}

#[test]
fn a_batch_over_the_pool_cap_is_quantity_exceeded() {
    let mut c = chain();
    let s = PoolSpec {
        total_cap: 3,
        ..unique_spec()
    };
    let pool = c.pool(&key(ACME_ISSUER), "spring", s, 2, false);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&pool, 2..4)),
        RejectReason::QuantityExceeded
    );
    c.applied(&key(ACME_ISSUER), issue_range(&pool, 2..3));
    assert_eq!(c.pool_record(&pool).issued, 3);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&pool, 3..4)),
        RejectReason::QuantityExceeded
    );
}

#[test]
fn a_batch_over_max_batch_codes_is_invalid_input() {
    let mut c = chain();
    let max = chain_params(&c).max_batch_codes as u64;
    assert_eq!(max, 5_000);
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    let batch = (0..=max).map(|i| fake_code(i, 40)).collect();
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue(&pool, batch)),
        RejectReason::InvalidInput
    );
}

#[test]
fn an_empty_batch_is_invalid_input() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue(&pool, vec![])),
        RejectReason::InvalidInput
    );
}

#[test]
fn sealed_codes_outside_the_size_bounds_are_invalid_input() {
    let mut c = chain();
    let max = chain_params(&c).max_sealed_code_bytes as usize;
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    // Nonce (12) + tag (16) + at least one byte.
    for (i, len) in [(0, 28), (1, max + 1)] {
        assert_eq!(
            c.rejected(&key(ACME_ISSUER), issue(&pool, vec![fake_code(i, len)])),
            RejectReason::InvalidInput,
            "{len} bytes"
        );
    }
    c.applied(
        &key(ACME_ISSUER),
        issue(&pool, vec![fake_code(2, 29), fake_code(3, max)]),
    );
    assert_eq!(c.pool_record(&pool).issued, 2);
}

#[test]
fn codes_are_issued_only_in_draft_or_paused() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&pool, 1..2)),
        RejectReason::InvalidTransition
    );
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
    c.applied(&key(ACME_ISSUER), issue_range(&pool, 1..3));
    assert_eq!(c.pool_record(&pool).issued, 3);
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Archive));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&pool, 3..4)),
        RejectReason::InvalidTransition
    );
}

#[test]
fn a_shared_code_pool_takes_exactly_one_code() {
    let mut c = chain();
    let two = c.pool(
        &key(ACME_ISSUER),
        "two",
        spec(PoolKind::SharedCode),
        0,
        false,
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&two, 0..2)),
        RejectReason::QuantityExceeded
    );
    let one = c.pool(
        &key(ACME_ISSUER),
        "one",
        spec(PoolKind::SharedCode),
        1,
        false,
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&one, 1..2)),
        RejectReason::QuantityExceeded
    );
    assert_eq!(c.pool_record(&one).shared_code, Some(code(&one, 0)));
}

#[test]
fn issuing_into_another_orgs_pool_is_not_authorized() {
    let mut c = chain();
    let pool = c.pool(&key(ACME_ISSUER), "spring", unique_spec(), 0, false);
    for signer in [GLOBEX_ISSUER, ACME_POS, ACME_AUDITOR] {
        assert_eq!(
            c.rejected(&key(signer), issue_range(&pool, 0..1)),
            RejectReason::NotAuthorized
        );
    }
}

#[test]
fn issuing_into_an_unknown_pool_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), issue_range(&pool_id("nope"), 0..1)),
        RejectReason::NotFound
    );
}

// ==== allocate ==============================================================================

#[test]
fn allocation_hands_out_the_next_free_token_in_serial_order() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    for m in 1..=3 {
        let t = allocate_to(&mut c, &pool, m);
        assert_eq!(t, tok(&pool, m - 1));
        assert_eq!(
            c.token(&t),
            TokenRecord {
                code_hash: code(&pool, m - 1).code_hash,
                sealed: code(&pool, m - 1).sealed,
                status: TokenStatus::Allocated,
                owner: Some(member(m)),
                claim: Some(claim(m)),
            }
        );
        assert_eq!(member_allocations(&c, &pool, m), 1);
    }
    let record = c.pool_record(&pool);
    assert_eq!((record.allocated, record.next_free), (3, 3));
}

#[test]
fn allocations_in_one_block_get_distinct_tokens_in_block_order() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    let txs: Vec<SignedTx> = [7, 3, 5]
        .into_iter()
        .map(|m| c.sign(&key(ACME_ISSUER), allocate(&pool, m, m)))
        .collect();
    let results = c.execute(&txs);
    for (serial, (m, r)) in [7, 3, 5].into_iter().zip(&results).enumerate() {
        assert_eq!(
            r.outcome.events().unwrap(),
            &[Event::Allocated {
                token: tok(&pool, serial as u64),
                member: member(m),
                repeat: false
            }]
        );
    }
}

#[test]
fn the_same_claim_key_returns_the_same_token_with_repeat() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    let first = allocate_to(&mut c, &pool, 1);
    let before = c.pool_record(&pool);
    let events = c.applied(&key(ACME_ISSUER), allocate(&pool, 1, 1));
    assert_eq!(
        events,
        vec![Event::Allocated {
            token: first,
            member: member(1),
            repeat: true
        }]
    );
    assert_eq!(c.pool_record(&pool), before);
    assert_eq!(member_allocations(&c, &pool, 1), 1);
    // The double tap is harmless even once the pool is paused.
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
    let events = c.applied(&key(ACME_ISSUER), allocate(&pool, 1, 1));
    assert_eq!(
        events,
        vec![Event::Allocated {
            token: tok(&pool, 0),
            member: member(1),
            repeat: true
        }]
    );
}

#[test]
fn a_claim_key_used_for_another_member_is_claim_conflict() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    allocate_with_claim(&mut c, &pool, 1, 42);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool, 2, 42)),
        RejectReason::ClaimConflict
    );
    assert_eq!(member_allocations(&c, &pool, 2), 0);
}

#[test]
fn allocating_beyond_the_per_member_cap_is_member_limit_exceeded() {
    let mut c = chain();
    let s = PoolSpec {
        per_member_cap: 2,
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 5);
    allocate_with_claim(&mut c, &pool, 1, 1);
    allocate_with_claim(&mut c, &pool, 1, 2);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool, 1, 3)),
        RejectReason::MemberLimitExceeded
    );
    assert_eq!(member_allocations(&c, &pool, 1), 2);
    // Another member is not affected.
    assert_eq!(allocate_with_claim(&mut c, &pool, 2, 20), tok(&pool, 2));
}

#[test]
fn allocating_from_an_exhausted_pool_is_quantity_exceeded() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    allocate_to(&mut c, &pool, 1);
    allocate_to(&mut c, &pool, 2);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool, 3, 3)),
        RejectReason::QuantityExceeded
    );
    // Issuing more (while paused) makes room again.
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
    c.applied(&key(ACME_ISSUER), issue_range(&pool, 2..3));
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Resume));
    assert_eq!(allocate_to(&mut c, &pool, 3), tok(&pool, 2));
}

#[test]
fn allocation_skips_revoked_and_redeemed_tokens() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 4);
    c.applied(&key(ACME_ISSUER), revoke_token(&tok(&pool, 0)));
    // A printed code redeemed before anyone was allocated its token.
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 1, None, order(1_000)));
    assert_eq!(allocate_to(&mut c, &pool, 1), tok(&pool, 2));
    assert_eq!(allocate_to(&mut c, &pool, 2), tok(&pool, 3));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool, 3, 3)),
        RejectReason::QuantityExceeded
    );
}

#[test]
fn allocating_from_a_shared_code_pool_is_wrong_pool_kind() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(100, 1), 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool, 1, 1)),
        RejectReason::WrongPoolKind
    );
}

#[test]
fn allocating_from_a_pool_that_is_not_active_is_pool_not_active() {
    let mut c = chain();
    for status in [PoolStatus::Draft, PoolStatus::Paused, PoolStatus::Archived] {
        let pool = pool_in(&mut c, status.name(), status);
        assert_eq!(
            c.rejected(&key(ACME_ISSUER), allocate(&pool, 1, 1)),
            RejectReason::PoolNotActive,
            "{status:?}"
        );
    }
}

#[test]
fn allocating_after_the_pool_ended_is_expired() {
    let mut c = chain();
    let until = GENESIS_MS + HOUR_MS;
    let s = PoolSpec {
        valid_until_ms: until,
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 3);
    let mut last_ms = c.clone();
    advance_to(&mut last_ms, until - 1);
    allocate_to(&mut last_ms, &pool, 1);
    advance_to(&mut c, until);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool, 1, 1)),
        RejectReason::Expired
    );
}

#[test]
fn allocating_from_another_orgs_pool_is_not_authorized() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    for signer in [GLOBEX, GLOBEX_ISSUER, ACME_POS] {
        assert_eq!(
            c.rejected(&key(signer), allocate(&pool, 1, 1)),
            RejectReason::NotAuthorized
        );
    }
}

#[test]
fn allocating_from_an_unknown_pool_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), allocate(&pool_id("nope"), 1, 1)),
        RejectReason::NotFound
    );
}

// ==== redeem ================================================================================

#[test]
fn redeeming_an_allocated_token_records_the_redemption() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let tx = c.sign(&key(ACME_POS), redeem_token(&t, Some(1), order(2_500)));
    let id = tx.id();
    let results = c.execute(&[tx]);
    assert_eq!(results[0].tx_id, id);
    assert_eq!(
        results[0].outcome.events().unwrap(),
        &[Event::Redeemed {
            redemption: id,
            pool: pool.clone(),
            token: Some(t.clone()),
            member: Some(member(1)),
            eligible_minor: 2_500,
            discount_minor: 250,
            currency: Currency(*b"EUR"),
        }]
    );
    assert_eq!(c.token(&t).status, TokenStatus::Redeemed { redemption: id });
    assert_eq!(c.pool_record(&pool).redeemed, 1);
    assert_eq!(
        redemption_record(&c, id),
        RedemptionRecord {
            pool: pool.clone(),
            token: Some(t),
            member: Some(member(1)),
            redeemer_org: org("acme"),
            store: StoreId::new("berlin-1").unwrap(),
            channel: Channel::new("pos").unwrap(),
            eligible_minor: 2_500,
            discount_minor: 250,
            height: c.height,
            time_ms: c.time_ms,
            rolled_back_at: None,
            checkout: None,
        }
    );
}

#[test]
fn redeeming_an_allocated_token_without_naming_the_member_uses_its_owner() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let (id, _, _) = redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, None, order(100)));
    assert_eq!(redemption_record(&c, id).member, Some(member(1)));
    assert!(matches!(c.token(&t).status, TokenStatus::Redeemed { .. }));
}

#[test]
fn redeeming_a_printed_code_works_without_allocation() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let (id, eligible, discount) =
        redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 1, Some(9), order(990)));
    assert_eq!((eligible, discount), (990, 99));
    let r = redemption_record(&c, id);
    assert_eq!((r.token, r.member), (Some(tok(&pool, 1)), Some(member(9))));
    assert_eq!(c.token(&tok(&pool, 1)).owner, None);
}

#[test]
fn redeeming_twice_is_already_redeemed() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    redeem_ok(&mut c, ACME_POS, redeem_token(&t, Some(1), order(1_000)));
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&t, Some(1), order(1_000))),
        RejectReason::AlreadyRedeemed
    );
    // By code, and at another terminal, too.
    assert_eq!(
        c.rejected(&key(ACME_WEB), redeem_code(&pool, 0, None, order(1_000))),
        RejectReason::AlreadyRedeemed
    );
    assert_eq!(c.pool_record(&pool).redeemed, 1);
}

#[test]
fn two_redemptions_of_one_token_in_one_block_apply_once() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let a = c.sign(&key(ACME_POS), redeem_token(&t, Some(1), order(1_000)));
    let b = c.sign(&key(ACME_WEB), redeem_token(&t, Some(1), order(2_000)));
    assert_eq!(
        last_rejected(&mut c, &[a.clone(), b]),
        RejectReason::AlreadyRedeemed
    );
    assert_eq!(
        c.token(&t).status,
        TokenStatus::Redeemed { redemption: a.id() }
    );
}

#[test]
fn redeeming_with_a_non_terminal_key_is_not_authorized() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    for signer in [ACME, ACME_ISSUER, ACME_AUDITOR] {
        assert_eq!(
            c.rejected(&key(signer), redeem_code(&pool, 0, None, order(100))),
            RejectReason::NotAuthorized
        );
    }
}

#[test]
fn partner_terminals_redeem_only_where_listed() {
    let mut c = chain();
    let s = PoolSpec {
        partner_orgs: vec![org("globex")],
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 2);
    assert_eq!(
        c.rejected(&key(INITECH_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::NotAuthorized
    );
    let (id, _, discount) = redeem_ok(&mut c, GLOBEX_POS, redeem_code(&pool, 0, None, order(100)));
    assert_eq!(discount, 10);
    let r = redemption_record(&c, id);
    assert_eq!(r.redeemer_org, org("globex"));
    assert_eq!(r.store, StoreId::new("paris-1").unwrap());
    // A pool without partners is the owner's alone.
    let own = active_pool(&mut c, "own", unique_spec(), 1);
    assert_eq!(
        c.rejected(&key(GLOBEX_POS), redeem_code(&own, 0, None, order(100))),
        RejectReason::NotAuthorized
    );
}

#[test]
fn redeeming_an_unknown_code_or_token_is_not_found() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let unknown_code = TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Code(code_hash("NO-SUCH-CODE")),
        member: None,
        order: order(100),
    });
    assert_eq!(
        c.rejected(&key(ACME_POS), unknown_code),
        RejectReason::NotFound
    );
    assert_eq!(
        c.rejected(
            &key(ACME_POS),
            redeem_token(&tok(&pool_id("nope"), 0), None, order(100))
        ),
        RejectReason::NotFound
    );
    assert_eq!(
        c.rejected(
            &key(ACME_POS),
            redeem_token(&tok(&pool, 2), None, order(100))
        ),
        RejectReason::NotFound
    );
}

#[test]
fn redeeming_in_a_pool_that_is_not_active_is_pool_not_active() {
    let mut c = chain();
    for status in [PoolStatus::Draft, PoolStatus::Paused, PoolStatus::Archived] {
        let pool = pool_in(&mut c, status.name(), status);
        assert_eq!(
            c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
            RejectReason::PoolNotActive,
            "{status:?}"
        );
    }
}

#[test]
fn redeeming_before_valid_from_is_not_yet_valid() {
    let mut c = chain();
    let from = GENESIS_MS + HOUR_MS;
    let s = PoolSpec {
        valid_from_ms: from,
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::NotYetValid
    );
    advance_to(&mut c, from - 1);
    let mut at_start = c.clone();
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::NotYetValid
    );
    at_start.advance(1);
    assert_eq!(at_start.next_ctx().time_ms, from);
    redeem_ok(
        &mut at_start,
        ACME_POS,
        redeem_code(&pool, 0, None, order(100)),
    );
}

#[test]
fn redeeming_at_or_after_valid_until_is_expired() {
    let mut c = chain();
    let until = GENESIS_MS + HOUR_MS;
    let s = PoolSpec {
        valid_until_ms: until,
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 1);
    let mut last_ms = c.clone();
    advance_to(&mut last_ms, until - 1);
    redeem_ok(
        &mut last_ms,
        ACME_POS,
        redeem_code(&pool, 0, None, order(100)),
    );
    advance_to(&mut c, until);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::Expired
    );
    c.advance(DAY_MS);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::Expired
    );
}

#[test]
fn a_terminal_on_a_channel_not_allowed_is_channel_not_allowed() {
    let mut c = chain();
    let s = PoolSpec {
        allowed_channels: vec![Channel::new("web").unwrap()],
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::ChannelNotAllowed
    );
    redeem_ok(&mut c, ACME_WEB, redeem_code(&pool, 0, None, order(100)));
}

#[test]
fn a_terminal_in_a_store_not_allowed_is_store_not_allowed() {
    let mut c = chain();
    let s = PoolSpec {
        allowed_stores: vec![
            StoreId::new("berlin-1").unwrap(),
            StoreId::new("paris-1").unwrap(),
        ],
        partner_orgs: vec![org("globex")],
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 2);
    assert_eq!(
        c.rejected(&key(ACME_WEB), redeem_code(&pool, 0, None, order(100))),
        RejectReason::StoreNotAllowed
    );
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, None, order(100)));
    redeem_ok(&mut c, GLOBEX_POS, redeem_code(&pool, 1, None, order(100)));
}

#[test]
fn redeeming_a_revoked_token_is_token_revoked() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    c.applied(&key(ACME_ISSUER), revoke_token(&t));
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&t, Some(1), order(100))),
        RejectReason::TokenRevoked
    );
}

#[test]
fn redeeming_another_members_token_is_wrong_member() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&t, Some(2), order(100))),
        RejectReason::WrongMember
    );
}

#[test]
fn redeeming_a_shared_pool_by_token_is_wrong_pool_kind() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(100, 1), 1);
    assert_eq!(
        c.rejected(
            &key(ACME_POS),
            redeem_token(&tok(&pool, 0), Some(1), order(100))
        ),
        RejectReason::WrongPoolKind
    );
}

#[test]
fn redeeming_a_shared_code_without_a_member_is_invalid_input() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(100, 1), 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, None, order(100))),
        RejectReason::InvalidInput
    );
}

#[test]
fn a_shared_code_is_redeemed_up_to_its_total_cap() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(2, 1), 1);
    for m in [1, 2] {
        let (id, _, discount) = redeem_ok(
            &mut c,
            ACME_POS,
            redeem_code(&pool, 0, Some(m), order(1_000)),
        );
        assert_eq!(discount, 100);
        let r = redemption_record(&c, id);
        assert_eq!((r.token, r.member), (None, Some(member(m))));
        assert_eq!(member_redemptions(&c, &pool, m), 1);
    }
    assert_eq!(c.pool_record(&pool).redeemed, 2);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, Some(3), order(1_000))),
        RejectReason::QuantityExceeded
    );
}

#[test]
fn a_shared_code_is_redeemed_up_to_its_per_member_cap() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(100, 2), 1);
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, Some(1), order(100)));
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, Some(1), order(100)));
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, Some(1), order(100))),
        RejectReason::MemberLimitExceeded
    );
    assert_eq!(member_redemptions(&c, &pool, 1), 2);
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, Some(2), order(100)));
    assert_eq!(c.pool_record(&pool).redeemed, 3);
}

// ---- redemption arithmetic ----------------------------------------------------------------

#[test]
fn a_percent_discount_rounds_down_to_the_minor_unit() {
    let s = PoolSpec {
        discount: Discount::Percent { bps: 1_250 },
        ..unique_spec()
    };
    // 12.5 % of 19.99 = 2.49875 → 2.49.
    assert_eq!(discount_on(s.clone(), order(1_999)), Ok((1_999, 249)));
    // 12.5 % of 0.07 = 0.00875 → 0.
    assert_eq!(discount_on(s, order(7)), Ok((7, 0)));
    let ten = unique_spec();
    assert_eq!(discount_on(ten, order(1_999)), Ok((1_999, 199)));
}

#[test]
fn max_discount_caps_the_discount() {
    let s = PoolSpec {
        discount: Discount::Percent { bps: 5_000 },
        max_discount_minor: Some(1_000),
        ..unique_spec()
    };
    assert_eq!(discount_on(s.clone(), order(5_000)), Ok((5_000, 1_000)));
    assert_eq!(discount_on(s, order(1_999)), Ok((1_999, 999)));
    let fixed = PoolSpec {
        discount: Discount::Fixed { amount_minor: 800 },
        max_discount_minor: Some(600),
        ..unique_spec()
    };
    assert_eq!(discount_on(fixed, order(5_000)), Ok((5_000, 600)));
}

#[test]
fn a_fixed_discount_never_exceeds_the_eligible_amount() {
    let s = PoolSpec {
        discount: Discount::Fixed { amount_minor: 500 },
        ..unique_spec()
    };
    assert_eq!(discount_on(s.clone(), order(2_000)), Ok((2_000, 500)));
    assert_eq!(discount_on(s.clone(), order(300)), Ok((300, 300)));
    // Only the eligible part is discounted.
    let s = PoolSpec {
        excluded_categories: vec![Category::new("tobacco").unwrap()],
        ..s
    };
    assert_eq!(
        discount_on(s, order_with(1_000, &[("tobacco", 800)])),
        Ok((200, 200))
    );
}

#[test]
fn excluded_categories_are_not_discounted() {
    let s = PoolSpec {
        excluded_categories: vec![
            Category::new("tobacco").unwrap(),
            Category::new("gift-cards").unwrap(),
        ],
        ..unique_spec()
    };
    let o = order_with(
        10_000,
        &[("tobacco", 3_000), ("food", 2_000), ("gift-cards", 1_001)],
    );
    // Eligible 10,000 - 3,000 - 1,001 = 5,999; 10 % rounded down = 599.
    assert_eq!(discount_on(s, o), Ok((5_999, 599)));
}

#[test]
fn an_order_of_excluded_categories_only_is_category_excluded() {
    let s = PoolSpec {
        excluded_categories: vec![Category::new("tobacco").unwrap()],
        ..unique_spec()
    };
    assert_eq!(
        discount_on(s, order_with(3_000, &[("tobacco", 3_000)])),
        Err(RejectReason::CategoryExcluded)
    );
}

#[test]
fn min_spend_counts_only_the_eligible_amount() {
    let s = PoolSpec {
        min_spend_minor: 5_000,
        excluded_categories: vec![Category::new("tobacco").unwrap()],
        ..unique_spec()
    };
    // The basket is 6,000 but only 4,000 of it is eligible.
    assert_eq!(
        discount_on(s.clone(), order_with(6_000, &[("tobacco", 2_000)])),
        Err(RejectReason::MinSpendNotMet)
    );
    assert_eq!(
        discount_on(s.clone(), order_with(7_000, &[("tobacco", 2_000)])),
        Ok((5_000, 500))
    );
    assert_eq!(
        discount_on(s, order(4_999)),
        Err(RejectReason::MinSpendNotMet)
    );
}

#[test]
fn an_order_in_another_currency_is_currency_mismatch() {
    let usd = Order {
        currency: Currency(*b"USD"),
        ..order(1_000)
    };
    assert_eq!(
        discount_on(unique_spec(), usd),
        Err(RejectReason::CurrencyMismatch)
    );
}

#[test]
fn order_lines_above_the_total_are_invalid_input() {
    assert_eq!(
        discount_on(
            unique_spec(),
            order_with(1_000, &[("food", 600), ("toys", 401)])
        ),
        Err(RejectReason::InvalidInput)
    );
}

#[test]
fn overflowing_order_lines_are_overflow() {
    assert_eq!(
        discount_on(
            unique_spec(),
            order_with(u64::MAX, &[("food", u64::MAX), ("toys", 1)])
        ),
        Err(RejectReason::Overflow)
    );
}

#[test]
fn a_failed_amount_check_leaves_the_coupon_redeemable() {
    let mut c = chain();
    let s = PoolSpec {
        min_spend_minor: 1_000,
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 1);
    let t = allocate_to(&mut c, &pool, 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&t, Some(1), order(999))),
        RejectReason::MinSpendNotMet
    );
    assert_eq!(c.token(&t).status, TokenStatus::Allocated);
    let (_, eligible, discount) =
        redeem_ok(&mut c, ACME_POS, redeem_token(&t, Some(1), order(1_000)));
    assert_eq!((eligible, discount), (1_000, 100));
}

// ==== rollback ==============================================================================

#[test]
fn rolling_back_restores_exactly_one_use() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let (first, _, _) = redeem_ok(&mut c, ACME_POS, redeem_token(&t, Some(1), order(1_000)));
    let events = c.applied(&key(ACME_POS), rollback(first));
    assert_eq!(
        events,
        vec![Event::RolledBack {
            redemption: first,
            pool: pool.clone(),
            token: Some(t.clone())
        }]
    );
    assert_eq!(c.token(&t).status, TokenStatus::Allocated);
    assert_eq!(c.token(&t).owner, Some(member(1)));
    assert_eq!(c.pool_record(&pool).redeemed, 0);
    assert_eq!(redemption_record(&c, first).rolled_back_at, Some(c.height));

    assert_eq!(
        c.rejected(&key(ACME_POS), rollback(first)),
        RejectReason::AlreadyRolledBack
    );
    let (second, _, _) = redeem_ok(&mut c, ACME_POS, redeem_token(&t, Some(1), order(1_000)));
    assert_eq!(c.pool_record(&pool).redeemed, 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&t, Some(1), order(1_000))),
        RejectReason::AlreadyRedeemed
    );
    // The old redemption stays rolled back; the new one is in force.
    assert_eq!(
        c.rejected(&key(ACME), rollback(first)),
        RejectReason::AlreadyRolledBack
    );
    assert_eq!(
        c.token(&t).status,
        TokenStatus::Redeemed { redemption: second }
    );
}

#[test]
fn rolling_back_a_printed_code_makes_it_available_again() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let (id, _, _) = redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 1, None, order(100)));
    c.applied(&key(ACME_POS), rollback(id));
    assert_eq!(c.token(&tok(&pool, 1)).status, TokenStatus::Available);
    assert_eq!(c.token(&tok(&pool, 1)).owner, None);
}

#[test]
fn rolling_back_a_shared_code_restores_one_member_use() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(2, 1), 1);
    let (a, _, _) = redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, Some(1), order(100)));
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, Some(2), order(100)));
    let events = c.applied(&key(ACME_POS), rollback(a));
    assert_eq!(
        events,
        vec![Event::RolledBack {
            redemption: a,
            pool: pool.clone(),
            token: None
        }]
    );
    assert_eq!(member_redemptions(&c, &pool, 1), 0);
    assert_eq!(member_redemptions(&c, &pool, 2), 1);
    assert_eq!(c.pool_record(&pool).redeemed, 1);
    assert_eq!(
        c.rejected(&key(ACME_POS), rollback(a)),
        RejectReason::AlreadyRolledBack
    );
    // One use is back: member 1 may redeem once more, and then the total cap is reached.
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, Some(1), order(100)));
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_code(&pool, 0, Some(3), order(100))),
        RejectReason::QuantityExceeded
    );
}

#[test]
fn rolling_back_an_unknown_redemption_is_not_found() {
    let mut c = chain();
    assert_eq!(
        c.rejected(&key(ACME_POS), rollback(TxId([3; 32]))),
        RejectReason::NotFound
    );
}

#[test]
fn rollback_is_for_the_redeeming_stores_terminals_and_the_owners_or_redeemers_admins() {
    let mut c = chain();
    let s = PoolSpec {
        partner_orgs: vec![org("globex")],
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 3);
    let (by_partner, _, _) = redeem_ok(&mut c, GLOBEX_POS, redeem_code(&pool, 0, None, order(100)));
    // Not: the owner's terminal, a third org, issuers, auditors.
    for signer in [
        ACME_POS,
        INITECH_POS,
        INITECH,
        ACME_ISSUER,
        GLOBEX_ISSUER,
        ACME_AUDITOR,
    ] {
        assert_eq!(
            c.rejected(&key(signer), rollback(by_partner)),
            RejectReason::NotAuthorized,
            "signer {signer}"
        );
    }
    // The owner's admin may.
    c.applied(&key(ACME), rollback(by_partner));
    // The redeemer's admin may.
    let (again, _, _) = redeem_ok(&mut c, GLOBEX_POS, redeem_code(&pool, 1, None, order(100)));
    c.applied(&key(GLOBEX), rollback(again));
    // A terminal rolls back what was redeemed at its own store; a terminal of the same org
    // at another store may not (the refund goes through the org's admin).
    let (online, _, _) = redeem_ok(&mut c, ACME_WEB, redeem_code(&pool, 2, None, order(100)));
    assert_eq!(
        c.rejected(&key(ACME_POS), rollback(online)),
        RejectReason::NotAuthorized
    );
    c.applied(&key(ACME_WEB), rollback(online));
    assert_eq!(c.pool_record(&pool).redeemed, 0);
}

#[test]
fn rolling_back_in_a_paused_pool_works_but_not_in_an_archived_one() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let (a, _, _) = redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, None, order(100)));
    let (b, _, _) = redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 1, None, order(100)));
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
    c.applied(&key(ACME_POS), rollback(a));
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Archive));
    assert_eq!(
        c.rejected(&key(ACME_POS), rollback(b)),
        RejectReason::PoolNotActive
    );
    assert_eq!(c.pool_record(&pool).redeemed, 1);
}

// ==== revoke_token ==========================================================================

#[test]
fn revoking_a_token_marks_it_revoked() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let events = c.applied(&key(ACME_ISSUER), revoke_token(&t));
    assert_eq!(events, vec![Event::TokenRevoked { token: t.clone() }]);
    assert_eq!(c.token(&t).status, TokenStatus::Revoked);
    // An unallocated token, by an admin.
    c.applied(&key(ACME), revoke_token(&tok(&pool, 1)));
    assert_eq!(c.token(&tok(&pool, 1)).status, TokenStatus::Revoked);
}

#[test]
fn a_revoke_states_its_reason_and_a_bounded_note() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 6);
    let long = "x".repeat(MAX_REVOKE_NOTE_BYTES + 1);
    let exact = "é".repeat(MAX_REVOKE_NOTE_BYTES / 2);
    for (serial, reason, note) in [
        (0, RevokeReason::Other, None),
        (0, RevokeReason::Fraud, Some("")),
        (0, RevokeReason::Fraud, Some(long.as_str())),
        (0, RevokeReason::CustomerRequest, Some("line\nbreak")),
    ] {
        assert_eq!(
            c.rejected(
                &key(ACME_ISSUER),
                revoke_token_for(&tok(&pool, serial), reason, note)
            ),
            RejectReason::InvalidInput,
            "{reason} {note:?}"
        );
    }
    assert_eq!(c.token(&tok(&pool, 0)).status, TokenStatus::Available);
    for (serial, reason, note) in [
        (1, RevokeReason::Fraud, None),
        (
            2,
            RevokeReason::CustomerRequest,
            Some("asked by phone, ticket 4711"),
        ),
        (3, RevokeReason::ExpiredCampaign, Some(exact.as_str())),
        (4, RevokeReason::Other, Some("printed twice")),
    ] {
        c.applied(
            &key(ACME_ISSUER),
            revoke_token_for(&tok(&pool, serial), reason, note),
        );
        assert_eq!(c.token(&tok(&pool, serial)).status, TokenStatus::Revoked);
    }
}

#[test]
fn revoke_reasons_have_stable_names_and_indices() {
    for (i, r) in RevokeReason::ALL.iter().enumerate() {
        assert_eq!(encode(r), (i as u32).to_le_bytes().to_vec());
        assert_eq!(r.name().parse::<RevokeReason>(), Ok(*r));
        assert_eq!(
            serde_json::to_string(r).unwrap(),
            format!("\"{}\"", r.name())
        );
    }
    assert_eq!(
        "customer-request".parse(),
        Ok(RevokeReason::CustomerRequest)
    );
    assert!("stolen".parse::<RevokeReason>().is_err());
}

#[test]
fn revoking_a_redeemed_token_is_already_redeemed() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, None, order(100)));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), revoke_token(&tok(&pool, 0))),
        RejectReason::AlreadyRedeemed
    );
}

#[test]
fn revoking_a_token_twice_is_invalid_transition() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    c.applied(&key(ACME_ISSUER), revoke_token(&tok(&pool, 0)));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), revoke_token(&tok(&pool, 0))),
        RejectReason::InvalidTransition
    );
}

#[test]
fn revoking_an_unknown_token_is_not_found() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), revoke_token(&tok(&pool, 1))),
        RejectReason::NotFound
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), revoke_token(&tok(&pool_id("nope"), 0))),
        RejectReason::NotFound
    );
}

#[test]
fn revoking_another_orgs_token_is_not_authorized() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    for signer in [GLOBEX, GLOBEX_ISSUER, ACME_POS, ACME_AUDITOR] {
        assert_eq!(
            c.rejected(&key(signer), revoke_token(&tok(&pool, 0))),
            RejectReason::NotAuthorized
        );
    }
}

// ==== transfer_token ========================================================================

fn transferable() -> PoolSpec {
    PoolSpec {
        transferable: true,
        ..unique_spec()
    }
}

#[test]
fn transferring_a_token_moves_it_and_the_allocation_count() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    let events = c.applied(&key(ACME_ISSUER), transfer(&t, 1, 2));
    assert_eq!(
        events,
        vec![Event::TokenTransferred {
            token: t.clone(),
            from: member(1),
            to: member(2)
        }]
    );
    assert_eq!(c.token(&t).owner, Some(member(2)));
    assert_eq!(c.token(&t).status, TokenStatus::Allocated);
    assert_eq!(member_allocations(&c, &pool, 1), 0);
    assert_eq!(member_allocations(&c, &pool, 2), 1);
    // The old holder can no longer redeem it; the new one can.
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&t, Some(1), order(100))),
        RejectReason::WrongMember
    );
    let (id, _, _) = redeem_ok(&mut c, ACME_POS, redeem_token(&t, Some(2), order(100)));
    assert_eq!(redemption_record(&c, id).member, Some(member(2)));
    // And the old holder may be allocated a token again.
    assert_eq!(allocate_with_claim(&mut c, &pool, 1, 11), tok(&pool, 1));
}

#[test]
fn transferring_in_a_paused_pool_works() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Pause));
    c.applied(&key(ACME), transfer(&t, 1, 2));
    assert_eq!(c.token(&t).owner, Some(member(2)));
}

#[test]
fn transferring_from_a_non_transferable_pool_is_not_transferable() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 1, 2)),
        RejectReason::NotTransferable
    );
}

#[test]
fn transferring_in_an_archived_pool_is_pool_not_active() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    c.applied(&key(ACME_ISSUER), transition(&pool, PoolAction::Archive));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 1, 2)),
        RejectReason::PoolNotActive
    );
}

#[test]
fn transferring_a_redeemed_token_is_already_redeemed() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    redeem_ok(&mut c, ACME_POS, redeem_token(&t, Some(1), order(100)));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 1, 2)),
        RejectReason::AlreadyRedeemed
    );
}

#[test]
fn transferring_a_revoked_token_is_token_revoked() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    c.applied(&key(ACME_ISSUER), revoke_token(&t));
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 1, 2)),
        RejectReason::TokenRevoked
    );
}

#[test]
fn transferring_an_unallocated_token_is_invalid_transition() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&tok(&pool, 0), 1, 2)),
        RejectReason::InvalidTransition
    );
}

#[test]
fn transferring_from_a_member_who_does_not_hold_it_is_wrong_member() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 3, 2)),
        RejectReason::WrongMember
    );
}

#[test]
fn transferring_to_the_holder_is_invalid_input() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 1, 1)),
        RejectReason::InvalidInput
    );
}

#[test]
fn transferring_to_a_member_at_the_cap_is_member_limit_exceeded() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 2);
    let t = allocate_to(&mut c, &pool, 1);
    allocate_to(&mut c, &pool, 2);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&t, 1, 2)),
        RejectReason::MemberLimitExceeded
    );
}

#[test]
fn transferring_another_orgs_token_is_not_authorized() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    let t = allocate_to(&mut c, &pool, 1);
    for signer in [GLOBEX, GLOBEX_ISSUER, ACME_POS] {
        assert_eq!(
            c.rejected(&key(signer), transfer(&t, 1, 2)),
            RejectReason::NotAuthorized
        );
    }
}

#[test]
fn transferring_an_unknown_token_is_not_found() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", transferable(), 1);
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&tok(&pool, 5), 1, 2)),
        RejectReason::NotFound
    );
    assert_eq!(
        c.rejected(&key(ACME_ISSUER), transfer(&tok(&pool_id("nope"), 0), 1, 2)),
        RejectReason::NotFound
    );
}

// ==== dry_run and quote_redemption ==========================================================

/// Dry-runs `tx` at the next block, checks it wrote nothing, executes it and checks both
/// verdicts are identical; returns the verdict.
#[track_caller]
fn dry_run_then_execute(c: &mut TestChain, tx: SignedTx) -> TxOutcome {
    let before = c.state.clone();
    let dry = outcome_of(dry_run(&c.state, &c.next_ctx(), &tx));
    assert_eq!(c.state, before, "dry_run must not write");
    // A second dry run sees the same state, so gives the same verdict.
    assert_eq!(outcome_of(dry_run(&c.state, &c.next_ctx(), &tx)), dry);
    let executed = c.execute(&[tx]).remove(0).outcome;
    assert_eq!(dry, executed, "dry_run and execution disagree");
    executed
}

fn reason(o: &TxOutcome) -> Option<RejectReason> {
    o.rejection().map(|r| r.reason)
}

#[test]
fn dry_run_of_a_redemption_gives_the_verdict_of_execution() {
    let mut c = chain();
    let s = PoolSpec {
        min_spend_minor: 1_000,
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 2);
    let t = allocate_to(&mut c, &pool, 1);
    let cases = [
        (
            ACME_POS,
            redeem_token(&t, Some(1), order(999)),
            Some(RejectReason::MinSpendNotMet),
        ),
        (
            ACME_POS,
            redeem_token(&t, Some(2), order(1_000)),
            Some(RejectReason::WrongMember),
        ),
        (
            ACME_ISSUER,
            redeem_token(&t, Some(1), order(1_000)),
            Some(RejectReason::NotAuthorized),
        ),
        (ACME_POS, redeem_token(&t, Some(1), order(1_500)), None),
        (
            ACME_POS,
            redeem_token(&t, Some(1), order(1_500)),
            Some(RejectReason::AlreadyRedeemed),
        ),
    ];
    for (signer, kind, expected) in cases {
        let tx = c.sign(&key(signer), kind);
        let outcome = dry_run_then_execute(&mut c, tx);
        assert_eq!(reason(&outcome), expected);
    }
    assert_eq!(c.pool_record(&pool).redeemed, 1);
}

#[test]
fn dry_run_applies_the_envelope_checks() {
    let mut c = chain();
    // Applied, then replayed: duplicate.
    let tx = c.sign(&key(ACME), register(50, Role::Issuer));
    assert_eq!(reason(&dry_run_then_execute(&mut c, tx.clone())), None);
    assert_eq!(
        reason(&dry_run_then_execute(&mut c, tx)),
        Some(RejectReason::Duplicate)
    );
    // Bad signature.
    let mut tx = c.sign(&key(ACME), register(51, Role::Issuer));
    tx.signature.0[0] ^= 0x80;
    assert_eq!(
        reason(&dry_run_then_execute(&mut c, tx)),
        Some(RejectReason::BadSignature)
    );
    // Stale.
    let mut body = c.body(register(51, Role::Issuer));
    body.valid_until_ms = c.next_ctx().time_ms - 1;
    assert_eq!(
        reason(&dry_run_then_execute(&mut c, body.sign(&key(ACME)))),
        Some(RejectReason::Stale)
    );
    // Unknown signer.
    let tx = c.sign(&key(STRANGER), register(51, Role::Issuer));
    assert_eq!(
        reason(&dry_run_then_execute(&mut c, tx)),
        Some(RejectReason::UnknownKey)
    );
}

#[test]
fn dry_run_of_a_redemption_does_not_use_up_the_coupon() {
    let mut c = chain();
    let pool = active_pool(&mut c, "summer10", shared_spec(1, 1), 1);
    let tx = c.sign(&key(ACME_POS), redeem_code(&pool, 0, Some(1), order(100)));
    let ctx = c.next_ctx();
    for _ in 0..3 {
        let events = dry_run(&c.state, &ctx, &tx).unwrap();
        assert!(matches!(
            events.as_slice(),
            [Event::Redeemed {
                discount_minor: 10,
                ..
            }]
        ));
    }
    assert_eq!(c.pool_record(&pool).redeemed, 0);
    assert_eq!(member_redemptions(&c, &pool, 1), 0);
}

#[test]
fn quote_redemption_prices_like_redeem_without_writing() {
    let mut c = chain();
    let s = PoolSpec {
        discount: Discount::Percent { bps: 1_500 },
        max_discount_minor: Some(2_000),
        excluded_categories: vec![Category::new("tobacco").unwrap()],
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 1);
    let tx = redeem_tx_code(&pool, 0, None, order_with(9_999, &[("tobacco", 1_000)]));
    let before = c.state.clone();
    let quote = quote_redemption(&c.state, &c.next_ctx(), &public(ACME_POS), &tx).unwrap();
    assert_eq!(c.state, before);
    // 15 % of 8,999 = 1,349.85 → 1,349.
    assert_eq!(
        quote,
        Quote {
            eligible_minor: 8_999,
            discount_minor: 1_349
        }
    );
    let (_, eligible, discount) = redeem_ok(&mut c, ACME_POS, TxKind::Redeem(tx));
    assert_eq!((eligible, discount), (8_999, 1_349));
}

#[test]
fn quote_redemption_refuses_what_redeem_refuses() {
    let mut c = chain();
    let s = PoolSpec {
        min_spend_minor: 1_000,
        allowed_stores: vec![StoreId::new("berlin-1").unwrap()],
        ..unique_spec()
    };
    let pool = active_pool(&mut c, "spring", s, 2);
    c.applied(&key(ACME), register(50, terminal("berlin-1", "pos")));
    c.applied(&key(ACME), revoke_key(50));
    let cases = [
        (
            ACME_POS,
            redeem_tx_code(&pool, 0, None, order(999)),
            RejectReason::MinSpendNotMet,
        ),
        (
            ACME_WEB,
            redeem_tx_code(&pool, 0, None, order(1_000)),
            RejectReason::StoreNotAllowed,
        ),
        (
            GLOBEX_POS,
            redeem_tx_code(&pool, 0, None, order(1_000)),
            RejectReason::NotAuthorized,
        ),
        (
            ACME_ISSUER,
            redeem_tx_code(&pool, 0, None, order(1_000)),
            RejectReason::NotAuthorized,
        ),
        (
            STRANGER,
            redeem_tx_code(&pool, 0, None, order(1_000)),
            RejectReason::UnknownKey,
        ),
        (
            50,
            redeem_tx_code(&pool, 0, None, order(1_000)),
            RejectReason::KeyRevoked,
        ),
    ];
    for (signer, tx, expected) in cases {
        let quoted = reason_of(quote_redemption(
            &c.state,
            &c.next_ctx(),
            &public(signer),
            &tx,
        ));
        assert_eq!(quoted, expected, "signer {signer}");
        assert_eq!(c.rejected(&key(signer), TxKind::Redeem(tx)), expected);
    }
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 0, None, order(1_000)));
    let again = redeem_tx_code(&pool, 0, None, order(1_000));
    assert_eq!(
        reason_of(quote_redemption(
            &c.state,
            &c.next_ctx(),
            &public(ACME_POS),
            &again
        )),
        RejectReason::AlreadyRedeemed
    );
}

// ==== determinism ===========================================================================

#[test]
fn the_same_block_on_the_same_state_gives_identical_results_and_writes() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    let txs = vec![
        c.sign(&key(ACME_ISSUER), allocate(&pool, 1, 1)),
        c.sign(&key(ACME_ISSUER), allocate(&pool, 2, 1)),
        c.sign(
            &key(ACME_POS),
            redeem_token(&tok(&pool, 0), Some(1), order(500)),
        ),
    ];
    let ctx = c.next_ctx();
    let a = execute_block(&c.state, &ctx, &txs).unwrap();
    let b = execute_block(&c.state.clone(), &ctx, &txs).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.writes.to_bytes(), b.writes.to_bytes());
    assert_eq!(
        a.results
            .iter()
            .map(|r| reason(&r.outcome))
            .collect::<Vec<_>>(),
        vec![None, Some(RejectReason::ClaimConflict), None]
    );
}

#[test]
fn a_rejected_tx_is_remembered_and_never_executes_later() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 2);
    c.applied(
        &key(ACME),
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Pause,
        }),
    );
    // Refused while the pool is paused ...
    let refused = c.sign(&key(ACME_POS), redeem_code(&pool, 0, None, order(1_000)));
    let first = c.execute(std::slice::from_ref(&refused)).remove(0).outcome;
    assert_eq!(
        first.rejection().unwrap().reason,
        RejectReason::PoolNotActive
    );
    assert!(state_value(&c, StateKey::SeenTx(refused.id())).is_some());
    // ... and still refused when replayed after the pool is active again.
    c.applied(
        &key(ACME),
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Resume,
        }),
    );
    let replay = c.execute(std::slice::from_ref(&refused)).remove(0).outcome;
    assert_eq!(replay.rejection().unwrap().reason, RejectReason::Duplicate);
    assert_eq!(c.token(&tok(&pool, 0)).status, TokenStatus::Available);
}

#[test]
fn txs_of_unknown_keys_are_not_remembered() {
    let mut c = chain();
    let stranger = c.sign(&key(77), TxKind::RevokeKey(RevokeKeyTx { key: public(1) }));
    let out = c.execute(std::slice::from_ref(&stranger)).remove(0).outcome;
    assert_eq!(out.rejection().unwrap().reason, RejectReason::UnknownKey);
    assert!(state_value(&c, StateKey::SeenTx(stranger.id())).is_none());
}

#[test]
fn redeeming_by_token_id_needs_the_holder() {
    let mut c = chain();
    let pool = active_pool(&mut c, "spring", unique_spec(), 3);
    let held = allocate_to(&mut c, &pool, 1);
    // An unallocated token is redeemed by its code, never by counting serials.
    let free = tok(&pool, 2);
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&free, Some(1), order(1_000))),
        RejectReason::WrongMember
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&held, None, order(1_000))),
        RejectReason::WrongMember
    );
    assert_eq!(
        c.rejected(&key(ACME_POS), redeem_token(&held, Some(2), order(1_000))),
        RejectReason::WrongMember
    );
    redeem_ok(&mut c, ACME_POS, redeem_token(&held, Some(1), order(1_000)));
    // The code of the free token is a bearer secret: it redeems without a member.
    redeem_ok(&mut c, ACME_POS, redeem_code(&pool, 2, None, order(1_000)));
}

// ---- set_program ---------------------------------------------------------------------------

fn set_program(spec: ProgramSpec) -> TxKind {
    TxKind::SetProgram(SetProgramTx { spec })
}

fn program_record(c: &TestChain, name: &str) -> Option<ProgramRecord> {
    match state_value(c, StateKey::Program(org(name))) {
        Some(StateValue::Program(p)) => Some(p),
        None => None,
        other => panic!("{other:?}"),
    }
}

#[test]
fn set_program_stores_the_org_program_and_counts_its_versions() {
    use couponcactus_chaincode::testkit::program_spec;
    let mut c = chain();
    let tx = c.sign(&key(ACME), set_program(program_spec()));
    let r = c.execute(&[tx]);
    assert_eq!(
        r[0].outcome.events().unwrap(),
        &[Event::ProgramSet {
            org: org("acme"),
            version: 1
        }]
    );
    let stored = program_record(&c, "acme").unwrap();
    assert_eq!((stored.version, stored.spec), (1, program_spec()));
    assert_eq!(stored.updated_ms, c.time_ms);
    // A change replaces the rules and counts a version; another org's program is its own.
    let mut changed = program_spec();
    changed.earn.points = 2;
    changed.partner_orgs = vec![org("globex")];
    let txs = [
        c.sign(&key(ACME), set_program(changed.clone())),
        c.sign(&key(GLOBEX), set_program(program_spec())),
    ];
    c.execute(&txs);
    let stored = program_record(&c, "acme").unwrap();
    assert_eq!((stored.version, stored.spec), (2, changed));
    assert_eq!(program_record(&c, "globex").unwrap().version, 1);
}

#[test]
fn set_program_refusals_leave_the_program_unchanged() {
    use couponcactus_chaincode::testkit::program_spec;
    let mut c = chain();
    // Only an org admin.
    for seed in [ACME_ISSUER, ACME_POS, ACME_AUDITOR] {
        let tx = c.sign(&key(seed), set_program(program_spec()));
        assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::NotAuthorized);
    }
    // Rules the program breaks, each with the rule in the message.
    let mut bad = program_spec();
    bad.earn.per_minor = 0;
    let tx = c.sign(&key(ACME), set_program(bad));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::InvalidInput);
    let mut mixed = program_spec();
    mixed.segments[2].unit = Unit::Money {
        currency: Currency(*b"EUR"),
    };
    let tx = c.sign(&key(ACME), set_program(mixed));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::InvalidInput);
    // Partners: existing orgs, never the org itself.
    let mut unknown = program_spec();
    unknown.partner_orgs = vec![org("nobody")];
    let tx = c.sign(&key(ACME), set_program(unknown));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::NotFound);
    let mut own = program_spec();
    own.partner_orgs = vec![org("acme")];
    let tx = c.sign(&key(ACME), set_program(own));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::InvalidInput);
    // Ids decoded from bytes are checked here, as a pool's are.
    let mut bad_slug = program_spec();
    bad_slug.earn.excluded_categories = vec![Category("Not A Slug".into())];
    let tx = c.sign(&key(ACME), set_program(bad_slug));
    assert_eq!(last_rejected(&mut c, &[tx]), RejectReason::InvalidInput);
    assert_eq!(program_record(&c, "acme"), None);
}
