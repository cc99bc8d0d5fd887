//! How the world reaches this host: the listen ports are free, and the names point here.

use std::net::IpAddr;

use super::{check, network_blocking};
use crate::config;
use crate::dns::{NameLookup, Resolved, ResolverError};
use crate::i18n::Lang;
use crate::preflight::facts::Facts;
use crate::preflight::messages::M;
use crate::preflight::ports::{Holder, Port};
use crate::preflight::{Check, Mode, Status, Target};

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

/// The TURN relay's ports (only when `turn.enabled`): free, or held by coturn itself.
pub fn turn_ports(f: &Facts, t: &Target, l: Lang) -> Vec<Check> {
    let Some(relay) = t.turn_relay else {
        return vec![];
    };
    let (tcp, udp) = match &f.turn_ports {
        Ok((tcp, udp)) => (tcp.as_slice(), udp.as_slice()),
        Err(e) => {
            let number = t.turn_tcp.first().map_or(0, |(_, a)| a.port());
            return vec![check(
                "port-turn",
                l.t(M::TitleTurnPort, &[&number, &"tcp", &"turn.port"]),
                Status::Warn,
                l.t(M::PortsUnknown, &[e]),
                Some(l.t(M::PortsUnknownFix, &[&number])),
                true,
            )];
        }
    };
    let tagged = tcp
        .iter()
        .map(|p| (p, "tcp"))
        .chain(udp.iter().map(|p| (p, "udp")));
    tagged
        .map(|(p, proto)| {
            let number = p.addr.port();
            let id = format!("port-{}-{proto}", p.role.replace('.', "-"));
            let title = l.t(M::TitleTurnPort, &[&number, &proto, &p.role]);
            match &p.holder {
                Holder::Free => check(
                    &id,
                    title,
                    Status::Pass,
                    l.t(M::TurnPortFree, &[&relay.0, &relay.1]),
                    None,
                    true,
                ),
                Holder::Process { pid, comm } if comm == "turnserver" => check(
                    &id,
                    title,
                    Status::Pass,
                    l.t(M::TurnPortCoturn, &[pid]),
                    None,
                    true,
                ),
                Holder::Process { pid, comm } => check(
                    &id,
                    title,
                    Status::Fail,
                    l.t(M::PortBusy, &[&number, comm, pid]),
                    Some(l.t(M::TurnPortBusyFix, &[&p.role])),
                    true,
                ),
                Holder::Hidden => check(
                    &id,
                    title,
                    Status::Fail,
                    l.t(M::PortHidden, &[&number]),
                    Some(l.t(M::TurnPortHiddenFix, &[&number, &p.role])),
                    true,
                ),
            }
        })
        .collect()
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
