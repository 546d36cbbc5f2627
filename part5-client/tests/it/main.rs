//! Integration tests of part 5, through the real HTTP interface.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

mod client_cache;
mod client_callback;
mod client_cli;
mod client_flow;
mod client_mock_as;
mod client_mock_rs;
mod client_refusals;
mod client_support;
mod metadata;
mod protection;
mod resilience;
mod support;
mod tools;
mod transport;
