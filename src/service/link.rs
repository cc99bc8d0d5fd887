//! The daemon's side of the edge process: starting it with the bound listeners, and the orders
//! that keep it current (config, certificates, challenge tokens, gauges), written in order.

use std::os::fd::{AsRawFd, RawFd};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Listeners, ServiceError};
use crate::acme::Http01Tokens;
use crate::fsio::{self, Dir};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::privsep::{self, Identity, Order};
use crate::tls::{CertStore, StoreChange};

/// Sends orders to the edge process; clones share one queue. Orders sent before the process
/// starts wait for it.
#[derive(Clone)]
pub(super) struct Link(mpsc::UnboundedSender<Order>);

impl Link {
    pub(super) fn new() -> (Link, mpsc::UnboundedReceiver<Order>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Link(sender), receiver)
    }

    pub(super) fn send(&self, order: Order) {
        // Fails only once the edge process is gone, which ends the daemon anyway.
        let _ = self.0.send(order);
    }

    /// Mirrors every certificate and token the daemon's manager installs from now on.
    pub(super) fn mirror(&self, store: &CertStore, tokens: &Http01Tokens) {
        let link = self.clone();
        store.watch(move |change| {
            link.send(match change {
                StoreChange::Installed { names, pem } => Order::Certificate { names, pem },
                StoreChange::AlpnChallenge { name, pem } => Order::AlpnChallenge { name, pem },
            })
        });
        let link = self.clone();
        tokens.watch(move |token, key_authorization| {
            link.send(Order::Token {
                token: token.to_string(),
                key_authorization: key_authorization.map(str::to_string),
            })
        });
    }

    pub(super) fn reconciled(&self, ok: bool) {
        self.send(Order::Reconciled { ok });
    }

    pub(super) fn backup_recorded(&self, last_good_at: Option<i64>, failing: bool) {
        self.send(Order::Backup {
            last_good_at,
            failing,
        });
    }
}

/// Starts `matrixbox edge` with `listeners`, Synapse's socket dir (`managed`: when matrixbox runs
/// Synapse) and the web client's dir, as the unprivileged edge user. The daemon keeps no copy of
/// the listeners: only the edge process holds them.
pub(super) fn start(
    paths: &Paths,
    managed: bool,
    listeners: Listeners,
) -> Result<(Child, UnixStream), ServiceError> {
    let identity = Identity::for_daemon();
    if let Identity::Drop { .. } = identity
        && let Ok(passwd) = std::fs::read_to_string("/etc/passwd")
        && let Some(name) = privsep::account_conflict(&passwd)
    {
        return Err(ServiceError::EdgeUidTaken { name });
    }
    let failed = |source| ServiceError::EdgeStart { source };
    // Made here as the stack makes them, so the edge gets them before the stack first starts.
    let mut dirs = Vec::new();
    if managed {
        Dir::open_trusted(paths.state())?.ensure_dir(
            crate::paths::SYNAPSE_SOCKET,
            0o750,
            crate::synapse::UID,
            privsep::EDGE_GID,
        )?;
        dirs.push(("--sockets", paths.synapse_socket_dir()));
    }
    fsio::ensure_dir(&paths.web_dir(), 0o755)?;
    dirs.push(("--web", paths.web_dir()));
    let dirs = (dirs.into_iter())
        .map(|(flag, dir)| Ok((flag, privsep::open_dir(&dir)?)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(failed)?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(failed)?;
    let mut args = global_flags(crate::logging::verbosity(), Lang::chosen());
    args.extend([
        "--config".into(),
        paths.config.display().to_string(),
        "edge".into(),
        "--orders".into(),
        privsep::arg(&theirs),
    ]);
    let mut inherit: Vec<RawFd> = vec![theirs.as_raw_fd()];
    let mut hand = |flag: &str, fd: RawFd| {
        args.push(flag.into());
        args.push(fd.to_string());
        inherit.push(fd);
    };
    for (flag, dir) in &dirs {
        hand(flag, dir.as_raw_fd());
    }
    if let Some(http) = &listeners.http {
        hand("--http", http.as_raw_fd());
    }
    for https in &listeners.https {
        hand("--https", https.as_raw_fd());
    }
    if let Some(metrics) = &listeners.metrics {
        hand("--metrics", metrics.as_raw_fd());
    }
    let exe = std::env::current_exe().map_err(failed)?;
    let child = privsep::spawn(&exe, &args, &inherit, identity).map_err(failed)?;
    if identity == Identity::Keep {
        tracing::warn!(
            "matrixbox runs without root: the edge process keeps this user (only no-new-privileges is added)"
        );
    }
    ours.set_nonblocking(true).map_err(failed)?;
    Ok((child, UnixStream::from_std(ours).map_err(failed)?))
}

/// Pure: the daemon's own `-v` count and `--lang`, as flags for the edge's command line; the
/// environment (MATRIXBOX_LOG, the locale) reaches it by inheritance, flags do not.
fn global_flags(verbose: u8, lang: Option<Lang>) -> Vec<String> {
    let mut flags = Vec::new();
    if verbose > 0 {
        flags.push(format!("-{}", "v".repeat(verbose.into())));
    }
    if let Some(lang) = lang {
        flags.extend(["--lang".into(), lang.code().into()]);
    }
    flags
}

/// Writes `orders` to the edge process until `stop`, then tells it to drain and waits for it.
/// Returns early (a failure of the daemon, see `Tasks`) when the process ends on its own.
pub(super) async fn run(
    mut child: Child,
    stream: UnixStream,
    mut orders: mpsc::UnboundedReceiver<Order>,
    stop: CancellationToken,
) {
    let pid = child.id().unwrap_or_default();
    // The daemon only writes: nothing the edge process says is ever read.
    let (_, mut write) = stream.into_split();
    loop {
        tokio::select! {
            status = child.wait() => {
                tracing::error!("the edge process (pid {pid}) ended: {}", describe(status));
                return;
            }
            _ = stop.cancelled() => break,
            order = orders.recv() => {
                let Some(order) = order else { break };
                if send(&mut write, &order).await.is_err() {
                    // It closed its end: it is ending; its status says why.
                    let status = child.wait().await;
                    tracing::error!("the edge process (pid {pid}) ended: {}", describe(status));
                    return;
                }
            }
        }
    }
    let _ = send(&mut write, &Order::Drain).await;
    drop(write);
    let status = child.wait().await;
    tracing::info!("the edge process (pid {pid}) drained: {}", describe(status));
}

async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, order: &Order) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(order).expect("orders serialize");
    line.push(b'\n');
    write.write_all(&line).await
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn the_edge_gets_the_daemons_verbosity_and_language() {
        assert!(global_flags(0, None).is_empty());
        assert_eq!(global_flags(1, None), ["-v"]);
        let flags = global_flags(2, Some(Lang::ZhCn));
        assert_eq!(flags, ["-vv", "--lang", "zh_CN"]);
        // As `matrixbox edge` parses them, before its subcommand.
        let line = ["matrixbox"]
            .into_iter()
            .map(String::from)
            .chain(flags)
            .chain(["edge", "--orders", "3", "--web", "4"].map(String::from));
        let cli = Cli::try_parse_from(line).unwrap();
        assert_eq!((cli.verbose, cli.lang), (2, Some(Lang::ZhCn)));
        assert!(matches!(cli.command, Command::Edge(_)));
    }
}
