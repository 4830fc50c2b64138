#!/usr/bin/env bash
# A local Couponcactus consortium: N nodes (default 3, at most 9), one org per node, all on
# this machine, with demo data. Builds cactusd if needed (installing missing tools).
#
#   scripts/localnet.sh up [--nodes N]     create .localnet/ (or reuse it), start the nodes in
#                                          the background, return once every node is healthy
#                                          and they agree on a leader; node 1 seeds the demo data
#   scripts/localnet.sh status [--nodes N] per node: process, role, leader, height, certified
#                                          height, block hash (exit 1 unless all are up)
#   scripts/localnet.sh down [--wipe]      SIGTERM every node, SIGKILL what is left after
#                                          LOCALNET_STOP_TIMEOUT s; --wipe also deletes .localnet/
#
# Files (see .localnet/README.txt): genesis.toml; orgs/<org>/keys/*.key (org-admin, issuer,
# terminal, auditor, partner, data); node<i>/cactusd.toml, node.key, db/; node<i>/cactusd.log
# and node<i>/cactusd.pid (written here); orgs/acme/codes-acme-spring.csv (plaintext demo
# codes) and demo.json (what was seeded).
#
# Node i serves HTTP on 127.0.0.1:(LOCALNET_BASE_PORT+i) and libp2p on
# 127.0.0.1:(LOCALNET_BASE_PORT+100+i); with the default base port 7100 that is 710i and 720i.
#
# Environment:
#   LOCALNET_BASE_PORT=7100   base port of a new localnet (an existing one keeps its own;
#                             asking it for another is an error)
#   LOCALNET_RELEASE=1        build and run cactusd in release mode
#   LOCALNET_TIMEOUT=60       seconds `up` waits for the nodes and a leader
#   LOCALNET_STOP_TIMEOUT=20  seconds `down` waits after SIGTERM
#   LOCALNET_DIR=.localnet    where the localnet lives (relative to the repository root)
#   CACTUSD_BIN=path          use this cactusd instead of building one
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT="$(repo_root)"
cd "$ROOT"

DIR="${LOCALNET_DIR:-.localnet}"
case "$DIR" in /*) ;; *) DIR="$ROOT/$DIR" ;; esac
# The base port: LOCALNET_BASE_PORT, else that of the existing localnet, else 7100.
BASE_PORT="${LOCALNET_BASE_PORT:-}"
if [ -z "$BASE_PORT" ] && [ -f "$DIR/node1/cactusd.toml" ]; then
  BASE_PORT="$(sed -n 's/^http_addr *= *".*:\([0-9]*\)"/\1/p' "$DIR/node1/cactusd.toml")"
  [ -n "$BASE_PORT" ] && BASE_PORT=$((BASE_PORT - 1))
fi
BASE_PORT="${BASE_PORT:-7100}"
TIMEOUT="${LOCALNET_TIMEOUT:-60}"
STOP_TIMEOUT="${LOCALNET_STOP_TIMEOUT:-20}"
DEFAULT_NODES=3

usage() {
  sed -n '2,/^source/{/^source/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

die() {
  printf 'localnet: %s\n' "$*" >&2
  exit 1
}

# Paths of node i.
config_of() { echo "$DIR/node$1/cactusd.toml"; }
pid_file_of() { echo "$DIR/node$1/cactusd.pid"; }
log_of() { echo "$DIR/node$1/cactusd.log"; }

# Node i's HTTP address, from its config (so a changed LOCALNET_BASE_PORT cannot mislead).
http_of() {
  sed -n 's/^http_addr *= *"\(.*\)"/\1/p' "$(config_of "$1")"
}

# Node i's org, from its config's header comment.
org_of() {
  sed -n 's/^# Localnet node [0-9]*, run by org \([^:]*\):.*/\1/p' "$(config_of "$1")"
}

# The node numbers of the localnet on disk: 1 2 3 …
existing_nodes() {
  local i
  for i in 1 2 3 4 5 6 7 8 9; do
    [ -f "$(config_of "$i")" ] && printf '%s ' "$i"
  done
  return 0
}

# The pid of node i if it runs (a live cactusd whose pid is in its pid file).
running_pid() {
  local file pid
  file="$(pid_file_of "$1")"
  [ -f "$file" ] || return 1
  pid="$(cat "$file" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a reused pid where /proc tells what runs.
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q cactusd; then
    return 1
  fi
  echo "$pid"
}

# A field of a flat JSON object: json_field JSON NAME (numbers and strings).
json_field() {
  sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$1"
}

# GET http://ADDR/PATH with a short timeout; prints the body.
http_get() {
  curl -fsS --max-time 2 "http://$1$2" 2>/dev/null
}

# Shows what went wrong in the logs of nodes "$@": this run's errors (a backtrace may follow
# them, so they are picked out first), then its last lines.
tail_logs() {
  local i log run
  for i in "$@"; do
    log="$(log_of "$i")"
    echo "---- node $i: $log ----" >&2
    [ -f "$log" ] || { echo "(no log)" >&2; continue; }
    run="$(awk '/^==== .*: starting /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$log")"
    { grep -E -A2 'ERROR|Error:|Caused by:|panicked' <<<"$run" | head -n 12 || true; } >&2
    echo "  … last lines:" >&2
    tail -n 15 <<<"$run" >&2
  done
}

# Sets BIN: $CACTUSD_BIN, or a freshly built cactusd.
build_cactusd() {
  if [ -n "${CACTUSD_BIN:-}" ]; then
    BIN="$CACTUSD_BIN"
    [ -x "$BIN" ] || die "CACTUSD_BIN=$BIN is not an executable"
    return
  fi
  ensure_cargo
  ensure_build_deps
  if [ "${LOCALNET_RELEASE:-0}" = 1 ]; then
    log "building cactusd and the cactus CLI (release)"
    cargo build --locked --release -p couponcactus-node --bin cactusd -p couponcactus-client --bin cactus
    BIN="$(target_dir)/release/cactusd"
  else
    # The same build as scripts/test.sh (see lib.sh): after one, the other compiles nothing.
    log "building the workspace (debug; the same build scripts/test.sh makes)"
    build_workspace
    BIN="$(target_dir)/debug/cactusd"
  fi
  [ -x "$BIN" ] || die "built cactusd not found at $BIN"
}

command -v curl >/dev/null 2>&1 || ensure_apt curl

cmd_up() {
  local nodes="$1" i pid present=()
  if [ -z "$nodes" ]; then
    read -ra present <<<"$(existing_nodes)"
    nodes="${#present[@]}"
    [ "$nodes" -gt 0 ] || nodes="$DEFAULT_NODES"
  fi
  build_cactusd
  log "preparing $DIR ($nodes node(s))"
  RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 "$BIN" localnet-init --dir "$DIR" --nodes "$nodes" --base-port "$BASE_PORT"

  for ((i = 1; i <= nodes; i++)); do
    if pid="$(running_pid "$i")"; then
      log "node $i runs already (pid $pid)"
      continue
    fi
    local args=(--config "$(config_of "$i")")
    if [ "$i" -eq 1 ]; then
      args+=(--seed-demo "$DIR")
      rm -f "$DIR/demo.json" # written anew once this node 1 has seeded (or found) the demo
    fi
    printf '\n==== %s: starting %s %s\n' "$(date '+%F %T')" "$BIN" "${args[*]}" >>"$(log_of "$i")"
    nohup "$BIN" "${args[@]}" >>"$(log_of "$i")" 2>&1 </dev/null &
    echo "$!" >"$(pid_file_of "$i")"
    log "node $i started (pid $!, http $(http_of "$i"), log $(log_of "$i"))"
  done

  log "waiting for $nodes node(s) to be healthy and agree on a leader (up to ${TIMEOUT}s)"
  local deadline=$((SECONDS + TIMEOUT)) ready leader first status addr
  while :; do
    ready=1
    first=""
    for ((i = 1; i <= nodes; i++)); do
      if ! running_pid "$i" >/dev/null; then
        tail_logs "$i"
        die "node $i exited; see $(log_of "$i") (scripts/localnet.sh down stops the others)"
      fi
      addr="$(http_of "$i")"
      if ! http_get "$addr" /healthz >/dev/null || ! status="$(http_get "$addr" /v1/status)"; then
        ready=0
        continue
      fi
      leader="$(json_field "$status" leader_id)"
      if [ -z "$leader" ] || [ "$leader" = 0 ] || { [ -n "$first" ] && [ "$leader" != "$first" ]; }; then
        ready=0
      fi
      first="${first:-$leader}"
    done
    [ "$ready" = 1 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      cmd_status "$nodes" >&2 || true
      # shellcheck disable=SC2046 # one argument per node
      tail_logs $(seq 1 "$nodes")
      die "the nodes were not ready within ${TIMEOUT}s (LOCALNET_TIMEOUT); they are left running for a look: scripts/localnet.sh down stops them"
    fi
    sleep 0.5
  done
  log "leader elected: node $first"

  # Node 1 seeds the demo data once it is up; demo.json says it is done.
  local demo_deadline=$((SECONDS + TIMEOUT))
  while [ ! -f "$DIR/demo.json" ] && [ "$SECONDS" -lt "$demo_deadline" ] && running_pid 1 >/dev/null; do
    sleep 0.5
  done
  if [ ! -f "$DIR/demo.json" ]; then
    tail_logs 1
    log "warning: the demo data is not seeded (yet): see $(log_of 1)"
  fi
  print_usage "$nodes"
}

print_usage() {
  local nodes="$1" i url1 rel
  url1="http://$(http_of 1)"
  rel="${DIR#"$ROOT"/}"
  echo
  echo "Couponcactus localnet is up: $nodes node(s), chain cactus-localnet, data in $rel/"
  for ((i = 1; i <= nodes; i++)); do
    printf '  node %s  %-24s org %-8s pid %-8s log %s\n' "$i" "http://$(http_of "$i")" \
      "$(org_of "$i")" "$(cat "$(pid_file_of "$i")")" "$rel/node$i/cactusd.log"
  done
  echo "  keys          $rel/orgs/<org>/keys/{org-admin,issuer,terminal,auditor,partner,data}.key"
  echo "  demo codes    $rel/orgs/acme/codes-acme-spring.csv   (plaintext; the only clear copy)"
  echo "  demo data     $rel/demo.json   (pools, allocated members and their tokens)"
  echo "  what is where $rel/README.txt"
  local password_file="$DIR/node1/db/console-admin.password"
  if [ -f "$password_file" ]; then
    echo "  console       $url1/console   (org $(org_of 1); user admin, password $(cat "$password_file"))"
    echo "                more users: $BIN --config $rel/node1/cactusd.toml users add NAME --role analyst"
  fi
  echo
  echo "Try:"
  echo "  curl -s $url1/v1/status"
  echo "  curl -s $url1/v1/blocks/latest"
  echo "  curl -s $url1/v1/checkpoints/latest"
  echo "  curl -s $url1/openapi.json      # the whole API"
  echo "  scripts/localnet.sh status"
  echo "The cactus CLI (built next to cactusd) talks to a node with:"
  echo "  export PATH=\"$(dirname "$BIN"):\$PATH\" CACTUS_NODE=$url1"
  echo "  cactus status; cactus --genesis $rel/genesis.toml audit verify --key $rel/orgs/acme/keys/auditor.key   (README: quick start)"
  echo "Stop with scripts/localnet.sh down (--wipe also deletes $rel/)."
}

cmd_status() {
  local nodes="$1" i pid addr status rc=0 list
  if [ -n "$nodes" ]; then
    list="$(seq 1 "$nodes")"
  else
    list="$(existing_nodes)"
  fi
  [ -n "$list" ] || die "no localnet in $DIR (scripts/localnet.sh up creates one)"
  printf '%-5s %-8s %-22s %-10s %-7s %-8s %-10s %s\n' \
    node pid http role leader height certified block_hash
  for i in $list; do
    [ -f "$(config_of "$i")" ] || { printf '%-5s (no such node)\n' "$i"; rc=1; continue; }
    addr="$(http_of "$i")"
    pid="$(running_pid "$i")" || pid="-"
    if status="$(http_get "$addr" /v1/status)"; then
      printf '%-5s %-8s %-22s %-10s %-7s %-8s %-10s %s\n' "$i" "$pid" "$addr" \
        "$(json_field "$status" role)" "$(json_field "$status" leader_id)" \
        "$(json_field "$status" height)" "$(json_field "$status" certified_height)" \
        "$(json_field "$status" block_hash)"
    else
      printf '%-5s %-8s %-22s %s\n' "$i" "$pid" "$addr" \
        "$([ "$pid" = - ] && echo "not running" || echo "running, not answering")"
      rc=1
    fi
    [ "$pid" != - ] || rc=1
  done
  return "$rc"
}

cmd_down() {
  local wipe="$1" i pid pids=() nodes
  nodes="$(existing_nodes)"
  for i in $nodes; do
    if pid="$(running_pid "$i")"; then
      log "stopping node $i (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + STOP_TIMEOUT)) left
  while :; do
    left=()
    for pid in ${pids[@]+"${pids[@]}"}; do
      kill -0 "$pid" 2>/dev/null && left+=("$pid")
    done
    [ "${#left[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "killing what did not stop within ${STOP_TIMEOUT}s: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.2
  done
  for i in $nodes; do
    rm -f "$(pid_file_of "$i")"
  done
  if [ "$wipe" = 1 ]; then
    log "deleting $DIR"
    rm -rf "$DIR"
  fi
  log "localnet stopped"
}

COMMAND="${1:-}"
[ -n "$COMMAND" ] || usage
shift
NODES=""
WIPE=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --nodes)
      [ "$#" -ge 2 ] || usage
      NODES="$2"
      shift 2
      ;;
    --nodes=*)
      NODES="${1#--nodes=}"
      shift
      ;;
    --wipe)
      WIPE=1
      shift
      ;;
    -h | --help) usage ;;
    *)
      echo "localnet: unknown argument $1" >&2
      usage
      ;;
  esac
done
if [ -n "$NODES" ] && ! [[ "$NODES" =~ ^[1-9]$ ]]; then
  die "--nodes takes 1 to 9, not $NODES"
fi

case "$COMMAND" in
  up) cmd_up "$NODES" ;;
  status) cmd_status "$NODES" ;;
  down) cmd_down "$WIPE" ;;
  -h | --help | help) usage ;;
  *)
    echo "localnet: unknown command $COMMAND" >&2
    usage
    ;;
esac
