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
    RoleClient, ServiceExt as _,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    },
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use super::{ClientError, Flow, challenge::BearerChallenge, transcript::Step};

/// A running MCP session.
pub type McpSession = RunningService<RoleClient, ClientConfig>;

impl Flow {
    // ANCHOR: connect
    /// Opens a session (`initialize`). A server that protects even
    /// `initialize` gets its 401 answered by authorizing first.
    pub(super) async fn connect(&mut self) -> Result<McpSession, ClientError> {
        loop {
            self.transcript.step(Step::Connecting {
                url: self.server_url.to_string(),
                with_token: self.has_token,
            });
            let config = StreamableHttpClientTransportConfig::with_uri(self.server_url.as_str());
            let transport = StreamableHttpClientTransport::with_client(self.auth.clone(), config);
            let client = ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("part5-client", env!("CARGO_PKG_VERSION")),
            );
            match client.serve(transport).await {
                Ok(session) => return Ok(session),
                Err(error) => match error.auth_challenge() {
                    Some(header) => {
                        let challenge = parse_challenge(header);
                        self.on_refusal(&challenge).await?;
                    }
                    None => {
                        return Err(ClientError::Connect {
                            url: self.server_url.to_string(),
                            message: error.to_string(),
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
                    message: error.to_string(),
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
    /// Decides what a 401/403 challenge calls for, or gives up.
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
        } else if self.logins > 0 {
            return Err(ClientError::StillUnauthorized(format!(
                "401 {} after logging in",
                challenge
                    .error
                    .as_deref()
                    .unwrap_or("without an error code")
            )));
        }
        self.authorize(challenge, upgrade).await
    }
    // ANCHOR_END: on_refusal
}

/// The Bearer challenge in the header rmcp handed over; a 401 without one
/// still means "authorize", with discovery from the well-known URLs.
fn parse_challenge(header: &str) -> BearerChallenge {
    BearerChallenge::from_headers([header]).unwrap_or_default()
}
