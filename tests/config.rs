//! The shipped configuration parses, and bad configuration is refused with the file, the key and
//! the problem.

use slacap::config::{Catalogue, Config, ConfigError, Sli, SloWindow};
use std::path::Path;
use std::process::Command;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SETTINGS: &str = r#"
data_dir = "data"
catalogue = "catalogue.toml"
[kafka]
brokers = "127.0.0.1:9092"
group_id = "slacap"
"#;

#[test]
fn the_example_configuration_parses_to_what_it_says() {
    let config = Config::load(Path::new("config/slacap.toml")).expect("config/slacap.toml");
    let s = &config.settings;
    assert_eq!(s.kafka.topics.metrics, "slacap.metrics");
    assert_eq!(s.pipeline.allowed_lateness.as_secs(), 300);
    assert_eq!(s.api.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.api.query.max_rows, 10_000);
    assert_eq!(s.pipeline.max_event_age.as_secs(), 400 * 86_400);
    assert_eq!(
        s.pipeline.on_offset_regression,
        slacap::config::OffsetRegression::Halt
    );
    assert!(s.api.tls.is_none());
    assert!(s.data_dir.ends_with("config/../data"));
    let c = &config.catalogue;
    assert!(c.services.len() >= 4);
    let payments = c.service("payments").unwrap();
    assert_eq!(payments.depends_on, ["identity"]);
    assert!(matches!(payments.slos[0].sli, Sli::Probe { .. }));
    assert!(matches!(payments.slos[1].sli, Sli::Ratio { .. }));
    assert_eq!(
        payments.slos[0].windows,
        [
            SloWindow::CalendarMonth,
            SloWindow::CalendarQuarter,
            SloWindow::RollingDays(30)
        ]
    );
    let p1 = c.policy(slacap::model::TicketType::Incident, "P1").unwrap();
    assert_eq!(
        (p1.response.as_secs(), p1.resolution.as_secs()),
        (900, 14_400)
    );
}

#[test]
fn an_unknown_key_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalogue.toml", slacap::demo::SAMPLE_CATALOGUE);
    let path = write(
        dir.path(),
        "slacap.toml",
        &SETTINGS.replace("group_id", "groupid"),
    );
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("slacap.toml"), "{err}");
    assert!(err.contains("unknown field `groupid`"), "{err}");
}

#[test]
fn a_bad_duration_says_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalogue.toml", slacap::demo::SAMPLE_CATALOGUE);
    let path = write(
        dir.path(),
        "slacap.toml",
        &format!("{SETTINGS}\n[pipeline]\nallowed_lateness = \"soon\"\n"),
    );
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("allowed_lateness") && err.contains("`soon` is not a duration"),
        "{err}"
    );
}

#[test]
fn a_compaction_level_outside_zstd_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalogue.toml", slacap::demo::SAMPLE_CATALOGUE);
    let path = write(
        dir.path(),
        "slacap.toml",
        &format!("{SETTINGS}\n[history]\ncompaction_zstd_level = 30\n"),
    );
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("slacap.toml") && err.contains("history.compaction_zstd_level"),
        "{err}"
    );
}

#[test]
fn a_history_location_resolves_and_a_bad_one_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalogue.toml", slacap::demo::SAMPLE_CATALOGUE);
    // Unset: `<data_dir>/history`; a relative directory is relative to the settings file.
    let path = write(dir.path(), "slacap.toml", SETTINGS);
    let config = Config::load(&path).unwrap();
    let default = config.settings.history_location();
    assert_eq!(
        default.local_dir(),
        Some(config.settings.data_dir.join("history").as_path())
    );
    let path = write(
        dir.path(),
        "slacap.toml",
        &format!("{SETTINGS}\n[history]\nlocation = \"elsewhere/history\"\n"),
    );
    let config = Config::load(&path).unwrap();
    let local = config.settings.history_location();
    assert_eq!(
        local.local_dir(),
        Some(dir.path().join("elsewhere/history").as_path())
    );
    // An S3 URL with the client's settings.
    let path = write(
        dir.path(),
        "slacap.toml",
        &format!(
            "{SETTINGS}\n[history]\nlocation = \"s3://analytics/slacap\"\n[history.s3]\nendpoint = \"http://127.0.0.1:1\"\nregion = \"eu-west-1\"\nallow_http = true\n"
        ),
    );
    let config = Config::load(&path).unwrap();
    let remote = config.settings.history_location();
    assert_eq!(remote.url().as_str(), "s3://analytics/slacap/");
    assert!(remote.local_dir().is_none());
    // A location slacap cannot use names the file, the key and the problem.
    let path = write(
        dir.path(),
        "slacap.toml",
        &format!("{SETTINGS}\n[history]\nlocation = \"ftp://host/history\"\n"),
    );
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("slacap.toml")
            && err.contains("history.location")
            && err.contains("scheme `ftp` is not supported"),
        "{err}"
    );
}

fn catalogue_error(text: &str) -> ConfigError {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "catalogue.toml", text);
    Catalogue::load(&path).unwrap_err()
}

#[test]
fn catalogue_mistakes_name_the_key() {
    let cases = [
        (
            "[[service]]\nid = \"a\"\nname = \"A\"\ndepends_on = [\"ghost\"]\n",
            "key `service[0].depends_on[0]`: no service `ghost` in the catalogue",
        ),
        (
            "[[service]]\nid = \"a\"\nname = \"A\"\n[[service.slo]]\nid = \"x\"\ntarget = 99.9\nsli = { kind = \"ratio\", good = \"g\", total = \"t\" }\n",
            "key `service[0].slo[0].target`: 99.9 must be a fraction strictly between 0 and 1",
        ),
        (
            "[[service]]\nid = \"a\"\nname = \"A\"\n[[service.component]]\nid = \"c\"\nresource = \"cpu\"\ncapacity = 1.0\nthreshold = 2.0\n",
            "key `service[0].component[0].threshold`",
        ),
        (
            "[[service]]\nid = \"a\"\nname = \"A\"\n[[service.slo]]\nid = \"x\"\ntarget = 0.9\nsli = { kind = \"probe\", metric = \"up\", timeslice = \"7m\" }\n",
            "key `service[0].slo[0].sli.timeslice`: must be whole seconds that divide a day",
        ),
        (
            "[[service]]\nid = \"a\"\nname = \"A\"\n[[service]]\nid = \"a\"\nname = \"B\"\n",
            "service `a` is defined twice",
        ),
        (
            "[[service]]\nid = \"a\"\nname = \"A\"\nwindows = 3\n",
            "unknown field `windows`",
        ),
    ];
    for (text, expected) in cases {
        let err = catalogue_error(text).to_string();
        assert!(err.contains("catalogue.toml"), "{err}");
        assert!(err.contains(expected), "{err}\nshould contain: {expected}");
    }
}

#[test]
fn calendars_read_holidays_from_an_ics_file_next_to_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "holidays.ics",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    );
    let text = "[[service]]\nid = \"a\"\nname = \"A\"\n[[calendar]]\nid = \"c\"\ntime_zone = \"Europe/Berlin\"\nholidays_ics = \"holidays.ics\"\n[calendar.hours]\nmon = [\"08:00-17:00\"]\n[[ticket_policy]]\ntype = \"incident\"\npriority = \"P1\"\nresponse = \"1h\"\nresolution = \"8h\"\ncalendar = \"c\"\n";
    let path = write(dir.path(), "catalogue.toml", text);
    let c = Catalogue::load(&path).unwrap();
    let dates = c.calendar("c").unwrap().holiday_dates();
    assert!(dates.contains(&chrono::NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()));

    for (bad, expected) in [
        (
            text.replace("Europe/Berlin", "Mars/Olympus"),
            "key `calendar[0].time_zone`: `Mars/Olympus` is not an IANA time zone",
        ),
        (
            text.replace("08:00-17:00", "17:00-08:00"),
            "key `calendar[0].hours.mon`: `17:00-08:00` is not a span",
        ),
        (
            text.replace("calendar = \"c\"", "calendar = \"x\""),
            "key `ticket_policy[0].calendar`: no calendar `x`",
        ),
        (
            text.replace("holidays.ics", "missing.ics"),
            "key `calendar[0].holidays_ics`: cannot read",
        ),
    ] {
        let path = write(dir.path(), "catalogue.toml", &bad);
        let err = Catalogue::load(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}\nshould contain: {expected}");
    }
}

#[test]
fn check_config_prints_a_summary_or_fails_with_the_reason() {
    let ok = Command::new(env!("CARGO_BIN_EXE_slacap"))
        .args(["check-config", "--config", "config/slacap.toml"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("4 services") && out.contains("payments (Payments API)"),
        "{out}"
    );
    assert!(
        out.contains("  history: file:///") && out.contains("/data/history/\n"),
        "the history's location: {out}"
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalogue.toml", "[[service]]\nid = \"a\"\n");
    let path = write(dir.path(), "slacap.toml", SETTINGS);
    let bad = Command::new(env!("CARGO_BIN_EXE_slacap"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("catalogue.toml") && err.contains("missing field `name`"),
        "{err}"
    );
}

#[test]
fn the_exposure_settings_parse_and_refuse_nonsense_by_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalogue.toml", slacap::demo::SAMPLE_CATALOGUE);
    let full = format!(
        r#"{SETTINGS}
[kafka.client]
"sasl.password" = "kafka-secret-value"
[pipeline]
max_event_age = "30days"
max_clock_skew = "5m"
dead_letter_max_bytes = 500000
on_offset_regression = "reset"
[api]
tls = {{ cert = "server.pem", key = "server.key" }}
[api.query]
memory_limit = "2GiB"
max_rows = 500
timeout = "10s"
[alerts]
max_attempts = 7
[[alerts.webhooks]]
name = "slack"
url = "https://hooks.example.com/services/T0/B0/secret-path"
secret = "webhook-secret-value-123"
ca_file = "ca.pem"
"#
    );
    let path = write(dir.path(), "slacap.toml", &full);
    let config = Config::load(&path).expect("parses");
    let s = &config.settings;
    assert_eq!(s.pipeline.max_event_age.as_secs(), 30 * 86_400);
    assert_eq!(
        s.pipeline.on_offset_regression,
        slacap::config::OffsetRegression::Reset
    );
    assert_eq!(
        s.api.query.memory_limit,
        slacap::config::MemoryLimit::Bytes(2 << 30)
    );
    assert_eq!((s.api.query.max_rows, s.alerts.max_attempts), (500, 7));
    assert!(s.api.tls.is_some());
    let shown = format!("{config:?}");
    for secret in [
        "kafka-secret-value",
        "webhook-secret-value-123",
        "secret-path",
    ] {
        assert!(!shown.contains(secret), "{secret} printed: {shown}");
    }
    let bad = full.replace("\"2GiB\"", "\"95%\"");
    let path = write(dir.path(), "slacap.toml", &bad);
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("memory_limit") && err.contains("95%"), "{err}");
    let bad = full.replace("https://hooks", "ftp://hooks");
    let path = write(dir.path(), "slacap.toml", &bad);
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("alerts.webhooks[0].url"), "{err}");
}
