//! `cactus hold place|confirm|lift|list|show`: an org's fraud holds (issue 20) for the
//! people who decide them — a fraud analyst, an org admin — as `docs/intelligence.md`
//! describes them.
//!
//! A hold stops a member, one of the org's terminals or one of its codes on every node
//! (`on_hold`). An org admin's hold is in force at once (confirmed); the org's `risk` key
//! (its fraud engine) places one *pending review*, which stops just the same, and an org
//! admin confirms or lifts it: the decision is a signed tx, a label the models learn from.
//!
//! Targets: `--member HEX` (or `--member-name NAME --member-secret FILE`), `--terminal
//! KEY` (hex, a key file, or 8+ hex digits of a registered key), `--code CODE` (hashed
//! here with the chaincode's `code_hash`, read as the till reads it; the code itself is
//! never sent) or `--code-hash HEX` (as `list` shows a code's hold). Every hold and every
//! decision says why in `--note`, checked here (not blank, at most 280 bytes, no control
//! characters) before anything is signed.
//!
//! `show` is a proven read: the hold (or the proof there is none) verified against the
//! chain's genesis and a checkpoint certificate, as `cactus pool show` is. `list` reads the
//! node's current state (unproven: a listing's completeness is not provable); `--verify`
//! proves every entry at the listing's height. A rejection prints the chain's code and
//! message and exits 3.

use super::context::{Ctx, LoadedKey, load_key, member_secret, short};
use super::output::{Failure, emit, explain, unverified};
use super::pool::{key_org, proof_line};
use super::prechecks::{self, CodeCheck};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::execute::Event;
use couponcactus_client::chaincode::ids::{CodeHash, MemberId, OrgId, PublicKey};
use couponcactus_client::chaincode::risk::{
    HoldReason, HoldRecord, HoldStatus, HoldTarget, MAX_HOLD_NOTE_BYTES,
};
use couponcactus_client::chaincode::tx::{HoldDecision, PlaceHoldTx, ReviewHoldTx, TxKind};
use couponcactus_client::keys::parse_public_key;
use couponcactus_client::verify::{Certified, ProofVerifier, VerifyError, verify_hold_view};
use couponcactus_client::views::{HoldsView, TxView};
use couponcactus_client::{NodeClient, NodeClientError};
use serde_json::json;
use std::path::PathBuf;

/// `cactus hold …`.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Hold a member, a terminal or a code of your org: an org admin's hold is in force at
    /// once; the org's risk key places one pending an admin's review (it stops already).
    Place(PlaceArgs),
    /// Confirm a hold pending review (org admin): the suspicion was right; it stays.
    Confirm(ReviewArgs),
    /// Lift a hold (org admin): the member, terminal or code works again.
    Lift(ReviewArgs),
    /// Your org's holds in force (org admins, issuers, the risk key; auditors: --org).
    List(ListArgs),
    /// One target's hold, or that there is none, proven.
    Show(ShowArgs),
}

/// What a hold stops: exactly one of these.
#[derive(Debug, Args)]
#[group(id = "target", required = true, multiple = false)]
pub struct TargetChoice {
    /// A member's pseudonymous id (64 hex characters).
    #[arg(long, value_name = "HEX")]
    member: Option<MemberId>,
    /// The org's own customer id, hashed with --member-secret into the member id.
    #[arg(long, value_name = "NAME", requires = "member_secret")]
    member_name: Option<String>,
    /// A terminal key of your org: 64 hex characters, its key file, or 8+ hex digits.
    #[arg(long, value_name = "KEY")]
    terminal: Option<String>,
    /// A code of one of your org's pools, as the customer shows it (hashed here, never
    /// sent).
    #[arg(long, value_name = "CODE")]
    code: Option<String>,
    /// A code's hash (64 hex characters), as `cactus hold list` shows a code's hold.
    #[arg(long, value_name = "HEX")]
    code_hash: Option<CodeHash>,
}

/// The target and what resolving it may need.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    choice: TargetChoice,
    /// The org's member secret (with --member-name): a key file or 64 hex characters.
    #[arg(long, value_name = "FILE", env = "CACTUS_MEMBER_SECRET")]
    member_secret: Option<PathBuf>,
}

/// A hold's reason, as the chain names it.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ReasonArg {
    /// Too many redemptions or attempts too fast.
    Velocity,
    /// Many failed validations: someone guessing codes.
    Enumeration,
    /// Machine-like timing.
    Bot,
    /// A code used by someone, or somewhere, it was not meant for.
    Leakage,
    /// Redemptions at stores too far apart for the time between them.
    #[value(alias = "impossible-travel")]
    ImpossibleTravel,
    /// A terminal redeeming for others (staff fraud).
    Collusion,
    /// A canary code, which must never be redeemed, was tried.
    Canary,
    /// Asked by the customer (a lost card, a stolen account).
    #[value(alias = "customer-request")]
    CustomerRequest,
    /// Anything else: say what in --note.
    Other,
}

impl From<ReasonArg> for HoldReason {
    fn from(r: ReasonArg) -> HoldReason {
        match r {
            ReasonArg::Velocity => HoldReason::Velocity,
            ReasonArg::Enumeration => HoldReason::Enumeration,
            ReasonArg::Bot => HoldReason::Bot,
            ReasonArg::Leakage => HoldReason::Leakage,
            ReasonArg::ImpossibleTravel => HoldReason::ImpossibleTravel,
            ReasonArg::Collusion => HoldReason::Collusion,
            ReasonArg::Canary => HoldReason::Canary,
            ReasonArg::CustomerRequest => HoldReason::CustomerRequest,
            ReasonArg::Other => HoldReason::Other,
        }
    }
}

/// `cactus hold place`.
#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// An org admin's key file (in force at once) or the org's risk key (pending review).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    #[command(flatten)]
    target: Target,
    /// Why.
    #[arg(long, value_enum)]
    reason: ReasonArg,
    /// Why, for the reviewer: the evidence, the score (1 to 280 bytes, one line).
    #[arg(long, value_name = "TEXT")]
    note: String,
}

/// `cactus hold confirm` and `cactus hold lift`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// An org admin's key file.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    #[command(flatten)]
    target: Target,
    /// Why (kept on the chain with the decision; 1 to 280 bytes, one line).
    #[arg(long, value_name = "TEXT")]
    note: String,
}

/// `cactus hold list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// An org admin's, issuer's or risk key file of the org (or an auditor's).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The org (default: the key's own; another org: auditors only).
    #[arg(long, value_name = "ORG")]
    org: Option<OrgId>,
    /// Prove every hold listed at the listing's height (one read per hold) and tie that
    /// height to a checkpoint certificate.
    #[arg(long)]
    verify: bool,
}

/// `cactus hold show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An org admin's, issuer's or risk key file of the org (or an auditor's).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    #[command(flatten)]
    target: Target,
    /// The org (default: the key's own; another org: auditors only).
    #[arg(long, value_name = "ORG")]
    org: Option<OrgId>,
    /// Read at this height (default: the latest).
    #[arg(long)]
    height: Option<u64>,
}

/// Runs a `cactus hold` subcommand.
pub async fn run(ctx: &Ctx, command: HoldCommand) -> Result<()> {
    match command {
        HoldCommand::Place(args) => place(ctx, args).await,
        HoldCommand::Confirm(args) => review(ctx, args, HoldDecision::Confirm).await,
        HoldCommand::Lift(args) => review(ctx, args, HoldDecision::Lift).await,
        HoldCommand::List(args) => list(ctx, args).await,
        HoldCommand::Show(args) => show(ctx, args).await,
    }
}

impl Target {
    /// The hold target: a code is read as the till reads it and hashed here.
    async fn resolve(&self, client: &NodeClient) -> Result<HoldTarget> {
        let c = &self.choice;
        if let Some(m) = c.member {
            return Ok(HoldTarget::Member(m));
        }
        if let Some(name) = &c.member_name {
            let path = self.member_secret.as_ref().ok_or_else(|| {
                Failure::new("invalid_input", "--member-name needs --member-secret FILE")
            })?;
            return Ok(HoldTarget::Member(member_secret(path)?.member_id(name)));
        }
        if let Some(text) = &c.terminal {
            return Ok(HoldTarget::Terminal(terminal_key(client, text).await?));
        }
        if let Some(code) = &c.code {
            let read = prechecks::redeem_code(client, code, None, CodeCheck::ReadOnly).await?;
            return Ok(HoldTarget::Code(code_hash(&read)));
        }
        match c.code_hash {
            Some(h) => Ok(HoldTarget::Code(h)),
            None => Err(Failure::new(
                "invalid_input",
                "what to hold? pass --member, --member-name, --terminal, --code or --code-hash",
            )
            .into()),
        }
    }
}

/// A terminal key given in full, as a key file, or as a prefix of a registered key.
async fn terminal_key(client: &NodeClient, text: &str) -> Result<PublicKey> {
    match parse_public_key(text) {
        Ok(key) => Ok(key),
        Err(_) if !std::path::Path::new(text).exists() => {
            super::reads::resolve_key_arg(client, text).await
        }
        Err(e) => Err(Failure::new("invalid_input", format!("--terminal: {e}")).into()),
    }
}

/// A note the chain accepts (it says why: not blank, at most 280 bytes, one line), or the
/// reason it would not.
fn check_note(note: &str) -> Result<(), Failure> {
    if note.trim().is_empty() {
        return Err(Failure::new(
            "invalid_input",
            "--note is blank: a hold and each decision on it say why (the evidence, the score, \
             who asked)",
        ));
    }
    if note.len() > MAX_HOLD_NOTE_BYTES {
        return Err(Failure::new(
            "invalid_input",
            format!(
                "--note is {} bytes: a hold's note is at most {MAX_HOLD_NOTE_BYTES}",
                note.len()
            ),
        )
        .hint("keep the evidence short; the tx ids and scores say the rest"));
    }
    if let Some(c) = note.chars().find(|c| c.is_control()) {
        return Err(Failure::new(
            "invalid_input",
            format!("--note has a control character ({c:?}): write it on one line"),
        ));
    }
    Ok(())
}

/// The key, a client reading as it, and the resolved target.
async fn open(
    ctx: &Ctx,
    key: &std::path::Path,
    target: &Target,
) -> Result<(LoadedKey, NodeClient, HoldTarget)> {
    let signer = load_key(key)?;
    let client = ctx.connect_as(&signer).await?;
    let target = target.resolve(&client).await?;
    Ok((signer, client, target))
}

/// A failed hold read, explained; a 403 says who reads holds.
fn read_failed(e: NodeClientError, reader: &LoadedKey) -> Failure {
    let failure = explain(e, Some(&reader.in_use()));
    if failure.code != "not_authorized" {
        return failure;
    }
    failure.hint(
        "holds are read by the org's admins, issuers and risk key, and by consortium auditors \
         (with --org); terminal and partner keys never",
    )
}

/// The options that name `target` again, for the next command to type.
fn target_flags(target: &HoldTarget) -> String {
    match target {
        HoldTarget::Member(m) => format!("--member {m}"),
        HoldTarget::Terminal(k) => format!("--terminal {k}"),
        HoldTarget::Code(h) => format!("--code-hash {h}"),
    }
}

/// A block time as ISO 8601 in UTC, to the second: `2026-12-05T04:20:11Z`.
fn iso_time(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// Where a committed tx is: `tx 3f2a… in block 12`.
fn tx_place(view: &TxView) -> String {
    format!(
        "tx {} in block {}",
        short(&view.tx_id.to_hex()),
        view.height.unwrap_or(0)
    )
}

async fn place(ctx: &Ctx, args: PlaceArgs) -> Result<()> {
    check_note(&args.note)?;
    let (signer, client, target) = open(ctx, &args.key, &args.target).await?;
    let reason = HoldReason::from(args.reason);
    let kind = TxKind::PlaceHold(PlaceHoldTx {
        target: target.clone(),
        reason,
        note: args.note.clone(),
    });
    let tx = client.tx_builder().sign(&signer.key, kind);
    let view = ctx.submit(&client, &tx, &signer).await?;
    let pending = view.events().unwrap_or_default().iter().any(|e| {
        matches!(
            e,
            Event::HoldPlaced {
                pending_review: true,
                ..
            }
        )
    });
    let status = if pending {
        HoldStatus::PendingReview
    } else {
        HoldStatus::Confirmed
    };
    emit(
        ctx.json,
        &json!({ "tx": view, "target": target, "reason": reason, "status": status }),
        || {
            let flags = target_flags(&target);
            let what = if pending {
                format!(
                    "PENDING REVIEW: it stops already; an org admin decides with \
                     `cactus hold confirm {flags}` or `cactus hold lift {flags}`"
                )
            } else {
                format!("in force (confirmed); `cactus hold lift {flags}` ends it")
            };
            format!(
                "HELD {target}: {}, {what} ({})",
                reason.name(),
                tx_place(&view)
            )
        },
    );
    Ok(())
}

async fn review(ctx: &Ctx, args: ReviewArgs, decision: HoldDecision) -> Result<()> {
    check_note(&args.note)?;
    let (signer, client, target) = open(ctx, &args.key, &args.target).await?;
    let kind = TxKind::ReviewHold(ReviewHoldTx {
        target: target.clone(),
        decision,
        note: args.note.clone(),
    });
    let tx = client.tx_builder().sign(&signer.key, kind);
    let view = ctx.submit(&client, &tx, &signer).await?;
    let lifted = view
        .events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            Event::HoldLifted {
                reason,
                was_pending,
                ..
            } => Some((*reason, *was_pending)),
            _ => None,
        });
    emit(
        ctx.json,
        &json!({ "tx": view, "target": target, "decision": decision }),
        || match lifted {
            Some((reason, was_pending)) => format!(
                "LIFTED the hold on {target} ({}{}): it works again ({})",
                reason.name(),
                if was_pending {
                    ", was pending review"
                } else {
                    ""
                },
                tx_place(&view)
            ),
            None => format!(
                "CONFIRMED the hold on {target}: it stays in force ({})",
                tx_place(&view)
            ),
        },
    );
    Ok(())
}

async fn list(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let view = client
        .holds(args.org.as_ref())
        .await
        .map_err(|e| read_failed(e, &reader))?;
    let certified = if args.verify {
        let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
        let verifier = ProofVerifier::new(&client, &anchor);
        verify_listing(&client, &verifier, &view).await?
    } else {
        None
    };
    emit(
        ctx.json,
        &json!({ "holds": view, "verified": certified, "proven": args.verify }),
        || list_text(&view, args.verify, certified.as_ref()),
    );
    Ok(())
}

/// Proves every listed hold at the listing's height (its record is the one listed) and
/// ties that height to a certificate; `None` when nothing is listed.
async fn verify_listing(
    client: &NodeClient,
    verifier: &ProofVerifier<'_>,
    view: &HoldsView,
) -> Result<Option<Certified>> {
    let mut header = None;
    for entry in &view.holds {
        let what = format!("{}'s hold on {}", view.org, entry.target);
        let proven = client
            .hold(&view.org, &entry.target, Some(view.height))
            .await
            .map_err(|e| explain(e, None))?;
        let checked = verify_hold_view(&proven).map_err(|e| unverified(&what, e))?;
        if proven.hold != Some(entry.record()) {
            let why = "the listed hold is not the proven one at the listing's height";
            let e = VerifyError::Mismatch {
                what: what.clone(),
                why: why.into(),
            };
            return Err(unverified(&what, e));
        }
        header = Some(checked.clone());
    }
    let Some(header) = header else {
        return Ok(None);
    };
    let certified = verifier
        .certify_header(&header)
        .await
        .map_err(|e| unverified(&format!("{}'s holds", view.org), e))?;
    Ok(Some(certified))
}

fn list_text(view: &HoldsView, verify: bool, certified: Option<&Certified>) -> String {
    let when = iso_time(view.time_ms);
    let mut lines = vec![match view.holds.len() {
        0 => format!(
            "{} holds nothing (height {}, {when})",
            view.org, view.height
        ),
        n => format!(
            "{} holds {n} in force{} (height {}, {when}):",
            view.org,
            if view.truncated { " and more" } else { "" },
            view.height
        ),
    }];
    let pending = view
        .holds
        .iter()
        .filter(|h| h.status == HoldStatus::PendingReview)
        .count();
    if pending > 0 {
        lines.push(format!(
            "{pending} pending review: an org admin confirms or lifts each"
        ));
    }
    for entry in &view.holds {
        lines.push(String::new());
        lines.extend(hold_lines(&entry.target, &entry.record()));
    }
    lines.push(String::new());
    lines.push(match (verify, certified) {
        (true, Some(c)) => format!("every hold listed: {}", proof_line(c)),
        (true, None) => "nothing listed to prove".into(),
        (false, _) => "listed from the node's state, unproven: `--verify` proves each hold, \
                       `cactus hold show …` one"
            .into(),
    });
    if view.truncated {
        lines.push("more holds are in force than the node lists (10,000)".into());
    }
    lines.join("\n")
}

/// A hold as a fraud analyst reads it: what, why, where it stands, who placed it when.
fn hold_lines(target: &HoldTarget, hold: &HoldRecord) -> Vec<String> {
    let status = match (hold.status, hold.confirmed_by) {
        (HoldStatus::PendingReview, _) => {
            "PENDING REVIEW (placed by the org's fraud engine; it stops already)".to_string()
        }
        (HoldStatus::Confirmed, Some(admin)) => {
            format!(
                "CONFIRMED by org admin {} on review",
                short(&admin.to_hex())
            )
        }
        (HoldStatus::Confirmed, None) => "CONFIRMED (placed by an org admin)".to_string(),
    };
    let note = if hold.note.is_empty() {
        "(none)".to_string()
    } else {
        format!("{:?}", hold.note)
    };
    vec![
        format!("{target}"),
        format!("  reason   {}", hold.reason.name()),
        format!("  status   {status}"),
        format!(
            "  placed   {} by {} (tx {})",
            iso_time(hold.placed_ms),
            short(&hold.placed_by.to_hex()),
            short(&hold.placed_tx.to_hex())
        ),
        format!("  note     {note}"),
    ]
}

async fn show(ctx: &Ctx, args: ShowArgs) -> Result<()> {
    let (reader, client, target) = open(ctx, &args.key, &args.target).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let org = match args.org {
        Some(org) => org,
        None => key_org(&client, &reader).await?,
    };
    let view = client
        .hold(&org, &target, args.height)
        .await
        .map_err(|e| read_failed(e, &reader))?;
    let what = format!("{org}'s hold on {target}");
    let certified = verifier
        .hold(&view)
        .await
        .map_err(|e| unverified(&what, e))?;
    emit(
        ctx.json,
        &json!({
            "org": org, "target": target, "held": view.hold.is_some(), "hold": view.hold,
            "at": view.at, "proof": view.proof, "verified": certified,
        }),
        || {
            let mut lines = match &view.hold {
                Some(hold) => hold_lines(&target, hold),
                None => vec![format!("{org} does not hold {target}: no hold")],
            };
            lines.push(proof_line(&certified));
            lines.join("\n")
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    const HEX: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";

    fn parses(args: &[&str]) -> bool {
        let mut all = vec!["cactus"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).is_ok()
    }

    #[test]
    fn a_hold_names_exactly_one_target() {
        let place = [
            "hold", "place", "--key", "k", "--reason", "velocity", "--note", "x",
        ];
        let with = |extra: &[&str]| {
            let mut args = place.to_vec();
            args.extend_from_slice(extra);
            parses(&args)
        };
        assert!(with(&["--member", HEX]));
        assert!(with(&[
            "--member-name",
            "alice",
            "--member-secret",
            "s.key"
        ]));
        assert!(with(&["--terminal", "3f2a8c1d"]));
        assert!(with(&["--code", "7K2M-9QXR-4TPW"]));
        assert!(with(&["--code-hash", HEX]));
        assert!(!with(&[]), "a target is required");
        assert!(!with(&["--member", HEX, "--code", "X"]), "one target only");
        assert!(
            !with(&["--member-name", "alice"]),
            "a name needs the secret"
        );
        assert!(!with(&["--member", "not-hex"]));
        assert!(parses(&[
            "hold", "lift", "--key", "k", "--member", HEX, "--note", "ok"
        ]));
        assert!(
            !parses(&["hold", "lift", "--key", "k", "--member", HEX]),
            "a decision says why"
        );
        assert!(parses(&[
            "hold",
            "confirm",
            "--key",
            "k",
            "--code-hash",
            HEX,
            "--note",
            "ok"
        ]));
        assert!(parses(&[
            "hold", "list", "--key", "k", "--org", "acme", "--verify"
        ]));
        assert!(parses(&[
            "hold",
            "show",
            "--key",
            "k",
            "--terminal",
            HEX,
            "--height",
            "4"
        ]));
        assert!(!parses(&["hold", "show", "--key", "k"]));
        let risk = [
            "keys", "register", "--key", "a", "--public", "p", "--role", "risk",
        ];
        assert!(
            parses(&risk),
            "the fraud engine's key is registered like others"
        );
    }

    #[test]
    fn reasons_are_the_chains_names_and_notes_are_checked_before_signing() {
        for (name, reason) in [
            ("impossible_travel", HoldReason::ImpossibleTravel),
            ("impossible-travel", HoldReason::ImpossibleTravel),
            ("customer_request", HoldReason::CustomerRequest),
            ("canary", HoldReason::Canary),
        ] {
            let arg = ReasonArg::from_str(name, false).unwrap();
            assert_eq!(HoldReason::from(arg), reason);
            assert!(HoldReason::from(arg).name().starts_with(&name[..5]));
        }
        assert!(check_note("6 redemptions in 10 min, score 0.93").is_ok());
        assert!(check_note("").is_err());
        assert!(check_note("   ").is_err());
        assert!(check_note(&"x".repeat(MAX_HOLD_NOTE_BYTES + 1)).is_err());
        assert!(check_note("two\nlines").is_err());
    }

    #[test]
    fn a_pending_hold_reads_as_one() {
        let hold = HoldRecord {
            reason: HoldReason::Velocity,
            note: "6 in 10 min".into(),
            placed_by: PublicKey([7; 32]),
            placed_tx: couponcactus_client::chaincode::ids::TxId([9; 32]),
            placed_ms: 1_767_225_600_000,
            status: HoldStatus::PendingReview,
            confirmed_by: None,
        };
        let target = HoldTarget::Member(HEX.parse().unwrap());
        let text = hold_lines(&target, &hold).join("\n");
        assert!(text.starts_with(&format!("member {HEX}")), "{text}");
        assert!(text.contains("reason   velocity"), "{text}");
        assert!(text.contains("PENDING REVIEW"), "{text}");
        assert!(
            text.contains("placed   2026-01-01T00:00:00Z by 0707070707070707…"),
            "{text}"
        );
        assert!(text.contains("note     \"6 in 10 min\""), "{text}");
        assert_eq!(target_flags(&target), format!("--member {HEX}"));
    }
}
