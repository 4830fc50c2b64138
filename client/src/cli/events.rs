//! `cactus events`: read the ledger's event log (`list`, `--follow` to keep reading as
//! blocks arrive) and check one event against the chain (`show`).
//!
//! Following uses the long-poll page (`GET /v1/events?wait=`) rather than the SSE stream:
//! each page is one plain signed request, so failover between nodes and resuming after an
//! error are the same code as any other read. JSON output (`--json`) is one event per line
//! (JSON Lines) when following, so it pipes into `jq` or a loader as it arrives.

use super::context::{Ctx, MemberArgs, load_key, short};
use super::output::{emit, explain, unverified};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use couponcactus_chaincode::events::{EventDetail, EventId, EventType, LedgerEvent};
use couponcactus_chaincode::ids::PoolId;
use couponcactus_client::amounts::format_minor;
use couponcactus_client::node_client::EventsQuery;
use couponcactus_client::verify::ProofVerifier;
use serde_json::json;
use std::io::Write as _;
use std::path::PathBuf;

/// Longest wait of one long-poll page while following, seconds.
const FOLLOW_WAIT_SECS: u64 = 25;

/// `cactus events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Events after a cursor, in log order (`--follow`: keep reading as blocks arrive).
    List(ListArgs),
    /// One event, checked against its history-log entry and a certified header.
    Show(ShowArgs),
}

/// `cactus events list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// A key that may read events (what it sees follows its role).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// Start after this event id (`evt_<log index>_<index>`); from the first without.
    #[arg(long, value_name = "EVENT_ID")]
    after: Option<EventId>,
    /// Only this type (repeat for several), e.g. coupon.redeemed, tx.rejected.
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<EventType>,
    /// Only this pool's events (its id).
    #[arg(long)]
    pool: Option<PoolId>,
    /// Only this member's events (coupons, balances, rejections naming the member): the
    /// member's history, each event provable (`events show`).
    #[command(flatten)]
    member: MemberArgs,
    /// Most events to print (without --follow), 1 to 1,000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Keep reading: print events as their blocks are applied, until interrupted.
    #[arg(long)]
    follow: bool,
}

/// `cactus events show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The event id (`evt_<log index>_<index>`).
    #[arg(value_name = "EVENT_ID")]
    id: EventId,
    /// A key that may read it.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// Runs `cactus events …`.
pub async fn run(ctx: &Ctx, command: EventsCommand) -> Result<()> {
    match command {
        EventsCommand::List(a) => list(ctx, a).await,
        EventsCommand::Show(a) => show(ctx, a).await,
    }
}

async fn list(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let mut query = EventsQuery {
        after: args.after,
        types: args.types,
        pool: args.pool,
        member: args.member.resolve()?,
        limit: Some(usize::from(args.limit)),
        wait_secs: None,
    };
    if !args.follow {
        let page = client
            .events(&query)
            .await
            .map_err(|e| explain(e, Some(&reader.in_use())))?;
        emit(ctx.json, &page, || {
            let mut text: Vec<String> = page.events.iter().map(line).collect();
            text.push(match page.next {
                Some(next) => format!(
                    "({} events; continue with --after {next})",
                    page.events.len()
                ),
                None => "(no events yet)".into(),
            });
            text.join("\n")
        });
        return Ok(());
    }
    query.wait_secs = Some(FOLLOW_WAIT_SECS);
    let mut out = std::io::stdout().lock();
    loop {
        let page = client
            .events(&query)
            .await
            .map_err(|e| explain(e, Some(&reader.in_use())))?;
        for e in &page.events {
            let text = match ctx.json {
                true => serde_json::to_string(e).context("encoding an event")?,
                false => line(e),
            };
            if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                return Ok(()); // the reader went away (`| head`)
            }
        }
        query.after = page.next.or(query.after);
    }
}

async fn show(ctx: &Ctx, args: ShowArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let view = client
        .event(args.id)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let (anchor, _) = ctx.anchor(&client, &[&reader.path]).await?;
    let certified = ProofVerifier::new(&client, &anchor)
        .event(&view)
        .await
        .map_err(|e| unverified(&format!("event {}", args.id), e))?;
    emit(
        ctx.json,
        &json!({ "event": view.event, "proof": view.proof, "verified": certified }),
        || {
            format!(
                "{}\n  tx {} (block {}, index {})\n\
                 the event is its tx's history-log entry, proven under block {}'s log root, \
                 certified by nodes {:?} (block {})",
                line(&view.event),
                view.event.tx_id,
                view.event.height,
                view.event.tx_index,
                certified.height,
                certified.certified_by,
                certified.certified_height
            )
        },
    );
    Ok(())
}

/// One event on one line: id, time, type, and what it concerns.
fn line(e: &LedgerEvent) -> String {
    let time = jiff::Timestamp::from_millisecond(e.time_ms as i64)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| e.time_ms.to_string());
    let mut parts = vec![format!(
        "{:<16} {time} {:<20}",
        e.id.to_string(),
        e.kind.name()
    )];
    if let Some(org) = &e.org {
        parts.push(format!("org {org}"));
    }
    if let Some(t) = &e.token {
        parts.push(format!("token {}/{}", t.pool, t.serial));
    } else if let Some(p) = &e.pool {
        parts.push(format!("pool {p}"));
    }
    if let Some(s) = &e.store {
        parts.push(format!("store {s}"));
    }
    if let Some(a) = &e.amounts {
        if let Some(total) = a.order_total_minor {
            parts.push(format!("order {}", format_minor(total, a.currency)));
        }
        if let Some(d) = a.discount_minor {
            parts.push(format!("discount {}", format_minor(d, a.currency)));
        }
    }
    if e.is_partner_redemption()
        && let Some(partner) = &e.signer_org
    {
        parts.push(format!("partner {partner}"));
    }
    if let EventDetail::Rejected { tx_kind, rejection } = &e.detail {
        parts.push(format!(
            "{tx_kind}: {} — {}",
            rejection.reason.code(),
            rejection.message
        ));
    }
    parts.push(format!("by {}", short(&e.signer.to_hex())));
    if let Some(memo) = &e.memo {
        parts.push(format!("memo {:?}", memo.as_str()));
    }
    parts.join("  ")
}
