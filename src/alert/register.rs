//! The breach review register: an append-only trail per breach, open → acknowledged →
//! reviewed → closed. An entry is never edited: a correction is a new entry that names the one
//! it corrects. Every entry carries who recorded it (the API token's holder), the reviewer it
//! names, and when.
//!
//! The journal is a JSON-lines file, each entry appended and fsynced before the API answers;
//! it is read back whole at start-up. Each entry also goes to the `reviews` Parquet table.
//!
//! The journal is tamper-evident: each entry carries `prev_sha256`, the SHA-256 of the previous
//! line's bytes (64 zeros for the first), so editing, removing or reordering any entry breaks
//! the chain at that point ([`verify`]). A crash mid-append leaves a last line without its
//! newline; start-up cuts it off (its request was never answered) before anything new is
//! appended, so a torn line is never glued to the next entry.

use crate::model::{Micros, format_rfc3339};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    Open,
    Acknowledged,
    Reviewed,
    Closed,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Acknowledged => "acknowledged",
            ReviewStatus::Reviewed => "reviewed",
            ReviewStatus::Closed => "closed",
        }
    }
}

/// A follow-up action agreed in the review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionItem {
    pub description: String,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub due: String,
}

/// What a reviewer posts to `POST /api/v1/breaches/{id}/review`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub reviewer: String,
    pub status: ReviewStatus,
    #[serde(default)]
    pub decision: Option<String>,
    #[serde(default)]
    pub root_cause: Option<String>,
    #[serde(default)]
    pub actions: Vec<ActionItem>,
    /// A linked problem record (e.g. `PRB-0042`).
    #[serde(default)]
    pub problem: Option<String>,
    /// Reference to the meeting minutes where the breach was reviewed.
    #[serde(default)]
    pub minutes: Option<String>,
    /// The sequence number of an earlier entry of this breach that this one corrects.
    #[serde(default)]
    pub corrects: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One entry of the trail, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub breach: String,
    /// Position in the whole register (1, 2, ...): the order entries were recorded in.
    pub seq: u64,
    pub recorded_at: String,
    /// The API token holder who recorded the entry.
    pub recorded_by: String,
    pub reviewer: String,
    pub status: ReviewStatus,
    pub decision: Option<String>,
    pub root_cause: Option<String>,
    pub actions: Vec<ActionItem>,
    pub problem: Option<String>,
    pub minutes: Option<String>,
    pub corrects: Option<u64>,
    pub note: Option<String>,
    /// SHA-256 (hex) of the journal line before this entry's; absent only on entries written
    /// before the journal was chained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_sha256: Option<String>,
}

/// The `prev_sha256` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn line_hash(line: &[u8]) -> String {
    Sha256::digest(line)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Entries read (chained and legacy).
    pub entries: usize,
    /// Leading entries written before the journal was chained (not protected).
    pub unchained: usize,
    /// True when every link holds.
    pub intact: bool,
    /// The first broken link: its 1-based line number and what is wrong.
    pub first_broken: Option<BrokenLink>,
    /// SHA-256 of the last line: publish it (in the minutes, say) to pin the whole history.
    pub head_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenLink {
    pub line: usize,
    pub seq: Option<u64>,
    pub problem: String,
}

/// Checks the hash chain of a journal's text.
pub fn verify(journal: &[u8]) -> Verification {
    let mut previous = GENESIS.to_string();
    let (mut entries, mut unchained, mut chained) = (0, 0, false);
    let mut broken = None;
    for (i, line) in journal.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let number = i + 1;
        let problem = match serde_json::from_slice::<ReviewEntry>(line) {
            Err(e) => Some((None, format!("not a review entry: {e}"))),
            Ok(entry) => {
                entries += 1;
                match &entry.prev_sha256 {
                    None if !chained => {
                        unchained += 1;
                        None
                    }
                    None => Some((Some(entry.seq), "the entry carries no prev_sha256".into())),
                    Some(prev) if *prev != previous => Some((
                        Some(entry.seq),
                        format!(
                            "prev_sha256 is {prev}, but the previous line hashes to {previous}: an entry before it was changed, removed or inserted"
                        ),
                    )),
                    Some(_) => {
                        chained = true;
                        None
                    }
                }
            }
        };
        if let Some((seq, problem)) = problem {
            broken = Some(BrokenLink {
                line: number,
                seq,
                problem,
            });
            break;
        }
        previous = line_hash(line);
    }
    Verification {
        entries,
        unchained,
        intact: broken.is_none(),
        first_broken: broken,
        head_sha256: previous,
    }
}

/// Why an entry was refused: `Conflict` is a valid request at the wrong point in the trail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
}

fn present(field: &Option<String>) -> bool {
    field.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// A review (status `reviewed`) records what was decided and why the breach happened.
fn complete(request: &ReviewRequest) -> Result<(), ReviewError> {
    if request.status == ReviewStatus::Reviewed
        && !(present(&request.decision) && present(&request.root_cause))
    {
        return Err(ReviewError::Invalid(
            "a review records its `decision` and the `root_cause`".into(),
        ));
    }
    Ok(())
}

/// The status a trail has reached (corrections included).
pub fn status_of(trail: &[ReviewEntry]) -> ReviewStatus {
    trail
        .iter()
        .map(|e| e.status)
        .max()
        .unwrap_or(ReviewStatus::Open)
}

/// Checks `request` against the breach's trail so far.
pub fn validate(trail: &[ReviewEntry], request: &ReviewRequest) -> Result<(), ReviewError> {
    let invalid = |m: &str| Err(ReviewError::Invalid(m.to_string()));
    if request.reviewer.trim().is_empty() {
        return invalid("`reviewer` must name who reviewed the breach");
    }
    if request.status == ReviewStatus::Open {
        return invalid("`status` is acknowledged, reviewed or closed (a breach opens by itself)");
    }
    for (i, a) in request.actions.iter().enumerate() {
        if a.description.trim().is_empty() || a.owner.trim().is_empty() {
            return invalid(&format!("actions[{i}] needs a description and an owner"));
        }
        if chrono::NaiveDate::parse_from_str(&a.due, "%Y-%m-%d").is_err() {
            return invalid(&format!("actions[{i}].due `{}` is not YYYY-MM-DD", a.due));
        }
    }
    if let Some(seq) = request.corrects {
        let Some(corrected) = trail.iter().find(|e| e.seq == seq) else {
            return Err(ReviewError::Invalid(format!(
                "`corrects`: entry {seq} is not in this breach's trail"
            )));
        };
        if request.status != corrected.status {
            return Err(ReviewError::Invalid(format!(
                "a correction keeps the status of the entry it corrects ({})",
                corrected.status.as_str()
            )));
        }
        return complete(request);
    }
    let current = status_of(trail);
    let allowed = match current {
        ReviewStatus::Open => request.status <= ReviewStatus::Reviewed,
        ReviewStatus::Acknowledged => request.status == ReviewStatus::Reviewed,
        ReviewStatus::Reviewed => request.status == ReviewStatus::Closed,
        ReviewStatus::Closed => false,
    };
    if allowed {
        complete(request)
    } else {
        Err(ReviewError::Conflict(format!(
            "the breach is {}; it cannot become {} (to change an entry, post a correction with `corrects`)",
            current.as_str(),
            request.status.as_str()
        )))
    }
}

/// The register: every entry in memory, appended to the journal on disk.
#[derive(Debug)]
pub struct Register {
    journal: PathBuf,
    entries: Vec<ReviewEntry>,
    by_breach: BTreeMap<String, Vec<usize>>,
    /// SHA-256 of the journal's last line: the next entry's `prev_sha256`.
    head: String,
}

impl Register {
    /// Opens (or creates) the journal at `<data_dir>/reviews/register.jsonl`.
    pub fn open(data_dir: &Path) -> std::io::Result<Register> {
        let dir = data_dir.join("reviews");
        std::fs::create_dir_all(&dir)?;
        let journal = dir.join("register.jsonl");
        let mut register = Register {
            journal,
            entries: Vec::new(),
            by_breach: BTreeMap::new(),
            head: GENESIS.to_string(),
        };
        let mut text = match std::fs::read(&register.journal) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // A crash mid-append leaves a last line without its newline: its request was never
        // answered, so it is cut off before the next append could be glued to it.
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(journal = %register.journal.display(), bytes = text.len() - complete, "torn last line of the review journal removed (a crash interrupted its append)");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&register.journal)?;
            file.set_len(complete as u64)?;
            file.sync_all()?;
            text.truncate(complete);
        }
        for (number, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            register.head = line_hash(line);
            match serde_json::from_slice::<ReviewEntry>(line) {
                Ok(entry) => register.index(entry),
                Err(error) => {
                    tracing::error!(line = number + 1, %error, "unreadable review journal line skipped; `slacap verify-register` reports it")
                }
            }
        }
        Ok(register)
    }

    fn index(&mut self, entry: ReviewEntry) {
        self.by_breach
            .entry(entry.breach.clone())
            .or_default()
            .push(self.entries.len());
        self.entries.push(entry);
    }

    pub fn trail(&self, breach: &str) -> Vec<ReviewEntry> {
        self.by_breach
            .get(breach)
            .map(|ix| ix.iter().map(|&i| self.entries[i].clone()).collect())
            .unwrap_or_default()
    }

    pub fn status(&self, breach: &str) -> ReviewStatus {
        status_of(&self.trail(breach))
    }

    /// The journal file.
    pub fn journal(&self) -> &Path {
        &self.journal
    }

    pub fn entries(&self) -> &[ReviewEntry] {
        &self.entries
    }

    /// Validates and appends an entry; it is on disk (fsynced) when this returns.
    pub fn append(
        &mut self,
        breach: &str,
        request: ReviewRequest,
        recorded_by: &str,
        now: Micros,
    ) -> Result<ReviewEntry, RegisterError> {
        validate(&self.trail(breach), &request)?;
        let entry = ReviewEntry {
            breach: breach.to_string(),
            seq: self.entries.last().map_or(1, |e| e.seq + 1),
            recorded_at: format_rfc3339(now),
            recorded_by: recorded_by.to_string(),
            reviewer: request.reviewer.trim().to_string(),
            status: request.status,
            decision: request.decision,
            root_cause: request.root_cause,
            actions: request.actions,
            problem: request.problem,
            minutes: request.minutes,
            corrects: request.corrects,
            note: request.note,
            prev_sha256: Some(self.head.clone()),
        };
        let mut line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
        let head = line_hash(line.as_bytes());
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal)?;
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        self.head = head;
        self.index(entry.clone());
        Ok(entry)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error("review journal: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: ReviewStatus) -> ReviewRequest {
        ReviewRequest {
            reviewer: "Service manager".into(),
            status,
            decision: Some("accept; credit the customer".into()),
            root_cause: Some("database failover".into()),
            actions: vec![ActionItem {
                description: "test failover monthly".into(),
                owner: "dba team".into(),
                due: "2026-12-15".into(),
            }],
            problem: Some("PRB-1".into()),
            minutes: Some("SRM-2026-11".into()),
            corrects: None,
            note: None,
        }
    }

    #[test]
    fn a_trail_moves_forward_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut register = Register::open(dir.path()).unwrap();
        register
            .append("b1", request(ReviewStatus::Acknowledged), "ann", 1)
            .unwrap();
        // Closing before the review is refused.
        let err = register
            .append("b1", request(ReviewStatus::Closed), "ann", 2)
            .unwrap_err();
        assert!(
            matches!(err, RegisterError::Review(ReviewError::Conflict(_))),
            "{err}"
        );
        register
            .append("b1", request(ReviewStatus::Reviewed), "bob", 3)
            .unwrap();
        register
            .append("b1", request(ReviewStatus::Closed), "bob", 4)
            .unwrap();
        let reopened = Register::open(dir.path()).unwrap();
        let trail = reopened.trail("b1");
        assert_eq!(trail.len(), 3);
        assert_eq!(reopened.status("b1"), ReviewStatus::Closed);
        assert_eq!(trail[1].recorded_by, "bob");
        assert_eq!(reopened.status("b2"), ReviewStatus::Open);
    }

    #[test]
    fn a_correction_is_a_new_entry_naming_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut register = Register::open(dir.path()).unwrap();
        let first = register
            .append("b1", request(ReviewStatus::Reviewed), "ann", 1)
            .unwrap();
        let mut fix = request(ReviewStatus::Reviewed);
        fix.root_cause = Some("a certificate expired".into());
        fix.corrects = Some(first.seq);
        register.append("b1", fix, "ann", 2).unwrap();
        let trail = register.trail("b1");
        assert_eq!(trail.len(), 2);
        assert_eq!(trail[0].root_cause.as_deref(), Some("database failover"));
        assert_eq!(trail[1].corrects, Some(first.seq));
        // A correction must point into this breach's trail.
        let mut stray = request(ReviewStatus::Reviewed);
        stray.corrects = Some(99);
        assert!(register.append("b1", stray, "ann", 3).is_err());
    }

    #[test]
    fn a_review_needs_its_decision_root_cause_and_dated_actions() {
        let mut r = request(ReviewStatus::Reviewed);
        r.root_cause = None;
        assert!(validate(&[], &r).is_err());
        let mut r = request(ReviewStatus::Acknowledged);
        r.actions[0].due = "soon".into();
        assert!(validate(&[], &r).unwrap_err().to_string().contains("due"));
        let mut r = request(ReviewStatus::Acknowledged);
        r.reviewer = " ".into();
        assert!(validate(&[], &r).is_err());
    }

    #[test]
    fn the_journal_is_a_hash_chain_that_shows_the_first_edit() {
        let dir = tempfile::tempdir().unwrap();
        let mut register = Register::open(dir.path()).unwrap();
        for (i, breach) in ["b1", "b2", "b3"].iter().enumerate() {
            register
                .append(breach, request(ReviewStatus::Acknowledged), "ann", i as i64)
                .unwrap();
        }
        let journal = std::fs::read(register.journal()).unwrap();
        let report = verify(&journal);
        assert!(report.intact, "{report:?}");
        assert_eq!((report.entries, report.unchained), (3, 0));
        // Change the reviewer of the second entry: the third entry's link breaks.
        let text = String::from_utf8(journal.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let tampered = format!(
            "{}\n{}\n{}\n",
            lines[0],
            lines[1].replace("Service manager", "Someone else"),
            lines[2]
        );
        let report = verify(tampered.as_bytes());
        assert!(!report.intact);
        assert_eq!(report.first_broken.unwrap().line, 3);
        // Removing the first entry breaks the chain at the (new) first line.
        let removed = format!("{}\n{}\n", lines[1], lines[2]);
        assert_eq!(verify(removed.as_bytes()).first_broken.unwrap().line, 1);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_not_glued_to_the_next_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut register = Register::open(dir.path()).unwrap();
        register
            .append("b1", request(ReviewStatus::Acknowledged), "ann", 1)
            .unwrap();
        let path = register.journal().to_path_buf();
        drop(register);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"breach\":\"b2\",\"seq\":2,\"recor")
            .unwrap();
        drop(file);
        let mut register = Register::open(dir.path()).unwrap();
        register
            .append("b2", request(ReviewStatus::Acknowledged), "ann", 2)
            .unwrap();
        let journal = std::fs::read(&path).unwrap();
        let report = verify(&journal);
        assert!(report.intact, "{report:?}");
        assert_eq!(report.entries, 2);
        assert_eq!(Register::open(dir.path()).unwrap().trail("b2").len(), 1);
    }
}
