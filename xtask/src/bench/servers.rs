//! The real servers: which part to take them from, building them in
//! release mode, starting them on free loopback ports, and reading their
//! memory from `/proc`.

use std::{
    fs,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// The newest part expected to ship both servers; older parts are tried
/// when it does not (yet).
pub const NEWEST_PART: u32 = 5;

/// Where a server binary comes from.
#[derive(Debug, Clone)]
pub struct Binary {
    pub package: String,
    pub bin: String,
}

/// The authorization server and resource server binaries of one part.
#[derive(Debug, Clone)]
pub struct PartBinaries {
    pub part: u32,
    pub authorization_server: Binary,
    pub resource_server: Binary,
}

/// The binaries of part `part` (its `partN-as` and `partN-rs`), or with
/// `part` unset the newest part that has both. `as_part` takes the
/// authorization server from another part, for when a part's copy of it
/// is not there yet.
pub fn resolve(part: Option<u32>, as_part: Option<u32>) -> Result<PartBinaries> {
    let root = workspace::root();
    let candidates: Vec<u32> = match part {
        Some(part) => vec![part],
        None => (1..=NEWEST_PART).rev().collect(),
    };
    for number in candidates {
        let Some(rs) = find_bin(&root, number, &format!("part{number}-rs"))? else {
            continue;
        };
        let as_number = as_part.unwrap_or(number);
        let Some(authorization_server) =
            find_bin(&root, as_number, &format!("part{as_number}-as"))?
        else {
            continue;
        };
        return Ok(PartBinaries {
            part: number,
            authorization_server,
            resource_server: rs,
        });
    }
    match part {
        Some(part) => bail!(
            "part {part} has no part{part}-as and part{part}-rs binaries (try --as-part N for the AS)"
        ),
        None => bail!("no part has both an -as and an -rs binary (try --part 4 --as-part 3)"),
    }
}

/// The package of part `number` if its manifest declares binary `bin`.
fn find_bin(root: &Path, number: u32, bin: &str) -> Result<Option<Binary>> {
    for member in workspace::members(root)? {
        if workspace::part_number(&member) != Some(number) {
            continue;
        }
        let manifest = fs::read_to_string(root.join(&member).join("Cargo.toml"))?;
        let Some(package) = package_name(&manifest) else {
            continue;
        };
        let declared = manifest.lines().any(|line| {
            workspace::key_value(line.trim(), "name")
                .and_then(workspace::unquote)
                .as_deref()
                == Some(bin)
        });
        if declared {
            return Ok(Some(Binary {
                package,
                bin: bin.to_owned(),
            }));
        }
    }
    Ok(None)
}

/// `name` in the `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut section = String::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = workspace::section_header(line) {
            section = header;
        } else if section == "package"
            && let Some(name) = workspace::key_value(line, "name").and_then(workspace::unquote)
        {
            return Some(name);
        }
    }
    None
}

/// `cargo build --release -p PACKAGE --bins` for every package named.
pub fn build_release(packages: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace::root())
        .args(["build", "--release", "--bins"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    Ok(())
}

/// The path of a release binary.
pub fn release_binary(bin: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace::root().join("target"), PathBuf::from);
    target.join("release").join(bin)
}

/// A server process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub address: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

impl Server {
    /// Starts `binary` with `env`, logging to `log`, and waits until
    /// `address` accepts connections.
    pub fn start(
        name: &str,
        binary: &Path,
        env: &[(&str, String)],
        address: SocketAddr,
        log: PathBuf,
    ) -> Result<Self> {
        let file =
            fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(binary)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            name: name.to_owned(),
            address,
            log,
            child,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                bail!("{} exited ({status}) before listening:\n{log}", self.name);
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "{} did not listen on {} within 30 s",
            self.name,
            self.address
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Current and peak resident memory of the process.
    pub fn memory(&self) -> Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        parse_status(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory in KiB: now (`VmRSS`) and the peak so far (`VmHWM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` from the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let mut words = rest.split_whitespace();
            let value = words.next()?.parse::<u64>().ok()?;
            (words.next() == Some("kB")).then_some(value)
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS")?,
        peak_kib: field("VmHWM")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `/proc/<pid>/status` of a running `part4-rs`, shortened.
    const STATUS: &str = "Name:\tpart4-rs\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nVmPeak:\t  612345 kB\nVmSize:\t  612000 kB\nVmLck:\t       0 kB\nVmHWM:\t   18760 kB\nVmRSS:\t   17432 kB\nRssAnon:\t    9000 kB\nThreads:\t3\n";

    #[test]
    fn proc_status_gives_current_and_peak_rss() {
        assert_eq!(
            parse_status(STATUS),
            Some(Memory {
                rss_kib: 17_432,
                peak_kib: 18_760
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t12 kB\n"), None);
        assert_eq!(parse_status("VmHWM:\tlots kB\nVmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn package_name_comes_from_the_package_table() {
        let manifest = "[package]\nname = \"part4-protected-rs\"\n\n[[bin]]\nname = \"part4-rs\"\n";
        assert_eq!(
            package_name(manifest).as_deref(),
            Some("part4-protected-rs")
        );
    }
}
