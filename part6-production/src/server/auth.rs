//! Who may call what: the authorization middleware in front of the MCP
//! service (rule RS-04 … RS-11).
//!
//! Every request is judged on its own: the bearer token is read from the
//! `Authorization` header only, any token presented is validated, and a
//! request that calls a protected tool needs a valid token with the required
//! scope. The decision is made here, at the HTTP layer, because only an HTTP
//! 401 with a `WWW-Authenticate` challenge makes a standard MCP client start
//! the OAuth flow.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    introspection::{TokenVerifier, Verdict},
    transport::JsonRpcBody,
};
use crate::{
    holders::Holders,
    limits::Source,
    principal::Principal,
    settings::{AuthSettings, ConfigError},
};

/// What the middleware needs: settings, the verifier and the session owners.
#[derive(Debug, Clone)]
pub struct AuthState {
    settings: Arc<AuthSettings>,
    verifier: Arc<TokenVerifier>,
    sessions: Arc<SessionOwners>,
}

impl AuthState {
    /// The verifier the middleware asks about tokens.
    pub fn verifier(&self) -> Arc<TokenVerifier> {
        self.verifier.clone()
    }

    pub fn new(settings: Arc<AuthSettings>) -> Result<Self, ConfigError> {
        let verifier = TokenVerifier::new(settings.clone()).map_err(|_| {
            ConfigError::Invalid("RS_AUTH_SERVER_URL", "cannot build an HTTP client")
        })?;
        Ok(Self {
            settings,
            verifier: Arc::new(verifier),
            sessions: Arc::new(SessionOwners::default()),
        })
    }
}

// ANCHOR: authorize
/// The authorization middleware. Preflights never reach it (CORS answers
/// them first, rule TR-03).
pub async fn authorize(
    State(state): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    let settings = &state.settings;
    // P6-05: the scopes this request needs, one per protected tool it calls.
    let required = required_scopes(&request, settings);
    let needs_token = request.method() != Method::OPTIONS && !required.is_empty();
    let reject = |rejection| {
        let scope = match required.is_empty() {
            false => required.join(" "),
            // A token on a public call is still checked (RS-05); a client
            // whose token fails gets the scopes the server knows.
            true => settings.scopes_supported().join(" "),
        };
        reject(settings, rejection, &scope)
    };
    let token = match bearer_token(request.headers()) {
        Ok(token) => token,
        Err(reason) => return reject(Rejection::InvalidRequest(reason)),
    };

    // RS-05: a presented token is always validated, even for a public tool.
    let principal = match token {
        None => None,
        Some(token) => match (state
            .verifier
            .verify(token, calls_introspected_tool(&request, settings)))
        .await
        {
            Ok(Verdict::Active(info)) if info.audiences.contains(&settings.resource) => {
                Some(Principal {
                    subject: info.subject,
                    client_id: info.client_id,
                    scopes: info.scopes,
                })
            }
            // RS-07: a token for another resource is as good as none.
            Ok(_) => return reject(Rejection::InvalidToken),
            Err(_) => return reject(Rejection::Unavailable),
        },
    };
    if needs_token {
        match &principal {
            None => return reject(Rejection::Missing),
            Some(principal)
                if !required
                    .iter()
                    .all(|s| principal.scopes.iter().any(|p| p == s)) =>
            {
                return reject(Rejection::InsufficientScope);
            }
            Some(_) => {}
        }
    }

    // RS-10: a session is not a credential.
    let session = session_id(request.headers());
    if let Some(session) = &session {
        match state.sessions.admits(session, principal.as_ref()) {
            Admission::Admitted => {}
            Admission::Foreign => return reject(Rejection::ForeignSession),
            Admission::Ended => return reject(Rejection::EndedSession),
        }
    }
    let source = (request.extensions().get::<ConnectInfo<SocketAddr>>())
        .map_or(Source::of(IpAddr::from([0, 0, 0, 0])), |info| {
            Source::of(info.0.ip())
        });
    let method = request.method().clone();
    if let Some(principal) = &principal {
        request.extensions_mut().insert(principal.clone());
    }
    let response = next.run(request).await;
    match (&session, session_id(response.headers())) {
        (None, Some(created)) => state.sessions.record(created, principal, source),
        (Some(ended), _) if method == Method::DELETE && response.status().is_success() => {
            state.sessions.forget(ended);
        }
        _ => {}
    }
    response
}
// ANCHOR_END: authorize

// ANCHOR: bearer_token
/// The bearer token of a request, from the `Authorization` header only
/// (rule RS-08, RFC 6750 §2.1): `?access_token=` is never read. Another
/// scheme counts as no token; two headers, or `Bearer` without a token, are
/// malformed requests (RFC 6750 §3.1 `invalid_request`).
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value
        .to_str()
        .map_err(|_| "the Authorization header is not ASCII")?;
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = credentials.trim();
    if token.is_empty() {
        return Err("the Bearer scheme carries no token");
    }
    if token.contains(char::is_whitespace) {
        return Err("more than one token in the Authorization header");
    }
    Ok(Some(token))
}
// ANCHOR_END: bearer_token

// ANCHOR: calls_protected_tool
/// The scopes a request needs: `RS_REQUIRED_SCOPE` when `*` protects
/// everything, and the scope of each protected tool it calls (rule P6-05).
/// The JSON-RPC body decides, for single messages and batches alike; the
/// `Mcp-Method`/`Mcp-Name` headers of protocol 2026-07-28 are hints a
/// client could set to anything. Empty: the request needs no token.
fn required_scopes<'s>(request: &Request, settings: &'s AuthSettings) -> Vec<&'s str> {
    let everything = (settings.protect_everything).then_some(settings.required_scope.as_str());
    let mut scopes: Vec<&str> = everything.into_iter().collect();
    for tool in called_tools(request) {
        if let Some(scope) = settings.scope_of(tool)
            && !scopes.contains(&scope)
        {
            scopes.push(scope);
        }
    }
    scopes
}

/// True when the request calls a tool of `RS_INTROSPECT_TOOLS`, whose
/// tokens are introspected even when signed ones are checked here.
fn calls_introspected_tool(request: &Request, settings: &AuthSettings) -> bool {
    settings.local_jwt
        && called_tools(request)
            .into_iter()
            .any(|tool| settings.introspect_tools.iter().any(|t| t == tool))
}

/// The tools the `tools/call` messages of the request's JSON-RPC body name.
fn called_tools(request: &Request) -> Vec<&str> {
    let Some(JsonRpcBody(body)) = request.extensions().get::<JsonRpcBody>() else {
        return Vec::new();
    };
    let messages: &[Value] = match body.as_ref() {
        Value::Array(batch) => batch,
        single => std::slice::from_ref(single),
    };
    messages
        .iter()
        .filter(|message| message["method"] == "tools/call")
        // A call that names no tool calls nothing: rmcp rejects it as
        // invalid params, token or not.
        .filter_map(|message| message["params"]["name"].as_str())
        .collect()
}
// ANCHOR_END: calls_protected_tool

// ANCHOR: reject
/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// rule RS-04: no token where one is needed.
    Missing,
    /// rule RS-05, RS-07: unknown, expired, revoked or foreign token.
    InvalidToken,
    /// rule RS-06, P6-05: valid token without a scope the call needs.
    InsufficientScope,
    /// rule RS-08: a malformed Authorization header.
    InvalidRequest(&'static str),
    /// rule RS-10: the session belongs to another user.
    ForeignSession,
    /// A session this server no longer holds: 404, so the client begins a
    /// new one (MCP Streamable HTTP, session management).
    EndedSession,
    /// rule RS-12: the authorization server cannot be asked; fail closed.
    Unavailable,
}

/// The HTTP answer for a rejection: status, RFC 6750 §3 challenge, JSON body.
pub fn reject(settings: &AuthSettings, rejection: Rejection, scope: &str) -> Response {
    let metadata = &settings.resource_metadata_url;
    let (status, challenge, error, description) = match rejection {
        Rejection::Missing => (
            StatusCode::UNAUTHORIZED,
            format!(r#"Bearer resource_metadata="{metadata}", scope="{scope}""#),
            "unauthorized",
            "this call needs an access token",
        ),
        Rejection::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            format!(
                r#"Bearer error="invalid_token", error_description="the access token is invalid, expired or not for this resource", resource_metadata="{metadata}", scope="{scope}""#
            ),
            "invalid_token",
            "the access token is invalid, expired or not for this resource",
        ),
        Rejection::InsufficientScope => (
            StatusCode::FORBIDDEN,
            format!(
                r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{metadata}", error_description="the access token lacks the scope {scope}""#
            ),
            "insufficient_scope",
            "the access token lacks a scope this call needs",
        ),
        Rejection::InvalidRequest(reason) => (
            StatusCode::BAD_REQUEST,
            format!(r#"Bearer error="invalid_request", error_description="{reason}""#),
            "invalid_request",
            reason,
        ),
        Rejection::ForeignSession => (
            StatusCode::FORBIDDEN,
            String::new(),
            "forbidden",
            "this session belongs to another caller; start a new session",
        ),
        Rejection::EndedSession => (
            StatusCode::NOT_FOUND,
            String::new(),
            "not_found",
            "this session has ended; start a new session",
        ),
        Rejection::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            String::new(),
            "temporarily_unavailable",
            "the authorization server cannot be reached; try again later",
        ),
    };
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(challenge) = HeaderValue::from_str(&challenge)
        && !challenge.is_empty()
    {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if rejection == Rejection::Unavailable {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
// ANCHOR_END: reject

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

// ANCHOR: session_owners
/// Who began each session (rule RS-10). A session begun without a token
/// belongs to the first user who presents one in it (the client that logs in
/// after a 401 keeps its session); from then on only that user may use it.
///
/// Anyone may begin a session without a token, so the table is bounded the
/// way rule AS-16 asks: each session is charged to the address that began
/// it, a source over its share loses its own oldest session, and a full
/// table takes the oldest session of the source that holds the most. A
/// session this table no longer knows is ended (404, and the client starts
/// a new one): it is never handed to whoever asks next.
#[derive(Debug, Default)]
pub struct SessionOwners {
    inner: Mutex<Owners>,
}

/// Each session's owner, if it has one yet, and who began it; and per
/// source, its sessions oldest first.
#[derive(Debug, Default)]
struct Owners {
    by_session: HashMap<String, (Option<Owner>, Source)>,
    holders: Holders,
}

/// A session owner: the user and the client, as introspection named them.
type Owner = (String, String);

/// Sessions remembered at most.
const SESSION_CAPACITY: usize = 100_000;

/// Sessions one source may hold: a client keeps one or two.
const SESSIONS_PER_SOURCE: usize = 256;

impl SessionOwners {
    fn admits(&self, session: &str, principal: Option<&Principal>) -> Admission {
        let mut owners = self.lock();
        let caller = principal.map(|p| (p.subject.clone(), p.client_id.clone()));
        match owners.by_session.get_mut(session) {
            // Ended here (or never begun): rmcp answers 404 for sessions it
            // does not know, and so does this table.
            None => Admission::Ended,
            Some((owner @ None, _)) => {
                *owner = caller;
                Admission::Admitted
            }
            Some((Some(owner), _)) if caller.as_ref() == Some(owner) => Admission::Admitted,
            Some(_) => Admission::Foreign,
        }
    }

    fn record(&self, session: String, principal: Option<Principal>, source: Source) {
        let mut owners = self.lock();
        let victim = if owners.holders.count(source) >= SESSIONS_PER_SOURCE {
            owners.holders.oldest_of(source)
        } else if owners.by_session.len() >= SESSION_CAPACITY {
            owners.holders.largest().map(|(_, session)| session)
        } else {
            None
        };
        if let Some(victim) = victim {
            owners.remove(&victim);
        }
        let owner = principal.map(|p| (p.subject, p.client_id));
        owners.by_session.insert(session.clone(), (owner, source));
        owners.holders.add(source, session);
    }

    fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    /// The owners; a panic elsewhere while holding the lock leaves the map
    /// usable, so poisoning is ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, Owners> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Owners {
    fn remove(&mut self, session: &str) {
        if let Some((_, source)) = self.by_session.remove(session) {
            self.holders.remove(source, session);
        }
    }
}

/// Whether a request may use the session it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Admitted,
    /// Another user's session (rule RS-10).
    Foreign,
    /// Not a session this server holds (any more).
    Ended,
}
// ANCHOR_END: session_owners

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("ascii"),
            );
        }
        map
    }

    #[test]
    fn rs08_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Ok(Some("abc")));
        assert_eq!(bearer_token(&headers(&["bEaReR abc"])), Ok(Some("abc")));
        assert_eq!(bearer_token(&headers(&["Basic dXNlcjpwdw=="])), Ok(None));
        assert_eq!(bearer_token(&headers(&[])), Ok(None));
    }

    #[test]
    fn rs08_malformed_authorization_is_invalid_request() {
        assert!(bearer_token(&headers(&["Bearer"])).is_err());
        assert!(bearer_token(&headers(&["Bearer   "])).is_err());
        assert!(bearer_token(&headers(&["Bearer a b"])).is_err());
        assert!(bearer_token(&headers(&["Bearer a", "Bearer b"])).is_err());
    }

    #[test]
    fn rs10_session_owner_is_fixed_by_the_first_token() {
        let owners = SessionOwners::default();
        let alice = Principal {
            subject: "alice".into(),
            client_id: "c".into(),
            scopes: vec![],
        };
        let bob = Principal {
            subject: "bob".into(),
            ..alice.clone()
        };
        let here = Source::of(IpAddr::from([127, 0, 0, 1]));
        owners.record("s".into(), None, here);
        assert_eq!(owners.admits("s", None), Admission::Admitted);
        assert_eq!(owners.admits("s", Some(&alice)), Admission::Admitted);
        assert_eq!(owners.admits("s", Some(&alice)), Admission::Admitted);
        assert_eq!(owners.admits("s", Some(&bob)), Admission::Foreign);
        assert_eq!(owners.admits("s", None), Admission::Foreign);
        owners.forget("s");
        assert_eq!(
            owners.admits("s", Some(&bob)),
            Admission::Ended,
            "an ended session is never handed to the next caller"
        );
    }

    /// Anonymous sessions are charged to their source: a flood of them
    /// ends its own oldest sessions, never another user's (rule AS-16,
    /// RS-10).
    #[test]
    fn as16_a_session_flood_ends_only_its_own_sessions() {
        let owners = SessionOwners::default();
        let alice = Principal {
            subject: "alice".into(),
            client_id: "c".into(),
            scopes: vec![],
        };
        let person = Source::of(IpAddr::from([127, 0, 0, 2]));
        let flood = Source::of(IpAddr::from([127, 0, 0, 1]));
        owners.record("alice's".into(), Some(alice.clone()), person);
        for n in 0..(SESSIONS_PER_SOURCE + 1_000) {
            owners.record(format!("flood{n}"), None, flood);
        }
        assert_eq!(owners.admits("alice's", Some(&alice)), Admission::Admitted);
        assert_eq!(owners.admits("flood0", None), Admission::Ended);
        let last = format!("flood{}", SESSIONS_PER_SOURCE + 999);
        assert_eq!(owners.admits(&last, None), Admission::Admitted);
        assert_eq!(owners.lock().by_session.len(), SESSIONS_PER_SOURCE + 1);
    }
}
