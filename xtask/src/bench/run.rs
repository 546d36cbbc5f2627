//! The measurement: start everything, log in, then run the scenarios
//! round-robin and collect what they report.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{
    local::{Baseline, CountingProxy},
    oauth,
    options::Options,
    servers::{self, PartBinaries, Server},
    stats::Samples,
    wrk::{self, ID_PLACEHOLDER, RequestSpec},
};
use crate::workspace;

/// The wrk scenarios, in the order every round runs them.
pub const SCENARIOS: [&str; 5] = [
    "baseline",
    "public",
    "protected-warm",
    "protected-cold",
    "introspect",
];

/// Part 6's resource server checking signed access tokens itself, with
/// its introspection cache off (not with `--quick`, which builds no part 6).
pub const JWT_SCENARIO: &str = "protected-cold-jwt";

/// The same server called the way protocol 2026-07-28 calls it: no
/// session, and one plain JSON answer per request (part 6 only).
pub const STATELESS_SCENARIOS: [&str; 2] = ["public-2026", "protected-2026"];

/// The official Python SDK's server with the same `greet`, stateless with
/// plain JSON, called like `public-2026` (part 6 only, beside it).
pub const PEER_SCENARIO: &str = "python-sdk-2026";

/// The RS's default introspection cache TTL (`RS_INTROSPECTION_CACHE_TTL`),
/// which the warm RS runs with: a cached answer is asked for again once
/// per TTL, so a long run sees one introspection per TTL that passed.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// What one scenario added up to over all rounds.
#[derive(Debug, Clone, Default)]
pub struct ScenarioResult {
    pub name: String,
    pub requests: u64,
    pub seconds: f64,
    pub socket_errors: u64,
    pub status_errors: u64,
    pub samples: Samples,
    /// For the full flow: each step's samples, in the order of
    /// [`oauth::STEPS`].
    pub steps: Vec<Samples>,
    /// `POST /introspect` requests the AS received during this scenario's
    /// slices, when a counting proxy sat in front of it.
    pub introspections: Option<u64>,
}

impl ScenarioResult {
    pub fn requests_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn errors(&self) -> u64 {
        self.socket_errors + self.status_errors
    }
}

/// One server's resident memory: after the first round, after the round
/// memory is compared at, and its peak at the end.
#[derive(Debug, Clone)]
pub struct MemoryRow {
    pub server: String,
    pub rss_first_kib: u64,
    pub rss_later_kib: u64,
    pub peak_kib: u64,
    /// Whether this server's memory is held to the no-growth target.
    pub checked: bool,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct Results {
    pub binaries: PartBinaries,
    pub cpus: usize,
    pub cpu_model: String,
    pub scenarios: Vec<ScenarioResult>,
    pub full_flow: ScenarioResult,
    /// The same flow against part 6's authorization server, on SQLite and
    /// on PostgreSQL (empty when the workspace has no part 6).
    pub store_flows: Vec<ScenarioResult>,
    pub memory: Vec<MemoryRow>,
    /// How many times the warm RS's cache TTL ran out between its first
    /// introspection and the end of its last slice: the re-introspections
    /// the cache is allowed.
    pub warm_ttl_expiries: u64,
}

impl Results {
    pub fn scenario(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|scenario| scenario.name == name)
    }

    /// Socket errors, non-2xx responses and failed flows, all together.
    pub fn errors(&self) -> u64 {
        self.scenarios
            .iter()
            .map(ScenarioResult::errors)
            .sum::<u64>()
            + self.full_flow.errors()
            + self
                .store_flows
                .iter()
                .map(ScenarioResult::errors)
                .sum::<u64>()
    }

    /// Every full-flow row: part 5's in memory, then part 6's on its databases.
    pub fn flows(&self) -> impl Iterator<Item = &ScenarioResult> {
        std::iter::once(&self.full_flow).chain(&self.store_flows)
    }
}

/// The output directory, `target/bench/`.
pub fn output_dir() -> PathBuf {
    workspace::root().join("target").join("bench")
}

/// Builds, starts, logs in, and runs every round.
pub fn measure(options: &Options) -> Result<Results> {
    wrk::ensure_installed()?;
    let binaries = servers::resolve(options.part, options.as_part)?;
    let as_bin = &binaries.authorization_server;
    let rs_bin = &binaries.resource_server;
    eprintln!(
        "bench: part {} — AS {} ({}), RS {} ({}), release build",
        binaries.part, as_bin.bin, as_bin.package, rs_bin.bin, rs_bin.package
    );
    // Part 6's rows need a release build of one more package, several
    // minutes on 2 cores: the full run has them, the CI run (--quick) not.
    let part6 = if options.quick {
        None
    } else {
        servers::resolve(Some(6), None).ok()
    };
    let mut bins = vec![as_bin.bin.as_str(), rs_bin.bin.as_str()];
    if let Some(part6) = &part6 {
        bins.extend([
            part6.authorization_server.bin.as_str(),
            part6.resource_server.bin.as_str(),
        ]);
    }
    servers::build_release(&bins)?;
    let dir = output_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);

    // Ports first: the AS must know the RS URLs (its resources) and the
    // RSes the AS URL.
    let [as_port, warm_port, cold_port] = crate::process::free_ports()?;
    let (as_address, warm_address, cold_address) =
        (loopback(as_port), loopback(warm_port), loopback(cold_port));
    let issuer = format!("http://{as_address}");
    let warm_url = format!("http://{warm_address}/mcp");
    let cold_url = format!("http://{cold_address}/mcp");

    let baseline = Baseline::start(cpus)?;
    let resources = format!("{warm_url},{cold_url}");
    let authorization_server = Server::start(
        "AS",
        &servers::release_binary(&as_bin.bin),
        &as_env(as_address.port(), &issuer, &resources),
        as_address.port(),
        &dir.join("as.log"),
    )?;
    let stores = match &part6 {
        Some(part6) => Some(StoreServers::start(
            &servers::release_binary(&part6.authorization_server.bin),
            &resources,
            &dir,
        )?),
        None => None,
    };
    let jwt = match &part6 {
        Some(part6) => Some(JwtServers::start(part6, &dir)?),
        None => None,
    };
    // The peer is a comparison, not what is measured: without Python or
    // PyPI the run goes on without its row.
    let peer = match &part6 {
        Some(_) => match start_python_peer(&dir) {
            Ok(peer) => Some(peer),
            Err(error) => {
                eprintln!("bench: no Python SDK peer row: {error:#}");
                None
            }
        },
        None => None,
    };
    // Each RS reaches the AS through its own counting proxy.
    let warm_proxy = CountingProxy::start(as_address)?;
    let cold_proxy = CountingProxy::start(as_address)?;
    let rs_binary = servers::release_binary(&rs_bin.bin);
    let rs_env = |address: SocketAddr, proxy: &CountingProxy, url: &str| {
        vec![
            ("RS_HOST", "127.0.0.1".to_owned()),
            ("RS_PORT", address.port().to_string()),
            ("RS_AUTH_SERVER_URL", format!("http://{}", proxy.address)),
            ("RS_PUBLIC_URL", url.to_owned()),
            ("RS_CLIENT_ID", "mcp-resource-server".into()),
            ("RS_CLIENT_SECRET", "demo-resource-server-secret".into()),
        ]
    };
    let warm = Server::start(
        "RS (cache on)",
        &rs_binary,
        &rs_env(warm_address, &warm_proxy, &warm_url),
        warm_address.port(),
        &dir.join("rs-warm.log"),
    )?;
    let mut cold_env = rs_env(cold_address, &cold_proxy, &cold_url);
    cold_env.push(("RS_INTROSPECTION_CACHE_TTL", "0".into()));
    let cold = Server::start(
        "RS (cache off)",
        &rs_binary,
        &cold_env,
        cold_address.port(),
        &dir.join("rs-cold.log"),
    )?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = oauth::http_client()?;
    let warm_first_introspection = Instant::now();
    let setup = runtime.block_on(async {
        let warm_token = oauth::login(&http, &issuer, &warm_url).await?;
        let cold_token = oauth::login(&http, &issuer, &cold_url).await?;
        let public_session = oauth::mcp_session(&http, &warm_url, None).await?;
        let warm_session = oauth::mcp_session(&http, &warm_url, Some(&warm_token)).await?;
        let cold_session = oauth::mcp_session(&http, &cold_url, Some(&cold_token)).await?;
        let greet = call_body("greet", r#"{"name":"bench"}"#);
        let time = call_body("server_time", "{}");
        let probe = |body: &str| body.replace(ID_PLACEHOLDER, "1");
        oauth::check_call(&http, &warm_url, None, &public_session, &probe(&greet)).await?;
        oauth::check_call(
            &http,
            &warm_url,
            Some(&warm_token),
            &warm_session,
            &probe(&time),
        )
        .await?;
        oauth::check_call(
            &http,
            &cold_url,
            Some(&cold_token),
            &cold_session,
            &probe(&time),
        )
        .await?;
        // Part 6's RS fetches the AS's keys here, on its first token: the
        // load that follows should need no AS call at all.
        let jwt_setup = match &jwt {
            Some(jwt) => {
                let token = oauth::login(&http, &jwt.issuer, &jwt.mcp_url).await?;
                let session = oauth::mcp_session(&http, &jwt.mcp_url, Some(&token)).await?;
                oauth::check_call(&http, &jwt.mcp_url, Some(&token), &session, &probe(&time))
                    .await?;
                for (spec_token, tool, arguments) in [
                    (None, "greet", r#"{"name":"bench"}"#),
                    (Some(token.as_str()), "server_time", "{}"),
                ] {
                    let spec = stateless_spec(spec_token, tool, arguments);
                    check_stateless(&http, &jwt.mcp_url, &spec).await?;
                }
                if let Some((url, _)) = &peer {
                    let spec = stateless_spec(None, "greet", r#"{"name":"bench"}"#);
                    check_stateless(&http, &format!("{url}/mcp"), &spec).await?;
                }
                Some((token, session))
            }
            None => None,
        };
        anyhow::Ok((
            warm_token,
            cold_token,
            public_session,
            warm_session,
            cold_session,
            jwt_setup,
        ))
    })?;
    let (warm_token, cold_token, public_session, warm_session, cold_session, jwt_setup) = setup;

    let mut specs = vec![
        (format!("http://{}", baseline.address), baseline_spec()),
        (
            format!("http://{warm_address}"),
            mcp_spec(
                None,
                &public_session,
                call_body("greet", r#"{"name":"bench"}"#),
            ),
        ),
        (
            format!("http://{warm_address}"),
            mcp_spec(
                Some(&warm_token),
                &warm_session,
                call_body("server_time", "{}"),
            ),
        ),
        (
            format!("http://{cold_address}"),
            mcp_spec(
                Some(&cold_token),
                &cold_session,
                call_body("server_time", "{}"),
            ),
        ),
        (issuer.clone(), introspect_spec(&warm_token)),
    ];
    let mut names: Vec<&str> = SCENARIOS.to_vec();
    if let (Some(jwt), Some((token, session))) = (&jwt, &jwt_setup) {
        let base = jwt.mcp_url.trim_end_matches("/mcp").to_owned();
        names.push(JWT_SCENARIO);
        specs.push((
            base.clone(),
            mcp_spec(Some(token), session, call_body("server_time", "{}")),
        ));
        names.extend(STATELESS_SCENARIOS);
        specs.push((
            base.clone(),
            stateless_spec(None, "greet", r#"{"name":"bench"}"#),
        ));
        specs.push((base, stateless_spec(Some(token), "server_time", "{}")));
        if let Some((url, _)) = &peer {
            names.push(PEER_SCENARIO);
            specs.push((
                url.clone(),
                stateless_spec(None, "greet", r#"{"name":"bench"}"#),
            ));
        }
    }
    let mut scripts = Vec::new();
    for (name, (_, spec)) in names.iter().zip(&specs) {
        let path = dir.join(format!("{name}.lua"));
        fs::write(&path, wrk::script(spec))
            .with_context(|| format!("cannot write {}", path.display()))?;
        scripts.push(path);
    }

    let mut scenarios: Vec<ScenarioResult> = names
        .iter()
        .map(|name| ScenarioResult {
            name: (*name).to_owned(),
            ..ScenarioResult::default()
        })
        .collect();
    let mut full_flow = ScenarioResult {
        name: "full-flow".into(),
        ..ScenarioResult::default()
    };
    let mut store_flows: Vec<ScenarioResult> = (stores.iter())
        .flat_map(|stores| &stores.servers)
        .map(|(name, _, _)| ScenarioResult {
            name: name.clone(),
            ..ScenarioResult::default()
        })
        .collect();
    let mut watched = vec![&warm, &cold, &authorization_server];
    watched.extend(jwt.as_ref().map(|jwt| &jwt.resource_server));
    let mut rss_after_round: Vec<Vec<u64>> = Vec::new();
    let threads = u32::try_from(cpus).unwrap_or(1);
    let mut warm_last_slice_end = Instant::now();
    for round in 1..=options.rounds {
        for (index, scenario) in scenarios.iter_mut().enumerate() {
            eprintln!(
                "bench: round {round}/{}: {} for {} s",
                options.rounds,
                scenario.name,
                options.slice().as_secs()
            );
            let proxy = match scenario.name.as_str() {
                "protected-warm" => Some(&warm_proxy),
                "protected-cold" => Some(&cold_proxy),
                JWT_SCENARIO | "protected-2026" => jwt.as_ref().map(|jwt| &jwt.proxy),
                _ => None,
            };
            let before = proxy.map(CountingProxy::count);
            let report = wrk::run(
                &specs[index].0,
                &scripts[index],
                options.connections,
                threads,
                options.slice(),
            )?;
            if scenario.name == "protected-warm" {
                warm_last_slice_end = Instant::now();
            }
            if let (Some(proxy), Some(before)) = (proxy, before) {
                *scenario.introspections.get_or_insert(0) += proxy.count() - before;
            }
            scenario.requests += report.requests;
            scenario.seconds += report.seconds;
            scenario.socket_errors += report.socket_errors;
            scenario.status_errors += report.status_errors;
            scenario
                .samples
                .push_sketch(&report.sketch, report.requests);
        }
        let flows = flows_in_round(options, round);
        eprintln!(
            "bench: round {round}/{}: full-flow × {flows}",
            options.rounds
        );
        runtime.block_on(run_flows(&http, &issuer, &warm_url, flows, &mut full_flow));
        let store_servers = stores.iter().flat_map(|stores| &stores.servers);
        for ((name, store_issuer, _), result) in store_servers.zip(&mut store_flows) {
            eprintln!("bench: round {round}/{}: {name} × {flows}", options.rounds);
            runtime.block_on(run_flows(&http, store_issuer, &warm_url, flows, result));
        }
        rss_after_round.push(
            watched
                .iter()
                .map(|server| servers::memory(server).map(|memory| memory.rss_kib))
                .collect::<Result<_>>()?,
        );
    }

    let later = options.memory_round() - 1;
    let mut memory = Vec::new();
    for (index, server) in watched.iter().enumerate() {
        memory.push(MemoryRow {
            server: server.name().to_owned(),
            rss_first_kib: rss_after_round[0][index],
            rss_later_kib: rss_after_round[later][index],
            peak_kib: servers::memory(server)?.peak_kib,
            // The AS gains state with every full flow (clients, grants,
            // tokens until they expire), so only the RSes are held to it.
            checked: !std::ptr::eq(*server, &authorization_server),
        });
    }
    Ok(Results {
        binaries,
        cpus,
        cpu_model: cpu_model(Path::new("/proc/cpuinfo")),
        scenarios,
        full_flow,
        store_flows,
        memory,
        warm_ttl_expiries: (warm_last_slice_end - warm_first_introspection).as_secs()
            / DEFAULT_CACHE_TTL.as_secs(),
    })
}

/// The environment of an authorization server for the bench.
fn as_env(port: u16, issuer: &str, resources: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AS_HOST", "127.0.0.1".into()),
        ("AS_SERVER_PORT", port.to_string()),
        ("AS_ISSUER", issuer.to_owned()),
        ("AS_RESOURCES", resources.to_owned()),
        ("AS_INTROSPECTION_CLIENT_ID", "mcp-resource-server".into()),
        (
            "AS_INTROSPECTION_CLIENT_SECRET",
            "demo-resource-server-secret".into(),
        ),
        ("AS_DEMO_USERNAME", oauth::USERNAME.into()),
        ("AS_DEMO_PASSWORD", oauth::PASSWORD.into()),
        // The bench measures cost, not flood defence: its thousands of
        // flows and introspections a second all come from 127.0.0.1,
        // so the per-source rate limits (rule AS-17) are off here.
        ("AS_RATE_REGISTER", "0".into()),
        ("AS_RATE_AUTHORIZE", "0".into()),
        ("AS_RATE_LOGIN", "0".into()),
        ("AS_RATE_TOKEN", "0".into()),
        ("AS_RATE_INTROSPECT", "0".into()),
        ("AS_RATE_REVOKE", "0".into()),
    ]
}

/// Part 6's authorization server, once on a fresh SQLite file and once on
/// a throwaway PostgreSQL, for the full-flow rows beside part 5's in-memory
/// one: what keeping state in a database costs a sign-in.
struct StoreServers {
    /// (scenario name, issuer, server), each dropped before the database.
    servers: Vec<(String, String, Server)>,
    _postgres: crate::postgres::Postgres,
    _sqlite_dir: tempfile::TempDir,
}

impl StoreServers {
    fn start(binary: &Path, resources: &str, logs: &Path) -> Result<Self> {
        let sqlite_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let postgres = crate::postgres::Postgres::start()?;
        let databases = [
            (
                "full-flow (part 6, SQLite)",
                format!("sqlite://{}", sqlite_dir.path().join("as.db").display()),
                "as-sqlite.log",
            ),
            (
                "full-flow (part 6, PostgreSQL)",
                postgres.url(),
                "as-postgres.log",
            ),
        ];
        let ports: [u16; 2] = crate::process::free_ports()?;
        let mut servers = Vec::new();
        for ((name, database, log), port) in databases.into_iter().zip(ports) {
            let issuer = format!("http://{}", loopback(port));
            let mut env = as_env(port, &issuer, resources);
            env.push(("AS_DATABASE_URL", database));
            let server = Server::start(name, binary, &env, port, &logs.join(log))?;
            servers.push((name.to_owned(), issuer, server));
        }
        Ok(Self {
            servers,
            _postgres: postgres,
            _sqlite_dir: sqlite_dir,
        })
    }
}

/// For [`JWT_SCENARIO`]: part 6's AS on a fresh SQLite file, behind a
/// counting proxy whose address is the issuer (the RS compares a token's
/// `iss` with it byte for byte, and fetches the keys through it), and part
/// 6's RS with its defaults for signed tokens (`RS_TOKEN_CHECK=local`) and
/// its introspection cache off, so that nothing but the local check can
/// spare it a call to the AS, and any call to the AS is counted.
struct JwtServers {
    issuer: String,
    mcp_url: String,
    proxy: CountingProxy,
    resource_server: Server,
    _authorization_server: Server,
    _dir: tempfile::TempDir,
}

impl JwtServers {
    fn start(part6: &PartBinaries, logs: &Path) -> Result<Self> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let [as_port, rs_port] = crate::process::free_ports()?;
        let proxy = CountingProxy::start(loopback(as_port))?;
        let issuer = format!("http://{}", proxy.address);
        let mcp_url = format!("http://{}/mcp", loopback(rs_port));
        let mut env = as_env(as_port, &issuer, &mcp_url);
        env.push((
            "AS_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("as.db").display()),
        ));
        // The bench's token must outlive the whole run.
        env.push(("AS_TOKEN_LIFETIME", "86400".into()));
        let authorization_server = Server::start(
            "AS (part 6)",
            &servers::release_binary(&part6.authorization_server.bin),
            &env,
            as_port,
            &logs.join("as-jwt.log"),
        )?;
        let resource_server = Server::start(
            "RS (part 6, JWT)",
            &servers::release_binary(&part6.resource_server.bin),
            &[
                ("RS_HOST", "127.0.0.1".to_owned()),
                ("RS_PORT", rs_port.to_string()),
                ("RS_AUTH_SERVER_URL", issuer.clone()),
                ("RS_PUBLIC_URL", mcp_url.clone()),
                ("RS_TOKEN_CHECK", "local".into()),
                ("RS_INTROSPECTION_CACHE_TTL", "0".into()),
                // The bench logs in for `mcp:tools`, the scope of part 5's
                // protected tool; per-tool scopes cost the same.
                ("RS_REQUIRE_AUTH_FOR_TOOLS", "server_time".into()),
            ],
            rs_port,
            &logs.join("rs-jwt.log"),
        )?;
        Ok(Self {
            issuer,
            mcp_url,
            proxy,
            resource_server,
            _authorization_server: authorization_server,
            _dir: dir,
        })
    }
}

/// The peer server (`python_peer.py`, written next to the logs) from the
/// interop tools' venv, on a free port: its base URL and the server.
fn start_python_peer(logs: &Path) -> Result<(String, Server)> {
    let python = crate::interop::python_sdk()?;
    let script = logs.join("python_peer.py");
    fs::write(&script, include_str!("python_peer.py"))
        .with_context(|| format!("cannot write {}", script.display()))?;
    let [port] = crate::process::free_ports()?;
    let server = Server::start_with_args(
        "Python SDK peer",
        &python,
        &[script.display().to_string(), port.to_string()],
        &[],
        port,
        &logs.join("python-peer.log"),
    )?;
    Ok((format!("http://{}", loopback(port)), server))
}

/// The flows of round `round`: the total spread evenly, the rest first.
fn flows_in_round(options: &Options, round: u32) -> u32 {
    let base = options.flows / options.rounds;
    base + u32::from(round <= options.flows % options.rounds)
}

/// Runs `count` whole flows one after the other and records each.
///
/// After each flow, untimed, the client revokes its refresh token, which
/// ends its grant, as a client that logs out would. Without that, 300
/// flows for the one demo user would pass the AS's bound of 200 grants per
/// user (rule AS-16), whose oldest grants, the ones the protected
/// scenarios' tokens belong to, would be revoked halfway through the run.
async fn run_flows(
    http: &reqwest::Client,
    issuer: &str,
    resource: &str,
    count: u32,
    into: &mut ScenarioResult,
) {
    for _ in 0..count {
        let started = Instant::now();
        let result = oauth::full_flow(http, issuer, resource, true).await;
        let elapsed = started.elapsed();
        into.seconds += elapsed.as_secs_f64();
        let result = match result {
            Ok(flow) => oauth::log_out(http, issuer, &flow)
                .await
                .map(|()| flow.times),
            Err(error) => Err(error),
        };
        match result {
            Ok(times) => {
                into.requests += 1;
                into.samples.push(elapsed.as_secs_f64() * 1e6);
                into.steps.resize_with(times.len(), Samples::default);
                for (samples, micros) in into.steps.iter_mut().zip(times) {
                    samples.push(micros);
                }
            }
            Err(error) => {
                into.status_errors += 1;
                if into.status_errors == 1 {
                    eprintln!("bench: a full flow failed: {error:#}");
                }
            }
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A `tools/call` body with the id left to wrk.
fn call_body(tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{ID_PLACEHOLDER},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

/// The baseline gets the same kind of request as the MCP scenarios: a JSON
/// POST of about the same size, with a fresh id each time.
fn baseline_spec() -> RequestSpec {
    RequestSpec {
        method: "POST",
        path: "/".into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (
                "Accept".into(),
                "application/json, text/event-stream".into(),
            ),
        ],
        body: call_body("greet", r#"{"name":"bench"}"#),
    }
}

fn mcp_spec(token: Option<&str>, session: &str, body: String) -> RequestSpec {
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "Accept".to_owned(),
            "application/json, text/event-stream".to_owned(),
        ),
        ("Mcp-Session-Id".to_owned(), session.to_owned()),
        (
            "MCP-Protocol-Version".to_owned(),
            oauth::PROTOCOL_VERSION.to_owned(),
        ),
    ];
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    RequestSpec {
        method: "POST",
        path: "/mcp".into(),
        headers,
        body,
    }
}

/// A `tools/call` of protocol 2026-07-28: no session, the version and the
/// method in headers and in `_meta`, every request negotiating for itself.
pub fn stateless_spec(token: Option<&str>, tool: &str, arguments: &str) -> RequestSpec {
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "Accept".to_owned(),
            "application/json, text/event-stream".to_owned(),
        ),
        ("MCP-Protocol-Version".to_owned(), "2026-07-28".to_owned()),
        ("Mcp-Method".to_owned(), "tools/call".to_owned()),
        ("Mcp-Name".to_owned(), tool.to_owned()),
    ];
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let meta = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    RequestSpec {
        method: "POST",
        path: "/mcp".into(),
        headers,
        body: format!(
            r#"{{"jsonrpc":"2.0","id":{ID_PLACEHOLDER},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments},"_meta":{meta}}}}}"#
        ),
    }
}

/// Sends `spec` once, as wrk will, and checks that the answer is a plain
/// JSON result: wrk sees only status codes.
pub async fn check_stateless(http: &reqwest::Client, url: &str, spec: &RequestSpec) -> Result<()> {
    let mut request = http.post(url);
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    let body = spec.body.replace(ID_PLACEHOLDER, "1");
    let response = request.body(body).send().await?;
    let (status, kind) = (
        response.status(),
        response.headers().get("content-type").cloned(),
    );
    let text = response.text().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::OK
            && kind
                .as_ref()
                .is_some_and(|kind| kind.as_bytes().starts_with(b"application/json"))
            && text.contains("\"result\"")
            && !text.contains("\"isError\":true"),
        "{url} answered {status} ({kind:?}): {text}"
    );
    Ok(())
}

/// `/introspect` as the RS calls it: Basic auth and a form with the token.
fn introspect_spec(token: &str) -> RequestSpec {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let credentials = STANDARD.encode("mcp-resource-server:demo-resource-server-secret");
    RequestSpec {
        method: "POST",
        path: "/introspect".into(),
        headers: vec![
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("Authorization".into(), format!("Basic {credentials}")),
        ],
        body: format!("token={token}&token_type_hint=access_token"),
    }
}

/// The `model name` of the first CPU in `/proc/cpuinfo`.
fn cpu_model(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
