//! `cactus pool …`: creating pools from a TOML spec or flags, reading them (with their
//! state proof verified), listing an org's pools, and moving them through their lifecycle.

use super::context::{Ctx, LoadedKey, load_key, short};
use super::output::{Failure, emit, explain, format_time_ms, unverified};
use super::prechecks;
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::amounts::{format_minor, parse_currency};
use couponcactus_client::chaincode::ids::{OrgId, PoolId};
use couponcactus_client::chaincode::risk::VelocityScope;
use couponcactus_client::chaincode::types::{Discount, PoolAction, PoolKind, PoolRecord, PoolSpec};
use couponcactus_client::pool_spec::{PoolSpecDraft, VelocityDraft};
use couponcactus_client::tx_builder::now_ms;
use couponcactus_client::verify::Certified;
use couponcactus_client::{NodeClient, ProofVerifier};
use serde_json::json;
use std::path::PathBuf;

/// `cactus pool` subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create a pool in draft, from a TOML spec and/or flags (flags win).
    Create(Box<CreateArgs>),
    /// Show a pool, its state proof verified against a certified block.
    Show {
        /// The pool.
        id: PoolId,
        /// A key of the owning org (or an auditor's, or a partner's).
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// Read at this height instead of the latest.
        #[arg(long)]
        height: Option<u64>,
    },
    /// List an org's pools that the key may see.
    List {
        /// The org (default: the key's own org, from the key registry).
        #[arg(long)]
        org: Option<OrgId>,
        /// A key of that org (or an auditor's, or a partner's).
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
    },
    /// draft → active: allocations and redemptions start.
    Activate(TransitionArgs),
    /// active → paused: redemptions stop for a while (codes may be issued).
    Pause(TransitionArgs),
    /// paused → active.
    Resume(TransitionArgs),
    /// → archived, for good.
    Archive(TransitionArgs),
}

/// A lifecycle step.
#[derive(Debug, Args)]
pub struct TransitionArgs {
    /// The pool.
    id: PoolId,
    /// An org admin's or issuer's key file of the owning org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// Submit even if the pool does not exist (the chain will reject it).
    #[arg(long)]
    force: bool,
}

/// `cactus pool create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// An org admin's or issuer's key file (the pool belongs to its org).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// A TOML spec (fields as the flags below, with underscores: name, currency, percent,
    /// fixed, max_discount, min_spend, valid_from, valid_until, valid_for, total_cap,
    /// allowed_stores, …; `id` too; see the pool_spec module doc). Flags win.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// The pool's id (unique on the ledger; a slug).
    #[arg(long)]
    id: Option<String>,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// unique-codes (one token per code, default) or shared-code.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<PoolKind>,
    /// ISO 4217 currency of the pool and its orders (any case: eur).
    #[arg(long)]
    currency: Option<String>,
    /// Percent off, decimal (10, 12.5).
    #[arg(long)]
    percent: Option<String>,
    /// Fixed amount off, in the currency (5.00).
    #[arg(long, value_name = "AMOUNT", conflicts_with = "fixed_minor")]
    fixed: Option<String>,
    /// Fixed amount off, minor units (500 = 5.00 EUR).
    #[arg(long, value_name = "MINOR")]
    fixed_minor: Option<u64>,
    /// Cap of one discount, in the currency (20.00).
    #[arg(long, value_name = "AMOUNT", conflicts_with = "max_discount_minor")]
    max_discount: Option<String>,
    /// Cap of one discount, minor units.
    #[arg(long, value_name = "MINOR")]
    max_discount_minor: Option<u64>,
    /// Eligible amount an order needs, in the currency (50.00).
    #[arg(long, value_name = "AMOUNT", conflicts_with = "min_spend_minor")]
    min_spend: Option<String>,
    /// Eligible amount an order needs, minor units.
    #[arg(long, value_name = "MINOR")]
    min_spend_minor: Option<u64>,
    /// Start of validity, ISO 8601: 2026-12-01 (00:00 UTC), 2026-12-01T09:00+01:00
    /// (default: a minute ago).
    #[arg(long, value_name = "WHEN", conflicts_with = "valid_from_ms")]
    valid_from: Option<String>,
    /// Start of validity, ms since the epoch.
    #[arg(long, value_name = "MS")]
    valid_from_ms: Option<u64>,
    /// End of validity (exclusive), ISO 8601; a bare date is the END of that day (UTC):
    /// 2026-12-24 still redeems all of the 24th.
    #[arg(long, value_name = "WHEN", group = "end")]
    valid_until: Option<String>,
    /// End of validity (exclusive), ms since the epoch.
    #[arg(long, value_name = "MS", group = "end")]
    valid_until_ms: Option<u64>,
    /// Length of validity from its start: 30d, 12h, 90m, 2w (default 90d).
    #[arg(long, value_name = "DURATION", group = "end")]
    valid_for: Option<String>,
    /// Days of validity from its start.
    #[arg(long, group = "end")]
    valid_days: Option<u64>,
    /// Unique codes: most tokens; shared code: most redemptions in force.
    #[arg(long)]
    total_cap: Option<u64>,
    /// Most allocations or redemptions per member (default 1).
    #[arg(long)]
    per_member_cap: Option<u32>,
    /// A channel where it may be redeemed (repeat; default all).
    #[arg(long = "channel", value_name = "CHANNEL")]
    channels: Vec<String>,
    /// A store where it may be redeemed (repeat; default all).
    #[arg(long = "store", value_name = "STORE")]
    stores: Vec<String>,
    /// A category not eligible for the discount (repeat).
    #[arg(long = "exclude-category", value_name = "CATEGORY")]
    excluded_categories: Vec<String>,
    /// Stacking group.
    #[arg(long)]
    stacking_group: Option<String>,
    /// A partner org whose terminals may honour it (repeat).
    #[arg(long = "partner", value_name = "ORG")]
    partners: Vec<String>,
    /// Tokens may change hands between members.
    #[arg(long)]
    transferable: bool,
    /// A velocity limit, PER:MAX/WINDOW with PER member, terminal or store (repeat):
    /// `member:3/1h` allows a member 3 redemptions in any hour.
    #[arg(long = "velocity", value_name = "PER:MAX/WINDOW", value_parser = parse_velocity)]
    velocity: Vec<VelocityDraft>,
    /// A consent purpose the member must have granted before a token is allocated or
    /// transferred to them: marketing, profiling or partner:ORG.
    #[arg(long, value_name = "PURPOSE")]
    requires_consent: Option<String>,
}

fn parse_velocity(s: &str) -> Result<VelocityDraft, String> {
    let bad = || format!("{s:?}: expected PER:MAX/WINDOW, e.g. member:3/1h");
    let (per, rest) = s.split_once(':').ok_or_else(bad)?;
    let (max, window) = rest.split_once('/').ok_or_else(bad)?;
    let per = match per {
        "member" => VelocityScope::Member,
        "terminal" => VelocityScope::Terminal,
        "store" => VelocityScope::Store,
        _ => return Err(format!("{per:?}: member, terminal or store")),
    };
    Ok(VelocityDraft {
        per,
        max: max.parse().map_err(|_| bad())?,
        window: window.to_string(),
    })
}

fn parse_kind(s: &str) -> Result<PoolKind, String> {
    match s.replace('-', "_").as_str() {
        "unique_codes" => Ok(PoolKind::UniqueCodes),
        "shared_code" => Ok(PoolKind::SharedCode),
        _ => Err("unique-codes or shared-code".into()),
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

impl CreateArgs {
    fn draft(&self) -> Result<PoolSpecDraft> {
        let base = match &self.spec {
            Some(path) => PoolSpecDraft::load(path)
                .map_err(|e| Failure::new("invalid_input", e.to_string()))?,
            None => PoolSpecDraft::default(),
        };
        let currency = self
            .currency
            .as_deref()
            .map(parse_currency)
            .transpose()
            .map_err(|e| Failure::new("invalid_input", format!("--currency: {e}")))?;
        let flags = PoolSpecDraft {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            currency,
            percent: self.percent.clone(),
            percent_bps: None,
            fixed: self.fixed.clone(),
            fixed_minor: self.fixed_minor,
            max_discount: self.max_discount.clone(),
            max_discount_minor: self.max_discount_minor,
            min_spend: self.min_spend.clone(),
            min_spend_minor: self.min_spend_minor,
            valid_from: self.valid_from.clone(),
            valid_from_ms: self.valid_from_ms,
            valid_until: self.valid_until.clone(),
            valid_until_ms: self.valid_until_ms,
            valid_for: self.valid_for.clone(),
            valid_days: self.valid_days,
            total_cap: self.total_cap,
            per_member_cap: self.per_member_cap,
            allowed_channels: non_empty(self.channels.clone()),
            allowed_stores: non_empty(self.stores.clone()),
            excluded_categories: non_empty(self.excluded_categories.clone()),
            stacking_group: self.stacking_group.clone(),
            partner_orgs: non_empty(self.partners.clone()),
            transferable: self.transferable.then_some(true),
            velocity: non_empty(self.velocity.clone()),
            requires_consent: self.requires_consent.clone(),
        };
        // A group given by flags in any form replaces the file's (see PoolSpecDraft).
        Ok(base.overridden_by(flags))
    }
}

/// The discount in words.
pub fn discount_text(spec: &PoolSpec) -> String {
    let what = match spec.discount {
        Discount::Percent { bps } => {
            if bps % 100 == 0 {
                format!("{} % off", bps / 100)
            } else {
                format!("{}.{:02} % off", bps / 100, bps % 100)
            }
        }
        Discount::Fixed { amount_minor } => {
            format!("{} off", format_minor(amount_minor, spec.currency))
        }
    };
    let mut text = what;
    if let Some(max) = spec.max_discount_minor {
        text.push_str(&format!(" (at most {})", format_minor(max, spec.currency)));
    }
    if spec.min_spend_minor > 0 {
        text.push_str(&format!(
            ", min spend {}",
            format_minor(spec.min_spend_minor, spec.currency)
        ));
    }
    text
}

fn kind_name(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::UniqueCodes => "unique codes",
        PoolKind::SharedCode => "shared code",
    }
}

/// A pool for people.
pub fn pool_text(p: &PoolRecord) -> String {
    let s = &p.spec;
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "all".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "pool {} \"{}\" of {} — {}\n  kind        {}\n  discount    {}\n  valid       from {} until {}\n  \
         caps        total {}, per member {}\n  channels    {}\n  stores      {}\n  \
         excluded    {}\n  partners    {}\n  tokens      {} issued, {} allocated, {} redeemed (in force)",
        p.id,
        s.name,
        p.owner,
        p.status.name(),
        kind_name(s.kind),
        discount_text(s),
        format_time_ms(s.valid_from_ms),
        format_time_ms(s.valid_until_ms),
        s.total_cap,
        s.per_member_cap,
        list(s.allowed_channels.iter().map(|c| c.to_string()).collect()),
        list(s.allowed_stores.iter().map(|c| c.to_string()).collect()),
        if s.excluded_categories.is_empty() {
            "none".into()
        } else {
            s.excluded_categories
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        if s.partner_orgs.is_empty() {
            "none".into()
        } else {
            s.partner_orgs
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        p.issued,
        p.allocated,
        p.redeemed,
    ) + &velocity_text(&s.velocity)
        + &s.requires_consent
            .as_ref()
            .map(|p| format!("\n  consent     {p} required to allocate"))
            .unwrap_or_default()
}

/// The pool's velocity limits as a line (nothing when it has none).
fn velocity_text(limits: &[couponcactus_client::chaincode::risk::VelocityLimit]) -> String {
    if limits.is_empty() {
        return String::new();
    }
    let window = |ms: u64| match ms {
        m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1_000 == 0 => format!("{}s", m / 1_000),
        m => format!("{m}ms"),
    };
    let parts: Vec<String> = limits
        .iter()
        .map(|l| {
            let per = match l.per {
                VelocityScope::Member => "member",
                VelocityScope::Terminal => "terminal",
                VelocityScope::Store => "store",
            };
            format!("{} per {per} in {}", l.max, window(l.window_ms))
        })
        .collect();
    format!("\n  velocity    {}", parts.join(", "))
}

/// The line that says a proof was verified.
pub fn proof_line(c: &Certified) -> String {
    format!(
        "proof verified against state root {} at height {}, certified by nodes {:?} (block {}{})",
        c.state_root,
        c.height,
        c.certified_by,
        c.certified_height,
        match c.consortium {
            couponcactus_client::verify::ConsortiumSource::Genesis =>
                ", voters from genesis".to_string(),
            couponcactus_client::verify::ConsortiumSource::HistoryLog { .. } =>
                ", voters from genesis and the certified history log".to_string(),
        }
    )
}

async fn transition(ctx: &Ctx, args: TransitionArgs, action: PoolAction) -> Result<()> {
    let signer = load_key(&args.key)?;
    let client = ctx.connect_as(&signer).await?;
    prechecks::pool_exists(&client, &args.id, args.force).await?;
    let tx = client
        .tx_builder()
        .transition_pool(&signer.key, args.id.clone(), action);
    let view = ctx.submit(&client, &tx, &signer).await?;
    let change = view
        .events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            couponcactus_client::chaincode::execute::Event::PoolStatusChanged {
                from, to, ..
            } => Some((*from, *to)),
            _ => None,
        });
    emit(
        ctx.json,
        &json!({ "tx": view, "pool": args.id, "status": change.map(|c| c.1) }),
        || match change {
            Some((from, to)) => format!(
                "pool {}: {} → {} (tx {} in block {})",
                args.id,
                from.name(),
                to.name(),
                short(&view.tx_id.to_hex()),
                view.height.unwrap_or(0)
            ),
            None => format!("pool {}: done (tx {})", args.id, view.tx_id),
        },
    );
    Ok(())
}

async fn create(ctx: &Ctx, args: CreateArgs) -> Result<()> {
    let signer: LoadedKey = load_key(&args.key)?;
    let draft = args.draft()?;
    let id = draft
        .pool_id()
        .map_err(|e| Failure::new("invalid_input", e.to_string()))?
        .ok_or_else(|| {
            Failure::new(
                "invalid_input",
                "which pool id? pass --id ID (or `id = \"…\"` in the spec)",
            )
        })?;
    let spec = draft
        .into_spec(now_ms())
        .map_err(|e| Failure::new("invalid_input", e.to_string()))?;
    let client = ctx.connect().await?;
    let tx = client
        .tx_builder()
        .create_pool(&signer.key, id.clone(), spec.clone());
    let view = ctx.submit(&client, &tx, &signer).await?;
    emit(
        ctx.json,
        &json!({ "tx": view, "pool": id, "spec": spec }),
        || {
            format!(
                "created pool {id} \"{}\" in draft ({}; {}) — tx {} in block {}\n\
             next: issue codes (`cactus codes generate --pool {id} …`), then `cactus pool activate {id}`",
                spec.name,
                kind_name(spec.kind),
                discount_text(&spec),
                short(&view.tx_id.to_hex()),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

/// The org a key acts for, from the key registry (`GET /v1/keys/{key}`).
pub(super) async fn key_org(client: &NodeClient, reader: &LoadedKey) -> Result<OrgId> {
    let view = client
        .key(&reader.public, None)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    Ok(view.record.org)
}

/// Runs a `cactus pool` subcommand.
pub async fn run(ctx: &Ctx, command: PoolCommand) -> Result<()> {
    match command {
        PoolCommand::Create(args) => create(ctx, *args).await,
        PoolCommand::Show { id, key, height } => {
            let reader = load_key(&key)?;
            let client = ctx.connect_as(&reader).await?;
            let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
            let verifier = ProofVerifier::new(&client, &anchor);
            let view = match client.pool(&id, height).await {
                Ok(view) => view,
                Err(e) => {
                    let in_use = reader.in_use();
                    return Err(super::reads::not_found(ctx, &verifier, e, Some(&in_use)).await);
                }
            };
            let certified = verifier
                .pool(&view)
                .await
                .map_err(|e| unverified(&format!("pool {id}"), e))?;
            emit(
                ctx.json,
                &json!({ "pool": view.pool, "at": view.at, "proof": view.proof, "verified": certified }),
                || format!("{}\n{}", pool_text(&view.pool), proof_line(&certified)),
            );
            Ok(())
        }
        PoolCommand::List { org, key } => {
            let reader = load_key(&key)?;
            let client = ctx.connect_as(&reader).await?;
            let org = match org {
                Some(org) => org,
                None => key_org(&client, &reader).await?,
            };
            let view = client
                .org_pools(&org)
                .await
                .map_err(|e| explain(e, Some(&reader.in_use())))?;
            emit(ctx.json, &view, || {
                if view.pools.is_empty() {
                    return format!("org {org} has no pools this key may see");
                }
                let mut text = format!(
                    "{:<24} {:<9} {:<13} {:>8} {:>9} {:>8} {:>9}  name\n",
                    "pool", "status", "kind", "issued", "allocated", "redeemed", "cap"
                );
                for p in &view.pools {
                    text.push_str(&format!(
                        "{:<24} {:<9} {:<13} {:>8} {:>9} {:>8} {:>9}  {}\n",
                        p.id.as_str(),
                        p.status.name(),
                        kind_name(p.spec.kind),
                        p.issued,
                        p.allocated,
                        p.redeemed,
                        p.spec.total_cap,
                        p.spec.name
                    ));
                }
                text
            });
            Ok(())
        }
        PoolCommand::Activate(args) => transition(ctx, args, PoolAction::Activate).await,
        PoolCommand::Pause(args) => transition(ctx, args, PoolAction::Pause).await,
        PoolCommand::Resume(args) => transition(ctx, args, PoolAction::Resume).await,
        PoolCommand::Archive(args) => transition(ctx, args, PoolAction::Archive).await,
    }
}
