//! `cargo xtask demo`: the whole three-party system, end to end, the way a
//! newcomer would run it by hand in three terminals, but unattended.
//!
//! 1. Builds part 5's binaries, and only those: the client, its scripted
//!    browser, and the authorization server (AS) and resource server (RS)
//!    that part 5 carries unchanged from parts 3 and 4 (`carried.txt`,
//!    checked byte for byte), so one package is compiled, not three.
//! 2. Starts the AS and the RS as child processes on free loopback ports,
//!    configured for each other, and waits until each listens.
//! 3. Runs the client against the RS with `BROWSER` pointing at the scripted
//!    browser, which loads the real login page, submits the real form and
//!    follows the redirect back to the client. The client cannot tell it from
//!    a person: all it gets is a browser command, as with `xdg-open`.
//! 4. Streams the client's transcript, stops everything and exits with the
//!    client's status (0 success, 1 error, 2 authorization failed).
//!
//! `cargo xtask demo --part 6` runs part 6's binaries the same way, on
//! `https://localhost` with a CA made for the run (`cargo xtask dev-cert`,
//! trusted through `SSL_CERT_FILE`), with the authorization server on a
//! fresh SQLite file, then shows what part 6 is for. The client also calls `whoami`, which needs a scope of its own, so
//! it logs in once for `server_time` and steps up once for the union of
//! both scopes; the demo fails unless it did, and unless the token it
//! cached is a signed JWT (`typ: at+jwt`, ES256) with both scopes. Then it
//! kills both servers (SIGKILL), starts them again, the AS on the
//! same file, and runs the client a second time with the tokens it cached;
//! the restarted RS fetches the restarted AS's signing keys, which the
//! database kept, so the token issued before the kill still checks, and no
//! login is needed (the second run has no browser and a 5-second login
//! timeout).
//!
//! Server logs go to `target/demo/*.log` and are printed when anything fails.
//! Every child is killed by a guard when it is dropped, so an error, a panic
//! or Ctrl-C never leaves a server running ([`crate::process`]).

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    process::{self, Built, ChildGuard, Server, clean_environment, interrupted},
    workspace,
};

/// The demo user; the AS's defaults, set explicitly so the AS and the
/// scripted browser agree whatever the caller's environment says.
const USERNAME: &str = "demo_user";
const PASSWORD: &str = "demo_password";
/// How long the whole client run may take (the login is scripted, so it
/// normally takes well under a second).
const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
/// Exit status after Ctrl-C, as a shell reports it.
const INTERRUPTED: i32 = 130;
/// The servers' log files, in `target/demo/`.
const LOGS: [&str; 2] = ["authorization-server.log", "resource-server.log"];

/// The part whose binaries the demo runs.
#[derive(Debug, Clone, Copy)]
struct Part {
    number: u32,
    package: &'static str,
    /// The binaries' prefix: `part5` for `part5-as`, `part5-rs`, …
    prefix: &'static str,
}

impl Part {
    fn bin(self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }
}

const PART5: Part = Part {
    number: 5,
    package: "part5-client",
    prefix: "part5",
};
const PART6: Part = Part {
    number: 6,
    package: "part6-production",
    prefix: "part6",
};

/// Runs the demo; exits the process with the client's status when it is not 0.
pub fn run(args: &[String]) -> Result<()> {
    let part = match args {
        [] => PART5,
        [flag, n] if flag == "--part" && n == "5" => PART5,
        [flag, n] if flag == "--part" && n == "6" => PART6,
        _ => bail!(
            "usage: cargo xtask demo [--part 5|6] (got `{}`)",
            args.join(" ")
        ),
    };
    let logs = process::target_dir().join("demo");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    for name in LOGS.iter().chain(&PART6_FILES) {
        let _ = fs::remove_file(logs.join(name)); // Not a previous run's.
    }

    let bins = ["as", "rs", "client", "scripted-browser"].map(|name| part.bin(name));
    header(&format!("Building the binaries ({})", bins.join(", ")));
    // One cargo build of exactly these four bins: nothing (tests, other
    // parts) the demo does not run, with the features the tests resolve
    // (`process::cargo_build`), so that after `cargo xtask test` only the
    // part itself is compiled again.
    let mut build = vec!["-p", part.package];
    for bin in &bins {
        build.extend(["--bin", bin.as_str()]);
    }
    let binaries = process::cargo_build(&build)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    // Every child is owned by `demo`'s future: when it returns, fails or is
    // dropped because of a signal, the guards inside have killed them all.
    let status = runtime.block_on(async {
        tokio::select! {
            // First, so the signal handlers are in place before anything starts.
            biased;
            () = interrupted() => Ok(INTERRUPTED),
            status = demo(part, &binaries, &logs) => status,
        }
    });
    drop(runtime);
    match status {
        Ok(0) => {
            header("Done: the client exited with status 0; both servers are stopped");
            Ok(())
        }
        Ok(INTERRUPTED) => {
            eprintln!("interrupted; the client and both servers are stopped");
            std::process::exit(INTERRUPTED)
        }
        Ok(code) => {
            print_logs(&logs);
            eprintln!("the client exited with status {code}; both servers are stopped");
            std::process::exit(code)
        }
        Err(error) => {
            print_logs(&logs);
            Err(error)
        }
    }
}

/// Part 6's database and the client's token cache, in `target/demo/`.
const PART6_FILES: [&str; 5] = [
    "part6-as.db",
    "part6-as.db-wal",
    "part6-as.db-shm",
    "part6-tokens.json",
    "part6-as.db.migrate-lock",
];

/// Starts the servers, runs the client, returns its exit status.
async fn demo(part: Part, binaries: &Built, logs: &Path) -> Result<i32> {
    let [as_port, rs_port] = process::free_ports()?;
    // Part 6 serves https (rule P6-10), with a CA made for this run.
    let certs = if part.number == 6 {
        Some(dev_cert(&logs.join("certs"))?)
    } else {
        None
    };
    let (scheme, host) = match certs {
        Some(_) => ("https", "localhost"),
        None => ("http", "127.0.0.1"),
    };
    let issuer = format!("{scheme}://{host}:{as_port}");
    let mcp_url = format!("{scheme}://{host}:{rs_port}/mcp");
    let (as_bin, rs_bin) = (part.bin("as"), part.bin("rs"));
    // The client and the RS (which fetches the AS's keys) trust the run's CA.
    let trust: Vec<(&str, String)> = (certs.iter())
        .map(|certs| ("SSL_CERT_FILE", certs.ca.clone()))
        .collect();

    let mut as_env = vec![
        ("AS_HOST", "127.0.0.1".into()),
        ("AS_SERVER_PORT", as_port.to_string()),
        ("AS_ISSUER", issuer.clone()),
        ("AS_RESOURCES", mcp_url.clone()),
        ("AS_DEMO_USERNAME", USERNAME.into()),
        ("AS_DEMO_PASSWORD", PASSWORD.into()),
    ];
    let origin = if part.number == 6 {
        let database = logs.join(PART6_FILES[0]);
        as_env.push((
            "AS_DATABASE_URL",
            format!("sqlite://{}", database.display()),
        ));
        if let Some(certs) = &certs {
            as_env.push(("AS_TLS_CERT", certs.cert.clone()));
            as_env.push(("AS_TLS_KEY", certs.key.clone()));
        }
        format!("part 6's, on SQLite at {}", relative(&database))
    } else {
        "part 3's".to_owned()
    };
    header(&format!(
        "Starting the authorization server ({as_bin}, {origin}) on {issuer}"
    ));
    let started = Instant::now();
    let mut authorization_server = Server::start(
        &as_bin,
        binaries.get(&as_bin)?,
        &as_env,
        as_port,
        &logs.join(LOGS[0]),
    )?;
    ready(&authorization_server, started);

    let rs_origin = if part.number == 6 {
        "part 6's, checking signed tokens itself"
    } else {
        "part 4's"
    };
    header(&format!(
        "Starting the resource server ({rs_bin}, {rs_origin}) on {mcp_url}"
    ));
    let started = Instant::now();
    let mut rs_env = vec![
        ("RS_HOST", "127.0.0.1".into()),
        ("RS_PORT", rs_port.to_string()),
        ("RS_PUBLIC_URL", mcp_url.clone()),
        ("RS_AUTH_SERVER_URL", issuer.clone()),
    ];
    if let Some(certs) = &certs {
        rs_env.push(("RS_TLS_CERT", certs.cert.clone()));
        rs_env.push(("RS_TLS_KEY", certs.key.clone()));
        rs_env.extend(trust.iter().cloned());
    }
    let mut resource_server = Server::start(
        &rs_bin,
        binaries.get(&rs_bin)?,
        &rs_env,
        rs_port,
        &logs.join(LOGS[1]),
    )?;
    ready(&resource_server, started);

    let client = binaries.get(&part.bin("client"))?;
    let browser = browser_command(binaries.get(&part.bin("scripted-browser"))?)?;
    let cache = logs.join(PART6_FILES[3]);
    let mut extra = vec!["--server-url".to_owned(), mcp_url.clone()];
    if part.number == 6 {
        extra.extend(["--token-cache".to_owned(), cache.display().to_string()]);
        extra.extend(["--call".to_owned(), "greet,server_time,whoami".to_owned()]);
    }
    let trusting = match &certs {
        Some(certs) => format!(" and SSL_CERT_FILE={}", relative(Path::new(&certs.ca))),
        None => String::new(),
    };
    header(&format!(
        "Running the client: {} {}\n    \
         with BROWSER={browser}{trusting} (logs in as {USERNAME} on the real login page)",
        part.bin("client"),
        extra.join(" ")
    ));
    let (mut status, output) = run_client(client, &extra, &browser, &trust).await?;
    if part.number == 6 && status == 0 {
        header("Checking the step-up and the token the client cached");
        check_step_up(&output, &cache)?;
        check_https(&output, &issuer)?;
        // The RS too: it keeps the AS's keys in memory, and a fresh one must
        // fetch them from the restarted AS, which must still have them.
        header(
            "Killing both servers (SIGKILL) and starting them again; the AS on the same database",
        );
        for server in [&mut authorization_server, &mut resource_server] {
            let started = Instant::now();
            server.restart()?;
            ready(server, started);
        }
        extra.extend([
            "--no-browser".to_owned(),
            "--login-timeout".to_owned(),
            "5".to_owned(),
        ]);
        header(&format!(
            "Running the client again with the tokens it cached before the kill, and no browser:\n    \
             {} {}",
            part.bin("client"),
            extra.join(" ")
        ));
        status = run_client(client, &extra, &browser, &trust).await?.0;
    }
    header("Stopping the servers");
    drop(resource_server);
    drop(authorization_server);
    Ok(status)
}

fn ready(server: &Server, started: Instant) {
    println!(
        "    ready in {} ms: {} listens (log: {})",
        started.elapsed().as_millis(),
        server.name(),
        relative(server.log())
    );
}

/// What the part-6 client must have done: one login, then one step-up for
/// the union of the two scopes (rule CL-05, P6-05), ending with a signed
/// access token (P6-03) for both. Prints what it found, never the token.
fn check_step_up(output: &str, cache: &Path) -> Result<()> {
    const UNION: &str = "time:read account:read";
    let logins = output.matches("requesting scopes \"time:read\"").count();
    let step_ups = (output.matches(&format!("re-authorizing for scopes \"{UNION}\""))).count();
    if (logins, step_ups) != (1, 1) {
        bail!(
            "the client should log in once for time:read and step up once for \"{UNION}\"; \
             it logged in {logins} time(s) and stepped up {step_ups} time(s)"
        );
    }
    let text = fs::read_to_string(cache)
        .with_context(|| format!("cannot read the token cache {}", cache.display()))?;
    let cached: serde_json::Value =
        serde_json::from_str(&text).context("the token cache is not JSON")?;
    let token = cached["credentials"]["token_response"]["access_token"]
        .as_str()
        .context("the token cache holds no access token")?;
    let part = |n: usize| -> Result<serde_json::Value> {
        use base64::Engine as _;
        let segment = token
            .split('.')
            .nth(n)
            .context("the access token is not a JWT")?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .context("the access token is not a JWT (bad base64url)")?;
        serde_json::from_slice(&bytes).context("the access token is not a JWT (bad JSON)")
    };
    let (header, claims) = (part(0)?, part(1)?);
    if header["typ"] != "at+jwt" || header["alg"] != "ES256" || claims["scope"] != UNION {
        bail!(
            "the cached access token should be an ES256 JWT with typ at+jwt and scope \"{UNION}\"; \
             its header says typ {} alg {}, its scope is {}",
            header["typ"],
            header["alg"],
            claims["scope"]
        );
    }
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    println!(
        "    one login for time:read, then one step-up for \"{UNION}\" when whoami answered 403"
    );
    println!(
        "    the cached access token is a signed JWT: typ at+jwt, ES256, key {}, scope \"{UNION}\", \
         valid {lifetime} s",
        header["kid"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// The PEM files of [`crate::dev_cert`], as strings for the environment.
#[derive(Debug, Clone)]
struct Certs {
    ca: String,
    cert: String,
    key: String,
}

/// `cargo xtask dev-cert --out DIR`, run by an xtask with the `net` feature
/// (which `dev-cert` needs, and which this build may not have).
fn dev_cert(dir: &Path) -> Result<Certs> {
    header(&format!(
        "Making a local CA and a certificate for localhost (cargo xtask dev-cert --out {})",
        relative(dir)
    ));
    let xtask = process::cargo_build(&["--quiet", "--bin", "xtask"])?;
    let output = Command::new(xtask.get("xtask")?)
        .args(["dev-cert", "--out"])
        .arg(dir)
        .output()
        .context("cannot run xtask dev-cert")?;
    if !output.status.success() {
        bail!(
            "cargo xtask dev-cert failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let file = |name: &str| dir.join(name).display().to_string();
    Ok(Certs {
        ca: file("ca.pem"),
        cert: file("localhost.pem"),
        key: file("localhost-key.pem"),
    })
}

/// Part 6's run went over https: the client found the https issuer.
fn check_https(output: &str, issuer: &str) -> Result<()> {
    if !issuer.starts_with("https://") || !output.contains(issuer) {
        bail!("the client should have used the authorization server at {issuer}");
    }
    println!(
        "    every request went over https: the issuer is {issuer}, and the client, its \
         scripted browser and the RS trusted the run's CA through SSL_CERT_FILE"
    );
    Ok(())
}

/// Runs the client in the foreground, its results going straight to our
/// stdout and its steps (stderr) echoed as they come and returned with its
/// status. Its status is polled rather than
/// awaited, so the child stays in a [`ChildGuard`] that kills and reaps it
/// if this future is dropped.
async fn run_client(
    client: &Path,
    args: &[String],
    browser: &str,
    env: &[(&str, String)],
) -> Result<(i32, String)> {
    let mut command = Command::new(client);
    command
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("BROWSER", browser)
        .env("AS_DEMO_USERNAME", USERNAME)
        .env("AS_DEMO_PASSWORD", PASSWORD)
        .env("MCP_LOGIN_TIMEOUT", "60");
    clean_environment(&mut command);
    let mut child = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", client.display()))?;
    let transcript = child.stderr.take();
    let mut child = ChildGuard(child);
    // The client writes its steps to stderr (its results go to stdout): a
    // thread echoes them line by line and keeps a copy; it ends when the
    // client closes its stderr.
    let echo = std::thread::spawn(move || {
        use std::io::{BufRead as _, Write as _};
        let mut kept = String::new();
        for line in std::io::BufReader::new(transcript?)
            .lines()
            .map_while(Result::ok)
        {
            let mut out = std::io::stderr().lock();
            let _ = writeln!(out, "{line}");
            kept.push_str(&line);
            kept.push('\n');
        }
        Some(kept)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().context("cannot wait for the client")? {
            break status;
        }
        if started.elapsed() > CLIENT_DEADLINE {
            bail!("the client did not finish within {CLIENT_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let output = echo.join().ok().flatten().unwrap_or_default();
    // A client killed by a signal has no code; report it like a shell would.
    Ok((status.code().unwrap_or(INTERRUPTED), output))
}

/// The `BROWSER` value. Clients split `BROWSER` on whitespace, so a path
/// with a space in it gets a space-free symbolic link in the temp dir.
fn browser_command(scripted_browser: &Path) -> Result<String> {
    let path = scripted_browser.to_string_lossy().into_owned();
    if !path.contains(char::is_whitespace) {
        return Ok(path);
    }
    #[cfg(unix)]
    {
        let link = std::env::temp_dir().join("part5-scripted-browser-demo");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(scripted_browser, &link)
            .with_context(|| format!("cannot create {}", link.display()))?;
        let link = link.to_string_lossy().into_owned();
        if !link.contains(char::is_whitespace) {
            return Ok(link);
        }
    }
    bail!("the scripted browser's path has a space in it, which BROWSER cannot hold: {path}")
}

/// `path` relative to the repository root when it is inside it.
fn relative(path: &Path) -> String {
    let root = workspace::root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One line per step, so a newcomer can follow what happens.
fn header(text: &str) {
    println!("\n==> {text}");
}

/// Prints the servers' logs, for a failed run.
fn print_logs(logs: &Path) {
    for name in LOGS {
        let path = logs.join(name);
        if let Ok(text) = fs::read_to_string(&path) {
            eprintln!("\n---- {} ----\n{}", relative(&path), text.trim_end());
        }
    }
}
