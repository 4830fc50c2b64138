//! `cactus codes …`: issuing random codes into a pool, and opening the org's sealed codes.
//!
//! `generate` makes the codes on this machine (OS randomness), seals each with the org's
//! data key, and writes the plaintext CSV (`serial,code,code_hash`, mode 0600) BEFORE
//! submitting anything, so a crash can never lose codes that may have reached the ledger;
//! then it submits them in batches (all or nothing each, at most the chain's
//! `max_batch_codes`) and rewrites the CSV with the serials the ledger gave, keeping only
//! codes that were issued. `open` reads the issue txs back from the node and decrypts
//! them: only the org holding the data key can. `check` checks a typed code offline
//! against its format ([`typed`]) and `qr` renders codes as QR images ([`qr`]).

mod qr;
mod typed;

use typed::CodeFormatArgs;

use super::context::{Ctx, LoadedKey, load_data_key, load_key, signer_role};
use super::output::{Failure, emit, explain};
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::execute::Event;
use couponcactus_client::chaincode::ids::{CodeHash, PoolId, TokenId};
use couponcactus_client::chaincode::tx::TxKind;
use couponcactus_client::chaincode::types::{PoolKind, PoolRecord, PoolStatus};
use couponcactus_client::issuance::{self, GeneratedCode, MIN_RECOMMENDED_ENTROPY_BITS};
use couponcactus_client::views::TxStatus;
use couponcactus_client::{NodeClient, NodeClientError};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The chain's default `max_batch_codes`, used when no genesis file is at hand.
const DEFAULT_BATCH: u32 = 5_000;

/// `cactus codes` subcommands.
#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// Generate random codes, seal them with the org's data key, write the plaintext CSV
    /// (mode 0600) and issue them into a draft or paused pool in batches.
    Generate(GenerateArgs),
    /// Decrypt the sealed codes of one of your org's pools (needs the org's data key).
    Open(OpenArgs),
    /// Check a code as typed or read aloud against its format, offline: look-alike
    /// characters corrected (O→0, I/L→1, U→V where the alphabet rules them out), the check
    /// character verified; prints the code to hash and its hash.
    Check(typed::CheckArgs),
    /// Render a code as a QR code (PNG or SVG) for printing and e-mail, or every code of
    /// a codes CSV into a directory.
    Qr(qr::QrArgs),
}

/// `cactus codes generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// An issuer's (or org admin's) key file of the pool's org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The org's code-sealing key file (e.g. .localnet/orgs/acme/keys/data.key).
    #[arg(long, value_name = "FILE")]
    data_key: PathBuf,
    /// The pool (in draft or paused).
    #[arg(long)]
    pool: PoolId,
    /// How many random codes.
    #[arg(long, required_unless_present = "code")]
    count: Option<usize>,
    /// A code of your choosing instead (e.g. a shared code SUMMER10); repeatable.
    #[arg(long, value_name = "CODE")]
    code: Vec<String>,
    /// How the random codes look.
    #[command(flatten)]
    format: CodeFormatArgs,
    /// Where to write the plaintext codes (CSV, mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Codes per issue tx (default: the chain's max_batch_codes from genesis, else 5,000).
    #[arg(long)]
    batch_size: Option<u32>,
}

/// `cactus codes open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The org's code-sealing key file.
    #[arg(long, value_name = "FILE")]
    data_key: PathBuf,
    /// The pool.
    #[arg(long)]
    pool: PoolId,
    /// A key of the org to read with (default: issuer.key or org-admin.key next to the
    /// data key).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: Option<PathBuf>,
    /// Write the CSV here (mode 0600, never overwritten) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// One row of a codes CSV.
#[derive(Clone, Debug, Serialize)]
struct CodeRow {
    /// The token's serial (empty for a shared code).
    serial: Option<u64>,
    /// The plaintext code.
    code: String,
    /// Its hash, as on the ledger.
    code_hash: CodeHash,
}

/// Writes rows as CSV to a new file with mode 0600 (refusing to replace one), synced.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn write_rows(file: std::fs::File, rows: &[CodeRow]) -> Result<std::fs::File> {
    let mut writer = csv::Writer::from_writer(file);
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    let file = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    file.sync_all()?;
    Ok(file)
}

fn write_new_csv(path: &Path, rows: &[CodeRow]) -> Result<()> {
    let file = create_private(path).map_err(|e| {
        let f = Failure::new("io", format!("cannot create {}: {e}", path.display()));
        if path.exists() {
            f.hint("codes files are never overwritten (they may hold codes already on the ledger): choose another --out")
        } else {
            f
        }
    })?;
    write_rows(file, rows)?;
    Ok(())
}

/// Replaces a codes CSV through a temporary file and a rename.
fn rewrite_csv(path: &Path, rows: &[CodeRow]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    write_rows(create_private(&tmp)?, rows)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40.cyan/blue}] {pos}/{len} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

async fn read_pool(client: &NodeClient, reader: &LoadedKey, pool: &PoolId) -> Result<PoolRecord> {
    match client.pool(pool, None).await {
        Ok(v) => Ok(v.pool),
        Err(e) if e.absence().is_some() => Err(Failure::new(
            "not_found",
            format!("there is no pool {pool}"),
        )
        .hint(format!(
            "create it first: `cactus pool create --key … --id {pool} …`"
        ))
        .into()),
        Err(e) => Err(explain(e, Some(&reader.in_use())).into()),
    }
}

async fn generate(ctx: &Ctx, args: GenerateArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let data_key = load_data_key(&args.data_key)?;
    let pattern = args.format.or_default();
    let count = args.count.unwrap_or(0);
    if count > 0 {
        pattern
            .validate()
            .map_err(|e| Failure::new("invalid_input", format!("--pattern/--charset: {e}")))?;
        if pattern.entropy_bits() < MIN_RECOMMENDED_ENTROPY_BITS {
            eprintln!(
                "warning: codes of this pattern carry {} bits of randomness; below {MIN_RECOMMENDED_ENTROPY_BITS} \
                 they can be guessed from their public hashes",
                pattern.entropy_bits()
            );
        }
    }
    let client = ctx.connect_as(&signer).await?;
    let pool = read_pool(&client, &signer, &args.pool).await?;
    if !matches!(pool.status, PoolStatus::Draft | PoolStatus::Paused) {
        return Err(Failure::new(
            "invalid_transition",
            format!(
                "pool {} is {}: codes are issued only while it is draft or paused",
                pool.id,
                pool.status.name()
            ),
        )
        .hint(format!("pause it first: `cactus pool pause {}`", pool.id))
        .into());
    }
    let total = count + args.code.len();
    if total == 0 {
        return Err(Failure::new(
            "invalid_input",
            "nothing to issue: pass --count N or --code CODE",
        )
        .into());
    }
    let shared = pool.spec.kind == PoolKind::SharedCode;
    if shared && (total != 1 || pool.shared_code.is_some()) {
        return Err(Failure::new(
            "invalid_input",
            format!(
                "pool {} is a shared-code pool: it takes exactly one code, once",
                pool.id
            ),
        )
        .hint("pass --code SUMMER10 (or --count 1) on a shared-code pool without a code yet")
        .into());
    }
    let room = pool.spec.total_cap.saturating_sub(pool.issued);
    if !shared && total as u64 > room {
        return Err(Failure::new(
            "quantity_exceeded",
            format!("pool {} has room for {room} more codes (total cap {}, {} issued); asked for {total}", pool.id, pool.spec.total_cap, pool.issued),
        )
        .into());
    }
    let batch_size = match args.batch_size {
        Some(n) => n,
        None => ctx
            .find_genesis(&[&signer.path])
            .ok()
            .flatten()
            .map(|(g, _)| g.initial.params.max_batch_codes)
            .unwrap_or(DEFAULT_BATCH),
    }
    .max(1) as usize;

    // Generate and seal on this machine.
    let mut codes: Vec<GeneratedCode> =
        args.code.iter().map(|c| issuance::chosen_code(c)).collect();
    codes.extend(
        issuance::generate_codes(&pattern, count)
            .map_err(|e| Failure::new("invalid_input", e.to_string()))?,
    );
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = codes.iter().find(|c| !seen.insert(c.code_hash)) {
        return Err(Failure::new(
            "duplicate_code",
            format!("code {:?} is given twice", dup.code),
        )
        .into());
    }
    let sealed = issuance::seal_codes(&data_key, &pool.id, &codes)
        .map_err(|e| Failure::new("invalid_input", e.to_string()))?;
    let expected = |i: usize| (!shared).then_some(pool.issued + i as u64);
    let mut rows: Vec<CodeRow> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| CodeRow {
            serial: expected(i),
            code: c.code.clone(),
            code_hash: c.code_hash,
        })
        .collect();
    // The only clear copy: on disk before anything is submitted.
    write_new_csv(&args.out, &rows)?;

    let progress = bar(total as u64, "issuing");
    let builder = client.tx_builder();
    let mut batches = Vec::new();
    let mut issued_rows: Vec<CodeRow> = Vec::new();
    let mut offset = 0;
    for chunk in sealed.chunks(batch_size) {
        let tx = builder.issue_codes(&signer.key, pool.id.clone(), chunk.to_vec());
        let mut attempt = 0;
        let view = loop {
            attempt += 1;
            match client.submit(&tx).await {
                Ok(view) => break view,
                Err(NodeClientError::Transport { .. }) if attempt < 3 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    progress.abandon();
                    let committed = issued_rows.len();
                    let mut failure = explain(e, Some(&signer.in_use()));
                    failure.message = format!(
                        "{} — {committed} of {total} codes are issued; {} has every generated code \
                         (later batches may or may not have committed: `cactus codes open --pool {}` lists what the ledger has)",
                        failure.message,
                        args.out.display(),
                        pool.id
                    );
                    return Err(failure.into());
                }
            }
        };
        if view.status != TxStatus::Applied {
            progress.abandon();
            // Keep only what the ledger has.
            rewrite_csv(&args.out, &issued_rows)?;
            if view.status == TxStatus::Rejected {
                let role = signer_role(&client, &signer).await;
                let mut failure = ctx.rejected_as(&view, tx.body.kind.name(), role.as_ref());
                failure.message = format!(
                    "{}\n{} of {total} codes were issued before; {} now lists only those",
                    failure.message,
                    issued_rows.len(),
                    args.out.display()
                );
                return Err(failure.into());
            }
            return Err(Failure::new(
                "pending",
                format!("issue tx {} is not committed yet", view.tx_id),
            )
            .into());
        }
        let first_serial = view
            .events()
            .unwrap_or_default()
            .iter()
            .find_map(|e| match e {
                Event::CodesIssued { first_serial, .. } => Some(*first_serial),
                _ => None,
            });
        for (i, row) in rows[offset..offset + chunk.len()].iter_mut().enumerate() {
            if !shared {
                row.serial = first_serial.map(|f| f + i as u64);
            }
            issued_rows.push(row.clone());
        }
        batches.push(json!({
            "tx_id": view.tx_id, "height": view.height, "first_serial": first_serial, "count": chunk.len(),
        }));
        offset += chunk.len();
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    if issued_rows
        .iter()
        .zip(0..)
        .any(|(r, i)| r.serial != expected(i))
    {
        // Someone else issued into the pool meanwhile: record the serials the ledger gave.
        rewrite_csv(&args.out, &issued_rows)?;
    }
    let first = issued_rows.first().and_then(|r| r.serial);
    let last = issued_rows.last().and_then(|r| r.serial);
    emit(
        ctx.json,
        &json!({
            "pool": pool.id, "issued": issued_rows.len(), "csv": args.out,
            "first_serial": first, "last_serial": last, "batches": batches,
        }),
        || {
            let serials = match (first, last) {
                (Some(a), Some(b)) => format!(" (serials {a}..={b})"),
                _ => " (the pool's shared code)".into(),
            };
            format!(
                "issued {} codes into pool {}{serials} in {} batch(es)\n\
                 plaintext codes: {} (mode 0600) — the only clear copy: keep it safe\n\
                 next: `cactus pool activate {}`",
                issued_rows.len(),
                pool.id,
                batches.len(),
                args.out.display(),
                pool.id
            )
        },
    );
    Ok(())
}

/// The reader key of `codes open`: `--key`, else a sibling of the data key file.
fn open_reader(args: &OpenArgs) -> Result<LoadedKey> {
    if let Some(key) = &args.key {
        return load_key(key);
    }
    let dir = args.data_key.parent().unwrap_or(Path::new("."));
    for name in ["issuer.key", "org-admin.key", "auditor.key"] {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return load_key(&candidate);
        }
    }
    Err(Failure::new(
        "invalid_input",
        "which key reads the pool? pass --key FILE (a key of the pool's org)",
    )
    .into())
}

async fn open(ctx: &Ctx, args: OpenArgs) -> Result<()> {
    let data_key = load_data_key(&args.data_key)?;
    let reader = open_reader(&args)?;
    let client = ctx.connect_as(&reader).await?;
    let pool = read_pool(&client, &reader, &args.pool).await?;
    let open_err = |e: issuance::IssuanceError| {
        Failure::new("cannot_open", format!("pool {}: {e}", pool.id))
            .hint("use the data key of the org that issued the codes")
    };
    let mut rows = Vec::new();
    if let Some(shared) = &pool.shared_code {
        let code = issuance::open_codes(&data_key, &pool.id, std::slice::from_ref(shared))
            .map_err(open_err)?;
        rows.push(CodeRow {
            serial: None,
            code: code[0].clone(),
            code_hash: shared.code_hash,
        });
    }
    let progress = bar(pool.issued, "opening");
    let mut serial = 0;
    while serial < pool.issued {
        let token = TokenId {
            pool: pool.id.clone(),
            serial,
        };
        let history = client
            .token_history(&token)
            .await
            .map_err(|e| explain(e, Some(&reader.in_use())))?;
        // The tx that issued this token, and the serials it gave.
        let issue = history.entries.iter().find_map(|entry| {
            let TxKind::IssueCodes(tx) = &entry.tx.body.kind else {
                return None;
            };
            entry.result.events()?.iter().find_map(|e| match e {
                Event::CodesIssued {
                    pool: p,
                    first_serial,
                    count,
                } if *p == pool.id && (*first_serial..first_serial + count).contains(&serial) => {
                    Some((tx, *first_serial))
                }
                _ => None,
            })
        });
        let Some((tx, first_serial)) = issue else {
            progress.abandon();
            return Err(Failure::new(
                "not_found",
                format!("the node shows no issue tx for token {token}"),
            )
            .into());
        };
        let codes = issuance::open_codes(&data_key, &pool.id, &tx.codes).map_err(open_err)?;
        for (i, (code, issued)) in codes.into_iter().zip(&tx.codes).enumerate() {
            let s = first_serial + i as u64;
            if s >= serial {
                debug_assert_eq!(code_hash(&code), issued.code_hash);
                rows.push(CodeRow {
                    serial: Some(s),
                    code,
                    code_hash: issued.code_hash,
                });
            }
        }
        progress.inc(first_serial + tx.codes.len() as u64 - serial);
        serial = first_serial + tx.codes.len() as u64;
    }
    progress.finish_and_clear();
    match &args.out {
        Some(out) => {
            write_new_csv(out, &rows)?;
            emit(
                ctx.json,
                &json!({ "pool": pool.id, "codes": rows.len(), "csv": out }),
                || {
                    format!(
                        "opened {} codes of pool {} into {} (mode 0600)",
                        rows.len(),
                        pool.id,
                        out.display()
                    )
                },
            );
        }
        None if ctx.json => emit(
            true,
            &json!({ "pool": pool.id, "codes": rows }),
            String::new,
        ),
        None => {
            let mut writer = csv::Writer::from_writer(std::io::stdout().lock());
            for row in &rows {
                writer.serialize(row)?;
            }
            writer.flush()?;
            std::io::stdout().flush()?;
        }
    }
    Ok(())
}

/// Runs a `cactus codes` subcommand.
pub async fn run(ctx: &Ctx, command: CodesCommand) -> Result<()> {
    match command {
        CodesCommand::Generate(args) => generate(ctx, args).await,
        CodesCommand::Open(args) => open(ctx, args).await,
        CodesCommand::Check(args) => typed::check(ctx.json, args),
        CodesCommand::Qr(args) => qr::run(ctx.json, args),
    }
}
