//! 居民导入: households (户) and persons (人员) with their category labels from the district's
//! residents spreadsheet (XLSX or UTF-8 CSV, one row per person, zh-CN or English headers).
//!
//! All or nothing: every row is checked first (ID number length, birth date and GB 11643 check
//! digit, duplicates within the file and against the database, phone numbers, unknown grids,
//! future dates, empty names, households whose rows disagree), and a [`ImportReport`] lists
//! every bad row and column with the reason in zh-CN and English. Nothing is written until the
//! file is clean; then the records are made as ordinary Automerge documents by a `core`
//! [`Store`] (the demo district's path, [`crate::demo`]) and stored with one
//! [`crate::storage::ChangeLog::commit`], so they sync to the devices whose grids cover them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Cursor;

use automerge::{AutoCommit, ReadDoc};
use chrono::{Datelike, NaiveDate};
use gridbook_core::RemoteChange;
use gridbook_core::domain::ids::{id_check_char, validate_phone};
use gridbook_core::domain::{
    AttentionLevel, GridAssignment, Household, HousingUse, LabelCategory, Person, PersonLabel, Record, RecordKind, Role,
};
use gridbook_core::shred::{self, PersonKey};
use gridbook_core::{Identity, Store};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::storage::sqlite::working_store;
use crate::storage::{CommitBatch, LogEntry, SavedDoc, Storage};

/// One column of the residents file: machine key, zh-CN header, English header, required.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Machine key (used in reports).
    pub key: &'static str,
    /// zh-CN header.
    pub zh: &'static str,
    /// English header (also accepted).
    pub en: &'static str,
    /// Whether the header must be present.
    pub required: bool,
}

const fn col(key: &'static str, zh: &'static str, en: &'static str, required: bool) -> Column {
    Column { key, zh, en, required }
}

/// The columns of the residents file, in the order of the template file.
pub const COLUMNS: [Column; 14] = [
    col("household_no", "户编号", "household_no", true),
    col("grid_code", "网格编码", "grid_code", true),
    col("building", "楼栋", "building", false),
    col("unit", "单元", "unit", false),
    col("room", "门牌号", "room", false),
    col("address", "地址", "address", true),
    col("housing_use", "房屋用途", "housing_use", false),
    col("registered_on", "登记日期", "registered_on", true),
    col("name", "姓名", "name", true),
    col("id_number", "身份证号", "id_number", true),
    col("phone", "联系电话", "phone", false),
    col("relation", "与户主关系", "relation", false),
    col("birth_date", "出生日期", "birth_date", false),
    col("labels", "人员类别", "labels", false),
];

/// Person labels a file may name (zh-CN or the stable key), with their family.
pub const LABELS: &[(&str, &str, LabelCategory)] = &[
    ("户籍人口", "household_registered", LabelCategory::Population),
    ("流动人口", "floating", LabelCategory::Population),
    ("境外人员", "overseas", LabelCategory::Population),
    ("新迁入", "newcomer", LabelCategory::Population),
    ("独居老人", "living_alone_elderly", LabelCategory::Care),
    ("空巢老人", "empty_nest_elderly", LabelCategory::Care),
    ("低保", "low_income", LabelCategory::Care),
    ("特困", "extreme_poverty", LabelCategory::Care),
    ("残疾", "disabled", LabelCategory::Care),
    ("重病", "serious_illness", LabelCategory::Care),
    ("优抚对象", "entitled_care", LabelCategory::Care),
    ("留守儿童", "left_behind_child", LabelCategory::Care),
    ("矛盾纠纷当事人", "dispute_party", LabelCategory::Special),
    ("社区矫正", "community_correction", LabelCategory::Special),
    ("刑满释放", "released_prisoner", LabelCategory::Special),
    ("严重精神障碍", "severe_mental_disorder", LabelCategory::Special),
];

const HOUSING: &[(&str, &str, HousingUse)] = &[
    ("自住", "owner_occupied", HousingUse::OwnerOccupied),
    ("租赁", "rented", HousingUse::Rented),
    ("群租", "group_rented", HousingUse::GroupRented),
    ("空置", "vacant", HousingUse::Vacant),
];

/// One problem of one cell (or row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowIssue {
    /// Row number as the spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// Column key ([`COLUMNS`]).
    pub column: &'static str,
    /// Column header in zh-CN.
    pub column_zh: &'static str,
    /// Stable machine-readable code, e.g. `invalid_id_number`.
    pub code: &'static str,
    /// Reason, zh-CN.
    pub message_zh: String,
    /// Reason, English.
    pub message: String,
}

/// The validation report of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows: usize,
    /// Every problem found, by row then column.
    pub issues: Vec<RowIssue>,
}

impl ImportReport {
    /// The row numbers with at least one problem.
    pub fn bad_rows(&self) -> BTreeSet<usize> {
        self.issues.iter().map(|i| i.row).collect()
    }

    /// The report as text, one line per problem: `第N行 列: 原因 / reason`.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "居民导入未通过校验：{} 行中有 {} 行存在 {} 个问题，未写入任何数据。\nResidents import rejected: {} problems in {} of {} rows; nothing was written.\n",
            self.rows,
            self.bad_rows().len(),
            self.issues.len(),
            self.issues.len(),
            self.bad_rows().len(),
            self.rows
        );
        for i in &self.issues {
            out.push_str(&format!(
                "第{}行 {}：{}（row {}, {}: {} [{}]）\n",
                i.row, i.column_zh, i.message_zh, i.row, i.column, i.message, i.code
            ));
        }
        out
    }
}

/// What a clean import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    /// Data rows read.
    pub rows: usize,
    /// Households made.
    pub households: usize,
    /// Persons made.
    pub persons: usize,
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a readable XLSX or UTF-8 CSV file.
    #[error("the file cannot be read as XLSX or UTF-8 CSV: {0}")]
    Unreadable(String),
    /// Required headers are missing.
    #[error("the header row lacks the columns {0:?}")]
    MissingColumns(Vec<&'static str>),
    /// Rows failed validation; nothing was written.
    #[error("{} problems in {} rows; nothing was written", .0.issues.len(), .0.bad_rows().len())]
    Rejected(ImportReport),
    /// The org tree has no district node to put the sheet's sub-districts under: the data
    /// folder was never initialised.
    #[error("the org tree has no district node to import under: run `gridbook-server admin init` first")]
    NoDistrict,
    /// Storage or documents failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::storage::StorageError> for ImportError {
    fn from(e: crate::storage::StorageError) -> Self {
        ImportError::Api(e.into())
    }
}

impl From<gridbook_core::Error> for ImportError {
    fn from(e: gridbook_core::Error) -> Self {
        ImportError::Api(ApiError::Core(e))
    }
}

impl ImportError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Unreadable(_) => "import_unreadable",
            ImportError::MissingColumns(_) => "import_missing_columns",
            ImportError::Rejected(_) => "import_rejected",
            ImportError::NoDistrict => "no_district",
            ImportError::Api(e) => e.code(),
        }
    }

    /// Message in zh-CN.
    pub fn message_zh(&self) -> String {
        match self {
            ImportError::Unreadable(_) => "文件无法读取：请上传 XLSX 文件或 UTF-8 编码的 CSV 文件".into(),
            ImportError::MissingColumns(cols) => format!("表头缺少以下列：{}", cols.join("、")),
            ImportError::Rejected(r) => format!(
                "{} 行存在 {} 个问题，未写入任何数据",
                r.bad_rows().len(),
                r.issues.len()
            ),
            ImportError::NoDistrict => "组织架构中没有区级节点，无法导入：请先运行 gridbook-server admin init".into(),
            ImportError::Api(e) => e.message_zh(),
        }
    }
}

impl axum::response::IntoResponse for ImportError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        let (status, issues) = match self {
            ImportError::Api(e) => return e.into_response(),
            ImportError::Unreadable(_) => (StatusCode::BAD_REQUEST, vec![]),
            ImportError::MissingColumns(_) => (StatusCode::UNPROCESSABLE_ENTITY, vec![]),
            ImportError::Rejected(ref r) => (StatusCode::UNPROCESSABLE_ENTITY, r.issues.clone()),
            ImportError::NoDistrict => (StatusCode::CONFLICT, vec![]),
        };
        tracing::info!(code = self.code(), "import refused");
        let body = serde_json::json!({
            "code": self.code(),
            "message": self.to_string(),
            "message_zh": self.message_zh(),
            "issues": issues,
        });
        (status, axum::Json(body)).into_response()
    }
}

// ------------------------------------------------------------------------------ reading

/// A row of cells with its spreadsheet row number.
type Table = Vec<(usize, Vec<String>)>;

/// Read the first sheet of an XLSX file, or a UTF-8 CSV file (BOM allowed), as text cells.
pub fn read_table(bytes: &[u8]) -> Result<Table, ImportError> {
    if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes)
    } else {
        read_csv(bytes)
    }
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, ImportError> {
    use calamine::{Data, Reader};
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| ImportError::Unreadable(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| ImportError::Unreadable("the workbook has no sheet".into()))?
        .map_err(|e| ImportError::Unreadable(e.to_string()))?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let excel_epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
    let cell = |d: &Data| -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_string(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Data::Float(f) => f.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(dt) => excel_epoch
                .checked_add_days(chrono::Days::new(dt.as_f64().max(0.0) as u64))
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            Data::Error(e) => format!("#{e:?}"),
        }
    };
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![String::new(); first_col as usize];
            cells.extend(r.iter().map(cell));
            (first_row as usize + i + 1, cells)
        })
        .collect())
}

fn read_csv(bytes: &[u8]) -> Result<Table, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| ImportError::Unreadable(e.to_string()))?;
        out.push((i + 1, rec.iter().map(|c| c.trim().to_string()).collect()));
    }
    Ok(out)
}

// ------------------------------------------------------------------------------ checking

/// What the rows are checked against: the current grids by code, and the ID numbers the
/// database holds.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    /// Grid code → grid id (current grids and sub-grids).
    pub grids_by_code: HashMap<String, String>,
    /// ID numbers of persons in the database (upper case).
    pub id_numbers: HashSet<String>,
}

/// A household as the file describes it.
#[derive(Debug, Clone)]
pub struct FileHousehold {
    /// 户编号 of the file.
    pub household_no: String,
    /// The record.
    pub household: Household,
    /// Its persons, in file order.
    pub persons: Vec<Person>,
}

/// The household columns of one row, for the consistency check.
#[derive(Debug, Clone, PartialEq)]
struct HouseholdCells {
    row: usize,
    values: Vec<String>,
}

/// Column index by key.
fn column(key: &str) -> &'static Column {
    COLUMNS.iter().find(|c| c.key == key).unwrap_or(&COLUMNS[0])
}

struct Checker {
    issues: Vec<RowIssue>,
}

impl Checker {
    fn add(&mut self, row: usize, key: &str, code: &'static str, zh: impl Into<String>, en: impl Into<String>) {
        let c = column(key);
        self.issues.push(RowIssue {
            row,
            column: c.key,
            column_zh: c.zh,
            code,
            message_zh: zh.into(),
            message: en.into(),
        });
    }

    fn date(&mut self, row: usize, key: &str, text: &str, today: NaiveDate) -> Option<NaiveDate> {
        let d = parse_date(text);
        match d {
            None => {
                self.add(
                    row,
                    key,
                    "invalid_date",
                    format!("日期格式不正确：{text}（应为 2024-03-01）"),
                    format!("not a date: {text} (expected 2024-03-01)"),
                );
                None
            }
            Some(d) if d > today => {
                self.add(
                    row,
                    key,
                    "future_date",
                    format!("日期 {d} 晚于今天"),
                    format!("the date {d} is in the future"),
                );
                None
            }
            d => d,
        }
    }

    fn max_len(&mut self, row: usize, key: &str, text: &str, max: usize) -> bool {
        if text.chars().count() > max {
            self.add(
                row,
                key,
                "too_long",
                format!("超过 {max} 个字符"),
                format!("longer than {max} characters"),
            );
            return false;
        }
        true
    }
}

/// `2024-03-01`, `2024/3/1`, `2024.03.01`, `20240301` or `2024年3月1日`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(t, "%Y%m%d").ok();
    }
    let normalized: String = t
        .trim_end_matches('日')
        .chars()
        .map(|c| if matches!(c, '/' | '.' | '年' | '月') { '-' } else { c })
        .collect();
    NaiveDate::parse_from_str(&normalized, "%Y-%m-%d").ok()
}

/// Check an ID number's parts: the reason in zh-CN and English when bad, the birth date when good.
fn check_id_number(id: &str) -> Result<NaiveDate, (&'static str, String, String)> {
    let bad = |zh: String, en: String| Err(("invalid_id_number", zh, en));
    if id.chars().count() != 18 {
        return bad(
            format!("身份证号应为18位，实为{}位", id.chars().count()),
            format!("an ID number has 18 characters, found {}", id.chars().count()),
        );
    }
    let Some(expected) = id_check_char(&id[..17]) else {
        return bad(
            "身份证号前17位应为数字".into(),
            "the first 17 characters must be digits".into(),
        );
    };
    let Ok(birth) = NaiveDate::parse_from_str(&id[6..14], "%Y%m%d") else {
        return bad(
            format!("身份证号中的出生日期 {} 不是有效日期", &id[6..14]),
            format!("the birth date {} in the ID number is not a date", &id[6..14]),
        );
    };
    if !id[17..].eq_ignore_ascii_case(&expected.to_string()) {
        return bad(
            format!("身份证号校验码错误（应为 {expected}）"),
            format!("the check digit does not match (expected {expected})"),
        );
    }
    // The core rule is the last word (it is what the store will enforce).
    gridbook_core::domain::ids::validate_id_number(id)
        .map_err(|e| ("invalid_id_number", "身份证号无效".to_string(), e.to_string()))?;
    Ok(birth)
}

/// Check every row against `reference`; the households to make when the file is clean, the
/// report otherwise. `today` bounds dates.
pub fn check_rows(table: &Table, reference: &Reference, today: NaiveDate) -> Result<Vec<FileHousehold>, ImportError> {
    let Some((_, header)) = table.first() else {
        return Err(ImportError::MissingColumns(
            COLUMNS.iter().filter(|c| c.required).map(|c| c.zh).collect(),
        ));
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        if let Some(c) = COLUMNS.iter().find(|c| c.zh == h || c.en.eq_ignore_ascii_case(h)) {
            index.entry(c.key).or_insert(i);
        }
    }
    let missing: Vec<&'static str> = COLUMNS
        .iter()
        .filter(|c| c.required && !index.contains_key(c.key))
        .map(|c| c.zh)
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns(missing));
    }
    let mut ck = Checker { issues: Vec::new() };
    let mut households: Vec<FileHousehold> = Vec::new();
    let mut by_no: HashMap<String, (usize, HouseholdCells)> = HashMap::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let mut rows = 0;
    for (row, cells) in table.iter().skip(1) {
        let row = *row;
        let get = |key: &str| index.get(key).and_then(|&i| cells.get(i)).map_or("", String::as_str);
        if COLUMNS.iter().all(|c| get(c.key).is_empty()) {
            continue; // blank line
        }
        rows += 1;
        let before = ck.issues.len();

        // Household columns.
        let household_no = get("household_no");
        if household_no.is_empty() {
            ck.add(
                row,
                "household_no",
                "empty_field",
                "户编号不能为空",
                "the household number is empty",
            );
        } else {
            ck.max_len(row, "household_no", household_no, 50);
        }
        let code = get("grid_code");
        let grid = if code.is_empty() {
            ck.add(
                row,
                "grid_code",
                "empty_field",
                "网格编码不能为空",
                "the grid code is empty",
            );
            None
        } else if let Some(g) = reference.grids_by_code.get(code) {
            Some(g.clone())
        } else {
            ck.add(
                row,
                "grid_code",
                "unknown_grid",
                format!("网格编码 {code} 不存在（或已撤销）"),
                format!("no current grid has the code {code}"),
            );
            None
        };
        for key in ["building", "unit", "room"] {
            ck.max_len(row, key, get(key), 50);
        }
        let address = get("address");
        if address.is_empty() {
            ck.add(row, "address", "empty_field", "地址不能为空", "the address is empty");
        } else {
            ck.max_len(row, "address", address, 200);
        }
        let housing_text = get("housing_use");
        let housing_use = if housing_text.is_empty() {
            Some(HousingUse::OwnerOccupied)
        } else if let Some((_, _, h)) = HOUSING
            .iter()
            .find(|(zh, key, _)| *zh == housing_text || *key == housing_text)
        {
            Some(*h)
        } else {
            ck.add(
                row,
                "housing_use",
                "unknown_housing_use",
                format!("房屋用途“{housing_text}”无效（应为 自住 / 租赁 / 群租 / 空置）"),
                format!("unknown housing use `{housing_text}` (owner_occupied, rented, group_rented, vacant)"),
            );
            None
        };
        let registered_text = get("registered_on");
        let registered_on = if registered_text.is_empty() {
            ck.add(
                row,
                "registered_on",
                "empty_field",
                "登记日期不能为空",
                "the registration date is empty",
            );
            None
        } else {
            ck.date(row, "registered_on", registered_text, today)
        };

        // Person columns.
        let name = get("name");
        if name.is_empty() {
            ck.add(row, "name", "empty_name", "姓名不能为空", "the name is empty");
        } else {
            ck.max_len(row, "name", name, 50);
        }
        let id_text = get("id_number").to_ascii_uppercase();
        let mut id_birth = None;
        let id_number = if id_text.is_empty() {
            ck.add(
                row,
                "id_number",
                "empty_field",
                "身份证号不能为空",
                "the ID number is empty",
            );
            None
        } else {
            match check_id_number(&id_text) {
                Err((code, zh, en)) => {
                    ck.add(row, "id_number", code, zh, en);
                    None
                }
                Ok(birth) if birth > today => {
                    ck.add(
                        row,
                        "id_number",
                        "future_date",
                        format!("身份证号中的出生日期 {birth} 晚于今天"),
                        format!("the birth date {birth} in the ID number is in the future"),
                    );
                    None
                }
                Ok(birth) => {
                    if let Some(first) = seen_ids.get(&id_text) {
                        ck.add(
                            row,
                            "id_number",
                            "duplicate_id_number",
                            format!("身份证号与第{first}行重复"),
                            format!("the same ID number as row {first}"),
                        );
                        None
                    } else if reference.id_numbers.contains(&id_text) {
                        seen_ids.insert(id_text.clone(), row);
                        ck.add(
                            row,
                            "id_number",
                            "id_number_exists",
                            "系统中已有此身份证号的人员",
                            "a person with this ID number is already in the system",
                        );
                        None
                    } else {
                        seen_ids.insert(id_text.clone(), row);
                        id_birth = Some(birth);
                        Some(id_text.clone())
                    }
                }
            }
        };
        let phone = get("phone");
        if !phone.is_empty() && validate_phone(phone).is_err() {
            ck.add(
                row,
                "phone",
                "invalid_phone",
                format!("联系电话 {phone} 不是有效的手机或固话号码"),
                format!("{phone} is not a mobile or landline number"),
            );
        }
        let relation = get("relation");
        ck.max_len(row, "relation", relation, 20);
        let birth_text = get("birth_date");
        let birth_date = if birth_text.is_empty() {
            id_birth
        } else {
            let d = ck.date(row, "birth_date", birth_text, today);
            if let (Some(d), Some(b)) = (d, id_birth)
                && d != b
            {
                ck.add(
                    row,
                    "birth_date",
                    "birth_date_mismatch",
                    format!("出生日期 {d} 与身份证号中的 {b} 不一致"),
                    format!("the birth date {d} differs from the ID number's {b}"),
                );
            }
            d
        };
        let mut labels = Vec::new();
        for part in get("labels")
            .split(['、', ',', '，', ';', '；', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match LABELS.iter().find(|(zh, key, _)| *zh == part || *key == part) {
                Some((_, key, category)) => labels.push(PersonLabel {
                    label: (*key).to_string(),
                    category: *category,
                    start: registered_on.unwrap_or(today),
                    end: None,
                    attention: if *category == LabelCategory::Special {
                        AttentionLevel::Key
                    } else {
                        AttentionLevel::Normal
                    },
                    responsible: None,
                }),
                None => ck.add(
                    row,
                    "labels",
                    "unknown_label",
                    format!("人员类别“{part}”不在类别表中"),
                    format!("unknown person category `{part}`"),
                ),
            }
        }

        // The rows of one household must agree on its columns.
        let hh_keys = [
            "grid_code",
            "building",
            "unit",
            "room",
            "address",
            "housing_use",
            "registered_on",
        ];
        let cells_now = HouseholdCells {
            row,
            values: hh_keys.iter().map(|k| get(k).to_string()).collect(),
        };
        if !household_no.is_empty()
            && let Some((_, first)) = by_no.get(household_no)
        {
            for (i, key) in hh_keys.iter().enumerate() {
                if first.values[i] != cells_now.values[i] {
                    ck.add(
                        row,
                        key,
                        "inconsistent_household",
                        format!("与同一户编号的第{}行不一致", first.row),
                        format!("differs from row {} of the same household", first.row),
                    );
                }
            }
        }
        if ck.issues.len() != before {
            continue;
        }
        // The row is clean: build its records and let the core rules have the last word.
        let (Some(grid), Some(housing_use), Some(registered_on)) = (grid, housing_use, registered_on) else {
            continue;
        };
        let hh_index = match by_no.get(household_no) {
            Some((i, _)) => *i,
            None => {
                let household = Household {
                    grid_assignments: vec![GridAssignment {
                        grid_id: grid.clone(),
                        from: registered_on,
                    }],
                    building: get("building").into(),
                    unit: get("unit").into(),
                    room: get("room").into(),
                    address: address.into(),
                    housing_use,
                    registered_on,
                };
                if let Err(e) = household.validate() {
                    ck.add(row, "address", "invalid_household", "住户信息无效", e.to_string());
                    continue;
                }
                households.push(FileHousehold {
                    household_no: household_no.into(),
                    household,
                    persons: vec![],
                });
                by_no.insert(household_no.into(), (households.len() - 1, cells_now));
                households.len() - 1
            }
        };
        let person = Person {
            household_id: String::new(),
            grid_id: grid,
            name: name.into(),
            id_number,
            phone: (!phone.is_empty()).then(|| phone.to_string()),
            relation: relation.into(),
            birth_date,
            labels,
        };
        if let Err(e) = person.validate() {
            ck.add(row, "name", "invalid_person", "人员信息无效", e.to_string());
            continue;
        }
        households[hh_index].persons.push(person);
    }
    if !ck.issues.is_empty() {
        return Err(ImportError::Rejected(ImportReport {
            rows,
            issues: ck.issues,
        }));
    }
    Ok(households)
}

// ------------------------------------------------------------------------------ writing

/// The `body` of a saved document, as JSON (none for tombstones).
fn live_body(bytes: &[u8]) -> Option<serde_json::Value> {
    let doc = AutoCommit::load(bytes).ok()?;
    if doc.get(automerge::ROOT, "deleted").ok().flatten().is_some() {
        return None;
    }
    gridbook_core::doc::body::read(&doc)
}

/// A `core` store in memory holding the server's org tree, writing as `operator` (a district admin).
pub(crate) fn admin_store(storage: &dyn Storage, operator: &str) -> ApiResult<Store> {
    let identity = Identity {
        account_id: operator.to_string(),
        role: Role::DistrictAdmin,
        org_node: String::new(),
        grids: vec![],
    };
    let mut store = Store::open_in_memory(identity)?;
    let org: Vec<RemoteChange> = storage
        .docs_of_kind("org_node")?
        .into_iter()
        .map(|(doc_id, bytes)| RemoteChange { doc_id, bytes })
        .collect();
    store.apply_snapshots(&org)?;
    Ok(store)
}

/// The reference data of the server's database on `today`.
pub fn reference(storage: &dyn Storage, store: &Store, today: NaiveDate) -> ApiResult<Reference> {
    let mut grids_by_code = HashMap::new();
    for (code, id) in working_store::grids_by_code(store, &today.to_string())? {
        grids_by_code.insert(code, id);
    }
    // ID numbers are sealed with each person's key (crypto-shredding, ADR 0004): open them with
    // the keys the server holds; an erased person's number is gone and no longer a duplicate.
    let persons = storage.docs_of_kind("person")?;
    let ids: Vec<String> = persons.iter().map(|(id, _)| id.clone()).collect();
    let keys: HashMap<String, Vec<u8>> = storage
        .person_keys_for(&ids)?
        .into_iter()
        .map(|k| (k.person_id, k.key))
        .collect();
    let mut id_numbers = HashSet::new();
    for (person_id, bytes) in persons {
        let Some(mut body) = live_body(&bytes) else { continue };
        let key = keys.get(&person_id).and_then(|k| PersonKey::from_bytes(k).ok());
        shred::open_body(RecordKind::Person, &person_id, key.as_ref(), &mut body);
        if let Some(id) = body.get("id_number").and_then(|v| v.as_str()) {
            id_numbers.insert(id.to_ascii_uppercase());
        }
    }
    Ok(Reference {
        grids_by_code,
        id_numbers,
    })
}

/// Validate a residents file against the database; the report if anything is wrong.
pub fn validate(storage: &dyn Storage, bytes: &[u8], today: NaiveDate) -> Result<Vec<FileHousehold>, ImportError> {
    let table = read_table(bytes)?;
    let store = admin_store(storage, "validate")?;
    let reference = reference(storage, &store, today)?;
    check_rows(&table, &reference, today)
}

/// Import a residents file, all or nothing, as `operator` (the district admin's account id).
pub fn import(
    storage: &dyn Storage,
    bytes: &[u8],
    operator: &str,
    today: NaiveDate,
) -> Result<ImportOutcome, ImportError> {
    let table = read_table(bytes)?;
    let rows = table.len().saturating_sub(1);
    let mut store = admin_store(storage, operator)?;
    let reference = reference(storage, &store, today)?;
    let households = check_rows(&table, &reference, today)?;
    let mut persons = 0;
    for h in &households {
        let hid = store.create(&h.household)?;
        for p in &h.persons {
            store.create(&Person {
                household_id: hid.clone(),
                ..p.clone()
            })?;
            persons += 1;
        }
    }
    commit_outbox(storage, &store)?;
    crate::admin::audit(
        storage,
        crate::audit::Action::ResidentsImport,
        operator,
        "residents",
        &format!("households={} persons={persons}", households.len()),
    )?;
    Ok(ImportOutcome {
        rows,
        households: households.len(),
        persons,
    })
}

/// Why an account may not import residents ([`check_operator`]).
#[derive(Debug, thiserror::Error)]
pub enum OperatorRefused {
    /// No such account, not a district admin, or disabled.
    #[error("{0} 不是可用的区级管理员账号 / is not an enabled district admin account")]
    NotDistrictAdmin(String),
    /// The account could not be read.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Who may import residents (居民导入): an enabled district admin account, `operator` being its
/// id (its user name). The CLI asks it for its `--operator` before reading the file; the
/// dashboard's import is behind the admin pages' district-admin check.
pub fn check_operator(storage: &dyn Storage, operator: &str) -> Result<(), OperatorRefused> {
    let account = storage.account(operator).map_err(ApiError::from)?;
    if account.is_none_or(|a| a.role != gridbook_core::domain::Role::DistrictAdmin || a.disabled) {
        return Err(OperatorRefused::NotDistrictAdmin(operator.to_string()));
    }
    Ok(())
}

/// Store every change a store made (its outbox) and its documents in one server commit, as if
/// pushed by that store: the same path as the demo district ([`crate::demo::import`]), limited
/// to the records the store wrote itself.
pub fn commit_outbox(storage: &dyn Storage, store: &Store) -> ApiResult<()> {
    // The persons' keys first, so that their query rows open their sealed fields.
    storage.put_person_keys(&store.export_person_keys()?, &|_| true)?;
    let outbox = store.outbox(usize::MAX >> 1)?;
    let ids: BTreeSet<&str> = outbox.iter().map(|e| e.doc_id.as_str()).collect();
    let mut scopes = HashMap::new();
    let mut docs = Vec::with_capacity(ids.len());
    for id in ids {
        let (scope, bytes) = working_store::doc_scope_bytes(store, id)?;
        scopes.insert(id.to_string(), scope.unwrap_or_default());
        docs.push(SavedDoc::from_saved(id.to_string(), bytes)?);
    }
    let changes = outbox
        .into_iter()
        .map(|e| LogEntry {
            scope: scopes.get(&e.doc_id).cloned().unwrap_or_default(),
            hash: e.hash,
            doc_id: e.doc_id,
            bytes: e.bytes,
        })
        .collect();
    storage.commit(CommitBatch {
        origin_device: store.device_id().to_string(),
        received_at: crate::model::clock::now_ms(),
        changes,
        docs,
    })?;
    Ok(())
}

/// Today in China (UTC+8), the day dates are checked against.
pub fn today() -> NaiveDate {
    gridbook_core::china_day(chrono::Utc::now())
}

/// A valid ID number for a birth date and a sequence (tests, benchmarks, the template file).
pub fn make_id_number(region: &str, birth: NaiveDate, seq: u32) -> String {
    let first17 = format!(
        "{region:0>6.6}{:04}{:02}{:02}{:03}",
        birth.year(),
        birth.month(),
        birth.day(),
        seq % 1000
    );
    let check = id_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

// ------------------------------------------------------------------------------ sample files

/// A clean residents table (header first) of `rows` persons, three to a household, the
/// households spread over `grid_codes` in turn: the template download, tests and benchmarks.
/// ID numbers use the region code `370811` and are unique per row.
pub fn sample_rows(grid_codes: &[String], rows: usize) -> Vec<Vec<String>> {
    let mut out = vec![COLUMNS.iter().map(|c| c.zh.to_string()).collect::<Vec<_>>()];
    let base = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default();
    let labels = ["", "", "低保", "", "独居老人", "", "流动人口", "", "残疾、低保", ""];
    let relations = ["户主", "配偶", "子女"];
    for r in 0..rows {
        let h = r / 3;
        let grid = grid_codes.get(h % grid_codes.len().max(1)).cloned().unwrap_or_default();
        let (building, unit, room) = (h / 24 % 30 + 1, h / 8 % 3 + 1, h % 8 * 100 + 101);
        let birth = base + chrono::Days::new(r as u64 * 2 % 30_000);
        out.push(vec![
            format!("H{h:06}"),
            grid,
            format!("{building}栋"),
            format!("{unit}单元"),
            room.to_string(),
            format!("幸福小区{building}栋{unit}单元{room}室"),
            if h % 7 == 0 { "租赁" } else { "自住" }.to_string(),
            "2025-01-01".to_string(),
            format!("居民{r}"),
            make_id_number("370811", birth, (r % 1000) as u32),
            format!("139{:08}", r),
            relations[r % 3].to_string(),
            birth.to_string(),
            labels[r % labels.len()].to_string(),
        ]);
    }
    out
}

/// A table as UTF-8 CSV.
pub fn to_csv(rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        // Writing to memory cannot fail.
        let _ = w.write_record(r);
    }
    w.into_inner().unwrap_or_default()
}

/// A table as XLSX (every cell text, so ID numbers keep their 18 digits).
pub fn to_xlsx(rows: &[Vec<String>]) -> ApiResult<Vec<u8>> {
    let xerr = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(e.to_string());
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("居民").map_err(xerr)?;
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, v).map_err(xerr)?;
        }
    }
    book.save_to_buffer().map_err(xerr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[&[&str]]) -> Table {
        let mut t = vec![(1, COLUMNS.iter().map(|c| c.zh.to_string()).collect())];
        for (i, r) in rows.iter().enumerate() {
            t.push((i + 2, r.iter().map(|s| s.to_string()).collect()));
        }
        t
    }

    fn reference() -> Reference {
        Reference {
            grids_by_code: [("370883001001001".to_string(), "g1".to_string())].into(),
            id_numbers: [make_id_number(
                "370883",
                NaiveDate::from_ymd_opt(1950, 1, 1).unwrap(),
                1,
            )]
            .into(),
        }
    }

    #[test]
    fn dates_in_the_usual_spellings() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 1);
        for t in [
            "2024-03-01",
            "2024/3/1",
            "2024.03.01",
            "20240301",
            "2024年3月1日",
            "2024-03-01 00:00:00",
        ] {
            assert_eq!(parse_date(t), d, "{t}");
        }
        assert_eq!(parse_date("2024-02-30"), None);
    }

    #[test]
    fn every_bad_cell_is_reported_and_clean_rows_make_records() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let id = |y, s| make_id_number("370883", NaiveDate::from_ymd_opt(y, 5, 6).unwrap(), s);
        let (a, b, c) = (id(1980, 1), id(1982, 2), id(1990, 3));
        let mut bad_check = id(1985, 4);
        bad_check.replace_range(17.., if bad_check.ends_with('1') { "2" } else { "1" });
        let existing = make_id_number("370883", NaiveDate::from_ymd_opt(1950, 1, 1).unwrap(), 1);
        let g = "370883001001001";
        let t = table(&[
            &[
                "H1",
                g,
                "1栋",
                "1单元",
                "101",
                "幸福小区1栋1单元101",
                "自住",
                "2024-03-01",
                "王伟",
                a.as_str(),
                "13812345678",
                "户主",
                "",
                "低保、独居老人",
            ],
            &[
                "H1",
                g,
                "1栋",
                "1单元",
                "101",
                "幸福小区1栋1单元101",
                "自住",
                "2024-03-01",
                "李娜",
                b.as_str(),
                "",
                "配偶",
                "1982-05-06",
                "",
            ],
            &[
                "H2",
                g,
                "1栋",
                "1单元",
                "102",
                "幸福小区1栋1单元102",
                "租赁",
                "2024-03-01",
                "张强",
                c.as_str(),
                "0537-5212345",
                "户主",
                "",
                "floating",
            ],
            &[
                "H3",
                g,
                "",
                "",
                "",
                "x",
                "",
                "2024-03-01",
                "",
                id(1970, 5).as_str(),
                "",
                "",
                "",
                "",
            ],
            &[
                "H4",
                "999999999999999",
                "",
                "",
                "",
                "x",
                "",
                "2024-03-01",
                "赵六",
                id(1971, 6).as_str(),
                "",
                "",
                "",
                "",
            ],
            &[
                "H5",
                g,
                "",
                "",
                "",
                "x",
                "",
                "2024-03-01",
                "钱七",
                a.as_str(),
                "",
                "",
                "",
                "",
            ],
            &[
                "H6",
                g,
                "",
                "",
                "",
                "x",
                "",
                "2099-01-01",
                "孙八",
                id(1972, 7).as_str(),
                "",
                "",
                "",
                "",
            ],
            &[
                "H7",
                g,
                "",
                "",
                "",
                "x",
                "",
                "2024-03-01",
                "周九",
                bad_check.as_str(),
                "",
                "",
                "",
                "",
            ],
            &[
                "H8",
                g,
                "",
                "",
                "",
                "x",
                "",
                "2024-03-01",
                "吴十",
                existing.as_str(),
                "",
                "",
                "",
                "",
            ],
            &[
                "H9",
                g,
                "",
                "",
                "",
                "x",
                "",
                "2024-03-01",
                "郑一",
                id(1973, 8).as_str(),
                "1234",
                "",
                "",
                "",
            ],
            &[
                "H1",
                g,
                "2栋",
                "1单元",
                "101",
                "幸福小区1栋1单元101",
                "自住",
                "2024-03-01",
                "冯二",
                id(2001, 9).as_str(),
                "",
                "子女",
                "",
                "外星人",
            ],
        ]);
        let Err(ImportError::Rejected(report)) = check_rows(&t, &reference(), today) else {
            panic!("rejected")
        };
        let codes: Vec<(usize, &str, &str)> = report.issues.iter().map(|i| (i.row, i.column, i.code)).collect();
        assert_eq!(
            codes,
            vec![
                (5, "name", "empty_name"),
                (6, "grid_code", "unknown_grid"),
                (7, "id_number", "duplicate_id_number"),
                (8, "registered_on", "future_date"),
                (9, "id_number", "invalid_id_number"),
                (10, "id_number", "id_number_exists"),
                (11, "phone", "invalid_phone"),
                (12, "labels", "unknown_label"),
                (12, "building", "inconsistent_household"),
            ]
        );
        assert_eq!(report.rows, 11);
        assert!(report.to_text().contains("第7行 身份证号：身份证号与第2行重复"));

        let clean = check_rows(&t[..4].to_vec(), &reference(), today).unwrap();
        assert_eq!(clean.len(), 2);
        assert_eq!(clean[0].persons.len(), 2);
        assert_eq!(clean[0].persons[0].labels.len(), 2);
        assert_eq!(clean[0].persons[0].birth_date, NaiveDate::from_ymd_opt(1980, 5, 6));
        assert_eq!(clean[1].household.housing_use, HousingUse::Rented);
    }

    #[test]
    fn missing_headers_and_garbage_files_are_typed_errors() {
        let t: Table = vec![(1, vec!["姓名".into()])];
        let Err(ImportError::MissingColumns(cols)) = check_rows(&t, &reference(), NaiveDate::MIN) else {
            panic!()
        };
        assert!(cols.contains(&"身份证号"));
        assert_eq!(
            read_table(b"PK\x03\x04garbage").unwrap_err().code(),
            "import_unreadable"
        );
        assert_eq!(
            read_table(b"\xff\xfe\x00a,b\n").unwrap_err().code(),
            "import_unreadable"
        );
    }
}
