//! What changes from one run to the next, replaced by what the reader of
//! the book should see: the documented ports instead of the free ones the
//! run used, and a `<placeholder>` for every id, secret, date and time.
//!
//! Each rule is a plain text scan (xtask has no regex dependency) and is
//! keyed on the surrounding syntax (a header name, a JSON key, a query
//! parameter), so it cannot rewrite something it was not meant to.

/// The rules of one session: the generic ones plus the ports it ran on
/// and the values it learned along the way (a session id, a client id).
#[derive(Debug, Default)]
pub struct Normalizer {
    /// `(port the run used, port the book shows)`.
    pub ports: Vec<(u16, u16)>,
    /// Exact strings, longest first when applied.
    pub replacements: Vec<(String, String)>,
    /// The client's loopback redirect listener takes a random port that no
    /// flag fixes; shown as `<port>`.
    pub callback_port_varies: bool,
    /// Drop timestamped `tracing` lines (`2026-…Z ERROR rmcp::…`): the
    /// client's logs race with its exit (rmcp sometimes logs a cancelled
    /// task while shutting down), so a run may or may not print them.
    pub drop_log_lines: bool,
}

/// JSON members whose values change per run, and what replaces them.
const JSON_VALUES: &[(&str, &str)] = &[
    ("client_id", "<client-id>"),
    ("client_id_issued_at", "<timestamp>"),
    ("access_token", "<access-token>"),
    ("refresh_token", "<refresh-token>"),
    ("exp", "<timestamp>"),
    ("iat", "<timestamp>"),
    ("current_time", "<current-time>"),
    ("formatted", "<formatted-time>"),
    ("timestamp", "<timestamp>"),
];

impl Normalizer {
    /// The output as the book shows it.
    pub fn apply(&self, raw: &str) -> String {
        let mut text = crate::process::strip_ansi(raw).replace("\r\n", "\n");
        if self.drop_log_lines {
            text = text
                .split_inclusive('\n')
                .filter(|line| !is_log_line(line))
                .collect();
        }
        let mut replacements: Vec<&(String, String)> = self.replacements.iter().collect();
        replacements.sort_by_key(|(actual, _)| std::cmp::Reverse(actual.len()));
        for (actual, shown) in replacements {
            if !actual.is_empty() {
                text = text.replace(actual.as_str(), shown);
            }
        }
        for &(actual, shown) in &self.ports {
            text = replace_port(&text, actual, &shown.to_string());
        }
        if self.callback_port_varies {
            text = replace_callback_port(&text);
        }
        text = header_values(&text, "date", "<date>");
        text = header_values(&text, "mcp-session-id", "<session-id>");
        text = value_after(&text, "as_session=", "<cookie>", |ch| ch != ';');
        text = value_after(&text, "?code=", "<code>", |ch| ch != '&');
        text = value_after(&text, "&code=", "<code>", |ch| ch != '&');
        text = value_after(&text, "• client id ", "<client-id>", |ch| ch != ' ');
        for (key, placeholder) in JSON_VALUES {
            text = json_values(&text, key, placeholder);
        }
        text
    }
}

/// `2026-11-27T04:37:46.885369Z ERROR target: …`, as `tracing` prints.
fn is_log_line(line: &str) -> bool {
    let Some((time, rest)) = line.split_once(' ') else {
        return false;
    };
    let looks_like_time = time.len() > 20
        && time.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && time.as_bytes()[10] == b'T'
        && time.ends_with('Z');
    let level = rest.trim_start();
    looks_like_time
        && ["ERROR ", "WARN ", "INFO ", "DEBUG ", "TRACE "]
            .iter()
            .any(|tag| level.starts_with(tag))
}

/// `:PORT` and `%3APORT` (URL-encoded), not followed by another digit.
pub fn replace_port(text: &str, actual: u16, shown: &str) -> String {
    let mut out = text.to_owned();
    for prefix in [":", "%3A"] {
        let needle = format!("{prefix}{actual}");
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&needle) {
            let after = &rest[at + needle.len()..];
            result.push_str(&rest[..at]);
            if after.starts_with(|ch: char| ch.is_ascii_digit()) {
                result.push_str(&needle);
            } else {
                result.push_str(prefix);
                result.push_str(shown);
            }
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// `127.0.0.1:40987/callback` ⇒ `127.0.0.1:<port>/callback`.
fn replace_callback_port(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let start = at + "127.0.0.1:".len();
        result.push_str(&rest[..start]);
        let after = &rest[start..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with("/callback") {
            result.push_str("<port>");
            rest = &after[digits..];
        } else {
            rest = after;
        }
    }
    result.push_str(rest);
    result
}

/// Every `name: value` header line (any case) gets `placeholder` as value.
fn header_values(text: &str, name: &str, placeholder: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let is_header = line
            .split_once(':')
            .is_some_and(|(key, _)| key.eq_ignore_ascii_case(name));
        if is_header {
            let end = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("{name}: {placeholder}{end}"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The characters after each `marker` while `keep` holds (and up to a
/// blank or a quote) become `placeholder`.
fn value_after(text: &str, marker: &str, placeholder: &str, keep: fn(char) -> bool) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        result.push_str(&rest[..start]);
        let after = &rest[start..];
        let len = after
            .find(|ch: char| !keep(ch) || ch.is_whitespace() || ch == '"')
            .unwrap_or(after.len());
        if len > 0 {
            result.push_str(placeholder);
        }
        rest = &after[len..];
    }
    result.push_str(rest);
    result
}

/// The value of each JSON member `key`, in plain (`"key": "v"`) or
/// escaped (`\"key\":\"v\"`, JSON inside a JSON string) form. A string
/// keeps its quotes; a number becomes the bare placeholder.
fn json_values(text: &str, key: &str, placeholder: &str) -> String {
    let mut out = text.to_owned();
    for quote in ["\"", "\\\""] {
        let needle = format!("{quote}{key}{quote}");
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&needle) {
            let start = at + needle.len();
            result.push_str(&rest[..start]);
            rest = &rest[start..];
            let gap = rest.len() - rest.trim_start_matches([' ', ':']).len();
            if !rest[..gap].contains(':') {
                continue;
            }
            result.push_str(&rest[..gap]);
            rest = &rest[gap..];
            if let Some(string) = rest.strip_prefix(quote) {
                let Some(end) = string.find(quote) else {
                    continue;
                };
                result.push_str(quote);
                result.push_str(placeholder);
                result.push_str(quote);
                rest = &string[end + quote.len()..];
            } else {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 {
                    result.push_str(placeholder);
                    rest = &rest[digits..];
                }
            }
        }
        result.push_str(rest);
        out = result;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer {
            ports: vec![(4321, 8000), (5432, 9000)],
            replacements: vec![(
                "/tmp/run/7/tokens.json".into(),
                "/tmp/p5demo/tokens.json".into(),
            )],
            callback_port_varies: true,
            drop_log_lines: true,
        }
    }

    #[test]
    fn ports_follow_a_colon_and_end_before_a_digit() {
        let text = "http://localhost:4321/mcp iss=http%3A%2F%2Flocalhost%3A5432 :43210 4321";
        assert_eq!(
            normalizer().apply(text),
            "http://localhost:8000/mcp iss=http%3A%2F%2Flocalhost%3A9000 :43210 4321"
        );
    }

    #[test]
    fn headers_cookies_and_codes() {
        let text = "HTTP/1.1 303 See Other\r\nMcp-Session-Id: 10ee0645-29be\r\nlocation: http://127.0.0.1:3000/callback?code=PS9g-V2_l&state=a\r\nset-cookie: as_session=5Y3K_A-m; Path=/\r\ndate: Fri, 27 Nov 2026 03:42:35 GMT\r\n\r\n";
        let part3 = Normalizer {
            callback_port_varies: false,
            ..normalizer()
        };
        assert_eq!(
            part3.apply(text),
            "HTTP/1.1 303 See Other\nmcp-session-id: <session-id>\nlocation: http://127.0.0.1:3000/callback?code=<code>&state=a\nset-cookie: as_session=<cookie>; Path=/\ndate: <date>\n\n"
        );
    }

    #[test]
    fn json_members_plain_escaped_and_pretty() {
        let text = r#"{"client_id":"0cbb-ec8d","client_id_issued_at":1795752142,"text":"{\"current_time\":\"2026-11-27T03:42:47Z\",\"timestamp\":1795750967}"}
  "formatted": "Friday, 27 November 2026 04:20:34 UTC",
  "exp": 1795755743,"#;
        assert_eq!(
            normalizer().apply(text),
            r#"{"client_id":"<client-id>","client_id_issued_at":<timestamp>,"text":"{\"current_time\":\"<current-time>\",\"timestamp\":<timestamp>}"}
  "formatted": "<formatted-time>",
  "exp": <timestamp>,"#
        );
    }

    #[test]
    fn client_transcript() {
        let text = "2026-11-27T04:37:46.885369Z ERROR rmcp::service: fail to close sink\n\u{1b}[1m•\u{1b}[0m listening for the redirect on http://127.0.0.1:40987/callback\n• client id 09daa004-28c0 (registered)\nsaved /tmp/run/7/tokens.json\n";
        assert_eq!(
            normalizer().apply(text),
            "• listening for the redirect on http://127.0.0.1:<port>/callback\n• client id <client-id> (registered)\nsaved /tmp/p5demo/tokens.json\n"
        );
    }
}
