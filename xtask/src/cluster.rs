//! `cargo xtask cluster [--quick]`: part 6 as a deployment runs it, on
//! loopback — one PostgreSQL, two authorization servers (AS) and two
//! resource servers (RS), and Debian's HAProxy in front of each pair —
//! then a load through the balancers during which one AS and one RS are
//! killed and started again.
//!
//! ```text
//!                      ┌── as1 ──┐
//!  client ── HAProxy ──┤         ├── PostgreSQL
//!    │      (AS pair)  └── as2 ──┘
//!    │
//!    └───── HAProxy ──┬── rs1     (each RS checks tokens with the AS
//!          (RS pair)  └── rs2      pair's keys, fetched through HAProxy)
//! ```
//!
//! 1. Starts everything ([`haproxy`] writes the balancer's configuration:
//!    health checks on each instance's `/readyz`, sticky 2025-11-25
//!    sessions) and waits until HAProxy reports the four instances up.
//! 2. Runs the real `part6-client` through the balancers with the scripted
//!    browser (a login, a step-up for `whoami`), checks that a 2025-11-25
//!    session keeps reaching the instance that holds it, and gets the
//!    refresh tokens of ten flows: tokens issued before the kill.
//! 3. The load: wrk sends protected `server_time` calls of protocol
//!    2026-07-28 to the RS balancer while full OAuth flows (register,
//!    authorize, log in, token, then a revocation) run against the AS
//!    balancer, each from another loopback address (another person), and
//!    one address floods `/register` as a script would. A quarter of the
//!    way in, `as1` and `rs1` are killed
//!    (SIGKILL); when HAProxy has marked them down they stay down for a
//!    while, then start again, and HAProxy marks them up. Each instance's
//!    `/metrics` and HAProxy's statuses are scraped every 500 ms
//!    ([`scrape`]).
//! 4. After the load: each refresh token from before the kill is refreshed,
//!    the access token from before it is used, and the client runs again
//!    with its cached tokens and no browser.
//!
//! It prints flows completed and failed, requests per second and p99 of
//! the calls, the balancer's timeline, and the counts scraped from every
//! instance, and writes charts of the requests per second of the authorization
//! and resource servers ([`chart`]) to `target/cluster/`, and with `--book`
//! into the book.
//!
//! The bounds, which fail the command: every refresh token issued before
//! the kill still refreshes, and the access token still calls; every full
//! flow that started after HAProxy marked the killed AS down completed; the
//! client's runs succeed, the second with no login; the session sticks;
//! the flood is throttled as its own source, and nobody else is.
//!
//! Every connection reaches the servers from HAProxy's address, 127.0.0.1;
//! HAProxy names the client in a PROXY protocol header, which the servers
//! read from 127.0.0.1 only (rule P6-11), so their default per-source
//! limits (AS-16, AS-17, AS-19) count people, not the balancer.

mod chart;
mod haproxy;
mod scrape;

use std::{
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};

use self::{
    chart::Event,
    haproxy::{Backend, Fronts},
    scrape::{Sample, Target},
};
use crate::{
    bench::{
        check_stateless, oauth, stateless_spec,
        stats::{format_ms, format_rate},
        wrk,
    },
    postgres::Postgres,
    process::{self, Server, interrupted},
    workspace,
};

pub const USAGE: &str = "usage: cargo xtask cluster [--quick] [--seconds S] [--book]

  --quick      debug binaries and a 12 s load (CI)
  --seconds S  seconds of load (default 30; the kill comes at a quarter)
  --book       also write the charts and the figures to book/src/generated/cluster-*

Exits with an error when a bound fails.";

/// What to run.
#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    seconds: u64,
    book: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            quick: false,
            seconds: 30,
            book: false,
        };
        let mut args = args.iter();
        let mut seconds = None;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--book" => options.book = true,
                "--seconds" => {
                    let value = args.next().context("--seconds needs a value")?;
                    seconds = Some(value.parse().context("--seconds takes whole seconds")?);
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument `{other}`\n\n{USAGE}"),
            }
        }
        options.seconds = seconds.unwrap_or(if options.quick { 12 } else { 30 });
        ensure!(options.seconds >= 8, "--seconds must be at least 8");
        Ok(options)
    }
}

/// The demo user (the AS's defaults, set explicitly).
const USERNAME: &str = "demo_user";
const PASSWORD: &str = "demo_password";
/// The scope of `server_time` in part 6.
const SCOPE: &str = "time:read";
/// `AS_RATE_REGISTER`: registrations a minute from one source (the
/// default, set explicitly because the flood's bound is computed from it).
const REGISTER_PER_MINUTE: u64 = 120;
/// Refresh tokens obtained before the kill and refreshed after it.
const KEPT_FLOWS: usize = 10;
/// Full flows running at once during the load.
const FLOW_WORKERS: usize = 2;
/// wrk's connections and threads.
const CONNECTIONS: u32 = 32;
const THREADS: u32 = 2;
/// How long HAProxy may take to mark a killed instance down, or a
/// restarted one up, before the run fails.
const STATUS_DEADLINE: Duration = Duration::from_secs(15);

pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    wrk::ensure_installed()?;
    let haproxy = process::ensure_debian_program("haproxy", "haproxy")?;
    let binaries = Binaries::build(options.quick)?;
    let out = process::target_dir().join("cluster");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(out.join("logs"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    eprintln!("cluster: starting PostgreSQL");
    let postgres = Postgres::start()?;
    let database = postgres.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(async {
        tokio::select! {
            biased;
            () = interrupted() => bail!("interrupted; every server is stopped"),
            report = cluster(&options, &binaries, &haproxy, &database, &out) => report,
        }
    });
    drop(runtime);
    drop(postgres);
    let report = report?;
    println!("{}", report.text);
    std::fs::write(out.join("cluster.md"), &report.text)?;
    let generated = workspace::root().join("book/src/generated");
    for (pair, svg) in &report.charts {
        std::fs::write(out.join(format!("cluster-{pair}.svg")), svg)?;
        if options.book {
            std::fs::write(generated.join(format!("cluster-{pair}.svg")), svg)?;
        }
    }
    println!("wrote target/cluster/cluster.md, cluster-as.svg and cluster-rs.svg");
    if options.book {
        std::fs::write(generated.join("cluster-run.md"), &report.text)?;
        println!("wrote book/src/generated/cluster-run.md, cluster-as.svg and cluster-rs.svg");
    }
    let failed: Vec<&Bound> = report.bounds.iter().filter(|bound| !bound.passed).collect();
    println!(
        "{} passed, {} failed",
        report.bounds.len() - failed.len(),
        failed.len()
    );
    ensure!(failed.is_empty(), "{} bound(s) failed", failed.len());
    Ok(())
}

/// The binaries the run starts.
#[derive(Debug)]
struct Binaries {
    authorization_server: PathBuf,
    resource_server: PathBuf,
    client: PathBuf,
    scripted_browser: PathBuf,
    profile: &'static str,
}

impl Binaries {
    /// The servers in release mode (debug with `quick`, which the tests
    /// have built already), the client and its scripted browser in debug.
    fn build(quick: bool) -> Result<Self> {
        let servers = ["--bin", "part6-as", "--bin", "part6-rs"];
        let mut debug = vec!["--quiet", "--bin", "part6-client"];
        debug.extend(["--bin", "part6-scripted-browser"]);
        if quick {
            debug.extend(servers);
        }
        eprintln!("cluster: building part 6");
        let built = process::cargo_build(&debug)?;
        let release = if quick {
            None
        } else {
            let mut args = vec!["--release", "--quiet"];
            args.extend(servers);
            Some(process::cargo_build(&args)?)
        };
        let server = |name: &str| match &release {
            Some(release) => release.get(name).map(Path::to_path_buf),
            None => built.get(name).map(Path::to_path_buf),
        };
        Ok(Self {
            authorization_server: server("part6-as")?,
            resource_server: server("part6-rs")?,
            client: built.get("part6-client")?.to_path_buf(),
            scripted_browser: built.get("part6-scripted-browser")?.to_path_buf(),
            profile: if quick { "debug" } else { "release" },
        })
    }
}

/// A bound of the run and whether it held.
#[derive(Debug)]
struct Bound {
    passed: bool,
    text: String,
}

impl Bound {
    fn new(passed: bool, text: impl Into<String>) -> Self {
        Self {
            passed,
            text: text.into(),
        }
    }
}

/// What the run prints and writes.
#[derive(Debug)]
struct Report {
    text: String,
    /// `as` and `rs`, each with its SVG.
    charts: [(&'static str, String); 2],
    bounds: Vec<Bound>,
}

/// One full flow of the load.
#[derive(Debug, Clone)]
struct FlowRecord {
    /// Seconds since the load started.
    started: f64,
    error: Option<String>,
}

/// The four instances, their balancers, and what is needed to reach them.
struct Cluster {
    issuer: String,
    mcp_url: String,
    stats_port: u16,
    instances: Vec<Server>,
    names: Vec<String>,
    targets: Vec<Target>,
    _haproxy: Server,
}

/// Indexes into [`Cluster::instances`]: the instances the run kills.
const AS1: usize = 0;
const RS1: usize = 2;

async fn cluster(
    options: &Options,
    binaries: &Binaries,
    haproxy: &Path,
    database: &str,
    out: &Path,
) -> Result<Report> {
    let mut cluster = tokio::task::block_in_place(|| start(binaries, haproxy, database, out))?;
    let http = oauth::http_client()?;
    wait_for_statuses(&http, &cluster, |_| true, "up").await?;
    let mut bounds = Vec::new();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Part 6 as a cluster: PostgreSQL, 2 authorization servers and 2 resource servers \
         ({} build), HAProxy in front of each pair, on loopback.\n",
        binaries.profile
    );

    // Before the load: the client, a sticky session, tokens to keep.
    let cache = out.join("client-tokens.json");
    let first = run_client(binaries, &cluster.mcp_url, &cache, true).await;
    bounds.push(match &first {
        Ok(logins) => Bound::new(
            *logins == 2,
            format!(
                "part6-client through the balancers: greet, server_time, whoami with {logins} \
                 login(s) (a login and one step-up expected)"
            ),
        ),
        Err(error) => Bound::new(
            false,
            format!("part6-client through the balancers: {error:#}"),
        ),
    });
    let token = oauth::full_flow_for(&http, &cluster.issuer, &cluster.mcp_url, SCOPE, true)
        .await
        .context("a flow through the AS balancer failed before the load")?;
    let access = (token.tokens["access_token"].as_str())
        .context("no access token")?
        .to_owned();
    bounds.push(sticky_session(&http, &cluster.mcp_url, &access).await);
    let mut kept = Vec::new();
    for _ in 0..KEPT_FLOWS {
        let flow =
            oauth::full_flow_for(&http, &cluster.issuer, &cluster.mcp_url, SCOPE, true).await?;
        kept.push(flow);
    }
    let spec = stateless_spec(Some(&access), "server_time", "{}");
    check_stateless(&http, &cluster.mcp_url, &spec).await?;
    let script = out.join("protected-2026.lua");
    std::fs::write(&script, wrk::script(&spec))?;

    // The load.
    let started = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampler = tokio::spawn(scrape::sample(
        http.clone(),
        cluster.targets.clone(),
        started,
        samples.clone(),
    ));
    let seconds = options.seconds;
    let rs_base = cluster.mcp_url.trim_end_matches("/mcp").to_owned();
    let wrk_run = tokio::task::spawn_blocking(move || {
        wrk::run(
            &rs_base,
            &script,
            CONNECTIONS,
            THREADS,
            Duration::from_secs(seconds),
        )
    });
    let load_ends = started + Duration::from_secs(seconds);
    let flows = Arc::new(Mutex::new(Vec::<FlowRecord>::new()));
    let workers: Vec<_> = (0..FLOW_WORKERS)
        .map(|worker| {
            let (issuer, resource) = (cluster.issuer.clone(), cluster.mcp_url.clone());
            let flows = flows.clone();
            tokio::spawn(async move {
                let mut count = 0;
                while Instant::now() < load_ends {
                    let at = started.elapsed().as_secs_f64();
                    // Each flow is another person: another address.
                    let source = user_address(count * FLOW_WORKERS + worker);
                    count += 1;
                    let result = async {
                        let http = oauth::http_client_from(Some(source))?;
                        let flow =
                            oauth::full_flow_for(&http, &issuer, &resource, SCOPE, true).await?;
                        // A client that logs out: the demo user's grants
                        // stay under AS-16's bound however long the load.
                        oauth::log_out(&http, &issuer, &flow).await
                    }
                    .await;
                    (flows.lock().unwrap_or_else(PoisonError::into_inner)).push(FlowRecord {
                        started: at,
                        error: result.err().map(|error| format!("{error:#}")),
                    });
                }
            })
        })
        .collect();

    let flood = tokio::spawn(flood(cluster.issuer.clone(), load_ends));
    let mut events = Vec::new();
    let mut event = |label: String| {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("cluster: {seconds:5.1} s  {label}");
        events.push(Event { seconds, label });
        seconds
    };
    tokio::time::sleep_until((started + Duration::from_secs(seconds) / 4).into()).await;
    for index in [AS1, RS1] {
        cluster.instances[index].stop();
    }
    event("as1, rs1 killed".into());
    let killed = [cluster.names[AS1].clone(), cluster.names[RS1].clone()];
    wait_for_statuses(
        &http,
        &cluster,
        |name| !killed.contains(&name.to_owned()),
        "down",
    )
    .await?;
    let as_down = event("HAProxy: as1, rs1 down".into());
    tokio::time::sleep_until((started + Duration::from_secs(seconds) * 11 / 20).into()).await;
    tokio::task::block_in_place(|| {
        for index in [AS1, RS1] {
            cluster.instances[index].restart()?;
        }
        anyhow::Ok(())
    })?;
    event("as1, rs1 restarted".into());
    wait_for_statuses(&http, &cluster, |_| true, "up").await?;
    let back_up = event("HAProxy: as1, rs1 up".into());

    for worker in workers {
        worker.await?;
    }
    let flood = flood.await??;
    let calls = wrk_run.await??;
    tokio::time::sleep(scrape::INTERVAL * 2).await;
    sampler.abort();
    let samples = samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let flows = flows.lock().unwrap_or_else(PoisonError::into_inner).clone();

    // After the load.
    let mut refreshed = 0;
    let mut refresh_errors = Vec::new();
    for flow in &kept {
        let refresh = flow.tokens["refresh_token"].as_str().unwrap_or_default();
        match oauth::refresh(&http, &cluster.issuer, &flow.client_id, refresh).await {
            Ok(_) => refreshed += 1,
            Err(error) => refresh_errors.push(format!("{error:#}")),
        }
    }
    bounds.push(Bound::new(
        refreshed == kept.len(),
        format!(
            "refresh tokens issued before the kill, refreshed after it: {refreshed} of {}{}",
            kept.len(),
            first_error(&refresh_errors)
        ),
    ));
    let still = check_stateless(&http, &cluster.mcp_url, &spec).await;
    bounds.push(Bound::new(
        still.is_ok(),
        match still {
            Ok(()) => "the access token issued before the kill still calls server_time".to_owned(),
            Err(error) => format!("the access token issued before the kill: {error:#}"),
        },
    ));
    let second = run_client(binaries, &cluster.mcp_url, &cache, false).await;
    bounds.push(match &second {
        Ok(logins) => Bound::new(
            *logins == 0,
            format!(
                "part6-client again after the restarts, with its cached tokens and no browser: \
                 {logins} login(s)"
            ),
        ),
        Err(error) => Bound::new(false, format!("part6-client after the restarts: {error:#}")),
    });
    let after_down: Vec<&FlowRecord> = flows.iter().filter(|f| f.started >= as_down).collect();
    let failed_after: Vec<String> = (after_down.iter())
        .filter_map(|flow| flow.error.clone())
        .collect();
    bounds.push(Bound::new(
        failed_after.is_empty() && !after_down.is_empty(),
        format!(
            "full flows started after HAProxy marked as1 down: {} of {} completed{}",
            after_down.len() - failed_after.len(),
            after_down.len(),
            first_error(&failed_after)
        ),
    ));

    // Every instance's metrics once, for the flood's bound and the table.
    let mut pages = Vec::new();
    for target in &cluster.targets {
        pages.push(scrape::metrics(&http, target).await.unwrap_or_default());
    }
    let throttled: f64 = (cluster.targets.iter().zip(&pages))
        .filter(|(target, _)| target.name.starts_with("as"))
        .map(|(_, page)| scrape::sum(page, "http_throttled_requests_total"))
        .sum();
    // What one source may register in the load: a full bucket per AS
    // process (as1 twice: it was restarted) and the refill of two.
    let allowance = 3 * REGISTER_PER_MINUTE + 2 * REGISTER_PER_MINUTE * seconds / 60;
    let people_throttled = (flows.iter())
        .filter(|flow| flow.error.as_deref().is_some_and(|e| e.contains("429")))
        .count();
    bounds.push(Bound::new(
        flood.refused > 0
            && flood.registered <= allowance
            && throttled > 0.0
            && people_throttled == 0,
        format!(
            "one address flooding /register through the balancer is throttled as itself: {} \
             registered (its allowance: {allowance}), {} refused with 429, {} other answers; the \
             instances counted {throttled:.0} throttled requests; flows of the {} people \
             refused with 429: {people_throttled}",
            flood.registered,
            flood.refused,
            flood.other,
            flows.len()
        ),
    ));
    let failed_flows: Vec<&FlowRecord> = flows.iter().filter(|f| f.error.is_some()).collect();
    let _ = writeln!(text, "| during {seconds} s of load | figure |\n|---|---:|");
    let _ = writeln!(
        text,
        "| full flows completed (register, authorize, log in, token, revoke) | {} |",
        flows.len() - failed_flows.len()
    );
    let _ = writeln!(
        text,
        "| full flows failed (started before HAProxy marked as1 down / after) | {} / {} |",
        failed_flows.len() - failed_after.len(),
        failed_after.len()
    );
    let p99 = (calls.distribution.iter())
        .find(|(percent, _)| (*percent - 99.0).abs() < 0.01)
        .map_or_else(|| "?".to_owned(), |(_, micros)| format_ms(*micros));
    let _ = writeln!(
        text,
        "| protected calls (2026-07-28, `server_time`) answered | {} |",
        calls.requests
    );
    let _ = writeln!(
        text,
        "| protected calls per second | {} |",
        format_rate(calls.requests_per_second)
    );
    let _ = writeln!(text, "| protected calls, p99 | {p99} |");
    let _ = writeln!(
        text,
        "| protected calls failed (status ≥ 400, or a socket error) | {} |",
        calls.status_errors + calls.socket_errors
    );
    let _ = writeln!(
        text,
        "| as1 and rs1 killed, then marked down by HAProxy | at {:.1} s, {:.1} s |",
        events[0].seconds, as_down
    );
    let _ = writeln!(
        text,
        "| as1 and rs1 restarted, then marked up | at {:.1} s, {back_up:.1} s |",
        events[2].seconds
    );
    if let Some(error) = failed_flows.iter().find_map(|flow| flow.error.as_deref()) {
        let _ = writeln!(text, "\nA failed flow's error: {error}");
    }
    let _ = writeln!(
        text,
        "\nScraped from each instance's `/metrics` at the end (a restarted instance counts from \
         its restart), and what each answered during the load:\n"
    );
    let _ = writeln!(
        text,
        "| instance | requests during the load | requests since start | tokens issued | revocations | calls to the AS (jwks / introspection) |\n|---|---:|---:|---:|---:|---:|"
    );
    for (index, (target, page)) in cluster.targets.iter().zip(&pages).enumerate() {
        let number = |name: &str| scrape::sum(page, name);
        let calls_by_kind =
            scrape::by_label(page, "authorization_server_calls_total", Some("kind"));
        let kind = |wanted: &str| {
            (calls_by_kind.iter())
                .find(|(kind, _)| kind == wanted)
                .map_or(0.0, |(_, value)| *value)
        };
        let is_as = target.name.starts_with("as");
        let dash = || "–".to_owned();
        let _ = writeln!(
            text,
            "| {} | {:.0} | {:.0} | {} | {} | {} |",
            target.name,
            scrape::served(&samples, index),
            number("http_requests_total"),
            if is_as {
                format!("{:.0}", number("oauth_tokens_issued_total"))
            } else {
                dash()
            },
            if is_as {
                format!("{:.0}", number("oauth_revocations_total"))
            } else {
                dash()
            },
            if is_as {
                dash()
            } else {
                format!("{:.0} / {:.0}", kind("jwks"), kind("introspection"))
            },
        );
    }
    let _ = writeln!(text, "\nThe bounds:\n");
    for bound in &bounds {
        let verdict = if bound.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(text, "- {verdict} {}", bound.text);
    }
    let charts = [
        (
            "as",
            [AS1, AS1 + 1],
            "Requests per second answered by each authorization server",
        ),
        (
            "rs",
            [RS1, RS1 + 1],
            "Requests per second answered by each resource server",
        ),
    ]
    .map(|(pair, indexes, title)| {
        let svg = chart::requests_chart(&samples, &cluster.names, &indexes, &events, title);
        (pair, svg)
    });
    Ok(Report {
        text,
        charts,
        bounds,
    })
}

/// The loopback address of the `n`th person of the load (127.0.1.1 to
/// 127.0.1.250, then again): Linux routes all of 127.0.0.0/8 to `lo`.
fn user_address(n: usize) -> IpAddr {
    let host = u8::try_from(n % 250).unwrap_or(0) + 1;
    IpAddr::from([127, 0, 1, host])
}

/// Where the flood comes from: one address, as one script would.
const FLOOD_SOURCE: [u8; 4] = [127, 0, 2, 1];

/// What the flood got.
#[derive(Debug, Default)]
struct Flood {
    registered: u64,
    refused: u64,
    other: u64,
}

/// Anonymous registrations from [`FLOOD_SOURCE`] through the AS balancer,
/// one after the other, until `ends`: what a script would send.
async fn flood(issuer: String, ends: Instant) -> Result<Flood> {
    let http = oauth::http_client_from(Some(IpAddr::from(FLOOD_SOURCE)))?;
    let mut flood = Flood::default();
    let body = serde_json::json!({
        "redirect_uris": [oauth::REDIRECT_URI],
        "token_endpoint_auth_method": "none",
    });
    while Instant::now() < ends {
        let answer = http
            .post(format!("{issuer}/register"))
            .json(&body)
            .send()
            .await;
        match answer.map(|response| response.status().as_u16()) {
            Ok(201) => flood.registered += 1,
            Ok(429) => flood.refused += 1,
            _ => flood.other += 1,
        }
    }
    Ok(flood)
}

/// `: <the first error>` when there is one.
fn first_error(errors: &[String]) -> String {
    errors
        .first()
        .map(|error| format!(" (first error: {error})"))
        .unwrap_or_default()
}

/// Starts the two AS instances on `database`, HAProxy, and the two RS
/// instances, in that order: an RS is ready once it has fetched the AS's
/// keys through the balancer.
fn start(binaries: &Binaries, haproxy: &Path, database: &str, out: &Path) -> Result<Cluster> {
    let [as_lb, rs_lb, stats, as1, as2, rs1, rs2] = process::free_ports()?;
    let [as1_admin, as2_admin, rs1_admin, rs2_admin] = process::free_ports()?;
    let issuer = format!("http://127.0.0.1:{as_lb}");
    let mcp_url = format!("http://127.0.0.1:{rs_lb}/mcp");
    let logs = out.join("logs");
    let as_env = |port: u16, admin: u16| {
        let mut env: Vec<(&str, String)> = vec![
            ("AS_HOST", "127.0.0.1".into()),
            ("AS_SERVER_PORT", port.to_string()),
            ("AS_ADMIN_PORT", admin.to_string()),
            ("AS_ISSUER", issuer.clone()),
            ("AS_RESOURCES", mcp_url.clone()),
            ("AS_DATABASE_URL", database.to_owned()),
            ("AS_DEMO_USERNAME", USERNAME.into()),
            ("AS_DEMO_PASSWORD", PASSWORD.into()),
            ("AS_LOG_LEVEL", "warn".into()),
        ];
        // HAProxy names each client in a PROXY header (rule P6-11); the
        // default per-source limits then apply to the clients.
        env.push(("AS_TRUSTED_PROXIES", "127.0.0.1".into()));
        env.push(("AS_RATE_REGISTER", REGISTER_PER_MINUTE.to_string()));
        env
    };
    let rs_env = |port: u16, admin: u16| -> Vec<(&str, String)> {
        vec![
            ("RS_HOST", "127.0.0.1".into()),
            ("RS_PORT", port.to_string()),
            ("RS_ADMIN_PORT", admin.to_string()),
            ("RS_PUBLIC_URL", mcp_url.clone()),
            ("RS_AUTH_SERVER_URL", issuer.clone()),
            ("RS_LOG_LEVEL", "warn".into()),
            ("RS_TRUSTED_PROXIES", "127.0.0.1".into()),
        ]
    };
    let specs = [
        ("as1", as1, as1_admin, true),
        ("as2", as2, as2_admin, true),
        ("rs1", rs1, rs1_admin, false),
        ("rs2", rs2, rs2_admin, false),
    ];
    let backends = |authorization: bool| -> Vec<Backend> {
        (specs.iter())
            .filter(|spec| spec.3 == authorization)
            .map(|(name, port, admin, _)| Backend {
                name: (*name).to_owned(),
                port: *port,
                admin_port: *admin,
            })
            .collect()
    };
    let config = out.join("haproxy.cfg");
    std::fs::write(
        &config,
        haproxy::config(
            Fronts {
                authorization: as_lb,
                resource: rs_lb,
                stats,
            },
            &backends(true),
            &backends(false),
        ),
    )?;
    let mut instances = Vec::new();
    for (name, port, admin, authorization) in &specs[..2] {
        debug_assert!(*authorization);
        eprintln!("cluster: starting {name} on 127.0.0.1:{port} (admin {admin})");
        instances.push(Server::start(
            name,
            &binaries.authorization_server,
            &as_env(*port, *admin),
            *port,
            &logs.join(format!("{name}.log")),
        )?);
    }
    eprintln!("cluster: starting HAProxy on 127.0.0.1:{as_lb} (AS) and :{rs_lb} (RS)");
    let balancer = Server::start_with_args(
        "haproxy",
        haproxy,
        &[
            "-f".to_owned(),
            config.display().to_string(),
            "-db".to_owned(),
        ],
        &[],
        as_lb,
        &logs.join("haproxy.log"),
    )?;
    for (name, port, admin, _) in &specs[2..] {
        eprintln!("cluster: starting {name} on 127.0.0.1:{port} (admin {admin})");
        instances.push(Server::start(
            name,
            &binaries.resource_server,
            &rs_env(*port, *admin),
            *port,
            &logs.join(format!("{name}.log")),
        )?);
    }
    Ok(Cluster {
        issuer: issuer.clone(),
        mcp_url: mcp_url.clone(),
        stats_port: stats,
        instances,
        names: specs.iter().map(|spec| spec.0.to_owned()).collect(),
        targets: (specs.iter())
            .map(|(name, _, admin, _)| Target {
                name: (*name).to_owned(),
                admin_port: *admin,
            })
            .collect(),
        _haproxy: balancer,
    })
}

/// Waits until HAProxy sends traffic to exactly the instances `up` names,
/// or fails after [`STATUS_DEADLINE`].
async fn wait_for_statuses(
    http: &reqwest::Client,
    cluster: &Cluster,
    up: impl Fn(&str) -> bool,
    what: &str,
) -> Result<()> {
    let deadline = Instant::now() + STATUS_DEADLINE;
    loop {
        let statuses = scrape::statuses(http, cluster.stats_port, &cluster.names).await;
        let as_wanted = (cluster.names.iter().zip(&statuses))
            .all(|(name, status)| haproxy::takes_traffic(status) == up(name));
        if as_wanted {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "HAProxy did not mark the instances {what} within {STATUS_DEADLINE:?}: {:?}",
                cluster.names.iter().zip(&statuses).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A 2025-11-25 session through the balancer: `initialize`, then ten calls
/// on the session, which only the instance that created it knows; with
/// round robin and no stickiness about half would get 404.
async fn sticky_session(http: &reqwest::Client, mcp_url: &str, token: &str) -> Bound {
    let result = async {
        let session = oauth::mcp_session(http, mcp_url, Some(token)).await?;
        let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"server_time","arguments":{}}}"#;
        for _ in 0..10 {
            oauth::check_call(http, mcp_url, Some(token), &session, body).await?;
        }
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => Bound::new(
            true,
            "a 2025-11-25 session through the RS balancer: 10 calls of 10 reached its instance",
        ),
        Err(error) => Bound::new(
            false,
            format!("a 2025-11-25 session through the RS balancer: {error:#}"),
        ),
    }
}

/// Runs `part6-client` through the balancers, calling the three tools,
/// with the scripted browser when `browser`; returns how many times it
/// logged in (from its `--json` output).
async fn run_client(
    binaries: &Binaries,
    mcp_url: &str,
    cache: &Path,
    browser: bool,
) -> Result<u64> {
    let mut command = tokio::process::Command::new(&binaries.client);
    command
        .args(["--server-url", mcp_url, "--json"])
        .args(["--call", "greet,server_time,whoami"])
        .arg("--token-cache")
        .arg(cache)
        .env("AS_DEMO_USERNAME", USERNAME)
        .env("AS_DEMO_PASSWORD", PASSWORD)
        .env_remove("MCP_CLIENT_ID")
        .kill_on_drop(true);
    if browser {
        command
            .env("BROWSER", &binaries.scripted_browser)
            .args(["--login-timeout", "30"]);
    } else {
        command
            .env_remove("BROWSER")
            .args(["--no-browser", "--login-timeout", "5"]);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .context("part6-client did not finish within 60 s")??;
    ensure!(
        output.status.success(),
        "part6-client exited {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("part6-client printed no JSON")?;
    let calls = outcome["calls"].as_array().map_or(0, Vec::len);
    ensure!(
        calls == 3,
        "part6-client made {calls} calls, not 3: {outcome}"
    );
    outcome["logins"]
        .as_u64()
        .context("part6-client's JSON has no `logins`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_quick() {
        let parse = |args: &[&str]| {
            Options::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
        };
        let full = parse(&[]).expect("parsed");
        assert_eq!((full.quick, full.seconds, full.book), (false, 30, false));
        let quick = parse(&["--quick"]).expect("parsed");
        assert_eq!((quick.quick, quick.seconds), (true, 12));
        assert_eq!(
            parse(&["--seconds", "20", "--book"])
                .expect("parsed")
                .seconds,
            20
        );
        assert!(parse(&["--seconds", "3"]).is_err());
        assert!(parse(&["--nope"]).is_err());
    }
}
