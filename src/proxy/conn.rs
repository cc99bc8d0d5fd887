//! One client connection's life: the timeouts that close silent, idle and slow connections, the
//! rapid-reset budget, the count of requests in flight, and a graceful close on shutdown.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::StatusCode;
use hyper::body::{Frame, SizeHint};
use hyper::server::conn::{http1, http2};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Body;
use super::admit::{Admitted, ConnPolicy, Throttled};
use super::serve::WARN_EVERY;
use crate::metrics::{EdgeMetrics, RouteClass};

/// How long open connections may finish their requests after shutdown begins.
pub(super) const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A hyper connection that can be asked to finish: HTTP/1.1 closes once the request in progress
/// is answered, HTTP/2 sends GOAWAY.
pub(super) trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<C: Graceful + ?Sized> Graceful for Pin<Box<C>> {
    fn graceful_shutdown(self: Pin<&mut Self>) {
        self.get_mut().as_mut().graceful_shutdown()
    }
}

impl<I, S> Graceful for http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self)
    }
}

impl<I, S, E> Graceful for http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self)
    }
}

/// Tells a listener's connections that shutdown has begun. Each connection reads the flag
/// whenever it is polled (a load, where a cancellation token's check takes a lock) and waits on
/// the notification only to be woken.
pub(super) struct Closing {
    begun: AtomicBool,
    notify: Notify,
}

impl Closing {
    /// Set once `shutdown` is cancelled. Needs a Tokio runtime.
    pub(super) fn on(shutdown: &CancellationToken) -> Arc<Closing> {
        let closing = Arc::new(Closing {
            begun: AtomicBool::new(false),
            notify: Notify::new(),
        });
        let (shutdown, set) = (shutdown.clone(), closing.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            set.begun.store(true, Ordering::SeqCst);
            set.notify.notify_waiters();
        });
        closing
    }
}

/// Runs one connection under its timeouts: the first request must come within
/// `first_request_timeout`, HTTP/1.1 headers within `header_timeout` of their first byte, and a
/// connection with nothing in flight is closed after its idle timeout (HTTP/2: GOAWAY). Requests
/// in flight (a long-poll `/sync` among them) are never cut, except by shutdown's drain deadline.
/// A connection asked to close that has not within `close_grace` is dropped.
///
/// The connection is polled where the returned future holds it: an `async fn` would copy its
/// argument into a second slot, and pinning it would add a third, each as large as the
/// connection (hence `Unpin`; HTTP/2's comes boxed). Every open connection's task is this size.
pub(super) fn drive<C: Graceful + Unpin>(
    mut conn: C,
    state: Arc<ConnState>,
    h2: bool,
    peer: SocketAddr,
    admitted: Admitted,
    shutdown: Arc<Closing>,
) -> impl Future<Output = ()> {
    static CANCEL_WARNINGS: std::sync::LazyLock<Throttled> =
        std::sync::LazyLock::new(|| Throttled::new(WARN_EVERY));
    async move {
        let policy = admitted.policy();
        let mut stop = pin!(shutdown.notify.notified());
        let mut sleep = pin!(tokio::time::sleep(Duration::ZERO));
        let mut armed: Option<Instant> = None;
        let mut closing: Option<Instant> = None;
        // The waker that the shutdown notification and the timer hold: they keep it until they
        // fire, and a task's waker rarely changes, so they are polled again only when it does (or
        // the timer is reset or has fired), which saves their locks and atomics on every poll.
        let mut registered: Option<Waker> = None;
        poll_fn(|cx| {
            loop {
                if Pin::new(&mut conn).poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                // Registered before the state and the flag are read, so a change made by another
                // task after the read still wakes this one. Every time: a wake-up through the state
                // uses its registration up. Only for HTTP/2: HTTP/1.1 changes it only in this task.
                if state.wake {
                    state.waker.register(cx.waker());
                }
                let fresh = !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
                if fresh {
                    let _ = stop.as_mut().poll(cx);
                    registered = Some(cx.waker().clone());
                }
                if closing.is_none() && shutdown.begun.load(Ordering::SeqCst) {
                    Pin::new(&mut conn).graceful_shutdown();
                    closing = Some(Instant::now());
                    continue;
                }
                let Some(deadline) = state.deadline(policy, h2, closing) else {
                    return Poll::Pending;
                };
                // The timer is moved only to an earlier deadline, or once it has fired: the idle
                // deadline moves later with every answer, and re-arming it each time would cost a
                // timer reset per request. One set earlier fires, and is then set to the deadline.
                let reset =
                    armed.is_none_or(|at| deadline < at || (at < deadline && sleep.is_elapsed()));
                if reset {
                    sleep.as_mut().reset(deadline.into());
                    armed = Some(deadline);
                }
                // An armed timer keeps the waker it was polled with until it fires.
                if !(fresh || reset || sleep.is_elapsed()) || sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if armed != Some(deadline) {
                    // It fired for a deadline that has since moved on.
                    continue;
                }
                if closing.is_some() {
                    return Poll::Ready(());
                }
                if let Some(cancels) = state.abusive()
                    && let Some(suppressed) = CANCEL_WARNINGS.ready()
                {
                    tracing::warn!(
                        "sent GOAWAY to {peer}: it cancelled {cancels} requests within {}s \
                     (rapid reset; {suppressed} more such connections since the last warning)",
                        policy.cancel_window.as_secs()
                    );
                }
                Pin::new(&mut conn).graceful_shutdown();
                closing = Some(Instant::now());
            }
        })
        .await;
        drop(admitted);
    }
}

/// What the timeouts of one connection look at. Shared by its request handlers (HTTP/2 runs each
/// in a task of its own), its reads and the task that drives it. Atomics rather than a lock: it
/// is read after every poll of the connection and written several times per request.
pub(super) struct ConnState {
    /// Requests whose answer is not yet fully sent.
    in_flight: AtomicUsize,
    served_any: AtomicBool,
    /// The times below are nanoseconds since this.
    epoch: Instant,
    /// When a request last ended: since then nothing has been in flight, if nothing is.
    idle_since: AtomicU64,
    /// When the first byte of an HTTP/1.1 request not yet handed to us arrived; `NONE` if none.
    head_started: AtomicU64,
    /// Requests cancelled by the client (rare: a lock is fine), and since when they are counted.
    cancels: Mutex<(u32, Instant)>,
    abusive: AtomicBool,
    waker: AtomicWaker,
    /// Whether requests end in tasks other than the one driving the connection (HTTP/2 runs each
    /// stream in a task of its own), which must then be woken. HTTP/1.1 requests begin and end
    /// while `drive` polls the connection, and it reads the state after every poll.
    wake: bool,
    max_cancels: u32,
    cancel_window: Duration,
    /// Where answered requests are counted: held per connection, so a request costs no
    /// reference of its own.
    metrics: Arc<EdgeMetrics>,
}

const NONE: u64 = u64::MAX;

impl ConnState {
    pub(super) fn new(policy: &ConnPolicy, h2: bool, metrics: Arc<EdgeMetrics>) -> Arc<ConnState> {
        let epoch = Instant::now();
        Arc::new(ConnState {
            in_flight: AtomicUsize::new(0),
            served_any: AtomicBool::new(false),
            epoch,
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            cancels: Mutex::new((0, epoch)),
            abusive: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            wake: h2,
            max_cancels: policy.max_cancels,
            cancel_window: policy.cancel_window,
            metrics,
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(NONE - 1)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// Adds `delta` to the requests in flight; returns the count before. HTTP/1.1 changes the
    /// count in one task only, so there a load and a store do, without a locked instruction.
    fn add_in_flight(&self, delta: isize) -> usize {
        if self.wake {
            return match delta {
                1 => self.in_flight.fetch_add(1, Ordering::SeqCst),
                _ => self.in_flight.fetch_sub(1, Ordering::SeqCst),
            };
        }
        let before = self.in_flight.load(Ordering::Relaxed);
        (self.in_flight).store(before.wrapping_add_signed(delta), Ordering::Relaxed);
        before
    }

    /// A request has arrived; it is in flight until the returned guard is dropped.
    pub(super) fn begin(self: &Arc<ConnState>) -> InFlight {
        self.add_in_flight(1);
        if !self.served_any.load(Ordering::Relaxed) {
            self.served_any.store(true, Ordering::Relaxed);
        }
        if self.head_started.load(Ordering::Relaxed) != NONE {
            self.head_started.store(NONE, Ordering::Relaxed);
        }
        InFlight {
            state: self.clone(),
            answered: false,
        }
    }

    /// When the connection is to be closed (or, when `closing`, dropped), as things stand;
    /// `None` while requests are in flight.
    fn deadline(&self, policy: &ConnPolicy, h2: bool, closing: Option<Instant>) -> Option<Instant> {
        let abusive = self.abusive.load(Ordering::SeqCst);
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        if let Some(since) = closing {
            // Nothing left to finish, or an abuser: a short grace. Requests in flight: the
            // drain deadline.
            let grace = if in_flight == 0 || abusive {
                policy.close_grace
            } else {
                DRAIN_DEADLINE
            };
            return Some(since + grace);
        }
        if abusive {
            return Some(self.epoch);
        }
        if in_flight > 0 {
            return None;
        }
        let started = self.head_started.load(Ordering::Relaxed);
        if started != NONE {
            return Some(self.at(started) + policy.header_timeout);
        }
        let wait = match (self.served_any.load(Ordering::Relaxed), h2) {
            (false, _) => policy.first_request_timeout,
            (true, true) => policy.http2_idle_timeout,
            (true, false) => policy.http1_idle_timeout,
        };
        Some(self.at(self.idle_since.load(Ordering::SeqCst)) + wait)
    }

    /// The cancels counted when the connection went over its budget.
    fn abusive(&self) -> Option<u32> {
        let cancels = self.cancels.lock().expect("connection cancels").0;
        self.abusive.load(Ordering::SeqCst).then_some(cancels)
    }

    /// Bytes have been read: if nothing is in flight, they begin a request, and its headers
    /// must now arrive within the header timeout. (HTTP/1.1 only: one task reads and answers.)
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == NONE
        {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }
}

/// One request in flight; dropped when its answer is fully sent, or when the request is dropped
/// unanswered (the client reset the stream or went away).
pub(super) struct InFlight {
    state: Arc<ConnState>,
    pub(super) answered: bool,
}

impl InFlight {
    /// The answer is ready (its body may still be on its way): counted in the metrics.
    pub(super) fn answer(&mut self, class: RouteClass, status: StatusCode, started: Instant) {
        self.answered = true;
        (self.state.metrics).request(class, status.as_u16(), started.elapsed());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.state;
        // Stored before the count drops, so whoever sees nothing in flight sees this time (or a
        // later one): the idle timeout runs from the last answer.
        let now = state.now();
        if state.wake {
            state.idle_since.fetch_max(now, Ordering::SeqCst);
        } else {
            // One task, whose clock only moves on.
            state.idle_since.store(now, Ordering::Relaxed);
        }
        let idle = state.add_in_flight(-1) == 1;
        let mut turned_abusive = false;
        if !self.answered {
            let now = state.at(now);
            let mut cancels = state.cancels.lock().expect("connection cancels");
            if now.duration_since(cancels.1) > state.cancel_window {
                *cancels = (0, now);
            }
            cancels.0 += 1;
            turned_abusive =
                cancels.0 > state.max_cancels && !state.abusive.swap(true, Ordering::SeqCst);
        }
        if state.wake && (idle || turned_abusive) {
            state.waker.wake();
        }
    }
}

/// A response body that keeps its request counted as in flight until it is fully sent.
pub(super) struct Tracked {
    pub(super) body: Body,
    pub(super) _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// HTTP/1.1 connection IO that tells the connection's timeouts when a request begins to arrive.
pub(super) struct Watched<T> {
    pub(super) io: T,
    pub(super) state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::admit::Connections;

    /// A connection that never ends by itself; asked to close, it notes when and ends.
    struct Fake {
        closed_at: Arc<Mutex<Option<Instant>>>,
        closing: bool,
    }

    impl Future for Fake {
        type Output = Result<(), hyper::Error>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            if self.closing {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }
    }

    impl Graceful for Fake {
        fn graceful_shutdown(mut self: Pin<&mut Self>) {
            *self.closed_at.lock().unwrap() = Some(Instant::now());
            self.closing = true;
        }
    }

    fn policy() -> ConnPolicy {
        ConnPolicy {
            first_request_timeout: Duration::from_millis(200),
            http1_idle_timeout: Duration::from_millis(400),
            http2_idle_timeout: Duration::from_millis(400),
            ..ConnPolicy::default()
        }
    }

    /// Starts `drive` on a fake connection; returns its state and when it was asked to close.
    fn start(h2: bool) -> (Arc<ConnState>, Arc<Mutex<Option<Instant>>>) {
        start_until(h2, &CancellationToken::new())
    }

    fn start_until(
        h2: bool,
        shutdown: &CancellationToken,
    ) -> (Arc<ConnState>, Arc<Mutex<Option<Instant>>>) {
        let connections = Connections::new(policy());
        let admitted = connections.admit("192.0.2.1".parse().unwrap()).unwrap();
        let state = ConnState::new(&policy(), h2, Arc::default());
        let closed_at = Arc::new(Mutex::new(None));
        let conn = Fake {
            closed_at: closed_at.clone(),
            closing: false,
        };
        let peer = "192.0.2.1:4000".parse().unwrap();
        tokio::spawn(drive(
            conn,
            state.clone(),
            h2,
            peer,
            admitted,
            Closing::on(shutdown),
        ));
        (state, closed_at)
    }

    #[tokio::test]
    async fn answers_move_the_idle_deadline_and_it_still_closes_after_the_last() {
        let (state, closed_at) = start(true);
        // Answers every 150 ms for over twice the idle timeout (and past the first-request one):
        // each moves the deadline later, and none may close the connection.
        let mut last = Instant::now();
        for _ in 0..7 {
            let mut in_flight = state.begin();
            in_flight.answered = true;
            drop(in_flight);
            last = Instant::now();
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert_eq!(*closed_at.lock().unwrap(), None, "closed while answering");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_closed_idle(&closed_at, last, Duration::from_secs(3));
    }

    /// The connection was closed for idleness after `last` answer: not before the idle timeout,
    /// and before `within`.
    fn assert_closed_idle(closed_at: &Mutex<Option<Instant>>, last: Instant, within: Duration) {
        let closed = closed_at
            .lock()
            .unwrap()
            .expect("idle connection not closed");
        let idle = closed.duration_since(last);
        assert!(
            idle >= policy().http2_idle_timeout && idle < within,
            "closed {idle:?} after the last answer"
        );
    }

    #[tokio::test]
    async fn the_end_of_a_long_request_starts_the_idle_timeout() {
        // HTTP/2: requests end in tasks of their own, whose wake-ups alone tell `drive` that
        // the connection went idle. The timer fires (and is not re-armed) while the long one
        // is in flight.
        let (state, closed_at) = start(true);
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut short = state.begin();
            short.answered = true;
            drop(short);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut long = state.begin();
        tokio::time::sleep(Duration::from_millis(800)).await;
        long.answered = true;
        drop(long);
        let ended = Instant::now();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_closed_idle(&closed_at, ended, Duration::from_millis(1000));
    }

    #[tokio::test]
    async fn shutdown_asks_a_busy_connection_to_finish_at_once() {
        let shutdown = CancellationToken::new();
        let (state, closed_at) = start_until(false, &shutdown);
        let _open = state.begin();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*closed_at.lock().unwrap(), None, "closed before shutdown");
        let started = Instant::now();
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let closed = closed_at.lock().unwrap().expect("not asked to finish");
        assert!(closed.duration_since(started) < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn an_abusive_connection_is_closed_at_once_whatever_is_in_flight() {
        let (state, closed_at) = start(true);
        let _open = state.begin();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        for _ in 0..=policy().max_cancels {
            drop(state.begin());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let closed = closed_at.lock().unwrap().expect("abuser not closed");
        assert!(closed.duration_since(started) < Duration::from_millis(500));
    }
}
