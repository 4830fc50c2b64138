//! The canonical byte encoding shared by every node, client and auditor.
//!
//! Everything that is hashed or signed (tx bodies, state keys and values, results) is
//! encoded with one bincode 2 configuration: little-endian, fixed-width integers, no
//! variable-length integer tricks. Every type has exactly one encoding, so bytes can be
//! compared, hashed and signed without ambiguity; [`decode`] refuses trailing bytes and
//! inputs larger than [`MAX_DECODE_BYTES`]. `docs/encoding.md` writes the format out byte
//! by byte for implementers in other languages.

use bincode::config::{Configuration, Fixint, LittleEndian, NoLimit};
use bincode::{Decode, Encode};

/// The one bincode configuration of Couponcactus.
pub const CONFIG: Configuration<LittleEndian, Fixint, NoLimit> = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding();

/// The largest input [`decode`] accepts (16 MiB), so a hostile length prefix cannot make a
/// decoder allocate without bound.
pub const MAX_DECODE_BYTES: usize = 16 * 1024 * 1024;

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodingError {
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// A valid value was followed by extra bytes.
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// The input is larger than [`MAX_DECODE_BYTES`].
    #[error("input of {0} bytes exceeds the {MAX_DECODE_BYTES}-byte limit")]
    TooLarge(usize),
}

/// Encodes `value` canonically.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, CONFIG).expect("encoding into a Vec cannot fail")
}

/// Encodes `value` canonically, appending to `out` (no intermediate allocation).
pub fn encode_into<T: Encode>(value: &T, out: &mut Vec<u8>) {
    bincode::encode_into_std_write(value, out, CONFIG).expect("writing to a Vec cannot fail");
}

/// Decodes exactly one value from `bytes`, rejecting trailing bytes.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, EncodingError> {
    if bytes.len() > MAX_DECODE_BYTES {
        return Err(EncodingError::TooLarge(bytes.len()));
    }
    let (value, read) = decode_prefix(bytes)?;
    if read != bytes.len() {
        return Err(EncodingError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// Decodes one value from the start of `bytes` and returns it with the number of bytes it
/// took; what follows is not read (e.g. a block's header without its txs).
pub fn decode_prefix<T: Decode<()>>(bytes: &[u8]) -> Result<(T, usize), EncodingError> {
    let limit = bytes.len().min(MAX_DECODE_BYTES);
    let config = CONFIG.with_limit::<MAX_DECODE_BYTES>();
    bincode::decode_from_slice(&bytes[..limit], config).map_err(|e| match e {
        // A type's own check (e.g. a memo's rule) says plainly what is wrong.
        bincode::error::DecodeError::OtherString(why) => EncodingError::Malformed(why),
        e => EncodingError::Malformed(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_fixed_width_little_endian() {
        assert_eq!(encode(&0x0102_0304u32), vec![4, 3, 2, 1]);
        assert_eq!(encode(&1u64), vec![1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            encode(&"ab".to_string()),
            vec![2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']
        );
        assert_eq!(encode(&Some(7u8)), vec![1, 7]);
        assert_eq!(encode(&true), vec![1]);
    }

    #[test]
    fn a_prefix_decodes_without_what_follows() {
        let mut bytes = encode(&(7u32, 9u64));
        bytes.extend_from_slice(&[0xff; 5]);
        assert_eq!(decode_prefix::<(u32, u64)>(&bytes), Ok(((7, 9), 12)));
        assert!(decode_prefix::<u64>(&[1, 2, 3]).is_err());
    }

    #[test]
    fn trailing_and_invalid_bytes_are_rejected() {
        assert_eq!(
            decode::<u32>(&[1, 0, 0, 0, 9]),
            Err(EncodingError::TrailingBytes(1))
        );
        assert!(matches!(
            decode::<bool>(&[2]),
            Err(EncodingError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Option<u8>>(&[2, 0]),
            Err(EncodingError::Malformed(_))
        ));
        // A length prefix claiming far more bytes than exist must not allocate or succeed.
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(0);
        assert!(decode::<Vec<u8>>(&huge).is_err());
    }
}
