//! A real registry on loopback for tests (Debian's docker-registry), used as a mirror, and the
//! cleanup of what a test pulled from it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{docker, docker_ok};

/// `docker-registry serve` on 127.0.0.1:<free port>, storing in a temporary directory.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
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

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes local image `source` as `<registry>/<name>` and returns the registry's digest.
    pub fn push(&self, source: &str, name: &str) -> String {
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
pub fn forget_registry_images(registry: &str) {
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

pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        forget_registry_images(&self.0);
    }
}
