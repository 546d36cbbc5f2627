//! What xtask knows about the repository: where its root is, which crates
//! the workspace has, which of them are tutorial parts, how to walk a tree
//! (never into `target/`, text files only) and how `// ANCHOR:` markers look.
//!
//! Both `diff` and `check` need this, and they must agree: a marker that
//! `diff` hides has to be exactly a marker that `check` counts. The commands
//! that run the servers (`demo`, `bench`, `interop`, `tryit`) share
//! [`cargo_build_bins`] and [`free_ports`] from here too.

use std::{
    fs,
    io::BufRead as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

/// `cargo build ARGS`; returns each built binary's target name and path, as
/// cargo reports them (so a custom target directory works too).
pub fn cargo_build_bins(args: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root())
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !output.status.success() {
        bail!("cargo build {} failed ({})", args.join(" "), output.status);
    }
    let mut built = Vec::new();
    for line in output.stdout.lines() {
        let line = line.context("cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let (Some(name), Some(path)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            built.push((name.to_owned(), PathBuf::from(path)));
        }
    }
    Ok(built)
}

/// `N` distinct loopback ports that were free a moment ago. A child process
/// cannot be handed a bound socket, so we bind `127.0.0.1:0`, read the ports
/// and release them; all are held at once, so they differ.
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    for _ in 0..N {
        listeners.push(TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?);
    }
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// The repository root: the parent of this crate's directory. Fixed at
/// compile time, so `cargo xtask` works from any working directory.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// The workspace members listed in `root/Cargo.toml`, as relative paths.
pub fn members(root: &Path) -> Result<Vec<String>> {
    let path = root.join("Cargo.toml");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_members(&text))
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

/// Reads `members = [ ... ]` from the `[workspace]` table by hand: the
/// array may span lines; entries are plain quoted strings. A TOML crate
/// would do, but this is the only list xtask ever needs.
pub fn parse_members(manifest: &str) -> Vec<String> {
    let mut section = String::new();
    let mut collecting = false;
    let mut array = String::new();
    for line in manifest.lines() {
        let line = strip_comment(line).trim();
        if collecting {
            array.push_str(line);
            if line.contains(']') {
                break;
            }
            continue;
        }
        if let Some(header) = section_header(line) {
            section = header;
            continue;
        }
        if section == "workspace"
            && let Some(value) = key_value(line, "members")
        {
            array.push_str(value);
            if value.contains(']') {
                break;
            }
            collecting = true;
        }
    }
    quoted_strings(&array)
}

/// `[package]` ⇒ `package`, `[[bin]]` ⇒ `[bin]` (arrays of tables keep one
/// bracket so a caller can tell them apart).
pub fn section_header(line: &str) -> Option<String> {
    if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        return Some(format!("[{}]", inner.trim()));
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.trim().to_owned())
}

/// `name = "x"` with `key` = `name` ⇒ `"x"` (the raw value, quotes kept).
pub fn key_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.trim_start();
    Some(rest.strip_prefix('=')?.trim())
}

/// The value of a TOML basic or literal string, without its quotes.
pub fn unquote(value: &str) -> Option<String> {
    quoted_strings(value).into_iter().next()
}

/// A `#` starts a comment unless it sits inside a string. Good enough for
/// manifests, whose strings never hold escaped quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (index, ch) in line.char_indices() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(open), _) if ch == open => quote = None,
            (None, '#') => return &line[..index],
            _ => {}
        }
    }
    line
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

/// A temporary directory removed on drop, for tests that build small
/// fixture trees (no `tempfile` dependency for this one use).
#[cfg(test)]
pub struct TempDir(PathBuf);

#[cfg(test)]
impl TempDir {
    pub fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("xtask-{label}-{}-{unique}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `files` (relative path, contents) under the directory.
    pub fn write(&self, files: &[(&str, &str)]) {
        for (path, contents) in files {
            let path = self.0.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create fixture dir");
            }
            fs::write(path, contents).expect("write fixture");
        }
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_may_span_lines_and_have_comments() {
        let manifest = r#"
[package]
members = ["not-this"]

[workspace]
resolver = "3"
members = [
    "part1-basic-rs", # the first part
    'part2-as-metadata',
    "xtask",
]
"#;
        assert_eq!(
            parse_members(manifest),
            ["part1-basic-rs", "part2-as-metadata", "xtask"]
        );
        assert_eq!(
            parse_members("[workspace]\nmembers = [\"a\", \"b\"]\n"),
            ["a", "b"]
        );
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
