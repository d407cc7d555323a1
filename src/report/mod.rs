//! Evidence for service reviews and audits: the monthly service review pack and the
//! reproducible ticket sample, and problem candidates.

pub mod evidence;
pub mod problems;
pub mod service_review;
pub mod tickets;
