//! Text made safe for HTML written outside the templates (the SVG pictures, a Triage note's
//! body): askama's escaper, the one the templates use, so every page escapes alike.

/// `s` with HTML's special characters escaped.
pub fn escape(s: &str) -> String {
    match askama::filters::escape(s, askama::filters::Html) {
        Ok(safe) => safe.to_string(),
        Err(never) => match never {},
    }
}
