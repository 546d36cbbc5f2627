//! The official MCP Python SDK (PyPI `mcp`, pinned) through
//! `interop/python_client.py`: its `OAuthClientProvider` discovers,
//! registers, logs in through our real login form, calls `greet` and
//! `server_time`, and refreshes.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, Result, ensure};

use super::{Setup, report::Check};

/// Runs the script once.
pub async fn checks(setup: &Setup) -> Vec<Check> {
    vec![Check::from_result(
        "python sdk: OAuth login, greet, server_time, refresh",
        run(setup).await,
    )]
}

async fn run(setup: &Setup) -> Result<()> {
    let script = setup.root.join("interop/python_client.py");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&setup.tools.python)
            .arg(&script)
            .arg(&setup.system.mcp_url)
            .env("SCRIPTED_BROWSER", &setup.binaries.scripted_browser)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the Python client did not finish within 120 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::write(setup.out.join("python-client.json"), stdout.as_bytes())?;
    ensure!(
        output.status.success(),
        "{} ({})",
        stderr.lines().last().unwrap_or_default(),
        output.status
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout).context("the Python client printed no JSON")?;
    ensure!(
        report["greet"] == "Hello, Python!",
        "greet: {}",
        report["greet"]
    );
    ensure!(
        report["server_time_after_refresh"]["current_time"].is_string(),
        "no server_time after the refresh: {report}"
    );
    Ok(())
}
