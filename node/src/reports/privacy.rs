//! The privacy report of one org: consent coverage per purpose among the members it knows,
//! and its erasure log. Read from the ledger's state with bounded scans of the org's
//! member registry (`StateKey::Member`), consent records (`StateKey::Consent`, the latest
//! decision per member and purpose) and erasure receipts (`StateKey::Erasure`); every
//! entry is provable with a point read at the height named.

use super::ReportsError;
use super::scan::visit;
use crate::storage::Store;
use couponcactus_chaincode::consent::Purpose;
use couponcactus_chaincode::ids::{MemberId, OrgId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_client::analytics::Rate;
use couponcactus_client::privacy_report::{ConsentCoverage, ErasureEntry};
use std::collections::BTreeMap;

/// Most entries one scan reads (`truncated` beyond).
pub const MAX_ENTRIES: usize = 2_000_000;

/// What the state says, before stamping.
#[derive(Debug, Default)]
pub struct Privacy {
    /// Members in the registry.
    pub known: u64,
    /// Per purpose.
    pub consent: Vec<ConsentCoverage>,
    /// Erasure receipts, oldest first.
    pub erasures: Vec<ErasureEntry>,
    /// A scan reached `max`.
    pub truncated: bool,
}

/// The bytes two keys share from the start.
fn common(a: StateKey, b: StateKey) -> Vec<u8> {
    let (a, b) = (a.to_bytes(), b.to_bytes());
    let n = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    a[..n].to_vec()
}

/// The key prefix of `org`'s entries of a keyed-by-member variant (`make` builds one).
fn org_prefix(make: impl Fn(MemberId) -> StateKey) -> Vec<u8> {
    common(make(MemberId([0; 32])), make(MemberId([0xff; 32])))
}

/// `org`'s consent coverage and erasure log, reading at most `max` entries per scan.
pub fn privacy(store: &Store, org: &OrgId, max: usize) -> Result<Privacy, ReportsError> {
    let mut out = Privacy::default();
    let members = org_prefix(|m| StateKey::Member(org.clone(), m));
    let (known, more) = visit(store, &members, max, |_, _| {})?;
    out.known = known as u64;
    out.truncated |= more;
    let mut tally: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in [Purpose::Marketing, Purpose::Profiling] {
        tally.insert(p.label(), (0, 0));
    }
    let consents = org_prefix(|m| StateKey::Consent(org.clone(), m, Purpose::Marketing));
    let (_, more) = visit(store, &consents, max, |key, value| {
        if let (StateKey::Consent(o, _, purpose), StateValue::Consent(r)) = (key, value)
            && o == *org
        {
            let t = tally.entry(purpose.label()).or_default();
            if r.granted {
                t.0 += 1;
            } else {
                t.1 += 1;
            }
        }
    })?;
    out.truncated |= more;
    out.consent = tally
        .into_iter()
        .map(|(purpose, (granted, withdrawn))| ConsentCoverage {
            purpose,
            granted,
            withdrawn,
            no_record: out.known.saturating_sub(granted + withdrawn),
            coverage: Rate::of(granted, out.known),
        })
        .collect();
    let erasures = org_prefix(|m| StateKey::Erasure(org.clone(), m));
    let (_, more) = visit(store, &erasures, max, |key, value| {
        if let (StateKey::Erasure(o, member), StateValue::Erasure(r)) = (key, value)
            && o == *org
        {
            out.erasures.push(ErasureEntry {
                member: member.to_string(),
                at_ms: r.at_ms,
                height: r.height,
            });
        }
    })?;
    out.truncated |= more;
    out.erasures.sort_by_key(|e| (e.height, e.member.clone()));
    Ok(out)
}
