//! `upgrade:`: how long the data directory of an earlier PostgreSQL major stays after a migration
//! (`keep_old_postgres`), before the daemon removes it.

use std::time::Duration;

use serde::Deserialize;

use super::error::{Problem, problem_t};
use super::messages::M;

/// Two weeks: time to notice a problem with the migrated database and go back to the old one.
pub const DEFAULT_KEEP_OLD_POSTGRES: Duration = Duration::from_secs(14 * 86_400);

/// `upgrade:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawUpgrade {
    /// `forever`, or a number with `s`, `m`, `h`, `d` or `w` (as `backup.every`).
    pub keep_old_postgres: Option<String>,
}

/// `None`: kept until `matrixbox upgrade --cleanup`.
pub(super) fn check_upgrade(raw: RawUpgrade, problems: &mut Vec<Problem>) -> Option<Duration> {
    match raw.keep_old_postgres.as_deref().map(str::trim) {
        None => Some(DEFAULT_KEEP_OLD_POSTGRES),
        Some("forever") => None,
        Some(text) => match super::backup::parse_every(text) {
            Some(keep) if !keep.is_zero() => Some(keep),
            _ => {
                problems.push(problem_t(
                    "upgrade.keep_old_postgres",
                    (M::NotKeepFor, &[&text]),
                    Some((M::NotKeepForFix, &[])),
                ));
                Some(DEFAULT_KEEP_OLD_POSTGRES)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn check(text: Option<&str>) -> (Option<Duration>, Vec<Problem>) {
        let mut problems = vec![];
        let raw = RawUpgrade {
            keep_old_postgres: text.map(str::to_string),
        };
        (check_upgrade(raw, &mut problems), problems)
    }

    #[test]
    fn the_old_postgres_is_kept_two_weeks_unless_told() {
        assert_eq!(check(None).0, Some(DEFAULT_KEEP_OLD_POSTGRES));
        assert_eq!(check(Some("30d")).0, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(check(Some("2w")).0, Some(DEFAULT_KEEP_OLD_POSTGRES));
        assert_eq!(check(Some("forever")).0, None);
        for bad in ["0d", "0", "14", "soon", "-1d", "never"] {
            let (_, problems) = check(Some(bad));
            assert_eq!(problems.len(), 1, "{bad}");
            assert_eq!(problems[0].path, "upgrade.keep_old_postgres");
            for lang in [Lang::En, Lang::ZhCn] {
                let (text, hint) = problems[0].text(lang);
                assert!(text.contains(bad), "{text}");
                assert!(hint.unwrap().contains("forever"));
            }
        }
    }
}
