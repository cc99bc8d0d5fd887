//! `matrixbox upgrade` across PostgreSQL majors: the old major (still serving) is dumped, a new
//! data directory is initialised and filled by the new major beside it, the main tables' row
//! counts are compared, and only then are the data directories exchanged and Synapse gated on the
//! new database. Until the exchange the old PostgreSQL never stops; after it, a failed gate
//! exchanges them back. The old directory is kept (`kept`: for `upgrade.keep_old_postgres`, or
//! until `upgrade --cleanup`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::AsyncSeekExt;

use super::major_messages::M;
use super::major_plan;
use crate::backup::database::psql;
use crate::backup::human_bytes;
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::disk::{self, DiskRole};
use crate::docker::{DockerError, Engine, Runtime};
use crate::fsio::FsError;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::secrets::Secrets;
use crate::stack::major::{self, POSTGRES_NEXT};
use crate::stack::{DB_NAME, DB_SUPERUSER, DB_USER, Names, Stack, StackError, StackLock};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// PostgreSQL's clean-shutdown timeout (as its container spec).
const POSTGRES_STOP_S: i64 = 90;
const SYNAPSE_STOP_S: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum MajorError {
    /// Refused before anything changed.
    #[error("{text}")]
    Refused { text: String, hint: String },
    /// A step failed; the hint says what serves now.
    #[error("{text}")]
    Failed {
        text: String,
        hint: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl Diagnostic for MajorError {
    fn hint(&self) -> Option<String> {
        match self {
            MajorError::Refused { hint, .. } | MajorError::Failed { hint, .. } => {
                Some(hint.clone())
            }
            MajorError::Docker(e) => e.hint(),
            MajorError::Stack(e) => e.hint(),
            MajorError::Fs(e) => e.hint(),
        }
    }
}

/// A finished migration.
pub struct Migrated {
    pub from: u32,
    pub to: u32,
    /// The old major's data directory, kept.
    pub kept: PathBuf,
    /// From Synapse's stop to the gate passed on the new database.
    pub downtime_s: f64,
    pub counts: Vec<(String, u64)>,
}

/// The room a migration needs and has: (needed, free), in bytes.
pub async fn room(paths: &Paths) -> Result<(u64, u64), MajorError> {
    let dir = paths.postgres_dir();
    let used = tokio::task::spawn_blocking(move || major::disk_usage(&dir))
        .await
        .expect("measuring does not panic");
    let free = match disk::disk(DiskRole::State, paths.state()).space {
        Ok(space) => space.free_bytes,
        Err(e) => {
            return Err(MajorError::Fs(FsError {
                action: "measure free space in",
                path: paths.state().to_path_buf(),
                source: std::io::Error::other(e),
            }));
        }
    };
    Ok((major_plan::room_needed(used), free))
}

/// The line that says how much room a migration needs and has.
pub fn room_line(lang: Lang, paths: &Paths, (need, free): (u64, u64)) -> String {
    lang.t(
        M::Room,
        &[
            &human_bytes(need),
            &paths.state().display(),
            &human_bytes(free),
        ],
    )
}

/// An older major cannot read a newer one's data: refused before anything.
pub fn refuse_older((from, to): (u32, u32), lang: Lang) -> Result<(), MajorError> {
    if to < from {
        return Err(MajorError::Refused {
            text: lang.t(M::Older, &[&from, &to]),
            hint: lang.t(M::OlderHint, &[&from]),
        });
    }
    Ok(())
}

/// Moves the data directory from PostgreSQL `from` to the configured image's major `to`.
pub async fn migrate(
    engine: &Engine,
    config: &Config,
    paths: &Paths,
    secrets: &Secrets,
    (from, to): (u32, u32),
    timeout: Duration,
    lang: Lang,
) -> Result<Migrated, MajorError> {
    let refused = |text, hint| MajorError::Refused { text, hint };
    refuse_older((from, to), lang)?;
    // First, before anything is stopped or written.
    let (need, free) = room(paths).await?;
    eprintln!("{}", room_line(lang, paths, (need, free)));
    if need > free {
        return Err(refused(
            lang.t(
                M::NoRoom,
                &[
                    &from,
                    &to,
                    &human_bytes(need),
                    &paths.state().display(),
                    &human_bytes(free),
                ],
            ),
            lang.t(M::NoRoomHint, &[&from]),
        ));
    }
    let names = Names::of(&config.instance);
    let lock = Stack::new(config.clone(), paths.clone(), secrets.clone())
        .lock()
        .await?;
    // The old major is the image of the container that runs on the data directory.
    let Some(observed) = engine.inspect(&names.postgres).await? else {
        return Err(refused(
            lang.t(M::NoOld, &[&names.postgres, &from]),
            lang.t(M::NoOldHint, &[&from]),
        ));
    };
    let mut old_config = config.clone();
    old_config.postgres_image = observed.image.clone();
    old_config.postgres_candidates = vec![observed.image.clone()];
    let old = Stack::new(old_config, paths.clone(), secrets.clone()).with_synapse_timeout(timeout);
    if !observed.running {
        engine.start(&names.postgres).await?;
        old.wait_postgres(engine).await?;
    }

    let failed = |step: M, source: BoxError| MajorError::Failed {
        text: lang.t(M::Failed, &[&from, &to, &lang.t(step, &[])]),
        hint: lang.t(M::FailedHint, &[&from]),
        source,
    };
    // A new data directory an interrupted migration left (never the old major's data).
    let leftover = paths.state().join(POSTGRES_NEXT);
    if major::data_major(paths, POSTGRES_NEXT) == Some(from) {
        let why = format!(
            "{} holds a data directory of PostgreSQL {from}, which matrixbox never removes: move it elsewhere first",
            leftover.display()
        );
        return Err(failed(M::StepLeftover, why.into()));
    }
    major::remove_state_dir(paths, POSTGRES_NEXT).map_err(|e| failed(M::StepLeftover, e.into()))?;

    eprintln!("{}", lang.t(M::Dumping, &[&from]));
    tracing::info!(
        from,
        to,
        "PostgreSQL migration: stopping Synapse, dumping the database"
    );
    let down_since = Instant::now();
    if engine
        .inspect(&names.synapse)
        .await?
        .is_some_and(|o| o.running)
    {
        engine.stop(&names.synapse, SYNAPSE_STOP_S).await?;
    }
    let next = Stack::new(config.clone(), paths.clone(), secrets.clone()).into_next_postgres();
    let prepared = prepare(engine, &names, &next, paths, to, lang).await;
    let prepared = match prepared {
        Ok(counts) => {
            eprintln!("{}", lang.t(M::Switching, &[&from, &to]));
            switch(engine, &names, &next, from).await.map(|()| counts)
        }
        Err(e) => Err(e),
    };
    let counts = match prepared {
        Ok(counts) => counts,
        Err((step, source)) => {
            tracing::error!(from, to, "PostgreSQL migration failed: {source}");
            // The old data directory never changed: its PostgreSQL serves again with Synapse.
            let _ = engine.remove(&next.names.postgres).await;
            let _ = major::remove_state_dir(paths, POSTGRES_NEXT);
            if let Err(e) = old.up_locked(engine, &lock).await {
                // The old data directory is untouched; what keeps it from serving is `e`.
                return Err(MajorError::Failed {
                    text: lang.t(M::Failed, &[&from, &to, &lang.t(step, &[])]),
                    hint: e.hint().unwrap_or_default(),
                    source: format!("{source}; starting PostgreSQL {from} and Synapse again: {e}")
                        .into(),
                });
            }
            return Err(failed(step, source));
        }
    };

    let kept = major::kept_postgres_dir(paths, from);
    let new = Stack::new(config.clone(), paths.clone(), secrets.clone());
    let reason = match super::gate(&new, engine, &lock, timeout).await {
        Ok(()) => {
            let downtime_s = down_since.elapsed().as_secs_f64();
            tracing::info!(from, to, downtime_s, kept = %kept.display(), "PostgreSQL migrated");
            return Ok(Migrated {
                from,
                to,
                kept,
                downtime_s,
                counts,
            });
        }
        Err(reason) => reason,
    };
    tracing::error!(from, to, %reason, "PostgreSQL migration: the health gate failed, switching back");
    match switch_back(engine, &names, paths, from, &old, &lock).await {
        Ok(()) => Err(MajorError::Failed {
            text: lang.t(M::SwitchedBack, &[&from, &to]),
            hint: lang.t(M::FailedHint, &[&from]),
            source: reason.into(),
        }),
        Err(e) => Err(MajorError::Failed {
            text: lang.t(M::SwitchBackFailed, &[&from, &to]),
            hint: lang.t(
                M::SwitchBackFailedHint,
                &[&kept.display(), &from, &paths.postgres_dir().display()],
            ),
            source: format!("{reason}; switching back: {e}").into(),
        }),
    }
}

/// Dump of the old, new data directory initialised and restored, row counts compared. Nothing
/// here touches the old data directory or stops the old PostgreSQL.
async fn prepare(
    engine: &Engine,
    names: &Names,
    next: &Stack,
    paths: &Paths,
    to: u32,
    lang: Lang,
) -> Result<Vec<(String, u64)>, (M, BoxError)> {
    let at = |step: M| move |e: BoxError| (step, e);
    // Unnamed and 0600 in the state dir: the dump never shows where other users can read it.
    let file = tempfile::tempfile_in(paths.state()).map_err(|e| at(M::StepDump)(e.into()))?;
    let mut dump = tokio::fs::File::from_std(file);
    crate::backup::database::dump(engine, &names.postgres, &mut dump)
        .await
        .map_err(|e| at(M::StepDump)(e.into()))?;
    let size = dump.metadata().await.map(|m| m.len()).unwrap_or(0);
    dump.rewind().await.map_err(|e| at(M::StepDump)(e.into()))?;
    let old_counts = counts(engine, &names.postgres)
        .await
        .map_err(at(M::StepCountOld))?;

    let dir = paths.state().join(POSTGRES_NEXT);
    eprintln!("{}", lang.t(M::Initialising, &[&to, &dir.display()]));
    next.start_next_postgres(engine)
        .await
        .map_err(|e| at(M::StepInit)(e.into()))?;
    eprintln!("{}", lang.t(M::Restoring, &[&human_bytes(size), &to]));
    restore(engine, &next.names.postgres, &mut dump)
        .await
        .map_err(at(M::StepRestore))?;
    let new_counts = counts(engine, &next.names.postgres)
        .await
        .map_err(at(M::StepCountNew))?;
    major_plan::compare_counts(&old_counts, &new_counts)
        .map_err(|e| at(M::StepCompare)(format!("row counts differ: {e}").into()))?;
    eprintln!(
        "{}",
        lang.t(M::Verified, &[&major_plan::summary(&new_counts)])
    );
    Ok(new_counts)
}

/// Both PostgreSQL stopped cleanly, then the data directories exchanged and the old one renamed
/// to its kept name. A failure before the exchange leaves the old data directory in place.
async fn switch(
    engine: &Engine,
    names: &Names,
    next: &Stack,
    from: u32,
) -> Result<(), (M, BoxError)> {
    let paths = &next.paths;
    engine
        .stop(&next.names.postgres, POSTGRES_STOP_S)
        .await
        .map_err(|e| (M::StepStopNew, e.into()))?;
    engine
        .remove(&next.names.postgres)
        .await
        .map_err(|e| (M::StepStopNew, e.into()))?;
    engine
        .stop(&names.postgres, POSTGRES_STOP_S)
        .await
        .map_err(|e| (M::StepStopOld, e.into()))?;
    major::exchange_postgres_dir(paths, POSTGRES_NEXT).map_err(|e| (M::StepSwitch, e.into()))?;
    // The kept directory's time starts at the exchange, recorded before it takes its kept name
    // so that no earlier time of that name can be seen with it; without a record it stays until
    // `--cleanup`.
    if let Err(e) = super::kept::record(paths, from, time::OffsetDateTime::now_utc()) {
        tracing::warn!(
            "the time the old data directory was kept at is not recorded ({e}): it stays until `matrixbox upgrade --cleanup`"
        );
    }
    if let Err(e) = major::rename_in_state(paths, POSTGRES_NEXT, &major::kept_name(from)) {
        // Back as it was: the old data directory in place, the new one removed by the caller.
        let _ = major::exchange_postgres_dir(paths, POSTGRES_NEXT);
        return Err((M::StepSwitch, e.into()));
    }
    Ok(())
}

/// After a failed gate: Synapse and the new PostgreSQL stopped, the kept old data directory put
/// back, the new one removed, and the old major started again with Synapse.
async fn switch_back(
    engine: &Engine,
    names: &Names,
    paths: &Paths,
    from: u32,
    old: &Stack,
    lock: &StackLock,
) -> Result<(), BoxError> {
    engine.stop(&names.synapse, SYNAPSE_STOP_S).await?;
    if engine
        .inspect(&names.postgres)
        .await?
        .is_some_and(|o| o.running)
    {
        engine.stop(&names.postgres, POSTGRES_STOP_S).await?;
    }
    engine.remove(&names.postgres).await?;
    major::put_back(paths, from)?;
    // A stale time is harmless: only a directory on disk is ever looked up.
    let _ = super::kept::forget(paths, &[from]);
    old.up_locked(engine, lock).await?;
    Ok(())
}

/// Synapse's database made again from template0 (UTF8, C collation) and the dump restored into
/// it in one transaction.
async fn restore(
    engine: &Engine,
    container: &str,
    dump: &mut tokio::fs::File,
) -> Result<(), BoxError> {
    let drop = format!("DROP DATABASE IF EXISTS {DB_NAME}");
    let create = format!(
        "CREATE DATABASE {DB_NAME} OWNER {DB_USER} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    );
    let (code, out) = engine
        .exec(container, &psql("postgres", &[&drop, &create]), vec![])
        .await?;
    exited(code, &out, "psql (creating the database)", container)?;
    let cmd = [
        "pg_restore",
        "-U",
        DB_SUPERUSER,
        "--no-password",
        "-d",
        DB_NAME,
        "--single-transaction",
        "--exit-on-error",
    ];
    let (code, out) = engine.exec_from(container, &cmd, dump).await?;
    exited(code, &out, "pg_restore", container)
}

/// Row counts of Synapse's main tables.
async fn counts(engine: &Engine, container: &str) -> Result<Vec<(String, u64)>, BoxError> {
    let query = major_plan::count_query();
    let (code, out) = engine
        .exec(container, &psql(DB_NAME, &[&query]), vec![])
        .await?;
    exited(code, &out, "psql (counting rows)", container)?;
    Ok(major_plan::parse_counts(&out)?)
}

fn exited(code: i64, output: &str, what: &str, container: &str) -> Result<(), BoxError> {
    if code == 0 {
        return Ok(());
    }
    Err(format!(
        "{what} in {container} exited with status {code}: {}",
        output.trim()
    )
    .into())
}

/// Whether the daemon, whose reconcile failed with `error`, reads its configuration again to
/// follow a migration `matrixbox upgrade` made under it (see `major_plan::follow_migration`): so
/// that no reload is needed after `upgrade`.
pub fn follows_migration(error: &StackError, paths: &Paths) -> bool {
    let StackError::PostgresMajorChange { data, wanted, .. } = error else {
        return false;
    };
    let on_disk = crate::config::load(&paths.config)
        .ok()
        .and_then(|c| crate::backup::manifest::image_version(&c.postgres_image))
        .map(|v| v[0]);
    major_plan::follow_migration(*data, *wanted, on_disk)
}

/// `upgrade --cleanup`: removes the kept data directories of earlier majors; (major, path) each.
pub fn cleanup(paths: &Paths) -> Result<Vec<(u32, PathBuf)>, FsError> {
    let kept = major::kept_postgres_dirs(paths);
    for (m, _) in &kept {
        major::remove_state_dir(paths, &major::kept_name(*m))?;
        super::kept::forget(paths, &[*m])?;
    }
    Ok(kept)
}
