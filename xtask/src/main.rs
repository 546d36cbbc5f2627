//! `cargo xtask`: the project's automation, in Rust rather than shell
//! scripts, so it runs the same everywhere cargo does.
//!
//! Commands, one module each:
//!
//! - `test`    ([`test`]): every test of the workspace, CI-safe for snapshots,
//!   with a PostgreSQL server for part 6's.
//! - `postgres` ([`postgres`]): a throwaway PostgreSQL on loopback until
//!   Ctrl-C, for running part 6 by hand and preparing sqlx's query data.
//! - `sqlx-prepare` ([`sqlx_prepare`]): record, or check, part 6's
//!   compile-time query data against fresh SQLite and PostgreSQL databases.
//! - `demo`    ([`demo`]): the AS, the RS and the client of part 5 (or 6) end to end, with a
//!   scripted login.
//! - `diff`    ([`diff`]): what one part adds to another, without the noise.
//! - `carry`   ([`carry`]): copy a part's carried files into the later parts.
//! - `check`   ([`check`]): carried files, book includes, anchors, chapters,
//!   links, generated files, target names.
//! - `book`    ([`book`]): `check`, then build the book with mdBook.
//! - `tryit`   ([`tryit`]): run each chapter's Try it session for real and
//!   compare or rewrite its recorded output.
//! - `bench`   ([`bench`]): what a protected tool call costs, with wrk.
//! - `stress`  ([`stress`]): floods on the part-5 servers with real sign-ins
//!   beside them; memory, slow clients, bounds.
//! - `interop` ([`interop`]): part 5 against the MCP conformance suite, the
//!   Python SDK, MCP Inspector and Chromium.
//! - `mutants` ([`mutants`]): mutation testing of the AS and RS security
//!   modules with a pinned cargo-mutants.
//! - `dev-cert` ([`dev_cert`]): a local CA and a certificate for localhost,
//!   for part 6 on https.
//! - `cluster` ([`cluster`]): part 6 as two AS and two RS instances behind
//!   HAProxy on one PostgreSQL, under load, with a kill and a restart.
//!
//! What they share: [`workspace`] (the repository root, the members from
//! `cargo metadata`, tree walking and anchor markers) and [`process`]
//! (building binaries, free ports, servers started with a clean environment
//! and killed by guards, ANSI stripping, tools installed from Debian).

#[cfg(feature = "net")]
mod bench;
mod book;
mod carry;
mod check;
#[cfg(feature = "net")]
mod cluster;
mod demo;
#[cfg(feature = "net")]
mod dev_cert;
mod diff;
#[cfg(feature = "net")]
mod interop;
mod mutants;
mod postgres;
mod process;
mod sqlx_prepare;
#[cfg(feature = "net")]
mod stress;
mod test;
mod tryit;
mod workspace;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <command> [args]

commands:
  test [ARGS...]        cargo test --workspace ARGS (no snapshot writes when CI is set), with a
                        PostgreSQL for part 6 (PART6_POSTGRES_URL; installed from Debian if missing)
  postgres              a throwaway PostgreSQL on 127.0.0.1 until Ctrl-C; prints its URL
  sqlx-prepare [--check]  record (or check) part 6's compile-time query data in part6-production/.sqlx
  demo [--part 5|6]     build part 5 (or 6), start its AS and RS, run its client with a scripted login;
                        part 6 then kills the AS, restarts it on its database and runs the client again
  diff A B [--write]    what part B changes in part A (parts by number or directory);
                        --write stores it in book/src/generated/diff-A-B.md
  carry N               copy part N's carried files forward into every later part (carried.txt)
  check                 carried files, book includes and anchors, SUMMARY.md chapters, unique target names
  book                  check, then mdbook build book (installs mdbook if missing)
  tryit [--write|--check]     run each chapter's Try it for real; write or check book/src/generated/tryit-*.md
  bench [--quick] [--part N]  load AS + RS with wrk, print costs and targets (bench --help)
  stress [--quick]            floods on the part-5 AS + RS with real flows beside them; memory, slow clients, bounds
  interop [--only GROUP]      part 5 against the MCP conformance suite, Python SDK, Inspector, Chromium
  mutants [--canary] [--part N] [--file F]  mutation testing of the AS and RS security modules (--list)
  dev-cert [--out DIR]  a local CA and a certificate for localhost (target/dev-cert/), for part 6 on https
  cluster [--quick]     part 6 behind HAProxy: PostgreSQL, 2 AS + 2 RS, load, a kill and a restart (cluster --help)";

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
        "postgres" => postgres::run(rest),
        "sqlx-prepare" => sqlx_prepare::run(rest),
        "diff" => diff::run(rest),
        "carry" => carry::run(rest),
        "check" => check::run(rest),
        "demo" => demo::run(rest),
        "book" => book::run(rest),
        #[cfg(feature = "net")]
        "bench" => bench::run(rest),
        #[cfg(feature = "net")]
        "stress" => stress::run(rest),
        #[cfg(feature = "net")]
        "interop" => interop::run(rest),
        #[cfg(feature = "net")]
        "dev-cert" => dev_cert::run(rest),
        #[cfg(feature = "net")]
        "cluster" => cluster::run(rest),
        // Without the `net` feature (see xtask/Cargo.toml): the same
        // command, in an xtask that has it (the bench's in release).
        #[cfg(not(feature = "net"))]
        "bench" => with_net(&["--release"], command, rest),
        #[cfg(not(feature = "net"))]
        "stress" | "interop" | "dev-cert" | "cluster" => with_net(&[], command, rest),
        "mutants" => mutants::run(rest),
        "tryit" => tryit::run(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// Runs `cargo xtask COMMAND ARGS` again in an xtask built with the `net`
/// feature (see `xtask/Cargo.toml`), `profile` being `--release` for the
/// bench, and exits with its status. It is built like every other bin
/// xtask builds ([`process::cargo_build`]: the features the tests resolve),
/// so it shares its dependencies with the tests and with the servers.
#[cfg(not(feature = "net"))]
fn with_net(profile: &[&str], command: &str, args: &[String]) -> Result<()> {
    use anyhow::Context as _;
    let mut build = profile.to_vec();
    build.extend(["--quiet", "--bin", "xtask"]);
    let built = process::cargo_build(&build)?;
    let status = std::process::Command::new(built.get("xtask")?)
        .current_dir(workspace::root())
        .arg(command)
        .args(args)
        .status()
        .context("cannot run xtask with the net feature")?;
    if status.success() {
        return Ok(());
    }
    // The rerun has printed its own error; pass its status on.
    std::process::exit(status.code().unwrap_or(1))
}
