//! Integration tests of part 4, through the real HTTP interface. The
//! no-secrets-in-logs test runs in a binary of its own: `tests/logs/main.rs`.

// A failed `expect` is how a test reports an unexpected state.
#![allow(clippy::expect_used, clippy::unwrap_used)]

// The part under test, by a name every part shares, so the test files that
// later parts carry unchanged (`carried.txt`) need no edit.
extern crate part4_protected_rs as this_part;

// The tools this part's resource server lists, in order; later parts
// may add some, and the carried tests read them from here.
const TOOLS: &[&str] = &["greet", "server_time"];

mod bad_input;
mod client_metadata_documents;
mod codes;
mod end_to_end;
mod floods;
mod flow;
mod input_caps;
mod introspection;
mod login;
mod mcp_http;
mod metadata;
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
mod stand_in;
mod startup;
mod support;
mod token_endpoint;
mod tools;
mod transport;
