//! Spawns the real servers on `127.0.0.1:0` for one test, and walks the
//! OAuth flow over real HTTP the way a client and a person would.
//!
//! Later parts copy this file: [`TestAs`] and [`obtain_tokens`] give their
//! tests a running authorization server and a valid token in two lines.

use std::collections::HashMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{TryRng as _, rngs::SysRng};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use this_part::{Config, authorization_server, serve};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running server: its MCP URL, and the means to stop it.
pub struct TestServer {
    pub mcp_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Binds a free loopback port and serves the default configuration.
    pub async fn start() -> Self {
        Self::start_with(Config::for_tests()).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            mcp_url: format!("http://{address}/mcp"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// A running authorization server: its issuer URL, and the means to stop it.
pub struct TestAs {
    /// `http://127.0.0.1:<port>`, also the configured issuer.
    pub issuer: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestAs {
    /// Binds a free loopback port and serves the default configuration,
    /// with the issuer set to the bound URL.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestAs::start`], after `configure` has changed the
    /// configuration (the issuer is already set when it runs).
    pub async fn start_with(configure: impl FnOnce(&mut authorization_server::Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let mut config = authorization_server::Config::for_tests(&issuer);
        configure(&mut config);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(authorization_server::serve(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            issuer,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Stops the server and waits until it has shut down.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// An HTTP client that never follows redirects or uses a proxy.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The body of an MCP `initialize` request.
pub fn initialize_body() -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "raw-http-test", "version": "0" }
        }
    })
}

/// The redirect URI the test clients register. Nothing listens there: the
/// tests read the `Location` header and never follow a redirect.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// The demo user of [`authorization_server::Config::for_tests`].
pub const USERNAME: &str = "demo_user";
pub const PASSWORD: &str = "demo_password";
/// The resource server's credentials at `/introspect`, as configured by default.
pub const RS_CLIENT_ID: &str = "mcp-resource-server";
pub const RS_CLIENT_SECRET: &str = "demo-resource-server-secret";
/// The default resource and scope of the test configuration.
pub const RESOURCE: &str = "http://localhost:8000/mcp";
pub const SCOPE: &str = "mcp:tools";

/// A registered client, as the registration response described it.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub token_endpoint_auth_method: String,
}

/// A token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    pub refresh_token: Option<String>,
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1–§4.2).
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

impl Pkce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        SysRng.try_fill_bytes(&mut bytes).expect("randomness");
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// Registers a public client (`none`) for both grants, at [`REDIRECT_URI`].
pub async fn register_public_client(issuer: &str) -> RegisteredClient {
    register_client(
        issuer,
        json!({
            "client_name": "Test client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await
}

/// Registers a client with the given metadata and expects 201.
pub async fn register_client(issuer: &str, metadata: Value) -> RegisteredClient {
    let response = http()
        .post(format!("{issuer}/register"))
        .json(&metadata)
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    response.json().await.expect("registration JSON")
}

/// The login page as a browser got it: status, body, the session cookie and
/// the hidden form fields.
#[derive(Debug, Clone)]
pub struct LoginPage {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// `name=value` of the session cookie, ready for a `Cookie` header.
    pub cookie: Option<String>,
    pub pending: String,
    pub csrf: String,
}

/// The authorization request parameters of a well-behaved client.
pub fn authorize_params<'a>(
    client_id: &'a str,
    pkce: &'a Pkce,
    state: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
        ("scope", SCOPE),
        ("state", state),
    ]
}

/// `GET /authorize` with `params`, read like a browser would.
pub async fn open_login_page(issuer: &str, params: &[(&str, &str)]) -> LoginPage {
    let response = http()
        .get(format!("{issuer}/authorize"))
        .query(params)
        .send()
        .await
        .expect("authorize");
    let status = response.status();
    let headers = response.headers().clone();
    let cookie = headers
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    let body = response.text().await.expect("page");
    LoginPage {
        status,
        headers,
        pending: hidden_field(&body, "pending").unwrap_or_default(),
        csrf: hidden_field(&body, "csrf").unwrap_or_default(),
        body,
        cookie,
    }
}

/// The value of the hidden input `name` in a page maud rendered.
fn hidden_field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_owned())
}

/// Submits the login form of `page` with the page's cookie.
pub async fn submit_login(
    issuer: &str,
    page: &LoginPage,
    username: &str,
    password: &str,
    action: &str,
) -> reqwest::Response {
    submit_login_with_headers(issuer, page, username, password, action, &[]).await
}

/// Like [`submit_login`], with extra request headers (`Origin`,
/// `Sec-Fetch-Site`, …) as a browser would send them.
pub async fn submit_login_with_headers(
    issuer: &str,
    page: &LoginPage,
    username: &str,
    password: &str,
    action: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = http().post(format!("{issuer}/login")).form(&[
        ("pending", page.pending.as_str()),
        ("csrf", page.csrf.as_str()),
        ("username", username),
        ("password", password),
        ("action", action),
    ]);
    if let Some(cookie) = &page.cookie {
        request = request.header("cookie", cookie);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("login")
}

/// The query parameters of a redirect's `Location`, decoded.
pub fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII location");
    url::Url::parse(location)
        .expect("absolute location")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Runs authorize and login for `client` and returns the code.
pub async fn authorize_code(issuer: &str, client: &RegisteredClient, pkce: &Pkce) -> String {
    let page = open_login_page(issuer, &authorize_params(&client.client_id, pkce, "xyz")).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    let response = submit_login(issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let params = redirect_params(&response);
    assert_eq!(params.get("state").map(String::as_str), Some("xyz"));
    params["code"].clone()
}

/// `POST /token` with `form`, as a public client.
pub async fn token_request(issuer: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{issuer}/token"))
        .form(form)
        .send()
        .await
        .expect("token request")
}

/// Trades `code` for tokens as the public `client`.
pub async fn exchange_code(
    issuer: &str,
    client: &RegisteredClient,
    code: &str,
    pkce: &Pkce,
) -> reqwest::Response {
    token_request(
        issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client.client_id.as_str()),
            ("resource", RESOURCE),
        ],
    )
    .await
}

/// Asks `/introspect` about `token` as the resource server.
pub async fn introspect(issuer: &str, token: &str) -> Value {
    introspect_as(issuer, token, RS_CLIENT_ID, RS_CLIENT_SECRET).await
}

/// Asks `/introspect` about `token` as the client `id` with `secret`
/// (Basic), and expects 200.
pub async fn introspect_as(issuer: &str, token: &str, id: &str, secret: &str) -> Value {
    let response = http()
        .post(format!("{issuer}/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.json().await.expect("introspection JSON")
}

/// Tokens got through the whole flow, and the client that got them.
#[derive(Debug, Clone)]
pub struct ObtainedTokens {
    pub client: RegisteredClient,
    pub tokens: TokenResponse,
}

// ANCHOR: obtain_tokens
/// Register → authorize → login → token, over real HTTP against the AS at
/// `issuer`, for `resource` and `scope` (space-separated). The AS must have
/// `resource` among its `resources` and `scope` among its `scopes`.
pub async fn obtain_tokens(issuer: &str, resource: &str, scope: &str) -> ObtainedTokens {
    let client = register_public_client(issuer).await;
    let pkce = Pkce::new();
    let mut params = authorize_params(&client.client_id, &pkce, "state");
    params.retain(|(name, _)| *name != "resource" && *name != "scope");
    params.extend([("resource", resource), ("scope", scope)]);
    let page = open_login_page(issuer, &params).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    let login = submit_login(issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(login.status(), reqwest::StatusCode::SEE_OTHER);
    let code = redirect_params(&login)
        .remove("code")
        .expect("a code in the redirect");
    let response = token_request(
        issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client.client_id.as_str()),
            ("resource", resource),
        ],
    )
    .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let tokens: TokenResponse = response.json().await.expect("token JSON");
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.scope, scope);
    assert!(tokens.expires_in > 0);
    ObtainedTokens { client, tokens }
}
// ANCHOR_END: obtain_tokens
