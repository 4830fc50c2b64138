//! `cactusd users add|list|disable` and the first admin of a local chain: work on the
//! console store of a stopped or running node (SQLite WAL and a busy timeout).
//!
//! Passwords are never taken from the command line (it shows in `ps` and shell history):
//! they come from stdin or `--password-file`.

use super::password;
use super::store::{ConsoleStore, User};
use super::{ConsoleError, FIRST_ADMIN, FIRST_ADMIN_FILE, Role, store_path};
use crate::node::now_ms;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Longest password file or stdin read, bytes.
const MAX_PASSWORD_INPUT: u64 = 4096;

/// Reads a password: the first line of `file`, or of stdin (its trailing newline and
/// carriage return dropped; nothing else trimmed).
pub fn read_password(file: Option<&Path>) -> Result<String, ConsoleError> {
    let mut text = String::new();
    let io = |what: String| move |source: std::io::Error| ConsoleError::Io { what, source };
    match file {
        Some(path) => {
            std::fs::File::open(path)
                .map_err(io(format!("opening {}", path.display())))?
                .take(MAX_PASSWORD_INPUT)
                .read_to_string(&mut text)
                .map_err(io(format!("reading {}", path.display())))?;
        }
        None => {
            std::io::stdin()
                .lock()
                .take(MAX_PASSWORD_INPUT)
                .read_line(&mut text)
                .map_err(io("reading the password from stdin".into()))?;
        }
    }
    let line = text.lines().next().unwrap_or("");
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `users add`: a new user of `role` with `password` (checked, then hashed).
pub fn add(data_dir: &Path, name: &str, role: Role, password: &str) -> Result<User, ConsoleError> {
    super::store::check_name(name)?;
    password::check(password)?;
    let hash = password::hash(password)?;
    ConsoleStore::open(&store_path(data_dir))?.add_user(name, role, &hash, now_ms())
}

/// `users list`.
pub fn list(data_dir: &Path) -> Result<Vec<User>, ConsoleError> {
    ConsoleStore::open(&store_path(data_dir))?.users()
}

/// `users disable`: the user can no longer log in and its sessions end; `false` when it
/// was disabled already.
pub fn disable(data_dir: &Path, name: &str) -> Result<bool, ConsoleError> {
    ConsoleStore::open(&store_path(data_dir))?.disable_user(name)
}

/// `users list` as a table.
pub fn table(users: &[User]) -> String {
    let mut out = format!(
        "{:<6} {:<24} {:<8} {:<9} {}\n",
        "id", "name", "role", "status", "added"
    );
    for u in users {
        out.push_str(&format!(
            "{:<6} {:<24} {:<8} {:<9} {}\n",
            u.id,
            u.name,
            u.role.name(),
            if u.disabled { "disabled" } else { "active" },
            super::view::time(u.created_ms)
        ));
    }
    out
}

/// With no user in the store yet, creates `admin` with a random password written to
/// `<data dir>/console-admin.password` (0600); answers that file when it exists.
pub fn bootstrap_admin(data_dir: &Path) -> Result<Option<PathBuf>, ConsoleError> {
    let file = data_dir.join(FIRST_ADMIN_FILE);
    let store = ConsoleStore::open(&store_path(data_dir))?;
    if !store.users()?.is_empty() {
        return Ok(file.exists().then_some(file));
    }
    let secret = password::random_secret(12);
    write_private(&file, &format!("{secret}\n"))?;
    let hash = password::hash(&secret)?;
    store.add_user(FIRST_ADMIN, Role::Admin, &hash, now_ms())?;
    Ok(Some(file))
}

fn write_private(path: &Path, text: &str) -> Result<(), ConsoleError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| ConsoleError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}
