//! `cargo xtask interop [--only WORD]`: the part-5 system against software
//! we did not write.
//!
//! It installs the pinned tools of `interop/versions.txt` into
//! `.cache/interop/` ([`cache`]), builds part 5 and starts its
//! authorization server and resource server on free loopback ports
//! ([`system`]), then runs:
//!
//! | group | what |
//! |---|---|
//! | [`browser`] | headless Chromium over WebDriver ([`webdriver`]): login, screenshot, anti-framing, and a login on part 6 over https ([`https`]) |
//! | [`conformance`] | the official MCP conformance suite: `server`, `authorization`, `client --suite auth` |
//! | [`python`] | the official Python SDK's `OAuthClientProvider` (`interop/python_client.py`) |
//! | [`inspector`] | MCP Inspector's CLI, with a bearer token and with its own OAuth flow |
//!
//! Every check prints one line ([`report`]), and the last line is
//! `N passed, M failed`; any failure makes the exit status 1.
//! `--only WORD` runs the groups whose name contains WORD.
//!
//! `cargo xtask interop conformance-client URL` is not for people: it is the
//! command the conformance suite starts for each client scenario.

/// The Python of the interop tools' venv, with the official Python SDK
/// (`mcp`, pinned in `interop/versions.txt`) installed first when it is
/// missing: the bench runs its peer server with it.
pub fn python_sdk() -> Result<std::path::PathBuf> {
    let root = workspace::root();
    let versions = versions::Versions::load(&root.join("interop/versions.txt"))?;
    cache::python(&root.join(".cache/interop"), &versions)
}

mod browser;
mod cache;
mod conformance;
mod https;
mod inspector;
mod python;
mod report;
mod system;
mod versions;
mod webdriver;

use std::{
    io::Write as _,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;
use report::Check;

/// Everything a check needs: the tools, the binaries, the running servers
/// and where to write.
#[derive(Debug)]
pub struct Setup {
    pub tools: cache::Tools,
    pub binaries: system::Binaries,
    pub system: system::System,
    /// `target/interop/`: logs, suite results, the screenshot.
    pub out: PathBuf,
    pub root: PathBuf,
}

const GROUPS: [&str; 4] = ["browser", "conformance", "python", "inspector"];

/// Runs the interop checks (or, with `conformance-client`, one client run
/// for the suite).
pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("conformance-client") {
        return conformance::client_shim(&args[1..]);
    }
    let only = match args {
        [] => None,
        [flag, word] if flag == "--only" => Some(word.clone()),
        _ => bail!("usage: cargo xtask interop [--only browser|conformance|python|inspector]"),
    };
    let started = Instant::now();
    let root = workspace::root();
    let versions = versions::Versions::load(&root.join("interop/versions.txt"))?;
    let cache = root.join(".cache/interop");
    let groups: Vec<&str> = GROUPS
        .into_iter()
        .filter(|group| only.as_deref().is_none_or(|word| group.contains(word)))
        .collect();
    let tools = cache::install(&cache, &versions, &groups)?;
    for name in [
        "@modelcontextprotocol/conformance",
        "@modelcontextprotocol/inspector",
        "mcp",
    ] {
        eprintln!("interop: {name} {}", versions.version(name).unwrap_or("?"));
    }
    let binaries = system::build()?;
    let out = system::target_dir().join("interop");
    std::fs::create_dir_all(&out)?;
    let system = system::System::start(&binaries, &out.join("logs"))
        .context("cannot start the part-5 servers")?;
    eprintln!(
        "interop: {} at {}, part5-rs at {}",
        binaries.as_name, system.issuer, system.mcp_url
    );
    let setup = Setup {
        tools,
        binaries,
        system,
        out,
        root,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let mut checks: Vec<Check> = Vec::new();
    for group in groups {
        let results = runtime.block_on(async {
            match group {
                "browser" => browser::checks(&setup).await,
                "conformance" => conformance::checks(&setup).await,
                "python" => python::checks(&setup).await,
                _ => inspector::checks(&setup).await,
            }
        });
        for check in &results {
            println!("{check}");
        }
        let _ = std::io::stdout().flush();
        checks.extend(results);
    }
    drop(setup);
    runtime.shutdown_timeout(Duration::from_secs(5));
    eprintln!("interop: {:.1} s", started.elapsed().as_secs_f64());
    println!("{}", report::summary(&checks));
    if report::any_failed(&checks) {
        // The summary must stay the last line, so no error message follows.
        std::process::exit(1);
    }
    Ok(())
}
