//! What leaves memory as the watermark moves on: the state follows the open windows, not the
//! length of the history. Everything that leaves is final and already in the history, from
//! which older windows are read ([`SlaEngine::history_needed`]).

use super::*;

/// How long breaches and burn-rate transitions stay in memory: they are few, and a breach must
/// be at hand until management has reviewed it. Older ones are in the history's `breaches`.
const FINDINGS_RETENTION: Micros = 430 * 86_400 * MICROS_PER_SECOND;

/// The earliest instant the SLO's live work still reads at `watermark`: the start of each of its
/// windows open at the watermark (month, quarter, rolling days in the service's time zone) and
/// the longest burn-rate look-back, floored to a UTC day. The windows evaluated later all start
/// at or after it, so slices before it are final, already in the history, and leave memory:
/// the state follows the open windows, not the length of the history.
fn live_horizon(state: &SloState, watermark: Micros) -> Micros {
    const DAY: Micros = 86_400 * MICROS_PER_SECOND;
    let earliest = state
        .slo
        .windows
        .iter()
        .map(|w| slo_window_at(*w, watermark, state.tz).0.start)
        .fold(watermark - burn::LONGEST_WINDOW, Micros::min);
    floor_to(earliest, DAY)
}

impl SloState {
    /// Drops the slices before the SLO's live horizon at `watermark` (run after the
    /// evaluations behind the watermark, which may still read them).
    pub(super) fn forget_behind(&mut self, watermark: Micros) {
        let horizon = live_horizon(self, watermark);
        if self.live_from.is_none_or(|from| from < horizon) {
            match &mut self.tracker {
                Tracker::Probe(p) => p.forget_before(horizon),
                Tracker::Ratio(r) => r.forget_before(horizon),
            }
            self.live_from = Some(horizon);
        }
    }
}

impl SlaEngine {
    /// Keeps the state bounded by the open windows, not by the length of the history: closed
    /// tickets and decided outcomes older than every SLO's live horizon (and than a month, for
    /// the ticket figures of the current month in any time zone) leave memory. Breaches and
    /// burn-rate transitions are few and the review register needs them until reviewed: they
    /// stay for [`FINDINGS_RETENTION`]. The history holds all of them; older periods are read
    /// from it ([`SlaEngine::history_needed`]). Runs once per day of watermark progress.
    pub(super) fn forget_closed(&mut self, watermark: Micros) {
        const DAY: Micros = 86_400 * MICROS_PER_SECOND;
        let month_ago = floor_to(watermark - 32 * DAY, DAY);
        let horizon = self
            .slos
            .iter()
            .filter_map(|s| s.live_from)
            .fold(month_ago, Micros::min);
        if self.tickets_live_from.is_none_or(|t| t < horizon) {
            self.tickets_live_from = Some(horizon);
            let open = &self.open_tickets;
            self.tickets.retain(|id, t| {
                open.contains(id) || t.history.last().is_none_or(|(at, _)| *at >= horizon)
            });
            self.outcomes.retain(|o| o.decided_at >= horizon);
        }
        let findings_horizon = watermark.saturating_sub(FINDINGS_RETENTION);
        let day = findings_horizon.div_euclid(DAY);
        if self.forgotten_day.is_some_and(|d| d >= day) {
            return;
        }
        self.forgotten_day = Some(day);
        let before = self.breaches.len();
        self.breaches.retain(|b| b.detected_at >= findings_horizon);
        if self.breaches.len() != before {
            self.breach_ids = self.breaches.iter().map(|b| b.id.clone()).collect();
        }
        self.burn_alerts.retain(|a| a.at >= findings_horizon);
    }
}
