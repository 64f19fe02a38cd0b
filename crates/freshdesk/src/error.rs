//! The client's one error type. Each variant is a decision the caller makes: re-enter the key,
//! restore the admin role, wait, retry later, or stop. Both of Freshdesk's error body shapes are
//! parsed into it; no variant ever carries the key, a request header or Freshdesk's own message
//! text. Freshdesk's messages are not ours to show: an upstream that echoes the request (as a
//! misconfigured edge can) would put the credential into every page, log and audit row that
//! displays them. Only the status and the machine-readable `code` are kept; callers speak in their
//! own words by code.

use std::time::Duration;

/// One field error from a `{"description":"Validation failed","errors":[…]}` body: the field's
/// name and the error code, both sanitised; the message is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
}

/// Keeps an upstream identifier (a field name or an error code) only if it looks like one:
/// short, and made of lower-case ASCII letters, digits, `_` and `.` (Freshdesk's codes and field
/// names are snake case). Anything else, such as an echoed base64 credential, which has capitals,
/// is not ours to repeat and becomes `?`.
pub fn identifier(raw: &str) -> String {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'));
    if ok { raw.to_string() } else { "?".into() }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: the key is wrong, was reset, or its user was deleted or deactivated.
    #[error(
        "Freshdesk rejected the API key (it may have been reset, or its user deleted or deactivated)"
    )]
    InvalidCredentials,
    /// 403 `access_denied`: the user lacks the permission (not an admin, or no longer an agent).
    #[error("Freshdesk denied access: the key's user is not allowed to do this")]
    AccessDenied,
    #[error("the Freshdesk account is suspended")]
    AccountSuspended,
    #[error("the Freshdesk login is locked after too many failed attempts")]
    PasswordLockout,
    /// 403 `require_feature`: the plan does not include the feature.
    #[error("the Freshdesk plan does not include this feature")]
    FeatureNotInPlan,
    /// 404 on the account itself: no Freshdesk account at this domain.
    #[error("there is no Freshdesk account at this domain")]
    DomainNotFound,
    #[error("not found")]
    NotFound,
    #[error("Freshdesk refused the request: {}", describe(errors))]
    Validation { errors: Vec<FieldError> },
    /// A 429 that outlived the client's patience; ordinary 429s are waited out inside the client.
    #[error("Freshdesk's rate limit was hit; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx, timeouts, resets, truncated or non-JSON bodies: worth retrying later.
    #[error("Freshdesk did not answer properly ({0})")]
    Transient(String),
    /// The domain resolved to an address deskbridge must never call.
    #[error(
        "refused to connect: {0} resolves to a private, loopback or otherwise internal address"
    )]
    BlockedAddress(String),
    /// A well-formed reply that does not have the expected shape.
    #[error("Freshdesk's reply could not be read: {0}")]
    Decode(String),
    /// The reply exceeded the configured size cap.
    #[error("Freshdesk's reply was larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// A paged listing made no progress (more rows share one timestamp than Freshdesk will page).
    #[error(
        "paging stalled at {at}: more tickets share this updated_at than Freshdesk lets one query reach"
    )]
    PagingStalled { at: String },
    /// Any other 4xx (405, 406, 409, 415) or a refused redirect: a bug on our side or an
    /// unexpected server. `code` is Freshdesk's error code when it sent a well-formed one.
    #[error("Freshdesk answered {status} ({})", code.as_deref().unwrap_or("no code"))]
    Unexpected { status: u16, code: Option<String> },
    /// The key this client holds was removed or replaced (disconnect, re-authorize): the call was
    /// not sent, or was abandoned mid-flight.
    #[error("the integration's key was removed or replaced; the call was not made")]
    Revoked,
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{} ({})", e.field, e.code))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Whether waiting and trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transient(_) | Error::RateLimited { .. })
    }

    /// Whether the credentials or the account need an admin's attention.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Error::InvalidCredentials
                | Error::AccessDenied
                | Error::AccountSuspended
                | Error::PasswordLockout
                | Error::DomainNotFound
        )
    }

    /// Maps a non-2xx reply. `on_account_root` says whether a 404 means the account is missing
    /// (true for calls that cannot 404 on a healthy account, such as `/agents/me`).
    pub(crate) fn from_reply(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        on_account_root: bool,
    ) -> Error {
        // `message` is deliberately not read: see the module doc.
        #[derive(serde::Deserialize)]
        struct RawFieldError {
            #[serde(default)]
            field: String,
            #[serde(default)]
            code: String,
        }
        #[derive(serde::Deserialize)]
        struct Shape {
            code: Option<String>,
            errors: Option<Vec<RawFieldError>>,
        }
        let shape: Option<Shape> = serde_json::from_slice(body).ok();
        let code = shape
            .as_ref()
            .and_then(|s| s.code.as_deref())
            .map(identifier);
        let unexpected = |code: Option<String>| Error::Unexpected { status, code };
        match status {
            401 => Error::InvalidCredentials,
            403 => match code.as_deref().unwrap_or("") {
                "account_suspended" => Error::AccountSuspended,
                "password_lockout" => Error::PasswordLockout,
                "require_feature" => Error::FeatureNotInPlan,
                "ssl_required" => unexpected(code),
                _ => Error::AccessDenied,
            },
            404 if on_account_root => Error::DomainNotFound,
            404 => Error::NotFound,
            429 => Error::RateLimited {
                retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
            },
            400 | 409 => match shape.and_then(|s| s.errors) {
                Some(errors) => Error::Validation {
                    errors: errors
                        .into_iter()
                        .map(|e| FieldError {
                            field: identifier(&e.field),
                            code: identifier(&e.code),
                        })
                        .collect(),
                },
                None => unexpected(code),
            },
            500..=599 => Error::Transient(format!("HTTP {status}")),
            _ => unexpected(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_are_parsed() {
        let v = Error::from_reply(400, br#"{"description":"Validation failed","errors":[{"field":"page","message":"too far","code":"invalid_value"}]}"#, None, false);
        assert!(matches!(v, Error::Validation { ref errors } if errors[0].field == "page"));
        let r = Error::from_reply(403, br#"{"code":"require_feature","message":"The Timesheets feature(s) is/are not supported in your plan."}"#, None, false);
        assert!(matches!(r, Error::FeatureNotInPlan));
        assert!(matches!(
            Error::from_reply(
                403,
                br#"{"code":"account_suspended","message":"x"}"#,
                None,
                false
            ),
            Error::AccountSuspended
        ));
        assert!(matches!(
            Error::from_reply(404, b" ", None, true),
            Error::DomainNotFound
        ));
        assert!(matches!(
            Error::from_reply(404, b" ", None, false),
            Error::NotFound
        ));
        assert!(matches!(
            Error::from_reply(502, b"<html>", None, false),
            Error::Transient(_)
        ));
        assert!(matches!(
            Error::from_reply(
                405,
                br#"{"message":"PUT method is not allowed"}"#,
                None,
                false
            ),
            Error::Unexpected { status: 405, .. }
        ));
    }

    #[test]
    fn no_upstream_message_text_survives_in_any_error() {
        let canary = "Basic Q0FOQVJZLXNlY3JldDpY";
        for (status, code) in [
            (403, "require_feature"),
            (403, "ssl_required"),
            (400, "invalid_value"),
            (405, "method_not_allowed"),
            (409, "conflict"),
            (418, "teapot"),
        ] {
            let body = format!(
                r#"{{"code":"{code}","message":"you sent {canary}","errors":[{{"field":"x {canary}","message":"{canary}","code":"{canary}"}}]}}"#
            );
            let e = Error::from_reply(status, body.as_bytes(), None, false);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("Q0FOQVJZ"), "{status}: {shown}");
        }
        for code in [canary, "Q0FOQVJZLXNlY3JldDpY"] {
            let body = format!(r#"{{"code":"{code}","message":"m"}}"#);
            let e = Error::from_reply(418, body.as_bytes(), None, false);
            assert!(!format!("{e:?}").contains("Q0FOQVJZ"), "{e:?}");
        }
    }
}
