//! Shared harness for end-to-end tests: the bench's private Docker engine, a matrixbox instance in a
//! temporary directory, and the real Matrix client. Run through `./tests/run.sh`, which starts them.
//!
//! Every instance has its own name (config `instance:`) and ports, so tests run side by side on one
//! engine, and removes its containers and network when dropped, also when its test fails.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod pebble;
pub mod registry;
pub mod relay;
pub mod testnet;

pub use pebble::free_port;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the end-to-end tests through ./tests/run.sh, which starts the bench")
    })
}

pub fn docker_host() -> String {
    env("MATRIXBOX_TEST_DOCKER_HOST")
}

/// The docker CLI, pointed at the bench engine.
pub fn docker_command() -> Command {
    let mut command = Command::new("docker");
    command.env("DOCKER_HOST", docker_host());
    command
}

/// Runs the docker CLI against the bench engine.
pub fn docker(args: &[&str]) -> Output {
    docker_command()
        .args(args)
        .output()
        .expect("docker CLI runs")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn inspect(container: &str, format: &str) -> String {
    docker_ok(&["inspect", "-f", format, container])
}

/// A name for an instance of this test: the process id and a counter make it unique on the
/// engine, the test's name (its thread's) says whose it is. Never the default `matrixbox`, so
/// tests leave an installation on the same engine alone.
pub fn unique_instance() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .rsplit("::")
        .next()
        .unwrap()
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let mut name = format!("mbxt-{}-{n}-{test}", std::process::id());
    // The product's limit for `instance:`; a name must not end with `-`.
    name.truncate(40);
    name.trim_end_matches('-').to_string()
}

/// `docker exec` of `query` in Synapse's database, as the superuser in the PostgreSQL container
/// `postgres`, answering unaligned tuples only.
fn psql_args<'a>(postgres: &'a str, query: &'a str) -> [&'a str; 10] {
    [
        "exec", postgres, "psql", "-U", "postgres", "-d", "synapse", "-tAX", "-c", query,
    ]
}

/// The Docker objects of one instance, removed when dropped (a failing test's too).
pub struct InstanceObjects {
    pub name: String,
}

impl InstanceObjects {
    pub fn synapse(&self) -> String {
        format!("{}-synapse", self.name)
    }

    pub fn postgres(&self) -> String {
        format!("{}-postgres", self.name)
    }

    /// Only with `turn.enabled`; removed with the others either way.
    pub fn coturn(&self) -> String {
        format!("{}-coturn", self.name)
    }

    /// The network's name is the instance's.
    pub fn network(&self) -> &str {
        &self.name
    }
}

impl Drop for InstanceObjects {
    fn drop(&mut self) {
        // Tests without the bench (no engine configured) made nothing to remove.
        if std::env::var("MATRIXBOX_TEST_DOCKER_HOST").is_ok() {
            docker(&[
                "rm",
                "-f",
                &self.synapse(),
                &self.postgres(),
                &self.coturn(),
            ]);
            // Synapse's workers and Redis (`workers:`), when a test ran them.
            let workers = [
                "sync",
                "client-reader",
                "federation-inbound",
                "federation-sender",
                "media",
                "event-persister",
            ]
            .map(|kind| format!("{}-synapse-{kind}", self.name));
            let redis = format!("{}-redis", self.name);
            let mut rm = vec!["rm", "-f", &redis];
            rm.extend(workers.iter().map(String::as_str));
            docker(&rm);
            docker(&["network", "rm", self.network()]);
        }
    }
}

/// What `Instance::run_until_images` stops at.
pub const AFTER_IMAGES: &str = "postgres-init";

/// The domain every test instance is set up for; its certificate comes from the internal CA.
pub const TEST_DOMAIN: &str = "matrix.test.internal";

/// One matrixbox installation with its config and state under a temporary directory. Fields drop
/// in order: the containers go before the directory they mount.
pub struct Instance {
    /// Its name (config `instance:`) and containers.
    pub objects: InstanceObjects,
    pub dir: tempfile::TempDir,
    /// The edge's listeners.
    pub http_port: u16,
    pub https_port: u16,
}

impl Instance {
    pub fn new() -> Instance {
        Instance {
            objects: InstanceObjects {
                name: unique_instance(),
            },
            dir: tempfile::tempdir().unwrap(),
            http_port: free_port(),
            https_port: free_port(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("etc/matrixbox.yaml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_matrixbox"));
        cmd.env("DOCKER_HOST", docker_host())
            .env("MATRIXBOX_CONFIG", self.config_path())
            .env("MATRIXBOX_STATE_DIR", self.state_dir())
            .env("NO_COLOR", "1")
            .args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `setup` for a test domain, then the bench's images and this instance's ports.
    /// Without setup's preflight: it checks the default ports (80, 443) before the bench's own
    /// are written, and tests running beside it may hold them (federation_e2e serves on :443 of
    /// its own addresses). `run` still checks the host with the instance's ports; preflight_e2e
    /// tests the checks themselves.
    pub fn setup(&self, extra: &str) {
        let out = self.run(&[
            "setup",
            "--domain",
            TEST_DOMAIN,
            "--email",
            "admin@test.internal",
            "--skip-preflight",
        ]);
        assert_success(&out);
        self.append_config(&format!("{}{extra}", self.bench_lines()));
    }

    /// Config lines that point an instance at the bench's images, its own name and free ports.
    pub fn bench_lines(&self) -> String {
        format!(
            "instance: {}\nimages:\n  synapse: {}\n  postgres: {}\ntrusted_key_servers: []\nmemory_mb: 1024\nlisten:\n  http: 127.0.0.1:{}\n  https: 127.0.0.1:{}\n",
            self.objects.name,
            env("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
            env("MATRIXBOX_TEST_PG_IMAGE"),
            self.http_port,
            self.https_port,
        )
    }

    /// Points `images.<key>` at `to` (the line `bench_lines` wrote, whichever image it names now).
    pub fn set_image(&self, key: &str, to: &str) {
        let config = read(&self.config_path());
        let prefix = format!("  {key}: ");
        let line = config
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("an images.{key} line"));
        std::fs::write(
            self.config_path(),
            config.replace(line, &format!("{prefix}{to}")),
        )
        .unwrap();
    }

    /// `query`'s answer (unaligned, tuples only) in Synapse's database, asked as the superuser
    /// inside this instance's PostgreSQL.
    pub fn psql(&self, query: &str) -> String {
        docker_ok(&psql_args(&self.objects.postgres(), query))
    }

    /// `psql` started in the background, its output piped: for a session that holds a lock while
    /// the test acts.
    pub fn psql_spawn(&self, query: &str) -> Child {
        docker_command()
            .args(psql_args(&self.objects.postgres(), query))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker CLI runs")
    }

    /// The real client as `user` in the room `#lobby`: `verb` (`send`, `read`) with `flag`
    /// (`--message`, `--expect`) and `text`; it must succeed.
    pub fn in_lobby(&self, (user, password): (&str, &str), verb: &str, flag: &str, text: &str) {
        assert_success(&self.client(&[
            verb,
            "--user",
            user,
            "--password",
            password,
            "--room-alias-localpart",
            "lobby",
            flag,
            text,
        ]));
    }

    /// `doctor --json`'s backups step. No name resolves (the resolver it is given answers
    /// nothing), so the remote steps fail fast; the local ones are what the tests read.
    pub fn doctor_backups_step(&self) -> serde_json::Value {
        let out = self
            .cmd(&["doctor", "--json"])
            .env("MATRIXBOX_DNS_SERVER", "127.0.0.1:9")
            .output()
            .unwrap();
        doctor_step(&out, "backups")
    }

    pub fn append_config(&self, text: &str) {
        let mut config = std::fs::read_to_string(self.config_path()).unwrap();
        config.push_str(text);
        std::fs::write(self.config_path(), config).unwrap();
    }

    /// Runs `run` with a file where PostgreSQL's init directory goes: `run` ensures and verifies
    /// both images, then stops at that directory, before anything starts. Its error (which names
    /// `AFTER_IMAGES`) proves the images were accepted.
    pub fn run_until_images(&self) -> Output {
        let blocker = self.state_dir().join(AFTER_IMAGES);
        std::fs::write(&blocker, b"").unwrap();
        let out = self.run(&["run"]);
        std::fs::remove_file(&blocker).unwrap();
        out
    }

    /// Starts `run` in the background; its output goes to `run-N.log` in the instance dir.
    pub fn spawn_run(&self) -> Daemon {
        self.spawn_daemon(None)
    }

    /// `spawn_run`, with a notification socket that collects what `run` tells systemd.
    pub fn spawn_run_notified(&self) -> Daemon {
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        self.spawn_daemon(Some(Notices::listen(
            &self.dir.path().join(format!("notify-{n}.sock")),
        )))
    }

    /// `spawn_run` talking to the engine at `docker_host` (a relay in front of the bench's).
    pub fn spawn_run_on(&self, docker_host: &str) -> Daemon {
        self.spawn_daemon_with(None, Some(docker_host), &[])
    }

    /// `spawn_run` with global flags before `run` (`-v`, `--lang`).
    pub fn spawn_run_flags(&self, flags: &[&str]) -> Daemon {
        self.spawn_daemon_with(None, None, flags)
    }

    fn spawn_daemon(&self, notices: Option<Notices>) -> Daemon {
        self.spawn_daemon_with(notices, None, &[])
    }

    fn spawn_daemon_with(
        &self,
        notices: Option<Notices>,
        docker_host: Option<&str>,
        flags: &[&str],
    ) -> Daemon {
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let log = self.dir.path().join(format!("run-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = self.cmd(&[flags, &["run"]].concat());
        if let Some(host) = docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        if let Some(notices) = &notices {
            cmd.env("NOTIFY_SOCKET", &notices.path);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon {
            child: Some(child),
            log,
            notices,
        }
    }

    pub fn status_json(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("status --json printed no JSON: {}", describe(&out)))
    }

    /// Waits until `status` reports the stack healthy, the daemon's edge serves (a new daemon
    /// over a stack that is already up is healthy before it listens) and its bring-up is over,
    /// failing with the daemon's log otherwise.
    pub fn wait_healthy(&self, daemon: &mut Daemon, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status_json()["healthy"] == serde_json::Value::Bool(true) {
                // `status` sees the containers healthy before the daemon's own bring-up has
                // finished waiting for them; a fault injected in between would end the bring-up.
                for line in ["edge serving", "homeserver is up"] {
                    let left = deadline.saturating_duration_since(Instant::now());
                    daemon.wait_log(line, 1, left.max(Duration::from_secs(1)));
                }
                return;
            }
            if let Some(code) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "`run` exited with {code} before the stack was healthy:\n{}",
                    daemon.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "not healthy after {timeout:?}:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The homeserver as clients reach it: through the edge (Synapse has no port of its own).
    pub fn base_url(&self) -> String {
        format!("https://{TEST_DOMAIN}:{}", self.https_port)
    }

    /// What the test client needs to reach `base_url`: the internal CA's root (which issued the
    /// edge's certificate for the test domain) and the test domain's address.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "--base-url".into(),
            self.base_url(),
            "--ca-file".into(),
            self.state_dir().join("ca/root.pem").display().to_string(),
            "--resolve".into(),
            format!("{TEST_DOMAIN}:127.0.0.1"),
        ]
    }

    /// Runs the real Matrix client (matrix-nio) with a subcommand.
    pub fn client(&self, args: &[&str]) -> Output {
        Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
            .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
            .args(args)
            .args(self.client_args())
            .output()
            .unwrap()
    }

    pub fn read_secrets(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = std::fs::read_dir(self.state_dir().join("secrets"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        all.sort();
        all
    }
}

/// The sd_notify messages a daemon sent, read as they come: an unread socket would fill up
/// and block the sender.
struct Notices {
    path: PathBuf,
    received: Arc<Mutex<Vec<String>>>,
    done: Arc<AtomicBool>,
}

impl Notices {
    fn listen(path: &Path) -> Notices {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let (sink, stop) = (received.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().push(message);
                }
            }
        });
        Notices {
            path: path.to_path_buf(),
            received,
            done,
        }
    }
}

impl Drop for Notices {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// A background `matrixbox run`.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
    notices: Option<Notices>,
}

impl Daemon {
    /// The process id of `run`, for tests that watch what it does (its sockets, say).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.as_ref().unwrap().id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let log = self.log_text();
                assert!(
                    status.success(),
                    "`run` exited with {status} on SIGTERM:\n{log}"
                );
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "`run` did not stop on SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the process to exit by itself (after a signal, say) and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "`run` did not exit within {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process has exited (a zombie not yet reaped), read from /proc so that
    /// waiting with `&self` can stop at once instead of running into its timeout.
    fn has_exited(&self) -> bool {
        let pid = self.child.as_ref().map(|c| c.id());
        pid.is_none_or(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                // The state follows the command name, which is in parentheses.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
            })
        })
    }

    fn assert_running(&self, waiting_for: &str) {
        assert!(
            !self.has_exited(),
            "`run` exited while the test waited for {waiting_for}:\n{}",
            self.log_text()
        );
    }

    /// Waits until `occurrences` notifications held the line `line` (e.g. `READY=1`); needs
    /// `spawn_run_notified`.
    pub fn wait_notified(&self, line: &str, occurrences: usize, timeout: Duration) {
        let received = &self.notices.as_ref().expect("spawn_run_notified").received;
        let count = || {
            let received = received.lock().unwrap();
            received
                .iter()
                .filter(|m| m.lines().any(|l| l == line))
                .count()
        };
        let deadline = Instant::now() + timeout;
        while count() < occurrences {
            if self.has_exited() {
                // Give the listener thread a moment for a last datagram in flight.
                std::thread::sleep(Duration::from_millis(300));
                if count() < occurrences {
                    self.assert_running(line);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {line} x{occurrences} among the notifications {:?}:\n{}",
                received.lock().unwrap(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether any notification so far held a line containing `needle`; needs
    /// `spawn_run_notified`.
    pub fn notified_containing(&self, needle: &str) -> bool {
        let received = &self.notices.as_ref().expect("spawn_run_notified").received;
        let received = received.lock().unwrap();
        received.iter().any(|m| m.contains(needle))
    }

    /// Waits until the log contains `needle` (or fails after `timeout`).
    pub fn wait_log(&self, needle: &str, occurrences: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let seen = || self.log_text().matches(needle).count() >= occurrences;
        while !seen() {
            // Exited: the last lines it wrote are all there will be.
            if self.has_exited() && !seen() {
                self.assert_running(needle);
            }
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?} x{occurrences}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The step `id` of what `doctor --json` printed.
pub fn doctor_step(out: &Output, id: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("doctor --json printed no JSON: {}", describe(out)));
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no {id} step: {report:#}"))
        .clone()
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "command failed: {}", describe(out));
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `curl` trusting only `ca`, with `name` resolved to loopback: (status line code, body).
pub fn curl(ca: &std::path::Path, name: &str, port: u16, path: &str) -> (String, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(ca)
        .args([
            "--resolve",
            &format!("{name}:{port}:127.0.0.1"),
            "-w",
            "\n%{http_code}",
        ])
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code.to_string(), body.to_string())
}

/// A DER certificate as PEM, for tools that take a CA file (curl, the Matrix client, doctor).
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// An instance of `name` with its certificate from `pebble` by HTTP-01, started and healthy
/// (within `healthy_within`) and serving Pebble's certificate; with its daemon, and Pebble's root
/// as a PEM file for curl. Its listeners are Pebble's challenge ports: Pebble validates HTTP-01
/// and TLS-ALPN-01 there, on the name (challtestsrv answers 127.0.0.1).
pub async fn instance_with_pebble(
    pebble: &pebble::Pebble,
    name: &str,
    healthy_within: Duration,
) -> (Instance, Daemon, PathBuf) {
    let mut mbx = Instance::new();
    mbx.http_port = pebble.http01_port;
    mbx.https_port = pebble.tls_port;
    assert_success(&mbx.run(&["setup", "--domain", name, "--skip-preflight"]));
    std::fs::write(
        mbx.config_path(),
        format!("{}{}", pebble.config(&[name], "http-01"), mbx.bench_lines()),
    )
    .unwrap();
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, healthy_within);
    assert!(
        pebble::wait_until_served(&pebble.tls_addr(), name, &pebble.issuing_root).await,
        "the edge never served a certificate from Pebble (HTTP-01 through the edge):\n{}",
        daemon.log_text()
    );
    let ca = mbx.dir.path().join("pebble-root.pem");
    std::fs::write(&ca, certificate_pem(pebble.issuing_root.as_ref())).unwrap();
    (mbx, daemon, ca)
}
