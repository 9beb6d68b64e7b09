//! `admin` commands of templates and rule sets (规则; rank 5, `cli`): arguments in, the
//! service's ([`crate::admin::rules`]) answer printed.

use std::path::PathBuf;

use crate::admin::rules;
use crate::cli::{api_err, open_storage};

/// `admin publish-template`: a new checklist template version.
pub(super) fn publish_template(data: PathBuf, file: PathBuf) -> Result<(), String> {
    let json = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let storage = open_storage(&data)?;
    let p = rules::publish_template(&storage, &json, "cli").map_err(api_err)?;
    println!(
        "模板已发布 / template published: {} v{} ({})",
        p.template_id, p.version, p.doc_id
    );
    Ok(())
}

/// `admin publish-rules`: a new version of a rule set.
pub(super) fn publish_rules(data: PathBuf, rule: String, version: Option<u32>, file: PathBuf) -> Result<(), String> {
    let kind: gridbook_core::RuleKind = rule
        .replace('-', "_")
        .parse()
        .map_err(|e: gridbook_core::Error| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
    let json = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let storage = open_storage(&data)?;
    let p = rules::publish_rule_set(&storage, kind, &json, version, "cli").map_err(api_err)?;
    println!("规则已发布 / rules published: {} v{} ({})", p.rule, p.version, p.doc_id);
    Ok(())
}
