//! End-to-end faults of the supervisor on a real engine: `docker kill` of Synapse and of
//! PostgreSQL is repaired on the engine's event while a Matrix client keeps sending, a
//! PostgreSQL that exits at start is reported with its log and not left restarting, and a second
//! SIGTERM ends a shutdown at once.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::relay::EngineRelay;
use common::*;
use nix::sys::signal::Signal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const READY_WITHIN: Duration = Duration::from_secs(300);
/// Generous for a loaded 2-core machine; the figures are printed.
const RECOVERED_WITHIN: Duration = Duration::from_secs(60);
/// From the container's death to its new start: the part matrixbox controls (the goal is
/// 10 s; the bound leaves room for a loaded machine).
const RESTARTED_WITHIN: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct horse battery";

fn engine_time(container: &str, field: &str) -> OffsetDateTime {
    let text = inspect(container, &format!("{{{{.State.{field}}}}}"));
    OffsetDateTime::parse(&text, &Rfc3339).unwrap_or_else(|e| panic!("{field} {text}: {e}"))
}

/// The real Matrix client sending numbered messages until `stop` exists.
fn start_sender(mbx: &Instance, stop: &std::path::Path) -> Child {
    Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
        .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
        .args(["send-until", "--user", "alice", "--password", PASSWORD])
        .args(["--room-alias-localpart", "faults", "--interval", "0.3"])
        .args(["--max-seconds", "400", "--timeout", "500"])
        .arg("--stop-file")
        .arg(stop)
        .args(mbx.client_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills `container` and waits for the daemon's `recovered:` line number `recoveries`; prints
/// and checks the figures: the whole recovery and the delay before the container started again.
fn kill_and_time_recovery(daemon: &Daemon, container: &str, recoveries: usize) {
    let killed = Instant::now();
    docker_ok(&["kill", container]);
    daemon.wait_log("recovered:", recoveries, Duration::from_secs(300));
    let recovered = killed.elapsed();
    let restarted = engine_time(container, "StartedAt") - engine_time(container, "FinishedAt");
    println!(
        "docker kill {container}: healthy again after {:.1}s; started again {:.1}s after it died",
        recovered.as_secs_f64(),
        restarted.as_seconds_f64()
    );
    let log = daemon.log_text();
    assert!(
        log.contains(&format!(
            "(engine event: {container} die with status 137): reconciling now"
        )),
        "the engine's event, not the 30 s tick, triggered the repair:\n{log}"
    );
    assert!(
        recovered < RECOVERED_WITHIN,
        "recovered after {recovered:?}:\n{log}"
    );
    assert!(
        restarted < time::Duration::try_from(RESTARTED_WITHIN).unwrap(),
        "started again {restarted} after it died:\n{log}"
    );
}

/// One stack for the three faults that need a running one: a Synapse kill, a PostgreSQL kill
/// (each landing right after a reconcile, so the 30 s tick is as far as it gets), a client that
/// sends throughout, then a shutdown cut short by a second SIGTERM.
#[test]
fn killed_containers_come_back_on_the_event_and_no_acknowledged_message_is_lost() {
    let mbx = Instance::new();
    // The client sends a few messages a second: more than Synapse's default message rate.
    mbx.setup("synapse:\n  rc_message:\n    per_second: 100\n    burst_count: 200\n");
    let mut daemon = mbx.spawn_run_notified();
    daemon.wait_notified("READY=1", 1, READY_WITHIN);
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    ));
    let stop = mbx.dir.path().join("stop-sending");
    let mut sender = start_sender(&mbx, &stop);
    let mut said = BufReader::new(sender.stdout.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(
        line.contains("sending_to"),
        "the client is not sending: {line}"
    );
    std::thread::sleep(Duration::from_secs(2));

    // A reload reconciles and says READY=1 when done: the kill lands just after a reconcile.
    daemon.signal(Signal::SIGHUP);
    daemon.wait_notified("READY=1", 2, READY_WITHIN);
    kill_and_time_recovery(&daemon, &mbx.objects.synapse(), 1);
    // Right after the repair's reconcile.
    kill_and_time_recovery(&daemon, &mbx.objects.postgres(), 2);
    mbx.wait_healthy(&mut daemon, READY_WITHIN);

    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(&stop, "").unwrap();
    let mut report = String::new();
    said.read_to_string(&mut report).unwrap();
    let sent = sender.wait_with_output().unwrap();
    println!("client: {report}");
    assert!(sent.status.success(), "{report}\n{}", describe(&sent));
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["missing"], serde_json::json!([]));
    assert!(report["acked"].as_u64().unwrap() > 10, "{report}");

    // A shutdown held up by an upload in flight through the edge (the drain waits for it, up to
    // its deadline), cut short by a second SIGTERM.
    let name = "matrix.test.internal";
    let mut upload = Command::new("curl")
        .args(["-sk", "-T", "-", "--resolve"])
        .arg(format!("{name}:{}:127.0.0.1", mbx.https_port))
        .arg(format!(
            "https://{name}:{}/_matrix/client/v3/login",
            mbx.https_port
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut body = upload.stdin.take().unwrap();
    body.write_all(b"{\"type\": ").unwrap();
    body.flush().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    daemon.signal(Signal::SIGTERM);
    daemon.wait_log("shutting down", 1, Duration::from_secs(30));
    let second = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(5));
    println!(
        "second SIGTERM: exited {:.2}s later with {status}",
        second.elapsed().as_secs_f64()
    );
    drop(body);
    let _ = upload.kill();
    let _ = upload.wait();
    let log = daemon.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        !log.contains("stopping container="),
        "cut short while still draining:\n{log}"
    );
    assert!(
        log.contains("error: stopped by a second SIGTERM/SIGINT") && log.contains("hint: "),
        "{log}"
    );
}

/// An image of the bench's PostgreSQL whose entrypoint fails at once, built on the engine.
struct BrokenImage(String);

impl BrokenImage {
    fn build() -> BrokenImage {
        let tag = format!("mbxt-broken-postgres:exits-{}", std::process::id());
        let dockerfile = format!(
            "FROM {}\nENTRYPOINT [\"sh\", \"-c\", \"echo boom-marker >&2; exit 3\"]\n",
            env("MATRIXBOX_TEST_PG_IMAGE")
        );
        let mut build = docker_command()
            .args(["build", "-q", "-t", &tag, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        build
            .stdin
            .take()
            .unwrap()
            .write_all(dockerfile.as_bytes())
            .unwrap();
        let out = build.wait_with_output().unwrap();
        assert_success(&out);
        BrokenImage(tag)
    }
}

impl Drop for BrokenImage {
    fn drop(&mut self) {
        docker(&["rmi", "-f", &self.0]);
    }
}

#[test]
fn postgres_exiting_at_start_is_reported_with_its_log_and_not_left_restarting() {
    let image = BrokenImage::build();
    let mbx = Instance::new();
    mbx.setup("");
    let config = read(&mbx.config_path()).replace(
        &format!("postgres: {}", env("MATRIXBOX_TEST_PG_IMAGE")),
        &format!("postgres: {}", image.0),
    );
    std::fs::write(mbx.config_path(), config).unwrap();

    let started = Instant::now();
    let out = mbx.run(&["run"]);
    println!("`run` failed after {:.1}s", started.elapsed().as_secs_f64());
    let err = stderr(&out);
    println!("{err}");
    assert!(!out.status.success(), "{}", describe(&out));
    for needle in [
        &format!("error: PostgreSQL ({})", mbx.objects.postgres()),
        "keeps exiting",
        "last log lines",
        "boom-marker",
        "hint: ",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("409"), "not Docker's raw error:\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "a crash loop is reported without waiting for the timeout"
    );
    let postgres = mbx.objects.postgres();
    let restarts = inspect(&postgres, "{{.RestartCount}}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        inspect(&postgres, "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {restarts}"),
        "the loop is stopped, not left restarting"
    );
    assert!(
        docker(&["inspect", &mbx.objects.synapse()]).status.code() != Some(0),
        "Synapse is not started without its database"
    );
}

/// A reconcile that keeps failing (a Synapse option it rejects, set by a reload) is retried
/// after a growing wait that the log and systemd's status line state; the crash loops it stops
/// itself do not trigger event repairs; fixing the option brings the stack back at once.
#[test]
fn a_failing_reconcile_backs_off_and_does_not_fight_its_own_stops() {
    let mbx = Instance::new();
    mbx.setup("");
    let good_config = read(&mbx.config_path());
    let mut daemon = mbx.spawn_run_notified();
    daemon.wait_notified("READY=1", 1, READY_WITHIN);

    mbx.append_config("synapse:\n  max_upload_size: lots\n");
    daemon.signal(Signal::SIGHUP);
    daemon.wait_log("(2 in a row; next attempt in 20s)", 1, READY_WITHIN);
    let log = daemon.log_text();
    assert!(log.contains("(1 in a row; next attempt in 10s)"), "{log}");
    assert!(
        log.contains("invalid literal for int() with base 10: 'lots'"),
        "{log}"
    );
    assert!(
        !log.contains("reconciling now"),
        "the crash loops matrixbox stopped itself trigger no repair:\n{log}"
    );
    assert!(
        daemon.notified_containing("failures in a row, next attempt in"),
        "systemd's status line says when the next attempt is"
    );

    std::fs::write(mbx.config_path(), good_config).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_notified("READY=1", 3, READY_WITHIN);
    daemon.wait_log("reconcile succeeded after", 1, Duration::from_secs(5));
    mbx.wait_healthy(&mut daemon, READY_WITHIN);
    daemon.stop();
}

/// The engine going away ends the event stream: the daemon reconnects with backoff, reconciles
/// (events may have been missed), and the next `docker kill` is again repaired on its event.
#[test]
fn the_event_stream_comes_back_after_the_engine_restarts() {
    let mbx = Instance::new();
    mbx.setup("");
    let relay = EngineRelay::start(mbx.dir.path());
    let mut daemon = mbx.spawn_run_on(&relay.docker_host());
    mbx.wait_healthy(&mut daemon, READY_WITHIN);

    relay.restart(Duration::from_secs(4));
    daemon.wait_log(
        "following the Docker engine's events again",
        1,
        Duration::from_secs(60),
    );
    daemon.wait_log("events may have been missed", 1, Duration::from_secs(30));
    let log = daemon.log_text();
    assert!(
        log.contains("lost the Docker engine's events")
            || log.contains("the Docker engine ended its event stream"),
        "{log}"
    );
    mbx.wait_healthy(&mut daemon, READY_WITHIN);
    // After the reconnect's reconcile.
    std::thread::sleep(Duration::from_secs(2));
    kill_and_time_recovery(&daemon, &mbx.objects.synapse(), 1);
    daemon.stop();
}
