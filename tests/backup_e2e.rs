//! End-to-end: `backup create | verify | restore` on the real engine. A server with users, an
//! encrypted room read by a real client, an uploaded image and its signing key is backed up, wiped
//! (containers, state dir, config) and restored: everything reads the same. Faults: a backup killed
//! half-way leaves nothing `verify` accepts while the server keeps serving; a flipped byte is
//! refused by name; a restore over an existing database is refused without --force.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const SERVER: &str = "matrix.test.internal";
/// Each client run logs in again: more logins than Synapse's default rate.
const LOGIN_RATE: &str = "synapse:\n  rc_login:\n    address:\n      per_second: 100\n      burst_count: 200\n    account:\n      per_second: 100\n      burst_count: 200\n";

fn add_user(mbx: &Instance, name: &str, password: &str) {
    let out = mbx.run_with_stdin(
        &["user", "add", name, "--password-stdin"],
        &format!("{password}\n"),
    );
    assert_success(&out);
}

/// Runs the Matrix client and expects success; returns its stdout.
fn client_ok(mbx: &Instance, args: &[&str]) -> String {
    let out = mbx.client(args);
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_field(text: &str, field: &str) -> String {
    let line = text.lines().last().unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{text}"));
    value[field].as_str().unwrap().to_string()
}

/// The server's published keys: `{key id: key}` from `/_matrix/key/v2/server`.
fn server_keys(mbx: &Instance) -> serde_json::Value {
    let ca = mbx.state_dir().join("ca/root.pem");
    let (code, body) = curl(&ca, TEST_DOMAIN, mbx.https_port, "/_matrix/key/v2/server");
    assert_eq!(code, "200", "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["server_name"], SERVER);
    doc["verify_keys"].clone()
}

/// Bytes that compress badly, as an image's do, and that can be found again in an archive.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut f, &mut bytes).unwrap();
    bytes
}

fn upload(mbx: &Instance, user: &str, password: &str, file: &Path) -> String {
    let out = client_ok(
        mbx,
        &[
            "upload",
            "--user",
            user,
            "--password",
            password,
            "--file",
            file.to_str().unwrap(),
            "--content-type",
            "image/png",
        ],
    );
    json_field(&out, "mxc")
}

fn download(mbx: &Instance, user: &str, password: &str, mxc: &str, to: &Path) -> Vec<u8> {
    client_ok(
        mbx,
        &[
            "download",
            "--user",
            user,
            "--password",
            password,
            "--mxc",
            mxc,
            "--output",
            to.to_str().unwrap(),
        ],
    );
    std::fs::read(to).unwrap()
}

fn e2e(mbx: &Instance, command: &str, store: &Path, user: &str, password: &str, rest: &[&str]) {
    let mut args = vec![
        command,
        "--store",
        store.to_str().unwrap(),
        "--user",
        user,
        "--password",
        password,
        "--room-alias-localpart",
        "secrets",
    ];
    args.extend_from_slice(rest);
    client_ok(mbx, &args);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Starts a session that locks a new table, waits until pg_dump waits for that lock (pg_dump lists
/// the tables, then locks each), drops the table and commits; it fails if no pg_dump came within
/// 120 s. pg_dump's lock then fails with `relation ... does not exist`.
fn drop_a_table_under_pg_dump(mbx: &Instance) -> std::process::Child {
    mbx.psql("CREATE TABLE vanishing_scratch (x int)");
    let session = "BEGIN;
        LOCK TABLE vanishing_scratch IN ACCESS EXCLUSIVE MODE;
        DO $$ BEGIN
            FOR i IN 1..1200 LOOP
                PERFORM pg_stat_clear_snapshot();
                IF EXISTS (SELECT 1 FROM pg_stat_activity
                           WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock') THEN
                    RETURN;
                END IF;
                PERFORM pg_sleep(0.1);
            END LOOP;
            RAISE EXCEPTION 'pg_dump never waited for the lock';
        END $$;
        DROP TABLE vanishing_scratch;
        COMMIT;";
    let child = mbx.psql_spawn(session);
    // The lock is held before the backup starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while mbx.psql(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE c.relname = 'vanishing_scratch' AND l.mode = 'AccessExclusiveLock' AND l.granted",
    ) != "1"
    {
        assert!(Instant::now() < deadline, "the session never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn round_trip_restores_users_encrypted_history_media_and_signing_key() {
    let mbx = Instance::new();
    mbx.setup(LOGIN_RATE);
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    add_user(&mbx, "alice", "alice password");
    add_user(&mbx, "bob", "bob password");

    // A plain room, an encrypted one (bob's device keeps its keys in its store), an image.
    mbx.in_lobby(
        ("alice", "alice password"),
        "send",
        "--message",
        "plain history",
    );
    let (alice_store, bob_store) = (
        mbx.dir.path().join("alice-e2e"),
        mbx.dir.path().join("bob-e2e"),
    );
    let bob_id = format!("@bob:{SERVER}");
    e2e(
        &mbx,
        "e2e-create",
        &alice_store,
        "alice",
        "alice password",
        &["--invite", &bob_id],
    );
    e2e(&mbx, "e2e-join", &bob_store, "bob", "bob password", &[]);
    e2e(
        &mbx,
        "e2e-send",
        &alice_store,
        "alice",
        "alice password",
        &["--message", "encrypted history"],
    );
    e2e(
        &mbx,
        "e2e-read",
        &bob_store,
        "bob",
        "bob password",
        &["--expect", "encrypted history"],
    );
    let image = random_bytes(300 * 1024);
    let image_file = mbx.dir.path().join("image.png");
    std::fs::write(&image_file, &image).unwrap();
    let mxc = upload(&mbx, "alice", "alice password", &image_file);
    let keys_before = server_keys(&mbx);
    assert!(
        mbx.psql("SELECT count(*) FROM e2e_one_time_keys_json") != "0",
        "the devices uploaded one-time keys"
    );

    // The backup lives outside the state dir, which is wiped with the containers and the config.
    // While it runs, a table is dropped under pg_dump, as Synapse's background updates drop their
    // scratch tables: the dump is taken again and the backup is whole.
    let outside = tempfile::tempdir().unwrap();
    let archive = outside.path().join("server.tar.gz");
    let vanishing = drop_a_table_under_pg_dump(&mbx);
    let created = mbx.run(&["backup", "create", "--output", archive.to_str().unwrap()]);
    let dropper = vanishing.wait_with_output().unwrap();
    assert_success(&dropper);
    assert_success(&created);
    eprintln!("{}", describe(&created));
    let said = String::from_utf8_lossy(&created.stdout);
    assert!(
        said.contains("backup written") && said.contains("media files"),
        "{said}"
    );
    assert_eq!(mode(&archive), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file stays beside the backup"
    );
    let verified = mbx.run(&["backup", "verify", archive.to_str().unwrap()]);
    assert_success(&verified);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("is complete"));
    let verified = mbx
        .cmd(&["backup", "verify", archive.to_str().unwrap()])
        .env("LANG", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert_success(&verified);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("完整"));

    daemon.stop();
    assert_success(&mbx.run(&["down", "--remove"]));
    std::fs::remove_dir_all(mbx.state_dir()).unwrap();
    std::fs::remove_file(mbx.config_path()).unwrap();

    let started = Instant::now();
    let restored = mbx.run(&["backup", "restore", archive.to_str().unwrap()]);
    assert_success(&restored);
    eprintln!("{}", describe(&restored));
    eprintln!("restore took {:?}", started.elapsed());
    assert!(String::from_utf8_lossy(&restored.stdout).contains("Synapse is healthy"));
    assert_eq!(
        mbx.psql("SELECT count(*) FROM e2e_one_time_keys_json"),
        "0",
        "restored one-time keys are never handed out again"
    );
    assert_eq!(mode(&mbx.state_dir().join("secrets/signing.key")), 0o600);

    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    assert_eq!(
        server_keys(&mbx),
        keys_before,
        "the same signing key id and key"
    );
    mbx.in_lobby(
        ("alice", "alice password"),
        "read",
        "--expect",
        "plain history",
    );
    // Bob's device reads the encrypted history it could read before.
    e2e(
        &mbx,
        "e2e-read",
        &bob_store,
        "bob",
        "bob password",
        &["--expect", "encrypted history"],
    );
    let fetched = download(
        &mbx,
        "bob",
        "bob password",
        &mxc,
        &mbx.dir.path().join("fetched"),
    );
    assert!(fetched == image, "the image downloads byte-identical");
    // And the restored server takes new writes.
    e2e(
        &mbx,
        "e2e-send",
        &alice_store,
        "alice",
        "alice password",
        &["--message", "after the restore"],
    );
    e2e(
        &mbx,
        "e2e-read",
        &bob_store,
        "bob",
        "bob password",
        &["--expect", "after the restore"],
    );
    daemon.stop();
}

/// The archive with one byte of `needle` flipped, through the gzip CLI.
fn corrupt_copy(archive: &Path, needle: &[u8], to: &Path) {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut tar = out.stdout;
    let at = tar
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the member's bytes are in the archive");
    tar[at + needle.len() / 2] ^= 0x01;
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = gzip.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &tar).unwrap());
    let out = gzip.wait_with_output().unwrap();
    writer.join().unwrap();
    std::fs::write(to, out.stdout).unwrap();
}

/// A copy of the archive rebuilt with the tar and gzip CLIs after `change` edited its extracted
/// members and manifest; checksums are recomputed, so it verifies: only what `change` did differs.
fn repack(archive: &Path, to: &Path, change: impl FnOnce(&Path, &mut serde_json::Value)) {
    let work = tempfile::tempdir().unwrap();
    let ok = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    };
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(work.path()));
    let manifest_path = work.path().join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&read(&manifest_path)).unwrap();
    change(work.path(), &mut manifest);
    let mut list = String::new();
    for member in manifest["members"].as_array_mut().unwrap() {
        let path = member["path"].as_str().unwrap().to_string();
        let bytes = std::fs::read(work.path().join(&path)).unwrap();
        let sum = Command::new("sha256sum")
            .arg(work.path().join(&path))
            .output()
            .unwrap();
        let sum = String::from_utf8_lossy(&sum.stdout);
        member["size"] = bytes.len().into();
        member["sha256"] = sum.split_whitespace().next().unwrap().into();
        list.push_str(&format!("{path}\n"));
    }
    list.push_str("manifest.json\n");
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let list_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list_file.path(), list).unwrap();
    ok(Command::new("tar")
        .arg("-czf")
        .arg(to)
        .arg("-C")
        .arg(work.path())
        .arg("--format=gnu")
        .arg("-T")
        .arg(list_file.path()));
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all
}

#[test]
fn interrupted_corrupted_and_unforced_restores_change_nothing() {
    let mbx = Instance::new();
    mbx.setup(LOGIN_RATE);
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    add_user(&mbx, "alice", "alice password");
    let send =
        |message: &str| mbx.in_lobby(("alice", "alice password"), "send", "--message", message);
    send("before the faults");
    // Media big enough that a backup takes a moment.
    let image = random_bytes(8 * 1024 * 1024);
    let image_file = mbx.dir.path().join("big.png");
    std::fs::write(&image_file, &image).unwrap();
    upload(&mbx, "alice", "alice password", &image_file);

    // Killed half-way, once its temporary file holds some of the archive (or soon after it
    // appears): nothing there is accepted by `verify`.
    let outside = tempfile::tempdir().unwrap();
    let archive = outside.path().join("killed.tar.gz");
    let mut child = mbx
        .cmd(&["backup", "create", "--output", archive.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_in(outside.path()).is_empty() {
        assert!(Instant::now() < deadline, "no temporary file appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "create ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let appeared = Instant::now();
    let partial = files_in(outside.path()).remove(0);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) == 0
        && appeared.elapsed() < Duration::from_millis(500)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "create ended before it was killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!archive.exists(), "no file by the backup's name");
    let left = files_in(outside.path());
    assert!(!left.is_empty());
    for file in &left {
        let out = mbx.run(&["backup", "verify", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{} was accepted", file.display());
        assert!(stderr(&out).contains("hint:"), "{}", describe(&out));
    }
    // The server kept serving.
    send("after the killed backup");
    assert_eq!(mbx.status_json()["healthy"], serde_json::Value::Bool(true));

    // A complete backup, taken while a client writes (online), then a copy with one byte of the
    // image flipped.
    let good = outside.path().join("good.tar.gz");
    let backup = mbx
        .cmd(&["backup", "create", "--output", good.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    send("during the backup");
    assert_success(&backup.wait_with_output().unwrap());
    assert_success(&mbx.run(&["backup", "verify", good.to_str().unwrap()]));
    let bad = outside.path().join("bad.tar.gz");
    corrupt_copy(&good, &image[4096..4096 + 64], &bad);
    let secrets_before = mbx.read_secrets();
    let config_before = read(&mbx.config_path());
    for args in [
        vec!["backup", "verify", bad.to_str().unwrap()],
        vec!["backup", "restore", bad.to_str().unwrap(), "--force"],
    ] {
        let out = mbx.run(&args);
        eprintln!("{}", describe(&out));
        assert!(!out.status.success(), "{args:?} accepted a damaged archive");
        let err = stderr(&out);
        assert!(
            err.contains("member media/local_content/") && err.contains("is damaged"),
            "{args:?} names the member: {err}"
        );
    }

    // A good backup over the running installation, without --force: refused, nothing changes.
    let out = mbx.run(&["backup", "restore", good.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("a database already exists") && err.contains("--force"),
        "{}",
        describe(&out)
    );
    assert_eq!(mbx.read_secrets(), secrets_before);
    assert_eq!(read(&mbx.config_path()), config_before);
    send("after the refused restore");

    // --force while Synapse runs is refused too: the restore never fights the daemon.
    let out = mbx.run(&["backup", "restore", good.to_str().unwrap(), "--force"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is running"), "{}", describe(&out));
    send("after the refused forced restore");

    // Stopped, --force replaces the database and says what is lost; the backup's state is back.
    daemon.stop();
    let out = mbx.run(&["backup", "restore", good.to_str().unwrap(), "--force"]);
    assert_success(&out);
    eprintln!("{}", describe(&out));
    assert!(stderr(&out).contains("is lost"), "{}", describe(&out));
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let read_back = |message: &str| {
        mbx.client(&[
            "read",
            "--user",
            "alice",
            "--password",
            "alice password",
            "--room-alias-localpart",
            "lobby",
            "--expect",
            message,
        ])
    };
    assert_success(&read_back("after the killed backup"));
    let lost = read_back("after the refused restore");
    assert!(!lost.status.success(), "written after the backup: replaced");
    daemon.stop();

    // Refused with the reason, before anything changes: a newer Synapse, another server name.
    let newer = outside.path().join("newer.tar.gz");
    repack(&good, &newer, |_, m| m["synapse_version"] = "99.0.0".into());
    let other = outside.path().join("other.tar.gz");
    repack(&good, &other, |_, m| {
        m["server_name"] = "other.example".into()
    });
    for (archive, reason) in [
        (&newer, "Synapse 99.0.0, newer than"),
        (&other, "the backup is of server `other.example`"),
    ] {
        assert_success(&mbx.run(&["backup", "verify", archive.to_str().unwrap()]));
        let out = mbx.run(&["backup", "restore", archive.to_str().unwrap(), "--force"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(reason), "{}", describe(&out));
    }
    assert_eq!(read(&mbx.config_path()), config_before);

    // A dump cut in the middle (its checksum made to match), onto a fresh host: pg_restore fails
    // half-way, the restore stops, says what it left, and nothing serves (no configuration
    // written, Synapse never started, the half-restored database dropped).
    let broken = outside.path().join("broken-dump.tar.gz");
    repack(&good, &broken, |dir, _| {
        let dump = std::fs::read(dir.join("database.pgdump")).unwrap();
        std::fs::write(dir.join("database.pgdump"), &dump[..dump.len() * 3 / 5]).unwrap()
    });
    assert_success(&mbx.run(&["down", "--remove"]));
    std::fs::remove_dir_all(mbx.state_dir()).unwrap();
    std::fs::remove_file(mbx.config_path()).unwrap();
    let out = mbx.run(&["backup", "restore", broken.to_str().unwrap()]);
    eprintln!("{}", describe(&out));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("the restore stopped while restoring the database")
            && err.contains("was not written and Synapse was not started")
            && err.contains("hint:"),
        "{err}"
    );
    assert!(!mbx.config_path().exists(), "`run` has nothing to serve");
    assert!(
        !docker(&["inspect", &mbx.objects.synapse()])
            .status
            .success()
    );
    assert_eq!(
        docker_ok(&[
            "exec",
            &mbx.objects.postgres(),
            "psql",
            "-U",
            "postgres",
            "-tAX",
            "-c",
            "SELECT count(*) FROM pg_database WHERE datname = 'synapse_restore'",
        ]),
        "0",
        "the half-restored database is dropped"
    );
    // The same restore of a good backup then finishes the job.
    let out = mbx.run(&["backup", "restore", good.to_str().unwrap(), "--force"]);
    assert_success(&out);
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    assert_success(&read_back("after the killed backup"));
    daemon.stop();
}
