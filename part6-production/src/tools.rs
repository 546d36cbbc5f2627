//! The MCP tools: what the server offers, independent of how requests
//! reach it or how they are authorized.

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use rmcp::{
    ErrorData, Json, RoleServer, ServerHandler,
    handler::server::{common::schema_for_output, router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{principal::Principal, settings::AuthSettings};

// ANCHOR: tool_types
/// Arguments of the `greet` tool. The doc comments become the JSON Schema
/// descriptions a client shows to its user or model.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GreetArgs {
    /// Who to greet. A blank name greets "there".
    pub name: String,
    /// What ends the greeting.
    #[serde(default = "default_punctuation")]
    pub punctuation: String,
}

fn default_punctuation() -> String {
    "!".into()
}

/// Structured result of `greet`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    /// The full greeting, `Hello, {name}{punctuation}`.
    pub greeting: String,
}

/// Structured result of `server_time`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ServerTime {
    /// The current time in RFC 3339 form, always in UTC (`...Z`).
    pub current_time: String,
    /// Always `UTC`.
    pub timezone: String,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// The same instant for people: `Friday, 27 November 2026 03:28:23 UTC`.
    pub formatted: String,
}

/// Structured result of `whoami`: what the access token says of its holder.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Caller {
    /// The user the token was issued to (its `sub`).
    pub subject: String,
    /// The client the user authorized.
    pub client_id: String,
    /// The scopes the token grants.
    pub scopes: Vec<String>,
}
// ANCHOR_END: tool_types

// ANCHOR: tools
/// The MCP server: its name, the tools it offers, and which of them need
/// an authenticated caller.
#[derive(Debug, Clone)]
pub struct DemoServer {
    name: String,
    auth: Option<Arc<AuthSettings>>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl DemoServer {
    /// A server that reports `name` in its `initialize` result; `auth` is
    /// `None` when protection is off and every tool is public.
    pub fn new(name: impl Into<String>, auth: Option<Arc<AuthSettings>>) -> Self {
        Self {
            name: name.into(),
            auth,
            tool_router: Self::tool_router(),
        }
    }

    /// Greet someone by name. The text content is the greeting itself; the
    /// structured content carries the same as [`Greeting`].
    #[tool(
        description = "Greet someone by name: returns \"Hello, {name}{punctuation}\".",
        output_schema = schema_for_output::<Greeting>()
    )]
    pub async fn greet(
        &self,
        Parameters(args): Parameters<GreetArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.require_principal("greet", &context)?;
        let name = match args.name.trim() {
            "" => "there",
            trimmed => trimmed,
        };
        let greeting = format!("Hello, {name}{}", args.punctuation);
        let mut result = CallToolResult::success(vec![ContentBlock::text(greeting.clone())]);
        result.structured_content = Some(serde_json::json!({ "greeting": greeting }));
        Ok(result)
    }

    /// Tell the current time of the server, in UTC.
    ///
    /// The HTTP layer already refused callers without a valid token; the tool
    /// checks again that the request carries an authenticated [`Principal`],
    /// so a mistake in the routing rules cannot make it public (defence in depth).
    #[tool(description = "The server's current time in UTC. Requires authorization.")]
    pub async fn server_time(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<ServerTime>, ErrorData> {
        self.require_principal("server_time", &context)?;
        let now = Utc::now();
        Ok(Json(ServerTime {
            current_time: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            timezone: "UTC".into(),
            timestamp: now.timestamp(),
            formatted: now.format("%A, %-d %B %Y %H:%M:%S UTC").to_string(),
        }))
    }

    /// Tell the caller who the server thinks they are. It needs a scope of
    /// its own (`account:read` by default), so a client that logged in for
    /// `server_time` alone has to ask for more (rule P6-05).
    #[tool(
        description = "Who you are to this server: your user, your client and your token's scopes. Requires authorization."
    )]
    pub async fn whoami(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Caller>, ErrorData> {
        let Some(principal) = self.require_principal("whoami", &context)? else {
            return Err(ErrorData::invalid_request(
                "whoami tells who signed in, and this call carries no access token",
                None,
            ));
        };
        Ok(Json(Caller {
            subject: principal.subject.clone(),
            client_id: principal.client_id.clone(),
            scopes: principal.scopes.clone(),
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(&self.name, env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Demo tools: greet someone, ask the server for the time, or ask who you are.",
            )
    }
}
// ANCHOR_END: tools

// ANCHOR: require_principal
impl DemoServer {
    /// Refuses a protected tool when the request carries no [`Principal`],
    /// or one without the tool's scope; returns the caller, if any.
    fn require_principal<'c>(
        &self,
        tool: &str,
        context: &'c RequestContext<RoleServer>,
    ) -> Result<Option<&'c Principal>, ErrorData> {
        let protected = self
            .auth
            .as_ref()
            .is_some_and(|auth| auth.is_protected(tool));
        let scope = (self.auth.as_ref()).and_then(|auth| auth.scope_of(tool));
        // rmcp puts the HTTP request's parts into the context; borrowing them
        // avoids copying every header on every call.
        let principal = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>());
        match principal {
            Some(principal) if protected => {
                if let Some(scope) = scope
                    && !principal.scopes.iter().any(|granted| granted == scope)
                {
                    // As below: the HTTP layer answers 403 first.
                    return Err(ErrorData::internal_error(
                        format!("{tool} needs the scope {scope}, and the caller's token lacks it"),
                        None,
                    ));
                }
                tracing::debug!(sub = %principal.subject, tool, "authorized tool call");
                Ok(Some(principal))
            }
            // The HTTP layer should have answered 401; reaching here is a bug
            // in the routing rules, so say so rather than blame the client.
            None if protected => Err(ErrorData::internal_error(
                format!("{tool} requires an authenticated caller, and none was established"),
                None,
            )),
            _ => Ok(principal),
        }
    }
}
// ANCHOR_END: require_principal
