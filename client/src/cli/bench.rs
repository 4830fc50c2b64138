//! `cactus bench …`: a load generator and benchmarks against a running consortium.
//!
//! - `redeem`: POS terminals redeeming coupons. Sets up its own pool (a fresh id per run),
//!   its own issuer and terminal keys (registered by the org admin `--key`), issues and
//!   activates the coupons, PRE-SIGNS every redemption (signing is not measured), then
//!   keeps `--concurrency` requests in flight for `--duration` seconds, spread over every
//!   node, each waiting for its commit like a real terminal. Only applied txs count;
//!   everything else is an error, counted by code. Latency is per request, submit to
//!   acknowledged commit (hdrhistogram, microsecond resolution).
//! - `issue`: code batches generated and sealed here (measured on their own), then
//!   submitted and committed (measured on their own), and both together.
//! - `proofs`: token reads with state proofs (signed reads) verified locally with the
//!   client library; each distinct block header is tied to a certificate once.
//! - `audit`: the whole chain downloaded, then replayed and verified from genesis with
//!   [`Auditor`], each timed on its own.
//!
//! Rates and percentiles are floats for people: the float lint guards the chaincode's
//! determinism, which this module has no part in.
#![allow(clippy::float_arithmetic)]

use super::context::{Ctx, LoadedKey, load_data_key, load_key};
use super::output::{Failure, emit, explain};
use anyhow::Result;
use clap::{Args, Subcommand};
use couponcactus_client::audit::{
    AuditError, Auditor, BlockRecord, ChainSource, Checkpoint, Consistency, HttpSource, NodeStatus,
    Verdict,
};
use couponcactus_client::chaincode::codes::CodePattern;
use couponcactus_client::chaincode::encoding::encode;
use couponcactus_client::chaincode::execute::Event;
use couponcactus_client::chaincode::ids::{
    ChainId, Channel, Hash32, MemberId, PoolId, PublicKey, StoreId, TokenId,
};
use couponcactus_client::chaincode::memo::Memo;
use couponcactus_client::chaincode::tx::{RedeemTarget, SignedTx, TxKind};
use couponcactus_client::chaincode::types::{
    Currency, Discount, IssuedCode, Order, PoolAction, PoolKind, PoolSpec, Role,
};
use couponcactus_client::genesis::Genesis;
use couponcactus_client::issuance::{generate_codes, seal_codes};
use couponcactus_client::keys::{public_key, random_claim_key};
use couponcactus_client::node_client::load_http_client;
use couponcactus_client::tx_builder::now_ms;
use couponcactus_client::verify::verify_token_view;
use couponcactus_client::views::{TxStatus, TxView};
use couponcactus_client::{
    NodeClient, NodeClientError, ProofVerifier, TrustAnchor, TxBuilder, Wait,
};
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The local consortium's org admin, the default `--key`.
const DEFAULT_KEY: &str = ".localnet/orgs/acme/keys/org-admin.key";
/// Per-request timeout: above the node's commit wait, so a slow commit is the node's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);
/// Most txs in one `POST /v1/txs/batch`.
const MAX_BATCH: u64 = 10_000;
/// Most coupons the default `--coupons` asks for.
const MAX_DEFAULT_COUPONS: u64 = 2_000_000;
/// Issue txs in flight while setting up.
const SETUP_ISSUE_CONCURRENCY: usize = 4;
/// Codes per issue tx while setting up (the chain's default `max_batch_codes`).
const SETUP_BATCH_CODES: usize = 5_000;
/// Highest latency the histograms track: one hour, in microseconds.
const MAX_TRACKED_US: u64 = 3_600_000_000;

/// `cactus bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Signed redemptions committed per second, and their latency, at a concurrency.
    ///
    /// Sets up its own pool (id `bench-<random>`), an issuer and --terminals terminal keys
    /// (registered by the org admin --key, store --store, channel pos), issues --coupons
    /// codes (sealed with the org's data key), activates the pool, pre-signs one redemption
    /// per coupon (not measured), then keeps --concurrency requests in flight for --duration
    /// seconds over all nodes, each waiting for its commit. Redeems by code (what a POS does
    /// with a scanned code; the tokens are not allocated) unless --allocate.
    Redeem(RedeemArgs),
    /// Codes generated, sealed, issued and committed per second, in batches.
    Issue(IssueArgs),
    /// Token state proofs fetched (signed reads) and verified locally per second.
    Proofs(ProofsArgs),
    /// Audit replay speed: the chain downloaded, then re-executed and verified from genesis.
    Audit(AuditArgs),
}

/// Which consortium, as whom.
#[derive(Clone, Debug, Args)]
pub struct TargetArgs {
    /// An org admin's key file: registers the bench's keys (default: the local consortium's
    /// acme admin). Its folder's genesis.toml is the trust anchor, as for other commands.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_KEY)]
    pub key: PathBuf,
    /// The org's code-sealing key (default: data.key next to --key; a random key when there
    /// is none: the bench never opens the codes).
    #[arg(long, value_name = "FILE")]
    pub data_key: Option<PathBuf>,
    /// The nodes to spread requests over (repeatable, or comma-separated). Default: --node
    /// and the HTTP addresses of the local consortium --key belongs to (node*/cactusd.toml),
    /// keeping those that serve the same genesis.
    #[arg(long, value_name = "URL,…", value_delimiter = ',')]
    pub nodes: Vec<String>,
}

/// `cactus bench redeem`.
#[derive(Clone, Debug, Args)]
pub struct RedeemArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Coupons to issue and pre-sign redemptions for (default: enough for the run:
    /// max(2,000 × D, 100 × C × D) × K, at most 2,000,000). The run stops early, and says
    /// so, if they run out.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub coupons: Option<u64>,
    /// Terminal keys signing the redemptions (round robin).
    #[arg(long, value_name = "T", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub terminals: u64,
    /// Requests in flight.
    #[arg(long, value_name = "C", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,
    /// Seconds to send requests for.
    #[arg(long, value_name = "SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Txs per request: 1 posts each to /v1/txs; more posts K at a time to /v1/txs/batch.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH))]
    pub batch: u64,
    /// Allocate every coupon to its own member first, and redeem by token id for that
    /// member (the wallet flow) instead of by code.
    #[arg(long)]
    pub allocate: bool,
    /// The store the terminal keys are registered at (channel `pos`).
    #[arg(long, default_value = "bench-store-1")]
    pub store: StoreId,
    /// Seconds of GET /healthz at the same concurrency first, to show what the load
    /// generator can do against a trivial endpoint (0: skip).
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub probe_secs: u64,
}

/// `cactus bench issue`.
#[derive(Clone, Debug, Args)]
pub struct IssueArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Batches (issue txs) to submit.
    #[arg(long, value_name = "B", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batches: u64,
    /// Codes per batch (at most the chain's max_batch_codes).
    #[arg(long, value_name = "N", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Issue txs in flight.
    #[arg(long, value_name = "C", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub concurrency: u64,
}

/// `cactus bench proofs`.
#[derive(Clone, Debug, Args)]
pub struct ProofsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Proofs to fetch and verify.
    #[arg(long, value_name = "N", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Requests in flight.
    #[arg(long, value_name = "C", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,
    /// Read the tokens of this pool of the --key's org (serials 0..issued) instead of
    /// creating a pool of --tokens tokens.
    #[arg(long)]
    pub pool: Option<PoolId>,
    /// Tokens in the pool created for the run.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub tokens: u64,
}

/// `cactus bench audit`.
#[derive(Clone, Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Blocks per range request (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub range: u64,
    /// Also time the audit as `cactus audit verify` runs it (download and replay
    /// overlapping).
    #[arg(long)]
    pub end_to_end: bool,
}

/// Runs a bench.
pub async fn run(ctx: &Ctx, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Redeem(args) => redeem(ctx, args).await,
        BenchCommand::Issue(args) => issue(ctx, args).await,
        BenchCommand::Proofs(args) => proofs(ctx, args).await,
        BenchCommand::Audit(args) => audit(ctx, args).await,
    }
}

// ---------------------------------------------------------------------------------------
// Plans (pure)
// ---------------------------------------------------------------------------------------

/// What a redeem run will do, from its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RedeemPlan {
    coupons: usize,
    terminals: usize,
    concurrency: usize,
    duration: Duration,
    batch: usize,
}

/// The default number of coupons: enough for 2,000 tx/s on one connection or 100 requests
/// per second on each of `concurrency` connections, whichever is more, for the whole run.
fn default_coupons(concurrency: u64, duration_s: u64, batch: u64) -> u64 {
    let requests = (2_000 * duration_s).max(100 * concurrency * duration_s);
    requests.saturating_mul(batch).min(MAX_DEFAULT_COUPONS)
}

impl RedeemPlan {
    fn new(args: &RedeemArgs) -> std::result::Result<RedeemPlan, String> {
        let coupons = args
            .coupons
            .unwrap_or_else(|| default_coupons(args.concurrency, args.duration, args.batch));
        let needed = args.concurrency.saturating_mul(args.batch);
        if coupons < needed {
            return Err(format!(
                "--coupons {coupons} is fewer than one request's worth for each of the {} \
                 concurrent requests ({} × --batch {} = {needed})",
                args.concurrency, args.concurrency, args.batch
            ));
        }
        Ok(RedeemPlan {
            coupons: coupons as usize,
            terminals: args.terminals as usize,
            concurrency: args.concurrency as usize,
            duration: Duration::from_secs(args.duration),
            batch: args.batch as usize,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Latency summaries (pure)
// ---------------------------------------------------------------------------------------

/// A new latency histogram in microseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("valid histogram bounds")
}

/// Percentiles of a latency histogram (microseconds) in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
struct Latency {
    /// Requests measured.
    samples: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    mean_ms: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

fn summarize(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        samples: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1_000.0,
    }
}

impl Latency {
    fn line(&self) -> String {
        format!(
            "p50 {} ms  p90 {} ms  p99 {} ms  p99.9 {} ms  max {} ms  (mean {} ms, {} requests)",
            fmt_ms(self.p50_ms),
            fmt_ms(self.p90_ms),
            fmt_ms(self.p99_ms),
            fmt_ms(self.p999_ms),
            fmt_ms(self.max_ms),
            fmt_ms(self.mean_ms),
            group(self.samples)
        )
    }
}

/// Milliseconds with three significant digits or so.
fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate, grouped and rounded.
fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn fmt_rate(r: f64) -> String {
    group(r.round() as u64)
}

/// Rounds to 3 decimals for JSON.
fn r3(v: f64) -> f64 {
    (v * 1_000.0).round() / 1_000.0
}

// ---------------------------------------------------------------------------------------
// /proc readings (pure parsers; Linux only, absent elsewhere)
// ---------------------------------------------------------------------------------------

/// User + system CPU seconds from the text of `/proc/<pid>/stat` (fields 14 and 15, in
/// clock ticks of 1/100 s).
fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// `VmRSS` in MiB from the text of `/proc/<pid>/status`.
fn rss_mib_of_status(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib as f64 / 1024.0)
}

/// (busy, iowait) CPU seconds of the whole machine since boot, from the text of
/// `/proc/stat` (its `cpu` line, in ticks of 1/100 s; busy = everything but idle and
/// iowait).
fn machine_seconds_of_stat(stat: &str) -> Option<(f64, f64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let (idle, iowait) = (*ticks.get(3)?, *ticks.get(4)?);
    // guest and guest_nice (9th and 10th) are counted in user and nice already.
    let total: u64 = ticks.iter().take(8).sum();
    Some((
        (total - idle - iowait) as f64 / 100.0,
        iowait as f64 / 100.0,
    ))
}

fn machine_seconds() -> Option<(f64, f64)> {
    machine_seconds_of_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// What the whole machine did during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
struct MachineLoad {
    /// Cores busy on average (all processes).
    busy_cores: f64,
    /// Cores waiting for I/O on average (fsyncs, reads).
    iowait_cores: f64,
    /// Cores used by processes other than the nodes and this load generator (other work on
    /// the machine, which the figures are not free of).
    other_cores: Option<f64>,
}

/// Readings at the start of a run.
#[derive(Clone, Debug)]
struct CpuMark {
    at: Instant,
    machine: Option<(f64, f64)>,
    client: Option<f64>,
    nodes: Vec<Option<f64>>,
    written: Vec<Option<u64>>,
}

impl CpuMark {
    fn now(cluster: &Cluster) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            machine: machine_seconds(),
            client: cpu_seconds(None),
            nodes: cluster.cpu(),
            written: cluster.written(),
        }
    }

    /// (machine load, this process's CPU seconds) since the mark.
    fn since(&self, cluster: &Cluster) -> (Option<MachineLoad>, Option<f64>) {
        let secs = self.at.elapsed().as_secs_f64();
        let client = match (self.client, cpu_seconds(None)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let nodes: Option<f64> = self
            .nodes
            .iter()
            .zip(cluster.cpu())
            .map(|(a, b)| Some(b? - (*a)?))
            .sum();
        let machine = match (self.machine, machine_seconds()) {
            (Some((b0, w0)), Some((b1, w1))) if secs > 0.0 => {
                let busy = b1 - b0;
                Some(MachineLoad {
                    busy_cores: r3(busy / secs),
                    iowait_cores: r3((w1 - w0) / secs),
                    other_cores: match (nodes, client) {
                        (Some(n), Some(c)) => Some(r3(((busy - n - c) / secs).max(0.0))),
                        _ => None,
                    },
                })
            }
            _ => None,
        };
        (machine, client)
    }
}

fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    cpu_seconds_of_stat(&std::fs::read_to_string(path).ok()?)
}

/// `write_bytes` (bytes this process caused to be written to storage) from the text of
/// `/proc/<pid>/io`.
fn written_bytes_of_io(io: &str) -> Option<u64> {
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn written_bytes(pid: u32) -> Option<u64> {
    written_bytes_of_io(&std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?)
}

fn rss_mib(pid: u32) -> Option<f64> {
    rss_mib_of_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

// ---------------------------------------------------------------------------------------
// Prometheus text (pure)
// ---------------------------------------------------------------------------------------

/// The samples of a Prometheus text exposition, by series (`name{labels}` as written).
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// What a node did during a run, from its metrics before and after.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct NodeWork {
    node: String,
    /// Blocks applied.
    blocks: u64,
    /// Blocks this node built (as the leader).
    blocks_built: u64,
    /// Txs in the blocks it built.
    block_txs: u64,
    /// Mean txs per block it built.
    mean_block_txs: Option<f64>,
    /// Mean time to apply a block (execute, commit state, persist), ms.
    mean_apply_ms: f64,
    /// Share of the run spent applying blocks.
    apply_busy: f64,
    /// Mean submit-to-commit latency the node measured, ms (where it records it).
    mean_commit_ms: Option<f64>,
    /// CPU seconds the node's process used (when its pid is known).
    cpu_s: Option<f64>,
    /// MiB the node's process wrote to storage (RocksDB WAL, memtable flushes, compaction).
    written_mib: Option<f64>,
    /// The node's RSS after the run, MiB (when its pid is known).
    rss_mib: Option<f64>,
}

fn node_work(
    node: &str,
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    seconds: f64,
) -> NodeWork {
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let blocks = delta("cactus_block_apply_seconds_count").max(0.0);
    let apply = delta("cactus_block_apply_seconds_sum").max(0.0);
    let txs = delta("cactus_block_txs_sum").max(0.0);
    let built = delta("cactus_block_txs_count").max(0.0);
    let commits = delta("cactus_commit_latency_seconds_count");
    NodeWork {
        node: node.to_string(),
        blocks: blocks as u64,
        blocks_built: built as u64,
        block_txs: txs as u64,
        mean_block_txs: (built > 0.0).then(|| r3(txs / built)),
        mean_apply_ms: r3(if blocks > 0.0 {
            apply * 1_000.0 / blocks
        } else {
            0.0
        }),
        apply_busy: r3(if seconds > 0.0 { apply / seconds } else { 0.0 }),
        mean_commit_ms: (commits > 0.0)
            .then(|| r3(delta("cactus_commit_latency_seconds_sum") * 1_000.0 / commits)),
        cpu_s: None,
        written_mib: None,
        rss_mib: None,
    }
}

// ---------------------------------------------------------------------------------------
// The consortium under test
// ---------------------------------------------------------------------------------------

/// The local consortium folder a key file lives in (`DIR/orgs/<org>/keys/x.key`): the
/// nearest ancestor with `node1/cactusd.toml`.
fn localnet_dir(key: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(key).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .take(5)
        .find(|d| d.join("node1").join("cactusd.toml").is_file())
        .map(Path::to_path_buf)
}

/// A local consortium's nodes: (HTTP URL, pid if running) of `node1..node9`.
fn localnet_nodes(dir: &Path) -> Vec<(String, Option<u32>)> {
    (1..=9)
        .filter_map(|i| {
            let node = dir.join(format!("node{i}"));
            let text = std::fs::read_to_string(node.join("cactusd.toml")).ok()?;
            let config: toml::Value = toml::from_str(&text).ok()?;
            let addr = config.get("http_addr")?.as_str()?;
            let pid = std::fs::read_to_string(node.join("cactusd.pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok());
            Some((format!("http://{addr}"), pid))
        })
        .collect()
}

/// The consortium a bench drives, and the org admin who sets it up.
struct Cluster {
    /// The nodes' URLs.
    urls: Vec<String>,
    /// Their process ids, where known (a local consortium).
    pids: Vec<Option<u32>>,
    chain_id: ChainId,
    http: reqwest::Client,
    admin: LoadedKey,
    genesis: Option<(Genesis, PathBuf)>,
    data_key_path: Option<PathBuf>,
    /// `--memo`, carried by every tx the benchmark signs.
    memo: Option<Memo>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("urls", &self.urls)
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl Cluster {
    /// Finds the nodes (see [`TargetArgs::nodes`]) and checks they serve one chain.
    async fn connect(ctx: &Ctx, target: &TargetArgs, connections: usize) -> Result<Cluster> {
        let admin = load_key(&target.key)?;
        let genesis = ctx.find_genesis(&[&target.key])?;
        let localnet = localnet_dir(&target.key);
        let local = localnet.as_deref().map(localnet_nodes).unwrap_or_default();
        let explicit = !target.nodes.is_empty();
        let mut candidates = if explicit {
            target.nodes.clone()
        } else {
            let mut v = ctx.nodes.clone();
            v.extend(local.iter().map(|(u, _)| u.clone()));
            v
        };
        let mut seen = BTreeSet::new();
        let mut urls = Vec::new();
        for c in candidates.drain(..) {
            let url = couponcactus_client::node_client::normalize_node_url(&c)
                .map_err(|e| explain(e, None))?;
            if seen.insert(url.clone()) {
                urls.push(url);
            }
        }
        let http = load_http_client(connections, REQUEST_TIMEOUT)?;
        let statuses = futures_join(urls.iter().map(|u| {
            let client = NodeClient::with_http_client(u, ChainId("unknown".into()), http.clone());
            async move {
                match client {
                    Ok(c) => c.status().await,
                    Err(e) => Err(e),
                }
            }
        }))
        .await;
        let wanted = genesis.as_ref().map(|(g, _)| g.hash()).or_else(|| {
            statuses
                .iter()
                .find_map(|s| s.as_ref().ok().map(|s| s.genesis_hash))
        });
        let mut kept = Vec::new();
        let mut unreachable = Vec::new();
        let mut chain_id = None;
        for (url, status) in urls.iter().zip(statuses) {
            match status {
                Ok(s) if Some(s.genesis_hash) == wanted => {
                    chain_id = Some(s.chain_id.clone());
                    kept.push(url.clone());
                }
                Ok(s) => {
                    let why = format!(
                        "{url} serves chain {} with another genesis ({})",
                        s.chain_id, s.genesis_hash
                    );
                    if explicit {
                        return Err(Failure::new("wrong_genesis", why)
                            .hint("every --nodes URL must be a node of the same chain")
                            .into());
                    }
                    eprintln!("note: not using {why}");
                }
                Err(e) => {
                    if explicit {
                        return Err(explain(e, None).into());
                    }
                    unreachable.push(format!("{url}: {e}"));
                }
            }
        }
        let chain_id = chain_id.ok_or_else(|| {
            Failure::new(
                "unreachable",
                format!("no node of the chain answers ({})", unreachable.join("; ")),
            )
            .hint("start one (`scripts/localnet.sh up`) or pass --nodes URL,URL,…")
        })?;
        let pids = kept
            .iter()
            .map(|u| local.iter().find(|(l, _)| l == u).and_then(|(_, p)| *p))
            .collect();
        let data_key_path = match &target.data_key {
            Some(p) => Some(p.clone()),
            None => target
                .key
                .parent()
                .map(|d| d.join("data.key"))
                .filter(|p| p.is_file()),
        };
        Ok(Cluster {
            urls: kept,
            pids,
            chain_id,
            http,
            admin,
            genesis,
            data_key_path,
            memo: ctx.memo.clone(),
        })
    }

    /// A client of node `i` (modulo the number of nodes), reading as the org admin.
    fn client(&self, i: usize) -> NodeClient {
        let url = &self.urls[i % self.urls.len()];
        NodeClient::with_http_client(url, self.chain_id.clone(), self.http.clone())
            .expect("URLs were normalised")
            .with_reader(self.admin.key.clone())
            .with_memo(self.memo.clone())
    }

    fn clients(&self) -> Vec<NodeClient> {
        (0..self.urls.len()).map(|i| self.client(i)).collect()
    }

    fn builder(&self) -> TxBuilder {
        TxBuilder::new(self.chain_id.clone()).memo(self.memo.clone())
    }

    /// The org's data key, or a random one.
    fn data_key(&self) -> Result<[u8; 32]> {
        match &self.data_key_path {
            Some(p) => load_data_key(p),
            None => Ok(random_bytes32()),
        }
    }

    /// Waits until every node has applied the highest block any of them has (reads spread
    /// over the nodes then find what the setup wrote); gives up with a warning after 2
    /// minutes.
    async fn wait_synced(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut target = None;
        loop {
            let heights: Vec<Option<u64>> = futures_join((0..self.urls.len()).map(|i| {
                let c = self.client(i);
                async move { c.status().await.ok().map(|s| s.height) }
            }))
            .await;
            let top = heights.iter().flatten().copied().max().unwrap_or(0);
            let target = *target.get_or_insert(top);
            if heights.iter().all(|h| h.is_some_and(|h| h >= target)) {
                return;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "warning: the nodes did not all reach height {target} within 2 minutes: {heights:?}"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metrics(&self) -> Vec<BTreeMap<String, f64>> {
        futures_join((0..self.urls.len()).map(|i| {
            let c = self.client(i);
            async move {
                c.metrics()
                    .await
                    .map(|t| parse_metrics(&t))
                    .unwrap_or_default()
            }
        }))
        .await
    }

    fn cpu(&self) -> Vec<Option<f64>> {
        self.pids
            .iter()
            .map(|p| p.and_then(|p| cpu_seconds(Some(p))))
            .collect()
    }

    fn written(&self) -> Vec<Option<u64>> {
        self.pids
            .iter()
            .map(|p| p.and_then(written_bytes))
            .collect()
    }

    fn rss(&self) -> Vec<Option<f64>> {
        self.pids.iter().map(|p| p.and_then(rss_mib)).collect()
    }

    /// Node-side figures of a run.
    fn work(
        &self,
        before: &[BTreeMap<String, f64>],
        after: &[BTreeMap<String, f64>],
        mark: &CpuMark,
        seconds: f64,
    ) -> Vec<NodeWork> {
        let cpu_after = self.cpu();
        let written_after = self.written();
        let rss = self.rss();
        self.urls
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let mut w = node_work(u, &before[i], &after[i], seconds);
                w.cpu_s = match (mark.nodes[i], cpu_after[i]) {
                    (Some(a), Some(b)) => Some(r3(b - a)),
                    _ => None,
                };
                w.written_mib = match (mark.written[i], written_after[i]) {
                    (Some(a), Some(b)) => Some(r3(b.saturating_sub(a) as f64 / 1_048_576.0)),
                    _ => None,
                };
                w.rss_mib = rss[i].map(r3);
                w
            })
            .collect()
    }
}

/// Runs futures concurrently and returns their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a bench task panicked"));
    }
    out
}

fn random_bytes32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random generator works");
    b
}

fn random_key() -> SigningKey {
    SigningKey::from_bytes(&random_bytes32())
}

/// A fresh id for this run's pool: `bench-` and 8 hex characters.
fn run_pool_id(prefix: &str) -> PoolId {
    PoolId::new(format!("{prefix}-{}", hex::encode(&random_bytes32()[..4])))
        .expect("a valid pool id")
}

/// The pool a bench creates: unique codes, 10 % off, valid for 30 days, channel pos.
fn bench_pool_spec(name: &str, cap: u64, now: u64) -> PoolSpec {
    PoolSpec {
        name: name.to_string(),
        kind: PoolKind::UniqueCodes,
        currency: Currency(*b"EUR"),
        discount: Discount::Percent { bps: 1_000 },
        max_discount_minor: None,
        min_spend_minor: 0,
        valid_from_ms: now.saturating_sub(60_000),
        valid_until_ms: now + 30 * 24 * 3_600_000,
        total_cap: cap.max(1),
        per_member_cap: 1,
        allowed_channels: vec![Channel::new("pos").expect("a valid channel")],
        allowed_stores: vec![],
        excluded_categories: vec![],
        stacking_group: None,
        partner_orgs: vec![],
        transferable: false,
        velocity: vec![],
        requires_consent: None,
    }
}

/// The order every bench redemption is made against: 100.00 EUR.
fn bench_order() -> Order {
    Order {
        currency: Currency(*b"EUR"),
        total_minor: 10_000,
        lines: vec![],
    }
}

/// Submits one setup tx and waits for it to apply.
async fn commit_one(client: &NodeClient, tx: &SignedTx, what: &str) -> Result<TxView> {
    let view = match client.submit(tx).await {
        Ok(v) => v,
        Err(NodeClientError::Api { code, .. }) if code == "commit_timeout" => {
            client
                .wait_for_tx(&tx.id(), Duration::from_secs(120))
                .await
                .map_err(|e| explain(e, None))?
                .view
        }
        Err(e) => return Err(explain(e, None).into()),
    };
    match view.status {
        TxStatus::Applied => Ok(view),
        _ => Err(Failure::new(
            view.error_code().unwrap_or("rejected"),
            format!(
                "{what}: {} {}",
                view.status.name(),
                view.error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or("")
            ),
        )
        .into()),
    }
}

/// Registers keys with their roles (org admin), in batches, waiting for all to apply.
async fn register_keys(
    cluster: &Cluster,
    builder: &TxBuilder,
    keys: Vec<(PublicKey, Role)>,
) -> Result<()> {
    let client = cluster.client(0);
    for chunk in keys.chunks(5_000) {
        let txs: Vec<SignedTx> = chunk
            .iter()
            .map(|(k, role)| builder.register_key(&cluster.admin.key, *k, role.clone()))
            .collect();
        let batch = client
            .submit_batch(&txs, Wait::ForCommit)
            .await
            .map_err(|e| explain(e, Some(&cluster.admin.in_use())))?;
        for (tx, result) in txs.iter().zip(&batch.results) {
            let view = match result.status {
                TxStatus::Pending => {
                    client
                        .wait_for_tx(&tx.id(), Duration::from_secs(120))
                        .await
                        .map_err(|e| explain(e, None))?
                        .view
                }
                _ => result.clone(),
            };
            if view.status != TxStatus::Applied {
                let (code, message) = view
                    .error
                    .map(|e| (e.code, e.message))
                    .unwrap_or_else(|| (view.status.name().to_string(), String::new()));
                return Err(Failure::new(
                    &code,
                    format!(
                        "registering the bench's keys with {}: {code}: {message}",
                        cluster.admin.path.display(),
                    ),
                )
                .hint("--key must be an org admin's key file of the consortium")
                .into());
            }
        }
    }
    // Every node admits txs against its own state: the keys must be there before txs
    // signed with them are spread over the nodes (a lagging follower says unknown_key).
    cluster.wait_synced().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Parallel CPU work (code generation, sealing, signing)
// ---------------------------------------------------------------------------------------

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Splits `0..n` into one range per thread and maps each on its own thread; the results
/// come back in range order.
fn parallel_ranges<R: Send>(n: usize, f: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    let workers = threads().min(n).max(1);
    let chunk = n.div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let range = (w * chunk).min(n)..((w + 1) * chunk).min(n);
                s.spawn(move || f(range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    })
}

/// `count` random codes for `pool`, sealed with `data_key`, made on every core.
fn make_codes(data_key: &[u8; 32], pool: &PoolId, count: usize) -> Result<Vec<IssuedCode>> {
    let pattern = CodePattern::default();
    let parts = parallel_ranges(count, |r| {
        let codes = generate_codes(&pattern, r.len())?;
        seal_codes(data_key, pool, &codes)
    });
    let mut all = Vec::with_capacity(count);
    for part in parts {
        all.extend(part.map_err(|e| Failure::new("issuance", e.to_string()))?);
    }
    Ok(all)
}

/// One HTTP request of a run, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    /// Canonical bincode of one `SignedTx`, or of a `Vec<SignedTx>` for a batch request.
    body: Vec<u8>,
    /// Txs in it.
    txs: usize,
    /// What one applied tx of it counts for (codes of an issue tx; 1 otherwise).
    weight: u64,
    /// Whether it goes to `/v1/txs/batch`.
    batch: bool,
}

/// Signs `count` txs made by `make(i)` (tx `i` signed by `signers[i % len]`), grouped into
/// requests of `per_request` txs (batch requests when above 1), on every core.
fn presign(
    count: usize,
    per_request: usize,
    signers: &[SigningKey],
    builder: &TxBuilder,
    make: impl Fn(usize) -> TxKind + Sync,
) -> Vec<Request> {
    let requests = count.div_ceil(per_request);
    parallel_ranges(requests, |range| {
        range
            .map(|r| {
                let txs: Vec<SignedTx> = (r * per_request..((r + 1) * per_request).min(count))
                    .map(|i| builder.sign(&signers[i % signers.len()], make(i)))
                    .collect();
                let n = txs.len();
                if per_request == 1 {
                    Request {
                        body: encode(&txs[0]),
                        txs: 1,
                        weight: 1,
                        batch: false,
                    }
                } else {
                    Request {
                        body: encode(&txs),
                        txs: n,
                        weight: 1,
                        batch: true,
                    }
                }
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

// ---------------------------------------------------------------------------------------
// The driver: requests in flight over the nodes
// ---------------------------------------------------------------------------------------

/// What a driven run counted.
#[derive(Debug)]
struct Outcome {
    /// Txs applied.
    committed: u64,
    /// Their weight (codes, for issue txs).
    committed_units: u64,
    /// Txs not applied, by code.
    errors: BTreeMap<String, u64>,
    /// Requests answered (or failed).
    requests: u64,
    /// Request latency, µs.
    latency: Histogram<u64>,
    /// From the first request to the last answer.
    elapsed: Duration,
    /// Whether the requests ran out before the deadline.
    exhausted: bool,
    /// The applied txs' views, when asked for.
    applied: Vec<TxView>,
}

impl Outcome {
    fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The code an error counts under.
fn error_code(e: &NodeClientError) -> String {
    match e {
        NodeClientError::Api { code, .. } => code.clone(),
        NodeClientError::Transport { source, .. } if source.is_timeout() => "timeout".into(),
        NodeClientError::Transport { .. } => "transport".into(),
        NodeClientError::Unreachable { .. } => "unreachable".into(),
        NodeClientError::UnexpectedResponse { status, .. } => format!("http_{status}"),
        _ => "client".into(),
    }
}

/// How one tx's answer counts.
fn tally_view(
    view: TxView,
    weight: u64,
    keep: bool,
    committed: &mut u64,
    units: &mut u64,
    errors: &mut BTreeMap<String, u64>,
    applied: &mut Vec<TxView>,
) -> bool {
    if view.status == TxStatus::Applied {
        *committed += 1;
        *units += weight;
        if keep {
            applied.push(view);
        }
        true
    } else {
        let code = view
            .error_code()
            .map(str::to_string)
            .unwrap_or_else(|| view.status.name().to_string());
        *errors.entry(code).or_default() += 1;
        false
    }
}

/// How a run shows its progress.
#[derive(Clone, Copy, Debug)]
enum Show {
    /// A bar over the run's duration.
    Timed,
    /// A bar over the units to commit.
    Units(u64),
}

fn progress_bar(hidden: bool, show: Show, what: &str, deadline: Option<Duration>) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let (len, template) = match (show, deadline) {
        (Show::Timed, Some(d)) => (
            d.as_millis() as u64,
            "{prefix:>10} [{bar:40.cyan/blue}] {elapsed:>4} {msg}",
        ),
        (Show::Units(n), _) => (n, "{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} {msg}"),
        (Show::Timed, None) => (1, "{prefix:>10} {elapsed} {msg}"),
    };
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Runs set-up requests (not measured) over every node, [`SETUP_ISSUE_CONCURRENCY`] in
/// flight, with a progress bar of `units` labelled `label`; `keep_applied` keeps the
/// applied results (for their events). The caller checks what committed.
async fn drive_setup(
    cluster: &Cluster,
    requests: Vec<Request>,
    keep_applied: bool,
    hidden: bool,
    label: &'static str,
    units: u64,
) -> Outcome {
    let bar = progress_bar(hidden, Show::Units(units), label, None);
    drive(
        &cluster.clients(),
        requests,
        SETUP_ISSUE_CONCURRENCY,
        None,
        keep_applied,
        &bar,
        Show::Units(units),
    )
    .await
}

/// Keeps `concurrency` requests in flight (task `i` talks to node `i mod nodes`) until the
/// requests run out or, with a `deadline`, until it passes (requests in flight then are
/// answered and counted). Every request waits for its commit.
async fn drive(
    clients: &[NodeClient],
    requests: Vec<Request>,
    concurrency: usize,
    deadline: Option<Duration>,
    keep_applied: bool,
    bar: &ProgressBar,
    show: Show,
) -> Outcome {
    let queue = Arc::new(Mutex::new(requests.into_iter()));
    let done_units = Arc::new(AtomicU64::new(0));
    let done_txs = Arc::new(AtomicU64::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let client = clients[i % clients.len()].clone();
        let queue = queue.clone();
        let done_units = done_units.clone();
        let done_txs = done_txs.clone();
        let exhausted = exhausted.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut committed, mut units, mut requests) = (0u64, 0u64, 0u64);
            let mut errors = BTreeMap::new();
            let mut applied = Vec::new();
            loop {
                if deadline.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                let next = queue.lock().expect("the queue lock").next();
                let Some(request) = next else {
                    exhausted.store(true, Ordering::Relaxed);
                    break;
                };
                let (txs, weight) = (request.txs, request.weight);
                let sent = Instant::now();
                let answer = if request.batch {
                    client
                        .submit_batch_encoded(request.body, Wait::ForCommit)
                        .await
                        .map(|b| b.results)
                } else {
                    client
                        .submit_encoded(request.body, Wait::ForCommit)
                        .await
                        .map(|v| vec![v])
                };
                latency.saturating_record(sent.elapsed().as_micros() as u64);
                requests += 1;
                let before = committed;
                match answer {
                    Ok(views) => {
                        for view in views {
                            tally_view(
                                view,
                                weight,
                                keep_applied,
                                &mut committed,
                                &mut units,
                                &mut errors,
                                &mut applied,
                            );
                        }
                    }
                    Err(e) => *errors.entry(error_code(&e)).or_default() += txs as u64,
                }
                done_txs.fetch_add(committed - before, Ordering::Relaxed);
                done_units.fetch_add((committed - before) * weight, Ordering::Relaxed);
            }
            (committed, units, requests, errors, latency, applied)
        }));
    }
    let ticker = {
        let bar = bar.clone();
        let done_units = done_units.clone();
        let done_txs = done_txs.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let secs = started.elapsed().as_secs_f64();
                let txs = done_txs.load(Ordering::Relaxed);
                match show {
                    Show::Timed => bar.set_position(started.elapsed().as_millis() as u64),
                    Show::Units(_) => bar.set_position(done_units.load(Ordering::Relaxed)),
                }
                bar.set_message(format!(
                    "{} committed, {}/s",
                    group(txs),
                    fmt_rate(rate(txs, secs))
                ));
            }
        })
    };
    let mut outcome = Outcome {
        committed: 0,
        committed_units: 0,
        errors: BTreeMap::new(),
        requests: 0,
        latency: histogram(),
        elapsed: Duration::ZERO,
        exhausted: false,
        applied: Vec::new(),
    };
    for task in tasks {
        let (committed, units, requests, errors, latency, applied) =
            task.await.expect("a load task panicked");
        outcome.committed += committed;
        outcome.committed_units += units;
        outcome.requests += requests;
        for (code, n) in errors {
            *outcome.errors.entry(code).or_default() += n;
        }
        outcome
            .latency
            .add(&latency)
            .expect("histograms of the same bounds add up");
        outcome.applied.extend(applied);
    }
    outcome.elapsed = started.elapsed();
    ticker.abort();
    outcome.exhausted =
        exhausted.load(Ordering::Relaxed) && deadline.is_some_and(|d| outcome.elapsed < d);
    bar.finish_and_clear();
    outcome
}

/// GET /healthz with `concurrency` in flight for `seconds`: what this load generator and
/// the HTTP stack do without any ledger work. Returns (requests/s, latency).
async fn probe(clients: &[NodeClient], concurrency: usize, seconds: u64) -> (f64, Latency, u64) {
    let duration = Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            tokio::spawn(async move {
                let mut h = histogram();
                let mut failed = 0u64;
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    if client.health().await.is_err() {
                        failed += 1;
                    }
                    h.saturating_record(sent.elapsed().as_micros() as u64);
                }
                (h, failed)
            })
        })
        .collect();
    let mut all = histogram();
    let mut failed = 0;
    for t in tasks {
        let (h, f) = t.await.expect("a probe task panicked");
        all.add(&h).expect("histograms of the same bounds add up");
        failed += f;
    }
    let secs = started.elapsed().as_secs_f64();
    (rate(all.len(), secs), summarize(&all), failed)
}

/// Issues `codes` into `pool` in txs of `batch` codes with `concurrency` in flight (setup
/// of redeem and proofs runs). Returns the code hashes issued and the seconds it took.
async fn issue_for_setup(
    cluster: &Cluster,
    builder: &TxBuilder,
    issuer: &SigningKey,
    pool: &PoolId,
    codes: usize,
    hidden: bool,
) -> Result<(Vec<IssuedCode>, f64)> {
    // The pool must exist on every node before its batches are spread over them.
    cluster.wait_synced().await;
    let started = Instant::now();
    let data_key = cluster.data_key()?;
    let sealed = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || make_codes(&data_key, &pool, codes)).await??
    };
    let requests: Vec<Request> = sealed
        .chunks(SETUP_BATCH_CODES)
        .map(|chunk| Request {
            body: encode(&builder.issue_codes(issuer, pool.clone(), chunk.to_vec())),
            txs: 1,
            weight: chunk.len() as u64,
            batch: false,
        })
        .collect();
    let outcome = drive_setup(cluster, requests, false, hidden, "issuing", codes as u64).await;
    if outcome.committed_units != codes as u64 {
        return Err(Failure::new(
            "issuance",
            format!(
                "issued {} of {codes} codes into {pool}; errors: {:?}",
                outcome.committed_units, outcome.errors
            ),
        )
        .into());
    }
    Ok((sealed, started.elapsed().as_secs_f64()))
}

// ---------------------------------------------------------------------------------------
// bench redeem
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct LoadGenerator {
    /// GET /healthz answered per second at the same concurrency over the same nodes.
    healthz_per_sec: Option<f64>,
    healthz_p50_ms: Option<f64>,
    healthz_p99_ms: Option<f64>,
    /// CPU seconds this process used during the measured run.
    client_cpu_s: Option<f64>,
    /// The same, as a share of one core over the run.
    client_cpu_cores: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RedeemSetup {
    register_s: f64,
    issue_s: f64,
    allocate_s: Option<f64>,
    presign_s: f64,
}

#[derive(Debug, Serialize)]
struct RedeemReport {
    bench: &'static str,
    committed_per_sec: f64,
    committed: u64,
    errors: u64,
    errors_by_code: BTreeMap<String, u64>,
    requests: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    concurrency: usize,
    duration_s: f64,
    requested_duration_s: u64,
    batch: usize,
    coupons: usize,
    terminals: usize,
    /// `code` (unallocated tokens by code) or `token` (allocated, by token id and member).
    redeem_by: &'static str,
    exhausted: bool,
    pool: PoolId,
    nodes: Vec<String>,
    load_generator: LoadGenerator,
    node_side: Vec<NodeWork>,
    /// The whole machine during the run (all nodes and the load generator share it).
    machine: Option<MachineLoad>,
    setup: RedeemSetup,
}

impl RedeemReport {
    fn new(plan: &RedeemPlan, outcome: &Outcome) -> RedeemReport {
        let secs = outcome.elapsed.as_secs_f64();
        let l = summarize(&outcome.latency);
        RedeemReport {
            bench: "redeem",
            committed_per_sec: r3(rate(outcome.committed, secs)),
            committed: outcome.committed,
            errors: outcome.errors_total(),
            errors_by_code: outcome.errors.clone(),
            requests: outcome.requests,
            p50_ms: l.p50_ms,
            p90_ms: l.p90_ms,
            p99_ms: l.p99_ms,
            p999_ms: l.p999_ms,
            max_ms: l.max_ms,
            mean_ms: r3(l.mean_ms),
            concurrency: plan.concurrency,
            duration_s: r3(secs),
            requested_duration_s: plan.duration.as_secs(),
            batch: plan.batch,
            coupons: plan.coupons,
            terminals: plan.terminals,
            redeem_by: "code",
            exhausted: outcome.exhausted,
            pool: PoolId("unset".into()),
            nodes: vec![],
            load_generator: LoadGenerator {
                healthz_per_sec: None,
                healthz_p50_ms: None,
                healthz_p99_ms: None,
                client_cpu_s: None,
                client_cpu_cores: None,
            },
            node_side: vec![],
            machine: None,
            setup: RedeemSetup {
                register_s: 0.0,
                issue_s: 0.0,
                allocate_s: None,
                presign_s: 0.0,
            },
        }
    }

    fn human(&self) -> String {
        let mut out = format!(
            "bench redeem: {} request(s) in flight for {} s over {} node(s), {} tx(s) per request, \
             by {}, {} terminal keys, pool {}\n",
            self.concurrency,
            self.requested_duration_s,
            self.nodes.len(),
            self.batch,
            if self.redeem_by == "code" {
                "code (unallocated tokens)"
            } else {
                "token id (allocated tokens)"
            },
            self.terminals,
            self.pool
        );
        out += &format!(
            "  committed   {} redemptions in {:.2} s = {} tx/s\n",
            group(self.committed),
            self.duration_s,
            fmt_rate(self.committed_per_sec)
        );
        let latency = Latency {
            samples: self.requests,
            p50_ms: self.p50_ms,
            p90_ms: self.p90_ms,
            p99_ms: self.p99_ms,
            p999_ms: self.p999_ms,
            max_ms: self.max_ms,
            mean_ms: self.mean_ms,
        };
        out += &format!("  latency     {} (submit → commit)\n", latency.line());
        out += &format!("  errors      {}", group(self.errors));
        if !self.errors_by_code.is_empty() {
            let codes: Vec<String> = self
                .errors_by_code
                .iter()
                .map(|(c, n)| format!("{c}: {}", group(*n)))
                .collect();
            out += &format!(" ({})", codes.join(", "));
        }
        out += "\n";
        if self.exhausted {
            out += &format!(
                "  NOTE        the {} pre-signed redemptions ran out after {:.2} s: pass a larger --coupons\n",
                group(self.coupons as u64),
                self.duration_s
            );
        }
        let lg = &self.load_generator;
        if let Some(h) = lg.healthz_per_sec {
            out += &format!(
                "  load gen    GET /healthz: {} req/s at the same concurrency (p50 {} ms, p99 {} ms)",
                fmt_rate(h),
                fmt_ms(lg.healthz_p50_ms.unwrap_or(0.0)),
                fmt_ms(lg.healthz_p99_ms.unwrap_or(0.0))
            );
            out += "\n";
        }
        if let (Some(cpu), Some(cores)) = (lg.client_cpu_s, lg.client_cpu_cores) {
            out += &format!(
                "  client CPU  {cpu:.2} s during the run ({:.0} % of one core)\n",
                cores * 100.0
            );
        }
        for w in &self.node_side {
            out += &format!(
                "  node        {}: {} blocks applied, mean {} ms ({:.0} % busy)",
                w.node,
                group(w.blocks),
                fmt_ms(w.mean_apply_ms),
                w.apply_busy * 100.0
            );
            if let Some(m) = w.mean_block_txs {
                out += &format!(
                    "; built {} blocks of {} txs on average",
                    group(w.blocks_built),
                    fmt_ms(m)
                );
            }
            if let Some(c) = w.cpu_s {
                out += &format!(", CPU {c:.1} s");
            }
            if let Some(m) = w.written_mib {
                out += &format!(", wrote {m:.0} MiB");
            }
            if let Some(r) = w.rss_mib {
                out += &format!(", RSS {r:.0} MiB");
            }
            out += "\n";
        }
        if let Some(m) = &self.machine {
            out += &format!(
                "  machine     {:.2} cores busy, {:.2} waiting for I/O",
                m.busy_cores, m.iowait_cores
            );
            if let Some(o) = m.other_cores {
                out += &format!("; other processes used {o:.2} cores");
            }
            out += "\n";
        }
        out += &format!(
            "  setup       keys {:.1} s, issuing {:.1} s{}, pre-signing {:.1} s (not measured)",
            self.setup.register_s,
            self.setup.issue_s,
            self.setup
                .allocate_s
                .map(|a| format!(", allocating {a:.1} s"))
                .unwrap_or_default(),
            self.setup.presign_s
        );
        out
    }
}

async fn redeem(ctx: &Ctx, args: RedeemArgs) -> Result<()> {
    let plan = RedeemPlan::new(&args).map_err(|e| Failure::new("invalid_input", e))?;
    let cluster = Cluster::connect(ctx, &args.target, plan.concurrency).await?;
    let hidden = ctx.json;
    let say = |text: String| {
        if !hidden {
            eprintln!("{text}");
        }
    };
    let builder = cluster
        .builder()
        .validity_ms(plan.duration.as_millis() as u64 + 600_000);
    let client = cluster.client(0);

    // Keys: an issuer and the terminals, registered by the org admin.
    let started = Instant::now();
    let issuer = random_key();
    let terminals: Vec<SigningKey> = (0..plan.terminals).map(|_| random_key()).collect();
    let channel = Channel::new("pos").expect("a valid channel");
    let mut keys = vec![(public_key(&issuer), Role::Issuer)];
    keys.extend(terminals.iter().map(|t| {
        (
            public_key(t),
            Role::Terminal {
                store: args.store.clone(),
                channel: channel.clone(),
            },
        )
    }));
    say(format!(
        "setting up: {} keys, pool of {} coupons, over {}",
        keys.len(),
        group(plan.coupons as u64),
        cluster.urls.join(", ")
    ));
    register_keys(&cluster, &builder, keys).await?;
    let register_s = started.elapsed().as_secs_f64();

    // The pool and its coupons.
    let pool = run_pool_id("bench");
    let spec = bench_pool_spec(&format!("bench {pool}"), plan.coupons as u64, now_ms());
    commit_one(
        &client,
        &builder.create_pool(&issuer, pool.clone(), spec),
        "creating the pool",
    )
    .await?;
    let (codes, issue_s) =
        issue_for_setup(&cluster, &builder, &issuer, &pool, plan.coupons, hidden).await?;
    commit_one(
        &client,
        &builder.transition_pool(&issuer, pool.clone(), PoolAction::Activate),
        "activating the pool",
    )
    .await?;

    // Optionally allocate every coupon to its own member.
    let mut allocate_s = None;
    let targets: Vec<(RedeemTarget, Option<MemberId>)> = if args.allocate {
        let started = Instant::now();
        let count = plan.coupons;
        let requests = {
            let (pool, issuer, builder) = (pool.clone(), issuer.clone(), builder.clone());
            tokio::task::spawn_blocking(move || {
                presign(
                    count,
                    1_000,
                    std::slice::from_ref(&issuer),
                    &builder,
                    |_| {
                        TxKind::Allocate(couponcactus_client::chaincode::tx::AllocateTx {
                            pool: pool.clone(),
                            member: MemberId(random_bytes32()),
                            claim: random_claim_key(),
                        })
                    },
                )
            })
            .await?
        };
        let outcome =
            drive_setup(&cluster, requests, true, hidden, "allocating", count as u64).await;
        if outcome.committed != count as u64 {
            return Err(Failure::new(
                "allocation",
                format!(
                    "allocated {} of {count} coupons; errors: {:?}",
                    outcome.committed, outcome.errors
                ),
            )
            .into());
        }
        allocate_s = Some(started.elapsed().as_secs_f64());
        outcome
            .applied
            .iter()
            .flat_map(|v| v.events().unwrap_or_default())
            .filter_map(|e| match e {
                Event::Allocated { token, member, .. } => {
                    Some((RedeemTarget::Token(token.clone()), Some(*member)))
                }
                _ => None,
            })
            .collect()
    } else {
        codes
            .iter()
            .map(|c| (RedeemTarget::Code(c.code_hash), None))
            .collect()
    };
    drop(codes);

    // Pre-sign every redemption (not measured).
    let started = Instant::now();
    say(format!(
        "pre-signing {} redemptions with {} terminal keys",
        group(targets.len() as u64),
        plan.terminals
    ));
    let requests = {
        let builder = builder.clone();
        let batch = plan.batch;
        tokio::task::spawn_blocking(move || {
            let order = bench_order();
            presign(targets.len(), batch, &terminals, &builder, |i| {
                let (target, member) = targets[i].clone();
                TxKind::Redeem(couponcactus_client::chaincode::tx::RedeemTx {
                    target,
                    member,
                    order: order.clone(),
                })
            })
        })
        .await?
    };
    let presign_s = started.elapsed().as_secs_f64();

    cluster.wait_synced().await;
    let clients = cluster.clients();
    let probe = if args.probe_secs > 0 {
        say(format!(
            "probing the load generator: GET /healthz at concurrency {} for {} s",
            plan.concurrency, args.probe_secs
        ));
        Some(probe(&clients, plan.concurrency, args.probe_secs).await)
    } else {
        None
    };

    // The measured run.
    let metrics_before = cluster.metrics().await;
    let mark = CpuMark::now(&cluster);
    let bar = progress_bar(hidden, Show::Timed, "redeeming", Some(plan.duration));
    let outcome = drive(
        &clients,
        requests,
        plan.concurrency,
        Some(plan.duration),
        false,
        &bar,
        Show::Timed,
    )
    .await;
    let (machine, client_cpu) = mark.since(&cluster);
    let metrics_after = cluster.metrics().await;
    let secs = outcome.elapsed.as_secs_f64();

    let mut report = RedeemReport::new(&plan, &outcome);
    report.redeem_by = if args.allocate { "token" } else { "code" };
    report.pool = pool;
    report.nodes = cluster.urls.clone();
    report.load_generator = LoadGenerator {
        healthz_per_sec: probe.map(|p| r3(p.0)),
        healthz_p50_ms: probe.map(|p| p.1.p50_ms),
        healthz_p99_ms: probe.map(|p| p.1.p99_ms),
        client_cpu_s: client_cpu.map(r3),
        client_cpu_cores: client_cpu.map(|c| r3(c / secs)),
    };
    report.node_side = cluster.work(&metrics_before, &metrics_after, &mark, secs);
    report.machine = machine;
    report.setup = RedeemSetup {
        register_s: r3(register_s),
        issue_s: r3(issue_s),
        allocate_s: allocate_s.map(r3),
        presign_s: r3(presign_s),
    };
    if report.exhausted {
        eprintln!(
            "warning: the {} pre-signed redemptions ran out after {:.2} s of {} s: pass a larger --coupons",
            report.coupons, report.duration_s, report.requested_duration_s
        );
    }
    emit(ctx.json, &report, || report.human());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bench issue
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct IssueReport {
    bench: &'static str,
    codes: u64,
    batches: u64,
    batch_size: u64,
    concurrency: usize,
    /// Generating and sealing every code, on `threads` threads.
    generate_seal_s: f64,
    generate_seal_codes_per_sec: f64,
    threads: usize,
    /// Signing and encoding the issue txs.
    sign_s: f64,
    /// Submitting them until the last commit.
    submit_s: f64,
    committed_codes: u64,
    committed_codes_per_sec: f64,
    /// Everything: generate, seal, sign, submit, commit.
    total_s: f64,
    total_codes_per_sec: f64,
    /// Per issue tx, submit → commit.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    errors_by_code: BTreeMap<String, u64>,
    pool: PoolId,
    nodes: Vec<String>,
    node_side: Vec<NodeWork>,
    /// The whole machine while submitting.
    machine: Option<MachineLoad>,
}

impl IssueReport {
    fn human(&self) -> String {
        let mut out = format!(
            "bench issue: {} codes in {} batches of {}, {} in flight over {} node(s), pool {}\n",
            group(self.codes),
            self.batches,
            group(self.batch_size),
            self.concurrency,
            self.nodes.len(),
            self.pool
        );
        out += &format!(
            "  generate+seal  {:.2} s = {} codes/s ({} threads)\n",
            self.generate_seal_s,
            fmt_rate(self.generate_seal_codes_per_sec),
            self.threads
        );
        out += &format!("  sign           {:.2} s\n", self.sign_s);
        out += &format!(
            "  submit+commit  {:.2} s = {} codes/s committed (per batch: p50 {} ms, p99 {} ms, max {} ms)\n",
            self.submit_s,
            fmt_rate(self.committed_codes_per_sec),
            fmt_ms(self.p50_ms),
            fmt_ms(self.p99_ms),
            fmt_ms(self.max_ms)
        );
        out += &format!(
            "  total          {:.2} s = {} codes/s issued and committed\n",
            self.total_s,
            fmt_rate(self.total_codes_per_sec)
        );
        out += &format!("  errors         {}", group(self.errors));
        if !self.errors_by_code.is_empty() {
            out += &format!(" {:?}", self.errors_by_code);
        }
        for w in &self.node_side {
            out += &format!(
                "\n  node           {}: {} blocks, apply mean {} ms",
                w.node,
                group(w.blocks),
                fmt_ms(w.mean_apply_ms)
            );
            if let Some(r) = w.rss_mib {
                out += &format!(", RSS {r:.0} MiB");
            }
        }
        out
    }
}

async fn issue(ctx: &Ctx, args: IssueArgs) -> Result<()> {
    let concurrency = args.concurrency as usize;
    let cluster = Cluster::connect(ctx, &args.target, concurrency).await?;
    let builder = cluster.builder();
    let max = cluster
        .genesis
        .as_ref()
        .map(|(g, _)| g.initial.params.max_batch_codes as u64);
    if let Some(max) = max
        && args.batch_size > max
    {
        return Err(Failure::new(
            "invalid_input",
            format!(
                "--batch-size {} is above the chain's max_batch_codes {max}",
                args.batch_size
            ),
        )
        .into());
    }
    let codes = args.batches * args.batch_size;
    let issuer = random_key();
    register_keys(
        &cluster,
        &builder,
        vec![(public_key(&issuer), Role::Issuer)],
    )
    .await?;
    let pool = run_pool_id("bench-issue");
    commit_one(
        &cluster.client(0),
        &builder.create_pool(
            &issuer,
            pool.clone(),
            bench_pool_spec(&format!("bench {pool}"), codes, now_ms()),
        ),
        "creating the pool",
    )
    .await?;
    // The pool must exist on every node before its batches are spread over them.
    cluster.wait_synced().await;
    let data_key = cluster.data_key()?;

    // Generate and seal (measured on its own).
    let started = Instant::now();
    let sealed = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || make_codes(&data_key, &pool, codes as usize)).await??
    };
    let generate_seal_s = started.elapsed().as_secs_f64();

    // Sign and encode the issue txs.
    let started = Instant::now();
    let requests: Vec<Request> = {
        let builder = builder.clone();
        let pool = pool.clone();
        let size = args.batch_size as usize;
        tokio::task::spawn_blocking(move || {
            let chunks: Vec<&[IssuedCode]> = sealed.chunks(size).collect();
            parallel_ranges(chunks.len(), |r| {
                r.map(|i| Request {
                    body: encode(&builder.issue_codes(&issuer, pool.clone(), chunks[i].to_vec())),
                    txs: 1,
                    weight: chunks[i].len() as u64,
                    batch: false,
                })
                .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect()
        })
        .await?
    };
    let sign_s = started.elapsed().as_secs_f64();

    // Submit → commit (measured on its own).
    let metrics_before = cluster.metrics().await;
    let mark = CpuMark::now(&cluster);
    let bar = progress_bar(ctx.json, Show::Units(codes), "issuing", None);
    let outcome = drive(
        &cluster.clients(),
        requests,
        concurrency,
        None,
        false,
        &bar,
        Show::Units(codes),
    )
    .await;
    let submit_s = outcome.elapsed.as_secs_f64();
    let (machine, _) = mark.since(&cluster);
    let metrics_after = cluster.metrics().await;
    let l = summarize(&outcome.latency);
    let total_s = generate_seal_s + sign_s + submit_s;
    let report = IssueReport {
        bench: "issue",
        codes,
        batches: args.batches,
        batch_size: args.batch_size,
        concurrency,
        generate_seal_s: r3(generate_seal_s),
        generate_seal_codes_per_sec: r3(rate(codes, generate_seal_s)),
        threads: threads(),
        sign_s: r3(sign_s),
        submit_s: r3(submit_s),
        committed_codes: outcome.committed_units,
        committed_codes_per_sec: r3(rate(outcome.committed_units, submit_s)),
        total_s: r3(total_s),
        total_codes_per_sec: r3(rate(outcome.committed_units, total_s)),
        p50_ms: l.p50_ms,
        p99_ms: l.p99_ms,
        max_ms: l.max_ms,
        errors: outcome.errors_total(),
        errors_by_code: outcome.errors.clone(),
        pool,
        nodes: cluster.urls.clone(),
        node_side: cluster.work(&metrics_before, &metrics_after, &mark, submit_s),
        machine,
    };
    emit(ctx.json, &report, || report.human());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bench proofs
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct ProofsReport {
    bench: &'static str,
    proofs_per_sec: f64,
    verified: u64,
    count: u64,
    concurrency: usize,
    duration_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    /// Mean time of the local state-proof check per proof (CPU, this process), µs.
    verify_mean_us: f64,
    /// Distinct block headers tied to a certificate (once each).
    headers_certified: u64,
    errors: u64,
    errors_by_code: BTreeMap<String, u64>,
    pool: PoolId,
    tokens: u64,
    nodes: Vec<String>,
}

impl ProofsReport {
    fn human(&self) -> String {
        let latency = Latency {
            samples: self.count,
            p50_ms: self.p50_ms,
            p90_ms: self.p90_ms,
            p99_ms: self.p99_ms,
            p999_ms: self.p999_ms,
            max_ms: self.max_ms,
            mean_ms: self.mean_ms,
        };
        let mut out = format!(
            "bench proofs: {} token reads (signed) with state proofs, {} in flight over {} node(s), pool {} ({} tokens)\n",
            group(self.count),
            self.concurrency,
            self.nodes.len(),
            self.pool,
            group(self.tokens)
        );
        out += &format!(
            "  verified    {} proofs in {:.2} s = {} proofs/s (local check {} µs each; {} header(s) tied to a certificate)\n",
            group(self.verified),
            self.duration_s,
            fmt_rate(self.proofs_per_sec),
            fmt_ms(self.verify_mean_us),
            self.headers_certified
        );
        out += &format!("  latency     {}\n", latency.line());
        out += &format!("  errors      {}", group(self.errors));
        if !self.errors_by_code.is_empty() {
            out += &format!(" {:?}", self.errors_by_code);
        }
        out
    }
}

async fn proofs(ctx: &Ctx, args: ProofsArgs) -> Result<()> {
    let concurrency = args.concurrency as usize;
    let cluster = Cluster::connect(ctx, &args.target, concurrency).await?;
    let (genesis, genesis_path) = cluster.genesis.clone().ok_or_else(|| {
        Failure::new(
            "no_genesis",
            "proofs are checked against the chain's genesis file",
        )
        .hint("pass --genesis FILE (or keep --key inside the consortium's folder)")
    })?;
    let anchor = Arc::new(TrustAnchor::from_genesis(&genesis));
    anchor
        .check_status(
            &cluster
                .client(0)
                .status()
                .await
                .map_err(|e| explain(e, None))?,
        )
        .map_err(|e| {
            Failure::new(
                "wrong_genesis",
                format!("genesis {}: {e}", genesis_path.display()),
            )
        })?;
    let (pool, tokens) = match &args.pool {
        Some(pool) => {
            let view = cluster
                .client(0)
                .pool(pool, None)
                .await
                .map_err(|e| explain(e, Some(&cluster.admin.in_use())))?;
            (pool.clone(), view.pool.issued)
        }
        None => {
            let builder = cluster.builder();
            let issuer = random_key();
            register_keys(
                &cluster,
                &builder,
                vec![(public_key(&issuer), Role::Issuer)],
            )
            .await?;
            let pool = run_pool_id("bench-proofs");
            commit_one(
                &cluster.client(0),
                &builder.create_pool(
                    &issuer,
                    pool.clone(),
                    bench_pool_spec(&format!("bench {pool}"), args.tokens, now_ms()),
                ),
                "creating the pool",
            )
            .await?;
            issue_for_setup(
                &cluster,
                &builder,
                &issuer,
                &pool,
                args.tokens as usize,
                ctx.json,
            )
            .await?;
            (pool, args.tokens)
        }
    };
    if tokens == 0 {
        return Err(Failure::new("invalid_input", format!("pool {pool} has no tokens")).into());
    }
    cluster.wait_synced().await;

    let next = Arc::new(AtomicU64::new(0));
    let certified: Arc<tokio::sync::Mutex<BTreeSet<Hash32>>> = Arc::default();
    let bar = progress_bar(ctx.json, Show::Units(args.count), "proofs", None);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let client = cluster.client(i);
            let next = next.clone();
            let certified = certified.clone();
            let anchor = anchor.clone();
            let pool = pool.clone();
            let bar = bar.clone();
            let count = args.count;
            tokio::spawn(async move {
                let mut latency = histogram();
                let mut verified = 0u64;
                let mut verify_us = 0u64;
                let mut errors: BTreeMap<String, u64> = BTreeMap::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    let id = TokenId {
                        pool: pool.clone(),
                        serial: n % tokens,
                    };
                    let sent = Instant::now();
                    let view = match client.token(&id, None).await {
                        Ok(v) => v,
                        Err(e) => {
                            *errors.entry(error_code(&e)).or_default() += 1;
                            continue;
                        }
                    };
                    let checking = Instant::now();
                    let header = match verify_token_view(&view) {
                        Ok(h) => h,
                        Err(_) => {
                            *errors.entry("proof_invalid".into()).or_default() += 1;
                            continue;
                        }
                    };
                    verify_us += checking.elapsed().as_micros() as u64;
                    let hash = header.hash();
                    let fresh = !certified.lock().await.contains(&hash);
                    if fresh {
                        let mut seen = certified.lock().await;
                        if !seen.contains(&hash) {
                            match ProofVerifier::new(&client, &anchor)
                                .certify_header(header)
                                .await
                            {
                                Ok(_) => {
                                    seen.insert(hash);
                                }
                                Err(e) => {
                                    *errors.entry(format!("not_certified: {e}")).or_default() += 1;
                                    continue;
                                }
                            }
                        }
                    }
                    latency.saturating_record(sent.elapsed().as_micros() as u64);
                    verified += 1;
                    bar.inc(1);
                }
                (latency, verified, verify_us, errors)
            })
        })
        .collect();
    let mut latency = histogram();
    let (mut verified, mut verify_us) = (0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let (h, v, us, e) = t.await.expect("a proof task panicked");
        latency
            .add(&h)
            .expect("histograms of the same bounds add up");
        verified += v;
        verify_us += us;
        for (c, n) in e {
            *errors.entry(c).or_default() += n;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let l = summarize(&latency);
    let report = ProofsReport {
        bench: "proofs",
        proofs_per_sec: r3(rate(verified, secs)),
        verified,
        count: args.count,
        concurrency,
        duration_s: r3(secs),
        p50_ms: l.p50_ms,
        p90_ms: l.p90_ms,
        p99_ms: l.p99_ms,
        p999_ms: l.p999_ms,
        max_ms: l.max_ms,
        mean_ms: r3(l.mean_ms),
        verify_mean_us: r3(if verified > 0 {
            verify_us as f64 / verified as f64
        } else {
            0.0
        }),
        headers_certified: certified.lock().await.len() as u64,
        errors: errors.values().sum(),
        errors_by_code: errors,
        pool,
        tokens,
        nodes: cluster.urls.clone(),
    };
    emit(ctx.json, &report, || report.human());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bench audit
// ---------------------------------------------------------------------------------------

/// A chain downloaded ahead: the audit replays from memory, so its time is the replay's.
struct Preloaded {
    status: NodeStatus,
    checkpoint: Option<Checkpoint>,
    blocks: Mutex<BTreeMap<u64, BlockRecord>>,
    http: HttpSource,
}

impl ChainSource for Preloaded {
    async fn status(&self) -> Result<NodeStatus, AuditError> {
        Ok(self.status.clone())
    }

    async fn blocks(&self, from: u64, limit: u64) -> Result<Vec<BlockRecord>, AuditError> {
        let taken: Vec<BlockRecord> = {
            let mut blocks = self.blocks.lock().expect("the blocks lock");
            (from..from + limit)
                .map_while(|h| blocks.remove(&h))
                .collect()
        };
        if taken.is_empty() {
            // Asked again (a pin or checkpoint check) or never downloaded: ask the node.
            return self.http.blocks(from, limit).await;
        }
        Ok(taken)
    }

    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        Ok(self.checkpoint.clone())
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Consistency, AuditError> {
        self.http.consistency(from, to).await
    }
}

#[derive(Debug, Serialize)]
struct AuditBenchReport {
    bench: &'static str,
    blocks: u64,
    txs: u64,
    /// Txs by kind.
    tx_kinds: BTreeMap<&'static str, u64>,
    /// Codes carried by the issue txs (each one a token to create in the replay).
    issued_codes: u64,
    download_s: f64,
    download_tx_per_sec: f64,
    replay_s: f64,
    replay_tx_per_sec: f64,
    /// The replay of blocks without issue txs (redemptions and the like), each block timed.
    replay_without_issue: ReplayShare,
    /// The replay of blocks with issue txs (every code becomes a token in the state tree).
    replay_with_issue: ReplayShare,
    /// Download then replay, one after the other.
    total_s: f64,
    total_tx_per_sec: f64,
    /// `cactus audit verify` as it runs (download and replay overlapping), with
    /// --end-to-end.
    end_to_end_s: Option<f64>,
    end_to_end_tx_per_sec: Option<f64>,
    height: u64,
    node: String,
}

/// The part of a replay spent on some blocks.
#[derive(Debug, Default, Serialize)]
struct ReplayShare {
    blocks: u64,
    txs: u64,
    codes: u64,
    seconds: f64,
    tx_per_sec: f64,
}

/// Splits a replay's time between blocks with issue txs and the others, from the progress
/// reports' `(height, time)` after each range (the first: before any block).
fn split_replay(
    marks: &[(u64, Instant)],
    blocks: &BTreeMap<u64, (u64, u64)>,
) -> (ReplayShare, ReplayShare) {
    let (mut other, mut issue) = (ReplayShare::default(), ReplayShare::default());
    for pair in marks.windows(2) {
        let ((from, t0), (to, t1)) = (pair[0], pair[1]);
        let range: Vec<(u64, u64)> = (from + 1..=to)
            .filter_map(|h| blocks.get(&h).copied())
            .collect();
        let share = if range.iter().any(|(_, codes)| *codes > 0) {
            &mut issue
        } else {
            &mut other
        };
        share.blocks += to.saturating_sub(from);
        share.txs += range.iter().map(|(txs, _)| txs).sum::<u64>();
        share.codes += range.iter().map(|(_, codes)| codes).sum::<u64>();
        share.seconds += t1.duration_since(t0).as_secs_f64();
    }
    for share in [&mut other, &mut issue] {
        share.tx_per_sec = r3(rate(share.txs, share.seconds));
        share.seconds = r3(share.seconds);
    }
    (other, issue)
}

impl AuditBenchReport {
    fn human(&self) -> String {
        let kinds: Vec<String> = self
            .tx_kinds
            .iter()
            .map(|(k, n)| format!("{k} {}", group(*n)))
            .collect();
        let mut out = format!(
            "bench audit: {} blocks, {} txs ({}; {} codes issued) from {}\n",
            group(self.blocks),
            group(self.txs),
            kinds.join(", "),
            group(self.issued_codes),
            self.node
        );
        out += &format!(
            "  download    {:.2} s = {} tx/s\n",
            self.download_s,
            fmt_rate(self.download_tx_per_sec)
        );
        out += &format!(
            "  replay      {:.2} s = {} tx/s (re-executed and verified from genesis: signatures, roots, certificates)\n",
            self.replay_s,
            fmt_rate(self.replay_tx_per_sec)
        );
        let (o, i) = (&self.replay_without_issue, &self.replay_with_issue);
        out += &format!(
            "              blocks without issue txs: {} blocks, {} txs in {:.2} s = {} tx/s\n",
            group(o.blocks),
            group(o.txs),
            o.seconds,
            fmt_rate(o.tx_per_sec)
        );
        out += &format!(
            "              blocks with issue txs: {} blocks, {} txs, {} codes in {:.2} s = {} codes/s\n",
            group(i.blocks),
            group(i.txs),
            group(i.codes),
            i.seconds,
            fmt_rate(rate(i.codes, i.seconds))
        );
        out += &format!(
            "  total       {:.2} s = {} tx/s",
            self.total_s,
            fmt_rate(self.total_tx_per_sec)
        );
        if let (Some(s), Some(r)) = (self.end_to_end_s, self.end_to_end_tx_per_sec) {
            out += &format!(
                "\n  end to end  {s:.2} s = {} tx/s (cactus audit verify: download and replay overlapping)",
                fmt_rate(r)
            );
        }
        out
    }
}

fn audit_failed(report: &couponcactus_client::audit::AuditReport) -> Option<anyhow::Error> {
    match &report.verdict {
        Verdict::Verified(_) => None,
        Verdict::Failed(f) => Some(Failure::new("audit_failed", f.to_string()).into()),
    }
}

async fn audit(ctx: &Ctx, args: AuditArgs) -> Result<()> {
    let cluster = Cluster::connect(ctx, &args.target, 4).await?;
    let (genesis, _) = cluster.genesis.clone().ok_or_else(|| {
        Failure::new(
            "no_genesis",
            "the audit replays the chain from its genesis file",
        )
        .hint("pass --genesis FILE (or keep --key inside the consortium's folder)")
    })?;
    let node = cluster.urls[0].clone();
    // A full audit re-executes every tx: reads are signed with --key, which must be a
    // consortium auditor's or a node's key (other readers get other orgs' txs withheld).
    let http = HttpSource::new(&node)
        .map_err(|e| Failure::new("unreachable", e.to_string()))?
        .with_reader(cluster.admin.key.clone(), genesis.initial.chain_id.clone());
    let status = http
        .status()
        .await
        .map_err(|e| Failure::new("unreachable", e.to_string()))?;
    let checkpoint = http
        .latest_checkpoint()
        .await
        .map_err(|e| Failure::new("unreachable", e.to_string()))?;
    let target = status
        .height
        .max(checkpoint.as_ref().map_or(0, |c| c.certificate.height));

    // Download.
    let bar = progress_bar(ctx.json, Show::Units(target), "download", None);
    let started = Instant::now();
    let mut blocks = BTreeMap::new();
    let mut next = 1;
    while next <= target {
        let page = http
            .blocks(next, args.range.min(target + 1 - next))
            .await
            .map_err(|e| Failure::new("download", e.to_string()))?;
        if page.is_empty() {
            return Err(Failure::new(
                "download",
                format!("{node} returned no block at height {next}"),
            )
            .into());
        }
        for record in page {
            blocks.insert(record.block.header.height, record);
            next += 1;
        }
        bar.set_position(next - 1);
    }
    let download_s = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut tx_kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut issued_codes = 0u64;
    let mut per_block: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (height, record) in &blocks {
        let mut codes = 0;
        for tx in &record.block.txs {
            *tx_kinds.entry(tx.body.kind.name()).or_default() += 1;
            if let TxKind::IssueCodes(i) = &tx.body.kind {
                codes += i.codes.len() as u64;
            }
        }
        issued_codes += codes;
        per_block.insert(*height, (record.block.txs.len() as u64, codes));
    }
    let txs: u64 = tx_kinds.values().sum();

    // Replay from memory.
    let source = Preloaded {
        status,
        checkpoint,
        blocks: Mutex::new(blocks),
        http: http.clone(),
    };
    // Block by block, each timed (the progress report after each range of one block).
    let bar = progress_bar(ctx.json, Show::Units(target), "replay", None);
    let mut marks = Vec::with_capacity(target as usize + 1);
    let started = Instant::now();
    let report = Auditor::new(&genesis)
        .range(1)
        .verify(&source, |p| {
            marks.push((p.height, Instant::now()));
            bar.set_position(p.height);
        })
        .await
        .map_err(|e| Failure::new("audit", e.to_string()))?;
    let replay_s = started.elapsed().as_secs_f64();
    let (replay_without_issue, replay_with_issue) = split_replay(&marks, &per_block);
    bar.finish_and_clear();
    if let Some(e) = audit_failed(&report) {
        return Err(e);
    }

    let (mut end_to_end_s, mut end_to_end_tx_per_sec) = (None, None);
    if args.end_to_end {
        let bar = progress_bar(ctx.json, Show::Units(target), "audit", None);
        let started = Instant::now();
        let report = Auditor::new(&genesis)
            .range(args.range)
            .verify(&http, |p| bar.set_position(p.height))
            .await
            .map_err(|e| Failure::new("audit", e.to_string()))?;
        let secs = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        if let Some(e) = audit_failed(&report) {
            return Err(e);
        }
        let checked = match &report.verdict {
            Verdict::Verified(v) => v.txs_checked,
            Verdict::Failed(_) => 0,
        };
        end_to_end_s = Some(r3(secs));
        end_to_end_tx_per_sec = Some(r3(rate(checked, secs)));
    }
    let out = AuditBenchReport {
        bench: "audit",
        blocks: target,
        txs,
        tx_kinds,
        issued_codes,
        download_s: r3(download_s),
        download_tx_per_sec: r3(rate(txs, download_s)),
        replay_s: r3(replay_s),
        replay_tx_per_sec: r3(rate(txs, replay_s)),
        replay_without_issue,
        replay_with_issue,
        total_s: r3(download_s + replay_s),
        total_tx_per_sec: r3(rate(txs, download_s + replay_s)),
        end_to_end_s,
        end_to_end_tx_per_sec,
        height: target,
        node,
    };
    emit(ctx.json, &out, || out.human());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use couponcactus_client::chaincode::encoding::decode;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(args.iter().copied())
    }

    fn redeem_args(args: &[&str]) -> RedeemArgs {
        let mut all = vec!["cactus", "bench", "redeem"];
        all.extend_from_slice(args);
        match parse(&all).expect("parses").command {
            Command::Bench(BenchCommand::Redeem(a)) => a,
            other => panic!("not bench redeem: {other:?}"),
        }
    }

    #[test]
    fn redeem_arguments_have_defaults_and_bounds() {
        let a = redeem_args(&[]);
        assert_eq!(
            (a.concurrency, a.duration, a.batch, a.terminals),
            (64, 20, 1, 16)
        );
        assert_eq!(a.target.key, PathBuf::from(DEFAULT_KEY));
        assert!(a.target.nodes.is_empty());
        let a = redeem_args(&[
            "--nodes",
            "http://a:1,http://b:2",
            "--nodes",
            "c:3",
            "--concurrency",
            "256",
            "--duration",
            "5",
            "--batch",
            "100",
        ]);
        assert_eq!(a.target.nodes, ["http://a:1", "http://b:2", "c:3"]);
        assert_eq!((a.concurrency, a.duration, a.batch), (256, 5, 100));
        for bad in [
            &["--concurrency", "0"][..],
            &["--duration", "0"],
            &["--batch", "0"],
            &["--batch", "10001"],
            &["--terminals", "0"],
            &["--coupons", "0"],
            &["--store", "Not A Slug"],
        ] {
            let mut all = vec!["cactus", "bench", "redeem"];
            all.extend_from_slice(bad);
            assert!(parse(&all).is_err(), "{bad:?} should not parse");
        }
        for sub in ["issue", "proofs", "audit"] {
            assert!(parse(&["cactus", "bench", sub]).is_ok(), "{sub}");
        }
        assert!(parse(&["cactus", "bench", "issue", "--batch-size", "0"]).is_err());
        assert!(parse(&["cactus", "bench", "proofs", "--count", "0"]).is_err());
        assert!(parse(&["cactus", "bench", "audit", "--range", "1001"]).is_err());
    }

    #[test]
    fn the_plan_sizes_the_coupons_for_the_run() {
        let plan = RedeemPlan::new(&redeem_args(&["--concurrency", "256"])).unwrap();
        assert_eq!(
            plan.coupons, 512_000,
            "100 req/s on each of 256 connections for 20 s"
        );
        let plan = RedeemPlan::new(&redeem_args(&["--concurrency", "1"])).unwrap();
        assert_eq!(
            plan.coupons, 40_000,
            "2,000 tx/s on one connection for 20 s"
        );
        let plan =
            RedeemPlan::new(&redeem_args(&["--concurrency", "64", "--batch", "1000"])).unwrap();
        assert_eq!(plan.coupons, MAX_DEFAULT_COUPONS as usize, "capped");
        assert_eq!(plan.duration, Duration::from_secs(20));
        let plan = RedeemPlan::new(&redeem_args(&["--coupons", "64"])).unwrap();
        assert_eq!(plan.coupons, 64);
        let err = RedeemPlan::new(&redeem_args(&["--coupons", "63"])).unwrap_err();
        assert!(err.contains("fewer than one request"), "{err}");
        let err =
            RedeemPlan::new(&redeem_args(&["--coupons", "1000", "--batch", "100"])).unwrap_err();
        assert!(err.contains("6400"), "{err}");
    }

    #[test]
    fn percentiles_summarise_the_histogram_in_milliseconds() {
        let mut h = histogram();
        for us in 1..=10_000u64 {
            h.record(us).unwrap();
        }
        let l = summarize(&h);
        assert_eq!(l.samples, 10_000);
        // hdrhistogram keeps 3 significant digits.
        let near = |got: f64, want: f64| (got - want).abs() <= want / 500.0;
        assert!(near(l.p50_ms, 5.0), "{l:?}");
        assert!(near(l.p90_ms, 9.0), "{l:?}");
        assert!(near(l.p99_ms, 9.9), "{l:?}");
        assert!(near(l.p999_ms, 9.99), "{l:?}");
        assert!(near(l.max_ms, 10.0), "{l:?}");
        assert!(near(l.mean_ms, 5.0), "{l:?}");
        assert_eq!(summarize(&histogram()), Latency::default());
        let mut slow = histogram();
        slow.saturating_record(u64::MAX);
        assert!(near(
            summarize(&slow).max_ms,
            MAX_TRACKED_US as f64 / 1_000.0
        ));
        assert!(summarize(&h).line().starts_with("p50 5.00 ms  p90 9.0"));
    }

    #[test]
    fn numbers_print_for_people() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(12.34), "12.3");
        assert_eq!(fmt_ms(123.4), "123");
        assert_eq!(rate(10, 0.0), 0.0);
        assert_eq!(fmt_rate(rate(50, 2.0)), "25");
    }

    #[test]
    fn the_redeem_report_has_the_json_shape_scripts_read() {
        let plan =
            RedeemPlan::new(&redeem_args(&["--concurrency", "8", "--coupons", "100"])).unwrap();
        let mut latency = histogram();
        latency.record(1_500).unwrap();
        latency.record(2_500).unwrap();
        let outcome = Outcome {
            committed: 90,
            committed_units: 90,
            errors: BTreeMap::from([("already_redeemed".to_string(), 3), ("timeout".into(), 1)]),
            requests: 94,
            latency,
            elapsed: Duration::from_secs(2),
            exhausted: false,
            applied: vec![],
        };
        let report = RedeemReport::new(&plan, &outcome);
        let json = serde_json::to_value(&report).unwrap();
        for key in [
            "committed_per_sec",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "errors",
            "committed",
            "concurrency",
            "duration_s",
            "batch",
        ] {
            assert!(json[key].is_number(), "{key} in {json}");
        }
        assert_eq!(json["committed_per_sec"], 45.0);
        assert_eq!(json["errors"], 4);
        assert_eq!(json["errors_by_code"]["already_redeemed"], 3);
        assert_eq!(json["concurrency"], 8);
        assert_eq!(json["batch"], 1);
        assert_eq!(json["exhausted"], false);
        assert_eq!(json["redeem_by"], "code");
        assert!(json["load_generator"].is_object());
        assert!(json["node_side"].is_array());
        let text = report.human();
        assert!(
            text.contains("90 redemptions in 2.00 s = 45 tx/s"),
            "{text}"
        );
        assert!(text.contains("already_redeemed: 3"), "{text}");
    }

    #[test]
    fn presigned_requests_decode_verify_and_rotate_signers() {
        let chain = ChainId::new("cactus-test").unwrap();
        let builder = TxBuilder::with_first_nonce(chain, 1);
        let signers: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let pool = PoolId::new("p").unwrap();
        let make = |i: usize| {
            TxKind::Redeem(couponcactus_client::chaincode::tx::RedeemTx {
                target: RedeemTarget::Token(TokenId {
                    pool: pool.clone(),
                    serial: i as u64,
                }),
                member: None,
                order: bench_order(),
            })
        };
        let single = presign(5, 1, &signers, &builder, make);
        assert_eq!(single.len(), 5);
        for (i, r) in single.iter().enumerate() {
            assert!(!r.batch);
            let tx: SignedTx = decode(&r.body).unwrap();
            assert_eq!(tx.verify(), Ok(()));
            assert_eq!(tx.signer, public_key(&signers[i % 3]));
        }
        let batched = presign(10, 4, &signers, &builder, make);
        assert_eq!(batched.iter().map(|r| r.txs).collect::<Vec<_>>(), [4, 4, 2]);
        let mut serials = Vec::new();
        for r in &batched {
            assert!(r.batch);
            let txs: Vec<SignedTx> = decode(&r.body).unwrap();
            assert_eq!(txs.len(), r.txs);
            for tx in txs {
                assert_eq!(tx.verify(), Ok(()));
                if let TxKind::Redeem(redeem) = tx.body.kind
                    && let RedeemTarget::Token(t) = redeem.target
                {
                    serials.push(t.serial);
                }
            }
        }
        assert_eq!(serials, (0..10).collect::<Vec<_>>(), "in order, each once");
    }

    #[test]
    fn proc_files_and_metrics_parse() {
        let stat = "1234 (cactus d) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(cpu_seconds_of_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_of_stat("garbage"), None);
        let stat = "cpu  1000 50 450 8000 300 0 200 0 0 0\ncpu0 500 25 225 4000 150 0 100 0 0 0\n";
        assert_eq!(machine_seconds_of_stat(stat), Some((17.0, 3.0)));
        assert_eq!(machine_seconds_of_stat("intr 1 2 3\n"), None);
        let status = "Name:\tcactusd\nVmPeak:\t  999 kB\nVmRSS:\t  204800 kB\n";
        assert_eq!(rss_mib_of_status(status), Some(200.0));
        assert_eq!(rss_mib_of_status("Name: x\n"), None);
        let io = "rchar: 10\nwchar: 20\nread_bytes: 4096\nwrite_bytes: 1048576\n";
        assert_eq!(written_bytes_of_io(io), Some(1_048_576));
        assert_eq!(written_bytes_of_io("rchar: 1\n"), None);

        let before = parse_metrics(
            "# TYPE cactus_block_apply_seconds summary\n\
             cactus_block_apply_seconds{quantile=\"0.5\"} 0.01\n\
             cactus_block_apply_seconds_sum 1.5\n\
             cactus_block_apply_seconds_count 10\n\
             cactus_block_txs_sum 100\n\
             cactus_block_txs_count 10\n",
        );
        assert_eq!(before["cactus_block_apply_seconds{quantile=\"0.5\"}"], 0.01);
        let after = parse_metrics(
            "cactus_block_apply_seconds_sum 3.5\n\
             cactus_block_apply_seconds_count 30\n\
             cactus_block_txs_sum 4100\n\
             cactus_block_txs_count 30\n\
             cactus_commit_latency_seconds_sum 2\n\
             cactus_commit_latency_seconds_count 1000\n",
        );
        let w = node_work("n1", &before, &after, 4.0);
        assert_eq!(w.blocks, 20);
        assert_eq!(w.block_txs, 4_000);
        assert_eq!(w.blocks_built, 20);
        assert_eq!(w.mean_block_txs, Some(200.0));
        assert_eq!(w.mean_apply_ms, 100.0);
        assert_eq!(w.apply_busy, 0.5);
        assert_eq!(w.mean_commit_ms, Some(2.0));
    }

    #[test]
    fn replay_time_splits_between_issue_blocks_and_the_others() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Heights 1..=4: block 2 carries 5,000 codes.
        let blocks = BTreeMap::from([(1, (10, 0)), (2, (1, 5_000)), (3, (20, 0)), (4, (30, 0))]);
        let marks = [(0, at(0)), (1, at(100)), (2, at(600)), (4, at(1_100))];
        let (other, issue) = split_replay(&marks, &blocks);
        assert_eq!((other.blocks, other.txs, other.codes), (3, 60, 0));
        assert_eq!(other.seconds, 0.6);
        assert_eq!(other.tx_per_sec, 100.0);
        assert_eq!((issue.blocks, issue.txs, issue.codes), (1, 1, 5_000));
        assert_eq!(issue.seconds, 0.5);
    }

    #[test]
    fn a_local_consortium_is_found_from_its_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("orgs/acme/keys");
        std::fs::create_dir_all(&keys).unwrap();
        for (i, port) in [(1, 7401), (2, 7402)] {
            let node = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node).unwrap();
            std::fs::write(
                node.join("cactusd.toml"),
                format!("node_id = {i}\nhttp_addr = \"127.0.0.1:{port}\"\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("node2/cactusd.pid"), "4242\n").unwrap();
        let found = localnet_dir(&keys.join("org-admin.key")).unwrap();
        assert_eq!(
            std::fs::canonicalize(&found).unwrap(),
            std::fs::canonicalize(dir.path()).unwrap()
        );
        assert_eq!(
            localnet_nodes(&found),
            [
                ("http://127.0.0.1:7401".to_string(), None),
                ("http://127.0.0.1:7402".to_string(), Some(4242))
            ]
        );
        assert_eq!(localnet_dir(Path::new("/nonexistent/x.key")), None);
    }
}
