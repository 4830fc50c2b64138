//! Reading the chain: `wallet`, `token` (with its state proof verified locally against a
//! certified block), `token history`, `tx`, `block` and `status`.

use super::context::{Ctx, MemberArgs, load_key, short};
use super::output::{Failure, emit, explain, format_time_ms, unverified};
use super::pool::proof_line;
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::ProofVerifier;
use couponcactus_client::amounts::format_minor;
use couponcactus_client::chaincode::block::{result_root, tx_root};
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::execute::{Event, TxOutcome};
use couponcactus_client::chaincode::ids::{TokenId, TxId};
use couponcactus_client::chaincode::tx::{SignedTx, TxKind};
use couponcactus_client::chaincode::types::{TokenRecord, TokenStatus};
use couponcactus_client::views::BlockView;
use serde_json::json;
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
    /// The tx id.
    id: TxId,
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

/// Runs `cactus wallet`.
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
    emit(ctx.json, &view, || {
        if view.tokens.is_empty() {
            return format!(
                "member {member} holds no coupons this key may see (height {})",
                view.height
            );
        }
        let mut text = format!("member {member} (height {}):\n", view.height);
        for t in &view.tokens {
            text.push_str(&format!(
                "  {:<28} {}\n",
                t.token_id.to_string(),
                status_text(&t.token.status)
            ));
        }
        text
    });
    Ok(())
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
    let explain_read = |e| explain(e, Some(&reader.in_use()));
    let view = match (&args.id, &args.code) {
        (Some(id), _) => client.token(id, args.height).await.map_err(explain_read)?,
        (None, Some(code)) => {
            let hash = code_hash(code);
            let found = client
                .code_token(&hash, args.height)
                .await
                .map_err(explain_read)?;
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

/// What a tx did, in a few words.
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
    format!("{what} — {result}")
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
    emit(
        ctx.json,
        &json!({ "history": view, "verified": certified }),
        || {
            let mut text = format!("token {id}: {} tx(s)\n", view.entries.len());
            for e in &view.entries {
                text.push_str(&format!(
                    "  block {:<6} log {:<6} {}  {}\n",
                    e.height,
                    e.log_index,
                    short(&e.tx.id().to_hex()),
                    tx_summary(&e.tx, &e.result)
                ));
            }
            if let Some(c) = &certified {
                text.push_str(&format!(
                "every entry's history-log proof verified against the log root of block {}, certified by nodes {:?} (block {})",
                c.height, c.certified_by, c.certified_height
            ));
            }
            text
        },
    );
    Ok(())
}

/// Runs `cactus tx`.
pub async fn tx(ctx: &Ctx, args: TxArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let detail = client
        .tx(&args.id)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let (Some(tx), Some(outcome)) = (&detail.tx, &detail.view.result) else {
        emit(ctx.json, &json!({ "tx": detail }), || {
            format!(
                "tx {} is {} (not in a block yet)",
                args.id,
                detail.view.status.name()
            )
        });
        return Ok(());
    };
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let certified = ProofVerifier::new(&client, &anchor)
        .tx(&detail)
        .await
        .map_err(|e| unverified(&format!("tx {}", args.id), e))?;
    emit(
        ctx.json,
        &json!({ "tx": detail, "verified": certified }),
        || {
            format!(
                "tx {} ({} by {})\n  {}\n  block {} index {}, log index {}\n\
             signature, tx and result proofs verified; its history-log entry is proven under block {}'s log root, \
             certified by nodes {:?} (block {})",
                args.id,
                tx.body.kind.name(),
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
    if tx_root(&b.txs) != b.header.tx_root || b.txs.len() as u64 != b.header.tx_count {
        problems.push("its txs do not hash to the header's tx root".to_string());
    }
    if result_root(&b.results) != b.header.result_root {
        problems.push("its results do not hash to the header's result root".to_string());
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
    let client = ctx.connect().await?;
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
        for (i, (tx, result)) in block.txs.iter().zip(&block.results).enumerate() {
            text.push_str(&format!(
                "  {i:>4} {}  {}\n",
                short(&result.tx_id.to_hex()),
                tx_summary(tx, &result.outcome)
            ));
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
