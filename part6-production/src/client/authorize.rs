//! One interactive authorization: registration, browser, redirect, code
//! exchange (rule CL-03 … CL-06), for a resource whose metadata was just
//! discovered ([`super::discovery`]).
//!
//! [`Flow::authorize`] is the whole story in eight named steps; each step is
//! a method below it, in the same order.

use std::{collections::BTreeSet, sync::Arc};

use oauth2::TokenResponse as _;

use super::{
    ClientError, Flow,
    callback::{AuthorizationResponse, CallbackServer, Expected},
    challenge::BearerChallenge,
    discovery::Discovery,
    pkce::check_authorization_request,
    registration::{Registration, configure, register},
    transcript::Step,
};

/// Why an authorization runs: the first login, or a 403 `insufficient_scope`
/// (same server and client, more scopes; rule CL-05).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A 401: no token, or one the server no longer takes.
    Login,
    /// A 403 `insufficient_scope`.
    Upgrade,
}

/// An authorization request ready to be shown to the person.
struct Request {
    url: String,
    state: String,
}

impl Flow {
    // ANCHOR: authorize
    /// Runs the authorization code flow once, for the resource and
    /// authorization server in `discovery`.
    pub(super) async fn authorize(
        &mut self,
        challenge: &BearerChallenge,
        discovery: Discovery,
        reason: Reason,
    ) -> Result<(), ClientError> {
        self.logins += 1;
        // SEP-2352: a client id and tokens belong to the issuer that made them.
        self.bind_to_issuer(&discovery).await?;
        // CL-04: send `resource` exactly as the metadata published it.
        self.use_resource(&discovery.resource_metadata.resource)
            .await?;
        // CL-05, SEP-2207: which scopes to ask for.
        let scopes = self.scopes_for(challenge, &discovery, reason).await;
        // CL-06: the listener is up before anything can redirect to it.
        let callback = self.callback_listener().await?;
        // CL-03: a client id at this authorization server.
        let registration = self
            .client_id_at(&discovery, callback.redirect_uri(), &scopes)
            .await?;
        // CL-04: PKCE S256, a fresh state, the resource; checked before use.
        let request = self
            .authorization_request(&discovery, &registration, callback.redirect_uri(), &scopes)
            .await?;
        self.transcript.step(Step::RequestingScopes {
            scopes,
            upgrade: reason == Reason::Upgrade,
        });
        // CL-04, CL-06: the browser, then the redirect with `state` and `iss` checked.
        let response = self.log_in(&callback, &discovery, request).await?;
        // CL-04: the code, the verifier and `resource` go to the token endpoint.
        self.redeem(&response).await
    }
    // ANCHOR_END: authorize

    // ANCHOR: bind_to_issuer
    /// SEP-2352: when the resource now names another authorization server
    /// than the one our client id and tokens come from, forget both before
    /// talking to the new one: a fresh rmcp manager (no client, no tokens,
    /// no metadata), an emptied token cache, and no pre-registered id
    /// (it was registered with the old server).
    async fn bind_to_issuer(&mut self, discovery: &Discovery) -> Result<(), ClientError> {
        self.discovery = Some(discovery.clone());
        let previous = self.registration.as_ref().map(|r| r.issuer.clone());
        let Some(previous) = previous.filter(|issuer| *issuer != discovery.issuer) else {
            return Ok(());
        };
        self.transcript.step(Step::IssuerChanged {
            from: previous,
            to: discovery.issuer.clone(),
        });
        let manager = self.fresh_manager(true).await?;
        *self.auth.auth_manager.lock().await = manager;
        self.token_resource = self.server_url.to_string();
        self.registration = None;
        self.cached_client = None;
        self.cached_scopes.clear();
        self.has_token = false;
        self.issuer_changed = true;
        Ok(())
    }
    // ANCHOR_END: bind_to_issuer

    // ANCHOR: scopes_for
    /// rule CL-05: the challenge's scope, else the PRM's `scopes_supported`;
    /// for an upgrade the union with what was granted. SEP-2207: plus
    /// `offline_access` when the AS lists it and issues refresh tokens, since
    /// this client refreshes tokens before they expire; never otherwise, and
    /// never alone (no scope at all means "omit the parameter").
    async fn scopes_for(
        &self,
        challenge: &BearerChallenge,
        discovery: &Discovery,
        reason: Reason,
    ) -> Vec<String> {
        let mut scopes = match reason {
            Reason::Upgrade => {
                let mut granted = self
                    .auth
                    .auth_manager
                    .lock()
                    .await
                    .get_current_scopes()
                    .await;
                if granted.is_empty() {
                    // Tokens from the cache: rmcp has not seen their grant.
                    granted.clone_from(&self.cached_scopes);
                }
                union(&granted, &challenge.scopes())
            }
            Reason::Login if !challenge.scopes().is_empty() => challenge.scopes(),
            Reason::Login => discovery.resource_metadata.scopes_supported.clone(),
        };
        let offline = "offline_access";
        if !scopes.is_empty()
            && discovery.offers_offline_access()
            && !scopes.iter().any(|s| s == offline)
        {
            scopes.push(offline.to_owned());
        }
        scopes
    }
    // ANCHOR_END: scopes_for

    /// rule CL-06: the loopback listener, bound once per run so every
    /// authorization of the run uses the same `redirect_uri`.
    async fn callback_listener(&mut self) -> Result<Arc<CallbackServer>, ClientError> {
        if let Some(callback) = &self.callback {
            return Ok(callback.clone());
        }
        let callback = Arc::new(CallbackServer::bind(self.options.callback_port).await?);
        self.transcript.step(Step::CallbackListening {
            redirect_uri: callback.redirect_uri().to_owned(),
        });
        self.callback = Some(callback.clone());
        Ok(callback)
    }

    /// rule CL-03: the client id this run already has at this issuer, else
    /// one from the flags, the token cache (same issuer only), a Client ID
    /// Metadata Document or Dynamic Client Registration, configured in rmcp.
    async fn client_id_at(
        &mut self,
        discovery: &Discovery,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Registration, ClientError> {
        let mut manager = self.auth.auth_manager.lock().await;
        manager.set_metadata(discovery.metadata.clone());
        if let Some(registration) = &self.registration {
            configure(&mut manager, registration, redirect_uri)?;
            return Ok(registration.clone());
        }
        let cached = self
            .cached_client
            .as_ref()
            .filter(|(_, issuer)| issuer.as_deref() == Some(discovery.issuer.as_str()))
            .map(|(client_id, _)| client_id.as_str());
        let mut identity = self.options.identity();
        if self.issuer_changed {
            identity.client_id = None;
            identity.client_secret = None;
        }
        let registration = register(
            &mut manager,
            &identity,
            discovery,
            cached,
            redirect_uri,
            scopes,
        )
        .await?;
        self.transcript.step(Step::Registered {
            method: registration.method.to_string(),
            client_id: registration.client_id.clone(),
        });
        self.registration = Some(registration.clone());
        Ok(registration)
    }

    /// rule CL-04: rmcp builds the request (PKCE S256, a fresh `state`,
    /// `resource`) and remembers the verifier; we check what it built before
    /// it goes anywhere.
    async fn authorization_request(
        &self,
        discovery: &Discovery,
        registration: &Registration,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Request, ClientError> {
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let url = self
            .auth
            .auth_manager
            .lock()
            .await
            .get_authorization_url(&scope_refs)
            .await?;
        let state = check_authorization_request(
            &url,
            &discovery.metadata.authorization_endpoint,
            &registration.client_id,
            redirect_uri,
            &self.token_resource,
        )?;
        Ok(Request { url, state })
    }

    /// rule CL-06: arms the listener, shows the login page (or prints its
    /// URL), and waits for the redirect, which the listener checks (`state`,
    /// and `iss` as RFC 9207 asks).
    async fn log_in(
        &self,
        callback: &CallbackServer,
        discovery: &Discovery,
        request: Request,
    ) -> Result<AuthorizationResponse, ClientError> {
        callback.expect(Expected {
            state: request.state,
            issuer: discovery.issuer.clone(),
            issuer_required: discovery.issuer_in_response(),
        });
        match self.browser.open(&request.url).await {
            Ok(program) => self.transcript.step(Step::BrowserOpened { program }),
            Err(error) => self.transcript.step(Step::OpenThisUrl {
                url: request.url.clone(),
                reason: format!("no browser opened ({error})"),
            }),
        }
        let timeout = self.options.login_timeout();
        self.transcript.step(Step::WaitingForLogin { timeout });
        let response = callback.wait(timeout).await?;
        self.transcript.step(Step::CallbackAccepted);
        Ok(response)
    }

    /// rule CL-04: rmcp sends the code, the verifier and `resource`, checks
    /// `iss` again, and keeps the tokens in its credential store.
    async fn redeem(&mut self, response: &AuthorizationResponse) -> Result<(), ClientError> {
        let manager = self.auth.auth_manager.lock().await;
        let token = manager
            .exchange_code_for_token_with_issuer(
                &response.code,
                &response.state,
                response.issuer.as_deref(),
            )
            .await
            .map_err(|error| ClientError::Token(error.to_string()))?;
        self.transcript.step(Step::TokensReceived {
            scopes: manager.get_current_scopes().await,
            expires_in: token.expires_in().map(|duration| duration.as_secs()),
            refresh_token: token.refresh_token().is_some(),
        });
        self.has_token = true;
        Ok(())
    }

    pub(super) fn report_discovery(&self, discovery: &Discovery) {
        self.transcript.step(Step::ResourceMetadata {
            url: discovery.resource_metadata_url.clone(),
            resource: discovery.resource_metadata.resource.clone(),
            authorization_servers: discovery.resource_metadata.authorization_servers.clone(),
            scopes_supported: discovery.resource_metadata.scopes_supported.clone(),
        });
        self.transcript.step(Step::AuthorizationServer {
            issuer: discovery.issuer.clone(),
            metadata_url: discovery.metadata_url.clone(),
        });
    }
}

/// The scopes of both lists, each once, in first-seen order (rule CL-05).
pub fn union(granted: &[String], required: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    granted
        .iter()
        .chain(required)
        .filter(|scope| seen.insert(scope.as_str()))
        .cloned()
        .collect()
}

// ANCHOR: use_resource
impl Flow {
    /// Makes rmcp send `resource` exactly as the metadata published it on
    /// authorize, token and refresh requests (RFC 8707; rule CL-04).
    ///
    /// rmcp sends the resource its own discovery found, else the URL its
    /// manager was made for; it has no setter. When the metadata names the
    /// server URL itself, that is the same thing. When it names the origin or
    /// a path prefix, rmcp's discovery runs once more on the same manager so
    /// that rmcp records the published string (a URL parser would add a `/`
    /// to a bare origin); the metadata we checked is then put back.
    async fn use_resource(&mut self, published: &str) -> Result<(), ClientError> {
        if published == self.token_resource
            || super::resource::same_resource(published, self.server_url.as_str())
        {
            return Ok(());
        }
        let mut manager = self.auth.auth_manager.lock().await;
        manager.resolve_metadata_from_challenge(None).await?;
        if let Some(discovery) = &self.discovery {
            manager.set_metadata(discovery.metadata.clone());
        }
        drop(manager);
        self.token_resource = published.to_owned();
        Ok(())
    }
}
// ANCHOR_END: use_resource

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl05_union_keeps_order_and_drops_duplicates() {
        let granted = vec!["mcp:tools".to_owned(), "openid".to_owned()];
        let required = vec!["mcp:admin".to_owned(), "mcp:tools".to_owned()];
        assert_eq!(
            union(&granted, &required),
            ["mcp:tools", "openid", "mcp:admin"]
        );
    }
}
