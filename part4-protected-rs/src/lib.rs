//! Part 4: the MCP server of part 1, now protected by the authorization
//! server of part 3.
//!
//! The single file of part 1 is split here into the layers later parts keep:
//!
//! - [`settings`]: configuration, checked at start-up (connection limits
//!   included).
//! - [`principal`]: who is calling, as the web layer found and the tools
//!   check it.
//! - [`clock`]: the time token expiry is read from, which tests move forward.
//! - [`limits`]: serving with connection limits, from part 3.
//! - [`tools`]: the MCP tools, unaware of HTTP and OAuth but for one check.
//! - [`server`]: the web layer — router, transport guards, the authorization
//!   middleware, token introspection and protected-resource metadata.
//! - [`authorization_server`]: the authorization server of part 3, unchanged,
//!   so that this part runs and tests the whole system on its own.

pub mod authorization_server;
pub mod clock;
pub mod holders;
pub mod limits;
pub mod principal;
pub mod server;
pub mod settings;
pub mod tools;

pub use server::{init_tracing, router, serve, shutdown_signal};
pub use settings::Config;
