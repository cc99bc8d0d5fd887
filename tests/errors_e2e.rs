//! Bad input gets a clear error, a non-zero exit, and changes nothing.

mod common;

use std::time::Duration;

use common::*;

fn assert_error(out: &std::process::Output, needles: &[&str]) {
    assert!(!out.status.success(), "expected failure: {}", describe(out));
    let err = stderr(out);
    assert!(err.lines().any(|l| l.starts_with("error: ")), "{err}");
    assert!(
        err.contains("\nhint: "),
        "every error ends with a hint: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn setup_rejects_an_invalid_domain_and_writes_nothing() {
    let mbx = Instance::new();
    let out = mbx.run(&["setup", "--domain", "https://matrix.example.com/"]);
    assert_error(
        &out,
        &[
            "--domain `https://matrix.example.com/`",
            "without `https://`",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad argument is a usage error"
    );
    assert!(!mbx.config_path().exists());
    assert!(!mbx.state_dir().exists());
}

#[test]
fn setup_does_not_overwrite_a_different_config_without_force() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "a.example.com", "--skip-preflight"]));
    let secrets = mbx.read_secrets();
    let out = mbx.run(&["setup", "--domain", "b.example.com", "--skip-preflight"]);
    assert!(!out.status.success());
    assert!(read(&mbx.config_path()).contains("a.example.com"));
    assert_success(&mbx.run(&[
        "setup",
        "--domain",
        "b.example.com",
        "--force",
        "--skip-preflight",
    ]));
    assert!(read(&mbx.config_path()).contains("b.example.com"));
    assert_eq!(
        mbx.read_secrets(),
        secrets,
        "--force rewrites the config, never the secrets"
    );
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "a.example.com", "--skip-preflight"]));
    mbx.append_config("synapse: [unclosed\n");
    let out = mbx.run(&["run"]);
    assert_error(&out, &["not valid YAML (line", "column", "matrixbox.yaml"]);
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn unknown_keys_are_all_reported_with_suggestions() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "a.example.com", "--skip-preflight"]));
    mbx.append_config("registraton: open\nimages:\n  synpase: x:1\n");
    let out = mbx.run(&["status"]);
    assert_error(
        &out,
        &[
            "2 problems",
            "registraton: unknown key",
            "did you mean `registration`?",
            "images.synpase: unknown key",
            "did you mean `synapse`?",
        ],
    );
}

#[test]
fn unreachable_docker_is_explained() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "a.example.com", "--skip-preflight"]));
    let out = mbx
        .cmd(&["run"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-such.sock", mbx.dir.path().display()),
        )
        .output()
        .unwrap();
    assert_error(
        &out,
        &[
            "cannot reach the Docker engine",
            "no-such.sock",
            "apt install docker.io",
        ],
    );
}

/// The same failure, past preflight (which says it in its own table), for a reader whose locale
/// is Chinese: message, hint and labels in Chinese.
#[test]
fn unreachable_docker_is_explained_in_chinese() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "a.example.com", "--skip-preflight"]));
    let out = mbx
        .cmd(&["run", "--skip-preflight"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-such.sock", mbx.dir.path().display()),
        )
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "expected failure: {}",
        describe(&out)
    );
    let err = stderr(&out);
    for needle in [
        "错误：无法连接",
        "Docker 引擎",
        "no-such.sock",
        "提示：请安装并启动 Docker",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("cannot reach"), "{err}");
}

/// An engine that answers like Docker 17.03 (API 1.26): only the version endpoints matter.
#[test]
fn too_old_docker_is_refused() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "a.example.com", "--skip-preflight"]));
    let socket = mbx.dir.path().join("old-docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(10) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = r#"{"Version":"17.03.0-ce","ApiVersion":"1.26","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.26\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let out = mbx
        .cmd(&["run"])
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    assert_error(&out, &["too old", "API 1.26", "20.10"]);
}

#[test]
fn failed_pull_names_the_image_and_starts_nothing() {
    let mbx = Instance::new();
    // A mirror where nothing listens: the pull fails fast and the mirror prefix is visibly applied.
    mbx.setup("registry_mirror: 127.0.0.1:9\n");
    let config = read(&mbx.config_path()).replace(
        &format!("synapse: {}", env("MATRIXBOX_TEST_SYNAPSE_IMAGE")),
        "synapse: matrixdotorg/synapse:v0.0.0-absent",
    );
    std::fs::write(mbx.config_path(), config).unwrap();
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &["image 127.0.0.1:9/", "pulling it failed", "registry_mirror"],
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
}

#[test]
fn postgres_major_change_is_left_to_upgrade_which_needs_the_old_postgres() {
    let mbx = Instance::new();
    mbx.setup("");
    // A data directory left by PostgreSQL 14, and the configured 15 image.
    let pgdata = mbx.state_dir().join("postgres/pgdata");
    std::fs::create_dir_all(&pgdata).unwrap();
    std::fs::write(pgdata.join("PG_VERSION"), "14\n").unwrap();
    // `run` refuses before anything changes, and names the way forward.
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &[
            "made by PostgreSQL 14",
            "(PostgreSQL 15), which cannot open it",
            "`matrixbox upgrade` migrates the data to the new major",
            "set images.postgres back to a PostgreSQL 14 image",
        ],
    );
    // `upgrade --check` says what the migration needs; `upgrade` needs the old major running
    // (it dumps the database with it), and there is none here.
    let check = mbx.run(&["upgrade", "--check"]);
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        text.contains("PostgreSQL migration pending: the data directory is PostgreSQL 14")
            && text.contains("free now"),
        "{}",
        describe(&check)
    );
    let out = mbx.run(&["upgrade"]);
    assert_error(
        &out,
        &[
            &format!(
                "no PostgreSQL container ({}) holds the data of PostgreSQL 14",
                mbx.objects.postgres()
            ),
            "set images.postgres back to the PostgreSQL 14 image, run `matrixbox run` once",
        ],
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
    assert_eq!(
        std::fs::read_to_string(pgdata.join("PG_VERSION")).unwrap(),
        "14\n"
    );
}

#[test]
fn synapse_failing_its_health_check_shows_its_log() {
    let mbx = Instance::new();
    // A value Synapse rejects at start-up.
    mbx.setup("synapse:\n  max_upload_size: lots\n");
    let started = std::time::Instant::now();
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &[
            &mbx.objects.synapse(),
            "last log lines",
            "invalid literal for int() with base 10: 'lots'",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(200),
        "a crash is reported without waiting for the timeout"
    );
    assert_eq!(
        inspect(&mbx.objects.synapse(), "{{.State.Running}}"),
        "false",
        "a crash loop is stopped"
    );
}

#[test]
fn user_add_without_a_running_homeserver_says_how_to_start_it() {
    let mbx = Instance::new();
    mbx.setup("");
    let out = mbx.run_with_stdin(
        &["user", "add", "bob", "--password-stdin"],
        "long enough password\n",
    );
    assert_error(&out, &["cannot reach Synapse", "matrixbox run"]);
}
