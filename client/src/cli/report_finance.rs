//! `cactus report finance`: an org's finance report as a table, CSV, JSON or a stamped
//! PDF. The node's answer (`GET /v1/reports/finance`: coupon liability per currency and
//! pool with what ends within 30/60/90 days and the breakage estimate, the loyalty
//! program's liability per segment with what expires within 30/60/90 days, and settlement
//! per partner org), plus the discount cost per month of the last `--months` months from
//! the analytics KPI report. Money is in minor units with its currency, as the API gives
//! it. CSV holds every table, each after a `# heading` line and a blank line between.

use super::context::{Ctx, load_key};
use super::report::{Format, Sheet, render_pdf, table};
use anyhow::{Context as _, Result, bail};
use clap::Args;
use couponcactus_client::analytics::{AnalyticsClient, AnalyticsQuery, KpiReport};
use couponcactus_client::finance::FinanceReport;
use couponcactus_client::privacy_report::PrivacyReport;
use couponcactus_client::times::format_time_ms;
use std::path::PathBuf;

/// Most months of discount cost.
const MAX_MONTHS: u32 = 120;

/// `cactus report finance`.
#[derive(Debug, Args)]
pub struct FinanceArgs {
    /// A key of your org (admin or issuer) or an auditor key.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    pub key: PathBuf,
    /// The org (default: the key's org; another org: auditors only).
    #[arg(long)]
    pub org: Option<String>,
    /// Months of discount cost, counted back from the report's block time (1 to 120).
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to FILE instead of stdout (required for pdf).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `cactus report privacy`.
#[derive(Debug, Args)]
pub struct PrivacyArgs {
    /// A key of your org (admin or issuer) or an auditor key.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    pub key: PathBuf,
    /// The org (default: the key's org; another org: auditors only).
    #[arg(long)]
    pub org: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to FILE instead of stdout (required for pdf).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `cactus report privacy`.
pub async fn run_privacy(ctx: &Ctx, args: PrivacyArgs) -> Result<()> {
    let format = if ctx.json { Format::Json } else { args.format };
    if format == Format::Pdf && args.out.is_none() {
        bail!("--format pdf writes a file: say where with --out FILE");
    }
    let key = load_key(&args.key)?;
    let node = ctx.connect().await?;
    let client = AnalyticsClient::new(node.base_url(), node.chain_id().clone(), key.key.clone());
    let report = client.privacy(args.org.as_deref()).await?;
    let sheets = privacy_sheets(&report);
    let bytes = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report)?).into_bytes(),
        Format::Csv => csv_sections(&sheets).into_bytes(),
        Format::Table => table(&sheets, &report.stamp).into_bytes(),
        Format::Pdf => {
            let title = format!("Privacy report: {}", report.org);
            let subtitle = format!(
                "{} members known; as of block time {}",
                report.known_members,
                format_time_ms(report.stamp.time_ms)
            );
            render_pdf(title, subtitle, &report.stamp, &sheets, vec![])?
        }
    };
    write_out(args.out.as_ref(), &bytes)
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}

fn privacy_sheets(r: &PrivacyReport) -> Vec<Sheet> {
    let consent = r
        .consent
        .iter()
        .map(|c| {
            cells([
                c.purpose.clone(),
                c.granted.to_string(),
                c.withdrawn.to_string(),
                c.no_record.to_string(),
                c.coverage.percent(),
            ])
        })
        .collect();
    let erasures = r
        .erasures
        .iter()
        .map(|e| {
            cells([
                e.member.clone(),
                format_time_ms(e.at_ms),
                e.height.to_string(),
            ])
        })
        .collect();
    vec![
        Sheet {
            heading: format!("Consent coverage ({} members known)", r.known_members),
            columns: columns(&["purpose", "granted", "withdrawn", "no_record", "coverage"]),
            rows: consent,
        },
        Sheet {
            heading: "Erasure log (receipts on the ledger)".into(),
            columns: columns(&["member", "erased_at", "height"]),
            rows: erasures,
        },
    ]
}

/// Runs `cactus report finance`.
pub async fn run(ctx: &Ctx, args: FinanceArgs) -> Result<()> {
    let format = if ctx.json { Format::Json } else { args.format };
    if format == Format::Pdf && args.out.is_none() {
        bail!("--format pdf writes a file: say where with --out FILE");
    }
    if !(1..=MAX_MONTHS).contains(&args.months) {
        bail!("--months must be between 1 and {MAX_MONTHS}");
    }
    let key = load_key(&args.key)?;
    let node = ctx.connect().await?;
    let client = AnalyticsClient::new(node.base_url(), node.chain_id().clone(), key.key.clone());
    let report = client.finance(args.org.as_deref()).await?;
    let query = AnalyticsQuery {
        from_ms: Some(months_back(report.stamp.time_ms, args.months)?),
        org: Some(report.org.clone()),
        period: Some("month".into()),
        ..AnalyticsQuery::default()
    };
    let kpis = client.kpis(&query).await?;
    let sheets = sheets(&report, &kpis);
    let bytes = match format {
        Format::Json => {
            let both = serde_json::json!({ "finance": report, "discount_by_month": kpis });
            format!("{}\n", serde_json::to_string_pretty(&both)?).into_bytes()
        }
        Format::Csv => csv_sections(&sheets).into_bytes(),
        Format::Table => {
            let mut t = table(&sheets, &report.stamp);
            t.push_str(&notes(&report));
            t.into_bytes()
        }
        Format::Pdf => {
            let title = format!("Finance report: {}", report.org);
            let subtitle = format!(
                "as of block time {}; {}",
                format_time_ms(report.stamp.time_ms),
                notes(&report).trim_end().replace('\n', "; ")
            );
            render_pdf(title, subtitle, &report.stamp, &sheets, vec![])?
        }
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}

/// The first instant (UTC) of the month `months − 1` months before the one of `time_ms`:
/// `months` whole calendar months up to the report's, the last one running.
fn months_back(time_ms: u64, months: u32) -> Result<u64> {
    use jiff::tz::TimeZone;
    let ms = i64::try_from(time_ms).context("block time out of range")?;
    let date = TimeZone::UTC
        .to_datetime(jiff::Timestamp::from_millisecond(ms)?)
        .date();
    let back = jiff::Span::new().months(i64::from(months) - 1);
    let first = date.first_of_month().checked_sub(back)?;
    let start = TimeZone::UTC
        .to_timestamp(first.to_datetime(jiff::civil::Time::midnight()))?
        .as_millisecond();
    u64::try_from(start).context("a month before the epoch")
}

/// What the reader must know about the figures' coverage.
fn notes(r: &FinanceReport) -> String {
    let mut out = format!(
        "Analytics figures (average discounts, coupon flows) cover height {}.\n",
        r.analytics_height
    );
    if r.coupons.truncated {
        out.push_str(
            "Coupon liability: the token limit was reached; later pools count no tokens.\n",
        );
    }
    if r.points.as_ref().is_some_and(|p| p.truncated) {
        out.push_str("Points expiry: the account limit was reached; figures cover the first accounts only.\n");
    }
    out
}

fn cells<const N: usize>(v: [String; N]) -> Vec<String> {
    v.to_vec()
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// Every table of the report, in reading order.
fn sheets(r: &FinanceReport, kpis: &KpiReport) -> Vec<Sheet> {
    let mut out = vec![coupon_totals(r), coupon_pools(r), breakage(r)];
    out.push(points(r));
    out.push(points_settlement(r));
    out.push(coupon_flows(r));
    out.push(discount_by_month(kpis));
    out
}

fn coupon_totals(r: &FinanceReport) -> Sheet {
    let rows = r
        .coupons
        .totals
        .iter()
        .map(|t| {
            cells([
                t.currency.clone(),
                t.liability.to_string(),
                t.ending_within_30_days.to_string(),
                t.ending_within_60_days.to_string(),
                t.ending_within_90_days.to_string(),
                opt(t.estimated_breakage),
                t.unvalued_pools.to_string(),
            ])
        })
        .collect();
    Sheet {
        heading: "Coupon liability by currency (minor units)".into(),
        columns: columns(&[
            "currency",
            "liability",
            "ending_30d",
            "ending_60d",
            "ending_90d",
            "est_breakage",
            "unvalued_pools",
        ]),
        rows,
    }
}

fn coupon_pools(r: &FinanceReport) -> Sheet {
    let rows = r
        .coupons
        .pools
        .iter()
        .map(|p| {
            cells([
                p.pool.clone(),
                p.status.clone(),
                p.currency.clone(),
                format_time_ms(p.valid_until_ms),
                p.outstanding.to_string(),
                opt(p.face_value),
                p.face_basis.clone(),
                p.liability.to_string(),
                p.available.to_string(),
                p.redeemed.to_string(),
                p.revoked.to_string(),
            ])
        })
        .collect();
    Sheet {
        heading: "Coupon liability by pool".into(),
        columns: columns(&[
            "pool",
            "status",
            "currency",
            "valid_until",
            "outstanding",
            "face_value",
            "face_basis",
            "liability",
            "available",
            "redeemed",
            "revoked",
        ]),
        rows,
    }
}

fn breakage(r: &FinanceReport) -> Sheet {
    let b = &r.coupons.breakage;
    Sheet {
        heading: "Breakage learnt from closed pools".into(),
        columns: columns(&["closed_pools", "allocated", "never_redeemed", "rate"]),
        rows: vec![cells([
            b.closed_pools.to_string(),
            b.allocated.to_string(),
            b.unredeemed.to_string(),
            b.rate.percent(),
        ])],
    }
}

fn points(r: &FinanceReport) -> Sheet {
    let rows = r
        .points
        .iter()
        .flat_map(|p| &p.segments)
        .map(|s| {
            cells([
                s.segment.clone(),
                s.unit.clone(),
                s.outstanding.to_string(),
                s.due.to_string(),
                s.within_30_days.to_string(),
                s.within_60_days.to_string(),
                s.within_90_days.to_string(),
            ])
        })
        .collect();
    Sheet {
        heading: match &r.points {
            Some(p) => format!("Loyalty liability: {} (v{})", p.program, p.version),
            None => "Loyalty liability (the org runs no program)".into(),
        },
        columns: columns(&[
            "segment",
            "unit",
            "outstanding",
            "due",
            "expiring_30d",
            "expiring_60d",
            "expiring_90d",
        ]),
        rows,
    }
}

fn points_settlement(r: &FinanceReport) -> Sheet {
    let mut rows = Vec::new();
    for s in &r.points_settlements {
        for (segment, net) in &s.net {
            rows.push(cells([
                s.partner.clone(),
                segment.clone(),
                s.credited.get(segment).copied().unwrap_or(0).to_string(),
                s.spent.get(segment).copied().unwrap_or(0).to_string(),
                net.to_string(),
            ]));
        }
    }
    Sheet {
        heading: "Loyalty settlement per partner (net > 0: the partner owes the program)".into(),
        columns: columns(&[
            "partner",
            "segment",
            "credited_by_partner",
            "spent_at_partner",
            "net",
        ]),
        rows,
    }
}

fn coupon_flows(r: &FinanceReport) -> Sheet {
    let rows = r
        .coupon_flows
        .iter()
        .map(|f| {
            let net = i128::from(f.discount_for_partner) - i128::from(f.discount_by_partner);
            cells([
                f.partner.clone(),
                f.currency.clone(),
                f.honoured_by_partner.to_string(),
                f.discount_by_partner.to_string(),
                f.honoured_for_partner.to_string(),
                f.discount_for_partner.to_string(),
                net.to_string(),
            ])
        })
        .collect();
    Sheet {
        heading: "Coupon settlement per partner (net > 0: the partner owes the org)".into(),
        columns: columns(&[
            "partner",
            "currency",
            "partner_redeemed_ours",
            "discount_we_owe",
            "we_redeemed_theirs",
            "discount_they_owe",
            "net",
        ]),
        rows,
    }
}

fn discount_by_month(k: &KpiReport) -> Sheet {
    let mut rows = Vec::new();
    for row in &k.rows {
        for m in &row.money {
            rows.push(cells([
                row.bucket.clone().unwrap_or_else(|| "total".into()),
                m.currency.clone(),
                m.redemptions.to_string(),
                m.net_discount_minor.to_string(),
                m.gross_order_minor.to_string(),
            ]));
        }
    }
    Sheet {
        heading: "Discount cost per month (net of rollbacks, minor units)".into(),
        columns: columns(&[
            "month",
            "currency",
            "redemptions",
            "discount",
            "gross_orders",
        ]),
        rows,
    }
}

/// Every sheet as CSV, each after a `# heading` line, a blank line between.
fn csv_sections(sheets: &[Sheet]) -> String {
    let mut out = String::new();
    for (i, s) in sheets.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("# {}\n", s.heading));
        out.push_str(&super::report::csv(std::slice::from_ref(s)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_back_starts_on_a_calendar_month() {
        // 2026-12-05T13:04:55Z.
        let t = 1_796_475_895_000;
        assert_eq!(months_back(t, 1).unwrap(), 1_796_083_200_000, "2026-12-01");
        assert_eq!(months_back(t, 12).unwrap(), 1_767_225_600_000, "2026-01-01");
        assert_eq!(months_back(t, 13).unwrap(), 1_764_547_200_000, "2025-12-01");
    }
}
