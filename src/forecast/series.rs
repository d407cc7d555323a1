//! Regular time series from irregular samples: one value per step, gaps filled explicitly and
//! counted, and the seasonal periods that suit the step.

use super::ForecastError;
use crate::model::{Micros, parse_rfc3339};

const HOUR: Micros = 3_600_000_000;
const DAY: Micros = 24 * HOUR;

/// A series with one value every `step`, starting at `start`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub start: Micros,
    pub step: Micros,
    pub values: Vec<f64>,
    /// Steps that had no sample and were filled by linear interpolation between neighbours.
    pub filled: usize,
    /// For monthly (1) and quarterly (3) data: the step in calendar months, which `step` (an
    /// average length) only approximates. `0` for fixed steps.
    pub months: u32,
}

/// Most of a series may not be invented: beyond this share of empty steps it is refused.
const MAX_FILLED_SHARE: f64 = 0.2;

impl Series {
    /// Buckets `(time, value)` samples into steps (mean per step; the samples may come in any
    /// order) and fills empty steps by linear interpolation. Refuses a series with more than
    /// 20 % of its steps empty: a forecast from mostly invented data is not one.
    pub fn regularize(samples: &[(Micros, f64)], step: Micros) -> Result<Series, ForecastError> {
        if step <= 0 {
            return Err(ForecastError::Input("the step must be positive".into()));
        }
        let finite: Vec<(Micros, f64)> = samples
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite())
            .collect();
        let (Some(first), Some(last)) = (
            finite.iter().map(|s| s.0).min(),
            finite.iter().map(|s| s.0).max(),
        ) else {
            return Err(ForecastError::Input("the series has no values".into()));
        };
        let start = first.div_euclid(step) * step;
        let len = ((last.div_euclid(step) * step - start) / step + 1) as usize;
        let mut sums = vec![(0.0, 0u32); len];
        for (t, v) in finite {
            let slot = &mut sums[((t.div_euclid(step) * step - start) / step) as usize];
            slot.0 += v;
            slot.1 += 1;
        }
        let known: Vec<Option<f64>> = sums
            .iter()
            .map(|&(sum, count)| (count > 0).then(|| sum / count as f64))
            .collect();
        let filled = known.iter().filter(|v| v.is_none()).count();
        if filled as f64 > MAX_FILLED_SHARE * len as f64 {
            return Err(ForecastError::Input(format!(
                "{filled} of {len} steps have no sample (more than {:.0} %): too sparse to forecast",
                MAX_FILLED_SHARE * 100.0
            )));
        }
        Ok(Series {
            start,
            step,
            values: interpolate(&known),
            filled,
            months: 0,
        })
    }

    /// A series from rows already sorted by time with the given typical `step`. Monthly and
    /// quarterly rows are taken one value per row (calendar months differ in length, so they
    /// cannot be bucketed by a fixed step); anything else is regularized.
    pub fn from_rows(rows: &[(Micros, f64)], step: Micros) -> Result<Series, ForecastError> {
        let months = match step {
            s if (28 * DAY..=31 * DAY).contains(&s) => 1,
            s if (89 * DAY..=92 * DAY).contains(&s) => 3,
            _ => return Series::regularize(rows, step),
        };
        if rows.iter().any(|r| !r.1.is_finite()) {
            return Err(ForecastError::Input(
                "the series has a non-numeric value".into(),
            ));
        }
        Ok(Series {
            start: rows[0].0,
            step,
            values: rows.iter().map(|r| r.1).collect(),
            filled: 0,
            months,
        })
    }

    /// The time of step `i` (may be beyond the end, for forecasts).
    pub fn time(&self, i: usize) -> Micros {
        if self.months == 0 {
            return self.start + i as Micros * self.step;
        }
        let start = chrono::DateTime::from_timestamp_micros(self.start).unwrap_or_default();
        start
            .checked_add_months(chrono::Months::new(self.months * i as u32))
            .map_or(Micros::MAX, |t| t.timestamp_micros())
    }

    pub fn end(&self) -> Micros {
        self.time(self.values.len())
    }
}

/// Fills `None` runs linearly between the known values either side (the first and last values
/// are always known).
fn interpolate(known: &[Option<f64>]) -> Vec<f64> {
    let mut out = Vec::with_capacity(known.len());
    let mut previous: Option<(usize, f64)> = None;
    for (i, value) in known.iter().enumerate() {
        if let Some(v) = value {
            if let Some((j, u)) = previous {
                for k in j + 1..i {
                    out.push(u + (v - u) * (k - j) as f64 / (i - j) as f64);
                }
            }
            out.push(*v);
            previous = Some((i, *v));
        }
    }
    out
}

/// The seasonal periods worth trying for a step: daily and weekly for hourly data, weekly for
/// daily data, yearly for monthly-ish data. Only periods with at least two full cycles in `len`
/// points are kept.
pub fn default_periods(step: Micros, len: usize) -> Vec<usize> {
    let candidates: &[usize] = match step {
        s if s == HOUR => &[24, 168],
        s if s == DAY => &[7],
        s if s == 7 * DAY => &[52],
        s if (28 * DAY..=31 * DAY).contains(&s) => &[12],
        s if (89 * DAY..=92 * DAY).contains(&s) => &[4],
        s if s > 0 && DAY % s == 0 => &[(DAY / s) as usize],
        _ => &[],
    };
    candidates
        .iter()
        .copied()
        .filter(|&p| p > 1 && 2 * p < len)
        .collect()
}

/// Parses a `time,value` CSV (a header row is allowed; times are RFC 3339 or `YYYY-MM-DD`).
/// The step is the most common gap between consecutive times; calendar months are recognised
/// as such and kept as one step each.
pub fn parse_csv(text: &str) -> Result<(Vec<(Micros, f64)>, Micros), ForecastError> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        let (Some(time), Some(value)) = (fields.next(), fields.next()) else {
            return Err(ForecastError::Input(format!(
                "line {}: expected `time,value`",
                number + 1
            )));
        };
        let (time, value) = (
            time.trim().trim_matches('"'),
            value.trim().trim_matches('"'),
        );
        let parsed_time = parse_rfc3339(time).or_else(|| {
            chrono::NaiveDate::parse_from_str(time, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp_micros())
        });
        let parsed_value = value.parse::<f64>().ok();
        match (parsed_time, parsed_value) {
            (Some(t), Some(v)) => rows.push((t, v)),
            _ if number == 0 && rows.is_empty() => continue, // the header
            _ => {
                return Err(ForecastError::Input(format!(
                    "line {}: cannot read `{line}` as an RFC 3339 time and a number",
                    number + 1
                )));
            }
        }
    }
    if rows.len() < 3 {
        return Err(ForecastError::Input(
            "the CSV needs at least 3 rows of `time,value`".into(),
        ));
    }
    rows.sort_by_key(|r| r.0);
    let mut gaps: Vec<Micros> = rows.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    let step = gaps[gaps.len() / 2];
    if step <= 0 {
        return Err(ForecastError::Input("times must differ".into()));
    }
    Ok((rows, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_interpolated_and_counted() {
        let mut samples = vec![(0, 1.0), (HOUR, 2.0), (HOUR + 10, 4.0), (4 * HOUR, 9.0)];
        samples.extend((5..10).map(|i| (i * HOUR, 10.0)));
        let s = Series::regularize(&samples, HOUR).unwrap();
        assert_eq!(s.values[..5], [1.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.filled, 2);
    }

    #[test]
    fn a_mostly_empty_series_is_refused() {
        let samples = [(0, 1.0), (10 * HOUR, 2.0)];
        let err = Series::regularize(&samples, HOUR).unwrap_err();
        assert!(err.to_string().contains("too sparse"), "{err}");
    }

    #[test]
    fn hourly_data_tries_daily_and_weekly_seasons() {
        assert_eq!(default_periods(HOUR, 720), vec![24, 168]);
        assert_eq!(default_periods(HOUR, 200), vec![24]);
        assert_eq!(default_periods(DAY, 60), vec![7]);
        assert_eq!(default_periods(31 * DAY, 144), vec![12]);
    }

    #[test]
    fn a_csv_with_header_and_dates_parses() {
        let (rows, step) =
            parse_csv("time,value\n2026-01-01,1\n2026-01-02,2.5\n2026-01-03,3\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].1, 2.5);
        assert_eq!(step, DAY);
        let err = parse_csv("time,value\n2026-01-01,1\nnope,2\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
