//! The `run` daemon: the edge listeners, the certificate manager and (unless an external Synapse
//! is configured) the homeserver stack, reloaded on request and stopped cleanly on shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::acme::{AcmeError, Http01Tokens};
use crate::config::{self, Config};
use crate::diagnostic::{self, Diagnostic};
use crate::docker::Engine;
use crate::docker::engine::ContainerEvent;
use crate::i18n::{phrase, tr};
use crate::notify::{self, Backend, Notifier};
use crate::paths::Paths;
use crate::privsep;
use crate::secrets::Secrets;
use crate::stack::{Stack, StackError};
use crate::synapse;
use crate::tls::CertStore;

mod backups;
mod certificates;
pub mod edge;
mod events;
mod link;
mod listeners;
pub use listeners::{Listeners, bind};
mod messages;
mod tasks;

use messages::M;

use certificates::Certificates;
use events::{News, watch_events};
use link::Link;
use tasks::Tasks;

/// How often a running stack is observed and repaired. The engine's events bring a container
/// that died back within seconds; this tick is the fallback (a missed event, a changed image).
const RECONCILE_EVERY: Duration = Duration::from_secs(30);
/// A failing reconcile is retried after this, then twice as long each time, up to the cap: a
/// broken stack is not restarted every 30 s for days, and the log says when the next try is.
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{}", tr(M::Bind, &[addr, role]))]
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
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{}", tr(M::TaskEnded, &[&phrase(task), how]))]
    TaskEnded { task: &'static str, how: String },
    #[error("{}", tr(M::EdgeStart, &[source]))]
    EdgeStart {
        #[source]
        source: std::io::Error,
    },
    #[error("{}", tr(M::EdgeUidTaken, &[&privsep::EDGE_UID, name]))]
    EdgeUidTaken { name: String },
    #[error("{}", tr(M::EdgeOrders, &[what]))]
    EdgeOrders { what: String },
    #[error(transparent)]
    Files(#[from] crate::fsio::FsError),
}

impl Diagnostic for ServiceError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ServiceError::Bind { addr, source, role }
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                tr(M::PortTakenHint, &[&addr.port(), role])
            }
            ServiceError::Bind { role, .. } => tr(M::BindHint, &[role]),
            ServiceError::Stack(e) => return e.hint(),
            ServiceError::Certificates(e) => return e.hint(),
            ServiceError::Docker(e) => return e.hint(),
            ServiceError::Config(e) => return e.hint(),
            ServiceError::TaskEnded { .. } => tr(M::TaskEndedHint, &[]),
            ServiceError::EdgeStart { .. } => tr(M::EdgeStartHint, &[&privsep::EDGE_UID]),
            ServiceError::EdgeUidTaken { .. } => tr(M::EdgeUidTakenHint, &[&privsep::EDGE_USER]),
            ServiceError::EdgeOrders { .. } => tr(M::EdgeOrdersHint, &[]),
            ServiceError::Files(e) => return e.hint(),
        })
    }
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
    supervisor.serve(listeners)?;
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

/// Pure: the wait before attempt `failures + 1` after `failures` in a row (at least one):
/// `first`, doubled each time, at most `max`.
/// Scheduled backups run beside the stack they back up (never with an external Synapse).
fn spawn_backups(
    config: &Config,
    paths: &Paths,
    secrets: &Secrets,
    engine: &Engine,
    link: &Link,
    tasks: &mut Tasks,
    stop: &CancellationToken,
) {
    tasks.spawn(
        "the scheduled backups",
        stop.clone(),
        backups::run(
            config.clone(),
            paths.clone(),
            secrets.clone(),
            engine.clone(),
            link.clone(),
            stop.clone(),
        ),
    );
}

/// The config file's text, as the edge process gets it.
fn read_config(paths: &Paths) -> Result<String, ServiceError> {
    std::fs::read_to_string(&paths.config).map_err(|source| {
        ServiceError::Config(config::ConfigError::Read {
            path: paths.config.clone(),
            source,
        })
    })
}

fn backoff(first: Duration, failures: u32, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(max)
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
    /// Orders to the edge process, which serves the listeners (see `privsep`).
    link: Link,
    /// Until the edge process starts.
    orders: Option<mpsc::UnboundedReceiver<privsep::Order>>,
    /// The edge process, the certificate manager and the event watcher.
    tasks: Tasks,
    /// From the event watcher (which never runs without an engine).
    news: mpsc::Receiver<News>,
    backend: Backend,
    /// Reconciles failed in a row; sets the backoff.
    failures: u32,
    next_reconcile: Instant,
    /// Why the last reload was refused, until one succeeds.
    reload_error: Option<String>,
    /// Stops the scheduled backups' task (replaced when a reload changes the schedule).
    backups: CancellationToken,
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
        // The config first: the edge process builds its routing from it before anything else.
        let (link, orders) = Link::new();
        link.send(privsep::Order::Config {
            text: read_config(&paths)?,
        });
        let (store, tokens) = (CertStore::new(), Http01Tokens::default());
        link.mirror(&store, &tokens);
        let certificates =
            Certificates::start(&config, &paths, store, tokens, &mut tasks, &shutdown)?;
        let stack = engine
            .as_ref()
            .map(|_| Stack::new(config.clone(), paths.clone(), secrets.clone()));
        let (sender, news) = mpsc::channel(16);
        if let (Some(engine), Some(stack)) = (&engine, &stack) {
            // Subscribed before the stack is brought up, so no death after it goes unseen.
            // The names are the instance's, which a reload cannot change.
            // Every worker's and Redis's, configured or not: `needs_repair` judges a death.
            let mut names = vec![stack.names.postgres.clone(), stack.names.synapse.clone()];
            names.extend(stack.worker_containers());
            let stop = shutdown.child_token();
            tasks.spawn(
                "the Docker event watcher",
                stop.clone(),
                watch_events(engine.clone(), names, sender, stop),
            );
        }
        Ok(Supervisor {
            backups: shutdown.child_token(),
            config,
            paths,
            secrets,
            shutdown,
            notify,
            engine,
            stack,
            certificates,
            link,
            orders: Some(orders),
            tasks,
            news,
            backend: Backend::Healthy,
            failures: 0,
            next_reconcile: Instant::now() + RECONCILE_EVERY,
            reload_error: None,
        })
    }

    /// Hands every bound listener to the edge process, which serves them from now on.
    fn serve(&mut self, listeners: Listeners) -> Result<(), ServiceError> {
        let managed = self.config.external_upstream.is_none();
        let (child, stream) = link::start(&self.paths, managed, listeners)?;
        let orders = self.orders.take().expect("the edge process starts once");
        self.link.send(privsep::Order::Serve);
        let stop = self.shutdown.child_token();
        self.tasks.spawn(
            "the edge process",
            stop.clone(),
            link::run(child, stream, orders, stop),
        );
        Ok(())
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
                "homeserver is up: https://{}/ (Synapse at {})",
                self.config.domain,
                synapse::upstream(&self.config, &self.paths).describe()
            );
            // Only now: a backup taken while the stack is still coming up would only fail.
            spawn_backups(
                &self.config,
                &self.paths,
                &self.secrets,
                engine,
                &self.link,
                &mut self.tasks,
                &self.backups,
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
        let loaded = read_config(&self.paths)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                config::parse(&text, &self.paths.config)
                    .map(|config| (text, config))
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok((text, new_config)) => {
                if new_config.listen.metrics != self.config.listen.metrics {
                    tracing::warn!(
                        "listen.metrics changed: the listener moves when matrixbox restarts (admin_allow applies now)"
                    );
                }
                self.link.send(privsep::Order::Config { text });
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
                if let Some(engine) = &self.engine
                    && new_config.backup != self.config.backup
                {
                    self.backups.cancel();
                    self.backups = self.shutdown.child_token();
                    spawn_backups(
                        &new_config,
                        &self.paths,
                        &self.secrets,
                        engine,
                        &self.link,
                        &mut self.tasks,
                        &self.backups,
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
                self.reload_error = Some(e);
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
        self.link.reconciled(outcome.is_ok());
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
                crate::upgrade::kept::sweep_now(&self.paths, self.config.keep_old_postgres).await;
            }
            // `matrixbox upgrade` migrated PostgreSQL under the running daemon: the file names the
            // new major, so it is read again (as a reload) instead of refusing until one.
            Err(e) if crate::upgrade::major::follows_migration(&e, &self.paths) => {
                tracing::info!(
                    "{e}: the data directory was migrated and the configuration file names its major; reading the configuration again"
                );
                self.reload();
                self.notify.ready(&self.status());
                self.next_reconcile = Instant::now();
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
mod tests;
