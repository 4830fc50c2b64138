#!/usr/bin/env bash
# Disk growth under redemptions, with and without pruning: a 3-node release localnet whose
# nodes keep RETAIN heights of state-tree versions ([storage] retain_blocks; 0 = no
# pruning), one `cactus bench redeem --concurrency 64 --duration DURATION`, and each
# node's database size (du -sb), height and prune floor sampled every 15 s, with node 1's
# state-tree column families as table files / live data (MB, from /metrics).
#
#   scripts/bench-disk.sh RETAIN DURATION     e.g. scripts/bench-disk.sh 256 180
#
# Environment: BENCH_BIN (a folder with prebuilt cactusd and cactus; default: build this
# checkout in release mode), BENCH_DIR=target/bench-disk (the localnet and the samples,
# du-RETAIN.log and redeem-RETAIN.json), BENCH_BASE_PORT=7510, BENCH_CONFIG_SED (a sed
# script run on each node's cactusd.toml too, e.g. 's/^trim_interval_ms = .*/trim_interval_ms = 0/').
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT="$(repo_root)"
cd "$ROOT"
RETAIN="${1:?usage: scripts/bench-disk.sh RETAIN DURATION}"
DUR="${2:?usage: scripts/bench-disk.sh RETAIN DURATION}"
OUT="${BENCH_DIR:-target/bench-disk}"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
BASE_PORT="${BENCH_BASE_PORT:-7510}"
ensure_cargo
command -v jq >/dev/null 2>&1 || ensure_apt jq
command -v curl >/dev/null 2>&1 || ensure_apt curl
BIN="$(release_bin)"
[ -x "$BIN/cactusd" ] && [ -x "$BIN/cactus" ] || { echo "release binaries not found in $BIN" >&2; exit 1; }
mkdir -p "$OUT"
export LOCALNET_DIR="$OUT/localnet" LOCALNET_BASE_PORT="$BASE_PORT" LOCALNET_RELEASE=1 \
  CACTUSD_BIN="$BIN/cactusd"
scripts/localnet.sh down --wipe >/dev/null 2>&1 || true
# Create the localnet, then restart it with the retention asked for.
scripts/localnet.sh up --nodes 3 >/dev/null
scripts/localnet.sh down >/dev/null
sed -i -e "s/^retain_blocks = .*/retain_blocks = $RETAIN/" ${BENCH_CONFIG_SED:+-e "$BENCH_CONFIG_SED"} \
  "$LOCALNET_DIR"/node*/cactusd.toml
scripts/localnet.sh up --nodes 3 >/dev/null
NODES="http://127.0.0.1:$((BASE_PORT + 1)),http://127.0.0.1:$((BASE_PORT + 2)),http://127.0.0.1:$((BASE_PORT + 3))"
LOG="$OUT/du-$RETAIN.log"
: >"$LOG"
(while sleep 15; do
  sizes=$(for i in 1 2 3; do du -sb "$LOCALNET_DIR/node$i/db" | cut -f1; done | paste -sd' ')
  h=$(curl -s "http://127.0.0.1:$((BASE_PORT + 1))/v1/status" | jq .height)
  floor=$(curl -s "http://127.0.0.1:$((BASE_PORT + 1))/metrics" | awk '/^cactus_prune_floor /{print $2}')
  # Node 1's tree column families: table files / live data estimate, MB.
  cfs=$(curl -s "http://127.0.0.1:$((BASE_PORT + 1))/metrics" | awk '
    /^cactus_rocksdb_(sst|live_data)_bytes\{cf="jmt_(nodes|values|held)"\}/ {
      split($1, a, "\""); k = a[2]; if ($1 ~ /sst/) sst[k] = $2; else live[k] = $2 }
    END { for (k in sst) printf "%s=%d/%d ", k, sst[k] / 1e6, live[k] / 1e6 }')
  echo "$(date +%s) height=$h floor=${floor:-0} db=$sizes $cfs" >>"$LOG"
done) &
WATCH=$!
trap 'kill $WATCH 2>/dev/null; scripts/localnet.sh down --wipe >/dev/null 2>&1' EXIT
"$BIN/cactus" --json --genesis "$LOCALNET_DIR/genesis.toml" bench redeem --concurrency 64 \
  --duration "$DUR" --key "$LOCALNET_DIR/orgs/acme/keys/org-admin.key" --nodes "$NODES" \
  >"$OUT/redeem-$RETAIN.json"
sleep 16
cat "$LOG"
jq -c '{committed, committed_per_sec, p50_ms, p99_ms}' "$OUT/redeem-$RETAIN.json"
