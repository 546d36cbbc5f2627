//! Just enough of W3C WebDriver, spoken over HTTP to `chromedriver`, to
//! drive headless Chromium like a person: open a page, type, click, look
//! inside a frame, read the cookies, take a screenshot. Raw HTTP with reqwest and serde_json
//! (already xtask dependencies) instead of a WebDriver crate: these eight
//! commands are the whole need.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium flags: headless, no sandbox (root in a container), and nothing
/// that reaches off this machine.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1000,800",
];

/// A running `chromedriver`; killed when dropped.
#[derive(Debug)]
pub struct Driver {
    url: String,
    child: tokio::process::Child,
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port and waits for it.
    /// With `home`, it and the Chromium it starts get that `HOME`, where
    /// Chromium reads its certificate database (`.pki/nssdb`).
    pub async fn start(chromedriver: &Path, log: &Path, home: Option<&Path>) -> Result<Self> {
        let [port] = crate::process::free_ports()?;
        let file = std::fs::File::create(log)?;
        let mut command = tokio::process::Command::new(chromedriver);
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let child = command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", chromedriver.display()))?;
        let driver = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = http()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(response) = http.get(format!("{}/status", driver.url)).send().await
                && response.status().is_success()
            {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("chromedriver did not answer on {} within 20 s", driver.url)
    }

    /// A new Chromium session with a fresh profile in `profile`.
    pub async fn session(&self, chromium: &Path, profile: &Path) -> Result<Session> {
        let _ = std::fs::remove_dir_all(profile);
        std::fs::create_dir_all(profile)?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let body = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let http = http()?;
        let value = command(http.post(format!("{}/session", self.url)).json(&body)).await?;
        let id = value["sessionId"]
            .as_str()
            .context("chromedriver returned no sessionId")?;
        Ok(Session {
            http,
            base: format!("{}/session/{id}", self.url),
        })
    }

    /// Stops chromedriver.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// One browser window.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    /// Loads `url` and waits for the document (and its frames) to load.
    pub async fn navigate(&self, url: &str) -> Result<()> {
        self.post("url", json!({ "url": url })).await.map(drop)
    }

    /// The URL the window shows now.
    pub async fn current_url(&self) -> Result<String> {
        let value = command(self.http.get(format!("{}/url", self.base))).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The element matching `css`, or `None` when there is none.
    pub async fn find(&self, css: &str) -> Result<Option<String>> {
        let response = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status.is_success() {
            return Ok(body["value"][ELEMENT].as_str().map(str::to_owned));
        }
        if body["value"]["error"] == "no such element" {
            return Ok(None);
        }
        bail!("find {css}: {status} {}", body["value"]["message"])
    }

    /// The element matching `css`; an error when there is none.
    pub async fn element(&self, css: &str) -> Result<String> {
        self.find(css)
            .await?
            .with_context(|| format!("no element matches `{css}`"))
    }

    /// Types `text` into an element.
    pub async fn type_into(&self, element: &str, text: &str) -> Result<()> {
        self.post(&format!("element/{element}/value"), json!({ "text": text }))
            .await
            .map(drop)
    }

    /// Clicks an element.
    pub async fn click(&self, element: &str) -> Result<()> {
        self.post(&format!("element/{element}/click"), json!({}))
            .await
            .map(drop)
    }

    /// Switches into the frame `element`.
    pub async fn enter_frame(&self, element: &str) -> Result<()> {
        self.post("frame", json!({"id": {ELEMENT: element}}))
            .await
            .map(drop)
    }

    /// Back to the top-level document.
    pub async fn leave_frames(&self) -> Result<()> {
        self.post("frame", json!({ "id": null })).await.map(drop)
    }

    /// The cookies the browser holds for the current page, as WebDriver
    /// reports them (`name`, `secure`, `httpOnly`, `sameSite`, …).
    pub async fn cookies(&self) -> Result<Vec<Value>> {
        let value = command(self.http.get(format!("{}/cookie", self.base))).await?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let value = command(self.http.get(format!("{}/screenshot", self.base))).await?;
        let text = value.as_str().context("screenshot is not a string")?;
        STANDARD.decode(text).context("screenshot is not base64")
    }

    /// Closes the window and ends the browser.
    pub async fn close(self) {
        let _ = self.http.delete(&self.base).send().await;
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        command(self.http.post(format!("{}/{path}", self.base)).json(&body)).await
    }
}

/// Sends one WebDriver command and returns its `value`, or the driver's
/// error message.
async fn command(request: reqwest::RequestBuilder) -> Result<Value> {
    let response = request
        .send()
        .await
        .context("chromedriver did not answer")?;
    let status = response.status();
    let mut body: Value = response.json().await.context("chromedriver sent no JSON")?;
    if !status.is_success() {
        bail!(
            "webdriver {status}: {} {}",
            body["value"]["error"],
            body["value"]["message"]
        );
    }
    Ok(body["value"].take())
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build an HTTP client")
}
