//! Checking the redirect that comes back from the authorization server
//! (RFC 6749 §4.1.2, RFC 9207; rule CL-04).
//!
//! The loopback listener ([`super::callback`]) runs [`validate_redirect`] on
//! every redirect before the code goes anywhere; rmcp checks `iss` once
//! more when the code is exchanged.

/// What the redirect must carry to be accepted.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The `state` we sent, checked byte for byte (RFC 6749 §10.12).
    pub state: String,
    /// The issuer we discovered; any `iss` present must equal it (RFC 9207 §2.4).
    pub issuer: String,
    /// The AS advertised `authorization_response_iss_parameter_supported`,
    /// so a missing `iss` is refused too.
    pub issuer_required: bool,
}

/// An accepted authorization response (RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The code; short-lived and single-use, never printed.
    pub code: String,
    /// The `state`, equal to [`Expected::state`].
    pub state: String,
    /// The `iss`, if the AS sent one.
    pub issuer: Option<String>,
}

// ANCHOR: callback_error
/// Why a redirect was refused. A redirect with the login's `state` ends the
/// login with one of these (exit code 2); one without it (`StateMismatch`,
/// or a repeated `state`) is not an answer at all, and the listener keeps
/// waiting ([`super::callback`], rule CL-06).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Wrong or missing `state`: not the answer to our request (RFC 6749 §10.12).
    #[error("the redirect's state is not the one we sent; refused (possible CSRF)")]
    StateMismatch,
    /// `iss` names another server: a mix-up attack (RFC 9207 §2.4).
    #[error("the redirect names issuer `{received}`, expected `{expected}`; refused (RFC 9207)")]
    IssuerMismatch { expected: String, received: String },
    /// The AS promised `iss` and did not send it (RFC 9207 §2.4).
    #[error("the redirect has no `iss` although {expected} promised one; refused (RFC 9207)")]
    MissingIssuer { expected: String },
    /// The AS answered with an error, e.g. `access_denied` (RFC 6749 §4.1.2.1).
    #[error("the authorization server answered error={error}{}", description_suffix(.description))]
    Denied {
        error: String,
        description: Option<String>,
    },
    /// Neither `code` nor `error`.
    #[error("the redirect carries no code")]
    MissingCode,
    /// A parameter appears twice, so it is unclear which one counts.
    #[error("the redirect repeats the `{0}` parameter; refused")]
    RepeatedParameter(String),
}
// ANCHOR_END: callback_error

fn description_suffix(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|text| format!(" ({text})"))
        .unwrap_or_default()
}

// ANCHOR: validate_redirect
/// Checks a redirect's query against what we sent: `state` first (an answer
/// to someone else's request is ignored entirely, even its `error`), then
/// `iss`, then `error`, then `code`.
pub fn validate_redirect(
    query: &str,
    expected: &Expected,
) -> Result<AuthorizationResponse, CallbackError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| -> Result<Option<String>, CallbackError> {
        let mut values = pairs.iter().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (_, Some(_)) => Err(CallbackError::RepeatedParameter(name.to_owned())),
            (value, None) => Ok(value.map(|(_, value)| value.clone())),
        }
    };
    let state = get("state")?;
    if state.as_deref() != Some(expected.state.as_str()) {
        return Err(CallbackError::StateMismatch);
    }
    let issuer = get("iss")?;
    match issuer.as_deref() {
        Some(received) if received != expected.issuer => {
            return Err(CallbackError::IssuerMismatch {
                expected: expected.issuer.clone(),
                received: received.to_owned(),
            });
        }
        None if expected.issuer_required => {
            return Err(CallbackError::MissingIssuer {
                expected: expected.issuer.clone(),
            });
        }
        _ => {}
    }
    if let Some(error) = get("error")? {
        return Err(CallbackError::Denied {
            error,
            description: get("error_description")?,
        });
    }
    let code = get("code")?.filter(|code| !code.is_empty());
    let code = code.ok_or(CallbackError::MissingCode)?;
    Ok(AuthorizationResponse {
        code,
        state: expected.state.clone(),
        issuer,
    })
}
// ANCHOR_END: validate_redirect

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientError;

    fn expected(issuer_required: bool) -> Expected {
        Expected {
            state: "s-123".into(),
            issuer: "http://localhost:9000".into(),
            issuer_required,
        }
    }

    #[test]
    fn cl04_accepts_matching_state_and_iss() {
        let response = validate_redirect(
            "code=abc&state=s-123&iss=http%3A%2F%2Flocalhost%3A9000",
            &expected(true),
        );
        assert_eq!(
            response,
            Ok(AuthorizationResponse {
                code: "abc".into(),
                state: "s-123".into(),
                issuer: Some("http://localhost:9000".into()),
            })
        );
    }

    #[test]
    fn cl04_wrong_or_missing_state_is_refused_even_with_an_error() {
        for query in [
            "code=abc&state=other",
            "code=abc",
            "error=access_denied&state=x",
        ] {
            assert_eq!(
                validate_redirect(query, &expected(false)),
                Err(CallbackError::StateMismatch),
                "{query}"
            );
        }
    }

    #[test]
    fn cl04_iss_is_checked_when_present_and_required_when_advertised() {
        assert!(matches!(
            validate_redirect("code=a&state=s-123&iss=http%3A%2F%2Fevil", &expected(false)),
            Err(CallbackError::IssuerMismatch { .. })
        ));
        assert!(matches!(
            validate_redirect("code=a&state=s-123", &expected(true)),
            Err(CallbackError::MissingIssuer { .. })
        ));
        assert!(validate_redirect("code=a&state=s-123", &expected(false)).is_ok());
    }

    #[test]
    fn access_denied_maps_to_exit_code_2() {
        let verdict = validate_redirect(
            "error=access_denied&error_description=User+said+no&state=s-123&iss=http%3A%2F%2Flocalhost%3A9000",
            &expected(true),
        );
        let Err(error) = verdict else {
            panic!("a denial was accepted");
        };
        assert_eq!(
            error,
            CallbackError::Denied {
                error: "access_denied".into(),
                description: Some("User said no".into())
            }
        );
        assert_eq!(ClientError::Callback(error).exit_code(), 2);
    }

    #[test]
    fn repeated_parameters_and_missing_code_are_refused() {
        assert_eq!(
            validate_redirect("code=a&code=b&state=s-123", &expected(false)),
            Err(CallbackError::RepeatedParameter("code".into()))
        );
        assert_eq!(
            validate_redirect("state=s-123&code=", &expected(false)),
            Err(CallbackError::MissingCode)
        );
    }
}
