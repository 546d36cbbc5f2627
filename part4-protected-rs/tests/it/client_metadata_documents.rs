//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is a URL, served here by a small axum app on loopback.
//! The AS runs with `cimd_allow_loopback_http`, except where a test checks
//! what the default refuses.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Router,
    extract::{Path, State},
    http::header,
    response::IntoResponse,
    routing::get,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};

use crate::support::{
    Pkce, REDIRECT_URI, RegisteredClient, TestAs, authorize_code, authorize_params, exchange_code,
    introspect, open_login_page,
};

/// A loopback server of client metadata documents, one per path.
struct DocumentHost {
    base: String,
    fetches: Arc<AtomicUsize>,
}

impl DocumentHost {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let fetches = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/client.json", get(good))
            .route("/other-id.json", get(other_id))
            .route("/large.json", get(large))
            .route("/sized/{size}", get(sized))
            .route("/streamed/{size}", get(streamed))
            .route("/not-json.txt", get(not_json))
            .route("/redirect.json", get(redirect))
            .with_state((base.clone(), fetches.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fetches }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

type Host = State<(String, Arc<AtomicUsize>)>;

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "CIMD test client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
}

async fn good(State((base, fetches)): Host) -> impl IntoResponse {
    fetches.fetch_add(1, Ordering::SeqCst);
    (
        [(header::CACHE_CONTROL, "max-age=600")],
        axum::Json(document(&format!("{base}/client.json"))),
    )
}

async fn other_id(State((base, _)): Host) -> impl IntoResponse {
    axum::Json(document(&format!("{base}/client.json")))
}

async fn large(State((base, _)): Host) -> impl IntoResponse {
    let mut document = document(&format!("{base}/large.json"));
    document["padding"] = json!("x".repeat(6 * 1024));
    axum::Json(document)
}

/// A document of exactly `size` bytes, for the client id `path` on `base`.
fn padded(base: &str, path: &str, size: usize) -> Vec<u8> {
    let mut document = document(&format!("{base}{path}"));
    document["padding"] = json!("");
    let bare = document.to_string().len();
    document["padding"] = json!("x".repeat(size.saturating_sub(bare)));
    let bytes = document.to_string().into_bytes();
    assert_eq!(bytes.len(), size);
    bytes
}

/// A document of the requested size, with a `Content-Length`.
async fn sized(State((base, _)): Host, Path(size): Path<usize>) -> impl IntoResponse {
    let body = padded(&base, &format!("/sized/{size}"), size);
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// A document of the requested size, sent chunked: no `Content-Length`
/// warns the reader, which must count.
async fn streamed(State((base, _)): Host, Path(size): Path<usize>) -> impl IntoResponse {
    let body = padded(&base, &format!("/streamed/{size}"), size);
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::new(Unsized(Some(body.into()))),
    )
}

/// A body of one chunk that does not tell its size, so hyper sends it
/// chunked.
struct Unsized(Option<axum::body::Bytes>);

impl hyper::body::Body for Unsized {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .take()
                .map(|bytes| Ok(hyper::body::Frame::data(bytes))),
        )
    }
}

async fn not_json() -> impl IntoResponse {
    "client_id=whatever"
}

async fn redirect(State((base, _)): Host) -> impl IntoResponse {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, format!("{base}/client.json"))],
    )
}

/// The AS, allowed to fetch documents from loopback over http.
async fn start_as() -> TestAs {
    TestAs::start_with(|config| config.cimd_allow_loopback_http = true).await
}

/// A URL client as the support helpers expect a client.
fn url_client(client_id: &str) -> RegisteredClient {
    RegisteredClient {
        client_id: client_id.to_owned(),
        client_secret: None,
        token_endpoint_auth_method: "none".into(),
    }
}

/// Asserts the authorization request of `client_id` gets the 400 error page,
/// not a redirect, and that the page says `reason`.
async fn assert_refused(server: &TestAs, client_id: &str, redirect_uri: &str, reason: &str) {
    let pkce = Pkce::new();
    let mut params = authorize_params(client_id, &pkce, "xyz");
    params.retain(|(name, _)| *name != "redirect_uri");
    params.push(("redirect_uri", redirect_uri));
    let page = open_login_page(&server.issuer, &params).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{client_id}");
    assert!(page.headers.get("location").is_none(), "{client_id}");
    assert!(page.body.contains(reason), "{client_id}: {}", page.body);
}

/// CIMD: authorize → login → token → introspect with a URL as the client_id; the document is fetched once.
#[tokio::test]
async fn cimd_full_flow_with_a_url_client_id() {
    let host = DocumentHost::start().await;
    let server = start_as().await;
    let client = url_client(&host.url("/client.json"));
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "xyz"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("CIMD test client (127.0.0.1)"),
        "{}",
        page.body
    );
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let response = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.expect("token JSON");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let access_token = tokens["access_token"].as_str().expect("access token");
    let answer = introspect(&server.issuer, access_token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], client.client_id);
    assert_eq!(
        host.fetches.load(Ordering::SeqCst),
        1,
        "cached after the first fetch"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: a document whose client_id is not its own URL is refused with the 400 page.
#[tokio::test]
async fn cimd_refuses_a_document_naming_another_client_id() {
    let host = DocumentHost::start().await;
    let server = start_as().await;
    let client_id = host.url("/other-id.json");
    assert_refused(
        &server,
        &client_id,
        REDIRECT_URI,
        "is not the URL it was fetched from",
    )
    .await;
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: a redirect_uri the document does not list gets the 400 page, never a redirect (AS-04).
#[tokio::test]
async fn cimd_refuses_a_redirect_uri_not_in_the_document() {
    let host = DocumentHost::start().await;
    let server = start_as().await;
    let client_id = host.url("/client.json");
    let other = "http://127.0.0.1:9/elsewhere";
    assert_refused(
        &server,
        &client_id,
        other,
        "not one the application registered",
    )
    .await;
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: documents over 5 KiB, not JSON, behind a redirect or unreachable are refused with the 400 page.
#[tokio::test]
async fn cimd_refuses_documents_that_cannot_be_read() {
    let host = DocumentHost::start().await;
    let server = start_as().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let unreachable = format!(
        "http://{}/client.json",
        closed.local_addr().expect("address")
    );
    drop(closed);
    for (client_id, reason) in [
        (host.url("/large.json"), "larger than 5 KiB"),
        (host.url("/not-json.txt"), "not a JSON object"),
        (host.url("/redirect.json"), "redirects are not followed"),
        (host.url("/missing.json"), "did not answer 200 OK"),
        (unreachable, "could not be fetched"),
    ] {
        assert_refused(&server, &client_id, REDIRECT_URI, reason).await;
    }
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: the 5 KiB bound at its edge, with and without a `Content-Length`: a document of
/// exactly 5,120 bytes is read, one of 5,121 is refused.
#[tokio::test]
async fn cimd_a_document_of_exactly_5_kib_is_read() {
    let host = DocumentHost::start().await;
    let server = start_as().await;
    for kind in ["sized", "streamed"] {
        let pkce = Pkce::new();
        let client_id = host.url(&format!("/{kind}/5120"));
        let page = open_login_page(&server.issuer, &authorize_params(&client_id, &pkce, "x")).await;
        assert_eq!(page.status, StatusCode::OK, "{kind}: {}", page.body);
        let client_id = host.url(&format!("/{kind}/5121"));
        assert_refused(&server, &client_id, REDIRECT_URI, "larger than 5 KiB").await;
    }
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: a `Content-Length` over 5 KiB is refused as soon as the headers arrive, not after
/// a body that may never come (here, one byte of a promised megabyte, then nothing).
#[tokio::test]
async fn cimd_an_announced_length_over_5_kib_is_refused_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let client_id = format!(
        "http://{}/huge.json",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut request = [0; 4096];
        let _ = stream.read(&mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{";
        stream.write_all(head.as_bytes()).await.expect("write");
        // Holds the connection open, well past the fetch's 5 s deadline.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    });
    let server = start_as().await;
    assert_refused(&server, &client_id, REDIRECT_URI, "larger than 5 KiB").await;
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: by default an http client_id, and hosts that are or resolve to private or loopback addresses, are refused before any fetch.
#[tokio::test]
async fn cimd_default_refuses_http_and_private_addresses() {
    let host = DocumentHost::start().await;
    let server = TestAs::start().await;
    assert_refused(
        &server,
        &host.url("/client.json"),
        REDIRECT_URI,
        "must use https",
    )
    .await;
    for client_id in [
        "https://10.0.0.1/client.json",
        "https://127.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/client.json",
        "https://[fd00::1]/client.json",
        "https://localhost/client.json",
    ] {
        assert_refused(
            &server,
            client_id,
            REDIRECT_URI,
            "private, loopback or link-local",
        )
        .await;
    }
    assert_eq!(host.fetches.load(Ordering::SeqCst), 0);
    server.shutdown().await.expect("clean shutdown");
}

/// CIMD: the token endpoint knows a URL client only through a usable document (401 invalid_client otherwise).
#[tokio::test]
async fn cimd_token_endpoint_refuses_an_unusable_document() {
    let host = DocumentHost::start().await;
    let server = start_as().await;
    let client = url_client(&host.url("/not-json.txt"));
    let response = exchange_code(&server.issuer, &client, "no-such-code", &Pkce::new()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("error JSON");
    assert_eq!(body["error"], "invalid_client");
    server.shutdown().await.expect("clean shutdown");
}
