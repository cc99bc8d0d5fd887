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
use crate::diagnostic::Diagnostic;
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

impl Diagnostic for ServiceError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ServiceError::Bind { addr, source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => format!(
                "another program listens on port {0}: stop it (`ss -ltnp 'sport = :{0}'` shows which), or change `listen:` in matrixbox.yaml",
                addr.port()
            ),
            ServiceError::Bind { .. } => "ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or change `listen:` in matrixbox.yaml".into(),
            ServiceError::Stack(e) => return e.hint(),
            ServiceError::Certificates(e) => return e.hint(),
            ServiceError::Docker(e) => return e.hint(),
        })
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
        let bound = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .and_then(TcpListener::from_std);
        bound.map_err(|source| ServiceError::Bind { addr, role, source })
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

/// The certificate side of the daemon: the store the edge serves from, the HTTP-01 tokens it
/// answers with, and the running manager (replaced when a reload changes what to certify).
struct Certificates {
    store: Arc<CertStore>,
    tokens: Http01Tokens,
    /// Cancels the running manager.
    manager: CancellationToken,
}

impl Certificates {
    /// Installs what can be served right away, then starts the manager that keeps it fresh.
    fn start(
        config: &Config,
        paths: &Paths,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<Certificates, AcmeError> {
        let certificates = Certificates {
            store: CertStore::new(),
            tokens: Http01Tokens::default(),
            manager: shutdown.child_token(),
        };
        certificates.spawn_manager(config, paths, tasks)?;
        Ok(certificates)
    }

    /// Starts a certificate manager for `config` after installing what can be served right away.
    fn spawn_manager(
        &self,
        config: &Config,
        paths: &Paths,
        tasks: &TaskTracker,
    ) -> Result<(), AcmeError> {
        let manager = CertManager::new(config, paths, self.store.clone(), self.tokens.clone());
        manager.install_initial()?;
        tasks.spawn(manager.run(self.manager.clone()));
        Ok(())
    }

    /// Stops the running manager and starts one for `config`; on failure the certificates
    /// already in the store stay in service.
    fn restart(
        &mut self,
        config: &Config,
        paths: &Paths,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        self.manager.cancel();
        self.manager = shutdown.child_token();
        if let Err(e) = self.spawn_manager(config, paths, tasks) {
            tracing::error!(
                "certificates for the new configuration failed, serving the previous ones: {e}"
            );
        }
    }

    /// The `notAfter` of the certificate served for `config`'s primary name.
    fn served_until(&self, config: &Config) -> Option<time::OffsetDateTime> {
        self.store
            .get(&config.tls_names()[0])
            .and_then(|key| key.cert.first().and_then(|der| notify::not_after(der)))
    }
}

/// The edge's routing for `config`, answering ACME challenges from `tokens`.
fn edge(config: &Config, tokens: &Http01Tokens) -> Edge {
    Edge::new(config, upstream(config), Arc::new(tokens.clone()))
}

/// Runs until `shutdown` is cancelled, then drains the edge and stops Synapse and PostgreSQL.
/// `reload` is notified on SIGHUP: the config is re-read and only what changed is redone.
/// systemd hears READY=1 once listeners, a certificate and a healthy stack are all in place.
pub async fn run(
    config: Config,
    paths: Paths,
    secrets: Secrets,
    listeners: Listeners,
    shutdown: CancellationToken,
    reload: &tokio::sync::Notify,
) -> Result<(), ServiceError> {
    let mut supervisor = Supervisor::start(config, paths, secrets, shutdown).await?;
    supervisor.serve(listeners);
    supervisor.bring_up_stack().await?;
    supervisor.notify.ready(&supervisor.status());
    supervisor.watch(reload).await;
    supervisor.stop().await
}

/// What the daemon holds while it runs.
struct Supervisor {
    config: Config,
    paths: Paths,
    secrets: Secrets,
    shutdown: CancellationToken,
    notify: Notifier,
    /// `None` with an external Synapse: no containers are managed.
    engine: Option<Engine>,
    /// Present exactly when `engine` is.
    stack: Option<Stack>,
    certificates: Certificates,
    edge: Arc<SharedEdge>,
    /// Every task the daemon spawned: the manager and the listeners.
    tasks: TaskTracker,
    backend: Backend,
    /// Why the last reload was refused, until one succeeds.
    reload_error: Option<String>,
}

impl Supervisor {
    /// Connects to the engine (unless an external Synapse is configured) and puts a
    /// certificate in place; nothing is served yet.
    async fn start(
        config: Config,
        paths: Paths,
        secrets: Secrets,
        shutdown: CancellationToken,
    ) -> Result<Supervisor, ServiceError> {
        let notify = Notifier::from_env();
        let engine = match config.external_upstream {
            None => Some(Engine::connect().await?),
            Some(_) => None,
        };
        let tasks = TaskTracker::new();
        let certificates = Certificates::start(&config, &paths, &tasks, &shutdown)?;
        let edge = SharedEdge::new(edge(&config, &certificates.tokens));
        let stack = engine
            .as_ref()
            .map(|_| Stack::new(config.clone(), paths.clone(), secrets.clone()));
        Ok(Supervisor {
            config,
            paths,
            secrets,
            shutdown,
            notify,
            engine,
            stack,
            certificates,
            edge,
            tasks,
            backend: Backend::Healthy,
            reload_error: None,
        })
    }

    /// Serves the edge on every bound listener.
    fn serve(&self, listeners: Listeners) {
        let tls = Arc::new(tls::server_config(self.certificates.store.clone()));
        let listening = self.shutdown.child_token();
        if let Some(http) = listeners.http {
            self.tasks.spawn(proxy::serve_http(
                http,
                self.edge.clone(),
                listening.clone(),
            ));
        }
        for https in listeners.https {
            self.tasks.spawn(proxy::serve_https(
                https,
                tls.clone(),
                self.edge.clone(),
                listening.clone(),
            ));
        }
        tracing::info!("edge serving https://{}/", self.config.domain);
    }

    /// Brings PostgreSQL and Synapse up before READY=1; a failure here ends the daemon.
    async fn bring_up_stack(&self) -> Result<(), ServiceError> {
        if let (Some(stack), Some(engine)) = (&self.stack, &self.engine) {
            self.notify.status(&format!(
                "starting: bringing up PostgreSQL and Synapse for {}",
                self.config.domain
            ));
            let report = self.notify.while_working(stack.up(engine)).await?;
            tracing::info!(
                postgres = ?report.postgres,
                synapse = ?report.synapse,
                "homeserver is up: https://{}/ (Synapse on 127.0.0.1:{})",
                self.config.domain,
                self.config.synapse_port
            );
        }
        Ok(())
    }

    /// Until shutdown: feeds the watchdog, reconciles the stack every `RECONCILE_EVERY` and
    /// after each reload, and keeps systemd's status line current.
    async fn watch(&mut self, reload: &tokio::sync::Notify) {
        // The watchdog is fed from this loop only (on its ticks and while it awaits a reconcile), so
        // a stalled loop gets the process restarted.
        let mut ticks = tokio::time::interval(self.notify.tick());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
        loop {
            let reloading = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = ticks.tick() => {
                    self.notify.watchdog();
                    continue;
                }
                _ = tokio::time::sleep_until(next_reconcile) => false,
                _ = reload.notified() => {
                    self.reload();
                    true
                }
            };
            self.reconcile().await;
            next_reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
            let line = self.status();
            if reloading {
                self.notify.ready(&line);
            } else {
                self.notify.status(&line);
            }
        }
    }

    /// Re-reads the config and redoes only what changed; a bad file keeps the running one.
    fn reload(&mut self) {
        self.notify.reloading();
        match config::load(&self.paths.config) {
            Ok(new_config) => {
                self.edge
                    .replace(edge(&new_config, &self.certificates.tokens));
                if new_config.tls_names() != self.config.tls_names()
                    || new_config.acme != self.config.acme
                    || new_config.tls_files != self.config.tls_files
                {
                    self.certificates.restart(
                        &new_config,
                        &self.paths,
                        &self.tasks,
                        &self.shutdown,
                    );
                }
                if self.stack.is_some() {
                    self.stack = Some(Stack::new(
                        new_config.clone(),
                        self.paths.clone(),
                        self.secrets.clone(),
                    ));
                }
                self.config = new_config;
                self.reload_error = None;
                tracing::info!("configuration reloaded");
            }
            Err(e) => {
                tracing::error!("reload failed, keeping the running configuration: {e}");
                self.reload_error = Some(e.to_string());
            }
        }
    }

    /// Observes the stack and repairs it (a crashed container is started again).
    async fn reconcile(&mut self) {
        if let (Some(stack), Some(engine)) = (&self.stack, &self.engine) {
            self.backend = match self.notify.while_working(stack.up(engine)).await {
                Ok(_) => Backend::Healthy,
                Err(e) => {
                    tracing::error!(
                        "reconcile failed: {e}; hint: {}",
                        e.hint().unwrap_or_default()
                    );
                    Backend::Failing(e.to_string())
                }
            };
        }
    }

    /// systemd's one-line status: the domain, the backend, the certificate and any reload error.
    fn status(&self) -> String {
        let backend = match &self.config.external_upstream {
            Some(uri) => Backend::External(uri.to_string()),
            None => self.backend.clone(),
        };
        notify::status_line(
            &self.config.domain,
            &backend,
            self.certificates.served_until(&self.config),
            self.reload_error.as_deref(),
            time::OffsetDateTime::now_utc(),
        )
    }

    /// Drains the edge and waits for every task, then stops Synapse and PostgreSQL.
    async fn stop(self) -> Result<(), ServiceError> {
        tracing::info!("shutting down: draining connections, then stopping Synapse and PostgreSQL");
        self.notify
            .status("stopping: draining connections, then stopping Synapse and PostgreSQL");
        self.notify
            .while_working(async {
                self.tasks.close();
                self.tasks.wait().await;
                if let (Some(stack), Some(engine)) = (&self.stack, &self.engine) {
                    stack.down(engine).await?;
                }
                Ok(())
            })
            .await
    }
}
