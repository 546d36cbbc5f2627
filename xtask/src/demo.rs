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

use std::{
    ffi::OsString,
    fs,
    io::BufRead as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// The demo user; the AS's defaults, set explicitly so the AS and the
/// scripted browser agree whatever the caller's environment says.
const USERNAME: &str = "demo_user";
const PASSWORD: &str = "demo_password";
/// How long a server may take to answer its metadata URL.
const START_DEADLINE: Duration = Duration::from_secs(30);
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
    let as_port = free_port()?;
    let rs_port = free_port()?;
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

/// The binaries the demo runs, as cargo reported them.
struct Binaries {
    authorization_server: PathBuf,
    resource_server: PathBuf,
    client: PathBuf,
    scripted_browser: PathBuf,
}

impl Binaries {
    /// Two `cargo build`s (one per set of packages, so `--bins` does not
    /// build the other parts' bins too); the paths come from cargo's own
    /// report, so a custom target directory works.
    fn build() -> Result<Self> {
        let mut built = cargo_build(&["-p", "part5-client", "--bins"])?;
        built.extend(cargo_build(&[
            "-p",
            "part3-as-full",
            "--bin",
            "part3-as",
            "-p",
            "part4-protected-rs",
            "--bin",
            "part4-rs",
        ])?);
        let find = |name: &str| {
            built
                .iter()
                .find(|(bin, _)| bin == name)
                .map(|(_, path)| path.clone())
                .with_context(|| format!("cargo built no `{name}`"))
        };
        Ok(Self {
            authorization_server: find("part3-as")?,
            resource_server: find("part4-rs")?,
            client: find("part5-client")?,
            scripted_browser: find("part5-scripted-browser")?,
        })
    }

    /// The `BROWSER` value. Clients split `BROWSER` on whitespace, so a path
    /// with a space in it gets a space-free symbolic link in the temp dir.
    fn browser_command(&self) -> Result<String> {
        let path = self.scripted_browser.to_string_lossy().into_owned();
        if !path.contains(char::is_whitespace) {
            return Ok(path);
        }
        #[cfg(unix)]
        {
            let link = std::env::temp_dir().join("part5-scripted-browser-demo");
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(&self.scripted_browser, &link)
                .with_context(|| format!("cannot create {}", link.display()))?;
            let link = link.to_string_lossy().into_owned();
            if !link.contains(char::is_whitespace) {
                return Ok(link);
            }
        }
        bail!("the scripted browser's path has a space in it, which BROWSER cannot hold: {path}")
    }
}

/// `cargo build ARGS`; returns each built binary's name and path.
fn cargo_build(args: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace::root())
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !output.status.success() {
        bail!("cargo build {} failed ({})", args.join(" "), output.status);
    }
    let mut built = Vec::new();
    for line in output.stdout.lines() {
        let line = line.context("cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let (Some(name), Some(path)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            built.push((name.to_owned(), PathBuf::from(path)));
        }
    }
    Ok(built)
}

/// A child process, killed and reaped when dropped: on success, on an error,
/// on a panic, and when Ctrl-C drops the future that owns it.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server started for the demo.
struct Server {
    child: ChildGuard,
    name: String,
    log: PathBuf,
}

impl Server {
    /// Starts `binary` with `env` (after removing any inherited AS_/RS_/MCP_
    /// settings), its output going to `log`.
    fn start(binary: &Path, env: &[(&str, &str)], log: &Path) -> Result<Self> {
        let file =
            fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(binary);
        clean_environment(&mut command);
        let child = command
            .envs(env.iter().copied())
            .env("NO_COLOR", "1") // Plain text in the log file.
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let name = binary.file_name().map_or_else(
            || binary.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        Ok(Self {
            child: ChildGuard(child),
            name,
            log: log.to_path_buf(),
        })
    }

    /// Polls `url` until it answers 200, the process exits, or the deadline
    /// passes. No fixed sleep: a fast machine goes on at once.
    async fn wait_until_ready(&mut self, url: &str) -> Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.0.try_wait()? {
                bail!("{} exited ({status}) before it was ready", self.name);
            }
            match http.get(url).send().await {
                Ok(response) if response.status().is_success() => break,
                Ok(_) | Err(_) if started.elapsed() < START_DEADLINE => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(response) => bail!("{url} answered {}", response.status()),
                Err(error) => bail!(
                    "{} did not answer {url} within {START_DEADLINE:?}: {error}",
                    self.name
                ),
            }
        }
        println!(
            "    ready in {} ms: {url} answered 200 (log: {})",
            started.elapsed().as_millis(),
            relative(&self.log)
        );
        Ok(())
    }
}

/// Removes inherited settings that would reconfigure the children (a
/// developer's `AS_ISSUER` or `MCP_TOKEN_CACHE`, say), and keeps loopback
/// traffic away from any HTTP proxy the environment names.
fn clean_environment(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if ["AS_", "RS_", "MCP_"]
            .iter()
            .any(|prefix| key_text.starts_with(prefix))
            || key_text == "RUST_LOG"
        {
            command.env_remove(&key);
        }
    }
    let mut no_proxy = OsString::from("127.0.0.1,localhost,::1");
    if let Some(existing) = std::env::var_os("NO_PROXY").filter(|value| !value.is_empty()) {
        no_proxy.push(",");
        no_proxy.push(existing);
    }
    command
        .env("NO_PROXY", &no_proxy)
        .env("no_proxy", &no_proxy);
}

/// Resolves on Ctrl-C (and, on Unix, SIGTERM, as CI sends on a timeout).
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A loopback port that was free a moment ago: a child process cannot be
/// handed a bound socket, so we bind, read the port and release it.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
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
