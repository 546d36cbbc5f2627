//! `cargo xtask check`: the repository rules that neither rustc nor mdBook
//! enforce.
//!
//! mdBook does not fail on a missing anchor (it includes nothing) or a
//! missing file (it logs and goes on), and cargo only warns when two
//! workspace members build outputs with the same name. So:
//!
//! - (a) [`check_includes`]: every `{{#include}}` / `{{#rustdoc_include}}`
//!   in the book resolves to a file and, when it names an anchor, to
//!   non-empty text; line-number includes are refused (they break silently
//!   when the code moves).
//! - (b) [`check_anchors_used`]: every anchor in a part's `src/` or `tests/`
//!   is quoted by the book, so no listing is forgotten.
//! - (c) [`check_summary`]: every chapter in `SUMMARY.md` exists.
//! - (d) [`check_target_names`]: no two members share a lib or a bin name.
//! - (e) [`check_anchors_well_formed`]: every `ANCHOR` has its `ANCHOR_END`
//!   and no name repeats in a file (`{{#include}}` takes only the first).
//! - (f) [`generated::check_generated`]: every diff under
//!   `book/src/generated/` is what `cargo xtask diff A B --write` writes now.
//! - (g) [`links::check_links`]: every relative link in the book reaches an
//!   existing file under `book/src`, and every `#fragment` a heading there.
//! - (h) [`crate::tryit::check_included`]: every generated Try it output is
//!   quoted by a chapter (`cargo xtask tryit --check` checks it is fresh).
//! - (i) [`crate::carry::check_carried`]: every file a part lists in its
//!   `carried.txt` is byte-identical to the previous part's.
//! - (j) [`rules::check_rules`]: every rule id cited in the repository is
//!   defined in the book's security checklist, whose enforcing code and
//!   proving tests exist, and whose test lists are complete.
//!
//! The same functions run as `#[test]`s against the real repository, so a
//! plain `cargo test --workspace` enforces them too.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt, fs,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result, bail};

use crate::workspace::{self, Marker};

mod generated;
mod links;
mod rules;

/// Runs every check and fails listing each problem as `file:line: message`.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("unexpected argument `{arg}`\n\nusage: cargo xtask check");
    }
    let layout = Layout::real()?;
    let problems = check_all(&layout)?;
    if problems.is_empty() {
        println!(
            "check: carried files, book includes, anchors, SUMMARY.md, generated diffs, internal links, rule ids and target names are all fine"
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    bail!("check found {} problem(s)", problems.len())
}

/// Where the checks look: the repository root, the book's `src/` and the
/// workspace members (relative paths), so tests can point them at fixtures.
#[derive(Debug)]
pub struct Layout {
    /// Repository root; problems are reported relative to it.
    pub root: PathBuf,
    /// The mdBook source directory.
    pub book_src: PathBuf,
    /// Workspace members, relative to `root`.
    pub members: Vec<String>,
}

impl Layout {
    /// The repository this xtask belongs to.
    pub fn real() -> Result<Self> {
        Self::at(&workspace::root())
    }

    /// A repository rooted at `root`, with its book in `root/book/src`.
    pub fn at(root: &Path) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            book_src: root.join("book/src"),
            members: workspace::members(root)?,
        })
    }

    fn parts(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .map(String::as_str)
            .filter(|member| workspace::part_number(member).is_some())
    }

    fn relative(&self, path: &Path) -> String {
        let path = path.strip_prefix(&self.root).unwrap_or(path);
        path.display().to_string()
    }
}

/// One broken rule, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file, relative to the repository root.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, and where relevant how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// All the checks, problems sorted by file and line.
pub fn check_all(layout: &Layout) -> Result<Vec<Problem>> {
    let mut problems = check_includes(layout)?;
    problems.extend(check_anchors_used(layout)?);
    problems.extend(check_summary(layout)?);
    problems.extend(check_target_names(layout)?);
    problems.extend(check_anchors_well_formed(layout)?);
    problems.extend(generated::check_generated(layout)?);
    problems.extend(links::check_links(layout)?);
    problems.extend(crate::tryit::check_included(layout)?);
    problems.extend(crate::carry::check_carried(layout)?);
    problems.extend(rules::check_rules(layout)?);
    problems.sort();
    Ok(problems)
}

/// An `{{#include ...}}` (or `rustdoc_include`) found in a chapter.
#[derive(Debug, Clone)]
struct Include {
    /// The chapter that contains it.
    chapter: PathBuf,
    line: usize,
    /// The included file, resolved against the chapter's directory.
    target: PathBuf,
    /// What follows the first `:` of the path, if anything.
    selector: Option<String>,
}

impl Include {
    /// An anchor name, unless the selector is a line range (`10`, `2:8`, `:5`).
    fn anchor(&self) -> Option<&str> {
        self.selector
            .as_deref()
            .filter(|s| !s.bytes().all(|b| b.is_ascii_digit() || b == b':'))
    }
}

/// (a) Every include resolves to an existing file and, with an anchor, to
/// an anchor that exists there and yields non-empty text.
pub fn check_includes(layout: &Layout) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for include in book_includes(layout)? {
        let mut problem = |message: String| {
            problems.push(Problem {
                file: layout.relative(&include.chapter),
                line: include.line,
                message,
            });
        };
        let shown = layout.relative(&include.target);
        if !include.target.is_file() {
            problem(format!("included file {shown} does not exist"));
            continue;
        }
        let Some(selector) = &include.selector else {
            continue;
        };
        let Some(anchor) = include.anchor() else {
            problem(format!(
                "`{selector}` includes by line numbers; wrap the code in `// ANCHOR: name` and include the anchor (a line range breaks silently when the code moves)"
            ));
            continue;
        };
        let text = workspace::read_text(&include.target)?.unwrap_or_default();
        match workspace::anchored_text(&text, anchor) {
            None => problem(format!("anchor `{anchor}` is not defined in {shown}")),
            Some(text) if text.trim().is_empty() => {
                problem(format!("anchor `{anchor}` in {shown} yields no text"));
            }
            Some(_) => {}
        }
    }
    Ok(problems)
}

/// (b) Every anchor defined in a part's `src/` or `tests/` is included by
/// some chapter: an anchor nobody quotes is a listing the book forgot.
///
/// Parts copy each other forward, so a block a later part carries unchanged
/// counts as quoted when the book quotes the same file and anchor of another
/// part and the text is identical: the reader has already seen it. A block
/// that changed must be quoted from the part that changed it.
pub fn check_anchors_used(layout: &Layout) -> Result<Vec<Problem>> {
    let mut used = BTreeSet::new();
    let mut quoted_texts: BTreeSet<(PathBuf, String, String)> = BTreeSet::new();
    for include in book_includes(layout)? {
        if let (Some(anchor), Ok(target)) = (include.anchor(), include.target.canonicalize()) {
            if let Some(text) = workspace::read_text(&target)?
                && let Some(block) = workspace::anchored_text(&text, anchor)
                && let Some(within) = within_part(layout, &target)
            {
                quoted_texts.insert((
                    within,
                    anchor.to_owned(),
                    without_part_names(layout, &block),
                ));
            }
            used.insert((target, anchor.to_owned()));
        }
    }
    let mut problems = Vec::new();
    for (path, text) in part_sources(layout)? {
        let canonical = path.canonicalize()?;
        let within = within_part(layout, &canonical);
        for (index, line) in text.lines().enumerate() {
            let Some(Marker::Start(name)) = workspace::marker(line) else {
                continue;
            };
            if used.contains(&(canonical.clone(), name.to_owned())) {
                continue;
            }
            let block = workspace::anchored_text(&text, name).unwrap_or_default();
            let seen_elsewhere = within.as_ref().is_some_and(|within| {
                quoted_texts.contains(&(
                    within.clone(),
                    name.to_owned(),
                    without_part_names(layout, &block),
                ))
            });
            if !seen_elsewhere {
                problems.push(Problem {
                    file: layout.relative(&path),
                    line: index + 1,
                    message: format!(
                        "anchor `{name}` is not included anywhere in the book ({{{{#include …:{name}}}}}), nor is an identical copy from another part"
                    ),
                });
            }
        }
    }
    Ok(problems)
}

/// A block's text with every part's crate name (`part4-protected-rs`,
/// `part4_protected_rs`) replaced by one placeholder, so that a block copied
/// forward compares equal to its original, as `cargo xtask diff` shows it.
fn without_part_names(layout: &Layout, block: &str) -> String {
    let mut text = block.trim().to_owned();
    for member in &layout.members {
        if workspace::part_number(member).is_some() {
            text = text.replace(member.as_str(), "<part>");
            text = text.replace(&member.replace('-', "_"), "<part>");
        }
    }
    text
}

/// A file's path inside its part (`src/lib.rs` for `part3-as-full/src/lib.rs`).
fn within_part(layout: &Layout, canonical: &Path) -> Option<PathBuf> {
    let root = layout.root.canonicalize().ok()?;
    let relative = canonical.strip_prefix(root).ok()?;
    let mut components = relative.components();
    components.next()?;
    Some(components.as_path().to_path_buf())
}

/// (c) Every chapter linked from `SUMMARY.md` exists (mdBook would create
/// an empty file for it instead of failing).
pub fn check_summary(layout: &Layout) -> Result<Vec<Problem>> {
    let summary = layout.book_src.join("SUMMARY.md");
    let text = fs::read_to_string(&summary)
        .with_context(|| format!("cannot read {}", summary.display()))?;
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            let link = after[..end].trim();
            rest = &after[end..];
            let path = link.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") {
                continue; // a draft chapter, or an external link
            }
            if !layout.book_src.join(path).is_file() {
                problems.push(Problem {
                    file: layout.relative(&summary),
                    line: index + 1,
                    message: format!("chapter {path} does not exist"),
                });
            }
        }
    }
    Ok(problems)
}

/// (d) No two workspace members share a lib name or a bin name: cargo only
/// warns about such output collisions, then one overwrites the other.
pub fn check_target_names(layout: &Layout) -> Result<Vec<Problem>> {
    let mut libs: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut bins: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut problems = Vec::new();
    // Cargo itself says which targets each member builds (explicit or
    // inferred); the manifest is read only to point at a line.
    for package in workspace::packages(&layout.root)? {
        let manifest_path = layout.root.join(&package.dir).join("Cargo.toml");
        let text = fs::read_to_string(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?;
        let file = layout.relative(&manifest_path);
        for target in &package.targets {
            let (kind, seen) = if target.is_lib() {
                ("lib", &mut libs)
            } else if target.is_bin() {
                ("bin", &mut bins)
            } else {
                continue;
            };
            let line = naming_line(&text, &target.name)
                .or_else(|| {
                    (kind == "lib")
                        .then(|| naming_line(&text, &package.name))
                        .flatten()
                })
                .unwrap_or(1);
            if let Some((other, other_line)) = seen.get(&target.name) {
                problems.push(Problem {
                    file: file.clone(),
                    line,
                    message: format!(
                        "{kind} name `{}` is also a {kind} of {other}:{other_line}; give each part its own",
                        target.name
                    ),
                });
            } else {
                seen.insert(target.name.clone(), (file.clone(), line));
            }
        }
    }
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(problems)
}

/// The 1-based line of the manifest that names `name` (`name = "name"`),
/// if any: an inferred target has none.
fn naming_line(manifest: &str, name: &str) -> Option<usize> {
    manifest
        .lines()
        .position(|line| {
            workspace::key_value(line.trim(), "name")
                .and_then(workspace::unquote)
                .is_some_and(|value| value == name)
        })
        .map(|index| index + 1)
}

/// (e) Every `ANCHOR` has an `ANCHOR_END` in the same file, every
/// `ANCHOR_END` follows its `ANCHOR`, and no name starts twice in a file.
pub fn check_anchors_well_formed(layout: &Layout) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (path, text) in part_sources(layout)? {
        let file = layout.relative(&path);
        let mut problem = |line: usize, message: String| {
            problems.push(Problem {
                file: file.clone(),
                line,
                message,
            });
        };
        let mut started: BTreeMap<&str, usize> = BTreeMap::new();
        let mut ended: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            match workspace::marker(line) {
                Some(Marker::Start(name)) => {
                    if let Some(first) = started.get(name) {
                        problem(
                            number,
                            format!(
                                "anchor `{name}` is defined twice in this file (first at line {first}); {{{{#include}}}} only takes the first"
                            ),
                        );
                    } else {
                        started.insert(name, number);
                    }
                }
                Some(Marker::End(name)) => {
                    if !started.contains_key(name) {
                        problem(
                            number,
                            format!("ANCHOR_END: {name} without an ANCHOR: {name} before it"),
                        );
                    } else if let Some(first) = ended.get(name) {
                        problem(
                            number,
                            format!("anchor `{name}` ends twice (first at line {first})"),
                        );
                    } else {
                        ended.insert(name, number);
                    }
                }
                None => {}
            }
        }
        for (name, line) in &started {
            if !ended.contains_key(name) {
                problem(
                    *line,
                    format!("ANCHOR: {name} has no ANCHOR_END: {name} in this file"),
                );
            }
        }
    }
    problems.sort();
    Ok(problems)
}

/// Every text file in the parts' `src/` and `tests/`, where anchors live.
fn part_sources(layout: &Layout) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for part in layout.parts() {
        for sub in ["src", "tests"] {
            let dir = layout.root.join(part).join(sub);
            if !dir.is_dir() {
                continue;
            }
            for relative in workspace::walk(&dir)? {
                let path = dir.join(relative);
                if let Some(text) = workspace::read_text(&path)? {
                    files.push((path, text));
                }
            }
        }
    }
    Ok(files)
}

/// Every include in every chapter (`*.md` under the book's `src/`).
fn book_includes(layout: &Layout) -> Result<Vec<Include>> {
    let mut includes = Vec::new();
    for relative in workspace::walk(&layout.book_src)? {
        if relative.extension().is_none_or(|ext| ext != "md") {
            continue;
        }
        let chapter = layout.book_src.join(&relative);
        let text = fs::read_to_string(&chapter)
            .with_context(|| format!("cannot read {}", chapter.display()))?;
        let dir = chapter.parent().unwrap_or(&layout.book_src);
        for (index, line) in text.lines().enumerate() {
            for (kind, argument) in links(line) {
                if kind != "include" && kind != "rustdoc_include" {
                    continue;
                }
                let path = argument.split_whitespace().next().unwrap_or_default();
                let (file, selector) = match path.split_once(':') {
                    Some((file, selector)) => (file, Some(selector.to_owned())),
                    None => (path, None),
                };
                includes.push(Include {
                    chapter: chapter.clone(),
                    line: index + 1,
                    target: normalize(&dir.join(file)),
                    selector,
                });
            }
        }
    }
    Ok(includes)
}

/// Resolves `.` and `..` without touching the file system, so messages
/// say `part1-basic-rs/src/lib.rs`, not `book/src/../../part1-basic-rs/…`.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !normal.pop() {
                    normal.push("..");
                }
            }
            other => normal.push(other),
        }
    }
    normal
}

/// The `{{#kind argument}}` links of one line, as mdBook finds them:
/// `\{{#...}}` is escaped and left alone.
fn links(line: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        let escaped = rest[..start].ends_with('\\');
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let inner = &after[..end];
        rest = &after[end + 2..];
        if escaped || inner.contains('}') {
            continue;
        }
        let Some(link) = inner.trim_start().strip_prefix('#') else {
            continue;
        };
        let kind_end = link
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
            .unwrap_or(link.len());
        let (kind, argument) = link.split_at(kind_end);
        if !kind.is_empty() && argument.starts_with(char::is_whitespace) {
            found.push((kind, argument.trim()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{WriteFiles as _, fixture};
    use tempfile::TempDir;

    fn assert_clean(problems: Vec<Problem>) {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(listed.is_empty(), "problems:\n{}", listed.join("\n"));
    }

    /// (a) holds in the real repository.
    #[test]
    fn book_includes_resolve() {
        assert_clean(check_includes(&Layout::real().expect("layout")).expect("check"));
    }

    /// (b) holds in the real repository.
    #[test]
    fn every_anchor_is_in_the_book() {
        assert_clean(check_anchors_used(&Layout::real().expect("layout")).expect("check"));
    }

    /// (c) holds in the real repository.
    #[test]
    fn summary_chapters_exist() {
        assert_clean(check_summary(&Layout::real().expect("layout")).expect("check"));
    }

    /// (d) holds in the real repository.
    #[test]
    fn target_names_are_unique() {
        assert_clean(check_target_names(&Layout::real().expect("layout")).expect("check"));
    }

    /// (e) holds in the real repository.
    #[test]
    fn anchors_are_well_formed() {
        assert_clean(check_anchors_well_formed(&Layout::real().expect("layout")).expect("check"));
    }

    /// (f) holds in the real repository.
    #[test]
    fn generated_files_are_fresh() {
        assert_clean(generated::check_generated(&Layout::real().expect("layout")).expect("check"));
    }

    /// (g) holds in the real repository.
    #[test]
    fn internal_links_resolve() {
        assert_clean(links::check_links(&Layout::real().expect("layout")).expect("check"));
    }

    /// A small repository that passes every check; each test below breaks
    /// one thing in it and expects exactly that problem.
    fn good_fixture() -> TempDir {
        fixture(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"part1-a\", \"part2-b\", \"xtask\"]\n",
            ),
            (
                "part1-a/Cargo.toml",
                "[package]\nname = \"part1-a\"\n\n[[bin]]\nname = \"part1-a-server\"\npath = \"src/main.rs\"\n",
            ),
            (
                "part1-a/src/lib.rs",
                "// ANCHOR: greet\npub fn greet() {}\n// ANCHOR_END: greet\n",
            ),
            ("part1-a/src/main.rs", "fn main() {}\n"),
            ("part2-b/Cargo.toml", "[package]\nname = \"part2-b\"\n"),
            (
                "part2-b/src/lib.rs",
                "// ANCHOR: greet\npub fn greet() {}\n// ANCHOR_END: greet\n",
            ),
            ("part2-b/src/main.rs", "fn main() {}\n"),
            (
                "part2-b/tests/it/main.rs",
                "// ANCHOR: test\n#[test]\nfn t() {}\n// ANCHOR_END: test\n",
            ),
            ("xtask/Cargo.toml", "[package]\nname = \"xtask\"\n"),
            // Markers in xtask are not anchors: xtask is not a part.
            ("xtask/src/main.rs", "// ANCHOR: not_a_part\nfn main() {}\n"),
            (
                "book/src/SUMMARY.md",
                "# Summary\n\n[Introduction](introduction.md)\n\n- [Part 1](part1.md)\n- [Part 2](part2/index.md)\n- [Draft]()\n",
            ),
            (
                "book/src/introduction.md",
                "Hello.\nEscaped: \\{{#include nothing.rs:x}}\n",
            ),
            (
                "book/src/part1.md",
                "```rust,ignore\n{{#include ../../part1-a/src/lib.rs:greet}}\n```\n",
            ),
            (
                "book/src/part2/index.md",
                "{{#rustdoc_include ../../../part2-b/src/lib.rs:greet}}\n{{ #include ../../../part2-b/tests/it/main.rs:test }}\n{{#include ../../../part2-b/src/main.rs}}\n",
            ),
        ])
    }

    fn problems_in(dir: &TempDir) -> Vec<String> {
        let layout = Layout::at(dir.path()).expect("layout");
        check_all(&layout)
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_good_fixture_passes() {
        let dir = good_fixture();
        assert_eq!(problems_in(&dir), Vec::<String>::new());
    }

    #[test]
    fn a_include_of_a_missing_file_or_anchor_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "book/src/part1.md",
            "{{#include ../../part1-a/src/lib.rs:greet}}\n{{#include ../../part1-a/src/gone.rs}}\n{{#include ../../part1-a/src/lib.rs:nope}}\n{{#include ../../part1-a/src/lib.rs:2:3}}\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            [
                "book/src/part1.md:2: included file part1-a/src/gone.rs does not exist",
                "book/src/part1.md:3: anchor `nope` is not defined in part1-a/src/lib.rs",
                "book/src/part1.md:4: `2:3` includes by line numbers; wrap the code in `// ANCHOR: name` and include the anchor (a line range breaks silently when the code moves)",
            ]
        );
    }

    #[test]
    fn a_include_of_an_empty_anchor_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "part1-a/src/lib.rs",
            "// ANCHOR: greet\npub fn greet() {}\n// ANCHOR_END: greet\n// ANCHOR: empty\n\n// ANCHOR_END: empty\n",
        )]);
        dir.write(&[(
            "book/src/part1.md",
            "{{#include ../../part1-a/src/lib.rs:greet}}\n{{#include ../../part1-a/src/lib.rs:empty}}\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            ["book/src/part1.md:2: anchor `empty` in part1-a/src/lib.rs yields no text"]
        );
    }

    #[test]
    fn b_an_anchor_missing_from_the_book_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "part2-b/src/lib.rs",
            "// ANCHOR: greet\npub fn greet() {}\n// ANCHOR_END: greet\n\n// ANCHOR: forgotten\npub fn forgotten() {}\n// ANCHOR_END: forgotten\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            [
                "part2-b/src/lib.rs:5: anchor `forgotten` is not included anywhere in the book ({{#include …:forgotten}}), nor is an identical copy from another part"
            ]
        );
    }

    #[test]
    fn c_a_missing_chapter_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "book/src/SUMMARY.md",
            "# Summary\n\n[Introduction](introduction.md)\n\n- [Part 1](part1.md)\n- [Part 2](part2/index.md)\n- [Part 3](part3.md#top)\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            ["book/src/SUMMARY.md:7: chapter part3.md does not exist"]
        );
    }

    #[test]
    fn d_shared_lib_or_bin_names_fail() {
        let dir = good_fixture();
        dir.write(&[(
            "part2-b/Cargo.toml",
            "[package]\nname = \"part2-b\"\n\n[lib]\nname = \"part1_a\"\n\n[[bin]]\nname = \"part1-a-server\"\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            [
                "part2-b/Cargo.toml:5: lib name `part1_a` is also a lib of part1-a/Cargo.toml:2; give each part its own",
                "part2-b/Cargo.toml:8: bin name `part1-a-server` is also a bin of part1-a/Cargo.toml:5; give each part its own",
            ]
        );
    }

    #[test]
    fn d_inferred_bins_count_too() {
        let dir = good_fixture();
        dir.write(&[("part2-b/src/bin/part1-a-server.rs", "fn main() {}\n")]);
        assert_eq!(
            problems_in(&dir),
            [
                "part2-b/Cargo.toml:1: bin name `part1-a-server` is also a bin of part1-a/Cargo.toml:5; give each part its own"
            ]
        );
    }

    #[test]
    fn e_malformed_anchors_fail() {
        let dir = good_fixture();
        dir.write(&[(
            "part2-b/src/lib.rs",
            "// ANCHOR: greet\npub fn greet() {}\n// ANCHOR_END: greet\n// ANCHOR: greet\n// ANCHOR_END: greet\n// ANCHOR: open\n// ANCHOR_END: stray\n",
        )]);
        let layout = Layout::at(dir.path()).expect("layout");
        let problems: Vec<String> = check_anchors_well_formed(&layout)
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "part2-b/src/lib.rs:4: anchor `greet` is defined twice in this file (first at line 1); {{#include}} only takes the first",
                "part2-b/src/lib.rs:5: anchor `greet` ends twice (first at line 3)",
                "part2-b/src/lib.rs:6: ANCHOR: open has no ANCHOR_END: open in this file",
                "part2-b/src/lib.rs:7: ANCHOR_END: stray without an ANCHOR: stray before it",
            ]
        );
    }

    #[test]
    fn f_a_stale_or_unknown_generated_file_fails() {
        let dir = good_fixture();
        let layout = Layout::at(dir.path()).expect("layout");
        let report = crate::diff::diff_parts(dir.path(), "part1-a", "part2-b").expect("diff");
        let (path, fresh) = crate::diff::generated_markdown(dir.path(), &report).expect("md");
        dir.write(&[("book/src/generated/diff-1-2.md", fresh.as_str())]);
        assert!(path.is_file());
        assert_eq!(problems_in(&dir), Vec::<String>::new());

        dir.write(&[
            ("part2-b/src/main.rs", "fn main() { changed() }\n"),
            ("book/src/generated/notes.md", "another generator's\n"),
            ("book/src/generated/diff-3.md", "hand-written\n"),
            ("book/src/generated/diff-1-9.md", "no part 9\n"),
        ]);
        let problems: Vec<String> = generated::check_generated(&layout)
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "book/src/generated/diff-1-2.md:1: stale: the parts changed since it was generated; run `cargo xtask diff 1 2 --write` and commit it",
                &format!(
                    "book/src/generated/diff-1-9.md:1: names no pair of parts: no directory part9-* in {}",
                    dir.path().display()
                ),
                "book/src/generated/diff-3.md:1: not named diff-A-B.md, so `cargo xtask diff` did not write it",
            ]
        );
    }

    #[test]
    fn g_good_internal_links_pass() {
        let dir = good_fixture();
        dir.write(&[
            (
                "book/src/introduction.md",
                "# Introduction\n\n## Two `cargo` commands\n\nSee [part 1](part1.md), [its code](part1.md#the-code),\n\
                 [below](#two-cargo-commands), [part 2](./part2/index.md#part-two), [rendered](part1.html#the-code),\n\
                 [the web](https://example.com/x.md#nothing) and [an image](img/logo.txt).\n",
            ),
            ("book/src/img/logo.txt", "logo\n"),
            (
                "book/src/part1.md",
                "# Part 1\n\n## The code\n\n```rust,ignore\n{{#include ../../part1-a/src/lib.rs:greet}}\n```\n",
            ),
            (
                "book/src/part2/index.md",
                "# Part two\n\nBack to [the start](../introduction.md).\n{{#rustdoc_include ../../../part2-b/src/lib.rs:greet}}\n{{ #include ../../../part2-b/tests/it/main.rs:test }}\n{{#include ../../../part2-b/src/main.rs}}\n",
            ),
        ]);
        assert_eq!(problems_in(&dir), Vec::<String>::new());
    }

    #[test]
    fn g_a_broken_internal_link_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "book/src/introduction.md",
            "# Introduction\n\n[gone](gone.md) and [no such heading](part1.md#nowhere).\n\
             [here, but no heading](#missing) `[in code](ignored.md)`\n\
             ```text\n[in a fence](ignored.md)\n```\n\
             [out of the book](../../part1-a/src/lib.rs)\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            [
                "book/src/introduction.md:3: link `gone.md`: book/src/gone.md does not exist",
                "book/src/introduction.md:3: link `part1.md#nowhere`: book/src/part1.md has no heading with id `nowhere`",
                "book/src/introduction.md:4: link `#missing`: book/src/introduction.md has no heading with id `missing`",
                "book/src/introduction.md:8: link `../../part1-a/src/lib.rs` leaves book/src: the rendered book has no such file",
            ]
        );
    }

    #[test]
    fn links_are_found_like_mdbook_does() {
        assert_eq!(
            links(
                "a {{#include x.rs:y}} b {{ #rustdoc_include  z.rs }} \\{{#include no.rs}} {{#title T}}"
            ),
            [
                ("include", "x.rs:y"),
                ("rustdoc_include", "z.rs"),
                ("title", "T")
            ]
        );
        assert!(links("{{#include}}").is_empty());
    }
}
