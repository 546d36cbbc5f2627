//! `cargo xtask test [ARGS...]`: every test of every part, plus xtask's
//! own, which include the `check` rules and the freshness of generated
//! diffs. Extra arguments go to `cargo test` unchanged
//! (`cargo xtask test -- --nocapture`).
//!
//! xtask's `net` feature is on, so the tests of `bench` and `interop` run
//! too; it costs nothing extra, since in one `cargo test --workspace` its
//! HTTP crates are the ones the parts build anyway.
//!
//! Part 6's PostgreSQL tests get a real server: one [`Postgres`] for the
//! whole run (the tests create their own databases on it), its URL in
//! [`URL_VARIABLE`], or the caller's own server when that variable is set
//! already. Without one they report themselves skipped, which only a run
//! outside CI may do.

use std::{
    process::{Command, ExitStatus},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    postgres::{Postgres, URL_VARIABLE},
    process::{self, ChildGuard},
    workspace,
};

/// The exit status after Ctrl-C or SIGTERM, as a shell reports it.
const INTERRUPTED: i32 = 130;

/// Runs `cargo test --workspace --features xtask/net ARGS...` from the
/// repository root, with a PostgreSQL server that lives until it returns
/// or a signal stops the run.
pub fn run(args: &[String]) -> Result<()> {
    let mut command = Command::new(process::cargo());
    command
        .current_dir(workspace::root())
        .args(["test", "--workspace", "--features", "xtask/net"])
        .args(args);
    let ci = std::env::var_os("CI").is_some();
    if ci {
        // CI must fail on a missing or changed snapshot, never write one:
        // `no` is insta's default under CI, spelled out so nothing in the
        // environment can change it, and a stray FORCE_PASS cannot hide one.
        command
            .env("INSTA_UPDATE", "no")
            .env_remove("INSTA_FORCE_PASS");
    }
    let postgres = postgres_for_tests(&mut command, ci)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    // A signal must not leave the server running or its cluster in the
    // temporary directory: `cargo test` is waited for here, racing the
    // signal, and the guards below stop both.
    let status = runtime.block_on(async {
        tokio::select! {
            // First, so the handlers are in place before cargo starts.
            biased;
            () = process::interrupted() => Ok(None),
            status = cargo_test(command) => status.map(Some),
        }
    });
    drop(runtime);
    drop(postgres);
    match status? {
        None => {
            eprintln!("interrupted; cargo test and PostgreSQL are stopped");
            std::process::exit(INTERRUPTED)
        }
        Some(status) if status.success() => Ok(()),
        Some(status) => bail!("cargo test --workspace --features xtask/net failed ({status})"),
    }
}

/// Starts `command` (`cargo test`) and waits for it; dropping the future
/// kills it.
async fn cargo_test(mut command: Command) -> Result<ExitStatus> {
    let mut child = ChildGuard(command.spawn().context("cannot run cargo test")?);
    loop {
        if let Some(status) = child.0.try_wait()? {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gives `command` a PostgreSQL URL in [`URL_VARIABLE`]: the environment's
/// own when set (nothing is started), else a server started here, which the
/// caller keeps until the tests are done. When none can be started, the
/// PostgreSQL tests are skipped with a warning, or, under CI, the run fails.
fn postgres_for_tests(command: &mut Command, ci: bool) -> Result<Option<Postgres>> {
    if let Some(url) = std::env::var_os(URL_VARIABLE).filter(|url| !url.is_empty()) {
        eprintln!(
            "PostgreSQL for part 6's tests: {URL_VARIABLE}={} from the environment",
            url.to_string_lossy()
        );
        return Ok(None);
    }
    let started = Instant::now();
    match Postgres::start() {
        Ok(postgres) => {
            eprintln!(
                "PostgreSQL for part 6's tests on {} (started in {:.1} s)",
                postgres.url(),
                started.elapsed().as_secs_f64()
            );
            command.env(URL_VARIABLE, postgres.url());
            Ok(Some(postgres))
        }
        Err(error) if ci => Err(error.context(format!(
            "cannot start PostgreSQL for part 6's tests, which CI must run \
             (or set {URL_VARIABLE} to a server of your own)"
        ))),
        Err(error) => {
            eprintln!(
                "warning: cannot start PostgreSQL ({error:#})\n\
                 warning: part 6's PostgreSQL tests will be SKIPPED; to run them, fix that \
                 or set {URL_VARIABLE} to a server of your own"
            );
            command.env_remove(URL_VARIABLE);
            Ok(None)
        }
    }
}
