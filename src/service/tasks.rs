//! The daemon's long-running tasks, named, and what it means when one of them ends.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::ServiceError;
use super::messages::M;
use crate::i18n::tr;

/// The daemon's long-running tasks: the listeners, the certificate manager and the engine's
/// event watcher. None of them ends before it is asked to, so one that ends or panics is a bug
/// that would otherwise go unnoticed while the watchdog is still fed (certificates silently
/// stop renewing, a port stops answering). The daemon then exits with the reason rather than
/// restarting the task itself: systemd restarts it from a clean state with its own rate limit,
/// and the failure is in the journal and the unit's state for everyone to see.
pub(super) struct Tasks {
    pub(super) set: JoinSet<()>,
    /// Each task's name and the token that asks it to stop.
    pub(super) running: HashMap<tokio::task::Id, (&'static str, CancellationToken)>,
}

/// How a task ended.
#[derive(Debug, PartialEq)]
pub(super) enum Ended {
    Returned,
    Panicked(String),
    Aborted,
}

impl Tasks {
    pub(super) fn new() -> Tasks {
        Tasks {
            set: JoinSet::new(),
            running: HashMap::new(),
        }
    }

    /// Runs `task`, which must run until `stop` is cancelled.
    pub(super) fn spawn(
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
    pub(super) async fn failure(&mut self) -> ServiceError {
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
    pub(super) async fn wait_all(&mut self) {
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
pub(super) fn judge_end(
    name: &'static str,
    ended: Ended,
    asked_to_stop: bool,
) -> Option<ServiceError> {
    let how = match ended {
        Ended::Returned | Ended::Aborted if asked_to_stop => return None,
        Ended::Returned => tr(M::EndedOnItsOwn, &[]),
        Ended::Aborted => tr(M::Cancelled, &[]),
        Ended::Panicked(message) => tr(M::Panicked, &[&message]),
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
