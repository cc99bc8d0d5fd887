//! The package as users live with it: the .deb from a signed apt repository, installed in a
//! container with systemd as PID 1 (sandboxing really applied), then `setup`, `systemctl`
//! reload/stop/start, crash and watchdog restarts, and a config error that stops the restarts.
//!
//! The container shares the host's network namespace: Synapse is published on the bench engine's
//! 127.0.0.1, which the edge inside must reach, and ports below 1024 then follow the host's
//! unprivileged-port rule, so a missing CAP_NET_BIND_SERVICE would show. The edge listens on
//! 127.0.0.2 to stay clear of anything on the host's 127.0.0.1:80/443. The bench's Docker socket is
//! mounted in; containers the product creates bind-mount host paths, so the state directory is a
//! host directory mounted at the same path inside.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const EDGE_IP: &str = "127.0.0.2";
const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

/// A container running systemd, removed on drop.
struct Machine {
    name: String,
}

impl Machine {
    fn boot(state_dir: &Path) -> Machine {
        let name = format!("matrixbox-systemd-e2e-{}", std::process::id());
        docker(&["rm", "-f", &name]);
        let sock = docker_host();
        let sock = sock
            .strip_prefix("unix://")
            .expect("bench engine on a unix socket");
        let state = state_dir.display().to_string();
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "-e",
            "container=docker",
            "--stop-signal",
            "SIGRTMIN+3",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            // Without these systemd silently skips the unit's sandboxing.
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--network",
            "host",
            "-v",
            &format!("{sock}:/run/docker.sock"),
            "-v",
            &format!("{state}:{state}"),
            &env("MATRIXBOX_TEST_SYSTEMD_IMAGE"),
            "/sbin/init",
        ]);
        let machine = Machine { name };
        // Until systemd has its bus socket, systemctl cannot even ask.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let booted = machine.sh("systemctl is-system-running --wait");
            if ["running", "degraded"].contains(&stdout(&booted).trim()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "systemd did not come up: {}",
                describe(&booted)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        machine
    }

    fn sh(&self, script: &str) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", docker_host())
            .args(["exec", "-i", &self.name, "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            describe(&out)
        );
        stdout(&out)
    }

    fn write(&self, path: &str, contents: &str) {
        let mut child = Command::new("docker")
            .env("DOCKER_HOST", docker_host())
            .args(["exec", "-i", &self.name, "sh", "-c"])
            .arg(format!("mkdir -p \"$(dirname {path})\" && cat > {path}"))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(contents.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "cannot write {path}");
    }

    fn show(&self, property: &str) -> String {
        self.sh_ok(&format!("systemctl show -P {property} matrixbox.service"))
            .trim()
            .to_string()
    }

    /// Waits until `check` holds for the unit, failing with its status and journal otherwise.
    fn wait_for(&self, what: &str, timeout: Duration, check: impl Fn(&Machine) -> bool) {
        let deadline = Instant::now() + timeout;
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "{what} not reached within {timeout:?}:\n{}\n{}",
                stdout(&self.sh("systemctl status --no-pager matrixbox")),
                self.journal()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn journal(&self) -> String {
        stdout(&self.sh("journalctl -u matrixbox --no-pager -n 80"))
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // Stop the service first, so the homeserver's containers stop cleanly too.
        self.sh("systemctl stop matrixbox");
        docker(&["rm", "-f", &self.name]);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", describe(&out));
    stdout(&out)
}

/// The .deb of this build (the test binary's matrixbox) in a repository signed with a fresh key.
fn signed_repository(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let debs = dir.join("debs");
    run_ok(
        Command::new(root.join("packaging/build-deb.sh"))
            .env("MATRIXBOX_BIN", env!("CARGO_BIN_EXE_matrixbox"))
            .arg("--output")
            .arg(&debs),
    );
    let gnupg = dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    let gpg = |args: &[&str]| {
        run_ok(
            Command::new("gpg")
                .env("GNUPGHOME", &gnupg)
                .args(["--batch", "--passphrase", ""])
                .args(args),
        )
    };
    gpg(&[
        "--quick-gen-key",
        "matrixbox test repo",
        "ed25519",
        "sign",
        "1d",
    ]);
    let repo = dir.join("repo");
    let deb: Vec<PathBuf> = std::fs::read_dir(&debs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(deb.len(), 1, "{deb:?}");
    // The test image excludes man pages from installs (dpkg path-exclude): check the package itself.
    let contents = run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb[0]));
    for file in [
        "./usr/bin/matrixbox",
        "./usr/share/man/man1/matrixbox.1.gz",
        "./usr/share/bash-completion/completions/matrixbox",
        "./usr/share/zsh/vendor-completions/_matrixbox",
        "./usr/lib/systemd/system/matrixbox.service",
    ] {
        assert!(
            contents.contains(file),
            "{file} missing from the package:\n{contents}"
        );
    }
    run_ok(
        Command::new(root.join("packaging/apt-repo.sh"))
            .env("GNUPGHOME", &gnupg)
            .arg(&repo)
            .arg("matrixbox test repo")
            .arg(&deb[0]),
    );
    repo
}

/// Serves `dir` over HTTP on 127.0.0.1 (the container shares this network namespace).
fn serve(dir: &Path, port: u16) -> Child {
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the repository server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl` to the edge inside the container, trusting only the internal CA's root.
fn edge_get(ca: &Path, path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args([
            "--resolve",
            &format!("localhost:443:{EDGE_IP}"),
            "-w",
            "\n%{http_code}",
        ])
        .arg(format!("https://localhost{path}"))
        .output()
        .unwrap();
    let text = stdout(&out);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

#[test]
fn deb_from_signed_repo_under_systemd() {
    let _engine = exclusive_engine();
    let work = tempfile::tempdir().unwrap();
    // Same path on the host and in the container; not under /tmp (the unit has PrivateTmp=yes).
    let state_root = Path::new("/var/lib/matrixbox-systemd-e2e");
    std::fs::create_dir_all(state_root).unwrap();
    let state = tempfile::tempdir_in(state_root).unwrap();
    let state_dir = state.path().to_path_buf();

    let repo = signed_repository(work.path());
    let repo_port = free_port();
    let _server = KillOnDrop(serve(&repo, repo_port));
    let machine = Machine::boot(&state_dir);

    // The apt path users take: keyring, signed-by source, install.
    let keyring = std::fs::read(repo.join("matrixbox-archive-keyring.gpg")).unwrap();
    assert!(!keyring.is_empty());
    std::fs::copy(
        repo.join("matrixbox-archive-keyring.gpg"),
        state_dir.join("keyring.gpg"),
    )
    .unwrap();
    machine.sh_ok(&format!(
        "install -D -m 644 {}/keyring.gpg /etc/apt/keyrings/matrixbox.gpg && \
         echo 'deb [signed-by=/etc/apt/keyrings/matrixbox.gpg] http://127.0.0.1:{repo_port} bookworm main' \
           > /etc/apt/sources.list.d/matrixbox.list && \
         rm -f /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list && apt-get update -q",
        state_dir.display()
    ));
    // Point the unit at the shared state directory (bind mounts are resolved on the host).
    let state_str = state_dir.display().to_string();
    machine.write(
        "/etc/systemd/system/matrixbox.service.d/test.conf",
        &format!(
            "[Service]\nEnvironment=MATRIXBOX_STATE_DIR={state_str}\nReadWritePaths={state_str}\n"
        ),
    );
    let installing = Instant::now();
    machine.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q matrixbox");
    assert_eq!(machine.show("UnitFileState"), "enabled");
    assert_eq!(
        machine.show("ActiveState"),
        "inactive",
        "not started before setup"
    );
    assert!(
        machine
            .sh("test -e /usr/share/bash-completion/completions/matrixbox")
            .status
            .success()
    );

    // setup writes the config; the bench's images and ports go in; setup again starts the service.
    let env = format!("MATRIXBOX_STATE_DIR={state_str}");
    machine.sh_ok(&format!(
        "{env} matrixbox setup --domain localhost --no-start --skip-preflight"
    ));
    let synapse_port = free_port();
    machine.sh_ok(&format!(
        "cat >> /etc/matrixbox/matrixbox.yaml <<'EOF'\nimages:\n  synapse: {}\n  postgres: {}\ntrusted_key_servers: []\nsynapse_port: {synapse_port}\nmemory_mb: 1024\nlisten:\n  http: {EDGE_IP}:80\n  https: {EDGE_IP}:443\nEOF",
        env_var("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
        env_var("MATRIXBOX_TEST_PG_IMAGE"),
    ));
    let setup = machine.sh(&format!(
        "{env} matrixbox setup --domain localhost --skip-preflight"
    ));
    assert!(
        setup.status.success(),
        "{}\n{}",
        describe(&setup),
        machine.journal()
    );
    assert_eq!(machine.show("ActiveState"), "active");
    eprintln!(
        "figure: apt-get install -> systemctl is-active (setup included, images cached): {:.1} s",
        installing.elapsed().as_secs_f64()
    );
    let status = machine.show("StatusText");
    assert!(
        status.starts_with("serving localhost; synapse healthy; cert valid"),
        "{status}"
    );

    let ca = state_dir.join("ca/root.pem");
    let (code, body) = edge_get(&ca, "/_matrix/client/versions");
    assert_eq!(code, "200", "{body}");

    let user = machine.sh(&format!(
        "echo 'kept across restarts' | {env} matrixbox user add dora --password-stdin"
    ));
    assert!(user.status.success(), "{}", describe(&user));
    let client = |args: &[&str]| {
        Command::new(env_var("MATRIXBOX_TEST_CLIENT_PY"))
            .arg(env_var("MATRIXBOX_TEST_CLIENT_SCRIPT"))
            .args(args)
            .args([
                "--user",
                "dora",
                "--password",
                "kept across restarts",
                "--room-alias-localpart",
                "sd",
            ])
            .args(["--base-url", "https://localhost", "--ca-file"])
            .arg(&ca)
            .args(["--resolve", &format!("localhost:{EDGE_IP}")])
            .output()
            .unwrap()
    };
    assert_success(&client(&["send", "--message", "before the stop"]));

    // reload: RELOADING=1 then READY=1; still active, still serving.
    let pid = machine.show("MainPID");
    machine.sh_ok("systemctl reload matrixbox");
    machine.wait_for("reload done", Duration::from_secs(60), |m| {
        m.journal().contains("configuration reloaded") && m.show("ActiveState") == "active"
    });
    assert_eq!(machine.show("MainPID"), pid, "reload must not restart");

    // stop: both containers stop cleanly; data stays.
    machine.sh_ok("systemctl stop matrixbox");
    for container in ["matrixbox-synapse", "matrixbox-postgres"] {
        assert_eq!(
            inspect(container, "{{.State.Running}}"),
            "false",
            "{container}"
        );
        assert_eq!(
            inspect(container, "{{.State.ExitCode}}"),
            "0",
            "{container}"
        );
    }
    machine.sh_ok("systemctl start matrixbox");
    assert_eq!(machine.show("ActiveState"), "active");
    assert_success(&client(&["read", "--expect", "before the stop"]));

    // kill -9: systemd restarts it and the homeserver comes back.
    let restarts = |m: &Machine| m.show("NRestarts").parse::<u32>().unwrap();
    let before = restarts(&machine);
    machine.sh_ok("systemctl kill -s KILL --kill-whom=main matrixbox");
    machine.wait_for("restart after kill -9", HEALTHY_WITHIN, |m| {
        restarts(m) > before && m.show("ActiveState") == "active"
    });
    assert_eq!(edge_get(&ca, "/_matrix/client/versions").0, "200");

    // SIGSTOP: no watchdog pings, so systemd aborts and restarts it.
    let before = restarts(&machine);
    machine.sh_ok("systemctl kill -s STOP --kill-whom=main matrixbox");
    machine.wait_for(
        "watchdog restart",
        Duration::from_secs(120) + HEALTHY_WITHIN,
        |m| restarts(m) > before && m.show("ActiveState") == "active",
    );
    assert!(
        machine.journal().contains("Watchdog timeout"),
        "{}",
        machine.journal()
    );

    // A config error: exit 78, the unit fails and is not restarted in a loop.
    machine.sh_ok("echo 'domian: typo' >> /etc/matrixbox/matrixbox.yaml");
    let restarted = machine.sh("systemctl restart matrixbox");
    assert!(!restarted.status.success());
    machine.wait_for("failed", Duration::from_secs(200), |m| {
        m.show("ActiveState") == "failed"
    });
    assert_eq!(machine.show("ExecMainStatus"), "78");
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(machine.show("ActiveState"), "failed");
    // A manual restart resets the counter; Restart=on-failure would have raised it.
    assert_eq!(
        restarts(&machine),
        0,
        "a config error must not restart-loop"
    );
    let status = stdout(&machine.sh("systemctl status --no-pager -n 20 matrixbox"));
    assert!(status.contains("did you mean `domain`?"), "{status}");

    let security = stdout(&machine.sh("systemd-analyze security --no-pager matrixbox.service"));
    eprintln!(
        "figure: {}",
        security
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or("no exposure score")
    );
}

fn env_var(name: &str) -> String {
    common::env(name)
}
