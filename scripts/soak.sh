#!/usr/bin/env bash
# Soak the convergence simulation: many seeds, release build, one process per seed, JOBS at a
# time, a line per seed as it ends; failures keep their log and print how to replay them.
# Usage: bash scripts/soak.sh [SEEDS] [FIRST_SEED]     (default 2000 seeds from 0)
# Env: JOBS (parallel seeds, default the number of cores), SOAK_LOGS (default a temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-2000}
first=${2:-0}
jobs=${JOBS:-$(nproc)}
logs=${SOAK_LOGS:-$(mktemp -d -t gridbook-soak.XXXXXX)}
mkdir -p "$logs"
cargo build --release -q -p gridbook-sync-server --bin gridbook-server
bin=$(cargo test --release -p gridbook-tests --test simulation --no-run 2>&1 \
  | grep -o 'target/release/deps/simulation-[0-9a-f]*' | head -1)
[ -x "$bin" ] || { echo "soak: simulation test binary not found" >&2; exit 1; }
export GRIDBOOK_SERVER_BIN="$PWD/target/release/gridbook-server" SIM_BIN="$PWD/$bin" LOGS="$logs"
start=$(date +%s)
one() {
  local s=$1 t0
  t0=$(date +%s)
  if GRIDBOOK_SIM_SEED="$s" "$SIM_BIN" --nocapture >"$LOGS/seed-$s.log" 2>&1; then
    # Keep the seed's counts (faults, kills during a push, writes) for the record.
    echo "seed $s ok ($(( $(date +%s) - t0 )) s): $(grep -m1 '^simulation:' "$LOGS/seed-$s.log" | cut -d';' -f2-)"
    rm -f "$LOGS/seed-$s.log"
  else
    echo "seed $s FAILED ($(( $(date +%s) - t0 )) s): $LOGS/seed-$s.log;" \
      "replay: GRIDBOOK_SIM_SEED=$s cargo test -p gridbook-tests --test simulation -- --nocapture"
  fi
}
export -f one
seq "$first" $(( first + seeds - 1 )) | xargs -P "$jobs" -I{} bash -c 'one {}' | tee "$logs/summary.txt"
failed=$(grep -c FAILED "$logs/summary.txt" || true)
echo "soak: $seeds seeds from $first, $failed failed, in $(( $(date +%s) - start )) s (logs: $logs)"
[ "$failed" -eq 0 ]
