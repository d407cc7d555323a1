//! Kafka ingest: decoding, dead letters, batching, and offset commits that follow durable
//! history.

mod batch;
pub mod dead_letter;
pub mod decode;
mod delivery;
mod kafka;
mod metric_scan;
mod pipeline;
mod startup;

pub use batch::{Applied, BatchOutcome, DeadLetter, Processor, RawRecord, Writer};
pub use decode::{Bounds, Stream, decode};
pub use delivery::alert_payload;
pub use kafka::{IngestContext, consumer_config, producer_config};
pub use pipeline::{Pipeline, PipelineError, PipelineHandles};
pub use startup::Startup;
