//! `matrixbox run`: the foreground daemon; binds the listeners and wires signals to the service.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::gate::{self, Show};
use crate::diagnostic::ExitCode;
use crate::i18n::{Lang, messages};
use crate::notify::Notifier;
use crate::paths::Paths;
use crate::preflight;
use crate::report::{self, Hinted};
use crate::secrets;

messages! {
    Forced => "stopped by a second SIGTERM/SIGINT before the shutdown finished", "关闭尚未完成时收到第二个 SIGTERM/SIGINT，已强制停止";
    ForcedHint => "Synapse and PostgreSQL may still be running or stopping; `matrixbox down` stops them cleanly",
        "Synapse 和 PostgreSQL 可能仍在运行或正在停止；`matrixbox down` 可以干净地停止它们";
}
use crate::service;

pub async fn run(paths: &Paths, skip_preflight: bool) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    for key in &config.ignored_keys {
        tracing::warn!(
            "`{key}` in {} is no longer used (Synapse listens on a UNIX socket that only matrixbox reaches); delete the line",
            paths.config.display()
        );
    }
    // Before anything is created (secrets included) or started.
    if !skip_preflight {
        let target = preflight::Target::from_config(preflight::Mode::Run, paths, &config);
        gate::pass(&target, Show::Problems).await?;
    }
    // Ports next: a busy port is reported before anything is created or started.
    let listeners = service::bind(&config)?;
    let secrets = secrets::load_or_create(&paths.secrets_dir())?;

    let shutdown = CancellationToken::new();
    let reload = tokio::sync::Notify::new();
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let signals = async {
        loop {
            tokio::select! {
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => reload.notify_one(),
            }
        }
        tracing::info!("shutdown requested");
        Notifier::from_env()
            .stopping("stopping: draining connections, then stopping Synapse and PostgreSQL");
        shutdown.cancel();
        // A second request means "now": exit without waiting for the drain and the containers'
        // clean stop (they stop on their own, or with `matrixbox down`).
        loop {
            tokio::select! {
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => {}
            }
        }
        tracing::warn!("second shutdown request: exiting at once");
        let lang = Lang::current();
        let forced = Hinted::new(lang.t(M::Forced, &[]), lang.t(M::ForcedHint, &[]));
        eprint!("{}", report::render(&anyhow::Error::new(forced)));
        std::process::exit(ExitCode::Failure.code())
    };
    tokio::select! {
        result = service::run(config, paths.clone(), secrets, listeners, shutdown.clone(), &reload) => result?,
        _ = signals => unreachable!("the signal task never finishes"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(super::M::ALL);
    }
}
