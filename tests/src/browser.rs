//! A real browser for the page tests: Debian's headless Chromium driven
//! through its chromedriver (WebDriver), both found on `PATH` or at
//! Debian's paths.
//!
//! Where neither is installed the browser tests skip (`make test` says so
//! before it runs them) unless `LTISYNC_REQUIRE_BROWSER` is set, as CI sets
//! it after installing both: then a missing browser fails the test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::dynamo::free_port;

/// A chromedriver and one browser session; both stop when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
}

/// The Chromium and chromedriver to use, if installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            let path = PathBuf::from(name);
            if path.is_absolute() {
                return path.exists().then_some(path);
            }
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.exists())
            })
        })
    };
    let chromium = find(&["chromium", "/usr/bin/chromium", "chromium-browser"])?;
    let driver = find(&["chromedriver", "/usr/bin/chromedriver"])?;
    Some((chromium, driver))
}

impl Browser {
    /// Starts chromedriver and a headless session `width` px wide, or
    /// `None` where no browser is installed (and none is required).
    pub async fn start(width: u32) -> Option<Self> {
        let Some((chromium, driver)) = installed() else {
            assert!(
                std::env::var_os("LTISYNC_REQUIRE_BROWSER").is_none(),
                "LTISYNC_REQUIRE_BROWSER is set but chromium and chromedriver are not installed \
                 (apt-get install -y chromium chromium-driver)"
            );
            eprintln!("browser test skipped: no chromium and chromedriver on this machine");
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let client = connect(port, &chromium, width).await;
        Some(Self { client, driver })
    }

    /// Closes the session and stops chromedriver.
    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

async fn connect(port: u16, chromium: &std::path::Path, width: u32) -> Client {
    let mut options = json!({
        "binary": chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", format!("--window-size={width},900")]
    });
    // Chromium's windows are at least 500 px wide; a phone's viewport is
    // emulated (as its developer tools do).
    if width < 500 {
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": width, "height": 640, "pixelRatio": 1.0}});
    }
    let capabilities = json!({"goog:chromeOptions": options, "browserName": "chrome"});
    let capabilities = capabilities.as_object().expect("an object").clone();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let attempt = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(client) => return client,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no browser session within 20 s: {e}"),
        }
    }
}
