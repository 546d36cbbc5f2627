//! A throwaway PostgreSQL server on loopback, for part 6's tests and for
//! running part 6 by hand: `cargo xtask postgres` starts one and waits for
//! Ctrl-C; `cargo xtask test` starts one for the tests (see [`crate::test`]).
//!
//! A [`Postgres`] is a fresh cluster in a temporary directory: Debian's
//! server binaries (`/usr/lib/postgresql/<newest>/bin`, installed with
//! apt-get when missing), `initdb` with trust authentication, then
//! `postgres` listening on 127.0.0.1 only, on a free port, with durability
//! off (a test database that a crash loses costs nothing, while syncing
//! every commit to disk would slow every test that writes). Dropping it
//! stops the server and removes the directory.
//!
//! `initdb` and `postgres` refuse to run as root; as root (CI, containers)
//! both run as the `postgres` user that Debian's package creates, through
//! util-linux's `setpriv` (which execs, so the child is the server itself)
//! or, where that is missing, `runuser`.

use std::{
    fs,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::process;

/// The variable that hands a server's URL to part 6's tests: they create
/// their own databases on it, and report themselves skipped without it.
pub const URL_VARIABLE: &str = "PART6_POSTGRES_URL";

/// Where Debian's `postgresql-<version>` packages put their binaries, one
/// directory per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// How long a fresh cluster may take to accept connections (it usually
/// takes well under a second; a loaded 2-core CI machine is slower).
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How long a fast shutdown may take before the server is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// How often the server is started on a new port when the free one was
/// taken in between (see [`process::free_ports`]).
const PORT_ATTEMPTS: usize = 3;

/// A PostgreSQL server on `127.0.0.1`, in its own temporary directory,
/// that accepts the `postgres` superuser without a password. Dropping it
/// stops the server and removes the directory.
#[derive(Debug)]
pub struct Postgres {
    /// The server process (or `runuser`'s, which waits for it).
    child: Option<Child>,
    /// The loopback port it listens on.
    port: u16,
    /// The temporary directory: the cluster (`data/`), the Unix socket and
    /// the server's log (`postgres.log`).
    path: PathBuf,
    /// Removes `path` when dropped; taken by [`Drop`] to report a failure.
    dir: Option<tempfile::TempDir>,
    /// The server's `bin` directory (`pg_ctl` stops it).
    bin: PathBuf,
    /// Who runs the server, and so `pg_ctl`.
    user: RunAs,
}

impl Postgres {
    /// Creates a cluster in a new temporary directory and starts a server on
    /// it, on a free loopback port; returns once it accepts connections.
    /// Installs Debian's `postgresql` package first when the server binaries
    /// are missing.
    pub fn start() -> Result<Self> {
        let bin = server_binaries()?;
        let user = RunAs::current()?;
        let dir = tempfile::Builder::new()
            .prefix("xtask-postgres-")
            .tempdir()
            .context("cannot create a temporary directory for PostgreSQL")?;
        let path = dir.path().to_path_buf();
        user.give(&path)?;
        init_cluster(&bin, &user, &path)?;
        let mut server = Self {
            child: None,
            port: 0,
            path,
            dir: Some(dir),
            bin,
            user,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            let [port] = process::free_ports()?;
            server.port = port;
            let child = spawn_server(&server.bin, &server.user, &server.path, port)?;
            server.child = Some(child);
            match server.wait_until_ready() {
                Ok(()) => return Ok(server),
                // Another process took the port between `free_ports` and
                // the bind: stop, keep the cluster, try another port.
                Err(error) if attempt < PORT_ATTEMPTS && server.lost_its_port() => {
                    eprintln!("PostgreSQL: port {port} was taken ({error:#}); trying another");
                    server.stop_server();
                }
                Err(error) => return Err(error),
            }
        }
        bail!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts")
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the superuser on the
    /// default database, no password (trust authentication on loopback).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The last lines of the server's log, for an error message.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.path.join("postgres.log")).unwrap_or_default();
        tail(&text, 30)
    }

    /// Whether the server exited because its port was taken.
    fn lost_its_port(&self) -> bool {
        let log = self.log_tail();
        log.contains("could not bind") || log.contains("Address already in use")
    }

    /// Polls until the server accepts connections: first a TCP connect (it
    /// listens), then `pg_isready` (it has finished starting up and accepts
    /// sessions), when the version has one. Fails at once, with the log,
    /// when the server exits.
    fn wait_until_ready(&mut self) -> Result<()> {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let pg_isready = Some(self.bin.join("pg_isready")).filter(|path| path.is_file());
        let started = Instant::now();
        loop {
            let child = self.child.as_mut().context("the server is stopped")?;
            if let Some(status) = child.try_wait()? {
                bail!(
                    "PostgreSQL exited ({status}) before it accepted connections on {address}; \
                     the end of its log:\n{}",
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok()
                && pg_isready
                    .as_deref()
                    .is_none_or(|pg_isready| is_ready(pg_isready, self.port))
            {
                return Ok(());
            }
            if started.elapsed() > START_DEADLINE {
                bail!(
                    "PostgreSQL did not accept connections on {address} within \
                     {START_DEADLINE:?}; the end of its log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server: `pg_ctl stop -m fast` (sessions are ended, not
    /// waited for, as SIGTERM's smart shutdown would; `pg_ctl` signals the
    /// postmaster itself, also under `runuser`, and needs no `kill`, which
    /// minimal Debian images lack), then SIGKILL after [`STOP_DEADLINE`].
    /// A clean stop leaves nothing behind; the cluster goes with the
    /// directory either way.
    fn stop_server(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return; // Exited already (Ctrl-C reaches it too) and now reaped.
        }
        // `-W`: signal and return; the wait below is finer than pg_ctl's.
        let _ = self
            .user
            .command(&self.bin.join("pg_ctl"))
            .current_dir(&self.path)
            .args(["stop", "-s", "-m", "fast", "-W", "-D"])
            .arg(self.path.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let asked = Instant::now();
        while asked.elapsed() < STOP_DEADLINE {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("PostgreSQL did not stop within {STOP_DEADLINE:?}; killing it");
        // The postmaster's pid: the child's under `runuser` is runuser's.
        if let Some(pid) = fs::read_to_string(self.path.join("data/postmaster.pid"))
            .ok()
            .and_then(|text| postmaster_pid(&text))
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Postgres {
    /// Stops the server, then removes its directory (cluster, socket, log).
    fn drop(&mut self) {
        self.stop_server();
        if let Some(dir) = self.dir.take()
            && let Err(error) = dir.close()
        {
            eprintln!("warning: cannot remove {}: {error}", self.path.display());
        }
    }
}

/// Who runs `initdb` and `postgres`: both refuse root.
#[derive(Debug)]
enum RunAs {
    /// Not root: the current user, directly.
    Me,
    /// Root: the unprivileged `postgres` user, through `via` (`setpriv` or
    /// `runuser`).
    Postgres { uid: u32, gid: u32, via: Via },
}

/// The util-linux tool that switches to the `postgres` user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `setpriv --reuid --regid --init-groups`: execs the program, so the
    /// child is the server itself and signals reach it directly.
    Setpriv,
    /// `runuser -u postgres --`: forks and waits for the program (`pg_ctl`
    /// signals the server itself); for where `setpriv` is not installed
    /// (Debian before 12 ships it as a separate package).
    Runuser,
}

impl RunAs {
    /// [`RunAs::Me`] unless this process runs as root; then the `postgres`
    /// user and a way to become it, or an error saying what is missing.
    fn current() -> Result<Self> {
        if current_uid()? != 0 {
            return Ok(Self::Me);
        }
        let output = Command::new("getent")
            .args(["passwd", "postgres"])
            .stderr(Stdio::null())
            .output()
            .context("cannot run getent to look up the postgres user")?;
        let (uid, gid) = parse_passwd(&String::from_utf8_lossy(&output.stdout)).context(
            "PostgreSQL will not run as root and there is no `postgres` user to run it as \
             (Debian's postgresql package creates one); run as another user, or create it",
        )?;
        let via = if process::on_path("setpriv").is_some() {
            Via::Setpriv
        } else if process::on_path("runuser").is_some() {
            Via::Runuser
        } else {
            bail!(
                "PostgreSQL will not run as root and neither setpriv nor runuser is on PATH to \
                 run it as the postgres user; install util-linux (or setpriv) or run as another user"
            );
        };
        Ok(Self::Postgres { uid, gid, via })
    }

    /// A command that runs `program` as this user.
    fn command(&self, program: &Path) -> Command {
        match self {
            Self::Me => Command::new(program),
            Self::Postgres {
                via: Via::Setpriv, ..
            } => {
                let mut command = Command::new("setpriv");
                command
                    .args([
                        "--reuid=postgres",
                        "--regid=postgres",
                        "--init-groups",
                        "--",
                    ])
                    .arg(program);
                command
            }
            Self::Postgres {
                via: Via::Runuser, ..
            } => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
        }
    }

    /// Makes `dir` (a fresh, private temporary directory) the user's, so
    /// the server can create its cluster and socket in it.
    fn give(&self, dir: &Path) -> Result<()> {
        let Self::Postgres { uid, gid, .. } = self else {
            return Ok(());
        };
        let status = Command::new("chown")
            .arg(format!("{uid}:{gid}"))
            .arg(dir)
            .status()
            .context("cannot run chown")?;
        if !status.success() {
            bail!("chown {uid}:{gid} {} failed ({status})", dir.display());
        }
        Ok(())
    }
}

/// The effective user id, from `id -u` (no libc binding for one number).
fn current_uid() -> Result<u32> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u` to learn whether this is root")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("`id -u` printed {text:?}, not a user id"))
}

/// The uid and gid of a `getent passwd` line (`name:x:uid:gid:…`).
fn parse_passwd(line: &str) -> Option<(u32, u32)> {
    let mut fields = line.trim().split(':').skip(2);
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some((uid, gid))
}

/// The `bin` directory of the newest PostgreSQL under [`DEBIAN_ROOT`];
/// installs Debian's `postgresql` package (which depends on the current
/// major version) when there is none.
fn server_binaries() -> Result<PathBuf> {
    let root = Path::new(DEBIAN_ROOT);
    if let Some(bin) = newest_bin_dir(root) {
        return Ok(bin);
    }
    process::apt_get_install(
        "postgresql",
        &format!("PostgreSQL's server ({DEBIAN_ROOT}/<version>/bin/postgres)"),
    )?;
    newest_bin_dir(root).with_context(|| {
        format!("apt-get installed postgresql, but {DEBIAN_ROOT}/<version>/bin has no initdb and postgres")
    })
}

/// `ROOT/<version>/bin` of the highest version (compared as numbers, so 16
/// beats 9.6) that has both `initdb` and `postgres`.
fn newest_bin_dir(root: &Path) -> Option<PathBuf> {
    fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = version_key(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            let complete = ["initdb", "postgres"]
                .iter()
                .all(|program| bin.join(program).is_file());
            complete.then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// `15` → `[15]`, `9.6` → `[9, 6]`; `None` for a name that is not a
/// version (such as a stray file).
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// `initdb` a cluster in `DIR/data`, quietly (its output only on failure):
/// the `postgres` superuser, trusted on every connection (the server
/// listens on loopback and a private socket directory only), UTF-8, the C
/// locale (no dependency on the locales the machine has generated), and no
/// fsync of the new files.
fn init_cluster(bin: &Path, user: &RunAs, dir: &Path) -> Result<()> {
    let initdb = bin.join("initdb");
    let output = user
        .command(&initdb)
        .current_dir(dir)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        .arg("--no-locale")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", initdb.display()))?;
    if !output.status.success() {
        bail!(
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts `postgres` on `DIR/data`: TCP on `127.0.0.1:port` only, its Unix
/// socket in `DIR` (not the shared `/var/run/postgresql`), durability off,
/// room for many tests' connection pools at once; stdout and stderr go to
/// `DIR/postgres.log`.
fn spawn_server(bin: &Path, user: &RunAs, dir: &Path, port: u16) -> Result<Child> {
    let postgres = bin.join("postgres");
    let log = dir.join("postgres.log");
    let file =
        fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    user.command(&postgres)
        .current_dir(dir)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1", "-k"])
        .arg(dir)
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
        // Dynamic shared memory in the cluster, not in /dev/shm (64 MB in
        // a default container, and left behind if the server is killed).
        .args(["-c", "dynamic_shared_memory_type=mmap"])
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot start {}", postgres.display()))
}

/// Whether `pg_isready` says the server on `127.0.0.1:port` accepts
/// sessions (exit status 0; 1 means it is still starting up).
fn is_ready(pg_isready: &Path, port: u16) -> bool {
    Command::new(pg_isready)
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-t", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The postmaster's pid: the first line of `postmaster.pid`.
fn postmaster_pid(text: &str) -> Option<u32> {
    text.lines().next()?.trim().parse().ok()
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What `cargo xtask postgres --help` prints.
const USAGE: &str = "usage: cargo xtask postgres

Starts a throwaway PostgreSQL on 127.0.0.1 (a fresh cluster in a temporary
directory; the postgres superuser, no password), prints its URL and runs
until Ctrl-C, which stops it and removes the cluster.";

/// `cargo xtask postgres`: starts a server, prints its URL, and stops it on
/// Ctrl-C (or SIGTERM), for running part 6 by hand and for preparing sqlx's
/// query data against a real database.
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => bail!("unexpected argument `{other}`\n\n{USAGE}"),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    // The server lives in `serve`'s future: a signal drops it, which stops it.
    let outcome = runtime.block_on(async {
        tokio::select! {
            // First, so the handlers are in place before the server starts.
            biased;
            () = process::interrupted() => Ok(()),
            result = serve() => result.map(|never| match never {}),
        }
    });
    drop(runtime);
    outcome?;
    println!("PostgreSQL stopped");
    Ok(())
}

/// Starts the server, prints where it is and how to use it, and waits
/// forever (until [`run`]'s signal drops this future, and the server).
async fn serve() -> Result<std::convert::Infallible> {
    let server = Postgres::start()?;
    let url = server.url();
    println!("PostgreSQL on {url} (Ctrl-C stops it)");
    println!("  part 6's tests: {URL_VARIABLE}={url} cargo test -p part6-production");
    println!("  sqlx:           DATABASE_URL={url}");
    // `server` lives as long as this future: until the signal drops it.
    Ok(std::future::pending().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions compare as numbers, part by part; a directory without both
    /// server binaries, or whose name is not a version, does not count.
    #[test]
    fn the_newest_complete_version_is_chosen() {
        let root = tempfile::tempdir().expect("temp dir");
        let make = |version: &str, programs: &[&str]| {
            let bin = root.path().join(version).join("bin");
            fs::create_dir_all(&bin).expect("bin");
            for program in programs {
                fs::write(bin.join(program), "").expect("program");
            }
        };
        assert_eq!(newest_bin_dir(root.path()), None, "empty");
        make("9.6", &["initdb", "postgres"]);
        make("15", &["initdb", "postgres"]);
        make("17", &["initdb"]); // Half removed: no server.
        make("common", &["initdb", "postgres"]);
        assert_eq!(
            newest_bin_dir(root.path()),
            Some(root.path().join("15/bin"))
        );
        make("16", &["initdb", "postgres", "pg_ctl"]);
        assert_eq!(
            newest_bin_dir(root.path()),
            Some(root.path().join("16/bin"))
        );
        assert_eq!(newest_bin_dir(&root.path().join("missing")), None);
    }

    #[test]
    fn versions_parse_as_numbers() {
        assert_eq!(version_key("15"), Some(vec![15]));
        assert_eq!(version_key("9.6"), Some(vec![9, 6]));
        assert!(version_key("10") > version_key("9.6"));
        assert_eq!(version_key("common"), None);
        assert_eq!(version_key(""), None);
    }

    #[test]
    fn passwd_lines_and_pid_files_parse() {
        let line = "postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(parse_passwd(line), Some((101, 104)));
        assert_eq!(parse_passwd(""), None);
        assert_eq!(parse_passwd("postgres:x:abc:1::/:/bin/sh"), None);
        assert_eq!(
            postmaster_pid("4242\n/tmp/x/data\n1700000000\n"),
            Some(4242)
        );
        assert_eq!(postmaster_pid(""), None);
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    /// A real server: it accepts a query from `psql` over loopback TCP, and
    /// dropping the guard stops it and removes its directory. Skipped (with
    /// a message) where PostgreSQL is not installed and cannot be, unless
    /// CI is set.
    #[test]
    fn a_real_server_answers_and_is_gone_after_drop() {
        if newest_bin_dir(Path::new(DEBIAN_ROOT)).is_none() && std::env::var_os("CI").is_none() {
            eprintln!(
                "skipped: no PostgreSQL under {DEBIAN_ROOT} (cargo xtask postgres installs it)"
            );
            return;
        }
        let started = Instant::now();
        let server = Postgres::start().expect("PostgreSQL starts");
        let start_time = started.elapsed();
        assert_eq!(
            server.url(),
            format!("postgres://postgres@127.0.0.1:{}/postgres", server.port)
        );
        let bin = newest_bin_dir(Path::new(DEBIAN_ROOT)).expect("binaries");
        let output = Command::new(bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tA",
                "-c",
                "select 1 + 1",
            ])
            .env_remove("PGPASSWORD")
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
        let dir = server.path.clone();
        let address = SocketAddr::from(([127, 0, 0, 1], server.port));
        let stopping = Instant::now();
        drop(server);
        eprintln!(
            "PostgreSQL started in {start_time:.2?}, stopped in {:.2?}",
            stopping.elapsed()
        );
        assert!(!dir.exists(), "{} is removed", dir.display());
        assert!(
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err(),
            "nothing listens on {address} any more"
        );
    }
}
