//! The loopback listener over real HTTP (rule CL-04, CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::time::Duration;

use part5_client::client::{
    ClientError,
    callback::{CallbackError, CallbackServer, Expected},
};

async fn armed() -> CallbackServer {
    let server = CallbackServer::bind(0).await.expect("bind");
    server.expect(Expected {
        state: "state-1234567890123456789".into(),
        issuer: "http://localhost:9000".into(),
        issuer_required: true,
    });
    server
}

async fn visit(server: &CallbackServer, query: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}?{query}", server.redirect_uri()))
        .await
        .expect("GET callback");
    let status = response.status().as_u16();
    assert_eq!(
        response
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer"),
        "the page's URL holds the code"
    );
    (status, response.text().await.expect("body"))
}

/// CL-06: the listener is on 127.0.0.1, accepts the right redirect and says the tab can be closed.
#[tokio::test]
async fn cl06_accepts_the_redirect_and_says_close_the_tab() {
    let server = armed().await;
    assert!(server.redirect_uri().starts_with("http://127.0.0.1:"));
    let (status, body) = visit(
        &server,
        "code=c1&state=state-1234567890123456789&iss=http%3A%2F%2Flocalhost%3A9000",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("close this tab"), "{body}");
    let response = server.wait(Duration::from_secs(5)).await.expect("accepted");
    assert_eq!(response.code, "c1");
}

/// CL-04: a wrong state is refused with 400 and ends the login with exit code 2.
#[tokio::test]
async fn cl04_wrong_state_is_refused_over_http() {
    let server = armed().await;
    let (status, _) = visit(
        &server,
        "code=c1&state=forged&iss=http%3A%2F%2Flocalhost%3A9000",
    )
    .await;
    assert_eq!(status, 400);
    let error = server
        .wait(Duration::from_secs(5))
        .await
        .expect_err("refused");
    assert!(matches!(
        error,
        ClientError::Callback(CallbackError::StateMismatch)
    ));
    assert_eq!(error.exit_code(), 2);
    // The login is over: a second (even correct) redirect finds nobody waiting.
    let (status, _) = visit(&server, "code=c1&state=state-1234567890123456789").await;
    assert_eq!(status, 400);
}

/// error=access_denied reaches the waiting client as a denial (exit code 2).
#[tokio::test]
async fn access_denied_over_http_is_exit_code_2() {
    let server = armed().await;
    let (status, body) = visit(
        &server,
        "error=access_denied&state=state-1234567890123456789&iss=http%3A%2F%2Flocalhost%3A9000",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("not approved"), "{body}");
    let error = server
        .wait(Duration::from_secs(5))
        .await
        .expect_err("denied");
    assert_eq!(error.exit_code(), 2);
}
