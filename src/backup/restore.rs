//! `backup restore`: verify the whole archive, refuse what cannot be restored here, put files in
//! place, restore the database beside Synapse's and swap it in when complete, write the
//! configuration last, then bring the stack up until Synapse is healthy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use super::manifest::{self, Manifest, Target};
use super::messages::M;
use super::{BackupError, CONFIG_MEMBER, DATABASE_MEMBER, MEDIA_PREFIX, SECRETS_PREFIX};
use super::{archive, database, media};
use crate::config;
use crate::docker::{Engine, Runtime};
use crate::fsio;
use crate::i18n::{Lang, tr};
use crate::paths::Paths;
use crate::secrets;
use crate::stack::{Names, Stack};

/// Checks the archive without restoring anything: every member against the manifest.
pub async fn verify(file: &Path, lang: Lang) -> Result<Manifest, BackupError> {
    let file = file.to_path_buf();
    let bar = super::progress(
        format!("{} {}", lang.t(M::Verifying, &[]), file.display()),
        true,
    );
    let progress = bar.clone();
    let result =
        tokio::task::spawn_blocking(move || archive::scan(open(&file)?, &progress, |_, _| Ok(())))
            .await
            .expect("verifying does not panic");
    bar.finish_and_clear();
    result
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, BackupError> {
    std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .map_err(|source| BackupError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// The small members restore needs before it decides anything: configuration and secrets.
#[derive(Default)]
struct Small {
    config: Vec<u8>,
    secrets: BTreeMap<String, Vec<u8>>,
}

/// The database directory, when PostgreSQL has made one there (a restore would replace it).
pub fn existing_database(paths: &Paths) -> Option<PathBuf> {
    let version = paths.postgres_dir().join("pgdata").join("PG_VERSION");
    version
        .symlink_metadata()
        .is_ok()
        .then(|| paths.postgres_dir())
}

pub struct Restored {
    pub manifest: Manifest,
}

pub async fn restore(
    paths: &Paths,
    file: &Path,
    force: bool,
    lang: Lang,
) -> Result<Restored, BackupError> {
    restore_as(paths, file, force, None, lang).await
}

/// `restore` of an archive `adopt` made from another installation: its dump names no owners, so
/// Synapse's role makes and owns everything. Never over an existing database.
pub async fn restore_adopted(
    paths: &Paths,
    file: &Path,
    lang: Lang,
) -> Result<Restored, BackupError> {
    restore_as(paths, file, false, Some(crate::stack::DB_USER), lang).await
}

async fn restore_as(
    paths: &Paths,
    file: &Path,
    force: bool,
    role: Option<&str>,
    lang: Lang,
) -> Result<Restored, BackupError> {
    // 1. The whole archive verified, keeping the small members for the decisions.
    let path = file.to_path_buf();
    let bar = super::progress(
        format!("{} {}", lang.t(M::Verifying, &[]), file.display()),
        true,
    );
    let progress = bar.clone();
    let (manifest, small) = tokio::task::spawn_blocking(move || {
        let mut small = Small::default();
        let manifest = archive::scan(open(&path)?, &progress, |member, data| {
            let keep = if member == CONFIG_MEMBER {
                Some(&mut small.config)
            } else if let Some(name) = member.strip_prefix(SECRETS_PREFIX) {
                Some(small.secrets.entry(name.to_string()).or_default())
            } else {
                None
            };
            if let Some(buf) = keep {
                data.read_to_end(buf)
                    .map_err(|source| BackupError::Damaged {
                        after: Some(member.into()),
                        source,
                    })?;
            }
            Ok(())
        })?;
        Ok::<_, BackupError>((manifest, small))
    })
    .await
    .expect("verifying does not panic")?;
    bar.finish_and_clear();

    // 2. Decisions, before anything changes.
    let text = String::from_utf8_lossy(&small.config).into_owned();
    let config = config::parse(&text, &paths.config).map_err(BackupError::ArchiveConfig)?;
    // The configuration already here names the server; on a fresh host, the backup's own
    // configuration must agree with its manifest.
    let here = match std::fs::read_to_string(&paths.config) {
        Ok(existing) => {
            config::parse(&existing, &paths.config)
                .map_err(BackupError::ExistingConfig)?
                .server_name
        }
        Err(_) => config.server_name.clone(),
    };
    let target = Target {
        server_name: Some(here),
        synapse: manifest::image_version(&config.synapse_image),
        postgres_major: manifest::image_version(&config.postgres_image).map(|v| v[0]),
    };
    let refusals = manifest::refusals(&manifest, &target);
    if !refusals.is_empty() {
        return Err(BackupError::Refused(refusals));
    }
    let existing = existing_database(paths);
    if let (Some(dir), false) = (&existing, force) {
        return Err(BackupError::ExistingDatabase {
            dir: dir.display().to_string(),
        });
    }
    let engine = Engine::connect().await?;
    let names = Names::of(&config.instance);
    if engine
        .inspect(&names.synapse)
        .await?
        .is_some_and(|o| o.running)
    {
        return Err(BackupError::SynapseRunning {
            container: names.synapse.clone(),
        });
    }
    if let Some(dir) = &existing {
        eprintln!("{}", lang.t(M::WillBeLost, &[&dir.display()]));
    }

    // 3. Files: secrets (with the signing key), media, and the dump spooled unnamed.
    fsio::ensure_dir(paths.state(), 0o700)?;
    let secrets_dir = paths.secrets_dir();
    fsio::ensure_dir(&secrets_dir, 0o700)?;
    for (name, value) in &small.secrets {
        fsio::write_atomic(&secrets_dir.join(name), value, 0o600)?;
    }
    let secrets = secrets::load(&secrets_dir)
        .map_err(|e| interrupted("reading the restored secrets", e, paths))?;
    let bar = super::progress(lang.t(M::Extracting, &[]), true);
    let progress = bar.clone();
    let (p, f) = (paths.clone(), file.to_path_buf());
    let dump = tokio::task::spawn_blocking(move || extract(&p, &f, &progress))
        .await
        .expect("extracting does not panic")
        .map_err(|e| interrupted("restoring the media files", e, paths))?;
    bar.finish_and_clear();

    // 4. The database, restored aside and swapped in only when complete.
    // The backup's configuration names the images to run, whatever ran here before.
    let stack = Stack::new(config, paths.clone(), secrets).without_hold();
    eprintln!("{}", lang.t(M::StartingPostgres, &[]));
    stack
        .up_postgres(&engine)
        .await
        .map_err(|e| interrupted("starting PostgreSQL", e, paths))?;
    eprintln!("{}", lang.t(M::RestoringDatabase, &[]));
    let mut dump = tokio::fs::File::from_std(dump);
    if let Err(e) = database::restore_aside_as(&engine, &names.postgres, &mut dump, role).await {
        database::drop_aside(&engine, &names.postgres).await;
        return Err(interrupted("restoring the database", e, paths));
    }
    database::swap_in(&engine, &names.postgres, &stack.secrets.postgres_password)
        .await
        .map_err(|e| interrupted(SWAPPING, e, paths))?;

    // 5. The configuration last: until it is written a fresh host has nothing `run` would serve.
    if let Some(dir) = paths.config.parent() {
        fsio::ensure_dir(dir, 0o755)?;
    }
    fsio::write_atomic(&paths.config, &small.config, 0o640)?;

    eprintln!("{}", lang.t(M::StartingSynapse, &[]));
    stack
        .up(&engine)
        .await
        .map_err(|e| interrupted(STARTING_SYNAPSE, e, paths))?;
    Ok(Restored { manifest })
}

/// Second pass: media into Synapse's store, the dump into an unnamed 0600 file beside the state.
fn extract(
    paths: &Paths,
    file: &Path,
    progress: &ProgressBar,
) -> Result<std::fs::File, BackupError> {
    let write_err = |source| BackupError::Write {
        path: paths.state().to_path_buf(),
        source,
    };
    let mut dump = tempfile::tempfile_in(paths.state()).map_err(write_err)?;
    archive::scan(open(file)?, progress, |member, data| {
        if member == DATABASE_MEMBER {
            std::io::copy(data, &mut dump).map_err(write_err)?;
        } else if member.starts_with(MEDIA_PREFIX) {
            media::restore_one(paths, member, data)?;
        }
        Ok(())
    })?;
    nix::unistd::sync();
    std::io::Seek::rewind(&mut dump).map_err(write_err)?;
    Ok(dump)
}

const SWAPPING: &str = "putting the restored database in place";
const STARTING_SYNAPSE: &str = "starting Synapse on the restored database";

/// A failure after files were written: says what is in place and that nothing half-restored
/// serves.
fn interrupted(
    step: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
    paths: &Paths,
) -> BackupError {
    let config = paths.config.display();
    let left = match step {
        STARTING_SYNAPSE => tr(M::LeftSynapse, &[&config]),
        SWAPPING => tr(M::LeftSwapping, &[&config]),
        _ => tr(M::LeftOther, &[&config]),
    };
    BackupError::Interrupted {
        step,
        left,
        source: Box::new(source),
    }
}

/// Puts the database of a verified backup back in place of Synapse's, while Synapse is stopped
/// and nothing else changes (an upgrade's rollback): restored aside, swapped in when complete.
pub async fn restore_database(
    paths: &Paths,
    file: &Path,
    engine: &Engine,
    names: &Names,
    password: &str,
) -> Result<(), BackupError> {
    let (state, f) = (paths.state().to_path_buf(), file.to_path_buf());
    let dump = tokio::task::spawn_blocking(move || {
        let write_err = |source| BackupError::Write {
            path: state.clone(),
            source,
        };
        let mut dump = tempfile::tempfile_in(&state).map_err(write_err)?;
        // Every member is read and checked; only the dump is kept.
        archive::scan(open(&f)?, &ProgressBar::hidden(), |member, data| {
            if member == DATABASE_MEMBER {
                std::io::copy(data, &mut dump).map_err(write_err)?;
            }
            Ok(())
        })?;
        std::io::Seek::rewind(&mut dump).map_err(write_err)?;
        Ok::<_, BackupError>(dump)
    })
    .await
    .expect("extracting does not panic")?;
    let mut dump = tokio::fs::File::from_std(dump);
    if let Err(e) = database::restore_aside(engine, &names.postgres, &mut dump).await {
        database::drop_aside(engine, &names.postgres).await;
        return Err(e);
    }
    database::swap_in(engine, &names.postgres, password).await
}
