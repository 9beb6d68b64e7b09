#!/usr/bin/env bash
# Issue 10: flame graphs of the release server during (A) upload of 10,000 records and during
# the sync storm, written to docs/flamegraphs/*.svg. Needs `perf` and inferno
# (`cargo install inferno`). Not part of CI.
#   bash bench/profile.sh [upload|storm]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHAT=("$@")
[ ${#WHAT[@]} -gt 0 ] || WHAT=(upload storm)
TMP=$(mktemp -d -t gridbook-profile.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p docs/flamegraphs
svg() { # perf.data title out.svg
  perf script -i "$1" 2>/dev/null | inferno-collapse-perf | \
    inferno-flamegraph --title "$2" --width 1600 > "$3"
  echo "wrote $3" >&2
}
for w in "${WHAT[@]}"; do
  case $w in
    upload)
      BENCH_PERF=$TMP/perf BENCH_DIR=$TMP BENCH_N=10000 timeout 600 \
        cargo bench -q -p gridbook-sync-server --bench peers >&2
      svg "$TMP/perf.upload-10000" "gridbook-server during (A): upload of 10,000 ledgers" \
        "$ROOT/docs/flamegraphs/server-upload-10000.svg" ;;
    storm)
      BENCH_PERF=$TMP/perf timeout 1500 cargo bench -q -p gridbook-sync-server --bench storm
      svg "$TMP/perf.storm" "gridbook-server during the sync storm (2,257 devices, 200 in flight)" \
        "$ROOT/docs/flamegraphs/server-storm.svg" ;;
    *) echo "unknown: $w" >&2; exit 2 ;;
  esac
done
