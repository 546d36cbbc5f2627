//! The authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1): what is
//! checked before the login page is shown. [`super::login`] answers the
//! login form.
//!
//! The order of the checks is the security here. The client and its
//! redirect URI are checked first, and if either is wrong the user sees an
//! error page: redirecting would hand the browser to whoever wrote the
//! link (rule AS-04). Anything else that is wrong is remembered, and
//! sent to the client only after the user has signed in, so this server
//! never bounces an anonymous visitor to a registered URI (RFC 9700
//! §4.11.2, rule AS-15).

use super::{
    pkce,
    provider::{Provider, ScopeText},
    redirect::{display_host, is_loopback, redirect_uri_matches},
    secret::{Digest, new_secret},
    store::{PendingAuthorization, ValidRequest},
};
use crate::{
    authorization_server::{
        error::{DocumentError, OAuthError, PageError},
        form::Form,
    },
    limits::Source,
};

/// How long a sign-in may take, in seconds.
const PENDING_LIFETIME: i64 = 10 * 60;

/// The longest `state` kept and echoed back (rule AS-18). Clients use a
/// few dozen bytes.
pub const MAX_STATE_BYTES: usize = 1024;

/// What the login page shows and the form sends back.
#[derive(Debug, Clone)]
pub struct LoginPrompt {
    /// The server-made id of the sign-in in progress.
    pub pending_id: String,
    /// The CSRF token of the form (rule AS-10).
    pub csrf: String,
    /// The browser-session cookie the CSRF token is bound to.
    pub session: String,
    /// The name the client registered (with the host of its `client_id`
    /// URL for a metadata document), or its id; unverified.
    pub client_name: String,
    /// Where the browser goes next, so the user can judge the client.
    pub redirect_host: String,
    /// The scopes asked for, with their words (rule P6-05).
    pub scope: Vec<ScopeText>,
    /// True when the redirect URI is on this computer (`127.0.0.1`,
    /// `[::1]`, `localhost`): the page warns that any local program could
    /// be posing as the client (MCP 2025-11-25 security considerations,
    /// rule AS-20).
    pub loopback_redirect: bool,
    /// Why the previous attempt failed, if it did.
    pub problem: Option<&'static str>,
}

impl Provider {
    // ANCHOR: begin_authorization
    /// Starts a sign-in for an authorization request. `session` is the
    /// browser-session cookie, if the browser sent one. A `client_id` that
    /// is a URL is looked up through its metadata document, which may be
    /// fetched now; a document that cannot be used is an unknown client.
    pub async fn begin_authorization(
        &self,
        query: &Form,
        session: Option<&str>,
        source: Source,
    ) -> Result<LoginPrompt, PageError> {
        if matches!(query.repeated(), Some("client_id" | "redirect_uri")) {
            return Err(PageError::MalformedRequest);
        }
        // A state is echoed back to the client, and so kept until then: a
        // 60 KB one would be stored as given. Over the cap it is an error
        // page, never a redirect that carries it (rule AS-18).
        if query
            .get("state")
            .is_some_and(|state| state.len() > MAX_STATE_BYTES)
        {
            return Err(PageError::StateTooLong);
        }
        let client_id = query.get("client_id").ok_or(PageError::UnknownClient)?;
        let client = (self.find_client(client_id).await)
            .map_err(|error| match error {
                DocumentError::Unavailable => PageError::Busy,
                other => PageError::ClientDocument(other),
            })?
            .ok_or(PageError::UnknownClient)?;
        let redirect_uri = query
            .get("redirect_uri")
            .ok_or(PageError::MissingRedirectUri)?;
        if !redirect_uri_matches(&client.redirect_uris, redirect_uri) {
            return Err(PageError::UnregisteredRedirectUri);
        }
        let session = match session {
            Some(session) if session.len() == 43 => session.to_owned(),
            _ => new_secret().map_err(|_| PageError::Busy)?,
        };
        let (pending_id, csrf) = (new_secret(), new_secret());
        let (Ok(pending_id), Ok(csrf)) = (pending_id, csrf) else {
            return Err(PageError::Busy);
        };
        let pending = PendingAuthorization {
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            redirect_uri: redirect_uri.to_owned(),
            state: query.get("state").map(str::to_owned),
            request: self.check_request(query),
            csrf: Digest::of(&csrf),
            session: Digest::of(&session),
            expires_at: self.now() + PENDING_LIFETIME,
            source: source.to_string(),
        };
        let scope = (pending.request.as_ref().map(|r| r.scope.clone())).unwrap_or_default();
        self.store.insert_pending(&pending_id, &pending).await?;
        Ok(LoginPrompt {
            pending_id,
            csrf,
            session,
            client_name: client.name.unwrap_or(client.id),
            redirect_host: display_host(redirect_uri),
            loopback_redirect: is_loopback(redirect_uri),
            scope: self.describe_scopes(&scope),
            problem: None,
        })
    }
    // ANCHOR_END: begin_authorization

    // ANCHOR: check_request
    /// Checks the rest of an authorization request, once the client and
    /// redirect URI are known to be right. An error here goes back to the
    /// client, after the sign-in.
    fn check_request(&self, query: &Form) -> Result<ValidRequest, OAuthError> {
        query.reject_repeated()?;
        match query.get("response_type") {
            Some("code") => {}
            Some(_) => return Err(OAuthError::UnsupportedResponseType),
            None => return Err(OAuthError::InvalidRequest("response_type is required")),
        }
        let code_challenge = pkce::check_challenge(
            query.get("code_challenge"),
            query.get("code_challenge_method"),
        )?;
        let resource = self.check_resource(query.get("resource"))?;
        let scope = match query.get("scope") {
            None => self.scopes.clone(),
            Some(scope) => {
                let scope: Vec<String> = scope.split(' ').map(str::to_owned).collect();
                if !scope.iter().all(|s| self.scopes.contains(s)) {
                    return Err(OAuthError::InvalidScope("unknown scope"));
                }
                // Known and not repeated: at most as many as are configured.
                if (1..scope.len()).any(|i| scope[..i].contains(&scope[i])) {
                    return Err(OAuthError::InvalidRequest("scope repeats a value"));
                }
                scope
            }
        };
        Ok(ValidRequest {
            code_challenge,
            resource,
            scope,
        })
    }

    /// RFC 8707 §2: the resource must be one this server issues tokens for.
    /// When the client names none and only one is configured, it is that one.
    pub(super) fn check_resource(&self, resource: Option<&str>) -> Result<String, OAuthError> {
        match resource {
            Some(resource) if self.resources.iter().any(|r| r == resource) => {
                Ok(resource.to_owned())
            }
            Some(_) => Err(OAuthError::InvalidTarget("unknown resource")),
            None if self.resources.len() == 1 => Ok(self.resources[0].clone()),
            None => Err(OAuthError::InvalidTarget("resource is required")),
        }
    }
    // ANCHOR_END: check_request
}
