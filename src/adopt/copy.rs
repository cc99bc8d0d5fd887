//! The copy of the old server: its database dumped from the running compose PostgreSQL, its
//! signing key and secrets, its media and the new matrixbox.yaml, written as one matrixbox backup
//! archive (0600, renamed into place only when complete) that `backup restore` can read.

use std::io::{BufWriter, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::backup::archive::Writer;
use crate::backup::manifest::Manifest;
use crate::backup::{BackupError, CONFIG_MEMBER, DATABASE_MEMBER, SECRETS_PREFIX, media};
use crate::docker::Engine;
use crate::fsio::{self, Dir};
use crate::paths::Paths;
use crate::secrets;

/// What goes into the copy besides the dump.
pub struct Source {
    /// The compose PostgreSQL container and what to dump there.
    pub postgres: String,
    pub db_user: String,
    pub db_name: String,
    /// Secret file name -> value: the signing key and the secrets homeserver.yaml set.
    pub secrets: Vec<(&'static str, String)>,
    /// The old media store on the host, when there is one.
    pub media: Option<PathBuf>,
    pub config: String,
}

/// `<state>/backups/adopted-<server>-<UTC time>.tar.gz`.
pub fn output(paths: &Paths, server_name: &str, now: time::OffsetDateTime) -> PathBuf {
    let name = crate::backup::create::default_output(paths, server_name, now);
    let file = name.file_name().expect("a file name").to_string_lossy();
    name.with_file_name(format!("adopted-{file}"))
}

/// Writes the archive to `out`; returns its manifest (with every member's checksum).
pub async fn write(
    engine: &Engine,
    paths: &Paths,
    source: Source,
    manifest: Manifest,
    out: &Path,
) -> Result<Manifest, BackupError> {
    let write_err = |e| BackupError::Write {
        path: out.to_path_buf(),
        source: e,
    };
    let dir = out.parent().expect("under backups").to_path_buf();
    fsio::ensure_dir(paths.state(), 0o700)?;
    fsio::ensure_dir(&dir, 0o700)?;
    let (partial, mut spool) = crate::backup::create::partial_and_spool(&dir, out)?;
    // Without owners and grants: the roles of the old installation do not exist under matrixbox;
    // the restore makes Synapse's role the owner of everything.
    let cmd = [
        "pg_dump",
        "-U",
        source.db_user.as_str(),
        "--no-password",
        "-d",
        source.db_name.as_str(),
        "-Fc",
        "--no-owner",
        "--no-privileges",
    ];
    let (code, stderr) = engine.exec_to(&source.postgres, &cmd, &mut spool).await?;
    if code != 0 {
        return Err(BackupError::Dump {
            container: source.postgres.clone(),
            code,
            output: stderr.trim().to_string(),
        });
    }
    let spool = spool.into_std().await;

    // The secrets as matrixbox keeps them: the old ones where homeserver.yaml had them, fresh
    // ones from the CSPRNG for the rest, in a 0700 directory that goes when this ends.
    let staging = tempfile::Builder::new()
        .prefix(".adopt-secrets-")
        .tempdir_in(paths.state())
        .map_err(write_err)?;
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(write_err)?;
    for (name, value) in &source.secrets {
        fsio::write_atomic(
            &staging.path().join(name),
            format!("{value}\n").as_bytes(),
            0o600,
        )?;
    }
    secrets::load_or_create(staging.path()).map_err(|e| write_err(std::io::Error::other(e)))?;

    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let result = write_archive(&source, staging.path(), spool, partial, &out, manifest);
        drop(staging);
        result
    })
    .await
    .expect("archive writing does not panic")
}

fn write_archive(
    source: &Source,
    secrets_dir: &Path,
    mut spool: std::fs::File,
    partial: tempfile::NamedTempFile,
    out: &Path,
    manifest: Manifest,
) -> Result<Manifest, BackupError> {
    let write_err = |e| BackupError::Write {
        path: out.to_path_buf(),
        source: e,
    };
    let progress = indicatif::ProgressBar::hidden();
    let file = partial.as_file().try_clone().map_err(write_err)?;
    let mut writer = Writer::new(BufWriter::new(file));
    let config = source.config.as_bytes();
    writer
        .append(CONFIG_MEMBER, config.len() as u64, config, &progress)
        .map_err(write_err)?;
    let staged = Dir::open_trusted(secrets_dir)?;
    let mut names = staged.entries()?;
    names.sort();
    for name in names {
        if let Some((file, size)) = staged.open_regular(&name)? {
            writer
                .append(&format!("{SECRETS_PREFIX}{name}"), size, file, &progress)
                .map_err(write_err)?;
        }
    }
    let size = spool.seek(std::io::SeekFrom::End(0)).map_err(write_err)?;
    spool.rewind().map_err(write_err)?;
    writer
        .append(DATABASE_MEMBER, size, &mut spool, &progress)
        .map_err(write_err)?;
    if let Some(store) = &source.media {
        // The old media store is Synapse's to write: opened without following a link at its
        // own name, walked by descriptor below it.
        let parent = Dir::open_trusted(store.parent().unwrap_or(Path::new("/")))?;
        let name = store
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(dir) = parent.open_dir(&name)? {
            media::add_store(&dir, &mut writer, &progress, out)?;
        }
    }
    let (buffered, manifest) = writer.finish(manifest).map_err(write_err)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    partial.persist(out).map_err(|e| write_err(e.error))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_named_as_a_backup_of_the_server() {
        let paths = Paths::new("/etc/m.yaml", "/var/lib/m");
        let now = time::macros::datetime!(2026-11-28 01:02:03 UTC);
        assert_eq!(
            output(&paths, "example.org", now),
            Path::new("/var/lib/m/backups/adopted-example.org-20261128T010203Z.tar.gz")
        );
    }
}
