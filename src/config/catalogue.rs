//! The service catalogue (`catalogue.toml`): services, components with capacities, dependencies,
//! availability SLOs and ticket SLA policies.

use super::calendar::{CalendarConfig, parse_ics_holidays, parse_span, weekday_index};
use super::error::{ConfigError, read_toml};
use crate::model::{TicketStatus, TicketType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(rename = "service", default)]
    pub services: Vec<Service>,
    #[serde(rename = "ticket_policy", default)]
    pub ticket_policies: Vec<TicketPolicy>,
    /// Business calendars that ticket policies can name.
    #[serde(rename = "calendar", default)]
    pub calendars: Vec<CalendarConfig>,
    /// When a ticket's priority changes, take the targets of the new priority, counted from
    /// creation (default: the priority at creation decides).
    #[serde(default)]
    pub retarget_on_priority_change: bool,
}

fn utc() -> String {
    "UTC".into()
}

/// Which kind of agreement a service's targets belong to (ISO/IEC 20000-1 8.3.3 / 8.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agreement {
    /// Service level agreement with a customer.
    #[default]
    Sla,
    /// Operational level agreement with an internal supplier.
    Ola,
    /// Underpinning contract with an external supplier.
    Uc,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub agreement: Agreement,
    /// IANA time zone in which the service's calendar windows (months, quarters) start.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Ids of services this one depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(rename = "component", default)]
    pub components: Vec<Component>,
    #[serde(rename = "slo", default)]
    pub slos: Vec<Slo>,
    /// Maintenance windows agreed with the customer, excluded from availability (approved
    /// changes with `outage: true` add more at run time).
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub id: String,
    /// The metric that measures this component's use of its resource (e.g. `cpu_utilization`).
    pub resource: String,
    /// Capacity in the metric's units.
    pub capacity: f64,
    /// Use at or above which capacity is at risk, in the same units.
    pub threshold: f64,
    #[serde(default)]
    pub unit: Option<String>,
    /// Step of the series the forecast is fitted on: `"1h"` (default) or `"1d"`.
    #[serde(default = "default_series_step", with = "super::duration")]
    pub series_step: std::time::Duration,
    /// How samples within a step are combined: `mean` (default) or `max` (plan for peaks).
    #[serde(default)]
    pub aggregate: Aggregate,
}

fn default_series_step() -> std::time::Duration {
    std::time::Duration::from_secs(3600)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    #[default]
    Mean,
    Max,
}

impl Aggregate {
    /// The SQL aggregate function.
    pub fn sql(self) -> &'static str {
        match self {
            Aggregate::Mean => "avg",
            Aggregate::Max => "max",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub id: String,
    /// Target attainment as a fraction, e.g. 0.999.
    pub target: f64,
    /// Reporting windows; the first one is the SLA period used for budget breaches.
    #[serde(default = "default_windows")]
    pub windows: Vec<SloWindow>,
    pub sli: Sli,
    #[serde(default)]
    pub description: Option<String>,
}

fn default_windows() -> Vec<SloWindow> {
    vec![SloWindow::CalendarMonth, SloWindow::RollingDays(30)]
}

/// How availability is measured.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sli {
    /// A probe metric (1 = up) judged per timeslice: a slice is good when every sample in it is
    /// up, bad when any is down.
    Probe {
        metric: String,
        #[serde(with = "super::duration")]
        timeslice: Duration,
        #[serde(default)]
        missing: MissingPolicy,
        /// How the budget is counted: in timeslices (good time over eligible time, the
        /// default) or in occurrences (probes up over all probes, like a ratio).
        #[serde(default)]
        budgeting: Budgeting,
    },
    /// A ratio of two delta counts, e.g. `requests_good / requests_total`.
    Ratio { good: String, total: String },
}

/// How a probe SLI's budget is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Budgeting {
    /// Good timeslices over eligible timeslices.
    #[default]
    Timeslices,
    /// Probes that saw the service up over all probes.
    Occurrences,
}

/// What a timeslice with no probe samples counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Left out of the denominator (and reported as `no_data`).
    #[default]
    Exclude,
    /// Counted as good.
    Good,
    /// Counted as bad.
    Bad,
}

/// A reporting window of an SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum SloWindow {
    CalendarMonth,
    CalendarQuarter,
    RollingDays(u32),
}

impl TryFrom<String> for SloWindow {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text == "month" {
            return Ok(SloWindow::CalendarMonth);
        }
        if text == "quarter" {
            return Ok(SloWindow::CalendarQuarter);
        }
        if let Some(days) = text
            .strip_prefix("rolling:")
            .and_then(|d| d.strip_suffix('d'))
            && let Ok(n) = days.parse::<u32>()
            && (1..=400).contains(&n)
        {
            return Ok(SloWindow::RollingDays(n));
        }
        Err(format!(
            "`{text}` is not a window; write \"month\", \"quarter\" or \"rolling:30d\" (1 to 400 days)"
        ))
    }
}

impl From<SloWindow> for String {
    fn from(w: SloWindow) -> String {
        match w {
            SloWindow::CalendarMonth => "month".into(),
            SloWindow::CalendarQuarter => "quarter".into(),
            SloWindow::RollingDays(n) => format!("rolling:{n}d"),
        }
    }
}

/// Response and resolution targets for one ticket type and priority, counted on a 24x7 clock.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPolicy {
    #[serde(rename = "type")]
    pub ticket_type: TicketType,
    pub priority: String,
    #[serde(with = "super::duration")]
    pub response: Duration,
    #[serde(with = "super::duration")]
    pub resolution: Duration,
    /// Statuses in which the resolution clock stands still.
    #[serde(default = "default_pausing")]
    pub pausing: Vec<TicketStatus>,
    /// The business calendar the clocks count on (default: 24x7).
    #[serde(default)]
    pub calendar: Option<String>,
    /// What `reopened` does to the resolution clock: `resume` (default) or `restart`.
    #[serde(default)]
    pub on_reopen: OnReopen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnReopen {
    /// Counting continues where the clock stopped.
    #[default]
    Resume,
    /// A new cycle starts from zero; its breach is recorded as a breach of its own.
    Restart,
}

fn default_pausing() -> Vec<TicketStatus> {
    vec![TicketStatus::OnHold, TicketStatus::AwaitingCustomer]
}

/// A planned maintenance window excluded from the service's availability.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339, after `start`.
    pub end: String,
    /// Why (e.g. the change reference), shown with the exclusion.
    pub reason: String,
}

impl Maintenance {
    /// The window as UTC microseconds (validated at load).
    pub fn interval(&self) -> Option<(i64, i64)> {
        let start = crate::model::parse_rfc3339(&self.start)?;
        let end = crate::model::parse_rfc3339(&self.end)?;
        (start < end).then_some((start, end))
    }
}

impl Catalogue {
    pub fn load(file: &Path) -> Result<Catalogue, ConfigError> {
        let mut catalogue: Catalogue = read_toml(file)?;
        let base = file.parent().unwrap_or(Path::new("."));
        for (i, c) in catalogue.calendars.iter_mut().enumerate() {
            let Some(ics) = &c.holidays_ics else { continue };
            let path = base.join(ics);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::invalid(
                    file,
                    format!("calendar[{i}].holidays_ics"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            c.ics_dates = parse_ics_holidays(&text).map_err(|e| {
                ConfigError::invalid(
                    file,
                    format!("calendar[{i}].holidays_ics"),
                    format!("{}: {e}", path.display()),
                )
            })?;
        }
        catalogue.validate(file)?;
        Ok(catalogue)
    }

    pub fn calendar(&self, id: &str) -> Option<&CalendarConfig> {
        self.calendars.iter().find(|c| c.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The time zone of a service's calendar windows (UTC when unknown).
    pub fn time_zone(&self, service: &str) -> chrono_tz::Tz {
        self.service(service)
            .and_then(|s| s.time_zone.parse().ok())
            .unwrap_or(chrono_tz::Tz::UTC)
    }

    pub fn policy(&self, ticket_type: TicketType, priority: &str) -> Option<&TicketPolicy> {
        self.ticket_policies
            .iter()
            .find(|p| p.ticket_type == ticket_type && p.priority == priority)
    }

    /// Cross-field rules that a type cannot express.
    pub fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let bad = |key: String, problem: String| Err(ConfigError::invalid(file, key, problem));
        if self.services.is_empty() {
            return bad("service".into(), "the catalogue defines no service".into());
        }
        let ids: HashSet<&str> = self.services.iter().map(|s| s.id.as_str()).collect();
        let mut seen = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = format!("service[{i}]");
            if !valid_id(&s.id) {
                return bad(
                    format!("{at}.id"),
                    format!(
                        "`{}` must be non-empty letters, digits, '-', '_' or '.'",
                        s.id
                    ),
                );
            }
            if !seen.insert(s.id.as_str()) {
                return bad(
                    format!("{at}.id"),
                    format!("service `{}` is defined twice", s.id),
                );
            }
            for (j, dep) in s.depends_on.iter().enumerate() {
                if !ids.contains(dep.as_str()) {
                    return bad(
                        format!("{at}.depends_on[{j}]"),
                        format!("no service `{dep}` in the catalogue"),
                    );
                }
                if dep == &s.id {
                    return bad(
                        format!("{at}.depends_on[{j}]"),
                        "a service cannot depend on itself".into(),
                    );
                }
            }
            if s.time_zone.parse::<chrono_tz::Tz>().is_err() {
                return bad(
                    format!("{at}.time_zone"),
                    format!(
                        "`{}` is not an IANA time zone (e.g. \"Europe/Berlin\")",
                        s.time_zone
                    ),
                );
            }
            let mut components = HashSet::new();
            for (j, c) in s.components.iter().enumerate() {
                let at = format!("{at}.component[{j}]");
                if !components.insert(c.id.as_str()) {
                    return bad(
                        format!("{at}.id"),
                        format!("component `{}` is defined twice", c.id),
                    );
                }
                if !(c.capacity.is_finite() && c.capacity > 0.0) {
                    return bad(
                        format!("{at}.capacity"),
                        format!("{} must be a positive number", c.capacity),
                    );
                }
                if !(c.threshold.is_finite() && c.threshold > 0.0 && c.threshold <= c.capacity) {
                    return bad(
                        format!("{at}.threshold"),
                        format!(
                            "{} must be positive and at most the capacity {}",
                            c.threshold, c.capacity
                        ),
                    );
                }
                let step = c.series_step.as_secs();
                if c.series_step.subsec_nanos() != 0 || step < 60 || 86_400 % step != 0 {
                    return bad(
                        format!("{at}.series_step"),
                        "must be whole minutes that divide a day, e.g. \"1h\" or \"1d\"".into(),
                    );
                }
            }
            for (j, m) in s.maintenance.iter().enumerate() {
                if m.interval().is_none() {
                    return bad(
                        format!("{at}.maintenance[{j}]"),
                        format!(
                            "`{}` to `{}` is not an RFC 3339 start before an RFC 3339 end",
                            m.start, m.end
                        ),
                    );
                }
            }
            let mut slos = HashSet::new();
            for (j, o) in s.slos.iter().enumerate() {
                let at = format!("{at}.slo[{j}]");
                if !slos.insert(o.id.as_str()) {
                    return bad(
                        format!("{at}.id"),
                        format!("SLO `{}` is defined twice", o.id),
                    );
                }
                if !(o.target > 0.0 && o.target < 1.0) {
                    return bad(
                        format!("{at}.target"),
                        format!(
                            "{} must be a fraction strictly between 0 and 1 (e.g. 0.999)",
                            o.target
                        ),
                    );
                }
                if o.windows.is_empty() {
                    return bad(format!("{at}.windows"), "list at least one window".into());
                }
                if let Sli::Probe { timeslice, .. } = &o.sli {
                    let secs = timeslice.as_secs();
                    if secs == 0 || timeslice.subsec_nanos() != 0 || 86_400 % secs != 0 {
                        return bad(
                            format!("{at}.sli.timeslice"),
                            "must be whole seconds that divide a day (e.g. \"1m\", \"5m\")".into(),
                        );
                    }
                }
                if let Sli::Ratio { good, total } = &o.sli
                    && good == total
                {
                    return bad(
                        format!("{at}.sli.good"),
                        "good and total must be different metrics".into(),
                    );
                }
            }
        }
        let mut calendars = HashSet::new();
        for (i, c) in self.calendars.iter().enumerate() {
            let at = format!("calendar[{i}]");
            if !calendars.insert(c.id.as_str()) {
                return bad(
                    format!("{at}.id"),
                    format!("calendar `{}` is defined twice", c.id),
                );
            }
            if c.time_zone.parse::<chrono_tz::Tz>().is_err() {
                return bad(
                    format!("{at}.time_zone"),
                    format!(
                        "`{}` is not an IANA time zone (e.g. \"Europe/Berlin\")",
                        c.time_zone
                    ),
                );
            }
            for (day, spans) in &c.hours {
                if weekday_index(day).is_none() {
                    return bad(
                        format!("{at}.hours.{day}"),
                        "days are mon, tue, wed, thu, fri, sat, sun".into(),
                    );
                }
                for span in spans {
                    if parse_span(span).is_none() {
                        return bad(
                            format!("{at}.hours.{day}"),
                            format!("`{span}` is not a span like \"08:00-17:00\""),
                        );
                    }
                }
            }
            if c.hours.values().all(Vec::is_empty) {
                return bad(
                    format!("{at}.hours"),
                    "a calendar needs working hours on at least one day".into(),
                );
            }
            for (j, d) in c.holidays.iter().enumerate() {
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    return bad(
                        format!("{at}.holidays[{j}]"),
                        format!("`{d}` is not a date YYYY-MM-DD"),
                    );
                }
            }
        }
        let mut policies = BTreeMap::new();
        for (i, p) in self.ticket_policies.iter().enumerate() {
            let at = format!("ticket_policy[{i}]");
            if policies
                .insert((p.ticket_type, p.priority.clone()), i)
                .is_some()
            {
                return bad(
                    at,
                    format!(
                        "a second policy for {} {}",
                        p.ticket_type.as_str(),
                        p.priority
                    ),
                );
            }
            if p.response.is_zero() {
                return bad(format!("{at}.response"), "must be longer than zero".into());
            }
            if let Some(s) = p.pausing.iter().find(|s| {
                s.responds()
                    || matches!(
                        s,
                        TicketStatus::Reopened | TicketStatus::New | TicketStatus::Cancelled
                    )
            }) {
                return bad(
                    format!("{at}.pausing"),
                    format!("`{}` cannot pause a clock", s.as_str()),
                );
            }
            if let Some(calendar) = &p.calendar
                && self.calendar(calendar).is_none()
            {
                return bad(
                    format!("{at}.calendar"),
                    format!("no calendar `{calendar}` in the catalogue"),
                );
            }
            if p.resolution < p.response {
                return bad(
                    format!("{at}.resolution"),
                    "must not be shorter than the response target".into(),
                );
            }
        }
        Ok(())
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
