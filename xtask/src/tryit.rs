//! `cargo xtask tryit [--write | --check]`: each chapter's Try it session,
//! run for real, so the book shows output a reader will actually see.
//!
//! Like the Rust book's `output.txt` files: the chapters quote
//! `book/src/generated/tryit-partN.md` block by block (`{{#include
//! generated/tryit-part1.md:initialize}}`), and those files are written
//! here from real runs:
//!
//! 1. [`build`] builds the five parts' server, client and scripted-browser
//!    binaries (one `cargo build`), after making sure curl is installed
//!    (from Debian with apt-get when it is missing).
//! 2. Each chapter's script in [`chapters`] starts its servers on free
//!    loopback ports, waits until they accept connections, and runs the
//!    chapter's commands exactly as printed: curl (and grep, stat, chmod)
//!    without a shell, or the part-5 client with `BROWSER` set to the
//!    scripted browser. The five sessions run in parallel.
//! 3. [`normalize`] turns each output into what the reader sees: the
//!    documented ports (8000, 9000), and placeholders for session ids,
//!    client ids, codes, tokens, cookies, dates and times.
//!
//! Without flags it prints which files are stale; `--write` rewrites them;
//! `--check` fails when any is stale, which is how CI runs it (`.ci/run`).
//! It is not a `#[test]`: it builds five parts, starts eight servers and
//! needs curl, which plain `cargo test` must not. `cargo xtask check` stays
//! fast: it only checks that each generated file is included
//! ([`check_included`]).

mod chapters;
mod normalize;
mod session;
mod shell;

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::{
    check::{Layout, Problem},
    process::{self, Built},
    workspace,
};
use session::Session;

const USAGE: &str = "usage: cargo xtask tryit [--write | --check]";

/// The chapters with a Try it session, and the script that records it.
type Script = fn(&Built, &Path) -> Result<Session>;
const SESSIONS: [(u32, Script); 5] = [
    (1, chapters::part1),
    (2, chapters::part2),
    (3, chapters::part3),
    (4, chapters::part4),
    (5, chapters::part5),
];

/// Runs every session and reports, writes or checks the generated files.
pub fn run(args: &[String]) -> Result<()> {
    let (mut write, mut check) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--write" => write = true,
            "--check" => check = true,
            other => bail!("unexpected argument `{other}`\n\n{USAGE}"),
        }
    }
    if write && check {
        bail!("--write and --check exclude each other\n\n{USAGE}");
    }
    let started = Instant::now();
    let root = workspace::root();
    let stale = stale_files(&root)?;
    let elapsed = started.elapsed().as_secs_f32();
    if stale.is_empty() {
        println!(
            "tryit: all {} sessions match book/src/generated/ ({elapsed:.1} s)",
            SESSIONS.len()
        );
        return Ok(());
    }
    for (path, fresh) in &stale {
        let shown = path.strip_prefix(&root).unwrap_or(path).display();
        if write {
            fs::write(path, fresh).with_context(|| format!("cannot write {shown}"))?;
            println!("wrote {shown}");
        } else {
            let current = fs::read_to_string(path).unwrap_or_default();
            eprintln!("stale: {shown}");
            eprint!(
                "{}",
                similar::TextDiff::from_lines(&current, fresh)
                    .unified_diff()
                    .context_radius(1)
                    .header("checked in", "this run")
            );
        }
    }
    if check {
        bail!(
            "{} Try it output file(s) are stale; run `cargo xtask tryit --write` and commit them",
            stale.len()
        );
    }
    if !write {
        println!("run `cargo xtask tryit --write` to update them ({elapsed:.1} s)");
    }
    Ok(())
}

/// Builds, runs every session, and returns each generated file whose
/// checked-in text differs, with its fresh text.
fn stale_files(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let binaries = build()?;
    // Per process, so a test and a command line run never share a cookie
    // jar; kept when a session fails, for its servers' logs.
    let work = process::target_dir()
        .join("tryit")
        .join(std::process::id().to_string());
    let results: Vec<Result<(PathBuf, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = SESSIONS
            .iter()
            .map(|&(part, script)| {
                let binaries = &binaries;
                let dir = work.join(format!("part{part}"));
                scope.spawn(move || {
                    let session = script(binaries, &dir).with_context(|| {
                        format!("part {part}'s Try it session (logs in {})", dir.display())
                    })?;
                    Ok((generated_path(root, part), session.markdown()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| bail!("a session panicked"))
            })
            .collect()
    });
    let mut stale = Vec::new();
    let results: Vec<(PathBuf, String)> = results.into_iter().collect::<Result<_>>()?;
    let _ = fs::remove_dir_all(&work);
    for (path, fresh) in results {
        if fs::read_to_string(&path).ok().as_deref() != Some(fresh.as_str()) {
            stale.push((path, fresh));
        }
    }
    Ok(stale)
}

/// `book/src/generated/tryit-partN.md`.
fn generated_path(root: &Path, part: u32) -> PathBuf {
    root.join(format!("book/src/generated/tryit-part{part}.md"))
}

/// Makes sure curl is there, then builds exactly the bins the sessions
/// start, in one `cargo build`.
fn build() -> Result<Built> {
    process::ensure_debian_program("curl", "curl")
        .context("the chapters' Try it commands are curl commands")?;
    process::cargo_build(&[
        "-p",
        "part1-basic-rs",
        "--bin",
        "part1-rs",
        "-p",
        "part2-as-metadata",
        "--bin",
        "part2-as",
        "-p",
        "part3-as-full",
        "--bin",
        "part3-as",
        "-p",
        "part4-protected-rs",
        "--bin",
        "part4-rs",
        "-p",
        "part5-client",
        "--bin",
        "part5-client",
        "--bin",
        "part5-scripted-browser",
    ])
}

/// For `cargo xtask check`, without running anything: every
/// `generated/tryit-*.md` is named after a session and quoted by some
/// chapter. (Includes of a missing file or anchor are check (a)'s.)
pub fn check_included(layout: &Layout) -> Result<Vec<Problem>> {
    let dir = layout.book_src.join("generated");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut chapters = String::new();
    for path in workspace::walk(&layout.book_src)? {
        let path = layout.book_src.join(path);
        if path.extension().is_some_and(|ext| ext == "md") && !path.starts_with(&dir) {
            chapters.push_str(&workspace::read_text(&path)?.unwrap_or_default());
        }
    }
    let mut problems = Vec::new();
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with("tryit-"))
        .collect();
    names.sort();
    for name in names {
        let known = SESSIONS
            .iter()
            .any(|(part, _)| name == format!("tryit-part{part}.md"));
        let message = if !known {
            "names no Try it session, so `cargo xtask tryit --write` did not write it"
        } else if !chapters.contains(&format!("generated/{name}")) {
            "no chapter includes it; quote its blocks in the chapter's Try it section"
        } else {
            continue;
        };
        problems.push(Problem {
            file: format!("book/src/generated/{name}"),
            line: 1,
            message: message.to_owned(),
        });
    }
    Ok(problems)
}
