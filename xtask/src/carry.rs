//! `cargo xtask carry N`: copies the code part N introduced (or changed)
//! forward into every later part that carries it, and (i) in
//! `cargo xtask check`, [`check_carried`]: a carried file that differs from
//! its source fails.
//!
//! Each part is a complete copy of the previous one plus one concern. The
//! files a part takes over unchanged are listed in its `carried.txt`, one
//! path per line, relative to the part; a path ending in `/` carries a whole
//! directory (files the source no longer has are removed from the copy).
//! The source is always the previous part. So a fix to the authorization
//! server is made once, in part 3, and `cargo xtask carry 3` writes it into
//! parts 4, 5 and 6, instead of three hand edits that nothing compares.
//!
//! Carried files are byte-identical, with one exception that no person
//! writes: the `source:` line insta puts in a snapshot's header names the
//! part's own directory, and is rewritten on copy and ignored on compare.

use std::{collections::BTreeSet, fs, path::Path};

use anyhow::{Context, Result, bail};

use crate::{
    check::{Layout, Problem},
    workspace,
};

/// The manifest each carrying part keeps at its top level.
pub const MANIFEST: &str = "carried.txt";

const USAGE: &str = "usage: cargo xtask carry <N>

Copies every file that later parts list in their carried.txt from part N
forward, part by part: N to N+1, then N+1 to N+2, and so on.";

/// Runs the command: carries part N forward and lists what it wrote.
pub fn run(args: &[String]) -> Result<()> {
    let [from] = args else {
        bail!("expected one part number\n\n{USAGE}");
    };
    let Ok(from) = from.parse::<u32>() else {
        bail!("`{from}` is not a part number\n\n{USAGE}");
    };
    let layout = Layout::real()?;
    let written = carry_from(&layout, from)?;
    if written.is_empty() {
        println!("carry: every part after {from} already holds its carried files");
    }
    for line in written {
        println!("{line}");
    }
    Ok(())
}

/// One part's `carried.txt`: what it takes from the part before it.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The part directory that carries, e.g. `part4-protected-rs`.
    pub part: String,
    /// The part it carries from: the previous part by number.
    pub source: String,
    /// `(line, path)` for each entry; a path ending in `/` is a directory.
    pub entries: Vec<(usize, String)>,
}

/// The manifests of every part that has one, in part order.
pub fn manifests(layout: &Layout) -> Result<Vec<Manifest>> {
    let mut parts: Vec<(u32, String)> = layout
        .members
        .iter()
        .filter_map(|member| workspace::part_number(member).map(|n| (n, member.clone())))
        .collect();
    parts.sort();
    let mut manifests = Vec::new();
    for pair in parts.windows(2) {
        let [(_, source), (_, part)] = pair else {
            continue;
        };
        let path = layout.root.join(part).join(MANIFEST);
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let entries = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
            .map(|(line, path)| (line, path.to_owned()))
            .collect();
        manifests.push(Manifest {
            part: part.clone(),
            source: source.clone(),
            entries,
        });
    }
    Ok(manifests)
}

/// (i) Every carried file exists in both parts and matches its source.
pub fn check_carried(layout: &Layout) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for manifest in manifests(layout)? {
        let number = workspace::part_number(&manifest.source).unwrap_or_default();
        let fix = format!(
            "run `cargo xtask carry {number}`, or change it in {} first",
            manifest.source
        );
        for (line, entry) in &manifest.entries {
            let mut problem = |message: String| {
                problems.push(Problem {
                    file: format!("{}/{MANIFEST}", manifest.part),
                    line: *line,
                    message,
                });
            };
            let source_dir = layout.root.join(&manifest.source);
            let target_dir = layout.root.join(&manifest.part);
            let sources = files_of(&source_dir, entry)?;
            if sources.is_empty() {
                problem(format!("`{entry}` is not in {}", manifest.source));
                continue;
            }
            let targets = files_of(&target_dir, entry)?;
            for file in sources.union(&targets) {
                let (from, to) = (source_dir.join(file), target_dir.join(file));
                match (sources.contains(file), targets.contains(file)) {
                    (true, false) => problem(format!("{file} is missing here; {fix}")),
                    (false, _) => problem(format!(
                        "{file} is here but not in {}: a carried directory is a copy; {fix}",
                        manifest.source
                    )),
                    (true, true) => {
                        let expected = carried_text(&from, &manifest.source, &manifest.part)?;
                        if fs::read(&to)? != expected {
                            problem(format!(
                                "{file} differs from {}/{file}; {fix}",
                                manifest.source
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(problems)
}

/// Carries part `from` forward through every later part with a manifest;
/// returns one line per file written or removed.
pub fn carry_from(layout: &Layout, from: u32) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for manifest in manifests(layout)? {
        let source_number = workspace::part_number(&manifest.source).unwrap_or_default();
        if source_number < from {
            continue;
        }
        let source_dir = layout.root.join(&manifest.source);
        let target_dir = layout.root.join(&manifest.part);
        for (line, entry) in &manifest.entries {
            let sources = files_of(&source_dir, entry)?;
            if sources.is_empty() {
                bail!(
                    "{}/{MANIFEST}:{line}: `{entry}` is not in {}",
                    manifest.part,
                    manifest.source
                );
            }
            for stale in files_of(&target_dir, entry)?.difference(&sources) {
                fs::remove_file(target_dir.join(stale))?;
                written.push(format!("removed {}/{stale}", manifest.part));
            }
            for file in &sources {
                let text = carried_text(&source_dir.join(file), &manifest.source, &manifest.part)?;
                let to = target_dir.join(file);
                if fs::read(&to).ok().as_deref() == Some(text.as_slice()) {
                    continue;
                }
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(&to, &text).with_context(|| format!("cannot write {}", to.display()))?;
                written.push(format!("wrote   {}/{file}", manifest.part));
            }
        }
    }
    Ok(written)
}

/// The files an entry names, relative to `part_dir`: the one file, or every
/// file under a directory entry (none when the path does not exist).
fn files_of(part_dir: &Path, entry: &str) -> Result<BTreeSet<String>> {
    let path = part_dir.join(entry);
    if let Some(dir) = entry.strip_suffix('/') {
        if !path.is_dir() {
            return Ok(BTreeSet::new());
        }
        return Ok(workspace::walk(&path)?
            .into_iter()
            .map(|file| format!("{dir}/{}", slashed(&file)))
            .collect());
    }
    Ok(if path.is_file() {
        BTreeSet::from([entry.to_owned()])
    } else {
        BTreeSet::new()
    })
}

fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The bytes `from` has once carried from part `source` into part `target`:
/// the same, but for an insta snapshot's `source:` header line.
fn carried_text(from: &Path, source: &str, target: &str) -> Result<Vec<u8>> {
    let bytes = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    if from.extension().is_none_or(|ext| ext != "snap") {
        return Ok(bytes);
    }
    let Ok(text) = String::from_utf8(bytes.clone()) else {
        return Ok(bytes);
    };
    let old = format!("source: {source}/");
    let new = format!("source: {target}/");
    let mut in_header = false;
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            in_header = index == 0;
        }
        match line.strip_prefix(&old) {
            Some(rest) if in_header => {
                out.push_str(&new);
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{self, WriteFiles as _};
    use tempfile::TempDir;

    fn fixture() -> TempDir {
        workspace::fixture(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"part1-a\", \"part2-b\", \"part3-c\"]\n",
            ),
            ("part1-a/Cargo.toml", "[package]\nname = \"part1-a\"\n"),
            ("part2-b/Cargo.toml", "[package]\nname = \"part2-b\"\n"),
            ("part3-c/Cargo.toml", "[package]\nname = \"part3-c\"\n"),
            ("part1-a/src/lib.rs", "pub mod shared;\n"),
            ("part1-a/src/shared/mod.rs", "pub fn one() {}\n"),
            ("part1-a/src/shared/deep/two.rs", "pub fn two() {}\n"),
            (
                "part1-a/tests/it/snapshots/it__x.snap",
                "---\nsource: part1-a/tests/it/x.rs\nexpression: x\n---\nsource: part1-a/body\n",
            ),
            (
                "part2-b/carried.txt",
                "# from part 1\nsrc/shared/\n\ntests/it/snapshots/it__x.snap\n",
            ),
            ("part2-b/src/lib.rs", "pub mod shared;\npub mod more;\n"),
            ("part3-c/carried.txt", "src/shared/\n"),
            ("part3-c/src/lib.rs", "pub mod shared;\n"),
        ])
    }

    fn problems(dir: &TempDir) -> Vec<String> {
        let layout = Layout::at(dir.path()).expect("layout");
        check_carried(&layout)
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn carry_copies_forward_through_every_later_part() {
        let dir = fixture();
        let layout = Layout::at(dir.path()).expect("layout");
        assert!(!problems(&dir).is_empty(), "nothing is carried yet");
        carry_from(&layout, 1).expect("carry");
        assert_eq!(problems(&dir), Vec::<String>::new());
        let read = |path: &str| fs::read_to_string(dir.path().join(path)).expect("read");
        assert_eq!(read("part3-c/src/shared/deep/two.rs"), "pub fn two() {}\n");
        assert_eq!(
            read("part2-b/tests/it/snapshots/it__x.snap"),
            "---\nsource: part2-b/tests/it/x.rs\nexpression: x\n---\nsource: part1-a/body\n",
            "only the header's source line names the part"
        );
        assert_eq!(
            read("part2-b/src/lib.rs"),
            "pub mod shared;\npub mod more;\n"
        );
        assert!(carry_from(&layout, 1).expect("again").is_empty());
    }

    #[test]
    fn i_a_drifted_carried_file_fails() {
        let dir = fixture();
        let layout = Layout::at(dir.path()).expect("layout");
        carry_from(&layout, 1).expect("carry");
        dir.write(&[("part3-c/src/shared/mod.rs", "pub fn one() { changed() }\n")]);
        assert_eq!(
            problems(&dir),
            [
                "part3-c/carried.txt:1: src/shared/mod.rs differs from part2-b/src/shared/mod.rs; run `cargo xtask carry 2`, or change it in part2-b first"
            ]
        );
    }

    #[test]
    fn i_extra_missing_and_unknown_files_fail() {
        let dir = fixture();
        let layout = Layout::at(dir.path()).expect("layout");
        carry_from(&layout, 1).expect("carry");
        dir.write(&[
            ("part2-b/src/shared/extra.rs", "\n"),
            ("part3-c/carried.txt", "src/shared/\nsrc/nowhere.rs\n"),
        ]);
        fs::remove_file(dir.path().join("part3-c/src/shared/mod.rs")).expect("remove");
        let found = problems(&dir);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("src/shared/extra.rs is here but not in part1-a"));
        assert!(found[1].contains("part3-c/carried.txt:1: src/shared/extra.rs is missing here"));
        assert!(found[2].contains("src/shared/mod.rs is missing here"));
        assert!(found[3].contains("`src/nowhere.rs` is not in part2-b"));
        carry_from(&layout, 2).expect_err("an entry the source lacks stops the carry");
    }

    #[test]
    fn carry_removes_what_the_source_dropped() {
        let dir = fixture();
        let layout = Layout::at(dir.path()).expect("layout");
        carry_from(&layout, 1).expect("carry");
        fs::remove_file(dir.path().join("part1-a/src/shared/deep/two.rs")).expect("remove");
        let written = carry_from(&layout, 1).expect("carry");
        assert!(written.contains(&"removed part2-b/src/shared/deep/two.rs".to_owned()));
        assert!(written.contains(&"removed part3-c/src/shared/deep/two.rs".to_owned()));
        assert_eq!(problems(&dir), Vec::<String>::new());
    }

    /// The real repository: every carried file matches its source.
    #[test]
    fn carried_files_match_their_source() {
        let layout = Layout::real().expect("layout");
        let found: Vec<String> = check_carried(&layout)
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, Vec::<String>::new());
    }
}
