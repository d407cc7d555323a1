//! Wiring: builds the shared state, starts the pipeline and the API, and stops both on one
//! shutdown signal.

use crate::alert::AlertSink;
use crate::alert::register::Register;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::{Pipeline, PipelineError, PipelineHandles};
use crate::planner::Planner;
use crate::sla::SlaEngine;
use crate::store::{HistoryQuery, UserQueries};
use crate::telemetry::Counters;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("history: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("API server: {0}")]
    Serve(std::io::Error),
    #[error("alerts: {0}")]
    Alerts(std::io::Error),
    #[error("api.tls: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Lock(#[from] crate::store::LockError),
    #[error("the history's writer lease was lost (taken over, or not renewable): stopped writing")]
    WriterLost,
}

/// A running slacap: the pipeline task, the API task, and the switch that stops them.
pub struct Running {
    pub state: AppState,
    pub api_addr: SocketAddr,
    /// True when the API serves HTTPS.
    pub api_tls: bool,
    shutdown: watch::Sender<bool>,
    pipeline: JoinHandle<Result<(), PipelineError>>,
    api: JoinHandle<std::io::Result<()>>,
    /// Forecast refits, webhook senders, the overdue-review check.
    background: Vec<JoinHandle<()>>,
    /// The history's writer lock, held until the pipeline has stopped.
    writer: crate::store::WriterLock,
}

/// Starts the pipeline and the API for `config`.
pub async fn start(config: Arc<Config>) -> Result<Running, AppError> {
    let data_dir = &config.settings.data_dir;
    // First, before anything of the history or the instance's folder is touched. Blocking like
    // the history's opening below: a syscall locally, a few requests for a lease in S3.
    let writer = config
        .settings
        .history_location()
        .lock_writer(data_dir, "run")?;
    let alerts = AlertSink::open(data_dir, &config.settings.alerts).map_err(AppError::Alerts)?;
    let register = Register::open(data_dir).map_err(AppError::Alerts)?;
    // The journal is the record; restore any table copy a crash left unwritten.
    crate::api::reviews::write_review_files(
        &crate::store::HistoryStore::reader_for(&config.settings),
        register.entries(),
    )?;
    let reviews = Arc::new(std::sync::Mutex::new(register));
    let handles = PipelineHandles {
        engine: Arc::new(RwLock::new(SlaEngine::new(
            Arc::new(config.catalogue.clone()),
            config.settings.pipeline.allowed_lateness,
        ))),
        counters: Arc::new(Counters::default()),
        assigned: Arc::new(AtomicBool::new(false)),
        alerts: Arc::new(alerts),
        startup: Arc::new(crate::ingest::Startup::default()),
    };
    let pipeline = {
        let (config, handles) = (config.clone(), handles.clone());
        // Opening the history reads its logs: keep it off the async workers. The SLA state is
        // rebuilt after the API is up.
        tokio::task::spawn_blocking(move || Pipeline::open(config, &handles))
            .await
            .map_err(PipelineError::from)??
    };
    let (shutdown, signal) = watch::channel(false);
    let history = HistoryQuery::new(pipeline.store())?;
    let queries = UserQueries::new(pipeline.store(), &config.settings.api.query)?;
    let planner = Planner::new(
        config.clone(),
        history.clone(),
        Some(pipeline.store().clone()),
    );
    let state = AppState {
        config: config.clone(),
        pipeline: handles,
        history,
        planner: planner.clone(),
        reviews,
        queries,
    };
    let addr = config.settings.api.listen;
    let tls = match &config.settings.api.tls {
        Some(files) => Some(crate::tls::server_config(&files.cert, &files.key)?),
        None => {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "the API listens beyond this machine without TLS: bearer tokens cross the network in clear (set api.tls)");
            }
            None
        }
    };
    let api_tls = tls.is_some();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Listen { addr, source })?;
    let api_addr = listener
        .local_addr()
        .map_err(|source| AppError::Listen { addr, source })?;
    let mut api_signal = signal.clone();
    let api = tokio::spawn(api::serve(listener, state.clone(), tls, async move {
        let _ = api_signal.wait_for(|stop| *stop).await;
    }));
    let mut background = vec![tokio::spawn({
        let (startup, mut stop) = (state.pipeline.startup.clone(), signal.clone());
        let signal = signal.clone();
        async move {
            // The first refit reads the whole metrics history: not while the state is rebuilt.
            tokio::select! {
                _ = startup.wait_ready() => planner.run_schedule(signal).await,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {}
            }
        }
    })];
    background.push(tokio::spawn(crate::store::run_maintenance(
        pipeline.store().clone(),
        config.settings.history.policy(),
        config.settings.history.maintenance_every,
        {
            let engine = state.pipeline.engine.clone();
            let lateness = config.settings.pipeline.allowed_lateness.as_micros() as i64;
            move || {
                let watermark = engine.read().ok()?.watermark()?;
                Some(crate::store::day_of(watermark - lateness))
            }
        },
        signal.clone(),
    )));
    background.extend(state.pipeline.alerts.spawn(&signal));
    background.push(tokio::spawn(crate::alert::periodic::run(
        config.clone(),
        state.pipeline.clone(),
        state.reviews.clone(),
        state.history.clone(),
        state.planner.clone(),
        signal.clone(),
    )));
    let pipeline = tokio::spawn(async move {
        let restored = tokio::task::spawn_blocking(move || {
            let mut pipeline = pipeline;
            pipeline.restore().map(|()| pipeline)
        })
        .await
        .map_err(PipelineError::from)
        .and_then(|r| r);
        let result = match restored {
            Ok(pipeline) => pipeline.run(signal).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            tracing::error!(%error, "pipeline stopped on an error; restart resumes from the last checkpoint");
        }
        result
    });
    tracing::info!(%api_addr, "slacap started");
    Ok(Running {
        state,
        api_addr,
        api_tls,
        shutdown,
        writer,
        pipeline,
        api,
        background,
    })
}

impl Running {
    /// `https` or `http`.
    pub fn api_scheme(&self) -> &'static str {
        if self.api_tls { "https" } else { "http" }
    }

    /// Waits until the SLA state is rebuilt from the history (or the pipeline stopped).
    pub async fn ready(&self) {
        let startup = &self.state.pipeline.startup;
        while !startup.is_ready() && !self.pipeline.is_finished() {
            // Woken at once when ready; the timeout only notices a pipeline that stopped.
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(20), startup.wait_ready())
                    .await;
        }
    }

    /// True once the pipeline task has ended (after a shutdown, or on an error).
    pub fn pipeline_finished(&self) -> bool {
        self.pipeline.is_finished()
    }

    /// Waits until the pipeline stops on its own (an error) or `stop` resolves, then shuts down:
    /// the batch in hand is finished and checkpointed, the API drains.
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), AppError> {
        let mut lost = false;
        let result = {
            let writer = &self.writer;
            let writer_lost = async {
                while !writer.lost() {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            };
            tokio::select! {
                r = &mut self.pipeline => Some(r),
                _ = stop => None,
                _ = writer_lost => {
                    lost = true;
                    None
                }
            }
        };
        let _ = self.shutdown.send(true);
        self.state.queries.cancel_all();
        let pipeline_result = match result {
            Some(r) => r,
            None => self.pipeline.await,
        };
        let api_result = self.api.await;
        for task in self.background {
            let _ = task.await;
        }
        pipeline_result.map_err(PipelineError::from)??;
        api_result
            .map_err(|e| AppError::Serve(std::io::Error::other(e)))?
            .map_err(AppError::Serve)?;
        drop(self.writer);
        if lost {
            return Err(AppError::WriterLost);
        }
        Ok(())
    }
}
