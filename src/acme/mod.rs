//! Certificates for the edge: ACME account, orders and challenges, the internal CA, the user's
//! own files, storage under the state dir, and renewal with backoff.

pub(crate) mod certinfo;
mod challenge;
mod client;
mod internal_ca;
mod manager;
mod schedule;
mod storage;
pub use storage::cert_files;

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

pub use challenge::Http01Tokens;
pub use manager::CertManager;

use crate::diagnostic::Diagnostic;
use crate::fsio::FsError;
use crate::paths::Paths;
use crate::secrets::Redacted;
use crate::tls::TlsError;

/// A certificate chain (leaf first) and its private key, both PEM. `Debug` hides the key.
#[derive(Clone)]
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &Redacted)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} at {} is not usable: {reason}", path.display())]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the certificate files {} and {} are not usable", cert.display(), key.display())]
    Files {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: TlsError,
    },
    #[error("{source_name} is not a usable certificate: {reason}")]
    BadCertificate { source_name: String, reason: String },
    #[error("cannot use {} (acme.ca_root) as the root for the ACME directory", path.display())]
    CaRoot {
        path: PathBuf,
        #[source]
        source: instant_acme::Error,
    },
    #[error("cannot {action} {directory}")]
    Acme {
        action: &'static str,
        directory: String,
        #[source]
        source: instant_acme::Error,
    },
    #[error("the order at {directory} failed: {detail}")]
    Order { directory: String, detail: String },
    #[error("the CA could not validate {name} with {kind}: {detail}")]
    Challenge {
        name: String,
        kind: &'static str,
        detail: String,
    },
    #[error("the CA at {directory} offers no {kind} challenge for {name}")]
    NotOffered {
        directory: String,
        kind: &'static str,
        name: String,
    },
    #[error("no answer from {directory} within {seconds} s")]
    Timeout { directory: String, seconds: u64 },
    #[error("no ACME challenge can be answered: the HTTP and HTTPS listeners are both disabled")]
    NoListener,
    #[error("the internal CA cannot {action}")]
    InternalCa {
        action: &'static str,
        #[source]
        source: rcgen::Error,
    },
}

impl Diagnostic for AcmeError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AcmeError::Fs(e) => return e.hint(),
            AcmeError::Read { path, .. } => format!("check that {} exists and is readable by matrixbox", path.display()),
            AcmeError::Corrupt { path, .. } => format!(
                "move {} aside and restart matrixbox; it makes a new one (a certificate is then obtained again)",
                path.display()
            ),
            AcmeError::Files { .. } => "`tls.cert` must hold the PEM certificate chain (leaf first) and `tls.key` its PEM private key".into(),
            AcmeError::BadCertificate { .. } => "matrixbox keeps serving the current certificate and tries again later".into(),
            AcmeError::CaRoot { .. } => {
                "`acme.ca_root` must be a PEM file with the root certificate of the ACME directory's own HTTPS certificate".into()
            }
            AcmeError::Acme { source, directory, .. } => match client::problem_type(source) {
                Some("rateLimited") => "the CA's rate limit was hit: matrixbox retries later by itself; while testing, use `acme.directory: letsencrypt-staging`".into(),
                Some("rejectedIdentifier") | Some("unsupportedIdentifier") => {
                    "the CA will not certify this name (a private or reserved name?): use `acme.directory: internal`".into()
                }
                Some("caa") => "a CAA record in DNS forbids this CA from issuing for the name: add the CA to it".into(),
                Some("invalidContact") | Some("unsupportedContact") => "fix `acme.email` in the configuration".into(),
                Some(_) => "matrixbox keeps serving the current certificate and retries with backoff (see `matrixbox status`)".into(),
                None => format!(
                    "check that this host reaches {directory} (DNS, firewall, proxy); matrixbox keeps serving the current certificate and retries with backoff"
                ),
            },
            AcmeError::Timeout { directory, .. } => format!(
                "check that this host reaches {directory} (DNS, firewall, proxy); matrixbox keeps serving the current certificate and retries with backoff"
            ),
            AcmeError::Order { .. } => "matrixbox retries with backoff; `matrixbox status` shows the last error".into(),
            AcmeError::Challenge { kind, .. } => format!(
                "make sure the name's DNS A/AAAA records point to this host and that port {} is reachable from the internet; matrixbox retries by itself",
                if *kind == "http-01" { 80 } else { 443 }
            ),
            AcmeError::NotOffered { .. } => "choose the other type with `acme.challenge` (http-01 or tls-alpn-01)".into(),
            AcmeError::NoListener => {
                "enable `listen.http` or `listen.https`, use `acme.directory: internal`, or give your own certificate with `tls:`".into()
            }
            AcmeError::InternalCa { .. } => "this is a bug in matrixbox or its certificate library; please report it".into(),
        })
    }
}

/// A managed certificate as `matrixbox status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertStatus {
    pub names: Vec<String>,
    /// The issuer's distinguished name; `None` while no certificate is stored.
    pub issuer: Option<String>,
    /// `internal` or the ACME directory URL.
    pub source: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_renewal: Option<OffsetDateTime>,
    /// Set while failures hold the next attempt back.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    pub failures: u32,
    pub last_error: Option<String>,
    /// Where the certificate is stored.
    pub path: Option<String>,
    /// For internal certificates: the root to trust.
    pub trust_root: Option<String>,
}

/// For `matrixbox status` (serde::Serialize): names, issuer, not_after, next renewal, last error.
pub fn status(paths: &Paths) -> Vec<CertStatus> {
    let renewal = storage::load_renewal(paths).ok().flatten();
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(paths.certs_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    let mut renewal_shown = false;
    for dir in dirs {
        let Some(primary) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let files = storage::cert_files(paths, primary);
        let Ok(chain) = std::fs::read(&files.chain) else {
            continue;
        };
        let facts = certinfo::from_pem(&chain).ok();
        let meta: Option<storage::Meta> = std::fs::read(&files.meta)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let mut status = CertStatus {
            names: facts
                .as_ref()
                .map(|f| f.names.clone())
                .or_else(|| meta.as_ref().map(|m| m.names.clone()))
                .unwrap_or_default(),
            issuer: facts.as_ref().map(|f| f.issuer.clone()),
            source: meta.as_ref().map(|m| m.source.clone()),
            not_after: facts.as_ref().map(|f| f.validity.not_after),
            next_renewal: facts
                .as_ref()
                .map(|f| schedule::lifetime_renewal(f.validity)),
            next_attempt: None,
            failures: 0,
            last_error: None,
            path: Some(files.dir.display().to_string()),
            trust_root: None,
        };
        if status.source.as_deref() == Some(manager::INTERNAL) {
            status.trust_root = Some(paths.ca_root().display().to_string());
        }
        if let Some(r) = renewal
            .as_ref()
            .filter(|r| r.names.first().is_some_and(|n| paths.cert_dir(n) == dir))
        {
            apply_renewal(&mut status, r);
            renewal_shown = true;
        }
        out.push(status);
    }
    // Failing before any certificate was stored: still say so.
    if let Some(r) = renewal.filter(|r| !renewal_shown && !r.names.is_empty()) {
        let mut status = CertStatus {
            names: r.names.clone(),
            issuer: None,
            source: None,
            not_after: None,
            next_renewal: None,
            next_attempt: None,
            failures: 0,
            last_error: None,
            path: None,
            trust_root: None,
        };
        apply_renewal(&mut status, &r);
        out.push(status);
    }
    out
}

fn apply_renewal(status: &mut CertStatus, renewal: &schedule::RenewalState) {
    if renewal.next_renewal.is_some() {
        status.next_renewal = renewal.next_renewal;
    }
    status.failures = renewal.failures;
    status.last_error = renewal.last_error.clone();
    status.next_attempt = renewal.next_attempt();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_stored_certificate_and_failures() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        assert!(status(&paths).is_empty());

        let names = vec!["a.example.org".to_string(), "example.org".to_string()];
        let mut state = schedule::RenewalState::default().resume(&names);
        let t = time::macros::datetime!(2025-01-01 00:00 UTC);
        state.failed(t, "connection refused".into());
        storage::save_renewal(&paths, &state).unwrap();
        let only_failure = status(&paths);
        assert_eq!(only_failure.len(), 1);
        assert_eq!(only_failure[0].names, names);
        assert_eq!(
            only_failure[0].next_attempt,
            Some(t + time::Duration::minutes(1))
        );

        let ca =
            internal_ca::InternalCa::load_or_create(&paths, OffsetDateTime::now_utc()).unwrap();
        let issued = ca
            .issue(&names, OffsetDateTime::now_utc(), time::Duration::days(30))
            .unwrap();
        let meta = storage::Meta {
            source: "internal".into(),
            names: names.clone(),
            obtained: OffsetDateTime::now_utc(),
        };
        storage::save_cert(
            &paths,
            "a.example.org",
            &storage::StoredCert {
                chain_pem: issued.chain_pem,
                key_pem: issued.key_pem,
                meta,
            },
        )
        .unwrap();
        let shown = status(&paths);
        assert_eq!(shown.len(), 1, "{shown:#?}");
        let s = &shown[0];
        assert_eq!(s.names, names);
        assert!(s.issuer.as_deref().unwrap().contains("matrixbox local CA"));
        assert_eq!(s.failures, 1);
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        assert_eq!(
            s.trust_root.as_deref(),
            Some(paths.ca_root().to_str().unwrap())
        );
        let json = serde_json::to_value(s).unwrap();
        assert!(json["not_after"].as_str().unwrap().ends_with('Z'), "{json}");
    }

    #[test]
    fn debug_hides_the_private_key() {
        let issued = Issued {
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n".into(),
        };
        let shown = format!("{issued:?}");
        assert!(shown.contains("BEGIN CERTIFICATE"), "{shown}");
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
    }

    #[test]
    fn errors_render_with_their_hint() {
        let err = anyhow::Error::from(AcmeError::Challenge {
            name: "a.example.org".into(),
            kind: "tls-alpn-01",
            detail: "connection refused".into(),
        });
        let text = crate::report::render(&err);
        assert!(
            text.starts_with("error: the CA could not validate a.example.org with tls-alpn-01"),
            "{text}"
        );
        assert!(
            text.contains("hint: ") && text.contains("port 443"),
            "{text}"
        );
    }
}
