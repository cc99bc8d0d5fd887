//! `matrixbox upgrade`: moves Synapse to the configured image through a health gate (container
//! healthy, `/_matrix/client/versions` answers, schema migration finished) within a bounded time,
//! with a backup first and, when the gate fails, a rollback of the image AND the database.
//!
//! `plan` holds the pure decisions and the record `status` shows, `messages` what a person reads.
//! `major` migrates PostgreSQL to another major version (`major_plan` its pure decisions,
//! `major_messages` its texts); `kept` the old major's data directory until it is removed.
//! The stack's lock keeps the daemon's reconciles waiting while an upgrade runs.

pub mod kept;
pub mod major;
pub mod major_messages;
pub mod major_plan;
pub mod messages;
pub mod plan;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};

use crate::backup::{self, BackupError};
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::docker::{DockerError, Engine, Runtime};
use crate::fsio::{self, FsError};
use crate::i18n::{Lang, tr};
use crate::paths::Paths;
use crate::secrets::Secrets;
use crate::stack::{DB_NAME, DB_SUPERUSER, Names, Stack, StackError, StackLock};
use crate::synapse::{self, admin::Synapse};
use messages::M;
use plan::{Outcome, Plan, Record, Running};

/// Synapse's clean-shutdown timeout (as its container spec).
const SYNAPSE_STOP_S: i64 = 30;
/// The gate's steps beside Synapse's start (which has `--timeout`): PostgreSQL checked, files
/// written, the two answers read. Bounds the whole gate.
const GATE_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("{}", tr(M::ErrNotRunning, &[container]))]
    NotRunning { container: String },
    #[error("{}", tr(M::ErrDowngrade, &[to, from]))]
    Downgrade { from: String, to: String },
    #[error("{}", tr(M::ErrRolledBack, &[to, reason, from]))]
    RolledBack {
        from: String,
        to: String,
        reason: String,
    },
    #[error("{}", tr(M::ErrRollbackFailed, &[to, reason, from]))]
    RollbackFailed {
        from: String,
        to: String,
        reason: String,
        backup: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{}", tr(M::ErrBackup, &[from]))]
    Backup {
        from: String,
        #[source]
        source: BackupError,
    },
    #[error(transparent)]
    Major(#[from] major::MajorError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl Diagnostic for UpgradeError {
    fn hint(&self) -> Option<String> {
        use UpgradeError::*;
        Some(match self {
            NotRunning { .. } => tr(M::ErrNotRunningHint, &[]),
            Downgrade { from, .. } => tr(M::ErrDowngradeHint, &[from]),
            RolledBack { .. } => tr(M::ErrRolledBackHint, &[]),
            RollbackFailed { backup, .. } => tr(M::ErrRollbackFailedHint, &[&backup.display()]),
            Backup { source, .. } => return source.hint(),
            Major(e) => return e.hint(),
            Docker(e) => return e.hint(),
            Stack(e) => return e.hint(),
            Fs(e) => return e.hint(),
        })
    }
}

/// What runs and what is configured, looked at without changing anything.
pub async fn check(engine: &Engine, config: &Config, paths: &Paths) -> Result<Plan, UpgradeError> {
    let names = Names::of(&config.instance);
    let target = engine
        .resolve_local(&config.synapse_candidates, &paths.image_digests())
        .await?;
    let target_id = engine.image_digests(&target).await?.map(|d| d.id);
    let observed = engine.inspect(&names.synapse).await?;
    let running_id = match &observed {
        Some(o) => engine.image_digests(&o.image).await?.map(|d| d.id),
        None => None,
    };
    let running = observed.as_ref().map(|o| Running {
        image: &o.image,
        id: running_id.as_deref(),
    });
    let plan = plan::plan(running, &target, target_id.as_deref());
    if let Plan::Downgrade { from, to } = plan {
        return Err(UpgradeError::Downgrade { from, to });
    }
    Ok(plan)
}

/// The last upgrade's record, if one was kept (an unreadable one is reported as none).
pub fn last(paths: &Paths) -> Option<Record> {
    let text = std::fs::read(paths.upgrade_record()).ok()?;
    serde_json::from_slice(&text).ok()
}

fn keep(paths: &Paths, record: &Record) -> Result<(), FsError> {
    let json = serde_json::to_vec_pretty(record).expect("a record always serialises");
    fsio::write_atomic(&paths.upgrade_record(), &json, 0o600)
}

/// Runs the upgrade `plan` (an `Upgrade`): pull, stop Synapse, backup, recreate, gate; on a failed
/// gate, roll back. Every step is also in the journal.
pub async fn run(
    engine: &Engine,
    config: &Config,
    paths: &Paths,
    secrets: &Secrets,
    (from, to, pull): (String, String, bool),
    timeout: Duration,
    lang: Lang,
) -> Result<Record, UpgradeError> {
    let names = Names::of(&config.instance);
    let stack = Stack::new(config.clone(), paths.clone(), secrets.clone())
        .without_hold()
        .with_synapse_timeout(timeout);
    let lock = stack.lock().await?;
    if !engine
        .inspect(&names.postgres)
        .await?
        .is_some_and(|o| o.running)
    {
        return Err(UpgradeError::NotRunning {
            container: names.postgres,
        });
    }
    // Pulled while the old Synapse still serves: a failed pull changes nothing.
    if pull {
        eprintln!("{}", lang.t(M::Pulling, &[&to]));
    }
    engine
        .ensure_image(&config.synapse_candidates, &paths.image_digests())
        .await?;

    // Stopped before the backup, so the backup holds everything written before the attempt.
    eprintln!("{}", lang.t(M::BackingUp, &[]));
    tracing::info!(%from, %to, "upgrade: stopping Synapse for the backup");
    let down_since = Instant::now();
    engine.stop(&names.synapse, SYNAPSE_STOP_S).await?;
    let mut old = config.clone();
    old.synapse_image = from.clone();
    old.synapse_candidates = vec![from.clone()];
    let made = backup::create::create(paths, &old, secrets, engine, None, lang).await;
    let made = match made {
        Ok(made) => made,
        Err(source) => {
            engine.start(&names.synapse).await?;
            return Err(UpgradeError::Backup { from, source });
        }
    };
    eprintln!("{}", lang.t(M::Backup, &[&made.path.display()]));
    let mut record = Record {
        from: from.clone(),
        to: to.clone(),
        started: now(),
        outcome: Outcome::InProgress,
        backup: Some(made.path.display().to_string()),
        downtime_s: None,
        rollback_s: None,
        reason: None,
    };
    keep(paths, &record)?;

    eprintln!("{}", lang.t(M::Gate, &[&to, &timeout.as_secs()]));
    tracing::info!(%to, "upgrade: recreating Synapse, waiting for the health gate");
    let gate = gate(&stack, engine, &lock, timeout).await;
    let Err(reason) = gate else {
        record.outcome = Outcome::Upgraded;
        record.downtime_s = Some(down_since.elapsed().as_secs_f64());
        keep(paths, &record)?;
        tracing::info!(%from, %to, downtime_s = record.downtime_s, "upgrade: the health gate passed");
        return Ok(record);
    };

    tracing::error!(%from, %to, %reason, "upgrade: the health gate failed, rolling back");
    eprintln!("{}", lang.t(M::RollingBack, &[&from, &made.path.display()]));
    let rollback_since = Instant::now();
    record.reason = Some(first_line(&reason));
    let rolled = rollback(&old, paths, secrets, engine, &lock, &made.path, timeout).await;
    record.rollback_s = Some(rollback_since.elapsed().as_secs_f64());
    record.downtime_s = Some(down_since.elapsed().as_secs_f64());
    match rolled {
        Ok(()) => {
            record.outcome = Outcome::RolledBack;
            keep(paths, &record)?;
            tracing::warn!(%from, rollback_s = record.rollback_s, "upgrade: rolled back");
            Err(UpgradeError::RolledBack { from, to, reason })
        }
        Err(source) => {
            record.outcome = Outcome::RollbackFailed;
            keep(paths, &record)?;
            tracing::error!(%from, "upgrade: the rollback failed: {source}");
            Err(UpgradeError::RollbackFailed {
                from,
                to,
                reason,
                backup: made.path,
                source,
            })
        }
    }
}

/// The health gate: Synapse recreated and healthy within `timeout` (the stack's wait; a crash loop
/// fails at once), `/_matrix/client/versions` answers, the schema migration finished; all of it
/// within `timeout` and a margin.
async fn gate(
    stack: &Stack,
    engine: &Engine,
    lock: &StackLock,
    timeout: Duration,
) -> Result<(), String> {
    let steps = async {
        stack
            .up_locked(engine, lock)
            .await
            .map_err(|e| e.to_string())?;
        let client = Synapse::new(synapse::upstream(&stack.config, &stack.paths));
        match client
            .send(Method::GET, "/_matrix/client/versions", None, &[])
            .await
        {
            Ok((StatusCode::OK, body)) if body.starts_with(b"{") => {}
            Ok((status, _)) => return Err(format!("/_matrix/client/versions answered {status}")),
            Err(e) => return Err(format!("/_matrix/client/versions: {e}")),
        }
        schema(engine, &stack.names).await
    };
    let bound = timeout + GATE_MARGIN;
    match tokio::time::timeout(bound, steps).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "Synapse did not pass the health gate within {} s",
            bound.as_secs()
        )),
    }
}

/// Compares the database's schema version with the one the running Synapse's code is at.
async fn schema(engine: &Engine, names: &Names) -> Result<(), String> {
    let code = [
        "/usr/local/bin/python",
        "-c",
        "from synapse.storage.schema import SCHEMA_VERSION; print(SCHEMA_VERSION)",
    ];
    let database = [
        "psql",
        "-X",
        "-tA",
        "-U",
        DB_SUPERUSER,
        "--no-password",
        "-d",
        DB_NAME,
        "-c",
        "SELECT version, upgraded FROM schema_version",
    ];
    let ask = async |container: &str, cmd: &[&str]| match engine.exec(container, cmd, vec![]).await
    {
        Ok((0, out)) => Ok(out),
        Ok((code, out)) => Err(format!(
            "reading the schema version in {container} failed (exit {code}): {}",
            out.trim()
        )),
        Err(e) => Err(format!("reading the schema version in {container}: {e}")),
    };
    let code = ask(&names.synapse, &code).await?;
    let database = ask(&names.postgres, &database).await?;
    plan::schema_migrated(&database, &code)
}

/// The image AND the database back as they were: Synapse stopped, the backup's database swapped
/// in, Synapse recreated on the old image and healthy.
async fn rollback(
    old: &Config,
    paths: &Paths,
    secrets: &Secrets,
    engine: &Engine,
    lock: &StackLock,
    backup: &Path,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let names = Names::of(&old.instance);
    if engine
        .inspect(&names.synapse)
        .await?
        .is_some_and(|o| o.running)
    {
        engine.stop(&names.synapse, SYNAPSE_STOP_S).await?;
    }
    backup::restore::restore_database(paths, backup, engine, &names, &secrets.postgres_password)
        .await?;
    Stack::new(old.clone(), paths.clone(), secrets.clone())
        .without_hold()
        .with_synapse_timeout(timeout)
        .up_locked(engine, lock)
        .await?;
    Ok(())
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero is a valid nanosecond")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a valid time")
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
