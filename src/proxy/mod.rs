//! The public edge: listeners on :80 and :443, local answers (well-known, the onboarding and
//! invite pages, ACME HTTP-01) and forwarding of the Matrix API to Synapse.

mod admit;
mod client_body;
mod coalesce;
mod conn;
mod forward;
mod pages;
mod pool;
pub mod route;
mod scrape;
mod serve;
mod stall;
mod web;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::Either;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::sync::Semaphore;

use crate::config::{self, Config, Directory};
use crate::i18n::Lang;
use crate::metrics::{EdgeMetrics, RouteClass};
use crate::people;
use crate::synapse::admin::Synapse;
use crate::upstream::UpstreamAddr;
use crate::webclient;
use crate::wellknown;

pub use admit::{ConnPolicy, Connections};
pub use scrape::{SYNAPSE_METRICS_PATH, serve_metrics};
pub use serve::{listener, serve_http, serve_https};

/// A response body: a document of ours or Synapse's streamed answer. An enum rather than a boxed
/// trait object, so answering costs no allocation for the body itself.
pub enum Body {
    Full(Full<Bytes>),
    Upstream(forward::Streamed),
    /// A web client file, read as it is sent. Boxed: every response of every kind is as large
    /// as this enum, and moved several times on its way out.
    File(Box<webclient::serve::FileBody>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Body::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Body::Upstream(streamed) => Pin::new(&mut streamed.body).poll_frame(cx),
            Body::File(file) => Pin::new(&mut **file)
                .poll_frame(cx)
                .map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(full) => full.is_end_stream(),
            Body::Upstream(streamed) => streamed.body.is_end_stream(),
            Body::File(file) => file.is_end_stream(),
        }
    }

    // Passed through so a known length is sent as Content-Length rather than chunked.
    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(full) => full.size_hint(),
            Body::Upstream(streamed) => streamed.body.size_hint(),
            Body::File(file) => file.size_hint(),
        }
    }
}

/// What keeps one client from taking what the others need. Production values by default; the
/// fields are public so tests can shorten them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections to Synapse for everything but long-poll `/sync`.
    pub upstream_connections: usize,
    /// Connections to Synapse for long-poll `/sync`, a pool apart: a waiting sync holds its
    /// connection for up to 30 s, so syncs and other requests must not take each other's.
    pub sync_connections: usize,
    /// Requests one client connection may have at Synapse at once (`/sync` included).
    pub requests_per_connection: usize,
    /// How long a request waits for a turn among its connection's requests before a 503. Long:
    /// a client with many requests at once (thumbnails) waits only on itself.
    pub turn_timeout: Duration,
    /// How long a request waits for a connection to Synapse before a 503. Short: Synapse is
    /// overloaded, and clients retry after the time the 503 gives them.
    pub queue_timeout: Duration,
    /// A request body that sends nothing for this long gets 408.
    pub body_idle_timeout: Duration,
    /// A client connection whose writes make no progress for this long is closed.
    pub write_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            upstream_connections: 256,
            sync_connections: 1024,
            requests_per_connection: 32,
            turn_timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(3),
            body_idle_timeout: Duration::from_secs(30),
            write_idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Bodies up to this size are read and dropped when the answer does not need them, so the
/// connection stays usable; a larger one ends the connection.
const DRAIN_MAX: usize = 64 * 1024;

/// The client end of a TLS connection, worked out once per connection rather than per request.
struct Peer {
    ip: IpAddr,
    /// The X-Forwarded-For value Synapse gets.
    forwarded_for: HeaderValue,
    /// Whether the connection carries requests side by side (HTTP/2); an HTTP/1.1 connection
    /// has one at a time, and needs no turns.
    multiplexed: bool,
    /// Turns at Synapse for this connection's requests, made at its first forwarded request.
    turns: OnceLock<Arc<Semaphore>>,
}

impl Peer {
    fn new(addr: SocketAddr, multiplexed: bool) -> Peer {
        // IPv4-mapped IPv6 peers (dual-stack listeners) count as the IPv4 address they are.
        let ip = addr.ip().to_canonical();
        Peer {
            ip,
            forwarded_for: HeaderValue::from_str(&ip.to_string())
                .expect("an IP address is a valid header"),
            multiplexed,
            turns: OnceLock::new(),
        }
    }

    /// The turns that cap this connection's requests in progress at `per_connection`; `None`
    /// for a connection that carries one at a time.
    fn turns(&self, per_connection: usize) -> Option<Arc<Semaphore>> {
        self.multiplexed.then(|| {
            self.turns
                .get_or_init(|| Arc::new(Semaphore::new(per_connection)))
                .clone()
        })
    }
}

/// What the :80 listener needs from whoever runs HTTP-01 orders.
pub trait ChallengeLookup: Send + Sync {
    /// The key authorization for `token`, while its order is pending.
    fn key_authorization(&self, token: &str) -> Option<String>;
}

/// Everything a request handler needs; rebuilt (not mutated) when the config is reloaded.
pub struct Edge {
    names: Vec<String>,
    domain: String,
    https_port: Option<u16>,
    admin_allow: Vec<ipnet::IpNet>,
    server_doc: Bytes,
    client_doc: Bytes,
    support_doc: Option<Bytes>,
    /// The onboarding page at `/`: (English, Simplified Chinese).
    landing: (Bytes, Bytes),
    /// What the invite pages say about this server.
    site: Arc<pages::Site>,
    /// Asked whether an invite's token is still valid.
    synapse: Arc<Synapse>,
    challenges: Arc<dyn ChallengeLookup>,
    upstream: forward::Upstream,
    limits: Limits,
    hsts: bool,
    /// Element Web on its own name, when configured.
    web: Option<Arc<web::WebSite>>,
}

/// The current `Edge`, swapped as a whole on reload; each connection uses the one it started with.
/// The metrics outlive every `Edge`.
pub struct SharedEdge {
    edge: RwLock<Arc<Edge>>,
    metrics: Arc<EdgeMetrics>,
}

impl SharedEdge {
    pub fn new(edge: Edge) -> Arc<SharedEdge> {
        Arc::new(SharedEdge {
            edge: RwLock::new(Arc::new(edge)),
            metrics: Arc::default(),
        })
    }

    pub fn replace(&self, edge: Edge) {
        *self.edge.write().expect("edge lock") = Arc::new(edge);
    }

    fn current(&self) -> Arc<Edge> {
        self.edge.read().expect("edge lock").clone()
    }

    pub fn metrics(&self) -> &Arc<EdgeMetrics> {
        &self.metrics
    }
}

impl Edge {
    /// `upstream` is where Synapse speaks plain HTTP/1.1.
    pub fn new(
        config: &Config,
        upstream: UpstreamAddr,
        challenges: Arc<dyn ChallengeLookup>,
    ) -> Edge {
        Edge::with_limits(config, upstream, challenges, Limits::default())
    }

    pub fn with_limits(
        config: &Config,
        upstream: UpstreamAddr,
        challenges: Arc<dyn ChallengeLookup>,
        limits: Limits,
    ) -> Edge {
        let site = pages::Site::new(config);
        Edge {
            landing: (
                site.onboarding(Lang::En).into(),
                site.onboarding(Lang::ZhCn).into(),
            ),
            site: Arc::new(site),
            synapse: Arc::new(Synapse::new(upstream.clone())),
            hsts: sends_hsts(config),
            names: config.tls_names(),
            domain: config.domain.clone(),
            https_port: config.listen.https.map(|a| a.port()),
            admin_allow: config.admin_allow.clone(),
            server_doc: wellknown::server(config).into(),
            client_doc: wellknown::client(config).into(),
            support_doc: wellknown::support(config).map(Bytes::from),
            challenges,
            upstream: forward::Upstream::new(upstream, config.max_upload_bytes(), &limits),
            limits,
            web: None,
        }
    }

    /// How long a client connection may leave its writes waiting.
    pub(crate) fn write_idle_timeout(&self) -> Duration {
        self.limits.write_idle_timeout
    }

    fn admin_allowed(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.admin_allow.iter().any(|net| net.contains(&peer))
    }

    /// Answers at once, or forwards to Synapse; the returned future borrows nothing and stays
    /// small, as hyper keeps room for one in every open connection. The route class is the
    /// metrics'.
    fn handle_https(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> (
        RouteClass,
        impl Future<Output = Response<Body>> + Send + use<>,
    ) {
        if let Some(web) = self.web_site(&req) {
            let page: Waiting = Box::pin(web::answer(web, req, self.hsts));
            return (RouteClass::WebClient, Either::Left(page));
        }
        let route = route::route_https(
            req.method(),
            req.uri().path(),
            |ip| self.admin_allowed(ip),
            peer.ip,
        );
        let class = route::class(&route);
        (class, Either::Right(self.answer_https(route, req, peer)))
    }

    fn answer_https(
        &self,
        route: route::Route,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> impl Future<Output = Response<Body>> + Send + use<> {
        let mut response = match route {
            route::Route::Upstream(_) => {
                return Either::Right(Either::Left(self.upstream.forward(req, peer)));
            }
            route::Route::WellKnown(kind) => {
                let doc = match kind {
                    route::WellKnown::Server => Some(self.server_doc.clone()),
                    route::WellKnown::Client => Some(self.client_doc.clone()),
                    route::WellKnown::Support => self.support_doc.clone(),
                };
                match doc {
                    Some(doc) => well_known_response(StatusCode::OK, doc),
                    None => matrix_error(
                        StatusCode::NOT_FOUND,
                        "M_NOT_FOUND",
                        "no support contacts are published here",
                    ),
                }
            }
            route::Route::WellKnownOptions => {
                well_known_response(StatusCode::NO_CONTENT, Bytes::new())
            }
            route::Route::AdminForbidden => matrix_error(
                StatusCode::FORBIDDEN,
                "M_FORBIDDEN",
                "the admin API is only reachable from allowed networks (admin_allow in matrixbox.yaml)",
            ),
            route::Route::Landing => {
                let lang = pages::page_lang(&req);
                let page = match lang {
                    Lang::En => &self.landing.0,
                    Lang::ZhCn => &self.landing.1,
                };
                pages::html_page(StatusCode::OK, page.clone())
            }
            route::Route::Asset(name) => match pages::asset(&name) {
                Some((kind, bytes)) => {
                    let mut response = Response::new(full(bytes));
                    own_page(response.headers_mut());
                    let h = response.headers_mut();
                    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                    response
                }
                None => matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such file"),
            },
            route::Route::Invite(token) => {
                let lang = pages::page_lang(&req);
                let bodiless = hyper::body::Body::is_end_stream(req.body());
                if bodiless && people::token_is_well_formed(&token) {
                    // Boxed: the token check is the one local answer that waits on Synapse.
                    let page: Waiting = Box::pin(pages::invite_page(
                        self.site.clone(),
                        self.synapse.clone(),
                        token,
                        lang,
                        peer.forwarded_for.clone(),
                        self.hsts,
                    ));
                    return Either::Right(Either::Right(page));
                }
                let page = self.site.unusable(lang, pages::Unusable::Invalid);
                pages::html_page(StatusCode::NOT_FOUND, page.into())
            }
            route::Route::NotFound
            | route::Route::AcmeChallenge(_)
            | route::Route::RedirectToHttps => matrix_error(
                StatusCode::NOT_FOUND,
                "M_UNRECOGNIZED",
                "unrecognized request",
            ),
        };
        if self.hsts {
            response
                .headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, HSTS.clone());
        }
        // On HTTP/2 an unread body ends only its stream; on HTTP/1 it is drained or ends the
        // connection.
        if hyper::body::Body::is_end_stream(req.body()) || req.version() >= Version::HTTP_2 {
            return Either::Left(std::future::ready(response));
        }
        // Rare (our own pages take no body): boxed so the common future stays small.
        let drained: Waiting = Box::pin(after_drain(req, response, self.limits.body_idle_timeout));
        Either::Right(Either::Right(drained))
    }

    fn handle_http(&self, req: &Request<Incoming>) -> Response<Body> {
        let mut response = self.answer_http(req);
        // Nothing here reads a body: one sent anyway would be taken for the next request.
        if !hyper::body::Body::is_end_stream(req.body()) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    fn answer_http(&self, req: &Request<Incoming>) -> Response<Body> {
        let host = request_host(req);
        let host_name = host.as_deref().map(strip_port).map(str::to_ascii_lowercase);
        match route::route_http(req.uri().path()) {
            route::Route::AcmeChallenge(token) => {
                // CAs send `Host: name:port`; compare the name only.
                let ours = host_name
                    .as_deref()
                    .is_some_and(|h| self.names.iter().any(|n| n == h));
                match self.challenges.key_authorization(&token).filter(|_| ours) {
                    Some(key_authorization) => {
                        let mut response = Response::new(full(Bytes::from(key_authorization)));
                        own_page(response.headers_mut());
                        response
                            .headers_mut()
                            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                        response
                    }
                    None => plain(StatusCode::NOT_FOUND, "no such challenge"),
                }
            }
            _ => {
                // Only to a name of ours, never to whatever Host says (an open redirect).
                let name = host_name
                    .filter(|h| self.names.iter().any(|n| n == h))
                    .unwrap_or_else(|| self.domain.clone());
                let port = match self.https_port {
                    Some(443) | None => String::new(),
                    Some(p) => format!(":{p}"),
                };
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let location = format!("https://{name}{port}{path}");
                let mut response = plain(StatusCode::PERMANENT_REDIRECT, "");
                match HeaderValue::from_str(&location) {
                    Ok(v) => {
                        response.headers_mut().insert(header::LOCATION, v);
                        response
                    }
                    Err(_) => plain(StatusCode::BAD_REQUEST, "bad request target"),
                }
            }
        }
    }
}

fn request_host(req: &Request<Incoming>) -> Option<String> {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// Reads and drops a small HTTP/1 body the answer did not need, so the connection stays usable;
/// else the answer ends the connection.
async fn after_drain(
    req: Request<Incoming>,
    mut response: Response<Body>,
    within: Duration,
) -> Response<Body> {
    let mut body = req.into_body();
    let small = hyper::body::Body::size_hint(&body).lower() <= DRAIN_MAX as u64;
    let drain = async {
        let mut read = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_MAX {
                return false;
            }
        }
        true
    };
    let drained = small && tokio::time::timeout(within, drain).await.unwrap_or(false);
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A local answer that waits (a request body drained, Synapse asked about an invite).
type Waiting = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// Sent on our own pages once a publicly trusted certificate is served (see `sends_hsts`).
static HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");
/// Our JSON and text answers load nothing and may not be framed.
static CSP_NONE: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
static X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
static X_FRAME_OPTIONS: HeaderName = HeaderName::from_static("x-frame-options");

/// Security headers for a page of the edge's own (not Synapse's).
fn own_page(headers: &mut HeaderMap) {
    headers.insert(
        X_CONTENT_TYPE_OPTIONS.clone(),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(X_FRAME_OPTIONS.clone(), HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, CSP_NONE.clone());
}

/// HSTS pins a name to HTTPS in browsers for a year, so it is sent only where the certificate is
/// meant to be publicly trusted: ACME from a public CA (Let's Encrypt or another directory the
/// operator chose) or the operator's own files, and only for public names. Not for the internal
/// CA, Let's Encrypt's staging CA, or names like localhost and *.test, where it would pin a
/// browser to a certificate it does not trust. (Browsers ignore HSTS received over a certificate
/// they do not trust, RFC 6797 8.1, so the self-signed stand-in served until the first ACME
/// certificate arrives does not pin anything either.)
fn sends_hsts(config: &Config) -> bool {
    let public_ca = config.tls_files.is_some()
        || matches!(
            config.acme.directory,
            Directory::LetsEncrypt | Directory::Url(_)
        );
    public_ca
        && !config
            .tls_names()
            .iter()
            .any(|name| config::is_private_name(name))
}

pub fn full(bytes: Bytes) -> Body {
    Body::Full(Full::new(bytes))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    own_page(response.headers_mut());
    response
}

fn well_known_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    own_page(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Requested-With, Content-Type, Authorization"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// A Matrix-style JSON error, so clients show something meaningful.
pub fn matrix_error(status: StatusCode, errcode: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &serde_json::json!({ "errcode": errcode, "error": message }),
    )
}

fn json_response(status: StatusCode, doc: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(doc.to_string())));
    *response.status_mut() = status;
    own_page(response.headers_mut());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_are_stripped() {
        assert_eq!(strip_port("matrix.example.com:5002"), "matrix.example.com");
        assert_eq!(strip_port("matrix.example.com"), "matrix.example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }

    #[test]
    fn hsts_only_with_a_publicly_trusted_certificate_for_a_public_name() {
        let hsts =
            |yaml: &str| sends_hsts(&config::parse(yaml, std::path::Path::new("t.yaml")).unwrap());
        assert!(hsts("domain: matrix.example.org\n"));
        assert!(hsts(
            "domain: matrix.example.org\ntls: {cert: /c.pem, key: /k.pem}\n"
        ));
        assert!(!hsts("domain: localhost\n"));
        assert!(!hsts("domain: matrix.test\n"));
        assert!(!hsts(
            "domain: matrix.example.org\nacme: {directory: internal}\n"
        ));
        assert!(!hsts(
            "domain: matrix.example.org\nacme: {directory: letsencrypt-staging}\n"
        ));
    }

    #[test]
    fn mapped_peers_count_as_ipv4() {
        let peer = Peer::new("[::ffff:127.0.0.1]:5000".parse().unwrap(), true);
        assert_eq!(peer.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(peer.forwarded_for, "127.0.0.1");
    }
}
