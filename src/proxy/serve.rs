//! Accept loops for the plain-HTTP and TLS listeners, with timeouts for slow clients and a
//! graceful drain on shutdown. Listeners come from the caller (tests bind 127.0.0.1:0).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::{Edge, Peer, SharedEdge};
use crate::tls::ALPN_ACME_TLS;

/// Slow clients (slowloris) lose their connection after this long without complete headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests with more header bytes than this are refused.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long open connections may finish their requests after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// The protocol settings shared by both listeners.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new() -> Protocols {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .max_concurrent_streams(256)
            .keep_alive_interval(Some(Duration::from_secs(60)));
        Protocols { http1, http2 }
    }
}

/// Accepts the next connection unless shutdown comes first.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(pair) => return Some(pair),
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Serves HTTPS on `listener` until `shutdown`, then drains open connections. The protocol is
/// the one negotiated by ALPN (HTTP/1.1 when the client offers none).
pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    edge: Arc<SharedEdge>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let protocols = Arc::new(Protocols::new());
    let graceful = GracefulShutdown::new();
    while let Some((tcp, peer)) = accept(&listener, &shutdown).await {
        let _ = tcp.set_nodelay(true);
        let (protocols, watcher, edge) = (protocols.clone(), graceful.watcher(), edge.current());
        // Combinators rather than an `async` block: the task then holds the handshake or the
        // connection, never room for both.
        let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
        tokio::spawn(handshake.then(move |handshake| match handshake {
            Ok(Ok(stream)) => Either::Left(serve_tls(stream, peer, edge, &protocols, watcher)),
            _ => Either::Right(std::future::ready(Ok(()))),
        }));
    }
    drain(graceful).await;
}

/// The connection future for a completed handshake, in the protocol ALPN chose (HTTP/1.1 when
/// the client offered none).
fn serve_tls(
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    edge: Arc<Edge>,
    protocols: &Protocols,
    watcher: Watcher,
) -> impl Future<Output = Result<(), hyper::Error>> + use<> {
    let alpn = stream.get_ref().1.alpn_protocol();
    // A TLS-ALPN-01 validation is complete once the handshake is.
    if alpn == Some(ALPN_ACME_TLS) {
        return Either::Left(std::future::ready(Ok(())));
    }
    let h2 = alpn == Some(b"h2");
    let stream = super::stall::WriteStall::new(stream, edge.write_idle_timeout());
    let context = (edge, Peer::new(peer));
    let service = service_fn(move |req| {
        let (edge, peer) = &context;
        edge.handle_https(req, peer).map(Ok::<_, Infallible>)
    });
    let io = TokioIo::new(stream);
    if h2 {
        // Boxed: HTTP/2 state is larger than HTTP/1.1's, and the task of every connection would
        // otherwise be sized for it.
        Either::Right(Either::Left(Box::pin(
            watcher.watch(protocols.http2.serve_connection(io, service)),
        )))
    } else {
        Either::Right(Either::Right(
            watcher.watch(protocols.http1.serve_connection(io, service)),
        ))
    }
}

/// Serves plain HTTP (ACME HTTP-01 and redirects to HTTPS) until `shutdown`.
pub async fn serve_http(listener: TcpListener, edge: Arc<SharedEdge>, shutdown: CancellationToken) {
    let protocols = Arc::new(Protocols::new());
    let graceful = GracefulShutdown::new();
    while let Some((tcp, _)) = accept(&listener, &shutdown).await {
        let (protocols, watcher, edge) = (protocols.clone(), graceful.watcher(), edge.current());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let response = edge.handle_http(&req);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = watcher
                .watch(protocols.http1.serve_connection(TokioIo::new(tcp), service))
                .await;
        });
    }
    drain(graceful).await;
}

async fn drain(graceful: GracefulShutdown) {
    if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            "closing connections still open after {}s",
            DRAIN_DEADLINE.as_secs()
        );
    }
}
