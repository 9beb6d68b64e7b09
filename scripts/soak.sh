#!/usr/bin/env bash
# Soak the convergence simulation: many seeds, release build.
# Usage: bash scripts/soak.sh [SEEDS] [FIRST_SEED]     (default 2000 seeds from 0)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-2000}
first=${2:-0}
cargo build --release -q -p gridbook-sync-server --bin gridbook-server
start=$(date +%s)
GRIDBOOK_SERVER_BIN="$PWD/target/release/gridbook-server" GRIDBOOK_SIM_SEEDS="$seeds" GRIDBOOK_SIM_FIRST="$first" \
  cargo test --release -p gridbook-tests --test simulation -- --nocapture
echo "soak: $seeds seeds from $first in $(( $(date +%s) - start )) s"
