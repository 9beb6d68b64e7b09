//! 工作日历: which days are working days (weekends off, public holidays off, 调休 make-up days
//! on) and which hours of a working day count, in China local time (+08:00 by default).
//!
//! Loaded from data (`core/data/calendar_cn.json`), so a district can add next year's State
//! Council schedule or local working hours without a release.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::Deserialize;

use super::error::WorkflowError;

/// Days searched ahead for the next working day before giving up (ten years).
const MAX_SCAN_DAYS: u32 = 3660;

/// A working calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    id: String,
    label_zh: String,
    source: String,
    offset: FixedOffset,
    /// Weekend days, indexed by days from Monday.
    weekend: [bool; 7],
    periods: Vec<(NaiveTime, NaiveTime)>,
    holidays: BTreeMap<NaiveDate, String>,
    workdays: BTreeMap<NaiveDate, String>,
    years: BTreeMap<i32, YearInfo>,
}

/// What the calendar knows about one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearInfo {
    /// `official` (from the State Council notice) or `provisional` (statutory days only).
    pub status: String,
    /// Where the dates come from.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    id: String,
    #[serde(default)]
    label_zh: String,
    source: String,
    utc_offset: String,
    weekend: Vec<String>,
    work_periods: Vec<PeriodFile>,
    years: Vec<YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodFile {
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    status: String,
    source: String,
    holidays: Vec<HolidayFile>,
    workdays: Vec<WorkdayFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    name: String,
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkdayFile {
    date: String,
    name: String,
}

fn bad(s: String) -> WorkflowError {
    WorkflowError::InvalidCalendar(s)
}

fn parse_date(s: &str) -> Result<NaiveDate, WorkflowError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(format!("`{s}` is not a YYYY-MM-DD date")))
}

fn parse_time(s: &str) -> Result<NaiveTime, WorkflowError> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| bad(format!("`{s}` is not an HH:MM time")))
}

fn parse_offset(s: &str) -> Result<FixedOffset, WorkflowError> {
    let err = || bad(format!("`{s}` is not a +HH:MM offset"));
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(err()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(err)?;
    let h: i32 = h.parse().map_err(|_| err())?;
    let m: i32 = m.parse().map_err(|_| err())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(err());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(err)
}

fn parse_weekday(s: &str) -> Result<Weekday, WorkflowError> {
    Ok(match s {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return Err(bad(format!("`{s}` is not a weekday (mon ... sun)"))),
    })
}

impl WorkCalendar {
    /// Parse and validate a calendar.
    pub fn from_json(json: &str) -> Result<Self, WorkflowError> {
        let f: CalendarFile = serde_json::from_str(json).map_err(|e| WorkflowError::Parse {
            file: "calendar",
            reason: e.to_string(),
        })?;
        let offset = parse_offset(&f.utc_offset)?;
        let mut weekend = [false; 7];
        for d in &f.weekend {
            weekend[parse_weekday(d)?.num_days_from_monday() as usize] = true;
        }
        if weekend.iter().all(|w| *w) {
            return Err(bad("every day of the week is a weekend day".into()));
        }
        let mut periods = Vec::new();
        for p in &f.work_periods {
            let (s, e) = (parse_time(&p.start)?, parse_time(&p.end)?);
            if s >= e {
                return Err(bad(format!("work period {}-{} ends before it starts", p.start, p.end)));
            }
            if periods.last().is_some_and(|&(_, prev_end)| s < prev_end) {
                return Err(bad(format!(
                    "work period {}-{} overlaps or is out of order",
                    p.start, p.end
                )));
            }
            periods.push((s, e));
        }
        if periods.is_empty() {
            return Err(bad("no work periods".into()));
        }
        let mut holidays = BTreeMap::new();
        let mut workdays = BTreeMap::new();
        let mut years = BTreeMap::new();
        for y in f.years {
            if !matches!(y.status.as_str(), "official" | "provisional") {
                return Err(bad(format!(
                    "year {} has status `{}` (official or provisional)",
                    y.year, y.status
                )));
            }
            for h in &y.holidays {
                let (from, to) = (parse_date(&h.from)?, parse_date(&h.to)?);
                if from > to || from.year() != y.year || (to - from).num_days() > 31 {
                    return Err(bad(format!(
                        "holiday `{}` {}..{} does not fit year {}",
                        h.name, h.from, h.to, y.year
                    )));
                }
                for d in from.iter_days().take_while(|d| *d <= to) {
                    if holidays.insert(d, h.name.clone()).is_some() {
                        return Err(bad(format!("{d} is listed as a holiday twice")));
                    }
                }
            }
            for w in &y.workdays {
                let d = parse_date(&w.date)?;
                if holidays.contains_key(&d) {
                    return Err(bad(format!("{d} is both a holiday and a make-up working day")));
                }
                if workdays.insert(d, w.name.clone()).is_some() {
                    return Err(bad(format!("{d} is listed as a make-up working day twice")));
                }
            }
            if years
                .insert(
                    y.year,
                    YearInfo {
                        status: y.status,
                        source: y.source,
                    },
                )
                .is_some()
            {
                return Err(bad(format!("year {} is listed twice", y.year)));
            }
        }
        Ok(WorkCalendar {
            id: f.id,
            label_zh: f.label_zh,
            source: f.source,
            offset,
            weekend,
            periods,
            holidays,
            workdays,
            years,
        })
    }

    /// Stable id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// zh-CN label.
    pub fn label_zh(&self) -> &str {
        &self.label_zh
    }
    /// Where the dates come from.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The local time offset.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }
    /// What the calendar knows about `year` (`None`: only weekends are known).
    pub fn year(&self, year: i32) -> Option<&YearInfo> {
        self.years.get(&year)
    }
    /// The years the calendar has holiday data for, ascending.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }
    /// Whether `year`'s holidays come from a published State Council schedule.
    pub fn is_official(&self, year: i32) -> bool {
        self.years.get(&year).is_some_and(|y| y.status == "official")
    }
    /// The holiday's name if `date` is a public holiday (放假).
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }
    /// Whether `date` is a 调休 make-up working day (a weekend day worked).
    pub fn is_makeup_workday(&self, date: NaiveDate) -> bool {
        self.workdays.contains_key(&date)
    }
    /// Whether `date` is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.workdays.contains_key(&date)
            || !(self.holidays.contains_key(&date) || self.weekend[date.weekday().num_days_from_monday() as usize])
    }

    /// Local wall-clock time of an instant.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        let utc = at.naive_utc();
        utc.checked_add_signed(Duration::seconds(i64::from(self.offset.local_minus_utc())))
            .unwrap_or(utc)
    }
    /// Local date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        self.local(at).date()
    }
    /// The instant of a local wall-clock time.
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let offset = Duration::seconds(i64::from(self.offset.local_minus_utc()));
        // Out-of-range instants (a forged timestamp near year 262143) saturate instead of panicking.
        local.checked_sub_signed(offset).unwrap_or(local).and_utc()
    }
    /// Local midnight starting `date`.
    pub fn local_midnight(&self, date: NaiveDate) -> DateTime<Utc> {
        self.to_utc(date.and_time(NaiveTime::MIN))
    }

    /// The `n`-th working day after `date` (`date` itself not counted; `n = 0` gives `date`).
    pub fn nth_working_day_after(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut d = date;
        let mut left = n;
        let mut scanned = 0;
        while left > 0 && scanned < MAX_SCAN_DAYS.saturating_mul(n.max(1)) {
            d = d.succ_opt().unwrap_or(d);
            scanned += 1;
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days (count) strictly after `from`'s date up to and including `to`'s date.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| self.is_working_day(*d))
            .count() as u32
    }

    /// End of the working day (end of its last work period) of `date`, as an instant.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let end = self.periods.last().map_or(NaiveTime::MIN, |p| p.1);
        self.to_utc(date.and_time(end))
    }

    /// "N working days" in the 民法典 art. 201 sense: the day of `start` is not counted, the
    /// deadline is the end of the working day of the `n`-th working day after it.
    pub fn working_days_deadline(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        self.end_of_day(self.nth_working_day_after(self.local_date(start), n))
    }

    /// The same local time of day on the `n`-th working day after `at`'s date (used to add
    /// approved extension days to a deadline).
    pub fn add_working_days(&self, at: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        if n == 0 {
            return at;
        }
        let local = self.local(at);
        self.to_utc(self.nth_working_day_after(local.date(), n).and_time(local.time()))
    }

    /// The instant when `hours` working hours have passed after `start`.
    pub fn add_working_hours(&self, start: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        self.add_working_time(start, Duration::hours(i64::from(hours)))
    }

    /// Working time within work periods of working days between `a` and `b` (zero if `b <= a`).
    pub fn working_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        let (la, lb) = (self.local(a), self.local(b));
        let mut total = Duration::zero();
        for d in la.date().iter_days().take_while(|d| *d <= lb.date()) {
            if !self.is_working_day(d) {
                continue;
            }
            for &(ps, pe) in &self.periods {
                let s = d.and_time(ps).max(la);
                let e = d.and_time(pe).min(lb);
                if e > s {
                    total += e - s;
                }
            }
        }
        total
    }

    /// The instant when `amount` of working time has passed after `start`. If the amount runs
    /// out exactly at the end of a work period, that end is the answer (17:30, not 08:30 of the
    /// next working day). A non-positive amount gives `start`.
    pub fn add_working_time(&self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if amount <= Duration::zero() {
            return start;
        }
        let mut left = amount;
        let cursor = self.local(start);
        let mut d = cursor.date();
        for _ in 0..=MAX_SCAN_DAYS.saturating_mul(4) {
            if self.is_working_day(d) {
                for &(ps, pe) in &self.periods {
                    let s = d.and_time(ps).max(cursor);
                    let e = d.and_time(pe);
                    if e <= s {
                        continue;
                    }
                    let avail = e - s;
                    if left <= avail {
                        return self.to_utc(s.checked_add_signed(left).unwrap_or(e));
                    }
                    left -= avail;
                }
            }
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
        }
        // Only reachable for absurd amounts: answer far in the future rather than panic.
        self.to_utc(d.and_time(NaiveTime::MIN))
    }
}
