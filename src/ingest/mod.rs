//! Kafka ingest: decoding, dead letters, batching, and offset commits that follow durable
//! history.

mod batch;
pub mod decode;
mod kafka;
mod pipeline;

pub use batch::{BatchOutcome, DeadLetter, Processor, RawRecord};
pub use decode::{decode, Stream};
pub use kafka::{consumer_config, producer_config, IngestContext};
pub use pipeline::{alert_payload, Pipeline, PipelineError, PipelineHandles};
