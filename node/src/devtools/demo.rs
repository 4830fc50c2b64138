//! `cactusd --seed-demo DIR`: demo data for a fresh localnet ([`crate::devtools::localnet`]).
//!
//! This module owns the demo content and how it gets onto the chain. [`seed`] submits,
//! through the node it runs in and waiting for each commit, signed with the localnet's key
//! files:
//!
//! - for every org, the registration of its issuer, terminal, auditor and partner keys
//!   (signed by the org admin);
//! - for org 1 (`acme`), pool `acme-spring`: 15 % off (at most 20.00 EUR) at store
//!   `acme-store-1` on channel `pos`, 20 unique codes generated here and sealed with acme's
//!   data key, activated, 5 coupons allocated to demo members;
//! - with a second org (`globex`), pool `globex-welcome`: 5.00 EUR off from 25.00 EUR, any
//!   store or channel, honoured by partner `acme`, 10 codes, 3 allocated.
//!
//! - for org 1, the loyalty program of `examples/loyalty/program.toml` (compiled in), a
//!   25.00 EUR gift balance and points earned on an 80.00 EUR order for each demo member
//!   of pool `acme-spring`.
//!
//! The plaintext codes are written to `DIR/orgs/<org>/codes-<pool>.csv` (mode 0600) before
//! they are issued: the only clear copy, as the ledger holds hashes and sealed codes only.
//!
//! Every step checks the chain first and is skipped when done, so seeding is idempotent and
//! resumable: on a seeded chain it submits nothing and returns the same summary (read back
//! from state). Demo members are random pseudonymous ids (as an org's keyed hash of its own
//! customer ids looks); allocations use fixed claim keys (claim k of a pool), so a resumed
//! run never allocates twice. The summary is also written to `DIR/demo.json`.

use crate::devtools::localnet::{LocalnetLayout, TERMINAL_CHANNEL, org_roles, terminal_store};
use couponcactus_chaincode::codes::{CodeError, CodePattern, code_hash, seal_code};
use couponcactus_chaincode::execute::{Event, TxOutcome};
use couponcactus_chaincode::ids::{
    ChainId, Channel, ClaimKey, MemberId, OrgId, PoolId, PublicKey, TokenId,
};
use couponcactus_chaincode::loyalty::{ProgramSpec, Segment};
use couponcactus_chaincode::reject::{RejectReason, Rejection};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{
    AllocateTx, ApproveGovernanceTx, CreatePoolTx, EarnTx, IssueCodesTx, LoadTx,
    ProposeGovernanceTx, RegisterKeyTx, SetProgramTx, TransitionPoolTx, TxBody, TxKind,
};
use couponcactus_chaincode::types::{
    Currency, Discount, GovernanceChange, IssuedCode, Order, PoolAction, PoolKind, PoolRecord,
    PoolSpec, PoolStatus, Role,
};
use couponcactus_genesis::{GenesisError, KeyFile};
use couponcactus_node::mempool::AdmissionError;
use couponcactus_node::node::{NodeHandle, SubmitError, SubmitOutcome, now_ms};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Org 1's demo pool.
pub const DEMO_POOL: &str = "acme-spring";
/// Codes issued into [`DEMO_POOL`].
pub const DEMO_CODES: usize = 20;
/// Coupons of [`DEMO_POOL`] allocated to demo members.
pub const DEMO_ALLOCATIONS: u64 = 5;
/// Org 2's demo pool (with two orgs or more).
pub const SECOND_POOL: &str = "globex-welcome";
/// Longest [`seed`] waits for a leader before it submits anything.
pub const LEADER_WAIT: Duration = Duration::from_secs(120);
/// How long each demo tx stays valid.
pub const TX_VALIDITY_MS: u64 = 60_000;

const DAY_MS: u64 = 24 * 3_600_000;

/// Why the demo data could not be seeded. Seeding again resumes where it stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The node serves another chain than the localnet's.
    #[error("the node serves chain {node}, the localnet is chain {localnet}")]
    WrongChain {
        /// The node's chain.
        node: ChainId,
        /// The localnet's chain.
        localnet: ChainId,
    },
    /// No leader was elected in time.
    #[error("no leader was elected within {0:?}: are the other nodes running?")]
    NoLeader(Duration),
    /// A key file could not be read.
    #[error(transparent)]
    Key(#[from] GenesisError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Codes could not be generated.
    #[error(transparent)]
    Codes(#[from] CodeError),
    /// State could not be read.
    #[error("reading state: {0}")]
    State(String),
    /// A demo pool id is taken by another org.
    #[error("pool {pool} exists and belongs to {owner}, not to {expected}")]
    PoolTaken {
        /// The pool.
        pool: PoolId,
        /// Its owner.
        owner: OrgId,
        /// The org the demo makes it for.
        expected: OrgId,
    },
    /// The node refused a tx, or it was not committed while valid.
    #[error("{what}: {source}")]
    Submit {
        /// What the tx was for.
        what: String,
        /// Why it failed.
        source: SubmitError,
    },
    /// A tx was rejected by the chaincode.
    #[error("{what}: rejected: {rejection}")]
    Rejected {
        /// What the tx was for.
        what: String,
        /// Why.
        rejection: Rejection,
    },
}

/// What the demo put on the chain (read back from state, so a re-run reports the same).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DemoSummary {
    /// The chain.
    pub chain_id: ChainId,
    /// Txs this run submitted (0 when the chain was seeded already).
    pub txs_submitted: usize,
    /// Keys this run registered.
    pub keys_registered: usize,
    /// The demo pools.
    pub pools: Vec<DemoPool>,
    /// Org 1's loyalty program and the demo members with balances in it.
    pub loyalty: Option<DemoLoyalty>,
}

/// The demo loyalty program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DemoLoyalty {
    /// The program's org.
    pub org: OrgId,
    /// Its name.
    pub name: String,
    /// Members with a gift balance and points.
    pub members: Vec<MemberId>,
}

/// The demo program: the example every README reader sees.
const DEMO_PROGRAM: &str = include_str!("../../../examples/loyalty/program.toml");

/// One demo pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DemoPool {
    /// Its id.
    pub pool: PoolId,
    /// Its owner.
    pub org: OrgId,
    /// Its display name.
    pub name: String,
    /// Its status.
    pub status: PoolStatus,
    /// Codes issued.
    pub issued: u64,
    /// Coupons allocated (all allocations, not only the demo's).
    pub allocated: u64,
    /// The plaintext codes (`serial,code`; mode 0600), if the file is there.
    pub codes_csv: Option<PathBuf>,
    /// The demo's allocations.
    pub allocations: Vec<DemoAllocation>,
}

/// A coupon allocated to a demo member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DemoAllocation {
    /// The pseudonymous member id.
    pub member: MemberId,
    /// The coupon.
    pub token: TokenId,
}

impl DemoSummary {
    /// One log line: what the chain holds of the demo, and where the whole summary is
    /// (`cactusd --seed-demo` logs this instead of the summary itself).
    pub fn one_line(&self, summary_file: &std::path::Path) -> String {
        let pools: Vec<String> = self
            .pools
            .iter()
            .map(|p| {
                format!(
                    "{} ({}, {}: {} codes, {} allocated)",
                    p.pool,
                    p.org,
                    p.status.name(),
                    p.issued,
                    p.allocated
                )
            })
            .collect();
        format!(
            "demo data ready: {}; {} tx(s) submitted now; details in {}",
            pools.join(", "),
            self.txs_submitted,
            summary_file.display()
        )
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Demo data on chain {}: {} tx(s) submitted now, {} key(s) registered now.",
            self.chain_id, self.txs_submitted, self.keys_registered
        )?;
        for p in &self.pools {
            writeln!(
                f,
                "  pool {} ({}, \"{}\", {}): {} codes issued, {} allocated",
                p.pool,
                p.org,
                p.name,
                p.status.name(),
                p.issued,
                p.allocated
            )?;
            if let Some(csv) = &p.codes_csv {
                writeln!(f, "    plaintext codes  {}", csv.display())?;
            }
            for a in &p.allocations {
                writeln!(f, "    {:<16} member {}", a.token.to_string(), a.member)?;
            }
        }
        if let Some(l) = &self.loyalty {
            writeln!(
                f,
                "  loyalty program \"{}\" of {}: {} member(s) with a gift balance and points",
                l.name,
                l.org,
                l.members.len()
            )?;
        }
        Ok(())
    }
}

/// A demo pool to create.
struct PoolPlan {
    org: usize,
    pool: PoolId,
    spec: PoolSpec,
    prefix: &'static str,
    codes: usize,
    allocations: u64,
}

/// The demo pools of `layout`, with validity from `now_ms` (a minute early, for clock skew
/// between nodes) for 90 days.
fn plans(layout: &LocalnetLayout, now_ms: u64) -> Vec<PoolPlan> {
    let eur = Currency(*b"EUR");
    let base = PoolSpec {
        name: String::new(),
        kind: PoolKind::UniqueCodes,
        currency: eur,
        discount: Discount::Percent { bps: 1_500 },
        max_discount_minor: None,
        min_spend_minor: 0,
        valid_from_ms: now_ms.saturating_sub(60_000),
        valid_until_ms: now_ms + 90 * DAY_MS,
        total_cap: 1_000,
        per_member_cap: 1,
        allowed_channels: vec![],
        allowed_stores: vec![],
        excluded_categories: vec![],
        stacking_group: None,
        partner_orgs: vec![],
        transferable: false,
        velocity: vec![],
        requires_consent: None,
    };
    let mut plans = vec![PoolPlan {
        org: 1,
        pool: PoolId(DEMO_POOL.into()),
        spec: PoolSpec {
            name: "Acme spring sale: 15% off".into(),
            max_discount_minor: Some(2_000),
            allowed_channels: vec![Channel(TERMINAL_CHANNEL.into())],
            allowed_stores: vec![terminal_store(layout.org(1))],
            stacking_group: Some("spring".into()),
            ..base.clone()
        },
        prefix: "SPRING-",
        codes: DEMO_CODES,
        allocations: DEMO_ALLOCATIONS,
    }];
    if layout.orgs.len() >= 2 {
        plans.push(PoolPlan {
            org: 2,
            pool: PoolId(SECOND_POOL.into()),
            spec: PoolSpec {
                name: "Globex welcome: 5 EUR off from 25 EUR".into(),
                discount: Discount::Fixed { amount_minor: 500 },
                min_spend_minor: 2_500,
                partner_orgs: vec![layout.org(1).clone()],
                transferable: true,
                ..base
            },
            prefix: "WELCOME-",
            codes: 10,
            allocations: 3,
        });
    }
    plans
}

/// Seeds the demo data through `node` (see the module docs); idempotent. Waits up to
/// [`LEADER_WAIT`] for a leader first.
pub async fn seed(node: &NodeHandle, layout: &LocalnetLayout) -> Result<DemoSummary, DemoError> {
    if node.chain_id() != &layout.chain_id {
        return Err(DemoError::WrongChain {
            node: node.chain_id().clone(),
            localnet: layout.chain_id.clone(),
        });
    }
    wait_for_leader(node, LEADER_WAIT).await?;
    let mut seeder = Seeder {
        node,
        layout,
        nonce: now_ms(),
        submitted: 0,
    };
    let mut keys_registered = 0;
    for i in 1..=layout.orgs.len() {
        keys_registered += seeder.register_keys(i).await?;
    }
    let mut pools = Vec::new();
    for plan in plans(layout, now_ms()) {
        pools.push(seeder.pool(&plan).await?);
    }
    let members: Vec<MemberId> = pools
        .first()
        .map(|p| p.allocations.iter().map(|a| a.member).collect())
        .unwrap_or_default();
    let loyalty = Some(seeder.loyalty(&members).await?);
    let summary = DemoSummary {
        chain_id: node.chain_id().clone(),
        txs_submitted: seeder.submitted,
        keys_registered,
        pools,
        loyalty,
    };
    let json = serde_json::to_string_pretty(&summary).expect("the summary serializes");
    write_atomically(
        &layout.demo_summary(),
        format!("{json}\n").as_bytes(),
        false,
    )?;
    Ok(summary)
}

async fn wait_for_leader(node: &NodeHandle, limit: Duration) -> Result<(), DemoError> {
    let started = Instant::now();
    while node.status().leader_id == 0 {
        if started.elapsed() > limit {
            return Err(DemoError::NoLeader(limit));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Bytes from the operating system's generator (by way of [`KeyFile::generate`], this
/// crate's one source of randomness).
fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(32) {
        let seed = KeyFile::generate().signing_key().to_bytes();
        chunk.copy_from_slice(&seed[..chunk.len()]);
    }
    out
}

/// Claim key `k` of a demo pool: fixed, so a resumed run finds its earlier allocations.
fn claim_key(k: u64) -> ClaimKey {
    let mut claim = [0u8; 32];
    claim[..24].copy_from_slice(b"couponcactus/demo/claim/");
    claim[24..].copy_from_slice(&k.to_be_bytes());
    ClaimKey(claim)
}

/// Writes `bytes` to `path` through a temporary file and a rename (mode 0600 if `private`).
fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io {
            path: path.clone(),
            source,
        }
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads the codes of a CSV written by [`write_codes`]; `None` if it is missing or not
/// `count` distinct codes.
fn read_codes(path: &Path, count: usize) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let codes: Vec<String> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_once(',').map(|(_, code)| code.trim().to_string()))
        .collect::<Option<_>>()?;
    let distinct: BTreeSet<_> = codes.iter().map(|c| code_hash(c)).collect();
    (codes.len() == count && distinct.len() == count).then_some(codes)
}

/// Writes `serial,code` lines (mode 0600).
fn write_codes(path: &Path, codes: &[String]) -> Result<(), DemoError> {
    let mut csv = String::from("serial,code\n");
    for (serial, code) in codes.iter().enumerate() {
        csv.push_str(&format!("{serial},{code}\n"));
    }
    write_atomically(path, csv.as_bytes(), true)
}

/// `count` distinct random codes `PREFIX####-####-####`.
fn generate_codes(prefix: &str, count: usize) -> Result<Vec<String>, DemoError> {
    let pattern = CodePattern {
        prefix: prefix.into(),
        ..CodePattern::default()
    };
    let mut seen = BTreeSet::new();
    let mut codes = Vec::with_capacity(count);
    while codes.len() < count {
        let code = pattern.generate(&random::<64>())?;
        if seen.insert(code_hash(&code)) {
            codes.push(code);
        }
    }
    Ok(codes)
}

struct Seeder<'a> {
    node: &'a NodeHandle,
    layout: &'a LocalnetLayout,
    nonce: u64,
    submitted: usize,
}

impl Seeder<'_> {
    fn read(&self, key: &StateKey) -> Result<Option<StateValue>, DemoError> {
        self.node
            .store()
            .get(key)
            .map_err(|e| DemoError::State(e.to_string()))
    }

    fn key_registered(
        &self,
        key: couponcactus_chaincode::ids::PublicKey,
    ) -> Result<bool, DemoError> {
        Ok(matches!(
            self.read(&StateKey::Key(key))?,
            Some(StateValue::Key(_))
        ))
    }

    fn pool_record(&self, pool: &PoolId) -> Result<Option<PoolRecord>, DemoError> {
        match self.read(&StateKey::Pool(pool.clone()))? {
            Some(StateValue::Pool(p)) => Ok(Some(p)),
            _ => Ok(None),
        }
    }

    fn signing_key(&self, org: usize, name: &str) -> Result<SigningKey, DemoError> {
        Ok(KeyFile::load(&self.layout.org_key(org, name))?.signing_key())
    }

    /// Signs and submits `kind`, waiting for its commit (resubmitting the same tx after a
    /// commit timeout while it is valid): its events if applied, or its rejection.
    async fn submit(
        &mut self,
        what: &str,
        signer: &SigningKey,
        kind: TxKind,
    ) -> Result<Result<Vec<Event>, Rejection>, DemoError> {
        self.nonce += 1;
        let tx = TxBody {
            chain_id: self.node.chain_id().clone(),
            nonce: self.nonce,
            valid_until_ms: now_ms() + TX_VALIDITY_MS,
            kind,
            memo: None,
        }
        .sign(signer);
        self.submitted += 1;
        let failed = |source| DemoError::Submit {
            what: what.to_string(),
            source,
        };
        loop {
            match self.node.submit(tx.clone(), true).await {
                Ok(SubmitOutcome::Committed(c)) => {
                    return Ok(match c.result.outcome {
                        TxOutcome::Applied { events } => Ok(events),
                        TxOutcome::Rejected { rejection } => Err(rejection),
                    });
                }
                // Not committed yet: ask again (the same tx; resubmission is idempotent)
                // until it commits or expires.
                Ok(SubmitOutcome::Accepted(_)) | Err(SubmitError::Timeout(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(SubmitError::Admission(AdmissionError::Full(_))) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }

    /// Registers org `i`'s keys other than its admin; returns how many were new.
    async fn register_keys(&mut self, i: usize) -> Result<usize, DemoError> {
        let org = self.layout.org(i).clone();
        let admin = self.signing_key(i, "org-admin")?;
        let mut registered = 0;
        for (name, role) in org_roles(&org) {
            if role == Role::OrgAdmin {
                continue;
            }
            let key = KeyFile::load(&self.layout.org_key(i, name))?.public_key();
            if self.key_registered(key)? {
                continue;
            }
            if role == Role::Auditor {
                self.register_auditor(i, key).await?;
                registered += 1;
                continue;
            }
            let what = format!("registering the {name} key of {org}");
            let kind = TxKind::RegisterKey(RegisterKeyTx { key, role });
            match self.submit(&what, &admin, kind).await? {
                Ok(_) => registered += 1,
                // Registered meanwhile (this node's state was behind the chain).
                Err(_) if self.key_registered(key)? => {}
                Err(rejection) => return Err(DemoError::Rejected { what, rejection }),
            }
        }
        Ok(registered)
    }

    /// Registers org `i`'s consortium auditor key through governance: org `i`'s admin
    /// proposes, the other orgs' admins approve until the change takes effect (a quorum).
    async fn register_auditor(&mut self, i: usize, key: PublicKey) -> Result<(), DemoError> {
        let org = self.layout.org(i).clone();
        let what = format!("proposing the auditor key of {org}");
        let change = GovernanceChange::AddAuditor {
            org: org.clone(),
            key,
        };
        let admin = self.signing_key(i, "org-admin")?;
        let kind = TxKind::ProposeGovernance(ProposeGovernanceTx { change });
        let events = match self.submit(&what, &admin, kind).await? {
            Ok(events) => events,
            Err(_) if self.key_registered(key)? => return Ok(()),
            Err(rejection) => return Err(DemoError::Rejected { what, rejection }),
        };
        let Some(proposal) = events.iter().find_map(|e| match e {
            Event::ProposalOpened { proposal, .. } => Some(*proposal),
            _ => None,
        }) else {
            return Err(DemoError::Rejected {
                what,
                rejection: Rejection::new(RejectReason::NotFound, "no proposal_opened event"),
            });
        };
        for j in (1..=self.layout.orgs.len()).filter(|&j| j != i) {
            if self.key_registered(key)? {
                break;
            }
            let what = format!(
                "approving the auditor key of {org} as {}",
                self.layout.org(j)
            );
            let admin = self.signing_key(j, "org-admin")?;
            let kind = TxKind::ApproveGovernance(ApproveGovernanceTx { proposal });
            if let Err(rejection) = self.submit(&what, &admin, kind).await?
                && !self.key_registered(key)?
            {
                return Err(DemoError::Rejected { what, rejection });
            }
        }
        Ok(())
    }

    /// Creates, fills, activates and allocates one demo pool, skipping what is done.
    async fn pool(&mut self, plan: &PoolPlan) -> Result<DemoPool, DemoError> {
        let org = self.layout.org(plan.org).clone();
        let issuer = self.signing_key(plan.org, "issuer")?;
        let id = plan.pool.clone();
        let csv = self.layout.codes_csv(plan.org, id.as_str());

        if self.pool_record(&id)?.is_none() {
            let what = format!("creating pool {id}");
            let kind = TxKind::CreatePool(CreatePoolTx {
                pool: id.clone(),
                spec: plan.spec.clone(),
            });
            if let Err(rejection) = self.submit(&what, &issuer, kind).await?
                && self.pool_record(&id)?.is_none()
            {
                return Err(DemoError::Rejected { what, rejection });
            }
        }
        let record = self.existing_pool(&id, &org)?;

        if record.issued == 0 && matches!(record.status, PoolStatus::Draft | PoolStatus::Paused) {
            // The CSV is written before the codes are issued: a run interrupted after the
            // issue finds its codes; one interrupted before reuses them.
            let codes = match read_codes(&csv, plan.codes) {
                Some(codes) => codes,
                None => {
                    let codes = generate_codes(plan.prefix, plan.codes)?;
                    write_codes(&csv, &codes)?;
                    codes
                }
            };
            let data_key = self
                .signing_key(plan.org, crate::devtools::localnet::DATA_KEY)?
                .to_bytes();
            let sealed = codes
                .iter()
                .map(|code| IssuedCode {
                    code_hash: code_hash(code),
                    sealed: seal_code(&data_key, random(), &id, code),
                })
                .collect();
            let what = format!("issuing {} codes into pool {id}", codes.len());
            let kind = TxKind::IssueCodes(IssueCodesTx {
                pool: id.clone(),
                codes: sealed,
            });
            if let Err(rejection) = self.submit(&what, &issuer, kind).await?
                && self.existing_pool(&id, &org)?.issued == 0
            {
                return Err(DemoError::Rejected { what, rejection });
            }
        }

        if self.existing_pool(&id, &org)?.status == PoolStatus::Draft {
            let what = format!("activating pool {id}");
            let kind = TxKind::TransitionPool(TransitionPoolTx {
                pool: id.clone(),
                action: PoolAction::Activate,
            });
            if let Err(rejection) = self.submit(&what, &issuer, kind).await?
                && self.existing_pool(&id, &org)?.status == PoolStatus::Draft
            {
                return Err(DemoError::Rejected { what, rejection });
            }
        }

        if self.existing_pool(&id, &org)?.status == PoolStatus::Active {
            for k in 1..=plan.allocations {
                let claim = claim_key(k);
                if self.read(&StateKey::Claim(id.clone(), claim))?.is_some() {
                    continue;
                }
                let what = format!("allocating a coupon of pool {id} (claim {k})");
                let kind = TxKind::Allocate(AllocateTx {
                    pool: id.clone(),
                    member: MemberId(random()),
                    claim,
                });
                match self.submit(&what, &issuer, kind).await? {
                    Ok(_) => {}
                    // The claim was used already (this node's state was behind the chain).
                    Err(r) if r.reason == RejectReason::ClaimConflict => {}
                    Err(rejection) => return Err(DemoError::Rejected { what, rejection }),
                }
            }
        }

        let record = self.existing_pool(&id, &org)?;
        let mut allocations = Vec::new();
        for k in 1..=plan.allocations {
            let Some(StateValue::Claim(serial)) =
                self.read(&StateKey::Claim(id.clone(), claim_key(k)))?
            else {
                continue;
            };
            let token = TokenId {
                pool: id.clone(),
                serial,
            };
            if let Some(StateValue::Token(t)) = self.read(&StateKey::Token(token.clone()))?
                && let Some(member) = t.owner
            {
                allocations.push(DemoAllocation { member, token });
            }
        }
        Ok(DemoPool {
            pool: id,
            org,
            name: record.spec.name,
            status: record.status,
            issued: record.issued,
            allocated: record.allocated,
            codes_csv: csv.exists().then_some(csv),
            allocations,
        })
    }

    /// Org 1's program, then a gift balance and an earn for each of `members` that has no
    /// account yet (a resumed run skips what is there).
    async fn loyalty(&mut self, members: &[MemberId]) -> Result<DemoLoyalty, DemoError> {
        let org = self.layout.org(1).clone();
        let spec: ProgramSpec = toml::from_str(DEMO_PROGRAM)
            .map_err(|e| DemoError::State(format!("the demo program does not parse: {e}")))?;
        if self.read(&StateKey::Program(org.clone()))?.is_none() {
            let admin = self.signing_key(1, "org-admin")?;
            let what = format!("setting {org}'s loyalty program");
            let kind = TxKind::SetProgram(SetProgramTx { spec: spec.clone() });
            if let Err(rejection) = self.submit(&what, &admin, kind).await?
                && self.read(&StateKey::Program(org.clone()))?.is_none()
            {
                return Err(DemoError::Rejected { what, rejection });
            }
        }
        let (issuer, terminal) = (
            self.signing_key(1, "issuer")?,
            self.signing_key(1, "terminal")?,
        );
        for (i, member) in members.iter().enumerate() {
            if self
                .read(&StateKey::Account(org.clone(), *member))?
                .is_some()
            {
                continue;
            }
            let what = format!("loading a demo gift balance ({i})");
            let load = TxKind::Load(LoadTx {
                program: org.clone(),
                member: *member,
                segment: Segment::Gift,
                amount: 2_500,
                reference: format!("demo-gift-{i}"),
            });
            if let Err(rejection) = self.submit(&what, &issuer, load).await? {
                return Err(DemoError::Rejected { what, rejection });
            }
            let what = format!("earning on a demo order ({i})");
            let earn = TxKind::Earn(EarnTx {
                program: org.clone(),
                member: *member,
                order_ref: format!("demo-order-{i}"),
                order: Order {
                    currency: spec.currency,
                    total_minor: 8_000,
                    lines: vec![],
                },
            });
            match self.submit(&what, &terminal, earn).await? {
                Ok(_) => {}
                Err(r) if r.reason == RejectReason::AlreadyEarned => {}
                Err(rejection) => return Err(DemoError::Rejected { what, rejection }),
            }
        }
        Ok(DemoLoyalty {
            org,
            name: spec.name,
            members: members.to_vec(),
        })
    }

    /// The pool `id`, which must exist and belong to `org`.
    fn existing_pool(&self, id: &PoolId, org: &OrgId) -> Result<PoolRecord, DemoError> {
        let record = self
            .pool_record(id)?
            .ok_or_else(|| DemoError::State(format!("pool {id} vanished")))?;
        if &record.owner != org {
            return Err(DemoError::PoolTaken {
                pool: id.clone(),
                owner: record.owner,
                expected: org.clone(),
            });
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devtools::localnet::{LocalnetSpec, init};
    use couponcactus_chaincode::codes::open_code;
    use couponcactus_chaincode::types::TokenStatus;
    use couponcactus_genesis::Genesis;
    use couponcactus_node::config::NodeConfig;
    use couponcactus_node::node::start;
    use couponcactus_node::storage::Store;

    struct Running {
        node: NodeHandle,
        thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.node.shutdown();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Starts node `i` of `layout` as `cactusd --config` does (without the API).
    fn start_node(layout: &LocalnetLayout, i: usize) -> Running {
        let config = NodeConfig::load(&layout.config(i)).unwrap();
        let genesis = Genesis::load(&config.genesis).unwrap();
        let key = KeyFile::load(&config.node_key).unwrap();
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let store = Store::open(&config.data_dir).unwrap();
        let (node, thread) = start(
            store,
            &genesis.initial,
            genesis.hash(),
            key.signing_key(),
            config.options(),
            None,
        )
        .unwrap();
        Running {
            node,
            thread: Some(thread),
        }
    }

    fn pool_record(node: &NodeHandle, id: &str) -> PoolRecord {
        match node
            .store()
            .get(&StateKey::Pool(PoolId(id.into())))
            .unwrap()
        {
            Some(StateValue::Pool(p)) => p,
            other => panic!("pool {id}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn seeding_a_one_node_localnet_twice_changes_it_once() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = init(&LocalnetSpec::new(tmp.path(), 1)).unwrap();
        let running = start_node(&layout, 1);
        let node = &running.node;

        let first = seed(node, &layout).await.unwrap();
        assert_eq!(first.keys_registered, 4);
        assert_eq!(first.pools.len(), 1, "one org, one pool");
        let pool = &first.pools[0];
        assert_eq!(pool.pool.as_str(), DEMO_POOL);
        assert_eq!(pool.status, PoolStatus::Active);
        assert_eq!(pool.issued, DEMO_CODES as u64);
        assert_eq!(pool.allocated, DEMO_ALLOCATIONS);
        assert_eq!(pool.allocations.len(), DEMO_ALLOCATIONS as usize);
        // keys + create + issue + activate + allocations + program + (load, earn) each
        let allocations = DEMO_ALLOCATIONS as usize;
        assert_eq!(
            first.txs_submitted,
            4 + 3 + allocations + 1 + 2 * allocations
        );
        let loyalty = first.loyalty.clone().expect("the demo program");
        assert_eq!(loyalty.name, "Dev Rewards");
        assert_eq!(loyalty.members.len(), allocations);
        for m in &loyalty.members {
            let key = StateKey::Account(layout.org(1).clone(), *m);
            let Some(StateValue::Account(a)) = node.store().get(&key).unwrap() else {
                panic!("no account for demo member {m}");
            };
            let balances = a.balances();
            assert_eq!(balances[&Segment::Gift], 2_500);
            assert_eq!(
                balances[&Segment::Mileage],
                80,
                "a point per euro on 80.00 EUR"
            );
        }
        let members: BTreeSet<_> = pool.allocations.iter().map(|a| a.member).collect();
        assert_eq!(members.len(), DEMO_ALLOCATIONS as usize);
        for a in &pool.allocations {
            match node.store().get(&StateKey::Token(a.token.clone())).unwrap() {
                Some(StateValue::Token(t)) => {
                    assert_eq!(t.owner, Some(a.member));
                    assert_eq!(t.status, TokenStatus::Allocated);
                }
                other => panic!("{}: {other:?}", a.token),
            }
        }
        for (name, _) in org_roles(layout.org(1)) {
            let key = KeyFile::load(&layout.org_key(1, name))
                .unwrap()
                .public_key();
            assert!(matches!(
                node.store().get(&StateKey::Key(key)).unwrap(),
                Some(StateValue::Key(_))
            ));
        }

        // The CSV is the clear copy of exactly the issued codes, by serial.
        let csv = pool.codes_csv.clone().expect("codes CSV");
        assert_eq!(csv, layout.codes_csv(1, DEMO_POOL));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&csv).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let codes = read_codes(&csv, DEMO_CODES).expect("20 distinct codes");
        let data_key = KeyFile::load(&layout.data_key(1))
            .unwrap()
            .signing_key()
            .to_bytes();
        for (serial, code) in codes.iter().enumerate() {
            assert!(code.starts_with("SPRING-"));
            let token = TokenId {
                pool: pool.pool.clone(),
                serial: serial as u64,
            };
            let Some(StateValue::Token(t)) = node.store().get(&StateKey::Token(token)).unwrap()
            else {
                panic!("token {serial} missing");
            };
            assert_eq!(t.code_hash, code_hash(code));
            assert_eq!(&open_code(&data_key, &pool.pool, &t.sealed).unwrap(), code);
        }
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(layout.demo_summary()).unwrap()).unwrap();
        assert_eq!(written["pools"][0]["pool"], DEMO_POOL);

        // A second run finds everything done.
        let height = node.store().tip().unwrap().height;
        let second = seed(node, &layout).await.unwrap();
        assert_eq!(second.txs_submitted, 0);
        assert_eq!(second.keys_registered, 0);
        assert_eq!(second.pools, first.pools);
        assert_eq!(second.loyalty, first.loyalty);
        assert_eq!(node.store().tip().unwrap().height, height);
        assert_eq!(read_codes(&csv, DEMO_CODES).unwrap(), codes);
        print!("{second}");
    }

    #[tokio::test]
    async fn a_resumed_seed_finishes_a_half_done_pool_and_two_orgs_get_two_pools() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = init(&LocalnetSpec::new(tmp.path(), 2)).unwrap();
        // Node 2 as a learner, so node 1 alone forms the quorum without the transport.
        let mut genesis = Genesis::load(&layout.genesis()).unwrap();
        genesis.initial.nodes[1].voter = false;
        std::fs::write(
            layout.genesis(),
            Genesis::new(genesis.initial).unwrap().to_toml(),
        )
        .unwrap();
        let running = start_node(&layout, 1);
        let node = &running.node;
        wait_for_leader(node, LEADER_WAIT).await.unwrap();

        // An interrupted first run: acme's keys registered, its pool created and its codes
        // CSV written, nothing issued yet.
        let mut seeder = Seeder {
            node,
            layout: &layout,
            nonce: 1,
            submitted: 0,
        };
        seeder.register_keys(1).await.unwrap();
        let plan = plans(&layout, now_ms()).remove(0);
        let issuer = seeder.signing_key(1, "issuer").unwrap();
        seeder
            .submit(
                "create",
                &issuer,
                TxKind::CreatePool(CreatePoolTx {
                    pool: plan.pool.clone(),
                    spec: plan.spec.clone(),
                }),
            )
            .await
            .unwrap()
            .unwrap();
        let early = generate_codes("SPRING-", DEMO_CODES).unwrap();
        write_codes(&layout.codes_csv(1, DEMO_POOL), &early).unwrap();

        let summary = seed(node, &layout).await.unwrap();
        assert_eq!(summary.keys_registered, 4, "globex's keys only");
        assert_eq!(summary.pools.len(), 2);
        let acme = &summary.pools[0];
        assert_eq!(acme.issued, DEMO_CODES as u64);
        assert_eq!(acme.allocations.len(), DEMO_ALLOCATIONS as usize);
        // The codes written before the interruption are the ones issued.
        assert_eq!(
            read_codes(&layout.codes_csv(1, DEMO_POOL), DEMO_CODES).unwrap(),
            early
        );
        let first = TokenId {
            pool: PoolId(DEMO_POOL.into()),
            serial: 0,
        };
        let Some(StateValue::Token(t)) = node.store().get(&StateKey::Token(first)).unwrap() else {
            panic!("token 0 missing");
        };
        assert_eq!(t.code_hash, code_hash(&early[0]));

        let globex = &summary.pools[1];
        assert_eq!(globex.pool.as_str(), SECOND_POOL);
        assert_eq!(globex.org, *layout.org(2));
        assert_eq!((globex.issued, globex.allocations.len()), (10, 3));
        let record = pool_record(node, SECOND_POOL);
        assert_eq!(record.spec.partner_orgs, [layout.org(1).clone()]);
        assert_eq!(record.status, PoolStatus::Active);
        assert_eq!(pool_record(node, DEMO_POOL).allocated, DEMO_ALLOCATIONS);

        let again = seed(node, &layout).await.unwrap();
        assert_eq!(again.txs_submitted, 0);
        assert_eq!(again.pools, summary.pools);
    }

    #[test]
    fn claim_keys_are_fixed_and_distinct() {
        assert_eq!(claim_key(1), claim_key(1));
        assert_ne!(claim_key(1), claim_key(2));
    }
}
