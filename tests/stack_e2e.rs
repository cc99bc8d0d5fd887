//! End-to-end: setup -> run -> healthy -> user add -> a real Matrix client -> reconcile cases ->
//! down -> run -> the message and the secrets are still there. Real engine, real images.

mod common;

use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

fn container_ids(mbx: &Instance) -> (String, String) {
    (
        inspect(&mbx.objects.postgres(), "{{.Id}} {{.State.StartedAt}}"),
        inspect(&mbx.objects.synapse(), "{{.Id}} {{.State.StartedAt}}"),
    )
}

/// The guide's options, with SMTP pointed at a port where nothing listens.
fn guide_options_as_overrides() -> String {
    let guide = read(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/guide-synapse-options.yaml"),
    );
    let guide = guide
        .replace("smtp_host: smtp.example.com", "smtp_host: 127.0.0.1")
        .replace("smtp_port: 465", "smtp_port: 9");
    let indented: String = guide.lines().map(|l| format!("  {l}\n")).collect();
    format!("synapse:\n{indented}")
}

#[test]
fn full_lifecycle_on_a_real_engine() {
    let mbx = Instance::new();
    let (postgres, synapse) = (mbx.objects.postgres(), mbx.objects.synapse());
    let (postgres, synapse) = (postgres.as_str(), synapse.as_str());
    mbx.setup("");
    let secrets_at_setup = mbx.read_secrets();

    // Re-running setup leaves config and secrets alone.
    let again = mbx.run(&[
        "setup",
        "--domain",
        "matrix.test.internal",
        "--email",
        "admin@test.internal",
    ]);
    assert_success(&again);
    assert_eq!(mbx.read_secrets(), secrets_at_setup);

    let mut daemon = mbx.spawn_run_notified();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);

    // Security properties of what was created.
    let bindings = "{{range $k, $v := .NetworkSettings.Ports}}{{range $v}}{{.HostIp}}:{{.HostPort}} {{end}}{{end}}";
    assert_eq!(
        inspect(postgres, bindings),
        "",
        "PostgreSQL has no published port"
    );
    assert_eq!(
        inspect(synapse, bindings),
        "",
        "Synapse has no published port: the edge reaches it through its socket"
    );
    assert_eq!(inspect(synapse, "{{.Config.User}}"), "991:991");
    // The database password is mounted as a file, never visible to `docker inspect`.
    let password =
        std::fs::read_to_string(mbx.state_dir().join("secrets/postgres_password")).unwrap();
    let inspected = docker_ok(&["inspect", postgres, synapse]);
    assert!(!inspected.contains(password.trim()), "{inspected}");
    assert_eq!(
        inspect(synapse, "{{json .HostConfig.CapDrop}}"),
        r#"["ALL"]"#
    );
    let locale = docker_ok(&[
        "exec",
        postgres,
        "psql",
        "-U",
        "postgres",
        "-d",
        "synapse",
        "-tA",
        "-c",
        "SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype FROM pg_database WHERE datname = 'synapse'",
    ]);
    assert_eq!(locale, "UTF8|C|C");
    let shm = inspect(postgres, "{{.HostConfig.ShmSize}}");
    assert_eq!(shm, (128u64 << 20).to_string(), "1 GB profile shm");
    // Root's file, readable by Synapse's group only, in a directory Synapse mounts read-only.
    let hs_mode =
        std::fs::metadata(mbx.state_dir().join("synapse-config/homeserver.yaml")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&hs_mode.permissions()) & 0o777,
        0o640
    );

    // Users: created through the shared-secret API; a duplicate is refused clearly.
    let created = mbx.run_with_stdin(
        &["user", "add", "alice", "--admin", "--password-stdin"],
        "correct horse battery\n",
    );
    assert_success(&created);
    assert!(
        String::from_utf8_lossy(&created.stdout).contains("@alice:matrix.test.internal"),
        "{}",
        describe(&created)
    );
    let duplicate = mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "another password\n",
    );
    assert!(!duplicate.status.success());
    assert!(
        stderr(&duplicate).contains("M_USER_IN_USE") && stderr(&duplicate).contains("hint:"),
        "{}",
        describe(&duplicate)
    );

    // A real Matrix client logs in, creates a room, sends and reads back.
    let sent = mbx.client(&[
        "send",
        "--user",
        "alice",
        "--password",
        "correct horse battery",
        "--room-alias-localpart",
        "lobby",
        "--message",
        "hello from the e2e test",
    ]);
    assert_success(&sent);

    // Reconciling an unchanged stack changes nothing. The reload is done, its reconcile included,
    // when `run` tells systemd READY=1 again (the first one was at start-up).
    let before = container_ids(&mbx);
    daemon.signal(Signal::SIGHUP);
    daemon.wait_notified("READY=1", 2, Duration::from_secs(120));
    daemon.wait_log("configuration reloaded", 1, Duration::from_secs(1));
    assert_eq!(
        container_ids(&mbx),
        before,
        "an unchanged config must not touch the containers"
    );

    // Changing a `synapse:` option recreates Synapse only; the guide's options start cleanly.
    mbx.append_config(&guide_options_as_overrides());
    daemon.signal(Signal::SIGHUP);
    daemon.wait_log("configuration reloaded", 2, Duration::from_secs(60));
    daemon.wait_log("action=Recreate", 1, Duration::from_secs(120));
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let after = container_ids(&mbx);
    assert_eq!(
        after.0, before.0,
        "PostgreSQL is not touched by a Synapse option"
    );
    assert_ne!(after.1, before.1, "Synapse is recreated");
    let rendered = read(&mbx.state_dir().join("synapse-config/homeserver.yaml"));
    assert!(
        rendered.contains("federation_domain_whitelist")
            && rendered.contains("smtp_host: 127.0.0.1")
    );

    // SIGTERM stops Synapse, then PostgreSQL; containers and data stay.
    daemon.stop();
    assert_eq!(inspect(synapse, "{{.State.Running}}"), "false");
    assert_eq!(inspect(postgres, "{{.State.Running}}"), "false");
    let synapse_stopped = inspect(synapse, "{{.State.FinishedAt}}");
    let postgres_stopped = inspect(postgres, "{{.State.FinishedAt}}");
    assert!(
        synapse_stopped < postgres_stopped,
        "Synapse stops first ({synapse_stopped} vs {postgres_stopped})"
    );
    let pg_log = docker_ok(&["logs", "--tail", "5", postgres]);
    let pg_log =
        pg_log + &String::from_utf8_lossy(&docker(&["logs", "--tail", "5", postgres]).stderr);
    assert!(
        pg_log.contains("database system is shut down"),
        "PostgreSQL shut down cleanly: {pg_log}"
    );

    // Up again: same data, same secrets, same message.
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let read_back = mbx.client(&[
        "read",
        "--user",
        "alice",
        "--password",
        "correct horse battery",
        "--room-alias-localpart",
        "lobby",
        "--expect",
        "hello from the e2e test",
    ]);
    assert_success(&read_back);
    assert_eq!(mbx.read_secrets(), secrets_at_setup, "no secret changed");
    daemon.stop();

    // A killed daemon leaves the homeserver running; `down` stops it, and again is a no-op.
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    drop(daemon);
    assert_eq!(inspect(synapse, "{{.State.Running}}"), "true");
    assert_success(&mbx.run(&["down"]));
    assert_eq!(inspect(synapse, "{{.State.Running}}"), "false");
    assert_eq!(inspect(postgres, "{{.State.Running}}"), "false");
    assert_success(&mbx.run(&["down"]));

    // --remove takes the containers and network away; the data stays for the next `run`.
    assert_success(&mbx.run(&["down", "--remove"]));
    for object in [synapse, postgres] {
        assert!(!docker(&["inspect", object]).status.success(), "{object}");
    }
    assert!(
        !docker(&["network", "inspect", mbx.objects.network()])
            .status
            .success()
    );
    assert!(mbx.state_dir().join("postgres/pgdata/PG_VERSION").exists());
}
