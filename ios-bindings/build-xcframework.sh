#!/usr/bin/env bash
# Builds ios-bindings/GridbookFFIFFI.xcframework (static libgridbook_ffi.a for iOS devices, the
# iOS simulator and macOS, with the C header and module map) for Package.swift.
# Runs on macOS with Xcode and rustup only; not run on the Linux CI (no Swift toolchain there).
# Usage: bash ios-bindings/build-xcframework.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }

# The committed Swift must match the library we are about to package.
bash android-bindings/generate.sh --check

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo build --locked --profile release-ffi -p gridbook-ffi --lib --no-default-features --target "$t"
done

out=target/xcframework
rm -rf "$out" ios-bindings/GridbookFFIFFI.xcframework
mkdir -p "$out/ios" "$out/ios-sim" "$out/macos" "$out/headers"
lib() { echo "target/$1/release-ffi/libgridbook_ffi.a"; }
cp "$(lib aarch64-apple-ios)" "$out/ios/libgridbook_ffi.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$out/ios-sim/libgridbook_ffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$out/macos/libgridbook_ffi.a"
cp ios-bindings/Sources/GridbookFFIFFI/include/GridbookFFIFFI.h ios-bindings/Sources/GridbookFFIFFI/include/module.modulemap "$out/headers/"

xcodebuild -create-xcframework \
  -library "$out/ios/libgridbook_ffi.a" -headers "$out/headers" \
  -library "$out/ios-sim/libgridbook_ffi.a" -headers "$out/headers" \
  -library "$out/macos/libgridbook_ffi.a" -headers "$out/headers" \
  -output ios-bindings/GridbookFFIFFI.xcframework
echo "built ios-bindings/GridbookFFIFFI.xcframework; then: swift build --package-path ios-bindings"
