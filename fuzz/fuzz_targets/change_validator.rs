//! The server's validation of a pushed change: parse, check hash and actor, apply to a copy of
//! the document, run the shared record and workflow rules.
#![no_main]
use std::collections::BTreeSet;

use gridbook_core::domain::Role;
use gridbook_core::sync::PushChange;
use gridbook_sync_server::scope::Grants;
use gridbook_sync_server::sync::validate::{Pusher, parse, validate_group};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // The validator turns Automerge panics on crafted changes into refusals (catch_unwind);
    // libfuzzer-sys's hook would abort before that. Restore the default hook: a panic that
    // escapes the validator still aborts the run (libfuzzer-sys catches it around the target).
    let _ = std::panic::take_hook();
}, |data: &[u8]| {
    // The actor of a well-formed change decides the device, so valid changes get past the
    // actor check and reach the record rules.
    let parsed = gridbook_core::doc::parse_change(data).ok();
    let device = parsed.as_ref().and_then(|c| uuid::Uuid::from_slice(c.actor_id().to_bytes()).ok()).unwrap_or_default();
    let hash = parsed.as_ref().map(|c| c.hash().to_string()).unwrap_or_default();
    let push = vec![PushChange { doc_id: "doc-1".into(), hash, bytes: data.to_vec() }];
    let (parsed, _rejected) = parse(push, device);
    let scopes: BTreeSet<String> = ["grid-1".to_string(), "district".to_string()].into();
    let who = Pusher {
        account_id: "grid01".into(),
        role: Role::GridWorker,
        grants: Grants { read: scopes, write: ["grid-1".to_string()].into() },
        device_id: device,
        rules: Default::default(),
    };
    let _ = validate_group("doc-1", None, parsed, &who);
});
