//! Reading the `WWW-Authenticate: Bearer …` challenge of a 401 or 403.
//!
//! rmcp has a parser (`WWWAuthenticateParams::parse`), but it finds each
//! parameter by searching the lower-cased header for `scope=`, `error=` and
//! so on, so a `scope=` inside a quoted `resource_metadata` URL is taken for
//! the scope. This is a small parser of the real grammar instead
//! (RFC 9110 §11.6.1 challenges and auth-params, RFC 6750 §3).

// ANCHOR: bearer_challenge
/// The parameters of a Bearer challenge (RFC 6750 §3, RFC 9728 §5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// Where the Protected Resource Metadata is (RFC 9728 §5.1; rule CL-01).
    pub resource_metadata: Option<String>,
    /// The scopes the request needs (RFC 6750 §3; rule CL-05).
    pub scope: Option<String>,
    /// `invalid_token`, `insufficient_scope`, … or none for "no token at all".
    pub error: Option<String>,
    /// A human-readable explanation, if the server gave one.
    pub error_description: Option<String>,
}

impl BearerChallenge {
    /// Finds the Bearer challenge among the `WWW-Authenticate` header values
    /// (a server may send several challenges, in one header or many).
    /// Returns `None` when no value names the Bearer scheme.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        values
            .into_iter()
            .flat_map(parse_challenges)
            .find(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, params)| {
                let get = |name: &str| {
                    params
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                        .map(|(_, value)| value.clone())
                };
                Self {
                    resource_metadata: get("resource_metadata"),
                    scope: get("scope"),
                    error: get("error"),
                    error_description: get("error_description"),
                }
            })
    }

    /// The challenge's scopes, split on spaces (RFC 6749 §3.3).
    pub fn scopes(&self) -> Vec<String> {
        split_scopes(self.scope.as_deref().unwrap_or_default())
    }

    /// True for a 403 that asks for more scopes (RFC 6750 §3.1).
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}
// ANCHOR_END: bearer_challenge

/// Splits a space-separated scope string, dropping empty parts.
pub fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}

/// One challenge: its scheme and its `name=value` parameters.
type Challenge = (String, Vec<(String, String)>);

/// Parses a header value into challenges. Tolerant: whatever does not fit the
/// grammar is skipped rather than guessed at.
fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut challenges: Vec<Challenge> = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return challenges;
        }
        let token_len = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        if token_len == 0 {
            // Not a token (a stray quote, say): skip one character.
            let skip = rest.chars().next().map_or(1, char::len_utf8);
            rest = &rest[skip..];
            continue;
        }
        let token = &rest[..token_len];
        let after = rest[token_len..].trim_start_matches(' ');
        if let Some(value_part) = after.strip_prefix('=') {
            // `name=value`: a parameter of the current challenge.
            let (value, remaining) = parse_value(value_part.trim_start_matches(' '));
            if let Some((_, params)) = challenges.last_mut() {
                params.push((token.to_owned(), value));
            }
            rest = remaining;
        } else {
            // A bare token: the scheme of a new challenge.
            challenges.push((token.to_owned(), Vec::new()));
            rest = after;
        }
    }
}

/// Reads a quoted-string (with `\` escapes) or a token; returns it and the rest.
fn parse_value(input: &str) -> (String, &str) {
    if let Some(quoted) = input.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (value, &quoted[index + 1..]),
                c => value.push(c),
            }
        }
        // Unterminated: take what there is.
        return (value, "");
    }
    let end = input
        .find(|c: char| c == ',' || c.is_ascii_whitespace())
        .unwrap_or(input.len());
    (input[..end].to_owned(), &input[end..])
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> BearerChallenge {
        BearerChallenge::from_headers([value]).unwrap_or_default()
    }

    #[test]
    fn cl01_reads_resource_metadata_and_scope() {
        let challenge = parse(
            r#"Bearer resource_metadata="http://localhost:8000/.well-known/oauth-protected-resource/mcp", scope="mcp:tools""#,
        );
        assert_eq!(
            challenge.resource_metadata.as_deref(),
            Some("http://localhost:8000/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenge.scopes(), ["mcp:tools"]);
        assert_eq!(challenge.error, None);
    }

    #[test]
    fn cl05_reads_insufficient_scope() {
        let challenge = parse(
            r#"Bearer error="insufficient_scope", scope="mcp:tools mcp:admin", resource_metadata="http://x/prm", error_description="needs \"admin\"""#,
        );
        assert!(challenge.is_insufficient_scope());
        assert_eq!(challenge.scopes(), ["mcp:tools", "mcp:admin"]);
        assert_eq!(
            challenge.error_description.as_deref(),
            Some(r#"needs "admin""#)
        );
    }

    #[test]
    fn a_scope_inside_a_quoted_url_is_not_the_scope() {
        // rmcp's substring search would read `evil"` as the scope here.
        let challenge =
            parse(r#"Bearer resource_metadata="http://x/prm?scope=evil", scope="mcp:tools""#);
        assert_eq!(challenge.scope.as_deref(), Some("mcp:tools"));
        assert_eq!(
            challenge.resource_metadata.as_deref(),
            Some("http://x/prm?scope=evil")
        );
    }

    #[test]
    fn finds_bearer_among_other_challenges_and_tokens() {
        let challenge = parse(r#"Basic realm="as", Bearer error=invalid_token, scope="a b""#);
        assert_eq!(challenge.error.as_deref(), Some("invalid_token"));
        assert_eq!(challenge.scopes(), ["a", "b"]);

        let challenge =
            BearerChallenge::from_headers([r#"DPoP algs="ES256""#, r#"bearer Scope="x""#]);
        assert_eq!(challenge.and_then(|c| c.scope), Some("x".to_owned()));
    }

    #[test]
    fn no_bearer_challenge_is_none() {
        assert_eq!(BearerChallenge::from_headers([r#"Basic realm="x""#]), None);
        assert_eq!(BearerChallenge::from_headers([""]), None);
        assert_eq!(BearerChallenge::from_headers(["\"unterminated"]), None);
    }

    #[test]
    fn bare_bearer_has_no_parameters() {
        assert_eq!(parse("Bearer"), BearerChallenge::default());
    }
}
