//! Who is calling: what the resource server knows of a request's caller
//! once its token has been checked. The web layer ([`crate::server`])
//! finds it; the tools ([`crate::tools`]) check it again. It lives apart
//! from both, so neither layer reaches into the other for it.

// ANCHOR: principal
/// The authenticated caller of a request, put in the request's extensions
/// for the tools to check (defence in depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user the token was issued to.
    pub subject: String,
    /// The client the user authorized.
    pub client_id: String,
    pub scopes: Vec<String>,
}
// ANCHOR_END: principal
