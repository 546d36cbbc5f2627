//! MCP Inspector's CLI (`mcp-inspector --cli`, pinned): lists the tools and
//! calls both, first with a bearer token in a header, then doing its own
//! OAuth flow. Its CLI prints the authorization URL and opens it through
//! the `open` package, whose bundled `xdg-open` honours `BROWSER` when no
//! desktop is detected; `MCP_AUTO_OPEN_ENABLED=true` lets it open a browser
//! without a terminal. `BROWSER` is `part5-scripted-browser`.
//!
//! Its files (catalog, client config, OAuth state) go to a `HOME` inside
//! `target/interop/`, and secrets stay in memory, so nothing lands in the
//! real home directory.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, Result, bail, ensure};

use super::{Setup, report::Check};

/// Runs the bearer-token and OAuth sub-checks.
pub async fn checks(setup: &Setup) -> Vec<Check> {
    let token = token(setup).await;
    let bearer = match &token {
        Ok(token) => vec![format!("Authorization: Bearer {token}")],
        Err(_) => Vec::new(),
    };
    let mut checks = Vec::new();
    for (name, method, tool) in [
        ("tools/list", "tools/list", None),
        ("greet", "tools/call", Some("greet")),
        ("server_time", "tools/call", Some("server_time")),
    ] {
        let check_name = format!("inspector cli bearer {name}");
        let result = match &token {
            Ok(_) => inspect(setup, method, tool, &bearer, false).await,
            Err(error) => Err(anyhow::anyhow!("no token: {error:#}")),
        };
        checks.push(Check::from_result(check_name, result));
    }
    checks.push(Check::from_result(
        "inspector cli oauth server_time (BROWSER=part5-scripted-browser)",
        inspect(setup, "tools/call", Some("server_time"), &[], true).await,
    ));
    checks
}

/// One CLI run; asserts on its JSON result.
async fn inspect(
    setup: &Setup,
    method: &str,
    tool: Option<&str>,
    headers: &[String],
    oauth: bool,
) -> Result<()> {
    let home = setup.out.join(if oauth {
        "inspector-home-oauth"
    } else {
        "inspector-home"
    });
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home)?;
    let mut command = tokio::process::Command::new(&setup.tools.node);
    command
        .arg(&setup.tools.inspector)
        .arg("--cli")
        .args(["--server-url", &setup.system.mcp_url])
        .args(["--method", method, "--format", "json"])
        .env("HOME", &home)
        .env("MCP_INSPECTOR_SECRET_STORE", "memory")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(tool) = tool {
        command.args(["--tool-name", tool]);
        if tool == "greet" {
            command.args(["--tool-arg", "name=Inspector"]);
        }
    }
    for header in headers {
        command.args(["--header", header]);
    }
    if oauth {
        command
            .args(["--callback-url", "http://127.0.0.1:0/oauth/callback"])
            .env("MCP_AUTO_OPEN_ENABLED", "true")
            .env("BROWSER", &setup.binaries.scripted_browser);
    } else {
        // With a header and no browser, a login attempt would hang: forbid it.
        command.arg("--stored-auth-only");
    }
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .context("the Inspector did not finish within 90 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "exit {}: {}",
            output.status,
            stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
        );
    }
    let value: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("no JSON on stdout: {stdout}"))?;
    let result = &value["result"];
    match tool {
        None => {
            let names: Vec<&str> = result["tools"]
                .as_array()
                .context("no tools")?
                .iter()
                .filter_map(|tool| tool["name"].as_str())
                .collect();
            ensure!(
                names.contains(&"greet") && names.contains(&"server_time"),
                "tools: {names:?}"
            );
        }
        Some("greet") => ensure!(
            result["structuredContent"]["greeting"] == "Hello, Inspector!",
            "greet: {result}"
        ),
        Some(_) => ensure!(
            result["isError"] != true && result["structuredContent"]["current_time"].is_string(),
            "server_time: {result}"
        ),
    }
    if oauth {
        ensure!(
            stderr.contains("Please navigate to:"),
            "the Inspector never asked for a login, so OAuth was not exercised"
        );
    }
    Ok(())
}

/// An access token, from a run of `part5-client` with the scripted browser
/// and a token cache file.
async fn token(setup: &Setup) -> Result<String> {
    let cache = setup.out.join("inspector-token-cache.json");
    let _ = std::fs::remove_file(&cache);
    let status = tokio::process::Command::new(&setup.binaries.client)
        .args(["--server-url", &setup.system.mcp_url, "--json"])
        .arg("--token-cache")
        .arg(&cache)
        .env("BROWSER", &setup.binaries.scripted_browser)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await?;
    ensure!(status.success(), "part5-client failed ({status})");
    let text = std::fs::read_to_string(&cache)?;
    let _ = std::fs::remove_file(&cache);
    let value: serde_json::Value = serde_json::from_str(&text)?;
    value["credentials"]["token_response"]["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token in the token cache")
}
