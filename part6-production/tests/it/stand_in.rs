//! A stand-in for the authorization server's `/introspect`: it counts the
//! calls it gets and misbehaves on demand (garbage, slowness, absence), which
//! the real server will not do when a test asks.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Form, Router, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

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
