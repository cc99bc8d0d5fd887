//! `testssl.sh` (Debian's package) against `matrixbox run` serving a certificate from a real ACME
//! CA (Pebble) in front of a loopback upstream: no finding of severity MEDIUM or above, except
//! those a test CA implies (listed below, each with its reason). Needs no Docker engine.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pebble::{self, Options, Pebble};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const NAME: &str = "matrix.example.com";

/// The whole scan; it took 28-52 s on 2 cores, the slower while a release build ran.
const SCAN_WITHIN: Duration = Duration::from_secs(300);

/// Findings of MEDIUM or above that come from Pebble being a test CA, not from the edge:
/// (testssl id, reason). An id matches itself and its per-certificate variants (`id <cert#1>`).
const INHERENT_TO_A_TEST_CA: &[(&str, &str)] = &[(
    "cert_revocation",
    "Pebble's certificates carry neither a CRL nor an OCSP URL (the test runs no OCSP \
     responder); a public CA puts one in every certificate",
)];

/// testssl's `WARN`s about itself rather than the server: (testssl id, reason). Any other
/// `WARN` (a check that could not run) and any `FATAL` fail the test, so an incomplete scan
/// never passes.
const SCANNER_SIDE: &[(&str, &str)] = &[
    (
        "engine_problem",
        "Debian's OpenSSL has no GOST engine: the scanner cannot offer GOST ciphers",
    ),
    (
        "sessionresumption_ticket",
        "testssl 3.0 reads the TLS 1.3 session ticket only if it arrives before `openssl \
         s_client` quits; resumption by ticket works by hand (`s_client -sess_out`, then \
         `-sess_in`: `Reused` on TLS 1.3 and 1.2)",
    ),
];

/// Severities that fail the test unless allowed above.
const FAILING: &[&str] = &["MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"];
/// Severities printed in the test's output.
const SHOWN: &[&str] = &["LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"];

/// One finding of each check group asked for, so a group that silently did not run fails.
const EXPECTED: &[&str] = &[
    "TLS1_3",
    "cipherlist_STRONG",
    "PFS",
    "cipher_order",
    "cert_chain_of_trust",
    "HTTP_status_code",
    "heartbleed",
];

#[derive(Debug, serde::Deserialize)]
struct Finding {
    id: String,
    severity: String,
    finding: String,
}

/// Synapse's client API as far as the scan needs it: `/_matrix/client/versions`.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut response = hyper::Response::new(Full::new(Bytes::from_static(
                        br#"{"versions":["v1.11"]}"#,
                    )));
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// A background process (with its own process group), killed with its children when dropped.
struct Background(Child);

impl Background {
    fn spawn(cmd: &mut Command, hint: &str) -> Background {
        Background(cmd.process_group(0).spawn().unwrap_or_else(|e| {
            panic!("cannot start {:?}: {e}; {hint}", cmd.get_program());
        }))
    }

    /// Waits for the exit, killing the group after `timeout`; `None` if it had to be killed.
    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kill(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// Why a failing finding is allowed, if it is.
fn allowed(f: &Finding) -> Option<&'static str> {
    // Per-certificate findings are suffixed ` <cert#1>` when a server has several keys.
    let base = f.id.split(" <").next().unwrap_or(&f.id);
    let list = if f.severity == "WARN" {
        SCANNER_SIDE
    } else {
        INHERENT_TO_A_TEST_CA
    };
    list.iter()
        .find(|(id, _)| *id == base)
        .map(|(_, reason)| *reason)
}

#[tokio::test(flavor = "multi_thread")]
async fn testssl_finds_nothing_medium_or_above_but_what_a_test_ca_implies() {
    let pebble = Pebble::start(Options::default());
    let upstream = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("matrixbox.yaml");
    // The edge itself answers Pebble's HTTP-01 challenge on Pebble's HTTP port and serves TLS
    // on its TLS port (challtestsrv resolves every name to 127.0.0.1).
    std::fs::write(
        &config,
        format!(
            "{}upstream: http://{upstream}\nlisten:\n  http: 127.0.0.1:{}\n  https: 127.0.0.1:{}\n",
            pebble.config(&[NAME], "http-01"),
            pebble.http01_port,
            pebble.tls_port,
        ),
    )
    .unwrap();
    let daemon_log = dir.path().join("run.log");
    let log_file = std::fs::File::create(&daemon_log).unwrap();
    let _daemon = Background::spawn(
        Command::new(env!("CARGO_BIN_EXE_matrixbox"))
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            // Preflight checks the host for a Docker homeserver; this one has an upstream.
            .args(["run", "--skip-preflight"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file),
        "cargo builds it for integration tests",
    );
    assert!(
        pebble::wait_until_served(&pebble.tls_addr(), NAME, &pebble.issuing_root).await,
        "the edge never served a certificate from Pebble:\n{}",
        read_log(&daemon_log)
    );

    let root = dir.path().join("pebble-root.pem");
    std::fs::write(&root, common::certificate_pem(pebble.issuing_root.as_ref())).unwrap();
    let json = dir.path().join("testssl.json");
    let scan_log = dir.path().join("testssl.log");
    let scan_file = std::fs::File::create(&scan_log).unwrap();
    let started = Instant::now();
    let mut scan = Background::spawn(
        Command::new("testssl")
            .args(["--quiet", "--warnings", "off", "--color", "0"])
            // Only loopback: the name is not resolved (`--ip`, `--nodns none`), no CRL or OCSP
            // fetches (no `--phone-out`), and testssl's probes of its own OpenSSL connect to a
            // closed loopback port instead of looking up `invalid.` in DNS.
            .args(["--ip", "127.0.0.1", "--nodns", "none"])
            .env("NXCONNECT", "127.0.0.1:0")
            .args(["--connect-timeout", "10", "--openssl-timeout", "10"])
            .arg("--add-ca")
            .arg(&root)
            .arg("--jsonfile")
            .arg(&json)
            // Protocols, cipher categories, forward secrecy, server preferences, certificate,
            // vulnerabilities, HTTP headers; not client simulation nor each cipher.
            .args(["-p", "-s", "-f", "-P", "-S", "-U", "-h"])
            .arg(format!("https://{NAME}:{}/", pebble.tls_port))
            .stdin(Stdio::null())
            .stdout(scan_file.try_clone().unwrap())
            .stderr(scan_file),
        "install Debian's testssl.sh (tests/testbed/up.sh does)",
    );
    let status = scan.wait(SCAN_WITHIN);
    let took = started.elapsed();
    let Some(status) = status else {
        panic!(
            "testssl did not finish within {SCAN_WITHIN:?} (killed):\n{}",
            read_log(&scan_log)
        );
    };
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "testssl ({status}) wrote no JSON to {}: {e}; its output:\n{}",
            json.display(),
            read_log(&scan_log)
        )
    });
    let findings: Vec<Finding> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("testssl's JSON does not parse: {e}:\n{text}"));
    let missing: Vec<&str> = EXPECTED
        .iter()
        .filter(|id| !findings.iter().any(|f| f.id == **id))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "testssl ({status}) reported no {missing:?}, so a check group did not run; its \
         output:\n{}",
        read_log(&scan_log)
    );

    eprintln!(
        "testssl: {} findings in {took:.0?}; those of LOW and above:",
        findings.len()
    );
    let mut failing = Vec::new();
    for f in findings
        .iter()
        .filter(|f| SHOWN.contains(&f.severity.as_str()))
    {
        let verdict = match (FAILING.contains(&f.severity.as_str()), allowed(f)) {
            (false, _) => "",
            (true, Some(reason)) => {
                eprintln!("  allowed ({reason}):");
                ""
            }
            (true, None) => {
                failing.push(f);
                "  <- fails"
            }
        };
        eprintln!("{} {} {}{verdict}", f.id, f.severity, f.finding);
    }
    assert!(
        failing.is_empty(),
        "testssl found {} problem(s) of MEDIUM or above:\n{}\nhint: fix the edge (src/tls.rs, \
         src/proxy); allow a finding above only if a test CA or the scanner causes it, with why",
        failing.len(),
        failing
            .iter()
            .map(|f| format!("  {} {} {}", f.id, f.severity, f.finding))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
