//! The secret side of off-host copies: the S3 key files (0600, one line, never logged), age
//! encryption to the configured recipient and decryption with an identity file, through 0600
//! temporary files beside the archive (never in plain text where others can read).

use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tempfile::NamedTempFile;

use super::OffsiteError;
use crate::backup::messages::M;
use crate::i18n::tr;

/// A key file longer than this holds no key.
const KEY_LIMIT: u64 = 4096;
/// How every age file starts (the header's version line).
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    #[error("{0}")]
    Read(#[source] io::Error),
    #[error("{}", tr(M::KeyNotAFile, &[]))]
    NotAFile,
    #[error("{}", tr(M::KeyReadable, &[&format!("{:o}", .0)]))]
    Readable(u32),
    #[error("{}", tr(M::KeyEmpty, &[]))]
    Empty,
    #[error("{}", tr(M::KeyNotOneLine, &[]))]
    NotOneLine,
}

/// Reads a key file, refusing one that group or others can read. A final line break is not
/// part of the key.
pub fn read_key_file(path: &Path, key: &'static str) -> Result<String, OffsiteError> {
    let error = |reason| OffsiteError::KeyFile {
        path: path.to_path_buf(),
        key,
        reason,
    };
    // O_NONBLOCK: a FIFO put in its place must not hang the open.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| error(KeyProblem::Read(e)))?;
    let meta = file.metadata().map_err(|e| error(KeyProblem::Read(e)))?;
    if !meta.is_file() {
        return Err(error(KeyProblem::NotAFile));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(error(KeyProblem::Readable(meta.mode() & 0o7777)));
    }
    let mut text = String::new();
    file.take(KEY_LIMIT)
        .read_to_string(&mut text)
        .map_err(|e| error(KeyProblem::Read(e)))?;
    key_from_text(text).map_err(error)
}

/// Pure: the file's text -> the key.
fn key_from_text(text: String) -> Result<String, KeyProblem> {
    let key = text.strip_suffix('\n').unwrap_or(&text);
    let key = key.strip_suffix('\r').unwrap_or(key).trim();
    if key.is_empty() {
        return Err(KeyProblem::Empty);
    }
    if key.contains(['\n', '\r', '\0']) {
        return Err(KeyProblem::NotOneLine);
    }
    Ok(key.to_string())
}

/// A 0600 temporary file in `dir`, removed unless persisted.
pub fn temp_in(dir: &Path) -> io::Result<NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(".matrixbox-offsite-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(tmp)
}

/// `src` encrypted to `recipient` into a temporary file in `dir`.
pub fn encrypt(src: &Path, recipient: &str, dir: &Path) -> Result<NamedTempFile, OffsiteError> {
    let recipient: age::x25519::Recipient =
        recipient.parse().map_err(|e: &str| OffsiteError::Crypt {
            what: "read backup.offsite.recipient",
            reason: e.to_string(),
        })?;
    let local = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OffsiteError::Local { path, source }
    };
    let sealed = temp_in(dir).map_err(local(dir))?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| OffsiteError::Crypt {
                what: "encrypt",
                reason: e.to_string(),
            })?;
    let mut input = BufReader::new(fs::File::open(src).map_err(local(src))?);
    let out = BufWriter::new(sealed.as_file().try_clone().map_err(local(dir))?);
    let mut writer = encryptor.wrap_output(out).map_err(local(sealed.path()))?;
    io::copy(&mut input, &mut writer).map_err(local(sealed.path()))?;
    writer
        .finish()
        .and_then(|mut out| out.flush())
        .map_err(local(sealed.path()))?;
    Ok(sealed)
}

/// Whether the file starts as an age file does.
pub fn is_encrypted(path: &Path) -> io::Result<bool> {
    let mut start = Vec::with_capacity(AGE_MAGIC.len());
    fs::File::open(path)?
        .take(AGE_MAGIC.len() as u64)
        .read_to_end(&mut start)?;
    Ok(start == AGE_MAGIC)
}

pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// The identities in an age identity file (as `age-keygen` writes it).
pub fn read_identities(path: &Path) -> Result<Identities, OffsiteError> {
    let error = |reason: String| OffsiteError::Identity {
        path: path.to_path_buf(),
        reason,
    };
    let file = fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let identities = age::IdentityFile::from_buffer(BufReader::new(file))
        .map_err(|e| error(e.to_string()))?
        .into_identities()
        .map_err(|e| error(e.to_string()))?;
    if identities.is_empty() {
        return Err(error("it holds no identity".into()));
    }
    Ok(identities)
}

/// `src` (an age file) decrypted into a temporary file in `dir`; the MAC of every chunk is
/// checked, so a damaged or cut object fails here rather than yielding a wrong archive.
pub fn decrypt(
    src: &Path,
    identities: &Identities,
    dir: &Path,
    key: &str,
    identity: &Path,
) -> Result<NamedTempFile, OffsiteError> {
    let local = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OffsiteError::Local { path, source }
    };
    let input = BufReader::new(fs::File::open(src).map_err(local(src))?);
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| OffsiteError::Crypt {
        what: "decrypt",
        reason: e.to_string(),
    })?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => OffsiteError::WrongIdentity {
                key: key.to_string(),
                identity: identity.to_path_buf(),
            },
            e => OffsiteError::Crypt {
                what: "decrypt",
                reason: e.to_string(),
            },
        })?;
    let plain = temp_in(dir).map_err(local(dir))?;
    let mut out = BufWriter::new(plain.as_file().try_clone().map_err(local(dir))?);
    io::copy(&mut reader, &mut out).map_err(|e| OffsiteError::Crypt {
        what: "decrypt",
        reason: e.to_string(),
    })?;
    out.flush().map_err(local(plain.path()))?;
    drop(out);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn key_files_hold_one_line() {
        assert_eq!(key_from_text("AKIA123\n".into()).unwrap(), "AKIA123");
        assert_eq!(key_from_text("s3cr3t\r\n".into()).unwrap(), "s3cr3t");
        assert!(matches!(key_from_text("\n".into()), Err(KeyProblem::Empty)));
        assert!(matches!(
            key_from_text("a\nb\n".into()),
            Err(KeyProblem::NotOneLine)
        ));
    }

    #[test]
    fn a_key_file_others_can_read_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, "very-secret\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key_file(&path, "backup.offsite.secret_key_file").unwrap_err();
        let text = crate::diagnostic::one_line(&e);
        assert!(text.contains("others can read it (mode 644)"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_key_file(&path, "backup.offsite.secret_key_file").unwrap(),
            "very-secret"
        );
    }

    #[test]
    fn round_trip_and_the_wrong_identity() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.tar.gz");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&plain, &data).unwrap();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        let sealed = encrypt(&plain, &recipient, dir.path()).unwrap();
        assert!(is_encrypted(sealed.path()).unwrap());
        assert!(!is_encrypted(&plain).unwrap());
        let ciphertext = fs::read(sealed.path()).unwrap();
        assert!(!ciphertext.windows(64).any(|w| w == &data[..64]));
        assert_eq!(fs::metadata(sealed.path()).unwrap().mode() & 0o777, 0o600);

        let id_file = dir.path().join("id.txt");
        fs::write(&id_file, identity.to_string().expose_secret()).unwrap();
        let ids = read_identities(&id_file).unwrap();
        let out = decrypt(sealed.path(), &ids, dir.path(), "k", &id_file).unwrap();
        assert_eq!(fs::read(out.path()).unwrap(), data);

        let other = dir.path().join("other.txt");
        let stranger = age::x25519::Identity::generate();
        fs::write(&other, stranger.to_string().expose_secret()).unwrap();
        let ids = read_identities(&other).unwrap();
        assert!(matches!(
            decrypt(sealed.path(), &ids, dir.path(), "k", &other),
            Err(OffsiteError::WrongIdentity { .. })
        ));
    }
}
