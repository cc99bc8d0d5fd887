//! The servers on `federation.allow`, as this server's Synapse would dial them: found through its
//! resolvers, and not on an address its default blocklist refuses unless `private_networks`
//! opens it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::step;
use crate::doctor::messages::M;
use crate::doctor::{Peers, Status, Step};
use crate::i18n::Lang;
use crate::synapse::PRIVATE_RANGES;

/// Whether Synapse's federation refuses `addr`: in its default blocklist and not in
/// `federation.private_networks` (its `ip_range_whitelist`).
pub fn refused(addr: IpAddr, private_networks: &[IpNet]) -> bool {
    let blocked = PRIVATE_RANGES
        .iter()
        .filter_map(|r| r.parse::<IpNet>().ok())
        .any(|r| r.contains(&addr));
    blocked && !private_networks.iter().any(|n| n.contains(&addr))
}

/// The range to suggest for `addr`: its /24 (IPv4) or /64 (IPv6).
fn suggested_range(addr: IpAddr) -> IpNet {
    let prefix = if addr.is_ipv4() { 24 } else { 64 };
    IpNet::new(addr, prefix).expect("prefix fits").trunc()
}

pub fn peers(p: &Peers, l: Lang) -> Step {
    let title = l.t(M::TitlePeers, &[]);
    let resolvers = if p.resolvers.is_empty() {
        l.t(M::ResolversHost, &[])
    } else {
        (p.resolvers.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lookups = match &p.lookups {
        Ok(lookups) => lookups,
        Err(e) => {
            return step(
                "peers",
                title,
                Status::Fail,
                l.t(M::PeerResolverFailed, &[&resolvers, e]),
                None,
            );
        }
    };
    let mut parts = Vec::new();
    let (mut blocked, mut unresolved) = (None, None);
    for lookup in lookups {
        let addrs = lookup.result.as_ref().map(|r| r.addrs.as_slice());
        match addrs {
            Ok(addrs) if !addrs.is_empty() => {
                let shown = (addrs.iter().map(ToString::to_string))
                    .collect::<Vec<_>>()
                    .join(", ");
                match addrs.iter().find(|a| refused(**a, &p.private_networks)) {
                    Some(addr) => {
                        parts.push(l.t(M::PeerBlocked, &[&lookup.name, &addr.to_string()]));
                        blocked.get_or_insert((lookup.name.clone(), *addr));
                    }
                    None => parts.push(l.t(M::PeerOk, &[&lookup.name, &shown])),
                }
            }
            _ => {
                parts.push(l.t(M::PeerUnresolved, &[&lookup.name, &resolvers]));
                unresolved.get_or_insert(lookup.name.clone());
            }
        }
    }
    let evidence = parts.join("; ");
    match (blocked, unresolved) {
        (Some((name, addr)), _) => step(
            "peers",
            title,
            Status::Fail,
            evidence,
            Some(l.t(
                M::PeerBlockedFix,
                &[&name, &suggested_range(addr).to_string()],
            )),
        ),
        // The other server's DNS may be down for a while: worth a look, not a failure here.
        (None, Some(name)) => step(
            "peers",
            title,
            Status::Warn,
            evidence,
            Some(l.t(M::PeerUnresolvedFix, &[&resolvers, &name])),
        ),
        (None, None) => step("peers", title, Status::Pass, evidence, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{NameLookup, Resolved};

    fn found(name: &str, addrs: &[&str]) -> NameLookup {
        NameLookup {
            name: name.into(),
            result: Ok(Resolved {
                cnames: vec![],
                addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            }),
        }
    }

    fn peers_of(lookups: Vec<NameLookup>, private: &[&str], resolvers: &[&str]) -> Peers {
        Peers {
            lookups: Ok(lookups),
            resolvers: resolvers.iter().map(|r| r.parse().unwrap()).collect(),
            private_networks: private.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn synapse_refuses_private_addresses_unless_their_range_is_listed() {
        let private: Vec<IpNet> = vec!["10.20.0.0/16".parse().unwrap()];
        for (addr, want) in [
            ("10.20.3.4", false),
            ("10.21.3.4", true),
            ("192.168.1.1", true),
            ("127.0.0.1", true),
            ("fd00::1", true),
            ("203.0.113.9", true),
            ("8.8.8.8", false),
            ("2a00:1450::1", false),
        ] {
            assert_eq!(refused(addr.parse().unwrap(), &private), want, "{addr}");
        }
    }

    #[test]
    fn each_peer_is_judged_and_the_worst_decides() {
        let ok = peers(
            &peers_of(vec![found("b.lan", &["10.20.0.2"])], &["10.20.0.0/16"], &[]),
            Lang::En,
        );
        assert_eq!(ok.status, Status::Pass);
        assert_eq!(ok.evidence, "b.lan → 10.20.0.2");

        let missing = NameLookup {
            name: "c.lan".into(),
            result: Ok(Resolved::default()),
        };
        let warn = peers(
            &peers_of(
                vec![found("b.lan", &["10.20.0.2"]), missing.clone()],
                &["10.20.0.0/16"],
                &["10.0.0.53"],
            ),
            Lang::En,
        );
        assert_eq!(warn.status, Status::Warn);
        assert!(
            warn.evidence
                .contains("c.lan does not resolve through 10.0.0.53")
        );
        assert!(warn.remedy.unwrap().contains("federation.dns_servers"));

        let blocked = peers(
            &peers_of(vec![missing, found("b.lan", &["10.30.1.2"])], &[], &[]),
            Lang::En,
        );
        assert_eq!(blocked.status, Status::Fail);
        assert!(blocked.remedy.unwrap().contains("`10.30.1.0/24`"));

        let broken = Peers {
            lookups: Err("no nameservers".into()),
            ..peers_of(vec![], &[], &[])
        };
        assert_eq!(peers(&broken, Lang::En).status, Status::Fail);
    }

    /// What the step prints, in both languages, pinned.
    #[test]
    fn the_step_reads_the_same_in_both_languages() {
        let p = peers_of(
            vec![
                found("b.lan", &["10.20.0.2"]),
                found("c.lan", &["192.168.7.9"]),
                NameLookup {
                    name: "d.lan".into(),
                    result: Err("timed out".into()),
                },
            ],
            &["10.20.0.0/16"],
            &[],
        );
        for lang in [Lang::En, Lang::ZhCn] {
            let s = peers(&p, lang);
            let text = format!(
                "{} [{:?}]\n{}\n{}\n",
                s.title,
                s.status,
                s.evidence,
                s.remedy.unwrap_or_default()
            );
            crate::golden::assert_golden(&format!("doctor.peers.{}.txt", lang.code()), &text);
        }
    }
}
