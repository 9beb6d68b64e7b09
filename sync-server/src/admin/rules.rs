//! 规则发布: a new version of the checklist template (三知四清五报六访), validated by the `core`
//! rules before it is accepted, stored as an ordinary record of the district scope, which
//! every device reads: phones receive it at their next sync and `Store::active_template` picks
//! the highest version for new house calls, while a house call keeps the template id and
//! version it was answered with, so old records still read as the version they were made with.
//!
//! The workflow definition, time limits and holiday calendar are published the same way, as
//! `rule_set` records ([`publish_rule_set`], `gridbook_core::RuleSet`): checked by
//! `RuleBook::check_publish` against the versions the server holds; new cases pin the newest
//! workflow and time limits, old cases keep theirs, every case uses the newest calendar
//! (ADR 0007).

use gridbook_core::domain::ChecklistTemplate;
use gridbook_core::domain::template::DEFAULT_TEMPLATE_JSON;
use gridbook_core::{RuleKind, RuleSet};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::storage::Storage;

/// Held from the version check to the commit of a publish, so that two publishes of one
/// version (two admins on the admin page at once) cannot both pass the check: the second
/// finds the first's version held. Within one server process; replicas would still agree on
/// the same record if two did land (the smaller id wins, `gridbook_core::query_tables`).
static PUBLISHING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn publishing() -> std::sync::MutexGuard<'static, ()> {
    // A publish that panicked wrote nothing half (the commit is atomic): the lock stays usable.
    PUBLISHING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a publish stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// Record id of the new version.
    pub doc_id: String,
    /// Template id.
    pub template_id: String,
    /// Version.
    pub version: u32,
}

/// The highest version of `template_id` the server holds (the shipped version counts).
pub fn latest_version(storage: &dyn Storage, template_id: &str) -> ApiResult<u32> {
    let mut latest = 0;
    let builtin = ChecklistTemplate::builtin();
    if builtin.template_id == template_id {
        latest = builtin.version;
    }
    for (_, bytes) in storage.docs_of_kind("template")? {
        let Ok(doc) = automerge::AutoCommit::load(&bytes) else {
            continue;
        };
        let Some(json) = gridbook_core::doc::body::read(&doc) else {
            continue;
        };
        if json["template_id"].as_str() == Some(template_id) {
            latest = latest.max(json["version"].as_u64().unwrap_or(0) as u32);
        }
    }
    Ok(latest)
}

/// Validate and publish a template version given as JSON (the layout of the shipped
/// `template_3456_v1.json`). Its version must be above every version the server holds.
pub fn publish_template(storage: &dyn Storage, json: &str, operator: &str) -> ApiResult<Published> {
    let template = ChecklistTemplate::from_json(json)?;
    let _one_at_a_time = publishing();
    let latest = latest_version(storage, &template.template_id)?;
    if template.version <= latest {
        return Err(ApiError::Core(gridbook_core::Error::Invalid {
            code: "template_version_not_newer",
            field: "version".into(),
            reason: format!(
                "version {} is not above the published version {latest}",
                template.version
            ),
        }));
    }
    let mut store = super::residents::admin_store(storage, operator)?;
    let doc_id = store.create(&template)?;
    super::residents::commit_outbox(storage, &store)?;
    super::audit(
        storage,
        crate::audit::Action::RulesPublish,
        operator,
        &format!("template:{}", template.template_id),
        &format!("version={}", template.version),
    )?;
    Ok(Published {
        doc_id,
        template_id: template.template_id,
        version: template.version,
    })
}

/// The shipped template, as the starting point of an edit.
pub fn shipped_template_json() -> &'static str {
    DEFAULT_TEMPLATE_JSON
}

/// What a rule-set publish stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedRule {
    /// Record id of the new version.
    pub doc_id: String,
    /// `workflow`, `time_limits` or `calendar`.
    pub rule: String,
    /// Version.
    pub version: u32,
}

/// The highest version of each rule the server holds (the shipped files are version 1).
pub fn rule_versions(storage: &dyn Storage) -> ApiResult<Vec<(RuleKind, u32)>> {
    let book = storage.rule_book()?;
    Ok(RuleKind::ALL.into_iter().map(|r| (r, book.latest(r))).collect())
}

/// Validate and publish a version of a workflow definition, time limits or holiday calendar
/// given as JSON (the layout of the shipped `core/data/*.json`). `version` defaults to the
/// file's own `version` (workflow, time limits) or one above the newest held (calendar, whose
/// file has none); it must be above every version held. Refused versions write nothing.
pub fn publish_rule_set(
    storage: &dyn Storage,
    rule: RuleKind,
    json: &str,
    version: Option<u32>,
    operator: &str,
) -> ApiResult<PublishedRule> {
    let _one_at_a_time = publishing();
    let book = storage.rule_book()?;
    let version = match (version, rule) {
        (Some(v), _) => v,
        (None, RuleKind::Calendar) => book.latest(rule) + 1,
        (None, _) => serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("version")?.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                ApiError::Core(gridbook_core::Error::Invalid {
                    code: "invalid_rule_set",
                    field: "json".into(),
                    reason: format!("{}: not a JSON object with a version", rule.as_str()),
                })
            })?,
    };
    let set = RuleSet {
        rule,
        version,
        json: json.to_string(),
    };
    book.check_publish(&set)?;
    let mut store = super::residents::admin_store(storage, operator)?;
    let doc_id = store.create(&set)?;
    super::residents::commit_outbox(storage, &store)?;
    super::audit(
        storage,
        crate::audit::Action::RulesPublish,
        operator,
        &format!("rule_set:{}", rule.as_str()),
        &format!("version={version}"),
    )?;
    Ok(PublishedRule {
        doc_id,
        rule: rule.as_str().to_string(),
        version,
    })
}
