//! `cactus member add|find|show|erase|export`: the member directory of your org's node
//! (org admins and issuers; docs/compliance-directory.md): the personal data the org keeps
//! on a member, the three-way match from an email, phone, recipient id or member id, a
//! subject's erasure (crypto-shredding, then the erasure receipt on the ledger) and the
//! data-subject export.
//!
//! Personal data goes to the node only in request bodies; `--from FILE` (JSON, `-` for
//! stdin) keeps it off the command line and the shell's history.

use super::context::{Ctx, MemberArgs, load_key};
use super::output::{Failure, emit, format_time_ms};
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::chaincode::ids::MemberId;
use couponcactus_client::directory::{
    DirectoryClient, DirectoryError, MatchInputs, ReceiptOutcome, SubjectInput, SubjectRecord,
    submit_erasure_receipt,
};
use serde_json::json;
use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Largest `--from` file, bytes.
const MAX_FROM_BYTES: u64 = 16 * 1024;

/// `cactus member …`.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a member to the directory (a new random member id, or --member to import one
    /// the org already uses), or update one: fields given replace, recipient ids add.
    Add(AddArgs),
    /// The three-way match: the member an email, phone, recipient id and/or member id
    /// name; exit 1 with `match_conflict` when they name different members.
    Find(FindArgs),
    /// What the directory holds on a member.
    Show(OneArgs),
    /// Erase a member: the node destroys the record, its key and its blind indexes and
    /// purges its analytics rows; then the erasure receipt goes on the ledger (org admin).
    Erase(EraseArgs),
    /// Everything the org holds on a member (a data-subject access request), as JSON: the
    /// directory's record and the ledger's coupons, balances and consent records.
    Export(ExportArgs),
    /// A magic link to the member's customer wallet (docs/wallet.md): e-mailed to the
    /// address on file, or printed with --print to hand over.
    Link(LinkArgs),
}

/// `cactus member link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    #[command(flatten)]
    one: OneArgs,
    /// Print the link instead of e-mailing it (hand it over, e.g. as a QR code).
    #[arg(long)]
    print: bool,
}

/// The key that signs.
#[derive(Debug, Args)]
pub struct Signer {
    /// An org admin's or issuer's key file of the node's org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// `cactus member add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    signer: Signer,
    #[command(flatten)]
    member: MemberArgs,
    /// Email (stored trimmed and lowercased).
    #[arg(long)]
    email: Option<String>,
    /// Phone number (stored as digits with a leading + if given).
    #[arg(long)]
    phone: Option<String>,
    /// Name.
    #[arg(long)]
    name: Option<String>,
    /// A campaign recipient id (repeat for several).
    #[arg(long = "recipient-id", value_name = "ID")]
    recipient_ids: Vec<String>,
    /// The org's own customer reference.
    #[arg(long)]
    external_ref: Option<String>,
    /// The subject as JSON (`{"email": …, "phone": …, "name": …, "recipient_ids": […],
    /// "external_ref": …, "member": …}`; `-`: stdin); flags given override its fields.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
}

/// `cactus member find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    #[command(flatten)]
    signer: Signer,
    /// An email.
    #[arg(long)]
    email: Option<String>,
    /// A phone number.
    #[arg(long)]
    phone: Option<String>,
    /// A campaign recipient id.
    #[arg(long = "recipient-id", value_name = "ID")]
    recipient_id: Option<String>,
    #[command(flatten)]
    member: MemberArgs,
}

/// One member.
#[derive(Debug, Args)]
pub struct OneArgs {
    #[command(flatten)]
    signer: Signer,
    #[command(flatten)]
    member: MemberArgs,
}

/// `cactus member erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    one: OneArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

/// `cactus member export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    one: OneArgs,
    /// Write the export to this file (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs a `cactus member` subcommand.
pub async fn run(ctx: &Ctx, command: MemberCommand) -> Result<()> {
    match command {
        MemberCommand::Add(args) => add(ctx, args).await,
        MemberCommand::Find(args) => find(ctx, args).await,
        MemberCommand::Show(args) => show(ctx, args).await,
        MemberCommand::Erase(args) => erase(ctx, args).await,
        MemberCommand::Export(args) => export(ctx, args).await,
        MemberCommand::Link(args) => link(ctx, args).await,
    }
}

async fn link(ctx: &Ctx, args: LinkArgs) -> Result<()> {
    let member = args.one.member.required()?;
    let view = client(ctx, &args.one.signer)
        .await?
        .wallet_link(&member, args.print)
        .await
        .map_err(failure)?;
    let expires = view["expires_ms"]
        .as_u64()
        .map(format_time_ms)
        .unwrap_or_default();
    emit(ctx.json, &view, || match view["url"].as_str() {
        Some(url) => {
            format!("wallet link of member {member} (works once, until {expires}):\n{url}")
        }
        None => format!(
            "wallet link of member {member} e-mailed to {} (works once, until {expires})",
            view["sent_to"].as_str().unwrap_or("the address on file")
        ),
    });
    Ok(())
}

async fn client(ctx: &Ctx, signer: &Signer) -> Result<DirectoryClient> {
    let key = load_key(&signer.key)?;
    let node = ctx.connect().await?;
    Ok(DirectoryClient::new(
        node.base_url(),
        node.chain_id().clone(),
        key.key,
    ))
}

/// A directory error as the CLI reports it, with what to do.
fn failure(e: DirectoryError) -> anyhow::Error {
    let code = e.api_code().unwrap_or("node_error").to_string();
    let hint = match (&e, code.as_str()) {
        (_, "not_authorized") => Some(
            "use an org admin's or issuer's key of the org that runs this node (--key)".to_string(),
        ),
        (DirectoryError::Api { groups, .. }, "match_conflict") => Some(format!(
            "the inputs name different members ({}): check each input, then find by one of them",
            groups
                .iter()
                .map(|g| g.join("+"))
                .collect::<Vec<_>>()
                .join(" vs ")
        )),
        (_, "already_linked") => Some(
            "`cactus member find` names the member that has it; update that member with --member"
                .to_string(),
        ),
        (_, "directory_off") => Some(
            "the node's operator turned the directory off ([directory] enabled = false)".into(),
        ),
        _ => None,
    };
    let f = Failure::new(&code, e.to_string());
    match hint {
        Some(h) => f.hint(h).into(),
        None => f.into(),
    }
}

/// The JSON of `--from`, at most [`MAX_FROM_BYTES`].
fn read_from(path: &Path) -> Result<SubjectInput> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_FROM_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_FROM_BYTES + 1).read_to_string(&mut text))
    };
    read.map_err(|e| Failure::new("invalid_input", format!("--from {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FROM_BYTES {
        return Err(Failure::new(
            "invalid_input",
            format!("--from {}: over {MAX_FROM_BYTES} bytes", path.display()),
        )
        .into());
    }
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            "invalid_input",
            format!(
                "--from {}: not a subject's JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ),
        )
        .into()
    })
}

async fn add(ctx: &Ctx, args: AddArgs) -> Result<()> {
    let mut input = match &args.from {
        Some(path) => read_from(path)?,
        None => SubjectInput::default(),
    };
    if let Some(m) = args.member.resolve()? {
        input.member = Some(m);
    }
    input.email = args.email.or(input.email);
    input.phone = args.phone.or(input.phone);
    input.name = args.name.or(input.name);
    input.external_ref = args.external_ref.or(input.external_ref);
    input.recipient_ids.extend(args.recipient_ids);
    let subject = client(ctx, &args.signer)
        .await?
        .add(&input)
        .await
        .map_err(failure)?;
    emit(ctx.json, &subject, || {
        format!("member {}\n{}", subject.member, describe(&subject.record))
    });
    Ok(())
}

async fn find(ctx: &Ctx, args: FindArgs) -> Result<()> {
    let inputs = MatchInputs {
        email: args.email,
        phone: args.phone,
        recipient_id: args.recipient_id,
        member: args.member.resolve()?,
    };
    if inputs == MatchInputs::default() {
        return Err(Failure::new(
            "invalid_input",
            "find by what? pass any of --email, --phone, --recipient-id, --member",
        )
        .into());
    }
    let m = client(ctx, &args.signer)
        .await?
        .find(&inputs)
        .await
        .map_err(failure)?;
    emit(ctx.json, &m, || {
        let mut text = format!(
            "member {} (matched by {})",
            m.member,
            m.matched_by.join(", ")
        );
        if !m.unmatched.is_empty() {
            text.push_str(&format!("\nunmatched: {}", m.unmatched.join(", ")));
        }
        text
    });
    Ok(())
}

async fn show(ctx: &Ctx, args: OneArgs) -> Result<()> {
    let member = args.member.required()?;
    let subject = client(ctx, &args.signer)
        .await?
        .show(&member)
        .await
        .map_err(failure)?;
    emit(ctx.json, &subject, || {
        format!("member {}\n{}", subject.member, describe(&subject.record))
    });
    Ok(())
}

/// A record for people, one field a line.
fn describe(r: &SubjectRecord) -> String {
    let field =
        |name: &str, v: &Option<String>| format!("  {name:<13}{}", v.as_deref().unwrap_or("-"));
    [
        field("email", &r.email),
        field("phone", &r.phone),
        field("name", &r.name),
        format!(
            "  {:<13}{}",
            "recipients",
            if r.recipient_ids.is_empty() {
                "-".into()
            } else {
                r.recipient_ids.join(", ")
            }
        ),
        field("external ref", &r.external_ref),
        format!("  {:<13}{}", "added", format_time_ms(r.created_ms)),
        format!("  {:<13}{}", "updated", format_time_ms(r.updated_ms)),
    ]
    .join("\n")
}

/// Asks on the terminal; only `yes` goes on.
fn confirm(member: &MemberId) -> Result<()> {
    eprint!(
        "Erase member {member}? The directory record and its key are destroyed for good \
         (no undo) and the erasure is recorded on the ledger. Type yes: "
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::new("aborted", "not erased")
            .hint("pass --yes to skip the question")
            .into())
    }
}

async fn erase(ctx: &Ctx, args: EraseArgs) -> Result<()> {
    let member = args.one.member.required()?;
    if !args.yes {
        confirm(&member)?;
    }
    let key = load_key(&args.one.signer.key)?;
    let node = ctx.connect().await?;
    let directory = DirectoryClient::new(node.base_url(), node.chain_id().clone(), key.key.clone());
    // Not in the directory (erased before, or never added): only the receipt is left.
    let erased = match directory.erase(&member).await {
        Ok(e) => Some(e),
        Err(couponcactus_client::directory::DirectoryError::Api { status: 404, .. }) => None,
        Err(e) => return Err(failure(e)),
    };
    let receipt = submit_erasure_receipt(&node, &key.key, &member)
        .await
        .map_err(|e| {
            Failure::new("receipt_failed", e.to_string()).hint(format!(
                "the node erased member {member} already: only the ledger's erasure receipt is \
                 missing; sign it with an org admin's key (`cactus member erase --member {member} \
                 --yes --key <org admin key>` records it; the node's part is done and skipped)"
            ))
        })?;
    emit(
        ctx.json,
        &json!({
            "erased": erased.as_ref().map(|e| &e.erased),
            "analytics_rows": erased.as_ref().map(|e| e.analytics_rows),
            "receipt": receipt
        }),
        || {
            let receipt = match &receipt {
                ReceiptOutcome::Recorded { tx_id, height } => {
                    format!("erasure receipt on the ledger: tx {tx_id} in block {height}")
                }
                ReceiptOutcome::AlreadyRecorded => {
                    "erasure receipt: on the ledger already (recorded before)".into()
                }
            };
            match &erased {
                Some(e) => format!(
                    "ERASED member {member} at {}: record, key and blind indexes destroyed; {} analytics rows purged\n{receipt}",
                    format_time_ms(e.erased.time_ms),
                    e.analytics_rows
                ),
                None => format!(
                    "member {member} is not in the node's directory (erased before, or never added)\n{receipt}"
                ),
            }
        },
    );
    Ok(())
}

async fn export(ctx: &Ctx, args: ExportArgs) -> Result<()> {
    let member = args.one.member.required()?;
    let directory = client(ctx, &args.one.signer)
        .await?
        .export(&member)
        .await
        .map_err(failure)?;
    let key = load_key(&args.one.signer.key)?;
    let ledger = ledger_side(ctx, &key, &member).await?;
    let export = json!({ "member": member, "directory": directory, "ledger": ledger });
    let text = serde_json::to_string_pretty(&export)?;
    match &args.out {
        None => emit(ctx.json, &export, || text.clone()),
        Some(path) => {
            write_private(path, text.as_bytes())?;
            emit(ctx.json, &json!({ "member": member, "out": path }), || {
                format!(
                    "export of member {member} written to {} (mode 0600)",
                    path.display()
                )
            });
        }
    }
    Ok(())
}

/// The ledger's side of a data-subject access request: the member's coupons (the wallet
/// read), their balances in the org's program and the org's consent records and erasure
/// receipt, each as the node answered with its proofs; a read the node refuses is shown
/// with its error instead (e.g. an org without a loyalty program).
async fn ledger_side(
    ctx: &Ctx,
    key: &super::context::LoadedKey,
    member: &couponcactus_chaincode::ids::MemberId,
) -> Result<serde_json::Value> {
    let node = ctx.connect_as(key).await?;
    let answer = |r: std::result::Result<serde_json::Value, String>| match r {
        Ok(v) => v,
        Err(e) => json!({ "error": e }),
    };
    let consent = node.consent(None, member, None).await;
    let org = consent.as_ref().ok().map(|c| c.org.clone());
    let wallet = node
        .wallet(member)
        .await
        .map_err(|e| e.to_string())
        .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string()));
    let balances = match &org {
        Some(org) => node
            .balance(org, member, None)
            .await
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string())),
        None => Err("the org's consent read failed, so its program is not known".into()),
    };
    let consent = consent
        .map_err(|e| e.to_string())
        .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string()));
    Ok(json!({
        "coupons": answer(wallet),
        "balances": answer(balances),
        "consent": answer(consent),
    }))
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Failure::new("io", format!("writing {}: {e}", path.display())))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Cli;
    use clap::Parser as _;

    const M: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn member_commands_parse_and_refuse_what_is_missing() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        assert!(parse(&["cactus", "member", "add", "--key", "k", "--email", "a@b.cd"]).is_ok());
        assert!(
            parse(&[
                "cactus",
                "member",
                "add",
                "--key",
                "k",
                "--recipient-id",
                "r1",
                "--recipient-id",
                "r2",
                "--member",
                M
            ])
            .is_ok()
        );
        assert!(
            parse(&[
                "cactus", "member", "find", "--key", "k", "--email", "a@b.cd", "--member", M
            ])
            .is_ok()
        );
        assert!(
            parse(&[
                "cactus", "member", "erase", "--key", "k", "--member", M, "--yes"
            ])
            .is_ok()
        );
        assert!(
            parse(&[
                "cactus", "member", "export", "--key", "k", "--member", M, "--out", "x.json"
            ])
            .is_ok()
        );
        assert!(
            parse(&["cactus", "member", "show", "--member", M]).is_err(),
            "--key is required"
        );
        assert!(
            parse(&["cactus", "member", "show", "--key", "k", "--member", "zz"]).is_err(),
            "not hex"
        );
        assert!(
            parse(&[
                "cactus",
                "member",
                "show",
                "--key",
                "k",
                "--member-name",
                "x"
            ])
            .is_err(),
            "--member-name needs --member-secret"
        );
    }
}
