#!/usr/bin/env bash
# Benchmarks of a local 3-node consortium, written into docs/performance.md. From a fresh
# clone: installs what is missing, builds cactusd and cactus in release mode, starts a
# 3-node localnet on loopback (fsync on: every block and Raft entry is a synced RocksDB
# write) in its own folder and ports, runs the `cactus bench` commands, records each node's
# RSS, stops the localnet and replaces its own section of docs/performance.md.
#
#   scripts/bench.sh
#
# Runs, in order: `bench issue` (BENCH_TOKENS codes into an empty chain), each node's RSS,
# `bench redeem` at each concurrency of BENCH_CONCURRENCY (each run makes its own pool and
# coupons), `bench proofs`, `bench audit` (the whole chain the runs above made), each
# node's RSS again.
#
# Environment:
#   BENCH_DURATION=20          seconds of each `bench redeem` run
#   BENCH_CONCURRENCY="1 64 256"  concurrencies of the `bench redeem` runs
#   BENCH_TOKENS=200000        codes `bench issue` issues (rounded up to batches of 5,000);
#                              BENCH_TOKENS=1000000 for the memory target at 1M tokens
#   BENCH_PROOFS=20000         proofs `bench proofs` fetches and verifies
#   BENCH_DIR=target/bench     the localnet (BENCH_DIR/localnet) and the JSON results
#   BENCH_BASE_PORT=7410       node i: HTTP on 127.0.0.1:(base+i), libp2p on (base+100+i)
#   BENCH_KEEP=0               1: leave the localnet running afterwards
#   BENCH_DOC=docs/performance.md  where the section goes (empty: print it only)
#   BENCH_BIN=                 a folder with prebuilt cactusd and cactus to run instead of
#                              building this checkout (to compare builds, alternating)
#   BENCH_CONFIG_SED=          a sed script run on each node's cactusd.toml before the runs
#                              (e.g. 's/^tree_resident_nodes = .*/tree_resident_nodes = 500000/')
#   BENCH_RTT_MS=              e.g. 100: the WAN mode. Every connection between the nodes
#                              crosses a delaying proxy (cactus-netem, tests/src/netem.rs) of
#                              half this each way, the nodes get `rtt_ms` in [raft], and only
#                              the `bench redeem` runs are made (bounded by BENCH_DURATION);
#                              writes its own section ("At N ms RTT") of BENCH_DOC
#   BENCH_JITTER_MS=0 BENCH_LOSS=0  the WAN mode's jitter each way and loss per chunk
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT="$(repo_root)"
cd "$ROOT"

DURATION="${BENCH_DURATION:-20}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 64 256}"
TOKENS="${BENCH_TOKENS:-200000}"
PROOFS="${BENCH_PROOFS:-20000}"
OUT="${BENCH_DIR:-target/bench}"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
BASE_PORT="${BENCH_BASE_PORT:-7410}"
DOC="${BENCH_DOC-docs/performance.md}"
BEGIN_MARK='<!-- scripts/bench.sh: begin (generated; rerun scripts/bench.sh to replace this section) -->'
END_MARK='<!-- scripts/bench.sh: end -->'
RTT="${BENCH_RTT_MS:-}"
if [ -n "$RTT" ]; then
  BEGIN_MARK='<!-- scripts/bench.sh BENCH_RTT_MS: begin (generated; rerun BENCH_RTT_MS=N scripts/bench.sh to replace this section) -->'
  END_MARK='<!-- scripts/bench.sh BENCH_RTT_MS: end -->'
fi

die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

for v in "$DURATION" "$TOKENS" "$PROOFS" "$BASE_PORT" ${RTT:+"$RTT"}; do
  [[ "$v" =~ ^[0-9]+$ ]] || die "BENCH_DURATION, BENCH_TOKENS, BENCH_PROOFS, BENCH_BASE_PORT and BENCH_RTT_MS are numbers, not '$v'"
done
BATCHES=$(((TOKENS + 4999) / 5000))

ensure_cargo
ensure_build_deps
command -v jq >/dev/null 2>&1 || ensure_apt jq
command -v curl >/dev/null 2>&1 || ensure_apt curl

BIN="$(release_bin)"
[ -x "$BIN/cactusd" ] && [ -x "$BIN/cactus" ] || die "release binaries not found in $BIN"

# The bench's own localnet: never a developer's .localnet.
export LOCALNET_DIR="$OUT/localnet" LOCALNET_BASE_PORT="$BASE_PORT" LOCALNET_RELEASE=1 \
  CACTUSD_BIN="$BIN/cactusd"
mkdir -p "$OUT"
localnet() { "$ROOT/scripts/localnet.sh" "$@"; }
if [ -d "$LOCALNET_DIR" ]; then
  log "removing the previous bench localnet in $LOCALNET_DIR"
  localnet down --wipe
fi
rm -f "$OUT"/*.json
NETEM_PID=""
cleanup() {
  if [ -n "$NETEM_PID" ]; then
    kill "$NETEM_PID" 2>/dev/null || true
    NETEM_PID=""
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "leaving the bench localnet running (LOCALNET_DIR=$LOCALNET_DIR scripts/localnet.sh down --wipe stops it)"
  else
    localnet down --wipe >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
  log "warning: load average $LOAD_BEFORE before the run: other work on this machine will show in the figures"
fi
localnet up --nodes 3 >&2
if [ -n "${BENCH_CONFIG_SED:-}" ]; then
  log "restarting the localnet with sed '$BENCH_CONFIG_SED' on each cactusd.toml"
  localnet down >&2
  sed -i -e "$BENCH_CONFIG_SED" "$LOCALNET_DIR"/node*/cactusd.toml
  localnet up --nodes 3 >&2
fi

# WAN mode: the nodes restart dialing each other through cactus-netem's proxies.
if [ -n "$RTT" ]; then
  if [ ! -x "$BIN/cactus-netem" ]; then
    log "building cactus-netem (release)"
    cargo build --release --locked -p couponcactus-tests --bin cactus-netem >&2
  fi
  NETEM_BIN="$BIN/cactus-netem"
  [ -x "$NETEM_BIN" ] || NETEM_BIN="$(target_dir)/release/cactus-netem"
  localnet down >&2
  netem_args=()
  for i in 1 2 3; do netem_args+=(--node "$i=127.0.0.1:$((BASE_PORT + 100 + i))"); done
  log "cactus-netem: ${RTT} ms RTT (jitter ${BENCH_JITTER_MS:-0} ms each way, loss ${BENCH_LOSS:-0})"
  rm -rf "$OUT/dial"
  "$NETEM_BIN" "${netem_args[@]}" --delay-ms $((RTT / 2)) --jitter-ms "${BENCH_JITTER_MS:-0}" \
    --loss "${BENCH_LOSS:-0}" --dial-dir "$OUT/dial" \
    --duration-s $((DURATION * $(wc -w <<<"$CONCURRENCY") + 900)) >"$OUT/netem.out" 2>&1 &
  NETEM_PID=$!
  for _ in $(seq 100); do grep -q ready "$OUT/netem.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$OUT/netem.out" || die "cactus-netem did not start: $(cat "$OUT/netem.out")"
  for i in 1 2 3; do
    sed -i "/^\[raft\]/a rtt_ms = $RTT" "$LOCALNET_DIR/node$i/cactusd.toml"
    cat "$OUT/dial/node$i.toml" >>"$LOCALNET_DIR/node$i/cactusd.toml"
  done
  localnet up --nodes 3 >&2
fi

NODES=""
PIDS=()
for i in 1 2 3; do
  addr="$(sed -n 's/^http_addr *= *"\(.*\)"/\1/p' "$LOCALNET_DIR/node$i/cactusd.toml")"
  NODES="${NODES:+$NODES,}http://$addr"
  PIDS+=("$(cat "$LOCALNET_DIR/node$i/cactusd.pid")")
done
KEY="$LOCALNET_DIR/orgs/acme/keys/org-admin.key"
REL_KEY="${KEY#"$ROOT"/}"
CACTUS=("$BIN/cactus" --json --genesis "$LOCALNET_DIR/genesis.toml")
COMMANDS=()

# bench NAME ARGS...: runs `cactus --json bench ARGS` into $OUT/NAME.json, signed with
# $BENCH_KEY_FILE (default: acme's org-admin key).
bench() {
  local name="$1" key="${BENCH_KEY_FILE:-$KEY}"
  shift
  log "cactus bench $*"
  COMMANDS+=("cactus --json --genesis \$LOCALNET/genesis.toml bench $* --key \$LOCALNET/${key#"$LOCALNET_DIR"/} --nodes \$NODES")
  "${CACTUS[@]}" bench "$@" --key "$key" --nodes "$NODES" >"$OUT/$name.json" ||
    die "cactus bench $* failed: $(cat "$OUT/$name.json")"
  jq -c . "$OUT/$name.json" >&2
}

# rss NAME: each node's VmRSS (now) and VmHWM (its peak since it started) in MiB into
# $OUT/NAME.json. The peak counts too: the trimmer hands freed memory back every few
# seconds, so one sample of VmRSS depends on when it falls.
rss() {
  local pid values=() peaks=()
  for pid in "${PIDS[@]}"; do
    values+=("$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo null)")
    peaks+=("$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo null)")
  done
  local IFS=,
  echo "{\"rss_mib\":[${values[*]}],\"peak_mib\":[${peaks[*]}]}" >"$OUT/$1.json"
  log "node RSS (MiB): ${values[*]}; peak: ${peaks[*]}"
}

if [ -z "$RTT" ]; then
  bench issue issue --batches "$BATCHES" --batch-size 5000 --concurrency 4
  rss rss-after-issue
fi
for c in $CONCURRENCY; do
  bench "redeem-c$c" redeem --concurrency "$c" --duration "$DURATION"
done
if [ -z "$RTT" ]; then
  bench proofs proofs --count "$PROOFS" --concurrency 64
  # A full audit re-executes every tx, so it reads as a consortium node (an org admin's
  # reads have other orgs' txs withheld).
  BENCH_KEY_FILE="$LOCALNET_DIR/node1/node.key" bench audit audit
fi
rss rss-end
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
cleanup
trap - EXIT

# ---- the section of docs/performance.md -------------------------------------------------

j() { jq -r "$2" "$OUT/$1.json"; }
# num X [DECIMALS]: X rounded, thousands grouped.
num() { LC_ALL=C awk -v x="$1" -v d="${2:-0}" 'BEGIN {
  s = sprintf("%." d "f", x); split(s, p, "."); i = p[1]; o = "";
  while (length(i) > 3) { o = "," substr(i, length(i) - 2) o; i = substr(i, 1, length(i) - 3) }
  printf "%s%s%s", i, o, (d > 0 ? "." p[2] : "") }'; }
# verdict OK: met / missed.
verdict() { if [ "$1" = 1 ]; then echo "**met**"; else echo "**missed**"; fi; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? 1 : 0 }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }

# The WAN mode's section: the redeem runs at the emulated round trip.
wan_section() {
  local commit dirty=""
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git diff --quiet HEAD 2>/dev/null || dirty=" with uncommitted changes"
  echo "$BEGIN_MARK"
  echo
  echo "## At ${RTT} ms RTT (scripts/bench.sh, WAN mode)"
  echo
  echo "Written by \`BENCH_RTT_MS=$RTT scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (BENCH_DURATION=$DURATION,"
  echo "BENCH_CONCURRENCY=\"$CONCURRENCY\", BENCH_JITTER_MS=${BENCH_JITTER_MS:-0}, BENCH_LOSS=${BENCH_LOSS:-0}${BENCH_BIN:+, BENCH_BIN=$BENCH_BIN});"
  echo "commit \`$commit\`$dirty; $(nproc) cores; load average before $LOAD_BEFORE, after $LOAD_AFTER. The 3-node"
  echo "localnet's nodes dial each other through cactus-netem (tests/src/netem.rs): $((RTT / 2)) ms each way"
  echo "on every link; clients reach the nodes directly. Commands, with \`NODES\` the three nodes' URLs:"
  echo
  echo '```'
  printf '%s\n' "${COMMANDS[@]}"
  echo '```'
  echo
  echo "| C | committed tx/s | p50 ms | p90 ms | p99 ms | max ms | errors | mean txs per block |"
  echo "| - | - | - | - | - | - | - | - |"
  for c in $CONCURRENCY; do
    local f="redeem-c$c"
    echo "| $c | $(num "$(j "$f" .committed_per_sec)" 1) | $(num "$(j "$f" .p50_ms)" 1) | $(num "$(j "$f" .p90_ms)" 1) | $(num "$(j "$f" .p99_ms)" 1) | $(num "$(j "$f" .max_ms)" 1) |" \
      "$(j "$f" .errors) | $(j "$f" '[.node_side[] | .mean_block_txs | numbers] | max // 0') |"
  done
  echo
  echo "$END_MARK"
}

if [ -n "$RTT" ]; then
  SECTION="$(wan_section)"
  if [ -z "$DOC" ]; then
    printf '%s\n' "$SECTION"
    exit 0
  fi
fi

# Tokens on the chain after `bench issue` (its codes and the 20 demo codes), and at the end
# (plus the redeem runs' coupons and the proofs pool's tokens).
if [ -z "$RTT" ]; then
  TOKENS_AT_RSS=$(($(j issue .committed_codes) + 20))
  TOKENS_AT_END=$((TOKENS_AT_RSS + $(for c in $CONCURRENCY; do j "redeem-c$c" .coupons; done | paste -sd+ -) + $(j proofs .tokens)))
  MAX_RSS="$(jq -r '[.rss_mib[] | numbers] | max // 0' "$OUT/rss-after-issue.json")"
  MAX_RSS_END="$(jq -r '[.rss_mib[] | numbers] | max // 0' "$OUT/rss-end.json")"
  MAX_PEAK="$(jq -r '[.peak_mib[] | numbers] | max // 0' "$OUT/rss-after-issue.json")"
  MAX_PEAK_END="$(jq -r '[.peak_mib[] | numbers] | max // 0' "$OUT/rss-end.json")"
fi

section() {
  local commit dirty="" top_c
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git diff --quiet HEAD 2>/dev/null || dirty=" with uncommitted changes"
  top_c="$(echo "$CONCURRENCY" | tr ' ' '\n' | sort -n | tail -1)"
  local low_c
  low_c="$(echo "$CONCURRENCY" | tr ' ' '\n' | sort -n | head -1)"
  echo "$BEGIN_MARK"
  echo
  echo "## Consortium benchmarks (scripts/bench.sh)"
  echo
  echo "Written by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); rerun it to replace this section."
  echo
  echo "**Machine.** \`nproc\`: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1);" \
    "RAM: $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); $(rustc --version);" \
    "commit \`$commit\`$dirty; kernel $(uname -r). Load average before the run: $LOAD_BEFORE."
  echo "Load average right after the runs: $LOAD_AFTER."
  echo "All three nodes, and the load generator, run on this machine; release build; Raft and"
  echo "block writes are synced RocksDB writes (fsync on)."
  echo
  echo "**Commands.** \`scripts/bench.sh\` (BENCH_DURATION=$DURATION, BENCH_CONCURRENCY=\"$CONCURRENCY\","
  echo "BENCH_TOKENS=$TOKENS, BENCH_PROOFS=$PROOFS${BENCH_CONFIG_SED:+, BENCH_CONFIG_SED='$BENCH_CONFIG_SED'}) starts a 3-node localnet (\`LOCALNET_RELEASE=1"
  echo "scripts/localnet.sh up --nodes 3\` in \`${LOCALNET_DIR#"$ROOT"/}\`, HTTP on 127.0.0.1:$((BASE_PORT + 1))-$((BASE_PORT + 3))) and runs, with"
  echo "\`NODES\` the three nodes' URLs (requests are spread over all three):"
  echo
  echo '```'
  printf '%s\n' "${COMMANDS[@]}"
  echo '```'
  echo
  echo "Each \`bench redeem\` run registers its own issuer and 16 terminal keys, issues and"
  echo "activates its own pool, pre-signs one redemption per coupon (not measured), then keeps C"
  echo "requests in flight for the duration, one signed tx per \`POST /v1/txs\` (canonical bytes),"
  echo "each waiting for its commit. Redemptions are by code of unallocated tokens (what a POS"
  echo "does with a scanned code). Only applied txs count; latency is per request, submit to"
  echo "acknowledged commit."
  echo
  echo "### Figures against the targets"
  echo
  echo "| figure | target | measured | |"
  echo "| - | - | - | - |"
  if [ -f "$OUT/redeem-c$top_c.json" ]; then
    local r p99 ok
    r="$(j "redeem-c$top_c" .committed_per_sec)"
    p99="$(j "redeem-c$top_c" .p99_ms)"
    ok=$(($(ge "$r" 20000) * $(le "$p99" 50)))
    echo "| redemptions committed at concurrency $top_c | ≥ 20,000 tx/s with p99 ≤ 50 ms | $(num "$r") tx/s ($(pct "$r" 20000) % of target), p99 $(num "$p99" 1) ms | $(verdict "$ok") |"
  fi
  if [ -f "$OUT/redeem-c$low_c.json" ]; then
    local p50
    p50="$(j "redeem-c$low_c" .p50_ms)"
    echo "| redemption latency at concurrency $low_c | p50 ≤ 2 ms | p50 $(num "$p50" 2) ms | $(verdict "$(le "$p50" 2)") |"
  fi
  local total commit gen
  total="$(j issue .total_codes_per_sec)"
  commit="$(j issue .committed_codes_per_sec)"
  gen="$(j issue .generate_seal_codes_per_sec)"
  echo "| codes issued and committed | ≥ 100,000 codes/s | $(num "$total") codes/s end to end ($(pct "$total" 100000) %); generate+seal $(num "$gen")/s, submit→commit $(num "$commit")/s | $(verdict "$(ge "$total" 100000)") |"
  local replay all codes_rate
  replay="$(j audit .replay_without_issue.tx_per_sec)"
  all="$(j audit .replay_tx_per_sec)"
  codes_rate="$(jq -r '.replay_with_issue | if .seconds > 0 then .codes / .seconds else 0 end' "$OUT/audit.json")"
  echo "| audit replay | ≥ 50,000 tx/s | $(num "$replay") tx/s over the blocks without issue txs ($(pct "$replay" 50000) %); whole chain $(num "$all") tx/s, issue blocks $(num "$codes_rate") codes/s; download $(num "$(j audit .download_tx_per_sec)") tx/s | $(verdict "$(ge "$replay" 50000)") |"
  local proofs
  proofs="$(j proofs .proofs_per_sec)"
  echo "| token proofs fetched and verified | ≥ 20,000/s | $(num "$proofs")/s ($(pct "$proofs" 20000) %) | $(verdict "$(ge "$proofs" 20000)") |"
  if [ "$TOKENS_AT_RSS" -ge 1000000 ]; then
    echo "| node RSS at 1,000,000 tokens | < 500 MiB | peak while issuing $(num "$MAX_PEAK") MiB, $(num "$MAX_RSS") MiB right after, at $(num "$TOKENS_AT_RSS") tokens (judged on the peak) | $(verdict "$(awk -v a="$MAX_PEAK" 'BEGIN { print (a < 500) ? 1 : 0 }')") |"
  else
    echo "| node RSS at 1,000,000 tokens | < 500 MiB | largest $(num "$MAX_RSS") MiB at only $(num "$TOKENS_AT_RSS") tokens (BENCH_TOKENS=1000000 for the target) | not judged |"
  fi
  echo
  echo "### bench redeem"
  echo
  echo "| C | committed tx/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | GET /healthz req/s at C | client CPU (cores) | mean txs per block | leader apply busy | written per tx per node (KiB) | machine: busy / I/O wait / other processes (cores) |"
  echo "| - | - | - | - | - | - | - | - | - | - | - | - | - | - |"
  for c in $CONCURRENCY; do
    local f="redeem-c$c"
    echo "| $c | $(num "$(j "$f" .committed_per_sec)") | $(num "$(j "$f" .p50_ms)" 2) | $(num "$(j "$f" .p90_ms)" 2) | $(num "$(j "$f" .p99_ms)" 2) | $(num "$(j "$f" .p999_ms)" 2) | $(num "$(j "$f" .max_ms)" 1) |" \
      "$(j "$f" '.errors as $e | if $e == 0 then "0" else "\($e) (\(.errors_by_code | to_entries | map("\(.key) \(.value)") | join(", ")))" end')" \
      "| $(num "$(j "$f" '.load_generator.healthz_per_sec // 0')") | $(j "$f" '.load_generator.client_cpu_cores // "?"') |" \
      "$(j "$f" '[.node_side[] | .mean_block_txs | numbers] | max // 0') |" \
      "$(j "$f" '[.node_side[] | .apply_busy] | max // 0') |" \
      "$(j "$f" '.committed as $c | [.node_side[] | .written_mib | numbers] | if length > 0 and $c > 0 then (add / length * 1024 / $c * 10 | round / 10) else "?" end') |" \
      "$(j "$f" 'if .machine then "\(.machine.busy_cores) / \(.machine.iowait_cores) / \(.machine.other_cores // "?")" else "?" end') |"
    if [ "$(j "$f" .exhausted)" = true ]; then
      echo "| | (the pre-signed coupons ran out after $(j "$f" .duration_s) s) | | | | | | | | | | | | |"
    fi
  done
  echo
  echo "Committed tx/s count applied redemptions over the measured wall time (first request to"
  echo "last answer). \"GET /healthz\" is the same load generator at the same concurrency against"
  echo "a trivial endpoint for 2 s before the run: what HTTP alone allows on this machine. \"client"
  echo "CPU\" is the load generator's own CPU use during the run, in cores (the machine has"
  echo "$(nproc)). \"mean txs per block\" and \"leader apply busy\" (share of the run the leader spent"
  echo "applying blocks) come from the nodes' \`/metrics\` (\`cactus_block_txs\`,"
  echo "\`cactus_block_apply_seconds\`) before and after the run. \"written\" is what each node's"
  echo "process wrote to storage during the run (\`/proc/<pid>/io\` write_bytes: RocksDB WAL,"
  echo "memtable flushes and compaction) per committed redemption. \"machine\" is \`/proc/stat\` over the"
  echo "run: cores busy, cores waiting for I/O, and cores used by processes other than the three"
  echo "nodes and the load generator (other work on this shared machine)."
  echo
  echo "### bench issue, proofs, audit"
  echo
  echo "- issue (first, into the empty chain): $(num "$(j issue .codes)") codes in $(j issue .batches) batches of 5,000, 4 in flight: generate+seal"
  echo "  $(j issue .generate_seal_s) s ($(num "$(j issue .generate_seal_codes_per_sec)") codes/s on $(j issue .threads) threads), sign"
  echo "  $(j issue .sign_s) s, submit→commit $(j issue .submit_s) s ($(num "$(j issue .committed_codes_per_sec)") codes/s; per batch p50"
  echo "  $(num "$(j issue .p50_ms)") ms, p99 $(num "$(j issue .p99_ms)") ms), total $(j issue .total_s) s = $(num "$(j issue .total_codes_per_sec)") codes/s."
  echo "- node RSS right after issuing ($(num "$TOKENS_AT_RSS") tokens on the chain): $(jq -r '.rss_mib | map(tostring) | join(", ")' "$OUT/rss-after-issue.json") MiB;"
  echo "  at the end, after the redeem runs, the proofs and the audit ($(num "$TOKENS_AT_END") tokens):"
  echo "  $(jq -r '.rss_mib | map(tostring) | join(", ")' "$OUT/rss-end.json") MiB (largest $(num "$MAX_RSS_END") MiB). Peak (VmHWM) while issuing"
  echo "  $(jq -r '.peak_mib | map(tostring) | join(", ")' "$OUT/rss-after-issue.json") MiB (largest $(num "$MAX_PEAK") MiB), over the whole run $(num "$MAX_PEAK_END") MiB."
  echo "- proofs: $(num "$(j proofs .verified)") token reads (signed) of a $(num "$(j proofs .tokens)")-token pool, 64 in flight, each state proof"
  echo "  checked locally ($(j proofs .verify_mean_us) µs each) and its header tied to a certificate once per header"
  echo "  ($(j proofs .headers_certified) header(s)): $(num "$(j proofs .proofs_per_sec)") proofs/s, p50 $(num "$(j proofs .p50_ms)" 2) ms, p99 $(num "$(j proofs .p99_ms)" 2) ms, errors $(j proofs .errors)."
  echo "- audit: the whole chain the runs above made, $(num "$(j audit .blocks)") blocks and $(num "$(j audit .txs)") txs"
  echo "  ($(j audit '.tx_kinds | to_entries | map("\(.key) \(.value)") | join(", ")'); $(num "$(j audit .issued_codes)") codes issued): download"
  echo "  $(j audit .download_s) s, then replay from memory $(j audit .replay_s) s ($(num "$(j audit .replay_tx_per_sec)") tx/s: every signature,"
  echo "  root and certificate re-checked, every block re-executed from genesis). Each block's replay"
  echo "  is timed: the $(num "$(j audit .replay_without_issue.blocks)") blocks without issue txs ($(num "$(j audit .replay_without_issue.txs)") txs) took"
  echo "  $(j audit .replay_without_issue.seconds) s, the $(num "$(j audit .replay_with_issue.blocks)") blocks with issue txs ($(num "$(j audit .replay_with_issue.codes)") codes to insert) $(j audit .replay_with_issue.seconds) s."
  echo
  echo "The JSON of every run is in \`${OUT#"$ROOT"/}/\` after a run."
  echo
  echo "$END_MARK"
}

[ -n "$RTT" ] || SECTION="$(section)"
if [ -z "$DOC" ]; then
  printf '%s\n' "$SECTION"
  exit 0
fi
[ -f "$DOC" ] || die "$DOC not found"
printf '%s\n' "$SECTION" >"$OUT/section.md"
if grep -qF "$BEGIN_MARK" "$DOC"; then
  awk -v begin="$BEGIN_MARK" -v end="$END_MARK" -v file="$OUT/section.md" '
    $0 == begin { while ((getline line < file) > 0) print line; skip = 1; next }
    skip && $0 == end { skip = 0; next }
    !skip { print }' "$DOC" >"$OUT/doc.md"
  cat "$OUT/doc.md" >"$DOC"
else
  { echo; cat "$OUT/section.md"; } >>"$DOC"
fi
log "wrote the figures into $DOC"
printf '%s\n' "$SECTION"
