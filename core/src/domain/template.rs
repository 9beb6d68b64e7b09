//! 检查清单模板: the 三知四清五报六访 checklist as versioned data, never enums in code.
//!
//! A house call stores the template id and version it was answered with, so publishing
//! version 2 never breaks records made with version 1.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{DISTRICT_SCOPE, Record, RecordKind, require_text};
use crate::error::{Error, Result};

/// The default template shipped with the app (zh-CN), editable by the district.
pub const DEFAULT_TEMPLATE_JSON: &str = include_str!("../../data/template_3456_v1.json");

/// The kind of answer an item takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    /// 是/否
    Bool,
    /// Free text.
    Text,
    /// A number.
    Number,
    /// One of `options`.
    Choice,
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateItem {
    /// Stable id within the template, e.g. `visit.living_alone`.
    pub id: String,
    /// zh-CN label.
    pub label: String,
    /// Answer type.
    pub answer: AnswerType,
    /// Options of a choice item.
    #[serde(default)]
    pub options: Vec<String>,
    /// 六访 items: how often a person with one of `labels` must be visited, in days.
    #[serde(default)]
    pub frequency_days: Option<u32>,
    /// 六访 items: the person labels that make this visit due.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A section: 三知 / 四清 / 五报 / 六访.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSection {
    /// Stable key: `know`, `clear`, `report`, `visit`.
    pub key: String,
    /// zh-CN name, e.g. 三知.
    pub name: String,
    /// Items.
    pub items: Vec<TemplateItem>,
}

/// One published version of a checklist template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistTemplate {
    /// Template id, stable across versions.
    pub template_id: String,
    /// Version, from 1.
    pub version: u32,
    /// zh-CN name.
    pub name: String,
    /// Ordinary households are visited at least this often (days).
    pub household_frequency_days: u32,
    /// Sections in order.
    pub sections: Vec<TemplateSection>,
}

impl ChecklistTemplate {
    /// The template shipped with the app.
    pub fn builtin() -> ChecklistTemplate {
        // The shipped file is checked by a unit test; a broken build cannot pass it.
        serde_json::from_str(DEFAULT_TEMPLATE_JSON).expect("shipped template parses")
    }

    /// Parse and validate a template from JSON.
    pub fn from_json(text: &str) -> Result<ChecklistTemplate> {
        let t: ChecklistTemplate =
            serde_json::from_str(text).map_err(|e| Error::invalid("invalid_template", "template", e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    /// All items.
    pub fn items(&self) -> impl Iterator<Item = &TemplateItem> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    /// An item by id.
    pub fn item(&self, id: &str) -> Option<&TemplateItem> {
        self.items().find(|i| i.id == id)
    }

    /// Check answers against this version: every key an item, every value of its type.
    pub fn check_answers(&self, answers: &BTreeMap<String, Json>) -> Result<()> {
        for (id, value) in answers {
            let field = format!("answers.{id}");
            let item = self.item(id).ok_or_else(|| {
                Error::invalid("unknown_template_item", &field, "not an item of this template version")
            })?;
            let ok = match item.answer {
                AnswerType::Bool => value.is_boolean(),
                AnswerType::Text => value.as_str().is_some_and(|s| s.chars().count() <= 2000),
                AnswerType::Number => value.is_number(),
                AnswerType::Choice => value.as_str().is_some_and(|s| item.options.iter().any(|o| o == s)),
            };
            if !ok {
                return Err(Error::invalid(
                    "wrong_answer_type",
                    &field,
                    format!("expected {:?}", item.answer),
                ));
            }
        }
        Ok(())
    }
}

impl Record for ChecklistTemplate {
    const KIND: RecordKind = RecordKind::Template;
    fn scope(&self) -> String {
        DISTRICT_SCOPE.to_string()
    }
    fn validate(&self) -> Result<()> {
        require_text("template_id", &self.template_id, 64)?;
        require_text("name", &self.name, 100)?;
        if self.version == 0 {
            return Err(Error::invalid("invalid_template", "version", "versions start at 1"));
        }
        if self.household_frequency_days == 0 {
            return Err(Error::invalid(
                "invalid_template",
                "household_frequency_days",
                "must be positive",
            ));
        }
        let mut seen = HashSet::new();
        for s in &self.sections {
            require_text("sections.key", &s.key, 32)?;
            for item in &s.items {
                require_text("items.id", &item.id, 64)?;
                require_text("items.label", &item.label, 100)?;
                if !seen.insert(item.id.as_str()) {
                    return Err(Error::invalid(
                        "duplicate_template_item",
                        format!("items.{}", item.id),
                        "item id used twice",
                    ));
                }
                if item.answer == AnswerType::Choice && item.options.is_empty() {
                    return Err(Error::invalid(
                        "invalid_template",
                        format!("items.{}", item.id),
                        "a choice needs options",
                    ));
                }
                if item.frequency_days == Some(0) {
                    return Err(Error::invalid(
                        "invalid_template",
                        format!("items.{}", item.id),
                        "frequency must be positive",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_template_is_valid() {
        let t = ChecklistTemplate::from_json(DEFAULT_TEMPLATE_JSON).unwrap();
        assert_eq!(
            t.sections.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["三知", "四清", "五报", "六访"]
        );
        assert!(t.items().filter(|i| i.frequency_days.is_some()).count() >= 6);
    }

    #[test]
    fn answers_are_checked() {
        let t = ChecklistTemplate::builtin();
        let mut a = BTreeMap::new();
        a.insert("know.situation".to_string(), json!(true));
        assert!(t.check_answers(&a).is_ok());
        a.insert("know.situation".to_string(), json!("yes"));
        assert_eq!(t.check_answers(&a).unwrap_err().code(), "wrong_answer_type");
        let mut b = BTreeMap::new();
        b.insert("nope".to_string(), json!(true));
        assert_eq!(t.check_answers(&b).unwrap_err().code(), "unknown_template_item");
    }

    #[test]
    fn duplicate_items_are_refused() {
        let mut t = ChecklistTemplate::builtin();
        let dup = t.sections[0].items[0].clone();
        t.sections[1].items.push(dup);
        assert_eq!(t.validate().unwrap_err().code(), "duplicate_template_item");
    }
}
