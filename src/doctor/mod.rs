//! Doctor: on a running installation, walk the path a remote server takes (discovery,
//! well-known, TLS, signing keys, client API) and look at the local parts, reporting each step.
//!
//! `gather` does the network and Docker work and keeps every outcome as a fact; `judge` turns
//! facts into steps purely (unit-tested); `discovery` and `keys` hold the Matrix rules.

pub mod discovery;
pub mod judge;
pub mod keys;
pub mod messages;
pub mod net;
pub mod render;
pub mod smtp;
pub mod turn;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use crate::acme::{self, CertStatus};
use crate::backup::schedule::{self, Freshness};
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::disk::{self, Disk, DiskRole};
use crate::docker::{Engine, Observed, Runtime};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::stack::{Names, Stack};
use discovery::{Endpoint, HostPort};
use net::{FetchError, Fetched, Net};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not tried, because an earlier step it depends on failed (or it does not apply).
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable identifier for scripts.
    pub id: &'static str,
    pub title: String,
    pub status: Status,
    pub evidence: String,
    pub remedy: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub server_name: String,
    pub lang: Lang,
    pub healthy: bool,
    pub steps: Vec<Step>,
}

impl Report {
    pub fn new(server_name: String, lang: Lang, steps: Vec<Step>) -> Report {
        Report {
            server_name,
            lang,
            healthy: !steps.iter().any(|s| s.status == Status::Fail),
            steps,
        }
    }
}

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub connect_to: Vec<net::ConnectTo>,
    /// An extra trusted root (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// What the outside world showed.
#[derive(Debug, Clone)]
pub struct Remote {
    pub server_name: HostPort,
    /// `None` when the server name is an IP literal or has a port (no well-known is asked for).
    pub well_known: Option<Result<Fetched, FetchError>>,
    pub endpoint: Endpoint,
    /// SRV lookups that failed (not "no record"): (name, error).
    pub srv_errors: Vec<(String, String)>,
    pub address: Result<SocketAddr, FetchError>,
    /// `/_matrix/key/v2/server` at the endpoint; also the TLS evidence. `None` if not reached.
    pub keys: Option<Result<Fetched, FetchError>>,
    pub client_well_known: Result<Fetched, FetchError>,
    /// The base URL used (from the client well-known, or `https://<domain>`) and its answer.
    pub versions: (String, Result<Fetched, FetchError>),
    /// `/_matrix/client/v3/login` at the same base URL: the login flows offered.
    pub login: Result<Fetched, FetchError>,
    /// The internal CA's root, when it was trusted automatically.
    pub internal_root: Option<PathBuf>,
}

/// Each of our containers by name, `None` when it does not exist.
pub type Containers = Vec<(String, Option<Observed>)>;
/// A certificate file's names and end of validity.
pub type CertFile = Result<(Vec<String>, OffsetDateTime), String>;

/// What this host shows.
#[derive(Debug, Clone)]
pub struct Local {
    /// `None` with `upstream:` (no containers of ours).
    pub containers: Option<Result<Containers, String>>,
    /// `None` with `upstream:` or while PostgreSQL is not running.
    pub database: Option<Result<(), String>>,
    pub certificates: Vec<CertStatus>,
    /// With `tls:` (own files): the certificate file and what it says (names, not_after).
    pub own_certificate: Option<(PathBuf, CertFile)>,
    pub disk: Disk,
    /// `None` with `upstream:` (no database of ours to back up); else how the last backup
    /// stands and whether backups are scheduled.
    pub backup: Option<(Freshness, bool)>,
}

#[derive(Debug, Clone)]
pub struct Facts {
    pub domain: String,
    pub remote: Remote,
    pub local: Local,
    /// `None` without other servers on `federation.allow`.
    pub peers: Option<Peers>,
    /// The instance's Synapse container, named in the fixes that send the user to its logs.
    pub synapse_container: String,
    /// The SMTP server of `email:` as tried; `None` without `email:`.
    pub email: Option<Result<smtp::Session, smtp::Failure>>,
    /// With `turn.enabled`: the relay tried at `turn.port` on this host with a user's credentials
    /// from Synapse, and what came of it.
    pub turn: Option<(SocketAddr, Result<SocketAddr, turn::TurnProblem>)>,
    /// The instance's coturn container, named in the TURN step's fixes.
    pub coturn_container: String,
    pub now: OffsetDateTime,
}

/// The other servers on `federation.allow`, looked up as Synapse does (through
/// `federation.dns_servers`, else the host's resolvers), and the private ranges it may dial.
#[derive(Debug, Clone)]
pub struct Peers {
    /// The lookups; `Err` when the resolver itself cannot be used.
    pub lookups: Result<Vec<crate::dns::NameLookup>, String>,
    /// `federation.dns_servers`; empty: the host's resolvers.
    pub resolvers: Vec<std::net::IpAddr>,
    pub private_networks: Vec<ipnet::IpNet>,
}

/// Gathers everything and judges it.
pub async fn run(paths: &Paths, config: &Config, options: &Options, lang: Lang) -> Report {
    let facts = gather(paths, config, options).await;
    Report::new(
        config.server_name.clone(),
        lang,
        judge::evaluate(&facts, lang),
    )
}

async fn gather(paths: &Paths, config: &Config, options: &Options) -> Facts {
    let certificates = acme::status(paths);
    // A certificate from matrixbox's own CA is trusted by no one else: trust it here and say so.
    let internal_root = certificates
        .iter()
        .find_map(|c| c.trust_root.as_ref())
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let extra: Vec<PathBuf> = options
        .ca_file
        .iter()
        .chain(internal_root.iter())
        .cloned()
        .collect();
    let roots = crate::tls::client_roots(&extra.iter().map(PathBuf::as_path).collect::<Vec<_>>())
        .unwrap_or_else(|e| {
            tracing::warn!("extra roots not usable, using the system's only: {e}");
            crate::tls::client_roots(&[]).unwrap_or_else(|_| rustls::RootCertStore::empty())
        });
    let smtp_roots = std::sync::Arc::new(roots.clone());
    let net = Net::new(options.connect_to.clone(), roots);
    let email = async {
        match &config.email {
            Some(email) => Some(smtp::probe(email, &config.domain, smtp_roots).await),
            None => None,
        }
    };
    let (remote, local, email, peers, turn) = tokio::join!(
        remote(&net, config, internal_root),
        local(paths, config, certificates),
        email,
        peers(config),
        turn_allocation(paths, config)
    );
    Facts {
        domain: config.domain.clone(),
        remote,
        local,
        peers,
        turn,
        synapse_container: Names::of(&config.instance).synapse,
        coturn_container: Names::of(&config.instance).coturn,
        email,
        now: OffsetDateTime::now_utc(),
    }
}

async fn peers(config: &Config) -> Option<Peers> {
    let host = |name: &str| HostPort::parse(name).map_or_else(|_| name.to_string(), |h| h.host);
    let own = host(&config.server_name);
    let mut names: Vec<String> = (config.federation.allow.iter().flatten())
        .map(|n| host(n))
        .filter(|h| *h != own)
        .collect();
    names.dedup();
    if names.is_empty() {
        return None;
    }
    // An address as server name needs no lookup.
    let (literal, names): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| n.parse::<IpAddr>().is_ok());
    let resolvers = config.federation.dns_servers.clone();
    // Synapse's container asks the first resolver first; so does doctor.
    let server = resolvers
        .first()
        .map(|ip| SocketAddr::new(*ip, 53).to_string());
    let lookups = match server {
        Some(server) => crate::dns::lookup_all_at(Some(&server), &names).await,
        None => crate::dns::lookup_all(&names).await,
    };
    let lookups = lookups
        .map(|mut found| {
            found.extend(literal.into_iter().map(|name| crate::dns::NameLookup {
                result: Ok(crate::dns::Resolved {
                    cnames: vec![],
                    addrs: vec![name.parse().expect("partitioned on parsing")],
                }),
                name,
            }));
            found
        })
        .map_err(|e| match e {
            crate::dns::ResolverError::BadOverride(value) => {
                format!("{} is `{value}`, not ip:port", crate::dns::DNS_SERVER_ENV)
            }
            crate::dns::ResolverError::System(error) => error,
        });
    Some(Peers {
        lookups,
        resolvers,
        private_networks: config.federation.private_networks.clone(),
    })
}

async fn remote(net: &Net, config: &Config, internal_root: Option<PathBuf>) -> Remote {
    let server_name = HostPort::parse(&config.server_name).unwrap_or(HostPort {
        host: config.server_name.clone(),
        port: None,
    });
    let mut srv_errors = Vec::new();
    let (well_known, endpoint) = match discovery::literal(&server_name) {
        Some(endpoint) => (None, endpoint),
        None => {
            let host = &server_name.host;
            let fetched = net
                .get_following(host, 443, "/.well-known/matrix/server")
                .await;
            let delegated = fetched
                .as_ref()
                .ok()
                .and_then(|f| discovery::server_well_known(&f.answer).ok())
                .map(|(to, _)| to);
            let endpoint = match delegated.as_ref().and_then(discovery::literal) {
                Some(endpoint) => endpoint,
                None => {
                    let srv_host = delegated.map_or_else(|| host.clone(), |to| to.host);
                    let mut answers = Vec::new();
                    for prefix in ["_matrix-fed._tcp", "_matrix._tcp"] {
                        let name = format!("{prefix}.{srv_host}");
                        match net.srv(&name).await {
                            Ok(records) => answers.push(records),
                            Err(e) => {
                                srv_errors.push((name, e));
                                answers.push(vec![]);
                            }
                        }
                    }
                    discovery::after_srv(&srv_host, &answers[0], &answers[1])
                }
            };
            (Some(fetched), endpoint)
        }
    };
    let address = net.address(&endpoint.connect_host, endpoint.port).await;
    let keys = match &address {
        Ok(addr) => Some(
            net.get_at(
                *addr,
                &endpoint.tls_name,
                &endpoint.host_header,
                "/_matrix/key/v2/server",
            )
            .await,
        ),
        Err(_) => None,
    };

    // Clients start from the user ID's server name too.
    let client_host = &server_name.host;
    let client_port = server_name.port.unwrap_or(443);
    let client_well_known = net
        .get_following(client_host, client_port, "/.well-known/matrix/client")
        .await;
    let base_url = client_well_known
        .as_ref()
        .ok()
        .and_then(|f| discovery::client_well_known(&f.answer).ok())
        .map(|(url, _)| url)
        .unwrap_or_else(|| {
            format!("https://{}", config.domain)
                .parse()
                .expect("a validated domain makes a URL")
        });
    let versions = client_get(net, &base_url, "/_matrix/client/versions").await;
    let login = client_get(net, &base_url, "/_matrix/client/v3/login").await;
    Remote {
        server_name,
        well_known,
        endpoint,
        srv_errors,
        address,
        keys,
        client_well_known,
        versions: (
            base_url.to_string().trim_end_matches('/').to_string(),
            versions,
        ),
        login,
        internal_root,
    }
}

/// With `turn.enabled`: credentials from Synapse as a user gets them (matrixbox's service
/// account asks), then an allocation at `turn.port` on this host.
async fn turn_allocation(
    paths: &Paths,
    config: &Config,
) -> Option<(SocketAddr, Result<SocketAddr, turn::TurnProblem>)> {
    let port = config.turn.as_ref()?.port;
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let credentials = async {
        let secrets = crate::secrets::load(&paths.secrets_dir()).map_err(|e| e.to_string())?;
        let admin = crate::synapse::session::Admin::new(
            crate::synapse::admin::Synapse::new(crate::synapse::upstream(config, paths)),
            paths.secrets_dir(),
            secrets.registration_shared_secret,
        );
        match admin.turn_credentials().await {
            Ok(Some((username, password))) => Ok(turn::Credentials { username, password }),
            Ok(None) => Err("Synapse hands out no TURN credentials".to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    let outcome = match credentials.await {
        Ok(credentials) => turn::allocate(server, &credentials).await,
        Err(e) => Err(turn::TurnProblem::Credentials(e)),
    };
    Some((server, outcome))
}

/// A GET of the client API at `base_url`, as a client would.
async fn client_get(net: &Net, base_url: &http::Uri, api: &str) -> Result<Fetched, FetchError> {
    let host = base_url
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = base_url.port_u16().unwrap_or(443);
    let authority = base_url
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let path = format!("{}{api}", base_url.path().trim_end_matches('/'));
    net.get(host, port, host, &authority, &path).await
}

async fn local(paths: &Paths, config: &Config, certificates: Vec<CertStatus>) -> Local {
    let own_certificate = config.tls_files.as_ref().map(|files| {
        let facts = std::fs::read(&files.cert)
            .map_err(|e| e.to_string())
            .and_then(|pem| acme::certinfo::from_pem(&pem))
            .map(|f| (f.names, f.validity.not_after));
        (files.cert.clone(), facts)
    });
    let disk = disk::disk(DiskRole::State, &paths.state_dir);
    let (containers, database) = if config.external_upstream.is_some() {
        (None, None)
    } else {
        containers_and_database(paths, config).await
    };
    let backup = config.external_upstream.is_none().then(|| {
        let record = schedule::load(paths);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        (
            schedule::freshness(now, &record),
            config.backup.every.is_some(),
        )
    });
    Local {
        backup,
        containers,
        database,
        certificates,
        own_certificate,
        disk,
    }
}

type ContainerFacts = (
    Option<Result<Containers, String>>,
    Option<Result<(), String>>,
);

async fn containers_and_database(paths: &Paths, config: &Config) -> ContainerFacts {
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => return (Some(Err(e.to_string())), None),
    };
    let names = Names::of(&config.instance);
    let mut observed = Vec::new();
    for name in [names.postgres, names.synapse] {
        match engine.inspect(&name).await {
            Ok(o) => observed.push((name, o)),
            Err(e) => return (Some(Err(e.to_string())), None),
        }
    }
    let postgres_running = observed[0].1.as_ref().is_some_and(|o| o.running);
    let database = if postgres_running {
        match crate::secrets::load(&paths.secrets_dir()) {
            Ok(secrets) => {
                let stack = Stack::new(config.clone(), paths.clone(), secrets);
                Some(
                    stack
                        .verify_database_locale(&engine)
                        .await
                        .map_err(|e| format!("{e}; {}", e.hint().unwrap_or_default())),
                )
            }
            Err(e) => Some(Err(e.to_string())),
        }
    } else {
        None
    };
    (Some(Ok(observed)), database)
}
