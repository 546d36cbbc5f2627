//! Building the demo's binaries and finding them where cargo put them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::workspace;

/// The binaries the demo runs, as cargo reported them.
pub struct Binaries {
    pub authorization_server: PathBuf,
    pub resource_server: PathBuf,
    pub client: PathBuf,
    pub scripted_browser: PathBuf,
}

impl Binaries {
    /// Two `cargo build`s (one per set of packages, so `--bins` does not
    /// build the other parts' bins too); the paths come from cargo's own
    /// report, so a custom target directory works.
    pub fn build() -> Result<Self> {
        let mut built = workspace::cargo_build_bins(&["-p", "part5-client", "--bins"])?;
        built.extend(workspace::cargo_build_bins(&[
            "-p",
            "part3-as-full",
            "--bin",
            "part3-as",
            "-p",
            "part4-protected-rs",
            "--bin",
            "part4-rs",
        ])?);
        let find = |name: &str| {
            built
                .iter()
                .find(|(bin, _)| bin == name)
                .map(|(_, path)| path.clone())
                .with_context(|| format!("cargo built no `{name}`"))
        };
        Ok(Self {
            authorization_server: find("part3-as")?,
            resource_server: find("part4-rs")?,
            client: find("part5-client")?,
            scripted_browser: find("part5-scripted-browser")?,
        })
    }

    /// The `BROWSER` value. Clients split `BROWSER` on whitespace, so a path
    /// with a space in it gets a space-free symbolic link in the temp dir.
    pub fn browser_command(&self) -> Result<String> {
        let path = self.scripted_browser.to_string_lossy().into_owned();
        if !path.contains(char::is_whitespace) {
            return Ok(path);
        }
        #[cfg(unix)]
        {
            let link = std::env::temp_dir().join("part5-scripted-browser-demo");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&self.scripted_browser, &link)
                .with_context(|| format!("cannot create {}", link.display()))?;
            let link = link.to_string_lossy().into_owned();
            if !link.contains(char::is_whitespace) {
                return Ok(link);
            }
        }
        bail!("the scripted browser's path has a space in it, which BROWSER cannot hold: {path}")
    }
}
