//! Query strings as Freshdesk (Rails) reads them: `+` is a space, percent escapes are decoded,
//! unencoded `:` is fine, and a repeated parameter takes its last value. The raw pairs are kept
//! so that `link` headers can repeat the caller's own query, in order.

use percent_encoding::percent_decode_str;

use super::error::FieldError;

#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
    raw: Vec<(String, String)>,
}

fn decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut q = Query::default();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            q.raw.push((k.to_string(), v.to_string()));
            q.pairs.push((decode(k), decode(v)));
        }
        q
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// Rejects any key not in `allowed`, one `invalid_field` error per unknown key.
    pub fn only(&self, allowed: &[&str]) -> Vec<FieldError> {
        let mut seen: Vec<&str> = Vec::new();
        let mut errors = Vec::new();
        for k in self.keys() {
            if !allowed.contains(&k) && !seen.contains(&k) {
                seen.push(k);
                errors.push(FieldError::invalid_field(k));
            }
        }
        errors
    }

    /// The caller's query with `page` replaced (or appended), values left as they came.
    pub fn with_page(&self, page: u32) -> String {
        let mut out: Vec<String> = Vec::with_capacity(self.raw.len() + 1);
        let mut placed = false;
        for (k, v) in &self.raw {
            if decode(k) == "page" {
                if !placed {
                    out.push(format!("page={page}"));
                    placed = true;
                }
                continue;
            }
            if v.is_empty() && !self.raw.iter().any(|(k2, v2)| k2 == k && !v2.is_empty()) {
                out.push(k.clone());
            } else {
                out.push(format!("{k}={v}"));
            }
        }
        if !placed {
            out.push(format!("page={page}"));
        }
        out.join("&")
    }
}

/// `page` and `per_page`, validated as Freshdesk validates them.
pub fn paging(q: &Query, default_per_page: u32) -> Result<(u32, u32), Vec<FieldError>> {
    let mut errors = Vec::new();
    let page = match q.get("page") {
        None => 1,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
            Ok(_) => {
                errors.push(FieldError::invalid_value(
                    "page",
                    "It should be a/an Positive Integer",
                ));
                1
            }
            Err(_) => {
                errors.push(FieldError::mismatch(
                    "page",
                    "It should be a/an Positive Integer",
                ));
                1
            }
        },
    };
    let per_page = match q.get("per_page") {
        None => default_per_page,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n as u32,
            Ok(_) => {
                errors.push(FieldError::invalid_value(
                    "per_page",
                    "It should be a Positive Integer less than or equal to 100",
                ));
                default_per_page
            }
            Err(_) => {
                errors.push(FieldError::mismatch(
                    "per_page",
                    "It should be a Positive Integer less than or equal to 100",
                ));
                default_per_page
            }
        },
    };
    if errors.is_empty() {
        Ok((page, per_page))
    } else {
        Err(errors)
    }
}

/// As [`paging`], adding any errors to `errors` (and answering the defaults), for handlers that
/// report every bad parameter at once.
pub fn paging_into(q: &Query, default_per_page: u32, errors: &mut Vec<FieldError>) -> (u32, u32) {
    paging(q, default_per_page).unwrap_or_else(|mut e| {
        errors.append(&mut e);
        (1, default_per_page)
    })
}

/// A positive integer filter such as `requester_id`.
pub fn positive_id(q: &Query, key: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let s = q.get(key)?;
    match s.trim().parse::<i64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            errors.push(FieldError::mismatch(
                key,
                "It should be a/an Positive Integer",
            ));
            None
        }
    }
}

pub fn date_param(q: &Query, key: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let s = q.get(key)?;
    match crate::util::parse_ts(s) {
        Some(t) => Some(t),
        None => {
            errors.push(FieldError::invalid_value(
                key,
                "It should be a valid date in the 'combined date and time ISO8601' format",
            ));
            None
        }
    }
}

pub fn one_of(
    q: &Query,
    key: &str,
    allowed: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let s = q.get(key)?;
    if allowed.contains(&s) {
        Some(s.to_string())
    } else {
        errors.push(FieldError::invalid_value(
            key,
            format!("It should be one of these values: '{}'", allowed.join(",")),
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_take_the_last_value() {
        let q = Query::parse(Some("per_page=10&per_page=100&page=2"));
        assert_eq!(q.get("per_page"), Some("100"));
    }

    #[test]
    fn unencoded_colons_and_plus_signs_decode_as_rails_does() {
        let q = Query::parse(Some(
            "updated_since=2024-01-01T00:00:00Z&email=a%2Bb%40x.io&name=a+b",
        ));
        assert_eq!(q.get("updated_since"), Some("2024-01-01T00:00:00Z"));
        assert_eq!(q.get("email"), Some("a+b@x.io"));
        assert_eq!(q.get("name"), Some("a b"));
    }

    #[test]
    fn the_next_page_keeps_the_callers_query_in_order() {
        let q = Query::parse(Some(
            "per_page=1&page=2&updated_since=2024-01-01T00%3A00%3A00Z",
        ));
        assert_eq!(
            q.with_page(3),
            "per_page=1&page=3&updated_since=2024-01-01T00%3A00%3A00Z"
        );
        let q = Query::parse(Some("per_page=100"));
        assert_eq!(q.with_page(2), "per_page=100&page=2");
    }

    #[test]
    fn paging_bounds_are_enforced() {
        assert_eq!(paging(&Query::parse(None), 30), Ok((1, 30)));
        assert!(paging(&Query::parse(Some("per_page=101")), 30).is_err());
        assert!(paging(&Query::parse(Some("per_page=0")), 30).is_err());
        assert!(paging(&Query::parse(Some("page=0")), 30).is_err());
        assert!(paging(&Query::parse(Some("page=abc")), 30).is_err());
    }
}
