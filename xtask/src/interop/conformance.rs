//! The official MCP conformance suite (`@modelcontextprotocol/conformance`),
//! run with the pinned Node 22 in all three of its modes:
//!
//! - `server --url <RS>/mcp`: the scenarios that apply to a server whose
//!   tools are `greet` and `server_time` ([`SERVER_SCENARIOS`]); the rest
//!   need the suite's own fixture tools, resources and prompts.
//! - `authorization --url <issuer>`: AS metadata and the authorization-code
//!   grant. The suite prints an authorization URL and waits on a loopback
//!   callback; `part5-scripted-browser` logs in on our real login page.
//! - `client`: our client against the suite's mock AS and RS, started per
//!   scenario through [`client_shim`], at each version of
//!   [`CLIENT_SPEC_VERSIONS`]: `--suite auth` for the scenarios the suite
//!   groups there, then, by name, every other auth scenario
//!   `list --client --spec-version V` names for that version (the suite
//!   does not add the 2026-07-28-only ones to `--suite auth`).
//!
//! `interop/expected-failures.yml` is the suite's own baseline format; the
//! suite fails a run whose baselined scenario passes (a stale entry), and
//! so do we.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Setup, report::Check};
use crate::process::strip_ansi;

/// Server scenarios that apply to our RS, and the spec versions to run
/// them at (the RS serves both).
pub const SERVER_SCENARIOS: &[(&str, &str)] = &[
    ("server-initialize", "2025-11-25"),
    ("server-session-lifecycle", "2025-11-25"),
    ("ping", "2025-11-25"),
    ("tools-list", "2025-11-25"),
    ("server-sse-multiple-streams", "2025-11-25"),
    ("dns-rebinding-protection", "2025-11-25"),
    ("tools-list", "2026-07-28"),
    ("server-sse-multiple-streams", "2026-07-28"),
    ("dns-rebinding-protection", "2026-07-28"),
    ("http-header-validation", "2026-07-28"),
    ("server-stateless", "2026-07-28"),
    ("caching", "2026-07-28"),
];

/// The spec versions the client auth scenarios run at: our client speaks
/// both (`--protocol auto`).
pub const CLIENT_SPEC_VERSIONS: &[&str] = &["2025-11-25", "2026-07-28"];

/// The CIMD URL the suite's `auth/basic-cimd` scenario expects a client to
/// use (its mock AS never fetches it). Our client uses it only where an
/// AS advertises `client_id_metadata_document_supported` (rule CL-03).
const CONFORMANCE_CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";

/// Runs the three modes.
pub async fn checks(setup: &Setup) -> Vec<Check> {
    let baseline = match Baseline::load(&setup.root.join("interop/expected-failures.yml")) {
        Ok(baseline) => baseline,
        Err(error) => return vec![Check::fail("conformance", format!("{error:#}"))],
    };
    let mut checks = Vec::new();
    for (scenario, spec) in SERVER_SCENARIOS {
        checks.push(server_scenario(setup, &baseline, scenario, spec).await);
    }
    checks.push(Check::skip(
        "conformance server (other scenarios)",
        "not applicable: they call the suite's fixture tools, resources and prompts \
         (test_simple_text, test_image_content, …) that a server with greet and server_time \
         does not have; see book/src/works-with.md",
    ));
    checks.extend(authorization(setup).await);
    checks.extend(client_suite(setup, &baseline).await);
    checks
}

async fn server_scenario(setup: &Setup, baseline: &Baseline, scenario: &str, spec: &str) -> Check {
    let name = format!("conformance server {scenario} ({spec})");
    let out = setup.out.join("conformance/server");
    let mut command = suite(setup);
    command
        .args(["server", "--url", &setup.system.mcp_url])
        .args(["--scenario", scenario, "--spec-version", spec])
        .arg("--expected-failures")
        .arg(&baseline.path)
        .arg("-o")
        .arg(&out);
    match output(command, Duration::from_secs(120)).await {
        Ok((true, _)) => match baseline.reason("server", scenario) {
            Some(reason) => Check::pass(format!("{name} (checks baselined: {reason})")),
            None => Check::pass(name),
        },
        Ok((false, text)) => Check::fail(name, failing_lines(&text)),
        Err(error) => Check::fail(name, format!("{error:#}")),
    }
}

/// `conformance authorization`: registers a client for the suite's
/// loopback callback, then lets the scripted browser log in.
async fn authorization(setup: &Setup) -> Vec<Check> {
    let name = "conformance authorization";
    let result = async {
        let [port] = crate::process::free_ports()?;
        let client_id = register(setup, &format!("http://127.0.0.1:{port}/callback")).await?;
        let mut command = suite(setup);
        command
            .args(["authorization", "--url", &setup.system.issuer])
            .args(["--client-id", &client_id, "--port", &port.to_string()])
            .args(["--resource", &setup.system.mcp_url])
            .arg("-o")
            .arg(setup.out.join("conformance/authorization"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().context("cannot start the suite")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut text = String::new();
        let mut url_next = false;
        let reading = async {
            while let Some(line) = lines.next_line().await? {
                text.push_str(&line);
                text.push('\n');
                if url_next && line.starts_with("http") {
                    let status = tokio::process::Command::new(&setup.binaries.scripted_browser)
                        .arg(line.trim())
                        .stdout(Stdio::null())
                        .status()
                        .await?;
                    if !status.success() {
                        bail!("part5-scripted-browser failed ({status}) on {line}");
                    }
                }
                url_next = line.starts_with("Access the following URL");
            }
            anyhow::Ok(())
        };
        tokio::time::timeout(Duration::from_secs(120), reading)
            .await
            .context("the suite did not finish within 120 s")??;
        let status = child.wait().await?;
        anyhow::Ok((status.success(), text))
    }
    .await;
    match result {
        Ok((_, text)) => scenario_lines(&text)
            .into_iter()
            .map(|(scenario, passed, line)| {
                let name = format!("{name} {scenario}");
                if passed {
                    Check::pass(name)
                } else {
                    Check::fail(name, line)
                }
            })
            .collect(),
        Err(error) => vec![Check::fail(name, format!("{error:#}"))],
    }
}

/// Every client auth scenario at every version of [`CLIENT_SPEC_VERSIONS`].
async fn client_suite(setup: &Setup, baseline: &Baseline) -> Vec<Check> {
    let mut checks = Vec::new();
    for spec in CLIENT_SPEC_VERSIONS {
        checks.extend(client_auth(setup, baseline, spec).await);
    }
    checks
}

/// The client auth scenarios at `spec`: the suite's `--suite auth`, then
/// each applicable auth scenario it left out, by name; one check per
/// scenario and a last one that counts them.
async fn client_auth(setup: &Setup, baseline: &Baseline, spec: &str) -> Vec<Check> {
    let name = format!("conformance client auth ({spec})");
    let wanted = match auth_scenarios(setup, spec).await {
        Ok(wanted) if !wanted.is_empty() => wanted,
        Ok(_) => return vec![Check::fail(name, "the suite lists no auth scenario")],
        Err(error) => return vec![Check::fail(name, format!("{error:#}"))],
    };
    let out = setup.out.join("conformance/client").join(spec);
    let mut command = match client_command(setup, baseline) {
        Ok(command) => command,
        Err(error) => return vec![Check::fail(name, format!("{error:#}"))],
    };
    command
        .args(["--suite", "auth", "--spec-version", spec])
        .arg("-o")
        .arg(&out);
    let mut results: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let mut checks = Vec::new();
    match output(command, Duration::from_secs(300)).await {
        Ok((success, text)) => {
            for (scenario, passed, line) in scenario_lines(&text) {
                results.insert(scenario, (passed, line));
            }
            if results.is_empty() && !success {
                checks.push(Check::fail(format!("{name} --suite"), failing_lines(&text)));
            }
        }
        Err(error) => checks.push(Check::fail(format!("{name} --suite"), format!("{error:#}"))),
    }
    let left_out: Vec<String> = wanted
        .iter()
        .filter(|s| !results.contains_key(*s))
        .cloned()
        .collect();
    for scenario in &left_out {
        let mut command = match client_command(setup, baseline) {
            Ok(command) => command,
            Err(error) => return vec![Check::fail(name, format!("{error:#}"))],
        };
        command
            .args(["--scenario", scenario, "--spec-version", spec])
            .arg("-o")
            .arg(&out);
        let result = match output(command, Duration::from_secs(120)).await {
            Ok((passed, text)) => (passed, failing_lines(&text)),
            Err(error) => (false, format!("{error:#}")),
        };
        results.insert(scenario.to_owned(), result);
    }
    let mut passed = 0;
    for (scenario, (ok, line)) in &results {
        let check_name = format!("conformance client {scenario} ({spec})");
        checks.push(match (ok, baseline.reason("client", scenario)) {
            (true, None) => {
                passed += 1;
                Check::pass(check_name)
            }
            (true, Some(_)) => Check::fail(
                check_name,
                "passes but is listed in interop/expected-failures.yml: remove the entry",
            ),
            (false, Some(reason)) => Check::skip(check_name, format!("expected failure: {reason}")),
            (false, None) => Check::fail(check_name, line.clone()),
        });
    }
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|s| !results.contains_key(*s))
        .collect();
    let summary = format!("{passed} of {} scenarios pass", wanted.len());
    checks.push(if passed == wanted.len() && missing.is_empty() {
        Check::pass(format!("{name}: {summary}"))
    } else {
        Check::fail(name, summary)
    });
    checks
}

/// The auth scenarios `conformance list --client --spec-version spec`
/// names, extensions left out (they are not on the spec's timeline).
async fn auth_scenarios(setup: &Setup, spec: &str) -> Result<Vec<String>> {
    let mut command = suite(setup);
    command.args(["list", "--client", "--spec-version", spec]);
    let (success, text) = output(command, Duration::from_secs(60)).await?;
    if !success {
        bail!("conformance list failed: {}", failing_lines(&text));
    }
    Ok(listed_auth_scenarios(&text))
}

/// `  - auth/name [2025-11-25,2026-07-28]` lines, by name.
fn listed_auth_scenarios(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|entry| !entry.contains("[extension]"))
        .filter_map(|entry| entry.split_whitespace().next())
        .filter(|name| name.starts_with("auth/"))
        .map(str::to_owned)
        .collect()
}

/// `conformance client` with our client as the command (through
/// [`client_shim`]) and the baseline.
fn client_command(setup: &Setup, baseline: &Baseline) -> Result<tokio::process::Command> {
    // Others may rebuild xtask while this runs: Linux then reports the
    // running binary as `… (deleted)`, and the path names the new one.
    let path = std::env::current_exe()?;
    let text = path.to_string_lossy();
    let shim = PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text));
    let mut command = suite(setup);
    command
        .arg("client")
        .arg("--command")
        // The suite splits this on spaces and appends the server URL.
        .arg(format!("{} interop conformance-client", shim.display()))
        .arg("--expected-failures")
        .arg(&baseline.path)
        .env("INTEROP_PART5_CLIENT", &setup.binaries.client)
        .env("BROWSER", &setup.binaries.scripted_browser);
    Ok(command)
}

/// Run by the suite for each client scenario: `part5-client` with the
/// server URL the suite appended, the pre-registered credentials of the
/// scenario context (`MCP_CONFORMANCE_CONTEXT`) when there are some, and
/// the suite's CIMD URL. Exits with the client's status.
pub fn client_shim(args: &[String]) -> Result<()> {
    let Some(server_url) = args.last() else {
        bail!("usage: cargo xtask interop conformance-client SERVER_URL");
    };
    let client = std::env::var_os("INTEROP_PART5_CLIENT").context("INTEROP_PART5_CLIENT unset")?;
    let mut command = std::process::Command::new(client);
    command
        .args([
            "--server-url",
            server_url,
            "--json",
            "--login-timeout",
            "20",
        ])
        .args(["--client-metadata-url", CONFORMANCE_CIMD_URL]);
    if let Ok(context) = std::env::var("MCP_CONFORMANCE_CONTEXT") {
        let context: serde_json::Value = serde_json::from_str(&context)?;
        if let Some(id) = context["client_id"].as_str() {
            command.args(["--client-id", id]);
            if let Some(secret) = context["client_secret"].as_str() {
                command.args(["--client-secret", secret]);
            }
        }
    }
    let status = command.status().context("cannot start part5-client")?;
    std::process::exit(status.code().unwrap_or(1));
}

/// The pinned Node running the suite's CLI, in `target/interop/`.
fn suite(setup: &Setup) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&setup.tools.node);
    command
        .arg(&setup.tools.conformance)
        .current_dir(&setup.out)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs a command to the end; success and stdout+stderr.
async fn output(mut command: tokio::process::Command, limit: Duration) -> Result<(bool, String)> {
    let output = tokio::time::timeout(limit, command.output())
        .await
        .with_context(|| format!("no result within {} s", limit.as_secs()))??;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), strip_ansi(&text)))
}

/// DCR with our AS for a public client with `redirect_uri`.
async fn register(setup: &Setup, redirect_uri: &str) -> Result<String> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let body: serde_json::Value = http
        .post(format!("{}/register", setup.system.issuer))
        .json(&serde_json::json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "client_name": "MCP conformance suite",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["client_id"]
        .as_str()
        .map(str::to_owned)
        .context("registration returned no client_id")
}

/// The suite's summary lines, `✓ name: …` or `✗ name: …`.
fn scenario_lines(text: &str) -> Vec<(String, bool, String)> {
    let summary = text.rsplit_once("SUMMARY ===").map_or("", |(_, rest)| rest);
    summary
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (passed, rest) = if let Some(rest) = line.strip_prefix("✓ ") {
                (true, rest)
            } else {
                (false, line.strip_prefix("✗ ")?)
            };
            let (name, _) = rest.split_once(": ")?;
            Some((name.to_owned(), passed, line.to_owned()))
        })
        .collect()
}

/// The lines of a run that say what failed.
fn failing_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.contains("FAILURE")
                || line.contains("✗")
                || line.contains("Error")
                || line.contains("rror:")
        })
        .take(8)
        .collect();
    if lines.is_empty() {
        text.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
    } else {
        lines.join(" | ")
    }
}

/// `interop/expected-failures.yml`: `mode:` sections of `- scenario  # reason`.
#[derive(Debug)]
pub struct Baseline {
    pub path: PathBuf,
    entries: BTreeMap<(String, String), String>,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            entries: parse_baseline(&text),
        })
    }

    /// Why `scenario` (or one of its checks) may fail in `mode`.
    pub fn reason(&self, mode: &str, scenario: &str) -> Option<String> {
        let reasons: Vec<&str> = self
            .entries
            .iter()
            .filter(|((m, entry), _)| {
                m == mode
                    && (entry == scenario
                        || entry.split_once(':').is_some_and(|(s, _)| s == scenario))
            })
            .map(|(_, reason)| reason.as_str())
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

fn parse_baseline(text: &str) -> BTreeMap<(String, String), String> {
    let mut entries = BTreeMap::new();
    let mut mode = String::new();
    for line in text.lines() {
        if let Some(section) = line
            .strip_suffix(':')
            .filter(|s| !s.starts_with([' ', '#']))
        {
            mode = section.trim().to_owned();
            continue;
        }
        let Some(item) = line.trim().strip_prefix("- ") else {
            continue;
        };
        let (entry, reason) = item.split_once('#').unwrap_or((item, ""));
        entries.insert(
            (mode.clone(), entry.trim().to_owned()),
            reason.trim().to_owned(),
        );
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_are_read_after_the_summary_header() {
        let text = "✓ not-this: 1 passed\n=== SUITE SUMMARY ===\n\n✓ auth/a: 18 passed, 0 failed\n✗ auth/b: 1 passed, 6 failed\nTotal: 19 passed\n";
        let lines = scenario_lines(text);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].0.as_str(), lines[0].1), ("auth/a", true));
        assert_eq!((lines[1].0.as_str(), lines[1].1), ("auth/b", false));
    }

    #[test]
    fn baseline_entries_carry_their_reasons() {
        let text = "# top\nserver:\n  - caching:sep-2549-prompts-list-caching-hints  # no prompts\nclient:\n  # long\n  - auth/metadata-var2  # CL-01 root PRM\n";
        let baseline = Baseline {
            path: PathBuf::new(),
            entries: parse_baseline(text),
        };
        assert_eq!(
            baseline.reason("server", "caching").as_deref(),
            Some("no prompts")
        );
        assert_eq!(
            baseline.reason("client", "auth/metadata-var2").as_deref(),
            Some("CL-01 root PRM")
        );
        assert_eq!(baseline.reason("client", "auth/other"), None);
    }

    #[test]
    fn the_checked_in_baseline_gives_every_entry_a_reason() -> Result<()> {
        let baseline =
            Baseline::load(&crate::workspace::root().join("interop/expected-failures.yml"))?;
        for ((mode, entry), reason) in &baseline.entries {
            assert!(!reason.is_empty(), "{mode}: {entry} has no reason");
        }
        Ok(())
    }

    #[test]
    fn auth_scenarios_are_read_from_the_list() {
        let text = "Client scenarios (test against a client):\n  - initialize [2025-06-18,2025-11-25]\n  - auth/metadata-default [2025-11-25,2026-07-28]\n  - auth/iss-supported [2026-07-28]\n  - auth/dpop [extension]\n";
        assert_eq!(
            listed_auth_scenarios(text),
            ["auth/metadata-default", "auth/iss-supported"]
        );
    }

    #[test]
    fn ansi_colours_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[32mSUCCESS\u{1b}[0m ok"), "SUCCESS ok");
    }
}
