//! The human transcript: one line per step of the flow.
//!
//! The flow reports [`Step`]s to a [`Transcript`]; the binary prints them to
//! stderr, tests record them. No variant can carry a token, so a transcript
//! cannot leak one (rule CL-07). Most of what a step says comes from a
//! server, so `Display` passes every field through [`super::printable`]: no
//! escape sequence or line break from the network reaches the terminal.

use std::{fmt, sync::Mutex, time::Duration};

use super::printable::Printable as P;

// ANCHOR: step
/// One thing the client did or learned, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Opening an MCP session; `with_token` says whether a bearer token goes along.
    Connecting { url: String, with_token: bool },
    /// The server answered `server/discover` (MCP 2026-07-28) or
    /// `initialize` (2025-11-25); `lifecycle` names which.
    Connected {
        server_name: String,
        server_version: String,
        protocol_version: String,
        lifecycle: String,
    },
    /// The tools the server offers.
    Tools { names: Vec<String> },
    /// Calling a tool.
    Calling { tool: String },
    /// The server refused with 401 or 403 and this challenge (rule CL-01, CL-05).
    Challenge {
        status: u16,
        resource_metadata: Option<String>,
        scope: Option<String>,
        error: Option<String>,
    },
    /// Protected Resource Metadata found and checked (RFC 9728).
    ResourceMetadata {
        url: String,
        resource: String,
        authorization_servers: Vec<String>,
        scopes_supported: Vec<String>,
    },
    /// Authorization server metadata found and checked (RFC 8414).
    AuthorizationServer {
        issuer: String,
        metadata_url: String,
    },
    /// The resource now names another authorization server than the one our
    /// client id and tokens come from; both are forgotten (SEP-2352).
    IssuerChanged { from: String, to: String },
    /// Tokens from `--token-cache` are used.
    CachedTokens { path: String },
    /// How the client got its client id (rule CL-03).
    Registered { method: String, client_id: String },
    /// The loopback listener is up (rule CL-06).
    CallbackListening { redirect_uri: String },
    /// Asking for these scopes (rule CL-05).
    RequestingScopes { scopes: Vec<String>, upgrade: bool },
    /// A browser was started with the authorization URL.
    BrowserOpened { program: String },
    /// No browser: the person has to open the URL.
    OpenThisUrl { url: String, reason: String },
    /// Waiting for the redirect back to the loopback listener.
    WaitingForLogin { timeout: Duration },
    /// The redirect arrived and passed the `state`/`iss` checks.
    CallbackAccepted,
    /// The code was exchanged; the token itself is never shown.
    TokensReceived {
        scopes: Vec<String>,
        expires_in: Option<u64>,
        refresh_token: bool,
    },
    /// Opening a new session that carries the token.
    Reconnecting,
}
// ANCHOR_END: step

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting { url, with_token } => {
                let how = if *with_token {
                    "with a bearer token"
                } else {
                    "without a token"
                };
                write!(f, "connecting to {} ({how})", P(url))
            }
            Self::Connected {
                server_name,
                server_version,
                protocol_version,
                lifecycle,
            } => write!(
                f,
                "connected to {} {}, MCP protocol {} (negotiated with {})",
                P(server_name),
                P(server_version),
                P(protocol_version),
                P(lifecycle)
            ),
            Self::Tools { names } => write!(f, "tools offered: {}", P(&names.join(", "))),
            Self::Calling { tool } => write!(f, "calling {}", P(tool)),
            Self::Challenge {
                status,
                resource_metadata,
                scope,
                error,
            } => {
                write!(f, "server answered {status}")?;
                if let Some(error) = error {
                    write!(f, " error={}", P(error))?;
                }
                if let Some(scope) = scope {
                    write!(f, " scope=\"{}\"", P(scope))?;
                }
                if let Some(url) = resource_metadata {
                    write!(f, " resource_metadata={}", P(url))?;
                }
                Ok(())
            }
            Self::ResourceMetadata {
                url,
                resource,
                authorization_servers,
                scopes_supported,
            } => write!(
                f,
                "resource metadata at {}: resource {}, authorization servers [{}], scopes [{}]",
                P(url),
                P(resource),
                P(&authorization_servers.join(", ")),
                P(&scopes_supported.join(" "))
            ),
            Self::AuthorizationServer {
                issuer,
                metadata_url,
            } => {
                write!(
                    f,
                    "authorization server {} (metadata at {})",
                    P(issuer),
                    P(metadata_url)
                )
            }
            Self::IssuerChanged { from, to } => write!(
                f,
                "the resource now names authorization server {to} instead of {from}: \
                 forgetting the client id and tokens of {from}",
                from = P(from),
                to = P(to)
            ),
            Self::CachedTokens { path } => write!(f, "using cached tokens from {}", P(path)),
            Self::Registered { method, client_id } => {
                write!(f, "client id {} ({})", P(client_id), P(method))
            }
            Self::CallbackListening { redirect_uri } => {
                write!(f, "listening for the redirect on {}", P(redirect_uri))
            }
            Self::RequestingScopes { scopes, upgrade } => {
                let what = if *upgrade {
                    "re-authorizing for"
                } else {
                    "requesting"
                };
                write!(f, "{what} scopes \"{}\"", P(&scopes.join(" ")))
            }
            Self::BrowserOpened { program } => {
                write!(f, "opened the login page in your browser ({})", P(program))
            }
            Self::OpenThisUrl { url, reason } => {
                write!(
                    f,
                    "{}; open this URL to log in:\n\n    {}\n",
                    P(reason),
                    P(url)
                )
            }
            Self::WaitingForLogin { timeout } => {
                write!(
                    f,
                    "waiting up to {} s for the login to finish",
                    timeout.as_secs()
                )
            }
            Self::CallbackAccepted => {
                write!(f, "authorization response accepted (state and iss checked)")
            }
            Self::TokensReceived {
                scopes,
                expires_in,
                refresh_token,
            } => {
                write!(
                    f,
                    "received an access token for \"{}\"",
                    P(&scopes.join(" "))
                )?;
                if let Some(seconds) = expires_in {
                    write!(f, ", valid {seconds} s")?;
                }
                if *refresh_token {
                    write!(f, ", with a refresh token")?;
                }
                Ok(())
            }
            Self::Reconnecting => write!(f, "reconnecting with the access token"),
        }
    }
}

/// Where the steps go. The binary prints them; tests record them.
pub trait Transcript: Send + Sync {
    /// Reports one step.
    fn step(&self, step: Step);
}

/// Prints each step to stderr, so stdout stays free for results (and `--json`).
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrTranscript;

impl Transcript for StderrTranscript {
    fn step(&self, step: Step) {
        eprintln!("• {step}");
    }
}

/// Keeps the steps in memory, for tests.
#[derive(Debug, Default)]
pub struct RecordingTranscript {
    steps: Mutex<Vec<Step>>,
}

impl RecordingTranscript {
    /// The steps reported so far.
    pub fn steps(&self) -> Vec<Step> {
        self.steps
            .lock()
            .map(|steps| steps.clone())
            .unwrap_or_default()
    }
}

impl Transcript for RecordingTranscript {
    fn step(&self, step: Step) {
        if let Ok(mut steps) = self.steps.lock() {
            steps.push(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl07_steps_print_no_control_characters_from_servers() {
        let hostile = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\r\n• authorization response accepted\u{9b}";
        let steps = [
            Step::Connected {
                server_name: hostile.into(),
                server_version: hostile.into(),
                protocol_version: hostile.into(),
                lifecycle: "initialize".into(),
            },
            Step::Tools {
                names: vec![hostile.into()],
            },
            Step::Challenge {
                status: 401,
                resource_metadata: Some(hostile.into()),
                scope: Some(hostile.into()),
                error: Some(hostile.into()),
            },
            Step::ResourceMetadata {
                url: hostile.into(),
                resource: hostile.into(),
                authorization_servers: vec![hostile.into()],
                scopes_supported: vec![hostile.into()],
            },
            Step::AuthorizationServer {
                issuer: hostile.into(),
                metadata_url: hostile.into(),
            },
            Step::IssuerChanged {
                from: hostile.into(),
                to: hostile.into(),
            },
            Step::Registered {
                method: hostile.into(),
                client_id: hostile.into(),
            },
            Step::TokensReceived {
                scopes: vec![hostile.into()],
                expires_in: None,
                refresh_token: false,
            },
        ];
        for step in steps {
            let line = step.to_string();
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(line.contains("evil\u{FFFD}]0;pwned"), "{line:?}");
        }
    }
}
