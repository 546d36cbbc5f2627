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
    pub async fn introspect(
        &self,
        credentials: &ClientCredentials,
        form: &Form,
    ) -> Result<Introspection, OAuthError> {
        let own_resource = self.authenticate_resource_server(credentials)?;
        form.reject_repeated()?;
        let token = form
            .get("token")
            .ok_or(OAuthError::InvalidRequest("token is required"))?;
        let now = self.now();
        let record = self.store.access_token(&Digest::of(token), now).await?;
        Ok(match record {
            // A resource server reads only its own resource's tokens (rule
            // P6-06): another's is as unknown to it as a made-up one.
            Some(record) if record.resource == own_resource => Introspection::Active(ActiveToken {
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
            _ => Introspection::Inactive { active: false },
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
        let store = &self.store;
        store
            .revoke_access_token(&Digest::of(token), &client.id)
            .await?;
        if let Some((family, _)) = token.split_once('.')
            && let Some((grant_id, grant, _)) =
                (store.refresh_family(&Digest::of(family), &Digest::of(token), self.now())).await?
            && grant.client_id == client.id
        {
            store.revoke_grant(grant_id).await?;
        }
        self.metrics.revocations.inc();
        Ok(())
    }
    // ANCHOR_END: revoke
}
