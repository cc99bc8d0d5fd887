//! `matrixbox doctor` against the full running stack (edge, Pebble certificate, Synapse): it
//! passes every step; then a broken well-known, a certificate for the wrong name, and a stopped
//! Synapse each fail at their own step with their own fix.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pebble::{self, Options, Pebble};
use common::relay::EngineRelay;
use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const DOMAIN: &str = "matrix.example.com";
const SERVER_NAME: &str = "example.com";

/// A TLS server on loopback with a certificate for `example.com` only (from its own CA), that
/// answers every request with an HTML page: a wrong name for the domain, a broken well-known
/// for the server name. With `redirect_to`, it answers like a site whose apex redirects
/// everything: 301 to the same path on that host. Returns its port and its CA in PEM.
async fn impostor(redirect_to: Option<&'static str>) -> (u16, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![SERVER_NAME.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split(' ').nth(1).unwrap_or("/");
                let body = "<html>parked domain</html>";
                let response = match redirect_to {
                    Some(host) => format!(
                        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://{host}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    None => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                };
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca_cert.pem())
}

struct Doctor {
    out: std::process::Output,
    report: serde_json::Value,
}

impl Doctor {
    fn step(&self, id: &str) -> &serde_json::Value {
        self.report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no step {id}: {:#}", self.report))
    }

    fn first_failure(&self) -> &str {
        self.report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["status"] == "fail")
            .and_then(|s| s["id"].as_str())
            .unwrap_or("none")
    }
}

fn doctor(
    mbx: &Instance,
    dns: &str,
    ca: &std::path::Path,
    connect_to: &[String],
    json: bool,
) -> Doctor {
    let mut args = vec![
        "doctor".to_string(),
        "--ca-file".into(),
        ca.display().to_string(),
    ];
    for c in connect_to {
        args.extend(["--connect-to".to_string(), c.clone()]);
    }
    if json {
        args.push("--json".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Names resolve through Pebble's DNS (every A is 127.0.0.1, no SRV), never the host's.
    let out = mbx
        .cmd(&args)
        .env("MATRIXBOX_DNS_SERVER", dns)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .output()
        .unwrap();
    let report = if json {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("doctor --json printed no JSON: {}", describe(&out)))
    } else {
        serde_json::Value::Null
    };
    Doctor { out, report }
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_on_the_full_stack_and_names_each_broken_step() {
    let pebble = Pebble::start(Options::default());
    let mut mbx = Instance::new();
    mbx.http_port = pebble.http01_port;
    mbx.https_port = pebble.tls_port;
    assert_success(&mbx.run(&[
        "setup",
        "--domain",
        DOMAIN,
        "--server-name",
        SERVER_NAME,
        "--skip-preflight",
    ]));
    std::fs::write(
        mbx.config_path(),
        format!(
            "{}{}",
            pebble.config(&[DOMAIN, SERVER_NAME], "http-01"),
            mbx.bench_lines()
        ),
    )
    .unwrap();
    // Through a relay that the check with Synapse stopped cuts: the daemon brings a stopped
    // container back within seconds of the engine's event, which would undo the fault.
    let relay = EngineRelay::start(mbx.dir.path());
    let mut daemon = mbx.spawn_run_on(&relay.docker_host());
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let issued = pebble::wait_until_served(&pebble.tls_addr(), DOMAIN, &pebble.issuing_root).await;
    assert!(issued, "no certificate from Pebble:\n{}", daemon.log_text());

    let (impostor_port, impostor_ca) = impostor(None).await;
    let (redirector_port, redirector_ca) = impostor(Some(DOMAIN)).await;
    let ca = mbx.dir.path().join("roots.pem");
    std::fs::write(
        &ca,
        certificate_pem(pebble.issuing_root.as_ref()) + &impostor_ca + &redirector_ca,
    )
    .unwrap();
    let edge = |name: &str| format!("{name}:443:127.0.0.1:{}", mbx.https_port);
    let elsewhere = |name: &str| format!("{name}:443:127.0.0.1:{impostor_port}");
    let redirecting = |name: &str| format!("{name}:443:127.0.0.1:{redirector_port}");

    // Everything in place: every step passes (the disk may only warn).
    let ok = doctor(
        &mbx,
        &pebble.dns_addr,
        &ca,
        &[edge(SERVER_NAME), edge(DOMAIN)],
        false,
    );
    let text = String::from_utf8_lossy(&ok.out.stdout).into_owned();
    println!("{text}");
    assert_success(&ok.out);
    assert!(
        !text.contains("  fail  ") && !text.contains("  skip  "),
        "{text}"
    );
    let ok = doctor(
        &mbx,
        &pebble.dns_addr,
        &ca,
        &[edge(SERVER_NAME), edge(DOMAIN)],
        true,
    );
    assert_eq!(ok.report["healthy"], true, "{:#}", ok.report);
    for id in [
        "discovery",
        "well-known-server",
        "tls",
        "keys",
        "well-known-client",
        "client-versions",
        "element-x",
        "containers",
        "database",
        "certificate",
        "renewal",
    ] {
        assert_eq!(ok.step(id)["status"], "pass", "{id}: {:#}", ok.report);
    }
    assert!(
        ok.step("discovery")["evidence"]
            .as_str()
            .unwrap()
            .contains("example.com delegates to matrix.example.com:443"),
        "{:#}",
        ok.report
    );

    // The server name's site redirects everything to the domain, which serves the documents:
    // followed as Synapse follows it, and the evidence names where the document came from.
    let moved = doctor(
        &mbx,
        &pebble.dns_addr,
        &ca,
        &[redirecting(SERVER_NAME), edge(DOMAIN)],
        true,
    );
    assert_eq!(moved.report["healthy"], true, "{:#}", moved.report);
    for id in ["well-known-server", "well-known-client"] {
        let step = moved.step(id);
        assert_eq!(step["status"], "pass", "{step:#}");
        assert!(
            step["evidence"]
                .as_str()
                .unwrap()
                .contains("https://matrix.example.com/.well-known/matrix/"),
            "{step:#}"
        );
    }

    // The server name answered by something else: the well-known is not JSON.
    let broken = doctor(
        &mbx,
        &pebble.dns_addr,
        &ca,
        &[elsewhere(SERVER_NAME), edge(DOMAIN)],
        true,
    );
    assert!(!broken.out.status.success());
    assert_eq!(
        broken.first_failure(),
        "well-known-server",
        "{:#}",
        broken.report
    );
    let step = broken.step("well-known-server");
    assert!(
        step["evidence"]
            .as_str()
            .unwrap()
            .contains("not a JSON object"),
        "{step:#}"
    );
    assert!(
        step["remedy"].as_str().unwrap().contains(r#"{"m.server":"#),
        "{step:#}"
    );

    // The delegated host answered with a certificate for another name.
    let wrong = doctor(
        &mbx,
        &pebble.dns_addr,
        &ca,
        &[edge(SERVER_NAME), elsewhere(DOMAIN)],
        true,
    );
    assert!(!wrong.out.status.success());
    assert_eq!(wrong.first_failure(), "tls", "{:#}", wrong.report);
    let step = wrong.step("tls");
    assert!(
        step["evidence"]
            .as_str()
            .unwrap()
            .contains("is not valid for matrix.example.com (it names example.com)"),
        "{step:#}"
    );
    assert!(
        step["remedy"]
            .as_str()
            .unwrap()
            .contains("matrix.example.com must point to matrixbox"),
        "{step:#}"
    );
    assert_eq!(wrong.step("keys")["status"], "skip");

    // Synapse stopped: the edge still answers, the keys do not. The daemon is cut off from the
    // engine meanwhile, so it cannot start Synapse again (it would on the `die` event).
    let synapse = mbx.objects.synapse();
    relay.cut();
    docker_ok(&["stop", &synapse]);
    let down = doctor(
        &mbx,
        &pebble.dns_addr,
        &ca,
        &[edge(SERVER_NAME), edge(DOMAIN)],
        true,
    );
    assert_eq!(inspect(&synapse, "{{.State.Running}}"), "false");
    relay.restore();
    assert!(!down.out.status.success());
    assert_eq!(down.first_failure(), "keys", "{:#}", down.report);
    assert!(
        down.step("keys")["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("docker logs {synapse}")),
        "{:#}",
        down.report
    );
    assert_eq!(
        down.step("containers")["status"],
        "fail",
        "{:#}",
        down.report
    );
    daemon.stop();
}
