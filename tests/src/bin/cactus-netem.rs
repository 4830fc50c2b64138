//! `cactus-netem`: the delaying proxy of `couponcactus_tests::netem` as a process, for
//! scripts that run a consortium across an emulated WAN (`BENCH_RTT_MS` in
//! scripts/bench.sh). It starts a proxy for every directed pair of the nodes given,
//! writes each node's `[p2p] dial` section into `--dial-dir` (`node<i>.toml`), prints
//! `ready`, and runs until `--duration-s` has passed or it is killed.
//!
//! ```text
//! cactus-netem --node 1=127.0.0.1:7511 --node 2=127.0.0.1:7512 --node 3=127.0.0.1:7513 \
//!     --delay-ms 50 --jitter-ms 0 --loss 0 --dial-dir /tmp/dial --duration-s 600
//! ```

use clap::Parser;
use couponcactus_tests::netem::{LinkSpec, Netem};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Delaying TCP proxies between consortium nodes on loopback")]
struct Args {
    /// A node and its libp2p listen address: `ID=IP:PORT` (repeat for each node).
    #[arg(long = "node", value_parser = parse_node, required = true)]
    nodes: Vec<(u64, SocketAddr)>,
    /// One-way delay of every link, ms (the RTT is twice this).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Each chunk's delay varies by up to this, ms.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Chance per chunk of a retransmission hold (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Bandwidth of every link, bits/s (default: unlimited).
    #[arg(long)]
    rate_bps: Option<u64>,
    /// Where to write each node's `[p2p] dial` section.
    #[arg(long)]
    dial_dir: PathBuf,
    /// Longest run, s (the proxies stop by themselves).
    #[arg(long, default_value_t = 3_600)]
    duration_s: u64,
}

fn parse_node(s: &str) -> Result<(u64, SocketAddr), String> {
    let (id, addr) = s.split_once('=').ok_or("expected ID=IP:PORT")?;
    let id = id.parse().map_err(|e| format!("node id {id:?}: {e}"))?;
    let addr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    Ok((id, addr))
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.loss) {
        return Err(format!("--loss {} is not between 0 and 1", args.loss));
    }
    let mut spec = LinkSpec::wan(
        Duration::from_millis(args.delay_ms),
        Duration::from_millis(args.jitter_ms),
        args.loss,
    );
    if let Some(bps) = args.rate_bps {
        spec = spec.with_rate(bps);
    }
    let targets: BTreeMap<u64, SocketAddr> = args.nodes.iter().copied().collect();
    let netem = Netem::mesh(&targets, spec);
    std::fs::create_dir_all(&args.dial_dir)
        .map_err(|e| format!("{}: {e}", args.dial_dir.display()))?;
    for &id in targets.keys() {
        let entries: Vec<String> = netem
            .dial_map(id)
            .into_iter()
            .map(|(to, a)| format!("\"{to}\" = \"/ip4/{}/tcp/{}\"", a.ip(), a.port()))
            .collect();
        let path = args.dial_dir.join(format!("node{id}.toml"));
        std::fs::write(
            &path,
            format!("\n[p2p]\ndial = {{ {} }}\n", entries.join(", ")),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(args.duration_s));
    Ok(())
}
