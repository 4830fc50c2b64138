//! `cactus advise`: the coupon advisor for an org's admins and issuers (and auditors,
//! `--org`), from `GET /v1/advice`: every pool's redemption rate, discount cost, order
//! value, growth and BCG quadrant with its action; the member segments; how the models
//! answered; and 3–5 proposed offers, each a complete pool spec with the numbers it rests
//! on and the height they were computed at. `--budget-minor` adds the budget split across
//! the proposals' segments. Nothing is created: `--json` prints each proposal's spec, which
//! the console's "Adopt as draft" (or `cactus pool create`) turns into a draft pool that a
//! person signs.
//!
//! The answer's types live with the node's advisor; this command reads it as JSON and
//! prints the fields a person acts on, so the wire format is defined once.

use super::context::{Ctx, load_key};
use super::output::{emit, explain};
use anyhow::Result;
use clap::Args;
use couponcactus_client::amounts::format_minor;
use couponcactus_client::chaincode::ids::OrgId;
use couponcactus_client::chaincode::types::{Currency, PoolSpec};
use couponcactus_client::pool_spec::PoolSpecDraft;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `cactus advise`.
#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// An org admin's or issuer's key file (or an auditor's, with --org).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The org (default: the key's own; another org: auditors only).
    #[arg(long, value_name = "ORG")]
    org: Option<OrgId>,
    /// Days of the period reviewed (7–365).
    #[arg(long, default_value_t = 30)]
    period_days: u32,
    /// Proposals wanted (3–5).
    #[arg(long, default_value_t = 5)]
    proposals: usize,
    /// A budget to split across the proposals' segments, minor units of the org's currency.
    #[arg(long, value_name = "MINOR")]
    budget_minor: Option<u64>,
    /// What the split maximises: redemptions or margin.
    #[arg(long, default_value = "redemptions")]
    objective: String,
    /// The merchant's margin on an order, basis points (for --objective margin).
    #[arg(long, default_value_t = 3_000)]
    margin_bps: u32,
    /// Write proposal ID's pool spec (e.g. `p1`) as a TOML spec to --out, for
    /// `cactus pool create --spec FILE` (creates a draft: nothing is issued).
    #[arg(long, value_name = "ID", requires = "out")]
    adopt: Option<String>,
    /// Where --adopt writes the spec.
    #[arg(long, value_name = "FILE", requires = "adopt")]
    out: Option<PathBuf>,
}

/// Runs `cactus advise`.
pub async fn run(ctx: &Ctx, args: AdviseArgs) -> Result<()> {
    let reader = load_key(&args.key)?;
    let client = ctx.connect_as(&reader).await?;
    let mut query = format!(
        "period_days={}&proposals={}&objective={}&margin_bps={}",
        args.period_days, args.proposals, args.objective, args.margin_bps
    );
    if let Some(org) = &args.org {
        let _ = write!(query, "&org={org}");
    }
    if let Some(b) = args.budget_minor {
        let _ = write!(query, "&budget_minor={b}");
    }
    let advice = client
        .advice(&query)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    if let (Some(id), Some(out)) = (&args.adopt, &args.out) {
        return adopt(&advice, id, out);
    }
    emit(ctx.json, &advice, || text(&advice));
    Ok(())
}

/// Writes proposal `id`'s spec as the TOML `cactus pool create --spec` reads.
fn adopt(advice: &Value, id: &str, out: &std::path::Path) -> Result<()> {
    let proposals = advice["proposals"].as_array().cloned().unwrap_or_default();
    let Some(p) = proposals.iter().find(|p| p["id"] == id) else {
        let ids: Vec<String> = proposals.iter().map(|p| s(&p["id"])).collect();
        anyhow::bail!(
            "no proposal {id:?} at height {}: the advice has {}",
            s(&advice["stamp"]["height"]),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        );
    };
    let spec: PoolSpec = serde_json::from_value(p["spec"].clone())
        .map_err(|e| anyhow::anyhow!("proposal {id}'s spec is not a pool spec: {e}"))?;
    let toml = PoolSpecDraft::from_spec(None, &spec).to_toml()?;
    std::fs::write(out, toml).map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    println!(
        "wrote proposal {id} ({}) computed at height {} to {}: create it in draft with `cactus pool create --spec {}`",
        s(&p["title"]),
        s(&advice["stamp"]["height"]),
        out.display(),
        out.display()
    );
    Ok(())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// Minor units of `currency` as an amount with its currency (`80.00 EUR`).
fn money(v: &Value, currency: &Value) -> String {
    match (
        v.as_u64(),
        currency.as_str().and_then(|c| c.parse::<Currency>().ok()),
    ) {
        (Some(m), Some(c)) => format_minor(m, c),
        _ => s(v),
    }
}

/// Basis points as a percentage with two decimals.
fn pct(v: &Value) -> String {
    v.as_i64().map_or("—".into(), |bp| {
        format!("{}.{:02} %", bp / 100, (bp % 100).abs())
    })
}

fn text(a: &Value) -> String {
    let mut out = String::new();
    let st = &a["stamp"];
    let _ = writeln!(
        out,
        "Advice for {} at height {} (state root {}), period {} days",
        s(&a["org"]),
        s(&st["height"]),
        s(&st["state_root"]),
        s(&a["period_days"])
    );
    let _ = writeln!(out, "\nPools:");
    for p in a["pools"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {:<20} {:<9} rate {:>9}  redeemed {:>5} (before {:>5})  growth {:>9}  discount {:>10}  {}: {}",
            s(&p["pool"]),
            s(&p["status"]),
            pct(&p["redemption_rate_bp"]),
            s(&p["redeemed"]),
            s(&p["redeemed_previous"]),
            pct(&p["growth_bp"]),
            money(&p["discount_minor"], &p["currency"]),
            s(&p["quadrant"]),
            s(&p["action"])
        );
    }
    let _ = writeln!(out, "\nSegments:");
    for g in a["segments"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {:<20} {:>6} members ({:>8})  high churn {:>5}  redemption rate {:>9}",
            s(&g["segment"]),
            s(&g["members"]),
            pct(&g["share_bp"]),
            s(&g["high_churn"]),
            pct(&g["redemption_rate_bp"])
        );
    }
    let m = &a["models"];
    let _ = writeln!(
        out,
        "\nModels: segments by {}, propensity by {} ({} allocations){}",
        s(&m["segments"]),
        s(&m["propensity"]),
        s(&m["propensity_samples"]),
        m["propensity_fallback"]
            .as_str()
            .map(|w| format!(": {w}"))
            .unwrap_or_default()
    );
    proposals_text(a, &mut out);
    out
}

fn proposals_text(a: &Value, out: &mut String) {
    let _ = writeln!(
        out,
        "\nProposals (nothing is created until a person signs a pool):"
    );
    for p in a["proposals"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}. {}\n     {}",
            s(&p["id"]),
            s(&p["title"]),
            s(&p["rationale"])
        );
    }
    if let Some(split) = a.get("budget").filter(|b| !b.is_null()) {
        let _ = writeln!(out, "\nBudget split ({}):", s(&split["method"]));
        for x in split["shares"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {:<32} {:>6} coupons  expected cost {:>10}",
                s(&x["segment"]),
                s(&x["coupons"]),
                s(&x["cost_minor"])
            );
        }
    }
    let notes = a["model"]["notes"].as_array().cloned().unwrap_or_default();
    for n in notes {
        let _ = writeln!(out, "Model note: {}", s(&n));
    }
}
