//! The daemon's scheduled backups: one at a time, when due, into `backup.dir`; read back and
//! verified, old ones pruned, copied off the host when `backup.offsite` is set, the outcome
//! recorded for `status`, `doctor` and the metrics.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::backup::{create, offsite, restore, schedule};
use crate::config::{Config, Offsite};
use crate::diagnostic;
use crate::docker::Engine;
use crate::fsio;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::secrets::Secrets;

/// Runs until `stop`: sleeps until the next backup is due, takes it, records it. A shutdown in
/// the middle drops the unfinished archive (it never had its name).
pub(super) async fn run(
    config: Config,
    paths: Paths,
    secrets: Secrets,
    engine: Engine,
    metrics: super::Link,
    stop: CancellationToken,
) {
    let publish = |record: &schedule::Record| {
        metrics.backup_recorded(
            record.last_good.as_ref().map(|g| g.at),
            // A failed off-host copy counts: the copy on this disk alone is not a backup.
            record.last_failure.is_some() || record.last_push_failure.is_some(),
        )
    };
    publish(&schedule::load(&paths));
    let Some(every) = config.backup.every else {
        return stop.cancelled().await;
    };
    let started = now();
    loop {
        let record = schedule::load(&paths);
        let due = schedule::next_due(every, started, &record);
        let wait = std::time::Duration::from_secs(due.saturating_sub(now()).max(0) as u64);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            outcome = once(&config, &paths, &secrets, &engine) => outcome,
        };
        let mut record = schedule::load(&paths);
        let written = match outcome {
            Ok((path, bytes)) => {
                tracing::info!(
                    "scheduled backup written and verified: {} ({})",
                    path.display(),
                    crate::backup::human_bytes(bytes)
                );
                record.succeeded(now(), path.clone(), bytes);
                Some(path)
            }
            Err(error) => {
                tracing::error!("scheduled backup failed: {error}");
                record.failed(now(), error);
                None
            }
        };
        save(&paths, &record);
        publish(&record);
        // Recorded first: a shutdown during the upload loses nothing but this push.
        if let (Some(path), Some(target)) = (written, &config.backup.offsite) {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = push(target, &config.server_name, &path, &mut record) => {}
            }
            save(&paths, &record);
            publish(&record);
        }
    }
}

/// One backup: written, read back against its manifest (a bad one is removed, so it never counts
/// among those kept), then the old ones pruned.
async fn once(
    config: &Config,
    paths: &Paths,
    secrets: &Secrets,
    engine: &Engine,
) -> Result<(PathBuf, u64), String> {
    let dir = schedule::dir(config, paths);
    fsio::ensure_dir(&dir, 0o700).map_err(|e| diagnostic::one_line(&e))?;
    let name = create::default_output(paths, &config.server_name, time::OffsetDateTime::now_utc());
    let out = dir.join(name.file_name().expect("a file name"));
    let created = create::create(paths, config, secrets, engine, Some(out), Lang::En)
        .await
        .map_err(|e| diagnostic::one_line(&e))?;
    if let Err(e) = restore::verify(&created.path, Lang::En).await {
        let _ = std::fs::remove_file(&created.path);
        return Err(format!(
            "the archive did not verify and was removed: {}",
            diagnostic::one_line(&e)
        ));
    }
    schedule::prune(&dir, &config.server_name, config.backup.keep);
    Ok((created.path, created.archive_bytes))
}

/// Copies the new archive off the host and records the outcome; a failure keeps the local
/// archive (it is already verified and counted) and is said by `status` and `doctor`.
async fn push(target: &Offsite, server_name: &str, path: &Path, record: &mut schedule::Record) {
    match offsite::push_scheduled(target, server_name, path).await {
        Ok(pushed) => {
            tracing::info!(
                "scheduled backup pushed off the host: {} ({}{}) to {}",
                pushed.key,
                crate::backup::human_bytes(pushed.bytes),
                if pushed.encrypted { ", encrypted" } else { "" },
                target.endpoint
            );
            record.pushed(schedule::Push {
                at: now(),
                key: pushed.key,
                bytes: pushed.bytes,
                encrypted: pushed.encrypted,
            });
        }
        Err(e) => {
            let error = diagnostic::one_line(&e);
            tracing::error!(
                "scheduled backup push failed (the local backup {} is kept): {error}",
                path.display()
            );
            record.push_failed(now(), error);
        }
    }
}

fn save(paths: &Paths, record: &schedule::Record) {
    if let Err(e) = schedule::save(paths, record) {
        tracing::error!("cannot record the backup's outcome: {e}");
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
