//! `slacap demo`: the embedded default. An in-process Kafka broker (librdkafka's mock cluster),
//! a synthetic month of events for the sample catalogue, and the same pipeline and API as
//! `slacap run`.

mod broker;
pub mod generator;

pub use broker::{EmbeddedBroker, produce};

use crate::config::{
    ApiSettings, Catalogue, Config, KafkaSettings, PipelineSettings, Settings, Topics,
};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The sample catalogue, compiled in so the demo needs no files.
pub const SAMPLE_CATALOGUE: &str = include_str!("../../config/catalogue.toml");

/// Marks a folder as demo data that the next demo may wipe.
const MARKER: &str = ".slacap-demo";

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder for the demo's Parquet history (wiped at start if an earlier demo made it).
    #[arg(long, default_value = "slacap-demo-data")]
    pub data_dir: PathBuf,
    /// The month to generate, YYYY-MM.
    #[arg(long, default_value = "2026-11")]
    pub month: String,
    /// Exit once the month is ingested (for scripts) instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit_when_ingested: bool,
}

pub fn sample_catalogue() -> anyhow::Result<Catalogue> {
    let catalogue: Catalogue =
        toml::from_str(SAMPLE_CATALOGUE).context("the embedded catalogue does not parse")?;
    catalogue.validate(Path::new("<embedded catalogue.toml>"))?;
    Ok(catalogue)
}

/// Settings for a pipeline against `brokers` (used by the demo, the tests and the benchmark).
pub fn settings_for(
    brokers: String,
    group_id: &str,
    topics: Topics,
    data_dir: PathBuf,
    listen: SocketAddr,
) -> Settings {
    Settings {
        data_dir,
        catalogue: PathBuf::from("<embedded>"),
        kafka: KafkaSettings {
            brokers,
            group_id: group_id.to_string(),
            topics,
            session_timeout: Duration::from_secs(6),
            client: Default::default(),
        },
        pipeline: PipelineSettings {
            idle_partition_timeout: Duration::from_secs(5),
            // The embedded default replays a fixed month (2026-11), whatever today's date is.
            max_event_age: Duration::from_secs(20 * 365 * 86_400),
            // ...and its month ends where its events end, not at today's date.
            idle_watermark_follows_clock: false,
            ..Default::default()
        },
        api: ApiSettings {
            listen,
            ..Default::default()
        },
        forecast: Default::default(),
        alerts: Default::default(),
        // The demo month arrives in seconds: compact its closed days soon after.
        history: crate::config::HistorySettings {
            maintenance_every: Duration::from_secs(20),
            ..Default::default()
        },
    }
}

pub async fn run(
    args: DemoArgs,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (year, month) = args
        .month
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .with_context(|| format!("--month `{}` is not YYYY-MM", args.month))?;
    prepare_data_dir(&args.data_dir)?;
    let broker = EmbeddedBroker::start().context("starting the embedded Kafka broker")?;
    let topics = Topics::default();
    broker.create_topics(&topics)?;
    println!("embedded Kafka broker at {}", broker.bootstrap_servers());

    let mut settings = settings_for(
        broker.bootstrap_servers(),
        "slacap-demo",
        topics.clone(),
        args.data_dir.clone(),
        args.listen,
    );
    let tokens = demo_tokens()?;
    settings.api.tokens = tokens
        .iter()
        .map(|(role, token)| {
            crate::api::auth::token_entry(&format!("demo-{}", role.as_str()), *role, token)
        })
        .collect();
    let config = Arc::new(Config {
        settings,
        catalogue: sample_catalogue()?,
        source: PathBuf::from("<demo>"),
    });
    let running = crate::app::start(config).await?;
    running.ready().await;

    let messages = tokio::task::spawn_blocking(move || generator::generate_month(year, month))
        .await?
        .with_context(|| format!("no month {year}-{month:02}"))?;
    let started = std::time::Instant::now();
    let produced = produce(&broker.bootstrap_servers(), &topics, &messages).await?;
    println!(
        "produced {produced} messages for {year}-{month:02} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let counters = running.state.pipeline.counters.clone();
    let started = std::time::Instant::now();
    while counters.records_in_total.load(Ordering::Relaxed) < produced as u64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if running.pipeline_finished() {
            return running.run_until(async {}).await.map_err(Into::into);
        }
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("the pipeline did not ingest the month within 10 minutes");
        }
    }
    // Let the last batch become durable (with the correction of any late events it carried).
    while counters.records_durable_total.load(Ordering::Relaxed) < produced as u64
        || counters.consumer_lag.load(Ordering::Relaxed) > 0
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if running.pipeline_finished() {
            return running.run_until(async {}).await.map_err(Into::into);
        }
    }
    // Quiet partitions release the watermark after the idle timeout: wait for the month to close.
    let month_end = crate::sla::window::calendar_month(year, month).map_or(0, |w| w.end);
    let engine = running.state.pipeline.engine.clone();
    let closed = || {
        engine
            .read()
            .ok()
            .and_then(|e| e.watermark())
            .is_some_and(|w| w >= month_end - 6 * 60 * 1_000_000)
    };
    let started_wait = std::time::Instant::now();
    while !closed() && started_wait.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and for the history to hold what the watermark closed, so the reports read it whole.
    let live_watermark = || engine.read().ok().and_then(|e| e.watermark());
    while counters.history_watermark() < live_watermark()
        && started_wait.elapsed() < Duration::from_secs(90)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let breaches = running
        .state
        .pipeline
        .engine
        .read()
        .map(|e| e.breaches(None, None).len())
        .unwrap_or(0);
    println!(
        "ingested {} records ({} events, {} dead-lettered) in {:.1}s; {} breaches",
        counters.records_in_total.load(Ordering::Relaxed),
        counters.events_decoded_total.load(Ordering::Relaxed),
        counters.records_dead_lettered_total.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        breaches
    );
    let refit = running.state.planner.refit().await?;
    println!(
        "fitted {} forecasts and {} capacity plans in {:.1}s",
        refit.series, refit.plans, refit.seconds
    );
    let api = format!("http://{}", running.api_addr);
    println!("\nAPI tokens (also in {TOKENS_FILE}; every /api/v1 route needs one):");
    for (role, token) in &tokens {
        println!("  {:<9} {token}", role.as_str());
    }
    let viewer = &tokens[0].1;
    println!("e.g. curl -H 'Authorization: Bearer {viewer}' {api}/api/v1/capacity/plans");
    // The reviewer's link opens the console with the review form (the fragment stays in the
    // browser; the page keeps the token for the tab only).
    if let Some((_, reviewer)) = tokens
        .iter()
        .find(|(role, _)| *role == crate::config::Role::Reviewer)
    {
        println!("\nconsole: {api}/ (sign in with a token above), or as the reviewer:");
        println!("  {api}/#token={reviewer}");
    }
    println!("\nslacap demo is serving {year}-{month:02} at {api}");
    println!("  {api}/api/v1/services");
    println!("  {api}/api/v1/services/payments/sla?window=month:{year}-{month:02}");
    println!(
        "  {api}/api/v1/services/notifications/sla?window=quarter:{year}-Q{}",
        (month - 1) / 3 + 1
    );
    println!("  {api}/api/v1/burn-rate-alerts?service=payments");
    println!("  {api}/api/v1/catalogue/drift");
    println!("  {api}/api/v1/breaches");
    println!("  {api}/api/v1/reviews");
    println!("  {api}/api/v1/reports/monthly_sla_report?month={year}-{month:02}");
    println!(
        "  curl -s {api}/api/v1/query -H 'Authorization: Bearer {viewer}' -H 'content-type: application/json' -d '{{\"sql\":\"SELECT service, count(*) FROM metrics GROUP BY service\"}}'"
    );
    println!(
        "  curl -s {api}/api/v1/query -H 'Authorization: Bearer {viewer}' -H 'content-type: application/json' -d '{{\"sql\":\"SELECT * FROM metrics\",\"format\":\"ndjson\"}}'"
    );
    println!("  {api}/api/v1/capacity/plans");
    println!("  {api}/api/v1/capacity/plans/payments/db-primary/chart.svg");
    println!(
        "  {api}/api/v1/forecasts?service=payments&component=api-gateway&metric=cpu_utilization&horizon=7d"
    );
    println!("  {api}/api/v1/staffing?service=payments");
    println!("  {api}/api/v1/reports/service-review?service=payments&month={year}-{month:02}");
    println!("  {api}/api/v1/evidence/sample?month={year}-{month:02}&n=20&seed=1");
    println!("  {api}/api/v1/problems/candidates");
    println!("  {api}/api/v1/breaches/payments:availability:month:{year}-{month:02}");
    println!("  {api}/metrics");
    println!("  {api}/api/v1/openapi.json (every route, OpenAPI 3.1; no token needed)");
    println!("Parquet history in {}", args.data_dir.display());
    if args.exit_when_ingested {
        running.run_until(async {}).await?;
    } else {
        println!("Ctrl-C to stop.");
        running.run_until(stop).await?;
    }
    drop(broker);
    Ok(())
}

/// Where the demo writes its tokens, in the working directory.
pub const TOKENS_FILE: &str = "demo-tokens.json";

/// One fresh random token per role, written to `demo-tokens.json` as
/// `{"viewer":"...","reviewer":"...","admin":"..."}`.
fn demo_tokens() -> anyhow::Result<Vec<(crate::config::Role, String)>> {
    use crate::config::Role;
    use std::io::Read;
    let mut random = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    let mut tokens = Vec::new();
    for role in [Role::Viewer, Role::Reviewer, Role::Admin] {
        let mut bytes = [0u8; 20];
        random.read_exact(&mut bytes)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        tokens.push((role, format!("slacap-{}-{hex}", role.as_str())));
    }
    let json: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .map(|(role, token)| (role.as_str().to_string(), token.clone().into()))
        .collect();
    std::fs::write(TOKENS_FILE, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {TOKENS_FILE}"))?;
    Ok(tokens)
}

/// Creates the demo folder, wiping it first only if an earlier demo made it.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            anyhow::bail!(
                "{} exists and was not made by `slacap demo`; choose another --data-dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        b"made by slacap demo; deleted by the next one\n",
    )?;
    Ok(())
}
