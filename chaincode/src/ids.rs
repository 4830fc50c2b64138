//! Identifiers: fixed-size byte ids (hashes, keys, member ids) and validated name slugs.
//!
//! Byte ids encode as their raw bytes (no length prefix) and show as lowercase hex in JSON
//! and text. Name slugs (org, pool, store, channel, category ids) are short ASCII strings
//! chosen by people; [`validate_slug`] is the one rule for them, applied when a tx that
//! introduces a name is executed.

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a hex id could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Not hex, or not the right length.
    #[error("expected {expected} hex characters, got {got:?}")]
    BadHex {
        /// Number of hex characters expected.
        expected: usize,
        /// The offending input (truncated to 80 characters).
        got: String,
    },
    /// A name slug broke the slug rule.
    #[error("invalid name {name:?}: {why}")]
    BadSlug {
        /// The offending name (truncated to 80 characters).
        name: String,
        /// What rule it broke.
        why: &'static str,
    },
}

macro_rules! byte_id {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex of the bytes.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|_| IdError::BadHex {
                    expected: 2 * $len,
                    got: s.chars().take(80).collect(),
                })?;
                Ok(Self(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

byte_id!(
    /// blake3 digest (tx ids, block hashes, roots).
    Hash32,
    32
);
byte_id!(
    /// Id of a transaction: blake3 over its body bytes and signer (see [`crate::tx`]).
    TxId,
    32
);
byte_id!(
    /// An ed25519 public key, as its 32-byte compressed encoding.
    PublicKey,
    32
);
byte_id!(
    /// An ed25519 signature (R ‖ s).
    SignatureBytes,
    64
);
byte_id!(
    /// Hash of a plaintext coupon code ([`crate::codes::code_hash`]); codes are never stored.
    CodeHash,
    32
);
byte_id!(
    /// A pseudonymous member id: a keyed hash the org computes from its own customer id.
    /// The ledger never sees who a member is; erasing the org's key makes it unlinkable.
    MemberId,
    32
);
byte_id!(
    /// An allocation's idempotency key: the same claim key always yields the same token.
    ClaimKey,
    32
);

/// Longest slug, in bytes.
pub const MAX_SLUG_LEN: usize = 64;

/// The slug rule: 1 to 64 bytes of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or digit.
pub fn validate_slug(name: &str) -> Result<(), IdError> {
    let bad = |why| {
        Err(IdError::BadSlug {
            name: name.chars().take(80).collect(),
            why,
        })
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > MAX_SLUG_LEN {
        return bad("longer than 64 bytes");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must start with a lowercase letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
    {
        return bad("only a-z, 0-9, '-', '_' and '.' are allowed");
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Builds the id, checking the slug rule.
            pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
                let name = name.into();
                validate_slug(&name)?;
                Ok(Self(name))
            }

            /// Checks the slug rule (ids decoded from bytes are not checked until executed).
            pub fn validate(&self) -> Result<(), IdError> {
                validate_slug(&self.0)
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
    };
}

slug_id!(
    /// A consortium member organisation (merchant or brand).
    OrgId
);
slug_id!(
    /// A coupon pool (campaign); unique across the ledger, chosen by its creator.
    PoolId
);
slug_id!(
    /// A store of an org, as terminals are bound to one.
    StoreId
);
slug_id!(
    /// A sales channel (`pos`, `web`, `app`, …), as terminals are bound to one.
    Channel
);
slug_id!(
    /// A product category, for excluded categories.
    Category
);
slug_id!(
    /// The chain a tx is meant for; part of what every signature covers.
    ChainId
);

/// One coupon token: the `serial`-th token minted in `pool`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct TokenId {
    /// The pool the token belongs to.
    pub pool: PoolId,
    /// Position in the pool, from 0, in issue order.
    pub serial: u64,
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pool, self.serial)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

impl FromStr for TokenId {
    type Err = IdError;
    /// Parses `pool/serial`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::BadSlug {
            name: s.chars().take(80).collect(),
            why: "a token id is POOL/SERIAL",
        };
        let (pool, serial) = s.rsplit_once('/').ok_or_else(bad)?;
        Ok(Self {
            pool: PoolId::new(pool)?,
            serial: serial.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_round_trip_and_reject_bad_input() {
        let id = TxId([0xab; 32]);
        assert_eq!(id.to_string().parse::<TxId>().unwrap(), id);
        assert!("abc".parse::<TxId>().is_err());
        assert!("zz".repeat(32).parse::<TxId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), id);
    }

    #[test]
    fn slugs_follow_the_rule() {
        assert!(PoolId::new("spring-sale_2026.v1").is_ok());
        for bad in ["", "-x", "Upper", "with space", "é", &"a".repeat(65)] {
            assert!(PoolId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(PoolId::new("a".repeat(64)).is_ok());
    }

    #[test]
    fn token_ids_parse() {
        let t: TokenId = "spring/42".parse().unwrap();
        assert_eq!(t.serial, 42);
        assert_eq!(t.to_string(), "spring/42");
        assert!("spring".parse::<TokenId>().is_err());
        assert!("spring/x".parse::<TokenId>().is_err());
    }
}
