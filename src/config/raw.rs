//! The file as written: serde shapes (`deny_unknown_fields`) and the top-level key dispatcher
//! that turns serde's messages into `Problem`s with dotted paths and "did you mean" hints.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::SynapseOverrides;
use super::backup::RawBackup;
use super::error::{Problem, problem_by, problem_t};
use super::messages::M;
use crate::i18n::Lang;
use crate::yaml::{self, Mapping, Value};

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
    /// The Prometheus metrics listener (off unless given).
    pub metrics: Option<String>,
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
    /// The TURN relay's image (used only when `turn.enabled`).
    pub coturn: Option<String>,
    /// Redis, which Synapse's workers talk through (used only when workers run).
    pub redis: Option<String>,
}

/// `web_client:` as written: present (even `{}`) means Element Web is served.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawWebClient {
    /// The name it is served under; default `chat.<domain>`.
    pub name: Option<String>,
    /// The pinned Element Web image its static files come from.
    pub image: Option<String>,
    /// Merged last into the generated `config.json`.
    pub config: Option<Mapping>,
}

/// `registry_mirror:` as written: one mirror, or an ordered list of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MirrorSetting {
    One(String),
    Many(Vec<String>),
}

/// `email:` as written: the SMTP server Synapse sends password resets and notifications through.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub tls: Option<SmtpTls>,
    pub user: Option<String>,
    /// A file holding the SMTP password (mode 0600): the password never sits in matrixbox.yaml.
    pub password_file: Option<PathBuf>,
    pub from: Option<String>,
    /// Mail about unread messages (Synapse's `enable_notifs`); on unless `false`.
    pub notifications: Option<bool>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connect, then STARTTLS, which must be offered (submission, port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only for a relay on this host or its private network.
    Off,
}

/// `federation:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawFederation {
    /// Synapse's `federation_domain_whitelist`: only these servers may federate with this one.
    pub allow: Option<Vec<String>>,
    /// Extra PEM root certificates Synapse trusts for outbound federation TLS.
    pub ca_roots: Option<Vec<PathBuf>>,
    /// DNS servers (IP addresses) Synapse's container asks to find other servers, e.g. an
    /// intranet's resolver; the host's when unset.
    pub dns_servers: Option<Vec<String>>,
    /// Private address ranges (CIDR) where federation peers live; Synapse refuses private,
    /// loopback and reserved addresses otherwise (its `ip_range_whitelist`).
    pub private_networks: Option<Vec<String>>,
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
    pub registry_mirror: Option<MirrorSetting>,
    pub trusted_key_servers: Option<Vec<String>>,
    pub synapse_port: Option<u16>,
    pub memory_mb: Option<MemorySetting>,
    pub synapse: Option<SynapseOverrides>,
    pub listen: RawListen,
    pub tls: Option<RawTls>,
    pub upstream: Option<String>,
    pub admin_allow: Option<Vec<String>>,
    pub support: Option<Support>,
    pub public_address: Option<String>,
    pub serve_server_name: Option<bool>,
    pub instance: Option<String>,
    pub federation: RawFederation,
    pub backup: RawBackup,
    pub upgrade: super::upgrade::RawUpgrade,
    pub email: Option<RawEmail>,
    pub web_client: Option<RawWebClient>,
    pub turn: super::calls::RawTurn,
    pub calls: Option<super::calls::RawCalls>,
    /// `workers:` as written (`off`, `auto` or a list), checked in `workers::check_workers`.
    pub workers: Option<Value>,
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
    "instance",
    "federation",
    "backup",
    "upgrade",
    "email",
    "web_client",
    "turn",
    "calls",
    "workers",
];

pub(super) fn raw_from_value(value: Value, problems: &mut Vec<Problem>) -> RawConfig {
    let mut raw = RawConfig::default();
    let map = match value {
        Value::Mapping(map) => map,
        Value::Null => Mapping::new(),
        _ => {
            problems.push(problem_t("", (M::NotMapping, &[]), None));
            return raw;
        }
    };
    for (key, value) in map {
        let Some(key) = key.as_str().map(str::to_owned) else {
            problems.push(problem_t(
                "",
                (M::KeyNotString, &[&format!("{key:?}")]),
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
            "instance" => raw.instance = field(&key, value, problems),
            "federation" => raw.federation = field(&key, value, problems).unwrap_or_default(),
            "backup" => raw.backup = field(&key, value, problems).unwrap_or_default(),
            "upgrade" => raw.upgrade = field(&key, value, problems).unwrap_or_default(),
            "email" => raw.email = field(&key, value, problems),
            // `web_client:` with nothing under it turns the web client on with its defaults.
            "web_client" if value.is_null() => raw.web_client = Some(RawWebClient::default()),
            "web_client" => raw.web_client = field(&key, value, problems),
            "turn" => raw.turn = field(&key, value, problems).unwrap_or_default(),
            "calls" => raw.calls = field(&key, value, problems),
            "workers" => raw.workers = (!value.is_null()).then_some(value),
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
    problem_by(path, |lang| {
        let said = match lang {
            Lang::ZhCn => super::serde_zh::translate(&message),
            Lang::En => None,
        };
        (said.unwrap_or_else(|| message.clone()), None)
    })
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
        .map(|(_, k)| k);
    let known = known.join(", ");
    let hint = match suggestion {
        Some(k) => (M::DidYouMean, k),
        None => (M::KnownKeys, known.as_str()),
    };
    problem_t(path, (M::UnknownKey, &[]), Some((hint.0, &[&hint.1])))
}
