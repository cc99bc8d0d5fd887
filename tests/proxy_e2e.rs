//! The edge against a real upstream HTTP server on loopback: routing, byte-exact forwarding,
//! limits, well-known documents, redirects, TLS policy and hostile clients.

#[path = "common/echo.rs"]
mod echo;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use matrixbox::proxy::{self, ChallengeLookup, Edge, SharedEdge};
use matrixbox::tls::{self, CertStore};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const NAME: &str = "matrix.test";

struct NoChallenges;
impl ChallengeLookup for NoChallenges {
    fn key_authorization(&self, token: &str) -> Option<String> {
        (token == "known-token").then(|| "known-token.thumbprint".to_string())
    }
}

/// A plain HTTP/1.1 upstream on a port of its own, answering each request with `answer`'s body.
async fn upstream<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Bytes> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = service_fn(move |req| async move {
                    let body = answer(req).await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// An upstream that answers with what it received: raw target, headers, body size.
async fn echo_upstream() -> SocketAddr {
    upstream(|req| async move { echo::echo(req).await.0 }).await
}

struct Harness {
    https: SocketAddr,
    http: SocketAddr,
    root: CertificateDer<'static>,
    root_pem: String,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn start(extra_config: &str, upstream: SocketAddr) -> Harness {
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (https_addr, http_addr) = (https.local_addr().unwrap(), http.local_addr().unwrap());
    let config = matrixbox::config::parse(
        &format!("domain: {NAME}\nlisten: {{https: '{https_addr}', http: '{http_addr}'}}\nsynapse:\n  max_upload_size: 1M\n{extra_config}"),
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
        matrixbox::upstream::UpstreamAddr::Tcp(upstream.to_string().parse().unwrap()),
        Arc::new(NoChallenges),
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
        https: https_addr,
        http: http_addr,
        root: cert.cert.der().clone(),
        root_pem: cert.cert.pem(),
        _shutdown: shutdown.drop_guard(),
    }
}

fn client_config(root: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

async fn tls_connect(
    h: &Harness,
    sni: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(client_config(&h.root, &[b"http/1.1"]));
    let tcp = TcpStream::connect(h.https).await?;
    connector
        .connect(ServerName::try_from(sni.to_string()).unwrap(), tcp)
        .await
}

/// Sends raw bytes over TLS and returns everything the server sends back until it closes.
async fn raw_https(h: &Harness, request: &[u8]) -> String {
    let mut stream = tls_connect(h, NAME).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn body_json(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON body in {response}"))
}

#[tokio::test]
async fn raw_path_is_forwarded_byte_for_byte_with_forwarding_headers() {
    let h = start("", echo_upstream().await).await;
    let target = "/_matrix/client/v3/rooms/%21abc%3Aexample.org/state/m.room.member/%40a%2Fb%25c?filter=%2F%25&x=1";
    let response = raw_https(
        &h,
        format!("GET {target} HTTP/1.1\r\nHost: {NAME}\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let echo = body_json(&response);
    assert_eq!(echo["target"], target);
    assert_eq!(
        echo["headers"]["x-forwarded-for"], "127.0.0.1",
        "overwritten, not appended"
    );
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
    assert_eq!(echo["headers"]["host"], NAME);
    assert!(
        echo["headers"]
            .get("connection")
            .is_none_or(|c| c != "close"),
        "hop-by-hop removed: {echo}"
    );
}

#[tokio::test]
async fn only_the_matrix_api_goes_upstream_and_admin_is_guarded() {
    let h = start("admin_allow: ['10.0.0.0/8']\n", echo_upstream().await).await;
    let admin = raw_https(
        &h,
        format!(
            "GET /_synapse/%61dmin/v1/users HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(admin.starts_with("HTTP/1.1 403"), "{admin}");
    assert_eq!(body_json(&admin)["errcode"], "M_FORBIDDEN");
    let metrics = raw_https(
        &h,
        format!("GET /_synapse/metrics HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(metrics.starts_with("HTTP/1.1 404"), "{metrics}");
    let landing = raw_https(
        &h,
        format!("GET / HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        landing.starts_with("HTTP/1.1 200") && landing.contains("https://matrix.test"),
        "{landing}"
    );

    let allowed = start("", echo_upstream().await).await;
    let admin = raw_https(
        &allowed,
        format!(
            "GET /_synapse/admin/v1/users HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(
        body_json(&admin)["target"],
        "/_synapse/admin/v1/users",
        "loopback is allowed by default"
    );
}

#[tokio::test]
async fn uploads_over_the_limit_get_413_and_bodies_stream() {
    let h = start("", echo_upstream().await).await;
    let declared = raw_https(
        &h,
        format!("POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert_eq!(body_json(&declared)["errcode"], "M_TOO_LARGE");

    // Chunked, no declared length: cut off when it passes the limit.
    let mut chunked = format!("POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: {NAME}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 100_000).as_bytes());
        chunked.extend(std::iter::repeat_n(b'a', 100_000));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let streamed = raw_https(&h, &chunked).await;
    assert!(
        streamed.starts_with("HTTP/1.1 413"),
        "{}",
        &streamed[..streamed.len().min(300)]
    );

    let body = vec![b'x'; 900_000];
    let mut ok = format!("POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    ok.extend(body);
    let response = raw_https(&h, &ok).await;
    assert_eq!(body_json(&response)["body_len"], 900_000);
}

#[tokio::test]
async fn well_known_documents_with_cors_and_options() {
    let h = start("server_name: example.test\n", echo_upstream().await).await;
    let server = raw_https(
        &h,
        format!(
            "GET /.well-known/matrix/server HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let lower = server.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/json"), "{server}");
    assert!(lower.contains("access-control-allow-origin: *"), "{server}");
    assert!(
        lower.contains("cache-control: public, max-age="),
        "{server}"
    );
    assert_eq!(body_json(&server)["m.server"], "matrix.test:443");
    let client = raw_https(
        &h,
        format!(
            "GET /.well-known/matrix/client HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(
        body_json(&client)["m.homeserver"]["base_url"],
        "https://matrix.test"
    );
    let options = raw_https(&h, format!("OPTIONS /.well-known/matrix/client HTTP/1.1\r\nHost: {NAME}\r\nOrigin: https://app.element.io\r\nConnection: close\r\n\r\n").as_bytes()).await;
    assert!(
        options.starts_with("HTTP/1.1 204")
            && options
                .to_ascii_lowercase()
                .contains("access-control-allow-methods"),
        "{options}"
    );
    let support = raw_https(
        &h,
        format!(
            "GET /.well-known/matrix/support HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(
        support.starts_with("HTTP/1.1 404"),
        "no contacts configured: {support}"
    );
}

#[tokio::test]
async fn port_80_redirects_keeping_path_and_query_and_answers_challenges() {
    let h = start("", echo_upstream().await).await;
    let mut tcp = TcpStream::connect(h.http).await.unwrap();
    tcp.write_all(format!("GET /_matrix/client/versions?a=%2F&b=1 HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 308"), "{out}");
    assert!(
        out.contains(&format!(
            "location: https://{NAME}:{}/_matrix/client/versions?a=%2F&b=1\r\n",
            h.https.port()
        )),
        "{out}"
    );

    let mut tcp = TcpStream::connect(h.http).await.unwrap();
    tcp.write_all(format!("GET /.well-known/acme-challenge/known-token HTTP/1.1\r\nHost: {NAME}:5002\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("known-token.thumbprint"),
        "{out}"
    );
}

#[tokio::test]
async fn upstream_down_gives_a_matrix_error_and_the_edge_keeps_serving() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let h = start("", dead).await;
    let response = raw_https(
        &h,
        format!(
            "GET /_matrix/client/versions HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert_eq!(body_json(&response)["errcode"], "M_UNKNOWN");
    let wk = raw_https(
        &h,
        format!(
            "GET /.well-known/matrix/server HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(wk.starts_with("HTTP/1.1 200"), "{wk}");
}

#[tokio::test]
async fn sni_policy_and_http2() {
    let h = start("", echo_upstream().await).await;
    assert!(
        tls_connect(&h, "other.example").await.is_err(),
        "unknown SNI is refused"
    );
    // HTTP/2 with ALPN, through curl (a real client), certificate verified against our root.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("root.pem");
    std::fs::write(&ca, &h.root_pem).unwrap();
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "--cacert",
        ])
        .arg(&ca)
        .args(["--resolve", &format!("{NAME}:{}:127.0.0.1", h.https.port())])
        .arg(format!(
            "https://{NAME}:{}/_matrix/client/versions",
            h.https.port()
        ))
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A normal request that must succeed while a hostile client is connected.
async fn normal_request_works(h: &Harness) {
    let started = Instant::now();
    let response = raw_https(
        h,
        format!(
            "GET /_matrix/client/versions HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "normal client delayed by a hostile one"
    );
}

#[tokio::test]
async fn hostile_clients_are_refused_without_disturbing_others() {
    let h = start("", echo_upstream().await).await;

    // Slowloris: headers trickle in; the connection is closed after the header timeout.
    let mut slow = tls_connect(&h, NAME).await.unwrap();
    slow.write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: matrix.test\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        for i in 0..40 {
            if slow
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(500), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => break, // an error response, then close
                Err(_) => {}
            }
        }
        started.elapsed()
    });
    normal_request_works(&h).await;
    let held = trickle.await.unwrap();
    assert!(
        held < Duration::from_secs(15),
        "slowloris held the connection for {held:?}"
    );

    // 1 MB of headers.
    let mut huge =
        format!("GET /_matrix/client/versions HTTP/1.1\r\nHost: {NAME}\r\n").into_bytes();
    for i in 0..1024 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let mut stream = tls_connect(&h, NAME).await.unwrap();
    let _ = stream.write_all(&huge).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || out.starts_with("HTTP/1.1 431") || out.starts_with("HTTP/1.1 400"),
        "{out}"
    );
    normal_request_works(&h).await;

    // Conflicting Content-Length and Transfer-Encoding (request smuggling): the HTTP parser lets
    // chunked framing win and closes the connection after one response (RFC 9112 6.3), so the
    // request hidden behind it is never read, and upstream gets a request re-framed by us.
    let smuggle = raw_https(
        &h,
        format!("POST /_matrix/client/v3/login HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /_synapse/admin/v1/users HTTP/1.1\r\nHost: {NAME}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(
        smuggle.matches("HTTP/1.1 ").count(),
        1,
        "one response, then the connection closed: {smuggle}"
    );
    assert!(
        smuggle.to_ascii_lowercase().contains("connection: close"),
        "{smuggle}"
    );
    assert_eq!(body_json(&smuggle)["target"], "/_matrix/client/v3/login");
    assert_eq!(
        body_json(&smuggle)["body_len"],
        0,
        "chunked framing won, the hidden request stayed unread"
    );
    normal_request_works(&h).await;
}

/// The byte at `i` of a `len`-byte answer of `sized_upstream`.
fn pattern(len: usize, i: usize) -> u8 {
    ((i * 7 + len) % 251) as u8
}

/// An upstream whose answer to `/_matrix/client/v3/sized/<n>` is `n` bytes of `pattern`.
async fn sized_upstream() -> SocketAddr {
    upstream(|req| async move {
        let len: usize = req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Bytes::from((0..len).map(|i| pattern(len, i)).collect::<Vec<u8>>())
    })
    .await
}

/// HTTP/2 answers of every size, many at once on one connection, arrive whole and each on its own
/// stream: the edge gathers small frames into shared TLS records and sends large ones beside them
/// (proxy::coalesce), which must never reorder or lose a byte.
#[tokio::test]
async fn http2_answers_of_every_size_arrive_whole_when_many_share_a_connection() {
    let h = start("", sized_upstream().await).await;
    let connector = tokio_rustls::TlsConnector::from(client_config(&h.root, &[b"h2"]));
    let tcp = TcpStream::connect(h.https).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(NAME).unwrap(), tcp)
        .await
        .unwrap();
    let (client, connection) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(connection);
    let sizes = [
        0, 1, 255, 488, 1023, 1024, 1025, 4000, 16_375, 16_384, 20_000, 300_000,
    ];
    let mut answers = Vec::new();
    for round in 0..4 {
        for len in sizes {
            let mut client = client.clone().ready().await.unwrap();
            let req = http::Request::get(format!(
                "https://{NAME}/_matrix/client/v3/sized/{len}?round={round}"
            ))
            .body(())
            .unwrap();
            let (response, _) = client.send_request(req, true).unwrap();
            answers.push(tokio::spawn(async move {
                let response = response.await.unwrap();
                assert_eq!(response.status(), 200);
                let mut body = response.into_body();
                let mut got = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.unwrap();
                    body.flow_control().release_capacity(chunk.len()).unwrap();
                    got.extend_from_slice(&chunk);
                }
                (len, got)
            }));
        }
    }
    for answer in answers {
        let (len, got) = tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .expect("every answer within 30 s")
            .unwrap();
        assert_eq!(got.len(), len, "length of the {len}-byte answer");
        assert!(
            got.iter().enumerate().all(|(i, b)| *b == pattern(len, i)),
            "content of the {len}-byte answer"
        );
    }
}
