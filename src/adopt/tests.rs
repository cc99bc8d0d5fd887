//! Snapshot tests of what `adopt` prints, its plan and its errors with hints, in both languages.

use std::path::{Path, PathBuf};

use super::*;
use crate::docker::compose::ComposeContainer;

const HOMESERVER: &str = "server_name: example.org\n\
public_baseurl: https://matrix.example.org/\n\
database:\n  name: psycopg2\n  args:\n    user: synapse_user\n    password: secret\n    database: synapse\n\
macaroon_secret_key: mac\n\
form_secret: form\n\
max_upload_size: 100M\n\
retention:\n  enabled: true\n\
trusted_key_servers:\n  - server_name: matrix.org\n";

fn container(name: &str, service: &str) -> ComposeContainer {
    ComposeContainer {
        name: name.into(),
        service: service.into(),
        project: "matrix".into(),
        image: "img".into(),
        running: true,
        command: String::new(),
        mounts: vec![],
    }
}

fn found() -> Found {
    let homeserver = plan::homeserver(HOMESERVER, Path::new("/data/homeserver.yaml")).unwrap();
    Found {
        dir: "/srv/matrix".into(),
        synapse: container("matrix-synapse-1", "synapse"),
        postgres: container("matrix-postgres-1", "postgres"),
        domain: plan::domain(&homeserver),
        config_text: String::new(),
        config_existed: false,
        signing_key: "ed25519 a_x AAAA".into(),
        media: Some("/srv/matrix/data/media_store".into()),
        manifest: Manifest {
            format: FORMAT,
            created: "2026-11-28T01:00:00Z".into(),
            server_name: "example.org".into(),
            matrixbox_version: "0.1.0".into(),
            synapse_version: "1.163.2".into(),
            postgres_version: "15.14 (Debian 15.14-0+deb12u1)".into(),
            signing_key_id: "ed25519:a_x".into(),
            members: vec![],
        },
        archive: "/var/lib/matrixbox/backups/adopted-example.org-20261128T010000Z.tar.gz".into(),
        homeserver,
    }
}

#[test]
fn every_message_has_both_languages() {
    crate::i18n::assert_complete(M::ALL);
}

#[test]
fn the_plan_in_both_languages() {
    let paths = Paths::new("/etc/matrixbox/matrixbox.yaml", "/var/lib/matrixbox");
    let found = found();
    for (lang, file) in [
        (Lang::En, "adopt-plan.en.txt"),
        (Lang::ZhCn, "adopt-plan.zh_CN.txt"),
    ] {
        let archive = found.archive.display();
        let progress = [
            lang.t(M::StoppingSynapse, &[&found.synapse.name]),
            lang.t(M::Copying, &[&archive]),
            lang.t(M::Verified, &[&archive]),
            lang.t(M::StoppingPostgres, &[&found.postgres.name]),
            lang.t(M::Adopted, &[&"example.org", &3, &"ed25519:a_x", &archive]),
            lang.t(M::GoBack, &[&found.dir.display()]),
        ];
        let text = format!(
            "{}\n{}\n{}\n",
            describe(lang, &found, &paths),
            lang.t(M::DryRun, &[]),
            progress.join("\n")
        );
        crate::golden::assert_golden(file, &text);
    }
}

fn errors() -> Vec<AdoptError> {
    let dir = PathBuf::from("/srv/matrix");
    vec![
        AdoptError::NoDir {
            dir: dir.clone(),
            reason: "No such file or directory (os error 2)".into(),
        },
        AdoptError::NoCompose { dir: dir.clone() },
        AdoptError::MissingService {
            dir: dir.clone(),
            service: "postgres".into(),
            found: vec!["synapse".into()],
        },
        AdoptError::ScaledService {
            service: "synapse".into(),
            containers: vec!["m-synapse-1".into(), "m-synapse-2".into()],
        },
        AdoptError::NotMounted {
            container: "matrix-synapse-1".into(),
            path: "/keys/example.org.signing.key".into(),
        },
        AdoptError::Read {
            path: "/srv/matrix/data/homeserver.yaml".into(),
            reason: "Permission denied (os error 13)".into(),
        },
        AdoptError::BadHomeserver {
            path: "/data/homeserver.yaml".into(),
            reason: "server_name is not set".into(),
        },
        AdoptError::NotPostgres {
            engine: "sqlite3".into(),
        },
        AdoptError::BadSigningKey {
            path: "/srv/matrix/data/example.org.signing.key".into(),
        },
        AdoptError::PostgresStopped {
            container: "matrix-postgres-1".into(),
        },
        AdoptError::Database {
            container: "matrix-postgres-1".into(),
            step: M::StepVersion,
            code: 2,
            output: "psql: error: connection refused".into(),
        },
        AdoptError::ServerName {
            config: "/etc/matrixbox/matrixbox.yaml".into(),
            here: "other.org".into(),
            theirs: "example.org".into(),
        },
        AdoptError::Newer(vec![
            Refusal::NewerSynapse {
                backup: "1.170.0".into(),
                here: "1.163.2".into(),
            },
            Refusal::NewerPostgres {
                backup: 17,
                here: 15,
            },
        ]),
        AdoptError::ExistingDatabase {
            dir: "/var/lib/matrixbox/postgres".into(),
        },
        AdoptError::MatrixboxRunning {
            container: "matrixbox-synapse".into(),
        },
        AdoptError::Copy {
            restarted: true,
            source: Box::new(BackupError::Dump {
                container: "matrix-postgres-1".into(),
                code: 1,
                output: "pg_dump: error: connection failed".into(),
            }),
        },
        AdoptError::Restore {
            archive: "/var/lib/matrixbox/backups/adopted-example.org-20261128T010000Z.tar.gz"
                .into(),
            dir,
            source: Box::new(BackupError::NotRunning {
                container: "matrixbox-postgres".into(),
            }),
        },
    ]
}

#[test]
fn errors_and_hints_in_both_languages() {
    for (lang, file) in [
        (Lang::En, "adopt-errors.en.txt"),
        (Lang::ZhCn, "adopt-errors.zh_CN.txt"),
    ] {
        let mut text = String::new();
        for e in errors() {
            text.push_str(&format!(
                "{}\n  {}\n",
                e.text(lang),
                e.hint_in(lang).unwrap_or_default()
            ));
        }
        crate::golden::assert_golden(file, &text);
    }
}
