//! Fencing of source partitions. A process that claimed a source partition (read its raw
//! table's `txn` version when the partition first delivered) refuses to commit rows of it once
//! another writer has committed for that partition since: the partition moved to another
//! process, and this one is a zombie (its lease lost, a network partition, a stalled process)
//! that must not write beside the new owner.
//!
//! The check is cheap in the common case: each table remembers the version up to which its
//! log was checked, and only the commits since (none, unless another process wrote) are read,
//! for `txn` actions of the claimed partitions.

use super::delta::delta_error;
use super::error::StoreError;
use super::tables::Table;
use deltalake_core::DeltaTable;
use object_store::ObjectStoreExt;
use std::collections::HashMap;

/// What one store knows of the partitions it claimed, per table.
#[derive(Debug, Default)]
pub struct Fences {
    /// `txn` app id → the version this process last saw or wrote for it.
    claimed: HashMap<(Table, String), Option<i64>>,
    /// The table version up to which the log holds nothing of the claimed partitions but
    /// what `claimed` says.
    checked: HashMap<Table, i64>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "history table {table}: source `{app}` was written by another process since this one took it (txn version {found:?}, expected {expected:?}); this process stops writing"
)]
pub struct Fenced {
    pub table: &'static str,
    pub app: String,
    pub expected: Option<i64>,
    pub found: i64,
}

impl Fences {
    /// Records a claim: `app` holds `version` in `table` as of table version `at`.
    pub fn claim(&mut self, table: Table, app: &str, version: Option<i64>, at: i64) {
        self.claimed.insert((table, app.to_string()), version);
        let checked = self.checked.entry(table).or_insert(at);
        *checked = (*checked).min(at);
    }

    fn claims_in(&self, table: Table) -> bool {
        self.claimed.keys().any(|(t, _)| *t == table)
    }

    /// After a commit of this process at table version `version` with these `txn`s.
    pub fn committed(&mut self, table: Table, version: i64, txns: &[(String, i64)]) {
        for (app, v) in txns {
            if let Some(claimed) = self.claimed.get_mut(&(table, app.clone())) {
                *claimed = Some(*v);
            }
        }
        // Checked through this commit only when it directly follows the checked version; a
        // commit that delta-rs retried past others leaves the gap to the next check (which
        // reads this commit too: its `txn`s are the claimed versions now).
        if self.claims_in(table) && self.checked.get(&table) == Some(&(version - 1)) {
            self.checked.insert(table, version);
        }
    }
}

/// Checks the commits of `delta` after the last checked version up to `latest` (the newest
/// this process knows of) for `txn`s of partitions this process claimed: one written by
/// another process fences it. `fences` is updated to `latest` when nothing foreign is found.
pub async fn check(
    fences: &std::sync::Mutex<Fences>,
    table: Table,
    delta: &DeltaTable,
    latest: i64,
) -> Result<(), StoreError> {
    let (from, claimed) = {
        let fences = fences.lock().unwrap_or_else(|p| p.into_inner());
        let Some(&from) = fences.checked.get(&table) else {
            return Ok(());
        };
        let claimed: HashMap<String, Option<i64>> = fences
            .claimed
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, app), v)| (app.clone(), *v))
            .collect();
        (from, claimed)
    };
    if latest < 0 {
        return Ok(());
    }
    let objects = delta.log_store().object_store(None);
    for version in from + 1..=latest {
        let path = object_store::path::Path::from(format!("_delta_log/{version:020}.json"));
        let bytes = match objects.get(&path).await {
            Ok(found) => found.bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| delta_error(table)(e.into()))?;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(action) = serde_json::from_slice::<serde_json::Value>(line) else {
                continue;
            };
            let Some(txn) = action.get("txn") else {
                continue;
            };
            let app = txn
                .get("appId")
                .and_then(|a| a.as_str())
                .unwrap_or_default();
            let found = txn.get("version").and_then(|v| v.as_i64()).unwrap_or(-1);
            if let Some(expected) = claimed.get(app)
                && *expected != Some(found)
            {
                return Err(StoreError::Fenced(Box::new(Fenced {
                    table: table.name(),
                    app: app.to_string(),
                    expected: *expected,
                    found,
                })));
            }
        }
    }
    fences
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .checked
        .insert(table, latest);
    Ok(())
}
