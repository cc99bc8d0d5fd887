//! The answer of an upstream that echoes what reached it: the raw request target, the headers
//! and the body's length, as JSON. Shared by tests/proxy_e2e.rs and tests/hostile_requests_e2e.rs.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;

/// The echo of `req`, and whether its body arrived whole (if not, `body_len` is `usize::MAX`).
pub async fn echo(req: Request<Incoming>) -> (Bytes, bool) {
    let target = req.uri().to_string();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes().len());
    let body_len = *body.as_ref().unwrap_or(&usize::MAX);
    let doc = serde_json::json!({ "target": target, "headers": headers, "body_len": body_len });
    (Bytes::from(doc.to_string()), body.is_ok())
}
