//! `email:`: the SMTP server Synapse sends mail through, checked into `Email`.

use std::path::PathBuf;

use super::error::{Problem, problem};
use super::raw::{RawEmail, SmtpTls};
use super::validate::domain_problem;

/// The validated `email:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// A host name (lower-cased) or an IP address.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// The login; `None`: the server takes mail without one (a local relay).
    pub login: Option<SmtpLogin>,
    /// The sender as written, e.g. `Matrix <matrix@example.com>`.
    pub from: String,
    pub notifications: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SmtpLogin {
    pub user: String,
    /// Absolute; read when Synapse's config is written and by `doctor`, never copied elsewhere.
    pub password_file: PathBuf,
}

impl SmtpTls {
    /// The port each mode is usually served on.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::Off => 25,
        }
    }
}

pub(super) fn check_email(raw: Option<RawEmail>, problems: &mut Vec<Problem>) -> Option<Email> {
    let raw = raw?;
    let before = problems.len();
    let smtp_host = match raw.smtp_host.as_deref() {
        None => {
            problems.push(problem(
                "email.smtp_host",
                "missing",
                Some(
                    "name the SMTP server that sends this server's mail, e.g. `smtp.example.com`"
                        .into(),
                ),
            ));
            None
        }
        Some(host) if host.parse::<std::net::IpAddr>().is_ok() => Some(host.to_string()),
        Some(host) => match domain_problem(host, crate::i18n::Lang::En) {
            None => Some(host.to_ascii_lowercase()),
            Some(hint) => {
                problems.push(problem(
                    "email.smtp_host",
                    format!("`{host}` is not a host name or IP address"),
                    Some(hint.replace("matrixbox serves on 443", "set `email.smtp_port`")),
                ));
                None
            }
        },
    };
    let tls = raw.tls.unwrap_or_default();
    let smtp_port = match raw.smtp_port {
        Some(0) => {
            problems.push(problem(
                "email.smtp_port",
                "0 is not a port",
                Some("587 for STARTTLS, 465 for `tls: implicit`".into()),
            ));
            0
        }
        Some(port) => port,
        None => tls.default_port(),
    };
    let login = match (raw.user, raw.password_file) {
        (None, None) => None,
        (Some(_), None) => {
            problems.push(problem(
                "email.password_file",
                "missing: `email.user` is set",
                Some("write the SMTP password alone into a file readable only by root (`chmod 600`), e.g. `/etc/matrixbox/smtp-password`, and name it here".into()),
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(problem(
                "email.user",
                "missing: `email.password_file` is set",
                Some("write the SMTP login name, or remove `password_file` for a server that needs no login".into()),
            ));
            None
        }
        (Some(user), Some(password_file)) => {
            if user.is_empty() || user.contains(char::is_control) {
                problems.push(problem(
                    "email.user",
                    "is empty or has control characters",
                    None,
                ));
            }
            if !password_file.is_absolute() {
                problems.push(problem(
                    "email.password_file",
                    format!("`{}` is not an absolute path", password_file.display()),
                    Some("e.g. `/etc/matrixbox/smtp-password`".into()),
                ));
            }
            Some(SmtpLogin {
                user,
                password_file,
            })
        }
    };
    let from = match raw.from {
        None => {
            problems.push(problem(
                "email.from",
                "missing",
                Some("the sender of this server's mail, e.g. `Matrix <matrix@example.com>`".into()),
            ));
            None
        }
        Some(from) if !sender_ok(&from) => {
            problems.push(problem(
                "email.from",
                format!("`{from}` is not a sender address"),
                Some("write `name@example.com` or `Name <name@example.com>`".into()),
            ));
            None
        }
        Some(from) => Some(from),
    };
    if problems.len() > before {
        return None;
    }
    Some(Email {
        smtp_host: smtp_host?,
        smtp_port,
        tls,
        login,
        from: from?,
        notifications: raw.notifications.unwrap_or(true),
    })
}

/// `a@b.c` or `Name <a@b.c>`, on one line (a line break would inject mail headers).
fn sender_ok(from: &str) -> bool {
    if from.contains(char::is_control) {
        return false;
    }
    let address = match from.rsplit_once('<') {
        Some((_, rest)) => match rest.strip_suffix('>') {
            Some(address) => address,
            None => return false,
        },
        None => from.trim(),
    };
    match address.split_once('@') {
        Some((local, host)) => {
            !local.is_empty()
                && !host.contains('@')
                && !address.contains(char::is_whitespace)
                && host.contains('.')
                && domain_problem(host, crate::i18n::Lang::En).is_none()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders() {
        for ok in [
            "matrix@example.com",
            "Matrix <matrix@example.com>",
            "\"Our Server\" <noreply@mail.example.org>",
        ] {
            assert!(sender_ok(ok), "{ok}");
        }
        for bad in [
            "matrix",
            "Matrix <matrix@example.com",
            "a@b@example.com",
            "me@localhost",
            "Matrix <m@example.com>\nBcc: x@evil.test",
            "a b@example.com",
        ] {
            assert!(!sender_ok(bad), "{bad}");
        }
    }
}
