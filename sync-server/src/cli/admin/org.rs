//! `admin` commands of the org tree (组织架构; rank 5, `cli`): arguments in, the service's
//! ([`crate::admin::org`]) answer printed.

use std::path::PathBuf;

use crate::admin::{org, residents};
use crate::cli::{api_err, open_storage};

/// `admin org`: the org tree, the district first, indented by level.
pub(super) fn org(data: PathBuf) -> Result<(), String> {
    let lines = org::tree(&open_storage(&data)?).map_err(api_err)?;
    if lines.is_empty() {
        println!("组织架构为空：请先运行 admin init / the org tree is empty: run `admin init` first");
    }
    for l in lines {
        let label = format!("{}{}", "  ".repeat(l.depth), l.name);
        println!(
            "{label}  [{} {}{}{}]  {}",
            org::level_zh(&l.level),
            l.level,
            if l.code.is_empty() { "" } else { " " },
            l.code,
            l.id
        );
    }
    Ok(())
}

/// `admin org-create`.
pub(super) fn org_create(
    data: PathBuf,
    name: String,
    level: String,
    code: String,
    parent: String,
    from: Option<chrono::NaiveDate>,
) -> Result<(), String> {
    let level: gridbook_core::domain::OrgLevel = serde_json::from_value(serde_json::Value::String(level.clone()))
        .map_err(|_| format!("未知层级 / unknown level `{level}`"))?;
    let node = gridbook_core::domain::OrgNode {
        name,
        level,
        code,
        parent: Some(parent),
        effective_from: from.unwrap_or_else(residents::today),
        effective_to: None,
    };
    let id = org::create_node(&open_storage(&data)?, &node, "cli").map_err(api_err)?;
    println!("节点已创建 / node created: {id}");
    Ok(())
}

/// `admin org-edit`: rename, recode or close a node.
pub(super) fn org_edit(
    data: PathBuf,
    id: String,
    name: Option<String>,
    code: Option<String>,
    until: Option<chrono::NaiveDate>,
) -> Result<(), String> {
    let edit = org::NodeEdit {
        name,
        code,
        effective_to: until,
    };
    let n = org::edit_node(&open_storage(&data)?, &id, &edit, "cli").map_err(api_err)?;
    println!("节点已修改 / node edited: {id} {} {}", n.name, n.code);
    Ok(())
}

/// `admin org-import`: the org spreadsheet, all or nothing.
pub(super) fn org_import(data: PathBuf, from: Option<chrono::NaiveDate>, file: PathBuf) -> Result<(), String> {
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let storage = open_storage(&data)?;
    let o = org::import_org(&storage, &bytes, "cli", from.unwrap_or_else(residents::today)).map_err(|e| {
        if let residents::ImportError::Rejected(report) = &e {
            print!("{}", report.to_text());
        }
        format!("{} [{}]: {e}", e.message_zh(), e.code())
    })?;
    println!(
        "导入完成 / imported: {} 个节点 nodes, {} 户 households",
        o.nodes, o.households
    );
    Ok(())
}
