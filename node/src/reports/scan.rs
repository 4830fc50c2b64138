//! Bounded scans of the current state: the entries under a key prefix, read in chunks of
//! [`CHUNK`] with [`Store::state_with_prefix`], at most a caller's limit, and whether more
//! were left unread. Shared by the reports and the console pages that list state.

use crate::storage::{StorageError, Store};
use couponcactus_chaincode::state::{StateKey, StateValue};

/// Entries read from the store at a time.
pub const CHUNK: usize = 1_000;

/// Visits the state entries under `prefix`, at most `max`, reading them in chunks:
/// how many it visited and whether more were left unread.
pub fn visit(
    store: &Store,
    prefix: &[u8],
    max: usize,
    mut f: impl FnMut(StateKey, StateValue),
) -> Result<(usize, bool), StorageError> {
    let (mut seen, mut after) = (0usize, None);
    loop {
        let want = CHUNK.min(max - seen);
        let (chunk, more) = store.state_with_prefix(prefix, after.as_ref(), want)?;
        seen += chunk.len();
        after = chunk.last().map(|(k, _)| k.clone());
        for (k, v) in chunk {
            f(k, v);
        }
        if !more {
            return Ok((seen, false));
        }
        if seen >= max {
            return Ok((seen, true));
        }
    }
}

/// The key bytes every key of `key`'s variant (and leading fields) starts with: `key`'s
/// bytes without its trailing `id_len`-byte id (32 for a member or tx id, 8 for a serial).
pub fn prefix_without(key: StateKey, id_len: usize) -> Vec<u8> {
    let mut bytes = key.to_bytes();
    bytes.truncate(bytes.len().saturating_sub(id_len));
    bytes
}

/// [`prefix_without`] a trailing 32-byte id.
pub fn prefix_of(key: StateKey) -> Vec<u8> {
    prefix_without(key, 32)
}
