//! The sign-in that answers an authorization request (RFC 6749 §4.1.2,
//! rule AS-10, AS-11, AS-12, AS-15).
//!
//! A submitted login form must come from the page this server showed, in
//! the browser it showed it to: its CSRF token and the browser-session
//! cookie must both match the sign-in in progress. Only then is the
//! password checked, under the throttle, and only after a successful
//! sign-in does the browser go back to the client, with a code or with the
//! error the request had.

use std::net::IpAddr;

use tokio::sync::Semaphore;

use super::{
    authorization::LoginPrompt,
    provider::Provider,
    redirect::{display_host, is_loopback, redirect_with},
    secret::{Digest, new_secret},
    store::{CodeRecord, PendingAuthorization, Tables, ValidRequest},
};
use crate::{
    authorization_server::error::{OAuthError, PageError},
    limits::Source,
};

/// At most this many password checks run at once. Each Argon2id check takes
/// a core and 12 MiB for a few milliseconds; running more at once only makes
/// them queue for the CPU while memory grows, so a flood of sign-ins waits
/// here instead (the throttle of rule AS-11 limits the failures).
static PASSWORD_CHECKS: Semaphore = Semaphore::const_new(2);

/// How long a code lives, in seconds: long enough for the client to redeem
/// it at once, well under the 5 minutes of rule AS-03.
pub const CODE_LIFETIME: i64 = 120;

/// A submitted login form, with what the web layer knows about its sender.
#[derive(Clone)]
pub struct LoginAttempt {
    pub pending_id: String,
    pub csrf: String,
    pub session: Option<String>,
    pub username: String,
    pub password: String,
    pub approve: bool,
    pub address: IpAddr,
}

/// Never prints the password, the CSRF token or the session (RS-09's rule
/// for tokens, applied to every secret here).
impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginAttempt")
            .field("pending_id", &self.pending_id)
            .field("username", &self.username)
            .field("approve", &self.approve)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// What answers a login form.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// Send the browser back to the client (303), with a fresh session.
    Redirect { location: String, session: String },
    /// Show the form again: the name or password was wrong.
    Retry(LoginPrompt),
    /// Show the form again with 429: too many failures (rule AS-11).
    Throttled(LoginPrompt),
}

impl Provider {
    // ANCHOR: login
    /// Answers a submitted login form (rule AS-10, AS-11, AS-12, AS-15).
    pub async fn login(&self, attempt: LoginAttempt) -> Result<LoginOutcome, PageError> {
        let pending = (self.store.lock().pending.get(&attempt.pending_id).cloned())
            .filter(|pending| pending.expires_at > self.now())
            .ok_or(PageError::Expired)?;
        let session_ok = (attempt.session.as_deref())
            .is_some_and(|session| pending.session.matches(&Digest::of(session)));
        if !session_ok || !pending.csrf.matches(&Digest::of(&attempt.csrf)) {
            return Err(PageError::CsrfMismatch);
        }
        let now = self.now();
        if attempt.approve {
            let prompt = |problem| self.prompt_again(&attempt, &pending, problem);
            let source = Source::of(attempt.address);
            let Some(counted) = self.throttle.begin(&attempt.username, source, now) else {
                return Ok(LoginOutcome::Throttled(prompt(
                    "Too many failed sign-ins. Wait a few minutes and try again.",
                )));
            };
            let user = self.user.clone();
            let (username, password) = (attempt.username.clone(), attempt.password.clone());
            let verified = match PASSWORD_CHECKS.acquire().await {
                Ok(_permit) => {
                    tokio::task::spawn_blocking(move || user.verify(&username, &password))
                        .await
                        .unwrap_or(false)
                }
                Err(_) => false,
            };
            if !verified {
                tracing::info!(%source, "failed sign-in");
                return Ok(LoginOutcome::Retry(prompt("Wrong user name or password.")));
            }
            self.throttle.succeeded(counted);
        }
        let pending =
            (self.store.lock().take_pending(&attempt.pending_id)).ok_or(PageError::Expired)?;
        let result = match (attempt.approve, &pending.request) {
            (false, _) => Err(OAuthError::AccessDenied),
            (true, Err(error)) => Err(error.clone()),
            (true, Ok(request)) => self.issue_code(&pending, request, &attempt.username, now),
        };
        let mut params = match &result {
            Ok(code) => vec![("code", code.as_str())],
            Err(error) => vec![("error", error.code())],
        };
        if let Some(state) = &pending.state {
            params.push(("state", state));
        }
        params.push(("iss", &self.issuer));
        Ok(LoginOutcome::Redirect {
            location: redirect_with(&pending.redirect_uri, &params),
            session: new_secret().map_err(|_| PageError::Busy)?,
        })
    }
    // ANCHOR_END: login

    /// Makes a code bound to everything rule AS-03 lists, and stores
    /// its digest.
    fn issue_code(
        &self,
        pending: &PendingAuthorization,
        request: &ValidRequest,
        user: &str,
        now: i64,
    ) -> Result<String, OAuthError> {
        let code = new_secret()?;
        let record = CodeRecord {
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            request: request.clone(),
            user: user.to_owned(),
            expires_at: now + CODE_LIFETIME,
            redeemed: None,
        };
        let mut tables = self.store.lock();
        Tables::ensure_room(tables.codes.len())?;
        tables.codes.insert(Digest::of(&code), record);
        // A person approved this client: it is no longer an unused
        // registration that expires (rule AS-16).
        tables.client_used(&pending.client_id);
        Ok(code)
    }

    fn prompt_again(
        &self,
        attempt: &LoginAttempt,
        pending: &PendingAuthorization,
        problem: &'static str,
    ) -> LoginPrompt {
        LoginPrompt {
            pending_id: attempt.pending_id.clone(),
            csrf: attempt.csrf.clone(),
            session: attempt.session.clone().unwrap_or_default(),
            client_name: (pending.client_name.clone()).unwrap_or(pending.client_id.clone()),
            redirect_host: display_host(&pending.redirect_uri),
            loopback_redirect: is_loopback(&pending.redirect_uri),
            scope: (pending.request.as_ref().map(|r| r.scope.clone())).unwrap_or_default(),
            problem: Some(problem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login attempt is logged by its sign-in, user name, choice and
    /// address; its password, CSRF token and session never.
    #[test]
    fn as14_a_login_attempt_prints_no_secret() {
        let attempt = LoginAttempt {
            pending_id: "pending-1".into(),
            csrf: "csrf-secret".into(),
            session: Some("session-secret".into()),
            username: "demo_user".into(),
            password: "password-secret".into(),
            approve: true,
            address: IpAddr::from([127, 0, 0, 1]),
        };
        assert_eq!(
            format!("{attempt:?}"),
            "LoginAttempt { pending_id: \"pending-1\", username: \"demo_user\", \
             approve: true, address: 127.0.0.1, .. }"
        );
    }
}
