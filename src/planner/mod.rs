//! The I/O shell around [`crate::forecast`]: loads series from the history, fits them off the
//! async workers, keeps the latest fit (the "book") for the API, builds capacity plans, and
//! writes every fit to the `forecasts` and `capacity_plans` tables.

pub mod cli;
pub mod sources;

use crate::config::{Component, Config};
use crate::forecast::document::{GrowthDocument, SeriesKey};
use crate::forecast::plan::{apply_growth, plan};
use crate::forecast::{Forecast, ForecastDocument, ForecastOptions, PlanDocument, Series};
use crate::model::{Micros, format_rfc3339, micros_of};
use crate::store::{HistoryQuery, HistoryStore, StoreError, fit_files};
use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// One fitted series.
#[derive(Debug, Clone)]
pub struct Entry {
    pub series: Series,
    pub forecast: Forecast,
    pub document: ForecastDocument,
    /// The catalogue component the series measures (none for ticket arrivals).
    pub component: Option<Component>,
}

/// A series that could not be forecast, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub service: Option<String>,
    pub component: Option<String>,
    pub metric: Option<String>,
    pub reason: String,
}

/// The latest fit of every series.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub fitted_at: Option<Micros>,
    pub entries: BTreeMap<SeriesKey, Entry>,
    pub failures: Vec<Failure>,
}

/// What a refit did.
#[derive(Debug, Clone, Serialize)]
pub struct RefitSummary {
    pub fitted_at: String,
    pub series: usize,
    pub plans: usize,
    pub failures: Vec<Failure>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the forecasts table: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("the fit task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A what-if for plans: demand grows by `rate` from `from` on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    pub rate: f64,
    pub from: Micros,
}

#[derive(Clone)]
pub struct Planner {
    config: Arc<Config>,
    history: HistoryQuery,
    /// Where fits are written; `None` for a read-only planner (the CLI next to a running
    /// instance).
    store: Option<HistoryStore>,
    book: Arc<RwLock<Arc<Book>>>,
    refitting: Arc<tokio::sync::Mutex<()>>,
}

impl Planner {
    pub fn new(config: Arc<Config>, history: HistoryQuery, store: Option<HistoryStore>) -> Self {
        Planner {
            config,
            history,
            store,
            book: Arc::new(RwLock::new(Arc::new(Book::default()))),
            refitting: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The latest fit (empty before the first).
    pub fn book(&self) -> Arc<Book> {
        self.book.read().map(|b| b.clone()).unwrap_or_default()
    }

    /// The newest metric or ticket time in the history: fits look back from there, so a
    /// replayed or imported history forecasts from its own end, not from today.
    async fn history_end(&self) -> Result<Option<Micros>, StoreError> {
        let sql = "SELECT max(t) FROM (SELECT max(time) AS t FROM metrics \
                   UNION ALL SELECT max(time) AS t FROM ticket_events)";
        let batches = self.history.run_batches(sql.to_string()).await?;
        let micros =
            arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None);
        for b in &batches {
            let column = arrow::compute::cast(b.column(0), &micros)?;
            let a = column.as_primitive::<TimestampMicrosecondType>();
            if b.num_rows() > 0 && !arrow::array::Array::is_null(a, 0) {
                return Ok(Some(a.value(0)));
            }
        }
        Ok(None)
    }

    /// Loads every series, fits them (on blocking threads), writes the fit and replaces the
    /// book. Refits never overlap: a second caller waits for the first.
    pub async fn refit(&self) -> Result<RefitSummary, PlannerError> {
        let _guard = self.refitting.lock().await;
        let started = std::time::Instant::now();
        let fitted_at = chrono::Utc::now().timestamp_micros();
        let settings = self.config.settings.forecast.clone();
        let mut book = Book {
            fitted_at: Some(fitted_at),
            ..Book::default()
        };
        let Some(end) = self.history_end().await? else {
            self.publish(book);
            return Ok(self.summary(fitted_at, started));
        };
        let since = end - micros_of(settings.history);
        let mut work: Vec<(SeriesKey, Series, Option<Component>, usize)> = Vec::new();
        for service in &self.config.catalogue.services {
            for component in &service.components {
                let key = SeriesKey {
                    service: Some(service.id.clone()),
                    component: Some(component.id.clone()),
                    metric: Some(component.resource.clone()),
                };
                let step = micros_of(component.series_step).max(1);
                let horizon = (micros_of(settings.planning_horizon) / step).max(1) as usize;
                match sources::component_series(&self.history, &service.id, component, since).await
                {
                    Ok(Some(series)) => work.push((key, series, Some(component.clone()), horizon)),
                    Ok(None) => book
                        .failures
                        .push(failure(&key, "no samples in the history")),
                    Err(e) => book.failures.push(failure(&key, &e.to_string())),
                }
            }
        }
        let staffing_days = (settings.staffing_horizon.as_secs() / 86_400).max(1) as usize;
        match sources::arrival_series(&self.history, since).await {
            Ok(arrivals) => {
                for (key, series) in arrivals {
                    work.push((key, series, None, staffing_days));
                }
            }
            Err(e) => book
                .failures
                .push(failure(&SeriesKey::default(), &e.to_string())),
        }
        let options = ForecastOptions {
            interval: settings.interval,
            max_origins: settings.backtest_origins,
            ..ForecastOptions::default()
        };
        // Fitting is CPU work: keep it off the async workers.
        let fitted = tokio::task::spawn_blocking(move || {
            work.into_iter()
                .map(|(key, series, component, horizon)| {
                    let options = ForecastOptions {
                        horizon,
                        ..options.clone()
                    };
                    let result = crate::forecast::forecast(&series, &options);
                    (key, series, component, result)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        for (key, series, component, result) in fitted {
            match result {
                Ok(forecast) => {
                    let document = ForecastDocument::new(&key, &series, &forecast, fitted_at);
                    book.entries.insert(
                        key,
                        Entry {
                            series,
                            forecast,
                            document,
                            component,
                        },
                    );
                }
                Err(e) => book.failures.push(failure(&key, &e.to_string())),
            }
        }
        let plans = plans_of(&book, None, None, None);
        if let Some(store) = self.store.clone() {
            let documents: Vec<ForecastDocument> =
                book.entries.values().map(|e| e.document.clone()).collect();
            let plans = plans.clone();
            tokio::task::spawn_blocking(move || -> Result<(), PlannerError> {
                let refs: Vec<&ForecastDocument> = documents.iter().collect();
                store.write(&fit_files(fitted_at, &refs, &plans)?)?;
                Ok(())
            })
            .await??;
        }
        for f in &book.failures {
            tracing::warn!(service = ?f.service, component = ?f.component, metric = ?f.metric, reason = %f.reason, "no forecast");
        }
        self.publish(book);
        let summary = self.summary(fitted_at, started);
        tracing::info!(
            series = summary.series,
            plans = summary.plans,
            seconds = summary.seconds,
            "forecasts re-fitted"
        );
        Ok(summary)
    }

    fn publish(&self, book: Book) {
        if let Ok(mut slot) = self.book.write() {
            *slot = Arc::new(book);
        }
    }

    fn summary(&self, fitted_at: Micros, started: std::time::Instant) -> RefitSummary {
        let book = self.book();
        RefitSummary {
            fitted_at: format_rfc3339(fitted_at),
            series: book.entries.len(),
            plans: book
                .entries
                .values()
                .filter(|e| e.component.is_some())
                .count(),
            failures: book.failures.clone(),
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// Refits every `refit_every` until `stop` is set.
    pub async fn run_schedule(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = self.config.settings.forecast.refit_every;
        loop {
            if let Err(error) = self.refit().await {
                tracing::error!(%error, "forecast refit failed; the previous fit stays served");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

fn failure(key: &SeriesKey, reason: &str) -> Failure {
    Failure {
        service: key.service.clone(),
        component: key.component.clone(),
        metric: key.metric.clone(),
        reason: reason.to_string(),
    }
}

/// Capacity plans from the book, optionally for one service / component and with a growth
/// what-if.
pub fn plans_of(
    book: &Book,
    service: Option<&str>,
    component: Option<&str>,
    growth: Option<Growth>,
) -> Vec<PlanDocument> {
    let fitted_at = book.fitted_at.unwrap_or_default();
    book.entries
        .iter()
        .filter(|(key, _)| service.is_none_or(|s| key.service.as_deref() == Some(s)))
        .filter(|(key, _)| component.is_none_or(|c| key.component.as_deref() == Some(c)))
        .filter_map(|(key, entry)| {
            let c = entry.component.as_ref()?;
            let mut steps = entry.forecast.steps.clone();
            if let Some(g) = growth {
                apply_growth(&mut steps, g.rate, g.from);
            }
            let last = entry.series.values.len().checked_sub(1)?;
            let now = entry.series.time(last);
            let p = plan(
                c.capacity,
                c.threshold,
                entry.series.values[last],
                now,
                &steps,
            );
            Some(PlanDocument {
                service: key.service.clone()?,
                component: c.id.clone(),
                resource: c.resource.clone(),
                unit: c.unit.clone(),
                capacity: c.capacity,
                threshold: c.threshold,
                current: p.current,
                current_at: format_rfc3339(now),
                model: entry.document.model.clone(),
                candidate: entry.document.candidate.clone(),
                exhaustion: PlanDocument::exhaustion(&p),
                headroom: p.headroom,
                recommended_capacity: p.recommended_capacity,
                risk: p.risk,
                horizon_end: format_rfc3339(steps.last().map_or(now, |s| s.time)),
                accuracy: entry.forecast.accuracy,
                benchmark: entry.document.benchmark.clone(),
                candidates: entry.document.candidates.clone(),
                fitted_at: format_rfc3339(fitted_at),
                growth: growth.map(|g| GrowthDocument {
                    rate: g.rate,
                    from: format_rfc3339(g.from),
                }),
            })
        })
        .collect()
}
