//! Whether this server has a recent good backup.

use super::step;
use crate::backup::{human_bytes, schedule::Freshness};
use crate::doctor::messages::M;
use crate::doctor::{Local, Status, Step};
use crate::i18n::Lang;

pub fn backups(local: &Local, l: Lang) -> Step {
    let title = l.t(M::TitleBackups, &[]);
    let Some((freshness, scheduled)) = &local.backup else {
        return step("backups", title, Status::Skip, l.t(M::Upstream, &[]), None);
    };
    let fix = || Some(l.t(M::BackupFix, &[]));
    match freshness {
        Freshness::Fresh { age, bytes } => step(
            "backups",
            title,
            Status::Pass,
            l.t(
                M::BackupFresh,
                &[&(age.as_secs() / 3_600), &human_bytes(*bytes)],
            ),
            None,
        ),
        // A new server: the daemon's first backup is minutes away.
        Freshness::Never if *scheduled => step(
            "backups",
            title,
            Status::Pass,
            l.t(M::BackupNone, &[]),
            None,
        ),
        Freshness::Never => step(
            "backups",
            title,
            Status::Warn,
            l.t(M::BackupNoneOff, &[]),
            fix(),
        ),
        Freshness::Stale { age, bytes } => step(
            "backups",
            title,
            Status::Warn,
            l.t(
                M::BackupStale,
                &[&(age.as_secs() / 86_400), &human_bytes(*bytes)],
            ),
            fix(),
        ),
        Freshness::Failed { error, .. } => step(
            "backups",
            title,
            Status::Warn,
            l.t(M::BackupFailed, &[error]),
            fix(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::doctor::judge::tests::local;

    fn judged(backup: Option<(Freshness, bool)>) -> (Status, String) {
        let mut facts = local();
        facts.backup = backup;
        let s = backups(&facts, Lang::En);
        (s.status, s.evidence)
    }

    #[test]
    fn older_than_two_days_or_failed_warns() {
        let day = Duration::from_secs(86_400);
        let fresh = Freshness::Fresh {
            age: day / 2,
            bytes: 1 << 20,
        };
        assert_eq!(judged(Some((fresh, true))).0, Status::Pass);
        let stale = Freshness::Stale {
            age: day * 3,
            bytes: 1 << 20,
        };
        assert_eq!(
            judged(Some((stale, true))),
            (
                Status::Warn,
                "the last good backup is 3 days old (1.00 MiB)".into()
            )
        );
        let failed = Freshness::Failed {
            error: "disk full".into(),
            last_good: None,
        };
        assert_eq!(
            judged(Some((failed, true))),
            (Status::Warn, "the last backup failed: disk full".into())
        );
        assert_eq!(judged(Some((Freshness::Never, true))).0, Status::Pass);
        assert_eq!(judged(Some((Freshness::Never, false))).0, Status::Warn);
        assert_eq!(judged(None).0, Status::Skip);
    }
}
