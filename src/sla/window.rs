//! Reporting windows: `month:2026-11`, `rolling:30d`, `range:START/END`, all as half-open
//! intervals `[start, end)` of UTC microseconds.

use crate::config::SloWindow;
use crate::model::{MICROS_PER_SECOND, Micros, parse_rfc3339};
use chrono::{Datelike, NaiveDate, TimeZone, Utc};

pub const DAY: Micros = 86_400 * MICROS_PER_SECOND;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: Micros,
    pub end: Micros,
}

impl Interval {
    pub fn seconds(&self) -> i64 {
        (self.end - self.start) / MICROS_PER_SECOND
    }

    pub fn contains(&self, t: Micros) -> bool {
        self.start <= t && t < self.end
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad window `{text}`: {problem}; use month:YYYY-MM, rolling:<N>d or range:<RFC 3339>/<RFC 3339>"
)]
pub struct WindowError {
    pub text: String,
    pub problem: &'static str,
}

/// Parses the API's `window` parameter. Rolling windows end at `now`.
pub fn parse_window(text: &str, now: Micros) -> Result<Interval, WindowError> {
    let err = |problem| WindowError {
        text: text.to_string(),
        problem,
    };
    if let Some(month) = text.strip_prefix("month:") {
        let (y, m) = month
            .split_once('-')
            .ok_or(err("the month is not YYYY-MM"))?;
        let year: i32 = y.parse().map_err(|_| err("the year is not a number"))?;
        let month: u32 = m.parse().map_err(|_| err("the month is not a number"))?;
        return calendar_month(year, month).ok_or(err("no such month"));
    }
    if let Some(days) = text.strip_prefix("rolling:") {
        let n: i64 = days
            .strip_suffix('d')
            .and_then(|d| d.parse().ok())
            .filter(|n| (1..=400).contains(n))
            .ok_or(err("the rolling length must be 1d to 400d"))?;
        return Ok(Interval {
            start: now - n * DAY,
            end: now,
        });
    }
    if let Some(range) = text.strip_prefix("range:") {
        let (a, b) = range.split_once('/').ok_or(err("a range is START/END"))?;
        let start = parse_rfc3339(a).ok_or(err("the range start is not RFC 3339"))?;
        let end = parse_rfc3339(b).ok_or(err("the range end is not RFC 3339"))?;
        if end <= start {
            return Err(err("the range ends before it starts"));
        }
        return Ok(Interval { start, end });
    }
    Err(err("unknown window kind"))
}

/// The calendar month `[first day 00:00, next month's first day 00:00)` in UTC.
pub fn calendar_month(year: i32, month: u32) -> Option<Interval> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let at = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .timestamp_micros()
    };
    Some(Interval {
        start: at(first),
        end: at(next),
    })
}

/// The calendar month that contains `t`.
pub fn month_containing(t: Micros) -> Interval {
    let date = chrono::DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .date_naive();
    calendar_month(date.year(), date.month()).unwrap_or(Interval { start: t, end: t })
}

/// The instance of an SLO window that contains `now`, with a label that names it.
pub fn slo_window_at(window: SloWindow, now: Micros) -> (Interval, String) {
    match window {
        SloWindow::CalendarMonth => {
            let month = month_containing(now);
            let date =
                chrono::DateTime::<Utc>::from_timestamp_micros(month.start).unwrap_or_default();
            (month, format!("month:{}", date.format("%Y-%m")))
        }
        SloWindow::RollingDays(n) => (
            Interval {
                start: now - i64::from(n) * DAY,
                end: now,
            },
            format!("rolling:{n}d"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn november_has_thirty_days() {
        let w = parse_window("month:2026-11", 0).unwrap();
        assert_eq!(w.seconds(), 30 * 86_400);
        assert_eq!(w.start, parse_rfc3339("2026-11-01T00:00:00Z").unwrap());
    }

    #[test]
    fn december_rolls_into_next_year() {
        let w = calendar_month(2026, 12).unwrap();
        assert_eq!(w.end, parse_rfc3339("2027-01-01T00:00:00Z").unwrap());
    }

    #[test]
    fn rolling_window_ends_now() {
        let now = parse_rfc3339("2026-11-27T12:00:00Z").unwrap();
        let w = parse_window("rolling:30d", now).unwrap();
        assert_eq!((w.start, w.end), (now - 30 * DAY, now));
    }

    #[test]
    fn bad_windows_are_rejected() {
        for text in [
            "month:2026-13",
            "rolling:0d",
            "rolling:30",
            "range:2026-11-02T00:00:00Z/2026-11-01T00:00:00Z",
            "week:1",
        ] {
            assert!(parse_window(text, 0).is_err(), "{text}");
        }
    }
}
