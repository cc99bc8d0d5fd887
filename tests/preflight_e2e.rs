//! Preflight on the real host: the bench's Docker engine, a port this test holds, and a local DNS
//! server (pebble-challtestsrv, from Debian's `pebble`) answering the lookups. Creates no container.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A zone that is not a test name, so DNS problems there are failures, not warnings. Only the
/// local DNS server below is ever asked about it.
const ZONE: &str = "mbx-preflight.org";
/// TEST-NET-2: an address that is certainly not this host's (nothing connects to it).
const ELSEWHERE: &str = "198.51.100.7";

/// pebble-challtestsrv on free loopback ports: answers every A query with 127.0.0.1 unless told
/// otherwise through its management API.
struct DnsServer {
    child: Child,
    dns_port: u16,
    management_port: u16,
}

impl DnsServer {
    fn start() -> DnsServer {
        let (dns_port, management_port) = (free_port(), free_port());
        let child = Command::new("pebble-challtestsrv")
            .args(["-management", &format!("127.0.0.1:{management_port}")])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv runs (Debian package `pebble`, installed by tests/testbed/up.sh)");
        let server = DnsServer {
            child,
            dns_port,
            management_port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", management_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pebble-challtestsrv did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    fn manage(&self, path: &str, body: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.management_port)).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{path} {body}: {response}"
        );
    }

    fn add_a(&self, host: &str, ip: &str) {
        self.manage(
            "/add-a",
            &format!(r#"{{"host":"{host}.","addresses":["{ip}"]}}"#),
        );
    }

    fn set_cname(&self, host: &str, target: &str) {
        self.manage(
            "/set-cname",
            &format!(r#"{{"host":"{host}.","target":"{target}."}}"#),
        );
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An IPv4 address of one of this host's interfaces other than loopback.
fn host_address() -> IpAddr {
    nix::ifaddrs::getifaddrs()
        .unwrap()
        .filter_map(|a| {
            a.address
                .and_then(|a| a.as_sockaddr_in().map(|v4| IpAddr::V4(v4.ip())))
        })
        .find(|ip| !ip.is_loopback())
        .expect("this host has a non-loopback IPv4 address")
}

/// This test process as /proc names it.
fn own_process() -> (String, u32) {
    (
        std::fs::read_to_string("/proc/self/comm")
            .unwrap()
            .trim()
            .to_string(),
        std::process::id(),
    )
}

fn run_in(mbx: &Instance, lang: &str, dns: &DnsServer, args: &[&str]) -> Output {
    mbx.cmd(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .env("MATRIXBOX_DNS_SERVER", dns.address())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A config for names in ZONE whose https listener is `https_port`; ACME points at a closed
/// loopback port and the images are the bench's (already on the engine), so nothing leaves the host.
fn write_config(mbx: &Instance, https_port: u16) {
    std::fs::create_dir_all(mbx.config_path().parent().unwrap()).unwrap();
    std::fs::write(
        mbx.config_path(),
        format!(
            "domain: matrix.{ZONE}\nserver_name: {ZONE}\nserve_server_name: true\nacme:\n  directory: 'https://127.0.0.1:{}/directory'\n\
             instance: {}\nimages:\n  synapse: {}\n  postgres: {}\nlisten:\n  http: '127.0.0.1:{}'\n  https: '127.0.0.1:{https_port}'\n",
            free_port(),
            mbx.objects.name,
            env("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
            env("MATRIXBOX_TEST_PG_IMAGE"),
            free_port(),
        ),
    )
    .unwrap();
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

#[test]
fn preflight_names_the_port_holder_follows_dns_and_passes_the_bench_engine() {
    let dns = DnsServer::start();
    let here = host_address();
    dns.add_a(&format!("edge.{ZONE}"), &here.to_string());
    dns.set_cname(&format!("matrix.{ZONE}"), &format!("edge.{ZONE}"));
    dns.add_a(ZONE, ELSEWHERE);

    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mbx = Instance::new();
    write_config(&mbx, port);
    let (comm, pid) = own_process();

    let out = run_in(&mbx, "C.UTF-8", &dns, &["preflight", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "blocking failures exit 1: {}",
        describe(&out)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(report["ready"], false);
    assert_eq!(report["lang"], "en");

    let https = check(&report, "port-https");
    assert_eq!(https["status"], "fail", "{https:#}");
    assert_eq!(
        https["evidence"],
        format!("port {port} is used by {comm} (pid {pid})")
    );
    assert_eq!(check(&report, "port-http")["status"], "pass");

    let docker = check(&report, "docker");
    assert_eq!(docker["status"], "pass", "{docker:#}");
    let evidence = docker["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("(API 1.4") && evidence.contains(&docker_host()),
        "{evidence}"
    );
    assert_eq!(
        check(&report, "registry")["status"],
        "pass",
        "the bench images are on the engine"
    );
    assert_eq!(
        check(&report, "clock")["status"],
        "pass",
        "the engine's clock is this host's"
    );
    let acme = check(&report, "acme");
    assert_eq!(
        (&acme["status"], &acme["blocking"]),
        (&"warn".into(), &false.into()),
        "{acme:#}"
    );

    let domain = check(&report, "dns-domain");
    assert_eq!(domain["status"], "pass", "{domain:#}");
    assert_eq!(
        domain["evidence"],
        format!("matrix.{ZONE} → CNAME edge.{ZONE} → {here} (this host)")
    );
    let server_name = check(&report, "dns-server-name");
    assert_eq!(server_name["status"], "fail", "{server_name:#}");
    assert!(
        server_name["evidence"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ZONE} → {ELSEWHERE}, which is not this host"))
    );
    assert!(
        server_name["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("`{ZONE}. A ")),
        "{server_name:#}"
    );

    let stopping: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail" && c["blocking"] == true)
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(stopping, ["port-https", "dns-server-name"], "{report:#}");

    // The same report for a person, in Simplified Chinese.
    let out = run_in(&mbx, "zh_CN.UTF-8", &dns, &["preflight"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("端口 {port} 被 {comm}（pid {pid}）占用")),
        "{text}"
    );
    assert!(
        text.contains("通过  Docker 引擎") && text.contains("未就绪："),
        "{text}"
    );
    drop(busy);
}

#[test]
fn run_stops_before_changing_anything_when_a_port_is_taken() {
    let dns = DnsServer::start();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mbx = Instance::new();
    write_config(&mbx, port);
    let (comm, pid) = own_process();

    let out = run_in(&mbx, "C.UTF-8", &dns, &["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {port} is used by {comm} (pid {pid})")),
        "{err}"
    );
    // `run` tolerates DNS trouble (it must come back after a reboot): the port alone stops it.
    let expected = format!(
        "\nerror: this host is not ready for matrixbox (port {port} (https)); nothing was changed\nhint: "
    );
    assert!(err.contains(&expected), "{err}");
    assert!(!mbx.state_dir().exists(), "no secrets or data were created");
    drop(busy);
}

#[test]
fn setup_checks_first_and_writes_nothing_when_blocked() {
    let dns = DnsServer::start();
    dns.add_a(&format!("elsewhere.{ZONE}"), ELSEWHERE);
    let mbx = Instance::new();

    let out = run_in(
        &mbx,
        "C.UTF-8",
        &dns,
        &["setup", "--domain", &format!("elsewhere.{ZONE}")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(&format!("fail  DNS elsewhere.{ZONE}")),
        "{printed}"
    );
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        describe(&out)
    );
    assert!(
        !mbx.config_path().exists() && !mbx.state_dir().exists(),
        "nothing was written"
    );

    // The escape hatch for CI: no checks, and the config is written.
    let out = run_in(
        &mbx,
        "C.UTF-8",
        &dns,
        &[
            "setup",
            "--domain",
            &format!("elsewhere.{ZONE}"),
            "--skip-preflight",
        ],
    );
    assert_success(&out);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("preflight"),
        "{}",
        describe(&out)
    );
    assert!(mbx.config_path().exists());

    // A test name the local DNS answers with loopback is what trying matrixbox out looks like.
    let fresh = Instance::new();
    let out = run_in(
        &fresh,
        "C.UTF-8",
        &dns,
        &["setup", "--domain", "matrix.test.internal"],
    );
    assert_success(&out);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("pass  DNS matrix.test.internal")
            && printed.contains("matrix.test.internal → 127.0.0.1 (this host)"),
        "{printed}"
    );
    assert!(
        printed.contains("ready: nothing blocks matrixbox on this host"),
        "{printed}"
    );
}
