//! Bad input of every kind gets a 4xx in bounded time, never a 500 or a
//! panic (rule AS-13).

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::support::{TestAs, http};

const FORM: &str = "application/x-www-form-urlencoded";
const POST_ENDPOINTS: [&str; 5] = ["/token", "/introspect", "/revoke", "/register", "/login"];

/// Sends `body` to `path` and returns the status, within a deadline.
async fn post(server: &TestAs, path: &str, body: Vec<u8>) -> StatusCode {
    let request = http()
        .post(server.url(path))
        .header("content-type", FORM)
        .body(body);
    tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .expect("answered in bounded time")
        .expect("an HTTP answer")
        .status()
}

/// The server still answers normally afterwards: nothing panicked.
async fn assert_still_serving(server: &TestAs) {
    let response = http()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata");
    assert_eq!(response.status(), StatusCode::OK);
}

/// AS-13: a 10 MB body ⇒ 413 on every POST endpoint.
#[tokio::test]
async fn as13_ten_megabyte_body_is_refused() {
    let server = TestAs::start().await;
    for path in POST_ENDPOINTS {
        let status = post(&server, path, vec![b'a'; 10 * 1024 * 1024]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    assert_still_serving(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

/// AS-13: invalid UTF-8, raw or percent-encoded, ⇒ 400.
#[tokio::test]
async fn as13_invalid_utf8_is_refused() {
    let server = TestAs::start().await;
    for path in POST_ENDPOINTS {
        for body in [
            b"grant_type=\xff\xfe".to_vec(),
            b"token=%FF%FE&a=%C3".to_vec(),
        ] {
            let status = post(&server, path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        }
    }
    let response = http()
        .get(format!("{}?client_id=%FF", server.url("/authorize")))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_still_serving(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

/// AS-13: 100 000 parameters ⇒ 4xx, in a body or in a query string.
#[tokio::test]
async fn as13_hundred_thousand_parameters_are_refused() {
    let server = TestAs::start().await;
    let flood = "a&".repeat(100_000).into_bytes();
    for path in POST_ENDPOINTS {
        let status = post(&server, path, flood.clone()).await;
        assert!(status.is_client_error(), "{path}: {status}");
        let small_flood = "a=1&".repeat(100).into_bytes();
        let status = post(&server, path, small_flood).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
    let query = "a=1&".repeat(1_000);
    let response = http()
        .get(format!("{}?{query}", server.url("/authorize")))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_still_serving(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

/// AS-13: every endpoint answers a method it does not serve with 405 and `Allow`.
#[tokio::test]
async fn as13_wrong_methods_get_405_with_allow() {
    let server = TestAs::start().await;
    let cases = [
        (Method::GET, "/token", "POST"),
        (Method::PUT, "/introspect", "POST"),
        (Method::GET, "/revoke", "POST"),
        (Method::GET, "/register", "POST"),
        (Method::GET, "/login", "POST"),
        (Method::POST, "/authorize", "GET,HEAD"),
        (Method::DELETE, "/authorize", "GET,HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = http()
            .request(method.clone(), server.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
    server.shutdown().await.expect("clean shutdown");
}
