#!/usr/bin/env bash
# Kotlin JVM tests of the generated Android bindings, on a fresh Debian machine:
#   1. installs JNA (Debian libjna-java) and the Kotlin compiler (npm kotlin-compiler, pinned by
#      android-bindings/package-lock.json);
#   2. builds the ffi host library (debug), the uniffi-bindgen bin and gridbook-server;
#   3. regenerates the Kotlin and Swift bindings and FAILS if the committed files are stale;
#   4. compiles bindings + tests once and runs the suite against target/debug through JNA.
# Usage: bash scripts/test-android.sh    (GRIDBOOK_KT_ONLY=substring runs matching scenarios)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { printf '[test-android %ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
apt_install() {
  say "apt-get install $*"
  if ! $SUDO apt-get install -y "$@" >/dev/null 2>&1; then
    $SUDO apt-get update >/dev/null
    $SUDO apt-get install -y "$@" >/dev/null
  fi
}
JNA=/usr/share/java/jna.jar
[ -f "$JNA" ] || apt_install libjna-java
command -v java >/dev/null || apt_install default-jdk-headless
command -v npm >/dev/null || apt_install npm

say "npm ci (kotlin-compiler)"
(cd android-bindings && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
KOTLINC=android-bindings/node_modules/kotlin-compiler/bin/kotlinc
KLIB=android-bindings/node_modules/kotlin-compiler/lib

# One invocation over the workspace: the same feature set as the workspace build and tests
# before it, so nothing is compiled twice (libgridbook_ffi.so, uniffi-bindgen, gridbook-server).
say "cargo build (ffi library, uniffi-bindgen, gridbook-server)"
cargo build --locked --workspace --lib --bins

say "bindings are up to date (Kotlin and Swift)"
GRIDBOOK_BINDINGS_NO_BUILD=1 bash android-bindings/generate.sh --check

out=target/android-bindings-jvm
rm -rf "$out" && mkdir -p "$out"
CP="$JNA:$KLIB/kotlinx-coroutines-core-jvm.jar:$KLIB/kotlin-test.jar"
say "kotlinc (bindings + tests)"
"$KOTLINC" android-bindings/src/main/kotlin android-bindings/src/test/kotlin -cp "$CP" -d "$out/tests.jar" 2>&1 \
  | { grep -v '^warning:' || true; }
[ -f "$out/tests.jar" ] || { echo "kotlinc failed" >&2; exit 1; }

say "running the JVM suite"
GRIDBOOK_SERVER=target/debug/gridbook-server java -Djna.library.path=target/debug \
  -cp "$out/tests.jar:$CP:$KLIB/kotlin-stdlib.jar" cn.gridbook.ffi.BindingsTestKt
say "done"
