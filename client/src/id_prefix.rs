//! Ids typed shortened, like git: wherever a tx id (a redemption, a proposal) or a public
//! key is asked for, a hex prefix of it will do if it names one id on the chain.
//!
//! The CLI prints ids shortened to 16 hex digits followed by `…`; what a person copies back
//! (with or without the `…`, any case) is checked here first: at least
//! [`MIN_PREFIX_HEX`] hex digits, at most 64. A full id (64 digits) is used as it is,
//! without asking the node (a pending tx is found by its full id only); a shorter prefix is
//! resolved by the node among committed tx ids or registered keys
//! (`GET /v1/txs/prefix/{p}`, `GET /v1/keys/prefix/{p}`), which answers `ambiguous_id`
//! with the candidates when several match.

use crate::node_client::{NodeClient, NodeClientError};
use couponcactus_chaincode::ids::{PublicKey, TxId};

/// Fewest hex digits of a prefix (the node's minimum too).
pub const MIN_PREFIX_HEX: usize = 8;
/// Hex digits of a full id.
pub const FULL_HEX: usize = 64;

/// Why an id as typed cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdPrefixError {
    /// Not hexadecimal.
    #[error("{text:?} is not a hex id or id prefix")]
    NotHex {
        /// What was typed.
        text: String,
    },
    /// Fewer than [`MIN_PREFIX_HEX`] digits: too likely to match many ids.
    #[error(
        "{text:?} is too short: give at least {MIN_PREFIX_HEX} hex digits of the id (the CLI prints 16)"
    )]
    TooShort {
        /// What was typed.
        text: String,
    },
    /// More than 64 digits.
    #[error("{text:?} is longer than an id ({FULL_HEX} hex digits)")]
    TooLong {
        /// What was typed.
        text: String,
    },
    /// The node could not resolve the prefix: `ambiguous_id` (several ids match; the
    /// message names them), `not_found`, or a transport error.
    #[error(transparent)]
    Node(#[from] NodeClientError),
}

/// An id as typed, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdText {
    /// All 64 hex digits (lowercase).
    Full(String),
    /// A prefix of 8 to 63 hex digits (lowercase).
    Prefix(String),
}

/// Checks an id as typed: trims blanks and a trailing `…` or `...` (as the CLI prints
/// shortened ids), lowercases, and requires 8 to 64 hex digits.
pub fn parse_id_text(text: &str) -> Result<IdText, IdPrefixError> {
    let trimmed = text.trim();
    let trimmed = trimmed
        .strip_suffix('…')
        .or_else(|| trimmed.strip_suffix("..."))
        .unwrap_or(trimmed);
    let hex = trimmed.to_ascii_lowercase();
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdPrefixError::NotHex { text: text.into() });
    }
    match hex.len() {
        n if n < MIN_PREFIX_HEX => Err(IdPrefixError::TooShort { text: text.into() }),
        n if n > FULL_HEX => Err(IdPrefixError::TooLong { text: text.into() }),
        FULL_HEX => Ok(IdText::Full(hex)),
        _ => Ok(IdText::Prefix(hex)),
    }
}

/// The tx id `text` names: a full id, or a prefix of exactly one committed tx's id.
pub async fn resolve_tx_id(client: &NodeClient, text: &str) -> Result<TxId, IdPrefixError> {
    let hex = match parse_id_text(text)? {
        IdText::Full(hex) => hex,
        IdText::Prefix(prefix) => client.tx_id_by_prefix(&prefix).await?.id,
    };
    hex.parse()
        .map_err(|_| IdPrefixError::NotHex { text: hex.clone() })
}

/// The public key `text` names: a full key, or a prefix of exactly one registered key.
pub async fn resolve_key(client: &NodeClient, text: &str) -> Result<PublicKey, IdPrefixError> {
    let hex = match parse_id_text(text)? {
        IdText::Full(hex) => hex,
        IdText::Prefix(prefix) => client.key_by_prefix(&prefix).await?.id,
    };
    hex.parse()
        .map_err(|_| IdPrefixError::NotHex { text: hex.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_typed_are_checked_before_any_request() {
        let full = "Ab".repeat(32);
        assert_eq!(parse_id_text(&full).unwrap(), IdText::Full("ab".repeat(32)));
        assert_eq!(
            parse_id_text(" 0123456789ABCDEF… ").unwrap(),
            IdText::Prefix("0123456789abcdef".into())
        );
        assert_eq!(
            parse_id_text("01234567...").unwrap(),
            IdText::Prefix("01234567".into())
        );
        assert!(matches!(
            parse_id_text("0123456"),
            Err(IdPrefixError::TooShort { .. })
        ));
        assert!(matches!(
            parse_id_text("0123456z"),
            Err(IdPrefixError::NotHex { .. })
        ));
        assert!(matches!(
            parse_id_text(""),
            Err(IdPrefixError::NotHex { .. })
        ));
        assert!(matches!(
            parse_id_text(&"0".repeat(65)),
            Err(IdPrefixError::TooLong { .. })
        ));
        let short = parse_id_text("abc").unwrap_err().to_string();
        assert!(short.contains("at least 8 hex digits"), "{short}");
    }
}
