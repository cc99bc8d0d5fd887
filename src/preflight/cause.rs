//! Errors as one line of evidence: what went wrong underneath, without the wrapper's own words.

/// What went wrong underneath a wrapper whose own message the check already says
/// ("cannot reach the Docker engine at ...", hyper's "client error (Connect)").
pub fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    e.source().map(error_chain).unwrap_or_else(|| e.to_string())
}

/// "a: b: c" from an error and its causes, on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
