//! Typed configuration: the runtime settings (`slacap.toml`) and the service catalogue
//! (`catalogue.toml`). Both reject unknown keys, and every error names the file, the key and the
//! problem, so an operator can fix it without reading code.

mod calendar;
mod catalogue;
mod duration;
mod error;
mod secure;
mod settings;

pub use calendar::{CalendarConfig, parse_ics_holidays, parse_span, weekday_index};
pub use catalogue::{
    Aggregate, Agreement, Budgeting, Catalogue, Component, Maintenance, MissingPolicy, OnReopen,
    Service, Sli, Slo, SloWindow, TicketPolicy,
};
pub use error::ConfigError;
pub use secure::{
    ClientProperties, MemoryLimit, OffsetRegression, QuerySettings, Secret, TlsFiles,
};
pub use settings::{
    AlertSettings, ApiSettings, ApiToken, ForecastSettings, HistorySettings, KafkaSettings,
    PipelineSettings, Role, Settings, Topics, Webhook, WebhookFormat,
};

use std::path::{Path, PathBuf};

/// Everything slacap needs to run: settings plus the catalogue they point at.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub catalogue: Catalogue,
    /// Where the settings were read from (for messages).
    pub source: PathBuf,
}

impl Config {
    /// Loads `slacap.toml` and the catalogue it names. Relative paths in the settings are
    /// resolved against the settings file's folder, so the result does not depend on the
    /// working directory.
    pub fn load(settings_path: &Path) -> Result<Config, ConfigError> {
        let mut settings = Settings::load(settings_path)?;
        let base = settings_path.parent().unwrap_or(Path::new("."));
        if settings.catalogue.is_relative() {
            settings.catalogue = base.join(&settings.catalogue);
        }
        if settings.data_dir.is_relative() {
            settings.data_dir = base.join(&settings.data_dir);
        }
        let catalogue = Catalogue::load(&settings.catalogue)?;
        Ok(Config {
            settings,
            catalogue,
            source: settings_path.to_path_buf(),
        })
    }

    /// A human summary for `slacap check-config`.
    pub fn summary(&self) -> String {
        let c = &self.catalogue;
        let slos: usize = c.services.iter().map(|s| s.slos.len()).sum();
        let components: usize = c.services.iter().map(|s| s.components.len()).sum();
        let mut out = format!(
            "{}: ok\n  kafka: {} (group {}), topics {} / {} -> dead letters {}, alerts {}\n  data dir: {}\n  history: {}\n  api: {}\n{}: ok\n  {} services, {} components, {} SLOs, {} ticket policies\n",
            self.source.display(),
            self.settings.kafka.brokers,
            self.settings.kafka.group_id,
            self.settings.kafka.topics.metrics,
            self.settings.kafka.topics.tickets,
            self.settings.kafka.topics.dead_letter,
            self.settings.kafka.topics.alerts,
            self.settings.data_dir.display(),
            self.settings.history_location().url(),
            self.settings.api.listen,
            self.settings.catalogue.display(),
            c.services.len(),
            components,
            slos,
            c.ticket_policies.len(),
        );
        for s in &c.services {
            out.push_str(&format!(
                "  - {} ({}): {} components, SLOs [{}]\n",
                s.id,
                s.name,
                s.components.len(),
                s.slos
                    .iter()
                    .map(|o| format!("{} {}", o.id, o.target))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }
}
