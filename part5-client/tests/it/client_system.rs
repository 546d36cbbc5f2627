//! The client run in-process against the real authorization server and the
//! real protected MCP server of this part, each on its own `127.0.0.1:0`
//! listener, with the scripted browser logging in through the real login
//! page (rule CL-01 … CL-07). The mock-based `client_*` modules test the
//! client's reactions to misbehaving servers; this one proves the three real
//! parties work together, and checks at the real AS what the client did.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::{path::Path, sync::Arc, sync::Mutex, time::Duration};

use futures::future::BoxFuture;
use oauth2::TokenResponse as _;
use reqwest::StatusCode;
use rmcp::transport::auth::{CredentialStore as _, StoredCredentials};
use serde_json::json;
use this_part::{
    Config,
    authorization_server::Config as AsConfig,
    client::{
        BrowserOpener, ClientError, Options, Outcome, RecordingTranscript, Step,
        browser::BrowserError, callback::CallbackError, run, tokens::FileTokenCache,
    },
    clock::Clock,
};
use tokio::net::TcpListener;
use url::Url;

use crate::{
    client_support::person,
    support::{TestAs, TestServer, introspect, token_request},
};

/// The real AS and RS, configured for each other.
pub struct System {
    pub auth: TestAs,
    pub server: TestServer,
    pub mcp_url: String,
}

impl System {
    /// Binds the RS first so the AS can be told its URL (the token audience),
    /// then lets the test adjust either configuration.
    pub async fn start(
        as_config: impl FnOnce(&mut AsConfig),
        rs_config: impl FnOnce(&mut Config),
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mcp_url = format!("http://{}/mcp", listener.local_addr().expect("address"));
        let resources = vec![mcp_url.clone()];
        let auth = TestAs::start_with(|config| {
            config.resources = resources;
            as_config(config);
        })
        .await;
        let server =
            TestServer::start_on(listener, rs_config_for(&auth, &mcp_url, rs_config)).await;
        Self {
            auth,
            server,
            mcp_url,
        }
    }

    /// Stops the RS and starts it again on the same address with another
    /// configuration (same canonical URL, so cached tokens still apply).
    pub async fn restart_rs(self, rs_config: impl FnOnce(&mut Config)) -> Self {
        let address = self
            .server
            .base_url
            .trim_start_matches("http://")
            .to_owned();
        self.server.shutdown().await.expect("RS stopped");
        let listener = TcpListener::bind(&address).await.expect("the same port");
        let config = rs_config_for(&self.auth, &self.mcp_url, rs_config);
        let server = TestServer::start_on(listener, config).await;
        Self { server, ..self }
    }
}

pub fn rs_config_for(auth: &TestAs, mcp_url: &str, adjust: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::for_tests(&auth.issuer);
    config.public_url = mcp_url.to_owned();
    adjust(&mut config);
    config
}

/// Client options for `mcp_url`, tokens kept in `cache`, a short login timeout
/// so a broken test fails fast.
pub fn options(mcp_url: &str, cache: &Path) -> Options {
    Options {
        token_cache: Some(cache.to_path_buf()),
        login_timeout: 30,
        ..Options::for_tests(mcp_url)
    }
}

/// Runs the client in-process; returns the result and the transcript.
pub async fn run_client(
    options: &Options,
    browser: Arc<dyn BrowserOpener>,
) -> (Result<Outcome, ClientError>, Vec<Step>) {
    let transcript = Arc::new(RecordingTranscript::default());
    let result = run(options, transcript.clone(), browser).await;
    (result, transcript.steps())
}

/// What the client saved in its token cache for `mcp_url`.
pub async fn cached(path: &Path, mcp_url: &str) -> Option<StoredCredentials> {
    FileTokenCache::new(path, mcp_url)
        .load()
        .await
        .expect("a readable cache")
}

/// The cached access and refresh tokens.
pub async fn cached_tokens(path: &Path, mcp_url: &str) -> (String, String) {
    let stored = cached(path, mcp_url).await.expect("cached credentials");
    let response = stored.token_response.expect("a token response");
    let refresh = response.refresh_token().expect("a refresh token");
    (
        response.access_token().secret().clone(),
        refresh.secret().clone(),
    )
}

/// The access tokens' lifetime in the tests that let one expire.
const LIFETIME: Duration = Duration::from_secs(60);

/// Rewrites the cache as if its tokens had been received `ago` earlier.
pub async fn received_earlier(path: &Path, mcp_url: &str, ago: Duration) {
    let cache = FileTokenCache::new(path, mcp_url);
    let mut stored = cache.load().await.expect("readable").expect("cached");
    let received = stored.token_received_at.expect("a receipt time");
    stored.token_received_at = Some(received - ago.as_secs());
    cache.save(stored).await.expect("writable");
}

/// The text a tool returned.
pub fn text(outcome: &Outcome, tool: &str) -> String {
    let call = outcome
        .calls
        .iter()
        .find(|call| call.tool == tool)
        .expect("the tool was called");
    call.result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect()
}

pub fn count(steps: &[Step], wanted: impl Fn(&Step) -> bool) -> usize {
    steps.iter().filter(|step| wanted(step)).count()
}

/// CL-01…CL-07: one run logs in through the real login page, calls `greet` and `server_time`, and never shows the token.
#[tokio::test]
async fn cl07_full_flow_against_the_real_servers_never_shows_the_token() {
    let system = System::start(|_| {}, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let (result, steps) = run_client(&options(&system.mcp_url, &cache), person(false)).await;
    let outcome = result.expect("the run succeeds");

    assert_eq!(outcome.server_name, "mcp-demo-resource-server");
    assert_eq!(outcome.tools, crate::TOOLS);
    assert_eq!(outcome.logins, 1);
    let greet = &outcome.calls[0];
    assert_eq!(
        greet.result.structured_content,
        Some(json!({"greeting": "Hello, world!"}))
    );
    let time = outcome
        .calls
        .iter()
        .find(|call| call.tool == "server_time")
        .and_then(|call| call.result.structured_content.clone())
        .expect("server_time has a structured result");
    assert_eq!(time["timezone"], "UTC");
    assert!(!text(&outcome, "server_time").is_empty());

    // The flow went through every step, in order, with one login.
    let position = |wanted: fn(&Step) -> bool| {
        steps
            .iter()
            .position(wanted)
            .expect("the step is in the transcript")
    };
    let challenge = position(|s| matches!(s, Step::Challenge { status: 401, .. }));
    let listening = position(|s| matches!(s, Step::CallbackListening { .. }));
    let opened = position(|s| matches!(s, Step::BrowserOpened { .. }));
    let accepted = position(|s| matches!(s, Step::CallbackAccepted));
    let received = position(|s| matches!(s, Step::TokensReceived { .. }));
    assert!(
        challenge < listening && listening < opened && opened < accepted && accepted < received
    );
    assert!(steps.iter().any(|step| matches!(step,
        Step::Registered { method, .. } if method.starts_with("registered dynamically"))));
    assert!(steps.contains(&Step::AuthorizationServer {
        issuer: system.auth.issuer.clone(),
        metadata_url: system.auth.url("/.well-known/oauth-authorization-server"),
    }));

    // CL-07: neither token appears in any step, however it is printed.
    let (access, refresh) = cached_tokens(&cache, &system.mcp_url).await;
    for step in &steps {
        for shown in [step.to_string(), format!("{step:?}")] {
            assert!(
                !shown.contains(&access) && !shown.contains(&refresh),
                "{shown}"
            );
        }
    }

    // The real AS issued it to this client, for this resource (CL-04).
    let info = introspect(&system.auth.issuer, &access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["aud"], json!(system.mcp_url));
    assert_eq!(info["scope"], "mcp:tools");
    let stored = cached(&cache, &system.mcp_url).await.expect("cached");
    assert_eq!(info["client_id"], json!(stored.client_id));
}

/// CL-04: Deny on the real login page ⇒ error=access_denied, exit code 2, and the client holds no token.
#[tokio::test]
async fn cl04_denied_login_exits_2_and_no_token_is_issued() {
    let system = System::start(|_| {}, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let (result, steps) = run_client(&options(&system.mcp_url, &cache), person(true)).await;
    let error = result.expect_err("the login was denied");
    assert!(
        matches!(&error, ClientError::Callback(CallbackError::Denied { error, .. }) if error == "access_denied"),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    assert_eq!(
        count(&steps, |s| matches!(
            s,
            Step::CallbackAccepted | Step::TokensReceived { .. }
        )),
        0
    );
    // Nothing the client kept is a token: at most its client id.
    let stored = cached(&cache, &system.mcp_url).await;
    assert!(
        stored.is_none_or(|stored| stored.token_response.is_none()),
        "a token was stored after a denial"
    );
}

/// How a [`TamperingBrowser`] changes the redirect back to the client.
#[derive(Clone, Copy)]
enum Tamper {
    State,
    Issuer,
}

/// A browser that logs in on the real page with `scripted-browser
/// --print-callback`, then replaces `state` or `iss` in the AS's redirect
/// before loading it (what an attacker's forged redirect looks like to the
/// client's listener). With another `state` it then loads the real redirect
/// too, as the person's browser would after an attacker's page got there first.
struct TamperingBrowser {
    tamper: Tamper,
    /// The status the client's listener answered.
    delivered: Mutex<Option<u16>>,
}

impl TamperingBrowser {
    async fn visit(&self, authorization_url: &str) -> Result<u16, String> {
        let output = tokio::process::Command::new(crate::SCRIPTED_BROWSER)
            .args(["--print-callback", authorization_url])
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let callback = String::from_utf8_lossy(&output.stdout);
        let callback = Url::parse(callback.trim()).map_err(|e| e.to_string())?;
        let forged = self.forge(&callback);
        let answer = reqwest::get(forged).await.map_err(|e| e.to_string())?;
        if matches!(self.tamper, Tamper::State) {
            // Without the login's state the forgery is ignored, so the real
            // redirect, which arrives next, still counts.
            reqwest::get(callback).await.map_err(|e| e.to_string())?;
        }
        Ok(answer.status().as_u16())
    }

    /// The callback URL with the chosen parameter replaced.
    fn forge(&self, callback: &Url) -> Url {
        let (name, value) = match self.tamper {
            Tamper::State => ("state", "forged-state-0123456789abcdef"),
            Tamper::Issuer => ("iss", "http://evil.example"),
        };
        let pairs: Vec<(String, String)> = callback
            .query_pairs()
            .into_owned()
            .map(|(k, v)| {
                if k == name {
                    (k, value.to_owned())
                } else {
                    (k, v)
                }
            })
            .collect();
        assert!(pairs.iter().any(|(k, _)| k == name), "{callback}");
        let mut forged = callback.clone();
        forged.query_pairs_mut().clear().extend_pairs(&pairs);
        forged
    }
}

impl BrowserOpener for TamperingBrowser {
    fn open<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, BrowserError>> {
        Box::pin(async move {
            let status = self.visit(url).await.map_err(BrowserError::Other)?;
            *self.delivered.lock().expect("lock") = Some(status);
            Ok("tampering browser".into())
        })
    }
}

/// Runs the client with a browser that forges `tamper` on the real AS's redirect.
async fn run_tampered(tamper: Tamper) -> (ClientError, Vec<Step>, Option<u16>) {
    let system = System::start(|_| {}, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let browser = Arc::new(TamperingBrowser {
        tamper,
        delivered: Mutex::new(None),
    });
    let (result, steps) = run_client(&options(&system.mcp_url, &cache), browser.clone()).await;
    let error = result.expect_err("the forged redirect is refused");
    assert_eq!(error.exit_code(), 2);
    assert_eq!(
        count(&steps, |s| matches!(
            s,
            Step::CallbackAccepted | Step::TokensReceived { .. }
        )),
        0,
        "the code was not used"
    );
    let stored = cached(&cache, &system.mcp_url).await;
    assert!(stored.is_none_or(|stored| stored.token_response.is_none()));
    let delivered = *browser.delivered.lock().expect("lock");
    (error, steps, delivered)
}

/// CL-04: a forged redirect with another `state` gets 400 and is ignored; the real AS's redirect after it logs in.
#[tokio::test]
async fn cl04_forged_state_is_ignored_and_the_real_redirect_logs_in() {
    let system = System::start(|_| {}, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let browser = Arc::new(TamperingBrowser {
        tamper: Tamper::State,
        delivered: Mutex::new(None),
    });
    let (result, steps) = run_client(&options(&system.mcp_url, &cache), browser.clone()).await;
    let outcome = result.expect("the real redirect completes the login");
    assert_eq!(outcome.logins, 1);
    assert_eq!(count(&steps, |s| matches!(s, Step::CallbackAccepted)), 1);
    let delivered = *browser.delivered.lock().expect("lock");
    assert_eq!(delivered, Some(StatusCode::BAD_REQUEST.as_u16()));
}

/// CL-04, RFC 9207: the real AS's redirect naming another issuer is refused (400), exit code 2.
#[tokio::test]
async fn cl04_wrong_iss_on_the_real_redirect_is_refused() {
    let (error, _, delivered) = run_tampered(Tamper::Issuer).await;
    assert!(
        matches!(&error, ClientError::Callback(CallbackError::IssuerMismatch { received, .. }) if received == "http://evil.example"),
        "{error}"
    );
    assert_eq!(delivered, Some(StatusCode::BAD_REQUEST.as_u16()));
}

/// CL-06: an access token that expired between two runs is refreshed at the real /token (rotation), with no new login.
#[tokio::test]
async fn cl06_expired_access_token_is_refreshed_at_the_real_token_endpoint() {
    // One clock for both servers, moved forward below instead of sleeping.
    let clock = Clock::default();
    let (as_clock, rs_clock) = (clock.clone(), clock.clone());
    let system = System::start(
        |config| {
            config.token_lifetime = LIFETIME.as_secs();
            config.clock = as_clock;
        },
        |config| config.clock = rs_clock,
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let options = options(&system.mcp_url, &cache);
    let (first, _) = run_client(&options, person(false)).await;
    assert_eq!(first.expect("the first run logs in").logins, 1);
    let (old_access, old_refresh) = cached_tokens(&cache, &system.mcp_url).await;

    // The next run comes a lifetime later: the servers' clock moves past the
    // token's expiry, and the cache records the token as received that long
    // ago, which is all the client reads of time.
    clock.advance(LIFETIME + Duration::from_secs(1));
    received_earlier(&cache, &system.mcp_url, LIFETIME + Duration::from_secs(1)).await;
    assert_eq!(
        introspect(&system.auth.issuer, &old_access).await,
        json!({"active": false}),
        "the cached access token has expired at the AS"
    );

    // A browser that fails the test if the client asks for a login.
    let (second, steps) = run_client(&options, person(true)).await;
    let outcome = second.expect("the second run succeeds without a login");
    assert_eq!(outcome.logins, 0);
    assert_eq!(
        count(&steps, |s| matches!(s, Step::BrowserOpened { .. })),
        0
    );
    assert!(
        steps
            .iter()
            .any(|step| matches!(step, Step::CachedTokens { .. }))
    );
    assert!(!text(&outcome, "server_time").is_empty());

    // The refresh went to the real /token: both tokens were rotated, and the
    // old refresh token is now spent (AS-08).
    let (new_access, new_refresh) = cached_tokens(&cache, &system.mcp_url).await;
    assert_ne!(new_access, old_access);
    assert_ne!(new_refresh, old_refresh);
    let client_id = cached(&cache, &system.mcp_url)
        .await
        .expect("cached")
        .client_id;
    let replay = token_request(
        &system.auth.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh.as_str()),
            ("client_id", client_id.as_str()),
            ("resource", system.mcp_url.as_str()),
        ],
    )
    .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = replay.json().await.expect("JSON error");
    assert_eq!(body["error"], "invalid_grant");
}

/// CL-05: a token without the scope the RS now requires ⇒ 403 insufficient_scope ⇒ exactly one re-authorization for the union, then success.
///
/// The real RS challenges every 401 with the scope it requires, so a first
/// login already asks for the right scope and never meets a 403. A token
/// with too little scope exists only when requirements change under it:
/// a first run gets and caches an `mcp:tools` token, then the RS is
/// restarted on the same URL requiring `mcp:admin`, and a second run with
/// the cached token is refused with 403.
#[tokio::test]
async fn cl05_insufficient_scope_reauthorizes_once_against_the_real_servers() {
    let system = System::start(
        |config| config.scopes = vec!["mcp:tools".into(), "mcp:admin".into()],
        |_| {},
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let options = options(&system.mcp_url, &cache);
    let (first, _) = run_client(&options, person(false)).await;
    assert_eq!(first.expect("the first run logs in").logins, 1);

    let system = system
        .restart_rs(|config| config.required_scope = "mcp:admin".into())
        .await;
    let (second, steps) = run_client(&options, person(false)).await;
    let outcome = second.expect("the run succeeds after the upgrade");
    assert_eq!(outcome.logins, 1, "exactly one re-authorization");
    assert!(!text(&outcome, "server_time").is_empty());
    let challenges: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::Challenge { .. }))
        .collect();
    assert_eq!(
        challenges,
        [&Step::Challenge {
            status: 403,
            resource_metadata: Some(format!(
                "{}/.well-known/oauth-protected-resource/mcp",
                system.server.base_url
            )),
            scope: Some("mcp:admin".into()),
            error: Some("insufficient_scope".into()),
        }]
    );
    assert_eq!(
        count(&steps, |s| matches!(s, Step::RequestingScopes { .. })),
        1
    );
    assert!(
        steps.contains(&Step::RequestingScopes {
            scopes: vec!["mcp:tools".into(), "mcp:admin".into()],
            upgrade: true,
        }),
        "{steps:#?}"
    );

    // The AS granted the union to the same client, for the same resource.
    let (access, _) = cached_tokens(&cache, &system.mcp_url).await;
    let info = introspect(&system.auth.issuer, &access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["scope"], "mcp:tools mcp:admin");
    assert_eq!(info["aud"], json!(system.mcp_url));
}

/// A loopback URL on which nothing listens.
async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

/// CL-01: an unreachable MCP server ⇒ a connection error naming it, exit code 1, no browser.
#[tokio::test]
async fn cl01_unreachable_rs_exits_1() {
    let mcp_url = format!("{}/mcp", dead_url().await);
    let dir = tempfile::tempdir().expect("tempdir");
    let options = options(&mcp_url, &dir.path().join("tokens.json"));
    let (result, steps) = run_client(&options, person(false)).await;
    let error = result.expect_err("nothing listens there");
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    assert!(error.to_string().contains(&mcp_url), "{error}");
    assert_eq!(error.exit_code(), 1);
    assert_eq!(
        count(&steps, |s| matches!(s, Step::BrowserOpened { .. })),
        0
    );
}

/// CL-02: the RS names an AS that does not answer ⇒ a fetch error naming its metadata URL, exit code 1, no browser.
#[tokio::test]
async fn cl02_unreachable_as_exits_1() {
    let issuer = dead_url().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mcp_url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let mut config = Config::for_tests(&issuer);
    config.public_url = mcp_url.clone();
    let _server = TestServer::start_on(listener, config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = options(&mcp_url, &dir.path().join("tokens.json"));
    let (result, steps) = run_client(&options, person(false)).await;
    let error = result.expect_err("the AS is down");
    assert!(matches!(error, ClientError::Fetch { .. }), "{error}");
    assert!(error.to_string().contains(&issuer), "{error}");
    assert_eq!(error.exit_code(), 1);
    // The public tool worked before the AS was needed.
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Challenge { status: 401, .. }))
    );
    assert_eq!(
        count(&steps, |s| matches!(s, Step::BrowserOpened { .. })),
        0
    );
}
