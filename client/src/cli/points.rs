//! Loyalty balances (issue 19): `cactus program set|show|liability|settlement`, the
//! balance movements `cactus points earn|load|spend|void|adjust|approve|reject|transfer|
//! withdraw|withdrawal|engage|release|expire`, `cactus balance` and `cactus checkout`.
//!
//! Amounts of a money segment are read in the program's currency (`--amount 20.00`, or
//! `--amount-minor 2000`); points are whole numbers (`--amount 150`). The program is read
//! first (a proven read with the same key) for its currency and units, so a wrong segment
//! or unit is refused before anything is signed. Every read is verified against the
//! chain's genesis and a checkpoint certificate, as `cactus pool show` is.

use super::context::{Ctx, LoadedKey, MemberArgs, load_key, member_from, short};
use super::output::{Failure, emit, explain, unverified};
use super::pool::{key_org, proof_line};
use super::reads::resolve_tx_arg;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use couponcactus_client::NodeClient;
use couponcactus_client::amounts::{amount_either, format_minor};
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::execute::{BalanceOp, Event};
use couponcactus_client::chaincode::ids::{MemberId, OrgId};
use couponcactus_client::chaincode::loyalty::{
    AdjustReason, Direction, ProgramRecord, ProgramSpec, Segment, Unit,
};
use couponcactus_client::chaincode::tx::{
    AdjustTx, BalanceSpend, CheckoutTx, DecideAdjustmentTx, DecideWithdrawalTx, EarnTx, EngageTx,
    ExpireBalancesTx, LoadTx, RedeemTarget, ReleasePointsTx, RequestWithdrawalTx, SetProgramTx,
    SpendTx, TransferBalanceTx, TxKind, VoidTx, WithdrawalDecision,
};
use couponcactus_client::verify::ProofVerifier;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `cactus program …`.
#[derive(Debug, Subcommand)]
pub enum ProgramCommand {
    /// Set or change your org's loyalty program from a JSON or TOML file (org admin); the
    /// file holds a program spec as docs/encoding.md describes it.
    Set {
        /// An org admin's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The spec: `.json` or `.toml`.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// An org's program, proven.
    Show(ReadArgs),
    /// What the program owes its members per segment (the sum of balances), proven.
    Liability(ReadArgs),
    /// What a partner org and the program owe each other, proven.
    Settlement {
        #[command(flatten)]
        read: ReadArgs,
        /// The partner org.
        #[arg(long)]
        partner: OrgId,
    },
}

/// Options of a proven read.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The reader's key file.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The program's org (default: the key's org).
    #[arg(long, value_name = "ORG")]
    program: Option<OrgId>,
    /// Read at this height (default: the latest).
    #[arg(long)]
    height: Option<u64>,
}

/// `cactus balance`.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    member: MemberArgs,
}

/// Who signs a movement and in which program.
#[derive(Debug, Args)]
pub struct Signer {
    /// The signer's key file (a terminal for earn and spend).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The program's org (default: the key's org; a partner's terminal names it).
    #[arg(long, value_name = "ORG")]
    program: Option<OrgId>,
}

/// An amount in a segment's unit.
#[derive(Debug, Args)]
pub struct Amount {
    /// In the segment's unit: money in the program's currency (20.00), points whole (150).
    #[arg(long, value_name = "AMOUNT", required_unless_present = "amount_minor")]
    amount: Option<String>,
    /// Money in minor units instead (2000 = 20.00 EUR).
    #[arg(long, value_name = "MINOR", conflicts_with = "amount")]
    amount_minor: Option<u64>,
}

/// A segment on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SegmentArg {
    /// Money the member paid in.
    CashDeposit,
    /// A gift balance.
    Gift,
    /// Points.
    Mileage,
    /// Store credit from refunds.
    RefundCredit,
}

impl From<SegmentArg> for Segment {
    fn from(s: SegmentArg) -> Segment {
        match s {
            SegmentArg::CashDeposit => Segment::CashDeposit,
            SegmentArg::Gift => Segment::Gift,
            SegmentArg::Mileage => Segment::Mileage,
            SegmentArg::RefundCredit => Segment::RefundCredit,
        }
    }
}

/// What `points withdrawal` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WithdrawalAction {
    /// Approve a requested withdrawal.
    Approve,
    /// Record an approved withdrawal as paid.
    Paid,
    /// Reject it: the amount goes back to the member's lots.
    Reject,
}

/// An adjustment's reason on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReasonArg {
    /// A gesture for a customer.
    Goodwill,
    /// A mistake corrected.
    Correction,
    /// Carried over from another system.
    Migration,
    /// Taken back for abuse.
    Fraud,
    /// Anything else (say what in --note).
    Other,
}

impl From<ReasonArg> for AdjustReason {
    fn from(r: ReasonArg) -> AdjustReason {
        match r {
            ReasonArg::Goodwill => AdjustReason::Goodwill,
            ReasonArg::Correction => AdjustReason::Correction,
            ReasonArg::Migration => AdjustReason::Migration,
            ReasonArg::Fraud => AdjustReason::Fraud,
            ReasonArg::Other => AdjustReason::Other,
        }
    }
}

/// `cactus checkout`: one order at the till.
#[derive(Debug, Args)]
pub struct CheckoutArgs {
    #[command(flatten)]
    signer: Signer,
    #[command(flatten)]
    member: MemberArgs,
    /// The order's reference at your org (an order checks out once).
    #[arg(long)]
    order_ref: String,
    /// The basket before any discount, in the program's currency (80.00).
    #[arg(long, value_name = "AMOUNT", required_unless_present = "total_minor")]
    total: Option<String>,
    /// The same in minor units.
    #[arg(long, value_name = "MINOR", conflicts_with = "total")]
    total_minor: Option<u64>,
    /// The amount of one category, CATEGORY=AMOUNT (repeat): excluded categories get no
    /// discount and earn no points.
    #[arg(long = "line", value_name = "CATEGORY=AMOUNT")]
    lines: Vec<String>,
    /// A coupon code the customer presents (repeat; applied in the order given).
    #[arg(long = "code", value_name = "CODE")]
    codes: Vec<String>,
    /// A wallet coupon, POOL/SERIAL (repeat; after the codes).
    #[arg(long = "token", value_name = "POOL/SERIAL")]
    tokens: Vec<couponcactus_client::chaincode::ids::TokenId>,
    /// A segment the balance pays from (repeat; one unit).
    #[arg(long = "pay-segment", value_enum, requires = "pay")]
    pay_segments: Vec<SegmentArg>,
    /// What the balance pays, in the segments' unit (money 20.00, or whole points).
    #[arg(long, value_name = "AMOUNT", requires = "pay_segments")]
    pay: Option<String>,
    /// Earn no points on what is left.
    #[arg(long)]
    no_earn: bool,
}

/// `cactus points …`.
#[derive(Debug, Subcommand)]
pub enum PointsCommand {
    /// Earn points on an order, once per order reference (a terminal).
    Earn {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        member: MemberArgs,
        /// The order's reference at your org (1 to 64 printable characters).
        #[arg(long)]
        order_ref: String,
        /// What the member paid, in the program's currency (80.00).
        #[arg(long, value_name = "AMOUNT", required_unless_present = "total_minor")]
        total: Option<String>,
        /// The same in minor units.
        #[arg(long, value_name = "MINOR", conflicts_with = "total")]
        total_minor: Option<u64>,
    },
    /// Load stored value: a deposit, a gift or store credit (staff, or a terminal).
    Load {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        member: MemberArgs,
        /// The segment (not mileage: points are earned or adjusted).
        #[arg(long, value_enum)]
        segment: SegmentArg,
        #[command(flatten)]
        amount: Amount,
        /// The payment or gift it comes from.
        #[arg(long)]
        reference: String,
    },
    /// Spend from a member's balances, in the program's spend order (a terminal).
    Spend {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        member: MemberArgs,
        /// A segment to draw from (repeat; all of one unit).
        #[arg(long = "segment", value_enum, required = true)]
        segments: Vec<SegmentArg>,
        #[command(flatten)]
        amount: Amount,
        /// The order it pays for.
        #[arg(long)]
        order_ref: String,
    },
    /// Undo an earn, load, spend or transfer exactly once (its org: a terminal of the same
    /// store, or an org admin).
    Void {
        /// The signer's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The tx that moved the balance (its id or 8+ hex digits of it).
        #[arg(long, value_name = "TX_ID")]
        tx: String,
    },
    /// Credit or debit a balance with a reason (org admin); above the program's threshold
    /// it waits for a second admin (`points approve`).
    Adjust {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        member: MemberArgs,
        /// The segment.
        #[arg(long, value_enum)]
        segment: SegmentArg,
        /// Take the amount away instead of adding it.
        #[arg(long)]
        debit: bool,
        #[command(flatten)]
        amount: Amount,
        /// Why.
        #[arg(long, value_enum)]
        reason: ReasonArg,
        /// What the auditor reads (1 to 140 bytes).
        #[arg(long)]
        note: String,
    },
    /// Approve a pending adjustment (another org admin than the one who asked).
    Approve {
        /// An org admin's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The adjust tx's id (or 8+ hex digits).
        #[arg(long, value_name = "TX_ID")]
        adjustment: String,
    },
    /// Refuse a pending adjustment.
    Reject {
        /// An org admin's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The adjust tx's id (or 8+ hex digits).
        #[arg(long, value_name = "TX_ID")]
        adjustment: String,
    },
    /// Move balance from one member to another, where the program allows it (staff).
    Transfer {
        #[command(flatten)]
        signer: Signer,
        /// Who gives (member id, or customer id with --member-secret).
        #[arg(long)]
        from: String,
        /// Who receives.
        #[arg(long)]
        to: String,
        /// The org's member secret, to give customer ids.
        #[arg(long, value_name = "FILE", env = "CACTUS_MEMBER_SECRET")]
        member_secret: Option<PathBuf>,
        /// The segment.
        #[arg(long, value_enum)]
        segment: SegmentArg,
        #[command(flatten)]
        amount: Amount,
    },
    /// Ask to pay stored value out (cash_deposit or refund_credit; staff): the amount is
    /// held until a second admin approves it (`withdrawal approve`) and it is paid
    /// (`withdrawal paid`), or it is rejected and goes back.
    Withdraw {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        member: MemberArgs,
        /// The segment.
        #[arg(long, value_enum)]
        segment: SegmentArg,
        #[command(flatten)]
        amount: Amount,
        /// The member's request (ticket or form number).
        #[arg(long)]
        reference: String,
    },
    /// Decide a withdrawal: approve (an org admin other than the requester), paid (with
    /// the payment's reference), or reject (the amount goes back).
    Withdrawal {
        /// The signer's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The request tx's id (or 8+ hex digits).
        #[arg(long, value_name = "TX_ID")]
        id: String,
        /// What to do.
        #[arg(value_enum)]
        action: WithdrawalAction,
        /// With `paid`: the bank transfer or payout id.
        #[arg(long, required_if_eq("action", "paid"))]
        payment: Option<String>,
    },
    /// Award an engagement rule's points (a review, a sign-up), once per reference; a
    /// referral names the referred member, who is referred once (staff, or a terminal).
    Engage {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        member: MemberArgs,
        /// The rule's action (`cactus program show` lists them).
        #[arg(long)]
        action: String,
        /// What the action was: the review's or the sign-up's id (not for a referral).
        #[arg(
            long,
            required_unless_present = "referred",
            conflicts_with = "referred"
        )]
        reference: Option<String>,
        /// For a referral: the referred member's id (or customer id, with
        /// --member-secret).
        #[arg(long, value_name = "MEMBER")]
        referred: Option<String>,
    },
    /// Make the pending points of an earn or a checkout spendable: the event the program
    /// waits for came (its org: a terminal of the same store, or an org admin).
    Release {
        /// The signer's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The earn or checkout tx (its id or 8+ hex digits of it).
        #[arg(long, value_name = "TX_ID")]
        tx: String,
    },
    /// Expire what is due on members' balances now (staff; at most 64 members).
    Expire {
        #[command(flatten)]
        signer: Signer,
        /// A member id (repeat).
        #[arg(long = "member", required = true)]
        members: Vec<MemberId>,
    },
}

/// Runs `cactus program …`.
pub async fn program(ctx: &Ctx, command: ProgramCommand) -> Result<()> {
    match command {
        ProgramCommand::Set { key, file } => set_program(ctx, &key, &file).await,
        ProgramCommand::Show(read) => show_program(ctx, read).await,
        ProgramCommand::Liability(read) => liability(ctx, read).await,
        ProgramCommand::Settlement { read, partner } => settlement(ctx, read, partner).await,
    }
}

/// A program spec from a `.json` or `.toml` file.
fn read_spec(file: &Path) -> Result<ProgramSpec> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let toml = file.extension().is_some_and(|e| e == "toml");
    let parsed = if toml {
        toml::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        Failure::new(
            "invalid_input",
            format!("{} is not a program spec: {e}", file.display()),
        )
        .into()
    })
}

async fn set_program(ctx: &Ctx, key: &Path, file: &Path) -> Result<()> {
    let spec = read_spec(file)?;
    let signer = load_key(key)?;
    let client = ctx.connect_as(&signer).await?;
    let tx = client.tx_builder().sign(
        &signer.key,
        TxKind::SetProgram(SetProgramTx { spec: spec.clone() }),
    );
    let view = ctx.submit(&client, &tx, &signer).await?;
    let events = view.events().unwrap_or_default().to_vec();
    emit(ctx.json, &json!({ "tx": view, "spec": spec }), || {
        let version = events.iter().find_map(|e| match e {
            Event::ProgramSet { version, .. } => Some(*version),
            _ => None,
        });
        format!(
            "program {:?} set, version {} (tx {}, block {})",
            spec.name,
            version.unwrap_or(0),
            short(&view.tx_id.to_hex()),
            view.height.unwrap_or(0)
        )
    });
    Ok(())
}

async fn program_org(client: &NodeClient, key: &LoadedKey, given: Option<OrgId>) -> Result<OrgId> {
    match given {
        Some(org) => Ok(org),
        None => key_org(client, key).await,
    }
}

async fn show_program(ctx: &Ctx, read: ReadArgs) -> Result<()> {
    let reader = load_key(&read.key)?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let org = program_org(&client, &reader, read.program).await?;
    let view = match client.program(&org, read.height).await {
        Ok(view) => view,
        Err(e) => {
            let in_use = reader.in_use();
            return Err(super::reads::not_found(ctx, &verifier, e, Some(&in_use)).await);
        }
    };
    let certified = verifier
        .program(&view)
        .await
        .map_err(|e| unverified(&format!("{org}'s program"), e))?;
    emit(
        ctx.json,
        &json!({ "program": view.program, "at": view.at, "proof": view.proof, "verified": certified }),
        || {
            format!(
                "{}\n{}",
                program_text(&view.program),
                proof_line(&certified)
            )
        },
    );
    Ok(())
}

fn program_text(p: &ProgramRecord) -> String {
    let spec = &p.spec;
    let mut out = format!(
        "program {:?} of {} (version {}, {})\n",
        spec.name, p.org, p.version, spec.currency
    );
    for s in &spec.segments {
        out.push_str(&format!(
            "  {:<14} priority {}  expiry {:?}\n",
            s.segment.name(),
            s.spend_priority,
            s.expiry
        ));
    }
    let e = &spec.earn;
    let pending = match (e.release_on_event, e.pending_days) {
        (true, 0) => "pending until released".to_string(),
        (true, days) => format!("pending until released or {days} days"),
        (false, days) => format!("pending {days} days"),
    };
    out.push_str(&format!(
        "  earn {} point(s) per {} minor units, {pending}, per-tx cap {:?}\n",
        e.points, e.per_minor, e.per_tx_cap
    ));
    let tiers: Vec<String> = spec
        .tiers
        .tiers
        .iter()
        .map(|t| format!("{} ≥{}", t.name, t.min_points))
        .collect();
    if !tiers.is_empty() {
        let keep = if spec.tiers.keep_on_rule_change {
            " (never downgraded by a rule change)"
        } else {
            ""
        };
        out.push_str(&format!("  tiers {}{keep}\n", tiers.join(", ")));
    }
    for r in &spec.engagement {
        let referred = r
            .referred_points
            .map(|p| format!(" (+{p} to the referred member)"))
            .unwrap_or_default();
        let limit = match (r.limit, r.window_days) {
            (0, _) => String::new(),
            (n, 0) => format!(", at most {n} per member"),
            (n, d) => format!(", at most {n} per member in {d} days"),
        };
        out.push_str(&format!(
            "  engagement {}: {} points{referred}{limit}\n",
            r.action, r.points
        ));
    }
    out.push_str(&format!(
        "  adjustments above {} need a second admin; transfers {}; partners {}",
        spec.adjust_approval_above,
        if spec.transfers { "allowed" } else { "off" },
        if spec.partner_orgs.is_empty() {
            "none".to_string()
        } else {
            spec.partner_orgs
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    out
}

/// `amount` of `segment` as text: money with its currency, points as points.
fn amount_text(program: &ProgramRecord, segment: Segment, amount: u64) -> String {
    match program.spec.segment(segment).map(|r| r.unit) {
        Ok(Unit::Money { currency }) => format_minor(amount, currency),
        _ => format!("{amount} points"),
    }
}

fn per_segment(program: &ProgramRecord, map: &BTreeMap<Segment, u64>) -> String {
    if map.is_empty() {
        return "nothing".into();
    }
    map.iter()
        .map(|(s, a)| format!("{} {}", s.name(), amount_text(program, *s, *a)))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn liability(ctx: &Ctx, read: ReadArgs) -> Result<()> {
    let reader = load_key(&read.key)?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let org = program_org(&client, &reader, read.program).await?;
    let program = client
        .program(&org, read.height)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let view = client
        .liability(&org, read.height)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let certified = verifier
        .liability(&view)
        .await
        .map_err(|e| unverified(&format!("{org}'s liability"), e))?;
    emit(
        ctx.json,
        &json!({ "program": org, "liability": view.liability, "at": view.at, "proof": view.proof, "verified": certified }),
        || {
            format!(
                "{org} owes its members: {}\n{}",
                per_segment(&program.program, &view.liability.by_segment),
                proof_line(&certified)
            )
        },
    );
    Ok(())
}

async fn settlement(ctx: &Ctx, read: ReadArgs, partner: OrgId) -> Result<()> {
    let reader = load_key(&read.key)?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let org = program_org(&client, &reader, read.program).await?;
    let view = client
        .settlement(&org, &partner, read.height)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let certified = verifier
        .settlement(&view)
        .await
        .map_err(|e| unverified(&format!("the settlement of {partner} with {org}"), e))?;
    emit(
        ctx.json,
        &json!({ "program": org, "partner": partner, "settlement": view.settlement, "net": view.net, "at": view.at, "proof": view.proof, "verified": certified }),
        || {
            let mut lines = vec![format!("{partner} and {org}'s program:")];
            for (segment, net) in &view.net {
                let (who, amount) = if *net >= 0 {
                    (format!("{partner} owes {org}"), net.unsigned_abs())
                } else {
                    (format!("{org} owes {partner}"), net.unsigned_abs())
                };
                lines.push(format!("  {:<14} {who} {amount}", segment.name()));
            }
            if view.net.is_empty() {
                lines.push("  nothing owed either way".into());
            }
            lines.push(proof_line(&certified));
            lines.join("\n")
        },
    );
    Ok(())
}

/// Runs `cactus balance`.
pub async fn balance(ctx: &Ctx, args: BalanceArgs) -> Result<()> {
    let reader = load_key(&args.read.key)?;
    let member = args.member.required()?;
    let client = ctx.connect_as(&reader).await?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let verifier = ProofVerifier::new(&client, &anchor);
    let org = program_org(&client, &reader, args.read.program).await?;
    let program = client
        .program(&org, args.read.height)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let view = client
        .balance(&org, &member, args.read.height)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let certified = verifier
        .balance(&view)
        .await
        .map_err(|e| unverified(&format!("member {member}'s balance"), e))?;
    emit(
        ctx.json,
        &json!({ "balance": view, "verified": certified }),
        || {
            let p = &program.program;
            let mut lines = vec![format!(
                "member {} in {org}'s program{}",
                short(&member.to_hex()),
                view.tier
                    .as_ref()
                    .map(|t| format!(", tier {t}"))
                    .unwrap_or_default()
            )];
            lines.push(format!("  held      {}", per_segment(p, &view.balances)));
            lines.push(format!("  spendable {}", per_segment(p, &view.spendable)));
            let lots = view.account.as_ref().map_or(0, |a| a.lots.len());
            lines.push(format!("  {lots} lot(s)"));
            lines.push(proof_line(&certified));
            lines.join("\n")
        },
    );
    Ok(())
}

/// The key, a client, the program's org and its program (for units and currency).
async fn open(ctx: &Ctx, signer: &Signer) -> Result<(LoadedKey, NodeClient, ProgramRecord)> {
    let key = load_key(&signer.key)?;
    let client = ctx.connect_as(&key).await?;
    let org = program_org(&client, &key, signer.program.clone()).await?;
    let program = client
        .program(&org, None)
        .await
        .map_err(|e| explain(e, Some(&key.in_use())))?
        .program;
    Ok((key, client, program))
}

/// `amount` in `segment`'s unit: money in the program's currency, points whole.
fn amount_in(program: &ProgramRecord, segment: Segment, amount: &Amount) -> Result<u64> {
    let rule = program.spec.segment(segment).map_err(|e| {
        Failure::new("invalid_input", e.to_string()).hint(format!(
            "{}'s program keeps {}",
            program.org,
            segment_names(program)
        ))
    })?;
    let value = match rule.unit {
        Unit::Money { currency } => amount_either(
            "--amount",
            amount.amount.as_deref(),
            amount.amount_minor,
            Some(currency),
        )
        .map_err(|e| Failure::new("invalid_input", format!("--amount: {e}")))?,
        Unit::Points => match (&amount.amount, amount.amount_minor) {
            (Some(text), None) => Some(text.trim().parse::<u64>().map_err(|_| {
                Failure::new(
                    "invalid_input",
                    format!("--amount {text:?}: points are whole numbers"),
                )
            })?),
            _ => {
                return Err(Failure::new(
                    "invalid_input",
                    "points are given with --amount (whole points)",
                )
                .into());
            }
        },
    };
    value.ok_or_else(|| Failure::new("invalid_input", "pass --amount").into())
}

fn segment_names(program: &ProgramRecord) -> String {
    program
        .spec
        .segments
        .iter()
        .map(|s| s.segment.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Signs `kind`, submits it and prints what moved.
async fn submit_movement(
    ctx: &Ctx,
    key: &LoadedKey,
    client: &NodeClient,
    program: Option<&ProgramRecord>,
    kind: TxKind,
) -> Result<()> {
    let tx = client.tx_builder().sign(&key.key, kind);
    let view = ctx.submit(client, &tx, key).await?;
    let events = view.events().unwrap_or_default().to_vec();
    emit(ctx.json, &json!({ "tx": view, "events": events }), || {
        let mut lines: Vec<String> = events.iter().map(|e| event_text(program, e)).collect();
        lines.push(format!(
            "tx {} (block {})",
            view.tx_id.to_hex(),
            view.height.unwrap_or(0)
        ));
        lines.join("\n")
    });
    Ok(())
}

fn event_text(program: Option<&ProgramRecord>, e: &Event) -> String {
    match e {
        Event::BalanceChanged {
            member,
            op,
            segment,
            credit,
            amount,
            ..
        } => {
            let amount = match program {
                Some(p) => amount_text(p, *segment, *amount),
                None => amount.to_string(),
            };
            format!(
                "{}{amount} {} for member {} ({})",
                if *credit { "+" } else { "-" },
                segment.name(),
                short(&member.to_hex()),
                op_name(*op)
            )
        }
        Event::AdjustmentRequested { adjustment, .. } => format!(
            "adjustment {} waits for a second admin: `cactus points approve --adjustment {}`",
            short(&adjustment.to_hex()),
            adjustment.to_hex()
        ),
        Event::AdjustmentRejected { adjustment, .. } => {
            format!(
                "adjustment {} rejected: nothing changed",
                short(&adjustment.to_hex())
            )
        }
        Event::WithdrawalChanged {
            withdrawal,
            amount,
            status,
            ..
        } => format!(
            "withdrawal {} of {} minor units: {status}{}",
            short(&withdrawal.to_hex()),
            amount,
            match status.as_str() {
                "requested" => format!(
                    " (held; a second admin approves: `cactus points withdrawal --id {} approve`)",
                    withdrawal.to_hex()
                ),
                "approved" => " (record the payout: `… paid --payment ID`)".to_string(),
                _ => String::new(),
            }
        ),
        Event::PointsReleased { member, points, .. } => format!(
            "{points} pending points of member {} are spendable now (released)",
            short(&member.to_hex())
        ),
        Event::TierChanged {
            member, from, to, ..
        } => format!(
            "member {} moved from tier {from} to {to}",
            short(&member.to_hex())
        ),
        other => format!("{other:?}"),
    }
}

fn op_name(op: BalanceOp) -> &'static str {
    op.name()
}

/// Runs `cactus points …`.
pub async fn points(ctx: &Ctx, command: PointsCommand) -> Result<()> {
    match command {
        PointsCommand::Earn {
            signer,
            member,
            order_ref,
            total,
            total_minor,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let currency = program.spec.currency;
            let total_minor =
                amount_either("--total", total.as_deref(), total_minor, Some(currency))
                    .map_err(|e| Failure::new("invalid_input", format!("--total: {e}")))?
                    .unwrap_or(0);
            let kind = TxKind::Earn(EarnTx {
                program: program.org.clone(),
                member: member.required()?,
                order_ref,
                order: couponcactus_client::chaincode::types::Order {
                    currency,
                    total_minor,
                    lines: vec![],
                },
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Load {
            signer,
            member,
            segment,
            amount,
            reference,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let kind = TxKind::Load(LoadTx {
                program: program.org.clone(),
                member: member.required()?,
                segment: segment.into(),
                amount: amount_in(&program, segment.into(), &amount)?,
                reference,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Spend {
            signer,
            member,
            segments,
            amount,
            order_ref,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let mut segments: Vec<Segment> = segments.into_iter().map(Segment::from).collect();
            segments.sort();
            segments.dedup();
            let kind = TxKind::Spend(SpendTx {
                program: program.org.clone(),
                member: member.required()?,
                amount: amount_in(&program, segments[0], &amount)?,
                segments,
                order_ref,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Void { key, tx } => {
            let key = load_key(&key)?;
            let client = ctx.connect_as(&key).await?;
            let tx = resolve_tx_arg(&client, &tx).await?;
            submit_movement(ctx, &key, &client, None, TxKind::Void(VoidTx { tx })).await
        }
        PointsCommand::Adjust {
            signer,
            member,
            segment,
            debit,
            amount,
            reason,
            note,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let kind = TxKind::Adjust(AdjustTx {
                program: program.org.clone(),
                member: member.required()?,
                segment: segment.into(),
                direction: if debit {
                    Direction::Debit
                } else {
                    Direction::Credit
                },
                amount: amount_in(&program, segment.into(), &amount)?,
                reason: reason.into(),
                note,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Approve { key, adjustment } => decide(ctx, &key, &adjustment, true).await,
        PointsCommand::Reject { key, adjustment } => decide(ctx, &key, &adjustment, false).await,
        PointsCommand::Transfer {
            signer,
            from,
            to,
            member_secret,
            segment,
            amount,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let kind = TxKind::TransferBalance(TransferBalanceTx {
                program: program.org.clone(),
                from: member_from(&from, member_secret.as_deref())?,
                to: member_from(&to, member_secret.as_deref())?,
                segment: segment.into(),
                amount: amount_in(&program, segment.into(), &amount)?,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Withdraw {
            signer,
            member,
            segment,
            amount,
            reference,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let kind = TxKind::RequestWithdrawal(RequestWithdrawalTx {
                program: program.org.clone(),
                member: member.required()?,
                segment: segment.into(),
                amount: amount_in(&program, segment.into(), &amount)?,
                reference,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Withdrawal {
            key,
            id,
            action,
            payment,
        } => {
            let key = load_key(&key)?;
            let client = ctx.connect_as(&key).await?;
            let withdrawal = resolve_tx_arg(&client, &id).await?;
            let decision = match action {
                WithdrawalAction::Approve => WithdrawalDecision::Approve,
                WithdrawalAction::Paid => WithdrawalDecision::Paid {
                    payment: payment.unwrap_or_default(),
                },
                WithdrawalAction::Reject => WithdrawalDecision::Reject,
            };
            let kind = TxKind::DecideWithdrawal(DecideWithdrawalTx {
                withdrawal,
                decision,
            });
            submit_movement(ctx, &key, &client, None, kind).await
        }
        PointsCommand::Engage {
            signer,
            member,
            action,
            reference,
            referred,
        } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let referred = referred
                .map(|r| member_from(&r, member.member_secret.as_deref()))
                .transpose()?;
            let kind = TxKind::Engage(EngageTx {
                program: program.org.clone(),
                member: member.required()?,
                action,
                reference: reference.unwrap_or_default(),
                referred,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
        PointsCommand::Release { key, tx } => {
            let key = load_key(&key)?;
            let client = ctx.connect_as(&key).await?;
            let tx = resolve_tx_arg(&client, &tx).await?;
            let kind = TxKind::ReleasePoints(ReleasePointsTx { tx });
            submit_movement(ctx, &key, &client, None, kind).await
        }
        PointsCommand::Expire { signer, members } => {
            let (key, client, program) = open(ctx, &signer).await?;
            let mut members = members;
            members.sort();
            members.dedup();
            let kind = TxKind::ExpireBalances(ExpireBalancesTx {
                program: program.org.clone(),
                members,
            });
            submit_movement(ctx, &key, &client, Some(&program), kind).await
        }
    }
}

/// Runs `cactus checkout`.
pub async fn checkout(ctx: &Ctx, args: CheckoutArgs) -> Result<()> {
    let (key, client, program) = open(ctx, &args.signer).await?;
    let member = args.member.required()?;
    let currency = program.spec.currency;
    let total_minor = amount_either(
        "--total",
        args.total.as_deref(),
        args.total_minor,
        Some(currency),
    )
    .map_err(|e| Failure::new("invalid_input", format!("--total: {e}")))?
    .unwrap_or(0);
    let lines = args
        .lines
        .iter()
        .map(|l| super::coupons::parse_line(l, currency, false))
        .collect::<Result<Vec<_>, _>>()?;
    let order = couponcactus_client::chaincode::types::Order {
        currency,
        total_minor,
        lines,
    };
    super::prechecks::order(&order)?;
    let mut coupons = Vec::new();
    for code in &args.codes {
        let read = super::prechecks::redeem_code(
            &client,
            code,
            Some(member),
            super::prechecks::CodeCheck::Refuse,
        )
        .await?;
        coupons.push(RedeemTarget::Code(code_hash(&read)));
    }
    coupons.extend(args.tokens.iter().cloned().map(RedeemTarget::Token));
    let pay = match &args.pay {
        None => None,
        Some(text) => {
            let mut segments: Vec<Segment> = args
                .pay_segments
                .iter()
                .copied()
                .map(Segment::from)
                .collect();
            segments.sort();
            segments.dedup();
            let amount = Amount {
                amount: Some(text.clone()),
                amount_minor: None,
            };
            let amount = amount_in(&program, segments[0], &amount)?;
            Some(BalanceSpend { segments, amount })
        }
    };
    let kind = TxKind::Checkout(CheckoutTx {
        program: program.org.clone(),
        member,
        order_ref: args.order_ref,
        order,
        coupons,
        pay,
        earn: !args.no_earn,
    });
    let tx = client.tx_builder().sign(&key.key, kind);
    let view = ctx.submit(&client, &tx, &key).await?;
    let events = view.events().unwrap_or_default().to_vec();
    emit(ctx.json, &json!({ "tx": view, "events": events }), || {
        checkout_text(
            &program,
            &events,
            &view.tx_id.to_hex(),
            view.height.unwrap_or(0),
        )
    });
    Ok(())
}

/// The receipt of a checkout: each coupon, the balance, what is left, the points.
fn checkout_text(program: &ProgramRecord, events: &[Event], tx: &str, height: u64) -> String {
    let currency = program.spec.currency;
    let row = |label: String, value: String| format!("{label:<26}{value:>14}");
    let mut lines = Vec::new();
    for e in events {
        match e {
            Event::Redeemed {
                pool,
                discount_minor,
                ..
            } => lines.push(row(
                format!("  coupon {pool}"),
                format!("-{}", format_minor(*discount_minor, currency)),
            )),
            Event::BalanceChanged {
                op: BalanceOp::Spent,
                segment,
                amount,
                ..
            } => lines.push(row(
                format!("  paid from {}", segment.name()),
                format!("-{}", amount_text(program, *segment, *amount)),
            )),
            Event::CheckedOut {
                total_minor,
                net_minor,
                points,
                ..
            } => {
                let total = row("order total".into(), format_minor(*total_minor, currency));
                lines.insert(0, total);
                lines.push(row(
                    "left to pay".into(),
                    format_minor(*net_minor, currency),
                ));
                if *points > 0 {
                    lines.push(row("points earned".into(), points.to_string()));
                }
            }
            Event::TierChanged { to, .. } => lines.push(row("new tier".into(), to.clone())),
            _ => {}
        }
    }
    lines.push(format!(
        "checkout {tx} (block {height}); undo it all with `cactus points void --tx {tx}`"
    ));
    lines.join("\n")
}

async fn decide(ctx: &Ctx, key: &Path, adjustment: &str, approve: bool) -> Result<()> {
    let key = load_key(key)?;
    let client = ctx.connect_as(&key).await?;
    let adjustment = resolve_tx_arg(&client, adjustment).await?;
    let kind = TxKind::DecideAdjustment(DecideAdjustmentTx {
        adjustment,
        approve,
    });
    submit_movement(ctx, &key, &client, None, kind).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_client::chaincode::testkit::program_spec;

    fn record() -> ProgramRecord {
        ProgramRecord {
            org: "acme".parse().unwrap(),
            spec: program_spec(),
            version: 1,
            updated_ms: 0,
        }
    }

    fn amount(text: Option<&str>, minor: Option<u64>) -> Amount {
        Amount {
            amount: text.map(String::from),
            amount_minor: minor,
        }
    }

    #[test]
    fn amounts_are_read_in_the_segments_unit() {
        let p = record();
        let gift = Segment::Gift;
        assert_eq!(
            amount_in(&p, gift, &amount(Some("20.50"), None)).unwrap(),
            2_050
        );
        assert_eq!(amount_in(&p, gift, &amount(None, Some(7))).unwrap(), 7);
        assert!(amount_in(&p, gift, &amount(Some("20.505"), None)).is_err());
        let points = Segment::Mileage;
        assert_eq!(
            amount_in(&p, points, &amount(Some("150"), None)).unwrap(),
            150
        );
        assert!(amount_in(&p, points, &amount(Some("1.5"), None)).is_err());
        assert!(amount_in(&p, points, &amount(None, Some(3))).is_err());
        let missing = amount_in(&p, Segment::RefundCredit, &amount(Some("1"), None));
        assert!(
            missing.is_err(),
            "the testkit program keeps no refund_credit"
        );
        assert_eq!(amount_text(&p, gift, 2_050), "20.50 EUR");
        assert_eq!(amount_text(&p, points, 150), "150 points");
    }

    #[test]
    fn the_example_program_reads_and_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loyalty/program.toml");
        let spec = read_spec(&path).unwrap();
        couponcactus_client::chaincode::loyalty::validate_program(&spec).unwrap();
        assert_eq!(spec.segments.len(), 3);
        assert_eq!(spec.tiers.tiers.len(), 3);
    }

    #[test]
    fn a_spec_file_is_json_or_toml() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("p.json");
        std::fs::write(&json_path, serde_json::to_string(&program_spec()).unwrap()).unwrap();
        assert_eq!(read_spec(&json_path).unwrap(), program_spec());
        let toml_path = dir.path().join("p.toml");
        std::fs::write(&toml_path, toml::to_string(&program_spec()).unwrap()).unwrap();
        assert_eq!(read_spec(&toml_path).unwrap(), program_spec());
        std::fs::write(&json_path, "{\"name\": 1}").unwrap();
        let e = read_spec(&json_path).unwrap_err().to_string();
        assert!(e.contains("is not a program spec"), "{e}");
    }
}
