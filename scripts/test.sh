#!/usr/bin/env bash
# Runs every test of gridbook on a fresh Debian machine: installs what it needs, then checks
# formatting and lints, and runs the unit, property, integration, binding and browser tests.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -qE '^(rustfmt|clippy)' || rustup component add rustfmt clippy

step "system packages"
# SQLCipher (rusqlite feature bundled-sqlcipher, the phone store's encryption at rest) compiles
# against OpenSSL's libcrypto headers and links the system libcrypto.
if [ ! -f /usr/include/openssl/evp.h ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y libssl-dev >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y libssl-dev >/dev/null; }
fi

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (unit, property, integration; convergence simulation at ${GRIDBOOK_SIM_SEEDS:-100} seeds)"
GRIDBOOK_SIM_SEEDS=${GRIDBOOK_SIM_SEEDS:-100} cargo test --workspace --locked

for extra in scripts/test-*.sh; do
  [ -e "$extra" ] || continue
  step "$extra"
  bash "$extra"
done

step "done in $(( $(date +%s) - start )) s"
