//! Accept loops for the plain-HTTP and TLS listeners: connection caps, the protocol settings, and
//! a graceful drain on shutdown (each connection's own timeouts are in `conn`). Listeners come
//! from the caller (tests bind 127.0.0.1:0).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::Either;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::admit::{Admitted, Connections, Throttled};
use super::coalesce::Coalesce;
use super::conn::{Closing, ConnState, DRAIN_DEADLINE, Tracked, Watched, drive};
use super::stall::WriteStall;
use super::{Edge, Peer, SharedEdge};
use crate::metrics::{EdgeMetrics, Protocol, RouteClass};
use crate::tls::ALPN_ACME_TLS;

/// HTTP/1.1 requests with more header bytes than this are refused.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// HTTP/2 header lists over this are refused, and h2 answers a header block (CONTINUATION
/// frames included) over four times this with GOAWAY. Matrix requests carry a few hundred bytes
/// of headers; 16 KiB is hyper's default and nginx's typical buffer.
const H2_MAX_HEADER_LIST: u32 = 16 * 1024;
/// Streams one HTTP/2 connection may have open. A Matrix client needs a long-poll `/sync` and a
/// few requests beside it; a browser loading thumbnails gets 64 at once and queues the rest.
/// Below hyper's 200 (and RFC 9113's advice of at least 100, given for parallelism) to bound what
/// one connection can ask of Synapse at once.
const H2_MAX_CONCURRENT_STREAMS: u32 = 64;
/// Response bytes buffered per HTTP/2 stream before the upstream read waits (hyper: 400 KiB);
/// 64 streams x 64 KiB bounds a connection that never reads to 4 MiB.
const H2_MAX_SEND_BUF: usize = 64 * 1024;
/// Streams the client resets before the server has accepted them (rapid reset, CVE-2023-44487)
/// before h2 sends GOAWAY; h2's own default, stated here.
const H2_MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// Streams the server resets because the client broke a rule (MadeYouReset, CVE-2025-8671), over
/// the life of a connection, before GOAWAY (hyper: 1024). Correct clients provoke none.
const H2_MAX_LOCAL_ERROR_RESETS: usize = 64;
/// `accept` failing for want of resources (EMFILE and the like) is retried after a pause growing
/// to this, rather than spinning.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one warning per this for each kind of trouble an attacker can cause.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(10);

/// Connections the kernel queues until `accept` takes them; capped by `net.core.somaxconn`.
/// std's 128 is short: in a burst of connections (a flood the caps then refuse) the kernel drops
/// further SYNs, and a normal client waits for its 1 s retransmission.
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket for the edge on `addr`, with a long accept queue. Needs a Tokio runtime.
pub fn listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // Connections the edge closed (a drain on shutdown) linger in TIME_WAIT on this port; without
    // SO_REUSEADDR a restart right after could not bind it for a minute. (Unlike SO_REUSEPORT, it
    // does not let a second listener share the port.)
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The protocol settings shared by both listeners.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new() -> Protocols {
        let mut http1 = http1::Builder::new();
        // hyper's header timer starts whenever it waits for a request, so it would also cut idle
        // keep-alive; `drive` times headers and idleness apart instead.
        http1
            .header_read_timeout(None)
            .max_buf_size(MAX_HEADER_BYTES);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(H2_MAX_HEADER_LIST)
            .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
            .max_send_buf_size(H2_MAX_SEND_BUF)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESETS)
            .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESETS)
            // Finds dead peers under a long-poll; idleness is `drive`'s job, and a client
            // answering PINGs does not count as active there.
            .keep_alive_interval(Some(Duration::from_secs(60)));
        Protocols { http1, http2 }
    }
}

/// Accepts the next connection that fits under the caps; `Ok(None)` once shutdown comes. Over-cap
/// connections are reset at once, before any TLS work. `Err` when the listening socket itself is
/// gone (closed under the process, e.g. `ss -K`): no connection will ever come again.
async fn accept(
    listener: &TcpListener,
    connections: &Arc<Connections>,
    errors: &Throttled,
    shutdown: &CancellationToken,
) -> Result<Option<(TcpStream, SocketAddr, Admitted)>, std::io::Error> {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => match connections.admit(peer.ip()) {
                Some(admitted) => return Ok(Some((tcp, peer, admitted))),
                // RST rather than FIN: no TIME_WAIT left behind for a refused connection.
                None => drop(tcp.set_zero_linger()),
            },
            // The peer gave up before we got to it: nothing wrong here.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) if listener_gone(&e) => return Err(e),
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin, and say so at a
                // pace the attacker does not set.
                if let Some(suppressed) = errors.ready() {
                    tracing::warn!(
                        "accept failed on {}: {e} ({suppressed} more failures since the last \
                         warning); hint: raise LimitNOFILE, or look for a client holding \
                         connections open",
                        listener
                            .local_addr()
                            .map_or_else(|_| "a listener".into(), |a| a.to_string())
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// The errors `accept` keeps giving once the listening socket is closed or shut down.
fn listener_gone(e: &std::io::Error) -> bool {
    use nix::errno::Errno;
    e.raw_os_error().is_some_and(|code| {
        [
            Errno::EINVAL,
            Errno::EBADF,
            Errno::ENOTSOCK,
            Errno::EOPNOTSUPP,
        ]
        .iter()
        .any(|gone| *gone as i32 == code)
    })
}

/// Ends a listener's task when its socket is gone, saying why: the daemon then exits with the
/// reason (see `service::tasks`) and systemd starts it again with its listeners bound afresh.
fn gone(listener: &TcpListener, e: std::io::Error) {
    tracing::error!(
        "the listener on {} is closed ({e}); no connection can arrive there any more",
        listener
            .local_addr()
            .map_or_else(|_| "a port".into(), |a| a.to_string())
    );
}

/// Serves HTTPS on `listener` until `shutdown`, then drains open connections. The protocol is
/// the one negotiated by ALPN (HTTP/1.1 when the client offers none).
pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    edge: Arc<SharedEdge>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let protocols = Arc::new(Protocols::new());
    let errors = Throttled::new(WARN_EVERY);
    let closing = Closing::on(&shutdown);
    loop {
        let (tcp, peer, admitted) = match accept(&listener, &connections, &errors, &shutdown).await
        {
            Ok(Some(accepted)) => accepted,
            Ok(None) => break,
            // Not drained: the other listeners' connections are not finishing, the daemon is.
            Err(e) => return gone(&listener, e),
        };
        let _ = tcp.set_nodelay(true);
        let metrics = edge.metrics().clone();
        let (protocols, edge, closing) = (protocols.clone(), edge.current(), closing.clone());
        // Combinators rather than an `async` block: the task then holds the handshake or the
        // connection, never room for both.
        let handshake = tokio::time::timeout(
            connections.policy().tls_handshake_timeout,
            acceptor.accept(tcp),
        );
        tokio::spawn(handshake.then(move |handshake| match handshake {
            Ok(Ok(stream)) => Either::Left(serve_tls(
                stream, peer, edge, metrics, &protocols, admitted, closing,
            )),
            _ => Either::Right(std::future::ready(())),
        }));
    }
    drain(&connections).await;
}

/// The connection future for a completed handshake, in the protocol ALPN chose (HTTP/1.1 when
/// the client offered none).
fn serve_tls(
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    edge: Arc<Edge>,
    metrics: Arc<EdgeMetrics>,
    protocols: &Protocols,
    admitted: Admitted,
    closing: Arc<Closing>,
) -> impl Future<Output = ()> + use<> {
    let alpn = stream.get_ref().1.alpn_protocol();
    // A TLS-ALPN-01 validation is complete once the handshake is.
    if alpn == Some(ALPN_ACME_TLS) {
        return Either::Left(std::future::ready(()));
    }
    let h2 = alpn == Some(b"h2");
    let open = metrics.connection(if h2 {
        Protocol::Https2
    } else {
        Protocol::Https1
    });
    let write_idle = edge.write_idle_timeout();
    let state = ConnState::new(admitted.policy(), h2, metrics);
    let context = (edge, Peer::new(peer, h2), state.clone());
    let service = service_fn(move |req| {
        let (edge, peer, state) = &context;
        let started = Instant::now();
        let mut in_flight = state.begin();
        let (class, answer) = edge.handle_https(req, peer);
        answer.map(move |response| {
            in_flight.answer(class, response.status(), started);
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        })
    });
    if h2 {
        // Boxed: HTTP/2 state is larger than HTTP/1.1's, and the task of every connection would
        // otherwise be sized for it.
        let stream = WriteStall::new(Coalesce::new(stream), write_idle);
        let conn = protocols
            .http2
            .serve_connection(TokioIo::new(stream), service);
        Either::Right(Either::Left(
            drive(Box::pin(conn), state, true, peer, admitted, closing).map(move |()| drop(open)),
        ))
    } else {
        let io = TokioIo::new(Watched {
            io: WriteStall::new(stream, write_idle),
            state: state.clone(),
        });
        let conn = protocols.http1.serve_connection(io, service);
        Either::Right(Either::Right(
            drive(conn, state, false, peer, admitted, closing).map(move |()| drop(open)),
        ))
    }
}

/// Serves plain HTTP (ACME HTTP-01 and redirects to HTTPS) until `shutdown`.
pub async fn serve_http(
    listener: TcpListener,
    edge: Arc<SharedEdge>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let protocols = Arc::new(Protocols::new());
    let errors = Throttled::new(WARN_EVERY);
    let closing = Closing::on(&shutdown);
    loop {
        let (tcp, peer, admitted) = match accept(&listener, &connections, &errors, &shutdown).await
        {
            Ok(Some(accepted)) => accepted,
            Ok(None) => break,
            // Not drained: the other listeners' connections are not finishing, the daemon is.
            Err(e) => return gone(&listener, e),
        };
        let metrics = edge.metrics().clone();
        let open = metrics.connection(Protocol::Http1);
        let (protocols, edge, closing) = (protocols.clone(), edge.current(), closing.clone());
        let state = ConnState::new(admitted.policy(), false, metrics);
        let service_state = state.clone();
        let service = service_fn(move |req| {
            let started = Instant::now();
            let mut in_flight = service_state.begin();
            let response = edge.handle_http(&req);
            in_flight.answer(RouteClass::PlainHttp, response.status(), started);
            let response = response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            });
            std::future::ready(Ok::<_, Infallible>(response))
        });
        let io = TokioIo::new(Watched {
            io: tcp,
            state: state.clone(),
        });
        let conn = protocols.http1.serve_connection(io, service);
        tokio::spawn(drive(conn, state, false, peer, admitted, closing).map(move |()| drop(open)));
    }
    drain(&connections).await;
}

async fn drain(connections: &Connections) {
    // Each connection closes itself within DRAIN_DEADLINE of the shutdown; a TLS handshake
    // under way may take its own timeout first.
    let deadline = DRAIN_DEADLINE + connections.policy().close_grace;
    if tokio::time::timeout(deadline, connections.drained())
        .await
        .is_err()
    {
        tracing::info!(
            "leaving {} connections still open after {}s",
            connections.open(),
            deadline.as_secs()
        );
    }
}
