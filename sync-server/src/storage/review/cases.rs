//! Rows of the case board (接诉即办, `crate::review::cases`; rank 2, `storage`).

/// A case with the server's copy of its document, for folding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseDoc {
    /// Record id.
    pub id: String,
    /// Grid id.
    pub grid_id: String,
    /// The document's saved bytes.
    pub bytes: Vec<u8>,
}
