//! The pure decisions of a PostgreSQL major migration: whether the disk has room, which tables
//! are counted and whether the new database holds what the old one did.

/// Synapse's main tables, counted in the old and the new database: users and their devices,
/// rooms, events and state, media.
pub const COUNTED_TABLES: [&str; 10] = [
    "users",
    "devices",
    "rooms",
    "events",
    "event_json",
    "state_events",
    "current_state_events",
    "room_memberships",
    "local_media_repository",
    "e2e_device_keys_json",
];
/// Room beyond the two copies: PostgreSQL's WAL and the new cluster's own catalogs.
const MARGIN_BYTES: u64 = 256 << 20;

/// Pure: the free bytes a migration needs beside a data directory of `data_bytes`: a second copy
/// (the new major's data directory) and the dump, which is never larger than the data, plus a
/// margin.
pub fn room_needed(data_bytes: u64) -> u64 {
    data_bytes.saturating_mul(2).saturating_add(MARGIN_BYTES)
}

/// The query that counts `COUNTED_TABLES`, one `table|count` line each.
pub fn count_query() -> String {
    COUNTED_TABLES
        .iter()
        .map(|t| format!("SELECT '{t}', count(*) FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// Pure: the `table|count` lines psql printed.
pub fn parse_counts(text: &str) -> Result<Vec<(String, u64)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (table, count) = line
                .trim()
                .split_once('|')
                .ok_or_else(|| format!("an unexpected line `{line}`"))?;
            let count = count
                .parse()
                .map_err(|_| format!("an unexpected count in `{line}`"))?;
            Ok((table.to_string(), count))
        })
        .collect()
}

/// Pure: every counted table holds as many rows in the new database as in the old; the
/// differences otherwise, as `table: old -> new`.
pub fn compare_counts(old: &[(String, u64)], new: &[(String, u64)]) -> Result<(), String> {
    let mut differences = vec![];
    for (table, before) in old {
        let after = new.iter().find(|(t, _)| t == table).map(|(_, c)| *c);
        if after != Some(*before) {
            let after = after.map_or("missing".to_string(), |c| c.to_string());
            differences.push(format!("{table}: {before} -> {after}"));
        }
    }
    if old.is_empty() {
        differences.push("no table was counted".into());
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(differences.join(", "))
    }
}

/// Pure: "users 3, events 120, ...", the figures a migration reports.
pub fn summary(counts: &[(String, u64)]) -> String {
    counts
        .iter()
        .map(|(t, c)| format!("{t} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pure: whether the daemon, refused by a data directory of PostgreSQL `data` while its running
/// configuration names `wanted`, re-reads its configuration file: the data is newer (`upgrade`
/// exchanged the directories under it) and the file names an image of the data's major
/// (`on_disk`). An older data directory, or a file that still disagrees, is left to the refusal.
pub fn follow_migration(data: u32, wanted: u32, on_disk: Option<u32>) -> bool {
    data > wanted && on_disk == Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_follows_a_migration_the_file_names() {
        assert!(follow_migration(17, 15, Some(17)));
        assert!(!follow_migration(17, 15, Some(15)), "the file was put back");
        assert!(
            !follow_migration(17, 15, None),
            "no version in the tag, or no file"
        );
        assert!(
            !follow_migration(15, 17, Some(15)),
            "an older data dir is not a migration"
        );
        assert!(!follow_migration(17, 15, Some(18)));
    }

    #[test]
    fn room_for_a_second_copy_and_the_dump() {
        assert_eq!(room_needed(0), 256 << 20);
        assert_eq!(room_needed(1 << 30), (2 << 30) + (256 << 20));
        assert_eq!(room_needed(u64::MAX), u64::MAX);
    }

    #[test]
    fn counts_are_parsed_and_compared() {
        let q = count_query();
        assert!(q.starts_with("SELECT 'users', count(*) FROM users UNION ALL"));
        assert_eq!(q.matches("UNION ALL").count(), COUNTED_TABLES.len() - 1);
        let old = parse_counts("users|3\nevents|120\n\n").unwrap();
        assert_eq!(old, vec![("users".into(), 3), ("events".into(), 120)]);
        assert!(parse_counts("users 3").is_err());
        assert!(parse_counts("users|x").is_err());
        assert_eq!(compare_counts(&old, &old), Ok(()));
        let fewer = parse_counts("users|3\nevents|119").unwrap();
        assert_eq!(
            compare_counts(&old, &fewer),
            Err("events: 120 -> 119".into())
        );
        let missing = parse_counts("users|3").unwrap();
        assert_eq!(
            compare_counts(&old, &missing),
            Err("events: 120 -> missing".into())
        );
        assert!(compare_counts(&[], &[]).is_err(), "nothing counted");
        assert_eq!(summary(&old), "users 3, events 120");
    }
}
