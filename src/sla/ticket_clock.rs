//! Ticket SLA clocks on a 24x7 calendar, as pure functions of a ticket's status history.
//!
//! * Response runs from creation (the ticket's first event) to the first acknowledged,
//!   in_progress, resolved or closed.
//! * Resolution runs from creation to resolved/closed, stands still while the ticket is in a
//!   pausing status (the policy's; by default on_hold and awaiting_customer), and resumes on
//!   reopened.
//! * Warnings mark the instants the counted time reached 50, 75 and 90 % of the target.
//! * A clock breaches the moment its elapsed time passes the target, stopped or not; it is met
//!   when it stops with elapsed ≤ target. Its outcome is whichever of the two came first, and
//!   never changes afterwards.
//! * A cancelled ticket stops both clocks and leaves the statistics.
//!
//! Recomputing from the whole (sorted) history each time keeps the result independent of the
//! order in which events arrived.

use super::calendar::Calendar;
use crate::model::{Micros, TicketStatus};
use serde::Serialize;

/// Fractions of the target at which a running clock raises a warning.
pub const WARNING_FRACTIONS: [f64; 3] = [0.5, 0.75, 0.9];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Met,
    Breached,
}

/// The final outcome of a clock and the event-time instant it became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    pub outcome: Outcome,
    pub at: Micros,
}

/// What a clock is doing at the evaluation instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Running,
    Paused,
    Stopped,
}

/// One clock (response or resolution) at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub target: Micros,
    /// Counted time so far (up to the stop, or to the evaluation instant while running).
    pub elapsed: Micros,
    /// Time spent in pausing statuses.
    pub paused: Micros,
    pub running: bool,
    pub mode: Mode,
    pub decided: Option<Decided>,
    /// When the counted time reached each of [`WARNING_FRACTIONS`] of the target.
    pub warnings: [Option<Micros>; 3],
    /// Cycles started by a reopen under a restart policy (0 = the first cycle only).
    pub cycle: u32,
    /// Breach instants of the restarted cycles (the first cycle's is in `decided`).
    pub cycle_breaches: Vec<Micros>,
}

/// Both clocks of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClocks {
    pub created: Micros,
    pub cancelled: bool,
    pub response: Clock,
    pub resolution: Clock,
}

/// Evaluates both clocks, with reopened resuming the resolution clock. See [`evaluate_with`].
pub fn evaluate(
    history: &[(Micros, TicketStatus)],
    response_target: Micros,
    resolution_target: Micros,
    pausing: &[TicketStatus],
    calendar: &Calendar,
    now: Micros,
) -> Option<TicketClocks> {
    evaluate_with(
        history,
        response_target,
        resolution_target,
        pausing,
        calendar,
        false,
        now,
    )
}

/// Evaluates both clocks from `history` (time-ordered status changes) as of `now`. With
/// `restart_on_reopen`, a reopened ticket's resolution clock starts a new cycle from zero
/// instead of resuming. Returns `None` for an empty history.
pub fn evaluate_with(
    history: &[(Micros, TicketStatus)],
    response_target: Micros,
    resolution_target: Micros,
    pausing: &[TicketStatus],
    calendar: &Calendar,
    restart_on_reopen: bool,
    now: Micros,
) -> Option<TicketClocks> {
    let created = history.first()?.0;
    let response = run_clock(
        history,
        response_target,
        now,
        TicketStatus::responds,
        &[],
        Reopen::Ignore,
        calendar,
    );
    let resolution = run_clock(
        history,
        resolution_target,
        now,
        TicketStatus::resolves,
        pausing,
        if restart_on_reopen {
            Reopen::Restart
        } else {
            Reopen::Resume
        },
        calendar,
    );
    let cancelled = history.iter().any(|(_, s)| *s == TicketStatus::Cancelled);
    Some(TicketClocks {
        created,
        cancelled,
        response,
        resolution,
    })
}

/// What reopened does to a stopped clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reopen {
    /// Nothing (the response clock).
    Ignore,
    /// Counting continues where it stopped.
    Resume,
    /// A new cycle starts from zero.
    Restart,
}

fn run_clock(
    history: &[(Micros, TicketStatus)],
    target: Micros,
    now: Micros,
    stops: fn(TicketStatus) -> bool,
    pausing: &[TicketStatus],
    reopen: Reopen,
    calendar: &Calendar,
) -> Clock {
    let mut clock = Clock {
        target,
        elapsed: 0,
        paused: 0,
        running: true,
        mode: Mode::Running,
        decided: None,
        warnings: [None; 3],
        cycle: 0,
        cycle_breaches: Vec::new(),
    };
    let Some(&(mut last, _)) = history.first() else {
        return clock;
    };
    let mut mode = Mode::Running;
    for &(t, status) in history {
        advance(&mut clock, mode, last, t, calendar);
        last = t.max(last);
        mode = match (mode, status) {
            (_, TicketStatus::Cancelled) => Mode::Stopped,
            (Mode::Stopped, TicketStatus::Reopened) if reopen == Reopen::Resume => Mode::Running,
            (Mode::Stopped, TicketStatus::Reopened) if reopen == Reopen::Restart => {
                clock.cycle += 1;
                clock.elapsed = 0;
                clock.paused = 0;
                Mode::Running
            }
            (Mode::Stopped, _) => Mode::Stopped,
            (_, s) if stops(s) => {
                if clock.decided.is_none() {
                    clock.decided = Some(Decided {
                        outcome: Outcome::Met,
                        at: t,
                    });
                }
                Mode::Stopped
            }
            (_, s) if pausing.contains(&s) => Mode::Paused,
            _ => Mode::Running,
        };
    }
    if now > last {
        advance(&mut clock, mode, last, now, calendar);
    }
    clock.running = mode == Mode::Running;
    clock.mode = mode;
    clock
}

/// Moves the clock from `from` to `to` in `mode`, counting only the calendar's working time,
/// and deciding a breach at the instant the counted time passes the target.
fn advance(clock: &mut Clock, mode: Mode, from: Micros, to: Micros, calendar: &Calendar) {
    let span = calendar.working_between(from, to);
    let instant_after = |amount: Micros| calendar.add_working(from, amount).unwrap_or(to);
    match mode {
        Mode::Running => {
            for (i, fraction) in WARNING_FRACTIONS.iter().enumerate() {
                let at = (clock.target as f64 * fraction).round() as Micros;
                if clock.warnings[i].is_none()
                    && clock.decided.is_none()
                    && clock.elapsed + span >= at
                    && clock.elapsed < at
                {
                    clock.warnings[i] = Some(instant_after(at - clock.elapsed));
                }
            }
            let cycle_open = clock.cycle > 0 && clock.cycle_breaches.len() < clock.cycle as usize;
            if cycle_open && clock.elapsed + span > clock.target {
                let at = instant_after(clock.target - clock.elapsed);
                clock.cycle_breaches.push(at);
            }
            if clock.decided.is_none() && clock.elapsed + span > clock.target {
                let at = instant_after(clock.target - clock.elapsed);
                clock.decided = Some(Decided {
                    outcome: Outcome::Breached,
                    at,
                });
            }
            clock.elapsed += span;
        }
        Mode::Paused => clock.paused += span,
        Mode::Stopped => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MICROS_PER_SECOND;
    use TicketStatus::*;

    const MIN: Micros = 60 * MICROS_PER_SECOND;
    const HOUR: Micros = 60 * MIN;
    const PAUSING: [TicketStatus; 2] = [OnHold, AwaitingCustomer];

    fn always() -> Calendar {
        Calendar::always()
    }

    fn at(minutes: i64) -> Micros {
        minutes * MIN
    }

    #[test]
    fn response_stops_at_first_acknowledgement() {
        let h = [(at(0), New), (at(10), Acknowledged), (at(30), InProgress)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(60)).unwrap();
        assert_eq!(c.response.elapsed, 10 * MIN);
        assert_eq!(
            c.response.decided,
            Some(Decided {
                outcome: Outcome::Met,
                at: at(10)
            })
        );
        assert!(!c.response.running);
    }

    #[test]
    fn a_running_clock_breaches_the_moment_it_passes_its_target() {
        let h = [(at(0), New)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(20)).unwrap();
        assert_eq!(
            c.response.decided,
            Some(Decided {
                outcome: Outcome::Breached,
                at: at(15)
            })
        );
        assert_eq!(c.resolution.decided, None, "resolution still in flight");
        assert!(c.resolution.running);
    }

    #[test]
    fn stopping_exactly_at_the_target_is_met() {
        let h = [(at(0), New), (at(15), Acknowledged)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(20)).unwrap();
        assert_eq!(c.response.decided.unwrap().outcome, Outcome::Met);
    }

    #[test]
    fn paused_time_is_not_counted() {
        // 1h working, 3h awaiting customer, 1h working, resolved: 2h counted against 4h.
        let h = [
            (at(0), New),
            (at(60), AwaitingCustomer),
            (at(240), InProgress),
            (at(300), Resolved),
        ];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(600)).unwrap();
        assert_eq!(c.resolution.elapsed, 2 * HOUR);
        assert_eq!(c.resolution.paused, 3 * HOUR);
        assert_eq!(
            c.resolution.decided,
            Some(Decided {
                outcome: Outcome::Met,
                at: at(300)
            })
        );
    }

    #[test]
    fn paused_plus_counted_is_elapsed_wall_time_while_open() {
        let h = [(at(0), New), (at(30), OnHold), (at(90), InProgress)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(120)).unwrap();
        assert_eq!(c.resolution.elapsed + c.resolution.paused, 120 * MIN);
    }

    #[test]
    fn reopened_resumes_the_resolution_clock_but_keeps_the_first_outcome() {
        let h = [
            (at(0), New),
            (at(60), Resolved),
            (at(120), Reopened),
            (at(400), Resolved),
        ];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(500)).unwrap();
        // 60 + 280 = 340 minutes counted: past the target, but the met outcome came first.
        assert_eq!(c.resolution.elapsed, 340 * MIN);
        assert_eq!(
            c.resolution.decided,
            Some(Decided {
                outcome: Outcome::Met,
                at: at(60)
            })
        );
    }

    #[test]
    fn a_restart_policy_starts_a_new_cycle_on_reopen() {
        // Met after 1h; reopened at 2h; the new cycle runs out its 4h at 6h.
        let h = [
            (at(0), New),
            (at(60), Resolved),
            (at(120), Reopened),
            (at(480), Resolved),
        ];
        let c = evaluate_with(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), true, at(500)).unwrap();
        assert_eq!(
            c.resolution.decided,
            Some(Decided {
                outcome: Outcome::Met,
                at: at(60)
            })
        );
        assert_eq!(c.resolution.cycle, 1);
        assert_eq!(c.resolution.cycle_breaches, [at(360)]);
        assert_eq!(c.resolution.elapsed, 360 * MIN, "counted in the new cycle");
    }

    #[test]
    fn a_late_resolution_is_a_breach_at_the_target_instant() {
        let h = [(at(0), New), (at(5), Acknowledged), (at(300), Resolved)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(300)).unwrap();
        assert_eq!(
            c.resolution.decided,
            Some(Decided {
                outcome: Outcome::Breached,
                at: at(240)
            })
        );
        assert_eq!(c.resolution.elapsed, 300 * MIN);
    }

    #[test]
    fn cancelled_tickets_stop_both_clocks() {
        let h = [(at(0), New), (at(5), Cancelled)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(600)).unwrap();
        assert!(c.cancelled);
        assert_eq!(c.resolution.elapsed, 5 * MIN);
        assert_eq!(c.resolution.decided, None);
    }

    #[test]
    fn warnings_mark_half_three_quarters_and_ninety_percent() {
        // 4h target, paused from 1h to 2h: 50% (2h counted) is reached at 3h wall time.
        let h = [(at(0), New), (at(60), OnHold), (at(120), InProgress)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(400)).unwrap();
        assert_eq!(
            c.resolution.warnings,
            [Some(at(180)), Some(at(240)), Some(at(120 + 156))]
        );
        // A clock that stopped early warns only for the thresholds it reached.
        let h = [(at(0), New), (at(10), Acknowledged)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(400)).unwrap();
        assert_eq!(
            c.response.warnings,
            [Some(at(0) + 450 * MICROS_PER_SECOND), None, None]
        );
    }

    #[test]
    fn business_time_counts_only_working_hours() {
        // Mon–Fri 08:00–17:00 Berlin. Created Friday 2026-11-27 16:00 CET with a 4h target: 1h
        // on Friday, 3h on Monday → breach Monday 11:00 CET (10:00 UTC).
        let day = vec![(8 * 3600, 17 * 3600)];
        let week = [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            vec![],
            vec![],
        ];
        let office = Calendar::business(chrono_tz::Europe::Berlin, week, Default::default());
        let t = |s| crate::model::parse_rfc3339(s).unwrap();
        let h = [(t("2026-11-27T15:00:00Z"), New)];
        let c = evaluate(
            &h,
            HOUR,
            4 * HOUR,
            &PAUSING,
            &office,
            t("2026-11-30T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            c.resolution.decided,
            Some(Decided {
                outcome: Outcome::Breached,
                at: t("2026-11-30T10:00:00Z")
            })
        );
        assert_eq!(
            c.response.decided.unwrap().at,
            t("2026-11-27T16:00:00Z"),
            "1h response ends Friday 17:00 CET"
        );
        // By Monday 13:00 CET: 1h on Friday + 5h on Monday.
        assert_eq!(c.resolution.elapsed, 6 * HOUR);
    }

    #[test]
    fn the_policy_decides_which_statuses_pause() {
        let h = [(at(0), New), (at(60), OnHold), (at(120), InProgress)];
        let c = evaluate(
            &h,
            15 * MIN,
            4 * HOUR,
            &[AwaitingCustomer],
            &always(),
            at(180),
        )
        .unwrap();
        assert_eq!((c.resolution.elapsed, c.resolution.paused), (180 * MIN, 0));
        assert_eq!(c.resolution.mode, Mode::Running);
    }

    #[test]
    fn an_empty_history_has_no_clock() {
        assert_eq!(evaluate(&[], MIN, MIN, &PAUSING, &always(), 0), None);
    }
}
