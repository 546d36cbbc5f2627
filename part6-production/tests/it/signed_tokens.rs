//! Access tokens are signed JWTs (RFC 9068) that anyone can check with the
//! keys at `jwks_uri`, and every instance on one database signs with and
//! publishes the same keys (rule P6-03).

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{JwkSet, KeyAlgorithm},
};
use serde_json::Value;

use crate::support::{RESOURCE, TestAs, http, introspect, obtain_tokens};

/// The keys at the `jwks_uri` the metadata of `issuer` names.
async fn jwks(issuer: &str) -> JwkSet {
    let metadata: Value = (http().get(format!("{issuer}/.well-known/oauth-authorization-server")))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("metadata JSON");
    let uri = metadata["jwks_uri"].as_str().expect("a jwks_uri");
    assert_eq!(uri, format!("{issuer}/jwks.json"));
    let response = http().get(uri).send().await.expect("jwks");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.json().await.expect("a JWK set")
}

/// Checks `token` the way a resource server would: the key by `kid` from
/// the JWKS, ES256 pinned, `typ`, `iss`, `aud`, `exp`; returns the claims.
fn verify(token: &str, keys: &JwkSet, issuer: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1");
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("a kid");
    let jwk = keys.find(&kid).expect("the kid is published");
    assert_eq!(jwk.common.key_algorithm, Some(KeyAlgorithm::ES256));
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[RESOURCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the signature and claims check")
        .claims
}

// ANCHOR: jwt_claims
/// The claims RFC 9068 §2.2 lists, with the values of the grant; the token
/// still introspects as active (the AS keeps its digest).
#[tokio::test]
async fn p603_access_tokens_are_signed_rfc9068_jwts() {
    let server = TestAs::start().await;
    let issuer = server.issuer.clone();
    let obtained = obtain_tokens(&issuer, RESOURCE, "mcp:tools").await;
    let claims = verify(&obtained.tokens.access_token, &jwks(&issuer).await, &issuer);
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["sub"], "demo_user");
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], obtained.client.client_id.as_str());
    assert_eq!(claims["scope"], "mcp:tools");
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(exp, iat)| exp - iat), Some(3600));
    assert_eq!(claims["jti"].as_str().map(str::len), Some(43));
    assert_eq!(
        introspect(&issuer, &obtained.tokens.access_token).await["active"],
        true
    );

    // A token is not accepted by a key set it was not signed with.
    let other = TestAs::start().await;
    let foreign = jwks(&other.issuer).await;
    let kid = jsonwebtoken::decode_header(&obtained.tokens.access_token)
        .expect("header")
        .kid
        .expect("kid");
    assert!(
        foreign.find(&kid).is_none(),
        "each database has its own key"
    );
}
// ANCHOR_END: jwt_claims

/// Two instances on one database sign with the same key and publish the
/// same set; a restart keeps it.
#[tokio::test]
async fn p603_instances_share_the_signing_keys_through_the_database() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}", dir.path().join("as.db").display());
    let a = TestAs::start_with(|config| config.database_url = database.clone()).await;
    let b = TestAs::start_with(|config| config.database_url = database.clone()).await;
    let from_a = obtain_tokens(&a.issuer, RESOURCE, "mcp:tools").await;
    let from_b = obtain_tokens(&b.issuer, RESOURCE, "mcp:tools").await;
    let kid = |token: &str| jsonwebtoken::decode_header(token).expect("header").kid;
    assert_eq!(
        kid(&from_a.tokens.access_token),
        kid(&from_b.tokens.access_token)
    );
    let a_issuer = a.issuer.clone();
    verify(
        &from_a.tokens.access_token,
        &jwks(&b.issuer).await,
        &a_issuer,
    );

    a.shutdown().await.expect("stopped");
    b.shutdown().await.expect("stopped");
    let again = TestAs::start_with(|config| config.database_url = database.clone()).await;
    let after = obtain_tokens(&again.issuer, RESOURCE, "mcp:tools").await;
    assert_eq!(
        kid(&after.tokens.access_token),
        kid(&from_a.tokens.access_token)
    );
    verify(
        &from_a.tokens.access_token,
        &jwks(&again.issuer).await,
        &a_issuer,
    );
}

// ANCHOR: rotate_now
/// `part6-as --rotate-signing-key` makes the next key: every instance
/// publishes it at once, and keeps signing with the current key until it
/// is due, so no resource server meets a token whose key it has not seen
/// (rule P6-09).
#[tokio::test]
async fn p609_rotating_now_publishes_the_next_key_before_it_signs() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}", dir.path().join("as.db").display());
    let before = TestAs::start_with(|config| config.database_url = database.clone()).await;
    let first = obtain_tokens(&before.issuer, RESOURCE, "mcp:tools").await;
    let kid = |token: &str| {
        jsonwebtoken::decode_header(token)
            .expect("header")
            .kid
            .expect("kid")
    };
    let current = kid(&first.tokens.access_token);

    let output = std::process::Command::new(crate::AS)
        .arg("--rotate-signing-key")
        .env("AS_DATABASE_URL", &database)
        .env("AS_LOG_LEVEL", "warn")
        .output()
        .expect("part6-as runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(stdout.starts_with("made signing key "), "{stdout}");

    let after = TestAs::start_with(|config| config.database_url = database.clone()).await;
    let published: Vec<String> = (jwks(&after.issuer).await.keys.iter())
        .filter_map(|key| key.common.key_id.clone())
        .collect();
    assert_eq!(published.len(), 2, "the current key and the next one");
    assert!(published.contains(&current));
    let next = obtain_tokens(&after.issuer, RESOURCE, "mcp:tools").await;
    assert_eq!(
        kid(&next.tokens.access_token),
        current,
        "the next key does not sign yet"
    );
    verify(
        &first.tokens.access_token,
        &jwks(&after.issuer).await,
        &before.issuer,
    );
}
// ANCHOR_END: rotate_now
