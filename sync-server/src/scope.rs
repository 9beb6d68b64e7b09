//! Which scopes (grids, and the district scope) an account may read and write.
//!
//! - grid worker / grid leader → its own grid (or its own sub-grid, 二级网格);
//! - community supervisor → the grids under its community and their sub-grids;
//! - sub-district supervisor → the grids and sub-grids of its communities;
//! - district admin → every grid and sub-grid and the district scope;
//! - department → the cases dispatched to it (分派): its scope is `dept:<org node>`, a scope no
//!   record lives in; the server keeps which cases were dispatched to which department, pulls
//!   them to the department's devices as whole documents and lets the department add workflow
//!   transitions to them (see [`department_scope`]).
//!
//! Everyone also reads [`DISTRICT_SCOPE`] (the org tree, templates); only the district admin
//! writes it.

use std::collections::BTreeSet;

use gridbook_core::domain::{DISTRICT_SCOPE, Role};

use crate::storage::OrgGrid;

/// What one account may see and change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Scopes pulled.
    pub read: BTreeSet<String>,
    /// Scopes pushed changes may belong to.
    pub write: BTreeSet<String>,
}

impl Grants {
    /// Whether a record of `scope` may be changed.
    pub fn may_write(&self, scope: &str) -> bool {
        self.write.contains(scope)
    }

    /// The grids written (without the district and department scopes): the phone's
    /// `Identity::grids`.
    pub fn grids(&self) -> Vec<String> {
        self.write
            .iter()
            .filter(|s| *s != DISTRICT_SCOPE && !s.starts_with(DEPARTMENT_SCOPE_PREFIX))
            .cloned()
            .collect()
    }
}

pub use crate::model::scopes::DEPARTMENT_SCOPE_PREFIX;

/// The scope of the department at `org_node`: what its devices pull (the cases dispatched to
/// it) and what its grants name.
pub fn department_scope(org_node: &str) -> String {
    format!("{DEPARTMENT_SCOPE_PREFIX}{org_node}")
}

/// The grants of `role` bound to `org_node`, given the current org tree.
pub fn grants(role: Role, org_node: &str, grids: &[OrgGrid]) -> Grants {
    let write: BTreeSet<String> = match role {
        Role::GridWorker | Role::GridLeader => [org_node.to_string()].into(),
        Role::CommunitySupervisor => grids
            .iter()
            .filter(|g| g.community.as_deref() == Some(org_node))
            .map(|g| g.id.clone())
            .collect(),
        Role::SubDistrictSupervisor => grids
            .iter()
            .filter(|g| g.sub_district.as_deref() == Some(org_node))
            .map(|g| g.id.clone())
            .collect(),
        Role::DistrictAdmin => grids
            .iter()
            .map(|g| g.id.clone())
            .chain([DISTRICT_SCOPE.to_string()])
            .collect(),
        Role::Department => [department_scope(org_node)].into(),
    };
    let mut read = write.clone();
    read.insert(DISTRICT_SCOPE.to_string());
    Grants { read, write }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<OrgGrid> {
        let g = |id: &str, c: &str, s: &str| OrgGrid {
            id: id.into(),
            community: Some(c.into()),
            sub_district: Some(s.into()),
        };
        vec![
            g("g1", "c1", "s1"),
            g("g2", "c1", "s1"),
            g("g3", "c2", "s1"),
            g("g4", "c3", "s2"),
        ]
    }

    #[test]
    fn each_role_sees_its_area() {
        let t = tree();
        let w = grants(Role::GridWorker, "g1", &t);
        assert!(w.may_write("g1") && !w.may_write("g2") && !w.may_write(DISTRICT_SCOPE));
        assert!(w.read.contains(DISTRICT_SCOPE));
        assert_eq!(grants(Role::CommunitySupervisor, "c1", &t).grids(), vec!["g1", "g2"]);
        assert_eq!(
            grants(Role::SubDistrictSupervisor, "s1", &t).grids(),
            vec!["g1", "g2", "g3"]
        );
        let a = grants(Role::DistrictAdmin, "d", &t);
        assert!(a.may_write(DISTRICT_SCOPE) && a.may_write("g4"));
        let d = grants(Role::Department, "x", &t);
        assert_eq!(d.read, [DISTRICT_SCOPE.to_string(), "dept:x".to_string()].into());
        assert!(!d.may_write("g1") && d.may_write("dept:x"));
    }
}
