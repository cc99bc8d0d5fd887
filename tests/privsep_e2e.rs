//! Privilege separation, seen from outside: the process that holds the public listeners is not
//! the daemon, runs as the edge's uid with no capabilities and no-new-privileges, cannot open the
//! Docker socket, the state dir's secrets or the certificate keys (tried with its own
//! credentials from the directories it was handed), yet reaches Synapse, answers HTTP-01 and
//! serves a renewed certificate from a real CA (Pebble); killing it ends the daemon with the
//! reason, and the next daemon takes the running stack over.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::pebble::{self, Options, Pebble};
use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const EDGE_UID: u32 = 64443;

/// The pid that holds the TCP listener on 127.0.0.1:`port` (`ss -ltnp`), with every other pid
/// that holds it too.
fn listener_pids(port: u16) -> Vec<u32> {
    let out = Command::new("ss")
        .args(["-Hltnp", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut pids: Vec<u32> = text
        .split("pid=")
        .skip(1)
        .filter_map(|rest| rest.split(',').next()?.parse().ok())
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

/// `Name:\tvalue` from /proc/`pid`/status.
fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

/// The descriptor through which `pid` sees `dir`.
fn fd_of(pid: u32, dir: &std::path::Path) -> String {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == dir))
        .unwrap_or_else(|| panic!("no descriptor of {} in {pid}", dir.display()))
        .file_name()
        .to_string_lossy()
        .into_owned()
}

/// Runs `script` (sh) with the edge process's credentials: its uid, gid and only group, no
/// capabilities, no-new-privileges.
fn as_edge(script: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            &format!("--reuid={EDGE_UID}"),
            &format!("--regid={EDGE_UID}"),
            &format!("--groups={EDGE_UID}"),
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv (util-linux)")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listeners_are_held_by_an_unprivileged_edge_that_still_serves_and_renews() {
    // Short certificates: renewed at half their life, while the test watches.
    let pebble = Pebble::start(Options {
        validity_secs: 60,
        ..Options::default()
    });
    let name = "matrix.example.com";
    let (mbx, mut daemon, ca) = instance_with_pebble(&pebble, name, HEALTHY_WITHIN).await;

    // One process holds both listeners, and it is not the daemon.
    let edge = listener_pids(mbx.https_port);
    assert_eq!(edge.len(), 1, "{edge:?}");
    let edge = edge[0];
    assert_eq!(listener_pids(mbx.http_port), [edge]);
    assert_ne!(edge, daemon.pid());
    assert_eq!(status_field(edge, "PPid"), daemon.pid().to_string());
    let uid = format!("{EDGE_UID}\t{EDGE_UID}\t{EDGE_UID}\t{EDGE_UID}");
    assert_eq!(status_field(edge, "Uid"), uid);
    assert_eq!(status_field(edge, "Gid"), uid);
    assert_eq!(status_field(edge, "Groups"), EDGE_UID.to_string());
    for caps in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(status_field(edge, caps), "0000000000000000", "{caps}");
    }
    assert_eq!(status_field(edge, "NoNewPrivs"), "1");

    // What it must not reach. The real modes first: the state dir and what holds secrets are
    // root's alone.
    let mode = |path: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).unwrap();
        (meta.uid(), meta.mode() & 0o7777)
    };
    let state_dir = mbx.state_dir();
    let key = state_dir.join(format!("certs/{name}/key.pem"));
    assert_eq!(mode(&state_dir), (0, 0o700));
    assert_eq!(mode(&state_dir.join("secrets")), (0, 0o700));
    assert_eq!(mode(&key), (0, 0o600));
    assert_eq!(mode(&state_dir.join("acme/account.json")), (0, 0o600));
    // Then tried with its credentials, from its own view: the directories it was handed (the
    // test's temporary dir above the state dir is not in the way there).
    let sockets = format!(
        "/proc/{edge}/fd/{}",
        fd_of(edge, &state_dir.join("synapse-socket"))
    );
    let web = format!("/proc/{edge}/fd/{}", fd_of(edge, &state_dir.join("web")));
    let mut refused: Vec<String> = std::fs::read_dir(state_dir.join("secrets"))
        .unwrap()
        .map(|e| {
            format!(
                "{sockets}/../secrets/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    assert!(refused.len() >= 3, "{refused:?}");
    refused.extend([
        format!("{sockets}/../certs/{name}/key.pem"),
        format!("{sockets}/../acme/account.json"),
        format!("{sockets}/../synapse-config/homeserver.yaml"),
        format!("{sockets}/../ca/root.key"),
        format!("{web}/../secrets/registration_shared_secret"),
    ]);
    for path in &refused {
        let out = as_edge(&format!("cat '{path}'"));
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "the edge's uid read {path}: {}",
            describe(&out)
        );
    }
    let engine = docker_host().strip_prefix("unix://").unwrap().to_string();
    let out = as_edge(&format!(
        "python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' '{engine}'"
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PermissionError"),
        "the edge's uid reached the Docker socket: {}",
        describe(&out)
    );
    // ...while what it needs is there for it: Synapse's socket, through the same view.
    let out = as_edge(&format!(
        "python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' '{sockets}/synapse.sock'"
    ));
    assert_success(&out);

    // Synapse through the edge, with the CA's certificate.
    let (code, body) = curl(&ca, name, mbx.https_port, "/_matrix/client/versions");
    assert_eq!(code, "200", "{body}");

    // A renewal, issued by the daemon, served by the same edge process.
    let first = pebble::served_leaf(&pebble.tls_addr(), name).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = pebble::served_leaf(&pebble.tls_addr(), name).await;
        if now != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no renewed certificate served:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(listener_pids(mbx.https_port), [edge]);

    // Killed, the edge takes the daemon with it (systemd restarts it); the stack keeps running
    // and the next daemon serves again.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(edge as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = daemon.wait_exit(Duration::from_secs(60));
    assert!(!status.success());
    let log = daemon.log_text();
    assert!(
        log.contains(&format!(
            "the edge process (pid {edge}) ended: signal: 9 (SIGKILL)"
        )) && log.contains("the edge process ended on its own while the daemon was running"),
        "{log}"
    );
    let running = docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &mbx.objects.synapse(),
    ]);
    assert_eq!(running.trim(), "true");
    // This one with `-v` and `--lang`, which its edge must get too (flags are not inherited).
    let mut again = mbx.spawn_run_flags(&["-v", "--lang", "zh_CN"]);
    mbx.wait_healthy(&mut again, HEALTHY_WITHIN);
    let (code, body) = curl(&ca, name, mbx.https_port, "/_matrix/client/versions");
    assert_eq!(code, "200", "{body}");
    let edge_again = listener_pids(mbx.https_port);
    assert_eq!(edge_again.len(), 1);
    assert_eq!(status_field(edge_again[0], "Uid"), uid);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", edge_again[0])).unwrap();
    let cmdline: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let edge_at = cmdline.iter().position(|a| *a == b"edge").unwrap();
    assert!(
        cmdline[..edge_at]
            .windows(3)
            .any(|w| w == [&b"-v"[..], b"--lang", b"zh_CN"]),
        "{:?}",
        String::from_utf8_lossy(&cmdline.join(&b' '))
    );
    again.stop();
}
