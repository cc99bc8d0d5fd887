//! Federation between appliances: three matrixbox instances on one host, each on its own address
//! and its own :443 (addresses added to the host for the test), certificates from Pebble, names
//! answered by a test DNS server (dnsmasq) that knows only the test's names. `a.test` serves its
//! own name; `b.test` is delegated to `matrix.b.test` through `/.well-known/matrix/server`;
//! `c.test` is not on `a.test`'s `federation.allow`. A real client exchanges encrypted messages
//! between a.test and b.test both ways; doctor passes on both (and its peers step fails once
//! `private_networks` is taken away); c.test federates with b.test but is refused by a.test.
//! Every DNS query (dnsmasq's log), every connection the containers open (the host's connection
//! tracking) and every socket of the three `run` processes (`ss`) stays inside the test network,
//! and the appliances' networks have no route to anything else (a host outside, reachable from a
//! network without the rule, is not reachable from theirs).

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::pebble::{self, Options, Pebble};
use common::testnet::*;
use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(400);
/// Each client run logs in again: more logins than Synapse's default rate.
const LOGIN_RATE: &str = "synapse:\n  rc_login:\n    address:\n      per_second: 100\n      burst_count: 200\n    account:\n      per_second: 100\n      burst_count: 200\n";

/// The subnet of an instance's Docker network.
fn subnet(mbx: &Instance) -> ipnet::IpNet {
    inspect(mbx.objects.network(), "{{(index .IPAM.Config 0).Subnet}}")
        .parse()
        .unwrap()
}

/// One appliance: its instance, address, names and CA file for clients.
struct Appliance {
    mbx: Instance,
    ip: String,
    domain: &'static str,
    server_name: &'static str,
    roots: PathBuf,
}

impl Appliance {
    /// `setup`, then a config for Pebble (TLS-ALPN-01 on its own :443), the bench's images and
    /// the test network's DNS and range.
    fn new(
        pebble: &Pebble,
        net: &TestNet,
        host: u8,
        (domain, server_name): (&'static str, &'static str),
        federation: &str,
    ) -> Appliance {
        let mbx = Instance::new();
        let ip = net.ip(host);
        assert_success(&mbx.run(&[
            "setup",
            "--domain",
            domain,
            "--server-name",
            server_name,
            "--skip-preflight",
        ]));
        let roots = mbx.dir.path().join("pebble-root.pem");
        std::fs::write(&roots, certificate_pem(pebble.issuing_root.as_ref())).unwrap();
        let names: &[&str] = if domain == server_name {
            &[domain]
        } else {
            &[domain, server_name]
        };
        let config = format!(
            "{}instance: {}\nimages:\n  synapse: {}\n  postgres: {}\nmemory_mb: 1024\nlisten:\n  http: 'off'\n  https: {ip}:443\nfederation:\n  ca_roots: [{}]\n  dns_servers: [{}]\n  private_networks: [{}]\n{federation}{LOGIN_RATE}",
            pebble.config(names, "tls-alpn-01"),
            mbx.objects.name,
            env("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
            env("MATRIXBOX_TEST_PG_IMAGE"),
            roots.display(),
            net.ip(53),
            net.cidr(),
        );
        std::fs::write(mbx.config_path(), config).unwrap();
        Appliance {
            mbx,
            ip,
            domain,
            server_name,
            roots,
        }
    }

    fn add_user(&self, name: &str, password: &str) {
        let out = self.mbx.run_with_stdin(
            &["user", "add", name, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert_success(&out);
    }

    /// The real Matrix client against this appliance, as a user's device would reach it: its
    /// domain at its address, trusting Pebble's root.
    fn client(&self, args: &[&str]) -> Output {
        Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
            .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
            .args(args)
            .args(["--base-url", &format!("https://{}", self.domain)])
            .arg("--ca-file")
            .arg(&self.roots)
            .args(["--resolve", &format!("{}:{}", self.domain, self.ip)])
            .output()
            .unwrap()
    }

    /// An e2e client command for `user` with its device store under this appliance's dir.
    fn e2e(&self, command: &str, user: &str, rest: &[&str]) -> Output {
        let store = self.mbx.dir.path().join(format!("{user}-e2e"));
        let password = format!("{user} password");
        let mut args = vec![
            command,
            "--store",
            store.to_str().unwrap(),
            "--user",
            user,
            "--password",
            &password,
            "--room-alias-localpart",
            "bridge",
        ];
        args.extend_from_slice(rest);
        self.client(&args)
    }

    /// `e2e` until it succeeds: what crosses federation arrives a moment later.
    fn e2e_eventually(&self, command: &str, user: &str, rest: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self.e2e(command, user, rest);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{command} as {user} on {} kept failing: {}",
                self.server_name,
                describe(&out)
            );
            std::thread::sleep(Duration::from_secs(3));
        }
    }

    /// `doctor` as the operator runs it, names resolved by the test network's DNS; with
    /// `config`, reading that file instead of the appliance's.
    fn doctor(&self, dns: &str, config: Option<&Path>) -> Output {
        let mut cmd = self
            .mbx
            .cmd(&["doctor", "--ca-file", self.roots.to_str().unwrap()]);
        if let Some(config) = config {
            cmd.env("MATRIXBOX_CONFIG", config);
        }
        cmd.env("MATRIXBOX_DNS_SERVER", dns)
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .output()
            .unwrap()
    }

    fn synapse_logs(&self) -> String {
        let out = docker(&["logs", &self.mbx.objects.synapse()]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_appliances_federate_over_443_and_a_third_not_allowed_is_refused() {
    let net = TestNet::new();
    let connections = Connections::record();
    let dir = tempfile::tempdir().unwrap();
    let dns = Dnsmasq::start(
        dir.path(),
        &net.ip(53),
        &[
            ("a.test", net.ip(1)),
            ("b.test", net.ip(2)),
            ("c.test", net.ip(3)),
        ],
    );
    let pebble = Pebble::start(Options {
        dns_server: Some(dns.addr.clone()),
        tls_port: Some(443),
        ..Options::default()
    });
    let a = Appliance::new(
        &pebble,
        &net,
        1,
        ("a.test", "a.test"),
        "  allow: [a.test, b.test]\n",
    );
    let b = Appliance::new(&pebble, &net, 2, ("matrix.b.test", "b.test"), "");
    let c = Appliance::new(&pebble, &net, 3, ("c.test", "c.test"), "");
    // No route to anything else: each appliance's network reaches the host's own addresses (the
    // test network) and nothing the host would forward.
    let _no_route: Vec<NoRoute> = [&a, &b, &c]
        .iter()
        .map(|x| NoRoute::for_network(x.mbx.objects.network(), &x.mbx.objects.name))
        .collect();
    let mut daemons: Vec<Daemon> = [&a, &b, &c].iter().map(|x| x.mbx.spawn_run()).collect();
    let sockets = Sockets::record(daemons.iter().map(Daemon::pid).collect());
    for (x, daemon) in [&a, &b, &c].iter().zip(daemons.iter_mut()) {
        x.mbx.wait_healthy(daemon, HEALTHY_WITHIN);
        let addr = format!("{}:443", x.ip);
        for name in [x.domain, x.server_name] {
            assert!(
                pebble::wait_until_served(&addr, name, &pebble.issuing_root).await,
                "{name}: no certificate from Pebble on {addr}:\n{}",
                daemon.log_text()
            );
        }
    }
    a.add_user("alice", "alice password");
    b.add_user("bob", "bob password");
    c.add_user("carol", "carol password");

    // An encrypted room on a.test; bob on b.test is invited, joins over federation, and the two
    // exchange messages both ways, each decrypting the other's.
    let created = a.e2e("e2e-create", "alice", &["--invite", "@bob:b.test"]);
    assert!(
        created.status.success(),
        "{}\n{}\n{}",
        describe(&created),
        tail(&a.synapse_logs(), 60),
        dns.log_text()
    );
    b.e2e_eventually("e2e-join", "bob", &["--server-name", "a.test"]);
    assert_success(&a.e2e("e2e-send", "alice", &["--message", "hello from a.test"]));
    b.e2e_eventually(
        "e2e-read",
        "bob",
        &["--server-name", "a.test", "--expect", "hello from a.test"],
    );
    let sent = b.e2e(
        "e2e-send",
        "bob",
        &["--server-name", "a.test", "--message", "hello from b.test"],
    );
    assert_success(&sent);
    a.e2e_eventually("e2e-read", "alice", &["--expect", "hello from b.test"]);

    // b.test was reached through its delegation: a.test's Synapse (from its network, unlike
    // Pebble, which also asked) looked up matrix.b.test.
    let nets: Vec<ipnet::IpNet> = [&a, &b, &c].iter().map(|x| subnet(&x.mbx)).collect();
    let delegated = dns.log_text().lines().any(|line| {
        line.contains("] matrix.b.test from ")
            && (line.rsplit(' ').next())
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .is_some_and(|ip| nets[0].contains(&ip))
    });
    assert!(
        delegated,
        "a.test's Synapse never looked up matrix.b.test:\n{}",
        dns.log_text()
    );

    // doctor walks the path a remote server takes and passes on both.
    for x in [&a, &b] {
        let out = x.doctor(&dns.addr, None);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_success(&out);
        assert!(
            !text.contains("  fail  ") && !text.contains("  skip  "),
            "doctor on {}:\n{text}",
            x.server_name
        );
    }
    // On a.test, doctor also looks up the other server on its allow-list as Synapse does; the
    // same config without `private_networks` fails there, naming the knob.
    let text = String::from_utf8_lossy(&a.doctor(&dns.addr, None).stdout).into_owned();
    assert!(text.contains(&format!("b.test → {}", net.ip(2))), "{text}");
    let closed = a.mbx.dir.path().join("without-private-networks.yaml");
    let config = read(&a.mbx.config_path());
    std::fs::write(
        &closed,
        (config.lines())
            .filter(|l| !l.contains("private_networks"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let out = a.doctor(&dns.addr, Some(&closed));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("a private address Synapse refuses")
            && text.contains("federation.private_networks"),
        "{text}"
    );

    // c.test federates (with b.test, which has no allow-list: carol joins bob's room there) ...
    assert_success(&b.e2e("e2e-create", "bob", &["--invite", "@carol:c.test"]));
    c.e2e_eventually("e2e-join", "carol", &["--server-name", "b.test"]);
    // ... but it is not on a.test's allow-list: its user cannot even find a.test's room, and
    // a.test says why in its log.
    let refused = c.e2e("e2e-join", "carol", &["--server-name", "a.test"]);
    eprintln!("c.test joining a.test's room: {}", describe(&refused));
    assert!(!refused.status.success(), "{}", describe(&refused));
    let logs = a.synapse_logs();
    assert!(
        logs.contains("Federation denied with c.test") || logs.contains("FederationDeniedError"),
        "a.test's Synapse did not log refusing c.test:\n{logs}"
    );

    // Every name anything asked the network's DNS for (the three Synapses, Pebble, doctor) is
    // one of the test's: a default installation looks up nothing else (no matrix.org notary).
    let queried = queried_names(&dns.log_text());
    let foreign: Vec<&String> = (queried.iter())
        .filter(|n| {
            !["a.test", "b.test", "c.test"]
                .iter()
                .any(|d| *n == d || n.ends_with(&format!(".{d}")))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "looked up names outside the test network: {foreign:?}"
    );
    eprintln!("names looked up: {queried:?}");

    // Every connection the six containers opened went to their own network (Synapse to
    // PostgreSQL), another appliance's :443 or the network's DNS: nothing else was tried, and
    // federation used :443 only.
    let opened = connections.from(&nets);
    let allowed = |conn: &Conn| {
        let to_appliance = [1, 2, 3].iter().any(|h| conn.dst.to_string() == net.ip(*h));
        nets.iter()
            .any(|n| n.contains(&conn.src) && n.contains(&conn.dst))
            || (to_appliance && conn.proto == "tcp" && conn.dport == 443)
            || (conn.dst.to_string() == net.ip(53) && conn.dport == 53)
    };
    let foreign: Vec<&Conn> = opened.iter().filter(|c| !allowed(c)).collect();
    assert!(
        foreign.is_empty(),
        "connections outside the test network: {foreign:#?}"
    );
    for (from, to) in [(0, 2), (1, 1), (2, 2)] {
        assert!(
            opened.iter().any(|c| nets[from].contains(&c.src)
                && c.dst.to_string() == net.ip(to)
                && c.dport == 443),
            "no connection from appliance {from} to {}:443 was recorded: {opened:#?}",
            net.ip(to)
        );
    }
    eprintln!("connections from the containers, all inside the test network: {opened:#?}");

    // matrixbox itself (Docker and Synapse are behind UNIX sockets) talked to Pebble's API and
    // served its :443, and nothing else: no lookup, no connection elsewhere.
    let own = sockets.seen();
    let elsewhere: Vec<_> = (own.iter())
        .filter(|(_, _, local, peer)| {
            let serving = [1, 2, 3]
                .iter()
                .any(|h| *local == format!("{}:443", net.ip(*h)));
            let listening = peer.ends_with(":*");
            !(serving || listening || *peer == pebble.acme_addr)
        })
        .collect();
    assert!(
        elsewhere.is_empty(),
        "matrixbox's own sockets went elsewhere: {elsewhere:#?}"
    );
    // The sampler does see them: each daemon's listener on its own :443.
    for (d, h) in daemons.iter().zip([1, 2, 3]) {
        let listener = format!("{}:443", net.ip(h));
        assert!(
            (own.iter()).any(|(pid, _, local, _)| *pid == d.pid() && *local == listener),
            "no socket of {} on {listener} was seen: {own:#?}",
            d.pid()
        );
    }

    // The rule is what keeps them in: a host outside, which a container on a network without the
    // rule reaches, is out of reach from each appliance's network. (Probed last: the recorders
    // above would see the probes.)
    let outside = OutsideHost::start();
    let image = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let control = format!("{}-control", a.mbx.objects.name);
    docker_ok(&["network", "create", &control]);
    let routed = outside.reachable_from(&control, &image);
    docker(&["network", "rm", &control]);
    assert!(
        routed,
        "the outside host is not reachable even without the rule: the probe proves nothing"
    );
    for x in [&a, &b, &c] {
        assert!(
            !outside.reachable_from(x.mbx.objects.network(), &image),
            "{}'s network has a route to {}",
            x.domain,
            outside.addr
        );
    }

    for d in daemons {
        d.stop();
    }
}

#[test]
fn the_recorders_read_what_dnsmasq_and_conntrack_write() {
    let log = "dnsmasq[1]: 25 172.26.0.3/60468 query[A] B.test from 172.26.0.3\n\
               dnsmasq[1]: 25 172.26.0.3/60468 config b.test is 198.18.75.2\n\
               dnsmasq[1]: 27 172.26.0.3/52790 query[SRV] _matrix-fed._tcp.matrix.org from 172.26.0.3\n";
    assert_eq!(
        queried_names(log).into_iter().collect::<Vec<_>>(),
        ["_matrix-fed._tcp.matrix.org", "b.test"]
    );
    let tcp = "ipv4     2 tcp      6 117 SYN_SENT src=172.26.0.3 dst=203.0.113.7 sport=40000 dport=8448 [UNREPLIED] src=203.0.113.7 dst=172.26.0.3 sport=8448 dport=40000 mark=0 zone=0 use=2";
    assert_eq!(
        parse_conntrack(tcp),
        Some(Conn {
            proto: "tcp".into(),
            src: "172.26.0.3".parse().unwrap(),
            dst: "203.0.113.7".parse().unwrap(),
            dport: 8448,
        })
    );
    let igmp = "ipv4     2 unknown  2 228 src=192.168.16.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=192.168.16.1 mark=0 zone=0 use=2";
    assert_eq!(parse_conntrack(igmp), None);
}
