//! Kafka ingest: decoding, dead letters, batching, and offset commits that follow durable
//! history.

mod batch;
pub mod dead_letter;
pub mod decode;
mod kafka;
mod pipeline;
mod startup;

pub use batch::{BatchOutcome, DeadLetter, Processor, RawRecord};
pub use decode::{Bounds, Stream, decode};
pub use kafka::{IngestContext, consumer_config, producer_config};
pub use pipeline::{Pipeline, PipelineError, PipelineHandles, alert_payload};
pub use startup::Startup;
