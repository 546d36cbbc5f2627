//! One interactive authorization: discovery, registration, browser,
//! redirect, code exchange (rule CL-01 … CL-06).

use std::collections::BTreeSet;

use oauth2::TokenResponse as _;

use super::{
    ClientError, Flow,
    callback::{CallbackServer, Expected},
    challenge::BearerChallenge,
    discovery::discover,
    pkce::check_authorization_request,
    registration::{configure, register},
    transcript::Step,
};

impl Flow {
    // ANCHOR: authorize
    /// Runs the authorization code flow once. `upgrade` is the 403
    /// `insufficient_scope` case: same server and client, more scopes.
    pub(super) async fn authorize(
        &mut self,
        challenge: &BearerChallenge,
        upgrade: bool,
    ) -> Result<(), ClientError> {
        self.logins += 1;
        // CL-01, CL-02: what protects the server, and who issues its tokens.
        if self.discovery.is_none() || !upgrade {
            let discovery =
                discover(&self.discovery_http, &self.server_url, Some(challenge)).await?;
            self.report_discovery(&discovery);
            self.discovery = Some(discovery);
        }
        let Some(discovery) = self.discovery.clone() else {
            return Err(ClientError::ResourceMetadata(
                "discovery did not run".into(),
            ));
        };
        self.use_resource(&discovery.resource_metadata.resource)
            .await?;

        // CL-05: the challenge's scope, else the PRM's; on upgrade the union.
        let scopes = if upgrade {
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
        } else if !challenge.scopes().is_empty() {
            challenge.scopes()
        } else {
            discovery.resource_metadata.scopes_supported.clone()
        };

        // CL-06: the listener is up before anything can redirect to it.
        if self.callback.is_none() {
            let callback = CallbackServer::bind(self.options.callback_port).await?;
            self.transcript.step(Step::CallbackListening {
                redirect_uri: callback.redirect_uri().to_owned(),
            });
            self.callback = Some(callback);
        }
        let Some(callback) = self.callback.as_ref() else {
            return Err(ClientError::CallbackListener(std::io::Error::other(
                "not bound",
            )));
        };
        let redirect_uri = callback.redirect_uri().to_owned();

        // CL-03 and CL-04: a client id, then rmcp builds the request (PKCE
        // S256, fresh state, resource) and remembers the verifier.
        let authorization_url = {
            let mut manager = self.auth.auth_manager.lock().await;
            manager.set_metadata(discovery.metadata.clone());
            let registration = match &self.registration {
                Some(registration) => {
                    configure(&mut manager, registration, &redirect_uri)?;
                    registration.clone()
                }
                None => {
                    let cached = self
                        .cached_client
                        .as_ref()
                        .filter(|(_, issuer)| issuer.as_deref() == Some(discovery.issuer.as_str()))
                        .map(|(client_id, _)| client_id.as_str());
                    let identity = self.options.identity();
                    let registration = register(
                        &mut manager,
                        &identity,
                        &discovery,
                        cached,
                        &redirect_uri,
                        &scopes,
                    )
                    .await?;
                    self.transcript.step(Step::Registered {
                        method: registration.method.to_string(),
                        client_id: registration.client_id.clone(),
                    });
                    self.registration = Some(registration.clone());
                    registration
                }
            };
            let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let url = manager.get_authorization_url(&scope_refs).await?;
            (url, registration.client_id)
        };
        let (authorization_url, client_id) = authorization_url;
        let state = check_authorization_request(
            &authorization_url,
            &discovery.metadata.authorization_endpoint,
            &client_id,
            &redirect_uri,
            &self.token_resource,
        )?;
        self.transcript
            .step(Step::RequestingScopes { scopes, upgrade });

        // CL-06: arm the listener, then show the login page.
        callback.expect(Expected {
            state,
            issuer: discovery.issuer.clone(),
            issuer_required: discovery.issuer_in_response(),
        });
        match self.browser.open(&authorization_url).await {
            Ok(program) => self.transcript.step(Step::BrowserOpened { program }),
            Err(error) => self.transcript.step(Step::OpenThisUrl {
                url: authorization_url.clone(),
                reason: format!("no browser opened ({error})"),
            }),
        }
        let timeout = self.options.login_timeout();
        self.transcript.step(Step::WaitingForLogin { timeout });
        let response = callback.wait(timeout).await?;
        self.transcript.step(Step::CallbackAccepted);

        // CL-04: rmcp sends the verifier and `resource`, and checks `iss` again.
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
    // ANCHOR_END: authorize

    pub(super) fn report_discovery(&self, discovery: &super::discovery::Discovery) {
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
    /// a path prefix, rmcp's discovery runs once more so that rmcp records
    /// the published string (a URL parser would add a `/` to a bare origin);
    /// the metadata we checked is then put back.
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
