//! Driving the console through WebDriver: Debian's `chromedriver` (package `chromium-driver`,
//! installed by `scripts/prerequisites.sh`) runs headless Chromium, and fantoccini speaks
//! WebDriver to it. For what needs clicks and typing; page checks use [`super::browser`].

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Driver {
    child: Child,
    pub client: fantoccini::Client,
}

impl Driver {
    /// Starts chromedriver on a free port and opens a headless 1440x900 session.
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary = std::env::var("SLACAP_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("`{binary}` does not run ({e}): scripts/prerequisites.sh installs chromium-driver")
            });
        let mut capabilities = serde_json::Map::new();
        let mut options = serde_json::json!({
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1440,900"]
        });
        if let Ok(browser) = std::env::var("SLACAP_CHROMIUM") {
            options["binary"] = browser.into();
        }
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Driver { child, client },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}");
    }

    pub async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
