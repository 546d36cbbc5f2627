//! Spawns the real servers on `127.0.0.1:0` for one test, and a stand-in
//! introspection endpoint for the failure tests.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Form, Router, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use part5_client::{Config, serve};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running server: its URLs, and the means to stop it.
pub struct TestServer {
    pub mcp_url: String,
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// The resource server with its defaults, asking the authorization server at `as_url`.
    pub async fn start(as_url: &str) -> Self {
        Self::start_with(Config::for_tests(as_url)).await
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
            base_url: format!("http://{address}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// How the stand-in introspection endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers from its table of tokens.
    Normal,
    /// Answers 200 with a body that is not JSON.
    Garbage,
    /// Answers after 30 s, longer than the resource server waits.
    Slow,
}

/// A stand-in for the authorization server's `/introspect`, which counts the
/// calls it gets and can misbehave on demand.
pub struct FakeIntrospection {
    pub url: String,
    pub calls: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    tokens: Arc<Mutex<HashMap<String, Value>>>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct FakeState {
    calls: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    tokens: Arc<Mutex<HashMap<String, Value>>>,
}

impl FakeIntrospection {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(listener).await
    }

    /// Starts on a given listener (to come back on the same port after `stop`).
    pub async fn start_on(listener: TcpListener) -> Self {
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = FakeState {
            calls: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Normal)),
            tokens: Arc::default(),
        };
        let app = Router::new()
            .route("/introspect", post(fake_introspect))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            calls: state.calls,
            mode: state.mode,
            tokens: state.tokens,
            task,
        }
    }

    /// Makes `token` active for `audience` with `scope`, expiring in `lifetime` seconds.
    pub fn grant(&self, token: &str, audience: &str, scope: &str, lifetime: u64) {
        let now = chrono::Utc::now().timestamp() as u64;
        self.tokens.lock().expect("lock").insert(
            token.into(),
            json!({
                "active": true, "sub": format!("user-of-{token}"), "client_id": "test-client",
                "scope": scope, "aud": audience, "iat": now, "exp": now + lifetime,
                "token_type": "Bearer",
            }),
        );
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Stops answering: connections are refused from now on.
    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn fake_introspect(
    State(state): State<FakeState>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().expect("lock");
    match mode {
        Mode::Garbage => (StatusCode::OK, "<html>surprise</html>").into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, axum::Json(json!({"active": false}))).into_response()
        }
        Mode::Normal => {
            let token = form.get("token").cloned().unwrap_or_default();
            let answer = state.tokens.lock().expect("lock").get(&token).cloned();
            axum::Json(answer.unwrap_or_else(|| json!({"active": false}))).into_response()
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

/// Accept header every Streamable HTTP POST carries.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// The body of an MCP `initialize` request.
pub fn initialize_body() -> Value {
    json!({
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

/// The body of a `tools/call` request.
pub fn tool_call(tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": { "name": tool, "arguments": arguments }
    })
}

/// POSTs one JSON-RPC message to the MCP endpoint, in a session or not,
/// with a bearer token or not.
pub async fn post_mcp(
    mcp_url: &str,
    session: Option<&str>,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = http()
        .post(mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// Opens a session with a raw `initialize` (and `initialized`) and returns its id.
pub async fn open_session(mcp_url: &str, token: Option<&str>) -> String {
    let response = post_mcp(mcp_url, None, token, &initialize_body()).await;
    assert_eq!(response.status(), StatusCode::OK, "initialize");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post_mcp(mcp_url, Some(&session), token, &initialized).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "initialized");
    session
}

/// The JSON-RPC result carried by a response, SSE-framed or plain JSON.
pub async fn rpc_result(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    let json = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| !data.is_empty())
        .unwrap_or(text.as_str());
    serde_json::from_str(json).expect("JSON-RPC message")
}
