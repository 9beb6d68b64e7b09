//! Bad input in a record reaches the app as a typed `ApiError`, not uniffi's internal error.
//!
//! A date, instant or JSON value inside a record is lifted by a custom type (`ffi/src/types.rs`)
//! before the exported function runs. Its `ApiError` travels inside uniffi's lift error, and
//! uniffi's `handle_failed_lift` hands it to the app as the function's error when it is of the
//! function's error type. These tests call the exported scaffolding function with bytes as the
//! Kotlin bindings would write them, and read back the error the app would see.

use std::mem::ManuallyDrop;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use gridbook_core::Identity;
use gridbook_core::domain::Role;
use gridbook_ffi::{ApiError, Store, UniFfiTag};
use uniffi::{Lift, Lower, RustBuffer, RustCallStatus, RustCallStatusCode};

fn admin() -> Identity {
    Identity {
        account_id: "admin".into(),
        role: Role::DistrictAdmin,
        org_node: "district".into(),
        grids: vec![],
    }
}

/// Bytes of a text field in uniffi's serialised form (length, then UTF-8).
fn put_str(buf: &mut Vec<u8>, s: &str) {
    <String as Lower<UniFfiTag>>::write(s.to_string(), buf);
}

/// A `Household` record as the bindings serialise it, its `registered_on` day given as text.
fn household_bytes(registered_on: &str) -> RustBuffer {
    let mut buf = Vec::new();
    buf.extend(1i32.to_be_bytes()); // grid_assignments: one
    put_str(&mut buf, "grid-1");
    put_str(&mut buf, "2026-01-01");
    for field in ["3号楼", "2单元", "301", "幸福路 8 号"] {
        put_str(&mut buf, field); // building, unit, room, address
    }
    buf.extend(1i32.to_be_bytes()); // housing_use: OwnerOccupied (variants count from 1)
    put_str(&mut buf, registered_on);
    RustBuffer::from_vec(buf)
}

/// Calls `Store.createHousehold` through its exported scaffolding function and returns the
/// `ApiError` the app receives (panics if the call did not end with one).
fn create_household_error(registered_on: &str) -> ApiError {
    let store = Store::open_in_memory(vec![7; 32], admin()).expect("store");
    let this = <Arc<Store> as Lower<UniFfiTag>>::lower(store);
    let mut status = RustCallStatus::default();
    let _ = gridbook_ffi::store::uniffi_gridbook_ffi_fn_method_store_create_household(
        this,
        household_bytes(registered_on),
        &mut status,
    );
    assert_eq!(
        status.code,
        RustCallStatusCode::Error,
        "an ApiError, not an internal error"
    );
    <ApiError as Lift<UniFfiTag>>::try_lift(ManuallyDrop::into_inner(status.error_buf)).expect("an ApiError")
}

fn invalid(e: &ApiError) -> (&str, &str, &str) {
    match e {
        ApiError::Invalid {
            code,
            message_en,
            message_zh,
        } => (code, message_en, message_zh),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_bad_day_in_a_record_is_invalid_date_naming_the_value() {
    let e = create_household_error("2026-13-01");
    let (code, en, zh) = invalid(&e);
    assert_eq!(code, "invalid_date");
    assert!(en.contains("`2026-13-01`") && en.contains("YYYY-MM-DD"), "{en}");
    assert!(zh.contains("2026-13-01"), "{zh}");
}

#[test]
fn the_same_record_with_a_good_day_gets_past_the_lift() {
    // The grid does not exist: the core refuses the household, after the dates were read.
    let e = create_household_error("2026-11-01");
    assert_ne!(e.code(), "invalid_date", "{e:?}");
}

#[test]
fn custom_types_lift_to_api_errors() {
    let day = <NaiveDate as Lift<UniFfiTag>>::try_lift(<String as Lower<UniFfiTag>>::lower("27/11/2026".into()));
    let e = day.expect_err("not a day").downcast::<ApiError>().expect("an ApiError");
    assert_eq!(e.code(), "invalid_date");

    let at = <DateTime<Utc> as Lift<UniFfiTag>>::try_lift(i64::MAX - 1);
    let e = at
        .expect_err("out of range")
        .downcast::<ApiError>()
        .expect("an ApiError");
    assert_eq!(e.code(), "invalid_time");

    let json = <serde_json::Value as Lift<UniFfiTag>>::try_lift(<String as Lower<UniFfiTag>>::lower("yes".into()));
    let e = json.expect_err("not JSON").downcast::<ApiError>().expect("an ApiError");
    assert_eq!(e.code(), "invalid_json");

    // And the good values cross both ways unchanged.
    let t = DateTime::from_timestamp_millis(1_764_115_200_123).expect("instant");
    let ms = <DateTime<Utc> as Lower<UniFfiTag>>::lower(t);
    assert_eq!(ms, 1_764_115_200_123);
    assert_eq!(<DateTime<Utc> as Lift<UniFfiTag>>::try_lift(ms).expect("lift"), t);
    let d = NaiveDate::from_ymd_opt(2026, 11, 26).expect("day");
    let text = <NaiveDate as Lower<UniFfiTag>>::lower(d);
    assert_eq!(<NaiveDate as Lift<UniFfiTag>>::try_lift(text).expect("lift"), d);
}
