//! Off-host copies (`backup.offsite`): each archive pushed to an S3-compatible bucket, encrypted
//! to an age public key first when one is configured (the bucket then holds only ciphertext),
//! the oldest scheduled ones pruned there, and fetched back (decrypted with the matching
//! identity) for `backup verify` and `backup restore`.
//!
//! `s3` speaks to the bucket, `crypt` holds the age side and the credential files.

mod crypt;
pub mod s3;

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::messages::M;
use crate::config::Offsite;
use crate::diagnostic::Diagnostic;
use crate::i18n::{phrase, tr};

pub use crypt::KeyProblem;
pub use s3::Object;

/// The suffix of an encrypted archive's key.
pub const AGE_SUFFIX: &str = ".age";

#[derive(Debug, thiserror::Error)]
pub enum OffsiteError {
    #[error("{}", tr(M::OffNotConfigured, &[]))]
    NotConfigured,
    #[error("{}", tr(M::OffEndpoint, &[endpoint, reason]))]
    Endpoint { endpoint: String, reason: String },
    #[error("{}", tr(M::OffKeyFile, &[&path.display(), key, reason]))]
    KeyFile {
        path: PathBuf,
        key: &'static str,
        reason: KeyProblem,
    },
    #[error("{}", tr(M::OffUnreachable, &[endpoint, &phrase(what), attempts, reason]))]
    Unreachable {
        endpoint: String,
        what: &'static str,
        attempts: u32,
        reason: String,
    },
    #[error("{}", tr(M::OffRefused, &[endpoint, &phrase(what), bucket, status, message]))]
    Refused {
        endpoint: String,
        bucket: String,
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("{}", tr(M::OffBadAnswer, &[endpoint, &phrase(what), reason]))]
    BadAnswer {
        endpoint: String,
        what: &'static str,
        reason: String,
    },
    #[error("{}", tr(M::OffNoSuchKey, &[key, bucket]))]
    NoSuchKey { key: String, bucket: String },
    #[error("{}", tr(M::OffNotAFile, &[&path.display()]))]
    NotAFile { path: PathBuf },
    #[error("{}", tr(M::OffOutputExists, &[&path.display()]))]
    OutputExists { path: PathBuf },
    #[error("{}", tr(M::OffNeedsIdentity, &[key]))]
    NeedsIdentity { key: String },
    #[error("{}", tr(M::OffWrongIdentity, &[&identity.display(), key]))]
    WrongIdentity { key: String, identity: PathBuf },
    #[error("{}", tr(M::OffIdentity, &[&path.display(), reason]))]
    Identity { path: PathBuf, reason: String },
    #[error("{}", tr(M::OffCrypt, &[&phrase(what), reason]))]
    Crypt { what: &'static str, reason: String },
    #[error("{}", tr(M::OffLocal, &[&path.display()]))]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for OffsiteError {
    fn hint(&self) -> Option<String> {
        use OffsiteError::*;
        Some(match self {
            NotConfigured => tr(M::OffNotConfiguredHint, &[]),
            Endpoint { .. } => tr(M::OffEndpointHint, &[]),
            KeyFile {
                path,
                reason: KeyProblem::Readable(_),
                ..
            } => tr(M::OffChmodHint, &[&path.display()]),
            KeyFile { path, key, .. } => tr(M::OffKeyHint, &[&path.display(), key]),
            Unreachable { .. } => tr(M::OffUnreachableHint, &[]),
            Refused { status: 403, .. } => tr(M::OffForbiddenHint, &[]),
            Refused { status: 404, .. } => tr(M::OffNoBucketHint, &[]),
            Refused { .. } | BadAnswer { .. } => tr(M::OffServiceHint, &[]),
            NoSuchKey { .. } => tr(M::OffNoSuchKeyHint, &[]),
            NotAFile { .. } => tr(M::OffNotAFileHint, &[]),
            OutputExists { .. } => tr(M::OffOutputExistsHint, &[]),
            NeedsIdentity { .. } => tr(M::OffNeedsIdentityHint, &[]),
            WrongIdentity { .. } => tr(M::OffWrongIdentityHint, &[]),
            Identity { .. } => tr(M::OffIdentityHint, &[]),
            Crypt { .. } => tr(M::OffCryptHint, &[]),
            Local { .. } => tr(M::OffLocalHint, &[]),
        })
    }
}

/// An archive now in the bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    pub key: String,
    /// What went over the wire (the ciphertext, when encrypted).
    pub bytes: u64,
    pub encrypted: bool,
    pub seconds: f64,
}

/// A fetched archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub bytes: u64,
    pub decrypted: bool,
}

/// Pure: the key of the archive named `name`.
pub fn object_key(prefix: &str, name: &str, encrypted: bool) -> String {
    format!("{prefix}{name}{}", if encrypted { AGE_SUFFIX } else { "" })
}

/// Pure: the scheduled archives of `server_name` among `keys` that go, oldest first, so that
/// the newest `keep` stay; other objects under the prefix are never touched.
pub fn remote_to_prune(keys: &[String], prefix: &str, server_name: &str, keep: u32) -> Vec<String> {
    let named: Vec<(String, &String)> = keys
        .iter()
        .filter_map(|key| {
            let name = key.strip_prefix(prefix)?;
            let name = name.strip_suffix(AGE_SUFFIX).unwrap_or(name);
            (!name.contains('/')).then(|| (name.to_string(), key))
        })
        .collect();
    let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    let going = super::schedule::to_prune(&names, server_name, keep);
    named
        .into_iter()
        .filter(|(name, _)| going.contains(name))
        .map(|(_, key)| key.clone())
        .collect()
}

fn store(config: &Offsite) -> Result<s3::Store, OffsiteError> {
    let access = crypt::read_key_file(&config.access_key_file, "backup.offsite.access_key_file")?;
    let secret = crypt::read_key_file(&config.secret_key_file, "backup.offsite.secret_key_file")?;
    s3::Store::new(config, access, secret)
}

/// Copies `file` into the bucket (encrypted first when `recipient` is set). The local file is
/// only read.
pub async fn push(config: &Offsite, file: &Path) -> Result<Pushed, OffsiteError> {
    push_to(&store(config)?, config, file).await
}

async fn push_to(store: &s3::Store, config: &Offsite, file: &Path) -> Result<Pushed, OffsiteError> {
    let started = Instant::now();
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|_| file.is_file())
        .ok_or_else(|| OffsiteError::NotAFile {
            path: file.to_path_buf(),
        })?
        .to_string();
    let key = object_key(&config.prefix, &name, config.recipient.is_some());
    let bytes = match &config.recipient {
        Some(recipient) => {
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let (src, recipient) = (file.to_path_buf(), recipient.clone());
            let sealed =
                tokio::task::spawn_blocking(move || crypt::encrypt(&src, &recipient, &dir))
                    .await
                    .expect("encryption does not panic")?;
            store.upload(sealed.path(), &key).await?
        }
        None => store.upload(file, &key).await?,
    };
    Ok(Pushed {
        key,
        bytes,
        encrypted: config.recipient.is_some(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The daemon's push: the archive, then the bucket's oldest scheduled archives of this server
/// beyond `keep` (a failed removal is logged and retried after the next push).
pub async fn push_scheduled(
    config: &Offsite,
    server_name: &str,
    file: &Path,
) -> Result<Pushed, OffsiteError> {
    let store = store(config)?;
    let pushed = push_to(&store, config, file).await?;
    let keys: Vec<String> = store
        .list(&config.prefix)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    for key in remote_to_prune(&keys, &config.prefix, server_name, config.keep) {
        match store.delete(&key).await {
            Ok(()) => tracing::info!("removed the old off-host backup {key}"),
            Err(e) => tracing::warn!(
                "cannot remove the old off-host backup {key}: {}",
                crate::diagnostic::one_line(&e)
            ),
        }
    }
    Ok(pushed)
}

/// The objects under the prefix, oldest name first.
pub async fn list(config: &Offsite) -> Result<Vec<Object>, OffsiteError> {
    let mut objects = store(config)?.list(&config.prefix).await?;
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

/// Downloads `key` into `output` (0600, never over an existing file), decrypting with the
/// identity file when the object is age-encrypted. Nothing is left at `output` on failure.
pub async fn fetch(
    config: &Offsite,
    key: &str,
    output: &Path,
    identity: Option<&Path>,
) -> Result<Fetched, OffsiteError> {
    if output.exists() {
        return Err(OffsiteError::OutputExists {
            path: output.to_path_buf(),
        });
    }
    // Read before the download: a bad identity file is said before minutes of transfer.
    let identities = identity.map(crypt::read_identities).transpose()?;
    let store = store(config)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let local = |source| OffsiteError::Local {
        path: dir.clone(),
        source,
    };
    let downloaded = crypt::temp_in(&dir).map_err(local)?;
    let mut file = tokio::fs::File::from_std(downloaded.as_file().try_clone().map_err(local)?);
    let bytes = store.download(key, &mut file, output).await?;
    drop(file);
    let encrypted = crypt::is_encrypted(downloaded.path()).map_err(local)?;
    let plain = if encrypted {
        let Some(identities) = identities else {
            return Err(OffsiteError::NeedsIdentity {
                key: key.to_string(),
            });
        };
        let (src, key_name, dir2) = (
            downloaded.path().to_path_buf(),
            key.to_string(),
            dir.clone(),
        );
        let identity = identity.expect("identities come from it").to_path_buf();
        tokio::task::spawn_blocking(move || {
            crypt::decrypt(&src, &identities, &dir2, &key_name, &identity)
        })
        .await
        .expect("decryption does not panic")?
    } else {
        downloaded
    };
    plain.as_file().sync_all().map_err(local)?;
    plain.persist_noclobber(output).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            OffsiteError::OutputExists {
                path: output.to_path_buf(),
            }
        } else {
            OffsiteError::Local {
                path: output.to_path_buf(),
                source: e.error,
            }
        }
    })?;
    Ok(Fetched {
        bytes,
        decrypted: encrypted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_the_archive_name() {
        assert_eq!(
            object_key("mbx/", "ex.org-20261120T030000Z.tar.gz", true),
            "mbx/ex.org-20261120T030000Z.tar.gz.age"
        );
        assert_eq!(object_key("", "a.tar.gz", false), "a.tar.gz");
    }

    #[test]
    fn remote_pruning_keeps_the_newest_of_this_servers_archives_only() {
        let keys: Vec<String> = [
            "mbx/ex.org-20261120T030000Z.tar.gz.age",
            "mbx/ex.org-20261122T030000Z.tar.gz.age",
            "mbx/ex.org-20261121T030000Z.tar.gz",
            "mbx/other.org-20261101T030000Z.tar.gz.age",
            "mbx/ex.org-manual.tar.gz",
            "mbx/sub/ex.org-20261101T030000Z.tar.gz",
            "elsewhere/ex.org-20261101T030000Z.tar.gz",
            "mbx/notes.txt",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            remote_to_prune(&keys, "mbx/", "ex.org", 1),
            [
                "mbx/ex.org-20261120T030000Z.tar.gz.age",
                "mbx/ex.org-20261121T030000Z.tar.gz"
            ]
        );
        assert!(remote_to_prune(&keys, "mbx/", "ex.org", 3).is_empty());
    }
}
