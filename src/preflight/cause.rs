//! Errors as one line of evidence: what went wrong underneath, without the wrapper's own words.

/// What went wrong underneath a wrapper whose own message the check already says
/// ("cannot reach the Docker engine at ...", hyper's "client error (Connect)").
pub fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    e.source().map(crate::diagnostic::one_line).unwrap_or_else(|| e.to_string())
}
