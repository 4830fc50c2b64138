# Shared helpers of the scripts in this folder: find or install what they need.
# Sourced, not run.

set -euo pipefail

repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Makes cargo available (rustup installs it into ~/.cargo/bin).
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || {
    echo "cargo not found: install the Rust toolchain (https://rustup.rs) and rerun" >&2
    exit 1
  }
}

# Makes sure rustfmt and clippy are installed for the active toolchain.
ensure_components() {
  for c in rustfmt clippy; do
    if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
      log "installing rustup component $c"
      rustup component add "$c"
    fi
  done
}

# Installs cargo-nextest if missing (from crates.io).
ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
}

# Installs Debian packages that are missing: ensure_apt pkg...
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  fi
}

# Native build dependencies: rocksdb's bindgen needs libclang.
ensure_build_deps() {
  ensure_apt libclang-dev clang
}

# The one debug build of the workspace. scripts/test.sh and scripts/dev.sh (through
# scripts/localnet.sh) both build with exactly this command, so whichever runs second finds
# every dependency built, RocksDB's C++ included. A narrower command (`-p … --bin cactusd`)
# would resolve other feature sets (dev-dependencies turn on features of shared crates such
# as bitflags and zerocopy, which reach bindgen and librocksdb-sys) and build them all again.
# The binaries land in the target directory's debug/ folder.
WORKSPACE_BUILD=(cargo build --workspace --all-targets --locked --profile test)

# Runs the shared workspace build; extra cargo flags may follow (e.g. --message-format json).
build_workspace() {
  "${WORKSPACE_BUILD[@]}" "$@"
}

# The workspace's cargo target directory (CARGO_TARGET_DIR or ./target).
target_dir() {
  local dir
  dir="$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  echo "${dir:-${CARGO_TARGET_DIR:-$(repo_root)/target}}"
}

# release_bin: the folder of the release cactusd and cactus to benchmark: $BENCH_BIN when
# set (prebuilt binaries, to compare builds), else this checkout built in release mode.
release_bin() {
  if [ -n "${BENCH_BIN:-}" ]; then
    echo "$BENCH_BIN"
    return
  fi
  ensure_build_deps >&2 || return 1
  log "building cactusd and cactus (release)" >&2
  cargo build --release --locked -p couponcactus-node --bin cactusd -p couponcactus-client --bin cactus >&2 || return 1
  echo "$(target_dir)/release"
}
