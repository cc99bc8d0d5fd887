//! The metrics listener on a running installation: scraped while a real Matrix client sends
//! through the edge, the edge's counters move, the certificate's days left and the reconciles
//! are there, Synapse's own metrics are relayed; a peer outside `admin_allow` gets nothing.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const PASSWORD: &str = "metrics all the way";

/// `curl` on the metrics listener: (HTTP code, body); `None` when no HTTP answer came at all.
fn scrape_from(interface: &str, port: u16, path: &str) -> Option<(String, String)> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--interface", interface])
        .args(["-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    Some((code.to_string(), body.to_string()))
}

fn scrape(port: u16, path: &str) -> String {
    let (code, body) = scrape_from("127.0.0.1", port, path)
        .unwrap_or_else(|| panic!("no answer to {path} from an allowed address"));
    assert_eq!(code, "200", "{path}: {body}");
    body
}

/// The value of the series written exactly as `series` (name and labels), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn requests(text: &str, route: &str, status: &str) -> f64 {
    value(
        text,
        &format!("matrixbox_edge_requests_total{{route=\"{route}\",status=\"{status}\"}}"),
    )
}

#[test]
fn scraped_while_a_client_sends_and_refused_from_elsewhere() {
    let mbx = Instance::new();
    let metrics_port = free_port();
    assert_success(&mbx.run(&[
        "setup",
        "--domain",
        "localhost",
        "--skip-preflight",
        "--no-start",
    ]));
    mbx.append_config(&format!(
        "{}  metrics: 127.0.0.1:{metrics_port}\nadmin_allow: [127.0.0.1/32]\nsynapse:\n  rc_message:\n    per_second: 100\n    burst_count: 200\n",
        mbx.bench_lines()
    ));
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let status = mbx.status_json();
    let root = status["certificates"][0]["trust_root"]
        .as_str()
        .unwrap_or_else(|| panic!("{status:#}"))
        .to_string();
    let before = scrape(metrics_port, "/metrics");

    // Traffic through the edge: plain requests, then a real client sending throughout.
    for _ in 0..10 {
        let (code, _) = curl(
            Path::new(&root),
            "localhost",
            mbx.https_port,
            "/_matrix/client/versions",
        );
        assert_eq!(code, "200");
    }
    let (code, _) = curl(
        Path::new(&root),
        "localhost",
        mbx.https_port,
        "/_synapse/metrics",
    );
    assert_eq!(
        code, "404",
        "the public edge never serves Synapse's metrics"
    );
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "dora", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    ));
    let stop = mbx.dir.path().join("stop-sending");
    let mut sender = Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
        .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
        .args(["send-until", "--user", "dora", "--password", PASSWORD])
        .args(["--room-alias-localpart", "metrics", "--interval", "0.2"])
        .args(["--max-seconds", "120", "--timeout", "240"])
        .arg("--stop-file")
        .arg(&stop)
        .args([
            "--base-url",
            &format!("https://localhost:{}", mbx.https_port),
        ])
        .args(["--ca-file", &root, "--resolve", "localhost:127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(sender.stdout.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(
        line.contains("sending_to"),
        "the client is not sending: {line}"
    );

    // Scraped while the client sends: the sends show up between two scrapes.
    let first = scrape(metrics_port, "/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    let during = loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = scrape(metrics_port, "/metrics");
        if requests(&now, "client_send", "2xx") >= requests(&first, "client_send", "2xx") + 3.0 {
            break now;
        }
        assert!(Instant::now() < deadline, "sends did not show:\n{now}");
    };
    let synapse = scrape(metrics_port, "/synapse");
    std::fs::write(&stop, "").unwrap();
    let mut rest = String::new();
    said.read_to_string(&mut rest).unwrap();
    let sent = sender.wait_with_output().unwrap();
    assert!(
        sent.status.success(),
        "{rest}\n{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(rest.contains("\"missing\": []"), "{rest}");

    assert!(
        requests(&during, "client", "2xx") >= requests(&before, "client", "2xx") + 10.0,
        "the versions requests and the client's logins count:\n{during}"
    );
    assert!(
        requests(&during, "other", "4xx") >= 1.0,
        "the refused /_synapse/metrics:\n{during}"
    );
    assert!(
        value(
            &during,
            "matrixbox_edge_request_duration_seconds_count{route=\"client_send\"}"
        ) >= 3.0,
        "{during}"
    );
    let days = value(
        &during,
        "matrixbox_certificate_days_left{name=\"localhost\"}",
    );
    assert!(
        days > 1.0,
        "the internal CA's certificate has days left:\n{during}"
    );
    assert!(
        value(
            &during,
            "matrixbox_edge_open_connections{protocol=\"https_http1\"}"
        ) + value(
            &during,
            "matrixbox_edge_open_connections{protocol=\"https_h2\"}"
        ) >= 1.0,
        "the sending client's connection is open:\n{during}"
    );
    assert!(
        value(&during, "matrixbox_upstream_connections_max{pool=\"main\"}") >= 1.0,
        "{during}"
    );
    // A reload reconciles: the result is counted.
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = scrape(metrics_port, "/metrics");
        if value(&now, "matrixbox_reconcile_total{result=\"ok\"}") >= 1.0 {
            assert!(
                now.contains("matrixbox_reconcile_failures_in_a_row 0"),
                "{now}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no reconcile counted:\n{now}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Synapse's own metrics, relayed from its internal listener.
    assert!(
        synapse.contains("synapse_http_server_requests_received"),
        "{synapse}"
    );
    assert!(synapse.contains("process_cpu_seconds_total"), "{synapse}");

    // Not in admin_allow: the connection is reset before anything is read or said.
    assert_eq!(scrape_from("127.0.0.2", metrics_port, "/metrics"), None);
    // The reset may even come before the connect is seen to finish: that is nothing, too.
    match connect_from(
        "127.0.0.2",
        SocketAddr::from(([127, 0, 0, 1], metrics_port)),
    ) {
        Ok(mut stream) => {
            let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    daemon.wait_log(
        "metrics: refused a connection from 127.0.0.2",
        1,
        Duration::from_secs(10),
    );
    daemon.stop();
}

/// A plain TCP connection from the address `local` (std cannot bind before connecting).
fn connect_from(local: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
        socket.connect(to).await?.into_std()
    })?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}
