//! Synapse is reached only by the edge: it listens on no TCP port, only on a UNIX socket in a
//! directory that no other local user may enter; and a compromised Synapse that swaps its socket
//! for a link to another one (the Docker engine's) gets a refusal from the edge, never a
//! connection. Real engine, real Synapse, a real unprivileged user.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const SOCKET_IN_CONTAINER: &str = "/run/matrixbox/synapse.sock";

/// Connects to the UNIX socket at `path` as `uid` (Python's socket module; root keeps its
/// privileges when `uid` is 0), and says whether the connection was accepted.
fn connect_as(uid: u32, path: &Path) -> Result<(), String> {
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
        ])
        .arg(path)
        .output()
        .expect("setpriv (util-linux) and /usr/bin/python3");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// TCP sockets listening inside `container` (state 0A in /proc/net/tcp and tcp6), but for the
/// engine's own DNS resolver on 127.0.0.11, which Docker puts into every user-defined network.
fn tcp_listeners(container: &str) -> Vec<String> {
    let tables = docker_ok(&["exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
    tables
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|local| !local.starts_with("0B00007F:"))
        })
        .map(String::from)
        .collect()
}

#[test]
fn synapse_is_reached_only_through_its_socket_and_a_swapped_socket_is_refused() {
    let mbx = Instance::new();
    let synapse = mbx.objects.synapse();
    mbx.setup("");
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);

    // No port: nothing published on the host, nothing listening on TCP in the container.
    let bindings = "{{range $k, $v := .NetworkSettings.Ports}}{{range $v}}{{.HostIp}}:{{.HostPort}} {{end}}{{end}}";
    assert_eq!(inspect(&synapse, bindings), "", "Synapse publishes no port");
    assert_eq!(tcp_listeners(&synapse), Vec::<String>::new());

    // The socket's directory: Synapse's user alone (root passes).
    let dir = mbx.state_dir().join("synapse-socket");
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (991, 0o700));
    let socket = dir.join("synapse.sock");
    assert_eq!(connect_as(0, &socket), Ok(()), "root (the edge) connects");
    let refused = connect_as(65534, &socket).expect_err("nobody must not connect");
    assert!(refused.contains("PermissionError"), "{refused}");

    // A compromised Synapse (its own uid, inside its container) swaps the socket for a link to
    // the Docker engine's socket, as the host sees it. The edge has not connected yet, so the
    // next request makes it dial.
    let engine_socket = docker_host()
        .strip_prefix("unix://")
        .expect("the bench engine listens on a UNIX socket")
        .to_string();
    let swap = format!(
        "mv {SOCKET_IN_CONTAINER} {SOCKET_IN_CONTAINER}.real && ln -s {engine_socket} {SOCKET_IN_CONTAINER}"
    );
    docker_ok(&["exec", "-u", "991", &synapse, "sh", "-c", &swap]);
    let ca = mbx.state_dir().join("ca/root.pem");
    let (code, body) = curl(&ca, TEST_DOMAIN, mbx.https_port, "/_matrix/client/versions");
    assert_eq!(code, "502", "{body}");
    assert!(
        !body.contains("ApiVersion") && !body.contains("Docker"),
        "the engine answered through the edge: {body}"
    );
    daemon.wait_log("refused:", 1, Duration::from_secs(10));
    assert!(
        daemon.log_text().contains("symbolic link"),
        "{}",
        daemon.log_text()
    );

    // Put back, the same edge reaches Synapse again.
    let restore =
        format!("rm {SOCKET_IN_CONTAINER} && mv {SOCKET_IN_CONTAINER}.real {SOCKET_IN_CONTAINER}");
    docker_ok(&["exec", "-u", "991", &synapse, "sh", "-c", &restore]);
    let (code, body) = curl(&ca, TEST_DOMAIN, mbx.https_port, "/_matrix/client/versions");
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("versions"), "{body}");
    daemon.stop();
}
