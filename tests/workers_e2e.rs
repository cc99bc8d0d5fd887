//! End-to-end: Synapse's workers behind the edge. With `workers:` listing every kind, `run` starts
//! Redis and six workers beside the main process; two real clients chat encrypted, `/sync` is
//! answered by the sync worker (its access log has the requests, the main process's has none),
//! media goes through the media worker, a killed or removed worker is brought back by the daemon,
//! `status` lists them, turning them off on reload removes them (the main process serves all
//! again), and `down --remove` takes them away. Real engine, real images.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// Seven Synapse processes start on a machine other tests share.
const HEALTHY_WITHIN: Duration = Duration::from_secs(480);
const SERVER: &str = "matrix.test.internal";
/// Every client command logs in again; Synapse's default would refuse the test's pace.
const LOGIN_RATE: &str = "synapse:\n  rc_login:\n    address:\n      per_second: 100\n      burst_count: 200\n    account:\n      per_second: 100\n      burst_count: 200\n";
const KINDS: [&str; 6] = [
    "sync",
    "client_reader",
    "federation_inbound",
    "federation_sender",
    "media",
    "event_persister",
];

fn image(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

fn worker(mbx: &Instance, kind: &str) -> String {
    format!("{}-synapse-{}", mbx.objects.name, kind.replace('_', "-"))
}

/// Everything the container wrote (Synapse logs to stderr).
fn logs(container: &str) -> String {
    let out = docker(&["logs", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Access-log lines of client `/sync` requests a Synapse process answered.
fn sync_requests(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Processed request") && l.contains("/sync"))
        .filter(|l| l.contains("/_matrix/client/v3/sync") || l.contains("/_matrix/client/r0/sync"))
        .count()
}

/// Waits up to five minutes for `done`, failing with the daemon's log.
fn wait_until(daemon: &Daemon, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 300 s:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn client_ok(mbx: &Instance, args: &[&str]) -> String {
    let out = mbx.client(args);
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn e2e(mbx: &Instance, command: &str, store: &Path, user: &str, rest: &[&str]) {
    let password = format!("{user} password");
    let mut args = vec![
        command,
        "--store",
        store.to_str().unwrap(),
        "--user",
        user,
        "--password",
        &password,
        "--room-alias-localpart",
        "secrets",
    ];
    args.extend_from_slice(rest);
    client_ok(mbx, &args);
}

fn add_user(mbx: &Instance, name: &str) {
    let out = mbx.run_with_stdin(
        &["user", "add", name, "--password-stdin"],
        &format!("{name} password\n"),
    );
    assert_success(&out);
}

fn last_json(text: &str, field: &str) -> String {
    let line = text.lines().last().unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{text}"));
    value[field].as_str().unwrap().to_string()
}

#[test]
fn workers_serve_the_chat_and_a_killed_one_comes_back() {
    let mbx = Instance::new();
    mbx.setup(LOGIN_RATE);
    // The bench's Synapse with Redis's client libraries, and Redis from Debian.
    let synapse = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let workers_image = image(
        "MATRIXBOX_TEST_SYNAPSE_WORKERS_IMAGE",
        "matrixbox-test/synapse:1.163.2-redis",
    );
    let redis_image = image("MATRIXBOX_TEST_REDIS_IMAGE", "matrixbox-test/redis:7.0");
    let config = read(&mbx.config_path()).replace(
        &format!("  synapse: {synapse}\n"),
        &format!("  synapse: {workers_image}\n  redis: {redis_image}\n"),
    );
    std::fs::write(mbx.config_path(), config).unwrap();
    mbx.append_config(&format!("workers: [{}]\n", KINDS.join(", ")));

    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);

    // `status` lists the workers and their containers, all running.
    let status = mbx.status_json();
    assert_eq!(status["workers"], serde_json::json!(KINDS), "{status:#}");
    let containers = status["containers"].as_array().unwrap();
    let redis = format!("{}-redis", mbx.objects.name);
    for name in KINDS.iter().map(|k| worker(&mbx, k)).chain([redis.clone()]) {
        let c = containers
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not in status: {status:#}"));
        assert_eq!(c["observed"]["running"], true, "{name}: {c:#}");
        assert_eq!(c["up_to_date"], true, "{name}: {c:#}");
    }
    let text = mbx.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(
            "sync, client_reader, federation_inbound, federation_sender, media, event_persister: the edge sends their requests to their sockets"
        ),
        "{}",
        describe(&text)
    );
    // Redis: no port, its own user in Synapse's group; the workers: Synapse's user, no port.
    let ports = "{{json .NetworkSettings.Ports}}";
    assert_eq!(inspect(&redis, "{{.Config.User}}"), "6379:991");
    assert!(matches!(inspect(&redis, ports).as_str(), "{}" | "null"));
    for kind in KINDS {
        assert_eq!(inspect(&worker(&mbx, kind), "{{.Config.User}}"), "991:991");
    }
    let homeserver = read(&mbx.state_dir().join("synapse-config/homeserver.yaml"));
    assert!(
        homeserver.contains("path: /run/matrixbox-redis/redis.sock")
            && homeserver.contains("stream_writers")
            && homeserver.contains("worker-event_persister.sock"),
        "{homeserver}"
    );

    // Two real clients chat encrypted; events are written by the event persister.
    add_user(&mbx, "alice");
    add_user(&mbx, "bob");
    let (alice, bob) = (
        mbx.dir.path().join("alice-e2e"),
        mbx.dir.path().join("bob-e2e"),
    );
    let bob_id = format!("@bob:{SERVER}");
    e2e(&mbx, "e2e-create", &alice, "alice", &["--invite", &bob_id]);
    e2e(&mbx, "e2e-join", &bob, "bob", &[]);
    e2e(
        &mbx,
        "e2e-send",
        &alice,
        "alice",
        &["--message", "through the workers"],
    );
    e2e(
        &mbx,
        "e2e-read",
        &bob,
        "bob",
        &["--expect", "through the workers"],
    );

    // Media through the media worker, byte for byte.
    let file = mbx.dir.path().join("image.png");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let uploaded = client_ok(
        &mbx,
        &[
            "upload",
            "--user",
            "alice",
            "--password",
            "alice password",
            "--file",
            file.to_str().unwrap(),
            "--content-type",
            "image/png",
        ],
    );
    let mxc = last_json(&uploaded, "mxc");
    let back = mbx.dir.path().join("back.png");
    client_ok(
        &mbx,
        &[
            "download",
            "--user",
            "bob",
            "--password",
            "bob password",
            "--mxc",
            &mxc,
            "--output",
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&back).unwrap(), bytes);
    let media_log = logs(&worker(&mbx, "media"));
    assert!(
        media_log.contains("/upload"),
        "the media worker stored it:\n{media_log}"
    );

    // /sync went to the sync worker, never to the main process.
    let sync_worker = worker(&mbx, "sync");
    let answered = sync_requests(&logs(&sync_worker));
    assert!(
        answered > 0,
        "the sync worker answered no /sync:\n{}",
        logs(&sync_worker)
    );
    let main_log = logs(&mbx.objects.synapse());
    assert_eq!(
        sync_requests(&main_log),
        0,
        "the main process answered /sync:\n{main_log}"
    );
    assert!(
        logs(&worker(&mbx, "event_persister")).contains("Processed request"),
        "the event persister was asked to persist over replication"
    );

    // A killed worker is noticed by the daemon and started again; chat goes on through it.
    let started = inspect(&sync_worker, "{{.State.StartedAt}}");
    docker_ok(&["kill", &sync_worker]);
    daemon.wait_log("recovered:", 1, Duration::from_secs(300));
    let log = daemon.log_text();
    assert!(
        log.contains(&format!(
            "(engine event: {sync_worker} die with status 137): reconciling now"
        )),
        "the engine's event triggered the repair:\n{log}"
    );
    assert_eq!(inspect(&sync_worker, "{{.State.Running}}"), "true");
    assert_ne!(inspect(&sync_worker, "{{.State.StartedAt}}"), started);
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    e2e(
        &mbx,
        "e2e-send",
        &alice,
        "alice",
        &["--message", "after the kill"],
    );
    e2e(
        &mbx,
        "e2e-read",
        &bob,
        "bob",
        &["--expect", "after the kill"],
    );
    assert!(
        sync_requests(&logs(&sync_worker)) > answered,
        "the restarted sync worker answers /sync again"
    );

    // A worker's container removed under the daemon is made again.
    let reader = worker(&mbx, "client_reader");
    docker_ok(&["rm", "-f", &reader]);
    daemon.wait_log("recovered:", 2, Duration::from_secs(300));
    let log = daemon.log_text();
    assert!(
        log.contains(&format!("{reader} is missing"))
            || log.contains(&format!("{reader} is not running")),
        "the removal was noticed:\n{log}"
    );
    assert_eq!(inspect(&reader, "{{.State.Running}}"), "true");

    // Workers turned off on reload: their containers and Redis go, the main process serves all.
    let config = read(&mbx.config_path()).replace(
        &format!("workers: [{}]\n", KINDS.join(", ")),
        "workers: off\n",
    );
    std::fs::write(mbx.config_path(), config).unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_log("configuration reloaded", 1, Duration::from_secs(300));
    for name in KINDS.iter().map(|k| worker(&mbx, k)).chain([redis.clone()]) {
        wait_until(&daemon, &format!("{name} is removed"), || {
            !docker(&["inspect", &name]).status.success()
        });
    }
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    assert_eq!(mbx.status_json()["workers"], serde_json::json!([]));
    e2e(
        &mbx,
        "e2e-read",
        &bob,
        "bob",
        &["--expect", "after the kill"],
    );
    assert!(
        sync_requests(&logs(&mbx.objects.synapse())) > 0,
        "the main process answers /sync again"
    );

    // On again: the daemon stops the workers and Redis with the rest; `down --remove` takes
    // them away.
    let config = read(&mbx.config_path()).replace(
        "workers: off\n",
        &format!("workers: [{}]\n", KINDS.join(", ")),
    );
    std::fs::write(mbx.config_path(), config).unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_log("configuration reloaded", 2, Duration::from_secs(300));
    let event_persister = worker(&mbx, "event_persister");
    wait_until(&daemon, "the workers are back", || {
        docker(&["inspect", &event_persister]).status.success()
    });
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    e2e(
        &mbx,
        "e2e-read",
        &bob,
        "bob",
        &["--expect", "after the kill"],
    );
    daemon.stop();
    for kind in KINDS {
        assert_eq!(
            inspect(&worker(&mbx, kind), "{{.State.Running}}"),
            "false",
            "{kind}"
        );
    }
    assert_eq!(inspect(&redis, "{{.State.Running}}"), "false");
    assert_success(&mbx.run(&["down", "--remove"]));
    for name in KINDS.iter().map(|k| worker(&mbx, k)).chain([redis]) {
        assert!(
            !docker(&["inspect", &name]).status.success(),
            "{name} remains"
        );
    }
}
