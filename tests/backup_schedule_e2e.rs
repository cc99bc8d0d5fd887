//! End-to-end: the daemon's scheduled backups on the real engine. It takes them on its schedule,
//! reads each back, keeps the newest (and never touches files that are not its archives), and
//! records them for `status`, `doctor` and the metrics. Fault: a destination that cannot be
//! written is reported in all three while the server keeps serving, and the next attempt after
//! the fix succeeds.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const BACKUPS_WITHIN: Duration = Duration::from_secs(240);

/// This server's archives in `dir`, by name.
fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(&format!("{TEST_DOMAIN}-")) && name.ends_with(".tar.gz")
        })
        .collect();
    found.sort();
    found
}

/// The edge's metrics, from an allowed address.
fn scrape(port: u16) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_daemon_backs_up_on_schedule_keeps_the_newest_and_reports_failures() {
    let mbx = Instance::new();
    let dir = mbx.dir.path().join("scheduled");
    let metrics_port = free_port();
    // Continues the bench's `listen:` section.
    mbx.setup(&format!(
        "  metrics: 127.0.0.1:{metrics_port}\nbackup:\n  every: 10s\n  keep: 2\n  dir: {}\n",
        dir.display()
    ));
    // Files that are not this server's scheduled archives stay whatever happens.
    std::fs::create_dir_all(&dir).unwrap();
    let foreign = [
        dir.join("other.example-20200101T000000Z.tar.gz"),
        dir.join("notes.txt"),
    ];
    for f in &foreign {
        std::fs::write(f, "not ours").unwrap();
    }

    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    daemon.wait_log("scheduled backup written and verified", 3, BACKUPS_WITHIN);

    let kept = archives(&dir);
    assert_eq!(kept.len(), 2, "keep: 2 -> {kept:?}");
    for archive in &kept {
        assert_success(&mbx.run(&["backup", "verify", archive.to_str().unwrap()]));
    }
    for f in &foreign {
        assert_eq!(read(f), "not ours", "{} untouched", f.display());
    }
    let status = mbx.status_json();
    let backup = &status["backup"];
    assert_eq!(backup["every_seconds"], 10, "{backup}");
    assert_eq!(backup["keep"], 2, "{backup}");
    assert!(backup["last_failure"].is_null(), "{backup}");
    let last = PathBuf::from(backup["last_good"]["path"].as_str().unwrap());
    assert!(archives(&dir).contains(&last) || !last.exists(), "{backup}");
    assert!(
        backup["last_good"]["bytes"].as_u64().unwrap() > 10_000,
        "{backup}"
    );
    let out = mbx
        .cmd(&["status"])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("backups     last good") && text.contains("every 10 s, keeping 2 in"),
        "{text}"
    );
    assert_eq!(mbx.doctor_backups_step()["status"], "pass");
    let scraped = scrape(metrics_port);
    assert!(
        scraped.contains("matrixbox_backup_age_seconds "),
        "{scraped}"
    );
    assert!(
        scraped.contains("matrixbox_backup_last_attempt_failed 0"),
        "{scraped}"
    );

    // The destination becomes a file: every attempt fails, and says so.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "in the way").unwrap();
    daemon.wait_log("scheduled backup failed", 1, Duration::from_secs(60));
    // The failure is recorded just after it is logged.
    std::thread::sleep(Duration::from_secs(1));
    let status = mbx.status_json();
    let error = status["backup"]["last_failure"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains(&dir.display().to_string()), "{status}");
    let step = mbx.doctor_backups_step();
    assert_eq!(step["status"], "warn", "{step}");
    assert!(
        step["evidence"].as_str().unwrap().contains("failed"),
        "{step}"
    );
    // Meanwhile the homeserver serves.
    let ca = mbx.state_dir().join("ca/root.pem");
    let (code, body) = curl(&ca, TEST_DOMAIN, mbx.https_port, "/_matrix/client/versions");
    assert_eq!(code, "200", "{body}");

    // Fixed: the next attempt (the schedule's, as it is shorter than the retry's hour) succeeds.
    let written = "scheduled backup written and verified";
    let so_far = daemon.log_text().matches(written).count();
    std::fs::remove_file(&dir).unwrap();
    daemon.wait_log(written, so_far + 1, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(1));
    let status = mbx.status_json();
    assert!(status["backup"]["last_failure"].is_null(), "{status}");
    assert!((1..=2).contains(&archives(&dir).len()));
    daemon.stop();
}
