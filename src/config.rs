//! The one file users edit: raw serde structs -> validated `Config`, with every problem reported at once.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::yaml::{self, Mapping, Value};

pub const DEFAULT_SYNAPSE_IMAGE: &str = "matrixdotorg/synapse:v1.163.2";
pub const DEFAULT_POSTGRES_IMAGE: &str = "postgres:15.14-bookworm";
pub const DEFAULT_SYNAPSE_PORT: u16 = 8008;
pub const DEFAULT_LISTEN_HTTP: &str = "0.0.0.0:80";
pub const DEFAULT_LISTEN_HTTPS: &str = "0.0.0.0:443";
/// PostgreSQL and Synapse need at least this much to start at all.
const MIN_MEMORY_MB: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    #[default]
    Closed,
    Token,
    Open,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawAcme {
    pub email: Option<String>,
    /// `letsencrypt`, `letsencrypt-staging`, `internal`, or a directory URL.
    pub directory: Option<String>,
    /// Extra root certificate (PEM) trusted for the ACME directory's own TLS.
    pub ca_root: Option<PathBuf>,
    pub challenge: Option<Challenge>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Challenge {
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    pub http: Option<String>,
    pub https: Option<String>,
    pub federation: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub role: String,
    pub matrix_id: Option<String>,
    pub email_address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Support {
    #[serde(default)]
    pub contacts: Vec<Contact>,
    pub support_page: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawImages {
    pub synapse: Option<String>,
    pub postgres: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySetting {
    Auto,
    Megabytes(u64),
}

impl<'de> Deserialize<'de> for MemorySetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Word(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(MemorySetting::Megabytes(n)),
            Either::Word(w) if w == "auto" => Ok(MemorySetting::Auto),
            Either::Word(w) => Err(serde::de::Error::custom(format!(
                "expected `auto` or a number of megabytes, found `{w}`"
            ))),
        }
    }
}

/// The file as written, before any check beyond types. Every field is optional so that
/// defaults live in one place (`validate`).
#[derive(Debug, Default)]
pub struct RawConfig {
    pub domain: Option<String>,
    pub server_name: Option<String>,
    pub acme: RawAcme,
    pub registration: Option<Registration>,
    pub images: RawImages,
    pub registry_mirror: Option<String>,
    pub trusted_key_servers: Option<Vec<String>>,
    pub synapse_port: Option<u16>,
    pub memory_mb: Option<MemorySetting>,
    pub synapse: Option<Mapping>,
    pub listen: RawListen,
    pub tls: Option<RawTls>,
    pub upstream: Option<String>,
    pub admin_allow: Option<Vec<String>>,
    pub support: Option<Support>,
    pub public_address: Option<String>,
    pub serve_server_name: Option<bool>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "serve_server_name",
    "listen",
    "tls",
    "upstream",
    "admin_allow",
    "support",
    "public_address",
    "domain",
    "server_name",
    "acme",
    "registration",
    "images",
    "registry_mirror",
    "trusted_key_servers",
    "synapse_port",
    "memory_mb",
    "synapse",
];

/// The validated configuration everything else is derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where clients reach the server (the TLS name).
    pub domain: String,
    /// The part after the colon in user IDs.
    pub server_name: String,
    pub acme_email: Option<String>,
    pub registration: Registration,
    /// Image references as the engine will be asked for them (mirror prefix applied).
    pub synapse_image: String,
    pub postgres_image: String,
    pub trusted_key_servers: Vec<String>,
    /// Port on the host's 127.0.0.1 where Synapse is published.
    pub synapse_port: u16,
    /// Memory to tune for; `None` means "read the host's".
    pub memory_mb: Option<u64>,
    /// Deep-merged last into homeserver.yaml.
    pub synapse_overrides: Mapping,
    pub listen: Listen,
    pub acme: Acme,
    /// A certificate the user already has; replaces ACME.
    pub tls_files: Option<TlsFiles>,
    /// An existing Synapse: matrixbox manages no containers and is only the edge.
    pub external_upstream: Option<http::Uri>,
    /// Peers allowed to reach /_synapse/admin.
    pub admin_allow: Vec<ipnet::IpNet>,
    pub support: Option<Support>,
    /// The address other hosts reach this one at, when it is not on an interface (NAT).
    pub public_address: Option<IpAddr>,
    /// `server_name` points at this host too: serve its well-known documents and certify it.
    pub serve_server_name: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub federation: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directory {
    LetsEncrypt,
    LetsEncryptStaging,
    /// A local CA made by matrixbox.
    Internal,
    Url(String),
}

impl Directory {
    pub fn url(&self) -> Option<&str> {
        match self {
            Directory::LetsEncrypt => Some("https://acme-v02.api.letsencrypt.org/directory"),
            Directory::LetsEncryptStaging => {
                Some("https://acme-staging-v02.api.letsencrypt.org/directory")
            }
            Directory::Internal => None,
            Directory::Url(u) => Some(u),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Acme {
    pub email: Option<String>,
    pub directory: Directory,
    pub ca_root: Option<PathBuf>,
    pub challenge: Challenge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// Every name this server presents a certificate for and serves well-known on.
    ///
    /// `server_name` is included only when it is served here (`serve_server_name: true`): when
    /// its DNS points elsewhere, a CA could not validate it and no certificate would be issued.
    pub fn tls_names(&self) -> Vec<String> {
        let mut names = vec![self.domain.clone()];
        if self.server_name != self.domain && self.serve_server_name {
            names.push(self.server_name.clone());
        }
        names
    }

    /// Synapse's request size limit (`max_upload_size`, default 50M), which the edge enforces too.
    pub fn max_upload_bytes(&self) -> u64 {
        self.synapse_overrides
            .get("max_upload_size")
            .and_then(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => parse_size(s),
                _ => None,
            })
            .unwrap_or(50 << 20)
    }
}

/// Synapse's size syntax: a number with an optional K/M/G suffix (powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, multiplier) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1u64 << 10),
        'M' | 'm' => (&text[..text.len() - 1], 1 << 20),
        'G' | 'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(multiplier)
}

/// Names no public CA will certify: these get certificates from the internal CA by default.
pub fn is_private_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || !name.contains('.')
        || [
            ".localhost",
            ".local",
            ".internal",
            ".test",
            ".lan",
            ".home.arpa",
            ".example",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted path inside the file; empty for the document itself.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid YAML{}: {}", path.display(), location(source), source.message)]
    Syntax {
        path: PathBuf,
        source: yaml::SyntaxError,
    },
    #[error("{} has {}:\n{}", path.display(), plural(problems.len()), Problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    pub fn hint(&self) -> String {
        match self {
            ConfigError::Read { path, .. } => format!(
                "create it with `matrixbox setup --domain <your domain>`, or point --config / MATRIXBOX_CONFIG at it (looked at {})",
                path.display()
            ),
            _ => "fix the file and run the command again; nothing was changed".to_string(),
        }
    }
}

fn location(e: &yaml::SyntaxError) -> String {
    match (e.line, e.column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 problem".into()
    } else {
        format!("{n} problems")
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let path = if p.path.is_empty() {
                "(document)"
            } else {
                &p.path
            };
            write!(f, "  - {path}: {}", p.message)?;
            if let Some(hint) = &p.hint {
                write!(f, "\n      {hint}")?;
            }
        }
        Ok(())
    }
}

pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates config text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let value = yaml::parse(text).map_err(|source| ConfigError::Syntax {
        path: path.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();
    let raw = raw_from_value(value, &mut problems);
    let config = validate(raw, &mut problems);
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        }),
    }
}

fn raw_from_value(value: Value, problems: &mut Vec<Problem>) -> RawConfig {
    let mut raw = RawConfig::default();
    let map = match value {
        Value::Mapping(map) => map,
        Value::Null => Mapping::new(),
        _ => {
            problems.push(problem(
                "",
                "the file must be a mapping of keys to values",
                None,
            ));
            return raw;
        }
    };
    for (key, value) in map {
        let Some(key) = key.as_str().map(str::to_owned) else {
            problems.push(problem(
                "",
                format!("keys must be strings, found {key:?}"),
                None,
            ));
            continue;
        };
        match key.as_str() {
            "domain" => raw.domain = field(&key, value, problems),
            "server_name" => raw.server_name = field(&key, value, problems),
            "acme" => raw.acme = field(&key, value, problems).unwrap_or_default(),
            "registration" => raw.registration = field(&key, value, problems),
            "images" => raw.images = field(&key, value, problems).unwrap_or_default(),
            "registry_mirror" => raw.registry_mirror = field(&key, value, problems),
            "trusted_key_servers" => raw.trusted_key_servers = field(&key, value, problems),
            "synapse_port" => raw.synapse_port = field(&key, value, problems),
            "memory_mb" => raw.memory_mb = field(&key, value, problems),
            "synapse" => raw.synapse = field(&key, value, problems),
            "listen" => raw.listen = field(&key, value, problems).unwrap_or_default(),
            "tls" => raw.tls = field(&key, value, problems),
            "upstream" => raw.upstream = field(&key, value, problems),
            "admin_allow" => raw.admin_allow = field(&key, value, problems),
            "support" => raw.support = field(&key, value, problems),
            "serve_server_name" => raw.serve_server_name = field(&key, value, problems),
            "public_address" => raw.public_address = field(&key, value, problems),
            _ => problems.push(unknown_key("", &key, TOP_LEVEL_KEYS)),
        }
    }
    raw
}

/// Deserialises one top-level field; a `null` value counts as absent.
fn field<T: DeserializeOwned>(key: &str, value: Value, problems: &mut Vec<Problem>) -> Option<T> {
    if value.is_null() {
        return None;
    }
    match yaml::from_value::<T>(value) {
        Ok(v) => Some(v),
        Err((inner, message)) => {
            let path = if inner.is_empty() {
                key.to_string()
            } else {
                format!("{key}.{inner}")
            };
            problems.push(serde_problem(path, message));
            None
        }
    }
}

/// Turns serde's "unknown field `x`, expected ..." into our unknown-key problem with a suggestion.
fn serde_problem(path: String, message: String) -> Problem {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // serde_path_to_error's path already ends with the unknown key itself.
        let parent = path
            .strip_suffix(name)
            .unwrap_or(&path)
            .trim_end_matches('.');
        return unknown_key(parent, name, &candidates);
    }
    problem(path, message, None)
}

fn unknown_key(parent: &str, key: &str, known: &[&str]) -> Problem {
    let path = if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    };
    let suggestion = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("did you mean `{k}`?"));
    let hint = suggestion.or_else(|| Some(format!("known keys here: {}", known.join(", "))));
    problem(path, "unknown key", hint)
}

fn problem(path: impl Into<String>, message: impl Into<String>, hint: Option<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
        hint,
    }
}

fn validate(raw: RawConfig, problems: &mut Vec<Problem>) -> Option<Config> {
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
    let mirror = raw
        .registry_mirror
        .as_deref()
        .map(|m| m.trim_end_matches('/'));
    if let Some(m) = mirror
        && (m.contains("://") || m.is_empty() || m.contains(char::is_whitespace))
    {
        problems.push(problem(
            "registry_mirror",
            format!("`{m}` is not a registry prefix"),
            Some(
                "write host[:port][/path] without a scheme, e.g. `docker.mirror.example.com`"
                    .into(),
            ),
        ));
    }
    let synapse_image = check_image(
        "images.synapse",
        raw.images
            .synapse
            .as_deref()
            .unwrap_or(DEFAULT_SYNAPSE_IMAGE),
        mirror,
        problems,
    );
    let postgres_image = check_image(
        "images.postgres",
        raw.images
            .postgres
            .as_deref()
            .unwrap_or(DEFAULT_POSTGRES_IMAGE),
        mirror,
        problems,
    );
    let trusted_key_servers = raw
        .trusted_key_servers
        .unwrap_or_else(|| vec!["matrix.org".into()]);
    for (i, server) in trusted_key_servers.iter().enumerate() {
        check_domain(&format!("trusted_key_servers[{i}]"), server, problems);
    }
    let synapse_port = raw.synapse_port.unwrap_or(DEFAULT_SYNAPSE_PORT);
    if synapse_port == 0 {
        problems.push(problem("synapse_port", "must be between 1 and 65535", None));
    }
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
    Some(Config {
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
        synapse_image: synapse_image?,
        postgres_image: postgres_image?,
        trusted_key_servers,
        synapse_port,
        memory_mb,
        synapse_overrides: raw.synapse.unwrap_or_default(),
    })
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

/// Validates a pinned image reference and applies the mirror prefix to Docker Hub images.
fn check_image(
    path: &str,
    image: &str,
    mirror: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let (name, tag) = match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (image, None),
    };
    if image.contains('@') {
        return Some(with_mirror(image, mirror));
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

/// The file `setup` writes: only what the user chose, with comments pointing at the rest.
pub fn render_initial(domain: &str, server_name: Option<&str>, email: Option<&str>) -> String {
    let mut out = String::from(
        "# matrixbox configuration: the only file to edit. Apply changes with\n\
         # `systemctl reload matrixbox` (or restart `matrixbox run`).\n",
    );
    out.push_str(&format!("domain: {}\n", yaml_scalar(domain)));
    match server_name {
        Some(s) => out.push_str(&format!("server_name: {}\n", yaml_scalar(s))),
        None => out.push_str("# server_name: example.com   # user IDs look like @alice:<server_name>; defaults to domain\n"),
    }
    match email {
        Some(e) => out.push_str(&format!("acme:\n  email: {}\n", yaml_scalar(e))),
        None => out.push_str("# acme:\n#   email: me@example.com\n"),
    }
    out.push_str(
        "registration: closed          # closed | token | open\n\
         # images:                     # pinned; change only to upgrade deliberately\n\
         #   synapse: matrixdotorg/synapse:v1.163.2\n\
         #   postgres: postgres:15.14-bookworm\n\
         # registry_mirror: docker.mirror.example.com\n\
         # public_address: 203.0.113.5 # behind NAT: the address your domain points at\n\
         # synapse:                    # any homeserver.yaml option, merged last\n\
         #   max_upload_size: 100M\n",
    );
    out
}

fn yaml_scalar(s: &str) -> String {
    yaml::to_string(&s).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/matrixbox/matrixbox.yaml"))
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse_str(text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn minimal_config_gets_safe_defaults() {
        let c = parse_str("domain: Matrix.Example.com\n").unwrap();
        assert_eq!(c.domain, "matrix.example.com");
        assert_eq!(c.server_name, "matrix.example.com");
        assert_eq!(c.registration, Registration::Closed);
        assert_eq!(c.synapse_image, DEFAULT_SYNAPSE_IMAGE);
        assert_eq!(c.postgres_image, DEFAULT_POSTGRES_IMAGE);
        assert_eq!(c.synapse_port, 8008);
        assert_eq!(c.memory_mb, None);
        assert!(!c.synapse_image.ends_with(":latest"));
    }

    #[test]
    fn all_problems_are_reported_at_once_with_dotted_paths() {
        let p = problems(
            "domain: https://x.org\nacme: {emial: a@b.c}\nimages: {synapse: 'matrixdotorg/synapse:latest'}\nregistration: maybe\nsynapse_port: 0\ndomian: x\n",
        );
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"domain"), "{p:#?}");
        assert!(paths.contains(&"acme.emial"), "{p:#?}");
        assert!(paths.contains(&"images.synapse"), "{p:#?}");
        assert!(paths.contains(&"registration"), "{p:#?}");
        assert!(paths.contains(&"synapse_port"), "{p:#?}");
        assert!(paths.contains(&"domian"), "{p:#?}");
        let typo = p.iter().find(|p| p.path == "acme.emial").unwrap();
        assert_eq!(typo.hint.as_deref(), Some("did you mean `email`?"));
        let top = p.iter().find(|p| p.path == "domian").unwrap();
        assert_eq!(top.hint.as_deref(), Some("did you mean `domain`?"));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse_str("domain: x.org\nsynapse: [oops\n").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Syntax { .. }));
        assert!(text.contains("line "), "{text}");
        assert!(text.contains("/etc/matrixbox/matrixbox.yaml"), "{text}");
    }

    #[test]
    fn domain_rules() {
        assert_eq!(domain_problem("matrix.example.com"), None);
        assert_eq!(domain_problem("localhost"), None);
        assert!(
            domain_problem("https://matrix.example.com")
                .unwrap()
                .contains("https")
        );
        assert!(
            domain_problem("matrix.example.com:8448")
                .unwrap()
                .contains("port")
        );
        assert!(domain_problem("-bad.example.com").is_some());
        assert!(domain_problem("bad..example.com").is_some());
        assert!(domain_problem("under_score.example.com").is_some());
    }

    #[test]
    fn mirror_applies_to_hub_images_only() {
        let c = parse_str(
            "domain: x.org\nregistry_mirror: mirror.local:5000/\nimages: {postgres: 'registry.example.com/pg:15.4'}\n",
        )
        .unwrap();
        assert_eq!(
            c.synapse_image,
            format!("mirror.local:5000/{DEFAULT_SYNAPSE_IMAGE}")
        );
        assert_eq!(c.postgres_image, "registry.example.com/pg:15.4");
    }

    #[test]
    fn images_must_be_pinned() {
        let p = problems("domain: x.org\nimages: {postgres: postgres}\n");
        assert_eq!(p[0].path, "images.postgres");
        assert!(p[0].message.contains("no version tag"));
    }

    #[test]
    fn memory_setting() {
        assert_eq!(
            parse_str("domain: x.org\nmemory_mb: 1024\n")
                .unwrap()
                .memory_mb,
            Some(1024)
        );
        assert_eq!(
            parse_str("domain: x.org\nmemory_mb: auto\n")
                .unwrap()
                .memory_mb,
            None
        );
        assert_eq!(
            problems("domain: x.org\nmemory_mb: 100\n")[0].path,
            "memory_mb"
        );
        assert_eq!(
            problems("domain: x.org\nmemory_mb: lots\n")[0].path,
            "memory_mb"
        );
    }

    #[test]
    fn initial_file_round_trips() {
        let text = render_initial(
            "matrix.example.com",
            Some("example.com"),
            Some("me@example.com"),
        );
        let c = parse_str(&text).unwrap();
        assert_eq!(c.domain, "matrix.example.com");
        assert_eq!(c.server_name, "example.com");
        assert_eq!(c.acme_email.as_deref(), Some("me@example.com"));
    }

    #[test]
    fn edge_defaults() {
        let c = parse_str("domain: matrix.example.com\n").unwrap();
        assert_eq!(c.listen.https, Some("0.0.0.0:443".parse().unwrap()));
        assert_eq!(c.listen.federation, None);
        assert_eq!(c.acme.directory, Directory::LetsEncrypt);
        assert_eq!(c.acme.challenge, Challenge::Http01);
        assert_eq!(c.max_upload_bytes(), 50 << 20);
        assert_eq!(c.admin_allow.len(), 2);
        assert_eq!(
            parse_str("domain: localhost\n").unwrap().acme.directory,
            Directory::Internal
        );
        let c = parse_str("domain: a.org\nsynapse: {max_upload_size: 10M}\nlisten: {http: 'off', https: '127.0.0.1:8443'}\nacme: {challenge: tls-alpn-01, directory: 'https://127.0.0.1:14000/dir'}\n").unwrap();
        assert_eq!(c.max_upload_bytes(), 10 << 20);
        assert_eq!(c.listen.http, None);
        assert_eq!(c.acme.challenge, Challenge::TlsAlpn01);
        assert_eq!(c.acme.directory.url(), Some("https://127.0.0.1:14000/dir"));
    }

    #[test]
    fn edge_problems() {
        let p = problems(
            "domain: a.org\nlisten: {https: 443}\nupstream: 'https://x/'\nadmin_allow: [nonsense]\nacme: {directory: zerossl}\n",
        );
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "listen.https",
                "acme.directory",
                "upstream",
                "admin_allow[0]"
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn server_name_is_certified_only_when_served_here() {
        let delegated =
            parse_str("domain: matrix.example.com\nserver_name: example.com\n").unwrap();
        assert_eq!(delegated.tls_names(), ["matrix.example.com"]);
        let here = parse_str(
            "domain: matrix.example.com\nserver_name: example.com\nserve_server_name: true\n",
        )
        .unwrap();
        assert_eq!(here.tls_names(), ["matrix.example.com", "example.com"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100M"), Some(100 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn public_address() {
        assert_eq!(parse_str("domain: a.org\n").unwrap().public_address, None);
        let c = parse_str("domain: a.org\npublic_address: 203.0.113.5\n").unwrap();
        assert_eq!(c.public_address, Some("203.0.113.5".parse().unwrap()));
        let c = parse_str("domain: a.org\npublic_address: '2001:db8::5'\n").unwrap();
        assert_eq!(c.public_address, Some("2001:db8::5".parse().unwrap()));
        for bad in ["nat.example.com", "0.0.0.0", "127.0.0.1", "203.0.113.5:443"] {
            let p = problems(&format!("domain: a.org\npublic_address: '{bad}'\n"));
            assert_eq!(p[0].path, "public_address", "{bad}: {p:#?}");
            assert!(p[0].message.contains(bad), "{p:#?}");
        }
    }

    #[test]
    fn synapse_overrides_are_kept_verbatim() {
        let c = parse_str(
            "domain: x.org\nsynapse:\n  max_upload_size: 100M\n  email: {smtp_host: h}\n",
        )
        .unwrap();
        assert_eq!(c.synapse_overrides.len(), 2);
    }
}
