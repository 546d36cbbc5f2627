//! The web layer: routes, extractors and responses. It reads a request,
//! hands its inputs to the [`logic`](super::logic) layer and turns the
//! answer into HTTP; it never decides policy.
//!
//! - [`server`]: the route table and the JSON endpoints (`/register`,
//!   `/token`, `/introspect`, `/revoke`, the metadata).
//! - [`login_page`]: `/authorize`, `/login` and the HTML they show.
//! - [`limits`]: the connection and rate limits, as settings.

pub mod limits;
pub mod login_page;
pub mod server;
