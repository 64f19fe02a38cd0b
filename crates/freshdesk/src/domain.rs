//! `FreshdeskDomain` and `ApiKey`: the two values a stranger types into the connect form, parsed
//! before anything touches the network. A domain can only ever become
//! `https://<one label>.freshdesk.com/api/v2/`; a key can only ever leave through `Authorization`.

use std::fmt;
use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

/// Why a domain was refused, in words an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("enter your Freshdesk domain, for example acme or acme.freshdesk.com")]
    Empty,
    #[error("only https://<name>.freshdesk.com addresses can be used; {0:?} is not one")]
    Scheme(String),
    #[error("the address must not contain a user name or password")]
    Userinfo,
    #[error("the address must not contain a port")]
    Port,
    #[error("enter only the domain, without a path, query or fragment")]
    Path,
    #[error(
        "the address must be plain letters, digits and hyphens (no percent-escapes or other symbols)"
    )]
    Symbols,
    #[error("IP addresses cannot be used; enter your Freshdesk domain, such as acme.freshdesk.com")]
    IpLiteral,
    #[error("internationalised (IDN or punycode) names are not Freshdesk domains")]
    Unicode,
    #[error(
        "{0:?} is not a Freshdesk domain; use the name in https://<name>.freshdesk.com (custom domains do not work with the API)"
    )]
    Foreign(String),
    #[error("freshdesk.com itself is not an account; enter your account's name, such as acme")]
    Apex,
    #[error("{0:?} is an internal name, not a Freshdesk domain")]
    Internal(String),
    #[error(
        "the account name must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen"
    )]
    Label,
}

/// A Freshdesk account's subdomain: exactly one DNS label.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FreshdeskDomain {
    label: String,
}

impl fmt::Debug for FreshdeskDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FreshdeskDomain({})", self.host())
    }
}

impl fmt::Display for FreshdeskDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host())
    }
}

fn looks_like_ip(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return true;
    }
    // Every number-ish form inet_aton accepts: decimal, hex and octal parts, one to four of them.
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() <= 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && (p.bytes().all(|b| b.is_ascii_digit())
                    || ((p.starts_with("0x") || p.starts_with("0X"))
                        && p[2..].bytes().all(|b| b.is_ascii_hexdigit())))
        })
}

impl FreshdeskDomain {
    /// Accepts `acme`, `acme.freshdesk.com` and a pasted `https://acme.freshdesk.com/…` URL.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DomainError::Empty);
        }
        if !s.is_ascii() {
            return Err(DomainError::Unicode);
        }
        let host = match s.find("://") {
            Some(i) => {
                let scheme = &s[..i];
                if !scheme.eq_ignore_ascii_case("https") {
                    return Err(DomainError::Scheme(scheme.to_string()));
                }
                let rest = &s[i + 3..];
                // A pasted URL may carry a path; the authority ends at the first / ? or #.
                let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
                &rest[..end]
            }
            None => {
                if s.contains(['/', '?', '#', '\\']) {
                    return Err(DomainError::Path);
                }
                s
            }
        };
        if host.contains('@') {
            return Err(DomainError::Userinfo);
        }
        if host.starts_with('[') || host.matches(':').count() > 1 {
            return Err(DomainError::IpLiteral);
        }
        if host.contains(':') {
            return Err(DomainError::Port);
        }
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        if host.is_empty() {
            return Err(DomainError::Empty);
        }
        if host
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        {
            return Err(DomainError::Symbols);
        }
        if looks_like_ip(host) {
            return Err(DomainError::IpLiteral);
        }
        if host == "freshdesk.com" {
            return Err(DomainError::Apex);
        }
        let label = match host.strip_suffix(".freshdesk.com") {
            Some(l) if !l.contains('.') => l,
            _ if host.contains('.') => return Err(DomainError::Foreign(host.to_string())),
            _ => host,
        };
        if label == "localhost" || label.ends_with("-internal") || label == "metadata" {
            return Err(DomainError::Internal(label.to_string()));
        }
        if label.starts_with("xn--") {
            return Err(DomainError::Unicode);
        }
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError::Label);
        }
        if label.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::IpLiteral);
        }
        Ok(FreshdeskDomain {
            label: label.to_string(),
        })
    }

    /// The account's subdomain, such as `acme`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `<label>.freshdesk.com`.
    pub fn host(&self) -> String {
        format!("{}.freshdesk.com", self.label)
    }

    /// `https://<label>.freshdesk.com/api/v2/`: the only URL a domain can produce.
    pub fn api_base(&self) -> url::Url {
        url::Url::parse(&format!("https://{}/api/v2/", self.host()))
            .expect("a validated label always forms a URL")
    }
}

impl std::str::FromStr for FreshdeskDomain {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why an API key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("paste the API key from your Freshdesk profile (Profile Settings > View API key)")]
    Empty,
    #[error(
        "that does not look like a Freshdesk API key: it has spaces, colons or unusual characters"
    )]
    Malformed,
}

/// A Freshdesk agent's API key: full-admin credentials to a customer's help desk. It has no
/// `Display` or `Serialize`, its `Debug` is redacted, its memory is wiped on drop, and it is only
/// exposed to build the `Authorization` header.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

impl ApiKey {
    pub fn parse(input: &str) -> Result<Self, ApiKeyError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        if s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(ApiKeyError::Malformed);
        }
        Ok(ApiKey(SecretString::from(s.to_string())))
    }

    /// The last four characters, the only part ever displayed.
    pub fn fingerprint(&self) -> String {
        let k = self.0.expose_secret();
        let tail: String = k
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }

    /// `Basic base64(key:X)`; the only place the key is exposed.
    pub(crate) fn authorization(&self) -> http::HeaderValue {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:X", self.0.expose_secret()));
        let mut v = http::HeaderValue::from_str(&format!("Basic {encoded}"))
            .expect("base64 is a valid header value");
        v.set_sensitive(true);
        v
    }

    /// Whether two keys are the same key, without exposing either.
    pub fn same_as(&self, other: &ApiKey) -> bool {
        let (a, b) = (
            self.0.expose_secret().as_bytes(),
            other.0.expose_secret().as_bytes(),
        );
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// For storage layers that must encrypt the key: the plaintext, deliberately awkward to reach.
    pub fn expose_for_encryption(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_forms_all_give_the_same_base_url() {
        for input in [
            "acme",
            "ACME",
            "acme.freshdesk.com",
            "https://acme.freshdesk.com",
            "https://acme.freshdesk.com/a/tickets/5?x=1",
            " acme ",
            "acme.freshdesk.com.",
        ] {
            let d = FreshdeskDomain::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                d.api_base().as_str(),
                "https://acme.freshdesk.com/api/v2/",
                "{input}"
            );
        }
        assert_eq!(
            FreshdeskDomain::parse("acme-support").unwrap().host(),
            "acme-support.freshdesk.com"
        );
    }

    #[test]
    fn every_case_in_check_f1_is_refused_with_a_reason() {
        let label63 = "a".repeat(63);
        let label64 = "a".repeat(64);
        assert!(FreshdeskDomain::parse(&label63).is_ok());
        let cases: &[(&str, DomainError)] = &[
            ("evil.com", DomainError::Foreign("evil.com".into())),
            (
                "acme.freshdesk.com.evil.com",
                DomainError::Foreign("acme.freshdesk.com.evil.com".into()),
            ),
            ("acme.freshdesk.com@evil.com", DomainError::Userinfo),
            (
                "https://acme.freshdesk.com@evil.com/",
                DomainError::Userinfo,
            ),
            ("freshdesk.com", DomainError::Apex),
            ("acme/../x", DomainError::Path),
            ("acme#x", DomainError::Path),
            ("acme:8080", DomainError::Port),
            ("https://acme.freshdesk.com:8443/", DomainError::Port),
            ("acme%2eevil.com", DomainError::Symbols),
            ("", DomainError::Empty),
            ("-acme", DomainError::Label),
            (&label64, DomainError::Label),
            ("аcme", DomainError::Unicode),
            ("xn--acme-9na", DomainError::Unicode),
            ("acmé.freshdesk.com", DomainError::Unicode),
            ("127.0.0.1", DomainError::IpLiteral),
            ("2130706433", DomainError::IpLiteral),
            ("0x7f000001", DomainError::IpLiteral),
            ("0177.0.0.1", DomainError::IpLiteral),
            ("169.254.169.254", DomainError::IpLiteral),
            ("2852039166", DomainError::IpLiteral),
            ("0.0.0.0", DomainError::IpLiteral),
            ("[::1]", DomainError::IpLiteral),
            ("[::ffff:127.0.0.1]", DomainError::IpLiteral),
            ("[fd00::1]", DomainError::IpLiteral),
            ("localhost", DomainError::Internal("localhost".into())),
            (
                "metadata.google.internal",
                DomainError::Foreign("metadata.google.internal".into()),
            ),
            (
                "http://acme.freshdesk.com",
                DomainError::Scheme("http".into()),
            ),
            ("acme_support", DomainError::Symbols),
        ];
        for (input, want) in cases {
            assert_eq!(FreshdeskDomain::parse(input).as_ref(), Err(want), "{input}");
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn a_keys_debug_form_never_shows_the_key() {
        let key = ApiKey::parse("CANARY-abcdefgh1234").unwrap();
        let shown = format!("{key:?} {:?}", Some(&key));
        assert!(!shown.contains("CANARY"));
        assert_eq!(key.fingerprint(), "…1234");
        assert!(key.authorization().is_sensitive());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(ApiKey::parse("  ").unwrap_err(), ApiKeyError::Empty);
        assert_eq!(
            ApiKey::parse("abc:def").unwrap_err(),
            ApiKeyError::Malformed
        );
        assert_eq!(
            ApiKey::parse("abc def").unwrap_err(),
            ApiKeyError::Malformed
        );
    }
}
