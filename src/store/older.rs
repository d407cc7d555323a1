//! Reads the history's rows before the live SLA state (see [`crate::sla::older`]): closed
//! slices from `availability_slices` and decided clocks from `ticket_sla_outcomes`, for one
//! service (or all) and one span, through the same DataFusion session as the named reports.
//! Filters on the `date` partition column keep the scan to the days asked for.

use super::query::{HistoryQuery, column_as};
use super::tables::date_label;
use super::{HistoryStore, StoreError};
use crate::model::{Micros, format_rfc3339};
use crate::sla::older::{OlderFindings, OlderOutcome, OlderSlice};
use crate::sla::window::Interval;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use std::collections::HashMap;

const MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);
const DAY: Micros = 86_400_000_000;

/// The slices of `service` that start in `span` (and the day before it, for a slice that
/// straddles its start) and its outcomes decided in `span`.
pub async fn older_findings(
    history: &HistoryQuery,
    service: &str,
    span: Interval,
) -> Result<OlderFindings, StoreError> {
    Ok(rows(history, Some(service), span)
        .await?
        .remove(service)
        .unwrap_or_default())
}

/// [`older_findings`] for each `(service, span)`, keyed by service.
pub async fn older_findings_for(
    history: &HistoryQuery,
    needed: &[(String, Interval)],
) -> Result<HashMap<String, OlderFindings>, StoreError> {
    let mut out = HashMap::new();
    for (service, span) in needed {
        out.insert(
            service.clone(),
            older_findings(history, service, *span).await?,
        );
    }
    Ok(out)
}

/// The rows of every service in `span`, keyed by service, from a blocking caller (a late
/// event's correction compares them with the corrected ones).
pub fn all_findings_blocking(
    store: &HistoryStore,
    span: Interval,
) -> Result<HashMap<String, OlderFindings>, StoreError> {
    let history = HistoryQuery::new(store)?;
    super::history::block_on(async move { rows(&history, None, span).await })
}

async fn rows(
    history: &HistoryQuery,
    service: Option<&str>,
    span: Interval,
) -> Result<HashMap<String, OlderFindings>, StoreError> {
    let from = span.start - DAY;
    let mut filter = format!(
        "date >= '{}' AND date <= '{}'",
        date_label(from.div_euclid(DAY)),
        date_label(span.end.div_euclid(DAY)),
    );
    if let Some(service) = service {
        filter += &format!(" AND service = '{}'", service.replace('\'', "''"));
    }
    let (from, start, to) = (
        format_rfc3339(from),
        format_rfc3339(span.start),
        format_rfc3339(span.end),
    );
    let slices = history
        .run_batches(format!(
            "SELECT service, slo, slice_start, good, total FROM availability_slices \
             WHERE {filter} AND slice_start >= TIMESTAMP '{from}' AND slice_start < TIMESTAMP '{to}'"
        ))
        .await?;
    let outcomes = history
        .run_batches(format!(
            "SELECT service, ticket, type, priority, metric, outcome, decided_at \
             FROM ticket_sla_outcomes \
             WHERE {filter} AND decided_at >= TIMESTAMP '{start}' AND decided_at < TIMESTAMP '{to}'"
        ))
        .await?;
    let mut out: HashMap<String, OlderFindings> = HashMap::new();
    for batch in &slices {
        let text = |c| column_as(batch, c, &DataType::Utf8);
        let (service, slo) = (text(0)?, text(1)?);
        let start = column_as(batch, 2, &MICROS)?;
        let good = column_as(batch, 3, &DataType::Float64)?;
        let total = column_as(batch, 4, &DataType::Float64)?;
        let start = start.as_primitive::<TimestampMicrosecondType>();
        let good = good.as_primitive::<Float64Type>();
        let total = total.as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            let service = service.as_string::<i32>().value(i);
            out.entry(service.to_string())
                .or_default()
                .slices
                .push(OlderSlice {
                    slo: slo.as_string::<i32>().value(i).to_string(),
                    start: start.value(i),
                    good: good.value(i),
                    total: total.value(i),
                });
        }
    }
    for batch in &outcomes {
        let text = |c| column_as(batch, c, &DataType::Utf8);
        let (service, ticket, kind) = (text(0)?, text(1)?, text(2)?);
        let (priority, metric, outcome) = (text(3)?, text(4)?, text(5)?);
        let decided = column_as(batch, 6, &MICROS)?;
        let decided = decided.as_primitive::<TimestampMicrosecondType>();
        let value = |a: &arrow::array::ArrayRef, i| a.as_string::<i32>().value(i).to_string();
        for i in 0..batch.num_rows() {
            if decided.is_null(i) {
                continue;
            }
            out.entry(value(&service, i))
                .or_default()
                .outcomes
                .push(OlderOutcome {
                    ticket: value(&ticket, i),
                    ticket_type: value(&kind, i),
                    priority: value(&priority, i),
                    metric: value(&metric, i),
                    met: value(&outcome, i) == "met",
                    decided_at: decided.value(i),
                });
        }
    }
    Ok(out)
}
