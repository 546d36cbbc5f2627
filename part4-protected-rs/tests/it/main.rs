//! Integration tests of part 4, through the real HTTP interface.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

mod metadata;
mod protection;
mod resilience;
mod support;
mod tools;
mod transport;
