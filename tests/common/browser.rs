//! A real browser for the console's tests: headless Chromium (Debian's `chromium`, installed
//! by `scripts/prerequisites.sh`; `SLACAP_CHROMIUM` names another binary). A page is loaded
//! with its scripts run to completion (`--virtual-time-budget`), and what comes back is the
//! rendered DOM and every message the page wrote to its console: uncaught errors and
//! Content-Security-Policy violations land there too.

use std::process::Command;

pub struct Rendered {
    pub dom: String,
    pub console: Vec<String>,
}

pub fn render(url: &str) -> Rendered {
    let binary = std::env::var("SLACAP_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().expect("browser profile");
    let output = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1440,900",
            "--virtual-time-budget=20000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("`{binary}` does not run ({e}): scripts/prerequisites.sh installs chromium")
        });
    assert!(
        output.status.success(),
        "{binary} exited with {}",
        output.status
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Rendered {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    }
}

/// Saves a 1440x900 screenshot of `url` (scripts run first) as a PNG at `path`.
pub fn screenshot(url: &str, path: &std::path::Path) {
    let binary = std::env::var("SLACAP_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().expect("browser profile");
    let status = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1440,900",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", path.display()))
        .arg(url)
        .output()
        .expect("chromium runs")
        .status;
    assert!(status.success() && path.exists(), "no screenshot of {url}");
}
