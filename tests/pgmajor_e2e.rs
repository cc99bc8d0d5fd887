//! End-to-end: `matrixbox upgrade` across PostgreSQL majors on the real engine, with the daemon
//! running. An installation on PostgreSQL 15 with a user and messages is migrated to the newer
//! major the bench builds (17, from Debian trixie): first a migration whose new PostgreSQL is
//! killed half-way leaves 15 serving with its data; then the migration completes, a real client
//! reads the earlier messages, the daemon follows the migration without a reload, the old data
//! directory is kept until `upgrade.keep_old_postgres` has passed, then the daemon removes it
//! (and `upgrade --cleanup` removes one without a recorded time).

mod common;

use std::time::{Duration, Instant};

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
/// Each client run logs in again: more logins than Synapse's default rate.
const LOGIN_RATE: &str = "synapse:\n  rc_login:\n    address:\n      per_second: 100\n      burst_count: 200\n    account:\n      per_second: 100\n      burst_count: 200\n";
/// Rows of a table of its own: a restore that takes long enough to be killed half-way.
const FILLER_ROWS: u32 = 1_000_000;

/// The new major's container, which the instance's own cleanup does not know.
struct NextContainer(String);

impl Drop for NextContainer {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
    }
}

fn pg_version(mbx: &Instance, dir: &str) -> String {
    read(&mbx.state_dir().join(dir).join("pgdata/PG_VERSION"))
        .trim()
        .to_string()
}

fn alice(mbx: &Instance, verb: &str, flag: &str, message: &str) {
    mbx.in_lobby(("alice", "alice password"), verb, flag, message);
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The time in "kept in ... until 2026-12-12 04:30 UTC".
fn kept_until(text: &str) -> time::OffsetDateTime {
    let line = text
        .lines()
        .find(|l| l.contains("is kept in"))
        .unwrap_or_else(|| panic!("no kept line in {text}"));
    let at = line
        .split(" until ")
        .nth(1)
        .expect("until")
        .split(" UTC")
        .next()
        .unwrap();
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::PrimitiveDateTime::parse(at, &format)
        .unwrap_or_else(|e| panic!("{at}: {e}"))
        .assume_utc()
}

fn kept_until_text(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap()
}

fn wait_status_healthy(mbx: &Instance) {
    let deadline = Instant::now() + HEALTHY_WITHIN;
    while mbx.status_json()["healthy"] != true {
        assert!(Instant::now() < deadline, "not healthy again");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn postgres_15_is_migrated_to_the_next_major_and_a_killed_migration_leaves_15_serving() {
    let old = env("MATRIXBOX_TEST_PG_IMAGE");
    let new = std::env::var("MATRIXBOX_TEST_PG_NEXT_IMAGE")
        .unwrap_or_else(|_| "matrixbox-test/postgres:17".into());
    let mbx = Instance::new();
    let next = NextContainer(format!("{}-postgres-next", mbx.objects.name));
    mbx.setup(LOGIN_RATE);
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let add = mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "alice password\n",
    );
    assert_success(&add);
    alice(&mbx, "send", "--message", "written on PostgreSQL 15");
    let filler = format!(
        "CREATE TABLE matrixbox_test_filler AS SELECT g, md5(g::text) AS h FROM generate_series(1, {FILLER_ROWS}) g"
    );
    mbx.psql(&filler);
    assert!(mbx.psql("SHOW server_version").starts_with("15."));
    assert_eq!(pg_version(&mbx, "postgres"), "15");

    mbx.set_image("postgres", &new);
    let check = mbx.run(&["upgrade", "--check"]);
    assert_success(&check);
    let text = stdout(&check);
    assert!(
        text.contains("PostgreSQL migration pending: the data directory is PostgreSQL 15")
            && text.contains("(PostgreSQL 17)")
            && text.contains("free in")
            && text.contains("(a second copy of the database and its dump)"),
        "{}",
        describe(&check)
    );
    let zh = mbx
        .cmd(&["upgrade", "--check"])
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert!(
        stdout(&zh).contains("有待迁移 PostgreSQL"),
        "{}",
        describe(&zh)
    );

    // Killed half-way: the new PostgreSQL dies while the dump is restored into it.
    let child = mbx
        .cmd(&["upgrade"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "pg_restore never ran");
        let top = docker(&["top", &next.0]);
        if String::from_utf8_lossy(&top.stdout).contains("pg_restore") {
            docker_ok(&["kill", &next.0]);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    eprintln!("killed migration:\n{}", describe(&out));
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the PostgreSQL 15 -> 17 migration failed while restoring the dump")
            && err.contains("hint: nothing was lost: PostgreSQL 15 serves its data directory"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        inspect(&mbx.objects.postgres(), "{{.Config.Image}}"),
        old,
        "15 serves"
    );
    assert_eq!(pg_version(&mbx, "postgres"), "15");
    assert!(!mbx.state_dir().join("postgres-next").exists(), "removed");
    assert!(!docker(&["inspect", &next.0]).status.success(), "removed");
    wait_status_healthy(&mbx);
    alice(&mbx, "read", "--expect", "written on PostgreSQL 15");
    alice(
        &mbx,
        "send",
        "--message",
        "written after the killed migration",
    );

    // The migration.
    let out = mbx.run(&["upgrade"]);
    eprintln!("migration:\n{}", describe(&out));
    assert_success(&out);
    assert!(
        stdout(&out).contains("migrated PostgreSQL 15 -> 17"),
        "{}",
        describe(&out)
    );
    // Kept two weeks by default, from the exchange.
    let until = kept_until(&stdout(&out));
    let expected = time::OffsetDateTime::now_utc() + time::Duration::days(14);
    assert!(
        (until - expected).abs() < time::Duration::minutes(30),
        "kept until {until}: {}",
        describe(&out)
    );
    assert!(
        stderr(&out).contains("row counts match: users "),
        "{}",
        describe(&out)
    );
    assert_eq!(inspect(&mbx.objects.postgres(), "{{.Config.Image}}"), new);
    assert!(mbx.psql("SHOW server_version").starts_with("17."));
    assert_eq!(pg_version(&mbx, "postgres"), "17");
    assert_eq!(
        pg_version(&mbx, "postgres-15"),
        "15",
        "the old data is kept"
    );
    assert_eq!(
        mbx.psql("SELECT count(*) FROM matrixbox_test_filler"),
        FILLER_ROWS.to_string()
    );
    assert_eq!(
        mbx.psql(
            "SELECT datcollate || '|' || datctype || '|' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'synapse'"
        ),
        "C|C|UTF8"
    );
    // The daemon follows the configuration naming the new major by itself (no reload).
    daemon.wait_log(
        "the data directory was migrated and the configuration file names its major",
        1,
        Duration::from_secs(120),
    );
    wait_status_healthy(&mbx);
    alice(&mbx, "read", "--expect", "written on PostgreSQL 15");
    alice(
        &mbx,
        "read",
        "--expect",
        "written after the killed migration",
    );
    alice(&mbx, "send", "--message", "written on PostgreSQL 17");
    alice(&mbx, "read", "--expect", "written on PostgreSQL 17");

    let check = mbx.run(&["upgrade", "--check"]);
    assert_success(&check);
    let text = stdout(&check);
    assert!(!text.contains("migration pending"), "{text}");
    assert!(
        text.contains("the data directory of PostgreSQL 15 is kept in")
            && text.contains(&format!("until {}", kept_until_text(until)))
            && text.contains("then the daemon removes it"),
        "{text}"
    );
    let status = mbx.run(&["status"]);
    assert!(
        stdout(&status).contains(&format!("until {}", kept_until_text(until))),
        "{}",
        describe(&status)
    );
    let zh = mbx
        .cmd(&["status"])
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert!(
        stdout(&zh).contains(&format!("直到 {}", kept_until_text(until))),
        "{}",
        describe(&zh)
    );

    // A kept directory without a recorded time (an earlier matrixbox's) is left to --cleanup.
    std::fs::create_dir_all(mbx.state_dir().join("postgres-14/pgdata")).unwrap();
    // A second of keeping has passed: the daemon removes the old data directory after a reload.
    mbx.append_config("upgrade:\n  keep_old_postgres: 1s\n");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(120);
    while mbx.state_dir().join("postgres-15").exists() {
        assert!(
            Instant::now() < deadline,
            "the daemon never removed postgres-15"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    daemon.wait_log(
        "the data directory of PostgreSQL 15 kept since a migration",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(
        pg_version(&mbx, "postgres"),
        "17",
        "the live data is untouched"
    );
    assert!(
        mbx.state_dir().join("postgres-14").exists(),
        "no time recorded: kept"
    );
    let check = mbx.run(&["upgrade", "--check"]);
    assert!(
        stdout(&check).contains(
            "no time was recorded for it, so only `matrixbox upgrade --cleanup` removes it"
        ),
        "{}",
        describe(&check)
    );
    let out = mbx.run(&["upgrade", "--cleanup"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("(the data directory of PostgreSQL 14)"),
        "{}",
        describe(&out)
    );
    assert!(!mbx.state_dir().join("postgres-14").exists());
    let out = mbx.run(&["upgrade", "--cleanup"]);
    assert!(stdout(&out).contains("no data directory of an earlier PostgreSQL"));
    alice(&mbx, "read", "--expect", "written on PostgreSQL 15");
    let log = daemon.stop();
    // The daemon saw Synapse stop and waited for the migration instead of racing it.
    assert!(log.contains("waiting: an upgrade holds the stack"), "{log}");
}

/// A tmpfs mounted on a test's state dir, unmounted before the instance's directory goes.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_migration_without_room_for_a_second_copy_is_refused_before_anything_changes() {
    let mbx = Instance::new();
    let state = mbx.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    // A filesystem of its own, too small for a second copy of the data and its dump.
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m,mode=0700", "matrixbox-test"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs (the tests run as root)");
    let _mount = Mount(state.clone());
    mbx.setup("");
    // A data directory left by PostgreSQL 14 (40 MiB), and the configured 15 image.
    let pgdata = state.join("postgres/pgdata");
    std::fs::create_dir_all(pgdata.join("base")).unwrap();
    std::fs::write(pgdata.join("PG_VERSION"), "14\n").unwrap();
    std::fs::write(pgdata.join("base/data"), vec![1u8; 40 << 20]).unwrap();
    let out = mbx.run(&["upgrade"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    for needle in [
        "error: not enough disk for the PostgreSQL 14 -> 15 migration: it needs",
        "(a second copy of the database and its dump)",
        "hint: nothing was changed and PostgreSQL 14 keeps serving",
    ] {
        assert!(
            err.contains(needle),
            "missing {needle:?}: {}",
            describe(&out)
        );
    }
    let zh = mbx
        .cmd(&["upgrade"])
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert!(stderr(&zh).contains("磁盘空间不足"), "{}", describe(&zh));
    assert_eq!(read(&pgdata.join("PG_VERSION")), "14\n");
    assert!(!state.join("postgres-next").exists());
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
}
