//! A listener whose socket is closed under the daemon (`ss -K`, as an operator or the kernel can)
//! is not left dead while the rest carries on: the edge process that holds it exits at once with
//! the reason, and the daemon with it, so that systemd starts it again with its listeners bound
//! afresh. The edge alone (`upstream:`), real
//! sockets, the real `ss`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn log_of(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_listener_closed_under_the_daemon_ends_it_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (http, https) = (free_port(), free_port());
    // An upstream address is all the edge needs to start; nothing here sends it a request.
    let config = dir.path().join("matrixbox.yaml");
    std::fs::write(
        &config,
        format!(
            "domain: localhost\nupstream: http://127.0.0.1:9\nlisten:\n  http: 127.0.0.1:{http}\n  https: 127.0.0.1:{https}\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_matrixbox"))
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["run", "--skip-preflight"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(&log).contains("edge serving") {
        assert!(daemon.try_wait().unwrap().is_none(), "{}", log_of(&log));
        assert!(Instant::now() < deadline, "{}", log_of(&log));
        std::thread::sleep(Duration::from_millis(100));
    }

    let killed = Command::new("ss")
        .args(["-K", "state", "listening", "src", "127.0.0.1"])
        .arg(format!("sport = :{https}"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&killed.stdout).contains(&format!(":{https}")),
        "ss closed the listener: {}",
        describe(&killed)
    );

    // Gone within seconds (no drain of the other listeners' connections), non-zero, and why.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            panic!(
                "the daemon kept running without its listener:\n{}",
                log_of(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = log_of(&log);
    assert!(!status.success(), "{text}");
    assert!(
        text.contains(&format!("the listener on 127.0.0.1:{https} is closed")),
        "{text}"
    );
    assert!(
        text.contains("an HTTPS listener ended on its own while the daemon was running"),
        "{text}"
    );
    // That was the edge process's own error; the daemon follows it, naming it.
    assert!(
        text.contains("the edge process ended on its own while the daemon was running"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}
