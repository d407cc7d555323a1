//! Overdue reviews: a breach that has not been reviewed (status `reviewed` or `closed`) within
//! `alerts.review_due` of when it happened raises one `review_overdue` alert (see
//! [`super::periodic`]). The ids already raised are kept in `<data_dir>/reviews/overdue.log`.

use super::register::{Register, ReviewStatus};
use crate::model::{Micros, format_rfc3339};
use crate::sla::Breach;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The alert id of a breach's overdue review.
pub fn alert_id(breach: &str) -> String {
    format!("review-overdue:{breach}")
}

/// The overdue-review conditions at `now`: `(id, payload)` for each breach past its due time
/// and not yet reviewed, whose review came due while slacap was running live (at or after
/// `live_since`): a backfill, or a first start on an existing history, does not raise an
/// alert for every historical breach.
pub fn due_alerts(
    breaches: &[Breach],
    register: &Register,
    due_within: Micros,
    live_since: Micros,
    now: Micros,
) -> Vec<(String, String)> {
    breaches
        .iter()
        .filter(|b| b.detected_at + due_within <= now)
        .filter(|b| b.detected_at + due_within >= live_since)
        .filter(|b| register.status(&b.id) < ReviewStatus::Reviewed)
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

/// The conditions of the periodic alerts: which hold now (raised, not cleared since) and how
/// often each was raised, kept in `<data_dir>/reviews/overdue.log` as `raised <id>` and
/// `cleared <id>` lines. A condition that clears and returns is raised again, as `<id>:2`,
/// `<id>:3`, ... `<data_dir>/reviews/live_since` holds the instant slacap first ran live.
#[derive(Debug)]
pub struct RaisedLog {
    path: PathBuf,
    active: HashSet<String>,
    raised: HashMap<String, u32>,
    /// When this data folder first ran live (wall clock).
    pub live_since: Micros,
}

/// One alert to raise: its alert id, the condition it belongs to, the payload.
pub struct Raise {
    pub id: String,
    pub condition: String,
    pub payload: String,
}

impl RaisedLog {
    pub fn open(data_dir: &Path, now: Micros) -> std::io::Result<RaisedLog> {
        let dir = data_dir.join("reviews");
        std::fs::create_dir_all(&dir)?;
        let since_file = dir.join("live_since");
        let live_since = match std::fs::read_to_string(&since_file) {
            Ok(text) => text.trim().parse().unwrap_or(now),
            Err(_) => {
                std::fs::write(&since_file, now.to_string())?;
                now
            }
        };
        let mut log = RaisedLog {
            path: dir.join("overdue.log"),
            active: HashSet::new(),
            raised: HashMap::new(),
            live_since,
        };
        for line in std::fs::read_to_string(&log.path)
            .unwrap_or_default()
            .lines()
        {
            match line.split_once(' ') {
                Some(("cleared", id)) => {
                    log.active.remove(id);
                }
                Some(("raised", id)) => log.mark_raised(id),
                // Lines of earlier versions: the id alone, raised.
                _ if !line.is_empty() => log.mark_raised(line),
                _ => {}
            }
        }
        Ok(log)
    }

    fn mark_raised(&mut self, condition: &str) {
        self.active.insert(condition.to_string());
        *self.raised.entry(condition.to_string()).or_default() += 1;
    }

    /// Given the conditions that hold now among those starting with one of `families`: the
    /// alerts to raise (conditions not active) and the conditions that cleared (active, no
    /// longer holding).
    pub fn compare(
        &self,
        families: &[&str],
        holding: Vec<(String, String)>,
    ) -> (Vec<Raise>, Vec<String>) {
        let now: HashSet<&str> = holding.iter().map(|(c, _)| c.as_str()).collect();
        let cleared = self
            .active
            .iter()
            .filter(|c| families.iter().any(|f| c.starts_with(f)) && !now.contains(c.as_str()))
            .cloned()
            .collect();
        let raise = holding
            .into_iter()
            .filter(|(c, _)| !self.active.contains(c))
            .map(|(condition, payload)| {
                let n = self.raised.get(&condition).copied().unwrap_or(0) + 1;
                let id = if n == 1 {
                    condition.clone()
                } else {
                    format!("{condition}:{n}")
                };
                Raise {
                    id,
                    condition,
                    payload,
                }
            })
            .collect();
        (raise, cleared)
    }

    fn append(&self, lines: &[String]) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        for line in lines {
            file.write_all(format!("{line}\n").as_bytes())?;
        }
        file.sync_data()
    }

    /// Records conditions raised (after their alerts were published).
    pub fn record(&mut self, conditions: &[String]) -> std::io::Result<()> {
        let lines: Vec<String> = conditions.iter().map(|c| format!("raised {c}")).collect();
        self.append(&lines)?;
        for c in conditions {
            self.mark_raised(c);
        }
        Ok(())
    }

    /// Records conditions that no longer hold: they are raised again if they return.
    pub fn record_cleared(&mut self, conditions: &[String]) -> std::io::Result<()> {
        let lines: Vec<String> = conditions.iter().map(|c| format!("cleared {c}")).collect();
        self.append(&lines)?;
        for c in conditions {
            self.active.remove(c);
        }
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
    fn only_unreviewed_breaches_that_came_due_while_live_are_due() {
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
        let due = due_alerts(&breaches, &register, 50, 0, 100);
        let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["review-overdue:acked", "review-overdue:open"]);
        assert!(due[1].1.contains("\"kind\":\"review_overdue\""));
        // Reviews that came due before slacap ran live raise nothing.
        assert!(due_alerts(&breaches, &register, 50, 60, 100).is_empty());
    }

    #[test]
    fn a_condition_that_clears_and_returns_is_raised_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaisedLog::open(dir.path(), 5).unwrap();
        let family = ["capacity-exhaustion:"];
        let holding = || vec![("capacity-exhaustion:a:b".to_string(), "{}".to_string())];
        let (raise, cleared) = log.compare(&family, holding());
        assert_eq!(raise[0].id, "capacity-exhaustion:a:b");
        assert!(cleared.is_empty());
        log.record(&[raise[0].condition.clone()]).unwrap();
        assert!(
            log.compare(&family, holding()).0.is_empty(),
            "once while it holds"
        );
        // It clears and, after a restart, returns: raised again under a new id.
        let (_, cleared) = log.compare(&family, Vec::new());
        assert_eq!(cleared, ["capacity-exhaustion:a:b"]);
        log.record_cleared(&cleared).unwrap();
        let log = RaisedLog::open(dir.path(), 99).unwrap();
        assert_eq!(log.live_since, 5, "the first live start is kept");
        let (raise, _) = log.compare(&family, holding());
        assert_eq!(raise[0].id, "capacity-exhaustion:a:b:2");
        // A family not evaluated this round clears nothing.
        assert!(
            log.compare(&["problem-candidate:"], Vec::new())
                .1
                .is_empty()
        );
    }
}
