//! PKCE verifier syntax (RFC 7636 §4.1; rule AS-02), one rule per test.
//!
//! Each verifier below is paired with its own S256 challenge, so the digest
//! always matches: a verifier is refused only because of its syntax, and a
//! test fails if that syntax check is missing or too lax.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use this_part::authorization_server::logic::pkce::verify;

/// The S256 challenge of `verifier` (RFC 7636 §4.2).
fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// True when `verifier` verifies against its own challenge.
fn accepted(verifier: &str) -> bool {
    verify(Some(verifier), &challenge_of(verifier))
}

/// 43 valid characters with `odd` put in the middle.
fn with_one(odd: &str) -> String {
    format!("{}{odd}{}", "a".repeat(21), "b".repeat(21))
}

/// AS-02: every unreserved character of RFC 3986 §2.3 is accepted, `.` and `~` included.
#[test]
fn as02_every_unreserved_character_is_accepted() {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert!(accepted(alphabet), "{alphabet}");
    for odd in ["-", ".", "_", "~", "Z", "0"] {
        assert!(accepted(&with_one(odd)), "{odd}");
    }
}

/// AS-02: a verifier with a character outside the unreserved set is refused, even when its digest matches.
#[test]
fn as02_verifier_with_a_reserved_character_is_refused() {
    for odd in [
        " ", "!", "+", "/", "=", "%", "&", "?", "#", "*", ",", ":", "@", "\"", "'", "`", "^", "|",
        "\\", "\u{e9}", "\u{0}", "\n", "\u{7f}",
    ] {
        let verifier = with_one(odd);
        assert!(!accepted(&verifier), "{verifier:?}");
    }
}

/// AS-02: the length bounds are 43 and 128, checked even when the digest matches.
#[test]
fn as02_verifier_length_is_43_to_128() {
    assert!(!accepted(&"a".repeat(42)));
    assert!(accepted(&"a".repeat(43)));
    assert!(accepted(&"a".repeat(128)));
    assert!(!accepted(&"a".repeat(129)));
    assert!(!accepted(""));
}

/// AS-02: a too-short verifier made only of unreserved characters is refused: length and alphabet are separate checks.
#[test]
fn as02_short_verifier_of_good_characters_is_refused() {
    assert!(!accepted("a.b~c-d_e"));
    assert!(!accepted(&"~".repeat(42)));
}

/// AS-02: a verifier of the right length is refused for one bad character: the alphabet is checked on its own.
#[test]
fn as02_verifier_with_a_space_is_refused() {
    assert!(!accepted(&format!("{} ", "a".repeat(42))));
    assert!(!accepted(&format!(" {}", "a".repeat(127))));
}

/// AS-02: the right verifier against another challenge, or no verifier, is refused.
#[test]
fn as02_verifier_must_match_its_challenge() {
    let verifier = "a".repeat(43);
    assert!(!verify(Some(&verifier), &challenge_of(&"b".repeat(43))));
    assert!(!verify(None, &challenge_of(&verifier)));
    assert!(!verify(Some(&verifier), ""));
}
