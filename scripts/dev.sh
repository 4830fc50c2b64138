#!/usr/bin/env bash
# The README's run command: builds what is needed (installing missing tools) and runs a
# working local consortium with demo data in the foreground until Ctrl-C.
#
# By default that is scripts/localnet.sh up: 3 nodes (orgs acme, globex, initech) in
# .localnet/, node i serving HTTP on 127.0.0.1:710i and libp2p on 127.0.0.1:720i, with demo
# pools, codes (.localnet/orgs/acme/codes-acme-spring.csv) and allocated coupons
# (.localnet/demo.json), and the merchant console at http://127.0.0.1:7101/console (its
# first login is printed; docs/console.md). It then follows the node logs; Ctrl-C (or any
# exit) runs scripts/localnet.sh down. The chain is kept between runs.
#
#   scripts/dev.sh                 run the local consortium (reusing .localnet/)
#   scripts/dev.sh --nodes N       with N nodes (1 to 9; a new .localnet/ only)
#   scripts/dev.sh --fresh         start over with a new consortium (deletes .localnet/)
#   scripts/dev.sh --single        run `cactusd --dev` instead: a one-node chain with generated
#                                  keys in .cactus-dev/ (HTTP on 127.0.0.1:7101)
#   scripts/dev.sh --single --fresh   the same, with a new chain (deletes .cactus-dev/)
#   scripts/dev.sh --walkthrough   run the chaincode walkthrough example instead
#
# The environment of scripts/localnet.sh applies (LOCALNET_BASE_PORT, LOCALNET_RELEASE, …).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

FRESH=0
SINGLE=0
WALKTHROUGH=0
NODES=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --fresh) FRESH=1 ;;
    --single) SINGLE=1 ;;
    --walkthrough) WALKTHROUGH=1 ;;
    --nodes)
      [ "$#" -ge 2 ] || { echo "dev.sh: --nodes needs a number" >&2; exit 2; }
      NODES=(--nodes "$2")
      shift
      ;;
    -h | --help)
      sed -n '2,/^source/{/^source/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "dev.sh: unknown argument $1 (see scripts/dev.sh --help)" >&2
      exit 2
      ;;
  esac
  shift
done

ensure_cargo
ensure_build_deps

if [ "$WALKTHROUGH" = 1 ]; then
  log "building and running the chaincode walkthrough"
  exec cargo run --locked --release -p couponcactus-chaincode --example walkthrough
fi

if [ "$SINGLE" = 1 ]; then
  [ "$FRESH" = 1 ] && rm -rf .cactus-dev
  log "building the workspace (debug; the same build scripts/test.sh makes)"
  build_workspace
  log "starting cactusd --dev (Ctrl-C stops it)"
  exec "$(target_dir)/debug/cactusd" \
    --dev --data-dir .cactus-dev --http-addr "${CACTUSD_HTTP_ADDR:-127.0.0.1:7101}"
fi

LOCALNET="scripts/localnet.sh"
if [ "$FRESH" = 1 ]; then
  "$LOCALNET" down --wipe
fi

stopped=0
TAIL_PID=""
stop() {
  [ "$stopped" = 1 ] && return
  stopped=1
  trap - INT TERM EXIT
  [ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
  echo >&2
  log "stopping the local consortium"
  "$LOCALNET" down || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

"$LOCALNET" up ${NODES[@]+"${NODES[@]}"}

log "following the node logs (Ctrl-C stops the consortium)"
# In the background with `wait`, so that a signal to this script alone also stops it.
tail -n 5 -F "${LOCALNET_DIR:-.localnet}"/node*/cactusd.log &
TAIL_PID=$!
wait "$TAIL_PID"
