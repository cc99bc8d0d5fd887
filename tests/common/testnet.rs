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

/// The sockets of the given processes (`ss -tunap`), sampled while the test runs: (pid, proto,
/// local address, peer address). A connection attempt to an unanswering host stays in SYN-SENT
/// for seconds, long enough to be seen.
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
                let mut seen = sink.lock().unwrap();
                for line in text.lines() {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    let Some(pid) = pids.iter().find(|p| line.contains(&format!("pid={p},")))
                    else {
                        continue;
                    };
                    if f.len() >= 6 {
                        seen.insert((*pid, f[0].into(), f[4].into(), f[5].into()));
                    }
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        Sockets { seen, stop }
    }
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
