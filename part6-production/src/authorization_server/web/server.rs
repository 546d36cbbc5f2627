//! The web layer of the authorization server: routes, extraction and
//! responses.
//!
//! Handlers here translate between HTTP and the [`Provider`]. They never
//! decide whether something is allowed; they ask the provider and render
//! its answer. The browser-facing pages are in [`super::login_page`].

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use tower_http::cors::{Any, CorsLayer};

use super::{limits::RateLimits, login_page};
use crate::authorization_server::{
    error::OAuthError,
    form::{Form, decode},
    logic::{
        clients::{ClientCredentials, RegistrationRequest},
        provider::Provider,
    },
};
use crate::limits::{RateLimit, Source};

/// Where RFC 8414 §3 puts the metadata of an issuer without a path.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The largest request body read. OAuth requests are a few hundred bytes;
/// anything over this gets 413 before it is read (rule AS-13).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

// ANCHOR: routes
/// The route table. Each route names the methods it serves, so any other
/// method gets 405 with an `Allow` header from axum (rule AS-13).
/// The endpoints that return tokens or secrets never let them be cached;
/// the browser-facing ones get no CORS headers at all (rule AS-10).
/// The routes a script can flood are rate-limited per source first, so a
/// flood is refused before any other work (rule AS-17).
pub fn routes(provider: Arc<Provider>, limits: &RateLimits) -> Router {
    let no_store = || middleware::map_response(no_store);
    Router::new()
        .route(METADATA_PATH, get(metadata).layer(public_cors()))
        .route("/jwks.json", get(jwks).layer(public_cors()))
        .route(
            "/register",
            limited(post(register), &limits.register)
                .layer::<_, Infallible>(no_store())
                .layer(public_cors()),
        )
        .route(
            "/authorize",
            limited(get(login_page::authorize), &limits.authorize),
        )
        .route("/login", limited(post(login_page::login), &limits.login))
        .route(
            "/token",
            limited(post(token), &limits.token)
                .layer::<_, Infallible>(no_store())
                .layer(public_cors()),
        )
        .route(
            "/introspect",
            limited(post(introspect), &limits.introspect).layer::<_, Infallible>(no_store()),
        )
        .route(
            "/revoke",
            limited(post(revoke), &limits.revoke)
                .layer::<_, Infallible>(no_store())
                .layer(public_cors()),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(provider)
}

/// `route` behind the per-source rate limit `limit`, when there is one.
fn limited(
    route: MethodRouter<Arc<Provider>>,
    limit: &Option<RateLimit>,
) -> MethodRouter<Arc<Provider>> {
    match limit {
        Some(limit) => route.layer(middleware::from_fn_with_state(
            limit.clone(),
            RateLimit::layer,
        )),
        None => route,
    }
}
// ANCHOR_END: routes

// ANCHOR: metadata_handler
/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3): the
/// metadata as JSON, readable without authentication.
async fn metadata(State(provider): State<Arc<Provider>>) -> impl IntoResponse {
    Json(provider.metadata())
}
// ANCHOR_END: metadata_handler

/// `GET /jwks.json` (`jwks_uri`, RFC 7517 §5): the public keys that check
/// access tokens. Cacheable for a few minutes: a new key is published
/// before it signs (see [`crate::authorization_server::logic::signing`]).
async fn jwks(State(provider): State<Arc<Provider>>) -> Response {
    match provider.jwks().await {
        Ok(keys) => {
            let mut response = Json(keys).into_response();
            (response.headers_mut()).insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /register` (RFC 7591 §3): JSON in, 201 and the client's
/// credentials out, or 400 `invalid_client_metadata`.
async fn register(
    State(provider): State<Arc<Provider>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let request = match serde_json::from_slice::<RegistrationRequest>(&body) {
        Ok(request) => request,
        Err(_) => {
            return OAuthError::InvalidClientMetadata("the body is not client metadata JSON")
                .into_response();
        }
    };
    match provider.register(request, Source::of(peer.ip())).await {
        Ok(registered) => (StatusCode::CREATED, Json(registered)).into_response(),
        Err(error) => error.into_response(),
    }
}

// ANCHOR: token_handler
/// `POST /token` (RFC 6749 §3.2): a form in, tokens or an error out.
async fn token(State(provider): State<Arc<Provider>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = read_form(&headers, &body)
        .and_then(|form| Ok((client_credentials(&headers, &form)?, form)));
    let result = match request {
        Ok((credentials, form)) => provider.token(&credentials, &form).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(tokens) => Json(tokens).into_response(),
        Err(error) => error.into_response(),
    }
}
// ANCHOR_END: token_handler

/// `POST /introspect` (RFC 7662 §2), for the resource server.
async fn introspect(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = read_form(&headers, &body)
        .and_then(|form| Ok((client_credentials(&headers, &form)?, form)));
    let result = match request {
        Ok((credentials, form)) => provider.introspect(&credentials, &form).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /revoke` (RFC 7009 §2): 200 with an empty body when done.
async fn revoke(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = read_form(&headers, &body)
        .and_then(|form| Ok((client_credentials(&headers, &form)?, form)));
    let result = match request {
        Ok((credentials, form)) => provider.revoke(&credentials, &form).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => error.into_response(),
    }
}

/// Reads a form body; the OAuth endpoints take nothing else (RFC 6749 §3.2).
pub fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !content_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(Form::parse(body)?)
}

// ANCHOR: client_credentials
/// Finds the client credentials of a request (RFC 6749 §2.3.1): Basic in
/// the `Authorization` header, a secret in the body, or only a `client_id`.
/// Two methods at once are refused (RFC 6749 §2.3, rule AS-07), and so is
/// a body `client_id` that differs from the Basic one.
fn client_credentials(headers: &HeaderMap, form: &Form) -> Result<ClientCredentials, OAuthError> {
    let body_id = form.get("client_id").map(str::to_owned);
    let body_secret = form.get("client_secret").map(str::to_owned);
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Ok(match (body_id, body_secret) {
            (Some(id), Some(secret)) => ClientCredentials::Post { id, secret },
            (Some(id), None) => ClientCredentials::Public { id },
            (None, _) => ClientCredentials::Missing,
        });
    };
    if body_secret.is_some() {
        return Err(OAuthError::InvalidRequest(
            "use one client authentication method, not two",
        ));
    }
    let (id, secret) = parse_basic(authorization).ok_or(OAuthError::InvalidClient {
        basic_attempted: true,
    })?;
    if body_id.is_some_and(|body_id| body_id != id) {
        return Err(OAuthError::InvalidRequest(
            "client_id in the body differs from the Authorization header",
        ));
    }
    Ok(ClientCredentials::Basic { id, secret })
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let at = decoded.iter().position(|byte| *byte == b':')?;
    let id = decode(&decoded[..at]).ok()?;
    let secret = decode(&decoded[at + 1..]).ok()?;
    Some((id, secret))
}
// ANCHOR_END: client_credentials

/// `Cache-Control: no-store` on every answer of a route that can carry a
/// token or secret, errors and 405s included (RFC 6749 §5.1, rule AS-07).
async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// CORS for the endpoints a browser-based MCP client calls directly.
/// No cookies are involved there, so any origin may read the answers.
fn public_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("mcp-protocol-version"),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("a%3Ab:s+%25")))
            .unwrap_or(HeaderValue::from_static(""));
        assert_eq!(parse_basic(&value), Some(("a:b".into(), "s %".into())));
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer x")), None);
    }
}
