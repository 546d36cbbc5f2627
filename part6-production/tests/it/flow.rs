//! The whole authorization-code flow, end to end over real HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Pkce, REDIRECT_URI, RESOURCE, SCOPE, TestAs, authorize_code, exchange_code, http, introspect,
    register_client, token_request,
};

/// Replaces everything random or time-dependent in a snapshot.
fn redactions() -> Vec<(&'static str, &'static str)> {
    vec![(r"http://127\.0\.0\.1:\d+", "[issuer]")]
}

/// Register → authorize → login → code → token → introspect → refresh → revoke, each step as the RFCs say.
#[tokio::test]
async fn happy_path() {
    let server = TestAs::start().await;
    let issuer = server.issuer.as_str();

    // Registration (RFC 7591): a public client.
    let registration: Value = http()
        .post(server.url("/register"))
        .json(&json!({
            "client_name": "Happy client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    insta::assert_json_snapshot!("registration_response", registration, {
        ".client_id" => "[client_id]",
        ".client_id_issued_at" => "[timestamp]",
    });
    let client: crate::support::RegisteredClient =
        serde_json::from_value(registration).expect("client");

    // Authorization and login, then the code.
    let pkce = Pkce::new();
    let code = authorize_code(issuer, &client, &pkce).await;

    // Token.
    let response = exchange_code(issuer, &client, &code, &pkce).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.expect("JSON");
    insta::assert_json_snapshot!("token_response", tokens, {
        ".access_token" => "[access_token]",
        ".refresh_token" => "[refresh_token]",
    });
    let access_token = tokens["access_token"].as_str().expect("access token");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");

    // Introspection, as the resource server.
    let introspection = introspect(issuer, access_token).await;
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_json_snapshot!("introspection_active", introspection, {
            ".client_id" => "[client_id]",
            ".exp" => "[timestamp]",
            ".iat" => "[timestamp]",
        });
    });
    assert_eq!(introspection["aud"], RESOURCE);
    assert_eq!(introspection["scope"], SCOPE);
    let lifetime = introspection["exp"].as_i64().unwrap() - introspection["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 3600, "AS_TOKEN_LIFETIME");

    // Refresh: new tokens, the old access token still works until it expires.
    let response = token_request(
        issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &client.client_id),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.expect("JSON");
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "rotated"
    );
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    let new_access = refreshed["access_token"].as_str().expect("token");
    assert_eq!(introspect(issuer, new_access).await["active"], true);

    // Revocation (RFC 7009) of the new access token.
    let response = http()
        .post(server.url("/revoke"))
        .form(&[("token", new_access), ("client_id", &client.client_id)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        introspect(issuer, new_access).await,
        json!({ "active": false })
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-06, AS-07: a confidential client registers, gets a secret, and authenticates with Basic or in the body.
#[tokio::test]
async fn as07_confidential_clients_authenticate() {
    let server = TestAs::start().await;
    let issuer = server.issuer.as_str();
    for method in ["client_secret_basic", "client_secret_post"] {
        let client = register_client(
            issuer,
            json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": method }),
        )
        .await;
        assert_eq!(client.token_endpoint_auth_method, method);
        let secret = client.client_secret.clone().expect("a secret");
        let pkce = Pkce::new();
        let code = authorize_code(issuer, &client, &pkce).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
        ];
        let request = http().post(server.url("/token"));
        let request = if method == "client_secret_basic" {
            request
                .basic_auth(&client.client_id, Some(&secret))
                .form(&form)
        } else {
            let mut form = form.to_vec();
            form.extend([
                ("client_id", client.client_id.as_str()),
                ("client_secret", &secret),
            ]);
            request.form(&form)
        };
        let response = request.send().await.expect("token");
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let tokens: Value = response.json().await.expect("JSON");
        assert!(
            tokens.get("refresh_token").is_none(),
            "not registered for refresh_token"
        );
        assert_eq!(tokens["token_type"], "Bearer");
    }
    server.shutdown().await.expect("clean shutdown");
}
