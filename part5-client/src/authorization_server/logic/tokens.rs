//! The token endpoint and its two grants (RFC 6749 §3.2, §4.1.3 and §6).
//!
//! Tokens are opaque: 256 random bits that mean nothing outside this
//! server, which keeps only their digests (rule AS-14). A refresh token is
//! two such secrets, `<family>.<secret>`: the first names its grant's
//! family, so that a rotated-away token is still recognised (rule AS-08). A resource server
//! learns what a token allows by asking, at the introspection endpoint.

use serde::Serialize;

use super::{
    clients::ClientCredentials,
    pkce,
    provider::Provider,
    secret::{Digest, new_secret},
    store::{AccessRecord, Client, Grant, Tables},
};
use crate::authorization_server::{error::OAuthError, form::Form};

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
        match form.get("grant_type") {
            Some("authorization_code") => self.redeem_code(&client, form),
            Some("refresh_token") => self.refresh(&client, form),
            Some(_) => Err(OAuthError::UnsupportedGrantType),
            None => Err(OAuthError::InvalidRequest("grant_type is required")),
        }
    }
    // ANCHOR_END: token_endpoint

    // ANCHOR: redeem_code
    /// The `authorization_code` grant (RFC 6749 §4.1.3, rule AS-02,
    /// AS-03, AS-05).
    ///
    /// Under one lock: the code must exist; it must belong to this client,
    /// this redirect URI and this verifier, or the request is refused and
    /// nothing else happens (a thief's failed replay must not let them
    /// revoke the victim's tokens); if it was already used, the tokens of
    /// its first use are revoked (RFC 6749 §4.1.2, §10.5); else it is used.
    fn redeem_code(&self, client: &Client, form: &Form) -> Result<TokenResponse, OAuthError> {
        let code = form
            .get("code")
            .ok_or(OAuthError::InvalidRequest("code is required"))?;
        let now = self.now();
        let mut tables = self.store.lock();
        let record = (tables.codes.get(&Digest::of(code)).cloned())
            .filter(|record| record.expires_at > now)
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
        if let Some(grant) = record.redeemed {
            tables.revoke_grant(grant);
            tracing::warn!(client_id = %client.id, "authorization code reused; its tokens are revoked");
            return Err(OAuthError::InvalidGrant("the code was already used"));
        }
        Tables::ensure_room(tables.grants.len())?;
        let family = may_refresh(client).then(new_secret).transpose()?;
        let grant = Grant {
            client_id: client.id.clone(),
            user: record.user.clone(),
            scope: record.request.scope.clone(),
            resource: record.request.resource.clone(),
            expires_at: now + REFRESH_TOKEN_LIFETIME,
            family: family.as_deref().map(Digest::of),
            refresh: None,
            access: Default::default(),
        };
        let scope = grant.scope.clone();
        let grant_id = tables.insert_grant(grant);
        if let Some(stored) = tables.codes.get_mut(&Digest::of(code)) {
            stored.redeemed = Some(grant_id);
        }
        self.issue_tokens(&mut tables, grant_id, family.as_deref(), &scope)
    }
    // ANCHOR_END: redeem_code

    // ANCHOR: refresh
    /// The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3.1, rule
    /// AS-08): every use returns a new refresh token and retires the old
    /// one; a retired one presented again means it was copied, so the
    /// whole grant is revoked. The scope may narrow, never widen.
    fn refresh(&self, client: &Client, form: &Form) -> Result<TokenResponse, OAuthError> {
        if !may_refresh(client) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let token = form
            .get("refresh_token")
            .ok_or(OAuthError::InvalidRequest("refresh_token is required"))?;
        let now = self.now();
        let mut tables = self.store.lock();
        let (grant_id, current) = (tables.refresh_family(token))
            .ok_or(OAuthError::InvalidGrant("unknown or expired refresh token"))?;
        // Expired is expired from its second on, not from the next sweep.
        let grant = (tables.grants.get(&grant_id).cloned())
            .filter(|grant| grant.client_id == client.id && grant.expires_at > now)
            .ok_or(OAuthError::InvalidGrant("unknown or expired refresh token"))?;
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
        if !current {
            tables.revoke_grant(grant_id);
            tracing::warn!(client_id = %client.id, "refresh token replayed; the grant is revoked");
            return Err(OAuthError::InvalidGrant(
                "the refresh token was already used",
            ));
        }
        let family = token.split_once('.').map(|(family, _)| family);
        self.issue_tokens(&mut tables, grant_id, family, &scope)
    }
    // ANCHOR_END: refresh

    /// Makes an access token (and, for a grant with a refresh-token
    /// family, the family's next refresh token) under `grant_id`, and
    /// stores their digests.
    fn issue_tokens(
        &self,
        tables: &mut Tables,
        grant_id: u64,
        family: Option<&str>,
        scope: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let grant = (tables.grants.get(&grant_id).cloned())
            .ok_or(OAuthError::InvalidGrant("the grant was revoked"))?;
        let access_token = new_secret()?;
        let record = AccessRecord {
            grant: grant_id,
            client_id: grant.client_id.clone(),
            user: grant.user.clone(),
            scope: scope.to_vec(),
            resource: grant.resource.clone(),
            issued_at: now,
            expires_at: now + self.token_lifetime,
        };
        tables.insert_access(Digest::of(&access_token), record);
        let refresh_token = match family {
            Some(family) => {
                let token = format!("{family}.{}", new_secret()?);
                if let Some(grant) = tables.grants.get_mut(&grant_id) {
                    grant.refresh = Some(Digest::of(&token));
                }
                Some(token)
            }
            None => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.token_lifetime,
            scope: scope.join(" "),
            refresh_token,
        })
    }
}

/// True for clients registered for the `refresh_token` grant.
fn may_refresh(client: &Client) -> bool {
    client.grant_types.iter().any(|g| g == "refresh_token")
}
