//! The system under test: the part-5 binaries built, the authorization
//! server (AS) and the resource server (RS) started on free loopback ports
//! with matching configuration, and killed when dropped.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Result;

use crate::{
    process::{self, Server},
    workspace,
};

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

/// Builds part 5's bins (and part 3's AS when part 5 has no AS yet).
pub fn build() -> Result<Binaries> {
    let own_as = workspace::packages(&workspace::root())?
        .iter()
        .flat_map(|package| &package.targets)
        .any(|target| target.is_bin() && target.name == "part5-as");
    let mut args = vec!["--quiet", "--bin", "part5-rs", "--bin", "part5-client"];
    args.extend(["--bin", "part5-scripted-browser"]);
    args.extend(["--bin", if own_as { "part5-as" } else { "part3-as" }]);
    let built = process::cargo_build(&args)?;
    let as_name = if own_as { "part5-as" } else { "part3-as" };
    Ok(Binaries {
        authorization_server: built.get(as_name)?.to_path_buf(),
        resource_server: built.get("part5-rs")?.to_path_buf(),
        client: built.get("part5-client")?.to_path_buf(),
        scripted_browser: built.get("part5-scripted-browser")?.to_path_buf(),
        as_name: as_name.to_owned(),
    })
}

/// `CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir() -> PathBuf {
    process::target_dir()
}

/// The running AS and RS.
#[derive(Debug)]
pub struct System {
    /// `http://127.0.0.1:<port>`, byte-identical to the AS's `issuer`.
    pub issuer: String,
    /// `http://127.0.0.1:<port>/mcp`, the canonical resource URL.
    pub mcp_url: String,
    _authorization_server: Server,
    _resource_server: Server,
}

impl System {
    /// Starts both servers, logging to `logs/as.log` and `logs/rs.log`.
    pub fn start(binaries: &Binaries, logs: &Path) -> Result<Self> {
        fs::create_dir_all(logs)?;
        let [as_port, rs_port] = process::free_ports()?;
        let issuer = format!("http://127.0.0.1:{as_port}");
        let mcp_url = format!("http://127.0.0.1:{rs_port}/mcp");
        let authorization_server = Server::start(
            &binaries.as_name,
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
            as_port,
            &logs.join("as.log"),
        )?;
        let resource_server = Server::start(
            "part5-rs",
            &binaries.resource_server,
            &[
                ("RS_HOST", "127.0.0.1".into()),
                ("RS_PORT", rs_port.to_string()),
                ("RS_PUBLIC_URL", mcp_url.clone()),
                ("RS_AUTH_SERVER_URL", issuer.clone()),
                ("RS_CLIENT_ID", "mcp-resource-server".into()),
                ("RS_CLIENT_SECRET", "demo-resource-server-secret".into()),
            ],
            rs_port,
            &logs.join("rs.log"),
        )?;
        Ok(Self {
            issuer,
            mcp_url,
            _authorization_server: authorization_server,
            _resource_server: resource_server,
        })
    }
}
