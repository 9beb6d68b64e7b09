#!/usr/bin/env bash
# Fuzz each target for N minutes (default 10) on the stable toolchain (no sanitizer).
# Usage: bash scripts/fuzz.sh [MINUTES] [TARGET...]
# Targets: sync_request change_validator template_parser workflow_parser
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
minutes=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sync_request change_validator template_parser workflow_parser)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do
  echo "== fuzzing $t for $minutes min"
  # New inputs go to work/ (not committed); corpus/ is the committed seed corpus.
  mkdir -p "work/$t" "corpus/$t"
  cargo fuzz run -s none "$t" "work/$t" "corpus/$t" -- -max_total_time=$((minutes * 60)) -max_len=65536 -rss_limit_mb=2048
done
