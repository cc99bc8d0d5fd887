//! Raw values -> the validated `Config`: every check, every default applied, every problem kept.

use std::net::{IpAddr, SocketAddr};

use super::defaults::{
    DEFAULT_COTURN_IMAGE, DEFAULT_INSTANCE, DEFAULT_LISTEN_HTTP, DEFAULT_LISTEN_HTTPS,
    DEFAULT_POSTGRES_IMAGE, DEFAULT_SYNAPSE_IMAGE, MAX_INSTANCE_LEN, MIN_MEMORY_MB,
    is_private_name,
};
use super::error::{Problem, problem};
use super::raw::{MemorySetting, MirrorSetting, RawConfig, RawFederation};
use super::{Acme, Config, Directory, Federation, Listen, TlsFiles};

pub(super) fn validate(raw: RawConfig, problems: &mut Vec<Problem>) -> Option<Config> {
    let domain = match raw.domain {
        None => {
            problems.push(problem(
                "domain",
                "missing",
                Some("set `domain: matrix.example.com` (the name clients connect to)".into()),
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
        problems.push(problem(
            "acme.email",
            format!("`{email}` is not an email address"),
            Some("Let's Encrypt uses it for expiry warnings, e.g. `me@example.com`".into()),
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
            problems.push(problem(
                "memory_mb",
                format!("{mb} MB is too little to run PostgreSQL and Synapse"),
                Some(format!("use `auto` or at least {MIN_MEMORY_MB}")),
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
            problems.push(problem(
                "acme.directory",
                format!("`{other}` is not a known directory"),
                Some(
                    "use letsencrypt, letsencrypt-staging, internal, or an https:// directory URL"
                        .into(),
                ),
            ));
            Directory::LetsEncrypt
        }
    };
    if let Some(root) = &raw.acme.ca_root
        && !root.is_absolute()
    {
        problems.push(problem("acme.ca_root", "must be an absolute path", None));
    }
    let tls_files = raw.tls.map(|t| {
        for (field, path) in [("tls.cert", &t.cert), ("tls.key", &t.key)] {
            if !path.is_absolute() {
                problems.push(problem(field, "must be an absolute path", None));
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
            problems.push(problem(
                "upstream",
                format!("`{u}` is not a plain http:// URL of a Synapse"),
                Some(
                    "e.g. `http://127.0.0.1:8008` (no path; TLS to the upstream is not supported)"
                        .into(),
                ),
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
                    problems.push(problem(
                        format!("admin_allow[{i}]"),
                        format!("`{net}` is not an address or CIDR network"),
                        Some("e.g. `10.0.0.0/8` or `192.168.1.5`".into()),
                    ));
                    None
                }
            }
        })
        .collect();
    let public_address = raw.public_address.and_then(|a| match a.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() && !ip.is_loopback() => Some(ip),
        _ => {
            problems.push(problem(
                "public_address",
                format!("`{a}` is not a public IP address"),
                Some("write the address other hosts reach this one at (behind NAT: the router's public address), e.g. `203.0.113.5`".into()),
            ));
            None
        }
    });
    let instance = raw.instance.unwrap_or_else(|| DEFAULT_INSTANCE.into());
    if let Some(why) = instance_problem(&instance) {
        problems.push(problem(
            "instance",
            format!("`{instance}` is not a usable instance name: {why}"),
            Some(format!("e.g. `{DEFAULT_INSTANCE}` or `matrix-2`: lowercase letters, digits and `-`, starting with a letter, at most {MAX_INSTANCE_LEN} characters")),
        ));
    }
    let federation = check_federation(raw.federation, problems);
    let turn = super::calls::check_turn(raw.turn, problems);
    let calls = super::calls::check_calls(raw.calls, problems);
    Some(Config {
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
                problems.push(problem(
                    "registry_mirror",
                    "the list is empty",
                    Some(
                        "list at least one mirror, or remove the key to pull from Docker Hub"
                            .into(),
                    ),
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
            problems.push(problem(
                path,
                format!("`{m}` is not a registry prefix"),
                Some(
                    "write host[:port][/path] without a scheme, e.g. `docker.mirror.example.com` (`docker.io` is Docker Hub itself)"
                        .into(),
                ),
            ));
            continue;
        }
        let mirror = (m != UPSTREAM).then(|| m.to_string());
        if mirrors.contains(&mirror) {
            problems.push(problem(path, format!("`{m}` is listed twice"), None));
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
            problems.push(problem(
                format!("federation.ca_roots[{i}]"),
                format!("`{}` is not an absolute path", root.display()),
                Some(
                    "write the full path of a PEM file, e.g. `/etc/matrixbox/private-ca.pem`"
                        .into(),
                ),
            ));
        }
    }
    Federation { allow, ca_roots }
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
        problems.push(problem(
            path,
            format!("`{name}` has no valid port"),
            Some(
                "write a server name as in user IDs, e.g. `example.com` or `example.com:8448`"
                    .into(),
            ),
        ));
        return None;
    }
    check_domain(path, host, problems).map(|h| match port {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

/// Why `name` cannot prefix Docker names (and the DNS name Synapse dials); `None` when it can.
fn instance_problem(name: &str) -> Option<&'static str> {
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("it must start with a lowercase letter")
    } else if name.len() > MAX_INSTANCE_LEN {
        Some("it is too long")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("only lowercase letters, digits and `-` are allowed")
    } else if name.ends_with('-') {
        Some("it must not end with `-`")
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
            problems.push(problem(
                path,
                format!("`{text}` is not an address:port"),
                Some("e.g. `0.0.0.0:443`, `[::]:443`, or `off`".into()),
            ));
            None
        }
    }
}

/// Checks a DNS host name (no scheme, port or path) and returns it lower-cased.
pub fn check_domain(path: &str, name: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match domain_problem(name) {
        None => Some(name.to_ascii_lowercase()),
        Some(hint) => {
            problems.push(problem(
                path,
                format!("`{name}` is not a valid domain name"),
                Some(hint),
            ));
            None
        }
    }
}

/// Why `name` is not a usable host name, as a hint; `None` when it is fine.
pub fn domain_problem(name: &str) -> Option<String> {
    if name.contains("://") {
        return Some("write the bare host name, without `https://`".into());
    }
    if name.contains('/') {
        return Some("write the bare host name, without a path".into());
    }
    if name.contains(':') {
        return Some("write the host name without a port; matrixbox serves on 443".into());
    }
    if name.is_empty() || name.len() > 253 {
        return Some("a domain name has 1 to 253 characters".into());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !name.split('.').all(label_ok) {
        return Some(
            "use letters, digits and hyphens in dot-separated labels, e.g. `matrix.example.com`"
                .into(),
        );
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
            problems.push(problem(
                path,
                format!("`{image}` has a malformed digest `{d}`"),
                Some("write `name:tag@sha256:` followed by the 64 lowercase hex digits `docker image inspect --format '{{.RepoDigests}}'` shows".into()),
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
            problems.push(problem(
                path,
                format!("`{image}` has no version tag"),
                Some("pin an exact version, e.g. `matrixdotorg/synapse:v1.163.2`".into()),
            ));
            None
        }
        Some("latest") => {
            problems.push(problem(
                path,
                format!("`{image}` is not pinned"),
                Some("`latest` changes under you; pin an exact version".into()),
            ));
            None
        }
        Some(_) if name.is_empty() || image.contains(char::is_whitespace) => {
            problems.push(problem(
                path,
                format!("`{image}` is not an image reference"),
                None,
            ));
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
