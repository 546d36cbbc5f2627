//! Integration tests of part 1, through the real HTTP interface.

mod support;
mod tools;
mod transport;
