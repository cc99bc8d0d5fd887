//! Keep-alive HTTP/1.1 connections to Synapse. There is one upstream address, so no keyed pool
//! is needed: open connections wait in a list and a request takes the most recent ready one.
//! Cheaper per request than hyper-util's general client (no key hashing, no task spawned to
//! hand each connection back). The number of open connections is capped: a request that finds
//! none ready and no room for another waits a short while, then gives up (`Busy`). A connection
//! whose response the client stopped taking is closed after a while, whatever the protocol (an
//! HTTP/2 client can stall a stream by never granting flow-control window).

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::client_body::ClientBody as Body;
use crate::upstream::UpstreamAddr;

/// Connections unused for this long are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often a request waiting for room looks for a connection that became ready, should it have
/// missed the announcement (`finished`) of one.
const WAIT_POLL: Duration = Duration::from_millis(250);
/// Long-poll `/sync` holds a request for up to its `timeout` (clients use 30 s); leave ample room.
/// Also bounds opening a connection.
const RESPONSE_HEADERS_TIMEOUT: Duration = Duration::from_secs(330);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("{0}")]
    Http(#[source] hyper::Error),
    #[error("all {0} connections to the homeserver are busy")]
    Busy(usize),
    #[error("no answer within {}s", RESPONSE_HEADERS_TIMEOUT.as_secs())]
    NoAnswer,
}

pub struct Pool {
    address: UpstreamAddr,
    /// Open connections; busy ones become ready again once their response has been read.
    kept: Mutex<Vec<Kept>>,
    reaper: Once,
    /// A response not taken by its client for this long closes its connection.
    stall_after: Duration,
    /// One permit per open connection, held by the task that drives it.
    room: Arc<Semaphore>,
    max: usize,
    /// How long a request waits for a ready connection or room for one.
    wait: Duration,
    /// Announces a response finished, so its connection is (about to be) ready again.
    finished: Notify,
    /// Requests waiting for a connection: only then is a finished response announced.
    waiting: AtomicUsize,
}

impl Pool {
    pub fn new(
        address: UpstreamAddr,
        max: usize,
        wait: Duration,
        stall_after: Duration,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            address,
            kept: Mutex::new(Vec::new()),
            reaper: Once::new(),
            stall_after,
            room: Arc::new(Semaphore::new(max)),
            max,
            wait,
            finished: Notify::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Where the connections go.
    pub fn address(&self) -> &UpstreamAddr {
        &self.address
    }

    /// (in use, idle, max) now, for the metrics: open connections hold a permit of `room`; idle
    /// ones are kept and ready (a kept one still streaming its response is not).
    pub fn state(&self) -> (usize, usize, usize) {
        let open = self.max - self.room.available_permits().min(self.max);
        let idle = (self.kept.lock().expect("pool lock").iter())
            .filter(|k| k.conn.sender.is_ready())
            .count();
        (open.saturating_sub(idle), idle.min(open), self.max)
    }

    /// Called when a response from this pool has been passed on whole (or dropped): one request
    /// waiting for a connection looks again.
    pub fn response_finished(&self) {
        // A waiter that counts itself just after this look finds the connection at its first
        // look (`WAIT_POLL`'s first tick is at once).
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.finished.notify_one();
        }
    }

    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        loop {
            let (mut conn, reused) = match self.checkout() {
                Some(conn) => (conn, true),
                // Boxed: rare, and large enough to double every request's future otherwise.
                None => Box::pin(self.wait_for_connection()).await?,
            };
            // Timed here rather than around `send`: this future is small, `send`'s holds the
            // request, and a wrapper would move it once more.
            let answer =
                tokio::time::timeout(RESPONSE_HEADERS_TIMEOUT, conn.sender.try_send_request(req));
            match answer.await.map_err(|_| UpstreamError::NoAnswer)? {
                Ok(response) => {
                    self.checkin(conn);
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

    fn checkout(&self) -> Option<Conn> {
        let mut kept = self.kept.lock().expect("pool lock");
        let mut i = kept.len();
        while i > 0 {
            i -= 1;
            let sender = &kept[i].conn.sender;
            if sender.is_closed() {
                kept.swap_remove(i);
            } else if sender.is_ready() {
                return Some(kept.swap_remove(i).conn);
            }
        }
        None
    }

    /// Every connection is kept: their number is bounded by `room`.
    fn checkin(&self, conn: Conn) {
        let now = Instant::now();
        let reads = conn.reads.done.load(Ordering::Relaxed);
        self.kept.lock().expect("pool lock").push(Kept {
            conn,
            since: now,
            reads,
            progress_at: now,
        });
    }

    /// A connection that became ready, or a new one once there is room for it; `Busy` after
    /// `wait`. The flag says whether the connection was reused.
    async fn wait_for_connection(self: &Arc<Self>) -> Result<(Conn, bool), UpstreamError> {
        let _counted = Waiting::count(&self.waiting);
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
                    let connect = tokio::time::timeout(RESPONSE_HEADERS_TIMEOUT, self.connect(permit));
                    let timed_out = || UpstreamError::Connect(std::io::ErrorKind::TimedOut.into());
                    return Ok((connect.await.map_err(|_| timed_out())??, false));
                }
                _ = self.finished.notified() => {
                    if let Some(conn) = self.checkout() {
                        return Ok((conn, true));
                    }
                }
                _ = look.tick() => {
                    if let Some(conn) = self.checkout() {
                        return Ok((conn, true));
                    }
                }
                _ = &mut give_up => return Err(UpstreamError::Busy(self.max)),
            }
        }
    }

    async fn connect(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
    ) -> Result<Conn, UpstreamError> {
        self.reaper.call_once(|| {
            tokio::spawn(reap(Arc::downgrade(self)));
        });
        let stream = self
            .address
            .connect()
            .await
            .map_err(UpstreamError::Connect)?;
        let reads = Arc::new(Reads::default());
        let io = WritesLast::new(ReadWatch {
            io: TokioIo::new(stream),
            reads: reads.clone(),
        });
        let (sender, connection) = http1::handshake(io).await.map_err(UpstreamError::Http)?;
        // Runs until the connection closes: its sender was dropped, Synapse closed it, or it was
        // aborted. Only then is there room for another.
        let task = tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        })
        .abort_handle();
        Ok(Conn {
            sender,
            reads,
            task,
        })
    }
}

/// One request counted in `Pool::waiting` until dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Waiting<'_> {
    fn count(waiting: &AtomicUsize) -> Waiting<'_> {
        waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection to Synapse.
struct Conn {
    sender: SendRequest<Body>,
    reads: Arc<Reads>,
    /// The task driving it; aborting closes it.
    task: AbortHandle,
}

/// A kept connection, with what the reaper needs to judge it.
struct Kept {
    conn: Conn,
    /// When it last took a request.
    since: Instant,
    /// Its reads done when last looked at, and when that count last moved.
    reads: u64,
    progress_at: Instant,
}

/// A connection's reads: how many completed, and whether the last one waits for Synapse.
#[derive(Default)]
struct Reads {
    done: AtomicU64,
    waiting: AtomicBool,
}

/// Closes connections idle for longer than `IDLE_TIMEOUT`, and those whose response has not been
/// taken for `stall_after`: hyper reads no more from Synapse once it holds a chunk the client
/// has not taken, so a connection that is busy, not waiting for Synapse and has read nothing for
/// that long is held by a client that stopped reading. (A long poll waits for Synapse: never
/// cut.) Runs for as long as the pool exists.
async fn reap(pool: Weak<Pool>) {
    let Some(stall_after) = pool.upgrade().map(|p| p.stall_after) else {
        return;
    };
    let every = (stall_after / 2).clamp(Duration::from_millis(100), IDLE_TIMEOUT / 3);
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let now = Instant::now();
        pool.kept.lock().expect("pool lock").retain_mut(|kept| {
            let sender = &kept.conn.sender;
            if sender.is_closed() {
                return false;
            }
            if sender.is_ready() {
                return now.duration_since(kept.since) <= IDLE_TIMEOUT;
            }
            let reads = &kept.conn.reads;
            let done = reads.done.load(Ordering::Relaxed);
            if done != kept.reads || reads.waiting.load(Ordering::Relaxed) {
                kept.reads = done;
                kept.progress_at = now;
                return true;
            }
            if now.duration_since(kept.progress_at) < stall_after {
                return true;
            }
            kept.conn.task.abort();
            false
        });
    }
}

/// Counts an upstream connection's reads for the reaper.
struct ReadWatch<T> {
    io: T,
    reads: Arc<Reads>,
}

impl<T: Read + Unpin> Read for ReadWatch<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        let waiting = polled.is_pending();
        // Relaxed stores, no read-modify-write: only this task writes them.
        this.reads.waiting.store(waiting, Ordering::Relaxed);
        if !waiting {
            let done = this.reads.done.load(Ordering::Relaxed);
            this.reads
                .done
                .store(done.wrapping_add(1), Ordering::Relaxed);
        }
        polled
    }
}

impl<T: Write + Unpin> Write for ReadWatch<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
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
