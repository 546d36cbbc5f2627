//! The login page: headers, CSRF, escaping, throttling, `state` and `iss`
//! (rule AS-10, AS-11, AS-12).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use this_part::clock::Clock;

use crate::support::{
    PASSWORD, Pkce, TestAs, USERNAME, authorize_params, http, open_login_page, redirect_params,
    register_client, register_public_client, submit_login,
};

/// AS-10: the page cannot be framed, loads nothing foreign, leaks no referrer and has no CORS.
#[tokio::test]
async fn as10_login_page_headers() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let response = http()
        .get(server.url("/authorize"))
        .query(&authorize_params(&client.client_id, &pkce, "s"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["x-frame-options"], "DENY");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.get("access-control-allow-origin").is_none());
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("as_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http issuer: {cookie}");
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "no external assets"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: over https the session cookie is `Secure` with the `__Host-` prefix.
#[tokio::test]
async fn as10_https_issuer_uses_host_cookie() {
    let server = TestAs::start_with(|config| config.issuer = "https://auth.example".into()).await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "s"),
    )
    .await;
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-as_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: the page names the client and the redirect host, escaped, and offers Deny.
#[tokio::test]
async fn as10_page_names_client_and_host_escaped() {
    let server = TestAs::start().await;
    let client = register_client(
        &server.issuer,
        json!({
            "client_name": "<script>alert(1)</script> & \"Co\"",
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let pkce = Pkce::new();
    let mut params = authorize_params(&client.client_id, &pkce, "s");
    params.retain(|(name, _)| *name != "redirect_uri");
    params.push(("redirect_uri", "https://app.example/cb"));
    let page = open_login_page(&server.issuer, &params).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;")
    );
    assert!(!page.body.contains("<script>"));
    assert!(page.body.contains("app.example"));
    assert!(page.body.contains("value=\"deny\""));
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: a form without the right CSRF token and session cookie is refused with a page, never a redirect.
#[tokio::test]
async fn as10_login_csrf() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let params = authorize_params(&client.client_id, &pkce, "s");
    let page = open_login_page(&server.issuer, &params).await;
    let other = open_login_page(&server.issuer, &params).await;
    assert_ne!(
        page.pending, other.pending,
        "pending logins are keyed by a server-made id"
    );
    let cases = [
        (
            "wrong token",
            crate::support::LoginPage {
                csrf: other.csrf.clone(),
                ..page.clone()
            },
        ),
        (
            "no cookie",
            crate::support::LoginPage {
                cookie: None,
                ..page.clone()
            },
        ),
        (
            "another browser's cookie",
            crate::support::LoginPage {
                cookie: other.cookie.clone(),
                ..page.clone()
            },
        ),
        (
            "no token",
            crate::support::LoginPage {
                csrf: String::new(),
                ..page.clone()
            },
        ),
    ];
    for (case, forged) in cases {
        let response = submit_login(&server.issuer, &forged, USERNAME, PASSWORD, "approve").await;
        // Rule AS-20: a form this server did not show in this browser is forbidden.
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
        assert!(response.headers().get("location").is_none(), "{case}");
    }
    let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the real form still works"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: the session cookie is rotated at login, and the sign-in cannot be used twice.
#[tokio::test]
async fn as10_session_rotates_and_sign_in_is_single_use() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "s"),
    )
    .await;
    let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let rotated = response.headers()["set-cookie"].to_str().unwrap();
    let old = page.cookie.clone().unwrap();
    assert!(
        rotated.starts_with("as_session=") && !rotated.starts_with(&old),
        "{rotated}"
    );
    let again = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: a sign-in lasts ten minutes: its form still signs in after nine,
/// and at ten it is an expired page, with no redirect.
#[tokio::test]
async fn as10_a_sign_in_expires_after_ten_minutes() {
    let clock = Clock::default();
    let server_clock = clock.clone();
    let server = TestAs::start_with(|config| config.clock = server_clock).await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let params = authorize_params(&client.client_id, &pkce, "t");

    let page = open_login_page(&server.issuer, &params).await;
    clock.advance(Duration::from_secs(9 * 60));
    let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(redirect_params(&response).contains_key("code"));

    let page = open_login_page(&server.issuer, &params).await;
    clock.advance(Duration::from_secs(10 * 60));
    let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    let body = response.text().await.expect("page");
    assert!(body.contains("expired"), "{body}");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: the session cookie the CSRF token is bound to is the server's own:
/// a well-formed one is kept, anything else is replaced by a new one.
#[tokio::test]
async fn as10_a_session_cookie_of_another_shape_is_replaced() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let params = authorize_params(&client.client_id, &pkce, "c");
    let open_with = |cookie: String| {
        http()
            .get(server.url("/authorize"))
            .query(&params)
            .header("cookie", cookie)
            .send()
    };

    let kept = format!("as_session={}", "A".repeat(43));
    let response = open_with(kept).await.expect("authorize");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());

    for value in ["short", &"A".repeat(42), &"A".repeat(44)] {
        let response = open_with(format!("as_session={value}"))
            .await
            .expect("authorize");
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"].to_str().expect("ASCII");
        let new = cookie
            .strip_prefix("as_session=")
            .and_then(|rest| rest.split(';').next())
            .expect("a session cookie");
        assert_eq!(new.len(), 43, "{cookie}");
        assert_ne!(new, value);
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-10: Deny ⇒ 303 to the client with access_denied, the state and iss.
#[tokio::test]
async fn as10_deny_redirects_with_access_denied() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "d"),
    )
    .await;
    let response = submit_login(&server.issuer, &page, "", "", "deny").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let redirect = redirect_params(&response);
    assert_eq!(redirect["error"], "access_denied");
    assert_eq!(redirect["state"], "d");
    assert_eq!(redirect["iss"], server.issuer);
    assert!(!redirect.contains_key("code"));
    server.shutdown().await.expect("clean shutdown");
}

/// AS-11: 20 bad passwords ⇒ 429, and then even the right password waits.
#[tokio::test]
async fn as11_bad_passwords_are_throttled() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "s"),
    )
    .await;
    let mut statuses = Vec::new();
    for attempt in 0..20 {
        let response = submit_login(
            &server.issuer,
            &page,
            USERNAME,
            &format!("guess{attempt}"),
            "approve",
        )
        .await;
        statuses.push(response.status());
    }
    assert_eq!(statuses[0], StatusCode::OK);
    assert_eq!(statuses[19], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        5,
        "{statuses:?}"
    );
    let right = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    server.shutdown().await.expect("clean shutdown");
}

/// AS-11: an unknown user and a wrong password get the same answer.
#[tokio::test]
async fn as11_unknown_user_looks_like_wrong_password() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "s"),
    )
    .await;
    let unknown = submit_login(&server.issuer, &page, "nobody", PASSWORD, "approve").await;
    let wrong = submit_login(&server.issuer, &page, USERNAME, "wrong", "approve").await;
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(unknown.text().await.unwrap(), wrong.text().await.unwrap());
    server.shutdown().await.expect("clean shutdown");
}

/// AS-12: `state` with `&`, `%`, spaces, `+` and `<script>` comes back byte-identical and is never rendered.
#[tokio::test]
async fn as12_state_round_trips_exactly() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let state = "a&b=c %20 +x <script>alert('s')</script> ü#";
    for action in ["approve", "deny"] {
        let page = open_login_page(
            &server.issuer,
            &authorize_params(&client.client_id, &pkce, state),
        )
        .await;
        assert!(!page.body.contains("<script>"), "state is never rendered");
        assert!(!page.body.contains("alert"), "state is never rendered");
        let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, action).await;
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            !location.contains(' ') && !location.contains('<'),
            "{location}"
        );
        let redirect = redirect_params(&response);
        assert_eq!(redirect["state"], state, "{action}");
        assert_eq!(redirect["iss"], server.issuer, "{action}");
    }
    server.shutdown().await.expect("clean shutdown");
}
