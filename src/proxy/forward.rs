//! Forwarding to Synapse: raw path kept byte for byte, forwarding headers set, bodies streamed
//! both ways with the upload limit enforced, over a keep-alive pool.

use std::future::{Future, ready};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{LengthLimitError, Limited};
use hyper::body::Incoming;

use super::pool::{Pool, UpstreamError};
use super::{Body, Peer, matrix_error};

/// Long-poll `/sync` holds a request for up to its `timeout` (clients use 30 s); leave ample room.
const RESPONSE_HEADERS_TIMEOUT: Duration = Duration::from_secs(330);

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

pub struct Upstream {
    authority: http::uri::Authority,
    /// Sent as Host when a request has none (an HTTP/1.0 client).
    host: HeaderValue,
    pool: Arc<Pool>,
    max_body: u64,
}

impl Upstream {
    pub fn new(authority: http::uri::Authority, max_body: u64) -> Upstream {
        let address = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:80"),
        };
        Upstream {
            host: HeaderValue::from_str(authority.as_str())
                .expect("an authority is a valid header"),
            authority,
            pool: Pool::new(address),
            max_body,
        }
    }

    /// Sends `req` on its way; the returned future only waits for the answer. It borrows nothing
    /// and stays small: hyper keeps room for one in every open connection.
    pub fn forward(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> impl Future<Output = Response<Body>> + Send + use<> {
        let (mut parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body) {
            return Either::Left(ready(too_large(self.max_body)));
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
        // Origin form, from the original parts (shared buffers): the path and query stay byte for
        // byte.
        parts.uri = match parts.uri.path_and_query() {
            Some(target) => Uri::from(target.clone()),
            None => {
                return Either::Left(ready(matrix_error(
                    StatusCode::BAD_REQUEST,
                    "M_UNRECOGNIZED",
                    "bad request target",
                )));
            }
        };
        parts.version = Version::HTTP_11;
        remove_hop_by_hop(&mut parts.headers);
        // Overwritten, never appended: a client cannot choose the address Synapse logs and rate-limits.
        parts
            .headers
            .insert(X_FORWARDED_FOR.clone(), peer.forwarded_for.clone());
        parts
            .headers
            .insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("https"));
        let limit = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        let body = Limited::new(body, limit);

        // Boxed: allocated per request, it keeps the room hyper reserves in every open
        // connection small.
        let response = tokio::time::timeout(
            RESPONSE_HEADERS_TIMEOUT,
            Box::pin(self.pool.clone().send(Request::from_parts(parts, body))),
        );
        let (upstream, max_body) = (self.authority.clone(), self.max_body);
        Either::Right(response.map(move |response| match response {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::Upstream(body))
            }
            Ok(Err(e)) if is_length_limit(&e) => too_large(max_body),
            Ok(Err(e)) => {
                tracing::warn!(%upstream, "upstream request failed: {e}");
                matrix_error(
                    StatusCode::BAD_GATEWAY,
                    "M_UNKNOWN",
                    "the homeserver is not reachable right now",
                )
            }
            Err(_) => matrix_error(
                StatusCode::GATEWAY_TIMEOUT,
                "M_UNKNOWN",
                "the homeserver did not answer in time",
            ),
        }))
    }
}

fn too_large(max: u64) -> Response<Body> {
    matrix_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
        &format!("the request is larger than this server's limit of {max} bytes"),
    )
}

fn is_length_limit(error: &UpstreamError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Headers that describe one connection, never forwarded. Compared as strings: a standard
/// name's string is a table lookup, and the match is decided mostly by length.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Removes headers that describe one connection, including those the `Connection` header names.
/// One pass over the headers; nothing is allocated when there is nothing to remove.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let mut doomed: Vec<HeaderName> = Vec::new();
    for (name, value) in headers.iter() {
        if !is_hop_by_hop(name) {
            continue;
        }
        if name == header::CONNECTION {
            let options = value.to_str().unwrap_or_default().split(',').map(str::trim);
            // `close` and `keep-alive` name no header to remove (keep-alive goes anyway).
            doomed.extend(
                options
                    .filter(|o| {
                        !o.eq_ignore_ascii_case("close") && !o.eq_ignore_ascii_case("keep-alive")
                    })
                    .filter_map(|o| HeaderName::from_bytes(o.as_bytes()).ok()),
            );
        }
        doomed.push(name.clone());
    }
    for name in doomed {
        headers.remove(name);
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
        remove_hop_by_hop(&mut h);
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
        remove_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-three"]);

        // Nothing to remove: the map is left as it was.
        let before = h.clone();
        remove_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }
}
