//! `backup:`: when the daemon takes backups, how many it keeps, and where.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{Problem, problem_t};
use super::messages::M;

/// Daily, the last seven kept: a week to notice that something went wrong.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(86_400);
pub const DEFAULT_KEEP: u32 = 7;
/// Shorter would mostly wear the disk; it is allowed for trying the schedule out.
const MIN_EVERY: Duration = Duration::from_secs(10);

/// `backup:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    /// `off`, or a number with `s`, `m`, `h`, `d` or `w`.
    pub every: Option<String>,
    pub keep: Option<u32>,
    pub dir: Option<PathBuf>,
}

/// The daemon's backup schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSchedule {
    /// `None`: no scheduled backups (`backup create` still works).
    pub every: Option<Duration>,
    /// Scheduled archives of this server kept in `dir`; older ones are removed.
    pub keep: u32,
    /// `None`: `<state>/backups`.
    pub dir: Option<PathBuf>,
}

impl Default for BackupSchedule {
    fn default() -> Self {
        BackupSchedule {
            every: Some(DEFAULT_EVERY),
            keep: DEFAULT_KEEP,
            dir: None,
        }
    }
}

pub(super) fn check_backup(raw: RawBackup, problems: &mut Vec<Problem>) -> BackupSchedule {
    let every = match raw.every.as_deref().map(str::trim) {
        None => Some(DEFAULT_EVERY),
        Some("off") => None,
        Some(text) => match parse_every(text) {
            Some(every) if every >= MIN_EVERY => Some(every),
            _ => {
                problems.push(problem_t(
                    "backup.every",
                    (M::NotInterval, &[&text]),
                    Some((M::NotIntervalFix, &[])),
                ));
                None
            }
        },
    };
    let keep = raw.keep.unwrap_or(DEFAULT_KEEP);
    if keep == 0 {
        problems.push(problem_t(
            "backup.keep",
            (M::KeepZero, &[]),
            Some((M::KeepZeroFix, &[&DEFAULT_KEEP])),
        ));
    }
    if let Some(dir) = &raw.dir
        && !dir.is_absolute()
    {
        problems.push(problem_t(
            "backup.dir",
            (M::NotAbsolute, &[&dir.display()]),
            Some((M::BackupDirFix, &[])),
        ));
    }
    BackupSchedule {
        every,
        keep,
        dir: raw.dir,
    }
}

/// `90s`, `30m`, `12h`, `1d`, `1w`.
fn parse_every(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(
        number.parse::<u64>().ok()?.checked_mul(seconds)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawBackup) -> (BackupSchedule, Vec<String>) {
        let mut problems = vec![];
        let schedule = check_backup(raw, &mut problems);
        (schedule, problems.iter().map(|p| p.path.clone()).collect())
    }

    #[test]
    fn defaults_are_daily_keeping_seven_under_the_state_dir() {
        let (schedule, problems) = check(RawBackup::default());
        assert_eq!(schedule, BackupSchedule::default());
        assert_eq!(schedule.every, Some(Duration::from_secs(86_400)));
        assert!(problems.is_empty());
    }

    #[test]
    fn intervals_and_off() {
        for (text, every) in [
            ("off", None),
            ("10s", Some(10)),
            ("30m", Some(1_800)),
            ("12h", Some(43_200)),
            ("1d", Some(86_400)),
            ("2w", Some(1_209_600)),
        ] {
            let raw = RawBackup {
                every: Some(text.into()),
                ..Default::default()
            };
            let (schedule, problems) = check(raw);
            assert_eq!(schedule.every, every.map(Duration::from_secs), "{text}");
            assert!(problems.is_empty(), "{text}");
        }
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        for text in [
            "daily",
            "5s",
            "0h",
            "1y",
            "h",
            "-1d",
            "99999999999999999999d",
        ] {
            let raw = RawBackup {
                every: Some(text.into()),
                ..Default::default()
            };
            assert_eq!(check(raw).1, ["backup.every"], "{text}");
        }
        let raw = RawBackup {
            keep: Some(0),
            dir: Some("backups".into()),
            ..Default::default()
        };
        assert_eq!(check(raw).1, ["backup.keep", "backup.dir"]);
    }
}
