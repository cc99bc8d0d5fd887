//! Printing an error once, as `error:` / `caused by:` / `hint:`, and choosing the exit code.

use crate::acme::AcmeError;
use crate::config::ConfigError;
use crate::docker::DockerError;
use crate::fsio::FsError;
use crate::secrets::SecretsError;
use crate::service::ServiceError;
use crate::stack::StackError;
use crate::synapse::admin::AdminError;

/// Exit code for configuration errors (sysexits EX_CONFIG), so systemd can refuse to restart-loop.
pub const EXIT_CONFIG: i32 = 78;
pub const EXIT_FAILURE: i32 = 1;

/// Exits with this code without printing anything more (the command already reported).
#[derive(Debug, thiserror::Error)]
#[error("exit with status {0}")]
pub struct Exit(pub i32);

/// Exit code for a command line that cannot be acted on (as clap uses).
pub const EXIT_USAGE: i32 = 2;

/// An error raised by a command itself, with its hint and exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
    pub code: i32,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            hint: hint.into(),
            code: EXIT_FAILURE,
        }
    }

    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            code: EXIT_USAGE,
            ..Hinted::new(message, hint)
        }
    }
}

/// The hint of the first error in the chain that has one.
fn hint(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<Hinted>() {
            Some(e.hint.clone())
        } else if let Some(e) = e.downcast_ref::<ConfigError>() {
            Some(e.hint())
        } else if let Some(e) = e.downcast_ref::<ServiceError>() {
            Some(e.hint())
        } else if let Some(e) = e.downcast_ref::<StackError>() {
            Some(e.hint())
        } else if let Some(e) = e.downcast_ref::<DockerError>() {
            Some(e.hint())
        } else if let Some(e) = e.downcast_ref::<SecretsError>() {
            Some(e.hint())
        } else if let Some(e) = e.downcast_ref::<FsError>() {
            Some(e.hint())
        } else if let Some(e) = e.downcast_ref::<AcmeError>() {
            Some(e.hint())
        } else {
            e.downcast_ref::<AdminError>().map(AdminError::hint)
        }
    })
}

pub fn exit_code(err: &anyhow::Error) -> i32 {
    if let Some(Exit(code)) = err.downcast_ref::<Exit>() {
        return *code;
    }
    if let Some(hinted) = err.downcast_ref::<Hinted>() {
        return hinted.code;
    }
    if err.chain().any(|e| e.is::<ConfigError>()) {
        EXIT_CONFIG
    } else {
        EXIT_FAILURE
    }
}

/// Renders the error for a person. `Exit` renders as nothing.
pub fn render(err: &anyhow::Error) -> String {
    if err.is::<Exit>() {
        return String::new();
    }
    let mut out = format!("error: {err}\n");
    let mut seen = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        // `#[error(transparent)]` wrappers repeat their source; print each message once.
        if text != seen {
            out.push_str(&format!("caused by: {text}\n"));
        }
        seen = text;
    }
    if let Some(hint) = hint(err) {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn config_errors_render_with_hint_and_config_exit_code() {
        let err = crate::config::parse("domian: x\n", Path::new("/etc/m.yaml")).unwrap_err();
        let err = anyhow::Error::from(err).context("cannot load the configuration");
        let text = render(&err);
        assert!(
            text.starts_with("error: cannot load the configuration\ncaused by: /etc/m.yaml has"),
            "{text}"
        );
        assert!(text.contains("did you mean `domain`?"), "{text}");
        assert!(text.contains("\nhint: "), "{text}");
        assert_eq!(exit_code(&err), EXIT_CONFIG);
    }
}
