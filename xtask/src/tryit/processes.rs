//! The binaries a session runs and the servers it starts: built by cargo,
//! started on free loopback ports with a clean environment, polled until
//! they accept connections, and killed when dropped.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// How long a server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The binaries the chapters run, by cargo target name.
#[derive(Debug, Clone)]
pub struct Binaries(BTreeMap<String, PathBuf>);

impl Binaries {
    /// One `cargo build` of exactly the bins the sessions start; the paths
    /// come from cargo's report, so a custom target directory works.
    pub fn build() -> Result<Self> {
        let args = [
            "-p",
            "part1-basic-rs",
            "--bin",
            "part1-rs",
            "-p",
            "part2-as-metadata",
            "--bin",
            "part2-as",
            "-p",
            "part3-as-full",
            "--bin",
            "part3-as",
            "-p",
            "part4-protected-rs",
            "--bin",
            "part4-rs",
            "-p",
            "part5-client",
            "--bin",
            "part5-client",
            "--bin",
            "part5-scripted-browser",
        ];
        let built: BTreeMap<String, PathBuf> =
            workspace::cargo_build_bins(&args)?.into_iter().collect();
        Ok(Self(built))
    }

    /// The path of bin `name`.
    pub fn get(&self, name: &str) -> Result<&Path> {
        self.0
            .get(name)
            .map(PathBuf::as_path)
            .with_context(|| format!("cargo built no `{name}`"))
    }
}

/// Fails with a clear message when curl, which every chapter uses, is missing.
pub fn require_curl() -> Result<()> {
    match Command::new("curl").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => bail!(
            "curl is not installed, and the chapters' Try it commands are curl commands; install it (`apt-get install curl`, `brew install curl`) and run again"
        ),
    }
}

/// A child process, killed and reaped when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server started for a session; it can be stopped and started again
/// on the same port, as the reader does with Ctrl-C in part 4.
pub struct Server {
    child: Option<ChildGuard>,
    binary: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `binary` with `env`, listening on `port`, logging to `log`,
    /// and returns once it accepts connections.
    pub fn start(binary: &Path, env: &[(&str, String)], port: u16, log: &Path) -> Result<Self> {
        let mut server = Self {
            child: None,
            binary: binary.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
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

    /// Starts the server (again) and polls until it accepts connections:
    /// no fixed sleep, and a server that exits early fails at once.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot create {}", self.log.display()))?;
        let mut command = Command::new(&self.binary);
        clean_environment(&mut command);
        let child = command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let child = self.child.insert(ChildGuard(child));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = child.0.try_wait()? {
                bail!(
                    "{} exited ({status}) before it listened; its log:\n{}",
                    self.binary.display(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if started.elapsed() > START_DEADLINE {
                bail!(
                    "{} did not listen on port {} within {START_DEADLINE:?}",
                    self.binary.display(),
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// Removes inherited settings that would reconfigure the children, and
/// keeps loopback traffic away from any proxy the environment names.
pub fn clean_environment(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let text = key.to_string_lossy();
        if ["AS_", "RS_", "MCP_"].iter().any(|p| text.starts_with(p))
            || text == "RUST_LOG"
            || text == "BROWSER"
            || text.eq_ignore_ascii_case("http_proxy")
            || text.eq_ignore_ascii_case("https_proxy")
            || text.eq_ignore_ascii_case("all_proxy")
        {
            command.env_remove(&key);
        }
    }
    let no_proxy = OsString::from("127.0.0.1,localhost,::1");
    command
        .env("NO_PROXY", &no_proxy)
        .env("no_proxy", &no_proxy);
}

/// `count` distinct free loopback ports of four digits, like the
/// documented 8000 and 9000: a port of another width would change every
/// `content-length` the book shows. 3000 (the chapters' example redirect
/// URI), 8000 and 9000 are never used, so a reader's own servers are safe.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const FIRST: u16 = 1100;
    const SPAN: u16 = 9999 - FIRST;
    let seed = u16::try_from(std::process::id() % u32::from(SPAN)).unwrap_or(0);
    let mut held = Vec::new();
    for _ in 0..SPAN {
        if held.len() == count {
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
    if held.len() < count {
        bail!("found no {count} free four-digit loopback ports");
    }
    Ok(held.into_iter().map(|(port, _)| port).collect())
}
