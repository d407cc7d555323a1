//! Series from the Parquet history, aggregated by DataFusion: component metrics per step, and
//! ticket arrivals per service, priority and day.

use crate::config::Component;
use crate::forecast::document::SeriesKey;
use crate::forecast::{ForecastError, Series};
use crate::model::{Micros, format_rfc3339};
use crate::store::{HistoryQuery, StoreError, column_as};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use std::collections::BTreeMap;

const DAY: Micros = 86_400_000_000;

/// Quotes a string literal for SQL (catalogue ids are validated, but quote anyway).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A component's resource metric, one value per `series_step` since `since`.
pub async fn component_series(
    history: &HistoryQuery,
    service: &str,
    component: &Component,
    since: Micros,
) -> Result<Option<Series>, SourceError> {
    let step = component.series_step.as_micros() as Micros;
    let sql = format!(
        "SELECT date_bin(INTERVAL '{} seconds', time, TIMESTAMP '1970-01-01T00:00:00Z') AS step, \
         {}(value) AS value FROM metrics \
         WHERE service = {} AND component = {} AND metric = {} AND time >= TIMESTAMP '{}' \
         GROUP BY 1 ORDER BY 1",
        step / 1_000_000,
        component.aggregate.sql(),
        literal(service),
        literal(&component.id),
        literal(&component.resource),
        format_rfc3339(since),
    );
    let samples = pairs(&history.run_batches(sql).await?)?;
    if samples.is_empty() {
        return Ok(None);
    }
    Ok(Some(Series::regularize(&samples, step)?))
}

/// Daily ticket arrivals (a ticket arrives at its first event) per service and priority since
/// `since`, up to the last day with any ticket event. Days without arrivals are zeros, not gaps.
pub async fn arrival_series(
    history: &HistoryQuery,
    since: Micros,
) -> Result<BTreeMap<SeriesKey, Series>, SourceError> {
    let sql = format!(
        "WITH first_events AS ( \
           SELECT service, priority, time, \
                  row_number() OVER (PARTITION BY ticket ORDER BY time) AS n \
           FROM ticket_events WHERE time >= TIMESTAMP '{}') \
         SELECT service, priority, date_trunc('day', time) AS day, count(*) AS arrivals \
         FROM first_events WHERE n = 1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        format_rfc3339(since)
    );
    let batches = history.run_batches(sql).await?;
    let mut counts: BTreeMap<(String, String), Vec<(Micros, f64)>> = BTreeMap::new();
    let (mut first, mut last) = (Micros::MAX, Micros::MIN);
    for batch in &batches {
        let service = column_as(batch, 0, &DataType::Utf8)?;
        let priority = column_as(batch, 1, &DataType::Utf8)?;
        let day = column_as(batch, 2, &MICROS)?;
        let count = column_as(batch, 3, &DataType::Int64)?;
        let service = service.as_string::<i32>();
        let priority = priority.as_string::<i32>();
        let day = day.as_primitive::<TimestampMicrosecondType>();
        let count = count.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            first = first.min(day.value(i));
            last = last.max(day.value(i));
            counts
                .entry((service.value(i).to_string(), priority.value(i).to_string()))
                .or_default()
                .push((day.value(i), count.value(i) as f64));
        }
    }
    let mut out = BTreeMap::new();
    for ((service, priority), rows) in counts {
        let len = ((last - first) / DAY + 1) as usize;
        let mut values = vec![0.0; len];
        for (day, count) in rows {
            values[((day - first) / DAY) as usize] = count;
        }
        let key = SeriesKey {
            service: Some(service),
            component: None,
            metric: Some(format!("ticket_arrivals.{priority}")),
        };
        out.insert(
            key,
            Series {
                start: first,
                step: DAY,
                values,
                filled: 0,
                months: 0,
            },
        );
    }
    Ok(out)
}

const MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// `(time, value)` from the first two columns of a query result.
fn pairs(batches: &[RecordBatch]) -> Result<Vec<(Micros, f64)>, StoreError> {
    let mut out = Vec::new();
    for batch in batches {
        let time = column_as(batch, 0, &MICROS)?;
        let value = column_as(batch, 1, &DataType::Float64)?;
        let time = time.as_primitive::<TimestampMicrosecondType>();
        let value = value.as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            if !time.is_null(i) && !value.is_null(i) {
                out.push((time.value(i), value.value(i)));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Series(#[from] ForecastError),
}
