//! What a token allows, and how it ends: introspection (RFC 7662) for the
//! resource server, revocation (RFC 7009) for the client.

use serde::Serialize;

use super::{clients::ClientCredentials, provider::Provider, secret::Digest};
use crate::authorization_server::{error::OAuthError, form::Form};

/// An introspection response (RFC 7662 §2.2). Anything not active is
/// exactly `{"active":false}`, so it tells the caller nothing more.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Introspection {
    Active(ActiveToken),
    Inactive { active: bool },
}

/// What the resource server learns about an active access token.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveToken {
    pub active: bool,
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    /// The resource the token is for (RFC 8707): the resource server must
    /// compare it with its own URL (rule RS-07).
    pub aud: String,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    pub token_type: &'static str,
}

impl Provider {
    // ANCHOR: introspect
    /// Token introspection (RFC 7662, rule AS-09), for the resource
    /// server only. Only access tokens are ever active: a refresh token is
    /// not something a resource server should accept.
    pub fn introspect(
        &self,
        credentials: &ClientCredentials,
        form: &Form,
    ) -> Result<Introspection, OAuthError> {
        self.authenticate_resource_server(credentials)?;
        form.reject_repeated()?;
        let token = form
            .get("token")
            .ok_or(OAuthError::InvalidRequest("token is required"))?;
        let now = self.now();
        let record = (self.store.lock().access.get(&Digest::of(token)).cloned())
            .filter(|record| record.expires_at > now);
        Ok(match record {
            Some(record) => Introspection::Active(ActiveToken {
                active: true,
                sub: record.user,
                client_id: record.client_id,
                scope: record.scope.join(" "),
                aud: record.resource,
                iss: self.issuer.clone(),
                exp: record.expires_at,
                iat: record.issued_at,
                token_type: "Bearer",
            }),
            None => Introspection::Inactive { active: false },
        })
    }
    // ANCHOR_END: introspect

    // ANCHOR: revoke
    /// Token revocation (RFC 7009 §2.1). An access token goes alone; a
    /// refresh token takes its whole grant with it. A token that is unknown
    /// or belongs to another client is ignored, and the answer is the same
    /// (§2.2), so the endpoint cannot be used to test tokens.
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        form: &Form,
    ) -> Result<(), OAuthError> {
        form.reject_repeated()?;
        let client = self.authenticate_client(credentials).await?;
        let token = form
            .get("token")
            .ok_or(OAuthError::InvalidRequest("token is required"))?;
        let digest = Digest::of(token);
        let mut tables = self.store.lock();
        if tables
            .access
            .get(&digest)
            .is_some_and(|t| t.client_id == client.id)
        {
            tables.access.remove(&digest);
        }
        let refresh_grant = tables.refresh_family(token).map(|(grant, _)| grant);
        if let Some(grant) = refresh_grant
            && tables
                .grants
                .get(&grant)
                .is_some_and(|g| g.client_id == client.id)
        {
            tables.revoke_grant(grant);
        }
        Ok(())
    }
    // ANCHOR_END: revoke
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization_server::{
        Config,
        logic::{secret::Digest, store::AccessRecord},
    };

    /// A token expires at `exp` (RFC 7662 §2.2; RFC 7519 §4.1.4: "on or
    /// after which" it must not be accepted): in its last second it is
    /// still active, from `exp` on it is not.
    #[test]
    fn as09_a_token_is_inactive_from_its_expiry_time() {
        let config = Config::for_tests("https://as.example");
        let provider = Provider::new(&config).expect("provider");
        let credentials = ClientCredentials::Basic {
            id: config.introspection_client_id.clone(),
            secret: config.introspection_client_secret.clone(),
        };
        let active = |expires_in: i64| {
            let token = format!("token-{expires_in}");
            let now = provider.now();
            provider.store.lock().insert_access(
                Digest::of(&token),
                AccessRecord {
                    grant: 1,
                    client_id: "client".into(),
                    user: "demo_user".into(),
                    scope: vec!["mcp:tools".into()],
                    resource: "http://localhost:8000/mcp".into(),
                    issued_at: now - 60,
                    expires_at: now + expires_in,
                },
            );
            let form = Form::parse(format!("token={token}").as_bytes()).expect("form");
            let answer = provider.introspect(&credentials, &form).expect("answered");
            matches!(answer, Introspection::Active(_))
        };
        assert!(active(5));
        assert!(!active(0), "active at its expiry time");
        assert!(!active(-1));
    }
}
