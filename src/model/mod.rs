//! Domain types shared by every stage. No I/O lives here.

mod events;
mod time;

pub use events::{
    Event, MetricEvent, Source, SourcePosition, StreamKind, TicketEvent, TicketStatus, TicketType,
};
pub use time::{MICROS_PER_SECOND, Micros, format_rfc3339, micros_of, parse_rfc3339};
