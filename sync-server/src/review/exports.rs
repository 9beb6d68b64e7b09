//! 导出: XLSX (rust_xlsxwriter in constant-memory mode: bold header row, column widths, frozen
//! header) and CSV (UTF-8 with a BOM, so Excel opens it) of ledgers, cases and reports.
//!
//! Sensitive fields (ID numbers, phones, names) are masked by default with
//! core's masking (`gridbook_core::mask_phone`). `unmasked=1` needs the reveal permission
//! ([`super::reveal::may_reveal`], district admins) and a `reason=`; every export, masked or
//! not, appends an entry to the audit log ([`crate::audit`]) before anything is read.
//!
//! Every export is written to a file under `<data_dir>/exports/` by a blocking task that reads
//! the rows from one SQL cursor and writes them as it goes, so memory stays flat whatever the
//! size. Exports above [`SYNC_LIMIT`] rows run as a background job with progress
//! (`/review/exports/jobs/{id}`), never a request that can time out.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};

use super::session::Q;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridbook_core::domain::Role;
use gridbook_core::mask_phone;
use rust_xlsxwriter::{Format, Workbook, Worksheet};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cases::{BoardQuery, Labels};
use super::ledgers::LedgerQuery;
use super::reports::ReportQuery;
use super::{Area, Lang, Layout, PageError, Viewer, invalid, not_found, run};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::storage::Storage;

/// Exports with more rows than this run as background jobs (default of [`sync_limit`]).
pub const SYNC_LIMIT: u64 = 20_000;

fn limits() -> &'static Mutex<HashMap<PathBuf, u64>> {
    static LIMITS: OnceLock<Mutex<HashMap<PathBuf, u64>>> = OnceLock::new();
    LIMITS.get_or_init(Default::default)
}

/// Rows above which an export of the server with this data folder runs as a background job.
pub fn sync_limit(data_dir: &FsPath) -> u64 {
    limits()
        .lock()
        .ok()
        .and_then(|l| l.get(data_dir).copied())
        .unwrap_or(SYNC_LIMIT)
}

/// Change [`sync_limit`] for one server (tests exercise the job path on small data with it).
pub fn set_sync_limit(data_dir: &FsPath, rows: u64) {
    if let Ok(mut l) = limits().lock() {
        l.insert(data_dir.to_path_buf(), rows);
    }
}

/// A cell.
#[derive(Debug, Clone)]
pub enum Cell {
    /// Text.
    Text(String),
    /// Number.
    Num(f64),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    format!("{}", *n as i64)
                } else {
                    format!("{n}")
                }
            }
        }
    }
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn n(v: impl Into<f64>) -> Cell {
    Cell::Num(v.into())
}

/// Where rows go: a spreadsheet or a CSV file.
pub trait Sink {
    /// Start a table (a worksheet; in CSV a section after a blank line and the table's name).
    fn table(&mut self, name: &str, columns: &[(&str, f64)]) -> ApiResult<()>;
    /// One row of the current table.
    fn row(&mut self, cells: &[Cell]) -> ApiResult<()>;
    /// Finish and flush.
    fn finish(self: Box<Self>) -> ApiResult<()>;
}

fn xerr(e: rust_xlsxwriter::XlsxError) -> ApiError {
    ApiError::Internal(format!("xlsx: {e}"))
}

/// XLSX in constant-memory mode.
pub struct XlsxSink {
    workbook: Workbook,
    path: PathBuf,
    sheet: Option<usize>,
    next_row: u32,
    header: Format,
}

impl XlsxSink {
    /// A workbook saved to `path` on finish.
    pub fn new(path: &FsPath) -> ApiResult<XlsxSink> {
        let mut workbook = Workbook::new();
        if let Some(dir) = path.parent() {
            workbook.set_tempdir(dir).map_err(xerr)?;
        }
        Ok(XlsxSink {
            workbook,
            path: path.to_path_buf(),
            sheet: None,
            next_row: 0,
            header: Format::new().set_bold().set_background_color("#DDEBF7"),
        })
    }

    fn sheet(&mut self) -> ApiResult<&mut Worksheet> {
        let i = self
            .sheet
            .ok_or_else(|| ApiError::Internal("no table started".into()))?;
        self.workbook.worksheet_from_index(i).map_err(xerr)
    }
}

impl Sink for XlsxSink {
    fn table(&mut self, name: &str, columns: &[(&str, f64)]) -> ApiResult<()> {
        let index = self.sheet.map_or(0, |i| i + 1);
        let header = self.header.clone();
        let ws = self.workbook.add_worksheet_with_constant_memory();
        ws.set_name(name).map_err(xerr)?;
        for (c, (_, width)) in columns.iter().enumerate() {
            ws.set_column_width(c as u16, *width).map_err(xerr)?;
        }
        ws.set_freeze_panes(1, 0).map_err(xerr)?;
        for (c, (title, _)) in columns.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *title, &header)
                .map_err(xerr)?;
        }
        self.sheet = Some(index);
        self.next_row = 1;
        Ok(())
    }

    fn row(&mut self, cells: &[Cell]) -> ApiResult<()> {
        let r = self.next_row;
        let ws = self.sheet()?;
        for (c, cell) in cells.iter().enumerate() {
            match cell {
                Cell::Text(s) => ws.write_string(r, c as u16, s).map_err(xerr)?,
                Cell::Num(v) => ws.write_number(r, c as u16, *v).map_err(xerr)?,
            };
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> ApiResult<()> {
        // Mode 0600 like every file in the data folder: an export may hold personal data.
        let file = crate::server_db::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        self.workbook.save_to_writer(file).map_err(xerr)
    }
}

/// CSV, UTF-8 with a BOM; a second table follows the first after a blank line and its name.
pub struct CsvSink {
    out: std::io::BufWriter<std::fs::File>,
    tables: usize,
}

impl CsvSink {
    /// A CSV file at `path`.
    pub fn new(path: &FsPath) -> ApiResult<CsvSink> {
        // Mode 0600 like every file in the data folder: an export may hold personal data.
        let file = crate::server_db::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut out = std::io::BufWriter::new(file);
        out.write_all("\u{feff}".as_bytes())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(CsvSink { out, tables: 0 })
    }

    fn line(&mut self, cells: impl Iterator<Item = String>) -> ApiResult<()> {
        let line = cells.map(|c| csv_field(&c)).collect::<Vec<_>>().join(",");
        self.out
            .write_all(line.as_bytes())
            .and_then(|_| self.out.write_all(b"\r\n"))
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// Quote a CSV field when needed; neutralise spreadsheet formulas (`=`, `+`, `-`, `@`).
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err()) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl Sink for CsvSink {
    fn table(&mut self, name: &str, columns: &[(&str, f64)]) -> ApiResult<()> {
        self.tables += 1;
        if self.tables > 1 {
            // A CSV file has no worksheets: later tables follow as sections (a blank line,
            // the table's name, its header), so that nothing of the export is dropped.
            self.line(std::iter::empty())?;
            self.line(std::iter::once(name.to_string()))?;
        }
        self.line(columns.iter().map(|(c, _)| c.to_string()))
    }

    fn row(&mut self, cells: &[Cell]) -> ApiResult<()> {
        self.line(cells.iter().map(Cell::text))
    }

    fn finish(mut self: Box<Self>) -> ApiResult<()> {
        self.out.flush().map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// Progress of a running export.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows written.
    pub done: AtomicU64,
    /// Rows expected.
    pub total: AtomicU64,
    /// Finished (successfully or not).
    pub finished: AtomicBool,
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// 走访台账
    Ledgers,
    /// 接诉即办 cases
    Cases,
    /// 统计报表
    Report,
}

/// Query of an export: the list filters plus `unmasked`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExportQuery {
    /// Org node.
    pub node: Option<String>,
    /// Worker.
    pub worker: Option<String>,
    /// From.
    pub from: Option<String>,
    /// To.
    pub to: Option<String>,
    /// Review state (ledgers) or case state.
    pub state: Option<String>,
    /// Sort (ledgers).
    pub sort: Option<String>,
    /// Sort direction.
    pub dir: Option<String>,
    /// Stage (cases).
    pub stage: Option<String>,
    /// Deadline light (cases).
    pub level: Option<String>,
    /// Kind (cases).
    pub kind: Option<String>,
    /// Period (report).
    pub period: Option<String>,
    /// Date (report).
    pub date: Option<String>,
    /// `1` for unmasked sensitive fields.
    pub unmasked: Option<String>,
    /// Why an unmasked export is needed (required with `unmasked=1`; audited).
    pub reason: Option<String>,
    /// Language.
    pub lang: Option<String>,
}

/// Whether a role may export unmasked personal information (the reveal permission).
pub fn may_unmask(role: Role) -> bool {
    super::reveal::may_reveal(role)
}

fn audit(
    storage: &dyn crate::storage::Storage,
    viewer: &Viewer,
    file: &str,
    q: &ExportQuery,
    unmasked: bool,
) -> ApiResult<()> {
    crate::audit::append(
        storage,
        &viewer.account.id,
        crate::audit::Action::Export,
        &format!("export:{file}"),
        serde_json::json!({
            "unmasked": unmasked,
            "reason": q.reason.as_deref().map(str::trim),
            "role": viewer.account.role.as_str(),
            "node": q.node, "worker": q.worker, "from": q.from, "to": q.to, "period": q.period, "date": q.date,
        }),
    )?;
    if unmasked {
        tracing::warn!(account = %viewer.account.id, export = file, "unmasked export (audited)");
    }
    Ok(())
}

/// Write one export of `what` for `viewer` into `sink`. Blocking.
pub fn write_export(
    storage: &dyn Storage,
    viewer: &Viewer,
    what: What,
    q: &ExportQuery,
    unmasked: bool,
    sink: &mut dyn Sink,
    progress: &Progress,
) -> ApiResult<()> {
    let area = Area::load(storage, viewer)?;
    let lang = viewer.lang;
    let tr = |k: &str| lang.t(k);
    match what {
        What::Ledgers => {
            let lq = LedgerQuery {
                node: q.node.clone(),
                worker: q.worker.clone(),
                from: q.from.clone(),
                to: q.to.clone(),
                state: q.state.clone(),
                sort: q.sort.clone(),
                dir: q.dir.clone(),
                page: None,
                lang: None,
            };
            let f = lq.filter(&area)?;
            progress
                .total
                .store(super::ledgers::count(storage, &f)? as u64, Ordering::Relaxed);
            sink.table(
                tr("ledgers"),
                &[
                    (tr("day"), 12.0),
                    (tr("grid"), 22.0),
                    (tr("worker"), 24.0),
                    (tr("review_state"), 10.0),
                    (tr("house_calls"), 10.0),
                    (tr("households_visited"), 10.0),
                    (tr("problems"), 10.0),
                    (tr("solved_on_spot"), 10.0),
                    (tr("reported"), 8.0),
                    (tr("comment"), 30.0),
                    (tr("flagged"), 12.0),
                ],
            )?;
            super::ledgers::query_rows(storage, &f, None, 0, |r| {
                sink.row(&[
                    t(r.day),
                    t(r.grid_name),
                    t(r.worker_name),
                    t(lang.review_state(&r.review_state)),
                    n(r.house_calls as f64),
                    n(r.households_visited as f64),
                    n(r.problems as f64),
                    n(r.solved_on_spot as f64),
                    n(r.reported as f64),
                    t(r.review_comment.unwrap_or_default()),
                    t(if r.flagged { tr("yes") } else { "" }),
                ])?;
                progress.done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })?;
            // Sheet 2: members of the households visited on those days (masked by default).
            sink.table(
                lang.pick("走访户成员", "Household members visited"),
                &[
                    (tr("day"), 12.0),
                    (tr("worker"), 24.0),
                    (tr("household"), 36.0),
                    (lang.pick("姓名", "Name"), 10.0),
                    (lang.pick("身份证号", "ID number"), 22.0),
                    (lang.pick("电话", "Phone"), 14.0),
                    (lang.pick("关系", "Relation"), 8.0),
                ],
            )?;
            let mut failed = None;
            storage.visited_members(&f, &mut |m| {
                let written = (|| {
                    let (mut name, mut id_number, mut phone) = (m.name, m.id_number, m.phone);
                    if unmasked && let Some(p) = person_clear(storage, &m.person_id)? {
                        (name, id_number, phone) = p;
                    }
                    sink.row(&[
                        t(m.day),
                        t(m.worker_name),
                        t(m.address),
                        t(name),
                        t(id_number),
                        t(phone),
                        t(m.relation),
                    ])
                })();
                match written {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        What::Cases => {
            let bq = BoardQuery {
                node: q.node.clone(),
                stage: q.stage.clone(),
                state: q.state.clone(),
                level: q.level.clone(),
                kind: q.kind.clone(),
                page: None,
                lang: None,
            };
            let grids = area.grids_under(bq.node.as_deref())?;
            let total = storage.case_count(&grids)?;
            progress.total.store(total, Ordering::Relaxed);
            let lb = Labels::new(lang);
            sink.table(
                tr("cases"),
                &[
                    (lang.pick("编号", "Id"), 38.0),
                    (tr("kind"), 8.0),
                    (tr("grid"), 22.0),
                    (tr("category"), 14.0),
                    (tr("title"), 28.0),
                    (tr("state"), 18.0),
                    (tr("stage"), 10.0),
                    (tr("deadline"), 18.0),
                    (tr("deadline_state"), 8.0),
                    (tr("supervision"), 10.0),
                    (tr("urges"), 8.0),
                    (tr("department"), 14.0),
                    (tr("occurred_at"), 18.0),
                    (lang.pick("群众电话", "Resident phone"), 14.0),
                ],
            )?;
            let want = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
            let (stage, state, level, kind) = (want(&bq.stage), want(&bq.state), want(&bq.level), want(&bq.kind));
            let depts: HashMap<String, String> = storage.departments()?.into_iter().collect();
            super::cases::scan(storage, &area, &grids, Utc::now(), |r, case| {
                progress.done.fetch_add(1, Ordering::Relaxed);
                let keep = stage.as_ref().is_none_or(|s| r.stage.as_deref() == Some(s.as_str()))
                    && state.as_ref().is_none_or(|s| &r.state == s)
                    && level.as_ref().is_none_or(|l| super::i18n::deadline_key(r.level) == l)
                    && kind.as_ref().is_none_or(|k| &r.kind == k);
                if !keep {
                    return Ok(());
                }
                let phone = case
                    .resident_phone
                    .as_deref()
                    .map(|p| if unmasked { p.to_string() } else { mask_phone(p) })
                    .unwrap_or_default();
                sink.row(&[
                    t(r.id),
                    t(if r.kind == "request" {
                        lang.pick("诉求", "request")
                    } else {
                        lang.pick("事件", "incident")
                    }),
                    t(r.grid_name),
                    t(lb.category(&r.category)),
                    t(r.title),
                    t(lb.state(&r.state)),
                    t(r.stage.as_deref().map(|s| lb.stage(s)).unwrap_or_default()),
                    t(r.deadline.map(super::fmt_cn).unwrap_or_default()),
                    t(lang.deadline(r.level)),
                    t(r.card.as_deref().map(|c| lb.card(c)).unwrap_or_default()),
                    n(r.urges),
                    t(r.department
                        .as_deref()
                        .map(|d| depts.get(d).cloned().unwrap_or_else(|| d.to_string()))
                        .unwrap_or_default()),
                    t(r.occurred_at),
                    t(phone),
                ])
            })?;
        }
        What::Report => {
            let rq = ReportQuery {
                node: q.node.clone(),
                period: q.period.clone(),
                date: q.date.clone(),
                lang: None,
            };
            let r = super::reports::report(storage, &area, &viewer.account.org_node, &rq, Utc::now())?;
            progress
                .total
                .store((r.grids.len() + r.assessment.len()) as u64, Ordering::Relaxed);
            let rate_cols: Vec<&str> = r.rates.iter().map(|x| tr(x.key)).collect();
            let mut cols = vec![(tr("grid"), 24.0), (tr("total"), 10.0)];
            cols.extend(rate_cols.iter().map(|c| (*c, 14.0)));
            cols.push((tr("overdue_open"), 12.0));
            sink.table(&format!("{} {}–{}", tr("reports"), r.from, r.to), &cols)?;
            let mut all = vec![t(r.node_name.clone()), n(r.metrics.total)];
            all.extend(r.rates.iter().map(|x| t(x.pct.clone())));
            all.push(n(r.metrics.overdue_open));
            sink.row(&all)?;
            for g in &r.grids {
                let mut row = vec![t(g.name.clone()), n(g.total)];
                row.extend(g.rates.iter().map(|x| t(x.pct.clone())));
                row.push(n(g.overdue_open));
                sink.row(&row)?;
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            sink.table(
                tr("assessment"),
                &[
                    (tr("worker"), 24.0),
                    (tr("grid"), 22.0),
                    (tr("visits_done"), 10.0),
                    (tr("visits_due"), 10.0),
                    (tr("cases_reported"), 10.0),
                    (tr("on_time_rate"), 12.0),
                    (tr("ledgers_returned"), 10.0),
                    (tr("ledgers_approved"), 10.0),
                    (tr("satisfaction_rate"), 12.0),
                ],
            )?;
            for a in &r.assessment {
                sink.row(&[
                    t(a.name.clone()),
                    t(a.grid.clone()),
                    n(a.visits_done as f64),
                    n(a.visits_due as f64),
                    n(a.cases_reported as f64),
                    t(a.on_time.clone()),
                    n(a.ledgers_returned as f64),
                    n(a.ledgers_approved as f64),
                    t(a.satisfaction.clone()),
                ])?;
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// A person's name, ID number and phone in clear, from its document (unmasked exports only).
pub(crate) fn person_clear(storage: &dyn Storage, id: &str) -> ApiResult<Option<(String, String, String)>> {
    let Some(bytes) = storage.load_docs(&[id.to_string()])?.remove(id) else {
        return Ok(None);
    };
    let doc = automerge::AutoCommit::load(&bytes).map_err(|e| ApiError::Core(e.into()))?;
    let mut b = gridbook_core::doc::body::read(&doc).unwrap_or_default();
    // Sealed fields open with the person's key; an erased person's stay unavailable.
    let key = storage
        .person_keys_for(&[id.to_string()])?
        .into_iter()
        .next()
        .map(|k| gridbook_core::shred::PersonKey::from_bytes(&k.key))
        .transpose()?;
    let kind = gridbook_core::domain::RecordKind::Person;
    if gridbook_core::shred::open_body(kind, id, key.as_ref(), &mut b).contains(&"name") {
        b["name"] = serde_json::Value::String(gridbook_core::shred::UNAVAILABLE_TEXT.into());
    }
    let s = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Ok(Some((s("name"), s("id_number"), s("phone"))))
}

/// Count the rows an export will write (to decide between a direct download and a job).
fn estimate(storage: &dyn Storage, viewer: &Viewer, what: What, q: &ExportQuery) -> ApiResult<u64> {
    let area = Area::load(storage, viewer)?;
    let grids = area.grids_under(q.node.as_deref())?;
    Ok(match what {
        What::Ledgers => storage.ledger_count_in(&grids)?,
        What::Cases => storage.case_count(&grids)?,
        What::Report => 0,
    })
}

/// A background export.
#[derive(Debug)]
pub struct Job {
    /// Owner (only they may see it).
    pub account: String,
    /// File name offered.
    pub file_name: String,
    /// Where the file is written.
    pub path: PathBuf,
    /// Progress.
    pub progress: Arc<Progress>,
    /// Error, if it failed.
    pub error: Mutex<Option<String>>,
}

fn jobs() -> &'static Mutex<HashMap<Uuid, Arc<Job>>> {
    static JOBS: OnceLock<Mutex<HashMap<Uuid, Arc<Job>>>> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

fn parse_file(file: &str) -> ApiResult<(What, bool)> {
    let (name, ext) = file.rsplit_once('.').ok_or_else(|| not_found("export"))?;
    let what = match name {
        "ledgers" => What::Ledgers,
        "cases" => What::Cases,
        "report" => What::Report,
        _ => return Err(not_found("export")),
    };
    let xlsx = match ext {
        "xlsx" => true,
        "csv" => false,
        _ => return Err(not_found("export")),
    };
    Ok((what, xlsx))
}

fn content_type(xlsx: bool) -> &'static str {
    if xlsx {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else {
        "text/csv; charset=utf-8"
    }
}

/// Write an export to `path` (blocking). Public for the benchmark.
#[allow(clippy::too_many_arguments)]
pub fn export_to_file(
    storage: &dyn Storage,
    viewer: &Viewer,
    what: What,
    q: &ExportQuery,
    unmasked: bool,
    xlsx: bool,
    path: &FsPath,
    progress: &Progress,
) -> ApiResult<()> {
    let mut sink: Box<dyn Sink> = if xlsx {
        Box::new(XlsxSink::new(path)?)
    } else {
        Box::new(CsvSink::new(path)?)
    };
    write_export(storage, viewer, what, q, unmasked, sink.as_mut(), progress)?;
    sink.finish()?;
    progress.finished.store(true, Ordering::SeqCst);
    Ok(())
}

fn file_response(path: &FsPath, name: &str, xlsx: bool) -> ApiResult<Response> {
    let bytes = std::fs::read(path).map_err(|e| ApiError::Internal(e.to_string()))?;
    let _ = std::fs::remove_file(path);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disp = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        super::urlencode(name)
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type(xlsx))),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disp).map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /review/exports/{ledgers|cases|report}.{xlsx|csv}`: a download, or a redirect to a
/// background job for large exports (`/review/api/...`-style clients get 202 with the job).
pub async fn download(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(file): Path<String>,
    Q(q): Q<ExportQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let wants_json = false;
    inner_download(app, viewer, file, q, wants_json)
        .await
        .map_err(|e| PageError::new(e, lang))
}

async fn inner_download(
    app: AppState,
    viewer: Viewer,
    file: String,
    q: ExportQuery,
    _json: bool,
) -> ApiResult<Response> {
    let (what, xlsx) = parse_file(&file)?;
    let unmasked = match q.unmasked.as_deref() {
        None | Some("") | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err(invalid("invalid_flag", "unmasked", "0 or 1")),
    };
    if unmasked && !may_unmask(viewer.account.role) {
        return Err(ApiError::RevealNotPermitted);
    }
    if unmasked {
        super::reveal::check_reason(q.reason.as_deref())?;
    }
    let data_dir = app.config.data_dir.clone();
    let db = app.storage.clone();
    let dir = data_dir.join("exports");
    crate::server_db::create_private_dir(&dir).map_err(|e| ApiError::Internal(e.to_string()))?;
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let file_name = format!(
        "{}-{stamp}.{}",
        file.rsplit_once('.').map_or("export", |(n, _)| n),
        if xlsx { "xlsx" } else { "csv" }
    );
    let id = Uuid::new_v4();
    let path = dir.join(format!("{id}.{}", if xlsx { "xlsx" } else { "csv" }));
    let (v2, q2, db2) = (viewer.clone(), q.clone(), db.clone());
    // Check the filter (scope, dates) and size before anything is written.
    let rows = run(move || estimate(db2.as_ref(), &v2, what, &q2)).await?;
    {
        let (v3, q3, f3, s3) = (viewer.clone(), q.clone(), file.clone(), app.storage.clone());
        run(move || audit(s3.as_ref(), &v3, &f3, &q3, unmasked)).await?;
    }
    let progress = Arc::new(Progress::default());
    if rows <= sync_limit(&data_dir) {
        let (p2, path2) = (progress.clone(), path.clone());
        return run(move || {
            let r = export_to_file(db.as_ref(), &viewer, what, &q, unmasked, xlsx, &path2, &p2);
            if r.is_err() {
                let _ = std::fs::remove_file(&path2);
            }
            r?;
            file_response(&path2, &file_name, xlsx)
        })
        .await;
    }
    let job = Arc::new(Job {
        account: viewer.account.id.clone(),
        file_name,
        path: path.clone(),
        progress: progress.clone(),
        error: Mutex::new(None),
    });
    jobs()
        .lock()
        .map_err(|_| ApiError::Internal("jobs lock".into()))?
        .insert(id, job.clone());
    tokio::task::spawn_blocking(move || {
        let r = export_to_file(db.as_ref(), &viewer, what, &q, unmasked, xlsx, &path, &job.progress);
        if let Err(e) = r {
            tracing::error!(error = %e, "export job failed");
            if let Ok(mut slot) = job.error.lock() {
                *slot = Some(e.code().to_string());
            }
            job.progress.finished.store(true, Ordering::SeqCst);
        }
    });
    Ok(Redirect::to(&format!("/review/exports/jobs/{id}")).into_response())
}

/// A job's state.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// Job id.
    pub id: String,
    /// Rows written.
    pub done: u64,
    /// Rows expected.
    pub total: u64,
    /// Finished.
    pub finished: bool,
    /// Error code.
    pub error: Option<String>,
    /// Download link once finished.
    pub file: Option<String>,
}

fn job_of(viewer: &Viewer, id: &str) -> ApiResult<(Uuid, Arc<Job>)> {
    let id = Uuid::parse_str(id).map_err(|_| not_found("export job"))?;
    let job = jobs()
        .lock()
        .map_err(|_| ApiError::Internal("jobs lock".into()))?
        .get(&id)
        .cloned()
        .filter(|j| j.account == viewer.account.id)
        .ok_or_else(|| not_found("export job"))?;
    Ok((id, job))
}

fn status(id: Uuid, job: &Job) -> JobStatus {
    let error = job.error.lock().ok().and_then(|e| e.clone());
    let finished = job.progress.finished.load(Ordering::SeqCst);
    JobStatus {
        id: id.to_string(),
        done: job.progress.done.load(Ordering::Relaxed),
        total: job.progress.total.load(Ordering::Relaxed),
        finished,
        file: (finished && error.is_none()).then(|| format!("/review/exports/jobs/{id}/file")),
        error,
    }
}

#[derive(Template)]
#[template(path = "review/job.html")]
struct JobPage {
    l: Layout,
    s: JobStatus,
    pct: u64,
}

/// `GET /review/exports/jobs/{id}`
pub async fn job_page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang: Lang = viewer.lang;
    let (id, job) = job_of(&viewer, &id).map_err(|e| PageError::new(e, lang))?;
    let s = status(id, &job);
    let pct = (s.done * 100).checked_div(s.total).unwrap_or(0).min(100);
    let l = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        Ok(Layout::new(
            &viewer,
            &area,
            "reports",
            format!("/review/exports/jobs/{id}"),
        ))
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    super::html(&JobPage { l, s, pct }, lang)
}

/// `GET /review/api/exports/jobs/{id}`
pub async fn job_api(viewer: Viewer, Path(id): Path<String>) -> ApiResult<Response> {
    let (id, job) = job_of(&viewer, &id)?;
    Ok(Json(status(id, &job)).into_response())
}

/// `GET /review/exports/jobs/{id}/file`
pub async fn job_file(viewer: Viewer, Path(id): Path<String>) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let (id, job) = job_of(&viewer, &id).map_err(|e| PageError::new(e, lang))?;
    let s = status(id, &job);
    if !s.finished || s.error.is_some() {
        return Err(PageError::new(ApiError::NotFound("export file".into()), lang));
    }
    let xlsx = job.path.extension().is_some_and(|e| e == "xlsx");
    let (path, name) = (job.path.clone(), job.file_name.clone());
    if let Ok(mut j) = jobs().lock() {
        j.remove(&id);
    }
    run(move || file_response(&path, &name, xlsx))
        .await
        .map_err(|e| PageError::new(e, lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("幸福社区"), "幸福社区");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-12"), "-12");
        assert_eq!(csv_field("-cmd"), "'-cmd");
    }

    #[test]
    fn csv_and_xlsx_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut sink: Box<dyn Sink> = Box::new(CsvSink::new(&path).unwrap());
        sink.table("a", &[("日期", 10.0), ("数", 5.0)]).unwrap();
        sink.row(&[t("2026-11-27"), n(3)]).unwrap();
        sink.table("b", &[("x", 1.0)]).unwrap();
        sink.row(&[t("kept")]).unwrap();
        sink.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "\u{feff}日期,数\r\n2026-11-27,3\r\n\r\nb\r\nx\r\nkept\r\n"
        );
        let path = dir.path().join("t.xlsx");
        let mut sink: Box<dyn Sink> = Box::new(XlsxSink::new(&path).unwrap());
        sink.table("台账", &[("日期", 10.0)]).unwrap();
        sink.row(&[t("2026-11-27")]).unwrap();
        sink.finish().unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"PK"));
        #[cfg(unix)]
        for file in ["t.csv", "t.xlsx"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}: an export may hold personal data");
        }
        assert!(parse_file("ledgers.pdf").is_err() && parse_file("secrets.xlsx").is_err());
        assert_eq!(parse_file("cases.csv").unwrap(), (What::Cases, false));
    }
}
