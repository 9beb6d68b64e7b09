//! The uniffi bindings generator, built from the same uniffi version as the library.
//!
//! `target/debug/uniffi-bindgen generate target/debug/libgridbook_ffi.so --language kotlin --out-dir DIR`

fn main() {
    uniffi::uniffi_bindgen_main()
}
