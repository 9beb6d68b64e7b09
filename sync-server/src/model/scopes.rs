//! Names of scopes that are not an org node (rank 0, `model`).

/// Prefix of a department's scope.
pub const DEPARTMENT_SCOPE_PREFIX: &str = "dept:";
