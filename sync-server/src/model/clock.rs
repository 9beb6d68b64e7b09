//! 时钟: the server's wall clock (rank 0, `model`), one function so every service reads the
//! time the same way.

/// Now, ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
