//! The whole product as users run it: `matrixbox run` with the edge in front of Synapse and
//! certificates from a real CA (Pebble) or the internal CA; a real Matrix client talks to it
//! over TLS with certificate verification on.

mod common;

use std::time::Duration;

use common::pebble::{Options, Pebble};
use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread")]
async fn pebble_certificate_and_a_real_client_through_the_edge() {
    let pebble = Pebble::start(Options::default());
    let name = "matrix.example.com";
    let (mbx, daemon, ca) = instance_with_pebble(&pebble, name, HEALTHY_WITHIN).await;
    let (code, body) = curl(&ca, name, mbx.https_port, "/_matrix/client/versions");
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"versions\""), "{body}");
    let (code, body) = curl(&ca, name, mbx.https_port, "/.well-known/matrix/server");
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200", r#"{"m.server":"matrix.example.com:443"}"#)
    );

    let created = mbx.run_with_stdin(
        &["user", "add", "carol", "--password-stdin"],
        "tls all the way down\n",
    );
    assert_success(&created);
    let base_url = format!("https://{name}:{}", mbx.https_port);
    let resolve = format!("{name}:127.0.0.1");
    let client = |args: &[&str]| {
        std::process::Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
            .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
            .args(args)
            .args(["--base-url", &base_url, "--ca-file"])
            .arg(&ca)
            .args(["--resolve", &resolve])
            .output()
            .unwrap()
    };
    let common = [
        "--user",
        "carol",
        "--password",
        "tls all the way down",
        "--room-alias-localpart",
        "edge",
    ];
    let sent = client(&[&["send"][..], &common, &["--message", "over the edge"]].concat());
    assert_success(&sent);
    let read_back = client(&[&["read"][..], &common, &["--expect", "over the edge"]].concat());
    assert_success(&read_back);

    let status = mbx.status_json();
    let cert = &status["certificates"][0];
    assert!(
        cert["issuer"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("pebble"),
        "{status:#}"
    );
    assert!(cert["not_after"].is_string(), "{status:#}");
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn localhost_is_served_from_the_internal_ca_without_other_configuration() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "localhost", "--skip-preflight"]));
    // Only what the bench needs (its images and free ports); nothing about certificates.
    mbx.append_config(&mbx.bench_lines());
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let status = mbx.status_json();
    let root = status["certificates"][0]["trust_root"]
        .as_str()
        .unwrap_or_else(|| panic!("{status:#}"))
        .to_string();
    let (code, body) = curl(
        std::path::Path::new(&root),
        "localhost",
        mbx.https_port,
        "/_matrix/client/versions",
    );
    assert_eq!(code, "200", "{body}");
    let (code, body) = curl(
        std::path::Path::new(&root),
        "localhost",
        mbx.https_port,
        "/",
    );
    assert_eq!(code, "200");
    assert!(body.contains("https://localhost"), "{body}");
    daemon.stop();
}
