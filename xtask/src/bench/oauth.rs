//! The OAuth flow and the MCP handshake, driven over HTTP as a client and
//! a browser would: register (RFC 7591), `GET /authorize`, read the login
//! form, post the credentials with its CSRF token and cookie, take the code
//! from the 303, redeem it at `/token` with the PKCE verifier and the
//! `resource` (RFC 8707). Nothing reaches into the servers' memory.

use anyhow::{Context, Result, bail, ensure};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Client, StatusCode, header};
use sha2::{Digest as _, Sha256};

/// The demo user of the authorization server (its defaults).
pub const USERNAME: &str = "demo_user";
pub const PASSWORD: &str = "demo_password";
/// The redirect URI the bench registers. A loopback URI is allowed on any
/// port (RFC 8252 §7.3); nothing listens there, the code is read from the
/// `Location` header instead.
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";
/// The protocol version of every MCP request after `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// A client that neither follows redirects nor uses a proxy.
pub fn http_client() -> Result<Client> {
    http_client_from(None)
}

/// [`http_client`], its connections leaving from `source` when given (a
/// loopback address other than 127.0.0.1: another source for the servers'
/// per-source limits, since Linux routes all of 127.0.0.0/8 to `lo`).
pub fn http_client_from(source: Option<std::net::IpAddr>) -> Result<Client> {
    Client::builder()
        .no_proxy()
        .local_address(source)
        // The servers close a keep-alive connection after 10 s idle (their
        // header-read timeout, rule AS-19); between rounds the flows' pooled
        // connections sit idle for minutes, and reusing one just as the
        // server closes it fails the request ("connection closed before
        // message completed"). Drop them first.
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build an HTTP client")
}

/// How long each step of one flow took, in microseconds: register,
/// authorize (the login page), login (the password check), token.
pub type StepTimes = [f64; 4];

/// The names of [`StepTimes`], in order.
pub const STEPS: [&str; 4] = ["register", "authorize", "login", "token"];

/// One whole authorization-code flow; returns the access token for
/// `resource`.
pub async fn login(http: &Client, issuer: &str, resource: &str) -> Result<String> {
    timed_login(http, issuer, resource)
        .await
        .map(|(token, _)| token)
}

/// [`login`], timing each step.
pub async fn timed_login(
    http: &Client,
    issuer: &str,
    resource: &str,
) -> Result<(String, StepTimes)> {
    let flow = full_flow(http, issuer, resource, false).await?;
    let token = flow.tokens["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the token response has no access_token")?;
    Ok((token, flow.times))
}

/// Revokes the refresh token of `flow` (RFC 7009), which ends its grant.
pub async fn log_out(http: &Client, issuer: &str, flow: &Flow) -> Result<()> {
    let refresh = flow.tokens["refresh_token"]
        .as_str()
        .context("the token response has no refresh_token")?;
    let response = http
        .post(format!("{issuer}/revoke"))
        .form(&[("token", refresh), ("client_id", flow.client_id.as_str())])
        .send()
        .await?;
    expect(response, StatusCode::OK, "revoke").await?;
    Ok(())
}

/// What one whole flow gave: the client it registered, the token
/// response, and how long each step took.
#[derive(Debug, Clone)]
pub struct Flow {
    pub client_id: String,
    pub tokens: serde_json::Value,
    pub times: StepTimes,
}

/// Register, authorize, log in, redeem. With `refresh`, the client
/// registers for the `refresh_token` grant too, so the token response
/// carries a refresh token.
pub async fn full_flow(http: &Client, issuer: &str, resource: &str, refresh: bool) -> Result<Flow> {
    full_flow_for(http, issuer, resource, "mcp:tools", refresh).await
}

/// [`full_flow`], asking for `scope`.
pub async fn full_flow_for(
    http: &Client,
    issuer: &str,
    resource: &str,
    scope: &str,
    refresh: bool,
) -> Result<Flow> {
    let mut times = [0.0; 4];
    let mut clock = std::time::Instant::now();
    let mut lap = |step: usize| {
        times[step] = clock.elapsed().as_secs_f64() * 1e6;
        clock = std::time::Instant::now();
    };
    let client_id = register(http, issuer, refresh).await?;
    lap(0);
    let mut request = AuthorizeRequest::new(&client_id, resource);
    request.scope = scope.to_owned();
    let page = open_login_page(http, issuer, &request).await?;
    lap(1);
    let code = submit_login(http, issuer, &page, &request.state).await?;
    lap(2);
    let tokens = redeem(http, issuer, &request, &code).await?;
    lap(3);
    Ok(Flow {
        client_id,
        tokens,
        times,
    })
}

/// Refreshes `refresh` for `client_id` (RFC 6749 §6); the token response,
/// whose refresh token replaces the one sent (rotation).
pub async fn refresh(
    http: &Client,
    issuer: &str,
    client_id: &str,
    refresh: &str,
) -> Result<serde_json::Value> {
    Ok(expect(
        http.post(format!("{issuer}/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", client_id),
            ])
            .send()
            .await?,
        StatusCode::OK,
        "refresh",
    )
    .await?
    .json()
    .await?)
}

/// Registers a public client for [`REDIRECT_URI`] (RFC 7591); returns its
/// `client_id`. With `refresh`, it asks for the `refresh_token` grant too.
pub async fn register(http: &Client, issuer: &str, refresh: bool) -> Result<String> {
    let mut metadata = serde_json::json!({
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "client_name": "xtask bench",
    });
    if refresh {
        metadata["grant_types"] = serde_json::json!(["authorization_code", "refresh_token"]);
    }
    let registered: serde_json::Value = expect(
        http.post(format!("{issuer}/register"))
            .json(&metadata)
            .send()
            .await?,
        StatusCode::CREATED,
        "register",
    )
    .await?
    .json()
    .await?;
    registered["client_id"]
        .as_str()
        .map(str::to_owned)
        .context("registration returned no client_id")
}

/// One authorization request: the client, a fresh PKCE verifier and
/// `state`, and the resource the token is for.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub verifier: String,
    pub state: String,
    pub resource: String,
    /// `mcp:tools` unless changed.
    pub scope: String,
}

impl AuthorizeRequest {
    pub fn new(client_id: &str, resource: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            verifier: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            state: uuid::Uuid::new_v4().simple().to_string(),
            resource: resource.to_owned(),
            scope: "mcp:tools".to_owned(),
        }
    }

    /// The query of `GET /authorize` (RFC 6749 §4.1.1, RFC 7636, RFC 8707).
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()));
        vec![
            ("response_type", "code".into()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", REDIRECT_URI.into()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".into()),
            ("state", self.state.clone()),
            ("resource", self.resource.clone()),
            ("scope", self.scope.clone()),
        ]
    }
}

/// What a browser keeps from the login page: its session cookie and the
/// form's hidden sign-in id and CSRF token.
#[derive(Debug, Clone)]
pub struct LoginPage {
    /// `name=value`, ready for a `Cookie` header.
    pub cookie: String,
    pub pending: String,
    pub csrf: String,
}

/// `GET /authorize`, and the login page it answers with.
pub async fn open_login_page(
    http: &Client,
    issuer: &str,
    request: &AuthorizeRequest,
) -> Result<LoginPage> {
    let page = expect(
        http.get(format!("{issuer}/authorize"))
            .query(&request.query())
            .send()
            .await?,
        StatusCode::OK,
        "authorize",
    )
    .await?;
    let cookie = session_cookie(page.headers()).context("the login page set no cookie")?;
    let html = page.text().await?;
    Ok(LoginPage {
        cookie,
        pending: hidden_field(&html, "pending").context("no `pending` field in the form")?,
        csrf: hidden_field(&html, "csrf").context("no `csrf` field in the form")?,
    })
}

/// Posts the demo user's credentials on `page` and approves; returns the
/// code from the 303, after checking that `state` came back unchanged.
pub async fn submit_login(
    http: &Client,
    issuer: &str,
    page: &LoginPage,
    state: &str,
) -> Result<String> {
    let answer = expect(
        http.post(format!("{issuer}/login"))
            .header(header::COOKIE, &page.cookie)
            .form(&[
                ("pending", page.pending.as_str()),
                ("csrf", page.csrf.as_str()),
                ("username", USERNAME),
                ("password", PASSWORD),
                ("action", "approve"),
            ])
            .send()
            .await?,
        StatusCode::SEE_OTHER,
        "login",
    )
    .await?;
    let location = answer
        .headers()
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .context("the login answer has no Location")?;
    let location = url::Url::parse(location).context("Location is not a URL")?;
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    ensure!(param("state").as_deref() == Some(state), "state changed");
    param("code").with_context(|| format!("no code in {location}"))
}

/// Redeems `code` at `/token` with the PKCE verifier and the resource;
/// returns the token response.
pub async fn redeem(
    http: &Client,
    issuer: &str,
    request: &AuthorizeRequest,
    code: &str,
) -> Result<serde_json::Value> {
    Ok(expect(
        http.post(format!("{issuer}/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", request.client_id.as_str()),
                ("code_verifier", request.verifier.as_str()),
                ("resource", request.resource.as_str()),
            ])
            .send()
            .await?,
        StatusCode::OK,
        "token",
    )
    .await?
    .json()
    .await?)
}

/// Starts an MCP session (`initialize`, then `notifications/initialized`),
/// with a token when given; returns the session id.
pub async fn mcp_session(http: &Client, mcp_url: &str, token: Option<&str>) -> Result<String> {
    let mut request = mcp_post(http, mcp_url, token, None).json(&serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "xtask-bench", "version": "0" }
        }
    }));
    request = request.header("mcp-protocol-version", PROTOCOL_VERSION);
    let response = expect(request.send().await?, StatusCode::OK, "initialize").await?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .context("initialize returned no Mcp-Session-Id")?
        .to_owned();
    let _ = response.text().await?;
    let notified = mcp_post(http, mcp_url, token, Some(&session))
        .json(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await?;
    ensure!(
        notified.status().is_success(),
        "notifications/initialized answered {}",
        notified.status()
    );
    Ok(session)
}

/// Sends `body` once the way wrk will, and checks that the answer is a
/// 200 whose JSON-RPC message is a result, not an error: wrk only sees the
/// status code, so this proves the status means what the scenario claims.
pub async fn check_call(
    http: &Client,
    mcp_url: &str,
    token: Option<&str>,
    session: &str,
    body: &str,
) -> Result<()> {
    let response = mcp_post(http, mcp_url, token, Some(session))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(
        status == StatusCode::OK,
        "{mcp_url} answered {status}: {text}"
    );
    ensure!(
        text.contains("\"result\"") && !text.contains("\"isError\":true"),
        "{mcp_url} answered an error: {text}"
    );
    Ok(())
}

fn mcp_post(
    http: &Client,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = http
        .post(url)
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION);
    }
    request
}

/// Fails with the body when the status is not `want`.
async fn expect(
    response: reqwest::Response,
    want: StatusCode,
    step: &str,
) -> Result<reqwest::Response> {
    if response.status() == want {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    bail!("{step}: expected {want}, got {status}: {body}")
}

/// `name=value` of the first `Set-Cookie`, ready for a `Cookie` header.
pub fn session_cookie(headers: &header::HeaderMap) -> Option<String> {
    let value = headers.get(header::SET_COOKIE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_owned())
}

/// The value of `<input ... name="NAME" value="VALUE">` in the login page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let start = html.find(&marker)? + marker.len();
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[start..tag_end];
    let value_start = tag.find("value=\"")? + "value=\"".len();
    let value_end = value_start + tag[value_start..].find('"')?;
    Some(tag[value_start..value_end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_fields_are_read_from_the_login_form() {
        let html = r#"<form method="post" action="/login"><input type="hidden" name="pending" value="p-123"><input type="hidden" name="csrf" value="c_456"><label>User name <input name="username"></label></form>"#;
        assert_eq!(hidden_field(html, "pending").as_deref(), Some("p-123"));
        assert_eq!(hidden_field(html, "csrf").as_deref(), Some("c_456"));
        assert_eq!(hidden_field(html, "username"), None);
        assert_eq!(hidden_field(html, "missing"), None);
    }
}
