//! Check F2: whatever a stranger types, a domain either fails to parse or yields exactly
//! `https://<label>.freshdesk.com/api/v2/` with one plain label, on port 443.

use freshdesk::FreshdeskDomain;
use proptest::prelude::*;

fn assert_safe(input: &str) {
    if let Ok(d) = FreshdeskDomain::parse(input) {
        let url = d.api_base();
        assert_eq!(url.scheme(), "https", "{input:?}");
        assert_eq!(url.port_or_known_default(), Some(443), "{input:?}");
        assert_eq!(url.path(), "/api/v2/", "{input:?}");
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{input:?}"
        );
        let host = url.host_str().unwrap();
        let label = host
            .strip_suffix(".freshdesk.com")
            .unwrap_or_else(|| panic!("{input:?} gave {host}"));
        assert!(!label.is_empty() && label.len() <= 63, "{input:?}");
        assert!(
            label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{input:?}"
        );
        assert_eq!(label, d.label());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn any_string_parses_to_a_safe_url_or_not_at_all(input in ".{0,80}") {
        assert_safe(&input);
    }

    #[test]
    fn url_shaped_strings_parse_to_a_safe_url_or_not_at_all(
        scheme in prop::sample::select(vec!["", "https://", "http://", "HTTPS://", "ftp://", "//"]),
        user in prop::sample::select(vec!["", "a@", "acme.freshdesk.com@", "u:p@"]),
        host in "[a-zA-Z0-9.\\-_%\\[\\]:]{0,40}",
        suffix in prop::sample::select(vec!["", ".freshdesk.com", ".freshdesk.com.", ".freshdesk.com.evil.com", ".evil.com"]),
        port in prop::sample::select(vec!["", ":443", ":8080", ":"]),
        path in prop::sample::select(vec!["", "/", "/a/tickets/1", "?x=1", "#frag", "/../x", "\\\\x"]),
    ) {
        assert_safe(&format!("{scheme}{user}{host}{suffix}{port}{path}"));
    }
}
