//! Following the Docker engine's events for this instance's containers, across engine restarts.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff;
use crate::diagnostic;
use crate::docker::Engine;
use crate::docker::engine::ContainerEvent;

/// Reconnecting to the engine's events after it went away (Docker restarted).
pub(super) const EVENTS_RETRY_FIRST: Duration = Duration::from_secs(1);
pub(super) const EVENTS_RETRY_MAX: Duration = Duration::from_secs(30);
/// An event stream that lived this long was healthy: the next loss starts a fresh backoff.
const EVENTS_STABLE: Duration = Duration::from_secs(60);

/// What the event watcher tells the supervisor.
#[derive(Debug)]
pub(super) enum News {
    /// A managed container died or was removed.
    Died(ContainerEvent),
    /// The engine answers again after its events were lost: events may have been missed.
    Reconnected,
}

/// Follows the engine's `die` and `destroy` events of `names` until `stop`, reconnecting (with
/// backoff) when the engine goes away. A full channel means a look is already due: dropped.
pub(super) async fn watch_events(
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
