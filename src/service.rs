//! The `run` daemon: the edge listeners, the certificate manager and (unless an external Synapse
//! is configured) the homeserver stack, reloaded on request and stopped cleanly on shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::acme::{AcmeError, CertManager, Http01Tokens};
use crate::config::{self, Config};
use crate::diagnostic::{self, Diagnostic};
use crate::docker::Engine;
use crate::docker::engine::ContainerEvent;
use crate::notify::{self, Backend, Notifier};
use crate::paths::Paths;
use crate::proxy::{self, ChallengeLookup, Edge, SharedEdge};
use crate::secrets::Secrets;
use crate::stack::{Stack, StackError};
use crate::tls::{self, CertStore};

/// How often a running stack is observed and repaired. The engine's events bring a container
/// that died back within seconds; this tick is the fallback (a missed event, a changed image).
const RECONCILE_EVERY: Duration = Duration::from_secs(30);
/// A failing reconcile is retried after this, then twice as long each time, up to the cap: a
/// broken stack is not restarted every 30 s for days, and the log says when the next try is.
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Reconnecting to the engine's events after it went away (Docker restarted).
const EVENTS_RETRY_FIRST: Duration = Duration::from_secs(1);
const EVENTS_RETRY_MAX: Duration = Duration::from_secs(30);
/// An event stream that lived this long was healthy: the next loss starts a fresh backoff.
const EVENTS_STABLE: Duration = Duration::from_secs(60);

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
    #[error("{task} {how} while the daemon was running")]
    TaskEnded { task: &'static str, how: String },
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
            ServiceError::TaskEnded { .. } => "a bug in matrixbox: please report it with the log above. The daemon exits so that systemd starts it afresh (Restart=on-failure); Synapse and PostgreSQL keep running meanwhile, and `matrixbox run` takes them over".into(),
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
        tasks: &mut Tasks,
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
        tasks: &mut Tasks,
    ) -> Result<(), AcmeError> {
        let manager = CertManager::new(config, paths, self.store.clone(), self.tokens.clone());
        manager.install_initial()?;
        tasks.spawn(
            "the certificate manager",
            self.manager.clone(),
            manager.run(self.manager.clone()),
        );
        Ok(())
    }

    /// Stops the running manager and starts one for `config`; on failure the certificates
    /// already in the store stay in service.
    fn restart(
        &mut self,
        config: &Config,
        paths: &Paths,
        tasks: &mut Tasks,
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
/// A daemon task that ends or panics ends the daemon with the reason (see `Tasks`).
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
    match supervisor.watch(reload).await {
        Ok(()) => supervisor.stop().await,
        Err(failure) => {
            supervisor.abandon().await;
            Err(failure)
        }
    }
}

/// The daemon's long-running tasks: the listeners, the certificate manager and the engine's
/// event watcher. None of them ends before it is asked to, so one that ends or panics is a bug
/// that would otherwise go unnoticed while the watchdog is still fed (certificates silently
/// stop renewing, a port stops answering). The daemon then exits with the reason rather than
/// restarting the task itself: systemd restarts it from a clean state with its own rate limit,
/// and the failure is in the journal and the unit's state for everyone to see.
struct Tasks {
    set: JoinSet<()>,
    /// Each task's name and the token that asks it to stop.
    running: HashMap<tokio::task::Id, (&'static str, CancellationToken)>,
}

/// How a task ended.
#[derive(Debug, PartialEq)]
enum Ended {
    Returned,
    Panicked(String),
    Aborted,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks {
            set: JoinSet::new(),
            running: HashMap::new(),
        }
    }

    /// Runs `task`, which must run until `stop` is cancelled.
    fn spawn(
        &mut self,
        name: &'static str,
        stop: CancellationToken,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = self.set.spawn(task);
        self.running.insert(handle.id(), (name, stop));
    }

    /// The first task that ends or panics without having been asked to stop; pends while
    /// none does. Cancel-safe (a `select!` branch).
    async fn failure(&mut self) -> ServiceError {
        loop {
            let Some(joined) = self.set.join_next_with_id().await else {
                return std::future::pending().await;
            };
            let (id, ended) = match joined {
                Ok((id, ())) => (id, Ended::Returned),
                Err(e) if e.is_panic() => (e.id(), Ended::Panicked(panic_message(e.into_panic()))),
                Err(e) => (e.id(), Ended::Aborted),
            };
            let Some((name, stop)) = self.running.remove(&id) else {
                continue;
            };
            if let Some(failure) = judge_end(name, ended, stop.is_cancelled()) {
                return failure;
            }
        }
    }

    /// Waits until every task has ended (after they were asked to stop).
    async fn wait_all(&mut self) {
        while let Some(joined) = self.set.join_next_with_id().await {
            let id = match &joined {
                Ok((id, ())) => *id,
                Err(e) => e.id(),
            };
            let name = self.running.remove(&id).map_or("a task", |(name, _)| name);
            if let Err(e) = joined
                && e.is_panic()
            {
                tracing::error!(
                    "{name} panicked while stopping: {}",
                    panic_message(e.into_panic())
                );
            }
        }
    }
}

/// Pure: whether a task's end is a failure of the daemon. A task asked to stop may return; a
/// panic is a failure whenever it happens.
fn judge_end(name: &'static str, ended: Ended, asked_to_stop: bool) -> Option<ServiceError> {
    let how = match ended {
        Ended::Returned | Ended::Aborted if asked_to_stop => return None,
        Ended::Returned => "ended on its own".to_string(),
        Ended::Aborted => "was cancelled".to_string(),
        Ended::Panicked(message) => format!("panicked ({message})"),
    };
    Some(ServiceError::TaskEnded { task: name, how })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or("no message".into(), |text| text.to_string()),
    }
}

/// Pure: the wait before attempt `failures + 1` after `failures` in a row (at least one):
/// `first`, doubled each time, at most `max`.
fn backoff(first: Duration, failures: u32, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(max)
}

/// What the event watcher tells the supervisor.
#[derive(Debug)]
enum News {
    /// A managed container died or was removed.
    Died(ContainerEvent),
    /// The engine answers again after its events were lost: events may have been missed.
    Reconnected,
}

/// Follows the engine's `die` and `destroy` events of `names` until `stop`, reconnecting (with
/// backoff) when the engine goes away. A full channel means a look is already due: dropped.
async fn watch_events(
    engine: Engine,
    names: Vec<String>,
    news: mpsc::Sender<News>,
    stop: CancellationToken,
) {
    let mut failures = 0;
    loop {
        let subscribed = Instant::now();
        let mut events = std::pin::pin!(engine.container_events(&names));
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.next() => event,
            };
            match event {
                Some(Ok(event)) => {
                    let _ = news.try_send(News::Died(event));
                }
                Some(Err(e)) => {
                    tracing::warn!(
                        "lost the Docker engine's events ({}); reconnecting",
                        diagnostic::one_line(&e)
                    );
                    break;
                }
                None => {
                    tracing::warn!("the Docker engine ended its event stream; reconnecting");
                    break;
                }
            }
        }
        if subscribed.elapsed() >= EVENTS_STABLE {
            failures = 0;
        }
        loop {
            failures += 1;
            let wait = backoff(EVENTS_RETRY_FIRST, failures, EVENTS_RETRY_MAX);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if engine.ping().await.is_ok() {
                break;
            }
        }
        tracing::info!("following the Docker engine's events again");
        let _ = news.try_send(News::Reconnected);
    }
}

/// Why a reconcile runs.
#[derive(Debug)]
enum Trigger {
    /// The periodic look, or the next attempt after a failure.
    Tick,
    Reload,
    /// A managed container died (`why` says which and how); `at` is when it was seen.
    Event {
        why: String,
        at: Instant,
    },
    /// The engine's events were lost and are back.
    Reconnected,
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
    /// The listeners, the certificate manager and the event watcher.
    tasks: Tasks,
    /// From the event watcher (which never runs without an engine).
    news: mpsc::Receiver<News>,
    backend: Backend,
    /// Reconciles failed in a row; sets the backoff.
    failures: u32,
    next_reconcile: Instant,
    /// Why the last reload was refused, until one succeeds.
    reload_error: Option<String>,
}

impl Supervisor {
    /// Connects to the engine (unless an external Synapse is configured), follows its events and
    /// puts a certificate in place; nothing is served yet.
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
        let mut tasks = Tasks::new();
        let certificates = Certificates::start(&config, &paths, &mut tasks, &shutdown)?;
        let edge = SharedEdge::new(edge(&config, &certificates.tokens));
        let stack = engine
            .as_ref()
            .map(|_| Stack::new(config.clone(), paths.clone(), secrets.clone()));
        let (sender, news) = mpsc::channel(16);
        if let (Some(engine), Some(stack)) = (&engine, &stack) {
            // Subscribed before the stack is brought up, so no death after it goes unseen.
            // The names are the instance's, which a reload cannot change.
            let names = vec![stack.names.postgres.clone(), stack.names.synapse.clone()];
            let stop = shutdown.child_token();
            tasks.spawn(
                "the Docker event watcher",
                stop.clone(),
                watch_events(engine.clone(), names, sender, stop),
            );
        }
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
            news,
            backend: Backend::Healthy,
            failures: 0,
            next_reconcile: Instant::now() + RECONCILE_EVERY,
            reload_error: None,
        })
    }

    /// Serves the edge on every bound listener.
    fn serve(&mut self, listeners: Listeners) {
        let tls = Arc::new(tls::server_config(self.certificates.store.clone()));
        let listening = self.shutdown.child_token();
        // One count of client connections for all listeners: the caps are per process.
        let connections = proxy::Connections::new(proxy::ConnPolicy::default());
        if let Some(http) = listeners.http {
            self.tasks.spawn(
                "the HTTP listener",
                listening.clone(),
                proxy::serve_http(
                    http,
                    self.edge.clone(),
                    connections.clone(),
                    listening.clone(),
                ),
            );
        }
        for https in listeners.https {
            self.tasks.spawn(
                "an HTTPS listener",
                listening.clone(),
                proxy::serve_https(
                    https,
                    tls.clone(),
                    self.edge.clone(),
                    connections.clone(),
                    listening.clone(),
                ),
            );
        }
        tracing::info!("edge serving https://{}/", self.config.domain);
    }

    /// Brings PostgreSQL and Synapse up before READY=1; a failure here ends the daemon.
    async fn bring_up_stack(&mut self) -> Result<(), ServiceError> {
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
        self.next_reconcile = Instant::now() + RECONCILE_EVERY;
        Ok(())
    }

    /// Until shutdown: feeds the watchdog, reconciles the stack when a managed container dies,
    /// every `RECONCILE_EVERY` (or the backoff after a failure) and after each reload, and keeps
    /// systemd's status line current. Returns the failure of a daemon task.
    async fn watch(&mut self, reload: &tokio::sync::Notify) -> Result<(), ServiceError> {
        // The watchdog is fed from this loop only (on its ticks and while it awaits a reconcile), so
        // a stalled loop gets the process restarted.
        let mut ticks = tokio::time::interval(self.notify.tick());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let trigger = tokio::select! {
                _ = self.shutdown.cancelled() => return Ok(()),
                failure = self.tasks.failure() => return Err(failure),
                _ = ticks.tick() => {
                    self.notify.watchdog();
                    continue;
                }
                _ = tokio::time::sleep_until(self.next_reconcile) => Trigger::Tick,
                _ = reload.notified() => {
                    self.reload();
                    Trigger::Reload
                }
                Some(news) = self.news.recv() => match news {
                    News::Died(event) => match self.died(event).await {
                        Some(trigger) => trigger,
                        None => continue,
                    },
                    News::Reconnected => Trigger::Reconnected,
                },
            };
            self.reconcile(&trigger).await?;
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            let line = self.status();
            if matches!(trigger, Trigger::Reload) {
                self.notify.ready(&line);
            } else {
                self.notify.status(&line);
            }
        }
    }

    /// Whether a container's death calls for a reconcile now. Deaths a reconcile caused itself
    /// (a recreate, a crash loop it stopped) arrive after it and find everything running or the
    /// stack failing, so matrixbox never fights its own actions; while the stack is failing the
    /// backoff decides when to try again.
    async fn died(&self, event: ContainerEvent) -> Option<Trigger> {
        let at = Instant::now();
        let (Some(stack), Some(engine)) = (&self.stack, &self.engine) else {
            return None;
        };
        if self.failures > 0 {
            return None;
        }
        let why = match stack.needs_repair(engine).await {
            Ok(None) => return None,
            Ok(Some(why)) => why,
            Err(e) => format!(
                "cannot look at the containers ({})",
                diagnostic::one_line(&e)
            ),
        };
        let exit = event
            .exit_code
            .map(|code| format!(" with status {code}"))
            .unwrap_or_default();
        Some(Trigger::Event {
            why: format!(
                "{why} (engine event: {} {}{exit})",
                event.container, event.action
            ),
            at,
        })
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
                        &mut self.tasks,
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

    /// Observes the stack and repairs it (a crashed container is started again), then schedules
    /// the next look: the tick after a success, the backoff after a failure. Gives way to
    /// shutdown; returns the failure of a daemon task that ends meanwhile.
    async fn reconcile(&mut self, trigger: &Trigger) -> Result<(), ServiceError> {
        let (Some(stack), Some(engine)) = (&self.stack, &self.engine) else {
            self.next_reconcile = Instant::now() + RECONCILE_EVERY;
            return Ok(());
        };
        match trigger {
            Trigger::Event { why, .. } => tracing::warn!("{why}: reconciling now"),
            Trigger::Reconnected => {
                tracing::info!(
                    "reconciling: events may have been missed while the engine was away"
                );
                // An engine that was down is a likely cause of the failures: try now.
                self.failures = 0;
            }
            Trigger::Tick | Trigger::Reload => {}
        }
        let outcome = tokio::select! {
            outcome = self.notify.while_working(stack.up(engine)) => outcome,
            _ = self.shutdown.cancelled() => return Ok(()),
            failure = self.tasks.failure() => return Err(failure),
        };
        match outcome {
            Ok(_) => {
                if let Trigger::Event { at, .. } = trigger {
                    tracing::info!(
                        "recovered: the homeserver is healthy {:.1}s after the container died",
                        at.elapsed().as_secs_f64()
                    );
                } else if self.failures > 0 {
                    tracing::info!("reconcile succeeded after {} failures", self.failures);
                }
                self.failures = 0;
                self.backend = Backend::Healthy;
                self.next_reconcile = Instant::now() + RECONCILE_EVERY;
            }
            Err(e) => {
                self.failures += 1;
                let wait = backoff(RETRY_FIRST, self.failures, RETRY_MAX);
                tracing::error!(
                    "reconcile failed ({} in a row; next attempt in {}s): {e}; hint: {}",
                    self.failures,
                    wait.as_secs(),
                    e.hint().unwrap_or_default()
                );
                self.backend = Backend::Failing(format!(
                    "{}; {} failures in a row, next attempt in {}s",
                    notify::first_line(&e.to_string()),
                    self.failures,
                    wait.as_secs()
                ));
                self.next_reconcile = Instant::now() + wait;
            }
        }
        Ok(())
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
    async fn stop(mut self) -> Result<(), ServiceError> {
        tracing::info!("shutting down: draining connections, then stopping Synapse and PostgreSQL");
        self.notify
            .status("stopping: draining connections, then stopping Synapse and PostgreSQL");
        let (notify, tasks, stack, engine) =
            (&self.notify, &mut self.tasks, &self.stack, &self.engine);
        notify
            .while_working(async {
                tasks.wait_all().await;
                if let (Some(stack), Some(engine)) = (stack, engine) {
                    stack.down(engine).await?;
                }
                Ok(())
            })
            .await
    }

    /// After a task failed: drains the edge and stops the other tasks, but leaves Synapse and
    /// PostgreSQL running, so the daemon systemd starts next takes them over at once.
    async fn abandon(mut self) {
        self.notify.stopping(
            "stopping after a failure: draining connections, Synapse and PostgreSQL keep running",
        );
        self.shutdown.cancel();
        let (notify, tasks) = (&self.notify, &mut self.tasks);
        notify.while_working(tasks.wait_all()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let waits: Vec<u64> = (1..=8)
            .map(|n| backoff(RETRY_FIRST, n, RETRY_MAX).as_secs())
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(RETRY_FIRST, u32::MAX, RETRY_MAX), RETRY_MAX);
        assert_eq!(
            backoff(EVENTS_RETRY_FIRST, 1, EVENTS_RETRY_MAX).as_secs(),
            1
        );
    }

    #[test]
    fn a_task_may_end_only_when_asked() {
        assert!(judge_end("t", Ended::Returned, true).is_none());
        assert!(judge_end("t", Ended::Aborted, true).is_none());
        let text = |e: Option<ServiceError>| e.expect("a failure").to_string();
        assert_eq!(
            text(judge_end("the certificate manager", Ended::Returned, false)),
            "the certificate manager ended on its own while the daemon was running"
        );
        assert_eq!(
            text(judge_end(
                "an HTTPS listener",
                Ended::Panicked("boom".into()),
                true
            )),
            "an HTTPS listener panicked (boom) while the daemon was running",
            "a panic is a failure even during shutdown"
        );
    }

    /// The join-set logic with real tasks: the first unexpected end is reported by name, a task
    /// stopped on request is not, and `failure` pends while every task runs.
    #[tokio::test]
    async fn the_first_task_that_dies_is_reported_by_name() {
        let mut tasks = Tasks::new();
        let stop = CancellationToken::new();
        let waiting = stop.clone();
        tasks.spawn("the HTTP listener", stop.clone(), async move {
            waiting.cancelled().await
        });
        let manager = CancellationToken::new();
        let replaced = manager.clone();
        tasks.spawn("the old certificate manager", manager.clone(), async move {
            replaced.cancelled().await
        });
        let quiet = tokio::time::timeout(Duration::from_millis(200), tasks.failure()).await;
        assert!(quiet.is_err(), "no failure while every task runs");
        // A manager replaced on reload ends on request: not a failure.
        manager.cancel();
        let quiet = tokio::time::timeout(Duration::from_millis(200), tasks.failure()).await;
        assert!(quiet.is_err(), "a task stopped on request is no failure");

        let (go, now) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(
            "the certificate manager",
            CancellationToken::new(),
            async move {
                let _ = now.await;
                panic!("renewal state is corrupt");
            },
        );
        go.send(()).unwrap();
        let failure = tokio::time::timeout(Duration::from_secs(5), tasks.failure())
            .await
            .expect("the panic is seen");
        assert_eq!(
            failure.to_string(),
            "the certificate manager panicked (renewal state is corrupt) while the daemon was running"
        );
        assert!(failure.hint().unwrap().contains("systemd"));

        tasks.spawn(
            "the Docker event watcher",
            CancellationToken::new(),
            async {},
        );
        let failure = tokio::time::timeout(Duration::from_secs(5), tasks.failure())
            .await
            .expect("the end is seen");
        assert!(
            failure
                .to_string()
                .starts_with("the Docker event watcher ended on its own")
        );

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), tasks.wait_all())
            .await
            .expect("every task ends once asked");
    }
}
