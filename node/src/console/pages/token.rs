//! `GET /console/tokens/{pool}/{serial}`: one token of the org's pools. Its state, every
//! tx that touched it (the node's per-token history index, rejected attempts included),
//! and a badge saying whether its state proof verified against the latest certified
//! checkpoint, anchored to the node's genesis.
//!
//! The server builds the proof bundle `cactus audit prove-token` would fetch (the token's
//! state proof at the latest certified height, that header, its certificate and the
//! consortium proven under it) and checks it as `cactus audit check-proof FILE --genesis
//! GENESIS` does: [`couponcactus_client::audit::check_bundle`] (claim, header links,
//! certificate against the consortium proven under the certified state root), then the
//! genesis anchor. The node's genesis is its own store's: the genesis hash it recorded
//! (and checks the genesis file against at every start) and the consortium genesis wrote
//! (version 0 of its state tree). The bundle must name that chain and genesis hash, and
//! its certified voter set must be genesis's — as with `check-proof`, a voter set changed
//! since genesis by governance cannot be anchored by genesis alone (the badge says so and
//! points at `cactus audit verify`). A node installed from a state snapshot past genesis
//! does not hold genesis's state, so its badge is not verified and says why.
//! `…/proof.json` downloads the bundle for the same offline check.

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use crate::storage::Store;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::commitment::prove;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::{ChainId, Hash32, PoolId, PublicKey, TokenId};
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{Consortium, TokenRecord, TokenStatus};
use couponcactus_client::audit::{
    BundleCheck, Claim, PROOF_BUNDLE_FORMAT, ProofBundle, check_bundle,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most history entries shown (the newest).
pub const MAX_HISTORY: usize = 500;

fn internal(what: &str, e: impl std::fmt::Display) -> PageError {
    PageError::Internal(format!("{what}: {e}"))
}

/// The token of the path, if it is one of the org's: else a 404 page.
pub(super) fn org_token(
    console: &Console,
    pool: &str,
    serial: &str,
) -> Result<(TokenId, TokenRecord), PageError> {
    let missing = || {
        PageError::NotFound(format!(
            "no token {}/{} in the org's pools",
            pool.chars().take(64).collect::<String>(),
            serial.chars().take(24).collect::<String>()
        ))
    };
    let pool_id: PoolId = pool.parse().map_err(|_| missing())?;
    let serial: u64 = serial.parse().map_err(|_| missing())?;
    let store = console.node.store();
    match store.get(&StateKey::Pool(pool_id.clone()))? {
        Some(StateValue::Pool(p)) if p.owner == console.org => {}
        _ => return Err(missing()),
    }
    let id = TokenId {
        pool: pool_id,
        serial,
    };
    match store.get(&StateKey::Token(id.clone()))? {
        Some(StateValue::Token(t)) => Ok((id, t)),
        _ => Err(missing()),
    }
}

/// A token status's label.
pub(super) fn status_name(s: &TokenStatus) -> &'static str {
    match s {
        TokenStatus::Available => "available",
        TokenStatus::Allocated => "allocated",
        TokenStatus::Redeemed { .. } => "redeemed",
        TokenStatus::Revoked => "revoked",
    }
}

/// The proof bundle of `token` at the latest certified height (`Err`: why there is none).
pub(super) fn bundle(
    console: &Console,
    token: &TokenId,
) -> Result<Result<ProofBundle, String>, PageError> {
    bundle_in(console.node.store(), console.node.chain_id(), token)
}

/// [`bundle`] from `store` of chain `chain_id`.
fn bundle_in(
    store: &Store,
    chain_id: &ChainId,
    token: &TokenId,
) -> Result<Result<ProofBundle, String>, PageError> {
    let Some(certificate) = store.latest_certificate()? else {
        return Ok(Err("no block is certified yet".into()));
    };
    let h = certificate.height;
    let Some(header) = store.header(h)? else {
        return Ok(Err(format!(
            "the header of certified height {h} is not retained"
        )));
    };
    let genesis_hash = store
        .genesis_hash()?
        .ok_or_else(|| PageError::Internal("the node has no genesis hash".into()))?;
    let proof =
        prove(store, &StateKey::Token(token.clone()), h).map_err(|e| internal("token proof", e))?;
    if proof.value.is_none() {
        return Ok(Err(format!(
            "the token is newer than the latest certified height {h}: wait for the next checkpoint"
        )));
    }
    let consortium =
        prove(store, &StateKey::Consortium, h).map_err(|e| internal("consortium proof", e))?;
    Ok(Ok(ProofBundle {
        format: PROOF_BUNDLE_FORMAT.into(),
        chain_id: chain_id.clone(),
        genesis_hash,
        claim: Claim::Token {
            token_id: token.clone(),
            proof,
        },
        header,
        links: vec![],
        certificate,
        consortium,
    }))
}

/// What a bundle must chain to: the node's genesis, as its store holds it.
#[derive(Clone, Debug)]
struct GenesisAnchor {
    chain_id: ChainId,
    hash: Hash32,
    /// The voters genesis made: (node id, node key).
    voters: BTreeSet<(u64, PublicKey)>,
}

fn voter_set(c: &Consortium) -> BTreeSet<(u64, PublicKey)> {
    c.voters().map(|v| (v.node_id, v.node_key)).collect()
}

fn voter_ids(voters: &BTreeSet<(u64, PublicKey)>) -> String {
    let ids: Vec<String> = voters.iter().map(|(id, _)| id.to_string()).collect();
    format!("[{}]", ids.join(", "))
}

/// The genesis of the node's `store` (`Err`: why the store cannot vouch for it).
fn genesis_anchor(
    store: &Store,
    chain_id: &ChainId,
) -> Result<Result<GenesisAnchor, String>, PageError> {
    let hash = store
        .genesis_hash()?
        .ok_or_else(|| PageError::Internal("the node has no genesis hash".into()))?;
    if let Some(base) = store.sync_base()?.filter(|b| b.height > 0) {
        return Ok(Err(format!(
            "this node was installed from a state snapshot at height {}, so it does not hold \
             genesis's consortium to anchor the proof to: check the downloaded proof with \
             `cactus audit check-proof FILE --genesis GENESIS`",
            base.height
        )));
    }
    let genesis = match prove(store, &StateKey::Consortium, 0) {
        Ok(p) => p.value,
        Err(e) => return Ok(Err(format!("genesis's consortium is not readable: {e}"))),
    };
    let Some(StateValue::Consortium(consortium)) = genesis else {
        return Ok(Err("the node's genesis state holds no consortium".into()));
    };
    Ok(Ok(GenesisAnchor {
        chain_id: chain_id.clone(),
        hash,
        voters: voter_set(&consortium),
    }))
}

/// [`check_bundle`], then the genesis anchor: the check `cactus audit check-proof FILE
/// --genesis GENESIS` runs, with the node's genesis.
fn check_anchored(bundle: &ProofBundle, anchor: &GenesisAnchor) -> Result<BundleCheck, String> {
    if bundle.chain_id != anchor.chain_id {
        return Err(format!(
            "the bundle is for chain {}, the node's genesis for {}",
            bundle.chain_id, anchor.chain_id
        ));
    }
    if bundle.genesis_hash != anchor.hash {
        return Err(format!(
            "the bundle names genesis {}, the node's genesis is {}",
            bundle.genesis_hash, anchor.hash
        ));
    }
    let check = check_bundle(bundle, None).map_err(|e| e.to_string())?;
    let Some(StateValue::Consortium(consortium)) = &bundle.consortium.value else {
        return Err("the consortium proof carries no consortium".into());
    };
    let certified = voter_set(consortium);
    if certified != anchor.voters {
        return Err(format!(
            "the voter set at height {} ({}) is not genesis's ({}): membership changed since \
             genesis, so genesis alone cannot vouch for it; audit the chain with `cactus audit \
             verify`, which follows membership changes",
            check.certified_height,
            voter_ids(&certified),
            voter_ids(&anchor.voters)
        ));
    }
    Ok(BundleCheck {
        anchored: true,
        ..check
    })
}

/// The badge.
#[derive(Debug, Serialize)]
struct Badge {
    verified: bool,
    text: String,
}

fn badge(result: &Result<BundleCheck, String>, genesis: &Hash32) -> Badge {
    match result {
        Ok(c) => Badge {
            verified: c.anchored,
            text: format!(
                "State proof verified against certified checkpoint at height {} (nodes {}), \
                 anchored to genesis {}",
                c.certified_height,
                c.certified_by
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                genesis.to_string().chars().take(16).collect::<String>()
            ),
        },
        Err(why) => Badge {
            verified: false,
            text: format!("Not verified: {why}"),
        },
    }
}

/// One tx of the history.
#[derive(Debug, Serialize)]
struct Entry {
    height: u64,
    time: String,
    kind: &'static str,
    tx_id: String,
    memo: Option<String>,
    applied: bool,
    outcome: String,
}

fn history(console: &Console, token: &TokenId) -> Result<(Vec<Entry>, usize), PageError> {
    let store = console.node.store();
    let all = store.token_history(token)?;
    let total = all.len();
    let mut cached: Option<Block> = None;
    let mut out = Vec::new();
    for (height, index) in all.into_iter().rev().take(MAX_HISTORY) {
        if cached.as_ref().is_none_or(|b| b.header.height != height) {
            cached = store.block(height)?;
        }
        let Some(block) = cached.as_ref() else {
            continue;
        };
        let Some(tx) = block.txs.get(index as usize) else {
            continue;
        };
        let result = store.result_at(height, index)?;
        let (applied, outcome) = match result.map(|r| r.outcome) {
            Some(TxOutcome::Applied { .. }) => (true, "applied".to_string()),
            Some(TxOutcome::Rejected { rejection }) => (
                false,
                format!(
                    "rejected: {} ({})",
                    rejection.reason.code(),
                    rejection.message
                ),
            ),
            None => (false, "result not retained".to_string()),
        };
        out.push(Entry {
            height,
            time: view::time(block.header.time_ms),
            kind: tx.body.kind.name(),
            tx_id: tx.id().to_string(),
            memo: tx.body.memo.as_ref().map(|m| m.to_string()),
            applied,
            outcome,
        });
    }
    Ok((out, total))
}

#[derive(Debug, Serialize)]
struct TokenPage {
    layout: Layout,
    id: String,
    pool: String,
    pool_name: String,
    serial: u64,
    status: &'static str,
    owner: Option<String>,
    redemption: Option<String>,
    code_hash: String,
    badge: Badge,
    proof_href: Option<String>,
    history: Vec<Entry>,
    history_total: usize,
}

fn render(
    console: &Console,
    staff: &Staff,
    pool: &str,
    serial: &str,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let (id, token) = org_token(console, pool, serial)?;
    let pool_name = match console.node.store().get(&StateKey::Pool(id.pool.clone()))? {
        Some(StateValue::Pool(p)) => p.spec.name,
        _ => String::new(),
    };
    let built = bundle(console, &id)?;
    let store = console.node.store();
    let anchor = genesis_anchor(store, console.node.chain_id())?;
    let checked = match (&built, &anchor) {
        (Ok(b), Ok(a)) => check_anchored(b, a),
        (Err(why), _) | (_, Err(why)) => Err(why.clone()),
    };
    let genesis_hash = store.genesis_hash()?.unwrap_or(Hash32([0; 32]));
    let (history, history_total) = history(console, &id)?;
    let page = TokenPage {
        layout: Layout::new(console, staff, "", format!("Token {id}"), height),
        id: id.to_string(),
        pool: id.pool.to_string(),
        pool_name,
        serial: id.serial,
        status: status_name(&token.status),
        owner: token.owner.map(|m| m.to_string()),
        redemption: match &token.status {
            TokenStatus::Redeemed { redemption } => Some(redemption.to_string()),
            _ => None,
        },
        code_hash: token.code_hash.to_string(),
        badge: badge(&checked, &genesis_hash),
        proof_href: built
            .is_ok()
            .then(|| format!("/console/tokens/{id}/proof.json")),
        history,
        history_total,
    };
    view::page("token.html", &page, height)
}

/// Whether `token`'s state proof verifies against the latest certified checkpoint,
/// anchored to the node's genesis: `(verified, the badge's words, the certified height)`.
/// The customer wallet shows it next to each coupon.
pub(crate) fn verified(
    console: &Console,
    token: &TokenId,
) -> Result<(bool, String, Option<u64>), PageError> {
    let built = bundle(console, token)?;
    let store = console.node.store();
    let anchor = genesis_anchor(store, console.node.chain_id())?;
    let checked = match (&built, &anchor) {
        (Ok(b), Ok(a)) => check_anchored(b, a),
        (Err(why), _) | (_, Err(why)) => Err(why.clone()),
    };
    let genesis_hash = store.genesis_hash()?.unwrap_or(Hash32([0; 32]));
    let height = checked.as_ref().ok().map(|c| c.certified_height);
    let b = badge(&checked, &genesis_hash);
    Ok((b.verified, b.text, height))
}

/// `GET /console/tokens/{pool}/{serial}`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Path((pool, serial)): Path<(String, String)>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || render(&console, &staff, &pool, &serial))
        .await
        .map_err(|e| internal("token", e))?
}

fn proof_json(console: &Console, pool: &str, serial: &str) -> Result<Response, PageError> {
    let (id, _) = org_token(console, pool, serial)?;
    let bundle = bundle(console, &id)?.map_err(PageError::NotFound)?;
    let text = serde_json::to_string_pretty(&bundle).map_err(|e| internal("proof", e))?;
    let mut response = (StatusCode::OK, format!("{text}\n")).into_response();
    let headers = response.headers_mut();
    view::secure_headers(headers);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let name = format!(
        "attachment; filename=\"proof-{}-{}.json\"",
        id.pool, id.serial
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `GET /console/tokens/{pool}/{serial}/proof.json`: the proof bundle, as
/// `cactus audit prove-token` writes it.
pub(super) async fn proof(
    State(console): State<Arc<Console>>,
    _staff: Staff,
    Path((pool, serial)): Path<(String, String)>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || proof_json(&console, &pool, &serial))
        .await
        .map_err(|e| internal("proof", e))?
}

#[cfg(test)]
mod tests {
    //! The genesis anchor of the badge's check, on a real store with a certified block.

    use super::*;
    use couponcactus_chaincode::block::{Certificate, sign_checkpoint};
    use couponcactus_chaincode::initial::InitialState;
    use couponcactus_chaincode::ledger::apply_block;
    use couponcactus_chaincode::prelude::*;
    use couponcactus_chaincode::testkit::{self, TestChain};

    const GENESIS_HASH: Hash32 = Hash32([7; 32]);

    /// A store of `genesis` (no blocks).
    fn open(genesis: &InitialState) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis(genesis, GENESIS_HASH).unwrap();
        (dir, store)
    }

    /// A testkit-genesis store where acme's issuer issued token 0 of pool `spring`, its
    /// block certified by node 1 (key seed 200).
    fn certified() -> (tempfile::TempDir, Store, TokenId) {
        let (dir, store) = open(&testkit::genesis());
        let mut tip = store.tip().unwrap();
        // Signed as of 10 minutes after genesis: valid well past the block below, and
        // within max_tx_validity_ms (1 h) of it.
        let mut signer = TestChain::new();
        signer.advance(600_000);
        let pool = testkit::pool_id("spring");
        let issuer = testkit::key(10);
        let txs = vec![
            signer.sign(
                &testkit::key(1),
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(10),
                    role: Role::Issuer,
                }),
            ),
            signer.sign(
                &issuer,
                TxKind::CreatePool(CreatePoolTx {
                    pool: pool.clone(),
                    spec: testkit::spec(PoolKind::UniqueCodes),
                }),
            ),
            signer.sign(
                &issuer,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: pool.clone(),
                    codes: vec![testkit::issued_code(
                        &pool,
                        &testkit::code_text(&pool, 0),
                        0,
                    )],
                }),
            ),
        ];
        let applied = apply_block(&store, &store, &tip, 1, tip.time_ms + 1, &txs).unwrap();
        assert!(
            applied
                .results
                .iter()
                .all(|r| r.outcome.rejection().is_none())
        );
        let block = Block {
            header: applied.header.clone(),
            txs,
        };
        store.commit_block(0, &block, &applied).unwrap();
        tip = applied.tip;
        let hash = block.header.hash();
        store
            .put_certificate(&Certificate {
                chain_id: tip.chain_id.clone(),
                height: tip.height,
                block_hash: hash,
                signatures: vec![sign_checkpoint(
                    &testkit::key(200),
                    1,
                    &tip.chain_id,
                    tip.height,
                    &hash,
                )],
            })
            .unwrap();
        (dir, store, TokenId { pool, serial: 0 })
    }

    fn chain() -> ChainId {
        testkit::genesis().chain_id
    }

    fn built(store: &Store, token: &TokenId) -> ProofBundle {
        bundle_in(store, &chain(), token).unwrap().unwrap()
    }

    #[test]
    fn a_certified_token_verifies_anchored_to_the_nodes_genesis() {
        let (_dir, store, token) = certified();
        let anchor = genesis_anchor(&store, &chain()).unwrap().unwrap();
        assert_eq!(anchor.voters.len(), 1);
        let check = check_anchored(&built(&store, &token), &anchor).unwrap();
        assert!(check.anchored);
        assert_eq!(check.certified_height, 1);
        let b = badge(&Ok(check), &anchor.hash);
        assert!(b.verified);
        assert!(
            b.text.contains("anchored to genesis 0707070707070707"),
            "{}",
            b.text
        );
    }

    #[test]
    fn a_genesis_with_another_consortium_fails_the_badge() {
        let (_dir, store, token) = certified();
        // Same chain id and genesis hash, but node 1 has another key.
        let mut other = testkit::genesis();
        other.nodes[0].node_key = testkit::public(201);
        let (_other_dir, other_store) = open(&other);
        let anchor = genesis_anchor(&other_store, &chain()).unwrap().unwrap();
        let err = check_anchored(&built(&store, &token), &anchor).unwrap_err();
        assert!(err.contains("is not genesis's"), "{err}");
        let b = badge(&Err(err), &anchor.hash);
        assert!(!b.verified);
        assert!(b.text.starts_with("Not verified"), "{}", b.text);
    }

    #[test]
    fn another_genesis_hash_or_chain_or_a_tampered_proof_fails() {
        let (_dir, store, token) = certified();
        let anchor = genesis_anchor(&store, &chain()).unwrap().unwrap();
        let bundle = built(&store, &token);
        let other_hash = GenesisAnchor {
            hash: Hash32([8; 32]),
            ..anchor.clone()
        };
        let err = check_anchored(&bundle, &other_hash).unwrap_err();
        assert!(err.contains("names genesis"), "{err}");
        let other_chain = GenesisAnchor {
            chain_id: ChainId::new("otherchain").unwrap(),
            ..anchor.clone()
        };
        let err = check_anchored(&bundle, &other_chain).unwrap_err();
        assert!(err.contains("is for chain"), "{err}");
        let mut tampered = bundle.clone();
        if let Claim::Token { token_id, .. } = &mut tampered.claim {
            token_id.serial = 1;
        }
        assert!(check_anchored(&tampered, &anchor).is_err());
        let mut unsigned = bundle;
        unsigned.certificate.signatures.clear();
        assert!(check_anchored(&unsigned, &anchor).is_err());
    }

    #[test]
    fn no_certificate_means_no_bundle() {
        let (_dir, store) = open(&testkit::genesis());
        let token = TokenId {
            pool: testkit::pool_id("spring"),
            serial: 0,
        };
        let why = bundle_in(&store, &chain(), &token).unwrap().unwrap_err();
        assert!(why.contains("no block is certified"), "{why}");
    }
}
