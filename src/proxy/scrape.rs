//! The metrics listener: the edge's own metrics at `/metrics` and Synapse's, relayed from its
//! internal listener, at `/synapse`. Only `admin_allow` peers get an answer; any other
//! connection is reset at accept, before a byte is read, so it learns nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::SharedEdge;
use crate::metrics::{self, Observed};
use crate::throttle::Throttle;
use crate::tls::CertStore;
use crate::upstream::UpstreamAddr;

/// Synapse's metrics endpoint on its listener (the `metrics` resource).
pub const SYNAPSE_METRICS_PATH: &str = "/_synapse/metrics";
/// Scrapers are few: more connections at once than this are reset.
const MAX_CONNECTIONS: usize = 16;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed after this, whatever it is doing.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Synapse's answer must come within this...
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);
/// ...and be no larger (Synapse's metrics are a few MB).
const RELAY_MAX: usize = 64 << 20;
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static REFUSED: Throttle = Throttle::new(3, Duration::from_secs(60));
static RELAY_FAILED: Throttle = Throttle::new(3, Duration::from_secs(60));

/// Serves the metrics on `listener` until `shutdown`. `certificates` gives the days left of the
/// served certificates; `edge` the current admin networks, pools and upstream.
pub async fn serve_metrics(
    listener: TcpListener,
    edge: Arc<SharedEdge>,
    certificates: Arc<CertStore>,
    shutdown: CancellationToken,
) {
    let room = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of descriptors and the like: the edge's own listeners matter more.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !edge.current().admin_allowed(peer.ip()) {
            if let Some(suppressed) = REFUSED.allow() {
                tracing::warn!(
                    "metrics: refused a connection from {} (not in admin_allow; {suppressed} more since the last warning)",
                    peer.ip()
                );
            }
            // RST: no answer, no TIME_WAIT.
            let _ = tcp.set_zero_linger();
            continue;
        }
        let Ok(permit) = room.clone().try_acquire_owned() else {
            let _ = tcp.set_zero_linger();
            continue;
        };
        let (edge, certificates, shutdown) = (edge.clone(), certificates.clone(), shutdown.clone());
        tokio::spawn(async move {
            serve_connection(tcp, edge, certificates, shutdown).await;
            drop(permit);
        });
    }
}

async fn serve_connection(
    tcp: TcpStream,
    edge: Arc<SharedEdge>,
    certificates: Arc<CertStore>,
    shutdown: CancellationToken,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let (edge, certificates) = (edge.clone(), certificates.clone());
        async move { Ok::<_, Infallible>(answer(&req, &edge, &certificates).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), service);
    tokio::select! {
        _ = conn => {}
        _ = tokio::time::sleep(CONNECTION_TIMEOUT) => {}
        _ = shutdown.cancelled() => {}
    }
}

async fn answer(
    req: &Request<Incoming>,
    edge: &SharedEdge,
    certificates: &CertStore,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let current = edge.current();
            let now = time::OffsetDateTime::now_utc();
            let observed = Observed {
                pools: current.upstream.pool_states().to_vec(),
                certificates: current
                    .names
                    .iter()
                    .filter_map(|name| {
                        let key = certificates.get(name)?;
                        let not_after = crate::notify::not_after(key.cert.first()?)?;
                        Some((name.clone(), days(not_after - now)))
                    })
                    .collect(),
                now: now.unix_timestamp(),
            };
            let mut response = text(
                StatusCode::OK,
                metrics::encode(edge.metrics(), observed).into(),
            );
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
            response
        }
        "/synapse" => {
            let address = edge.current().upstream.address().clone();
            let upstream = address.describe();
            match tokio::time::timeout(RELAY_TIMEOUT, relay(&address)).await {
                Ok(Ok(response)) => response,
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e,
                        _ => format!("no answer within {}s", RELAY_TIMEOUT.as_secs()),
                    };
                    if let Some(suppressed) = RELAY_FAILED.allow() {
                        tracing::warn!(
                            "metrics: cannot relay Synapse's metrics from {upstream}: {why} ({suppressed} more since the last warning)"
                        );
                    }
                    text(
                        StatusCode::BAD_GATEWAY,
                        format!("cannot fetch Synapse's metrics from {upstream}: {why}\n").into(),
                    )
                }
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics (the edge) and /synapse (Synapse) are here\n".into(),
        ),
    }
}

fn days(left: time::Duration) -> f64 {
    (left.as_seconds_f64() / 86_400.0 * 100.0).round() / 100.0
}

/// Fetches Synapse's metrics page over a connection of its own (never one of the edge's pools).
async fn relay(upstream: &UpstreamAddr) -> Result<Response<Full<Bytes>>, String> {
    let stream = upstream
        .connect()
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::get(SYNAPSE_METRICS_PATH)
        .header(header::HOST, upstream.host())
        .body(Empty::<Bytes>::new())
        .expect("a static request is valid");
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!(
            "Synapse answered {} (is `listen.metrics` set, so that matrixbox enables Synapse's metrics?)",
            response.status()
        ));
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body = Limited::new(response.into_body(), RELAY_MAX)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    let mut relayed = Response::new(Full::new(body));
    if let Some(content_type) = content_type {
        relayed
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    Ok(relayed)
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::proxy::{ChallengeLookup, Edge};

    struct NoChallenges;

    impl ChallengeLookup for NoChallenges {
        fn key_authorization(&self, _: &str) -> Option<String> {
            None
        }
    }

    /// A metrics listener for an edge whose Synapse (a port nothing listens on) is down.
    async fn listener() -> (SocketAddr, CancellationToken) {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = UpstreamAddr::Tcp(dead.local_addr().unwrap().to_string().parse().unwrap());
        drop(dead);
        let config = crate::config::parse(
            "domain: matrix.example.org\nadmin_allow: [127.0.0.1/32]\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        let edge = SharedEdge::new(Edge::new(&config, upstream, Arc::new(NoChallenges)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(serve_metrics(
            listener,
            edge,
            CertStore::new(),
            shutdown.clone(),
        ));
        (addr, shutdown)
    }

    /// What a client bound to `from` reads after sending a GET of `path`.
    async fn get(from: &str, to: SocketAddr, path: &str) -> String {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let mut stream = socket.connect(to).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn answers_admin_peers_only() {
        let (addr, shutdown) = listener().await;
        let metrics = get("127.0.0.1", addr, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(metrics.contains(OPENMETRICS), "{metrics}");
        assert!(
            metrics.contains("matrixbox_edge_requests_total"),
            "{metrics}"
        );
        assert!(metrics.contains(r#"matrixbox_upstream_connections_max{pool="main"} 256"#));
        // Not in admin_allow: reset before a byte is read, nothing said.
        assert_eq!(get("127.0.0.2", addr, "/metrics").await, "");
        let missing = get("127.0.0.1", addr, "/_synapse/admin").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn synapse_down_is_a_502_that_says_why() {
        let (addr, shutdown) = listener().await;
        let relayed = get("127.0.0.1", addr, "/synapse").await;
        assert!(relayed.starts_with("HTTP/1.1 502"), "{relayed}");
        assert!(relayed.contains("cannot connect"), "{relayed}");
        shutdown.cancel();
    }
}
