//! Preflight: what matrixbox needs from the host, checked before anything is written or started.
//!
//! `facts` gathers what the host looks like (reading /proc, asking Docker, DNS and HTTP; `ports`
//! and `probe` find port holders and reach servers, `crate::dns` and `crate::disk` are shared with
//! doctor); `checks` turns those facts into pass / warn / fail with evidence and a remedy, purely,
//! so every decision is unit-tested with made-up facts. `render` prints the result; `messages`
//! holds its words for `crate::i18n`.

mod cause;
pub mod checks;
pub mod facts;
pub mod messages;
pub mod ports;
pub mod probe;
pub mod render;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{self, Config, Directory};
use crate::i18n::Lang;
use crate::paths::Paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// One check's verdict, already in the reader's language.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable identifier for scripts (`docker`, `port-https`, `dns-server-name`, ...).
    pub id: String,
    pub title: String,
    pub status: Status,
    /// One line: what was observed.
    pub evidence: String,
    /// What to do about a warning or failure.
    pub remedy: Option<String>,
    /// Whether a failure of this check stops `setup` and `run`.
    pub blocking: bool,
}

impl Check {
    pub fn stops(&self) -> bool {
        self.status == Status::Fail && self.blocking
    }
}

/// Who asks: `run` tolerates what a restart after a reboot must survive (slow DNS, a late clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Preflight,
    Setup,
    Run,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AcmeTarget {
    Directory {
        url: String,
        ca_root: Option<PathBuf>,
    },
    Internal,
    OwnFiles,
}

/// What the checks are about: the installation that exists or would be written.
#[derive(Debug, Clone)]
pub struct Target {
    pub mode: Mode,
    pub paths: Paths,
    /// Names that must resolve to this host: domain, then server_name when it differs.
    pub names: Vec<String>,
    /// (role, address) of every listener: http, https, federation, metrics.
    pub listen: Vec<(&'static str, SocketAddr)>,
    /// The TURN relay's ports when `turn.enabled`: (config key, address) over TCP and over UDP.
    pub turn_tcp: Vec<(&'static str, SocketAddr)>,
    pub turn_udp: Vec<(&'static str, SocketAddr)>,
    /// The TURN relay's port range, when `turn.enabled`.
    pub turn_relay: Option<(u16, u16)>,
    pub acme: AcmeTarget,
    /// Each image's references as pulls try them, one per registry mirror, in order.
    pub images: Vec<Vec<String>>,
    pub public_address: Option<IpAddr>,
    /// `memory_mb:` from the config, which sizes PostgreSQL and Synapse instead of the host's.
    pub memory_mb: Option<u64>,
    /// `upstream:`: an existing Synapse that matrixbox only fronts, so it runs no containers.
    pub upstream: Option<String>,
}

impl Target {
    pub fn from_config(mode: Mode, paths: &Paths, config: &Config) -> Target {
        let listen = [
            ("http", config.listen.http),
            ("https", config.listen.https),
            ("federation", config.listen.federation),
            ("metrics", config.listen.metrics),
        ]
        .into_iter()
        .filter_map(|(role, addr)| addr.map(|a| (role, a)))
        .collect();
        let acme = match (&config.tls_files, config.acme.directory.url()) {
            (Some(_), _) => AcmeTarget::OwnFiles,
            (None, None) => AcmeTarget::Internal,
            (None, Some(url)) => AcmeTarget::Directory {
                url: url.to_string(),
                ca_root: config.acme.ca_root.clone(),
            },
        };
        // coturn listens on every address of the host (its own network).
        let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
        let (turn_tcp, turn_udp) = match &config.turn {
            Some(turn) => (
                vec![
                    ("turn.port", any(turn.port)),
                    ("turn.tls_port", any(turn.tls_port)),
                ],
                vec![("turn.port", any(turn.port))],
            ),
            None => (vec![], vec![]),
        };
        Target {
            mode,
            paths: paths.clone(),
            names: config.tls_names(),
            listen,
            turn_tcp,
            turn_udp,
            turn_relay: config.turn.as_ref().map(|t| t.relay_ports),
            acme,
            images: [
                Some(&config.postgres_candidates),
                Some(&config.synapse_candidates),
                config.web_client.as_ref().map(|w| &w.candidates),
                config.turn.as_ref().map(|_| &config.coturn_candidates),
                (!crate::workers::running(config).is_empty()).then_some(&config.redis_candidates),
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
            public_address: config.public_address,
            memory_mb: config.memory_mb,
            upstream: config.external_upstream.as_ref().map(|u| u.to_string()),
        }
    }

    /// Before any configuration exists: the defaults `setup` would write, and no name to resolve.
    pub fn without_config(mode: Mode, paths: &Paths) -> Target {
        let parse = |addr: &str| addr.parse().expect("the default listen addresses parse");
        Target {
            mode,
            paths: paths.clone(),
            names: vec![],
            listen: vec![
                ("http", parse(config::DEFAULT_LISTEN_HTTP)),
                ("https", parse(config::DEFAULT_LISTEN_HTTPS)),
            ],
            turn_tcp: vec![],
            turn_udp: vec![],
            turn_relay: None,
            acme: AcmeTarget::Directory {
                url: Directory::LetsEncrypt.url().unwrap_or_default().to_string(),
                ca_root: None,
            },
            images: vec![
                vec![config::DEFAULT_POSTGRES_IMAGE.into()],
                vec![config::DEFAULT_SYNAPSE_IMAGE.into()],
            ],
            public_address: None,
            memory_mb: None,
            upstream: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub lang: Lang,
    pub ready: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(lang: Lang, checks: Vec<Check>) -> Report {
        Report {
            lang,
            ready: !checks.iter().any(Check::stops),
            checks,
        }
    }

    pub fn stopping(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.stops())
    }
}

/// Gathers the facts for `target` and judges them.
pub async fn run(target: &Target, lang: Lang) -> Report {
    let facts = facts::gather(target).await;
    Report::new(lang, checks::evaluate(&facts, target, lang))
}
