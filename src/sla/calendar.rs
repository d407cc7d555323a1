//! Business calendars: which instants count as working time for a ticket clock.
//!
//! A calendar has a time zone (IANA name), weekly working hours (several spans a day, in local
//! time) and holidays (local dates). Local spans are turned into UTC instants day by day, so
//! daylight-saving changes shift them as the wall clock does: a span that starts in the hour
//! skipped in spring starts at the first valid local instant after it, and in the repeated
//! autumn hour the earlier instant is used for a start and the later one for an end.

use crate::config::CalendarConfig;
use crate::model::Micros;
use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// Longest search when adding working time: a calendar with hours finds them within a year.
const SEARCH_DAYS: i64 = 3_700;

#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// 24x7: every instant counts (the default when a policy names no calendar).
    always: bool,
    tz: Tz,
    /// Working spans per weekday (Monday first), seconds after local midnight, sorted.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// The 24x7 calendar.
    pub fn always() -> Calendar {
        Calendar {
            always: true,
            tz: Tz::UTC,
            week: Default::default(),
            holidays: BTreeSet::new(),
        }
    }

    /// A business calendar. `week[0]` is Monday; spans are `(start, end)` seconds after local
    /// midnight with `start < end <= 86_400`.
    pub fn business(tz: Tz, week: [Vec<(u32, u32)>; 7], holidays: BTreeSet<NaiveDate>) -> Calendar {
        let mut week = week;
        for day in &mut week {
            day.sort_unstable();
        }
        Calendar {
            always: false,
            tz,
            week,
            holidays,
        }
    }

    pub fn is_always(&self) -> bool {
        self.always
    }

    /// The calendar a catalogue entry describes (validated when the catalogue was loaded).
    pub fn from_config(config: &CalendarConfig) -> Calendar {
        let tz: Tz = config.time_zone.parse().unwrap_or(Tz::UTC);
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, spans) in &config.hours {
            if let Some(index) = crate::config::weekday_index(day) {
                week[index] = spans
                    .iter()
                    .filter_map(|s| crate::config::parse_span(s))
                    .collect();
            }
        }
        Calendar::business(tz, week, config.holiday_dates())
    }

    /// The working spans of one local date, as UTC instants.
    fn spans_of(&self, date: NaiveDate) -> Vec<(Micros, Micros)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let weekday = date.weekday().num_days_from_monday() as usize;
        self.week[weekday]
            .iter()
            .filter_map(|&(start, end)| {
                let from = self.instant(date, start, true)?;
                let to = self.instant(date, end, false)?;
                (from < to).then_some((from, to))
            })
            .collect()
    }

    /// UTC instant of a local date and second of day (86 400 = next midnight).
    fn instant(&self, date: NaiveDate, second: u32, is_start: bool) -> Option<Micros> {
        let (date, second) = if second >= 86_400 {
            (date.succ_opt()?, second - 86_400)
        } else {
            (date, second)
        };
        let local = NaiveDateTime::new(
            date,
            NaiveTime::from_num_seconds_from_midnight_opt(second, 0)?,
        );
        let resolved = match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(early, late) => {
                if is_start {
                    early
                } else {
                    late
                }
            }
            // In the skipped hour: the wall clock jumps forward, so does the span edge.
            LocalResult::None => (1..=4).find_map(|h| {
                self.tz
                    .from_local_datetime(&(local + Duration::hours(h)))
                    .earliest()
            })?,
        };
        Some(resolved.timestamp_micros())
    }

    fn local_date(&self, t: Micros) -> NaiveDate {
        let utc = chrono::DateTime::from_timestamp_micros(t).unwrap_or_default();
        utc.with_timezone(&self.tz).date_naive()
    }

    /// Working time in `[from, to)`.
    pub fn working_between(&self, from: Micros, to: Micros) -> Micros {
        if to <= from {
            return 0;
        }
        if self.always {
            return to - from;
        }
        let mut total = 0;
        // One day earlier: a span of the previous local date may reach past midnight.
        let mut date = self.local_date(from).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(to);
        while date <= last {
            for (a, b) in self.spans_of(date) {
                total += (b.min(to) - a.max(from)).max(0);
            }
            date = match date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        total
    }

    /// The instant at which `amount` of working time after `from` has elapsed (`from` itself when
    /// `amount` is zero): when a counted time *reaches* a mark (warnings). `None` if the calendar
    /// has no working time within ten years.
    pub fn add_working(&self, from: Micros, amount: Micros) -> Option<Micros> {
        if self.always || amount <= 0 {
            return Some(from + amount.max(0));
        }
        self.walk(from, amount, false)
    }

    /// The instant from which the working time after `from` exceeds `amount`: when a counted
    /// time *passes* a mark (breaches). It differs from [`Calendar::add_working`] when the
    /// mark is reached exactly at the end of a working span: the time passes the mark only
    /// when counting resumes (after lunch, on Monday morning, after a holiday).
    pub fn instant_past(&self, from: Micros, amount: Micros) -> Option<Micros> {
        if self.always {
            return Some(from + amount.max(0));
        }
        self.walk(from, amount.max(0), true)
    }

    /// Walks the working spans from `from` until `amount` is used up: to the instant it is
    /// reached (`past` false) or to the next instant counting goes on beyond it (`past` true).
    fn walk(&self, from: Micros, amount: Micros, past: bool) -> Option<Micros> {
        let mut left = amount;
        let mut date = self.local_date(from).pred_opt()?;
        for _ in 0..SEARCH_DAYS {
            for (a, b) in self.spans_of(date) {
                let start = a.max(from);
                if b <= start {
                    continue;
                }
                let fits = if past {
                    b - start > left
                } else {
                    b - start >= left
                };
                if fits {
                    return Some(start + left);
                }
                left -= b - start;
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// Monday to Friday 08:00–12:00 and 13:00–`close`:00 in Berlin, with one holiday (tests).
#[cfg(test)]
pub(crate) fn test_office(close: u32, holiday: NaiveDate) -> Calendar {
    let day = vec![(8 * 3600, 12 * 3600), (13 * 3600, close * 3600)];
    let week = [
        day.clone(),
        day.clone(),
        day.clone(),
        day.clone(),
        day,
        vec![],
        vec![],
    ];
    Calendar::business(
        chrono_tz::Europe::Berlin,
        week,
        [holiday].into_iter().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_rfc3339;

    const HOUR: Micros = 3_600 * crate::model::MICROS_PER_SECOND;

    fn t(text: &str) -> Micros {
        parse_rfc3339(text).unwrap()
    }

    /// Monday to Friday 08:00–12:00 and 13:00–17:00 in Berlin; 2026-12-25 a holiday.
    fn office() -> Calendar {
        test_office(17, NaiveDate::from_ymd_opt(2026, 12, 25).unwrap())
    }

    #[test]
    fn only_working_hours_count() {
        // Friday 2026-11-27 16:00 CET to Monday 10:00 CET: 1h Friday + 2h Monday.
        let c = office();
        assert_eq!(
            c.working_between(t("2026-11-27T15:00:00Z"), t("2026-11-30T09:00:00Z")),
            3 * HOUR
        );
        // The lunch break does not count.
        assert_eq!(
            c.working_between(t("2026-11-30T10:00:00Z"), t("2026-11-30T13:00:00Z")),
            2 * HOUR
        );
    }

    #[test]
    fn an_eight_hour_target_spans_the_night() {
        // Raised Monday 15:00 CET: 2h Monday, 6h Tuesday → Tuesday 15:00 CET (14:00 UTC).
        let c = office();
        assert_eq!(
            c.add_working(t("2026-11-30T14:00:00Z"), 8 * HOUR),
            Some(t("2026-12-01T14:00:00Z"))
        );
    }

    #[test]
    fn three_days_means_seventy_two_working_hours() {
        // 72 working hours at 8 a day are 9 working days: from Monday 2026-11-30 08:00 CET to
        // the end of Thursday 2026-12-10.
        let c = office();
        let start = t("2026-11-30T07:00:00Z");
        assert_eq!(
            c.add_working(start, 72 * HOUR),
            Some(t("2026-12-10T16:00:00Z"))
        );
    }

    #[test]
    fn holidays_do_not_count() {
        let c = office();
        // Thursday 24th 16:00 CET + 2h → Monday 28th 09:00 CET (Friday 25th is a holiday).
        assert_eq!(
            c.add_working(t("2026-12-24T15:00:00Z"), 2 * HOUR),
            Some(t("2026-12-28T08:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_moves_the_utc_hours() {
        let c = office();
        // 2026-03-27 is a Friday in CET (UTC+1); 2026-03-30 a Monday in CEST (UTC+2).
        assert_eq!(
            c.working_between(t("2026-03-27T07:00:00Z"), t("2026-03-27T08:00:00Z")),
            HOUR
        );
        assert_eq!(
            c.working_between(t("2026-03-30T06:00:00Z"), t("2026-03-30T07:00:00Z")),
            HOUR
        );
        assert_eq!(
            c.working_between(t("2026-03-30T05:00:00Z"), t("2026-03-30T06:00:00Z")),
            0
        );
    }

    #[test]
    fn twenty_four_seven_counts_everything() {
        let c = Calendar::always();
        assert_eq!(c.working_between(0, 5 * HOUR), 5 * HOUR);
        assert_eq!(c.add_working(10, HOUR), Some(10 + HOUR));
    }
}
