//! Backups: one archive that holds what a server needs to come back (database dump, local media,
//! secrets with the signing key, configuration) and a manifest that checks it; made online,
//! verified without restoring, restored onto a fresh or wiped state directory.
//!
//! `manifest` is the pure part (versions, refusals), `archive` the compressed tar with checksums,
//! `media` the walk through Synapse's media store, `create` and `restore` the two directions,
//! `database` what runs inside PostgreSQL's container, `messages` what a person reads,
//! `schedule` the daemon's backups and the record of the last one, `offsite` the copies in an
//! S3-compatible bucket.

pub mod archive;
pub mod create;
mod database;
pub mod manifest;
mod media;
pub mod messages;
pub mod offsite;
pub mod restore;
pub mod schedule;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::diagnostic::Diagnostic;
use crate::docker::DockerError;
use crate::fsio::FsError;
use crate::stack::StackError;
use manifest::Refusal;

/// The last member: present only when the backup completed.
pub const MANIFEST: &str = "manifest.json";
pub const CONFIG_MEMBER: &str = "matrixbox.yaml";
/// `pg_dump -Fc` of Synapse's database.
pub const DATABASE_MEMBER: &str = "database.pgdump";
pub const SECRETS_PREFIX: &str = "secrets/";
pub const MEDIA_PREFIX: &str = "media/";
/// Synapse's own uploads and their thumbnails; the remote cache is fetched again on demand.
pub const MEDIA_KINDS: [&str; 2] = ["local_content", "local_thumbnails"];
/// Under Synapse's data dir (homeserver.yaml's `media_store_path`).
pub const MEDIA_STORE: &str = "media_store";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read the backup {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the backup {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the archive is damaged or cut short {}", match after { Some(m) => format!("at or after member {m}"), None => "at its start".into() })]
    Damaged {
        after: Option<String>,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the archive has no manifest: the backup did not complete, or this is not a matrixbox backup"
    )]
    NoManifest,
    #[error("the archive's manifest cannot be read: {0}")]
    BadManifest(String),
    #[error("member {member} follows the manifest, which must be last")]
    AfterManifest { member: String },
    #[error("member {member} is not something a matrixbox backup holds")]
    Unexpected { member: String },
    #[error("member {member} is in the archive twice")]
    Duplicate { member: String },
    #[error("member {member} is listed in the manifest but missing from the archive")]
    Missing { member: String },
    #[error("member {member} is in the archive but not in its manifest")]
    Unlisted { member: String },
    #[error("member {member} is damaged: the manifest says {expected}, the archive holds {found}")]
    Checksum {
        member: String,
        expected: String,
        found: String,
    },
    #[error("PostgreSQL ({container}) is not running: a backup is taken from the running database")]
    NotRunning { container: String },
    #[error("pg_dump in {container} failed (exit {code}): {output}")]
    Dump {
        container: String,
        code: i64,
        output: String,
    },
    #[error("the backup's matrixbox.yaml is not valid here")]
    ArchiveConfig(#[source] crate::config::ConfigError),
    #[error("the configuration already on this host cannot be read")]
    ExistingConfig(#[source] crate::config::ConfigError),
    #[error("this backup cannot be restored here: {}", .0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Refusal>),
    #[error("a database already exists in {dir}; restoring would replace it")]
    ExistingDatabase { dir: String },
    #[error("Synapse ({container}) is running; a restore replaces its database underneath it")]
    SynapseRunning { container: String },
    #[error("{step} failed in {container} (exit {code}): {output}")]
    Database {
        step: &'static str,
        container: String,
        code: i64,
        output: String,
    },
    #[error("the restore stopped while {step}; {left}")]
    Interrupted {
        step: &'static str,
        left: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Stack(#[from] StackError),
}

impl Diagnostic for BackupError {
    fn hint(&self) -> Option<String> {
        use BackupError::*;
        Some(match self {
            Open { .. } => "check the path and that you may read it (backups are 0600, root's)".into(),
            Write { .. } => "check that the directory exists, is writable and has room; nothing was left that `backup verify` accepts".into(),
            Damaged { .. } | Checksum { .. } | Missing { .. } | Unlisted { .. } | Duplicate { .. } | AfterManifest { .. } => {
                "this copy cannot be trusted: use another copy of the backup (nothing was restored from this one)".into()
            }
            NoManifest => "an interrupted `backup create` leaves such a file (`.matrixbox-backup-*.partial`): delete it and use a complete backup".into(),
            BadManifest(_) | Unexpected { .. } => "this file was not written by `matrixbox backup create` (or by a newer matrixbox); use a backup made by this version".into(),
            NotRunning { .. } => "start matrixbox first (`systemctl start matrixbox` or `matrixbox run`); the backup is taken online".into(),
            Dump { container, .. } => format!("see the message above and `docker logs {container}`; no backup was written"),
            ArchiveConfig(e) | ExistingConfig(e) => return e.hint(),
            Refused(_) => "restore it with a matrixbox whose pinned images are at least as new (or set `images:` accordingly), on a host configured for the same server name; nothing was changed".into(),
            ExistingDatabase { .. } => "to replace it and lose what it holds, run again with --force; to keep it, restore onto a fresh host or another --state-dir".into(),
            SynapseRunning { .. } => "stop matrixbox first (`systemctl stop matrixbox`, or stop `matrixbox run`, then `matrixbox down`); restore starts the stack itself".into(),
            Database { container, .. } => format!("see `docker logs {container}`"),
            Interrupted { .. } => "fix the cause above and run the same `matrixbox backup restore` again (with --force when it says a database exists)".into(),
            Docker(e) => return e.hint(),
            Fs(e) => return e.hint(),
            Stack(e) => return e.hint(),
        })
    }
}

/// A progress line on stderr when it is a terminal; nothing otherwise (logs and pipes stay clean).
/// With `bytes`, it counts what passed through (a stream whose end is not known in advance).
pub fn progress(message: String, bytes: bool) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message);
    let template = if bytes {
        "{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})"
    } else {
        "{spinner} {msg} ({elapsed})"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Bytes as a person reads them (1.4 MiB).
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
