//! `matrixbox export ess`: the values it writes validate against the ESS chart's published JSON
//! schema (with the bench's pinned `jsonschema`), the validator rejects broken values, and the
//! command keeps its promises about the output directory and the secrets' file modes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

fn schema() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ess-helm/values.schema.json");
    assert!(
        path.exists(),
        "{} is missing: the chart's schema lives in the shared folder beside the checkout",
        path.display()
    );
    path
}

/// Runs the schema validator on `values` (YAML); Ok or the validator's error lines.
fn validate(values: &str) -> Result<(), String> {
    let doc = matrixbox::yaml::parse(values).expect("values are YAML");
    let json = serde_json::to_vec(&doc).unwrap();
    let mut child = Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ess/validate_values.py"))
        .arg(schema())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&json).unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!("the validator itself failed: {}", describe(&out)),
    }
}

/// An installation with secrets (no engine needed) and `config` as its file.
fn installation(config: &str) -> Instance {
    let mbx = Instance::new();
    assert_success(&mbx.run(&[
        "setup",
        "--domain",
        "matrix.example.com",
        "--skip-preflight",
        "--no-start",
    ]));
    std::fs::write(mbx.config_path(), config).unwrap();
    mbx
}

fn export(mbx: &Instance, extra: &[&str]) -> (PathBuf, std::process::Output) {
    let dir = mbx.dir.path().join("ess");
    let mut args = vec!["export", "ess", "--output", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    (dir.clone(), mbx.run(&args))
}

const OVERRIDES: &str = "domain: matrix.example.com
server_name: example.com
registration: token
support:
  contacts:
    - role: m.role.admin
      email_address: admin@example.com
synapse:
  max_upload_size: 20M
  url_preview_enabled: true
  email:
    smtp_host: smtp.example.com
    smtp_pass: SMTP-SECRET-VALUE
  listeners: []
  caches:
    global_factor: 3
";

#[test]
fn values_validate_against_the_chart_schema() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("minimal, bundled", "domain: matrix.example.com\n", &[]),
        (
            "minimal, external",
            "domain: matrix.example.com\n",
            &[
                "--postgres",
                "external",
                "--postgres-host",
                "db.example.com",
            ],
        ),
        ("overrides, bundled", OVERRIDES, &["--postgres", "bundled"]),
        (
            "overrides, external",
            OVERRIDES,
            &[
                "--postgres",
                "external",
                "--postgres-host",
                "10.0.0.5",
                "--postgres-port",
                "6432",
            ],
        ),
        (
            "open registration, odd upload size",
            "domain: matrix.example.com\nregistration: open\nsynapse:\n  max_upload_size: 1500K\n",
            &[],
        ),
    ];
    for (name, config, args) in cases {
        let mbx = installation(config);
        let (dir, out) = export(&mbx, args);
        assert_success(&out);
        let values = read(&dir.join("values.yaml"));
        if let Err(errors) = validate(&values) {
            panic!("{name}: values do not validate:\n{errors}\n{values}");
        }
        assert!(
            !values.contains("SMTP-SECRET-VALUE"),
            "{name}: a secret in values.yaml"
        );
        for secret in mbx.read_secrets() {
            assert!(
                !values.contains(secret.1.trim()),
                "{name}: secret {} in values.yaml",
                secret.0
            );
        }
    }
}

#[test]
fn the_validator_rejects_broken_values() {
    let mbx = installation(OVERRIDES);
    let (dir, out) = export(&mbx, &[]);
    assert_success(&out);
    let good = read(&dir.join("values.yaml"));
    validate(&good).expect("the export itself is valid");
    for (what, from, to, error) in [
        (
            "a size in the wrong syntax",
            "maxUploadSize: 20M",
            "maxUploadSize: 20MB",
            "synapse.media.maxUploadSize",
        ),
        (
            "an unknown key",
            "serverName: example.com",
            "serverName: example.com\nserverNmae: typo",
            "serverNmae",
        ),
        (
            "a secret reference without its key",
            "    secretKey: macaroon\n",
            "",
            "synapse.macaroon",
        ),
        (
            "a string for a boolean",
            "hookshot:\n  enabled: false",
            "hookshot:\n  enabled: 'no'",
            "hookshot.enabled",
        ),
    ] {
        let broken = good.replacen(from, to, 1);
        assert_ne!(broken, good, "{what}: the test did not change the values");
        let errors = validate(&broken).expect_err(what);
        assert!(errors.contains(error), "{what}: {errors}");
    }
}

#[test]
fn files_modes_and_references() {
    let mbx = installation(OVERRIDES);
    let (dir, out) = export(&mbx, &[]);
    assert_success(&out);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in ["secret-synapse.yaml", "secret-postgres.yaml"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    for name in ["values.yaml", "RUNBOOK.md", "RUNBOOK.zh_CN.md"] {
        assert_eq!(mode(&dir.join(name)), 0o644, "{name}");
    }
    // Every Secret the values name exists, with the key they name.
    let synapse = matrixbox::yaml::parse(&read(&dir.join("secret-synapse.yaml"))).unwrap();
    let postgres = matrixbox::yaml::parse(&read(&dir.join("secret-postgres.yaml"))).unwrap();
    let values = matrixbox::yaml::parse(&read(&dir.join("values.yaml"))).unwrap();
    let secrets = |name: &str| match name {
        "matrixbox-synapse" => &synapse["stringData"],
        "matrixbox-postgres" => &postgres["stringData"],
        other => panic!("values name an unknown Secret {other}"),
    };
    let mut refs = 0;
    walk(&values, &mut |map| {
        let (name, key) = match (map.get("secret"), map.get("configSecret")) {
            (Some(n), _) => (n, &map["secretKey"]),
            (_, Some(n)) => (n, &map["configSecretKey"]),
            _ => return,
        };
        refs += 1;
        let value = &secrets(name.as_str().unwrap())[key.as_str().unwrap()];
        assert!(
            value.as_str().is_some_and(|v| !v.is_empty()),
            "{name:?}/{key:?}"
        );
    });
    assert_eq!(
        refs, 6,
        "macaroon, shared secret, signing key, 2 snippets, db password"
    );
    let signing_key = read(&mbx.state_dir().join("secrets/signing.key"));
    assert_eq!(
        synapse["stringData"]["signingKey"].as_str().unwrap().trim(),
        signing_key.trim()
    );
    let runbook = read(&dir.join("RUNBOOK.md"));
    assert!(runbook.contains("TRUNCATE e2e_one_time_keys_json"));
    assert!(read(&dir.join("RUNBOOK.zh_CN.md")).contains("一次性密钥"));
}

fn walk(value: &matrixbox::yaml::Value, f: &mut impl FnMut(&matrixbox::yaml::Mapping)) {
    if let matrixbox::yaml::Value::Mapping(map) = value {
        f(map);
        for v in map.values() {
            walk(v, f);
        }
    }
}

#[test]
fn a_non_empty_directory_is_refused_without_force() {
    let mbx = installation("domain: matrix.example.com\n");
    let dir = mbx.dir.path().join("ess");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let (_, out) = export(&mbx, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("is not empty; nothing was written"), "{err}");
    assert!(err.contains("hint: ") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    let (_, out) = export(&mbx, &["--force"]);
    assert_success(&out);
    assert_eq!(
        read(&dir.join("notes.txt")),
        "mine",
        "--force replaces only its own files"
    );
    assert!(dir.join("values.yaml").exists());
    // Again over its own export: replaced in place.
    let (_, out) = export(
        &mbx,
        &["--force", "--postgres", "external", "--postgres-host", "db"],
    );
    assert_success(&out);
    assert!(read(&dir.join("values.yaml")).contains("host: db"));
}

#[test]
fn bad_requests_write_nothing() {
    let mbx = installation("domain: matrix.example.com\n");
    let dir = mbx.dir.path().join("ess");
    // External without a host: clap's usage error.
    let (_, out) = export(&mbx, &["--postgres", "external"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("--postgres-host"),
        "{}",
        describe(&out)
    );
    let (_, out) = export(
        &mbx,
        &["--postgres", "external", "--postgres-host", "db host"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("hint: "), "{}", describe(&out));
    assert!(!dir.exists());
    // Only the edge for another Synapse: no database or media here to move.
    std::fs::write(
        mbx.config_path(),
        "domain: matrix.example.com\nupstream: http://10.0.0.9:8008\n",
    )
    .unwrap();
    let (_, out) = export(&mbx, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("runs no Synapse of its own"),
        "{}",
        describe(&out)
    );
    assert!(!dir.exists());
    // An --output that is a file.
    std::fs::write(mbx.config_path(), "domain: matrix.example.com\n").unwrap();
    let file = mbx.dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = mbx.run(&["export", "ess", "--output", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(read(&file), "x");
}
