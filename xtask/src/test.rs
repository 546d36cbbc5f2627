//! `cargo xtask test [ARGS...]`: every test of every part, plus xtask's
//! own, which include the `check` rules and the freshness of generated
//! diffs. Extra arguments go to `cargo test` unchanged
//! (`cargo xtask test -- --nocapture`).
//!
//! xtask's `net` feature is on, so the tests of `bench` and `interop` run
//! too; it costs nothing extra, since in one `cargo test --workspace` its
//! HTTP crates are the ones the parts build anyway.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{process, workspace};

/// Runs `cargo test --workspace --features xtask/net ARGS...` from the
/// repository root.
pub fn run(args: &[String]) -> Result<()> {
    let mut command = Command::new(process::cargo());
    command
        .current_dir(workspace::root())
        .args(["test", "--workspace", "--features", "xtask/net"])
        .args(args);
    if std::env::var_os("CI").is_some() {
        // CI must fail on a missing or changed snapshot, never write one:
        // `no` is insta's default under CI, spelled out so nothing in the
        // environment can change it, and a stray FORCE_PASS cannot hide one.
        command
            .env("INSTA_UPDATE", "no")
            .env_remove("INSTA_FORCE_PASS");
    }
    let status = command.status().context("cannot run cargo test")?;
    if !status.success() {
        bail!("cargo test --workspace --features xtask/net failed ({status})");
    }
    Ok(())
}
