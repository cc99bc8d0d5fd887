//! `matrixbox run`: the foreground daemon; wires signals to the service's shutdown and reload.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::preflight::Show;
use crate::docker::Engine;
use crate::paths::Paths;
use crate::preflight;
use crate::secrets;
use crate::service;
use crate::stack::Stack;

pub async fn run(paths: &Paths, skip_preflight: bool) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    // Before anything is created (secrets included) or started.
    if !skip_preflight {
        let target = preflight::Target::from_config(preflight::Mode::Run, paths, &config);
        super::preflight::gate(&target, Show::Problems).await?;
    }
    let secrets = secrets::load_or_create(&paths.secrets_dir())?;
    let engine = Engine::connect().await?;
    let stack = Stack::new(config, paths.clone(), secrets);

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
        shutdown.cancel();
        // Keep the signal streams registered until the service has stopped.
        std::future::pending::<()>().await
    };
    tokio::select! {
        result = service::run(stack, engine, shutdown.clone(), &reload) => result?,
        _ = signals => unreachable!("the signal task never finishes"),
    }
    Ok(())
}
