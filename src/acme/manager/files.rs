//! `tls:` in the config: the user's own certificate files, loaded and watched for changes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use crate::acme::AcmeError;
use crate::acme::certinfo::{self, CertFacts};
use crate::config::TlsFiles;
use crate::diagnostic::one_line;
use crate::tls::{self, CertStore};

/// How often the user's certificate files are looked at for changes.
pub(super) const FILES_POLL: StdDuration = StdDuration::from_secs(2);

pub(super) fn load_files(
    files: &TlsFiles,
) -> Result<(CertifiedKey, CertFacts, tls::Pem), AcmeError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| AcmeError::Read {
            what: "the certificate file",
            path: path.to_path_buf(),
            source,
        })
    };
    let (chain, key_pem) = (read(&files.cert)?, read(&files.key)?);
    let bad = |source| AcmeError::Files {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    };
    let key = tls::certified_key_from_pem(&chain, &key_pem).map_err(bad)?;
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        key.keys_match()
    {
        return Err(AcmeError::Files {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source: tls::TlsError::Key(rustls::Error::InconsistentKeys(
                rustls::InconsistentKeys::KeyMismatch,
            )),
        });
    }
    let facts = certinfo::from_pem(&chain).map_err(|reason| AcmeError::BadCertificate {
        source_name: files.cert.display().to_string(),
        reason,
    })?;
    let pem = tls::Pem {
        chain: String::from_utf8_lossy(&chain).into_owned(),
        key: String::from_utf8_lossy(&key_pem).into_owned(),
    };
    Ok((key, facts, pem))
}

/// What identifies a version of a file: an editor's rename or an in-place write changes one.
fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Reloads the user's files when they change; a broken update keeps the previous certificate.
pub(super) async fn watch_files(
    files: &TlsFiles,
    names: &[String],
    store: &CertStore,
    shutdown: CancellationToken,
) {
    let mut seen = (stamp(&files.cert), stamp(&files.key));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FILES_POLL) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = (stamp(&files.cert), stamp(&files.key));
        if now == seen {
            continue;
        }
        seen = now;
        match load_files(files) {
            Ok((key, facts, pem)) => {
                tracing::info!(cert = %files.cert.display(), not_after = %facts.validity.not_after, "reloaded the certificate files");
                store.install_pem(names, Arc::new(key), pem);
            }
            // Often a half-done update (certificate written, key not yet): the next change fixes it.
            Err(e) => tracing::warn!(error = %one_line(&e), "keeping the current certificate"),
        }
    }
}
