//! An MCP client that authorizes itself with OAuth 2.1 when the
//! server asks (MCP 2025-11-25 §Authorization; rule CL-01 … CL-07).
//!
//! [`run`] is the whole program: connect, list tools, call the tools of
//! `--call` (by default `greet` without a token, then `server_time`), and
//! when the server answers 401 do the flow below and retry. The modules, in the order the flow uses them:
//!
//! - [`options`]: the command line ([`Options`]); [`outcome`]: what a run returns.
//! - [`resource`]: the canonical server URL, which is also the RFC 8707 `resource`;
//!   [`tls`]: https everywhere, plain http to loopback only.
//! - [`session`]: the MCP lifecycle (`server/discover` of 2026-07-28 or
//!   `initialize` of 2025-11-25) through rmcp's `AuthClient`; 401/403 ⇒ authorize, retry.
//! - [`challenge`]: parsing `WWW-Authenticate: Bearer …`.
//! - [`discovery`]: Protected Resource Metadata, then authorization server metadata.
//! - [`registration`]: pre-registered id, Client ID Metadata Document, or DCR.
//! - [`authorize`]: one authorization; [`pkce`] checks the request rmcp built.
//! - [`callback`]: the loopback redirect listener, which [`redirect`] checks;
//!   [`browser`]: opening the URL.
//! - [`tokens`]: the token cache file; rmcp keeps and refreshes the tokens.
//! - [`transcript`]: the steps, for people; [`printable`]: server text made
//!   safe for a terminal; [`error`]: what can fail, and exit codes.
//!
//! The stand-in for a person at a browser, used by tests and the demo, is
//! not part of this library: it is the scripted-browser program
//! (`src/bin/scripted_browser.rs`), which the client starts like any browser.
//!
//! What rmcp does and what we add is said at the top of each module.

pub mod authorize;
pub mod browser;
pub mod callback;
pub mod challenge;
pub mod discovery;
pub mod error;
pub mod options;
pub mod outcome;
pub mod pkce;
pub mod printable;
pub mod redirect;
pub mod registration;
pub mod resource;
pub mod session;
pub mod tls;
pub mod tokens;
pub mod transcript;

use std::{sync::Arc, time::Duration};

use rmcp::{
    model::CallToolRequestParams,
    transport::auth::{AuthClient, AuthorizationManager, CredentialStore as _},
};
use url::Url;

pub use browser::{BrowserOpener, NoBrowser, SystemBrowser};
pub use error::ClientError;
pub use options::Options;
pub use outcome::{Outcome, ToolCall};
pub use transcript::{RecordingTranscript, StderrTranscript, Step, Transcript};

use callback::CallbackServer;
use discovery::Discovery;
use registration::{Registration, RegistrationMethod};

// ANCHOR: run
/// Runs the client once. `transcript` receives the steps; `browser` shows the
/// login page (the binary passes [`SystemBrowser`] or [`NoBrowser`], tests
/// inject their own).
pub async fn run(
    options: &Options,
    transcript: Arc<dyn Transcript>,
    browser: Arc<dyn BrowserOpener>,
) -> Result<Outcome, ClientError> {
    let mut flow = Flow::new(options, transcript, browser).await?;
    flow.use_cached_tokens().await?;
    let mut session = flow.connect().await?;
    let info = session.peer_info();
    let server = info.as_ref().and_then(|info| info.server_info.clone());
    let (server_name, server_version) =
        server.map_or_else(Default::default, |s| (s.name, s.version));
    let protocol_version = info
        .map(|info| info.protocol_version.clone())
        .unwrap_or_default();
    // 2026-07-28 has no `initialize`: rmcp got there with `server/discover`.
    let lifecycle = if protocol_version.has_initialize() {
        "initialize"
    } else {
        "server/discover"
    };
    let protocol_version = protocol_version.to_string();
    flow.transcript.step(Step::Connected {
        server_name: server_name.clone(),
        server_version: server_version.clone(),
        protocol_version: protocol_version.clone(),
        lifecycle: lifecycle.into(),
    });
    let tools = flow.list_tools(&mut session).await?;
    let tools: Vec<String> = tools
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    flow.transcript.step(Step::Tools {
        names: tools.clone(),
    });

    let mut calls = Vec::new();
    for tool in &options.call {
        let arguments = match tool.as_str() {
            "greet" => serde_json::json!({ "name": options.name }),
            _ => serde_json::json!({}),
        };
        let mut params = CallToolRequestParams::new(tool.clone());
        if let serde_json::Value::Object(map) = arguments.clone() {
            params = params.with_arguments(map);
        }
        // A tool the server does not list is still called: the server
        // decides, and may answer a call (with a 401 or 403 first) for a
        // tool it lists to nobody. When it refuses, the error says what
        // it does list, for a mistyped `--call`.
        let result = match flow.call_tool(&mut session, params).await {
            Err(ClientError::Mcp { request, reason }) if !tools.contains(tool) => {
                let listed = tools.join(", ");
                let reason = format!("{reason} (the server lists {listed})");
                return Err(ClientError::Mcp { request, reason });
            }
            result => result?,
        };
        calls.push(ToolCall {
            tool: tool.clone(),
            arguments,
            result,
        });
    }
    let _ = session.cancel().await;
    Ok(Outcome {
        server_name,
        server_version,
        protocol_version,
        tools,
        calls,
        logins: flow.logins,
    })
}
// ANCHOR_END: run

/// The state of one run, shared by [`session`] and [`authorize`].
pub(crate) struct Flow {
    options: Options,
    server_url: Url,
    /// The RFC 8707 `resource` tokens are asked for: the server URL, unless
    /// its metadata names its origin or a path prefix (rule CL-01, CL-04).
    token_resource: String,
    /// For discovery: no redirects, a timeout, nothing else.
    discovery_http: reqwest::Client,
    /// The MCP transport's HTTP client with rmcp's token handling around it.
    auth: AuthClient<reqwest::Client>,
    transcript: Arc<dyn Transcript>,
    browser: Arc<dyn BrowserOpener>,
    discovery: Option<Discovery>,
    registration: Option<Registration>,
    /// A client id (and its issuer) from the token cache.
    cached_client: Option<(String, Option<String>)>,
    /// The resource moved to another authorization server during this run,
    /// so `--client-id`, registered with the first one, is not used (SEP-2352).
    issuer_changed: bool,
    /// The scopes granted to the cached tokens. rmcp only tracks the scopes
    /// of grants it made itself in this process, so without these a 403
    /// upgrade after a cached login would ask for the new scope alone and
    /// lose the old ones (rule CL-05: the union).
    cached_scopes: Vec<String>,
    callback: Option<Arc<CallbackServer>>,
    has_token: bool,
    logins: u32,
    upgraded: bool,
}

/// How long a discovery request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

impl Flow {
    // ANCHOR: flow_new
    async fn new(
        options: &Options,
        transcript: Arc<dyn Transcript>,
        browser: Arc<dyn BrowserOpener>,
    ) -> Result<Self, ClientError> {
        let server_url = resource::canonical_server_url(&options.server_url)?;
        tls::require_tls("the MCP server URL", &server_url)?;
        let build_error = |error: reqwest::Error| ClientError::Connect {
            url: server_url.to_string(),
            reason: error::plain_reason(&error),
        };
        let discovery_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(build_error)?;
        // No overall timeout: tool results may stream. No redirects: a token
        // must not follow one to another origin.
        let mcp_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(build_error)?;
        let manager = fresh_manager(&server_url, options.token_cache.as_deref(), false).await?;
        Ok(Self {
            options: options.clone(),
            token_resource: server_url.to_string(),
            server_url,
            discovery_http,
            auth: AuthClient::new(mcp_http, manager),
            transcript,
            browser,
            discovery: None,
            registration: None,
            cached_client: None,
            issuer_changed: false,
            cached_scopes: Vec::new(),
            callback: None,
            has_token: false,
            logins: 0,
            upgraded: false,
        })
    }
    // ANCHOR_END: flow_new

    // ANCHOR: use_cached_tokens
    /// With `--token-cache`: if the file holds tokens for this server from
    /// the same authorization server, configure rmcp so the first request
    /// carries the token and an expired one can be refreshed. (rmcp's
    /// `initialize_from_store` does much the same but runs rmcp's discovery
    /// and drops `--client-secret`.)
    async fn use_cached_tokens(&mut self) -> Result<(), ClientError> {
        let Some(path) = self.options.token_cache.clone() else {
            return Ok(());
        };
        let cache = tokens::FileTokenCache::new(&path, self.server_url.as_str());
        let Some(stored) = cache.load().await? else {
            return Ok(());
        };
        let cached_issuer = stored.issuer.clone();
        if self
            .options
            .client_id
            .as_ref()
            .is_some_and(|id| *id != stored.client_id)
        {
            return Ok(()); // Tokens of another client.
        }
        self.cached_client = Some((stored.client_id.clone(), stored.issuer.clone()));
        if stored.token_response.is_none() {
            return Ok(());
        }
        self.cached_scopes = stored.granted_scopes.clone();
        let discovery =
            match discovery::discover(&self.discovery_http, &self.server_url, None).await {
                Ok(discovery) if cached_issuer.as_deref() == Some(discovery.issuer.as_str()) => {
                    discovery
                }
                Ok(_) => {
                    // SEP-2352: the tokens and client id of another authorization
                    // server are of no use here, and must not reach this one.
                    self.cached_client = None;
                    self.cached_scopes.clear();
                    cache.clear().await?;
                    return Ok(());
                }
                Err(_) => return Ok(()), // Not usable now: start as if there were no cache.
            };
        let secret = self.options.client_secret.clone();
        let registration = Registration {
            issuer: discovery.issuer.clone(),
            client_secret: secret
                .filter(|_| self.options.client_id.as_deref() == Some(&stored.client_id)),
            client_id: stored.client_id,
            method: RegistrationMethod::Cached,
        };
        {
            let mut manager = self.auth.auth_manager.lock().await;
            manager.set_metadata(discovery.metadata.clone());
            // The redirect URI is only used by a new authorization, which
            // configures the client again with the listener's real one.
            registration::configure(&mut manager, &registration, self.server_url.as_str())?;
        }
        self.report_discovery(&discovery);
        self.transcript.step(Step::CachedTokens {
            path: path.display().to_string(),
        });
        self.discovery = Some(discovery);
        self.registration = Some(registration);
        self.has_token = true;
        Ok(())
    }
    // ANCHOR_END: use_cached_tokens

    /// A manager for another authorization server: nothing of the old one
    /// carried over (see [`Flow::authorize`]'s `bind_to_issuer`).
    pub(crate) async fn fresh_manager(
        &self,
        clear_cache: bool,
    ) -> Result<AuthorizationManager, ClientError> {
        fresh_manager(
            &self.server_url,
            self.options.token_cache.as_deref(),
            clear_cache,
        )
        .await
    }
}

/// rmcp's `AuthorizationManager` for `server_url`, keeping its tokens in
/// `--token-cache` when given (emptied first with `clear_cache`), else in
/// memory.
async fn fresh_manager(
    server_url: &Url,
    token_cache: Option<&std::path::Path>,
    clear_cache: bool,
) -> Result<AuthorizationManager, ClientError> {
    let mut manager = AuthorizationManager::new(server_url.as_str()).await?;
    if let Some(path) = token_cache {
        let cache = tokens::FileTokenCache::new(path, server_url.as_str());
        if clear_cache {
            cache.clear().await?;
        }
        manager.set_credential_store(cache);
    }
    Ok(manager)
}
