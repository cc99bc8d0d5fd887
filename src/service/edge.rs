//! `matrixbox edge`: the unprivileged process that serves the listeners `run` hands it, from the
//! config, certificates, challenge tokens and gauges the daemon's orders bring (see `privsep`).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::tasks::Tasks;
use super::{Listeners, ServiceError};
use crate::acme::Http01Tokens;
use crate::cli::EdgeArgs;
use crate::config::{self, Config};
use crate::paths::Paths;
use crate::privsep::{self, Order};
use crate::proxy::{self, Edge, SharedEdge};
use crate::synapse;
use crate::tls::{self, CertStore};
use crate::upstream::UpstreamAddr;

/// Serves until the daemon says `Drain` or goes away, then finishes open connections. A listener
/// that ends ends the process with the reason, which the daemon reports as its own.
pub async fn run(paths: &Paths, args: EdgeArgs) -> Result<(), ServiceError> {
    let orders = std::os::unix::net::UnixStream::from(adopt(args.orders)?);
    orders.set_nonblocking(true).map_err(bad)?;
    let orders = UnixStream::from_std(orders).map_err(bad)?;
    let listeners = Listeners {
        http: args.http.map(listener).transpose()?,
        https: args
            .https
            .into_iter()
            .map(listener)
            .collect::<Result<_, _>>()?,
        metrics: args.metrics.map(listener).transpose()?,
    };
    // Synapse's sockets and the web client's files, through the descriptors the daemon opened.
    let dirs = EdgeDirs {
        sockets: args
            .sockets
            .map_or_else(|| paths.synapse_socket_dir(), privsep::dir_of),
        web: privsep::dir_of(args.web),
    };
    // systemd sends SIGTERM to both processes at once: the daemon says when to drain, after it
    // has stopped taking new work.
    let _term = signal(SignalKind::terminate()).map_err(bad)?;
    let _int = signal(SignalKind::interrupt()).map_err(bad)?;
    let _hup = signal(SignalKind::hangup()).map_err(bad)?;

    let mut serving = Serving {
        paths: paths.clone(),
        dirs,
        store: CertStore::new(),
        tokens: Http01Tokens::default(),
        edge: None,
        config: None,
        listeners: Some(listeners),
        tasks: Tasks::new(),
        shutdown: CancellationToken::new(),
    };
    let mut lines = tokio::io::BufReader::new(orders).lines();
    let outcome = loop {
        tokio::select! {
            failure = serving.tasks.failure() => break Err(failure),
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    let order = serde_json::from_str(&line)
                        .map_err(|e| bad(format!("order: {e}")))?;
                    if !serving.apply(order)? {
                        break Ok(());
                    }
                }
                // The daemon is gone: nobody keeps certificates fresh any more.
                Ok(None) | Err(_) => break Ok(()),
            },
        }
    };
    serving.shutdown.cancel();
    serving.tasks.wait_all().await;
    outcome
}

struct Serving {
    paths: Paths,
    dirs: EdgeDirs,
    store: Arc<CertStore>,
    tokens: Http01Tokens,
    edge: Option<Arc<SharedEdge>>,
    config: Option<Config>,
    /// Until `Serve`.
    listeners: Option<Listeners>,
    tasks: Tasks,
    shutdown: CancellationToken,
}

impl Serving {
    /// Carries out `order`; false once it says to drain.
    fn apply(&mut self, order: Order) -> Result<bool, ServiceError> {
        match order {
            Order::Config { text } => {
                let config = config::parse(&text, &self.paths.config)
                    .map_err(|e| bad(crate::diagnostic::one_line(&e)))?;
                let edge = build_edge(&config, &self.paths, &self.dirs, &self.tokens);
                match &self.edge {
                    Some(shared) => shared.replace(edge),
                    None => self.edge = Some(SharedEdge::new(edge)),
                }
                self.config = Some(config);
            }
            Order::Certificate { names, pem } => {
                let key = certified(&pem)?;
                self.store.install(&names, Arc::new(key));
            }
            Order::AlpnChallenge {
                name,
                pem: Some(pem),
            } => {
                let key = certified(&pem)?;
                self.store.set_alpn_challenge(&name, Arc::new(key), pem);
            }
            Order::AlpnChallenge { name, pem: None } => self.store.clear_alpn_challenge(&name),
            Order::Token {
                token,
                key_authorization: Some(key_authorization),
            } => self.tokens.insert(&token, &key_authorization),
            Order::Token {
                token,
                key_authorization: None,
            } => self.tokens.remove(&token),
            Order::Reconciled { ok } => self.shared()?.metrics().reconciled(ok),
            Order::Backup {
                last_good_at,
                failing,
            } => self
                .shared()?
                .metrics()
                .backup_recorded(last_good_at, failing),
            Order::Serve => self.serve()?,
            Order::Drain => return Ok(false),
        }
        Ok(true)
    }

    fn shared(&self) -> Result<&Arc<SharedEdge>, ServiceError> {
        self.edge
            .as_ref()
            .ok_or_else(|| bad("an order came before the configuration"))
    }

    /// Serves the edge on every listener.
    fn serve(&mut self) -> Result<(), ServiceError> {
        let edge = self.shared()?.clone();
        let Some(listeners) = self.listeners.take() else {
            return Ok(());
        };
        let tls = Arc::new(tls::server_config(self.store.clone()));
        let listening = self.shutdown.clone();
        // One count of client connections for all listeners: the caps are per process.
        let connections = proxy::Connections::new(proxy::ConnPolicy::default());
        if let Some(http) = listeners.http {
            self.tasks.spawn(
                "the HTTP listener",
                listening.clone(),
                proxy::serve_http(http, edge.clone(), connections.clone(), listening.clone()),
            );
        }
        for https in listeners.https {
            self.tasks.spawn(
                "an HTTPS listener",
                listening.clone(),
                proxy::serve_https(
                    https,
                    tls.clone(),
                    edge.clone(),
                    connections.clone(),
                    listening.clone(),
                ),
            );
        }
        if let Some(metrics) = listeners.metrics {
            self.tasks.spawn(
                "the metrics listener",
                listening.clone(),
                proxy::serve_metrics(metrics, edge, self.store.clone(), listening.clone()),
            );
        }
        let domain = self.config.as_ref().map_or("", |c| c.domain.as_str());
        tracing::info!(
            "edge serving https://{domain}/ (pid {}, uid {})",
            std::process::id(),
            nix::unistd::getuid()
        );
        Ok(())
    }
}

fn certified(pem: &tls::Pem) -> Result<rustls::sign::CertifiedKey, ServiceError> {
    tls::certified_key_from_pem(pem.chain.as_bytes(), pem.key.as_bytes())
        .map_err(|e| bad(format!("certificate: {e}")))
}

fn bad(what: impl ToString) -> ServiceError {
    ServiceError::EdgeOrders {
        what: what.to_string(),
    }
}

/// Takes ownership of descriptor `fd`, which must be an open socket.
fn adopt(fd: RawFd) -> Result<OwnedFd, ServiceError> {
    // SAFETY: fstat only writes the struct it is given; a closed descriptor is EBADF.
    let mut stat: nix::libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { nix::libc::fstat(fd, &mut stat) } == -1 {
        let e = std::io::Error::last_os_error();
        return Err(bad(format!("descriptor {fd}: {e}")));
    }
    if stat.st_mode & nix::libc::S_IFMT != nix::libc::S_IFSOCK {
        return Err(bad(format!("descriptor {fd} is not a socket")));
    }
    // SAFETY: open (fstat succeeded), a socket, and handed to this process for it alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(bad)?;
    Ok(fd)
}

fn listener(fd: RawFd) -> Result<TcpListener, ServiceError> {
    let std = std::net::TcpListener::from(adopt(fd)?);
    std.set_nonblocking(true).map_err(bad)?;
    TcpListener::from_std(std).map_err(bad)
}

/// Where the edge process finds Synapse's sockets and the web client's files: the directories
/// the daemon handed it, as `/proc/self/fd/N` (it cannot enter the state dir itself).
struct EdgeDirs {
    sockets: PathBuf,
    web: PathBuf,
}

/// The edge's routing for `config`, answering ACME challenges from `tokens` (in the edge process).
fn build_edge(config: &Config, paths: &Paths, dirs: &EdgeDirs, tokens: &Http01Tokens) -> Edge {
    let moved = |address| match address {
        UpstreamAddr::Unix { path, owner } => UpstreamAddr::Unix {
            path: dirs
                .sockets
                .join(path.file_name().expect("a socket has a name")),
            owner,
        },
        tcp => tcp,
    };
    let workers = synapse::workers::upstreams(config, paths)
        .into_iter()
        .map(|(kind, address)| (kind, moved(address)))
        .collect();
    Edge::new(
        config,
        moved(synapse::upstream(config, paths)),
        Arc::new(tokens.clone()),
    )
    .with_web_client(config, dirs.web.join(crate::webclient::bundle::CURRENT))
    .with_workers(workers)
}
