//! The history: Delta Lake tables (schemas, commits with application transactions, compaction),
//! the offset checkpoint, replay of the raw events at start-up, and the DataFusion session
//! that queries it all.

mod checkpoint;
mod delta;
mod delta_scan;
mod durable;
pub(crate) mod error;
mod fence;
mod forecast_tables;
mod history;
mod location;
mod maintenance;
mod older;
mod query;
mod replay;
mod review_table;
mod snapshot;
pub mod sql_guard;
mod tables;
mod user_query;
mod writer_lock;

pub use checkpoint::{Checkpoint, kafka_topic};
pub use delta::{ActiveFile, Replacing, day_of_label};
pub use durable::write_atomically;
pub use error::StoreError;
pub use fence::Fenced;
pub use forecast_tables::fit_files;
pub use history::{
    DERIVED, DERIVED_APP, FileOrigin, HistoryStore, PendingFile, REVIEWS_APP, source_app,
};
pub use location::{HistoryLocation, S3Settings};
pub use maintenance::{MaintenancePolicy, MaintenanceReport, run_schedule as run_maintenance};
pub use older::{all_findings_blocking, older_findings, older_findings_for};
pub use query::{HistoryQuery, NamedQuery, QueryResult, batches_to_json, column_as};
pub use replay::{
    ReplayBound, Replayed, checkpoint_lost, replay_events, replay_tail, tickets_history,
};
pub use review_table::review_file;
pub use snapshot::{PrefetchedSnapshot, Snapshot, SnapshotInfo, SnapshotPrefetch};
pub use tables::{
    Table, breach_batches, correction_batches, date_label, day_of, derived_files, metrics_batches,
    outcome_batches, slice_batches, ticket_batches,
};
pub use user_query::{QueryRun, UserQueries, UserQueryError};
pub use writer_lock::{LEASE_TTL, LockError, WriterLock};
