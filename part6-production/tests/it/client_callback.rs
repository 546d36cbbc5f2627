//! The loopback listener over real HTTP (rule CL-04, CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::time::Duration;

use this_part::client::{
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

/// CL-04: a request without this login's state (wrong, missing, repeated) gets 400 and does not end the login; the real redirect then completes it.
#[tokio::test]
async fn cl04_forged_state_gets_400_and_the_real_redirect_still_completes() {
    let server = armed().await;
    for forged in [
        "code=attacker&state=forged&iss=http%3A%2F%2Flocalhost%3A9000",
        "code=attacker&iss=http%3A%2F%2Flocalhost%3A9000",
        "error=access_denied&iss=http%3A%2F%2Flocalhost%3A9000",
        "code=attacker&state=state-1234567890123456789&state=forged",
        "",
    ] {
        let (status, body) = visit(&server, forged).await;
        assert_eq!(status, 400, "{forged}");
        assert!(body.contains("ignored"), "{forged}: {body}");
    }
    let (status, _) = visit(
        &server,
        "code=c1&state=state-1234567890123456789&iss=http%3A%2F%2Flocalhost%3A9000",
    )
    .await;
    assert_eq!(status, 200);
    let response = server
        .wait(Duration::from_secs(5))
        .await
        .expect("the real redirect is accepted");
    assert_eq!(response.code, "c1", "not the attacker's code");
}

/// CL-04: the redirect that carries the login's state decides, even when refused (another iss); a second one finds no login.
#[tokio::test]
async fn cl04_the_redirect_with_the_state_decides_once() {
    let server = armed().await;
    let (status, _) = visit(
        &server,
        "code=c1&state=state-1234567890123456789&iss=http%3A%2F%2Fevil.example",
    )
    .await;
    assert_eq!(status, 400);
    let error = server
        .wait(Duration::from_secs(5))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            error,
            ClientError::Callback(CallbackError::IssuerMismatch { .. })
        ),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    let (status, body) = visit(
        &server,
        "code=c1&state=state-1234567890123456789&iss=http%3A%2F%2Flocalhost%3A9000",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("No login in progress"), "{body}");
}

/// CL-06: two hundred forged callbacks at once neither end the login nor stop the listener.
#[tokio::test]
async fn cl06_a_flood_of_forged_callbacks_does_not_end_the_login() {
    let server = armed().await;
    let http = reqwest::Client::new();
    let forged = format!("{}?code=attacker&state=forged", server.redirect_uri());
    let answers = futures::future::join_all((0..200).map(|_| http.get(&forged).send())).await;
    for answer in answers {
        assert_eq!(answer.expect("the listener answers").status().as_u16(), 400);
    }
    // Still up and still armed: the real redirect completes the login.
    let (status, _) = visit(
        &server,
        "code=c1&state=state-1234567890123456789&iss=http%3A%2F%2Flocalhost%3A9000",
    )
    .await;
    assert_eq!(status, 200);
    let response = server.wait(Duration::from_secs(5)).await.expect("accepted");
    assert_eq!(response.code, "c1");
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
