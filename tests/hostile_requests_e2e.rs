//! The edge's request-level defences against clients that play the attacker, each while a normal
//! client keeps being served: a real edge (short limits) in front of a loopback upstream that
//! counts what reaches it.

#[path = "common/echo.rs"]
mod echo;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use matrixbox::proxy::{self, ChallengeLookup, Edge, Limits, SharedEdge};
use matrixbox::tls::{self, CertStore};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const NAME: &str = "matrix.test";
/// How long the slow upstream paths take to answer.
const SLOW: Duration = Duration::from_millis(1000);

struct NoChallenges;
impl ChallengeLookup for NoChallenges {
    fn key_authorization(&self, _: &str) -> Option<String> {
        None
    }
}

/// What the upstream saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
    /// Requests in progress on `/slow` paths, and the most at once.
    slow: AtomicUsize,
    max_slow: AtomicUsize,
    /// Requests on `/hang` paths in progress, and those dropped before their answer.
    hanging: AtomicUsize,
    abandoned: AtomicUsize,
    /// Request bodies that ended in an error (the edge aborted them).
    body_errors: AtomicUsize,
    /// Bytes of `/big` handed to the HTTP server, and whether the client side went away.
    big_sent: AtomicU64,
    big_gone: AtomicBool,
}

fn raise_max(max: &AtomicUsize, now: usize) {
    max.fetch_max(now, Ordering::SeqCst);
}

/// Counts a `/hang` request that ends without its answer (its connection was closed).
struct Hanging(Arc<Seen>);

impl Drop for Hanging {
    fn drop(&mut self) {
        self.0.hanging.fetch_sub(1, Ordering::SeqCst);
        self.0.abandoned.fetch_add(1, Ordering::SeqCst);
    }
}

/// An upstream that echoes what it received (target, headers, body size); `/slow` paths and
/// `/sync` answer after `SLOW`, `/hang` never answers, `/drip` pauses between chunks, `/big`
/// streams 512 MiB as fast as it is read.
async fn upstream() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counted = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let seen = counted.clone();
            seen.accepted.fetch_add(1, Ordering::SeqCst);
            raise_max(&seen.max_open, seen.open.fetch_add(1, Ordering::SeqCst) + 1);
            tokio::spawn(async move {
                let served = seen.clone();
                let service = service_fn(move |req| answer(req, served.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
                seen.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, seen)
}

type UpBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    seen: Arc<Seen>,
) -> Result<hyper::Response<UpBody>, Infallible> {
    let path = req.uri().path().to_string();
    if path.ends_with("/big") {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            for _ in 0..(512 * 16) {
                if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                    break;
                }
                seen.big_sent
                    .fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            seen.big_gone.store(true, Ordering::SeqCst);
        });
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        });
        return Ok(hyper::Response::new(StreamBody::new(frames).boxed()));
    }
    if path.ends_with("/drip") {
        // Three chunks, with pauses longer than every edge timeout between them.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for i in 0..3 {
                if i > 0 {
                    tokio::time::sleep(SLOW * 3 / 2).await;
                }
                let _ = tx
                    .send(Ok(Frame::data(Bytes::from(format!("chunk{i};")))))
                    .await;
            }
        });
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        });
        return Ok(hyper::Response::new(StreamBody::new(frames).boxed()));
    }
    if path.ends_with("/hang") {
        seen.hanging.fetch_add(1, Ordering::SeqCst);
        let _hanging = Hanging(seen.clone());
        std::future::pending::<()>().await;
    }
    let slow = path.contains("/slow") || path.ends_with("/sync");
    if slow {
        raise_max(&seen.max_slow, seen.slow.fetch_add(1, Ordering::SeqCst) + 1);
        tokio::time::sleep(SLOW).await;
        seen.slow.fetch_sub(1, Ordering::SeqCst);
    }
    let (doc, body_whole) = echo::echo(req).await;
    if !body_whole {
        seen.body_errors.fetch_add(1, Ordering::SeqCst);
    }
    Ok(hyper::Response::new(Full::new(doc).boxed()))
}

/// Short limits, so attacks end within a test's patience.
fn test_limits() -> Limits {
    Limits {
        upstream_connections: 8,
        sync_connections: 8,
        requests_per_connection: 4,
        turn_timeout: Duration::from_millis(500),
        queue_timeout: Duration::from_millis(500),
        body_idle_timeout: Duration::from_secs(1),
        write_idle_timeout: Duration::from_secs(1),
    }
}

struct Harness {
    name: &'static str,
    https: SocketAddr,
    http: SocketAddr,
    root: CertificateDer<'static>,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn start(extra_config: &str, upstream: SocketAddr) -> Harness {
    start_named(NAME, extra_config, test_limits(), upstream).await
}

async fn start_named(
    name: &'static str,
    extra_config: &str,
    limits: Limits,
    upstream: SocketAddr,
) -> Harness {
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (https_addr, http_addr) = (https.local_addr().unwrap(), http.local_addr().unwrap());
    let config = matrixbox::config::parse(
        &format!("domain: {name}\nlisten: {{https: '{https_addr}', http: '{http_addr}'}}\nsynapse:\n  max_upload_size: 1M\n{extra_config}"),
        Path::new("test.yaml"),
    )
    .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let store = CertStore::new();
    let key = tls::certified_key_from_pem(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    store.install(&[name.to_string()], Arc::new(key));
    let edge = SharedEdge::new(Edge::with_limits(
        &config,
        matrixbox::upstream::UpstreamAddr::Tcp(upstream.to_string().parse().unwrap()),
        Arc::new(NoChallenges),
        limits,
    ));
    let shutdown = CancellationToken::new();
    let connections = proxy::Connections::new(proxy::ConnPolicy::default());
    tokio::spawn(proxy::serve_https(
        https,
        Arc::new(tls::server_config(store)),
        edge.clone(),
        connections.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(proxy::serve_http(http, edge, connections, shutdown.clone()));
    Harness {
        name,
        https: https_addr,
        http: http_addr,
        root: cert.cert.der().clone(),
        _shutdown: shutdown.drop_guard(),
    }
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(h: &Harness, alpn: &[u8]) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(h.root.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(h.https).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(h.name).unwrap(), tcp)
        .await
        .unwrap()
}

/// Sends raw bytes over TLS and returns everything the server sends back until it closes.
async fn raw_https(h: &Harness, request: &[u8]) -> String {
    let mut stream = tls_connect(h, b"http/1.1").await;
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one HTTP/1.1 response with a Content-Length body off `stream`.
async fn read_response(stream: &mut Tls) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("a response within 30 s")
            .unwrap();
        assert!(n > 0, "closed before a whole response: {text}");
        out.extend_from_slice(&buf[..n]);
    }
}

fn body_json(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON body in {response}"))
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The normal client: a request on a connection of its own, answered promptly.
async fn normal_request_works(h: &Harness) {
    let started = Instant::now();
    let response = raw_https(
        h,
        format!(
            "GET /_matrix/client/versions HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            h.name
        )
        .as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "normal client delayed {took:?} by a hostile one"
    );
}

/// The normal client, a few times over `span`, while an attack runs.
async fn normal_client_throughout(h: &Harness, span: Duration) {
    let until = Instant::now() + span;
    for _ in 0..20 {
        normal_request_works(h).await;
        if Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

type H2 = hyper::client::conn::http2::SendRequest<
    http_body_util::Either<
        StreamBody<futures_util::stream::Pending<Result<Frame<Bytes>, Infallible>>>,
        http_body_util::Empty<Bytes>,
    >,
>;

async fn h2_connect(h: &Harness) -> H2 {
    let tls = tls_connect(h, b"h2").await;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

fn h2_get(h: &Harness, path: &str) -> hyper::Request<<H2 as H2Body>::B> {
    hyper::Request::get(format!("https://{}{path}", h.name))
        .body(http_body_util::Either::Right(http_body_util::Empty::new()))
        .unwrap()
}

trait H2Body {
    type B;
}
impl<B> H2Body for hyper::client::conn::http2::SendRequest<B> {
    type B = B;
}

/// Waits (serving a normal client meanwhile) until the upstream's big response is dropped by the
/// edge, which must happen before the upstream could write 96 MiB of it: backpressure held it.
async fn upstream_released_while_others_are_served(h: &Harness, seen: &Seen, what: &str) {
    let started = Instant::now();
    normal_client_throughout(h, Duration::from_secs(2)).await;
    while !seen.big_gone.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = seen.big_sent.load(Ordering::SeqCst);
    assert!(
        seen.big_gone.load(Ordering::SeqCst),
        "the edge still holds the {what} after {:?} ({sent} bytes sent)",
        started.elapsed()
    );
    assert!(
        sent < 96 << 20,
        "the upstream wrote {sent} bytes before stalling"
    );
}

#[tokio::test]
async fn bodiless_posts_on_one_h2_connection_hit_its_cap_while_others_are_served() {
    let (up, seen) = upstream().await;
    let h = start("", up).await;
    let attacker = h2_connect(&h).await;
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..256 {
        let mut sender = attacker.clone();
        // A body is declared and never sent.
        let req = hyper::Request::post(format!(
            "https://{NAME}/_matrix/client/v3/rooms/r/send/m/{i}"
        ))
        .header("content-length", "100")
        .body(http_body_util::Either::Left(StreamBody::new(
            futures_util::stream::pending(),
        )))
        .unwrap();
        posts.spawn(async move {
            let _ = futures_util::future::poll_fn(|cx| sender.poll_ready(cx)).await;
            match sender.send_request(req).await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            }
        });
    }
    normal_client_throughout(&h, Duration::from_secs(2)).await;
    let mut statuses = BTreeMap::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(status) = posts.join_next().await {
            *statuses.entry(status.unwrap()).or_insert(0) += 1;
        }
    })
    .await
    .expect("every bodiless POST answered within 60 s");
    // The connection's turns are taken by 4 requests waiting for their bodies (408 after the
    // body timeout); the rest wait briefly for a turn and get 503. Each early answer resets a
    // stream whose body never came; past the edge's budget of such resets the connection gets
    // GOAWAY, and the requests still queued on it fail at the client (0).
    assert!(
        statuses.keys().all(|s| [0, 408, 503].contains(s)),
        "{statuses:?}"
    );
    let refused = statuses.get(&503).copied().unwrap_or(0) + statuses.get(&0).copied().unwrap_or(0);
    assert!(refused >= 128, "{statuses:?}");
    assert!(
        statuses.get(&408).copied().unwrap_or(0) >= 4,
        "{statuses:?}"
    );
    assert_eq!(
        seen.body_errors.load(Ordering::SeqCst),
        0,
        "a body that never started took no upstream connection"
    );
    assert!(seen.max_open.load(Ordering::SeqCst) <= 8);
    normal_request_works(&h).await;
}

#[tokio::test]
async fn upstream_connections_stay_under_the_caps_and_sync_is_not_starved() {
    let (up, seen) = upstream().await;
    let h = start("", up).await;

    // One connection asks for 64 slow answers: it gets 4 turns, the normal client still gets in.
    let attacker = h2_connect(&h).await;
    let slow_requests = |sender: &H2, n: usize| {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let mut sender = sender.clone();
            let req = h2_get(&h, "/_matrix/client/v3/slow");
            set.spawn(async move {
                let _ = futures_util::future::poll_fn(|cx| sender.poll_ready(cx)).await;
                match sender.send_request(req).await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry = r.headers().contains_key("retry-after");
                        let body = r.into_body().collect().await.unwrap().to_bytes();
                        if status == 503 {
                            assert!(retry, "503 without Retry-After");
                            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
                            assert_eq!(doc["errcode"], "M_LIMIT_EXCEEDED");
                        }
                        status
                    }
                    Err(_) => 0,
                }
            });
        }
        set
    };
    let mut one = slow_requests(&attacker, 64);
    normal_client_throughout(&h, SLOW * 2).await;
    while let Some(status) = one.join_next().await {
        let status = status.unwrap();
        assert!(status == 200 || status == 503, "{status}");
    }
    assert!(
        seen.max_slow.load(Ordering::SeqCst) <= 4,
        "one client connection had {} requests at the upstream at once",
        seen.max_slow.load(Ordering::SeqCst)
    );

    // Four connections at once: the general pool is full (8), and a long-poll /sync, which waits
    // at the upstream longer than every edge timeout, still gets through whole.
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let sender = h2_connect(&h).await;
        attackers.push(slow_requests(&sender, 64));
    }
    tokio::time::sleep(SLOW / 4).await;
    let sync = raw_https(
        &h,
        format!("GET /_matrix/client/v3/sync?timeout=30000 HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(sync.starts_with("HTTP/1.1 200"), "{sync}");
    let mut statuses = BTreeMap::new();
    for mut set in attackers {
        while let Some(status) = set.join_next().await {
            *statuses.entry(status.unwrap()).or_insert(0) += 1;
        }
    }
    assert!(
        statuses.contains_key(&503),
        "the cap was reached: {statuses:?}"
    );
    let max_open = seen.max_open.load(Ordering::SeqCst);
    assert!(
        max_open <= 8 + 8,
        "{max_open} upstream connections open at once (caps 8 + 8 for sync)"
    );
    normal_request_works(&h).await;
}

#[tokio::test]
async fn a_request_the_client_cancels_is_dropped_at_the_upstream() {
    let (up, seen) = upstream().await;
    let h = start("", up).await;
    let mut sender = h2_connect(&h).await;
    futures_util::future::poll_fn(|cx| sender.poll_ready(cx))
        .await
        .unwrap();
    let request = h2_get(&h, "/_matrix/client/v3/hang");
    // A clone: the connection stays open, only the stream is reset.
    let mut stream_sender = sender.clone();
    let waiting = tokio::spawn(async move { stream_sender.send_request(request).await });
    let started = Instant::now();
    while seen.hanging.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen.hanging.load(Ordering::SeqCst),
        1,
        "the request reached the upstream"
    );
    // The client gives up: its stream is reset. The edge drops its upstream request, so Synapse
    // does not go on working for nobody.
    waiting.abort();
    let dropped_by = Instant::now();
    while seen.abandoned.load(Ordering::SeqCst) == 0
        && dropped_by.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.abandoned.load(Ordering::SeqCst),
        1,
        "the upstream still works on a request cancelled {:?} ago",
        dropped_by.elapsed()
    );
    assert!(!sender.is_closed(), "the client's connection stays open");
    normal_request_works(&h).await;
}

#[tokio::test]
async fn requests_over_the_upstream_cap_wait_for_a_connection() {
    let (up, seen) = upstream().await;
    let limits = Limits {
        upstream_connections: 2,
        requests_per_connection: 32,
        queue_timeout: SLOW * 10,
        ..test_limits()
    };
    let h = start_named(NAME, "", limits, up).await;
    let sender = h2_connect(&h).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let mut sender = sender.clone();
        let req = h2_get(&h, "/_matrix/client/v3/slow");
        set.spawn(async move {
            futures_util::future::poll_fn(|cx| sender.poll_ready(cx))
                .await
                .unwrap();
            sender.send_request(req).await.unwrap().status().as_u16()
        });
    }
    while let Some(status) = set.join_next().await {
        assert_eq!(
            status.unwrap(),
            200,
            "waited for a connection, then answered"
        );
    }
    assert!(seen.max_open.load(Ordering::SeqCst) <= 2);
    assert!(seen.max_slow.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn a_trickled_body_gets_408_and_its_upstream_request_is_aborted() {
    let (up, seen) = upstream().await;
    let h = start("", up).await;
    let mut stream = tls_connect(&h, b"http/1.1").await;
    stream
        .write_all(format!("POST /_matrix/client/v3/rooms/r/send/m/1 HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: 100\r\n\r\nx").as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        // One byte every 2 s (bounded), reading the answer in between.
        let mut out = Vec::new();
        for _ in 0..10 {
            let mut buf = [0u8; 4096];
            match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => {
                    if stream.write_all(b"x").await.is_err() {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    normal_client_throughout(&h, Duration::from_secs(2)).await;
    let response = trickle.await.unwrap();
    let took = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(header(&response, "connection"), Some("close"), "{response}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    let answered = Instant::now();
    while seen.body_errors.load(Ordering::SeqCst) == 0
        && answered.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.body_errors.load(Ordering::SeqCst),
        1,
        "the upstream request was aborted, not completed"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_stalls_the_upstream_and_is_closed() {
    let (up, seen) = upstream().await;
    let h = start("", up).await;
    let mut stream = tls_connect(&h, b"http/1.1").await;
    stream
        .write_all(
            format!("GET /_matrix/media/v3/download/big HTTP/1.1\r\nHost: {NAME}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    // The client reads nothing. Backpressure reaches the upstream: it stops being read well
    // before 512 MiB, and once the edge gives up (write timeout) its stream is dropped.
    upstream_released_while_others_are_served(&h, &seen, "response").await;
    // The client finds its connection closed after what was buffered.
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the client connection was not closed");
    assert!(total < 96 << 20, "{total} bytes reached the client");
    normal_request_works(&h).await;
}

#[tokio::test]
async fn an_h2_client_that_grants_no_window_loses_its_stream_not_the_upstream() {
    let (up, seen) = upstream().await;
    let h = start("", up).await;
    // The client reads its socket (PINGs and SETTINGS are answered, so no write of the edge
    // waits) but never takes the body, so it grants no flow-control window.
    let tls = tls_connect(&h, b"h2").await;
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(65_535)
        .handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    futures_util::future::poll_fn(|cx| sender.poll_ready(cx))
        .await
        .unwrap();
    let response = sender
        .send_request(h2_get(&h, "/_matrix/media/v3/download/big"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    upstream_released_while_others_are_served(&h, &seen, "stalled response").await;
    // Only the stalled stream ended: the same connection still gets answers.
    let versions = sender
        .send_request(h2_get(&h, "/_matrix/client/versions"))
        .await
        .unwrap();
    assert_eq!(versions.status(), 200);
    drop(response);
}

#[tokio::test]
async fn a_response_that_pauses_at_the_upstream_is_not_cut() {
    let (up, _) = upstream().await;
    let h = start("", up).await;
    // Pauses longer than the write and stall timeouts, with a client that reads: the edge waits
    // for Synapse as long as Synapse takes.
    let response = raw_https(
        &h,
        format!(
            "GET /_matrix/client/v3/drip HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for chunk in ["chunk0;", "chunk1;", "chunk2;"] {
        assert!(response.contains(chunk), "{response}");
    }
}

#[tokio::test]
async fn answers_before_the_body_close_cleanly_or_drain() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let h = start("admin_allow: ['10.0.0.0/8']\n", dead).await;

    // 502 with the body half sent: Connection: close, then a clean TLS close (close_notify, so
    // read_to_end ends without error).
    let mut stream = tls_connect(&h, b"http/1.1").await;
    stream
        .write_all(format!("POST /_matrix/client/v3/login HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: 10\r\n\r\n12345").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("closed within 10 s");
    let response = String::from_utf8_lossy(&out);
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert_eq!(header(&response, "connection"), Some("close"), "{response}");
    assert!(closed.is_ok(), "not a clean close: {closed:?}");
    // The client's next request, on a new connection, works.
    let wk = raw_https(
        &h,
        format!(
            "GET /.well-known/matrix/server HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(wk.starts_with("HTTP/1.1 200"), "{wk}");

    // A small body the answer (403) does not need is drained: the connection stays usable.
    let mut stream = tls_connect(&h, b"http/1.1").await;
    let body = "a".repeat(1000);
    stream
        .write_all(format!("POST /_synapse/admin/v1/users HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
        .await
        .unwrap();
    let forbidden = read_response(&mut stream).await;
    assert!(forbidden.starts_with("HTTP/1.1 403"), "{forbidden}");
    assert_ne!(
        header(&forbidden, "connection"),
        Some("close"),
        "{forbidden}"
    );
    stream
        .write_all(
            format!("GET /.well-known/matrix/server HTTP/1.1\r\nHost: {NAME}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let next = read_response(&mut stream).await;
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");

    // A large one is not: Connection: close.
    let large = raw_https(
        &h,
        format!("POST /_synapse/admin/v1/users HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: 500000\r\n\r\nabc").as_bytes(),
    )
    .await;
    assert!(large.starts_with("HTTP/1.1 403"), "{large}");
    assert_eq!(header(&large, "connection"), Some("close"), "{large}");
}

#[tokio::test]
async fn a_malformed_chunk_gets_400() {
    let (up, _) = upstream().await;
    let h = start("", up).await;
    let response = raw_https(
        &h,
        format!("POST /_matrix/client/v3/login HTTP/1.1\r\nHost: {NAME}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert_eq!(body_json(&response)["errcode"], "M_UNKNOWN");
    normal_request_works(&h).await;
}

#[tokio::test]
async fn port_80_redirects_only_to_our_name() {
    let (up, _) = upstream().await;
    let h = start("", up).await;
    for host in ["evil.example", "127.0.0.1", "[::1]:80"] {
        let mut tcp = TcpStream::connect(h.http).await.unwrap();
        tcp.write_all(
            format!("GET /x?y=1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 308"), "{out}");
        assert_eq!(
            header(&out, "location"),
            Some(format!("https://{NAME}:{}/x?y=1", h.https.port()).as_str()),
            "Host: {host}"
        );
    }
}

#[tokio::test]
async fn client_forwarding_headers_do_not_reach_the_upstream() {
    let (up, _) = upstream().await;
    let h = start("", up).await;
    let response = raw_https(
        &h,
        format!("GET /_matrix/client/versions HTTP/1.1\r\nHost: {NAME}\r\nForwarded: for=6.6.6.6;proto=http\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    let echo = body_json(&response);
    let headers = echo["headers"].as_object().unwrap();
    assert!(!headers.contains_key("forwarded"), "{echo}");
    assert!(!headers.contains_key("x-real-ip"), "{echo}");
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn own_pages_carry_security_headers_and_hsts_only_for_public_names() {
    let (up, _) = upstream().await;
    let h = start("", up).await;
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n").into_bytes()
    };
    for path in ["/", "/.well-known/matrix/client", "/nothing-here"] {
        let response = raw_https(&h, &get(path)).await;
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(&response, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        let csp = header(&response, "content-security-policy").unwrap_or_default();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/" {
            // The onboarding page loads its stylesheet (and the invite page its script) from
            // this origin only.
            assert!(csp.contains("style-src 'self'"), "{csp}");
            assert!(csp.contains("script-src 'self'"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
        }
        // matrix.test has an internal-CA certificate: no HSTS.
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{path}"
        );
    }
    let mut tcp = TcpStream::connect(h.http).await.unwrap();
    tcp.write_all(&get("/")).await.unwrap();
    let mut redirect = String::new();
    tcp.read_to_string(&mut redirect).await.unwrap();
    assert_eq!(
        header(&redirect, "x-content-type-options"),
        Some("nosniff"),
        "{redirect}"
    );

    // A public name served with a Let's Encrypt certificate gets HSTS on the edge's pages.
    let (up, _) = upstream().await;
    let public = start_named("matrix.example.org", "", test_limits(), up).await;
    let landing = raw_https(
        &public,
        b"GET / HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(landing.starts_with("HTTP/1.1 200"), "{landing}");
    assert_eq!(
        header(&landing, "strict-transport-security"),
        Some("max-age=31536000"),
        "{landing}"
    );
}

/// A writer into a shared buffer, for capturing this test's log lines.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn warnings_an_attacker_can_trigger_are_rate_limited() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test's runtime is single-threaded, so the edge's tasks log through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let h = start("", dead).await;
    let request = format!(
        "GET /_matrix/client/versions HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..40 {
        let response = raw_https(&h, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    }
    let lines = |capture: &Capture| {
        String::from_utf8_lossy(&capture.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("upstream request failed"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let logged = lines(&capture);
    assert!(
        !logged.is_empty() && logged.len() <= 5,
        "40 failures gave {} lines: {logged:#?}",
        logged.len()
    );
    // Once a token comes back, the next line says how many were left out. (Other tests share
    // the limit and may take a token first: a few tries.)
    let mut summary = None;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(10_500)).await;
        let response = raw_https(&h, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 502"), "{response}");
        summary = lines(&capture).into_iter().find_map(|line| {
            let n: u64 = line
                .split("suppressed=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            (n >= 30).then_some(line)
        });
        if summary.is_some() {
            break;
        }
    }
    assert!(
        summary.is_some(),
        "no line counts the suppressed ones: {:#?}",
        lines(&capture)
    );
}
