//! Integration tests of part 1, through the real HTTP interface.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

mod support;
mod tools;
mod transport;
