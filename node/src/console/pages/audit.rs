//! `GET /console/audit`: what an auditor checks first. The certified height and the
//! nodes whose signatures make its certificate, the consortium (orgs, nodes, voters),
//! this node's divergence status (the first vote of another node for a different block
//! hash at a certified height, as `GET /v1/status` reports it), and the latest audit
//! result: the node keeps none (an audit is run by someone who does not trust the node,
//! with `cactus audit verify`), so the page says how to run one.

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
struct NodeRow {
    node_id: u64,
    org: String,
    voter: bool,
    signed: bool,
    connected: bool,
    this: bool,
    key: String,
}

#[derive(Debug, Serialize)]
struct DivergenceView {
    height: u64,
    node_id: u64,
    ours: String,
    theirs: String,
}

#[derive(Debug, Serialize)]
struct AuditPage {
    layout: Layout,
    chain_id: String,
    genesis_hash: String,
    node_id: u64,
    role: &'static str,
    certified_height: Option<u64>,
    certified_time: Option<String>,
    certified_hash: Option<String>,
    signers: Vec<u64>,
    lag: u64,
    orgs: Vec<String>,
    quorum: usize,
    nodes: Vec<NodeRow>,
    divergence: Option<DivergenceView>,
}

fn render(console: &Console, staff: &Staff) -> Result<Response, PageError> {
    let store = console.node.store();
    let height = store.tip()?.height;
    let status = console.node.status();
    let consortium = console.node.consortium();
    let certificate = store.latest_certificate()?;
    let signers: Vec<u64> = certificate
        .iter()
        .flat_map(|c| c.signatures.iter().map(|s| s.node_id))
        .collect();
    let certified_time = match &certificate {
        Some(c) => store.header(c.height)?.map(|h| view::time(h.time_ms)),
        None => None,
    };
    let nodes = consortium
        .nodes
        .iter()
        .map(|n| NodeRow {
            node_id: n.node_id,
            org: n.org.to_string(),
            voter: n.voter,
            signed: signers.contains(&n.node_id),
            connected: status.peers_connected.contains(&n.node_id),
            this: n.node_id == status.node_id,
            key: n.node_key.to_string().chars().take(16).collect(),
        })
        .collect();
    let page = AuditPage {
        layout: Layout::new(console, staff, "audit", "Audit".into(), height),
        chain_id: status.chain_id.to_string(),
        genesis_hash: status.genesis_hash.to_string(),
        node_id: status.node_id,
        role: status.role,
        certified_height: certificate.as_ref().map(|c| c.height),
        certified_hash: certificate.as_ref().map(|c| c.block_hash.to_string()),
        certified_time,
        lag: height.saturating_sub(certificate.as_ref().map_or(0, |c| c.height)),
        signers,
        quorum: consortium.quorum(),
        orgs: consortium.orgs.iter().map(|o| o.to_string()).collect(),
        nodes,
        divergence: status.divergence.map(|d| DivergenceView {
            height: d.height,
            node_id: d.node_id,
            ours: d.ours.to_string(),
            theirs: d.theirs.to_string(),
        }),
    };
    view::page("audit.html", &page, height)
}

/// `GET /console/audit`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || render(&console, &staff))
        .await
        .map_err(|e| PageError::Internal(format!("audit: {e}")))?
}
