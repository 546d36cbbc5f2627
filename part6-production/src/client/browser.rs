//! Opening the authorization URL in the person's browser (rule CL-06).
//!
//! rmcp leaves this to the application. The URL is passed as one argument
//! to a program started directly, never through a shell, so nothing in it
//! can be interpreted as a command. Tests and the scripted browser plug in
//! through [`BrowserOpener`].

use std::{process::Stdio, time::Duration};

use futures::future::BoxFuture;

// ANCHOR: browser_opener
/// Shows the authorization URL to the person. An `Err` makes the client print
/// the URL instead, so a missing browser never blocks a login.
pub trait BrowserOpener: Send + Sync {
    /// Opens `url`; returns a short description of what was started.
    fn open<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, BrowserError>>;
}
// ANCHOR_END: browser_opener

/// Why no browser was opened.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// `--no-browser`.
    #[error("--no-browser was given")]
    Disabled,
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The program ran and failed.
    #[error("`{program}` failed ({status})")]
    Failed { program: String, status: String },
    /// Any other failure (used by injected openers).
    #[error("{0}")]
    Other(String),
}

// ANCHOR: browser_command
/// A program and its arguments, from `BROWSER` or the platform default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCommand {
    /// The program, looked up on `PATH`.
    pub program: String,
    /// Its arguments; `%s` in any of them is replaced by the URL.
    pub args: Vec<String>,
}

impl BrowserCommand {
    /// Parses a `BROWSER` value: split on whitespace into program and
    /// arguments. Blank ⇒ `None`.
    pub fn from_browser_env(value: &str) -> Option<Self> {
        let mut words = value.split_whitespace().map(str::to_owned);
        let program = words.next()?;
        Some(Self {
            program,
            args: words.collect(),
        })
    }

    /// `BROWSER` when set, else `open` on macOS, `xdg-open` elsewhere.
    pub fn from_environment() -> Self {
        std::env::var("BROWSER")
            .ok()
            .and_then(|value| Self::from_browser_env(&value))
            .unwrap_or_else(|| Self {
                program: if cfg!(target_os = "macos") {
                    "open"
                } else {
                    "xdg-open"
                }
                .into(),
                args: Vec::new(),
            })
    }

    /// The argument vector for `url`: `%s` replaced, else the URL appended.
    pub fn args_for(&self, url: &str) -> Vec<String> {
        let mut args: Vec<String> = self.args.iter().map(|arg| arg.replace("%s", url)).collect();
        if !self.args.iter().any(|arg| arg.contains("%s")) {
            args.push(url.to_owned());
        }
        args
    }
}
// ANCHOR_END: browser_command

/// How long to wait for the program to exit before taking "still running"
/// for "a browser window is open".
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// Starts [`BrowserCommand`] without a shell. Its stdout goes to our stderr,
/// so `--json` output stays clean.
#[derive(Debug, Clone)]
pub struct SystemBrowser {
    /// What to run.
    pub command: BrowserCommand,
}

impl SystemBrowser {
    /// The browser named by the environment.
    pub fn from_environment() -> Self {
        Self {
            command: BrowserCommand::from_environment(),
        }
    }
}

impl BrowserOpener for SystemBrowser {
    fn open<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, BrowserError>> {
        Box::pin(async move {
            let program = self.command.program.clone();
            let mut child = tokio::process::Command::new(&program)
                .args(self.command.args_for(url))
                .stdin(Stdio::null())
                .stdout(Stdio::from(std::io::stderr()))
                .spawn()
                .map_err(|source| BrowserError::Spawn {
                    program: program.clone(),
                    source,
                })?;
            // `xdg-open` and the scripted browser exit quickly; a browser
            // binary may keep running while its window is open.
            match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
                Ok(Ok(status)) if !status.success() => Err(BrowserError::Failed {
                    program,
                    status: status.to_string(),
                }),
                Ok(Err(error)) => Err(BrowserError::Spawn {
                    program,
                    source: error,
                }),
                _ => Ok(program),
            }
        })
    }
}

/// `--no-browser`: never opens anything, so the URL is printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBrowser;

impl BrowserOpener for NoBrowser {
    fn open<'a>(&'a self, _url: &'a str) -> BoxFuture<'a, Result<String, BrowserError>> {
        Box::pin(async { Err(BrowserError::Disabled) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl06_browser_env_is_split_on_whitespace() {
        let command = BrowserCommand::from_browser_env("  firefox --new-tab ");
        assert_eq!(
            command,
            Some(BrowserCommand {
                program: "firefox".into(),
                args: vec!["--new-tab".into()],
            })
        );
        assert_eq!(BrowserCommand::from_browser_env("   "), None);
    }

    #[test]
    fn cl06_url_replaces_percent_s_or_is_appended() {
        let url = "http://localhost:9000/authorize?a=1&b=$(rm -rf ~)";
        let appended = BrowserCommand::from_browser_env("open -a Safari");
        assert_eq!(
            appended.map(|c| c.args_for(url)),
            Some(vec!["-a".into(), "Safari".into(), url.into()])
        );
        let replaced = BrowserCommand::from_browser_env("browser --url=%s --flag");
        assert_eq!(
            replaced.map(|c| c.args_for(url)),
            Some(vec![format!("--url={url}"), "--flag".into()])
        );
    }

    #[tokio::test]
    async fn cl06_a_browser_that_fails_is_reported_not_fatal() {
        let missing = SystemBrowser {
            command: BrowserCommand {
                program: "/nonexistent/browser".into(),
                args: Vec::new(),
            },
        };
        assert!(matches!(
            missing.open("http://x").await,
            Err(BrowserError::Spawn { .. })
        ));
        let failing = SystemBrowser {
            command: BrowserCommand {
                program: "false".into(),
                args: Vec::new(),
            },
        };
        assert!(matches!(
            failing.open("http://x").await,
            Err(BrowserError::Failed { .. })
        ));
        assert!(matches!(
            NoBrowser.open("http://x").await,
            Err(BrowserError::Disabled)
        ));
    }
}
