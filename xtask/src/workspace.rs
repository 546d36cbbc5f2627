//! What xtask knows about the repository: where its root is, which crates
//! the workspace has, which of them are tutorial parts, how to walk a tree
//! (never into `target/`, text files only) and how `// ANCHOR:` markers look.
//!
//! Both `diff` and `check` need this, and they must agree: a marker that
//! `diff` hides has to be exactly a marker that `check` counts. The members
//! and their targets come from `cargo metadata`, so xtask reads manifests
//! exactly as cargo does. (Running the servers is [`crate::process`]'s.)

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// The repository root: the parent of this crate's directory. Fixed at
/// compile time, so `cargo xtask` works from any working directory.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// A workspace member, as `cargo metadata` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The package name (`part3-as-full`).
    pub name: String,
    /// Its directory, relative to the workspace root (`part3-as-full`).
    pub dir: String,
    /// Its targets: lib, bins, tests, benches, examples, build script.
    pub targets: Vec<Target>,
}

/// One target of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Cargo's kinds for it (`["lib"]`, `["bin"]`, `["test"]`, …).
    pub kind: Vec<String>,
    /// The target name (`part3_as_full`, `part3-as`).
    pub name: String,
}

impl Target {
    /// A library of any crate type (`lib`, `rlib`, `proc-macro`, …).
    pub fn is_lib(&self) -> bool {
        self.kind.iter().any(|kind| {
            matches!(
                kind.as_str(),
                "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
            )
        })
    }

    /// A binary (`check` and `bench` look for them).
    pub fn is_bin(&self) -> bool {
        self.kind.iter().any(|kind| kind == "bin")
    }
}

/// The workspace members of the workspace at `root`, sorted by directory,
/// from `cargo metadata --no-deps` (no dependency is resolved or fetched).
pub fn packages(root: &Path) -> Result<Vec<Package>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed in {} ({}):\n{}",
            root.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata printed no JSON")?;
    parse_metadata(&metadata)
}

/// The members' directories, relative to `root`, sorted.
pub fn members(root: &Path) -> Result<Vec<String>> {
    Ok(packages(root)?
        .into_iter()
        .map(|package| package.dir)
        .collect())
}

/// [`packages`] from the JSON of `cargo metadata --format-version 1`.
fn parse_metadata(metadata: &serde_json::Value) -> Result<Vec<Package>> {
    let text = |value: &serde_json::Value, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("cargo metadata has no {what}"))
    };
    let workspace_root = PathBuf::from(text(&metadata["workspace_root"], "workspace_root")?);
    let members = metadata["workspace_members"]
        .as_array()
        .context("cargo metadata has no workspace_members")?;
    let mut packages = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        if !members.contains(&package["id"]) {
            continue;
        }
        let manifest = PathBuf::from(text(&package["manifest_path"], "manifest_path")?);
        let dir = manifest
            .parent()
            .and_then(|dir| dir.strip_prefix(&workspace_root).ok())
            .with_context(|| format!("{} is outside the workspace", manifest.display()))?;
        let mut targets = Vec::new();
        for target in package["targets"].as_array().into_iter().flatten() {
            targets.push(Target {
                kind: target["kind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|kind| kind.as_str().map(str::to_owned))
                    .collect(),
                name: text(&target["name"], "target name")?,
            });
        }
        packages.push(Package {
            name: text(&package["name"], "package name")?,
            dir: dir.to_string_lossy().replace('\\', "/"),
            targets,
        });
    }
    packages.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(packages)
}

/// `part3-as-full` ⇒ `Some(3)`; anything not shaped like a part ⇒ `None`.
pub fn part_number(dir_name: &str) -> Option<u32> {
    let rest = dir_name.strip_prefix("part")?;
    let (number, name) = rest.split_once('-')?;
    if number.is_empty() || name.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// `name = "x"` with `key` = `name` ⇒ `"x"` (the raw value, quotes kept):
/// `check` points at the manifest line that names a target with it.
pub fn key_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.trim_start();
    Some(rest.strip_prefix('=')?.trim())
}

/// The value of a TOML basic or literal string, without its quotes.
pub fn unquote(value: &str) -> Option<String> {
    quoted_strings(value).into_iter().next()
}

fn quoted_strings(text: &str) -> Vec<String> {
    let mut strings = Vec::new();
    let mut current: Option<(char, String)> = None;
    for ch in text.chars() {
        match &mut current {
            None if ch == '"' || ch == '\'' => current = Some((ch, String::new())),
            None => {}
            Some((open, _)) if ch == *open => {
                if let Some((_, string)) = current.take() {
                    strings.push(string);
                }
            }
            Some((_, string)) => string.push(ch),
        }
    }
    strings
}

/// Every file under `dir`, relative to it, sorted, skipping `target/`
/// directories, hidden directories and insta's pending snapshots
/// (`.snap.new`, `.pending-snap`), which are not part of any listing.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk_into(dir, Path::new(""), &mut files)?;
    files.sort();
    Ok(files)
}

fn walk_into(base: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let dir = base.join(relative);
    let entries = fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = relative.join(&*name);
        if entry.file_type()?.is_dir() {
            if name == "target" || name.starts_with('.') {
                continue;
            }
            walk_into(base, &path, files)?;
        } else if !name.ends_with(".snap.new") && !name.ends_with(".pending-snap") {
            files.push(path);
        }
    }
    Ok(())
}

/// The file's text, or `None` when it is not UTF-8 text (a NUL byte or
/// invalid UTF-8): images and other binaries have no lines to compare.
pub fn read_text(path: &Path) -> Result<Option<String>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.contains(&0) {
        return Ok(None);
    }
    Ok(String::from_utf8(bytes).ok())
}

/// An anchor marker found on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker<'a> {
    /// `ANCHOR: name`: the named block starts after this line.
    Start(&'a str),
    /// `ANCHOR_END: name`: the named block ends before this line.
    End(&'a str),
}

/// Finds a marker anywhere in `line`, the way mdBook does
/// (`ANCHOR:\s*([\w_-]+)`), so that xtask sees exactly the anchors the
/// book sees.
pub fn marker(line: &str) -> Option<Marker<'_>> {
    if let Some(name) = marker_name(line, "ANCHOR_END:") {
        return Some(Marker::End(name));
    }
    marker_name(line, "ANCHOR:").map(Marker::Start)
}

/// Whether the line is nothing but a `// ANCHOR: x` or `// ANCHOR_END: x`
/// comment: those are what `diff` drops, since they only exist for the book.
pub fn is_marker_line(line: &str) -> bool {
    let Some(comment) = line.trim().strip_prefix("//") else {
        return false;
    };
    let comment = comment.trim();
    let Some(rest) = comment
        .strip_prefix("ANCHOR_END:")
        .or_else(|| comment.strip_prefix("ANCHOR:"))
    else {
        return false;
    };
    let name = rest.trim();
    !name.is_empty() && name.chars().all(is_anchor_char)
}

fn marker_name<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    let start = line.find(tag)? + tag.len();
    let rest = line[start..].trim_start();
    let end = rest.find(|ch| !is_anchor_char(ch)).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn is_anchor_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_' || ch == '-'
}

/// The text mdBook includes for `{{#include file:anchor}}`: the lines
/// between the markers, minus any nested marker lines; `None` when the
/// anchor never starts. Mirrors mdBook's `take_anchored_lines`.
pub fn anchored_text(text: &str, anchor: &str) -> Option<String> {
    let mut found = false;
    let mut kept = Vec::new();
    for line in text.lines() {
        let marker = marker(line);
        if found {
            match marker {
                Some(Marker::End(name)) if name == anchor => break,
                Some(_) => {}
                None => kept.push(line),
            }
        } else if marker == Some(Marker::Start(anchor)) {
            found = true;
        }
    }
    found.then(|| kept.join("\n"))
}

/// A new temporary directory holding `files` (relative path, contents),
/// removed when dropped: the small repositories the fixture tests build.
#[cfg(test)]
pub fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("xtask-fixture-")
        .tempdir()
        .expect("create a temp dir");
    dir.write(files);
    dir
}

/// Writing (or overwriting) fixture files in a temporary directory.
#[cfg(test)]
pub trait WriteFiles {
    /// Writes `files` (relative path, contents) under the directory.
    fn write(&self, files: &[(&str, &str)]);
}

#[cfg(test)]
impl WriteFiles for tempfile::TempDir {
    fn write(&self, files: &[(&str, &str)]) {
        for (path, contents) in files {
            let path = self.path().join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create fixture dir");
            }
            fs::write(path, contents).expect("write fixture");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members, their directories and their targets come from cargo, and
    /// a broken manifest is an error that says what cargo said.
    #[test]
    fn packages_come_from_cargo_metadata() {
        let dir = fixture(&[
            (
                "Cargo.toml",
                "[workspace]\nresolver = \"3\"\nmembers = [\"part2-b\", # later\n  'part1-a']\n\n[package]\nname = \"not-a-member-list\"\nversion = \"0.0.0\"\n",
            ),
            ("src/lib.rs", ""),
            (
                "part1-a/Cargo.toml",
                "[package]\nname = \"part1-a\"\nedition = \"2024\"\n\n[[bin]]\nname = \"part1-server\"\npath = \"src/main.rs\"\n",
            ),
            ("part1-a/src/lib.rs", ""),
            ("part1-a/src/main.rs", "fn main() {}\n"),
            (
                "part2-b/Cargo.toml",
                "[package]\nname = \"part2-b\"\nedition = \"2024\"\n",
            ),
            ("part2-b/src/main.rs", "fn main() {}\n"),
        ]);
        let packages = packages(dir.path()).expect("packages");
        let dirs: Vec<&str> = packages.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "part1-a", "part2-b"]);
        let names = |package: &Package, lib: bool| -> Vec<String> {
            package
                .targets
                .iter()
                .filter(|t| if lib { t.is_lib() } else { t.is_bin() })
                .map(|t| t.name.clone())
                .collect()
        };
        assert_eq!(names(&packages[1], true), ["part1_a"]);
        assert_eq!(names(&packages[1], false), ["part1-server"]);
        assert_eq!(names(&packages[2], true), Vec::<String>::new());
        assert_eq!(names(&packages[2], false), ["part2-b"]);

        dir.write(&[("part2-b/Cargo.toml", "[package\n")]);
        let error = members(dir.path()).expect_err("a broken manifest");
        assert!(format!("{error:#}").contains("part2-b"), "{error:#}");
    }

    #[test]
    fn part_numbers() {
        assert_eq!(part_number("part3-as-full"), Some(3));
        assert_eq!(part_number("part12-x"), Some(12));
        assert_eq!(part_number("xtask"), None);
        assert_eq!(part_number("part-x"), None);
        assert_eq!(part_number("partx-y"), None);
    }

    #[test]
    fn markers_follow_mdbook() {
        assert_eq!(marker("// ANCHOR: config"), Some(Marker::Start("config")));
        assert_eq!(marker("  // ANCHOR_END: a-b_c"), Some(Marker::End("a-b_c")));
        assert_eq!(marker("# ANCHOR:x"), Some(Marker::Start("x")));
        assert_eq!(marker("// ANCHOR: "), None);
        assert_eq!(marker("let anchor = 1;"), None);
        assert!(is_marker_line("    // ANCHOR: tools"));
        assert!(is_marker_line("// ANCHOR_END: tools"));
        assert!(!is_marker_line("let x = \"// ANCHOR: tools\";"));
        assert!(!is_marker_line("// ANCHOR: tools and more"));
    }

    #[test]
    fn anchored_text_drops_nested_markers() {
        let text = "a\n// ANCHOR: outer\nb\n// ANCHOR: inner\nc\n// ANCHOR_END: inner\n// ANCHOR_END: outer\nd\n";
        assert_eq!(anchored_text(text, "outer").as_deref(), Some("b\nc"));
        assert_eq!(anchored_text(text, "inner").as_deref(), Some("c"));
        assert_eq!(anchored_text(text, "missing"), None);
    }
}
