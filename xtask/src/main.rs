//! `cargo xtask`: the project's automation, in Rust rather than shell
//! scripts, so it runs the same everywhere cargo does.
//!
//! - `test`  ([`test`]): every test of the workspace, CI-safe for snapshots.
//! - `diff`  ([`diff`]): what one part adds to another, without the noise.
//! - `carry` ([`carry`]): copy a part's carried files into the later parts.
//! - `check` ([`check`]): carried files, book includes, anchors, chapters,
//!   target names.
//! - `book`  ([`book`]): `check`, then build the book with mdBook.
//!
//! [`workspace`] holds what these share: the repository root, the member
//! list, tree walking and anchor markers.

mod bench;
mod book;
mod carry;
mod check;
mod demo;
mod diff;
mod interop;
mod mutants;
mod test;
mod tryit;
mod workspace;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <command> [args]

commands:
  test [ARGS...]        cargo test --workspace ARGS (no snapshot writes when CI is set)
  demo                  build, start the part-3 AS and part-4 RS, run the part-5 client with a scripted login
  diff A B [--write]    what part B changes in part A (parts by number or directory);
                        --write stores it in book/src/generated/diff-A-B.md
  carry N               copy part N's carried files forward into every later part (carried.txt)
  check                 carried files, book includes and anchors, SUMMARY.md chapters, unique target names
  book                  check, then mdbook build book (installs mdbook if missing)
  tryit [--write|--check]     run each chapter's Try it for real; write or check book/src/generated/tryit-*.md
  bench [--quick] [--part N]  load AS + RS with wrk, print costs and targets (bench --help)
  interop [--only GROUP]      part 5 against the MCP conformance suite, Python SDK, Inspector, Chromium
  mutants [--canary] [--part N] [--file F]  mutation testing of the AS and RS security modules (--list)";

/// Prints the error chain, without anyhow's backtrace, and exits 1: the
/// failures xtask reports are about the repository, not about xtask.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "test" => test::run(rest),
        "diff" => diff::run(rest),
        "carry" => carry::run(rest),
        "check" => check::run(rest),
        "demo" => demo::run(rest),
        "book" => book::run(rest),
        "bench" => bench::run(rest),
        "interop" => interop::run(rest),
        "mutants" => mutants::run(rest),
        "tryit" => tryit::run(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
