//! Synapse's `email:` settings (password resets, notifications) from matrixbox's `email:`
//! section, and the SMTP password file they need.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use super::messages::M;
use crate::config::{Email, SmtpLogin, SmtpTls};
use crate::i18n::tr;
use crate::secrets::Redacted;
use crate::yaml::{Mapping, Value};

/// A password file longer than this is not a password.
const PASSWORD_LIMIT: u64 = 4096;

/// The SMTP password, as read from `email.password_file`; `Debug` shows none of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    pub fn expose(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub fn for_tests(text: &str) -> SmtpPassword {
        SmtpPassword(text.into())
    }
}

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Redacted.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}", tr(M::PasswordFile, &[&path.display(), reason]))]
pub struct PasswordFileError {
    pub path: PathBuf,
    pub reason: PasswordProblem,
}

fn octal(mode: &u32) -> String {
    format!("{mode:o}")
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordProblem {
    #[error("{0}")]
    Read(#[source] std::io::Error),
    #[error("{}", tr(M::NotAFile, &[]))]
    NotAFile,
    #[error("{}", tr(M::Readable, &[&octal(.0)]))]
    Readable(u32),
    #[error("{}", tr(M::Empty, &[]))]
    Empty,
    #[error("{}", tr(M::NotOneLine, &[]))]
    NotOneLine,
}

impl crate::diagnostic::Diagnostic for PasswordFileError {
    fn hint(&self) -> Option<String> {
        let path = self.path.display();
        Some(match self.reason {
            PasswordProblem::Readable(_) => tr(M::ChmodHint, &[&path]),
            _ => tr(M::PasswordHint, &[&path]),
        })
    }
}

/// Reads the password file, refusing one that group or others can read (it is copied only into
/// Synapse's config, which is root's and Synapse's alone). A final line break is not part of it.
pub fn read_password(login: &SmtpLogin) -> Result<SmtpPassword, PasswordFileError> {
    let error = |reason| PasswordFileError {
        path: login.password_file.clone(),
        reason,
    };
    // O_NONBLOCK: a FIFO put in its place must not hang the open. Links are followed: a link to
    // a root-owned secret elsewhere is a fair way to share it, and the mode checked is the target's.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&login.password_file)
        .map_err(|e| error(PasswordProblem::Read(e)))?;
    let meta = file
        .metadata()
        .map_err(|e| error(PasswordProblem::Read(e)))?;
    if !meta.is_file() {
        return Err(error(PasswordProblem::NotAFile));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(error(PasswordProblem::Readable(meta.mode() & 0o7777)));
    }
    let mut text = String::new();
    file.take(PASSWORD_LIMIT)
        .read_to_string(&mut text)
        .map_err(|e| error(PasswordProblem::Read(e)))?;
    password_from_text(text).map_err(error)
}

/// Pure: the file's text -> the password (one line, a final line break dropped).
fn password_from_text(mut text: String) -> Result<SmtpPassword, PasswordProblem> {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(PasswordProblem::Empty);
    }
    if text.contains(['\n', '\r', '\0']) {
        return Err(PasswordProblem::NotOneLine);
    }
    Ok(SmtpPassword(text))
}

/// Synapse's `email:` mapping. Synapse verifies the server's certificate whenever TLS is used.
pub fn settings(email: &Email, password: Option<&SmtpPassword>) -> Mapping {
    let mut m = Mapping::new();
    let mut set = |key: &str, value: Value| {
        m.insert(Value::from(key), value);
    };
    set("smtp_host", email.smtp_host.as_str().into());
    set("smtp_port", email.smtp_port.into());
    match email.tls {
        SmtpTls::Starttls => set("require_transport_security", true.into()),
        SmtpTls::Implicit => set("force_tls", true.into()),
        SmtpTls::Off => set("enable_tls", false.into()),
    }
    if let Some(login) = &email.login {
        set("smtp_user", login.user.as_str().into());
    }
    if let Some(password) = password {
        set("smtp_pass", password.expose().into());
    }
    set("notif_from", email.from.as_str().into());
    set("enable_notifs", email.notifications.into());
    let mut out = Mapping::new();
    out.insert("email".into(), Value::Mapping(m));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn password_text() {
        assert_eq!(
            password_from_text("s3cret\n".into()).unwrap().expose(),
            "s3cret"
        );
        assert_eq!(
            password_from_text("s3 cret\r\n".into()).unwrap().expose(),
            "s3 cret"
        );
        assert_eq!(
            password_from_text("s3cret".into()).unwrap().expose(),
            "s3cret"
        );
        assert!(matches!(
            password_from_text("\n".into()),
            Err(PasswordProblem::Empty)
        ));
        assert!(matches!(
            password_from_text("a\nb\n".into()),
            Err(PasswordProblem::NotOneLine)
        ));
        assert_eq!(format!("{:?}", SmtpPassword("s3cret".into())), "<redacted>");
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smtp-password");
        std::fs::write(&path, "s3cret\n").unwrap();
        let login = SmtpLogin {
            user: "u".into(),
            password_file: path.clone(),
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password(&login).unwrap_err();
        assert!(matches!(e.reason, PasswordProblem::Readable(0o644)), "{e}");
        let hint = crate::diagnostic::Diagnostic::hint(&e).unwrap();
        assert!(
            hint.contains(&format!("chmod 600 {}", path.display())),
            "{hint}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&login).unwrap().expose(), "s3cret");
        let missing = SmtpLogin {
            user: "u".into(),
            password_file: dir.path().join("nope"),
        };
        assert!(matches!(
            read_password(&missing).unwrap_err().reason,
            PasswordProblem::Read(_)
        ));
        let dir_login = SmtpLogin {
            user: "u".into(),
            password_file: dir.path().to_path_buf(),
        };
        assert!(matches!(
            read_password(&dir_login).map_err(|e| e.reason),
            Err(PasswordProblem::NotAFile | PasswordProblem::Readable(_))
        ));
    }
}
