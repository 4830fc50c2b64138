//! `cactus keys …`: key files on disk (generate, show, list) and keys on the chain
//! (register, revoke — org admins only).

use super::context::{Ctx, load_key};
use super::output::{Failure, emit};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use couponcactus_client::chaincode::execute::Event;
use couponcactus_client::chaincode::ids::{Channel, StoreId};
use couponcactus_client::chaincode::types::Role;
use couponcactus_client::genesis::KeyFile;
use couponcactus_client::keys::{self, file_mode};
use serde_json::json;
use std::path::{Path, PathBuf};

/// `cactus keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new ed25519 key file (mode 0600; never overwrites). Also makes data keys
    /// and member secrets: any key file's secret is 32 random bytes.
    Generate {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a key file's public key (hex).
    Show {
        /// The key file.
        file: PathBuf,
    },
    /// List the key files under a folder with their public keys.
    List {
        /// The folder (searched three levels deep), e.g. .localnet/orgs.
        dir: PathBuf,
    },
    /// Register a key on the chain with a role (signed by an org admin of its org).
    Register(RegisterArgs),
    /// Revoke a key of your org for good (signed by an org admin).
    Revoke {
        /// The org admin's key file.
        #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
        key: PathBuf,
        /// The key to revoke: 64 hex characters (or the first 8 or more), or its key file.
        #[arg(long, value_name = "PUB|FILE")]
        public: String,
    },
}

/// A role on the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Manages the org's keys and pools.
    OrgAdmin,
    /// Creates pools, issues codes, allocates, revokes and transfers tokens.
    Issuer,
    /// A point-of-sale terminal at one store and channel (--store, --channel).
    Terminal,
    /// A consortium auditor: not registered here but by governance (`cactus governance
    /// propose add-auditor`); asking for it explains how.
    Auditor,
    /// A partner brand's reader key.
    Partner,
    /// The org's fraud engine: places holds pending an org admin's review, nothing else.
    Risk,
}

/// `cactus keys register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The org admin's key file (the new key joins this admin's org).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The key to register: 64 hex characters or its key file.
    #[arg(long, value_name = "PUB|FILE")]
    public: String,
    /// What it may do.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Terminals: the store it stands in.
    #[arg(long, required_if_eq("role", "terminal"))]
    store: Option<StoreId>,
    /// Terminals: the channel it sells through.
    #[arg(long, required_if_eq("role", "terminal"))]
    channel: Option<Channel>,
}

fn role_of(args: &RegisterArgs) -> Result<Role> {
    let not_terminal = || {
        Failure::new(
            "invalid_input",
            "--store and --channel are for --role terminal only",
        )
        .into()
    };
    Ok(match args.role {
        RoleArg::Terminal => Role::Terminal {
            store: args
                .store
                .clone()
                .expect("clap requires --store for terminals"),
            channel: args
                .channel
                .clone()
                .expect("clap requires --channel for terminals"),
        },
        _ if args.store.is_some() || args.channel.is_some() => return Err(not_terminal()),
        RoleArg::OrgAdmin => Role::OrgAdmin,
        RoleArg::Issuer => Role::Issuer,
        RoleArg::Auditor => {
            return Err(Failure::new(
                "not_authorized",
                "a consortium auditor reads every org's data, so no org admin registers one \
                 alone: it needs the approval of more than half of the orgs",
            )
            .hint(
                "propose it: `cactus governance propose add-auditor --org ORG --auditor-key \
                 FILE|HEX --key ADMIN_KEYFILE`, then admins of other orgs run `cactus \
                 governance approve PROPOSAL_ID --key THEIR_ADMIN_KEYFILE`",
            )
            .into());
        }
        RoleArg::Partner => Role::Partner,
        RoleArg::Risk => Role::Risk,
    })
}

fn describe(role: &Role) -> String {
    match role {
        Role::Terminal { store, channel } => format!("terminal (store {store}, channel {channel})"),
        other => other.name().replace('_', " "),
    }
}

fn parse_public(text: &str) -> Result<couponcactus_client::chaincode::ids::PublicKey> {
    keys::parse_public_key(text).map_err(|e| {
        Failure::new("invalid_input", e.to_string())
            .hint("give the key as 64 hex characters (`cactus keys show FILE`) or as its key file")
            .into()
    })
}

/// Runs a `cactus keys` subcommand.
pub async fn run(ctx: &Ctx, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Generate { out } => {
            let key = KeyFile::generate();
            key.save(&out).map_err(|e| {
                let hint = if out.exists() {
                    "key files are never overwritten: choose another --out"
                } else {
                    "check that the folder exists and is writable"
                };
                Failure::new("io", e.to_string()).hint(hint)
            })?;
            emit(
                ctx.json,
                &json!({ "path": out, "public_key": key.public_key() }),
                || {
                    format!(
                        "wrote {} (mode 0600; keep it secret)\npublic key {}",
                        out.display(),
                        key.public_key()
                    )
                },
            );
        }
        KeysCommand::Show { file } => {
            let key = load_key(&file)?;
            emit(
                ctx.json,
                &json!({ "path": file, "public_key": key.public, "mode": file_mode(&file).map(|m| format!("{m:o}")) }),
                || key.public.to_hex(),
            );
        }
        KeysCommand::List { dir } => list(ctx, &dir)?,
        KeysCommand::Register(args) => {
            let admin = load_key(&args.key)?;
            let public = parse_public(&args.public)?;
            let role = role_of(&args)?;
            let client = ctx.connect().await?;
            let tx = client
                .tx_builder()
                .register_key(&admin.key, public, role.clone());
            let view = ctx.submit(&client, &tx, &admin).await?;
            let org = view
                .events()
                .unwrap_or_default()
                .iter()
                .find_map(|e| match e {
                    Event::KeyRegistered { org, .. } => Some(org.clone()),
                    _ => None,
                });
            emit(
                ctx.json,
                &json!({ "tx": view, "key": public, "role": role, "org": org }),
                || {
                    format!(
                        "registered {public} as {} of org {} (tx {} in block {})",
                        describe(&role),
                        org.map(|o| o.to_string()).unwrap_or_else(|| "?".into()),
                        view.tx_id,
                        view.height.unwrap_or(0)
                    )
                },
            );
        }
        KeysCommand::Revoke { key, public } => {
            let admin = load_key(&key)?;
            // Signed reads: a prefix finds the admin's own org's keys (other orgs' key
            // records are not shown to it).
            let client = ctx.connect_as(&admin).await?;
            let public = match parse_public(&public) {
                Ok(full) => full,
                // Not a key file nor a full key: a prefix of a registered key, like git.
                Err(_) if !std::path::Path::new(&public).exists() => {
                    super::reads::resolve_key_arg(&client, &public).await?
                }
                Err(e) => return Err(e),
            };
            let tx = client.tx_builder().revoke_key(&admin.key, public);
            let view = ctx.submit(&client, &tx, &admin).await?;
            emit(ctx.json, &json!({ "tx": view, "key": public }), || {
                format!(
                    "revoked {public} for good (tx {} in block {})",
                    view.tx_id,
                    view.height.unwrap_or(0)
                )
            });
        }
    }
    Ok(())
}

fn key_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() && depth > 0 {
            key_files(&path, depth - 1, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "key") {
            out.push(path);
        }
    }
    Ok(())
}

fn list(ctx: &Ctx, dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    key_files(dir, 3, &mut files)
        .map_err(|e| Failure::new("io", format!("cannot list {}: {e}", dir.display())))?;
    let rows: Vec<serde_json::Value> = files
        .iter()
        .map(|path| {
            let mode = file_mode(path);
            match keys::load_key_file(path) {
                Ok(k) => json!({ "path": path, "public_key": k.public_key(), "mode": mode.map(|m| format!("{m:o}")) }),
                Err(e) => json!({ "path": path, "public_key": null, "error": e.to_string(), "mode": mode.map(|m| format!("{m:o}")) }),
            }
        })
        .collect();
    emit(ctx.json, &json!({ "dir": dir, "keys": rows }), || {
        if rows.is_empty() {
            return format!("no key files (*.key) under {}", dir.display());
        }
        let mut text = String::new();
        for (path, row) in files.iter().zip(&rows) {
            let shown = path.strip_prefix(dir).unwrap_or(path).display().to_string();
            let public = row["public_key"].as_str().unwrap_or("(not a key file)");
            let warn = match file_mode(path) {
                Some(m) if m & 0o077 != 0 => {
                    format!("  WARNING: mode {m:o}, others can read it (chmod 600)")
                }
                _ => String::new(),
            };
            text.push_str(&format!("{shown:<40} {public}{warn}\n"));
        }
        text
    });
    Ok(())
}
