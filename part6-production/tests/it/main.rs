//! Integration tests of part 6, through the real HTTP interface. The
//! no-secrets-in-logs test runs in a binary of its own: `tests/logs/main.rs`.

// A failed `expect` is how a test reports an unexpected state.
#![allow(clippy::expect_used, clippy::unwrap_used)]

// The part under test, by a name every part shares, so the test files that
// later parts carry unchanged (`carried.txt`) need no edit.
extern crate part6_production as this_part;

// This part's binaries, as cargo built them for the tests, by names every
// part shares.
const AS: &str = env!("CARGO_BIN_EXE_part6-as");
const RS: &str = env!("CARGO_BIN_EXE_part6-rs");
const CLIENT: &str = env!("CARGO_BIN_EXE_part6-client");
const SCRIPTED_BROWSER: &str = env!("CARGO_BIN_EXE_part6-scripted-browser");

// The tools this part's resource server lists, in order; later parts
// may add some, and the carried tests read them from here.
const TOOLS: &[&str] = &["greet", "server_time", "whoami"];

mod admin;
mod bad_input;
mod balancer;
mod client_cache;
mod client_callback;
mod client_cli;
mod client_flow;
mod client_metadata_documents;
mod client_mock_as;
mod client_mock_rs;
mod client_protocol;
mod client_refusals;
mod client_support;
mod client_system;
mod codes;
mod end_to_end;
mod floods;
mod flow;
mod input_caps;
mod introspection;
mod local_tokens;
mod login;
mod mcp_http;
mod metadata;
mod persistence;
mod pkce;
mod pkce_rules;
mod properties;
mod protection;
mod redirect_rules;
mod redirects;
mod registration;
mod resilience;
mod resource_metadata;
mod rs_limits;
mod scopes;
mod signed_tokens;
mod stand_in;
mod startup;
mod stateless;
mod support;
mod tls;
mod token_endpoint;
mod tools;
mod transport;
