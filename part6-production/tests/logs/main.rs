//! The no-secrets-in-logs test of part 6 (rule RS-09), in a test binary of
//! its own: it installs a global `tracing` subscriber, which sees every
//! thread (tokio's workers and its blocking pool included) but can be
//! installed only once per process, and would capture every other test's
//! logs too if it shared their binary.

// A failed `expect` is how a test reports an unexpected state.
#![allow(clippy::expect_used, clippy::unwrap_used)]

// The part under test, by a name every part shares (see tests/it/main.rs).
extern crate part6_production as this_part;

// The helpers of the main test binary; this one uses only a few of them.
#[allow(dead_code)]
#[path = "../it/mcp_http.rs"]
mod mcp_http;
#[path = "../it/no_secrets_in_logs.rs"]
mod no_secrets_in_logs;
#[allow(dead_code)]
#[path = "../it/stand_in.rs"]
mod stand_in;
#[allow(dead_code, unused_imports)]
#[path = "../it/support.rs"]
mod support;
