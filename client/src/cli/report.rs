//! `cactus report kpis|redemptions|rejections`: the node's analytics as a table, CSV, JSON
//! or a PDF stamped with the chain position the figures were computed at.
//!
//! Dates are the CLI's (`--from 2026-12-01 --to 2026-12-08`: a bare date is UTC midnight,
//! and as `--to` the end of that day); analytics are kept per hour, so a time must be on a
//! whole hour. Money is printed in minor units (cents for EUR), as the API gives it.

use super::context::{Ctx, load_key};
use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use couponcactus_client::analytics::{
    AnalyticsClient, AnalyticsQuery, KpiReport, RedemptionsReport, RejectionReport, Stamp,
};
use couponcactus_client::report_pdf::{ReportDocument, ReportSection, ReportStamp};
use couponcactus_client::times::{Edge, format_time_ms, parse_instant};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `cactus report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// KPIs: issued, allocated, redeemed, rolled back, revoked, rejected, redemption rates,
    /// discount, order value (gross, net, average basket), partner redemptions, budget burn.
    Kpis(ReportArgs),
    /// Redemptions one by one, in log order.
    Redemptions(ReportArgs),
    /// Refused txs by rejection reason.
    Rejections(ReportArgs),
    /// Finance: coupon and loyalty liability, what ends or expires within 30/60/90 days,
    /// breakage, settlement per partner, discount cost per month.
    Finance(super::report_finance::FinanceArgs),
    /// Privacy: consent coverage per purpose among the members the org knows, and the
    /// erasure log (the ledger's erasure receipts).
    Privacy(super::report_finance::PrivacyArgs),
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people, with the stamp below.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// The node's answer, stamp included.
    Json,
    /// A PDF report with tables and charts, stamped.
    Pdf,
}

/// What every report takes.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A key of your org (admin or issuer) or an auditor key.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    pub key: PathBuf,
    /// Range start (inclusive): 2026-12-01 or 2026-12-01T10:00Z (on a whole hour).
    #[arg(long)]
    pub from: Option<String>,
    /// Range end (exclusive; a bare date means the end of that day).
    #[arg(long)]
    pub to: Option<String>,
    /// Only pools of this org.
    #[arg(long)]
    pub org: Option<String>,
    /// Only this pool.
    #[arg(long)]
    pub pool: Option<String>,
    /// Only this store.
    #[arg(long)]
    pub store: Option<String>,
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only this terminal key (hex).
    #[arg(long)]
    pub terminal: Option<String>,
    /// Group by: org, pool, store, channel, terminal, signer_org (comma list).
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// Period: total, hour, day, week, month.
    #[arg(long)]
    pub period: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to FILE instead of stdout (required for pdf).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Redemptions: most rows (all pages up to this many).
    #[arg(long, default_value_t = 10_000)]
    pub limit: u32,
}

impl ReportArgs {
    fn query(&self) -> Result<AnalyticsQuery> {
        let at = |t: &Option<String>, edge, name| {
            t.as_deref()
                .map(|t| parse_instant(t, edge).with_context(|| format!("--{name}")))
                .transpose()
        };
        Ok(AnalyticsQuery {
            from_ms: at(&self.from, Edge::Start, "from")?,
            to_ms: at(&self.to, Edge::End, "to")?,
            org: self.org.clone(),
            pool: self.pool.clone(),
            store: self.store.clone(),
            channel: self.channel.clone(),
            terminal: self.terminal.clone(),
            group_by: self.group_by.clone(),
            period: self.period.clone(),
            limit: None,
            after: None,
        })
    }
}

/// A report as rows, for table, CSV and PDF.
#[derive(Clone, Debug, Default)]
pub(super) struct Sheet {
    /// The table's title.
    pub(super) heading: String,
    /// Column names.
    pub(super) columns: Vec<String>,
    /// Rows of cells, one per column.
    pub(super) rows: Vec<Vec<String>>,
}

/// Runs `cactus report …`.
pub async fn run(ctx: &Ctx, command: ReportCommand) -> Result<()> {
    let (kind, args) = match &command {
        ReportCommand::Kpis(a) => ("kpis", a),
        ReportCommand::Redemptions(a) => ("redemptions", a),
        ReportCommand::Rejections(a) => ("rejections", a),
        ReportCommand::Finance(_) | ReportCommand::Privacy(_) => {
            return match command {
                ReportCommand::Finance(a) => super::report_finance::run(ctx, a).await,
                ReportCommand::Privacy(a) => super::report_finance::run_privacy(ctx, a).await,
                _ => unreachable!("matched above"),
            };
        }
    };
    let format = if ctx.json { Format::Json } else { args.format };
    if format == Format::Pdf && args.out.is_none() {
        bail!("--format pdf writes a file: say where with --out FILE");
    }
    let query = args.query()?;
    let key = load_key(&args.key)?;
    let node = ctx.connect().await?;
    let client = AnalyticsClient::new(node.base_url(), node.chain_id().clone(), key.key.clone());
    let (json, stamp, sheets, charts) = match kind {
        "kpis" => {
            let r = client.kpis(&query).await?;
            let (sheets, charts) = kpi_sheets(&r);
            (serde_json::to_string_pretty(&r)?, r.stamp, sheets, charts)
        }
        "rejections" => {
            let r = client.rejections(&query).await?;
            let (sheets, charts) = rejection_sheets(&r);
            (serde_json::to_string_pretty(&r)?, r.stamp, sheets, charts)
        }
        _ => {
            let r = all_redemptions(&client, query.clone(), args.limit).await?;
            let sheets = vec![redemption_sheet(&r)];
            (serde_json::to_string_pretty(&r)?, r.stamp, sheets, vec![])
        }
    };
    let bytes = match format {
        Format::Json => format!("{json}\n").into_bytes(),
        Format::Csv => csv(&sheets).into_bytes(),
        Format::Table => table(&sheets, &stamp).into_bytes(),
        Format::Pdf => pdf(kind, args, &stamp, &sheets, charts)?,
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

async fn all_redemptions(
    client: &AnalyticsClient,
    mut query: AnalyticsQuery,
    limit: u32,
) -> Result<RedemptionsReport> {
    query.limit = Some(limit.clamp(1, 1000));
    let mut first = client.redemptions(&query).await?;
    while let Some(next) = first.next.clone() {
        if first.rows.len() >= limit as usize {
            break;
        }
        query.after = Some(next);
        let page = client.redemptions(&query).await?;
        first.rows.extend(page.rows);
        first.next = page.next;
    }
    first.rows.truncate(limit as usize);
    Ok(first)
}

fn group_cells(group: &BTreeMap<String, String>, dims: &[String]) -> Vec<String> {
    dims.iter()
        .map(|d| group.get(d).cloned().unwrap_or_default())
        .collect()
}

const KPI_COLUMNS: [&str; 16] = [
    "issued",
    "allocated",
    "redeemed",
    "rolled_back",
    "revoked",
    "rejected",
    "partner_redemptions",
    "rate_redeemed_allocated",
    "rate_redeemed_issued",
    "currency",
    "gross_order_minor",
    "net_order_minor",
    "average_basket_minor",
    "discount_minor",
    "rolled_back_discount_minor",
    "net_discount_minor",
];

fn kpi_columns(r: &KpiReport) -> Vec<String> {
    let mut cols = r.group_by.clone();
    if r.period != "total" {
        cols.push(r.period.clone());
    }
    cols.extend(KPI_COLUMNS.iter().map(|c| c.to_string()));
    cols
}

/// One line per row and currency (a row without money has one line, money blank).
fn kpi_lines(r: &KpiReport) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for row in &r.rows {
        let mut head = group_cells(&row.group, &r.group_by);
        if r.period != "total" {
            head.push(row.bucket.clone().unwrap_or_default());
        }
        let counts = [
            row.issued,
            row.allocated,
            row.redeemed,
            row.rolled_back,
            row.revoked,
            row.rejected,
            row.partner_redemptions,
        ];
        head.extend(counts.iter().map(u64::to_string));
        head.push(row.redemption_rate_allocated.percent());
        head.push(row.redemption_rate_issued.percent());
        if row.money.is_empty() {
            let mut line = head.clone();
            line.extend(std::iter::repeat_n(String::new(), 7));
            out.push(line);
        }
        for m in &row.money {
            let mut line = head.clone();
            line.push(m.currency.clone());
            for v in [m.gross_order_minor, m.net_order_minor] {
                line.push(v.to_string());
            }
            line.push(
                m.average_basket_minor
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
            for v in [
                m.discount_minor,
                m.rolled_back_discount_minor,
                m.net_discount_minor,
            ] {
                line.push(v.to_string());
            }
            out.push(line);
        }
    }
    out
}

fn kpi_sheets(r: &KpiReport) -> (Vec<Sheet>, Vec<ReportSection>) {
    let mut sheets = vec![Sheet {
        heading: "KPIs".into(),
        columns: kpi_columns(r),
        rows: kpi_lines(r),
    }];
    if !r.partner.is_empty() {
        sheets.push(Sheet {
            heading: "Partner (cross-brand) redemptions".into(),
            columns: [
                "pool_org",
                "redeeming_org",
                "currency",
                "redemptions",
                "discount_minor",
                "gross_order_minor",
            ]
            .map(String::from)
            .to_vec(),
            rows: r
                .partner
                .iter()
                .map(|p| {
                    vec![
                        p.pool_org.clone(),
                        p.redeeming_org.clone(),
                        p.currency.clone(),
                        p.redemptions.to_string(),
                        p.discount_minor.to_string(),
                        p.gross_order_minor.to_string(),
                    ]
                })
                .collect(),
        });
    }
    if !r.budget.is_empty() {
        sheets.push(Sheet {
            heading: "Budget burn (against total_cap, up to the end of the range)".into(),
            columns: ["pool", "kind", "used", "total_cap", "burn"]
                .map(String::from)
                .to_vec(),
            rows: r
                .budget
                .iter()
                .map(|b| {
                    vec![
                        b.pool.clone(),
                        b.kind.clone(),
                        b.used.to_string(),
                        b.total_cap.to_string(),
                        b.burn.percent(),
                    ]
                })
                .collect(),
        });
    }
    (sheets, kpi_charts(r))
}

fn label(group: &BTreeMap<String, String>) -> String {
    let parts: Vec<&str> = group
        .values()
        .map(|v| if v.is_empty() { "-" } else { v.as_str() })
        .collect();
    if parts.is_empty() {
        "all".into()
    } else {
        parts.join(" / ")
    }
}

fn kpi_charts(r: &KpiReport) -> Vec<ReportSection> {
    let mut charts = Vec::new();
    if r.period != "total" {
        let mut by_bucket: BTreeMap<String, [i64; 3]> = BTreeMap::new();
        for row in &r.rows {
            let b = by_bucket
                .entry(row.bucket.clone().unwrap_or_default())
                .or_default();
            b[0] += row.allocated as i64;
            b[1] += row.redeemed as i64;
            b[2] += row.rejected as i64;
        }
        let labels: Vec<String> = by_bucket.keys().cloned().collect();
        let series = ["allocated", "redeemed", "rejected"]
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_string(), by_bucket.values().map(|v| v[i]).collect()))
            .collect();
        charts.push(ReportSection::TimeSeries {
            heading: format!("Coupons per {}", r.period),
            unit: "coupons".into(),
            labels,
            series,
        });
    }
    if !r.group_by.is_empty() {
        let mut bars: BTreeMap<String, i64> = BTreeMap::new();
        for row in &r.rows {
            *bars.entry(label(&row.group)).or_default() += row.redeemed as i64;
        }
        charts.push(ReportSection::Bars {
            heading: format!("Redemptions by {}", r.group_by.join(", ")),
            unit: "redemptions".into(),
            bars: bars.into_iter().collect(),
        });
    }
    charts
}

fn rejection_sheets(r: &RejectionReport) -> (Vec<Sheet>, Vec<ReportSection>) {
    let mut columns = r.group_by.clone();
    if r.period != "total" {
        columns.push(r.period.clone());
    }
    columns.extend(["reason".to_string(), "count".to_string()]);
    let rows = r
        .rows
        .iter()
        .map(|row| {
            let mut line = group_cells(&row.group, &r.group_by);
            if r.period != "total" {
                line.push(row.bucket.clone().unwrap_or_default());
            }
            line.extend([row.reason.clone(), row.count.to_string()]);
            line
        })
        .collect();
    let mut bars: BTreeMap<String, i64> = BTreeMap::new();
    for row in &r.rows {
        *bars.entry(row.reason.clone()).or_default() += row.count as i64;
    }
    let chart = ReportSection::Bars {
        heading: "Rejections by reason".into(),
        unit: "txs".into(),
        bars: bars.into_iter().collect(),
    };
    (
        vec![Sheet {
            heading: "Rejections".into(),
            columns,
            rows,
        }],
        vec![chart],
    )
}

fn redemption_sheet(r: &RedemptionsReport) -> Sheet {
    let columns = [
        "id",
        "time",
        "org",
        "pool",
        "token",
        "store",
        "channel",
        "signer_org",
        "currency",
        "order_total_minor",
        "discount_minor",
        "rolled_back_height",
        "partner",
    ];
    let rows = r
        .rows
        .iter()
        .map(|x| {
            vec![
                x.id.clone(),
                format_time_ms(x.time_ms),
                x.org.clone(),
                x.pool.clone(),
                x.token.clone().unwrap_or_default(),
                x.store.clone(),
                x.channel.clone(),
                x.signer_org.clone(),
                x.currency.clone(),
                x.order_total_minor
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                x.discount_minor.to_string(),
                x.rolled_back_height
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                x.partner.to_string(),
            ]
        })
        .collect();
    Sheet {
        heading: "Redemptions".into(),
        columns: columns.map(String::from).to_vec(),
        rows,
    }
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_string()
    }
}

/// The first sheet as CSV (the main table: KPIs, rejections or redemptions).
pub(super) fn csv(sheets: &[Sheet]) -> String {
    let mut out = String::new();
    if let Some(s) = sheets.first() {
        for line in std::iter::once(&s.columns).chain(&s.rows) {
            let cells: Vec<String> = line.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    out
}

fn certificate_line(stamp: &Stamp) -> Option<String> {
    stamp.certificate.as_ref().map(|c| {
        format!(
            "checkpoint at height {} (block {}) signed by {} voter(s)",
            c.height,
            c.block_hash,
            c.signatures.len()
        )
    })
}

fn stamp_lines(stamp: &Stamp) -> String {
    format!(
        "Computed at height {} of {} (block {}, state root {}, block time {}); certificate: {}\n",
        stamp.height,
        stamp.chain_id,
        stamp.block_hash,
        stamp.state_root,
        format_time_ms(stamp.time_ms),
        certificate_line(stamp).unwrap_or_else(|| "none yet".into())
    )
}

pub(super) fn table(sheets: &[Sheet], stamp: &Stamp) -> String {
    let mut out = String::new();
    for s in sheets {
        let mut widths: Vec<usize> = s.columns.iter().map(|c| c.len()).collect();
        for row in &s.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        out.push_str(&format!("{}\n", s.heading));
        for line in std::iter::once(&s.columns).chain(&s.rows) {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if s.rows.is_empty() {
            out.push_str("(nothing in this range)\n");
        }
        out.push('\n');
    }
    out.push_str(&stamp_lines(stamp));
    out
}

/// Most columns of one PDF table: a page fits about this many readable columns.
const PDF_MAX_COLUMNS: usize = 8;

/// A sheet as PDF tables of at most [`PDF_MAX_COLUMNS`] columns: a wide one is cut into
/// several, each repeating the key columns (the group and period) that name its rows.
fn pdf_tables(sheet: &Sheet) -> Vec<Sheet> {
    if sheet.columns.len() <= PDF_MAX_COLUMNS {
        return vec![sheet.clone()];
    }
    let keys = sheet
        .columns
        .iter()
        .position(|c| c == "issued" || c == "redemptions" || c == "rejected")
        .unwrap_or(1)
        .clamp(1, PDF_MAX_COLUMNS / 2);
    let rest: Vec<usize> = (keys..sheet.columns.len()).collect();
    let chunks: Vec<&[usize]> = rest.chunks(PDF_MAX_COLUMNS - keys).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let pick = |row: &Vec<String>| -> Vec<String> {
                (0..keys)
                    .chain(chunk.iter().copied())
                    .map(|c| row.get(c).cloned().unwrap_or_default())
                    .collect()
            };
            Sheet {
                heading: format!("{} ({} of {})", sheet.heading, i + 1, chunks.len()),
                columns: pick(&sheet.columns),
                rows: sheet.rows.iter().map(pick).collect(),
            }
        })
        .collect()
}

fn pdf(
    kind: &str,
    args: &ReportArgs,
    stamp: &Stamp,
    sheets: &[Sheet],
    charts: Vec<ReportSection>,
) -> Result<Vec<u8>> {
    let mut filters = Vec::new();
    for (name, v) in [
        ("from", &args.from),
        ("to", &args.to),
        ("org", &args.org),
        ("pool", &args.pool),
        ("store", &args.store),
        ("channel", &args.channel),
    ] {
        if let Some(v) = v {
            filters.push(format!("{name} {v}"));
        }
    }
    let subtitle = if filters.is_empty() {
        "whole chain".into()
    } else {
        filters.join(", ")
    };
    let title = format!("Couponcactus report: {kind}");
    render_pdf(title, subtitle, stamp, sheets, charts)
}

/// A stamped PDF of `sheets` after `charts`, wide tables cut to fit the page.
pub(super) fn render_pdf(
    title: String,
    subtitle: String,
    stamp: &Stamp,
    sheets: &[Sheet],
    charts: Vec<ReportSection>,
) -> Result<Vec<u8>> {
    let mut sections = charts;
    sections.extend(
        sheets
            .iter()
            .flat_map(pdf_tables)
            .map(|s| ReportSection::Table {
                heading: s.heading,
                columns: s.columns,
                rows: s.rows,
            }),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let doc = ReportDocument {
        title,
        subtitle,
        stamp: ReportStamp {
            chain_id: stamp.chain_id.clone(),
            height: stamp.height,
            block_hash: stamp.block_hash.clone(),
            state_root: stamp.state_root.clone(),
            certificate: certificate_line(stamp),
            generated_at: format_time_ms(now),
        },
        sections,
    };
    couponcactus_client::report_pdf::render(&doc).context("rendering the PDF")
}
