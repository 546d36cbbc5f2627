//! The system under test: the part-5 binaries built, the authorization
//! server (AS) and the resource server (RS) started on free loopback ports
//! with matching configuration, and killed when dropped.

use std::{
    fs,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// The demo user the AS is started with (its defaults, set explicitly).
pub const USERNAME: &str = "demo_user";
pub const PASSWORD: &str = "demo_password";

/// Where the binaries come from: part 5's own AS once it has one, else the
/// part-3 AS that part 5 copies.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub authorization_server: PathBuf,
    pub resource_server: PathBuf,
    pub client: PathBuf,
    pub scripted_browser: PathBuf,
    /// `part5-as` or `part3-as`, for the report.
    pub as_name: String,
}

/// `cargo build --bins` of part 5 (and part 3 when part 5 has no AS yet).
pub fn build() -> Result<Binaries> {
    let root = workspace::root();
    let part5 = fs::read_to_string(root.join("part5-client/Cargo.toml"))
        .context("cannot read part5-client/Cargo.toml")?;
    let own_as = part5.contains("\"part5-as\"");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--quiet", "--bins", "-p", "part5-client"]);
    if !own_as {
        command.args(["-p", "part3-as-full"]);
    }
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build of the part-5 binaries failed ({status})");
    }
    let as_name = if own_as { "part5-as" } else { "part3-as" };
    Ok(Binaries {
        authorization_server: debug_binary(as_name),
        resource_server: debug_binary("part5-rs"),
        client: debug_binary("part5-client"),
        scripted_browser: debug_binary("part5-scripted-browser"),
        as_name: as_name.to_owned(),
    })
}

/// The path of a debug binary of this workspace.
pub fn debug_binary(name: &str) -> PathBuf {
    target_dir().join("debug").join(name)
}

/// `CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace::root().join("target"), PathBuf::from)
}

/// The running AS and RS.
#[derive(Debug)]
pub struct System {
    /// `http://127.0.0.1:<port>`, byte-identical to the AS's `issuer`.
    pub issuer: String,
    /// `http://127.0.0.1:<port>/mcp`, the canonical resource URL.
    pub mcp_url: String,
    _authorization_server: Process,
    _resource_server: Process,
}

impl System {
    /// Starts both servers, logging to `logs/as.log` and `logs/rs.log`.
    pub fn start(binaries: &Binaries, logs: &Path) -> Result<Self> {
        fs::create_dir_all(logs)?;
        let [as_port, rs_port] = crate::workspace::free_ports()?;
        let issuer = format!("http://127.0.0.1:{as_port}");
        let mcp_url = format!("http://127.0.0.1:{rs_port}/mcp");
        let authorization_server = Process::start(
            &binaries.authorization_server,
            &[
                ("AS_HOST", "127.0.0.1".into()),
                ("AS_SERVER_PORT", as_port.to_string()),
                ("AS_ISSUER", issuer.clone()),
                ("AS_RESOURCES", mcp_url.clone()),
                ("AS_SCOPES", "mcp:tools".into()),
                ("AS_DEMO_USERNAME", USERNAME.into()),
                ("AS_DEMO_PASSWORD", PASSWORD.into()),
                ("AS_INTROSPECTION_CLIENT_ID", "mcp-resource-server".into()),
                (
                    "AS_INTROSPECTION_CLIENT_SECRET",
                    "demo-resource-server-secret".into(),
                ),
            ],
            &logs.join("as.log"),
            as_port,
        )?;
        let resource_server = Process::start(
            &binaries.resource_server,
            &[
                ("RS_HOST", "127.0.0.1".into()),
                ("RS_PORT", rs_port.to_string()),
                ("RS_PUBLIC_URL", mcp_url.clone()),
                ("RS_AUTH_SERVER_URL", issuer.clone()),
                ("RS_CLIENT_ID", "mcp-resource-server".into()),
                ("RS_CLIENT_SECRET", "demo-resource-server-secret".into()),
            ],
            &logs.join("rs.log"),
            rs_port,
        )?;
        Ok(Self {
            issuer,
            mcp_url,
            _authorization_server: authorization_server,
            _resource_server: resource_server,
        })
    }
}

/// A child process, killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts `binary` with `env`, output to `log`, and waits until
    /// `127.0.0.1:port` accepts connections.
    pub fn start(binary: &Path, env: &[(&str, String)], log: &Path, port: u16) -> Result<Self> {
        let file =
            fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(binary)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut process = Self { child };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = process.child.try_wait()? {
                let text = fs::read_to_string(log).unwrap_or_default();
                bail!("{} exited ({status}):\n{text}", binary.display());
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
                return Ok(process);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "{} did not listen on {address} within 30 s",
            binary.display()
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
