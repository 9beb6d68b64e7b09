//! Rows of the visit coverage (走访覆盖, `crate::review::visits`) and of the visits due rule
//! run over a grid (rank 2, `storage`).

/// A household of a grid with its last house call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdVisit {
    /// Household id.
    pub id: String,
    /// Registration day (`YYYY-MM-DD`).
    pub registered_on: String,
    /// Day of its last house call, if any.
    pub last_visit: Option<String>,
}

/// A person label active on a day, in a grid's households.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLabel {
    /// Household id.
    pub household_id: String,
    /// Person id.
    pub person_id: String,
    /// Label (人员类别).
    pub label: String,
    /// Day the label began (`YYYY-MM-DD`).
    pub start_date: String,
}

/// A grid's households and house calls in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GridVisits {
    /// Households.
    pub households: i64,
    /// House calls in the window.
    pub visits_done: i64,
    /// Households visited in the window.
    pub households_visited: i64,
}
