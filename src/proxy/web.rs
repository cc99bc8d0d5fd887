//! The edge's side of the web client: which requests are for its name, and its answers as the
//! edge sends them (HSTS, the connection closed when a request body was not read).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Version};
use hyper::body::Incoming;

use super::{Body, Edge, HSTS, full, request_host, strip_port};
use crate::config::Config;
use crate::webclient;

/// What the web client's name answers with: the bundle's directory and the generated config.
pub(super) struct WebSite {
    name: String,
    dir: std::path::PathBuf,
    config_json: Bytes,
}

impl Edge {
    /// Serves Element Web from `dir` (the bundle's `current` link) on its configured name.
    pub fn with_web_client(mut self, config: &Config, dir: std::path::PathBuf) -> Edge {
        self.web = config.web_client.as_ref().map(|web| {
            Arc::new(WebSite {
                name: web.name.clone(),
                dir,
                config_json: webclient::config_json(config, web),
            })
        });
        self
    }

    /// The web client, when the request is for its name.
    pub(super) fn web_site(&self, req: &Request<Incoming>) -> Option<Arc<WebSite>> {
        let web = self.web.as_ref()?;
        let host = request_host(req)?;
        strip_port(&host)
            .eq_ignore_ascii_case(&web.name)
            .then(|| web.clone())
    }
}

/// Element Web's answer; a request body (none is expected) is not read, so the connection closes.
pub(super) async fn answer(
    web: Arc<WebSite>,
    req: Request<Incoming>,
    hsts: bool,
) -> Response<Body> {
    let bodiless = hyper::body::Body::is_end_stream(req.body());
    let answer = webclient::serve::answer(
        req.method().clone(),
        req.uri().path().to_string(),
        webclient::serve::accepts_gzip(req.headers()),
        &web.name,
        &web.dir,
        web.config_json.clone(),
    )
    .await;
    let (mut parts, reply) = answer.into_parts();
    if hsts {
        parts
            .headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HSTS.clone());
    }
    if !bodiless && req.version() < Version::HTTP_2 {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let body = match reply {
        webclient::serve::Reply::Full(bytes) => full(bytes),
        webclient::serve::Reply::File(file) => Body::File(Box::new(file)),
    };
    Response::from_parts(parts, body)
}
