//! Integration tests of part 3, through the real HTTP interface.

// A failed `expect` is how a test reports an unexpected state.
#![allow(clippy::expect_used, clippy::unwrap_used)]

// The part under test, by a name every part shares, so the test files that
// later parts carry unchanged (`carried.txt`) need no edit.
extern crate part3_as_full as this_part;

mod bad_input;
mod client_metadata_documents;
mod codes;
mod floods;
mod flow;
mod input_caps;
mod introspection;
mod login;
mod metadata;
mod pkce;
mod pkce_rules;
mod properties;
mod redirect_rules;
mod redirects;
mod registration;
mod startup;
mod support;
mod token_endpoint;
mod tools;
mod transport;
