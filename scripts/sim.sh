#!/usr/bin/env bash
# The deterministic cluster simulator's nightly-style swarm: thousands of seeded random
# fault schedules (network faults, crashes at any write, full disks, clock skew) against
# three replica cores on real RocksDB stores (node/src/sim). CI runs 200 seeds of the same
# swarm inside scripts/test.sh; this runs as many as you ask and prints, per shard, what
# was injected and how many seeds broke an invariant (each failure names its seed).
#
#   scripts/sim.sh                 5,000 seeds
#   scripts/sim.sh 20000           that many seeds
#   CACTUS_SIM_SEED=1234 scripts/sim.sh   one seed alone (replay a failure)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

ensure_cargo
ensure_build_deps
ensure_nextest

export CACTUS_SIM_SEEDS="${1:-5000}"
if [ -n "${CACTUS_SIM_SEED:-}" ]; then
  log "simulator swarm: seed $CACTUS_SIM_SEED alone"
else
  log "simulator swarm: $CACTUS_SIM_SEEDS seeds"
fi
# The test profile and the whole workspace's feature set, as scripts/test.sh builds them,
# so this reuses that build instead of compiling RocksDB again.
cargo nextest run --workspace --locked --no-fail-fast \
  --success-output immediate --failure-output immediate \
  -E 'binary(couponcactus_node) & test(/sim::scenarios::swarm_shard_/)'
