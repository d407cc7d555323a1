//! Reporting windows: `month:2026-11`, `quarter:2026-Q4`, `rolling:30d`, `range:START/END`, all
//! as half-open intervals `[start, end)` of UTC microseconds. Calendar windows start at local
//! midnight in the service's time zone (UTC unless the catalogue says otherwise).

use crate::config::SloWindow;
use crate::model::{MICROS_PER_SECOND, Micros, parse_rfc3339};
use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;

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
    "bad window `{text}`: {problem}; use month:YYYY-MM, quarter:YYYY-Qn, rolling:<N>d or range:<RFC 3339>/<RFC 3339>"
)]
pub struct WindowError {
    pub text: String,
    pub problem: &'static str,
}

/// Parses the API's `window` parameter in UTC. Rolling windows end at `now`.
pub fn parse_window(text: &str, now: Micros) -> Result<Interval, WindowError> {
    parse_window_in(text, now, Tz::UTC)
}

/// Parses the API's `window` parameter; calendar windows in time zone `tz`.
pub fn parse_window_in(text: &str, now: Micros, tz: Tz) -> Result<Interval, WindowError> {
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
        return calendar_month_in(year, month, tz).ok_or(err("no such month"));
    }
    if let Some(quarter) = text.strip_prefix("quarter:") {
        let (y, q) = quarter
            .split_once("-Q")
            .ok_or(err("the quarter is not YYYY-Qn"))?;
        let year: i32 = y.parse().map_err(|_| err("the year is not a number"))?;
        let q: u32 = q
            .parse()
            .ok()
            .filter(|q| (1..=4).contains(q))
            .ok_or(err("the quarter is not 1 to 4"))?;
        return calendar_quarter_in(year, q, tz).ok_or(err("no such quarter"));
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

/// Local midnight of `date` in `tz`, as UTC microseconds.
fn midnight(date: NaiveDate, tz: Tz) -> Option<Micros> {
    let local = date.and_hms_opt(0, 0, 0)?;
    // A zone that skips midnight (rare) starts the day at its first valid instant.
    let t = tz.from_local_datetime(&local).earliest().or_else(|| {
        tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
    })?;
    Some(t.timestamp_micros())
}

/// `[first of month, first of next month)` in `tz`.
pub fn calendar_month_in(year: i32, month: u32, tz: Tz) -> Option<Interval> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some(Interval {
        start: midnight(first, tz)?,
        end: midnight(next, tz)?,
    })
}

/// The calendar month in UTC.
pub fn calendar_month(year: i32, month: u32) -> Option<Interval> {
    calendar_month_in(year, month, Tz::UTC)
}

/// Quarter `q` (1 to 4) of `year` in `tz`.
pub fn calendar_quarter_in(year: i32, q: u32, tz: Tz) -> Option<Interval> {
    let first = calendar_month_in(year, 3 * q - 2, tz)?;
    let last = calendar_month_in(year, 3 * q, tz)?;
    Some(Interval {
        start: first.start,
        end: last.end,
    })
}

fn local_date(t: Micros, tz: Tz) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(t)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// The calendar month (in `tz`) that contains `t`.
pub fn month_containing_in(t: Micros, tz: Tz) -> Interval {
    let date = local_date(t, tz);
    calendar_month_in(date.year(), date.month(), tz).unwrap_or(Interval { start: t, end: t })
}

/// The calendar month (UTC) that contains `t`.
pub fn month_containing(t: Micros) -> Interval {
    month_containing_in(t, Tz::UTC)
}

/// The instance of an SLO window that contains `now`, with a label that names it; calendar
/// windows in the service's time zone.
pub fn slo_window_at(window: SloWindow, now: Micros, tz: Tz) -> (Interval, String) {
    let date = local_date(now, tz);
    match window {
        SloWindow::CalendarMonth => (
            month_containing_in(now, tz),
            format!("month:{}", date.format("%Y-%m")),
        ),
        SloWindow::CalendarQuarter => {
            let q = (date.month() - 1) / 3 + 1;
            let interval = calendar_quarter_in(date.year(), q, tz).unwrap_or(Interval {
                start: now,
                end: now,
            });
            (interval, format!("quarter:{}-Q{q}", date.year()))
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
    fn calendar_windows_follow_the_service_time_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        let m = parse_window_in("month:2026-11", 0, berlin).unwrap();
        assert_eq!(m.start, parse_rfc3339("2026-10-31T23:00:00Z").unwrap());
        assert_eq!(m.end, parse_rfc3339("2026-11-30T23:00:00Z").unwrap());
        // October has 31 days and one more hour (the clocks go back on the 25th).
        let o = parse_window_in("month:2026-10", 0, berlin).unwrap();
        assert_eq!(o.seconds(), 31 * 86_400 + 3_600);
        let q = parse_window_in("quarter:2026-Q4", 0, Tz::UTC).unwrap();
        assert_eq!(
            (q.start, q.end),
            (
                parse_rfc3339("2026-10-01T00:00:00Z").unwrap(),
                parse_rfc3339("2027-01-01T00:00:00Z").unwrap()
            )
        );
        let (interval, label) = slo_window_at(
            SloWindow::CalendarQuarter,
            parse_rfc3339("2026-11-14T02:00:00Z").unwrap(),
            Tz::UTC,
        );
        assert_eq!((interval, label.as_str()), (q, "quarter:2026-Q4"));
    }

    #[test]
    fn bad_windows_are_rejected() {
        for text in [
            "month:2026-13",
            "rolling:0d",
            "rolling:30",
            "range:2026-11-02T00:00:00Z/2026-11-01T00:00:00Z",
            "quarter:2026-Q5",
            "week:1",
        ] {
            assert!(parse_window(text, 0).is_err(), "{text}");
        }
    }
}
