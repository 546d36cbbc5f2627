//! The runs that must fail, and with which exit code: a denied login, a
//! forged redirect, bad metadata, no browser, no server (rule CL-01, CL-02, CL-04, CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use this_part::client::{
    ClientError, NoBrowser, Options, RecordingTranscript, Step, callback::CallbackError, run,
};

use crate::client_support::{Behaviour, Mocks, run_with};

/// Deny on the login page ⇒ error=access_denied ⇒ exit code 2, and no token is requested.
#[tokio::test]
async fn denied_login_exits_2_without_a_token() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), true).await;
    let error = result.expect_err("denied");
    assert!(
        matches!(&error, ClientError::Callback(CallbackError::Denied { error, .. }) if error == "access_denied"),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    mocks.with(|state| assert!(state.token_requests.is_empty()));
}

/// CL-04: a redirect with another `state` is refused, its code never used; the login waits on and times out saying so (exit 2).
#[tokio::test]
async fn cl04_wrong_state_is_refused() {
    let behaviour = Behaviour {
        state_override: Some("forged-state-forged-state".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let options = Options {
        login_timeout: 1,
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, steps) = run_with(&options, false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(error, ClientError::LoginTimeout { refused: 1, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("1 request to the callback without this login's state was refused"),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    assert!(!steps.contains(&Step::CallbackAccepted));
    mocks.with(|state| assert!(state.token_requests.is_empty()));
}

/// CL-04, RFC 9207: a redirect naming another issuer is refused (mix-up defence).
#[tokio::test]
async fn cl04_wrong_iss_is_refused() {
    let behaviour = Behaviour {
        iss_override: Some("http://evil.example".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(
            error,
            ClientError::Callback(CallbackError::IssuerMismatch { .. })
        ),
        "{error}"
    );
    mocks.with(|state| assert!(state.token_requests.is_empty()));
}

/// CL-02: metadata whose `issuer` is not the one the PRM named is refused (exit 1).
#[tokio::test]
async fn cl02_issuer_mismatch_is_refused() {
    let behaviour = Behaviour {
        metadata_issuer: Some("http://evil.example".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(error, ClientError::AuthServerMetadata(_)),
        "{error}"
    );
    assert_eq!(error.exit_code(), 1);
}

/// CL-02: an AS that does not advertise S256 is refused.
#[tokio::test]
async fn cl02_as_without_s256_is_refused() {
    let behaviour = Behaviour {
        challenge_methods: vec!["plain".into()],
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    assert!(matches!(result, Err(ClientError::AuthServerMetadata(_))));
}

/// CL-01: PRM about another resource (a sibling path, another origin) is refused.
#[tokio::test]
async fn cl01_prm_for_another_resource_is_refused() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let root = mocks.mcp_url.trim_end_matches("/mcp").to_owned();
    for other in [format!("{root}/other"), "http://127.0.0.1:1/mcp".to_owned()] {
        mocks.with(|state| state.behaviour.prm_resource = Some(other.clone()));
        let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
        assert!(
            matches!(result, Err(ClientError::ResourceMetadata(_))),
            "{other}: {result:?}"
        );
    }
}

/// CL-06: without a browser the URL is printed, and an unfinished login times out (exit 2).
#[tokio::test]
async fn cl06_no_browser_prints_the_url_and_times_out() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let options = Options {
        login_timeout: 1,
        ..Options::for_tests(&mocks.mcp_url)
    };
    let transcript = Arc::new(RecordingTranscript::default());
    let result = run(&options, transcript.clone(), Arc::new(NoBrowser)).await;
    let error = result.expect_err("times out");
    assert!(matches!(error, ClientError::LoginTimeout { .. }), "{error}");
    assert_eq!(error.exit_code(), 2);
    let printed = transcript.steps().into_iter().find_map(|step| match step {
        Step::OpenThisUrl { url, .. } => Some(url),
        _ => None,
    });
    assert!(printed.is_some_and(|url| url.contains("code_challenge_method=S256")));
}

/// An unreachable RS is a clear error with exit code 1.
#[tokio::test]
async fn unreachable_server_exits_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let (result, _) = run_with(&Options::for_tests(format!("http://{address}/mcp")), false).await;
    let error = result.expect_err("unreachable");
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    assert_eq!(error.exit_code(), 1);
}

/// A host that does not resolve (RFC 6761 §6.4): were a check missing, the
/// client would still send nothing off this machine.
const FAR: &str = "http://as.example.invalid";

/// CL-02: an `http://` MCP server URL off loopback is refused before any request; loopback names stay allowed.
#[tokio::test]
async fn cl02_http_server_url_off_loopback_is_refused() {
    let (result, steps) = run_with(&Options::for_tests("http://example.invalid/mcp"), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(&error, ClientError::InsecureEndpoint { url, .. } if url == "http://example.invalid/mcp"),
        "{error}"
    );
    assert_eq!(error.exit_code(), 1);
    assert!(steps.is_empty(), "nothing was attempted: {steps:?}");
    let mocks = Mocks::start(Behaviour::default()).await;
    let port = mocks
        .mcp_url
        .rsplit(':')
        .next()
        .expect("port")
        .trim_end_matches("/mcp");
    for host in ["localhost", "[::1]"] {
        let url = format!("http://{host}:{port}/mcp");
        let (result, _) = run_with(&Options::for_tests(url.clone()), false).await;
        assert!(
            !matches!(result, Err(ClientError::InsecureEndpoint { .. })),
            "{url}: {result:?}"
        );
    }
}

/// CL-02: an authorization server named over `http://` off loopback is skipped, never fetched; with none left the run stops.
#[tokio::test]
async fn cl02_http_authorization_server_off_loopback_is_refused() {
    let mocks = Mocks::start(Behaviour::default()).await;
    mocks.with(|state| state.behaviour.prm_authorization_servers = Some(vec![FAR.to_owned()]));
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(&error, ClientError::InsecureEndpoint { what, url } if what == "the authorization server" && url.starts_with(FAR)),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "refusing the authorization server {FAR}/: plain http is allowed only to localhost, \
             127.0.0.1 or [::1] (OAuth 2.1 §1.5) — use https"
        )
    );

    // Listed first, it is passed over for the loopback one after it.
    let issuer = mocks.issuer.clone();
    mocks.with(|state| state.behaviour.prm_authorization_servers = Some(vec![FAR.into(), issuer]));
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    assert_eq!(result.expect("the loopback AS is used").logins, 1);
}

/// CL-02: AS metadata naming any endpoint over `http://` off loopback is refused before registration, login or token request.
#[tokio::test]
async fn cl02_http_endpoint_in_as_metadata_is_refused() {
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        let url = format!("{FAR}/{field}");
        let behaviour = Behaviour {
            metadata_fields: vec![(field.to_owned(), url.clone())],
            ..Behaviour::default()
        };
        let mocks = Mocks::start(behaviour).await;
        let options = Options {
            login_timeout: 2,
            ..Options::for_tests(&mocks.mcp_url)
        };
        let (result, _) = run_with(&options, false).await;
        let error = result.expect_err("refused");
        assert!(
            matches!(&error, ClientError::InsecureEndpoint { what, url: refused } if what == &format!("the {field}") && *refused == url),
            "{field}: {error}"
        );
        assert!(!error.to_string().contains('\n'), "one line: {error}");
        mocks.with(|state| {
            assert!(state.registrations.is_empty(), "{field}");
            assert!(state.authorize_queries.is_empty(), "{field}");
            assert!(state.token_requests.is_empty(), "{field}");
        });
    }
}

/// A `--call` tool the server does not list is still called (the server
/// decides); its refusal ends the run with exit code 1, and the error names
/// the tools the server lists.
#[tokio::test]
async fn call_of_an_unlisted_tool_names_the_listed_ones() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let options = Options {
        call: vec!["greet".into(), "server_tim".into()],
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, _) = run_with(&options, false).await;
    let error = result.expect_err("refused by the server");
    let message = error.to_string();
    assert!(
        message.starts_with("MCP request `tools/call server_tim` failed: ")
            && message.ends_with(" (the server lists greet, server_time)"),
        "{message}"
    );
    assert_eq!(error.exit_code(), 1);
    mocks.with(|state| {
        let calls = (state.rs_methods.iter()).filter(|(method, _)| method == "tools/call");
        assert_eq!(
            calls.count(),
            2,
            "greet, then the unlisted tool: {:?}",
            state.rs_methods
        );
    });
}
