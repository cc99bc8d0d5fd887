//! The `run` daemon: bring the stack up, keep it reconciled, reload on SIGHUP, stop cleanly on shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config;
use crate::docker::Engine;
use crate::stack::{Stack, StackError};

/// How often a running stack is observed and repaired (a crashed container is started again).
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// Runs until `shutdown` is cancelled, then stops Synapse and PostgreSQL. `reload` is notified on SIGHUP.
pub async fn run(
    mut stack: Stack,
    engine: Engine,
    shutdown: CancellationToken,
    reload: &tokio::sync::Notify,
) -> Result<(), StackError> {
    let report = stack.up(&engine).await?;
    tracing::info!(
        postgres = ?report.postgres,
        synapse = ?report.synapse,
        "homeserver is up: https://{}/ (Synapse on 127.0.0.1:{})",
        stack.config.domain,
        stack.config.synapse_port
    );
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = reload.notified() => {
                match config::load(&stack.paths.config) {
                    Ok(new_config) => {
                        stack = Stack::new(new_config, stack.paths.clone(), stack.secrets.clone());
                        tracing::info!("configuration reloaded");
                    }
                    Err(e) => tracing::error!("reload failed, keeping the running configuration: {e}"),
                }
            }
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
        }
        if let Err(e) = stack.up(&engine).await {
            tracing::error!("reconcile failed: {e}; hint: {}", e.hint());
        }
    }
    tracing::info!("shutting down: stopping Synapse, then PostgreSQL");
    stack.down(&engine).await
}
