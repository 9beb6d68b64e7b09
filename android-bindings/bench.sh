#!/usr/bin/env bash
# FFI benchmark (issue 6): a house call saved from Kotlin vs from Rust (p50, both stores encrypted), and the size of the
# stripped release library. Needs what scripts/test-android.sh installs (JNA, npm ci).
# Builds the release-ffi profile (minutes on 2 cores); figures go to docs/benchmarks.md by hand.
# Usage: bash android-bindings/bench.sh [--no-rust]
set -euo pipefail
cd "$(dirname "$0")/.."
KOTLINC=android-bindings/node_modules/kotlin-compiler/bin/kotlinc
KLIB=android-bindings/node_modules/kotlin-compiler/lib
[ -x "$KOTLINC" ] || (cd android-bindings && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
JNA=/usr/share/java/jna.jar

cargo build --locked --profile release-ffi -p gridbook-ffi --lib --no-default-features
lib=target/release-ffi/libgridbook_ffi.so
bytes=$(stat -c %s "$lib")
echo "libgridbook_ffi.so (release-ffi, stripped, x86_64-linux-gnu): $bytes bytes = $(awk "BEGIN{printf \"%.2f\", $bytes/1048576}") MiB"

out=target/android-bindings-bench
rm -rf "$out" && mkdir -p "$out"
CP="$JNA:$KLIB/kotlinx-coroutines-core-jvm.jar"
"$KOTLINC" android-bindings/src/main/kotlin android-bindings/src/bench/kotlin -cp "$CP" -d "$out/bench.jar" 2>&1 \
  | { grep -v '^warning:' || true; }
java -Djna.library.path=target/release-ffi -cp "$out/bench.jar:$CP:$KLIB/kotlin-stdlib.jar" cn.gridbook.ffi.BenchKt

if [ "${1:-}" != "--no-rust" ]; then
  # The Kotlin side opens an encrypted store (the FFI has no plain open: phones always encrypt),
  # so the like-for-like baseline is the encrypted Rust bench; the plain one is printed beside it.
  for mode in "" --plain; do
    echo "rust (core/benches/store.rs ${mode:-encrypted}):"
    cargo bench --locked -p gridbook-core --bench store -- $mode 2>/dev/null | grep -E "^store:|demo grid|save one house call"
  done
fi
