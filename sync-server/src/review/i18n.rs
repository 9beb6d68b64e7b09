//! Labels of the dashboard in zh-CN (first) and English.

use gridbook_core::domain::Role;
use gridbook_core::workflow::DeadlineLevel;

/// Page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文 (default)
    #[default]
    Zh,
    /// English
    En,
}

/// (key, zh-CN, English)
const LABELS: &[(&str, &str, &str)] = &[
    ("app", "网格通 · 督导看板", "gridbook · supervisor dashboard"),
    ("login", "登录", "Sign in"),
    ("logout", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    (
        "login_hint",
        "仅限社区、街道和区级督导账号",
        "Community, sub-district and district supervisors only",
    ),
    ("ledgers", "走访台账", "Visit ledgers"),
    ("cases", "接诉即办", "Cases"),
    ("visits", "走访覆盖", "Visit coverage"),
    ("reports", "统计报表", "Reports"),
    ("org_node", "组织节点", "Org node"),
    ("all", "全部", "All"),
    ("worker", "网格员", "Worker"),
    ("grid", "网格", "Grid"),
    ("day", "日期", "Day"),
    ("from", "开始日期", "From"),
    ("to", "结束日期", "To"),
    ("review_state", "审核状态", "Review state"),
    ("filter", "查询", "Filter"),
    ("households_visited", "走访户数", "Households"),
    ("house_calls", "走访次数", "House calls"),
    ("problems", "发现问题", "Problems"),
    ("solved_on_spot", "当场解决", "Solved on the spot"),
    ("reported", "上报", "Reported"),
    ("flagged", "审核后修改", "Edited after approval"),
    ("comment", "意见", "Comment"),
    ("rows", "条", "rows"),
    ("page", "页", "page"),
    ("prev", "上一页", "Previous"),
    ("next", "下一页", "Next"),
    ("open", "查看", "Open"),
    ("export_xlsx", "导出 Excel", "Export XLSX"),
    ("export_csv", "导出 CSV", "Export CSV"),
    ("approve", "审核通过", "Approve"),
    ("return", "退回", "Return"),
    ("return_comment", "退回意见（必填）", "Reason for returning (required)"),
    ("review_history", "审核记录", "Review history"),
    ("actor", "操作人", "By"),
    ("at", "时间", "At"),
    ("action", "操作", "Action"),
    ("household", "走访户", "Household"),
    ("persons_met", "走访对象", "Persons met"),
    ("time", "时间", "Time"),
    ("checklist", "检查清单", "Checklist"),
    ("answer", "回答", "Answer"),
    ("notes", "记录", "Notes"),
    ("photos", "照片", "Photos"),
    ("no_photos", "无照片", "No photos"),
    ("kind", "类别", "Kind"),
    ("description", "描述", "Description"),
    ("handling", "处理方式", "Handling"),
    ("patrol_findings", "巡查发现", "Patrol findings"),
    ("done_ok", "操作已完成", "Done"),
    (
        "not_reviewable",
        "当前状态不可审核",
        "Not open for review in this state",
    ),
    ("stage", "环节", "Stage"),
    ("state", "状态", "State"),
    ("deadline", "截止时间", "Deadline"),
    ("deadline_state", "时限", "Deadline state"),
    ("title", "标题", "Title"),
    ("category", "类别", "Category"),
    ("occurred_at", "发生时间", "Occurred"),
    ("department", "职能部门", "Department"),
    ("supervision", "督办", "Supervision"),
    ("urges", "催办次数", "Urges"),
    ("claims_waiting", "待抢单诉求", "Requests waiting to be claimed"),
    ("history", "办理记录", "History"),
    ("reason", "理由", "Reason"),
    ("submit", "提交", "Submit"),
    ("available_actions", "可执行操作", "Actions"),
    ("no_actions", "当前无可执行操作", "No action open to you now"),
    ("pending_extension", "待批延期", "Pending extension"),
    ("days", "天", "days"),
    ("period", "周期", "Period"),
    ("day_p", "日（日会商）", "Day"),
    ("week_p", "周（周例会）", "Week"),
    ("month_p", "月（月研判）", "Month"),
    ("quarter_p", "季（季通报）", "Quarter"),
    ("as_of", "截至", "As of"),
    ("total", "案件总数", "Cases"),
    ("response_rate", "响应率", "Response rate"),
    ("on_time_rate", "按期处置率", "On-time handling"),
    ("completion_rate", "办结率", "Completion rate"),
    ("satisfaction_rate", "满意率", "Satisfaction rate"),
    ("overdue_open", "超期未办结", "Overdue, open"),
    ("rejected", "不予受理", "Rejected"),
    ("by_category", "按类别", "By category"),
    ("by_stage", "按环节", "By stage"),
    ("by_grid", "各网格对比", "Grids compared"),
    ("assessment", "网格员月考评", "Worker assessment"),
    ("visits_done", "已走访", "Visits done"),
    ("visits_due", "应访", "Visits due"),
    ("visits_overdue", "逾期未访", "Overdue"),
    ("coverage", "覆盖率", "Coverage"),
    ("households", "户数", "Households"),
    ("cases_reported", "上报事件", "Cases reported"),
    ("ledgers_returned", "台账退回", "Ledgers returned"),
    ("ledgers_approved", "台账通过", "Ledgers approved"),
    (
        "charts_failed",
        "图表未能加载，仅显示表格",
        "The charts did not load: tables only",
    ),
    ("error", "出错了", "Something went wrong"),
    ("back", "返回", "Back"),
    ("job", "导出任务", "Export job"),
    ("progress", "进度", "Progress"),
    ("download", "下载", "Download"),
    (
        "job_running",
        "正在生成，页面将自动刷新",
        "Generating; this page refreshes itself",
    ),
    ("job_failed", "导出失败", "Export failed"),
    (
        "unmasked",
        "导出明文（需权限，将记录审计日志）",
        "Unmasked (needs permission; audited)",
    ),
    ("last_30_days", "近30天", "last 30 days"),
    ("language", "English", "中文"),
    ("none", "无", "none"),
    ("yes", "是", "yes"),
    ("no", "否", "no"),
    ("trend", "每日上报趋势", "Cases reported per day"),
    ("conflicts", "冲突", "Conflicts"),
];

impl Lang {
    /// `en` → English, anything else → 简体中文.
    pub fn parse(s: &str) -> Lang {
        if s.eq_ignore_ascii_case("en") || s.to_ascii_lowercase().starts_with("en-") {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    /// `zh` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The HTML `lang` attribute.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// A label; an unknown key shows itself (and is caught by the test below).
    pub fn t(self, key: &str) -> &'static str {
        match LABELS.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "?",
        }
    }

    /// One of two texts.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A role's name.
    pub fn role(self, role: Role) -> &'static str {
        let (zh, en) = match role {
            Role::GridWorker => ("网格员", "grid worker"),
            Role::GridLeader => ("网格长", "grid leader"),
            Role::CommunitySupervisor => ("社区督导", "community supervisor"),
            Role::SubDistrictSupervisor => ("街道网格中心", "sub-district supervisor"),
            Role::Department => ("职能部门", "department"),
            Role::DistrictAdmin => ("区网格化中心", "district admin"),
        };
        self.pick(zh, en)
    }

    /// A ledger review state.
    pub fn review_state(self, s: &str) -> &'static str {
        let (zh, en) = match s {
            "draft" => ("草稿", "draft"),
            "submitted" => ("待审核", "submitted"),
            "approved" => ("已通过", "approved"),
            "returned" => ("已退回", "returned"),
            _ => ("未知", "unknown"),
        };
        self.pick(zh, en)
    }

    /// A review action.
    pub fn review_action(self, s: &str) -> &'static str {
        let (zh, en) = match s {
            "submit" => ("提交", "submitted"),
            "approve" => ("通过", "approved"),
            "return" => ("退回", "returned"),
            _ => ("未知", "unknown"),
        };
        self.pick(zh, en)
    }

    /// A problem kind key.
    pub fn problem_kind(self, k: &str) -> &'static str {
        let (zh, en) = match k {
            "dispute" => ("矛盾纠纷", "dispute"),
            "request" => ("群众诉求", "request"),
            "suggestion" => ("意见建议", "suggestion"),
            "security_hazard" => ("治安隐患", "security hazard"),
            "fire_hazard" => ("消防隐患", "fire hazard"),
            "sanitation" => ("环境卫生", "sanitation"),
            _ => ("其他", "other"),
        };
        self.pick(zh, en)
    }

    /// A deadline light.
    pub fn deadline(self, l: Option<DeadlineLevel>) -> &'static str {
        let (zh, en) = match l {
            Some(DeadlineLevel::OnTime) => ("正常", "on time"),
            Some(DeadlineLevel::Yellow) => ("黄灯", "yellow"),
            Some(DeadlineLevel::Red) => ("红灯", "red"),
            Some(DeadlineLevel::Overdue) => ("超期", "overdue"),
            None => ("—", "—"),
        };
        self.pick(zh, en)
    }
}

/// The CSS class of a deadline light.
pub fn deadline_class(l: Option<DeadlineLevel>) -> &'static str {
    match l {
        Some(DeadlineLevel::OnTime) => "ok",
        Some(DeadlineLevel::Yellow) => "yellow",
        Some(DeadlineLevel::Red) => "red",
        Some(DeadlineLevel::Overdue) => "overdue",
        None => "none",
    }
}

/// Deadline level key for query strings.
pub fn deadline_key(l: Option<DeadlineLevel>) -> &'static str {
    match l {
        Some(DeadlineLevel::OnTime) => "on_time",
        Some(DeadlineLevel::Yellow) => "yellow",
        Some(DeadlineLevel::Red) => "red",
        Some(DeadlineLevel::Overdue) => "overdue",
        None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_has_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (k, zh, en) in LABELS {
            assert!(keys.insert(*k), "duplicate {k}");
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(Lang::parse("en-US"), Lang::En);
        assert_eq!(Lang::parse("zh"), Lang::Zh);
        assert_eq!(Lang::Zh.t("approve"), "审核通过");
    }
}
