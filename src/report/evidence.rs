//! Audit sampling: a reproducible random sample of the month's tickets, each with its full
//! clock trail and the reviews of its breaches, the way an auditor samples.

use crate::alert::register::{Register, ReviewEntry, ReviewStatus};
use crate::sla::window::Interval;
use crate::sla::{SlaEngine, TicketSla};
use serde::Serialize;

/// SplitMix64: a small, well-known generator; the same seed gives the same sample anywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` of `population` (sorted ids), drawn without replacement by a partial Fisher-Yates shuffle
/// seeded with `seed`, returned in draw order.
pub fn sample<T: Clone>(population: &[T], n: usize, seed: u64) -> Vec<T> {
    let mut pool: Vec<T> = population.to_vec();
    let mut rng = SplitMix(seed);
    let n = n.min(pool.len());
    for i in 0..n {
        let j = i + (rng.next() % (pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

#[derive(Debug, Clone, Serialize)]
pub struct BreachReview {
    pub breach: String,
    pub review_status: ReviewStatus,
    pub trail: Vec<ReviewEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampledTicket {
    /// Events (status changes), clocks with counted and paused business seconds, outcomes.
    pub clock_trail: TicketSla,
    pub breaches: Vec<BreachReview>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceSample {
    pub month: String,
    pub seed: u64,
    /// Tickets created in the month with an SLA policy (the population sampled from).
    pub population: usize,
    pub tickets: Vec<SampledTicket>,
}

/// Where the breach ids of a sampled ticket come from.
pub enum RecordedBreaches<'a> {
    /// The state's own findings (a live state holds the breaches of the tickets it holds).
    OfTheState,
    /// The `breaches` table's ids by ticket, in detection order: for a state rebuilt from the
    /// history for the sample, which decides nothing itself.
    Read(&'a std::collections::HashMap<String, Vec<String>>),
}

/// Draws the sample from the tickets created in `window` that have an SLA policy. `engine`
/// is the live state when it still holds the month's tickets, otherwise the state
/// [`crate::recompute::tickets_from_history`] rebuilds for them: both draw the same sample.
pub fn evidence(
    engine: &SlaEngine,
    breaches: RecordedBreaches<'_>,
    register: &Register,
    month: &str,
    window: Interval,
    n: usize,
    seed: u64,
) -> EvidenceSample {
    let population: Vec<String> = engine
        .tickets_created_in(window, None)
        .into_iter()
        .map(|t| t.0)
        .filter(|id| engine.ticket_sla(id).is_some_and(|t| t.has_policy))
        .collect();
    let tickets = sample(&population, n, seed)
        .into_iter()
        .filter_map(|id| {
            let clock_trail = engine.ticket_sla(&id)?;
            let ids: Vec<String> = match &breaches {
                RecordedBreaches::OfTheState => engine
                    .breaches(Some(&clock_trail.service), None)
                    .into_iter()
                    .filter(|b| b.ticket.as_deref() == Some(id.as_str()))
                    .map(|b| b.id)
                    .collect(),
                RecordedBreaches::Read(by_ticket) => {
                    by_ticket.get(&id).cloned().unwrap_or_default()
                }
            };
            let breaches = ids
                .into_iter()
                .map(|breach| {
                    let trail = register.trail(&breach);
                    BreachReview {
                        review_status: crate::alert::register::status_of(&trail),
                        breach,
                        trail,
                    }
                })
                .collect();
            Some(SampledTicket {
                clock_trail,
                breaches,
            })
        })
        .collect();
    EvidenceSample {
        month: month.to_string(),
        seed,
        population: population.len(),
        tickets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_sample_without_repeats() {
        let ids: Vec<u32> = (0..100).collect();
        let a = sample(&ids, 20, 42);
        assert_eq!(a, sample(&ids, 20, 42));
        assert_ne!(a, sample(&ids, 20, 43));
        let mut unique = a.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 20);
        assert_eq!(sample(&ids, 500, 1).len(), 100);
    }
}
