//! Small in-test mocks of an authorization server and a protected MCP server
//! for the client tests, each on its own `127.0.0.1:0` listener. They share
//! one [`MockState`] so the RS knows the tokens the AS issued, and they
//! record every request so tests can assert on what the client sent.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use part5_client::client::pkce::s256_challenge;
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    handler::server::wrapper::Parameters,
    model::{Implementation, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How the mocks behave; tests change the defaults.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Scope in the RS's 401 challenge.
    pub challenge_scope: Option<String>,
    /// Scopes `server_time` needs (403 insufficient_scope otherwise).
    pub required_scopes: Vec<String>,
    /// Scopes the AS grants at most (None: whatever is asked).
    pub grantable: Option<Vec<String>>,
    /// Overrides of the redirect's `state` / `iss` (attacks).
    pub state_override: Option<String>,
    pub iss_override: Option<String>,
    /// The `issuer` the metadata claims (None: the real one).
    pub metadata_issuer: Option<String>,
    /// `code_challenge_methods_supported`.
    pub challenge_methods: Vec<String>,
    /// The PRM `resource` (None: the MCP URL).
    pub prm_resource: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            challenge_scope: Some("mcp:tools".into()),
            required_scopes: vec!["mcp:tools".into()],
            grantable: None,
            state_override: None,
            iss_override: None,
            metadata_issuer: None,
            challenge_methods: vec!["S256".into()],
            prm_resource: None,
        }
    }
}

/// A token the AS issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub scopes: Vec<String>,
    pub resource: String,
    pub client_id: String,
}

/// Everything the mocks know and saw.
#[derive(Debug, Default)]
pub struct MockState {
    pub behaviour: Behaviour,
    pub issuer: String,
    pub mcp_url: String,
    pub registrations: Vec<Value>,
    pub authorize_queries: Vec<HashMap<String, String>>,
    pub token_requests: Vec<HashMap<String, String>>,
    /// (method, path and query, Authorization header) of every RS request.
    pub rs_requests: Vec<(String, String, Option<String>)>,
    pub access_tokens: HashMap<String, Issued>,
    pub refresh_tokens: HashMap<String, Issued>,
    pending: HashMap<String, HashMap<String, String>>,
    codes: HashMap<String, HashMap<String, String>>,
    counter: u32,
}

impl MockState {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    /// Issues an access + refresh token pair (also used to seed caches).
    pub fn issue(&mut self, issued: Issued) -> (String, String) {
        let access = self.next("at");
        let refresh = self.next("rt");
        self.access_tokens.insert(access.clone(), issued.clone());
        self.refresh_tokens.insert(refresh.clone(), issued);
        (access, refresh)
    }
}

pub type Shared = Arc<Mutex<MockState>>;

/// The running mocks.
pub struct Mocks {
    pub state: Shared,
    pub mcp_url: String,
    pub issuer: String,
}

impl Mocks {
    pub async fn start(behaviour: Behaviour) -> Self {
        let as_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind AS");
        let rs_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind RS");
        let issuer = format!("http://{}", as_listener.local_addr().expect("AS address"));
        let mcp_url = format!(
            "http://{}/mcp",
            rs_listener.local_addr().expect("RS address")
        );
        let state = Arc::new(Mutex::new(MockState {
            behaviour,
            issuer: issuer.clone(),
            mcp_url: mcp_url.clone(),
            ..MockState::default()
        }));
        tokio::spawn(axum::serve(as_listener, as_router(state.clone())).into_future());
        tokio::spawn(axum::serve(rs_listener, rs_router(state.clone())).into_future());
        Self {
            state,
            mcp_url,
            issuer,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut MockState) -> T) -> T {
        f(&mut self.state.lock().expect("mock state"))
    }
}

// ---------------------------------------------------------------- the AS

fn as_router(state: Shared) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/authorize/decision", post(decide))
        .route("/token", post(token))
        .with_state(state)
}

async fn as_metadata(State(state): State<Shared>) -> Json<Value> {
    let state = state.lock().expect("state");
    let issuer = &state.issuer;
    Json(json!({
        "issuer": state.behaviour.metadata_issuer.clone().unwrap_or_else(|| issuer.clone()),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": state.behaviour.challenge_methods,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn register(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut state = state.lock().expect("state");
    state.registrations.push(body.clone());
    let client_id = state.next("dyn-client");
    let answer = json!({ "client_id": client_id, "redirect_uris": body["redirect_uris"] });
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// Shows a login form with a CSRF token bound to a cookie, like a real AS.
async fn authorize(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().expect("state");
    state.authorize_queries.push(query.clone());
    let id = state.next("pending");
    state.pending.insert(id.clone(), query);
    let page = format!(
        r#"<!doctype html><form method="post" action="/authorize/decision">
        <input type="hidden" name="csrf_token" value="csrf-{id}"><input type="hidden" name="pending" value="{id}">
        <input name="username"><input type="password" name="password">
        <button type="submit" name="decision" value="approve">Approve</button>
        <button type="submit" name="decision" value="deny">Deny</button></form>"#
    );
    (
        [(
            header::SET_COOKIE,
            format!("session=s-{id}; HttpOnly; SameSite=Lax"),
        )],
        Html(page),
    )
        .into_response()
}

async fn decide(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().expect("state");
    let id = form.get("pending").cloned().unwrap_or_default();
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let csrf_ok = form.get("csrf_token") == Some(&format!("csrf-{id}"))
        && cookie.contains(&format!("session=s-{id}"));
    let Some(query) = state.pending.remove(&id).filter(|_| csrf_ok) else {
        return (StatusCode::BAD_REQUEST, "bad csrf").into_response();
    };
    let behaviour = state.behaviour.clone();
    let mut params = vec![
        (
            "state",
            behaviour
                .state_override
                .clone()
                .unwrap_or_else(|| query["state"].clone()),
        ),
        (
            "iss",
            behaviour
                .iss_override
                .clone()
                .unwrap_or_else(|| state.issuer.clone()),
        ),
    ];
    if form.get("decision").map(String::as_str) != Some("approve") {
        params.push(("error", "access_denied".into()));
    } else if form.get("username").map(String::as_str) != Some("demo_user")
        || form.get("password").map(String::as_str) != Some("demo_password")
    {
        return (StatusCode::OK, Html("<p>Wrong password</p>")).into_response();
    } else {
        let code = state.next("code");
        state.codes.insert(code.clone(), query.clone());
        params.push(("code", code));
    }
    let query_string = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Redirect::to(&format!("{}?{query_string}", query["redirect_uri"])).into_response()
}

async fn token(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut state = state.lock().expect("state");
    state.token_requests.push(form.clone());
    let invalid_grant = || {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response()
    };
    let issued = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(request) = form.get("code").and_then(|code| state.codes.remove(code)) else {
                return invalid_grant();
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if s256_challenge(&verifier) != request["code_challenge"]
                || form.get("resource") != request.get("resource")
                || form.get("redirect_uri") != request.get("redirect_uri")
            {
                return invalid_grant();
            }
            let asked: Vec<String> = request
                .get("scope")
                .map(|s| s.split(' ').map(String::from).collect())
                .unwrap_or_default();
            let scopes = match &state.behaviour.grantable {
                Some(grantable) => asked
                    .into_iter()
                    .filter(|s| grantable.contains(s))
                    .collect(),
                None => asked,
            };
            Issued {
                scopes,
                resource: request["resource"].clone(),
                client_id: request["client_id"].clone(),
            }
        }
        Some("refresh_token") => {
            let Some(issued) = form
                .get("refresh_token")
                .and_then(|rt| state.refresh_tokens.remove(rt))
            else {
                return invalid_grant();
            };
            if form.get("client_id") != Some(&issued.client_id) {
                return invalid_grant();
            }
            if form.get("resource") != Some(&issued.resource) {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "invalid_target" })),
                )
                    .into_response();
            }
            issued
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "unsupported_grant_type" })),
            )
                .into_response();
        }
    };
    let scope = issued.scopes.join(" ");
    let (access, refresh) = state.issue(issued);
    let body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh, "scope": scope });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

// ---------------------------------------------------------------- the RS

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct GreetArgs {
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct MockTools {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl MockTools {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Greets")]
    async fn greet(&self, Parameters(args): Parameters<GreetArgs>) -> String {
        format!("Hello, {}!", args.name)
    }

    #[tool(description = "The time")]
    async fn server_time(&self) -> String {
        "2026-01-01T00:00:00Z".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MockTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mock-protected-rs", "9.9.9"))
    }
}

fn rs_router(state: Shared) -> Router {
    let mcp = StreamableHttpService::new(
        || Ok(MockTools::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    Router::new()
        .route("/.well-known/oauth-protected-resource/mcp", get(prm))
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(state.clone(), rs_guard))
        .with_state(state)
}

async fn prm(State(state): State<Shared>) -> Json<Value> {
    let state = state.lock().expect("state");
    Json(json!({
        "resource": state.behaviour.prm_resource.clone().unwrap_or_else(|| state.mcp_url.clone()),
        "authorization_servers": [state.issuer],
        "scopes_supported": ["mcp:tools", "mcp:admin"],
        "bearer_methods_supported": ["header"],
    }))
}

/// RS-04 … RS-06 in miniature: every presented token is checked; `server_time` needs one.
async fn rs_guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let message: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let protected = message["method"] == "tools/call" && message["params"]["name"] == "server_time";
    let refusal = {
        let mut state = state.lock().expect("state");
        state.rs_requests.push((
            parts.method.to_string(),
            parts.uri.to_string(),
            authorization.clone(),
        ));
        let prm_url = state
            .mcp_url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
        let token = authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Bearer "));
        let issued = token.and_then(|token| state.access_tokens.get(token).cloned());
        let behaviour = &state.behaviour;
        match (token, issued) {
            (Some(_), None) => Some((
                401,
                format!(r#"Bearer error="invalid_token", resource_metadata="{prm_url}""#),
            )),
            (Some(_), Some(issued)) if issued.resource != state.mcp_url => Some((
                401,
                format!(r#"Bearer error="invalid_token", resource_metadata="{prm_url}""#),
            )),
            (None, _) if protected => {
                let scope = behaviour
                    .challenge_scope
                    .as_ref()
                    .map(|s| format!(r#", scope="{s}""#))
                    .unwrap_or_default();
                Some((
                    401,
                    format!(r#"Bearer resource_metadata="{prm_url}"{scope}"#),
                ))
            }
            (Some(_), Some(issued))
                if protected
                    && !behaviour
                        .required_scopes
                        .iter()
                        .all(|s| issued.scopes.contains(s)) =>
            {
                let scope = behaviour.required_scopes.join(" ");
                Some((
                    403,
                    format!(
                        r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{prm_url}""#
                    ),
                ))
            }
            _ => None,
        }
    };
    if let Some((status, challenge)) = refusal {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
        return (status, [(header::WWW_AUTHENTICATE, challenge)]).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
