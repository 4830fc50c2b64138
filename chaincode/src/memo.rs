//! Tx memos: a short free text the signer attaches to a tx (e.g. the merchant console puts
//! the id of the staff user who made a change), so that every change on the ledger can be
//! tied to the person responsible.
//!
//! A [`Memo`] is part of the signed body bytes (so it is attributable and cannot be altered)
//! and kept in the block (so it is provable), but execution ignores it. It can only be
//! built valid: [`Memo::new`], serde deserialization and the binary `Decode` all check the
//! rule of [`validate_memo`], so a tx carrying a malformed memo does not even decode.

use bincode::de::Decoder;
use bincode::error::DecodeError;
use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest memo, in bytes of UTF-8.
pub const MAX_MEMO_BYTES: usize = 128;

/// Why a text is not a valid memo.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum MemoError {
    /// The text is empty.
    #[error("invalid memo: must not be empty (1 to {MAX_MEMO_BYTES} bytes)")]
    Empty,
    /// The text is longer than [`MAX_MEMO_BYTES`].
    #[error("invalid memo: {0} bytes long, at most {MAX_MEMO_BYTES} bytes of UTF-8 allowed")]
    TooLong(usize),
    /// The text has a control character (Unicode category Cc: C0, DEL, C1).
    #[error(
        "invalid memo: control character U+{0:04X} at byte {1} (no control characters allowed)"
    )]
    ControlCharacter(u32, usize),
    /// The text is only whitespace.
    #[error("invalid memo: must not be only whitespace")]
    OnlyWhitespace,
}

/// The memo rule: 1 to [`MAX_MEMO_BYTES`] bytes of UTF-8, no control character (Unicode
/// general category Cc), not only whitespace.
pub fn validate_memo(text: &str) -> Result<(), MemoError> {
    if text.is_empty() {
        return Err(MemoError::Empty);
    }
    if text.len() > MAX_MEMO_BYTES {
        return Err(MemoError::TooLong(text.len()));
    }
    if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(MemoError::ControlCharacter(u32::from(c), at));
    }
    if text.trim().is_empty() {
        return Err(MemoError::OnlyWhitespace);
    }
    Ok(())
}

/// A valid memo (see [`validate_memo`]). Encodes as a string (u64 LE length, then the
/// UTF-8 bytes) and shows in JSON as a string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Serialize)]
#[serde(transparent)]
pub struct Memo(String);

impl Memo {
    /// Builds a memo, checking the rule.
    pub fn new(text: impl Into<String>) -> Result<Self, MemoError> {
        let text = text.into();
        validate_memo(&text)?;
        Ok(Memo(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Memo({:?})", self.0)
    }
}

impl FromStr for Memo {
    type Err = MemoError;
    fn from_str(s: &str) -> Result<Self, MemoError> {
        Memo::new(s)
    }
}

impl AsRef<str> for Memo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Memo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Memo::new(text).map_err(serde::de::Error::custom)
    }
}

impl<Context> Decode<Context> for Memo {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let text = String::decode(decoder)?;
        Memo::new(text).map_err(|e| DecodeError::OtherString(e.to_string()))
    }
}

bincode::impl_borrow_decode!(Memo);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{EncodingError, decode, encode};

    #[test]
    fn valid_memos_are_accepted() {
        for ok in ["staff:u-42", "a", "Ünïcödé ✓", " padded ", &"x".repeat(128)] {
            let memo = Memo::new(ok).unwrap();
            assert_eq!(memo.as_str(), ok);
            assert_eq!(memo.to_string(), ok);
        }
        // 64 two-byte characters are 128 bytes.
        assert!(Memo::new("é".repeat(64)).is_ok());
    }

    #[test]
    fn bad_memos_are_refused_with_a_clear_error() {
        assert_eq!(Memo::new(""), Err(MemoError::Empty));
        assert_eq!(Memo::new("x".repeat(129)), Err(MemoError::TooLong(129)));
        assert_eq!(Memo::new("é".repeat(65)), Err(MemoError::TooLong(130)));
        assert_eq!(
            Memo::new("ab\ncd"),
            Err(MemoError::ControlCharacter(0x0a, 2))
        );
        assert_eq!(
            Memo::new("tab\there"),
            Err(MemoError::ControlCharacter(0x09, 3))
        );
        assert!(matches!(
            Memo::new("x\u{7f}"),
            Err(MemoError::ControlCharacter(0x7f, 1))
        ));
        assert!(matches!(
            Memo::new("x\u{85}"),
            Err(MemoError::ControlCharacter(0x85, 1))
        ));
        assert_eq!(Memo::new("   "), Err(MemoError::OnlyWhitespace));
        assert_eq!(Memo::new("\u{3000}"), Err(MemoError::OnlyWhitespace));
        let text = Memo::new("x".repeat(200)).unwrap_err().to_string();
        assert!(text.contains("200 bytes") && text.contains("128"), "{text}");
        let text = Memo::new("a\u{1}").unwrap_err().to_string();
        assert!(text.contains("U+0001"), "{text}");
    }

    #[test]
    fn memos_round_trip_through_bytes_and_json() {
        let memo = Memo::new("staff:u-42").unwrap();
        let bytes = encode(&memo);
        assert_eq!(bytes, encode(&"staff:u-42".to_string()));
        assert_eq!(decode::<Memo>(&bytes).unwrap(), memo);
        let json = serde_json::to_string(&memo).unwrap();
        assert_eq!(json, "\"staff:u-42\"");
        assert_eq!(serde_json::from_str::<Memo>(&json).unwrap(), memo);
        let some = Some(memo);
        assert_eq!(decode::<Option<Memo>>(&encode(&some)).unwrap(), some);
    }

    #[test]
    fn decoding_and_deserializing_check_the_rule() {
        for bad in [
            String::new(),
            "x".repeat(129),
            "a\u{0}b".into(),
            "  ".into(),
        ] {
            let why = Memo::new(bad.clone()).unwrap_err().to_string();
            assert_eq!(
                decode::<Memo>(&encode(&bad)),
                Err(EncodingError::Malformed(why.clone())),
                "{bad:?}"
            );
            let json = serde_json::to_string(&bad).unwrap();
            let err = serde_json::from_str::<Memo>(&json).unwrap_err().to_string();
            assert!(err.contains(&why), "{err}");
        }
    }
}
