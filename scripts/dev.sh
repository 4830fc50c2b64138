#!/usr/bin/env bash
# The README's run command: builds what is needed (installing missing tools) and runs the
# main job.
#
# Today the main job is the chaincode walkthrough: a coupon's whole life (keys, pool,
# sealed code batch, allocation, validation, redemption, a refused second redemption,
# rollback) executed by the real deterministic chaincode on an in-memory chain.
# The node (`cactusd --dev`, issue 4) and the local consortium (issue 5) replace it here
# once they land.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
ensure_cargo
log "building and running the chaincode walkthrough"
exec cargo run --locked --release -p couponcactus-chaincode --example walkthrough
