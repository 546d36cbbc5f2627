//! `cargo xtask sqlx-prepare [--check]`: records the query data that lets
//! part 6 check its SQL at compile time without a database.
//!
//! Part 6's stores use sqlx's `query!` macros, which check each query
//! against a live database when `DATABASE_URL` is set, and otherwise
//! against the data recorded in `part6-production/.sqlx/` (the workspace
//! sets `SQLX_OFFLINE=true` in `.cargo/config.toml`). One crate holds two
//! stores in two SQL dialects, and the macros reach one database per build,
//! so this command builds the crate twice, one store at a time (its
//! `sqlite` and `postgres` features), each against a fresh database of that
//! kind with part 6's migrations applied:
//!
//! - SQLite: a temporary file, the schema applied with the `sqlite3`
//!   program (Debian's `sqlite3`, installed if missing);
//! - PostgreSQL: a throwaway server ([`crate::postgres`]), the schema
//!   applied with `psql`.
//!
//! `--check` records into a temporary directory and fails when that differs
//! from the checked-in data: a query or a migration changed and nobody
//! recorded it. CI runs it.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail, ensure};

use crate::{postgres::Postgres, process, workspace};

const PART: &str = "part6-production";

/// Runs the command.
pub fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask sqlx-prepare [--check]"),
    };
    let root = workspace::root();
    let part = root.join(PART);
    let recorded = part.join(".sqlx");
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let out = if check {
        scratch.path().join("sqlx")
    } else {
        recorded.clone()
    };
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    // SQLite: a file with the schema.
    let sqlite3 = process::ensure_debian_program("sqlite3", "sqlite3")?;
    let database = scratch.path().join("prepare.db");
    for migration in migrations(&part.join("migrations/sqlite"))? {
        let sql = fs::File::open(&migration)
            .with_context(|| format!("cannot read {}", migration.display()))?;
        let status = Command::new(&sqlite3)
            .arg(&database)
            .stdin(sql)
            .status()
            .context("cannot run sqlite3")?;
        ensure!(
            status.success(),
            "sqlite3 failed on {}",
            migration.display()
        );
    }
    record(
        &root,
        "sqlite",
        &format!("sqlite://{}", database.display()),
        &out,
    )?;

    // PostgreSQL: a throwaway server with the schema.
    let postgres = Postgres::start()?;
    let url = postgres.url();
    for migration in migrations(&part.join("migrations/postgres"))? {
        let status = Command::new("psql")
            .args([
                "--quiet",
                "--set",
                "ON_ERROR_STOP=1",
                "--dbname",
                &url,
                "--file",
            ])
            .arg(&migration)
            .stdout(Stdio::null())
            .status()
            .context("cannot run psql (it comes with Debian's postgresql package)")?;
        ensure!(status.success(), "psql failed on {}", migration.display());
    }
    record(&root, "postgres", &url, &out)?;
    drop(postgres);

    let count = fs::read_dir(&out)?.count();
    if !check {
        println!("sqlx-prepare: recorded {count} queries in {PART}/.sqlx");
        return Ok(());
    }
    let (fresh, kept) = (contents(&out)?, contents(&recorded)?);
    if fresh != kept {
        let changed: Vec<&String> = (fresh.keys().chain(kept.keys()))
            .filter(|name| fresh.get(*name) != kept.get(*name))
            .collect();
        bail!(
            "{PART}/.sqlx is stale ({} files differ, e.g. {}): a query or a migration changed; run `cargo xtask sqlx-prepare` and commit the result",
            changed.len(),
            changed.first().map_or("", |name| name.as_str())
        );
    }
    println!("sqlx-prepare --check: {PART}/.sqlx matches the queries ({count} files)");
    Ok(())
}

/// Builds part 6's library with only the `feature` store, its macros
/// connected to `database_url` and writing their data to `out`.
fn record(root: &Path, feature: &str, database_url: &str, out: &Path) -> Result<()> {
    // The macros run only when the crate is compiled: make sure it is.
    let store = root
        .join(PART)
        .join(format!("src/authorization_server/logic/store/{feature}.rs"));
    let source = fs::read(&store).with_context(|| format!("cannot read {}", store.display()))?;
    fs::write(&store, source).with_context(|| format!("cannot touch {}", store.display()))?;
    println!("sqlx-prepare: checking the {feature} store's queries against a live database");
    let status = Command::new(process::cargo())
        .current_dir(root)
        .args([
            "check",
            "--quiet",
            "-p",
            PART,
            "--lib",
            "--no-default-features",
        ])
        .args(["--features", feature])
        .env("SQLX_OFFLINE", "false")
        .env("DATABASE_URL", database_url)
        .env("SQLX_OFFLINE_DIR", out)
        .status()
        .context("cannot run cargo check")?;
    ensure!(
        status.success(),
        "the {feature} store's queries do not check against its migrations ({status})"
    );
    Ok(())
}

/// The `.sql` files of a migrations directory, in order.
fn migrations(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every file of `dir` by name, with its bytes.
fn contents(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        files.insert(name, fs::read(&path)?);
    }
    Ok(files)
}
