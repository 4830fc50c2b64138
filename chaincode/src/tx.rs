//! Transactions: bodies, kinds, the signed envelope, tx ids and signature checks.
//!
//! A [`SignedTx`] is `{ body, signer, signature }`. The signature is ed25519 over
//! [`signing_message`]: the domain tag [`TX_SIGNING_TAG`], the chain id (length-prefixed)
//! and the canonical bytes of the body. The tx id ([`tx_id`]) is blake3 over
//! [`TX_ID_TAG`], the body bytes and the signer — not the signature, so a re-signed copy of
//! the same body by the same key is the same tx (ed25519 signatures are deterministic
//! anyway, but a third party must not be able to mint a new id by mauling one).
//!
//! Signatures are valid when `verify_strict` accepts them. [`verify_signatures`] checks a
//! whole block with ed25519-dalek's batch verification in fixed chunks of
//! [`SIGNATURE_BATCH`] and falls back to `verify_strict` one by one only inside a chunk
//! that fails; the batch coefficients derive from a transcript of the chunk, so every node
//! and auditor reaches the same verdict for the same block.

use crate::encoding::{encode, encode_into};
use crate::ids::{
    ChainId, ClaimKey, CodeHash, MemberId, PoolId, PublicKey, SignatureBytes, TokenId, TxId,
};
use crate::types::{GovernanceChange, IssuedCode, Order, PoolAction, PoolSpec, Role};
use bincode::{Decode, Encode};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain tag that starts every signed tx message.
pub const TX_SIGNING_TAG: &[u8] = b"couponcactus/tx/v1";
/// Domain tag that starts the tx id preimage.
pub const TX_ID_TAG: &[u8] = b"couponcactus/txid/v1";
/// Signatures per batch in [`verify_signatures`].
pub const SIGNATURE_BATCH: usize = 256;

/// What a tx asks for, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxBody {
    /// The chain it is for; must match the executing chain.
    pub chain_id: ChainId,
    /// Any number the signer picks to make otherwise identical txs distinct.
    pub nonce: u64,
    /// Block time (ms) after which the tx is stale and refused.
    pub valid_until_ms: u64,
    /// What to do.
    pub kind: TxKind,
}

/// Every kind of transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TxKind {
    /// Register a key for the signer's org (org admin only).
    RegisterKey(RegisterKeyTx),
    /// Revoke a key of the signer's org (org admin only).
    RevokeKey(RevokeKeyTx),
    /// Propose a consortium change (org admin); counts as the proposer org's approval.
    ProposeGovernance(ProposeGovernanceTx),
    /// Approve a pending proposal (org admin of another org).
    ApproveGovernance(ApproveGovernanceTx),
    /// Create a pool in draft (org admin or issuer).
    CreatePool(CreatePoolTx),
    /// Replace a draft pool's spec (org admin or issuer of the owner).
    UpdatePool(UpdatePoolTx),
    /// Move a pool through its lifecycle (org admin or issuer of the owner).
    TransitionPool(TransitionPoolTx),
    /// Issue a batch of sealed codes, all or nothing (org admin or issuer of the owner).
    IssueCodes(IssueCodesTx),
    /// Allocate the pool's next free token to a member (org admin or issuer of the owner).
    Allocate(AllocateTx),
    /// Redeem a coupon (terminal of the owner or of a partner org).
    Redeem(RedeemTx),
    /// Undo a redemption on refund (terminal of the redeeming org, or owner's admin).
    Rollback(RollbackTx),
    /// Revoke a token (org admin or issuer of the owner).
    RevokeToken(RevokeTokenTx),
    /// Move a token to another member (org admin or issuer of the owner).
    TransferToken(TransferTokenTx),
}

impl TxKind {
    /// The kind's stable snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::RegisterKey(_) => "register_key",
            TxKind::RevokeKey(_) => "revoke_key",
            TxKind::ProposeGovernance(_) => "propose_governance",
            TxKind::ApproveGovernance(_) => "approve_governance",
            TxKind::CreatePool(_) => "create_pool",
            TxKind::UpdatePool(_) => "update_pool",
            TxKind::TransitionPool(_) => "transition_pool",
            TxKind::IssueCodes(_) => "issue_codes",
            TxKind::Allocate(_) => "allocate",
            TxKind::Redeem(_) => "redeem",
            TxKind::Rollback(_) => "rollback",
            TxKind::RevokeToken(_) => "revoke_token",
            TxKind::TransferToken(_) => "transfer_token",
        }
    }
}

/// Register `key` with `role` for the signer's org.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RegisterKeyTx {
    /// The new key; must be a valid, torsion-free ed25519 point never registered before.
    pub key: PublicKey,
    /// What it may do.
    pub role: Role,
}

/// Revoke `key` (of the signer's org).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RevokeKeyTx {
    /// The key to revoke.
    pub key: PublicKey,
}

/// Propose a consortium change.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProposeGovernanceTx {
    /// The change.
    pub change: GovernanceChange,
}

/// Approve proposal `proposal` (the id of the proposing tx).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ApproveGovernanceTx {
    /// Id of the tx that proposed it.
    pub proposal: TxId,
}

/// Create pool `pool` in draft with `spec`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CreatePoolTx {
    /// The new pool's id (unique on the ledger).
    pub pool: PoolId,
    /// Its rules.
    pub spec: PoolSpec,
}

/// Replace the spec of draft pool `pool`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct UpdatePoolTx {
    /// The pool.
    pub pool: PoolId,
    /// Its new rules.
    pub spec: PoolSpec,
}

/// Apply `action` to `pool`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TransitionPoolTx {
    /// The pool.
    pub pool: PoolId,
    /// The lifecycle step.
    pub action: PoolAction,
}

/// Issue `codes` into `pool` (draft or paused), all or nothing.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct IssueCodesTx {
    /// The pool.
    pub pool: PoolId,
    /// Hashes and sealed forms; tokens get the next serials in this order.
    pub codes: Vec<IssuedCode>,
}

/// Allocate a token of `pool` to `member`, idempotently per `claim`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AllocateTx {
    /// The pool (unique codes).
    pub pool: PoolId,
    /// Who receives it.
    pub member: MemberId,
    /// Idempotency key: the same key always returns the same token.
    pub claim: ClaimKey,
}

/// What a terminal redeems.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedeemTarget {
    /// A token by id (member presents a wallet coupon).
    Token(TokenId),
    /// A code by hash (customer types or scans a code).
    Code(CodeHash),
}

/// Redeem `target` for `member` against `order`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RedeemTx {
    /// Token or code.
    pub target: RedeemTarget,
    /// The member redeeming; required for shared codes, checked against the token's owner.
    pub member: Option<MemberId>,
    /// The order it applies to.
    pub order: Order,
}

/// Roll back redemption `redemption` (the redeem tx's id).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RollbackTx {
    /// The redeem tx's id.
    pub redemption: TxId,
}

/// Revoke `token`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RevokeTokenTx {
    /// The token.
    pub token: TokenId,
}

/// Move `token` from member `from` to member `to`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TransferTokenTx {
    /// The token.
    pub token: TokenId,
    /// Its current owner.
    pub from: MemberId,
    /// The new owner.
    pub to: MemberId,
}

/// The signed envelope.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedTx {
    /// What is asked.
    pub body: TxBody,
    /// Who asks: a registered ed25519 key.
    pub signer: PublicKey,
    /// ed25519 over [`signing_message`].
    pub signature: SignatureBytes,
}

/// The bytes an ed25519 signature of a tx covers: `TX_SIGNING_TAG ‖ u64le(len(chain_id)) ‖
/// chain_id ‖ body bytes`.
pub fn signing_message(chain_id: &ChainId, body_bytes: &[u8]) -> Vec<u8> {
    let mut msg =
        Vec::with_capacity(TX_SIGNING_TAG.len() + 8 + chain_id.0.len() + body_bytes.len());
    msg.extend_from_slice(TX_SIGNING_TAG);
    encode_into(chain_id, &mut msg);
    msg.extend_from_slice(body_bytes);
    msg
}

/// The tx id: `blake3(TX_ID_TAG ‖ body bytes ‖ signer)`.
pub fn tx_id(body_bytes: &[u8], signer: &PublicKey) -> TxId {
    let mut h = blake3::Hasher::new();
    h.update(TX_ID_TAG);
    h.update(body_bytes);
    h.update(&signer.0);
    TxId(*h.finalize().as_bytes())
}

impl TxBody {
    /// Signs the body with `key`.
    pub fn sign(self, key: &SigningKey) -> SignedTx {
        let body_bytes = encode(&self);
        let signature = key.sign(&signing_message(&self.chain_id, &body_bytes));
        SignedTx {
            body: self,
            signer: PublicKey(key.verifying_key().to_bytes()),
            signature: SignatureBytes(signature.to_bytes()),
        }
    }
}

impl SignedTx {
    /// Canonical bytes of the body.
    pub fn body_bytes(&self) -> Vec<u8> {
        encode(&self.body)
    }

    /// The tx id.
    pub fn id(&self) -> TxId {
        tx_id(&self.body_bytes(), &self.signer)
    }

    /// Checks the signature alone with `verify_strict` (what a node does at admission).
    pub fn verify(&self) -> Result<(), SignatureError> {
        let key = VerifyingKey::from_bytes(&self.signer.0).map_err(|_| SignatureError::BadKey)?;
        let msg = signing_message(&self.body.chain_id, &self.body_bytes());
        key.verify_strict(&msg, &Signature::from_bytes(&self.signature.0))
            .map_err(|_| SignatureError::Invalid)
    }
}

/// Why a signature is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum SignatureError {
    /// The signer bytes are not a valid ed25519 point.
    #[error("signer is not a valid ed25519 public key")]
    BadKey,
    /// The signature does not verify for this body and signer.
    #[error("signature does not verify")]
    Invalid,
}

/// A tx with its derived bytes and id computed once.
#[derive(Debug, Clone)]
pub struct PreparedTx<'a> {
    /// The tx.
    pub tx: &'a SignedTx,
    /// Canonical body bytes.
    pub body_bytes: Vec<u8>,
    /// Its id.
    pub id: TxId,
}

impl<'a> PreparedTx<'a> {
    /// Encodes the body and computes the id.
    pub fn new(tx: &'a SignedTx) -> Self {
        let body_bytes = tx.body_bytes();
        let id = tx_id(&body_bytes, &tx.signer);
        PreparedTx { tx, body_bytes, id }
    }
}

/// Checks every tx's signature; `result[i]` is tx `i`'s verdict.
///
/// Chunks of [`SIGNATURE_BATCH`] txs (by position) are checked with one batch equation; a
/// chunk that fails is re-checked one signature at a time with `verify_strict`.
pub fn verify_signatures(txs: &[PreparedTx<'_>]) -> Vec<Result<(), SignatureError>> {
    let mut verdicts = Vec::with_capacity(txs.len());
    // Decompressing a key costs about as much as a signature check; blocks reuse few keys
    // (terminals, issuers), so each distinct key is decompressed once per call.
    let mut keys: std::collections::BTreeMap<PublicKey, Option<VerifyingKey>> = Default::default();
    for chunk in txs.chunks(SIGNATURE_BATCH) {
        let mut messages = Vec::with_capacity(chunk.len());
        let mut signatures = Vec::with_capacity(chunk.len());
        let mut verifying = Vec::with_capacity(chunk.len());
        let mut chunk_verdicts = Vec::with_capacity(chunk.len());
        for p in chunk {
            let key = *keys
                .entry(p.tx.signer)
                .or_insert_with(|| VerifyingKey::from_bytes(&p.tx.signer.0).ok());
            match key {
                Some(k) => {
                    messages.push(signing_message(&p.tx.body.chain_id, &p.body_bytes));
                    signatures.push(Signature::from_bytes(&p.tx.signature.0));
                    verifying.push(k);
                    chunk_verdicts.push(Ok(()));
                }
                None => chunk_verdicts.push(Err(SignatureError::BadKey)),
            }
        }
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        if ed25519_dalek::verify_batch(&refs, &signatures, &verifying).is_err() {
            // `messages`, `signatures` and `verifying` hold only the txs whose key decoded.
            for (j, v) in chunk_verdicts.iter_mut().filter(|v| v.is_ok()).enumerate() {
                if verifying[j].verify_strict(refs[j], &signatures[j]).is_err() {
                    *v = Err(SignatureError::Invalid);
                }
            }
        }
        verdicts.extend(chunk_verdicts);
    }
    verdicts
}

/// Whether `key` may be registered: a canonical, torsion-free ed25519 point that is not of
/// small order. (Batch and strict verification agree on signatures by such keys.)
pub fn is_acceptable_key(key: &PublicKey) -> bool {
    match VerifyingKey::from_bytes(&key.0) {
        Ok(k) => !k.is_weak() && k.to_edwards().is_torsion_free() && k.to_bytes() == key.0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MemberId;

    fn body(nonce: u64) -> TxBody {
        TxBody {
            chain_id: ChainId::new("test").unwrap(),
            nonce,
            valid_until_ms: 1_000,
            kind: TxKind::RevokeKey(RevokeKeyTx {
                key: PublicKey([1; 32]),
            }),
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signed_tx_verifies_and_tampering_breaks_it() {
        let tx = body(1).sign(&key(1));
        assert_eq!(tx.verify(), Ok(()));
        let mut t = tx.clone();
        t.body.nonce = 2;
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
        let mut t = tx.clone();
        t.signer = PublicKey(key(2).verifying_key().to_bytes());
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
        let mut t = tx.clone();
        t.signature.0[3] ^= 1;
        assert!(t.verify().is_err());
        // Another chain id changes what is signed.
        let mut t = tx;
        t.body.chain_id = ChainId::new("other").unwrap();
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
    }

    #[test]
    fn tx_id_ignores_signature_but_covers_body_and_signer() {
        let a = body(1).sign(&key(1));
        let mut b = a.clone();
        b.signature = SignatureBytes([0; 64]);
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), body(2).sign(&key(1)).id());
        assert_ne!(a.id(), body(1).sign(&key(2)).id());
    }

    #[test]
    fn batch_verification_finds_exactly_the_bad_signatures() {
        let mut txs: Vec<SignedTx> = (0..600)
            .map(|i| body(i).sign(&key((i % 5) as u8 + 1)))
            .collect();
        txs[7].signature.0[10] ^= 0x40;
        txs[300].body.nonce += 1_000_000;
        txs[599].signer = PublicKey([0xff; 32]); // not a curve point
        let prepared: Vec<_> = txs.iter().map(PreparedTx::new).collect();
        let verdicts = verify_signatures(&prepared);
        for (i, v) in verdicts.iter().enumerate() {
            match i {
                7 | 300 => assert_eq!(*v, Err(SignatureError::Invalid), "tx {i}"),
                599 => assert!(v.is_err(), "tx {i}"),
                _ => assert_eq!(*v, Ok(()), "tx {i}"),
            }
        }
    }

    #[test]
    fn weak_and_invalid_keys_are_not_acceptable() {
        assert!(is_acceptable_key(&PublicKey(
            key(9).verifying_key().to_bytes()
        )));
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!is_acceptable_key(&PublicKey(identity)));
        assert!(!is_acceptable_key(&PublicKey([0xff; 32])));
        let _ = MemberId([0; 32]);
    }
}
