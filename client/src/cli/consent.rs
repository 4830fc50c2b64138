//! `cactus consent grant|withdraw|show`: a member's consent per purpose (issue 21,
//! `docs/compliance-consent.md`), recorded where it is given — sign-up online, the app, the
//! till — by the org's admins, issuers or terminals.
//!
//! The member is `--member HEX`, or `--customer NAME` hashed with the org's member secret
//! (`--member-secret FILE`) into the member id, as every other command does: the name never
//! leaves this machine. The purpose is `marketing`, `profiling` or `partner:ORG` (sharing
//! with that org). The consent text the member was shown is `--text FILE` (its bytes are
//! hashed here with blake3, exactly as they are) or `--text-hash HEX`: only the hash
//! reaches the chain, so keep every version of the text the org ever showed.
//!
//! `show` is a proven read: every purpose's latest decision (or the proof that none is
//! recorded) and the org's erasure receipt, checked against the chain's genesis and a
//! checkpoint certificate. A rejection prints the chain's code and message and exits 3.

use super::context::{Ctx, LoadedKey, load_key, member_secret, short};
use super::output::{Failure, emit, explain, unverified};
use super::pool::{key_org, proof_line};
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::chaincode::consent::{ConsentDecision, ConsentRecord, Purpose};
use couponcactus_client::chaincode::ids::{Hash32, MemberId, OrgId};
use couponcactus_client::consent::ConsentView;
use couponcactus_client::tx_builder::consent_text_hash;
use couponcactus_client::verify::ProofVerifier;
use serde_json::json;
use std::path::PathBuf;

/// Longest consent text read from `--text`, bytes (a consent text is a page, not a book).
pub const MAX_TEXT_BYTES: u64 = 1 << 20;

/// `cactus consent …`.
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Record that the member agreed to a purpose (org admin, issuer or terminal key).
    Grant(DecideArgs),
    /// Record that the member withdrew (or refused) a purpose.
    Withdraw(DecideArgs),
    /// The member's latest decision per purpose and any erasure receipt, proven.
    Show(ShowArgs),
}

/// Which member: exactly one of these.
#[derive(Debug, Args)]
#[group(id = "who", required = true, multiple = false)]
pub struct Who {
    /// The member's pseudonymous id (64 hex characters).
    #[arg(long, value_name = "HEX")]
    member: Option<MemberId>,
    /// The org's own customer id, hashed with --member-secret into the member id.
    #[arg(long, value_name = "NAME", requires = "member_secret")]
    customer: Option<String>,
}

/// The member and what resolving a customer name needs.
#[derive(Debug, Args)]
pub struct Member {
    #[command(flatten)]
    who: Who,
    /// The org's member secret (with --customer): a key file or 64 hex characters.
    #[arg(long, value_name = "FILE", env = "CACTUS_MEMBER_SECRET")]
    member_secret: Option<PathBuf>,
}

impl Member {
    fn resolve(&self) -> Result<MemberId> {
        if let Some(m) = self.who.member {
            return Ok(m);
        }
        match (&self.who.customer, &self.member_secret) {
            (Some(name), Some(path)) => Ok(member_secret(path)?.member_id(name)),
            _ => Err(Failure::new(
                "invalid_input",
                "which member? pass --member HEX, or --customer NAME --member-secret FILE",
            )
            .into()),
        }
    }
}

/// The consent text shown: exactly one of these.
#[derive(Debug, Args)]
#[group(id = "text_choice", required = true, multiple = false)]
pub struct Text {
    /// The consent text the member was shown (its bytes are hashed with blake3).
    #[arg(long, value_name = "FILE")]
    text: Option<PathBuf>,
    /// The blake3 hash of that text, 64 hex characters.
    #[arg(long, value_name = "HEX")]
    text_hash: Option<Hash32>,
}

impl Text {
    fn hash(&self) -> Result<Hash32> {
        if let Some(h) = self.text_hash {
            return Ok(h);
        }
        let path = self
            .text
            .as_ref()
            .ok_or_else(|| Failure::new("invalid_input", "pass --text FILE or --text-hash HEX"))?;
        let bad = |why: String| {
            Failure::new("invalid_input", format!("--text {}: {why}", path.display()))
        };
        let size = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size == 0 || size > MAX_TEXT_BYTES {
            return Err(bad(format!("{size} bytes: a consent text is 1 byte to 1 MiB")).into());
        }
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        Ok(consent_text_hash(&bytes))
    }
}

/// `cactus consent grant` and `cactus consent withdraw`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// An org admin's, issuer's or terminal key file of the org that asks.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    #[command(flatten)]
    member: Member,
    /// marketing, profiling or partner:ORG (sharing with that org).
    #[arg(long, value_name = "PURPOSE")]
    purpose: Purpose,
    #[command(flatten)]
    text: Text,
}

/// `cactus consent show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An org admin's, issuer's or terminal key file of the org (or an auditor's).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    #[command(flatten)]
    member: Member,
    /// The org whose records to read (default: the key's own; another org: auditors only).
    #[arg(long, value_name = "ORG")]
    org: Option<OrgId>,
    /// Read at this height (default: the latest).
    #[arg(long)]
    height: Option<u64>,
}

/// Runs a `cactus consent` subcommand.
pub async fn run(ctx: &Ctx, command: ConsentCommand) -> Result<()> {
    match command {
        ConsentCommand::Grant(args) => decide(ctx, args, ConsentDecision::Granted).await,
        ConsentCommand::Withdraw(args) => decide(ctx, args, ConsentDecision::Withdrawn).await,
        ConsentCommand::Show(args) => show(ctx, args).await,
    }
}

async fn decide(ctx: &Ctx, args: DecideArgs, decision: ConsentDecision) -> Result<()> {
    let member = args.member.resolve()?;
    let text_hash = args.text.hash()?;
    let signer = load_key(&args.key)?;
    let client = ctx.connect_as(&signer).await?;
    let tx = client.tx_builder().record_consent(
        &signer.key,
        member,
        args.purpose.clone(),
        decision,
        text_hash,
    );
    let view = ctx.submit(&client, &tx, &signer).await?;
    let purpose = args.purpose;
    emit(
        ctx.json,
        &json!({
            "tx": view, "member": member, "purpose": purpose,
            "decision": decision, "text_hash": text_hash,
        }),
        || {
            let verb = match decision {
                ConsentDecision::Granted => "GRANTED",
                ConsentDecision::Withdrawn => "WITHDRAWN",
            };
            format!(
                "{verb}: member {} {} consent to {purpose} (text {}; tx {} in block {})",
                short(&member.to_hex()),
                match decision {
                    ConsentDecision::Granted => "gave",
                    ConsentDecision::Withdrawn => "took back",
                },
                short(&text_hash.to_hex()),
                short(&view.tx_id.to_hex()),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

async fn show(ctx: &Ctx, args: ShowArgs) -> Result<()> {
    let member = args.member.resolve()?;
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let org = match args.org {
        Some(org) => org,
        None => key_org(&client, &reader).await?,
    };
    let view = client
        .consent(Some(&org), &member, args.height)
        .await
        .map_err(|e| read_failed(e, &reader))?;
    let what = format!("{org}'s consent records of {member}");
    let certified = verifier
        .consent(&view)
        .await
        .map_err(|e| unverified(&what, e))?;
    emit(
        ctx.json,
        &json!({
            "org": org, "member": member, "consents": view.consents, "erasure": view.erasure,
            "erasure_proof": view.erasure_proof, "at": view.at, "verified": certified,
        }),
        || {
            let mut lines = consent_lines(&view);
            lines.push(proof_line(&certified));
            lines.join("\n")
        },
    );
    Ok(())
}

/// A failed consent read, explained; a 403 says who reads consent records.
fn read_failed(e: couponcactus_client::NodeClientError, reader: &LoadedKey) -> Failure {
    let failure = explain(e, Some(&reader.in_use()));
    if failure.code != "not_authorized" {
        return failure;
    }
    failure.hint(
        "consent records are read by the org's admins, issuers and terminals, and by \
         consortium auditors (with --org)",
    )
}

/// The records as an org's staff reads them: one line per purpose, then the erasure.
fn consent_lines(view: &ConsentView) -> Vec<String> {
    let mut lines = vec![format!(
        "{}'s consent records of member {} (height {}):",
        view.org, view.member, view.at.height
    )];
    for entry in &view.consents {
        lines.push(format!(
            "  {:<20} {}",
            entry.purpose.label(),
            decision_text(entry.record.as_ref())
        ));
    }
    lines.push(match &view.erasure {
        Some(r) => format!(
            "ERASED: {} recorded the erasure of the member's personal data at height {}: it \
             gives them nothing new",
            view.org, r.height
        ),
        None => "no erasure recorded".into(),
    });
    lines
}

/// `granted (text 3f2a…, height 12)`, `withdrawn (…)` or `nothing recorded`.
fn decision_text(record: Option<&ConsentRecord>) -> String {
    match record {
        None => "nothing recorded".into(),
        Some(r) => format!(
            "{} (text {}, height {})",
            if r.granted { "granted" } else { "withdrawn" },
            short(&r.text_hash.to_hex()),
            r.height
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    const HEX: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";

    fn parses(args: &[&str]) -> bool {
        let mut all = vec!["cactus", "consent"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).is_ok()
    }

    #[test]
    fn a_decision_names_one_member_a_purpose_and_the_text() {
        let grant = |extra: &[&str]| {
            let mut args = vec!["grant", "--key", "k"];
            args.extend_from_slice(extra);
            parses(&args)
        };
        assert!(grant(&[
            "--member",
            HEX,
            "--purpose",
            "marketing",
            "--text",
            "t.txt"
        ]));
        assert!(grant(&[
            "--customer",
            "alice",
            "--member-secret",
            "s.key",
            "--purpose",
            "partner:globex",
            "--text-hash",
            HEX
        ]));
        assert!(
            !grant(&["--purpose", "marketing", "--text", "t"]),
            "a member"
        );
        assert!(!grant(&["--member", HEX, "--text", "t"]), "a purpose");
        assert!(
            !grant(&["--member", HEX, "--purpose", "marketing"]),
            "a text"
        );
        assert!(!grant(&[
            "--member",
            HEX,
            "--purpose",
            "ads",
            "--text",
            "t"
        ]));
        assert!(!grant(&[
            "--customer",
            "alice",
            "--purpose",
            "profiling",
            "--text",
            "t"
        ]));
        assert!(!grant(&[
            "--member",
            HEX,
            "--purpose",
            "marketing",
            "--text",
            "t",
            "--text-hash",
            HEX
        ]));
        assert!(parses(&[
            "withdraw",
            "--key",
            "k",
            "--member",
            HEX,
            "--purpose",
            "profiling",
            "--text-hash",
            HEX
        ]));
        assert!(parses(&[
            "show", "--key", "k", "--member", HEX, "--org", "acme"
        ]));
        assert!(!parses(&["show", "--key", "k"]));
    }

    #[test]
    fn the_text_is_hashed_as_its_bytes_and_empty_texts_are_refused() {
        let dir = std::env::temp_dir().join(format!("consent-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v3.txt");
        std::fs::write(&path, b"I agree to offers by e-mail.\n").unwrap();
        let text = Text {
            text: Some(path.clone()),
            text_hash: None,
        };
        assert_eq!(
            text.hash().unwrap(),
            Hash32(*blake3::hash(b"I agree to offers by e-mail.\n").as_bytes())
        );
        std::fs::write(&path, b"").unwrap();
        assert!(text.hash().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_read_as_decisions() {
        assert_eq!(decision_text(None), "nothing recorded");
        let r = ConsentRecord {
            granted: false,
            text_hash: Hash32([0xab; 32]),
            at_ms: 0,
            height: 7,
        };
        assert_eq!(
            decision_text(Some(&r)),
            "withdrawn (text abababababababab…, height 7)"
        );
    }
}
