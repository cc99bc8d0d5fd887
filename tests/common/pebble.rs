//! Pebble, a real ACME CA for tests, with pebble-challtestsrv as its DNS: a fresh pair per test on
//! its own free loopback ports (so tests run side by side), plus minimal challenge responders and
//! a TLS client that trusts only Pebble's root. Needs Debian's `pebble` package (tests/run.sh
//! installs it).

#![allow(dead_code)] // each user (test binaries, the benchmark example) uses a different part

use std::net::TcpStream as StdStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use matrixbox::acme::Http01Tokens;
use matrixbox::tls::CertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A loopback port free for TCP and UDP, for a server a test starts later (Pebble, a container).
///
/// Handed out in turn from one counter shared by every test process on the machine (a file under
/// a lock), below the kernel's ephemeral range (32768-60999 here): the tests running side by side
/// never get the same port, and no client connection is given it by the kernel meanwhile. Here
/// rather than in mod.rs: examples/acme_bench.rs includes this file alone.
pub fn free_port() -> u16 {
    use std::io::{Read, Seek, Write};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let path = std::env::temp_dir().join("matrixbox-test-ports");
    let mut counter = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    counter.lock().expect("lock for the test port counter");
    let mut text = String::new();
    counter.read_to_string(&mut text).unwrap();
    let mut next: u32 = text.trim().parse().unwrap_or(0) % SPAN;
    let port = loop {
        let port = (FIRST + next) as u16;
        next = (next + 1) % SPAN;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            break port;
        }
    };
    counter.set_len(0).unwrap();
    counter.rewind().unwrap();
    write!(counter, "{next}").unwrap();
    port
}

fn loopback(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[derive(Debug, Clone)]
pub struct Options {
    /// `certificateValidityPeriod` in seconds.
    pub validity_secs: u64,
    /// `PEBBLE_WFE_NONCEREJECT`: percentage of valid nonces rejected as bad.
    pub nonce_reject: u8,
    /// The DNS server (ip:port) Pebble resolves names with, instead of challtestsrv (whose
    /// every answer is 127.0.0.1): a test network's own DNS.
    pub dns_server: Option<String>,
    /// Where Pebble dials for TLS-ALPN-01 instead of a free port: 443 for edges listening on
    /// addresses of their own, as on the internet.
    pub tls_port: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            validity_secs: 90 * 86400,
            nonce_reject: 0,
            dns_server: None,
            tls_port: None,
        }
    }
}

pub struct Pebble {
    pub dir: tempfile::TempDir,
    /// The ACME API (`https://<acme_addr>/dir`).
    pub acme_addr: String,
    management_addr: String,
    /// challtestsrv's DNS (UDP and TCP): every A query answers 127.0.0.1.
    pub dns_addr: String,
    dns_management_addr: String,
    /// Where Pebble dials the HTTP-01 and TLS-ALPN-01 responders (its `httpPort` / `tlsPort`).
    pub http01_port: u16,
    pub tls_port: u16,
    pebble: Option<Child>,
    challtestsrv: Child,
    /// The CA of Pebble's own HTTPS identity: `acme.ca_root`.
    pub api_root: PathBuf,
    /// The root Pebble's certificates chain to (new on every start).
    pub issuing_root: CertificateDer<'static>,
}

impl Pebble {
    /// Starts Pebble and its DNS on free ports. A port found free can be taken by another test
    /// process before Pebble binds it: such a start is retried on fresh ports.
    pub fn start(options: Options) -> Pebble {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Pebble::try_start(&options) {
                Ok(pebble) => return pebble,
                Err(e) if e.contains("address already in use") && attempts < 5 => {
                    eprintln!("pebble: a port was taken meanwhile, retrying on others: {e}");
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn try_start(options: &Options) -> Result<Pebble, String> {
        let acme_addr = loopback(free_port());
        let management_addr = loopback(free_port());
        let dns_addr = loopback(free_port());
        let dns_management_addr = loopback(free_port());
        let http01_port = free_port();
        let tls_port = options.tls_port.unwrap_or_else(free_port);
        let dir = tempfile::tempdir().unwrap();
        let (api_root, cert, key) = write_identity(&dir);
        let config = serde_json::json!({"pebble": {
            "listenAddress": acme_addr,
            "managementListenAddress": management_addr,
            "certificate": cert,
            "privateKey": key,
            "httpPort": http01_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": options.validity_secs,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();

        // DNS for made-up names: every A query answers 127.0.0.1, and no AAAA, since Pebble
        // dials only the first address and the responders listen on 127.0.0.1.
        let challtestsrv = Command::new("pebble-challtestsrv")
            .args(["-management", &dns_management_addr, "-dns01", &dns_addr])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .expect("pebble-challtestsrv runs (apt-get install pebble)");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args([
                "-dnsserver",
                options.dns_server.as_ref().unwrap_or(&dns_addr),
            ])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", options.nonce_reject.to_string())
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("pebble runs (apt-get install pebble)");
        let mut this = Pebble {
            acme_addr,
            management_addr,
            dns_addr,
            dns_management_addr,
            http01_port,
            tls_port,
            pebble: Some(pebble),
            challtestsrv,
            issuing_root: CertificateDer::from(Vec::new()),
            api_root,
            dir,
        };
        for addr in [
            this.acme_addr.clone(),
            this.management_addr.clone(),
            this.dns_management_addr.clone(),
        ] {
            this.wait_for(&addr)?;
        }
        let root_pem = https_get_blocking(&this.management_addr, &this.api_root, "/roots/0");
        // Both still running: an answer on their ports came from them, not from a port's thief.
        this.exited()?;
        this.issuing_root =
            CertificateDer::from_pem_slice(root_pem.as_bytes()).expect("Pebble's root is PEM");
        Ok(this)
    }

    fn wait_for(&mut self, addr: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while StdStream::connect(addr).is_err() {
            self.exited()?;
            assert!(
                Instant::now() < deadline,
                "{addr} did not come up: {}",
                self.log("pebble.err")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// An error naming the process that exited (with its log), if either has.
    fn exited(&mut self) -> Result<(), String> {
        if let Some(status) = self.pebble.as_mut().and_then(|p| p.try_wait().unwrap()) {
            return Err(format!(
                "pebble exited with {status}: {}",
                self.log("pebble.err")
            ));
        }
        if let Some(status) = self.challtestsrv.try_wait().unwrap() {
            return Err(format!(
                "pebble-challtestsrv exited with {status}: {}",
                self.log("challtestsrv.err")
            ));
        }
        Ok(())
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://{}/dir", self.acme_addr)
    }

    /// Where the TLS responder (or the product's edge) must listen for TLS-ALPN-01.
    pub fn tls_addr(&self) -> String {
        loopback(self.tls_port)
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Stops the CA (only the pebble process; its DNS stays), as if it became unreachable.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.pebble.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// A matrixbox configuration using this Pebble.
    pub fn config(&self, names: &[&str], challenge: &str) -> String {
        let server_name = names.get(1).unwrap_or(&names[0]);
        format!(
            "domain: {}\nserver_name: {server_name}\nserve_server_name: true\nacme:\n  email: admin@matrixbox.example.com\n  directory: {}\n  ca_root: {}\n  challenge: {challenge}\n",
            names[0],
            self.directory(),
            self.api_root.display()
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = self.challtestsrv.kill();
        let _ = self.challtestsrv.wait();
    }
}

/// A CA and a `localhost` leaf for Pebble's API (rustls refuses a CA certificate as a leaf).
fn write_identity(dir: &tempfile::TempDir) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pebble API test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.path().join("api-ca.pem"),
        dir.path().join("localhost.pem"),
        dir.path().join("localhost.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn client_config(root: CertificateDer<'static>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// GET over HTTPS/1.0 with a blocking client; returns the body of a 200 answer.
fn https_get_blocking(addr: &str, root_pem: &PathBuf, path: &str) -> String {
    use std::io::{Read, Write};
    let root = CertificateDer::from_pem_file(root_pem).unwrap();
    let conn = rustls::ClientConnection::new(
        Arc::new(client_config(root, &[])),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, StdStream::connect(addr).unwrap());
    write!(tls, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    // Pebble closes without close_notify; what was read before that is complete for HTTP/1.0.
    let _ = tls.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

/// Connects to `addr` with SNI `name`, trusting only `root`; the leaf on success.
pub async fn verified_leaf(
    addr: &str,
    name: &str,
    root: &CertificateDer<'static>,
) -> Result<CertificateDer<'static>, String> {
    let (_, leaf) = connect(addr, name, root).await?;
    Ok(leaf)
}

/// An open, verified TLS connection to the responder (which echoes), and the leaf it presented.
pub async fn connect(
    addr: &str,
    name: &str,
    root: &CertificateDer<'static>,
) -> Result<
    (
        tokio_rustls::client::TlsStream<TcpStream>,
        CertificateDer<'static>,
    ),
    String,
> {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(root.clone(), &[b"http/1.1"])));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let tls = connector
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no certificate")?[0]
        .clone()
        .into_owned();
    Ok((tls, leaf))
}

/// Waits (up to a minute) until `addr` serves `name` a certificate chaining to `root`.
pub async fn wait_until_served(addr: &str, name: &str, root: &CertificateDer<'static>) -> bool {
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(300),
        || async move { verified_leaf(addr, name, root).await.is_ok() },
    )
    .await
}

/// The leaf served for `name`, without verifying it (to compare certificates after expiry).
pub async fn served_leaf(addr: &str, name: &str) -> CertificateDer<'static> {
    #[derive(Debug)]
    struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// The test's own challenge responders; stopped when dropped.
pub struct Responders {
    tasks: Vec<JoinHandle<()>>,
}

impl Responders {
    /// HTTP-01 on `pebble`'s HTTP port answering from `tokens` for `names` (Host compared with
    /// the port stripped), when given; TLS on its TLS port from `store` (TLS-ALPN-01, and the
    /// "edge" that tests connect to: it echoes what it reads), when given.
    pub async fn start(
        pebble: &Pebble,
        http: Option<(Http01Tokens, Vec<String>)>,
        tls: Option<Arc<CertStore>>,
    ) -> Responders {
        let mut tasks = Vec::new();
        if let Some((tokens, names)) = http {
            let listener = TcpListener::bind(loopback(pebble.http01_port))
                .await
                .unwrap();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(answer_http01(stream, tokens.clone(), names.clone()));
                }
            }));
        }
        if let Some(store) = tls {
            let listener = TcpListener::bind(pebble.tls_addr()).await.unwrap();
            let acceptor =
                tokio_rustls::TlsAcceptor::from(Arc::new(matrixbox::tls::server_config(store)));
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let (mut reader, mut writer) = tokio::io::split(tls);
                        let _ = tokio::io::copy(&mut reader, &mut writer).await;
                    });
                }
            }));
        }
        Responders { tasks }
    }
}

impl Drop for Responders {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn answer_http01(mut stream: TcpStream, tokens: Http01Tokens, names: Vec<String>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("");
    let host = text
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let answer = path
        .strip_prefix("/.well-known/acme-challenge/")
        .filter(|_| names.iter().any(|n| n.eq_ignore_ascii_case(host)))
        .and_then(|token| tokens.get(token));
    let response = match answer {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
        }
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Waits for `check` to hold, polling every `every`, up to `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, every: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}
