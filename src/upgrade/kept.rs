//! The data directories of earlier PostgreSQL majors kept after a migration: when each was kept
//! (recorded at the exchange, never guessed from modification times, which a container may
//! touch), until when it stays (`upgrade.keep_old_postgres`), and its removal by the daemon once
//! that has passed.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::major_messages::M;
use crate::fsio::{self, FsError};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::stack::major;

/// `<state dir>/postgres-kept.json`: when each kept data directory was put aside.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    kept: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub major: u32,
    /// The exchange of the data directories.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// A kept data directory as `status` and `upgrade --check` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub major: u32,
    pub path: PathBuf,
    pub until: Until,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Until {
    /// Removed by the daemon from then on.
    At(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
    /// `keep_old_postgres: forever`: until `upgrade --cleanup`.
    Forever,
    /// No time was recorded (a migration by an earlier matrixbox): until `upgrade --cleanup`.
    Unrecorded,
}

fn path(paths: &Paths) -> PathBuf {
    paths.state().join("postgres-kept.json")
}

/// An unreadable record counts as empty: its directories are then kept until `--cleanup`.
fn read(paths: &Paths) -> Record {
    std::fs::read(path(paths))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write(paths: &Paths, record: &Record) -> Result<(), FsError> {
    let json = serde_json::to_vec_pretty(record).expect("a record always serialises");
    fsio::write_atomic(&path(paths), &json, 0o600)
}

/// At the exchange: the data directory of `major` was put aside at `now`.
pub fn record(paths: &Paths, major: u32, now: OffsetDateTime) -> Result<(), FsError> {
    let mut record = read(paths);
    record.kept.retain(|e| e.major != major);
    record.kept.push(Entry { major, since: now });
    write(paths, &record)
}

/// The data directories of `majors` are gone (removed, or put back in place).
pub fn forget(paths: &Paths, majors: &[u32]) -> Result<(), FsError> {
    let mut record = read(paths);
    let before = record.kept.len();
    record.kept.retain(|e| !majors.contains(&e.major));
    if record.kept.len() == before {
        return Ok(());
    }
    write(paths, &record)
}

/// Pure: until when each kept directory on disk stays, from the recorded times and the configured
/// `keep` (`None`: forever).
pub fn until(
    on_disk: Vec<(u32, PathBuf)>,
    recorded: &[Entry],
    keep: Option<Duration>,
) -> Vec<Kept> {
    on_disk
        .into_iter()
        .map(|(major, path)| {
            let since = recorded.iter().find(|e| e.major == major).map(|e| e.since);
            let until = match (since, keep) {
                (_, None) => Until::Forever,
                (None, Some(_)) => Until::Unrecorded,
                (Some(since), Some(keep)) => {
                    Until::At(since.saturating_add(keep.try_into().unwrap_or(time::Duration::MAX)))
                }
            };
            Kept { major, path, until }
        })
        .collect()
}

/// Pure: whether `kept` is due for removal at `now`.
pub fn due(kept: &Kept, now: OffsetDateTime) -> bool {
    matches!(kept.until, Until::At(at) if at <= now)
}

/// The kept data directories on disk, each with until when it stays.
pub fn list(paths: &Paths, keep: Option<Duration>) -> Vec<Kept> {
    until(major::kept_postgres_dirs(paths), &read(paths).kept, keep)
}

/// The daemon's look: removes the kept directories whose time has passed at `now`; those removed.
pub fn sweep(
    paths: &Paths,
    keep: Option<Duration>,
    now: OffsetDateTime,
) -> Result<Vec<Kept>, FsError> {
    let mut removed = vec![];
    for kept in list(paths, keep).into_iter().filter(|k| due(k, now)) {
        major::remove_state_dir(paths, &major::kept_name(kept.major))?;
        forget(paths, &[kept.major])?;
        removed.push(kept);
    }
    Ok(removed)
}

/// The daemon's sweep, after each good reconcile: off the runtime's threads (a data directory
/// can be large), each removal logged, a failure logged and tried again at the next one.
pub async fn sweep_now(paths: &Paths, keep: Option<Duration>) {
    let p = paths.clone();
    let now = OffsetDateTime::now_utc();
    let swept = tokio::task::spawn_blocking(move || sweep(&p, keep, now)).await;
    match swept {
        Ok(Ok(removed)) => {
            for kept in removed {
                if let Until::At(at) = kept.until {
                    tracing::info!(
                        major = kept.major,
                        "removed {}, the data directory of PostgreSQL {} kept since a migration, its time (upgrade.keep_old_postgres) having ended at {}",
                        kept.path.display(),
                        kept.major,
                        date(at)
                    );
                }
            }
        }
        Ok(Err(e)) => tracing::warn!("removing an old PostgreSQL data directory: {e}"),
        Err(e) => tracing::warn!("removing an old PostgreSQL data directory: {e}"),
    }
}

/// One line on a kept directory: where, and until when.
pub fn describe(lang: Lang, kept: &Kept) -> String {
    let path = kept.path.display();
    match kept.until {
        Until::At(at) => lang.t(M::KeptUntil, &[&kept.major, &path, &date(at)]),
        Until::Forever => lang.t(M::Kept, &[&kept.major, &path]),
        Until::Unrecorded => lang.t(M::KeptUnrecorded, &[&kept.major, &path]),
    }
}

/// `2026-12-12 04:30 UTC`: the day matters, the minute tells a test's short keep apart.
pub fn date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_kept_directory_is_due_once_its_time_has_passed() {
        let since = datetime!(2026-11-01 10:00 UTC);
        let recorded = [Entry { major: 15, since }];
        let on_disk = || {
            vec![
                (14, PathBuf::from("/s/postgres-14")),
                (15, PathBuf::from("/s/postgres-15")),
            ]
        };
        let kept = until(on_disk(), &recorded, Some(14 * DAY));
        assert_eq!(
            kept[0].until,
            Until::Unrecorded,
            "no time recorded: never removed by the daemon"
        );
        assert_eq!(kept[1].until, Until::At(datetime!(2026-11-15 10:00 UTC)));
        assert!(!due(&kept[0], datetime!(2100-01-01 0:00 UTC)));
        assert!(!due(&kept[1], datetime!(2026-11-15 09:59 UTC)));
        assert!(due(&kept[1], datetime!(2026-11-15 10:00 UTC)));
        let forever = until(on_disk(), &recorded, None);
        assert!(forever.iter().all(|k| k.until == Until::Forever));
        assert!(!due(&forever[1], datetime!(2100-01-01 0:00 UTC)));
        let huge = until(on_disk(), &recorded, Some(Duration::MAX));
        assert!(
            !due(&huge[1], datetime!(9999-01-01 0:00 UTC)),
            "no overflow"
        );
        assert_eq!(date(datetime!(2026-11-15 10:00 +8)), "2026-11-15 02:00 UTC");
    }

    #[test]
    fn the_time_is_recorded_at_the_exchange_and_the_sweep_removes_what_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new("/x.yaml", dir.path());
        for name in [
            "postgres/pgdata",
            "postgres-14/pgdata",
            "postgres-15/pgdata",
        ] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
        }
        let since = datetime!(2026-11-01 10:00 UTC);
        record(&paths, 15, datetime!(2020-01-01 0:00 UTC)).unwrap();
        record(&paths, 15, since).unwrap();
        assert_eq!(
            read(&paths).kept,
            vec![Entry { major: 15, since }],
            "replaced"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(&paths))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let keep = Some(14 * DAY);
        let early = sweep(&paths, keep, datetime!(2026-11-14 0:00 UTC)).unwrap();
        assert!(early.is_empty());
        let removed = sweep(&paths, keep, datetime!(2026-11-16 0:00 UTC)).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].major, 15);
        assert!(!dir.path().join("postgres-15").exists());
        assert!(dir.path().join("postgres-14").exists(), "unrecorded: kept");
        assert!(dir.path().join("postgres").exists());
        assert!(read(&paths).kept.is_empty(), "forgotten");

        let text = describe(Lang::En, &list(&paths, keep)[0]);
        assert!(text.contains("no time was recorded"), "{text}");
        forget(&paths, &[14]).unwrap();
    }
}
