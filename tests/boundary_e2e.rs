//! Synapse is reached only by the edge: it listens on no TCP port, only on a UNIX socket in a
//! directory that no other local user may enter; and a compromised Synapse that swaps its socket
//! for a link to another one (the Docker engine's) gets a refusal from the edge, never a
//! connection. PostgreSQL is reached only by Synapse, through a socket in a directory shared with
//! Synapse's container alone, and only with Synapse's password. Real engine, real Synapse and
//! PostgreSQL, a real unprivileged user.

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

/// TCP sockets listening inside `container` (state 0A in /proc/net/tcp and tcp6) on anything but
/// the container's own loopback (127.0.0.0/8, written little-endian, so `..7F:`), where Docker's
/// DNS resolver and PostgreSQL's readiness port listen.
fn tcp_listeners(container: &str) -> Vec<String> {
    let tables = docker_ok(&["exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
    tables
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|local| !local.split(':').next().unwrap().ends_with("7F"))
        })
        .map(String::from)
        .collect()
}

/// Logs in to PostgreSQL from inside Synapse's container, as Synapse would (psycopg2, its socket
/// mount), as `user` with `password` (none when empty); `Err` carries PostgreSQL's refusal.
fn login_from_synapse(synapse: &str, user: &str, password: &str) -> Result<(), String> {
    let script = "import psycopg2,sys; psycopg2.connect(host='/run/matrixbox-postgres', dbname='synapse', user=sys.argv[1], password=sys.argv[2] or None).close()";
    let out = docker(&[
        "exec", "-u", "991", synapse, "python", "-c", script, user, password,
    ]);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
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

    // The socket's directory: Synapse's user and the edge process's group (64443) enter it,
    // nobody else; root passes.
    let dir = mbx.state_dir().join("synapse-socket");
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (991, 64443, 0o750)
    );
    let socket = dir.join("synapse.sock");
    assert_eq!(connect_as(0, &socket), Ok(()), "root connects");
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

#[test]
fn postgres_is_reached_only_by_synapse_with_its_password() {
    let mbx = Instance::new();
    let (postgres, synapse) = (mbx.objects.postgres(), mbx.objects.synapse());
    mbx.setup("");
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);

    // Nothing published, nothing listening on the network: the host (root included) finds no
    // PostgreSQL at the container's address.
    let bindings = "{{range $k, $v := .NetworkSettings.Ports}}{{range $v}}{{.HostIp}}:{{.HostPort}} {{end}}{{end}}";
    assert_eq!(
        inspect(&postgres, bindings),
        "",
        "PostgreSQL publishes no port"
    );
    assert_eq!(tcp_listeners(&postgres), Vec::<String>::new());
    let address = inspect(
        &postgres,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    );
    let dialled = std::net::TcpStream::connect_timeout(
        &format!("{address}:5432").parse().unwrap(),
        Duration::from_secs(3),
    );
    assert!(dialled.is_err(), "PostgreSQL answered at {address}:5432");

    // The shared socket's directory: PostgreSQL's user and Synapse's group; nobody else enters.
    let dir = mbx.state_dir().join("postgres-socket");
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (999, 991, 0o750)
    );
    let socket = dir.join(".s.PGSQL.5432");
    let refused = connect_as(65534, &socket).expect_err("nobody must not connect");
    assert!(refused.contains("PermissionError"), "{refused}");

    // The readiness probe (every 3 s on the loopback) logs no failed login.
    let log = docker(&["logs", &postgres]);
    let log =
        String::from_utf8_lossy(&log.stderr).into_owned() + &String::from_utf8_lossy(&log.stdout);
    // Two FATALs CI saw are not logins: a probe arriving during the first start ("the database
    // system is starting up"), and the init-time server stopped by the image's entrypoint just
    // as its init script's psql hung up ("terminating connection due to administrator command").
    let not_a_login = [
        "the database system is starting up",
        "terminating connection due to administrator command",
    ];
    let failed: Vec<&str> = (log.lines())
        .filter(|l| l.contains("FATAL") && !not_a_login.iter().any(|n| l.contains(n)))
        .collect();
    assert!(failed.is_empty(), "{log}");

    // From Synapse's container: its role with its password, nothing else. A compromised Synapse
    // cannot become the superuser or log in without the password.
    let password = read(&mbx.state_dir().join("secrets/postgres_password"));
    assert_eq!(
        login_from_synapse(&synapse, "synapse", password.trim()),
        Ok(())
    );
    for (user, password) in [
        ("synapse", ""),
        ("postgres", ""),
        ("postgres", password.trim()),
    ] {
        let refused = login_from_synapse(&synapse, user, password)
            .expect_err(&format!("{user} must not log in from Synapse's container"));
        assert!(
            refused.contains("authentication failed") || refused.contains("no password"),
            "{user}: {refused}"
        );
    }
    daemon.stop();
}
