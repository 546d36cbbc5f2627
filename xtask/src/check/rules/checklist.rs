//! Reads the rule list out of the security checklist's Markdown.
//!
//! A rule is a heading that is nothing but its id (`### AS-03`), then its
//! text as a `>` quote, then bullets until the next heading:
//!
//! ```text
//! - **Enforced by** (in `part5-client/`): `src/a.rs`: `item`, `Type::item`; `src/b.rs`: `other`.
//! - **Proved by** (in `part5-client/`): `tests/it/c.rs`: `as03_one`, `as03_two`.
//! ```
//!
//! or, for a rule nobody has written yet, `- **Not yet enforced**: why`.
//! Every path is relative to the part the bullet names, and each `;` starts
//! the next file.

use super::rule_ids;

/// One `### ID` entry of the checklist.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The id, as `AS-03`.
    pub id: String,
    /// The heading's 1-based line.
    pub line: usize,
    /// Whether a non-empty `>` quote gives the rule's text.
    pub has_text: bool,
    /// The **Enforced by** bullets.
    pub enforced_by: Vec<Bullet>,
    /// The **Proved by** bullets.
    pub proved_by: Vec<Bullet>,
    /// The line of a **Not yet enforced** bullet, if there is one.
    pub not_yet_enforced: Option<usize>,
}

/// An **Enforced by** or **Proved by** bullet: a part and files in it.
#[derive(Debug, Clone)]
pub struct Bullet {
    /// 1-based line.
    pub line: usize,
    /// The part directory from `(in `part5-client/`)`, without the slash;
    /// `None` when the bullet does not say.
    pub part: Option<String>,
    /// Each file with the items (code) or test names that follow it.
    pub files: Vec<(String, Vec<String>)>,
}

const ENFORCED: &str = "- **Enforced by**";
const PROVED: &str = "- **Proved by**";
const NOT_YET: &str = "- **Not yet enforced**";

/// Every rule the checklist defines, in order.
pub fn parse(text: &str) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut current: Option<Rule> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            rules.extend(current.take());
            let title = trimmed.trim_start_matches('#').trim();
            if trimmed.starts_with("### ") && rule_ids(title) == [title] {
                current = Some(Rule {
                    id: title.to_owned(),
                    line: number,
                    has_text: false,
                    enforced_by: Vec::new(),
                    proved_by: Vec::new(),
                    not_yet_enforced: None,
                });
            }
            continue;
        }
        let Some(rule) = current.as_mut() else {
            continue;
        };
        if let Some(quote) = trimmed.strip_prefix('>') {
            rule.has_text |= !quote.trim().is_empty();
        } else if let Some(rest) = trimmed.strip_prefix(ENFORCED) {
            rule.enforced_by.push(bullet(number, rest));
        } else if let Some(rest) = trimmed.strip_prefix(PROVED) {
            rule.proved_by.push(bullet(number, rest));
        } else if trimmed.starts_with(NOT_YET) {
            rule.not_yet_enforced = Some(number);
        }
    }
    rules.extend(current);
    rules
}

/// What follows `**Enforced by**` or `**Proved by**` on a bullet's line.
fn bullet(line: usize, rest: &str) -> Bullet {
    let rest = rest.trim_start();
    let (part, list) = match rest
        .strip_prefix("(in `")
        .and_then(|after| after.split_once("`)"))
    {
        Some((part, list)) => (Some(part.trim_end_matches('/').to_owned()), list),
        None => (None, rest),
    };
    let list = list.trim_start().strip_prefix(':').unwrap_or(list);
    let files = list
        .split(';')
        .filter_map(|group| {
            let mut spans = code_spans(group).into_iter();
            let path = spans.next()?;
            Some((path, spans.collect()))
        })
        .collect();
    Bullet { line, part, files }
}

/// The text of each `` `code` `` span, in order.
fn code_spans(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_bullets_and_files() {
        let text = "# Checklist\n\n### TR-01\n\n> Validate `Origin`.\n\n\
            - **Enforced by** (in `part1-a/`): `src/lib.rs`: `guard`, `Guard::new` (the check); `src/main.rs` (binds).\n\
            - **Proved by** (in `part1-a/`): `tests/it/t.rs`: `tr01_a`, `tr01_b`.\n\n\
            ### TR-02\n\n>\n- **Not yet enforced**: next part.\n\n## Notes\n- **Proved by**: ignored, no rule.\n";
        let rules = parse(text);
        assert_eq!(rules.len(), 2);
        let first = &rules[0];
        assert_eq!(
            (first.id.as_str(), first.line, first.has_text),
            ("TR-01", 3, true)
        );
        assert_eq!(first.enforced_by[0].part.as_deref(), Some("part1-a"));
        assert_eq!(
            first.enforced_by[0].files,
            [
                (
                    "src/lib.rs".to_owned(),
                    vec!["guard".to_owned(), "Guard::new".to_owned()]
                ),
                ("src/main.rs".to_owned(), vec![]),
            ]
        );
        assert_eq!(
            first.proved_by[0].files,
            [(
                "tests/it/t.rs".to_owned(),
                vec!["tr01_a".to_owned(), "tr01_b".to_owned()]
            )]
        );
        let second = &rules[1];
        assert_eq!((second.id.as_str(), second.has_text), ("TR-02", false));
        assert_eq!(second.not_yet_enforced, Some(13));
        assert!(second.proved_by.is_empty());
    }

    #[test]
    fn a_bullet_without_a_part_says_so() {
        let rules = parse("### RS-01\n> text\n- **Proved by**: `tests/it/a.rs`: `rs01_x`.\n");
        assert_eq!(rules[0].proved_by[0].part, None);
        assert_eq!(rules[0].proved_by[0].files[0].1, ["rs01_x"]);
    }
}
