//! `cactusd`: the Couponcactus node.
//!
//! `cactusd --dev --data-dir DIR` runs a one-node chain with generated keys;
//! `cactusd --config FILE` runs a consortium node; `cactusd localnet-init` writes the
//! genesis, keys and configs of a local consortium (what `scripts/localnet.sh` runs).

mod devtools;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
use couponcactus_genesis::{Genesis, KeyFile};
use couponcactus_node::analytics::ingest::run_ingester;
use couponcactus_node::analytics::{Analytics, analytics_path};
use couponcactus_node::api::{self, ApiOptions};
use couponcactus_node::config::NodeConfig;
use couponcactus_node::memory::Trimmer;
use couponcactus_node::network::{self, NetworkConfig};
use couponcactus_node::node::{
    NodeHandle, NodeOptions, Peering, SubmitOutcome, now_ms, peers_of, read_consortium, start,
};
use couponcactus_node::storage::Store;
use couponcactus_node::timing::{Profile, Timing};
use devtools::dev::{DevLayout, dev_roles, prepare};
use devtools::localnet::{self, LocalnetSpec};
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The Couponcactus node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Run a one-node development chain with generated keys (in --data-dir).
    #[arg(long)]
    dev: bool,
    /// Data directory (with --dev: keys, genesis and database).
    #[arg(long, env = "CACTUSD_DATA_DIR", default_value = ".cactus-dev")]
    data_dir: PathBuf,
    /// Consortium node configuration (TOML).
    #[arg(long, env = "CACTUSD_CONFIG", conflicts_with = "dev")]
    config: Option<PathBuf>,
    /// HTTP API address (overrides the config file).
    #[arg(long, env = "CACTUSD_HTTP_ADDR")]
    http_addr: Option<SocketAddr>,
    /// libp2p listen address (overrides the config file).
    #[arg(long, env = "CACTUSD_P2P_ADDR")]
    p2p_addr: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "CACTUSD_LOG_JSON")]
    log_json: bool,
    /// Once up, seed the demo pools and coupons of the local consortium in this folder
    /// (idempotent; what `scripts/localnet.sh up` asks node 1 to do).
    #[arg(long, requires = "config")]
    seed_demo: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the genesis, keys and node configs of a local N-node consortium (reuses an
    /// existing one).
    LocalnetInit {
        /// Where (`.localnet` for scripts/localnet.sh).
        #[arg(long, default_value = ".localnet")]
        dir: PathBuf,
        /// Number of nodes (one org each).
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Node i serves HTTP on 127.0.0.1:BASE+i and libp2p on BASE+100+i.
        #[arg(long, env = "LOCALNET_BASE_PORT", default_value_t = localnet::DEFAULT_BASE_PORT)]
        base_port: u16,
        /// Nodes on separate hosts (containers): node i's host name, `{i}` replaced by i
        /// (e.g. `node{i}`); peers dial it by DNS and nodes listen on all interfaces.
        #[arg(long)]
        host_template: Option<String>,
    },
    /// Drop and rebuild the analytics store (`analytics.sqlite`) from the chain's event log.
    /// Works on a stopped node: with --config FILE, or --data-dir DIR (a dev chain's
    /// directory, or a node's database directory). Refuses while cactusd runs on it.
    Reindex,
    /// Score past blocks for fraud with a risk.toml (docs/intelligence.md), as live
    /// scoring would: on a stopped node (--config FILE or --data-dir DIR) or a copy of its
    /// data. Prints the flags, one a line (or JSON with --json).
    RiskBacktest {
        /// The org whose pools are scored.
        #[arg(long)]
        org: couponcactus_chaincode::ids::OrgId,
        /// The scoring settings (default: the built-in defaults).
        #[arg(long, value_name = "FILE")]
        risk_file: Option<PathBuf>,
        /// First height reported (earlier blocks only warm the engine; default 1).
        #[arg(long, default_value_t = 1)]
        from_height: u64,
        /// Last height (default: the latest).
        #[arg(long)]
        to_height: Option<u64>,
        /// JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Staff accounts of the merchant console (`console.sqlite` in the node's data
    /// directory: --config FILE, or --data-dir DIR); works on a stopped or running node.
    Users {
        #[command(subcommand)]
        action: UsersCommand,
    },
}

/// `cactusd users …`.
#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user; the password (12 characters or more) is read from stdin's first line,
    /// or from --password-file, never from the command line.
    Add {
        /// Login name (letters, digits, `.`, `_`, `@`, `-`; up to 64).
        name: String,
        /// admin, issuer (may write), analyst or auditor (read only).
        #[arg(long)]
        role: String,
        /// Read the password from this file's first line instead of stdin.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List the users.
    List,
    /// Disable a user: it can no longer log in and its sessions end.
    Disable {
        /// Login name.
        name: String,
    },
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CACTUSD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,raft=warn"));
    // Colours only for a person at a terminal: log files (scripts/localnet.sh redirects to
    // node<i>/cactusd.log) stay plain text, and NO_COLOR is honoured (no-color.org).
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    init_tracing(args.log_json);
    if let Some(Command::LocalnetInit {
        dir,
        nodes,
        base_port,
        host_template,
    }) = &args.command
    {
        let layout = localnet::init(&LocalnetSpec {
            dir: dir.clone(),
            nodes: *nodes,
            base_port: *base_port,
            now_ms: now_ms(),
            host_template: host_template.clone(),
        })
        .with_context(|| format!("preparing the local consortium in {}", dir.display()))?;
        // A reader that stops early (`| head`) is not an error: the layout is written.
        if let Err(e) = writeln!(std::io::stdout(), "{layout}")
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(e).context("writing the layout summary");
        }
        return Ok(());
    }
    if let Some(Command::Reindex) = &args.command {
        return reindex(&args);
    }
    if let Some(Command::Users { action }) = &args.command {
        return users(&args, action);
    }
    if let Some(Command::RiskBacktest { .. }) = &args.command {
        return risk_backtest(&args);
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    // The config file, read once (`--dev` runs without one).
    let file = match &args.config {
        Some(path) if !args.dev => Some(NodeConfig::load(path)?),
        _ => None,
    };
    // Freed memory back to the system for as long as the node runs (dropped on return).
    let memory = file.as_ref().map(|c| c.memory.clone()).unwrap_or_default();
    let _trimmer = Trimmer::start(&memory);

    let (genesis, key, options, mut api_options, db_dir, http_addr, dev, p2p_addr) = if args.dev {
        let p2p = args
            .p2p_addr
            .clone()
            .unwrap_or_else(|| "/ip4/127.0.0.1/tcp/7201".into());
        let genesis = prepare(&args.data_dir, &p2p, now_ms()).context("preparing the dev chain")?;
        let layout = DevLayout {
            dir: args.data_dir.clone(),
        };
        let key = KeyFile::load(&layout.key("node"))?;
        let http = args
            .http_addr
            .unwrap_or_else(|| "127.0.0.1:7101".parse().expect("valid"));
        (
            genesis,
            key,
            NodeOptions::default(),
            ApiOptions::default(),
            layout.db(),
            http,
            Some(layout),
            None,
        )
    } else if let Some(config) = &file {
        let genesis = Genesis::load(&config.genesis)?;
        let key = KeyFile::load(&config.node_key)?;
        let http = args.http_addr.unwrap_or(config.http_addr);
        let p2p = args.p2p_addr.clone().or(config.p2p_addr.clone());
        (
            genesis,
            key,
            config.options(),
            config.api_options(),
            config.data_dir.clone(),
            http,
            None,
            Some(p2p),
        )
    } else {
        bail!("say what to run: `cactusd --dev --data-dir DIR` or `cactusd --config FILE`");
    };
    // Before RocksDB and libp2p open theirs: room for every HTTP connection of the cap.
    api::ensure_fd_limit(&mut api_options.http);
    std::fs::create_dir_all(&db_dir).with_context(|| format!("creating {}", db_dir.display()))?;
    let store = Store::open(&db_dir)
        .with_context(|| format!("opening the database in {}", db_dir.display()))?;
    store
        .init_genesis(&genesis.initial, genesis.hash())
        .with_context(|| format!("checking the database in {}", db_dir.display()))?;
    // The membership as of the last applied block (genesis, or later governance).
    let consortium = read_consortium(&store)?;
    let me = consortium
        .nodes
        .iter()
        .find(|n| n.node_id == options.node_id);
    match me {
        Some(n) if n.node_key == key.public_key() => {}
        Some(_) => bail!(
            "the node key does not match node {} in the consortium",
            options.node_id
        ),
        None if dev.is_some() => bail!("node {} is not in genesis", options.node_id),
        None => warn!(
            node = options.node_id,
            "this node is not (yet) a consortium member: it syncs once a governance AddNode tx admits it"
        ),
    }
    // Request timing and dial overrides (`[raft]`, `[p2p]`; --dev runs the LAN profile).
    let (timing, rtt_ms, dial) = match &file {
        Some(config) => (
            config.timing(),
            config.raft.rtt_ms,
            config
                .p2p
                .dial_overrides()
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        None => (
            Timing::resolve(Profile::Lan, Default::default()),
            None,
            Default::default(),
        ),
    };
    let peering = match p2p_addr {
        None => None,
        Some(listen) => {
            let listen = listen
                .or_else(|| me.map(|n| n.p2p_addr.clone()))
                .context("say where to listen for peers: p2p_addr in the config or --p2p-addr")?;
            let (network, inbound) = network::start(NetworkConfig {
                node_id: options.node_id,
                key: key.signing_key(),
                listen: listen.clone(),
                chain_tag: genesis.hash().to_string()[..16].to_string(),
                peers: peers_of(&consortium),
                request_timeout: Duration::from_millis(timing.request_timeout_ms),
                request_attempts: timing.request_attempts,
                retry_backoff: Timing::retry_backoff(rtt_ms),
                dial: dial.clone(),
            })
            .await
            .with_context(|| format!("starting the peer network on {listen}"))?;
            let snapshot_dir = db_dir
                .parent()
                .map(|p| p.join("snapshots"))
                .unwrap_or_else(|| db_dir.join("snapshots"));
            info!(p2p = %listen, peers = consortium.nodes.len(), "peer network started");
            Some(Peering {
                network,
                inbound,
                snapshot_dir,
            })
        }
    };
    let (node, consensus) = start(
        store,
        &genesis.initial,
        genesis.hash(),
        key.signing_key(),
        options,
        peering,
    )?;

    let analytics_file = if dev.is_some() {
        analytics_path(&args.data_dir)
    } else {
        analytics_path(&db_dir)
    };
    let analytics = Arc::new(
        Analytics::open(&analytics_file)
            .with_context(|| format!("opening {}", analytics_file.display()))?,
    );
    if let Some(config) = &file {
        analytics.set_profiling_basis(config.intelligence.profiling_basis);
    }
    api_options.analytics = Some(analytics.clone());
    api_options.directory = open_directory(
        file.as_ref(),
        if dev.is_some() {
            &args.data_dir
        } else {
            &db_dir
        },
    )?;
    let (stop_ingester, ingester_stopped) = tokio::sync::oneshot::channel::<()>();
    let ingester = tokio::spawn(run_ingester(
        analytics,
        node.store().clone(),
        node.events_tip().subscribe(),
        async move {
            let _ = ingester_stopped.await;
        },
    ));

    let webhooks = start_webhooks(
        file.as_ref(),
        &node,
        if dev.is_some() {
            &args.data_dir
        } else {
            &db_dir
        },
    )?;
    if let Some((slot, _, _)) = &webhooks {
        api_options.webhooks = slot.clone();
    }
    let console_dir = if dev.is_some() {
        args.data_dir.clone()
    } else {
        db_dir.clone()
    };
    let webhook_slot = webhooks.as_ref().map(|w| w.0.clone()).unwrap_or_default();
    // Bound before the console opens: the wallet's links name the address it got.
    let listener = api::listen(http_addr).with_context(|| format!("binding {http_addr}"))?;
    let bound = listener.local_addr()?;
    let console = start_console(
        &args,
        file.as_ref(),
        &node,
        &console_dir,
        &api_options,
        (webhook_slot, bound),
    )?;
    if let Some((slot, _, _)) = &console {
        api_options.console = Some(slot.clone());
    }
    let compliance = start_compliance(
        file.as_ref(),
        &node,
        &console_dir,
        &analytics_file,
        &mut api_options,
    )?;
    if api_options.console.is_some() {
        info!(url = %format!("http://{bound}/console"), "merchant console");
    }
    info!(chain = %genesis.initial.chain_id, genesis = %genesis.hash(), http = %bound, "cactusd started");
    if let Some(layout) = &dev {
        register_dev_keys(&node, layout).await?;
        print_dev_banner(layout, bound);
    }
    if let Some(dir) = &args.seed_demo {
        let node = node.clone();
        let dir = dir.clone();
        tokio::spawn(async move {
            // The consortium needs a leader before anything commits; seeding waits for it.
            match seed_demo(&node, &dir).await {
                Ok(summary) => info!("{summary}"),
                Err(e) => tracing::error!(error = %e, "seeding the demo data failed"),
            }
        });
    }

    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        info!("shutting down");
    };
    api::serve_with(listener, node.clone(), metrics, api_options, shutdown).await?;
    for (stop, task) in [
        console.map(|(_, stop, task)| (stop, task)),
        webhooks.map(|(_, stop, task)| (stop, task)),
    ]
    .into_iter()
    .flatten()
    .chain(compliance)
    {
        let _ = stop.send(());
        let _ = task.await;
    }
    let _ = stop_ingester.send(());
    let _ = ingester.await;
    node.shutdown();
    match consensus.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("consensus loop failed: {e}"),
        Err(_) => bail!("consensus thread panicked"),
    }
}

/// Opens the member directory (`[directory]` of the config file; defaults with `--dev`)
/// in `<dir>/directory.sqlite` under its master key; `None` when disabled.
fn open_directory(
    file: Option<&NodeConfig>,
    dir: &std::path::Path,
) -> Result<Option<Arc<couponcactus_node::directory::Directory>>> {
    use couponcactus_node::directory::Directory;
    let config = file.map(|c| c.directory.clone()).unwrap_or_default();
    if !config.enabled {
        info!("member directory off ([directory] enabled = false)");
        return Ok(None);
    }
    let directory = Directory::open(dir, config.key_file.as_deref())
        .with_context(|| format!("opening the member directory in {}", dir.display()))?;
    Ok(Some(Arc::new(directory)))
}

/// The webhook service's slot and its dispatcher task (`[webhooks]` of the config file;
/// defaults with `--dev`), in `<dir>/webhooks.sqlite`; `None` when disabled.
type WebhookTask = (
    couponcactus_node::webhooks::WebhookSlot,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// Opens the webhook service now when the node knows its org (an error here stops the
/// start), or else once it joins the consortium (the slot stays empty until then and the
/// webhook routes answer 503 `webhooks_off`); then runs the dispatcher until stopped.
fn start_webhooks(
    file: Option<&NodeConfig>,
    node: &NodeHandle,
    dir: &std::path::Path,
) -> Result<Option<WebhookTask>> {
    use couponcactus_node::webhooks::{self, WebhookConfig, WebhookSlot, Webhooks};
    let config = match file {
        Some(config) => config.webhooks.clone(),
        // A dev chain is local: receivers on 127.0.0.1 are what its user runs.
        _ => WebhookConfig {
            allow_private_targets: true,
            ..WebhookConfig::default()
        },
    };
    if !config.enabled {
        return Ok(None);
    }
    let node_id = node.status().node_id;
    let open = {
        let (node, dir) = (node.clone(), dir.to_path_buf());
        move |org| Webhooks::open(&dir, node, org, config)
    };
    let slot = WebhookSlot::default();
    let mut pending = None;
    match webhooks::node_org(node, node_id) {
        Some(org) => {
            let hooks = open(org)
                .with_context(|| format!("opening {}", dir.join(webhooks::STORE_FILE).display()))?;
            let _ = slot.set(hooks);
        }
        None => {
            warn!("webhooks wait: this node is not yet in the consortium, so it has no org");
            pending = Some(open);
        }
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let (slot, node) = (slot.clone(), node.clone());
        async move {
            let mut stopped = stopped;
            if let Some(open) = pending {
                let Some(org) = webhooks::wait_for_org(&node, node_id, async {
                    let _ = (&mut stopped).await;
                })
                .await
                else {
                    return;
                };
                match open(org.clone()) {
                    Ok(hooks) => {
                        info!(%org, "webhooks on: this node joined the consortium");
                        let _ = slot.set(hooks);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "webhooks off: opening the store failed");
                        return;
                    }
                }
            }
            let Some(hooks) = slot.get().cloned() else {
                return;
            };
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = webhooks::dispatch::run(hooks, shutdown).await {
                tracing::error!(error = %e, "the webhook dispatcher stopped");
            }
        }
    });
    Ok(Some((slot, stop, task)))
}

/// A background task and its stop signal.
type StoppableTask = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// The access log (`<dir>/access-log.sqlite`) and its writer, and the retention service
/// (`<dir>/retention.sqlite`, `[retention]` of the config file) and its job, over the
/// webhook delivery log, the access log and the analytics detail in `dir` and
/// `analytics_file`, and the member directory's inactive records when it is open. Puts both in `api_options`; the tasks stop after the API does.
fn start_compliance(
    file: Option<&NodeConfig>,
    node: &NodeHandle,
    dir: &std::path::Path,
    analytics_file: &std::path::Path,
    api_options: &mut ApiOptions,
) -> Result<Vec<StoppableTask>> {
    use couponcactus_node::access_log::{self, AccessLog};
    use couponcactus_node::retention::{self, Retention, classes};
    let (log, writer) = AccessLog::open(dir, Some(node.store().clone()))
        .with_context(|| format!("opening {}", dir.join(access_log::STORE_FILE).display()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(writer.run(async move {
        let _ = stopped.await;
    }));
    let mut tasks = vec![(stop, task)];
    let config = file.map(|f| f.retention.clone()).unwrap_or_default();
    let service = Arc::new(
        Retention::open(dir, config.clone())
            .with_context(|| format!("opening {}", dir.join(retention::STORE_FILE).display()))?,
    );
    service.add_class(Arc::new(classes::WebhookDeliveries::new(dir)));
    service.add_class(Arc::new(classes::AccessLogEntries::new(
        log.store().clone(),
    )));
    service.add_class(Arc::new(classes::AnalyticsDetail::new(
        analytics_file.to_path_buf(),
    )));
    if let (Some(directory), Some(analytics)) = (&api_options.directory, &api_options.analytics) {
        use couponcactus_node::directory::retention::InactiveMembers;
        let store = node.store().clone();
        service.add_class(Arc::new(InactiveMembers::new(
            directory.clone(),
            analytics.clone(),
            Box::new(move || store.tip().map(|t| t.height).map_err(|e| e.to_string())),
        )));
    }
    if config.enabled {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(retention::job::run(service.clone(), async move {
            let _ = stopped.await;
        }));
        tasks.push((stop, task));
    } else {
        warn!("retention off ([retention] enabled = false): nothing past its window is deleted");
    }
    api_options.access_log = Some(log);
    api_options.retention = Some(service);
    Ok(tasks)
}

/// `cactusd reindex`: rebuilds the analytics store of a stopped node.
fn reindex(args: &Args) -> Result<()> {
    let (db_dir, file) = if let Some(path) = &args.config {
        let config = NodeConfig::load(path)?;
        let file = analytics_path(&config.data_dir);
        (config.data_dir, file)
    } else {
        let dev = DevLayout {
            dir: args.data_dir.clone(),
        };
        if dev.db().is_dir() {
            (dev.db(), analytics_path(&args.data_dir))
        } else {
            (args.data_dir.clone(), analytics_path(&args.data_dir))
        }
    };
    let started = std::time::Instant::now();
    let summary = couponcactus_node::analytics::ingest::reindex(&db_dir, &file)
        .with_context(|| format!("reindexing {}", file.display()))?;
    println!(
        "rebuilt {} from {}: {} events up to height {} in {:.1} s",
        file.display(),
        db_dir.display(),
        summary.events,
        summary.height,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cactusd risk-backtest`: scores past blocks of a stopped node's database.
fn risk_backtest(args: &Args) -> Result<()> {
    use couponcactus_node::risk::{backtest, config::RiskConfig};
    let Some(Command::RiskBacktest {
        org,
        risk_file,
        from_height,
        to_height,
        json,
    }) = &args.command
    else {
        unreachable!("called for risk-backtest");
    };
    let db_dir = match &args.config {
        Some(path) => NodeConfig::load(path)?.data_dir,
        None => {
            let dev = DevLayout {
                dir: args.data_dir.clone(),
            };
            if dev.db().is_dir() {
                dev.db()
            } else {
                args.data_dir.clone()
            }
        }
    };
    let config = match risk_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config: RiskConfig =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            config.validate()?;
            config
        }
        None => RiskConfig::default(),
    };
    let store = Store::open(&db_dir).map_err(|e| {
        if e.to_string().to_ascii_lowercase().contains("lock") {
            anyhow::anyhow!(
                "{} is in use: stop cactusd or back test a copy",
                db_dir.display()
            )
        } else {
            anyhow::Error::from(e)
        }
    })?;
    let to = to_height.unwrap_or(u64::MAX);
    let result = backtest::backtest(&store, org, &config, (*from_height, to))?;
    if *json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    for f in &result.flags {
        let a = &f.assessment;
        let reasons: Vec<String> = a
            .reasons
            .iter()
            .map(|r| {
                format!(
                    "{} {} > {} (+{})",
                    r.rule, r.observed, r.threshold, r.weight
                )
            })
            .collect();
        println!(
            "height {:>8}  {}  score {:>3} {:?}  {}",
            f.height,
            f.event_id,
            a.score,
            a.verdict,
            reasons.join(", ")
        );
    }
    println!(
        "{} flags in {} events of {org}'s pools, heights {from_height}..{}",
        result.flags.len(),
        result.events,
        to_height.map_or("latest".to_string(), |h| h.to_string())
    );
    Ok(())
}

/// Seeds the local consortium's demo data once a leader is known (retrying while the
/// consortium forms); returns a one-line summary for the log (the whole summary is in
/// `DIR/demo.json`).
async fn seed_demo(node: &NodeHandle, dir: &std::path::Path) -> Result<String> {
    let layout = localnet::LocalnetLayout::open(dir)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        while node.status().leader_id == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match devtools::demo::seed(node, &layout).await {
            Ok(summary) => return Ok(summary.one_line(&layout.demo_summary())),
            Err(e) if attempt < 10 => {
                warn!(error = %e, attempt, "demo seeding failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Registers the dev org's issuer, terminal and auditor keys (once; later starts find them).
async fn register_dev_keys(node: &NodeHandle, layout: &DevLayout) -> Result<()> {
    let admin = KeyFile::load(&layout.key("org-admin"))?.signing_key();
    for (i, (name, role)) in dev_roles().into_iter().enumerate() {
        let Some(role) = role.filter(|r| *r != couponcactus_chaincode::types::Role::OrgAdmin)
        else {
            continue;
        };
        let key = KeyFile::load(&layout.key(name))?.public_key();
        let state_has_key = matches!(
            couponcactus_chaincode::state::StateReader::get(
                node.store(),
                &couponcactus_chaincode::state::StateKey::Key(key)
            ),
            Ok(Some(_))
        );
        if state_has_key {
            continue;
        }
        // A consortium auditor needs a governance quorum: the dev org is the whole
        // consortium, so its admin's proposal takes effect at once.
        let kind = if role == couponcactus_chaincode::types::Role::Auditor {
            TxKind::ProposeGovernance(couponcactus_chaincode::tx::ProposeGovernanceTx {
                change: couponcactus_chaincode::types::GovernanceChange::AddAuditor {
                    org: couponcactus_chaincode::ids::OrgId("dev".into()),
                    key,
                },
            })
        } else {
            TxKind::RegisterKey(RegisterKeyTx { key, role })
        };
        let body = TxBody {
            chain_id: node.chain_id().clone(),
            nonce: i as u64,
            valid_until_ms: now_ms() + 60_000,
            kind,
            memo: None,
        };
        match node.submit(body.sign(&admin), true).await? {
            SubmitOutcome::Committed(c) if c.result.outcome.events().is_some() => {}
            other => bail!("registering the dev {name} key: {other:?}"),
        }
    }
    Ok(())
}

fn print_dev_banner(layout: &DevLayout, http: SocketAddr) {
    println!("\nCouponcactus dev chain is up.");
    println!("  HTTP API     http://{http}   (status: curl http://{http}/v1/status)");
    println!("  genesis      {}", layout.genesis().display());
    for (name, _) in dev_roles() {
        println!("  {name:<12} {}", layout.key(name).display());
    }
    println!("  data key     {}", layout.data_key().display());
    println!(
        "  console      http://{http}/console   (user {}, password in {})",
        couponcactus_node::console::FIRST_ADMIN,
        layout
            .dir
            .join(couponcactus_node::console::FIRST_ADMIN_FILE)
            .display()
    );
    println!("Use the CLI with: export CACTUS_NODE=http://{http}\nCtrl-C stops the node.\n");
}

/// The console's slot and its task (the alert evaluator, after waiting for the node's
/// org when it has none yet).
type ConsoleTask = (
    couponcactus_node::console::ConsoleSlot,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// The merchant console's configuration (`[console]` of the config file `file`; on, with a
/// first admin and the dev chain's issuer key, with `--dev`).
fn console_config(
    args: &Args,
    file: Option<&NodeConfig>,
) -> couponcactus_node::console::ConsoleConfig {
    use couponcactus_node::console::ConsoleConfig;
    match file {
        Some(config) => config.console.clone(),
        _ => {
            let dev = DevLayout {
                dir: args.data_dir.clone(),
            };
            ConsoleConfig {
                key_file: Some(dev.key("issuer")),
                data_key_file: Some(dev.data_key()),
                ..ConsoleConfig::local()
            }
        }
    }
}

/// The merchant console, its store in `dir`; `None` when disabled. It opens now when the
/// node knows its org (an error here stops the start), or else once the node joins the
/// consortium (until then the console's pages answer 503); then its alert evaluator runs
/// until stopped, handing alerts to the webhooks in `webhooks`.
fn start_console(
    args: &Args,
    file: Option<&NodeConfig>,
    node: &NodeHandle,
    dir: &std::path::Path,
    api_options: &ApiOptions,
    (webhooks, bound): (couponcactus_node::webhooks::WebhookSlot, SocketAddr),
) -> Result<Option<ConsoleTask>> {
    use couponcactus_node::console::{self, Console, ConsoleSlot};
    let config = console_config(args, file);
    let wallet = match file {
        Some(f) => f.wallet.clone(),
        None => couponcactus_node::wallet::WalletConfig::local(),
    };
    if !config.enabled {
        return Ok(None);
    }
    let load = |what: &str, path: &Option<PathBuf>| -> Result<Option<ed25519_dalek::SigningKey>> {
        path.as_ref()
            .map(|p| {
                KeyFile::load(p)
                    .map(|k| k.signing_key())
                    .with_context(|| format!("[console] {what} {}", p.display()))
            })
            .transpose()
    };
    let keys = console::WriteKeys {
        signer: load("key_file", &config.key_file)?,
        data_key: load("data_key_file", &config.data_key_file)?.map(|k| k.to_bytes()),
    };
    let scorer = if config.fraud_scoring {
        let key = load("risk_key_file", &config.risk_key_file)?;
        let scorer =
            couponcactus_node::risk::follow::Scorer::open(dir, config.risk_file.as_deref(), key)
                .map_err(|e| anyhow::anyhow!("[console] fraud scoring: {e}"))?;
        Some(Arc::new(scorer))
    } else {
        None
    };
    let open = {
        let (node, dir, analytics, advisor_model) = (
            node.clone(),
            dir.to_path_buf(),
            api_options.analytics.clone(),
            api_options.advisor_model.clone(),
        );
        move |org| -> Result<Arc<Console>> {
            if config.bootstrap_admin
                && let Some(file) = console::cli::bootstrap_admin(&dir)?
            {
                info!(user = console::FIRST_ADMIN, password_file = %file.display(), "console first login");
            }
            let console = Console::open(&dir, node, org, analytics, config, keys)
                .with_context(|| format!("opening {}", console::store_path(&dir).display()))?;
            if let Some(model) = advisor_model {
                console.set_advisor_model(model);
            }
            if wallet.enabled {
                let url = format!("http://{bound}");
                let w =
                    couponcactus_node::wallet::Wallet::open(&dir, console.clone(), wallet, &url)
                        .map_err(|e| anyhow::anyhow!("[wallet] {e}"))?;
                info!(url = %format!("{url}/wallet"), "customer wallet");
                console.set_wallet(w);
            }
            Ok(console)
        }
    };
    let slot = ConsoleSlot::default();
    let node_id = node.status().node_id;
    let mut pending = None;
    match couponcactus_node::webhooks::node_org(node, node_id) {
        Some(org) => {
            let _ = slot.set(open(org)?);
        }
        None => {
            warn!("console waits: this node is not yet in the consortium, so it has no org");
            pending = Some(open);
        }
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_console(
        slot.clone(),
        pending,
        node.clone(),
        (webhooks, scorer),
        stopped,
    ));
    Ok(Some((slot, stop, task)))
}

/// Fills the console slot once the node has an org (when `pending`), then runs the alert
/// evaluator and, when on, the fraud scorer (both stop with `stopped`); the alert
/// evaluator until `stopped`.
async fn run_console(
    slot: couponcactus_node::console::ConsoleSlot,
    pending: Option<
        impl FnOnce(
            couponcactus_chaincode::ids::OrgId,
        ) -> Result<Arc<couponcactus_node::console::Console>>,
    >,
    node: NodeHandle,
    (webhooks, scorer): (
        couponcactus_node::webhooks::WebhookSlot,
        Option<Arc<couponcactus_node::risk::follow::Scorer>>,
    ),
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    if let Some(open) = pending {
        let node_id = node.status().node_id;
        let wait = async {
            let _ = (&mut stopped).await;
        };
        let Some(org) = couponcactus_node::webhooks::wait_for_org(&node, node_id, wait).await
        else {
            return;
        };
        match open(org.clone()) {
            Ok(console) => {
                info!(%org, "console on: this node joined the consortium");
                let _ = slot.set(console);
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "console off: opening it failed");
                return;
            }
        }
    }
    let Some(console) = slot.get().cloned() else {
        return;
    };
    use futures::FutureExt as _;
    let stopped = async move {
        let _ = stopped.await;
    }
    .shared();
    let scoring = async {
        if let Some(scorer) = scorer {
            couponcactus_node::risk::follow::run(console.clone(), scorer, stopped.clone()).await;
        }
    };
    tokio::join!(
        couponcactus_node::console::alerts::run(console.clone(), webhooks, stopped.clone()),
        scoring
    );
}

/// `cactusd users add|list|disable`.
fn users(args: &Args, action: &UsersCommand) -> Result<()> {
    use couponcactus_node::console::{Role, cli};
    let dir = match &args.config {
        Some(path) => NodeConfig::load(path)?.data_dir,
        None => args.data_dir.clone(),
    };
    match action {
        UsersCommand::Add {
            name,
            role,
            password_file,
        } => {
            let role = Role::parse(role)?;
            if password_file.is_none() && std::io::stdin().is_terminal() {
                eprint!("password for {name} (12 characters or more): ");
            }
            let password = cli::read_password(password_file.as_deref())?;
            let user = cli::add(&dir, name, role, &password)?;
            println!("added {} ({}), id {}", user.name, user.role.name(), user.id);
        }
        UsersCommand::List => print!("{}", cli::table(&cli::list(&dir)?)),
        UsersCommand::Disable { name } => {
            if cli::disable(&dir, name)? {
                println!("disabled {name}; its sessions ended");
            } else {
                println!("{name} was disabled already");
            }
        }
    }
    Ok(())
}
