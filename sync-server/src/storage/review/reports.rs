//! Rows of the reports page (指标, 月考评; `crate::review::reports`; rank 2, `storage`).

/// A case's query row as the metrics read it: its grid, its summary (JSON of
/// `gridbook_core::workflow::CaseRow`) and who reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    /// Grid id.
    pub grid_id: String,
    /// `summary_json` of the case.
    pub summary_json: String,
    /// Reporter's account id.
    pub reporter: String,
}
