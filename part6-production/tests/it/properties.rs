//! Properties of the redirect-URI matching and the form parser, over many
//! generated inputs (rule AS-04, AS-07, AS-13).

use proptest::prelude::*;
use this_part::authorization_server::{
    form::{Form, FormError, MAX_PARAMETERS},
    logic::redirect::redirect_uri_matches,
};

proptest! {
    /// AS-04: a non-loopback URI matches only itself: any change to it is refused.
    #[test]
    fn as04_only_the_exact_uri_matches(
        path in "/[a-z0-9/]{0,12}",
        edit in "[a-zA-Z0-9/?#=&.%:-]{1,4}",
        at in 0usize..40,
    ) {
        let registered = format!("https://app.example{path}");
        let list = vec![registered.clone()];
        prop_assert!(redirect_uri_matches(&list, &registered));
        let at = at.min(registered.len());
        let mut edited = registered.clone();
        edited.insert_str(at, &edit);
        prop_assert!(!redirect_uri_matches(&list, &edited), "{edited}");
        let mut truncated = registered.clone();
        truncated.truncate(at.min(registered.len() - 1));
        prop_assert!(!redirect_uri_matches(&list, &truncated), "{truncated}");
    }

    /// AS-04: a loopback IP URI matches on every port, and only with the same path.
    #[test]
    fn as04_loopback_matches_any_port_only(
        port in 1u16..,
        path in "/[a-z0-9]{1,8}",
        other in "/[a-z0-9]{1,8}",
    ) {
        let list = vec![format!("http://127.0.0.1{path}")];
        let same = format!("http://127.0.0.1:{port}{path}");
        let localhost = format!("http://localhost:{port}{path}");
        prop_assert!(redirect_uri_matches(&list, &same));
        prop_assert_eq!(
            redirect_uri_matches(&list, &format!("http://127.0.0.1:{port}{other}")),
            path == other
        );
        prop_assert!(!redirect_uri_matches(&list, &localhost));
    }

    /// AS-07: a form of distinct names round-trips through encoding and parsing.
    #[test]
    fn as07_form_round_trips(pairs in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 0..10)) {
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            encoder.append_pair(name, value);
        }
        let form = Form::parse(encoder.finish().as_bytes()).expect("parses");
        for (name, value) in &pairs {
            prop_assert_eq!(form.get(name), Some(value.as_str()));
        }
        prop_assert_eq!(form.repeated(), None);
    }

    /// AS-07: a name sent twice is always reported.
    #[test]
    fn as07_repeats_are_reported(name in "[a-z]{1,8}", a in "[a-z0-9]{1,8}", b in "[a-z0-9]{1,8}") {
        let form = Form::parse(format!("{name}={a}&x=1&{name}={b}").as_bytes()).expect("parses");
        prop_assert_eq!(form.repeated(), Some(name.as_str()));
        prop_assert!(form.reject_repeated().is_err());
    }

    /// AS-13: any bytes parse or are refused; never a panic, never more than the limit.
    #[test]
    fn as13_any_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        match Form::parse(&bytes) {
            Ok(_) | Err(FormError::BadEncoding) => {}
            Err(FormError::TooManyParameters) => {
                prop_assert!(bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()).count() > MAX_PARAMETERS);
            }
        }
    }
}
