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
//! * A clock breaches at the instant its counted time *passes* the target: on a business
//!   calendar, a target used up exactly at the end of a working span breaches when counting
//!   resumes (13:00 after lunch, Monday 08:00 after a Friday), not at the span's end.
//! * A decision records the counted time at its instant: the time at the stop for a met clock,
//!   the target for a breached one. So a decided clock's figures do not depend on when (or in
//!   what batches) it was evaluated.
//! * A cancelled ticket stops both clocks. Decisions and warnings made before the cancellation
//!   stand; a clock still undecided at the cancellation leaves the statistics.
//!
//! Recomputing from the whole (sorted) history each time keeps the result independent of the
//! order in which events arrived.

use super::calendar::Calendar;
use crate::model::{Micros, TicketStatus};
use serde::Serialize;

/// Fractions of the target at which a running clock raises a warning.
pub const WARNING_FRACTIONS: [f64; 3] = [0.5, 0.75, 0.9];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Met,
    Breached,
}

/// The final outcome of a clock, the event-time instant it became known, and the counted
/// time at that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Decided {
    pub outcome: Outcome,
    pub at: Micros,
    /// Counted time at `at`: the stop's for a met clock, the target for a breached one.
    pub elapsed: Micros,
}

/// What a clock is doing at the evaluation instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Running,
    Paused,
    Stopped,
}

/// One clock (response or resolution) at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TicketClocks {
    pub created: Micros,
    pub cancelled: bool,
    /// When the ticket was (first) cancelled.
    pub cancelled_at: Option<Micros>,
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
    let cancelled_at = history
        .iter()
        .find(|(_, s)| *s == TicketStatus::Cancelled)
        .map(|(t, _)| *t);
    Some(TicketClocks {
        created,
        cancelled: cancelled_at.is_some(),
        cancelled_at,
        response,
        resolution,
    })
}

impl TicketClocks {
    /// True when something that happened at `at` counts: before the cancellation, if any.
    pub fn counts_at(&self, at: Micros) -> bool {
        self.cancelled_at.is_none_or(|c| at < c)
    }
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
                        elapsed: clock.elapsed,
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
    let reached = |amount: Micros| calendar.add_working(from, amount).unwrap_or(to);
    let passed = |amount: Micros| calendar.instant_past(from, amount).unwrap_or(to);
    match mode {
        Mode::Running => {
            for (i, fraction) in WARNING_FRACTIONS.iter().enumerate() {
                let at = (clock.target as f64 * fraction).round() as Micros;
                if clock.warnings[i].is_none()
                    && clock.decided.is_none()
                    && clock.elapsed + span >= at
                    && clock.elapsed < at
                {
                    clock.warnings[i] = Some(reached(at - clock.elapsed));
                }
            }
            let cycle_open = clock.cycle > 0 && clock.cycle_breaches.len() < clock.cycle as usize;
            if cycle_open && clock.elapsed + span > clock.target {
                let at = passed(clock.target - clock.elapsed);
                clock.cycle_breaches.push(at);
            }
            if clock.decided.is_none() && clock.elapsed + span > clock.target {
                let at = passed(clock.target - clock.elapsed);
                clock.decided = Some(Decided {
                    outcome: Outcome::Breached,
                    at,
                    elapsed: clock.target,
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
                at: at(10),
                elapsed: 10 * MIN,
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
                at: at(15),
                elapsed: 15 * MIN,
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
                at: at(300),
                elapsed: 2 * HOUR,
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
                at: at(60),
                elapsed: 60 * MIN,
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
                at: at(60),
                elapsed: 60 * MIN,
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
                at: at(240),
                elapsed: 4 * HOUR,
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
                at: t("2026-11-30T10:00:00Z"),
                elapsed: 4 * HOUR,
            })
        );
        assert_eq!(
            c.response.decided.unwrap().at,
            t("2026-11-30T07:00:00Z"),
            "the 1h response is used up at Friday 17:00 CET and passed when counting resumes, Monday 08:00 CET"
        );
        // By Monday 13:00 CET: 1h on Friday + 5h on Monday.
        assert_eq!(c.resolution.elapsed, 6 * HOUR);
    }

    /// Mon–Fri 08:00–12:00 and 13:00–18:00 Berlin; 2026-12-24 a holiday.
    fn office() -> Calendar {
        crate::sla::calendar::test_office(
            18,
            chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
        )
    }

    fn t(text: &str) -> Micros {
        crate::model::parse_rfc3339(text).unwrap()
    }

    /// The response breach instant of a ticket created at `created` with a `target` response,
    /// evaluated well after.
    fn response_breach(created: &str, target: Micros) -> Micros {
        let h = [(t(created), New)];
        let c = evaluate(
            &h,
            target,
            100 * HOUR,
            &PAUSING,
            &office(),
            t(created) + 400 * HOUR,
        );
        let decided = c.unwrap().response.decided.unwrap();
        assert_eq!(decided.outcome, Outcome::Breached);
        assert_eq!(
            decided.elapsed, target,
            "a breach records its target as counted"
        );
        decided.at
    }

    #[test]
    fn a_target_used_up_at_lunch_breaches_when_counting_resumes_after_lunch() {
        // Created 11:45 CET, 15 minutes: used up at 12:00, passed at 13:00 CET (12:00Z).
        assert_eq!(
            response_breach("2026-11-25T10:45:00Z", 15 * MIN),
            t("2026-11-25T12:00:00Z")
        );
    }

    #[test]
    fn a_target_used_up_on_friday_evening_breaches_on_monday_morning() {
        // The auditor's case: Friday 2026-10-30 17:45 CET, 15 minutes: used up at 18:00 CET,
        // passed Monday 2 November 08:00 CET (07:00Z), a November breach.
        assert_eq!(
            response_breach("2026-10-30T16:45:00Z", 15 * MIN),
            t("2026-11-02T07:00:00Z")
        );
    }

    #[test]
    fn a_target_used_up_on_a_working_evening_breaches_the_next_morning() {
        // Tuesday 17:00 CET, 1 hour: used up 18:00, passed Wednesday 08:00 CET.
        assert_eq!(
            response_breach("2026-11-24T16:00:00Z", HOUR),
            t("2026-11-25T07:00:00Z")
        );
    }

    #[test]
    fn a_target_used_up_before_a_holiday_breaches_after_it() {
        // Wednesday 2026-12-23 17:30 CET, 30 minutes: used up 18:00; Thursday 24 is a holiday;
        // passed Friday 25 08:00 CET.
        assert_eq!(
            response_breach("2026-12-23T16:30:00Z", 30 * MIN),
            t("2026-12-25T07:00:00Z")
        );
    }

    #[test]
    fn a_target_used_up_before_a_dst_change_breaches_at_local_opening_time() {
        // Friday 2026-10-23 17:00 CEST (15:00Z), 1 hour: used up 18:00 CEST; the clocks go back
        // on Sunday 25 October, so Monday 08:00 is CET: 07:00Z.
        assert_eq!(
            response_breach("2026-10-23T15:00:00Z", HOUR),
            t("2026-10-26T07:00:00Z")
        );
    }

    #[test]
    fn a_target_passed_inside_a_span_breaches_at_once() {
        // Created 09:00 CET, 15 minutes: passed at 09:15 CET.
        assert_eq!(
            response_breach("2026-11-25T08:00:00Z", 15 * MIN),
            t("2026-11-25T08:15:00Z")
        );
    }

    #[test]
    fn decisions_before_a_cancellation_stand() {
        // Response breached at 15 minutes; cancelled at 30: the breach counts, the resolution
        // clock (undecided at the cancellation) leaves the statistics.
        let h = [(at(0), New), (at(30), Cancelled)];
        let c = evaluate(&h, 15 * MIN, 4 * HOUR, &PAUSING, &always(), at(600)).unwrap();
        let breach = c.response.decided.unwrap();
        assert!(c.counts_at(breach.at));
        assert_eq!(c.resolution.decided, None);
        assert!(
            !c.counts_at(at(30)),
            "nothing at or after the cancellation counts"
        );
    }

    #[test]
    fn a_met_clock_keeps_the_time_counted_at_its_stop() {
        // Resolved at 1h, reopened and resolved again at 5h: the outcome's time is 1h, whenever
        // it is evaluated.
        let h = [
            (at(0), New),
            (at(60), Resolved),
            (at(120), Reopened),
            (at(300), Resolved),
        ];
        for now in [at(61), at(200), at(900)] {
            let known = h.partition_point(|e| e.0 <= now);
            let c = evaluate(&h[..known], 15 * MIN, 4 * HOUR, &PAUSING, &always(), now).unwrap();
            assert_eq!(c.resolution.decided.unwrap().elapsed, HOUR);
        }
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
