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
pub(crate) mod database;
pub mod manifest;
pub(crate) mod media;
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
use crate::i18n::{phrase, tr};
use crate::stack::StackError;
use manifest::Refusal;
use messages::M;

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
    #[error("{}", tr(M::Open, &[&path.display()]))]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", tr(M::WriteFailed, &[&path.display()]))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", match after { Some(m) => tr(M::DamagedAt, &[m]), None => tr(M::DamagedStart, &[]) })]
    Damaged {
        after: Option<String>,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", tr(M::NoManifest, &[]))]
    NoManifest,
    #[error("{}", tr(M::BadManifest, &[.0]))]
    BadManifest(String),
    #[error("{}", tr(M::AfterManifest, &[member]))]
    AfterManifest { member: String },
    #[error("{}", tr(M::UnexpectedMember, &[member]))]
    Unexpected { member: String },
    #[error("{}", tr(M::Duplicate, &[member]))]
    Duplicate { member: String },
    #[error("{}", tr(M::MissingMember, &[member]))]
    Missing { member: String },
    #[error("{}", tr(M::Unlisted, &[member]))]
    Unlisted { member: String },
    #[error("{}", tr(M::Checksum, &[member, expected, found]))]
    Checksum {
        member: String,
        expected: String,
        found: String,
    },
    #[error("{}", tr(M::NotRunning, &[container]))]
    NotRunning { container: String },
    #[error("{}", tr(M::Dump, &[container, code, output]))]
    Dump {
        container: String,
        code: i64,
        output: String,
    },
    #[error("{}", tr(M::ArchiveConfig, &[]))]
    ArchiveConfig(#[source] crate::config::ConfigError),
    #[error("{}", tr(M::ExistingConfig, &[]))]
    ExistingConfig(#[source] crate::config::ConfigError),
    #[error("{}", tr(M::Refused, &[&.0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; ")]))]
    Refused(Vec<Refusal>),
    #[error("{}", tr(M::ExistingDatabase, &[dir]))]
    ExistingDatabase { dir: String },
    #[error("{}", tr(M::SynapseRunning, &[container]))]
    SynapseRunning { container: String },
    #[error("{}", tr(M::DatabaseStep, &[&phrase(step), container, code, output]))]
    Database {
        step: &'static str,
        container: String,
        code: i64,
        output: String,
    },
    #[error("{}", tr(M::Interrupted, &[&phrase(step), left]))]
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
            Open { .. } => tr(M::OpenHint, &[]),
            Write { .. } => tr(M::WriteHint, &[]),
            Damaged { .. }
            | Checksum { .. }
            | Missing { .. }
            | Unlisted { .. }
            | Duplicate { .. }
            | AfterManifest { .. } => tr(M::UntrustedHint, &[]),
            NoManifest => tr(M::NoManifestHint, &[]),
            BadManifest(_) | Unexpected { .. } => tr(M::ForeignHint, &[]),
            NotRunning { .. } => tr(M::NotRunningHint, &[]),
            Dump { container, .. } => tr(M::DumpHint, &[container]),
            ArchiveConfig(e) | ExistingConfig(e) => return e.hint(),
            Refused(_) => tr(M::RefusedHint, &[]),
            ExistingDatabase { .. } => tr(M::ExistingDatabaseHint, &[]),
            SynapseRunning { .. } => tr(M::SynapseRunningHint, &[]),
            Database { container, .. } => tr(M::LogsHint, &[container]),
            Interrupted { .. } => tr(M::InterruptedHint, &[]),
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
