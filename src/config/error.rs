//! What is wrong with the file: `Problem` (one finding at a dotted path) and `ConfigError`.

use std::fmt;
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, ExitCode};
use crate::yaml;

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted path inside the file; empty for the document itself.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid YAML{}: {}", path.display(), location(source), source.message)]
    Syntax {
        path: PathBuf,
        source: yaml::SyntaxError,
    },
    #[error("{} has {}:\n{}", path.display(), plural(problems.len()), Problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl Diagnostic for ConfigError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ConfigError::Read { path, .. } => format!(
                "create it with `matrixbox setup --domain <your domain>`, or point --config / MATRIXBOX_CONFIG at it (looked at {})",
                path.display()
            ),
            _ => "fix the file and run the command again; nothing was changed".to_string(),
        })
    }

    fn exit_code(&self) -> Option<ExitCode> {
        Some(ExitCode::Config)
    }
}

fn location(e: &yaml::SyntaxError) -> String {
    match (e.line, e.column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 problem".into()
    } else {
        format!("{n} problems")
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let path = if p.path.is_empty() {
                "(document)"
            } else {
                &p.path
            };
            write!(f, "  - {path}: {}", p.message)?;
            if let Some(hint) = &p.hint {
                write!(f, "\n      {hint}")?;
            }
        }
        Ok(())
    }
}

pub(super) fn problem(
    path: impl Into<String>,
    message: impl Into<String>,
    hint: Option<String>,
) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
        hint,
    }
}
