//! Ledger events per tx kind (`couponcactus_chaincode::events`): what each applied and
//! rejected tx becomes, field by field, and the event id's text form. The properties over
//! random workloads (unique ids, gap-free sequences, replay) are in `properties.rs`.

use couponcactus_chaincode::events::{
    AfterBlock, BlockPosition, EventDetail, EventId, EventType, LedgerEvent, Sequences,
    derive_block_events,
};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

/// A chain and the events of every block it executed, numbered as a node numbers them.
struct Recorder {
    chain: TestChain,
    seqs: Sequences,
    log_size: u64,
    events: Vec<LedgerEvent>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            chain: TestChain::new(),
            seqs: Sequences::default(),
            log_size: 0,
            events: Vec::new(),
        }
    }

    /// Executes `kind` signed by `signer` in its own block; returns its events.
    fn run(&mut self, signer: &SigningKey, kind: TxKind) -> Vec<LedgerEvent> {
        let tx = self.chain.sign(signer, kind);
        self.block(&[tx])
    }

    fn block(&mut self, txs: &[SignedTx]) -> Vec<LedgerEvent> {
        let ctx = self.chain.next_ctx();
        let out = execute_block(&self.chain.state, &ctx, txs).unwrap();
        let at = BlockPosition {
            height: ctx.height,
            time_ms: ctx.time_ms,
            first_log_index: self.log_size,
        };
        let after = AfterBlock {
            base: &self.chain.state,
            writes: &out.writes,
        };
        let mut events = derive_block_events(&after, at, txs, &out.results).unwrap();
        self.seqs.assign(&mut events);
        self.chain.state.apply(&out.writes);
        self.chain.height = ctx.height;
        self.chain.time_ms = ctx.time_ms;
        self.log_size += txs.len() as u64;
        self.events.extend(events.clone());
        events
    }

    fn one(&mut self, signer: &SigningKey, kind: TxKind) -> LedgerEvent {
        let mut events = self.run(signer, kind);
        assert_eq!(events.len(), 1, "{events:#?}");
        events.remove(0)
    }
}

fn terminal(store: &str, channel: &str) -> Role {
    Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new(channel).unwrap(),
    }
}

/// acme's issuer and berlin terminal, globex's hamburg terminal, and an active unique-code
/// pool of acme with globex as partner, 4 codes.
fn setup() -> (Recorder, SigningKey, SigningKey, SigningKey, PoolId) {
    let mut r = Recorder::new();
    let acme = testkit::key(1);
    let issuer = testkit::key(10);
    r.run(
        &acme,
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(10),
            role: Role::Issuer,
        }),
    );
    r.run(
        &acme,
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(11),
            role: terminal("berlin-1", "pos"),
        }),
    );
    r.run(
        &testkit::key(2),
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(20),
            role: terminal("hamburg-1", "web"),
        }),
    );
    let pool = testkit::pool_id("spring");
    let mut spec = testkit::spec(PoolKind::UniqueCodes);
    spec.partner_orgs = vec![testkit::org("globex")];
    spec.transferable = true;
    spec.per_member_cap = 3;
    r.run(
        &issuer,
        TxKind::CreatePool(CreatePoolTx {
            pool: pool.clone(),
            spec,
        }),
    );
    let codes = (0..4)
        .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
        .collect();
    r.run(
        &issuer,
        TxKind::IssueCodes(IssueCodesTx {
            pool: pool.clone(),
            codes,
        }),
    );
    r.run(
        &issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Activate,
        }),
    );
    (r, issuer, testkit::key(11), testkit::key(20), pool)
}

fn allocate(r: &mut Recorder, issuer: &SigningKey, pool: &PoolId, member: u64) -> LedgerEvent {
    r.one(
        issuer,
        TxKind::Allocate(AllocateTx {
            pool: pool.clone(),
            member: testkit::member(member),
            claim: testkit::claim(member * 100 + r.log_size),
        }),
    )
}

fn redeem(r: &mut Recorder, by: &SigningKey, t: &TokenId, member: u64, total: u64) -> LedgerEvent {
    r.one(
        by,
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Token(t.clone()),
            member: Some(testkit::member(member)),
            order: testkit::order(total),
        }),
    )
}

#[test]
fn pool_and_key_events_name_their_org_and_pool() {
    let (r, issuer, ..) = setup();
    let kinds: Vec<EventType> = r.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventType::KeyRegistered,
            EventType::KeyRegistered,
            EventType::KeyRegistered,
            EventType::PoolCreated,
            EventType::CodesIssued,
            EventType::PoolTransitioned,
        ]
    );
    let globex_key = &r.events[2];
    assert_eq!(globex_key.org, Some(testkit::org("globex")));
    assert_eq!(globex_key.pool, None);
    let created = &r.events[3];
    assert_eq!(created.org, Some(testkit::org("acme")));
    assert_eq!(created.signer, PublicKey(issuer.verifying_key().to_bytes()));
    assert_eq!(created.pool_seq, Some(1));
    assert_eq!(r.events[4].pool_seq, Some(2));
    assert_eq!(r.events[5].pool_seq, Some(3));
    assert_eq!(created.store, None, "an issuer stands in no store");
    for (i, e) in r.events.iter().enumerate() {
        assert_eq!(e.id, EventId::first_of(i as u64));
        assert_eq!((e.height, e.tx_index), (i as u64 + 1, 0));
    }
}

#[test]
fn a_redemption_carries_store_channel_member_and_money() {
    let (mut r, issuer, berlin, _, pool) = setup();
    let alloc = allocate(&mut r, &issuer, &pool, 7);
    assert_eq!(alloc.kind, EventType::CouponAllocated);
    assert_eq!(alloc.member, Some(testkit::member(7)));
    let t = alloc.token.clone().unwrap();
    assert_eq!((alloc.pool_seq, alloc.token_seq), (Some(4), Some(1)));

    let e = redeem(&mut r, &berlin, &t, 7, 20_000);
    assert_eq!(e.kind, EventType::CouponRedeemed);
    assert_eq!(e.org, Some(testkit::org("acme")));
    assert_eq!(e.signer_org, Some(testkit::org("acme")));
    assert!(!e.is_partner_redemption());
    assert_eq!(e.store, Some(StoreId::new("berlin-1").unwrap()));
    assert_eq!(e.channel, Some(Channel::new("pos").unwrap()));
    assert_eq!(e.member, Some(testkit::member(7)));
    let amounts = e.amounts.clone().unwrap();
    assert_eq!(amounts.currency, Currency(*b"EUR"));
    assert_eq!(amounts.order_total_minor, Some(20_000));
    assert_eq!(amounts.eligible_minor, Some(20_000));
    assert_eq!(amounts.discount_minor, Some(2_000), "10 % off");
    assert_eq!((e.pool_seq, e.token_seq), (Some(5), Some(2)));

    // A rollback by the same terminal: the redemption's store and amounts, no order total.
    let back = r.one(
        &berlin,
        TxKind::Rollback(RollbackTx {
            redemption: e.tx_id,
        }),
    );
    assert_eq!(back.kind, EventType::CouponRolledBack);
    assert_eq!(back.token, Some(t.clone()));
    assert_eq!(back.member, Some(testkit::member(7)));
    assert_eq!(back.store, e.store);
    let amounts = back.amounts.unwrap();
    assert_eq!(
        (amounts.order_total_minor, amounts.discount_minor),
        (None, Some(2_000))
    );
    assert_eq!(back.token_seq, Some(3));
}

#[test]
fn a_partner_redemption_names_both_orgs() {
    let (mut r, issuer, _, hamburg, pool) = setup();
    let t = allocate(&mut r, &issuer, &pool, 8).token.unwrap();
    let e = redeem(&mut r, &hamburg, &t, 8, 5_000);
    assert_eq!(e.kind, EventType::CouponRedeemed);
    assert_eq!(e.org, Some(testkit::org("acme")), "the pool's owner");
    assert_eq!(
        e.signer_org,
        Some(testkit::org("globex")),
        "the redeeming partner"
    );
    assert!(e.is_partner_redemption());
    assert!(e.org_sees(&testkit::org("acme")) && e.org_sees(&testkit::org("globex")));
    assert!(!e.org_sees(&testkit::org("initech")));
    assert_eq!(e.store, Some(StoreId::new("hamburg-1").unwrap()));
}

#[test]
fn revoke_and_transfer_name_the_holder() {
    let (mut r, issuer, ..) = setup();
    let pool = testkit::pool_id("spring");
    let t = allocate(&mut r, &issuer, &pool, 1).token.unwrap();
    let moved = r.one(
        &issuer,
        TxKind::TransferToken(TransferTokenTx {
            token: t.clone(),
            from: testkit::member(1),
            to: testkit::member(2),
        }),
    );
    assert_eq!(moved.kind, EventType::CouponTransferred);
    assert_eq!(moved.member, Some(testkit::member(2)));
    let revoked = r.one(
        &issuer,
        TxKind::RevokeToken(RevokeTokenTx {
            token: t.clone(),
            reason: RevokeReason::Fraud,
            note: None,
        }),
    );
    assert_eq!(revoked.kind, EventType::CouponRevoked);
    assert_eq!(
        revoked.member,
        Some(testkit::member(2)),
        "the holder when revoked"
    );
    assert_eq!(revoked.token_seq, Some(3));
}

#[test]
fn a_rejected_redemption_is_evidence_with_its_target() {
    let (mut r, issuer, berlin, _, pool) = setup();
    let t = allocate(&mut r, &issuer, &pool, 3).token.unwrap();
    redeem(&mut r, &berlin, &t, 3, 1_000);
    let again = redeem(&mut r, &berlin, &t, 3, 1_500);
    assert_eq!(again.kind, EventType::TxRejected);
    let EventDetail::Rejected { tx_kind, rejection } = &again.detail else {
        panic!("{again:?}");
    };
    assert_eq!(
        (tx_kind.as_str(), rejection.reason),
        ("redeem", RejectReason::AlreadyRedeemed)
    );
    assert_eq!(again.org, Some(testkit::org("acme")));
    assert_eq!(again.token, Some(t));
    assert_eq!(again.store, Some(StoreId::new("berlin-1").unwrap()));
    let amounts = again.amounts.unwrap();
    assert_eq!(
        (amounts.order_total_minor, amounts.discount_minor),
        (Some(1_500), None)
    );
    assert_eq!(
        again.token_seq,
        Some(3),
        "rejections count in the token's sequence"
    );
}

#[test]
fn an_unknown_signer_has_no_org_even_once_registered() {
    let (mut r, ..) = setup();
    let stranger = testkit::key(77);
    let e = r.one(
        &stranger,
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(78),
            role: Role::Issuer,
        }),
    );
    assert_eq!(e.kind, EventType::TxRejected);
    assert_eq!((e.signer_org.clone(), e.org.clone()), (None, None));
    // The key joins acme later; the old event, derived again from the final state, still
    // says what the chain knew then.
    r.run(
        &testkit::key(1),
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(77),
            role: Role::Issuer,
        }),
    );
    let at = BlockPosition {
        height: e.height,
        time_ms: e.time_ms,
        first_log_index: e.log_index,
    };
    let tx = TxBody {
        chain_id: r.chain.chain_id.clone(),
        nonce: 0,
        valid_until_ms: 0,
        kind: TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(78),
            role: Role::Issuer,
        }),
        memo: None,
    }
    .sign(&stranger);
    let result = TxResult {
        tx_id: e.tx_id,
        outcome: TxOutcome::Rejected {
            rejection: match &e.detail {
                EventDetail::Rejected { rejection, .. } => rejection.clone(),
                other => panic!("{other:?}"),
            },
        },
    };
    let again = derive_block_events(&r.chain.state, at, &[tx], &[result]).unwrap();
    assert_eq!(again[0].signer_org, None);
}

#[test]
fn every_event_of_a_tx_carries_its_memo_applied_or_rejected() {
    let (mut r, issuer, till, _, pool) = setup();
    // Txs without a memo give events without one.
    assert!(r.events.iter().all(|e| e.memo.is_none()));
    let memo = |text: &str| Some(Memo::new(text).unwrap());
    let signed = |r: &mut Recorder, key: &SigningKey, kind: TxKind, text: &str| {
        r.chain.body(kind).with_memo(memo(text)).sign(key)
    };
    // An allocation, a redemption and a rejected second redemption, in one block.
    let token = TokenId {
        pool: pool.clone(),
        serial: 0,
    };
    let allocate = TxKind::Allocate(AllocateTx {
        pool: pool.clone(),
        member: testkit::member(1),
        claim: testkit::claim(1),
    });
    let redeem = TxKind::Redeem(RedeemTx {
        target: RedeemTarget::Token(token),
        member: Some(testkit::member(1)),
        order: testkit::order(5_000),
    });
    let txs = vec![
        signed(&mut r, &issuer, allocate, "staff:u-1"),
        signed(&mut r, &till, redeem.clone(), "till 4, shift b"),
        signed(&mut r, &till, redeem, "till 4 again"),
    ];
    let events = r.block(&txs);
    let got: Vec<(EventType, Option<Memo>)> =
        events.iter().map(|e| (e.kind, e.memo.clone())).collect();
    assert_eq!(
        got,
        vec![
            (EventType::CouponAllocated, memo("staff:u-1")),
            (EventType::CouponRedeemed, memo("till 4, shift b")),
            (EventType::TxRejected, memo("till 4 again")),
        ]
    );
    // The memo is in the event's bytes and JSON, and both round-trip.
    for e in &events {
        assert_eq!(decode::<LedgerEvent>(&encode(e)).unwrap(), *e);
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["memo"], e.memo.as_ref().unwrap().as_str());
        assert_eq!(serde_json::from_value::<LedgerEvent>(json).unwrap(), *e);
    }
    // A pool transition with a memo, then one without: only the first carries it.
    let pause = |action| {
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action,
        })
    };
    let tx = signed(&mut r, &issuer, pause(PoolAction::Pause), "staff:u-2");
    assert_eq!(r.block(&[tx])[0].memo, memo("staff:u-2"));
    assert_eq!(r.one(&issuer, pause(PoolAction::Resume)).memo, None);
}

#[test]
fn governance_events_are_public_and_belong_to_no_org() {
    let mut r = Recorder::new();
    let proposal = r.chain.sign(
        &testkit::key(1),
        TxKind::ProposeGovernance(ProposeGovernanceTx {
            change: GovernanceChange::AddAuditor {
                org: testkit::org("acme"),
                key: testkit::public(40),
            },
        }),
    );
    let opened = r.block(std::slice::from_ref(&proposal));
    assert_eq!(opened[0].kind, EventType::GovernanceProposed);
    let approved = r.run(
        &testkit::key(2),
        TxKind::ApproveGovernance(ApproveGovernanceTx {
            proposal: proposal.id(),
        }),
    );
    let kinds: Vec<EventType> = approved.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventType::GovernanceApplied), "{kinds:?}");
    for e in opened.iter().chain(&approved) {
        assert!(e.is_public(), "{e:?}");
        assert!(e.org_sees(&testkit::org("initech")));
        if matches!(
            e.kind,
            EventType::GovernanceProposed | EventType::GovernanceApplied
        ) {
            assert_eq!(e.org, None);
        }
    }
    // Several events of one entry share its log index and count up.
    let ids: Vec<EventId> = approved.iter().map(|e| e.id).collect();
    for (k, id) in ids.iter().enumerate() {
        assert_eq!(
            *id,
            EventId {
                log_index: 1,
                index: k as u16
            }
        );
    }
}

#[test]
fn several_txs_of_a_block_get_consecutive_entries() {
    let (mut r, issuer, ..) = setup();
    let pool = testkit::pool_id("spring");
    let txs: Vec<SignedTx> = (0..3)
        .map(|m| {
            r.chain.sign(
                &issuer,
                TxKind::Allocate(AllocateTx {
                    pool: pool.clone(),
                    member: testkit::member(50 + m),
                    claim: testkit::claim(500 + m),
                }),
            )
        })
        .collect();
    let first = r.log_size;
    let events = r.block(&txs);
    let positions: Vec<(u64, u32, Option<u64>)> = events
        .iter()
        .map(|e| (e.log_index, e.tx_index, e.pool_seq))
        .collect();
    assert_eq!(
        positions,
        [
            (first, 0, Some(4)),
            (first + 1, 1, Some(5)),
            (first + 2, 2, Some(6))
        ]
    );
}

#[test]
fn event_ids_and_types_read_back_and_refuse_malformed_text() {
    let id = EventId {
        log_index: 1042,
        index: 3,
    };
    assert_eq!(id.to_string(), "evt_1042_3");
    assert_eq!("evt_1042_3".parse::<EventId>(), Ok(id));
    assert_eq!("evt_0_0".parse::<EventId>(), Ok(EventId::default()));
    for bad in [
        "",
        "evt_",
        "evt_1",
        "evt_1_",
        "evt__1",
        "ev_1_1",
        "evt_01_0",
        "evt_-1_0",
        "evt_1_x",
        "evt_1_70000",
        "evt_99999999999999999999_0",
        "EVT_1_0",
        " evt_1_0",
        "evt_1_0_0",
    ] {
        let err = bad.parse::<EventId>().expect_err(bad);
        assert!(err.to_string().contains("evt_<log index>_<index>"), "{err}");
    }
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"evt_1042_3\"");
    for t in EventType::ALL {
        assert_eq!(t.name().parse::<EventType>(), Ok(t));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            format!("\"{}\"", t.name())
        );
    }
    let err = "coupon.eaten".parse::<EventType>().unwrap_err();
    assert!(
        err.contains("coupon.redeemed"),
        "lists the known types: {err}"
    );
}

proptest! {
    #[test]
    fn event_ids_order_as_their_positions(a in any::<(u64, u16)>(), b in any::<(u64, u16)>()) {
        let (x, y) = (
            EventId { log_index: a.0, index: a.1 },
            EventId { log_index: b.0, index: b.1 },
        );
        prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        prop_assert_eq!(x.to_string().parse::<EventId>(), Ok(x));
    }
}
