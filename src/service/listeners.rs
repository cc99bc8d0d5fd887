//! The public sockets: bound by `run` (as root, before anything else starts) and served by the
//! edge process they are handed to.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::ServiceError;
use crate::config::Config;
use crate::proxy;

/// The sockets the edge serves; bound by the caller before anything else starts.
pub struct Listeners {
    pub http: Option<TcpListener>,
    /// :443 and, when enabled, :8448: both serve the same TLS edge.
    pub https: Vec<TcpListener>,
    /// `listen.metrics`, when configured.
    pub metrics: Option<TcpListener>,
}

/// Binds every configured listener, or fails naming the first one that cannot be bound.
pub fn bind(config: &Config) -> Result<Listeners, ServiceError> {
    let open = |addr: SocketAddr, role: &'static str| {
        proxy::listener(addr).map_err(|source| ServiceError::Bind { addr, role, source })
    };
    let http = config.listen.http.map(|a| open(a, "http")).transpose()?;
    let mut https = Vec::new();
    for (addr, role) in [
        (config.listen.https, "https"),
        (config.listen.federation, "federation"),
    ] {
        if let Some(addr) = addr {
            https.push(open(addr, role)?);
        }
    }
    let metrics = config
        .listen
        .metrics
        .map(|a| open(a, "metrics"))
        .transpose()?;
    Ok(Listeners {
        http,
        https,
        metrics,
    })
}
