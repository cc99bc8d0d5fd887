//! Reaching the server as a remote does: DNS (A/AAAA, SRV) through the shared resolver
//! (`crate::dns`), then HTTPS with certificate verification, recording what the server presented
//! even when it fails.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use time::OffsetDateTime;

use super::discovery::{Answer, Srv, is_redirect, redirect_target};
use crate::dns::{self, ResolverError};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 1 << 20;
/// Synapse follows redirects for the server well-known; loops end here.
const MAX_REDIRECTS: usize = 5;

/// `--connect-to HOST:PORT:ADDR:PORT` (as curl's): requests for HOST:PORT go to ADDR:PORT,
/// without asking DNS. For a NAT or port forward in front of the edge, and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub host: String,
    pub port: u16,
    pub to: SocketAddr,
}

impl std::str::FromStr for ConnectTo {
    type Err = String;

    fn from_str(text: &str) -> Result<ConnectTo, String> {
        let bad =
            || format!("`{text}` is not HOST:PORT:ADDR:PORT (e.g. example.org:443:127.0.0.1:8443)");
        let (host, rest) = text.split_once(':').ok_or_else(bad)?;
        let (port, to) = rest.split_once(':').ok_or_else(bad)?;
        let (addr, to_port) = to.rsplit_once(':').ok_or_else(bad)?;
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(ConnectTo {
            host: host.to_ascii_lowercase(),
            port: port.parse().map_err(|_| bad())?,
            to: SocketAddr::new(addr, to_port.parse().map_err(|_| bad())?),
        })
    }
}

/// What the server's certificate says, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Presented {
    pub names: Vec<String>,
    pub issuer: String,
    pub not_after: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TlsProblem {
    NotValidForName,
    UnknownIssuer,
    Expired,
    NotYetValid,
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    Resolve {
        host: String,
        error: String,
    },
    Connect {
        addr: SocketAddr,
        error: String,
    },
    Tls {
        addr: SocketAddr,
        problem: TlsProblem,
        presented: Option<Presented>,
    },
    /// TLS held; the HTTP exchange after it failed.
    Http {
        addr: SocketAddr,
        error: String,
        presented: Option<Presented>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub addr: SocketAddr,
    pub presented: Option<Presented>,
    pub answer: Answer,
    /// The URL that gave `answer` (after redirects, when followed).
    pub url: String,
}

pub struct Net {
    connect_to: Vec<ConnectTo>,
    resolver: Result<TokioResolver, String>,
    roots: Arc<rustls::RootCertStore>,
}

impl Net {
    pub fn new(connect_to: Vec<ConnectTo>, roots: rustls::RootCertStore) -> Net {
        let server = std::env::var(dns::DNS_SERVER_ENV).ok();
        Net {
            connect_to,
            resolver: dns::resolver(server.as_deref()).map_err(|e| match e {
                ResolverError::BadOverride(value) => {
                    format!("{} is `{value}`, not ip:port", dns::DNS_SERVER_ENV)
                }
                ResolverError::System(error) => error,
            }),
            roots: Arc::new(roots),
        }
    }

    /// Where a connection to host:port goes: `--connect-to`, an IP literal, or DNS (A/AAAA).
    pub async fn address(&self, host: &str, port: u16) -> Result<SocketAddr, FetchError> {
        let host = host.to_ascii_lowercase();
        if let Some(c) = self
            .connect_to
            .iter()
            .find(|c| c.host == host && c.port == port)
        {
            return Ok(c.to);
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(SocketAddr::new(ip, port));
        }
        let fail = |error: String| FetchError::Resolve {
            host: host.clone(),
            error,
        };
        let resolver = self.resolver.as_ref().map_err(|e| fail(e.clone()))?;
        let lookup = dns::lookup(resolver, &host).await;
        let resolved = lookup.result.map_err(fail)?;
        resolved
            .addrs
            .first()
            .map(|ip| SocketAddr::new(*ip, port))
            .ok_or_else(|| fail("no A or AAAA record".into()))
    }

    /// SRV records of `name`; none (or no such name) is an empty list.
    pub async fn srv(&self, name: &str) -> Result<Vec<Srv>, String> {
        let resolver = self.resolver.as_ref().map_err(Clone::clone)?;
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match resolver.lookup(fqdn.as_str(), RecordType::SRV).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(srv) => Some(Srv {
                        priority: srv.priority,
                        weight: srv.weight,
                        port: srv.port,
                        target: srv.target.to_string(),
                    }),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(vec![]),
            Err(e) => Err(e.to_string()),
        }
    }

    /// GET `path` from host:port over TLS, checking the certificate against `tls_name`.
    pub async fn get(
        &self,
        host: &str,
        port: u16,
        tls_name: &str,
        host_header: &str,
        path: &str,
    ) -> Result<Fetched, FetchError> {
        let addr = self.address(host, port).await?;
        self.get_at(addr, tls_name, host_header, path).await
    }

    /// GET `https://host[:port]path` as servers fetch a well-known: following up to
    /// `MAX_REDIRECTS` https redirects, each hop with its own certificate check.
    pub async fn get_following(
        &self,
        host: &str,
        port: u16,
        path: &str,
    ) -> Result<Fetched, FetchError> {
        let (mut host, mut port, mut path) = (host.to_string(), port, path.to_string());
        let mut hops = 0;
        loop {
            let authority = if port == 443 {
                host.clone()
            } else {
                format!("{host}:{port}")
            };
            let fetched = self.get(&host, port, &host, &authority, &path).await?;
            let next = fetched
                .answer
                .location
                .as_deref()
                .filter(|_| is_redirect(fetched.answer.status) && hops < MAX_REDIRECTS)
                .and_then(|location| redirect_target(&host, port, location));
            match next {
                Some(target) => {
                    (host, port, path) = target;
                    hops += 1;
                }
                None => return Ok(fetched),
            }
        }
    }

    /// GET `path` from `addr` over TLS, checking the certificate against `tls_name`.
    pub async fn get_at(
        &self,
        addr: SocketAddr,
        tls_name: &str,
        host_header: &str,
        path: &str,
    ) -> Result<Fetched, FetchError> {
        match tokio::time::timeout(TIMEOUT, self.fetch(addr, tls_name, host_header, path)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Connect {
                addr,
                error: format!("no answer within {}s", TIMEOUT.as_secs()),
            }),
        }
    }

    async fn fetch(
        &self,
        addr: SocketAddr,
        tls_name: &str,
        host_header: &str,
        path: &str,
    ) -> Result<Fetched, FetchError> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| FetchError::Connect {
                addr,
                error: e.to_string(),
            })?;
        let recorder =
            Arc::new(
                Recording::new(self.roots.clone()).map_err(|e| FetchError::Tls {
                    addr,
                    problem: TlsProblem::Other(e),
                    presented: None,
                })?,
            );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Tls {
                addr,
                problem: TlsProblem::Other(e.to_string()),
                presented: None,
            })?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let name = ServerName::try_from(tls_name.to_string()).map_err(|e| FetchError::Tls {
            addr,
            problem: TlsProblem::Other(format!("`{tls_name}`: {e}")),
            presented: None,
        })?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await;
        let presented = recorder.presented();
        let tls = tls.map_err(|e| FetchError::Tls {
            addr,
            problem: tls_problem(&e),
            presented: presented.clone(),
        })?;
        let http_error = |e: &dyn std::fmt::Display| FetchError::Http {
            addr,
            error: e.to_string(),
            presented: presented.clone(),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| http_error(&e))?;
        tokio::spawn(connection);
        let request = http::Request::get(path)
            .header(http::header::HOST, host_header)
            .header(http::header::USER_AGENT, "matrixbox-doctor")
            .body(Empty::<Bytes>::new())
            .map_err(|e| http_error(&e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| http_error(&e))?;
        let header = |name: http::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let status = response.status().as_u16();
        let content_type = header(http::header::CONTENT_TYPE);
        let cors = header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN);
        let location = header(http::header::LOCATION);
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| http_error(&e))?
            .to_bytes()
            .to_vec();
        Ok(Fetched {
            addr,
            presented,
            answer: Answer {
                status,
                content_type,
                cors,
                body,
                location,
            },
            url: format!("https://{host_header}{path}"),
        })
    }
}

fn tls_problem(e: &std::io::Error) -> TlsProblem {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsProblem::NotValidForName
            }
            CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::NotYetValid
            }
            other => TlsProblem::Other(format!("{other:?}")),
        },
        Some(other) => TlsProblem::Other(other.to_string()),
        None => TlsProblem::Other(e.to_string()),
    }
}

/// The standard verifier, keeping a copy of the leaf so a failure can say what was presented.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    leaf: Mutex<Option<CertificateDer<'static>>>,
}

impl Recording {
    fn new(roots: Arc<rustls::RootCertStore>) -> Result<Recording, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Recording {
            inner,
            leaf: Mutex::new(None),
        })
    }

    fn presented(&self) -> Option<Presented> {
        let leaf = self.leaf.lock().expect("leaf lock").clone()?;
        let facts = crate::acme::certinfo::from_der(&leaf).ok()?;
        Some(Presented {
            names: facts.names,
            issuer: facts.issuer,
            not_after: Some(facts.validity.not_after),
        })
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.leaf.lock().expect("leaf lock") = Some(end_entity.clone().into_owned());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_parses_like_curl() {
        assert_eq!(
            "Example.org:443:127.0.0.1:5001".parse::<ConnectTo>(),
            Ok(ConnectTo {
                host: "example.org".into(),
                port: 443,
                to: "127.0.0.1:5001".parse().unwrap()
            })
        );
        assert_eq!(
            "example.org:8448:[::1]:8448"
                .parse::<ConnectTo>()
                .map(|c| c.to),
            Ok("[::1]:8448".parse().unwrap())
        );
        for bad in [
            "example.org",
            "example.org:443",
            "example.org:443:host:1",
            ":443:1.2.3.4:5",
        ] {
            assert!(bad.parse::<ConnectTo>().is_err(), "{bad}");
        }
    }
}
