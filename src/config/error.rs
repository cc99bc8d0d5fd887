//! What is wrong with the file: `Problem` (one finding at a dotted path) and `ConfigError`.

use std::fmt;
use std::path::PathBuf;

use super::messages::M;
use crate::diagnostic::{Diagnostic, ExitCode};
use crate::i18n::Lang;
use crate::yaml;

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted path inside the file; empty for the document itself.
    pub path: String,
    /// In English (what tests and logs read).
    pub message: String,
    pub hint: Option<String>,
    /// Message and hint in Simplified Chinese, where the catalog has them.
    pub zh: Option<(String, Option<String>)>,
}

impl Problem {
    /// Message and hint in `lang` (English where no translation exists).
    pub fn text(&self, lang: Lang) -> (&str, Option<&str>) {
        match (&self.zh, lang) {
            (Some((message, hint)), Lang::ZhCn) => (message, hint.as_deref()),
            _ => (&self.message, self.hint.as_deref()),
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Syntax {
        path: PathBuf,
        source: yaml::SyntaxError,
    },
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The error as a person reads it in `lang` (Display uses the chosen language).
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            ConfigError::Read { path, .. } => lang.t(M::CannotRead, &[&path.display()]),
            ConfigError::Syntax { path, source } => lang.t(
                M::NotYaml,
                &[&path.display(), &location(source, lang), &source.message],
            ),
            ConfigError::Invalid { path, problems } => {
                let head = match problems.len() {
                    1 => lang.t(M::HasOne, &[&path.display()]),
                    n => lang.t(M::HasMany, &[&path.display(), &n]),
                };
                format!("{head}\n{}", list(problems, lang))
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(Lang::current()))
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Diagnostic for ConfigError {
    fn hint(&self) -> Option<String> {
        let lang = Lang::current();
        Some(match self {
            ConfigError::Read { path, .. } => lang.t(M::CannotReadFix, &[&path.display()]),
            _ => lang.t(M::FixFile, &[]),
        })
    }

    fn exit_code(&self) -> Option<ExitCode> {
        Some(ExitCode::Config)
    }
}

fn location(e: &yaml::SyntaxError, lang: Lang) -> String {
    match (e.line, e.column) {
        (Some(l), Some(c)) => lang.t(M::AtLine, &[&l, &c]),
        _ => String::new(),
    }
}

/// One problem per entry, its hint under it.
fn list(problems: &[Problem], lang: Lang) -> String {
    let document = lang.t(M::Document, &[]);
    let mut out = Vec::new();
    for p in problems {
        let path = if p.path.is_empty() {
            &document
        } else {
            &p.path
        };
        let (message, hint) = p.text(lang);
        out.push(format!("  - {path}: {message}"));
        if let Some(hint) = hint {
            out.push(format!("      {hint}"));
        }
    }
    out.join("\n")
}

/// A message and hint from the catalog, kept in both languages.
pub(super) fn problem_t(
    path: impl Into<String>,
    message: (M, &[&dyn fmt::Display]),
    hint: Option<(M, &[&dyn fmt::Display])>,
) -> Problem {
    problem_by(path, |lang| {
        (
            lang.t(message.0, message.1),
            hint.map(|(m, args)| lang.t(m, args)),
        )
    })
}

/// A problem whose message and hint `say` writes in each language.
pub(super) fn problem_by(
    path: impl Into<String>,
    say: impl Fn(Lang) -> (String, Option<String>),
) -> Problem {
    let (message, hint) = say(Lang::En);
    Problem {
        path: path.into(),
        message,
        hint,
        zh: Some(say(Lang::ZhCn)),
    }
}
