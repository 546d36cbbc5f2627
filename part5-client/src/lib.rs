//! Part 5: the client that completes the three-party flow, beside the
//! protected MCP server of part 4 and the authorization server of part 3.
//!
//! - [`client`]: the MCP client that discovers, registers, logs in through
//!   the browser and calls the tools (binaries `part5-client` and
//!   `part5-scripted-browser`).
//!
//! The servers, unchanged from part 4:
//!
//! - [`settings`]: configuration, checked at start-up.
//! - [`tools`]: the MCP tools, unaware of HTTP and OAuth but for one check.
//! - [`server`]: the web layer — router, transport guards, the authorization
//!   middleware, token introspection and protected-resource metadata.
//! - [`authorization_server`]: the authorization server of part 3, unchanged,
//!   so that this part runs and tests the whole system on its own.

pub mod authorization_server;
pub mod client;
pub mod clock;
pub mod holders;
pub mod limits;
pub mod principal;
pub mod server;
pub mod settings;
pub mod tools;

pub use server::{init_tracing, router, serve, shutdown_signal};
pub use settings::Config;
