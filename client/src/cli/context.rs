//! What every `cactus` command shares: the node it talks to, output mode, loading key
//! files with helpful errors, finding the chain's genesis (the trust anchor of proofs),
//! and submitting a signed tx with the rejection handling and exit code 3.

use super::output::{Failure, KeyInUse, emit, explain, rejection_hint, unverified};
use anyhow::{Context as _, Result};
use couponcactus_client::chaincode::ids::{MemberId, PublicKey};
use couponcactus_client::chaincode::memo::Memo;
use couponcactus_client::chaincode::tx::SignedTx;
use couponcactus_client::chaincode::types::Role;
use couponcactus_client::genesis::Genesis;
use couponcactus_client::keys::{self, MemberSecret};
use couponcactus_client::views::{TxStatus, TxView};
use couponcactus_client::{NodeClient, TrustAnchor};
use ed25519_dalek::SigningKey;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a submission is retried after a transport error, each time on every node the
/// client knows (the same signed tx: safe, a tx id executes at most once).
const SUBMIT_ATTEMPTS: u32 = 3;

/// The global options.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The first node's URL (commands that talk to one node only, e.g. `audit`).
    pub node_url: String,
    /// Every node given (`--node`, repeated or comma-separated): clients fail over from
    /// one to the next.
    pub nodes: Vec<String>,
    /// `--json`.
    pub json: bool,
    /// `--genesis`.
    pub genesis: Option<PathBuf>,
    /// `--memo`: carried by every tx the command signs.
    pub memo: Option<Memo>,
}

/// A key file, loaded.
#[derive(Clone, Debug)]
pub struct LoadedKey {
    /// Where it was read from.
    pub path: PathBuf,
    /// The signing key.
    pub key: SigningKey,
    /// Its public key.
    pub public: PublicKey,
}

impl LoadedKey {
    /// How hints name it.
    pub fn in_use(&self) -> KeyInUse {
        KeyInUse {
            path: self.path.display().to_string(),
            public: self.public.to_hex(),
        }
    }
}

/// Reads a key file, saying what to do when that fails.
pub fn load_key(path: &Path) -> Result<LoadedKey> {
    let key = keys::load_signing_key(path).map_err(|e| {
        let hint = if path.exists() {
            "a key file is the JSON `cactus keys generate` writes (public_key, secret_key)".to_string()
        } else {
            format!(
                "make one with `cactus keys generate --out {}` (and have an org admin register it), \
                 or use your org's key files (a local consortium has them in .localnet/orgs/<org>/keys/)",
                path.display()
            )
        };
        Failure::new("bad_key_file", format!("cannot use key file {}: {e}", path.display())).hint(hint)
    })?;
    Ok(LoadedKey {
        path: path.to_path_buf(),
        public: keys::public_key(&key),
        key,
    })
}

/// Reads an org's data key (`data.key`).
pub fn load_data_key(path: &Path) -> Result<[u8; 32]> {
    keys::load_data_key(path).map_err(|e| {
        Failure::new(
            "bad_key_file",
            format!("cannot use data key {}: {e}", path.display()),
        )
        .hint("the org's code-sealing key file, e.g. .localnet/orgs/acme/keys/data.key")
        .into()
    })
}

/// Member selection shared by commands: a hex id, or a name hashed with the org's secret.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct MemberArgs {
    /// The member's pseudonymous id (64 hex characters).
    #[arg(long, value_name = "HEX", conflicts_with = "member_name")]
    pub member: Option<MemberId>,
    /// The org's own customer id; with --member-secret, the member id is
    /// blake3::keyed_hash(secret, "couponcactus/member/v1\0" ‖ NAME).
    #[arg(long, value_name = "NAME", requires = "member_secret")]
    pub member_name: Option<String>,
    /// The org's member secret: a key file (`cactus keys generate`) or 64 hex characters.
    #[arg(long, value_name = "FILE", env = "CACTUS_MEMBER_SECRET")]
    pub member_secret: Option<PathBuf>,
}

impl MemberArgs {
    /// The member id, if one was given.
    pub fn resolve(&self) -> Result<Option<MemberId>> {
        match (&self.member, &self.member_name) {
            (Some(m), _) => Ok(Some(*m)),
            (None, Some(name)) => {
                let path = self
                    .member_secret
                    .as_ref()
                    .context("--member-name needs --member-secret FILE")?;
                Ok(Some(member_secret(path)?.member_id(name)))
            }
            (None, None) => Ok(None),
        }
    }

    /// The member id; an error naming the options when none was given.
    pub fn required(&self) -> Result<MemberId> {
        self.resolve()?.ok_or_else(|| {
            Failure::new(
                "invalid_input",
                "which member? pass --member HEX, or --member-name NAME --member-secret FILE",
            )
            .into()
        })
    }
}

/// Reads the org's member secret.
pub fn member_secret(path: &Path) -> Result<MemberSecret> {
    MemberSecret::load(path).map_err(|e| {
        Failure::new("bad_key_file", e.to_string())
            .hint("make one with `cactus keys generate --out member-secret.key` and keep it with the org")
            .into()
    })
}

/// Parses a member given as hex, or as a name when a secret is at hand.
pub fn member_from(text: &str, secret: Option<&Path>) -> Result<MemberId> {
    if let Ok(id) = text.parse::<MemberId>() {
        return Ok(id);
    }
    match secret {
        Some(path) => Ok(member_secret(path)?.member_id(text)),
        None => Err(Failure::new(
            "invalid_input",
            format!("{text:?} is not a member id (64 hex characters)"),
        )
        .hint("to use your org's customer id instead, pass --member-secret FILE too")
        .into()),
    }
}

impl Ctx {
    /// A client of the nodes (failing over from one to the next), on the chain the first
    /// node that answers reports; its txs carry `--memo`.
    pub async fn connect(&self) -> Result<NodeClient> {
        NodeClient::connect_any(&self.nodes)
            .await
            .map(|client| client.with_memo(self.memo.clone()))
            .map_err(|e| explain(e, None).into())
    }

    /// A client that signs reads with `key`.
    pub async fn connect_as(&self, key: &LoadedKey) -> Result<NodeClient> {
        Ok(self.connect().await?.with_reader(key.key.clone()))
    }

    /// The genesis file to trust: `--genesis`, else a `genesis.toml` next to or above one of
    /// `near` (key files of a local consortium live in `.localnet/orgs/<org>/keys/`), else
    /// `.localnet/genesis.toml` or `.cactus-dev/genesis.toml` under the working directory.
    pub fn genesis_path(&self, near: &[&Path]) -> Option<PathBuf> {
        if let Some(path) = &self.genesis {
            return Some(path.clone());
        }
        for start in near {
            let absolute = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
            for dir in absolute.ancestors().skip(1).take(5) {
                let candidate = dir.join("genesis.toml");
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
        [".localnet/genesis.toml", ".cactus-dev/genesis.toml"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    }

    /// The genesis, if one is found (`None` without error when none is).
    pub fn find_genesis(&self, near: &[&Path]) -> Result<Option<(Genesis, PathBuf)>> {
        match self.genesis_path(near) {
            Some(path) => {
                let genesis = Genesis::load(&path).map_err(|e| {
                    Failure::new(
                        "bad_genesis",
                        format!("cannot use genesis file {}: {e}", path.display()),
                    )
                })?;
                Ok(Some((genesis, path)))
            }
            None => Ok(None),
        }
    }

    /// The trust anchor for proofs: the genesis file, checked against the node's status.
    pub async fn anchor(
        &self,
        client: &NodeClient,
        near: &[&Path],
    ) -> Result<(TrustAnchor, PathBuf)> {
        let (genesis, path) = self.find_genesis(near)?.ok_or_else(|| {
            Failure::new(
                "no_genesis",
                "cannot check the node's proof without the chain's genesis file",
            )
            .hint(
                "pass --genesis FILE (or set CACTUS_GENESIS): the genesis.toml every node of the \
                 chain has; a local consortium's is .localnet/genesis.toml",
            )
        })?;
        let anchor = TrustAnchor::from_genesis(&genesis);
        let status = client.status().await.map_err(|e| explain(e, None))?;
        anchor
            .check_status(&status)
            .map_err(|e| unverified(&format!("genesis {}", path.display()), e))?;
        Ok((anchor, path))
    }

    /// Submits a signed tx and waits for its block. Applied: returns its view. Rejected by
    /// the chain: prints the rejection (with `--json`, `{"tx": view, "error": …}`) and
    /// fails with exit code 3. Refused by the node: fails with what to do.
    pub async fn submit(
        &self,
        client: &NodeClient,
        tx: &SignedTx,
        signer: &LoadedKey,
    ) -> Result<TxView> {
        let mut attempt = 0;
        let view = loop {
            attempt += 1;
            match client.submit(tx).await {
                Ok(view) => break view,
                // Resubmitting the same signed tx is safe: the node answers with the original
                // result, never executes twice. The client already tried every node once.
                Err(couponcactus_client::NodeClientError::Transport { .. })
                    if attempt < SUBMIT_ATTEMPTS =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(explain(e, Some(&signer.in_use())).into()),
            }
        };
        match view.status {
            TxStatus::Applied => Ok(view),
            TxStatus::Rejected => {
                let role = signer_role(client, signer).await;
                Err(self
                    .rejected_as(&view, tx.body.kind.name(), role.as_ref())
                    .into())
            }
            TxStatus::Pending | TxStatus::Refused => Err(Failure::new(
                "pending",
                format!("tx {} is not committed yet", view.tx_id),
            )
            .hint(format!(
                "look it up later with `cactus tx {} --key {}`",
                view.tx_id,
                signer.path.display()
            ))
            .into()),
        }
    }

    /// Prints a committed rejection of a tx of `kind` ([`TxKind::name`]) signed by a key
    /// of `role` and returns its failure (exit 3) with a hint that fits both.
    ///
    /// [`TxKind::name`]: couponcactus_client::chaincode::tx::TxKind::name
    pub fn rejected_as(&self, view: &TxView, kind: &str, role: Option<&Role>) -> Failure {
        let (code, message) = match (&view.error, view.rejection()) {
            (Some(e), _) => (e.code.clone(), e.message.clone()),
            (None, Some(r)) => (r.reason.code().to_string(), r.message.clone()),
            (None, None) => ("rejected".to_string(), "rejected".to_string()),
        };
        emit(
            self.json,
            &json!({ "tx": view, "error": { "code": code, "message": message } }),
            String::new,
        );
        let place = match view.height {
            Some(h) => format!(" (tx {} in block {h})", view.tx_id),
            None => format!(" (tx {})", view.tx_id),
        };
        let mut failure = Failure::rejected(
            &code,
            format!("REJECTED by the chain: {code}: {message}{place}"),
        );
        failure.hint = rejection_hint(&code, kind, role);
        failure
    }
}

/// The signer's role from the key registry (public `GET /v1/keys/{key}`), for hints only;
/// `None` when the node does not say (the chain decided already: nothing depends on it).
pub async fn signer_role(client: &NodeClient, signer: &LoadedKey) -> Option<Role> {
    client
        .key(&signer.public, None)
        .await
        .ok()
        .map(|view| view.record.role)
}

/// `s` as a short id for tables: the first 16 hex characters.
pub fn short(hex: &str) -> String {
    if hex.len() > 16 {
        format!("{}…", &hex[..16])
    } else {
        hex.to_string()
    }
}
