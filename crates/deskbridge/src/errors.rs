//! What every boundary shares about errors: the one-line rendering of an error with its causes
//! that the logs record.

/// An error and its causes, `a: b: c`, for the one log line that records it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
