//! The certificate manager's files under the state dir: the ACME account, each certificate with
//! its key and metadata, and the renewal state. Every write is atomic; private keys are 0600.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AcmeError;
use super::schedule::RenewalState;
use crate::fsio;
use crate::paths::Paths;
use crate::secrets::Redacted;

/// A certificate with its key, as stored and served. `Debug` hides the key.
#[derive(Clone)]
pub struct StoredCert {
    pub chain_pem: String,
    pub key_pem: String,
    pub meta: Meta,
}

impl fmt::Debug for StoredCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCert")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &Redacted)
            .field("meta", &self.meta)
            .finish()
    }
}

/// What the certificate files do not say themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// `internal` or the ACME directory URL it came from.
    pub source: String,
    /// The names it was requested for.
    pub names: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub obtained: OffsetDateTime,
}

/// `Debug` hides the credentials: they hold the account's private key.
#[derive(Serialize, Deserialize)]
pub struct StoredAccount {
    /// The directory the account belongs to; another directory needs another account.
    pub directory: String,
    pub credentials: AccountCredentials,
}

impl fmt::Debug for StoredAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAccount")
            .field("directory", &self.directory)
            .field("credentials", &Redacted)
            .finish()
    }
}

fn read(what: &'static str, path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AcmeError::Read {
            what,
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn corrupt(what: &'static str, path: &Path, reason: impl ToString) -> AcmeError {
    AcmeError::Corrupt {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

pub struct CertFiles {
    pub dir: PathBuf,
    pub chain: PathBuf,
    pub key: PathBuf,
    pub meta: PathBuf,
}

pub fn cert_files(paths: &Paths, primary: &str) -> CertFiles {
    let dir = paths.cert_dir(primary);
    CertFiles {
        chain: dir.join("fullchain.pem"),
        key: dir.join("key.pem"),
        meta: dir.join("meta.json"),
        dir,
    }
}

/// Writes key, chain, then metadata. The three renames are not one atomic step, so `load_cert`
/// checks that key and certificate belong together.
pub fn save_cert(paths: &Paths, primary: &str, cert: &StoredCert) -> Result<(), AcmeError> {
    let files = cert_files(paths, primary);
    fsio::ensure_dir(&paths.certs_dir(), 0o700)?;
    fsio::ensure_dir(&files.dir, 0o700)?;
    fsio::write_atomic(&files.key, cert.key_pem.as_bytes(), 0o600)?;
    fsio::write_atomic(&files.chain, cert.chain_pem.as_bytes(), 0o644)?;
    let meta = serde_json::to_vec_pretty(&cert.meta).expect("metadata serialises");
    fsio::write_atomic(&files.meta, &meta, 0o644)?;
    Ok(())
}

/// The stored certificate for `primary`, `None` when there is none yet.
pub fn load_cert(paths: &Paths, primary: &str) -> Result<Option<StoredCert>, AcmeError> {
    let files = cert_files(paths, primary);
    let Some(chain) = read("the stored certificate", &files.chain)? else {
        return Ok(None);
    };
    let key = read("the stored certificate key", &files.key)?.ok_or_else(|| {
        corrupt(
            "the stored certificate",
            &files.key,
            "the key file is missing",
        )
    })?;
    let meta = read("the stored certificate metadata", &files.meta)?.ok_or_else(|| {
        corrupt(
            "the stored certificate",
            &files.meta,
            "the metadata file is missing",
        )
    })?;
    let meta: Meta = serde_json::from_slice(&meta)
        .map_err(|e| corrupt("the stored certificate", &files.meta, e))?;
    let served = crate::tls::certified_key_from_pem(&chain, &key)
        .map_err(|e| corrupt("the stored certificate", &files.dir, e))?;
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        served.keys_match()
    {
        return Err(corrupt(
            "the stored certificate",
            &files.dir,
            "the key does not belong to the certificate",
        ));
    }
    let text = |bytes: Vec<u8>, path: &Path| {
        String::from_utf8(bytes)
            .map_err(|_| corrupt("the stored certificate", path, "not UTF-8 text"))
    };
    Ok(Some(StoredCert {
        chain_pem: text(chain, &files.chain)?,
        key_pem: text(key, &files.key)?,
        meta,
    }))
}

pub fn load_renewal(paths: &Paths) -> Result<Option<RenewalState>, AcmeError> {
    let path = paths.acme_renewal();
    match read("the renewal state", &path)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt("the renewal state", &path, e)),
    }
}

pub fn save_renewal(paths: &Paths, state: &RenewalState) -> Result<(), AcmeError> {
    fsio::ensure_dir(&paths.acme_dir(), 0o700)?;
    let json = serde_json::to_vec_pretty(state).expect("renewal state serialises");
    fsio::write_if_changed(&paths.acme_renewal(), &json, 0o600)?;
    Ok(())
}

pub fn load_account(paths: &Paths) -> Result<Option<StoredAccount>, AcmeError> {
    let path = paths.acme_account();
    match read("the ACME account", &path)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt("the ACME account", &path, e)),
    }
}

pub fn save_account(paths: &Paths, account: &StoredAccount) -> Result<(), AcmeError> {
    fsio::ensure_dir(&paths.acme_dir(), 0o700)?;
    let json = serde_json::to_vec_pretty(account).expect("account serialises");
    fsio::write_atomic(&paths.acme_account(), &json, 0o600)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use std::os::unix::fs::MetadataExt;

    fn self_signed(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn cert_round_trip_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        assert!(load_cert(&paths, "a.org").unwrap().is_none());
        let (chain_pem, key_pem) = self_signed("a.org");
        let meta = Meta {
            source: "internal".into(),
            names: vec!["a.org".into()],
            obtained: time::macros::datetime!(2025-01-01 00:00 UTC),
        };
        save_cert(
            &paths,
            "a.org",
            &StoredCert {
                chain_pem: chain_pem.clone(),
                key_pem,
                meta: meta.clone(),
            },
        )
        .unwrap();
        let back = load_cert(&paths, "a.org").unwrap().unwrap();
        assert_eq!(back.chain_pem, chain_pem);
        assert_eq!(back.meta, meta);
        let files = cert_files(&paths, "a.org");
        assert_eq!(std::fs::metadata(&files.key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&files.dir).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn mismatched_key_is_corrupt_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        let (chain_pem, _) = self_signed("a.org");
        let (_, other_key) = self_signed("a.org");
        let meta = Meta {
            source: "internal".into(),
            names: vec!["a.org".into()],
            obtained: time::OffsetDateTime::now_utc(),
        };
        save_cert(
            &paths,
            "a.org",
            &StoredCert {
                chain_pem,
                key_pem: other_key,
                meta,
            },
        )
        .unwrap();
        let err = load_cert(&paths, "a.org").unwrap_err();
        assert!(err.to_string().contains("a.org"), "{err}");
        let hint = err.hint().unwrap();
        assert!(hint.contains("move"), "{hint}");
    }

    #[test]
    fn debug_hides_keys_and_credentials() {
        let cert = StoredCert {
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n".into(),
            meta: Meta {
                source: "internal".into(),
                names: vec!["a.org".into()],
                obtained: OffsetDateTime::UNIX_EPOCH,
            },
        };
        let shown = format!("{cert:?}");
        assert!(shown.contains("a.org"), "{shown}");
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );

        // "c2VjcmV0LWtleS1ieXRlcw" is base64url for "secret-key-bytes".
        let account: StoredAccount = serde_json::from_str(
            r#"{"directory": "https://ca.test/dir", "credentials": {"id": "https://ca.test/acct/1",
                "key_pkcs8": "c2VjcmV0LWtleS1ieXRlcw", "directory": "https://ca.test/dir"}}"#,
        )
        .unwrap();
        let shown = format!("{account:?}");
        assert!(shown.contains("https://ca.test/dir"), "{shown}");
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("acct/1"),
            "{shown}"
        );
    }

    #[test]
    fn renewal_state_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        assert!(load_renewal(&paths).unwrap().is_none());
        let mut state = RenewalState::default().resume(&["a.org".to_string()]);
        state.failed(
            time::macros::datetime!(2025-01-01 00:00 UTC),
            "refused".into(),
        );
        save_renewal(&paths, &state).unwrap();
        assert_eq!(load_renewal(&paths).unwrap(), Some(state));
        assert_eq!(
            std::fs::metadata(paths.acme_renewal()).unwrap().mode() & 0o777,
            0o600
        );
        std::fs::write(paths.acme_renewal(), "{").unwrap();
        assert!(load_renewal(&paths).is_err());
    }
}
