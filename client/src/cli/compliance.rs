//! `cactus access-log export` (org admins: their org's entries; auditors: all) and
//! `cactus retention status|hold add|hold remove|hold list` (the node's org admins;
//! auditors read): docs/compliance-retention.md.

use super::context::{Ctx, load_key};
use super::output::{Failure, emit, format_time_ms};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use couponcactus_client::compliance::{ComplianceClient, ComplianceError, Hold, to_csv};
use couponcactus_client::times::{Edge, parse_instant};
use serde_json::json;
use std::path::PathBuf;

/// Most entries one export writes.
pub const MAX_EXPORT: u64 = 10_000_000;

/// `cactus access-log` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccessLogCommand {
    /// Write the node's access log of a time range as CSV or JSON.
    Export(ExportArgs),
}

/// The signing key.
#[derive(Debug, Args)]
pub struct KeyArg {
    /// An org admin key of the node's org, or an auditor key.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A header row, then one row per entry.
    Csv,
    /// A JSON array of entries.
    Json,
}

/// `cactus access-log export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    key: KeyArg,
    /// Start (ISO 8601: 2026-12-01, 2026-12-01T08:00Z); default: the beginning.
    #[arg(long)]
    from: Option<String>,
    /// End, exclusive (a bare date includes that day); default: now.
    #[arg(long)]
    to: Option<String>,
    /// csv or json.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `cactus retention` subcommands.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Windows per data class, the last pass and rows deleted per class.
    Status {
        #[command(flatten)]
        key: KeyArg,
    },
    /// Legal holds: add, remove, list.
    #[command(subcommand)]
    Hold(HoldCommand),
}

/// `cactus retention hold` subcommands.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Stop the retention job deleting a class's rows (or all classes'), or one member's.
    Add {
        #[command(flatten)]
        key: KeyArg,
        /// webhook_deliveries, access_log, analytics_detail, directory_inactive or all.
        #[arg(long)]
        class: String,
        /// Only this member's rows (64 hex digits).
        #[arg(long)]
        member: Option<String>,
        /// Why (a case or request reference).
        #[arg(long)]
        reason: String,
    },
    /// Lift a hold: its rows are due again at the next pass.
    Remove {
        #[command(flatten)]
        key: KeyArg,
        /// The hold's id (`hold list`).
        id: u64,
    },
    /// The holds in force.
    List {
        #[command(flatten)]
        key: KeyArg,
    },
}

async fn client(ctx: &Ctx, key: &KeyArg) -> Result<ComplianceClient> {
    let key = load_key(&key.key)?;
    let node = ctx.connect().await?;
    Ok(ComplianceClient::new(
        node.base_url(),
        node.chain_id().clone(),
        key.key,
    ))
}

fn failure(e: ComplianceError) -> anyhow::Error {
    let code = e.api_code().unwrap_or("node_error").to_string();
    let hint = match code.as_str() {
        "not_authorized" => {
            Some("use an org admin key of the org that runs this node, or an auditor key (--key)")
        }
        "not_found" => Some(
            "no such hold in force (`cactus retention hold list`), or the node keeps no access log or retention",
        ),
        _ => None,
    };
    let f = Failure::new(&code, e.to_string());
    match hint {
        Some(h) => f.hint(h).into(),
        None => f.into(),
    }
}

/// Runs `cactus access-log …`.
pub async fn access_log(ctx: &Ctx, command: AccessLogCommand) -> Result<()> {
    let AccessLogCommand::Export(args) = command;
    let time = |text: &Option<String>, edge| -> Result<Option<u64>> {
        text.as_deref()
            .map(|t| {
                parse_instant(t, edge)
                    .map_err(|e| Failure::new("invalid_input", e.to_string()).into())
            })
            .transpose()
    };
    let from = time(&args.from, Edge::Start)?.unwrap_or(0);
    let to = match time(&args.to, Edge::End)? {
        Some(end) => end.saturating_sub(1),
        None => u64::MAX >> 1,
    };
    let entries = client(ctx, &args.key)
        .await?
        .access_log(from, to, MAX_EXPORT)
        .await
        .map_err(failure)?;
    let bytes = match args.format {
        Format::Csv => to_csv(&entries)?,
        Format::Json => {
            let mut b = serde_json::to_vec_pretty(&entries)?;
            b.push(b'\n');
            b
        }
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            let summary = json!({"entries": entries.len(), "out": path.display().to_string()});
            emit(ctx.json, &summary, || {
                format!("{} entries written to {}", entries.len(), path.display())
            });
        }
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                std::process::exit(0);
            }
        }
    }
    Ok(())
}

fn describe(h: &Hold) -> String {
    let scope = match &h.member {
        Some(m) => format!("member {m}"),
        None => "every row".into(),
    };
    format!(
        "#{}  {}  {scope}  placed {} by {}  reason: {}",
        h.id,
        h.class,
        format_time_ms(h.placed_ms),
        h.placed_by,
        h.reason
    )
}

/// Runs `cactus retention …`.
pub async fn retention(ctx: &Ctx, command: RetentionCommand) -> Result<()> {
    match command {
        RetentionCommand::Status { key } => {
            let status = client(ctx, &key)
                .await?
                .retention()
                .await
                .map_err(failure)?;
            emit(ctx.json, &status, || status_text(&status));
        }
        RetentionCommand::Hold(HoldCommand::Add {
            key,
            class,
            member,
            reason,
        }) => {
            let hold = client(ctx, &key)
                .await?
                .place_hold(&class, member.as_deref(), &reason)
                .await
                .map_err(failure)?;
            emit(ctx.json, &hold, || format!("placed {}", describe(&hold)));
        }
        RetentionCommand::Hold(HoldCommand::Remove { key, id }) => {
            let hold = client(ctx, &key)
                .await?
                .remove_hold(id)
                .await
                .map_err(failure)?;
            emit(ctx.json, &hold, || format!("lifted {}", describe(&hold)));
        }
        RetentionCommand::Hold(HoldCommand::List { key }) => {
            let holds = client(ctx, &key).await?.holds().await.map_err(failure)?;
            emit(ctx.json, &json!({ "holds": holds }), || {
                if holds.is_empty() {
                    return "no legal holds in force".into();
                }
                holds.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
    }
    Ok(())
}

fn status_text(s: &serde_json::Value) -> String {
    let mut lines = vec![format!(
        "retention job {}, every {} s, at most {} rows per class per pass; last pass {}; {} holds in force",
        if s["enabled"] == true { "on" } else { "OFF" },
        s["interval_ms"].as_u64().unwrap_or(0) / 1_000,
        s["max_rows_per_pass"],
        s["last_pass_ms"]
            .as_u64()
            .map_or_else(|| "never".into(), format_time_ms),
        s["holds"]
    )];
    for c in s["classes"].as_array().into_iter().flatten() {
        let held = if c["held"] == true {
            "  HELD".to_string()
        } else if c["held_members"].as_u64().unwrap_or(0) > 0 {
            format!("  {} members held", c["held_members"])
        } else {
            String::new()
        };
        let enforced = if c["enforced"] == true {
            ""
        } else {
            "  (not enforced on this node)"
        };
        let run = &c["last_run"];
        let last = if run.is_null() {
            "no pass yet".to_string()
        } else {
            format!(
                "last pass deleted {}, {} in all",
                run["last_deleted"], run["deleted_total"]
            )
        };
        lines.push(format!(
            "  {:<20} {:>5} days  {last}{held}{enforced}",
            c["class"].as_str().unwrap_or_default(),
            c["window_days"]
        ));
    }
    lines.join("\n")
}
