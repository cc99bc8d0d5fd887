//! Waiting for PostgreSQL and Synapse to become healthy: restarts waited for, crash loops stopped
//! and reported with their logs.

use super::*;

impl Stack {
    /// Waits until PostgreSQL accepts connections. A restart by Docker is waited for; a crash
    /// loop is stopped and reported with its log.
    pub(super) async fn wait_postgres_ready(&self, engine: &Engine) -> Result<(), StackError> {
        let postgres = &self.names.postgres;
        let deadline = Instant::now() + POSTGRES_READY_TIMEOUT;
        let restarts_before = engine.inspect(postgres).await?.map(|o| o.restart_count);
        loop {
            let look = progress(engine.inspect(postgres).await?.as_ref(), restarts_before);
            let restarting = look == Progress::Restarting;
            let reason = match look {
                Progress::Running => {
                    match engine.exec(postgres, &PG_ISREADY, vec![]).await {
                        Ok((0, _)) => return Ok(()),
                        Ok(_) => None,
                        // It exited between the look and the exec: the next look says how.
                        Err(e) if e.is_conflict() => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                Progress::Restarting => None,
                Progress::Failed(reason) => Some(reason),
            };
            // A slow start (crash recovery of a large database) is left running; a container
            // still being restarted at the deadline is a slow crash loop.
            let timed_out = || {
                (Instant::now() > deadline)
                    .then(|| tr(M::NotReady, &[&POSTGRES_READY_TIMEOUT.as_secs()]))
            };
            let crashed = reason.is_some() || restarting;
            if let Some(reason) = reason.or_else(timed_out) {
                let logs = engine.logs_tail(postgres, LOG_LINES_ON_FAILURE).await;
                if crashed {
                    // Stop a crash loop; the next `run` starts it again once the cause is fixed.
                    engine.stop(postgres, 10).await?;
                }
                return Err(StackError::PostgresUnhealthy {
                    container: postgres.clone(),
                    reason,
                    logs,
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub(super) async fn wait_synapse_healthy(&self, engine: &Engine) -> Result<(), StackError> {
        let client = Synapse::new(synapse::upstream(&self.config, &self.paths));
        self.wait_healthy(engine, &self.names.synapse, client).await
    }

    /// Waits until the Synapse process in container `synapse` (the main one or a worker)
    /// answers /health through `client`; a crash loop is stopped and reported with its log.
    pub(super) async fn wait_healthy(
        &self,
        engine: &Engine,
        synapse: &str,
        client: Synapse,
    ) -> Result<(), StackError> {
        let deadline = Instant::now() + self.synapse_timeout;
        let restarts_before = engine.inspect(synapse).await?.map(|o| o.restart_count);
        loop {
            let reason = match progress(engine.inspect(synapse).await?.as_ref(), restarts_before) {
                Progress::Running if client.healthy().await => return Ok(()),
                Progress::Running | Progress::Restarting => None,
                Progress::Failed(reason) => Some(reason),
            };
            let reason = reason.or_else(|| {
                (Instant::now() > deadline)
                    .then(|| tr(M::NoHealth, &[&self.synapse_timeout.as_secs()]))
            });
            if let Some(reason) = reason {
                let logs = engine.logs_tail(synapse, LOG_LINES_ON_FAILURE).await;
                // Stop a crash loop; the next `run` starts it again once the cause is fixed.
                engine.stop(synapse, 10).await?;
                return Err(StackError::SynapseUnhealthy {
                    container: synapse.to_string(),
                    reason,
                    logs,
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// What one look at an awaited container says.
#[derive(Debug, PartialEq)]
pub(super) enum Progress {
    Running,
    /// Docker's restart policy brings it back: wait.
    Restarting,
    Failed(String),
}

/// Pure: judges a container awaited since it had been restarted `restarts_before` times. Docker
/// reports a container it is about to restart as running, so restarts are counted.
pub(super) fn progress(observed: Option<&Observed>, restarts_before: Option<i64>) -> Progress {
    let Some(o) = observed else {
        return Progress::Failed(tr(M::Disappeared, &[]));
    };
    let restarts = o.restart_count - restarts_before.unwrap_or(0);
    if restarts >= CRASH_LOOP_RESTARTS {
        Progress::Failed(tr(
            M::KeepsExiting,
            &[&restarts, &o.exit_code.unwrap_or(-1)],
        ))
    } else if o.status == "restarting" {
        Progress::Restarting
    } else if o.running {
        Progress::Running
    } else {
        Progress::Failed(tr(M::Exited, &[&o.exit_code.unwrap_or(-1)]))
    }
}
