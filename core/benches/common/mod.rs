//! Helpers shared by the store benches (`mod common;` in each; not a bench target itself).

use std::time::Duration;

use gridbook_core::Identity;
use gridbook_core::domain::Role;

/// The district admin who makes the demo district.
pub fn admin() -> Identity {
    Identity {
        account_id: "admin".into(),
        role: Role::DistrictAdmin,
        org_node: "district".into(),
        grids: vec![],
    }
}

/// The `p` quantile (0–1) of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
