//! The logic layer: everything an authorization server decides, with no
//! HTTP type in sight, so it can be read (and tested) without axum.
//!
//! - [`provider`]: the [`provider::Provider`] that holds the state and the
//!   settings, and the RFC 8414 metadata.
//! - [`clients`]: registration (RFC 7591) and client authentication.
//! - [`client_metadata_document`]: clients whose id is the URL of their
//!   metadata document; [`document_fetch`] fetches it, the one outbound call
//!   the server makes.
//! - [`authorization`]: the authorization request; [`login`]: the sign-in
//!   that answers it, and the code.
//! - [`tokens`]: the token endpoint and its two grants; [`signing`]: the
//!   keys that sign access tokens (RFC 9068) and the JWKS.
//! - [`introspection`]: introspection (RFC 7662) and revocation (RFC 7009).
//! - [`store`]: all state, in a database (SQLite or PostgreSQL) behind one
//!   trait, one atomic step per method; its tables that anonymous requests
//!   can fill are charged to their source in SQL (rule AS-16).
//! - The small rules they share: [`pkce`], [`redirect`] (redirect-URI
//!   rules), [`secret`] (random secrets and digests) and [`users`] (the
//!   password and the throttle).

pub mod authorization;
pub mod client_metadata_document;
pub mod clients;
pub mod document_fetch;
pub mod introspection;
pub mod login;
pub mod pkce;
pub mod provider;
pub mod redirect;
pub mod secret;
pub mod signing;
pub mod store;
pub mod tokens;
pub mod users;
