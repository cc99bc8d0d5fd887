//! The decisions: each check is a pure function of gathered facts and the target, giving
//! pass / warn / fail with one line of evidence and, when something is wrong, the remedy.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::facts::{
    AcmeFacts, ConfigState, DiskRole, Facts, Holder, NameLookup, OsRelease, Port, Probe, Registry,
    Resolved, ResolverError, SocketState, TimeSample,
};
use super::i18n::{Lang, M};
use super::{Check, Mode, Status, Target};
use crate::config;
use crate::docker::engine::{MIN_API, parse_api};
use crate::tuning::{self, LOW_MEMORY_MB};

/// The oldest engine matrixbox supports: Docker 20.10.14, with API 1.41.
pub const MIN_ENGINE_VERSION: (u32, u32, u32) = (20, 10, 14);
/// A "1 GB" VPS reports 950-1000 MiB of MemTotal (the kernel keeps some), so the floor sits below.
pub const MIN_MEMORY_MB: u64 = 900;
/// Images (~1.5 GiB), the database and media need room to grow.
pub const MIN_FREE_BYTES: u64 = 5 << 30;
pub const CLOCK_WARN: Duration = Duration::from_secs(5);
pub const CLOCK_FAIL: Duration = Duration::from_secs(30);
const CAP_NET_BIND_SERVICE: u32 = 10;

pub fn evaluate(f: &Facts, t: &Target, l: Lang) -> Vec<Check> {
    let mut checks = vec![
        os(f, l),
        arch(f, l),
        cpu_features(f, l),
        cpus(f, l),
        memory(f, t, l),
        disk(f, l),
        privileges(f, t, l),
        docker(f, t, l),
    ];
    checks.extend(ports(f, t, l));
    checks.extend(dns(f, t, l));
    checks.push(clock(f, t, l));
    checks.push(acme(f, l));
    checks.push(registry(f, t, l));
    checks.push(installation(f, l));
    checks
}

fn check(
    id: &str,
    title: String,
    status: Status,
    evidence: String,
    remedy: Option<String>,
    blocking: bool,
) -> Check {
    // Messages from the outside (engine, resolver) may span lines; a check reads as one line.
    let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    Check {
        id: id.to_string(),
        title,
        status,
        evidence: one_line(evidence),
        remedy: remedy.map(one_line),
        blocking,
    }
}

/// Network-facing problems (DNS, clock) stop `setup` but not `run`: after a reboot the network
/// may come up late, and a homeserver that is down helps nobody.
fn network_blocking(mode: Mode) -> bool {
    mode != Mode::Run
}

pub fn os(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleOs, &[]);
    if f.os == "Linux" {
        check(
            "os",
            title,
            Status::Pass,
            l.t(M::OsLinux, &[&f.kernel]),
            None,
            true,
        )
    } else {
        check(
            "os",
            title,
            Status::Fail,
            l.t(M::OsOther, &[&f.os]),
            Some(l.t(M::OsOtherFix, &[])),
            true,
        )
    }
}

pub fn arch(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleArch, &[]);
    match f.arch.as_str() {
        "x86_64" | "aarch64" => check(
            "arch",
            title,
            Status::Pass,
            l.t(M::ArchOk, &[&f.arch]),
            None,
            true,
        ),
        other => check(
            "arch",
            title,
            Status::Fail,
            l.t(M::ArchOther, &[&other]),
            Some(l.t(M::ArchOtherFix, &[])),
            true,
        ),
    }
}

/// Whether a `flags` line of /proc/cpuinfo lists `flag`.
pub fn has_cpu_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| {
            line.split_once(':')
                .is_some_and(|(_, flags)| flags.split_whitespace().any(|f| f == flag))
        })
}

pub fn cpu_features(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleCpuFeatures, &[]);
    if f.arch != "x86_64" {
        return check(
            "cpu-features",
            title,
            Status::Pass,
            l.t(M::Ssse3NotNeeded, &[&f.arch]),
            None,
            true,
        );
    }
    match &f.cpuinfo {
        Ok(text) if has_cpu_flag(text, "ssse3") => check(
            "cpu-features",
            title,
            Status::Pass,
            l.t(M::Ssse3Ok, &[]),
            None,
            true,
        ),
        Ok(_) => check(
            "cpu-features",
            title,
            Status::Fail,
            l.t(M::Ssse3Missing, &[]),
            Some(l.t(M::Ssse3MissingFix, &[])),
            true,
        ),
        Err(e) => check(
            "cpu-features",
            title,
            Status::Warn,
            l.t(M::Ssse3Unknown, &[e]),
            Some(l.t(M::Ssse3UnknownFix, &[])),
            true,
        ),
    }
}

pub fn cpus(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleCpus, &[]);
    match f.cpus {
        Ok(0) => check(
            "cpus",
            title,
            Status::Fail,
            l.t(M::CpusNone, &[]),
            Some(l.t(M::CpusNoneFix, &[])),
            true,
        ),
        Ok(n) => check(
            "cpus",
            title,
            Status::Pass,
            l.t(M::CpusOk, &[&n]),
            None,
            true,
        ),
        Err(ref e) => check(
            "cpus",
            title,
            Status::Warn,
            l.t(M::CpusUnknown, &[e]),
            Some(l.t(M::CpusUnknownFix, &[])),
            true,
        ),
    }
}

pub fn memory(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleMemory, &[]);
    let Some(mb) = f.memory_mb else {
        return check(
            "memory",
            title,
            Status::Warn,
            l.t(M::MemUnknown, &[]),
            Some(l.t(M::MemUnknownFix, &[])),
            true,
        );
    };
    let amount = mebibytes(mb);
    if mb < MIN_MEMORY_MB {
        return check(
            "memory",
            title,
            Status::Fail,
            l.t(M::MemTooLow, &[&amount]),
            Some(l.t(M::MemTooLowFix, &[])),
            true,
        );
    }
    if mb >= LOW_MEMORY_MB {
        return check(
            "memory",
            title,
            Status::Pass,
            l.t(M::MemOk, &[&amount]),
            None,
            true,
        );
    }
    // Say exactly what `run` will apply: the same tuning function, on the same input.
    let profile = tuning::for_memory(t.memory_mb.unwrap_or(mb));
    if !profile.low_memory {
        let configured = t.memory_mb.unwrap_or(mb);
        return check(
            "memory",
            title,
            Status::Warn,
            l.t(M::MemConfigured, &[&amount, &configured]),
            Some(l.t(M::MemConfiguredFix, &[])),
            true,
        );
    }
    let setting = |name: &str| {
        profile
            .postgres
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    check(
        "memory",
        title,
        Status::Warn,
        l.t(
            M::MemLow,
            &[
                &amount,
                &setting("shared_buffers"),
                &setting("max_connections"),
                &profile.synapse_cache_factor,
            ],
        ),
        Some(l.t(M::MemLowFix, &[&mebibytes(LOW_MEMORY_MB)])),
        true,
    )
}

fn mebibytes(mb: u64) -> String {
    if mb >= 1024 {
        format!("{:.1} GiB", mb as f64 / 1024.0)
    } else {
        format!("{mb} MiB")
    }
}

fn gibibytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

pub fn disk(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleDisk, &[]);
    let mut parts = Vec::new();
    let mut low = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = Vec::new();
    for d in &f.disks {
        let path = d.path.display();
        let label = match d.role {
            DiskRole::State => l.t(M::DiskState, &[&path]),
            DiskRole::DockerRoot => l.t(M::DiskDockerRoot, &[&path]),
        };
        match &d.space {
            Err(e) => {
                parts.push(l.t(M::DiskUnknown, &[&label, e]));
                unknown.push(path.to_string());
            }
            Ok(space) if seen.contains(&space.dev) => parts.push(l.t(M::DiskSameFs, &[&label])),
            Ok(space) => {
                seen.push(space.dev);
                parts.push(l.t(M::DiskFree, &[&label, &gibibytes(space.free_bytes)]));
                if space.free_bytes < MIN_FREE_BYTES {
                    low.push(path.to_string());
                }
            }
        }
    }
    let evidence = parts.join("; ");
    if !low.is_empty() {
        // An installation that exists keeps running on a filling disk rather than refusing to.
        let status = if f.installation.secrets {
            Status::Warn
        } else {
            Status::Fail
        };
        let remedy = l.t(
            M::DiskLowFix,
            &[&low.join(", "), &gibibytes(MIN_FREE_BYTES)],
        );
        return check("disk", title, status, evidence, Some(remedy), true);
    }
    if let Some(path) = unknown.first() {
        return check(
            "disk",
            title,
            Status::Warn,
            evidence,
            Some(l.t(M::DiskUnknownFix, &[path])),
            true,
        );
    }
    check("disk", title, Status::Pass, evidence, None, true)
}

pub fn privileges(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitlePrivileges, &[]);
    let low_port = t
        .listen
        .iter()
        .map(|(_, a)| a.port())
        .filter(|p| *p < f.unprivileged_port_start)
        .min();
    let may_bind_low = match f.cap_eff {
        Some(caps) => caps & (1 << CAP_NET_BIND_SERVICE) != 0,
        // Without /proc/self/status, root is the best sign there is.
        None => f.uid == 0,
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if let Some(port) = low_port.filter(|_| !may_bind_low) {
        problems.push(l.t(M::PrivNoCap, &[&f.uid, &port]));
        fixes.push(l.t(M::PrivNoCapFix, &[&f.exe]));
    }
    if let Some((path, SocketState::Denied)) = &f.docker.socket
        && t.upstream.is_none()
    {
        problems.push(l.t(M::PrivDockerDenied, &[&f.uid, &path.display()]));
        fixes.push(l.t(M::PrivDockerDeniedFix, &[&f.user]));
    }
    if !problems.is_empty() {
        return check(
            "privileges",
            title,
            Status::Fail,
            problems.join("; "),
            Some(fixes.join("; ")),
            true,
        );
    }
    if f.cap_eff.is_none() && low_port.is_some() {
        return check(
            "privileges",
            title,
            Status::Warn,
            l.t(M::PrivUnknown, &[]),
            Some(l.t(M::PrivUnknownFix, &[])),
            true,
        );
    }
    let evidence = match low_port {
        Some(port) => l.t(M::PrivOk, &[&f.uid, &port]),
        None => l.t(M::PrivNoLowPorts, &[&f.uid, &f.unprivileged_port_start]),
    };
    check("privileges", title, Status::Pass, evidence, None, true)
}

/// The leading `major.minor[.patch]` of an engine version such as `20.10.24+dfsg1` or `17.03.0-ce`.
pub fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let core = version
        .trim_start_matches('v')
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

pub fn engine_too_old(version: &str, api: &str) -> bool {
    let api_old = parse_api(api).is_none_or(|a| a < MIN_API);
    let version_old = parse_version(version).is_some_and(|v| v < MIN_ENGINE_VERSION);
    api_old || version_old
}

/// The command that installs Docker on this distribution, ready to quote.
pub fn install_command(release: &OsRelease, l: Lang) -> String {
    let is = |id: &str| release.id == id || release.id_like.iter().any(|like| like == id);
    let command = if is("debian") || is("ubuntu") {
        "apt install docker.io"
    } else if is("fedora") {
        "dnf install moby-engine"
    } else if is("alpine") {
        "apk add docker"
    } else if is("arch") {
        "pacman -S docker"
    } else {
        return l.t(
            M::DockerInstallGeneric,
            &[&version_text(MIN_ENGINE_VERSION)],
        );
    };
    format!("`{command}`")
}

fn version_text((major, minor, patch): (u32, u32, u32)) -> String {
    format!("{major}.{minor}.{patch}")
}

pub fn docker(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleDocker, &[]);
    if let Some(upstream) = &t.upstream {
        return check(
            "docker",
            title,
            Status::Pass,
            l.t(M::NoContainers, &[upstream]),
            None,
            true,
        );
    }
    let d = &f.docker;
    let install = install_command(&f.os_release, l);
    match &d.engine {
        Ok(e) => {
            let driver = e
                .storage_driver
                .clone()
                .unwrap_or_else(|| l.t(M::Unknown, &[]));
            if engine_too_old(&e.version, &e.api) {
                let min_api = format!("{}.{}", MIN_API.0, MIN_API.1);
                let min = version_text(MIN_ENGINE_VERSION);
                let evidence = l.t(
                    M::DockerTooOld,
                    &[&e.version, &e.api, &d.host, &min, &min_api],
                );
                return check(
                    "docker",
                    title,
                    Status::Fail,
                    evidence,
                    Some(l.t(M::DockerTooOldFix, &[&min, &install])),
                    true,
                );
            }
            // vfs copies whole layers; devicemapper is deprecated and gone from current Docker.
            if matches!(driver.as_str(), "vfs" | "devicemapper") {
                let evidence = l.t(M::DockerSlowDriver, &[&e.version, &e.api, &d.host, &driver]);
                return check(
                    "docker",
                    title,
                    Status::Warn,
                    evidence,
                    Some(l.t(M::DockerSlowDriverFix, &[])),
                    true,
                );
            }
            check(
                "docker",
                title,
                Status::Pass,
                l.t(M::DockerOk, &[&e.version, &e.api, &d.host, &driver]),
                None,
                true,
            )
        }
        Err(error) => {
            let (evidence, remedy) = match &d.socket {
                Some((path, SocketState::Missing)) if !d.dockerd_installed => (
                    l.t(M::DockerNotInstalled, &[&path.display()]),
                    l.t(M::DockerNotInstalledFix, &[&install]),
                ),
                Some((_, SocketState::Denied)) => (
                    l.t(M::DockerUnreachable, &[&d.host, error]),
                    l.t(M::PrivDockerDeniedFix, &[&f.user]),
                ),
                _ => (
                    l.t(M::DockerUnreachable, &[&d.host, error]),
                    l.t(M::DockerUnreachableFix, &[&install]),
                ),
            };
            check("docker", title, Status::Fail, evidence, Some(remedy), true)
        }
    }
}

pub fn ports(f: &Facts, t: &Target, l: Lang) -> Vec<Check> {
    match &f.ports {
        Ok(ports) => ports
            .iter()
            .map(|p| port(p, f.self_pid, t.mode, l))
            .collect(),
        Err(e) => t
            .listen
            .iter()
            .map(|(role, addr)| {
                let title = l.t(M::TitlePort, &[&addr.port(), role]);
                let fix = l.t(M::PortsUnknownFix, &[&addr.port()]);
                check(
                    &format!("port-{role}"),
                    title,
                    Status::Warn,
                    l.t(M::PortsUnknown, &[e]),
                    Some(fix),
                    true,
                )
            })
            .collect(),
    }
}

pub fn port(p: &Port, self_pid: u32, mode: Mode, l: Lang) -> Check {
    let id = format!("port-{}", p.role);
    let number = p.addr.port();
    let title = l.t(M::TitlePort, &[&number, &p.role]);
    let busy = |comm: &str, pid: u32| l.t(M::PortBusy, &[&number, &comm, &pid]);
    match &p.holder {
        Holder::Free => check(&id, title, Status::Pass, l.t(M::PortFree, &[]), None, true),
        Holder::Process { pid, .. } if *pid == self_pid => {
            check(&id, title, Status::Pass, l.t(M::PortSelf, &[]), None, true)
        }
        // The installed service holding its own ports is what `setup` and `preflight` expect to see
        // on a running installation; only a second `run` would collide with it.
        Holder::Process { pid, comm } if comm == "matrixbox" && mode != Mode::Run => check(
            &id,
            title,
            Status::Pass,
            l.t(M::PortService, &[pid]),
            None,
            true,
        ),
        Holder::Process { pid, comm } => {
            let remedy = match comm.as_str() {
                "matrixbox" => l.t(M::PortOtherMatrixboxFix, &[]),
                "docker-proxy" => l.t(M::PortContainerFix, &[&number, &p.role]),
                _ => l.t(M::PortBusyFix, &[comm, &p.role]),
            };
            check(
                &id,
                title,
                Status::Fail,
                busy(comm, *pid),
                Some(remedy),
                true,
            )
        }
        Holder::Hidden => check(
            &id,
            title,
            Status::Fail,
            l.t(M::PortHidden, &[&number]),
            Some(l.t(M::PortHiddenFix, &[&number, &p.role])),
            true,
        ),
    }
}

/// Names no one can own publicly: matrixbox's private names and the documentation domains
/// (RFC 2606). DNS trouble there only means someone is trying matrixbox out.
pub fn is_test_name(name: &str) -> bool {
    config::is_private_name(name)
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| name == *d || name.ends_with(&format!(".{d}")))
}

fn dns_id(index: usize) -> &'static str {
    if index == 0 {
        "dns-domain"
    } else {
        "dns-server-name"
    }
}

pub fn dns(f: &Facts, t: &Target, l: Lang) -> Vec<Check> {
    if t.names.is_empty() {
        return vec![check(
            "dns",
            l.t(M::TitleDns, &[&""]).trim_end().to_string(),
            Status::Warn,
            l.t(M::DnsNoName, &[]),
            Some(l.t(M::DnsNoNameFix, &[])),
            false,
        )];
    }
    let blocking = network_blocking(t.mode);
    t.names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let lookup = match &f.dns {
                Ok(lookups) => lookups.iter().find(|n| &n.name == name).cloned(),
                Err(ResolverError::System(e)) => Some(NameLookup {
                    name: name.clone(),
                    result: Err(e.clone()),
                }),
                Err(ResolverError::BadOverride(value)) => {
                    let title = l.t(M::TitleDns, &[name]);
                    let fix = l.t(M::DnsBadOverrideFix, &[]);
                    return check(
                        dns_id(i),
                        title,
                        Status::Fail,
                        l.t(M::DnsBadOverride, &[value]),
                        Some(fix),
                        blocking,
                    );
                }
            };
            let lookup = lookup.unwrap_or(NameLookup {
                name: name.clone(),
                result: Ok(Resolved::default()),
            });
            name_check(
                dns_id(i),
                &lookup,
                &f.local_addrs,
                t.public_address,
                blocking,
                l,
            )
        })
        .collect()
}

/// `name → CNAME a → CNAME b → 192.0.2.1, 2001:db8::1`
fn chain(name: &str, r: &Resolved) -> String {
    let mut parts = vec![name.to_string()];
    parts.extend(r.cnames.iter().map(|c| format!("CNAME {c}")));
    if !r.addrs.is_empty() {
        parts.push(
            r.addrs
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    parts.join(" → ")
}

pub fn name_check(
    id: &str,
    lookup: &NameLookup,
    local: &[IpAddr],
    public: Option<IpAddr>,
    blocking: bool,
    l: Lang,
) -> Check {
    let name = &lookup.name;
    let title = l.t(M::TitleDns, &[name]);
    let records = suggested_records(name, local, public, l);
    let ours = |ip: &IpAddr| {
        let ip = ip.to_canonical();
        local.iter().any(|a| a.to_canonical() == ip) || public.map(|p| p.to_canonical()) == Some(ip)
    };
    let (status, evidence, remedy) = match &lookup.result {
        Err(e) => (
            Status::Fail,
            l.t(M::DnsError, &[name, e]),
            Some(l.t(M::DnsErrorFix, &[])),
        ),
        Ok(r) if r.addrs.is_empty() => (
            Status::Fail,
            l.t(M::DnsMissing, &[&chain(name, r)]),
            Some(l.t(M::DnsMissingFix, &[&records])),
        ),
        Ok(r) if !r.addrs.iter().all(ours) => {
            let mut fix = l.t(M::DnsElsewhereFix, &[&records]);
            if public.is_none() {
                fix.push_str(&l.t(M::DnsNatHint, &[]));
            }
            (
                Status::Fail,
                l.t(
                    M::DnsElsewhere,
                    &[&chain(name, r), &host_addresses(local, public)],
                ),
                Some(fix),
            )
        }
        Ok(r) if r.addrs.iter().any(IpAddr::is_loopback) && !is_test_name(name) => (
            Status::Warn,
            l.t(M::DnsLoopback, &[&chain(name, r)]),
            Some(l.t(M::DnsLoopbackFix, &[&records])),
        ),
        Ok(r) => (Status::Pass, l.t(M::DnsOk, &[&chain(name, r)]), None),
    };
    if status != Status::Pass && is_test_name(name) {
        return check(
            id,
            title,
            Status::Warn,
            evidence,
            Some(l.t(M::DnsPrivateFix, &[name])),
            blocking,
        );
    }
    check(id, title, status, evidence, remedy, blocking)
}

/// Routable from the internet, as far as the address alone tells.
pub fn is_global(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || shared)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

/// This host's addresses as others would use them: the configured public one, else global ones,
/// else whatever is not loopback.
fn host_addresses(local: &[IpAddr], public: Option<IpAddr>) -> String {
    let mut shown: Vec<IpAddr> = public.into_iter().collect();
    shown.extend(
        local
            .iter()
            .copied()
            .filter(|a| is_global(*a) && Some(*a) != public),
    );
    if shown.is_empty() {
        shown.extend(local.iter().copied().filter(|a| !a.is_loopback()));
    }
    shown
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The DNS records that would point `name` here, in zone-file form.
pub fn suggested_records(name: &str, local: &[IpAddr], public: Option<IpAddr>, l: Lang) -> String {
    let pick = |v4: bool| {
        public.filter(|p| p.is_ipv4() == v4).or_else(|| {
            local
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == v4 && is_global(*a))
        })
    };
    let (v4, v6) = (pick(true), pick(false));
    let mut records = Vec::new();
    match v4 {
        Some(ip) => records.push(format!("`{name}. A {ip}`")),
        None if v6.is_none() => {
            records.push(format!("`{name}. A {}`", l.t(M::AThisHostPublicV4, &[])))
        }
        None => {}
    }
    if let Some(ip) = v6 {
        records.push(format!("`{name}. AAAA {ip}`"));
    }
    records.join(&l.t(M::And, &[]))
}

/// `host[:port]` of a URL, for messages.
fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| url.to_string())
}

/// Seconds this host is ahead (positive) or behind (negative) the other clock.
fn skew(sample: &TimeSample) -> f64 {
    (sample.local - sample.remote).as_seconds_f64()
}

pub fn clock(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleClock, &[]);
    let mut references: Vec<(String, f64)> = Vec::new();
    if let Ok(Some(sample)) = f.docker.engine.as_ref().map(|e| e.time) {
        references.push((l.t(M::TheDockerEngine, &[]), skew(&sample)));
    }
    if let AcmeFacts::Directory(Probe {
        url,
        result: Ok(answer),
    }) = &f.acme
        && let Some(sample) = &answer.date
    {
        references.push((host_of(url), skew(sample)));
    }
    let Some((worst, offset)) = references
        .iter()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .cloned()
    else {
        return check(
            "clock",
            title,
            Status::Warn,
            l.t(M::ClockNoReference, &[]),
            Some(l.t(M::ClockNoReferenceFix, &[])),
            false,
        );
    };
    let off = offset.abs();
    if off <= CLOCK_WARN.as_secs_f64() {
        let list = references
            .iter()
            .map(|(name, s)| format!("{name} ({s:+.1} s)"))
            .collect::<Vec<_>>()
            .join(", ");
        return check(
            "clock",
            title,
            Status::Pass,
            l.t(M::ClockOk, &[&list]),
            None,
            network_blocking(t.mode),
        );
    }
    let amount = format!("{off:.1} s");
    let mut evidence = l.t(
        if offset > 0.0 {
            M::ClockAhead
        } else {
            M::ClockBehind
        },
        &[&amount, &worst],
    );
    let status = if off > CLOCK_FAIL.as_secs_f64() {
        evidence.push_str(&l.t(M::ClockFailNote, &[]));
        Status::Fail
    } else {
        Status::Warn
    };
    check(
        "clock",
        title,
        status,
        evidence,
        Some(l.t(M::ClockFix, &[])),
        network_blocking(t.mode),
    )
}

/// Outbound reachability only ever warns: images may be loaded offline, and ACME retries.
pub fn acme(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleAcme, &[]);
    match &f.acme {
        AcmeFacts::Internal => check(
            "acme",
            title,
            Status::Pass,
            l.t(M::AcmeInternal, &[]),
            None,
            false,
        ),
        AcmeFacts::OwnFiles => check(
            "acme",
            title,
            Status::Pass,
            l.t(M::AcmeOwnFiles, &[]),
            None,
            false,
        ),
        AcmeFacts::Directory(probe) => {
            let host = host_of(&probe.url);
            match &probe.result {
                Ok(answer) => check(
                    "acme",
                    title,
                    Status::Pass,
                    l.t(M::Reachable, &[&host, &answer.status]),
                    None,
                    false,
                ),
                Err(e) => {
                    let fix = l.t(M::AcmeUnreachableFix, &[&host]);
                    check(
                        "acme",
                        title,
                        Status::Warn,
                        l.t(M::Unreachable, &[&host, e]),
                        Some(fix),
                        false,
                    )
                }
            }
        }
    }
}

pub fn registry(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleRegistry, &[]);
    if let Some(upstream) = &t.upstream {
        return check(
            "registry",
            title,
            Status::Pass,
            l.t(M::NoContainers, &[upstream]),
            None,
            false,
        );
    }
    let probed: Vec<(&Registry, &Probe)> = f
        .registries
        .iter()
        .filter_map(|r| r.probe.as_ref().map(|p| (r, p)))
        .collect();
    if probed.is_empty() {
        let images: Vec<&str> = f
            .registries
            .iter()
            .flat_map(|r| r.images.iter().map(String::as_str))
            .collect();
        return check(
            "registry",
            title,
            Status::Pass,
            l.t(M::ImagesPresent, &[&images.join(", ")]),
            None,
            false,
        );
    }
    let failed: Vec<(&Registry, &Probe, &String)> = probed
        .iter()
        .filter_map(|(r, p)| p.result.as_ref().err().map(|e| (*r, *p, e)))
        .collect();
    let Some((first, _, _)) = failed.first() else {
        let evidence = probed
            .iter()
            .filter_map(|(_, p)| {
                p.result
                    .as_ref()
                    .ok()
                    .map(|a| l.t(M::Reachable, &[&host_of(&p.url), &a.status]))
            })
            .collect::<Vec<_>>()
            .join("; ");
        return check("registry", title, Status::Pass, evidence, None, false);
    };
    let evidence = failed
        .iter()
        .map(|(_, p, e)| l.t(M::Unreachable, &[&host_of(&p.url), e]))
        .collect::<Vec<_>>()
        .join("; ");
    let images = first.images.join(" ");
    let remedy = if first.host == super::facts::DOCKER_HUB {
        l.t(M::RegistryHubFix, &[&images])
    } else {
        l.t(M::RegistryOtherFix, &[&images, &first.host])
    };
    check(
        "registry",
        title,
        Status::Warn,
        evidence,
        Some(remedy),
        false,
    )
}

pub fn installation(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleInstallation, &[]);
    let i = &f.installation;
    let show = |p: &Path| p.display().to_string();
    let (status, evidence, remedy) = match (&i.config, i.secrets) {
        (ConfigState::Invalid(e), _) => (
            Status::Warn,
            l.t(M::InstallBadConfig, &[&show(&i.config_path), e]),
            Some(l.t(M::InstallBadConfigFix, &[])),
        ),
        (ConfigState::Missing, false) => (
            Status::Pass,
            l.t(M::InstallNone, &[&show(&i.state_dir)]),
            None,
        ),
        (ConfigState::Missing, true) => (
            Status::Pass,
            l.t(
                M::InstallSecretsOnly,
                &[&show(&i.secrets_dir), &show(&i.config_path)],
            ),
            None,
        ),
        (ConfigState::Loads { domain }, true) => (
            Status::Pass,
            l.t(
                M::InstallFound,
                &[&show(&i.config_path), domain, &show(&i.secrets_dir)],
            ),
            None,
        ),
        (ConfigState::Loads { domain }, false) => (
            Status::Pass,
            l.t(
                M::InstallConfigOnly,
                &[&show(&i.config_path), domain, &show(&i.secrets_dir)],
            ),
            None,
        ),
    };
    check("installation", title, status, evidence, remedy, false)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use time::OffsetDateTime;

    use super::*;
    use crate::paths::Paths;
    use crate::preflight::AcmeTarget;
    use crate::preflight::facts::{Answer, Disk, DockerFacts, EngineFacts, Installation, Space};

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
            acme: AcmeTarget::Directory {
                url: "https://acme.test/dir".into(),
                ca_root: None,
            },
            images: vec!["postgres:15".into()],
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
        f.cpuinfo = Ok("processor\t: 0\nflags\t\t: fpu vme sse sse2 pni\nprocessor\t: 1\nflags\t\t: fpu sse2\n".into());
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
            c.evidence.contains("low-memory profile")
                && c.evidence.contains("shared_buffers 124MB"),
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
        assert!(
            !is_global("100.64.1.1".parse().unwrap()) && !is_global("fd00::2".parse().unwrap())
        );
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
        let c = registry(&f, &target(Mode::Setup), EN);
        assert_eq!((c.status, c.blocking), (Status::Warn, false));
        let fix = c.remedy.unwrap();
        assert!(
            fix.contains("registry_mirror")
                && fix.contains("docker save postgres:15 matrixdotorg/synapse:v1")
                && fix.contains("docker load"),
            "{fix}"
        );
        f.registries[0].host = "mirror.local:5000".into();
        assert!(
            registry(&f, &target(Mode::Setup), EN)
                .remedy
                .unwrap()
                .contains("make mirror.local:5000 reachable")
        );
        f.registries[0].probe = Some(Probe {
            url: "https://mirror.local:5000/v2/".into(),
            result: Ok(Answer {
                status: 401,
                date: None,
            }),
        });
        assert_eq!(
            registry(&f, &target(Mode::Setup), EN).evidence,
            "mirror.local:5000 answers (HTTP 401)"
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
}
