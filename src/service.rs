//! The `run` daemon: the edge listeners, the certificate manager and (unless an external Synapse
//! is configured) the homeserver stack, reloaded on request and stopped cleanly on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::acme::{AcmeError, CertManager, Http01Tokens};
use crate::config::{self, Config};
use crate::docker::Engine;
use crate::notify::{self, Backend, Notifier};
use crate::paths::Paths;
use crate::proxy::{self, ChallengeLookup, Edge, SharedEdge};
use crate::secrets::Secrets;
use crate::stack::{Stack, StackError};
use crate::tls::{self, CertStore};

/// How often a running stack is observed and repaired (a crashed container is started again).
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot listen on {addr} ({role})")]
    Bind {
        addr: SocketAddr,
        role: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Certificates(#[from] AcmeError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
}

impl ServiceError {
    pub fn hint(&self) -> String {
        match self {
            ServiceError::Bind { addr, source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => format!(
                "another program listens on port {0}: stop it (`ss -ltnp 'sport = :{0}'` shows which), or change `listen:` in matrixbox.yaml",
                addr.port()
            ),
            ServiceError::Bind { .. } => "ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or change `listen:` in matrixbox.yaml".into(),
            ServiceError::Stack(e) => e.hint(),
            ServiceError::Certificates(e) => e.hint(),
            ServiceError::Docker(e) => e.hint(),
        }
    }
}

/// The sockets the edge serves; bound by the caller before anything else starts.
pub struct Listeners {
    pub http: Option<TcpListener>,
    /// :443 and, when enabled, :8448: both serve the same TLS edge.
    pub https: Vec<TcpListener>,
}

/// Binds every configured listener, or fails naming the first one that cannot be bound.
pub fn bind(config: &Config) -> Result<Listeners, ServiceError> {
    let open = |addr: SocketAddr, role: &'static str| {
        proxy::listener(addr).map_err(|source| ServiceError::Bind { addr, role, source })
    };
    let http = config.listen.http.map(|a| open(a, "http")).transpose()?;
    let mut https = Vec::new();
    for (addr, role) in [
        (config.listen.https, "https"),
        (config.listen.federation, "federation"),
    ] {
        if let Some(addr) = addr {
            https.push(open(addr, role)?);
        }
    }
    Ok(Listeners { http, https })
}

impl ChallengeLookup for Http01Tokens {
    fn key_authorization(&self, token: &str) -> Option<String> {
        self.get(token)
    }
}

/// Where the edge sends the Matrix API: the configured external Synapse or our container.
fn upstream(config: &Config) -> http::uri::Authority {
    match &config.external_upstream {
        Some(uri) => uri
            .authority()
            .expect("validated: upstream has an authority")
            .clone(),
        None => format!("127.0.0.1:{}", config.synapse_port)
            .parse()
            .expect("an IP and port form an authority"),
    }
}

/// Starts a certificate manager for `config` after installing what can be served right away.
fn start_certificates(
    config: &Config,
    paths: &Paths,
    store: &Arc<CertStore>,
    tokens: &Http01Tokens,
    tracker: &TaskTracker,
    token: CancellationToken,
) -> Result<(), AcmeError> {
    let manager = CertManager::new(config, paths, store.clone(), tokens.clone());
    manager.install_initial()?;
    tracker.spawn(manager.run(token));
    Ok(())
}

/// Runs until `shutdown` is cancelled, then drains the edge and stops Synapse and PostgreSQL.
/// `reload` is notified on SIGHUP: the config is re-read and only what changed is redone.
/// systemd hears READY=1 once listeners, a certificate and a healthy stack are all in place.
pub async fn run(
    mut config: Config,
    paths: Paths,
    secrets: Secrets,
    listeners: Listeners,
    shutdown: CancellationToken,
    reload: &tokio::sync::Notify,
) -> Result<(), ServiceError> {
    let notify = Notifier::from_env();
    let engine = match config.external_upstream {
        None => Some(Engine::connect().await?),
        Some(_) => None,
    };
    let store = CertStore::new();
    let tokens = Http01Tokens::default();
    let tasks = TaskTracker::new();
    let mut certificates = shutdown.child_token();
    start_certificates(
        &config,
        &paths,
        &store,
        &tokens,
        &tasks,
        certificates.clone(),
    )?;

    let edge = SharedEdge::new(Edge::new(
        &config,
        upstream(&config),
        Arc::new(tokens.clone()),
    ));
    let tls = Arc::new(tls::server_config(store.clone()));
    let listening = shutdown.child_token();
    let connections = proxy::Connections::new(proxy::ConnPolicy::default());
    if let Some(http) = listeners.http {
        tasks.spawn(proxy::serve_http(
            http,
            edge.clone(),
            connections.clone(),
            listening.clone(),
        ));
    }
    for https in listeners.https {
        tasks.spawn(proxy::serve_https(
            https,
            tls.clone(),
            edge.clone(),
            connections.clone(),
            listening.clone(),
        ));
    }
    tracing::info!("edge serving https://{}/", config.domain);

    let mut stack = engine
        .as_ref()
        .map(|_| Stack::new(config.clone(), paths.clone(), secrets.clone()));
    let mut backend = Backend::Healthy;
    if let (Some(stack), Some(engine)) = (&stack, &engine) {
        notify.status(&format!(
            "starting: bringing up PostgreSQL and Synapse for {}",
            config.domain
        ));
        let report = notify.while_working(stack.up(engine)).await?;
        tracing::info!(
            postgres = ?report.postgres,
            synapse = ?report.synapse,
            "homeserver is up: https://{}/ (Synapse on 127.0.0.1:{})",
            config.domain,
            config.synapse_port
        );
    }
    let mut reload_error: Option<String> = None;
    let status = |config: &Config, backend: &Backend, reload_error: &Option<String>| {
        let backend = match &config.external_upstream {
            Some(uri) => Backend::External(uri.to_string()),
            None => backend.clone(),
        };
        let served = store
            .get(&config.tls_names()[0])
            .and_then(|key| key.cert.first().and_then(|der| notify::not_after(der)));
        notify::status_line(
            &config.domain,
            &backend,
            served,
            reload_error.as_deref(),
            time::OffsetDateTime::now_utc(),
        )
    };
    notify.ready(&status(&config, &backend, &reload_error));

    // The watchdog is fed from this loop only (on its ticks and while it awaits a reconcile), so
    // a stalled loop gets the process restarted.
    let mut ticks = tokio::time::interval(notify.tick());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
    loop {
        let reloading = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {
                notify.watchdog();
                continue;
            }
            _ = tokio::time::sleep_until(next_reconcile) => false,
            _ = reload.notified() => {
                notify.reloading();
                match config::load(&paths.config) {
                    Ok(new_config) => {
                        edge.replace(Edge::new(&new_config, upstream(&new_config), Arc::new(tokens.clone())));
                        if new_config.tls_names() != config.tls_names() || new_config.acme != config.acme || new_config.tls_files != config.tls_files {
                            certificates.cancel();
                            certificates = shutdown.child_token();
                            if let Err(e) = start_certificates(&new_config, &paths, &store, &tokens, &tasks, certificates.clone()) {
                                tracing::error!("certificates for the new configuration failed, serving the previous ones: {e}");
                            }
                        }
                        if stack.is_some() {
                            stack = Some(Stack::new(new_config.clone(), paths.clone(), secrets.clone()));
                        }
                        config = new_config;
                        reload_error = None;
                        tracing::info!("configuration reloaded");
                    }
                    Err(e) => {
                        tracing::error!("reload failed, keeping the running configuration: {e}");
                        reload_error = Some(e.to_string());
                    }
                }
                true
            }
        };
        if let (Some(stack), Some(engine)) = (&stack, &engine) {
            backend = match notify.while_working(stack.up(engine)).await {
                Ok(_) => Backend::Healthy,
                Err(e) => {
                    tracing::error!("reconcile failed: {e}; hint: {}", e.hint());
                    Backend::Failing(e.to_string())
                }
            };
        }
        next_reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
        let line = status(&config, &backend, &reload_error);
        if reloading {
            notify.ready(&line);
        } else {
            notify.status(&line);
        }
    }
    tracing::info!("shutting down: draining connections, then stopping Synapse and PostgreSQL");
    notify.status("stopping: draining connections, then stopping Synapse and PostgreSQL");
    notify
        .while_working(async {
            tasks.close();
            tasks.wait().await;
            if let (Some(stack), Some(engine)) = (&stack, &engine) {
                stack.down(engine).await?;
            }
            Ok(())
        })
        .await
}
