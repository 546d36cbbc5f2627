//! (g) Internal links: every relative link in the book's Markdown points at
//! a file that exists under `book/src`, and every `#fragment` at a heading
//! (or an `id="…"`) of the page it names.
//!
//! mdBook renders a broken relative link as a link to nothing and says
//! nothing; the reader finds out by clicking. Links inside code (fenced
//! blocks, inline spans) are text, not links, and are skipped. Heading ids
//! follow mdBook's rule (`normalize_id`): lowercase, letters, digits, `_`
//! and `-` kept, whitespace turned into `-`, anything else dropped, and a
//! repeated id gets `-1`, `-2`, … in order.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use super::{Layout, Problem, normalize};
use crate::workspace;

/// Checks every link of every `*.md` under the book's `src/`.
pub fn check_links(layout: &Layout) -> Result<Vec<Problem>> {
    let mut pages = BTreeMap::new();
    for relative in workspace::walk(&layout.book_src)? {
        // SUMMARY.md's links are chapters, which check (c) reports.
        if relative.extension().is_some_and(|ext| ext == "md")
            && relative != Path::new("SUMMARY.md")
        {
            let path = layout.book_src.join(&relative);
            let text = fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            pages.insert(normalize(&path), text);
        }
    }
    let ids: BTreeMap<&PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|(path, text)| (path, heading_ids(text)))
        .collect();
    let book_src = normalize(&layout.book_src);

    let mut problems = Vec::new();
    for (page, text) in &pages {
        let dir = page.parent().unwrap_or(&book_src);
        for (line, target) in link_targets(text) {
            if is_external(&target) {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target.as_str(), None),
            };
            let mut problem = |message: String| {
                problems.push(Problem {
                    file: layout.relative(page),
                    line,
                    message,
                });
            };
            let resolved = if path.is_empty() {
                page.clone()
            } else {
                let resolved = normalize(&dir.join(path));
                // mdBook turns `x.md` into `x.html`; a link written with
                // `.html` names the same chapter.
                let as_md = resolved.with_extension("md");
                if resolved.extension().is_some_and(|ext| ext == "html") && as_md.is_file() {
                    as_md
                } else {
                    resolved
                }
            };
            if !resolved.starts_with(&book_src) {
                problem(format!(
                    "link `{target}` leaves book/src: the rendered book has no such file"
                ));
                continue;
            }
            if !resolved.is_file() {
                problem(format!(
                    "link `{target}`: {} does not exist",
                    layout.relative(&resolved)
                ));
                continue;
            }
            let Some(fragment) = fragment.filter(|fragment| !fragment.is_empty()) else {
                continue;
            };
            if let Some(known) = ids.get(&resolved)
                && !known.contains(fragment)
            {
                problem(format!(
                    "link `{target}`: {} has no heading with id `{fragment}`",
                    layout.relative(&resolved)
                ));
            }
        }
    }
    Ok(problems)
}

fn is_external(target: &str) -> bool {
    target.is_empty()
        || target.contains("://")
        || target.starts_with("mailto:")
        || target.starts_with('/')
}

/// The ids mdBook gives the headings of a page, plus any `id="…"` written
/// in its HTML.
pub fn heading_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, raw, prose) in prose_lines(text) {
        ids.extend(html_attributes(&prose, "id"));
        let trimmed = raw.trim_start();
        let level = trimmed.bytes().take_while(|&b| b == b'#').count();
        if !(1..=6).contains(&level) {
            continue;
        }
        let rest = &trimmed[level..];
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        let mut title = rest.trim().trim_end_matches('#').trim_end().to_owned();
        // `## Title {#custom-id}` sets the id explicitly.
        if let Some(start) = title.rfind("{#")
            && title.ends_with('}')
        {
            ids.insert(title[start + 2..title.len() - 1].trim().to_owned());
            continue;
        }
        title = link_texts(&title).replace(['*', '`'], "");
        let base = normalize_id(&title);
        let count = counts.entry(base.clone()).or_insert(0);
        let id = if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        };
        *count += 1;
        ids.insert(id);
    }
    ids
}

/// mdBook's `normalize_id`.
pub fn normalize_id(content: &str) -> String {
    content
        .chars()
        .filter_map(|ch| {
            if ch.is_alphanumeric() || ch == '_' || ch == '-' {
                Some(ch.to_ascii_lowercase())
            } else if ch.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// `[text](url)` ⇒ `text`, for heading titles.
fn link_texts(title: &str) -> String {
    let mut out = String::new();
    let mut rest = title;
    while let Some(start) = rest.find("](") {
        let Some(end) = rest[start..].find(')') else {
            break;
        };
        let before = &rest[..start];
        out.push_str(&before.replacen('[', "", 1));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every link target with its 1-based line: inline links `[t](target)`,
/// reference definitions `[r]: target` and HTML `href="target"`, outside
/// code.
pub fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    for (line, _, prose) in prose_lines(text) {
        let trimmed = prose.trim_start();
        if trimmed.starts_with('[')
            && let Some(end) = trimmed.find("]:")
            && !trimmed[..end].contains("](")
        {
            if let Some(target) = trimmed[end + 2..].split_whitespace().next() {
                targets.push((line, unbracket(target)));
            }
            continue;
        }
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = closing_paren(after) else {
                break;
            };
            let inner = after[..end].trim();
            // `[t](<a b.md>)` may hold spaces; `[t](a.md "title")` ends at one.
            let target = match inner.strip_prefix('<').and_then(|i| i.split_once('>')) {
                Some((bracketed, _)) => bracketed,
                None => inner.split_whitespace().next().unwrap_or_default(),
            };
            targets.push((line, target.to_owned()));
            rest = &after[end..];
        }
        targets.extend(
            html_attributes(&prose, "href")
                .into_iter()
                .map(|target| (line, target)),
        );
    }
    targets
}

/// The end of a link destination: the `)` that closes it, allowing
/// balanced parentheses inside.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(index),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn unbracket(target: &str) -> String {
    target
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(target)
        .to_owned()
}

/// The values of `name="…"` (or `'…'`) attributes on a line.
fn html_attributes(line: &str, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    let pattern = format!("{name}=");
    let mut rest = line;
    while let Some(start) = rest.find(&pattern) {
        let preceded_ok = rest[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let after = &rest[start + pattern.len()..];
        rest = after;
        let Some(quote) = after.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            continue;
        };
        let Some(end) = after[1..].find(quote) else {
            break;
        };
        if preceded_ok {
            values.push(after[1..=end].to_owned());
        }
        rest = &after[end + 1..];
    }
    values
}

/// The lines of a page that are prose, fenced code blocks left out: each
/// with its 1-based number, as written, and with inline code spans blanked.
fn prose_lines(text: &str) -> Vec<(usize, &str, String)> {
    let mut lines = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|ch| *ch == '`' || *ch == '~');
        let run = marker.map_or(0, |ch| trimmed.chars().take_while(|c| *c == ch).count());
        match (fence, marker) {
            (None, Some(ch)) if run >= 3 && indent <= 3 => fence = Some((ch, run)),
            (None, _) => lines.push((index + 1, line, strip_code_spans(line))),
            (Some((open, length)), Some(ch))
                if ch == open && run >= length && trimmed[run..].trim().is_empty() =>
            {
                fence = None;
            }
            (Some(_), _) => {}
        }
    }
    lines
}

/// Blanks `` `code` `` spans (any backtick run, closed by a run of the
/// same length), so a link written in code is not taken for one.
fn strip_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let run = rest[start..].bytes().take_while(|&b| b == b'`').count();
        let after = &rest[start + run..];
        let closing = "`".repeat(run);
        match find_run(after, &closing) {
            Some(end) => rest = &after[end + run..],
            None => {
                out.push_str(&rest[start..start + run]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The start of a backtick run of exactly `run.len()` in `text`.
fn find_run(text: &str, run: &str) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = text[offset..].find(run) {
        let at = offset + found;
        let length = text[at..].bytes().take_while(|&b| b == b'`').count();
        if length == run.len() {
            return Some(at);
        }
        offset = at + length;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_ids_follow_mdbook() {
        let page = "# Part 4: protecting the MCP server\n\
                    ## Protected Resource Metadata (RS-01 … RS-03)\n\
                    ## Turning it off: `RS_AUTH_ENABLED=false`\n\
                    ## Try it\n## Try it\n\
                    ```md\n## Not a heading\n```\n\
                    ### Custom {#my-id}\n\
                    See [the spec](https://example.com) ##\n\
                    ## A [linked](x.md) *word*\n\
                    <a id=\"raw-anchor\"></a>\n";
        let ids = heading_ids(page);
        let expected = [
            "part-4-protecting-the-mcp-server",
            "protected-resource-metadata-rs-01--rs-03",
            "turning-it-off-rs_auth_enabledfalse",
            "try-it",
            "try-it-1",
            "my-id",
            "a-linked-word",
            "raw-anchor",
        ];
        assert_eq!(
            ids,
            expected
                .iter()
                .map(|id| (*id).to_owned())
                .collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn links_in_code_are_not_links() {
        let page = "[a](a.md) `[b](b.md)` ``x ` [c](c.md) ``\n\
                    ```text\n[d](d.md)\n```\n\
                    [e]: e.md#frag \"title\"\n\
                    <a href=\"f.md\">f</a> [g](<g h.md>) [i](i.md \"t\") [p](p_(1).md)\n";
        let found: Vec<String> = link_targets(page).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            found,
            ["a.md", "e.md#frag", "g h.md", "i.md", "p_(1).md", "f.md"]
        );
    }
}
