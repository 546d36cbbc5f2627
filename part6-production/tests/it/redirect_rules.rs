//! Redirect-URI rules at their edges (rules AS-04, AS-06, AS-12): the
//! length bound, user information, and how a response joins a query.

use this_part::authorization_server::logic::redirect::{
    check_redirect_uri, display_host, is_loopback, redirect_uri_matches, redirect_with,
};

/// `https://app.example/` followed by a path that makes it `length` long.
fn uri_of_length(length: usize) -> String {
    let prefix = "https://app.example/";
    format!("{prefix}{}", "p".repeat(length - prefix.len()))
}

/// AS-06: a redirect URI of exactly 2,000 characters is accepted, one of 2,001 is refused.
#[test]
fn as06_redirect_uri_length_bound_is_2000() {
    assert_eq!(check_redirect_uri(&uri_of_length(1999)), Ok(()));
    assert_eq!(check_redirect_uri(&uri_of_length(2000)), Ok(()));
    assert!(check_redirect_uri(&uri_of_length(2001)).is_err());
    assert!(check_redirect_uri(&uri_of_length(100_000)).is_err());
}

/// AS-06: user information is refused in every form: a name alone, a password alone, or both.
#[test]
fn as06_redirect_uri_with_user_information_is_refused() {
    for bad in [
        "https://user@app.example/cb",
        "https://:secret@app.example/cb",
        "https://user:secret@app.example/cb",
        "http://:pw@127.0.0.1/cb",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad}");
    }
}

/// AS-06: only visible ASCII is accepted: spaces, controls and non-ASCII are refused.
#[test]
fn as06_redirect_uri_must_be_visible_ascii() {
    for bad in [
        "https://app.example/c b",
        "https://app.example/cb\t",
        "https://app.example/cb\n",
        "https://app.example/caf\u{e9}",
        "https://app.example/cb\u{7f}",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        check_redirect_uri("https://app.example/~cb?a=1&b=%20"),
        Ok(())
    );
}

/// AS-06: http only on a loopback host, and no scheme other than http and https.
#[test]
fn as06_redirect_uri_scheme_and_host() {
    for bad in [
        "http://127.0.0.2/cb",
        "http://localhost.evil/cb",
        "ftp://app.example/cb",
        "file:///etc/passwd",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad}");
    }
}

/// AS-12: a registered query ending in `?` or `&` gets the parameters without a doubled separator.
#[test]
fn as12_response_joins_a_query_ending_in_a_separator() {
    assert_eq!(
        redirect_with("https://a/cb?", &[("code", "c")]),
        "https://a/cb?code=c"
    );
    assert_eq!(
        redirect_with("https://a/cb?x=1&", &[("code", "c")]),
        "https://a/cb?x=1&code=c"
    );
    assert_eq!(
        redirect_with("https://a/cb", &[("code", "c"), ("state", "s")]),
        "https://a/cb?code=c&state=s"
    );
}

/// AS-04: the loopback port exception needs a port that is all digits and a path, query or nothing after it.
#[test]
fn as04_loopback_port_exception_is_narrow() {
    let registered = vec!["http://127.0.0.1/cb".to_owned(), "http://[::1]/".to_owned()];
    assert!(redirect_uri_matches(&registered, "http://127.0.0.1:1/cb"));
    assert!(redirect_uri_matches(&registered, "http://[::1]:65535/"));
    for trick in [
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:80x/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1@evil/cb",
        "http://127.0.0.1:80@evil/cb",
        "http://[::1]:80@evil/",
    ] {
        assert!(!redirect_uri_matches(&registered, trick), "{trick}");
    }
    let with_query = vec!["http://127.0.0.1?x=1".to_owned()];
    assert!(redirect_uri_matches(
        &with_query,
        "http://127.0.0.1:8080?x=1"
    ));
    assert!(!redirect_uri_matches(
        &with_query,
        "http://127.0.0.1:8080?x=2"
    ));
}

/// AS-10: the login page names the host and the port the browser will go to.
#[test]
fn as10_display_host_names_host_and_port() {
    assert_eq!(display_host("https://app.example/cb"), "app.example");
    assert_eq!(
        display_host("https://app.example:8443/cb"),
        "app.example:8443"
    );
    assert_eq!(display_host("http://127.0.0.1:5000/cb"), "127.0.0.1:5000");
    assert_eq!(display_host("not a uri"), "not a uri");
}

/// AS-18: a redirect URI with a wildcard or a pattern is refused, even when it would parse.
#[test]
fn as18_wildcard_or_pattern_redirect_uri_is_refused() {
    for bad in [
        "https://*.app.example/cb",
        "https://app.example/*",
        "https://app.example/{path}",
        "http://127.0.0.1:*/cb",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad}");
    }
}

/// AS-20: only a loopback host is flagged as one; a look-alike name or an unparsable URI is not.
#[test]
fn as20_only_loopback_hosts_are_loopback() {
    for loopback in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]:1/cb",
        "http://localhost:6274/cb",
    ] {
        assert!(is_loopback(loopback), "{loopback}");
    }
    for other in [
        "https://app.example/cb",
        "http://127.0.0.2/cb",
        "http://localhost.evil/cb",
        "http://127.0.0.1.evil/cb",
        "not a uri",
    ] {
        assert!(!is_loopback(other), "{other}");
    }
}
