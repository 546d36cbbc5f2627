//! The real servers: which part to take them from (from `cargo metadata`),
//! building them in release mode, and reading their memory from `/proc`.
//! Starting them is [`crate::process::Server`]'s.

use std::{fs, path::PathBuf};

use anyhow::{Context, Result, bail};

pub use crate::process::Server;
use crate::{process, workspace};

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
    let packages = workspace::packages(&workspace::root())?;
    let candidates: Vec<u32> = match part {
        Some(part) => vec![part],
        None => (1..=NEWEST_PART).rev().collect(),
    };
    for number in candidates {
        let Some(rs) = find_bin(&packages, number, &format!("part{number}-rs")) else {
            continue;
        };
        let as_number = as_part.unwrap_or(number);
        let Some(authorization_server) =
            find_bin(&packages, as_number, &format!("part{as_number}-as"))
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

/// The package of part `number` if it has a binary target `bin`.
fn find_bin(packages: &[workspace::Package], number: u32, bin: &str) -> Option<Binary> {
    packages
        .iter()
        .filter(|package| workspace::part_number(&package.dir) == Some(number))
        .find(|package| {
            package
                .targets
                .iter()
                .any(|target| target.is_bin() && target.name == bin)
        })
        .map(|package| Binary {
            package: package.name.clone(),
            bin: bin.to_owned(),
        })
}

/// `cargo build --release` of the bins named, with the feature resolution
/// every release build of xtask uses (`process::cargo_build`), so that the
/// servers, xtask itself and `cargo xtask stress` share one build of the
/// dependencies.
pub fn build_release(bins: &[&str]) -> Result<()> {
    let mut args = vec!["--release"];
    for bin in bins {
        args.extend(["--bin", bin]);
    }
    process::cargo_build(&args)?;
    Ok(())
}

/// The path of a release binary.
pub fn release_binary(bin: &str) -> PathBuf {
    process::target_dir().join("release").join(bin)
}

/// Current and peak resident memory of a running server.
pub fn memory(server: &Server) -> Result<Memory> {
    let pid = server
        .pid()
        .with_context(|| format!("{} is not running", server.name()))?;
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_status(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
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
}
