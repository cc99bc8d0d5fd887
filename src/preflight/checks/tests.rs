use std::net::IpAddr;
use std::path::PathBuf;

use time::OffsetDateTime;

use super::docker::*;
use super::host::*;
use super::network::*;
use super::outbound::*;
use super::resources::*;
use super::*;
use crate::disk::{Disk, DiskRole, Space};
use crate::dns::{NameLookup, Resolved, ResolverError};
use crate::paths::Paths;
use crate::preflight::facts::{
    AcmeFacts, ConfigState, DockerFacts, EngineFacts, Installation, OsRelease, Registry,
    SocketState,
};
use crate::preflight::ports::{Holder, Port};
use crate::preflight::probe::{Answer, Probe, TimeSample};
use crate::preflight::{AcmeTarget, Check};

const EN: Lang = Lang::En;
const HOST_V4: &str = "203.0.113.5";
const NOW: i64 = 1_760_000_000;

fn at(offset_ms: i64) -> TimeSample {
    let local = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    TimeSample {
        remote: local - time::Duration::milliseconds(offset_ms),
        local,
    }
}

fn target(mode: Mode) -> Target {
    Target {
        mode,
        paths: Paths::new("/etc/matrixbox/matrixbox.yaml", "/var/lib/matrixbox"),
        names: vec!["matrix.example.net.cn".into()],
        listen: vec![
            ("http", "0.0.0.0:80".parse().unwrap()),
            ("https", "0.0.0.0:443".parse().unwrap()),
        ],
        turn_tcp: vec![],
        turn_udp: vec![],
        turn_relay: None,
        acme: AcmeTarget::Directory {
            url: "https://acme.test/dir".into(),
            ca_root: None,
        },
        images: vec![vec!["postgres:15".into()]],
        public_address: None,
        memory_mb: None,
        upstream: None,
    }
}

/// A host on which every check passes; each test spoils one fact.
fn healthy() -> Facts {
    let engine_time = at(0);
    Facts {
        os: "Linux".into(),
        kernel: "6.1.0-18-amd64".into(),
        arch: "x86_64".into(),
        cpuinfo: Ok("processor\t: 0\nflags\t\t: fpu vme sse sse2 ssse3 sse4_1 avx\n".into()),
        cpus: Ok(2),
        memory_mb: Some(3900),
        os_release: OsRelease {
            id: "debian".into(),
            id_like: vec![],
        },
        uid: 0,
        user: "root".into(),
        cap_eff: Some(0x1ff_ffff_ffff),
        unprivileged_port_start: 1024,
        exe: "/usr/bin/matrixbox".into(),
        self_pid: 4000,
        docker: DockerFacts {
            host: "unix:///var/run/docker.sock".into(),
            socket: Some((PathBuf::from("/var/run/docker.sock"), SocketState::Open)),
            dockerd_installed: true,
            engine: Ok(EngineFacts {
                version: "20.10.24+dfsg1".into(),
                api: "1.41".into(),
                storage_driver: Some("overlay2".into()),
                data_root: Some("/var/lib/docker".into()),
                time: Some(engine_time),
                images: vec![("postgres:15".into(), true)],
            }),
        },
        disks: vec![
            Disk {
                role: DiskRole::State,
                path: "/var/lib/matrixbox".into(),
                space: Ok(Space {
                    free_bytes: 40 << 30,
                    dev: 1,
                }),
            },
            Disk {
                role: DiskRole::DockerRoot,
                path: "/var/lib/docker".into(),
                space: Ok(Space {
                    free_bytes: 40 << 30,
                    dev: 1,
                }),
            },
        ],
        ports: Ok(vec![
            Port {
                role: "http",
                addr: "0.0.0.0:80".parse().unwrap(),
                holder: Holder::Free,
            },
            Port {
                role: "https",
                addr: "0.0.0.0:443".parse().unwrap(),
                holder: Holder::Free,
            },
        ]),
        turn_ports: Ok((vec![], vec![])),
        local_addrs: vec![
            "127.0.0.1".parse().unwrap(),
            HOST_V4.parse().unwrap(),
            "172.17.0.1".parse().unwrap(),
        ],
        dns: Ok(vec![NameLookup {
            name: "matrix.example.net.cn".into(),
            result: Ok(Resolved {
                cnames: vec![],
                addrs: vec![HOST_V4.parse().unwrap()],
            }),
        }]),
        acme: AcmeFacts::Directory(Probe {
            url: "https://acme.test/dir".into(),
            result: Ok(Answer {
                status: 200,
                date: Some(at(300)),
            }),
        }),
        registries: vec![Registry {
            host: "docker.io".into(),
            images: vec!["postgres:15".into()],
            probe: None,
        }],
        installation: Installation {
            state_dir: "/var/lib/matrixbox".into(),
            secrets_dir: "/var/lib/matrixbox/secrets".into(),
            secrets: false,
            config_path: "/etc/matrixbox/matrixbox.yaml".into(),
            config: ConfigState::Missing,
        },
    }
}

fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {checks:#?}"))
}

#[test]
fn a_healthy_host_passes_everything_in_both_languages() {
    for lang in [Lang::En, Lang::ZhCn] {
        let checks = evaluate(&healthy(), &target(Mode::Setup), lang);
        for c in &checks {
            assert_eq!(c.status, Status::Pass, "{c:#?}");
            assert!(
                c.remedy.is_none() && !c.evidence.is_empty() && !c.evidence.contains('\n'),
                "{c:#?}"
            );
        }
        assert_eq!(checks.len(), 15, "{checks:#?}");
    }
}

#[test]
fn only_blocking_failures_make_the_host_not_ready() {
    let mut f = healthy();
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme.test/dir".into(),
        result: Err("timed out".into()),
    });
    f.memory_mb = Some(1500);
    let report = crate::preflight::Report::new(EN, evaluate(&f, &target(Mode::Setup), EN));
    assert!(report.ready, "warnings alone do not stop setup");
    if let Ok(ports) = &mut f.ports {
        ports[1].holder = Holder::Process {
            pid: 812,
            comm: "nginx".into(),
        };
    }
    let checks = evaluate(&f, &target(Mode::Setup), EN);
    assert_eq!(find(&checks, "port-https").status, Status::Fail);
    assert_eq!(find(&checks, "memory").status, Status::Warn);
    let report = crate::preflight::Report::new(EN, checks);
    assert!(!report.ready);
    assert_eq!(
        report.stopping().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["port-https"]
    );
}

#[test]
fn os_and_arch() {
    let mut f = healthy();
    f.os = "FreeBSD".into();
    f.arch = "riscv64".into();
    let (os, arch) = (os(&f, EN), arch(&f, EN));
    assert_eq!((os.status, os.blocking), (Status::Fail, true));
    assert!(os.evidence.contains("FreeBSD"));
    assert_eq!(arch.status, Status::Fail);
    assert!(arch.evidence.contains("riscv64") && arch.remedy.unwrap().contains("aarch64"));
    f.arch = "aarch64".into();
    assert_eq!(super::arch(&f, EN).status, Status::Pass);
}

#[test]
fn cpu_without_ssse3_fails_and_other_arches_need_none() {
    let mut f = healthy();
    f.cpuinfo = Ok(
        "processor\t: 0\nflags\t\t: fpu vme sse sse2 pni\nprocessor\t: 1\nflags\t\t: fpu sse2\n"
            .into(),
    );
    let c = cpu_features(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(c.evidence.contains("SSSE3") && c.remedy.unwrap().contains("host"));
    f.cpuinfo = Err("permission denied".into());
    assert_eq!(cpu_features(&f, EN).status, Status::Warn);
    f.arch = "aarch64".into();
    assert_eq!(cpu_features(&f, EN).status, Status::Pass);
    assert!(
        !has_cpu_flag("flags : sse3 ssse3x", "ssse3"),
        "whole words only"
    );
}

#[test]
fn cpu_count() {
    let mut f = healthy();
    f.cpus = Ok(1);
    assert_eq!(cpus(&f, EN).status, Status::Pass);
    f.cpus = Ok(0);
    assert_eq!(cpus(&f, EN).status, Status::Fail);
    f.cpus = Err("sched_getaffinity failed".into());
    assert_eq!(cpus(&f, EN).status, Status::Warn);
}

#[test]
fn memory_thresholds_and_the_low_memory_profile() {
    let t = target(Mode::Setup);
    let mut f = healthy();
    f.memory_mb = Some(512);
    let c = memory(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(c.evidence.contains("512 MiB"), "{c:?}");
    // A "1 GB" VPS: runs, with the profile named exactly as `run` will apply it.
    f.memory_mb = Some(992);
    let c = memory(&f, &t, EN);
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.evidence.contains("low-memory profile") && c.evidence.contains("shared_buffers 124MB"),
        "{c:?}"
    );
    assert!(
        c.evidence.contains("max_connections 30") && c.evidence.contains("cache factor 0.5"),
        "{c:?}"
    );
    let zh = memory(&f, &t, Lang::ZhCn);
    assert!(zh.evidence.contains("低内存配置"), "{zh:?}");
    // memory_mb in the config overrides the host's amount: say the profile will not apply.
    let big = Target {
        memory_mb: Some(4096),
        ..target(Mode::Setup)
    };
    let c = memory(&f, &big, EN);
    assert_eq!(c.status, Status::Warn);
    assert!(c.evidence.contains("memory_mb: 4096"), "{c:?}");
    f.memory_mb = None;
    assert_eq!(memory(&f, &t, EN).status, Status::Warn);
}

#[test]
fn disk_space_is_judged_per_filesystem() {
    let mut f = healthy();
    let c = disk(&f, EN);
    assert_eq!(
        c.evidence,
        "state /var/lib/matrixbox: 40.0 GiB free; Docker data root /var/lib/docker: same filesystem"
    );
    f.disks[1].space = Ok(Space {
        free_bytes: 2 << 30,
        dev: 2,
    });
    let c = disk(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(
        c.remedy.as_deref().unwrap().contains("/var/lib/docker")
            && c.remedy.unwrap().contains("5.0 GiB")
    );
    // An existing installation is not refused on a filling disk; it is warned.
    f.installation.secrets = true;
    assert_eq!(disk(&f, EN).status, Status::Warn);
    let mut f = healthy();
    f.disks[0].space = Err("/var: permission denied".into());
    assert_eq!(disk(&f, EN).status, Status::Warn);
}

#[test]
fn privileges_need_the_bind_capability_and_the_docker_socket() {
    let t = target(Mode::Setup);
    let mut f = healthy();
    f.uid = 1000;
    f.user = "alice".into();
    f.cap_eff = Some(0);
    let c = privileges(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert_eq!(
        c.evidence,
        "uid 1000 without CAP_NET_BIND_SERVICE cannot listen on port 80"
    );
    assert!(
        c.remedy
            .unwrap()
            .contains("setcap cap_net_bind_service=+ep /usr/bin/matrixbox")
    );
    f.cap_eff = Some(1 << 10);
    assert_eq!(privileges(&f, &t, EN).status, Status::Pass);
    f.docker.socket = Some(("/var/run/docker.sock".into(), SocketState::Denied));
    let c = privileges(&f, &t, EN);
    assert_eq!(c.status, Status::Fail);
    assert!(c.remedy.unwrap().contains("usermod -aG docker alice"));
    // High ports need nothing, whatever the capabilities.
    let mut f = healthy();
    f.uid = 1000;
    f.cap_eff = Some(0);
    let high = Target {
        listen: vec![("https", "127.0.0.1:8443".parse().unwrap())],
        ..target(Mode::Setup)
    };
    assert_eq!(privileges(&f, &high, EN).status, Status::Pass);
    f.unprivileged_port_start = 0;
    assert_eq!(
        privileges(&f, &t, EN).status,
        Status::Pass,
        "ip_unprivileged_port_start=0 lifts the rule"
    );
}

#[test]
fn engine_versions() {
    assert_eq!(parse_version("20.10.24+dfsg1"), Some((20, 10, 24)));
    assert_eq!(parse_version("17.03.0-ce"), Some((17, 3, 0)));
    assert_eq!(parse_version("28.1"), Some((28, 1, 0)));
    assert!(!engine_too_old("20.10.24+dfsg1", "1.41"));
    assert!(!engine_too_old("26.1.5", "1.45"));
    assert!(engine_too_old("20.10.13", "1.41"));
    assert!(engine_too_old("19.03.13", "1.40"));
    assert!(engine_too_old("17.03.0-ce", "1.26"));
}

#[test]
fn docker_states() {
    let mut f = healthy();
    let c = docker(&f, &target(Mode::Setup), EN);
    assert_eq!(
        c.evidence,
        "Docker 20.10.24+dfsg1 (API 1.41) at unix:///var/run/docker.sock, storage driver overlay2"
    );
    if let Ok(e) = &mut f.docker.engine {
        e.version = "17.03.0-ce".into();
        e.api = "1.26".into();
    }
    let c = docker(&f, &target(Mode::Setup), EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(
        c.evidence.contains("too old")
            && c.evidence.contains("API 1.26")
            && c.evidence.contains("20.10.14"),
        "{c:?}"
    );
    let mut f = healthy();
    if let Ok(e) = &mut f.docker.engine {
        e.storage_driver = Some("vfs".into());
    }
    assert_eq!(docker(&f, &target(Mode::Setup), EN).status, Status::Warn);
    // Not installed: the exact package for this distribution.
    let mut f = healthy();
    f.docker.engine = Err("No such file or directory".into());
    f.docker.socket = Some(("/var/run/docker.sock".into(), SocketState::Missing));
    f.docker.dockerd_installed = false;
    let c = docker(&f, &target(Mode::Setup), EN);
    assert!(c.evidence.contains("not installed"), "{c:?}");
    assert_eq!(
        c.remedy.as_deref(),
        Some("install it: `apt install docker.io`, then `systemctl enable --now docker`")
    );
    f.os_release = OsRelease {
        id: "fedora".into(),
        id_like: vec![],
    };
    assert!(
        docker(&f, &target(Mode::Setup), EN)
            .remedy
            .unwrap()
            .contains("`dnf install moby-engine`")
    );
    // Installed but stopped.
    f.docker.dockerd_installed = true;
    let c = docker(&f, &target(Mode::Setup), EN);
    assert!(
        c.evidence
            .starts_with("cannot reach the Docker engine at unix:///var/run/docker.sock"),
        "{c:?}"
    );
    assert!(c.remedy.unwrap().contains("systemctl enable --now docker"));
}

#[test]
fn an_external_upstream_needs_no_docker() {
    let mut f = healthy();
    f.docker.engine = Err("Socket not found: /var/run/docker.sock".into());
    f.docker.socket = Some(("/var/run/docker.sock".into(), SocketState::Denied));
    let t = Target {
        upstream: Some("http://127.0.0.1:8008/".into()),
        ..target(Mode::Run)
    };
    for c in [
        docker(&f, &t, EN),
        registry(&f, &t, EN),
        privileges(&f, &t, EN),
    ] {
        assert_eq!(c.status, Status::Pass, "{c:?}");
    }
    assert!(
        docker(&f, &t, EN)
            .evidence
            .contains("http://127.0.0.1:8008/")
    );
}

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

fn lookup(name: &str, cnames: &[&str], addrs: &[&str]) -> NameLookup {
    NameLookup {
        name: name.into(),
        result: Ok(Resolved {
            cnames: cnames.iter().map(|c| c.to_string()).collect(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }),
    }
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
fn clock_skew() {
    let mut f = healthy();
    let t = target(Mode::Setup);
    assert_eq!(
        clock(&f, &t, EN).evidence,
        "in step with the Docker engine (+0.0 s), acme.test (+0.3 s)"
    );
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme.test/dir".into(),
        result: Ok(Answer {
            status: 200,
            date: Some(at(-12_000)),
        }),
    });
    let c = clock(&f, &t, EN);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.evidence, "this host's clock is 12.0 s behind acme.test");
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme.test/dir".into(),
        result: Ok(Answer {
            status: 200,
            date: Some(at(120_000)),
        }),
    });
    let c = clock(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(
        c.evidence.starts_with(
            "this host's clock is 120.0 s ahead of acme.test; certificate issuance fails"
        ),
        "{c:?}"
    );
    assert!(c.remedy.unwrap().contains("timedatectl set-ntp true"));
    assert!(!clock(&f, &target(Mode::Run), EN).blocking);
    f.acme = AcmeFacts::Internal;
    f.docker.engine = Err("down".into());
    assert_eq!(
        clock(&f, &t, EN).status,
        Status::Warn,
        "nothing to compare with"
    );
}

#[test]
fn outbound_reachability_only_warns() {
    let mut f = healthy();
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme-v02.api.letsencrypt.org/directory".into(),
        result: Err("dns error".into()),
    });
    let c = acme(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Warn, false));
    assert_eq!(
        c.evidence,
        "cannot reach acme-v02.api.letsencrypt.org: dns error"
    );
    f.registries = vec![Registry {
        host: "docker.io".into(),
        images: vec!["postgres:15".into(), "matrixdotorg/synapse:v1".into()],
        probe: Some(Probe {
            url: "https://registry-1.docker.io/v2/".into(),
            result: Err("timed out".into()),
        }),
    }];
    let mut t = target(Mode::Setup);
    t.images = vec![
        vec!["postgres:15".into()],
        vec!["matrixdotorg/synapse:v1".into()],
    ];
    if let Ok(engine) = &mut f.docker.engine {
        engine.images = vec![("postgres:15".into(), false)];
    }
    let c = registry(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Warn, false));
    let fix = c.remedy.unwrap();
    assert!(
        fix.contains("registry_mirror")
            && fix.contains("matrixbox images export images.tar")
            && fix.contains("matrixbox images import images.tar")
            && fix.contains("needed: postgres:15 matrixdotorg/synapse:v1"),
        "{fix}"
    );
    f.registries[0].host = "mirror.local:5000".into();
    t.images = vec![vec!["mirror.local:5000/postgres:15".into()]];
    f.registries[0].images = t.images[0].clone();
    assert!(
        registry(&f, &t, EN)
            .remedy
            .unwrap()
            .contains("make one of mirror.local:5000 reachable")
    );
    f.registries[0].probe = Some(Probe {
        url: "https://mirror.local:5000/v2/".into(),
        result: Ok(Answer {
            status: 401,
            date: None,
        }),
    });
    assert_eq!(
        registry(&f, &t, EN).evidence,
        "mirror.local:5000 answers (HTTP 401)"
    );
}

/// Two mirrors, tried in order: preflight says which answers, and passes while one does.
#[test]
fn each_mirror_is_checked_and_one_answering_is_enough() {
    let mut f = healthy();
    let mirror = |host: &str, result: Result<Answer, String>| Registry {
        host: host.into(),
        images: vec![format!("{host}/postgres:15")],
        probe: Some(Probe {
            url: format!("https://{host}/v2/"),
            result,
        }),
    };
    let answer = Ok(Answer {
        status: 200,
        date: None,
    });
    f.registries = vec![
        mirror("dead.example", Err("connection refused".into())),
        mirror("live.example", answer),
    ];
    let mut t = target(Mode::Setup);
    t.images = vec![vec![
        "dead.example/postgres:15".into(),
        "live.example/postgres:15".into(),
    ]];
    for (lang, expected) in [
        (
            EN,
            "cannot reach dead.example: connection refused; live.example answers (HTTP 200)",
        ),
        (
            Lang::ZhCn,
            "无法访问 dead.example：connection refused；live.example 可访问（HTTP 200）",
        ),
    ] {
        let c = registry(&f, &t, lang);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.evidence.replace("; ", "；"), expected.replace("; ", "；"));
    }
    f.registries[1].probe.as_mut().unwrap().result = Err("timed out".into());
    let c = registry(&f, &t, EN);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(
        c.evidence,
        "cannot reach dead.example: connection refused; cannot reach live.example: timed out"
    );
    let fix = c.remedy.unwrap();
    assert!(
        fix.contains("make one of dead.example, live.example reachable"),
        "{fix}"
    );
    assert!(
        registry(&f, &t, Lang::ZhCn)
            .remedy
            .unwrap()
            .contains("matrixbox images import images.tar")
    );
}

#[test]
fn existing_installation() {
    let mut f = healthy();
    assert_eq!(
        installation(&f, EN).evidence,
        "none in /var/lib/matrixbox: this is a fresh installation"
    );
    f.installation.secrets = true;
    f.installation.config = ConfigState::Loads {
        domain: "m.org".into(),
    };
    assert!(installation(&f, EN).evidence.contains("(m.org)"));
    f.installation.config =
        ConfigState::Invalid("/etc/matrixbox/matrixbox.yaml has 1 problem".into());
    let c = installation(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Warn, false));
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

/// A host where most checks find something wrong, for the snapshot of every kind of line.
fn troubled() -> Facts {
    let mut f = healthy();
    f.cpuinfo = Ok("processor\t: 0\nflags\t\t: fpu vme sse sse2\n".into());
    f.memory_mb = Some(1500);
    f.uid = 1000;
    f.user = "alice".into();
    f.cap_eff = Some(0);
    f.docker.engine = Ok(EngineFacts {
        version: "19.03.13".into(),
        api: "1.40".into(),
        storage_driver: Some("vfs".into()),
        data_root: Some("/var/lib/docker".into()),
        time: Some(at(40_000)),
        images: vec![("postgres:15".into(), false)],
    });
    f.disks[0].space = Ok(Space {
        free_bytes: 2 << 30,
        dev: 1,
    });
    if let Ok(ports) = &mut f.ports {
        ports[1].holder = Holder::Process {
            pid: 812,
            comm: "nginx".into(),
        };
    }
    f.dns = Ok(vec![lookup(
        "matrix.example.net.cn",
        &["edge.example.net.cn"],
        &["198.51.100.7"],
    )]);
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme.test/dir".into(),
        result: Err("no answer within 5s".into()),
    });
    f.registries[0].probe = Some(Probe {
        url: "https://registry-1.docker.io/v2/".into(),
        result: Err("connection refused".into()),
    });
    f.installation.config =
        ConfigState::Invalid("/etc/matrixbox/matrixbox.yaml has 1 problem".into());
    f
}

/// Every line the report prints, in both languages, held against tests/golden: the words,
/// the alignment by display width and the JSON must not change unless meant to.
#[test]
fn reports_match_their_golden_text_in_both_languages() {
    for lang in [Lang::En, Lang::ZhCn] {
        let mut out = String::new();
        for (facts, mode) in [(healthy(), Mode::Setup), (troubled(), Mode::Setup)] {
            let t = target(mode);
            let report = crate::preflight::Report::new(lang, evaluate(&facts, &t, lang));
            out.push_str(&crate::preflight::render::text(&report, &t.names));
            out.push_str("--- problems\n");
            out.push_str(&crate::preflight::render::problems(&report));
            out.push_str("--- json\n");
            out.push_str(&serde_json::to_string_pretty(&report).unwrap());
            out.push_str("\n===\n");
        }
        crate::golden::assert_golden(&format!("preflight.{}.txt", lang.code()), &out);
    }
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
