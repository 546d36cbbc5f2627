//! Everything that can go wrong in the client, in one enum, and the one place
//! where an error becomes a process exit code.

use std::time::Duration;

use super::callback::CallbackError;

// ANCHOR: client_error
/// Why a run of the client failed.
///
/// The variants follow the steps of the flow, so a message names the step
/// that failed and the rule it enforces. [`ClientError::exit_code`] sorts
/// them into "the authorization failed or was denied" (2) and everything
/// else (1).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--server-url` is not an absolute http(s) URL without a fragment.
    #[error("invalid server URL `{url}`: {reason}")]
    InvalidServerUrl { url: String, reason: String },

    /// The MCP server could not be reached or did not speak MCP.
    #[error("cannot connect to the MCP server at {url}: {message}")]
    Connect { url: String, message: String },

    /// An MCP request failed for a reason other than authorization.
    #[error("MCP request `{request}` failed: {message}")]
    Mcp { request: String, message: String },

    /// A discovery document could not be fetched (network error, 5xx).
    #[error("cannot fetch {what} from {url}: {message}")]
    Fetch {
        what: &'static str,
        url: String,
        message: String,
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
    #[error("authorization failed: {0}")]
    Callback(#[from] CallbackError),

    /// Nobody finished the login in the browser in time.
    #[error("no authorization response within {} s; run again to retry", .0.as_secs())]
    LoginTimeout(Duration),

    /// The token endpoint refused the code or the refresh token.
    #[error("token request failed: {0}")]
    Token(String),

    /// The server still refuses after we authorized (or upgraded scopes) once.
    #[error("the server still refuses access after authorization: {0}")]
    StillUnauthorized(String),

    /// The loopback callback listener could not be started (rule CL-06).
    #[error("cannot start the loopback callback listener: {0}")]
    CallbackListener(std::io::Error),

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
            | Self::LoginTimeout(_)
            | Self::Token(_)
            | Self::StillUnauthorized(_) => 2,
            _ => 1,
        }
    }
}
// ANCHOR_END: exit_code
