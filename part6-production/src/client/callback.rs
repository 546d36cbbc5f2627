//! The loopback redirect listener (RFC 8252 §7.3; rule CL-04, CL-06).
//!
//! rmcp has no listener: its examples read the redirect URL from the
//! terminal. Ours is bound on 127.0.0.1 before the browser opens, checks
//! `state` and `iss` itself before the code goes anywhere (rmcp checks `iss`
//! again at the exchange), and tells the person they can close the tab.
//!
//! Any page or program on this machine can send a request to the listener.
//! A request without the `state` of the pending login is not an answer to
//! it, so it gets a 400 and the listener keeps waiting: forged or stray
//! requests, however many, cannot end a login that the real redirect would
//! complete (rule CL-06).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_util::sync::CancellationToken;

pub use super::redirect::{AuthorizationResponse, CallbackError, Expected, validate_redirect};
use super::{ClientError, error::listener_reason};

type Verdict = Result<AuthorizationResponse, CallbackError>;

#[derive(Debug)]
struct Shared {
    expected: std::sync::Mutex<Option<Expected>>,
    verdicts: mpsc::Sender<Verdict>,
    /// Requests refused since the last `expect` because they did not carry
    /// its `state`; reported if the login then times out.
    refused: AtomicU32,
}

// ANCHOR: callback_server
/// A listener on `127.0.0.1` serving `/callback`, up for the whole run so
/// that every authorization of the run uses the same `redirect_uri`.
#[derive(Debug)]
pub struct CallbackServer {
    redirect_uri: String,
    port: u16,
    shared: Arc<Shared>,
    verdicts: tokio::sync::Mutex<mpsc::Receiver<Verdict>>,
    shutdown: CancellationToken,
}

impl CallbackServer {
    /// Binds `127.0.0.1:port` (0 = any free port) and starts serving.
    pub async fn bind(port: u16) -> Result<Self, ClientError> {
        let listener_error = |error: std::io::Error| ClientError::CallbackListener {
            port,
            reason: listener_reason(&error),
        };
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(listener_error)?;
        let address = listener.local_addr().map_err(listener_error)?;
        let (sender, receiver) = mpsc::channel(4);
        let shared = Arc::new(Shared {
            expected: std::sync::Mutex::new(None),
            verdicts: sender,
            refused: AtomicU32::new(0),
        });
        let app = Router::new()
            .route("/callback", get(callback))
            .with_state(shared.clone());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the callback listener stopped");
            }
        });
        Ok(Self {
            redirect_uri: format!("http://127.0.0.1:{}/callback", address.port()),
            port: address.port(),
            shared,
            verdicts: tokio::sync::Mutex::new(receiver),
            shutdown,
        })
    }

    /// `http://127.0.0.1:{port}/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Arms the listener for one authorization response. Call it before the
    /// browser opens.
    pub fn expect(&self, expected: Expected) {
        if let Ok(mut slot) = self.shared.expected.lock() {
            *slot = Some(expected);
        }
        self.shared.refused.store(0, Ordering::Relaxed);
    }

    /// Waits for the armed authorization response, at most `timeout`.
    pub async fn wait(&self, timeout: Duration) -> Result<AuthorizationResponse, ClientError> {
        let mut verdicts = self.verdicts.lock().await;
        let verdict = tokio::time::timeout(timeout, verdicts.recv()).await;
        if let Ok(mut slot) = self.shared.expected.lock() {
            *slot = None;
        }
        match verdict {
            Err(_) => Err(ClientError::LoginTimeout {
                timeout,
                refused: self.shared.refused.load(Ordering::Relaxed),
            }),
            // `shared` holds a sender, so the channel stays open while we
            // live; this arm is here because `recv` has it.
            Ok(None) => Err(ClientError::CallbackListener {
                port: self.port,
                reason: "the listener stopped".into(),
            }),
            Ok(Some(verdict)) => verdict.map_err(ClientError::Callback),
        }
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
// ANCHOR_END: callback_server

// ANCHOR: callback
/// One redirect per armed login: the first one with the login's `state`
/// decides, later ones get 400. One without that `state` (missing, wrong,
/// repeated) gets 400 and changes nothing (RFC 6749 §10.12).
async fn callback(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let verdict = {
        let Ok(mut slot) = shared.expected.lock() else {
            return no_login();
        };
        let Some(expected) = slot.as_ref() else {
            return no_login();
        };
        let verdict = validate_redirect(&query, expected);
        if !answers_this_login(&verdict) {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            return page(
                StatusCode::BAD_REQUEST,
                "Not this login",
                "This request does not carry the state of the login in progress, so it was \
                 ignored. You can close this tab.",
            );
        }
        *slot = None;
        verdict
    };
    let response = match &verdict {
        Ok(_) => page(
            StatusCode::OK,
            "Authorization complete",
            "You are logged in. You can close this tab and return to the terminal.",
        ),
        Err(CallbackError::Denied { .. }) => page(
            StatusCode::OK,
            "Authorization denied",
            "The request was not approved. You can close this tab.",
        ),
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "Authorization refused",
            "This response did not match the request the client sent, so it was refused. You can close this tab.",
        ),
    };
    let _ = shared.verdicts.try_send(verdict);
    response
}

/// Whether a checked redirect carries the pending login's `state`, which
/// makes it the answer to that login, accepted or not. Only the person's
/// browser, sent by the authorization server, can know that `state`.
fn answers_this_login(verdict: &Verdict) -> bool {
    !matches!(verdict, Err(CallbackError::StateMismatch))
        && !matches!(verdict, Err(CallbackError::RepeatedParameter(name)) if name == "state")
}
// ANCHOR_END: callback

fn no_login() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "No login in progress",
        "This client is not waiting for a login. You can close this tab.",
    )
}

/// A small HTML page. The URL of this page holds the code, so it must not
/// leak through `Referer` or caches.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}
