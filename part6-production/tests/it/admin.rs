//! The admin listener of both servers (rule P6-07): Prometheus metrics that
//! count what happened, `/healthz`, and a `/readyz` that follows the
//! database, the signing keys and the authorization server's key set.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use this_part::{Config, authorization_server};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    mcp_http::{open_session, post_mcp, tool_call},
    persistence::{give_database_back, postgres_database, take_database_away},
    support::{
        Pkce, RESOURCE, USERNAME, authorize_params, http, obtain_tokens, open_login_page,
        register_public_client, submit_login,
    },
};

/// A server task, its admin URL, and the means to stop it.
struct Running<T> {
    url: String,
    admin: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<T>,
}

impl<T> Running<T> {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

async fn listeners() -> (TcpListener, TcpListener) {
    let bind = || TcpListener::bind("127.0.0.1:0");
    (bind().await.expect("bind"), bind().await.expect("bind"))
}

/// The authorization server with its admin listener; `configure` sees the
/// configuration after the issuer is set.
async fn start_as(
    configure: impl FnOnce(&mut authorization_server::Config),
) -> Running<std::io::Result<()>> {
    let (listener, admin) = listeners().await;
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let admin_url = format!("http://{}", admin.local_addr().expect("address"));
    let mut config = authorization_server::Config::for_tests(&url);
    configure(&mut config);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(authorization_server::serve_with_admin(
        listener,
        Some(admin),
        config,
        async {
            let _ = stopped.await;
        },
    ));
    Running {
        url,
        admin: admin_url,
        stop: Some(stop),
        task,
    }
}

/// The resource server with its admin listener, asking `issuer`.
async fn start_rs(issuer: &str) -> Running<anyhow::Result<()>> {
    let (listener, admin) = listeners().await;
    let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let admin_url = format!("http://{}", admin.local_addr().expect("address"));
    let mut config = Config::for_tests(issuer);
    // The audience of the tests' tokens; the server is reached at `url`.
    config.public_url = RESOURCE.into();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(this_part::server::serve_with_admin(
        listener,
        Some(admin),
        config,
        async {
            let _ = stopped.await;
        },
    ));
    Running {
        url,
        admin: admin_url,
        stop: Some(stop),
        task,
    }
}

async fn get(url: &str) -> (StatusCode, String) {
    let response = http().get(url).send().await.expect("GET");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// The value of the sample `series` (name and labels, as written) in a
/// scrape, or `None` when it is not there.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

// ANCHOR: p607_metrics
/// A sign-in, a failed login, a throttled registration, a revocation and
/// two protected calls, each counted where an operator would look for it.
#[tokio::test]
async fn p607_metrics_count_what_happened() {
    let auth = start_as(|config| {
        config.resources = vec![RESOURCE.into()];
        config.limits.rate_register = 3;
    })
    .await;
    let obtained = obtain_tokens(&auth.url, RESOURCE, "mcp:tools").await;
    let for_rs = obtain_tokens(&auth.url, RESOURCE, "mcp:tools").await;

    // A wrong password on the real login page.
    let client = register_public_client(&auth.url).await;
    let pkce = Pkce::new();
    let page = open_login_page(&auth.url, &authorize_params(&client.client_id, &pkce, "s")).await;
    let login = submit_login(&auth.url, &page, USERNAME, "wrong", "approve").await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "the page again, with the problem"
    );
    // Registrations over three a minute from this address are refused.
    let mut refused = false;
    for _ in 0..5 {
        let response = http()
            .post(format!("{}/register", auth.url))
            .json(&json!({"redirect_uris": ["http://127.0.0.1:9/callback"]}))
            .send()
            .await
            .expect("register");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(refused, "the rate limit refused a registration");
    let response = http()
        .post(format!("{}/revoke", auth.url))
        .form(&[
            ("token", obtained.tokens.access_token.as_str()),
            ("client_id", obtained.client.client_id.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);

    let (status, text) = get(&format!("{}/metrics", auth.admin)).await;
    assert_eq!(status, StatusCode::OK);
    // Two sign-ins and one wrong password: three posts to `/login`.
    for (series, value) in [
        (
            r#"oauth_tokens_issued_total{kind="authorization_code"}"#,
            2.0,
        ),
        (r#"oauth_login_failures_total{kind="password"}"#, 1.0),
        ("oauth_revocations_total", 1.0),
        (r#"http_throttled_requests_total{route="/register"}"#, 1.0),
        (
            r#"http_requests_total{route="/token",method="POST",status="200"}"#,
            2.0,
        ),
        (
            r#"http_requests_total{route="/register",method="POST",status="429"}"#,
            1.0,
        ),
        (
            r#"http_request_duration_seconds_count{route="/login"}"#,
            3.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    let idle = sample(&text, r#"db_pool_connections{kind="idle"}"#).expect("pool gauge");
    assert!(idle >= 0.0, "{text}");
    assert!(text.ends_with("# EOF\n"));

    // The resource server: two calls, one key-set fetch, no introspection.
    let rs = start_rs(&auth.url).await;
    let token = for_rs.tokens.access_token.as_str();
    for _ in 0..2 {
        let session = open_session(&rs.url, Some(token)).await;
        let call = tool_call("server_time", json!({}));
        let response = post_mcp(&rs.url, Some(&session), Some(token), &call).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (status, text) = get(&format!("{}/metrics", rs.admin)).await;
    assert_eq!(status, StatusCode::OK);
    for (series, value) in [
        // initialize and the call, twice; notifications/initialized twice.
        (
            r#"http_requests_total{route="/mcp",method="POST",status="200"}"#,
            4.0,
        ),
        (
            r#"http_requests_total{route="/mcp",method="POST",status="202"}"#,
            2.0,
        ),
        (r#"authorization_server_calls_total{kind="jwks"}"#, 1.0),
        (
            r#"authorization_server_calls_total{kind="introspection"}"#,
            0.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    rs.stop().await;
    auth.stop().await;
}
// ANCHOR_END: p607_metrics

// ANCHOR: p607_readyz
/// `/readyz` says 503 with the reason while the database is gone and 200
/// when it is back; `/healthz` says 200 throughout. The resource server is
/// ready once it holds the authorization server's keys, and says why not
/// while the authorization server is down.
#[tokio::test]
async fn p607_readiness_follows_the_database_and_the_keys() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let auth = start_as(|config| config.database_url = database.clone()).await;
    let rs = start_rs(&auth.url).await;
    assert_eq!(
        get(&format!("{}/readyz", auth.admin)).await,
        (StatusCode::OK, "ready\n".into())
    );
    assert_eq!(
        get(&format!("{}/readyz", rs.admin)).await,
        (StatusCode::OK, "ready\n".into())
    );

    let name = database
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    take_database_away(&name).await;
    let (status, body) = get(&format!("{}/readyz", auth.admin)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready: the database cannot be reached\n");
    assert_eq!(
        get(&format!("{}/healthz", auth.admin)).await,
        (StatusCode::OK, "ok\n".into())
    );

    give_database_back(&name).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&format!("{}/readyz", auth.admin)).await.0 != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the server did not become ready again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rs.stop().await;
    auth.stop().await;
}

/// A resource server whose authorization server is not there is not ready,
/// and says why.
#[tokio::test]
async fn p607_a_resource_server_without_the_keys_is_not_ready() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let rs = start_rs(&issuer).await;
    let (status, body) = get(&format!("{}/readyz", rs.admin)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.starts_with("not ready: the key set: "), "{body}");
    assert_eq!(
        get(&format!("{}/healthz", rs.admin)).await.0,
        StatusCode::OK
    );
    rs.stop().await;
}
// ANCHOR_END: p607_readyz
