//! End-to-end: off-host copies in a local S3-compatible bucket (moto's server from PyPI, started
//! on a free loopback port; tests/s3/setup.sh installs it). The daemon pushes each scheduled
//! backup encrypted to an age public key and keeps the newest two there; `backup list` shows
//! them; the object in the bucket is age ciphertext, not the archive; `backup fetch --identity`
//! gives the archive back byte for byte and `backup verify` accepts it; no identity or the wrong
//! one is refused and writes nothing. Fault: the bucket becomes unreachable: the scheduled
//! backup is still written and kept, the failed push is in the log, `status` and `doctor`, and
//! `backup push` by hand says what failed and exits non-zero.

mod common;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const PUSHES_WITHIN: Duration = Duration::from_secs(300);
const BUCKET: &str = "matrix-backups";
const PREFIX: &str = "mbx/";
const PUSHED: &str = "scheduled backup pushed off the host";

fn s3_python() -> String {
    std::env::var("MATRIXBOX_TEST_S3_PY")
        .unwrap_or_else(|_| "/var/tmp/matrixbox-bench/s3-venv/bin/python".into())
}

/// moto's S3 server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start(dir: &Path) -> Moto {
        let port = free_port();
        let log = std::fs::File::create(dir.join("moto.log")).unwrap();
        let child = Command::new(s3_python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto ({}; see tests/s3/setup.sh): {e}",
                    s3_python()
                )
            });
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(200));
        }
        moto
    }

    fn tool(&self, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/s3_tool.py");
        Command::new(s3_python())
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn keys(&self) -> Vec<String> {
        let out = self.tool(&["keys", BUCKET]);
        assert_success(&out);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secret_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn scheduled_backups_go_off_host_encrypted_and_come_back() {
    let mbx = Instance::new();
    let moto = Moto::start(mbx.dir.path());
    assert_success(&moto.tool(&["create-bucket", BUCKET]));

    let keys_dir = mbx.dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let (access, secret) = (keys_dir.join("access"), keys_dir.join("secret"));
    secret_file(&access, "test-access-key\n");
    secret_file(&secret, "test-secret-key-never-logged\n");
    let identity = age::x25519::Identity::generate();
    let identity_file = keys_dir.join("identity.txt");
    secret_file(&identity_file, identity.to_string().expose_secret());
    let stranger_file = keys_dir.join("stranger.txt");
    secret_file(
        &stranger_file,
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret(),
    );
    let recipient = identity.to_public().to_string();

    let dir = mbx.dir.path().join("scheduled");
    mbx.setup(&format!(
        "backup:\n  every: 10s\n  keep: 5\n  dir: {}\n  offsite:\n    endpoint: {}\n    bucket: {BUCKET}\n    prefix: {PREFIX}\n    access_key_file: {}\n    secret_key_file: {}\n    recipient: {recipient}\n    keep: 2\n",
        dir.display(),
        moto.endpoint,
        access.display(),
        secret.display(),
    ));

    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    daemon.wait_log(PUSHED, 3, PUSHES_WITHIN);
    // The record is written just after the push is logged.
    std::thread::sleep(Duration::from_secs(1));

    let status = mbx.status_json();
    let backup = &status["backup"];
    let push = &backup["last_push"];
    assert_eq!(push["encrypted"], true, "{backup}");
    assert!(
        push["key"].as_str().unwrap().starts_with(PREFIX),
        "{backup}"
    );
    assert_eq!(backup["offsite"]["bucket"], BUCKET, "{backup}");
    assert!(backup["last_push_failure"].is_null(), "{backup}");
    let out = mbx
        .cmd(&["status"])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("off-host: last pushed"), "{text}");
    assert_eq!(mbx.doctor_backups_step()["status"], "pass");
    assert!(
        !daemon.log_text().contains("test-secret-key-never-logged"),
        "the secret key is never logged"
    );

    // Remote retention: the newest two of this server's archives, each encrypted. (A push in
    // flight briefly makes three.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let keys = loop {
        let keys = moto.keys();
        if keys.len() == 2 || Instant::now() > deadline {
            break keys;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(keys.len(), 2, "keep: 2 -> {keys:?}");
    for key in &keys {
        assert!(
            key.starts_with(&format!("{PREFIX}{TEST_DOMAIN}-")) && key.ends_with(".tar.gz.age"),
            "{key}"
        );
    }
    let out = mbx.run(&["backup", "list"]);
    assert_success(&out);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(keys.iter().all(|k| listed.contains(k.as_str())), "{listed}");

    // The bucket holds ciphertext: an age file, not the gzip archive.
    let newest = keys.iter().max().unwrap().clone();
    let head = moto.tool(&["head", BUCKET, &newest]);
    assert_success(&head);
    assert!(
        head.stdout.starts_with(b"age-encryption.org/v1\n"),
        "{:?}",
        String::from_utf8_lossy(&head.stdout)
    );
    let local = dir.join(
        newest
            .strip_prefix(PREFIX)
            .unwrap()
            .strip_suffix(".age")
            .unwrap(),
    );
    let plain = std::fs::read(&local).unwrap();
    assert_eq!(&plain[..2], b"\x1f\x8b", "the local archive is gzip");

    // Fetched back with the identity: byte for byte, 0600, and `backup verify` accepts it.
    let fetched = mbx.dir.path().join("fetched.tar.gz");
    let fetched_s = fetched.to_str().unwrap();
    let identity_s = identity_file.to_str().unwrap();
    let out = mbx.run(&[
        "backup",
        "fetch",
        &newest,
        "--output",
        fetched_s,
        "--identity",
        identity_s,
    ]);
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("decrypted with"),
        "{}",
        describe(&out)
    );
    assert!(
        std::fs::read(&fetched).unwrap() == plain,
        "byte-identical after decrypt"
    );
    assert_eq!(
        std::fs::metadata(&fetched).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_success(&mbx.run(&["backup", "verify", fetched_s]));
    // Never over an existing file.
    let out = mbx.run(&[
        "backup",
        "fetch",
        &newest,
        "--output",
        fetched_s,
        "--identity",
        identity_s,
    ]);
    assert!(
        !out.status.success() && stderr(&out).contains("already exists"),
        "{}",
        describe(&out)
    );
    assert!(std::fs::read(&fetched).unwrap() == plain);

    // No identity, or another one: refused, nothing written.
    let refused: PathBuf = mbx.dir.path().join("refused.tar.gz");
    let refused_s = refused.to_str().unwrap();
    let out = mbx.run(&["backup", "fetch", &newest, "--output", refused_s]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(stderr(&out).contains("--identity"), "{}", describe(&out));
    assert!(!refused.exists());
    let stranger_s = stranger_file.to_str().unwrap();
    let out = mbx.run(&[
        "backup",
        "fetch",
        &newest,
        "--output",
        refused_s,
        "--identity",
        stranger_s,
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("does not match"),
        "{}",
        describe(&out)
    );
    assert!(!refused.exists());
    let leftovers: Vec<_> = std::fs::read_dir(mbx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".matrixbox-offsite-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The bucket goes away: the next scheduled backup is written and kept, its push fails and
    // says so in the log, `status` and `doctor`.
    let written = "scheduled backup written and verified";
    let before = daemon.log_text().matches(written).count();
    drop(moto);
    daemon.wait_log("scheduled backup push failed", 1, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(1));
    assert!(daemon.log_text().matches(written).count() > before);
    let status = mbx.status_json();
    let backup = &status["backup"];
    let error = backup["last_push_failure"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("cannot reach"), "{backup}");
    let kept = PathBuf::from(backup["last_good"]["path"].as_str().unwrap());
    assert!(kept.exists(), "the local backup is kept: {backup}");
    assert_success(&mbx.run(&["backup", "verify", kept.to_str().unwrap()]));
    let step = mbx.doctor_backups_step();
    assert_eq!(step["status"], "warn", "{step}");
    assert!(
        step["evidence"].as_str().unwrap().contains("off-host"),
        "{step}"
    );

    // By hand: a clear error, a non-zero exit, the file untouched.
    let size = std::fs::metadata(&kept).unwrap().len();
    let out = mbx.run(&["backup", "push", kept.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach http://127.0.0.1") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(std::fs::metadata(&kept).unwrap().len(), size);
    daemon.stop();
}

/// An archive larger than one part goes up as a multipart upload (here 3 parts) and comes back
/// byte for byte, both unencrypted and encrypted; no stack is needed for `push` and `fetch`.
#[test]
fn large_archives_go_up_in_parts_and_come_back_whole() {
    let mbx = Instance::new();
    let moto = Moto::start(mbx.dir.path());
    assert_success(&moto.tool(&["create-bucket", BUCKET]));
    let dir = mbx.dir.path();
    let (access, secret) = (dir.join("access"), dir.join("secret"));
    secret_file(&access, "test-access-key\n");
    secret_file(&secret, "test-secret-key\n");
    let identity = age::x25519::Identity::generate();
    let identity_file = dir.join("identity.txt");
    secret_file(&identity_file, identity.to_string().expose_secret());
    // 40 MiB that does not compress: three parts of 16 MiB at most.
    let archive = dir.join("big.tar.gz");
    let mut data = vec![0u8; 40 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&archive, &data).unwrap();
    std::fs::create_dir_all(mbx.config_path().parent().unwrap()).unwrap();

    for (recipient, key) in [
        (None, format!("{PREFIX}big.tar.gz")),
        (
            Some(identity.to_public().to_string()),
            format!("{PREFIX}big.tar.gz.age"),
        ),
    ] {
        let recipient_line = recipient
            .map(|r| format!("    recipient: {r}\n"))
            .unwrap_or_default();
        std::fs::write(
            mbx.config_path(),
            format!(
                "domain: {TEST_DOMAIN}\nbackup:\n  offsite:\n    endpoint: {}\n    bucket: {BUCKET}\n    prefix: {PREFIX}\n    access_key_file: {}\n    secret_key_file: {}\n{recipient_line}",
                moto.endpoint,
                access.display(),
                secret.display(),
            ),
        )
        .unwrap();
        let out = mbx.run(&["backup", "push", archive.to_str().unwrap()]);
        assert_success(&out);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&key),
            "{}",
            describe(&out)
        );
        let back = dir.join(format!("back-{}", key.replace('/', "_")));
        let out = mbx.run(&[
            "backup",
            "fetch",
            &key,
            "--output",
            back.to_str().unwrap(),
            "--identity",
            identity_file.to_str().unwrap(),
        ]);
        assert_success(&out);
        assert!(
            std::fs::read(&back).unwrap() == data,
            "{key} comes back whole"
        );
    }
    let keys = moto.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    // The server saw the parts (its request log).
    let log = read(&dir.join("moto.log"));
    assert!(
        log.contains("partNumber=3") && !log.contains("partNumber=4"),
        "{log}"
    );
    // A key that is not there: a clear error, nothing written.
    let missing = dir.join("missing.tar.gz");
    let out = mbx.run(&[
        "backup",
        "fetch",
        &format!("{PREFIX}nothing.tar.gz"),
        "--output",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(stderr(&out).contains("no object"), "{}", describe(&out));
    assert!(!missing.exists());
}
