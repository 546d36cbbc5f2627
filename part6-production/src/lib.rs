//! Part 6: production patterns. The three parties of part 5, with the
//! authorization server's state in a database (SQLite by default,
//! PostgreSQL for several instances), so a restart forgets nothing and two
//! instances can serve one flow.
//!
//! - [`client`]: the MCP client that discovers, registers, logs in through
//!   the browser and calls the tools (binaries `part6-client` and
//!   `part6-scripted-browser`).
//!
//! The resource server, part 5's with what production needs:
//!
//! - [`settings`]: configuration, checked at start-up, with a scope per
//!   protected tool.
//! - [`tools`]: the MCP tools (a third, `whoami`), unaware of HTTP and
//!   OAuth but for one check.
//! - [`server`]: the web layer — router, transport guards, the authorization
//!   middleware, token introspection and protected-resource metadata.
//! - [`authorization_server`]: the authorization server of part 3, whose
//!   store (`logic/store/`) is now a trait with a SQLite and a PostgreSQL
//!   implementation, and whose access tokens are signed JWTs.
//! - [`metrics`]: metrics and health checks on an admin listener, for both
//!   servers.
//! - [`tls`]: HTTPS for both servers, from a certificate and key in PEM
//!   files.
//! - [`balancer`]: the client's address from a trusted load balancer's
//!   PROXY protocol header, for both servers.

pub mod authorization_server;
pub mod balancer;
pub mod client;
pub mod clock;
pub mod holders;
pub mod limits;
pub mod metrics;
pub mod principal;
pub mod server;
pub mod settings;
pub mod tls;
pub mod tools;

pub use server::{init_tracing, router, serve, shutdown_signal};
pub use settings::Config;
