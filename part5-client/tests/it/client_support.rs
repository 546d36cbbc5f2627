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

use serde_json::Value;
use this_part::client::{
    ClientError, Options, Outcome, RecordingTranscript, Step,
    browser::{BrowserCommand, SystemBrowser},
    run,
};
use tokio::net::TcpListener;

use crate::{client_mock_as::as_router, client_mock_rs::rs_router};

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
    /// The RS speaks MCP 2026-07-28 only: no `initialize`, and every request
    /// must carry `MCP-Protocol-Version: 2026-07-28` (400 otherwise).
    pub modern_only: bool,
    /// `scopes_supported` of the AS metadata (None: not listed).
    pub as_scopes_supported: Option<Vec<String>>,
    /// SEP-2352: the RS moves to this other mock's AS once it has accepted
    /// one token of its own AS; from then on its PRM names the other issuer
    /// and only the other AS's tokens are accepted.
    pub migrate_to: Option<Shared>,
    /// The PRM's `authorization_servers` (None: this mock's AS).
    pub prm_authorization_servers: Option<Vec<String>>,
    /// Fields of the AS metadata replaced or added (insecure endpoints).
    pub metadata_fields: Vec<(String, String)>,
    /// The `error_description` of a denial.
    pub error_description: Option<String>,
    /// What `greet` returns instead of "Hello, {name}!".
    pub greeting: Option<String>,
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
            modern_only: false,
            as_scopes_supported: None,
            migrate_to: None,
            prm_authorization_servers: None,
            metadata_fields: Vec::new(),
            error_description: None,
            greeting: None,
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
    /// (JSON-RPC method, `MCP-Protocol-Version` header) of every RS POST.
    pub rs_methods: Vec<(String, Option<String>)>,
    pub access_tokens: HashMap<String, Issued>,
    /// The RS has moved to `behaviour.migrate_to`'s AS.
    pub migrated: bool,
    pub refresh_tokens: HashMap<String, Issued>,
    pub pending: HashMap<String, HashMap<String, String>>,
    pub codes: HashMap<String, HashMap<String, String>>,
    counter: u32,
}

impl MockState {
    pub fn next(&mut self, prefix: &str) -> String {
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

/// The demo user at a browser: the `scripted-browser` program,
/// started the way the client starts any browser; `deny` presses Deny.
pub fn person(deny: bool) -> Arc<SystemBrowser> {
    let args: &[&str] = if deny { &["--deny"] } else { &[] };
    Arc::new(scripted_browser(args))
}

/// `scripted-browser` with these arguments before the URL.
pub fn scripted_browser(args: &[&str]) -> SystemBrowser {
    SystemBrowser {
        command: BrowserCommand {
            program: crate::SCRIPTED_BROWSER.into(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        },
    }
}

/// Runs the client in-process with the scripted browser; returns the result and the transcript.
pub async fn run_with(options: &Options, deny: bool) -> (Result<Outcome, ClientError>, Vec<Step>) {
    let transcript = Arc::new(RecordingTranscript::default());
    let result = run(options, transcript.clone(), person(deny)).await;
    (result, transcript.steps())
}
