//! The Parquet history: table schemas, crash-safe writes with an offset checkpoint, replay of the
//! raw events at start-up, and the DataFusion session that queries it all.

mod checkpoint;
mod durable;
mod error;
mod history;
mod query;
mod replay;
mod tables;

pub use checkpoint::Checkpoint;
pub use error::StoreError;
pub use history::{FileOrigin, HistoryStore, PendingFile};
pub use query::{batches_to_json, HistoryQuery, NamedQuery, QueryResult};
pub use replay::{replay_events, Replayed};
pub use tables::{breach_batches, date_label, day_of, metrics_batches, outcome_batches, slice_batches, ticket_batches, Table};
