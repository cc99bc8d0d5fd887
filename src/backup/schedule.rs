//! Scheduled backups: when the next one is due, which old ones go, how fresh the last good one
//! is (pure, from `now` and the record), and the record of the last good and failed backup
//! (`<state>/backup-status.json`, read by `status`, `doctor` and the metrics).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::fsio::{self, FsError};
use crate::paths::Paths;

/// A server that never had a backup gets one soon after the daemon starts, not a day later.
const FIRST_AFTER_START: Duration = Duration::from_secs(10 * 60);
/// After a failure, the next attempt comes sooner than the schedule's (but never more often).
const RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// `doctor` warns when the last good backup is older than this.
pub const STALE_AFTER: Duration = Duration::from_secs(2 * 86_400);

/// The last good backup and the last failure (kept only while no good backup came after it);
/// the same for the off-host copy (`backup.offsite`), absent from records written before it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub last_good: Option<Good>,
    pub last_failure: Option<Failure>,
    #[serde(default)]
    pub last_push: Option<Push>,
    #[serde(default)]
    pub last_push_failure: Option<Failure>,
}

/// An archive copied into the bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    /// Unix seconds.
    pub at: i64,
    pub key: String,
    pub bytes: u64,
    pub encrypted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Good {
    /// Unix seconds.
    pub at: i64,
    pub path: PathBuf,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Unix seconds.
    pub at: i64,
    pub error: String,
}

impl Record {
    pub fn succeeded(&mut self, at: i64, path: PathBuf, bytes: u64) {
        self.last_good = Some(Good { at, path, bytes });
        self.last_failure = None;
    }

    pub fn failed(&mut self, at: i64, error: String) {
        self.last_failure = Some(Failure { at, error });
    }

    pub fn pushed(&mut self, push: Push) {
        self.last_push = Some(push);
        self.last_push_failure = None;
    }

    pub fn push_failed(&mut self, at: i64, error: String) {
        self.last_push_failure = Some(Failure { at, error });
    }
}

/// Where scheduled backups go: `backup.dir`, or the state dir's `backups`.
pub fn dir(config: &Config, paths: &Paths) -> PathBuf {
    config
        .backup
        .dir
        .clone()
        .unwrap_or_else(|| paths.state().join("backups"))
}

/// The record as last written; none yet (or unreadable, which is said) is an empty one.
pub fn load(paths: &Paths) -> Record {
    let path = paths.backup_status();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("{} is unreadable ({e}); starting a new one", path.display());
            Record::default()
        }),
        Err(_) => Record::default(),
    }
}

/// Written atomically (0600: it holds paths and error messages, nothing secret, but nothing others need).
pub fn save(paths: &Paths, record: &Record) -> Result<(), FsError> {
    let json = serde_json::to_vec_pretty(record).expect("a record serialises");
    fsio::write_atomic(&paths.backup_status(), &json, 0o600)
}

/// Pure: the unix time the next scheduled backup is due.
pub fn next_due(every: Duration, started: i64, record: &Record) -> i64 {
    let after = |at: i64, wait: Duration| at.saturating_add(wait.as_secs() as i64);
    match (&record.last_good, &record.last_failure) {
        (_, Some(failure)) => after(failure.at, every.min(RETRY_AFTER)),
        (Some(good), None) => after(good.at, every),
        (None, None) => after(started, every.min(FIRST_AFTER_START)),
    }
}

/// Pure: the scheduled archives of `server_name` in a directory listing that go, oldest first,
/// so that the newest `keep` stay. Anything not named like one of them is never touched.
pub fn to_prune(names: &[String], server_name: &str, keep: u32) -> Vec<String> {
    let mut ours: Vec<&String> = names
        .iter()
        .filter(|name| is_archive_of(name, server_name))
        .collect();
    // The UTC stamp in the name sorts as the time does.
    ours.sort();
    let surplus = ours.len().saturating_sub(keep as usize);
    ours[..surplus].iter().map(|n| n.to_string()).collect()
}

/// `<server>-YYYYMMDDTHHMMSSZ.tar.gz`, as `create::default_output` names archives.
fn is_archive_of(name: &str, server_name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(server_name)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(".tar.gz"))
    else {
        return false;
    };
    let bytes = stamp.as_bytes();
    bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit)
}

/// How the last backup stands, as `status` and `doctor` say it.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    Never,
    Fresh {
        age: Duration,
        bytes: u64,
    },
    Stale {
        age: Duration,
        bytes: u64,
    },
    /// The last attempt failed (after the last good backup, if any).
    Failed {
        error: String,
        last_good: Option<Duration>,
    },
}

/// Pure: the record judged at `now` (unix seconds). A failed off-host copy counts as a failed
/// backup: the copy on this disk alone is not one.
pub fn freshness(now: i64, record: &Record) -> Freshness {
    let age = |at: i64| Duration::from_secs(now.saturating_sub(at).max(0) as u64);
    let failure = record.last_failure.clone().or_else(|| {
        record.last_push_failure.as_ref().map(|f| Failure {
            at: f.at,
            error: format!("the off-host copy failed: {}", f.error),
        })
    });
    match (&record.last_good, &failure) {
        (good, Some(failure)) => Freshness::Failed {
            error: failure.error.clone(),
            last_good: good.as_ref().map(|g| age(g.at)),
        },
        (Some(good), None) if age(good.at) > STALE_AFTER => Freshness::Stale {
            age: age(good.at),
            bytes: good.bytes,
        },
        (Some(good), None) => Freshness::Fresh {
            age: age(good.at),
            bytes: good.bytes,
        },
        (None, None) => Freshness::Never,
    }
}

/// Removes the archives `to_prune` picks from `dir`; a file that cannot go is logged and kept.
pub fn prune(dir: &Path, server_name: &str, keep: u32) {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list {} to remove old backups: {e}", dir.display());
            return;
        }
    };
    for name in to_prune(&names, server_name, keep) {
        let path = dir.join(&name);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("removed the old backup {}", path.display()),
            Err(e) => tracing::warn!("cannot remove the old backup {}: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn good(at: i64) -> Option<Good> {
        Some(Good {
            at,
            path: "/b/x.tar.gz".into(),
            bytes: 42,
        })
    }

    fn failure(at: i64) -> Option<Failure> {
        Some(Failure {
            at,
            error: "disk full".into(),
        })
    }

    #[test]
    fn the_first_backup_comes_soon_after_start_then_on_schedule() {
        let never = Record::default();
        assert_eq!(next_due(DAY, 1_000, &never), 1_000 + 600);
        // A schedule shorter than the first wait is kept.
        assert_eq!(next_due(Duration::from_secs(30), 1_000, &never), 1_030);
        let done = Record {
            last_good: good(5_000),
            last_failure: None,
            ..Default::default()
        };
        assert_eq!(next_due(DAY, 1_000, &done), 5_000 + 86_400);
    }

    #[test]
    fn a_failure_is_retried_within_the_hour_never_faster_than_the_schedule() {
        let failed = Record {
            last_good: good(5_000),
            last_failure: failure(9_000),
            ..Default::default()
        };
        assert_eq!(next_due(DAY, 1_000, &failed), 9_000 + 3_600);
        assert_eq!(next_due(Duration::from_secs(60), 1_000, &failed), 9_060);
    }

    #[test]
    fn success_clears_the_failure() {
        let mut record = Record {
            last_good: None,
            last_failure: failure(9_000),
            ..Default::default()
        };
        record.succeeded(9_500, "/b/y.tar.gz".into(), 7);
        assert_eq!(record.last_failure, None);
        assert_eq!(record.last_good.unwrap().bytes, 7);
    }

    #[test]
    fn pruning_keeps_the_newest_and_touches_only_this_servers_archives() {
        let names: Vec<String> = [
            "ex.org-20261120T030000Z.tar.gz",
            "ex.org-20261122T030000Z.tar.gz",
            "ex.org-20261121T030000Z.tar.gz",
            "other.org-20261101T030000Z.tar.gz",
            "ex.org-manual.tar.gz",
            "ex.org-20261119T030000Z.tar.gz.partial",
            ".matrixbox-backup-abc.partial",
            "ex.org-2026112T030000Z.tar.gz",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            to_prune(&names, "ex.org", 2),
            ["ex.org-20261120T030000Z.tar.gz"]
        );
        assert_eq!(to_prune(&names, "ex.org", 3), Vec::<String>::new());
        assert_eq!(to_prune(&names, "ex.org", 1).len(), 2);
        // A server name that is a prefix of another's does not take the other's archives.
        assert_eq!(to_prune(&names, "ex", 0), Vec::<String>::new());
    }

    #[test]
    fn freshness_warns_after_two_days_and_on_failure() {
        let now = 10 * 86_400;
        assert_eq!(freshness(now, &Record::default()), Freshness::Never);
        let recent = Record {
            last_good: good(now - 3_600),
            last_failure: None,
            ..Default::default()
        };
        assert_eq!(
            freshness(now, &recent),
            Freshness::Fresh {
                age: Duration::from_secs(3_600),
                bytes: 42
            }
        );
        let old = Record {
            last_good: good(now - 3 * 86_400),
            last_failure: None,
            ..Default::default()
        };
        assert!(matches!(freshness(now, &old), Freshness::Stale { .. }));
        let failed = Record {
            last_good: good(now - 3_600),
            last_failure: failure(now - 60),
            ..Default::default()
        };
        assert_eq!(
            freshness(now, &failed),
            Freshness::Failed {
                error: "disk full".into(),
                last_good: Some(Duration::from_secs(3_600))
            }
        );
    }

    #[test]
    fn a_failed_push_warns_until_the_next_one_succeeds() {
        let now = 10 * 86_400;
        let mut record = Record {
            last_good: good(now - 3_600),
            ..Default::default()
        };
        record.push_failed(now - 60, "cannot reach https://s3.example.com".into());
        assert_eq!(
            freshness(now, &record),
            Freshness::Failed {
                error: "the off-host copy failed: cannot reach https://s3.example.com".into(),
                last_good: Some(Duration::from_secs(3_600))
            }
        );
        // The schedule is the local one's: a failed push does not bring the next backup forward.
        assert_eq!(next_due(DAY, 0, &record), now - 3_600 + 86_400);
        record.pushed(Push {
            at: now,
            key: "mbx/x.tar.gz.age".into(),
            bytes: 50,
            encrypted: true,
        });
        assert!(matches!(freshness(now, &record), Freshness::Fresh { .. }));
        // A record written before off-host copies existed still reads.
        let old: Record =
            serde_json::from_str(r#"{"last_good":null,"last_failure":null}"#).unwrap();
        assert_eq!(old, Record::default());
    }
}
