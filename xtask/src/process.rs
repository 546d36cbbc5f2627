//! Child processes, for the commands that run the servers (`demo`, `tryit`,
//! `bench`, `interop`): one place that builds the binaries, finds free
//! loopback ports, starts a server with a clean environment and waits until
//! it listens, and kills every child it started.
//!
//! Each child lives in a [`ChildGuard`] (a [`Server`] holds one), which
//! kills and reaps it when dropped: on success, on an error, on a panic,
//! and when a signal drops the future that owns it (see [`interrupted`]).

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs,
    io::BufRead as _,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// How long a server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The `cargo` that runs xtask (`CARGO`), so a pinned toolchain is kept.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `CARGO_TARGET_DIR` or `<root>/target`: where the logs of a run go.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace::root().join("target"), PathBuf::from)
}

/// `args` with `-p PACKAGE` / `--package PACKAGE` replaced by the whole
/// workspace's selection when the bins are named one by one.
fn workspace_selection<'a>(args: &[&'a str]) -> Vec<&'a str> {
    if !args.contains(&"--bin") {
        return args.to_vec();
    }
    let mut selected = vec!["--workspace", "--features", "xtask/net"];
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "-p" | "--package" => {
                rest.next();
            }
            other => selected.push(other),
        }
    }
    selected
}

/// The binaries one `cargo build` produced, by target name.
#[derive(Debug, Clone, Default)]
pub struct Built(BTreeMap<String, PathBuf>);

impl Built {
    /// The path of bin `name`, or an error naming it.
    pub fn get(&self, name: &str) -> Result<&Path> {
        self.0
            .get(name)
            .map(PathBuf::as_path)
            .with_context(|| format!("cargo built no `{name}`"))
    }
}

/// `cargo build ARGS` in one invocation (so cargo builds everything in
/// parallel); the paths come from cargo's own report, so a custom target
/// directory works too.
///
/// Bins named with `--bin` are built with the feature resolution of `cargo
/// xtask test` (`--workspace --features xtask/net`) instead of that of their
/// package alone: cargo unifies features over the packages a command
/// selects, so a build of one part's bins after the tests would otherwise
/// compile tokio, rustls, hyper and most other dependencies a second time
/// with other features. Only the named bins (and what they need) are built.
pub fn cargo_build(args: &[&str]) -> Result<Built> {
    let args = workspace_selection(args);
    let output = Command::new(cargo())
        .current_dir(workspace::root())
        .arg("build")
        .args(&args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !output.status.success() {
        bail!("cargo build {} failed ({})", args.join(" "), output.status);
    }
    let mut built = BTreeMap::new();
    for line in output.stdout.lines() {
        let line = line.context("cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let (Some(name), Some(path)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            built.insert(name.to_owned(), PathBuf::from(path));
        }
    }
    Ok(Built(built))
}

/// `N` distinct loopback ports that were free a moment ago. A child process
/// cannot be handed a bound socket, so we bind `127.0.0.1:0`, read the ports
/// and release them; all are held at once, so they differ.
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    for _ in 0..N {
        listeners.push(TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?);
    }
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// `N` distinct free loopback ports of four digits, like the documented
/// 8000 and 9000, for output that shows them: a port of another width would
/// change every `content-length` the book prints. 3000 (the chapters'
/// example redirect URI), 8000 and 9000 are never used, so a reader's own
/// servers are safe.
pub fn four_digit_ports<const N: usize>() -> Result<[u16; N]> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const FIRST: u16 = 1100;
    const SPAN: u16 = 9999 - FIRST;
    let seed = u16::try_from(std::process::id() % u32::from(SPAN)).unwrap_or(0);
    let mut held = Vec::with_capacity(N);
    for _ in 0..SPAN {
        if held.len() == N {
            break;
        }
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let port = FIRST + (seed + offset) % SPAN;
        if [3000, 8000, 9000].contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push((port, listener));
        }
    }
    let mut ports = [0; N];
    if held.len() < N {
        bail!("found no {N} free four-digit loopback ports");
    }
    for (port, (held, _)) in ports.iter_mut().zip(&held) {
        *port = *held;
    }
    Ok(ports)
}

/// Removes inherited settings that would reconfigure a child (a developer's
/// `AS_ISSUER`, `MCP_TOKEN_CACHE`, `RUST_LOG` or `BROWSER`) unless the
/// command sets them itself, and keeps loopback traffic away from any HTTP
/// proxy the environment names.
pub fn clean_environment(command: &mut Command) {
    clean_environment_of(command, std::env::vars_os().map(|(key, _)| key));
}

/// [`clean_environment`] for the `inherited` variable names.
fn clean_environment_of(command: &mut Command, inherited: impl Iterator<Item = OsString>) {
    let own: Vec<OsString> = command.get_envs().map(|(key, _)| key.to_owned()).collect();
    for key in inherited {
        let text = key.to_string_lossy();
        let reconfigures = ["AS_", "RS_", "MCP_"].iter().any(|p| text.starts_with(p))
            || text == "RUST_LOG"
            || text == "BROWSER"
            || ["http_proxy", "https_proxy", "all_proxy"]
                .iter()
                .any(|proxy| text.eq_ignore_ascii_case(proxy));
        if reconfigures && !own.contains(&key) {
            command.env_remove(&key);
        }
    }
    let no_proxy = OsString::from("127.0.0.1,localhost,::1");
    command
        .env("NO_PROXY", &no_proxy)
        .env("no_proxy", &no_proxy);
}

/// A child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Waits for the child to exit, polling, and fails (killing it on drop)
    /// when it runs past `deadline`.
    pub fn wait_within(&mut self, deadline: Duration, what: &str) -> Result<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > deadline {
                bail!("{what} did not finish within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server started from a binary, listening on a known loopback port,
/// its output appended to a log file; stopped when dropped, and able to be
/// stopped and started again on the same port.
#[derive(Debug)]
pub struct Server {
    child: Option<ChildGuard>,
    name: String,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `binary` with `env` (on a clean environment), logging to `log`
    /// (emptied first), and returns once `127.0.0.1:port` accepts
    /// connections: no fixed sleep, and a server that exits early fails at
    /// once, with its log.
    pub fn start(
        name: &str,
        binary: &Path,
        env: &[(&str, String)],
        port: u16,
        log: &Path,
    ) -> Result<Self> {
        Self::start_with_args(name, binary, &[], env, port, log)
    }

    /// [`Server::start`], with arguments for `binary`.
    pub fn start_with_args(
        name: &str,
        binary: &Path,
        args: &[String],
        env: &[(&str, String)],
        port: u16,
        log: &Path,
    ) -> Result<Self> {
        fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut server = Self {
            child: None,
            name: name.to_owned(),
            binary: binary.to_path_buf(),
            args: args.to_vec(),
            env: env
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone()))
                .collect(),
            port,
            log: log.to_path_buf(),
        };
        server.restart()?;
        Ok(server)
    }

    /// Kills the server, as Ctrl-C in its terminal would.
    pub fn stop(&mut self) {
        self.child = None;
    }

    /// Starts the server (again) and waits until it listens.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut command = Command::new(&self.binary);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .env("NO_COLOR", "1"); // Plain text in the log file.
        clean_environment(&mut command);
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let child = self.child.insert(ChildGuard(child));
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            if let Some(status) = child.0.try_wait()? {
                bail!(
                    "{} exited ({status}) before it listened on {address}; its log:\n{}",
                    self.name,
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if started.elapsed() > START_DEADLINE {
                bail!(
                    "{} did not listen on {address} within {START_DEADLINE:?} (log: {})",
                    self.name,
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// What the server is called in messages (`AS`, `part4-rs`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id while the server runs (`bench` reads its memory).
    #[cfg_attr(not(feature = "net"), allow(dead_code))]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|child| child.0.id())
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

/// Resolves on Ctrl-C (and, on Unix, SIGTERM, as CI sends on a timeout).
/// Poll it first (`tokio::select! { biased; ... }`), so its handlers are in
/// place before the work it races starts.
pub async fn interrupted() {
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

/// Removes ANSI escape sequences, from what a child printed despite
/// `NO_COLOR` and a pipe: `ESC [ … final` (colours, cursor moves; the final
/// byte is one of `@`..`~`) and `ESC intermediates final` (`ESC ( B`).
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '\u{1b}' {
            plain.push(ch);
        } else if chars.next_if_eq(&'[').is_some() {
            for code in chars.by_ref() {
                if ('@'..='~').contains(&code) {
                    break;
                }
            }
        } else {
            while chars.next_if(|code| (' '..='/').contains(code)).is_some() {}
            chars.next();
        }
    }
    plain
}

/// The path of `program` on `PATH`; when it is missing, installs Debian's
/// `package` with apt-get first (the way `book` gets Chromium), or fails
/// saying what to install.
pub fn ensure_debian_program(program: &str, package: &str) -> Result<PathBuf> {
    if let Some(found) = on_path(program) {
        return Ok(found);
    }
    apt_get_install(package, program)?;
    on_path(program)
        .with_context(|| format!("apt-get installed {package}, but {program} is not on PATH"))
}

/// `apt-get update && apt-get install -y PACKAGE`, non-interactively, for
/// `missing` (what was not found, named in the messages); fails saying what
/// to install when apt-get cannot run (not Debian) or fails (not root).
/// Shared by [`ensure_debian_program`] and by `postgres`, whose server
/// binaries Debian keeps off `PATH`.
pub fn apt_get_install(package: &str, missing: &str) -> Result<()> {
    println!("{missing} not found: apt-get update && apt-get install -y {package}");
    for args in [&["update"][..], &["install", "-y", package][..]] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .with_context(|| {
                format!("{missing} is missing and apt-get cannot run (is this Debian?); install {package} and run again")
            })?;
        if !status.success() {
            bail!(
                "{missing} is missing and `apt-get {}` failed ({status}); install {package} and run again",
                args.join(" ")
            );
        }
    }
    Ok(())
}

/// `program` in one of the `PATH` directories.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_bins_are_built_with_the_workspace_selection() {
        assert_eq!(
            workspace_selection(&["-p", "part5-client", "--bin", "part5-as", "--quiet"]),
            [
                "--workspace",
                "--features",
                "xtask/net",
                "--bin",
                "part5-as",
                "--quiet"
            ]
        );
        let whole_package = ["--release", "--package", "part5-client", "--bins"];
        assert_eq!(workspace_selection(&whole_package), whole_package);
    }

    #[test]
    fn ansi_sequences_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[32mSUCCESS\u{1b}[0m ok"), "SUCCESS ok");
        assert_eq!(
            strip_ansi("\u{1b}[2m2025-01-01\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "2025-01-01  WARN x"
        );
        assert_eq!(strip_ansi("a\u{1b}(Bb"), "ab", "a charset switch");
        assert_eq!(strip_ansi("\u{1b}[1;31m[error]\u{1b}[K!"), "[error]!");
        assert_eq!(strip_ansi("plain ✓"), "plain ✓");
    }

    #[test]
    fn ports_are_distinct_and_four_digits_wide() {
        let [a, b, c] = four_digit_ports().expect("ports");
        for port in [a, b, c] {
            assert!((1000..=9999).contains(&port), "{port}");
            assert!(![3000, 8000, 9000].contains(&port));
        }
        assert!(a != b && b != c && a != c);
        let [x, y] = free_ports().expect("ports");
        assert_ne!(x, y);
    }

    /// A variable the command sets itself survives the cleaning; inherited
    /// ones that would reconfigure the child do not.
    #[test]
    fn clean_environment_keeps_what_the_command_sets() {
        let mut command = Command::new("true");
        command.env("BROWSER", "scripted");
        let inherited = ["BROWSER", "AS_ISSUER", "HTTPS_PROXY", "PATH", "HOME"];
        clean_environment_of(&mut command, inherited.into_iter().map(OsString::from));
        let envs: BTreeMap<String, Option<String>> = command
            .get_envs()
            .map(|(key, value)| {
                let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
                (text(key), value.map(text))
            })
            .collect();
        let set = |value: &str| Some(value.to_owned());
        assert_eq!(envs.get("BROWSER"), Some(&set("scripted")));
        assert_eq!(envs.get("AS_ISSUER"), Some(&None), "removed");
        assert_eq!(envs.get("HTTPS_PROXY"), Some(&None), "removed");
        assert_eq!(envs.get("PATH"), None, "inherited as it is");
        assert_eq!(envs.get("NO_PROXY"), Some(&set("127.0.0.1,localhost,::1")));
    }

    /// A server that exits before it listens fails at once, with its log.
    #[test]
    fn a_server_that_exits_early_fails_with_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("x.log");
        let [port] = free_ports().expect("port");
        let error = Server::start("sh", Path::new("/bin/sh"), &[], port, &log)
            .expect_err("sh does not listen");
        assert!(error.to_string().contains("exited"), "{error:#}");
    }
}
