//! `export ess`: this installation as values for the ESS Community Helm chart (`matrix-stack`),
//! its secrets as Kubernetes Secret manifests, and the runbook that moves the data across.
//!
//! Pure: the config and secrets in, file contents out; `commands::export` writes them.

mod runbook;

use crate::config::{Config, Registration};
use crate::i18n::{Lang, messages};
use crate::secrets::Secrets;
use crate::synapse::email::{self, SmtpPassword};
use crate::yaml::{self, Mapping, Value};

pub use runbook::runbook;

/// The Secret holding Synapse's own secrets and the config snippets that may contain secrets.
pub const SYNAPSE_SECRET: &str = "matrixbox-synapse";
/// The Secret holding the password of Synapse's database role.
pub const POSTGRES_SECRET: &str = "matrixbox-postgres";
/// The chart's `additional` snippets, applied in name order.
const SNIPPET_SETTINGS: &str = "00-matrixbox.yaml";
const SNIPPET_SECRETS: &str = "10-matrixbox-secrets.yaml";
const SNIPPET_OVERRIDES: &str = "20-user-overrides.yaml";
/// The database and role matrixbox creates (see embedded/synapse/homeserver.yaml).
pub const DATABASE: &str = "synapse";

/// Where the cluster's Synapse keeps its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Postgres {
    /// The chart's own PostgreSQL: needs nothing outside the cluster.
    Bundled,
    /// A PostgreSQL the operator runs (a managed service): the chart only connects to it.
    External { host: String, port: u16 },
}

/// Why a homeserver.yaml setting is not carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The chart sets it itself (listeners, paths, database, workers...).
    ChartOwned,
    /// Sized for this host's memory; the cluster's pods are sized by their resources.
    HostSized,
    /// Carried as a chart value of its own instead of as Synapse config.
    ChartValue,
    /// A file or a resolver of this host (`federation.ca_roots`, `federation.dns_servers`).
    HostSpecific,
}

messages! {
    ChartOwned => "the chart sets it itself", "由 chart 自行设置";
    HostSized => "sized for this host's memory; size the pods with the chart's `resources` instead",
        "按本机内存设定；请改用 chart 的 `resources` 为 Pod 设定资源";
    ChartValue => "carried as a chart value", "已转为 chart 的取值项";
    HostSpecific => "a file or DNS server of this host; give the cluster's Synapse pods their own",
        "是本机的文件或 DNS 服务器；请为集群中的 Synapse Pod 另行配置";
}

impl Reason {
    pub fn text(self, lang: Lang) -> String {
        lang.t(
            match self {
                Reason::ChartOwned => M::ChartOwned,
                Reason::HostSized => M::HostSized,
                Reason::ChartValue => M::ChartValue,
                Reason::HostSpecific => M::HostSpecific,
            },
            &[],
        )
    }
}

/// A homeserver.yaml key that does not reach the chart's `additional` config, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub key: String,
    /// Whether the user set it under `synapse:` (otherwise matrixbox did).
    pub override_: bool,
    pub reason: Reason,
}

/// Every file of an export, as text.
#[derive(Debug)]
pub struct Export {
    /// `values.yaml`: no secret in it, only references to the Secrets.
    pub values: String,
    /// (file name, manifest): each one Secret, written 0600.
    pub secrets: Vec<(String, String)>,
    pub dropped: Vec<Dropped>,
}

/// Keys of homeserver.yaml the chart manages itself: setting them in `additional` would fight the
/// chart (its listeners, paths, database and workers) or duplicate a chart value.
const CHART_OWNED: &[&str] = &[
    "server_name",
    "public_baseurl",
    "listeners",
    "database",
    "pid_file",
    "log_config",
    "media_store_path",
    "signing_key_path",
    "macaroon_secret_key",
    "registration_shared_secret",
    "serve_server_wellknown",
    "redis",
    "instance_map",
    "stream_writers",
    "worker_app",
    "worker_name",
    "worker_listeners",
    "federation_sender_instances",
    "pusher_instances",
    "run_background_tasks_on",
    "media_instance_running_background_jobs",
    "enable_metrics",
];

/// Builds the values, the Secret manifests and the list of what was left behind.
/// `smtp_password` is `email.password_file`'s content, when `email:` has a login.
pub fn export(
    config: &Config,
    secrets: &Secrets,
    postgres: &Postgres,
    smtp_password: Option<&SmtpPassword>,
) -> Export {
    let mut dropped = own_dropped(config);
    let mut values = Mapping::new();
    values.insert("serverName".into(), config.server_name.as_str().into());

    let mut synapse = Mapping::new();
    synapse.insert("enabled".into(), true.into());
    synapse.insert(
        "ingress".into(),
        map([("host", config.domain.as_str().into())]),
    );
    for (key, secret_key) in [
        ("macaroon", "macaroon"),
        ("registrationSharedSecret", "registrationSharedSecret"),
        ("signingKey", "signingKey"),
    ] {
        synapse.insert(key.into(), secret_ref(SYNAPSE_SECRET, secret_key));
    }
    synapse.insert(
        "media".into(),
        map([(
            "maxUploadSize",
            upload_size(config.max_upload_bytes()).into(),
        )]),
    );

    // Snippets: matrixbox's non-secret settings inline; anything that may hold a secret (the
    // form secret, `email:`, the user's overrides, which may carry SMTP or TURN secrets) in the
    // Secret.
    let mut additional = Mapping::new();
    additional.insert(
        SNIPPET_SETTINGS.into(),
        map([(
            "config",
            yaml::to_string(&Value::Mapping(settings(config))).into(),
        )]),
    );
    let mut own_secrets = map_of([("form_secret", secrets.form_secret.as_str().into())]);
    let mut overrides = carried_overrides(config, &mut dropped);
    if let Some(mail) = &config.email {
        // The SMTP password makes `email:` a secret. Synapse takes each top-level key of its
        // config files whole, so the user's own `synapse: email:` options join it in one key.
        let ours = Value::Mapping(email::settings(mail, smtp_password))["email"].clone();
        match overrides.get_mut("email") {
            Some(theirs) => {
                let mut merged = ours;
                yaml::deep_merge(&mut merged, theirs.clone());
                *theirs = merged;
            }
            None => {
                own_secrets.insert("email".into(), ours);
            }
        }
    }
    let mut synapse_secret = vec![
        ("macaroon", secrets.macaroon_secret_key.clone()),
        (
            "registrationSharedSecret",
            secrets.registration_shared_secret.clone(),
        ),
        ("signingKey", secrets.signing_key.clone()),
        (
            SNIPPET_SECRETS,
            yaml::to_string(&Value::Mapping(own_secrets)),
        ),
    ];
    additional.insert(SNIPPET_SECRETS.into(), snippet_ref(SNIPPET_SECRETS));
    if !overrides.is_empty() {
        synapse_secret.push((
            SNIPPET_OVERRIDES,
            yaml::to_string(&Value::Mapping(overrides)),
        ));
        additional.insert(SNIPPET_OVERRIDES.into(), snippet_ref(SNIPPET_OVERRIDES));
    }
    synapse.insert("additional".into(), Value::Mapping(additional));

    let mut pg = Mapping::new();
    match postgres {
        Postgres::Bundled => {
            pg.insert("enabled".into(), true.into());
            pg.insert(
                "essPasswords".into(),
                map([("synapse", secret_ref(POSTGRES_SECRET, "password"))]),
            );
        }
        Postgres::External { host, port } => {
            pg.insert("enabled".into(), false.into());
            let mut db = Mapping::new();
            db.insert("host".into(), host.as_str().into());
            db.insert("port".into(), (*port).into());
            db.insert("user".into(), DATABASE.into());
            db.insert("database".into(), DATABASE.into());
            // TLS if the server offers it, as libpq's default; a managed service that requires
            // verification is set to `verify-full` by its operator.
            db.insert("sslMode".into(), "prefer".into());
            db.insert("password".into(), secret_ref(POSTGRES_SECRET, "password"));
            synapse.insert("postgres".into(), Value::Mapping(db));
        }
    }
    values.insert("synapse".into(), Value::Mapping(synapse));
    values.insert("postgres".into(), Value::Mapping(pg));

    // What matrixbox does not run stays off: MAS would take over logins (a migration of its own,
    // syn2mas), and the web clients, calls and bridges are new services, not a move.
    for component in [
        "matrixAuthenticationService",
        "elementWeb",
        "elementAdmin",
        "matrixRTC",
        "hookshot",
    ] {
        values.insert(component.into(), map([("enabled", false.into())]));
    }
    let mut well_known = Mapping::new();
    well_known.insert("enabled".into(), true.into());
    if let Some(support) = crate::wellknown::support(config) {
        well_known.insert("additional".into(), map([("support", support.into())]));
    }
    values.insert("wellKnownDelegation".into(), Value::Mapping(well_known));

    let secrets = vec![
        (
            "secret-synapse.yaml".to_string(),
            secret_manifest(SYNAPSE_SECRET, &synapse_secret),
        ),
        (
            "secret-postgres.yaml".to_string(),
            secret_manifest(
                POSTGRES_SECRET,
                &[("password", secrets.postgres_password.clone())],
            ),
        ),
    ];
    Export {
        values: format!(
            "# Values for the ESS Community chart `matrix-stack` (26.8.x), exported by matrixbox\n\
             # for {}. No secret is in this file: they are in the Secret manifests beside it.\n{}",
            config.domain,
            yaml::to_string(&Value::Mapping(values))
        ),
        secrets,
        dropped,
    }
}

/// The settings matrixbox derives for Synapse that mean the same on the chart.
fn settings(config: &Config) -> Mapping {
    let mut m = Mapping::new();
    let (enable, token, without_verification) = match config.registration {
        Registration::Closed => (false, false, false),
        Registration::Token => (true, true, false),
        Registration::Open => (true, false, true),
    };
    m.insert("enable_registration".into(), enable.into());
    if token {
        m.insert("registration_requires_token".into(), true.into());
    }
    if without_verification {
        m.insert(
            "enable_registration_without_verification".into(),
            true.into(),
        );
    }
    let servers: Vec<Value> = config
        .trusted_key_servers
        .iter()
        .map(|s| Value::Mapping(map_of([("server_name", s.as_str().into())])))
        .collect();
    m.insert("trusted_key_servers".into(), Value::Sequence(servers));
    m.insert("report_stats".into(), false.into());
    m.insert("suppress_key_server_warning".into(), true.into());
    // The allow-list and the private ranges mean the same in a cluster.
    m.extend(crate::synapse::federation::settings(&config.federation));
    m
}

/// What matrixbox itself puts in homeserver.yaml and leaves behind.
fn own_dropped(config: &Config) -> Vec<Dropped> {
    let mut owned = vec![
        "server_name",
        "public_baseurl",
        "listeners",
        "database",
        "pid_file",
        "log_config",
        "media_store_path",
        "signing_key_path",
        "serve_server_wellknown",
    ];
    // The chart exposes Synapse's metrics itself (its `serviceMonitors`).
    if config.listen.metrics.is_some() {
        owned.push("enable_metrics");
    }
    let mut dropped: Vec<Dropped> = owned
        .iter()
        .map(|key| Dropped {
            key: key.to_string(),
            override_: false,
            reason: Reason::ChartOwned,
        })
        .collect();
    for key in ["caches.global_factor", "database.args.cp_max"] {
        dropped.push(Dropped {
            key: key.into(),
            override_: false,
            reason: Reason::HostSized,
        });
    }
    let federation = &config.federation;
    for (key, set) in [
        ("federation.ca_roots", !federation.ca_roots.is_empty()),
        ("federation.dns_servers", !federation.dns_servers.is_empty()),
    ] {
        if set {
            dropped.push(Dropped {
                key: key.into(),
                override_: false,
                reason: Reason::HostSpecific,
            });
        }
    }
    dropped
}

/// The user's `synapse:` overrides without the keys the chart owns or takes as values.
fn carried_overrides(config: &Config, dropped: &mut Vec<Dropped>) -> Mapping {
    let mut kept = Mapping::new();
    for (key, value) in config.synapse_overrides.iter() {
        let name = key.as_str().unwrap_or_default();
        let reason = if name == "max_upload_size" {
            Some(Reason::ChartValue)
        } else if CHART_OWNED.contains(&name) {
            Some(Reason::ChartOwned)
        } else if name == "caches" || name == "event_cache_size" {
            Some(Reason::HostSized)
        } else {
            None
        };
        match reason {
            Some(reason) => dropped.push(Dropped {
                key: name.to_string(),
                override_: true,
                reason,
            }),
            None => {
                kept.insert(key.clone(), value.clone());
            }
        }
    }
    kept
}

/// The chart's size syntax (`^[0-9]+[MK]$`), rounded up to whole kibibytes.
fn upload_size(bytes: u64) -> String {
    if bytes > 0 && bytes.is_multiple_of(1 << 20) {
        format!("{}M", bytes >> 20)
    } else {
        format!("{}K", bytes.div_ceil(1 << 10).max(1))
    }
}

fn secret_ref(secret: &str, key: &str) -> Value {
    map([("secret", secret.into()), ("secretKey", key.into())])
}

fn snippet_ref(key: &str) -> Value {
    map([
        ("configSecret", SYNAPSE_SECRET.into()),
        ("configSecretKey", key.into()),
    ])
}

/// A Secret manifest; `stringData` keeps it readable, the API server encodes it.
fn secret_manifest(name: &str, data: &[(&str, String)]) -> String {
    let mut string_data = Mapping::new();
    for (key, value) in data {
        string_data.insert((*key).into(), value.as_str().into());
    }
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("kind".into(), "Secret".into());
    doc.insert(
        "metadata".into(),
        map([
            ("name", name.into()),
            (
                "labels",
                map([("app.kubernetes.io/managed-by", "matrixbox-export".into())]),
            ),
        ]),
    );
    doc.insert("type".into(), "Opaque".into());
    doc.insert("stringData".into(), Value::Mapping(string_data));
    format!(
        "# Secret for the ESS chart, exported by matrixbox: keep it as private as the state dir.\n{}",
        yaml::to_string(&Value::Mapping(doc))
    )
}

fn map_of<const N: usize>(entries: [(&str, Value); N]) -> Mapping {
    let mut m = Mapping::new();
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    m
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(map_of(entries))
}

#[cfg(test)]
mod tests;
