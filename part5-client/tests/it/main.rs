//! Integration tests of part 1, through the real HTTP interface.

mod client_cache;
mod client_callback;
mod client_cli;
mod client_flow;
mod client_mock_as;
mod client_mock_rs;
mod client_refusals;
mod client_support;
mod support;
mod tools;
mod transport;
