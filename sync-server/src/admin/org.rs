//! 组织架构: create and edit org nodes, import the usual org spreadsheet (街道 / 社区 / 网格 /
//! 楼栋 / 单元 / 户), and effective-dated re-gridding of households.
//!
//! Org nodes are ordinary records of the district scope, made by a `core` store loaded with the
//! server's org tree, so `core`'s rules (parent levels, code scheme, codes nesting) decide, and
//! the records reach every device at its next sync. The spreadsheet import is all or nothing
//! like the residents import: the rows are applied to the in-memory store first, every row
//! that fails is reported, and the server is written only when none did.

use std::collections::HashMap;

use chrono::NaiveDate;
use gridbook_core::domain::{GridAssignment, Household, HousingUse, OrgLevel, OrgNode};
use gridbook_core::{Error, Store};
use serde::Serialize;

use super::residents::{ImportError, ImportReport, RowIssue, admin_store, commit_outbox, read_table};
use crate::audit::Action;
use crate::error::{ApiError, ApiResult};
use crate::storage::Storage;
use crate::storage::sqlite::working_store;

/// Create a node; returns its id.
pub fn create_node(storage: &dyn Storage, node: &OrgNode, operator: &str) -> ApiResult<String> {
    let mut store = admin_store(storage, operator)?;
    let id = store.create(node)?;
    commit_outbox(storage, &store)?;
    super::audit(
        storage,
        Action::OrgChange,
        operator,
        &format!("org_node:{id}"),
        &format!("create level={:?}", node.level),
    )?;
    Ok(id)
}

/// What an edit changes (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct NodeEdit {
    /// New name.
    pub name: Option<String>,
    /// New code.
    pub code: Option<String>,
    /// Close the node from this day (inclusive end).
    pub effective_to: Option<NaiveDate>,
}

/// Edit a node (name, code, end date); the change syncs like any edit.
pub fn edit_node(storage: &dyn Storage, id: &str, edit: &NodeEdit, operator: &str) -> ApiResult<OrgNode> {
    let mut store = admin_store(storage, operator)?;
    let mut node: OrgNode = store.get(id).map_err(|e| match e {
        Error::NotFound { .. } | Error::Corrupt { .. } => ApiError::NotFound("org_node".into()),
        e => ApiError::Core(e),
    })?;
    if let Some(n) = &edit.name {
        node.name = n.trim().to_string();
    }
    if let Some(c) = &edit.code {
        node.code = c.trim().to_string();
    }
    if edit.effective_to.is_some() {
        node.effective_to = edit.effective_to;
    }
    store.update(id, &node)?;
    commit_outbox(storage, &store)?;
    super::audit(storage, Action::OrgChange, operator, &format!("org_node:{id}"), "edit")?;
    Ok(node)
}

/// The columns of the org spreadsheet.
pub const ORG_COLUMNS: [(&str, &str); 9] = [
    ("sub_district", "街道"),
    ("sub_district_code", "街道编码"),
    ("community", "社区"),
    ("community_code", "社区编码"),
    ("grid", "网格"),
    ("grid_code", "网格编码"),
    ("building", "楼栋"),
    ("unit", "单元"),
    ("household", "户"),
];

/// What an org import made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OrgImportOutcome {
    /// Nodes made (sub-districts, communities, grids, buildings, units).
    pub nodes: usize,
    /// Households made.
    pub households: usize,
}

fn node_by_code(store: &Store, level: OrgLevel, code: &str) -> ApiResult<Option<String>> {
    let level = serde_json::to_value(level)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(working_store::node_by_code(store, &level, code)?)
}

fn child_by_name(store: &Store, parent: &str, name: &str) -> ApiResult<Option<String>> {
    Ok(working_store::child_by_name(store, parent, name)?)
}

/// Import the org spreadsheet (XLSX or UTF-8 CSV), all or nothing. Nodes that exist (same
/// level and code, or same name under the same parent for buildings and units) are reused.
pub fn import_org(
    storage: &dyn Storage,
    bytes: &[u8],
    operator: &str,
    from: NaiveDate,
) -> Result<OrgImportOutcome, ImportError> {
    let table = read_table(bytes)?;
    let Some((_, header)) = table.first() else {
        return Err(ImportError::MissingColumns(vec!["街道", "社区", "网格"]));
    };
    let index: HashMap<&str, usize> = ORG_COLUMNS
        .iter()
        .filter_map(|(key, zh)| {
            header
                .iter()
                .position(|h| h.trim() == *zh || h.trim().eq_ignore_ascii_case(key))
                .map(|i| (*key, i))
        })
        .collect();
    let missing: Vec<&'static str> = ORG_COLUMNS
        .iter()
        .take(6)
        .filter(|(k, _)| !index.contains_key(k))
        .map(|(_, zh)| *zh)
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns(missing));
    }
    let mut store = admin_store(storage, operator)?;
    let district = working_store::district(&store)?;
    let Some(district) = district else {
        return Err(ImportError::NoDistrict);
    };
    let mut issues = Vec::new();
    let mut outcome = OrgImportOutcome::default();
    let mut rows = 0;
    for (row, cells) in table.iter().skip(1) {
        let get = |k: &str| index.get(k).and_then(|&i| cells.get(i)).map_or("", |s| s.as_str());
        if ORG_COLUMNS.iter().all(|(k, _)| get(k).is_empty()) {
            continue;
        }
        rows += 1;
        let mut result = || -> Result<(), (&'static str, Box<Error>)> {
            let mut parent = district.clone();
            for (level, name_key, code_key) in [
                (OrgLevel::SubDistrict, "sub_district", "sub_district_code"),
                (OrgLevel::Community, "community", "community_code"),
                (OrgLevel::Grid, "grid", "grid_code"),
            ] {
                let code = get(code_key);
                let existing = node_by_code(&store, level, code).map_err(|e| (code_key, Box::new(api_core(e))))?;
                parent = match existing {
                    Some(id) => id,
                    None => {
                        let node = OrgNode {
                            name: get(name_key).to_string(),
                            level,
                            code: code.to_string(),
                            parent: Some(parent.clone()),
                            effective_from: from,
                            effective_to: None,
                        };
                        let id = store
                            .create(&node)
                            .map_err(|e| (name_key_for(&e, name_key, code_key), Box::new(e)))?;
                        outcome.nodes += 1;
                        id
                    }
                };
            }
            let grid = parent.clone();
            for (level, key) in [(OrgLevel::Building, "building"), (OrgLevel::Unit, "unit")] {
                let name = get(key);
                if name.is_empty() {
                    break;
                }
                parent = match child_by_name(&store, &parent, name).map_err(|e| (key, Box::new(api_core(e))))? {
                    Some(id) => id,
                    None => {
                        let node = OrgNode {
                            name: name.to_string(),
                            level,
                            code: String::new(),
                            parent: Some(parent.clone()),
                            effective_from: from,
                            effective_to: None,
                        };
                        let id = store.create(&node).map_err(|e| (key, Box::new(e)))?;
                        outcome.nodes += 1;
                        id
                    }
                };
            }
            let room = get("household");
            if !room.is_empty() {
                let household = Household {
                    grid_assignments: vec![GridAssignment { grid_id: grid, from }],
                    building: get("building").into(),
                    unit: get("unit").into(),
                    room: room.into(),
                    address: format!("{}{}{}{}", get("community"), get("building"), get("unit"), room),
                    housing_use: HousingUse::OwnerOccupied,
                    registered_on: from,
                };
                store.create(&household).map_err(|e| ("household", Box::new(e)))?;
                outcome.households += 1;
            }
            Ok(())
        };
        if let Err((key, e)) = result() {
            let zh = ORG_COLUMNS.iter().find(|(k, _)| *k == key).map_or("", |(_, zh)| *zh);
            issues.push(RowIssue {
                row: *row,
                column: ORG_COLUMNS.iter().find(|(k, _)| *k == key).map_or("", |(k, _)| *k),
                column_zh: zh,
                code: e.code(),
                message_zh: format!("{}：{}", e.message_zh(), e),
                message: e.to_string(),
            });
        }
    }
    if !issues.is_empty() {
        return Err(ImportError::Rejected(ImportReport { rows, issues }));
    }
    commit_outbox(storage, &store)?;
    super::audit(
        storage,
        Action::OrgChange,
        operator,
        "org_tree",
        &format!("import nodes={} households={}", outcome.nodes, outcome.households),
    )?;
    Ok(outcome)
}

/// One line of the org tree ([`tree`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeLine {
    /// Depth below the root (the district is 0).
    pub depth: usize,
    /// Node id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Level (`district`, `sub_district` ...).
    pub level: String,
    /// Code.
    pub code: String,
}

/// The level's name in zh-CN.
pub fn level_zh(level: &str) -> &'static str {
    match level {
        "district" => "区",
        "sub_district" => "街道",
        "community" => "社区",
        "grid" => "网格",
        "sub_grid" => "二级网格",
        "building" => "楼栋",
        "unit" => "单元",
        "department" => "职能部门",
        _ => "",
    }
}

fn level_rank(level: &str) -> usize {
    [
        "district",
        "sub_district",
        "community",
        "grid",
        "sub_grid",
        "building",
        "unit",
        "department",
    ]
    .iter()
    .position(|l| *l == level)
    .unwrap_or(usize::MAX)
}

/// The current org tree, depth first: the district, then below each node its children ordered
/// by level, code and name (a department after the sub-districts). Nodes whose parent is not
/// current (closed) are listed as roots after the district, so none is hidden.
pub fn tree(storage: &dyn Storage) -> ApiResult<Vec<TreeLine>> {
    let mut nodes: Vec<(String, TreeLine)> = storage
        .current_org_nodes()?
        .into_iter()
        .map(|n| {
            (
                n.parent,
                TreeLine {
                    depth: 0,
                    id: n.id,
                    name: n.name,
                    level: n.level,
                    code: n.code,
                },
            )
        })
        .collect();
    nodes.sort_by(|(_, a), (_, b)| {
        (level_rank(&a.level), &a.code, &a.name, &a.id).cmp(&(level_rank(&b.level), &b.code, &b.name, &b.id))
    });
    let ids: std::collections::HashSet<String> = nodes.iter().map(|(_, n)| n.id.clone()).collect();
    let mut children: HashMap<String, Vec<TreeLine>> = HashMap::new();
    let mut roots = Vec::new();
    for (parent, node) in nodes {
        if ids.contains(&parent) {
            children.entry(parent).or_default().push(node);
        } else {
            roots.push(node);
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    // Depth first without recursion (a tree may be deep; a cycle cannot occur: every node was
    // checked against its parent's level when made).
    let mut stack: Vec<TreeLine> = roots.into_iter().rev().collect();
    while let Some(node) = stack.pop() {
        if let Some(kids) = children.remove(&node.id) {
            for mut kid in kids.into_iter().rev() {
                kid.depth = node.depth + 1;
                stack.push(kid);
            }
        }
        out.push(node);
    }
    Ok(out)
}

fn api_core(e: ApiError) -> Error {
    match e {
        ApiError::Core(e) => e,
        other => Error::Corrupt {
            id: "org".into(),
            reason: other.to_string(),
        },
    }
}

/// Which column an error of a node's creation is about.
fn name_key_for(e: &Error, name_key: &'static str, code_key: &'static str) -> &'static str {
    match e {
        Error::InvalidGridCode { .. } => code_key,
        _ => name_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridbook_core::domain::Record;

    /// 调整网格, the data model: a household moves to another grid from a date by a new
    /// assignment; its earlier assignment stays, so any day's grid is known and records made
    /// before the move (house calls store the grid of their day) keep theirs.
    #[test]
    fn regridding_is_effective_dated() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let mut h = Household {
            grid_assignments: vec![GridAssignment {
                grid_id: "old".into(),
                from: d(2024, 3, 1),
            }],
            building: "1栋".into(),
            unit: "1单元".into(),
            room: "101".into(),
            address: "幸福小区1栋1单元101".into(),
            housing_use: HousingUse::OwnerOccupied,
            registered_on: d(2024, 3, 1),
        };
        let call_before = h.grid_on(d(2026, 5, 1)).map(str::to_string);
        h.grid_assignments.push(GridAssignment {
            grid_id: "new".into(),
            from: d(2026, 7, 1),
        });
        assert!(h.validate().is_ok());
        assert_eq!(h.grid_on(d(2024, 2, 1)), None, "before registration");
        assert_eq!(h.grid_on(d(2026, 6, 30)), Some("old"));
        assert_eq!(h.grid_on(d(2026, 7, 1)), Some("new"));
        assert_eq!(h.current_grid(), "new");
        assert_eq!(h.scope(), "new", "the record's scope follows the latest assignment");
        assert_eq!(
            call_before.as_deref(),
            Some("old"),
            "a record made before keeps its grid"
        );
    }
}
