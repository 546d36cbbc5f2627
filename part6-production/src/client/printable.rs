//! Text from the network, made safe to print on a terminal (rule CL-07).
//!
//! Server names, tool names and results, scopes, `error_description`s and
//! the like come from servers the client does not control. Printed as they
//! are, an ESC can start an ANSI sequence that recolours, moves the cursor,
//! rewrites the window title or hides the lines before it; a CR or a
//! newline can overwrite or forge a line of the transcript. So every control
//! character (C0, DEL and C1, `char::is_control`) is shown as U+FFFD, the
//! replacement character, and nothing else is touched. Line breaks are no
//! exception: each printed line says what the client saw on one line.

use std::{borrow::Cow, fmt};

/// What a control character is shown as.
pub const REPLACEMENT: char = '\u{FFFD}';

// ANCHOR: printable
/// `text` with every control character replaced by U+FFFD; borrowed when
/// there was none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { REPLACEMENT } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Displays a string through [`printable`], for `format!` arguments.
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(self.0))
    }
}

/// `value` as pretty JSON that is safe on a terminal and still the same
/// JSON: serde_json escapes C0 inside strings but writes DEL and C1 as they
/// are, so those become `\uXXXX` escapes. Its line breaks are its own
/// formatting (a line break inside a string is always written `\n`).
pub fn printable_json(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let pretty = serde_json::to_string_pretty(value)?;
    let mut out = String::with_capacity(pretty.len());
    for c in pretty.chars() {
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}
// ANCHOR_END: printable

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl07_control_characters_become_replacement_characters() {
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}[0m"),
            "\u{FFFD}[31mred\u{FFFD}[0m"
        );
        // C0 (BEL, BS, CR, LF, TAB), DEL, and C1 (CSI U+009B, OSC U+009D).
        assert_eq!(
            printable("a\u{7}\u{8}\r\n\tb\u{7f}\u{9b}\u{9d}c"),
            "a\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}\u{FFFD}\u{FFFD}c"
        );
        assert!(matches!(printable("Hello, wörld ✓"), Cow::Borrowed(_)));
        assert_eq!(Printable("x\u{1b}y").to_string(), "x\u{FFFD}y");
    }

    #[test]
    fn cl07_json_output_escapes_del_and_c1_and_stays_the_same_json() {
        let value = serde_json::json!({ "text": "a\u{1b}[2Jb\u{9b}31m\u{7f}\nc" });
        let json = printable_json(&value).expect("serializes");
        assert!(!json.chars().any(|c| c.is_control() && c != '\n'), "{json}");
        assert!(
            json.contains("\\u009b") && json.contains("\\u007f"),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(back, value);
    }
}
