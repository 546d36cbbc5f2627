//! The sequence: build and start the servers, check that one real flow
//! works, then each flood in turn with real flows during and after it,
//! while the sampler reads memory.

use std::{
    fs,
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use reqwest::Client;

use super::{
    Options,
    flood::{self, Answers, Flood},
    flows::{self, Flows},
    sampler::{Sample, Sampler},
    slow::{self, SlowResult, Stalled},
};
use crate::{
    bench::{oauth, wrk},
    process::{self, Server},
};

/// The floods, in the order they run.
pub const FLOODS: [&str; 6] = [
    "register",
    "authorize",
    "junk-codes",
    "logins",
    "refresh",
    "slow-headers",
];

/// Real flows right after each flood, once the load is gone.
pub const FLOWS_AFTER: u32 = 3;

/// How long past [`slow::BOUND`] the stalled connections are watched, so
/// that a server closing them at the bound is seen doing it.
const SLOW_GRACE: Duration = Duration::from_secs(2);

/// What one flood did.
#[derive(Debug, Clone, Default)]
pub struct FloodResult {
    pub name: &'static str,
    /// wrk's counts, for the floods wrk sends.
    pub answers: Option<Answers>,
    /// The stalled connections, for `slow-headers`.
    pub slow: Vec<SlowResult>,
    pub flows: Flows,
    /// When the flood (setup, load and the flows after it) began and
    /// ended, on the sampler's clock.
    pub window: (f64, f64),
    /// Why the flood could not run, when it could not.
    pub error: Option<String>,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct Results {
    pub floods: Vec<FloodResult>,
    pub samples: Vec<Sample>,
    pub cpus: usize,
}

impl Results {
    /// The samples taken during `flood`.
    pub fn samples_of<'a>(&'a self, flood: &FloodResult) -> impl Iterator<Item = &'a Sample> {
        let (start, end) = flood.window;
        (self.samples.iter()).filter(move |sample| sample.seconds >= start && sample.seconds <= end)
    }
}

/// Where the servers' logs and the wrk scripts go: `target/stress/`.
pub fn output_dir() -> PathBuf {
    process::target_dir().join("stress")
}

/// Everything a flood needs to reach the servers.
struct Target {
    issuer: String,
    mcp_url: String,
    as_address: SocketAddr,
    rs_address: SocketAddr,
    users: Client,
    setup: Client,
}

/// Builds the servers, starts them, and runs every flood.
pub fn stress(options: &Options) -> Result<Results> {
    wrk::ensure_installed()?;
    let built = process::cargo_build(&["--release", "--bin", "part5-as", "--bin", "part5-rs"])?;
    let dir = output_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let [as_port, rs_port] = process::free_ports()?;
    let as_address = SocketAddr::from(([127, 0, 0, 1], as_port));
    let rs_address = SocketAddr::from(([127, 0, 0, 1], rs_port));
    let issuer = format!("http://{as_address}");
    let mcp_url = format!("http://{rs_address}/mcp");
    let authorization_server = Server::start(
        "AS",
        built.get("part5-as")?,
        &[
            ("AS_HOST", "127.0.0.1".into()),
            ("AS_SERVER_PORT", as_port.to_string()),
            ("AS_ISSUER", issuer.clone()),
            ("AS_RESOURCES", mcp_url.clone()),
            ("AS_DEMO_USERNAME", oauth::USERNAME.into()),
            ("AS_DEMO_PASSWORD", oauth::PASSWORD.into()),
            ("AS_LOG_LEVEL", "warn".into()),
        ],
        as_port,
        &dir.join("as.log"),
    )?;
    let resource_server = Server::start(
        "RS",
        built.get("part5-rs")?,
        &[
            ("RS_HOST", "127.0.0.1".into()),
            ("RS_PORT", rs_port.to_string()),
            ("RS_AUTH_SERVER_URL", issuer.clone()),
            ("RS_PUBLIC_URL", mcp_url.clone()),
            ("RS_CLIENT_ID", "mcp-resource-server".into()),
            ("RS_CLIENT_SECRET", "demo-resource-server-secret".into()),
        ],
        rs_port,
        &dir.join("rs.log"),
    )?;
    let (Some(as_pid), Some(rs_pid)) = (authorization_server.pid(), resource_server.pid()) else {
        bail!("a server is not running after it started");
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let target = Target {
        issuer,
        mcp_url,
        as_address,
        rs_address,
        users: flows::client_from(flows::USER_ADDRESS)?,
        setup: flows::client_from(flows::SETUP_ADDRESS)?,
    };
    // One flow before any flood: if this fails, the servers or this
    // command are broken, and no flood's figures would mean anything.
    let mut first = Flows::default();
    runtime.block_on(first.run_one(&target.users, &target.issuer, &target.mcp_url, false));
    if let Some(error) = first.first_error {
        bail!("a real flow fails before any flood: {error}");
    }

    let sampler = Sampler::start(as_pid, rs_pid);
    let mut floods = Vec::new();
    for name in FLOODS {
        eprintln!("stress: {name} for {} s", options.seconds);
        let start = sampler.now();
        let mut result = runtime.block_on(run_flood(name, options, &target, &dir));
        result.window = (start, sampler.now());
        if let Some(error) = &result.error {
            eprintln!("stress: {name}: {error}");
        }
        floods.push(result);
    }
    Ok(Results {
        floods,
        samples: sampler.finish(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
    })
}

/// One flood: its setup, the load with flows during it, the flows after.
async fn run_flood(
    name: &'static str,
    options: &Options,
    target: &Target,
    dir: &std::path::Path,
) -> FloodResult {
    let mut result = FloodResult {
        name,
        ..FloodResult::default()
    };
    if name == "slow-headers" {
        slow_headers(options, target, &mut result).await;
    } else {
        match setup(name, options, target).await {
            Ok(flood) => {
                let script = dir.join(format!("{name}.lua"));
                let duration = options.flood();
                let load = std::thread::spawn(move || flood::run(&flood, &script, duration));
                (result.flows)
                    .run_while(&target.users, &target.issuer, &target.mcp_url, || {
                        load.is_finished()
                    })
                    .await;
                match load.join() {
                    Ok(Ok(answers)) => result.answers = Some(answers),
                    Ok(Err(error)) => result.error = Some(format!("wrk: {error:#}")),
                    Err(_) => result.error = Some("the wrk thread panicked".into()),
                }
            }
            Err(error) => result.error = Some(format!("setup: {error:#}")),
        }
    }
    for _ in 0..FLOWS_AFTER {
        (result.flows)
            .run_one(&target.users, &target.issuer, &target.mcp_url, false)
            .await;
    }
    result
}

/// What the attacker prepares for flood `name`, from the setup address.
async fn setup(name: &str, options: &Options, target: &Target) -> Result<Flood> {
    let (http, issuer, resource) = (&target.setup, &target.issuer, &target.mcp_url);
    let connections = options.connections;
    Ok(match name {
        "register" => flood::register(issuer, connections),
        "authorize" => {
            let client_id = oauth::register(http, issuer, false).await?;
            flood::authorize(issuer, &client_id, resource, connections)
        }
        "junk-codes" => {
            let client_id = oauth::register(http, issuer, false).await?;
            flood::junk_codes(issuer, &client_id, resource, connections)
        }
        "logins" => {
            let client_id = oauth::register(http, issuer, false).await?;
            let request = oauth::AuthorizeRequest::new(&client_id, resource);
            let page = oauth::open_login_page(http, issuer, &request).await?;
            flood::logins(issuer, &page, connections)
        }
        "refresh" => {
            let flow = oauth::full_flow(http, issuer, resource, true).await?;
            let token = flow.tokens["refresh_token"]
                .as_str()
                .context("the token response has no refresh_token")?;
            flood::refresh(issuer, &flow.client_id, token)
        }
        other => bail!("no flood called `{other}`"),
    })
}

/// Stalls `options.slow` connections on each server, runs flows for the
/// flood's duration, then watches the connections until the bound (plus
/// [`SLOW_GRACE`]) has passed for all of them.
async fn slow_headers(options: &Options, target: &Target, result: &mut FloodResult) {
    let opened = Instant::now();
    let on_as = Stalled::open("AS", target.as_address, options.slow);
    let on_rs = Stalled::open("RS", target.rs_address, options.slow);
    let end = Instant::now() + options.flood();
    (result.flows)
        .run_while(&target.users, &target.issuer, &target.mcp_url, || {
            Instant::now() >= end
        })
        .await;
    let deadline = tokio::time::Instant::from_std(opened + slow::BOUND + SLOW_GRACE);
    let (on_as, on_rs) = tokio::join!(on_as.watch_until(deadline), on_rs.watch_until(deadline));
    result.slow = vec![on_as, on_rs];
}
