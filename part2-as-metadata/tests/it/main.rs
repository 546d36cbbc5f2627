//! Integration tests of part 2, through the real HTTP interface.

// A failed `expect` is how a test reports an unexpected state.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod metadata;
mod support;
mod tools;
mod transport;
