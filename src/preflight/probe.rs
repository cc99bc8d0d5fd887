//! One HTTPS GET with a short timeout: is a server reachable, and what time does it say it is.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use time::OffsetDateTime;

use super::cause::cause;

const TIMEOUT: Duration = Duration::from_secs(5);

/// What one GET to `url` gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub url: String,
    pub result: Result<Answer, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub date: Option<TimeSample>,
}

/// A remote clock reading and our clock at the moment it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSample {
    pub remote: OffsetDateTime,
    pub local: OffsetDateTime,
}

pub async fn get(url: &str, ca_root: Option<&Path>) -> Probe {
    let result = match tokio::time::timeout(TIMEOUT, fetch(url, ca_root)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}s", TIMEOUT.as_secs())),
    };
    Probe {
        url: url.to_string(),
        result,
    }
}

async fn fetch(url: &str, ca_root: Option<&Path>) -> Result<Answer, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(ca_root)?)
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let sent = OffsetDateTime::now_utc();
    let response = client.get(uri).await.map_err(|e| cause(&e))?;
    let received = OffsetDateTime::now_utc();
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .map(|remote| TimeSample {
            // `Date` is cut to the second: the server's clock was on average half a second later.
            remote: OffsetDateTime::from(remote) + Duration::from_millis(500),
            local: sent + (received - sent) / 2,
        });
    Ok(Answer {
        status: response.status().as_u16(),
        date,
    })
}

/// The system's roots, plus `ca_root` (a private ACME CA such as Pebble's) when configured.
fn tls_config(ca_root: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let roots = crate::tls::client_roots(ca_root.as_slice())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
