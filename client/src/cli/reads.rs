//! Reading the chain: `wallet` (tokens with their pools, every state proof verified),
//! `token` (its state proof verified locally against a certified block), `token history`
//! (rejected attempts included, each signer named), `tx` (its signer named by role, org and
//! store from the key registry), `block` and `status`; and resolving ids typed shortened
//! (a hex prefix of a tx id or key, like git) for every command that takes one.
//!
//! A keyed read of something that does not exist ends with `not_found` (exit 1) only once
//! the node proved it absent and that proof is tied to a certified block ([`not_found`]):
//! "token acme-spring/99: not found (proven at height 12); proof verified …". A node that
//! answers "not found" without a proof that verifies is not believed (exit 4).

use super::context::{Ctx, MemberArgs, load_key, short};
use super::output::{Failure, KeyInUse, emit, explain, format_time_ms, unverified};
use super::pool::{discount_text, proof_line};
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::amounts::format_minor;
use couponcactus_client::chaincode::block::verify_redacted_body;
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::commitment::verify_state_proof;
use couponcactus_client::chaincode::execute::{Event, TxOutcome};
use couponcactus_client::chaincode::ids::{PublicKey, TokenId, TxId};
use couponcactus_client::chaincode::state::{StateKey, StateValue};
use couponcactus_client::chaincode::tx::{SignedTx, TxKind};
use couponcactus_client::chaincode::types::{
    KeyRecord, PoolRecord, Role, TokenRecord, TokenStatus,
};
use couponcactus_client::id_prefix::{self, IdPrefixError};
use couponcactus_client::verify::{verify_pool_view, verify_token_view};
use couponcactus_client::views::{BlockView, PoolView, TokenView, WalletView};
use couponcactus_client::{Certified, NodeClient, NodeClientError, ProofVerifier, VerifyError};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `cactus wallet`.
#[derive(Debug, Args)]
pub struct WalletArgs {
    /// The member id (64 hex characters); or --member-name with --member-secret.
    #[arg(value_name = "MEMBER", conflicts_with = "member_name")]
    member_id: Option<String>,
    #[command(flatten)]
    member: MemberArgs,
    /// A key of your org (the wallet shows the pools it may see).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// `cactus token`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    history: Option<TokenCommand>,
    /// The token: POOL/SERIAL.
    #[arg(value_name = "POOL/SERIAL", required_unless_present = "code")]
    id: Option<TokenId>,
    /// Look the token up by its code instead.
    #[arg(long, conflicts_with = "id")]
    code: Option<String>,
    /// Read at this height instead of the latest.
    #[arg(long)]
    height: Option<u64>,
    /// A key of the pool's org (or an auditor's, or a partner's).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY", required = true)]
    key: Option<PathBuf>,
}

/// `cactus token history`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Every tx that touched a token, each with its history-log proof verified.
    History {
        /// The token: POOL/SERIAL.
        #[arg(value_name = "POOL/SERIAL")]
        id: TokenId,
        /// A key of the pool's org (or an auditor's, or a partner's).
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
    },
}

/// `cactus tx`.
#[derive(Debug, Args)]
pub struct TxArgs {
    /// The tx id, or its first 8 or more hex digits (as the CLI prints ids: 16 and `…`).
    #[arg(value_name = "TX_ID")]
    id: String,
    /// A key that may read it (its signer's org, the pool's org, or an auditor).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// `cactus block`.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// A height, or `latest`.
    #[arg(default_value = "latest")]
    height: String,
    /// A key file to sign the read with: other orgs' txs are shown only to the keys that
    /// may read them (a consortium auditor reads all); without one only governance txs are.
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
}

fn status_text(status: &TokenStatus) -> String {
    match status {
        TokenStatus::Available => "available (issued, not allocated)".into(),
        TokenStatus::Allocated => "allocated".into(),
        TokenStatus::Redeemed { redemption } => format!("redeemed (redemption {redemption})"),
        TokenStatus::Revoked => "revoked".into(),
    }
}

fn token_text(id: &TokenId, t: &TokenRecord) -> String {
    format!(
        "token {id}\n  status     {}\n  owner      {}\n  code hash  {}",
        status_text(&t.status),
        t.owner
            .map(|m| format!("member {m}"))
            .unwrap_or_else(|| "none".into()),
        t.code_hash
    )
}

/// Runs `cactus wallet`: the member's tokens with their pools' names, discounts and
/// validity, every token's and pool's state proof verified against one certified block.
pub async fn wallet(ctx: &Ctx, args: WalletArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let member = match &args.member_id {
        Some(text) => super::context::member_from(text, args.member.member_secret.as_deref())?,
        None => args.member.required()?,
    };
    let client = ctx.connect_as(&reader).await?;
    let view = client
        .wallet(&member)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let certified = if view.tokens.is_empty() {
        None
    } else {
        let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
        Some(verify_wallet(&client, &anchor, &view).await?)
    };
    // The wallet view itself (as before), with what verified it.
    let mut shown = serde_json::to_value(&view)?;
    shown["verified"] = json!(certified);
    emit(ctx.json, &shown, || wallet_text(&view, certified.as_ref()));
    Ok(())
}

/// Checks every token's and pool's state proof against the wallet's header, and ties that
/// header to a certified block.
async fn verify_wallet(
    client: &NodeClient,
    anchor: &couponcactus_client::TrustAnchor,
    view: &WalletView,
) -> Result<Certified> {
    let what = format!("wallet of member {}", view.member);
    let Some(at) = &view.at else {
        return Err(Failure::new(
            "proof_missing",
            format!("{what}: the node sent no proofs (a cactusd older than this cactus)"),
        )
        .hint("ask a node running the same version as this cactus")
        .into());
    };
    let fail = |e| unverified(&what, e);
    let mut header = None;
    for t in &view.tokens {
        let proof = t.proof.clone().ok_or_else(|| {
            fail(VerifyError::Mismatch {
                what: format!("token {}", t.token_id),
                why: "the node sent it without a proof".into(),
            })
        })?;
        let token = TokenView {
            token_id: t.token_id.clone(),
            token: t.token.clone(),
            at: at.clone(),
            proof,
        };
        header = Some(verify_token_view(&token).map_err(fail)?.clone());
        if view.pool(&t.token_id).is_none() {
            return Err(fail(VerifyError::Mismatch {
                what: format!("token {}", t.token_id),
                why: "the node sent no pool for it".into(),
            }));
        }
    }
    for p in &view.pools {
        let pool = PoolView {
            pool: p.pool.clone(),
            at: at.clone(),
            proof: p.proof.clone(),
        };
        verify_pool_view(&pool).map_err(fail)?;
    }
    let header = header.expect("a wallet with tokens");
    ProofVerifier::new(client, anchor)
        .certify_header(&header)
        .await
        .map_err(fail)
}

/// One pool, as a wallet line shows it.
fn wallet_pool_text(pool: Option<&PoolRecord>) -> String {
    match pool {
        Some(p) => format!(
            "\"{}\" ({}) — {}; valid until {}",
            p.spec.name,
            p.status.name(),
            discount_text(&p.spec),
            format_time_ms(p.spec.valid_until_ms)
        ),
        None => "pool not shown".into(),
    }
}

fn wallet_text(view: &WalletView, certified: Option<&Certified>) -> String {
    let member = view.member;
    if view.tokens.is_empty() {
        return format!(
            "member {member} holds no coupons this key may see (height {})",
            view.height
        );
    }
    let mut text = format!(
        "member {member}: {} coupon(s) (height {})\n",
        view.tokens.len(),
        view.height
    );
    for t in &view.tokens {
        text.push_str(&format!(
            "  {:<24} {:<10} {}\n",
            t.token_id.to_string(),
            status_name(&t.token.status),
            wallet_pool_text(view.pool(&t.token_id))
        ));
    }
    if let Some(c) = certified {
        text.push_str(&format!("every token and pool: {}", proof_line(c)));
    }
    text
}

/// A token status in one word.
pub fn status_name(status: &TokenStatus) -> &'static str {
    match status {
        TokenStatus::Available => "available",
        TokenStatus::Allocated => "allocated",
        TokenStatus::Redeemed { .. } => "redeemed",
        TokenStatus::Revoked => "revoked",
    }
}

/// Runs `cactus token`.
pub async fn token(ctx: &Ctx, args: TokenArgs) -> Result<()> {
    if let Some(TokenCommand::History { id, key }) = args.history {
        return history(ctx, id, key).await;
    }
    let key = args.key.as_ref().expect("clap requires --key");
    let reader = load_key(key)?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let in_use = reader.in_use();
    let view = match (&args.id, &args.code) {
        (Some(id), _) => match client.token(id, args.height).await {
            Ok(view) => view,
            Err(e) => return Err(not_found(ctx, &verifier, e, Some(&in_use)).await),
        },
        (None, Some(code)) => {
            let hash = code_hash(code);
            let found = match client.code_token(&hash, args.height).await {
                Ok(found) => found,
                Err(e) => return Err(not_found(ctx, &verifier, e, Some(&in_use)).await),
            };
            let certified = verifier
                .code(&found)
                .await
                .map_err(|e| unverified(&format!("code {hash}"), e))?;
            let Some(view) = found.token.clone() else {
                emit(
                    ctx.json,
                    &json!({ "code": found, "verified": certified }),
                    || {
                        format!(
                            "code {} is the shared code of pool {}\n{}",
                            hash,
                            found.entry.pool,
                            proof_line(&certified)
                        )
                    },
                );
                return Ok(());
            };
            view
        }
        (None, None) => {
            return Err(Failure::new("invalid_input", "pass POOL/SERIAL or --code CODE").into());
        }
    };
    let certified = verifier
        .token(&view)
        .await
        .map_err(|e| unverified(&format!("token {}", view.token_id), e))?;
    emit(
        ctx.json,
        &json!({ "token_id": view.token_id, "token": view.token, "at": view.at, "proof": view.proof, "verified": certified }),
        || {
            format!(
                "{}\n{}",
                token_text(&view.token_id, &view.token),
                proof_line(&certified)
            )
        },
    );
    Ok(())
}

/// The end of a keyed read that failed: when the node proved the key absent
/// ([`NodeClientError::Absent`]), that proof's header is tied to a certified block and the
/// read ends `not_found` (exit 1), saying so — "token acme-spring/99: not found (proven at
/// height 12)" and the proof line; with `--json` the error, `at`, `proof` and `verified`
/// on stdout. Any other failure is explained as usual.
pub async fn not_found(
    ctx: &Ctx,
    verifier: &ProofVerifier<'_>,
    e: NodeClientError,
    key: Option<&KeyInUse>,
) -> anyhow::Error {
    let Some(absence) = e.absence() else {
        return explain(e, key).into();
    };
    let certified = match verifier.absence(absence).await {
        Ok(c) => c,
        Err(v) => return unverified(&absence.what, v),
    };
    let message = format!(
        "{}: not found (proven at height {})",
        absence.what,
        absence.height()
    );
    if ctx.json {
        super::output::print_line(
            &json!({
                "error": { "code": "not_found", "message": message },
                "found": false,
                "at": absence.at,
                "proof": absence.proof,
                "verified": certified,
            })
            .to_string(),
        );
    }
    Failure {
        printed: ctx.json,
        ..Failure::new(
            "not_found",
            format!("{message}; {}", proof_line(&certified)),
        )
    }
    .into()
}

/// What a tx did, in a few words, and its memo if it has one.
pub fn tx_summary(tx: &SignedTx, outcome: &TxOutcome) -> String {
    let what = match &tx.body.kind {
        TxKind::RegisterKey(t) => format!(
            "register key {} as {}",
            short(&t.key.to_hex()),
            t.role.name()
        ),
        TxKind::RevokeKey(t) => format!("revoke key {}", short(&t.key.to_hex())),
        TxKind::ProposeGovernance(_) => "propose a consortium change".into(),
        TxKind::ApproveGovernance(t) => format!("approve proposal {}", short(&t.proposal.to_hex())),
        TxKind::CreatePool(t) => format!("create pool {}", t.pool),
        TxKind::UpdatePool(t) => format!("update pool {}", t.pool),
        TxKind::TransitionPool(t) => format!("{:?} pool {}", t.action, t.pool).to_lowercase(),
        TxKind::IssueCodes(t) => format!("issue {} codes into {}", t.codes.len(), t.pool),
        TxKind::Allocate(t) => format!(
            "allocate from {} to member {}",
            t.pool,
            short(&t.member.to_hex())
        ),
        TxKind::Redeem(t) => format!(
            "redeem {} on an order of {}",
            match &t.target {
                couponcactus_client::chaincode::tx::RedeemTarget::Token(id) =>
                    format!("token {id}"),
                couponcactus_client::chaincode::tx::RedeemTarget::Code(h) =>
                    format!("code {}", short(&h.to_hex())),
            },
            format_minor(t.order.total_minor, t.order.currency)
        ),
        TxKind::Rollback(t) => format!("roll back {}", short(&t.redemption.to_hex())),
        TxKind::RevokeToken(t) => format!("revoke token {}", t.token),
        TxKind::TransferToken(t) => format!("transfer token {}", t.token),
        TxKind::SetProgram(t) => format!("set the loyalty program {:?}", t.spec.name),
        TxKind::Load(t) => format!(
            "load {} {} for member {} ({})",
            t.amount,
            t.segment.name(),
            short(&t.member.to_hex()),
            t.reference
        ),
        TxKind::Earn(t) => format!(
            "earn on order {} of {} for member {}",
            t.order_ref,
            format_minor(t.order.total_minor, t.order.currency),
            short(&t.member.to_hex())
        ),
        TxKind::Spend(t) => format!(
            "spend {} for member {} on order {}",
            t.amount,
            short(&t.member.to_hex()),
            t.order_ref
        ),
        TxKind::Void(t) => format!("void {}", short(&t.tx.to_hex())),
        TxKind::Adjust(t) => format!(
            "adjust {} by {}{} for member {} ({})",
            t.segment.name(),
            match t.direction {
                couponcactus_client::chaincode::loyalty::Direction::Credit => "+",
                couponcactus_client::chaincode::loyalty::Direction::Debit => "-",
            },
            t.amount,
            short(&t.member.to_hex()),
            t.reason.name()
        ),
        TxKind::DecideAdjustment(t) => format!(
            "{} adjustment {}",
            if t.approve { "approve" } else { "reject" },
            short(&t.adjustment.to_hex())
        ),
        TxKind::TransferBalance(t) => format!(
            "transfer {} {} from member {} to {}",
            t.amount,
            t.segment.name(),
            short(&t.from.to_hex()),
            short(&t.to.to_hex())
        ),
        TxKind::ExpireBalances(t) => format!("expire the balances of {} members", t.members.len()),
        TxKind::Checkout(t) => format!(
            "check out order {} of {} for member {} ({} coupon(s){}{})",
            t.order_ref,
            format_minor(t.order.total_minor, t.order.currency),
            short(&t.member.to_hex()),
            t.coupons.len(),
            if t.pay.is_some() {
                ", a balance spend"
            } else {
                ""
            },
            if t.earn { ", earning points" } else { "" }
        ),
        TxKind::RequestWithdrawal(t) => format!(
            "withdraw {} of {} for member {} ({})",
            t.amount,
            t.segment.name(),
            short(&t.member.to_hex()),
            t.reference
        ),
        TxKind::DecideWithdrawal(t) => format!(
            "{} withdrawal {}",
            match &t.decision {
                couponcactus_client::chaincode::tx::WithdrawalDecision::Approve => "approve",
                couponcactus_client::chaincode::tx::WithdrawalDecision::Paid { .. } =>
                    "record as paid",
                couponcactus_client::chaincode::tx::WithdrawalDecision::Reject => "reject",
            },
            short(&t.withdrawal.to_hex())
        ),
        TxKind::Engage(t) => match &t.referred {
            Some(other) => format!(
                "award {} for member {} referring {}",
                t.action,
                short(&t.member.to_hex()),
                short(&other.to_hex())
            ),
            None => format!(
                "award {} for member {} ({})",
                t.action,
                short(&t.member.to_hex()),
                t.reference
            ),
        },
        TxKind::ReleasePoints(t) => format!("release the points of {}", short(&t.tx.to_hex())),
        TxKind::PlaceHold(t) => format!("hold {} ({})", t.target, t.reason.name()),
        TxKind::ReviewHold(t) => format!(
            "{} the hold on {}",
            match t.decision {
                couponcactus_client::chaincode::tx::HoldDecision::Confirm => "confirm",
                couponcactus_client::chaincode::tx::HoldDecision::Lift => "lift",
            },
            t.target
        ),
        TxKind::RecordConsent(t) => format!(
            "record member {}'s consent to {}: {}",
            short(&t.member.to_hex()),
            t.purpose,
            t.decision.name()
        ),
        TxKind::RecordErasure(t) => {
            format!("record the erasure of member {}", short(&t.member.to_hex()))
        }
    };
    let result = match outcome {
        TxOutcome::Applied { events } => {
            let detail = events.iter().find_map(|e| match e {
                Event::Redeemed {
                    discount_minor,
                    currency,
                    ..
                } => Some(format!(
                    ": discount {}",
                    format_minor(*discount_minor, *currency)
                )),
                Event::Allocated { token, .. } => Some(format!(": {token}")),
                _ => None,
            });
            format!("applied{}", detail.unwrap_or_default())
        }
        TxOutcome::Rejected { rejection } => format!(
            "REJECTED {}: {}",
            rejection.reason.code(),
            rejection.message
        ),
    };
    let memo = match &tx.body.memo {
        Some(memo) => format!(" — memo {:?}", memo.as_str()),
        None => String::new(),
    };
    format!("{what} — {result}{memo}")
}

async fn history(ctx: &Ctx, id: TokenId, key: PathBuf) -> Result<()> {
    let reader = load_key(&key)?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let view = client
        .token_history(&id)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let certified = ProofVerifier::new(&client, &anchor)
        .token_history(&view)
        .await
        .map_err(|e| unverified(&format!("history of {id}"), e))?;
    let mut signers = BTreeMap::new();
    if let Some(c) = &certified {
        for e in &view.entries {
            if let std::collections::btree_map::Entry::Vacant(slot) = signers.entry(e.tx.signer) {
                slot.insert(Signer::read(&client, e.tx.signer, c).await?);
            }
        }
    }
    let rejected = view
        .entries
        .iter()
        .filter(|e| e.result.rejection().is_some())
        .count();
    emit(
        ctx.json,
        &json!({ "history": view, "verified": certified, "rejected": rejected, "signers": signers.values().collect::<Vec<_>>() }),
        || {
            let mut text = format!(
                "token {id}: {} tx(s), {rejected} of them rejected\n",
                view.entries.len()
            );
            for e in &view.entries {
                let by = signers
                    .get(&e.tx.signer)
                    .map_or_else(|| short(&e.tx.signer.to_hex()), |s| s.name.clone());
                text.push_str(&format!(
                    "  block {:<6} log {:<6} {}  {}\n      by {by}\n",
                    e.height,
                    e.log_index,
                    short(&e.tx.id().to_hex()),
                    tx_summary(&e.tx, &e.result)
                ));
            }
            if let Some(c) = &certified {
                text.push_str(&format!(
                "every entry's history-log proof and every signer's registration verified against block {}, certified by nodes {:?} (block {})",
                c.height, c.certified_by, c.certified_height
            ));
            }
            text
        },
    );
    Ok(())
}

/// Who signed: a key named by role, org and store from the key registry, its registration
/// proven under a certified header's state root.
#[derive(Clone, Debug, serde::Serialize)]
struct Signer {
    /// The key.
    key: PublicKey,
    /// Its registration, when the registry has it.
    record: Option<KeyRecord>,
    /// How people call it, e.g. `terminal acme/acme-store-1 (pos)`.
    name: String,
}

impl Signer {
    /// Reads `key`'s registration at the certified header's height and checks its proof
    /// against that header's state root. A key the registry does not know, or a node that
    /// cannot say, leaves the key unnamed; a proof that does not verify fails (exit 4).
    async fn read(client: &NodeClient, key: PublicKey, certified: &Certified) -> Result<Signer> {
        let unnamed = |why: String| Signer {
            key,
            record: None,
            name: format!("key {} ({why})", short(&key.to_hex())),
        };
        let view = match client.key(&key, Some(certified.height)).await {
            Ok(view) => view,
            Err(e)
                if e.absence()
                    .is_some_and(|a| a.at.state_root == certified.state_root) =>
            {
                return Ok(unnamed("not in the key registry".into()));
            }
            Err(e) => return Ok(unnamed(format!("the node did not name it: {e}"))),
        };
        check_key_view(&view, certified).map_err(|e| unverified(&format!("key {key}"), e))?;
        Ok(Signer {
            key,
            name: key_name(&view.record),
            record: Some(view.record),
        })
    }
}

/// A key's registration proof against a certified header's state root.
fn check_key_view(
    view: &couponcactus_client::views::KeyView,
    certified: &Certified,
) -> Result<(), VerifyError> {
    let state_key = StateKey::Key(view.key);
    let value = StateValue::Key(view.record.clone());
    let mismatch = |why: &str| VerifyError::Mismatch {
        what: format!("key {}", view.key),
        why: why.into(),
    };
    if view.at.height != certified.height || view.at.state_root != certified.state_root {
        return Err(mismatch(
            "read at another height or root than the one verified",
        ));
    }
    if view.proof.version != certified.height
        || view.proof.key != state_key
        || view.proof.value.as_ref() != Some(&value)
    {
        return Err(mismatch("the proof is not for the registration shown"));
    }
    verify_state_proof(
        &certified.state_root,
        &state_key,
        Some(&value),
        &view.proof.proof,
    )
    .map_err(|source| VerifyError::StateProof {
        what: format!("key {}", view.key),
        height: certified.height,
        root: certified.state_root,
        source,
    })
}

/// A key's role, org and store in words, and its revocation.
pub fn key_name(record: &KeyRecord) -> String {
    let org = &record.org;
    let who = match &record.role {
        Role::Terminal { store, channel } => format!("terminal {org}/{store} ({channel})"),
        Role::OrgAdmin => format!("org admin of {org}"),
        Role::Issuer => format!("issuer of {org}"),
        Role::Auditor => format!("auditor of {org}"),
        Role::Partner => format!("partner key of {org}"),
        Role::Risk => format!("fraud engine of {org}"),
    };
    match record.revoked_at {
        Some(h) => format!("{who}, key revoked in block {h}"),
        None => who,
    }
}

/// The tx id a person typed: a full id, or a hex prefix of one committed tx id.
pub async fn resolve_tx_arg(client: &NodeClient, text: &str) -> Result<TxId> {
    id_prefix::resolve_tx_id(client, text)
        .await
        .map_err(|e| id_failure("tx id", e).into())
}

/// The public key a person typed: a full key, or a hex prefix of one registered key.
pub async fn resolve_key_arg(client: &NodeClient, text: &str) -> Result<PublicKey> {
    id_prefix::resolve_key(client, text)
        .await
        .map_err(|e| id_failure("key", e).into())
}

/// What to tell a person whose id does not resolve.
fn id_failure(what: &str, e: IdPrefixError) -> Failure {
    let retype = "copy the id as the CLI printed it (16 hex digits, with or without the `…`) or in full (64)";
    match e {
        IdPrefixError::Node(NodeClientError::Api { code, message, .. })
            if code == "ambiguous_id" =>
        {
            Failure::new(&code, message).hint(format!(
                "several {what}s start with these digits: give more of them (or the whole id)"
            ))
        }
        IdPrefixError::Node(NodeClientError::Api {
            code,
            message,
            status: 404,
            ..
        }) => Failure::new(&code, message).hint(format!(
            "a prefix finds committed {what}s only (a pending tx by its full id); {retype}"
        )),
        IdPrefixError::Node(other) => explain(other, None),
        input => Failure::new("invalid_input", input.to_string()).hint(retype),
    }
}

/// Runs `cactus tx`: the tx by its id or a prefix of it, its proofs verified, its signer
/// named by role, org and store.
pub async fn tx(ctx: &Ctx, args: TxArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let id = resolve_tx_arg(&client, &args.id).await?;
    let detail = client
        .tx(&id)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let (Some(tx), Some(outcome)) = (&detail.tx, &detail.view.result) else {
        emit(ctx.json, &json!({ "tx": detail }), || {
            format!(
                "tx {id} is {} (not in a block yet)",
                detail.view.status.name()
            )
        });
        return Ok(());
    };
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let certified = ProofVerifier::new(&client, &anchor)
        .tx(&detail)
        .await
        .map_err(|e| unverified(&format!("tx {id}"), e))?;
    let signer = Signer::read(&client, tx.signer, &certified).await?;
    emit(
        ctx.json,
        &json!({ "tx": detail, "verified": certified, "signer": signer }),
        || {
            format!(
                "tx {id} ({})\n  signed by  {} — key {}\n  {}\n  block {} index {}, log index {}\n\
             signature, tx and result proofs verified, and the signer's registration; its history-log entry \
             is proven under block {}'s log root, certified by nodes {:?} (block {})",
                tx.body.kind.name(),
                signer.name,
                short(&tx.signer.to_hex()),
                tx_summary(tx, outcome),
                detail.view.height.unwrap_or(0),
                detail.view.index.unwrap_or(0),
                detail.view.log_index.unwrap_or(0),
                certified.height,
                certified.certified_by,
                certified.certified_height
            )
        },
    );
    Ok(())
}

/// Checks what a block says about itself: its hash and its tx and result roots.
fn check_block(b: &BlockView) -> Result<()> {
    let mut problems = Vec::new();
    if b.hash != b.header.hash() {
        problems.push(format!(
            "its hash {} is not its header's {}",
            b.hash,
            b.header.hash()
        ));
    }
    if b.header.height != b.height {
        problems.push("its header is of another height".to_string());
    }
    // The txs shown and the withheld leaves together rebuild both roots.
    if let Err(e) = verify_redacted_body(&b.header, &b.txs, &b.results, &b.withheld) {
        problems.push(e.to_string());
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure {
        exit: super::output::EXIT_UNVERIFIED,
        ..Failure::new(
            "proof_invalid",
            format!("block {}: {}", b.height, problems.join("; ")),
        )
    }
    .into())
}

/// Runs `cactus block`.
pub async fn block(ctx: &Ctx, args: BlockArgs) -> Result<()> {
    let client = match &args.key {
        Some(path) => ctx.connect_as(&load_key(path)?).await?,
        None => ctx.connect().await?,
    };
    let block = match args.height.as_str() {
        "latest" => client.latest_block().await,
        h => {
            let height: u64 = h.parse().map_err(|_| {
                Failure::new(
                    "invalid_input",
                    format!("{h:?} is not a height: pass a number or `latest`"),
                )
            })?;
            client.block(height).await
        }
    }
    .map_err(|e| explain(e, None))?;
    check_block(&block)?;
    emit(ctx.json, &block, || {
        let h = &block.header;
        let mut text = format!(
            "block {} {}\n  time        {}\n  prev        {}\n  proposer    node {}\n  state root  {}\n  \
             log         {} entries, root {}\n  txs         {} (tx and result roots recomputed: ok)\n  \
             certified   {}\n",
            block.height,
            block.hash,
            format_time_ms(h.time_ms),
            h.prev_hash,
            h.proposer,
            h.state_root,
            h.log_size,
            h.log_root,
            h.tx_count,
            block
                .certificate
                .as_ref()
                .map(|c| format!(
                    "by nodes {:?}",
                    c.signatures.iter().map(|s| s.node_id).collect::<Vec<_>>()
                ))
                .unwrap_or_else(|| "not (yet)".into()),
        );
        let mut shown = block.txs.iter().zip(&block.results);
        let mut withheld = block.withheld.iter().peekable();
        for i in 0..h.tx_count {
            if withheld.next_if(|w| u64::from(w.index) == i).is_some() {
                text.push_str(&format!(
                    "  {i:>4} (withheld: a tx this key may not read; its leaves are in the roots)\n"
                ));
            } else if let Some((tx, result)) = shown.next() {
                text.push_str(&format!(
                    "  {i:>4} {}  {}\n",
                    short(&result.tx_id.to_hex()),
                    tx_summary(tx, &result.outcome)
                ));
            }
        }
        text
    });
    Ok(())
}

/// Runs `cactus status`.
pub async fn status(ctx: &Ctx) -> Result<()> {
    let client = ctx.connect().await?;
    let s = client.status().await.map_err(|e| explain(e, None))?;
    emit(ctx.json, &s, || {
        let mut text = format!(
            "node {} ({}) of chain {} at {}\n  leader        {}\n  term          {}\n  height        {}\n  \
             block hash    {}\n  state root    {}\n  log size      {}\n  certified     {}\n  mempool       {}\n  \
             voters        {:?}\n  learners      {:?}\n  peers         {:?}\n  genesis hash  {}\n",
            s.node_id,
            s.role,
            s.chain_id,
            client.base_url(),
            if s.leader_id == 0 {
                "none known".to_string()
            } else {
                format!("node {}", s.leader_id)
            },
            s.term,
            s.height,
            s.block_hash,
            s.state_root,
            s.log_size,
            s.certified_height,
            s.mempool,
            s.voters,
            s.learners,
            s.peers_connected,
            s.genesis_hash
        );
        if let Some(d) = &s.divergence {
            text.push_str(&format!(
                "  DIVERGENCE    at height {}: node {} signed {}, this node has {} — stop and run `cactus audit verify`\n",
                d.height, d.node_id, d.theirs, d.ours
            ));
        }
        text
    });
    Ok(())
}
