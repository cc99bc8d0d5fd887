//! End-to-end with a real browser: headless Chromium (Debian's, driven by selenium with the
//! driver's path given) opens an invite link served by the edge over TLS, signs up with the page's
//! own script, and the new account then exchanges messages with another user through a real
//! Matrix client. Screenshots of the onboarding, invite and expired-invite pages in both
//! languages are kept in target/tmp/browser-screenshots/.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

fn browser_python() -> String {
    std::env::var("MATRIXBOX_TEST_BROWSER_PY")
        .unwrap_or_else(|_| "/var/tmp/matrixbox-bench/browser-venv/bin/python".into())
}

#[test]
fn chromium_signs_up_through_the_invite_page() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "localhost", "--skip-preflight"]));
    // The browser may load a page again after a network change (see signup.py); each load
    // asks Synapse about the token.
    mbx.append_config(&format!(
        "{}synapse:\n  rc_registration_token_validity: {{per_second: 50, burst_count: 200}}\n",
        mbx.bench_lines()
    ));
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let status = mbx.status_json();
    let ca = PathBuf::from(status["certificates"][0]["trust_root"].as_str().unwrap());

    let created = mbx.run(&["invite", "create"]);
    assert_success(&created);
    let stdout = String::from_utf8_lossy(&created.stdout).into_owned();
    let link = "https://localhost/invite/";
    let token = stdout[stdout.find(link).unwrap() + link.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    // An invite that expires in a second: made with the admin API as matrixbox's service account
    // (`invite create` accepts nothing that short).
    let admin_token =
        std::fs::read_to_string(mbx.state_dir().join("secrets/admin_access_token")).unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let body = format!(r#"{{"uses_allowed": 1, "expiry_time": {}}}"#, now_ms + 1000);
    // Through the edge, from loopback (in the default admin_allow).
    let out = Command::new("curl")
        .args(["-sS", "-f", "--cacert"])
        .arg(&ca)
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", admin_token.trim()))
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
        ])
        .arg(format!(
            "https://localhost:{}/_synapse/admin/v1/registration_tokens/new",
            mbx.https_port
        ))
        .output()
        .unwrap();
    assert_success(&out);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expired = answer["token"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(2));

    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    let base = format!("https://localhost:{}", mbx.https_port);
    let signup = Command::new(browser_python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/signup.py"))
        // `=`: a token may begin with `-`.
        .arg(format!("--base={base}"))
        .arg(format!("--token={token}"))
        .arg(format!("--expired-token={expired}"))
        .args(["--user", "fiona", "--password", "fiona's long password"])
        .arg("--screenshots")
        .arg(&screenshots)
        .output()
        .unwrap();
    assert!(
        signup.status.success(),
        "{}\nthe daemon's log:\n{}",
        describe(&signup),
        daemon.log_text()
    );
    let done: serde_json::Value = serde_json::from_slice(&signup.stdout).unwrap();
    assert_eq!(done["user_id"], "@fiona:localhost");
    for page in [
        "onboarding.en",
        "onboarding.zh_CN",
        "invite.en",
        "invite.zh_CN",
        "invite-expired.en",
        "invite-expired.zh_CN",
        "invite-done.en",
    ] {
        let shot = screenshots.join(format!("{page}.png"));
        assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "{page}");
    }

    // The account the browser made talks with another one in an encrypted room, both ways (the
    // client verifies the edge's certificate against the internal CA).
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "gus", "--password-stdin"],
        "gus's long password\n",
    ));
    // Each user's device keeps its session and keys in a store of its own, so the encrypted
    // room's messages are decrypted by the device that received the room keys.
    let stores = tempfile::tempdir().unwrap();
    let client = |user: &str, password: &str, args: &[&str]| {
        Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
            .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
            .args(args)
            .args(["--user", user, "--password", password])
            .arg("--store")
            .arg(stores.path().join(user))
            .args([
                "--room-alias-localpart",
                "secret-lobby",
                "--base-url",
                &base,
                "--ca-file",
            ])
            .arg(&ca)
            .output()
            .unwrap()
    };
    let fiona = ("fiona", "fiona's long password");
    let gus = ("gus", "gus's long password");
    let gus_id = "@gus:localhost";
    assert_success(&client(
        fiona.0,
        fiona.1,
        &["e2e-create", "--invite", gus_id],
    ));
    assert_success(&client(gus.0, gus.1, &["e2e-join"]));
    assert_success(&client(
        fiona.0,
        fiona.1,
        &["e2e-send", "--message", "signed up in a browser"],
    ));
    assert_success(&client(
        gus.0,
        gus.1,
        &["e2e-read", "--expect", "signed up in a browser"],
    ));
    assert_success(&client(
        gus.0,
        gus.1,
        &["e2e-send", "--message", "welcome fiona"],
    ));
    assert_success(&client(
        fiona.0,
        fiona.1,
        &["e2e-read", "--expect", "welcome fiona"],
    ));
    daemon.stop();
}
