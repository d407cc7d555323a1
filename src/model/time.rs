//! Event time as integer microseconds since the Unix epoch (UTC).
//!
//! Integers keep the hot path free of calendar arithmetic and map one-to-one onto Arrow's
//! `Timestamp(Microsecond, "UTC")`, which is what the Parquet history stores.

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// A configured duration in microseconds (saturating: "forever" stays far in the future).
pub fn micros_of(d: std::time::Duration) -> Micros {
    d.as_micros().min(Micros::MAX as u128) as Micros
}

/// Parses an RFC 3339 timestamp with any offset into UTC microseconds.
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    // Every event carries a time: the common spelling is read directly, the rest by chrono.
    parse_common_rfc3339(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` with a year from 1900 and no leap second, or
/// `None` (then chrono decides). Gives what chrono gives for the same text: sub-microsecond
/// digits are truncated.
fn parse_common_rfc3339(b: &[u8]) -> Option<Micros> {
    fn digits(b: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
        b.get(range)?.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (year, month, day) = (digits(b, 0..4)?, digits(b, 5..7)?, digits(b, 8..10)?);
    let (hour, minute, second) = (digits(b, 11..13)?, digits(b, 14..16)?, digits(b, 17..19)?);
    if year < 1900 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0;
    if b.get(at) == Some(&b'.') {
        let count = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if count == 0 || count > 9 {
            return None;
        }
        let fraction = digits(b, at + 1..at + 1 + count)?;
        micros = if count <= 6 {
            fraction * 10i64.pow(6 - count as u32)
        } else {
            fraction / 10i64.pow(count as u32 - 6)
        };
        at += 1 + count;
    }
    let offset_seconds = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2], 0..2)?;
            let minutes = digits(&[*m1, *m2], 0..2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * MICROS_PER_SECOND + micros)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Formats UTC microseconds as RFC 3339 (`2026-11-02T10:00:00Z`), with sub-seconds only when
/// present.
pub fn format_rfc3339(micros: Micros) -> String {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalised_to_utc() {
        let a = parse_rfc3339("2026-11-02T11:00:00+01:00").unwrap();
        let b = parse_rfc3339("2026-11-02T10:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_rfc3339(a), "2026-11-02T10:00:00Z");
    }

    fn by_chrono(text: &str) -> Option<Micros> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
    }

    #[test]
    fn the_common_spelling_reads_as_chrono_reads_it() {
        for text in [
            "2026-11-02T10:00:17Z",
            "2026-11-02T10:00:17.5Z",
            "2026-11-02T10:00:17.123456789+05:30",
            "2024-02-29T23:59:59.000001-11:45",
            "1969-12-31T23:59:59.9Z",
            "2000-03-01T00:00:00+00:00",
        ] {
            assert_eq!(
                parse_common_rfc3339(text.as_bytes()),
                by_chrono(text),
                "{text}"
            );
            assert!(parse_common_rfc3339(text.as_bytes()).is_some(), "{text}");
        }
        for other in [
            "2026-11-02t10:00:17z",
            "2026-11-02 10:00:17Z",
            "2016-12-31T23:59:60Z",
            "2025-02-29T10:00:00Z",
            "2026-11-02T10:00:17.Z",
            "2026-11-02T10:00:17",
        ] {
            assert_eq!(parse_common_rfc3339(other.as_bytes()), None, "{other}");
            assert_eq!(parse_rfc3339(other), by_chrono(other), "{other}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_time_reads_as_chrono_reads_it(
            year in 1890i64..2200, month in 0i64..14, day in 0i64..33, hour in 0i64..25,
            minute in 0i64..61, second in 0i64..61, fraction in proptest::option::of("[0-9]{0,11}"),
            offset in proptest::option::of((proptest::bool::ANY, 0i64..25, 0i64..61)),
        ) {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            let offset = offset.map_or("Z".to_string(), |(minus, h, m)| {
                format!("{}{h:02}:{m:02}", if minus { '-' } else { '+' })
            });
            let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}");
            proptest::prop_assert_eq!(parse_rfc3339(&text), by_chrono(&text), "{}", text);
        }

        #[test]
        fn arbitrary_text_reads_as_chrono_reads_it(text in "[0-9TZ:.+ -]{0,32}") {
            proptest::prop_assert_eq!(parse_rfc3339(&text), by_chrono(&text));
        }
    }

    #[test]
    fn garbage_is_not_a_time() {
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
