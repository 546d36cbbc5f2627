//! The demo's child processes: started with a clean environment, watched
//! until ready, and killed when dropped.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How long a server may take to answer its metadata URL.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A child process, killed and reaped when dropped: on success, on an error,
/// on a panic, and when Ctrl-C drops the future that owns it.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server started for the demo.
pub struct Server {
    child: ChildGuard,
    name: String,
    log: PathBuf,
}

impl Server {
    /// Starts `binary` with `env` (after removing any inherited AS_/RS_/MCP_
    /// settings), its output going to `log`.
    pub fn start(binary: &Path, env: &[(&str, &str)], log: &Path) -> Result<Self> {
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
    pub async fn wait_until_ready(&mut self, url: &str) -> Result<()> {
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
            super::relative(&self.log)
        );
        Ok(())
    }
}

/// Removes inherited settings that would reconfigure the children (a
/// developer's `AS_ISSUER` or `MCP_TOKEN_CACHE`, say), and keeps loopback
/// traffic away from any HTTP proxy the environment names.
pub fn clean_environment(command: &mut Command) {
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
