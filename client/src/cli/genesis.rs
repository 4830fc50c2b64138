//! `cactus genesis …`: writing a chain's genesis file step by step.
//!
//! The draft is the genesis TOML itself (see `couponcactus_client::genesis_draft`): `init`
//! creates it, `add-org` and `add-node` edit it in place checking what they add, and
//! `finalize` validates the whole (unique ids, well-formed keys, at least one voter) and
//! prints the genesis hash every node and auditor pins.

use super::context::Ctx;
use super::output::{Failure, emit, format_time_ms};
use anyhow::Result;
use clap::Subcommand;
use couponcactus_client::chaincode::types::ChainParams;
use couponcactus_client::genesis_draft::GenesisDraft;
use couponcactus_client::keys;
use couponcactus_client::tx_builder::now_ms;
use serde_json::json;
use std::path::{Path, PathBuf};

/// `cactus genesis` subcommands.
#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Start a genesis draft (never overwrites a file).
    Init {
        /// The chain's id (a slug, e.g. couponcactus-main); every tx signs it.
        #[arg(long)]
        chain_id: String,
        /// Where to write the draft.
        #[arg(long, value_name = "FILE", default_value = "genesis.toml")]
        out: PathBuf,
        /// Genesis time, ms since the Unix epoch (default: now).
        #[arg(long)]
        time_ms: Option<u64>,
        /// Most codes in one issue batch (chain parameter).
        #[arg(long)]
        max_batch_codes: Option<u32>,
        /// Longest validity of a tx, ms (chain parameter).
        #[arg(long)]
        max_tx_validity_ms: Option<u64>,
    },
    /// Add a founding org with its first admin key.
    AddOrg {
        /// The draft.
        #[arg(long, value_name = "FILE", default_value = "genesis.toml")]
        file: PathBuf,
        /// The org's id (a slug, e.g. acme).
        #[arg(long)]
        id: String,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// Its first org-admin key: a key file or 64 hex characters.
        #[arg(long, value_name = "FILE|HEX")]
        admin_key: String,
    },
    /// Add a founding consensus node.
    AddNode {
        /// The draft.
        #[arg(long, value_name = "FILE", default_value = "genesis.toml")]
        file: PathBuf,
        /// Its Raft id (unique, from 1; never reused).
        #[arg(long)]
        id: u64,
        /// The org that runs it (add the org first).
        #[arg(long)]
        org: String,
        /// Its node key (signs checkpoints; its libp2p identity): a key file or hex.
        #[arg(long, value_name = "FILE|HEX")]
        node_key: String,
        /// Where peers dial it, e.g. /ip4/10.0.0.5/tcp/7201 or /dns4/node-a/tcp/7201.
        #[arg(long, value_name = "MULTIADDR")]
        p2p_addr: String,
        /// A learner follows the chain but does not vote or sign certificates.
        #[arg(long)]
        learner: bool,
    },
    /// Validate the draft and print its genesis hash.
    Finalize {
        /// The draft.
        #[arg(long, value_name = "FILE", default_value = "genesis.toml")]
        file: PathBuf,
    },
    /// Show a genesis file (or draft) and whether it is valid.
    Show {
        /// The file.
        #[arg(long, value_name = "FILE", default_value = "genesis.toml")]
        file: PathBuf,
    },
}

fn public(text: &str, what: &str) -> Result<couponcactus_client::chaincode::ids::PublicKey> {
    keys::parse_public_key(text).map_err(|e| {
        Failure::new("invalid_input", format!("{what}: {e}"))
            .hint("give a key file, or 64 hex characters (`cactus keys show FILE`)")
            .into()
    })
}

fn load(file: &Path) -> Result<GenesisDraft> {
    GenesisDraft::load(file).map_err(|e| {
        let f = Failure::new("bad_genesis", e.to_string());
        if file.exists() {
            f.into()
        } else {
            f.hint("start one with `cactus genesis init --chain-id ID --out FILE`")
                .into()
        }
    })
}

fn failure(e: couponcactus_client::genesis_draft::GenesisDraftError) -> anyhow::Error {
    Failure::new("invalid_genesis", e.to_string()).into()
}

fn summary(draft: &GenesisDraft) -> String {
    let g = &draft.initial;
    let mut text = format!(
        "chain {} (genesis time {}), {} org(s), {} node(s)\n",
        g.chain_id,
        format_time_ms(g.genesis_time_ms),
        g.orgs.len(),
        g.nodes.len()
    );
    for o in &g.orgs {
        let admins: Vec<String> = o.admin_keys.iter().map(|k| k.to_hex()).collect();
        text.push_str(&format!(
            "  org {:<12} {:<24} admin {}\n",
            o.id,
            o.name,
            admins.join(", ")
        ));
    }
    for n in &g.nodes {
        text.push_str(&format!(
            "  node {:<3} {:<8} org {:<12} {} key {}\n",
            n.node_id,
            if n.voter { "voter" } else { "learner" },
            n.org,
            n.p2p_addr,
            n.node_key
        ));
    }
    text
}

/// Runs a `cactus genesis` subcommand.
pub fn run(ctx: &Ctx, command: GenesisCommand) -> Result<()> {
    match command {
        GenesisCommand::Init {
            chain_id,
            out,
            time_ms,
            max_batch_codes,
            max_tx_validity_ms,
        } => {
            let mut params = ChainParams::default();
            if let Some(n) = max_batch_codes {
                params.max_batch_codes = n;
            }
            if let Some(ms) = max_tx_validity_ms {
                params.max_tx_validity_ms = ms;
            }
            let draft = GenesisDraft::new(&chain_id, time_ms.unwrap_or_else(now_ms), params)
                .map_err(failure)?;
            draft.create(&out).map_err(failure)?;
            emit(
                ctx.json,
                &json!({ "path": out, "genesis": draft.initial }),
                || {
                    format!(
                        "wrote the genesis draft {} for chain {chain_id}\nnext: `cactus genesis add-org --file {0} …`, \
                     `cactus genesis add-node --file {0} …`, then `cactus genesis finalize --file {0}`",
                        out.display()
                    )
                },
            );
        }
        GenesisCommand::AddOrg {
            file,
            id,
            name,
            admin_key,
        } => {
            let mut draft = load(&file)?;
            let key = public(&admin_key, "--admin-key")?;
            draft.add_org(&id, &name, key).map_err(failure)?;
            draft.save(&file).map_err(failure)?;
            emit(
                ctx.json,
                &json!({ "path": file, "org": id, "admin_key": key }),
                || {
                    format!(
                        "added org {id} ({name}) with admin key {key} to {}",
                        file.display()
                    )
                },
            );
        }
        GenesisCommand::AddNode {
            file,
            id,
            org,
            node_key,
            p2p_addr,
            learner,
        } => {
            let mut draft = load(&file)?;
            let key = public(&node_key, "--node-key")?;
            draft
                .add_node(id, &org, key, &p2p_addr, learner)
                .map_err(failure)?;
            draft.save(&file).map_err(failure)?;
            emit(
                ctx.json,
                &json!({ "path": file, "node_id": id, "org": org, "node_key": key, "voter": !learner }),
                || {
                    format!(
                        "added node {id} ({}, org {org}, {p2p_addr}) to {}",
                        if learner { "learner" } else { "voter" },
                        file.display()
                    )
                },
            );
        }
        GenesisCommand::Finalize { file } => {
            let draft = load(&file)?;
            let (genesis, hash) = draft.finalize().map_err(failure)?;
            // Rewrite in the canonical layout (same content, same hash).
            let canonical = GenesisDraft {
                initial: genesis.initial.clone(),
            };
            canonical.save(&file).map_err(failure)?;
            let voters: Vec<u64> = genesis
                .initial
                .nodes
                .iter()
                .filter(|n| n.voter)
                .map(|n| n.node_id)
                .collect();
            emit(
                ctx.json,
                &json!({
                    "path": file, "chain_id": genesis.initial.chain_id, "genesis_hash": hash,
                    "orgs": genesis.initial.orgs.len(), "nodes": genesis.initial.nodes.len(), "voters": voters,
                }),
                || {
                    format!(
                        "{}genesis is valid: hash {hash}\ngive this very file to every node of the chain; \
                         auditors pin the hash",
                        summary(&canonical)
                    )
                },
            );
        }
        GenesisCommand::Show { file } => {
            let draft = load(&file)?;
            let verdict = draft.finalize();
            let (valid, hash, problem) = match &verdict {
                Ok((_, hash)) => (true, Some(*hash), None),
                Err(e) => (false, None, Some(e.to_string())),
            };
            emit(
                ctx.json,
                &json!({ "path": file, "genesis": draft.initial, "valid": valid, "genesis_hash": hash, "problem": problem }),
                || {
                    let status = match (&hash, &problem) {
                        (Some(h), _) => format!("valid; genesis hash {h}"),
                        (None, Some(p)) => format!("not valid (yet): {p}"),
                        _ => String::new(),
                    };
                    format!("{}{status}", summary(&draft))
                },
            );
        }
    }
    Ok(())
}
