//! A coupon's life on an in-memory chain, executed by the real chaincode:
//! genesis → keys → pool → sealed code batch → allocation → validate → redeem →
//! a second redemption refused → rollback (refund) → redeemed again.
//!
//! Run with `cargo run -p couponcactus-chaincode --example walkthrough`.

use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::tx::RedeemTarget;
use ed25519_dalek::SigningKey;

const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

struct Chain {
    state: MemState,
    chain_id: ChainId,
    height: u64,
    time_ms: u64,
    nonce: u64,
}

impl Chain {
    fn submit(&mut self, who: &str, signer: &SigningKey, kind: TxKind) -> TxOutcome {
        self.nonce += 1;
        let tx = TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce,
            valid_until_ms: self.time_ms + 60_000,
            kind,
            memo: None,
        }
        .sign(signer);
        self.height += 1;
        self.time_ms += 1_000;
        let ctx = BlockContext {
            chain_id: self.chain_id.clone(),
            height: self.height,
            time_ms: self.time_ms,
        };
        let out = execute_block(&self.state, &ctx, std::slice::from_ref(&tx))
            .expect("in-memory state cannot fail");
        self.state.apply(&out.writes);
        let result = out.results.into_iter().next().expect("one result per tx");
        match &result.outcome {
            TxOutcome::Applied { events } => {
                println!(
                    "block {:>2}  {who:<9} {:<15} applied   {}",
                    self.height,
                    tx.body.kind.name(),
                    summary(events)
                )
            }
            TxOutcome::Rejected { rejection } => {
                println!(
                    "block {:>2}  {who:<9} {:<15} REJECTED  {rejection}",
                    self.height,
                    tx.body.kind.name()
                )
            }
        }
        result.outcome
    }
}

fn summary(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).expect("events serialize"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

fn main() {
    // Fixed seeds keep the walkthrough reproducible; real keys come from `cactus keys generate`.
    let acme_admin = SigningKey::from_bytes(&[1; 32]);
    let globex_admin = SigningKey::from_bytes(&[2; 32]);
    let issuer = SigningKey::from_bytes(&[3; 32]);
    let terminal = SigningKey::from_bytes(&[4; 32]);
    let data_key = [9u8; 32]; // acme's code-sealing key; never leaves acme

    let genesis = InitialState {
        chain_id: ChainId::new("walkthrough").unwrap(),
        genesis_time_ms: T0,
        params: ChainParams::default(),
        orgs: vec![
            InitialOrg {
                id: OrgId::new("acme").unwrap(),
                name: "Acme Stores".into(),
                admin_keys: vec![public(&acme_admin)],
            },
            InitialOrg {
                id: OrgId::new("globex").unwrap(),
                name: "Globex".into(),
                admin_keys: vec![public(&globex_admin)],
            },
        ],
        nodes: vec![NodeRecord {
            node_id: 1,
            org: OrgId::new("acme").unwrap(),
            node_key: public(&SigningKey::from_bytes(&[100; 32])),
            p2p_addr: "/ip4/127.0.0.1/tcp/7201".into(),
            voter: true,
        }],
    };
    let mut state = MemState::default();
    state.apply(&genesis.writes().expect("valid genesis"));
    let mut chain = Chain {
        state,
        chain_id: genesis.chain_id.clone(),
        height: 0,
        time_ms: T0,
        nonce: 0,
    };
    println!(
        "genesis: chain {} with orgs acme and globex\n",
        chain.chain_id
    );

    chain.submit(
        "acme",
        &acme_admin,
        TxKind::RegisterKey(RegisterKeyTx {
            key: public(&issuer),
            role: Role::Issuer,
        }),
    );
    let role = Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel::new("pos").unwrap(),
    };
    chain.submit(
        "acme",
        &acme_admin,
        TxKind::RegisterKey(RegisterKeyTx {
            key: public(&terminal),
            role,
        }),
    );

    let pool = PoolId::new("spring-10").unwrap();
    let spec = PoolSpec {
        name: "Spring sale: 10% off, up to EUR 20, from EUR 50".into(),
        kind: PoolKind::UniqueCodes,
        currency: "EUR".parse().unwrap(),
        discount: Discount::Percent { bps: 1_000 },
        max_discount_minor: Some(2_000),
        min_spend_minor: 5_000,
        valid_from_ms: T0,
        valid_until_ms: T0 + 90 * 24 * 3_600_000,
        total_cap: 10_000,
        per_member_cap: 1,
        allowed_channels: vec![Channel::new("pos").unwrap()],
        allowed_stores: vec![],
        excluded_categories: vec![Category::new("tobacco").unwrap()],
        stacking_group: None,
        partner_orgs: vec![],
        transferable: false,
        velocity: vec![],
        requires_consent: None,
    };
    chain.submit(
        "issuer",
        &issuer,
        TxKind::CreatePool(CreatePoolTx {
            pool: pool.clone(),
            spec,
        }),
    );

    // The issuer's machine generates codes (randomness is an input: here a fixed stream),
    // keeps the plaintext, and sends only hashes and sealed bytes.
    let pattern = CodePattern {
        prefix: "SPR-".into(),
        ..CodePattern::default()
    };
    let codes: Vec<String> = (0u64..5)
        .map(|i| {
            let random: Vec<u8> = blake3::hash(&i.to_le_bytes()).as_bytes().to_vec();
            pattern.generate(&random).unwrap()
        })
        .collect();
    let batch = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let mut nonce = [0u8; 12];
            nonce[0] = i as u8;
            IssuedCode {
                code_hash: code_hash(code),
                sealed: seal_code(&data_key, nonce, &pool, code),
            }
        })
        .collect();
    println!(
        "          (issuer keeps the plaintext codes: {})",
        codes.join(", ")
    );
    chain.submit(
        "issuer",
        &issuer,
        TxKind::IssueCodes(IssueCodesTx {
            pool: pool.clone(),
            codes: batch,
        }),
    );
    chain.submit(
        "issuer",
        &issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Activate,
        }),
    );

    // Members are pseudonymous: acme hashes its own customer id with a secret key.
    let alice = MemberId(*blake3::keyed_hash(&[7; 32], b"customer:alice").as_bytes());
    chain.submit(
        "issuer",
        &issuer,
        TxKind::Allocate(AllocateTx {
            pool: pool.clone(),
            member: alice,
            claim: ClaimKey([1; 32]),
        }),
    );

    // At the till: an 80 EUR basket with 10 EUR of tobacco. Validate first (dry run) ...
    let order = Order {
        currency: "EUR".parse().unwrap(),
        total_minor: 8_000,
        lines: vec![OrderLine {
            category: Category::new("tobacco").unwrap(),
            amount_minor: 1_000,
        }],
    };
    let redeem = RedeemTx {
        target: RedeemTarget::Code(code_hash(&codes[0])),
        member: Some(alice),
        order,
    };
    let ctx = BlockContext {
        chain_id: chain.chain_id.clone(),
        height: chain.height + 1,
        time_ms: chain.time_ms + 1_000,
    };
    let quote =
        quote_redemption(&chain.state, &ctx, &public(&terminal), &redeem).expect("valid coupon");
    println!(
        "          terminal quote: eligible {} cents, discount {} cents",
        quote.eligible_minor, quote.discount_minor
    );

    // ... then redeem. A second redemption of the same code is refused.
    let first = chain.submit("terminal", &terminal, TxKind::Redeem(redeem.clone()));
    chain.submit("terminal", &terminal, TxKind::Redeem(redeem.clone()));

    // The customer returns the goods: the terminal rolls the redemption back, restoring the coupon.
    let Some([Event::Redeemed { redemption, .. }]) = first.events() else {
        unreachable!("redeem applied")
    };
    chain.submit(
        "terminal",
        &terminal,
        TxKind::Rollback(RollbackTx {
            redemption: *redemption,
        }),
    );
    chain.submit("terminal", &terminal, TxKind::Redeem(redeem));

    // Only acme can open its sealed codes.
    let token = TokenId {
        pool: pool.clone(),
        serial: 0,
    };
    let Some(StateValue::Token(record)) = chain.state.0.get(&StateKey::Token(token.clone())) else {
        unreachable!()
    };
    println!(
        "\ntoken {token}: {:?}; acme opens its sealed code: {}",
        record.status,
        open_code(&data_key, &pool, &record.sealed).unwrap()
    );
    println!(
        "state holds {} entries after {} blocks",
        chain.state.len(),
        chain.height
    );
}
