//! [`TxBuilder`]: building and signing txs of every kind for one chain.
//!
//! A builder fixes the chain id and a validity window (how long after signing a tx may
//! still be committed; the node refuses one past it as `stale`, and one beyond the chain's
//! `max_tx_validity_ms` as `invalid_input`) and hands out nonces: a random 64-bit start
//! from the operating system, then counting up, so two processes building the same tx at
//! the same moment still make two distinct txs, and one builder never repeats itself. The
//! signed envelope, tx ids and signing are the chaincode's ([`TxBody::sign`]); this module
//! only fills the body in.
//!
//! A builder may also carry a [`Memo`] ([`TxBuilder::memo`]) that every tx it builds
//! carries: who or why, signed with the body (the merchant console puts the staff user's
//! id there).
//!
//! To retry a submission, resubmit the *same* [`SignedTx`]: the node answers with the
//! original result. Signing the same request again makes a new tx with a new id.

use couponcactus_chaincode::consent::{ConsentDecision, Purpose};
use couponcactus_chaincode::ids::{
    ChainId, ClaimKey, Hash32, MemberId, PoolId, PublicKey, TokenId, TxId,
};
use couponcactus_chaincode::memo::Memo;
use couponcactus_chaincode::tx::{
    AllocateTx, ApproveGovernanceTx, CreatePoolTx, IssueCodesTx, ProposeGovernanceTx,
    RecordConsentTx, RecordErasureTx, RedeemTarget, RedeemTx, RegisterKeyTx, RevokeKeyTx,
    RevokeReason, RevokeTokenTx, RollbackTx, SignedTx, TransferTokenTx, TransitionPoolTx, TxBody,
    TxKind, UpdatePoolTx,
};
use couponcactus_chaincode::types::{
    GovernanceChange, IssuedCode, Order, PoolAction, PoolSpec, Role,
};
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a built tx stays valid by default: 5 minutes.
pub const DEFAULT_VALIDITY_MS: u64 = 5 * 60 * 1000;

/// Milliseconds since the Unix epoch by the local clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Builds and signs txs for one chain. Cheap to clone; clones share the nonce counter.
#[derive(Clone, Debug)]
pub struct TxBuilder {
    chain_id: ChainId,
    validity_ms: u64,
    nonce: Arc<AtomicU64>,
    memo: Option<Memo>,
}

impl TxBuilder {
    /// A builder for `chain_id`, valid [`DEFAULT_VALIDITY_MS`], nonces from a random start.
    pub fn new(chain_id: ChainId) -> TxBuilder {
        let mut seed = [0u8; 8];
        // The clock is a fallback only: getrandom fails on no supported platform.
        let start = match getrandom::fill(&mut seed) {
            Ok(()) => u64::from_le_bytes(seed),
            Err(_) => now_ms().wrapping_mul(1_000_003),
        };
        Self::with_first_nonce(chain_id, start)
    }

    /// A builder whose first nonce is `first` (reproducible txs, e.g. in tests).
    pub fn with_first_nonce(chain_id: ChainId, first: u64) -> TxBuilder {
        TxBuilder {
            chain_id,
            validity_ms: DEFAULT_VALIDITY_MS,
            nonce: Arc::new(AtomicU64::new(first)),
            memo: None,
        }
    }

    /// The same builder with txs valid for `validity_ms` after they are built.
    pub fn validity_ms(mut self, validity_ms: u64) -> TxBuilder {
        self.validity_ms = validity_ms;
        self
    }

    /// The same builder with every tx it builds carrying `memo` (`None`: no memo).
    /// Clones made before keep their own memo; the nonce counter stays shared.
    pub fn memo(mut self, memo: Option<Memo>) -> TxBuilder {
        self.memo = memo;
        self
    }

    /// The chain the txs are for.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// A body of `kind` with the next nonce, valid until `now_ms + validity`.
    pub fn body_at(&self, kind: TxKind, now_ms: u64) -> TxBody {
        TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
            valid_until_ms: now_ms.saturating_add(self.validity_ms),
            kind,
            memo: self.memo.clone(),
        }
    }

    /// A body of `kind` with the next nonce, valid from now.
    pub fn body(&self, kind: TxKind) -> TxBody {
        self.body_at(kind, now_ms())
    }

    /// `kind`, signed by `signer`.
    pub fn sign(&self, signer: &SigningKey, kind: TxKind) -> SignedTx {
        self.body(kind).sign(signer)
    }

    /// Registers `key` with `role` for the signer's org (signer: an org admin).
    pub fn register_key(&self, admin: &SigningKey, key: PublicKey, role: Role) -> SignedTx {
        self.sign(admin, TxKind::RegisterKey(RegisterKeyTx { key, role }))
    }

    /// Revokes `key` of the signer's org (signer: an org admin).
    pub fn revoke_key(&self, admin: &SigningKey, key: PublicKey) -> SignedTx {
        self.sign(admin, TxKind::RevokeKey(RevokeKeyTx { key }))
    }

    /// Proposes a consortium change (signer: an org admin; counts as its org's approval).
    pub fn propose_governance(&self, admin: &SigningKey, change: GovernanceChange) -> SignedTx {
        self.sign(
            admin,
            TxKind::ProposeGovernance(ProposeGovernanceTx { change }),
        )
    }

    /// Approves proposal `proposal` (the proposing tx's id; signer: another org's admin).
    pub fn approve_governance(&self, admin: &SigningKey, proposal: TxId) -> SignedTx {
        self.sign(
            admin,
            TxKind::ApproveGovernance(ApproveGovernanceTx { proposal }),
        )
    }

    /// Creates pool `pool` in draft (signer: org admin or issuer).
    pub fn create_pool(&self, signer: &SigningKey, pool: PoolId, spec: PoolSpec) -> SignedTx {
        self.sign(signer, TxKind::CreatePool(CreatePoolTx { pool, spec }))
    }

    /// Replaces a draft pool's spec (signer: org admin or issuer of the owner).
    pub fn update_pool(&self, signer: &SigningKey, pool: PoolId, spec: PoolSpec) -> SignedTx {
        self.sign(signer, TxKind::UpdatePool(UpdatePoolTx { pool, spec }))
    }

    /// Moves a pool through its lifecycle (signer: org admin or issuer of the owner).
    pub fn transition_pool(
        &self,
        signer: &SigningKey,
        pool: PoolId,
        action: PoolAction,
    ) -> SignedTx {
        self.sign(
            signer,
            TxKind::TransitionPool(TransitionPoolTx { pool, action }),
        )
    }

    /// Issues a batch of sealed codes into a draft or paused pool, all or nothing.
    pub fn issue_codes(
        &self,
        signer: &SigningKey,
        pool: PoolId,
        codes: Vec<IssuedCode>,
    ) -> SignedTx {
        self.sign(signer, TxKind::IssueCodes(IssueCodesTx { pool, codes }))
    }

    /// Allocates the pool's next free token to `member`; the same `claim` always returns
    /// the same token.
    pub fn allocate(
        &self,
        signer: &SigningKey,
        pool: PoolId,
        member: MemberId,
        claim: ClaimKey,
    ) -> SignedTx {
        self.sign(
            signer,
            TxKind::Allocate(AllocateTx {
                pool,
                member,
                claim,
            }),
        )
    }

    /// Redeems a token or code against `order` (signer: a terminal of the owner or of a
    /// partner org).
    pub fn redeem(
        &self,
        terminal: &SigningKey,
        target: RedeemTarget,
        member: Option<MemberId>,
        order: Order,
    ) -> SignedTx {
        self.sign(
            terminal,
            TxKind::Redeem(RedeemTx {
                target,
                member,
                order,
            }),
        )
    }

    /// Rolls back redemption `redemption` (the redeem tx's id) on a refund.
    pub fn rollback(&self, signer: &SigningKey, redemption: TxId) -> SignedTx {
        self.sign(signer, TxKind::Rollback(RollbackTx { redemption }))
    }

    /// Revokes a token for `reason`, with an optional note for auditors (1 to 140 bytes;
    /// required for [`RevokeReason::Other`]) (signer: org admin or issuer of the owner).
    pub fn revoke_token(
        &self,
        signer: &SigningKey,
        token: TokenId,
        reason: RevokeReason,
        note: Option<String>,
    ) -> SignedTx {
        self.sign(
            signer,
            TxKind::RevokeToken(RevokeTokenTx {
                token,
                reason,
                note,
            }),
        )
    }

    /// Moves a token from member `from` to member `to` (transferable pools).
    pub fn transfer_token(
        &self,
        signer: &SigningKey,
        token: TokenId,
        from: MemberId,
        to: MemberId,
    ) -> SignedTx {
        self.sign(
            signer,
            TxKind::TransferToken(TransferTokenTx { token, from, to }),
        )
    }

    /// Records `member`'s decision on `purpose` for the signer's org (an org admin, issuer
    /// or terminal key): `text_hash` is the blake3 hash of the consent text version the
    /// member was shown ([`consent_text_hash`]).
    pub fn record_consent(
        &self,
        signer: &SigningKey,
        member: MemberId,
        purpose: Purpose,
        decision: ConsentDecision,
        text_hash: Hash32,
    ) -> SignedTx {
        self.sign(
            signer,
            TxKind::RecordConsent(RecordConsentTx {
                member,
                purpose,
                decision,
                text_hash,
            }),
        )
    }

    /// Records that the signer's org (an org admin key) erased `member`'s personal data:
    /// the erasure receipt `cactus member erase` puts on the chain. The chain refuses a
    /// second receipt for the member with `member_erased` (see
    /// [`crate::consent::record_erasure`], which reads that as "recorded already").
    pub fn record_erasure(&self, admin: &SigningKey, member: MemberId) -> SignedTx {
        self.sign(admin, TxKind::RecordErasure(RecordErasureTx { member }))
    }
}

/// The hash a consent tx carries for the consent text a member was shown: blake3 of the
/// text's bytes, exactly as shown (no normalisation: keep the file that was shown).
pub fn consent_text_hash(text: &[u8]) -> Hash32 {
    Hash32(*blake3::hash(text).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::encoding::{decode, encode};
    use couponcactus_chaincode::ids::{Channel, CodeHash, StoreId};
    use couponcactus_chaincode::testkit;
    use couponcactus_chaincode::types::{Currency, PoolKind};

    fn every_kind(b: &TxBuilder, key: &SigningKey) -> Vec<SignedTx> {
        let pool = testkit::pool_id("spring");
        let token = TokenId {
            pool: pool.clone(),
            serial: 3,
        };
        let order = Order {
            currency: Currency(*b"EUR"),
            total_minor: 10_000,
            lines: vec![],
        };
        vec![
            b.register_key(
                key,
                testkit::public(9),
                Role::Terminal {
                    store: StoreId::new("acme-store-1").unwrap(),
                    channel: Channel::new("pos").unwrap(),
                },
            ),
            b.revoke_key(key, testkit::public(9)),
            b.propose_governance(key, GovernanceChange::RemoveNode { node_id: 4 }),
            b.approve_governance(key, TxId([4; 32])),
            b.create_pool(key, pool.clone(), testkit::spec(PoolKind::UniqueCodes)),
            b.update_pool(key, pool.clone(), testkit::spec(PoolKind::SharedCode)),
            b.transition_pool(key, pool.clone(), PoolAction::Activate),
            b.issue_codes(
                key,
                pool.clone(),
                vec![testkit::issued_code(&pool, "ABCD-EFGH", 1)],
            ),
            b.allocate(key, pool.clone(), testkit::member(1), testkit::claim(1)),
            b.redeem(
                key,
                RedeemTarget::Token(token.clone()),
                Some(testkit::member(1)),
                order.clone(),
            ),
            b.redeem(key, RedeemTarget::Code(CodeHash([7; 32])), None, order),
            b.rollback(key, TxId([5; 32])),
            b.revoke_token(key, token.clone(), RevokeReason::Other, Some("test".into())),
            b.transfer_token(key, token, testkit::member(1), testkit::member(2)),
            b.record_consent(
                key,
                testkit::member(1),
                Purpose::Marketing,
                ConsentDecision::Granted,
                consent_text_hash(b"marketing v1"),
            ),
            b.record_erasure(key, testkit::member(1)),
        ]
    }

    #[test]
    fn every_kind_signs_verifies_and_round_trips() {
        let chain = ChainId::new("cactus-test").unwrap();
        let b = TxBuilder::with_first_nonce(chain.clone(), 100).validity_ms(60_000);
        let key = testkit::key(1);
        let before = now_ms();
        let txs = every_kind(&b, &key);
        let after = now_ms();
        let mut kinds = std::collections::BTreeSet::new();
        for (i, tx) in txs.iter().enumerate() {
            assert_eq!(tx.verify(), Ok(()), "{}", tx.body.kind.name());
            assert_eq!(tx.body.chain_id, chain);
            assert_eq!(tx.body.nonce, 100 + i as u64, "nonces count up");
            assert!((before + 60_000..=after + 60_000).contains(&tx.body.valid_until_ms));
            assert_eq!(tx.signer, testkit::public(1));
            // Canonical bytes and JSON both round-trip to the same tx and id.
            let again: SignedTx = decode(&encode(tx)).unwrap();
            assert_eq!(&again, tx);
            let json: SignedTx = serde_json::from_str(&serde_json::to_string(tx).unwrap()).unwrap();
            assert_eq!(json.id(), tx.id());
            kinds.insert(tx.body.kind.name());
        }
        // Every kind of the chaincode is covered (redeem twice: by token and by code).
        assert_eq!(kinds.len(), 15);
    }

    #[test]
    fn a_builder_with_a_memo_signs_it_into_every_kind() {
        let chain = ChainId::new("cactus-test").unwrap();
        let memo = Memo::new("staff:u-42").unwrap();
        let plain = TxBuilder::with_first_nonce(chain.clone(), 7);
        let with = plain.clone().memo(Some(memo.clone()));
        let key = testkit::key(1);
        for tx in every_kind(&with, &key) {
            assert_eq!(
                tx.body.memo.as_ref(),
                Some(&memo),
                "{}",
                tx.body.kind.name()
            );
            assert_eq!(tx.verify(), Ok(()));
            let again: SignedTx = decode(&encode(&tx)).unwrap();
            assert_eq!(again.body.memo.as_ref(), Some(&memo));
        }
        // The original builder is unchanged; a memo can be removed again.
        assert!(
            every_kind(&plain, &key)
                .iter()
                .all(|t| t.body.memo.is_none())
        );
        let rollback = || {
            TxKind::Rollback(RollbackTx {
                redemption: TxId([1; 32]),
            })
        };
        assert!(with.memo(None).body(rollback()).memo.is_none());
    }

    #[test]
    fn builders_never_repeat_a_tx_and_clones_share_the_counter() {
        let chain = ChainId::new("c").unwrap();
        let a = TxBuilder::new(chain.clone());
        let b = a.clone();
        let key = testkit::key(1);
        let kind = || {
            TxKind::RevokeKey(RevokeKeyTx {
                key: testkit::public(2),
            })
        };
        let t1 = a.sign(&key, kind());
        let t2 = b.sign(&key, kind());
        assert_ne!(t1.id(), t2.id());
        // Two independent builders start from independent random nonces.
        let other = TxBuilder::new(chain);
        assert_ne!(other.body(kind()).nonce, a.body(kind()).nonce);
    }
}
