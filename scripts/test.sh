#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what is missing first.
# This is the README's test command and what CI (.ci/run) calls.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip fmt/clippy (tests only)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

quick=0
[ "${1:-}" = "--quick" ] && quick=1

# python3 with PyNaCl, for the Python POS example's test (tests/tests/pos_python.rs): pip
# (user site) first; where pip is missing or refuses (PEP 668), Debian's python3-nacl.
ensure_pynacl() {
  command -v python3 >/dev/null 2>&1 || ensure_apt python3
  python3 -c 'import nacl.signing' 2>/dev/null && return
  log "installing PyNaCl (examples/pos-python)"
  python3 -m pip install --user --quiet pynacl || ensure_apt python3-nacl
  python3 -c 'import nacl.signing' || { echo "PyNaCl missing: python3 -m pip install --user pynacl" >&2; exit 1; }
}

# PostgreSQL and psycopg2, for the events-to-postgres example's test
# (tests/tests/events_to_postgres.rs starts its own PostgreSQL server from Debian's binaries
# in /usr/lib/postgresql/<version>/bin). psycopg2: Debian's python3-psycopg2; where python3
# is not Debian's (pyenv), the psycopg2-binary wheel in the user site.
ensure_postgres() {
  ensure_apt postgresql python3-psycopg2
  python3 -c 'import psycopg2' 2>/dev/null && return
  log "installing psycopg2 (examples/events-to-postgres)"
  python3 -m pip install --user --quiet psycopg2-binary
  python3 -c 'import psycopg2' || { echo "psycopg2 missing: apt-get install python3-psycopg2" >&2; exit 1; }
}

# aiosmtpd, the real SMTP server the wallet's mail test starts (node/src/wallet/tests.rs):
# pip (user site), or Debian's python3-aiosmtpd.
ensure_aiosmtpd() {
  python3 -c 'import aiosmtpd' 2>/dev/null && return
  log "installing aiosmtpd (the wallet's SMTP test)"
  python3 -m pip install --user --quiet aiosmtpd || ensure_apt python3-aiosmtpd
  python3 -c 'import aiosmtpd' || { echo "aiosmtpd missing: python3 -m pip install --user aiosmtpd" >&2; exit 1; }
}

ensure_cargo
ensure_build_deps
ensure_components
ensure_nextest
ensure_pynacl
ensure_aiosmtpd
# pdfinfo, pdftotext and pdftoppm parse and rasterize the PDF reports
# (client/tests/report_pdf.rs).
ensure_apt poppler-utils
# Headless Chromium and its WebDriver, for the console's browser tests
# (tests/tests/console.rs through tests/src/browser.rs).
ensure_apt chromium chromium-driver
ensure_postgres

if [ "$quick" -eq 0 ]; then
  log "cargo fmt --check"
  cargo fmt --all -- --check

  log "cargo clippy (all targets, -D warnings)"
  # Every step uses the test profile, so they share what builds they can: host units
  # (build scripts, proc-macros) have the same debuginfo as the rest (Cargo.toml
  # [profile.dev.build-override]), so clippy's check build, the doc tests, the binaries
  # and nextest compile RocksDB's C++ once between them.
  cargo clippy --workspace --all-targets --locked --profile test -- -D warnings
fi

log "chaincode stays pure (no tokio, rocksdb, libp2p, axum in its dependency tree)"
forbidden=$(cargo tree -p couponcactus-chaincode -e normal --prefix none --locked \
  | grep -E '^(tokio|rocksdb|librocksdb-sys|libp2p|axum|hyper|rand|getrandom) ' || true)
if [ -n "$forbidden" ]; then
  echo "chaincode depends on forbidden crates:" >&2
  echo "$forbidden" >&2
  exit 1
fi

log "doc tests"
cargo test --workspace --doc --locked

log "building the binaries (the end-to-end tests start the real cactusd and cactus)"
# The build scripts/dev.sh makes too (lib.sh): the same feature set as the doc tests and
# nextest, so RocksDB's C++ is compiled once for all of them.
build_workspace

# Last, so its summary line closes the output.
log "cargo nextest run --workspace"
cargo nextest run --workspace --locked --no-fail-fast

log "all checks passed"
