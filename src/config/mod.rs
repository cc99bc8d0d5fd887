//! The one file users edit: raw serde structs -> validated `Config`, with every problem reported at once.
//!
//! - `raw`: the file's shapes as serde reads them, unknown keys caught with a suggestion.
//! - `validate`: raw values -> `Config`, defaults applied, each problem at its dotted path.
//! - `defaults`: the values used when the file says nothing.
//! - `calls`: `turn:` and `calls:`, the TURN relay and the LiveKit services.
//! - `error`: `Problem` and `ConfigError`, and how they print.
//! - `email`: the `email:` section (SMTP server, login, sender).
//! - `file`: loading and parsing the file, and writing the first one.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::path::PathBuf;

use serde::Deserialize;

use crate::secrets::Redacted;
use crate::yaml::{Mapping, Value};

mod backup;
mod calls;
mod defaults;
mod email;
mod error;
mod file;
mod messages;
mod raw;
mod serde_zh;
mod upgrade;
mod validate;
mod webclient;
mod workers;

pub use backup::{BackupSchedule, Offsite};
pub use calls::{Calls, RawCalls, RawTurn, Turn};
pub use defaults::{
    DEFAULT_COTURN_IMAGE, DEFAULT_ELEMENT_IMAGE, DEFAULT_INSTANCE, DEFAULT_LISTEN_HTTP,
    DEFAULT_LISTEN_HTTPS, DEFAULT_POSTGRES_IMAGE, DEFAULT_SYNAPSE_IMAGE, is_private_name,
};
pub use email::{Email, SmtpLogin};
pub use error::{ConfigError, Problem};
pub use file::{load, parse, render_initial};
pub use raw::{
    Challenge, Contact, MemorySetting, MirrorSetting, RawAcme, RawConfig, RawFederation, RawImages,
    RawListen, RawTls, RawWebClient, Registration, SmtpTls, Support,
};
pub use validate::{check_domain, domain_problem};
pub use workers::{WorkerKind, Workers};

/// The validated configuration everything else is derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where clients reach the server (the TLS name).
    pub domain: String,
    /// The part after the colon in user IDs.
    pub server_name: String,
    pub acme_email: Option<String>,
    pub registration: Registration,
    /// Image references as the engine will be asked for them first (first mirror applied).
    pub synapse_image: String,
    pub postgres_image: String,
    /// Every reference a pull tries for each image, in order: one per `registry_mirror:` entry
    /// (the first is the field above), or just the image itself.
    pub synapse_candidates: Vec<String>,
    pub postgres_candidates: Vec<String>,
    /// The same for the TURN relay's image (pulled only when TURN is on).
    pub coturn_candidates: Vec<String>,
    /// The same for Redis (pulled only when workers run).
    pub redis_candidates: Vec<String>,
    pub trusted_key_servers: Vec<String>,
    /// Keys an older matrixbox read that are now ignored; `run` says so (they stay accepted, so
    /// that an upgrade never stops a server over its config).
    pub ignored_keys: Vec<&'static str>,
    /// Memory to tune for; `None` means "read the host's".
    pub memory_mb: Option<u64>,
    /// Deep-merged last into homeserver.yaml.
    pub synapse_overrides: SynapseOverrides,
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
    /// Prefixes every Docker object matrixbox makes, so installations can share one engine.
    pub instance: String,
    pub federation: Federation,
    pub backup: BackupSchedule,
    /// `upgrade.keep_old_postgres`: how long an earlier major's data directory stays after a
    /// migration; `None`: until `matrixbox upgrade --cleanup`.
    pub keep_old_postgres: Option<std::time::Duration>,
    /// The SMTP server Synapse mails through (password resets, notifications); `None`: no mail.
    pub email: Option<Email>,
    /// Element Web, served by the edge under its own name; `None` unless `web_client:` is set.
    pub web_client: Option<WebClient>,
    /// The TURN relay (coturn) matrixbox runs; `None` unless `turn.enabled`.
    pub turn: Option<Turn>,
    /// LiveKit services for group calls, announced to clients; `None` unless configured.
    pub calls: Option<Calls>,
    /// Synapse's generic workers (`off` unless configured).
    pub workers: Workers,
}

/// Element Web as configured: its name, its image and what `config.json` adds.
#[derive(Debug, Clone, PartialEq)]
pub struct WebClient {
    /// Its own origin (Element's advice: never the homeserver's), e.g. `chat.example.com`.
    pub name: String,
    /// Every reference a pull tries, in order (mirrors applied), like the other images.
    pub candidates: Vec<String>,
    /// `web_client.config`, merged last into the generated `config.json`.
    pub config: Mapping,
}

/// Who this server federates with, and whom it trusts for federation TLS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Federation {
    /// Only these servers may federate (Synapse's `federation_domain_whitelist`); `None`: any.
    pub allow: Option<Vec<String>>,
    /// Extra PEM roots (absolute paths) bundled with the system's for outbound federation.
    pub ca_roots: Vec<PathBuf>,
    /// Resolvers for Synapse's container (the engine's default, the host's, when empty).
    pub dns_servers: Vec<std::net::IpAddr>,
    /// Ranges exempt from Synapse's refusal of private addresses (`ip_range_whitelist`).
    pub private_networks: Vec<ipnet::IpNet>,
}

/// `synapse:` as written: any homeserver.yaml option. Its values may be secrets
/// (`email.smtp_pass`, `turn_shared_secret`), so `Debug` shows only the keys.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct SynapseOverrides(pub Mapping);

impl Deref for SynapseOverrides {
    type Target = Mapping;

    fn deref(&self) -> &Mapping {
        &self.0
    }
}

impl fmt::Debug for SynapseOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|key| (key, Redacted)))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub federation: Option<SocketAddr>,
    /// The Prometheus metrics listener; off by default. Only `admin_allow` peers are answered.
    pub metrics: Option<SocketAddr>,
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
    /// The web client's name is included when it is on (`web_client:`).
    /// `server_name` is included only when it is served here (`serve_server_name: true`): when
    /// its DNS points elsewhere, a CA could not validate it and no certificate would be issued.
    pub fn tls_names(&self) -> Vec<String> {
        let mut names = vec![self.domain.clone()];
        if self.server_name != self.domain && self.serve_server_name {
            names.push(self.server_name.clone());
        }
        if let Some(web) = &self.web_client {
            names.push(web.name.clone());
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

#[cfg(test)]
mod tests;
