//! The mock authorization server: RFC 8414 metadata, DCR, a login form with
//! a CSRF token bound to a cookie, and a token endpoint that checks PKCE and
//! `resource` and rotates refresh tokens.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::collections::HashMap;

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use this_part::client::pkce::s256_challenge;

use crate::client_support::{Issued, Shared};

pub fn as_router(state: Shared) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/authorize/decision", post(decide))
        .route("/token", post(token))
        .with_state(state)
}

async fn as_metadata(State(state): State<Shared>) -> Json<Value> {
    let state = state.lock().expect("state");
    let issuer = &state.issuer;
    let mut metadata = json!({
        "issuer": state.behaviour.metadata_issuer.clone().unwrap_or_else(|| issuer.clone()),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": state.behaviour.challenge_methods,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
    });
    if let Some(scopes) = &state.behaviour.as_scopes_supported {
        metadata["scopes_supported"] = json!(scopes);
    }
    for (name, value) in &state.behaviour.metadata_fields {
        metadata[name.as_str()] = json!(value);
    }
    Json(metadata)
}

async fn register(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut state = state.lock().expect("state");
    state.registrations.push(body.clone());
    let client_id = state.next("dyn-client");
    let answer = json!({ "client_id": client_id, "redirect_uris": body["redirect_uris"] });
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// Shows a login form with a CSRF token bound to a cookie, like a real AS.
async fn authorize(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().expect("state");
    state.authorize_queries.push(query.clone());
    let id = state.next("pending");
    state.pending.insert(id.clone(), query);
    let page = format!(
        r#"<!doctype html><form method="post" action="/authorize/decision">
        <input type="hidden" name="csrf_token" value="csrf-{id}"><input type="hidden" name="pending" value="{id}">
        <input name="username"><input type="password" name="password">
        <button type="submit" name="decision" value="approve">Approve</button>
        <button type="submit" name="decision" value="deny">Deny</button></form>"#
    );
    (
        [(
            header::SET_COOKIE,
            format!("session=s-{id}; HttpOnly; SameSite=Lax"),
        )],
        Html(page),
    )
        .into_response()
}

async fn decide(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().expect("state");
    let id = form.get("pending").cloned().unwrap_or_default();
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let csrf_ok = form.get("csrf_token") == Some(&format!("csrf-{id}"))
        && cookie.contains(&format!("session=s-{id}"));
    let Some(query) = state.pending.remove(&id).filter(|_| csrf_ok) else {
        return (StatusCode::BAD_REQUEST, "bad csrf").into_response();
    };
    let behaviour = state.behaviour.clone();
    let mut params = vec![
        (
            "state",
            behaviour
                .state_override
                .clone()
                .unwrap_or_else(|| query["state"].clone()),
        ),
        (
            "iss",
            behaviour
                .iss_override
                .clone()
                .unwrap_or_else(|| state.issuer.clone()),
        ),
    ];
    if form.get("decision").map(String::as_str) != Some("approve") {
        params.push(("error", "access_denied".into()));
        if let Some(description) = behaviour.error_description.clone() {
            params.push(("error_description", description));
        }
    } else if form.get("username").map(String::as_str) != Some("demo_user")
        || form.get("password").map(String::as_str) != Some("demo_password")
    {
        return (StatusCode::OK, Html("<p>Wrong password</p>")).into_response();
    } else {
        let code = state.next("code");
        state.codes.insert(code.clone(), query.clone());
        params.push(("code", code));
    }
    let query_string = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Redirect::to(&format!("{}?{query_string}", query["redirect_uri"])).into_response()
}

async fn token(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut state = state.lock().expect("state");
    state.token_requests.push(form.clone());
    let invalid_grant = || {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response()
    };
    let issued = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(request) = form.get("code").and_then(|code| state.codes.remove(code)) else {
                return invalid_grant();
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if s256_challenge(&verifier) != request["code_challenge"]
                || form.get("resource") != request.get("resource")
                || form.get("redirect_uri") != request.get("redirect_uri")
            {
                return invalid_grant();
            }
            let asked: Vec<String> = request
                .get("scope")
                .map(|s| s.split(' ').map(String::from).collect())
                .unwrap_or_default();
            let scopes = match &state.behaviour.grantable {
                Some(grantable) => asked
                    .into_iter()
                    .filter(|s| grantable.contains(s))
                    .collect(),
                None => asked,
            };
            Issued {
                scopes,
                resource: request["resource"].clone(),
                client_id: request["client_id"].clone(),
            }
        }
        Some("refresh_token") => {
            let Some(issued) = form
                .get("refresh_token")
                .and_then(|rt| state.refresh_tokens.remove(rt))
            else {
                return invalid_grant();
            };
            if form.get("client_id") != Some(&issued.client_id) {
                return invalid_grant();
            }
            if form.get("resource") != Some(&issued.resource) {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "invalid_target" })),
                )
                    .into_response();
            }
            issued
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "unsupported_grant_type" })),
            )
                .into_response();
        }
    };
    let scope = issued.scopes.join(" ");
    let (access, refresh) = state.issue(issued);
    let body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh, "scope": scope });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
