#!/usr/bin/env bash
# The README's run command: builds what is needed (installing missing tools) and runs the
# main job in the foreground until Ctrl-C.
#
# Today that is `cactusd --dev`: a one-node chain with generated keys in .cactus-dev/
# (genesis, org-admin/issuer/terminal/auditor/node key files, the org's code-sealing key),
# serving the HTTP API on 127.0.0.1:7101. The local 3-node consortium replaces it once the
# consortium issue lands.
#
#   scripts/dev.sh                 run (keeps .cactus-dev between runs)
#   scripts/dev.sh --fresh         start over with a new chain
#   scripts/dev.sh --walkthrough   run the chaincode walkthrough example instead
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
ensure_cargo
ensure_build_deps

case "${1:-}" in
  --walkthrough)
    log "building and running the chaincode walkthrough"
    exec cargo run --locked --release -p couponcactus-chaincode --example walkthrough
    ;;
  --fresh)
    rm -rf .cactus-dev
    ;;
esac

log "building and starting cactusd --dev (Ctrl-C stops it)"
exec cargo run --locked -p couponcactus-node --bin cactusd -- \
  --dev --data-dir .cactus-dev --http-addr "${CACTUSD_HTTP_ADDR:-127.0.0.1:7101}"
