//! The checks' tests, one file per check module; here the shared facts (a healthy host, a
//! troubled one) and what holds across all checks (readiness, the golden reports).

mod docker;
mod host;
mod network;
mod outbound;
mod resources;

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
