//! The pure decisions of an upgrade: what to do from what runs, whether the gate passed, and the
//! record of the last attempt that `status` shows.

use serde::{Deserialize, Serialize};

use crate::backup::manifest::image_version;

/// What `matrixbox upgrade` would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No Synapse container: `matrixbox run` makes one on the configured image, nothing to move.
    NotInstalled,
    UpToDate {
        image: String,
    },
    /// Synapse moves from `from` to `to`; `pull` when `to` is not on this host yet.
    Upgrade {
        from: String,
        to: String,
        pull: bool,
    },
    /// The configured image names an older Synapse than the one running: an older Synapse
    /// refuses the schema a newer one migrated, so this is refused.
    Downgrade {
        from: String,
        to: String,
    },
}

/// The image Synapse runs: its reference and the ID that reference has on the engine (None
/// when the image is gone).
pub struct Running<'a> {
    pub image: &'a str,
    pub id: Option<&'a str>,
}

/// Pure: the plan from what runs and what is configured (`target_id` None when the configured
/// image is not on this host yet). Images are compared by ID, so a mirror's name for the same
/// image is no upgrade; versions are read from the tags when both name one.
pub fn plan(running: Option<Running>, target: &str, target_id: Option<&str>) -> Plan {
    let Some(running) = running else {
        return Plan::NotInstalled;
    };
    if running.id.is_some() && running.id == target_id {
        return Plan::UpToDate {
            image: running.image.into(),
        };
    }
    let (from, to) = (running.image.to_string(), target.to_string());
    match (image_version(&from), image_version(&to)) {
        (Some(old), Some(new)) if new < old => Plan::Downgrade { from, to },
        _ => Plan::Upgrade {
            from,
            to,
            pull: target_id.is_none(),
        },
    }
}

/// Pure: whether the schema migration finished: the database's `schema_version` row (`92|t`, as
/// psql prints `version|upgraded`) names the version the new Synapse's code is at (`92`).
pub fn schema_migrated(database: &str, code: &str) -> Result<(), String> {
    let code = code.trim();
    match database.trim().split_once('|') {
        Some((version, "t")) if version == code => Ok(()),
        Some((version, upgraded)) => Err(format!(
            "the database schema is at version {version} (upgraded: {upgraded}), Synapse's code at {code}"
        )),
        None => Err(format!(
            "the database has no schema version Synapse wrote (read `{}`)",
            database.trim()
        )),
    }
}

/// How the last upgrade ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Started and not finished: the process was stopped midway.
    InProgress,
    Upgraded,
    RolledBack,
    RollbackFailed,
}

/// The last upgrade attempt, kept in the state dir (`upgrade.json`) for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub from: String,
    pub to: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub outcome: Outcome,
    /// The backup taken before Synapse moved.
    pub backup: Option<String>,
    /// Seconds Synapse did not serve: from its stop to the gate passed (or the rollback done).
    pub downtime_s: Option<f64>,
    /// Seconds the rollback took, when there was one.
    pub rollback_s: Option<f64>,
    /// Why the gate failed, first line.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running<'a>(image: &'a str, id: &'a str) -> Option<Running<'a>> {
        Some(Running {
            image,
            id: Some(id),
        })
    }

    #[test]
    fn plans() {
        let to = "synapse:v1.163.2";
        assert_eq!(plan(None, to, Some("b")), Plan::NotInstalled);
        assert_eq!(
            plan(running("mirror/synapse:v1.163.2", "b"), to, Some("b")),
            Plan::UpToDate {
                image: "mirror/synapse:v1.163.2".into()
            },
            "the same image under a mirror's name"
        );
        assert_eq!(
            plan(running("synapse:v1.161.0", "a"), to, Some("b")),
            Plan::Upgrade {
                from: "synapse:v1.161.0".into(),
                to: to.into(),
                pull: false
            }
        );
        assert_eq!(
            plan(running("synapse:v1.161.0", "a"), to, None),
            Plan::Upgrade {
                from: "synapse:v1.161.0".into(),
                to: to.into(),
                pull: true
            }
        );
        assert_eq!(
            plan(running("synapse:v1.164.0", "c"), to, Some("b")),
            Plan::Downgrade {
                from: "synapse:v1.164.0".into(),
                to: to.into()
            }
        );
        // A tag without a version (or a digest) is not judged by version.
        assert!(matches!(
            plan(running("synapse@sha256:ab", "c"), to, Some("b")),
            Plan::Upgrade { .. }
        ));
        // The image the container ran from is gone: never "up to date".
        assert!(matches!(
            plan(
                Some(Running {
                    image: to,
                    id: None
                }),
                to,
                None
            ),
            Plan::Upgrade { .. }
        ));
    }

    #[test]
    fn schema_gate() {
        assert_eq!(schema_migrated("92|t\n", "92\n"), Ok(()));
        assert!(schema_migrated("91|t", "92").unwrap_err().contains("91"));
        assert!(
            schema_migrated("92|f", "92")
                .unwrap_err()
                .contains("upgraded: f")
        );
        assert!(schema_migrated("", "92").is_err());
    }

    #[test]
    fn record_round_trips_as_json() {
        let r = Record {
            from: "a:1".into(),
            to: "a:2".into(),
            started: "2026-01-01T00:00:00Z".into(),
            outcome: Outcome::RolledBack,
            backup: Some("/b.tar.gz".into()),
            downtime_s: Some(12.5),
            rollback_s: Some(4.0),
            reason: Some("exited".into()),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"rolled_back\""));
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
    }
}
