//! `cargo xtask book [--screenshot]`: checks the book's sources, then
//! builds it with mdBook and fails on any warning.
//!
//! mdBook exits 0 after logging a missing include or a broken link, so its
//! exit status alone proves little: `check` runs first, and any `WARN` or
//! `ERROR` line mdBook prints fails the build too.
//!
//! The diagrams are ```` ```mermaid ```` blocks, turned into `<pre
//! class="mermaid">` by the `mdbook-mermaid` preprocessor and into SVG by
//! the checked-in `book/mermaid.min.js` in the reader's browser. Neither
//! step fails loudly, so `--screenshot` ([`screenshot`]) opens a chapter in
//! headless Chromium and asserts on the rendered page.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{check, workspace};

mod screenshot;

/// The mdBook release line the book is built with.
const MDBOOK_VERSION: &str = "0.5";
/// mdbook-mermaid 0.17 is the first release built on mdBook 0.5's
/// preprocessor crate (0.16 speaks mdBook 0.4's protocol); pinned so the
/// checked-in `mermaid.min.js` (mermaid 11.6.0) matches the one it ships.
///
/// It is installed *without* `--locked`: its lockfile pins
/// `mdbook-preprocessor` 0.5.0, and a preprocessor built against any other
/// mdBook version than the running one prints a `Warning:` on every build
/// (it compares the two version strings exactly). Resolving afresh links the
/// newest 0.5.x, the same release as a current `mdbook`.
const MDBOOK_MERMAID_VERSION: &str = "0.17.1";

const USAGE: &str = "usage: cargo xtask book [--screenshot]

--screenshot  also open book/book/part4.html in headless Chromium (installed
              with apt-get when missing), assert that its code blocks and
              mermaid diagrams rendered, and save target/book/part4.png";

/// Runs `check`, installs mdBook and mdbook-mermaid if needed, then
/// `mdbook build book`; with `--screenshot`, checks the rendered page too.
pub fn run(args: &[String]) -> Result<()> {
    let mut screenshot = false;
    for arg in args {
        match arg.as_str() {
            "--screenshot" => screenshot = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument `{other}`\n\n{USAGE}"),
        }
    }
    check::run(&[])?;
    ensure_tools()?;
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
        let hint = if complaints
            .iter()
            .any(|line| line.contains("was built against version"))
        {
            format!(
                "\n\na preprocessor linked against another mdBook release: rebuild it against this one with\n  \
                 cargo install --force mdbook-mermaid --version ={MDBOOK_MERMAID_VERSION}   (no --locked)"
            )
        } else {
            String::new()
        };
        bail!(
            "mdbook reported {} warning(s) or error(s):\n{}{hint}",
            complaints.len(),
            complaints.join("\n")
        );
    }
    println!(
        "book: built {}",
        root.join("book/book/index.html").display()
    );
    if screenshot {
        screenshot::run(&root)?;
    }
    Ok(())
}

/// The lines mdBook logs at warning or error level, in either of its log
/// formats (`[WARN] (mdbook::…)` in 0.4, `WARN mdbook…` in 0.5), and the
/// `Warning: …` / `Error: …` lines a preprocessor prints on its own.
fn complaints<'a>(stdout: &'a str, stderr: &'a str) -> Vec<&'a str> {
    stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| {
            // In case mdBook colours its log despite `NO_COLOR` and a pipe.
            let plain = crate::process::strip_ansi(line);
            let starts = plain.trim_start();
            starts.starts_with("Warning:")
                || starts.starts_with("Error:")
                || plain
                    .split(|ch: char| !ch.is_ascii_alphabetic())
                    .any(|word| word == "WARN" || word == "ERROR")
        })
        .collect()
}

/// Installs mdBook and mdbook-mermaid with `cargo install --locked` when
/// they are missing, and refuses versions that cannot work together.
fn ensure_tools() -> Result<()> {
    let mdbook = match version_of("mdbook") {
        Some(version) => version,
        None => {
            cargo_install("mdbook", &format!("~{MDBOOK_VERSION}"), true)?;
            version_of("mdbook").context("mdbook still does not run after installing it")?
        }
    };
    if !on_release_line(&mdbook, MDBOOK_VERSION) {
        bail!(
            "{mdbook} is installed, but mdbook-mermaid {MDBOOK_MERMAID_VERSION} needs mdBook {MDBOOK_VERSION}.x: \
             cargo install --locked mdbook --version '~{MDBOOK_VERSION}'"
        );
    }
    let wanted = MDBOOK_MERMAID_VERSION;
    match version_of("mdbook-mermaid") {
        Some(version) if release_line(&version) == wanted => Ok(()),
        found => {
            if let Some(found) = found {
                println!("{found} is installed; the book pins mdbook-mermaid {wanted}");
            }
            cargo_install("mdbook-mermaid", &format!("={wanted}"), false)
        }
    }
}

/// The first line of `tool --version` (`mdbook v0.5.4`), if it runs.
fn version_of(tool: &str) -> Option<String> {
    let output = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// Whether `mdbook v0.5.4` is on the `0.5` line (and `v0.50.0` is not).
fn on_release_line(version: &str, line: &str) -> bool {
    release_line(version)
        .strip_prefix(line)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// `mdbook v0.5.4` ⇒ `0.5.4`; `mdbook-mermaid 0.17.1` ⇒ `0.17.1`.
fn release_line(version: &str) -> &str {
    let last = version.split_whitespace().last().unwrap_or_default();
    last.strip_prefix('v').unwrap_or(last)
}

/// `cargo install [--locked] KRATE --version VERSION`, replacing any other
/// installed version.
fn cargo_install(krate: &str, version: &str, locked: bool) -> Result<()> {
    let mut args = vec!["install", "--force"];
    if locked {
        args.push("--locked");
    }
    args.extend([krate, "--version", version]);
    let command = format!("cargo {}", args.join(" "));
    println!("{krate}: {command}");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(&args)
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!("{command} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_either_format() {
        assert_eq!(release_line("mdbook v0.5.4"), "0.5.4");
        assert_eq!(release_line("mdbook-mermaid 0.17.1"), "0.17.1");
        assert!(on_release_line("mdbook v0.5.4", "0.5"));
        assert!(!on_release_line("mdbook v0.4.52", "0.5"));
        assert!(!on_release_line("mdbook v0.50.0", "0.5"));
    }

    #[test]
    fn warnings_and_errors_are_caught_in_both_log_formats() {
        let stderr = "2026-01-01 INFO Book building has started\n\
                      2026-01-01 WARN mdbook::preprocess: Unable to find x\n\
                      [ERROR] (mdbook::renderer): boom\n\
                      \x1b[33mWARN\x1b[0m coloured\n\
                      Warning: The mdbook-mermaid preprocessor was built against version 0.5.0\n\
                      a WARNING-free line about WARNINGS and a Warning: inside\n";
        assert_eq!(
            complaints("", stderr),
            [
                "2026-01-01 WARN mdbook::preprocess: Unable to find x",
                "[ERROR] (mdbook::renderer): boom",
                "\x1b[33mWARN\x1b[0m coloured",
                "Warning: The mdbook-mermaid preprocessor was built against version 0.5.0",
            ]
        );
    }
}
