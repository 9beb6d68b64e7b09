#!/usr/bin/env bash
# Browser tests of the supervisor dashboard (issue 7): installs Chromium, its driver, CJK fonts
# and Node from the Debian packages, the pinned npm packages of sync-server/web (chart.js served
# by the dashboard, playwright-core driving the system Chromium) with `npm ci`, then runs
# tests/tests/browser against a real server on 127.0.0.1. Screenshots land in docs/screenshots/.
# Run by scripts/test.sh after `cargo test`; alone: bash scripts/test-browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

export DEBIAN_FRONTEND=noninteractive
apt_pkgs=(chromium chromium-driver fonts-noto-cjk)
command -v node >/dev/null || apt_pkgs+=(nodejs)
command -v npm >/dev/null || apt_pkgs+=(npm)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends chromium chromium-driver "${missing[@]}"
fi
chromium --version || true

(cd sync-server/web && npm ci --no-audit --no-fund)

GRIDBOOK_BROWSER_TESTS=1 cargo test -p gridbook-tests --test browser --locked -- --nocapture
echo "browser tests done in $(( $(date +%s) - start )) s"
