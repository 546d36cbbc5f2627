//! The pages a person sees: the login page and the error page (rule
//! AS-10), and the two handlers that serve them, `GET /authorize` and
//! `POST /login`.
//!
//! Everything printed goes through maud, which escapes it: the client's
//! name is whatever the client registered, so it is attacker-controlled.

use std::{
    net::SocketAddr,
    sync::{Arc, LazyLock},
};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest as _, Sha256};

use crate::{
    authorization_server::{
        error::PageError,
        form::Form,
        logic::{
            authorization::LoginPrompt,
            login::{LoginAttempt, LoginOutcome},
            provider::Provider,
        },
    },
    limits::Source,
};

/// The page's only style sheet, inline so that no asset is fetched from
/// anywhere, and allowed by its hash in the Content-Security-Policy.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.8rem 0}input{width:100%;padding:.4rem}button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.problem{color:#a00}";

// ANCHOR: security_headers
/// Nothing may frame the page (clickjacking), load anything but its own
/// style, or leak its URL in a `Referer` (RFC 9700 §4.16, rule AS-10).
/// `form-action` is left out on purpose: browsers apply it to the redirect
/// after the form too, and that redirect goes to the client.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let style_hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; frame-ancestors 'none'; base-uri 'none'"
    )
});

/// Adds the headers every page and every redirect of the browser flow gets.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
// ANCHOR_END: security_headers

// ANCHOR: authorize_handler
/// `GET /authorize` (RFC 6749 §4.1.1): the login page, or an error page.
pub async fn authorize(
    State(provider): State<Arc<Provider>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let Ok(form) = Form::parse(query.as_bytes()) else {
        return error_page(PageError::MalformedRequest);
    };
    let cookie = session_cookie(&headers, &provider);
    let source = Source::of(peer.ip());
    match (provider.begin_authorization(&form, cookie.as_deref(), source)).await {
        Ok(prompt) => {
            let mut response = login_page(&prompt, StatusCode::OK);
            if cookie.as_deref() != Some(prompt.session.as_str()) {
                set_session_cookie(&mut response, &provider, &prompt.session);
            }
            response
        }
        Err(error) => error_page(error),
    }
}
// ANCHOR_END: authorize_handler

// ANCHOR: login_handler
/// `POST /login`: the login form. Success and Deny answer 303 to the
/// client's redirect URI and rotate the session cookie.
pub async fn login(
    State(provider): State<Arc<Provider>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if is_cross_site(&headers, provider.issuer()) {
        return error_page(PageError::CrossSite);
    }
    let Ok(form) = Form::parse(&body) else {
        return error_page(PageError::MalformedRequest);
    };
    if form.repeated().is_some() {
        return error_page(PageError::MalformedRequest);
    }
    let field = |name| form.get(name).unwrap_or_default().to_owned();
    let attempt = LoginAttempt {
        pending_id: field("pending"),
        csrf: field("csrf"),
        session: session_cookie(&headers, &provider),
        username: field("username"),
        password: field("password"),
        approve: form.get("action") == Some("approve"),
        address: peer.ip(),
    };
    match provider.login(attempt).await {
        Ok(LoginOutcome::Redirect { location, session }) => {
            let Ok(location) = HeaderValue::from_str(&location) else {
                return error_page(PageError::UnregisteredRedirectUri);
            };
            let mut response = secure(StatusCode::SEE_OTHER.into_response());
            response.headers_mut().insert(header::LOCATION, location);
            set_session_cookie(&mut response, &provider, &session);
            response
        }
        Ok(LoginOutcome::Retry(prompt)) => login_page(&prompt, StatusCode::OK),
        Ok(LoginOutcome::Throttled(prompt)) => login_page(&prompt, StatusCode::TOO_MANY_REQUESTS),
        Err(error) => error_page(error),
    }
}
// ANCHOR_END: login_handler

// ANCHOR: cross_site
/// True when the login form was posted from another site (rule AS-20):
/// the browser says so itself in `Sec-Fetch-Site` (Fetch Metadata), and an
/// `Origin`, when sent, must be this server's own. The CSRF token already
/// stops a forged form; this refuses it before the password is read, and
/// keeps working if a token ever leaks.
///
/// `Origin: null` is not a foreign origin: the login page is served with
/// `Referrer-Policy: no-referrer`, and under that policy a browser posts
/// even its own form with `Origin: null` (Fetch, "serializing a request
/// origin"). `Sec-Fetch-Site` still tells a cross-site post apart.
fn is_cross_site(headers: &HeaderMap, issuer: &str) -> bool {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if header("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match header("origin") {
        None | Some("null") => false,
        Some(origin) => {
            let own = url::Url::parse(issuer).map(|url| url.origin().ascii_serialization());
            own.map_or(true, |own| own != origin)
        }
    }
}
// ANCHOR_END: cross_site

// ANCHOR: login_page
/// The login page: who is asking, where the browser will go, the form with
/// its hidden sign-in id and CSRF token, and the Approve and Deny buttons.
fn login_page(prompt: &LoginPrompt, status: StatusCode) -> Response {
    let markup = page(
        "Sign in",
        html! {
            h1 { "Sign in to continue to " (prompt.client_name) }
            p { "After you decide, your browser goes to " strong { (prompt.redirect_host) } "." }
            @if prompt.loopback_redirect {
                // MCP 2025-11-25, security considerations: a loopback
                // redirect means an application on this computer, which
                // any program here could be pretending to be.
                p.problem role="note" {
                    "That address is on this computer: only approve if you just started "
                    (prompt.client_name) " yourself."
                }
            }
            @if !prompt.scope.is_empty() {
                // P6-05: each scope in words, so the person knows what
                // Approve lets the client do; maud escapes all of it.
                p { "It asks to:" }
                ul.scopes {
                    @for scope in &prompt.scope {
                        li {
                            @if let Some(words) = &scope.description {
                                (words) " "
                            }
                            code { (scope.name) }
                        }
                    }
                }
            }
            @if let Some(problem) = prompt.problem {
                p.problem role="alert" { (problem) }
            }
            form method="post" action="/login" {
                input type="hidden" name="pending" value=(prompt.pending_id);
                input type="hidden" name="csrf" value=(prompt.csrf);
                label { "User name " input name="username" autocomplete="username" required; }
                label { "Password " input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" name="action" value="approve" { "Approve" }
                button type="submit" name="action" value="deny" formnovalidate { "Deny" }
            }
        },
    );
    secure((status, Html(markup.into_string())).into_response())
}
// ANCHOR_END: login_page

// ANCHOR: error_page
/// A page that explains what went wrong and sends the browser nowhere.
fn error_page(error: PageError) -> Response {
    let markup = page(
        "Cannot continue",
        html! {
            h1 { "This request cannot continue" }
            p.problem { (error.to_string()) }
        },
    );
    let mut response = (error.status(), Html(markup.into_string())).into_response();
    if error == PageError::Busy {
        // The database is unreachable, or the random number generator
        // failed: come back in a few seconds (RFC 9110 §10.2.3).
        (response.headers_mut()).insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    secure(response)
}
// ANCHOR_END: error_page

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

// ANCHOR: session_cookie
/// The name of the browser-session cookie. Over https it carries the
/// `__Host-` prefix, which makes the browser refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no sibling host can plant one.
fn cookie_name(provider: &Provider) -> &'static str {
    if provider.issuer().starts_with("https://") {
        "__Host-as_session"
    } else {
        "as_session"
    }
}

/// The browser-session cookie the request carries, if any.
fn session_cookie(headers: &HeaderMap, provider: &Provider) -> Option<String> {
    let name = cookie_name(provider);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Sets the session cookie: `HttpOnly` (no script reads it), `SameSite=Lax`
/// (no other site's form sends it), `Secure` when served over https.
fn set_session_cookie(response: &mut Response, provider: &Provider, value: &str) {
    let secure = if cookie_name(provider).starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(provider)
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}
// ANCHOR_END: session_cookie
