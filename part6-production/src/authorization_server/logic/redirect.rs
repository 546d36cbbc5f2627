//! Redirect URIs: which ones a client may register, which ones match, and
//! how a response is added to one.
//!
//! The redirect URI is where the browser carries the authorization code, so
//! every rule here is about not sending a code (or a user) to the wrong
//! place: RFC 6749 §3.1.2, RFC 8252 §7.3 and §8.3, RFC 9700 §4.1.

use url::Url;

use crate::authorization_server::error::OAuthError;

/// Longer than any real redirect URI; longer ones are refused at registration.
const MAX_LENGTH: usize = 2000;

// ANCHOR: check_redirect_uri
/// Checks a redirect URI a client asks to register (rule AS-06).
///
/// It must be an absolute `https` URI, or `http` on a loopback host for
/// native apps (RFC 8252 §7.3), with no fragment (RFC 6749 §3.1.2) and no
/// user information. Everything else is refused: `javascript:` and `data:`
/// run in the browser, plain `http` elsewhere leaks the code on the network.
/// Only visible ASCII is accepted, because the URI is later sent verbatim
/// in a `Location` header and compared byte for byte.
pub fn check_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    if uri.len() > MAX_LENGTH || !uri.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(OAuthError::InvalidRedirectUri(
            "a redirect URI must be visible ASCII of at most 2000 characters",
        ));
    }
    // RFC 9700 §4.1.1: redirect URIs are compared exactly, so a pattern
    // (`https://*.example.com/cb`, `https://app/{path}`) is never accepted
    // as one (rule AS-18).
    if uri.contains(['*', '{', '}']) {
        return Err(OAuthError::InvalidRedirectUri(
            "a redirect URI must be exact: no wildcards or patterns",
        ));
    }
    let url = Url::parse(uri)
        .map_err(|_| OAuthError::InvalidRedirectUri("a redirect URI must be absolute"))?;
    if uri.contains('#') {
        return Err(OAuthError::InvalidRedirectUri(
            "a redirect URI must not have a fragment",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OAuthError::InvalidRedirectUri(
            "a redirect URI must not carry user information",
        ));
    }
    match (url.scheme(), url.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("127.0.0.1" | "[::1]" | "localhost")) => Ok(()),
        _ => Err(OAuthError::InvalidRedirectUri(
            "a redirect URI must use https, or http on a loopback address",
        )),
    }
}
// ANCHOR_END: check_redirect_uri

// ANCHOR: redirect_uri_matches
/// True when `requested` is one of the `registered` redirect URIs.
///
/// The comparison is exact, byte for byte (RFC 9700 §4.1.3, rule AS-04):
/// `https://app/cb/` is not `https://app/cb`, and no path or query may be
/// added. The one exception is the port of a loopback IP literal, which a
/// native app picks when it starts (RFC 8252 §7.3); the rest must still be
/// identical. `localhost` gets no such exception (RFC 8252 §8.3).
pub fn redirect_uri_matches(registered: &[String], requested: &str) -> bool {
    registered.iter().any(|uri| {
        uri == requested
            || matches!(
                (split_loopback(uri), split_loopback(requested)),
                (Some(a), Some(b)) if a == b
            )
    })
}

/// Splits `http://127.0.0.1:port/rest` into (`http://127.0.0.1`, `/rest`),
/// and the same for `[::1]`; `None` for anything that is not exactly a
/// loopback IP literal followed by an optional port and a path or query.
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    ["http://127.0.0.1", "http://[::1]"]
        .into_iter()
        .find_map(|host| {
            let after = uri.strip_prefix(host)?;
            let rest = match after.strip_prefix(':') {
                Some(port_and_rest) => {
                    let end = port_and_rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(port_and_rest.len());
                    port_and_rest[..end].parse::<u16>().ok()?;
                    &port_and_rest[end..]
                }
                None => after,
            };
            (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
                .then_some((host, rest))
        })
}
// ANCHOR_END: redirect_uri_matches

// ANCHOR: redirect_with
/// The redirect URI with `params` added to its query, form-encoded
/// (RFC 6749 §4.1.2): a query the client registered is kept, so the
/// parameters are joined with `&` when there is one.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let separator = match redirect_uri.find('?') {
        None => "?",
        Some(_) if redirect_uri.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    format!("{redirect_uri}{separator}{}", query.finish())
}
// ANCHOR_END: redirect_with

/// The host (and port) the login page names, so the user sees where the
/// browser will go (rule AS-10).
pub fn display_host(uri: &str) -> String {
    Url::parse(uri)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| uri.to_owned())
}

/// True when `uri` sends the browser to this computer: `127.0.0.1`,
/// `[::1]` or `localhost`.
pub fn is_loopback(uri: &str) -> bool {
    Url::parse(uri)
        .is_ok_and(|url| matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|uri| (*uri).to_owned()).collect()
    }

    #[test]
    fn as04_exact_match_only() {
        let uris = registered(&["https://app.example/cb"]);
        assert!(redirect_uri_matches(&uris, "https://app.example/cb"));
        for trick in [
            "https://app.example/cb/",
            "https://app.example/cbx",
            "https://app.example/cb?x=1",
            "https://app.example/cb#x",
            "http://app.example/cb",
            "https://APP.example/cb",
            "https://app.example.evil/cb",
            "https://app.example:443/cb",
        ] {
            assert!(!redirect_uri_matches(&uris, trick), "{trick}");
        }
    }

    #[test]
    fn as04_loopback_any_port() {
        let uris = registered(&["http://127.0.0.1/cb", "http://[::1]:1234/cb"]);
        assert!(redirect_uri_matches(&uris, "http://127.0.0.1:53127/cb"));
        assert!(redirect_uri_matches(&uris, "http://[::1]/cb"));
        assert!(!redirect_uri_matches(&uris, "http://127.0.0.1:53127/cb/"));
        assert!(!redirect_uri_matches(&uris, "http://127.0.0.1.evil/cb"));
        assert!(!redirect_uri_matches(&uris, "http://127.0.0.1:99999/cb"));
        assert!(!redirect_uri_matches(&uris, "http://[::1]:1/other"));
        let localhost = registered(&["http://localhost:3000/cb"]);
        assert!(!redirect_uri_matches(
            &localhost,
            "http://localhost:3001/cb"
        ));
    }

    #[test]
    fn as06_registration_rules() {
        for good in [
            "https://app.example/cb",
            "http://127.0.0.1:8080/callback",
            "http://[::1]/cb",
            "http://localhost:6274/oauth/callback",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://user:pw@app.example/cb",
            "/relative",
            "https://app.example/a b",
            "com.example.app:/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn as12_parameters_are_encoded_and_the_query_kept() {
        assert_eq!(
            redirect_with("https://a/cb", &[("state", "a&b %<")]),
            "https://a/cb?state=a%26b+%25%3C"
        );
        assert_eq!(
            redirect_with("https://a/cb?x=1", &[("code", "c")]),
            "https://a/cb?x=1&code=c"
        );
    }
}
