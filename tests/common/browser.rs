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

/// Headless Chromium at 1440x900 with a fresh profile (kept alive by the returned directory),
/// letting a page's scripts run for up to 20 s of virtual time.
fn chromium() -> (Command, String, tempfile::TempDir) {
    let binary = std::env::var("SLACAP_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().expect("browser profile");
    let mut command = Command::new(&binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1440,900",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    (command, binary, profile)
}

pub fn render(url: &str) -> Rendered {
    let (mut command, binary, _profile) = chromium();
    let output = command
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
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
    let (mut command, _, _profile) = chromium();
    let status = command
        .arg(format!("--screenshot={}", path.display()))
        .arg(url)
        .output()
        .expect("chromium runs")
        .status;
    assert!(status.success() && path.exists(), "no screenshot of {url}");
}
