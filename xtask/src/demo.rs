//! `cargo xtask demo`: the whole three-party system, end to end, the way a
//! newcomer would run it by hand in three terminals, but unattended.
//!
//! 1. Builds the binaries: the part-5 client and its scripted browser, the
//!    part-3 authorization server (AS) and the part-4 resource server (RS).
//! 2. Starts the AS and the RS as child processes on free loopback ports,
//!    configured for each other, and waits until each serves its metadata.
//! 3. Runs the client against the RS with `BROWSER` pointing at the scripted
//!    browser, which loads the real login page, submits the real form and
//!    follows the redirect back to the client. The client cannot tell it from
//!    a person: all it gets is a browser command, as with `xdg-open`.
//! 4. Streams the client's transcript, stops everything and exits with the
//!    client's status (0 success, 1 error, 2 authorization failed).
//!
//! Server logs go to `target/demo/*.log` and are printed when anything fails.
//! Every child is killed by a guard when it is dropped, so an error, a panic
//! or Ctrl-C never leaves a server running.
//!
//! [`build`] finds the binaries; [`process`] starts and guards the children.

mod build;
mod process;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;
use build::Binaries;
use process::{ChildGuard, Server, clean_environment, interrupted};

/// The demo user; the AS's defaults, set explicitly so the AS and the
/// scripted browser agree whatever the caller's environment says.
const USERNAME: &str = "demo_user";
const PASSWORD: &str = "demo_password";
/// How long the whole client run may take (the login is scripted, so it
/// normally takes well under a second).
const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
/// Exit status after Ctrl-C, as a shell reports it.
const INTERRUPTED: i32 = 130;
/// The servers' log files, in `target/demo/`.
const LOGS: [&str; 2] = ["authorization-server.log", "resource-server.log"];

/// Runs the demo; exits the process with the client's status when it is not 0.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask demo` takes no arguments (got `{arg}`)");
    }
    let logs = target_dir().join("demo");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    for name in LOGS {
        let _ = fs::remove_file(logs.join(name)); // Not a previous run's.
    }

    header("Building the binaries (part5-client, part5-scripted-browser, part3-as, part4-rs)");
    let binaries = Binaries::build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    // Every child is owned by `demo`'s future: when it returns, fails or is
    // dropped because of a signal, the guards inside have killed them all.
    let status = runtime.block_on(async {
        tokio::select! {
            status = demo(&binaries, &logs) => status,
            () = interrupted() => {
                Ok(INTERRUPTED)
            }
        }
    });
    drop(runtime);
    match status {
        Ok(0) => {
            header("Done: the client exited with status 0; both servers are stopped");
            Ok(())
        }
        Ok(INTERRUPTED) => {
            eprintln!("interrupted; the client and both servers are stopped");
            std::process::exit(INTERRUPTED)
        }
        Ok(code) => {
            print_logs(&logs);
            eprintln!("the client exited with status {code}; both servers are stopped");
            std::process::exit(code)
        }
        Err(error) => {
            print_logs(&logs);
            Err(error)
        }
    }
}

/// Starts the servers, runs the client, returns its exit status.
async fn demo(binaries: &Binaries, logs: &Path) -> Result<i32> {
    let [as_port, rs_port] = crate::workspace::free_ports()?;
    let issuer = format!("http://127.0.0.1:{as_port}");
    let mcp_url = format!("http://127.0.0.1:{rs_port}/mcp");

    header(&format!(
        "Starting the authorization server (part3-as) on {issuer}"
    ));
    let mut authorization_server = Server::start(
        &binaries.authorization_server,
        &[
            ("AS_HOST", "127.0.0.1"),
            ("AS_SERVER_PORT", &as_port.to_string()),
            ("AS_ISSUER", &issuer),
            ("AS_RESOURCES", &mcp_url),
            ("AS_DEMO_USERNAME", USERNAME),
            ("AS_DEMO_PASSWORD", PASSWORD),
        ],
        &logs.join(LOGS[0]),
    )?;
    authorization_server
        .wait_until_ready(&format!("{issuer}/.well-known/oauth-authorization-server"))
        .await?;

    header(&format!(
        "Starting the resource server (part4-rs) on {mcp_url}"
    ));
    let mut resource_server = Server::start(
        &binaries.resource_server,
        &[
            ("RS_HOST", "127.0.0.1"),
            ("RS_PORT", &rs_port.to_string()),
            ("RS_PUBLIC_URL", &mcp_url),
            ("RS_AUTH_SERVER_URL", &issuer),
        ],
        &logs.join(LOGS[1]),
    )?;
    resource_server
        .wait_until_ready(&format!(
            "http://127.0.0.1:{rs_port}/.well-known/oauth-protected-resource/mcp"
        ))
        .await?;

    let browser = binaries.browser_command()?;
    header(&format!(
        "Running the client: part5-client --server-url {mcp_url}\n    \
         with BROWSER={browser} (logs in as {USERNAME} on the real login page)"
    ));
    let status = run_client(&binaries.client, &mcp_url, &browser).await?;
    header("Stopping the servers");
    drop(resource_server);
    drop(authorization_server);
    Ok(status)
}

/// Runs the client in the foreground, its output going straight to ours.
/// Its status is polled rather than awaited, so the child stays in a
/// [`ChildGuard`] that kills and reaps it if this future is dropped.
async fn run_client(client: &Path, mcp_url: &str, browser: &str) -> Result<i32> {
    let mut command = Command::new(client);
    clean_environment(&mut command);
    let child = command
        .args(["--server-url", mcp_url])
        .env("BROWSER", browser)
        .env("AS_DEMO_USERNAME", USERNAME)
        .env("AS_DEMO_PASSWORD", PASSWORD)
        .env("MCP_LOGIN_TIMEOUT", "60")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", client.display()))?;
    let mut child = ChildGuard(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().context("cannot wait for the client")? {
            break status;
        }
        if started.elapsed() > CLIENT_DEADLINE {
            bail!("the client did not finish within {CLIENT_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A client killed by a signal has no code; report it like a shell would.
    Ok(status.code().unwrap_or(INTERRUPTED))
}

/// `CARGO_TARGET_DIR` or `<root>/target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace::root().join("target"), PathBuf::from)
}

/// `path` relative to the repository root when it is inside it.
fn relative(path: &Path) -> String {
    let root = workspace::root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One line per step, so a newcomer can follow what happens.
fn header(text: &str) {
    println!("\n==> {text}");
}

/// Prints the servers' logs, for a failed run.
fn print_logs(logs: &Path) {
    for name in LOGS {
        let path = logs.join(name);
        if let Ok(text) = fs::read_to_string(&path) {
            eprintln!("\n---- {} ----\n{}", relative(&path), text.trim_end());
        }
    }
}
