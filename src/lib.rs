//! slacap: streaming SLA and capacity analytics.
//!
//! # Layout
//!
//! Dependencies point inward: `model` is imported by all and imports nothing of ours; `sla` is
//! pure; `ingest` and `store` do the I/O around it; `api`, `app` and `main` wire it together.
//!
//! * [`model`]: domain types (events, event time). No I/O.
//! * [`config`]: runtime settings and the service catalogue, validated with errors that name the
//!   file and the key.
//! * [`report`]: the monthly service review pack (HTML, CSV) and audit sampling.
//! * [`sla`]: the pure SLA core: availability slices and ratios, ticket clocks, error budgets,
//!   breach detection, reporting windows.
//! * [`forecast`]: the pure forecasting core: series, models, backtests, capacity plans, charts.
//! * [`ingest`]: the Kafka consumer loop, JSON decoding, dead letters, batching, checkpoints and
//!   offset commits.
//! * [`store`]: the Parquet history (crash-safe writes, replay) and the DataFusion session with
//!   the named reports of `queries/`.
//! * [`alert`]: webhook outboxes and senders, the breach review register, overdue reviews.
//! * [`api`]: the axum router and handlers.
//! * [`app`]: wiring for `slacap run` (settings → pipeline + API + shutdown).
//! * [`planner`]: the shell around `forecast`: series from the history, scheduled refits, the
//!   latest fit for the API, the `forecasts` and `capacity_plans` tables.
//! * [`recompute`]: rebuilds the derived history from the raw events (`slacap recompute`).
//! * [`demo`]: the embedded default: an in-process Kafka broker and a synthetic month of events.
//! * [`telemetry`]: counters exported at `/metrics`.
//! * [`tls`]: rustls configurations for the HTTPS API and for webhooks.

/// jemalloc instead of the system allocator: a batch allocates and frees hundreds of thousands
/// of small strings and rows, and glibc's malloc spent over a quarter of the ingest CPU on them
/// (most of it in free-list consolidation). mimalloc cut that too, but returned freed pages to
/// the kernel within milliseconds, and zeroing them again on the next batch took a fifth of the
/// CPU; jemalloc keeps them for seconds. Declared here so the `slacap` binary, the benchmarks
/// and the tests all run with it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod alert;
pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod forecast;
pub mod ingest;
pub mod model;
pub mod planner;
pub mod recompute;
pub mod report;
pub mod sla;
pub mod store;
pub mod telemetry;
pub mod tls;
