//! Printing an error once, as `error:` / `caused by:` / `hint:`, and choosing the exit code.

use std::error::Error;

use crate::acme::AcmeError;
use crate::adopt::AdoptError;
use crate::backup::BackupError;
use crate::backup::offsite::OffsiteError;
use crate::config::ConfigError;
use crate::diagnostic::{self, Diagnostic, ExitCode};
use crate::docker::DockerError;
use crate::fsio::FsError;
use crate::i18n::{Lang, messages};
use crate::secrets::SecretsError;
use crate::service::ServiceError;
use crate::stack::StackError;
use crate::synapse::admin::AdminError;
use crate::upgrade::UpgradeError;

/// Exits with this code without printing anything more (the command already reported).
#[derive(Debug, thiserror::Error)]
#[error("exit with status {}", .0.code())]
pub struct Exit(pub ExitCode);

impl Diagnostic for Exit {
    fn hint(&self) -> Option<String> {
        None
    }

    fn exit_code(&self) -> Option<ExitCode> {
        Some(self.0)
    }
}

/// An error raised by a command itself, with its hint and exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
    pub code: ExitCode,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            hint: hint.into(),
            code: ExitCode::Failure,
        }
    }

    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            code: ExitCode::Usage,
            ..Hinted::new(message, hint)
        }
    }
}

impl Diagnostic for Hinted {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }

    fn exit_code(&self) -> Option<ExitCode> {
        Some(self.code)
    }
}

type AsDiagnostic = for<'a> fn(&'a (dyn Error + 'static)) -> Option<&'a dyn Diagnostic>;

/// Every error type that implements `Diagnostic`. An error chain holds `dyn Error`, which cannot
/// be asked for another trait, so each type is tried by name: a new one adds its line here.
const DIAGNOSTICS: &[AsDiagnostic] = &[
    as_diagnostic::<Exit>,
    as_diagnostic::<Hinted>,
    as_diagnostic::<ConfigError>,
    as_diagnostic::<ServiceError>,
    as_diagnostic::<StackError>,
    as_diagnostic::<DockerError>,
    as_diagnostic::<SecretsError>,
    as_diagnostic::<FsError>,
    as_diagnostic::<AcmeError>,
    as_diagnostic::<AdminError>,
    as_diagnostic::<BackupError>,
    as_diagnostic::<OffsiteError>,
    as_diagnostic::<UpgradeError>,
    as_diagnostic::<AdoptError>,
];

fn as_diagnostic<'a, T: Diagnostic + 'static>(
    err: &'a (dyn Error + 'static),
) -> Option<&'a dyn Diagnostic> {
    err.downcast_ref::<T>().map(|e| e as &dyn Diagnostic)
}

/// The errors in the chain that say something about themselves, outermost first.
fn diagnostics(err: &anyhow::Error) -> impl Iterator<Item = &dyn Diagnostic> {
    err.chain().filter_map(|e| {
        DIAGNOSTICS
            .iter()
            .find_map(|as_diagnostic| as_diagnostic(e))
    })
}

/// The exit code named by the outermost error that names one; `Failure` otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    diagnostics(err)
        .find_map(|d| d.exit_code())
        .unwrap_or(ExitCode::Failure)
        .code()
}

messages! {
    Error => "error: {0}", "错误：{0}";
    CausedBy => "caused by: {0}", "原因：{0}";
    Hint => "hint: {0}", "提示：{0}";
}

/// Renders the error for a person, in the language of this process. `Exit` renders as nothing.
pub fn render(err: &anyhow::Error) -> String {
    render_in(err, Lang::current())
}

/// Renders the error, its causes and its hint in `lang` (where their types speak it).
pub fn render_in(err: &anyhow::Error, lang: Lang) -> String {
    lang.scope(|| render_scoped(err, lang))
}

fn render_scoped(err: &anyhow::Error, lang: Lang) -> String {
    if err.is::<Exit>() {
        return String::new();
    }
    let mut messages = diagnostic::messages(err.as_ref()).into_iter();
    let first = messages.next().unwrap_or_default();
    let mut out = format!("{}\n", lang.t(M::Error, &[&first]));
    for cause in messages {
        out.push_str(&format!("{}\n", lang.t(M::CausedBy, &[&cause])));
    }
    // The hint of the first error in the chain that has one.
    if let Some(hint) = diagnostics(err).find_map(|d| d.hint()) {
        out.push_str(&format!("{}\n", lang.t(M::Hint, &[&hint])));
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
        let text = render_in(&err, Lang::En);
        assert!(
            text.starts_with("error: cannot load the configuration\ncaused by: /etc/m.yaml has"),
            "{text}"
        );
        assert!(text.contains("did you mean `domain`?"), "{text}");
        assert!(text.contains("\nhint: "), "{text}");
        assert_eq!(exit_code(&err), ExitCode::Config.code());
    }

    #[test]
    fn exit_and_hinted_name_their_exit_code() {
        let exit = anyhow::Error::from(Exit(ExitCode::Unhealthy));
        assert_eq!(render_in(&exit, Lang::ZhCn), "");
        assert_eq!(exit_code(&exit), 3);
        let usage = anyhow::Error::from(Hinted::usage("no domain", "pass --domain"));
        assert_eq!(
            render_in(&usage, Lang::En),
            "error: no domain\nhint: pass --domain\n"
        );
        assert_eq!(exit_code(&usage), 2);
        let plain = anyhow::anyhow!("something broke");
        assert_eq!(render_in(&plain, Lang::En), "error: something broke\n");
        assert_eq!(exit_code(&plain), 1);
    }

    /// One error of each kind a reader meets, built in `lang` (messages built from parts, such
    /// as a container's state, speak the language they were built in).
    fn samples() -> Vec<anyhow::Error> {
        use crate::i18n::tr;
        use crate::synapse::messages::M as Synapse;
        use crate::webclient::bundle::M as Bundle;
        use std::io::{Error as IoError, ErrorKind};
        let fs = |action, kind: ErrorKind| FsError {
            action,
            path: "/var/lib/matrixbox/secrets/form_secret".into(),
            source: IoError::from(kind),
        };
        let full = FsError {
            source: IoError::from_raw_os_error(nix::libc::ENOSPC),
            ..fs("write", ErrorKind::Other)
        };
        vec![
            fs("read", ErrorKind::PermissionDenied).into(),
            full.into(),
            DockerError::TooOld {
                host: "unix:///var/run/docker.sock".into(),
                api: "1.40".into(),
            }
            .into(),
            DockerError::PortInUse {
                object: "matrixbox-synapse".into(),
                port: 8008,
            }
            .into(),
            DockerError::PullFailed {
                image: "postgres:15".into(),
                message: "timeout".into(),
            }
            .into(),
            DockerError::DigestChanged {
                image: "postgres:15".into(),
                recorded: "sha256:aaa".into(),
                found: "sha256:bbb".into(),
                record: "/var/lib/matrixbox/image-digests.json".into(),
            }
            .into(),
            StackError::PostgresMajorChange {
                dir: "/var/lib/matrixbox/postgres".into(),
                data: 14,
                image: "postgres:15".into(),
                wanted: 15,
            }
            .into(),
            ServiceError::Bind {
                addr: "0.0.0.0:443".parse().unwrap(),
                role: "https",
                source: IoError::from(ErrorKind::AddrInUse),
            }
            .into(),
            SecretsError::Missing {
                path: "/var/lib/matrixbox/secrets/macaroon_secret_key".into(),
            }
            .into(),
            AcmeError::Timeout {
                directory: "https://acme-v02.api.letsencrypt.org/directory".into(),
                seconds: 30,
            }
            .into(),
            AcmeError::Challenge {
                name: "example.com".into(),
                kind: "http-01",
                detail: "connection refused".into(),
            }
            .into(),
            AcmeError::NoListener.into(),
            AdminError::NotFound {
                what: tr(Synapse::User, &[&"@bob:example.com"]),
            }
            .into(),
            StackError::SmtpPassword(crate::synapse::email::PasswordFileError {
                path: "/etc/matrixbox/smtp-password".into(),
                reason: crate::synapse::email::PasswordProblem::Readable(0o644),
            })
            .into(),
            StackError::FederationCa(crate::synapse::federation::CaRootError {
                path: "/etc/matrixbox/ca.pem".into(),
                reason: tr(Synapse::NoCertificate, &[]),
            })
            .into(),
            StackError::WebClient(crate::webclient::bundle::BundleError::NotABundle {
                image: "nginx:1".into(),
                why: tr(Bundle::NoAppDir, &[&"/app"]),
            })
            .into(),
            BackupError::NoManifest.into(),
            BackupError::Refused(vec![crate::backup::manifest::Refusal::ServerName {
                backup: "old.example.com".into(),
                here: "example.com".into(),
            }])
            .into(),
            BackupError::ExistingDatabase {
                dir: "/var/lib/matrixbox/postgres".into(),
            }
            .into(),
            crate::backup::offsite::OffsiteError::Unreachable {
                endpoint: "https://s3.example.com".into(),
                what: "uploading",
                attempts: 4,
                reason: "connection refused".into(),
            }
            .into(),
            UpgradeError::Downgrade {
                from: "1.163.2".into(),
                to: "1.150.0".into(),
            }
            .into(),
            UpgradeError::RolledBack {
                from: "1.150.0".into(),
                to: "1.163.2".into(),
                reason: "Synapse did not answer /health within 240s".into(),
            }
            .into(),
            anyhow::Error::from(fs("read", ErrorKind::InvalidData))
                .context(tr(crate::commands::M::CannotLoad, &[])),
        ]
    }

    /// Every error above as a person reads it, in both languages.
    #[test]
    fn errors_and_hints_snapshot_in_both_languages() {
        for (lang, name) in [
            (Lang::En, "errors.en.txt"),
            (Lang::ZhCn, "errors.zh_CN.txt"),
        ] {
            let text: String = lang
                .scope(samples)
                .iter()
                .map(|err| format!("{}exit {}\n\n", render_in(err, lang), exit_code(err)))
                .collect();
            crate::golden::assert_golden(name, &text);
        }
    }

    #[test]
    fn labels_speak_the_readers_language() {
        crate::i18n::assert_complete(M::ALL);
        let err = anyhow::Error::from(Hinted::usage("no domain", "pass --domain"))
            .context("cannot set up");
        assert_eq!(
            render_in(&err, Lang::ZhCn),
            "错误：cannot set up\n原因：no domain\n提示：pass --domain\n"
        );
    }
}
