//! Generated secrets: made once from the OS CSPRNG, stored 0600 under the state dir, never rotated.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use crate::diagnostic::Diagnostic;
use crate::fsio::{self, FsError};
use crate::i18n::{messages, tr};

/// Every field is a secret: `Debug` names them and shows none.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub postgres_password: String,
    pub registration_shared_secret: String,
    pub macaroon_secret_key: String,
    pub form_secret: String,
    /// Synapse's key-file line: `ed25519 <key id> <unpadded base64 seed>`.
    pub signing_key: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be printed by accident.
        let Secrets {
            postgres_password: _,
            registration_shared_secret: _,
            macaroon_secret_key: _,
            form_secret: _,
            signing_key: _,
        } = self;
        f.debug_struct("Secrets")
            .field("postgres_password", &Redacted)
            .field("registration_shared_secret", &Redacted)
            .field("macaroon_secret_key", &Redacted)
            .field("form_secret", &Redacted)
            .field("signing_key", &Redacted)
            .finish()
    }
}

/// Stands in for a secret in `Debug` output.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

const POSTGRES_PASSWORD: &str = "postgres_password";
pub const REGISTRATION_SHARED_SECRET: &str = "registration_shared_secret";
pub const MACAROON_SECRET_KEY: &str = "macaroon_secret_key";
pub const FORM_SECRET: &str = "form_secret";
pub const SIGNING_KEY: &str = "signing.key";
const ADMIN_ACCOUNT_PASSWORD: &str = "admin_account_password";
const TURN_SHARED_SECRET: &str = "turn_shared_secret";

messages! {
    Random => "the operating system's random number generator failed", "操作系统的随机数生成器出错";
    RandomHint => "the kernel's random source is unavailable; check /dev/urandom", "内核随机源不可用；请检查 /dev/urandom";
    Corrupt => "secret file {0} is empty", "密钥文件 {0} 为空";
    CorruptHint => "restore it from a backup: a new value would lock Synapse out of its database and invalidate sessions",
        "请从备份中恢复它：生成新值会使 Synapse 无法访问其数据库，并使现有会话失效";
    Missing => "secret file {0} does not exist", "密钥文件 {0} 不存在";
    MissingHint => "run `matrixbox setup --domain <your domain>` first (or pass the same --state-dir)",
        "请先运行 `matrixbox setup --domain <你的域名>`（或传入相同的 --state-dir）";
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}", tr(M::Random, &[]))]
    Random(#[source] getrandom::Error),
    #[error("{}", tr(M::Corrupt, &[&path.display()]))]
    Corrupt { path: std::path::PathBuf },
    #[error("{}", tr(M::Missing, &[&path.display()]))]
    Missing { path: std::path::PathBuf },
}

impl Diagnostic for SecretsError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            SecretsError::Fs(e) => return e.hint(),
            SecretsError::Random(_) => tr(M::RandomHint, &[]),
            SecretsError::Corrupt { .. } => tr(M::CorruptHint, &[]),
            SecretsError::Missing { .. } => tr(M::MissingHint, &[]),
        })
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SecretsError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(SecretsError::Random)?;
    Ok(buf)
}

fn random_token() -> Result<String, SecretsError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

fn new_signing_key() -> Result<String, SecretsError> {
    let id = hex::encode(random_bytes::<3>()?);
    Ok(format!(
        "ed25519 a_{id} {}",
        STANDARD_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

type Generator = fn() -> Result<String, SecretsError>;

/// Mounted into the PostgreSQL container, which reads the password from it on first start.
pub fn postgres_password_file(dir: &Path) -> PathBuf {
    dir.join(POSTGRES_PASSWORD)
}

/// An invite's registration token: 20 letters and digits from the CSPRNG (119 bits), so a link
/// never begins with `-` (a command line would read an option) or ends in punctuation a mail
/// client leaves out of the link.
pub fn invite_token() -> Result<String, SecretsError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const LEN: usize = 20;
    let mut out = String::with_capacity(LEN);
    while out.len() < LEN {
        for b in random_bytes::<32>()? {
            // 248 = 4 * 62: dropping the bytes above keeps every character equally likely.
            if b < 248 && out.len() < LEN {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// The password of matrixbox's admin service account (`synapse::session`), made on first use.
pub fn admin_account_password(dir: &Path) -> Result<String, SecretsError> {
    one(dir, ADMIN_ACCOUNT_PASSWORD, Some(random_token))
}

/// The secret Synapse signs TURN credentials with and coturn checks them by, made on first use.
pub fn turn_shared_secret(dir: &Path) -> Result<String, SecretsError> {
    one(dir, TURN_SHARED_SECRET, Some(random_token))
}

/// Reads every secret, generating only those that are missing. Existing ones are never changed.
pub fn load_or_create(dir: &Path) -> Result<Secrets, SecretsError> {
    fsio::ensure_dir(dir, 0o700)?;
    read_all(dir, true)
}

/// Reads every secret; a missing one is an error (only `setup` and `run` create them).
pub fn load(dir: &Path) -> Result<Secrets, SecretsError> {
    read_all(dir, false)
}

fn read_all(dir: &Path, create: bool) -> Result<Secrets, SecretsError> {
    let token: Option<Generator> = create.then_some(random_token);
    let key: Option<Generator> = create.then_some(new_signing_key);
    Ok(Secrets {
        postgres_password: one(dir, POSTGRES_PASSWORD, token)?,
        registration_shared_secret: one(dir, REGISTRATION_SHARED_SECRET, token)?,
        macaroon_secret_key: one(dir, MACAROON_SECRET_KEY, token)?,
        form_secret: one(dir, FORM_SECRET, token)?,
        signing_key: one(dir, SIGNING_KEY, key)?,
    })
}

fn one(dir: &Path, name: &str, generate: Option<Generator>) -> Result<String, SecretsError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(SecretsError::Corrupt { path }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let Some(generate) = generate else {
                return Err(SecretsError::Missing { path });
            };
            let value = generate()?;
            fsio::write_atomic(&path, format!("{value}\n").as_bytes(), 0o600)?;
            Ok(value)
        }
        Err(source) => Err(FsError {
            action: "read",
            path,
            source,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn secrets_are_created_once_private_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let secrets_dir = dir.path().join("secrets");
        let first = load_or_create(&secrets_dir).unwrap();
        let second = load_or_create(&secrets_dir).unwrap();
        assert_eq!(first, second, "secrets never rotate");
        assert_eq!(
            std::fs::metadata(&secrets_dir).unwrap().mode() & 0o777,
            0o700
        );
        for entry in std::fs::read_dir(&secrets_dir).unwrap() {
            assert_eq!(entry.unwrap().metadata().unwrap().mode() & 0o777, 0o600);
        }
        assert_ne!(first.postgres_password, first.macaroon_secret_key);
        assert_eq!(first.postgres_password.len(), 43, "256 bits, base64url");
        let parts: Vec<&str> = first.signing_key.split(' ').collect();
        assert_eq!(parts[0], "ed25519");
        assert!(parts[1].starts_with("a_"));
        assert_eq!(STANDARD_NO_PAD.decode(parts[2]).unwrap().len(), 32);
    }

    #[test]
    fn only_missing_secrets_are_generated() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(FORM_SECRET)).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.postgres_password, second.postgres_password);
        assert_ne!(first.form_secret, second.form_secret);
    }

    #[test]
    fn an_emptied_secret_is_an_error_not_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        std::fs::write(dir.path().join(POSTGRES_PASSWORD), "").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(SecretsError::Corrupt { .. })
        ));
    }

    #[test]
    fn invite_tokens_are_alphanumeric_and_distinct() {
        let a = invite_token().unwrap();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, invite_token().unwrap());
    }

    #[test]
    fn debug_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = load_or_create(dir.path()).unwrap();
        let shown = format!("{secrets:?}");
        assert!(shown.contains("postgres_password: <redacted>"), "{shown}");
        for secret in [
            &secrets.postgres_password,
            &secrets.registration_shared_secret,
            &secrets.macaroon_secret_key,
            &secrets.form_secret,
            &secrets.signing_key,
        ] {
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
        let seed = secrets.signing_key.rsplit(' ').next().unwrap();
        assert!(!shown.contains(seed), "{shown}");
    }

    #[test]
    fn load_never_creates() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(SecretsError::Missing { .. })
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
