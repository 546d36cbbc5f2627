//! (j) The rule list lives in the project: the book's security checklist
//! ([`CHECKLIST`]) defines every rule id that code, tests and the book cite,
//! with the code that enforces it and the tests that prove it, and the
//! checklist is true to the code.
//!
//! A rule id is a prefix (`TR`, `RS`, `AS`, `CL`, `P6`), a dash and two
//! digits (`AS-03`, as in `rule AS-03` or a chapter's prose); a test is
//! named after its rule in lower case without the dash (`as03_…`,
//! `rs01_rs02_…` for two). The checklist's format is in [`checklist`].
//! Problems, each at the line to fix:
//!
//! - an id cited in any `.rs`, `.md`, `.toml`, `.yml`, `.py` or `.txt` file
//!   of the repository that the checklist does not define (this module and
//!   `book/src/generated/`, which only copies code, are not read);
//! - a rule defined twice, without its text, or without either both an
//!   **Enforced by** and a **Proved by** bullet or a **Not yet enforced** one;
//! - a bullet that names no part, a file missing from the part it names, an
//!   enforcing item (each `::` segment) that is not a word of its file's
//!   code (comment lines do not count);
//! - a **Proved by** name that is not a test function (`fn` under a
//!   `#[test]`-like attribute) in the file it is listed under, or whose name
//!   does not cite the rule;
//! - a test in a part a **Proved by** bullet names that cites the rule but
//!   is not listed: the list is complete, so `cargo test -p part5-client
//!   rs04` runs exactly what the checklist says proves RS-04;
//! - a test anywhere that cites a rule marked **Not yet enforced**: once a
//!   test proves a rule, the checklist must say so and list it (a rule being
//!   written may be cited in comments before then);
//! - a path `partN-x/…` (or `xtask/…`) in a chapter that does not exist.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::Result;

use super::{Layout, Problem};
use crate::workspace;

mod checklist;

use checklist::{Bullet, Rule};

/// The chapter that defines the rules, under the book's `src/`.
pub const CHECKLIST: &str = "security-checklist.md";

const PREFIXES: [&str; 5] = ["TR", "RS", "AS", "CL", "P6"];

/// The kinds of file whose text may cite a rule.
const CITING_EXTENSIONS: [&str; 7] = ["rs", "md", "toml", "yml", "yaml", "py", "txt"];

/// Runs every rule check; see the module documentation.
pub fn check_rules(layout: &Layout) -> Result<Vec<Problem>> {
    let path = layout.book_src.join(CHECKLIST);
    let text = if path.is_file() {
        workspace::read_text(&path)?.unwrap_or_default()
    } else {
        String::new()
    };
    let rules = checklist::parse(&text);
    let mut report = Report {
        layout,
        checklist: layout.relative(&path),
        problems: Vec::new(),
    };
    let mut defined: BTreeMap<&str, &Rule> = BTreeMap::new();
    for rule in &rules {
        if let Some(first) = defined.insert(&rule.id, rule) {
            let message = format!(
                "{} is defined twice (first at line {})",
                rule.id, first.line
            );
            report.in_checklist(rule.line, message);
        }
    }
    for (file, text) in citing_files(layout)? {
        for (index, line) in text.lines().enumerate() {
            for id in rule_ids(line) {
                if !defined.contains_key(id.as_str()) {
                    let message = format!(
                        "rule {id} is cited here but {} does not define it: add a `### {id}` entry with its text",
                        report.checklist
                    );
                    report.at(&file, index + 1, message);
                }
            }
        }
    }
    let tests = test_functions(layout)?;
    for rule in &rules {
        check_rule(&mut report, rule, &tests);
    }
    check_book_paths(&mut report)?;
    let mut problems = report.problems;
    problems.sort();
    Ok(problems)
}

/// Every rule id in `text`, in order: `AS-03` and the test-name form
/// `as03` (followed by `_` or the end of a word), both given as `AS-03`.
pub fn rule_ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let word = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_alphanumeric);
    let digits = |at: usize| {
        bytes
            .get(at..at + 2)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let mut ids = Vec::new();
    for start in 0..bytes.len() {
        if start > 0 && word(start - 1) {
            continue;
        }
        let rest = &bytes[start..];
        for prefix in PREFIXES {
            let n = prefix.len();
            let lower = prefix.to_ascii_lowercase();
            let number = if rest.starts_with(prefix.as_bytes())
                && rest.get(n) == Some(&b'-')
                && digits(start + n + 1)
                && !word(start + n + 3)
            {
                start + n + 1
            } else if rest.starts_with(lower.as_bytes())
                && digits(start + n)
                && !word(start + n + 2)
            {
                start + n
            } else {
                continue;
            };
            ids.push(format!("{prefix}-{}", &text[number..number + 2]));
        }
    }
    ids
}

/// Collects problems, with paths relative to the repository root.
struct Report<'a> {
    layout: &'a Layout,
    checklist: String,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn at(&mut self, file: &Path, line: usize, message: String) {
        let file = self.layout.relative(file);
        self.problems.push(Problem {
            file,
            line,
            message,
        });
    }

    fn in_checklist(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            file: self.checklist.clone(),
            line,
            message,
        });
    }
}

/// A test function in a part.
#[derive(Debug)]
struct TestFn {
    part: String,
    /// Relative to the part, with `/` separators (`tests/it/codes.rs`).
    file: String,
    line: usize,
    name: String,
}

/// The checks of one rule entry against the code and the tests.
fn check_rule(report: &mut Report<'_>, rule: &Rule, tests: &[TestFn]) {
    let id = rule.id.as_str();
    if !rule.has_text {
        report.in_checklist(
            rule.line,
            format!("{id} has no text: quote the rule with `> …`"),
        );
    }
    if let Some(line) = rule.not_yet_enforced {
        if !rule.proved_by.is_empty() || !rule.enforced_by.is_empty() {
            let message = format!(
                "{id} is marked not yet enforced and also lists what enforces or proves it: keep one"
            );
            report.in_checklist(line, message);
        }
        for test in tests
            .iter()
            .filter(|test| rule_ids(&test.name).iter().any(|cited| cited == id))
        {
            let path = report.layout.root.join(&test.part).join(&test.file);
            let message = format!(
                "test `{}` proves {id}, which {}:{line} marks not yet enforced: replace that with Enforced by and Proved by bullets that list it",
                test.name, report.checklist
            );
            report.at(&path, test.line, message);
        }
        return;
    }
    if rule.enforced_by.is_empty() || rule.proved_by.is_empty() {
        let message = format!(
            "{id} needs an `- **Enforced by** (in `part/`)` and a `- **Proved by** (in `part/`)` bullet, or `- **Not yet enforced**`"
        );
        report.in_checklist(rule.line, message);
    }
    for bullet in &rule.enforced_by {
        let Some(part) = bullet_part(report, bullet) else {
            continue;
        };
        for (file, items) in &bullet.files {
            let path = report.layout.root.join(&part).join(file);
            let Some(text) = read_listed(report, bullet.line, &part, file, &path) else {
                continue;
            };
            // A name only a comment mentions is not code that enforces anything.
            let code: String = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for item in items.iter().filter(|item| is_rust_path(item)) {
                if let Some(missing) = item.split("::").find(|segment| !has_word(&code, segment)) {
                    let message = format!(
                        "`{item}`: `{missing}` does not appear in the code of {part}/{file}"
                    );
                    report.in_checklist(bullet.line, message);
                }
            }
        }
    }
    let mut listed = BTreeSet::new();
    let mut parts = BTreeSet::new();
    for bullet in &rule.proved_by {
        let Some(part) = bullet_part(report, bullet) else {
            continue;
        };
        for (file, names) in &bullet.files {
            let path = report.layout.root.join(&part).join(file);
            if read_listed(report, bullet.line, &part, file, &path).is_none() {
                continue;
            }
            if names.is_empty() {
                report.in_checklist(bullet.line, format!("{part}/{file}: no test named"));
            }
            for name in names {
                check_listed_test(report, rule, bullet.line, (&part, file, name), tests);
                listed.insert((part.clone(), file.clone(), name.clone()));
            }
        }
        parts.insert(part);
    }
    for test in tests {
        let cites = rule_ids(&test.name).iter().any(|cited| cited == id);
        let key = (test.part.clone(), test.file.clone(), test.name.clone());
        if cites && parts.contains(&test.part) && !listed.contains(&key) {
            let path = report.layout.root.join(&test.part).join(&test.file);
            let message = format!(
                "test `{}` cites {id} but {}:{} does not list it under Proved by",
                test.name, report.checklist, rule.line
            );
            report.at(&path, test.line, message);
        }
    }
}

/// A **Proved by** name: a test in that file of that part, named after the rule.
fn check_listed_test(
    report: &mut Report<'_>,
    rule: &Rule,
    line: usize,
    (part, file, name): (&str, &str, &str),
    tests: &[TestFn],
) {
    let in_part: Vec<&TestFn> = tests
        .iter()
        .filter(|test| test.part == part && test.name == name)
        .collect();
    if !in_part.iter().any(|test| test.file == file) {
        let message = match in_part.first() {
            Some(test) => format!(
                "`{name}` is not in {part}/{file} but in {part}/{}",
                test.file
            ),
            None => format!("no test `{name}` in {part}/{file}"),
        };
        report.in_checklist(line, message);
    } else if !rule_ids(name).contains(&rule.id) {
        let message = format!(
            "`{name}` is listed as proving {} but is not named after it",
            rule.id
        );
        report.in_checklist(line, message);
    }
}

/// The part a bullet names, if it names one that exists.
fn bullet_part(report: &mut Report<'_>, bullet: &Bullet) -> Option<String> {
    let Some(part) = &bullet.part else {
        let message = "say which part the paths are in: `(in `partN-x/`)`".to_owned();
        report.in_checklist(bullet.line, message);
        return None;
    };
    if !report.layout.parts().any(|known| known == part) {
        report.in_checklist(
            bullet.line,
            format!("`{part}/` is not a part of the workspace"),
        );
        return None;
    }
    Some(part.clone())
}

/// The text of a file a bullet lists, or a problem when it does not exist.
fn read_listed(
    report: &mut Report<'_>,
    line: usize,
    part: &str,
    file: &str,
    path: &Path,
) -> Option<String> {
    let text = path
        .is_file()
        .then(|| workspace::read_text(path).ok().flatten())
        .flatten();
    if text.is_none() {
        report.in_checklist(line, format!("{part}/{file} does not exist"));
    }
    text
}

/// Every file whose text may cite a rule, with its text.
fn citing_files(layout: &Layout) -> Result<Vec<(PathBuf, String)>> {
    let generated = layout.book_src.join("generated");
    let this_module = layout.root.join("xtask/src/check/rules");
    let mut files = Vec::new();
    for relative in workspace::walk(&layout.root)? {
        let path = layout.root.join(&relative);
        let citing = relative
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| CITING_EXTENSIONS.contains(&ext));
        // This module's fixtures cite made-up rules on purpose.
        let skipped = path.starts_with(&generated)
            || path.starts_with(&this_module)
            || path == this_module.with_extension("rs");
        if citing
            && !skipped
            && let Some(text) = workspace::read_text(&path)?
        {
            files.push((path, text));
        }
    }
    Ok(files)
}

/// Every test function in the parts' `src/` and `tests/`.
fn test_functions(layout: &Layout) -> Result<Vec<TestFn>> {
    let mut tests = Vec::new();
    for part in layout.parts() {
        for sub in ["src", "tests"] {
            let dir = layout.root.join(part).join(sub);
            if !dir.is_dir() {
                continue;
            }
            for relative in workspace::walk(&dir)? {
                if relative.extension().is_none_or(|ext| ext != "rs") {
                    continue;
                }
                let Some(text) = workspace::read_text(&dir.join(&relative))? else {
                    continue;
                };
                let file = Path::new(sub).join(&relative);
                let file = file.to_string_lossy().replace('\\', "/");
                for (line, name) in test_names(&text) {
                    tests.push(TestFn {
                        part: part.to_owned(),
                        file: file.clone(),
                        line,
                        name,
                    });
                }
            }
        }
    }
    Ok(tests)
}

/// The functions of `text` under an attribute that mentions `test`
/// (`#[test]`, `#[tokio::test(…)]`), with their 1-based lines.
fn test_names(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let signature = line.strip_prefix("pub ").unwrap_or(line);
        let signature = signature.strip_prefix("async ").unwrap_or(signature);
        let Some(rest) = signature.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            .collect();
        let is_test = lines[..index]
            .iter()
            .rev()
            .take_while(|above| above.starts_with("#[") || above.starts_with("//"))
            .any(|above| above.starts_with("#[") && above.contains("test"));
        if is_test && !name.is_empty() {
            found.push((index + 1, name));
        }
    }
    found
}

/// A path such as `Store`, `Digest::of` or `CODE_LIFETIME`; anything else in
/// a code span (`*`, a header) is prose and not looked up.
fn is_rust_path(item: &str) -> bool {
    item.split("::").all(|segment| {
        segment.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            && segment
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    })
}

/// Whether `word` occurs in `text` between non-identifier characters.
fn has_word(text: &str, word: &str) -> bool {
    let ident = |ch: Option<char>| ch.is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    text.match_indices(word).any(|(at, _)| {
        !ident(text[..at].chars().next_back()) && !ident(text[at + word.len()..].chars().next())
    })
}

/// Every `partN-x/…` or `xtask/…` path written in a chapter exists, and so
/// does every `src/…` or `tests/…` path in a code span: in part N for the
/// chapter `partN.md`, in some part for the other chapters.
fn check_book_paths(report: &mut Report<'_>) -> Result<()> {
    let layout = report.layout;
    let generated = layout.book_src.join("generated");
    for relative in workspace::walk(&layout.book_src)? {
        let chapter = layout.book_src.join(&relative);
        if relative.extension().is_none_or(|ext| ext != "md") || chapter.starts_with(&generated) {
            continue;
        }
        // The checklist's paths are relative to the part each entry names,
        // and `check_rule` checks them there.
        let checklist = relative == Path::new(CHECKLIST);
        let own_part = chapter_part(layout, &relative);
        let text = workspace::read_text(&chapter)?.unwrap_or_default();
        for (index, line) in text.lines().enumerate() {
            let line = &without_includes(line);
            for path in member_paths(line, &layout.members) {
                if !exists(&layout.root, &path) {
                    let message = format!("`{path}` does not exist in the repository");
                    report.at(&chapter, index + 1, message);
                }
            }
            for span in line.split('`').skip(1).step_by(2).filter(|_| !checklist) {
                let Some(path) = part_relative_path(span) else {
                    continue;
                };
                let message = match own_part {
                    Some(part) if !exists(&layout.root.join(part), &path) => {
                        format!("`{path}` does not exist in {part}/")
                    }
                    None if !layout
                        .parts()
                        .any(|part| exists(&layout.root.join(part), &path)) =>
                    {
                        format!("`{path}` does not exist in any part")
                    }
                    _ => continue,
                };
                report.at(&chapter, index + 1, message);
            }
        }
    }
    Ok(())
}

/// The line without its `{{#include …}}` links, whose files check (a)
/// already reports.
fn without_includes(line: &str) -> String {
    let mut kept = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{#") {
        kept.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    kept.push_str(rest);
    kept
}

/// The part a chapter is about: `part4-protected-rs` for `part4.md`.
fn chapter_part<'a>(layout: &'a Layout, chapter: &Path) -> Option<&'a str> {
    let number: u32 = chapter
        .file_stem()?
        .to_str()?
        .strip_prefix("part")?
        .parse()
        .ok()?;
    layout
        .parts()
        .find(|part| workspace::part_number(part) == Some(number))
}

/// A code span that is a path inside a part (`src/server/auth.rs`,
/// `tests/it/`), as opposed to a command or a value.
fn part_relative_path(span: &str) -> Option<String> {
    let is_path = (span.starts_with("src/") || span.starts_with("tests/"))
        && span
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_-./*".contains(ch));
    is_path.then(|| span.to_owned())
}

/// Whether `path` (relative to `base`) exists; a `*` in its last segment
/// matches any text, so `tests/it/client_*.rs` needs one such file.
fn exists(base: &Path, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let Some((head, tail)) = name.split_once('*') else {
        return base.join(path).exists();
    };
    let Ok(entries) = std::fs::read_dir(base.join(dir)) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let entry = entry.file_name();
        let entry = entry.to_string_lossy();
        entry.len() >= head.len() + tail.len() && entry.starts_with(head) && entry.ends_with(tail)
    })
}

/// The paths in `line` that start with a member's directory and a `/`,
/// up to the first character that cannot be in a path (`:anchor`, `…`, a
/// space); a trailing `.` ends a sentence, and a `*` matches any text.
fn member_paths(line: &str, members: &[String]) -> Vec<String> {
    let path_char = |ch: char| ch.is_ascii_alphanumeric() || "_-./*".contains(ch);
    let mut paths = Vec::new();
    for member in members {
        let prefix = format!("{member}/");
        for (at, _) in line.match_indices(&prefix) {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
                continue;
            }
            let end = line[at..]
                .find(|ch: char| !path_char(ch))
                .map_or(line.len(), |end| at + end);
            let path = line[at..end].trim_end_matches('.');
            paths.push(path.to_owned());
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{WriteFiles as _, fixture};

    /// (j) holds in the real repository.
    #[test]
    fn rules_are_defined_and_proved() {
        let problems = check_rules(&Layout::real().expect("layout")).expect("check");
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(listed.is_empty(), "problems:\n{}", listed.join("\n"));
    }

    #[test]
    fn rule_ids_are_found_in_both_forms() {
        assert_eq!(
            rule_ids("rule AS-03 (TR-01, P6-07); fn rs01_rs02_x() and `cl07`"),
            ["AS-03", "TR-01", "P6-07", "RS-01", "RS-02", "CL-07"]
        );
        for text in [
            "CLASS-01", "AS-034", "AS-3", "has01_x", "as1_x", "xas01", "as012_x", "AS_01",
        ] {
            assert_eq!(rule_ids(text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn test_functions_need_a_test_attribute() {
        let text = "#[test]\nfn tr01_a() {}\n\n/// Why.\n#[tokio::test(flavor = \"current_thread\")]\nasync fn tr01_b() {}\n\nfn tr01_helper() {}\n    #[test]\n    pub fn tr01_c() {}\n";
        assert_eq!(
            test_names(text),
            [
                (2, "tr01_a".to_owned()),
                (6, "tr01_b".to_owned()),
                (10, "tr01_c".to_owned())
            ]
        );
    }

    const CHECKLIST_OK: &str = "# Checklist\n\n## Transport\n\n### TR-01\n\n> Validate `Origin`.\n\n\
        - **Enforced by** (in `part1-a/`): `src/lib.rs`: `Guard::check`, `MAX` (a limit); `src/main.rs` (binds).\n\
        - **Proved by** (in `part1-a/`): `src/lib.rs`: `tr01_unit`; `tests/it/t.rs`: `tr01_foreign_origin`.\n\n\
        ### TR-02\n\n> Sessions.\n\n- **Not yet enforced**: planned.\n";

    /// A repository that passes (j): one part, a rule enforced and proved,
    /// a rule not yet enforced, and a chapter citing both.
    fn good_fixture() -> tempfile::TempDir {
        fixture(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"part1-a\", \"xtask\"]\n",
            ),
            ("part1-a/Cargo.toml", "[package]\nname = \"part1-a\"\n"),
            (
                "part1-a/src/lib.rs",
                "/// rule TR-01; TR-02 comes later.\npub struct Guard;\nimpl Guard { pub fn check() {} }\npub const MAX: usize = 1;\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn tr01_unit() {}\n}\n",
            ),
            ("part1-a/src/main.rs", "fn main() {}\n"),
            (
                "part1-a/tests/it/t.rs",
                "/// TR-01: refused.\n#[test]\nfn tr01_foreign_origin() {}\n\nfn tr02_helper_is_not_a_test() {}\n",
            ),
            ("xtask/Cargo.toml", "[package]\nname = \"xtask\"\n"),
            ("xtask/src/main.rs", "fn main() {}\n"),
            ("book/src/security-checklist.md", CHECKLIST_OK),
            (
                "book/src/part1.md",
                "TR-01 and TR-02 (`tr01_foreign_origin` in `part1-a/tests/it/t.rs`, `src/lib.rs`, `tests/it/*.rs`).\n",
            ),
            (
                "book/src/intro.md",
                "See `src/main.rs` and `part1-a/src/`.\n",
            ),
        ])
    }

    fn problems_in(dir: &tempfile::TempDir) -> Vec<String> {
        let layout = Layout::at(dir.path()).expect("layout");
        check_rules(&layout)
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn j_the_good_fixture_passes() {
        assert_eq!(problems_in(&good_fixture()), Vec::<String>::new());
    }

    #[test]
    fn j_an_undefined_rule_id_fails_wherever_it_is_cited() {
        let dir = good_fixture();
        dir.write(&[
            ("part1-a/src/main.rs", "// rule TR-03\nfn main() {}\n"),
            (
                "part1-a/tests/it/t.rs",
                "#[test]\nfn tr01_foreign_origin() {}\n#[test]\nfn rs04_no_token() {}\n",
            ),
            ("book/src/intro.md", "RS-13 and CL-01.\n"),
            ("interop/notes.yml", "- check # AS-99\n"),
        ]);
        let undefined = |at: &str, id: &str| {
            format!(
                "{at}: rule {id} is cited here but book/src/security-checklist.md does not define it: add a `### {id}` entry with its text"
            )
        };
        assert_eq!(
            problems_in(&dir),
            [
                undefined("book/src/intro.md:1", "CL-01"),
                undefined("book/src/intro.md:1", "RS-13"),
                undefined("interop/notes.yml:1", "AS-99"),
                undefined("part1-a/src/main.rs:1", "TR-03"),
                undefined("part1-a/tests/it/t.rs:4", "RS-04"),
            ]
        );
    }

    #[test]
    fn j_a_listed_test_that_is_missing_misplaced_or_misnamed_fails() {
        let dir = good_fixture();
        dir.write(&[
            (
                "book/src/security-checklist.md",
                &CHECKLIST_OK.replace(
                    "`src/lib.rs`: `tr01_unit`; `tests/it/t.rs`: `tr01_foreign_origin`",
                    "`tests/it/t.rs`: `tr01_unit`, `tr01_gone`, `tr01_foreign_origin`, `helper`; `tests/it/gone.rs`: `tr01_x`; `src/main.rs`",
                ),
            ),
            (
                "part1-a/tests/it/t.rs",
                "#[test]\nfn tr01_foreign_origin() {}\n#[test]\nfn helper() {}\n",
            ),
        ]);
        assert_eq!(
            problems_in(&dir),
            [
                "book/src/security-checklist.md:10: `helper` is listed as proving TR-01 but is not named after it",
                "book/src/security-checklist.md:10: `tr01_unit` is not in part1-a/tests/it/t.rs but in part1-a/src/lib.rs",
                "book/src/security-checklist.md:10: no test `tr01_gone` in part1-a/tests/it/t.rs",
                "book/src/security-checklist.md:10: part1-a/src/main.rs: no test named",
                "book/src/security-checklist.md:10: part1-a/tests/it/gone.rs does not exist",
                "part1-a/src/lib.rs:9: test `tr01_unit` cites TR-01 but book/src/security-checklist.md:5 does not list it under Proved by",
            ]
        );
    }

    #[test]
    fn j_an_unlisted_test_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "part1-a/tests/it/t.rs",
            "#[test]\nfn tr01_foreign_origin() {}\n\n#[tokio::test]\nasync fn tr01_tr02_new_one() {}\n",
        )]);
        assert_eq!(
            problems_in(&dir),
            [
                "part1-a/tests/it/t.rs:5: test `tr01_tr02_new_one` cites TR-01 but book/src/security-checklist.md:5 does not list it under Proved by",
                "part1-a/tests/it/t.rs:5: test `tr01_tr02_new_one` proves TR-02, which book/src/security-checklist.md:16 marks not yet enforced: replace that with Enforced by and Proved by bullets that list it",
            ]
        );
    }

    #[test]
    fn j_missing_enforcing_code_fails() {
        let dir = good_fixture();
        dir.write(&[(
            "book/src/security-checklist.md",
            &CHECKLIST_OK.replace(
                "`src/lib.rs`: `Guard::check`, `MAX` (a limit); `src/main.rs` (binds)",
                "`src/lib.rs`: `Guard::verify`, `MA`, `*`, `TR`; `src/gone.rs`: `x`",
            ),
        )]);
        assert_eq!(
            problems_in(&dir),
            [
                "book/src/security-checklist.md:9: `Guard::verify`: `verify` does not appear in the code of part1-a/src/lib.rs",
                "book/src/security-checklist.md:9: `MA`: `MA` does not appear in the code of part1-a/src/lib.rs",
                "book/src/security-checklist.md:9: `TR`: `TR` does not appear in the code of part1-a/src/lib.rs",
                "book/src/security-checklist.md:9: part1-a/src/gone.rs does not exist",
            ]
        );
    }

    #[test]
    fn j_malformed_entries_fail() {
        let dir = good_fixture();
        let checklist = CHECKLIST_OK
            .replace(
                "(in `part1-a/`): `src/lib.rs`: `tr01",
                ": `src/lib.rs`: `tr01",
            )
            .replace(
                "(in `part1-a/`): `src/lib.rs`: `Guard",
                "(in `part9-z/`): `src/lib.rs`: `Guard",
            )
            .replace("> Sessions.", ">")
            + "\n### TR-02\n\n> Again.\n\n### TR-03\n\n> Listed, nothing else.\n\n### TR-04\n\n> Both.\n\n- **Not yet enforced**: soon.\n- **Proved by** (in `part1-a/`): `tests/it/t.rs`: `tr01_foreign_origin`.\n";
        dir.write(&[("book/src/security-checklist.md", &checklist)]);
        let need = |id: &str| {
            format!(
                "{id} needs an `- **Enforced by** (in `part/`)` and a `- **Proved by** (in `part/`)` bullet, or `- **Not yet enforced**`"
            )
        };
        assert_eq!(
            problems_in(&dir),
            [
                "book/src/security-checklist.md:9: `part9-z/` is not a part of the workspace".to_owned(),
                "book/src/security-checklist.md:10: say which part the paths are in: `(in `partN-x/`)`".to_owned(),
                "book/src/security-checklist.md:12: TR-02 has no text: quote the rule with `> …`".to_owned(),
                "book/src/security-checklist.md:18: TR-02 is defined twice (first at line 12)".to_owned(),
                format!("book/src/security-checklist.md:18: {}", need("TR-02")),
                format!("book/src/security-checklist.md:22: {}", need("TR-03")),
                "book/src/security-checklist.md:30: TR-04 is marked not yet enforced and also lists what enforces or proves it: keep one".to_owned(),
            ]
        );
    }

    #[test]
    fn j_a_path_in_a_chapter_that_does_not_exist_fails() {
        let dir = good_fixture();
        dir.write(&[
            (
                "book/src/part1.md",
                "`part1-a/tests/it/gone.rs`, `src/main.rs`, `src/server/auth.rs`, `tests/it/x*.rs`.\n",
            ),
            (
                "book/src/intro.md",
                "part1-a/src/nowhere/ and `tests/it/missing.rs`; `cargo test`.\n{{#include ../../part1-a/src/gone.rs}}\n",
            ),
        ]);
        assert_eq!(
            problems_in(&dir),
            [
                "book/src/intro.md:1: `part1-a/src/nowhere/` does not exist in the repository",
                "book/src/intro.md:1: `tests/it/missing.rs` does not exist in any part",
                "book/src/part1.md:1: `part1-a/tests/it/gone.rs` does not exist in the repository",
                "book/src/part1.md:1: `src/server/auth.rs` does not exist in part1-a/",
                "book/src/part1.md:1: `tests/it/x*.rs` does not exist in part1-a/",
            ]
        );
    }
}
