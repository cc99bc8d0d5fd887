//! A test network on this host for appliances that must meet as on the internet: addresses of
//! their own (each its own :443), dnsmasq as the only DNS, and recorders of what was looked up
//! and connected to (dnsmasq's query log, the host's connection tracking, `ss` for processes).
//! Needs root (addresses on `lo`), Debian's `dnsmasq-base` and iproute2.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{assert_success, read};

/// Addresses of the test network, added to the host's loopback interface for the test and
/// removed after it: the appliances' edges listen on :443 of their own address, as on the
/// internet. 198.18.0.0/15 is set aside for tests (RFC 2544); the third octet keeps test
/// processes apart.
pub struct TestNet {
    prefix: String,
    added: Vec<String>,
}

impl TestNet {
    pub fn new() -> TestNet {
        let octet = std::process::id() % 250 + 1;
        let mut net = TestNet {
            prefix: format!("198.18.{octet}"),
            added: vec![],
        };
        for host in [1, 2, 3, 53] {
            let addr = format!("{}.{host}/32", net.prefix);
            // A leftover of a killed run would make `add` fail.
            let _ = Command::new("ip")
                .args(["addr", "del", &addr, "dev", "lo"])
                .output();
            let out = Command::new("ip")
                .args(["addr", "add", &addr, "dev", "lo"])
                .output()
                .expect("ip runs (iproute2)");
            assert_success(&out);
            net.added.push(addr);
        }
        net
    }

    pub fn ip(&self, host: u8) -> String {
        format!("{}.{host}", self.prefix)
    }

    /// The whole test network, for `federation.private_networks`.
    pub fn cidr(&self) -> String {
        format!("{}.0/24", self.prefix)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for addr in &self.added {
            let _ = Command::new("ip")
                .args(["addr", "del", addr, "dev", "lo"])
                .output();
        }
    }
}

/// dnsmasq as the test network's only DNS: the given names (and their subdomains) answer their
/// address, every other name NXDOMAIN; every query is logged.
pub struct Dnsmasq {
    child: Child,
    log: PathBuf,
    /// ip:port, for doctor's and Pebble's resolvers.
    pub addr: String,
}

impl Dnsmasq {
    pub fn start(dir: &Path, listen: &str, records: &[(&str, String)]) -> Dnsmasq {
        let log = dir.join("dnsmasq.log");
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--no-negcache",
            "--bind-interfaces",
            "--pid-file=",
            "--port=53",
            "--log-queries=extra",
            "--log-facility=-",
        ])
        .arg(format!("--listen-address={listen}"))
        // Every name not listed below: NXDOMAIN, no upstream.
        .arg("--address=/#/");
        for (name, ip) in records {
            cmd.arg(format!("--address=/{name}/{ip}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("dnsmasq runs (apt-get install dnsmasq-base)");
        let addr = format!("{listen}:53");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
        {
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not start: {}",
                read(&log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dnsmasq { child, log, addr }
    }

    pub fn log_text(&self) -> String {
        read(&self.log)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP or UDP connection as the host's connection tracking saw it first (original direction).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conn {
    pub proto: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dport: u16,
}

/// Samples the host's connection tracking table while the test runs: every connection a
/// container opens crosses the host (bridged traffic too, through bridge netfilter), and its
/// entry outlives it by seconds at least (an unanswered UDP query 30 s, a refused TCP attempt 10 s).
pub struct Connections {
    seen: Arc<Mutex<BTreeSet<Conn>>>,
    stop: Arc<AtomicBool>,
}

impl Connections {
    pub fn record() -> Connections {
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, done) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let table = std::fs::read_to_string("/proc/net/nf_conntrack")
                    .expect("the host's connection tracking table is readable");
                sink.lock()
                    .unwrap()
                    .extend(table.lines().filter_map(parse_conntrack));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Connections { seen, stop }
    }

    /// Connections opened from inside `nets`.
    pub fn from(&self, nets: &[ipnet::IpNet]) -> Vec<Conn> {
        let seen = self.seen.lock().unwrap();
        (seen.iter())
            .filter(|c| nets.iter().any(|n| n.contains(&c.src)))
            .cloned()
            .collect()
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `ipv4 2 tcp 6 117 SYN_SENT src=… dst=… sport=… dport=… [UNREPLIED] src=… …`: the first
/// src/dst/dport are the original direction. Other protocols (IGMP, ICMP) are skipped.
pub fn parse_conntrack(line: &str) -> Option<Conn> {
    let mut fields = line.split_whitespace();
    let proto = fields.nth(2)?;
    if proto != "tcp" && proto != "udp" {
        return None;
    }
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .map(str::to_string)
    };
    Some(Conn {
        proto: proto.to_string(),
        src: value("src=")?.parse().ok()?,
        dst: value("dst=")?.parse().ok()?,
        dport: value("dport=")?.parse().ok()?,
    })
}

/// The sockets of the given processes and their descendants (`ss -tunap`; the daemon's edge is
/// its child and holds the listeners), sampled while the test runs, each under the given pid it
/// descends from: (pid, proto, local address, peer address). A connection attempt to an
/// unanswering host stays in SYN-SENT for seconds, long enough to be seen.
/// (pid, proto, local address, peer address), as `ss` prints them.
pub type Socket = (u32, String, String, String);

pub struct Sockets {
    seen: Arc<Mutex<BTreeSet<Socket>>>,
    stop: Arc<AtomicBool>,
}

impl Sockets {
    pub fn record(pids: Vec<u32>) -> Sockets {
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, done) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let out = Command::new("ss")
                    .args(["-tunapH"])
                    .output()
                    .expect("ss runs");
                let text = String::from_utf8_lossy(&out.stdout);
                let family: Vec<(u32, u32)> = (pids.iter())
                    .flat_map(|&root| descendants(root).into_iter().map(move |p| (p, root)))
                    .collect();
                let mut seen = sink.lock().unwrap();
                for line in text.lines() {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    let Some((_, root)) =
                        (family.iter()).find(|(p, _)| line.contains(&format!("pid={p},")))
                    else {
                        continue;
                    };
                    if f.len() >= 6 {
                        seen.insert((*root, f[0].into(), f[4].into(), f[5].into()));
                    }
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        Sockets { seen, stop }
    }
}

/// `pid` and every process below it (children are listed per thread that spawned them).
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", all[i]));
        for task in tasks.into_iter().flatten().flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    all
}

impl Sockets {
    /// Every socket seen so far.
    pub fn seen(&self) -> Vec<Socket> {
        self.seen.lock().unwrap().iter().cloned().collect()
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The distinct names in dnsmasq's query log (`query[A] name from ip`).
pub fn queried_names(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(" query[")?;
            let (_, rest) = rest.split_once("] ")?;
            rest.split_whitespace().next().map(str::to_ascii_lowercase)
        })
        .collect()
}

/// No route out of an instance's network: the network is made before `run` (matrixbox uses a
/// network that exists), and the host's forwarding rejects anything from it that is not for the
/// network itself. Its containers still reach the host's own addresses (the test network on `lo`:
/// the other appliances, dnsmasq, Pebble), which the host receives instead of forwarding.
pub struct NoRoute {
    rule: Vec<String>,
}

impl NoRoute {
    pub fn for_network(network: &str, instance: &str) -> NoRoute {
        super::docker_ok(&[
            "network",
            "create",
            "--label",
            "io.matrixbox.managed=true",
            "--label",
            &format!("io.matrixbox.instance={instance}"),
            network,
        ]);
        let subnet = super::inspect(network, "{{(index .IPAM.Config 0).Subnet}}");
        let rule: Vec<String> = [
            "DOCKER-USER",
            "-s",
            &subnet,
            "!",
            "-d",
            &subnet,
            "-j",
            "REJECT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        iptables("-I", &rule);
        NoRoute { rule }
    }
}

impl Drop for NoRoute {
    fn drop(&mut self) {
        let _ = Command::new("iptables").arg("-D").args(&self.rule).output();
    }
}

fn iptables(action: &str, rule: &[String]) {
    let out = Command::new("iptables")
        .arg(action)
        .args(rule)
        .output()
        .expect("iptables runs");
    assert_success(&out);
}

/// A host outside this machine as the containers see the internet: a network namespace behind a
/// veth pair, routed (not received) by the host, answering TCP on `port`. A container's
/// connection to it is forwarded, so only a route decides whether it gets there.
pub struct OutsideHost {
    netns: String,
    server: Child,
    pub addr: String,
    pub port: u16,
}

impl OutsideHost {
    pub fn start() -> OutsideHost {
        let id = std::process::id() % 10_000;
        let netns = format!("mbxout{id}");
        let (host_if, ns_if) = (format!("mbxo{id}h"), format!("mbxo{id}n"));
        let octet = std::process::id() % 250 + 1;
        let (host_ip, addr) = (format!("100.64.{octet}.1"), format!("100.64.{octet}.2"));
        // A leftover of a killed run would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", &netns]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        for args in [
            vec!["netns", "add", &netns],
            vec![
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
            vec!["link", "set", &ns_if, "netns", &netns],
            vec!["addr", "add", &format!("{host_ip}/30"), "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            vec![
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                &ns_if,
            ],
            vec!["-n", &netns, "link", "set", &ns_if, "up"],
            vec!["-n", &netns, "link", "set", "lo", "up"],
            vec!["-n", &netns, "route", "add", "default", "via", &host_ip],
        ] {
            assert_success(&Command::new("ip").args(&args).output().unwrap());
        }
        let port = 8080;
        // A bare listener: http.server would first look its name up in DNS, which has no answer.
        let listener = format!(
            "import socket\ns = socket.create_server(('{addr}', {port}))\nwhile True: s.accept()[0].close()"
        );
        let server = Command::new("ip")
            .args(["netns", "exec", &netns, "python3", "-c", &listener])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let outside = OutsideHost {
            netns,
            server,
            addr,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !outside.answers_from_the_host() {
            assert!(Instant::now() < deadline, "the outside host did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        outside
    }

    fn answers_from_the_host(&self) -> bool {
        let addr = format!("{}:{}", self.addr, self.port).parse().unwrap();
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    }

    /// Whether a container on `network` can open a TCP connection to this host.
    pub fn reachable_from(&self, network: &str, image: &str) -> bool {
        let probe = format!(
            "import socket; socket.create_connection(('{}', {}), 5)",
            self.addr, self.port
        );
        let out = super::docker(&[
            "run",
            "--rm",
            "--network",
            network,
            "--entrypoint",
            "python3",
            image,
            "-c",
            &probe,
        ]);
        out.status.success()
    }
}

impl Drop for OutsideHost {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        // Deleting the namespace deletes its end of the veth pair, and with it the host's end.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}
