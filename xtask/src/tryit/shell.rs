//! The commands a chapter shows, read the way a POSIX shell reads them, so
//! that what `tryit` runs is exactly what the reader pastes.
//!
//! Only what the chapters use: words split on blanks, `\` + newline as a
//! continuation, `'single'` and `"double"` quotes, and `$NAME` expanded
//! from the session's variables (outside single quotes). No pipes, no
//! redirections, no globbing: a step is one program with its arguments.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// Splits `command` into words, expanding `$NAME` from `vars`.
pub fn words(command: &str, vars: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                words.extend(word.take());
            }
            '\\' => match chars.next() {
                Some(escaped) => word.get_or_insert_default().push(escaped),
                None => bail!("`{command}` ends with a lone backslash"),
            },
            ch if ch.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let text = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => text.push(ch),
                        None => bail!("unclosed ' in `{command}`"),
                    }
                }
            }
            '"' => {
                let text = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') if matches!(chars.peek(), Some('"' | '\\' | '$')) => {
                            text.extend(chars.next());
                        }
                        Some('$') => text.push_str(&variable(&mut chars, vars, command)?),
                        Some(ch) => text.push(ch),
                        None => bail!("unclosed \" in `{command}`"),
                    }
                }
            }
            '$' => {
                let value = variable(&mut chars, vars, command)?;
                word.get_or_insert_default().push_str(&value);
            }
            ch => word.get_or_insert_default().push(ch),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The value of the `$NAME` whose name starts at `chars`.
fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    vars: &BTreeMap<String, String>,
    command: &str,
) -> Result<String> {
    let mut name = String::new();
    while let Some(&ch) = chars.peek() {
        if !(ch.is_ascii_alphanumeric() || ch == '_') {
            break;
        }
        name.push(ch);
        chars.next();
    }
    match vars.get(&name) {
        Some(value) => Ok(value.clone()),
        None if name == "?" || name.is_empty() => bail!("a lone `$` in `{command}`"),
        None => bail!("`${name}` is not set before `{command}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(command: &str) -> Vec<String> {
        let vars = BTreeMap::from([
            ("MCP".to_owned(), "http://127.0.0.1:1234/mcp".to_owned()),
            ("SESSION".to_owned(), "s 1".to_owned()),
        ]);
        words(command, &vars).expect("words")
    }

    #[test]
    fn quotes_continuations_and_variables() {
        assert_eq!(
            split(
                "curl -si \"$MCP\" \\\n    -H 'Accept: a, b' -H \"Mcp-Session-Id: $SESSION\" \\\n    -d '{\"x\":\"$MCP\"}' $MCP/x"
            ),
            [
                "curl",
                "-si",
                "http://127.0.0.1:1234/mcp",
                "-H",
                "Accept: a, b",
                "-H",
                "Mcp-Session-Id: s 1",
                "-d",
                "{\"x\":\"$MCP\"}",
                "http://127.0.0.1:1234/mcp/x",
            ]
        );
    }

    #[test]
    fn an_unset_variable_or_open_quote_fails() {
        let vars = BTreeMap::new();
        assert!(words("curl $AS", &vars).is_err());
        assert!(words("curl 'open", &vars).is_err());
        assert!(words("curl \"open", &vars).is_err());
    }
}
