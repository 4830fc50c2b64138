//! `cactus governance …`: what an org admin runs to change the consortium itself: admit a
//! node or an org, remove a node, register a consortium auditor, change the chain
//! parameters, approve a proposal, and read where proposals stand.
//!
//! A change is proposed by an org admin (`ProposeGovernance`, which counts as that org's
//! approval) and takes effect in the block where admins of more than half of the orgs have
//! approved it (`ApproveGovernance`, one per org). A proposal is named by the id of the tx
//! that proposed it, and can be approved until `proposal_ttl_ms` after its block.
//!
//! The node serves no proposal or parameter reads, so `show`, `list` and the base of
//! `propose params` replay the history log (`GET /v1/log/entries`: governance txs with
//! their results are public, other orgs' entries come as leaf hashes) from genesis, the way [`couponcactus_client::verify`] rebuilds the consortium,
//! up to a block certified by a quorum of the voters; the entries must hash to that
//! block's log root, so nothing of it is taken on the node's word.

use super::context::{Ctx, LoadedKey, load_key, short};
use super::output::{EXIT_UNVERIFIED, Failure, emit, explain, format_time_ms, unverified};
use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand};
use couponcactus_client::NodeClient;
use couponcactus_client::ProofVerifier;
use couponcactus_client::chaincode::execute::{Event, TxOutcome, validate_params};
use couponcactus_client::chaincode::history::HistoryLog;
use couponcactus_client::chaincode::ids::{OrgId, PublicKey, TxId};
use couponcactus_client::chaincode::tx::TxKind;
use couponcactus_client::chaincode::types::{ChainParams, GovernanceChange, NodeRecord};
use couponcactus_client::genesis::Genesis;
use couponcactus_client::keys;
use couponcactus_client::tx_builder::now_ms;
use couponcactus_client::verify::ConsortiumSource;
use couponcactus_client::views::{LogEntry, PageEntry, TxView};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `cactus governance` subcommands.
#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// Propose a consortium change (signed by an org admin; counts as its org's approval).
    #[command(subcommand)]
    Propose(ProposeCommand),
    /// Approve a proposal as an admin of another org; the change takes effect with the
    /// approval that reaches more than half of the orgs.
    Approve {
        /// The proposal: the id of the tx that proposed it (or its first 8 or more hex
        /// digits).
        #[arg(value_name = "PROPOSAL_ID")]
        proposal: String,
        #[command(flatten)]
        admin: AdminKey,
    },
    /// Show a proposal: the change, who approved, and whether it took effect or expired
    /// (replayed from the certified history log; needs the chain's genesis file).
    Show {
        /// The proposal: the id of the tx that proposed it (or its first 8 or more hex
        /// digits).
        #[arg(value_name = "PROPOSAL_ID")]
        proposal: String,
    },
    /// List the chain's proposals, newest last (replayed from the certified history log;
    /// needs the chain's genesis file).
    List {
        /// Only proposals still waiting for approvals.
        #[arg(long)]
        open: bool,
    },
}

/// The org admin who signs.
#[derive(Debug, Args)]
pub struct AdminKey {
    /// Your org-admin key file.
    #[arg(long, value_name = "ADMIN_KEYFILE", env = "CACTUS_KEY")]
    key: PathBuf,
}

/// `cactus governance propose` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProposeCommand {
    /// Admit a consensus node. Start it first (the chain's genesis file, its own node_id
    /// and node key): it waits, refused by the others, until the change takes effect.
    AddNode {
        #[command(flatten)]
        admin: AdminKey,
        /// Its Raft id (never used before on this chain).
        #[arg(long)]
        id: u64,
        /// The org that runs it.
        #[arg(long)]
        org: OrgId,
        /// Its node key (signs checkpoints; its libp2p identity): a key file or 64 hex.
        #[arg(long, value_name = "FILE|HEX")]
        node_key: String,
        /// Where peers dial it, e.g. /ip4/10.0.0.5/tcp/7201 or /dns4/node-d/tcp/7201.
        #[arg(long, value_name = "MULTIADDR")]
        p2p_addr: String,
        /// Admit it as a learner: it follows the chain but does not vote or certify.
        #[arg(long)]
        learner: bool,
    },
    /// Remove a consensus node (its id is never reused).
    RemoveNode {
        #[command(flatten)]
        admin: AdminKey,
        /// Its Raft id.
        #[arg(long)]
        id: u64,
    },
    /// Admit an org with its first org-admin key.
    AddOrg {
        #[command(flatten)]
        admin: AdminKey,
        /// The new org's id (a slug, e.g. initech).
        #[arg(long)]
        id: OrgId,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// Its first org-admin key: a key file or 64 hex characters.
        #[arg(long, value_name = "FILE|HEX")]
        admin_key: String,
    },
    /// Register a consortium auditor: a key that reads every org's txs and state. Only a
    /// quorum of the orgs grants that right; an org admin alone registers org-scoped keys.
    AddAuditor {
        #[command(flatten)]
        admin: AdminKey,
        /// The org that answers for the auditor (it may revoke the key alone).
        #[arg(long)]
        org: OrgId,
        /// The auditor's public key: a key file or 64 hex characters.
        #[arg(long, value_name = "FILE|HEX")]
        auditor_key: String,
    },
    /// Change chain parameters; the ones not given keep their current values (replayed
    /// from the certified history log; needs the chain's genesis file).
    #[command(group(
        ArgGroup::new("change")
            .required(true)
            .multiple(true)
            .args(["max_batch_codes", "max_tx_validity_ms", "proposal_ttl_ms", "max_sealed_code_bytes"])
    ))]
    Params {
        #[command(flatten)]
        admin: AdminKey,
        /// Most codes in one issue batch (1 to 100,000).
        #[arg(long, value_name = "N")]
        max_batch_codes: Option<u32>,
        /// Longest validity of a tx, ms (1 s to 30 days).
        #[arg(long, value_name = "MS")]
        max_tx_validity_ms: Option<u64>,
        /// How long a proposal can be approved, ms (at least 60 s).
        #[arg(long, value_name = "MS")]
        proposal_ttl_ms: Option<u64>,
        /// Largest sealed code, bytes (29 to 4,096).
        #[arg(long, value_name = "N")]
        max_sealed_code_bytes: Option<u32>,
    },
}

/// Runs a `cactus governance` subcommand.
pub async fn run(ctx: &Ctx, command: GovernanceCommand) -> Result<()> {
    match command {
        GovernanceCommand::Propose(p) => propose(ctx, p).await,
        GovernanceCommand::Approve { proposal, admin } => {
            let proposal = super::reads::resolve_tx_arg(&ctx.connect().await?, &proposal).await?;
            approve(ctx, proposal, &admin.key).await
        }
        GovernanceCommand::Show { proposal } => {
            let proposal = super::reads::resolve_tx_arg(&ctx.connect().await?, &proposal).await?;
            show(ctx, proposal).await
        }
        GovernanceCommand::List { open } => list(ctx, open).await,
    }
}

// ---- proposing and approving ----------------------------------------------------------------

async fn propose(ctx: &Ctx, command: ProposeCommand) -> Result<()> {
    let admin = match &command {
        ProposeCommand::AddNode { admin, .. }
        | ProposeCommand::RemoveNode { admin, .. }
        | ProposeCommand::AddOrg { admin, .. }
        | ProposeCommand::AddAuditor { admin, .. }
        | ProposeCommand::Params { admin, .. } => load_key(&admin.key)?,
    };
    let client = ctx.connect().await?;
    let mut base = None;
    let change = match &command {
        ProposeCommand::AddNode {
            id,
            org,
            node_key,
            p2p_addr,
            learner,
            ..
        } => GovernanceChange::AddNode {
            node: NodeRecord {
                node_id: node_id(*id)?,
                org: org.clone(),
                node_key: public(node_key, "--node-key")?,
                p2p_addr: multiaddr(p2p_addr)?,
                voter: !learner,
            },
        },
        ProposeCommand::RemoveNode { id, .. } => GovernanceChange::RemoveNode {
            node_id: node_id(*id)?,
        },
        ProposeCommand::AddOrg {
            id,
            name,
            admin_key,
            ..
        } => {
            if name.trim().is_empty() {
                return Err(Failure::new("invalid_input", "--name must not be empty").into());
            }
            GovernanceChange::AddOrg {
                org: id.clone(),
                name: name.trim().to_string(),
                admin_key: public(admin_key, "--admin-key")?,
            }
        }
        ProposeCommand::AddAuditor {
            org, auditor_key, ..
        } => GovernanceChange::AddAuditor {
            org: org.clone(),
            key: public(auditor_key, "--auditor-key")?,
        },
        ProposeCommand::Params {
            max_batch_codes,
            max_tx_validity_ms,
            proposal_ttl_ms,
            max_sealed_code_bytes,
            ..
        } => {
            let chain = replay(ctx, &client, &[&admin.path]).await?;
            let current = chain.params.clone();
            let params = ChainParams {
                max_batch_codes: max_batch_codes.unwrap_or(current.max_batch_codes),
                max_tx_validity_ms: max_tx_validity_ms.unwrap_or(current.max_tx_validity_ms),
                proposal_ttl_ms: proposal_ttl_ms.unwrap_or(current.proposal_ttl_ms),
                max_sealed_code_bytes: max_sealed_code_bytes
                    .unwrap_or(current.max_sealed_code_bytes),
            };
            validate_params(&params).map_err(|r| {
                Failure::new(
                    "invalid_input",
                    format!("invalid chain params: {}", r.message),
                )
            })?;
            if params == current {
                return Err(Failure::new(
                    "invalid_input",
                    format!(
                        "the chain params are already {} (as of block {})",
                        params_text(&params),
                        chain.certified_height
                    ),
                )
                .into());
            }
            base = Some((current, chain.certified_height));
            GovernanceChange::UpdateParams { params }
        }
    };
    let tx = client
        .tx_builder()
        .propose_governance(&admin.key, change.clone());
    let view = submit(ctx, &client, &tx, &admin, Some(&change), None).await?;
    let proposal = view.tx_id;
    let (approvals, needed) = view
        .events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            Event::ProposalOpened {
                approvals, needed, ..
            } => Some((*approvals, *needed)),
            _ => None,
        })
        .unwrap_or((1, 1));
    let executed = applied_change(&view).is_some();
    let orgs = org_count(&client).await;
    let proposer_org = signer_org(ctx, &admin);
    let next = if executed {
        effect(&change, &client).await
    } else {
        pending_next(&proposal, needed, approvals)
    };
    let base_json = base.as_ref().map(|(params, height)| {
        json!({ "params": params, "as_of_height": height, "source": "certified history log" })
    });
    emit(
        ctx.json,
        &json!({
            "proposal": proposal,
            "tx": view,
            "change": change,
            "proposer_org": proposer_org,
            "approvals": approvals,
            "needed": needed,
            "orgs": orgs,
            "executed_at": executed.then_some(view.height).flatten(),
            "base": base_json,
            "next": next,
        }),
        || {
            let mut text = format!(
                "proposed: {}\nproposal {proposal} (tx in block {})\n",
                describe(&change, base.as_ref().map(|(p, _)| p)),
                view.height.unwrap_or(0)
            );
            if let Some((_, height)) = &base {
                text.push_str(&format!(
                    "  (unchanged params keep their values as of certified block {height})\n"
                ));
            }
            if executed {
                text.push_str(&format!(
                    "executed at block {}: {next}\n",
                    view.height.unwrap_or(0)
                ));
            } else {
                text.push_str(&format!(
                    "proposal {} needs {needed} of {} orgs; approvals: {}\n{next}\n",
                    short(&proposal.to_hex()),
                    orgs.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
                    proposer_org.as_deref().unwrap_or("your org"),
                ));
            }
            text
        },
    );
    Ok(())
}

async fn approve(ctx: &Ctx, proposal: TxId, key: &Path) -> Result<()> {
    let admin = load_key(key)?;
    let client = ctx.connect().await?;
    let tx = client.tx_builder().approve_governance(&admin.key, proposal);
    let view = submit(ctx, &client, &tx, &admin, None, Some(&proposal)).await?;
    let (approvals, needed) = view
        .events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            Event::ProposalApproved {
                approvals, needed, ..
            } => Some((*approvals, *needed)),
            _ => None,
        })
        .unwrap_or((0, 0));
    let change = applied_change(&view).cloned();
    let org = signer_org(ctx, &admin);
    let orgs = org_count(&client).await;
    let next = match &change {
        Some(change) => effect(change, &client).await,
        None => pending_next(&proposal, needed, approvals),
    };
    emit(
        ctx.json,
        &json!({
            "proposal": proposal,
            "tx": view,
            "approved_by": org,
            "approvals": approvals,
            "needed": needed,
            "orgs": orgs,
            "executed_at": change.as_ref().and(view.height),
            "change": change,
            "next": next,
        }),
        || {
            let by = org.as_deref().unwrap_or("your org");
            let mut text = format!(
                "approved proposal {proposal} for {by} (tx in block {}); approvals: {approvals} of \
                 {needed} needed\n",
                view.height.unwrap_or(0)
            );
            match &change {
                Some(_) => text.push_str(&format!(
                    "executed at block {}: {next}\n",
                    view.height.unwrap_or(0)
                )),
                None => text.push_str(&format!("{next}\n")),
            }
            text
        },
    );
    Ok(())
}

/// Submits a governance tx; a rejection (exit 3) gets a hint about governance.
async fn submit(
    ctx: &Ctx,
    client: &NodeClient,
    tx: &couponcactus_client::chaincode::tx::SignedTx,
    signer: &LoadedKey,
    change: Option<&GovernanceChange>,
    proposal: Option<&TxId>,
) -> Result<TxView> {
    match ctx.submit(client, tx, signer).await {
        Ok(view) => Ok(view),
        Err(e) => match e.downcast::<Failure>() {
            Ok(mut failure) => {
                if let Some(hint) = rejection_hint(&failure.code, change, proposal) {
                    failure.hint = Some(hint);
                }
                Err(failure.into())
            }
            Err(e) => Err(e),
        },
    }
}

fn rejection_hint(
    code: &str,
    change: Option<&GovernanceChange>,
    proposal: Option<&TxId>,
) -> Option<String> {
    let show = proposal
        .map(|p| format!("`cactus governance show {p}`"))
        .unwrap_or_else(|| "`cactus governance list`".into());
    Some(match code {
        "not_authorized" => "only org admins propose and approve governance changes: sign with \
             your org's org-admin key (a local consortium's is .localnet/orgs/<org>/keys/org-admin.key)"
            .into(),
        "already_approved" => format!(
            "your org approved this proposal already; it needs admins of other orgs (see who \
             approved with {show})"
        ),
        "invalid_transition" if proposal.is_some() => {
            format!("the proposal took effect already: see {show}")
        }
        "invalid_transition" => "the change cannot be made in this state (e.g. the last voter \
             cannot be removed)"
            .into(),
        "expired" => {
            "the proposal's time to be approved ran out: propose the change again".into()
        }
        "not_found" if proposal.is_some() => format!(
            "no such proposal: a proposal is named by the id of the tx that proposed it (see {show})"
        ),
        "not_found" => match change {
            Some(GovernanceChange::AddNode { node }) => format!(
                "org {} is not a member of the consortium: admit it first with `cactus governance propose add-org`",
                node.org
            ),
            _ => "not a member of the consortium: check the id with `cactus status` (voters, \
                  learners) or `cactus governance list`"
                .into(),
        },
        "already_exists" => "that id or key is (or was) in use, and ids are never reused: pick \
             another (removed node ids stay retired)"
            .into(),
        _ => return None,
    })
}

/// The change a tx's events say took effect, if any.
fn applied_change(view: &TxView) -> Option<&GovernanceChange> {
    view.events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            Event::GovernanceApplied { change, .. } => Some(change),
            _ => None,
        })
}

/// What to do next about a proposal that still needs approvals.
fn pending_next(proposal: &TxId, needed: u32, approvals: u32) -> String {
    let missing = needed.saturating_sub(approvals);
    format!(
        "Next: {} of another org runs `cactus governance approve {proposal} --key ADMIN_KEYFILE` \
         ({missing} more approval{} needed; review it first with `cactus governance show {proposal}`)",
        if missing > 1 {
            "an admin of each"
        } else {
            "an admin"
        },
        if missing == 1 { "" } else { "s" }
    )
}

/// What happens after a change took effect, and how to watch it.
async fn effect(change: &GovernanceChange, client: &NodeClient) -> String {
    match change {
        GovernanceChange::AddNode { node } if node.voter => format!(
            "node {} added; the leader adds it to Raft as a learner, streams it a snapshot or \
             the log, then promotes it to voter once caught up (watch `cactus status` \
             voters/learners; node {} must be running with the chain's genesis file and its key)",
            node.node_id, node.node_id
        ),
        GovernanceChange::AddNode { node } => format!(
            "node {} added as a learner; the leader adds it to Raft as a learner and streams it \
             the chain; it follows without voting (watch `cactus status` learners)",
            node.node_id
        ),
        GovernanceChange::RemoveNode { node_id } => format!(
            "node {node_id} removed; the leader takes it out of Raft (a removed leader hands \
             leadership over first) and the others disconnect it; once `cactus status` no longer \
             lists it in voters/learners, stop its cactusd (its id is never reused)"
        ),
        GovernanceChange::AddOrg { org, .. } => {
            let quorum = match org_count(client).await {
                Some(n) => format!("; changes now need {} of {n} orgs", n / 2 + 1),
                None => String::new(),
            };
            format!(
                "org {org} joined{quorum}; its admin registers the org's other keys with \
                 `cactus keys register --key ITS_ADMIN_KEYFILE …`"
            )
        }
        GovernanceChange::UpdateParams { params } => format!(
            "chain params are now {}; they apply from the next block",
            params_text(params)
        ),
        GovernanceChange::AddAuditor { org, key } => format!(
            "key {key} is a consortium auditor of {org}: it reads every org's txs and state \
             (`cactus audit verify --key …`); {org}'s admin can revoke it alone"
        ),
    }
}

/// The number of member orgs, from the node (none if it does not answer).
async fn org_count(client: &NodeClient) -> Option<usize> {
    client
        .consortium(None)
        .await
        .ok()
        .map(|c| c.consortium.orgs.len())
}

/// The signer's org, when the genesis file names its key as a founding admin.
fn signer_org(ctx: &Ctx, key: &LoadedKey) -> Option<String> {
    let (genesis, _) = ctx.find_genesis(&[&key.path]).ok().flatten()?;
    genesis
        .initial
        .orgs
        .iter()
        .find(|o| o.admin_keys.contains(&key.public))
        .map(|o| o.id.to_string())
}

fn node_id(id: u64) -> Result<u64> {
    if id == 0 {
        return Err(Failure::new(
            "invalid_input",
            "--id 0 is reserved by Raft; ids start at 1",
        )
        .into());
    }
    Ok(id)
}

fn public(text: &str, what: &str) -> Result<PublicKey> {
    keys::parse_public_key(text).map_err(|e| {
        Failure::new("invalid_input", format!("{what}: {e}"))
            .hint("give a key file, or 64 hex characters (`cactus keys show FILE`)")
            .into()
    })
}

/// A libp2p TCP multiaddr, checked the way `cactus genesis add-node` checks one.
fn multiaddr(text: &str) -> Result<String> {
    let addr = text.trim();
    let ip_or_dns =
        addr.starts_with("/ip4/") || addr.starts_with("/ip6/") || addr.starts_with("/dns");
    if !ip_or_dns || !addr.contains("/tcp/") {
        return Err(Failure::new(
            "invalid_input",
            format!(
                "--p2p-addr {text:?} is not a libp2p TCP multiaddr such as /ip4/10.0.0.5/tcp/7201 \
                 or /dns4/node-d/tcp/7201"
            ),
        )
        .hint("the p2p_addr of the new node's cactusd.toml, as the other nodes can reach it")
        .into());
    }
    Ok(addr.to_string())
}

// ---- describing -------------------------------------------------------------------------------

fn params_text(p: &ChainParams) -> String {
    format!(
        "max_batch_codes={} max_tx_validity_ms={} proposal_ttl_ms={} max_sealed_code_bytes={}",
        p.max_batch_codes, p.max_tx_validity_ms, p.proposal_ttl_ms, p.max_sealed_code_bytes
    )
}

/// A change in words; parameter changes as `old → new` when the old ones are known.
fn describe(change: &GovernanceChange, before: Option<&ChainParams>) -> String {
    match change {
        GovernanceChange::AddNode { node } => format!(
            "add node {} of org {} as a {} (node key {}, p2p {})",
            node.node_id,
            node.org,
            if node.voter { "voter" } else { "learner" },
            node.node_key,
            node.p2p_addr
        ),
        GovernanceChange::RemoveNode { node_id } => format!("remove node {node_id}"),
        GovernanceChange::AddOrg {
            org,
            name,
            admin_key,
        } => format!("add org {org} ({name}) with org-admin key {admin_key}"),
        GovernanceChange::AddAuditor { org, key } => {
            format!("add consortium auditor key {key} for org {org} (reads every org's data)")
        }
        GovernanceChange::UpdateParams { params } => match before {
            None => format!("set chain params {}", params_text(params)),
            Some(old) => {
                let mut parts = Vec::new();
                let mut field = |name: &str, old: u64, new: u64| {
                    if old != new {
                        parts.push(format!("{name} {old} → {new}"));
                    }
                };
                field(
                    "max_batch_codes",
                    old.max_batch_codes.into(),
                    params.max_batch_codes.into(),
                );
                field(
                    "max_tx_validity_ms",
                    old.max_tx_validity_ms,
                    params.max_tx_validity_ms,
                );
                field(
                    "proposal_ttl_ms",
                    old.proposal_ttl_ms,
                    params.proposal_ttl_ms,
                );
                field(
                    "max_sealed_code_bytes",
                    old.max_sealed_code_bytes.into(),
                    params.max_sealed_code_bytes.into(),
                );
                if parts.is_empty() {
                    format!("set chain params {} (no change)", params_text(params))
                } else {
                    format!("change chain params: {}", parts.join(", "))
                }
            }
        },
    }
}

fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if s >= 86_400 && s.is_multiple_of(86_400) => format!("{} days", s / 86_400),
        _ if s >= 3_600 && s.is_multiple_of(3_600) => format!("{} h", s / 3_600),
        _ if s >= 60 && s.is_multiple_of(60) => format!("{} min", s / 60),
        _ => format!("{s} s"),
    }
}

// ---- reading proposals from the history log -----------------------------------------------

/// One approval of a proposal (the proposer's counts as the first).
#[derive(Clone, Debug, Serialize)]
struct Approval {
    /// The approving org (`None` if its key is unknown, which the chain never allows).
    org: Option<OrgId>,
    /// The admin key that signed.
    key: PublicKey,
    /// The block it is in.
    height: u64,
    /// The tx.
    tx_id: TxId,
}

/// A proposal, as replayed from the history log.
#[derive(Clone, Debug, Serialize)]
struct Proposal {
    proposal: TxId,
    change: GovernanceChange,
    /// Proposed in this block.
    height: u64,
    approvals: Vec<Approval>,
    /// Approvals of current member orgs / approvals needed now / member orgs.
    approvals_counted: usize,
    needed: usize,
    orgs: usize,
    executed_at: Option<u64>,
    /// `open`, `executed` or `expired`.
    state: &'static str,
    /// The proposal's time to live (the chain params when it was proposed).
    ttl_ms: u64,
    /// When it can no longer be approved (its block's time + ttl), if its block was read.
    expires_at_ms: Option<u64>,
    /// For parameter changes: the params in effect when it was proposed.
    #[serde(skip_serializing_if = "Option::is_none")]
    params_before: Option<ChainParams>,
}

/// A proposing tx the chain rejected: no proposal came of it.
#[derive(Clone, Debug, Serialize)]
struct RejectedProposal {
    proposal: TxId,
    change: GovernanceChange,
    height: u64,
    code: String,
    message: String,
}

/// The governance history of the chain up to a certified block.
#[derive(Debug)]
struct Replayed {
    params: ChainParams,
    orgs: Vec<OrgId>,
    key_orgs: BTreeMap<PublicKey, OrgId>,
    proposals: Vec<Proposal>,
    rejected: Vec<RejectedProposal>,
    log_size: u64,
    certified_height: u64,
    certified_by: Vec<u64>,
    voters: Vec<u64>,
    source: ConsortiumSource,
}

impl Replayed {
    fn new(genesis: &Genesis) -> Replayed {
        let initial = &genesis.initial;
        let mut key_orgs = BTreeMap::new();
        for org in &initial.orgs {
            for key in &org.admin_keys {
                key_orgs.insert(*key, org.id.clone());
            }
        }
        let mut orgs: Vec<OrgId> = initial.orgs.iter().map(|o| o.id.clone()).collect();
        orgs.sort();
        Replayed {
            params: initial.params.clone(),
            orgs,
            key_orgs,
            proposals: Vec::new(),
            rejected: Vec::new(),
            log_size: 0,
            certified_height: 0,
            certified_by: Vec::new(),
            voters: Vec::new(),
            source: ConsortiumSource::Genesis,
        }
    }

    fn proposal_mut(&mut self, id: &TxId) -> Option<&mut Proposal> {
        self.proposals.iter_mut().find(|p| &p.proposal == id)
    }

    /// Applies one log entry the way the chaincode did (its outcome says what happened).
    fn push(&mut self, entry: &LogEntry) {
        let leaf = &entry.leaf;
        let signer = entry.tx.signer;
        let events = match &leaf.outcome {
            TxOutcome::Applied { events } => events,
            TxOutcome::Rejected { rejection } => {
                if let TxKind::ProposeGovernance(t) = &entry.tx.body.kind {
                    self.rejected.push(RejectedProposal {
                        proposal: leaf.tx_id,
                        change: t.change.clone(),
                        height: leaf.height,
                        code: rejection.reason.code().to_string(),
                        message: rejection.message.clone(),
                    });
                }
                return;
            }
        };
        for event in events {
            match event {
                Event::KeyRegistered { key, org, .. } => {
                    self.key_orgs.insert(*key, org.clone());
                }
                Event::ProposalOpened { proposal, .. } => {
                    if let TxKind::ProposeGovernance(t) = &entry.tx.body.kind {
                        let params_before =
                            matches!(t.change, GovernanceChange::UpdateParams { .. })
                                .then(|| self.params.clone());
                        self.proposals.push(Proposal {
                            proposal: *proposal,
                            change: t.change.clone(),
                            height: leaf.height,
                            approvals: vec![Approval {
                                org: self.key_orgs.get(&signer).cloned(),
                                key: signer,
                                height: leaf.height,
                                tx_id: leaf.tx_id,
                            }],
                            approvals_counted: 0,
                            needed: 0,
                            orgs: 0,
                            executed_at: None,
                            state: "open",
                            ttl_ms: self.params.proposal_ttl_ms,
                            expires_at_ms: None,
                            params_before,
                        });
                    }
                }
                Event::ProposalApproved { proposal, .. } => {
                    let org = self.key_orgs.get(&signer).cloned();
                    if let Some(p) = self.proposal_mut(proposal) {
                        p.approvals.push(Approval {
                            org,
                            key: signer,
                            height: leaf.height,
                            tx_id: leaf.tx_id,
                        });
                    }
                }
                Event::GovernanceApplied { proposal, change } => {
                    if let Some(p) = self.proposal_mut(proposal) {
                        p.executed_at = Some(leaf.height);
                    }
                    match change {
                        GovernanceChange::AddOrg { org, admin_key, .. } => {
                            if let Err(at) = self.orgs.binary_search(org) {
                                self.orgs.insert(at, org.clone());
                            }
                            self.key_orgs.insert(*admin_key, org.clone());
                        }
                        GovernanceChange::UpdateParams { params } => self.params = params.clone(),
                        GovernanceChange::AddAuditor { org, key } => {
                            self.key_orgs.insert(*key, org.clone());
                        }
                        GovernanceChange::AddNode { .. } | GovernanceChange::RemoveNode { .. } => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Counts approvals against the current orgs and dates the open proposals (their
    /// block's time + ttl, read from the node; by the local clock).
    async fn finish(&mut self, client: &NodeClient) {
        let needed = self.orgs.len() / 2 + 1;
        let now = now_ms();
        for p in &mut self.proposals {
            p.orgs = self.orgs.len();
            p.needed = needed;
            p.approvals_counted = p
                .approvals
                .iter()
                .filter(|a| {
                    a.org
                        .as_ref()
                        .is_some_and(|o| self.orgs.binary_search(o).is_ok())
                })
                .count();
            if p.executed_at.is_some() {
                p.state = "executed";
                continue;
            }
            if let Ok(block) = client.block(p.height).await {
                let expires = block.header.time_ms.saturating_add(p.ttl_ms);
                p.expires_at_ms = Some(expires);
                if now > expires {
                    p.state = "expired";
                }
            }
        }
    }

    fn verified_json(&self) -> serde_json::Value {
        json!({
            "log_size": self.log_size,
            "certified_height": self.certified_height,
            "certified_by": self.certified_by,
            "voters": self.voters,
            "consortium": self.source,
        })
    }

    fn verified_line(&self) -> String {
        format!(
            "replayed from the history log ({} entries), which hashes to the log root of block {} \
             certified by nodes {:?} (voters {:?})",
            self.log_size, self.certified_height, self.certified_by, self.voters
        )
    }
}

/// Replays the history log from genesis up to the latest certified block (at least the
/// node's current height), checking it hashes to that block's log root.
async fn replay(ctx: &Ctx, client: &NodeClient, near: &[&Path]) -> Result<Replayed> {
    let (anchor, _) = ctx.anchor(client, near).await?;
    let (genesis, genesis_path) = ctx
        .find_genesis(near)?
        .ok_or_else(|| Failure::new("no_genesis", "the genesis file went away"))?;
    let status = client.status().await.map_err(|e| explain(e, None))?;
    let (checkpoint, certified_by, voters, source) = ProofVerifier::new(client, &anchor)
        .certified_checkpoint(status.height)
        .await
        .map_err(|e| unverified(&format!("the checkpoint of block {}", status.height), e))?;
    let certified = &checkpoint.header;
    let mut chain = Replayed::new(&genesis);
    let mut log = HistoryLog::default();
    let mut sink = Vec::new();
    let loud = !ctx.json && certified.log_size > 20_000;
    while log.size < certified.log_size {
        let from = log.size;
        let page = client
            .log_entries(from, Some(certified.log_size))
            .await
            .map_err(|e| explain(e, None))?;
        if page.entries.is_empty() && page.withheld.is_empty() {
            return Err(not_proven(format!(
                "the node returned no history-log entries from {from} (the certified log has {})",
                certified.log_size
            )));
        }
        for item in page.in_order() {
            if item.log_index() != log.size {
                return Err(not_proven(format!(
                    "expected history-log entry {}, the node sent {}",
                    log.size,
                    item.log_index()
                )));
            }
            // Another org's tx: only its leaf hash (governance txs are always shown).
            let PageEntry::Shown(entry) = item else {
                log.append(item.leaf_hash(), &mut sink);
                sink.clear();
                continue;
            };
            if entry.tx.id() != entry.leaf.tx_id {
                return Err(not_proven(format!(
                    "history-log entry {} carries tx {} but its leaf is for tx {}",
                    entry.log_index,
                    entry.tx.id(),
                    entry.leaf.tx_id
                )));
            }
            log.append(entry.leaf.hash(), &mut sink);
            sink.clear();
            chain.push(entry);
        }
        if loud {
            eprintln!(
                "replaying the history log: {} of {} entries",
                log.size, certified.log_size
            );
        }
    }
    if log.root() != certified.log_root {
        return Err(not_proven(format!(
            "the node's first {} history-log entries hash to {}, but certified block {} has log \
             root {}",
            log.size,
            log.root(),
            certified.height,
            certified.log_root
        )));
    }
    tracing::debug!(genesis = %genesis_path.display(), entries = log.size, "governance replayed");
    chain.log_size = log.size;
    chain.certified_height = certified.height;
    chain.certified_by = certified_by;
    chain.voters = voters;
    chain.source = source;
    chain.finish(client).await;
    Ok(chain)
}

fn not_proven(why: String) -> anyhow::Error {
    Failure {
        exit: EXIT_UNVERIFIED,
        ..Failure::new(
            "proof_invalid",
            format!("history log: PROOF DOES NOT VERIFY: {why}"),
        )
    }
    .hint("the node's answer cannot be trusted: ask another node, and run `cactus audit verify`")
    .into()
}

fn org_name(org: &Option<OrgId>, key: &PublicKey) -> String {
    match org {
        Some(o) => o.to_string(),
        None => format!("key {}", short(&key.to_hex())),
    }
}

/// Where a proposal stands, in a few words.
fn state_text(p: &Proposal) -> String {
    match (p.state, p.executed_at, p.expires_at_ms) {
        ("executed", Some(h), _) => format!("executed at block {h}"),
        ("expired", _, Some(at)) => format!("expired at {}", format_time_ms(at)),
        (_, _, expires) => {
            let missing = p.needed.saturating_sub(p.approvals_counted);
            let until = expires
                .map(|at| format!("; can be approved until {}", format_time_ms(at)))
                .unwrap_or_default();
            format!(
                "open: needs {missing} more approval{}{until}",
                if missing == 1 { "" } else { "s" }
            )
        }
    }
}

async fn show(ctx: &Ctx, id: TxId) -> Result<()> {
    let client = ctx.connect().await?;
    let chain = replay(ctx, &client, &[]).await?;
    let Some(p) = chain.proposals.iter().find(|p| p.proposal == id) else {
        if let Some(r) = chain.rejected.iter().find(|r| r.proposal == id) {
            emit(
                ctx.json,
                &json!({ "rejected": r, "verified": chain.verified_json() }),
                || {
                    format!(
                        "tx {id} proposed: {}\nbut the chain REJECTED it in block {}: {}: {}; there \
                         is no proposal\n{}",
                        describe(&r.change, None),
                        r.height,
                        r.code,
                        r.message,
                        chain.verified_line()
                    )
                },
            );
            return Ok(());
        }
        return Err(Failure::new(
            "not_found",
            format!(
                "no proposal {id} up to certified block {}",
                chain.certified_height
            ),
        )
        .hint("a proposal is named by the id of the tx that proposed it: see `cactus governance list`")
        .into());
    };
    let next = match p.state {
        "open" => Some(pending_next(
            &p.proposal,
            p.needed as u32,
            p.approvals_counted as u32,
        )),
        "expired" => Some("Next: propose the change again if it is still wanted".to_string()),
        _ => None,
    };
    emit(
        ctx.json,
        &json!({ "proposal": p, "next": next, "verified": chain.verified_json() }),
        || {
            let approvals: Vec<String> = p
                .approvals
                .iter()
                .map(|a| format!("{} (block {})", org_name(&a.org, &a.key), a.height))
                .collect();
            let mut text = format!(
                "proposal {}\n  change     {}\n  proposed   in block {} by {}\n  approvals  {} — {} of \
                 {} needed ({} orgs)\n  state      {}\n",
                p.proposal,
                describe(&p.change, p.params_before.as_ref()),
                p.height,
                p.approvals
                    .first()
                    .map(|a| org_name(&a.org, &a.key))
                    .unwrap_or_default(),
                approvals.join(", "),
                p.approvals_counted,
                p.needed,
                p.orgs,
                state_text(p),
            );
            if let Some(next) = &next {
                text.push_str(&format!("{next}\n"));
            }
            text.push_str(&chain.verified_line());
            text
        },
    );
    Ok(())
}

async fn list(ctx: &Ctx, open: bool) -> Result<()> {
    let client = ctx.connect().await?;
    let chain = replay(ctx, &client, &[]).await?;
    let shown: Vec<&Proposal> = chain
        .proposals
        .iter()
        .filter(|p| !open || p.state == "open")
        .collect();
    emit(
        ctx.json,
        &json!({
            "proposals": shown,
            "params": chain.params,
            "orgs": chain.orgs,
            "verified": chain.verified_json(),
        }),
        || {
            let mut text = String::new();
            if shown.is_empty() {
                text.push_str(if open {
                    "no open proposals\n"
                } else {
                    "no proposals\n"
                });
            }
            for p in &shown {
                let orgs: Vec<String> = p
                    .approvals
                    .iter()
                    .map(|a| org_name(&a.org, &a.key))
                    .collect();
                text.push_str(&format!(
                    "{}  {}\n    approvals {} ({} of {} needed); {}\n",
                    p.proposal,
                    describe(&p.change, p.params_before.as_ref()),
                    orgs.join(", "),
                    p.approvals_counted,
                    p.needed,
                    state_text(p)
                ));
            }
            text.push_str(&format!(
                "orgs: {}; chain params: {} (proposals stay open {})\n{}",
                chain
                    .orgs
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                params_text(&chain.params),
                duration_text(chain.params.proposal_ttl_ms),
                chain.verified_line()
            ));
            text
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiaddrs_are_checked_like_genesis_does() {
        assert_eq!(
            multiaddr(" /ip4/10.0.0.5/tcp/7201 ").unwrap(),
            "/ip4/10.0.0.5/tcp/7201"
        );
        assert!(multiaddr("/dns4/node-d/tcp/7201").is_ok());
        assert!(multiaddr("10.0.0.5:7201").is_err());
        assert!(multiaddr("/ip4/10.0.0.5/udp/7201").is_err());
    }

    #[test]
    fn param_changes_show_old_and_new() {
        let old = ChainParams::default();
        let new = ChainParams {
            max_batch_codes: 6_000,
            ..old.clone()
        };
        let text = describe(&GovernanceChange::UpdateParams { params: new }, Some(&old));
        assert_eq!(text, "change chain params: max_batch_codes 5000 → 6000");
        assert_eq!(duration_text(7 * 86_400_000), "7 days");
        assert_eq!(duration_text(90_000), "90 s");
    }
}
