//! Hostile clients against the real edge on loopback (no Docker): each attack runs while a
//! normal client, from another address, keeps requesting `/_matrix/client/versions`, and must
//! still be answered; the attacker's connections must end within their timeouts and open
//! connections and file descriptors stay under the caps. Timeouts are shortened for the test.

#[path = "common/hostile.rs"]
mod hostile;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile::{ATTACKER, Harness, NAME, NORMAL, NormalClient, VERSIONS};
use matrixbox::proxy::ConnPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Slack for timers on a loaded 2-core machine (other helpers compile in parallel).
const SLACK: Duration = Duration::from_secs(3);
const EVERY: Duration = Duration::from_millis(100);

fn short_timeouts() -> ConnPolicy {
    ConnPolicy {
        first_request_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        http1_idle_timeout: Duration::from_secs(4),
        http2_idle_timeout: Duration::from_secs(2),
        close_grace: Duration::from_secs(1),
        ..ConnPolicy::default()
    }
}

async fn start(policy: ConnPolicy) -> Arc<Harness> {
    Arc::new(Harness::start(policy).await)
}

/// `after` lies between `timeout` and `timeout + grace + SLACK`.
fn closed_by(after: Duration, timeout: Duration, grace: Duration, what: &str) {
    assert!(
        after >= timeout.mul_f32(0.9) && after <= timeout + grace + SLACK,
        "{what} ended after {after:?}, expected by its timeout of {timeout:?} (+{grace:?} grace)"
    );
}

#[tokio::test]
async fn silent_and_preface_only_h2_connections_are_closed_by_the_first_request_timeout() {
    let policy = short_timeouts();
    let h = start(policy.clone()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let silent = (0..20).map(|_| async { hostile::silent_h2(&h, ATTACKER).await.unwrap() });
    let preface = (0..20).map(|_| async { hostile::preface_only(&h, ATTACKER).await.unwrap() });
    let (silent, preface) = tokio::join!(
        futures_util::future::join_all(silent),
        futures_util::future::join_all(preface)
    );
    for closed in &silent {
        closed_by(
            closed.after,
            policy.first_request_timeout,
            policy.close_grace,
            "a silent h2 connection",
        );
    }
    for closed in &preface {
        closed_by(
            closed.after,
            policy.first_request_timeout,
            policy.close_grace,
            "a preface-only h2 connection",
        );
        assert_eq!(closed.goaway, Some(0), "GOAWAY(NO_ERROR) first: {closed:?}");
    }
    normal
        .finish("silent and preface-only h2 connections")
        .await;
    assert_eq!(h.connections.open(), 0);
}

#[tokio::test]
async fn an_idle_h2_client_answering_pings_is_closed_by_the_idle_timeout() {
    let policy = short_timeouts();
    let h = start(policy.clone()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let pingers = (0..10).map(|_| hostile::idle_pinger(&h, ATTACKER, Duration::from_millis(200)));
    for pinged in futures_util::future::join_all(pingers).await {
        let pinged = pinged.unwrap();
        closed_by(
            pinged.idle_for,
            policy.http2_idle_timeout,
            policy.close_grace,
            "an idle h2 connection",
        );
        assert!(
            pinged.pongs >= 3,
            "its PINGs were answered while it idled: {pinged:?}"
        );
    }
    normal.finish("idle PING-answering h2 connections").await;
}

#[tokio::test]
async fn long_polls_outlive_the_idle_timeouts() {
    let policy = short_timeouts();
    let h = start(policy.clone()).await;
    // HTTP/2: a /sync open for longer than the idle timeout is answered, then the idle
    // connection closes by that timeout.
    let wait = policy.http2_idle_timeout * 2;
    let (status, answered, idle) = hostile::h2_long_poll(&h, ATTACKER, wait).await;
    assert_eq!(status, 200);
    assert!(answered >= wait, "{answered:?}");
    closed_by(
        idle,
        policy.http2_idle_timeout,
        policy.close_grace,
        "an h2 connection idle after a long-poll",
    );
    // HTTP/1.1: the same, against the keep-alive and header timeouts.
    let wait = policy.http1_idle_timeout + Duration::from_secs(1);
    let mut tls = h.tls(ATTACKER, b"http/1.1").await.unwrap();
    tls.write_all(
        format!(
            "GET {}?timeout={} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n",
            hostile::SYNC,
            wait.as_millis()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(started.elapsed() >= wait);
}

#[tokio::test]
async fn idle_tls_connections_from_one_address_stop_at_its_cap() {
    let policy = ConnPolicy {
        max_per_address: 100,
        first_request_timeout: Duration::from_secs(60),
        ..ConnPolicy::default()
    };
    let h = start(policy.clone()).await;
    let fds_before = hostile::open_fds();
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let (held, refused) = hostile::idle_tls_flood(&h, ATTACKER, 1000, 50).await;
    assert_eq!(held.len(), policy.max_per_address, "held {}", held.len());
    assert_eq!(refused, 1000 - policy.max_per_address);
    assert_eq!(h.connections.refused(), refused as u64);
    // The edge holds one fd per admitted connection, this process the client's end of each.
    let open = h.connections.open();
    assert!(open <= policy.max_per_address + 1, "{open} open");
    let fds = hostile::open_fds();
    assert!(
        fds <= fds_before + 2 * (policy.max_per_address + 1) + 64,
        "{fds} fds open (was {fds_before})"
    );
    // Another address is still served while the attacker holds its share.
    for _ in 0..5 {
        hostile::versions(&h, NORMAL).await.unwrap();
    }
    assert!(
        hostile::versions(&h, ATTACKER).await.is_err(),
        "the attacker's address is at its cap"
    );
    drop(held);
    normal
        .finish("1,000 idle TLS connections from one address")
        .await;
    let freed = Instant::now();
    while h.connections.open() > 0 && freed.elapsed() < SLACK {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.connections.open(), 0, "closed connections are uncounted");
    hostile::versions(&h, ATTACKER).await.unwrap();
}

#[tokio::test]
async fn rapid_reset_gets_goaway_and_the_normal_client_is_unaffected() {
    let h = start(short_timeouts()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let report = hostile::rapid_reset(
        &h,
        ATTACKER,
        50_000,
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;
    let latencies = normal.finish("rapid reset").await;
    assert!(
        report.resets >= 50_000,
        "the bounded loop ran out of time first: {report:?}"
    );
    assert_eq!(
        report.goaways, report.connections,
        "every attacking connection ended in GOAWAY: {report:?}"
    );
    eprintln!(
        "rapid reset: {report:?}; normal client: {} answers, slowest {:?}",
        latencies.len(),
        latencies.iter().max()
    );
}

#[tokio::test]
async fn resets_after_accept_exhaust_the_cancel_budget() {
    let policy = short_timeouts();
    let h = start(policy.clone()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let (resets, goaway) = hostile::reset_after_accept(&h, ATTACKER, 2_000)
        .await
        .unwrap();
    normal.finish("resets after accept").await;
    assert!(goaway, "GOAWAY after {resets} resets");
    // The budget, plus the streams sent before GOAWAY reached the attacker.
    let budget = policy.max_cancels as usize;
    assert!(
        resets > budget && resets < budget + 100,
        "GOAWAY after {resets} resets, budget {budget}"
    );
}

#[tokio::test]
async fn server_provoked_resets_get_goaway() {
    let h = start(short_timeouts()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let (closed, written) = hostile::made_you_reset(&h, ATTACKER, 5_000).await.unwrap();
    normal.finish("MadeYouReset").await;
    // ENHANCE_YOUR_CALM once the edge has reset 64 streams for the client's errors; a few
    // batches more were on their way.
    assert_eq!(
        closed.goaway,
        Some(0xb),
        "{closed:?} after {written} streams"
    );
    assert!(written < 500, "{closed:?} after {written} streams");
}

#[tokio::test]
async fn a_continuation_flood_is_refused() {
    let h = start(short_timeouts()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    for _ in 0..5 {
        let (closed, written) = hostile::continuation_flood(&h, ATTACKER, 10_000)
            .await
            .unwrap();
        // ENHANCE_YOUR_CALM (too many CONTINUATION frames, or a header list 4x over the limit)
        // or COMPRESSION_ERROR (a block past the limit that is no longer decoded).
        assert!(
            matches!(closed.goaway, Some(0xb) | Some(0x9)),
            "GOAWAY with ENHANCE_YOUR_CALM or COMPRESSION_ERROR: {closed:?} after {written} frames"
        );
        assert!(closed.after < SLACK * 2, "{closed:?}");
        assert!(written < 10_000, "the edge read the whole flood");
    }
    normal.finish("CONTINUATION floods").await;
}

#[tokio::test]
async fn http1_keep_alive_outlives_the_header_timeout_but_not_its_idle_timeout() {
    let policy = short_timeouts();
    let h = start(policy.clone()).await;
    let normal = NormalClient::start(&h, NORMAL, EVERY);
    let request = format!("GET {VERSIONS} HTTP/1.1\r\nHost: {NAME}\r\n\r\n");
    let mut tls = h.tls(ATTACKER, b"http/1.1").await.unwrap();
    async fn answer(tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&out).ends_with(r#"{"versions":["v1.11"]}"#) {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    tls.write_all(request.as_bytes()).await.unwrap();
    assert!(answer(&mut tls).await.starts_with("HTTP/1.1 200"));
    // Idle for well over the header timeout, under the idle timeout.
    tokio::time::sleep(policy.header_timeout * 2 + Duration::from_millis(500)).await;
    tls.write_all(request.as_bytes()).await.unwrap();
    assert!(answer(&mut tls).await.starts_with("HTTP/1.1 200"));
    // Then idle past the idle timeout: closed, with TLS close_notify (a clean end of stream).
    let idle = Instant::now();
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut rest)).await;
    assert!(matches!(end, Ok(Ok(0))), "{end:?} {rest:?}");
    closed_by(
        idle.elapsed(),
        policy.http1_idle_timeout,
        policy.close_grace,
        "an idle keep-alive connection",
    );

    // Slowloris still loses its connection by the header timeout, counted from its first byte.
    let mut slow = h.tls(ATTACKER, b"http/1.1").await.unwrap();
    tokio::time::sleep(policy.first_request_timeout / 2).await;
    let started = Instant::now();
    slow.write_all(format!("GET {VERSIONS} HTTP/1.1\r\n").as_bytes())
        .await
        .unwrap();
    for i in 0..100 {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
            Ok(_) => break,
            Err(_) => {
                if slow
                    .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    closed_by(
        started.elapsed(),
        policy.header_timeout,
        policy.close_grace,
        "slowloris",
    );
    normal.finish("HTTP/1.1 keep-alive and slowloris").await;
}

#[tokio::test]
async fn the_server_cipher_order_wins() {
    let h = start(ConnPolicy::default()).await;
    let mut provider = rustls::crypto::ring::default_provider();
    // A client that puts ChaCha20 first, then AES-256-GCM; the server's order (AES-128-GCM
    // first) must win.
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    let config = h.client_config_with(provider, &[b"http/1.1"]);
    let tls = h.tls_with(NORMAL, config).await.unwrap();
    assert_eq!(
        tls.get_ref().1.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
    );
}

/// Set in the child process of `accept_out_of_fds_backs_off_and_warns_rarely`.
const EMFILE_CHILD: &str = "MATRIXBOX_TEST_EMFILE_CHILD";

/// The edge in a child process with a tiny fd limit (and a connection cap above it, so `accept`
/// itself runs out), flooded with connections from this process: the accept loop backs off,
/// warns at most once per 10 s however long it lasts, and serves again once fds are free.
#[tokio::test]
async fn accept_out_of_fds_backs_off_and_warns_rarely() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return emfile_child().await;
    }
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "accept_out_of_fds_backs_off_and_warns_rarely",
            "--nocapture",
        ])
        .env(EMFILE_CHILD, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    let port: u16 = loop {
        let line = lines.next_line().await.unwrap().expect("the child's port");
        if let Some(port) = line.strip_prefix("port ") {
            break port.parse().unwrap();
        }
        log.push(line);
    };
    let flood: Vec<_> = futures_util::future::join_all(
        (0..100).map(|_| tokio::net::TcpStream::connect(("127.0.0.1", port))),
    )
    .await;
    // Out of fds for three seconds: a loop retrying at once would warn and burn CPU all along.
    let cpu_before = cpu_ticks(child.id().unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu = cpu_ticks(child.id().unwrap()) - cpu_before;
    drop(flood);
    stdin.write_all(b"released\n").await.unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        log.push(line);
    }
    let status = child.wait().await.unwrap();
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    assert!(log.contains("served after the flood"), "{log}");
    assert!(cpu < 50, "the child used {cpu} CPU ticks in 3 s out of fds");
    let warnings = log.matches("accept failed").count();
    assert!(
        warnings == 1 && log.contains("Too many open files"),
        "{warnings} warnings: {log}"
    );
}

/// User and system CPU time of process `pid`, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which ends with the last ')': utime and stime are the
    // 12th and 13th of them.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

async fn emfile_child() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    use tokio::io::{AsyncBufReadExt, BufReader};
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .init();
    let policy = ConnPolicy {
        max_connections: 10_000,
        max_per_address: 10_000,
        ..ConnPolicy::default()
    };
    let h = start(policy).await;
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(
        Resource::RLIMIT_NOFILE,
        hostile::open_fds() as u64 + 30,
        hard,
    )
    .unwrap();
    println!("port {}", h.https.port());
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    assert_eq!(
        stdin.next_line().await.unwrap().as_deref(),
        Some("released")
    );
    // The flood's sockets close as their handshakes fail. Only then does the normal client (in
    // this process, under the same fd limit) connect, so it takes no fd the edge needs to drain.
    let started = Instant::now();
    while h.connections.open() > 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    hostile::versions(&h, NORMAL).await.unwrap();
    println!("served after the flood");
}
