//! The public edge: listeners on :80 and :443, local answers (well-known, landing page, ACME
//! HTTP-01) and forwarding of the Matrix API to Synapse.

mod admit;
mod forward;
mod pool;
pub mod route;
mod serve;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::Either;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};

use crate::config::Config;
use crate::embedded;
use crate::wellknown;

pub use admit::{ConnPolicy, Connections};
pub use serve::{listener, serve_http, serve_https};

/// A response body: a document of ours or Synapse's streamed answer. An enum rather than a boxed
/// trait object, so answering costs no allocation for the body itself.
pub enum Body {
    Full(Full<Bytes>),
    Upstream(Incoming),
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
            Body::Upstream(incoming) => Pin::new(incoming).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(full) => full.is_end_stream(),
            Body::Upstream(incoming) => incoming.is_end_stream(),
        }
    }

    // Passed through so a known length is sent as Content-Length rather than chunked.
    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(full) => full.size_hint(),
            Body::Upstream(incoming) => incoming.size_hint(),
        }
    }
}

/// The client end of a TLS connection, worked out once per connection rather than per request.
struct Peer {
    ip: IpAddr,
    /// The X-Forwarded-For value Synapse gets.
    forwarded_for: HeaderValue,
}

impl Peer {
    fn new(addr: SocketAddr) -> Peer {
        // IPv4-mapped IPv6 peers (dual-stack listeners) count as the IPv4 address they are.
        let ip = addr.ip().to_canonical();
        Peer {
            ip,
            forwarded_for: HeaderValue::from_str(&ip.to_string())
                .expect("an IP address is a valid header"),
        }
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
    landing: Bytes,
    challenges: Arc<dyn ChallengeLookup>,
    upstream: forward::Upstream,
}

/// The current `Edge`, swapped as a whole on reload; each connection uses the one it started with.
pub struct SharedEdge(RwLock<Arc<Edge>>);

impl SharedEdge {
    pub fn new(edge: Edge) -> Arc<SharedEdge> {
        Arc::new(SharedEdge(RwLock::new(Arc::new(edge))))
    }

    pub fn replace(&self, edge: Edge) {
        *self.0.write().expect("edge lock") = Arc::new(edge);
    }

    fn current(&self) -> Arc<Edge> {
        self.0.read().expect("edge lock").clone()
    }
}

impl Edge {
    /// `upstream` is Synapse's `host:port` (plain HTTP/1.1).
    pub fn new(
        config: &Config,
        upstream: http::uri::Authority,
        challenges: Arc<dyn ChallengeLookup>,
    ) -> Edge {
        let landing = embedded::text("landing.html")
            .replace("{{domain}}", &config.domain)
            .replace("{{server_name}}", &config.server_name);
        Edge {
            names: config.tls_names(),
            domain: config.domain.clone(),
            https_port: config.listen.https.map(|a| a.port()),
            admin_allow: config.admin_allow.clone(),
            server_doc: wellknown::server(config).into(),
            client_doc: wellknown::client(config).into(),
            support_doc: wellknown::support(config).map(Bytes::from),
            landing: landing.into(),
            challenges,
            upstream: forward::Upstream::new(upstream, config.max_upload_bytes()),
        }
    }

    fn admin_allowed(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.admin_allow.iter().any(|net| net.contains(&peer))
    }

    /// Answers at once, or forwards to Synapse; the returned future borrows nothing and stays
    /// small, as hyper keeps room for one in every open connection.
    fn handle_https(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> impl Future<Output = Response<Body>> + Send + use<> {
        let route = route::route_https(
            req.method(),
            req.uri().path(),
            |ip| self.admin_allowed(ip),
            peer.ip,
        );
        let response = match route {
            route::Route::Upstream => return Either::Right(self.upstream.forward(req, peer)),
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
                let mut response = Response::new(full(self.landing.clone()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                response
            }
            route::Route::NotFound
            | route::Route::AcmeChallenge(_)
            | route::Route::RedirectToHttps => matrix_error(
                StatusCode::NOT_FOUND,
                "M_UNRECOGNIZED",
                "unrecognized request",
            ),
        };
        Either::Left(std::future::ready(response))
    }

    fn handle_http(&self, req: &Request<Incoming>) -> Response<Body> {
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
                        response
                            .headers_mut()
                            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                        response
                    }
                    None => plain(StatusCode::NOT_FOUND, "no such challenge"),
                }
            }
            _ => {
                let name = host_name
                    .filter(|h| {
                        crate::config::domain_problem(h).is_none() || h.parse::<IpAddr>().is_ok()
                    })
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

pub fn full(bytes: Bytes) -> Body {
    Body::Full(Full::new(bytes))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

fn well_known_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
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
    let body = serde_json::json!({ "errcode": errcode, "error": message }).to_string();
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
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
    fn mapped_peers_count_as_ipv4() {
        let peer = Peer::new("[::ffff:127.0.0.1]:5000".parse().unwrap());
        assert_eq!(peer.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(peer.forwarded_for, "127.0.0.1");
    }
}
