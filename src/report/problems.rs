//! Problem candidates: incidents that keep recurring on one service or component with no
//! problem record linked. ISO/IEC 20000-1 (8.6.3) separates finding the underlying problem from
//! restoring service; this is the trigger for it.

use crate::model::{Micros, format_rfc3339};
use serde::Serialize;
use std::collections::BTreeMap;

/// An incident as the candidates need it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRef {
    pub ticket: String,
    pub service: String,
    pub component: Option<String>,
    pub created: Micros,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Stable: the alert id of the candidate.
    pub id: String,
    pub service: String,
    /// `null`: incidents on the service with no component named.
    pub component: Option<String>,
    pub incidents: Vec<String>,
    pub first: String,
    pub last: String,
}

/// Every run of at least `count` unlinked incidents on one service/component within `window`
/// of each other. Runs do not overlap: after a run, counting starts again.
pub fn candidates(incidents: &[IncidentRef], count: usize, window: Micros) -> Vec<Candidate> {
    let mut groups: BTreeMap<(&str, Option<&str>), Vec<&IncidentRef>> = BTreeMap::new();
    for i in incidents.iter().filter(|i| i.problem.is_none()) {
        groups
            .entry((i.service.as_str(), i.component.as_deref()))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for ((service, component), mut list) in groups {
        list.sort_by(|a, b| (a.created, &a.ticket).cmp(&(b.created, &b.ticket)));
        let mut start = 0;
        while start < list.len() {
            let end = list[start..]
                .iter()
                .take_while(|i| i.created - list[start].created <= window)
                .count()
                + start;
            if end - start >= count.max(1) {
                let run = &list[start..end];
                out.push(Candidate {
                    id: format!(
                        "problem-candidate:{service}:{}:{}",
                        component.unwrap_or("-"),
                        run[0].ticket
                    ),
                    service: service.to_string(),
                    component: component.map(String::from),
                    incidents: run.iter().map(|i| i.ticket.clone()).collect(),
                    first: format_rfc3339(run[0].created),
                    last: format_rfc3339(run[run.len() - 1].created),
                });
                start = end;
            } else {
                start += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Micros = 86_400_000_000;

    fn incident(ticket: &str, component: &str, day: i64, problem: Option<&str>) -> IncidentRef {
        IncidentRef {
            ticket: ticket.into(),
            service: "payments".into(),
            component: Some(component.into()),
            created: day * DAY,
            problem: problem.map(String::from),
        }
    }

    #[test]
    fn three_unlinked_incidents_in_a_week_make_one_candidate() {
        let list = [
            incident("INC-1", "db", 0, None),
            incident("INC-2", "db", 2, None),
            incident("INC-3", "db", 6, None),
            incident("INC-4", "db", 20, None), // too late for the run
            incident("INC-5", "api", 1, None), // another component
            incident("INC-6", "api", 2, Some("PRB-1")), // linked: not counted
            incident("INC-7", "api", 3, None),
        ];
        let found = candidates(&list, 3, 7 * DAY);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].incidents, ["INC-1", "INC-2", "INC-3"]);
        assert_eq!(found[0].id, "problem-candidate:payments:db:INC-1");
    }
}
