//! The runs that must fail, and with which exit code: a denied login, a
//! forged redirect, bad metadata, no browser, no server (rule CL-01, CL-02, CL-04, CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use part5_client::client::{
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

/// CL-04: a redirect with another `state` is refused before the code is used.
#[tokio::test]
async fn cl04_wrong_state_is_refused() {
    let behaviour = Behaviour {
        state_override: Some("forged-state-forged-state".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(error, ClientError::Callback(CallbackError::StateMismatch)),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
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
    assert!(matches!(error, ClientError::LoginTimeout(_)), "{error}");
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
