//! What an error knows about itself: a hint for the person reading it and the exit code it ends
//! the process with (`Diagnostic`, implemented next to each error type), and its causes, each
//! said once. `report` prints them; everything that defines an error depends only on this.

use std::error::Error;

/// The process's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Something failed; the message says what.
    Failure = 1,
    /// A command line that cannot be acted on (as clap uses).
    Usage = 2,
    /// `matrixbox status`: the homeserver is not healthy.
    Unhealthy = 3,
    /// The configuration is invalid (sysexits EX_CONFIG), so systemd can refuse to restart-loop.
    Config = 78,
}

impl ExitCode {
    pub const fn code(self) -> i32 {
        self as i32
    }
}

/// An error that says what the user can do about it. Each error type keeps its hints in its own
/// `hint`, in English for now, so that they can be localized there.
pub trait Diagnostic: Error {
    /// What to do about it; `None` when this error has nothing to add (a cause may).
    fn hint(&self) -> Option<String>;

    /// The exit code when this error ends the process; `None` leaves it to its causes, and
    /// `ExitCode::Failure` applies when no error in the chain names one.
    fn exit_code(&self) -> Option<ExitCode> {
        None
    }
}

/// The messages of an error and its causes, each once: an `#[error(transparent)]` wrapper says
/// the same as its source.
pub fn messages(err: &dyn Error) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut seen = messages[0].clone();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if text != seen {
            messages.push(text.clone());
        }
        seen = text;
        source = cause.source();
    }
    messages
}

/// "a: b: c": the error and its causes on one line, for logs and saved state. A cause the line
/// already ends with (a message that includes its source) is not repeated.
pub fn one_line(err: &dyn Error) -> String {
    let mut messages = messages(err).into_iter();
    let mut text = messages.next().unwrap_or_default();
    for cause in messages {
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        /// Says what its source says, as a wrapper that adds nothing does.
        #[error("{0}")]
        Repeats(#[source] Inner),
        #[error("cannot read the thing /x")]
        Read(#[source] std::io::Error),
        #[error("cannot parse: {0}")]
        Says(#[source] std::io::Error),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn one_line_joins_causes_once() {
        let read = Outer::Read(std::io::Error::other("denied"));
        assert_eq!(one_line(&read), "cannot read the thing /x: denied");
        let says = Outer::Says(std::io::Error::other("bad byte"));
        assert_eq!(one_line(&says), "cannot parse: bad byte");
    }

    #[test]
    fn a_wrapper_that_repeats_its_source_is_said_once() {
        let err = Outer::Repeats(Inner(std::io::Error::other("denied")));
        assert_eq!(messages(&err), ["inner", "denied"]);
        assert_eq!(one_line(&err), "inner: denied");
    }

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        assert_eq!(ExitCode::Failure.code(), 1);
        assert_eq!(ExitCode::Usage.code(), 2);
        assert_eq!(ExitCode::Unhealthy.code(), 3);
        assert_eq!(ExitCode::Config.code(), 78);
    }
}
