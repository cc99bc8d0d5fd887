//! `email:`: the SMTP server Synapse sends mail through, checked into `Email`.

use std::path::PathBuf;

use super::error::{Problem, problem_t};
use super::messages::M;
use super::raw::{RawEmail, SmtpTls};
use super::validate::domain_problem_key;

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
            problems.push(problem_t(
                "email.smtp_host",
                (M::Missing, &[]),
                Some((M::SmtpHostFix, &[])),
            ));
            None
        }
        Some(host) if host.parse::<std::net::IpAddr>().is_ok() => Some(host.to_string()),
        Some(host) => match domain_problem_key(host) {
            None => Some(host.to_ascii_lowercase()),
            Some(hint) => {
                // Said for SMTP: a port belongs in `email.smtp_port`.
                let hint = match hint {
                    M::DomainPort => M::SmtpHostPort,
                    other => other,
                };
                problems.push(problem_t(
                    "email.smtp_host",
                    (M::NotHost, &[&host]),
                    Some((hint, &[])),
                ));
                None
            }
        },
    };
    let tls = raw.tls.unwrap_or_default();
    let smtp_port = match raw.smtp_port {
        Some(0) => {
            problems.push(problem_t(
                "email.smtp_port",
                (M::PortZero, &[]),
                Some((M::SmtpPortFix, &[])),
            ));
            0
        }
        Some(port) => port,
        None => tls.default_port(),
    };
    let login = match (raw.user, raw.password_file) {
        (None, None) => None,
        (Some(_), None) => {
            problems.push(problem_t(
                "email.password_file",
                (M::PasswordFileMissing, &[]),
                Some((M::PasswordFileFix, &[])),
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(problem_t(
                "email.user",
                (M::UserMissing, &[]),
                Some((M::UserFix, &[])),
            ));
            None
        }
        (Some(user), Some(password_file)) => {
            if user.is_empty() || user.contains(char::is_control) {
                problems.push(problem_t("email.user", (M::UserBad, &[]), None));
            }
            if !password_file.is_absolute() {
                problems.push(problem_t(
                    "email.password_file",
                    (M::NotAbsolute, &[&password_file.display()]),
                    Some((M::PasswordPathFix, &[])),
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
            problems.push(problem_t(
                "email.from",
                (M::Missing, &[]),
                Some((M::FromFix, &[])),
            ));
            None
        }
        Some(from) if !sender_ok(&from) => {
            problems.push(problem_t(
                "email.from",
                (M::NotSender, &[&from]),
                Some((M::NotSenderFix, &[])),
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
                && domain_problem_key(host).is_none()
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
