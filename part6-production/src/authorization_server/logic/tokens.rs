//! The token endpoint and its two grants (RFC 6749 §3.2, §4.1.3 and §6).
//!
//! An access token is a JWT (RFC 9068) signed by [`super::signing`]: a
//! resource server can check it alone with the published keys, or ask at
//! the introspection endpoint; this server keeps its digest either way
//! (rule AS-14). A refresh token stays opaque, two random secrets
//! `<family>.<secret>`: the first names its grant's family, so that a
//! rotated-away token is still recognised (rule AS-08).

use serde::Serialize;

use super::{
    clients::ClientCredentials,
    pkce,
    provider::Provider,
    secret::{Digest, new_secret},
    signing::AccessClaims,
    store::{Client, Grant, NewTokens, Redemption, Rotation},
};
use crate::authorization_server::{error::OAuthError, form::Form};
use crate::metrics::KindLabels;

/// How long a refresh token lives, in seconds: 14 days. Each use replaces it.
const REFRESH_TOKEN_LIFETIME: i64 = 14 * 24 * 60 * 60;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Space-separated, as granted.
    pub scope: String,
    /// Only for clients registered for the `refresh_token` grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl Provider {
    // ANCHOR: token_endpoint
    /// The token endpoint (RFC 6749 §3.2, rule AS-07).
    pub async fn token(
        &self,
        credentials: &ClientCredentials,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        form.reject_repeated()?;
        let client = self.authenticate_client(credentials).await?;
        let (grant_type, issued) = match form.get("grant_type") {
            Some("authorization_code") => {
                ("authorization_code", self.redeem_code(&client, form).await?)
            }
            Some("refresh_token") => ("refresh_token", self.refresh(&client, form).await?),
            Some(_) => return Err(OAuthError::UnsupportedGrantType),
            None => return Err(OAuthError::InvalidRequest("grant_type is required")),
        };
        // Rule P6-07: what `/metrics` counts as `oauth_tokens_issued`.
        (self.metrics.tokens_issued)
            .get_or_create(&KindLabels { kind: grant_type })
            .inc();
        Ok(issued)
    }
    // ANCHOR_END: token_endpoint

    // ANCHOR: redeem_code
    /// The `authorization_code` grant (RFC 6749 §4.1.3, rule AS-02,
    /// AS-03, AS-05).
    ///
    /// The code must exist; it must belong to this client, this redirect
    /// URI and this verifier, or the request is refused and nothing else
    /// happens (a thief's failed replay must not let them revoke the
    /// victim's tokens). Then [`super::store::Store::redeem_code`] decides
    /// in one atomic step, whichever instance each request reached: the
    /// first redemption gets the tokens, a later one revokes them (RFC 6749
    /// §4.1.2, §10.5).
    async fn redeem_code(&self, client: &Client, form: &Form) -> Result<TokenResponse, OAuthError> {
        let code = form
            .get("code")
            .ok_or(OAuthError::InvalidRequest("code is required"))?;
        let now = self.now();
        let record = (self.store.code(&Digest::of(code), now).await?)
            .ok_or(OAuthError::InvalidGrant("unknown or expired code"))?;
        if record.client_id != client.id || form.get("redirect_uri") != Some(&record.redirect_uri) {
            return Err(OAuthError::InvalidGrant(
                "the code was issued to another client or redirect_uri",
            ));
        }
        if !pkce::verify(form.get("code_verifier"), &record.request.code_challenge) {
            return Err(OAuthError::InvalidGrant("code_verifier does not match"));
        }
        if form
            .get("resource")
            .is_some_and(|r| r != record.request.resource)
        {
            return Err(OAuthError::InvalidTarget(
                "resource differs from the authorization request",
            ));
        }
        let family = may_refresh(client).then(new_secret).transpose()?;
        let grant = Grant {
            client_id: client.id.clone(),
            user: record.user.clone(),
            scope: record.request.scope.clone(),
            resource: record.request.resource.clone(),
            expires_at: now + REFRESH_TOKEN_LIFETIME,
            family: family.as_deref().map(Digest::of),
        };
        let issued = (self.new_tokens(&grant, family.as_deref(), &grant.scope)).await?;
        match (self
            .store
            .redeem_code(&Digest::of(code), &grant, &issued.digests, now))
        .await?
        {
            Redemption::Issued(_) => Ok(issued.response),
            Redemption::AlreadyUsed => {
                tracing::warn!(client_id = %client.id, "authorization code reused; its tokens are revoked");
                Err(OAuthError::InvalidGrant("the code was already used"))
            }
            Redemption::Gone => Err(OAuthError::InvalidGrant("unknown or expired code")),
        }
    }
    // ANCHOR_END: redeem_code

    // ANCHOR: refresh
    /// The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3.1, rule
    /// AS-08): every use returns a new refresh token and retires the old
    /// one; a retired one presented again means it was copied, so the
    /// whole grant is revoked. The scope may narrow, never widen. Two
    /// instances given the same token at once: one rotates, the other finds
    /// it retired and revokes ([`super::store::Store::rotate_refresh`]).
    async fn refresh(&self, client: &Client, form: &Form) -> Result<TokenResponse, OAuthError> {
        if !may_refresh(client) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let token = form
            .get("refresh_token")
            .ok_or(OAuthError::InvalidRequest("refresh_token is required"))?;
        let unknown = OAuthError::InvalidGrant("unknown or expired refresh token");
        let (family, _) = token.split_once('.').ok_or(unknown.clone())?;
        let presented = Digest::of(token);
        let (grant_id, grant, current) = (self
            .store
            .refresh_family(&Digest::of(family), &presented, self.now())
            .await?)
            .filter(|(_, grant, _)| grant.client_id == client.id)
            .ok_or(unknown)?;
        let scope = match form.get("scope") {
            None => grant.scope.clone(),
            Some(scope) => {
                let scope: Vec<String> = scope.split(' ').map(str::to_owned).collect();
                if !scope.iter().all(|s| grant.scope.contains(s)) {
                    return Err(OAuthError::InvalidScope("scope wider than granted"));
                }
                scope
            }
        };
        if form.get("resource").is_some_and(|r| r != grant.resource) {
            return Err(OAuthError::InvalidTarget("resource differs from the grant"));
        }
        if current {
            let issued = (self.new_tokens(&grant, Some(family), &scope)).await?;
            let rotation = self
                .store
                .rotate_refresh(grant_id, &presented, &issued.digests);
            if rotation.await? == Rotation::Rotated {
                return Ok(issued.response);
            }
            // Another request rotated it first: the store revoked the grant.
        } else {
            self.store.revoke_grant(grant_id).await?;
        }
        tracing::warn!(client_id = %client.id, "refresh token replayed; the grant is revoked");
        Err(OAuthError::InvalidGrant(
            "the refresh token was already used",
        ))
    }
    // ANCHOR_END: refresh

    // ANCHOR: new_tokens
    /// Makes an access token, a JWT signed with the active key (RFC 9068),
    /// and, for a grant with a refresh-token family, the family's next
    /// refresh token (opaque: only this server reads it): the response for
    /// the client, and the digests for the store, which keeps the access
    /// token's too, so introspection and revocation still know it.
    async fn new_tokens(
        &self,
        grant: &Grant,
        family: Option<&str>,
        scope: &[String],
    ) -> Result<Issued, OAuthError> {
        let now = self.now();
        let (jti, scope_text) = (new_secret()?, scope.join(" "));
        let access_token = (self.sign(&AccessClaims {
            iss: &self.issuer,
            sub: &grant.user,
            aud: &grant.resource,
            exp: now + self.token_lifetime,
            iat: now,
            jti: &jti,
            client_id: &grant.client_id,
            scope: &scope_text,
        }))
        .await?;
        let refresh_token = match family {
            Some(family) => Some(format!("{family}.{}", new_secret()?)),
            None => None,
        };
        Ok(Issued {
            digests: NewTokens {
                access: Digest::of(&access_token),
                scope: scope.to_vec(),
                issued_at: now,
                expires_at: now + self.token_lifetime,
                refresh: refresh_token.as_deref().map(Digest::of),
            },
            response: TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: self.token_lifetime,
                scope: scope_text,
                refresh_token,
            },
        })
    }
    // ANCHOR_END: new_tokens
}

/// New tokens: what the client gets, and what the store keeps.
struct Issued {
    response: TokenResponse,
    digests: NewTokens,
}

/// True for clients registered for the `refresh_token` grant.
fn may_refresh(client: &Client) -> bool {
    client.grant_types.iter().any(|g| g == "refresh_token")
}
