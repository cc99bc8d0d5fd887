//! A compromised container against root: from inside the real running containers (`docker exec`),
//! files and directories in their writable mounts are replaced with links to host paths, to
//! `/dev/zero` and with FIFOs; reconciles must change nothing outside the mounts, log a refusal
//! where matrixbox reads such a path, and keep the daemon answering. Also: Synapse's database role
//! is no superuser and PostgreSQL runs with few capabilities.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const RELOADED_WITHIN: Duration = Duration::from_secs(120);
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
const NAME: &str = "matrix.test.internal";

/// Owner, group, mode and contents (for a file) of a host path.
fn fingerprint(path: &Path) -> (u32, u32, u32, Vec<u8>) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let contents = if meta.is_file() {
        std::fs::read(path).unwrap()
    } else {
        vec![]
    };
    (meta.uid(), meta.gid(), meta.mode(), contents)
}

fn exec(container: &str, script: &str) -> std::process::Output {
    docker(&["exec", container, "sh", "-c", script])
}

fn exec_ok(container: &str, script: &str) -> String {
    let out = exec(container, script);
    assert!(
        out.status.success(),
        "in {container}: {script}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn psql(postgres: &str, user: &str, query: &str) -> String {
    docker_ok(&[
        "exec", postgres, "psql", "-U", user, "-d", "synapse", "-tA", "-c", query,
    ])
}

#[test]
fn a_compromised_container_cannot_steer_root() {
    let mbx = Instance::new();
    let (postgres, synapse) = (mbx.objects.postgres(), mbx.objects.synapse());
    let (postgres, synapse) = (postgres.as_str(), synapse.as_str());
    mbx.setup("");

    // A state dir laid out by an older matrixbox: Synapse's config in its writable data dir.
    let data = mbx.state_dir().join("synapse");
    std::fs::create_dir_all(data.join("media_store/local_content")).unwrap();
    std::fs::write(data.join("media_store/local_content/kept"), "media").unwrap();
    for old in ["homeserver.yaml", "log.config", "signing.key"] {
        std::fs::write(data.join(old), "old layout").unwrap();
    }
    std::process::Command::new("chown")
        .args(["-R", "991:991"])
        .arg(&data)
        .status()
        .unwrap();

    let daemon = mbx.spawn_run_notified();
    daemon.wait_notified("READY=1", 1, HEALTHY_WITHIN);

    // Migrated: the config is root's and read-only for Synapse; its data stayed.
    let config = mbx.state_dir().join("synapse-config");
    for name in ["homeserver.yaml", "log.config", "signing.key"] {
        let (uid, gid, mode, _) = fingerprint(&config.join(name));
        assert_eq!((uid, gid, mode & 0o777), (0, 991, 0o640), "{name}");
        assert!(!data.join(name).exists(), "old {name} removed");
    }
    assert_eq!(read(&data.join("media_store/local_content/kept")), "media");
    let mounts = inspect(synapse, "{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}");
    assert!(
        mounts.contains("/config=false") && mounts.contains("/data=true"),
        "{mounts}"
    );
    let refused = exec(synapse, "touch /config/planted");
    assert!(!refused.status.success(), "Synapse cannot write its config");

    // Least privilege in PostgreSQL.
    assert_eq!(
        psql(
            postgres,
            "postgres",
            "select rolsuper from pg_roles where rolname = 'synapse'"
        ),
        "f"
    );
    assert_eq!(
        psql(
            postgres,
            "postgres",
            "select pg_get_userbyid(datdba) from pg_database where datname = 'synapse'"
        ),
        "synapse"
    );
    // Synapse's role logs in through the shared socket with its password.
    let password = read(&mbx.state_dir().join("secrets/postgres_password"));
    let as_synapse_does = |user: &str| {
        docker(&[
            "exec",
            "-u",
            "postgres",
            "-e",
            &format!("PGPASSWORD={}", password.trim()),
            postgres,
            "psql",
            "-h",
            "/run/matrixbox-postgres",
            "-U",
            user,
            "-d",
            "synapse",
            "-tAc",
            "select 1",
        ])
    };
    assert!(as_synapse_does("synapse").status.success());
    // What Synapse's own uid gets as the superuser is in boundary_e2e.
    assert_eq!(
        inspect(postgres, "{{json .HostConfig.CapDrop}}"),
        r#"["ALL"]"#
    );
    let mut added: Vec<String> =
        serde_json::from_str(&inspect(postgres, "{{json .HostConfig.CapAdd}}")).unwrap();
    added.sort();
    assert_eq!(
        added,
        ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    );
    for container in [postgres, synapse] {
        assert!(
            inspect(container, "{{json .HostConfig.SecurityOpt}}").contains("no-new-privileges"),
            "{container}"
        );
    }

    // Host paths a container must not reach through root: a directory and a file in it.
    let victim = mbx.dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("file"), "15\n").unwrap();
    std::fs::set_permissions(
        victim.join("file"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let victims = [victim.clone(), victim.join("file")];
    let before: Vec<_> = victims.iter().map(|p| fingerprint(p)).collect();
    let (victim_dir, victim_file) = (victim.display(), victim.join("file"));
    let victim_file = victim_file.display();

    // Synapse's data: every name matrixbox ever wrote, chmod-ed or chown-ed there.
    exec_ok(
        synapse,
        &format!(
            "rm -rf /data/media_store && ln -s {victim_dir} /data/media_store && \
             ln -s {victim_file} /data/homeserver.yaml && ln -s /dev/zero /data/signing.key && \
             mkfifo /data/log.config"
        ),
    );
    let edge_answers = || {
        let ca = mbx.state_dir().join("ca/root.pem");
        let (code, body) = curl(&ca, NAME, mbx.https_port, "/_matrix/client/versions");
        assert_eq!(code, "200", "{body}");
        assert_eq!(mbx.status_json()["healthy"], true);
    };
    // PostgreSQL's data: PG_VERSION, which matrixbox reads, as each thing root must not follow.
    let attacks = [
        format!("ln -s {victim_file} PG_VERSION"),
        "ln -s /dev/zero PG_VERSION".to_string(),
        "mkfifo PG_VERSION".to_string(),
        "head -c 100000 /dev/zero > PG_VERSION".to_string(),
    ];
    exec_ok(
        postgres,
        &format!("cd {PGDATA} && mv PG_VERSION PG_VERSION.real"),
    );
    for (n, attack) in attacks.iter().enumerate() {
        exec_ok(
            postgres,
            &format!("cd {PGDATA} && rm -f PG_VERSION && {attack}"),
        );
        daemon.signal(Signal::SIGHUP);
        // READY=1 again means the reload's reconcile finished: nothing hung on a FIFO or /dev/zero.
        daemon.wait_notified("READY=1", n + 2, RELOADED_WITHIN);
        daemon.wait_log("refused: cannot read", n + 1, RELOADED_WITHIN);
        edge_answers();
        let after: Vec<_> = victims.iter().map(|p| fingerprint(p)).collect();
        assert_eq!(
            after, before,
            "{attack} changed a host path outside the mount"
        );
    }
    let log = daemon.log_text();
    assert!(log.contains("PG_VERSION"), "{log}");
    assert!(
        log.contains("symbolic link") && log.contains("not a regular file"),
        "{log}"
    );

    // Put back, the check runs again without a refusal.
    exec_ok(
        postgres,
        &format!("cd {PGDATA} && rm -f PG_VERSION && mv PG_VERSION.real PG_VERSION"),
    );
    daemon.signal(Signal::SIGHUP);
    daemon.wait_notified("READY=1", attacks.len() + 2, RELOADED_WITHIN);
    edge_answers();
    assert_eq!(
        daemon.log_text().matches("refused: cannot read").count(),
        attacks.len()
    );
    let after: Vec<_> = victims.iter().map(|p| fingerprint(p)).collect();
    assert_eq!(after, before);
    // The planted links are still links: nothing replaced or followed them.
    assert!(
        std::fs::symlink_metadata(data.join("homeserver.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    daemon.stop();
}

/// `password` for the roles that log in with one (all but `postgres`, see pg_hba.conf).
fn psql_in(postgres: &str, password: &str, user: &str, db: &str, query: &str) -> String {
    docker_ok(&[
        "exec",
        "-e",
        &format!("PGPASSWORD={password}"),
        postgres,
        "psql",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        user,
        "-d",
        db,
        "-tAc",
        query,
    ])
}

/// A database made before Synapse had its own role: the bootstrap superuser is `synapse` and owns
/// everything Synapse made. Made here from a current one by renaming the roles back (no older
/// build is at hand in tests); `run` must move it over once and keep its users.
#[test]
fn a_database_from_an_older_version_loses_its_superuser() {
    let mbx = Instance::new();
    let postgres = mbx.objects.postgres();
    let postgres = postgres.as_str();
    mbx.setup("");
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "alice-password-1\n",
    ));
    daemon.stop();

    docker_ok(&["start", postgres]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !docker(&["exec", postgres, "pg_isready", "-h", "127.0.0.1"])
        .status
        .success()
    {
        assert!(std::time::Instant::now() < deadline, "PostgreSQL not ready");
        std::thread::sleep(Duration::from_millis(300));
    }
    let password = read(&mbx.state_dir().join("secrets/postgres_password"));
    let password = password.trim();
    psql_in(
        postgres,
        password,
        "postgres",
        "postgres",
        &format!("CREATE ROLE old_maker SUPERUSER LOGIN PASSWORD '{password}'"),
    );
    for step in [
        "ALTER ROLE synapse RENAME TO synapse_app",
        "ALTER ROLE postgres RENAME TO synapse",
        &format!("ALTER ROLE synapse PASSWORD '{}'", password.trim()),
    ] {
        psql_in(postgres, password, "old_maker", "postgres", step);
    }
    psql_in(
        postgres,
        password,
        "synapse",
        "synapse",
        "REASSIGN OWNED BY synapse_app TO synapse; DROP OWNED BY synapse_app",
    );
    psql_in(
        postgres,
        password,
        "synapse",
        "postgres",
        "DROP ROLE synapse_app; DROP ROLE old_maker",
    );
    let superuser = "select rolsuper from pg_roles where rolname = 'synapse'";
    assert_eq!(
        psql_in(postgres, password, "synapse", "synapse", superuser),
        "t"
    );

    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    daemon.wait_log("is no longer a superuser", 1, HEALTHY_WITHIN);
    assert_eq!(
        psql_in(postgres, password, "postgres", "synapse", superuser),
        "f"
    );
    let left = "select count(*) from pg_class where relnamespace = 'public'::regnamespace and relowner <> 'synapse'::regrole";
    assert_eq!(
        psql_in(postgres, password, "postgres", "synapse", left),
        "0"
    );
    let tables = "select count(*) from pg_tables where schemaname = 'public'";
    assert!(
        psql_in(postgres, password, "postgres", "synapse", tables)
            .parse::<u32>()
            .unwrap()
            > 100
    );
    // Alice is still there, and Synapse can write as its new role.
    let again = mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "alice-password-1\n",
    );
    assert!(
        stderr(&again).contains("M_USER_IN_USE"),
        "{}",
        describe(&again)
    );
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "bob", "--password-stdin"],
        "bob-password-12\n",
    ));
    daemon.stop();
}
