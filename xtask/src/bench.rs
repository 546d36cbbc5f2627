//! `cargo xtask bench [--quick] [--part N]`: what a protected tool call
//! costs, measured against the limit of this machine.
//!
//! It builds the authorization server (AS) and resource server (RS) of the
//! newest part that has both, in release mode, starts them on free loopback
//! ports (the RS twice: once with its default introspection cache, once
//! with the cache off), and loads them with wrk, round-robin in slices so
//! that every scenario sees the same machine:
//!
//! | scenario | what one request is |
//! |---|---|
//! | `baseline` | a bare axum handler in this process: the practical limit |
//! | `public` | MCP `tools/call greet`, no token |
//! | `protected-warm` | `tools/call server_time` with a token whose introspection is cached |
//! | `protected-cold` | the same against the RS without a cache: one introspection per call |
//! | `introspect` | the AS's `/introspect` alone |
//! | `public-2026`, `protected-2026` | `greet` and `server_time` at part 6's RS as protocol 2026-07-28 calls them: no session, one plain JSON answer (not with `--quick`) |
//! | `python-sdk-2026` | `greet` at the official Python SDK's server (`bench/python_peer.py`, stateless JSON), called like `public-2026`: the peer row |
//! | `protected-cold-jwt` | `tools/call server_time` at part 6's RS, which checks signed tokens itself (introspection cache off), its AS behind a counting proxy (not with `--quick`) |
//! | `full-flow` | register, authorize, login, token, one after the other (reqwest) |
//! | `full-flow (part 6, SQLite)` | the same flow against part 6's AS on a fresh SQLite file (not with `--quick`) |
//! | `full-flow (part 6, PostgreSQL)` | the same against part 6's AS on a throwaway PostgreSQL |
//!
//! Modules: [`options`](self::options) (flags), [`servers`](self::servers)
//! (build, start, `/proc`), [`local`](self::local) (the baseline and the
//! counting proxy), [`oauth`](self::oauth) (login and MCP handshake over
//! HTTP), [`wrk`](self::wrk) (scripts and report parsing),
//! [`stats`](self::stats) (percentiles), [`run`](self::run) (the rounds) and
//! [`report`](self::report) (table, targets, JSON) with [`svg`](self::svg)
//! (the chart).

mod local;
pub mod oauth;
mod options;
mod report;
mod run;
pub use run::{check_stateless, stateless_spec};
pub mod servers;
pub mod stats;
pub mod svg;
pub mod wrk;

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace;

/// Runs the benchmark; with `--quick`, fails on any error or non-2xx.
///
/// The baseline server and the counting proxy run inside xtask, so xtask
/// itself must be an optimized build: `cargo xtask` builds it in debug
/// mode, and a debug baseline would flatter every ratio. A debug xtask
/// therefore builds its release self (with the `net` feature, and the
/// feature resolution of every other build, `process::cargo_build`), runs
/// `target/release/xtask bench ...` and passes on its exit status.
pub fn run(args: &[String]) -> Result<()> {
    let options = options::Options::parse(args)?;
    if cfg!(debug_assertions) {
        // Built like the servers (`process::cargo_build`), so the release
        // dependencies are compiled once for both.
        let built = crate::process::cargo_build(&["--release", "--quiet", "--bin", "xtask"])?;
        let status = Command::new(built.get("xtask")?)
            .current_dir(workspace::root())
            .arg("bench")
            .args(args)
            .status()
            .context("cannot run the release build of xtask")?;
        if !status.success() {
            bail!("the release build of `xtask bench` failed ({status})");
        }
        return Ok(());
    }
    let results = run::measure(&options)?;
    let report = report::Report::new(&options, &results);
    report.print();
    report.write()?;
    if options.quick && results.errors() > 0 {
        bail!("{} errors or non-2xx responses", results.errors());
    }
    Ok(())
}
