//! A real browser: headless Debian Chromium, driven over WebDriver.
//!
//! - `browser login`: `part5-client --no-browser` prints the authorization
//!   URL; Chromium opens it, shows the real login page, the check types the
//!   demo credentials and clicks Approve; Chromium follows the redirect to
//!   the client's loopback listener and the client calls `server_time`.
//! - `browser screenshot`: the login page as `target/interop/login-page.png`.
//! - `browser anti-framing`: the login page inside an `<iframe>` on another
//!   loopback origin stays blank (`X-Frame-Options: DENY`, CSP
//!   `frame-ancestors 'none'`; rule AS-10), while a frameable control
//!   page in the same kind of frame does render its form, so the check
//!   cannot pass by seeing nothing at all.
//! - `browser https login (part 6)`: the same login against part 6's servers
//!   on `https://localhost`, with Chromium trusting a CA made for the run
//!   ([`super::https`]).

use std::{process::Stdio, time::Duration};

use anyhow::{Context, Result, bail, ensure};
use axum::{Router, response::Html, routing::get};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::{
    Setup,
    report::Check,
    system::{PASSWORD, USERNAME},
    webdriver::{Driver, Session},
};

/// Runs the browser checks.
pub async fn checks(setup: &Setup) -> Vec<Check> {
    let names = [
        "browser login",
        "browser screenshot",
        "browser anti-framing",
        "browser https login (part 6)",
    ];
    let (chromium, chromedriver) = match &setup.tools.chromium {
        Ok(found) => found.clone(),
        Err(reason) => return names.iter().map(|n| Check::fail(*n, reason)).collect(),
    };
    let logs = setup.out.join("logs");
    let driver = match Driver::start(&chromedriver, &logs.join("chromedriver.log"), None).await {
        Ok(driver) => driver,
        Err(error) => {
            return names
                .iter()
                .map(|n| Check::fail(*n, format!("{error:#}")))
                .collect();
        }
    };
    let mut checks = Vec::new();
    match driver
        .session(&chromium, &setup.out.join("chromium-profile"))
        .await
    {
        Ok(session) => {
            let (login, screenshot) = login(setup, &session).await;
            checks.push(Check::from_result(names[0], login));
            checks.push(Check::from_result(names[1], screenshot));
            checks.push(Check::from_result(
                names[2],
                anti_framing(setup, &session).await,
            ));
            session.close().await;
        }
        Err(error) => {
            checks.extend(names.iter().map(|n| Check::fail(*n, format!("{error:#}"))));
        }
    }
    driver.stop().await;
    checks.push(Check::from_result(
        names[3],
        super::https::login(setup, &chromium, &chromedriver).await,
    ));
    checks
}

/// The whole flow with Chromium as the person's browser. Returns the login
/// result and the screenshot result.
async fn login(setup: &Setup, session: &Session) -> (Result<()>, Result<()>) {
    let mut screenshot = Err(anyhow::anyhow!("the login page was never shown"));
    let result = async {
        let mut command = tokio::process::Command::new(&setup.binaries.client);
        command.args(["--server-url", &setup.system.mcp_url]);
        let client = ClientRun::start(command, "part5-client").await?;
        session.navigate(&client.url).await?;
        let form = LoginForm::find(session).await?;
        screenshot = save_screenshot(setup, session).await;
        form.approve(session).await?;
        let output = client.finish(session).await?;
        server_time_called(&output)
    }
    .await;
    (result, screenshot)
}

/// A client run with `--no-browser --json`, its authorization URL read
/// from its transcript.
pub struct ClientRun {
    name: &'static str,
    child: tokio::process::Child,
    /// The authorization URL the client printed.
    pub url: String,
    /// The rest of the transcript, read on so the client never blocks.
    rest: tokio::task::JoinHandle<String>,
}

impl ClientRun {
    /// Starts `command` (a client binary with its server URL) and waits
    /// for the authorization URL it prints.
    pub async fn start(mut command: tokio::process::Command, name: &'static str) -> Result<Self> {
        let mut child = command
            .args(["--no-browser", "--json", "--login-timeout", "60"])
            .env_remove("BROWSER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut transcript = String::new();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                transcript.push_str(&line);
                transcript.push('\n');
                let trimmed = line.trim();
                if trimmed.starts_with("http") && trimmed.contains("/authorize?") {
                    return Ok(trimmed.to_owned());
                }
            }
            bail!("{name} printed no authorization URL:\n{transcript}")
        })
        .await
        .with_context(|| format!("{name} printed no authorization URL within 30 s"))??;
        let rest = tokio::spawn(async move {
            let mut text = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        Ok(Self {
            name,
            child,
            url,
            rest,
        })
    }

    /// Waits for the client to end after the approval; its `--json` output.
    pub async fn finish(mut self, session: &Session) -> Result<String> {
        let name = self.name;
        let mut stdout = self.child.stdout.take().context("no stdout")?;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .with_context(|| format!("{name} did not finish within 60 s of the approval"))??;
        let mut output = String::new();
        stdout.read_to_string(&mut output).await?;
        let log = self.rest.await.unwrap_or_default();
        let landed = session.current_url().await.unwrap_or_default();
        ensure!(
            status.success(),
            "{name} exited {status}; browser at {landed}; stderr: {log}"
        );
        Ok(output)
    }
}

/// The login form Chromium shows.
pub struct LoginForm {
    username: String,
    password: String,
}

impl LoginForm {
    /// The form's fields; an error when the page has none (an error page,
    /// or a certificate warning).
    pub async fn find(session: &Session) -> Result<Self> {
        Ok(Self {
            username: session.element("input[name=username]").await?,
            password: session.element("input[name=password]").await?,
        })
    }

    /// Types the demo credentials and clicks Approve, as a person would.
    pub async fn approve(&self, session: &Session) -> Result<()> {
        session.type_into(&self.username, USERNAME).await?;
        session.type_into(&self.password, PASSWORD).await?;
        let approve = session
            .element("button[name=action][value=approve]")
            .await?;
        session.click(&approve).await
    }
}

/// `--json` output of the client holds a successful `server_time` call.
pub fn server_time_called(output: &str) -> Result<()> {
    let outcome: serde_json::Value =
        serde_json::from_str(output).context("part5-client --json printed no JSON")?;
    let calls = outcome["calls"]
        .as_array()
        .context("no `calls` in output")?;
    let call = calls
        .iter()
        .find(|call| call["tool"] == "server_time")
        .context("server_time was not called")?;
    ensure!(
        call["result"]["isError"] != true,
        "server_time failed: {}",
        call["result"]
    );
    ensure!(
        call["result"]["structuredContent"]["current_time"].is_string(),
        "server_time returned no time: {}",
        call["result"]
    );
    Ok(())
}

async fn save_screenshot(setup: &Setup, session: &Session) -> Result<()> {
    let png = session.screenshot().await?;
    ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = setup.out.join("login-page.png");
    std::fs::write(&path, &png).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Frames the login page from another origin and asserts it did not render.
async fn anti_framing(setup: &Setup, session: &Session) -> Result<()> {
    let login_url = fresh_authorization_url(setup).await?;
    let page = format!(
        "<!DOCTYPE html><title>framer</title><iframe id=f width=600 height=400 src=\"{}\"></iframe>",
        html_escape(&login_url)
    );
    let control = "<!DOCTYPE html><title>control</title><iframe id=f src=\"/form\"></iframe>";
    let form = "<!DOCTYPE html><form><input name=username></form>";
    let app = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/control", get(move || async move { Html(control) }))
        .route("/form", get(move || async move { Html(form) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let rendered = |path: &'static str| {
        let url = format!("{origin}{path}");
        async move {
            session.navigate(&url).await?;
            let frame = session.element("iframe#f").await?;
            session.enter_frame(&frame).await?;
            let found = session.find("input[name=username]").await;
            session.leave_frames().await?;
            anyhow::Ok(found?.is_some())
        }
    };
    let control_rendered = rendered("/control").await;
    let login_rendered = rendered("/").await;
    server.abort();
    ensure!(
        control_rendered?,
        "the control frame did not render its form either: the check would prove nothing"
    );
    ensure!(
        !login_rendered?,
        "the login form rendered inside a cross-origin iframe ({login_url})"
    );
    Ok(())
}

/// Registers a throwaway public client and returns an authorization URL for
/// it that the AS answers with its login page.
async fn fresh_authorization_url(setup: &Setup) -> Result<String> {
    let issuer = &setup.system.issuer;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let registered: serde_json::Value = http
        .post(format!("{issuer}/register"))
        .json(&serde_json::json!({
            "redirect_uris": ["http://127.0.0.1:1/callback"],
            "token_endpoint_auth_method": "none",
            "client_name": "interop anti-framing",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let client_id = registered["client_id"]
        .as_str()
        .context("registration returned no client_id")?;
    let mut url = url::Url::parse(&format!("{issuer}/authorize"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:1/callback")
        // Any 43 base64url characters; nothing is ever redeemed.
        .append_pair("code_challenge", &"A".repeat(43))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &uuid::Uuid::new_v4().simple().to_string())
        .append_pair("resource", &setup.system.mcp_url)
        .append_pair("scope", "mcp:tools");
    Ok(url.into())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_time_must_be_a_successful_call_with_a_time() {
        let ok = r#"{"calls":[{"tool":"greet","result":{}},{"tool":"server_time","result":{"isError":false,"structuredContent":{"current_time":"2026-01-01T00:00:00Z"}}}]}"#;
        assert!(server_time_called(ok).is_ok());
        let failed = r#"{"calls":[{"tool":"server_time","result":{"isError":true}}]}"#;
        assert!(server_time_called(failed).is_err());
        assert!(server_time_called(r#"{"calls":[]}"#).is_err());
        assert!(server_time_called("not json").is_err());
    }
}
