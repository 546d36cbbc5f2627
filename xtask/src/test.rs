//! `cargo xtask test [ARGS...]`: every test of every part, plus xtask's
//! own, which include the `check` rules and the freshness of generated
//! diffs. Extra arguments go to `cargo test` unchanged
//! (`cargo xtask test -- --nocapture`).

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace;

/// Runs `cargo test --workspace ARGS...` from the repository root.
pub fn run(args: &[String]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace::root())
        .args(["test", "--workspace"])
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
        bail!("cargo test --workspace failed ({status})");
    }
    Ok(())
}
