//! `cactusd`: the Couponcactus node.
//!
//! `cactusd --dev --data-dir DIR` runs a one-node chain with generated keys;
//! `cactusd --config FILE` runs a consortium node.

use anyhow::{Context, Result, bail};
use clap::Parser;
use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
use couponcactus_genesis::{Genesis, KeyFile};
use couponcactus_node::config::NodeConfig;
use couponcactus_node::dev::{DevLayout, dev_roles, prepare};
use couponcactus_node::node::{NodeHandle, NodeOptions, SubmitOutcome, now_ms, start};
use couponcactus_node::storage::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing::info;

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
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CACTUSD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,raft=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;

    let (genesis, key, options, db_dir, http_addr, dev) = if args.dev {
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
            layout.db(),
            http,
            Some(layout),
        )
    } else if let Some(path) = &args.config {
        let config = NodeConfig::load(path)?;
        let genesis = Genesis::load(&config.genesis)?;
        let key = KeyFile::load(&config.node_key)?;
        let http = args.http_addr.unwrap_or(config.http_addr);
        (
            genesis,
            key,
            config.options(),
            config.data_dir.clone(),
            http,
            None,
        )
    } else {
        bail!("say what to run: `cactusd --dev --data-dir DIR` or `cactusd --config FILE`");
    };
    let me = genesis
        .initial
        .nodes
        .iter()
        .find(|n| n.node_id == options.node_id);
    match me {
        Some(n) if n.node_key == key.public_key() => {}
        Some(_) => bail!(
            "the node key does not match node {} in genesis",
            options.node_id
        ),
        None => bail!("node {} is not in genesis", options.node_id),
    }
    std::fs::create_dir_all(&db_dir).with_context(|| format!("creating {}", db_dir.display()))?;
    let store = Store::open(&db_dir)
        .with_context(|| format!("opening the database in {}", db_dir.display()))?;
    let (node, consensus) = start(
        store,
        &genesis.initial,
        genesis.hash(),
        key.signing_key(),
        options,
    )?;

    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding {http_addr}"))?;
    let bound = listener.local_addr()?;
    info!(chain = %genesis.initial.chain_id, genesis = %genesis.hash(), http = %bound, "cactusd started");
    if let Some(layout) = &dev {
        register_dev_keys(&node, layout).await?;
        print_dev_banner(layout, bound);
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
    couponcactus_node::api::serve(listener, node.clone(), metrics, shutdown).await?;
    node.shutdown();
    match consensus.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("consensus loop failed: {e}"),
        Err(_) => bail!("consensus thread panicked"),
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
        let body = TxBody {
            chain_id: node.chain_id().clone(),
            nonce: i as u64,
            valid_until_ms: now_ms() + 60_000,
            kind: TxKind::RegisterKey(RegisterKeyTx { key, role }),
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
    println!("Use the CLI with: export CACTUS_NODE=http://{http}\nCtrl-C stops the node.\n");
}
