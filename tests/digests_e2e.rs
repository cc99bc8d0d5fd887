//! Image digests against a real registry on loopback (Debian's docker-registry) used as the
//! mirror: a correct pin is pulled and verified, a wrong pin is refused naming both digests, and a
//! tag re-pushed with other contents is refused on the next pull until the new digest is pinned.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `docker-registry serve` on 127.0.0.1:<free port>, storing in a temporary directory.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect(
                "docker-registry (Debian package docker-registry; tests/testbed/up.sh installs it)",
            );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child,
            port,
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes local image `source` as `<registry>/<name>` and returns the registry's digest.
    fn push(&self, source: &str, name: &str) -> String {
        let target = format!("{}/{name}", self.host());
        docker_ok(&["tag", source, &target]);
        let out = docker_ok(&["push", &target]);
        // The last line reads `<tag>: digest: sha256:… size: …`.
        let digest = out
            .split_whitespace()
            .skip_while(|w| *w != "digest:")
            .nth(1)
            .unwrap_or_else(|| panic!("no digest in push output: {out}"))
            .to_string();
        // Only the registry has it now: matrixbox must pull.
        docker_ok(&["rmi", &target]);
        digest
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes this test's references to the registry's images from the shared engine (never the
/// bench's own images, which share their layers).
fn forget_registry_images(registry: &str) {
    let out = docker_ok(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}}:{{.Tag}}@{{.Digest}}",
    ]);
    for line in out.lines().filter(|l| l.starts_with(registry)) {
        let (repo_tag, digest) = line.split_once('@').unwrap();
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
        if tag != "<none>" {
            let _ = docker(&["rmi", repo_tag]);
        }
        if digest != "<none>" {
            let _ = docker(&["rmi", &format!("{repo}@{digest}")]);
        }
    }
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        forget_registry_images(&self.0);
    }
}

fn assert_error(out: &std::process::Output, needles: &[&str]) {
    assert!(!out.status.success(), "expected failure: {}", describe(out));
    let err = stderr(out);
    // As the user sees it (shown with --nocapture).
    eprintln!("{err}");
    assert!(
        err.contains("\nhint: "),
        "every error ends with a hint: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

/// Pins the instance's images, written as Docker Hub names so the mirror prefix applies.
fn pin(mbx: &Instance, postgres: &str, synapse: &str) {
    let config = read(&mbx.config_path());
    let config = config
        .lines()
        .map(|l| match l.trim_start().split_once(": ") {
            Some(("postgres", _)) => format!("  postgres: {postgres}"),
            Some(("synapse", _)) => format!("  synapse: {synapse}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(mbx.config_path(), config + "\n").unwrap();
}

/// What `pull_only`'s `run` ends with.
const PULLED: &str = "postgres-init";

/// Runs `run` with a file where PostgreSQL's init directory goes: `run` ensures and verifies
/// both images, then stops at that directory before starting anything. Its error proves the
/// images were accepted.
fn pull_only(mbx: &Instance) -> std::process::Output {
    let blocker = mbx.state_dir().join("postgres-init");
    std::fs::write(&blocker, b"").unwrap();
    let out = mbx.run(&["run"]);
    std::fs::remove_file(&blocker).unwrap();
    out
}

fn record(mbx: &Instance) -> serde_json::Value {
    serde_json::from_str(&read(&mbx.state_dir().join("image-digests.json"))).unwrap()
}

#[test]
fn pins_and_recorded_digests_are_enforced_through_a_mirror() {
    let registry = Registry::start();
    let _cleanup = Cleanup(registry.host());
    let pg_image = env("MATRIXBOX_TEST_PG_IMAGE");
    let synapse_image = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let pg_digest = registry.push(&pg_image, &pg_image);
    let synapse_digest = registry.push(&synapse_image, &synapse_image);

    let mbx = Instance::new();
    mbx.setup(&format!("registry_mirror: {}\n", registry.host()));
    let mirrored_pg = format!("{}/{pg_image}", registry.host());

    // A wrong pin: the registry has no such digest; the error names the image and both digests.
    let wrong = format!("sha256:{}", "0".repeat(64));
    pin(
        &mbx,
        &format!("{pg_image}@{wrong}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &[
            &format!("image {mirrored_pg}@{wrong}"),
            &format!("pinned to digest {wrong}"),
            &format!("its tag names {pg_digest}"),
            &format!("pin `@{pg_digest}`"),
        ],
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
    forget_registry_images(&registry.host());

    // Correct pins: pulled through the mirror, verified, recorded; `run` goes on to the port check.
    pin(
        &mbx,
        &format!("{pg_image}@{pg_digest}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    let out = pull_only(&mbx);
    assert_error(&out, &[PULLED]);
    let pulled = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &format!("{mirrored_pg}@{pg_digest}"),
    ]);
    assert!(pulled.contains(&pg_digest), "{pulled}");
    assert_eq!(record(&mbx)[&mirrored_pg], pg_digest.as_str());

    // Unpinned tags are recorded on first use too.
    pin(&mbx, &pg_image, &synapse_image);
    forget_registry_images(&registry.host());
    assert_error(&pull_only(&mbx), &[PULLED]);
    assert_eq!(record(&mbx)[&mirrored_pg], pg_digest.as_str());

    // The tag is re-pushed with other contents; the next pull is refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {pg_image}\nLABEL io.matrixbox.test.repushed={}\n",
            registry.port
        ),
    )
    .unwrap();
    let other = format!("{}/repushed:{}", registry.host(), registry.port);
    docker_ok(&[
        "build",
        "-q",
        "-t",
        &other,
        &dir.path().display().to_string(),
    ]);
    let new_digest = registry.push(&other, &pg_image);
    docker_ok(&["rmi", &other]);
    assert_ne!(new_digest, pg_digest);
    forget_registry_images(&registry.host());
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &[
            &format!("image {mirrored_pg} was {pg_digest}"),
            &format!("is now {new_digest}"),
            "re-pushed",
            &format!("append `@{new_digest}`"),
            "image-digests.json",
        ],
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
    // Refused again while the tag stays as it is (no fresh pull needed).
    assert_error(&mbx.run(&["run"]), &["re-pushed"]);

    // The override: pinning the new digest accepts it, and the record follows.
    let pinned_pg = format!("{mirrored_pg}@{new_digest}");
    pin(
        &mbx,
        &format!("{pg_image}@{new_digest}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    assert_error(&pull_only(&mbx), &[PULLED]);
    assert_eq!(record(&mbx)[&mirrored_pg], new_digest.as_str());

    // Pinned references run: the containers are made from them and the stack comes up.
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, Duration::from_secs(300));
    assert_eq!(
        inspect(&mbx.objects.postgres(), "{{.Config.Image}}"),
        pinned_pg
    );
    daemon.stop();
}
