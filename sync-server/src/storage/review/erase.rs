//! Rows of the erase form (擦除人员信息, `crate::review::erase`; rank 2, `storage`).

/// A person as the erase form lists it: masked, from the query tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonMatch {
    /// Record id.
    pub id: String,
    /// Masked name.
    pub name_masked: String,
    /// Masked ID number (empty when none).
    pub id_number_masked: String,
    /// Relation to the head of household.
    pub relation: String,
    /// Household address (empty when none).
    pub address: String,
    /// Grid id.
    pub grid_id: String,
    /// Whether the person was erased already.
    pub erased: bool,
}
