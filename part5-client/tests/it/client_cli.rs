//! The two binaries together, the way a person runs them: `part5-client`
//! with `BROWSER` pointing at `part5-scripted-browser` (rule CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::process::Output;

use crate::client_support::{Behaviour, Mocks};

async fn client(mocks: &Mocks, browser: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_part5-client"))
        .args(["--server-url", &mocks.mcp_url])
        .args(extra)
        .env("BROWSER", browser)
        .env_remove("MCP_TOKEN_CACHE")
        .env_remove("MCP_CLIENT_ID")
        .output()
        .await
        .expect("run part5-client")
}

fn scripted_browser() -> &'static str {
    env!("CARGO_BIN_EXE_part5-scripted-browser")
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

/// `BROWSER="part5-scripted-browser --deny"`: the denial ends the run with exit code 2.
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
