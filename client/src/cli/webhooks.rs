//! `cactus webhooks …`: the webhook endpoints of an org's node (org admins): add, list,
//! rotate-secret, disable, enable, replay, deliveries; and `verify`, the receiver's
//! offline check of a delivery's signature.

use super::context::{Ctx, load_key};
use super::output::{Failure, emit, format_time_ms};
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::times::{Edge, parse_instant};
use couponcactus_client::webhooks::{
    Endpoint, ReplayRange, WebhooksClient, WebhooksError, check_timestamp, verify_signature,
};
use serde_json::json;
use std::io::Read as _;
use std::path::PathBuf;

/// `cactus webhooks` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its secret (shown only once: store it now).
    Add {
        #[command(flatten)]
        admin: AdminKey,
        /// Where events are POSTed (http or https; private addresses are refused unless
        /// the node's operator allows them).
        #[arg(long)]
        url: String,
        /// Only this event type (repeat for several), e.g. coupon.redeemed; default all.
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// The org's endpoints, their state and why any is disabled.
    List {
        #[command(flatten)]
        admin: AdminKey,
    },
    /// A new secret for an endpoint; the old one stays valid for 24 h.
    RotateSecret {
        #[command(flatten)]
        admin: AdminKey,
        /// The endpoint (`ep_…`).
        id: String,
    },
    /// Stop deliveries to an endpoint (its cursor is kept).
    Disable {
        #[command(flatten)]
        admin: AdminKey,
        /// The endpoint.
        id: String,
        /// Why (shown by `list`).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume deliveries from where they stopped, at once.
    Enable {
        #[command(flatten)]
        admin: AdminKey,
        /// The endpoint.
        id: String,
    },
    /// Deliver the events of a height range or a time range again (same webhook-id,
    /// marked as replays).
    Replay(ReplayArgs),
    /// The delivery log of an endpoint, newest first.
    Deliveries {
        #[command(flatten)]
        admin: AdminKey,
        /// The endpoint.
        id: String,
        /// Rows, 1 to 1000.
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Check a delivery you received (body on stdin): its signature and its timestamp.
    Verify(VerifyArgs),
}

/// The org admin key that signs.
#[derive(Debug, Args)]
pub struct AdminKey {
    /// An org admin key of the node's org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// `cactus webhooks replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    admin: AdminKey,
    /// The endpoint.
    id: String,
    /// First height.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    from_height: Option<u64>,
    /// Last height (default: the tip).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    to_height: Option<u64>,
    /// First block time (ISO 8601, e.g. 2026-12-24 or 2026-12-24T18:00Z).
    #[arg(long)]
    from: Option<String>,
    /// End of the time range (exclusive; a bare date includes that day).
    #[arg(long)]
    to: Option<String>,
}

/// `cactus webhooks verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The endpoint's secret (`whsec_…`).
    #[arg(long, env = "CACTUS_WEBHOOK_SECRET")]
    secret: String,
    /// The `webhook-id` header.
    #[arg(long)]
    id: String,
    /// The `webhook-timestamp` header (Unix seconds).
    #[arg(long)]
    timestamp: u64,
    /// The `webhook-signature` header.
    #[arg(long)]
    signature: String,
    /// Skip the 5-minute timestamp check (checking an old, saved delivery).
    #[arg(long)]
    any_time: bool,
}

/// Runs a `cactus webhooks` command.
pub async fn run(ctx: &Ctx, command: WebhooksCommand) -> Result<()> {
    match command {
        WebhooksCommand::Add {
            admin,
            url,
            types,
            description,
        } => {
            let created = client(ctx, &admin)
                .await?
                .create(&url, &types, &description)
                .await
                .map_err(failure)?;
            emit(ctx.json, &created, || {
                format!(
                    "registered {} → {}\nsecret: {}\n(shown only now: the receiver verifies webhook-signature with it)",
                    created.endpoint.id, created.endpoint.url, created.secret
                )
            });
        }
        WebhooksCommand::List { admin } => {
            let endpoints = client(ctx, &admin).await?.list().await.map_err(failure)?;
            emit(ctx.json, &json!({ "endpoints": endpoints }), || {
                if endpoints.is_empty() {
                    return "no webhook endpoints".into();
                }
                endpoints
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        WebhooksCommand::RotateSecret { admin, id } => {
            let rotated = client(ctx, &admin)
                .await?
                .rotate_secret(&id)
                .await
                .map_err(failure)?;
            emit(ctx.json, &rotated, || {
                let until = rotated
                    .endpoint
                    .old_secret_expires_ms
                    .map(format_time_ms)
                    .unwrap_or_default();
                format!(
                    "new secret for {id}: {}\n(the previous secret stays valid until {until})",
                    rotated.secret
                )
            });
        }
        WebhooksCommand::Disable { admin, id, reason } => {
            let e = client(ctx, &admin)
                .await?
                .disable(&id, reason.as_deref())
                .await
                .map_err(failure)?;
            emit(ctx.json, &e, || describe(&e));
        }
        WebhooksCommand::Enable { admin, id } => {
            let e = client(ctx, &admin)
                .await?
                .enable(&id)
                .await
                .map_err(failure)?;
            emit(ctx.json, &e, || describe(&e));
        }
        WebhooksCommand::Replay(args) => replay(ctx, args).await?,
        WebhooksCommand::Deliveries { admin, id, limit } => {
            let rows = client(ctx, &admin)
                .await?
                .deliveries(&id, limit, None)
                .await
                .map_err(failure)?;
            emit(ctx.json, &json!({ "deliveries": rows }), || {
                rows.iter()
                    .map(|d| {
                        let outcome = match (d.status, &d.error) {
                            (Some(s), None) => format!("HTTP {s}"),
                            (_, Some(e)) => e.clone(),
                            (None, None) => "?".into(),
                        };
                        let replay = if d.replay { " (replay)" } else { "" };
                        format!(
                            "{}  {}  attempt {}{replay}  {outcome}  {} ms",
                            format_time_ms(d.time_ms),
                            d.event_id,
                            d.attempt,
                            d.latency_ms
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        WebhooksCommand::Verify(args) => verify(ctx, args)?,
    }
    Ok(())
}

async fn client(ctx: &Ctx, admin: &AdminKey) -> Result<WebhooksClient> {
    let key = load_key(&admin.key)?;
    let node = ctx.connect().await?;
    Ok(WebhooksClient::new(
        node.base_url(),
        node.chain_id().clone(),
        key.key,
    ))
}

fn failure(e: WebhooksError) -> anyhow::Error {
    let code = e.api_code().unwrap_or("node_error").to_string();
    let hint = match code.as_str() {
        "not_authorized" => Some("use an org admin key of the org that runs this node (--key)"),
        "unsafe_url" => Some(
            "the URL resolves to a private or loopback address; the node's operator may set [webhooks] allow_private_targets = true",
        ),
        "webhooks_off" => {
            Some("the node's operator turned webhooks off ([webhooks] enabled = false)")
        }
        _ => None,
    };
    let f = Failure::new(&code, e.to_string());
    match hint {
        Some(h) => f.hint(h).into(),
        None => f.into(),
    }
}

fn describe(e: &Endpoint) -> String {
    let state = if e.enabled {
        match (&e.last_error, e.attempts) {
            (Some(err), n) if n > 0 => format!("enabled, failing ({n} attempts; last: {err})"),
            _ => "enabled".into(),
        }
    } else {
        format!(
            "DISABLED: {}",
            e.disabled_reason.clone().unwrap_or_default()
        )
    };
    let types = if e.types.is_empty() {
        "all events".to_string()
    } else {
        e.types.join(",")
    };
    let cursor = e.cursor.clone().unwrap_or_else(|| "start".into());
    format!(
        "{}  {}  [{types}]  {state}  delivered {}  cursor {cursor}",
        e.id, e.url, e.delivered
    )
}

async fn replay(ctx: &Ctx, args: ReplayArgs) -> Result<()> {
    let time = |text: &Option<String>, edge| -> Result<Option<u64>> {
        text.as_deref()
            .map(|t| {
                parse_instant(t, edge)
                    .map_err(|e| Failure::new("invalid_input", e.to_string()).into())
            })
            .transpose()
    };
    let range = ReplayRange {
        from_height: args.from_height,
        to_height: args.to_height,
        from_ms: time(&args.from, Edge::Start)?,
        to_ms: time(&args.to, Edge::End)?.map(|t| t.saturating_sub(1)),
    };
    let queued = client(ctx, &args.admin)
        .await?
        .replay(&args.id, &range)
        .await
        .map_err(failure)?;
    emit(ctx.json, &queued, || {
        format!(
            "replaying heights {}..={} to {} (in order, before new events)",
            queued.from_height, queued.to_height, args.id
        )
    });
    Ok(())
}

fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<()> {
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    if !verify_signature(
        &args.secret,
        &args.id,
        args.timestamp,
        &body,
        &args.signature,
    ) {
        return Err(Failure::new(
            "bad_signature",
            "the signature does not match this body, id and timestamp under this secret",
        )
        .into());
    }
    if !args.any_time {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        check_timestamp(args.timestamp, now).map_err(|e| {
            Failure::new("stale", e).hint("--any-time checks an old delivery's signature only")
        })?;
    }
    emit(ctx.json, &json!({ "valid": true, "id": args.id }), || {
        format!("valid: {} is signed with this secret", args.id)
    });
    Ok(())
}
