//! `cargo xtask diff A B [--write]`: what part B adds to part A.
//!
//! Each part is a complete copy of the previous one plus one concern, so a
//! plain `diff -r` would drown the real change in noise: every crate name
//! differs (`part3_as_full` vs `part4_protected_rs`) and anchor markers move
//! around. This command rewrites the old part's names to the new ones and
//! drops marker-only lines on both sides before comparing, so what is left
//! is what a reader has to type.
//!
//! The logic is a small library ([`diff_parts`], [`Report::render`],
//! [`Report::markdown`]) so that the book can check in the same text under
//! `book/src/generated/diff-A-B.md`, and a test can prove it is not stale.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    io::{IsTerminal, Write as _},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use similar::{ChangeTag, TextDiff};

use crate::workspace;

/// Runs the command: prints the report, or with `--write` stores it in the book.
pub fn run(args: &[String]) -> Result<()> {
    let mut write = false;
    let mut parts = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--write" => write = true,
            flag if flag.starts_with('-') => bail!("unknown flag `{flag}`\n\n{USAGE}"),
            part => parts.push(part),
        }
    }
    let [old, new] = parts.as_slice() else {
        bail!("expected two parts\n\n{USAGE}");
    };
    let root = workspace::root();
    let old = resolve_part(&root, old)?;
    let new = resolve_part(&root, new)?;
    let report = diff_parts(&root, &old, &new)?;
    if write {
        let path = write_markdown(&root, &report)?;
        println!("wrote {}", path.display());
    } else {
        let text = report.render(std::io::stdout().is_terminal());
        match std::io::stdout().lock().write_all(text.as_bytes()) {
            // `cargo xtask diff 3 4 | head` closes the pipe early: not an error.
            Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(error).context("cannot write the diff");
            }
            _ => {}
        }
    }
    Ok(())
}

const USAGE: &str = "usage: cargo xtask diff <A> <B> [--write]

A and B are parts, by number (`3`) or directory (`part3-as-full`).
--write stores the diff in book/src/generated/diff-A-B.md instead of printing it.";

/// `3` ⇒ the directory `part3-…` in `root`; a directory name is taken as is.
pub fn resolve_part(root: &Path, arg: &str) -> Result<String> {
    let arg = arg.trim_end_matches('/');
    if arg.bytes().all(|b| b.is_ascii_digit()) && !arg.is_empty() {
        let prefix = format!("part{arg}-");
        let mut found: Vec<String> = fs::read_dir(root)?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name.starts_with(&prefix))
            .collect();
        found.sort();
        return match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("no directory {prefix}* in {}", root.display()),
            many => bail!("part {arg} is ambiguous: {}", many.join(", ")),
        };
    }
    if !root.join(arg).is_dir() {
        bail!("no part directory {arg} in {}", root.display());
    }
    Ok(arg.to_owned())
}

/// How a file differs between the two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Only in the new part.
    Added,
    /// Only in the old part.
    Removed,
    /// In both, with different (normalised) text.
    Changed,
}

/// One file that differs, with its unified diff.
#[derive(Debug)]
pub struct FileDiff {
    /// Path relative to the part directory, `/`-separated.
    pub path: String,
    /// Added, removed or changed.
    pub status: Status,
    /// Lines only in the new version.
    pub insertions: usize,
    /// Lines only in the old version.
    pub deletions: usize,
    /// The unified diff, 3 lines of context, with `---`/`+++` headers.
    pub unified: String,
}

/// The differences between two parts, sorted by path.
#[derive(Debug)]
pub struct Report {
    /// The old part's directory name.
    pub old: String,
    /// The new part's directory name.
    pub new: String,
    /// Every file that differs; identical files are left out.
    pub files: Vec<FileDiff>,
}

/// Compares the parts `old` and `new` (directory names under `root`).
pub fn diff_parts(root: &Path, old: &str, new: &str) -> Result<Report> {
    diff_dirs(&root.join(old), &root.join(new), old, new)
}

/// Compares two trees; `old_name` and `new_name` are the crate names used
/// for renaming and in the diff headers.
pub fn diff_dirs(old_dir: &Path, new_dir: &Path, old_name: &str, new_name: &str) -> Result<Report> {
    let renames = Renames::new(old_name, new_name);
    let old_files = read_tree(old_dir)?;
    let new_files = read_tree(new_dir)?;
    let mut paths: Vec<&String> = old_files.keys().chain(new_files.keys()).collect();
    paths.sort();
    paths.dedup();

    let mut files = Vec::new();
    for path in paths {
        let old_text = old_files
            .get(path)
            .map(|text| renames.apply(&strip_markers(text)));
        let new_text = new_files.get(path).map(|text| strip_markers(text));
        let status = match (&old_text, &new_text) {
            (Some(old), Some(new)) if old == new => continue,
            (Some(_), Some(_)) => Status::Changed,
            (None, Some(_)) => Status::Added,
            (Some(_), None) => Status::Removed,
            (None, None) => continue,
        };
        let old_text = old_text.unwrap_or_default();
        let new_text = new_text.unwrap_or_default();
        let diff = TextDiff::from_lines(&old_text, &new_text);
        let (mut insertions, mut deletions) = (0, 0);
        for change in diff.iter_all_changes() {
            match change.tag() {
                ChangeTag::Insert => insertions += 1,
                ChangeTag::Delete => deletions += 1,
                ChangeTag::Equal => {}
            }
        }
        let old_header = match status {
            Status::Added => "/dev/null".to_owned(),
            _ => format!("a/{old_name}/{path}"),
        };
        let new_header = match status {
            Status::Removed => "/dev/null".to_owned(),
            _ => format!("b/{new_name}/{path}"),
        };
        let unified = diff
            .unified_diff()
            .context_radius(3)
            .header(&old_header, &new_header)
            .to_string();
        files.push(FileDiff {
            path: path.clone(),
            status,
            insertions,
            deletions,
            unified,
        });
    }
    Ok(Report {
        old: old_name.to_owned(),
        new: new_name.to_owned(),
        files,
    })
}

/// The text files of a part, keyed by `/`-separated relative path. Binary
/// files are skipped: they have no lines to show.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for relative in workspace::walk(dir).with_context(|| format!("reading {}", dir.display()))? {
        if let Some(text) = workspace::read_text(&dir.join(&relative))? {
            files.insert(slash_path(&relative), text);
        }
    }
    Ok(files)
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Drops the lines that are only anchor markers: they exist for the book,
/// and moving one is not a change a reader needs to see.
fn strip_markers(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| !workspace::is_marker_line(line))
        .collect()
}

/// The rewrites that make the old part's text speak of the new part.
#[derive(Debug)]
struct Renames(Vec<(String, String)>);

impl Renames {
    /// Full names first (`part3-as-full`, `part3_as_full`), then the bare
    /// `part3-` prefix that bin names use (`part3-as` ⇒ `part4-as`).
    fn new(old: &str, new: &str) -> Self {
        let mut pairs = vec![
            (old.to_owned(), new.to_owned()),
            (old.replace('-', "_"), new.replace('-', "_")),
        ];
        if let (Some(old_n), Some(new_n)) =
            (workspace::part_number(old), workspace::part_number(new))
        {
            pairs.push((format!("part{old_n}-"), format!("part{new_n}-")));
        }
        pairs.retain(|(from, to)| from != to);
        Self(pairs)
    }

    fn apply(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
    }
}

impl Report {
    /// Summary then diffs; ANSI colours when `color` (a terminal) is set.
    pub fn render(&self, color: bool) -> String {
        let paint = Paint(color);
        let mut out = self.summary(paint);
        if !self.files.is_empty() {
            out.push('\n');
            out.push_str(&self.diffs(paint));
        }
        out
    }

    /// The plain report for the book, in two anchored blocks so a chapter
    /// can show them apart: `summary` (the file list with counts, in a
    /// ```` ```text ```` fence) and `diff` (every file's changes, in a
    /// ```` ```diff ```` fence). Each fence grows past any run of backticks
    /// in what it holds.
    pub fn markdown(&self, command: &str) -> String {
        // mdBook expands `{{#include}}` even inside fences; a diffed file
        // that mentions one (a README, say) must show it, not run it.
        let escape = |text: String| text.replace("{{#", "\\{{#");
        let summary = escape(self.summary(Paint(false)));
        let diffs = escape(self.diffs(Paint(false)));
        let fence = |text: &str| "`".repeat(longest_backtick_run(text).max(2) + 1);
        let (summary_fence, diff_fence) = (fence(&summary), fence(&diffs));
        let mut out = format!(
            "<!-- Generated by `{command}`: do not edit. -->\n\
             <!-- Include it whole, or only `:summary` or `:diff`. -->\n\n\
             <!-- ANCHOR: summary -->\n\
             {summary_fence}text\n{summary}{summary_fence}\n\
             <!-- ANCHOR_END: summary -->\n"
        );
        if !diffs.is_empty() {
            let _ = write!(
                out,
                "\n<!-- ANCHOR: diff -->\n\
                 {diff_fence}diff\n{diffs}{diff_fence}\n\
                 <!-- ANCHOR_END: diff -->\n"
            );
        }
        out
    }

    /// Every file's unified diff, one blank line before each.
    fn diffs(&self, paint: Paint) -> String {
        let mut out = String::new();
        for (index, file) in self.files.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            for line in file.unified.split_inclusive('\n') {
                out.push_str(&paint.diff_line(line));
            }
        }
        out
    }

    fn summary(&self, paint: Paint) -> String {
        let mut out = String::new();
        if self.files.is_empty() {
            let _ = writeln!(out, "{} → {}: no differences", self.old, self.new);
            return out;
        }
        let (insertions, deletions) = self.files.iter().fold((0, 0), |(i, d), file| {
            (i + file.insertions, d + file.deletions)
        });
        let count = |status| self.files.iter().filter(|f| f.status == status).count();
        let _ = writeln!(
            out,
            "{} → {}: {} files changed ({} added, {} removed, {} changed), +{insertions} -{deletions}",
            self.old,
            self.new,
            self.files.len(),
            count(Status::Added),
            count(Status::Removed),
            count(Status::Changed),
        );
        let width = self.files.iter().map(|f| f.path.len()).max().unwrap_or(0);
        for file in &self.files {
            let status = match file.status {
                Status::Added => "added  ",
                Status::Removed => "removed",
                Status::Changed => "changed",
            };
            let counts = match (file.insertions, file.deletions) {
                (i, 0) => paint.green(&format!("+{i}")),
                (0, d) => paint.red(&format!("-{d}")),
                (i, d) => format!(
                    "{} {}",
                    paint.green(&format!("+{i}")),
                    paint.red(&format!("-{d}"))
                ),
            };
            let _ = writeln!(out, "  {status}  {:width$}  {counts}", file.path);
        }
        out
    }
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|ch| ch != '`').map(str::len).max().unwrap_or(0)
}

/// Writes the report to `book/src/generated/diff-A-B.md` and returns the path.
pub fn write_markdown(root: &Path, report: &Report) -> Result<PathBuf> {
    let (path, text) = generated_markdown(root, report)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Where the book keeps the diff of two parts, and what belongs there.
pub fn generated_markdown(root: &Path, report: &Report) -> Result<(PathBuf, String)> {
    let number = |part: &str| {
        workspace::part_number(part).with_context(|| format!("{part} is not a part directory"))
    };
    let (old, new) = (number(&report.old)?, number(&report.new)?);
    let path = root
        .join("book/src/generated")
        .join(format!("diff-{old}-{new}.md"));
    let command = format!("cargo xtask diff {old} {new} --write");
    // A chapter includes `diff-A-B.md:summary` or `:diff`, and mdBook drops
    // every line holding a marker from an anchored include: a diffed line
    // that mentions one would silently vanish from the book.
    for file in &report.files {
        if let Some(line) = file
            .unified
            .lines()
            .find(|line| workspace::marker(line).is_some())
        {
            bail!(
                "{}: the diffed line `{}` holds an anchor marker, which the book's anchored include of the diff would drop",
                file.path,
                line.trim()
            );
        }
    }
    Ok((path, report.markdown(&command)))
}

/// Raw ANSI escapes, used only when stdout is a terminal: a pipe or a file
/// gets plain text, which is also what the book and the snapshots hold.
#[derive(Debug, Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }

    fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }

    fn diff_line(self, line: &str) -> String {
        if !self.0 {
            return line.to_owned();
        }
        let (text, newline) = match line.strip_suffix('\n') {
            Some(text) => (text, "\n"),
            None => (line, ""),
        };
        let code = if text.starts_with("+++") || text.starts_with("---") {
            "1"
        } else if text.starts_with("@@") {
            "36"
        } else if text.starts_with('+') {
            "32"
        } else if text.starts_with('-') {
            "31"
        } else {
            return line.to_owned();
        };
        format!("{}{newline}", self.wrap(code, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{self, WriteFiles as _};
    use tempfile::TempDir;

    /// Two tiny parts: a renamed crate, moved anchors, an added module, a
    /// removed file, a binary file and a `target/` directory to ignore.
    fn fixture() -> TempDir {
        let dir = workspace::fixture(&[
            (
                "part3-as-full/Cargo.toml",
                "[package]\nname = \"part3-as-full\"\n\n[[bin]]\nname = \"part3-as\"\npath = \"src/main.rs\"\n",
            ),
            (
                "part3-as-full/src/lib.rs",
                "//! Part 3.\n\n// ANCHOR: token\npub fn token() -> u32 {\n    1\n}\n// ANCHOR_END: token\n\npub fn other() {}\n",
            ),
            (
                "part3-as-full/src/main.rs",
                "fn main() {\n    part3_as_full::other();\n}\n",
            ),
            ("part3-as-full/NOTES.txt", "old notes\n"),
            ("part3-as-full/target/debug/junk.rs", "ignored\n"),
            ("part3-as-full/tests/it/snapshots/x.snap.new", "ignored\n"),
            (
                "part4-protected-rs/Cargo.toml",
                "[package]\nname = \"part4-protected-rs\"\n\n[[bin]]\nname = \"part4-as\"\npath = \"src/main.rs\"\n",
            ),
            (
                "part4-protected-rs/src/lib.rs",
                "//! Part 4.\n\npub mod resource;\n\n// ANCHOR: token\npub fn token() -> u32 {\n    2\n}\n// ANCHOR_END: token\n\n// ANCHOR: other\npub fn other() {}\n// ANCHOR_END: other\n",
            ),
            (
                "part4-protected-rs/src/main.rs",
                "fn main() {\n    part4_protected_rs::other();\n}\n",
            ),
            (
                "part4-protected-rs/src/resource.rs",
                "//! The resource server.\n\npub struct Resource;\n",
            ),
            ("part4-protected-rs/target/debug/junk.rs", "also ignored\n"),
        ]);
        fs::write(
            dir.path().join("part4-protected-rs/logo.png"),
            [0x89, b'P', b'N', b'G', 0, 1, 2],
        )
        .expect("binary fixture");
        dir
    }

    #[test]
    fn diff_of_two_parts() {
        let dir = fixture();
        let report = diff_parts(dir.path(), "part3-as-full", "part4-protected-rs").expect("diff");
        insta::assert_snapshot!("diff_of_two_parts", report.render(false));
    }

    #[test]
    fn diff_as_markdown() {
        let dir = fixture();
        let report = diff_parts(dir.path(), "part3-as-full", "part4-protected-rs").expect("diff");
        let (path, text) = generated_markdown(dir.path(), &report).expect("markdown");
        assert!(path.ends_with("book/src/generated/diff-3-4.md"));
        insta::assert_snapshot!("diff_as_markdown", text);
    }

    #[test]
    fn a_part_against_itself_is_empty() {
        let dir = fixture();
        let report = diff_parts(dir.path(), "part3-as-full", "part3-as-full").expect("diff");
        assert!(report.files.is_empty());
        insta::assert_snapshot!("a_part_against_itself", report.render(false));
    }

    #[test]
    fn colour_only_when_asked() {
        let dir = fixture();
        let report = diff_parts(dir.path(), "part3-as-full", "part4-protected-rs").expect("diff");
        assert!(!report.render(false).contains('\x1b'));
        let coloured = report.render(true);
        assert!(coloured.contains("\x1b[32m+    2\x1b[0m\n"));
        assert!(coloured.contains("\x1b[31m-    1\x1b[0m\n"));
    }

    #[test]
    fn parts_resolve_by_number_or_name() {
        let dir = fixture();
        assert_eq!(resolve_part(dir.path(), "3").expect("3"), "part3-as-full");
        assert_eq!(
            resolve_part(dir.path(), "part4-protected-rs/").expect("name"),
            "part4-protected-rs"
        );
        assert!(resolve_part(dir.path(), "7").is_err());
        assert!(resolve_part(dir.path(), "part9-nothing").is_err());
    }

    #[test]
    fn fences_outgrow_backticks_in_the_diff() {
        assert_eq!(longest_backtick_run("a ```rust b `` c"), 3);
        let report = Report {
            old: "part1-a".into(),
            new: "part2-b".into(),
            files: vec![FileDiff {
                path: "README.md".into(),
                status: Status::Added,
                insertions: 1,
                deletions: 0,
                unified: "+```rust\n+{{#include x.rs:y}}\n".into(),
            }],
        };
        let markdown = report.markdown("cmd");
        assert!(markdown.contains("\n````diff\n"));
        assert!(markdown.contains("\n+\\{{#include x.rs:y}}\n"));
    }

    #[test]
    fn a_marker_in_a_diffed_line_is_refused() {
        let dir = fixture();
        dir.write(&[(
            "part4-protected-rs/README.md",
            "Quote code with `// ANCHOR: name` markers.\n",
        )]);
        let report = diff_parts(dir.path(), "part3-as-full", "part4-protected-rs").expect("diff");
        let error = generated_markdown(dir.path(), &report).expect_err("marker in a diffed line");
        assert!(
            error.to_string().starts_with("README.md: the diffed line"),
            "{error}"
        );
    }

    /// The diffs checked into the book match what `diff --write` would write
    /// now; outside CI a stale one is rewritten so the next run passes.
    #[test]
    fn generated_diffs_are_fresh() {
        let root = workspace::root();
        let Ok(entries) = fs::read_dir(root.join("book/src/generated")) else {
            return;
        };
        let mut stale = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((old, new)) = name
                .strip_prefix("diff-")
                .and_then(|rest| rest.strip_suffix(".md"))
                .and_then(|rest| rest.split_once('-'))
            else {
                continue;
            };
            let old = resolve_part(&root, old).expect("old part");
            let new = resolve_part(&root, new).expect("new part");
            let report = diff_parts(&root, &old, &new).expect("diff");
            let (path, text) = generated_markdown(&root, &report).expect("markdown");
            if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                if std::env::var_os("CI").is_none() {
                    fs::write(&path, &text).expect("rewrite");
                }
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "stale generated diffs (rewritten unless CI is set; commit them): {stale:?}"
        );
    }
}
