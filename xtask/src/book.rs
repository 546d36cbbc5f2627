//! `cargo xtask book`: checks the book's sources, then builds it with
//! mdBook and fails on any warning.
//!
//! mdBook exits 0 after logging a missing include or a broken link, so its
//! exit status alone proves little: `check` runs first, and any `WARN` or
//! `ERROR` line mdBook prints fails the build too.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{check, workspace};

/// Runs `check`, installs mdBook if needed, then `mdbook build book`.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("unexpected argument `{arg}`\n\nusage: cargo xtask book");
    }
    check::run(&[])?;
    ensure_mdbook()?;
    let root = workspace::root();
    let output = Command::new("mdbook")
        .current_dir(&root)
        .args(["build", "book"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .context("cannot run mdbook")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    if !output.status.success() {
        bail!("mdbook build failed ({})", output.status);
    }
    let complaints = complaints(&stdout, &stderr);
    if !complaints.is_empty() {
        bail!(
            "mdbook reported {} warning(s) or error(s):\n{}",
            complaints.len(),
            complaints.join("\n")
        );
    }
    println!(
        "book: built {}",
        root.join("book/book/index.html").display()
    );
    Ok(())
}

/// The lines mdBook logs at warning or error level, in either of its log
/// formats (`[WARN] (mdbook::…)` in 0.4, `WARN mdbook…` in 0.5).
fn complaints<'a>(stdout: &'a str, stderr: &'a str) -> Vec<&'a str> {
    stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| {
            strip_ansi(line)
                .split(|ch: char| !ch.is_ascii_alphabetic())
                .any(|word| word == "WARN" || word == "ERROR")
        })
        .collect()
}

/// Removes `ESC [ ... m` colour codes, in case mdBook colours its log
/// despite `NO_COLOR` and a pipe.
fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        if ch == '\x1b' {
            for code in chars.by_ref() {
                if code.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(ch);
        }
    }
    plain
}

/// `cargo install --locked mdbook` when `mdbook --version` does not run.
fn ensure_mdbook() -> Result<()> {
    let installed = Command::new("mdbook")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Ok(());
    }
    println!("mdbook not found: cargo install --locked mdbook");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", "--locked", "mdbook"])
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!("cargo install --locked mdbook failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_are_caught_in_both_log_formats() {
        let stderr = "2026-01-01 INFO Book building has started\n\
                      2026-01-01 WARN mdbook::preprocess: Unable to find x\n\
                      [ERROR] (mdbook::renderer): boom\n\
                      \x1b[33mWARN\x1b[0m coloured\n\
                      a WARNING-free line about WARNINGS\n";
        assert_eq!(
            complaints("", stderr),
            [
                "2026-01-01 WARN mdbook::preprocess: Unable to find x",
                "[ERROR] (mdbook::renderer): boom",
                "\x1b[33mWARN\x1b[0m coloured",
            ]
        );
    }
}
