//! The manifest: what a backup holds (each member's size and sha256) and what made it (versions,
//! server name), and the pure decisions a restore takes from it.

use serde::{Deserialize, Serialize};

use super::messages::M;
use crate::i18n::tr;

/// Bumped when the archive's layout changes; a newer format is refused, not guessed at.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// RFC 3339, UTC.
    pub created: String,
    pub server_name: String,
    pub matrixbox_version: String,
    /// As Synapse reports it (`1.163.2`).
    pub synapse_version: String,
    /// As PostgreSQL reports it (`15.14 (Debian ...)`); its major opens the dump.
    pub postgres_version: String,
    /// The federation signing key's id (`ed25519:a_xyz`); the key itself is a member.
    pub signing_key_id: String,
    /// Every member but the manifest, in archive order.
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.members.iter().map(|m| m.size).sum()
    }

    pub fn media_files(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.path.starts_with(super::MEDIA_PREFIX))
            .count()
    }
}

/// A version as numbers: `1.163.2` from `v1.163.2`, `1.163.2rc1`, `15.14 (Debian 15.14-1)`.
pub fn parse_version(text: &str) -> Option<Vec<u32>> {
    let text = text.trim().trim_start_matches('v');
    let numeric: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Option<Vec<u32>> = numeric
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect();
    parts.filter(|p| !p.is_empty())
}

/// The version an image reference's tag names (`postgres:15.14-bookworm` -> 15.14); `None` for
/// a digest or a tag without one (`latest`).
pub fn image_version(image: &str) -> Option<Vec<u32>> {
    let name = image.split('@').next()?;
    let tag = name.rsplit('/').next()?.split_once(':')?.1;
    parse_version(tag)
}

/// What the restore target will run: the versions its images name, when they name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server_name: Option<String>,
    pub synapse: Option<Vec<u32>>,
    pub postgres_major: Option<u32>,
}

/// Why a backup cannot be restored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Format(u32),
    ServerName { backup: String, here: String },
    NewerSynapse { backup: String, here: String },
    NewerPostgres { backup: u32, here: u32 },
}

fn dotted(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Pure: every reason this backup cannot be restored onto `target`. A database dump restores
/// into the same or a newer PostgreSQL major only; Synapse refuses a schema newer than itself.
/// A version the target's image does not name is not judged (its tag is a digest or `latest`).
pub fn refusals(manifest: &Manifest, target: &Target) -> Vec<Refusal> {
    let mut found = Vec::new();
    if manifest.format != FORMAT {
        found.push(Refusal::Format(manifest.format));
    }
    if let Some(here) = &target.server_name
        && !here.eq_ignore_ascii_case(&manifest.server_name)
    {
        found.push(Refusal::ServerName {
            backup: manifest.server_name.clone(),
            here: here.clone(),
        });
    }
    if let (Some(backup), Some(here)) = (parse_version(&manifest.synapse_version), &target.synapse)
        && backup > *here
    {
        found.push(Refusal::NewerSynapse {
            backup: dotted(&backup),
            here: dotted(here),
        });
    }
    let backup_pg = parse_version(&manifest.postgres_version).and_then(|v| v.first().copied());
    if let (Some(backup), Some(here)) = (backup_pg, target.postgres_major)
        && backup > here
    {
        found.push(Refusal::NewerPostgres { backup, here });
    }
    found
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Format(n) => f.write_str(&tr(M::RefuseFormat, &[n, &FORMAT])),
            Refusal::ServerName { backup, here } => {
                f.write_str(&tr(M::RefuseServerName, &[backup, here]))
            }
            Refusal::NewerSynapse { backup, here } => {
                f.write_str(&tr(M::RefuseSynapse, &[backup, here]))
            }
            Refusal::NewerPostgres { backup, here } => {
                f.write_str(&tr(M::RefusePostgres, &[backup, here]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            created: "2026-11-27T20:00:00Z".into(),
            server_name: "example.org".into(),
            matrixbox_version: "0.1.0".into(),
            synapse_version: "1.163.2".into(),
            postgres_version: "15.14 (Debian 15.14-1.pgdg120+1)".into(),
            signing_key_id: "ed25519:a_abc".into(),
            members: vec![
                Member {
                    path: "database.pgdump".into(),
                    size: 10,
                    sha256: "00".into(),
                },
                Member {
                    path: "media/local_content/ab/cd/x".into(),
                    size: 5,
                    sha256: "11".into(),
                },
            ],
        }
    }

    fn target(synapse: &str, postgres: &str) -> Target {
        Target {
            server_name: None,
            synapse: image_version(synapse),
            postgres_major: image_version(postgres).map(|v| v[0]),
        }
    }

    #[test]
    fn versions_are_read_from_reports_and_tags() {
        assert_eq!(parse_version("1.163.2"), Some(vec![1, 163, 2]));
        assert_eq!(parse_version("v1.163.2rc1"), Some(vec![1, 163, 2]));
        assert_eq!(parse_version("15.14 (Debian 15.14-1)"), Some(vec![15, 14]));
        assert_eq!(parse_version("latest"), None);
        assert_eq!(
            image_version("matrixdotorg/synapse:v1.163.2"),
            Some(vec![1, 163, 2])
        );
        assert_eq!(
            image_version("mirror.example:5000/library/postgres:15.14-bookworm"),
            Some(vec![15, 14])
        );
        assert_eq!(image_version("mirror.example:5000/postgres"), None);
        assert_eq!(image_version("postgres@sha256:abcd"), None);
        assert_eq!(image_version("postgres:latest"), None);
    }

    #[test]
    fn same_or_newer_target_accepts() {
        let m = manifest();
        assert_eq!(refusals(&m, &target("synapse:v1.163.2", "postgres:15")), []);
        assert_eq!(
            refusals(&m, &target("synapse:v1.170.0", "postgres:17.1")),
            []
        );
        assert_eq!(
            refusals(&m, &target("synapse@sha256:ab", "postgres:latest")),
            [],
            "versions the images do not name are not judged"
        );
    }

    #[test]
    fn newer_synapse_or_postgres_is_refused_with_both_versions() {
        let m = manifest();
        let found = refusals(&m, &target("synapse:v1.99.0", "postgres:14.9"));
        assert_eq!(
            found,
            [
                Refusal::NewerSynapse {
                    backup: "1.163.2".into(),
                    here: "1.99.0".into()
                },
                Refusal::NewerPostgres {
                    backup: 15,
                    here: 14
                }
            ]
        );
        assert!(found[0].to_string().contains("Synapse 1.163.2"));
        // 1.163.10 is newer than 1.163.2: numbers, not text.
        let newer = Manifest {
            synapse_version: "1.163.10".into(),
            ..m
        };
        assert_eq!(
            refusals(&newer, &target("synapse:v1.163.2", "postgres:15")).len(),
            1
        );
    }

    #[test]
    fn another_server_name_or_format_is_refused() {
        let m = manifest();
        let here = Target {
            server_name: Some("other.example".into()),
            ..target("synapse:v1.163.2", "postgres:15")
        };
        let found = refusals(&m, &here);
        assert!(matches!(&found[..], [Refusal::ServerName { backup, here }]
            if backup == "example.org" && here == "other.example"));
        let same = Target {
            server_name: Some("Example.ORG".into()),
            ..here
        };
        assert_eq!(refusals(&m, &same), []);
        let future = Manifest { format: 2, ..m };
        assert_eq!(
            refusals(&future, &target("synapse:v1.163.2", "postgres:15")),
            [Refusal::Format(2)]
        );
    }

    #[test]
    fn manifest_round_trips_and_counts() {
        let m = manifest();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        assert_eq!(m.total_bytes(), 15);
        assert_eq!(m.media_files(), 1);
        assert!(
            serde_json::from_str::<Manifest>(&text.replace("\"format\"", "\"formt\"")).is_err()
        );
    }
}
