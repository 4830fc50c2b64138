//! Disk scans for bytes that must not be there: after an erasure, no personal datum of the
//! member may remain in any file under a node's data directory (its databases, SQLite and
//! WAL files, RocksDB tables and logs, the node's own log).

use std::path::{Path, PathBuf};

/// Deepest folder nesting a scan follows.
pub const MAX_DEPTH: usize = 16;

/// Every file under `dir`, recursively (at most [`MAX_DEPTH`] folders deep).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    assert!(depth < MAX_DEPTH, "too deep: {}", dir.display());
    for entry in std::fs::read_dir(dir).expect("reading a data directory") {
        let p = entry.expect("an entry").path();
        if p.is_dir() {
            walk(&p, depth + 1, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// The `(file, string)` pairs where one of `needles` is in the raw bytes of a file under
/// `dir` (which must hold more than five files: a scan of an empty or wrong folder would
/// find nothing and prove nothing). Each needle should be at least 8 bytes: a shorter one
/// turns up in megabytes of random bytes by chance.
pub fn leaks<'a>(dir: &Path, needles: &[&'a str]) -> Vec<(String, &'a str)> {
    let all = files(dir);
    assert!(all.len() > 5, "the data directory has files: {all:?}");
    let mut found = Vec::new();
    for file in all {
        let Ok(bytes) = std::fs::read(&file) else {
            continue; // removed while scanning (RocksDB compaction)
        };
        for s in needles {
            if bytes.windows(s.len()).any(|w| w == s.as_bytes()) {
                found.push((file.display().to_string(), *s));
            }
        }
    }
    found
}

/// A person with distinctive personal data, for the erasure tests: every form of it must
/// be gone from disk after the member is erased.
pub mod person {
    /// Email (mixed case: stored lowercased).
    pub const EMAIL: &str = "Quillon.Vexhammer@Zanzibar-Mail.example";
    /// Phone number (with separators: stored as digits).
    pub const PHONE: &str = "+1 555 0199 4417";
    /// Name.
    pub const NAME: &str = "Ottoline Vexhammer-Quist";
    /// Campaign recipient id.
    pub const RECIPIENT: &str = "rcpt-VXHQ-zorb";
    /// The org's customer reference.
    pub const EXTERNAL: &str = "crm-VXHQ-kilp";

    /// What must not be on disk after the erasure: every form of the personal data, each at
    /// least 8 bytes (a shorter string turns up in megabytes of random bytes by chance).
    pub const DISTINCTIVE: &[&str] = &[
        "Quillon.",
        "quillon.",
        "Vexhammer",
        "vexhammer",
        "Zanzibar",
        "zanzibar",
        "155501994417",
        "0199 4417",
        "Ottoline",
        RECIPIENT,
        EXTERNAL,
    ];

    /// The arguments of `cactus member add` for this person, signed with `key`.
    pub fn member_add(key: &str) -> Vec<&str> {
        vec![
            "member",
            "add",
            "--key",
            key,
            "--email",
            EMAIL,
            "--phone",
            PHONE,
            "--name",
            NAME,
            "--recipient-id",
            RECIPIENT,
            "--external-ref",
            EXTERNAL,
        ]
    }
}
