//! Forwarding to Synapse: raw path kept byte for byte, forwarding headers set, bodies streamed
//! both ways with the upload limit and a stall timeout enforced, over capped keep-alive pools.

use std::future::{Future, ready};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::client_body::{BodyError, ClientBody};
use super::pool::{Pool, UpstreamError};
use super::{Body, Limits, Peer, json_response, matrix_error, route};
use crate::config::WorkerKind;
use crate::throttle::Throttle;
use crate::upstream::UpstreamAddr;
use crate::warn_throttled;

/// Sent with 503 when Synapse's connections are all taken.
const RETRY_AFTER_SECS: u64 = 2;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Clients decide how often these happen, so their log lines are rate-limited.
static UPSTREAM_FAILED: Throttle = Throttle::new(5, Duration::from_secs(10));
static UPSTREAM_BUSY: Throttle = Throttle::new(5, Duration::from_secs(10));
static BAD_BODY: Throttle = Throttle::new(5, Duration::from_secs(10));

pub struct Upstream {
    address: UpstreamAddr,
    /// Sent as Host when a request has none (an HTTP/1.0 client).
    host: HeaderValue,
    /// Everything but long-poll `/sync`, which has its own pool so that waiting syncs and other
    /// requests cannot take each other's connections.
    pool: Arc<Pool>,
    sync_pool: Arc<Pool>,
    /// Synapse's workers that answer requests, each with its socket and its own pool
    /// (`Edge::with_workers`).
    workers: Vec<(WorkerKind, std::path::PathBuf, Arc<Pool>)>,
    max_body: u64,
    limits: Limits,
}

impl Upstream {
    pub fn new(address: UpstreamAddr, max_body: u64, limits: &Limits) -> Upstream {
        Upstream {
            host: HeaderValue::from_str(&address.host()).expect("a host name is a valid header"),
            pool: Pool::new(
                address.clone(),
                limits.upstream_connections,
                limits.queue_timeout,
                limits.write_idle_timeout,
            ),
            sync_pool: Pool::new(
                address.clone(),
                limits.sync_connections,
                limits.queue_timeout,
                limits.write_idle_timeout,
            ),
            address,
            workers: vec![],
            max_body,
            limits: limits.clone(),
        }
    }

    /// Where Synapse is (for the metrics relay, which dials it on its own).
    pub fn address(&self) -> &UpstreamAddr {
        &self.address
    }

    /// Both pools as they are now.
    pub fn pool_states(&self) -> [crate::metrics::PoolState; 2] {
        [("main", &self.pool), ("sync", &self.sync_pool)].map(|(pool, p)| {
            let (in_use, idle, max) = p.state();
            crate::metrics::PoolState {
                pool,
                in_use,
                idle,
                max,
            }
        })
    }

    /// The pool of the worker that answers `path`, when one runs (`workers::route`) and its
    /// socket is there.
    fn worker_pool(&self, method: &http::Method, path: &str) -> Option<Arc<Pool>> {
        if self.workers.is_empty() {
            return None;
        }
        let kind = crate::workers::route::worker_for(method, path)?;
        let (_, socket, pool) = self.workers.iter().find(|(k, ..)| *k == kind)?;
        // Not there (being started, or just configured by a reload): the main process serves
        // every endpoint a worker does.
        std::fs::symlink_metadata(socket).ok()?;
        Some(pool.clone())
    }

    /// Sends `req` on its way; the returned future only waits for the answer. It borrows nothing
    /// and stays small: hyper keeps room for one in every open connection.
    pub fn forward(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> impl Future<Output = Response<Body>> + Send + use<> {
        let (mut parts, body) = req.into_parts();
        // An answer given before the whole body was read ends an HTTP/1 connection: the unread
        // rest would be taken for the next request.
        let early = Early {
            close: parts.version < Version::HTTP_2 && !hyper::body::Body::is_end_stream(&body),
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body) {
            return Either::Left(ready(early.answer(too_large(self.max_body))));
        }
        // HTTP/2 carries the host in :authority; Synapse (HTTP/1.1) needs it as Host.
        if let Some(authority) = parts.uri.authority()
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            parts.headers.insert(header::HOST, host);
        }
        if !parts.headers.contains_key(header::HOST) {
            parts.headers.insert(header::HOST, self.host.clone());
        }
        let pool = if let Some(pool) = self.worker_pool(&parts.method, parts.uri.path()) {
            pool
        } else if route::is_long_poll(&parts.method, parts.uri.path()) {
            self.sync_pool.clone()
        } else {
            self.pool.clone()
        };
        // Origin form, from the original parts (shared buffers): the path and query stay byte for
        // byte.
        parts.uri = match parts.uri.path_and_query() {
            Some(target) => Uri::from(target.clone()),
            None => {
                return Either::Left(ready(early.answer(matrix_error(
                    StatusCode::BAD_REQUEST,
                    "M_UNRECOGNIZED",
                    "bad request target",
                ))));
            }
        };
        parts.version = Version::HTTP_11;
        remove_hop_by_hop(&mut parts.headers, Leg::Request);
        // Overwritten, never appended: a client cannot choose the address Synapse logs and rate-limits.
        parts
            .headers
            .insert(X_FORWARDED_FOR.clone(), peer.forwarded_for.clone());
        parts
            .headers
            .insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("https"));

        let turns = peer.turns(self.limits.requests_per_connection);
        let wait = self.limits.turn_timeout;
        // Made here, so the future below holds this (one pointer for a request without a body)
        // rather than the client's body.
        let mut body = ClientBody::new(body, self.max_body, self.limits.body_idle_timeout);
        // Boxed: allocated per request, it keeps the room hyper reserves in every open
        // connection small.
        Either::Right(Box::pin(async move {
            // One client connection gets a share of Synapse's connections, not all of them.
            let turn = match turns {
                None => None,
                Some(turns) => match turns.clone().try_acquire_owned() {
                    Ok(turn) => Some(turn),
                    Err(_) => match tokio::time::timeout(wait, turns.acquire_owned()).await {
                        Ok(Ok(turn)) => Some(turn),
                        _ => {
                            return early
                                .answer(busy("this connection has too many requests in progress"));
                        }
                    },
                },
            };
            // No upstream connection is taken for a body that never starts.
            if let Err(e) = body.first_frame().await {
                return early.answer(body_failure(&e));
            }
            match pool.send(Request::from_parts(parts, body)).await {
                Ok(response) => {
                    let (mut parts, body) = response.into_parts();
                    remove_hop_by_hop(&mut parts.headers, Leg::Response);
                    let body = Streamed {
                        body,
                        pool,
                        _turn: turn,
                    };
                    Response::from_parts(parts, Body::Upstream(body))
                }
                Err(e) => early.answer(match find_body_error(&e) {
                    Some(body_error) => body_failure(body_error),
                    None => upstream_failure(&pool.address().describe(), &e),
                }),
            }
        }))
    }
}

/// Whether an answer produced before Synapse's must close the client's connection.
#[derive(Clone, Copy)]
struct Early {
    close: bool,
}

impl Early {
    fn answer(self, mut response: Response<Body>) -> Response<Body> {
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Synapse's response on its way to the client, holding the client connection's turn until done.
pub struct Streamed {
    pub(super) body: Incoming,
    /// Told when this response is done, so a request waiting for a connection gets this one.
    pool: Arc<Pool>,
    _turn: Option<OwnedSemaphorePermit>,
}

impl Drop for Streamed {
    fn drop(&mut self) {
        self.pool.response_finished();
    }
}

fn find_body_error(error: &UpstreamError) -> Option<&BodyError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(body_error) = e.downcast_ref::<BodyError>() {
            return Some(body_error);
        }
        source = e.source();
    }
    None
}

fn body_failure(error: &BodyError) -> Response<Body> {
    match error {
        BodyError::TooLarge(max) => too_large(*max),
        BodyError::Stalled(_) => matrix_error(
            StatusCode::REQUEST_TIMEOUT,
            "M_UNKNOWN",
            &format!("{error}; send the body without pauses"),
        ),
        BodyError::Client(_) => {
            warn_throttled!(BAD_BODY, "client request failed: {error}");
            matrix_error(
                StatusCode::BAD_REQUEST,
                "M_UNKNOWN",
                "the request body is malformed or was cut off; send the request again",
            )
        }
    }
}

fn upstream_failure(upstream: &str, error: &UpstreamError) -> Response<Body> {
    if let UpstreamError::NoAnswer = error {
        return matrix_error(
            StatusCode::GATEWAY_TIMEOUT,
            "M_UNKNOWN",
            "the homeserver did not answer in time",
        );
    }
    if let UpstreamError::Busy(_) = error {
        warn_throttled!(
            UPSTREAM_BUSY,
            %upstream,
            "refusing a request: {error} (the homeserver is slow or overloaded)"
        );
        return busy("the homeserver is busy");
    }
    warn_throttled!(UPSTREAM_FAILED, %upstream, "upstream request failed: {error}");
    matrix_error(
        StatusCode::BAD_GATEWAY,
        "M_UNKNOWN",
        "the homeserver is not reachable right now",
    )
}

/// 503 with the Matrix rate-limit error, which clients retry after the given time.
fn busy(message: &str) -> Response<Body> {
    let doc = serde_json::json!({
        "errcode": "M_LIMIT_EXCEEDED",
        "error": format!("{message}, try again shortly"),
        "retry_after_ms": RETRY_AFTER_SECS * 1000,
    });
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, &doc);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

fn too_large(max: u64) -> Response<Body> {
    matrix_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
        &format!("the request is larger than this server's limit of {max} bytes"),
    )
}

/// Headers dropped on the way through, in `dropped_index`'s order: first those that describe one
/// connection (never forwarded either way), then forwarding headers a client must not set.
static DROPPED: [HeaderName; 11] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::FORWARDED,
    HeaderName::from_static("x-real-ip"),
];
/// The first `HOP_BY_HOP` of `DROPPED` leave responses too.
const HOP_BY_HOP: usize = 9;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leg {
    /// A client's request on its way to Synapse.
    Request,
    /// Synapse's response on its way to the client.
    Response,
}

/// Where `name` is in `DROPPED`, if `leg` drops it. Compared as strings: a standard name's string
/// is a table lookup, and the match is decided mostly by length.
fn dropped_index(name: &HeaderName, leg: Leg) -> Option<usize> {
    let i = match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-authenticate" => 2,
        "proxy-authorization" => 3,
        "proxy-connection" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        "forwarded" => 9,
        "x-real-ip" => 10,
        _ => return None,
    };
    (i < HOP_BY_HOP || leg == Leg::Request).then_some(i)
}

/// `close` and `keep-alive` name no header to remove (keep-alive goes anyway).
fn names_no_header(option: &[u8]) -> bool {
    option.eq_ignore_ascii_case(b"close") || option.eq_ignore_ascii_case(b"keep-alive")
}

/// Removes the headers `leg` drops and those the `Connection` header names. One pass over the
/// names, then a removal for each found: this runs twice for every request. Allocates only when
/// `Connection` names other headers.
fn remove_hop_by_hop(headers: &mut HeaderMap, leg: Leg) {
    // Bit i: DROPPED[i] is present.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = dropped_index(name, leg) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        let listed: Vec<HeaderName> = (headers.get_all(header::CONNECTION).iter())
            // The usual values, said on their own, are not parsed.
            .filter(|value| !names_no_header(value.as_bytes()))
            .flat_map(|value| value.to_str().unwrap_or_default().split(','))
            .map(str::trim)
            .filter(|option| !names_no_header(option.as_bytes()))
            .filter_map(|o| HeaderName::from_bytes(o.as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for (i, name) in DROPPED.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

impl super::Edge {
    /// Sends the endpoints Synapse's workers serve to the running ones (`workers::route`); the
    /// sync worker's pool is as big as the long-poll pool, since it holds the waiting syncs.
    pub fn with_workers(mut self, workers: Vec<(WorkerKind, UpstreamAddr)>) -> super::Edge {
        let limits = &self.limits;
        self.upstream.workers = workers
            .into_iter()
            .filter_map(|(kind, address)| {
                // Workers listen on UNIX sockets only (`synapse::workers::upstreams`).
                let UpstreamAddr::Unix { path, .. } = &address else {
                    return None;
                };
                let socket = path.clone();
                let max = match kind {
                    WorkerKind::Sync => limits.sync_connections,
                    _ => limits.upstream_connections,
                };
                let pool = Pool::new(
                    address,
                    max,
                    limits.queue_timeout,
                    limits.write_idle_timeout,
                );
                Some((kind, socket, pool))
            })
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("proxy-connection", HeaderValue::from_static("close"));
        h.append(header::TE, HeaderValue::from_static("trailers"));
        h.append(header::TE, HeaderValue::from_static("gzip"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        h.insert("forwarded", HeaderValue::from_static("for=192.0.2.1"));
        h.append("x-real-ip", HeaderValue::from_static("192.0.2.1"));
        h.append("x-real-ip", HeaderValue::from_static("192.0.2.2"));
        remove_hop_by_hop(&mut h, Leg::Request);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::AUTHORIZATION));
    }

    #[test]
    fn every_connection_header_line_is_honoured() {
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("close"));
        h.append(
            header::CONNECTION,
            HeaderValue::from_static(" X-One ,x-two"),
        );
        h.insert("x-one", HeaderValue::from_static("1"));
        h.insert("x-two", HeaderValue::from_static("2"));
        h.insert("x-three", HeaderValue::from_static("3"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        // Only a client's forwarding headers are dropped.
        h.insert(header::FORWARDED, HeaderValue::from_static("for=192.0.2.1"));
        remove_hop_by_hop(&mut h, Leg::Response);
        let mut left: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "forwarded", "x-three"]);

        // Nothing to remove: the map is left as it was.
        let before = h.clone();
        remove_hop_by_hop(&mut h, Leg::Response);
        assert_eq!(h, before);
    }
}
