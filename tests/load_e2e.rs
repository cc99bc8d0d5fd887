//! The load benchmark's generator (bench/load-gen.py) against a real installation, small: users
//! register, join, sync (long-poll and Simplified Sliding Sync), every message sent reaches every
//! other member through the edge, and the components' CPU and memory are read from their cgroups
//! and /proc. A component that does not exist is a clear error, not a silent zero.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

fn generator() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/load-gen.py")
}

fn load_gen(mbx: &Instance, components: &[String]) -> Output {
    let mut cmd = Command::new(env("MATRIXBOX_TEST_CLIENT_PY"));
    cmd.arg(generator())
        .args(["--base-url", &mbx.base_url()])
        .args(["--resolve", &format!("{TEST_DOMAIN}:127.0.0.1")])
        .args([
            "--prefix", "lg", "--users", "6", "--rooms", "2", "--sss", "2",
        ])
        .args(["--users-per-address", "2", "--idle-s", "1"])
        .args([
            "--fixed-rates",
            "2",
            "--fixed-s",
            "4",
            "--ramp",
            "4",
            "--step-s",
            "4",
        ])
        .args(["--threshold-ms", "5000", "--deadline-s", "240"]);
    for c in components {
        cmd.args(["--component", c]);
    }
    cmd.output().unwrap()
}

#[test]
fn every_message_reaches_every_member_and_components_are_measured() {
    let mbx = Instance::new();
    mbx.setup(
        "synapse:\n  bcrypt_rounds: 4\n  rc_message: {per_second: 1000, burst_count: 1000}\n  \
         rc_registration: {per_second: 1000, burst_count: 1000}\n  \
         rc_joins:\n    local: {per_second: 1000, burst_count: 1000}\n",
    );
    let config = read(&mbx.config_path()).replace("registration: closed", "registration: open");
    std::fs::write(mbx.config_path(), config).unwrap();
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);

    let id = |c: &str| inspect(c, "{{.Id}}");
    let components = [
        format!("edge=pid:{}", daemon.pid()),
        format!("synapse=cgroup:{}", id(&mbx.objects.synapse())),
        format!("postgres=cgroup:{}", id(&mbx.objects.postgres())),
    ];

    // A component that is not there names itself before any load is sent.
    let out = load_gen(&mbx, &[String::from("synapse=cgroup:no-such-container")]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("no cgroup no-such-container"),
        "{}",
        describe(&out)
    );

    let out = load_gen(&mbx, &components);
    assert_success(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no JSON summary: {}", describe(&out)));
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{r:#}");
    for s in steps {
        // 6 users in 2 rooms: every message has 2 other members to reach, SSS clients included.
        assert!(s["expected"].as_u64().unwrap() >= 2 * 8, "{r:#}");
        assert_eq!(s["missing"], 0, "{r:#}");
        assert_eq!(s["send_errors"], 0, "{r:#}");
        assert_eq!(s["deliveries"], s["expected"], "{r:#}");
        assert!(s["p99_ms"].as_f64().unwrap() < 5000.0, "{r:#}");
    }
    assert_eq!(r["sustained_msgs_per_s"], 4.0, "{r:#}");
    for name in ["edge", "synapse", "postgres"] {
        // Synapse and PostgreSQL hold tens of MiB at least; the edge a few.
        assert!(r["idle_mib"][name].as_f64().unwrap() > 1.0, "{name}: {r:#}");
        assert!(r["peak_mib"][name].as_f64().unwrap() > 1.0, "{name}: {r:#}");
    }
    assert!(r["cpu_s"]["synapse"].as_f64().unwrap() > 0.0, "{r:#}");
    assert!(r["cpu_s"]["postgres"].as_f64().unwrap() > 0.0, "{r:#}");
    daemon.stop();
}
