//! The `slacap` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use slacap::config::Config;
use slacap::planner::cli::Format;
use slacap::sla::window::{month_containing, parse_window};
use slacap::store::{HistoryQuery, HistoryStore, NamedQuery};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "slacap",
    version,
    about = "Streaming SLA and capacity analytics: Kafka in, SLA attainment and Parquet history out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline and the API against the Kafka cluster of the settings file.
    Run {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
    },
    /// Run everything on an embedded Kafka broker with a synthetic month of events.
    Demo(slacap::demo::DemoArgs),
    /// Rebuild slices, ticket outcomes and breaches from the raw history (refused while a
    /// `run` holds the history).
    Recompute {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
        /// First UTC date to rebuild, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Rebuild only this service's rows (default: all services).
        #[arg(long)]
        service: Option<String>,
    },
    /// Check the review register's hash chain; fails at the first broken link.
    VerifyRegister {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
    },
    /// Validate the settings and the catalogue, and print a summary.
    CheckConfig {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
    },
    /// Run SQL (or a named report from queries/) over the Parquet history.
    Query {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
        /// A named report: monthly_sla_report, breach_register.
        #[arg(long, conflicts_with = "sql")]
        report: Option<String>,
        /// The report's month, YYYY-MM (default: the current month).
        #[arg(long, requires = "report")]
        month: Option<String>,
        /// SQL over the tables metrics, ticket_events, availability_slices, ticket_sla_outcomes,
        /// breaches.
        sql: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Forecast a series: a `time,value` CSV (`--input`), or a component metric or ticket
    /// arrivals from the history, with the model chosen by backtest.
    Forecast {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
        /// A CSV of `time,value` rows to forecast instead of the history.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Steps ahead (a number), or a duration such as `30d` for history series.
        #[arg(long, default_value = "30d")]
        horizon: String,
        /// Seasonal periods in steps for --input, the primary one first: `12`, or `24,168` for
        /// an hourly series with a daily and a weekly cycle (default: chosen from the step).
        #[arg(long, value_delimiter = ',')]
        season: Vec<usize>,
        /// Nominal coverage of the prediction interval.
        #[arg(long, default_value_t = 0.9)]
        interval: f64,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        component: Option<String>,
        /// e.g. `cpu_utilization` or `ticket_arrivals.P1`.
        #[arg(long)]
        metric: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The monthly service review pack (SLA attainment, breaches with their review status,
    /// incidents and problems, capacity) from the history and the review register.
    Report {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
        /// One service (default: all).
        #[arg(long)]
        service: Option<String>,
        /// YYYY-MM.
        #[arg(long)]
        month: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Review statuses and overdue marks as of this RFC 3339 instant (default: now).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Capacity plans from the history: exhaustion dates, headroom, recommended capacity.
    Plan {
        #[arg(long, default_value = "config/slacap.toml")]
        config: PathBuf,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        component: Option<String>,
        /// What-if demand growth, e.g. 0.2 for +20 %.
        #[arg(long)]
        growth: Option<f64>,
        /// When the growth starts, YYYY-MM-DD (default: today).
        #[arg(long, requires = "growth")]
        from: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| {
                    "info,rdkafka=warn,buoyant_kernel=warn,buoyant_kernel_engine=warn,deltalake_core=warn".into()
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    // Queries and refits are cancelled at shutdown; never wait on a straggler for long.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { config } => {
            let config = Arc::new(Config::load(&config)?);
            let running = slacap::app::start(config).await?;
            println!(
                "slacap is running; API on {}://{}",
                running.api_scheme(),
                running.api_addr
            );
            running.run_until(shutdown_signal()).await?;
            Ok(())
        }
        Command::Demo(args) => slacap::demo::run(args, shutdown_signal()).await,
        Command::Recompute {
            config,
            from,
            service,
        } => {
            let config = Config::load(&config)?;
            if let Some(s) = &service
                && config.catalogue.service(s).is_none()
            {
                anyhow::bail!("no service `{s}` in the catalogue");
            }
            let day = from
                .signed_duration_since(chrono::NaiveDate::default())
                .num_days();
            let summary = tokio::task::spawn_blocking(move || {
                slacap::recompute::recompute(&config, day, service.as_deref())
            })
            .await??;
            println!(
                "replayed {} events; replaced {} files from {from} on with {} slices, {} ticket outcomes, {} breaches (definition {})",
                summary.events_replayed,
                summary.files_removed,
                summary.slices,
                summary.outcomes,
                summary.breaches,
                summary.definition
            );
            Ok(())
        }
        Command::VerifyRegister { config } => {
            let config = Config::load(&config)?;
            let journal = config
                .settings
                .data_dir
                .join("reviews")
                .join("register.jsonl");
            let bytes = match std::fs::read(&journal) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                other => other.with_context(|| format!("cannot read {}", journal.display()))?,
            };
            let report = slacap::alert::register::verify(&bytes);
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.intact {
                anyhow::bail!("{}: the hash chain is broken", journal.display());
            }
            Ok(())
        }
        Command::CheckConfig { config } => {
            let config = Config::load(&config)?;
            print!("{}", config.summary());
            Ok(())
        }
        Command::Query {
            config,
            report,
            month,
            sql,
            json,
        } => {
            let config = Config::load(&config)?;
            let history = HistoryQuery::new(&HistoryStore::reader_for(&config.settings))?;
            let sql = match (report, sql) {
                (Some(name), _) => {
                    let query = NamedQuery::by_name(&name)?;
                    let window = match month {
                        Some(m) => parse_window(&format!("month:{m}"), 0)?,
                        None => month_containing(chrono::Utc::now().timestamp_micros()),
                    };
                    query.render(window)
                }
                (None, Some(sql)) => sql,
                (None, None) => anyhow::bail!("give SQL or --report NAME"),
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&history.run_json(sql).await?)?
                );
            } else {
                let batches = history.sql(&sql).await.context("query failed")?;
                println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
            }
            Ok(())
        }
        Command::Forecast {
            config,
            input,
            horizon,
            season,
            interval,
            service,
            component,
            metric,
            format,
        } => {
            forecast_command(
                config,
                input,
                horizon,
                season,
                interval,
                [service, component, metric],
                format,
            )
            .await
        }
        Command::Report {
            config,
            service,
            month,
            format,
            output,
            as_of,
        } => report_command(config, service, month, format, output, as_of).await,
        Command::Plan {
            config,
            service,
            component,
            growth,
            from,
            format,
        } => {
            let planner = fitted_planner(&config).await?;
            let growth = growth.map(|rate| slacap::planner::Growth {
                rate,
                from: from.and_then(|d| d.and_hms_opt(0, 0, 0)).map_or_else(
                    || chrono::Utc::now().timestamp_micros(),
                    |t| t.and_utc().timestamp_micros(),
                ),
            });
            let plans = slacap::planner::plans_of(
                &planner.book(),
                service.as_deref(),
                component.as_deref(),
                growth,
            );
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&plans)?),
                Format::Table => print!("{}", slacap::planner::cli::plan_table(&plans)),
            }
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Html,
    Csv,
    Json,
}

async fn report_command(
    config: PathBuf,
    service: Option<String>,
    month: String,
    format: ReportFormat,
    output: Option<PathBuf>,
    as_of: Option<String>,
) -> anyhow::Result<()> {
    use slacap::report::service_review::{self, Inputs};
    let now = match as_of.as_deref() {
        None => chrono::Utc::now().timestamp_micros(),
        Some(text) => slacap::model::parse_rfc3339(text)
            .with_context(|| format!("--as-of `{text}` is not an RFC 3339 time"))?,
    };
    let planner = fitted_planner(&config).await?;
    let config = Arc::new(Config::load(&config)?);
    if let Some(s) = &service
        && config.catalogue.service(s).is_none()
    {
        anyhow::bail!("no service `{s}` in the catalogue");
    }
    let window = parse_window(&format!("month:{month}"), 0)?;
    let history = HistoryQuery::new(&HistoryStore::reader_for(&config.settings))?;
    let tickets: Vec<_> = slacap::report::tickets::incidents_and_problems(&history)
        .await?
        .into_iter()
        .filter(|t| window.contains(t.created))
        .map(|t| (t.service.clone(), t.line()))
        .collect();
    let engine = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || slacap::recompute::engine_from_history(&config))
            .await??
    };
    let needed: Vec<_> = config
        .catalogue
        .services
        .iter()
        .filter(|s| service.as_deref().is_none_or(|id| s.id == id))
        .filter_map(|s| Some((s.id.clone(), engine.history_needed(&s.id, window)?)))
        .collect();
    let older = slacap::store::older_findings_for(&history, &needed).await?;
    let register = slacap::alert::register::Register::open(&config.settings.data_dir)?;
    let plans = slacap::planner::plans_of(&planner.book(), service.as_deref(), None, None);
    let inputs = Inputs {
        engine: &engine,
        register: &register,
        plans: &plans,
        tickets: &tickets,
        older: &older,
        review_due: slacap::model::micros_of(config.settings.alerts.review_due),
        now,
    };
    let packs: Vec<_> = config
        .catalogue
        .services
        .iter()
        .filter(|s| service.as_deref().is_none_or(|id| s.id == id))
        .map(|s| service_review::build(s, &month, window, &inputs))
        .collect();
    let text = match format {
        ReportFormat::Html => service_review::html(&packs),
        ReportFormat::Csv => service_review::csv(&packs),
        ReportFormat::Json => serde_json::to_string_pretty(&packs)? + "\n",
    };
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// A planner over the history of `config`, fitted once (read-only: nothing is written).
async fn fitted_planner(config: &std::path::Path) -> anyhow::Result<slacap::planner::Planner> {
    let config = Arc::new(Config::load(config)?);
    let history = HistoryQuery::new(&HistoryStore::reader_for(&config.settings))?;
    let planner = slacap::planner::Planner::new(config, history, None);
    let summary = planner.refit().await?;
    for f in &summary.failures {
        eprintln!(
            "no forecast for {}/{}/{}: {}",
            f.service.as_deref().unwrap_or("-"),
            f.component.as_deref().unwrap_or("-"),
            f.metric.as_deref().unwrap_or("-"),
            f.reason
        );
    }
    Ok(planner)
}

async fn forecast_command(
    config: PathBuf,
    input: Option<PathBuf>,
    horizon: String,
    season: Vec<usize>,
    interval: f64,
    names: [Option<String>; 3],
    format: Format,
) -> anyhow::Result<()> {
    let steps: Option<usize> = horizon.parse().ok();
    let documents = match input {
        Some(input) => {
            let steps = steps.context("--horizon for --input is a number of steps")?;
            let doc = tokio::task::spawn_blocking(move || {
                slacap::planner::cli::forecast_csv(&input, steps, season, interval)
            })
            .await??;
            vec![doc]
        }
        None => {
            let planner = fitted_planner(&config).await?;
            let book = planner.book();
            let [service, component, metric] = names;
            let chosen: Vec<_> = book
                .entries
                .iter()
                .filter(|(k, _)| service.is_none() || k.service == service)
                .filter(|(k, _)| component.is_none() || k.component == component)
                .filter(|(k, _)| metric.is_none() || k.metric == metric)
                .map(|(_, e)| {
                    let mut doc = e.document.clone();
                    let keep = match steps {
                        Some(n) => n,
                        None => {
                            let d = humantime::parse_duration(&horizon)
                                .with_context(|| format!("--horizon `{horizon}`"))?;
                            (d.as_micros() as i64).div_euclid(e.series.step.max(1)) as usize
                        }
                    };
                    doc.points.truncate(keep.max(1));
                    anyhow::Ok(doc)
                })
                .collect::<Result<_, _>>()?;
            if chosen.is_empty() {
                anyhow::bail!("no forecast matches; try without --service/--component/--metric");
            }
            chosen
        }
    };
    match format {
        Format::Json if documents.len() == 1 => {
            println!("{}", serde_json::to_string_pretty(&documents[0])?)
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&documents)?),
        Format::Table => {
            for doc in &documents {
                println!("{}", slacap::planner::cli::forecast_table(doc));
            }
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
