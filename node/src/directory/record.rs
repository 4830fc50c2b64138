//! A subject's record (what is sealed under the subject's key) and the rules its fields
//! follow.
//!
//! Normalization, applied before anything is stored or indexed:
//! - **email**: surrounding whitespace trimmed, then lowercased (ASCII and Unicode);
//!   `Alice@Example.COM ` and `alice@example.com` are one address. At most
//!   [`MAX_EMAIL`] bytes, exactly one `@` with text on both sides, a dot in the domain,
//!   no whitespace or control characters.
//! - **phone**: a leading `+` kept, every other character but digits dropped
//!   (`+49 (30) 1234-567` is `+49301234567`); [`MIN_PHONE_DIGITS`] to
//!   [`MAX_PHONE_DIGITS`] digits (E.164); only spaces, `-`, `.`, `(`, `)` and `/` may be
//!   dropped, any other character is refused.
//! - **recipient id** (a campaign's recipient, e.g. a mailing tool's contact id): exact,
//!   1 to [`MAX_RECIPIENT_ID`] bytes of printable ASCII without spaces; at most
//!   [`MAX_RECIPIENT_IDS`] per subject.
//! - **name** and **external customer ref**: trimmed, at most [`MAX_NAME`] and
//!   [`MAX_EXTERNAL_REF`] characters, no control characters.
//!
//! Error messages name the field and the rule, never the value (they may be logged).

use super::DirectoryError;
use couponcactus_chaincode::ids::MemberId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest email, bytes (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Fewest digits of a phone number.
pub const MIN_PHONE_DIGITS: usize = 4;
/// Most digits of a phone number (E.164).
pub const MAX_PHONE_DIGITS: usize = 15;
/// Longest phone number as given, bytes (with its separators).
pub const MAX_PHONE_INPUT: usize = 32;
/// Longest name, characters.
pub const MAX_NAME: usize = 200;
/// Longest recipient id, bytes.
pub const MAX_RECIPIENT_ID: usize = 128;
/// Most recipient ids of one subject.
pub const MAX_RECIPIENT_IDS: usize = 64;
/// Longest external customer reference, characters.
pub const MAX_EXTERNAL_REF: usize = 128;

/// What `POST /v1/directory/members` sends: a new subject, or changes to one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    /// The member id (64 hex): an existing subject to update, or an id to import (a
    /// member the org already has on the ledger). Absent: a new subject with a random id.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-fA-F]{64}$")]
    pub member: Option<MemberId>,
    /// Email (normalized: trimmed, lowercased; at most 254 bytes).
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number (normalized to digits with a leading `+` if given; 4 to 15 digits).
    #[serde(default)]
    pub phone: Option<String>,
    /// Name (at most 200 characters).
    #[serde(default)]
    pub name: Option<String>,
    /// Campaign recipient ids to add (exact; at most 64 per subject, 128 bytes each).
    #[serde(default)]
    pub recipient_ids: Vec<String>,
    /// The org's own customer reference (at most 128 characters).
    #[serde(default)]
    pub external_ref: Option<String>,
    /// Free random text the client adds so that the body's hash (`body_sha256`, in the
    /// request target) cannot be guessed from the personal data in it; not stored.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// A subject's record: what is sealed under its key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubjectRecord {
    /// Normalized email.
    pub email: Option<String>,
    /// Normalized phone number.
    pub phone: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Campaign recipient ids.
    pub recipient_ids: Vec<String>,
    /// The org's own customer reference.
    pub external_ref: Option<String>,
    /// When the subject was added, ms since the Unix epoch.
    pub created_ms: u64,
    /// When it last changed, ms.
    pub updated_ms: u64,
}

fn invalid(message: String) -> DirectoryError {
    DirectoryError::Invalid(message)
}

/// The normalized email (see the module doc).
pub fn normalize_email(email: &str) -> Result<String, DirectoryError> {
    let e = email.trim().to_lowercase();
    let rule = format!(
        "email: expected one address local@domain.tld of at most {MAX_EMAIL} bytes, without spaces"
    );
    if e.is_empty() || e.len() > MAX_EMAIL || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(rule));
    }
    match e.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(e)
        }
        _ => Err(invalid(rule)),
    }
}

/// The normalized phone number (see the module doc).
pub fn normalize_phone(phone: &str) -> Result<String, DirectoryError> {
    let p = phone.trim();
    let rule = || {
        invalid(format!(
            "phone: expected {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits, an optional leading +, and only spaces, '-', '.', '(', ')' or '/' between them (at most {MAX_PHONE_INPUT} bytes)"
        ))
    };
    if p.len() > MAX_PHONE_INPUT {
        return Err(rule());
    }
    let (plus, rest) = match p.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", p),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return Err(rule()),
        }
    }
    if !(MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&digits.len()) {
        return Err(rule());
    }
    Ok(format!("{plus}{digits}"))
}

/// A recipient id, checked (exact: not changed).
pub fn check_recipient_id(id: &str) -> Result<&str, DirectoryError> {
    let ok =
        !id.is_empty() && id.len() <= MAX_RECIPIENT_ID && id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(id)
    } else {
        Err(invalid(format!(
            "recipient id: expected 1 to {MAX_RECIPIENT_ID} bytes of printable ASCII without spaces"
        )))
    }
}

/// A free-text field trimmed and checked against `max` characters.
fn text(field: &str, value: &str, max: usize) -> Result<String, DirectoryError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field}: expected 1 to {max} characters without control characters"
        )));
    }
    Ok(v.to_string())
}

/// The input checked and normalized: every field as it will be stored.
pub fn normalize(input: &SubjectInput) -> Result<SubjectInput, DirectoryError> {
    if input.recipient_ids.len() > MAX_RECIPIENT_IDS {
        return Err(invalid(format!(
            "recipient_ids: at most {MAX_RECIPIENT_IDS} per subject"
        )));
    }
    let mut ids: Vec<String> = Vec::with_capacity(input.recipient_ids.len());
    for id in &input.recipient_ids {
        let id = check_recipient_id(id)?.to_string();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(SubjectInput {
        member: input.member,
        email: input.email.as_deref().map(normalize_email).transpose()?,
        phone: input.phone.as_deref().map(normalize_phone).transpose()?,
        name: input
            .name
            .as_deref()
            .map(|n| text("name", n, MAX_NAME))
            .transpose()?,
        recipient_ids: ids,
        external_ref: input
            .external_ref
            .as_deref()
            .map(|r| text("external_ref", r, MAX_EXTERNAL_REF))
            .transpose()?,
        nonce: None,
    })
}

impl SubjectRecord {
    /// `old` (or a new record) with the normalized `input` applied: fields given replace
    /// the stored ones, recipient ids are added to the stored ones.
    pub fn apply(
        old: Option<SubjectRecord>,
        input: &SubjectInput,
        now_ms: u64,
    ) -> Result<SubjectRecord, DirectoryError> {
        let mut r = old.unwrap_or(SubjectRecord {
            created_ms: now_ms,
            ..SubjectRecord::default()
        });
        if input.email.is_some() {
            r.email.clone_from(&input.email);
        }
        if input.phone.is_some() {
            r.phone.clone_from(&input.phone);
        }
        if input.name.is_some() {
            r.name.clone_from(&input.name);
        }
        if input.external_ref.is_some() {
            r.external_ref.clone_from(&input.external_ref);
        }
        for id in &input.recipient_ids {
            if !r.recipient_ids.contains(id) {
                r.recipient_ids.push(id.clone());
            }
        }
        if r.recipient_ids.len() > MAX_RECIPIENT_IDS {
            return Err(invalid(format!(
                "recipient_ids: at most {MAX_RECIPIENT_IDS} per subject (it would have {})",
                r.recipient_ids.len()
            )));
        }
        r.updated_ms = now_ms;
        Ok(r)
    }

    /// The blind-index entries of the record: `(kind, normalized value)`.
    pub fn index_entries(&self) -> Vec<(IndexKind, String)> {
        let mut out = Vec::with_capacity(self.recipient_ids.len() + 2);
        if let Some(e) = &self.email {
            out.push((IndexKind::Email, e.clone()));
        }
        if let Some(p) = &self.phone {
            out.push((IndexKind::Phone, p.clone()));
        }
        for id in &self.recipient_ids {
            out.push((IndexKind::Recipient, id.clone()));
        }
        out
    }
}

/// What a blind-index row indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexKind {
    /// A normalized email.
    Email,
    /// A normalized phone number.
    Phone,
    /// A recipient id.
    Recipient,
}

impl IndexKind {
    /// Its name (in the index row, in the MAC input, in messages).
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Email => "email",
            IndexKind::Phone => "phone",
            IndexKind::Recipient => "recipient_id",
        }
    }
}
