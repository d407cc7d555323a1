//! The pure SLA core: availability, ticket clocks, error budgets and breach detection.
//! Nothing here touches Kafka, files or HTTP; the pipeline feeds events in and takes
//! [`Findings`] out.

pub mod availability;
pub mod burn;
pub mod calendar;
mod engine;
mod findings;
pub mod older;
mod packed;
mod report;
pub mod ticket_clock;
pub mod window;

pub use engine::{EngineSnapshot, SlaEngine, SnapshotMismatch, definition_version};
pub use findings::{
    Breach, BreachKind, CorrectionRecord, Findings, SliceRecord, TicketOutcomeRecord, TicketWarning,
};
pub use report::{
    AvailabilityRow, ServiceSla, TicketClockReport, TicketRow, TicketSla, WindowSpan,
};
