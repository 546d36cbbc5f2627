//! A strict parser for `application/x-www-form-urlencoded` bodies and query
//! strings.
//!
//! The usual parsers are lenient in ways an authorization server must not
//! be: they replace bad UTF-8 with U+FFFD, keep every repeated parameter and
//! accept any number of them. This one refuses bad encodings, bounds the
//! number of parameters (rule AS-13) and remembers which ones were
//! repeated, because RFC 6749 §3.1 says a parameter "MUST NOT be included
//! more than once".

use std::collections::{BTreeMap, btree_map::Entry};

use crate::authorization_server::error::OAuthError;

/// More parameters than any OAuth request needs; a request with more is
/// refused before any of them is decoded.
pub const MAX_PARAMETERS: usize = 64;

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("too many parameters")]
    TooManyParameters,
    #[error("a parameter is not valid percent-encoded UTF-8")]
    BadEncoding,
}

impl From<FormError> for OAuthError {
    fn from(error: FormError) -> Self {
        match error {
            FormError::TooManyParameters => Self::InvalidRequest("too many parameters"),
            FormError::BadEncoding => {
                Self::InvalidRequest("a parameter is not valid percent-encoded UTF-8")
            }
        }
    }
}

// ANCHOR: form
/// The parameters of a request, each name at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    values: BTreeMap<String, String>,
    repeated: Option<String>,
}

impl Form {
    /// Parses `input`. A parameter with an empty value counts as absent
    /// (RFC 6749 §3.1); a repeated one is remembered, see [`Form::repeated`].
    pub fn parse(input: &[u8]) -> Result<Self, FormError> {
        let pairs: Vec<&[u8]> = input
            .split(|byte| *byte == b'&')
            .filter(|pair| !pair.is_empty())
            .take(MAX_PARAMETERS + 1)
            .collect();
        if pairs.len() > MAX_PARAMETERS {
            return Err(FormError::TooManyParameters);
        }
        let mut form = Self::default();
        for pair in pairs {
            let (name, value) = match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let (name, value) = (decode(name)?, decode(value)?);
            if name.is_empty() || value.is_empty() {
                continue;
            }
            match form.values.entry(name) {
                Entry::Occupied(entry) => {
                    form.repeated.get_or_insert_with(|| entry.key().clone());
                }
                Entry::Vacant(entry) => {
                    entry.insert(value);
                }
            }
        }
        Ok(form)
    }

    /// The value of `name`, if it was sent with a value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The first parameter that was sent more than once, if any.
    pub fn repeated(&self) -> Option<&str> {
        self.repeated.as_deref()
    }

    /// Refuses a form with a repeated parameter (RFC 6749 §3.1, rule AS-07).
    pub fn reject_repeated(&self) -> Result<(), OAuthError> {
        match self.repeated {
            Some(_) => Err(OAuthError::InvalidRequest(
                "a parameter was sent more than once",
            )),
            None => Ok(()),
        }
    }
}
// ANCHOR_END: form

/// Decodes one name or value: `+` is a space and `%XX` a byte; the bytes
/// must then be UTF-8. A `%` not followed by two hex digits is refused.
pub fn decode(input: &[u8]) -> Result<String, FormError> {
    let mut bytes = Vec::with_capacity(input.len());
    let mut rest = input.iter();
    while let Some(&byte) = rest.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => {
                let high = rest.next().and_then(|c| hex_value(*c));
                let low = rest.next().and_then(|c| hex_value(*c));
                match (high, low) {
                    (Some(high), Some(low)) => high << 4 | low,
                    _ => return Err(FormError::BadEncoding),
                }
            }
            other => other,
        });
    }
    String::from_utf8(bytes).map_err(|_| FormError::BadEncoding)
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let form = Form::parse(b"a=x+y%26z&b=%E2%9C%93").unwrap_or_default();
        assert_eq!(form.get("a"), Some("x y&z"));
        assert_eq!(form.get("b"), Some("\u{2713}"));
    }

    #[test]
    fn as07_repeated_parameter_is_reported() {
        let form = Form::parse(b"a=1&b=2&a=3").unwrap_or_default();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.repeated(), Some("a"));
        assert!(form.reject_repeated().is_err());
    }

    #[test]
    fn empty_values_count_as_absent() {
        let form = Form::parse(b"a=&a=1&b").unwrap_or_default();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), None);
        assert_eq!(form.repeated(), None);
    }

    /// The bound itself: 64 parameters are read, 65 are refused.
    #[test]
    fn as13_exactly_the_maximum_of_parameters_is_accepted() {
        let form = |count: usize| {
            let pairs: Vec<String> = (0..count).map(|n| format!("p{n}=1")).collect();
            Form::parse(pairs.join("&").as_bytes())
        };
        let full = form(MAX_PARAMETERS).unwrap_or_default();
        assert_eq!(full.get("p63"), Some("1"));
        assert_eq!(form(MAX_PARAMETERS + 1), Err(FormError::TooManyParameters));
    }

    #[test]
    fn as13_bad_encodings_and_floods_are_refused() {
        assert_eq!(Form::parse(b"a=%FF"), Err(FormError::BadEncoding));
        assert_eq!(Form::parse(b"a=%4"), Err(FormError::BadEncoding));
        assert_eq!(Form::parse(b"a=\xC3"), Err(FormError::BadEncoding));
        let flood = "a=1&".repeat(100_000);
        assert_eq!(
            Form::parse(flood.as_bytes()),
            Err(FormError::TooManyParameters)
        );
    }
}
