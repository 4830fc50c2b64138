//! Coupon fixtures: pool specs, generated and sealed codes, members, orders, and the
//! common flows (create + issue + activate a pool, allocate, redeem) as one-liners.

use crate::node::DevNode;
use crate::now_ms;
use crate::views::TxView;
use couponcactus_chaincode::codes::{CodePattern, code_hash, seal_code};
use couponcactus_chaincode::ids::{ClaimKey, MemberId, PoolId, TokenId};
use couponcactus_chaincode::tx::{
    AllocateTx, CreatePoolTx, IssueCodesTx, RedeemTarget, RedeemTx, SignedTx, TransitionPoolTx,
    TxKind,
};
use couponcactus_chaincode::types::{
    Currency, Discount, IssuedCode, Order, PoolAction, PoolKind, PoolSpec,
};

/// Member id `n` (a pseudonymous id; any 32 bytes).
pub fn member(n: u64) -> MemberId {
    MemberId(*blake3::hash(format!("member-{n}").as_bytes()).as_bytes())
}

/// Claim key `n`.
pub fn claim(n: u64) -> ClaimKey {
    ClaimKey(*blake3::hash(format!("claim-{n}").as_bytes()).as_bytes())
}

/// An EUR order of `total_minor` cents without category lines.
pub fn order(total_minor: u64) -> Order {
    Order {
        currency: Currency(*b"EUR"),
        total_minor,
        lines: vec![],
    }
}

/// A unique-codes pool: 10 % off in EUR, valid from an hour ago for two hours, caps
/// 1,000,000 in total and 1 per member, any store and channel.
pub fn spec(name: &str) -> PoolSpec {
    let now = now_ms();
    PoolSpec {
        name: name.into(),
        kind: PoolKind::UniqueCodes,
        currency: Currency(*b"EUR"),
        discount: Discount::Percent { bps: 1_000 },
        max_discount_minor: None,
        min_spend_minor: 0,
        valid_from_ms: now - 3_600_000,
        valid_until_ms: now + 3_600_000,
        total_cap: 1_000_000,
        per_member_cap: 1,
        allowed_channels: vec![],
        allowed_stores: vec![],
        excluded_categories: vec![],
        stacking_group: None,
        partner_orgs: vec![],
        transferable: false,
        velocity: vec![],
        requires_consent: None,
    }
}

/// `n` distinct codes for `pool` (default pattern `XXXX-XXXX-XXXX`), derived from the pool
/// id so a test is reproducible; distinct pools get distinct codes.
pub fn codes(pool: &PoolId, n: usize) -> Vec<String> {
    let pattern = CodePattern::default();
    let per_code = pattern.random_bytes_per_code();
    (0..n)
        .map(|i| {
            let mut random = vec![0u8; per_code];
            blake3::Hasher::new()
                .update(pool.as_str().as_bytes())
                .update(&(i as u64).to_le_bytes())
                .finalize_xof()
                .fill(&mut random);
            pattern.generate(&random).expect("default pattern")
        })
        .collect()
}

/// Hashes and seals `codes` under the org's data key, as an issuer's client does.
pub fn issue(data_key: &[u8; 32], pool: &PoolId, codes: &[String]) -> Vec<IssuedCode> {
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
            IssuedCode {
                code_hash: code_hash(code),
                sealed: seal_code(data_key, nonce, pool, code),
            }
        })
        .collect()
}

/// A pool on the node and its plaintext codes (serial `i` is `codes[i]`).
#[derive(Clone, Debug)]
pub struct PoolFixture {
    /// The pool id.
    pub id: PoolId,
    /// Its codes, by serial.
    pub codes: Vec<String>,
}

impl PoolFixture {
    /// Token `serial` of the pool.
    pub fn token(&self, serial: u64) -> TokenId {
        TokenId {
            pool: self.id.clone(),
            serial,
        }
    }
}

impl DevNode {
    /// Creates pool `name` (issuer), issues `n` codes and activates it; every step must
    /// apply.
    pub fn create_active_pool(&self, name: &str, n: usize) -> PoolFixture {
        let pool = self.create_draft_pool(name, n);
        self.client().apply(
            &self.keys().issuer,
            TxKind::TransitionPool(TransitionPoolTx {
                pool: pool.id.clone(),
                action: PoolAction::Activate,
            }),
        );
        pool
    }

    /// Creates pool `name` (issuer) and issues `n` codes (none if `n` is 0); it stays in
    /// draft.
    pub fn create_draft_pool(&self, name: &str, n: usize) -> PoolFixture {
        let id = PoolId::new(name).expect("valid pool id");
        let issuer = &self.keys().issuer;
        self.client().apply(
            issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: id.clone(),
                spec: spec(name),
            }),
        );
        let codes = codes(&id, n);
        if n > 0 {
            let view = self.client().apply(
                issuer,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: id.clone(),
                    codes: issue(&self.keys().data_key, &id, &codes),
                }),
            );
            assert_eq!(view.events().len(), 1);
        }
        PoolFixture { id, codes }
    }

    /// An allocation tx (issuer) of `pool`'s next free token to member `m` with claim `m`.
    pub fn allocate_tx(&self, pool: &PoolId, m: u64) -> SignedTx {
        self.client().tx(
            &self.keys().issuer,
            TxKind::Allocate(AllocateTx {
                pool: pool.clone(),
                member: member(m),
                claim: claim(m),
            }),
        )
    }

    /// A redemption tx (terminal) of `code` for an order.
    pub fn redeem_code_tx(&self, code: &str, order: Order) -> SignedTx {
        self.client().tx(
            &self.keys().terminal,
            TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Code(code_hash(code)),
                member: None,
                order,
            }),
        )
    }

    /// Redeems `code` at the dev terminal and waits; returns the view (200 or 422).
    pub fn redeem_code(&self, code: &str, order: Order) -> TxView {
        let reply = self.client().submit(&self.redeem_code_tx(code, order));
        assert!(
            matches!(reply.status, 200 | 422),
            "unexpected reply: {reply:#?}"
        );
        reply.json()
    }
}
