//! Incidents and problems from the `ticket_events` history, one row per ticket.

use crate::model::{Micros, format_rfc3339};
use crate::sla::window::Interval;
use crate::store::{HistoryQuery, StoreError, column_as};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use std::collections::{HashMap, HashSet};

/// A ticket's summary over its events.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    pub ticket: String,
    pub service: String,
    pub ticket_type: String,
    /// Priority at creation.
    pub priority: String,
    pub component: Option<String>,
    pub created: Micros,
    /// A linked problem record, if any event named one.
    pub problem: Option<String>,
    /// The latest status.
    pub status: String,
}

const SQL: &str = "SELECT ticket, service, type, \
    first_value(priority ORDER BY time) AS priority, max(component) AS component, \
    min(time) AS created, max(problem) AS problem, last_value(status ORDER BY time) AS status \
    FROM ticket_events WHERE type IN ('incident', 'problem') \
    GROUP BY ticket, service, type ORDER BY created, ticket";

/// Every incident and problem in the history.
pub async fn incidents_and_problems(
    history: &HistoryQuery,
) -> Result<Vec<TicketRecord>, StoreError> {
    let batches = history.run_batches(SQL.to_string()).await?;
    let text = DataType::Utf8;
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut out = Vec::new();
    for batch in &batches {
        let columns: Vec<_> = [&text, &text, &text, &text, &text, &micros, &text, &text]
            .iter()
            .enumerate()
            .map(|(i, t)| column_as(batch, i, t))
            .collect::<Result<_, _>>()?;
        let s = |i: usize| columns[i].as_string::<i32>();
        let created = columns[5].as_primitive::<TimestampMicrosecondType>();
        let optional = |i: usize, row: usize| {
            let a = s(i);
            (!a.is_null(row)).then(|| a.value(row).to_string())
        };
        for row in 0..batch.num_rows() {
            out.push(TicketRecord {
                ticket: s(0).value(row).to_string(),
                service: s(1).value(row).to_string(),
                ticket_type: s(2).value(row).to_string(),
                priority: s(3).value(row).to_string(),
                component: optional(4, row),
                created: created.value(row),
                problem: optional(6, row),
                status: s(7).value(row).to_string(),
            });
        }
    }
    Ok(out)
}

/// The tickets created in `window` (their first event lies in it) over the whole history,
/// sorted: the population an audit sample of a month the live state has let go of is drawn
/// from. Reads two columns of `ticket_events`.
pub async fn tickets_created_in(
    history: &HistoryQuery,
    window: Interval,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "SELECT ticket FROM ticket_events GROUP BY ticket \
         HAVING min(time) >= TIMESTAMP '{}' AND min(time) < TIMESTAMP '{}' ORDER BY ticket",
        format_rfc3339(window.start),
        format_rfc3339(window.end)
    );
    let mut out = Vec::new();
    for batch in history.run_batches(sql).await? {
        let ids = column_as(&batch, 0, &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        out.extend((0..ids.len()).map(|i| ids.value(i).to_string()));
    }
    Ok(out)
}

/// The breach ids the `breaches` table holds for each of `tickets`, in the order they were
/// detected. The table is read whole (breaches are few) and filtered here, so no ticket id
/// ever becomes SQL text.
pub async fn recorded_breaches_of(
    history: &HistoryQuery,
    tickets: &HashSet<String>,
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let sql = "SELECT ticket, id, min(detected_at) AS detected_at FROM breaches \
        WHERE ticket IS NOT NULL GROUP BY ticket, id ORDER BY detected_at, id";
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for batch in history.run_batches(sql.to_string()).await? {
        let ticket = column_as(&batch, 0, &DataType::Utf8)?;
        let id = column_as(&batch, 1, &DataType::Utf8)?;
        let (ticket, id) = (ticket.as_string::<i32>(), id.as_string::<i32>());
        for row in 0..batch.num_rows() {
            if tickets.contains(ticket.value(row)) {
                out.entry(ticket.value(row).to_string())
                    .or_default()
                    .push(id.value(row).to_string());
            }
        }
    }
    Ok(out)
}

/// The problem candidates of the whole history under the configured rule.
pub async fn current_candidates(
    config: &crate::config::Config,
    history: &crate::store::HistoryQuery,
) -> Result<Vec<super::problems::Candidate>, crate::store::StoreError> {
    let incidents: Vec<_> = incidents_and_problems(history)
        .await?
        .iter()
        .filter_map(|t| t.incident())
        .collect();
    let a = &config.settings.alerts;
    Ok(super::problems::candidates(
        &incidents,
        a.problem_recurrence,
        crate::model::micros_of(a.problem_window),
    ))
}

impl TicketRecord {
    pub fn line(&self) -> super::service_review::TicketLine {
        super::service_review::TicketLine {
            ticket: self.ticket.clone(),
            ticket_type: self.ticket_type.clone(),
            priority: self.priority.clone(),
            created: format_rfc3339(self.created),
            problem: self.problem.clone(),
            status: self.status.clone(),
        }
    }

    pub fn incident(&self) -> Option<super::problems::IncidentRef> {
        (self.ticket_type == "incident").then(|| super::problems::IncidentRef {
            ticket: self.ticket.clone(),
            service: self.service.clone(),
            component: self.component.clone(),
            created: self.created,
            problem: self.problem.clone(),
        })
    }
}
