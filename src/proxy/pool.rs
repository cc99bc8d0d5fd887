//! Keep-alive HTTP/1.1 connections to Synapse. There is one upstream address, so no keyed pool
//! is needed: open connections wait in a list and a request takes the most recent ready one.
//! Cheaper per request than hyper-util's general client (no key hashing, no task spawned to
//! hand each connection back). The number of open connections is capped: a request that finds
//! none ready and no room for another waits a short while, then gives up (`Busy`).

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::forward::ClientBody as Body;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections unused for this long are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often a request waiting for room looks for a connection that became ready (a finished
/// response does not announce itself).
const WAIT_POLL: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connecting timed out after {}s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    #[error("{0}")]
    Http(#[source] hyper::Error),
    #[error("all {0} connections to the homeserver are busy")]
    Busy(usize),
}

pub struct Pool {
    /// `host:port`, resolved on every connect.
    address: String,
    /// Open connections and when each last took a request; busy ones become ready again once
    /// their response has been read.
    kept: Mutex<Vec<(SendRequest<Body>, Instant)>>,
    reaper: Once,
    /// One permit per open connection, held by the task that drives it.
    room: Arc<Semaphore>,
    max: usize,
    /// How long a request waits for a ready connection or room for one.
    wait: Duration,
}

impl Pool {
    pub fn new(address: String, max: usize, wait: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            address,
            kept: Mutex::new(Vec::new()),
            reaper: Once::new(),
            room: Arc::new(Semaphore::new(max)),
            max,
            wait,
        })
    }

    pub async fn send(
        self: Arc<Self>,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        loop {
            let (mut sender, reused) = match self.checkout() {
                Some(sender) => (sender, true),
                // Boxed: rare, and large enough to double every request's future otherwise.
                None => Box::pin(self.wait_for_connection()).await?,
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    self.checkin(sender);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    // A kept connection closed before the request went out (Synapse ends idle
                    // keep-alive connections): nothing was sent, so another is tried.
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
    }

    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut kept = self.kept.lock().expect("pool lock");
        let mut i = kept.len();
        while i > 0 {
            i -= 1;
            let (sender, _) = &kept[i];
            if sender.is_closed() {
                kept.swap_remove(i);
            } else if sender.is_ready() {
                return Some(kept.swap_remove(i).0);
            }
        }
        None
    }

    /// Every connection is kept: their number is bounded by `room`.
    fn checkin(&self, sender: SendRequest<Body>) {
        self.kept
            .lock()
            .expect("pool lock")
            .push((sender, Instant::now()));
    }

    /// A connection that became ready, or a new one once there is room for it; `Busy` after
    /// `wait`. The flag says whether the connection was reused.
    async fn wait_for_connection(
        self: &Arc<Self>,
    ) -> Result<(SendRequest<Body>, bool), UpstreamError> {
        // Kept across polls: the semaphore serves waiters in order.
        let room = self.room.clone().acquire_owned();
        let give_up = tokio::time::sleep(self.wait);
        tokio::pin!(room, give_up);
        let mut look = tokio::time::interval(WAIT_POLL);
        loop {
            tokio::select! {
                biased;
                permit = &mut room => {
                    let permit = permit.expect("the pool's semaphore is never closed");
                    return Ok((self.connect(permit).await?, false));
                }
                _ = look.tick() => {
                    if let Some(sender) = self.checkout() {
                        return Ok((sender, true));
                    }
                }
                _ = &mut give_up => return Err(UpstreamError::Busy(self.max)),
            }
        }
    }

    async fn connect(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
    ) -> Result<SendRequest<Body>, UpstreamError> {
        self.reaper.call_once(|| {
            tokio::spawn(reap(Arc::downgrade(self)));
        });
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&*self.address))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout)?
            .map_err(UpstreamError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http1::handshake(WritesLast::new(TokioIo::new(tcp)))
            .await
            .map_err(UpstreamError::Http)?;
        // Runs until the connection closes: its sender was dropped, or Synapse closed it. Only
        // then is there room for another.
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
        Ok(sender)
    }
}

/// Closes connections idle for longer than `IDLE_TIMEOUT`, for as long as the pool exists.
async fn reap(pool: Weak<Pool>) {
    let mut ticks = tokio::time::interval(IDLE_TIMEOUT / 3);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.kept
            .lock()
            .expect("pool lock")
            .retain(|(sender, since)| {
                !(sender.is_closed() || (sender.is_ready() && since.elapsed() > IDLE_TIMEOUT))
            });
    }
}

/// An upstream connection whose writes wait until the tasks already woken on this thread have
/// run. The requests that arrive together then reach Synapse back to back: where Synapse shares
/// the CPU with the edge, it wakes once for several requests instead of preempting the edge for
/// each one (small HTTP/1.1 requests with the edge bench's upstream and load, edge and upstream
/// on one core: 0.41 instead of 0.50 preemptions of the edge per request, about 5% more
/// requests/s).
struct WritesLast<T> {
    io: T,
    /// Set once this write has let the other woken tasks go first.
    waited: bool,
}

impl<T> WritesLast<T> {
    fn new(io: T) -> WritesLast<T> {
        WritesLast { io, waited: false }
    }

    /// Ready when the write may go ahead; otherwise the task is requeued behind the others.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.waited) {
            return Poll::Ready(());
        }
        self.waited = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<T: Read + Unpin> Read for WritesLast<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for WritesLast<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_turn(cx));
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_turn(cx));
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn each_write_lets_woken_tasks_go_first() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = WritesLast::new(TokioIo::new(near));
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        for (round, chunk) in [&b"GET / HTTP/1.1\r\n"[..], b"\r\n"]
            .into_iter()
            .enumerate()
        {
            // First poll: nothing written, and the task is requeued so it is polled again.
            assert!(Pin::new(&mut io).poll_write(&mut cx, chunk).is_pending());
            assert_eq!(wakes.0.load(Ordering::SeqCst), round + 1);
            // Second poll: the write goes through.
            match Pin::new(&mut io).poll_write(&mut cx, chunk) {
                Poll::Ready(Ok(n)) => assert_eq!(n, chunk.len()),
                other => panic!("write not done on its second poll: {other:?}"),
            }
        }
        drop(io);
        let mut received = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut far, &mut received)
            .await
            .unwrap();
        assert_eq!(received, b"GET / HTTP/1.1\r\n\r\n");
    }
}
