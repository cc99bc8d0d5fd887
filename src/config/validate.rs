//! Raw values -> the validated `Config`: every check, every default applied, every problem kept.

use std::net::{IpAddr, SocketAddr};

use super::defaults::{
    DEFAULT_COTURN_IMAGE, DEFAULT_ELEMENT_IMAGE, DEFAULT_INSTANCE, DEFAULT_LISTEN_HTTP,
    DEFAULT_LISTEN_HTTPS, DEFAULT_POSTGRES_IMAGE, DEFAULT_SYNAPSE_IMAGE, MAX_INSTANCE_LEN,
    MIN_MEMORY_MB, is_private_name,
};
use super::error::{Problem, problem_by, problem_t};
use super::messages::M;
use super::raw::{MemorySetting, MirrorSetting, RawConfig, RawFederation};
use super::{Acme, Config, Directory, Federation, Listen, TlsFiles};
use crate::i18n::Lang;

pub(super) fn validate(raw: RawConfig, problems: &mut Vec<Problem>) -> Option<Config> {
    let domain = match raw.domain {
        None => {
            problems.push(problem_t(
                "domain",
                (M::Missing, &[]),
                Some((M::DomainMissingFix, &[])),
            ));
            None
        }
        Some(d) => check_domain("domain", &d, problems),
    };
    let server_name = match raw.server_name {
        None => domain.clone(),
        Some(s) => check_domain("server_name", &s, problems),
    };
    if let Some(email) = &raw.acme.email
        && !looks_like_email(email)
    {
        problems.push(problem_t(
            "acme.email",
            (M::NotEmail, &[email]),
            Some((M::NotEmailFix, &[])),
        ));
    }
    let mirrors = check_mirrors(raw.registry_mirror, problems);
    let images = |path: &str, written: Option<&str>, default: &str, problems: &mut Vec<Problem>| {
        let written = written.unwrap_or(default);
        let candidates: Vec<String> = match mirrors.as_slice() {
            [] => vec![check_image(path, written, None, problems)?],
            _ => {
                // One problem per image, not one per mirror.
                let first = check_image(path, written, mirrors[0].as_deref(), problems)?;
                let rest = mirrors[1..]
                    .iter()
                    .map(|m| with_mirror(written, m.as_deref()));
                let mut all: Vec<String> = std::iter::once(first).chain(rest).collect();
                all.dedup();
                all
            }
        };
        Some(candidates)
    };
    let synapse_candidates = images(
        "images.synapse",
        raw.images.synapse.as_deref(),
        DEFAULT_SYNAPSE_IMAGE,
        problems,
    );
    let postgres_candidates = images(
        "images.postgres",
        raw.images.postgres.as_deref(),
        DEFAULT_POSTGRES_IMAGE,
        problems,
    );
    let coturn_candidates = images(
        "images.coturn",
        raw.images.coturn.as_deref(),
        DEFAULT_COTURN_IMAGE,
        problems,
    );
    let redis_candidates = images(
        "images.redis",
        raw.images.redis.as_deref(),
        super::defaults::DEFAULT_REDIS_IMAGE,
        problems,
    );
    // No notary by default: keys come from each origin server itself, so a default installation
    // contacts no server its users did not talk to.
    let trusted_key_servers = raw
        .trusted_key_servers
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, server)| {
            check_domain(&format!("trusted_key_servers[{i}]"), server, problems)
        })
        .collect();
    // Synapse listens on a UNIX socket now (see `synapse::upstream`); there is no port to set.
    let ignored_keys = raw
        .synapse_port
        .map(|_| vec!["synapse_port"])
        .unwrap_or_default();
    let memory_mb = match raw.memory_mb.unwrap_or(MemorySetting::Auto) {
        MemorySetting::Auto => None,
        MemorySetting::Megabytes(mb) if mb < MIN_MEMORY_MB => {
            problems.push(problem_t(
                "memory_mb",
                (M::TooLittleMemory, &[&mb]),
                Some((M::TooLittleMemoryFix, &[&MIN_MEMORY_MB])),
            ));
            None
        }
        MemorySetting::Megabytes(mb) => Some(mb),
    };
    let listen = Listen {
        http: listen_addr(
            "listen.http",
            raw.listen.http,
            DEFAULT_LISTEN_HTTP,
            problems,
        ),
        https: listen_addr(
            "listen.https",
            raw.listen.https,
            DEFAULT_LISTEN_HTTPS,
            problems,
        ),
        federation: listen_addr("listen.federation", raw.listen.federation, "off", problems),
        // Off unless asked for: a listener nobody scrapes is only another open port.
        metrics: listen_addr("listen.metrics", raw.listen.metrics, "off", problems),
    };
    let directory = match raw.acme.directory.as_deref() {
        None if domain.as_deref().is_some_and(is_private_name) => Directory::Internal,
        None | Some("letsencrypt") => Directory::LetsEncrypt,
        Some("letsencrypt-staging") => Directory::LetsEncryptStaging,
        Some("internal") => Directory::Internal,
        Some(url) if url.starts_with("https://") => Directory::Url(url.to_string()),
        Some(other) => {
            problems.push(problem_t(
                "acme.directory",
                (M::UnknownDirectory, &[&other]),
                Some((M::UnknownDirectoryFix, &[])),
            ));
            Directory::LetsEncrypt
        }
    };
    if let Some(root) = &raw.acme.ca_root
        && !root.is_absolute()
    {
        problems.push(problem_t("acme.ca_root", (M::MustBeAbsolute, &[]), None));
    }
    let tls_files = raw.tls.map(|t| {
        for (field, path) in [("tls.cert", &t.cert), ("tls.key", &t.key)] {
            if !path.is_absolute() {
                problems.push(problem_t(field, (M::MustBeAbsolute, &[]), None));
            }
        }
        TlsFiles {
            cert: t.cert,
            key: t.key,
        }
    });
    let external_upstream = raw.upstream.and_then(|u| match u.parse::<http::Uri>() {
        Ok(uri)
            if uri.scheme_str() == Some("http")
                && uri.authority().is_some()
                && uri.path() == "/" =>
        {
            Some(uri)
        }
        _ => {
            problems.push(problem_t(
                "upstream",
                (M::NotUpstream, &[&u]),
                Some((M::NotUpstreamFix, &[])),
            ));
            None
        }
    });
    let admin_allow = raw
        .admin_allow
        .unwrap_or_else(|| vec!["127.0.0.0/8".into(), "::1/128".into()])
        .iter()
        .enumerate()
        .filter_map(|(i, net)| {
            let parsed = net
                .parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(problem_t(
                        format!("admin_allow[{i}]"),
                        (M::NotNetwork, &[net]),
                        Some((M::NotNetworkFix, &[])),
                    ));
                    None
                }
            }
        })
        .collect();
    let public_address = raw.public_address.and_then(|a| match a.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() && !ip.is_loopback() => Some(ip),
        _ => {
            problems.push(problem_t(
                "public_address",
                (M::NotPublicAddress, &[&a]),
                Some((M::NotPublicAddressFix, &[])),
            ));
            None
        }
    });
    let instance = raw.instance.unwrap_or_else(|| DEFAULT_INSTANCE.into());
    if let Some(why) = instance_problem(&instance) {
        // The reason inside the message is said in the message's own language.
        problems.push(problem_by("instance", |lang| {
            (
                lang.t(M::NotInstance, &[&instance, &lang.t(why, &[])]),
                Some(lang.t(M::NotInstanceFix, &[&DEFAULT_INSTANCE, &MAX_INSTANCE_LEN])),
            )
        }));
    }
    let federation = check_federation(raw.federation, problems);
    let web_client = raw.web_client.and_then(|web| {
        let candidates = images(
            "web_client.image",
            web.image.as_deref(),
            DEFAULT_ELEMENT_IMAGE,
            problems,
        );
        // The names the homeserver answers on, which the web client must not share.
        let served_server_name = (raw.serve_server_name == Some(true))
            .then_some(server_name.as_deref())
            .flatten();
        super::webclient::check_web_client(
            web,
            candidates,
            &[domain.as_deref(), served_server_name],
            external_upstream.is_some(),
            problems,
        )
    });
    let backup = super::backup::check_backup(raw.backup, problems);
    let keep_old_postgres = super::upgrade::check_upgrade(raw.upgrade, problems);
    let email = super::email::check_email(raw.email, problems);
    let turn = super::calls::check_turn(raw.turn, problems);
    let calls = super::calls::check_calls(raw.calls, problems);
    let workers = super::workers::check_workers(raw.workers, external_upstream.is_some(), problems);
    Some(Config {
        workers,
        backup,
        keep_old_postgres,
        email,
        web_client,
        turn,
        calls,
        federation,
        instance,
        public_address,
        listen,
        acme: Acme {
            email: raw.acme.email.clone(),
            directory,
            ca_root: raw.acme.ca_root,
            challenge: raw.acme.challenge.unwrap_or_default(),
        },
        tls_files,
        external_upstream,
        admin_allow,
        support: raw.support,
        serve_server_name: raw.serve_server_name.unwrap_or(false),
        domain: domain?,
        server_name: server_name?,
        acme_email: raw.acme.email,
        registration: raw.registration.unwrap_or_default(),
        synapse_image: synapse_candidates.as_ref()?[0].clone(),
        postgres_image: postgres_candidates.as_ref()?[0].clone(),
        synapse_candidates: synapse_candidates?,
        postgres_candidates: postgres_candidates?,
        coturn_candidates: coturn_candidates?,
        redis_candidates: redis_candidates?,
        trusted_key_servers,
        ignored_keys,
        memory_mb,
        synapse_overrides: raw.synapse.unwrap_or_default(),
    })
}

/// Registry that `docker.io` in `registry_mirror:` names: Docker Hub itself, tried without a prefix.
const UPSTREAM: &str = "docker.io";

/// `registry_mirror:` (one or a list) -> the prefixes pulls try in order; `None` is Docker Hub
/// itself, listed as `docker.io`. Without a list, Docker Hub alone.
fn check_mirrors(
    setting: Option<MirrorSetting>,
    problems: &mut Vec<Problem>,
) -> Vec<Option<String>> {
    let written: Vec<(String, String)> = match setting {
        None => return vec![],
        Some(MirrorSetting::One(m)) => vec![("registry_mirror".into(), m)],
        Some(MirrorSetting::Many(list)) => {
            if list.is_empty() {
                problems.push(problem_t(
                    "registry_mirror",
                    (M::EmptyList, &[]),
                    Some((M::EmptyMirrorsFix, &[])),
                ));
            }
            list.into_iter()
                .enumerate()
                .map(|(i, m)| (format!("registry_mirror[{i}]"), m))
                .collect()
        }
    };
    let mut mirrors: Vec<Option<String>> = Vec::new();
    for (path, m) in written {
        let m = m.trim_end_matches('/');
        if m.contains("://") || m.is_empty() || m.contains(char::is_whitespace) {
            problems.push(problem_t(
                path,
                (M::NotMirror, &[&m]),
                Some((M::NotMirrorFix, &[])),
            ));
            continue;
        }
        let mirror = (m != UPSTREAM).then(|| m.to_string());
        if mirrors.contains(&mirror) {
            problems.push(problem_t(path, (M::ListedTwice, &[&m]), None));
            continue;
        }
        mirrors.push(mirror);
    }
    mirrors
}

/// `federation:`: the allow-list's names checked like `server_name`, CA roots absolute and PEM.
fn check_federation(raw: RawFederation, problems: &mut Vec<Problem>) -> Federation {
    let allow = raw.allow.map(|names| {
        names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                check_server_name(&format!("federation.allow[{i}]"), name, problems)
            })
            .collect()
    });
    let ca_roots = raw.ca_roots.unwrap_or_default();
    for (i, root) in ca_roots.iter().enumerate() {
        if !root.is_absolute() {
            problems.push(problem_t(
                format!("federation.ca_roots[{i}]"),
                (M::NotAbsolute, &[&root.display()]),
                Some((M::CaRootFix, &[])),
            ));
        }
    }
    let dns_servers = raw
        .dns_servers
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match text.parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip),
            _ => {
                problems.push(problem_t(
                    format!("federation.dns_servers[{i}]"),
                    (M::NotIp, &[text]),
                    Some((M::NotIpFix, &[])),
                ));
                None
            }
        })
        .collect();
    let private_networks = raw
        .private_networks
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match text.parse::<ipnet::IpNet>() {
            // Normalised, so `10.1.2.3/8` is written as the `10.0.0.0/8` it means.
            Ok(net) => Some(net.trunc()),
            Err(_) => {
                problems.push(problem_t(
                    format!("federation.private_networks[{i}]"),
                    (M::NotCidr, &[text]),
                    Some((M::NotCidrFix, &[])),
                ));
                None
            }
        })
        .collect();
    Federation {
        allow,
        ca_roots,
        dns_servers,
        private_networks,
    }
}

/// A server name as federation writes it: a host name with an optional port.
fn check_server_name(path: &str, name: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let (host, port) = match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (name, None),
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        problems.push(problem_t(
            path,
            (M::NoValidPort, &[&name]),
            Some((M::ServerNameFix, &[])),
        ));
        return None;
    }
    check_domain(path, host, problems).map(|h| match port {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

/// Why `name` cannot prefix Docker names (and the DNS name Synapse dials); `None` when it can.
fn instance_problem(name: &str) -> Option<M> {
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some(M::InstanceStart)
    } else if name.len() > MAX_INSTANCE_LEN {
        Some(M::InstanceLong)
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some(M::InstanceChars)
    } else if name.ends_with('-') {
        Some(M::InstanceDash)
    } else {
        None
    }
}

/// A listen address: `null`/absent means the default, `off` disables the listener.
fn listen_addr(
    path: &str,
    value: Option<String>,
    default: &str,
    problems: &mut Vec<Problem>,
) -> Option<SocketAddr> {
    let text = value.as_deref().unwrap_or(default);
    if text == "off" {
        return None;
    }
    match text.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(problem_t(
                path,
                (M::NotAddrPort, &[&text]),
                Some((M::NotAddrPortFix, &[])),
            ));
            None
        }
    }
}

/// Checks a DNS host name (no scheme, port or path) and returns it lower-cased.
pub fn check_domain(path: &str, name: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match domain_problem_key(name) {
        None => Some(name.to_ascii_lowercase()),
        Some(hint) => {
            problems.push(problem_t(path, (M::NotDomain, &[&name]), Some((hint, &[]))));
            None
        }
    }
}

/// Why `name` is not a usable host name, as a hint; `None` when it is fine.
pub fn domain_problem(name: &str, lang: Lang) -> Option<String> {
    domain_problem_key(name).map(|m| lang.t(m, &[]))
}

pub(super) fn domain_problem_key(name: &str) -> Option<M> {
    if name.contains("://") {
        return Some(M::DomainScheme);
    }
    if name.contains('/') {
        return Some(M::DomainPath);
    }
    if name.contains(':') {
        return Some(M::DomainPort);
    }
    if name.is_empty() || name.len() > 253 {
        return Some(M::DomainLength);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !name.split('.').all(label_ok) {
        return Some(M::DomainLabels);
    }
    None
}

fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, host)) => {
            !local.is_empty() && host.contains('.') && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Validates a pinned image reference (a version tag, a `@sha256:` digest, or both) and applies
/// the mirror prefix to Docker Hub images.
fn check_image(
    path: &str,
    image: &str,
    mirror: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let (reference, digest) = crate::docker::digests::split_pin(image);
    let (name, tag) = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (reference, None),
    };
    match digest {
        Some(d) if !crate::docker::digests::is_sha256_digest(d) => {
            problems.push(problem_t(
                path,
                (M::BadDigest, &[&image, &d]),
                Some((M::BadDigestFix, &[])),
            ));
            return None;
        }
        // A digest pins the contents, so the tag is only a label (even `latest`).
        Some(_) if !reference.is_empty() && !reference.contains(char::is_whitespace) => {
            return Some(with_mirror(image, mirror));
        }
        _ => {}
    }
    match tag {
        None | Some("") => {
            problems.push(problem_t(
                path,
                (M::NoTag, &[&image]),
                Some((M::NoTagFix, &[])),
            ));
            None
        }
        Some("latest") => {
            problems.push(problem_t(
                path,
                (M::NotPinned, &[&image]),
                Some((M::NotPinnedFix, &[])),
            ));
            None
        }
        Some(_) if name.is_empty() || image.contains(char::is_whitespace) => {
            problems.push(problem_t(path, (M::NotImage, &[&image]), None));
            None
        }
        Some(_) => Some(with_mirror(image, mirror)),
    }
}

/// A mirror stands in for Docker Hub only: references naming their own registry are kept.
fn with_mirror(image: &str, mirror: Option<&str>) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let names_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match mirror {
        Some(m) if !names_registry => format!("{m}/{image}"),
        _ => image.to_string(),
    }
}
