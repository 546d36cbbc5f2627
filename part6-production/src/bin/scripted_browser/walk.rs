//! The walk from the authorization URL to the client's loopback callback:
//! load a page, let the [`Person`] fill its form, submit, follow redirects
//! while they stay on the authorization server, and stop at the first
//! redirect that leaves it. [`deliver`] then loads that callback, which must
//! be on a loopback address.
//!
//! It keeps cookies (the login page's CSRF token is bound to one) and
//! nothing else a browser does: no scripts, no other origins.

use std::collections::BTreeMap;

use reqwest::{StatusCode, header};
use url::Url;

use super::{
    html_form::{decode_entities, parse_forms},
    login_form::{NoForm, Person, cookie_header, remember_cookies},
};

/// What went wrong on the way to the callback.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The URL to open is not a URL.
    #[error("`{0}` is not a URL")]
    BadUrl(String),
    /// A request failed.
    #[error("request to {url} failed: {message}")]
    Http { url: String, message: String },
    /// The AS answered something a person would have to read.
    #[error("{url} answered {status}: {text}")]
    Page {
        url: String,
        status: u16,
        text: String,
    },
    /// The page has no form with the button we want.
    #[error(transparent)]
    NoForm(#[from] NoForm),
    /// The form's `action` does not resolve against the page URL.
    #[error("the form on {0} has an unusable action")]
    BadAction(String),
    /// The login page came back after submitting credentials.
    #[error("the login was refused (wrong username or password?)")]
    LoginRefused,
    /// The AS redirected somewhere that is not a loopback address.
    #[error("refusing to follow a redirect to {0}: not a loopback callback")]
    NotLoopback(String),
    /// Too many pages.
    #[error("gave up after {0} pages")]
    TooManySteps(usize),
}

/// Where the browser ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The loopback callback URL it loaded.
    pub callback_url: String,
    /// What the client's listener answered.
    pub status: u16,
}

const MAX_STEPS: usize = 10;

// ANCHOR: visit
/// Loads `authorization_url` as `person` and clicks through until the
/// authorization server redirects elsewhere; returns that redirect, not yet
/// loaded.
pub async fn visit(
    http: &reqwest::Client,
    person: &Person,
    authorization_url: &str,
) -> Result<Url, WalkError> {
    let http_error = |url: &Url, error: reqwest::Error| WalkError::Http {
        url: url.to_string(),
        message: error.to_string(),
    };
    let mut url = Url::parse(authorization_url)
        .map_err(|error| WalkError::BadUrl(format!("{authorization_url} ({error})")))?;
    let origin = url.origin();
    let mut cookies = BTreeMap::new();
    let mut form_body: Option<Vec<(String, String)>> = None;
    let mut logged_in = false;
    for _ in 0..MAX_STEPS {
        let mut request = match form_body.take() {
            Some(body) => http.post(url.clone()).form(&body),
            None => http.get(url.clone()),
        };
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookie_header(&cookies));
        }
        let response = request
            .send()
            .await
            .map_err(|error| http_error(&url, error))?;
        remember_cookies(&mut cookies, &response);
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|location| url.join(location).ok());
            let Some(next) = location else {
                return Err(page_error(
                    &url,
                    status,
                    "a redirect without Location".into(),
                ));
            };
            if next.origin() == origin {
                url = next; // Still on the authorization server.
                continue;
            }
            return Ok(next);
        }
        let body = response
            .text()
            .await
            .map_err(|error| http_error(&url, error))?;
        if status != StatusCode::OK {
            return Err(page_error(&url, status, summary(&body)));
        }
        let forms = parse_forms(&body);
        let has_login = forms
            .iter()
            .any(|form| form.inputs.iter().any(|i| i.kind == "password"));
        if has_login && logged_in {
            return Err(WalkError::LoginRefused);
        }
        let (form, fields) = person.fill(&forms, &url)?;
        logged_in |= has_login;
        url = match form.action.as_deref() {
            Some(action) if !action.is_empty() => url
                .join(action)
                .map_err(|_| WalkError::BadAction(url.to_string()))?,
            _ => url.clone(),
        };
        if form.method == "POST" {
            form_body = Some(fields);
        } else {
            url.query_pairs_mut().extend_pairs(&fields);
        }
    }
    Err(WalkError::TooManySteps(MAX_STEPS))
}
// ANCHOR_END: visit

/// Loads the callback, which must be on a loopback address (RFC 8252 §7.3):
/// anything else would hand the code to a stranger.
pub async fn deliver(http: &reqwest::Client, url: Url) -> Result<Delivered, WalkError> {
    if !is_loopback_http(&url) {
        return Err(WalkError::NotLoopback(url.to_string()));
    }
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|error| WalkError::Http {
            url: url.to_string(),
            message: error.to_string(),
        })?;
    Ok(Delivered {
        callback_url: url.to_string(),
        status: response.status().as_u16(),
    })
}

/// `http(s)://127.0.0.1`, `[::1]` or `localhost`, any port.
pub fn is_loopback_http(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    loopback && matches!(url.scheme(), "http" | "https")
}

fn page_error(url: &Url, status: StatusCode, text: String) -> WalkError {
    WalkError::Page {
        url: url.to_string(),
        status: status.as_u16(),
        text,
    }
}

/// The first 200 characters of a page's text, for error messages.
fn summary(html: &str) -> String {
    let text = decode_entities(
        &html
            .split('<')
            .filter_map(|part| part.split_once('>').map(|(_, text)| text))
            .collect::<Vec<_>>()
            .join(" "),
    );
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_callbacks_are_followed() {
        let check = |url: &str| {
            Url::parse(url)
                .map(|url| is_loopback_http(&url))
                .unwrap_or(false)
        };
        assert!(check("http://127.0.0.1:5555/callback?code=x"));
        assert!(check("http://[::1]:5555/callback"));
        assert!(check("http://localhost:5555/callback"));
        assert!(!check("https://evil.example/callback"));
        assert!(!check("http://127.0.0.1.evil.example/callback"));
        assert!(!check("javascript:alert(1)"));
    }
}
