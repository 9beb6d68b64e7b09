#!/usr/bin/env bash
# Issue 10: gridbook against automerge-repo and PouchDB, same records, same scenarios.
#   bash bench/run.sh [N...]        (default: 2000 10000)
# Builds the release server + the gridbook bench (sync-server/benches/peers.rs), installs the
# pinned peers (bench/package-lock.json) with `npm ci`, runs every system, prints the table
# and writes it to docs/benchmarks.md ("## Against peers (issue 10)").
# Not part of CI. Env: BENCH_BUDGET (seconds per peer and N, default 240).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NS=("$@")
[ ${#NS[@]} -gt 0 ] || NS=(2000 10000)
BUDGET=${BENCH_BUDGET:-240}
OUT=$(mktemp -d -t gridbook-peer-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$OUT"
}
trap cleanup EXIT

if [ ! -d bench/node_modules ]; then (cd bench && npm ci --no-audit --no-fund >/dev/null); fi
cargo build --release -q -p gridbook-sync-server
cargo bench -q -p gridbook-sync-server --bench peers --no-run 2>/dev/null

echo "gridbook (N = ${NS[*]}) ..." >&2
BENCH_DIR=$OUT BENCH_N="${NS[*]}" timeout $((BUDGET * ${#NS[@]})) \
  cargo bench -q -p gridbook-sync-server --bench peers >&2
for n in "${NS[@]}"; do
  for sys in pouchdb automerge; do
    echo "$sys N=$n (bound ${BUDGET} s) ..." >&2
    BENCH_DIR=$OUT timeout -s TERM -k 5 "$BUDGET" node bench/peers.mjs "$sys" "$n" >&2 &
    PIDS+=($!)
    wait $! || echo "  $sys N=$n: exit $? (time bound or error; see the table)" >&2
  done
done
node bench/report.mjs "$OUT" "$BUDGET" "$ROOT/docs/benchmarks.md" "bash bench/run.sh ${NS[*]}"
