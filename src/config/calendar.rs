//! Business calendars in the catalogue: `[[calendar]]` entries that ticket policies name.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    pub id: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Working spans per weekday (`mon` … `sun`), local time, e.g. `["08:00-12:00", "13:00-17:00"]`.
    pub hours: BTreeMap<String, Vec<String>>,
    /// Local dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// An iCalendar file of holidays (all-day events), relative to the catalogue file.
    #[serde(default)]
    pub holidays_ics: Option<PathBuf>,
    /// Dates read from `holidays_ics` when the catalogue was loaded.
    #[serde(skip)]
    pub ics_dates: Vec<NaiveDate>,
}

impl CalendarConfig {
    /// Every holiday: the listed dates and those of the iCalendar file.
    pub fn holiday_dates(&self) -> BTreeSet<NaiveDate> {
        self.holidays
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .chain(self.ics_dates.iter().copied())
            .collect()
    }
}

/// Monday = 0 … Sunday = 6.
pub fn weekday_index(day: &str) -> Option<usize> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == day)
}

/// Parses `"08:00-12:30"` into seconds after midnight (`"24:00"` is allowed as an end).
pub fn parse_span(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let seconds = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 3600 + m * 60)
    };
    let (start, end) = (seconds(a)?, seconds(b)?);
    (start < end).then_some((start, end))
}

/// The all-day holiday dates of an iCalendar file: each VEVENT's `DTSTART`, through the day
/// before its `DTEND` when the event spans several days.
pub fn parse_ics_holidays(text: &str) -> Result<Vec<NaiveDate>, String> {
    // Unfold continuation lines (RFC 5545 3.1).
    let unfolded = text
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .replace("\n\t", "");
    let date_of = |line: &str| -> Option<NaiveDate> {
        let value = line.rsplit(':').next()?.trim();
        NaiveDate::parse_from_str(value.get(..8)?, "%Y%m%d").ok()
    };
    let mut dates = Vec::new();
    let (mut start, mut end) = (None, None);
    for (n, line) in unfolded.lines().enumerate() {
        let line = line.trim_end();
        if line == "BEGIN:VEVENT" {
            (start, end) = (None, None);
        } else if line.starts_with("DTSTART") {
            start =
                Some(date_of(line).ok_or_else(|| format!("line {}: bad DTSTART `{line}`", n + 1))?);
        } else if line.starts_with("DTEND") {
            end = Some(date_of(line).ok_or_else(|| format!("line {}: bad DTEND `{line}`", n + 1))?);
        } else if line == "END:VEVENT" {
            let first = start.ok_or_else(|| format!("line {}: an event without DTSTART", n + 1))?;
            let mut day = first;
            loop {
                dates.push(day);
                day = day.succ_opt().ok_or("date out of range")?;
                if end.is_none_or(|e| day >= e) {
                    break;
                }
            }
        }
    }
    Ok(dates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_with_midnight_as_an_end() {
        assert_eq!(
            parse_span("08:00-12:30"),
            Some((8 * 3600, 12 * 3600 + 1800))
        );
        assert_eq!(parse_span("20:00-24:00"), Some((20 * 3600, 86_400)));
        assert_eq!(parse_span("12:00-08:00"), None);
        assert_eq!(parse_span("8-12"), None);
    }

    #[test]
    fn ics_holidays_are_read_with_multi_day_events() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261227\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\nSUMMARY:New\r\n  Year\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let dates = parse_ics_holidays(ics).unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(dates, [d(2026, 12, 25), d(2026, 12, 26), d(2027, 1, 1)]);
        assert!(parse_ics_holidays("BEGIN:VEVENT\nDTSTART:soon\nEND:VEVENT\n").is_err());
    }
}
