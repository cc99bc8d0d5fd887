//! The package as users live with it, in a container with systemd as PID 1 (sandboxing really
//! applied), from a release as packaging/release.sh publishes it:
//! - `curl | sh` on the apt path installs the previous version from the signed repository, then
//!   `setup`, an upgrade, `systemctl` reload/stop/start, crash and watchdog restarts, a config
//!   error that stops the restarts, and `--uninstall --purge`;
//! - `curl | sh --static`: truncated scripts and tampered binaries or sums install nothing, a
//!   re-run restarts nothing, a tampered release leaves the running service alone, and
//!   `--uninstall --purge` removes it all;
//! - a hostile mirror (an extra key in the served keyring, signatures by a look-alike key, an
//!   expired `Release`, plain http) against `install.sh` and apt, and `release.sh --resign`.
//!
//! The container shares the host's network namespace: Synapse is published on the bench engine's
//! 127.0.0.1, which the edge inside must reach, and ports below 1024 then follow the host's
//! unprivileged-port rule, so a missing CAP_NET_BIND_SERVICE would show. Each machine's edge
//! listens on a loopback address of its own (127.0.x.y) to stay clear of anything on the host's
//! 127.0.0.1:80/443 and of the other machines; each installation has its own instance name. The
//! bench's Docker socket is mounted in; containers the product creates bind-mount host paths, so
//! the state directory is in a host directory mounted at the same path inside.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

/// A loopback address whose ports 80 and 443 are free, for one machine's edge: picked from the
/// process id so that concurrent tests start from different addresses.
fn free_edge_ip() -> Ipv4Addr {
    let third = (std::process::id() % 250) as u8 + 1;
    (2..=254)
        .map(|fourth| Ipv4Addr::new(127, 0, third, fourth))
        .find(|ip| {
            [80, 443]
                .iter()
                .all(|&port| TcpListener::bind((*ip, port)).is_ok())
        })
        .expect("a loopback address with ports 80 and 443 free")
}

/// A container running systemd, removed on drop, with a host directory shared at the same path
/// (not under /tmp: the unit has PrivateTmp=yes) that holds the state directory. Fields drop
/// after `Drop::drop`: the homeserver's containers go once the service is stopped.
struct Machine {
    name: String,
    shared: tempfile::TempDir,
    /// Where the edge listens (80 and 443).
    edge_ip: Ipv4Addr,
    /// The installation's instance: its containers and network on the bench engine.
    objects: InstanceObjects,
}

impl Machine {
    fn boot(role: &str) -> Machine {
        let name = format!("matrixbox-systemd-e2e-{role}-{}", std::process::id());
        let shared_root = Path::new("/var/lib/matrixbox-systemd-e2e");
        std::fs::create_dir_all(shared_root).unwrap();
        let shared = tempfile::tempdir_in(shared_root).unwrap();
        docker(&["rm", "-f", &name]);
        let sock = docker_host();
        let sock = sock
            .strip_prefix("unix://")
            .expect("bench engine on a unix socket");
        let shared_path = shared.path().display().to_string();
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
            &format!("{shared_path}:{shared_path}"),
            &env("MATRIXBOX_TEST_SYSTEMD_IMAGE"),
            "/sbin/init",
        ]);
        let machine = Machine {
            name,
            shared,
            edge_ip: free_edge_ip(),
            objects: InstanceObjects {
                name: unique_instance(),
            },
        };
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

    /// `MATRIXBOX_STATE_DIR`: inside the shared directory, so purging it can remove it.
    fn state_dir(&self) -> PathBuf {
        self.shared.path().join("state")
    }

    fn state_env(&self) -> String {
        format!("MATRIXBOX_STATE_DIR={}", self.state_dir().display())
    }

    /// apt sees only the release's repository, and the unit uses the shared state directory.
    fn prepare(&self) {
        self.sh_ok("rm -f /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list");
        let state = self.state_dir().display().to_string();
        self.write(
            "/etc/systemd/system/matrixbox.service.d/test.conf",
            &format!(
                "[Service]\nEnvironment=MATRIXBOX_STATE_DIR={state}\nReadWritePaths={state}\n"
            ),
        );
    }

    /// `curl -fsSL <url> | sh -s -- <args>`, as users run it.
    fn curl_sh(&self, url: &str, args: &str) -> Output {
        self.sh(&format!(
            "curl -fsSL {url} | {} sh -s -- {args}",
            self.state_env()
        ))
    }

    /// `setup` writes the config; the bench's images and ports go in; `setup` again starts the
    /// service, which must then be active and healthy.
    fn setup_and_start(&self) {
        let env = self.state_env();
        self.sh_ok(&format!(
            "{env} matrixbox setup --domain localhost --no-start --skip-preflight"
        ));
        let (instance, edge_ip) = (&self.objects.name, self.edge_ip);
        self.sh_ok(&format!(
            "cat >> /etc/matrixbox/matrixbox.yaml <<'EOF'\ninstance: {instance}\nimages:\n  synapse: {}\n  postgres: {}\ntrusted_key_servers: []\nmemory_mb: 1024\nlisten:\n  http: {edge_ip}:80\n  https: {edge_ip}:443\nEOF",
            env_var("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
            env_var("MATRIXBOX_TEST_PG_IMAGE"),
        ));
        let setup = self.sh(&format!(
            "{env} matrixbox setup --domain localhost --skip-preflight"
        ));
        assert!(
            setup.status.success(),
            "{}\n{}",
            describe(&setup),
            self.journal()
        );
        assert_eq!(self.show("ActiveState"), "active");
        let status = self.show("StatusText");
        assert!(
            status.starts_with("serving localhost; synapse healthy; cert valid"),
            "{status}"
        );
        let (code, body) = self.edge_get("/_matrix/client/versions");
        assert_eq!(code, "200", "{body}");
    }

    /// `curl` to the edge inside the container, trusting only the internal CA's root.
    fn edge_get(&self, path: &str) -> (String, String) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(self.ca())
            .args([
                "--resolve",
                &format!("localhost:443:{}", self.edge_ip),
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

    /// The internal CA's root, which the edge's certificate chains to.
    fn ca(&self) -> PathBuf {
        self.state_dir().join("ca/root.pem")
    }

    fn file_sha256(&self, path: &str) -> String {
        self.sh_ok(&format!("sha256sum {path}"))
    }

    fn exists(&self, path: &str) -> bool {
        self.sh(&format!("test -e {path}")).status.success()
    }

    /// What a purge removes: `installed`, the config, the state, the containers and the network.
    fn assert_purged(&self, installed: &[&str]) {
        for gone in installed.iter().chain(&["/etc/matrixbox"]) {
            assert!(!self.exists(gone), "{gone} survived the purge");
        }
        assert!(
            !self.state_dir().exists(),
            "the state directory survived the purge"
        );
        for object in [self.objects.synapse(), self.objects.postgres()] {
            assert!(
                !docker(&["inspect", &object]).status.success(),
                "{object} survived the purge"
            );
        }
        assert!(
            !docker(&["network", "inspect", self.objects.network()])
                .status
                .success()
        );
    }

    fn sh(&self, script: &str) -> Output {
        docker_command()
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
        let mut child = docker_command()
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", describe(&out));
    stdout(&out)
}

const PREVIOUS_VERSION: &str = "0.0.9-1";

/// A release as packaging/release.sh publishes it for `base_url`, signed with a fresh key: the
/// static binary (this build's), install.sh with the key pinned, and an apt repository holding
/// this build's .deb as itself and as the previous version `PREVIOUS_VERSION`. No earlier release
/// exists to take it from; MATRIXBOX_TEST_PREVIOUS_DEB names a real one (built from an earlier
/// commit with `--deb-version 0.0.9-1`) to test the upgrade across code versions.
fn release(dir: &Path, base_url: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Stripped first and lightly compressed: packing the 200 MB debug build takes 40 s otherwise.
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let binary = dist.join(format!("matrixbox-linux-{}", std::env::consts::ARCH));
    run_ok(
        Command::new("strip")
            .arg("-o")
            .arg(&binary)
            .arg(env!("CARGO_BIN_EXE_matrixbox")),
    );
    let debs = dir.join("debs");
    // build-deb.sh stages in this checkout's target/: one build at a time (the test runs on).
    std::fs::create_dir_all(root.join("target")).unwrap();
    let staging = std::fs::File::create(root.join("target/build-deb.lock")).unwrap();
    staging
        .lock()
        .expect("lock for build-deb.sh's staging directory");
    for version in [PREVIOUS_VERSION, CURRENT_VERSION] {
        run_ok(
            Command::new(root.join("packaging/build-deb.sh"))
                .env("MATRIXBOX_BIN", &binary)
                .arg("--output")
                .arg(debs.join(format!("matrixbox_{version}.deb")))
                .args(["--deb-version", version, "--fast"]),
        );
    }
    drop(staging);
    if let Ok(previous) = std::env::var("MATRIXBOX_TEST_PREVIOUS_DEB") {
        eprintln!("previous version: {previous}");
        std::fs::copy(
            previous,
            debs.join(format!("matrixbox_{PREVIOUS_VERSION}.deb")),
        )
        .unwrap();
    }
    let deb = |version: &str| debs.join(format!("matrixbox_{version}.deb"));
    // The test image excludes man pages from installs (dpkg path-exclude): check the package itself.
    let contents = run_ok(Command::new("dpkg-deb").arg("-c").arg(deb(CURRENT_VERSION)));
    for file in [
        "./usr/bin/matrixbox",
        "./usr/share/man/man1/matrixbox.1.gz",
        "./usr/share/man/man1/matrixbox-setup.1.gz",
        "./usr/share/man/man1/matrixbox-user-add.1.gz",
        "./usr/share/bash-completion/completions/matrixbox",
        "./usr/share/zsh/vendor-completions/_matrixbox",
        "./usr/lib/systemd/system/matrixbox.service",
    ] {
        assert!(
            contents.contains(file),
            "{file} missing from the package:\n{contents}"
        );
    }
    // Debian's checker accepts it: no error or warning that packaging/debian/lintian-overrides
    // does not override with its reason.
    run_ok(
        Command::new("lintian")
            .args(["--fail-on", "error,warning"])
            .arg(deb(CURRENT_VERSION)),
    );
    let gnupg = dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    run_ok(
        Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--passphrase", ""])
            .args(["--quick-gen-key", KEY_NAME, "ed25519", "sign", "1d"]),
    );
    let out = dir.join("release");
    for version in [PREVIOUS_VERSION, CURRENT_VERSION] {
        run_ok(
            Command::new(root.join("packaging/release.sh"))
                .env("GNUPGHOME", &gnupg)
                .env("DIST", &dist)
                .env("DEBS", deb(version))
                .env("VERSION", version)
                .arg(&out)
                .arg(base_url)
                .arg(KEY_NAME),
        );
    }
    out
}

const CURRENT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-1");
const KEY_NAME: &str = "matrixbox test release";

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

/// A release made by `release.sh`, served on 127.0.0.1 for as long as this lives. Fields drop in
/// order: the server stops before its directory goes.
struct Published {
    dir: PathBuf,
    base_url: String,
    _server: KillOnDrop,
    _work: tempfile::TempDir,
}

fn publish() -> Published {
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let base_url = format!("http://127.0.0.1:{port}");
    let dir = release(work.path(), &base_url);
    Published {
        _server: KillOnDrop(serve(&dir, port)),
        dir,
        base_url,
        _work: work,
    }
}

/// A Matrix client as `dora`, through the edge with certificate verification on.
fn client(machine: &Machine, args: &[&str]) -> Output {
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
        .arg(machine.ca())
        .args(["--resolve", &format!("localhost:{}", machine.edge_ip)])
        .output()
        .unwrap()
}

#[test]
fn apt_path_install_upgrade_lifecycle_purge() {
    let published = publish();
    let base_url = &published.base_url;
    let machine = Machine::boot("apt");
    machine.prepare();
    let install_url = format!("{base_url}/install.sh");

    // curl | sh on Debian takes the apt path; the previous version first, to upgrade from it.
    let installing = Instant::now();
    let installed = machine.curl_sh(&install_url, &format!("--version {PREVIOUS_VERSION}"));
    assert_success(&installed);
    let version = || machine.sh_ok("dpkg-query -W -f '${Version}' matrixbox");
    assert_eq!(version(), PREVIOUS_VERSION);
    assert!(
        machine
            .sh_ok("cat /etc/apt/sources.list.d/matrixbox.list")
            .contains(&format!(
                "deb [signed-by=/etc/apt/keyrings/matrixbox.gpg check-valid-until=yes] {base_url}/apt bookworm main"
            ))
    );
    assert_eq!(machine.show("UnitFileState"), "enabled");
    assert_eq!(
        machine.show("ActiveState"),
        "inactive",
        "not started before setup"
    );
    assert!(machine.exists("/usr/share/bash-completion/completions/matrixbox"));

    machine.setup_and_start();
    eprintln!(
        "figure: apt-get install -> systemctl is-active (setup included, images cached): {:.1} s",
        installing.elapsed().as_secs_f64()
    );

    // Re-running the installer changes nothing and restarts nothing.
    let pid = machine.show("MainPID");
    let again = machine.curl_sh(&install_url, "");
    assert_success(&again);
    assert!(
        stderr(&again).contains("already installed"),
        "{}",
        describe(&again)
    );
    assert_eq!(machine.show("MainPID"), pid, "a re-run must not restart");

    let user = machine.sh(&format!(
        "echo 'kept across restarts' | {} matrixbox user add dora --password-stdin",
        machine.state_env()
    ));
    assert!(user.status.success(), "{}", describe(&user));
    assert_success(&client(
        &machine,
        &["send", "--message", "before the upgrade"],
    ));

    // Upgrade to this version: restarted onto the new binary; config, secrets and data kept.
    let kept = format!(
        "/etc/matrixbox/matrixbox.yaml {}/secrets/*",
        machine.state_dir().display()
    );
    let before = machine.file_sha256(&kept);
    machine.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q matrixbox");
    assert_eq!(version(), CURRENT_VERSION);
    assert_eq!(machine.show("ActiveState"), "active");
    // The package made the edge's account, so its process shows a name (`ps`, `top`).
    assert_eq!(
        machine.sh_ok("getent passwd matrixbox-edge").trim(),
        "matrixbox-edge:x:64443:64443:matrixbox edge process:/nonexistent:/usr/sbin/nologin"
    );
    let children = machine.sh_ok(&format!(
        "ps -o user:32=,args= --ppid {}",
        machine.show("MainPID")
    ));
    assert!(
        children
            .lines()
            .any(|l| l.starts_with("matrixbox-edge ") && l.contains(" edge ")),
        "{children}"
    );
    assert_ne!(
        machine.show("MainPID"),
        pid,
        "an upgrade restarts a running service"
    );
    assert_eq!(machine.file_sha256(&kept), before);
    assert_success(&client(
        &machine,
        &["read", "--expect", "before the upgrade"],
    ));

    // reload: RELOADING=1 then READY=1; still active, still serving.
    let pid = machine.show("MainPID");
    machine.sh_ok("systemctl reload matrixbox");
    machine.wait_for("reload done", Duration::from_secs(60), |m| {
        m.journal().contains("configuration reloaded") && m.show("ActiveState") == "active"
    });
    assert_eq!(machine.show("MainPID"), pid, "reload must not restart");

    // stop: both containers stop cleanly; data stays.
    assert_success(&client(&machine, &["send", "--message", "before the stop"]));
    machine.sh_ok("systemctl stop matrixbox");
    let synapse = machine.objects.synapse();
    for container in [synapse.clone(), machine.objects.postgres()] {
        assert_eq!(
            inspect(&container, "{{.State.Running}}"),
            "false",
            "{container}"
        );
        assert_eq!(
            inspect(&container, "{{.State.ExitCode}}"),
            "0",
            "{container}"
        );
    }
    // The journal has structured entries: the whole line, and each field to match on.
    let stopping = machine.sh_ok(&format!(
        "journalctl -u matrixbox --no-pager -o cat CONTAINER={synapse} PRIORITY=6"
    ));
    assert!(
        stopping.contains(&format!("stopping container={synapse}")),
        "{stopping}\n{}",
        machine.journal()
    );
    machine.sh_ok("systemctl start matrixbox");
    assert_eq!(machine.show("ActiveState"), "active");
    assert_success(&client(&machine, &["read", "--expect", "before the stop"]));

    // kill -9: systemd restarts it and the homeserver comes back.
    let restarts = |m: &Machine| m.show("NRestarts").parse::<u32>().unwrap();
    let before = restarts(&machine);
    machine.sh_ok("systemctl kill -s KILL --kill-whom=main matrixbox");
    machine.wait_for("restart after kill -9", HEALTHY_WITHIN, |m| {
        restarts(m) > before && m.show("ActiveState") == "active"
    });
    assert_eq!(machine.edge_get("/_matrix/client/versions").0, "200");

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

    // A config error on reload: the running configuration stays, STATUS= says why.
    machine.sh_ok("echo 'domian: typo' >> /etc/matrixbox/matrixbox.yaml");
    let pid = machine.show("MainPID");
    machine.sh_ok("systemctl reload matrixbox");
    machine.wait_for("failed reload reported", Duration::from_secs(60), |m| {
        m.show("StatusText")
            .contains("last reload failed, previous configuration kept")
    });
    assert_eq!(machine.show("ActiveState"), "active");
    assert_eq!(machine.show("MainPID"), pid);
    assert_eq!(machine.edge_get("/_matrix/client/versions").0, "200");

    // A config error at start: exit 78, the unit fails and is not restarted in a loop.
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

    // --uninstall --purge: the package, its apt source and key, the containers, config and data.
    machine.sh_ok("sed -i '/^domian:/d' /etc/matrixbox/matrixbox.yaml");
    let purged = machine.curl_sh(&install_url, "--uninstall --purge");
    assert_success(&purged);
    assert!(
        stderr(&purged).contains("purge removes the containers"),
        "{}",
        describe(&purged)
    );
    // After a purge dpkg no longer knows the package at all.
    assert!(!machine.sh("dpkg-query -W matrixbox").status.success());
    machine.assert_purged(&[
        "/usr/bin/matrixbox",
        "/etc/apt/sources.list.d/matrixbox.list",
        "/etc/apt/keyrings/matrixbox.gpg",
    ]);
}

#[test]
fn static_path_refuses_tampering_and_purges() {
    let published = publish();
    let (release, base_url) = (&published.dir, &published.base_url);
    let bin_name = format!("matrixbox-linux-{}", std::env::consts::ARCH);

    // A cut download runs nothing: cut inside a function, and cut before the last line.
    let script = std::fs::read_to_string(release.join("install.sh")).unwrap();
    std::fs::write(release.join("cut-half.sh"), &script[..script.len() / 2]).unwrap();
    let last_line = script.trim_end().rfind('\n').unwrap();
    std::fs::write(release.join("cut-last-line.sh"), &script[..last_line]).unwrap();
    // A binary that does not match the signed sums; and one whose sums were recomputed to match,
    // so the signature no longer covers them.
    let tamper = |dir: &str, resum: bool| {
        let target = release.join(dir).join("latest");
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(release.join("releases/latest")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
        let mut bin = std::fs::read(target.join(&bin_name)).unwrap();
        bin.extend_from_slice(b"tampered");
        std::fs::write(target.join(&bin_name), bin).unwrap();
        if resum {
            run_ok(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("sha256sum {bin_name} > SHA256SUMS"))
                    .current_dir(&target),
            );
        }
    };
    tamper("tampered-bin", false);
    tamper("tampered-sums", true);
    let machine = Machine::boot("static");
    machine.prepare();
    let install_url = format!("{base_url}/install.sh");
    let installed_nothing = |m: &Machine| {
        !m.exists("/usr/local/bin/matrixbox") && !m.exists("/etc/systemd/system/matrixbox.service")
    };
    let tampered = |m: &Machine, dir: &str, says: &str| {
        let out = m.sh(&format!(
            "curl -fsSL {install_url} | MATRIXBOX_RELEASE_URL={base_url}/{dir} sh -s -- --static"
        ));
        assert!(!out.status.success(), "{dir}: {}", describe(&out));
        assert!(stderr(&out).contains(says), "{dir}: {}", describe(&out));
    };

    for cut in ["cut-half.sh", "cut-last-line.sh"] {
        machine.curl_sh(&format!("{base_url}/{cut}"), "--static");
        assert!(installed_nothing(&machine), "{cut} installed something");
    }
    tampered(
        &machine,
        "tampered-bin",
        "does not match its signed SHA256SUMS",
    );
    tampered(
        &machine,
        "tampered-sums",
        "is not signed by the release key",
    );
    assert!(installed_nothing(&machine));

    let dry = machine.curl_sh(&install_url, "--static --dry-run");
    assert_success(&dry);
    assert!(
        stderr(&dry).contains("would run: install"),
        "{}",
        describe(&dry)
    );
    assert!(installed_nothing(&machine), "--dry-run installed something");

    // The static path: binary and unit, enabled, not started before setup.
    assert_success(&machine.curl_sh(&install_url, "--static"));
    assert_eq!(
        machine.sh_ok("matrixbox --version").trim(),
        format!("matrixbox {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        machine.show("FragmentPath"),
        "/etc/systemd/system/matrixbox.service"
    );
    assert_eq!(machine.show("UnitFileState"), "enabled");
    assert_eq!(machine.show("ActiveState"), "inactive");
    machine.setup_and_start();

    // A re-run restarts nothing; a tampered release leaves the running service and binary alone.
    let pid = machine.show("MainPID");
    let binary = machine.file_sha256("/usr/local/bin/matrixbox");
    let again = machine.curl_sh(&install_url, "--static");
    assert_success(&again);
    assert!(
        stderr(&again).contains("already this version"),
        "{}",
        describe(&again)
    );
    tampered(&machine, "tampered-bin", "does not match");
    tampered(&machine, "tampered-sums", "not signed");
    assert_eq!(machine.show("MainPID"), pid, "the service was restarted");
    assert_eq!(machine.file_sha256("/usr/local/bin/matrixbox"), binary);
    assert_eq!(machine.edge_get("/_matrix/client/versions").0, "200");

    // --uninstall --purge: service stopped, containers, binary, unit, config and data gone.
    let purged = machine.curl_sh(&install_url, "--uninstall --purge");
    assert_success(&purged);
    assert!(
        stderr(&purged).contains("uninstalled and purged"),
        "{}",
        describe(&purged)
    );
    assert_ne!(machine.show("ActiveState"), "active");
    machine.assert_purged(&[
        "/usr/local/bin/matrixbox",
        "/etc/systemd/system/matrixbox.service",
    ]);
}

/// A key with the release key's user ID, as a mirror that wants to sign for it would make.
fn look_alike_key(gnupg: &Path) {
    std::fs::create_dir_all(gnupg).unwrap();
    run_ok(
        Command::new("gpg")
            .env("GNUPGHOME", gnupg)
            .args(["--batch", "--passphrase", ""])
            .args(["--quick-gen-key", KEY_NAME, "ed25519", "sign", "1d"]),
    );
}

/// Signs the repository's `Release` (InRelease and Release.gpg) with the key in `gnupg`.
fn sign_release(apt: &Path, gnupg: &Path) {
    let dists = apt.join("dists/bookworm");
    for (out, how) in [("InRelease", "--clearsign"), ("Release.gpg", "-abs")] {
        run_ok(
            Command::new("gpg")
                .env("GNUPGHOME", gnupg)
                .current_dir(&dists)
                .args(["--batch", "--yes", "--local-user", KEY_NAME, how, "-o", out])
                .arg("Release"),
        );
    }
}

/// `<release>/<name>`: a copy of `from` (a directory of the release) to change as a mirror would.
fn mirror(release: &Path, from: &str, name: &str) -> PathBuf {
    let copy = release
        .join(name)
        .join(Path::new(from).file_name().unwrap());
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(release.join(from))
            .arg(&copy),
    );
    copy
}

/// `date -R` of `ago` (e.g. "60 days ago"), as Release files write dates.
fn rfc2822(ago: &str) -> String {
    run_ok(Command::new("date").args(["-u", "-R", "-d", ago]))
        .trim()
        .to_string()
}

/// What a mirror can do against the installer and apt, each refused before anything changes:
/// serve the keyring with its own key added (the keyring users install by hand), sign the
/// repository or the static release's sums with its own key (same user ID as the release key),
/// replay a Release past its Valid-Until, or be reached over plain http. The normal install then
/// writes exactly the stamped key, and apt with it refuses the foreign-signed and the expired
/// repository, and accepts the expired one once `release.sh --resign` has signed it afresh.
#[test]
fn installer_and_apt_trust_only_the_stamped_key_and_a_fresh_repository() {
    let published = publish();
    let (release, base_url) = (&published.dir, &published.base_url);
    let gnupg = release.parent().unwrap().join("gnupg");
    let attacker = release.parent().unwrap().join("attacker-gnupg");
    look_alike_key(&attacker);
    let export = |home: &Path| {
        Command::new("gpg")
            .env("GNUPGHOME", home)
            .args([
                "--batch",
                "--export-options",
                "export-minimal",
                "--export",
                KEY_NAME,
            ])
            .output()
            .unwrap()
            .stdout
    };
    let pinned_key = std::fs::read(release.join("apt/matrixbox-archive-keyring.gpg")).unwrap();
    assert_eq!(
        pinned_key,
        export(&gnupg),
        "the served keyring is the release key"
    );

    // The release key and the mirror's key in the served keyring; InRelease still the release's.
    let extra_key = mirror(release, "apt", "extra-key");
    let mut both = pinned_key.clone();
    both.extend(export(&attacker));
    std::fs::write(extra_key.join("matrixbox-archive-keyring.gpg"), both).unwrap();
    // Signed by the mirror's key; the served keyring is untouched.
    let foreign = mirror(release, "apt", "foreign");
    sign_release(&foreign, &attacker);
    // A Release signed by the release key, valid until 30 days ago: an old copy replayed.
    let expired = mirror(release, "apt", "expired");
    let release_file = expired.join("dists/bookworm/Release");
    let text = std::fs::read_to_string(&release_file).unwrap();
    let (date, until) = (rfc2822("60 days ago"), rfc2822("30 days ago"));
    let text: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("Date: ") {
                format!("Date: {date}")
            } else if line.starts_with("Valid-Until: ") {
                format!("Valid-Until: {until}")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert!(text.contains(&format!("Valid-Until: {until}")), "{text:?}");
    std::fs::write(&release_file, text.join("\n") + "\n").unwrap();
    sign_release(&expired, &gnupg);
    // The static release's sums signed by the mirror's key, its key served beside them.
    let foreign_sums = mirror(release, "releases/latest", "foreign-sums");
    run_ok(
        Command::new("gpg")
            .env("GNUPGHOME", &attacker)
            .current_dir(&foreign_sums)
            .args(["--batch", "--yes", "--local-user", KEY_NAME, "--armor"])
            .args(["--detach-sign", "-o", "SHA256SUMS.asc", "SHA256SUMS"]),
    );
    std::fs::write(
        foreign_sums.join("matrixbox-archive-keyring.gpg"),
        export(&attacker),
    )
    .unwrap();

    let machine = Machine::boot("keys");
    machine.prepare();
    let install_url = format!("{base_url}/install.sh");
    const KEYRING: &str = "/etc/apt/keyrings/matrixbox.gpg";
    const SOURCES: &str = "/etc/apt/sources.list.d/matrixbox.list";
    let refused = |m: &Machine, env: &str, args: &str, says: &str| {
        let out = m.sh(&format!("curl -fsSL {install_url} | {env} sh -s -- {args}"));
        assert!(!out.status.success(), "{env}: {}", describe(&out));
        assert!(stderr(&out).contains(says), "{env}: {}", describe(&out));
        for path in [KEYRING, SOURCES, "/usr/local/bin/matrixbox"] {
            assert!(!m.exists(path), "{env}: {path} was written");
        }
        assert!(!m.sh("dpkg-query -W matrixbox").status.success());
    };
    let apt_url = |dir: &str| format!("MATRIXBOX_APT_URL={base_url}/{dir}/apt");
    refused(
        &machine,
        &apt_url("extra-key"),
        "",
        "is not exactly the release key",
    );
    refused(
        &machine,
        &apt_url("foreign"),
        "",
        "is not signed by the release key",
    );
    refused(&machine, &apt_url("expired"), "", "expired on");
    refused(
        &machine,
        &format!("MATRIXBOX_RELEASE_URL={base_url}/foreign-sums"),
        "--static",
        "is not signed by the release key",
    );
    // Plain http only on loopback, and no user part to hide another host behind.
    let port = base_url.rsplit(':').next().unwrap();
    refused(
        &machine,
        "MATRIXBOX_APT_URL=http://example.invalid/apt",
        "",
        "downloads go over https",
    );
    refused(
        &machine,
        &format!("MATRIXBOX_APT_URL=http://127.0.0.1:{port}@example.invalid/apt"),
        "",
        "has no user part",
    );

    // The normal install: apt gets the stamped key alone, the very bytes the release serves.
    assert_success(&machine.curl_sh(&install_url, ""));
    assert_eq!(
        machine.sh_ok("dpkg-query -W -f '${Version}' matrixbox"),
        CURRENT_VERSION
    );
    let sha256 = |bytes: &[u8]| {
        use std::io::Write;
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        stdout(&child.wait_with_output().unwrap())
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        machine
            .sh_ok(&format!("sha256sum < {KEYRING}"))
            .split_whitespace()
            .next()
            .unwrap(),
        sha256(&pinned_key)
    );
    let keys = machine.sh_ok(&format!("gpg --show-keys --with-colons {KEYRING}"));
    assert_eq!(
        keys.lines().filter(|l| l.starts_with("pub:")).count(),
        1,
        "{keys}"
    );
    assert!(
        machine
            .sh_ok(&format!("cat {SOURCES}"))
            .contains("check-valid-until=yes"),
        "apt's expiry check is on for this source even where the image turned it off"
    );

    // apt with that keyring: the foreign-signed and the expired repository are refused.
    let apt_update = |m: &Machine, dir: &str| {
        m.write(
            SOURCES,
            &format!(
                "deb [signed-by={KEYRING} check-valid-until=yes] {base_url}/{dir}/apt bookworm main\n"
            ),
        );
        m.sh(&format!(
            "apt-get update -q -o Dir::Etc::sourcelist={SOURCES} -o Dir::Etc::sourceparts=-"
        ))
    };
    let foreign_update = apt_update(&machine, "foreign");
    assert!(
        !foreign_update.status.success(),
        "{}",
        describe(&foreign_update)
    );
    assert!(
        stderr(&foreign_update).contains("NO_PUBKEY"),
        "{}",
        describe(&foreign_update)
    );
    let expired_update = apt_update(&machine, "expired");
    assert!(
        !expired_update.status.success(),
        "{}",
        describe(&expired_update)
    );
    assert!(
        stderr(&expired_update).contains("is expired"),
        "{}",
        describe(&expired_update)
    );

    // Re-signed by the release step: a fresh Valid-Until, accepted by apt and install.sh again.
    run_ok(
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/release.sh"))
            .env("GNUPGHOME", &gnupg)
            .arg("--resign")
            .arg(release.join("expired"))
            .arg(KEY_NAME),
    );
    assert_success(&apt_update(&machine, "expired"));
    let again = machine.sh(&format!(
        "curl -fsSL {install_url} | {} sh -s --",
        apt_url("expired")
    ));
    assert_success(&again);
    assert!(
        stderr(&again).contains("already installed"),
        "{}",
        describe(&again)
    );
}

fn env_var(name: &str) -> String {
    common::env(name)
}
