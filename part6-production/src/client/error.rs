//! Everything that can go wrong in the client, in one enum, and the one place
//! where an error becomes a process exit code.

use std::time::Duration;

use super::callback::CallbackError;

// ANCHOR: client_error
/// Why a run of the client failed.
///
/// The variants follow the steps of the flow, so a message names the step
/// that failed and the rule it enforces. Each message says what happened in
/// plain words and, where a person can do something about it, what to do
/// (after " — "); no SDK type names, no debug dumps.
/// [`ClientError::exit_code`] sorts them into "the authorization failed or
/// was denied" (2) and everything else (1).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--server-url` is not an absolute http(s) URL without a fragment.
    #[error(
        "invalid server URL `{url}`: {reason} — give the MCP endpoint as an absolute \
         http(s) URL, e.g. --server-url http://localhost:8000/mcp"
    )]
    InvalidServerUrl { url: String, reason: String },

    /// An endpoint the client was given or discovered is plain http on a
    /// host that is not this machine (OAuth 2.1 §1.5; rule CL-02).
    #[error(
        "refusing {what} {url}: plain http is allowed only to localhost, 127.0.0.1 or [::1] \
         (OAuth 2.1 §1.5) — use https"
    )]
    InsecureEndpoint { what: String, url: String },

    /// Nothing answered at the MCP server's address.
    #[error(
        "cannot connect to {url}: {reason} — is the resource server running? \
         (cargo run -p part4-protected-rs)"
    )]
    Unreachable { url: String, reason: String },

    /// The MCP server answered, but not as an MCP server should.
    #[error(
        "{url} did not start an MCP conversation: {reason} — is --server-url the MCP endpoint?"
    )]
    Connect { url: String, reason: String },

    /// An MCP request failed for a reason other than authorization.
    #[error("MCP request `{request}` failed: {reason}")]
    Mcp { request: String, reason: String },

    /// A discovery document could not be fetched (network error, 5xx).
    #[error("cannot fetch {what} from {url}: {reason}{}", hint_suffix(.hint))]
    Fetch {
        what: &'static str,
        url: String,
        reason: String,
        /// What to do about it, when there is something.
        hint: Option<&'static str>,
    },

    /// Protected Resource Metadata missing or not about this server (rule CL-01).
    #[error("protected resource metadata: {0}")]
    ResourceMetadata(String),

    /// Authorization server metadata missing, for another issuer, or without
    /// S256 (rule CL-02).
    #[error("authorization server metadata: {0}")]
    AuthServerMetadata(String),

    /// No way to obtain a client id, or the registration endpoint refused us
    /// (rule CL-03).
    #[error("client registration: {0}")]
    Registration(String),

    /// The authorization request the SDK built does not meet rule CL-04.
    #[error("refusing to send an unsafe authorization request: {0}")]
    UnsafeAuthorizationRequest(String),

    /// The redirect to the loopback listener was refused: wrong `state` or
    /// `iss`, or the authorization server answered with an error such as
    /// `access_denied` (RFC 6749 §4.1.2.1, RFC 9207).
    #[error("authorization failed: {error}{hint}", error = .0, hint = callback_hint(.0))]
    Callback(#[from] CallbackError),

    /// Nobody finished the login in the browser in time. `refused` counts
    /// the requests to the listener that did not carry the login's `state`
    /// (rule CL-06): they were answered 400 and did not end the wait.
    #[error(
        "no login within {} s{} — finish the login in the browser sooner, or run again \
         with a longer --login-timeout",
        .timeout.as_secs(),
        refused_suffix(*.refused)
    )]
    LoginTimeout { timeout: Duration, refused: u32 },

    /// The token endpoint refused the code or the refresh token.
    #[error("token request failed: {0}")]
    Token(String),

    /// The server still refuses after we authorized (or upgraded scopes) once.
    #[error("the server still refuses access after authorization: {0}")]
    StillUnauthorized(String),

    /// The loopback callback listener could not be started (rule CL-06).
    #[error("cannot listen for the login redirect on 127.0.0.1:{port}: {reason}{}", listener_hint(*.port, .reason))]
    CallbackListener { port: u16, reason: String },

    /// The OAuth machinery of rmcp failed for an infrastructural reason.
    #[error("OAuth: {0}")]
    OAuth(#[from] rmcp::transport::AuthError),
}
// ANCHOR_END: client_error

// ANCHOR: exit_code
impl ClientError {
    /// The process exit code: 2 when the authorization itself failed or was
    /// denied (`error=access_denied`, a refused callback, a rejected code, a
    /// login that never came), 1 for everything else (unreachable servers,
    /// broken metadata, MCP errors). Ctrl-C (130) is handled by the binary.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Callback(_)
            | Self::LoginTimeout { .. }
            | Self::Token(_)
            | Self::StillUnauthorized(_) => 2,
            _ => 1,
        }
    }
}
// ANCHOR_END: exit_code

// ANCHOR: plain_reason
/// Why an HTTP exchange failed, in plain words: "connection refused",
/// "timed out", or the innermost message of the error chain, which is the
/// one without the SDK's wrapper types in it.
pub fn plain_reason(error: &(dyn std::error::Error + 'static)) -> String {
    failure(error).1
}

/// [`plain_reason`], and whether nothing answered at all (refused, timed
/// out, unknown host), which calls for "is it running?" rather than "is
/// this the right URL?".
pub fn failure(error: &(dyn std::error::Error + 'static)) -> (bool, String) {
    let mut current = Some(error);
    let mut innermost = error.to_string();
    let mut unreachable = false;
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            let words = match io.kind() {
                ErrorKind::ConnectionRefused => Some("connection refused"),
                ErrorKind::TimedOut => Some("timed out"),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                    Some("the connection was closed")
                }
                ErrorKind::AddrNotAvailable => Some("address not available"),
                _ => None,
            };
            if let Some(words) = words {
                return (true, words.to_owned());
            }
        }
        if let Some(http) = error.downcast_ref::<reqwest::Error>() {
            if http.is_timeout() {
                return (true, "timed out".to_owned());
            }
            unreachable |= http.is_connect();
            if let Some(status) = http.status() {
                return (false, format!("HTTP {status}"));
            }
        }
        innermost = error.to_string();
        current = cause(error);
    }
    (unreachable, innermost)
}

/// The next error down the chain. rmcp's wrappers do not all name their
/// cause as `source()`, so those are opened here.
fn cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    use rmcp::{
        service::ClientInitializeError, transport::streamable_http_client::StreamableHttpError,
    };
    match error.downcast_ref::<ClientInitializeError>() {
        Some(ClientInitializeError::TransportError { error, .. }) => return Some(error),
        Some(ClientInitializeError::LegacyFallbackFailed { fallback, .. }) => {
            return Some(fallback.as_ref());
        }
        _ => {}
    }
    if let Some(StreamableHttpError::Client(inner)) =
        error.downcast_ref::<StreamableHttpError<reqwest::Error>>()
    {
        return Some(inner);
    }
    error.source()
}
// ANCHOR_END: plain_reason

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|hint| format!(" — {hint}")).unwrap_or_default()
}

fn refused_suffix(refused: u32) -> String {
    match refused {
        0 => String::new(),
        1 => " (1 request to the callback without this login's state was refused)".to_owned(),
        n => format!(" ({n} requests to the callback without this login's state were refused)"),
    }
}

fn callback_hint(error: &CallbackError) -> &'static str {
    match error {
        CallbackError::Denied { error, .. } if error == "access_denied" => {
            " — the login was denied in the browser; run again and approve to continue"
        }
        CallbackError::Denied { .. } => {
            " — run again; if it persists, the authorization server's log says why"
        }
        _ => " — the login was not completed; run again",
    }
}

fn listener_hint(port: u16, reason: &str) -> String {
    if port != 0 && reason.contains("in use") {
        " — another program uses that port: pick another --callback-port, or 0 for any free one"
            .to_owned()
    } else {
        String::new()
    }
}

/// A listener error in plain words (the OS text without "(os error 98)").
pub fn listener_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => "address already in use".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}
