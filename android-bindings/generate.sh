#!/usr/bin/env bash
# Regenerates the committed bindings from the current `ffi` crate:
#   android-bindings/src/main/kotlin/cn/gridbook/ffi/gridbook_ffi.kt   (Kotlin)
#   ios-bindings/Sources/GridbookFFI/GridbookFFI.swift                  (Swift)
#   ios-bindings/Sources/GridbookFFIFFI/include/{GridbookFFIFFI.h,module.modulemap}
# Builds the host library (debug) and the `uniffi-bindgen` bin in one cargo invocation (same
# features, so the uniffi crates compile once), then runs uniffi-bindgen in library mode.
# Usage: bash android-bindings/generate.sh [--check]   (from anywhere; paths are repo-relative)
#   --check: generate into a temp dir and fail if the committed files differ (stale bindings).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1

# GRIDBOOK_BINDINGS_NO_BUILD=1: the caller already built target/debug (scripts/test-android.sh).
[ "${GRIDBOOK_BINDINGS_NO_BUILD:-}" = 1 ] || cargo build -p gridbook-ffi --locked
lib=target/debug/libgridbook_ffi.so
[ "$(uname)" = Darwin ] && lib=target/debug/libgridbook_ffi.dylib
bindgen=target/debug/uniffi-bindgen

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bindgen" generate "$lib" --language kotlin --no-format --out-dir "$out/kotlin" >/dev/null
"$bindgen" generate "$lib" --language swift --no-format --out-dir "$out/swift" >/dev/null

# Lay the files out where the Gradle module and the Swift package expect them.
mkdir -p "$out/tree/android-bindings/src/main/kotlin/cn/gridbook/ffi" \
  "$out/tree/ios-bindings/Sources/GridbookFFI" "$out/tree/ios-bindings/Sources/GridbookFFIFFI/include"
cp "$out/kotlin/cn/gridbook/ffi/gridbook_ffi.kt" "$out/tree/android-bindings/src/main/kotlin/cn/gridbook/ffi/"
cp "$out/swift/GridbookFFI.swift" "$out/tree/ios-bindings/Sources/GridbookFFI/"
cp "$out/swift/GridbookFFIFFI.h" "$out/tree/ios-bindings/Sources/GridbookFFIFFI/include/"
# SwiftPM wants the module map named module.modulemap next to the header.
cp "$out/swift/GridbookFFIFFI.modulemap" "$out/tree/ios-bindings/Sources/GridbookFFIFFI/include/module.modulemap"

files=(
  android-bindings/src/main/kotlin/cn/gridbook/ffi/gridbook_ffi.kt
  ios-bindings/Sources/GridbookFFI/GridbookFFI.swift
  ios-bindings/Sources/GridbookFFIFFI/include/GridbookFFIFFI.h
  ios-bindings/Sources/GridbookFFIFFI/include/module.modulemap
)
if [ "$check" = 1 ]; then
  stale=0
  for f in "${files[@]}"; do
    if ! diff -q "$out/tree/$f" "$f" >/dev/null 2>&1; then
      echo "STALE: $f differs from what the current ffi generates" >&2
      diff -u "$f" "$out/tree/$f" 2>&1 | head -40 >&2 || true
      stale=1
    fi
  done
  if [ "$stale" = 1 ]; then
    echo "The committed bindings are stale: run 'bash android-bindings/generate.sh' and commit the result." >&2
    exit 1
  fi
  echo "bindings up to date (${#files[@]} files)"
else
  for f in "${files[@]}"; do
    mkdir -p "$(dirname "$f")"
    cp "$out/tree/$f" "$f"
  done
  echo "generated: ${files[*]}"
fi
