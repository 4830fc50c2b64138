//! The three-way match (`POST /v1/directory/match`, `cactus member find`): from any of an
//! email, a phone number, a campaign recipient id and a member id to one member.
//!
//! Each input given resolves to one subject or to nothing: an email or phone number
//! (normalized as [`super::record`] says) and a recipient id (exact) through their blind
//! index, a member id when the directory holds it. Then ([`decide`]):
//! - every input that resolves names the same subject: that member, with the inputs
//!   that named it (`matched_by`) and those that resolved to nothing (`unmatched`);
//! - they name different subjects: `match_conflict`, naming the inputs that disagree
//!   grouped by the subject they name (input names only: nothing of any subject);
//! - none resolves: `not_found`.
//!
//! No input at all is `invalid`.

use super::DirectoryError;
use super::record::{IndexKind, check_recipient_id, normalize_email, normalize_phone};
use super::store::DirectoryStore;
use couponcactus_chaincode::ids::MemberId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The inputs of a match; any of them, at least one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchInputs {
    /// An email (normalized before the lookup).
    #[serde(default)]
    pub email: Option<String>,
    /// A phone number (normalized before the lookup).
    #[serde(default)]
    pub phone: Option<String>,
    /// A campaign recipient id (exact).
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// A member id (64 hex).
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-fA-F]{64}$")]
    pub member: Option<MemberId>,
    /// Free random text that keeps the body's hash unguessable; not used.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// A match: the member and how it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Matched {
    /// The member every resolving input names.
    #[schema(value_type = String)]
    pub member: MemberId,
    /// The inputs that named it (`email`, `phone`, `recipient_id`, `member`).
    pub matched_by: Vec<String>,
    /// The inputs given that resolved to nothing.
    pub unmatched: Vec<String>,
}

/// The rule over resolved inputs `(input name, subject or nothing)`, in input order.
pub fn decide(resolved: &[(&'static str, Option<MemberId>)]) -> Result<Matched, DirectoryError> {
    if resolved.is_empty() {
        return Err(DirectoryError::Invalid(
            "give at least one of email, phone, recipient_id and member".into(),
        ));
    }
    let mut groups: Vec<(MemberId, Vec<String>)> = Vec::new();
    let mut unmatched = Vec::new();
    for (name, found) in resolved {
        match found {
            None => unmatched.push(name.to_string()),
            Some(m) => match groups.iter_mut().find(|(g, _)| g == m) {
                Some((_, names)) => names.push(name.to_string()),
                None => groups.push((*m, vec![name.to_string()])),
            },
        }
    }
    match groups.len() {
        0 => Err(DirectoryError::NotFound(format!(
            "no member of the directory matches the {} given",
            unmatched.join(", ")
        ))),
        1 => {
            let (member, matched_by) = groups.remove(0);
            Ok(Matched {
                member,
                matched_by,
                unmatched,
            })
        }
        _ => {
            let groups: Vec<Vec<String>> = groups.into_iter().map(|(_, n)| n).collect();
            let described: Vec<String> = groups.iter().map(|g| g.join(" and ")).collect();
            Err(DirectoryError::MatchConflict {
                message: format!(
                    "the inputs name different members: {} (each group names one member)",
                    described.join("; ")
                ),
                groups,
            })
        }
    }
}

/// Resolves each input given and applies [`decide`].
pub fn find(store: &DirectoryStore, inputs: &MatchInputs) -> Result<Matched, DirectoryError> {
    let mut resolved: Vec<(&'static str, Option<MemberId>)> = Vec::with_capacity(4);
    if let Some(e) = &inputs.email {
        let e = normalize_email(e)?;
        resolved.push(("email", store.lookup(IndexKind::Email, &e)?));
    }
    if let Some(p) = &inputs.phone {
        let p = normalize_phone(p)?;
        resolved.push(("phone", store.lookup(IndexKind::Phone, &p)?));
    }
    if let Some(r) = &inputs.recipient_id {
        let r = check_recipient_id(r)?;
        resolved.push(("recipient_id", store.lookup(IndexKind::Recipient, r)?));
    }
    if let Some(m) = &inputs.member {
        let known = store.contains(m)?.then_some(*m);
        resolved.push(("member", known));
    }
    decide(&resolved)
}
