//! End-to-end: `matrixbox upgrade` on the real engine, with the daemon running. An installation
//! on an earlier Synapse (built by the bench from PyPI) is upgraded to the bench's pinned one with
//! its data intact (a real client reads its messages); a deliberately broken "new" image, which
//! changes the database and exits at start, is rolled back automatically: the old image runs
//! again on the database as it was, and what was written before the attempt is intact.

mod common;

use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
/// Each client run logs in again: more logins than Synapse's default rate.
const LOGIN_RATE: &str = "synapse:\n  rc_login:\n    address:\n      per_second: 100\n      burst_count: 200\n    account:\n      per_second: 100\n      burst_count: 200\n";

fn image(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

fn running_image(mbx: &Instance) -> String {
    inspect(&mbx.objects.synapse(), "{{.Config.Image}}")
}

fn send(mbx: &Instance, message: &str) {
    mbx.in_lobby(("alice", "alice password"), "send", "--message", message);
}

fn read_back(mbx: &Instance, message: &str) {
    mbx.in_lobby(("alice", "alice password"), "read", "--expect", message);
}

/// Synapse's database schema version (`schema_version`), as PostgreSQL holds it.
fn schema_version(mbx: &Instance) -> u32 {
    mbx.psql("SELECT version FROM schema_version")
        .parse()
        .unwrap()
}

/// After a failed gate: the pre-upgrade database is back (the broken image's marker table is
/// gone) and `status` says so.
fn assert_rolled_back(mbx: &Instance) {
    let marker = mbx.psql("SELECT to_regclass('matrixbox_broken_marker')");
    assert_eq!(marker, "", "the pre-upgrade database is back");
    let status = mbx.status_json();
    assert_eq!(status["upgrade"]["outcome"], "rolled_back", "{status}");
    assert_eq!(status["healthy"], true, "{status}");
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn upgrade_keeps_data_and_a_broken_image_is_rolled_back() {
    let old = image(
        "MATRIXBOX_TEST_SYNAPSE_OLD_IMAGE",
        "matrixbox-test/synapse:1.150.0",
    );
    let new = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let broken = image(
        "MATRIXBOX_TEST_SYNAPSE_BROKEN_IMAGE",
        "matrixbox-test/synapse:1.163.2-broken",
    );
    let mbx = Instance::new();
    mbx.setup(LOGIN_RATE);
    mbx.set_image("synapse", &old);
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    assert_eq!(running_image(&mbx), old);
    let out = mbx.run(&["upgrade", "--check"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("Synapse is up to date"),
        "{}",
        describe(&out)
    );

    let add = mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "alice password\n",
    );
    assert_success(&add);
    send(&mbx, "written on the earlier Synapse");

    // A changed images.synapse is held by the daemon (after a reload too) until `upgrade`.
    mbx.set_image("synapse", &new);
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_log(
        "Synapse keeps the image it runs",
        1,
        Duration::from_secs(120),
    );
    assert_eq!(running_image(&mbx), old, "held until `upgrade`");
    let text = stdout(&mbx.run(&["status"]));
    assert!(
        text.contains("another image is configured: `matrixbox upgrade` moves it"),
        "{text}"
    );
    let out = mbx.run(&["upgrade", "--check"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("upgrade pending: Synapse {old} -> {new}")),
        "{}",
        describe(&out)
    );
    let zh = mbx
        .cmd(&["upgrade", "--check"])
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert!(stdout(&zh).contains("有待升级"), "{}", describe(&zh));

    // A backup that cannot be written: refused, and Synapse serves again on its old image.
    let backups = mbx.state_dir().join("backups");
    std::fs::write(&backups, b"not a directory").unwrap();
    let out = mbx.run(&["upgrade"]);
    std::fs::remove_file(&backups).unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the backup before the upgrade failed; Synapse was started again on {old}"
        )),
        "{}",
        describe(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", describe(&out));
    assert_eq!(running_image(&mbx), old);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while mbx.status_json()["healthy"] != true {
        assert!(
            std::time::Instant::now() < deadline,
            "Synapse did not come back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    read_back(&mbx, "written on the earlier Synapse");

    // The upgrade, while the daemon runs (it waits on the stack's lock meanwhile).
    let schema_before = schema_version(&mbx);
    let out = mbx.run(&["upgrade"]);
    eprintln!("upgrade:\n{}", describe(&out));
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("upgraded Synapse {old} -> {new}")),
        "{}",
        describe(&out)
    );
    assert_eq!(running_image(&mbx), new);
    // The bench's earlier release is a schema version behind: the gate waited for a migration.
    assert!(schema_version(&mbx) > schema_before, "schema migrated");
    let status = mbx.status_json();
    assert_eq!(status["upgrade"]["outcome"], "upgraded", "{status}");
    let backup = status["upgrade"]["backup"].as_str().unwrap().to_string();
    assert_success(&mbx.run(&["backup", "verify", &backup]));
    read_back(&mbx, "written on the earlier Synapse");
    send(&mbx, "written on the upgraded Synapse");
    let out = mbx.run(&["upgrade", "--check"]);
    assert!(
        stdout(&out).contains("Synapse is up to date"),
        "{}",
        describe(&out)
    );

    // Going back by image is refused: the older Synapse would refuse the migrated schema.
    mbx.set_image("synapse", &old);
    let out = mbx.run(&["upgrade", "--check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("an older Synapse"),
        "{}",
        describe(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", describe(&out));

    // The broken "new" image: it changes the database and exits at start. Rolled back: image
    // AND database.
    mbx.set_image("synapse", &broken);
    let out = mbx.run(&["upgrade", "--timeout", "240"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the health gate failed") && err.contains("rolled back"),
        "{}",
        describe(&out)
    );
    assert!(err.contains("hint:"), "{}", describe(&out));
    // Its log (in the reason) says it changed the database before it died.
    assert!(err.contains("changed the database"), "{}", describe(&out));
    eprintln!("broken upgrade:\n{}", describe(&out));
    assert_eq!(running_image(&mbx), new, "the previous image runs again");
    assert_rolled_back(&mbx);

    // The same image, hanging instead (never healthy): the gate's bound ends the wait.
    let hang = mbx.state_dir().join("synapse/hang");
    std::fs::write(&hang, b"").unwrap();
    let out = mbx.run(&["upgrade", "--timeout", "20"]);
    std::fs::remove_file(&hang).unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("within 20"), "{}", describe(&out));
    assert!(
        err.contains("now hanging") && err.contains("rolled back"),
        "{}",
        describe(&out)
    );
    assert_eq!(running_image(&mbx), new, "the previous image runs again");
    assert_rolled_back(&mbx);
    let text = stdout(&mbx.run(&["status"]));
    assert!(text.contains("rolled back in"), "{text}");
    read_back(&mbx, "written on the earlier Synapse");
    read_back(&mbx, "written on the upgraded Synapse");
    send(&mbx, "written after the rollback");
    let log = daemon.stop();
    // The daemon saw Synapse stop and waited for the upgrade instead of racing it.
    assert!(log.contains("waiting: an upgrade holds the stack"), "{log}");
}
