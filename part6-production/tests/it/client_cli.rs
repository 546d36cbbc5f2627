//! The two binaries together, the way a person runs them: the client binary
//! with `BROWSER` pointing at `scripted-browser` (rule CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::process::Output;

use crate::client_support::{Behaviour, Mocks};

async fn client(mocks: &Mocks, browser: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new(crate::CLIENT)
        .args(["--server-url", &mocks.mcp_url])
        .args(extra)
        .env("BROWSER", browser)
        .env_remove("MCP_TOKEN_CACHE")
        .env_remove("MCP_CLIENT_ID")
        .output()
        .await
        .expect("run the client binary")
}

fn scripted_browser() -> &'static str {
    crate::SCRIPTED_BROWSER
}

/// The whole flow through the CLI: exit 0, results as JSON on stdout, no token in any output.
#[tokio::test]
async fn cli_logs_in_through_the_browser_command() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let output = client(
        &mocks,
        scripted_browser(),
        &["--json", "--login-timeout", "20"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let outcome: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(outcome["calls"][1]["tool"], "server_time");
    assert_eq!(outcome["logins"], 1);
    assert!(stderr.contains("opened the login page"), "{stderr}");
    let issued: Vec<String> = mocks.with(|state| state.access_tokens.keys().cloned().collect());
    for token in issued {
        assert!(
            !stderr.contains(&token) && !String::from_utf8_lossy(&output.stdout).contains(&token)
        );
    }
}

/// `BROWSER="<scripted browser> --deny"`: the denial ends the run with exit code 2.
#[tokio::test]
async fn cli_denied_login_exits_2() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let browser = format!("{} --deny", scripted_browser());
    let output = client(&mocks, &browser, &["--login-timeout", "20"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");
}

/// A browser command that fails makes the client print the URL instead.
#[tokio::test]
async fn cli_failing_browser_falls_back_to_printing() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let output = client(&mocks, "false", &["--login-timeout", "1"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("open this URL"), "{stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}

/// Runs the client binary with these flags and no browser; returns (exit code, stderr).
async fn client_alone(args: &[&str]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(crate::CLIENT)
        .args(args)
        .env("BROWSER", "false")
        .env_remove("RUST_LOG")
        .env_remove("MCP_CLIENT_LOG")
        .env_remove("MCP_TOKEN_CACHE")
        .env_remove("MCP_CLIENT_ID")
        .env_remove("MCP_PROTOCOL")
        .output()
        .await
        .expect("run the client binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The error lines of a run: what happened and what to do, in at most two
/// lines, with no SDK log line, type name or debug dump anywhere on stderr.
fn error_lines(stderr: &str) -> Vec<&str> {
    for noise in [
        "ERROR",
        "rmcp::",
        "reqwest::",
        "WorkerTransport",
        "Error {",
        "Some(",
    ] {
        assert!(!stderr.contains(noise), "`{noise}` in: {stderr}");
    }
    let lines: Vec<&str> = stderr
        .lines()
        .skip_while(|line| !line.starts_with("error:"))
        .collect();
    assert!((1..=2).contains(&lines.len()), "{stderr}");
    lines
}

/// A loopback address on which nothing listens.
fn dead_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// The resource server is down: one plain line that says so and how to start it, exit 1.
#[tokio::test]
async fn cli_rs_down_is_one_plain_line() {
    let url = format!("http://{}/mcp", dead_address());
    let (code, stderr) = client_alone(&["--server-url", &url]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let lines = error_lines(&stderr);
    assert_eq!(
        lines[0],
        format!(
            "error: cannot connect to {url}: connection refused — is the resource server \
             running? (cargo run -p part4-protected-rs)"
        )
    );
}

/// The authorization server is down: the line names its metadata URL and how to start it, exit 1.
#[tokio::test]
async fn cli_as_down_is_one_plain_line() {
    let issuer = format!("http://{}", dead_address());
    let mocks = Mocks::start(Behaviour::default()).await;
    mocks.with(|state| state.issuer.clone_from(&issuer));
    let (code, stderr) = client_alone(&["--server-url", &mocks.mcp_url]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let lines = error_lines(&stderr);
    assert!(
        lines[0].starts_with(&format!(
            "error: cannot fetch authorization server metadata from {issuer}/"
        )),
        "{stderr}"
    );
    assert!(
        lines[0].ends_with(
            ": connection refused — is the authorization server running? \
             (cargo run -p part3-as-full)"
        ),
        "{stderr}"
    );
}

/// Deny in the browser: what happened and what to do, exit 2.
#[tokio::test]
async fn cli_denied_login_says_what_to_do() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let browser = format!("{} --deny", scripted_browser());
    let output = client(&mocks, &browser, &["--login-timeout", "20"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines = error_lines(&stderr);
    assert!(lines[0].contains("error=access_denied"), "{stderr}");
    assert!(
        lines[0]
            .ends_with("the login was denied in the browser; run again and approve to continue"),
        "{stderr}"
    );
}

/// Nobody logs in: the timeout and the flag that changes it, exit 2.
#[tokio::test]
async fn cli_login_timeout_says_what_to_do() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let (code, stderr) =
        client_alone(&["--server-url", &mocks.mcp_url, "--login-timeout", "1"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    let lines = error_lines(&stderr);
    assert_eq!(
        lines[0],
        "error: no login within 1 s — finish the login in the browser sooner, or run again \
         with a longer --login-timeout"
    );
}

/// The callback port is taken: the port, the reason and the flag to change, exit 1.
#[tokio::test]
async fn cli_callback_port_in_use_says_what_to_do() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let (code, stderr) =
        client_alone(&["--server-url", &mocks.mcp_url, "--callback-port", &port]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let lines = error_lines(&stderr);
    assert_eq!(
        lines[0],
        format!(
            "error: cannot listen for the login redirect on 127.0.0.1:{port}: address already \
             in use — another program uses that port: pick another --callback-port, or 0 for \
             any free one"
        )
    );
    drop(taken);
}

/// Malformed settings are refused before anything is sent, each with what to write instead.
#[tokio::test]
async fn cli_malformed_settings_say_what_to_write() {
    let (code, stderr) = client_alone(&["--server-url", "localhost:8000/mcp"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let lines = error_lines(&stderr);
    assert!(
        lines[0].starts_with("error: invalid server URL `localhost:8000/mcp`"),
        "{stderr}"
    );
    assert!(
        lines[0].ends_with("e.g. --server-url http://localhost:8000/mcp"),
        "{stderr}"
    );

    let (code, stderr) = client_alone(&["--log-level", "warn=loud"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let lines = error_lines(&stderr);
    assert!(
        lines[0].starts_with("error: --log-level `warn=loud` is not a log filter"),
        "{stderr}"
    );

    // clap's own message for a value it does not know, with the values it knows.
    let (code, stderr) = client_alone(&["--protocol", "2024-11-05"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("auto, 2025-11-25, 2026-07-28"), "{stderr}");
}

/// CL-02: an `http://` server URL off loopback is one plain line naming the URL and why, before any request (exit 1).
#[tokio::test]
async fn cl02_cli_http_server_url_off_loopback_is_one_plain_line() {
    let (code, stderr) = client_alone(&["--server-url", "http://example.invalid/mcp"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let lines = error_lines(&stderr);
    assert_eq!(
        lines,
        [
            "error: refusing the MCP server URL http://example.invalid/mcp: plain http is allowed \
             only to localhost, 127.0.0.1 or [::1] (OAuth 2.1 §1.5) — use https"
        ]
    );
}

/// Escape sequences and other control characters a server could send.
const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{9b}31mgotcha\u{7f}";

/// Whether `text` holds a control character other than the line breaks of the client's own output.
fn has_foreign_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

/// CL-07: a tool result with an ANSI escape sequence is printed with U+FFFD in place of every control character.
#[tokio::test]
async fn cl07_cli_tool_result_prints_no_control_characters() {
    let behaviour = Behaviour {
        greeting: Some(format!("line one\n{HOSTILE}")),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let output = client(&mocks, scripted_browser(), &["--login-timeout", "20"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!has_foreign_control(&stdout), "{stdout:?}");
    assert!(!has_foreign_control(&stderr), "{stderr:?}");
    assert!(
        stdout.contains("greet:\nline one\u{FFFD}\u{FFFD}[2J\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}\u{FFFD}31mgotcha\u{FFFD}\n"),
        "{stdout:?}"
    );
}

/// CL-07: with `--json` the same result is escaped inside the JSON (C1 and DEL included) and parses back unchanged.
#[tokio::test]
async fn cl07_cli_json_output_escapes_control_characters() {
    let behaviour = Behaviour {
        greeting: Some(HOSTILE.to_owned()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let output = client(
        &mocks,
        scripted_browser(),
        &["--json", "--login-timeout", "20"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(!has_foreign_control(&stdout), "{stdout:?}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(outcome["calls"][0]["result"]["content"][0]["text"], HOSTILE);
}

/// CL-07: an `error_description` with an ANSI escape sequence reaches the error line without any control character.
#[tokio::test]
async fn cl07_cli_error_description_prints_no_control_characters() {
    let behaviour = Behaviour {
        error_description: Some(format!("no\n{HOSTILE}")),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let browser = format!("{} --deny", scripted_browser());
    let output = client(&mocks, &browser, &["--login-timeout", "20"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!has_foreign_control(&stderr), "{stderr:?}");
    let lines = error_lines(&stderr);
    assert!(
        lines[0].contains("error=access_denied (no\u{FFFD}\u{FFFD}[2J\u{FFFD}]0;pwned"),
        "{stderr:?}"
    );
}
