//! Overdue reviews: a breach that has not been reviewed (status `reviewed` or `closed`) within
//! `alerts.review_due` of when it happened raises one `review_overdue` alert (see
//! [`super::periodic`]). The ids already raised are kept in `<data_dir>/reviews/overdue.log`.

use super::register::{Register, ReviewStatus};
use crate::model::{Micros, format_rfc3339};
use crate::sla::Breach;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The alert id of a breach's overdue review.
pub fn alert_id(breach: &str) -> String {
    format!("review-overdue:{breach}")
}

/// The overdue-review alerts due at `now`: `(id, payload)` for each breach past its due time
/// and not yet reviewed, skipping those in `raised`.
pub fn due_alerts(
    breaches: &[Breach],
    register: &Register,
    raised: &HashSet<String>,
    due_within: Micros,
    now: Micros,
) -> Vec<(String, String)> {
    breaches
        .iter()
        .filter(|b| b.detected_at + due_within <= now)
        .filter(|b| register.status(&b.id) < ReviewStatus::Reviewed)
        .filter(|b| !raised.contains(&alert_id(&b.id)))
        .map(|b| {
            let due_by = format_rfc3339(b.detected_at + due_within);
            let status = register.status(&b.id);
            let payload = serde_json::json!({
                "kind": "review_overdue",
                "breach": b,
                "review_status": status.as_str(),
                "due_by": due_by,
                "summary": format!(
                    "{}: breach {} has not been reviewed (status {}); the review was due by {}",
                    b.service, b.id, status.as_str(), due_by
                ),
            });
            (alert_id(&b.id), payload.to_string())
        })
        .collect()
}

/// The ids of overdue alerts already raised.
#[derive(Debug)]
pub struct RaisedLog {
    path: PathBuf,
    pub ids: HashSet<String>,
}

impl RaisedLog {
    pub fn open(data_dir: &Path) -> std::io::Result<RaisedLog> {
        let dir = data_dir.join("reviews");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("overdue.log");
        let ids = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        Ok(RaisedLog { path, ids })
    }

    pub fn record(&mut self, ids: &[String]) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        for id in ids {
            file.write_all(format!("{id}\n").as_bytes())?;
        }
        file.sync_data()?;
        self.ids.extend(ids.iter().cloned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::register::ReviewRequest;
    use crate::sla::BreachKind;

    fn breach(id: &str, at: Micros) -> Breach {
        Breach {
            definition: "v1".into(),
            id: id.into(),
            service: "payments".into(),
            kind: BreachKind::TicketResponse,
            ticket: Some("INC-1".into()),
            slo: None,
            slo_window: None,
            detected_at: at,
            observed: 1000.0,
            target: 900.0,
        }
    }

    #[test]
    fn only_unreviewed_breaches_past_due_are_raised_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut register = Register::open(dir.path()).unwrap();
        let request = |status| ReviewRequest {
            reviewer: "ann".into(),
            status,
            decision: Some("accept".into()),
            root_cause: Some("load".into()),
            actions: Vec::new(),
            problem: None,
            minutes: None,
            corrects: None,
            note: None,
        };
        register
            .append("reviewed", request(ReviewStatus::Reviewed), "ann", 0)
            .unwrap();
        register
            .append("acked", request(ReviewStatus::Acknowledged), "ann", 0)
            .unwrap();
        let breaches = [
            breach("reviewed", 0),
            breach("acked", 0),
            breach("open", 0),
            breach("recent", 90),
        ];
        let mut raised = HashSet::new();
        let due = due_alerts(&breaches, &register, &raised, 50, 100);
        let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["review-overdue:acked", "review-overdue:open"]);
        assert!(due[1].1.contains("\"kind\":\"review_overdue\""));
        raised.extend(due.into_iter().map(|(id, _)| id));
        assert!(due_alerts(&breaches, &register, &raised, 50, 100).is_empty());
    }
}
