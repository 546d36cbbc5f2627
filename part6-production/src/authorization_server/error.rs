//! The errors of the authorization server, and the one place where they are
//! mapped onto OAuth error codes and HTTP status codes.
//!
//! The logic layer returns these values and never picks a status code; the
//! web layer renders them and never picks an error code. Two kinds exist
//! because an authorization server answers in two ways:
//!
//! - [`OAuthError`]: sent to the client, as JSON from the API endpoints
//!   (RFC 6749 §5.2) or as `error=` on the redirect URI (RFC 6749 §4.1.2.1).
//! - [`PageError`]: shown to the person in the browser, because the request
//!   cannot be trusted enough to send them anywhere (rule AS-04, AS-15).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

// ANCHOR: oauth_error
/// An error reported to the client, with a description for developers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// Malformed, missing or repeated parameter (RFC 6749 §5.2).
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// Client authentication failed (RFC 6749 §5.2). `basic_attempted`
    /// decides whether the answer carries `WWW-Authenticate: Basic`.
    #[error("client authentication failed")]
    InvalidClient { basic_attempted: bool },
    /// A bad code, verifier or refresh token (RFC 6749 §5.2).
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// The client did not register this grant type (RFC 6749 §5.2).
    #[error("the client is not registered for this grant type")]
    UnauthorizedClient,
    /// Any `grant_type` but the two this server implements.
    #[error("grant_type must be authorization_code or refresh_token")]
    UnsupportedGrantType,
    /// Any `response_type` but `code` (RFC 6749 §4.1.2.1).
    #[error("response_type must be code")]
    UnsupportedResponseType,
    /// A scope this server does not know, or wider than granted.
    #[error("{0}")]
    InvalidScope(&'static str),
    /// A `resource` that is not configured (RFC 8707 §2).
    #[error("{0}")]
    InvalidTarget(&'static str),
    /// The user pressed Deny (RFC 6749 §4.1.2.1).
    #[error("the user denied the request")]
    AccessDenied,
    /// A redirect URI that registration refuses (RFC 7591 §3.2.2).
    #[error("{0}")]
    InvalidRedirectUri(&'static str),
    /// Other registration metadata that is refused (RFC 7591 §3.2.2).
    #[error("{0}")]
    InvalidClientMetadata(&'static str),
    /// A store is full, or the operating system's random number generator
    /// failed: try again later.
    #[error("the server cannot take this request now, try again later")]
    TemporarilyUnavailable,
}

impl OAuthError {
    /// The `error` value of RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2 and
    /// RFC 8707 §2.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The error a stored error code stands for (the database keeps the
    /// error a sign-in will send back as its code; the description is not
    /// sent on a redirect, so a generic one is enough).
    pub fn from_code(code: &str) -> Self {
        match code {
            "invalid_client" => Self::InvalidClient {
                basic_attempted: false,
            },
            "invalid_grant" => Self::InvalidGrant("the grant is invalid"),
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "invalid_scope" => Self::InvalidScope("the scope is invalid"),
            "invalid_target" => Self::InvalidTarget("the resource is invalid"),
            "access_denied" => Self::AccessDenied,
            "invalid_redirect_uri" => Self::InvalidRedirectUri("the redirect_uri is invalid"),
            "invalid_client_metadata" => {
                Self::InvalidClientMetadata("the client metadata is invalid")
            }
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            _ => Self::InvalidRequest("the authorization request is invalid"),
        }
    }

    /// The status of a JSON error answer: 401 for failed client
    /// authentication (RFC 6749 §5.2), 503 when busy, else 400.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The JSON error answer of RFC 6749 §5.2. `Cache-Control: no-store` is
/// added by the routes that need it, on every answer, errors included.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let mut response = (self.status(), Json(body)).into_response();
        if self == Self::TemporarilyUnavailable {
            // The database is unreachable or a table is full: say when to
            // come back (RFC 9110 §10.2.3) rather than fail for good.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Self::InvalidClient {
            basic_attempted: true,
        } = self
        {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\", charset=\"UTF-8\""),
            );
        }
        response
    }
}
// ANCHOR_END: oauth_error

// ANCHOR: page_error
/// An error shown on an HTML page instead of being sent to a client:
/// redirecting would trust a client or redirect URI that is not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("The request could not be read (a parameter is malformed or repeated).")]
    MalformedRequest,
    #[error("The application is not registered with this server.")]
    UnknownClient,
    #[error("The request names no redirect_uri.")]
    MissingRedirectUri,
    #[error("The redirect_uri is not one the application registered.")]
    UnregisteredRedirectUri,
    #[error(
        "This sign-in request has expired or was already used. Start again from the application."
    )]
    Expired,
    #[error(
        "This form was not sent from the page this server showed you. Start again from the application."
    )]
    CsrfMismatch,
    /// A form posted from another site: the browser said so with
    /// `Sec-Fetch-Site: cross-site`, or sent a foreign `Origin` (rule AS-20).
    #[error("This form was sent from another site. Sign in from the page this server shows you.")]
    CrossSite,
    /// The `state` is over its cap (rule AS-18): an error page, because
    /// redirecting would carry the oversized value back.
    #[error("The request's state parameter is longer than 1 KiB.")]
    StateTooLong,
    /// The `client_id` is a URL, but its Client ID Metadata Document
    /// cannot be used (draft-ietf-oauth-client-id-metadata-document): to
    /// the person in the browser, an unknown client, with the reason.
    #[error("The application's client ID metadata document cannot be used: {0}.")]
    ClientDocument(DocumentError),
    #[error("The server is busy. Try again in a minute.")]
    Busy,
}

impl PageError {
    /// 400 for every request problem; 403 for a form this server did not
    /// show in this browser (rule AS-20); 503 when the server is busy.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::CsrfMismatch | Self::CrossSite => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
// ANCHOR_END: page_error

// ANCHOR: document_error
/// Why a `client_id` URL gives no client: its Client ID Metadata Document
/// (draft-ietf-oauth-client-id-metadata-document-00) could not be fetched,
/// or was refused. `/authorize` shows it on the error page (rule AS-04);
/// `/token` and `/revoke` answer `invalid_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The URL itself is not one this server fetches (draft §3, "Client Identifier").
    #[error("{0}")]
    BadUrl(&'static str),
    /// The host is, or resolves to, an address this server never connects
    /// to: loopback, private, link-local and the like (SSRF: the draft's security considerations).
    #[error("its host is a private, loopback or link-local address")]
    ForbiddenAddress,
    /// No answer in time, a refused connection, a TLS or DNS failure.
    #[error("it could not be fetched")]
    Unreachable,
    /// Any status but 200, redirects included (they are not followed).
    #[error("fetching it did not answer 200 OK (redirects are not followed)")]
    Status,
    /// Larger than the limit; reading stopped there.
    #[error("it is larger than 5 KiB")]
    TooLarge,
    /// Not a JSON object.
    #[error("it is not a JSON object")]
    NotJson,
    /// A JSON object whose metadata is refused (draft §4, rule AS-06).
    #[error("{0}")]
    Invalid(&'static str),
    /// The database could not be asked whether the client is registered:
    /// not the document's fault, and answered as "busy", not "unknown".
    #[error("the server cannot look up clients right now")]
    Unavailable,
}
// ANCHOR_END: document_error

/// Why the server could not start: a problem with the command line, the
/// configuration or the machine, reported before anything is served. Each
/// message is for the person starting the server: its first line says what
/// happened, the second what to do (see [`super::startup`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    /// A flag or environment variable that does not parse; already worded.
    #[error("{0}")]
    Arguments(String),
    /// A setting that parses but cannot work.
    #[error("{problem}\n{fix}")]
    Setting { problem: String, fix: String },
    #[error(
        "the configuration is invalid: {0}\nfix the setting and start again; --help lists them all"
    )]
    Config(&'static str),
    /// Someone else listens on the port.
    #[error(
        "cannot listen on {0}: the address is already in use\nis another authorization server running? stop it, or choose another port with --port or AS_SERVER_PORT"
    )]
    AddressInUse(String),
    /// Ports below 1024 need privileges on most systems.
    #[error(
        "cannot listen on {0}: permission denied\nchoose a port above 1023 with --port or AS_SERVER_PORT"
    )]
    PermissionDenied(String),
    /// The host is not an address of this machine, or does not resolve.
    #[error(
        "cannot listen on {0}: {1}\nset --host or AS_HOST to an address of this machine, such as 127.0.0.1"
    )]
    Host(String, String),
    #[error(
        "cannot hash the demo password: {0}\ntry again; if it persists, check the memory available"
    )]
    PasswordHash(String),
    #[error(
        "the operating system's random number generator failed\ntry again; it is needed for every secret this server makes"
    )]
    Randomness,
    #[error(
        "cannot build the HTTP client that fetches client metadata documents: {0}\ncheck the machine's TLS setup"
    )]
    HttpClient(String),
    /// The database named by `AS_DATABASE_URL` cannot be used; the
    /// message already says what to do.
    #[error("{0}")]
    Database(String),
    /// The server failed after it started.
    #[error("the server stopped: {0}")]
    Serve(String),
}
