//! Name lookups as the rest of the internet sees them: A and AAAA through DNS (never /etc/hosts,
//! which only this host reads), with the CNAME chain kept for the report. Preflight asks whether
//! the names point here; doctor follows them as a remote server would.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

/// Ask this DNS server (ip:port) instead of /etc/resolv.conf's; tests point it at a local server.
pub const DNS_SERVER_ENV: &str = "MATRIXBOX_DNS_SERVER";
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
pub enum ResolverError {
    /// MATRIXBOX_DNS_SERVER is set but is not ip:port.
    BadOverride(String),
    /// /etc/resolv.conf cannot be used.
    System(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NameLookup {
    pub name: String,
    pub result: Result<Resolved, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// CNAME targets in the order they were followed.
    pub cnames: Vec<String>,
    /// A and AAAA addresses; empty when the name has none.
    pub addrs: Vec<IpAddr>,
}

pub async fn lookup_all(names: &[String]) -> Result<Vec<NameLookup>, ResolverError> {
    lookup_all_at(std::env::var(DNS_SERVER_ENV).ok().as_deref(), names).await
}

/// `lookup_all` through one DNS server (ip:port), or the host's resolvers when `None`.
pub async fn lookup_all_at(
    server: Option<&str>,
    names: &[String],
) -> Result<Vec<NameLookup>, ResolverError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let resolver = resolver(server)?;
    let lookups = names.iter().map(|name| lookup(&resolver, name));
    Ok(futures_util::future::join_all(lookups).await)
}

pub(crate) fn resolver(server: Option<&str>) -> Result<TokioResolver, ResolverError> {
    let mut builder = match server {
        Some(text) => {
            let addr: SocketAddr = text
                .parse()
                .map_err(|_| ResolverError::BadOverride(text.to_string()))?;
            let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut c| {
                    c.port = addr.port();
                    c
                })
                .collect();
            let server = NameServerConfig::new(addr.ip(), true, connections);
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| ResolverError::System(e.to_string()))?,
    };
    let options = builder.options_mut();
    options.use_hosts_file = ResolveHosts::Never;
    options.preserve_intermediates = true;
    options.timeout = QUERY_TIMEOUT;
    options.attempts = 1;
    builder
        .build()
        .map_err(|e| ResolverError::System(e.to_string()))
}

pub(crate) async fn lookup(resolver: &TokioResolver, name: &str) -> NameLookup {
    // A trailing dot: the name as given, never completed with the host's search domains.
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let (a, aaaa) = tokio::join!(
        resolver.lookup(fqdn.as_str(), RecordType::A),
        resolver.lookup(fqdn.as_str(), RecordType::AAAA)
    );
    let mut resolved = Resolved::default();
    let mut errors = Vec::new();
    for answer in [a, aaaa] {
        match answer {
            Ok(lookup) => {
                for record in lookup.answers() {
                    match &record.data {
                        RData::A(a) => push_unique(&mut resolved.addrs, IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => push_unique(&mut resolved.addrs, IpAddr::V6(aaaa.0)),
                        RData::CNAME(target) => push_unique(
                            &mut resolved.cnames,
                            target.0.to_string().trim_end_matches('.').to_string(),
                        ),
                        _ => {}
                    }
                }
            }
            // "No such name" and "no record of this type" are answers, not failures.
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    // One family failing while the other answered still tells where the name points.
    let result = match errors.first() {
        Some(error) if resolved.addrs.is_empty() => Err(error.clone()),
        _ => Ok(resolved),
    };
    NameLookup {
        name: name.to_string(),
        result,
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_override_is_reported_with_its_value() {
        assert_eq!(
            resolver(Some("localhost:53")).err(),
            Some(ResolverError::BadOverride("localhost:53".into()))
        );
        assert!(resolver(Some("127.0.0.1:8053")).is_ok());
    }
}
