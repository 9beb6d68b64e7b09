//! The server's sync request decoder, and the gzip layer in front of it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gridbook_core::sync::wire::decode_request(data);
    if let Ok(inflated) = gridbook_core::sync::client::gunzip(data, 1 << 20) {
        let _ = gridbook_core::sync::wire::decode_request(&inflated);
    }
    let _ = gridbook_core::sync::wire::decode_response(data);
});
