//! `cactus audit …`: verify a whole chain offline from the genesis file you trust, and
//! fetch, check and package single proofs for third parties.
//!
//! - `verify` downloads every block and re-executes it from genesis with the chaincode
//!   ([`couponcactus_client::audit::Auditor`]); it prints one verdict line and exits 4 when
//!   the chain does not verify. `--save FILE` writes an audit checkpoint after a passing
//!   audit, `--resume FILE` continues from one, `--pin FILE` checks that an earlier audit's
//!   view of the chain (a pin: the `--json` output, or a checkpoint file) still holds.
//! - `prove-token` and `prove-tx` fetch a proof with a signed read, verify it locally down
//!   to a certificate, and write a self-contained proof bundle (JSON);
//! - `check-proof` verifies such a bundle offline against the genesis file.
//!
//! The genesis file is the global `--genesis FILE` (or `CACTUS_GENESIS`, or the default
//! places `cactus --help` lists).

use super::context::{Ctx, load_key};
use super::output::{EXIT_UNVERIFIED, Failure};
use anyhow::Result;
use couponcactus_client::audit::{
    AuditCheckpoint, AuditError, AuditReport, Auditor, BundleCheck, HttpSource, Pin, ProofBundle,
    Verdict, check_bundle, prove_token, prove_tx,
};
use couponcactus_client::chaincode::ids::TokenId;
use couponcactus_client::genesis::Genesis;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};

/// `cactus audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the whole chain offline from the genesis file (--genesis FILE): the header
    /// hash chain, every tx signature, every block re-executed with the chaincode (every
    /// header field, result and state root compared), every certificate against the voter
    /// set of its height, and the node's latest certified checkpoint. Exits 4 at the first
    /// mismatch, naming the height.
    Verify(VerifyArgs),
    /// Fetch a token with its state proof (signed read), verify it down to a certificate,
    /// and write a proof bundle a third party checks with `cactus audit check-proof`.
    ProveToken(ProveTokenArgs),
    /// Fetch a tx with its inclusion proofs (signed read), verify them down to a
    /// certificate, and write a proof bundle a third party checks with `check-proof`.
    ProveTx(ProveTxArgs),
    /// Verify a proof bundle offline against the genesis file (--genesis FILE).
    CheckProof(CheckProofArgs),
}

/// `cactus audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A pin from an earlier audit (its `--json` output, a pin JSON, or a --save file): the
    /// pinned block must still be the chain's and the history log must extend the pinned
    /// log (RFC 9162 consistency proof).
    #[arg(long, value_name = "FILE")]
    pub pin: Option<PathBuf>,
    /// After a passing audit, write an audit checkpoint (the verified tip and the replayed
    /// state) to resume from next time; it also works as a --pin.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Continue from an audit checkpoint written by --save (its block must still be the
    /// chain's) instead of replaying from genesis.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Blocks per request (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch: u64,
    /// The key that signs the block downloads: a consortium auditor's key (registered by a
    /// governance quorum) or a consortium node's key. Nodes show other orgs' txs to no
    /// one else, and a full audit re-executes every tx.
    #[arg(long, value_name = "KEYFILE", env = "CACTUS_AUDIT_KEY")]
    pub key: Option<PathBuf>,
}

/// `cactus audit prove-token`.
#[derive(Debug, clap::Args)]
pub struct ProveTokenArgs {
    /// The token, POOL/SERIAL.
    #[arg(value_name = "POOL/SERIAL")]
    pub token: TokenId,
    /// A key file allowed to read the token (an auditor key reads every pool).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Write the bundle here instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `cactus audit prove-tx`.
#[derive(Debug, clap::Args)]
pub struct ProveTxArgs {
    /// The tx id (64 hex characters, or its first 8 or more).
    #[arg(value_name = "TXID")]
    pub tx: String,
    /// A key file allowed to read the tx (an auditor key reads every tx).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Write the bundle here instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `cactus audit check-proof`.
#[derive(Debug, clap::Args)]
pub struct CheckProofArgs {
    /// The proof bundle (JSON, as `prove-token` / `prove-tx` write it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs an audit subcommand with the global options (node URL, `--json`, `--genesis`).
pub async fn run(ctx: &Ctx, command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify(args) => verify(ctx, args).await,
        AuditCommand::ProveToken(args) => {
            let (source, key, genesis) = prover(ctx, &args.key)?;
            let (bundle, check) =
                prove_token(&source, &key, &args.token, genesis.as_ref().map(|g| &g.0))
                    .await
                    .map_err(|e| explain(e, ctx))?;
            deliver(
                ctx,
                &bundle,
                &check,
                args.out.as_deref(),
                genesis.as_ref().map(|g| g.1.as_path()),
            )
        }
        AuditCommand::ProveTx(args) => {
            let (source, key, genesis) = prover(ctx, &args.key)?;
            // The prefix is resolved as the prover: it finds the txs its key may read.
            let client = ctx.connect().await?.with_reader(key.clone());
            let tx = super::reads::resolve_tx_arg(&client, &args.tx).await?;
            let (bundle, check) = prove_tx(&source, &key, &tx, genesis.as_ref().map(|g| &g.0))
                .await
                .map_err(|e| explain(e, ctx))?;
            deliver(
                ctx,
                &bundle,
                &check,
                args.out.as_deref(),
                genesis.as_ref().map(|g| g.1.as_path()),
            )
        }
        AuditCommand::CheckProof(args) => check_proof(ctx, &args.file),
    }
}

/// The genesis file an audit trusts; an error saying how to give one.
fn trusted_genesis(ctx: &Ctx, near: &[&Path]) -> Result<(Genesis, PathBuf)> {
    ctx.find_genesis(near)?.ok_or_else(|| {
        Failure::new(
            "no_genesis",
            "an audit needs the chain's genesis file, the one thing it trusts",
        )
        .hint(
            "pass --genesis FILE (or set CACTUS_GENESIS): the genesis.toml every node of the \
                 chain was started with; a local consortium's is .localnet/genesis.toml",
        )
        .into()
    })
}

/// An [`AuditError`] as the CLI reports it.
fn explain(e: AuditError, ctx: &Ctx) -> anyhow::Error {
    match &e {
        AuditError::Http { .. } => Failure::new("unreachable", format!("cannot reach node at {}: {e}", ctx.node_url))
            .hint("point --node / CACTUS_NODE at a running node")
            .into(),
        AuditError::Node { status: 401 | 403, code, .. } => Failure::new(code, e.to_string())
            .hint("use a key registered on this chain that may read this: an auditor key reads everything")
            .into(),
        AuditError::Node { code, .. } => Failure::new(code, e.to_string()).into(),
        AuditError::InvalidProof(why) => Failure {
            exit: EXIT_UNVERIFIED,
            ..Failure::new("proof_invalid", format!("PROOF DOES NOT VERIFY: {why}"))
        }
        .hint("do not trust this answer: ask another node, and run `cactus audit verify`")
        .into(),
        AuditError::File { .. } | AuditError::Unusable(_) | AuditError::Malformed { .. } => {
            Failure::new("unusable", e.to_string()).into()
        }
        AuditError::Replay { .. } => Failure::new("replay_failed", e.to_string()).into(),
        AuditError::Withheld { .. } => Failure::new("not_authorized", e.to_string())
            .hint(
                "pass --key with a consortium auditor's key file (`cactus governance propose \
                 add-auditor` registers one once a quorum of the orgs approves) or a node key",
            )
            .into(),
    }
}

async fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<()> {
    let near: Vec<&Path> = args.key.iter().map(PathBuf::as_path).collect();
    let (genesis, genesis_path) = trusted_genesis(ctx, &near)?;
    let mut source = HttpSource::new(&ctx.node_url).map_err(|e| explain(e, ctx))?;
    if let Some(path) = &args.key {
        let key = load_key(path)?;
        source = source.with_reader(key.key, genesis.initial.chain_id.clone());
    }
    let mut auditor = Auditor::new(&genesis).range(args.batch);
    if let Some(path) = &args.pin {
        let pin = Pin::load(path).map_err(|e| explain(e, ctx))?;
        auditor = auditor.pin(pin).map_err(|e| explain(e, ctx))?;
    }
    if let Some(path) = &args.resume {
        let checkpoint = AuditCheckpoint::load(path).map_err(|e| explain(e, ctx))?;
        auditor = auditor.resume(checkpoint).map_err(|e| explain(e, ctx))?;
    }
    if !ctx.json {
        eprintln!(
            "auditing {} against genesis {} (chain {}, genesis hash {})",
            ctx.node_url,
            genesis_path.display(),
            genesis.initial.chain_id,
            genesis.hash()
        );
    }
    let bar = if ctx.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |p: &couponcactus_client::audit::Progress| {
        bar.set_length(p.target.saturating_sub(p.start) + 1);
        bar.set_position(p.height + 1 - p.start);
        bar.set_message(format!("{} txs", p.txs));
    };
    let report = auditor
        .verify(&source, progress)
        .await
        .map_err(|e| explain(e, ctx))?;
    bar.finish_and_clear();
    let AuditReport {
        verdict,
        warnings,
        checkpoint,
    } = report;
    let mut saved = None;
    if let (Some(path), Some(checkpoint)) = (&args.save, &checkpoint) {
        checkpoint.save(path).map_err(|e| explain(e, ctx))?;
        saved = Some(path.display().to_string());
    }
    if ctx.json {
        let mut out = serde_json::to_value(&verdict)?;
        if let Some(obj) = out.as_object_mut() {
            obj.insert("node".into(), json!(ctx.node_url));
            obj.insert("genesis".into(), json!(genesis_path.display().to_string()));
            obj.insert("warnings".into(), json!(warnings));
            obj.insert("saved".into(), json!(saved));
        }
        println!("{out}");
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        match &verdict {
            Verdict::Verified(v) => {
                let resumed = if v.from_height > v.height && v.height > 0 {
                    " (all by the resumed audit: no new blocks)".to_string()
                } else if v.from_height > 1 {
                    format!(
                        " ({}..={} re-executed now, 1..={} by the resumed audit)",
                        v.from_height,
                        v.height,
                        v.from_height - 1
                    )
                } else {
                    String::new()
                };
                let certified = if v.certified_height == 0 {
                    "nothing certified yet".to_string()
                } else {
                    format!(
                        "certified up to {} by nodes {:?}",
                        v.certified_height, v.certified_by
                    )
                };
                println!(
                    "VERIFIED: heights 1..={}{resumed}, {} txs, every signature, header, result and \
                     state root re-computed; {certified}",
                    v.height, v.txs
                );
                println!("  tip: block {} state root {}", v.block_hash, v.state_root);
                if let Some(pin) = &v.pinned {
                    println!(
                        "  pin: block {} at height {} is still the chain's, and the history log extends it",
                        pin.block_hash, pin.height
                    );
                }
                if let Some(path) = &saved {
                    println!("  saved: {path} (--resume {path} next time, or --pin {path})");
                }
            }
            Verdict::Failed(f) => println!("{f}"),
        }
    }
    match verdict {
        Verdict::Verified(_) => Ok(()),
        Verdict::Failed(f) => Err(Failure {
            exit: EXIT_UNVERIFIED,
            printed: true,
            ..Failure::new("audit_failed", format!("the chain does not verify at height {}: {}", f.height, f.what))
        }
        .hint("do not trust this node's chain: audit the other nodes, and compare their block hashes at this height")
        .into()),
    }
}

type Prover = (
    HttpSource,
    ed25519_dalek::SigningKey,
    Option<(Genesis, PathBuf)>,
);

fn prover(ctx: &Ctx, key: &Path) -> Result<Prover> {
    let key = load_key(key)?;
    let genesis = ctx.find_genesis(&[key.path.as_path()])?;
    let source = HttpSource::new(&ctx.node_url).map_err(|e| explain(e, ctx))?;
    Ok((source, key.key, genesis))
}

fn deliver(
    ctx: &Ctx,
    bundle: &ProofBundle,
    check: &BundleCheck,
    out: Option<&Path>,
    genesis: Option<&Path>,
) -> Result<()> {
    let text = serde_json::to_string_pretty(bundle)?;
    if let Some(path) = out {
        std::fs::write(path, format!("{text}\n"))
            .map_err(|e| Failure::new("io", format!("cannot write {}: {e}", path.display())))?;
    }
    if ctx.json {
        let mut value = json!({ "check": check });
        match out {
            Some(path) => value["out"] = json!(path.display().to_string()),
            None => value["bundle"] = serde_json::to_value(bundle)?,
        }
        println!("{value}");
        return Ok(());
    }
    if out.is_none() {
        println!("{text}");
    }
    eprintln!("{}", summary(check, genesis));
    if let Some(path) = out {
        eprintln!(
            "  wrote {} (check it with `cactus audit check-proof {} --genesis GENESIS`)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn summary(check: &BundleCheck, genesis: Option<&Path>) -> String {
    let anchor = match genesis {
        Some(path) if check.anchored => format!("voter set anchored to genesis {}", path.display()),
        _ => "voter set NOT anchored: pass --genesis FILE to check it against the chain's genesis"
            .into(),
    };
    format!(
        "PROVEN: {}; certified at height {} by nodes {:?} ({anchor})",
        check.statement, check.certified_height, check.certified_by
    )
}

fn check_proof(ctx: &Ctx, file: &Path) -> Result<()> {
    let (genesis, genesis_path) = trusted_genesis(ctx, &[file])?;
    let text = std::fs::read(file)
        .map_err(|e| Failure::new("io", format!("cannot read {}: {e}", file.display())))?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Failure::new("malformed", format!("{} is not JSON: {e}", file.display())))?;
    // A bundle, or the `--json` output of prove-token / prove-tx (its `bundle` member).
    let value = match value.get("bundle") {
        Some(b) => b.clone(),
        None => value,
    };
    let bundle: ProofBundle = serde_json::from_value(value).map_err(|e| {
        Failure::new(
            "malformed",
            format!("{} is not a proof bundle: {e}", file.display()),
        )
    })?;
    let check = check_bundle(&bundle, Some(&genesis)).map_err(|e| explain(e, ctx))?;
    if ctx.json {
        println!("{}", json!({ "valid": true, "check": check }));
    } else {
        println!(
            "VALID: {}; certified at height {} by nodes {:?} (voter set anchored to genesis {})",
            check.statement,
            check.certified_height,
            check.certified_by,
            genesis_path.display()
        );
    }
    Ok(())
}
