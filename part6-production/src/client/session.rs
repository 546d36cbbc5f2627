//! The MCP side: sessions over Streamable HTTP that carry the token, and the
//! retry that turns a 401 or 403 into an authorization (rule CL-05, CL-07).
//!
//! rmcp does the heavy lifting here. Its `AuthClient` wraps the reqwest
//! client: before every request it asks the `AuthorizationManager` for the
//! access token (refreshing it shortly before it expires) and sends it as
//! `Authorization: Bearer`, never in the URL; a request without credentials
//! goes out anonymously; a 401 to a request that carried a token triggers one
//! refresh and one retry. What is left to us is the decision after a 401 or
//! 403 reaches the caller: authorize (once), then open a new session.

use rmcp::{
    ClientLifecycleMode, ClientServiceExt as _, RoleClient,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
        ProtocolVersion,
    },
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use super::{
    ClientError, Flow,
    authorize::Reason,
    challenge::BearerChallenge,
    discovery::{Discovery, discover},
    error::{failure, plain_reason},
    options::Protocol,
    transcript::Step,
};

/// A running MCP session.
pub type McpSession = RunningService<RoleClient, ClientConfig>;

impl Flow {
    // ANCHOR: connect
    /// Starts talking to the server in the lifecycle `--protocol` asks for
    /// (see [`lifecycle`]). A server that protects even the first request
    /// gets its 401 answered by authorizing first.
    pub(super) async fn connect(&mut self) -> Result<McpSession, ClientError> {
        loop {
            self.transcript.step(Step::Connecting {
                url: self.server_url.to_string(),
                with_token: self.has_token,
            });
            let config = StreamableHttpClientTransportConfig::with_uri(self.server_url.as_str());
            let transport = StreamableHttpClientTransport::with_client(self.auth.clone(), config);
            let (client, mode) = lifecycle(self.options.protocol);
            match client.serve_with_lifecycle(transport, mode).await {
                Ok(session) => return Ok(session),
                Err(error) => match error.auth_challenge() {
                    Some(header) => {
                        let challenge = parse_challenge(header);
                        self.on_refusal(&challenge).await?;
                    }
                    None => {
                        let url = self.server_url.to_string();
                        let (unreachable, reason) = failure(&error);
                        return Err(if unreachable {
                            ClientError::Unreachable { url, reason }
                        } else {
                            ClientError::Connect { url, reason }
                        });
                    }
                },
            }
        }
    }
    // ANCHOR_END: connect

    // ANCHOR: call_tool
    /// Calls a tool, authorizing first when the server asks (see
    /// [`Flow::with_authorization`]).
    pub(super) async fn call_tool(
        &mut self,
        session: &mut McpSession,
        params: CallToolRequestParams,
    ) -> Result<CallToolResult, ClientError> {
        let transcript = self.transcript.clone();
        let request = format!("tools/call {}", params.name);
        self.with_authorization(session, &request, async |session: &McpSession| {
            transcript.step(Step::Calling {
                tool: params.name.to_string(),
            });
            session.call_tool(params.clone()).await
        })
        .await
    }

    /// Lists the tools, authorizing first when the server asks: a server may
    /// protect `tools/list` even when `initialize` was open.
    pub(super) async fn list_tools(
        &mut self,
        session: &mut McpSession,
    ) -> Result<Vec<rmcp::model::Tool>, ClientError> {
        self.with_authorization(session, "tools/list", async |session: &McpSession| {
            session.list_all_tools().await
        })
        .await
    }

    /// Sends a request; on 401 or 403 it authorizes (rule CL-05: at most
    /// one login for a 401, one re-authorization for `insufficient_scope`),
    /// replaces `session` with a new one that carries the token, and retries.
    async fn with_authorization<T>(
        &mut self,
        session: &mut McpSession,
        request: &str,
        send: impl AsyncFn(&McpSession) -> Result<T, rmcp::ServiceError>,
    ) -> Result<T, ClientError> {
        loop {
            let error = match send(session).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let Some(header) = error.auth_challenge() else {
                return Err(ClientError::Mcp {
                    request: request.to_owned(),
                    reason: plain_reason(&error),
                });
            };
            let challenge = parse_challenge(header);
            self.on_refusal(&challenge).await?;
            self.transcript.step(Step::Reconnecting);
            let fresh = self.connect().await?;
            let old = std::mem::replace(session, fresh);
            // Ending the old session is a courtesy; its failure changes nothing.
            let _ = old.cancel().await;
        }
    }
    // ANCHOR_END: call_tool

    // ANCHOR: on_refusal
    /// Decides what a 401/403 challenge calls for, or gives up: a 403
    /// `insufficient_scope` gets one re-authorization for more scopes
    /// (rule CL-05); a 401 gets a login, unless we logged in already at
    /// the authorization server the resource names (then logging in again
    /// would not help). A 401 after a login that names another
    /// authorization server is a migration (SEP-2352): one more login,
    /// there.
    async fn on_refusal(&mut self, challenge: &BearerChallenge) -> Result<(), ClientError> {
        let upgrade = challenge.is_insufficient_scope();
        self.transcript.step(Step::Challenge {
            status: if upgrade { 403 } else { 401 },
            resource_metadata: challenge.resource_metadata.clone(),
            scope: challenge.scope.clone(),
            error: challenge.error.clone(),
        });
        if upgrade {
            if self.upgraded {
                return Err(ClientError::StillUnauthorized(format!(
                    "403 insufficient_scope (scope \"{}\") after one re-authorization",
                    challenge.scope.as_deref().unwrap_or_default()
                )));
            }
            self.upgraded = true;
            let discovery = match self.discovery.clone() {
                Some(discovery) => discovery,
                None => self.discover(challenge).await?,
            };
            return self.authorize(challenge, discovery, Reason::Upgrade).await;
        }
        let discovery = self.discover(challenge).await?;
        if self.logins > 0 {
            let bound = self.registration.as_ref().map(|r| r.issuer.as_str());
            if bound == Some(discovery.issuer.as_str()) || self.issuer_changed {
                return Err(ClientError::StillUnauthorized(format!(
                    "401 {} after logging in",
                    challenge
                        .error
                        .as_deref()
                        .unwrap_or("without an error code")
                )));
            }
        }
        self.authorize(challenge, discovery, Reason::Login).await
    }

    /// rule CL-01, CL-02: what protects the server, and who issues its
    /// tokens, as of this challenge.
    async fn discover(&self, challenge: &BearerChallenge) -> Result<Discovery, ClientError> {
        let discovery = discover(&self.discovery_http, &self.server_url, Some(challenge)).await?;
        self.report_discovery(&discovery);
        Ok(discovery)
    }
    // ANCHOR_END: on_refusal
}

// ANCHOR: lifecycle
/// Who we are, and how rmcp starts the conversation (MCP 2026-07-28
/// §Lifecycle, 2025-11-25 §Lifecycle):
///
/// - `auto`: rmcp's `ClientLifecycleMode::Auto` sends `server/discover`
///   and, when the server answers it with a JSON-RPC error (a server that
///   only knows 2025-11-25 says "method not found"), falls back to
///   `initialize` with 2025-11-25 on the same transport;
/// - `2026-07-28`: `server/discover` only; a server that does not know it
///   is an error;
/// - `2025-11-25`: the `initialize` handshake only, as a 2025 client would.
///
/// Either way rmcp then sends `MCP-Protocol-Version` with the negotiated
/// version on every request, and with 2026-07-28 the client information in
/// each request's `_meta` instead of a session.
pub fn lifecycle(protocol: Protocol) -> (ClientConfig, ClientLifecycleMode) {
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
    );
    match protocol {
        Protocol::Auto => (
            client,
            ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        ),
        Protocol::V2026_07_28 => (
            client,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
        Protocol::V2025_11_25 => (
            client.with_protocol_version(ProtocolVersion::V_2025_11_25),
            ClientLifecycleMode::Initialize,
        ),
    }
}
// ANCHOR_END: lifecycle

/// The Bearer challenge in the header rmcp handed over; a 401 without one
/// still means "authorize", with discovery from the well-known URLs.
fn parse_challenge(header: &str) -> BearerChallenge {
    BearerChallenge::from_headers([header]).unwrap_or_default()
}
