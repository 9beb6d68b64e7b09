//! Integration tests of `gridbook-ffi` through uniffi's own scaffolding (what Kotlin and Swift
//! call), without a foreign language.

mod lift;
