//! `backup create`: the database dumped online, then everything into one archive written to a
//! temporary file (0600) that is renamed into place only once its manifest is complete.

use std::io::{BufWriter, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::io::AsyncSeekExt;

use super::archive::Writer;
use super::manifest::{FORMAT, Manifest};
use super::messages::M;
use super::{BackupError, CONFIG_MEMBER, DATABASE_MEMBER, SECRETS_PREFIX, database, media};
use crate::config::Config;
use crate::docker::{Engine, Runtime};
use crate::fsio::{self, Dir};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::secrets::Secrets;
use crate::stack::Names;

/// What a finished backup reports.
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub archive_bytes: u64,
    pub seconds: f64,
}

/// `<server>-<UTC time>.tar.gz` under the state dir's `backups` (0700).
pub fn default_output(paths: &Paths, server_name: &str, now: time::OffsetDateTime) -> PathBuf {
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("a valid format");
    paths
        .state()
        .join("backups")
        .join(format!("{server_name}-{stamp}.tar.gz"))
}

/// `ed25519:a_xyz` from the key file's `ed25519 a_xyz <seed>`: names the key, never shows it.
pub fn signing_key_id(line: &str) -> String {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(alg), Some(id)) => format!("{alg}:{id}"),
        _ => "unknown".into(),
    }
}

/// In `dir`, beside the archive `out` will be: its `.partial` file, 0600 and named so that nobody
/// takes it for a backup (`verify` refuses it, having no manifest, if it stays), and the spool the
/// dump goes to first (its size goes before it in the archive): a file with no name and 0600, so
/// nobody else can open it, gone with the process.
pub(crate) fn partial_and_spool(
    dir: &Path,
    out: &Path,
) -> Result<(tempfile::NamedTempFile, tokio::fs::File), BackupError> {
    let write_err = |source| BackupError::Write {
        path: out.to_path_buf(),
        source,
    };
    let partial = tempfile::Builder::new()
        .prefix(".matrixbox-backup-")
        .suffix(".partial")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(write_err)?;
    let spool = tempfile::tempfile_in(dir).map_err(write_err)?;
    spool
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(write_err)?;
    Ok((partial, tokio::fs::File::from_std(spool)))
}

/// The dump into the spool; started again from an empty spool when an object was dropped while
/// it ran (a race with Synapse's own work, gone on the next try).
async fn dump_whole(
    engine: &Engine,
    container: &str,
    spool: &mut tokio::fs::File,
    out: &Path,
) -> Result<(), BackupError> {
    let mut attempt = 1;
    loop {
        match database::dump(engine, container, spool).await {
            Err(BackupError::Dump { output, .. })
                if attempt < database::DUMP_ATTEMPTS && database::dropped_during_dump(&output) =>
            {
                tracing::info!(attempt, %output, "an object was dropped during the dump; dumping again");
                let rewound = async {
                    spool.set_len(0).await?;
                    spool.rewind().await
                };
                rewound.await.map_err(|source| BackupError::Write {
                    path: out.to_path_buf(),
                    source,
                })?;
                attempt += 1;
            }
            done => return done,
        }
    }
}

pub async fn create(
    paths: &Paths,
    config: &Config,
    secrets: &Secrets,
    engine: &Engine,
    output: Option<PathBuf>,
    lang: Lang,
) -> Result<Created, BackupError> {
    let started = Instant::now();
    let names = Names::of(&config.instance);
    if !engine
        .inspect(&names.postgres)
        .await?
        .is_some_and(|o| o.running)
    {
        return Err(BackupError::NotRunning {
            container: names.postgres.clone(),
        });
    }
    let postgres_version = database::postgres_version(engine, &names.postgres).await?;
    let synapse_version = match database::synapse_version(engine, &names.synapse).await {
        Some(v) => v,
        // Synapse stopped: the version its image names is the one that wrote the schema.
        None => super::manifest::image_version(&config.synapse_image)
            .map(|v| v.iter().map(u32::to_string).collect::<Vec<_>>().join("."))
            .unwrap_or_else(|| "unknown".into()),
    };
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero is a valid nanosecond");
    let out = match output {
        Some(path) => path,
        None => {
            let path = default_output(paths, &config.server_name, now);
            fsio::ensure_dir(path.parent().expect("under backups"), 0o700)?;
            path
        }
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (partial, mut spool) = partial_and_spool(&dir, &out)?;
    let bar = super::progress(lang.t(M::Dumping, &[]), false);
    dump_whole(engine, &names.postgres, &mut spool, &out).await?;
    bar.finish_and_clear();
    let spool = spool.into_std().await;

    let manifest = Manifest {
        format: FORMAT,
        created: now
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a valid time"),
        server_name: config.server_name.clone(),
        matrixbox_version: env!("CARGO_PKG_VERSION").into(),
        synapse_version,
        postgres_version,
        signing_key_id: signing_key_id(&secrets.signing_key),
        members: vec![],
    };
    let paths = paths.clone();
    let target = out.clone();
    let bar = super::progress(
        format!("{} {}", lang.t(M::Writing, &[]), out.display()),
        true,
    );
    let progress = bar.clone();
    let (manifest, archive_bytes) = tokio::task::spawn_blocking(move || {
        write_archive(&paths, spool, partial, &target, manifest, &progress)
    })
    .await
    .expect("archive writing does not panic")?;
    bar.finish_and_clear();
    Ok(Created {
        path: out,
        manifest,
        archive_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_archive(
    paths: &Paths,
    mut spool: std::fs::File,
    partial: tempfile::NamedTempFile,
    out: &Path,
    manifest: Manifest,
    progress: &indicatif::ProgressBar,
) -> Result<(Manifest, u64), BackupError> {
    let write_err = |source| BackupError::Write {
        path: out.to_path_buf(),
        source,
    };
    let file = partial.as_file().try_clone().map_err(write_err)?;
    let mut writer = Writer::new(BufWriter::new(file));

    let config = std::fs::read(&paths.config).map_err(|source| BackupError::Open {
        path: paths.config.clone(),
        source,
    })?;
    writer
        .append(CONFIG_MEMBER, config.len() as u64, &config[..], progress)
        .map_err(write_err)?;

    let secrets = Dir::open_trusted(&paths.secrets_dir())?;
    for name in secrets.entries()? {
        // Root's own directory: anything but a regular file there is not a secret.
        match secrets.open_regular(&name) {
            Ok(Some((file, size))) => {
                let member = format!("{SECRETS_PREFIX}{name}");
                writer
                    .append(&member, size, file, progress)
                    .map_err(write_err)?;
            }
            Ok(None) => {}
            Err(e) if e.is_refusal() => tracing::warn!("left out of the backup: {e}: {}", e.source),
            Err(e) => return Err(e.into()),
        }
    }

    let size = spool.seek(std::io::SeekFrom::End(0)).map_err(write_err)?;
    spool.rewind().map_err(write_err)?;
    writer
        .append(DATABASE_MEMBER, size, &mut spool, progress)
        .map_err(write_err)?;
    drop(spool);

    media::add_all(paths, &mut writer, progress, out)?;

    let (buffered, manifest) = writer.finish(manifest).map_err(write_err)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    let bytes = file.metadata().map_err(write_err)?.len();
    // Only now does a file by the backup's name exist, complete and synced.
    partial.persist(out).map_err(|e| write_err(e.error))?;
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
    }
    Ok((manifest, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_is_the_server_and_utc_time_under_the_state_dir() {
        let paths = Paths::new("/etc/m.yaml", "/var/lib/m");
        let now = time::macros::datetime!(2026-11-27 20:05:09 UTC);
        assert_eq!(
            default_output(&paths, "example.org", now),
            Path::new("/var/lib/m/backups/example.org-20261127T200509Z.tar.gz")
        );
    }

    #[test]
    fn the_signing_key_is_named_not_shown() {
        assert_eq!(
            signing_key_id("ed25519 a_1b2c SECRETSEED"),
            "ed25519:a_1b2c"
        );
        assert_eq!(signing_key_id(""), "unknown");
    }
}
