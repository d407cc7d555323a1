//! The `slacap` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use slacap::config::Config;
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
    /// Rebuild slices, ticket outcomes and breaches from the raw history (stop `run` first).
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
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
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
    match runtime.block_on(dispatch(cli.command)) {
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
            println!("slacap is running; API on http://{}", running.api_addr);
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
            let history = HistoryQuery::new(&HistoryStore::reader(&config.settings.data_dir))?;
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
    }
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
