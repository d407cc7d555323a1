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
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
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

    #[test]
    fn garbage_is_not_a_time() {
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
