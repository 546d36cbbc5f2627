//! The resource server checks signed access tokens alone, with the keys the
//! authorization server publishes, and refuses every forgery with 401 and
//! `error="invalid_token"` (rule P6-04).
//!
//! The forgeries are signed with the authorization server's real key, read
//! from its SQLite file: a token can carry a real signature and still be
//! for another audience, from another issuer, expired, or not an access
//! token at all.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::net::TcpListener;

use crate::support::{
    SCOPE, TestAs, TestServer, http, initialize_body, obtain_tokens, post_mcp, tool_call,
};
use this_part::Config;

/// An authorization server on a SQLite file, and a resource server that
/// checks its tokens locally.
struct System {
    auth: TestAs,
    server: TestServer,
    mcp_url: String,
    database: String,
    _dir: tempfile::TempDir,
}

async fn system() -> System {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}", dir.path().join("as.db").display());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mcp_url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let auth = TestAs::start_with(|config| {
        config.resources = vec![mcp_url.clone()];
        config.database_url = database.clone();
    })
    .await;
    let mut config = Config::for_tests(&auth.issuer);
    config.public_url = mcp_url.clone();
    let server = TestServer::start_on(listener, config).await;
    System {
        auth,
        server,
        mcp_url,
        database,
        _dir: dir,
    }
}

/// Opens a session at `server` with `token` and calls `server_time` in it;
/// the first refusal's status and challenge, or the call's status.
async fn call(server: &TestServer, token: &str) -> (StatusCode, String) {
    let challenge = |response: &reqwest::Response| {
        (response.headers().get("www-authenticate"))
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let url = &server.mcp_url;
    let response = post_mcp(url, None, Some(token), &initialize_body()).await;
    if response.status() != StatusCode::OK {
        return (response.status(), challenge(&response));
    }
    let session = (response.headers().get("mcp-session-id"))
        .and_then(|value| value.to_str().ok())
        .expect("a session")
        .to_owned();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    post_mcp(url, Some(&session), Some(token), &initialized).await;
    let response = post_mcp(
        url,
        Some(&session),
        Some(token),
        &tool_call("server_time", json!({})),
    )
    .await;
    (response.status(), challenge(&response))
}

/// The authorization server's signing key, from its database: (kid, key).
async fn real_key(database: &str) -> (String, EncodingKey) {
    let mut connection = sqlx::SqliteConnection::connect(database)
        .await
        .expect("connect");
    let (kid, der): (String, Vec<u8>) =
        sqlx::query_as("SELECT kid, private_key FROM signing_keys ORDER BY signs_from DESC")
            .fetch_one(&mut connection)
            .await
            .expect("a signing key");
    (kid, EncodingKey::from_ec_der(&der))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims a real token for `system` would carry.
fn claims(system: &System) -> Value {
    json!({
        "iss": system.auth.issuer, "sub": "demo_user", "aud": system.mcp_url,
        "exp": now() + 300, "iat": now(), "jti": "forged", "client_id": "forged",
        "scope": SCOPE,
    })
}

fn header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.to_owned());
    header
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).expect("signed")
}

/// A token with any header and no signature check: for `alg: none`.
fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", part(header), part(claims))
}

// ANCHOR: as_stopped
/// Tokens issued before the authorization server stopped keep working:
/// the resource server needs it only to fetch its keys once.
#[tokio::test]
async fn p604_signed_tokens_are_checked_without_the_authorization_server() {
    let system = system().await;
    let first = obtain_tokens(&system.auth.issuer, &system.mcp_url, SCOPE).await;
    let second = obtain_tokens(&system.auth.issuer, &system.mcp_url, SCOPE).await;
    assert_eq!(
        call(&system.server, &first.tokens.access_token).await.0,
        StatusCode::OK
    );
    let System { auth, server, .. } = system;
    let issuer = auth.issuer.clone();
    auth.shutdown()
        .await
        .expect("the authorization server stops");
    assert!(
        http().get(&issuer).send().await.is_err(),
        "nobody listens there now"
    );
    for token in [&first.tokens.access_token, &second.tokens.access_token] {
        assert_eq!(call(&server, token).await.0, StatusCode::OK);
    }
}
// ANCHOR_END: as_stopped

// ANCHOR: forgeries
/// Every forgery is refused with 401 and `error="invalid_token"`, though
/// most carry the authorization server's real signature.
#[tokio::test]
async fn p604_forged_and_misused_tokens_are_refused() {
    let system = system().await;
    let real = obtain_tokens(&system.auth.issuer, &system.mcp_url, SCOPE).await;
    let (kid, key) = real_key(&system.database).await;
    assert_eq!(
        call(&system.server, &sign(&header(&kid), &claims(&system), &key))
            .await
            .0,
        StatusCode::OK
    );

    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims(&system);
        change(&mut claims);
        sign(&header(&kid), &claims, &key)
    };
    let mut tampered = real.tokens.access_token.clone();
    let middle = tampered.len() - 20;
    let flipped = if &tampered[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(middle..=middle, flipped);
    let other_key = {
        let der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(
            &p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("a key"),
        )
        .expect("DER");
        EncodingKey::from_ec_der(der.as_bytes())
    };
    let jwks: Value = (http()
        .get(format!("{}/jwks.json", system.auth.issuer))
        .send()
        .await)
        .expect("jwks")
        .json()
        .await
        .expect("JSON");
    let public_jwk = jwks["keys"][0].to_string();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.typ = Some("at+jwt".into());
    hs256.kid = Some(kid.clone());
    let mut untyped = header(&kid);
    untyped.typ = None;
    let mut plain_jwt = header(&kid);
    plain_jwt.typ = Some("JWT".into());

    let forgeries: Vec<(&str, String)> = vec![
        ("tampered signature", tampered),
        (
            "unknown kid",
            sign(&header("no-such-key"), &claims(&system), &other_key),
        ),
        (
            "a known kid, another key",
            sign(&header(&kid), &claims(&system), &other_key),
        ),
        ("expired", with(&|c| c["exp"] = json!(now() - 120))),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 120))),
        (
            "wrong aud",
            with(&|c| c["aud"] = json!("http://localhost:8001/mcp")),
        ),
        (
            "wrong iss",
            with(&|c| c["iss"] = json!(format!("{}/", system.auth.issuer))),
        ),
        (
            "no sub",
            with(&|c| drop(c.as_object_mut().map(|o| o.remove("sub")))),
        ),
        (
            "alg none",
            unsigned(
                &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                &claims(&system),
            ),
        ),
        (
            "HS256 with the public key as the secret",
            sign(
                &hs256,
                &claims(&system),
                &EncodingKey::from_secret(public_jwk.as_bytes()).expect("an HMAC key"),
            ),
        ),
        ("missing typ", sign(&untyped, &claims(&system), &key)),
        ("typ JWT", sign(&plain_jwt, &claims(&system), &key)),
    ];
    for (what, token) in forgeries {
        let (status, challenge) = call(&system.server, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{what}: {challenge}"
        );
    }
}
// ANCHOR_END: forgeries

/// The trade-off, shown: a revoked token is still accepted where it is
/// checked locally, until it expires, and refused at once by a tool listed
/// in `RS_INTROSPECT_TOOLS` (rule RS-05 for that tool).
#[tokio::test]
async fn p604_a_revoked_token_lives_until_it_expires_unless_its_tool_is_introspected() {
    let system = system().await;
    let obtained = obtain_tokens(&system.auth.issuer, &system.mcp_url, SCOPE).await;
    let token = obtained.tokens.access_token;
    let revoked = http()
        .post(format!("{}/revoke", system.auth.issuer))
        .form(&[
            ("token", token.as_str()),
            ("client_id", &obtained.client.client_id),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        call(&system.server, &token).await.0,
        StatusCode::OK,
        "checked locally"
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mut config = Config::for_tests(&system.auth.issuer);
    config.public_url = system.mcp_url.clone();
    config.introspect_tools = vec!["server_time".into()];
    // Same canonical URL, so the token's audience is this server's too.
    let introspecting = TestServer::start_on(listener, config).await;
    let (status, challenge) = call(&introspecting, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "introspected");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}
