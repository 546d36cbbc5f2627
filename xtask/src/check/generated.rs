//! (f) Generated files: every `book/src/generated/diff-A-B.md` is what
//! `cargo xtask diff A B --write` would write now.
//!
//! The parts keep changing after a chapter's diff is generated; a stale
//! diff would show the reader a step that no longer matches the code. The
//! `#[test]` `diff::tests::generated_diffs_are_fresh` also rewrites stale
//! files outside CI; this check only reports them, with the command that
//! fixes each. Other generators write into the same directory (`xtask
//! bench` its chart, say); their files are theirs to check.

use std::fs;

use anyhow::{Context, Result};

use super::{Layout, Problem};
use crate::diff;

/// Regenerates each checked-in diff in memory and compares.
pub fn check_generated(layout: &Layout) -> Result<Vec<Problem>> {
    let dir = layout.book_src.join("generated");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut problems = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let mut problem = |message: String| {
            problems.push(Problem {
                file: layout.relative(&path),
                line: 1,
                message,
            });
        };
        let Some(stem) = name
            .strip_prefix("diff-")
            .and_then(|rest| rest.strip_suffix(".md"))
        else {
            continue;
        };
        let Some((old, new)) = stem.split_once('-') else {
            problem("not named diff-A-B.md, so `cargo xtask diff` did not write it".into());
            continue;
        };
        let parts = diff::resolve_part(&layout.root, old)
            .and_then(|old_dir| Ok((old_dir, diff::resolve_part(&layout.root, new)?)));
        let (old_dir, new_dir) = match parts {
            Ok(parts) => parts,
            Err(error) => {
                problem(format!("names no pair of parts: {error:#}"));
                continue;
            }
        };
        let report = diff::diff_parts(&layout.root, &old_dir, &new_dir)?;
        let (_, fresh) = diff::generated_markdown(&layout.root, &report)?;
        let current =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if current != fresh {
            problem(format!(
                "stale: the parts changed since it was generated; run `cargo xtask diff {old} {new} --write` and commit it"
            ));
        }
    }
    Ok(problems)
}
