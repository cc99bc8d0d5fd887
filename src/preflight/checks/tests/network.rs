//! The `network` checks (listen ports, TURN ports and DNS names).

use super::*;

#[test]
fn busy_ports_name_their_process() {
    let nginx = Port {
        role: "https",
        addr: "0.0.0.0:443".parse().unwrap(),
        holder: Holder::Process {
            pid: 812,
            comm: "nginx".into(),
        },
    };
    let c = port(&nginx, 4000, Mode::Setup, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert_eq!(c.evidence, "port 443 is used by nginx (pid 812)");
    assert_eq!(c.title, "port 443 (https)");
    assert!(c.remedy.unwrap().contains("systemctl disable --now nginx"));
    assert_eq!(
        port(&nginx, 4000, Mode::Setup, Lang::ZhCn).evidence,
        "端口 443 被 nginx（pid 812）占用"
    );
    assert_eq!(
        port(&nginx, 812, Mode::Run, EN).status,
        Status::Pass,
        "our own listener is no conflict"
    );
    let service = Port {
        holder: Holder::Process {
            pid: 77,
            comm: "matrixbox".into(),
        },
        ..nginx.clone()
    };
    assert_eq!(port(&service, 4000, Mode::Setup, EN).status, Status::Pass);
    assert_eq!(
        port(&service, 4000, Mode::Run, EN).status,
        Status::Fail,
        "a second daemon would collide"
    );
    let container = Port {
        holder: Holder::Process {
            pid: 9,
            comm: "docker-proxy".into(),
        },
        ..nginx.clone()
    };
    assert!(
        port(&container, 4000, Mode::Setup, EN)
            .remedy
            .unwrap()
            .contains("docker ps --filter publish=443")
    );
    let hidden = Port {
        holder: Holder::Hidden,
        ..nginx
    };
    assert!(
        port(&hidden, 4000, Mode::Setup, EN)
            .remedy
            .unwrap()
            .contains("ss -ltnp 'sport = :443'")
    );
}

#[test]
fn dns_names_must_point_here() {
    let f = healthy();
    let ok = name_check(
        "dns-domain",
        &lookup("m.example.net.cn", &["edge.example.net.cn"], &[HOST_V4]),
        &f.local_addrs,
        None,
        true,
        EN,
    );
    assert_eq!(ok.status, Status::Pass);
    assert_eq!(
        ok.evidence,
        "m.example.net.cn → CNAME edge.example.net.cn → 203.0.113.5 (this host)"
    );
    let elsewhere = name_check(
        "dns-domain",
        &lookup("m.example.net.cn", &[], &["198.51.100.7"]),
        &f.local_addrs,
        None,
        true,
        EN,
    );
    assert_eq!((elsewhere.status, elsewhere.blocking), (Status::Fail, true));
    assert_eq!(
        elsewhere.evidence,
        "m.example.net.cn → 198.51.100.7, which is not this host (this host: 203.0.113.5)"
    );
    let fix = elsewhere.remedy.unwrap();
    assert!(
        fix.contains("`m.example.net.cn. A 203.0.113.5`") && fix.contains("public_address"),
        "{fix}"
    );
    // Behind NAT: the configured public address counts as this host.
    let nat = name_check(
        "dns-domain",
        &lookup("m.example.net.cn", &[], &["198.51.100.7"]),
        &f.local_addrs,
        Some("198.51.100.7".parse().unwrap()),
        true,
        EN,
    );
    assert_eq!(nat.status, Status::Pass);
    // A second address elsewhere (e.g. a stale AAAA) fails too: clients may pick it.
    let mixed = name_check(
        "dns-domain",
        &lookup("m.example.net.cn", &[], &[HOST_V4, "2001:db8::9"]),
        &f.local_addrs,
        None,
        true,
        EN,
    );
    assert_eq!(mixed.status, Status::Fail);
    let missing = name_check(
        "dns-domain",
        &lookup("m.example.net.cn", &[], &[]),
        &f.local_addrs,
        None,
        true,
        EN,
    );
    assert_eq!(missing.evidence, "m.example.net.cn has no A or AAAA record");
    assert_eq!(
        missing.remedy.as_deref(),
        Some("create the record at your DNS provider: `m.example.net.cn. A 203.0.113.5`")
    );
    let loopback = name_check(
        "dns-domain",
        &lookup("m.example.net.cn", &[], &["127.0.0.1"]),
        &f.local_addrs,
        None,
        true,
        EN,
    );
    assert_eq!(loopback.status, Status::Warn);
    let broken = NameLookup {
        name: "m.example.net.cn".into(),
        result: Err("request timed out".into()),
    };
    let c = name_check("dns-domain", &broken, &f.local_addrs, None, false, EN);
    assert_eq!(
        (c.status, c.blocking),
        (Status::Fail, false),
        "`run` is not stopped by DNS"
    );
}

#[test]
fn dns_trouble_for_test_names_only_warns() {
    let f = healthy();
    for name in ["matrix.test.internal", "a.example.com", "localhost"] {
        let missing = NameLookup {
            name: name.into(),
            result: Err("no connections available".into()),
        };
        let c = name_check("dns-domain", &missing, &f.local_addrs, None, true, EN);
        assert_eq!(c.status, Status::Warn, "{name}: {c:?}");
        assert!(c.remedy.unwrap().contains("local or test name"));
    }
    let c = name_check(
        "dns-domain",
        &lookup("matrix.test.internal", &[], &["127.0.0.1"]),
        &f.local_addrs,
        None,
        true,
        EN,
    );
    assert_eq!(
        c.status,
        Status::Pass,
        "a test name on loopback is what trying out looks like"
    );
}

#[test]
fn dns_without_a_name_or_with_a_bad_override() {
    let mut f = healthy();
    let none = Target {
        names: vec![],
        ..target(Mode::Preflight)
    };
    let c = &dns(&f, &none, EN)[0];
    assert_eq!((c.id.as_str(), c.status), ("dns", Status::Warn));
    assert!(c.remedy.as_deref().unwrap().contains("--domain"));
    f.dns = Err(ResolverError::BadOverride("nowhere".into()));
    let c = &dns(&f, &target(Mode::Preflight), EN)[0];
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("MATRIXBOX_DNS_SERVER=`nowhere`"));
}

#[test]
fn suggested_records_prefer_public_addresses() {
    let local: Vec<IpAddr> = ["127.0.0.1", "10.0.0.4", "fe80::1", "2001:db8::4"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(
        suggested_records("m.org", &local, None, EN),
        "`m.org. AAAA 2001:db8::4`"
    );
    assert_eq!(
        suggested_records("m.org", &local, Some("198.51.100.1".parse().unwrap()), EN),
        "`m.org. A 198.51.100.1` and `m.org. AAAA 2001:db8::4`"
    );
    assert_eq!(
        suggested_records("m.org", &local[..2], None, EN),
        "`m.org. A <this host's public IPv4 address>`"
    );
    assert!(!is_global("100.64.1.1".parse().unwrap()) && !is_global("fd00::2".parse().unwrap()));
}

#[test]
fn listen_addresses_become_port_checks_even_when_proc_is_unreadable() {
    let mut f = healthy();
    f.ports = Err("/proc/net/tcp: permission denied".into());
    let checks = ports(&f, &target(Mode::Setup), EN);
    assert_eq!(
        checks.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["port-http", "port-https"]
    );
    assert!(checks.iter().all(|c| c.status == Status::Warn));
}

/// `turn.enabled`: TCP and UDP on `turn.port`, TCP on `turn.tls_port`; coturn's own sockets pass,
/// anything else fails naming the key to change. Both languages against tests/golden.
#[test]
fn turn_ports_are_checked_when_turn_is_on() {
    let mut t = target(Mode::Setup);
    assert!(
        turn_ports(&healthy(), &t, EN).is_empty(),
        "off: no TURN checks"
    );
    t.turn_relay = Some((49160, 49200));
    let any = |p: u16| -> std::net::SocketAddr { format!("0.0.0.0:{p}").parse().unwrap() };
    let port = |role, p, holder| Port {
        role,
        addr: any(p),
        holder,
    };
    let mut f = healthy();
    f.turn_ports = Ok((
        vec![
            port("turn.port", 3478, Holder::Free),
            port(
                "turn.tls_port",
                5349,
                Holder::Process {
                    pid: 31,
                    comm: "stunnel4".into(),
                },
            ),
        ],
        vec![port(
            "turn.port",
            3478,
            Holder::Process {
                pid: 9,
                comm: "turnserver".into(),
            },
        )],
    ));
    let checks = turn_ports(&f, &t, EN);
    let statuses: Vec<Status> = checks.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [Status::Pass, Status::Fail, Status::Pass]);
    assert_eq!(checks[1].id, "port-turn-tls_port-tcp");
    assert!(
        checks[1]
            .remedy
            .as_deref()
            .unwrap()
            .contains("`turn.tls_port:`")
    );
    let mut out = String::new();
    for lang in [Lang::En, Lang::ZhCn] {
        for c in turn_ports(&f, &t, lang) {
            out.push_str(&format!(
                "{:?} {} | {} | {}\n",
                c.status,
                c.title,
                c.evidence,
                c.remedy.unwrap_or_default()
            ));
        }
    }
    crate::golden::assert_golden("preflight.turn.txt", &out);
}
